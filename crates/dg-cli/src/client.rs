//! [`Client`]: dg's operations for applications, a thin layer over [`DeltaGlider`].

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};

use dg_adapters::cache::CacheCounts;
use dg_adapters::storage::RetryCounter;
use dg_adapters::{DestinationFile, FileBlob};
use dg_core::keys::file_name;
use dg_core::meta::{self, field};
use dg_core::{Checked, DeleteOutcome, DeltaGlider, ListQuery, PutRequest, VerifyReport};
use dg_ports::{
    BlobRef, BucketInfo, Buckets, BytesBlob, Error, Location, ObjectInfo, Result, StagedBlob,
    Staging,
};

use crate::cache::CacheSetup;
use crate::objects::{
    Body, DeleteObjectsOutput, DownloadSummary, ListObjects, Object, ObjectHead, ObjectList,
    UploadSummary,
};
use crate::url::{upload_location, Target};

/// A dg store: upload files as deltas, download them rebuilt and checked, list, delete, verify.
///
/// Cheap to clone (clones share the storage, cache and staging). Build one with
/// [`Client::builder`] or [`Client::from_env`]; see the crate docs for an example.
#[derive(Clone, Debug)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    dg: DeltaGlider,
    buckets: Arc<dyn Buckets>,
    staging: Arc<dyn Staging>,
    put: PutRequest,
    /// Keeps a private cache directory until the last clone is dropped.
    cache: CacheSetup,
    counters: Counters,
}

/// The live counters of a client and its clones.
#[derive(Clone, Debug, Default)]
pub(crate) struct Counters {
    /// Retries of storage calls so far.
    pub(crate) retries: RetryCounter,
    /// Hits and misses of the reference cache.
    pub(crate) cache: CacheCounts,
}

impl Client {
    pub(crate) fn new(
        dg: DeltaGlider,
        buckets: Arc<dyn Buckets>,
        staging: Arc<dyn Staging>,
        put: PutRequest,
        cache: CacheSetup,
        counters: Counters,
    ) -> Self {
        Client {
            inner: Arc::new(Inner {
                dg,
                buckets,
                staging,
                put,
                cache,
                counters,
            }),
        }
    }

    /// The domain service behind this client (the library's way in; callers use the client).
    pub(crate) fn service(&self) -> &DeltaGlider {
        &self.inner.dg
    }

    /// Bucket administration of the storage.
    pub(crate) fn buckets(&self) -> &Arc<dyn Buckets> {
        &self.inner.buckets
    }

    /// Where blobs are staged.
    pub fn staging(&self) -> &Arc<dyn Staging> {
        &self.inner.staging
    }

    /// The upload options every upload starts from.
    pub fn put_defaults(&self) -> &PutRequest {
        &self.inner.put
    }

    /// Storage calls repeated after a transient error (throttling, 5xx, a dropped connection)
    /// since the client was built, by it and its clones.
    pub fn retries(&self) -> u64 {
        self.inner.counters.retries.get()
    }

    /// The live counter behind [`Client::retries`].
    pub fn retry_counter(&self) -> RetryCounter {
        self.inner.counters.retries.clone()
    }

    /// Hits and misses of the reference cache (on disk or in memory) since the client was
    /// built, by it and its clones. References already at hand in this process are not
    /// looked up there, so they count as neither.
    pub fn cache_counts(&self) -> CacheCounts {
        self.inner.counters.cache.clone()
    }

    /// The reference cache, in words.
    pub fn cache_description(&self) -> &str {
        &self.inner.cache.description
    }

    /// Creates a bucket.
    pub async fn create_bucket(&self, name: &str) -> Result<()> {
        self.inner.buckets.create_bucket(name).await
    }

    /// Every bucket, sorted by name.
    pub async fn list_buckets(&self) -> Result<Vec<BucketInfo>> {
        self.inner.buckets.list_buckets().await
    }

