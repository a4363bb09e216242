//! The object-storage conformance suite.

use std::collections::BTreeSet;
use std::sync::Arc;

use bytes::Bytes;
use dg_ports::{
    BytesBlob, Error, ListRequest, Location, Metadata, ObjectStorage, ObjectStorageExt, PutMode,
    PutOptions,
};
use futures::TryStreamExt;

fn meta(pairs: &[(&str, &str)]) -> Metadata {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

async fn put(
    store: &dyn ObjectStorage,
    at: &Location,
    body: &[u8],
    m: Metadata,
    mode: PutMode,
) -> dg_ports::Result<()> {
    store
        .put(
            at,
            BytesBlob::shared(Bytes::copy_from_slice(body)),
            PutOptions { metadata: m, mode },
        )
        .await
}

async fn body(store: &dyn ObjectStorage, at: &Location) -> Vec<u8> {
    let got = store.get(at).await.unwrap();
    let chunks: Vec<Bytes> = got.body.try_collect().await.unwrap();
    chunks.concat()
}

/// Runs every storage rule against `store`, in `bucket` (which must exist and be empty).
pub async fn run(store: Arc<dyn ObjectStorage>, bucket: &str) {
    round_trip_with_metadata(store.as_ref(), bucket).await;
    missing_objects(store.as_ref(), bucket).await;
    overwrite_and_create_only(store.as_ref(), bucket).await;
    racing_creates(store.clone(), bucket).await;
    listing(store.as_ref(), bucket).await;
    many_keys(store.as_ref(), bucket).await;
    copy_and_delete(store.as_ref(), bucket).await;
}

async fn round_trip_with_metadata(store: &dyn ObjectStorage, bucket: &str) {
    let at = Location::new(bucket, "rt/a file.bin");
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    put(
        store,
        &at,
        &data,
        meta(&[("dg-file-sha256", "abc"), ("dg-Note", "Mixed Case value")]),
        PutMode::Overwrite,
    )
    .await
    .unwrap();
    let info = store.head(&at).await.unwrap();
    assert_eq!(info.size, data.len() as u64, "head reports the size");
    assert_eq!(
        info.metadata.get("dg-file-sha256").map(String::as_str),
        Some("abc"),
        "metadata round-trips"
    );
    assert_eq!(
        info.metadata.get("dg-note").map(String::as_str),
        Some("Mixed Case value"),
        "metadata keys are lower case, values kept"
    );
    let got = store.get(&at).await.unwrap();
    assert_eq!(
        got.info.metadata, info.metadata,
        "get returns the same metadata as head"
    );
    assert_eq!(body(store, &at).await, data, "body round-trips");
    for offset in [1u64, 1_000_000, data.len() as u64 - 1, data.len() as u64] {
        let got = store.get_from(&at, offset).await.unwrap();
        assert_eq!(
            got.info.size,
            data.len() as u64,
            "get_from reports the whole size"
        );
        assert_eq!(got.info.etag, info.etag, "get_from reports the same etag");
        let chunks: Vec<Bytes> = got.body.try_collect().await.unwrap();
        assert_eq!(
            chunks.concat(),
            data[offset as usize..],
            "get_from({offset}) yields the rest of the body"
        );
    }
    assert!(
        matches!(
            store.get_from(&at, data.len() as u64 + 1).await,
            Err(Error::InvalidInput(_))
        ),
        "get_from past the end is InvalidInput"
    );

    let empty = Location::new(bucket, "rt/empty");
    put(store, &empty, b"", Metadata::new(), PutMode::Overwrite)
        .await
        .unwrap();
    assert_eq!(store.head(&empty).await.unwrap().size, 0);
    assert!(body(store, &empty).await.is_empty(), "empty objects work");
    store.delete(&at).await.unwrap();
    store.delete(&empty).await.unwrap();
}

async fn missing_objects(store: &dyn ObjectStorage, bucket: &str) {
    let at = Location::new(bucket, "missing/none");
    assert!(
        matches!(store.head(&at).await, Err(Error::NotFound { .. })),
        "head of a missing object is NotFound"
    );
    assert!(
        matches!(store.get(&at).await, Err(Error::NotFound { .. })),
        "get of a missing object is NotFound"
    );
    store
        .delete(&at)
        .await
        .expect("delete of a missing object succeeds");
    let other = Location::new("no-such-bucket-dg-test", "x");
    assert!(
        matches!(store.head(&other).await, Err(Error::NotFound { .. })),
        "a missing bucket is NotFound"
    );
}

async fn overwrite_and_create_only(store: &dyn ObjectStorage, bucket: &str) {
    let at = Location::new(bucket, "ow/x");
    put(store, &at, b"one", meta(&[("k", "1")]), PutMode::Create)
        .await
        .expect("create of an absent key succeeds");
    let again = put(store, &at, b"two", meta(&[("k", "2")]), PutMode::Create).await;
    assert!(
        matches!(again, Err(Error::AlreadyExists { .. })),
        "create of an existing key is AlreadyExists, got {again:?}"
    );
    assert_eq!(
        body(store, &at).await,
        b"one",
        "a refused create leaves the object untouched"
    );
    put(
        store,
        &at,
        b"three",
        meta(&[("k", "3")]),
        PutMode::Overwrite,
    )
    .await
    .unwrap();
    assert_eq!(
        body(store, &at).await,
        b"three",
        "overwrite replaces the body"
    );
    assert_eq!(
        store
            .head(&at)
            .await
            .unwrap()
            .metadata
            .get("k")
            .map(String::as_str),
        Some("3"),
        "overwrite replaces metadata"
    );
    store.delete(&at).await.unwrap();
}

async fn racing_creates(store: Arc<dyn ObjectStorage>, bucket: &str) {
    let at = Location::new(bucket, "race/reference.bin");
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            let at = at.clone();
            tokio::spawn(async move {
                let body = format!("writer {i}").into_bytes();
                put(
                    store.as_ref(),
                    &at,
                    &body,
                    meta(&[("writer", &i.to_string())]),
                    PutMode::Create,
                )
                .await
                .map(|_| i)
            })
        })
        .collect();
    let mut winners = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            Ok(i) => winners.push(i),
            Err(Error::AlreadyExists { .. }) => {}
            Err(e) => panic!("a racing create failed with {e}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one of 8 racing creates wins");
    let info = store.head(&at).await.unwrap();
    let winner = winners[0];
    assert_eq!(
        info.metadata.get("writer"),
        Some(&winner.to_string()),
        "the winner's metadata is stored"
    );
    assert_eq!(
        body(store.as_ref(), &at).await,
        format!("writer {winner}").into_bytes(),
        "the winner's body is stored"
    );
    store.delete(&at).await.unwrap();
}

