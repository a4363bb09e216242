//! What the `dg` binary says when S3 refuses or cannot be reached: wrong credentials, a missing
//! bucket, an unreachable endpoint. Each is one line on stderr, exit status 1, and nothing is
//! left behind in the bucket.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::{Command, Output};

use dg_adapters::testing::{S3TestServer, ACCESS_KEY, SECRET_KEY};

/// An in-process S3 server with one bucket, `releases`, and a work directory.
struct Env {
    server: S3TestServer,
    _runtime: tokio::runtime::Runtime,
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Self {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let server = runtime.block_on(S3TestServer::start());
        let env = Env {
            server,
            _runtime: runtime,
            dir: tempfile::tempdir().unwrap(),
        };
        let out = env.dg(&env.server.endpoint(), SECRET_KEY, &["mb", "s3://releases"]);
        assert!(out.status.success(), "{}", stderr(&out));
        env
    }

    /// Runs `dg` against `endpoint` with the test access key and `secret`.
    fn dg(&self, endpoint: &str, secret: &str, args: &[&str]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_dg"));
        for (key, _) in std::env::vars() {
            if key.starts_with("AWS_") || key.starts_with("DG_") {
                cmd.env_remove(key);
            }
        }
        cmd.args(args)
            .env("AWS_ENDPOINT_URL", endpoint)
            .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", secret)
            .env("AWS_REGION", "us-east-1")
            .env("HOME", self.dir.path())
            .env("DG_CACHE_DIR", self.dir.path().join("cache"))
            .current_dir(self.dir.path());
        cmd.output().unwrap()
    }

    fn good(&self, args: &[&str]) -> Output {
        self.dg(&self.server.endpoint(), SECRET_KEY, args)
    }

    /// Every key under the bucket, as `dg ls -r` lists them (with good credentials).
    fn listing(&self) -> Vec<String> {
        let out = self.good(&["ls", "-r", "s3://releases/"]);
        assert!(out.status.success(), "{}", stderr(&out));
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .filter_map(|l| l.split_whitespace().last().map(str::to_string))
            .collect()
    }

    fn file(&self, name: &str, seed: u8) -> String {
        let data: Vec<u8> = (0..200_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8 ^ seed)
            .collect();
        let path = self.dir.path().join(name);
        std::fs::write(&path, data).unwrap();
        path.display().to_string()
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Exit status 1 and exactly one line on stderr that contains `expected`.
fn one_clear_line(out: &Output, expected: &str) -> String {
    let text = stderr(out);
    assert_eq!(out.status.code(), Some(1), "stderr: {text}");
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one line, got: {text}");
    assert!(lines[0].starts_with("dg: error: "), "{text}");
    assert!(
        lines[0].contains(expected),
        "expected `{expected}` in: {text}"
    );
    assert!(lines[0].len() < 300, "too long to read: {text}");
    lines[0].to_string()
}

#[test]
fn wrong_credentials_fail_in_one_line_and_store_nothing() {
    let env = Env::new();
    let first = env.file("app-1.0.bin", 0);
    // a reference upload with a wrong secret
    let out = env.dg(
        &env.server.endpoint(),
        "not-the-secret",
        &["cp", &first, "s3://releases/app/"],
    );
    one_clear_line(&out, "credentials were refused");
    assert!(env.listing().is_empty(), "{:?}", env.listing());

    // a delta upload with a wrong secret leaves the deltaspace as it was
    let out = env.good(&["cp", &first, "s3://releases/app/"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let before = env.listing();
    let second = env.file("app-1.1.bin", 1);
    let out = env.dg(
        &env.server.endpoint(),
        "not-the-secret",
        &["cp", &second, "s3://releases/app/"],
    );
    one_clear_line(&out, "credentials were refused");
    assert_eq!(env.listing(), before);
    assert_eq!(before, vec!["app/app-1.0.bin".to_string()]);

    // downloads and listings say the same
    let out = env.dg(
        &env.server.endpoint(),
        "not-the-secret",
        &["cp", "s3://releases/app/app-1.0.bin", "restored.bin"],
    );
    one_clear_line(&out, "credentials were refused");
    assert!(!Path::new(&env.dir.path().join("restored.bin")).exists());
    let out = env.dg(
        &env.server.endpoint(),
        "not-the-secret",
        &["ls", "s3://releases/"],
    );
    one_clear_line(&out, "credentials were refused");
}

#[test]
fn a_missing_bucket_fails_in_one_line_with_the_fix() {
    let env = Env::new();
    let first = env.file("app-1.0.bin", 0);
    let out = env.good(&["cp", &first, "s3://no-such-bucket/app/"]);
    let line = one_clear_line(&out, "bucket no-such-bucket not found");
    assert!(line.contains("dg mb s3://no-such-bucket"), "{line}");
    let out = env.good(&["cp", "s3://no-such-bucket/app/app-1.0.bin", "x.bin"]);
    one_clear_line(&out, "not found");
    assert!(!env.dir.path().join("x.bin").exists());
    let out = env.good(&["ls", "s3://no-such-bucket/"]);
    one_clear_line(&out, "no-such-bucket");
    // and nothing appeared where the bucket would be
    let out = env.good(&["ls"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let buckets = String::from_utf8(out.stdout).unwrap();
    assert!(!buckets.contains("no-such-bucket"), "{buckets}");
}

#[test]
fn an_unreachable_endpoint_fails_in_one_line() {
    let env = Env::new();
    // a port nobody listens on: bind one, then let it go
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let first = env.file("app-1.0.bin", 0);
    for args in [
        vec!["cp", first.as_str(), "s3://releases/app/"],
        vec!["cp", "s3://releases/app/app-1.0.bin", "y.bin"],
        vec!["ls", "s3://releases/"],
    ] {
        let out = env.dg(&endpoint, SECRET_KEY, &args);
        let line = one_clear_line(&out, "cannot be reached");
        assert!(line.contains("--endpoint-url"), "{line}");
        // the root cause, once
        assert_eq!(line.matches("Connection refused").count(), 1, "{line}");
    }
    assert!(!env.dir.path().join("y.bin").exists());
    assert!(env.listing().is_empty());
}
