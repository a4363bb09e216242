//! Helpers shared by the integration tests: deterministic trees and tree comparison.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs;
use std::path::{Path, PathBuf};

/// Deterministic pseudo-random bytes, incompressible.
pub use dg_testdata::noise;

/// A small tree: `n` files in a few subdirectories plus one larger file; returns file paths.
pub fn make_tree(root: &Path, n: usize, big: usize) -> Vec<PathBuf> {
    let small = (0..n).map(|i| {
        (
            format!("d{}/e{}/f{i}.bin", i % 4, i % 3),
            noise(i as u64, 100 + i * 37),
        )
    });
    let big = std::iter::once(("big.bin".to_string(), noise(999, big)));
    let files = dg_testdata::tree::write(root, small.chain(big)).unwrap();
    fs::create_dir_all(root.join("empty")).unwrap();
    files
}

/// Every regular file under `root` as (relative path, bytes), sorted; eacopy's own state
/// (`.eacopy…`) left out.
pub fn snapshot(root: &Path) -> Vec<(String, Vec<u8>)> {
    dg_testdata::tree::snapshot(root, &[".eacopy"]).unwrap()
}
