//! Trees of files on disk: written from (relative path, bytes) pairs, and read back to compare.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// Writes each `(relative path, bytes)` under `root`, creating directories as needed; returns
/// the paths written, in order.
pub fn write<I, P>(root: &Path, files: I) -> io::Result<Vec<PathBuf>>
where
    I: IntoIterator<Item = (P, Vec<u8>)>,
    P: AsRef<Path>,
{
    let mut written = Vec::new();
    for (relative, data) in files {
        let path = root.join(relative);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::write(&path, data)?;
        written.push(path);
    }
    Ok(written)
}

/// Every regular file under `root` as (relative path, bytes), sorted by path; entries whose
/// relative path starts with one of `skip` (and what is below them) are left out.
pub fn snapshot(root: &Path, skip: &[&str]) -> io::Result<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir)? {
            let entry = entry?;
            let kind = entry.file_type()?;
            let path = entry.path();
            let relative = path
                .strip_prefix(root)
                .map_err(io::Error::other)?
                .to_string_lossy()
                .into_owned();
            if skip.iter().any(|s| relative.starts_with(s)) {
                continue;
            }
            if kind.is_dir() {
                stack.push(path);
            } else if kind.is_file() {
                out.push((relative, fs::read(&path)?));
            }
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn written_trees_read_back_sorted_without_the_skipped() {
        let dir = std::env::temp_dir().join(format!("dg-testdata-tree-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let files = vec![
            ("b/c.bin".to_string(), crate::noise(1, 10)),
            ("a.txt".to_string(), b"a".to_vec()),
            (".skip/x".to_string(), b"x".to_vec()),
        ];
        let paths = write(&dir, files.clone()).unwrap();
        assert_eq!(paths[0], dir.join("b/c.bin"));
        let got = snapshot(&dir, &[".skip"]).unwrap();
        assert_eq!(got, vec![files[1].clone(), files[0].clone()]);
        fs::remove_dir_all(&dir).unwrap();
    }
}
