//! References shared across prefixes: the first file of a prefix made a delta against a sibling
//! prefix's reference, and the lifecycle that keeps such a reference while any delta needs it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use dg_core::{
    meta, Config, DeltaGlider, Format, Ports, PutRequest, ReferenceScope, Stored, SHARED_PREFIX,
};
use dg_ports::{BytesBlob, Error, Location, ObjectStorage, ObjectStorageExt, Staging};
use dg_testdata::{edit, noise};
use dg_testkit::per_format;

fn service(format: Format) -> (DeltaGlider, dg_adapters::MemoryStorage) {
    let storage = dg_adapters::MemoryStorage::new();
    storage.create_bucket_now("b");
    (fresh(&storage, format), storage)
}

/// A service over `storage` that has seen nothing yet (no reference in memory or cache).
fn fresh(storage: &dg_adapters::MemoryStorage, format: Format) -> DeltaGlider {
    DeltaGlider::new(
        Ports {
            storage: Arc::new(storage.clone()),
            ..dg_testkit::memory_ports()
        },
        Config {
            format,
            ..Config::default()
        },
    )
}

fn loc(key: &str) -> Location {
    Location::new("b", key)
}

async fn put(dg: &DeltaGlider, key: &str, data: &[u8]) -> dg_core::PutOutcome {
    dg.put(
        BytesBlob::shared(data.to_vec()),
        &loc(key),
        &PutRequest::default(),
    )
    .await
    .unwrap()
}

async fn get(dg: &DeltaGlider, key: &str) -> dg_ports::Result<Vec<u8>> {
    let out = dg
        .get(&loc(key), dg_adapters::MemoryStaging.create().unwrap())
        .await?;
    Ok(out.blob.map().unwrap().to_vec())
}

async fn keys(storage: &dg_adapters::MemoryStorage, prefix: &str) -> Vec<String> {
    let mut keys: Vec<String> = storage
        .list_all("b", prefix)
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.location.key)
        .collect();
    keys.sort();
    keys
}

async fn references(storage: &dg_adapters::MemoryStorage) -> Vec<String> {
    keys(storage, "")
        .await
        .into_iter()
        .filter(|k| k.ends_with("/reference.bin"))
        .collect()
}

async fn ref_key(storage: &dg_adapters::MemoryStorage, key: &str) -> String {
    let info = storage.head(&loc(key)).await.unwrap();
    match meta::classify(key, &info.metadata).unwrap() {
        meta::ObjectKind::Delta(d) => d.ref_key,
        other => panic!("{key} is not a delta: {other:?}"),
    }
}

/// Four versions, one per prefix.
fn versions() -> Vec<Vec<u8>> {
    let v1 = noise(1, 200_000);
    let mut out = vec![v1.clone()];
    for i in 0..3u64 {
        out.push(edit(out.last().unwrap(), 10 + i, 4));
    }
    out
}

/// Uploads [`versions`] one per prefix (`rel/1.<i>/app-1.<i>.zip`); returns them.
async fn upload_series(dg: &DeltaGlider) -> Vec<Vec<u8>> {
    let files = versions();
    for (i, data) in files.iter().enumerate() {
        put(dg, &format!("rel/1.{i}/app-1.{i}.zip"), data).await;
    }
    files
}

/// Uploads the first two [`versions`] one per prefix; returns all four.
async fn upload_two(dg: &DeltaGlider) -> Vec<Vec<u8>> {
    let files = versions();
    put(dg, "rel/1.0/app-1.0.zip", &files[0]).await;
    put(dg, "rel/1.1/app-1.1.zip", &files[1]).await;
    files
}

