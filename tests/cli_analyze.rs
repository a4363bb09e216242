//! `dg analyze` through the real binary: its estimate against what `dg cp -r` really stores,
//! on generated releases, on a plain prefix, and (with DG_CORPUS) on real releases.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::Path;

use dg_testdata::noise;
use serde_json::Value;
use support::{write, Env};

mod support;

/// `dg analyze --json`: the deltaspace records by name, and the summary.
fn analyze(env: &Env, args: &[&str]) -> (BTreeMap<String, Value>, Value) {
    let mut all = vec!["analyze"];
    all.extend_from_slice(args);
    let records = env.json(&all);
    let (summary, spaces) = records.split_last().unwrap();
    assert_eq!(summary["type"], "summary", "{records:?}");
    let spaces = spaces
        .iter()
        .map(|r| {
            assert_eq!(r["type"], "deltaspace", "{r}");
            (r["deltaspace"].as_str().unwrap().to_string(), r.clone())
        })
        .collect();
    (spaces, summary.clone())
}

/// What `dg ls --summarize` says is stored under a prefix, references included.
fn stored(env: &Env, url: &str) -> u64 {
    let records = env.json(&["ls", "-r", "--summarize", url]);
    let summary = records.last().unwrap();
    assert_eq!(summary["type"], "summary", "{records:?}");
    summary["stored_size"].as_u64().unwrap()
}

/// Eight releases that drift apart (each a few edits from the one before), notes that are not
/// delta-eligible, and a file at the root.
fn releases(root: &Path) {
    for (i, data) in dg_testdata::releases(noise(7, 400_000), 8, 69, 40)
        .iter()
        .enumerate()
    {
        write(&root.join(format!("app/app-2.{i}.zip")), data);
    }
    for i in 0..4 {
        write(
            &root.join(format!("docs/notes-{i}.txt")),
            format!("release notes {i}\n")
                .repeat(100 + i as usize)
                .as_bytes(),
        );
    }
    write(&root.join("README"), b"read me\n");
}

fn u(v: &Value, field: &str) -> u64 {
    v[field]
        .as_u64()
        .unwrap_or_else(|| panic!("{field} in {v}"))
}

