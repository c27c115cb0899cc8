//! When and how long to wait before trying AWS again: botocore's standard
//! retry mode (throttling codes, 429/5xx, connection errors), exponential
//! backoff with full jitter, capped, within the operation's deadline.

use crate::error::{Result, timeout, upstream};
use crate::model::{Error, Hop};
use crate::platform::{Platform, SendError};
use std::time::{Duration, SystemTime};

/// STS error codes that mean "try again" (AWS.md, botocore's standard mode).
const RETRYABLE_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "RequestThrottledException",
    "IDPCommunicationError",
];

const RETRYABLE_STATUSES: &[u16] = &[429, 500, 502, 503, 504];

#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    pub base: Duration,
    pub cap: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            max_attempts: 3,
            base: Duration::from_millis(100),
            cap: Duration::from_secs(5),
        }
    }
}

impl Policy {
    /// Full jitter: a uniform wait in `[0, min(cap, base * 2^retry)]`.
    /// `retry` counts from 0 for the wait after the first attempt.
    pub fn delay(&self, retry: u32, random: u64) -> Duration {
        let ceiling = self
            .base
            .saturating_mul(2u32.saturating_pow(retry))
            .min(self.cap);
        let ceiling_ms = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(random % ceiling_ms.saturating_add(1))
    }
}

/// Whether an answer (HTTP status and AWS error code, if any) is worth retrying.
pub fn is_retryable(status: u16, code: Option<&str>) -> bool {
    RETRYABLE_STATUSES.contains(&status) || code.is_some_and(|c| RETRYABLE_CODES.contains(&c))
}

/// When an operation (both hops, the token, every retry) must be done by:
/// it starts with the operation and is handed to every call it makes.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    at: SystemTime,
    limit: Duration,
}

impl Deadline {
    pub fn after(start: SystemTime, limit: Duration) -> Self {
        Deadline {
            at: start + limit,
            limit,
        }
    }
}

/// Sends what `build` makes (signed afresh for every attempt) and reads
/// the answer with `read`, retrying throttling, 429/5xx and connection
/// failures with backoff, as `policy` says, until `deadline`.
pub fn send<T>(
    platform: &dyn Platform,
    policy: &Policy,
    deadline: Deadline,
    hop: Hop,
    build: impl Fn(SystemTime) -> Result<http::Request<Vec<u8>>>,
    mut read: impl FnMut(u16, &[u8]) -> Result<T>,
) -> Result<T> {
    let mut answer = None;
    let mut keep = |status: u16, body: &[u8]| {
        answer = Some(read(status, body)?);
        Ok(())
    };
    send_and_read(platform, policy, deadline, hop, &build, &mut keep)?;
    answer.ok_or_else(|| upstream(format!("{hop}: no answer was read")))
}

/// [`send`]'s loop, written once rather than once per answer type (each
/// copy cost the component ~2 KB).
fn send_and_read(
    platform: &dyn Platform,
    policy: &Policy,
    deadline: Deadline,
    hop: Hop,
    build: &dyn Fn(SystemTime) -> Result<http::Request<Vec<u8>>>,
    read: &mut dyn FnMut(u16, &[u8]) -> Result<()>,
) -> Result<()> {
    let limit = deadline.limit.as_secs();
    let mut attempt = 1;
    loop {
        let now = platform.now();
        if now >= deadline.at {
            return Err(timeout(format!(
                "{hop}: not sent, the operation already took longer than access-timeout ({limit}s)"
            )));
        }
        let request = build(now)?;
        let (result, retryable) = match platform.send(request) {
            Err(SendError::TimedOut(why)) => (Err(timeout(format!("{hop}: {why}"))), true),
            Err(SendError::Failed(why)) => (Err(upstream(format!("{hop}: {why}"))), true),
            Err(SendError::Refused(why)) => (Err(upstream(format!("{hop}: {why}"))), false),
            Ok(response) => {
                let status = response.status().as_u16();
                let result = read(status, response.body());
                let retryable = match &result {
                    Ok(_) => false,
                    Err(Error::Aws(e)) => is_retryable(status, Some(&e.code)),
                    Err(_) => is_retryable(status, None),
                };
                (result, retryable)
            }
        };
        if !retryable || attempt >= policy.max_attempts {
            return match result {
                Err(Error::Upstream(why)) if attempt > 1 => Err(upstream(format!(
                    "{why} (gave up after {attempt} attempts)"
                ))),
                Err(Error::Timeout(why)) if attempt > 1 => {
                    Err(timeout(format!("{why} (gave up after {attempt} attempts)")))
                }
                other => other,
            };
        }
        let delay = policy.delay(attempt - 1, getrandom::u64().unwrap_or_default());
        if platform.now() + delay >= deadline.at {
            return match result {
                Err(Error::Upstream(why) | Error::Timeout(why)) => Err(timeout(format!(
                    "{why} (stopped retrying: access-timeout of {limit}s reached)"
                ))),
                other => other,
            };
        }
        platform.sleep(delay);
        attempt += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_and_server_errors_are_retried_client_errors_are_not() {
        assert!(is_retryable(400, Some("Throttling")));
        assert!(is_retryable(400, Some("IDPCommunicationError")));
        for status in [429, 500, 502, 503, 504] {
            assert!(is_retryable(status, None), "{status}");
        }
        assert!(!is_retryable(403, Some("AccessDenied")));
        assert!(!is_retryable(400, Some("ValidationError")));
        assert!(!is_retryable(501, None));
    }

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        let policy = Policy {
            max_attempts: 5,
            base: Duration::from_millis(100),
            cap: Duration::from_millis(300),
        };
        assert_eq!(
            policy.delay(0, u64::MAX),
            Duration::from_millis(u64::MAX % 101)
        );
        for retry in 0..10 {
            for random in [0, 7, 99, 12_345, u64::MAX] {
                let ceiling = (100u64 << retry.min(20)).min(300);
                assert!(policy.delay(retry, random) <= Duration::from_millis(ceiling));
            }
        }
        assert_eq!(
            policy.delay(3, 0),
            Duration::ZERO,
            "full jitter reaches zero"
        );
        assert_eq!(
            policy.delay(9, 300),
            Duration::from_millis(300),
            "and the cap"
        );
    }
}
