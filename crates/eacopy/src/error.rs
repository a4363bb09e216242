//! The one error type of the crate: what went wrong, on which path, and what to do about it.

use std::io;
use std::path::PathBuf;

use rustix::io::Errno;

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in a copy, local or through a server.
///
/// Each variant names the path involved. [`Error::is_retryable`] tells which errors
/// [`ErrorStrategy::Retry`](crate::ErrorStrategy::Retry) should try again by default.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The source (or a needed parent directory) does not exist.
    #[error("{path}: not found; check the path")]
    NotFound {
        /// The missing path.
        path: PathBuf,
    },
    /// The operating system refused access.
    #[error("{path}: permission denied; check its owner and mode")]
    PermissionDenied {
        /// The path that could not be opened, read or written.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// The destination exists and the configuration does not allow replacing it.
    #[error("{path}: destination exists; remove it or set `dirs_exist_ok` (--dirs-exist-ok)")]
    DestinationExists {
        /// The existing destination.
        path: PathBuf,
    },
    /// The destination file system has no room left.
    #[error("{path}: disk full; free space on the destination file system and copy again")]
    DiskFull {
        /// The file being written.
        path: PathBuf,
    },
    /// A file operation was given a directory.
    #[error("{path}: is a directory; use copytree (or pass a directory source to the CLI)")]
    IsADirectory {
        /// The directory.
        path: PathBuf,
    },
    /// Source and destination are the same file: copying would destroy it.
    #[error("{path}: source and destination are the same file")]
    SameFile {
        /// The shared path.
        path: PathBuf,
    },
    /// Any other operating-system error, with the path it happened on.
    #[error("{path}: {source}")]
    Io {
        /// The path being worked on.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// The bytes written do not have the hash they must have.
    #[error("{path}: content hash mismatch after writing (expected {expected}, got {actual}); the file was not kept")]
    HashMismatch {
        /// The file whose content was checked.
        path: PathBuf,
        /// The hash the content must have (hex).
        expected: String,
        /// The hash it had (hex).
        actual: String,
    },
    /// Several files of a tree or batch failed (with [`ErrorStrategy::Raise`](crate::ErrorStrategy::Raise)
    /// only the first is kept).
    #[error("{} file(s) failed; first: {}", failures.len(), first_failure(failures))]
    Failed {
        /// Each failed path with its error.
        failures: Vec<(PathBuf, Error)>,
    },
    /// The configuration cannot work.
    #[error("invalid configuration: {what}")]
    InvalidConfig {
        /// What is wrong and how to fix it.
        what: String,
    },
    /// The remote destination is not `HOST:PORT/path`.
    #[error(
        "{spec}: not a remote destination; write HOST:PORT/path (e.g. build01:31337/builds/42)"
    )]
    BadRemote {
        /// The text that was given.
        spec: String,
    },
    /// No TCP connection could be made to the server.
    #[error("cannot connect to {addr}: {source}; is `eacopy serve` running there?")]
    Connect {
        /// The address tried.
        addr: String,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// The connection failed or closed while talking to the peer.
    #[error("connection to {peer} failed: {source}; check the network and that the peer is still running")]
    Network {
        /// The other side.
        peer: String,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// The token proof did not match: the peer does not share our token.
    #[error("authentication failed with {peer}: the tokens differ; use the server's --token-file")]
    AuthFailed {
        /// The other side.
        peer: String,
    },
    /// The peer sent bytes that are not a valid frame or message of this protocol.
    #[error("protocol error from {peer}: {what}")]
    Protocol {
        /// The other side.
        peer: String,
        /// What was wrong with the data.
        what: String,
    },
    /// The server refused one path (escapes the root, crosses a symlink, …).
    #[error("{path}: refused by the server: {reason}")]
    Refused {
        /// The path as the client sent it.
        path: String,
        /// The server's reason.
        reason: String,
    },
    /// A FIFO, socket or device file: it has no contents a copy could keep, and opening a FIFO
    /// would wait for a writer forever, so it is not copied.
    #[error("{path}: is a {kind}; only regular files, directories and symlinks are copied (exclude or remove it)")]
    SpecialFile {
        /// The special file.
        path: PathBuf,
        /// What it is: `FIFO (named pipe)`, `socket`, `character device` or `block device`.
        kind: &'static str,
    },
    /// Following symlinks leads in a circle (a link to itself, or to a directory it is in).
    #[error("{path}: symlink loop ({detail}); not copied: copy without -L/follow_symlinks, or exclude or remove the link")]
    SymlinkLoop {
        /// The link.
        path: PathBuf,
        /// Where the circle closes.
        detail: String,
    },
    /// The server has no room for another connection now.
    #[error(
        "{peer}: server busy: {reason}; try again later (ErrorStrategy::Retry, --on-error retry, does)"
    )]
    Busy {
        /// The server.
        peer: String,
        /// The server's reason.
        reason: String,
    },
    /// A path is not acceptable under a server root.
    #[error("{path}: unsafe path: {reason}")]
    UnsafePath {
        /// The path as given.
        path: String,
        /// Why it is refused.
        reason: &'static str,
    },
}