#[test]
fn the_estimate_matches_what_an_upload_stores() {
    let env = Env::local(&["rel"]);
    let src = env.path("src");
    releases(&src);

    // every file encoded: the estimate is what dg stores, to the byte
    let (spaces, summary) = analyze(&env, &["src", "--all"]);
    assert_eq!(
        spaces.keys().collect::<Vec<_>>(),
        ["", "app/", "docs/"],
        "{spaces:?}"
    );
    let app = &spaces["app/"];
    assert_eq!(u(app, "files"), 8);
    assert_eq!(u(app, "sampled"), 7);
    assert_eq!(app["exact"], true);
    let docs = &spaces["docs/"];
    assert_eq!(u(docs, "eligible"), 0);
    assert_eq!(u(docs, "estimated_stored_size"), u(docs, "original_size"));
    assert_eq!(summary["exact"], true);
    assert_eq!(u(&summary, "files"), 13);

    env.ok(&["cp", "-r", "src", "s3://rel/all/"]);
    assert_eq!(
        u(&summary, "estimated_stored_size"),
        stored(&env, "s3://rel/all/")
    );
    assert_eq!(
        u(app, "estimated_stored_size"),
        stored(&env, "s3://rel/all/app/")
    );

    // three samples: extrapolated, close to the real figure
    let (spaces, summary) = analyze(&env, &["src", "--samples", "3"]);
    let app = &spaces["app/"];
    assert_eq!(u(app, "sampled"), 3);
    assert_eq!(app["exact"], false);
    assert_eq!(summary["exact"], false);
    let actual = stored(&env, "s3://rel/all/app/") as f64;
    let estimate = u(app, "estimated_stored_size") as f64;
    eprintln!("app/: estimated {estimate} bytes stored, actual {actual}");
    assert!(
        (estimate - actual).abs() / actual < 0.25,
        "estimated {estimate}, stored {actual}"
    );
    assert!(estimate < 0.5 * u(app, "original_size") as f64);

    // the table
    let text = env.ok(&["analyze", "src", "--samples", "1"]);
    for expected in ["deltaspace", "app/", "docs/", "total", "~"] {
        assert!(text.contains(expected), "{expected} missing in:\n{text}");
    }

    // filters, and bad arguments
    let (spaces, _) = analyze(&env, &["src", "--exclude", "docs/*", "--all"]);
    assert!(!spaces.contains_key("docs/"), "{spaces:?}");
    let out = env.dg(&["analyze", "no-such-dir"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_plain_prefix_is_analysed_like_the_same_directory() {
    let env = Env::local(&["rel"]);
    let src = env.path("src");
    releases(&src);
    // a plain prefix: files written straight into the store, without dg metadata
    let plain = env.path("store/rel/plain");
    for entry in ["app", "docs"] {
        for f in std::fs::read_dir(src.join(entry)).unwrap() {
            let f = f.unwrap().path();
            let to = plain.join(entry).join(f.file_name().unwrap());
            write(&to, &std::fs::read(&f).unwrap());
        }
    }
    std::fs::copy(src.join("README"), plain.join("README")).unwrap();
    let (from_dir, dir_summary) = analyze(&env, &["src", "--all"]);
    let (from_prefix, prefix_summary) = analyze(&env, &["s3://rel/plain/", "--all"]);
    assert_eq!(
        from_dir.keys().collect::<Vec<_>>(),
        from_prefix.keys().collect::<Vec<_>>()
    );
    for field in ["files", "original_size", "estimated_stored_size"] {
        assert_eq!(dir_summary[field], prefix_summary[field], "{field}");
    }
}

/// Real releases (CI sets DG_CORPUS), three samples per deltaspace: pip and the two tokio
/// series are encoded whole (exact), botocore's fifth wheel is extrapolated; both are compared
/// with what a real `dg cp -r` stores.
#[test]
fn corpus_estimate_against_the_real_upload() {
    let Some(corpus) = std::env::var_os("DG_CORPUS") else {
        eprintln!("DG_CORPUS not set: skipping the corpus estimate");
        return;
    };
    let corpus = corpus.to_str().unwrap().to_string();
    let env = Env::local(&["rel"]);
    let (spaces, summary) = analyze(&env, &[&corpus, "--exclude", "scipy/*"]);
    // analyze estimates each deltaspace on its own: the upload keeps each prefix to its own
    // reference (with the default scope, tokio-crate/ shares tokio-tar/'s: the same plain form)
    env.ok(&[
        "cp",
        "-r",
        &corpus,
        "s3://rel/corpus/",
        "--exclude",
        "scipy/*",
        "--reference-scope",
        "prefix",
    ]);
    for (name, space) in &spaces {
        let actual = stored(&env, &format!("s3://rel/corpus/{name}"));
        let estimate = u(space, "estimated_stored_size");
        eprintln!(
            "{name}: {} files, {} bytes, estimated {estimate} stored, actual {actual} ({:+.1}%)",
            u(space, "files"),
            u(space, "original_size"),
            100.0 * (estimate as f64 / actual as f64 - 1.0)
        );
        if space["exact"] == true {
            assert_eq!(estimate, actual, "{name}");
        } else {
            assert!(
                (estimate as f64 / actual as f64 - 1.0).abs() < 0.10,
                "{name}: estimated {estimate}, stored {actual}"
            );
        }
    }
    assert_eq!(spaces["botocore/"]["exact"], false);
    assert_eq!(spaces["pip/"]["exact"], true);
    let actual = stored(&env, "s3://rel/corpus/");
    eprintln!(
        "total: estimated {} stored, actual {actual}",
        u(&summary, "estimated_stored_size")
    );
}
