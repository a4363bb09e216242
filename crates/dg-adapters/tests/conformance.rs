//! Every adapter against its port's conformance suite.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use dg_adapters::conformance::buckets::BucketRules;
use dg_adapters::conformance::staging::StagedIn;
use dg_adapters::engine::{RsyncEngine, VcdiffEngine, ZstdCompressor, ZstdEngine};
use dg_adapters::storage::{
    Backoff, RetryCounter, RetryPolicy, RetryingBuckets, RetryingStorage, S3Storage,
};
use dg_adapters::testing::{S3TestServer, ServerFaults};
use dg_adapters::{
    conformance, DirStaging, LocalStorage, MemoryCache, MemoryStaging, MemoryStorage, SeeThrough,
};
use dg_ports::{Buckets, Error};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_storage_conforms() {
    let store = MemoryStorage::new();
    store.create_bucket("conformance").await.unwrap();
    conformance::storage::run(Arc::new(store), "conformance").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn local_storage_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStorage::new(dir.path()).unwrap();
    store.create_bucket("conformance").await.unwrap();
    conformance::storage::run(Arc::new(store), "conformance").await;
    // the suite removed every object, and the store pruned the directories it left empty
    let left: Vec<_> = std::fs::read_dir(dir.path().join("conformance"))
        .unwrap()
        .collect();
    assert!(left.is_empty(), "empty directories are pruned: {left:?}");
}

async fn buckets_behave(store: &dyn Buckets) {
    store.create_bucket("alpha").await.unwrap();
    assert!(matches!(
        store.create_bucket("alpha").await,
        Err(Error::AlreadyExists { .. })
    ));
    assert!(matches!(
        store.create_bucket("Bad_Name").await,
        Err(Error::InvalidInput(_))
    ));
    let names: Vec<_> = store
        .list_buckets()
        .await
        .unwrap()
        .into_iter()
        .map(|b| b.name)
        .collect();
    assert!(names.contains(&"alpha".to_string()));
    store.delete_bucket("alpha").await.unwrap();
    assert!(matches!(
        store.delete_bucket("alpha").await,
        Err(Error::NotFound { .. })
    ));
}

#[tokio::test]
async fn bucket_administration() {
    buckets_behave(&MemoryStorage::new()).await;
    let dir = tempfile::tempdir().unwrap();
    buckets_behave(&LocalStorage::new(dir.path()).unwrap()).await;
}

