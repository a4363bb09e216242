//! The end-to-end tests' harness: a store (a local directory or an in-process S3 server), a
//! work directory, `dg` runs against them, and file-tree and `--json` helpers.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use dg_adapters::storage::S3Storage;
use dg_adapters::testing::{S3TestServer, ACCESS_KEY, SECRET_KEY};
use dg_adapters::LocalStorage;
use dg_ports::ObjectStorage;
use serde_json::Value;

/// Where `dg` keeps the objects: a local directory (`file://`) or an S3 server over HTTP.
pub struct Store {
    // the server stops before its runtime
    server: Option<S3TestServer>,
    runtime: tokio::runtime::Runtime,
    endpoint: String,
    root: Option<PathBuf>,
}

impl Store {
    /// A local directory store rooted at `root`.
    pub fn local(root: &Path) -> Self {
        Store {
            server: None,
            runtime: tokio::runtime::Runtime::new().unwrap(),
            endpoint: format!("file://{}", root.display()),
            root: Some(root.to_path_buf()),
        }
    }

    /// A fresh in-process S3 server on 127.0.0.1 that keeps every key exactly as S3 does
    /// (objects in memory; plant raw objects with `server().unwrap().put_raw(…)`).
    pub fn s3_memory() -> Self {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let server = runtime.block_on(S3TestServer::start_in_memory());
        Store {
            endpoint: server.endpoint(),
            server: Some(server),
            runtime,
            root: None,
        }
    }

    /// A fresh in-process S3 server on 127.0.0.1.
    pub fn s3() -> Self {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let server = runtime.block_on(S3TestServer::start());
        Store {
            endpoint: server.endpoint(),
            server: Some(server),
            runtime,
            root: None,
        }
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The S3 server, for fault injection; `None` on a local store.
    pub fn server(&self) -> Option<&S3TestServer> {
        self.server.as_ref()
    }

    /// The local store's directory; `None` on S3.
    pub fn root(&self) -> Option<&Path> {
        self.root.as_deref()
    }

    pub fn block_on<F: Future>(&self, f: F) -> F::Output {
        self.runtime.block_on(f)
    }

    /// The store without dg on top, to see or plant raw objects.
    pub fn raw(&self) -> Arc<dyn ObjectStorage> {
        match (&self.server, &self.root) {
            (Some(server), _) => Arc::new(S3Storage::new(server.config()).unwrap()),
            (None, Some(root)) => Arc::new(LocalStorage::new(root).unwrap()),
            (None, None) => unreachable!("a store is local or S3"),
        }
    }

    /// Points `cmd` (dg, or a program that runs it) at this store, run in `home` (also its
    /// HOME), with no AWS_/DG_ variable of the test's own environment leaking in.
    pub fn configure(&self, cmd: &mut Command, home: &Path) {
        for (key, _) in std::env::vars() {
            if key.starts_with("AWS_") || key.starts_with("DG_") {
                cmd.env_remove(key);
            }
        }
        cmd.env("AWS_ENDPOINT_URL", &self.endpoint)
            .env("HOME", home)
            .current_dir(home);
        if self.server.is_some() {
            cmd.env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
                .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
                .env("AWS_REGION", "us-east-1");
        }
    }

    /// `dg ARGS` against this store, run in `home`, standard input closed.
    pub fn command(&self, home: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new(dg_bin());
        self.configure(&mut cmd, home);
        cmd.args(args).stdin(Stdio::null());
        cmd
    }
}

/// A work directory and a store; the local store lives in `store/` inside the work directory.
pub struct Env {
    pub store: Store,
    dir: tempfile::TempDir,
}

impl Env {
    /// A local store with `buckets` made.
    pub fn local(buckets: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::local(&dir.path().join("store"));
        Env::with(store, dir, buckets)
    }

    /// An in-memory S3 server (any key kept exactly) with `buckets` made.
    pub fn s3_memory(buckets: &[&str]) -> Self {
        Env::with(Store::s3_memory(), tempfile::tempdir().unwrap(), buckets)
    }

    /// An S3 server with `buckets` made.
    pub fn s3(buckets: &[&str]) -> Self {
        Env::with(Store::s3(), tempfile::tempdir().unwrap(), buckets)
    }

    fn with(store: Store, dir: tempfile::TempDir, buckets: &[&str]) -> Self {
        let env = Env { store, dir };
        for bucket in buckets {
            env.ok(&["mb", &format!("s3://{bucket}")]);
        }
        env
    }

    /// A path inside the work directory.
    pub fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    /// Points `cmd` at the store, run in the work directory.
    pub fn configure(&self, cmd: &mut Command) {
        self.store.configure(cmd, self.dir.path());
    }

    /// `dg ARGS` in the work directory, ready to adjust and spawn.
    pub fn command(&self, args: &[&str]) -> Command {
        self.store.command(self.dir.path(), args)
    }

    pub fn dg(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// Runs `dg ARGS`, asserts it succeeded, returns its standard output.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.dg(args);
        assert!(
            out.status.success(),
            "dg {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs `dg ARGS`, asserts it failed, returns its standard error.
    pub fn fail(&self, args: &[&str]) -> String {
        let out = self.dg(args);
        assert!(!out.status.success(), "dg {args:?} should fail");
        String::from_utf8(out.stderr).unwrap()
    }

    /// Runs with `--json` and parses every line.
    pub fn json(&self, args: &[&str]) -> Vec<Value> {
        let mut all = args.to_vec();
        all.push("--json");
        parse_lines(&self.ok(&all))
    }
}

/// The `dg` binary under test: this build's, or `DG_TEST_BIN` (to run a test against another
/// build, e.g. to see a regression test fail on an older one).
pub fn dg_bin() -> PathBuf {
    std::env::var_os("DG_TEST_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_dg")))
}

/// One JSON value per line.
pub fn parse_lines(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// The summary record, checked to be the last line.
pub fn summary(records: &[Value]) -> &Value {
    let last = records.last().unwrap();
    assert_eq!(last["action"], "summary", "{records:?}");
    last
}

/// Writes `data` to `path`, making its directories.
pub fn write(path: &Path, data: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, data).unwrap();
}

/// Every file below `dir`, by `/`-separated relative path.
pub fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().to_str().unwrap().to_string();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    out
}
