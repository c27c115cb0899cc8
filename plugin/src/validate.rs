//! Input rules. Every check names the field and the rule it broke, so a
//! caller can fix the input without reading code (limits from AWS.md).

use crate::error::{Result, invalid, storage};
use crate::partition::Partition;
use std::time::Duration;

/// STS rejects DurationSeconds below 15 minutes...
pub const MIN_SESSION: Duration = Duration::from_secs(15 * 60);
/// ...and role chaining (hop 2 is signed by hop 1's credentials) caps it at 1 hour.
pub const MAX_SESSION: Duration = Duration::from_secs(60 * 60);

/// A parsed IAM role ARN: `arn:{partition}:iam::{account}:role/{path/}{name}`.
#[derive(Debug, Clone, PartialEq)]
pub struct RoleArn {
    pub arn: String,
    pub partition: Partition,
    pub account_id: String,
    pub name: String,
}

impl RoleArn {
    pub fn parse(field: &str, arn: &str) -> Result<RoleArn> {
        let rule = "must look like arn:aws:iam::123456789012:role/NAME";
        if !(20..=2048).contains(&arn.len()) {
            return Err(invalid(field, format!("{rule} (20 to 2048 characters)")));
        }
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        let [prefix, partition, service, region, account_id, resource] = parts[..] else {
            return Err(invalid(field, rule));
        };
        if prefix != "arn" || service != "iam" || !region.is_empty() {
            return Err(invalid(field, rule));
        }
        let partition = Partition::parse(partition).map_err(|why| invalid(field, why))?;
        if account_id.len() != 12 || !account_id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid(field, "the account id must be 12 digits"));
        }
        let Some(path_and_name) = resource.strip_prefix("role/") else {
            return Err(invalid(
                field,
                format!("{rule}: the resource must start with role/"),
            ));
        };
        let name = path_and_name.rsplit('/').next().unwrap_or_default();
        if !(1..=64).contains(&name.len()) || !name.chars().all(is_iam_name_char) {
            return Err(invalid(
                field,
                "the role name must be 1 to 64 characters of [A-Za-z0-9+=,.@_-]",
            ));
        }
        if path_and_name
            .split('/')
            .any(|segment| segment.is_empty() || !segment.chars().all(is_iam_name_char))
        {
            return Err(invalid(
                field,
                "the role path may only hold [A-Za-z0-9+=,.@_-] between single slashes",
            ));
        }
        Ok(RoleArn {
            arn: arn.to_string(),
            partition,
            account_id: account_id.to_string(),
            name: name.to_string(),
        })
    }

    /// A role ARN read back from `record` (stored or declared in the
    /// catalog). It was checked when written, so one that no longer parses
    /// is a corrupt record, a storage failure, not the caller's input.
    pub fn stored(record: &str, arn: &str) -> Result<RoleArn> {
        RoleArn::parse("role-arn", arn).map_err(|_| {
            storage(format!(
                "{record} holds a role ARN that does not parse: the record is corrupt"
            ))
        })
    }
}

/// `[\w+=,.@-]`, the set AWS allows in role names and session names.
pub fn is_iam_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_+=,.@-".contains(c)
}

pub fn external_id(field: &str, id: &str) -> Result<()> {
    let allowed = |c: char| is_iam_name_char(c) || c == ':' || c == '/';
    if !(2..=1224).contains(&id.len()) || !id.chars().all(allowed) {
        return Err(invalid(
            field,
            "must be 2 to 1224 characters of [A-Za-z0-9+=,.@:/_-]",
        ));
    }
    Ok(())
}

/// Resource and account names, as `pam_aws_contract::NAME_PATTERN` says.
pub fn name(field: &str, name: &str) -> Result<()> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
    if !first_ok || !rest_ok || name.len() > 63 {
        return Err(invalid(field, pam_aws_contract::NAME_RULE));
    }
    Ok(())
}

/// An email address as the identity of a user: one `@`, a domain of
/// dotted labels (letters, digits, inner hyphens), no spaces or controls.
pub fn email(field: &str, email: &str) -> Result<()> {
    let rule = "must be an email address like alice@example.com (at most 254 characters)";
    let Some((local, domain)) = email.split_once('@') else {
        return Err(invalid(field, rule));
    };
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        });
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && local
            .chars()
            .all(|c| !c.is_whitespace() && !c.is_control() && !is_bidi_control(c) && c != '@');
    if email.len() > 254 || !local_ok || !domain_ok {
        return Err(invalid(field, rule));
    }
    Ok(())
}

/// A user's email, checked, in the one form every comparison and record
/// uses: lowercase. Identity providers treat addresses case-insensitively,
/// so `Alice@Example.com` and `alice@example.com` are one user. ASCII only:
/// Unicode's case tables would cost the component 17 KB.
pub fn user_email(field: &str, text: &str) -> Result<String> {
    email(field, text)?;
    Ok(text.to_ascii_lowercase())
}

