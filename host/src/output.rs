//! How records and errors look on the command line: JSON in the shapes of
//! CONTRACT.md (the generated types' serde, as the component's own), tables
//! that fit the terminal, and the error's line, body and exit code from
//! `pam_aws_contract`.

use crate::bindings::types::{Account, AuditEvent, Error, Resource, Session};
use comfy_table::{ColumnConstraint, ContentArrangement, Table, presets::UTF8_BORDERS_ONLY};
use pam_aws_contract::fault::AsFault;
use serde::Serialize;
use serde_json::{Value, json};

/// Fields that hold a WIT enum: serde names its cases as Rust does
/// (`Active`); JSON uses the WIT case names (`active`).
const ENUM_FIELDS: &[&str] = &["status", "outcome"];

/// A record (or list, or grant) as JSON.
pub fn to_json<T: Serialize>(value: &T) -> Value {
    let mut json = serde_json::to_value(value).unwrap_or(Value::Null);
    wit_enum_names(&mut json);
    json
}

/// A WIT enum's case as JSON names it.
fn wit_case<T: Serialize>(case: &T) -> String {
    match serde_json::to_value(case) {
        Ok(Value::String(name)) => name.to_lowercase(),
        _ => String::new(),
    }
}

fn wit_enum_names(value: &mut Value) {
    match value {
        Value::Array(items) => items.iter_mut().for_each(wit_enum_names),
        Value::Object(fields) => {
            for (key, field) in fields.iter_mut() {
                match field {
                    Value::String(case) if ENUM_FIELDS.contains(&key.as_str()) => {
                        *case = wit_case(case)
                    }
                    other => wit_enum_names(other),
                }
            }
        }
        _ => {}
    }
}

/// The error as `{"error":{"kind","field","message",…}}`.
pub fn error_json(error: &Error) -> Value {
    json!({ "error": error.fault().to_json() })
}

pub fn error_message(error: &Error) -> String {
    error.fault().message()
}

/// CONTRACT.md's exit code for the error.
pub fn exit_code(error: &Error) -> i32 {
    error.fault().exit_code()
}

/// Text as a terminal may show it (control and bidi characters escaped).
pub fn printable(text: &str) -> String {
    pam_aws_contract::text::printable(text, None)
}

/// `arn:aws:sts::123456789012:assumed-role/R/alice` → `123456789012:assumed-role/R/alice`:
/// the partition and service are the table's context.
fn short_arn(arn: &str) -> String {
    let parts: Vec<&str> = arn.splitn(5, ':').collect();
    match parts[..] {
        ["arn", _partition, _service, "", rest] => rest.to_string(),
        _ => arn.to_string(),
    }
}

fn or_dash(value: &Option<String>) -> String {
    value.clone().unwrap_or_else(|| "-".to_string())
}

