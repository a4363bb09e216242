//! Uploads: hash the file, decide delta or whole, and hand over to the deltaspace's format.

use std::sync::Arc;

use dg_ports::{
    BlobRef, DiffEngine, Error, ListRequest, Location, Metadata, ObjectInfo, ObjectStorageExt,
    PutMode, PutOptions, Result, Staging,
};
use tracing::{debug, info};

use crate::codec::{self, Encoded};
use crate::digest::sha256_blob;
use crate::keys::{file_name, is_reference_key, validate_user_location, DeltaSpace, FileKeys};
use crate::meta::{self, field};
use crate::policy::{Eligibility, SNIFF_LEN};
use crate::resolve;
use crate::service::{DeltaGlider, Format};
use crate::transfer::blocking;

/// Options of one upload.
#[derive(Clone, Debug, Default)]
pub struct PutRequest {
    /// Store the file whole even if it is delta-eligible (its SHA-256 is still recorded).
    pub no_delta: bool,
    /// Override the service's max delta/file ratio.
    pub max_ratio: Option<f64>,
    /// Diff engine by name; `None` for the service default.
    pub engine: Option<String>,
    /// Format for a new deltaspace; `None` for the service default. Existing deltaspaces keep
    /// the format of their reference.
    pub format: Option<Format>,
    /// How hard to work for a smaller object (native format); `None`: the bucket's setting,
    /// else the service default.
    pub level: Option<dg_ports::Level>,
}

/// How a file was stored.
#[derive(Clone, Debug, PartialEq)]
pub enum Stored {
    /// As a delta against the deltaspace's reference.
    Delta {
        /// The engine that wrote it (`identical` for a file equal to the reference).
        engine: &'static str,
        /// True when this upload created the reference.
        created_reference: bool,
        /// The deltaspace's format.
        format: Format,
    },
    /// Whole, for the reason given.
    Direct {
        /// Why no delta was stored.
        reason: String,
    },
}

/// The result of an upload.
#[derive(Clone, Debug)]
pub struct PutOutcome {
    /// The object written for this file (`…/name.delta` or `…/name`).
    pub location: Location,
    /// Delta or direct.
    pub stored: Stored,
    /// Size of the file.
    pub original_size: u64,
    /// Size of the object written for it (not counting a reference it created).
    pub stored_size: u64,
    /// Size of the reference this upload created, if it created one.
    pub reference_size: Option<u64>,
    /// SHA-256 of the file.
    pub sha256: String,
    /// Things the user may want to know (engine fallbacks, lost reference races, see-through).
    pub notes: Vec<String>,
}

impl PutOutcome {
    /// Fraction of the file's size saved by this object (negative when it grew).
    pub fn savings(&self) -> f64 {
        if self.original_size == 0 {
            return 0.0;
        }
        1.0 - self.stored_size as f64 / self.original_size as f64
    }
}

/// What a put knows about the file.
pub(crate) struct Upload {
    pub source: BlobRef,
    pub dest: Location,
    pub name: String,
    pub space: DeltaSpace,
    pub sha256: String,
    pub size: u64,
    pub notes: Vec<String>,
}

impl Upload {
    /// Where the file's delta goes (also where it goes whole when its name has no plain slot).
    pub fn delta_location(&self) -> Location {
        self.dest.with_key(FileKeys::of(&self.dest.key).delta)
    }

    /// Where the file goes when stored whole.
    pub fn whole_location(&self) -> Location {
        self.dest
            .with_key(FileKeys::of(&self.dest.key).whole().to_string())
    }
}

/// How creating a reference ended.
pub(crate) enum Created {
    Done(Box<PutOutcome>),
    LostRace,
}

