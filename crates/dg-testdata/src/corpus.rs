//! The optional corpus of real release series (`$DG_CORPUS`, built by `bench/make-corpus.sh`).

use std::path::{Path, PathBuf};

/// Consecutive (older, newer) file pairs of every series under `$DG_CORPUS`: each
/// sub-directory's files sorted by name. `None` (after a loud note naming `test`) when the
/// corpus is missing; under `DG_REQUIRE_TOOLS` a missing or empty corpus fails instead.
pub fn corpus_pairs(test: &str) -> Option<Vec<(PathBuf, PathBuf)>> {
    let root = std::env::var_os("DG_CORPUS")
        .map_or_else(|| PathBuf::from("corpus-not-set"), PathBuf::from);
    let Ok(entries) = std::fs::read_dir(&root) else {
        assert!(
            std::env::var_os("DG_REQUIRE_TOOLS").is_none(),
            "DG_REQUIRE_TOOLS is set but the corpus {root:?} is missing"
        );
        eprintln!("!!!!!!!! SKIPPING {test}: corpus {root:?} not found (set DG_CORPUS) !!!!!!!!");
        return None;
    };
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    let mut pairs = Vec::new();
    for d in dirs {
        let files = files_in(&d);
        pairs.extend(files.windows(2).map(|w| (w[0].clone(), w[1].clone())));
    }
    assert!(!pairs.is_empty(), "corpus {root:?} has no pairs");
    Some(pairs)
}

/// The files directly in `dir`, sorted; a directory that cannot be read fails loudly.
fn files_in(dir: &Path) -> Vec<PathBuf> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            eprintln!("!!!!!!!! cannot read the corpus series {dir:?}: {e} !!!!!!!!");
            assert!(
                std::env::var_os("DG_REQUIRE_TOOLS").is_none(),
                "DG_REQUIRE_TOOLS is set but the corpus series {dir:?} cannot be read: {e}"
            );
            return Vec::new();
        }
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}
