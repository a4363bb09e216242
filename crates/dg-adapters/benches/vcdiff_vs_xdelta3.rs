//! Our VCDIFF encoder beside the `xdelta3` crate on the corpus pairs: delta size and encode time
//! at each level, with and without LZMA secondary compression.
//!
//! `DG_CORPUS=target/corpus cargo bench -p dg-adapters --features xdelta3 --bench vcdiff_vs_xdelta3`
//! (build the corpus with `bench/make-corpus.sh`). `DG_BENCH_RUNS` runs per cell (default 3, the
//! best is reported); `DG_BENCH_LEVELS` the levels to try (default `1,3,6,9`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Cursor;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use dg_adapters::engine::vcdiff::{encode, EncodeOptions, Secondary};
use dg_adapters::engine::Xdelta3LibEngine;
use dg_ports::DiffEngine;

fn pairs(root: &PathBuf) -> Vec<(PathBuf, PathBuf)> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root)
        .unwrap_or_else(|e| panic!("corpus {root:?}: {e} (run bench/make-corpus.sh)"))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    let mut out = Vec::new();
    for d in dirs {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&d)
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        out.extend(files.windows(2).map(|w| (w[0].clone(), w[1].clone())));
    }
    out
}

/// Best time of `runs` calls of `f`, and the size it returned.
fn best(runs: usize, mut f: impl FnMut() -> usize) -> (Duration, usize) {
    let mut best = Duration::MAX;
    let mut size = 0;
    for _ in 0..runs {
        let t = Instant::now();
        size = f();
        best = best.min(t.elapsed());
    }
    (best, size)
}

fn main() {
    let root = PathBuf::from(std::env::var("DG_CORPUS").unwrap_or_else(|_| "target/corpus".into()));
    let runs: usize = std::env::var("DG_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let levels: Vec<u32> = std::env::var("DG_BENCH_LEVELS")
        .unwrap_or_else(|_| "1,3,6,9".into())
        .split(',')
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    println!("| pair | target | encoder | delta | vs crate | encode ms | vs crate |");
    println!("|---|---:|---|---:|---:|---:|---:|");
    for (older, newer) in pairs(&root) {
        let (a, b) = (
            std::fs::read(&older).unwrap(),
            std::fs::read(&newer).unwrap(),
        );
        let name = format!(
            "{} → {}",
            older.file_name().unwrap().to_string_lossy(),
            newer.file_name().unwrap().to_string_lossy()
        );
        let (ct, cs) = best(runs, || {
            let mut d = Vec::new();
            Xdelta3LibEngine
                .encode(&a, &mut Cursor::new(&b), &mut d)
                .unwrap();
            d.len()
        });
        let row = |enc: &str, t: Duration, s: usize| {
            println!(
                "| {name} | {} | {enc} | {s} | {:+.1}% | {} | {:.2}× |",
                b.len(),
                (s as f64 / cs as f64 - 1.0) * 100.0,
                t.as_millis(),
                t.as_secs_f64() / ct.as_secs_f64()
            );
        };
        row("xdelta3 crate", ct, cs);
        for &level in &levels {
            for secondary in [Secondary::None, Secondary::Lzma] {
                let opts = EncodeOptions {
                    level,
                    secondary,
                    ..EncodeOptions::default()
                };
                let (t, s) = best(runs, || {
                    let mut d = Vec::new();
                    encode(&a, &mut Cursor::new(&b), &mut d, &opts).unwrap();
                    d.len()
                });
                row(&format!("dg level {level} {secondary:?}"), t, s);
            }
        }
    }
}
