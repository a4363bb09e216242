//! Downloads in dg's native format: decode the plain form, then redo its compression exactly.

use std::io::{Read, Write};
use std::sync::Arc;

use dg_ports::{BlobRef, Compressor, Error, Expander, Location, Result, Similar, StagedBlob};

use crate::container::{self, Fingerprint, Header, Kind};
use crate::digest::HashingWriter;
use crate::get::{check_recorded_size, GetOutcome, Served};
use crate::meta::DeltaInfo;
use crate::reference::rename;
use crate::service::DeltaGlider;
use crate::transfer::blocking;

/// Largest recipe accepted after decompression (it is held in memory).
const MAX_RECIPE: u64 = 1 << 30;

/// The most a recipe may take once decompressed: far more than any real one (a recipe
/// records how members were compressed, a small part of the file), never more than
/// [`MAX_RECIPE`].
fn recipe_limit(header: &Header) -> u64 {
    header.original.size.saturating_add(1 << 20).min(MAX_RECIPE)
}

impl DeltaGlider {
    /// Rebuilds a file from a native delta object (already in `delta`).
    pub(crate) async fn rebuild_native(
        &self,
        source: Location,
        delta: BlobRef,
        info: DeltaInfo,
        out: Box<dyn StagedBlob>,
    ) -> Result<GetOutcome> {
        let stored_size = delta.len();
        let what = source.to_string();
        let header = {
            let (d, w) = (delta.clone(), what.clone());
            blocking(move || container::read_header(&mut d.reader()?).map_err(|e| rename(e, &w)))
                .await?
        };
        if header.kind != Kind::Delta {
            return Err(Error::invalid(
                &what,
                "a native reference where a delta belongs",
            ));
        }
        let max = self.config().max_object_size;
        check_recorded_size(
            &source,
            Some(header.original.size.max(header.plain.size)),
            max,
        )?;
        if !header
            .original
            .sha256
            .eq_ignore_ascii_case(&info.file_sha256)
        {
            return Err(Error::invalid(
                &what,
                "its metadata and its header name different files",
            ));
        }
        if info
            .file_size
            .is_some_and(|size| size != header.original.size)
        {
            return Err(Error::invalid(
                &what,
                "its metadata and its header give the file different sizes",
            ));
        }
        let basis_sha = header.basis.clone().unwrap_or_default();
        let ref_loc = source.with_key(info.ref_key.clone());
        let basis = self
            .native_basis(&ref_loc, &basis_sha)
            .await
            .map_err(|e| crate::reference::of_file(e, &source))?;
        let engines = self.engines().clone();
        let staging = self.staging().clone();
        let tools = self.rebuild_tools(&header)?;
        // A layer's whole file is not kept beside it: its files' recipes name the streams of
        // the deltaspace's reference.bin, not the layer's.
        let layered = crate::layers::is_layer_key(&info.ref_key);
        let whole = match (&header.recipe, &tools) {
            (Some(_), Some(_)) if !layered => self.cached_whole_reference(&basis_sha).await,
            _ => None,
        };
        let used_whole = whole.is_some();
        // the reference's own file, rebuilt: kept whole for the files of its deltaspace
        let keep_whole = (header.identical && !used_whole && !layered)
            .then(|| header.recipe.clone())
            .flatten();
        let rebuilt = blocking(move || {
            // one mapping of the reference's plain form for all that reads it
            let reference = basis.blob.map()?;
            let (plain, mapped) = if header.identical {
                (basis.blob, Some(reference.clone()))
            } else {
                let plain = decode_plain(&engines, &staging, &reference, &delta, &header, &what)?;
                (plain, None)
            };
            let beside = whole.map(|whole| Beside {
                whole,
                plain: reference,
            });
            finish_from_plain(&plain, mapped, &header, tools, beside, out, &what)
        })
        .await;
        if rebuilt.is_err() && used_whole {
            // it may be what went wrong: the next try rebuilds without it
            self.forget_whole_reference(&basis_sha).await;
        }
        let (out, sha, len) = rebuilt?;
        let blob = out.finish()?;
        if let Some(recipe) = keep_whole {
            self.offer_whole_reference(&basis_sha, &recipe, &blob).await;
        }
        Ok(GetOutcome {
            blob,
            source,
            served: Served::Delta,
            size: len,
            stored_size,
            sha256: sha,
            metadata: dg_ports::Metadata::new(),
            last_modified: None,
        })
    }

