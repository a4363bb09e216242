//! What the [`Client`](crate::Client) takes and returns: bodies, summaries, listings.

use std::fmt;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use dg_adapters::FileBlob;
use dg_core::{GetOutcome, PutOutcome, Served, Stored};
use dg_ports::{BlobRef, BytesBlob, Error, Metadata, Result, Staging};

/// The content of an upload: bytes, a local file, a blob, or a reader (staged first, since a
/// delta needs the whole file).
pub struct Body(Source);

enum Source {
    Blob(BlobRef),
    File(PathBuf),
    Reader(Box<dyn Read + Send>),
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Source::Blob(b) => write!(f, "Body::Blob({} bytes)", b.len()),
            Source::File(p) => write!(f, "Body::File({})", p.display()),
            Source::Reader(_) => f.write_str("Body::Reader"),
        }
    }
}

impl Body {
    /// The content of a local file (read when the upload starts).
    pub fn from_file(path: impl Into<PathBuf>) -> Self {
        Body(Source::File(path.into()))
    }

    /// Everything `reader` yields.
    pub fn from_reader(reader: impl Read + Send + 'static) -> Self {
        Body(Source::Reader(Box::new(reader)))
    }

    /// The body as a blob, staging a reader's bytes.
    pub(crate) async fn into_blob(self, staging: &Arc<dyn Staging>) -> Result<BlobRef> {
        match self.0 {
            Source::Blob(b) => Ok(b),
            Source::File(p) => FileBlob::open(p),
            Source::Reader(mut reader) => {
                let staging = staging.clone();
                tokio::task::spawn_blocking(move || {
                    let mut staged = staging.create()?;
                    std::io::copy(&mut reader, &mut staged)
                        .map_err(|e| Error::io("staging the upload body", e))?;
                    staged
                        .flush()
                        .map_err(|e| Error::io("staging the upload body", e))?;
                    staged.finish()
                })
                .await
                .map_err(|e| Error::io("staging the upload body", std::io::Error::other(e)))?
            }
        }
    }
}

impl From<Vec<u8>> for Body {
    fn from(bytes: Vec<u8>) -> Self {
        Body(Source::Blob(BytesBlob::shared(bytes)))
    }
}

impl From<bytes::Bytes> for Body {
    fn from(bytes: bytes::Bytes) -> Self {
        Body(Source::Blob(BytesBlob::shared(bytes)))
    }
}

impl From<&'static [u8]> for Body {
    fn from(bytes: &'static [u8]) -> Self {
        Body(Source::Blob(BytesBlob::shared(bytes)))
    }
}

impl From<String> for Body {
    fn from(text: String) -> Self {
        Body::from(text.into_bytes())
    }
}

impl From<BlobRef> for Body {
    fn from(blob: BlobRef) -> Self {
        Body(Source::Blob(blob))
    }
}

/// How an upload was stored.
#[derive(Clone, Debug)]
pub struct UploadSummary {
    /// The file's key.
    pub key: String,
    /// The object written for it (`….delta` for a delta).
    pub stored_key: String,
    /// Size of the file.
    pub original_size: u64,
    /// Bytes this upload added to the store: the object written for the file, plus the
    /// deltaspace's `reference.bin` when this upload created it.
    pub stored_size: u64,
    /// Size of the reference, when this upload created it (included in `stored_size`).
    pub reference_size: Option<u64>,
    /// True when the file is stored as a delta against a reference that was already there.
    /// The first file of a deltaspace becomes the reference: false.
    pub is_delta: bool,
    /// Fraction of the file's size saved: `1 - stored_size / original_size` (0 or below for
    /// the first file of a deltaspace and for files stored whole).
    pub savings: f64,
    /// SHA-256 of the file.
    pub sha256: String,
    /// Delta (engine, format, whether it created the reference) or whole (and why).
    pub stored: Stored,
    /// Engine fallbacks, lost reference races, see-through notes.
    pub notes: Vec<String>,
}

impl UploadSummary {
    pub(crate) fn new(key: &str, o: PutOutcome) -> Self {
        let stored_size = o.stored_size + o.reference_size.unwrap_or(0);
        UploadSummary {
            key: key.to_string(),
            stored_key: o.location.key.clone(),
            original_size: o.original_size,
            stored_size,
            reference_size: o.reference_size,
            is_delta: matches!(
                o.stored,
                Stored::Delta {
                    created_reference: false,
                    ..
                }
            ),
            savings: if o.original_size == 0 {
                0.0
            } else {
                1.0 - stored_size as f64 / o.original_size as f64
            },
            sha256: o.sha256,
            stored: o.stored,
            notes: o.notes,
        }
    }
}

/// A download written to a local file.
#[derive(Clone, Debug)]
pub struct DownloadSummary {
    /// Where the file was written.
    pub path: PathBuf,
    /// The object it came from (`….delta` for a delta).
    pub stored_key: String,
    /// Size of the file.
    pub size: u64,
    /// Size of the object read.
    pub stored_size: u64,
    /// Rebuilt from a delta, whole, or a plain object without dg metadata (not verifiable).
    pub served: Served,
    /// SHA-256 of the file (checked unless `served` is `Plain`).
    pub sha256: String,
}

impl DownloadSummary {
    pub(crate) fn new(path: PathBuf, got: GetOutcome) -> Self {
        DownloadSummary {
            path,
            stored_key: got.source.key,
            size: got.size,
            stored_size: got.stored_size,
            served: got.served,
            sha256: got.sha256,
        }
    }
}

