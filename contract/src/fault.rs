//! The WIT `error` variant as both sides read it: its kind's name, the
//! one-line message, the `{"kind","field","message",…}` body, the CLI's
//! exit code, the REST status, and whether the audit calls it a denial.

use serde_json::{Value, json};
use std::fmt;

/// The cases of the WIT `error` variant, by the name JSON gives them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    InvalidInput,
    NotFound,
    Conflict,
    Forbidden,
    Aws,
    Upstream,
    Timeout,
    Storage,
    Config,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::InvalidInput => "invalid_input",
            Kind::NotFound => "not_found",
            Kind::Conflict => "conflict",
            Kind::Forbidden => "forbidden",
            Kind::Aws => "aws",
            Kind::Upstream => "upstream",
            Kind::Timeout => "timeout",
            Kind::Storage => "storage",
            Kind::Config => "config",
        }
    }

    /// What the message starts with (AWS errors name their hop instead).
    fn lead(self) -> &'static str {
        match self {
            Kind::InvalidInput => "invalid",
            Kind::NotFound => "not found:",
            Kind::Conflict => "conflict:",
            Kind::Forbidden => "forbidden:",
            Kind::Aws => "",
            Kind::Upstream => "upstream failure:",
            Kind::Timeout => "timed out:",
            Kind::Storage => "storage failure:",
            Kind::Config => "configuration:",
        }
    }
}

/// The WIT `hop` enum: which call of the flow an AWS error came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HopName {
    ResourceRole,
    TargetRole,
    SigninToken,
    Revocation,
}

impl HopName {
    /// As messages say it.
    pub fn label(self) -> &'static str {
        match self {
            HopName::ResourceRole => "hop 1 (Resource Role)",
            HopName::TargetRole => "hop 2 (Target Role)",
            HopName::SigninToken => "sign-in token",
            HopName::Revocation => "revocation (IAM)",
        }
    }

    /// As JSON says it (the WIT case name).
    pub fn id(self) -> &'static str {
        match self {
            HopName::ResourceRole => "resource-role",
            HopName::TargetRole => "target-role",
            HopName::SigninToken => "signin-token",
            HopName::Revocation => "revocation",
        }
    }
}

impl fmt::Display for HopName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// The WIT `aws-error` record, borrowed.
#[derive(Debug, Clone, Copy)]
pub struct AwsFault<'a> {
    pub hop: HopName,
    pub status: u16,
    pub code: &'a str,
    pub message: &'a str,
    pub request_id: Option<&'a str>,
    pub hint: &'a str,
}

impl AwsFault<'_> {
    /// Still failing after the retries: AWS 5xx, 429 and throttling.
    fn is_unavailable(&self) -> bool {
        self.status >= 500 || self.status == 429 || self.code.starts_with("Throttl")
    }

    fn is_validation(&self) -> bool {
        self.code == "ValidationError"
    }
}

/// A borrowed view of one WIT `error`.
#[derive(Debug, Clone, Copy)]
pub struct Fault<'a> {
    pub kind: Kind,
    /// The field an `invalid-input` names.
    pub field: Option<&'a str>,
    /// The case's text (what was not found, why it failed...).
    pub text: &'a str,
    pub aws: Option<AwsFault<'a>>,
}

impl<'a> Fault<'a> {
    pub fn new(kind: Kind, text: &'a str) -> Self {
        Fault {
            kind,
            field: None,
            text,
            aws: None,
        }
    }

    pub fn invalid(field: &'a str, rule: &'a str) -> Self {
        Fault {
            field: Some(field),
            ..Fault::new(Kind::InvalidInput, rule)
        }
    }

    pub fn aws(aws: AwsFault<'a>) -> Self {
        Fault {
            aws: Some(aws),
            ..Fault::new(Kind::Aws, aws.message)
        }
    }