impl DeltaGlider {
    /// Stores `source` at `dest` (a key whose last segment is the file name).
    ///
    /// Delta-eligible files become a delta against the deltaspace's `reference.bin` (the first
    /// one creates it, only if absent); others, and deltas larger than the max ratio, are stored
    /// whole. Every delta is decoded and checked against the file's SHA-256 before it is written.
    pub async fn put(
        &self,
        source: BlobRef,
        dest: &Location,
        request: &PutRequest,
    ) -> Result<PutOutcome> {
        validate_user_location(dest)?;
        if let Some(engine) = request.engine.as_deref() {
            if self.engines().by_name(engine).is_none() {
                return Err(Error::InvalidInput(format!(
                    "unknown engine `{engine}`; available: {}",
                    self.engines().names().join(", ")
                )));
            }
        }
        let name = file_name(&dest.key).to_string();
        let hashed = source.clone();
        let what = dest.to_string();
        let (sha256, head) = blocking(move || {
            let head = codec::head(&hashed, SNIFF_LEN)?;
            Ok((sha256_blob(hashed.as_ref(), &what)?, head))
        })
        .await?;
        let mut up = Upload {
            size: source.len(),
            source,
            space: DeltaSpace::of(dest),
            dest: dest.clone(),
            name,
            sha256,
            notes: Vec::new(),
        };

        let eligibility = if request.no_delta {
            Eligibility::No
        } else {
            self.config().policy.judge(&up.name, &head)
        };
        debug!(file = %up.dest, ?eligibility, size = up.size, "upload");
        if !eligibility.is_eligible() {
            let reason = if request.no_delta {
                "--no-delta"
            } else {
                "not a delta-eligible file type"
            };
            return self.put_direct(&up, reason.to_string()).await;
        }
        if up.size == 0 {
            return self.put_direct(&up, "empty file".to_string()).await;
        }

        let ref_loc = up.space.reference();
        let info = match self.storage().head_opt(&ref_loc).await? {
            Some(info) => info,
            None => {
                // Creating a reference is the expensive path: fail fast on a missing bucket
                // (a HEAD cannot tell a missing bucket from a missing key) before doing it.
                self.storage()
                    .list(&ListRequest {
                        bucket: up.space.bucket.clone(),
                        prefix: up.space.list_prefix(),
                        delimiter: Some("/".to_string()),
                        start_after: None,
                        max_keys: 1,
                    })
                    .await?;
                let format = self.format_for(&up.space.bucket, request.format).await?;
                let created = match format {
                    Format::Native => self.create_native_reference(&mut up, request).await?,
                    Format::Compat => self.create_compat_reference(&mut up, request).await?,
                };
                match created {
                    Created::Done(outcome) => return Ok(*outcome),
                    Created::LostRace => {
                        up.notes.push(format!(
                            "another writer created {ref_loc} first; stored a delta against it"
                        ));
                        self.storage().head(&ref_loc).await?
                    }
                }
            }
        };
        self.put_into_existing(up, &info, request).await
    }

    async fn put_into_existing(
        &self,
        up: Upload,
        reference: &ObjectInfo,
        request: &PutRequest,
    ) -> Result<PutOutcome> {
        if meta::is_native(&reference.metadata) {
            self.put_native_delta(up, reference, request).await
        } else {
            self.put_compat_delta(up, reference, request).await
        }
    }

    /// Encodes `target` against `basis`, and checks that the delta rebuilds a target with
    /// `target_sha`; `None` when the delta exceeds `budget` bytes.
    pub(crate) async fn encode_checked(
        &self,
        engine: &Arc<dyn DiffEngine>,
        basis: BlobRef,
        target: BlobRef,
        target_sha: &str,
        budget: u64,
        what: &Location,
    ) -> Result<Option<BlobRef>> {
        let engine = engine.clone();
        let staging: Arc<dyn Staging> = self.staging().clone();
        let (want_sha, want_len) = (target_sha.to_string(), target.len());
        let what = what.to_string();
        blocking(move || {
            let delta = match codec::encode(engine.as_ref(), &basis, &target, &staging, budget)? {
                Encoded::Delta(d) => d,
                Encoded::OverBudget => return Ok(None),
            };
            let (_, sha, len) =
                codec::decode(engine.as_ref(), &basis, &delta, std::io::sink(), want_len)?;
            if sha != want_sha || len != want_len {
                return Err(Error::Corrupt {
                    what: format!(
                        "the {} delta just made for {what} (the file may have changed while it was read)",
                        engine.name()
                    ),
                    check: "SHA-256",
                    expected: want_sha,
                    actual: sha,
                });
            }
            Ok(Some(delta))
        })
        .await
    }

