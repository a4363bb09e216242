//! The `dg` binary end to end on a local directory store: what a new user does first.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use dg_testdata::{edit, noise};
use sha2::{Digest, Sha256};

struct Env {
    _dir: tempfile::TempDir,
    store: PathBuf,
    work: PathBuf,
}

impl Env {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("store");
        let work = dir.path().join("work");
        std::fs::create_dir_all(&work).unwrap();
        let env = Env {
            _dir: dir,
            store,
            work,
        };
        env.ok(&["mb", "s3://releases"]);
        env
    }

    fn dg(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_dg"))
            .args(args)
            .env(
                "AWS_ENDPOINT_URL",
                format!("file://{}", self.store.display()),
            )
            .env_remove("DG_LOG_LEVEL")
            .current_dir(&self.work)
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.dg(args);
        assert!(
            out.status.success(),
            "dg {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn fail(&self, args: &[&str]) -> String {
        let out = self.dg(args);
        assert!(!out.status.success(), "dg {args:?} should fail");
        String::from_utf8(out.stderr).unwrap()
    }

    fn write(&self, name: &str, data: &[u8]) -> PathBuf {
        let p = self.work.join(name);
        std::fs::write(&p, data).unwrap();
        p
    }

    fn stored(&self, key: &str) -> PathBuf {
        self.store.join("releases").join(key)
    }
}

fn sha(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn flip(path: &Path, at: usize) {
    let mut data = std::fs::read(path).unwrap();
    let i = at.min(data.len() - 1);
    data[i] ^= 0x01;
    // keep the metadata xattr: rewrite in place
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|mut f| {
            use std::io::Write;
            f.write_all(&data)
        })
        .unwrap();
}

fn releases(n: usize) -> Vec<Vec<u8>> {
    dg_testdata::releases(noise(7, 400_000), n, 0, 8)
}

#[test]
fn store_list_restore_delete() {
    let env = Env::new();
    let files = releases(3);
    for (i, data) in files.iter().enumerate() {
        let path = env.write(&format!("app-1.{i}.zip"), data);
        let out = env.ok(&["cp", path.to_str().unwrap(), "s3://releases/app/"]);
        assert!(
            out.contains(&format!("s3://releases/app/app-1.{i}.zip")),
            "{out}"
        );
    }
    assert!(env.stored("app/reference.bin").is_file());
    assert!(env.stored("app/app-1.2.zip.delta").is_file());

    let ls = env.ok(&["ls", "s3://releases/app/"]);
    for i in 0..3 {
        assert!(ls.contains(&format!("app-1.{i}.zip")), "{ls}");
    }
    assert!(
        !ls.contains("reference.bin") && !ls.contains(".delta"),
        "{ls}"
    );
    assert!(ls.contains("400000"), "original sizes are shown: {ls}");
    let summary = env.ok(&["ls", "--summarize", "-h", "s3://releases/app/"]);
    assert!(summary.contains("Total Objects: 3"), "{summary}");

    // download into a directory and to an explicit file name
    std::fs::create_dir_all(env.work.join("out")).unwrap();
    env.ok(&["cp", "s3://releases/app/app-1.2.zip", "out/"]);
    assert_eq!(
        sha(&std::fs::read(env.work.join("out/app-1.2.zip")).unwrap()),
        sha(&files[2])
    );
    env.ok(&["cp", "s3://releases/app/app-1.0.zip", "first.zip"]);
    assert_eq!(std::fs::read(env.work.join("first.zip")).unwrap(), files[0]);

    let verify = env.ok(&["verify", "s3://releases/app/"]);
    assert!(verify.contains("4 ok, 0 failed"), "{verify}");

    env.ok(&["rm", "s3://releases/app/app-1.0.zip"]);
    env.ok(&["rm", "s3://releases/app/app-1.1.zip"]);
    let last = env.ok(&["rm", "s3://releases/app/app-1.2.zip"]);
    assert!(
        last.contains("reference.bin"),
        "the last delete removes the reference: {last}"
    );
    assert!(!env.stored("app").exists());
}

