//! An S3 backend in memory for the test server: keeps any key S3 allows exactly as sent.
//!
//! [`MemoryS3`] implements the operations of [`s3s::S3`] that dg and its tests use, with S3's
//! own semantics where a file system cannot follow them: keys are any UTF-8 up to 1024 bytes
//! (`a//b`, `..`, `./x`, `/lead`, `dir/`, control characters, `%`, unicode, a key that is also
//! a prefix of others), listed in UTF-8 byte order; `If-None-Match: *` creates are atomic;
//! ETags are the hex MD5 of the body, or `<MD5 of the part MD5s>-<parts>` after a multipart
//! upload. Everything else keeps the trait's default (`NotImplemented`).
//!
//! Listing continuation tokens are opaque (hex of the last entry returned), as on AWS: a key
//! passed as a token is refused with `InvalidArgument`. `start-after` and the v1 `marker`
//! compare against the rolled-up entries (keys and common prefixes), as s3s-fs does.
//! `encoding-type=url` is honoured, for keys that XML 1.0 cannot carry.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use futures::TryStreamExt;
use s3s::crypto::{Checksum, Md5};
use s3s::dto::*;
use s3s::{s3_error, S3Request, S3Response, S3Result, S3};

mod copy;
mod helpers;
mod listing;
mod multipart;

use self::helpers::*;
use self::listing::*;

/// Largest key S3 accepts, in bytes of UTF-8.
const MAX_KEY: usize = 1024;
/// Smallest part of a multipart upload but the last.
const MIN_PART: usize = 5 << 20;
/// Chunks in which bodies are sent.
const CHUNK: usize = 64 << 10;
/// Content type of objects stored without one, as on S3.
const DEFAULT_CONTENT_TYPE: &str = "binary/octet-stream";

/// One object as the backend holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredObject {
    /// The body.
    pub body: Bytes,
    /// User metadata (`x-amz-meta-*` without the prefix).
    pub metadata: BTreeMap<String, String>,
    /// `Content-Type` as uploaded, if any.
    pub content_type: Option<String>,
    /// When it was written, to the second.
    pub last_modified: SystemTime,
    /// The ETag without quotes: hex MD5, or `<hex>-<parts>` for multipart uploads.
    pub etag: String,
}

impl StoredObject {
    fn single(
        body: Bytes,
        metadata: BTreeMap<String, String>,
        content_type: Option<String>,
    ) -> Self {
        let etag = hex(&md5(&body));
        StoredObject {
            body,
            metadata,
            content_type,
            last_modified: now(),
            etag,
        }
    }

    fn strong_etag(&self) -> ETag {
        ETag::Strong(self.etag.clone())
    }

    fn size(&self) -> i64 {
        i64::try_from(self.body.len()).unwrap_or(i64::MAX)
    }
}

#[derive(Debug)]
struct BucketData {
    created: SystemTime,
    objects: BTreeMap<String, StoredObject>,
}

#[derive(Debug)]
struct UploadedPart {
    body: Bytes,
    md5: [u8; 16],
    last_modified: SystemTime,
}

#[derive(Debug)]
struct Upload {
    bucket: String,
    key: String,
    metadata: BTreeMap<String, String>,
    content_type: Option<String>,
    parts: BTreeMap<i32, UploadedPart>,
}

#[derive(Debug, Default)]
struct State {
    buckets: BTreeMap<String, BucketData>,
    uploads: HashMap<String, Upload>,
}

impl State {
    /// Writes `object` at `key` when the conditions hold against what is there (checked and
    /// written under the caller's one lock: a create-if-absent is atomic).
    fn write(
        &mut self,
        bucket: &str,
        key: &str,
        object: StoredObject,
        if_match: Option<&ETagCondition>,
        if_none_match: Option<&ETagCondition>,
    ) -> S3Result<()> {
        let b = self
            .buckets
            .get_mut(bucket)
            .ok_or_else(|| s3_error!(NoSuchBucket))?;
        check_write(b.objects.get(key), if_match, if_none_match)?;
        b.objects.insert(key.to_string(), object);
        Ok(())
    }
}

