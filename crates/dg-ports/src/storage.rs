//! The object-storage port: S3-shaped buckets of keyed objects with user metadata.

use std::collections::BTreeMap;
use std::fmt::{self, Debug, Display};
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;

use crate::{BlobRef, Error, Result};

/// Where an object lives: a bucket and a key inside it.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Location {
    /// Bucket name.
    pub bucket: String,
    /// Object key, `/`-separated, no leading `/`.
    pub key: String,
}

impl Location {
    /// A location from its parts.
    pub fn new(bucket: impl Into<String>, key: impl Into<String>) -> Self {
        Location {
            bucket: bucket.into(),
            key: key.into(),
        }
    }

    /// Another key in the same bucket.
    pub fn with_key(&self, key: impl Into<String>) -> Self {
        Location {
            bucket: self.bucket.clone(),
            key: key.into(),
        }
    }
}

impl Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.key)
    }
}

impl Debug for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Display::fmt(self, f)
    }
}

/// User metadata of an object (`x-amz-meta-*` on S3), keys in lower case.
pub type Metadata = BTreeMap<String, String>;

/// What storage knows about one object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectInfo {
    /// Where it is.
    pub location: Location,
    /// Stored size in bytes.
    pub size: u64,
    /// Last modification time, when the backend reports one.
    pub last_modified: Option<SystemTime>,
    /// Entity tag, when the backend reports one.
    pub etag: Option<String>,
    /// User metadata. Empty in listings (S3 does not return it there); filled by `head`/`get`.
    pub metadata: Metadata,
}

/// How a put treats an existing object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum PutMode {
    /// Replace whatever is there.
    #[default]
    Overwrite,
    /// Write only if no object exists at the key (`If-None-Match: *`); otherwise fail with
    /// [`Error::AlreadyExists`] and leave the existing object untouched.
    Create,
}

/// Options of a put.
#[derive(Clone, Debug, Default)]
pub struct PutOptions {
    /// User metadata stored with the object.
    pub metadata: Metadata,
    /// Overwrite or create-only.
    pub mode: PutMode,
}

/// A request for one page of a listing.
#[derive(Clone, Debug, Default)]
pub struct ListRequest {
    /// Bucket to list.
    pub bucket: String,
    /// Only keys starting with this prefix.
    pub prefix: String,
    /// Group keys by the first occurrence of this string after the prefix (usually `/`).
    pub delimiter: Option<String>,
    /// Start after this key (exclusive): the `next` token of the previous page.
    pub start_after: Option<String>,
    /// Most keys and common prefixes to return; 0 means the backend default (1000).
    pub max_keys: usize,
}

/// One page of a listing, in ascending key order.
#[derive(Clone, Debug, Default)]
pub struct ListPage {
    /// Objects on this page (metadata empty).
    pub objects: Vec<ObjectInfo>,
    /// Common prefixes when a delimiter was given, each ending with the delimiter.
    pub common_prefixes: Vec<String>,
    /// Pass as `start_after` to get the next page; `None` on the last page.
    pub next: Option<String>,
}

/// A stream of body chunks.
pub type ByteStream = BoxStream<'static, Result<Bytes>>;

/// The result of a get: what the object is and its body.
pub struct GetResult {
    /// Size, metadata and so on.
    pub info: ObjectInfo,
    /// The body, streamed. It yields exactly `info.size` bytes or ends with an error.
    pub body: ByteStream,
}

impl Debug for GetResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GetResult")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

/// S3-shaped object storage.
///
/// # Contract (checked by the storage conformance suite in `dg-adapters`)
/// - `put` is atomic: readers see the old object or the whole new one with its metadata,
///   never a part. A failed put leaves no object behind.
/// - `put` with [`PutMode::Create`] fails with [`Error::AlreadyExists`] when the key exists,
///   and of two racing creates exactly one succeeds.
/// - `head` and `get` return the user metadata given at put time, keys in lower case.
/// - A missing object is [`Error::NotFound`] on `head`, `get` and as the source of `copy`;
///   `delete` of a missing object succeeds.
/// - `list` returns keys in ascending byte order, honours prefix, delimiter, `start_after`
///   and `max_keys`, and pages through any number of keys.
/// - `copy` copies body and metadata.
#[async_trait]
pub trait ObjectStorage: Send + Sync + Debug + 'static {
    /// Size and metadata of one object.
    async fn head(&self, location: &Location) -> Result<ObjectInfo>;

    /// The object's metadata and streamed body.
    async fn get(&self, location: &Location) -> Result<GetResult>;

    /// The object's metadata and its body from byte `offset` on: `info` describes the whole
    /// object (its full `size`), the body yields the `info.size - offset` bytes that follow.
    /// Used to resume a body cut off mid-stream; callers check that `info.etag` is the one
    /// they started with. An `offset` past the end is [`Error::InvalidInput`].
    ///
    /// The default reads the whole object and drops the first `offset` bytes; S3 asks for a
    /// range instead.
    async fn get_from(&self, location: &Location, offset: u64) -> Result<GetResult> {
        let got = self.get(location).await?;
        if offset > got.info.size {
            return Err(Error::InvalidInput(format!(
                "{location}: offset {offset} is past the end ({} bytes)",
                got.info.size
            )));
        }
        Ok(GetResult {
            info: got.info,
            body: skip_bytes(got.body, offset),
        })
    }

    /// Stores `body` with `options.metadata` at `location`.
    async fn put(&self, location: &Location, body: BlobRef, options: PutOptions) -> Result<()>;

    /// One page of keys.
    async fn list(&self, request: &ListRequest) -> Result<ListPage>;

    /// Removes one object; succeeds when it does not exist.
    async fn delete(&self, location: &Location) -> Result<()>;

    /// Copies one object, body and metadata, within or across buckets of this storage.
    async fn copy(&self, from: &Location, to: &Location) -> Result<()>;
}

