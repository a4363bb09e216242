//! Every adapter against its port's conformance suite.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use dg_adapters::engine::{RsyncEngine, VcdiffEngine, ZstdEngine};
use dg_adapters::{conformance, LocalStorage, MemoryCache, MemoryStorage};
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
