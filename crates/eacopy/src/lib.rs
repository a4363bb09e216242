//! eacopy: fast file copies in the spirit of EA's EACopy.
//!
//! This crate is a documented placeholder: its own issue (`[eacopy]`) brings tree copies,
//! delta copies and the copy server. Today it offers one honest function, a plain file copy
//! that reports the bytes copied.
//!
//! ```
//! let dir = std::env::temp_dir().join(format!("eacopy-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! std::fs::write(dir.join("a"), b"data").unwrap();
//! let n = eacopy::copyfile(dir.join("a"), dir.join("b")).unwrap();
//! assert_eq!(n, 4);
//! std::fs::remove_dir_all(&dir).unwrap();
//! ```

use std::path::Path;

/// Copies the contents of `src` to `dst` (created or truncated); returns the bytes copied.
pub fn copyfile(src: impl AsRef<Path>, dst: impl AsRef<Path>) -> std::io::Result<u64> {
    std::fs::copy(src, dst)
}
