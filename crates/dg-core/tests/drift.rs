//! Series that drift (native format): files whose delta against the deltaspace's reference has
//! grown become newer references (layers, deltas against reference.bin), downloads read at most
//! three objects, and layers go with their deltaspace.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use dg_adapters::storage::CountingStorage;
use dg_adapters::{MemoryStaging, MemoryStorage};
use dg_core::layers::{is_layer_key, LAYERS_PREFIX};
use dg_core::{meta, Config, DeltaGlider, Format, Ports, PutRequest};
use dg_ports::{BytesBlob, Location, ObjectStorage, ObjectStorageExt, Staging};
use dg_testdata::noise;

fn loc(key: &str) -> Location {
    Location::new("b", key)
}

fn service(storage: &Arc<dyn ObjectStorage>, format: Format) -> DeltaGlider {
    DeltaGlider::new(
        Ports {
            storage: storage.clone(),
            ..dg_testkit::memory_ports()
        },
        Config {
            format,
            ..Config::default()
        },
    )
}

/// Twelve days of a 300 KB file, each day rewriting another 6 KB block: the delta against day
/// one grows by about 2% of the file a day.
fn days() -> Vec<Vec<u8>> {
    let mut day = noise(1, 300_000);
    let mut out = vec![day.clone()];
    for i in 1..12u64 {
        let at = ((i * 37_003) % 290_000) as usize;
        day.splice(at..at + 6_000, noise(100 + i, 6_000));
        out.push(day.clone());
    }
    out
}

/// Uploads `files` as `db/day-NN.bin` in order; the bytes each upload stored.
async fn upload_days(dg: &DeltaGlider, files: &[Vec<u8>], request: &PutRequest) -> Vec<u64> {
    let mut stored = Vec::new();
    for (i, data) in files.iter().enumerate() {
        let out = dg
            .put(
                BytesBlob::shared(data.clone()),
                &loc(&format!("db/day-{i:02}.bin")),
                request,
            )
            .await
            .unwrap();
        stored.push(out.stored_size);
    }
    stored
}

/// The keys and sizes of the objects under `prefix`.
async fn keys(storage: &Arc<dyn ObjectStorage>, prefix: &str) -> Vec<(String, u64)> {
    storage
        .list_all("b", prefix)
        .await
        .unwrap()
        .into_iter()
        .map(|o| (o.location.key, o.size))
        .collect()
}

async fn ref_key(storage: &Arc<dyn ObjectStorage>, key: &str) -> String {
    let info = storage.head(&loc(key)).await.unwrap();
    match meta::classify(key, &info.metadata).unwrap() {
        meta::ObjectKind::Delta(d) => d.ref_key,
        other => panic!("{key}: {other:?}"),
    }
}