    /// Rebuilds the original file of a native reference object (already in `stored`).
    pub(crate) async fn rebuild_native_reference(
        &self,
        source: Location,
        stored: BlobRef,
        out: Box<dyn StagedBlob>,
    ) -> Result<GetOutcome> {
        let stored_size = stored.len();
        let header = {
            let (s, w) = (stored.clone(), source.to_string());
            blocking(move || container::read_header(&mut s.reader()?).map_err(|e| rename(e, &w)))
                .await?
        };
        let max = self.config().max_object_size;
        check_recorded_size(
            &source,
            Some(header.original.size.max(header.plain.size)),
            max,
        )?;
        let plain = self.unpack_native_reference(&source, stored).await?;
        let tools = self.rebuild_tools(&header)?;
        let what = source.to_string();
        let recipe = header.recipe.clone();
        let plain_sha = plain.sha256.clone();
        let (out, sha, len) = blocking(move || {
            finish_from_plain(&plain.blob, None, &header, tools, None, out, &what)
        })
        .await?;
        let blob = out.finish()?;
        if let Some(recipe) = recipe {
            self.offer_whole_reference(&plain_sha, &recipe, &blob).await;
        }
        Ok(GetOutcome {
            blob,
            source,
            served: Served::Direct,
            size: len,
            stored_size,
            sha256: sha,
            metadata: dg_ports::Metadata::new(),
            last_modified: None,
        })
    }

    /// The plain form of the layer at `location` (already in `stored`, with `metadata`): its
    /// delta decoded against its deltaspace's `reference.bin`, which must not be a layer.
    pub(crate) async fn unpack_layer(
        &self,
        location: &Location,
        stored: BlobRef,
        metadata: &dg_ports::Metadata,
    ) -> Result<crate::reference::LoadedRef> {
        let what = location.to_string();
        let base_key = match crate::meta::classify(&location.key, metadata)? {
            crate::meta::ObjectKind::Delta(info) if !crate::layers::is_layer_key(&info.ref_key) => {
                info.ref_key
            }
            _ => {
                return Err(Error::invalid(
                    &what,
                    "a layer that is not a delta against its deltaspace's reference.bin",
                ))
            }
        };
        let header = {
            let (s, w) = (stored.clone(), what.clone());
            blocking(move || container::read_header(&mut s.reader()?).map_err(|e| rename(e, &w)))
                .await?
        };
        if header.kind != Kind::Delta || header.identical {
            return Err(Error::invalid(&what, "a layer that holds no delta"));
        }
        check_recorded_size(
            location,
            Some(header.plain.size),
            self.config().max_object_size,
        )?;
        let basis_sha = header.basis.clone().unwrap_or_default();
        let base = Box::pin(self.native_basis(&location.with_key(base_key), &basis_sha)).await?;
        // decode_plain hashed the plain form and checked it against the header
        let sha256 = header.plain.sha256.to_ascii_lowercase();
        let (engines, staging) = (self.engines().clone(), self.staging().clone());
        let plain = blocking(move || {
            let reference = base.blob.map()?;
            decode_plain(&engines, &staging, &reference, &stored, &header, &what)
        })
        .await?;
        Ok(crate::reference::LoadedRef {
            blob: plain,
            sha256,
        })
    }

    fn rebuild_tools(&self, header: &Header) -> Result<Option<RebuildTools>> {
        if header.recipe.is_none() {
            return Ok(None);
        }
        let expander = self.expander().cloned().ok_or_else(|| Error::Unsupported {
            what: "rebuilding a seen-through file in a dg built without see-through support".into(),
        })?;
        Ok(Some(RebuildTools {
            compressor: self.compressor()?.clone(),
            expander,
        }))
    }
}

struct RebuildTools {
    compressor: Arc<dyn Compressor>,
    expander: Arc<dyn Expander>,
}

/// The cached whole form of a file's native reference (see [`super::whole_reference`]) and
/// the reference's plain form.
struct Beside {
    whole: BlobRef,
    plain: dg_ports::Mapped,
}

/// What a rebuild beside the whole reference reads: the cache entry (the reference's file
/// starts at `original_at`), the reference's plain form and its recipe.
struct SimilarParts {
    entry: dg_ports::Mapped,
    original_at: usize,
    plain: dg_ports::Mapped,
    recipe: Vec<u8>,
}

impl SimilarParts {
    fn similar(&self) -> Similar<'_> {
        Similar {
            original: self.entry.get(self.original_at..).unwrap_or_default(),
            plain: &self.plain,
            recipe: &self.recipe,
        }
    }
}

