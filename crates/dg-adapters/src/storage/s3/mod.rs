//! S3 and S3-compatible stores (AWS, MinIO, R2, Hetzner, B2, Ceph…): any key S3 allows, with
//! user metadata, create-if-absent writes, multipart uploads and streamed reads.
//!
//! - Which way a request goes: a key that `object_store`'s `Path::parse` gives back unchanged
//!   (the usual `dir/file.zip`) goes through `object_store`'s AWS backend. Every other key —
//!   empty segments (`a//b`), `.`/`..` segments, ASCII control characters, and a leading or
//!   trailing `/` (which `Path::parse` would silently strip, addressing another object) — is
//!   never handed to `object_store`: [`objects`] sends its head, get, put (single and
//!   multipart), delete and copy as signed requests of our own, through [`raw`], path encoded
//!   byte for byte. A copy goes our way when either key does. An empty key is refused.
//! - Every listing is `ListObjectsV2` of our own ([`list`]), keys URL-encoded by the store, so
//!   no key, however odd, breaks or renames a listing.
//! - Metadata travels as `x-amz-meta-*` headers; through `object_store` it is read with a `GET`
//!   in head mode, because a plain `HEAD` there drops it.
//! - [`PutMode::Create`] sends `If-None-Match: *`: of racing writers exactly one wins on stores
//!   that honour it (AWS since 2024, MinIO, R2, Ceph, moto). Where a store ignores the header,
//!   the loser's reference silently replaces the winner's; dg then detects the mismatch
//!   through `dg-ref-sha256` on every download (never wrong bytes), and `dg verify` names the
//!   affected deltas.
//! - Bodies up to [`S3Config::multipart_threshold`] go in one `PUT` straight from the memory-
//!   mapped file; larger ones as a multipart upload of [`S3Config::part_size`] parts read from
//!   disk, so memory stays at a few parts. No request checksum headers are sent (Hetzner and B2
//!   reject some of them).
//! - Bucket administration (`ListBuckets`, `CreateBucket`, `DeleteBucket`) is signed with
//!   `aws-sigv4` and sent with `reqwest`: see [`buckets`].
//! - Retries: `object_store`'s own are off. Transient failures (5xx but 501, 408, 429,
//!   `SlowDown`/`InternalError` codes, connection errors, timeouts, cut-off bodies) come out
//!   as retryable errors, whichever way the request went, for a
//!   [`RetryingStorage`](super::RetryingStorage) around this store to repeat; only the parts
//!   of a multipart upload are repeated here, each on its own, on the schedule of
//!   [`S3Storage::backoff`], so one failed part does not resend the others.

mod buckets;
mod config;
mod errors;
mod header_values;
mod list;
mod objects;
mod raw;
mod xml;

use std::collections::HashMap;
use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use dg_ports::{
    BlobRef, Error, GetResult, ListPage, ListRequest, Location, Metadata, ObjectInfo,
    ObjectStorage, PutMode, PutOptions, Result,
};
use futures::{StreamExt, TryStreamExt};
use object_store::aws::AmazonS3;
use object_store::path::Path;
use object_store::retry::{RetryContext, RetryFailure};
use object_store::{
    Attribute, AttributeValue, Attributes, GetOptions, GetRange, ObjectStore, ObjectStoreExt,
    PutMultipartOptions, PutPayload,
};

pub use config::{S3Config, S3Credentials};
use errors::{map_error, transient_status, transient_transport};

use super::backoff::{Backoff, RetryCounter};
use super::retry::RetryPolicy;

/// Buckets of an S3-compatible service.
#[derive(Debug)]
pub struct S3Storage {
    config: S3Config,
    clients: Mutex<HashMap<String, Arc<AmazonS3>>>,
    http: reqwest::Client,
    /// For the paths `reqwest` would rewrite (`.`/`..` segments); built when first needed.
    hyper: tokio::sync::OnceCell<raw::Hyper>,
    backoff: Backoff,
}

/// Repeats a failed part of one multipart upload on the store's schedule.
#[derive(Debug)]
struct PartRetries {
    backoff: Backoff,
    what: String,
}

#[async_trait]
impl object_store::retry::RetryPolicy for PartRetries {
    async fn retry(&self, context: RetryContext) -> bool {
        let transient = match context.failure {
            // a 200 here carries an error code in its body (S3 does that)
            RetryFailure::Status(status) => {
                status.is_success() || transient_status(status.as_u16())
            }
            RetryFailure::Transport(kind) => transient_transport(kind),
            _ => false,
        };
        if !transient {
            return false;
        }
        let failed = u32::try_from(context.attempt).unwrap_or(u32::MAX);
        let Some(delay) = self.backoff.next_delay(failed, context.elapsed) else {
            return false;
        };
        let why = format!("{:?}", context.failure);
        self.backoff
            .wait(delay, failed, "put (part)", &self.what, &why)
            .await;
        true
    }
}