/// A downloaded file, checked against its SHA-256, held in staging until dropped.
#[derive(Clone, Debug)]
pub struct Object {
    /// What is known about it.
    pub head: ObjectHead,
    /// How it was stored.
    pub served: Served,
    blob: BlobRef,
}

impl Object {
    pub(crate) fn new(key: &str, got: GetOutcome) -> Self {
        Object {
            head: ObjectHead::from_outcome(key, &got),
            served: got.served,
            blob: got.blob,
        }
    }

    /// Size of the file.
    pub fn len(&self) -> u64 {
        self.blob.len()
    }

    /// True for an empty file.
    pub fn is_empty(&self) -> bool {
        self.blob.is_empty()
    }

    /// A reader over the content, from the start (may be called again).
    pub fn reader(&self) -> Result<Box<dyn Read + Send>> {
        self.blob.reader()
    }

    /// The content in memory (for small files).
    pub fn to_vec(&self) -> Result<Vec<u8>> {
        Ok(self.blob.map()?.to_vec())
    }

    /// The staged content.
    pub fn blob(&self) -> &BlobRef {
        &self.blob
    }
}

/// What is known about a stored file without reading it.
#[derive(Clone, Debug)]
pub struct ObjectHead {
    /// The file's key.
    pub key: String,
    /// The object stored for it (`….delta` for a delta).
    pub stored_key: String,
    /// Size of the file.
    pub size: u64,
    /// Size of the stored object.
    pub stored_size: u64,
    /// True when stored as a delta.
    pub is_delta: bool,
    /// SHA-256 of the file, when dg (or Python deltaglider) wrote it.
    pub sha256: Option<String>,
    /// Last modification time of the stored object.
    pub last_modified: Option<SystemTime>,
    /// The stored object's entity tag, as the storage reports it (unknown after a download).
    pub etag: Option<String>,
    /// The stored object's metadata (dg's fields and any others).
    pub metadata: Metadata,
}

impl ObjectHead {
    pub(crate) fn from_outcome(key: &str, got: &GetOutcome) -> Self {
        ObjectHead {
            key: key.to_string(),
            stored_key: got.source.key.clone(),
            size: got.size,
            stored_size: got.stored_size,
            is_delta: got.served == Served::Delta,
            sha256: (got.served != Served::Plain).then(|| got.sha256.clone()),
            last_modified: got.last_modified,
            etag: None,
            metadata: got.metadata.clone(),
        }
    }
}

/// A listing request: bucket, prefix, delimiter, page size, continuation.
#[derive(Clone, Debug)]
pub struct ListObjects {
    /// The bucket.
    pub bucket: String,
    /// Only keys starting with this (empty: all).
    pub prefix: String,
    /// `Some("/")` for one level with sub-prefixes; `None` for everything below the prefix.
    pub delimiter: Option<String>,
    /// Page size (0: the storage's default, 1,000 on S3). Pages may hold fewer files, since
    /// references are hidden.
    pub max_keys: usize,
    /// The previous page's [`ObjectList::next_continuation_token`].
    pub continuation_token: Option<String>,
    /// Report each delta's file size (one request per delta; default true). Without it, deltas
    /// show their stored size.
    pub original_sizes: bool,
}

impl ListObjects {
    /// Everything in `bucket`, original sizes looked up.
    pub fn new(bucket: impl Into<String>) -> Self {
        ListObjects {
            bucket: bucket.into(),
            prefix: String::new(),
            delimiter: None,
            max_keys: 0,
            continuation_token: None,
            original_sizes: true,
        }
    }

    /// Only keys starting with `prefix`.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Group keys at `delimiter` below the prefix (usually `/`).
    pub fn delimiter(mut self, delimiter: impl Into<String>) -> Self {
        self.delimiter = Some(delimiter.into());
        self
    }

    /// At most `n` keys per page.
    pub fn max_keys(mut self, n: usize) -> Self {
        self.max_keys = n;
        self
    }

    /// Continue after the previous page.
    pub fn continuation_token(mut self, token: Option<String>) -> Self {
        self.continuation_token = token;
        self
    }

    /// Whether deltas report their file's size (see the field).
    pub fn original_sizes(mut self, yes: bool) -> Self {
        self.original_sizes = yes;
        self
    }
}

/// One file of a listing.
pub use dg_core::Entry as ObjectSummary;

/// One page of a listing.
#[derive(Clone, Debug, Default)]
pub struct ObjectList {
    /// Files on this page, by key.
    pub objects: Vec<ObjectSummary>,
    /// Sub-prefixes (with a delimiter).
    pub common_prefixes: Vec<String>,
    /// Pass to [`ListObjects::continuation_token`] for the next page; `None` on the last.
    pub next_continuation_token: Option<String>,
}

impl ObjectList {
    /// True when more pages follow.
    pub fn is_truncated(&self) -> bool {
        self.next_continuation_token.is_some()
    }
}

/// What [`Client::delete_objects`](crate::Client::delete_objects) did.
#[derive(Debug, Default)]
pub struct DeleteObjectsOutput {
    /// Each file deleted, with the objects removed (its own, and a reference no delta needs).
    pub deleted: Vec<dg_core::DeleteOutcome>,
    /// Keys that could not be deleted, with why.
    pub errors: Vec<(String, Error)>,
}