pub use pam_aws_contract::text::is_bidi_control;

/// `text` made safe to keep and to print (see `pam_aws_contract::text`),
/// cut to `max_chars`: audit events hold request-derived strings.
pub fn printable(text: &str, max_chars: usize) -> String {
    pam_aws_contract::text::printable(text, Some(max_chars))
}

/// How many records a list answers with unless told.
pub const DEFAULT_PAGE: u32 = 100;

/// The most records one list answers with.
pub const MAX_PAGE: u32 = 1000;

/// A list's `limit`: 1 to [`MAX_PAGE`].
pub fn page_limit(field: &str, limit: u32) -> Result<u32> {
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(invalid(
            field,
            format!("must be a whole number from 1 to {MAX_PAGE}"),
        ));
    }
    Ok(limit)
}

/// A humantime duration within what role chaining allows; returns seconds.
pub fn session_duration(field: &str, text: &str) -> Result<u32> {
    let rule = "must be between 15m and 1h: STS's minimum is 15 minutes and role chaining caps sessions at 1 hour";
    let duration = humantime::parse_duration(text.trim())
        .map_err(|e| invalid(field, format!("{e}; write it like 15m, 30m or 1h")))?;
    if duration < MIN_SESSION || duration > MAX_SESSION {
        return Err(invalid(field, format!("{text} {rule}")));
    }
    if duration.subsec_nanos() != 0 {
        return Err(invalid(field, "must be a whole number of seconds"));
    }
    u32::try_from(duration.as_secs()).map_err(|_| invalid(field, rule))
}

/// An AWS region name like `us-east-1` or `cn-north-1`.
pub fn region(field: &str, region: &str) -> Result<()> {
    let parts: Vec<&str> = region.split('-').collect();
    let ok = match parts.split_last() {
        Some((number, words)) => {
            (2..=3).contains(&words.len())
                && words
                    .iter()
                    .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
                && (1..=2).contains(&number.len())
                && number.bytes().all(|b| b.is_ascii_digit())
        }
        None => false,
    };
    if !ok {
        return Err(invalid(field, "must be an AWS region like us-east-1"));
    }
    Ok(())
}

/// A console page: a service name (`s3`) or a path on the console host (`/cloudwatch/home`).
pub fn console_page(field: &str, page: &str) -> Result<()> {
    if let Some(path) = page.strip_prefix('/') {
        let safe = |c: char| c.is_ascii_graphic() && !"\"<>\\^`{|}".contains(c);
        if path.starts_with('/') || page.len() > 512 || !path.chars().all(safe) {
            return Err(invalid(
                field,
                "a console path must start with a single / and hold only URL characters (at most 512)",
            ));
        }
        return Ok(());
    }
    let mut chars = page.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase());
    let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !first_ok || !rest_ok || page.len() > 40 {
        return Err(invalid(
            field,
            "must be a console service like s3 or ec2 (lowercase letters, digits, -) or a path starting with /",
        ));
    }
    Ok(())
}

pub fn description(field: &str, text: &str) -> Result<()> {
    if text.chars().count() > 1024 || text.chars().any(|c| c.is_control() || is_bidi_control(c)) {
        return Err(invalid(
            field,
            "must be at most 1024 characters without control characters",
        ));
    }
    Ok(())
}

