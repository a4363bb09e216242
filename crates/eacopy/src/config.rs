//! How a copy behaves: the [`Config`] builder, the error strategy and the progress callback.

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use dg_retry::{Jitter, RetryPolicy};

use crate::filter::Filters;
use crate::{Error, Result};

/// Called as `(copied_bytes, total_bytes, filename)` while an operation runs.
///
/// For a tree or batch, the byte counts cover the whole operation and `filename` is the file
/// that just progressed. Called from worker threads, so it must be `Send + Sync`.
pub type ProgressFn = Arc<dyn Fn(u64, u64, &Path) + Send + Sync>;

/// The longest pause between two tries, unless `retry_delay` is longer (dg's cap).
const MAX_RETRY_DELAY: Duration = Duration::from_secs(20);

/// What a multi-file operation does when one file fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ErrorStrategy {
    /// Stop at the first failure and return it.
    #[default]
    Raise,
    /// Try the failing file again `retry_count` times, then raise. The pauses follow dg's retry
    /// policy: at least `retry_delay`, the one before try `n` up to `retry_delay × 2^(n-1)`
    /// (jittered, at most 20 s unless `retry_delay` is longer).
    Retry,
    /// Record the failure in the report and go on with the other files.
    Ignore,
}

/// Settings shared by every operation. Build it with chained setters:
///
/// ```
/// use eacopy::{Config, ErrorStrategy};
/// let config = Config::new()
///     .thread_count(4)
///     .error_strategy(ErrorStrategy::Retry)
///     .retry_count(3)
///     .exclude("*.tmp")
///     .exclude_dir(".git");
/// assert_eq!(config.threads(), 4);
/// ```
#[derive(Clone)]
pub struct Config {
    pub(crate) thread_count: usize,
    pub(crate) compression_level: i32,
    pub(crate) buffer_size: usize,
    pub(crate) error_strategy: ErrorStrategy,
    pub(crate) retry_count: u32,
    pub(crate) retry_delay: Duration,
    pub(crate) preserve_metadata: bool,
    pub(crate) follow_symlinks: bool,
    pub(crate) dirs_exist_ok: bool,
    pub(crate) filters: Filters,
    pub(crate) progress: Option<ProgressFn>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            // Copies wait on the file system more than on the CPU: two workers per core.
            thread_count: std::thread::available_parallelism()
                .map_or(4, |n| n.get() * 2)
                .clamp(4, 16),
            compression_level: 3,
            buffer_size: 1 << 20,
            error_strategy: ErrorStrategy::Raise,
            retry_count: 3,
            retry_delay: Duration::from_millis(500),
            preserve_metadata: true,
            follow_symlinks: false,
            dirs_exist_ok: false,
            filters: Filters::default(),
            progress: None,
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("thread_count", &self.thread_count)
            .field("compression_level", &self.compression_level)
            .field("buffer_size", &self.buffer_size)
            .field("error_strategy", &self.error_strategy)
            .field("retry_count", &self.retry_count)
            .field("retry_delay", &self.retry_delay)
            .field("preserve_metadata", &self.preserve_metadata)
            .field("follow_symlinks", &self.follow_symlinks)
            .field("dirs_exist_ok", &self.dirs_exist_ok)
            .field("filters", &self.filters)
            .field("progress", &self.progress.as_ref().map(|_| "callback"))
            .finish()
    }
}

impl Config {
    /// The defaults: two workers per core (4–16), zstd level 3, 1 MiB buffers, raise on error,
    /// metadata preserved, symlinks copied as links, existing directories refused.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parallel workers for trees, batches and server connections (at least 1).
    pub fn thread_count(mut self, n: usize) -> Self {
        self.thread_count = n.max(1);
        self
    }

    /// zstd level for data sent to a server: 1–22, or 0 to send uncompressed.
    pub fn compression_level(mut self, level: i32) -> Self {
        self.compression_level = level.clamp(0, 22);
        self
    }

    /// Buffer size for the read/write fallback of local copies and the block size of
    /// [`delta_copy`](crate::delta_copy) (64 KiB – 64 MiB). Network streams use 1 MiB frames.
    pub fn buffer_size(mut self, bytes: usize) -> Self {
        self.buffer_size = bytes.clamp(64 << 10, 64 << 20);
        self
    }

    /// What to do when a file fails.
    pub fn error_strategy(mut self, strategy: ErrorStrategy) -> Self {
        self.error_strategy = strategy;
        self
    }

