//! The domain end to end over the in-memory adapters.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::sync::Arc;

use dg_adapters::{engine::ZstdEngine, MemoryStaging, MemoryStorage};
use dg_core::{meta, Config, DeltaGlider, DirectReason, Format, Ports, PutRequest, Served, Stored};
use dg_ports::{
    BytesBlob, Error, ExpandSummary, Expander, FixedClock, Location, ObjectStorage,
    ObjectStorageExt, Staging,
};
use dg_testdata::{edit, noise};
use proptest::prelude::*;

use dg_testkit::per_format;

/// A test expander: files starting with `ZZ` + one byte n have plain form = the rest with
/// every byte minus n (a stand-in for "compression undone"); the recipe is the 3-byte header.
#[derive(Debug)]
struct ToyExpander;

impl Expander for ToyExpander {
    fn name(&self) -> &'static str {
        "toy"
    }
    fn expand(
        &self,
        input: &[u8],
        plain: &mut dyn Write,
        recipe: &mut dyn Write,
    ) -> dg_ports::Result<Option<ExpandSummary>> {
        if input.len() < 3 || &input[..2] != b"ZZ" {
            return Ok(None);
        }
        let n = input[2];
        let body: Vec<u8> = input[3..].iter().map(|b| b.wrapping_sub(n)).collect();
        plain.write_all(&body).unwrap();
        recipe.write_all(&input[..3]).unwrap();
        Ok(Some(ExpandSummary {
            streams: 1,
            reproduced: 1,
            ..Default::default()
        }))
    }
    fn rebuild(
        &self,
        plain: &[u8],
        recipe: &[u8],
        out: &mut dyn Write,
        max: u64,
    ) -> dg_ports::Result<u64> {
        if recipe.len() != 3 || plain.len() as u64 + 3 > max {
            return Err(dg_ports::Error::invalid("toy recipe", "bad"));
        }
        out.write_all(recipe).unwrap();
        let body: Vec<u8> = plain.iter().map(|b| b.wrapping_add(recipe[2])).collect();
        out.write_all(&body).unwrap();
        Ok(plain.len() as u64 + 3)
    }
}

fn toy(n: u8, body: &[u8]) -> Vec<u8> {
    let mut v = b"ZZ".to_vec();
    v.push(n);
    v.extend(body.iter().map(|b| b.wrapping_add(n)));
    v
}

fn service_with(format: Format) -> (DeltaGlider, MemoryStorage) {
    let storage = MemoryStorage::new();
    storage.create_bucket_now("b");
    service_over_with(storage, format)
}

fn service_over(storage: MemoryStorage) -> (DeltaGlider, MemoryStorage) {
    service_over_with(storage, Format::Native)
}

fn service_over_with(storage: MemoryStorage, format: Format) -> (DeltaGlider, MemoryStorage) {
    let config = Config {
        format,
        ..Config::default()
    };
    let dg = DeltaGlider::new(
        Ports {
            storage: Arc::new(storage.clone()),
            clock: Arc::new(FixedClock(
                std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000),
            )),
            expander: Some(Arc::new(ToyExpander)),
            ..dg_testkit::memory_ports()
        },
        config,
    );
    (dg, storage)
}

fn service() -> (DeltaGlider, MemoryStorage) {
    service_with(Format::Native)
}

fn compat() -> (DeltaGlider, MemoryStorage) {
    service_with(Format::Compat)
}

fn loc(key: &str) -> Location {
    Location::new("b", key)
}

async fn get(dg: &DeltaGlider, key: &str) -> dg_ports::Result<(Vec<u8>, Served)> {
    let out = dg.get(&loc(key), MemoryStaging.create().unwrap()).await?;
    Ok((out.blob.map().unwrap().to_vec(), out.served))
}

