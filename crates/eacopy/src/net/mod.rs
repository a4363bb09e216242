//! The copy server and its client: a framed, versioned TCP protocol that sends only what the
//! destination lacks.
//!
//! # Conversation
//!
//! Every message is one [frame](frame) (magic, version, kind, length, CRC-32, payload; the
//! byte diagram is in [`frame`]). A connection goes:
//!
//! ```text
//! client                                         server
//!   |  <------------------------- Hello{nonce}     |   token handshake (see `auth`)
//!   |  Auth{nonce, HMAC proof} ------------------> |
//!   |  <----------------------- AuthOk{HMAC proof} |
//!   |  Query[(dir?, path, size, mtime, mode)…] --> |   one batch, ≤ 512 entries
//!   |  <---------- QueryReply[Have|Need|NeedHasOld|Refused(reason)…]
//!   |  Offer{ticket, path, size, mtime, mode,      |   every Need / NeedHasOld of the
//!   |        sha256} × n ------------------------> |   batch at once
//!   |  <-- (OfferReply Linked|Skipped|SendFull|SendDelta, or Done{why}) × n
//!   |  (FileHeader{ticket, Raw|Zstd, len},         |   the SendFull files back to back,
//!   |   Data…, End) × k -------------------------> |   each into a temp file, size and
//!   |  <-------------------------- Done{ok|why} × k |   SHA-256 checked, renamed into place
//!   |  SigRequest{ticket} -----------------------> |   each SendDelta file in turn:
//!   |  <------------------ Data…, End (signature)  |   rsync signature of the old version
//!   |  FileHeader{ticket, DeltaZstd|Zstd, len},    |
//!   |  Data…, End -------------------------------> |
//!   |  <------------------------------ Done{ok|why} |
//!   |  … next Query …                               |
//!   |  Bye --------------------------------------> |
//! ```
//!
//! A batch costs three round trips however many files it holds (plus one per delta).
//!
//! A server with no room answers `Busy{reason}` instead of `Hello` or `AuthOk` (or in the
//! middle of a handshake pushed out by newer connections) and closes; the client reports
//! [`Error::Busy`](crate::Error::Busy). Handshakes have one deadline in all and caps overall
//! and per peer (see `gate`).
//!
//! * **Have**: the path exists with the same size and mtime (EACopy's rule).
//! * **Linked**: the server knows a file with the offered SHA-256 (it wrote or linked it, and
//!   it still has the size and mtime it had then) and hard-links it.
//! * **Skipped** after an offer: the file at the path already has that content (only its
//!   times differed); the server updates the times.
//! * **Delta**: the client diffs its file against the server's signature (`fast_rsync`) and
//!   sends the delta zstd-compressed when it is under 90 % of the file; the server applies it
//!   with an output bound of the announced size.
//!
//! # Safety of the root
//!
//! Paths are relative, `/`-separated UTF-8; absolute paths, `.`/`..`, empty components, the
//! reserved `.eacopy/` directory and any symlink on the way are refused, and every path is
//! opened component by component from the root's descriptor with `O_NOFOLLOW` (see `paths`).
//! Every write goes to a temporary file next to the target and is renamed after its size and
//! hash are checked; modes are limited to permission bits. There is no TLS: the token keeps
//! strangers from writing, but the data itself is not encrypted — use it on trusted networks
//! or inside a tunnel.

pub mod auth;
mod client;
mod conn;
pub mod frame;
mod gate;
mod msg;
mod paths;
mod receive;
mod remote;
mod send;
mod server;
mod session;
mod stats;
mod store;
mod wire;

pub use auth::Token;
pub use client::copy_with_server;
pub use remote::Remote;
pub use server::{Server, DEFAULT_PORT};
pub use stats::TransferStats;
