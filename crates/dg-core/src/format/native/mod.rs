//! dg's native format: references stored compressed as their plain form (compression inside
//! undone, with a recipe to redo it), deltas between plain forms in a small container.

mod encode;
pub(crate) mod plain;
mod rebuild;
mod whole_reference;

use std::io::Write;
use std::sync::Arc;

use dg_ports::{BlobRef, Error, Location, ObjectInfo, Result, StagedBlob};
use tracing::debug;

use super::{DeltaObject, Made, NewReference, StorageFormat};
use crate::container::{self, Fingerprint, Header, Kind};
use crate::get::GetOutcome;
use crate::meta::{self, field, DeltaInfo, FORMAT_NATIVE, NOTE_ZERO_DIFF};
use crate::put::PutRequest;
use crate::reference::LoadedRef;
use crate::service::{DeltaGlider, Format};
use crate::transfer::blocking;
use crate::upload::Upload;
use plain::Plain;

/// dg's native format, for one service.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Native<'a>(pub &'a DeltaGlider);

/// What a new native reference hands on to its first delta.
#[derive(Debug)]
pub(crate) struct Pending {
    /// The file's plain form.
    plain: Plain,
    /// The reference's plain form as it unpacked from the object just written.
    loaded: LoadedRef,
    /// The file's index of compressed streams, when the expander made one.
    index: Option<Arc<Vec<u8>>>,
}

impl StorageFormat for Native<'_> {
    type Pending = Pending;

    const FORMAT: Format = Format::Native;

    /// The file's plain form, compressed, behind a header (and its recipe and stream index);
    /// checked to unpack to the plain form.
    async fn new_reference(
        &self,
        up: &mut Upload,
        request: &PutRequest,
    ) -> Result<Made<NewReference<Pending>>> {
        let dg = self.0;
        let level = dg.level_for(&up.space().bucket, request.level).await?;
        let compressor = dg.compressor()?.clone();
        let plain = dg.plain_form(up, None, true).await?;
        up.note(plain.note.clone());
        let header = Header {
            kind: Kind::Reference,
            original: up.fingerprint(),
            plain: plain.fingerprint.clone(),
            basis: None,
            recipe: plain.recipe.clone(),
            identical: false,
            streams: plain.index.clone(),
        };
        let staging = dg.staging().clone();
        let source = plain.blob.clone();
        let packed = blocking(move || {
            let mut out = staging.create()?;
            out.write_all(&container::encode_header(&header)?)
                .map_err(|e| Error::io("writing a native reference", e))?;
            compressor.compress_at(&mut source.reader()?, &mut out, level)?;
            out.finish()
        })
        .await?;
        let ref_loc = up.space().reference();
        // Check the stored form unpacks to the plain form before anything is written.
        let unpacked = dg.unpack_native_reference(&ref_loc, packed.clone()).await?;
        if unpacked.sha256 != plain.fingerprint.sha256 {
            return Err(Error::Corrupt {
                what: format!("the native reference just made for {}", up.dest()),
                check: "SHA-256 of the plain form",
                expected: plain.fingerprint.sha256,
                actual: unpacked.sha256,
            });
        }
        let mut metadata = dg.reference_metadata(up);
        native_fields(&mut metadata, &plain.fingerprint);
        metadata.insert(field::STREAM_COUNT.into(), plain.streams.to_string());
        let index = plain.index.clone().map(Arc::new);
        if let Some(index) = &index {
            metadata.insert(
                field::STREAMS_SHA256.into(),
                crate::digest::sha256_hex(index),
            );
        }
        Ok(Made::Object(NewReference {
            body: packed,
            metadata,
            pending: Pending {
                plain,
                loaded: unpacked,
                index,
            },
        }))
    }

    /// The sketch of the file's plain form, which is kept in the upload for what follows.
    async fn sketch(
        &self,
        up: &mut Upload,
        likely: Option<&ObjectInfo>,
    ) -> Result<crate::sketch::Sketch> {
        let dg = self.0;
        let known = match likely {
            Some(reference) => {
                // its plain form first (the delta needs it anyway): unpacking it brings its
                // index of streams, which the file's expansion reuses
                if let Some(basis) = meta::get(&reference.metadata, field::PLAIN_SHA256) {
                    if let Err(e) = dg.native_basis(&reference.location, basis).await {
                        debug!(reference = %reference.location, error = %e, "the likely reference is not at hand");
                    }
                }
                dg.stream_index(reference).await
            }
            None => None,
        };
        // a new reference needs its own index; a delta reuses the likely reference's
        let plain = dg.plain_form(up, known.clone(), known.is_none()).await?;
        let sketch = dg.sketch_of(&plain.blob).await?;
        up.set_plain(plain, known);
        Ok(sketch)
    }

    /// Offers the new reference to the caches, then says "this file is the reference's".
    async fn first_delta(&self, up: &Upload, pending: Pending) -> Result<DeltaObject> {
        let dg = self.0;
        let Pending {
            plain,
            loaded,
            index,
        } = pending;
        dg.offer_to_cache(&loaded).await;
        if let Some(recipe) = &plain.recipe {
            dg.offer_whole_reference(&loaded.sha256, recipe, up.source())
                .await;
        }
        dg.remember_ref(&loaded);
        if let Some(index) = index {
            dg.remember_index(index).await;
        }
        identical(dg, up, &plain, &up.space().reference().key)
    }

    /// A delta between the plain forms of the file and the reference.
    async fn delta(
        &self,
        up: &mut Upload,
        reference: &ObjectInfo,
        request: &PutRequest,
    ) -> Result<Made<DeltaObject>> {
        let dg = self.0;
        let ref_meta = &reference.metadata;
        let basis_sha = meta::get(ref_meta, field::PLAIN_SHA256).ok_or_else(|| {
            Error::invalid(
                &reference.location,
                "a native reference without dg-plain-sha256",
            )
        })?;
        let ref_original = meta::get(ref_meta, field::FILE_SHA256)
            .unwrap_or_default()
            .to_ascii_lowercase();
        let basis = dg.native_basis(&reference.location, basis_sha).await?;
        let known = dg.stream_index(reference).await;
        let plain = dg.plain_form(up, known.clone(), false).await?;
        up.note(plain.note.clone());
        // kept: a second delta with the same index (a layer against reference.bin) reuses it
        up.set_plain(plain.clone(), known);
        if up.sha256() == ref_original {
            return identical(dg, up, &plain, &reference.location.key).map(Made::Object);
        }
        let choice = match dg.engines().choose_native(
            request.engine.as_deref(),
            basis.blob.len(),
            plain.fingerprint.size,
        ) {
            Ok(c) => c,
            Err(e) => return Ok(Made::Refused(e.to_string())),
        };
        // An engine the user named and could not have is news; the native default passed
        // over for a large file (LZMA's memory limit) is not.
        if request.engine.is_some() {
            up.note(choice.passed_over.iter().cloned());
        } else {
            for why in &choice.passed_over {
                debug!(%why, "native default engine passed over");
            }
        }
        let header = Header {
            kind: Kind::Delta,
            original: up.fingerprint(),
            plain: plain.fingerprint.clone(),
            basis: Some(basis.sha256.clone()),
            recipe: plain.recipe.clone(),
            identical: false,
            streams: None,
        };
        let head = container::encode_header(&header)?;
        let budget = dg.delta_budget(up, request, head.len() as u64);
        let Some((engine, delta)) = dg
            .encode_native(
                up,
                request,
                choice.engine.clone(),
                &basis.blob,
                &plain,
                budget,
            )
            .await?
        else {
            return Ok(Made::OverBudget { limit: budget });
        };
        let staging = dg.staging().clone();
        let packed = blocking(move || {
            let mut out = staging.create()?;
            let mut body = delta.reader()?;
            out.write_all(&head)
                .and_then(|_| std::io::copy(&mut body, &mut out))
                .map_err(|e| Error::io("writing a native delta", e))?;
            out.finish()
        })
        .await?;
        let mut metadata = dg.delta_metadata(
            up,
            &reference.location.key,
            &ref_original,
            packed.len(),
            engine.name(),
            format!("dg native delta ({} between plain forms)", engine.name()),
        );
        native_fields(&mut metadata, &plain.fingerprint);
        Ok(Made::Object(DeltaObject {
            body: packed,
            metadata,
            engine: engine.name(),
        }))
    }

    async fn rebuild(
        &self,
        source: Location,
        delta: BlobRef,
        _prefix: &[u8],
        info: DeltaInfo,
        out: Box<dyn StagedBlob>,
    ) -> Result<GetOutcome> {
        self.0.rebuild_native(source, delta, info, out).await
    }
}

