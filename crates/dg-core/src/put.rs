//! Uploads: hash the file, decide delta or whole, and write what the deltaspace's format made.
//!
//! The steps both formats share are here: the create-if-absent write of a new reference (a
//! lost race turns into a delta against the winner's), the write of the delta with its
//! metadata, the fall-back to a whole object, and the removal of the file's older object.

use dg_ports::{
    BlobRef, Error, ListRequest, Location, Metadata, ObjectInfo, ObjectStorageExt, PutMode,
    PutOptions, Result,
};
use tracing::{debug, info, warn};

use crate::codec;
use crate::digest::sha256_blob;
use crate::format::{self, Compat, DeltaObject, Native, NewReference, StorageFormat};
use crate::keys::{is_reference_key, validate_user_location};
use crate::meta::{self, field};
use crate::nearby::{self, ReferenceScope};
use crate::policy::{Eligibility, SNIFF_LEN};
use crate::resolve;
use crate::service::{DeltaGlider, Format};
use crate::stored::{DirectReason, PutOutcome, Stored};
use crate::transfer::blocking;
use crate::upload::Upload;

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
    /// How far the first file of a new deltaspace looks for a reference; `None`: the
    /// bucket's setting, else the service default.
    pub reference_scope: Option<ReferenceScope>,
    /// More metadata to store with the file's own object (its delta or whole object, never
    /// the reference), such as an S3 endpoint's user metadata. dg's own fields win over
    /// entries of the same name.
    pub metadata: Metadata,
}

/// How creating a reference ended.
enum Created {
    Done(Box<PutOutcome>),
    /// Another writer's create-if-absent came first.
    LostRace,
    /// The reference was created, then replaced by another writer before the file's delta
    /// was written: a store that does not honour `If-None-Match` (or a racing overwrite).
    Replaced,
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
        let hashed = source.clone();
        let what = dest.to_string();
        let (sha256, head) = blocking(move || {
            let head = codec::head(&hashed, SNIFF_LEN)?;
            Ok((sha256_blob(hashed.as_ref(), &what)?, head))
        })
        .await?;
        let mut up = Upload::new(source, dest, sha256);

        let eligibility = if request.no_delta {
            Eligibility::No
        } else {
            self.config().policy.judge(up.name(), &head)
        };
        debug!(file = %up.dest(), ?eligibility, size = up.size(), "upload");
        if !eligibility.is_eligible() {
            let reason = if request.no_delta {
                DirectReason::NoDeltaRequested
            } else {
                DirectReason::NotEligible
            };
            return self.put_direct(&up, reason, &request.metadata).await;
        }
        if up.size() == 0 {
            return self
                .put_direct(&up, DirectReason::Empty, &request.metadata)
                .await;
        }