/// A part that failed after its own retries: repeating the whole upload would multiply them.
fn settled(e: Error) -> Error {
    match e {
        Error::Backend {
            backend,
            context,
            source,
            ..
        } => Error::Backend {
            backend,
            context: format!("{context} (a part of the multipart upload failed)"),
            retryable: false,
            source,
        },
        other => other,
    }
}

fn get_result(location: &Location, got: object_store::GetResult) -> GetResult {
    let info = info(location.clone(), &got.meta, metadata_of(&got.attributes));
    let what = location.to_string();
    let body = got
        .into_stream()
        .map_err(move |e| map_error(e, &what))
        .boxed();
    GetResult { info, body }
}

/// The `object_store` path of `location` when it addresses exactly its key; `None` for keys
/// only our own requests address exactly. An empty key is refused.
fn exact_path(location: &Location) -> Result<Option<Path>> {
    if location.key.is_empty() {
        return Err(Error::InvalidInput(format!(
            "{location}: an S3 object key cannot be empty"
        )));
    }
    Ok(Path::parse(&location.key)
        .ok()
        .filter(|p| p.as_ref() == location.key))
}

fn metadata_of(attributes: &Attributes) -> Metadata {
    attributes
        .iter()
        .filter_map(|(k, v)| match k {
            Attribute::Metadata(name) => {
                Some((name.to_ascii_lowercase(), header_values::decode(v.as_ref())))
            }
            _ => None,
        })
        .collect()
}

fn attributes_of(metadata: &Metadata) -> Attributes {
    let mut attributes = Attributes::new();
    for (k, v) in metadata {
        attributes.insert(
            Attribute::Metadata(k.to_ascii_lowercase().into()),
            AttributeValue::from(header_values::encode(v).into_owned()),
        );
    }
    attributes
}

fn info(location: Location, meta: &object_store::ObjectMeta, metadata: Metadata) -> ObjectInfo {
    ObjectInfo {
        location,
        size: meta.size,
        last_modified: Some(SystemTime::from(meta.last_modified)),
        etag: meta.e_tag.clone(),
        metadata,
    }
}

