//! The see-through expander behind the [`Expander`] port: gzip, zip, xz and bzip2 streams undone, recreated bit for bit on the way back.
//!
//! The codec itself is the [`dg_seethrough`] crate; this adapter maps its results and errors.

use std::io::Write;

use dg_ports::{CompareWriter, Error, ExpandSummary, Expander, Result, ReusedBytes, Similar};

use dg_seethrough::{ExpandOptions, RawStreams, Reused, SeeThroughError, StreamIndex};

/// gzip (`.gz`, `.tgz`, `.tar.gz`, `.crate`…), zip-family (`.zip`, `.jar`, `.whl`, `.apk`,
/// `.nupkg`…), xz (`.tar.xz`, `.txz`), bzip2 (`.tar.bz2`, `.tbz2`, `.bz2`), ar (`.deb`) and
/// `.rpm` files, and tar and cpio archives with such members (`.gem`), nested up to four levels (the `.jar`s
/// inside a `.tar.gz`, or in the `data.tar.xz` of a `.deb`), seen through to their plaintext
/// (zlib, preflate, liblzma or libbzip2 recreates the compressed bytes on the way back).
#[derive(Clone, Debug)]
pub struct SeeThrough {
    /// Expansion settings.
    pub options: ExpandOptions,
}

impl Default for SeeThrough {
    fn default() -> Self {
        SeeThrough {
            // The domain checks every recipe by rebuilding from the stored plain form, streaming;
            // the in-memory self-check would hold the whole plain form.
            options: ExpandOptions {
                self_check: false,
                ..ExpandOptions::default()
            },
        }
    }
}

fn map_error(e: SeeThroughError) -> Error {
    match e {
        SeeThroughError::Io(io) => Error::io("seeing through a compressed file", io),
        SeeThroughError::OutputLimit { limit } => Error::LimitExceeded {
            what: "a rebuilt file".into(),
            limit,
        },
        SeeThroughError::UnsupportedVersion { found, supported } => Error::Unsupported {
            what: format!(
                "see-through recipe version {found} (this dg reads {supported}; upgrade dg)"
            ),
        },
        other => Error::InvalidData {
            what: "see-through recipe".into(),
            reason: "it does not rebuild the file".into(),
            source: Some(Box::new(other)),
        },
    }
}

impl Expander for SeeThrough {
    fn name(&self) -> &'static str {
        "preflate-v1"
    }

    fn expand(
        &self,
        input: &[u8],
        plain: &mut dyn Write,
        recipe: &mut dyn Write,
    ) -> Result<Option<ExpandSummary>> {
        self.expand_with(input, plain, recipe, None, false)
    }

    fn expand_with(
        &self,
        input: &[u8],
        plain: &mut dyn Write,
        recipe: &mut dyn Write,
        known: Option<&[u8]>,
        learn: bool,
    ) -> Result<Option<ExpandSummary>> {
        let known = known.and_then(StreamIndex::decode);
        let stats =
            dg_seethrough::expand_with(input, plain, recipe, &self.options, known.as_ref(), learn)
                .map_err(map_error)?;
        Ok(stats.map(|s| ExpandSummary {
            streams: s.streams,
            reproduced: s.reproduced + s.partial,
            kept_raw: s.kept_raw,
            notes: s.notes,
            reused: s.reused,
            reused_spans: s
                .reused_spans
                .into_iter()
                .map(|(at, bytes)| {
                    let bytes = match bytes {
                        Reused::InInput { offset, len } => ReusedBytes::InInput { offset, len },
                        Reused::Held(b) => ReusedBytes::Held(b),
                    };
                    (at, bytes)
                })
                .collect(),
            index: s.index.map(|i| i.encode()),
        }))
    }

    fn verify(
        &self,
        plain: &[u8],
        recipe: &[u8],
        original: &[u8],
        reused: &[(u64, ReusedBytes)],
    ) -> Result<bool> {
        let mut cmp = CompareWriter::new(original);
        let reused: Vec<(u64, Reused)> = reused
            .iter()
            .map(|(at, bytes)| {
                let bytes = match bytes {
                    ReusedBytes::InInput { offset, len } => Reused::InInput {
                        offset: *offset,
                        len: *len,
                    },
                    ReusedBytes::Held(b) => Reused::Held(b.clone()),
                };
                (*at, bytes)
            })
            .collect();
        match dg_seethrough::rebuild_trusting(plain, recipe, &mut cmp, original, &reused) {
            Ok(_) => Ok(cmp.matches()),
            Err(SeeThroughError::Io(e)) => Err(Error::io("checking a see-through recipe", e)),
            Err(_) => Ok(false),
        }
    }

    fn rebuild(
        &self,
        plain: &[u8],
        recipe: &[u8],
        out: &mut dyn Write,
        max_output: u64,
    ) -> Result<u64> {
        dg_seethrough::rebuild(plain, recipe, out, max_output).map_err(map_error)
    }

    fn rebuild_beside(
        &self,
        plain: &[u8],
        recipe: &[u8],
        out: &mut dyn Write,
        max_output: u64,
        similar: Similar<'_>,
    ) -> Result<u64> {
        let raw = match RawStreams::new(similar.plain, similar.recipe, similar.original) {
            Ok(raw) => raw,
            Err(e) => {
                tracing::warn!(error = %e, "the similar file does not match its recipe; rebuilding without it");
                return self.rebuild(plain, recipe, out, max_output);
            }
        };
        let written = dg_seethrough::rebuild_beside(plain, recipe, out, max_output, &raw)
            .map_err(map_error)?;
        tracing::debug!(
            copied = raw.copied(),
            streams = raw.len(),
            "rebuilt beside a similar file"
        );
        Ok(written)
    }
}