        let ref_loc = up.space().reference();
        let info = match self.storage().head_opt(&ref_loc).await? {
            Some(info) => info,
            None => {
                // Creating a reference is the expensive path: fail fast on a missing bucket
                // (a HEAD cannot tell a missing bucket from a missing key) before doing it.
                self.storage()
                    .list(&ListRequest {
                        bucket: up.space().bucket.clone(),
                        prefix: up.space().list_prefix(),
                        delimiter: Some("/".to_string()),
                        start_after: None,
                        max_keys: 1,
                    })
                    .await?;
                let bucket = &up.space().bucket;
                let format = self.format_for(bucket, request.format).await?;
                let scope = self.scope_for(bucket, request.reference_scope).await?;
                let created = match format {
                    Format::Native => {
                        self.start_deltaspace(Native(self), &mut up, request, scope)
                            .await?
                    }
                    Format::Compat => {
                        self.start_deltaspace(Compat(self), &mut up, request, scope)
                            .await?
                    }
                };
                let note = match created {
                    Created::Done(outcome) => return Ok(*outcome),
                    Created::LostRace => {
                        format!("another writer created {ref_loc} first; stored a delta against it")
                    }
                    Created::Replaced => format!(
                        "another writer replaced {ref_loc} right after this upload created it \
                         (does this store honour If-None-Match?); stored a delta against the \
                         new one"
                    ),
                };
                up.note([note]);
                self.storage().head(&ref_loc).await?
            }
        };
        match format::of_reference(&info.metadata) {
            Format::Native => {
                let scope = self
                    .scope_for(&up.space().bucket, request.reference_scope)
                    .await?;
                if crate::layers::may_layer(&info, scope) {
                    self.put_native(up, &info, request).await
                } else {
                    self.put_delta(Native(self), up, &info, request).await
                }
            }
            Format::Compat => self.put_delta(Compat(self), up, &info, request).await,
        }
    }

    /// Stores the first file of a deltaspace: as a delta against a reference nearby when one
    /// is like it (within `scope`), else as the deltaspace's new reference.
    async fn start_deltaspace<F: StorageFormat>(
        &self,
        format: F,
        up: &mut Upload,
        request: &PutRequest,
        scope: ReferenceScope,
    ) -> Result<Created> {
        let candidates = match scope {
            ReferenceScope::Siblings => {
                self.nearby_references(up.space(), F::FORMAT, up.name())
                    .await?
            }
            ReferenceScope::Prefix => Vec::new(),
        };
        // the plain form (native) is made once, for the reference the file is likeliest to
        // be a delta against
        let likely = nearby::likely(&candidates).map(|c| c.info.clone());
        let sketch = format.sketch(up, likely.as_ref()).await?;
        up.set_sketch(sketch);
        if let Some(best) = nearby::best(candidates, up.sketch()) {
            if let Some(outcome) = self.share_with(&format, up, request, best).await? {
                return Ok(Created::Done(Box::new(outcome)));
            }
        }
        self.create_reference(format, up, request).await
    }

    /// Stores the file as a delta against `best`, the reference nearby most like it, when the
    /// delta fits the max ratio; `None` otherwise. The reference's marker is
    /// written before the delta, so no delete can miss that the delta needs it.
    async fn share_with<F: StorageFormat>(
        &self,
        format: &F,
        up: &mut Upload,
        request: &PutRequest,
        best: nearby::Candidate,
    ) -> Result<Option<PutOutcome>> {
        let reference = best.info.location.clone();
        let location = up.delta_location();
        if crate::shared::marker_key(&reference.key, &location.key).is_none() {
            return Ok(None);
        }
        let made = match format.delta(up, &best.info, request).await {
            Ok(made) => made,
            Err(e) => {
                warn!(reference = %reference, error = %e, "could not use a reference nearby; starting one");
                return Ok(None);
            }
        };
        let delta = match made.or_whole(self.max_ratio(request)) {
            Ok(delta) => delta,
            Err(reason) => {
                debug!(reference = %reference, %reason, "the reference nearby does not pay; starting one");
                return Ok(None);
            }
        };
        self.mark_shared(&reference, &location).await?;
        // The reference may have gone (or been replaced) while the delta was made.
        if !self
            .still_recorded(&reference, recorded_sha256(&best.info.metadata))
            .await?
        {
            self.unmark_shared(&reference, &location).await?;
            return Ok(None);
        }
        let alike = best
            .similarity
            .map(|s| format!(", about {:.0}% alike", s * 100.0))
            .unwrap_or_default();
        up.note([format!(
            "first file of {}: stored as a delta against {reference}{alike}",
            up.space().list_prefix()
        )]);
        info!(file = %up.dest(), %reference, "delta against a reference nearby");
        self.write_delta(up, delta, F::FORMAT, false, &request.metadata)
            .await
            .map(Some)
    }

    /// Creates the deltaspace's reference in `format` (only if absent) and writes the file's
    /// first delta against it.
    async fn create_reference<F: StorageFormat>(
        &self,
        format: F,
        up: &mut Upload,
        request: &PutRequest,
    ) -> Result<Created> {
        let NewReference {
            body,
            metadata,
            pending,
        } = match format
            .new_reference(up, request)
            .await?
            .or_whole(self.max_ratio(request))
        {
            Ok(made) => made,
            Err(reason) => {
                return Ok(Created::Done(Box::new(
                    self.put_direct(up, reason, &request.metadata).await?,
                )))
            }
        };
        let ref_loc = up.space().reference();
        let reference_size = body.len();
        let ours = recorded_sha256(&metadata);
        let put = self
            .storage()
            .put(
                &ref_loc,
                body,
                PutOptions {
                    metadata,
                    mode: PutMode::Create,
                },
            )
            .await;
        match put {
            Ok(()) => {}
            Err(Error::AlreadyExists { .. }) => return Ok(Created::LostRace),
            Err(e) => return Err(e),
        }
        info!(
            reference = %ref_loc,
            format = F::FORMAT.name(),
            stored = reference_size,
            size = up.size(),
            "created reference"
        );
        let delta = format.first_delta(up, pending).await?;
        // Create-if-absent is the store's promise; one that breaks it (ignoring
        // `If-None-Match`) lets a racing writer replace the reference just made. A delta is
        // only written against the reference that is there.
        if !self.still_recorded(&ref_loc, ours).await? {
            warn!(reference = %ref_loc, "the reference this upload created was replaced");
            return Ok(Created::Replaced);
        }
        let mut outcome = self
            .write_delta(up, delta, F::FORMAT, true, &request.metadata)
            .await?;
        outcome.reference_size = Some(reference_size);
        Ok(Created::Done(Box::new(outcome)))
    }

    /// Whether the reference at `location` is still there and records the file SHA-256
    /// `expected` (it may have gone, or been replaced, while a delta was made against it).
    async fn still_recorded(&self, location: &Location, expected: Option<String>) -> Result<bool> {
        let now = self.storage().head_opt(location).await?;
        Ok(now.map(|info| recorded_sha256(&info.metadata)) == Some(expected))
    }

    /// Stores the file as a delta in `format` against the existing `reference`, or whole when
    /// no delta fits.
    async fn put_delta<F: StorageFormat>(
        &self,
        format: F,
        mut up: Upload,
        reference: &ObjectInfo,
        request: &PutRequest,
    ) -> Result<PutOutcome> {
        let made = format.delta(&mut up, reference, request).await?;
        match made.or_whole(self.max_ratio(request)) {
            Ok(delta) => {
                self.write_delta(&up, delta, F::FORMAT, false, &request.metadata)
                    .await
            }
            Err(reason) => self.put_direct(&up, reason, &request.metadata).await,
        }
    }

    /// Writes a delta object, then removes a whole object the file had before.
    pub(crate) async fn write_delta(
        &self,
        up: &Upload,
        delta: DeltaObject,
        format: Format,
        created_reference: bool,
        extra: &Metadata,
    ) -> Result<PutOutcome> {
        let location = up.delta_location();
        let delta_size = delta.body.len();
        self.storage()
            .put(
                &location,
                delta.body,
                PutOptions {
                    metadata: with_extra(delta.metadata, extra),
                    mode: PutMode::Overwrite,
                },
            )
            .await?;
        info!(object = %location, delta_size, size = up.size(), "stored delta");
        self.remove_stale(up, &location).await?;
        Ok(PutOutcome {
            location,
            stored: Stored::Delta {
                engine: delta.engine,
                created_reference,
                format,
            },
            original_size: up.size(),
            stored_size: delta_size,
            reference_size: None,
            sha256: up.sha256().to_string(),
            notes: up.notes().to_vec(),
        })
    }

    /// Stores the file whole, for `reason`.
    pub(crate) async fn put_direct(
        &self,
        up: &Upload,
        reason: DirectReason,
        extra: &Metadata,
    ) -> Result<PutOutcome> {
        let location = up.whole_location();
        let metadata = meta::build([
            (field::TOOL, self.config().tool.clone()),
            (field::ORIGINAL_NAME, up.name().to_string()),
            (field::FILE_SHA256, up.sha256().to_string()),
            (field::FILE_SIZE, up.size().to_string()),
            (field::CREATED_AT, self.now_iso()),
            (field::COMPRESSION, "none".to_string()),
        ]);
        self.storage()
            .put(
                &location,
                up.source().clone(),
                PutOptions {
                    metadata: with_extra(metadata, extra),
                    mode: PutMode::Overwrite,
                },
            )
            .await?;
        info!(object = %location, %reason, "stored whole");
        self.remove_stale(up, &location).await?;
        Ok(PutOutcome {
            location,
            stored: Stored::Direct { reason },
            original_size: up.size(),
            stored_size: up.size(),
            reference_size: None,
            sha256: up.sha256().to_string(),
            notes: up.notes().to_vec(),
        })
    }

    /// Removes an older object of the same file in another of its slots (stored whole before,
    /// a delta now, or the reverse; or under the exact name an older writer used), so a
    /// download cannot return the old version. Objects there that are another file's stay.
    async fn remove_stale(&self, up: &Upload, written: &Location) -> Result<()> {
        for (slot, key) in resolve::candidates(&up.dest().key) {
            if key == written.key || is_reference_key(&key) {
                continue;
            }
            let location = up.dest().with_key(key);
            let Some(info) = self.storage().head_opt(&location).await? else {
                continue;
            };
            if resolve::belongs(&up.dest().key, slot, &info) {
                debug!(object = %location, "removing the file's previous object");
                match self.delete_stored(&location, false).await {
                    Ok(_) | Err(Error::NotFound { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(())
    }
}

/// The SHA-256 a reference's metadata records for the file it was made from.
fn recorded_sha256(metadata: &Metadata) -> Option<String> {
    meta::get(metadata, field::FILE_SHA256).map(str::to_ascii_lowercase)
}

/// `own` with the caller's `extra` entries added where `own` has no field of that name.
fn with_extra(mut own: Metadata, extra: &Metadata) -> Metadata {
    for (name, value) in extra {
        own.entry(name.clone()).or_insert_with(|| value.clone());
    }
    own
}
