//! Per-user revocation: one inline deny policy on the Target Role, a
//! statement per revoked user session id (`aws:userid`), denying tokens
//! issued before the revocation. Statements are merged and pruned once the
//! sessions they target have expired, to stay under IAM's size limit.

use crate::error::{Result, upstream};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::macros::format_description;

/// The inline policy's name on the Target Role.
pub const POLICY_NAME: &str = "PamAwsRevokedSessions";
/// Our statements' Sid: this prefix, the time they may go, the user's hash.
const SID_PREFIX: &str = "PamRevoke";

/// `existing` (the current document, if any) with a statement that denies
/// `user_id`'s tokens issued before `now`, kept until `keep_until`; our
/// statements whose time has passed are dropped, others' are kept as they are.
pub fn merge(
    existing: Option<&str>,
    user_id: &str,
    now: OffsetDateTime,
    keep_until: OffsetDateTime,
) -> Result<String> {
    let mut statements = match existing {
        None => Vec::new(),
        Some(text) => {
            let document: Value = serde_json::from_str(text).map_err(|_| {
                upstream(format!("the inline policy {POLICY_NAME} is not valid JSON"))
            })?;
            match document.get("Statement") {
                Some(Value::Array(list)) => list.clone(),
                Some(single @ Value::Object(_)) => vec![single.clone()],
                _ => Vec::new(),
            }
        }
    };
    let user_hash = short_hash(user_id);
    let now_sid = sid_time(now);
    statements.retain(|statement| match our_sid(statement) {
        // Ours: keep while it matters and is not the one being replaced.
        Some((until, hash)) => until > now_sid && hash != user_hash,
        None => true,
    });
    statements.push(json!({
        "Sid": format!("{SID_PREFIX}{}{user_hash}", sid_time(keep_until)),
        "Effect": "Deny",
        "Action": "*",
        "Resource": "*",
        "Condition": {
            "StringLike": {"aws:userid": user_id},
            "DateLessThan": {"aws:TokenIssueTime": rfc3339(now)},
        },
    }));
    let document = json!({"Version": "2012-10-17", "Statement": statements});
    Ok(document.to_string())
}

/// `(until, user hash)` of one of our statements.
fn our_sid(statement: &Value) -> Option<(String, String)> {
    let rest = statement.get("Sid")?.as_str()?.strip_prefix(SID_PREFIX)?;
    (rest.len() == 16 + 12).then(|| (rest[..16].to_string(), rest[16..].to_string()))
}

/// Sortable and Sid-safe (alphanumerics only): `20261129T063000Z` is 16 long.
fn sid_time(time: OffsetDateTime) -> String {
    let format = format_description!("[year][month][day]T[hour][minute][second]Z");
    time.format(&format).unwrap_or_default()
}

fn rfc3339(time: OffsetDateTime) -> String {
    time.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn short_hash(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const ALICE: &str = "AROAEXAMPLE:alice@example.com";
    const BOB: &str = "AROAEXAMPLE:bob@example.com";

    fn statements(document: &str) -> Vec<Value> {
        serde_json::from_str::<Value>(document).unwrap()["Statement"]
            .as_array()
            .unwrap()
            .clone()
    }

    #[test]
    fn a_first_revocation_denies_the_user_tokens_issued_before_now() {
        let now = datetime!(2026-11-29 06:30:00 UTC);
        let doc = merge(None, ALICE, now, datetime!(2026-11-29 07:00:00 UTC)).unwrap();
        let list = statements(&doc);
        assert_eq!(list.len(), 1);
        let s = &list[0];
        assert_eq!(
            (s["Effect"].as_str(), s["Action"].as_str()),
            (Some("Deny"), Some("*"))
        );
        assert_eq!(s["Condition"]["StringLike"]["aws:userid"], ALICE);
        assert_eq!(
            s["Condition"]["DateLessThan"]["aws:TokenIssueTime"],
            "2026-11-29T06:30:00Z"
        );
        let sid = s["Sid"].as_str().unwrap();
        assert!(sid.starts_with("PamRevoke20261129T070000Z"), "{sid}");
        assert!(
            sid.chars().all(|c| c.is_ascii_alphanumeric()),
            "IAM Sids are alphanumeric"
        );
    }

    #[test]
    fn revocations_merge_replace_and_prune() {
        let t0 = datetime!(2026-11-29 06:00:00 UTC);
        let doc = merge(None, ALICE, t0, datetime!(2026-11-29 06:30:00 UTC)).unwrap();
        let doc = merge(Some(&doc), BOB, t0, datetime!(2026-11-29 07:00:00 UTC)).unwrap();
        assert_eq!(statements(&doc).len(), 2, "merged");
        // Alice again: her statement is replaced, not duplicated.
        let t1 = datetime!(2026-11-29 06:10:00 UTC);
        let doc = merge(Some(&doc), ALICE, t1, datetime!(2026-11-29 06:40:00 UTC)).unwrap();
        let list = statements(&doc);
        assert_eq!(list.len(), 2);
        let alice = list
            .iter()
            .find(|s| s["Condition"]["StringLike"]["aws:userid"] == ALICE)
            .unwrap();
        assert_eq!(
            alice["Condition"]["DateLessThan"]["aws:TokenIssueTime"],
            "2026-11-29T06:10:00Z"
        );
        // Past Alice's expiry, a new revocation prunes her statement.
        let t2 = datetime!(2026-11-29 06:45:00 UTC);
        let carol = "AROAEXAMPLE:carol@example.com";
        let doc = merge(Some(&doc), carol, t2, datetime!(2026-11-29 07:15:00 UTC)).unwrap();
        let users: Vec<Value> = statements(&doc)
            .iter()
            .map(|s| s["Condition"]["StringLike"]["aws:userid"].clone())
            .collect();
        assert_eq!(users, [json!(BOB), json!(carol)]);
    }

    #[test]
    fn statements_written_by_others_are_kept() {
        let existing = r#"{"Version":"2012-10-17","Statement":{"Sid":"AWSRevokeOlderSessions","Effect":"Deny","Action":"*","Resource":"*"}}"#;
        let doc = merge(
            Some(existing),
            ALICE,
            datetime!(2026-11-29 06:00:00 UTC),
            datetime!(2026-11-29 07:00:00 UTC),
        )
        .unwrap();
        let list = statements(&doc);
        assert_eq!(list.len(), 2);
        assert_eq!(list[0]["Sid"], "AWSRevokeOlderSessions");
        assert!(
            merge(
                Some("not json"),
                ALICE,
                datetime!(2026-11-29 06:00:00 UTC),
                datetime!(2026-11-29 07:00:00 UTC)
            )
            .is_err()
        );
    }
}
