//! The one error type every port speaks, with variants that say what went wrong.

use std::fmt;

/// A boxed error from a backend library, kept as the source of a [`Error`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Result alias used by every port.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong behind a port.
///
/// Variants carry the object or file they are about and keep the underlying error as their
/// `source`, so the command line can print the whole chain. Adapters map their private errors
/// into these variants; callers match on them (`NotFound` to fall back, `AlreadyExists` to detect
/// a lost race, [`Error::is_retryable`] to retry).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The object, bucket or file does not exist.
    #[error("{what} not found")]
    NotFound {
        /// What was looked for, e.g. `s3://bucket/key`.
        what: String,
    },

    /// A create-only write found the object already there.
    #[error("{what} already exists")]
    AlreadyExists {
        /// The object that exists.
        what: String,
    },

    /// A conditional request failed for a reason other than existence.
    #[error("precondition failed for {what}: {reason}")]
    Precondition {
        /// The object concerned.
        what: String,
        /// Why the precondition did not hold.
        reason: String,
    },

    /// Content does not hash to what its metadata promises. Nothing built from it was returned.
    #[error("{what} is corrupt: expected {check} {expected}, got {actual}")]
    Corrupt {
        /// The object or file whose content is wrong.
        what: String,
        /// What was checked: `SHA-256` or `size`.
        check: &'static str,
        /// The hash (or size) that was promised.
        expected: String,
        /// The hash (or size) that was found.
        actual: String,
    },

    /// Bytes that should follow a format (a delta, a cache entry, metadata) do not.
    #[error("{what} is invalid: {reason}")]
    InvalidData {
        /// What was being read.
        what: String,
        /// What is wrong with it.
        reason: String,
        /// The decoder's own error, when there is one.
        #[source]
        source: Option<BoxError>,
    },

    /// A limit protecting memory, disk or time was reached.
    #[error("{what} exceeds the limit of {limit} bytes")]
    LimitExceeded {
        /// What grew too large.
        what: String,
        /// The limit in bytes.
        limit: u64,
    },

    /// Not enough free space where something was about to be written; nothing was written.
    #[error("{what} needs {needed} bytes, but {place} has only {available} free")]
    NoSpace {
        /// What was to be written, e.g. the object being downloaded.
        what: String,
        /// Where: the directory or file system.
        place: String,
        /// Bytes it needs.
        needed: u64,
        /// Bytes free there.
        available: u64,
    },

    /// The operation is not supported by this adapter or for this input.
    #[error("{what} is not supported")]
    Unsupported {
        /// What is unsupported, phrased for the user.
        what: String,
    },

    /// The caller asked for something that makes no sense (bad key, bad option).
    #[error("invalid input: {0}")]
    InvalidInput(String),

    /// The storage or the file system refused access.
    #[error("permission denied for {what}")]
    PermissionDenied {
        /// The object or file concerned.
        what: String,
        /// The backend's error.
        #[source]
        source: Option<BoxError>,
    },

    /// A local file-system operation failed.
    #[error("{context}")]
    Io {
        /// What was being done, e.g. `writing /tmp/x`.
        context: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },

    /// A remote backend failed.
    #[error("{backend}: {context}")]
    Backend {
        /// Which backend, e.g. `s3`.
        backend: &'static str,
        /// What was being done.
        context: String,
        /// Whether repeating the same request may succeed (timeouts, 5xx, throttling).
        retryable: bool,
        /// The backend's error.
        #[source]
        source: Option<BoxError>,
    },
}

impl Error {
    /// An I/O error with the context of what was being done.
    pub fn io(context: impl fmt::Display, source: std::io::Error) -> Self {
        Error::Io {
            context: context.to_string(),
            source,
        }
    }

    /// An I/O error, mapped to [`Error::NotFound`] or [`Error::PermissionDenied`] when it is one.
    pub fn from_io(what: impl fmt::Display, action: &str, source: std::io::Error) -> Self {
        match source.kind() {
            std::io::ErrorKind::NotFound => Error::NotFound {
                what: what.to_string(),
            },
            std::io::ErrorKind::PermissionDenied => Error::PermissionDenied {
                what: what.to_string(),
                source: Some(Box::new(source)),
            },
            _ => Error::Io {
                context: format!("{action} {what}"),
                source,
            },
        }
    }

    /// Invalid data with a reason and no underlying error.
    pub fn invalid(what: impl fmt::Display, reason: impl fmt::Display) -> Self {
        Error::InvalidData {
            what: what.to_string(),
            reason: reason.to_string(),
            source: None,
        }
    }

    /// A not-found error for `what`.
    pub fn not_found(what: impl fmt::Display) -> Self {
        Error::NotFound {
            what: what.to_string(),
        }
    }

    /// True when repeating the same call may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Backend { retryable, .. } => *retryable,
            Error::Io { source, .. } => matches!(
                source.kind(),
                std::io::ErrorKind::Interrupted
                    | std::io::ErrorKind::TimedOut
                    | std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
                    | std::io::ErrorKind::UnexpectedEof
            ),
            _ => false,
        }
    }

    /// True for [`Error::NotFound`].
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::NotFound { .. })
    }

    /// True for [`Error::AlreadyExists`].
    pub fn is_already_exists(&self) -> bool {
        matches!(self, Error::AlreadyExists { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_map_to_meaningful_variants() {
        let e = Error::from_io(
            "/x",
            "reading",
            std::io::Error::from(std::io::ErrorKind::NotFound),
        );
        assert!(e.is_not_found());
        let e = Error::from_io(
            "/x",
            "reading",
            std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        );
        assert!(matches!(e, Error::PermissionDenied { .. }));
        let e = Error::from_io(
            "/x",
            "reading",
            std::io::Error::from(std::io::ErrorKind::TimedOut),
        );
        assert!(e.is_retryable());
        assert_eq!(e.to_string(), "reading /x");
    }

    #[test]
    fn corrupt_names_both_hashes() {
        let e = Error::Corrupt {
            what: "s3://b/k".into(),
            check: "SHA-256",
            expected: "aa".into(),
            actual: "bb".into(),
        };
        assert_eq!(
            e.to_string(),
            "s3://b/k is corrupt: expected SHA-256 aa, got bb"
        );
    }
}
