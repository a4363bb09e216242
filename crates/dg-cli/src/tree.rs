//! The files on each side of a bulk transfer: a local directory walked recursively, or the
//! files under an s3:// prefix, each with its path relative to the root.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{bail, Context as _, Result};
use dg_core::DeltaGlider;
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

/// Every regular file below `root` (symbolic links followed, loops skipped), sorted by path,
/// that the filters admit.
pub fn local_files(root: &Path, filters: &Filters) -> Result<Vec<LocalFile>> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    let mut stack = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, relative_dir)) = stack.pop() {
        let canonical = dir
            .canonicalize()
            .with_context(|| format!("reading {}", dir.display()))?;
        if !seen.insert(canonical) {
            warn!(dir = %dir.display(), "directory visited twice (symbolic link loop); skipped");
            continue;
        }
        let entries =
            std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))?;
        for entry in entries {
            let entry = entry.with_context(|| format!("reading {}", dir.display()))?;
            let path = entry.path();
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                bail!(
                    "{}: the name is not UTF-8, so it cannot become a key",
                    path.display()
                );
            };
            let relative = format!("{relative_dir}{name}");
            let meta = match std::fs::metadata(&path) {
                Ok(m) => m,
                Err(e) => {
                    warn!(path = %path.display(), "skipped: {e}");
                    continue;
                }
            };
            if meta.is_dir() {
                stack.push((path, format!("{relative}/")));
            } else if meta.is_file() {
                if filters.admits(&relative) {
                    out.push(LocalFile {
                        relative,
                        path,
                        size: meta.len(),
                        modified: meta.modified().ok(),
                    });
                }
            } else {
                warn!(path = %path.display(), "skipped: not a regular file");
            }
        }
    }
    out.sort_by(|a, b| a.relative.cmp(&b.relative));
    Ok(out)
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
/// With `original_sizes`, deltas report the size of their file (one HEAD each).
pub async fn remote_files(
    dg: &DeltaGlider,
    bucket: &str,
    prefix: &str,
    original_sizes: bool,
    filters: &Filters,
) -> Result<Vec<RemoteFile>> {
    let listing = dg.list_all(bucket, prefix, original_sizes).await?;
    let mut out: Vec<RemoteFile> = listing
        .entries
        .into_iter()
        .filter_map(|e| {
            let relative = e.key.get(prefix.len()..)?.to_string();
            if relative.is_empty() || relative.ends_with('/') || !filters.admits(&relative) {
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
    Ok(out)
}

/// Where a key's relative path lands below a local directory; `None` for paths that would
/// leave it (`..`, absolute, empty segments).
pub fn local_path(root: &Path, relative: &str) -> Option<PathBuf> {
    let mut path = root.to_path_buf();
    for segment in relative.split('/') {
        if segment.is_empty() || segment == "." || segment == ".." {
            return None;
        }
        path.push(segment);
    }
    Some(path)
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
        let files = local_files(dir.path(), &filters).unwrap();
        let names: Vec<_> = files.iter().map(|f| f.relative.as_str()).collect();
        assert_eq!(names, ["a/b/c.zip", "z.txt"]);
        assert_eq!(files[0].size, 2);
    }

    #[test]
    fn keys_never_escape_the_directory() {
        let root = Path::new("/tmp/out");
        assert_eq!(local_path(root, "a/b.zip"), Some(root.join("a/b.zip")));
        assert_eq!(local_path(root, "../etc/passwd"), None);
        assert_eq!(local_path(root, "a//b"), None);
        assert_eq!(local_path(root, "/abs"), None);
        assert_eq!(dir_prefix("a/b"), "a/b/");
        assert_eq!(dir_prefix(""), "");
    }
}
