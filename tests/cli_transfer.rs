//! The `dg` binary moving many files: `cp -r`, `sync`, `rm -r`, filters, `--json`, exit codes,
//! on a local directory store and on an S3 server over HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::time::{Duration, SystemTime};

use dg_testdata::{edit, noise};
use serde_json::Value;
use support::{parse_lines, summary, tree, write, Env};

mod support;

/// Every object key in the bucket `releases`, as the store holds them (references too).
fn raw_keys(env: &Env) -> Vec<String> {
    use dg_ports::ObjectStorageExt;
    let raw = env.store.raw();
    env.store
        .block_on(raw.list_all("releases", ""))
        .unwrap()
        .into_iter()
        .map(|o| o.location.key)
        .collect()
}

/// Per-file records of one action.
fn of<'a>(records: &'a [Value], action: &str) -> Vec<&'a Value> {
    records.iter().filter(|r| r["action"] == action).collect()
}

/// Sets a file's modification time `secs` seconds in the past.
fn age(path: &Path, secs: u64) {
    let t = SystemTime::now() - Duration::from_secs(secs);
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(t)
        .unwrap();
}

/// Three similar releases in each of two deltaspaces, small text files, a nested directory.
fn sample_tree(root: &Path) {
    for (space, seed) in [("app", 1u64), ("lib/core", 2)] {
        let mut data = noise(seed, 300_000);
        for i in 0..3 {
            write(
                &root.join(format!(
                    "{space}/{space_name}-1.{i}.zip",
                    space_name = space.replace('/', "-")
                )),
                &data,
            );
            data = edit(&data, seed * 10 + i, 6);
        }
    }
    for i in 0..5 {
        write(
            &root.join(format!("docs/note-{i}.txt")),
            format!("note {i}\n").as_bytes(),
        );
    }
    write(&root.join("logs/run.log"), b"log line\n");
    write(&root.join("logs/keep.log"), b"keep me\n");
    write(&root.join("top.tmp"), b"scratch");
}

fn cp_round_trip(env: &Env) {
    let src = env.path("src");
    sample_tree(&src);
    let records = env.json(&["cp", "-r", "src", "s3://releases/tree/", "-j", "4"]);
    let uploads = of(&records, "upload");
    assert_eq!(uploads.len(), 14, "{records:?}");
    assert!(uploads.iter().all(|r| r["ok"] == true));
    // one reference per deltaspace even with 4 jobs: the first file went first
    for space in ["tree/app/", "tree/lib/core/"] {
        let kinds: Vec<&str> = uploads
            .iter()
            .filter(|r| r["destination"].as_str().unwrap().contains(space))
            .map(|r| r["stored_as"].as_str().unwrap())
            .collect();
        assert_eq!(
            kinds.iter().filter(|k| **k == "reference").count(),
            1,
            "{space}: {kinds:?}"
        );
        assert_eq!(
            kinds.iter().filter(|k| **k == "delta").count(),
            2,
            "{space}: {kinds:?}"
        );
    }
    assert!(
        uploads.iter().all(|r| r.get("notes").is_none()),
        "no lost reference races: {uploads:?}"
    );
    let s = summary(&records);
    assert_eq!(s["transferred"], 14);
    assert_eq!(s["failed"], 0);
    assert!(
        s["stored_bytes"].as_u64().unwrap() < s["bytes"].as_u64().unwrap() / 2,
        "{s}"
    );

    // what it costs, exactly, then from the cache while nothing changed
    let original: u64 = tree(&src).values().map(|v| v.len() as u64).sum();
    let stats = &env.json(&["stats", "s3://releases/tree/", "--detailed"])[0];
    assert_eq!(stats["files"], 14, "{stats}");
    assert_eq!(stats["deltas"], 6, "{stats}");
    assert_eq!(stats["deltaspaces"], 2, "{stats}");
    assert_eq!(stats["original_size"], original, "{stats}");
    assert_eq!(stats["cached"], false);
    let again = &env.json(&["stats", "s3://releases/tree/", "--detailed"])[0];
    assert_eq!(again["cached"], true, "{again}");
    assert_eq!(again["original_size"], original);

    // and back, into a directory that does not exist yet (text output this time)
    let out = env.ok(&["cp", "--recursive", "s3://releases/tree", "back"]);
    assert_eq!(
        out.lines().filter(|l| l.starts_with("download: ")).count(),
        14,
        "{out}"
    );
    assert!(out.contains("cp: 14 copied"), "{out}");
    assert_eq!(
        tree(&env.path("back")),
        tree(&src),
        "byte-identical round trip"
    );
}

