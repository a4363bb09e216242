//! Progress bars on standard error: shown only on a terminal, only without `-q`/`--json`, and
//! only once a transfer has taken more than a moment.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How long a transfer runs before its bar appears.
const SHOW_AFTER: Duration = Duration::from_millis(700);

/// A byte bar with a file count; cheap to clone (clones share the bar).
#[derive(Clone, Debug)]
pub struct Progress {
    bar: ProgressBar,
    files: u64,
}

impl Progress {
    /// A bar that never draws.
    pub fn hidden() -> Self {
        Progress {
            bar: ProgressBar::hidden(),
            files: 0,
        }
    }

    /// A bar for `files` files of `bytes` bytes in all (0: unknown), drawn on standard error
    /// if `visible` and it is a terminal. Call inside the tokio runtime.
    pub fn new(visible: bool, files: u64, bytes: u64) -> Self {
        if !visible {
            return Progress::hidden();
        }
        let bar = ProgressBar::with_draw_target(
            (bytes > 0).then_some(bytes),
            ProgressDrawTarget::hidden(),
        );
        let template = if bytes == 0 {
            "{spinner} {elapsed:>4} {bytes} {msg}"
        } else if files > 1 {
            "{spinner} {elapsed:>4} [{wide_bar}] {bytes}/{total_bytes} {bytes_per_sec} {msg}"
        } else {
            "{spinner} {elapsed:>4} [{wide_bar}] {bytes}/{total_bytes} {msg}"
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        let progress = Progress { bar, files };
        progress.files_done(0);
        let later = progress.bar.clone();
        tokio::spawn(async move {
            tokio::time::sleep(SHOW_AFTER).await;
            if !later.is_finished() {
                later.set_draw_target(ProgressDrawTarget::stderr());
                later.enable_steady_tick(Duration::from_millis(150));
            }
        });
        progress
    }

    /// Moves the bar by `n` bytes.
    pub fn add_bytes(&self, n: u64) {
        self.bar.inc(n);
    }

    /// Shows how many files are done.
    pub fn files_done(&self, done: u64) {
        if self.files > 1 {
            self.bar.set_message(format!("{done}/{} files", self.files));
        }
    }

    /// Shows what is being worked on (single transfers).
    pub fn set_message(&self, message: String) {
        self.bar
            .set_message(crate::output::escaped(&message).into_owned());
    }

    /// Runs `f` (which prints) with the bar out of the way.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        self.bar.suspend(f)
    }

    /// Removes the bar.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
