//! The `dg` binary against an S3 server that throttles: 30% of requests answered
//! `503 SlowDown` (seeded), some bodies cut off midway. A 200-file `dg sync` up and down
//! completes, every file byte-identical, with the retries counted in the `--json` summary;
//! with retries turned off the same store fails files with a clear error.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Output;
use std::time::Instant;

use dg_adapters::testing::{S3TestServer, ServerFaults};
use dg_testdata::noise;
use serde_json::Value;
use support::{write, Env};

mod support;

/// An S3 server with the bucket `releases`.
fn s3() -> Env {
    Env::s3(&["releases"])
}

fn server(env: &Env) -> &S3TestServer {
    env.store.server().unwrap()
}

/// `dg ARGS` with extra environment variables.
fn dg(env: &Env, args: &[&str], vars: &[(&str, &str)]) -> Output {
    env.command(args)
        .envs(vars.iter().copied())
        .output()
        .unwrap()
}

/// `files` release archives in deltaspaces of 20 versions each, under `src/`.
fn releases(env: &Env, files: usize) -> Vec<(String, Vec<u8>)> {
    let mut all = Vec::new();
    for space in 0..files.div_ceil(20) {
        let count = 20.min(files - space * 20);
        let series = dg_testdata::releases(noise(space as u64 + 1, 40_000), count, 99, 8);
        for (version, data) in series.into_iter().enumerate() {
            let relative = format!("app{space}/build-{version:02}.zip");
            write(&env.path(&format!("src/{relative}")), &data);
            all.push((relative, data));
        }
    }
    all
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn records(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn summary(out: &Output) -> Value {
    let all = records(out);
    let last = all.last().cloned().unwrap();
    assert_eq!(last["action"], "summary", "{all:?}");
    last
}

fn same_tree(files: &[(String, Vec<u8>)], root: &Path) {
    for (relative, data) in files {
        let got = std::fs::read(root.join(relative)).unwrap();
        assert!(&got == data, "{relative} is byte-identical");
    }
}

#[test]
fn a_200_file_sync_completes_through_30_percent_slowdowns() {
    let env = s3();
    let files = releases(&env, 200);
    let src = env.path("src");
    let src = src.to_str().unwrap();
    // 0.3^12: a request in two million fails 12 times in a row; at 0.3^5 (the default) one
    // of the ~1000 requests of this sync would
    let throttled = ServerFaults {
        slowdown: 0.3,
        seed: 2024,
        ..ServerFaults::default()
    };

    server(&env).set_faults(throttled.clone());
    let started = Instant::now();
    let up = dg(
        &env,
        &[
            "sync",
            src,
            "s3://releases/builds/",
            "--json",
            "--max-attempts",
            "12",
        ],
        &[],
    );
    let up_seconds = started.elapsed().as_secs_f64();
    assert!(up.status.success(), "{}", stderr(&up));
    let s = summary(&up);
    let (requests, slowed) = (server(&env).requests(), server(&env).slowed_down());
    assert_eq!(s["transferred"], 200, "{s}");
    assert_eq!(s["failed"], 0, "{s}");
    let retries = s["retries"].as_u64().unwrap();
    assert!(slowed > 0);
    // every 503 was answered with one more attempt, and counted
    assert!(retries >= slowed, "{retries} retries for {slowed} 503s");
    println!(
        "upload: 200 files, {requests} requests, {slowed} answered 503 SlowDown, \
         {retries} retries reported, {up_seconds:.1} s"
    );

    // down again through the same throttling, a tenth of the bodies also cut off midway
    server(&env).set_faults(ServerFaults {
        cut_bodies: 0.1,
        ..throttled
    });
    let before = (server(&env).requests(), server(&env).slowed_down());
    let started = Instant::now();
    let down = dg(
        &env,
        &["sync", "s3://releases/builds/", "restored", "--json"],
        &[("AWS_MAX_ATTEMPTS", "12")],
    );
    let down_seconds = started.elapsed().as_secs_f64();
    assert!(down.status.success(), "{}", stderr(&down));
    let s = summary(&down);
    assert_eq!(s["transferred"], 200, "{s}");
    let retries = s["retries"].as_u64().unwrap();
    let slowed = server(&env).slowed_down() - before.1;
    assert!(
        retries >= slowed && slowed > 0,
        "{retries} retries for {slowed} 503s"
    );
    println!(
        "download: 200 files, {} requests, {slowed} answered 503 SlowDown, {} bodies cut, \
         {retries} retries reported, {down_seconds:.1} s",
        server(&env).requests() - before.0,
        server(&env).bodies_cut()
    );
    same_tree(&files, &env.path("restored"));

    // everything stored is whole
    server(&env).set_faults(ServerFaults::default());
    let verify = dg(&env, &["verify", "s3://releases/builds/"], &[]);
    assert!(verify.status.success(), "{}", stderr(&verify));
}

#[test]
fn without_retries_throttled_files_fail_with_a_clear_error() {
    let env = s3();
    releases(&env, 20);
    let src = env.path("src");
    server(&env).set_faults(ServerFaults {
        slowdown: 0.3,
        seed: 7,
        ..ServerFaults::default()
    });
    let out = dg(
        &env,
        &[
            "sync",
            src.to_str().unwrap(),
            "s3://releases/builds/",
            "--json",
            "--max-attempts",
            "1",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let s = summary(&out);
    assert!(s["failed"].as_u64().unwrap() > 0, "{s}");
    assert_eq!(s["retries"], 0, "{s}");
    let err = stderr(&out);
    assert!(err.contains("SlowDown"), "{err}");
    assert!(!err.contains("after "), "one attempt: {err}");

    // with the default attempts, one file: each retry is in the --debug log, the count in the
    // file's record (a single copy has no summary)
    server(&env).set_faults(ServerFaults {
        slowdown: 0.5,
        seed: 11,
        ..ServerFaults::default()
    });
    let one = env.path("src/app0/build-00.zip");
    let out = dg(
        &env,
        &[
            "cp",
            one.to_str().unwrap(),
            "s3://releases/one/",
            "--json",
            "--debug",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let record = records(&out).pop().unwrap();
    let retries = record["retries"].as_u64().unwrap();
    let logged = stderr(&out)
        .lines()
        .filter(|l| l.contains("retrying"))
        .count() as u64;
    assert!(retries > 0, "{record}");
    assert_eq!(logged, retries, "{}", stderr(&out));
    let err = stderr(&out);
    println!(
        "{}",
        err.lines().find(|l| l.contains("retrying")).unwrap_or("")
    );

    // the flag is checked
    let out = dg(&env, &["ls", "--max-attempts", "0"], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    server(&env).set_faults(ServerFaults::default());
    let out = dg(&env, &["ls"], &[("AWS_MAX_ATTEMPTS", "zero")]);
    assert!(
        stderr(&out).contains("AWS_MAX_ATTEMPTS"),
        "{}",
        stderr(&out)
    );
}