#[test]
fn a_corrupt_delta_or_reference_fails_the_download_and_leaves_nothing() {
    let env = Env::new();
    let files = releases(2);
    for (i, data) in files.iter().enumerate() {
        let path = env.write(&format!("v{i}.zip"), data);
        env.ok(&["cp", path.to_str().unwrap(), "s3://releases/c/"]);
    }
    let delta = env.stored("c/v1.zip.delta");
    let len = std::fs::metadata(&delta).unwrap().len() as usize;
    flip(&delta, len / 2);
    let err = env.fail(&["cp", "s3://releases/c/v1.zip", "restored.zip"]);
    assert!(
        err.contains("s3://releases/c/v1.zip.delta"),
        "names the object: {err}"
    );
    assert_eq!(err.lines().count(), 1, "one clear line: {err}");
    assert!(
        std::fs::read_dir(&env.work).unwrap().all(|e| !e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .contains("restored")),
        "nothing at the destination"
    );
    let verify = env.dg(&["verify", "s3://releases/c/"]);
    assert!(!verify.status.success());
    let stderr = String::from_utf8_lossy(&verify.stderr);
    assert!(
        stderr.contains("FAILED  s3://releases/c/v1.zip.delta"),
        "{stderr}"
    );
    flip(&delta, len / 2); // restore

    let reference = env.stored("c/reference.bin");
    flip(&reference, 1000);
    let err = env.fail(&["cp", "s3://releases/c/v1.zip", "restored.zip"]);
    assert!(
        err.contains("s3://releases/c/reference.bin") && err.lines().count() == 1,
        "{err}"
    );
    assert!(!env.work.join("restored.zip").exists());
    let verify = String::from_utf8(env.dg(&["verify", "s3://releases/c/"]).stderr).unwrap();
    assert!(
        verify.contains("FAILED  s3://releases/c/reference.bin"),
        "{verify}"
    );
}

#[test]
fn errors_are_one_clear_line() {
    let env = Env::new();
    let missing = env.fail(&["cp", "s3://releases/none.zip", "x"]);
    assert!(
        missing.contains("not found") && missing.lines().count() == 1,
        "{missing}"
    );
    let no_bucket = env.fail(&["ls", "s3://nope/"]);
    assert!(no_bucket.contains("bucket nope not found"), "{no_bucket}");
    // keys under the bucket's own .deltaglider/ are dg's state
    let state = env.write("settings", b"x");
    let err = env.fail(&["cp", state.to_str().unwrap(), "s3://releases/.deltaglider/"]);
    assert!(err.contains("reserved"), "{err}");
    // No endpoint and no credentials: S3 is meant, and the error says how to configure it.
    let home = tempfile::tempdir().unwrap();
    let mut no_credentials = Command::new(env!("CARGO_BIN_EXE_dg"));
    for (key, _) in std::env::vars() {
        if key.starts_with("AWS_") || key.starts_with("DG_") {
            no_credentials.env_remove(key);
        }
    }
    let no_credentials = no_credentials
        .args(["ls"])
        .env("HOME", home.path())
        .output()
        .unwrap();
    assert!(!no_credentials.status.success());
    let text = String::from_utf8_lossy(&no_credentials.stderr);
    assert!(
        text.contains("AWS_ACCESS_KEY_ID") && text.contains("--endpoint-url file://"),
        "{text}"
    );
    let usage = env.dg(&["cp"]);
    assert_eq!(usage.status.code(), Some(2), "usage errors exit 2");
}

#[test]
fn stdin_and_stdout() {
    let env = Env::new();
    let data = noise(3, 10_000);
    let mut child = Command::new(env!("CARGO_BIN_EXE_dg"))
        .args(["cp", "-", "s3://releases/s/data.bin"])
        .env(
            "AWS_ENDPOINT_URL",
            format!("file://{}", env.store.display()),
        )
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(&data).unwrap();
    assert!(child.wait().unwrap().success());
    let out = env.dg(&["cp", "s3://releases/s/data.bin", "-"]);
    assert!(out.status.success());
    assert_eq!(out.stdout, data);
}

