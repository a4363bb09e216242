//! The bucket-administration conformance suite.

use dg_ports::{Buckets, BytesBlob, Error, Location, ObjectStorage, ObjectStorageExt, PutOptions};

/// What an adapter of [`Buckets`] may legitimately do differently.
#[derive(Clone, Copy, Debug)]
pub struct BucketRules {
    /// Names S3 refuses (`Bad_Name`, two characters, a leading `-`, `a..b`, 64 characters) are
    /// refused with [`Error::InvalidInput`] before any request. True for every adapter of dg;
    /// false for a store that leaves names to its backend.
    pub checks_names: bool,
    /// A put into a bucket that does not exist fails with [`Error::NotFound`]. S3 says
    /// `NoSuchBucket`; a local directory store creates directories and may refuse otherwise.
    pub put_needs_bucket: bool,
}

impl Default for BucketRules {
    fn default() -> Self {
        BucketRules {
            checks_names: true,
            put_needs_bucket: true,
        }
    }
}

fn names(listed: &[dg_ports::BucketInfo]) -> Vec<String> {
    listed.iter().map(|b| b.name.clone()).collect()
}

/// Runs every bucket rule against `buckets`, whose objects `storage` reads and writes (the same
/// backend). The suite creates and removes buckets named `conformance-…`; none may exist.
pub async fn run(buckets: &dyn Buckets, storage: &dyn ObjectStorage, rules: BucketRules) {
    let (alpha, beta) = ("conformance-alpha", "conformance-beta");
    let before = names(&buckets.list_buckets().await.unwrap());
    assert!(
        !before.iter().any(|n| n.starts_with("conformance-")),
        "the suite starts without its buckets: {before:?}"
    );

    // create, list (sorted by name), create again
    buckets.create_bucket(beta).await.unwrap();
    buckets.create_bucket(alpha).await.unwrap();
    let listed = names(&buckets.list_buckets().await.unwrap());
    assert!(
        listed.contains(&alpha.to_string()) && listed.contains(&beta.to_string()),
        "created buckets are listed: {listed:?}"
    );
    let mut sorted = listed.clone();
    sorted.sort();
    assert_eq!(listed, sorted, "buckets are listed sorted by name");
    for name in [alpha, beta] {
        let again = buckets.create_bucket(name).await;
        assert!(
            matches!(again, Err(Error::AlreadyExists { .. })),
            "creating an existing bucket is AlreadyExists: {again:?}"
        );
    }

    // names
    if rules.checks_names {
        let long = "a".repeat(64);
        for bad in [
            "Bad_Name", "ab", "-abc", "abc-", "a..b", "UPPER", "a b c", &long,
        ] {
            let made = buckets.create_bucket(bad).await;
            assert!(
                matches!(made, Err(Error::InvalidInput(_))),
                "`{bad}` is refused as an invalid name: {made:?}"
            );
        }
        let listed = names(&buckets.list_buckets().await.unwrap());
        assert!(
            !listed.iter().any(|n| n == "Bad_Name" || n == "ab"),
            "refused names leave nothing: {listed:?}"
        );
    }

    // a new bucket is empty and holds objects
    assert!(
        storage.list_all(alpha, "").await.unwrap().is_empty(),
        "a new bucket is empty"
    );
    let at = Location::new(alpha, "dir/object");
    storage
        .put(
            &at,
            BytesBlob::shared(&b"in a bucket"[..]),
            PutOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(storage.head(&at).await.unwrap().size, 11);

    // a bucket with objects is kept
    let kept = buckets.delete_bucket(alpha).await;
    assert!(
        matches!(kept, Err(Error::Precondition { .. })),
        "deleting a bucket that holds objects is Precondition: {kept:?}"
    );
    assert!(
        names(&buckets.list_buckets().await.unwrap()).contains(&alpha.to_string()),
        "a refused delete keeps the bucket"
    );
    assert_eq!(storage.head(&at).await.unwrap().size, 11, "and its objects");

    // emptied, it goes; then it is missing
    storage.delete(&at).await.unwrap();
    buckets.delete_bucket(alpha).await.unwrap();
    buckets.delete_bucket(beta).await.unwrap();
    let listed = names(&buckets.list_buckets().await.unwrap());
    assert!(
        !listed.contains(&alpha.to_string()) && !listed.contains(&beta.to_string()),
        "deleted buckets are not listed: {listed:?}"
    );
    for name in [alpha, "conformance-never-made"] {
        let gone = buckets.delete_bucket(name).await;
        assert!(
            matches!(gone, Err(Error::NotFound { .. })),
            "deleting a missing bucket is NotFound: {gone:?}"
        );
    }
    if rules.put_needs_bucket {
        let put = storage
            .put(
                &Location::new(alpha, "k"),
                BytesBlob::shared(&b"x"[..]),
                PutOptions::default(),
            )
            .await;
        assert!(
            matches!(put, Err(Error::NotFound { .. })),
            "a put into a missing bucket is NotFound: {put:?}"
        );
    }

    // a deleted name can be created again, empty
    buckets.create_bucket(alpha).await.unwrap();
    assert!(
        storage.list_all(alpha, "").await.unwrap().is_empty(),
        "a bucket made again starts empty"
    );
    buckets.delete_bucket(alpha).await.unwrap();
    assert_eq!(
        names(&buckets.list_buckets().await.unwrap()),
        before,
        "the suite leaves the buckets it found"
    );
}
