//! Downloads that share an encrypted on-disk cache fetch each reference from storage once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use dg_adapters::cache::random_key;
use dg_adapters::storage::CountingStorage;
use dg_adapters::{EncryptedCache, FsCache, MemoryStaging, MemoryStorage};
use dg_core::{Config, DeltaGlider, Format, Ports, PutRequest};
use dg_ports::{BytesBlob, Location, ReferenceCache, Staging};
use dg_testdata::{edit, noise};

use dg_testkit::per_format;

fn service(
    storage: Arc<CountingStorage>,
    cache: Arc<dyn ReferenceCache>,
    format: Format,
) -> DeltaGlider {
    DeltaGlider::new(
        Ports {
            storage,
            cache,
            ..dg_testkit::memory_ports()
        },
        Config {
            format,
            ..Config::default()
        },
    )
}

async fn twenty_downloads_fetch_the_reference_once(format: Format) {
    let memory = MemoryStorage::new();
    memory.create_bucket_now("b");
    let writer_storage = Arc::new(CountingStorage::new(Arc::new(memory.clone())));
    let writer = service(writer_storage, Arc::new(dg_ports::NoCache), format);
    let base = noise(1, 300_000);
    let mut files = Vec::new();
    for i in 0..20u64 {
        let data = edit(&base, i + 1, 5);
        writer
            .put(
                BytesBlob::shared(data.clone()),
                &Location::new("b", format!("ds/f{i}.zip")),
                &PutRequest::default(),
            )
            .await
            .unwrap();
        files.push(data);
    }
    let dir = tempfile::tempdir().unwrap();
    let key = random_key().unwrap();
    let counted = Arc::new(CountingStorage::new(Arc::new(memory)));
    for (i, data) in files.iter().enumerate() {
        // a fresh service per download: like 20 separate `dg cp` processes
        let cache = Arc::new(EncryptedCache::new(
            Arc::new(FsCache::new(dir.path(), 1 << 30).unwrap()),
            &key,
            None,
        ));
        let dg = service(counted.clone(), cache, format);
        let out = dg
            .get(
                &Location::new("b", format!("ds/f{i}.zip")),
                MemoryStaging.create().unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(&*out.blob.map().unwrap(), &data[..]);
    }
    assert_eq!(
        counted.calls("get", "ds/reference.bin"),
        1,
        "{format:?}: reference.bin fetched once for 20 downloads"
    );
}

per_format!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    twenty_downloads_fetch_the_reference_once
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_cache_entry_is_refetched_and_the_download_succeeds() {
    let memory = MemoryStorage::new();
    memory.create_bucket_now("b");
    let counted = Arc::new(CountingStorage::new(Arc::new(memory)));
    let base = noise(1, 100_000);
    let v2 = edit(&base, 2, 3);
    let writer = service(counted.clone(), Arc::new(dg_ports::NoCache), Format::Native);
    writer
        .put(
            BytesBlob::shared(base),
            &Location::new("b", "t/a.zip"),
            &PutRequest::default(),
        )
        .await
        .unwrap();
    writer
        .put(
            BytesBlob::shared(v2.clone()),
            &Location::new("b", "t/b.zip"),
            &PutRequest::default(),
        )
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key = random_key().unwrap();
    let make = || -> Arc<dyn ReferenceCache> {
        Arc::new(EncryptedCache::new(
            Arc::new(FsCache::new(dir.path(), 1 << 30).unwrap()),
            &key,
            None,
        ))
    };
    let get = |cache| {
        let dg = service(counted.clone(), cache, Format::Native);
        async move {
            dg.get(
                &Location::new("b", "t/b.zip"),
                MemoryStaging.create().unwrap(),
            )
            .await
            .unwrap()
        }
    };
    get(make()).await;
    let before = counted.calls("get", "t/reference.bin");
    for entry in std::fs::read_dir(dir.path()).unwrap().flatten() {
        let p = entry.path();
        if p.extension().is_some_and(|e| e == "ref") {
            let mut bytes = std::fs::read(&p).unwrap();
            let mid = bytes.len() / 2;
            bytes[mid] ^= 0xff;
            std::fs::write(&p, bytes).unwrap();
        }
    }
    let out = get(make()).await;
    assert_eq!(
        &*out.blob.map().unwrap(),
        &v2[..],
        "the download still succeeds"
    );
    assert_eq!(
        counted.calls("get", "t/reference.bin"),
        before + 1,
        "the reference was fetched again"
    );
}
