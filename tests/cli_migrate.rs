//! `dg migrate` through the real binary: a plain prefix into dg storage on a local store and on
//! an S3 server over HTTP, a run killed half-way and resumed, dry runs, filters, prefixes, and
//! the question asked on a terminal.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use dg_ports::{BytesBlob, Location, PutOptions};
use dg_testdata::noise;
use serde_json::Value;
use support::{summary, tree, write, Env};

mod support;

/// The directory of a bucket in the local store.
fn bucket_dir(env: &Env, bucket: &str) -> PathBuf {
    env.store.root().unwrap().join(bucket)
}

/// Writes a plain object (no dg metadata), as another tool would have stored it.
fn put_plain(env: &Env, bucket: &str, key: &str, data: &[u8]) {
    let raw = env.store.raw();
    env.store
        .block_on(raw.put(
            &Location::new(bucket, key),
            BytesBlob::shared(data.to_vec()),
            PutOptions::default(),
        ))
        .unwrap();
}

/// Files under an s3:// prefix as `dg ls -r` shows them: key → original size.
fn listed(env: &Env, url: &str) -> BTreeMap<String, u64> {
    env.json(&["ls", "-r", url])
        .iter()
        .filter(|r| r["type"] == "file")
        .map(|r| {
            (
                r["key"].as_str().unwrap().to_string(),
                r["size"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// A plain prefix: `per_space` similar releases in each of two directories (deltas), text files
/// (stored whole) and a nested file. Returns relative path → content.
fn plain_source(per_space: usize, size: usize) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    for (space, seed) in [("app", 1u64), ("lib/core", 2)] {
        let series = dg_testdata::releases(noise(seed, size), per_space, seed * 100 - 1, 5);
        for (i, data) in series.into_iter().enumerate() {
            files.insert(format!("{space}/release-1.{i:02}.zip"), data);
        }
    }
    for i in 0..3 {
        files.insert(
            format!("docs/note-{i}.txt"),
            format!("note {i}\n").into_bytes(),
        );
    }
    files
}

fn put_source(env: &Env, prefix: &str, files: &BTreeMap<String, Vec<u8>>) {
    for (relative, data) in files {
        put_plain(env, "old", &format!("{prefix}{relative}"), data);
    }
}

/// Downloads `url` and checks every file against `expected`.
fn assert_restores(env: &Env, url: &str, expected: &BTreeMap<String, Vec<u8>>) {
    let out = env.path("restore");
    let _ = std::fs::remove_dir_all(&out);
    env.ok(&["cp", "-r", url, out.to_str().unwrap()]);
    let got = tree(&out);
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>()
    );
    for (name, data) in expected {
        assert!(got[name] == *data, "{name} differs after the migration");
    }
}

/// The objects in a local store's bucket, by key; checks that no file is stored twice (whole
/// and as a delta) and that each deltaspace has at most one reference.
fn assert_no_duplicates(env: &Env, bucket: &str) -> BTreeSet<String> {
    let keys: BTreeSet<String> = tree(&bucket_dir(env, bucket))
        .into_keys()
        .filter(|k| !k.starts_with(".deltaglider/"))
        .collect();
    for key in &keys {
        if let Some(plain) = key.strip_suffix(".delta") {
            assert!(
                !keys.contains(plain),
                "{plain} is stored whole and as a delta"
            );
        }
    }
    keys
}

#[test]
fn a_migration_killed_half_way_finishes_on_the_next_run_without_duplicates_or_losses() {
    let env = Env::local(&["old", "new"]);
    let files = plain_source(25, 200_000);
    put_source(&env, "data/", &files);
    // a run that stores files one at a time, killed once some are stored
    let mut child = env
        .command(&["migrate", "-y", "-j", "1", "s3://old/data/", "s3://new/"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stored = bucket_dir(&env, "new").join("data");
    let started = Instant::now();
    loop {
        let n = if stored.is_dir() {
            tree(&stored).len()
        } else {
            0
        };
        if n >= 8 {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the migration ended before it could be interrupted"
        );
        assert!(started.elapsed() < Duration::from_secs(120), "no progress");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success(), "killed: {status:?}");

    let before = listed(&env, "s3://new/data/");
    assert!(
        !before.is_empty() && before.len() < files.len(),
        "{before:?}"
    );
    for (key, size) in &before {
        let relative = key.strip_prefix("data/").unwrap();
        assert_eq!(files[relative].len() as u64, *size, "{key} is complete");
    }

    // the second run copies exactly the rest
    let records = env.json(&["migrate", "-y", "s3://old/data/", "s3://new/"]);
    let s = summary(&records);
    assert_eq!(s["command"], "migrate");
    assert_eq!(s["failed"], 0);
    assert_eq!(s["skipped"], before.len() as u64, "{s}");
    assert_eq!(s["transferred"], (files.len() - before.len()) as u64, "{s}");
    let copied: BTreeSet<&str> = records
        .iter()
        .filter(|r| r["action"] == "copy")
        .map(|r| r["destination"].as_str().unwrap())
        .collect();
    for key in before.keys() {
        assert!(
            !copied.contains(format!("s3://new/{key}").as_str()),
            "{key} copied twice"
        );
    }

    let after = listed(&env, "s3://new/data/");
    let expected: BTreeMap<String, u64> = files
        .iter()
        .map(|(k, v)| (format!("data/{k}"), v.len() as u64))
        .collect();
    assert_eq!(after, expected);
    let objects = assert_no_duplicates(&env, "new");
    let references: Vec<_> = objects
        .iter()
        .filter(|k| k.ends_with("reference.bin"))
        .collect();
    assert_eq!(
        references,
        ["data/app/reference.bin", "data/lib/core/reference.bin"]
    );
    // the releases became deltas: far less stored than the source
    let deltas = objects.iter().filter(|k| k.ends_with(".delta")).count();
    assert_eq!(deltas, 50, "{objects:?}");
    env.ok(&["verify", "s3://new/data/"]);
    assert_restores(&env, "s3://new/data/", &files);

    // a third run has nothing to do
    let records = env.json(&["migrate", "-y", "s3://old/data/", "s3://new/"]);
    let s = summary(&records);
    assert_eq!(s["transferred"], 0);
    assert_eq!(s["skipped"], files.len() as u64);
}

#[test]
fn dry_run_filters_and_prefixes() {
    let env = Env::local(&["old", "new"]);
    let files = plain_source(3, 50_000);
    put_source(&env, "a/b/data/", &files);

    // both dry-run spellings: counts and files, nothing stored
    for flag in ["--dry-run", "--dryrun"] {
        let text = env.ok(&["migrate", flag, "s3://old/a/b/data/", "s3://new/x/"]);
        assert!(
            text.contains("migrate: 9 files (") && text.contains("0 already there"),
            "{text}"
        );
        assert!(
            text.contains(
                "(dryrun) copy: s3://old/a/b/data/app/release-1.00.zip to s3://new/x/data/app/release-1.00.zip"
            ),
            "{text}"
        );
        assert!(listed(&env, "s3://new/").is_empty());
    }

    // --exclude, and the prefix's last part kept under the destination
    let records = env.json(&[
        "migrate",
        "s3://old/a/b/data/",
        "s3://new/x/",
        "--exclude",
        "docs/*",
    ]);
    assert_eq!(summary(&records)["transferred"], 6);
    let moved = listed(&env, "s3://new/");
    assert_eq!(moved.len(), 6);
    assert!(moved.keys().all(|k| k.starts_with("x/data/")), "{moved:?}");

    // --no-preserve-prefix: straight into the destination prefix
    let records = env.json(&[
        "migrate",
        "--no-preserve-prefix",
        "s3://old/a/b/data/",
        "s3://new/flat/",
    ]);
    let uploads: Vec<&Value> = records.iter().filter(|r| r["action"] == "copy").collect();
    assert_eq!(uploads.len(), 9);
    assert!(uploads.iter().all(|r| r["ok"] == true
        && r["original_size"].as_u64().is_some()
        && r["stored_as"].as_str().is_some()));
    let flat = listed(&env, "s3://new/flat/");
    assert!(flat.contains_key("flat/app/release-1.00.zip"), "{flat:?}");
    assert!(flat.contains_key("flat/docs/note-0.txt"), "{flat:?}");
    assert_restores(&env, "s3://new/flat/", &files);

    // a destination inside the source is refused
    let out = env.dg(&["migrate", "s3://old/a/", "s3://old/a/b/copy/"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("overlap"));
}

#[test]
fn migrates_plain_objects_over_s3_and_a_local_directory() {
    let env = Env::s3(&["old", "new"]);
    let files = plain_source(4, 80_000);
    put_source(&env, "releases/", &files);
    let records = env.json(&[
        "migrate",
        "-y",
        "-j",
        "3",
        "s3://old/releases/",
        "s3://new/",
    ]);
    assert_eq!(summary(&records)["transferred"], files.len() as u64);
    // plain objects are read as they are; uploads became a reference plus deltas
    let stored_as: Vec<&str> = records
        .iter()
        .filter(|r| r["action"] == "copy")
        .map(|r| r["stored_as"].as_str().unwrap())
        .collect();
    assert_eq!(stored_as.iter().filter(|s| **s == "reference").count(), 2);
    assert_eq!(stored_as.iter().filter(|s| **s == "delta").count(), 6);
    env.ok(&["verify", "s3://new/"]);
    assert_restores(&env, "s3://new/releases/", &files);
    let again = env.json(&["migrate", "-y", "s3://old/releases/", "s3://new/"]);
    assert_eq!(summary(&again)["transferred"], 0);

    // a local directory is migrated the same way
    let dir = env.path("archive");
    for (relative, data) in &files {
        write(&dir.join(relative), data);
    }
    let records = env.json(&["migrate", "-y", "archive", "s3://new/"]);
    assert_eq!(summary(&records)["transferred"], files.len() as u64);
    assert_restores(&env, "s3://new/archive/", &files);
}

/// `script` gives the command a terminal, so it asks before copying. Returns success and
/// what the terminal showed.
fn on_a_terminal(env: &Env, args: &str, answer: &str) -> (bool, String) {
    let dg = env!("CARGO_BIN_EXE_dg");
    let mut cmd = Command::new("script");
    env.configure(&mut cmd);
    let mut child = cmd
        .args(["-qec", &format!("{dg} {args}"), "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(answer.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn asks_on_a_terminal_after_showing_the_counts() {
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("`script` (util-linux) is missing: skipping the terminal test");
        return;
    }
    let env = Env::local(&["old", "new"]);
    let files = plain_source(2, 20_000);
    put_source(&env, "data/", &files);
    let (ok, text) = on_a_terminal(&env, "migrate s3://old/data/ s3://new/", "n\n");
    assert!(!ok, "{text}");
    assert!(text.contains("migrate: 7 files ("), "{text}");
    assert!(text.contains("Proceed? [y/N]"), "{text}");
    assert!(text.contains("cancelled"), "{text}");
    assert!(listed(&env, "s3://new/").is_empty());

    let (ok, text) = on_a_terminal(&env, "migrate s3://old/data/ s3://new/", "y\n");
    assert!(ok, "{text}");
    assert_eq!(listed(&env, "s3://new/data/").len(), 7);
    // -y does not ask
    let (ok, text) = on_a_terminal(&env, "migrate -y s3://old/data/ s3://new/", "");
    assert!(ok && !text.contains("Proceed?"), "{text}");
}

#[test]
fn new_commands_have_help_with_examples() {
    let env = Env::local(&["old", "new"]);
    for command in ["migrate", "analyze"] {
        let text = env.ok(&[command, "--help"]);
        assert!(text.contains("Examples:"), "{command}: {text}");
    }
    let text = env.ok(&["migrate", "--help"]);
    for flag in [
        "--dry-run",
        "--yes",
        "--no-preserve-prefix",
        "--exclude",
        "--json",
        "--jobs",
    ] {
        assert!(text.contains(flag), "migrate --help lacks {flag}");
    }
}
