//! Server-side paths: a client path must stay under the root, in plain directories, and is
//! opened one component at a time from the root's descriptor with `O_NOFOLLOW`, so no symlink
//! is ever followed — not one a client names, nor one planted in the root, nor a directory
//! swapped for a link while a file is on its way.
//!
//! Refused: empty paths, absolute paths, `.` and `..` components, empty components, NUL bytes,
//! components over 255 bytes, the reserved `.eacopy` directory, and any path whose parents or
//! final component is a symlink. Directories are only made on the way to a file being written
//! (or for a directory entry the client sends), one component at a time.

use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;

use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

/// The root's private directory (index, temporary files); never writable by clients.
pub(crate) const RESERVED: &str = ".eacopy";

/// The longest file name Linux file systems take.
const NAME_MAX: usize = 255;

/// Checks the text of `path` and splits it into components.
pub(crate) fn components(path: &str) -> Result<Vec<&str>, &'static str> {
    if path.is_empty() {
        return Err("empty path");
    }
    if path.len() > 4096 {
        return Err("path longer than 4096 bytes");
    }
    if path.starts_with('/') {
        return Err("absolute path; send paths relative to the destination");
    }
    if path.contains('\0') {
        return Err("NUL byte in path");
    }
    let parts: Vec<&str> = path.split('/').collect();
    for p in &parts {
        match *p {
            "" => return Err("empty path component"),
            "." => return Err("`.` component"),
            ".." => return Err("`..` component escapes the root"),
            p if p.len() > NAME_MAX => return Err("a path component is longer than 255 bytes"),
            _ => {}
        }
    }
    if parts.first() == Some(&RESERVED) {
        return Err("the .eacopy directory is reserved for the server");
    }
    Ok(parts)
}

/// What is at a name, without following a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    File,
    Dir,
    Symlink,
    /// A FIFO, socket or device.
    Special,
}

/// The kind, size and modification time of one directory entry.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Meta {
    pub kind: Kind,
    pub size: u64,
    pub mtime_ns: i64,
}

/// `lstat` of `name` in `dir`.
pub(crate) fn stat_at(dir: &OwnedFd, name: &str) -> io::Result<Meta> {
    let st = rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)?;
    let kind = match FileType::from_raw_mode(st.st_mode) {
        FileType::RegularFile => Kind::File,
        FileType::Directory => Kind::Dir,
        FileType::Symlink => Kind::Symlink,
        _ => Kind::Special,
    };
    Ok(Meta {
        kind,
        size: u64::try_from(st.st_size).unwrap_or(0),
        mtime_ns: (st.st_mtime as i64)
            .saturating_mul(1_000_000_000)
            .saturating_add(st.st_mtime_nsec as i64),
    })
}

/// Opens the directory `name` in `dir`, never through a link.
fn open_dir(dir: &OwnedFd, name: &str) -> io::Result<OwnedFd> {
    Ok(rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

/// Why the directory `name` in `dir` could not be opened, in words for the client.
fn why_not_dir(dir: &OwnedFd, name: &str, err: &io::Error) -> &'static str {
    match stat_at(dir, name).map(|m| m.kind) {
        Ok(Kind::Symlink) => "a parent directory is a symlink",
        Ok(Kind::Dir) => "cannot open a parent directory",
        Ok(_) => "a parent is not a directory",
        Err(_) if err.raw_os_error() == Some(Errno::LOOP.raw_os_error()) => {
            "a parent directory is a symlink"
        }
        Err(_) => "cannot open a parent directory",
    }
}

/// Opens the directory that holds the last of `parts`, component by component from `root`.
/// `Ok(None)` when a parent does not exist (so nothing below it does either).
pub(crate) fn open_parent(root: &OwnedFd, parts: &[&str]) -> Result<Option<OwnedFd>, &'static str> {
    let Some((_, parents)) = parts.split_last() else {
        return Err("empty path");
    };
    let mut dir = root.try_clone().map_err(|_| "cannot open the root")?;
    for p in parents {
        dir = match open_dir(&dir, p) {
            Ok(d) => d,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(why_not_dir(&dir, p, &e)),
        };
    }
    Ok(Some(dir))
}

