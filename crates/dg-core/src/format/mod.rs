//! The two storage formats behind one trait: Python DeltaGlider's (compat) and dg's own (native).
//!
//! A format decides how a new reference is stored, how a delta is made against it, what
//! metadata both carry, and how a delta is read back. Everything both formats share — the
//! create-if-absent write of the reference, writing the delta with its metadata, falling back
//! to a whole object — is in [`crate::put`], which picks the deltaspace's format once and
//! calls through [`StorageFormat`].

pub(crate) mod compat;
pub(crate) mod native;

use std::future::Future;
use std::sync::Arc;

use dg_ports::{
    BlobRef, DiffEngine, Error, Location, Metadata, ObjectInfo, Result, StagedBlob, Staging,
};

use crate::codec::{self, Encoded};
use crate::get::GetOutcome;
use crate::meta::{self, field, DeltaInfo, NOTE_REFERENCE};
use crate::put::PutRequest;
use crate::service::{DeltaGlider, Format};
use crate::stored::DirectReason;
use crate::transfer::blocking;
use crate::upload::Upload;

pub(crate) use compat::Compat;
pub(crate) use native::Native;

/// A delta object ready to be written at the upload's delta key.
#[derive(Clone, Debug)]
pub(crate) struct DeltaObject {
    /// The object's bytes.
    pub body: BlobRef,
    /// Its metadata.
    pub metadata: Metadata,
    /// The engine that made it (`identical` for the reference's own content).
    pub engine: &'static str,
}

/// A reference ready to be created, and what its first delta is made from once it is.
#[derive(Debug)]
pub(crate) struct NewReference<P> {
    /// The object's bytes.
    pub body: BlobRef,
    /// Its metadata.
    pub metadata: Metadata,
    /// What the format keeps for [`StorageFormat::first_delta`].
    pub pending: P,
}

/// What a format made of an upload: the object, or why the file is to be stored whole.
#[derive(Debug)]
pub(crate) enum Made<T> {
    /// The object to write.
    Object(T),
    /// No engine could take the file (what they said).
    Refused(String),
    /// The delta would exceed `limit` bytes, the max ratio's budget.
    OverBudget {
        /// The budget in bytes.
        limit: u64,
    },
}

impl<T> Made<T> {
    /// The object, or why the file is stored whole (`max_ratio` being the upload's).
    pub(crate) fn or_whole(self, max_ratio: f64) -> std::result::Result<T, DirectReason> {
        match self {
            Made::Object(object) => Ok(object),
            Made::Refused(detail) => Err(DirectReason::EngineRefused { detail }),
            Made::OverBudget { limit } => Err(DirectReason::OverRatio { max_ratio, limit }),
        }
    }
}

/// What differs between the formats. Each operation runs for one upload or one download.
pub(crate) trait StorageFormat {
    /// What a new reference hands on to its first delta.
    type Pending: Send;

    /// The format's name in outcomes and settings.
    const FORMAT: Format;

    /// Makes the reference of a new deltaspace from the upload (checked before it is returned).
    fn new_reference(
        &self,
        up: &mut Upload,
        request: &PutRequest,
    ) -> impl Future<Output = Result<Made<NewReference<Self::Pending>>>> + Send;

    /// The file's similarity sketch, of the form its deltas are made from (the plain form in
    /// the native format, which keeps it for the steps that follow: made with the stream index
    /// of `likely`, the reference the file will most likely be a delta against, if any).
    fn sketch(
        &self,
        up: &mut Upload,
        likely: Option<&ObjectInfo>,
    ) -> impl Future<Output = Result<crate::sketch::Sketch>> + Send;

    /// The delta written with a reference this upload created: the file against itself.
    fn first_delta(
        &self,
        up: &Upload,
        pending: Self::Pending,
    ) -> impl Future<Output = Result<DeltaObject>> + Send;

    /// Makes the file's delta against the existing `reference`, checked to rebuild the file.
    fn delta(
        &self,
        up: &mut Upload,
        reference: &ObjectInfo,
        request: &PutRequest,
    ) -> impl Future<Output = Result<Made<DeltaObject>>> + Send;

    /// Rebuilds the file of the delta object at `source` (already in `delta`, whose first bytes
    /// are `prefix`) into `out`, checking its size and SHA-256.
    fn rebuild(
        &self,
        source: Location,
        delta: BlobRef,
        prefix: &[u8],
        info: DeltaInfo,
        out: Box<dyn StagedBlob>,
    ) -> impl Future<Output = Result<GetOutcome>> + Send;
}

/// The format of the deltaspace whose reference has `metadata`.
pub(crate) fn of_reference(metadata: &Metadata) -> Format {
    if meta::is_native(metadata) {
        Format::Native
    } else {
        Format::Compat
    }
}

impl DeltaGlider {
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

    /// Metadata every reference carries (a format may add its own), with the file's sketch
    /// when one was made.
    pub(crate) fn reference_metadata(&self, up: &Upload) -> Metadata {
        let mut metadata = meta::build([
            (field::TOOL, self.config().tool.clone()),
            (field::SOURCE_NAME, up.name().to_string()),
            (field::FILE_SHA256, up.sha256().to_string()),
            (field::CREATED_AT, self.now_iso()),
            (field::NOTE, NOTE_REFERENCE.to_string()),
        ]);
        if let Some(sketch) = up.sketch() {
            metadata.insert(field::SKETCH.to_string(), sketch.render());
        }
        metadata
    }

    /// The sketch of `blob`, made off the async threads.
    pub(crate) async fn sketch_of(&self, blob: &BlobRef) -> Result<crate::sketch::Sketch> {
        let blob = blob.clone();
        blocking(move || Ok(crate::sketch::Sketch::of(&blob.map()?))).await
    }

    /// Metadata every delta carries: all Python deltaglider 6.2.0 requires, plus dg's own.
    /// `ref_key` is the reference's key (its own deltaspace's, or the one it shares).
    pub(crate) fn delta_metadata(
        &self,
        up: &Upload,
        ref_key: &str,
        ref_sha256: &str,
        delta_size: u64,
        engine: &str,
        command: String,
    ) -> Metadata {
        meta::build([
            (field::TOOL, self.config().tool.clone()),
            (field::ORIGINAL_NAME, up.name().to_string()),
            (field::FILE_SHA256, up.sha256().to_string()),
            (field::FILE_SIZE, up.size().to_string()),
            (field::CREATED_AT, self.now_iso()),
            (field::REF_KEY, ref_key.to_string()),
            (field::REF_SHA256, ref_sha256.to_string()),
            (field::DELTA_SIZE, delta_size.to_string()),
            (field::DELTA_CMD, command),
            (field::ENGINE, engine.to_string()),
        ])
    }

    /// The max delta/file ratio of this upload.
    pub(crate) fn max_ratio(&self, request: &PutRequest) -> f64 {
        request.max_ratio.unwrap_or(self.config().max_ratio)
    }

    /// The budget of a delta under the max ratio, less `overhead` bytes the object adds.
    pub(crate) fn delta_budget(&self, up: &Upload, request: &PutRequest, overhead: u64) -> u64 {
        ((up.size() as f64 * self.max_ratio(request)).floor() as u64).saturating_sub(overhead)
    }
}
