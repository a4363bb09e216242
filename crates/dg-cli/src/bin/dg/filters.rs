//! `--exclude` / `--include` globs, applied as the AWS CLI applies them: every file starts
//! included, each filter whose glob matches the file's path (relative to the source) decides
//! again, so the last matching filter wins.

use anyhow::{Context as _, Result};
use globset::{GlobBuilder, GlobMatcher};

/// What a matching filter does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    Exclude,
    Include,
}

/// Ordered filters.
#[derive(Debug, Default)]
pub struct Filters {
    rules: Vec<(Rule, GlobMatcher)>,
}

impl Filters {
    /// Compiles the filters, in command-line order. `*` matches across `/`, as in the AWS CLI.
    pub fn new(ordered: &[(Rule, String)]) -> Result<Self> {
        let rules = ordered
            .iter()
            .map(|(rule, pattern)| {
                let glob = GlobBuilder::new(pattern)
                    .literal_separator(false)
                    .backslash_escape(true)
                    .build()
                    .with_context(|| format!("bad glob `{pattern}`"))?;
                Ok((*rule, glob.compile_matcher()))
            })
            .collect::<Result<_>>()?;
        Ok(Filters { rules })
    }

    /// True when no filter was given.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// True when the file at `relative` (a `/`-separated path below the source) is taken.
    pub fn admits(&self, relative: &str) -> bool {
        let mut taken = true;
        for (rule, glob) in &self.rules {
            if glob.is_match(relative) {
                taken = *rule == Rule::Include;
            }
        }
        taken
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filters(spec: &[(Rule, &str)]) -> Filters {
        let owned: Vec<_> = spec.iter().map(|(r, p)| (*r, p.to_string())).collect();
        Filters::new(&owned).unwrap()
    }

    #[test]
    fn the_last_matching_filter_wins() {
        let f = filters(&[(Rule::Exclude, "*"), (Rule::Include, "*.zip")]);
        assert!(f.admits("a/b/app.zip"));
        assert!(!f.admits("a/readme.txt"));
        let f = filters(&[(Rule::Include, "*.zip"), (Rule::Exclude, "*")]);
        assert!(!f.admits("app.zip"), "a later exclude wins");
        let f = filters(&[
            (Rule::Exclude, "logs/*"),
            (Rule::Include, "logs/keep-?.txt"),
        ]);
        assert!(f.admits("src/main.rs"));
        assert!(!f.admits("logs/a.txt"));
        assert!(f.admits("logs/keep-1.txt"));
        assert!(!f.admits("logs/keep-10.txt"));
    }

    #[test]
    fn star_crosses_directories_and_bad_globs_are_refused() {
        let f = filters(&[(Rule::Exclude, "*.tmp")]);
        assert!(!f.admits("deep/down/x.tmp"));
        assert!(f.admits("x.tmp.zip"));
        assert!(filters(&[]).admits("anything"));
        assert!(Filters::new(&[(Rule::Exclude, "[".to_string())]).is_err());
    }
}
