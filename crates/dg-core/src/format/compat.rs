//! Python DeltaGlider's format: `reference.bin` stored whole, deltas straight against its bytes.

use std::sync::Arc;

use dg_ports::{BlobRef, DiffEngine, Error, Location, ObjectInfo, Result, StagedBlob};
use tracing::warn;

use super::{DeltaObject, Made, NewReference, StorageFormat};
use crate::codec;
use crate::get::{check_sha, check_size, unsized_limit, GetOutcome, Served};
use crate::meta::{self, field, DeltaInfo, NOTE_ZERO_DIFF};
use crate::put::PutRequest;
use crate::service::{DeltaGlider, Format};
use crate::transfer::blocking;
use crate::upload::Upload;

/// Python DeltaGlider's format, for one service.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Compat<'a>(pub &'a DeltaGlider);

impl StorageFormat for Compat<'_> {
    /// The engine chosen for the zero-diff delta.
    type Pending = Arc<dyn DiffEngine>;

    const FORMAT: Format = Format::Compat;

    /// The file itself, whole.
    async fn new_reference(
        &self,
        up: &mut Upload,
        request: &PutRequest,
    ) -> Result<Made<NewReference<Self::Pending>>> {
        let dg = self.0;
        let choice = match dg
            .engines()
            .choose(request.engine.as_deref(), up.size(), up.size())
        {
            Ok(c) => c,
            Err(e) => return Ok(Made::Refused(e.to_string())),
        };
        up.note(choice.passed_over.iter().cloned());
        Ok(Made::Object(NewReference {
            body: up.source().clone(),
            metadata: dg.reference_metadata(up),
            pending: choice.engine,
        }))
    }

    /// The sketch of the file's bytes, as compat deltas are made from them.
    async fn sketch(
        &self,
        up: &mut Upload,
        _likely: Option<&ObjectInfo>,
    ) -> Result<crate::sketch::Sketch> {
        self.0.sketch_of(up.source()).await
    }

    async fn first_delta(&self, up: &Upload, engine: Self::Pending) -> Result<DeltaObject> {
        let dg = self.0;
        let delta = dg
            .encode_checked(
                &engine,
                up.source().clone(),
                up.source().clone(),
                up.sha256(),
                u64::MAX,
                up.dest(),
            )
            .await?
            .ok_or_else(|| Error::invalid("zero-diff delta", "exceeded an unlimited budget"))?;
        let mut metadata = dg.delta_metadata(
            up,
            &up.space().reference().key,
            up.sha256(),
            delta.len(),
            engine.name(),
            command(engine.command_hint(), up.name()),
        );
        metadata.insert(field::NOTE.to_string(), NOTE_ZERO_DIFF.to_string());
        Ok(DeltaObject {
            body: delta,
            metadata,
            engine: engine.name(),
        })
    }

    /// A delta against the whole `reference.bin`.
    async fn delta(
        &self,
        up: &mut Upload,
        reference_info: &ObjectInfo,
        request: &PutRequest,
    ) -> Result<Made<DeltaObject>> {
        let dg = self.0;
        let recorded =
            meta::get(&reference_info.metadata, field::FILE_SHA256).map(str::to_ascii_lowercase);
        let reference = dg
            .load_reference(&reference_info.location, recorded.as_deref())
            .await?;
        let choice =
            match dg
                .engines()
                .choose(request.engine.as_deref(), reference.blob.len(), up.size())
            {
                Ok(c) => c,
                Err(e) => return Ok(Made::Refused(e.to_string())),
            };
        for note in &choice.passed_over {
            warn!(file = %up.dest(), "engine passed over: {note}");
        }
        up.note(choice.passed_over.iter().cloned());
        let budget = dg.delta_budget(up, request, 0);
        let Some(delta) = dg
            .encode_checked(
                &choice.engine,
                reference.blob.clone(),
                up.source().clone(),
                up.sha256(),
                budget,
                up.dest(),
            )
            .await?
        else {
            return Ok(Made::OverBudget { limit: budget });
        };
        let mut metadata = dg.delta_metadata(
            up,
            &reference_info.location.key,
            &reference.sha256,
            delta.len(),
            choice.engine.name(),
            command(choice.engine.command_hint(), up.name()),
        );
        if reference.sha256 == up.sha256() {
            metadata.insert(field::NOTE.to_string(), NOTE_ZERO_DIFF.to_string());
        }
        Ok(Made::Object(DeltaObject {
            body: delta,
            metadata,
            engine: choice.engine.name(),
        }))
    }

    /// Decodes the delta straight against the stored reference.
    async fn rebuild(
        &self,
        source: Location,
        delta: BlobRef,
        prefix: &[u8],
        info: DeltaInfo,
        mut out: Box<dyn StagedBlob>,
    ) -> Result<GetOutcome> {
        let dg = self.0;
        let stored_size = delta.len();
        let ref_loc = source.with_key(info.ref_key.clone());
        let reference = dg
            .load_reference(&ref_loc, info.ref_sha256.as_deref())
            .await
            .map_err(|e| crate::reference::of_file(e, &source))?;
        let engine = dg.engines().for_delta(prefix).cloned().ok_or_else(|| {
            Error::invalid(
                &source,
                format!(
                    "its delta format is not one dg reads (starts with {:02x?}; engines: {})",
                    prefix.get(..prefix.len().min(4)).unwrap_or_default(),
                    dg.engines().names().join(", ")
                ),
            )
        })?;
        let max_output = match info.file_size {
            Some(size) => size,
            None => unsized_limit(
                reference.blob.len(),
                stored_size,
                dg.config().max_object_size,
            ),
        };
        let what = source.to_string();
        if let Some(size) = info.file_size {
            out.reserve(size, &what)?;
        }
        let (out, sha, len) = blocking(move || {
            codec::decode(engine.as_ref(), &reference.blob, &delta, out, max_output)
                .map_err(|e| crate::reference::rename(e, &what))
        })
        .await?;
        if let Some(size) = info.file_size {
            check_size(&source, size, len)?;
        }
        check_sha(&source, &info.file_sha256, &sha)?;
        Ok(GetOutcome {
            blob: out.finish()?,
            source,
            served: Served::Delta,
            size: len,
            stored_size,
            sha256: sha,
            metadata: dg_ports::Metadata::new(),
            last_modified: None,
        })
    }
}

/// The informational command line recorded as `dg-delta-cmd`.
fn command(hint: &str, name: &str) -> String {
    hint.replace("{name}", name)
}