/// Directories made on the way to a file, so a write that fails can take them back.
#[derive(Debug, Default)]
pub(crate) struct Made(Vec<(OwnedFd, String)>);

impl Made {
    /// Removes the directories made (deepest first) if they are still empty.
    pub(crate) fn undo(self) {
        for (parent, name) in self.0.into_iter().rev() {
            if rustix::fs::unlinkat(&parent, name.as_str(), AtFlags::REMOVEDIR).is_err() {
                break; // not empty: someone else uses it now, and so its parents
            }
        }
    }
}

/// Like [`open_parent`], making the missing parents as real directories.
pub(crate) fn make_parent(root: &OwnedFd, parts: &[&str]) -> Result<(OwnedFd, Made), String> {
    let Some((_, parents)) = parts.split_last() else {
        return Err("empty path".into());
    };
    let mut made = Made::default();
    let mut dir = root
        .try_clone()
        .map_err(|e| format!("cannot open the root: {e}"))?;
    for p in parents {
        match make_dir_at(&dir, p, &mut made) {
            Ok(d) => dir = d,
            Err(why) => {
                made.undo();
                return Err(why);
            }
        }
    }
    Ok((dir, made))
}

/// Opens the directory `name` in `dir`, making it if it is missing (recorded in `made`).
pub(crate) fn make_dir_at(dir: &OwnedFd, name: &str, made: &mut Made) -> Result<OwnedFd, String> {
    match open_dir(dir, name) {
        Ok(d) => return Ok(d),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(why_not_dir(dir, name, &e).into()),
    }
    match rustix::fs::mkdirat(dir, name, Mode::from_raw_mode(0o755)) {
        Ok(()) => {
            let d = open_dir(dir, name).map_err(|e| format!("cannot open a new directory: {e}"))?;
            if let Ok(parent) = dir.try_clone() {
                made.0.push((parent, name.to_string()));
            }
            Ok(d)
        }
        // Made meanwhile by another connection: fine if it is a real directory.
        Err(Errno::EXIST) => {
            open_dir(dir, name).map_err(|e| why_not_dir(dir, name, &e).to_string())
        }
        Err(e) => Err(format!("cannot create a directory: {e}")),
    }
}

/// Opens the regular file `name` in `dir` for reading: never through a link, never waiting
/// on a FIFO, and refused if it is no regular file.
pub(crate) fn open_file_at(dir: &OwnedFd, name: &str) -> io::Result<File> {
    let fd = rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let file = File::from(fd);
    if !file.metadata()?.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    Ok(file)
}

/// Creates the new file `name` in `dir` for writing, mode 0600 until committed.
pub(crate) fn create_file_at(dir: &OwnedFd, name: &str) -> io::Result<File> {
    let fd = rustix::fs::openat(
        dir,
        name,
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    )?;
    Ok(File::from(fd))
}

/// Renames `from` to `to`, both in `dir` (a link at `to` is replaced, never followed).
pub(crate) fn rename_at(dir: &OwnedFd, from: &str, to: &str) -> io::Result<()> {
    Ok(rustix::fs::renameat(dir, from, dir, to)?)
}

/// Removes the file `name` in `dir` (best effort, for temporary files).
pub(crate) fn remove_at(dir: &OwnedFd, name: &str) {
    let _ = rustix::fs::unlinkat(dir, name, AtFlags::empty());
}

/// A fresh temporary name next to `name`, within the file-name limit.
pub(crate) fn temp_name(name: &str) -> String {
    let mut end = name.len().min(180);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    let mut nonce = [0u8; 6];
    let _ = getrandom::fill(&mut nonce);
    let tag: String = nonce.iter().map(|b| format!("{b:02x}")).collect();
    format!(".{}.eacopy-{}-{tag}.tmp", &name[..end], std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_escapes() {
        let long = "x".repeat(256);
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a//b",
            "./a",
            "a/.",
            ".eacopy/index",
            "a\0b",
            long.as_str(),
        ] {
            assert!(components(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(
            components("a/b c/d.txt").unwrap(),
            vec!["a", "b c", "d.txt"]
        );
        assert!(temp_name(&"é".repeat(127)).len() <= NAME_MAX);
    }
}
