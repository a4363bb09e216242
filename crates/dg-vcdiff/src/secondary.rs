//! xdelta3-compatible LZMA secondary compression: one `.xz` stream per section kind, continued across windows.

use liblzma::stream::{Action, Check, Filters, LzmaOptions, Status, Stream};

use super::error::VcdiffError;
use super::varint;

/// xdelta3's secondary compressor ids (file header byte after `VCD_SECONDARY`).
pub(super) const ID_DJW: u8 = 1;
/// LZMA (xz container, LZMA2 filter, no check).
pub(super) const ID_LZMA: u8 = 2;

/// xdelta3 leaves sections shorter than this uncompressed.
pub(super) const MIN_INPUT: usize = 10;

/// Memory limit for one LZMA decoder stream. xdelta3 at `-9` uses a 64 MiB
/// dictionary; anything needing more than this is refused.
const DECODER_MEMLIMIT: u64 = 160 << 20;

/// Scratch buffer size for decompression.
const CHUNK: usize = 256 * 1024;

/// Section names, indexed like the streams: data, instructions, addresses.
pub(super) const SECTION_NAMES: [&str; 3] = ["data", "instructions", "addresses"];

fn lzma_err(e: liblzma::stream::Error) -> VcdiffError {
    VcdiffError::Lzma(format!("{e:?}"))
}

/// Decoder side: lazily created stream per section kind.
#[derive(Default)]
pub(super) struct LzmaDecoders {
    streams: [Option<Stream>; 3],
}

impl LzmaDecoders {
    /// Decompresses one section (`varint size` + xz bytes) into `out`.
    /// `max_size` bounds the announced uncompressed size.
    pub fn decode(
        &mut self,
        kind: usize,
        window: u64,
        input: &[u8],
        max_size: u64,
        out: &mut Vec<u8>,
    ) -> Result<(), VcdiffError> {
        let section = SECTION_NAMES.get(kind).copied().unwrap_or("?");
        let bad = |reason| VcdiffError::Secondary {
            window,
            section,
            reason,
        };
        let mut pos = 0usize;
        let size = varint::read(input, &mut pos).map_err(|_| bad("bad uncompressed size"))?;
        if size == 0 {
            return Err(bad("zero uncompressed size"));
        }
        if size > max_size {
            return Err(VcdiffError::WindowTooLarge {
                window,
                size,
                limit: max_size,
            });
        }
        let slot = self.streams.get_mut(kind).ok_or(bad("unknown section"))?;
        if slot.is_none() {
            *slot = Some(Stream::new_stream_decoder(DECODER_MEMLIMIT, 0).map_err(lzma_err)?);
        }
        let stream = slot.as_mut().ok_or(bad("no stream"))?;
        let mut rest = input.get(pos..).unwrap_or(&[]);
        out.clear();
        let want = size as usize;
        let mut chunk = vec![0u8; want.min(CHUNK)];
        let mut ended = false;
        while out.len() < want {
            if ended {
                return Err(bad("stream ended before the announced size"));
            }
            let room = (want - out.len()).min(chunk.len());
            let (in0, out0) = (stream.total_in(), stream.total_out());
            let dst = chunk.get_mut(..room).unwrap_or(&mut []);
            let status = stream.process(rest, dst, Action::Run).map_err(lzma_err)?;
            let used = (stream.total_in() - in0) as usize;
            let produced = (stream.total_out() - out0) as usize;
            out.extend_from_slice(chunk.get(..produced).unwrap_or(&[]));
            rest = rest.get(used..).unwrap_or(&[]);
            ended = status == Status::StreamEnd;
            if used == 0 && produced == 0 && !ended {
                return Err(bad("compressed bytes end before the announced size"));
            }
        }
        // Let the decoder swallow trailing bytes that carry no output
        // (LZMA2 chunk boundaries of the sync flush).
        let mut guard = 0;
        while !rest.is_empty() && !ended && guard < 4 {
            let in0 = stream.total_in();
            let mut none: [u8; 0] = [];
            let status = stream
                .process(rest, &mut none, Action::Run)
                .map_err(lzma_err)?;
            let used = (stream.total_in() - in0) as usize;
            rest = rest.get(used..).unwrap_or(&[]);
            ended = status == Status::StreamEnd;
            guard += 1;
        }
        if !rest.is_empty() {
            return Err(bad("unused compressed bytes"));
        }
        Ok(())
    }
}

