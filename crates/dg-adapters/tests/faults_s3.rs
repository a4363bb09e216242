//! The S3 adapter under a misbehaving server: which errors are transient, the storage contract
//! kept through retries on a throttling server that also cuts bodies off, multipart parts
//! retried on their own.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use dg_adapters::conformance;
use dg_adapters::storage::{
    Backoff, RetryCounter, RetryPolicy, RetryingStorage, S3Config, S3Credentials, S3Storage,
};
use dg_adapters::testing::{S3TestServer, ServerFaults};
use dg_ports::{Buckets, BytesBlob, Error, Location, ObjectStorage, PutOptions};
use futures::TryStreamExt;

/// Short delays so that tests do not wait; enough attempts that a 30% throttle never wins
/// (0.3^12: one call in two million).
fn patient() -> RetryPolicy {
    RetryPolicy {
        base_delay: Duration::from_millis(2),
        max_delay: Duration::from_millis(20),
        ..RetryPolicy::attempts(12)
    }
}

/// The error with all its sources.
fn chain(e: &Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text = format!("{text}: {s}");
        source = s.source();
    }
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn transient_and_permanent_errors_are_told_apart() {
    let server = S3TestServer::start().await;
    let store = S3Storage::new(server.config()).unwrap();
    store.create_bucket("bkt").await.unwrap();
    let at = Location::new("bkt", "k");
    store
        .put(&at, BytesBlob::shared(&b"x"[..]), PutOptions::default())
        .await
        .unwrap();

    server.set_faults(ServerFaults {
        slowdown: 1.0,
        ..ServerFaults::default()
    });
    for e in [
        store.head(&at).await.unwrap_err(),
        store.get(&at).await.unwrap_err(),
        store
            .put(&at, BytesBlob::shared(&b"y"[..]), PutOptions::default())
            .await
            .unwrap_err(),
    ] {
        assert!(e.is_retryable(), "503 SlowDown is transient: {}", chain(&e));
        assert!(chain(&e).contains("503"), "{}", chain(&e));
    }
    assert_eq!(
        server.slowed_down(),
        3,
        "object_store did not retry on its own"
    );

    server.set_faults(ServerFaults::default());
    let missing = store.head(&at.with_key("none")).await.unwrap_err();
    assert!(missing.is_not_found() && !missing.is_retryable());
    let denied = S3Storage::new(S3Config {
        credentials: Some(S3Credentials {
            access_key_id: "wrong".into(),
            secret_access_key: "wrong".into(),
            session_token: None,
        }),
        ..server.config()
    })
    .unwrap()
    .head(&at)
    .await
    .unwrap_err();
    assert!(!denied.is_retryable(), "4xx is not transient: {denied}");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dead = S3Storage::new(S3Config {
        endpoint: Some(format!("http://127.0.0.1:{port}")),
        ..server.config()
    })
    .unwrap()
    .head(&at)
    .await
    .unwrap_err();
    assert!(
        dead.is_retryable(),
        "a refused connection is transient: {dead}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_contract_holds_through_retries_on_a_throttling_server() {
    let server = S3TestServer::start().await;
    let s3 = S3Storage::new(server.config()).unwrap();
    s3.create_bucket("conformance").await.unwrap();
    let counter = RetryCounter::new();
    let store =
        RetryingStorage::with_backoff(Arc::new(s3), Backoff::new(patient(), counter.clone()));
    server.set_faults(ServerFaults {
        slowdown: 0.3,
        cut_bodies: 0.3,
        seed: 7,
    });
    conformance::storage::run(Arc::new(store), "conformance").await;
    assert!(server.slowed_down() > 0 && server.bodies_cut() > 0);
    // (a cut body whose reader stopped early needs no retry)
    assert!(
        counter.get() >= server.slowed_down(),
        "every 503 was retried ({} retries, {} 503s, {} bodies cut)",
        counter.get(),
        server.slowed_down(),
        server.bodies_cut()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parts_of_a_multipart_upload_are_retried_on_their_own() {
    let server = S3TestServer::start().await;
    let s3 = S3Storage::new(S3Config {
        multipart_threshold: 5 << 20,
        part_size: 5 << 20,
        max_attempts: 12,
        ..server.config()
    })
    .unwrap();
    s3.create_bucket("bkt").await.unwrap();
    let backoff = s3.backoff().clone();
    let counter = backoff.counter().clone();
    let store = RetryingStorage::with_backoff(Arc::new(s3), backoff);
    let data: Vec<u8> = (0..(17u32 << 20)).map(|i| (i % 253) as u8).collect();
    let at = Location::new("bkt", "big.bin");
    server.set_faults(ServerFaults {
        slowdown: 0.3,
        seed: 3,
        ..ServerFaults::default()
    });
    store
        .put(&at, BytesBlob::shared(data.clone()), PutOptions::default())
        .await
        .unwrap();
    server.set_faults(ServerFaults::default());
    let got = store.get(&at).await.unwrap();
    let chunks: Vec<bytes::Bytes> = got.body.try_collect().await.unwrap();
    assert!(
        chunks.concat() == data,
        "the multipart object reads back whole"
    );
    // every 503 was retried and counted, but one to an abandoned upload's abort
    assert!(server.slowed_down() > 0);
    assert!(counter.get() > 0 && counter.get() <= server.slowed_down());
}