    /// Stores `body` as `key`: a delta against the deltaspace's reference when the file is
    /// delta-eligible and the delta is small enough, else whole.
    pub async fn put_object(
        &self,
        bucket: &str,
        key: &str,
        body: impl Into<Body>,
    ) -> Result<UploadSummary> {
        self.put_object_with(bucket, key, body, &self.inner.put)
            .await
    }

    /// [`Client::put_object`] with other upload options.
    pub async fn put_object_with(
        &self,
        bucket: &str,
        key: &str,
        body: impl Into<Body>,
        options: &PutRequest,
    ) -> Result<UploadSummary> {
        let blob = body.into().into_blob(&self.inner.staging).await?;
        let outcome = self.put(blob, &Location::new(bucket, key), options).await?;
        Ok(UploadSummary::new(key, outcome))
    }

    /// Uploads a local file to `url`: `s3://BUCKET/KEY`, or `s3://BUCKET/PREFIX/` to keep the
    /// file's name.
    pub async fn upload(&self, path: impl AsRef<Path>, url: &str) -> Result<UploadSummary> {
        let path = path.as_ref();
        let (bucket, key) = s3_url(url)?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| Error::InvalidInput(format!("{} has no file name", path.display())))?;
        let location = upload_location(&bucket, &key, &name);
        let blob = FileBlob::open(path)?;
        let outcome = self.put(blob, &location, &self.inner.put).await?;
        Ok(UploadSummary::new(&location.key, outcome))
    }

    /// Downloads the file at `url` (`s3://BUCKET/KEY`) to `path` (into it, when it is a
    /// directory or ends with `/`; parents are created). The file appears only after its
    /// SHA-256 matched; on error nothing is left.
    pub async fn download(&self, url: &str, path: impl AsRef<Path>) -> Result<DownloadSummary> {
        let (bucket, key) = s3_url(url)?;
        if key.is_empty() || key.ends_with('/') {
            return Err(Error::InvalidInput(format!(
                "{url} is a prefix; name a file to download"
            )));
        }
        let path = path.as_ref();
        let path = if path.is_dir() || path.as_os_str().to_string_lossy().ends_with('/') {
            path.join(file_name(&key))
        } else {
            path.to_path_buf()
        };
        let out = Box::new(DestinationFile::create(&path)?);
        let got = self.get(&Location::new(bucket, key), out).await?;
        Ok(DownloadSummary::new(path, got))
    }

    /// The file at `key`, rebuilt and checked against its SHA-256, staged in a temp file (or
    /// memory) that [`Object::reader`] streams.
    pub async fn get_object(&self, bucket: &str, key: &str) -> Result<Object> {
        let got = self.get_staged(&Location::new(bucket, key)).await?;
        Ok(Object::new(key, got))
    }

    /// Streams the file at `key` into `out` as it is rebuilt, without a temp copy, and returns
    /// `out` once the whole content matched its SHA-256. On an error the bytes already written
    /// must be discarded: only `Ok` says they are the file.
    pub async fn get_object_to<W: Write + Send + 'static>(
        &self,
        bucket: &str,
        key: &str,
        out: W,
    ) -> Result<(ObjectHead, W)> {
        let slot = Arc::new(Mutex::new(None));
        let sink = Box::new(WriterSink {
            out,
            slot: slot.clone(),
        });
        let got = self.get(&Location::new(bucket, key), sink).await?;
        let out =
            slot.lock().ok().and_then(|mut s| s.take()).ok_or_else(|| {
                Error::invalid(format!("s3://{bucket}/{key}"), "output not finished")
            })?;
        let head = ObjectHead::from_outcome(key, &got);
        Ok((head, out))
    }

    /// Size, checksum and metadata of the file at `key` (its whole object or its `.delta`).
    pub async fn head_object(&self, bucket: &str, key: &str) -> Result<ObjectHead> {
        let info = self.inner.dg.head_file(&Location::new(bucket, key)).await?;
        head_of(key, info)
    }

    /// One page of files, as [`ListObjects`] asks: references and dg's own objects hidden,
    /// deltas shown under their file's name.
    pub async fn list_objects(&self, request: &ListObjects) -> Result<ObjectList> {
        let page = self
            .list(&ListQuery {
                bucket: request.bucket.clone(),
                prefix: request.prefix.clone(),
                delimiter: request.delimiter.clone(),
                start_after: request.continuation_token.clone(),
                max_keys: request.max_keys,
                original_sizes: request.original_sizes,
                metadata: false,
            })
            .await?;
        Ok(ObjectList {
            objects: page.entries,
            common_prefixes: page.common_prefixes,
            next_continuation_token: page.next,
        })
    }

    /// Deletes the file at `key`; the last delta of a deltaspace takes its reference with it.
    pub async fn delete_object(&self, bucket: &str, key: &str) -> Result<DeleteOutcome> {
        self.delete(&Location::new(bucket, key), false).await
    }

    /// Deletes several files, one after the other (so the last delete of a deltaspace sees the
    /// others gone and removes the reference). Failures are collected, not fatal.
    pub async fn delete_objects<I, K>(&self, bucket: &str, keys: I) -> DeleteObjectsOutput
    where
        I: IntoIterator<Item = K>,
        K: AsRef<str>,
    {
        let mut output = DeleteObjectsOutput::default();
        for key in keys {
            let key = key.as_ref();
            match self.delete_object(bucket, key).await {
                Ok(outcome) => output.deleted.push(outcome),
                Err(e) => output.errors.push((key.to_string(), e)),
            }
        }
        output
    }

    /// Rebuilds every object under `prefix` and checks its SHA-256, a few at a time.
    pub async fn verify(&self, bucket: &str, prefix: &str) -> Result<VerifyReport> {
        let jobs = std::thread::available_parallelism().map_or(4, |n| n.get().min(16));
        self.verify_with(bucket, prefix, jobs, &|_| {}).await
    }

    /// [`Client::verify`] with `jobs` objects at once, `on_checked` seeing each result as it
    /// comes.
    pub async fn verify_with(
        &self,
        bucket: &str,
        prefix: &str,
        jobs: usize,
        on_checked: &(dyn Fn(&Checked) + Send + Sync),
    ) -> Result<VerifyReport> {
        self.inner.dg.verify(bucket, prefix, jobs, on_checked).await
    }
}

