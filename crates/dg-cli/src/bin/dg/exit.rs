//! Errors that choose the exit status: usage mistakes exit 2, everything else 1.

use std::fmt;

/// A command line that cannot work as written (exit status 2).
#[derive(Debug)]
pub struct Usage(pub String);

impl fmt::Display for Usage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

/// Returns a usage error from the enclosing function.
macro_rules! usage {
    ($($arg:tt)*) => {
        return Err(anyhow::Error::new($crate::exit::Usage(format!($($arg)*))))
    };
}
pub(crate) use usage;

/// Some files of a bulk command failed (each was named on stderr as it failed).
#[derive(Debug)]
pub struct SomeFailed {
    pub failed: u64,
    pub total: u64,
}

impl fmt::Display for SomeFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} of {} files failed", self.failed, self.total)
    }
}

impl std::error::Error for SomeFailed {}

/// The exit status for an error.
pub fn status(e: &anyhow::Error) -> u8 {
    if e.downcast_ref::<Usage>().is_some() {
        2
    } else {
        1
    }
}
