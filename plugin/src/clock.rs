//! Times as records keep them: whole seconds, RFC 3339 UTC. The text is
//! written and read with humantime: `time`'s format-description parser and
//! formatter cost the component ~30 KB for these two fixed shapes.

use crate::platform::Platform;
use std::time::SystemTime;
use time::OffsetDateTime;

/// humantime formats years 1970 to 9999 only (and panics outside them).
pub const LAST_SECOND: i64 = 253_402_300_799; // 9999-12-31T23:59:59Z

pub fn now(platform: &dyn Platform) -> OffsetDateTime {
    OffsetDateTime::from(platform.now())
        .replace_nanosecond(0)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

pub fn timestamp(platform: &dyn Platform) -> String {
    rfc3339(now(platform))
}

/// `2026-11-29T06:30:00Z`: whole seconds, clamped to humantime's years.
pub fn rfc3339(time: OffsetDateTime) -> String {
    let seconds = time.unix_timestamp().clamp(0, LAST_SECOND);
    let time = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(seconds.unsigned_abs());
    humantime::format_rfc3339_seconds(time).to_string()
}

/// An RFC 3339 UTC time (`Z`, or the offset `+00:00`), fractions allowed.
pub fn parse(text: &str) -> Option<OffsetDateTime> {
    let text = match text.strip_suffix("+00:00") {
        Some(utc) => &format!("{utc}Z"),
        None => text,
    };
    humantime::parse_rfc3339(text)
        .ok()
        .map(OffsetDateTime::from)
}

/// Another service's RFC 3339 time (STS's `Expiration`) in our form.
pub fn normalise(text: &str) -> Option<String> {
    parse(text).map(rfc3339)
}

/// Sortable and name-safe: `20261129T063000Z`, 16 characters.
pub fn compact(time: OffsetDateTime) -> String {
    rfc3339(time).replace(['-', ':'], "")
}

/// A [`compact`] time back (anything else: none).
pub fn parse_compact(text: &str) -> Option<OffsetDateTime> {
    let part = |range: std::ops::Range<usize>| {
        text.get(range)
            .filter(|digits| digits.bytes().all(|b| b.is_ascii_digit()))
    };
    if text.len() != 16 || text.get(8..9) != Some("T") || !text.ends_with('Z') {
        return None;
    }
    parse(&format!(
        "{}-{}-{}T{}:{}:{}Z",
        part(0..4)?,
        part(4..6)?,
        part(6..8)?,
        part(9..11)?,
        part(11..13)?,
        part(13..15)?
    ))
}

/// Whether an RFC 3339 time is still ahead of `now` (unreadable: no).
pub fn is_after(text: &str, now: OffsetDateTime) -> bool {
    parse(text).is_some_and(|time| now < time)
}

/// Whether an RFC 3339 time is before `time` (unreadable: no, so it is kept).
pub fn is_before(text: &str, time: OffsetDateTime) -> bool {
    parse(text).is_some_and(|t| t < time)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn times_are_written_in_whole_utc_seconds_and_read_back() {
        let time = datetime!(2026-11-29 06:30:00 UTC);
        assert_eq!(rfc3339(time), "2026-11-29T06:30:00Z");
        assert_eq!(parse("2026-11-29T06:30:00Z"), Some(time));
        assert_eq!(compact(time), "20261129T063000Z");
        assert_eq!(parse_compact("20261129T063000Z"), Some(time));
        // Before 1970: clamped, never a panic (so are years past 9999).
        assert_eq!(
            rfc3339(datetime!(1969-12-31 23:59:59 UTC)),
            "1970-01-01T00:00:00Z"
        );
    }

    #[test]
    fn sts_expirations_are_normalised_and_garbage_is_refused() {
        assert_eq!(
            normalise("2026-11-29T06:30:00.123Z").as_deref(),
            Some("2026-11-29T06:30:00Z")
        );
        assert_eq!(
            normalise("2026-11-29T06:30:00+00:00").as_deref(),
            Some("2026-11-29T06:30:00Z")
        );
        for bad in [
            "",
            "tomorrow",
            "2026-11-29 06:30:00",
            "2026-13-01T00:00:00Z",
        ] {
            assert_eq!(normalise(bad), None, "{bad}");
        }
        for bad in [
            "20261129T063000",
            "2026112XT063000Z",
            "20261129T063000ZZ",
            "PamAwsRevoke",
        ] {
            assert_eq!(parse_compact(bad), None, "{bad}");
        }
    }
}