async fn listing(store: &dyn ObjectStorage, bucket: &str) {
    let keys = [
        "ls/a.zip",
        "ls/b/1.zip",
        "ls/b/2.zip",
        "ls/b/c/3.zip",
        "ls/c.zip",
        "ls2/x",
    ];
    for k in keys {
        put(
            store,
            &Location::new(bucket, k),
            k.as_bytes(),
            Metadata::new(),
            PutMode::Overwrite,
        )
        .await
        .unwrap();
    }
    let req = |prefix: &str, delimiter: Option<&str>| ListRequest {
        bucket: bucket.to_string(),
        prefix: prefix.to_string(),
        delimiter: delimiter.map(str::to_string),
        ..ListRequest::default()
    };
    let all = store.list(&req("ls/", None)).await.unwrap();
    let got: Vec<_> = all
        .objects
        .iter()
        .map(|o| o.location.key.as_str())
        .collect();
    assert_eq!(
        got,
        vec![
            "ls/a.zip",
            "ls/b/1.zip",
            "ls/b/2.zip",
            "ls/b/c/3.zip",
            "ls/c.zip"
        ],
        "prefix listing, sorted"
    );
    assert!(
        all.objects.iter().all(|o| o.size > 0),
        "listings carry sizes"
    );
    assert!(all.next.is_none());

    let one = store.list(&req("ls/", Some("/"))).await.unwrap();
    let files: Vec<_> = one
        .objects
        .iter()
        .map(|o| o.location.key.as_str())
        .collect();
    assert_eq!(
        files,
        vec!["ls/a.zip", "ls/c.zip"],
        "delimiter hides deeper keys"
    );
    assert_eq!(
        one.common_prefixes,
        vec!["ls/b/"],
        "delimiter yields common prefixes"
    );

    let partial = store.list(&req("ls/b/", Some("/"))).await.unwrap();
    assert_eq!(partial.common_prefixes, vec!["ls/b/c/"]);
    assert_eq!(partial.objects.len(), 2);

    let stem = store.list(&req("ls", Some("/"))).await.unwrap();
    assert_eq!(
        stem.common_prefixes,
        vec!["ls/", "ls2/"],
        "a prefix need not end at a delimiter"
    );

    let mut paged = req("ls/", Some("/"));
    paged.max_keys = 2;
    let p1 = store.list(&paged).await.unwrap();
    assert_eq!(
        p1.objects.len() + p1.common_prefixes.len(),
        2,
        "max_keys bounds a page"
    );
    let next = p1.next.clone().expect("a truncated page has a next token");
    paged.start_after = Some(next);
    let p2 = store.list(&paged).await.unwrap();
    let p2_keys: Vec<_> = p2.objects.iter().map(|o| o.location.key.as_str()).collect();
    assert_eq!(
        p2_keys,
        vec!["ls/c.zip"],
        "the next page continues after the token"
    );
    assert!(
        p2.common_prefixes.is_empty(),
        "a common prefix is not repeated"
    );
    assert!(p2.next.is_none());

    let none = store.list(&req("nothing-here/", None)).await.unwrap();
    assert!(none.objects.is_empty() && none.common_prefixes.is_empty());
    for k in keys {
        store.delete(&Location::new(bucket, k)).await.unwrap();
    }
}

