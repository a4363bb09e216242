//! Uploads: decide delta or direct, create the reference when needed, verify, write.

use std::sync::Arc;

use dg_ports::{
    BlobRef, DiffEngine, Error, Location, Metadata, ObjectStorageExt, PutMode, PutOptions, Result,
};
use tracing::{debug, info, warn};

use crate::codec::{self, Encoded};
use crate::digest::sha256_blob;
use crate::keys::{file_name, validate_user_location, DeltaSpace, DELTA_SUFFIX, REFERENCE_NAME};
use crate::meta::{self, field, NOTE_REFERENCE, NOTE_ZERO_DIFF};
use crate::policy::{Eligibility, SNIFF_LEN};
use crate::reference::LoadedRef;
use crate::service::DeltaGlider;
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
}

/// How a file was stored.
#[derive(Clone, Debug, PartialEq)]
pub enum Stored {
    /// As a delta against the deltaspace's reference.
    Delta {
        /// The engine that wrote it.
        engine: &'static str,
        /// True when this upload created the reference (the delta is then a zero-diff).
        created_reference: bool,
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
    /// Things the user may want to know (engine fallbacks, lost reference races).
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
struct Upload {
    source: BlobRef,
    dest: Location,
    name: String,
    space: DeltaSpace,
    sha256: String,
    size: u64,
    notes: Vec<String>,
}

impl DeltaGlider {
    /// Stores `source` at `dest` (a key whose last segment is the file name).
    ///
    /// Delta-eligible files become a delta against the deltaspace's `reference.bin` (the first
    /// one creates it); others, and deltas larger than the max ratio, are stored whole. Every
    /// delta is decoded and checked against the file's SHA-256 before it is written.
    pub async fn put(
        &self,
        source: BlobRef,
        dest: &Location,
        request: &PutRequest,
    ) -> Result<PutOutcome> {
        validate_user_location(dest)?;
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
            return self.put_direct(up, reason.to_string()).await;
        }
        if up.size == 0 {
            return self.put_direct(up, "empty file".to_string()).await;
        }

        let ref_loc = up.space.reference();
        let reference = match self.storage().head_opt(&ref_loc).await? {
            Some(info) => {
                let recorded =
                    meta::get(&info.metadata, field::FILE_SHA256).map(str::to_ascii_lowercase);
                self.load_reference(&ref_loc, recorded.as_deref()).await?
            }
            None => match self.create_reference(&mut up, request).await? {
                Created::Done(outcome) => return Ok(*outcome),
                Created::LostRace => {
                    up.notes.push(format!(
                        "another writer created {ref_loc} first; stored a delta against it"
                    ));
                    self.load_reference(&ref_loc, None).await?
                }
            },
        };
        self.put_delta(up, &reference, request).await
    }

    /// Stores the file as the deltaspace's reference (create-only) plus its zero-diff delta.
    async fn create_reference(&self, up: &mut Upload, request: &PutRequest) -> Result<Created> {
        let choice = match self
            .engines()
            .choose(request.engine.as_deref(), up.size, up.size)
        {
            Ok(c) => c,
            Err(e) => {
                let outcome = self
                    .put_direct_parts(up, format!("{e}"))
                    .await?;
                return Ok(Created::Done(Box::new(outcome)));
            }
        };
        up.notes.extend(choice.passed_over.iter().cloned());
        let ref_loc = up.space.reference();
        let metadata = meta::build([
            (field::TOOL, self.config().tool.clone()),
            (field::SOURCE_NAME, up.name.clone()),
            (field::FILE_SHA256, up.sha256.clone()),
            (field::CREATED_AT, self.now_iso()),
            (field::NOTE, NOTE_REFERENCE.to_string()),
        ]);
        let put = self
            .storage()
            .put(
                &ref_loc,
                up.source.clone(),
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
        info!(reference = %ref_loc, "created reference");
        let reference = LoadedRef {
            blob: up.source.clone(),
            sha256: up.sha256.clone(),
        };
        let delta = self
            .encode_checked(&choice.engine, &reference, up, u64::MAX)
            .await?
            .ok_or_else(|| Error::invalid("zero-diff delta", "exceeded an unlimited budget"))?;
        let mut outcome = self
            .write_delta(up, &reference, &choice.engine, delta, Some(NOTE_ZERO_DIFF))
            .await?;
        outcome.stored = Stored::Delta {
            engine: choice.engine.name(),
            created_reference: true,
        };
        outcome.reference_size = Some(up.size);
        Ok(Created::Done(Box::new(outcome)))
    }

    /// Stores the file as a delta against `reference`, or whole when that is smaller.
    async fn put_delta(
        &self,
        mut up: Upload,
        reference: &LoadedRef,
        request: &PutRequest,
    ) -> Result<PutOutcome> {
        let choice =
            match self
                .engines()
                .choose(request.engine.as_deref(), reference.blob.len(), up.size)
            {
                Ok(c) => c,
                Err(e) => {
                    return self
                        .put_direct(up, format!("{e}"))
                        .await
                }
            };
        for note in &choice.passed_over {
            warn!(file = %up.dest, "engine passed over: {note}");
        }
        up.notes.extend(choice.passed_over.iter().cloned());
        let max_ratio = request.max_ratio.unwrap_or(self.config().max_ratio);
        let budget = (up.size as f64 * max_ratio).floor() as u64;
        let delta = match self
            .encode_checked(&choice.engine, reference, &up, budget)
            .await?
        {
            Some(delta) => delta,
            None => {
                let reason = format!(
                    "its delta is larger than {:.0}% of the file (max ratio {max_ratio})",
                    max_ratio * 100.0
                );
                return self.put_direct(up, reason).await;
            }
        };
        let note = (reference.sha256 == up.sha256).then_some(NOTE_ZERO_DIFF);
        let outcome = self
            .write_delta(&up, reference, &choice.engine, delta, note)
            .await?;
        let direct = up.space.location_of(&up.name);
        self.remove_stale(&direct).await?;
        Ok(outcome)
    }

    /// Encodes and checks that the delta rebuilds the file; `None` when over `budget`.
    async fn encode_checked(
        &self,
        engine: &Arc<dyn DiffEngine>,
        reference: &LoadedRef,
        up: &Upload,
        budget: u64,
    ) -> Result<Option<BlobRef>> {
        let engine = engine.clone();
        let reference = reference.blob.clone();
        let target = up.source.clone();
        let staging = self.staging().clone();
        let (want_sha, want_len) = (up.sha256.clone(), up.size);
        let what = up.dest.to_string();
        blocking(move || {
            let delta = match codec::encode(engine.as_ref(), &reference, &target, &staging, budget)? {
                Encoded::Delta(d) => d,
                Encoded::OverBudget => return Ok(None),
            };
            let (_, sha, len) =
                codec::decode(engine.as_ref(), &reference, &delta, std::io::sink(), want_len)?;
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

    async fn write_delta(
        &self,
        up: &Upload,
        reference: &LoadedRef,
        engine: &Arc<dyn DiffEngine>,
        delta: BlobRef,
        note: Option<&str>,
    ) -> Result<PutOutcome> {
        let location = up.space.location_of(&format!("{}{DELTA_SUFFIX}", up.name));
        let delta_size = delta.len();
        let mut metadata: Metadata = meta::build([
            (field::TOOL, self.config().tool.clone()),
            (field::ORIGINAL_NAME, up.name.clone()),
            (field::FILE_SHA256, up.sha256.clone()),
            (field::FILE_SIZE, up.size.to_string()),
            (field::CREATED_AT, self.now_iso()),
            (field::REF_KEY, up.space.key_of(REFERENCE_NAME)),
            (field::REF_SHA256, reference.sha256.clone()),
            (field::DELTA_SIZE, delta_size.to_string()),
            (
                field::DELTA_CMD,
                engine
                    .command_hint()
                    .replace("{name}", &up.name)
                    .to_string(),
            ),
            (field::ENGINE, engine.name().to_string()),
        ]);
        if let Some(note) = note {
            metadata.insert(field::NOTE.to_string(), note.to_string());
        }
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
        Ok(PutOutcome {
            location,
            stored: Stored::Delta {
                engine: engine.name(),
                created_reference: false,
            },
            original_size: up.size,
            stored_size: delta_size,
            reference_size: None,
            sha256: up.sha256.clone(),
            notes: up.notes.clone(),
        })
    }

    async fn put_direct(&self, up: Upload, reason: String) -> Result<PutOutcome> {
        self.put_direct_parts(&up, reason).await
    }

    async fn put_direct_parts(&self, up: &Upload, reason: String) -> Result<PutOutcome> {
        let location = up.space.location_of(&up.name);
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
        let stale = up.space.location_of(&format!("{}{DELTA_SUFFIX}", up.name));
        self.remove_stale(&stale).await?;
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

    /// Removes an older object for the same file stored the other way (direct vs delta), so a
    /// download cannot return the old version.
    async fn remove_stale(&self, location: &Location) -> Result<()> {
        if self.storage().head_opt(location).await?.is_some() {
            debug!(object = %location, "removing the file's previous object");
            self.delete(location, false).await?;
        }
        Ok(())
    }
}

enum Created {
    Done(Box<PutOutcome>),
    LostRace,
}