async fn one_version_per_prefix_shares_the_first_reference(format: Format) {
    let (dg, storage) = service(format);
    let files = versions();
    let mut stored = 0;
    for (i, data) in files.iter().enumerate() {
        let out = put(&dg, &format!("rel/1.{i}/app-1.{i}.zip"), data).await;
        assert!(matches!(out.stored, Stored::Delta { .. }), "{out:?}");
        if i > 0 {
            assert!(out.stored_size < 5_000, "1.{i}: {}", out.stored_size);
            assert!(
                out.notes
                    .iter()
                    .any(|n| n.contains("rel/1.0/reference.bin")),
                "{:?}",
                out.notes
            );
            stored += out.stored_size;
        }
    }
    assert!(stored < 15_000);
    assert_eq!(references(&storage).await, ["rel/1.0/reference.bin"]);
    for i in 1..4 {
        let key = format!("rel/1.{i}/app-1.{i}.zip.delta");
        assert_eq!(ref_key(&storage, &key).await, "rel/1.0/reference.bin");
    }
    for (i, data) in files.iter().enumerate() {
        assert_eq!(
            &get(&dg, &format!("rel/1.{i}/app-1.{i}.zip")).await.unwrap(),
            data
        );
    }
    // three markers, hidden from listings
    assert_eq!(keys(&storage, SHARED_PREFIX).await.len(), 3);
    let listed = dg
        .list(&dg_core::ListQuery {
            bucket: "b".into(),
            prefix: "rel/".into(),
            delimiter: None,
            start_after: None,
            max_keys: 0,
            original_sizes: false,
            metadata: false,
        })
        .await
        .unwrap();
    assert_eq!(listed.entries.len(), 4, "{:?}", listed.entries);
    let report = dg.verify("b", "", 4, &|_| {}).await.unwrap();
    assert!(report.is_ok(), "{:?}", report.failed);
    assert!(report.orphan_references.is_empty());
}
per_format!(
    #[tokio::test]
    one_version_per_prefix_shares_the_first_reference
);