fn first_failure(failures: &[(PathBuf, Error)]) -> String {
    failures
        .first()
        .map(|(_, e)| e.to_string())
        .unwrap_or_else(|| "none".to_string())
}

impl Error {
    /// Maps an I/O error on `path` to the most meaningful variant.
    pub fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        let path = path.into();
        let raw = source.raw_os_error();
        if raw == Some(Errno::NOSPC.raw_os_error()) || raw == Some(Errno::DQUOT.raw_os_error()) {
            return Error::DiskFull { path };
        }
        if raw == Some(Errno::LOOP.raw_os_error()) {
            return Error::SymlinkLoop {
                path,
                detail: "too many levels of symbolic links".into(),
            };
        }
        match source.kind() {
            io::ErrorKind::NotFound => Error::NotFound { path },
            io::ErrorKind::PermissionDenied => Error::PermissionDenied { path, source },
            io::ErrorKind::AlreadyExists => Error::DestinationExists { path },
            io::ErrorKind::IsADirectory => Error::IsADirectory { path },
            _ => Error::Io { path, source },
        }
    }

    /// Whether trying again may help (files appearing late, transient I/O and network errors).
    ///
    /// Configuration errors, unsafe paths, refusals and authentication failures never heal.
    pub fn is_retryable(&self) -> bool {
        !matches!(
            self,
            Error::InvalidConfig { .. }
                | Error::BadRemote { .. }
                | Error::AuthFailed { .. }
                | Error::UnsafePath { .. }
                | Error::Refused { .. }
                | Error::SameFile { .. }
                | Error::IsADirectory { .. }
                | Error::DestinationExists { .. }
                | Error::SpecialFile { .. }
                | Error::SymlinkLoop { .. }
        )
    }

    /// Whether this is a file that is left out rather than failed: a special file or a symlink
    /// loop ([`ErrorStrategy::Ignore`](crate::ErrorStrategy::Ignore) lists it in
    /// [`CopyReport::skipped`](crate::CopyReport::skipped)).
    pub fn is_skip(&self) -> bool {
        matches!(self, Error::SpecialFile { .. } | Error::SymlinkLoop { .. })
    }

    /// The [`Error::SpecialFile`] for `path` if `file_type` is a FIFO, socket or device.
    pub(crate) fn special(path: &std::path::Path, file_type: std::fs::FileType) -> Option<Error> {
        use std::os::unix::fs::FileTypeExt;
        let kind = if file_type.is_fifo() {
            "FIFO (named pipe)"
        } else if file_type.is_socket() {
            "socket"
        } else if file_type.is_char_device() {
            "character device"
        } else if file_type.is_block_device() {
            "block device"
        } else {
            return None;
        };
        Some(Error::SpecialFile {
            path: path.to_path_buf(),
            kind,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_errors_map_to_meaningful_variants() {
        let os = |e: Errno| Error::io("/x", io::Error::from_raw_os_error(e.raw_os_error()));
        assert!(matches!(os(Errno::NOSPC), Error::DiskFull { .. }));
        assert!(matches!(os(Errno::DQUOT), Error::DiskFull { .. }));
        assert!(matches!(os(Errno::ACCESS), Error::PermissionDenied { .. }));
        assert!(matches!(os(Errno::PERM), Error::PermissionDenied { .. }));
        assert!(matches!(os(Errno::NOENT), Error::NotFound { .. }));
        assert!(matches!(os(Errno::EXIST), Error::DestinationExists { .. }));
        assert!(matches!(os(Errno::ISDIR), Error::IsADirectory { .. }));
        assert!(matches!(os(Errno::IO), Error::Io { .. }));
        assert!(matches!(os(Errno::LOOP), Error::SymlinkLoop { .. }));
        assert!(!os(Errno::LOOP).is_retryable());
        assert!(os(Errno::IO).is_retryable());
        assert!(!os(Errno::EXIST).is_retryable());
    }
}