#[tokio::test]
async fn a_drifting_series_gains_layers_and_every_download_reads_three_objects_at_most() {
    let memory = MemoryStorage::new();
    memory.create_bucket_now("b");
    let storage: Arc<dyn ObjectStorage> = Arc::new(memory);
    let dg = service(&storage, Format::Native);
    let files = days();
    let own_objects = upload_days(&dg, &files, &PutRequest::default()).await;
    let layers = keys(&storage, LAYERS_PREFIX).await;
    assert!(layers.len() >= 2, "{layers:?}");
    // layers are deltas against reference.bin, never against each other
    for (key, _) in &layers {
        assert!(is_layer_key(key));
        assert_eq!(ref_key(&storage, key).await, "db/reference.bin");
    }
    // every file's delta is against reference.bin or a layer, and stays small: the last day's
    // is a few days of drift, not eleven (about 66 KB against day one)
    for i in 1..files.len() {
        let reference = ref_key(&storage, &format!("db/day-{i:02}.bin.delta")).await;
        assert!(
            reference == "db/reference.bin" || is_layer_key(&reference),
            "{reference}"
        );
    }
    let stored = keys(&storage, "db/").await;
    let last = stored
        .iter()
        .find(|(k, _)| k == "db/day-11.bin.delta")
        .map_or(u64::MAX, |(_, size)| *size);
    assert!(
        last < 20_000,
        "the last day's own object: {last} bytes; uploads: {own_objects:?}"
    );
    let layer_bytes: u64 = layers.iter().map(|(_, size)| size).sum();
    let deltas: u64 = stored
        .iter()
        .filter(|(k, _)| k.ends_with(".delta"))
        .map(|(_, size)| size)
        .sum();
    assert!(
        layer_bytes + deltas < 300_000,
        "layers {layer_bytes} + deltas {deltas}"
    );

    // a fresh process reads each file with at most three GETs: its delta, a layer, reference.bin
    for (i, data) in files.iter().enumerate() {
        let counting = CountingStorage::new(storage.clone());
        let reader = service(
            &(Arc::new(counting.clone()) as Arc<dyn ObjectStorage>),
            Format::Native,
        );
        let got = reader
            .get(
                &loc(&format!("db/day-{i:02}.bin")),
                MemoryStaging.create().unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(&*got.blob.map().unwrap(), &data[..], "day {i}");
        // the file's own key is tried first (a miss), then its delta and what it needs
        let misses = counting.calls("get", &format!("db/day-{i:02}.bin"));
        let read = counting.total("get") - misses;
        assert!(read <= 3, "day {i}: {read} objects read ({counting:?})");
    }
    let report = dg.verify("b", "", 4, &|_| {}).await.unwrap();
    assert!(report.is_ok(), "{:?}", report.failed);
    assert!(report.orphan_references.is_empty());
    let stats = dg
        .stats(
            "b",
            "db/",
            dg_core::stats::StatsOptions {
                mode: dg_core::stats::StatsMode::Detailed,
                cache: dg_core::stats::StatsCache::Off,
            },
        )
        .await
        .unwrap();
    assert_eq!(stats.references as usize, 1 + layers.len(), "{stats:?}");

    // deleting files keeps the layers while any file is left; the last one takes them all
    for i in 0..files.len() - 1 {
        dg.delete(&loc(&format!("db/day-{i:02}.bin")), false)
            .await
            .unwrap();
    }
    assert_eq!(keys(&storage, LAYERS_PREFIX).await.len(), layers.len());
    assert_eq!(
        &*dg.get(&loc("db/day-11.bin"), MemoryStaging.create().unwrap())
            .await
            .unwrap()
            .blob
            .map()
            .unwrap(),
        &files[11][..]
    );
    let out = dg.delete(&loc("db/day-11.bin"), false).await.unwrap();
    assert!(out.removed.contains(&loc("db/reference.bin")), "{out:?}");
    let left = keys(&storage, "").await;
    assert!(left.is_empty(), "{left:?}");
}

#[tokio::test]
async fn compat_deltaspaces_never_gain_layers() {
    let memory = MemoryStorage::new();
    memory.create_bucket_now("b");
    let storage: Arc<dyn ObjectStorage> = Arc::new(memory);
    let dg = service(&storage, Format::Compat);
    upload_days(&dg, &days(), &PutRequest::default()).await;
    assert!(keys(&storage, LAYERS_PREFIX).await.is_empty());
}

#[tokio::test]
async fn the_prefix_scope_keeps_one_reference() {
    let memory = MemoryStorage::new();
    memory.create_bucket_now("b");
    let storage: Arc<dyn ObjectStorage> = Arc::new(memory);
    let dg = service(&storage, Format::Native);
    let request = PutRequest {
        reference_scope: Some(dg_core::ReferenceScope::Prefix),
        ..PutRequest::default()
    };
    upload_days(&dg, &days(), &request).await;
    assert!(keys(&storage, LAYERS_PREFIX).await.is_empty());
    assert_eq!(
        ref_key(&storage, "db/day-11.bin.delta").await,
        "db/reference.bin"
    );
}