/// Buckets, objects and multipart uploads in memory, served through [`s3s`]; see the module
/// documentation. Reach it from a test through
/// [`S3TestServer::memory`](super::S3TestServer::memory) to plant or inspect objects.
#[derive(Default)]
pub struct MemoryS3 {
    state: Mutex<State>,
    uploads_started: AtomicU64,
}

impl std::fmt::Debug for MemoryS3 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.state();
        let buckets: Vec<(&String, usize)> = state
            .buckets
            .iter()
            .map(|(name, b)| (name, b.objects.len()))
            .collect();
        f.debug_struct("MemoryS3")
            .field("buckets", &buckets)
            .field("uploads", &state.uploads.len())
            .finish()
    }
}

impl MemoryS3 {
    /// An empty backend.
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Creates `bucket` unless it exists (no name rules: tests may use any name).
    pub fn create_bucket_raw(&self, bucket: &str) {
        self.state()
            .buckets
            .entry(bucket.to_string())
            .or_insert_with(|| BucketData {
                created: now(),
                objects: BTreeMap::new(),
            });
    }

    /// Stores an object as it is, creating the bucket if needed: any key (even ones S3 would
    /// refuse, such as empty or longer than 1024 bytes) and any metadata (names are kept as
    /// given; ones an HTTP header cannot carry make reads of the object fail). Returns the
    /// ETag (hex MD5, no quotes).
    pub fn put_raw<I, K, V>(
        &self,
        bucket: &str,
        key: &str,
        body: impl Into<Bytes>,
        metadata: I,
    ) -> String
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let object = StoredObject::single(
            body.into(),
            metadata
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
            None,
        );
        let etag = object.etag.clone();
        self.create_bucket_raw(bucket);
        if let Some(b) = self.state().buckets.get_mut(bucket) {
            b.objects.insert(key.to_string(), object);
        }
        etag
    }

    /// The object at `key`, as stored.
    pub fn get_raw(&self, bucket: &str, key: &str) -> Option<StoredObject> {
        self.state()
            .buckets
            .get(bucket)
            .and_then(|b| b.objects.get(key))
            .cloned()
    }

    /// Every key of `bucket` in byte order (empty if there is no such bucket).
    pub fn keys(&self, bucket: &str) -> Vec<String> {
        self.state()
            .buckets
            .get(bucket)
            .map(|b| b.objects.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Removes the object at `key`; whether there was one.
    pub fn delete_raw(&self, bucket: &str, key: &str) -> bool {
        self.state()
            .buckets
            .get_mut(bucket)
            .and_then(|b| b.objects.remove(key))
            .is_some()
    }

    /// Multipart uploads started and neither completed nor aborted.
    pub fn uploads_in_progress(&self) -> usize {
        self.state().uploads.len()
    }

    fn bucket_exists(&self, bucket: &str) -> S3Result<()> {
        if self.state().buckets.contains_key(bucket) {
            Ok(())
        } else {
            Err(s3_error!(NoSuchBucket))
        }
    }

    /// The object at `key`, or S3's error for a missing bucket or key.
    fn object(&self, bucket: &str, key: &str) -> S3Result<StoredObject> {
        let state = self.state();
        let b = state
            .buckets
            .get(bucket)
            .ok_or_else(|| s3_error!(NoSuchBucket))?;
        b.objects
            .get(key)
            .cloned()
            .ok_or_else(|| s3_error!(NoSuchKey))
    }
}

#[async_trait::async_trait]
impl S3 for MemoryS3 {
    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        let mut state = self.state();
        if state.buckets.contains_key(&req.input.bucket) {
            return Err(s3_error!(BucketAlreadyOwnedByYou));
        }
        state.buckets.insert(
            req.input.bucket.clone(),
            BucketData {
                created: now(),
                objects: BTreeMap::new(),
            },
        );
        Ok(S3Response::new(CreateBucketOutput {
            location: Some(format!("/{}", req.input.bucket)),
        }))
    }

    async fn delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        let mut state = self.state();
        let bucket = &req.input.bucket;
        match state.buckets.get(bucket) {
            None => return Err(s3_error!(NoSuchBucket)),
            Some(b) if !b.objects.is_empty() => {
                return Err(s3_error!(
                    BucketNotEmpty,
                    "The bucket you tried to delete is not empty"
                ))
            }
            Some(_) => {}
        }
        state.buckets.remove(bucket);
        state.uploads.retain(|_, u| u.bucket != *bucket);
        Ok(S3Response::new(DeleteBucketOutput {}))
    }

    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        self.bucket_exists(&req.input.bucket)?;
        Ok(S3Response::new(HeadBucketOutput::default()))
    }

    async fn list_buckets(
        &self,
        _req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        let buckets = self
            .state()
            .buckets
            .iter()
            .map(|(name, b)| Bucket {
                name: Some(name.clone()),
                creation_date: Some(Timestamp::from(b.created)),
                bucket_region: None,
            })
            .collect();
        Ok(S3Response::new(ListBucketsOutput {
            buckets: Some(buckets),
            ..Default::default()
        }))
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        self.bucket_exists(&req.input.bucket)?;
        Ok(S3Response::new(GetBucketLocationOutput::default()))
    }

    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        let input = req.input;
        check_key(&input.key)?;
        self.bucket_exists(&input.bucket)?;
        let body = collect(input.body).await?;
        check_content_md5(&body, input.content_md5.as_deref())?;
        let object = StoredObject::single(body, metadata_of(input.metadata), input.content_type);
        let etag = object.strong_etag();
        {
            // Check and write under one lock: a create-if-absent is atomic.
            self.state().write(
                &input.bucket,
                &input.key,
                object,
                input.if_match.as_ref(),
                input.if_none_match.as_ref(),
            )?;
        }
        Ok(S3Response::new(PutObjectOutput {
            e_tag: Some(etag),
            ..Default::default()
        }))
    }

    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        let input = req.input;
        if input.part_number.is_some() {
            return Err(s3_error!(NotImplemented, "GetObject by part number"));
        }
        let o = self.object(&input.bucket, &input.key)?;
        check_read(
            &o,
            input.if_match.as_ref(),
            input.if_none_match.as_ref(),
            input.if_modified_since.as_ref(),
            input.if_unmodified_since.as_ref(),
        )?;
        let size = o.body.len() as u64;
        let (body, content_range) = match input.range {
            None => (o.body.clone(), None),
            Some(range) => {
                let r = range.check(size).map_err(|_| {
                    s3_error!(InvalidRange, "The requested range is not satisfiable")
                })?;
                let (start, end) = (r.start as usize, r.end as usize);
                (
                    o.body.slice(start..end),
                    Some(format!("bytes {}-{}/{size}", r.start, r.end - 1)),
                )
            }
        };
        Ok(S3Response::new(GetObjectOutput {
            content_length: Some(i64::try_from(body.len()).unwrap_or(i64::MAX)),
            body: Some(stream_of(body)),
            content_range,
            accept_ranges: Some("bytes".into()),
            content_type: Some(
                o.content_type
                    .clone()
                    .unwrap_or_else(|| DEFAULT_CONTENT_TYPE.into()),
            ),
            e_tag: Some(o.strong_etag()),
            last_modified: Some(Timestamp::from(o.last_modified)),
            metadata: hash_map(&o.metadata),
            ..Default::default()
        }))
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        let input = req.input;
        let o = self.object(&input.bucket, &input.key)?;
        check_read(
            &o,
            input.if_match.as_ref(),
            input.if_none_match.as_ref(),
            input.if_modified_since.as_ref(),
            input.if_unmodified_since.as_ref(),
        )?;
        Ok(S3Response::new(HeadObjectOutput {
            content_length: Some(o.size()),
            accept_ranges: Some("bytes".into()),
            content_type: Some(
                o.content_type
                    .clone()
                    .unwrap_or_else(|| DEFAULT_CONTENT_TYPE.into()),
            ),
            e_tag: Some(o.strong_etag()),
            last_modified: Some(Timestamp::from(o.last_modified)),
            metadata: hash_map(&o.metadata),
            ..Default::default()
        }))
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        let input = req.input;
        let url = wants_url(input.encoding_type.as_ref())?;
        let max = max_keys(input.max_keys)?;
        // A continuation token supersedes start-after.
        let token = input
            .continuation_token
            .as_deref()
            .map(decode_token)
            .transpose()?;
        let listing = Listing {
            prefix: input.prefix.as_deref().unwrap_or(""),
            delimiter: input.delimiter.as_deref().filter(|d| !d.is_empty()),
            after: token.as_deref().or(input.start_after.as_deref()),
            max_keys: max,
        };
        let listed = self.list(&input.bucket, &listing, url)?;
        let encode = |s: Option<String>| if url { s.map(|s| url_encode(&s)) } else { s };
        let count = listed.contents.len() + listed.common_prefixes.len();
        Ok(S3Response::new(ListObjectsV2Output {
            name: Some(input.bucket.clone()),
            key_count: Some(i32::try_from(count).unwrap_or(i32::MAX)),
            max_keys: Some(input.max_keys.unwrap_or(1000)),
            is_truncated: Some(listed.truncated),
            next_continuation_token: if listed.truncated {
                listed.last.as_deref().map(|l| hex(l.as_bytes()))
            } else {
                None
            },
            contents: (!listed.contents.is_empty()).then_some(listed.contents),
            common_prefixes: (!listed.common_prefixes.is_empty()).then_some(listed.common_prefixes),
            continuation_token: input.continuation_token.clone(),
            prefix: Some(encode(input.prefix.clone()).unwrap_or_default()),
            delimiter: encode(input.delimiter.clone()),
            start_after: encode(input.start_after.clone()),
            encoding_type: input.encoding_type.clone(),
            ..Default::default()
        }))
    }

    async fn list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        let input = req.input;
        let url = wants_url(input.encoding_type.as_ref())?;
        let max = max_keys(input.max_keys)?;
        let delimiter = input.delimiter.as_deref().filter(|d| !d.is_empty());
        let listing = Listing {
            prefix: input.prefix.as_deref().unwrap_or(""),
            delimiter,
            after: input.marker.as_deref(),
            max_keys: max,
        };
        let listed = self.list(&input.bucket, &listing, url)?;
        let encode = |s: Option<String>| if url { s.map(|s| url_encode(&s)) } else { s };
        // S3 sends NextMarker only with a delimiter; without one the last key is the marker.
        let next_marker = (listed.truncated && delimiter.is_some())
            .then(|| encode(listed.last.clone()))
            .flatten();
        Ok(S3Response::new(ListObjectsOutput {
            name: Some(input.bucket.clone()),
            max_keys: Some(input.max_keys.unwrap_or(1000)),
            is_truncated: Some(listed.truncated),
            next_marker,
            contents: (!listed.contents.is_empty()).then_some(listed.contents),
            common_prefixes: (!listed.common_prefixes.is_empty()).then_some(listed.common_prefixes),
            marker: Some(encode(input.marker.clone()).unwrap_or_default()),
            prefix: Some(encode(input.prefix.clone()).unwrap_or_default()),
            delimiter: encode(input.delimiter.clone()),
            encoding_type: input.encoding_type.clone(),
            ..Default::default()
        }))
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        let mut state = self.state();
        let b = state
            .buckets
            .get_mut(&req.input.bucket)
            .ok_or_else(|| s3_error!(NoSuchBucket))?;
        b.objects.remove(&req.input.key);
        Ok(S3Response::new(DeleteObjectOutput::default()))
    }

    async fn delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        let input = req.input;
        if input.delete.objects.len() > 1000 {
            return Err(s3_error!(
                MalformedXML,
                "At most 1000 keys can be deleted at once"
            ));
        }
        let quiet = input.delete.quiet.unwrap_or(false);
        let mut state = self.state();
        let b = state
            .buckets
            .get_mut(&input.bucket)
            .ok_or_else(|| s3_error!(NoSuchBucket))?;
        let mut deleted = Vec::new();
        for id in input.delete.objects {
            b.objects.remove(&id.key);
            if !quiet {
                deleted.push(DeletedObject {
                    key: Some(id.key),
                    version_id: id.version_id,
                    ..Default::default()
                });
            }
        }
        Ok(S3Response::new(DeleteObjectsOutput {
            deleted: Some(deleted),
            ..Default::default()
        }))
    }

    async fn copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        self.serve_copy_object(req).await
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        self.serve_create_multipart_upload(req).await
    }

    async fn upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        self.serve_upload_part(req).await
    }

    async fn list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        self.serve_list_parts(req).await
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        self.serve_complete_multipart_upload(req).await
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        self.serve_abort_multipart_upload(req).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn objects(keys: &[&str]) -> BTreeMap<String, StoredObject> {
        keys.iter()
            .map(|k| {
                (
                    k.to_string(),
                    StoredObject::single(Bytes::new(), BTreeMap::new(), None),
                )
            })
            .collect()
    }

    fn names(
        objects: &BTreeMap<String, StoredObject>,
        prefix: &str,
        delimiter: Option<&str>,
        after: Option<&str>,
        max_keys: usize,
    ) -> (Vec<String>, bool) {
        let (entries, truncated) = Listing {
            prefix,
            delimiter,
            after,
            max_keys,
        }
        .page(objects);
        (
            entries
                .iter()
                .map(|e| match e {
                    Entry::Key(k, _) => k.to_string(),
                    Entry::Prefix(p) => format!("{p}*"),
                })
                .collect(),
            truncated,
        )
    }

    #[test]
    fn listing_rolls_up_and_pages_like_s3() {
        let o = objects(&["a", "a/b", "a//b", "a//c", "a/c/d", "a0", "b/", "b//", "/x"]);
        let all = names(&o, "", None, None, 1000).0;
        assert_eq!(
            all,
            ["/x", "a", "a//b", "a//c", "a/b", "a/c/d", "a0", "b/", "b//"]
        );
        assert_eq!(
            names(&o, "", Some("/"), None, 1000).0,
            ["/*", "a", "a/*", "a0", "b/*"]
        );
        assert_eq!(
            names(&o, "a/", Some("/"), None, 1000).0,
            ["a//*", "a/b", "a/c/*"]
        );
        assert_eq!(names(&o, "a//", Some("/"), None, 1000).0, ["a//b", "a//c"]);
        // pages: a common prefix counts once and is not repeated after it
        assert_eq!(
            names(&o, "a/", Some("/"), None, 1),
            (vec!["a//*".to_string()], true)
        );
        assert_eq!(
            names(&o, "a/", Some("/"), Some("a//"), 1),
            (vec!["a/b".to_string()], true)
        );
        assert_eq!(
            names(&o, "a/", Some("/"), Some("a/b"), 1),
            (vec!["a/c/*".to_string()], false)
        );
        assert_eq!(names(&o, "", None, None, 0), (vec![], false));
        // a multi-character delimiter
        assert_eq!(
            names(&o, "", Some("//"), None, 1000).0,
            ["/x", "a", "a//*", "a/b", "a/c/d", "a0", "b/", "b//*"]
        );
    }

    #[test]
    fn encodings() {
        assert_eq!(hex(&[0, 0xab, 0xff]), "00abff");
        assert_eq!(unhex("00abff"), Some(vec![0, 0xab, 0xff]));
        assert_eq!(unhex("0g"), None);
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foob"), "Zm9vYg==");
        assert_eq!(url_encode("a b/c%\t~é"), "a+b/c%25%09~%C3%A9");
        // the ETag of an empty body is the MD5 of nothing
        assert_eq!(hex(&md5(b"")), "d41d8cd98f00b204e9800998ecf8427e");
    }
}
