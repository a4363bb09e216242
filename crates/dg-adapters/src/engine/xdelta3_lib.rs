//! The `xdelta3` crate (C xdelta3 through bindgen) as an engine, kept to cross-check our codec.

use std::io::{Read, Write};

use dg_ports::{DiffEngine, Error, Result};

use super::io::read_bounded;

/// Largest reference + target the crate is given. Its C entry points take 32-bit sizes and size
/// their output buffers as twice the inputs, so anything near 2 GiB overflows; measured above
/// 4 GiB it returns wrong bytes without an error. 1 GiB keeps well clear of both.
pub const XDELTA3_LIB_LIMIT: u64 = 1 << 30;

/// Fewest bytes (reference + target) the crate encodes: it sizes the delta's buffer as twice the
/// inputs, too little for a delta's fixed headers below this.
pub const XDELTA3_LIB_MIN: u64 = 32;

/// VCDIFF through the `xdelta3` crate 0.1.5: whole inputs in memory, no secondary compression,
/// deltas readable by `xdelta3 -d` and by [`super::VcdiffEngine`].
///
/// Its decoder gives the target at most `2 × (delta + reference)` bytes of room (the crate's
/// choice), so a delta that rebuilds more than that is refused as undecodable here; our own
/// decoder reads it. Inputs under [`XDELTA3_LIB_MIN`] bytes together are refused for the same
/// reason on the encoding side. Use [`super::VcdiffEngine`] for real work: this engine exists to check it.
#[derive(Clone, Copy, Debug, Default)]
pub struct Xdelta3LibEngine;

impl DiffEngine for Xdelta3LibEngine {
    fn name(&self) -> &'static str {
        "xdelta3"
    }

    fn supports(&self, reference_len: u64, target_len: u64) -> Result<()> {
        let total = reference_len.saturating_add(target_len);
        if total < XDELTA3_LIB_MIN {
            return Err(Error::Unsupported {
                what: format!(
                    "the xdelta3 crate on inputs under {XDELTA3_LIB_MIN} bytes (its output \
                     buffer is too small for the delta's headers)"
                ),
            });
        }
        if total > XDELTA3_LIB_LIMIT {
            return Err(Error::LimitExceeded {
                what: "the xdelta3 crate's input (reference + file)".into(),
                limit: XDELTA3_LIB_LIMIT,
            });
        }
        Ok(())
    }

    fn recognizes(&self, delta_prefix: &[u8]) -> bool {
        dg_vcdiff::is_vcdiff(delta_prefix)
    }

    fn encode(&self, reference: &[u8], target: &mut dyn Read, out: &mut dyn Write) -> Result<()> {
        let room = XDELTA3_LIB_LIMIT.saturating_sub(reference.len() as u64);
        let target = read_bounded(target, room, "xdelta3 crate's", "file to encode")?;
        let delta = xdelta3::encode(&target, reference).ok_or_else(|| Error::InvalidData {
            what: "input to the xdelta3 crate".into(),
            reason: "xd3_encode_memory failed".into(),
            source: None,
        })?;
        out.write_all(&delta)
            .map_err(|e| Error::io("writing an xdelta3 delta", e))
    }

    fn decode(
        &self,
        reference: &[u8],
        delta: &mut dyn Read,
        out: &mut dyn Write,
        max_output: u64,
    ) -> Result<u64> {
        let room = XDELTA3_LIB_LIMIT.saturating_sub(reference.len() as u64);
        let delta = read_bounded(delta, room, "xdelta3 crate's", "delta")?;
        // The crate decodes an empty input to an empty file without complaint.
        if !dg_vcdiff::is_vcdiff(&delta) {
            return Err(Error::InvalidData {
                what: "VCDIFF delta".into(),
                reason: "it does not start with the VCDIFF magic bytes".into(),
                source: None,
            });
        }
        let target = xdelta3::decode(&delta, reference).ok_or_else(|| Error::InvalidData {
            what: "VCDIFF delta".into(),
            reason: "the xdelta3 crate cannot decode it against this reference (bad delta, a \
                     secondary compressor it lacks, or a target over twice delta + reference)"
                .into(),
            source: None,
        })?;
        if target.len() as u64 > max_output {
            return Err(Error::LimitExceeded {
                what: "the VCDIFF delta's output".into(),
                limit: max_output,
            });
        }
        out.write_all(&target)
            .map_err(|e| Error::io("writing a rebuilt file", e))?;
        Ok(target.len() as u64)
    }

    fn command_hint(&self) -> &'static str {
        "xdelta3 -e -S none -s reference.bin {name} {name}.delta"
    }
}
