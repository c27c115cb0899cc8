//! How records and errors look on the command line: JSON in the shapes of
//! CONTRACT.md (snake_case, RFC 3339), tables for people, exit codes.

use crate::bindings::types::{
    Account, AuditEvent, Error, Hop, Outcome, Resource, Session, SessionStatus,
};
use comfy_table::{ContentArrangement, Table, presets::UTF8_BORDERS_ONLY};
use serde_json::{Value, json};

pub fn resource_json(r: &Resource) -> Value {
    json!({
        "id": r.id, "name": r.name, "role_arn": r.role_arn, "external_id": r.external_id,
        "aws_account_id": r.aws_account_id, "partition": r.partition, "source_identity": r.source_identity, "created_at": r.created_at,
    })
}

pub fn account_json(a: &Account) -> Value {
    json!({
        "id": a.id, "resource": a.resource, "name": a.name, "description": a.description,
        "role_arn": a.role_arn, "session_duration": a.session_duration,
        "session_duration_seconds": a.session_duration_seconds, "region": a.region, "service": a.service,
        "allow": a.allow, "created_at": a.created_at,
    })
}

pub fn status_name(status: SessionStatus) -> &'static str {
    match status {
        SessionStatus::Active => "active",
        SessionStatus::Expired => "expired",
        SessionStatus::Revoked => "revoked",
    }
}

pub fn session_json(s: &Session) -> Value {
    json!({
        "id": s.id, "resource": s.resource, "account": s.account, "user": s.user,
        "role_arn": s.role_arn, "assumed_role_arn": s.assumed_role_arn,
        "assumed_role_id": s.assumed_role_id, "role_session_name": s.role_session_name,
        "source_identity": s.source_identity,
        "created_at": s.created_at, "expires_at": s.expires_at, "status": status_name(s.status),
    })
}

fn outcome_name(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Success => "success",
        Outcome::Failure => "failure",
        Outcome::Denied => "denied",
    }
}

pub fn audit_json(e: &AuditEvent) -> Value {
    json!({
        "id": e.id, "time": e.time, "action": e.action, "actor": e.actor,
        "resource": e.resource, "account": e.account, "session": e.session,
        "outcome": outcome_name(e.outcome), "detail": e.detail, "request_ids": e.request_ids,
    })
}

fn hop_name(hop: Hop) -> &'static str {
    match hop {
        Hop::ResourceRole => "resource-role",
        Hop::TargetRole => "target-role",
        Hop::SigninToken => "signin-token",
        Hop::Revocation => "revocation",
    }
}

/// The error as `{"error":{"kind","field","message",…}}`.
pub fn error_json(error: &Error) -> Value {
    let mut body =
        json!({ "kind": error_kind(error), "field": Value::Null, "message": error_message(error) });
    match error {
        Error::InvalidInput(e) => body["field"] = json!(e.field),
        Error::Aws(e) => {
            body["hop"] = json!(hop_name(e.hop));
            body["status"] = json!(e.status);
            body["code"] = json!(e.code);
            body["request_id"] = json!(e.request_id);
            body["hint"] = json!(e.hint);
        }
        _ => {}
    }
    json!({ "error": body })
}

pub fn error_kind(error: &Error) -> &'static str {
    match error {
        Error::InvalidInput(_) => "invalid_input",
        Error::NotFound(_) => "not_found",
        Error::Conflict(_) => "conflict",
        Error::Forbidden(_) => "forbidden",
        Error::Aws(_) => "aws",
        Error::Upstream(_) => "upstream",
        Error::Timeout(_) => "timeout",
        Error::Storage(_) => "storage",
        Error::Config(_) => "config",
    }
}

pub fn error_message(error: &Error) -> String {
    match error {
        Error::InvalidInput(e) => format!("invalid {}: {}", e.field, e.message),
        Error::NotFound(what) => format!("not found: {what}"),
        Error::Conflict(what) => format!("conflict: {what}"),
        Error::Forbidden(why) => format!("forbidden: {why}"),
        Error::Aws(e) => {
            let hop = match e.hop {
                Hop::ResourceRole => "hop 1 (Resource Role)",
                Hop::TargetRole => "hop 2 (Target Role)",
                Hop::SigninToken => "sign-in token",
                Hop::Revocation => "revocation (IAM)",
            };
            let mut text = format!(
                "{hop} failed: AWS {} (HTTP {}): {}",
                e.code, e.status, e.message
            );
            if let Some(id) = &e.request_id {
                text.push_str(&format!(" [request id {id}]"));
            }
            if !e.hint.is_empty() {
                text.push_str(&format!(". {}", e.hint));
            }
            text
        }
        Error::Upstream(why) => format!("upstream failure: {why}"),
        Error::Timeout(why) => format!("timed out: {why}"),
        Error::Storage(why) => format!("storage failure: {why}"),
        Error::Config(why) => format!("configuration: {why}"),
    }
}

