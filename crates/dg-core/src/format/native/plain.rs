//! A file's plain form for the native format: its bytes with the compression inside undone
//! (when an expander sees through it), and the recipe that redoes it exactly.

use std::io::Write;
use std::sync::Arc;

use dg_ports::{BlobRef, Error, Result};
use tracing::{debug, warn};

use crate::container::Fingerprint;
use crate::digest::HashingWriter;
use crate::service::DeltaGlider;
use crate::transfer::blocking;
use crate::upload::Upload;

/// A file's plain form: its bytes with compression inside undone, and how to redo it.
#[derive(Clone, Debug)]
pub(crate) struct Plain {
    /// The plain form's bytes (the file's own when nothing was seen through).
    pub(crate) blob: BlobRef,
    /// The plain form's size and SHA-256.
    pub(crate) fingerprint: Fingerprint,
    /// The compressed recipe, when the plain form differs from the file.
    pub(crate) recipe: Option<Vec<u8>>,
    /// What seeing through did, for the user.
    pub(crate) note: Option<String>,
    /// The expander's index of the file's streams, when asked for (references keep it).
    pub(crate) index: Option<Vec<u8>>,
    /// Compressed streams found in the file (0 when nothing was seen through).
    pub(crate) streams: usize,
}

impl DeltaGlider {
    /// The plain form of the upload: seen through when an expander recognises it, otherwise the
    /// file itself. A failed expansion only costs the see-through, never the upload.
    ///
    /// `known` is the reference's index of streams: streams the file shares with the reference
    /// reuse the reference's work. `learn` asks for the file's own index. A plain form the
    /// upload holds already, made with the same `known`, is returned as it is.
    pub(crate) async fn plain_form(
        &self,
        up: &Upload,
        known: Option<Arc<Vec<u8>>>,
        learn: bool,
    ) -> Result<Plain> {
        // One made already with the same reference index serves (the index shapes the recipe,
        // which downloads beside that reference take advantage of).
        if let Some(made) = up.plain_made_with(known.as_ref()) {
            return Ok(made.clone());
        }
        let identity = || Plain {
            blob: up.source().clone(),
            fingerprint: up.fingerprint(),
            recipe: None,
            note: None,
            index: None,
            streams: 0,
        };
        let Some(expander) = self.expander().cloned() else {
            return Ok(identity());
        };
        let compressor = self.compressor()?.clone();
        let staging = self.staging().clone();
        let source = up.source().clone();
        let (want_sha, want_len) = (up.sha256().to_string(), up.size());
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
                debug!(file = %up.dest(), details = ?summary.notes, "{note}");
                Ok(Plain {
                    blob,
                    fingerprint,
                    recipe: Some(recipe),
                    note: Some(note),
                    index: summary.index,
                    streams: summary.streams,
                })
            }
            Ok(None) => {
                debug!(file = %up.dest(), "fallback: not seen through; the delta is taken on the file's bytes as they are");
                Ok(identity())
            }
            Err(e) => {
                warn!(file = %up.dest(), error = %e, "could not see through the file; storing its bytes as they are");
                let mut plain = identity();
                plain.note = Some(format!(
                    "see-through failed ({e}); used the bytes as they are"
                ));
                Ok(plain)
            }
        }
    }
}
