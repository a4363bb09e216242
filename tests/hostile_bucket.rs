//! The hostile bucket, over the in-process S3 server: good files uploaded with dg in both
//! formats, then objects planted beside them that no honest writer makes — odd keys, bad and
//! missing metadata, bombs, references that are deltas, deltas pointing at other deltaspaces,
//! plain objects at dg's own keys. Each must fail alone with an error naming the object (exit
//! 1, never a crash), within bounded time, memory and disk, with nothing left at the
//! destination, while the other files of the same prefix still download byte-exact.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use dg_adapters::testing::memory_s3::StoredObject;
use dg_adapters::testing::S3TestServer;
use support::{tree, write, Env};

const BUCKET: &str = "bkt";
/// A run still going after this long is killed and the test fails.
const DEADLINE: Duration = Duration::from_secs(90);
/// A run whose watched directories grow past this is killed and the test fails.
const DISK_CAP: u64 = 3 << 30;
/// What bombs may take: a command finishes within this…
const BOMB_TIME: Duration = Duration::from_secs(20);
/// …and holds at most this much memory (one VCDIFF window is at most 64 MiB).
const BOMB_RSS: u64 = 768 << 20;

/// Pseudo-random bytes, so that nothing compresses and deltas stay honest.
use dg_testdata::noise;

/// A finished dg run and what it cost.
struct Ran {
    args: Vec<String>,
    status: ExitStatus,
    stdout: String,
    stderr: String,
    elapsed: Duration,
    /// Highest VmHWM seen while it ran (a lower bound of its peak RSS), in bytes.
    peak_rss: u64,
    /// Largest size the watched directories reached while it ran, in bytes.
    peak_disk: u64,
}

impl Ran {
    /// Exit 1 (not 0, not a usage error, not a panic or a signal), naming every one of `names`.
    #[track_caller]
    fn failed_naming(&self, names: &[&str]) -> &Self {
        assert_eq!(
            self.status.code(),
            Some(1),
            "dg {:?}: exit 1 expected, got {:?}\nstdout: {}\nstderr: {}",
            self.args,
            self.status,
            self.stdout,
            self.stderr
        );
        self.no_panic();
        for name in names {
            assert!(
                self.stderr.contains(name),
                "dg {:?}: stderr should name {name}:\n{}",
                self.args,
                self.stderr
            );
        }
        self
    }

    #[track_caller]
    fn succeeded(&self) -> &Self {
        assert!(
            self.status.success(),
            "dg {:?} failed ({:?}):\n{}",
            self.args,
            self.status,
            self.stderr
        );
        self.no_panic();
        self
    }

    #[track_caller]
    fn no_panic(&self) {
        assert!(
            !self.stderr.contains("panicked") && !self.stderr.contains("RUST_BACKTRACE"),
            "dg {:?} panicked:\n{}",
            self.args,
            self.stderr
        );
    }

    /// The stderr lines that mention `name`.
    fn lines_naming(&self, name: &str) -> Vec<&str> {
        self.stderr.lines().filter(|l| l.contains(name)).collect()
    }

    /// The reason given for `name`: its stderr lines, which must say `want` (case-insensitive)
    /// and none of `not`.
    #[track_caller]
    fn says(&self, name: &str, want: &[&str], not: &[&str]) -> &Self {
        let lines = self.lines_naming(name).join("\n");
        let lower = lines.to_lowercase();
        assert!(!lines.is_empty(), "{name} not named:\n{}", self.stderr);
        for w in want {
            assert!(
                lower.contains(&w.to_lowercase()),
                "dg {:?}: the error for {name} should say {w:?}:\n{lines}",
                self.args
            );
        }
        for n in not {
            assert!(
                !lower.contains(&n.to_lowercase()),
                "dg {:?}: the error for {name} should not say {n:?}:\n{lines}",
                self.args
            );
        }
        self
    }

    /// Finished within `time`, holding at most `rss` bytes of memory and `disk` bytes in the
    /// watched directories.
    #[track_caller]
    fn bounded(&self, time: Duration, rss: u64, disk: u64) -> &Self {
        assert!(
            self.elapsed <= time,
            "dg {:?} took {:?} (at most {time:?})",
            self.args,
            self.elapsed
        );
        assert!(
            self.peak_rss <= rss,
            "dg {:?} held {} MiB (at most {} MiB)",
            self.args,
            self.peak_rss >> 20,
            rss >> 20
        );
        assert!(
            self.peak_disk <= disk,
            "dg {:?} wrote up to {} bytes (at most {disk})",
            self.args,
            self.peak_disk
        );
        self
    }
}

/// Bytes in the files below `path` (0 when it does not exist; files vanishing meanwhile are
/// skipped).
fn disk_usage(path: &Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    if !meta.is_dir() {
        return meta.len();
    }
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|e| disk_usage(&e.path()))
        .sum()
}

