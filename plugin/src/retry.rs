//! When and how long to wait before trying AWS again: botocore's standard
//! retry mode (throttling codes, 429/5xx, connection errors), exponential
//! backoff with full jitter, capped.

use std::time::Duration;

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
