//! `--level fast|default|best`, `DG_LEVEL` and the bucket's `level` setting: every level
//! round-trips every file, a higher level never stores more, and bad values are usage errors.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use support::{tree, write, Env};

/// Text-like releases (an SQL dump growing a few rows a day): compressible, similar.
fn releases() -> Vec<Vec<u8>> {
    let mut rows = String::new();
    let mut x = 7u64;
    let mut out = Vec::new();
    for day in 0..3 {
        for i in 0..4000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            rows.push_str(&format!(
                "INSERT INTO orders VALUES ({}, 'customer-{}', {}.{:02}, '2026-12-0{}');\n",
                day * 4000 + i,
                x % 997,
                x % 10_000,
                x % 100,
                day + 1
            ));
        }
        out.push(rows.clone().into_bytes());
    }
    out
}

fn stored(env: &Env, url: &str) -> u64 {
    let out = env.ok(&["ls", "--summarize", url]);
    let line = out
        .lines()
        .find(|l| l.contains("Stored Size:"))
        .unwrap_or_else(|| panic!("no stored size in {out}"));
    line.split_whitespace().nth(2).unwrap().parse().unwrap()
}

#[test]
fn every_level_round_trips_and_higher_levels_store_less() {
    let env = Env::local(&["bkt"]);
    let src = env.path("src");
    for (i, r) in releases().iter().enumerate() {
        write(&src.join(format!("dump-{i}.tar")), r);
    }
    let mut sizes = Vec::new();
    for level in ["fast", "default", "best"] {
        let url = format!("s3://bkt/{level}/");
        for i in 0..3 {
            let file = src.join(format!("dump-{i}.tar"));
            // one reference per prefix, no newer ones as the dumps drift: levels compared alone
            env.ok(&[
                "cp",
                "--level",
                level,
                "--reference-scope",
                "prefix",
                file.to_str().unwrap(),
                &url,
            ]);
        }
        let back = env.path(&format!("back-{level}"));
        env.ok(&["cp", "-r", &url, back.to_str().unwrap()]);
        assert_eq!(tree(&back), tree(&src), "{level}: every file back");
        sizes.push((level, stored(&env, &url)));
    }
    assert!(
        sizes[2].1 <= sizes[1].1 && sizes[1].1 < sizes[0].1,
        "best <= default < fast: {sizes:?}"
    );
}

#[test]
fn the_bucket_setting_and_the_environment_choose_the_level() {
    let env = Env::local(&["bkt"]);
    let src = env.path("src");
    for (i, r) in releases().iter().enumerate().take(1) {
        write(&src.join(format!("dump-{i}.tar")), r);
    }
    let file = src.join("dump-0.tar");
    let file = file.to_str().unwrap();
    // each prefix its own reference (the same file in sibling prefixes would share the first)
    let own = ["--reference-scope", "prefix"];
    env.ok(&[&["cp", "--level", "best", file, "s3://bkt/flag/"][..], &own].concat());
    let mut cmd = env.command(&[&["cp", file, "s3://bkt/env/"][..], &own].concat());
    let out = cmd.env("DG_LEVEL", "best").output().unwrap();
    assert!(out.status.success());
    let shown = env.ok(&["settings", "s3://bkt", "--level", "best"]);
    assert!(shown.contains("level:  best"), "{shown}");
    env.ok(&[&["cp", file, "s3://bkt/setting/"][..], &own].concat());
    env.ok(&[&["cp", "--level", "fast", file, "s3://bkt/fast/"][..], &own].concat());
    let best = stored(&env, "s3://bkt/flag/");
    assert_eq!(stored(&env, "s3://bkt/env/"), best, "DG_LEVEL=best");
    assert_eq!(
        stored(&env, "s3://bkt/setting/"),
        best,
        "the bucket's level"
    );
    assert!(
        stored(&env, "s3://bkt/fast/") > best,
        "--level overrides the bucket"
    );
}

#[test]
fn bad_levels_are_usage_errors_before_any_work() {
    let env = Env::local(&["bkt"]);
    let file = env.path("f.tar");
    write(&file, b"some bytes");
    let out = env.dg(&[
        "cp",
        "--level",
        "max",
        file.to_str().unwrap(),
        "s3://bkt/p/",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("fast"));
    let mut cmd = env.command(&["cp", file.to_str().unwrap(), "s3://bkt/p/"]);
    let out = cmd.env("DG_LEVEL", "11").output().unwrap();
    assert_eq!(out.status.code(), Some(2), "DG_LEVEL=11");
    assert!(env
        .json(&["ls", "-r", "s3://bkt/"])
        .iter()
        .all(|r| r["type"] != "file"));
}