    /// The one line users see.
    pub fn message(&self) -> String {
        match (self.aws, self.field) {
            (Some(e), _) => {
                let mut out = format!(
                    "{} failed: AWS {} (HTTP {}): {}",
                    e.hop, e.code, e.status, e.message
                );
                if let Some(id) = e.request_id {
                    out.push_str(&format!(" [request id {id}]"));
                }
                if !e.hint.is_empty() {
                    out.push_str(". ");
                    out.push_str(e.hint);
                }
                out
            }
            (None, Some(field)) => format!("{} {field}: {}", self.kind.lead(), self.text),
            (None, None) => format!("{} {}", self.kind.lead(), self.text),
        }
    }

    /// `{"kind","field","message",…}`: what the CLI's `--json` and the REST
    /// API put under `"error"`; AWS errors add hop, status, code, request
    /// id and hint.
    pub fn to_json(&self) -> Value {
        let mut body = serde_json::Map::new();
        body.insert("kind".into(), json!(self.kind.name()));
        body.insert("field".into(), json!(self.field));
        body.insert("message".into(), json!(self.message()));
        if let Some(e) = self.aws {
            body.insert("hop".into(), json!(e.hop.id()));
            body.insert("status".into(), json!(e.status));
            body.insert("code".into(), json!(e.code));
            body.insert("request_id".into(), json!(e.request_id));
            body.insert("hint".into(), json!(e.hint));
        }
        Value::Object(body)
    }

    /// Refusals (by policy, or AWS's 4xx other than invalid input and
    /// throttling) are audited as `denied`, the rest as `failure`.
    pub fn is_denial(&self) -> bool {
        match (self.kind, self.aws) {
            (Kind::Forbidden, _) => true,
            (Kind::Aws, Some(e)) => {
                (400..500).contains(&e.status) && !e.is_unavailable() && !e.is_validation()
            }
            _ => false,
        }
    }

    /// CONTRACT.md: 2 invalid input, 3 not found, 4 denied, 5 upstream, 1 the rest.
    pub fn exit_code(&self) -> i32 {
        match (self.kind, self.aws) {
            (Kind::InvalidInput, _) => 2,
            (Kind::NotFound, _) => 3,
            (Kind::Forbidden, _) => 4,
            (Kind::Aws, Some(e)) if e.is_unavailable() => 5,
            (Kind::Aws, Some(e)) if e.is_validation() => 2,
            (Kind::Aws, _) => 4,
            (Kind::Upstream | Kind::Timeout, _) => 5,
            (Kind::Conflict | Kind::Storage | Kind::Config, _) => 1,
        }
    }

    /// The REST API's status for it.
    pub fn http_status(&self) -> u16 {
        match (self.kind, self.aws) {
            (Kind::InvalidInput, _) => 400,
            (Kind::NotFound, _) => 404,
            (Kind::Conflict, _) => 409,
            (Kind::Forbidden, _) => 403,
            (Kind::Aws, Some(e)) if e.is_validation() => 400,
            (Kind::Aws, _) if self.is_denial() => 403,
            (Kind::Aws | Kind::Upstream, _) => 502,
            (Kind::Timeout, _) => 504,
            // The store failing (Redis down, a lock held) passes: retry.
            (Kind::Storage, _) => 503,
            (Kind::Config, _) => 500,
        }
    }
}

/// A generated WIT `error` type, seen as a [`Fault`].
pub trait AsFault {
    fn fault(&self) -> Fault<'_>;
}

