//! Times as records keep them: whole seconds, RFC 3339 UTC.

use crate::platform::Platform;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

pub fn now(platform: &dyn Platform) -> OffsetDateTime {
    OffsetDateTime::from(platform.now())
        .replace_nanosecond(0)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

pub fn timestamp(platform: &dyn Platform) -> String {
    rfc3339(now(platform))
}

pub fn rfc3339(time: OffsetDateTime) -> String {
    time.format(&Rfc3339).unwrap_or_default()
}

/// Another service's RFC 3339 time (STS's `Expiration`) in our form.
pub fn normalise(text: &str) -> Option<String> {
    let time = OffsetDateTime::parse(text, &Rfc3339).ok()?;
    let utc = time.to_offset(time::UtcOffset::UTC);
    Some(rfc3339(utc.replace_nanosecond(0).unwrap_or(utc)))
}

/// Whether an RFC 3339 time is still ahead of `now` (unreadable: no).
pub fn is_after(text: &str, now: OffsetDateTime) -> bool {
    OffsetDateTime::parse(text, &Rfc3339).is_ok_and(|time| now < time)
}

/// Whether an RFC 3339 time is before `time` (unreadable: no, so it is kept).
pub fn is_before(text: &str, time: OffsetDateTime) -> bool {
    OffsetDateTime::parse(text, &Rfc3339).is_ok_and(|t| t < time)
}
