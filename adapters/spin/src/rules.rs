//! How our imports' conventions map onto Spin's: plain functions, tested
//! natively; `lib.rs` only wires them to the WIT.

/// The key-value store a bucket name opens: our component opens the bucket
/// `kv-bucket` names, `""` when unset (what `wasmtime serve` offers); Spin
/// calls its unnamed store `default`.
pub fn store_label(bucket: &str) -> &str {
    if bucket.is_empty() { "default" } else { bucket }
}

/// Spin's variable for one of our config keys: Spin allows `[a-z0-9_]` only
/// (and answers "not set" to any other name), our keys use `-`.
pub fn variable_name(key: &str) -> String {
    key.replace(['-', '.'], "_").to_ascii_lowercase()
}

/// Our config key for one of Spin's variables (the inverse of
/// [`variable_name`] for every key we read).
pub fn config_key(variable: &str) -> String {
    variable.replace('_', "-")
}

/// The number a counter holds. Our component and its other hosts keep
/// counters as decimal text (Redis `INCRBY`, the SQLite store), and reads
/// some of them with a plain `get`; Spin's own `increment` writes 8
/// little-endian bytes, so the adapter counts with compare-and-swap instead.
pub fn counter_value(stored: Option<&[u8]>) -> Result<u64, String> {
    let Some(bytes) = stored else { return Ok(0) };
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|text| text.parse::<u64>().ok())
        .ok_or_else(|| "the counter's value is not a decimal number".to_string())
}

/// The counter's next value, refused rather than wrapped past `u64::MAX`.
pub fn next_counter(current: u64, delta: u64) -> Result<u64, String> {
    current
        .checked_add(delta)
        .ok_or_else(|| "the counter would pass 2^64 - 1".to_string())
}

/// Spin's `get-many` answers only the keys it found, in any order; ours
/// answers one entry per key asked, in order, `none` for a missing key.
pub fn in_request_order(
    keys: &[String],
    found: Vec<(String, Option<Vec<u8>>)>,
) -> Vec<Option<(String, Vec<u8>)>> {
    let mut found: std::collections::HashMap<String, Vec<u8>> = found
        .into_iter()
        .filter_map(|(key, value)| Some((key, value?)))
        .collect();
    keys.iter()
        .map(|key| found.remove(key).map(|value| (key.clone(), value)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_unnamed_bucket_is_spins_default_store() {
        assert_eq!(store_label(""), "default");
        assert_eq!(store_label("pam"), "pam");
    }

    #[test]
    fn config_keys_become_spin_variable_names_and_back() {
        for key in ["aws-access-key-id", "sts-endpoint", "kv-bucket", "catalog"] {
            let variable = variable_name(key);
            assert!(
                variable
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                "{variable}"
            );
            assert_eq!(config_key(&variable), key);
        }
        assert_eq!(variable_name("trusted-header-user"), "trusted_header_user");
    }

    #[test]
    fn counters_are_decimal_text_and_refuse_anything_else() {
        assert_eq!(counter_value(None), Ok(0));
        assert_eq!(counter_value(Some(b"41")), Ok(41));
        assert!(counter_value(Some(&7i64.to_le_bytes())).is_err());
        assert_eq!(next_counter(41, 1), Ok(42));
        assert!(next_counter(u64::MAX, 1).is_err());
    }

    #[test]
    fn get_many_answers_every_key_in_the_order_asked() {
        let keys = ["a", "b", "c"].map(String::from);
        let found = vec![
            ("c".to_string(), Some(b"3".to_vec())),
            ("a".to_string(), Some(b"1".to_vec())),
        ];
        assert_eq!(
            in_request_order(&keys, found),
            vec![
                Some(("a".to_string(), b"1".to_vec())),
                None,
                Some(("c".to_string(), b"3".to_vec())),
            ]
        );
    }
}
