//! `RoleSessionName` from a user's email: what CloudTrail shows as the
//! assumed-role session, so it must stay recognisable, valid and unique.

use crate::validate::is_iam_name_char;
use sha2::{Digest, Sha256};

const MAX_LEN: usize = 64;
/// 64 bits of SHA-256: no two users meet by chance.
const HASH_LEN: usize = 16;
/// Separates a hashed name's prefix from its hash. Names kept as they are
/// never hold it, so the two kinds of name can never be equal.
const HASH_MARK: char = '=';

/// The (canonical, lowercase) email itself when AWS accepts it as it is (2
/// to 64 characters of `[\w+,.@-]`); otherwise a sanitised prefix, `=` and
/// a hash of the whole email. The mapping is injective: a plain name has no
/// `=`, a hashed one always has, and hashed names differ by their hash.
pub fn role_session_name(email: &str) -> String {
    let plain = |c: char| is_iam_name_char(c) && c != HASH_MARK;
    if email.chars().all(plain) && (2..=MAX_LEN).contains(&email.len()) {
        return email.to_string();
    }
    let digest = Sha256::digest(email.as_bytes());
    let hash = crate::query::lower_hex(digest.get(..HASH_LEN / 2).unwrap_or_default());
    let prefix: String = email
        .chars()
        .map(|c| if plain(c) { c } else { '-' })
        .take(MAX_LEN - HASH_LEN - 1)
        .collect();
    format!("{prefix}{HASH_MARK}{hash}")
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
            role_session_name("a.b+c,e@ex-ample.com"),
            "a.b+c,e@ex-ample.com"
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
        assert!(odd.starts_with("j-rg-o-neil@example.com="));
        // A real address that looks like the sanitised one gets its own name.
        assert_ne!(role_session_name("j-rg-o-neil@example.com"), odd);
    }

    #[test]
    fn no_plain_email_can_take_a_hashed_name() {
        // The attack: register the hashed name of someone else as an email.
        let hashed = role_session_name("jörg@example.com");
        assert_ne!(role_session_name(&hashed), hashed);
        // Emails holding the mark are hashed too, so they cannot pose either.
        let with_mark = role_session_name("a=b@example.com");
        assert!(with_mark.starts_with("a-b@example.com="), "{with_mark}");
        assert_ne!(role_session_name("a-b@example.com"), with_mark);
    }

    #[test]
    fn short_names_are_padded_with_the_hash() {
        let name = role_session_name("a");
        assert!(is_valid(&name), "{name}");
    }

    /// Hashed names never change between versions: revocation and
    /// CloudTrail find earlier sessions by them. (Python's hashlib:
    /// the first 8 bytes of SHA-256, lowercase hex.)
    #[test]
    fn hashed_names_are_stable() {
        assert_eq!(role_session_name("a"), "a=ca978112ca1bbdca");
        assert_eq!(
            role_session_name("jörg@example.com"),
            "j-rg@example.com=96949592d14b07f4"
        );
    }
}
