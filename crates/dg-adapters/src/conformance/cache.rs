//! The reference-cache conformance suite.

use std::io::Read;
use std::sync::Arc;

use dg_ports::{BytesBlob, ReferenceCache};

fn read(blob: &dg_ports::BlobRef) -> Vec<u8> {
    let mut v = Vec::new();
    blob.reader().unwrap().read_to_end(&mut v).unwrap();
    v
}

/// Runs every cache rule against `cache`, which must hold at least 4 MiB.
pub async fn run(cache: Arc<dyn ReferenceCache>) {
    let sha = "a".repeat(64);
    assert!(
        cache.get(&sha).await.unwrap().is_none(),
        "unknown digest misses"
    );
    let data: Vec<u8> = (0..1_000_000u32).map(|i| (i * 7 % 256) as u8).collect();
    cache
        .put(&sha, BytesBlob::shared(data.clone()))
        .await
        .unwrap();
    let hit = cache
        .get(&sha)
        .await
        .unwrap()
        .expect("a put entry is found");
    assert_eq!(hit.len(), data.len() as u64);
    assert_eq!(read(&hit), data, "a hit returns the same bytes");
    assert_eq!(
        &*hit.map().unwrap(),
        &data[..],
        "a hit maps to the same bytes"
    );

    cache
        .put(&sha, BytesBlob::shared(&b"replaced"[..]))
        .await
        .unwrap();
    assert_eq!(
        read(&cache.get(&sha).await.unwrap().unwrap()),
        b"replaced",
        "put replaces"
    );

    cache.remove(&sha).await.unwrap();
    assert!(
        cache.get(&sha).await.unwrap().is_none(),
        "removed entries miss"
    );
    cache
        .remove(&sha)
        .await
        .expect("removing an unknown digest succeeds");

    let empty = "b".repeat(64);
    cache
        .put(&empty, BytesBlob::shared(Vec::new()))
        .await
        .unwrap();
    if let Some(hit) = cache.get(&empty).await.unwrap() {
        assert!(read(&hit).is_empty(), "empty entries stay empty");
    }

    let tasks: Vec<_> = (0..8u8)
        .map(|i| {
            let cache = cache.clone();
            tokio::spawn(async move {
                let key = format!("{:064x}", i);
                let body = vec![i; 100_000];
                cache
                    .put(&key, BytesBlob::shared(body.clone()))
                    .await
                    .unwrap();
                if let Some(hit) = cache.get(&key).await.unwrap() {
                    assert_eq!(read(&hit), body, "concurrent entries do not mix");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
}
