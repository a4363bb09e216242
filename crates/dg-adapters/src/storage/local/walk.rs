//! The walk of a local store's directories behind `list`: keys below a prefix, one file per
//! common prefix when a delimiter folds the rest.

use std::fs;
use std::io;
use std::path::Path;

use super::super::local_keys::{read_name, Name};

/// Collects `(key, metadata)` of files under `dir`, whose keys start with `base`, that start
/// with `prefix`. With `shallow`, each subdirectory past the prefix contributes only its first
/// file: a `/` delimiter folds the rest into the same common prefix anyway.
pub(super) fn walk(
    dir: &Path,
    base: &str,
    shallow: bool,
    prefix: &str,
    out: &mut Vec<(String, fs::Metadata)>,
) -> io::Result<()> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
            ) =>
        {
            return Ok(())
        }
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let Some(child) = child_key(base, &entry) else {
            continue; // not a name this store writes
        };
        let meta = match entry.metadata() {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue, // deleted meanwhile
            Err(e) => return Err(e),
        };
        match child {
            Child::Continued(partial) if meta.is_dir() => {
                if partial.starts_with(prefix) || prefix.starts_with(&partial) {
                    walk(&entry.path(), &partial, shallow, prefix, out)?;
                }
            }
            Child::Continued(_) => {}
            Child::Key(key) if meta.is_dir() => {
                let dir_prefix = format!("{key}/");
                if !(dir_prefix.starts_with(prefix) || prefix.starts_with(&dir_prefix)) {
                    continue;
                }
                if shallow && dir_prefix.len() > prefix.len() {
                    if let Some(first) = first_file(&entry.path(), &dir_prefix)? {
                        out.push(first);
                    }
                } else {
                    walk(&entry.path(), &dir_prefix, shallow, prefix, out)?;
                }
            }
            Child::Key(key) => {
                if meta.is_file() && key.starts_with(prefix) {
                    out.push((key, meta));
                }
            }
        }
    }
    Ok(())
}

/// What a directory entry below keys starting with `base` stands for.
enum Child {
    /// A key (a file's, or a directory's without its `/`).
    Key(String),
    /// The start of a key segment continued in the directory below.
    Continued(String),
}

fn child_key(base: &str, entry: &fs::DirEntry) -> Option<Child> {
    let name = entry.file_name().into_string().ok()?;
    Some(match read_name(&name)? {
        Name::Segment(s) => Child::Key(format!("{base}{s}")),
        Name::More(s) => Child::Continued(format!("{base}{s}")),
    })
}

/// Any one file below `dir` (whose keys start with `base`), to stand for its common prefix.
fn first_file(dir: &Path, base: &str) -> io::Result<Option<(String, fs::Metadata)>> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let Some(child) = child_key(base, &entry) else {
            continue;
        };
        let meta = entry.metadata()?;
        match child {
            Child::Key(key) if meta.is_file() => return Ok(Some((key, meta))),
            Child::Key(key) if meta.is_dir() => found.push((entry.path(), format!("{key}/"))),
            Child::Continued(partial) if meta.is_dir() => found.push((entry.path(), partial)),
            _ => {}
        }
    }
    for (path, base) in found {
        if let Some(f) = first_file(&path, &base)? {
            return Ok(Some(f));
        }
    }
    Ok(None)
}