async fn many_keys(store: &dyn ObjectStorage, bucket: &str) {
    let n = 1005;
    let keys: Vec<String> = (0..n).map(|i| format!("many/k{i:05}")).collect();
    futures::stream::iter(keys.iter())
        .map(|k| async move {
            put(
                store,
                &Location::new(bucket, k.clone()),
                b"x",
                Metadata::new(),
                PutMode::Overwrite,
            )
            .await
        })
        .buffer_unordered(16)
        .try_collect::<Vec<_>>()
        .await
        .unwrap();
    let first = store
        .list(&ListRequest {
            bucket: bucket.into(),
            prefix: "many/".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(first.objects.len(), 1000, "a page holds at most 1000 keys");
    assert!(
        first.next.is_some(),
        "more than 1000 keys need a second page"
    );
    let all = store.list_all(bucket, "many/").await.unwrap();
    let listed: BTreeSet<_> = all.iter().map(|o| o.location.key.clone()).collect();
    assert_eq!(listed.len(), n, "paging returns every key once");
    assert_eq!(listed, keys.iter().cloned().collect::<BTreeSet<_>>());
    futures::stream::iter(keys.iter())
        .map(|k| async move { store.delete(&Location::new(bucket, k.clone())).await })
        .buffer_unordered(16)
        .try_collect::<Vec<_>>()
        .await
        .unwrap();
    assert!(
        store.list_all(bucket, "many/").await.unwrap().is_empty(),
        "deleted keys are gone"
    );
}

async fn copy_and_delete(store: &dyn ObjectStorage, bucket: &str) {
    let from = Location::new(bucket, "cp/src");
    let to = Location::new(bucket, "cp/dst/copy");
    put(
        store,
        &from,
        b"payload",
        meta(&[("dg-tool", "t")]),
        PutMode::Overwrite,
    )
    .await
    .unwrap();
    store.copy(&from, &to).await.unwrap();
    assert_eq!(body(store, &to).await, b"payload", "copy copies the body");
    assert_eq!(
        store
            .head(&to)
            .await
            .unwrap()
            .metadata
            .get("dg-tool")
            .map(String::as_str),
        Some("t"),
        "copy copies metadata"
    );
    assert!(
        matches!(
            store.copy(&Location::new(bucket, "cp/none"), &to).await,
            Err(Error::NotFound { .. })
        ),
        "copy from a missing key is NotFound"
    );
    store.delete(&from).await.unwrap();
    store.delete(&to).await.unwrap();
    assert!(store.head_opt(&to).await.unwrap().is_none());
    assert!(
        store.list_all(bucket, "").await.unwrap().is_empty(),
        "the suite leaves the bucket empty"
    );
}

use futures::StreamExt as _;
