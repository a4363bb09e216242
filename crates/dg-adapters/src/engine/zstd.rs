//! zstd "patch-from" engine: the reference is a raw-content prefix dictionary, as in
//! `zstd --patch-from=REF`. Fast, strong on similar data, limited to what fits one window.

use std::io::{self, Read, Write};

use dg_ports::{DiffEngine, Error, Result};

use super::io::{decode_error, SinkWriter};

/// zstd frame magic.
const MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];

/// Delta engine on zstd with the reference as prefix dictionary.
///
/// The window must span reference plus target, so inputs are limited to
/// `2^max_window_log` bytes together (default 2^30 = 1 GiB; a decoder needs about a window of
/// memory, sized to the inputs). Larger inputs are refused by [`DiffEngine::supports`] and go to another engine.
#[derive(Clone, Debug)]
pub struct ZstdEngine {
    /// Compression level (1–22).
    pub level: i32,
    /// Largest window, as a power of two (10–31).
    pub max_window_log: u32,
}

impl Default for ZstdEngine {
    fn default() -> Self {
        ZstdEngine {
            level: 9,
            max_window_log: 30,
        }
    }
}

impl ZstdEngine {
    fn window_log(&self, total: u64) -> u32 {
        let needed = 64 - total.max(1).leading_zeros();
        needed.clamp(10, self.max_window_log.clamp(10, 31))
    }
}

fn zstd_err(e: io::Error) -> Error {
    Error::Io {
        context: "zstd encoder".into(),
        source: e,
    }
}

impl DiffEngine for ZstdEngine {
    fn name(&self) -> &'static str {
        "zstd"
    }

    fn supports(&self, reference_len: u64, target_len: u64) -> Result<()> {
        let limit = 1u64 << self.max_window_log.clamp(10, 31);
        if reference_len.saturating_add(target_len) > limit {
            return Err(Error::LimitExceeded {
                what: "zstd patch-from window (reference + file)".into(),
                limit,
            });
        }
        Ok(())
    }

    fn recognizes(&self, delta_prefix: &[u8]) -> bool {
        delta_prefix.starts_with(&MAGIC)
    }

    fn encode(&self, reference: &[u8], target: &mut dyn Read, out: &mut dyn Write) -> Result<()> {
        // The window must reach from the end of the target back to the start of the reference;
        // the target's length is unknown here, so size it for reference + limit.
        let mut encoder = zstd::stream::write::Encoder::with_ref_prefix(out, self.level, reference)
            .map_err(zstd_err)?;
        let window = self.window_log((reference.len() as u64).saturating_mul(2));
        encoder.window_log(window).map_err(zstd_err)?;
        encoder.long_distance_matching(true).map_err(zstd_err)?;
        encoder.include_checksum(true).map_err(zstd_err)?;
        io::copy(target, &mut encoder).map_err(|e| Error::io("encoding a zstd delta", e))?;
        encoder
            .finish()
            .map_err(|e| Error::io("encoding a zstd delta", e))?;
        Ok(())
    }

    fn decode(
        &self,
        reference: &[u8],
        delta: &mut dyn Read,
        out: &mut dyn Write,
        max_output: u64,
    ) -> Result<u64> {
        let mut decoder =
            zstd::stream::read::Decoder::with_ref_prefix(io::BufReader::new(delta), reference)
                .map_err(|e| Error::io("starting a zstd decoder", e))?;
        decoder
            .window_log_max(self.max_window_log.clamp(27, 31))
            .map_err(|e| Error::io("starting a zstd decoder", e))?;
        let mut sink = SinkWriter::new(out, max_output);
        match io::copy(&mut decoder, &mut sink) {
            Ok(n) => Ok(n),
            Err(e) => Err(decode_error("zstd", &sink, e)),
        }
    }

    fn command_hint(&self) -> &'static str {
        "zstd --patch-from=reference.bin {name} -o {name}.delta"
    }
}
