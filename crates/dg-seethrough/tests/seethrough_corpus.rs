//! Real-corpus round trip: every file in $DG_CORPUS (built by bench/make-corpus.sh) must rebuild byte-exactly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::time::Instant;

use dg_seethrough::{expand, rebuild, ExpandOptions};

const SERIES: &[(&str, &str)] = &[
    ("botocore", "whl"),
    ("pip", "whl"),
    ("scipy", "whl"),
    ("tokio-crate", "crate"),
];

#[test]
fn corpus_roundtrip() {
    let root =
        PathBuf::from(std::env::var("DG_CORPUS").unwrap_or_else(|_| "corpus-not-set".into()));
    if !root.is_dir() {
        assert!(
            std::env::var_os("DG_REQUIRE_TOOLS").is_none(),
            "DG_REQUIRE_TOOLS is set but the corpus {} is missing",
            root.display()
        );
        eprintln!(
            "\n*** SKIPPED corpus_roundtrip: corpus directory {} not found (set DG_CORPUS) ***\n",
            root.display()
        );
        return;
    }
    let opts = ExpandOptions {
        self_check: false,
        ..Default::default()
    };
    let mut files = 0;
    println!(
        "{:<58} {:>10} {:>7} {:>6} {:>5} {:>4} {:>11} {:>8} {:>8} {:>8} {:>8}",
        "file",
        "size",
        "streams",
        "repro",
        "part",
        "raw",
        "plain",
        "recipe",
        "corr",
        "exp MB/s",
        "reb MB/s"
    );
    for (dir, ext) in SERIES {
        let d = root.join(dir);
        let Ok(rd) = std::fs::read_dir(&d) else {
            eprintln!("*** SKIPPED series {dir}: {} missing ***", d.display());
            continue;
        };
        let mut paths: Vec<PathBuf> = rd
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == *ext))
            .collect();
        paths.sort();
        for p in paths {
            let input = std::fs::read(&p).unwrap();
            let (mut plain, mut recipe) = (Vec::new(), Vec::new());
            let t = Instant::now();
            let stats = expand(&input, &mut plain, &mut recipe, &opts)
                .unwrap()
                .unwrap_or_else(|| panic!("{} not expanded", p.display()));
            let te = t.elapsed().as_secs_f64();
            let t = Instant::now();
            let mut out = Vec::with_capacity(input.len());
            let n = rebuild(&plain, &recipe, &mut out, input.len() as u64).unwrap();
            let tr = t.elapsed().as_secs_f64();
            assert_eq!(n, input.len() as u64);
            assert!(out == input, "{} not byte-identical", p.display());
            files += 1;
            let mb = input.len() as f64 / 1e6;
            println!(
                "{:<58} {:>10} {:>7} {:>6} {:>5} {:>4} {:>11} {:>8} {:>8} {:>8.2} {:>8.2}",
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .chars()
                    .take(58)
                    .collect::<String>(),
                input.len(),
                stats.streams,
                stats.reproduced,
                stats.partial,
                stats.kept_raw,
                stats.plain_len,
                stats.recipe_len,
                stats.corrections_len,
                mb / te,
                mb / tr
            );
        }
    }
    println!("{files} corpus files rebuilt byte-identically");
}
