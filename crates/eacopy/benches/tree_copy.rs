//! Tree copy benchmark: a generated tree (10,000 small files + 4 large ones) copied by
//! `cp -r`, `cp -a`, `rsync -a` and eacopy's `copytree`, then through an eacopy server on
//! 127.0.0.1 (first copy, then an unchanged second copy).
//!
//! `cargo bench -p eacopy --bench tree_copy`. Set `EACOPY_BENCH_DIR` to choose the file
//! system (default: the system temp dir), `EACOPY_BENCH_RUNS` for the runs per tool
//! (default 5; the median is reported). Every run writes a fresh copy, so the bench needs
//! about 12 GiB free (7 contenders × 5 runs × 340 MiB); everything is removed at the end.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const SMALL: usize = 10_000;
const LARGE: usize = 4;
const LARGE_SIZE: usize = 64 << 20;

use dg_testdata::noise;

fn generate(src: &Path) -> u64 {
    let small = (0..SMALL).map(|i| {
        let len = 512 + (i * 7919) % 16_384; // 0.5–16.5 KiB
        (
            format!("m{:02}/s{:02}/f{i:05}.dat", i % 20, (i / 20) % 25),
            noise(i as u64, len),
        )
    });
    let large = (0..LARGE).map(|i| {
        (
            format!("large{i}.bin"),
            noise(1_000_000 + i as u64, LARGE_SIZE),
        )
    });
    let files = dg_testdata::tree::write(src, small.chain(large)).unwrap();
    files.iter().map(|p| fs::metadata(p).unwrap().len()).sum()
}

/// Median, fastest and slowest of a set of runs.
fn spread(mut v: Vec<Duration>) -> [Duration; 3] {
    v.sort();
    [v[v.len() / 2], v[0], v[v.len() - 1]]
}

/// One contender: a name and a copy into the given (absent) directory.
type Run<'a> = (String, Box<dyn FnMut(&Path) + 'a>);

/// Runs every contender once per round, rounds interleaved so that a busy moment of the
/// machine hits all of them alike; returns each one's median.
fn race(runs: usize, out: &Path, contenders: &mut [Run<'_>]) -> Vec<(String, [Duration; 3])> {
    let mut times = vec![Vec::new(); contenders.len()];
    fs::create_dir_all(out).unwrap();
    for round in 0..runs {
        for (i, (_, run)) in contenders.iter_mut().enumerate() {
            // A fresh directory per run: deleting 10,000 files between runs costs the file
            // system (journal, discards) more than the copies themselves and blurs the times.
            let dst = out.join(format!("{round}-{i}"));
            sync();
            let t = Instant::now();
            run(&dst);
            times[i].push(t.elapsed());
        }
    }
    let _ = fs::remove_dir_all(out);
    contenders
        .iter()
        .zip(times)
        .map(|((name, _), t)| (name.clone(), spread(t)))
        .collect()
}

fn sync() {
    let _ = Command::new("sync").status();
}

fn tool(name: &str, args: &[&str]) -> impl FnMut(&Path) {
    let (name, args): (String, Vec<String>) =
        (name.into(), args.iter().map(|s| s.to_string()).collect());
    move |out: &Path| {
        let mut cmd = Command::new(&name);
        for a in &args {
            cmd.arg(a.replace("{OUT}", &out.display().to_string()));
        }
        let st = cmd.status().unwrap();
        assert!(st.success(), "{name} failed");
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` asks for a list
    }
    let base = std::env::var_os("EACOPY_BENCH_DIR").map_or_else(std::env::temp_dir, PathBuf::from);
    let runs: usize = std::env::var("EACOPY_BENCH_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5);
    let work = tempfile::tempdir_in(&base).unwrap();
    let src = work.path().join("src");
    let out = work.path().join("out");
    let total = generate(&src);
    sync();
    let src_s = src.display().to_string();
    println!(
        "tree: {SMALL} small files + {LARGE} × {} MiB = {:.1} MiB in {}",
        LARGE_SIZE >> 20,
        total as f64 / 1048576.0,
        base.display()
    );
    println!(
        "{runs} interleaved runs each, median; warm page cache, no fsync; `sync` before each run"
    );

    let has = |t: &str| Command::new(t).arg("--version").output().is_ok();
    let mut contenders: Vec<Run<'_>> = vec![
        (
            "cp -r".into(),
            Box::new(tool("cp", &["-r", &src_s, "{OUT}"])),
        ),
        (
            "cp -a".into(),
            Box::new(tool("cp", &["-a", &src_s, "{OUT}"])),
        ),
    ];
    if has("rsync") {
        let from = format!("{src_s}/");
        contenders.push((
            "rsync -a".into(),
            Box::new(tool("rsync", &["-a", &from, "{OUT}/"])),
        ));
    } else {
        println!("rsync not installed: `apt-get install rsync` to compare");
    }
    for threads in [1, 2, 4, 8] {
        let cfg = eacopy::Config::new().thread_count(threads);
        let src = &src;
        contenders.push((
            format!("eacopy copytree -j{threads} (mode+times)"),
            Box::new(move |o: &Path| {
                eacopy::copytree(src, o, &cfg).unwrap();
            }),
        ));
    }
    let mut rows = race(runs, &out, &mut contenders);
    drop(contenders);

    // Through a server on loopback: a first copy, then the same tree again.
    let root = work.path().join("root");
    fs::create_dir(&root).unwrap();
    let token = eacopy::Token::new(b"benchmark-token-0123456789".to_vec()).unwrap();
    let mut server = eacopy::Server::new(&root, token.clone()).bind("127.0.0.1:0".parse().unwrap());
    let addr = server.start().unwrap();
    let cfg = eacopy::Config::new().thread_count(4).compression_level(1);
    let t = Instant::now();
    let first = eacopy::copy_with_server(&src, &format!("{addr}/t"), &token, &cfg).unwrap();
    rows.push((
        "server, first copy (zstd 1, 4 conns)".into(),
        [t.elapsed(); 3],
    ));
    let t = Instant::now();
    let second = eacopy::copy_with_server(&src, &format!("{addr}/t"), &token, &cfg).unwrap();
    rows.push(("server, unchanged second copy".into(), [t.elapsed(); 3]));
    server.stop().unwrap();

    println!(
        "\n| tool | median (s) | fastest–slowest (s) | MiB/s (median) |\n|---|---:|---:|---:|"
    );
    for (name, [med, lo, hi]) in &rows {
        let rate = total as f64 / 1048576.0 / med.as_secs_f64();
        let (med, lo, hi) = (med.as_secs_f64(), lo.as_secs_f64(), hi.as_secs_f64());
        println!("| {name} | {med:.2} | {lo:.2}–{hi:.2} | {rate:.0} |");
    }
    println!("\nserver first copy: {first}\nserver second copy: {second}");
}
