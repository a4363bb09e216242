//! `dg cp` killed with SIGKILL at 20 points of an upload (half into a fresh deltaspace, half
//! overwriting every file with a new build), on a local directory store and on an S3 server
//! over HTTP: after each kill every listed object downloads byte-identical to a source (the
//! new build or the one it replaces), `verify` finds nothing broken, and a rerun completes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use dg::{Client, ListObjects};
use dg_adapters::testing::{ACCESS_KEY, SECRET_KEY};
use dg_testdata::{edit, noise};
use support::Store;

mod support;

/// Kills per store.
const KILLS: usize = 20;

/// A store the `dg` binary and the in-test client both reach.
struct Target {
    client: Client,
    store: Store,
}

impl Target {
    fn local(dir: &Path) -> Self {
        let root = dir.join("store");
        Target {
            client: Client::builder().local_dir(&root).build().unwrap(),
            store: Store::local(&root),
        }
    }

    fn s3() -> Self {
        let store = Store::s3();
        let client = Client::builder()
            .endpoint(store.endpoint())
            .region("us-east-1")
            .credentials(ACCESS_KEY, SECRET_KEY, None)
            .build()
            .unwrap();
        Target { client, store }
    }

    /// `dg ARGS`, ready to spawn, with everything it writes locally inside `work`.
    fn dg(&self, work: &Path, args: &[&str]) -> Command {
        let tmp = work.join("tmp");
        std::fs::create_dir_all(&tmp).unwrap();
        let mut cmd = self.store.command(work, args);
        cmd.env("TMPDIR", &tmp)
            .env("DG_TMPDIR", &tmp)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        cmd
    }

    fn ok(&self, work: &Path, args: &[&str]) {
        let out = self.dg(work, args).output().unwrap();
        assert!(
            out.status.success(),
            "dg {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Every object listed under `prefix`, rebuilt, by file name.
    fn listed(&self, prefix: &str) -> BTreeMap<String, Vec<u8>> {
        self.store.block_on(async {
            let mut all = BTreeMap::new();
            let mut request = ListObjects::new("releases").prefix(prefix);
            loop {
                let page = self.client.list_objects(&request).await.unwrap();
                for o in &page.objects {
                    let body = self
                        .client
                        .get_object("releases", &o.key)
                        .await
                        .unwrap_or_else(|e| panic!("{} is listed but cannot be read: {e}", o.key));
                    let name = o.key.strip_prefix(prefix).unwrap().to_string();
                    all.insert(name, body.to_vec().unwrap());
                }
                match page.next_continuation_token.clone() {
                    Some(token) => request = request.continuation_token(Some(token)),
                    None => break,
                }
            }
            let report = self.client.verify("releases", prefix).await.unwrap();
            assert!(report.is_ok(), "verify after a kill: {:?}", report.failed);
            all
        })
    }
}

/// Three versions of a release large enough to take a while (and go multipart on S3), and a
/// small text file; `round` 1 edits every file of round 0 (a new build of the same names).
fn sources(dir: &Path, round: u64) -> BTreeMap<String, Vec<u8>> {
    let [v1, v2, v3]: [Vec<u8>; 3] = dg_testdata::releases(noise(11, 24 << 20), 3, 4, 64)
        .try_into()
        .unwrap();
    let mut files = BTreeMap::from([
        ("app-1.0.bin".to_string(), v1),
        ("app-1.1.bin".to_string(), v2),
        ("app-1.2.bin".to_string(), v3),
        ("notes.txt".to_string(), b"release notes\n".to_vec()),
    ]);
    if round > 0 {
        for (seed, data) in files.values_mut().enumerate() {
            *data = edit(data, 100 * round + seed as u64, 64);
        }
    }
    std::fs::create_dir_all(dir).unwrap();
    for (name, data) in &files {
        std::fs::write(dir.join(name), data).unwrap();
    }
    files
}

/// A deterministic sequence in [0, 1).
struct Points(u64);

impl Points {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn kill_and_rerun(store: &Target, work: &Path) {
    store.store.block_on(async {
        store.client.create_bucket("releases").await.unwrap();
    });
    // Round 0 goes into a fresh deltaspace (reference creation); round 1 overwrites every
    // file of a complete round 0 with a new build (deltas replacing deltas).
    let rounds = [0, 1].map(|round| {
        let dir = work.join(format!("src{round}"));
        let files = sources(&dir, round);
        (dir.to_str().unwrap().to_string(), files)
    });
    let upload =
        |src: &str, target: &str| ["cp", "-r", src, target, "-q", "-j", "2"].map(str::to_string);

    // How long each undisturbed upload takes here, to spread the kills over it.
    let mut full = Vec::new();
    for (src, files) in &rounds {
        let started = Instant::now();
        store.ok(
            work,
            &upload(src, "s3://releases/warm/")
                .each_ref()
                .map(String::as_str),
        );
        full.push(started.elapsed());
        assert_eq!(&store.listed("warm/"), files);
    }

    let mut points = Points(0x9E37_79B9_7F4A_7C15);
    let mut outcomes = Vec::new();
    for i in 0..KILLS {
        let round = i % 2;
        let (src, files) = &rounds[round];
        let prefix = format!("k{}/", i / 2);
        let target = format!("s3://releases/{prefix}");
        // Within the first 90% of the undisturbed time, so that most kills land inside.
        let at = full[round].mul_f64(0.9 * points.next());
        let args = upload(src, &target);
        let mut child = store
            .dg(work, &args.each_ref().map(String::as_str))
            .spawn()
            .unwrap();
        std::thread::sleep(at);
        let finished = child.try_wait().unwrap().is_some();
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();

        // Every listed object is whole: the new build, or (overwrites) the one it replaces.
        let listed = store.listed(&prefix);
        let mut replaced = 0;
        for (name, data) in &listed {
            let new = files.get(name) == Some(data);
            let old = round == 1 && rounds[0].1.get(name) == Some(data);
            assert!(
                new || old,
                "kill {i} at {at:?}: {prefix}{name} is listed but matches no source"
            );
            replaced += usize::from(new);
        }
        outcomes.push(format!(
            "kill {i} at {:.0} ms: {} of {} files listed, {replaced} of them this build's{}",
            at.as_secs_f64() * 1000.0,
            listed.len(),
            files.len(),
            if finished { " (had finished)" } else { "" }
        ));

        store.ok(work, &args.each_ref().map(String::as_str));
        assert_eq!(&store.listed(&prefix), files, "rerun after kill {i}");
    }
    // What the kills caught, for the log (`cargo test -- --nocapture`).
    println!("undisturbed uploads: {full:?}\n{}", outcomes.join("\n"));
    // Most kills must land inside the upload, or the test proves little.
    let interrupted = outcomes.iter().filter(|o| !o.contains("finished")).count();
    assert!(interrupted >= KILLS / 2, "{outcomes:#?}");
}

#[test]
fn sigkill_during_upload_to_a_local_store() {
    let work = tempfile::tempdir().unwrap();
    let store = Target::local(work.path());
    kill_and_rerun(&store, work.path());
}

#[test]
fn sigkill_during_upload_over_s3() {
    let work = tempfile::tempdir().unwrap();
    let store = Target::s3();
    kill_and_rerun(&store, work.path());
}