/// Every ARN in `text` as [`short_arn`] shows it.
fn short_arns(text: &str) -> String {
    text.split(' ')
        .map(|word| match word.strip_prefix("arn:") {
            Some(_) => short_arn(word),
            None => word.to_string(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `2027-01-15T08:30:00Z` → `2027-01-15 08:30`, times in UTC.
fn short_time(time: &str) -> String {
    let time = time.trim_end_matches('Z').replacen('T', " ", 1);
    match time.rsplit_once(':') {
        Some((minutes, _seconds)) if minutes.len() == 16 => minutes.to_string(),
        _ => time,
    }
}

/// A table of `header`, fitted to `width` (or `COLUMNS`, or the
/// terminal's); the columns named in `whole` are never wrapped (ids, times,
/// statuses), the others share what is left. Piped with no width to fit,
/// no cell wraps: each record stays on one line, whole, for `grep`.
fn table(header: &[&str], whole: &[&str], width: Option<u16>) -> Table {
    let mut table = Table::new();
    table
        .load_preset(UTF8_BORDERS_ONLY)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header.to_vec());
    table.set_constraints(header.iter().map(|name| {
        if whole.contains(name) {
            ColumnConstraint::ContentWidth
        } else {
            ColumnConstraint::LowerBoundary(comfy_table::Width::Fixed(4))
        }
    }));
    let width = width.or_else(|| {
        std::env::var("COLUMNS")
            .ok()
            .and_then(|columns| columns.parse().ok())
    });
    // Without a width, comfy-table asks the terminal, and a pipe has none.
    if let Some(width) = width {
        table.set_width(width);
    }
    table
}

/// `records` as a table, a row of printable cells each.
fn rows<T, const N: usize>(
    mut table: Table,
    records: &[T],
    cells: impl Fn(&T) -> [String; N],
) -> Table {
    for record in records {
        table.add_row(cells(record).map(|cell| printable(&cell)));
    }
    table
}

pub fn resources_table(resources: &[Resource], width: Option<u16>) -> Table {
    let header = ["NAME", "ROLE", "EXTERNAL ID", "CREATED (UTC)"];
    rows(table(&header, &["CREATED (UTC)"], width), resources, |r| {
        [
            r.name.clone(),
            short_arn(&r.role_arn),
            r.external_id.clone(),
            short_time(&r.created_at),
        ]
    })
}

pub fn accounts_table(accounts: &[Account], width: Option<u16>) -> Table {
    let header = [
        "RESOURCE/NAME",
        "ROLE",
        "DURATION",
        "REGION",
        "PAGE",
        "ALLOW",
        "DESCRIPTION",
    ];
    rows(table(&header, &["DURATION"], width), accounts, |a| {
        [
            format!("{}/{}", a.resource, a.name),
            short_arn(&a.role_arn),
            a.session_duration.clone(),
            or_dash(&a.region),
            or_dash(&a.service),
            a.allow.join(", "),
            or_dash(&a.description),
        ]
    })
}

pub fn sessions_table(sessions: &[Session], width: Option<u16>) -> Table {
    let header = ["ID", "USER", "ACCOUNT", "EXPIRES (UTC)", "STATUS"];
    let whole = ["ID", "EXPIRES (UTC)", "STATUS"];
    rows(table(&header, &whole, width), sessions, |s| {
        [
            s.id.clone(),
            s.user.clone(),
            format!("{}/{}", s.resource, s.account),
            short_time(&s.expires_at),
            wit_case(&s.status),
        ]
    })
}

pub fn audit_table(events: &[AuditEvent], width: Option<u16>) -> Table {
    let header = [
        "TIME (UTC)",
        "ACTION",
        "OUTCOME",
        "ACTOR",
        "TARGET",
        "DETAIL",
    ];
    let whole = ["TIME (UTC)", "ACTION", "OUTCOME"];
    rows(table(&header, &whole, width), events, |e| {
        let target = match (&e.resource, &e.account) {
            (Some(r), Some(a)) => format!("{r}/{a}"),
            (Some(r), None) => r.clone(),
            _ => "-".to_string(),
        };
        [
            short_time(&e.time),
            e.action.clone(),
            wit_case(&e.outcome),
            e.actor.clone(),
            target,
            short_arns(&e.detail),
        ]
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::types::{Outcome, SessionStatus};

    fn session() -> Session {
        Session {
            id: "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b".into(),
            resource: "production-payments".into(),
            account: "administrators".into(),
            user: "firstname.lastname@subsidiary.example.com".into(),
            role_arn: "arn:aws:iam::123456789012:role/PamTargetRole".into(),
            assumed_role_arn: "arn:aws:sts::123456789012:assumed-role/PamTargetRole/x".into(),
            assumed_role_id: "AROAEXAMPLE:x".into(),
            role_session_name: "x".into(),
            source_identity: None,
            created_at: "2027-01-15T08:00:00Z".into(),
            expires_at: "2027-01-15T08:30:00Z".into(),
            status: SessionStatus::Active,
        }
    }

    fn widest(table: &Table) -> usize {
        let text = table.to_string();
        text.lines().map(|l| l.chars().count()).max().unwrap_or(0)
    }

    #[test]
    fn tables_fit_the_width_and_keep_ids_and_times_whole() {
        let sessions = [session()];
        for width in [80, 120] {
            let table = sessions_table(&sessions, Some(width));
            assert!(widest(&table) <= usize::from(width), "{table}");
            let text = table.to_string();
            assert!(
                text.contains("0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"),
                "{text}"
            );
            assert!(text.contains("2027-01-15 08:30"), "{text}");
        }
        let event = AuditEvent {
            id: "e".into(),
            time: "2027-01-15T08:00:00Z".into(),
            action: "access.grant".into(),
            actor: "firstname.lastname@subsidiary.example.com".into(),
            resource: Some("production-payments".into()),
            account: Some("administrators".into()),
            session: None,
            outcome: Outcome::Success,
            detail: "access as arn:aws:sts::123456789012:assumed-role/PamTargetRole/firstname.lastname@subsidiary.example.com until 2027-01-15T08:30:00Z".into(),
            request_ids: vec!["req-1".into()],
        };
        let table = audit_table(&[event], Some(80));
        assert!(widest(&table) <= 80, "{table}");
        let text = table.to_string();
        assert!(
            text.contains("access.grant") && text.contains("success"),
            "{text}"
        );
        assert!(!text.contains("arn:aws:sts"), "ARNs are shortened: {text}");
    }

    #[test]
    fn json_uses_the_wit_names_of_enum_cases() {
        let json = to_json(&[session()]);
        assert_eq!(json[0]["status"], "active");
        assert_eq!(json[0]["assumed_role_id"], "AROAEXAMPLE:x");
        assert_eq!(json[0]["source_identity"], Value::Null);
    }

    #[test]
    fn arns_lose_only_their_partition_and_service() {
        assert_eq!(
            short_arn("arn:aws-cn:iam::123456789012:role/path/R"),
            "123456789012:role/path/R"
        );
        assert_eq!(short_arn("not-an-arn"), "not-an-arn");
    }
}
