//! The `dg` binary and bucket-level choices: `mb --format`, `dg settings`, `rb` of a bucket that
//! holds only dg's housekeeping, and a gzip file that cannot be seen through (the fallback says
//! so under `--debug`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::path::Path;

use support::Env;

mod support;

/// Writes `data` to NAME in the work directory; returns its path.
fn put_file(env: &Env, name: &str, data: &[u8]) -> String {
    let path = env.path(name);
    std::fs::write(&path, data).unwrap();
    path.display().to_string()
}

/// The size of an object as the local store holds it.
fn stored(env: &Env, bucket_and_key: &str) -> u64 {
    std::fs::metadata(env.store.root().unwrap().join(bucket_and_key))
        .unwrap_or_else(|e| panic!("{bucket_and_key}: {e}"))
        .len()
}

/// A day of a text dump: `rows` lines, row `changed` different.
fn dump(rows: u32, changed: u32) -> Vec<u8> {
    let mut text = Vec::new();
    for i in 0..rows {
        let tag = if i == changed { "edited" } else { "stable" };
        writeln!(
            text,
            "INSERT INTO t VALUES ({i}, 'row {tag} {}', {});",
            i * 7,
            i % 97
        )
        .unwrap();
    }
    text
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

fn same_file(a: &Path, b: &Path) {
    assert!(
        std::fs::read(a).unwrap() == std::fs::read(b).unwrap(),
        "{} and {} differ",
        a.display(),
        b.display()
    );
}

#[test]
fn bucket_format_decides_new_deltaspaces_and_is_shown() {
    let env = Env::local(&[]);
    env.ok(&["mb", "s3://shared", "--format", "compat"]);
    let shown = env.ok(&["settings", "s3://shared"]);
    assert!(shown.contains("format: compat"), "{shown}");

    let day1 = gzip(&dump(20_000, 5));
    let day2 = gzip(&dump(20_000, 9_000));
    let a = put_file(&env, "day1.sql.gz", &day1);
    let b = put_file(&env, "day2.sql.gz", &day2);
    env.ok(&["cp", &a, "s3://shared/old/"]);
    env.ok(&["cp", &b, "s3://shared/old/"]);
    // compat: the reference is the first file as it is (what Python deltaglider reads)
    assert_eq!(stored(&env, "shared/old/reference.bin"), day1.len() as u64);

    let json = env.ok(&["settings", "s3://shared", "--format", "native", "--json"]);
    let record: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(record["format"], "native");
    env.ok(&["cp", &a, "s3://shared/new/"]);
    env.ok(&["cp", &b, "s3://shared/new/"]);
    // native: the reference is the plaintext, compressed harder than gzip -6
    let native_ref = stored(&env, "shared/new/reference.bin");
    assert!(
        native_ref < day1.len() as u64,
        "native reference {native_ref} vs gzip {}",
        day1.len()
    );
    // the old deltaspace kept its format: a third file there is still a compat delta
    let day3 = gzip(&dump(20_000, 12_000));
    let c = put_file(&env, "day3.sql.gz", &day3);
    env.ok(&["cp", &c, "s3://shared/old/"]);
    assert_eq!(stored(&env, "shared/old/reference.bin"), day1.len() as u64);

    for (prefix, name, local) in [
        ("old", "day1.sql.gz", &a),
        ("old", "day2.sql.gz", &b),
        ("old", "day3.sql.gz", &c),
        ("new", "day1.sql.gz", &a),
        ("new", "day2.sql.gz", &b),
    ] {
        let back = env.path(&format!("back-{prefix}-{name}"));
        env.ok(&[
            "cp",
            &format!("s3://shared/{prefix}/{name}"),
            back.to_str().unwrap(),
        ]);
        same_file(&back, Path::new(local));
    }

    // a missing bucket is an error, not "no settings"
    let out = env.dg(&["settings", "s3://no-such-bucket"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not found"));
}

#[test]
fn gzip_that_cannot_be_seen_through_falls_back_and_says_so_under_debug() {
    let env = Env::local(&[]);
    env.ok(&["mb", "s3://dumps"]);
    // a gzip header, then bytes that are not a valid deflate stream
    let mut broken = gzip(b"header only")[..10].to_vec();
    let mut x: u32 = 12345;
    broken.extend((0..100_000).map(|_| {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        x as u8
    }));
    let mut later = broken.clone();
    later[50_000] ^= 0xff;
    let a = put_file(&env, "a.gz", &broken);
    let b = put_file(&env, "b.gz", &later);
    env.ok(&["cp", &a, "s3://dumps/x/"]);
    let out = env.dg(&["--debug", "cp", &b, "s3://dumps/x/"]);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("fallback: not seen through"), "{log}");
    assert!(
        log.contains("none of the compressed streams could be recreated"),
        "{log}"
    );
    // without --debug the fallback is quiet
    let out = env.dg(&["cp", &b, "s3://dumps/y/"]);
    assert!(out.status.success());
    assert!(!String::from_utf8_lossy(&out.stderr).contains("fallback"));
    // and the delta is small: the fallback deltas the bytes as they are
    assert!(stored(&env, "dumps/x/b.gz.delta") < 2_000);
    for (key, local) in [("x/a.gz", &a), ("x/b.gz", &b)] {
        let back = env.path(&format!("back-{}", key.replace('/', "-")));
        env.ok(&["cp", &format!("s3://dumps/{key}"), back.to_str().unwrap()]);
        same_file(&back, Path::new(local));
    }
}

#[test]
fn rb_removes_a_bucket_with_only_housekeeping_and_refuses_one_with_files() {
    let env = Env::local(&[]);
    env.ok(&["mb", "s3://scratch", "--format", "native"]);
    let f = put_file(&env, "f.bin", &dump(1_000, 1));
    env.ok(&["cp", &f, "s3://scratch/app/"]);
    env.ok(&["stats", "s3://scratch"]);
    let out = env.dg(&["rb", "s3://scratch"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not empty") && err.contains("dg rm -r"),
        "{err}"
    );
    assert!(env.store.root().unwrap().join("scratch/app").exists());

    env.ok(&["rm", "-r", "s3://scratch/"]);
    // settings and cached stats are left: they are dg's own, so rb deletes them
    assert!(env
        .store
        .root()
        .unwrap()
        .join("scratch/.deltaglider")
        .exists());
    env.ok(&["rb", "s3://scratch"]);
    assert!(!env.store.root().unwrap().join("scratch").exists());
}