async fn unlike_files_and_the_prefix_scope_start_references_of_their_own(format: Format) {
    let (dg, storage) = service(format);
    put(&dg, "rel/1.0/app-1.0.zip", &noise(1, 200_000)).await;
    // nothing in common with the sibling's reference: a reference of its own
    let out = put(&dg, "rel/1.1/other-1.1.zip", &noise(2, 200_000)).await;
    assert!(
        matches!(
            out.stored,
            Stored::Delta {
                created_reference: true,
                ..
            }
        ),
        "{out:?}"
    );
    // like the sibling's, but the scope is the prefix: a reference of its own too
    let out = dg
        .put(
            BytesBlob::shared(edit(&noise(1, 200_000), 5, 3)),
            &loc("rel/1.2/app-1.2.zip"),
            &PutRequest {
                reference_scope: Some(ReferenceScope::Prefix),
                ..PutRequest::default()
            },
        )
        .await
        .unwrap();
    assert!(
        matches!(
            out.stored,
            Stored::Delta {
                created_reference: true,
                ..
            }
        ),
        "{out:?}"
    );
    assert_eq!(references(&storage).await.len(), 3);
    assert!(keys(&storage, SHARED_PREFIX).await.is_empty());
    // the bucket's setting does the same
    dg.set_bucket_settings(
        "b",
        &dg_core::BucketSettings {
            reference_scope: Some(ReferenceScope::Prefix),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    put(&dg, "rel/1.3/app-1.3.zip", &edit(&noise(1, 200_000), 6, 3)).await;
    assert_eq!(references(&storage).await.len(), 4);
}
per_format!(
    #[tokio::test]
    unlike_files_and_the_prefix_scope_start_references_of_their_own
);

async fn a_shared_reference_stays_until_its_last_delta_goes(format: Format) {
    let (dg, storage) = service(format);
    let files = upload_series(&dg).await;
    // the reference's own prefix loses its file: the reference stays for the others
    let out = dg.delete(&loc("rel/1.0/app-1.0.zip"), false).await.unwrap();
    assert_eq!(out.removed, vec![loc("rel/1.0/app-1.0.zip.delta")]);
    assert_eq!(references(&storage).await, ["rel/1.0/reference.bin"]);
    for (i, data) in files.iter().enumerate().skip(1) {
        assert_eq!(
            &get(&dg, &format!("rel/1.{i}/app-1.{i}.zip")).await.unwrap(),
            data
        );
    }
    let report = dg.verify("b", "", 4, &|_| {}).await.unwrap();
    assert!(report.is_ok(), "{:?}", report.failed);
    assert!(
        report.orphan_references.is_empty(),
        "{:?}",
        report.orphan_references
    );
    assert!(dg
        .leftovers("b", "")
        .await
        .unwrap()
        .orphan_references
        .is_empty());
    // deleting the reference itself is refused while others share it
    let refused = dg.delete(&loc("rel/1.0/reference.bin"), false).await;
    match refused {
        Err(Error::Precondition { reason, .. }) => assert!(reason.contains("share"), "{reason}"),
        other => panic!("{other:?}"),
    }
    dg.delete(&loc("rel/1.1/app-1.1.zip"), false).await.unwrap();
    dg.delete(&loc("rel/1.2/app-1.2.zip"), false).await.unwrap();
    assert_eq!(references(&storage).await.len(), 1);
    // the last user gone, the reference goes with it, and its markers
    let out = dg.delete(&loc("rel/1.3/app-1.3.zip"), false).await.unwrap();
    assert_eq!(
        out.removed,
        vec![
            loc("rel/1.3/app-1.3.zip.delta"),
            loc("rel/1.0/reference.bin")
        ]
    );
    assert!(
        keys(&storage, "").await.is_empty(),
        "{:?}",
        keys(&storage, "").await
    );
}
per_format!(
    #[tokio::test]
    a_shared_reference_stays_until_its_last_delta_goes
);

async fn a_replaced_delta_no_longer_keeps_the_reference(format: Format) {
    let (dg, storage) = service(format);
    upload_two(&dg).await;
    // 1.1 is replaced by something unlike 1.0: its marker is stale from then on
    put(&dg, "rel/1.1/app-1.1.zip", &noise(9, 200_000)).await;
    assert_eq!(
        ref_key(&storage, "rel/1.1/app-1.1.zip.delta").await,
        "rel/1.1/reference.bin"
    );
    let out = dg.delete(&loc("rel/1.0/app-1.0.zip"), false).await.unwrap();
    assert_eq!(
        out.removed,
        vec![
            loc("rel/1.0/app-1.0.zip.delta"),
            loc("rel/1.0/reference.bin")
        ]
    );
    assert!(keys(&storage, SHARED_PREFIX).await.is_empty());
    assert_eq!(
        &get(&dg, "rel/1.1/app-1.1.zip").await.unwrap(),
        &noise(9, 200_000)
    );
}
per_format!(
    #[tokio::test]
    a_replaced_delta_no_longer_keeps_the_reference
);

async fn concurrent_first_writers_in_sibling_prefixes_stay_readable(format: Format) {
    let (dg, storage) = service(format);
    let base = noise(1, 200_000);
    // eight versions at once, half of them beside an existing reference, half into a parent
    // with none: whatever each chose, every file reads back and nothing dangles
    put(&dg, "a/0/app-0.zip", &base).await;
    let tasks: Vec<_> = (1..=8u64)
        .map(|i| {
            let dg = dg.clone();
            let data = edit(&base, 20 + i, 3);
            let key = if i % 2 == 0 {
                format!("a/{i}/app-{i}.zip")
            } else {
                format!("fresh/{i}/app-{i}.zip")
            };
            tokio::spawn(async move {
                put(&dg, &key, &data).await;
                (key, data)
            })
        })
        .collect();
    let mut written = Vec::new();
    for task in tasks {
        written.push(task.await.unwrap());
    }
    for (key, data) in &written {
        assert_eq!(&get(&dg, key).await.unwrap(), data, "{key}");
        let reference = ref_key(&storage, &format!("{key}.delta")).await;
        assert!(
            storage.head(&loc(&reference)).await.is_ok(),
            "{key} -> {reference}"
        );
        if key.starts_with("a/") {
            assert_eq!(reference, "a/0/reference.bin");
        }
    }
    let report = dg.verify("b", "", 4, &|_| {}).await.unwrap();
    assert!(report.is_ok(), "{:?}", report.failed);
    // and all deleted at once, every reference and marker goes
    let mut all = written.clone();
    all.push(("a/0/app-0.zip".into(), base));
    let deletes: Vec<_> = all
        .into_iter()
        .map(|(key, _)| {
            let dg = dg.clone();
            tokio::spawn(async move { dg.delete(&loc(&key), false).await.unwrap() })
        })
        .collect();
    for task in deletes {
        task.await.unwrap();
    }
    // racing deletes may each leave a reference the other still counted: verify names them
    let left = dg.leftovers("b", "").await.unwrap();
    let listed = keys(&storage, "").await;
    assert!(
        listed
            .iter()
            .all(|k| k.ends_with("reference.bin") || k.starts_with(SHARED_PREFIX)),
        "{listed:?}"
    );
    let refs: Vec<String> = listed
        .into_iter()
        .filter(|k| k.ends_with("reference.bin"))
        .collect();
    let orphans: Vec<String> = left
        .orphan_references
        .into_iter()
        .map(|o| o.location.key)
        .collect();
    assert_eq!(orphans, refs);
}
per_format!(
    #[tokio::test]
    concurrent_first_writers_in_sibling_prefixes_stay_readable
);

async fn a_shared_delta_checks_the_reference_it_names(format: Format) {
    let (dg, storage) = service(format);
    let files = upload_two(&dg).await;
    // the shared reference replaced behind dg's back: the delta is refused, not misread
    let reference = storage.get(&loc("rel/1.0/reference.bin")).await.unwrap();
    let mut metadata = reference.info.metadata.clone();
    metadata.insert("dg-file-sha256".into(), "ab".repeat(32));
    metadata.insert("dg-plain-sha256".into(), "ab".repeat(32));
    storage
        .put(
            &loc("rel/1.0/reference.bin"),
            BytesBlob::shared(noise(5, 1000)),
            dg_ports::PutOptions {
                metadata,
                mode: dg_ports::PutMode::Overwrite,
            },
        )
        .await
        .unwrap();
    // (this process verified the right bytes already and still serves them from memory)
    assert_eq!(&get(&dg, "rel/1.1/app-1.1.zip").await.unwrap(), &files[1]);
    let failed = get(&fresh(&storage, format), "rel/1.1/app-1.1.zip").await;
    assert!(
        matches!(
            failed,
            Err(Error::Corrupt { .. } | Error::InvalidData { .. })
        ),
        "{failed:?}"
    );
}
per_format!(
    #[tokio::test]
    a_shared_delta_checks_the_reference_it_names
);

async fn stats_name_the_references_a_prefix_shares(format: Format) {
    let (dg, _storage) = service(format);
    upload_series(&dg).await;
    let options = dg_core::stats::StatsOptions {
        mode: dg_core::stats::StatsMode::Detailed,
        cache: dg_core::stats::StatsCache::Off,
    };
    let one = dg.stats("b", "rel/1.2/", options).await.unwrap();
    assert_eq!((one.references, one.shared_references), (0, 1), "{one:?}");
    assert!(one.shared_reference_bytes > 0);
    // the whole series holds its reference: nothing shared from outside
    let all = dg.stats("b", "rel/", options).await.unwrap();
    assert_eq!((all.references, all.shared_references), (1, 0), "{all:?}");
}
per_format!(
    #[tokio::test]
    stats_name_the_references_a_prefix_shares
);
