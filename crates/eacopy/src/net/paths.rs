//! Server-side path checks: a client path must stay under the root, in plain directories.
//!
//! Refused: empty paths, absolute paths, `.` and `..` components, empty components, NUL bytes,
//! the reserved `.eacopy` directory, and any path whose existing parents or final component
//! is a symlink (a link could point outside the root). Parents are created as real
//! directories, one component at a time, after each check.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// The root's private directory (index, temporary files); never writable by clients.
pub(crate) const RESERVED: &str = ".eacopy";

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
            _ => {}
        }
    }
    if parts.first() == Some(&RESERVED) {
        return Err("the .eacopy directory is reserved for the server");
    }
    Ok(parts)
}

/// Resolves `path` under `root` without following any symlink. With `create`, missing parent
/// directories are made. Returns the full path; the final component may not exist.
///
/// `known` holds the directories this connection already checked (or made), which are not
/// looked at again.
pub(crate) fn resolve(
    root: &Path,
    path: &str,
    create: bool,
    known: &mut HashSet<PathBuf>,
) -> Result<PathBuf, &'static str> {
    let parts = components(path)?;
    let mut full = root.to_path_buf();
    let (last, parents) = parts.split_last().ok_or("empty path")?;
    for p in parents {
        full.push(p);
        if known.contains(&full) {
            continue;
        }
        match fs::symlink_metadata(&full) {
            Ok(m) if m.file_type().is_symlink() => return Err("a parent directory is a symlink"),
            Ok(m) if !m.is_dir() => return Err("a parent is not a directory"),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound && create => {
                match fs::create_dir(&full) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                        // Made meanwhile by another connection: check it again.
                        let m = fs::symlink_metadata(&full)
                            .map_err(|_| "cannot create a parent directory")?;
                        if !m.is_dir() || m.file_type().is_symlink() {
                            return Err("a parent is not a directory");
                        }
                    }
                    Err(_) => return Err("cannot create a parent directory"),
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                full.push(last);
                return Ok(full);
            }
            Err(_) => return Err("cannot inspect a parent directory"),
        }
        known.insert(full.clone());
    }
    full.push(last);
    if let Ok(m) = fs::symlink_metadata(&full) {
        if m.file_type().is_symlink() {
            return Err("the destination is a symlink");
        }
    }
    Ok(full)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_escapes() {
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
        ] {
            assert!(components(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(
            components("a/b c/d.txt").unwrap(),
            vec!["a", "b c", "d.txt"]
        );
    }
}
