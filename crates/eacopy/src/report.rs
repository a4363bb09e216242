//! What a multi-file operation did ([`CopyReport`]) and the shared progress counter behind it.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::config::ProgressFn;
use crate::Error;

/// The outcome of `copytree` and `batch_copy`.
#[derive(Debug, Default)]
pub struct CopyReport {
    /// Regular files copied.
    pub files: u64,
    /// Bytes of those files.
    pub bytes: u64,
    /// Directories created (or reused with `dirs_exist_ok`).
    pub dirs: u64,
    /// Symbolic links recreated as links.
    pub symlinks: u64,
    /// Files left out by the include/exclude filters.
    pub filtered: u64,
    /// Files that failed under [`ErrorStrategy::Ignore`](crate::ErrorStrategy::Ignore).
    pub failures: Vec<(PathBuf, Error)>,
    /// What was left out under [`ErrorStrategy::Ignore`](crate::ErrorStrategy::Ignore)
    /// because it cannot be copied: FIFOs, sockets and device files
    /// ([`Error::SpecialFile`]) and, when following symlinks, symlink loops
    /// ([`Error::SymlinkLoop`]); each with the reason. (Under `Raise` and `Retry` they fail the
    /// operation instead.)
    pub skipped: Vec<(PathBuf, Error)>,
}

/// Counts bytes across worker threads and calls the user's progress callback.
pub(crate) struct Tracker {
    total: AtomicU64,
    done: AtomicU64,
    callback: Option<ProgressFn>,
}

impl std::fmt::Debug for Tracker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracker")
            .field("total", &self.total)
            .field("done", &self.done)
            .finish()
    }
}

impl Tracker {
    pub(crate) fn new(callback: Option<ProgressFn>, total: u64) -> Self {
        Tracker {
            total: AtomicU64::new(total),
            done: AtomicU64::new(0),
            callback,
        }
    }

    /// Grows the total (when work is discovered as it goes).
    pub(crate) fn add_total(&self, n: u64) {
        self.total.fetch_add(n, Ordering::Relaxed);
    }

    /// Takes back `n` bytes reported for a try that failed (a retry reports them again), so
    /// `copied_bytes` ends at `total_bytes` however many tries a file took. Not reported.
    pub(crate) fn retract(&self, n: u64) {
        let _ = self
            .done
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |d| {
                Some(d.saturating_sub(n))
            });
    }

    /// Records `n` more bytes done on `path` and reports.
    pub(crate) fn advance(&self, n: u64, path: &Path) {
        let done = self.done.fetch_add(n, Ordering::Relaxed) + n;
        if let Some(cb) = &self.callback {
            cb(done, self.total.load(Ordering::Relaxed).max(done), path);
        }
    }
}