/// The acceptance run over real releases: set DG_CORPUS to the folder built by
/// `shared/bench/make-corpus.sh` (CI does).
#[test]
fn botocore_wheels_round_trip_and_shrink() {
    let Some(corpus) = std::env::var_os("DG_CORPUS") else {
        eprintln!("DG_CORPUS not set: skipping the corpus run");
        return;
    };
    let dir = Path::new(&corpus).join("botocore");
    let mut wheels: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    wheels.sort();
    assert_eq!(wheels.len(), 5, "the corpus has 5 botocore wheels");
    let env = Env::new();
    let mut total = 0u64;
    for w in &wheels {
        total += std::fs::metadata(w).unwrap().len();
        env.ok(&["cp", w.to_str().unwrap(), "s3://releases/botocore/"]);
    }
    let stored: u64 = std::fs::read_dir(env.stored("botocore"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    eprintln!(
        "botocore: {total} bytes stored as {stored} bytes ({:.1}%)",
        100.0 * stored as f64 / total as f64
    );
    for w in &wheels {
        let name = w.file_name().unwrap().to_str().unwrap();
        env.ok(&["cp", &format!("s3://releases/botocore/{name}"), "back/"]);
        assert_eq!(
            sha(&std::fs::read(env.work.join("back").join(name)).unwrap()),
            sha(&std::fs::read(w).unwrap())
        );
    }
}

#[test]
fn two_processes_share_one_encrypted_cache() {
    let env = Env::new();
    let files = releases(3);
    for (i, data) in files.iter().enumerate() {
        let path = env.write(&format!("r{i}.zip"), data);
        env.ok(&["cp", path.to_str().unwrap(), "s3://releases/cache/"]);
    }
    let cache_dir = env.work.join("cache");
    let key = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="; // base64 of 32 bytes
    let spawn = |name: &str, out: &str| {
        Command::new(env!("CARGO_BIN_EXE_dg"))
            .args(["cp", &format!("s3://releases/cache/{name}"), out])
            .env(
                "AWS_ENDPOINT_URL",
                format!("file://{}", env.store.display()),
            )
            .env("DG_CACHE_DIR", &cache_dir)
            .env("DG_CACHE_ENCRYPTION_KEY", key)
            .current_dir(&env.work)
            .output()
    };
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| spawn("r1.zip", "a.zip").unwrap());
        let b = s.spawn(|| spawn("r2.zip", "b.zip").unwrap());
        (a.join().unwrap(), b.join().unwrap())
    });
    assert!(a.status.success() && b.status.success(), "{a:?} {b:?}");
    assert_eq!(std::fs::read(env.work.join("a.zip")).unwrap(), files[1]);
    assert_eq!(std::fs::read(env.work.join("b.zip")).unwrap(), files[2]);
    let entries: Vec<_> = std::fs::read_dir(&cache_dir)
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "ref"))
        .collect();
    assert_eq!(entries.len(), 1, "one reference cached once");
    let third = spawn("r0.zip", "c.zip").unwrap();
    assert!(third.status.success());
    assert_eq!(std::fs::read(env.work.join("c.zip")).unwrap(), files[0]);
    let info = Command::new(env!("CARGO_BIN_EXE_dg"))
        .args(["cache", "info"])
        .env("DG_CACHE_DIR", &cache_dir)
        .env("DG_CACHE_ENCRYPTION_KEY", key)
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&info.stdout).contains("entries: 1"),
        "{info:?}"
    );
}

#[test]
fn delta_commands_on_plain_files_with_every_engine() {
    let env = Env::new();
    let base = noise(21, 300_000);
    let reference = env.write("app-1.0.bin", &base);
    let next = edit(&base, 22, 10);
    let target = env.write("app-1.1.bin", &next);
    let (r, t) = (reference.to_str().unwrap(), target.to_str().unwrap());
    for engine in ["vcdiff", "lzma", "zstd", "rsync"] {
        let delta = format!("app.{engine}");
        let said = env.ok(&["delta", "encode", "--engine", engine, r, t, &delta]);
        assert!(said.starts_with(engine), "{said}");
        assert!(std::fs::metadata(env.work.join(&delta)).unwrap().len() < 30_000);
        // Found from the magic bytes, and named outright.
        env.ok(&["delta", "decode", r, &delta, "out-magic"]);
        env.ok(&[
            "delta",
            "decode",
            "--engine",
            engine,
            r,
            &delta,
            "out-named",
        ]);
        for out in ["out-magic", "out-named"] {
            assert!(
                std::fs::read(env.work.join(out)).unwrap() == next,
                "{engine} {out}"
            );
        }
    }
    // The wrong engine for a delta fails and leaves no output; an unknown one lists the names.
    let err = env.fail(&[
        "delta",
        "decode",
        "--engine",
        "zstd",
        r,
        "app.vcdiff",
        "wrong",
    ]);
    assert!(!env.work.join("wrong").exists(), "{err}");
    let err = env.fail(&[
        "delta",
        "decode",
        "--engine",
        "nope",
        r,
        "app.vcdiff",
        "wrong",
    ]);
    assert!(
        err.contains("unknown engine `nope`") && err.contains("vcdiff, lzma, zstd, rsync"),
        "{err}"
    );
    let err = env.fail(&["delta", "decode", r, t, "wrong"]);
    assert!(err.contains("not a delta in a format dg reads"), "{err}");
}