/// Bits per byte above which a section is stored raw: its bytes are spread almost evenly (data
/// that is already compressed or encrypted, typical of ADD sections between archives), LZMA
/// would save well under 2% and, on such input, runs at a few MB/s.
const INCOMPRESSIBLE_BITS: f64 = 7.9;

/// Sections shorter than this are always tried: the test is not worth it below.
const ENTROPY_TEST_MIN: usize = 16 << 10;

/// True when the order-0 entropy of `section` says LZMA is not worth running on it.
fn looks_incompressible(section: &[u8]) -> bool {
    if section.len() < ENTROPY_TEST_MIN {
        return false;
    }
    let mut counts = [0u64; 256];
    for &b in section {
        counts[usize::from(b)] += 1;
    }
    let n = section.len() as f64;
    let bits: f64 = counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / n;
            -p * p.log2()
        })
        .sum();
    bits > INCOMPRESSIBLE_BITS
}

/// Encoder side: lazily created stream per section kind.
pub(super) struct LzmaEncoders {
    preset: u32,
    streams: [Option<Stream>; 3],
}

impl LzmaEncoders {
    pub fn new(preset: u32) -> Self {
        LzmaEncoders {
            preset: preset.min(9),
            streams: [None, None, None],
        }
    }

    /// Compresses `section` into `out` (`varint size` + xz bytes ending in a
    /// sync flush). Returns false (and leaves `out` empty) when the section is
    /// too small to be worth compressing; the caller then stores it raw.
    pub fn encode(
        &mut self,
        kind: usize,
        section: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<bool, VcdiffError> {
        out.clear();
        if section.len() < MIN_INPUT || looks_incompressible(section) {
            return Ok(false);
        }
        let slot = self
            .streams
            .get_mut(kind)
            .ok_or_else(|| VcdiffError::Lzma("bad section".into()))?;
        if slot.is_none() {
            let opts = LzmaOptions::new_preset(self.preset).map_err(lzma_err)?;
            let mut filters = Filters::new();
            filters.lzma2(&opts);
            *slot = Some(Stream::new_stream_encoder(&filters, Check::None).map_err(lzma_err)?);
        }
        let stream = slot
            .as_mut()
            .ok_or_else(|| VcdiffError::Lzma("no stream".into()))?;
        varint::write(out, section.len() as u64);
        let mut rest = section;
        loop {
            if out.capacity() - out.len() < 4096 {
                out.reserve(section.len() / 2 + 4096);
            }
            let before = stream.total_in();
            let status = stream
                .process_vec(rest, out, Action::SyncFlush)
                .map_err(lzma_err)?;
            let used = (stream.total_in() - before) as usize;
            rest = rest.get(used..).unwrap_or(&[]);
            if status == Status::StreamEnd {
                return Ok(true);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dg_testdata::noise;

    #[test]
    fn incompressible_sections_are_stored_raw_and_text_is_compressed() {
        let mut enc = LzmaEncoders::new(6);
        let mut out = Vec::new();
        assert!(!enc.encode(0, &noise(1, 100_000), &mut out).unwrap());
        assert!(out.is_empty());
        let text = b"let x = section.len(); // some source text\n".repeat(2_000);
        assert!(enc.encode(0, &text, &mut out).unwrap());
        assert!(out.len() < text.len() / 10, "{} bytes", out.len());
        // Small noise is still tried (the test costs more than it saves there).
        assert!(!looks_incompressible(&noise(1, ENTROPY_TEST_MIN - 1)));
    }
}
