//! Copies mode and times from a source's metadata to a destination file, directory or link.

use std::fs::{File, FileTimes, Metadata, Permissions};
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustix::fs::{AtFlags, Timespec, Timestamps, CWD};

/// Which parts of the metadata to copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Keep {
    pub mode: bool,
    pub times: bool,
}

/// Applies mode and/or times of `md` to the open `file`.
pub(crate) fn apply_to_file(file: &File, md: &Metadata, keep: Keep) -> io::Result<()> {
    if keep.mode {
        file.set_permissions(Permissions::from_mode(md.mode() & 0o7777))?;
    }
    if keep.times {
        file.set_times(times_of(md))?;
    }
    Ok(())
}

/// Applies mode and/or times of `md` to the directory or symlink at `path` (never following
/// a link: a link's own times are set, and links have no mode of their own on Linux).
pub(crate) fn apply_to_path(path: &Path, md: &Metadata, keep: Keep) -> io::Result<()> {
    let is_link = md.file_type().is_symlink();
    if keep.mode && !is_link {
        std::fs::set_permissions(path, Permissions::from_mode(md.mode() & 0o7777))?;
    }
    if keep.times {
        let stamps = Timestamps {
            last_access: Timespec {
                tv_sec: md.atime(),
                tv_nsec: md.atime_nsec() as _,
            },
            last_modification: Timespec {
                tv_sec: md.mtime(),
                tv_nsec: md.mtime_nsec() as _,
            },
        };
        rustix::fs::utimensat(CWD, path, &stamps, AtFlags::SYMLINK_NOFOLLOW)?;
    }
    Ok(())
}

fn times_of(md: &Metadata) -> FileTimes {
    let mut t = FileTimes::new();
    if let Ok(a) = md.accessed() {
        t = t.set_accessed(a);
    }
    if let Ok(m) = md.modified() {
        t = t.set_modified(m);
    }
    t
}

/// Modification time in nanoseconds since the epoch (negative before 1970).
pub(crate) fn mtime_ns(md: &Metadata) -> i64 {
    md.mtime()
        .saturating_mul(1_000_000_000)
        .saturating_add(md.mtime_nsec())
}

/// The inverse of [`mtime_ns`].
pub(crate) fn system_time(ns: i64) -> SystemTime {
    if ns >= 0 {
        UNIX_EPOCH + Duration::from_nanos(ns as u64)
    } else {
        UNIX_EPOCH - Duration::from_nanos(ns.unsigned_abs())
    }
}
