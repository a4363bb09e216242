//! The contracts of dg: the ports its domain (`dg-core`) is written against.
//!
//! | port | trait | style |
//! |---|---|---|
//! | object storage | [`ObjectStorage`] (+ [`Buckets`]) | async, `Arc<dyn …>` |
//! | reference cache | [`ReferenceCache`] | async, `Arc<dyn …>` |
//! | scratch space | [`Staging`] producing [`Blob`]s | sync |
//! | diff engine | [`DiffEngine`] | sync, run on a blocking thread |
//! | clock | [`Clock`] | sync |
//! | compressor | [`Compressor`] | sync, run on a blocking thread |
//! | see-through expander | [`Expander`] | sync, run on a blocking thread |
//!
//! Every port reports failures as one [`Error`] enum whose variants carry meaning
//! (`NotFound`, `AlreadyExists`, `Corrupt { expected, actual }`…).
//!
//! # How large data flows
//!
//! Artifacts may be many gigabytes, so no port passes a whole file as a `Vec<u8>`:
//!
//! - **At rest on this machine, data is a [`Blob`]**: an immutable file in a staging directory
//!   (or a byte buffer for small data and tests). A blob can be read sequentially any number of
//!   times ([`Blob::reader`]) and viewed as one byte slice through a memory map ([`Blob::map`]),
//!   which is how diff engines get random access to references larger than RAM.
//! - **Storage uploads read a blob** (`put` takes a [`BlobRef`]), so an adapter can stream it,
//!   send it in multipart chunks, or rename a file into place.
//! - **Storage downloads are streams** of [`bytes::Bytes`] chunks ([`GetResult::body`]); the
//!   domain writes them into a staged blob, never into one big buffer.
//! - **Engines read the reference as a slice and the target and delta as streams**, and write
//!   their output to a stream, so memory stays bounded by the engine's window, not the file.
//!
//! # Example
//!
//! ```
//! use dg_ports::{Blob, BytesBlob, Clock, FixedClock};
//! use std::time::{Duration, SystemTime};
//!
//! let blob = BytesBlob::shared(&b"release 1.0"[..]);
//! assert_eq!(blob.len(), 11);
//! assert_eq!(&*blob.map().unwrap(), b"release 1.0");
//!
//! let clock = FixedClock(SystemTime::UNIX_EPOCH + Duration::from_secs(60));
//! assert_eq!(clock.now(), SystemTime::UNIX_EPOCH + Duration::from_secs(60));
//! ```

mod blob;
mod cache;
mod clock;
mod engine;
mod error;
mod storage;
mod transform;

pub use blob::{Blob, BlobRef, BytesBlob, Mapped, StagedBlob, Staging};
pub use cache::{NoCache, ReferenceCache};
pub use clock::{Clock, FixedClock};
pub use engine::DiffEngine;
pub use error::{BoxError, Error, Result};
pub use storage::{
    BucketInfo, Buckets, ByteStream, GetResult, ListPage, ListRequest, Location, Metadata,
    ObjectInfo, ObjectStorage, ObjectStorageExt, PutMode, PutOptions,
};
pub use transform::{
    CompareWriter, Compressor, ExpandSummary, Expander, Level, ReusedBytes, Similar,
};
