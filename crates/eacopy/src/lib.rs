//! eacopy: fast file copies in the spirit of EA's EACopy.
//!
//! * Local copies — [`copyfile`], [`copy`], [`copy2`], [`copytree`], [`batch_copy`] — take the
//!   fastest path the file system offers: reflink (`FICLONE`), then `copy_file_range` with
//!   holes kept (`SEEK_DATA`/`SEEK_HOLE`), then buffered reads and writes. Trees are walked and
//!   copied by `thread_count` workers, with include/exclude filters and symlink handling.
//! * [`delta_copy`] rewrites only the blocks of a file that differ from a reference version
//!   and verifies the result by SHA-256.
//! * [`Server`] and [`copy_with_server`] copy to another machine over a framed TCP protocol
//!   (see [`net`]): the server skips files it has (same path, size and mtime), hard-links
//!   files whose content it already holds, and receives changed files as rsync deltas
//!   against its old version, or zstd-compressed, behind an HMAC token handshake.
//! * [`aio`] has tokio forms of everything; a [`Config`] carries the settings, including a
//!   progress callback `(copied_bytes, total_bytes, filename)`.
//!
//! ```
//! use eacopy::{copytree, Config};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let src = dir.path().join("src");
//! std::fs::create_dir_all(src.join("sub"))?;
//! std::fs::write(src.join("sub/a.txt"), b"data")?;
//! std::fs::write(src.join("b.tmp"), b"scratch")?;
//!
//! let config = Config::new().thread_count(2).exclude("*.tmp");
//! let report = copytree(&src, dir.path().join("dst"), &config)?;
//! assert_eq!((report.files, report.bytes, report.filtered), (1, 4, 1));
//! assert_eq!(std::fs::read(dir.path().join("dst/sub/a.txt"))?, b"data");
//! # Ok(()) }
//! ```

pub mod aio;
mod config;
mod delta;
mod error;
mod fastcopy;
mod filter;
pub mod hash;
mod mapped;
mod meta;
pub mod net;
mod ops;
mod pool;
mod report;
mod tree;
mod walk;

pub use config::{Config, ErrorStrategy, ProgressFn};
pub use delta::{delta_copy, DeltaReport};
pub use error::{Error, Result};
pub use filter::Filters;
pub use net::{copy_with_server, Remote, Server, Token, TransferStats, DEFAULT_PORT};
pub use ops::{batch_copy, copy, copy2, copyfile};
pub use report::CopyReport;
pub use tree::{batch_copytree, copytree};
