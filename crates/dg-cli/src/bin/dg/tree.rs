//! The files on each side of a bulk transfer: a local directory walked recursively, or the
//! files under an s3:// prefix, each with its path relative to the root.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{Context as _, Result};
use dg::Client;
use tracing::warn;

use crate::filters::Filters;

/// A local file below a directory.
#[derive(Clone, Debug)]
pub struct LocalFile {
    /// `/`-separated path below the root.
    pub relative: String,
    pub path: PathBuf,
    pub size: u64,
    pub modified: Option<SystemTime>,
    /// A symbolic link in a destination (never followed there): replaced by downloads, removed
    /// by `--delete`, never written through.
    pub link: bool,
}

/// A stored file below a prefix.
#[derive(Clone, Debug)]
pub struct RemoteFile {
    /// Path below the prefix.
    pub relative: String,
    /// The file's key (as users see it: `….delta` removed).
    pub key: String,
    /// The stored object's key.
    pub stored_key: String,
    /// Size of the file (original size when looked up).
    pub size: u64,
    pub modified: Option<SystemTime>,
}

/// A file or object a walk or listing could not take, and why; it fails on its own (exit 1)
/// while the others go on.
#[derive(Clone, Debug)]
pub struct Problem {
    /// The file's path, or the object's URL.
    pub what: String,
    pub reason: String,
}

/// What a walk or listing found.
#[derive(Clone, Debug)]
pub struct Scan<T> {
    pub files: Vec<T>,
    pub problems: Vec<Problem>,
}

/// How a walk treats symbolic links.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Links {
    /// Follow them, as uploads do (`aws s3 cp` does too): a link's target is read as if it
    /// were in the tree, wherever it points; a directory reached twice (a loop) is walked once.
    Follow,
    /// List links as links and never enter them: a download destination.
    Keep,
}

/// Every regular file below `root`, sorted by path, that the filters admit. Names that are not
/// UTF-8 (they cannot become keys), FIFOs, sockets, devices and unreadable entries are
/// problems, each failing alone.
pub fn local_files(root: &Path, filters: &Filters, links: Links) -> Result<Scan<LocalFile>> {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    let mut seen = HashSet::new();
    let mut stack = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, relative_dir)) = stack.pop() {
        if links == Links::Follow {
            let canonical = dir
                .canonicalize()
                .with_context(|| format!("reading {}", dir.display()))?;
            if !seen.insert(canonical) {
                warn!(dir = %dir.display(), "directory reached again through a symbolic link (a loop); walked once");
                continue;
            }
        }
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if relative_dir.is_empty() => {
                return Err(e).with_context(|| format!("reading {}", dir.display()))
            }
            Err(e) => {
                problems.push(Problem {
                    what: dir.display().to_string(),
                    reason: format!("cannot read the directory: {e}"),
                });
                continue;
            }
        };
        for entry in entries {
            let entry = match entry {
                Ok(entry) => entry,
                Err(e) => {
                    problems.push(Problem {
                        what: dir.display().to_string(),
                        reason: format!("cannot read the directory: {e}"),
                    });
                    continue;
                }
            };
            let path = entry.path();
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                problems.push(Problem {
                    what: path.display().to_string(),
                    reason: "its name is not UTF-8, so it cannot become a key; rename it".into(),
                });
                continue;
            };
            let relative = format!("{relative_dir}{name}");
            let meta = match links {
                Links::Follow => std::fs::metadata(&path),
                Links::Keep => std::fs::symlink_metadata(&path),
            };
            let meta = match meta {
                Ok(m) => m,
                Err(e) => {
                    problems.push(Problem {
                        what: path.display().to_string(),
                        reason: format!("cannot read it: {e}"),
                    });
                    continue;
                }
            };
            let kind = meta.file_type();
            if kind.is_dir() {
                stack.push((path, format!("{relative}/")));
            } else if kind.is_file() || kind.is_symlink() {
                if filters.admits(&relative) {
                    out.push(LocalFile {
                        relative,
                        path,
                        size: meta.len(),
                        modified: meta.modified().ok(),
                        link: kind.is_symlink(),
                    });
                }
            } else if filters.admits(&relative) {
                problems.push(Problem {
                    what: path.display().to_string(),
                    reason: format!("it is {}, not a regular file", special_kind(&kind)),
                });
            }
        }
    }
    out.sort_by(|a, b| a.relative.cmp(&b.relative));
    Ok(Scan {
        files: out,
        problems,
    })
}

