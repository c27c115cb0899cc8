//! Per-user revocation through IAM: every revocation writes an inline deny
//! policy of its own on the Target Role, denying the user's session id
//! (`aws:userid`) every token issued before the revocation.
//!
//! Why one policy per revocation rather than one merged document: IAM has
//! no conditional write, so a read-merge-write of a shared document loses
//! statements when two revocations race (across threads, processes or
//! hosts). Writes to distinct policy names never overwrite each other, so
//! no lock is needed. A policy's name carries the time it may go; pruning
//! deletes only policies past that time, when every token it can deny has
//! expired. IAM caps all inline policies of a role together at
//! [`ROLE_INLINE_LIMIT`] characters: a revocation that would not fit is
//! refused before anything is written.

use crate::aws::Iam;
use crate::clock::{compact, parse_compact, rfc3339};
use crate::error::Result;
use crate::model::Error;
use serde_json::json;
use time::{Duration, OffsetDateTime};

/// Our policies' names: this prefix, the time they may go, a unique id.
pub const POLICY_PREFIX: &str = "PamAwsRevoke-";
/// IAM's limit on a role's inline policies together (whitespace not counted).
pub const ROLE_INLINE_LIMIT: usize = 10_240;
/// Role chaining caps a token's life at one hour: a deny written now has
/// nothing left to deny an hour later.
const LONGEST_TOKEN: Duration = Duration::hours(1);

/// One revocation's inline policy.
#[derive(Debug, Clone, PartialEq)]
pub struct RevocationPolicy {
    pub name: String,
    pub document: String,
}

/// The policy that denies `user_ids` (usually one) every token issued
/// before `cutoff`, named so that it can be pruned once those tokens have
/// all expired. `unique` (a fresh id) keeps concurrent revocations apart.
pub fn policy(user_ids: &[&str], cutoff: OffsetDateTime, unique: &str) -> RevocationPolicy {
    let keep_until = cutoff + LONGEST_TOKEN;
    let user_id = match user_ids {
        [one] => json!(one),
        many => json!(many),
    };
    let document = json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "PamRevoke",
            "Effect": "Deny",
            "Action": "*",
            "Resource": "*",
            "Condition": {
                "StringLike": {"aws:userid": user_id},
                "DateLessThan": {"aws:TokenIssueTime": rfc3339(cutoff)},
            },
        }],
    });
    RevocationPolicy {
        name: format!("{POLICY_PREFIX}{}-{unique}", compact(keep_until)),
        document: document.to_string(),
    }
}

/// Whether `name` is one of our policies whose time has passed at `now`.
/// Others' policies, and ours that cannot be read, are never pruned.
pub fn is_prunable(name: &str, now: OffsetDateTime) -> bool {
    let Some(rest) = name.strip_prefix(POLICY_PREFIX) else {
        return false;
    };
    rest.get(..16)
        .and_then(parse_compact)
        .is_some_and(|keep_until| keep_until < now)
}

/// A policy's size as IAM counts it: characters other than whitespace.
pub fn size(document: &str) -> usize {
    document.chars().filter(|c| !c.is_whitespace()).count()
}

/// Refuses a revocation whose policy would take the role's inline policies
/// past IAM's limit, before anything is written.
pub fn check_room(role_arn: &str, in_use: usize, new: &RevocationPolicy) -> Result<()> {
    let needed = size(&new.document);
    if in_use + needed <= ROLE_INLINE_LIMIT {
        return Ok(());
    }
    Err(Error::Conflict(format!(
        "the inline policies of {role_arn} already hold {in_use} of IAM's {ROLE_INLINE_LIMIT} characters \
         and this revocation needs {needed} more; nothing was written. Revocations expire an hour after \
         they are made; to cut every session of the role now, use the IAM console's \"Revoke active sessions\""
    )))
}

/// Writes `new` on the role `iam` is about: first deletes our policies
/// whose tokens have all expired and measures what the others take, then
/// refuses (writing nothing) if `new` would not fit.
pub fn write(iam: &Iam, new: &RevocationPolicy, now: OffsetDateTime) -> Result<()> {
    let mut in_use = 0;
    for name in iam.list_role_policies()? {
        if is_prunable(&name, now) {
            iam.delete_role_policy(&name)?;
        } else {
            in_use += iam.get_role_policy(&name)?.as_deref().map_or(0, size);
        }
    }
    check_room(iam.role_arn(), in_use, new)?;
    iam.put_role_policy(&new.name, &new.document)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::is_iam_name_char;
    use serde_json::Value;
    use time::macros::datetime;

    const ALICE: &str = "AROAEXAMPLE:alice@example.com";

    #[test]
    fn a_revocation_denies_the_user_tokens_issued_before_it() {
        let now = datetime!(2026-11-29 06:30:00 UTC);
        let written = policy(&[ALICE], now, "0193a1b2c3d4");
        let document: Value = serde_json::from_str(&written.document).unwrap();
        let statement = &document["Statement"][0];
        assert_eq!(statement["Effect"], "Deny");
        assert_eq!(statement["Action"], "*");
        assert_eq!(statement["Condition"]["StringLike"]["aws:userid"], ALICE);
        assert_eq!(
            statement["Condition"]["DateLessThan"]["aws:TokenIssueTime"],
            "2026-11-29T06:30:00Z"
        );
        // Kept an hour: the longest a role-chained token lives.
        assert_eq!(written.name, "PamAwsRevoke-20261129T073000Z-0193a1b2c3d4");
        assert!(written.name.len() <= 128 && written.name.chars().all(is_iam_name_char));
    }

    #[test]
    fn concurrent_revocations_write_distinct_policies() {
        let now = datetime!(2026-11-29 06:30:00 UTC);
        assert_ne!(
            policy(&[ALICE], now, "a1").name,
            policy(&[ALICE], now, "b2").name
        );
        let both = policy(&[ALICE, "AROAEXAMPLE:bob@example.com"], now, "c3");
        let document: Value = serde_json::from_str(&both.document).unwrap();
        assert_eq!(
            document["Statement"][0]["Condition"]["StringLike"]["aws:userid"],
            json!([ALICE, "AROAEXAMPLE:bob@example.com"])
        );
    }

    #[test]
    fn only_our_policies_past_their_time_are_pruned() {
        let written = policy(&[ALICE], datetime!(2026-11-29 06:30:00 UTC), "x");
        assert!(!is_prunable(
            &written.name,
            datetime!(2026-11-29 07:29:59 UTC)
        ));
        assert!(is_prunable(
            &written.name,
            datetime!(2026-11-29 07:30:01 UTC)
        ));
        for others in [
            "AWSRevokeOlderSessions",
            "PamAwsRevokedSessions",
            "PamAwsRevoke-garbage",
            "PamAwsRevoke-",
        ] {
            assert!(
                !is_prunable(others, datetime!(2099-01-01 00:00:00 UTC)),
                "{others}"
            );
        }
    }

    #[test]
    fn the_size_limit_is_checked_before_writing() {
        let written = policy(&[ALICE], datetime!(2026-11-29 06:30:00 UTC), "x");
        let needed = size(&written.document);
        assert!(check_room("arn", ROLE_INLINE_LIMIT - needed, &written).is_ok());
        let Err(Error::Conflict(why)) = check_room("arn", ROLE_INLINE_LIMIT - needed + 1, &written)
        else {
            panic!("accepted past the limit")
        };
        assert!(
            why.contains("10240") && why.contains("nothing was written"),
            "{why}"
        );
        assert_eq!(size("{ \"a\" :\n 1 }"), 7);
    }
}