async fn first_file_becomes_reference_and_later_ones_deltas(format: Format) {
    let (dg, storage) = service_with(format);
    let v1 = compressible(1, 300_000);
    let v2 = edit(&v1, 2, 10);
    let first = dg
        .put(
            BytesBlob::shared(v1.clone()),
            &loc("rel/app-1.0.tar"),
            &PutRequest::default(),
        )
        .await
        .unwrap();
    // the first file's delta: against itself (compat), "identical to the reference" (native)
    let first_engine = match format {
        Format::Compat => "zstd",
        Format::Native => "identical",
    };
    assert_eq!(
        first.stored,
        Stored::Delta {
            engine: first_engine,
            created_reference: true,
            format
        }
    );
    assert_eq!(first.location.key, "rel/app-1.0.tar.delta");

    let reference = storage.head(&loc("rel/reference.bin")).await.unwrap();
    assert_eq!(first.reference_size, Some(reference.size));
    let m = &reference.metadata;
    match format {
        Format::Compat => assert_eq!(reference.size, 300_000, "the reference is the file whole"),
        Format::Native => {
            assert!(
                reference.size < 100_000,
                "the native reference is compressed: {}",
                reference.size
            );
            assert_eq!(m["dg-format"], "dgx1");
        }
    }
    assert_eq!(m["dg-note"], "reference");
    assert_eq!(m["dg-source-name"], "app-1.0.tar");
    assert_eq!(m["dg-created-at"], "2023-11-14T22:13:20.000000Z");
    assert_eq!(
        m["dg-file-sha256"], first.sha256,
        "dg-file-sha256 is the original's"
    );

    let zero = storage
        .head(&loc("rel/app-1.0.tar.delta"))
        .await
        .unwrap()
        .metadata;
    assert_eq!(zero["dg-note"], "zero-diff (reference identical)");

    let second = dg
        .put(
            BytesBlob::shared(v2.clone()),
            &loc("rel/app-1.1.tar"),
            &PutRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        second.stored,
        Stored::Delta {
            engine: "zstd",
            created_reference: false,
            format
        }
    );
    assert!(
        second.stored_size < 5_000,
        "delta is small: {}",
        second.stored_size
    );

    // every field Python deltaglider 6.2.0 requires on a delta (native deltas keep them too)
    let d = storage
        .head(&loc("rel/app-1.1.tar.delta"))
        .await
        .unwrap()
        .metadata;
    for field in [
        "dg-tool",
        "dg-original-name",
        "dg-file-sha256",
        "dg-file-size",
        "dg-created-at",
        "dg-ref-key",
        "dg-ref-sha256",
        "dg-delta-size",
        "dg-delta-cmd",
    ] {
        assert!(d.contains_key(field), "delta metadata has {field}");
    }
    assert_eq!(d["dg-ref-key"], "rel/reference.bin");
    assert_eq!(d["dg-ref-sha256"], first.sha256);
    assert_eq!(d["dg-file-size"], v2.len().to_string());
    assert_eq!(d["dg-delta-size"], second.stored_size.to_string());

    let fresh = fresh_service(&storage);
    for reader in [&dg, &fresh] {
        assert_eq!(
            get(reader, "rel/app-1.0.tar").await.unwrap(),
            (v1.clone(), Served::Delta)
        );
        assert_eq!(
            get(reader, "rel/app-1.1.tar").await.unwrap(),
            (v2.clone(), Served::Delta)
        );
        // the reference itself downloads as the original file
        assert_eq!(get(reader, "rel/reference.bin").await.unwrap().0, v1);
    }
    // a later upload of the reference's own content is a delta that says so
    let again = dg
        .put(
            BytesBlob::shared(v1.clone()),
            &loc("rel/copy.tar"),
            &PutRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        again.stored,
        Stored::Delta {
            engine: first_engine,
            created_reference: false,
            format
        }
    );
    assert_eq!(get(&fresh, "rel/copy.tar").await.unwrap().0, v1);
    let report = fresh.verify("b", "rel/", 2, &|_| {}).await.unwrap();
    assert!(report.is_ok(), "{:?}", report.failed);
    assert_eq!(report.passed, 4);
}
per_format!(
    #[tokio::test]
    first_file_becomes_reference_and_later_ones_deltas
);