/// CONTRACT.md: 2 invalid input, 3 not found, 4 denied, 5 upstream, 1 the rest.
pub fn exit_code(error: &Error) -> i32 {
    match error {
        Error::InvalidInput(_) => 2,
        Error::NotFound(_) => 3,
        Error::Forbidden(_) => 4,
        // Still failing after the retries: AWS 5xx, 429 and throttling.
        Error::Aws(e) if e.status >= 500 || e.status == 429 || e.code.starts_with("Throttl") => 5,
        Error::Aws(e) if e.code == "ValidationError" => 2,
        Error::Aws(_) => 4,
        Error::Upstream(_) | Error::Timeout(_) => 5,
        Error::Conflict(_) | Error::Storage(_) | Error::Config(_) => 1,
    }
}

fn table(header: &[&str]) -> Table {
    let mut table = Table::new();
    table
        .load_preset(UTF8_BORDERS_ONLY)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header.to_vec());
    table
}

/// Text as a terminal may show it: control and bidi characters escaped
/// (`\u{1b}`), so stored strings cannot move the cursor, retitle the
/// window, fake lines or reorder what is read.
pub fn printable(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() || is_bidi_control(c) {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// A table row of printable cells.
fn safe<S: AsRef<str>>(cells: impl IntoIterator<Item = S>) -> Vec<String> {
    cells
        .into_iter()
        .map(|cell| printable(cell.as_ref()))
        .collect()
}

fn or_dash(value: &Option<String>) -> String {
    value.clone().unwrap_or_else(|| "-".to_string())
}

pub fn resources_table(resources: &[Resource]) -> Table {
    let mut t = table(&["NAME", "ROLE ARN", "EXTERNAL ID", "ACCOUNT", "CREATED"]);
    for r in resources {
        t.add_row(safe([
            &r.name,
            &r.role_arn,
            &r.external_id,
            &r.aws_account_id,
            &r.created_at,
        ]));
    }
    t
}

pub fn accounts_table(accounts: &[Account]) -> Table {
    let mut t = table(&[
        "RESOURCE/NAME",
        "ROLE ARN",
        "DURATION",
        "REGION",
        "PAGE",
        "ALLOW",
        "DESCRIPTION",
    ]);
    for a in accounts {
        t.add_row(safe([
            format!("{}/{}", a.resource, a.name),
            a.role_arn.clone(),
            a.session_duration.clone(),
            or_dash(&a.region),
            or_dash(&a.service),
            a.allow.join(", "),
            or_dash(&a.description),
        ]));
    }
    t
}

pub fn sessions_table(sessions: &[Session]) -> Table {
    let mut t = table(&[
        "ID",
        "USER",
        "RESOURCE/ACCOUNT",
        "ASSUMED ROLE",
        "CREATED",
        "EXPIRES",
        "STATUS",
    ]);
    for s in sessions {
        t.add_row(safe([
            s.id.clone(),
            s.user.clone(),
            format!("{}/{}", s.resource, s.account),
            s.assumed_role_arn.clone(),
            s.created_at.clone(),
            s.expires_at.clone(),
            status_name(s.status).to_string(),
        ]));
    }
    t
}

pub fn audit_table(events: &[AuditEvent]) -> Table {
    let mut t = table(&[
        "TIME",
        "ACTION",
        "OUTCOME",
        "ACTOR",
        "TARGET",
        "DETAIL",
        "REQUEST IDS",
    ]);
    for e in events {
        let target = match (&e.resource, &e.account) {
            (Some(r), Some(a)) => format!("{r}/{a}"),
            (Some(r), None) => r.clone(),
            _ => "-".to_string(),
        };
        t.add_row(safe([
            e.time.clone(),
            e.action.clone(),
            outcome_name(e.outcome).to_string(),
            e.actor.clone(),
            target,
            e.detail.clone(),
            e.request_ids.join(" "),
        ]));
    }
    t
}
