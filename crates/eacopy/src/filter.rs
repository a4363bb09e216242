//! Include/exclude globs for files and directories (`*` and `?`, matched on names or paths).

use std::path::Path;

/// The file and directory filters of a [`Config`](crate::Config).
#[derive(Debug, Clone, Default)]
pub struct Filters {
    pub(crate) include: Vec<String>,
    pub(crate) exclude: Vec<String>,
    pub(crate) exclude_dirs: Vec<String>,
}

impl Filters {
    /// Whether the file at `rel` (relative to the tree root) is copied.
    pub fn wants_file(&self, rel: &Path) -> bool {
        let included = self.include.is_empty() || self.include.iter().any(|g| matches(g, rel));
        included && !self.exclude.iter().any(|g| matches(g, rel))
    }

    /// Whether the directory at `rel` is entered.
    pub fn wants_dir(&self, rel: &Path) -> bool {
        !self.exclude_dirs.iter().any(|g| matches(g, rel))
    }

    /// Whether no filter is set.
    pub fn is_empty(&self) -> bool {
        self.include.is_empty() && self.exclude.is_empty() && self.exclude_dirs.is_empty()
    }
}

/// A glob with `/` matches the whole relative path; one without matches the last name.
fn matches(glob: &str, rel: &Path) -> bool {
    let text = rel.to_string_lossy();
    if glob.contains('/') {
        glob_match(glob.as_bytes(), text.as_bytes())
    } else {
        let name = rel
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default();
        glob_match(glob.as_bytes(), name.as_bytes())
    }
}

/// Iterative wildcard match: `*` any run of bytes except `/`, `?` one byte except `/`.
fn glob_match(pat: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pat.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if (c == b'?' && text[t] != b'/') || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) if text[st] != b'/' => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                _ => return false,
            },
        }
    }
    pat[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match(b"*.o", b"main.o"));
        assert!(!glob_match(b"*.o", b"main.c"));
        assert!(glob_match(b"a?c", b"abc"));
        assert!(glob_match(b"src/*.rs", b"src/lib.rs"));
        assert!(!glob_match(b"src/*.rs", b"src/a/lib.rs"));
        assert!(glob_match(b"*", b""));
        let f = Filters {
            include: vec!["*.rs".into()],
            exclude: vec!["gen_*".into()],
            exclude_dirs: vec!["target".into()],
        };
        assert!(f.wants_file(Path::new("src/lib.rs")));
        assert!(!f.wants_file(Path::new("src/gen_x.rs")));
        assert!(!f.wants_file(Path::new("README.md")));
        assert!(!f.wants_dir(Path::new("a/target")));
    }
}