impl S3Storage {
    /// A storage for the service described by `config`.
    pub fn new(config: S3Config) -> Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            // a redirect would carry a signature for another host: S3's 301 is an error
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Error::Backend {
                backend: "s3",
                context: "building an HTTP client".into(),
                retryable: false,
                source: Some(Box::new(e)),
            })?;
        let attempts = u32::try_from(config.max_attempts).unwrap_or(u32::MAX);
        Ok(S3Storage {
            backoff: Backoff::new(RetryPolicy::attempts(attempts), RetryCounter::new()),
            config,
            clients: Mutex::new(HashMap::new()),
            http,
            hyper: tokio::sync::OnceCell::new(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &S3Config {
        &self.config
    }

    /// The retry schedule of multipart parts: [`S3Config::max_attempts`] attempts. Give it to
    /// the [`RetryingStorage`](super::RetryingStorage) around this store so that all retries
    /// follow one policy and land in one counter.
    pub fn backoff(&self) -> &Backoff {
        &self.backoff
    }

    fn client(&self, bucket: &str) -> Result<Arc<AmazonS3>> {
        let mut clients = self.clients.lock().map_err(|_| Error::Io {
            context: "S3 client cache lock poisoned".into(),
            source: std::io::Error::other("poisoned"),
        })?;
        if let Some(c) = clients.get(bucket) {
            return Ok(c.clone());
        }
        let built = Arc::new(
            self.config
                .builder(bucket)
                .build()
                .map_err(|e| map_error(e, &format!("bucket {bucket}")))?,
        );
        clients.insert(bucket.to_string(), built.clone());
        Ok(built)
    }

    async fn put_small(
        &self,
        location: &Location,
        path: &Path,
        body: &BlobRef,
        options: PutOptions,
    ) -> Result<()> {
        let client = self.client(&location.bucket)?;
        let mapped = body.map()?;
        let payload = PutPayload::from(Bytes::from_owner(mapped));
        let opts = object_store::PutOptions {
            mode: match options.mode {
                PutMode::Overwrite => object_store::PutMode::Overwrite,
                PutMode::Create => object_store::PutMode::Create,
            },
            attributes: attributes_of(&options.metadata),
            ..Default::default()
        };
        client
            .put_opts(path, payload, opts)
            .await
            .map(|_| ())
            .map_err(|e| map_error(e, &location.to_string()))
    }

    async fn put_multipart(
        &self,
        location: &Location,
        path: &Path,
        body: &BlobRef,
        options: PutOptions,
    ) -> Result<()> {
        let client = self.client(&location.bucket)?;
        let what = location.to_string();
        let opts = PutMultipartOptions {
            attributes: attributes_of(&options.metadata),
            ..Default::default()
        }
        .with_retry_policy(Arc::new(PartRetries {
            backoff: self.backoff.clone(),
            what: what.clone(),
        }));
        let mut upload = client
            .put_multipart_opts(path, opts)
            .await
            .map_err(|e| map_error(e, &what))?;
        let part_size = self.config.part_size.max(5 << 20);
        let mut reader = body.reader()?;
        let mut pending = futures::stream::FuturesOrdered::new();
        let result: Result<()> = async {
            loop {
                let mut buf = Vec::with_capacity(part_size);
                (&mut reader)
                    .take(part_size as u64)
                    .read_to_end(&mut buf)
                    .map_err(|e| Error::io(format!("reading the upload of {what}"), e))?;
                if buf.is_empty() {
                    break;
                }
                pending.push_back(upload.put_part(PutPayload::from(buf)));
                // At most `upload_concurrency` parts in memory and in flight.
                while pending.len() >= self.config.upload_concurrency.max(1) {
                    if let Some(r) = pending.next().await {
                        r.map_err(|e| settled(map_error(e, &what)))?;
                    }
                }
            }
            while let Some(r) = pending.next().await {
                r.map_err(|e| settled(map_error(e, &what)))?;
            }
            Ok(())
        }
        .await;
        if let Err(e) = result {
            // Never leave parts behind (they cost money and are invisible in listings).
            let _ = upload.abort().await;
            return Err(e);
        }
        match upload.complete().await {
            Ok(_) => Ok(()),
            Err(e) => {
                // Completed or not, no parts stay behind (abort after completion is a no-op).
                let _ = upload.abort().await;
                Err(map_error(e, &what))
            }
        }
    }
}

#[async_trait]
impl ObjectStorage for S3Storage {
    async fn head(&self, location: &Location) -> Result<ObjectInfo> {
        let Some(path) = exact_path(location)? else {
            return self.raw_head(location).await;
        };
        let client = self.client(&location.bucket)?;
        let opts = GetOptions {
            head: true,
            ..Default::default()
        };
        let got = client
            .get_opts(&path, opts)
            .await
            .map_err(|e| map_error(e, &location.to_string()))?;
        Ok(info(
            location.clone(),
            &got.meta,
            metadata_of(&got.attributes),
        ))
    }

    async fn get(&self, location: &Location) -> Result<GetResult> {
        let Some(path) = exact_path(location)? else {
            return self.raw_get(location, 0).await;
        };
        let client = self.client(&location.bucket)?;
        let got = client
            .get_opts(&path, GetOptions::default())
            .await
            .map_err(|e| map_error(e, &location.to_string()))?;
        Ok(get_result(location, got))
    }

    async fn get_from(&self, location: &Location, offset: u64) -> Result<GetResult> {
        if offset == 0 {
            return self.get(location).await;
        }
        let Some(path) = exact_path(location)? else {
            return self.raw_get(location, offset).await;
        };
        let client = self.client(&location.bucket)?;
        let opts = GetOptions {
            range: Some(GetRange::Offset(offset)),
            ..Default::default()
        };
        let error = match client.get_opts(&path, opts).await {
            Ok(got) => return Ok(get_result(location, got)),
            Err(e) => map_error(e, &location.to_string()),
        };
        if error.is_retryable() || error.is_not_found() {
            return Err(error);
        }
        // A range starting at the end is refused (416): the end is answered from a head.
        let info = self.head(location).await?;
        match offset.cmp(&info.size) {
            std::cmp::Ordering::Equal => Ok(GetResult {
                info,
                body: futures::stream::empty().boxed(),
            }),
            std::cmp::Ordering::Greater => Err(Error::InvalidInput(format!(
                "{location}: offset {offset} is past the end ({} bytes)",
                info.size
            ))),
            std::cmp::Ordering::Less => Err(error),
        }
    }

    async fn put(&self, location: &Location, body: BlobRef, options: PutOptions) -> Result<()> {
        let Some(path) = exact_path(location)? else {
            return self.raw_put(location, &body, options).await;
        };
        // Create-only writes always go in one request: `If-None-Match` on a single PUT is
        // honoured by every store that honours it at all.
        if body.len() <= self.config.multipart_threshold || options.mode == PutMode::Create {
            self.put_small(location, &path, &body, options).await
        } else {
            self.put_multipart(location, &path, &body, options).await
        }
    }

    async fn list(&self, request: &ListRequest) -> Result<ListPage> {
        self.list_page(request).await
    }

    async fn delete(&self, location: &Location) -> Result<()> {
        let Some(path) = exact_path(location)? else {
            return self.raw_delete(location).await;
        };
        let client = self.client(&location.bucket)?;
        match client.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(map_error(e, &location.to_string())),
        }
    }

    async fn copy(&self, from: &Location, to: &Location) -> Result<()> {
        if from.bucket != to.bucket {
            return Err(Error::Unsupported {
                what: format!("copying between buckets ({from} to {to})"),
            });
        }
        match (exact_path(from)?, exact_path(to)?) {
            (Some(source), Some(target)) => self
                .client(&from.bucket)?
                .copy(&source, &target)
                .await
                .map_err(|e| map_error(e, &from.to_string())),
            _ => self.raw_copy(from, to).await,
        }
    }
}