async fn ineligible_and_no_delta_files_are_stored_whole_with_their_hash(format: Format) {
    let (dg, storage) = service_with(format);
    let text = b"just some notes".to_vec();
    let out = dg
        .put(
            BytesBlob::shared(text.clone()),
            &loc("rel/notes.txt"),
            &PutRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        out.stored,
        Stored::Direct {
            reason: DirectReason::NotEligible
        }
    );
    let m = storage.head(&loc("rel/notes.txt")).await.unwrap().metadata;
    assert_eq!(m["dg-compression"], "none");
    assert_eq!(m["dg-file-sha256"], out.sha256);
    assert!(
        storage
            .head_opt(&loc("rel/reference.bin"))
            .await
            .unwrap()
            .is_none(),
        "no reference for direct files"
    );

    let zip = noise(4, 10_000);
    let req = PutRequest {
        no_delta: true,
        ..Default::default()
    };
    let out = dg
        .put(BytesBlob::shared(zip.clone()), &loc("rel/a.zip"), &req)
        .await
        .unwrap();
    assert_eq!(
        out.stored,
        Stored::Direct {
            reason: DirectReason::NoDeltaRequested
        }
    );
    assert_eq!(
        storage.head(&loc("rel/a.zip")).await.unwrap().metadata["dg-file-sha256"],
        out.sha256
    );
    assert_eq!(get(&dg, "rel/a.zip").await.unwrap(), (zip, Served::Direct));
    assert_eq!(
        get(&dg, "rel/notes.txt").await.unwrap(),
        (text, Served::Direct)
    );
}
per_format!(
    #[tokio::test]
    ineligible_and_no_delta_files_are_stored_whole_with_their_hash
);

async fn wheels_are_recognised_and_content_sniffed(format: Format) {
    let (dg, _) = service_with(format);
    let mut wheel = b"PK\x03\x04".to_vec();
    wheel.extend(noise(5, 50_000));
    let out = dg
        .put(
            BytesBlob::shared(wheel.clone()),
            &loc("w/pkg-1.0-py3-none-any.whl"),
            &PutRequest::default(),
        )
        .await
        .unwrap();
    assert!(
        matches!(out.stored, Stored::Delta { .. }),
        "a .whl gets a delta"
    );
    let out = dg
        .put(
            BytesBlob::shared(wheel),
            &loc("w/artifact"),
            &PutRequest::default(),
        )
        .await
        .unwrap();
    assert!(
        matches!(out.stored, Stored::Delta { .. }),
        "a zip without extension is recognised by content"
    );
}
per_format!(
    #[tokio::test]
    wheels_are_recognised_and_content_sniffed
);

async fn unrelated_file_exceeds_max_ratio_and_is_stored_whole(format: Format) {
    let (dg, storage) = service_with(format);
    dg.put(
        BytesBlob::shared(noise(1, 100_000)),
        &loc("r/a.zip"),
        &PutRequest::default(),
    )
    .await
    .unwrap();
    let other = noise(99, 100_000);
    let out = dg
        .put(
            BytesBlob::shared(other.clone()),
            &loc("r/b.zip"),
            &PutRequest::default(),
        )
        .await
        .unwrap();
    match &out.stored {
        Stored::Direct { reason } => {
            assert!(reason.to_string().contains("max ratio"), "{reason}");
            assert_eq!(reason.code(), "over_ratio");
            assert!(
                matches!(reason, DirectReason::OverRatio { max_ratio, limit } if *max_ratio == 0.5 && (49_000..=50_000).contains(limit)),
                "{reason:?}"
            );
        }
        s => panic!("expected direct, got {s:?}"),
    }
    assert!(storage
        .head_opt(&loc("r/b.zip.delta"))
        .await
        .unwrap()
        .is_none());
    assert_eq!(get(&dg, "r/b.zip").await.unwrap().0, other);
}
per_format!(
    #[tokio::test]
    unrelated_file_exceeds_max_ratio_and_is_stored_whole
);

