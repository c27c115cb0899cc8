//! Who may use an account: its `allow` entries (an email, an `@domain` or
//! `group:NAME`), or an administrator. Enforced on the REST API.

use crate::identity::Identity;
use crate::model::Account;

pub fn may_use(caller: &Identity, account: &Account) -> bool {
    caller.admin || account.allow.iter().any(|entry| matches(entry, caller))
}

fn matches(entry: &str, caller: &Identity) -> bool {
    if let Some(group) = entry.strip_prefix("group:") {
        return caller.groups.iter().any(|g| g == group);
    }
    if let Some(domain) = entry.strip_prefix('@') {
        // The exact domain: `@example.com` does not admit `evil-example.com`
        // or `sub.example.com`.
        return caller
            .email
            .rsplit_once('@')
            .is_some_and(|(_, d)| d.eq_ignore_ascii_case(domain));
    }
    entry.eq_ignore_ascii_case(&caller.email)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(allow: &[&str]) -> Account {
        Account {
            id: "a1".into(),
            resource: "prod".into(),
            name: "admin".into(),
            description: None,
            role_arn: crate::testing::TARGET_ROLE.into(),
            session_duration: "30m".into(),
            session_duration_seconds: 1800,
            region: None,
            service: None,
            allow: allow.iter().map(|s| s.to_string()).collect(),
            created_at: "2027-01-15T08:00:00Z".into(),
        }
    }

    fn caller(email: &str, groups: &[&str], admin: bool) -> Identity {
        Identity {
            email: email.into(),
            groups: groups.iter().map(|s| s.to_string()).collect(),
            admin,
        }
    }

    #[test]
    fn entries_admit_emails_domains_and_groups() {
        let policy = account(&["carol@example.org", "@example.com", "group:ops"]);
        assert!(may_use(&caller("Carol@Example.org", &[], false), &policy));
        assert!(may_use(&caller("alice@example.com", &[], false), &policy));
        assert!(may_use(&caller("dave@other.net", &["ops"], false), &policy));
        for outsider in [
            "mallory@evil-example.com",
            "eve@sub.example.com",
            "bob@other.net",
        ] {
            assert!(
                !may_use(&caller(outsider, &["dev"], false), &policy),
                "{outsider}"
            );
        }
    }

    #[test]
    fn an_empty_policy_admits_only_administrators() {
        let policy = account(&[]);
        assert!(!may_use(
            &caller("alice@example.com", &["ops"], false),
            &policy
        ));
        assert!(may_use(&caller("root@example.com", &[], true), &policy));
    }
}