fn special_kind(kind: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return "a FIFO";
        }
        if kind.is_socket() {
            return "a socket";
        }
        if kind.is_block_device() || kind.is_char_device() {
            return "a device";
        }
    }
    let _ = kind;
    "a special file"
}

/// The listing prefix for an s3:// location used as a directory: `a/b` → `a/b/`.
pub fn dir_prefix(key: &str) -> String {
    if key.is_empty() || key.ends_with('/') {
        key.to_string()
    } else {
        format!("{key}/")
    }
}

/// Every file below `prefix` (a directory prefix, see [`dir_prefix`]) that the filters admit.
/// With `original_sizes`, deltas report the size of their file (one HEAD each). Objects the
/// listing could not show (bad metadata) are problems.
pub async fn remote_files(
    client: &Client,
    bucket: &str,
    prefix: &str,
    original_sizes: bool,
    filters: &Filters,
) -> Result<Scan<RemoteFile>> {
    let listing = client.list_all(bucket, prefix, original_sizes).await?;
    let mut out: Vec<RemoteFile> = listing
        .entries
        .into_iter()
        .filter_map(|e| {
            let relative = e.key.get(prefix.len()..)?.to_string();
            // a folder marker (`dir/`, empty, as S3 consoles make them) is no file
            let marker = relative.ends_with('/') && e.size == 0;
            if relative.is_empty() || marker || !filters.admits(&relative) {
                return None;
            }
            Some(RemoteFile {
                relative,
                key: e.key,
                stored_key: e.stored_key,
                size: e.size,
                modified: e.last_modified,
            })
        })
        .collect();
    out.sort_by(|a, b| a.relative.cmp(&b.relative));
    let problems = listing
        .skipped
        .into_iter()
        .map(|s| Problem {
            what: format!("s3://{bucket}/{}", s.stored_key),
            reason: s.reason,
        })
        .collect();
    Ok(Scan {
        files: out,
        problems,
    })
}

/// Where a key's relative path lands below a local directory, as a `/`-separated path; an
/// error saying why for keys that have no place there (empty, `.` or `..` segments, a
/// trailing `/`: S3 allows them, a directory cannot hold them).
pub fn local_relative(relative: &str) -> std::result::Result<&str, String> {
    if relative
        .split('/')
        .any(|s| s.is_empty() || s == "." || s == ".." || s.contains('\0'))
    {
        return Err(format!(
            "its key has an empty, `.` or `..` segment below the prefix ({relative:?}), which no local directory can hold; skipped (download it alone with `dg cp` to a file name)"
        ));
    }
    Ok(relative)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_sorted_with_relative_paths_and_filters() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("a/b")).unwrap();
        std::fs::write(dir.path().join("z.txt"), b"z").unwrap();
        std::fs::write(dir.path().join("a/b/c.zip"), b"cc").unwrap();
        std::fs::write(dir.path().join("a/x.tmp"), b"x").unwrap();
        let filters = Filters::new(&[(crate::filters::Rule::Exclude, "*.tmp".into())]).unwrap();
        let files = local_files(dir.path(), &filters, Links::Follow)
            .unwrap()
            .files;
        let names: Vec<_> = files.iter().map(|f| f.relative.as_str()).collect();
        assert_eq!(names, ["a/b/c.zip", "z.txt"]);
        assert_eq!(files[0].size, 2);
    }

    #[test]
    fn keys_never_escape_the_directory() {
        assert_eq!(local_relative("a/b.zip"), Ok("a/b.zip"));
        for bad in ["../etc/passwd", "a//b", "/abs", "a/./b", "a/", ".."] {
            assert!(local_relative(bad).is_err(), "{bad}");
        }
        assert_eq!(dir_prefix("a/b"), "a/b/");
        assert_eq!(dir_prefix(""), "");
    }
}