#[test]
fn cp_recursive_round_trip_on_a_local_store() {
    let env = Env::local(&["releases"]);
    cp_round_trip(&env);
    // no progress bar or log noise when stderr is not a terminal
    let again = env.dg(&["cp", "-r", "src", "s3://releases/again/", "-q"]);
    assert!(again.status.success());
    assert!(
        again.stdout.is_empty() && again.stderr.is_empty(),
        "{again:?}"
    );
}

#[test]
fn cp_recursive_round_trip_over_s3() {
    cp_round_trip(&Env::s3(&["releases"]));
}

#[test]
fn exclude_and_include_apply_in_order_and_the_last_match_wins_on_a_local_store() {
    filters(&Env::local(&["releases"]));
}

#[test]
fn exclude_and_include_apply_in_order_and_the_last_match_wins_over_s3() {
    filters(&Env::s3(&["releases"]));
}

fn filters(env: &Env) {
    sample_tree(&env.path("src"));
    let keys = |prefix: &str| -> Vec<String> {
        env.json(&["ls", "-r", &format!("s3://releases/{prefix}/")])
            .iter()
            .filter(|r| r["type"] == "file")
            .map(|r| {
                r["key"]
                    .as_str()
                    .unwrap()
                    .trim_start_matches(&format!("{prefix}/"))
                    .to_string()
            })
            .collect()
    };
    env.ok(&[
        "cp",
        "-r",
        "src",
        "s3://releases/zips/",
        "--exclude",
        "*",
        "--include",
        "*.zip",
    ]);
    let zips = keys("zips");
    assert_eq!(zips.len(), 6, "{zips:?}");
    assert!(zips.iter().all(|k| k.ends_with(".zip")));

    // reversed: the later exclude wins over the include
    let out = env.json(&[
        "cp",
        "-r",
        "src",
        "s3://releases/none/",
        "--include",
        "*.zip",
        "--exclude",
        "*",
    ]);
    assert_eq!(summary(&out)["transferred"], 0);

    env.ok(&[
        "cp",
        "-r",
        "src",
        "s3://releases/some/",
        "--exclude",
        "logs/*",
        "--include",
        "logs/keep.*",
        "--exclude",
        "*.tmp",
    ]);
    let some = keys("some");
    assert!(some.contains(&"logs/keep.log".to_string()), "{some:?}");
    assert!(!some.contains(&"logs/run.log".to_string()), "{some:?}");
    assert!(!some.iter().any(|k| k.ends_with(".tmp")), "{some:?}");
    assert_eq!(some.len(), 14 - 2, "{some:?}");

    // downloads filter on the path below the prefix too
    env.ok(&[
        "cp",
        "-r",
        "s3://releases/some/",
        "docs-only",
        "--exclude",
        "*",
        "--include",
        "docs/*",
    ]);
    let got = tree(&env.path("docs-only"));
    assert_eq!(got.len(), 5, "{:?}", got.keys());
    assert!(got.keys().all(|k| k.starts_with("docs/")));

    // a bad glob is a usage error
    let bad = env.dg(&["cp", "-r", "src", "s3://releases/x/", "--exclude", "[oops"]);
    assert_eq!(bad.status.code(), Some(2), "{bad:?}");
}

#[test]
fn rm_recursive_dry_run_leaves_everything_then_deletes_references_too_on_a_local_store() {
    rm_recursive(&Env::local(&["releases"]));
}

#[test]
fn rm_recursive_dry_run_leaves_everything_then_deletes_references_too_over_s3() {
    rm_recursive(&Env::s3(&["releases"]));
}

