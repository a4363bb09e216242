//! The VCDIFF engine: our own xdelta3-compatible codec behind the diff-engine port. Its deltas
//! decode with `xdelta3 -d -s reference.bin` and so with Python deltaglider.
//!
//! The codec itself is the [`dg_vcdiff`] crate.

use std::io::{Read, Write};

use dg_ports::{DiffEngine, Error, Result};

use dg_vcdiff::{DecodeLimits, EncodeOptions, Secondary, VcdiffError};

/// VCDIFF (RFC 3284) as the `xdelta3` program writes it.
#[derive(Clone, Debug)]
pub struct VcdiffEngine {
    /// Compress sections with LZMA, as `xdelta3` does by default (readers of Python
    /// deltaglider's own deltas need LZMA support anyway).
    pub lzma: bool,
    /// Match-finding effort, 1–9.
    pub level: u32,
}

impl Default for VcdiffEngine {
    fn default() -> Self {
        VcdiffEngine {
            lzma: true,
            level: 6,
        }
    }
}

fn map_error(e: VcdiffError) -> Error {
    match e {
        VcdiffError::Io(io) => Error::io("reading or writing a VCDIFF delta", io),
        VcdiffError::OutputLimit { limit } => Error::LimitExceeded {
            what: "the VCDIFF delta's output".into(),
            limit,
        },
        VcdiffError::UnsupportedSecondary { id } => Error::Unsupported {
            what: format!("VCDIFF secondary compressor {id} (only LZMA and DJW are read)"),
        },
        VcdiffError::UnsupportedCodeTable => Error::Unsupported {
            what: "VCDIFF application code tables".into(),
        },
        other => Error::InvalidData {
            what: "VCDIFF delta".into(),
            reason: "it does not decode against its reference".into(),
            source: Some(Box::new(other)),
        },
    }
}

impl DiffEngine for VcdiffEngine {
    fn name(&self) -> &'static str {
        "vcdiff"
    }

    fn supports(&self, _reference_len: u64, _target_len: u64) -> Result<()> {
        Ok(())
    }

    fn recognizes(&self, delta_prefix: &[u8]) -> bool {
        dg_vcdiff::is_vcdiff(delta_prefix)
    }

    fn encode(&self, reference: &[u8], target: &mut dyn Read, out: &mut dyn Write) -> Result<()> {
        let opts = EncodeOptions {
            secondary: if self.lzma {
                Secondary::Lzma
            } else {
                Secondary::None
            },
            level: self.level.clamp(1, 9),
            ..EncodeOptions::default()
        };
        dg_vcdiff::encode(reference, target, out, &opts)
            .map(|_| ())
            .map_err(map_error)
    }

    fn decode(
        &self,
        reference: &[u8],
        delta: &mut dyn Read,
        out: &mut dyn Write,
        max_output: u64,
    ) -> Result<u64> {
        let limits = DecodeLimits {
            max_output,
            ..DecodeLimits::default()
        };
        dg_vcdiff::decode(reference, delta, out, &limits).map_err(map_error)
    }

    fn command_hint(&self) -> &'static str {
        "xdelta3 -e -9 -s reference.bin {name} {name}.delta"
    }
}
