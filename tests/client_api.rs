//! The `dg` library's `Client` on a local directory store and on an S3 server over HTTP:
//! every operation, listing pages, errors, and a client built from the environment.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use dg::{Body, CacheConfig, Client, Error, ListObjects, Served, StatsMode, StatsOptions};
use dg_adapters::testing::{S3TestServer, ACCESS_KEY, SECRET_KEY};
use dg_testdata::{edit, noise};

/// Ten releases of one deltaspace, a text file beside them, one file in a sub-prefix.
async fn exercise(client: &Client) {
    client.create_bucket("rel").await.unwrap();
    let mut data = noise(3, 150_000);
    let mut versions = Vec::new();
    for i in 0..10 {
        let key = format!("app/app-{i:02}.zip");
        let summary = client.put_object("rel", &key, data.clone()).await.unwrap();
        assert_eq!(summary.original_size, data.len() as u64);
        if i == 0 {
            assert!(!summary.is_delta && summary.reference_size.is_some());
            assert!(summary.savings <= 0.0);
        } else {
            assert!(summary.is_delta, "{summary:?}");
            assert!(summary.savings > 0.9, "{summary:?}");
            assert_eq!(summary.stored_key, format!("{key}.delta"));
        }
        versions.push(data.clone());
        data = edit(&data, 30 + i, 4);
    }
    let text = client
        .put_object("rel", "app/notes.txt", Body::from_reader(&b"hello\n"[..]))
        .await
        .unwrap();
    assert!(!text.is_delta && text.stored_size == 6);
    client
        .put_object("rel", "app/old/x.bin", "x".to_string())
        .await
        .unwrap();

    // pages of 4 keys, one level
    let mut request = ListObjects::new("rel")
        .prefix("app/")
        .delimiter("/")
        .max_keys(4);
    let (mut keys, mut prefixes, mut pages) = (Vec::new(), Vec::new(), 0);
    loop {
        let page = client.list_objects(&request).await.unwrap();
        pages += 1;
        keys.extend(page.objects.iter().map(|o| o.key.clone()));
        prefixes.extend(page.common_prefixes.clone());
        for o in &page.objects {
            if let Some(i) = o.key.strip_prefix("app/app-").and_then(|k| k.get(..2)) {
                let i: usize = i.parse().unwrap();
                assert_eq!(
                    o.size,
                    versions[i].len() as u64,
                    "original size of {}",
                    o.key
                );
                assert!(i == 0 || o.stored_size < 10_000, "{o:?}");
            }
        }
        if !page.is_truncated() {
            break;
        }
        request = request.continuation_token(page.next_continuation_token);
    }
    assert!(pages >= 3, "{pages} pages");
    let mut expected: Vec<String> = (0..10).map(|i| format!("app/app-{i:02}.zip")).collect();
    expected.push("app/notes.txt".into());
    assert_eq!(keys, expected);
    assert_eq!(prefixes, ["app/old/"]);

    // head, get (staged and streamed), download
    let head = client.head_object("rel", "app/app-07.zip").await.unwrap();
    assert!(head.is_delta && head.stored_key.ends_with(".delta"));
    assert_eq!(head.size, versions[7].len() as u64);
    assert!(head.stored_size < 10_000);
    let object = client.get_object("rel", "app/app-07.zip").await.unwrap();
    assert_eq!(object.served, Served::Delta);
    assert_eq!(object.to_vec().unwrap(), versions[7]);
    let (streamed, out) = client
        .get_object_to("rel", "app/app-03.zip", Vec::new())
        .await
        .unwrap();
    assert_eq!(out, versions[3]);
    assert_eq!(streamed.sha256, head_sha(client, "app/app-03.zip").await);
    let dir = tempfile::tempdir().unwrap();
    let got = client
        .download("s3://rel/app/app-09.zip", dir.path())
        .await
        .unwrap();
    assert_eq!(got.path, dir.path().join("app-09.zip"));
    assert_eq!(std::fs::read(&got.path).unwrap(), versions[9]);
    let uploaded = client.upload(&got.path, "s3://rel/copies/").await.unwrap();
    assert_eq!(uploaded.key, "copies/app-09.zip");

    // errors carry meaning
    assert!(matches!(
        client.head_object("rel", "app/none.zip").await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        client.get_object("rel", "app/none.zip").await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        client.download("s3://rel/app/", dir.path()).await,
        Err(Error::InvalidInput(_))
    ));
    let missing = dir.path().join("never.zip");
    assert!(client
        .download("s3://rel/app/none.zip", &missing)
        .await
        .is_err());
    assert!(!missing.exists());

    // verify, stats, deletes (the reference goes with the last delta)
    assert!(client.verify("rel", "").await.unwrap().is_ok());
    let stats = client
        .stats(
            "rel",
            "app/",
            StatsOptions {
                mode: StatsMode::Detailed,
                ..StatsOptions::default()
            },
        )
        .await
        .unwrap();
    // app/old/x.bin is delta-eligible too: a reference of its own
    assert_eq!((stats.files, stats.deltas, stats.references), (12, 11, 2));
    let zips: u64 = versions.iter().map(|v| v.len() as u64).sum();
    assert_eq!(stats.original_size, zips + 6 + 1);
    let keys: Vec<String> = (0..10).map(|i| format!("app/app-{i:02}.zip")).collect();
    let deleted = client.delete_objects("rel", &keys).await;
    assert!(deleted.errors.is_empty(), "{:?}", deleted.errors);
    // copies/app-09.zip, the first file of a sibling prefix, shares app/reference.bin: the
    // reference stays until that delta goes too
    let last = deleted.deleted.last().unwrap();
    assert!(
        !last.removed.iter().any(|l| l.key == "app/reference.bin"),
        "{last:?}"
    );
    let copy = client
        .delete_object("rel", "copies/app-09.zip")
        .await
        .unwrap();
    assert!(
        copy.removed.iter().any(|l| l.key == "app/reference.bin"),
        "{copy:?}"
    );
    let left = client
        .list_objects(&ListObjects::new("rel").prefix("app/"))
        .await
        .unwrap();
    let left: Vec<&str> = left.objects.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(left, ["app/notes.txt", "app/old/x.bin"]);
}

