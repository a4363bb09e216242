//! Where a client's settings come from: given explicitly, or filled in from the environment.

use std::path::PathBuf;

/// Where settings that were not given explicitly come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Settings {
    /// Environment variables and the shared AWS files fill in what was not given.
    Environment,
    /// Only what was given.
    Explicit,
}

impl Settings {
    /// A non-empty variable, in [`Settings::Environment`] only.
    pub(crate) fn var(self, name: &str) -> Option<String> {
        match self {
            Settings::Environment => std::env::var(name).ok().filter(|v| !v.is_empty()),
            Settings::Explicit => None,
        }
    }
}

/// The home directory (for `~/.aws` and `~/.cache`).
pub(crate) fn home() -> Option<PathBuf> {
    std::env::var_os("HOME").map(PathBuf::from)
}
