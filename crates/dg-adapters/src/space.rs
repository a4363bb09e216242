//! Free-space checks before large writes, so that a large or hostile object fails at once
//! instead of filling the disk.

use std::fs::File;

use dg_ports::{Error, Result};

/// Fails with [`Error::NoSpace`] when the file system holding `file` (shown as `place`) has
/// fewer than `len` bytes free for this user.
pub(crate) fn check_free(file: &File, len: u64, what: &str, place: &str) -> Result<()> {
    let Ok(stat) = rustix::fs::fstatvfs(file) else {
        return Ok(()); // a file system that cannot say: the write itself will tell
    };
    let available = stat.f_bavail.saturating_mul(stat.f_frsize);
    if len > available {
        return Err(Error::NoSpace {
            what: what.to_string(),
            place: place.to_string(),
            needed: len,
            available,
        });
    }
    Ok(())
}
