//! Downloads beside the whole form of their reference kept in the cache: a file's streams
//! that its reference has too are copied instead of compressed again. Whoever made or
//! downloaded the reference whole leaves it in the cache; a cold cache rebuilds as before, and
//! a damaged entry costs the speed-up, never the file.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use dg_adapters::engine::VcdiffEngine;
use dg_adapters::{MemoryCache, MemoryStaging, MemoryStorage, SeeThrough};
use dg_core::{Config, DeltaGlider, EngineSet, Ports, PutRequest};
use dg_ports::{
    BlobRef, BytesBlob, ExpandSummary, Expander, Location, ReferenceCache, Result, ReusedBytes,
    Similar, Staging,
};

/// The real expander, counting the rebuilds given a similar file.
#[derive(Debug, Default)]
struct Counting {
    inner: SeeThrough,
    beside: AtomicUsize,
}

impl Expander for Counting {
    fn name(&self) -> &'static str {
        self.inner.name()
    }
    fn expand(
        &self,
        input: &[u8],
        plain: &mut dyn Write,
        recipe: &mut dyn Write,
    ) -> Result<Option<ExpandSummary>> {
        self.inner.expand(input, plain, recipe)
    }
    fn expand_with(
        &self,
        input: &[u8],
        plain: &mut dyn Write,
        recipe: &mut dyn Write,
        known: Option<&[u8]>,
        learn: bool,
    ) -> Result<Option<ExpandSummary>> {
        self.inner.expand_with(input, plain, recipe, known, learn)
    }
    fn verify(
        &self,
        plain: &[u8],
        recipe: &[u8],
        original: &[u8],
        reused: &[(u64, ReusedBytes)],
    ) -> Result<bool> {
        self.inner.verify(plain, recipe, original, reused)
    }
    fn rebuild(
        &self,
        plain: &[u8],
        recipe: &[u8],
        out: &mut dyn Write,
        max_output: u64,
    ) -> Result<u64> {
        self.inner.rebuild(plain, recipe, out, max_output)
    }
    fn rebuild_beside(
        &self,
        plain: &[u8],
        recipe: &[u8],
        out: &mut dyn Write,
        max_output: u64,
        similar: Similar<'_>,
    ) -> Result<u64> {
        self.beside.fetch_add(1, Ordering::Relaxed);
        self.inner
            .rebuild_beside(plain, recipe, out, max_output, similar)
    }
}

/// A cache that damages a byte in the middle of every whole-reference entry it returns.
#[derive(Debug)]
struct Damaging(Arc<MemoryCache>);

#[async_trait]
impl ReferenceCache for Damaging {
    async fn get(&self, sha256: &str) -> Result<Option<BlobRef>> {
        let Some(blob) = self.0.get(sha256).await? else {
            return Ok(None);
        };
        let mut bytes = blob.map()?.to_vec();
        if bytes.starts_with(b"DGRAWv1\n") {
            // inside a member's stream: copied as it is, this would give a wrong file
            let middle = bytes.len() / 2;
            bytes[middle] ^= 0x55;
        }
        Ok(Some(BytesBlob::shared(bytes)))
    }
    async fn put(&self, sha256: &str, blob: BlobRef) -> Result<()> {
        self.0.put(sha256, blob).await
    }
    async fn remove(&self, sha256: &str) -> Result<()> {
        self.0.remove(sha256).await
    }
}

fn service(
    storage: &MemoryStorage,
    cache: Arc<dyn ReferenceCache>,
    expander: Arc<Counting>,
) -> DeltaGlider {
    DeltaGlider::new(
        Ports {
            storage: Arc::new(storage.clone()),
            cache,
            engines: EngineSet::new(vec![Arc::new(VcdiffEngine::default())]),
            expander: Some(expander),
            ..dg_testkit::memory_ports()
        },
        Config::default(),
    )
}

use dg_testdata::text;

/// A release: 16 deflated members, those in `changed` different.
fn release(changed: &[u64]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(Some(6));
    for i in 0..16u64 {
        let seed = if changed.contains(&i) { 1000 + i } else { i };
        zip.start_file(format!("pkg/m{i}.py"), options).unwrap();
        zip.write_all(&text(seed, 20_000)).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

async fn get(dg: &DeltaGlider, name: &str) -> Vec<u8> {
    let out = dg
        .get(
            &Location::new("b", format!("rel/{name}")),
            MemoryStaging.create().unwrap(),
        )
        .await
        .unwrap();
    out.blob.map().unwrap().to_vec()
}

#[tokio::test(flavor = "multi_thread")]
async fn downloads_rebuild_beside_the_whole_reference_and_stay_exact() {
    let storage = MemoryStorage::new();
    storage.create_bucket_now("b");
    let shared = Arc::new(MemoryCache::new(256 << 20));
    let files = [release(&[]), release(&[3]), release(&[3, 9])];
    let writer = service(&storage, shared.clone(), Arc::new(Counting::default()));
    for (i, data) in files.iter().enumerate() {
        writer
            .put(
                BytesBlob::shared(data.clone()),
                &Location::new("b", format!("rel/app-{i}.zip")),
                &PutRequest::default(),
            )
            .await
            .unwrap();
    }

    // the cache the uploader filled: every download goes beside the whole reference
    let counting = Arc::new(Counting::default());
    let warm = service(&storage, shared.clone(), counting.clone());
    for (i, data) in files.iter().enumerate().rev() {
        assert!(
            get(&warm, &format!("app-{i}.zip")).await == *data,
            "file {i}"
        );
    }
    assert_eq!(counting.beside.load(Ordering::Relaxed), 3);

    // a cold cache: rebuilt as before, until the reference itself is downloaded
    let counting = Arc::new(Counting::default());
    let cold = service(
        &storage,
        Arc::new(MemoryCache::new(256 << 20)),
        counting.clone(),
    );
    assert!(get(&cold, "app-1.zip").await == files[1]);
    assert_eq!(counting.beside.load(Ordering::Relaxed), 0);
    assert!(get(&cold, "app-0.zip").await == files[0]);
    assert!(get(&cold, "app-2.zip").await == files[2]);
    assert!(counting.beside.load(Ordering::Relaxed) >= 1);

    // a damaged entry: refused by the expander, the file still exact
    let counting = Arc::new(Counting::default());
    let damaged = service(&storage, Arc::new(Damaging(shared)), counting.clone());
    assert!(get(&damaged, "app-2.zip").await == files[2]);
    assert!(get(&damaged, "app-1.zip").await == files[1]);
    assert_eq!(counting.beside.load(Ordering::Relaxed), 2);
}
