//! Constructors and display for the WIT `error` variant, so the rest of the
//! plugin returns the typed error users see, built in one place.

use crate::model::{AwsError, Error, Hop, InvalidInput};
use serde_json::json;
use std::fmt;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Bad input: names the field and the rule it broke.
pub fn invalid(field: &str, message: impl Into<String>) -> Error {
    Error::InvalidInput(InvalidInput {
        field: field.to_string(),
        message: message.into(),
    })
}

pub fn not_found(what: impl Into<String>) -> Error {
    Error::NotFound(what.into())
}

pub fn storage(message: impl fmt::Display) -> Error {
    Error::Storage(message.to_string())
}

pub fn upstream(message: impl Into<String>) -> Error {
    Error::Upstream(message.into())
}

pub fn timeout(message: impl Into<String>) -> Error {
    Error::Timeout(message.into())
}

pub fn config(message: impl Into<String>) -> Error {
    Error::Config(message.into())
}

impl fmt::Display for Hop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Hop::ResourceRole => "hop 1 (Resource Role)",
            Hop::TargetRole => "hop 2 (Target Role)",
            Hop::SigninToken => "sign-in token",
            Hop::Revocation => "revocation (IAM)",
        })
    }
}

impl Error {
    /// The one-line message users see (wit-bindgen's `Display` is `Debug`).
    pub fn message(&self) -> String {
        match self {
            Error::InvalidInput(e) => format!("invalid {}: {}", e.field, e.message),
            Error::NotFound(what) => format!("not found: {what}"),
            Error::Conflict(what) => format!("conflict: {what}"),
            Error::Forbidden(why) => format!("forbidden: {why}"),
            Error::Aws(e) => aws_message(e),
            Error::Upstream(why) => format!("upstream failure: {why}"),
            Error::Timeout(why) => format!("timed out: {why}"),
            Error::Storage(why) => format!("storage failure: {why}"),
            Error::Config(why) => format!("configuration: {why}"),
        }
    }

    /// `{"kind","field","message",…}`: the shape the CLI's `--json` and
    /// the REST API share; AWS errors add hop, status, code, request id, hint.
    pub fn to_json(&self) -> serde_json::Value {
        let kind = match self {
            Error::InvalidInput(_) => "invalid_input",
            Error::NotFound(_) => "not_found",
            Error::Conflict(_) => "conflict",
            Error::Forbidden(_) => "forbidden",
            Error::Aws(_) => "aws",
            Error::Upstream(_) => "upstream",
            Error::Timeout(_) => "timeout",
            Error::Storage(_) => "storage",
            Error::Config(_) => "config",
        };
        let mut body = json!({ "kind": kind, "field": null, "message": self.message() });
        match self {
            Error::InvalidInput(e) => body["field"] = json!(e.field),
            Error::Aws(e) => {
                body["hop"] = json!(match e.hop {
                    Hop::ResourceRole => "resource-role",
                    Hop::TargetRole => "target-role",
                    Hop::SigninToken => "signin-token",
                    Hop::Revocation => "revocation",
                });
                body["status"] = json!(e.status);
                body["code"] = json!(e.code);
                body["request_id"] = json!(e.request_id);
                body["hint"] = json!(e.hint);
            }
            _ => {}
        }
        body
    }

    /// Refusals (by policy, or AWS's 4xx other than invalid input and
    /// throttling) are audited as `denied`, the rest as `failure`.
    pub fn is_denial(&self) -> bool {
        match self {
            Error::Forbidden(_) => true,
            Error::Aws(e) => {
                (400..500).contains(&e.status)
                    && e.status != 429
                    && e.code != "ValidationError"
                    && !e.code.starts_with("Throttl")
            }
            _ => false,
        }
    }
}

fn aws_message(e: &AwsError) -> String {
    let mut out = format!(
        "{} failed: AWS {} (HTTP {}): {}",
        e.hop, e.code, e.status, e.message
    );
    if let Some(id) = &e.request_id {
        out.push_str(&format!(" [request id {id}]"));
    }
    if !e.hint.is_empty() {
        out.push_str(". ");
        out.push_str(&e.hint);
    }
    out
}
