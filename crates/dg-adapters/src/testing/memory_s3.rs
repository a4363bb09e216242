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

fn now() -> SystemTime {
    // HTTP dates carry whole seconds: stored times do too, so conditions compare exactly.
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn md5(data: &[u8]) -> [u8; 16] {
    let mut h = Md5::new();
    h.update(data);
    h.finalize()
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    s.as_bytes()
        .chunks(2)
        .map(|p| Some((digit(p[0])? << 4) | digit(p[1])?))
        .collect()
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | (u32::from(b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// S3's `encoding-type=url`: unreserved characters and `/` as they are, a space as `+`,
/// everything else percent-encoded.
fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(char::from(b));
            }
            b' ' => out.push('+'),
            _ => {
                out.push('%');
                out.push_str(&hex(&[b]).to_ascii_uppercase());
            }
        }
    }
    out
}

fn check_key(key: &str) -> S3Result<()> {
    if key.is_empty() {
        return Err(s3_error!(
            InvalidArgument,
            "An object key must not be empty."
        ));
    }
    if key.len() > MAX_KEY {
        return Err(s3_error!(KeyTooLongError));
    }
    Ok(())
}

fn metadata_of(m: Option<Metadata>) -> BTreeMap<String, String> {
    m.into_iter().flatten().collect()
}

fn hash_map(m: &BTreeMap<String, String>) -> Option<Metadata> {
    (!m.is_empty()).then(|| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
}

async fn collect(body: Option<StreamingBlob>) -> S3Result<Bytes> {
    let Some(mut body) = body else {
        return Ok(Bytes::new());
    };
    let mut buf = BytesMut::new();
    while let Some(chunk) = body
        .try_next()
        .await
        .map_err(|e| s3_error!(IncompleteBody, "reading the request body: {e}"))?
    {
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

fn check_content_md5(body: &[u8], content_md5: Option<&str>) -> S3Result<()> {
    match content_md5 {
        Some(expected) if expected.trim() != base64(&md5(body)) => Err(s3_error!(
            BadDigest,
            "The Content-MD5 you specified did not match what we received."
        )),
        _ => Ok(()),
    }
}

/// A streamed body of `bytes`, in chunks.
fn stream_of(bytes: Bytes) -> StreamingBlob {
    let mut chunks = Vec::with_capacity(bytes.len() / CHUNK + 1);
    let mut at = 0;
    while at < bytes.len() {
        let end = (at + CHUNK).min(bytes.len());
        chunks.push(Ok::<_, std::io::Error>(bytes.slice(at..end)));
        at = end;
    }
    StreamingBlob::wrap(futures::stream::iter(chunks))
}

/// `If-Match` / `If-None-Match` of a write against what is stored now.
fn check_write(
    existing: Option<&StoredObject>,
    if_match: Option<&ETagCondition>,
    if_none_match: Option<&ETagCondition>,
) -> S3Result<()> {
    if let (Some(condition), Some(o)) = (if_none_match, existing) {
        let hit = match condition {
            ETagCondition::Any => true,
            ETagCondition::ETag(e) => o.strong_etag().weak_cmp(e),
        };
        if hit {
            return Err(s3_error!(
                PreconditionFailed,
                "At least one of the pre-conditions you specified did not hold"
            ));
        }
    }
    if let Some(condition) = if_match {
        let Some(o) = existing else {
            return Err(s3_error!(NoSuchKey));
        };
        let hit = match condition {
            ETagCondition::Any => true,
            ETagCondition::ETag(e) => o.strong_etag().strong_cmp(e),
        };
        if !hit {
            return Err(s3_error!(
                PreconditionFailed,
                "At least one of the pre-conditions you specified did not hold"
            ));
        }
    }
    Ok(())
}

/// The conditions of a read (`GET`, `HEAD`), in S3's order of precedence.
fn check_read(
    o: &StoredObject,
    if_match: Option<&ETagCondition>,
    if_none_match: Option<&ETagCondition>,
    if_modified_since: Option<&Timestamp>,
    if_unmodified_since: Option<&Timestamp>,
) -> S3Result<()> {
    let modified = Timestamp::from(o.last_modified);
    let failed = || {
        s3_error!(
            PreconditionFailed,
            "At least one of the pre-conditions you specified did not hold"
        )
    };
    match if_match {
        Some(ETagCondition::Any) => {}
        Some(ETagCondition::ETag(e)) if o.strong_etag().strong_cmp(e) => {}
        Some(ETagCondition::ETag(_)) => return Err(failed()),
        None => {
            if if_unmodified_since.is_some_and(|t| modified > *t) {
                return Err(failed());
            }
        }
    }
    match if_none_match {
        Some(ETagCondition::Any) => return Err(s3_error!(NotModified)),
        Some(ETagCondition::ETag(e)) if o.strong_etag().weak_cmp(e) => {
            return Err(s3_error!(NotModified))
        }
        Some(ETagCondition::ETag(_)) => {}
        None => {
            if if_modified_since.is_some_and(|t| modified <= *t) {
                return Err(s3_error!(NotModified));
            }
        }
    }
    Ok(())
}

/// One entry of a listing page.
enum Entry<'a> {
    Key(&'a str, &'a StoredObject),
    Prefix(&'a str),
}

impl Entry<'_> {
    fn name(&self) -> &str {
        match self {
            Entry::Key(k, _) | Entry::Prefix(k) => k,
        }
    }
}

/// A listing's parameters, decoded.
struct Listing<'a> {
    prefix: &'a str,
    delimiter: Option<&'a str>,
    after: Option<&'a str>,
    max_keys: usize,
}

impl<'a> Listing<'a> {
    /// Up to `max_keys` entries after `after`, and whether more follow.
    fn page<'o>(&self, objects: &'o BTreeMap<String, StoredObject>) -> (Vec<Entry<'o>>, bool) {
        let start = match self.after {
            Some(after) if after >= self.prefix => Bound::Excluded(after),
            _ => Bound::Included(self.prefix),
        };
        let mut out: Vec<Entry<'o>> = Vec::new();
        for (key, object) in objects.range::<str, _>((start, Bound::Unbounded)) {
            // Keys starting with the prefix are contiguous in byte order.
            if !key.starts_with(self.prefix) {
                break;
            }
            let rest = &key[self.prefix.len()..];
            let entry = match self.delimiter.and_then(|d| rest.find(d).map(|i| (i, d))) {
                Some((i, d)) => {
                    let common = &key[..self.prefix.len() + i + d.len()];
                    let repeated = matches!(out.last(), Some(Entry::Prefix(p)) if *p == common);
                    if repeated || self.after.is_some_and(|a| common <= a) {
                        continue;
                    }
                    Entry::Prefix(common)
                }
                None => Entry::Key(key, object),
            };
            if out.len() >= self.max_keys {
                return (out, self.max_keys > 0);
            }
            out.push(entry);
        }
        (out, false)
    }
}