async fn replacing_a_file_removes_its_older_object(format: Format) {
    let (dg, storage) = service_with(format);
    let base = noise(1, 100_000);
    dg.put(
        BytesBlob::shared(base.clone()),
        &loc("r/a.zip"),
        &PutRequest::default(),
    )
    .await
    .unwrap();
    dg.put(
        BytesBlob::shared(edit(&base, 3, 3)),
        &loc("r/b.zip"),
        &PutRequest::default(),
    )
    .await
    .unwrap();
    // b.zip replaced by an unrelated file: stored whole, its old delta removed
    let unrelated = noise(77, 100_000);
    dg.put(
        BytesBlob::shared(unrelated.clone()),
        &loc("r/b.zip"),
        &PutRequest::default(),
    )
    .await
    .unwrap();
    assert!(storage
        .head_opt(&loc("r/b.zip.delta"))
        .await
        .unwrap()
        .is_none());
    assert_eq!(get(&dg, "r/b.zip").await.unwrap().0, unrelated);
    // and back to a similar file: stored as a delta, the whole object removed
    let similar = edit(&base, 4, 3);
    dg.put(
        BytesBlob::shared(similar.clone()),
        &loc("r/b.zip"),
        &PutRequest::default(),
    )
    .await
    .unwrap();
    assert!(storage.head_opt(&loc("r/b.zip")).await.unwrap().is_none());
    assert_eq!(get(&dg, "r/b.zip").await.unwrap(), (similar, Served::Delta));
}
per_format!(
    #[tokio::test]
    replacing_a_file_removes_its_older_object
);

fn fresh_service(storage: &MemoryStorage) -> DeltaGlider {
    DeltaGlider::new(
        Ports {
            storage: Arc::new(storage.clone()),
            cache: Arc::new(dg_ports::NoCache),
            expander: Some(Arc::new(ToyExpander)),
            ..dg_testkit::memory_ports()
        },
        Config::default(),
    )
}

async fn listing_hides_references_and_shows_original_sizes(format: Format) {
    let (dg, _) = service_with(format);
    let v1 = noise(1, 100_000);
    dg.put(
        BytesBlob::shared(v1.clone()),
        &loc("l/a.zip"),
        &PutRequest::default(),
    )
    .await
    .unwrap();
    dg.put(
        BytesBlob::shared(edit(&v1, 1, 2)),
        &loc("l/b.zip"),
        &PutRequest::default(),
    )
    .await
    .unwrap();
    dg.put(
        BytesBlob::shared(b"x".to_vec()),
        &loc("l/sub/n.txt"),
        &PutRequest::default(),
    )
    .await
    .unwrap();
    let page = dg
        .list(&dg_core::ListQuery {
            bucket: "b".into(),
            prefix: "l/".into(),
            delimiter: Some("/".into()),
            original_sizes: true,
            ..Default::default()
        })
        .await
        .unwrap();
    let keys: Vec<_> = page.entries.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(keys, vec!["l/a.zip", "l/b.zip"]);
    assert!(page
        .entries
        .iter()
        .all(|e| e.size == 100_000 || e.key == "l/b.zip"));
    assert!(page.entries.iter().all(|e| e.stored_size < e.size));
    assert_eq!(page.common_prefixes, vec!["l/sub/"]);
    assert_eq!(page.references.len(), 1);
}
per_format!(
    #[tokio::test]
    listing_hides_references_and_shows_original_sizes
);