/// `s3://BUCKET/KEY` as its parts.
fn s3_url(url: &str) -> Result<(String, String)> {
    match Target::parse(url)? {
        Target::S3 { bucket, key } => Ok((bucket, key)),
        Target::Local(_) => Err(Error::InvalidInput(format!(
            "`{url}` is not an s3://BUCKET/KEY URL"
        ))),
    }
}

/// What the stored object's metadata says about the file `key`.
fn head_of(key: &str, info: ObjectInfo) -> Result<ObjectHead> {
    let stored_key = info.location.key.clone();
    let size = meta::get_u64(&info.metadata, field::FILE_SIZE, &stored_key)?.unwrap_or(info.size);
    let is_delta = matches!(
        meta::classify(&stored_key, &info.metadata)?,
        meta::ObjectKind::Delta(_)
    );
    Ok(ObjectHead {
        key: key.to_string(),
        is_delta,
        stored_key,
        size,
        stored_size: info.size,
        sha256: meta::get(&info.metadata, field::FILE_SHA256).map(str::to_string),
        last_modified: info.last_modified,
        etag: info.etag,
        metadata: info.metadata,
    })
}

/// Hands a caller's writer to the domain as a download output, and back once it is verified.
struct WriterSink<W> {
    out: W,
    slot: Arc<Mutex<Option<W>>>,
}

impl<W: Write> Write for WriterSink<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.out.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

impl<W: Write + Send> StagedBlob for WriterSink<W> {
    fn finish(self: Box<Self>) -> Result<BlobRef> {
        let WriterSink { mut out, slot } = *self;
        out.flush()
            .map_err(|e| Error::io("flushing the download output", e))?;
        if let Ok(mut s) = slot.lock() {
            *s = Some(out);
        }
        Ok(BytesBlob::shared(bytes::Bytes::new()))
    }
}
