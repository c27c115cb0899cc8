//! `RoleSessionName` from a user's email: what CloudTrail shows as the
//! assumed-role session, so it must stay recognisable, valid and unique.

use crate::validate::is_iam_name_char;
use sha2::{Digest, Sha256};

const MAX_LEN: usize = 64;
const HASH_LEN: usize = 10;

/// The email itself when AWS accepts it (2 to 64 characters of `[\w+=,.@-]`);
/// otherwise a sanitised prefix, `-` and a short hash of the whole email, so
/// two emails that sanitise or truncate alike never share a name.
pub fn role_session_name(email: &str) -> String {
    let sanitised: String = email
        .chars()
        .map(|c| if is_iam_name_char(c) { c } else { '-' })
        .collect();
    if sanitised == email && (2..=MAX_LEN).contains(&email.len()) {
        return sanitised;
    }
    let digest = Sha256::digest(email.as_bytes());
    let hash: String = digest
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>()[..HASH_LEN]
        .to_string();
    let prefix: String = sanitised.chars().take(MAX_LEN - HASH_LEN - 1).collect();
    format!("{prefix}-{hash}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_valid(name: &str) -> bool {
        (2..=64).contains(&name.len()) && name.chars().all(is_iam_name_char)
    }

    #[test]
    fn plain_emails_are_kept() {
        assert_eq!(role_session_name("alice@example.com"), "alice@example.com");
        assert_eq!(
            role_session_name("a.b+c=d,e@ex-ample.com"),
            "a.b+c=d,e@ex-ample.com"
        );
    }

    #[test]
    fn long_emails_keep_a_prefix_and_a_hash() {
        let long = format!("{}@example.com", "very.long.name".repeat(6));
        let name = role_session_name(&long);
        assert!(is_valid(&name), "{name}");
        assert_eq!(name.len(), 64);
        assert!(name.starts_with("very.long.namevery.long.name"));
        let other = format!("{}@example.org", "very.long.name".repeat(6));
        assert_ne!(
            role_session_name(&other),
            name,
            "same prefix, different users"
        );
    }

    #[test]
    fn invalid_characters_are_replaced_and_disambiguated() {
        let odd = role_session_name("jörg o'neil@example.com");
        assert!(is_valid(&odd), "{odd}");
        assert!(odd.starts_with("j-rg-o-neil@example.com-"));
        // A real address that looks like the sanitised one gets its own name.
        assert_ne!(role_session_name("j-rg-o-neil@example.com"), odd);
    }

    #[test]
    fn short_names_are_padded_with_the_hash() {
        let name = role_session_name("a");
        assert!(is_valid(&name), "{name}");
    }
}
