//! Uploads in dg's native format: plain forms, compressed references, container deltas.

use std::io::Write;
use std::sync::Arc;

use dg_ports::{
    BlobRef, DiffEngine, Error, Level, Location, ObjectInfo, PutMode, PutOptions, Result,
};
use tracing::{debug, info, warn};

use crate::container::{self, Fingerprint, Header, Kind};
use crate::digest::HashingWriter;
use crate::meta::{self, field, FORMAT_NATIVE, NOTE_REFERENCE, NOTE_ZERO_DIFF};
use crate::put::{Created, PutOutcome, PutRequest, Stored, Upload};
use crate::reference::LoadedRef;
use crate::service::{DeltaGlider, Format};
use crate::transfer::blocking;

/// A file's plain form: its bytes with compression inside undone, and how to redo it.
pub(crate) struct Plain {
    pub blob: BlobRef,
    pub fingerprint: Fingerprint,
    /// The compressed recipe, when the plain form differs from the file.
    pub recipe: Option<Vec<u8>>,
    /// What seeing through did, for the user.
    pub note: Option<String>,
    /// The expander's index of the file's streams, when asked for (references keep it).
    pub index: Option<Vec<u8>>,
}

impl DeltaGlider {
    /// The plain form of the upload: seen through when an expander recognises it, otherwise the
    /// file itself. A failed expansion only costs the see-through, never the upload.
    ///
    /// `known` is the reference's index of streams: streams the file shares with the reference
    /// reuse the reference's work. `learn` asks for the file's own index.
    async fn plain_form(
        &self,
        up: &Upload,
        known: Option<Arc<Vec<u8>>>,
        learn: bool,
    ) -> Result<Plain> {
        let identity = || Plain {
            blob: up.source.clone(),
            fingerprint: Fingerprint {
                size: up.size,
                sha256: up.sha256.clone(),
            },
            recipe: None,
            note: None,
            index: None,
        };
        let Some(expander) = self.expander().cloned() else {
            return Ok(identity());
        };
        let compressor = self.compressor()?.clone();
        let staging = self.staging().clone();
        let source = up.source.clone();
        let (want_sha, want_len) = (up.sha256.clone(), up.size);
        let expanded = blocking(move || {
            let input = source.map()?;
            let mut plain = HashingWriter::new(staging.create()?);
            let mut recipe = Vec::new();
            let Some(summary) = expander.expand_with(
                &input,
                &mut plain,
                &mut recipe,
                known.as_deref().map(Vec::as_slice),
                learn,
            )?
            else {
                return Ok(None);
            };
            plain
                .flush()
                .map_err(|e| Error::io("writing a plain form", e))?;
            let (writer, sha256, size) = plain.finish();
            let blob = writer.finish()?;
            // The recipe is only kept once it provably rebuilds the file (streams reused from
            // the reference were proven when the reference was made).
            if input.len() as u64 != want_len
                || !expander.verify(&blob.map()?, &recipe, &input, &summary.reused_spans)?
            {
                return Err(Error::Corrupt {
                    what: "a see-through recipe just made".into(),
                    check: "rebuild",
                    expected: want_sha,
                    actual: "different bytes".into(),
                });
            }
            let mut packed = Vec::new();
            compressor.compress(&mut &recipe[..], &mut packed)?;
            Ok(Some((blob, Fingerprint { size, sha256 }, packed, summary)))
        })
        .await;
        match expanded {
            Ok(Some((blob, fingerprint, recipe, summary))) => {
                let reused = if summary.reused > 0 {
                    format!(", {} as in the reference", summary.reused)
                } else {
                    String::new()
                };
                let note = format!(
                    "seen through {} of {} compressed streams{reused} ({} bytes plain, recipe {} bytes)",
                    summary.reproduced,
                    summary.streams,
                    fingerprint.size,
                    recipe.len(),
                );
                // Why some streams stayed compressed is detail for --debug only.
                debug!(file = %up.dest, details = ?summary.notes, "{note}");
                Ok(Plain {
                    blob,
                    fingerprint,
                    recipe: Some(recipe),
                    note: Some(note),
                    index: summary.index,
                })
            }
            Ok(None) => {
                debug!(file = %up.dest, "fallback: not seen through; the delta is taken on the file's bytes as they are");
                Ok(identity())
            }
            Err(e) => {
                warn!(file = %up.dest, error = %e, "could not see through the file; storing its bytes as they are");
                let mut plain = identity();
                plain.note = Some(format!(
                    "see-through failed ({e}); used the bytes as they are"
                ));
                Ok(plain)
            }
        }
    }