fn max_keys(requested: Option<i32>) -> S3Result<usize> {
    match requested {
        None => Ok(1000),
        Some(n) if n < 0 => Err(s3_error!(
            InvalidArgument,
            "Argument maxKeys must be an integer between 0 and 2147483647"
        )),
        Some(n) => Ok(usize::try_from(n).unwrap_or(1000).min(1000)),
    }
}

fn decode_token(token: &str) -> S3Result<String> {
    unhex(token)
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| {
            s3_error!(
                InvalidArgument,
                "The continuation token provided is incorrect"
            )
        })
}

/// What a listing returns, before it is dressed as v1 or v2 output.
struct Listed {
    contents: Vec<Object>,
    common_prefixes: Vec<CommonPrefix>,
    last: Option<String>,
    truncated: bool,
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

    fn list(&self, bucket: &str, listing: &Listing<'_>, url: bool) -> S3Result<Listed> {
        let state = self.state();
        let b = state
            .buckets
            .get(bucket)
            .ok_or_else(|| s3_error!(NoSuchBucket))?;
        let (entries, truncated) = listing.page(&b.objects);
        let encode = |s: &str| if url { url_encode(s) } else { s.to_string() };
        let last = entries.last().map(|e| e.name().to_string());
        let mut contents = Vec::new();
        let mut common_prefixes = Vec::new();
        for entry in entries {
            match entry {
                Entry::Key(key, o) => contents.push(Object {
                    key: Some(encode(key)),
                    size: Some(o.size()),
                    e_tag: Some(o.strong_etag()),
                    last_modified: Some(Timestamp::from(o.last_modified)),
                    storage_class: Some(ObjectStorageClass::from_static(
                        ObjectStorageClass::STANDARD,
                    )),
                    ..Default::default()
                }),
                Entry::Prefix(p) => common_prefixes.push(CommonPrefix {
                    prefix: Some(encode(p)),
                }),
            }
        }
        Ok(Listed {
            contents,
            common_prefixes,
            last,
            truncated,
        })
    }
}

