//! A store that breaks create-if-absent: the reference an upload just created is replaced by
//! another writer's before the upload's delta is written. The delta must be made against the
//! reference that is there, never against the one that was overwritten.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use dg_adapters::{MemoryStaging, MemoryStorage};
use dg_core::{Config, DeltaGlider, Format, Ports, PutRequest, Stored};
use dg_ports::{
    BlobRef, BytesBlob, GetResult, ListPage, ListRequest, Location, ObjectInfo, ObjectStorage,
    PutMode, PutOptions, Result, Staging,
};
use dg_testdata::{edit, noise};
use dg_testkit::per_format;
use futures::TryStreamExt;

/// Another writer's reference, put over each create-only write right after it lands (as a
/// store that ignores `If-None-Match` lets a racing writer do).
#[derive(Debug)]
struct Clobbering {
    inner: MemoryStorage,
    theirs: Mutex<Option<(BlobRef, PutOptions)>>,
}

#[async_trait]
impl ObjectStorage for Clobbering {
    async fn head(&self, location: &Location) -> Result<ObjectInfo> {
        self.inner.head(location).await
    }
    async fn get(&self, location: &Location) -> Result<GetResult> {
        self.inner.get(location).await
    }
    async fn get_from(&self, location: &Location, offset: u64) -> Result<GetResult> {
        self.inner.get_from(location, offset).await
    }
    async fn put(&self, location: &Location, body: BlobRef, options: PutOptions) -> Result<()> {
        let create = options.mode == PutMode::Create;
        self.inner.put(location, body, options).await?;
        let theirs = self.theirs.lock().unwrap().take();
        if let (true, Some((body, options))) = (create, theirs) {
            self.inner.put(location, body, options).await?;
        }
        Ok(())
    }
    async fn list(&self, request: &ListRequest) -> Result<ListPage> {
        self.inner.list(request).await
    }
    async fn delete(&self, location: &Location) -> Result<()> {
        self.inner.delete(location).await
    }
    async fn copy(&self, from: &Location, to: &Location) -> Result<()> {
        self.inner.copy(from, to).await
    }
}

fn service(storage: Arc<dyn ObjectStorage>, format: Format) -> DeltaGlider {
    DeltaGlider::new(
        Ports {
            storage,
            ..dg_testkit::memory_ports()
        },
        Config {
            format,
            ..Config::default()
        },
    )
}

async fn put(dg: &DeltaGlider, key: &str, data: &[u8]) -> dg_core::PutOutcome {
    dg.put(
        BytesBlob::shared(data.to_vec()),
        &Location::new("b", key),
        &PutRequest::default(),
    )
    .await
    .unwrap()
}

async fn a_reference_replaced_right_after_its_creation_is_not_used(format: Format) {
    let base = noise(7, 200_000);
    let (mine, other) = (edit(&base, 1, 4), edit(&base, 2, 4));

    // The other writer's reference, as it would have made it in the same deltaspace.
    let elsewhere = MemoryStorage::new();
    elsewhere.create_bucket_now("b");
    put(
        &service(Arc::new(elsewhere.clone()), format),
        "app/other.zip",
        &other,
    )
    .await;
    let reference = Location::new("b", "app/reference.bin");
    let got = elsewhere.get(&reference).await.unwrap();
    let chunks: Vec<_> = got.body.try_collect().await.unwrap();
    let theirs = (
        BytesBlob::shared(chunks.concat()),
        PutOptions {
            metadata: got.info.metadata,
            mode: PutMode::Overwrite,
        },
    );

    let storage = MemoryStorage::new();
    storage.create_bucket_now("b");
    let clobbering = Arc::new(Clobbering {
        inner: storage.clone(),
        theirs: Mutex::new(Some(theirs)),
    });
    let dg = service(clobbering, format);
    let outcome = put(&dg, "app/mine.zip", &mine).await;
    assert!(
        matches!(
            outcome.stored,
            Stored::Delta {
                created_reference: false,
                ..
            }
        ),
        "{outcome:?}"
    );
    assert!(
        outcome.notes.iter().any(|n| n.contains("replaced")),
        "{:?}",
        outcome.notes
    );

    // A service that has seen nothing reads the file back from what the store holds.
    let fresh = service(Arc::new(storage.clone()), format);
    let out = fresh
        .get(
            &Location::new("b", "app/mine.zip"),
            MemoryStaging.create().unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(out.blob.map().unwrap().as_ref(), &mine[..]);
}
per_format!(
    #[tokio::test]
    a_reference_replaced_right_after_its_creation_is_not_used
);
