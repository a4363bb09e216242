//! [`Client`]'s operations on [`Location`]s with the domain's own outcomes: what the `dg`
//! command is built on, for callers that need more than the S3-like calls.

use dg_core::policy::DeltaPolicy;
use dg_core::{
    BucketSettings, DeleteOutcome, GetOutcome, Leftovers, ListQuery, Listing, PutOutcome,
    PutRequest,
};
use dg_ports::{BlobRef, Error, Location, ObjectInfo, ObjectStorageExt, Result, StagedBlob};

use crate::Client;

/// Where dg keeps its own objects in a bucket (settings, stats, temporary files).
pub const HOUSEKEEPING: &str = ".deltaglider/";

impl Client {
    /// The rules that decide which files are stored as deltas.
    pub fn policy(&self) -> &DeltaPolicy {
        &self.service().config().policy
    }

    /// Stores `blob` at `at`: a delta where the file is eligible and the delta pays, else whole.
    pub async fn put(
        &self,
        blob: BlobRef,
        at: &Location,
        options: &PutRequest,
    ) -> Result<PutOutcome> {
        self.service().put(blob, at, options).await
    }

    /// Rebuilds the file at `from` into `out`; `Ok` only once it matched its SHA-256.
    pub async fn get(&self, from: &Location, out: Box<dyn StagedBlob>) -> Result<GetOutcome> {
        self.service().get(from, out).await
    }

    /// [`Client::get`] into a fresh staged blob.
    pub async fn get_staged(&self, from: &Location) -> Result<GetOutcome> {
        self.get(from, self.staging().create()?).await
    }

    /// Deletes the file at `at` (its whole object or its `.delta`); the last delta of a
    /// deltaspace takes the reference with it; a reference deltas need is kept unless `force`.
    pub async fn delete(&self, at: &Location, force: bool) -> Result<DeleteOutcome> {
        self.service().delete(at, force).await
    }

    /// Deletes the stored object at exactly `at`, with the same care for references.
    pub async fn delete_stored(&self, at: &Location, force: bool) -> Result<DeleteOutcome> {
        self.service().delete_stored(at, force).await
    }

    /// One page of files, as `query` asks.
    pub async fn list(&self, query: &ListQuery) -> Result<Listing> {
        self.service().list(query).await
    }

    /// Every file under `prefix`, all pages (`original_sizes`: one HEAD per delta).
    pub async fn list_all(
        &self,
        bucket: &str,
        prefix: &str,
        original_sizes: bool,
    ) -> Result<Listing> {
        self.service()
            .list_all(bucket, prefix, original_sizes)
            .await
    }

    /// Fails with the storage's error (e.g. no such bucket) when `bucket` cannot be listed:
    /// one clear error before a bulk command, instead of one per file.
    pub async fn check_bucket(&self, bucket: &str, prefix: &str) -> Result<()> {
        self.list(&ListQuery {
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
            delimiter: Some("/".into()),
            max_keys: 1,
            ..ListQuery::default()
        })
        .await
        .map(drop)
    }

    /// Objects under `prefix` no file needs (references without deltas, temporary objects).
    pub async fn leftovers(&self, bucket: &str, prefix: &str) -> Result<Leftovers> {
        self.service().leftovers(bucket, prefix).await
    }

    /// The stored object at exactly `at` (no name resolution), or `None`.
    pub async fn stored_object(&self, at: &Location) -> Result<Option<ObjectInfo>> {
        self.service().storage().head_opt(at).await
    }

    /// Deletes the stored object at exactly `at`, whatever it is (housekeeping: no care for
    /// references; see [`Client::delete_stored`] for that).
    pub async fn delete_raw(&self, at: &Location) -> Result<()> {
        self.service().storage().delete(at).await
    }

    /// The bucket's dg settings (none set: the defaults).
    pub async fn bucket_settings(&self, bucket: &str) -> Result<BucketSettings> {
        self.service().bucket_settings(bucket).await
    }

    /// Saves the bucket's dg settings.
    pub async fn set_bucket_settings(&self, bucket: &str, settings: &BucketSettings) -> Result<()> {
        self.service().set_bucket_settings(bucket, settings).await
    }

    /// Removes a bucket that holds nothing but dg's housekeeping (deleted first); a bucket
    /// with files is refused with [`Error::Precondition`].
    pub async fn delete_bucket(&self, bucket: &str) -> Result<()> {
        let storage = self.service().storage();
        let objects = storage.list_all(bucket, "").await?;
        let files = objects
            .iter()
            .filter(|o| !o.location.key.starts_with(HOUSEKEEPING))
            .count();
        if files > 0 {
            return Err(Error::Precondition {
                what: format!("bucket {bucket}"),
                reason: format!(
                    "it is not empty: it holds {files} object(s); delete them first with `dg rm -r s3://{bucket}/`"
                ),
            });
        }
        for object in &objects {
            storage.delete(&object.location).await?;
        }
        self.buckets().delete_bucket(bucket).await
    }
}
