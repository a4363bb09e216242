//! Transfer counters, kept by the client for what it sent and by the server for what it did.

use std::sync::Mutex;

/// What a server transfer did, file by file and byte by byte.
///
/// "Bytes" of a file category are file sizes; `file_bytes_sent` and `wire_bytes` are what
/// actually crossed the network (client → server).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TransferStats {
    /// Files sent whole (zstd-compressed unless the level is 0).
    pub files_copied: u64,
    /// Size of those files.
    pub bytes_copied: u64,
    /// Files the server hard-linked from a file with the same content.
    pub files_linked: u64,
    /// Size of those files.
    pub bytes_linked: u64,
    /// Files the server already had (same size and mtime, or same content).
    pub files_skipped: u64,
    /// Size of those files.
    pub bytes_skipped: u64,
    /// Files sent as rsync deltas against the server's previous version.
    pub files_delta: u64,
    /// Size of those files.
    pub bytes_delta: u64,
    /// Compressed delta bytes sent for them.
    pub delta_bytes_sent: u64,
    /// Files that failed or were refused.
    pub files_failed: u64,
    /// Directories created or found.
    pub dirs: u64,
    /// Stream bytes carrying file content (compressed data and deltas).
    pub file_bytes_sent: u64,
    /// All bytes client → server, frame headers and metadata included.
    pub wire_bytes: u64,
    /// Connections refused for a wrong token (server only).
    pub auth_failures: u64,
    /// Connections closed for malformed or corrupted frames (server only).
    pub protocol_errors: u64,
}

impl TransferStats {
    /// Adds `other` into `self`.
    pub fn merge(&mut self, o: &TransferStats) {
        self.files_copied += o.files_copied;
        self.bytes_copied += o.bytes_copied;
        self.files_linked += o.files_linked;
        self.bytes_linked += o.bytes_linked;
        self.files_skipped += o.files_skipped;
        self.bytes_skipped += o.bytes_skipped;
        self.files_delta += o.files_delta;
        self.bytes_delta += o.bytes_delta;
        self.delta_bytes_sent += o.delta_bytes_sent;
        self.files_failed += o.files_failed;
        self.dirs += o.dirs;
        self.file_bytes_sent += o.file_bytes_sent;
        self.wire_bytes += o.wire_bytes;
        self.auth_failures += o.auth_failures;
        self.protocol_errors += o.protocol_errors;
    }
}

impl std::fmt::Display for TransferStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "copied {} files ({} B), delta {} files ({} B, {} B sent), linked {} ({} B), skipped {} ({} B), \
             failed {}, dirs {}; file bytes sent {}, wire bytes {}",
            self.files_copied,
            self.bytes_copied,
            self.files_delta,
            self.bytes_delta,
            self.delta_bytes_sent,
            self.files_linked,
            self.bytes_linked,
            self.files_skipped,
            self.bytes_skipped,
            self.files_failed,
            self.dirs,
            self.file_bytes_sent,
            self.wire_bytes
        )
    }
}

/// Shared counters.
#[derive(Debug, Default)]
pub(crate) struct Counters(Mutex<TransferStats>);

impl Counters {
    pub(crate) fn bump(&self, f: impl FnOnce(&mut TransferStats)) {
        f(&mut self.0.lock().unwrap_or_else(|p| p.into_inner()));
    }

    pub(crate) fn snapshot(&self) -> TransferStats {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}