/// The parts of `beside` for a rebuild beside it; `None` (the rebuild goes on without it)
/// when the entry cannot be read.
fn similar_parts(beside: &Beside, tools: &RebuildTools) -> Option<SimilarParts> {
    let entry = beside.whole.map().ok()?;
    let (packed, original) = super::whole_reference::parts(&entry)?;
    let original_at = entry.len() - original.len();
    let mut recipe = Vec::new();
    let limit = (entry.len() as u64).saturating_add(1 << 20).min(MAX_RECIPE);
    if let Err(e) = tools
        .compressor
        .decompress(&mut &packed[..], &mut recipe, limit)
    {
        tracing::warn!(error = %e, "a cached whole reference is unreadable; rebuilding without it");
        return None;
    }
    Some(SimilarParts {
        entry,
        original_at,
        plain: beside.plain.clone(),
        recipe,
    })
}

/// Writes the original file from its plain form (`mapped`, when the caller has it mapped
/// already) into `out`, checking size and SHA-256; beside the whole form of its reference
/// when `beside` has it.
fn finish_from_plain(
    plain: &BlobRef,
    mapped: Option<dg_ports::Mapped>,
    header: &Header,
    tools: Option<RebuildTools>,
    beside: Option<Beside>,
    mut out: Box<dyn StagedBlob>,
    what: &str,
) -> Result<(Box<dyn StagedBlob>, String, u64)> {
    out.reserve(header.original.size, what)?;
    let mut hashing = HashingWriter::new(out);
    match (&header.recipe, tools) {
        (Some(packed), Some(tools)) => {
            let mut recipe = Vec::new();
            tools
                .compressor
                .decompress(&mut &packed[..], &mut recipe, recipe_limit(header))
                .map_err(|e| rename(e, what))?;
            let bytes = match mapped {
                Some(m) => m,
                None => plain.map()?,
            };
            let similar = beside.as_ref().and_then(|b| similar_parts(b, &tools));
            let max = header.original.size;
            match &similar {
                Some(parts) => tools.expander.rebuild_beside(
                    &bytes,
                    &recipe,
                    &mut hashing,
                    max,
                    parts.similar(),
                ),
                None => tools.expander.rebuild(&bytes, &recipe, &mut hashing, max),
            }
            .map_err(|e| rename(e, what))?;
        }
        _ => {
            let mut reader = plain.reader()?;
            std::io::copy(&mut reader, &mut hashing)
                .map_err(|e| Error::io("writing a rebuilt file", e))?;
        }
    }
    hashing
        .flush()
        .map_err(|e| Error::io("writing a rebuilt file", e))?;
    let (out, sha, len) = hashing.finish();
    check(what, "SHA-256", &header.original, &sha, len)?;
    Ok((out, sha, len))
}

/// Decodes the plain form of the native delta `delta` (whose header is `header`) against
/// `reference`, the plain form of its basis, checked against the header.
fn decode_plain(
    engines: &crate::EngineSet,
    staging: &Arc<dyn dg_ports::Staging>,
    reference: &[u8],
    delta: &BlobRef,
    header: &Header,
    what: &str,
) -> Result<BlobRef> {
    let mut reader = delta.reader()?;
    container::read_header(&mut reader)?;
    let mut prefix = [0u8; 16];
    let n = read_up_to(&mut reader, &mut prefix)?;
    let head = prefix.get(..n).unwrap_or_default();
    let engine = engines
        .for_delta(head)
        .cloned()
        .ok_or_else(|| Error::invalid(what, "its delta is in a format dg does not read"))?;
    let mut tail = std::io::Cursor::new(head.to_vec()).chain(reader);
    let mut staged = staging.create()?;
    staged.reserve(header.plain.size, what)?;
    let mut plain = HashingWriter::new(staged);
    engine
        .decode(reference, &mut tail, &mut plain, header.plain.size)
        .map_err(|e| rename(e, what))?;
    let (writer, sha, len) = plain.finish();
    check(what, "SHA-256 of the plain form", &header.plain, &sha, len)?;
    writer.finish()
}

fn check(what: &str, check: &'static str, want: &Fingerprint, sha: &str, len: u64) -> Result<()> {
    if want.size != len {
        return Err(Error::Corrupt {
            what: what.to_string(),
            check: "size",
            expected: want.size.to_string(),
            actual: len.to_string(),
        });
    }
    if want.sha256 != sha {
        return Err(Error::Corrupt {
            what: what.to_string(),
            check,
            expected: want.sha256.clone(),
            actual: sha.to_string(),
        });
    }
    Ok(())
}

fn read_up_to(r: &mut dyn Read, buf: &mut [u8]) -> Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(buf.get_mut(filled..).unwrap_or_default()) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io("reading a delta", e)),
        }
    }
    Ok(filled)
}