/// An access policy entry: `alice@example.com`, `@example.com` or `group:ops`.
pub fn allow_entry(field: &str, entry: &str) -> Result<()> {
    let rule = "entries must be an email, an @domain or group:NAME";
    if let Some(group) = entry.strip_prefix("group:") {
        return name(field, group).map_err(|_| invalid(field, rule));
    }
    if let Some(domain) = entry.strip_prefix('@') {
        return email(field, &format!("x@{domain}")).map_err(|_| invalid(field, rule));
    }
    email(field, entry).map_err(|_| invalid(field, rule))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Error;

    fn field_of(result: Result<impl std::fmt::Debug>) -> String {
        match result {
            Err(Error::InvalidInput(e)) => e.field,
            other => panic!("expected invalid input, got {other:?}"),
        }
    }

    #[test]
    fn role_arns_follow_the_iam_format() {
        let arn =
            RoleArn::parse("role-arn", "arn:aws:iam::123456789012:role/ops/PamTarget").unwrap();
        assert_eq!(arn.account_id, "123456789012");
        assert_eq!(arn.name, "PamTarget");
        assert_eq!(arn.partition, Partition::Aws);
        let cn = RoleArn::parse("role-arn", "arn:aws-cn:iam::123456789012:role/R1").unwrap();
        assert_eq!(cn.partition, Partition::AwsCn);
        for bad in [
            "arn:aws:iam::12345678901:role/R",           // 11 digits
            "arn:aws:iam::123456789012:user/R",          // not a role
            "arn:aws:sts::123456789012:role/R",          // wrong service
            "arn:aws:iam:us-east-1:123456789012:role/R", // has a region
            "arn:aws:iam::123456789012:role/",           // no name
            "arn:aws:iam::123456789012:role/a b",        // space
            "arn:aws:iam::123456789012:role//R",         // empty path segment
            "arn:aws-iso:iam::123456789012:role/R",      // partition without a console
            "not an arn at all, really",
        ] {
            assert_eq!(
                field_of(RoleArn::parse("role-arn", bad)),
                "role-arn",
                "{bad}"
            );
        }
    }

    #[test]
    fn unsupported_partitions_are_named() {
        let Err(Error::InvalidInput(e)) =
            RoleArn::parse("role-arn", "arn:aws-iso:iam::123456789012:role/R")
        else {
            panic!("accepted aws-iso");
        };
        assert!(e.message.contains("aws-iso"), "{}", e.message);
    }

    #[test]
    fn durations_are_bounded_by_role_chaining() {
        assert_eq!(session_duration("duration", "15m").unwrap(), 900);
        assert_eq!(session_duration("duration", "30m").unwrap(), 1800);
        assert_eq!(session_duration("duration", "1h").unwrap(), 3600);
        for bad in ["14m", "61m", "2h", "12h", "soon", ""] {
            assert_eq!(
                field_of(session_duration("duration", bad)),
                "duration",
                "{bad}"
            );
        }
        let Err(Error::InvalidInput(e)) = session_duration("duration", "2h") else {
            panic!()
        };
        assert!(e.message.contains("role chaining"));
    }

    #[test]
    fn external_ids_follow_sts_rules() {
        assert!(external_id("external-id", "proj-123:env/prod").is_ok());
        assert!(external_id("external-id", "x").is_err());
        assert!(external_id("external-id", "has space").is_err());
        assert!(external_id("external-id", &"a".repeat(1225)).is_err());
    }

    #[test]
    fn names_emails_regions_and_policies() {
        assert!(name("name", "prod-1").is_ok());
        assert!(name("name", "a/b").is_err());
        assert!(name("name", "-x").is_err());
        assert!(email("user", "alice@example.com").is_ok());
        for bad in [
            "alice",
            "@example.com",
            "alice@",
            "al ice@example.com",
            "alice@example",
            "a@b..c",
            "a@-b.c",
            "a@b-.c",
            "a@.b.c",
            "a\u{202e}b@example.com",
        ] {
            assert!(email("user", bad).is_err(), "{bad}");
        }
        for good in [
            "s3",
            "ec2",
            "cloudwatch",
            "/cloudwatch/home#alarms",
            "/s3/buckets?region=eu-west-1",
        ] {
            assert!(console_page("service", good).is_ok(), "{good}");
        }
        for bad in ["S3", "s3/x", "//evil.example/", "/a b", "", "/<script>"] {
            assert!(console_page("service", bad).is_err(), "{bad}");
        }
        assert!(region("region", "us-east-1").is_ok());
        assert!(region("region", "us-gov-west-1").is_ok());
        assert!(region("region", "useast1").is_err());
        for bad in [
            "us-east-+1",
            "us-east-01x",
            "us-east-123",
            "us-east-",
            "US-east-1",
        ] {
            assert!(region("region", bad).is_err(), "{bad}");
        }
        assert_eq!(
            user_email("user", "Alice@Example.COM").unwrap(),
            "alice@example.com"
        );
        // Non-ASCII letters are kept as written (README, Role session names).
        assert_eq!(
            user_email("user", "Ärzte@Example.de").unwrap(),
            "Ärzte@example.de"
        );
    }

    #[test]
    fn printable_text_escapes_controls_and_bidi_and_is_bounded() {
        let planted = "x\u{1b}]0;owned\u{7}\nFAKE LINE\u{202e}";
        let safe = printable(planted, 100);
        assert!(
            !safe.chars().any(|c| c.is_control() || is_bidi_control(c)),
            "{safe}"
        );
        assert_eq!(safe, "x\\u{1b}]0;owned\\u{7}\\u{a}FAKE LINE\\u{202e}");
        let long = printable(&"a".repeat(60_000), 64);
        assert!(long.starts_with(&"a".repeat(64)) && long.ends_with("…(cut)") && long.len() < 80);
        assert_eq!(printable("prod-1", 64), "prod-1");
        for good in ["bob@example.com", "@example.com", "group:ops"] {
            assert!(allow_entry("allow", good).is_ok(), "{good}");
        }
        for bad in ["bob", "group:", "@nodot"] {
            assert!(allow_entry("allow", bad).is_err(), "{bad}");
        }
    }
}