    /// Metadata every delta carries: all Python deltaglider 6.2.0 requires, plus dg's own.
    pub(crate) fn delta_metadata(
        &self,
        up: &Upload,
        ref_sha256: &str,
        delta_size: u64,
        engine: &str,
        command: String,
    ) -> Metadata {
        meta::build([
            (field::TOOL, self.config().tool.clone()),
            (field::ORIGINAL_NAME, up.name.clone()),
            (field::FILE_SHA256, up.sha256.clone()),
            (field::FILE_SIZE, up.size.to_string()),
            (field::CREATED_AT, self.now_iso()),
            (field::REF_KEY, up.space.reference().key),
            (field::REF_SHA256, ref_sha256.to_string()),
            (field::DELTA_SIZE, delta_size.to_string()),
            (field::DELTA_CMD, command),
            (field::ENGINE, engine.to_string()),
        ])
    }

    /// Writes a delta object, then removes a whole object the file had before.
    pub(crate) async fn write_delta(
        &self,
        up: &Upload,
        delta: BlobRef,
        metadata: Metadata,
        stored: Stored,
    ) -> Result<PutOutcome> {
        let location = up.delta_location();
        let delta_size = delta.len();
        self.storage()
            .put(
                &location,
                delta,
                PutOptions {
                    metadata,
                    mode: PutMode::Overwrite,
                },
            )
            .await?;
        info!(object = %location, delta_size, size = up.size, "stored delta");
        self.remove_stale(up, &location).await?;
        Ok(PutOutcome {
            location,
            stored,
            original_size: up.size,
            stored_size: delta_size,
            reference_size: None,
            sha256: up.sha256.clone(),
            notes: up.notes.clone(),
        })
    }

    pub(crate) async fn put_direct(&self, up: &Upload, reason: String) -> Result<PutOutcome> {
        let location = up.whole_location();
        let metadata = meta::build([
            (field::TOOL, self.config().tool.clone()),
            (field::ORIGINAL_NAME, up.name.clone()),
            (field::FILE_SHA256, up.sha256.clone()),
            (field::FILE_SIZE, up.size.to_string()),
            (field::CREATED_AT, self.now_iso()),
            (field::COMPRESSION, "none".to_string()),
        ]);
        self.storage()
            .put(
                &location,
                up.source.clone(),
                PutOptions {
                    metadata,
                    mode: PutMode::Overwrite,
                },
            )
            .await?;
        info!(object = %location, %reason, "stored whole");
        self.remove_stale(up, &location).await?;
        Ok(PutOutcome {
            location,
            stored: Stored::Direct { reason },
            original_size: up.size,
            stored_size: up.size,
            reference_size: None,
            sha256: up.sha256.clone(),
            notes: up.notes.clone(),
        })
    }

    /// Removes an older object of the same file in another of its slots (stored whole before,
    /// a delta now, or the reverse; or under the exact name an older writer used), so a
    /// download cannot return the old version. Objects there that are another file's stay.
    async fn remove_stale(&self, up: &Upload, written: &Location) -> Result<()> {
        for (slot, key) in resolve::candidates(&up.dest.key) {
            if key == written.key || is_reference_key(&key) {
                continue;
            }
            let location = up.dest.with_key(key);
            let Some(info) = self.storage().head_opt(&location).await? else {
                continue;
            };
            if resolve::belongs(&up.dest.key, slot, &info) {
                debug!(object = %location, "removing the file's previous object");
                match self.delete_stored(&location, false).await {
                    Ok(_) | Err(Error::NotFound { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(())
    }

    /// The budget of a delta under the max ratio, or why there is no room for one.
    pub(crate) fn delta_budget(&self, up: &Upload, request: &PutRequest, overhead: u64) -> u64 {
        let max_ratio = request.max_ratio.unwrap_or(self.config().max_ratio);
        ((up.size as f64 * max_ratio).floor() as u64).saturating_sub(overhead)
    }

    pub(crate) fn over_ratio_reason(&self, request: &PutRequest) -> String {
        let max_ratio = request.max_ratio.unwrap_or(self.config().max_ratio);
        format!(
            "its delta is larger than {:.0}% of the file (max ratio {max_ratio})",
            max_ratio * 100.0
        )
    }
}
