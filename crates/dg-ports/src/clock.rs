//! The clock port: the only way the domain learns the time.

use std::fmt::Debug;
use std::time::SystemTime;

/// A source of wall-clock time.
pub trait Clock: Send + Sync + Debug + 'static {
    /// The current time.
    fn now(&self) -> SystemTime;
}

/// A clock that always says the same time, for tests and reproducible runs.
#[derive(Clone, Copy, Debug)]
pub struct FixedClock(pub SystemTime);

impl Clock for FixedClock {
    fn now(&self) -> SystemTime {
        self.0
    }
}