/// Maps a crate's generated `error` and `hop` types onto [`Fault`] and
/// [`HopName`]. Both sides' bindings have the same case and field names, so
/// one macro serves the guest's wit-bindgen types and the host's wasmtime ones.
#[macro_export]
macro_rules! impl_fault {
    ($error:ident, $hop:ident) => {
        impl From<$hop> for $crate::HopName {
            fn from(hop: $hop) -> Self {
                match hop {
                    $hop::ResourceRole => $crate::HopName::ResourceRole,
                    $hop::TargetRole => $crate::HopName::TargetRole,
                    $hop::SigninToken => $crate::HopName::SigninToken,
                    $hop::Revocation => $crate::HopName::Revocation,
                }
            }
        }

        impl $crate::fault::AsFault for $error {
            fn fault(&self) -> $crate::Fault<'_> {
                use $crate::{AwsFault, Fault, Kind};
                match self {
                    $error::InvalidInput(e) => Fault::invalid(&e.field, &e.message),
                    $error::NotFound(text) => Fault::new(Kind::NotFound, text),
                    $error::Conflict(text) => Fault::new(Kind::Conflict, text),
                    $error::Forbidden(text) => Fault::new(Kind::Forbidden, text),
                    $error::Upstream(text) => Fault::new(Kind::Upstream, text),
                    $error::Timeout(text) => Fault::new(Kind::Timeout, text),
                    $error::Storage(text) => Fault::new(Kind::Storage, text),
                    $error::Config(text) => Fault::new(Kind::Config, text),
                    $error::Aws(e) => Fault::aws(AwsFault {
                        hop: e.hop.into(),
                        status: e.status,
                        code: &e.code,
                        message: &e.message,
                        request_id: e.request_id.as_deref(),
                        hint: &e.hint,
                    }),
                }
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aws(status: u16, code: &str) -> Fault<'_> {
        Fault::aws(AwsFault {
            hop: HopName::TargetRole,
            status,
            code,
            message: "no",
            request_id: Some("req-1"),
            hint: "check the trust policy",
        })
    }

    #[test]
    fn messages_name_the_field_or_the_hop() {
        assert_eq!(
            Fault::invalid("role-arn", "must be an IAM role ARN").message(),
            "invalid role-arn: must be an IAM role ARN"
        );
        assert_eq!(
            Fault::new(Kind::NotFound, "resource prod").message(),
            "not found: resource prod"
        );
        assert_eq!(
            aws(403, "AccessDenied").message(),
            "hop 2 (Target Role) failed: AWS AccessDenied (HTTP 403): no [request id req-1]. check the trust policy"
        );
    }

    #[test]
    fn one_classification_for_exit_codes_statuses_and_the_audit() {
        // (fault, exit code, HTTP status, denial)
        let cases = [
            (Fault::invalid("name", "x"), 2, 400, false),
            (Fault::new(Kind::NotFound, "x"), 3, 404, false),
            (Fault::new(Kind::Conflict, "x"), 1, 409, false),
            (Fault::new(Kind::Forbidden, "x"), 4, 403, true),
            (aws(403, "AccessDenied"), 4, 403, true),
            (aws(400, "ValidationError"), 2, 400, false),
            (aws(400, "Throttling"), 5, 502, false),
            (aws(429, "TooMany"), 5, 502, false),
            (aws(503, "ServiceUnavailable"), 5, 502, false),
            (Fault::new(Kind::Upstream, "x"), 5, 502, false),
            (Fault::new(Kind::Timeout, "x"), 5, 504, false),
            (Fault::new(Kind::Storage, "x"), 1, 503, false),
            (Fault::new(Kind::Config, "x"), 1, 500, false),
        ];
        for (fault, exit, status, denial) in cases {
            let case = fault.message();
            assert_eq!(fault.exit_code(), exit, "{case}");
            assert_eq!(fault.http_status(), status, "{case}");
            assert_eq!(fault.is_denial(), denial, "{case}");
        }
    }

    #[test]
    fn json_keeps_the_kind_and_the_aws_details() {
        let body = aws(403, "AccessDenied").to_json();
        assert_eq!(body["kind"], "aws");
        assert_eq!(body["hop"], "target-role");
        assert_eq!(body["request_id"], "req-1");
        assert_eq!(body["field"], Value::Null);
        assert_eq!(Fault::invalid("user", "x").to_json()["field"], "user");
    }
}