    /// How many times [`ErrorStrategy::Retry`] tries a file again.
    pub fn retry_count(mut self, n: u32) -> Self {
        self.retry_count = n;
        self
    }

    /// The base of the pause between two tries: the shortest pause, and the ceiling of the
    /// first; each further pause may be up to twice as long as the one before (jittered).
    pub fn retry_delay(mut self, delay: Duration) -> Self {
        self.retry_delay = delay;
        self
    }

    /// Copy mode and times (`copy2`, `copytree`); `copy` always copies the mode.
    pub fn preserve_metadata(mut self, yes: bool) -> Self {
        self.preserve_metadata = yes;
        self
    }

    /// Copy what symlinks point to instead of the links themselves.
    pub fn follow_symlinks(mut self, yes: bool) -> Self {
        self.follow_symlinks = yes;
        self
    }

    /// Let `copytree` write into an existing destination directory.
    pub fn dirs_exist_ok(mut self, yes: bool) -> Self {
        self.dirs_exist_ok = yes;
        self
    }

    /// Only copy files whose name (or relative path, if the pattern has a `/`) matches one of
    /// the include globs (`*`, `?`). No include glob means every file.
    pub fn include(mut self, glob: &str) -> Self {
        self.filters.include.push(glob.to_string());
        self
    }

    /// Skip files matching this glob.
    pub fn exclude(mut self, glob: &str) -> Self {
        self.filters.exclude.push(glob.to_string());
        self
    }

    /// Skip directories (and everything under them) matching this glob.
    pub fn exclude_dir(mut self, glob: &str) -> Self {
        self.filters.exclude_dirs.push(glob.to_string());
        self
    }

    /// Report progress to `callback(copied_bytes, total_bytes, filename)`.
    pub fn progress(mut self, callback: impl Fn(u64, u64, &Path) + Send + Sync + 'static) -> Self {
        self.progress = Some(Arc::new(callback));
        self
    }

    /// The number of workers.
    pub fn threads(&self) -> usize {
        self.thread_count
    }

    /// The zstd level (0 = no compression).
    pub fn level(&self) -> i32 {
        self.compression_level
    }

    /// Checks the combination of settings.
    pub fn validate(&self) -> Result<()> {
        if self.error_strategy == ErrorStrategy::Retry && self.retry_count == 0 {
            return Err(Error::InvalidConfig {
                what: "error_strategy Retry with retry_count 0 never retries; set retry_count ≥ 1"
                    .to_string(),
            });
        }
        Ok(())
    }

    /// dg's retry policy with eacopy's settings: `retry_count` tries after the first under
    /// [`ErrorStrategy::Retry`] (else one try), pauses from `retry_delay` doubling up to 20 s
    /// (or `retry_delay` when longer), no time bound.
    pub(crate) fn retry_policy(&self) -> RetryPolicy {
        let tries = match self.error_strategy {
            ErrorStrategy::Retry => self.retry_count.saturating_add(1),
            _ => 1,
        };
        RetryPolicy {
            max_attempts: tries,
            min_delay: self.retry_delay,
            base_delay: self.retry_delay,
            max_delay: self.retry_delay.max(MAX_RETRY_DELAY),
            max_elapsed: Duration::MAX,
        }
    }

    /// The pause before the next try after `failed` failed tries; `None` when the strategy
    /// does not retry or the tries are used up.
    pub(crate) fn retry_pause(&self, failed: u32) -> Option<Duration> {
        let policy = self.retry_policy();
        if failed >= policy.max_attempts {
            return None;
        }
        policy.next_delay(failed, Duration::ZERO, Jitter::from_entropy().unit())
    }

    /// Runs `op`, trying again as the strategy says. Every error is retried: files that appear
    /// late and transient I/O errors are the point of retrying, except errors that never heal.
    pub(crate) fn with_retry<T>(&self, mut op: impl FnMut() -> Result<T>) -> Result<T> {
        let mut attempt = 1;
        loop {
            let e = match op() {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            let pause = e
                .is_retryable()
                .then(|| self.retry_pause(attempt))
                .flatten();
            let Some(pause) = pause else { return Err(e) };
            tracing::debug!(attempt, error = %e, pause_ms = pause.as_millis() as u64, "retrying");
            std::thread::sleep(pause);
            attempt += 1;
        }
    }
}