async fn head_sha(client: &Client, key: &str) -> Option<String> {
    client.head_object("rel", key).await.unwrap().sha256
}

#[tokio::test]
async fn every_operation_on_a_local_store() {
    let store = tempfile::tempdir().unwrap();
    let client = Client::builder()
        .local_dir(store.path())
        .cache(CacheConfig::Memory { max_bytes: 8 << 20 })
        .build()
        .unwrap();
    exercise(&client).await;
}

#[tokio::test]
async fn every_operation_over_s3() {
    let server = S3TestServer::start().await;
    let client = Client::builder()
        .endpoint(server.endpoint())
        .region("us-east-1")
        .credentials(ACCESS_KEY, SECRET_KEY, None)
        .build()
        .unwrap();
    exercise(&client).await;
    // wrong credentials are refused, not ignored
    let wrong = Client::builder()
        .endpoint(server.endpoint())
        .credentials(ACCESS_KEY, "wrong", None)
        .build()
        .unwrap();
    assert!(wrong.head_object("rel", "app/notes.txt").await.is_err());
}

#[test]
fn options_are_checked_and_the_environment_is_read_only_when_asked() {
    let store = tempfile::tempdir().unwrap();
    let err = Client::builder().endpoint("file://").build().unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)), "{err}");
    let err = Client::builder()
        .local_dir(store.path())
        .max_ratio(2.0)
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("max ratio"), "{err}");
    let err = Client::builder().endpoint("ftp://x").build().unwrap_err();
    assert!(err.to_string().contains("expected http(s)"), "{err}");

    // the only test of this binary that touches the environment
    let endpoint = format!("file://{}", store.path().display());
    unsafe_env::set("AWS_ENDPOINT_URL", &endpoint);
    unsafe_env::set("DG_CACHE_BACKEND", "memory");
    unsafe_env::set("DG_FORMAT", "compat");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let client = Client::from_env().unwrap();
        assert!(client.cache_description().starts_with("memory"));
        assert_eq!(client.put_defaults().format, Some(dg::Format::Compat));
        client.create_bucket("env").await.unwrap();
        // an explicit builder ignores the environment: no endpoint means AWS, never this store
        let explicit = Client::builder().build().unwrap();
        assert!(!explicit.cache_description().starts_with("memory"));
        assert!(explicit.put_defaults().format.is_none());
    });
    assert!(store.path().join("env").is_dir());
    unsafe_env::set("DG_CACHE_BACKEND", "bogus");
    let err = Client::from_env().unwrap_err();
    assert!(err.to_string().contains("DG_CACHE_BACKEND"), "{err}");
}

/// Environment changes, for the one test that makes them.
mod unsafe_env {
    pub fn set(key: &str, value: &str) {
        // edition 2021: set_var is safe; no other test of this binary reads the environment
        std::env::set_var(key, value);
    }
}