/// Metadata a caller adds (an S3 endpoint's user metadata) is stored with the file's own
/// object, whole or delta, never overrides dg's fields, and comes back from reads and listings.
async fn extra_metadata_is_kept_with_the_file(format: Format) {
    let (dg, storage) = service_with(format);
    let v1 = noise(7, 100_000);
    let extra = |tag: &str| {
        dg_ports::Metadata::from([
            ("color".to_string(), tag.to_string()),
            (
                meta::field::FILE_SHA256.to_string(),
                "not-the-sha".to_string(),
            ),
        ])
    };
    let with = |tag: &str| PutRequest {
        metadata: extra(tag),
        ..PutRequest::default()
    };
    let first = dg
        .put(BytesBlob::shared(v1.clone()), &loc("m/a.zip"), &with("red"))
        .await
        .unwrap();
    let v2 = edit(&v1, 3, 4);
    let second = dg
        .put(
            BytesBlob::shared(v2.clone()),
            &loc("m/b.zip"),
            &with("blue"),
        )
        .await
        .unwrap();
    let text = dg
        .put(
            BytesBlob::shared(b"plain".to_vec()),
            &loc("m/n.txt"),
            &with("green"),
        )
        .await
        .unwrap();
    assert!(
        matches!(second.stored, Stored::Delta { .. }),
        "{:?}",
        second.stored
    );
    assert!(
        matches!(text.stored, Stored::Direct { .. }),
        "{:?}",
        text.stored
    );
    let reference = storage.head(&loc("m/reference.bin")).await.unwrap();
    assert!(
        !reference.metadata.contains_key("color"),
        "the reference is not the file's"
    );
    for (outcome, tag, body) in [(&first, "red", &v1), (&second, "blue", &v2)] {
        let info = storage.head(&outcome.location).await.unwrap();
        assert_eq!(info.metadata.get("color").map(String::as_str), Some(tag));
        assert_eq!(
            info.metadata.get(meta::field::FILE_SHA256),
            Some(&outcome.sha256),
            "dg's own field wins"
        );
        let key = outcome.location.key.trim_end_matches(".delta").to_string();
        let got = dg
            .get(&loc(&key), MemoryStaging.create().unwrap())
            .await
            .unwrap();
        assert_eq!(got.metadata.get("color").map(String::as_str), Some(tag));
        assert!(got.last_modified.is_some());
        assert_eq!(&*got.blob.map().unwrap(), body.as_slice());
    }
    let page = dg
        .list(&dg_core::ListQuery {
            bucket: "b".into(),
            prefix: "m/".into(),
            metadata: true,
            ..Default::default()
        })
        .await
        .unwrap();
    let colors: Vec<_> = page
        .entries
        .iter()
        .map(|e| (e.key.as_str(), e.metadata.get("color").map(String::as_str)))
        .collect();
    assert_eq!(
        colors,
        vec![
            ("m/a.zip", Some("red")),
            ("m/b.zip", Some("blue")),
            ("m/n.txt", Some("green"))
        ]
    );
}
per_format!(
    #[tokio::test]
    extra_metadata_is_kept_with_the_file
);

async fn deleting_the_last_delta_removes_the_reference(format: Format) {
    let (dg, storage) = service_with(format);
    let v1 = noise(1, 100_000);
    dg.put(
        BytesBlob::shared(v1.clone()),
        &loc("d/a.zip"),
        &PutRequest::default(),
    )
    .await
    .unwrap();
    dg.put(
        BytesBlob::shared(edit(&v1, 1, 2)),
        &loc("d/b.zip"),
        &PutRequest::default(),
    )
    .await
    .unwrap();
    let refused = dg.delete(&loc("d/reference.bin"), false).await;
    assert!(
        matches!(refused, Err(Error::Precondition { .. })),
        "{refused:?}"
    );
    let out = dg.delete(&loc("d/a.zip"), false).await.unwrap();
    assert_eq!(out.removed, vec![loc("d/a.zip.delta")]);
    let out = dg.delete(&loc("d/b.zip"), false).await.unwrap();
    assert_eq!(
        out.removed,
        vec![loc("d/b.zip.delta"), loc("d/reference.bin")]
    );
    assert!(storage.list_all("b", "d/").await.unwrap().is_empty());
    assert!(matches!(
        dg.delete(&loc("d/b.zip"), false).await,
        Err(Error::NotFound { .. })
    ));
}
per_format!(
    #[tokio::test]
    deleting_the_last_delta_removes_the_reference
);

async fn racing_first_uploads_share_one_reference(format: Format) {
    let (dg, storage) = service_with(format);
    let base = noise(1, 100_000);
    let tasks: Vec<_> = (0..8u64)
        .map(|i| {
            let dg = dg.clone();
            let data = edit(&base, 10 + i, 3);
            tokio::spawn(async move {
                dg.put(
                    BytesBlob::shared(data.clone()),
                    &loc(&format!("race/f{i}.zip")),
                    &PutRequest::default(),
                )
                .await
                .unwrap();
                data
            })
        })
        .collect();
    let mut files = Vec::new();
    for t in tasks {
        files.push(t.await.unwrap());
    }
    let refs = storage.list_all("b", "race/").await.unwrap();
    assert_eq!(
        refs.iter()
            .filter(|o| o.location.key.ends_with("reference.bin"))
            .count(),
        1
    );
    for (i, data) in files.iter().enumerate() {
        assert_eq!(&get(&dg, &format!("race/f{i}.zip")).await.unwrap().0, data);
    }
}
per_format!(
    #[tokio::test]
    racing_first_uploads_share_one_reference
);

