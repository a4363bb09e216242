//! The backoff schedule of the retrying decorators: dg's [`RetryPolicy`] with its jitter
//! source and a shared retry counter, sleeping on tokio between attempts.

use std::fmt::Display;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dg_ports::{Error, Result};
use dg_retry::RetryPolicy;
use tracing::debug;

use crate::rng::Rng;

/// A shared count of retries; clones count together.
#[derive(Clone, Debug, Default)]
pub struct RetryCounter(Arc<AtomicU64>);

impl RetryCounter {
    /// A counter at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Retries so far.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    /// Counts one retry.
    pub fn add_one(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// The retry state of one call (or of one stall of a body being read).
#[derive(Debug)]
pub(crate) struct Attempts {
    attempt: u32,
    since: Instant,
}

impl Attempts {
    pub(crate) fn start() -> Self {
        Attempts {
            attempt: 1,
            since: Instant::now(),
        }
    }

    /// Attempts made so far.
    pub(crate) fn made(&self) -> u32 {
        self.attempt
    }
}

/// The backoff schedule with its jitter source and counter, shared by the decorator and the
/// S3 adapter's multipart parts.
#[derive(Clone, Debug)]
pub struct Backoff {
    policy: RetryPolicy,
    counter: RetryCounter,
    jitter: Arc<Mutex<Rng>>,
}

impl Backoff {
    /// A schedule under `policy` counting into `counter`.
    pub fn new(policy: RetryPolicy, counter: RetryCounter) -> Self {
        Backoff {
            policy,
            counter,
            jitter: Arc::new(Mutex::new(Rng::from_entropy())),
        }
    }

    /// The policy.
    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }

    /// The counter.
    pub fn counter(&self) -> &RetryCounter {
        &self.counter
    }

    /// The delay before the next attempt when a failure after `attempt` attempts, `elapsed`
    /// into the call, may be retried; `None` when the attempts or the time are used up.
    pub fn next_delay(&self, attempt: u32, elapsed: Duration) -> Option<Duration> {
        if attempt >= self.policy.max_attempts {
            return None;
        }
        let unit = self.jitter.lock().map(|mut r| r.unit()).unwrap_or(0.5);
        self.policy.next_delay(attempt, elapsed, unit)
    }

    /// Runs `call` until it succeeds, fails with an error that is not transient, or the policy
    /// says stop; the error then says how many attempts were made.
    pub async fn repeat<T, F, Fut>(
        &self,
        op: &'static str,
        what: &(dyn Display + Sync),
        mut call: F,
    ) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let mut state = Attempts::start();
        loop {
            match call().await {
                Ok(v) => return Ok(v),
                Err(e) => {
                    if !self.pause(&mut state, &e, op, what).await {
                        return Err(gave_up(e, state.made()));
                    }
                }
            }
        }
    }

    /// Counts, logs and sleeps before retrying after `error`; false (and nothing done) when the
    /// error is not transient or the attempts or time are used up.
    pub(crate) async fn pause(
        &self,
        state: &mut Attempts,
        error: &Error,
        op: &str,
        what: &(dyn Display + Sync),
    ) -> bool {
        if !error.is_retryable() {
            return false;
        }
        let Some(delay) = self.next_delay(state.attempt, state.since.elapsed()) else {
            return false;
        };
        self.wait(delay, state.attempt, op, what, &error_chain(error))
            .await;
        state.attempt += 1;
        true
    }

    /// Counts, logs and sleeps `delay` before attempt `failed + 1`.
    pub async fn wait(
        &self,
        delay: Duration,
        failed: u32,
        op: &str,
        what: &(dyn Display + Sync),
        why: &str,
    ) {
        self.counter.add_one();
        debug!(
            op,
            object = %what,
            attempt = failed + 1,
            max_attempts = self.policy.max_attempts,
            delay_ms = delay.as_millis() as u64,
            error = why,
            "retrying"
        );
        tokio::time::sleep(delay).await;
    }
}

/// An error with its sources, for logs.
fn error_chain(error: &Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text
}

/// `error`, saying how many attempts were made when there were several.
pub(crate) fn gave_up(error: Error, attempts: u32) -> Error {
    if attempts <= 1 {
        return error;
    }
    let note = format!(" (after {attempts} attempts)");
    match error {
        Error::Backend {
            backend,
            context,
            retryable,
            source,
        } => Error::Backend {
            backend,
            context: context + &note,
            retryable,
            source,
        },
        Error::Io { context, source } => Error::Io {
            context: context + &note,
            source,
        },
        other => other,
    }
}
