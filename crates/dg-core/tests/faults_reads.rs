//! Reads stay strict under faults: a body cut off, cut short or corrupted — of the object or of
//! the reference it needs — is an error and leaves nothing at the destination; with retries
//! the cut ones are resumed and the file arrives whole.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use dg_adapters::storage::{RetryPolicy, RetryingStorage};
use dg_adapters::testing::{Fault, FaultyStorage, Op};
use dg_adapters::{DestinationFile, MemoryStorage};
use dg_core::{BucketSettings, Config, DeltaGlider, Format, Ports, PutRequest};
use dg_ports::{BytesBlob, Error, Location, ObjectStorage, PutOptions};
use dg_testdata::{edit, noise};
use std::time::SystemTime;

fn service(storage: Arc<dyn ObjectStorage>) -> DeltaGlider {
    DeltaGlider::new(
        Ports {
            storage,
            clock: Arc::new(dg_ports::FixedClock(SystemTime::UNIX_EPOCH)),
            // a fresh cache: every read fetches the reference from storage
            ..dg_testkit::memory_ports()
        },
        Config::default(),
    )
}

fn at(key: &str) -> Location {
    Location::new("b", key)
}

/// A store with a plain object, a whole file, and two versions in each format.
async fn stored() -> (MemoryStorage, Vec<(&'static str, Vec<u8>)>) {
    let memory = MemoryStorage::new();
    memory.create_bucket_now("b");
    let dg = service(Arc::new(memory.clone()));
    let v1 = noise(1, 300_000);
    let v2 = edit(&v1, 2, 20);
    let plain = noise(3, 50_000);
    memory
        .put(
            &at("raw/plain.bin"),
            BytesBlob::shared(plain.clone()),
            PutOptions::default(),
        )
        .await
        .unwrap();
    let mut files = vec![("raw/plain.bin", plain)];
    let whole = PutRequest {
        no_delta: true,
        ..PutRequest::default()
    };
    dg.put(BytesBlob::shared(v1.clone()), &at("doc/whole.zip"), &whole)
        .await
        .unwrap();
    files.push(("doc/whole.zip", v1.clone()));
    for (space, format) in [("nat", Format::Native), ("cmp", Format::Compat)] {
        let request = PutRequest {
            format: Some(format),
            ..PutRequest::default()
        };
        for (name, data) in [("app-1.0.zip", &v1), ("app-1.1.zip", &v2)] {
            let key: &'static str = Box::leak(format!("{space}/{name}").into_boxed_str());
            dg.put(BytesBlob::shared(data.clone()), &at(key), &request)
                .await
                .unwrap();
            files.push((key, data.clone()));
        }
    }
    (memory, files)
}

/// Downloads `key` through `storage` to a file; the file's bytes, or the error (and then no
/// file exists).
async fn download(storage: Arc<dyn ObjectStorage>, key: &str) -> Result<Vec<u8>, Error> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.bin");
    let out = Box::new(DestinationFile::create(&path).unwrap());
    match service(storage).get(&at(key), out).await {
        Ok(_) => Ok(std::fs::read(&path).unwrap()),
        Err(e) => {
            assert!(
                !path.exists(),
                "{key}: nothing at the destination after {e}"
            );
            let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
            assert!(left.is_empty(), "{key}: no temp file left: {left:?}");
            Err(e)
        }
    }
}

const BODY_FAULTS: [Fault; 3] = [
    Fault::CutBody { after: 8 },
    Fault::ShortBody { after: 8 },
    Fault::CorruptBody { at: 8 },
];

#[tokio::test]
async fn a_damaged_body_is_an_error_never_bytes() {
    let (memory, files) = stored().await;
    let mut cases = 0;
    for (key, data) in &files {
        // every read the download makes: the object, then the reference of a delta
        let clean = FaultyStorage::new(Arc::new(memory.clone()));
        assert_eq!(&download(Arc::new(clean.clone()), key).await.unwrap(), data);
        let reads = clean.calls(Op::Get);
        for n in 1..=reads {
            for fault in BODY_FAULTS {
                let faulty = FaultyStorage::new(Arc::new(memory.clone()));
                faulty.fail_nth(Op::Get, n, fault.clone());
                let got = download(Arc::new(faulty.clone()), key).await;
                let injected = faulty.injected();
                if injected.is_empty() {
                    continue; // that read found nothing (a key tried before its `.delta`)
                }
                match got {
                    Err(e) => {
                        let text = e.to_string();
                        assert!(
                            matches!(e, Error::Corrupt { .. } | Error::InvalidData { .. })
                                || text.contains("injected"),
                            "{key}, {injected:?}: {text}"
                        );
                    }
                    // a plain object has no recorded hash: only its size can be checked
                    Ok(bytes)
                        if *key == "raw/plain.bin" && fault == (Fault::CorruptBody { at: 8 }) =>
                    {
                        assert_ne!(&bytes, data);
                    }
                    Ok(bytes) => panic!(
                        "{key}, {injected:?}: {} bytes returned from a damaged body",
                        bytes.len()
                    ),
                }
                cases += 1;
            }
        }
    }
    assert!(cases >= 3 * (1 + 1 + 2 * 2 + 2 * 2), "{cases} cases");
}

#[tokio::test]
async fn with_retries_a_cut_body_is_resumed_and_a_corrupt_one_still_fails() {
    let (memory, files) = stored().await;
    let policy = RetryPolicy {
        base_delay: std::time::Duration::from_millis(1),
        ..RetryPolicy::attempts(3)
    };
    for (key, data) in &files {
        let probe = FaultyStorage::new(Arc::new(memory.clone()));
        download(Arc::new(probe.clone()), key).await.unwrap();
        for n in 1..=probe.calls(Op::Get) {
            for fault in BODY_FAULTS {
                let faulty = FaultyStorage::new(Arc::new(memory.clone()));
                faulty.fail_nth(Op::Get, n, fault.clone());
                let retrying = RetryingStorage::new(Arc::new(faulty.clone()), policy.clone());
                let counter = retrying.counter();
                let got = download(Arc::new(retrying), key).await;
                if faulty.injected().is_empty() {
                    continue;
                }
                match fault {
                    Fault::CorruptBody { .. } if *key != "raw/plain.bin" => {
                        let e = got.map(|b| b.len()).unwrap_err();
                        assert!(
                            matches!(e, Error::Corrupt { .. } | Error::InvalidData { .. }),
                            "{key}: {e}"
                        );
                    }
                    Fault::CorruptBody { .. } => {}
                    _ => {
                        assert!(&got.unwrap() == data, "{key} #{n} {fault}");
                        assert_eq!(counter.get(), 1, "{key} #{n} {fault}: resumed once");
                    }
                }
            }
        }
    }
}

#[tokio::test]
async fn bucket_settings_cut_short_are_not_read_as_other_settings() {
    let memory = MemoryStorage::new();
    memory.create_bucket_now("b");
    let dg = service(Arc::new(memory.clone()));
    dg.set_bucket_settings(
        "b",
        &BucketSettings {
            format: Some(Format::Compat),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let faulty = FaultyStorage::new(Arc::new(memory.clone()));
    // the first line, a comment, alone would parse as "no settings"
    faulty.fail_nth(Op::Get, 1, Fault::ShortBody { after: 20 });
    let e = service(Arc::new(faulty))
        .bucket_settings("b")
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Corrupt { .. }), "{e}");
    let whole = service(Arc::new(memory))
        .bucket_settings("b")
        .await
        .unwrap();
    assert_eq!(whole.format, Some(Format::Compat));
}