impl Native<'_> {
    /// Rebuilds the original file of a native reference object (already in `stored`).
    pub(crate) async fn read_reference(
        &self,
        source: Location,
        stored: BlobRef,
        out: Box<dyn StagedBlob>,
    ) -> Result<GetOutcome> {
        self.0.rebuild_native_reference(source, stored, out).await
    }
}

/// A delta saying "this file is the original of the reference at `ref_key`".
pub(crate) fn identical(
    dg: &DeltaGlider,
    up: &Upload,
    plain: &Plain,
    ref_key: &str,
) -> Result<DeltaObject> {
    let header = Header {
        kind: Kind::Delta,
        original: up.fingerprint(),
        plain: plain.fingerprint.clone(),
        basis: Some(plain.fingerprint.sha256.clone()),
        recipe: plain.recipe.clone(),
        identical: true,
        streams: None,
    };
    let bytes = container::encode_header(&header)?;
    let mut metadata = dg.delta_metadata(
        up,
        ref_key,
        up.sha256(),
        bytes.len() as u64,
        "identical",
        "dg native delta: identical to reference.bin".into(),
    );
    metadata.insert(field::NOTE.to_string(), NOTE_ZERO_DIFF.to_string());
    native_fields(&mut metadata, &plain.fingerprint);
    Ok(DeltaObject {
        body: dg_ports::BytesBlob::shared(bytes),
        metadata,
        engine: "identical",
    })
}

/// Marks metadata as native and records the plain form.
fn native_fields(metadata: &mut dg_ports::Metadata, plain: &Fingerprint) {
    metadata.insert(field::FORMAT.into(), FORMAT_NATIVE.into());
    metadata.insert(field::PLAIN_SHA256.into(), plain.sha256.clone());
    metadata.insert(field::PLAIN_SIZE.into(), plain.size.to_string());
}