/// `body` without its first `skip` bytes.
fn skip_bytes(body: ByteStream, skip: u64) -> ByteStream {
    if skip == 0 {
        return body;
    }
    body.scan(skip, |left, chunk| {
        let out = match chunk {
            Ok(bytes) if *left >= bytes.len() as u64 => {
                *left -= bytes.len() as u64;
                Ok(Bytes::new())
            }
            Ok(bytes) => {
                let from = *left as usize;
                *left = 0;
                Ok(bytes.slice(from..))
            }
            Err(e) => Err(e),
        };
        futures::future::ready(Some(out))
    })
    .filter(|chunk| futures::future::ready(!matches!(chunk, Ok(b) if b.is_empty())))
    .boxed()
}

/// Conveniences over [`ObjectStorage`], available on every implementation.
#[async_trait]
pub trait ObjectStorageExt: ObjectStorage {
    /// `head`, with `NotFound` turned into `None`.
    async fn head_opt(&self, location: &Location) -> Result<Option<ObjectInfo>> {
        match self.head(location).await {
            Ok(info) => Ok(Some(info)),
            Err(Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every object under `prefix` (no delimiter), all pages.
    async fn list_all(&self, bucket: &str, prefix: &str) -> Result<Vec<ObjectInfo>> {
        let mut out = Vec::new();
        let mut request = ListRequest {
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
            ..ListRequest::default()
        };
        loop {
            let page = self.list(&request).await?;
            out.extend(page.objects);
            match page.next {
                Some(next) => request.start_after = Some(next),
                None => return Ok(out),
            }
        }
    }
}

impl<T: ObjectStorage + ?Sized> ObjectStorageExt for T {}

#[async_trait]
impl<T: ObjectStorage + ?Sized> ObjectStorage for std::sync::Arc<T> {
    async fn head(&self, location: &Location) -> Result<ObjectInfo> {
        (**self).head(location).await
    }
    async fn get(&self, location: &Location) -> Result<GetResult> {
        (**self).get(location).await
    }
    async fn get_from(&self, location: &Location, offset: u64) -> Result<GetResult> {
        (**self).get_from(location, offset).await
    }
    async fn put(&self, location: &Location, body: BlobRef, options: PutOptions) -> Result<()> {
        (**self).put(location, body, options).await
    }
    async fn list(&self, request: &ListRequest) -> Result<ListPage> {
        (**self).list(request).await
    }
    async fn delete(&self, location: &Location) -> Result<()> {
        (**self).delete(location).await
    }
    async fn copy(&self, from: &Location, to: &Location) -> Result<()> {
        (**self).copy(from, to).await
    }
}

/// A bucket as listed by [`Buckets::list_buckets`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BucketInfo {
    /// Bucket name.
    pub name: String,
    /// Creation time, when the backend reports one.
    pub created: Option<SystemTime>,
}

/// Bucket administration: the few calls `dg ls`, `dg mb` and `dg rb` need.
///
/// # Contract
/// - `create_bucket` of an existing bucket fails with [`Error::AlreadyExists`].
/// - `delete_bucket` of a bucket that still holds objects fails with [`Error::Precondition`];
///   of a missing bucket with [`Error::NotFound`].
#[async_trait]
pub trait Buckets: Send + Sync + Debug + 'static {
    /// All buckets, sorted by name.
    async fn list_buckets(&self) -> Result<Vec<BucketInfo>>;
    /// Creates an empty bucket.
    async fn create_bucket(&self, name: &str) -> Result<()>;
    /// Removes an empty bucket.
    async fn delete_bucket(&self, name: &str) -> Result<()>;
}
