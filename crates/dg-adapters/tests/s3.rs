//! The S3 adapter against a real S3 server over HTTP (s3s-fs, in-process on 127.0.0.1).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use dg_adapters::conformance;
use dg_adapters::storage::{S3Config, S3Credentials, S3Storage};
use dg_adapters::testing::S3TestServer;
use dg_adapters::FileBlob;
use dg_ports::{Buckets, BytesBlob, Error, Location, ObjectStorage, PutMode, PutOptions};
use futures::TryStreamExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn s3_storage_conforms() {
    let server = S3TestServer::start().await;
    let store = S3Storage::new(server.config()).unwrap();
    store.create_bucket("conformance").await.unwrap();
    conformance::storage::run(Arc::new(store), "conformance").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn buckets_over_http() {
    let server = S3TestServer::start().await;
    let store = S3Storage::new(server.config()).unwrap();
    store.create_bucket("alpha").await.unwrap();
    store.create_bucket("beta").await.unwrap();
    let names: Vec<_> = store
        .list_buckets()
        .await
        .unwrap()
        .into_iter()
        .map(|b| b.name)
        .collect();
    assert_eq!(names, vec!["alpha", "beta"]);
    assert!(matches!(
        store.create_bucket("alpha").await,
        Err(Error::AlreadyExists { .. })
    ));
    store
        .put(
            &Location::new("beta", "x"),
            BytesBlob::shared(&b"x"[..]),
            PutOptions::default(),
        )
        .await
        .unwrap();
    let full = store.delete_bucket("beta").await;
    assert!(matches!(full, Err(Error::Precondition { .. })), "{full:?}");
    store.delete_bucket("alpha").await.unwrap();
    assert!(matches!(
        store.delete_bucket("alpha").await,
        Err(Error::NotFound { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn multipart_uploads_round_trip_with_metadata() {
    let server = S3TestServer::start().await;
    let config = S3Config {
        multipart_threshold: 6 << 20,
        part_size: 5 << 20,
        ..server.config()
    };
    let store = S3Storage::new(config).unwrap();
    store.create_bucket("big").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data: Vec<u8> = (0..23_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let path = dir.path().join("big.bin");
    std::fs::write(&path, &data).unwrap();
    let mut options = PutOptions::default();
    options
        .metadata
        .insert("dg-file-sha256".into(), "abc".into());
    let at = Location::new("big", "a/big.bin");
    store
        .put(&at, FileBlob::open(&path).unwrap(), options)
        .await
        .unwrap();
    let info = store.head(&at).await.unwrap();
    assert_eq!(info.size, data.len() as u64);
    assert_eq!(
        info.metadata.get("dg-file-sha256").map(String::as_str),
        Some("abc"),
        "multipart keeps metadata"
    );
    let got = store.get(&at).await.unwrap();
    let chunks: Vec<bytes::Bytes> = got.body.try_collect().await.unwrap();
    assert!(chunks.concat() == data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn clear_errors_for_bad_credentials_missing_buckets_and_dead_endpoints() {
    let server = S3TestServer::start().await;
    let good = S3Storage::new(server.config()).unwrap();
    good.create_bucket("there").await.unwrap();

    let wrong = S3Storage::new(S3Config {
        credentials: Some(S3Credentials {
            access_key_id: "nobody".into(),
            secret_access_key: "wrong".into(),
            session_token: None,
        }),
        ..server.config()
    })
    .unwrap();
    let err = wrong
        .put(
            &Location::new("there", "k"),
            BytesBlob::shared(&b"x"[..]),
            PutOptions::default(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::PermissionDenied { .. }),
        "wrong credentials: {err}"
    );

    let err = good
        .head(&Location::new("missing-bucket", "k"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::NotFound { .. }),
        "missing bucket: {err}"
    );
    let err = good
        .put(
            &Location::new("missing-bucket", "k"),
            BytesBlob::shared(&b"x"[..]),
            PutOptions::default(),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("missing-bucket"), "{err}");

    let dead = S3Storage::new(S3Config {
        endpoint: Some("http://127.0.0.1:9".into()),
        max_attempts: 1,
        ..server.config()
    })
    .unwrap();
    let err = dead.head(&Location::new("there", "k")).await.unwrap_err();
    assert!(
        err.to_string().contains("cannot be reached") || err.to_string().contains("127.0.0.1:9"),
        "dead endpoint: {err}"
    );

    // a refused create leaves no partial object behind
    let at = Location::new("there", "r/reference.bin");
    good.put(
        &at,
        BytesBlob::shared(&b"one"[..]),
        PutOptions {
            mode: PutMode::Create,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let again = good
        .put(
            &at,
            BytesBlob::shared(&b"two"[..]),
            PutOptions {
                mode: PutMode::Create,
                ..Default::default()
            },
        )
        .await;
    assert!(matches!(again, Err(Error::AlreadyExists { .. })));
}
