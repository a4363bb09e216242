//! Our VCDIFF encoder beside the `xdelta3` crate on the corpus pairs: delta size and encode time
//! at each level, with and without LZMA secondary compression.
//!
//! `DG_CORPUS=target/corpus cargo bench -p dg-adapters --features xdelta3 --bench vcdiff_vs_xdelta3`
//! (build the corpus with `bench/make-corpus.sh`). `DG_BENCH_RUNS` runs per cell (default 3, the
//! best is reported); `DG_BENCH_LEVELS` the levels to try (default `1,3,6,9`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Cursor;
use std::time::{Duration, Instant};

#[path = "../../dg-vcdiff/tests/common/mod.rs"]
mod common;

use dg_adapters::engine::Xdelta3LibEngine;
use dg_ports::DiffEngine;
use dg_vcdiff::{encode, EncodeOptions, Secondary};

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
    let pairs = common::corpus_pairs("vcdiff_vs_xdelta3").expect("set DG_CORPUS to the corpus");
    for (older, newer) in pairs {
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
