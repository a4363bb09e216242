//! Downloads: find the object, rebuild it if it is a delta, and check its SHA-256 before success.

use std::time::SystemTime;

use dg_ports::{BlobRef, Error, GetResult, Location, Metadata, Result, StagedBlob};
use tracing::debug;

use crate::codec;
use crate::container;
use crate::format::{Compat, Native, StorageFormat};
use crate::meta::{self, classify, ObjectKind};
use crate::service::DeltaGlider;
use crate::transfer::{blocking, spool};

/// How a downloaded object was stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Served {
    /// An object without dg metadata, returned as it is (nothing to verify against).
    Plain,
    /// A whole object whose SHA-256 was checked.
    Direct,
    /// Rebuilt from a delta and its reference; SHA-256 checked.
    Delta,
}

/// The result of a download.
#[derive(Clone, Debug)]
pub struct GetOutcome {
    /// The finished output (what `out.finish()` returned).
    pub blob: BlobRef,
    /// The stored object it came from (may be `….delta`).
    pub source: Location,
    /// How it was stored.
    pub served: Served,
    /// Size of the file.
    pub size: u64,
    /// Size of the stored object that was read (the delta's size for a delta).
    pub stored_size: u64,
    /// SHA-256 of the file (checked unless `served` is `Plain`).
    pub sha256: String,
    /// Metadata of the stored object it came from.
    pub metadata: Metadata,
    /// Last modification time of that object, when the storage reports one.
    pub last_modified: Option<SystemTime>,
}

impl DeltaGlider {
    /// Downloads `location` (falling back to `location.delta`) into `out`.
    ///
    /// `out` is finished only after the content matched its recorded SHA-256; on any error it
    /// is dropped unfinished, so nothing appears at its destination.
    pub async fn get(&self, location: &Location, out: Box<dyn StagedBlob>) -> Result<GetOutcome> {
        let storage = self.storage();
        let (_, got) = self
            .find(location, |l| async move { storage.get(&l).await })
            .await?;
        self.serve(got, out).await
    }

    /// Downloads the stored object at exactly `location` (a `.delta` key is read as the delta
    /// it is): what `dg verify` checks.
    pub async fn get_stored(
        &self,
        location: &Location,
        out: Box<dyn StagedBlob>,
    ) -> Result<GetOutcome> {
        let got = self.storage().get(location).await?;
        self.serve(got, out).await
    }

    async fn serve(&self, got: GetResult, out: Box<dyn StagedBlob>) -> Result<GetOutcome> {
        let metadata = got.info.metadata.clone();
        let last_modified = got.info.last_modified;
        let outcome = self.serve_kind(got, out).await?;
        Ok(GetOutcome {
            metadata,
            last_modified,
            ..outcome
        })
    }

    async fn serve_kind(&self, got: GetResult, mut out: Box<dyn StagedBlob>) -> Result<GetOutcome> {
        let source = got.info.location.clone();
        let kind = classify(&source.key, &got.info.metadata).map_err(|e| named(e, &source))?;
        debug!(object = %source, ?kind, "download");
        let stored_size = got.info.size;
        match kind {
            ObjectKind::Plain => {
                out.reserve(stored_size, &source.to_string())?;
                let spooled = spool(got.body, out, stored_size, &source.to_string()).await?;
                check_size(&source, stored_size, spooled.len)?;
                Ok(GetOutcome {
                    blob: spooled.writer.finish()?,
                    source,
                    served: Served::Plain,
                    size: spooled.len,
                    stored_size,
                    sha256: spooled.sha256,
                    metadata: Metadata::new(),
                    last_modified: None,
                })
            }
            ObjectKind::Reference { .. } if meta::is_native(&got.info.metadata) => {
                let stored = self.spool_whole(got).await?;
                Native(self).read_reference(source, stored, out).await
            }
            ObjectKind::Direct { sha256 } | ObjectKind::Reference { sha256 } => {
                out.reserve(stored_size, &source.to_string())?;
                let spooled = spool(got.body, out, stored_size, &source.to_string()).await?;
                check_size(&source, stored_size, spooled.len)?;
                check_sha(&source, &sha256, &spooled.sha256)?;
                Ok(GetOutcome {
                    blob: spooled.writer.finish()?,
                    source,
                    served: Served::Direct,
                    size: spooled.len,
                    stored_size,
                    sha256: spooled.sha256,
                    metadata: Metadata::new(),
                    last_modified: None,
                })
            }
            ObjectKind::Delta(info) => {
                check_recorded_size(&source, info.file_size, self.config().max_object_size)?;
                let delta = self.spool_whole(got).await?;
                let prefix = {
                    let d = delta.clone();
                    blocking(move || codec::head(&d, 16)).await?
                };
                // The format is the delta's own: Python's deltas in a native deltaspace are
                // read as the compatible deltas they are.
                if container::is_native(&prefix) {
                    Native(self)
                        .rebuild(source, delta, &prefix, info, out)
                        .await
                } else {
                    Compat(self)
                        .rebuild(source, delta, &prefix, info, out)
                        .await
                }
            }
        }
    }

    /// Downloads a whole stored object into staging, checking its size.
    async fn spool_whole(&self, got: GetResult) -> Result<BlobRef> {
        let source = got.info.location.clone();
        let mut staged = self.staging().create()?;
        staged.reserve(got.info.size, &source.to_string())?;
        let spooled = spool(got.body, staged, got.info.size, &source.to_string()).await?;
        check_size(&source, got.info.size, spooled.len)?;
        spooled.writer.finish()
    }
}

/// The most a delta without a recorded size may rebuild: four times its reference plus a
/// thousand times itself (what any real delta stays far below), at least 1 GiB and at most
/// `max_object_size`. A delta that decodes past it is refused, so a hostile object cannot fill
/// the disk.
pub(crate) fn unsized_limit(reference: u64, delta: u64, max_object_size: u64) -> u64 {
    reference
        .saturating_mul(4)
        .saturating_add(delta.saturating_mul(1000))
        .max(1 << 30)
        .min(max_object_size)
}

/// Names the object by its whole location in errors about its metadata (which
/// [`classify`] judges from the key alone).
fn named(e: Error, source: &Location) -> Error {
    match e {
        Error::InvalidData {
            reason,
            source: cause,
            ..
        } => Error::InvalidData {
            what: format!("metadata of {source}"),
            reason,
            source: cause,
        },
        other => other,
    }
}

/// Refuses a delta whose recorded size is beyond any object dg reads, before anything is read:
/// its rebuild is bounded by that size, which must not be one no real file has.
pub(crate) fn check_recorded_size(source: &Location, size: Option<u64>, max: u64) -> Result<()> {
    match size {
        Some(size) if size > max => Err(Error::LimitExceeded {
            what: format!("the size {size} that {source} records"),
            limit: max,
        }),
        _ => Ok(()),
    }
}

pub(crate) fn check_sha(source: &Location, expected: &str, actual: &str) -> Result<()> {
    if expected.eq_ignore_ascii_case(actual) {
        Ok(())
    } else {
        Err(Error::Corrupt {
            what: source.to_string(),
            check: "SHA-256",
            expected: expected.to_string(),
            actual: actual.to_string(),
        })
    }
}

pub(crate) fn check_size(source: &Location, expected: u64, actual: u64) -> Result<()> {
    if expected == actual {
        Ok(())
    } else {
        Err(Error::Corrupt {
            what: source.to_string(),
            check: "size",
            expected: expected.to_string(),
            actual: actual.to_string(),
        })
    }
}