fn rm_recursive(env: &Env) {
    sample_tree(&env.path("src"));
    env.ok(&["cp", "-r", "src", "s3://releases/t/"]);
    let before = raw_keys(env);
    for flag in ["--dryrun", "--dry-run"] {
        let out = env.ok(&["rm", "-r", "s3://releases/t/", flag]);
        assert_eq!(
            out.lines()
                .filter(|l| l.starts_with("(dryrun) delete: "))
                .count(),
            14,
            "{out}"
        );
        assert_eq!(raw_keys(env), before, "a dry run changes nothing");
    }
    let planned = env.json(&["rm", "-r", "s3://releases/t/", "--dryrun"]);
    assert_eq!(summary(&planned)["deleted"], 14);
    assert!(of(&planned, "delete").iter().all(|r| r["dryrun"] == true));

    // filters choose what goes
    let records = env.json(&[
        "rm",
        "-r",
        "s3://releases/t/",
        "--exclude",
        "*",
        "--include",
        "docs/*",
    ]);
    assert_eq!(summary(&records)["deleted"], 5);
    let keys = raw_keys(env);
    assert!(!keys.iter().any(|k| k.starts_with("t/docs/")), "{keys:?}");
    assert!(keys.iter().any(|k| k == "t/app/reference.bin"), "{keys:?}");

    let out = env.ok(&["rm", "-r", "s3://releases/t"]);
    assert!(
        out.contains("reference.bin"),
        "the last delta takes its reference: {out}"
    );
    let left: Vec<_> = raw_keys(env)
        .into_iter()
        .filter(|k| k.starts_with("t/"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    assert!(env.json(&["ls", "-r", "s3://releases/t/"]).is_empty());
}

fn sync_with_delete(env: &Env) {
    let src = env.path("src");
    sample_tree(&src);
    let first = env.json(&["sync", "src", "s3://releases/s/"]);
    assert_eq!(summary(&first)["transferred"], 14);
    let again = env.json(&["sync", "src", "s3://releases/s/"]);
    assert_eq!(summary(&again)["transferred"], 0, "{again:?}");
    assert_eq!(summary(&again)["skipped"], 14);

    std::fs::remove_file(src.join("docs/note-0.txt")).unwrap();
    std::fs::remove_file(src.join("app/app-1.0.zip")).unwrap();
    std::fs::remove_file(src.join("top.tmp")).unwrap();
    // without --delete nothing goes; with it, excluded files stay
    let kept = env.json(&["sync", "src", "s3://releases/s/"]);
    assert_eq!(summary(&kept)["deleted"], 0);
    let dry = env.json(&[
        "sync",
        "src",
        "s3://releases/s/",
        "--delete",
        "--dry-run",
        "--exclude",
        "*.tmp",
    ]);
    assert_eq!(summary(&dry)["deleted"], 2);
    let records = env.json(&[
        "sync",
        "src",
        "s3://releases/s/",
        "--delete",
        "--exclude",
        "*.tmp",
    ]);
    assert_eq!(summary(&records)["deleted"], 2, "{records:?}");
    let listed: Vec<String> = env
        .json(&["ls", "-r", "s3://releases/s/"])
        .iter()
        .filter_map(|r| r["key"].as_str().map(str::to_string))
        .collect();
    assert!(
        listed.contains(&"s/top.tmp".to_string()),
        "excluded: kept {listed:?}"
    );
    assert!(
        !listed.contains(&"s/docs/note-0.txt".to_string()),
        "{listed:?}"
    );
    assert!(
        !listed.contains(&"s/app/app-1.0.zip".to_string()),
        "{listed:?}"
    );
    // the reference stays: app-1.1 and app-1.2 still need it
    env.ok(&["cp", "s3://releases/s/app/app-1.2.zip", "check.zip"]);
    assert_eq!(
        std::fs::read(env.path("check.zip")).unwrap(),
        std::fs::read(src.join("app/app-1.2.zip")).unwrap()
    );

    // download direction: a mirror, then a second run with nothing to do
    let down = env.json(&["sync", "s3://releases/s/", "mirror"]);
    assert_eq!(summary(&down)["transferred"], 12);
    let down_again = env.json(&["sync", "s3://releases/s/", "mirror"]);
    assert_eq!(
        summary(&down_again)["transferred"],
        0,
        "downloads got the objects' times: {down_again:?}"
    );
    write(&env.path("mirror/stray.txt"), b"not in the bucket");
    let cleaned = env.json(&["sync", "s3://releases/s/", "mirror", "--delete"]);
    assert_eq!(summary(&cleaned)["deleted"], 1);
    assert!(!env.path("mirror/stray.txt").exists());
    let mut expected = tree(&src);
    expected.insert("top.tmp".into(), b"scratch".to_vec());
    assert_eq!(tree(&env.path("mirror")), expected);
}

#[test]
fn sync_delete_on_a_local_store() {
    sync_with_delete(&Env::local(&["releases"]));
}

#[test]
fn sync_delete_over_s3() {
    sync_with_delete(&Env::s3(&["releases"]));
}

/// The acceptance run: 1,000 small files plus larger similar files (and part of the corpus when
/// DG_CORPUS is set), synced; 3 files changed; the second sync transfers exactly those 3.
#[test]
fn second_sync_of_a_thousand_files_transfers_exactly_the_three_changed() {
    let env = Env::local(&["releases"]);
    let src = env.path("big");
    for i in 0..1000 {
        write(
            &src.join(format!("small/{:02}/f{i:04}.txt", i % 10)),
            format!("small file {i}\n").as_bytes(),
        );
    }
    let mut release = noise(9, 200_000);
    for i in 0..4 {
        write(&src.join(format!("releases/r-{i}.tar")), &release);
        release = edit(&release, 90 + i, 10);
    }
    // The corpus's smaller series (the large wheels already run in cli_local; debug builds
    // see through zips slowly).
    if let Some(corpus) = std::env::var_os("DG_CORPUS") {
        for series in ["pip", "tokio-crate"] {
            for e in std::fs::read_dir(Path::new(&corpus).join(series)).unwrap() {
                let p = e.unwrap().path();
                let name = p.file_name().unwrap().to_str().unwrap().to_string();
                write(&src.join(series).join(name), &std::fs::read(&p).unwrap());
            }
        }
    }
    let total = tree(&src).len();
    // Files made well before the upload: object times have one-second resolution on S3.
    for name in tree(&src).keys() {
        age(&src.join(name), 3600);
    }
    let first = env.json(&["sync", "big", "s3://releases/big/"]);
    assert_eq!(summary(&first)["transferred"], total as u64);

    write(&src.join("small/03/f0003.txt"), b"small file 3, edited\n"); // new size
    write(&src.join("small/07/f0517.txt"), b"small file 999\n"); // same size, newer
    let mut changed = std::fs::read(src.join("releases/r-2.tar")).unwrap();
    changed[1000] ^= 0xff;
    write(&src.join("releases/r-2.tar"), &changed);

    let second = env.json(&["sync", "big", "s3://releases/big/"]);
    let s = summary(&second);
    assert_eq!(s["transferred"], 3, "{s}");
    assert_eq!(s["skipped"], total as u64 - 3, "{s}");
    let mut sent: Vec<&str> = of(&second, "upload")
        .iter()
        .map(|r| r["source"].as_str().unwrap())
        .collect();
    sent.sort();
    assert_eq!(
        sent,
        [
            "big/releases/r-2.tar",
            "big/small/03/f0003.txt",
            "big/small/07/f0517.txt"
        ]
    );
    let delta = of(&second, "upload")
        .into_iter()
        .find(|r| r["source"] == "big/releases/r-2.tar")
        .unwrap();
    assert_eq!(delta["stored_as"], "delta", "{delta}");
    // a file stored whole says why, for people and for machines
    let whole = of(&second, "upload")
        .into_iter()
        .find(|r| r["source"] == "big/small/03/f0003.txt")
        .unwrap();
    assert_eq!(whole["stored_as"], "direct", "{whole}");
    assert_eq!(whole["reason"], "not a delta-eligible file type", "{whole}");
    assert_eq!(whole["reason_code"], "not_eligible", "{whole}");

    let third = env.json(&["sync", "big", "s3://releases/big/", "--size-only"]);
    assert_eq!(summary(&third)["transferred"], 0);
}

#[test]
fn failed_files_are_named_the_rest_goes_on_and_usage_errors_exit_2() {
    let env = Env::local(&["releases"]);
    sample_tree(&env.path("src"));
    // a name that is not UTF-8 cannot become a key: that one file fails
    {
        use std::os::unix::ffi::OsStrExt;
        let name = std::ffi::OsStr::from_bytes(b"bad-\xff.bin");
        write(&env.path("src/app").join(name), b"not allowed");
    }
    let out = env.dg(&["cp", "-r", "src", "s3://releases/f/", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("dg: failed: upload src/app/bad-"),
        "{stderr}"
    );
    assert!(stderr.contains("1 of 15 files failed"), "{stderr}");
    let records = parse_lines(&String::from_utf8_lossy(&out.stdout));
    let failed: Vec<_> = records.iter().filter(|r| r["ok"] == false).collect();
    assert_eq!(failed.len(), 1, "{records:?}");
    assert!(
        failed[0]["error"].as_str().unwrap().contains("not UTF-8"),
        "{failed:?}"
    );
    assert_eq!(summary(&records)["transferred"], 14);
    assert_eq!(summary(&records)["failed"], 1);

    for usage in [
        &["sync", "src", "elsewhere"][..],
        &["cp", "-r", "src/top.tmp", "s3://releases/x/"],
        &["cp", "src", "s3://releases/x/"],
        &["rm", "s3://releases/f/"],
        &["cp", "--exclude", "*", "src/top.tmp", "s3://releases/x/"],
        &["sync", "src", "s3://releases/x/", "-j", "0"],
        &["sync", "src", "s3://releases/x/", "--no-such-flag"],
    ] {
        let out = env.dg(usage);
        assert_eq!(out.status.code(), Some(2), "{usage:?}: {out:?}");
    }
    let missing = env.dg(&["sync", "src", "s3://no-such-bucket/x/"]);
    assert_eq!(missing.status.code(), Some(1));
    let text = String::from_utf8_lossy(&missing.stderr);
    assert_eq!(
        text.lines().count(),
        1,
        "one error, not one per file: {text}"
    );
}

#[test]
fn ls_and_single_file_commands_speak_json_on_a_local_store() {
    single_file_commands_speak_json(&Env::local(&["releases"]));
}

#[test]
fn ls_and_single_file_commands_speak_json_over_s3() {
    single_file_commands_speak_json(&Env::s3(&["releases"]));
}

fn single_file_commands_speak_json(env: &Env) {
    write(&env.path("a.zip"), &noise(4, 50_000));
    let up = env.json(&["cp", "a.zip", "s3://releases/j/"]);
    assert_eq!(up.len(), 1);
    assert_eq!(up[0]["action"], "upload");
    assert_eq!(up[0]["original_size"], 50_000);
    let listed = env.json(&["ls", "s3://releases/", "--summarize"]);
    assert_eq!(listed[0]["type"], "prefix");
    assert_eq!(listed[0]["prefix"], "j/");
    assert_eq!(listed.last().unwrap()["type"], "summary");
    let files = env.json(&["ls", "-r", "s3://releases/j/"]);
    assert_eq!(files.len(), 1);
    assert_eq!(files[0]["key"], "j/a.zip");
    assert_eq!(files[0]["size"], 50_000);
    assert_eq!(env.json(&["ls"])[0]["name"], "releases");
    let down = env.json(&["cp", "s3://releases/j/a.zip", "b.zip"]);
    assert_eq!(down[0]["action"], "download");
    assert_eq!(down[0]["verified"], true);
    let dry = env.json(&["rm", "s3://releases/j/a.zip", "--dry-run"]);
    assert_eq!(dry[0]["dryrun"], true);
    let gone = env.json(&["rm", "s3://releases/j/a.zip"]);
    assert_eq!(gone[0]["action"], "delete");
    assert_eq!(gone[0]["removed"][0], "s3://releases/j/a.zip.delta");
}

#[test]
fn purge_deletes_expired_temporary_files_and_old_orphan_references() {
    use dg_adapters::LocalStorage;
    use dg_ports::{BytesBlob, Location, ObjectStorage, PutOptions};

    let env = Env::local(&["releases"]);
    let root = env.store.root().unwrap().to_path_buf();
    let store = LocalStorage::new(root.clone()).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    // what Python deltaglider's rehydration leaves behind
    for (name, expires) in [
        ("old_a.zip", Some("2000-01-01T00:00:00.000001+00:00")),
        ("old_b.zip", Some("2001-01-01T00:00:00")),
        ("new.zip", Some("2999-01-01T00:00:00+00:00")),
        ("unmarked.zip", None),
    ] {
        let mut options = PutOptions::default();
        if let Some(at) = expires {
            options.metadata.insert("dg-expires-at".into(), at.into());
        }
        runtime
            .block_on(store.put(
                &Location::new("releases", format!(".deltaglider/tmp/{name}")),
                BytesBlob::shared(vec![7u8; 1000]),
                options,
            ))
            .unwrap();
    }
    let tmp = root.join("releases/.deltaglider/tmp");
    let dry = env.json(&["purge", "s3://releases", "--dry-run"]);
    assert_eq!(summary(&dry)["deleted"], 2, "{dry:?}");
    assert_eq!(
        std::fs::read_dir(&tmp).unwrap().count(),
        4,
        "a dry run deletes nothing"
    );
    let out = env.ok(&["purge", "releases"]);
    assert!(out.contains("deleted 2 leftovers"), "{out}");
    let mut left: Vec<_> = std::fs::read_dir(&tmp)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    left.sort();
    assert_eq!(left, ["new.zip", "unmarked.zip"]);
    let again = env.json(&["purge", "s3://releases"]);
    assert_eq!(summary(&again)["deleted"], 0);
    assert_eq!(summary(&again)["kept"], 2);

    // An orphan reference: its only delta removed behind dg's back (as an upload killed between
    // the reference and its first delta leaves it). A second deltaspace, of other content (so
    // it does not share a/'s reference), stays in use.
    let data = noise(5, 100_000);
    let other = noise(6, 100_000);
    write(&env.path("a/v1.bin"), &data);
    write(&env.path("b/v1.bin"), &other);
    write(&env.path("b/v2.bin"), &edit(&other, 3, 10));
    env.ok(&["cp", "a/v1.bin", "s3://releases/a/"]);
    env.ok(&["cp", "-r", "b", "s3://releases/b/"]);
    std::fs::remove_file(root.join("releases/a/v1.bin.delta")).unwrap();
    let verify = env.json(&["verify", "s3://releases/"]);
    let s = summary(&verify);
    assert_eq!(
        (
            s["failed"].as_u64(),
            s["orphan_references"].as_u64(),
            s["temp_files"].as_u64()
        ),
        (Some(0), Some(1), Some(2)),
        "{verify:?}"
    );
    assert_eq!(
        of(&verify, "orphan")[0]["object"],
        "s3://releases/a/reference.bin"
    );
    let text = env.ok(&["verify", "s3://releases/"]);
    assert!(
        text.contains("`dg purge s3://releases` deletes them"),
        "{text}"
    );

    // Within the grace period nothing goes; with none, the orphan and the unmarked file go.
    assert_eq!(summary(&env.json(&["purge", "releases"]))["deleted"], 0);
    let purged = env.json(&["purge", "releases", "--older-than", "0"]);
    let mut gone: Vec<&str> = of(&purged, "delete")
        .iter()
        .map(|r| r["target"].as_str().unwrap())
        .collect();
    gone.sort();
    assert_eq!(
        gone,
        [
            "s3://releases/.deltaglider/tmp/unmarked.zip",
            "s3://releases/a/reference.bin"
        ]
    );
    assert!(!root.join("releases/a/reference.bin").exists());
    let clean = summary(&env.json(&["verify", "s3://releases/"])).clone();
    assert_eq!(clean["orphan_references"], 0, "{clean}");
    assert_eq!(clean["ok"], 3, "{clean}");
    env.ok(&["cp", "s3://releases/b/v2.bin", "out.bin"]);
    assert_eq!(
        std::fs::read(env.path("out.bin")).unwrap(),
        edit(&other, 3, 10)
    );
}

#[test]
fn stats_modes_and_the_cache_on_a_local_store() {
    stats_modes_and_the_cache(&Env::local(&["releases"]));
}

#[test]
fn stats_modes_and_the_cache_over_s3() {
    stats_modes_and_the_cache(&Env::s3(&["releases"]));
}

fn stats_modes_and_the_cache(env: &Env) {
    sample_tree(&env.path("src"));
    env.ok(&["cp", "-r", "src", "s3://releases/st/"]);
    let quick = &env.json(&["stats", "s3://releases/st/"])[0];
    assert_eq!(quick["mode"], "quick");
    assert_eq!(quick["deltas_of_unknown_size"], 6, "{quick}");
    assert!(quick["savings"].is_null(), "{quick}");
    let sampled = &env.json(&["stats", "releases/st/", "--sampled"])[0];
    assert_eq!(sampled["estimated"], true);
    assert_eq!(sampled["deltas_of_unknown_size"], 0);
    let detailed = &env.json(&["stats", "s3://releases/st/", "--detailed"])[0];
    assert!(detailed["savings"].as_f64().unwrap() > 0.4, "{detailed}");
    let text = env.ok(&["stats", "s3://releases/st/", "--detailed"]);
    assert!(
        text.contains("cached from") && text.contains("deltaspaces:    2"),
        "{text}"
    );
    // a new file changes the listing: recomputed
    write(&env.path("more.txt"), b"more");
    env.ok(&["cp", "more.txt", "s3://releases/st/docs/"]);
    let fresh = &env.json(&["stats", "s3://releases/st/", "--detailed"])[0];
    assert_eq!(fresh["cached"], false);
    assert_eq!(fresh["files"], 15);
    assert_eq!(
        env.json(&["stats", "s3://releases/st/", "--detailed", "--refresh"])[0]["cached"],
        false
    );
    assert_eq!(
        env.json(&["stats", "s3://releases/st/", "--sampled", "--no-cache"])[0]["cached"],
        false
    );
    let sampled = |extra: &[&str]| {
        let mut args = vec!["stats", "s3://releases/st/", "--sampled"];
        args.extend_from_slice(extra);
        env.json(&args)[0]["cached"].clone()
    };
    assert_eq!(sampled(&[]), false, "--no-cache wrote nothing");
    assert_eq!(sampled(&[]), true);
    assert_eq!(sampled(&["--no-cache"]), false, "--no-cache reads nothing");
    // the cache is internal: listings and copies never see it
    let listed = env.json(&["ls", "-r", "s3://releases/"]);
    assert!(listed
        .iter()
        .all(|r| !r["key"].as_str().unwrap_or("").contains(".deltaglider")));
}

/// The commands the tests above do not drive, on one store: bucket settings, verify, purge,
/// analyze, and making and removing a bucket.
fn bucket_and_housekeeping_commands(env: &Env) {
    env.ok(&["mb", "s3://scratch-bucket"]);
    let buckets: Vec<Value> = env.json(&["ls"]);
    let names: Vec<&str> = buckets.iter().filter_map(|b| b["name"].as_str()).collect();
    assert_eq!(names, ["releases", "scratch-bucket"]);
    env.ok(&["settings", "s3://scratch-bucket", "--format", "compat"]);
    let shown = env.ok(&["settings", "s3://scratch-bucket"]);
    assert!(shown.contains("compat"), "{shown}");

    sample_tree(&env.path("src"));
    env.ok(&["cp", "-r", "src", "s3://releases/hk/"]);
    let verified = env.json(&["verify", "s3://releases/hk/"]);
    let s = summary(&verified);
    assert_eq!(
        (s["failed"].as_u64(), s["orphan_references"].as_u64()),
        (Some(0), Some(0)),
        "{s}"
    );
    assert!(s["ok"].as_u64().unwrap() >= 14, "{s}");
    let purge = env.json(&["purge", "s3://releases", "--dryrun"]);
    assert_eq!(summary(&purge)["deleted"], 0);

    let analysed = env.json(&["analyze", "s3://releases/hk/"]);
    let total = analysed.last().unwrap();
    assert!(total["files"].as_u64().unwrap() >= 14, "{total}");

    let refused = env.dg(&["rb", "s3://releases"]);
    assert_eq!(refused.status.code(), Some(1));
    env.ok(&["rb", "s3://scratch-bucket"]);
    let names: Vec<String> = env
        .json(&["ls"])
        .iter()
        .filter_map(|b| b["name"].as_str().map(String::from))
        .collect();
    assert_eq!(names, ["releases"]);
}

#[test]
fn bucket_and_housekeeping_commands_on_a_local_store() {
    bucket_and_housekeeping_commands(&Env::local(&["releases"]));
}

#[test]
fn bucket_and_housekeeping_commands_over_s3() {
    bucket_and_housekeeping_commands(&Env::s3(&["releases"]));
}

#[test]
fn a_reader_that_goes_away_ends_dg_quietly() {
    let env = Env::local(&["releases"]);
    for i in 0..50 {
        write(&env.path(&format!("many/f{i:02}.txt")), b"x");
    }
    env.ok(&["cp", "-r", "many", "s3://releases/many/", "-q"]);
    // `dg ls | head -0`: the reader closes the pipe before dg writes.
    let mut child = env
        .command(&["ls", "s3://releases/many/"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}
