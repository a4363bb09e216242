//! The fault matrix: every storage call an upload or a download makes, failed once (transient),
//! failed for good (permanent), answered after taking effect (lost answer), or its body cut
//! off — on a local directory store and on an S3 server over HTTP, in both formats.
//!
//! The calls are counted first (with `CountingStorage`), so that every call index is covered.
//! Transient faults must be retried to success; permanent ones must fail the operation with the
//! injected error, never half-succeed silently; afterwards `verify` on the prefix must find no
//! broken object. The matrix is printed and written to `$CARGO_TARGET_TMPDIR/faults-matrix-*.md`
//! (docs/faults.md holds a copy).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use dg_adapters::storage::{CountingStorage, RetryPolicy, RetryingStorage, S3Storage};
use dg_adapters::testing::{Fault, FaultyStorage, Op, S3TestServer};
use dg_adapters::{LocalStorage, MemoryStaging, SeeThrough};
use dg_core::{Config, DeltaGlider, Format, Ports, PutRequest, Stored};
use dg_ports::{Buckets, BytesBlob, Error, Location, ObjectStorage, Staging};
use dg_testdata::{edit, noise};

const BUCKET_PREFIX: &str = "matrix";

/// One thing a user does.
#[derive(Clone)]
enum Step {
    Upload(&'static str, Arc<Vec<u8>>),
    /// An upload with `--no-delta`: a file stored as a delta before is replaced whole.
    UploadWhole(&'static str, Arc<Vec<u8>>),
    Download(&'static str, Arc<Vec<u8>>),
}

impl Step {
    fn describe(&self) -> String {
        match self {
            Step::Upload(name, _) => format!("upload {name}"),
            Step::UploadWhole(name, _) => format!("upload {name} --no-delta"),
            Step::Download(name, _) => format!("download {name}"),
        }
    }
}

fn steps() -> Vec<Step> {
    let v1 = noise(1, 200_000);
    let v2 = edit(&v1, 2, 20);
    let v3 = edit(&v2, 3, 20);
    let photo = Arc::new(noise(3, 60_000));
    let (v1, v2, v3) = (Arc::new(v1), Arc::new(v2), Arc::new(v3));
    vec![
        Step::Upload("app-1.0.zip", v1.clone()),
        Step::Upload("app-1.1.zip", v2.clone()),
        Step::Upload("photo.jpg", photo.clone()),
        Step::Download("app-1.0.zip", v1),
        Step::Download("app-1.1.zip", v2),
        Step::Download("photo.jpg", photo),
        Step::UploadWhole("app-1.1.zip", v3),
    ]
}

fn service(storage: Arc<dyn ObjectStorage>) -> DeltaGlider {
    DeltaGlider::new(
        Ports {
            storage,
            engines: dg::engines(),
            expander: Some(Arc::new(SeeThrough::default())),
            // the cache is fresh per service: downloads fetch the reference from storage
            ..dg_testkit::memory_ports()
        },
        Config::default(),
    )
}

/// Where a case runs: a fresh bucket of a fresh store.
struct Store {
    base: Arc<dyn ObjectStorage>,
    bucket: String,
    _dir: Option<tempfile::TempDir>,
}

enum Backend {
    Local,
    S3(S3TestServer),
}

impl Backend {
    fn name(&self) -> &'static str {
        match self {
            Backend::Local => "local",
            Backend::S3(_) => "s3",
        }
    }

    async fn fresh(&self, n: usize) -> Store {
        let bucket = format!("{BUCKET_PREFIX}-{n}");
        match self {
            Backend::Local => {
                let dir = tempfile::tempdir().unwrap();
                let store = LocalStorage::new(dir.path()).unwrap();
                store.create_bucket(&bucket).await.unwrap();
                Store {
                    base: Arc::new(store),
                    bucket,
                    _dir: Some(dir),
                }
            }
            Backend::S3(server) => {
                let store = S3Storage::new(server.config()).unwrap();
                store.create_bucket(&bucket).await.unwrap();
                Store {
                    base: Arc::new(store),
                    bucket,
                    _dir: None,
                }
            }
        }
    }
}

async fn run(dg: &DeltaGlider, bucket: &str, step: &Step, format: Format) -> Result<(), Error> {
    match step {
        Step::Upload(name, data) | Step::UploadWhole(name, data) => {
            let whole = matches!(step, Step::UploadWhole(..));
            // native is the default: the bucket's settings are read to find that out
            let request = PutRequest {
                format: (format == Format::Compat).then_some(format),
                no_delta: whole,
                ..PutRequest::default()
            };
            let at = Location::new(bucket, format!("app/{name}"));
            let outcome = dg
                .put(BytesBlob::shared(data.to_vec()), &at, &request)
                .await?;
            let direct = matches!(outcome.stored, Stored::Direct { .. });
            let expected = whole || *name == "photo.jpg";
            assert_eq!(direct, expected, "{name}: {:?}", outcome.stored);
            Ok(())
        }
        Step::Download(name, data) => {
            let at = Location::new(bucket, format!("app/{name}"));
            let got = dg.get(&at, MemoryStaging.create().unwrap()).await?;
            assert!(
                &got.blob.map().unwrap()[..] == data.as_slice(),
                "{name}: a download that succeeds is byte-identical"
            );
            Ok(())
        }
    }
}

/// The faults tried on a kind of call.
fn faults(op: Op) -> Vec<Fault> {
    let mut all = vec![Fault::Transient, Fault::Permanent];
    match op {
        Op::Put | Op::Delete | Op::Copy => all.push(Fault::LostAnswer),
        Op::Get => all.push(Fault::CutBody { after: 8 }),
        Op::Head | Op::List => {}
    }
    all
}

fn quick() -> RetryPolicy {
    RetryPolicy {
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
        ..RetryPolicy::attempts(5)
    }
}

/// Runs `steps[..index]` cleanly, then `steps[index]` with `fault` on call `n` of `op`; checks
/// the outcome and that verify finds nothing broken.
async fn case(
    backend: &Backend,
    number: usize,
    format: Format,
    index: usize,
    op: Op,
    n: u64,
    fault: &Fault,
) -> String {
    let all = steps();
    let store = backend.fresh(number).await;
    let clean = service(store.base.clone());
    for step in &all[..index] {
        run(&clean, &store.bucket, step, format).await.unwrap();
    }
    let faulty = FaultyStorage::new(store.base.clone());
    faulty.fail_nth(op, n, fault.clone());
    let retrying = RetryingStorage::new(Arc::new(faulty.clone()), quick());
    let retries = retrying.counter();
    let result = run(
        &service(Arc::new(retrying)),
        &store.bucket,
        &all[index],
        format,
    )
    .await;
    let injected = !faulty.injected().is_empty();
    let what = format!(
        "{} {format:?} {} {op} #{n} {fault}",
        backend.name(),
        all[index].describe()
    );

    let report = service(store.base.clone())
        .verify(&store.bucket, "app/", 2, &|_| {})
        .await
        .unwrap();
    assert!(report.is_ok(), "{what}: verify found {:?}", report.failed);
    let leftovers = if report.orphan_references.is_empty() {
        ""
    } else {
        ", orphan reference"
    };

    match (fault, &result) {
        // a body fault on a read that found nothing (a key tried before its `.delta`)
        _ if !injected => "n/a (no body)".to_string(),
        (Fault::Permanent, Err(e)) => {
            let text = e.to_string();
            assert!(
                text.contains("permanent failure (injected)"),
                "{what}: {text}"
            );
            assert_eq!(
                retries.get(),
                0,
                "{what}: a permanent failure is not repeated"
            );
            format!("fails{leftovers}")
        }
        (Fault::Permanent, Ok(())) => panic!("{what}: succeeded despite a permanent failure"),
        (_, Ok(())) => {
            assert!(retries.get() >= 1, "{what}: retried");
            // what was uploaded reads back
            if let Step::Upload(name, data) | Step::UploadWhole(name, data) = &all[index] {
                let back = Step::Download(name, data.clone());
                run(&service(store.base.clone()), &store.bucket, &back, format)
                    .await
                    .unwrap();
            }
            format!(
                "ok, {} retr{}",
                retries.get(),
                if retries.get() == 1 { "y" } else { "ies" }
            )
        }
        (_, Err(e)) => panic!("{what}: failed despite retries: {e}"),
    }
}

/// The whole matrix on one backend, as a Markdown table.
async fn matrix(backend: &Backend) -> String {
    let mut table = String::new();
    writeln!(
        table,
        "| format | operation | call | transient | permanent | lost answer / body cut |"
    )
    .unwrap();
    writeln!(table, "|---|---|---|---|---|---|").unwrap();
    let mut number = 0;
    let mut cases = 0;
    for format in [Format::Native, Format::Compat] {
        let all = steps();
        for index in 0..all.len() {
            // count the calls of the step, after the steps before it
            number += 1;
            let store = backend.fresh(number).await;
            let clean = service(store.base.clone());
            for step in &all[..index] {
                run(&clean, &store.bucket, step, format).await.unwrap();
            }
            // the calls in order (a fault-free FaultyStorage traces them), cross-checked with
            // CountingStorage's counts
            let counting = CountingStorage::new(store.base.clone());
            let tracing = FaultyStorage::new(Arc::new(counting.clone()));
            let dg = service(Arc::new(tracing.clone()));
            run(&dg, &store.bucket, &all[index], format).await.unwrap();
            let trace = tracing.trace();
            for op in Op::ALL {
                let traced = trace.iter().filter(|(o, _, _)| *o == op).count() as u64;
                assert_eq!(traced, counting.total(op.name()), "{op} calls");
            }
            for (op, n, what) in trace {
                let mut row: BTreeMap<usize, String> = BTreeMap::new();
                for (column, fault) in faults(op).iter().enumerate() {
                    number += 1;
                    let outcome = case(backend, number, format, index, op, n, fault).await;
                    row.insert(column, outcome);
                    cases += 1;
                }
                let key = what.replace(&format!("s3://{}/", store.bucket), "");
                let call = format!("{op} #{n} {key}");
                writeln!(
                    table,
                    "| {} | {} | {call} | {} | {} | {} |",
                    format.name(),
                    all[index].describe(),
                    row.get(&0).map_or("", String::as_str),
                    row.get(&1).map_or("", String::as_str),
                    row.get(&2).map_or("–", String::as_str),
                )
                .unwrap();
            }
        }
    }
    writeln!(table, "\n{cases} cases on the {} store.", backend.name()).unwrap();
    table
}

fn record(backend: &Backend, table: &str) {
    println!("{table}");
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("faults-matrix-{}.md", backend.name()));
    std::fs::write(&path, table).unwrap();
    println!("written to {}", path.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_call_of_uploads_and_downloads_on_a_local_store() {
    let backend = Backend::Local;
    let table = matrix(&backend).await;
    record(&backend, &table);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_call_of_uploads_and_downloads_on_s3() {
    let backend = Backend::S3(S3TestServer::start().await);
    let table = matrix(&backend).await;
    record(&backend, &table);
}