#[tokio::test]
async fn plain_objects_are_returned_as_they_are() {
    let (dg, storage) = service();
    storage
        .put(
            &loc("p/raw.bin"),
            BytesBlob::shared(&b"raw bytes"[..]),
            Default::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        get(&dg, "p/raw.bin").await.unwrap(),
        (b"raw bytes".to_vec(), Served::Plain)
    );
}

#[tokio::test]
async fn reads_python_and_proxy_metadata_spellings() {
    // a delta written with legacy bare keys and the proxy's relative reference path
    let (dg, storage) = compat();
    let v1 = noise(1, 50_000);
    let v2 = edit(&v1, 5, 4);
    dg.put(
        BytesBlob::shared(v1.clone()),
        &loc("x/a.zip"),
        &PutRequest::default(),
    )
    .await
    .unwrap();
    dg.put(
        BytesBlob::shared(v2.clone()),
        &loc("x/b.zip"),
        &PutRequest::default(),
    )
    .await
    .unwrap();
    let got = storage.get(&loc("x/b.zip.delta")).await.unwrap();
    let m = got.info.metadata.clone();
    let chunks: Vec<bytes::Bytes> = futures::TryStreamExt::try_collect(got.body).await.unwrap();
    let body = chunks.concat();
    let mut proxy = dg_ports::Metadata::new();
    proxy.insert("dg-file-sha256".into(), m["dg-file-sha256"].clone());
    proxy.insert("file_size".into(), m["dg-file-size"].clone());
    proxy.insert("dg-ref-path".into(), "reference.bin".into());
    proxy.insert("ref_sha256".into(), m["dg-ref-sha256"].clone());
    proxy.insert("dg-note".into(), "delta".into());
    storage
        .put(
            &loc("x/c.zip.delta"),
            BytesBlob::shared(body),
            dg_ports::PutOptions {
                metadata: proxy,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(get(&dg, "x/c.zip").await.unwrap(), (v2, Served::Delta));
    assert_eq!(meta::get(&m, meta::field::ENGINE), Some("zstd"));
}

fn compressible(seed: u64, len: usize) -> Vec<u8> {
    let words = [
        &b"alpha "[..],
        b"beta ",
        b"gamma ",
        b"delta\n",
        b"{\"key\": 1}, ",
    ];
    let r = noise(seed, len / 4);
    let mut v = Vec::with_capacity(len);
    for b in r {
        v.extend_from_slice(words[usize::from(b) % words.len()]);
        if v.len() >= len {
            break;
        }
    }
    v.truncate(len);
    v
}

#[tokio::test]
async fn native_format_sees_through_to_plain_forms() {
    let (dg, _) = service();
    let body = noise(5, 200_000);
    let edited = edit(&body, 6, 5);
    // the stored bytes differ everywhere (every byte shifted), the plain forms barely
    let a = toy(1, &body);
    let b = toy(2, &edited);
    dg.put(
        BytesBlob::shared(a.clone()),
        &loc("t/a.bin"),
        &PutRequest::default(),
    )
    .await
    .unwrap();
    let out = dg
        .put(
            BytesBlob::shared(b.clone()),
            &loc("t/b.bin"),
            &PutRequest::default(),
        )
        .await
        .unwrap();
    assert!(
        out.stored_size < 5_000,
        "see-through delta is small: {}",
        out.stored_size
    );
    assert!(
        out.notes.iter().any(|n| n.contains("seen through")),
        "{:?}",
        out.notes
    );
    assert_eq!(
        get(&dg, "t/b.bin").await.unwrap(),
        (b.clone(), Served::Delta)
    );
    // the same pair in the compatible format: no see-through, stored whole
    let (dg, _) = compat();
    dg.put(
        BytesBlob::shared(a),
        &loc("t/a.bin"),
        &PutRequest::default(),
    )
    .await
    .unwrap();
    let out = dg
        .put(
            BytesBlob::shared(b),
            &loc("t/b.bin"),
            &PutRequest::default(),
        )
        .await
        .unwrap();
    assert!(
        matches!(out.stored, Stored::Direct { .. }),
        "{:?}",
        out.stored
    );
}

async fn corruption_is_detected_and_named(format: Format) {
    let (dg, storage) = service_with(format);
    let v1 = compressible(1, 200_000);
    let v2 = edit(&v1, 2, 10);
    dg.put(
        BytesBlob::shared(v1.clone()),
        &loc("c/a.tar"),
        &PutRequest::default(),
    )
    .await
    .unwrap();
    dg.put(
        BytesBlob::shared(v2.clone()),
        &loc("c/b.tar"),
        &PutRequest::default(),
    )
    .await
    .unwrap();
    let body = |key: &str| {
        let storage = storage.clone();
        let key = key.to_string();
        async move {
            let got = storage.get(&loc(&key)).await.unwrap();
            let chunks: Vec<bytes::Bytes> =
                futures::TryStreamExt::try_collect(got.body).await.unwrap();
            chunks.concat()
        }
    };

    // a flipped byte in the reference
    let original_ref = body("c/reference.bin").await;
    for at in [7, 60, 500, original_ref.len() / 2, original_ref.len() - 3] {
        let mut bad = original_ref.clone();
        bad[at] ^= 0x10;
        storage.tamper(&loc("c/reference.bin"), bad).unwrap();
        // a fresh service has no verified copy in memory
        let err = get(&fresh_service(&storage), "c/b.tar").await.unwrap_err();
        assert!(
            err.to_string().contains("c/reference.bin"),
            "flip at {at}: {err}"
        );
        if format == Format::Compat {
            // a whole reference is checked against its SHA-256
            match &err {
                Error::Corrupt {
                    what,
                    expected,
                    actual,
                    ..
                } => {
                    assert!(what.contains("c/reference.bin"), "{what}");
                    assert_ne!(expected, actual);
                }
                e => panic!("expected Corrupt, got {e}"),
            }
        }
    }
    storage
        .tamper(&loc("c/reference.bin"), original_ref)
        .unwrap();

    // a flipped byte in the delta: in a compat delta's body, in a native delta's header too
    let delta = body("c/b.tar.delta").await;
    let flips = match format {
        Format::Compat => vec![(delta.len() / 2, 0x40)],
        Format::Native => vec![(5, 0x10), (40, 0x10), (delta.len() - 2, 0x10)],
    };
    for (at, bit) in flips {
        let mut bad = delta.clone();
        bad[at] ^= bit;
        storage.tamper(&loc("c/b.tar.delta"), bad).unwrap();
        // with the reference verified in memory, and without
        for reader in [dg.clone(), fresh_service(&storage)] {
            let err = get(&reader, "c/b.tar").await.unwrap_err();
            assert!(
                matches!(err, Error::Corrupt { .. } | Error::InvalidData { .. }),
                "a corrupt delta fails: flip at {at}: {err}"
            );
            assert!(
                err.to_string().contains("c/b.tar.delta"),
                "the error names the object: flip at {at}: {err}"
            );
        }
    }

    let report = dg.verify("b", "c/", 2, &|_| {}).await.unwrap();
    assert_eq!(report.failed.len(), 1);
    assert_eq!(report.failed[0].0.key, "c/b.tar.delta");
    assert_eq!(report.passed, 2, "reference and a.tar pass");

    storage.tamper(&loc("c/b.tar.delta"), delta).unwrap();
    assert_eq!(
        get(&fresh_service(&storage), "c/b.tar").await.unwrap().0,
        v2
    );
}
per_format!(
    #[tokio::test]
    corruption_is_detected_and_named
);

#[tokio::test]
async fn python_deltas_in_a_native_deltaspace_are_read() {
    // Python deltaglider writing into a native deltaspace deltas against reference.bin's bytes
    use dg_ports::DiffEngine;
    let (dg, storage) = service();
    let v1 = compressible(1, 100_000);
    dg.put(
        BytesBlob::shared(v1.clone()),
        &loc("p/a.tar"),
        &PutRequest::default(),
    )
    .await
    .unwrap();
    let got = storage.get(&loc("p/reference.bin")).await.unwrap();
    let chunks: Vec<bytes::Bytes> = futures::TryStreamExt::try_collect(got.body).await.unwrap();
    let stored = chunks.concat();
    let target = edit(&stored, 3, 2);
    let mut delta = Vec::new();
    ZstdEngine::default()
        .encode(&stored, &mut &target[..], &mut delta)
        .unwrap();
    let sha = |d: &[u8]| dg_core::digest::to_hex(&<sha2::Sha256 as sha2::Digest>::digest(d));
    let metadata: dg_ports::Metadata = [
        ("dg-tool", "deltaglider/6.2.0".to_string()),
        ("dg-original-name", "py.tar".into()),
        ("dg-file-sha256", sha(&target)),
        ("dg-file-size", target.len().to_string()),
        ("dg-created-at", "2025-01-01T00:00:00Z".into()),
        ("dg-ref-key", "p/reference.bin".into()),
        ("dg-ref-sha256", sha(&stored)),
        ("dg-delta-size", delta.len().to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    storage
        .put(
            &loc("p/py.tar.delta"),
            BytesBlob::shared(delta),
            dg_ports::PutOptions {
                metadata,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        get(&fresh_service(&storage), "p/py.tar").await.unwrap().0,
        target
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]
    #[test]
    fn put_then_get_returns_identical_bytes(
        seed in any::<u64>(),
        len in 0usize..60_000,
        edits in prop::collection::vec((any::<u16>(), any::<u8>(), 0u8..3), 0..20),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let (dg, _) = if seed % 2 == 0 { service() } else { compat() };
            let reference = noise(seed, len);
            let mut target = reference.clone();
            for (pos, byte, kind) in edits {
                let at = if target.is_empty() { 0 } else { usize::from(pos) % target.len() };
                match kind {
                    0 if !target.is_empty() => target[at] = byte,
                    1 => target.insert(at, byte),
                    _ if !target.is_empty() => { target.remove(at); }
                    _ => target.push(byte),
                }
            }
            dg.put(BytesBlob::shared(reference.clone()), &loc("p/ref.zip"), &PutRequest::default()).await.unwrap();
            dg.put(BytesBlob::shared(target.clone()), &loc("p/target.zip"), &PutRequest::default()).await.unwrap();
            prop_assert_eq!(get(&dg, "p/ref.zip").await.unwrap().0, reference);
            prop_assert_eq!(get(&dg, "p/target.zip").await.unwrap().0, target);
            Ok(())
        })?;
    }
}

#[tokio::test]
async fn bucket_settings_choose_the_format_of_new_deltaspaces() {
    let (dg, storage) = service();
    assert_eq!(dg.bucket_settings("b").await.unwrap().format, None);
    let compat = dg_core::BucketSettings {
        format: Some(Format::Compat),
        ..Default::default()
    };
    dg.set_bucket_settings("b", &compat).await.unwrap();
    let put = |key: &'static str, seed: u64, format: Option<Format>| {
        let dg = dg.clone();
        async move {
            dg.put(
                BytesBlob::shared(noise(seed, 50_000)),
                &loc(key),
                &PutRequest {
                    format,
                    ..PutRequest::default()
                },
            )
            .await
            .unwrap()
            .stored
        }
    };
    let created = |stored: Stored| match stored {
        Stored::Delta {
            created_reference: true,
            format,
            ..
        } => format,
        other => panic!("expected a new reference, got {other:?}"),
    };
    // The bucket's setting applies; an explicit request still wins.
    assert_eq!(created(put("one/a.zip", 1, None).await), Format::Compat);
    assert_eq!(
        created(put("two/a.zip", 2, Some(Format::Native)).await),
        Format::Native
    );
    // Another process (a fresh service over the same storage) reads the setting back.
    let (fresh, _) = service_over(storage.clone());
    assert_eq!(fresh.bucket_settings("b").await.unwrap(), compat);
    // Settings are internal: listings do not show them.
    let listed = storage.list_all("b", "").await.unwrap();
    assert!(listed
        .iter()
        .any(|o| o.location.key == ".deltaglider/settings"));
    let listing = dg
        .list(&dg_core::ListQuery {
            bucket: "b".into(),
            prefix: String::new(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(!listing.entries.is_empty());
    assert!(listing
        .entries
        .iter()
        .all(|e| !e.key.contains(".deltaglider")));
}