fn wants_url(encoding: Option<&EncodingType>) -> S3Result<bool> {
    match encoding {
        None => Ok(false),
        Some(e) if e.as_str() == EncodingType::URL => Ok(true),
        Some(_) => Err(s3_error!(
            InvalidArgument,
            "Invalid Encoding Method specified in Request"
        )),
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
            let mut state = self.state();
            let b = state
                .buckets
                .get_mut(&input.bucket)
                .ok_or_else(|| s3_error!(NoSuchBucket))?;
            check_write(
                b.objects.get(&input.key),
                input.if_match.as_ref(),
                input.if_none_match.as_ref(),
            )?;
            b.objects.insert(input.key, object);
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
        let input = req.input;
        check_key(&input.key)?;
        let CopySource::Bucket {
            bucket: src_bucket,
            key: src_key,
            version_id,
        } = &input.copy_source
        else {
            return Err(s3_error!(NotImplemented, "copies from access points"));
        };
        if version_id.as_deref().is_some_and(|v| v != "null") {
            return Err(s3_error!(NoSuchVersion));
        }
        let src = self.object(src_bucket, src_key)?;
        let failed = || {
            s3_error!(
                PreconditionFailed,
                "At least one of the pre-conditions you specified did not hold"
            )
        };
        let modified = Timestamp::from(src.last_modified);
        match &input.copy_source_if_match {
            Some(ETagCondition::ETag(e)) if !src.strong_etag().strong_cmp(e) => {
                return Err(failed())
            }
            Some(_) => {}
            None => {
                if input
                    .copy_source_if_unmodified_since
                    .as_ref()
                    .is_some_and(|t| modified > *t)
                {
                    return Err(failed());
                }
            }
        }
        match &input.copy_source_if_none_match {
            Some(ETagCondition::Any) => return Err(failed()),
            Some(ETagCondition::ETag(e)) if src.strong_etag().weak_cmp(e) => return Err(failed()),
            Some(_) => {}
            None => {
                if input
                    .copy_source_if_modified_since
                    .as_ref()
                    .is_some_and(|t| modified <= *t)
                {
                    return Err(failed());
                }
            }
        }
        let replace = input
            .metadata_directive
            .as_ref()
            .is_some_and(|d| d.as_str() == MetadataDirective::REPLACE);
        if !replace && **src_bucket == *input.bucket && **src_key == *input.key {
            return Err(s3_error!(
                InvalidRequest,
                "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes."
            ));
        }
        let object = if replace {
            StoredObject::single(src.body, metadata_of(input.metadata), input.content_type)
        } else {
            StoredObject::single(src.body, src.metadata, src.content_type)
        };
        let result = CopyObjectResult {
            e_tag: Some(object.strong_etag()),
            last_modified: Some(Timestamp::from(object.last_modified)),
            ..Default::default()
        };
        {
            let mut state = self.state();
            let b = state
                .buckets
                .get_mut(&input.bucket)
                .ok_or_else(|| s3_error!(NoSuchBucket))?;
            b.objects.insert(input.key, object);
        }
        Ok(S3Response::new(CopyObjectOutput {
            copy_object_result: Some(result),
            ..Default::default()
        }))
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        let input = req.input;
        check_key(&input.key)?;
        let n = self.uploads_started.fetch_add(1, Ordering::Relaxed);
        let upload_id = format!("mem-{n:08}-{}", hex(&md5(input.key.as_bytes())));
        let mut state = self.state();
        if !state.buckets.contains_key(&input.bucket) {
            return Err(s3_error!(NoSuchBucket));
        }
        state.uploads.insert(
            upload_id.clone(),
            Upload {
                bucket: input.bucket.clone(),
                key: input.key.clone(),
                metadata: metadata_of(input.metadata),
                content_type: input.content_type,
                parts: BTreeMap::new(),
            },
        );
        Ok(S3Response::new(CreateMultipartUploadOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(upload_id),
            ..Default::default()
        }))
    }

    async fn upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        let input = req.input;
        if !(1..=10_000).contains(&input.part_number) {
            return Err(s3_error!(
                InvalidArgument,
                "Part number must be an integer between 1 and 10000, inclusive"
            ));
        }
        let known = |state: &State| {
            state
                .uploads
                .get(&input.upload_id)
                .is_some_and(|u| u.bucket == input.bucket && u.key == input.key)
        };
        if !known(&self.state()) {
            return Err(s3_error!(NoSuchUpload));
        }
        let body = collect(input.body).await?;
        check_content_md5(&body, input.content_md5.as_deref())?;
        let digest = md5(&body);
        let mut state = self.state();
        if !known(&state) {
            return Err(s3_error!(NoSuchUpload));
        }
        if let Some(u) = state.uploads.get_mut(&input.upload_id) {
            u.parts.insert(
                input.part_number,
                UploadedPart {
                    body,
                    md5: digest,
                    last_modified: now(),
                },
            );
        }
        Ok(S3Response::new(UploadPartOutput {
            e_tag: Some(ETag::Strong(hex(&digest))),
            ..Default::default()
        }))
    }

    async fn list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        let input = req.input;
        let state = self.state();
        let u = state
            .uploads
            .get(&input.upload_id)
            .filter(|u| u.bucket == input.bucket && u.key == input.key)
            .ok_or_else(|| s3_error!(NoSuchUpload))?;
        let max = usize::try_from(input.max_parts.unwrap_or(1000).clamp(0, 1000)).unwrap_or(1000);
        let marker = input.part_number_marker.unwrap_or(0);
        let after: Vec<(&i32, &UploadedPart)> = u
            .parts
            .range((Bound::Excluded(marker), Bound::Unbounded))
            .collect();
        let truncated = after.len() > max;
        let parts: Vec<Part> = after
            .iter()
            .take(max)
            .map(|(n, p)| Part {
                part_number: Some(**n),
                size: Some(i64::try_from(p.body.len()).unwrap_or(i64::MAX)),
                e_tag: Some(ETag::Strong(hex(&p.md5))),
                last_modified: Some(Timestamp::from(p.last_modified)),
                ..Default::default()
            })
            .collect();
        let next = parts.last().and_then(|p| p.part_number);
        Ok(S3Response::new(ListPartsOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(input.upload_id),
            max_parts: Some(i32::try_from(max).unwrap_or(1000)),
            is_truncated: Some(truncated),
            part_number_marker: input.part_number_marker,
            next_part_number_marker: if truncated { next } else { None },
            parts: Some(parts),
            ..Default::default()
        }))
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let input = req.input;
        let wanted = input
            .multipart_upload
            .and_then(|m| m.parts)
            .unwrap_or_default();
        if wanted.is_empty() {
            return Err(s3_error!(
                MalformedXML,
                "You must specify at least one part"
            ));
        }
        // Check the parts and take their bodies (cheap clones), then assemble unlocked.
        let (bodies, digests) = {
            let state = self.state();
            let u = state
                .uploads
                .get(&input.upload_id)
                .filter(|u| u.bucket == input.bucket && u.key == input.key)
                .ok_or_else(|| s3_error!(NoSuchUpload))?;
            let mut bodies = Vec::with_capacity(wanted.len());
            let mut digests = Vec::with_capacity(wanted.len() * 16);
            let mut previous = 0;
            for (i, w) in wanted.iter().enumerate() {
                let n = w
                    .part_number
                    .ok_or_else(|| s3_error!(MalformedXML, "a part without a number"))?;
                if n <= previous {
                    return Err(s3_error!(
                        InvalidPartOrder,
                        "The list of parts was not in ascending order."
                    ));
                }
                previous = n;
                let invalid = || {
                    s3_error!(
                        InvalidPart,
                        "One or more of the specified parts could not be found."
                    )
                };
                let p = u.parts.get(&n).ok_or_else(invalid)?;
                if w.e_tag.as_ref().is_some_and(|e| e.value() != hex(&p.md5)) {
                    return Err(invalid());
                }
                if i + 1 < wanted.len() && p.body.len() < MIN_PART {
                    return Err(s3_error!(
                        EntityTooSmall,
                        "Your proposed upload is smaller than the minimum allowed object size."
                    ));
                }
                bodies.push(p.body.clone());
                digests.extend_from_slice(&p.md5);
            }
            (bodies, digests)
        };
        let mut body = BytesMut::with_capacity(bodies.iter().map(Bytes::len).sum());
        for b in &bodies {
            body.extend_from_slice(b);
        }
        drop(bodies);
        let etag = format!("{}-{}", hex(&md5(&digests)), wanted.len());
        let mut state = self.state();
        let upload = state
            .uploads
            .get(&input.upload_id)
            .ok_or_else(|| s3_error!(NoSuchUpload))?;
        let object = StoredObject {
            body: body.freeze(),
            metadata: upload.metadata.clone(),
            content_type: upload.content_type.clone(),
            last_modified: now(),
            etag: etag.clone(),
        };
        let b = state
            .buckets
            .get_mut(&input.bucket)
            .ok_or_else(|| s3_error!(NoSuchBucket))?;
        check_write(
            b.objects.get(&input.key),
            input.if_match.as_ref(),
            input.if_none_match.as_ref(),
        )?;
        b.objects.insert(input.key.clone(), object);
        state.uploads.remove(&input.upload_id);
        Ok(S3Response::new(CompleteMultipartUploadOutput {
            bucket: Some(input.bucket.clone()),
            key: Some(input.key.clone()),
            location: Some(format!("/{}/{}", input.bucket, url_encode(&input.key))),
            e_tag: Some(ETag::Strong(etag)),
            ..Default::default()
        }))
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        let input = req.input;
        let mut state = self.state();
        let known = state
            .uploads
            .get(&input.upload_id)
            .is_some_and(|u| u.bucket == input.bucket && u.key == input.key);
        if !known {
            return Err(s3_error!(NoSuchUpload));
        }
        state.uploads.remove(&input.upload_id);
        Ok(S3Response::new(AbortMultipartUploadOutput::default()))
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
