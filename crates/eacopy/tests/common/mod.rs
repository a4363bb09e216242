//! Helpers shared by the integration tests: deterministic trees and tree comparison.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs;
use std::path::{Path, PathBuf};

/// Deterministic pseudo-random bytes (xorshift), incompressible.
pub fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// A small tree: `n` files in a few subdirectories plus one larger file; returns file paths.
pub fn make_tree(root: &Path, n: usize, big: usize) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for i in 0..n {
        let dir = root.join(format!("d{}/e{}", i % 4, i % 3));
        fs::create_dir_all(&dir).unwrap();
        let p = dir.join(format!("f{i}.bin"));
        fs::write(&p, noise(i as u64, 100 + i * 37)).unwrap();
        files.push(p);
    }
    let p = root.join("big.bin");
    fs::write(&p, noise(999, big)).unwrap();
    files.push(p);
    fs::create_dir_all(root.join("empty")).unwrap();
    files
}

/// Every regular file under `root` as (relative path, bytes), sorted.
pub fn snapshot(root: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let ft = e.file_type().unwrap();
            let rel = e
                .path()
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if rel.starts_with(".eacopy") {
                continue;
            }
            if ft.is_dir() {
                stack.push(e.path());
            } else if ft.is_file() {
                out.push((rel, fs::read(e.path()).unwrap()));
            }
        }
    }
    out.sort();
    out
}
