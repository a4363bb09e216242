//! The see-through expander behind the [`Expander`] port: gzip, zip, xz and bzip2 streams undone, recreated bit for bit on the way back.

use std::io::Write;

use dg_ports::{Error, ExpandSummary, Expander, Result};

use crate::seethrough::{self, ExpandOptions, SeeThroughError};

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
        let stats = seethrough::expand(input, plain, recipe, &self.options).map_err(map_error)?;
        Ok(stats.map(|s| ExpandSummary {
            streams: s.streams,
            reproduced: s.reproduced + s.partial,
            kept_raw: s.kept_raw,
            notes: s.notes,
        }))
    }

    fn rebuild(
        &self,
        plain: &[u8],
        recipe: &[u8],
        out: &mut dyn Write,
        max_output: u64,
    ) -> Result<u64> {
        seethrough::rebuild(plain, recipe, out, max_output).map_err(map_error)
    }
}
