//! The retry policy shared by dg's storage decorator and eacopy: how many attempts, how long to
//! wait before each retry (exponential backoff with full jitter), and when to stop. Pure: no
//! sleeping, no I/O; callers sleep the delays it gives, the way their runtime does.
//!
//! ```
//! use std::time::Duration;
//! use dg_retry::{Jitter, RetryPolicy};
//!
//! let policy = RetryPolicy::attempts(3);
//! let mut jitter = Jitter::seeded(7);
//! // after the first failed attempt, a delay of at most 100 ms
//! let first = policy.next_delay(1, Duration::ZERO, jitter.unit()).unwrap();
//! assert!(first <= Duration::from_millis(100));
//! // the third attempt was the last
//! assert_eq!(policy.next_delay(3, Duration::ZERO, jitter.unit()), None);
//! ```

mod jitter;

use std::time::Duration;

pub use jitter::Jitter;

/// How often and how patiently calls are repeated.
#[derive(Clone, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Attempts per call, the first one included (1: no retries).
    pub max_attempts: u32,
    /// The floor of every delay (dg: zero, "full jitter"; eacopy: its `retry_delay`, so that
    /// tries are at least that far apart).
    pub min_delay: Duration,
    /// The cap of the delay before the first retry; it doubles with each further retry.
    pub base_delay: Duration,
    /// The largest delay between two attempts.
    pub max_delay: Duration,
    /// No retry starts once this much time has passed since the call's first attempt (for a
    /// body being read: since it last made progress). An attempt under way is never cut off.
    pub max_elapsed: Duration,
}

impl RetryPolicy {
    /// Attempts per S3 request by default, as the AWS CLI's legacy retry mode.
    pub const S3_ATTEMPTS: u32 = 5;
    /// Attempts per call on a local directory store by default (its transient errors are rare:
    /// interrupted or timed-out file operations, network file systems).
    pub const LOCAL_ATTEMPTS: u32 = 3;

    /// `max_attempts` attempts, delays from 100 ms doubling up to 20 s, 5 minutes at most.
    pub fn attempts(max_attempts: u32) -> Self {
        RetryPolicy {
            max_attempts: max_attempts.max(1),
            min_delay: Duration::ZERO,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(20),
            max_elapsed: Duration::from_secs(300),
        }
    }

    /// One attempt: nothing is repeated.
    pub fn none() -> Self {
        RetryPolicy::attempts(1)
    }

    /// The delay before retry number `retry` (1 for the first), given `unit` in `[0, 1)`:
    /// "full jitter", a uniform share of `min(max_delay, base_delay * 2^(retry-1))`, so that
    /// clients throttled together do not come back together; with a `min_delay`, that much
    /// plus a uniform share of what the ceiling leaves above it.
    pub fn delay(&self, retry: u32, unit: f64) -> Duration {
        let doublings = retry.saturating_sub(1).min(30);
        let ceiling = self
            .base_delay
            .saturating_mul(1u32 << doublings)
            .min(self.max_delay);
        // NaN would make `mul_f64` panic: it counts as no wait beyond the floor
        let unit = if unit.is_nan() {
            0.0
        } else {
            unit.clamp(0.0, 1.0)
        };
        if self.min_delay.is_zero() {
            return ceiling.mul_f64(unit);
        }
        let above = ceiling.saturating_sub(self.min_delay);
        self.min_delay.saturating_add(above.mul_f64(unit))
    }

    /// The delay before the next attempt when a failure after `attempt` attempts, `elapsed`
    /// into the call, may be retried (`unit` in `[0, 1)` draws the jitter); `None` when the
    /// attempts or the time are used up.
    pub fn next_delay(&self, attempt: u32, elapsed: Duration, unit: f64) -> Option<Duration> {
        if attempt >= self.max_attempts {
            return None;
        }
        let delay = self.delay(attempt, unit);
        (elapsed.saturating_add(delay) <= self.max_elapsed).then_some(delay)
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy::attempts(RetryPolicy::S3_ATTEMPTS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap_and_scale_with_the_jitter() {
        let p = RetryPolicy {
            max_attempts: 10,
            min_delay: Duration::ZERO,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(700),
            max_elapsed: Duration::from_secs(60),
        };
        assert_eq!(p.delay(1, 1.0), Duration::from_millis(100));
        assert_eq!(p.delay(2, 1.0), Duration::from_millis(200));
        assert_eq!(p.delay(3, 1.0), Duration::from_millis(400));
        assert_eq!(p.delay(4, 1.0), Duration::from_millis(700));
        assert_eq!(p.delay(40, 1.0), Duration::from_millis(700));
        assert_eq!(p.delay(3, 0.5), Duration::from_millis(200));
        assert_eq!(p.delay(3, 0.0), Duration::ZERO);
        assert_eq!(
            p.delay(3, 7.0),
            Duration::from_millis(400),
            "unit is clamped"
        );
        assert_eq!(p.delay(3, f64::NAN), Duration::ZERO, "NaN waits no longer");
        let floored = RetryPolicy {
            min_delay: Duration::from_millis(100),
            ..p
        };
        assert_eq!(floored.delay(1, 0.0), Duration::from_millis(100));
        assert_eq!(floored.delay(1, 0.9), Duration::from_millis(100));
        assert_eq!(floored.delay(2, 0.0), Duration::from_millis(100));
        assert_eq!(floored.delay(2, 0.5), Duration::from_millis(150));
        assert_eq!(floored.delay(3, 1.0), Duration::from_millis(400));
    }

    #[test]
    fn attempts_and_time_bound_the_retries() {
        let p = RetryPolicy::attempts(3);
        assert!(p.next_delay(1, Duration::ZERO, 0.5).is_some());
        assert!(p.next_delay(2, Duration::ZERO, 0.5).is_some());
        assert_eq!(p.next_delay(3, Duration::ZERO, 0.5), None);
        assert_eq!(p.next_delay(1, Duration::from_secs(300), 0.5), None);
        assert_eq!(RetryPolicy::none().next_delay(1, Duration::ZERO, 0.5), None);
        assert_eq!(RetryPolicy::attempts(0).max_attempts, 1);
        assert_eq!(
            RetryPolicy::default().max_attempts,
            RetryPolicy::S3_ATTEMPTS
        );
    }
}