/// VmHWM of a running process, in bytes.
fn high_water_mark(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn varint(mut n: u64) -> Vec<u8> {
    let mut out = vec![(n & 0x7f) as u8];
    n >>= 7;
    while n > 0 {
        out.push((n & 0x7f) as u8 | 0x80);
        n >>= 7;
    }
    out.reverse();
    out
}

/// A VCDIFF delta of `windows` windows, each a single RUN of `window_len` bytes: a few bytes
/// per window that expand to `windows × window_len`.
fn vcdiff_bomb(windows: usize, window_len: u64) -> Vec<u8> {
    let mut delta = vec![0xD6, 0xC3, 0xC4, 0x00, 0x00];
    let data = [b'A'];
    let mut inst = vec![0u8]; // RUN, size follows
    inst.extend(varint(window_len));
    let mut encoding = varint(window_len);
    encoding.push(0); // delta indicator: nothing compressed
    encoding.extend(varint(data.len() as u64));
    encoding.extend(varint(inst.len() as u64));
    encoding.extend(varint(0));
    encoding.extend(data);
    encoding.extend(&inst);
    for _ in 0..windows {
        delta.push(0); // window indicator: no source window
        delta.extend(varint(encoding.len() as u64));
        delta.extend(&encoding);
    }
    delta
}

/// `got` holds exactly the files of `want`, byte for byte (sizes shown on a mismatch).
#[track_caller]
fn same_files(got: &BTreeMap<String, Vec<u8>>, want: &BTreeMap<String, Vec<u8>>, what: &str) {
    let sizes = |m: &BTreeMap<String, Vec<u8>>| -> Vec<(String, usize)> {
        m.iter().map(|(k, v)| (k.clone(), v.len())).collect()
    };
    assert_eq!(sizes(got), sizes(want), "{what}: the files and their sizes");
    for (name, bytes) in want {
        assert!(
            got.get(name) == Some(bytes),
            "{what}: {name} is not byte-exact"
        );
    }
}

/// A bucket of good files in both formats (`c/` compat, `n/` native) on the in-memory S3
/// server, a work directory, and a staging directory for dg (`DG_TMPDIR`).
struct Bucket {
    env: Env,
    staging: PathBuf,
    /// Every good file, by key.
    files: BTreeMap<String, Vec<u8>>,
}

impl Bucket {
    fn new() -> Self {
        let env = Env::s3_memory(&[BUCKET]);
        let staging = env.path("staging");
        std::fs::create_dir_all(&staging).unwrap();
        let mut bucket = Bucket {
            env,
            staging,
            files: BTreeMap::new(),
        };
        bucket.seed("c", "compat", 1);
        bucket.seed("n", "native", 2);
        bucket
    }

    /// Uploads a deltaspace of good files at `prefix/`: a reference, two deltas and a file
    /// stored whole.
    fn seed(&mut self, prefix: &str, format: &str, seed: u64) {
        let src = self.env.path(&format!("src-{prefix}"));
        let base = noise(seed, 300_000);
        let mut files = BTreeMap::new();
        files.insert("app-1.0.zip".to_string(), base.clone());
        for (i, name) in ["app-1.1.zip", "app-1.2.zip"].into_iter().enumerate() {
            let mut v = base.clone();
            v[1000 * (i + 1)] ^= 0xff;
            v.extend(noise(seed + 10 + i as u64, 2000));
            files.insert(name.to_string(), v);
        }
        files.insert(
            "readme.txt".to_string(),
            format!("notes of {prefix}\n").into_bytes(),
        );
        for (name, bytes) in &files {
            write(&src.join(name), bytes);
        }
        let url = self.url(&format!("{prefix}/"));
        self.ok(&["cp", "-r", src.to_str().unwrap(), &url, "--format", format]);
        for (name, bytes) in files {
            self.files.insert(format!("{prefix}/{name}"), bytes);
        }
    }

    fn url(&self, key: &str) -> String {
        format!("s3://{BUCKET}/{key}")
    }

    fn server(&self) -> &S3TestServer {
        self.env.store.server().unwrap()
    }

    fn keys(&self) -> Vec<String> {
        self.server().memory().unwrap().keys(BUCKET)
    }

    /// The stored object at `key`, as the server holds it.
    fn raw(&self, key: &str) -> StoredObject {
        self.server()
            .memory()
            .unwrap()
            .get_raw(BUCKET, key)
            .unwrap_or_else(|| panic!("no object at {key}: {:?}", self.keys()))
    }

    fn plant(&self, key: &str, body: impl Into<bytes::Bytes>, metadata: &BTreeMap<String, String>) {
        self.server()
            .put_raw(BUCKET, key, body.into(), metadata.clone());
    }

    /// Plants at `key` the object at `like` with its metadata changed by `changes` (a value
    /// of `None` removes the field) and, when given, another body.
    fn plant_like(
        &self,
        key: &str,
        like: &str,
        body: Option<Vec<u8>>,
        changes: &[(&str, Option<&str>)],
    ) {
        let original = self.raw(like);
        let mut metadata = original.metadata.clone();
        for (field, value) in changes {
            match value {
                Some(v) => metadata.insert(field.to_string(), v.to_string()),
                None => metadata.remove(*field),
            };
        }
        let body = body.map_or(original.body, bytes::Bytes::from);
        self.plant(key, body, &metadata);
    }

    /// Runs dg, watching the time, its memory and the size of `watch` (and the staging
    /// directory); kills it past [`DEADLINE`] or [`DISK_CAP`].
    fn run_watching(&self, args: &[&str], watch: &[&Path], stdout: Stdio) -> Ran {
        let mut cmd = self.env.command(args);
        cmd.env("DG_TMPDIR", &self.staging)
            .stdout(stdout)
            .stderr(Stdio::piped());
        let started = Instant::now();
        let mut child = cmd.spawn().unwrap();
        let pid = child.id();
        let reader = |pipe: Option<Box<dyn Read + Send>>| {
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                if let Some(mut p) = pipe {
                    p.read_to_end(&mut buf).unwrap();
                }
                String::from_utf8_lossy(&buf).into_owned()
            })
        };
        let out = reader(
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        );
        let err = reader(
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        );
        let mut watched: Vec<&Path> = watch.to_vec();
        watched.push(&self.staging);
        let (mut peak_rss, mut peak_disk) = (0u64, 0u64);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            peak_rss = peak_rss.max(high_water_mark(pid).unwrap_or(0));
            peak_disk = peak_disk.max(watched.iter().map(|p| disk_usage(p)).sum());
            if started.elapsed() > DEADLINE || peak_disk > DISK_CAP {
                child.kill().unwrap();
                child.wait().unwrap();
                panic!(
                    "dg {args:?} killed after {:?} with {peak_disk} bytes written",
                    started.elapsed()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let elapsed = started.elapsed();
        peak_disk = peak_disk.max(watched.iter().map(|p| disk_usage(p)).sum());
        Ran {
            args: args.iter().map(|a| a.to_string()).collect(),
            status,
            stdout: out.join().unwrap(),
            stderr: err.join().unwrap(),
            elapsed,
            peak_rss,
            peak_disk,
        }
    }

    fn run(&self, args: &[&str], watch: &[&Path]) -> Ran {
        self.run_watching(args, watch, Stdio::piped())
    }

    fn ok(&self, args: &[&str]) -> String {
        let ran = self.run(args, &[]);
        ran.succeeded();
        ran.stdout
    }

    /// The good files below `prefix/`, by path relative to it.
    fn good_below(&self, prefix: &str) -> BTreeMap<String, Vec<u8>> {
        let p = format!("{prefix}/");
        self.files
            .iter()
            .filter_map(|(k, v)| k.strip_prefix(&p).map(|r| (r.to_string(), v.clone())))
            .collect()
    }

    /// A fresh, empty destination directory.
    fn dest(&self, name: &str) -> PathBuf {
        let d = self.env.path(name);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// Downloads the single file at `key` into a fresh directory; it must fail naming the
    /// hostile object (`blame`, a URL; by default the file's own, which its `.delta` also
    /// matches) and leave the directory empty. Returns the run.
    #[track_caller]
    fn cp_one_fails(&self, key: &str, blame: Option<&str>) -> Ran {
        let out = self.dest(&format!("one-{}", key.replace(['/', '\t'], "_")));
        let ran = self.run(
            &["cp", &self.url(key), &format!("{}/", out.display())],
            &[&out],
        );
        ran.failed_naming(&[blame.unwrap_or(&self.url(key))]);
        assert_eq!(
            tree(&out).keys().collect::<Vec<_>>(),
            Vec::<&String>::new(),
            "dg cp {key}: nothing (not even a temp file) at the destination"
        );
        self.staging_is_clean(&ran);
        ran
    }

    /// `cp -r` of `prefix/` into a fresh directory: exit 1 naming every one of `hostile`
    /// (URLs), and exactly `want` at the destination.
    #[track_caller]
    fn cp_r_fails(&self, prefix: &str, hostile: &[&str], want: &BTreeMap<String, Vec<u8>>) -> Ran {
        let out = self.dest(&format!("all-{prefix}"));
        let ran = self.run(
            &[
                "cp",
                "-r",
                &self.url(&format!("{prefix}/")),
                out.to_str().unwrap(),
            ],
            &[&out],
        );
        ran.failed_naming(hostile);
        same_files(
            &tree(&out),
            want,
            &format!(
                "cp -r {prefix}/: the good files and nothing else\n{}",
                ran.stderr
            ),
        );
        self.staging_is_clean(&ran);
        ran
    }

    #[track_caller]
    fn staging_is_clean(&self, ran: &Ran) {
        let left = tree(&self.staging);
        assert!(
            left.is_empty(),
            "dg {:?} left staged files: {:?}",
            ran.args,
            left.keys().collect::<Vec<_>>()
        );
    }

    /// `dg ls -r --json` of `prefix/`: the listed keys and sizes, and the run.
    fn listed(&self, prefix: &str) -> (BTreeMap<String, u64>, Ran) {
        let ran = self.run(
            &["ls", "-r", "--json", &self.url(&format!("{prefix}/"))],
            &[],
        );
        ran.no_panic();
        let mut shown = BTreeMap::new();
        for record in support::parse_lines(&ran.stdout) {
            if record["type"] == "file" {
                let key = record["key"].as_str().unwrap().to_string();
                let size = record["size"].as_u64().unwrap();
                assert!(shown.insert(key.clone(), size).is_none(), "{key} twice");
            }
        }
        (shown, ran)
    }

    /// The good files of `prefix/` with their sizes, as `ls` shows them.
    fn good_sizes(&self, prefix: &str) -> BTreeMap<String, u64> {
        self.good_below(prefix)
            .into_iter()
            .map(|(k, v)| (format!("{prefix}/{k}"), v.len() as u64))
            .collect()
    }
}

// --- the cases -------------------------------------------------------------------------------

/// Keys S3 allows but no file system path is (`a//b`, `..`, `./x`, a leading `/`), a tab, and
/// a real delta copied to such a key: listed, downloadable one at a time, or named and skipped
/// by `cp -r`, never breaking the prefix.
#[test]
fn odd_keys_are_listed_or_named_and_skipped_never_breaking_the_prefix() {
    let b = Bucket::new();
    for key in ["c/a//b", "c/..", "c/./x", "c/tab\there", "/c/lead"] {
        b.plant(key, &b"odd"[..], &BTreeMap::new());
    }
    // a real delta at an odd key, whose dg-ref-key names the odd deltaspace's reference
    // (`c//reference.bin`: a key with an empty segment, which no reference has)
    b.plant_like(
        "c//app-1.1.zip.delta",
        "c/app-1.1.zip.delta",
        None,
        &[("dg-ref-key", Some("c//reference.bin"))],
    );

    // the odd delta's metadata names no reference dg reads: named, the rest listed
    let (shown, ls) = b.listed("c");
    ls.failed_naming(&["c//app-1.1.zip.delta"]);
    for key in ["c/a//b", "c/..", "c/./x", "c/tab\there"] {
        assert_eq!(shown.get(key), Some(&3), "{key} listed: {shown:?}");
    }
    for (key, size) in b.good_sizes("c") {
        assert_eq!(shown.get(&key), Some(&size), "{key}: {shown:?}");
    }

    let mut want = b.good_below("c");
    want.insert("tab\there".to_string(), b"odd".to_vec());
    let ran = b.cp_r_fails(
        "c",
        &[
            "s3://bkt/c/a//b",
            "s3://bkt/c/..",
            "s3://bkt/c/./x",
            "s3://bkt/c//app-1.1.zip",
        ],
        &want,
    );
    assert!(
        ran.lines_naming("s3://bkt/c/tab").is_empty(),
        "the tab key downloads: {}",
        ran.stderr
    );

    // the leading `/`: under the bucket's root listing, named and skipped there too
    let out = b.dest("all-root");
    let root = b.run(&["cp", "-r", "s3://bkt/", out.to_str().unwrap()], &[&out]);
    root.failed_naming(&["s3://bkt//c/lead", "s3://bkt/c/a//b"]);
    let got = tree(&out);
    for (key, bytes) in &b.files {
        assert_eq!(got.get(key), Some(bytes), "{key} under the root copy");
    }

    // one at a time, to a file name of the user's choosing
    for key in ["c/a//b", "c/..", "c/./x", "/c/lead"] {
        let file = b.env.path("one-odd.bin");
        b.ok(&["cp", &b.url(key), file.to_str().unwrap()]);
        assert_eq!(std::fs::read(&file).unwrap(), b"odd", "{key}");
    }
    // the odd delta fails alone, naming the reference it should have had
    b.cp_one_fails("c//app-1.1.zip", None).says(
        "s3://bkt/c//app-1.1.zip",
        &["dg-ref-key"],
        &["sha-256 mismatch"],
    );

    let verify = b.run(&["verify", "s3://bkt/c/"], &[]);
    verify
        .failed_naming(&["s3://bkt/c//app-1.1.zip.delta"])
        .says("s3://bkt/c//app-1.1.zip.delta", &["dg-ref-key"], &[]);
    for key in ["c/a//b", "c/..", "c/./x", "c/app-1.1.zip.delta"] {
        assert!(
            verify.stdout.contains(&format!("ok      s3://bkt/{key}")),
            "{key} verified: {}",
            verify.stdout
        );
    }
}

/// A planted object: its key, the real object it copies, the metadata changed (`None`
/// removes a field), and what the error for it must say.
type Case<'a> = (
    &'a str,
    &'a str,
    Vec<(&'a str, Option<&'a str>)>,
    Vec<&'a str>,
);

/// Negative, non-numeric and oversized `dg-file-size`, malformed `dg-file-sha256` and
/// `dg-ref-sha256`, and a `.delta` with a SHA-256 but no `dg-ref-key`: each fails that object
/// alone with an error that names it and says what is wrong with its metadata.
#[test]
fn bad_metadata_fails_that_object_alone_saying_what_is_wrong() {
    let b = Bucket::new();
    let delta = "c/app-1.1.zip.delta";
    let native = "n/app-1.1.zip.delta";
    let too_big = (u128::from(u64::MAX) + 1).to_string();
    let max = u64::MAX.to_string();
    let bad_hex = "zz".repeat(32);
    // (key, like, changes, what the error must say)
    let cases: Vec<Case> = vec![
        (
            "c/neg.zip.delta",
            delta,
            vec![("dg-file-size", Some("-5"))],
            vec!["dg-file-size"],
        ),
        (
            "c/nan.zip.delta",
            delta,
            vec![("dg-file-size", Some("lots"))],
            vec!["dg-file-size"],
        ),
        (
            "c/over.zip.delta",
            delta,
            vec![("dg-file-size", Some(&too_big))],
            vec!["dg-file-size"],
        ),
        (
            "c/max.zip.delta",
            delta,
            vec![("dg-file-size", Some(&max))],
            vec![],
        ),
        (
            "c/hex.zip.delta",
            delta,
            vec![("dg-file-sha256", Some(&bad_hex))],
            vec!["dg-file-sha256"],
        ),
        (
            "c/short.zip.delta",
            delta,
            vec![("dg-file-sha256", Some("abc123"))],
            vec!["dg-file-sha256"],
        ),
        (
            "c/refhex.zip.delta",
            delta,
            vec![("dg-ref-sha256", Some("not-a-sha"))],
            vec!["dg-ref-sha256"],
        ),
        (
            "c/noref.zip.delta",
            delta,
            vec![("dg-ref-key", None), ("dg-ref-path", None)],
            vec!["dg-ref-key"],
        ),
        (
            "n/neg.zip.delta",
            native,
            vec![("dg-file-size", Some("-1"))],
            vec!["dg-file-size"],
        ),
        (
            "n/max.zip.delta",
            native,
            vec![("dg-file-size", Some(&max))],
            vec![],
        ),
        (
            "n/noref.zip.delta",
            native,
            vec![("dg-ref-key", None), ("dg-ref-path", None)],
            vec!["dg-ref-key"],
        ),
    ];
    for (key, like, changes, _) in &cases {
        b.plant_like(key, like, None, changes);
    }
    let user = |key: &str| b.url(key.strip_suffix(".delta").unwrap());

    // every bad one named by ls, the good ones listed with their sizes
    for prefix in ["c", "n"] {
        let (shown, ls) = b.listed(prefix);
        let bad: Vec<String> = cases
            .iter()
            .filter(|c| c.0.starts_with(&format!("{prefix}/")))
            .filter(|c| {
                c.3.iter()
                    .any(|w| w.contains("file-size") || w.contains("ref-key"))
            })
            .map(|c| c.0.to_string())
            .collect();
        ls.failed_naming(&bad.iter().map(String::as_str).collect::<Vec<_>>());
        for (key, size) in b.good_sizes(prefix) {
            assert_eq!(shown.get(&key), Some(&size), "{key}: {shown:?}");
        }
    }

    for (key, _, _, says) in &cases {
        let ran = b.cp_one_fails(key.strip_suffix(".delta").unwrap(), None);
        let named = user(key);
        if says.is_empty() {
            // a size no disk holds: refused before anything is written
            ran.says(&named, &[], &["sha-256", "corrupt"])
                .bounded(BOMB_TIME, BOMB_RSS, 16 << 20);
        } else {
            ran.says(&named, says, &["sha-256 mismatch", "is corrupt"]);
        }
    }

    for prefix in ["c", "n"] {
        let hostile: Vec<String> = cases
            .iter()
            .filter(|c| c.0.starts_with(&format!("{prefix}/")))
            .map(|c| user(c.0))
            .collect();
        let hostile: Vec<&str> = hostile.iter().map(String::as_str).collect();
        b.cp_r_fails(prefix, &hostile, &b.good_below(prefix));
    }

    let verify = b.run(&["verify", "s3://bkt/"], &[]);
    let urls: Vec<String> = cases.iter().map(|c| b.url(c.0)).collect();
    verify.failed_naming(&urls.iter().map(String::as_str).collect::<Vec<_>>());
    for (key, _, _, says) in &cases {
        if !says.is_empty() {
            verify.says(&b.url(key), says, &["sha-256 mismatch", "is corrupt"]);
        }
    }
    for key in b.files.keys() {
        assert!(
            verify.stdout.contains(&format!("s3://bkt/{key}")),
            "{key} verified: {}",
            verify.stdout
        );
    }
}

/// Delta bombs: a few kilobytes of VCDIFF that expand to 256 GiB. Without a recorded size the
/// rebuild stops at its bound (nothing is left behind); with a recorded size of 1 PiB it is
/// refused before a byte is written. Memory stays at about one window, time at seconds.
#[test]
fn delta_bombs_stop_at_their_bound_and_leave_nothing() {
    let b = Bucket::new();
    let bomb = vcdiff_bomb(4096, 64 << 20);
    assert!(bomb.len() < 128 << 10, "{}", bomb.len());
    // the bomb is a valid delta: two of its windows decode to what they say
    let two = vcdiff_bomb(2, 1 << 20);
    let mut sink = Vec::new();
    let n = dg_vcdiff::decode(
        &[],
        &mut &two[..],
        &mut sink,
        &dg_vcdiff::DecodeLimits::default(),
    )
    .unwrap();
    assert_eq!(n, 2 << 20);
    assert!(sink.iter().all(|&x| x == b'A'));

    let sha = "ab".repeat(32);
    let unsized_changes = [
        ("dg-file-size", None),
        ("dg-file-sha256", Some(sha.as_str())),
    ];
    b.plant_like(
        "c/bomb.zip.delta",
        "c/app-1.1.zip.delta",
        Some(bomb.clone()),
        &unsized_changes,
    );
    let pib = (1u64 << 50).to_string();
    let pib_changes = [
        ("dg-file-size", Some(pib.as_str())),
        ("dg-file-sha256", Some(sha.as_str())),
    ];
    b.plant_like(
        "c/pib.zip.delta",
        "c/app-1.1.zip.delta",
        Some(bomb.clone()),
        &pib_changes,
    );
    // a native delta whose metadata claims 1 PiB (its header says otherwise)
    b.plant_like(
        "n/pib.zip.delta",
        "n/app-1.1.zip.delta",
        None,
        &[("dg-file-size", Some(pib.as_str()))],
    );

    // the unsized bomb: stops at the 1 GiB bound for deltas without a size
    b.cp_one_fails("c/bomb.zip", None)
        .says("s3://bkt/c/bomb.zip", &["limit"], &["sha-256"])
        .bounded(BOMB_TIME, BOMB_RSS, (1 << 30) + (64 << 20));
    // the 1 PiB claim: not enough space, before anything is written
    b.cp_one_fails("c/pib.zip", None)
        .says("s3://bkt/c/pib.zip", &["1125899906842624"], &["sha-256"])
        .bounded(BOMB_TIME, BOMB_RSS, 16 << 20);
    b.cp_one_fails("n/pib.zip", None)
        .says("s3://bkt/n/pib.zip", &["size"], &["sha-256"])
        .bounded(BOMB_TIME, BOMB_RSS, 16 << 20);
    // to standard output (a file here, watched): the same bounds, nothing written there
    for key in ["c/bomb.zip", "c/pib.zip"] {
        let dir = b.dest(&format!("stdout-{}", key.replace('/', "_")));
        let file = std::fs::File::create(dir.join("out")).unwrap();
        let ran = b.run_watching(&["cp", &b.url(key), "-"], &[&dir], Stdio::from(file));
        ran.failed_naming(&[&b.url(key)])
            .bounded(BOMB_TIME, BOMB_RSS, (1 << 30) + (64 << 20));
        let written = std::fs::metadata(dir.join("out")).unwrap().len();
        assert_eq!(
            written, 0,
            "dg cp {key} -: nothing unverified on standard output"
        );
        b.staging_is_clean(&ran);
    }

    let ran = b.cp_r_fails(
        "c",
        &["s3://bkt/c/bomb.zip", "s3://bkt/c/pib.zip"],
        &b.good_below("c"),
    );
    ran.bounded(
        BOMB_TIME + BOMB_TIME,
        BOMB_RSS + (256 << 20),
        (1 << 30) + (128 << 20),
    );
    b.cp_r_fails("n", &["s3://bkt/n/pib.zip"], &b.good_below("n"))
        .bounded(BOMB_TIME, BOMB_RSS, 64 << 20);

    // verify writes nothing, and must not spin through the bomb either
    let verify = b.run(&["verify", "s3://bkt/"], &[]);
    verify
        .failed_naming(&[
            "s3://bkt/c/bomb.zip.delta",
            "s3://bkt/c/pib.zip.delta",
            "s3://bkt/n/pib.zip.delta",
        ])
        .bounded(BOMB_TIME + BOMB_TIME, BOMB_RSS + (256 << 20), 16 << 20);

    let (shown, ls) = b.listed("c");
    ls.succeeded();
    assert_eq!(shown.get("c/pib.zip"), Some(&(1u64 << 50)), "{shown:?}");
}

/// A `reference.bin` that is itself a delta (compat: a delta's metadata and body; native: a
/// native delta object) is refused, naming the reference, for every delta that needs it.
#[test]
fn a_reference_that_is_a_delta_is_refused_naming_it() {
    let mut b = Bucket::new();
    b.seed("rc", "compat", 3);
    b.seed("rn", "native", 4);
    b.plant_like("rc/reference.bin", "rc/app-1.1.zip.delta", None, &[]);
    b.plant_like("rn/reference.bin", "rn/app-1.1.zip.delta", None, &[]);
    for prefix in ["rc", "rn"] {
        let reference = b.url(&format!("{prefix}/reference.bin"));
        for name in ["app-1.1.zip", "app-1.2.zip"] {
            b.cp_one_fails(&format!("{prefix}/{name}"), Some(&reference))
                .says(&reference, &["delta"], &[]);
        }
        let mut want = b.good_below(prefix);
        // the files stored whole do not need the reference
        want.retain(|k, _| k == "readme.txt");
        b.cp_r_fails(
            prefix,
            &[
                &b.url(&format!("{prefix}/app-1.0.zip")),
                &b.url(&format!("{prefix}/app-1.1.zip")),
                &b.url(&format!("{prefix}/app-1.2.zip")),
                &reference,
            ],
            &want,
        );
        let verify = b.run(&["verify", &b.url(&format!("{prefix}/"))], &[]);
        verify.failed_naming(&[&reference]);
        assert!(verify
            .stdout
            .contains(&format!("ok      s3://bkt/{prefix}/readme.txt")));
    }
    // the other deltaspaces are untouched
    for prefix in ["c", "n"] {
        let out = b.dest(&format!("fine-{prefix}"));
        b.ok(&[
            "cp",
            "-r",
            &b.url(&format!("{prefix}/")),
            out.to_str().unwrap(),
        ]);
        same_files(&tree(&out), &b.good_below(prefix), prefix);
    }
}

/// A delta whose `dg-ref-key` names another deltaspace's reference (as the first file of a
/// prefix dg shares with a sibling has) is read against that reference, checked, in a
/// deltaspace with a reference of its own and in one without; a `dg-ref-key` (or
/// `dg-ref-path`) naming anything but a reference, or climbing with `..`, is refused before
/// anything is read, and a reference that is not the one the delta was made against is caught.
#[test]
fn a_delta_naming_another_deltaspaces_reference_reads_it_checked_and_nothing_else() {
    let mut b = Bucket::new();
    b.seed("e", "compat", 5);
    // compat and native deltas copied from c/ and n/, still naming c/ and n/ references
    b.plant_like("e/from-c.zip.delta", "c/app-1.1.zip.delta", None, &[]);
    b.plant_like("e/from-n.zip.delta", "n/app-1.1.zip.delta", None, &[]);
    // a deltaspace with no reference at all
    b.plant_like("lone/app-1.1.zip.delta", "c/app-1.1.zip.delta", None, &[]);
    b.plant("lone/notes.txt", &b"alone"[..], &BTreeMap::new());
    for (key, like) in [
        ("e/from-c.zip", "c/app-1.1.zip"),
        ("e/from-n.zip", "n/app-1.1.zip"),
        ("lone/app-1.1.zip", "c/app-1.1.zip"),
    ] {
        let bytes = b.files[like].clone();
        b.files.insert(key.to_string(), bytes);
    }
    b.files.insert("lone/notes.txt".into(), b"alone".to_vec());
    // dg-ref-path climbing out of the deltaspace
    b.plant_like(
        "e/climb.zip.delta",
        "c/app-1.1.zip.delta",
        None,
        &[
            ("dg-ref-key", None),
            ("dg-ref-path", Some("../c/reference.bin")),
        ],
    );
    // a dg-ref-key naming a file, not a reference
    b.plant_like(
        "e/at-a-file.zip.delta",
        "c/app-1.1.zip.delta",
        None,
        &[("dg-ref-key", Some("c/readme.txt"))],
    );
    // a compat delta naming the native deltaspace's reference: not what it was made against
    // (alone in its prefix: a process that verified the right reference already rebuilds the
    // file from it, as references are known by their SHA-256)
    b.plant_like(
        "w/wrong-ref.zip.delta",
        "c/app-1.1.zip.delta",
        None,
        &[("dg-ref-key", Some("n/reference.bin"))],
    );

    for name in ["climb.zip", "at-a-file.zip"] {
        b.cp_one_fails(&format!("e/{name}"), None).says(
            &b.url(&format!("e/{name}")),
            &["dg-ref-key"],
            &["sha-256 mismatch", "is corrupt"],
        );
    }
    b.cp_one_fails("w/wrong-ref.zip", None).says(
        "s3://bkt/w/wrong-ref.zip",
        &["n/reference.bin", "sha-256"],
        &[],
    );
    b.run(&["verify", "s3://bkt/w/"], &[])
        .failed_naming(&["s3://bkt/w/wrong-ref.zip.delta"]);
    b.cp_r_fails(
        "e",
        &["s3://bkt/e/climb.zip", "s3://bkt/e/at-a-file.zip"],
        &b.good_below("e"),
    );
    let out = b.dest("all-lone");
    b.ok(&["cp", "-r", "s3://bkt/lone/", out.to_str().unwrap()]);
    same_files(&tree(&out), &b.good_below("lone"), "lone");
    let verify = b.run(&["verify", "s3://bkt/e/"], &[]);
    verify.failed_naming(&[
        "s3://bkt/e/climb.zip.delta",
        "s3://bkt/e/at-a-file.zip.delta",
    ]);
    for key in ["e/from-c.zip.delta", "e/from-n.zip.delta"] {
        assert!(
            verify.stdout.contains(&format!("ok      s3://bkt/{key}")),
            "{key} verified: {}",
            verify.stdout
        );
    }
    // the references they pointed at are unharmed
    for prefix in ["c", "n"] {
        let out = b.dest(&format!("fine-{prefix}"));
        b.ok(&[
            "cp",
            "-r",
            &b.url(&format!("{prefix}/")),
            out.to_str().unwrap(),
        ]);
        same_files(&tree(&out), &b.good_below(prefix), prefix);
    }
}

/// An object without dg metadata at `app.zip.delta`, beside a real `app.zip` (stored whole):
/// `app.zip` keeps its own bytes, and `app.zip.delta` is a file of its own.
#[test]
fn a_plain_object_at_a_files_delta_slot_is_a_file_of_its_own() {
    let mut b = Bucket::new();
    let app = noise(6, 50_000);
    let file = b.env.path("app.zip");
    write(&file, &app);
    b.ok(&["cp", "--no-delta", file.to_str().unwrap(), "s3://bkt/f/"]);
    assert!(
        b.keys().contains(&"f/app.zip".to_string()),
        "{:?}",
        b.keys()
    );
    b.plant("f/app.zip.delta", &b"someone else's"[..], &BTreeMap::new());
    b.files.insert("f/app.zip".into(), app.clone());
    b.files
        .insert("f/app.zip.delta".into(), b"someone else's".to_vec());
    // and in a deltaspace of deltas: a plain object at a delta's `.delta` slot is a file named
    // by its own key, not the delta's file
    b.plant("c/app-1.0.zip.delta.delta", &b"plain"[..], &BTreeMap::new());
    b.files
        .insert("c/app-1.0.zip.delta.delta".into(), b"plain".to_vec());

    let one = b.env.path("one.bin");
    b.ok(&["cp", "s3://bkt/f/app.zip", one.to_str().unwrap()]);
    assert_eq!(std::fs::read(&one).unwrap(), app);
    b.ok(&["cp", "s3://bkt/f/app.zip.delta", one.to_str().unwrap()]);
    assert_eq!(std::fs::read(&one).unwrap(), b"someone else's");
    b.ok(&[
        "cp",
        "s3://bkt/c/app-1.0.zip.delta.delta",
        one.to_str().unwrap(),
    ]);
    assert_eq!(std::fs::read(&one).unwrap(), b"plain");
    // no file is called app-1.0.zip.delta: the object at that key is app-1.0.zip's delta
    let none = b.run(
        &["cp", "s3://bkt/c/app-1.0.zip.delta", one.to_str().unwrap()],
        &[],
    );
    none.failed_naming(&["s3://bkt/c/app-1.0.zip.delta"]).says(
        "s3://bkt/c/app-1.0.zip.delta",
        &["not found"],
        &[],
    );
    assert_eq!(std::fs::read(&one).unwrap(), b"plain", "left as it was");
    b.ok(&["cp", "s3://bkt/c/app-1.0.zip", one.to_str().unwrap()]);
    assert_eq!(&std::fs::read(&one).unwrap(), &b.files["c/app-1.0.zip"]);

    for prefix in ["f", "c"] {
        let (shown, ls) = b.listed(prefix);
        ls.succeeded();
        assert_eq!(shown, b.good_sizes(prefix), "{prefix}");
        let out = b.dest(&format!("all-{prefix}"));
        b.ok(&[
            "cp",
            "-r",
            &b.url(&format!("{prefix}/")),
            out.to_str().unwrap(),
        ]);
        same_files(&tree(&out), &b.good_below(prefix), prefix);
    }
    b.ok(&["verify", "s3://bkt/"]);
}

/// A `reference.bin` without dg metadata is someone's file: `rm -r` of its prefix leaves it
/// (and says so when asked for it by name, unless forced); the deltas that would need it fail
/// naming it, without a misleading "corrupt delta".
#[test]
fn a_plain_reference_bin_is_someones_file_and_is_not_deleted_silently() {
    let mut b = Bucket::new();
    b.plant("g/reference.bin", &b"my own file"[..], &BTreeMap::new());
    b.plant("g/notes.txt", &b"notes"[..], &BTreeMap::new());
    b.seed("h", "compat", 7);
    b.plant(
        "h/reference.bin",
        &b"replaced by someone"[..],
        &BTreeMap::new(),
    );

    // listing hides reference.bin keys (dg's own slot); the other files show
    let (shown, ls) = b.listed("g");
    ls.succeeded();
    assert_eq!(
        shown.keys().collect::<Vec<_>>(),
        ["g/notes.txt"],
        "{shown:?}"
    );
    // downloading it by name gives its bytes as they are
    let one = b.env.path("ref.bin");
    b.ok(&["cp", "s3://bkt/g/reference.bin", one.to_str().unwrap()]);
    assert_eq!(std::fs::read(&one).unwrap(), b"my own file");

    // the deltas of h/ fail naming the reference; the whole file there still downloads
    for name in ["app-1.0.zip", "app-1.1.zip"] {
        b.cp_one_fails(&format!("h/{name}"), Some("s3://bkt/h/reference.bin"))
            .says("s3://bkt/h/reference.bin", &[], &[]);
    }
    let mut want = b.good_below("h");
    want.retain(|k, _| k == "readme.txt");
    b.cp_r_fails(
        "h",
        &[
            "s3://bkt/h/app-1.0.zip",
            "s3://bkt/h/app-1.1.zip",
            "s3://bkt/h/app-1.2.zip",
        ],
        &want,
    );

    // rm -r of g/ removes the files and keeps someone's reference.bin
    b.ok(&["rm", "-r", "s3://bkt/g/"]);
    let keys = b.keys();
    assert!(keys.contains(&"g/reference.bin".to_string()), "{keys:?}");
    assert!(!keys.contains(&"g/notes.txt".to_string()), "{keys:?}");
    // rm by name refuses without --force, naming it
    let rm = b.run(&["rm", "s3://bkt/g/reference.bin"], &[]);
    rm.failed_naming(&["s3://bkt/g/reference.bin"]).says(
        "s3://bkt/g/reference.bin",
        &["no dg metadata"],
        &[],
    );
    assert!(b.keys().contains(&"g/reference.bin".to_string()));
    b.ok(&["rm", "--force", "s3://bkt/g/reference.bin"]);
    assert!(!b.keys().contains(&"g/reference.bin".to_string()));

    // rm -r of h/ deletes its deltas; the replaced reference is someone's file now: kept
    b.ok(&["rm", "-r", "s3://bkt/h/"]);
    let left: Vec<String> = b
        .keys()
        .into_iter()
        .filter(|k| k.starts_with("h/"))
        .collect();
    assert_eq!(left, ["h/reference.bin"], "{left:?}");
}

/// A plain object at `x.delta` with no `x` beside it is the file `x.delta` too, in a single
/// download, a listing and `cp -r`.
#[test]
fn a_lone_plain_object_at_a_delta_key_downloads_under_its_own_name() {
    let b = Bucket::new();
    b.plant("f/lone.zip.delta", &b"lonely"[..], &BTreeMap::new());
    let one = b.env.path("one.bin");
    b.ok(&["cp", "s3://bkt/f/lone.zip.delta", one.to_str().unwrap()]);
    assert_eq!(std::fs::read(&one).unwrap(), b"lonely");
    let (shown, ls) = b.listed("f");
    ls.succeeded();
    assert_eq!(shown.keys().collect::<Vec<_>>(), ["f/lone.zip.delta"]);
    let out = b.dest("all-f");
    b.ok(&["cp", "-r", "s3://bkt/f/", out.to_str().unwrap()]);
    let mut want = BTreeMap::new();
    want.insert("lone.zip.delta".to_string(), b"lonely".to_vec());
    same_files(&tree(&out), &want, "f");
}