#[tokio::test]
async fn non_empty_buckets_are_kept() {
    use dg_ports::{BytesBlob, Location, ObjectStorage, PutOptions};
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStorage::new(dir.path()).unwrap();
    store.create_bucket("full").await.unwrap();
    store
        .put(
            &Location::new("full", "a/b"),
            BytesBlob::shared(&b"x"[..]),
            PutOptions::default(),
        )
        .await
        .unwrap();
    assert!(matches!(
        store.delete_bucket("full").await,
        Err(Error::Precondition { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_cache_conforms() {
    conformance::cache::run(Arc::new(MemoryCache::new(8 << 20))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn counting_cache_conforms() {
    let counting = Arc::new(dg_adapters::cache::CountingCache::new(Arc::new(
        MemoryCache::new(8 << 20),
    )));
    let counts = counting.counts();
    conformance::cache::run(counting).await;
    assert!(
        counts.hits() > 0 && counts.misses() > 0,
        "the suite both hits and misses"
    );
}

#[test]
fn zstd_engine_conforms() {
    conformance::engine::run(&ZstdEngine::default());
}

#[test]
fn rsync_engine_conforms() {
    conformance::engine::run(&RsyncEngine::default());
}

#[test]
fn vcdiff_engine_conforms() {
    conformance::engine::run(&VcdiffEngine::default());
    conformance::engine::run(&VcdiffEngine {
        lzma: false,
        ..VcdiffEngine::default()
    });
}

#[tokio::test]
async fn memory_cache_stays_within_budget() {
    use dg_ports::{BytesBlob, ReferenceCache};
    let cache = MemoryCache::new(250_000);
    for i in 0..5u8 {
        cache
            .put(&format!("{i:064}"), BytesBlob::shared(vec![i; 100_000]))
            .await
            .unwrap();
    }
    assert!(cache.used() <= 250_000);
    assert!(
        cache.get(&format!("{:064}", 4)).await.unwrap().is_some(),
        "the newest entry is kept"
    );
    assert!(
        cache.get(&format!("{:064}", 0)).await.unwrap().is_none(),
        "the oldest entry is evicted"
    );
}

// ---------------------------------------------------------------------------------------------
// Buckets: every adapter and the retrying decorator.

#[tokio::test]
async fn memory_buckets_conform() {
    let store = MemoryStorage::new();
    conformance::buckets::run(&store, &store, BucketRules::default()).await;
}

#[tokio::test]
async fn local_buckets_conform() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStorage::new(dir.path()).unwrap();
    conformance::buckets::run(&store, &store, BucketRules::default()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn s3_buckets_conform() {
    let server = S3TestServer::start().await;
    let store = S3Storage::new(server.config()).unwrap();
    conformance::buckets::run(&store, &store, BucketRules::default()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn s3_buckets_conform_against_the_memory_server() {
    let server = S3TestServer::start_in_memory().await;
    let store = S3Storage::new(server.config()).unwrap();
    conformance::buckets::run(&store, &store, BucketRules::default()).await;
}

fn patient() -> RetryPolicy {
    RetryPolicy {
        base_delay: std::time::Duration::from_millis(2),
        max_delay: std::time::Duration::from_millis(20),
        ..RetryPolicy::attempts(12)
    }
}

#[tokio::test]
async fn retrying_buckets_conform() {
    let store = Arc::new(MemoryStorage::new());
    let buckets = RetryingBuckets::new(store.clone(), Backoff::new(patient(), RetryCounter::new()));
    conformance::buckets::run(&buckets, store.as_ref(), BucketRules::default()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn retrying_buckets_conform_on_a_throttling_server() {
    let server = S3TestServer::start_in_memory().await;
    let s3 = Arc::new(S3Storage::new(server.config()).unwrap());
    let counter = RetryCounter::new();
    let backoff = Backoff::new(patient(), counter.clone());
    let buckets = RetryingBuckets::new(s3.clone(), backoff.clone());
    let storage = RetryingStorage::with_backoff(s3, backoff);
    server.set_faults(ServerFaults {
        slowdown: 0.3,
        cut_bodies: 0.0,
        seed: 11,
    });
    conformance::buckets::run(&buckets, &storage, BucketRules::default()).await;
    assert!(server.slowed_down() > 0, "the server throttled");
    assert!(
        counter.get() >= server.slowed_down(),
        "every 503 was retried"
    );
}

// ---------------------------------------------------------------------------------------------
// Compressors: each path of the zstd/xz/bzip2 compressor.

#[test]
fn the_default_compressor_conforms() {
    conformance::compressor::run(&ZstdCompressor::default());
}

#[test]
fn the_compressor_conforms_with_zstd_alone() {
    // no xz/bzip2 pass, and every input over the small limit: the streaming path
    conformance::compressor::run(&ZstdCompressor {
        level: 3,
        workers: 0,
        small_level: 3,
        small_limit: 0,
        xz_limit: 0,
    });
}

#[test]
fn the_compressor_conforms_multithreaded_at_its_small_level() {
    conformance::compressor::run(&ZstdCompressor {
        workers: 2,
        xz_limit: 0,
        ..ZstdCompressor::default()
    });
}

// ---------------------------------------------------------------------------------------------
// Expanders.

fn gzip(data: &[u8], level: u32) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(level));
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[test]
fn the_see_through_expander_conforms() {
    let v1 = dg_testdata::text(1, 200_000);
    let v2 = dg_testdata::edit(&v1, 2, 10);
    conformance::expander::run(
        &SeeThrough::default(),
        &[gzip(&v1, 6), gzip(&v2, 9), gzip(&v1, 1)],
    );
}

// ---------------------------------------------------------------------------------------------
// Staging.

#[test]
fn memory_staging_conforms() {
    conformance::staging::run(&MemoryStaging, StagedIn::Memory);
}

#[test]
fn dir_staging_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let staging = DirStaging::new(dir.path().join("staging")).unwrap();
    conformance::staging::run(&staging, StagedIn::Dir(staging.dir().to_path_buf()));
}