    fn original(up: &Upload) -> Fingerprint {
        Fingerprint {
            size: up.size,
            sha256: up.sha256.clone(),
        }
    }

    /// Stores the file's plain form, compressed, as a native `reference.bin` (create-only),
    /// plus a zero-diff delta.
    pub(crate) async fn create_native_reference(
        &self,
        up: &mut Upload,
        request: &PutRequest,
    ) -> Result<Created> {
        let level = self.level_for(&up.space.bucket, request.level).await?;
        let compressor = self.compressor()?.clone();
        let plain = self.plain_form(up, None, true).await?;
        up.notes.extend(plain.note.clone());
        let header = Header {
            kind: Kind::Reference,
            original: Self::original(up),
            plain: plain.fingerprint.clone(),
            basis: None,
            recipe: plain.recipe.clone(),
            identical: false,
            streams: plain.index.clone(),
        };
        let staging = self.staging().clone();
        let source = plain.blob.clone();
        let packed = blocking(move || {
            let mut out = staging.create()?;
            out.write_all(&container::encode_header(&header)?)
                .map_err(|e| Error::io("writing a native reference", e))?;
            compressor.compress_at(&mut source.reader()?, &mut out, level)?;
            out.finish()
        })
        .await?;
        let ref_loc = up.space.reference();
        // Check the stored form unpacks to the plain form before anything is written.
        let unpacked = self
            .unpack_native_reference(&ref_loc, packed.clone())
            .await?;
        if unpacked.sha256 != plain.fingerprint.sha256 {
            return Err(Error::Corrupt {
                what: format!("the native reference just made for {}", up.dest),
                check: "SHA-256 of the plain form",
                expected: plain.fingerprint.sha256,
                actual: unpacked.sha256,
            });
        }
        let mut metadata = meta::build([
            (field::TOOL, self.config().tool.clone()),
            (field::SOURCE_NAME, up.name.clone()),
            (field::FILE_SHA256, up.sha256.clone()),
            (field::CREATED_AT, self.now_iso()),
            (field::NOTE, NOTE_REFERENCE.to_string()),
        ]);
        native_fields(&mut metadata, &plain.fingerprint);
        let index = plain.index.clone().map(Arc::new);
        if let Some(index) = &index {
            metadata.insert(
                field::STREAMS_SHA256.into(),
                crate::digest::sha256_hex(index),
            );
        }
        let reference_size = packed.len();
        let put = self
            .storage()
            .put(
                &ref_loc,
                packed,
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
        info!(reference = %ref_loc, stored = reference_size, size = up.size, "created native reference");
        let loaded = LoadedRef {
            blob: unpacked.blob,
            sha256: unpacked.sha256,
        };
        self.offer_to_cache(&loaded).await;
        if let Some(recipe) = &plain.recipe {
            self.offer_whole_reference(&loaded.sha256, recipe, &up.source)
                .await;
        }
        self.remember_ref(&loaded);
        if let Some(index) = index {
            self.remember_index(index).await;
        }
        let mut outcome = self.write_identical(up, &plain, true).await?;
        outcome.reference_size = Some(reference_size);
        Ok(Created::Done(Box::new(outcome)))
    }

    /// A delta saying "this file is the reference's original".
    async fn write_identical(
        &self,
        up: &Upload,
        plain: &Plain,
        created_reference: bool,
    ) -> Result<PutOutcome> {
        let header = Header {
            kind: Kind::Delta,
            original: Self::original(up),
            plain: plain.fingerprint.clone(),
            basis: Some(plain.fingerprint.sha256.clone()),
            recipe: plain.recipe.clone(),
            identical: true,
            streams: None,
        };
        let bytes = container::encode_header(&header)?;
        let mut metadata = self.delta_metadata(
            up,
            &up.sha256,
            bytes.len() as u64,
            "identical",
            "dg native delta: identical to reference.bin".into(),
        );
        metadata.insert(field::NOTE.to_string(), NOTE_ZERO_DIFF.to_string());
        native_fields(&mut metadata, &plain.fingerprint);
        let stored = Stored::Delta {
            engine: "identical",
            created_reference,
            format: Format::Native,
        };
        let delta = dg_ports::BytesBlob::shared(bytes);
        self.write_delta(up, delta, metadata, stored).await
    }

    /// Stores the file as a native delta between plain forms, or whole when that is smaller.
    pub(crate) async fn put_native_delta(
        &self,
        mut up: Upload,
        reference: &ObjectInfo,
        request: &PutRequest,
    ) -> Result<PutOutcome> {
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
        let basis = self.native_basis(&reference.location, basis_sha).await?;
        let known = self.stream_index(reference).await;
        let plain = self.plain_form(&up, known, false).await?;
        up.notes.extend(plain.note.clone());
        if up.sha256 == ref_original {
            return self.write_identical(&up, &plain, false).await;
        }
        let choice = match self.engines().choose_native(
            request.engine.as_deref(),
            basis.blob.len(),
            plain.fingerprint.size,
        ) {
            Ok(c) => c,
            Err(e) => return self.put_direct(&up, format!("{e}")).await,
        };
        // An engine the user named and could not have is news; the native default passed
        // over for a large file (LZMA's memory limit) is not.
        if request.engine.is_some() {
            up.notes.extend(choice.passed_over.iter().cloned());
        } else {
            for why in &choice.passed_over {
                debug!(%why, "native default engine passed over");
            }
        }
        let header = Header {
            kind: Kind::Delta,
            original: Self::original(&up),
            plain: plain.fingerprint.clone(),
            basis: Some(basis.sha256.clone()),
            recipe: plain.recipe.clone(),
            identical: false,
            streams: None,
        };
        let head = container::encode_header(&header)?;
        let budget = self.delta_budget(&up, request, head.len() as u64);
        let level = self.level_for(&up.space.bucket, request.level).await?;
        let Some((engine, delta)) = self
            .encode_native(
                request,
                level,
                choice.engine.clone(),
                &basis.blob,
                &plain.blob,
                &plain.fingerprint.sha256,
                budget,
                &up.dest,
            )
            .await?
        else {
            return self.put_direct(&up, self.over_ratio_reason(request)).await;
        };
        let staging = self.staging().clone();
        let packed = blocking(move || {
            let mut out = staging.create()?;
            let mut body = delta.reader()?;
            out.write_all(&head)
                .and_then(|_| std::io::copy(&mut body, &mut out))
                .map_err(|e| Error::io("writing a native delta", e))?;
            out.finish()
        })
        .await?;
        let mut metadata = self.delta_metadata(
            &up,
            &ref_original,
            packed.len(),
            engine.name(),
            format!("dg native delta ({} between plain forms)", engine.name()),
        );
        native_fields(&mut metadata, &plain.fingerprint);
        let stored = Stored::Delta {
            engine: engine.name(),
            created_reference: false,
            format: Format::Native,
        };
        self.write_delta(&up, packed, metadata, stored).await
    }
}

impl DeltaGlider {
    /// Encodes a native delta with `chosen`, or — when no engine was asked for and `chosen` is
    /// not the first engine (VCDIFF) — with VCDIFF first, then `chosen` (LZMA) only where it
    /// can pay, keeping the smaller. VCDIFF streams and is fast; LZMA's deltas are 20–30%
    /// smaller on text and binaries but it is up to ten times slower on high-entropy data. So
    /// LZMA is skipped when VCDIFF's delta is under 1/[`SECOND_TRY_FLOOR`] of the file (nearly the
    /// same files: LZMA's matches stop at 273 bytes, so its delta cannot go lower) or over
    /// 1/[`SECOND_TRY_CEILING`] (mostly new, incompressible content). Below the best `level`
    /// LZMA is not tried where VCDIFF made a delta, and at the fast level not at all.
    /// `None`: over `budget`.
    #[allow(clippy::too_many_arguments)]
    async fn encode_native(
        &self,
        request: &PutRequest,
        level: Level,
        chosen: Arc<dyn DiffEngine>,
        basis: &BlobRef,
        plain: &BlobRef,
        plain_sha: &str,
        budget: u64,
        what: &Location,
    ) -> Result<Option<(Arc<dyn DiffEngine>, BlobRef)>> {
        let first = self
            .engines()
            .fallback(chosen.name())
            .filter(|e| request.engine.is_none() && e.supports(basis.len(), plain.len()).is_ok());
        let Some(first) = first else {
            let delta = self
                .encode_checked(
                    &chosen,
                    basis.clone(),
                    plain.clone(),
                    plain_sha,
                    budget,
                    what,
                )
                .await?;
            return Ok(delta.map(|d| (chosen, d)));
        };
        let size = plain.len();
        let Some(fast) = self
            .encode_checked(
                &first,
                basis.clone(),
                plain.clone(),
                plain_sha,
                budget,
                what,
            )
            .await?
        else {
            // VCDIFF's delta is over the budget. For a compressed file the budget (a share of
            // the compressed size) can sit far below the ceiling of the plain form, where
            // LZMA's smaller delta may still fit: try it there, not beyond.
            if level == Level::Fast || budget.saturating_mul(SECOND_TRY_CEILING) >= size {
                return Ok(None);
            }
            let delta = self
                .encode_checked(
                    &chosen,
                    basis.clone(),
                    plain.clone(),
                    plain_sha,
                    budget,
                    what,
                )
                .await?;
            return Ok(delta.map(|d| (chosen, d)));
        };
        // Only the best level spends the second engine's time on a delta VCDIFF already made.
        let pays = level == Level::Best
            && fast.len().saturating_mul(SECOND_TRY_FLOOR) >= size
            && fast.len().saturating_mul(SECOND_TRY_CEILING) <= size;
        if !pays {
            debug!(
                engine = first.name(),
                delta = fast.len(),
                size,
                "{} not tried: the files are nearly the same or mostly new",
                chosen.name()
            );
            return Ok(Some((first, fast)));
        }
        let smaller = self
            .encode_checked(
                &chosen,
                basis.clone(),
                plain.clone(),
                plain_sha,
                fast.len().saturating_sub(1),
                what,
            )
            .await?;
        Ok(Some(match smaller {
            Some(d) if d.len() < fast.len() => (chosen, d),
            _ => (first, fast),
        }))
    }
}

/// Below 1/`SECOND_TRY_FLOOR` of the file, VCDIFF's delta is at LZMA's floor (~1 KB per MB).
const SECOND_TRY_FLOOR: u64 = 1000;
/// Above 1/`SECOND_TRY_CEILING` of the file, VCDIFF's delta is mostly new incompressible bytes.
const SECOND_TRY_CEILING: u64 = 4;

/// Marks metadata as native and records the plain form.
fn native_fields(metadata: &mut dg_ports::Metadata, plain: &Fingerprint) {
    metadata.insert(field::FORMAT.into(), FORMAT_NATIVE.into());
    metadata.insert(field::PLAIN_SHA256.into(), plain.sha256.clone());
    metadata.insert(field::PLAIN_SIZE.into(), plain.size.to_string());
}
