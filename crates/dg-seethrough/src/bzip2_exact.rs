//! bzip2 streams that libbzip2 wrote: recreated from their plaintext and the block size their
//! header names, and recorded as that block size alone.
//!
//! libbzip2 (the `bzip2` program, `tar -j`, Python's `bz2`, each stream of `pbzip2`) has
//! written the same bytes for a given block size since 1.0, and the header says which of the
//! nine it used, so a single compression decides. Streams from other encoders (`lbzip2`, …)
//! do not match and are kept raw.

use bzip2::{Action, Compress, Compression, Decompress, Status};

use super::error::{MismatchFault, SeeThroughError};
use super::recompress::{self, Step};

/// First bytes of a bzip2 stream, before the block size digit.
const MAGIC: &[u8; 3] = b"BZh";
/// What follows the header: a block (the digits of pi) or the end of an empty stream (sqrt pi).
const BLOCK_MAGIC: [u8; 6] = [0x31, 0x41, 0x59, 0x26, 0x53, 0x59];
const END_MAGIC: [u8; 6] = [0x17, 0x72, 0x45, 0x38, 0x50, 0x90];
/// The `bzip2` program's work factor (how hard it sorts repetitive blocks before falling back).
const WORK_FACTOR: u32 = 30;

/// A bzip2 stream at the start of some bytes, recreated exactly by libbzip2.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Bzip2Stream {
    /// Block size in 100 kB units, 1–9 (`bzip2 -1` … `-9`).
    pub level: u8,
    /// Bytes of the stream.
    pub comp_len: usize,
    /// Bytes of its plaintext.
    pub plain_len: u64,
}

/// True when `data` starts with a bzip2 stream header followed by a block or the end marker.
pub(super) fn looks_like_bzip2(data: &[u8]) -> bool {
    data.len() >= 10
        && data.starts_with(MAGIC)
        && (b'1'..=b'9').contains(&data[3])
        && (data[4..10] == BLOCK_MAGIC || data[4..10] == END_MAGIC)
}

fn bz_err(what: &'static str, source: bzip2::Error) -> SeeThroughError {
    SeeThroughError::Bzip2 { what, source }
}

/// libbzip2's decoder, one stream.
struct Decoder(Decompress);

impl Step for Decoder {
    fn step(
        &mut self,
        input: &[u8],
        out: &mut [u8],
        _finish: bool,
    ) -> Result<(usize, usize, bool), SeeThroughError> {
        let before = (self.0.total_in(), self.0.total_out());
        let status = self
            .0
            .decompress(input, out)
            .map_err(|e| bz_err("bzip2 decoder", e))?;
        let (used, made) = recompress::counted(before, (self.0.total_in(), self.0.total_out()));
        Ok((used, made, status == Status::StreamEnd))
    }
}

fn decoder() -> Decoder {
    Decoder(Decompress::new(false))
}

/// libbzip2's encoder at a block size.
pub(super) struct Encoder(Compress);

impl Encoder {
    pub(super) fn new(level: u8) -> Result<Self, SeeThroughError> {
        if !(1..=9).contains(&level) {
            return Err(MismatchFault::Bzip2Level { level }.into());
        }
        Ok(Encoder(Compress::new(
            Compression::new(u32::from(level)),
            WORK_FACTOR,
        )))
    }
}

impl Step for Encoder {
    fn step(
        &mut self,
        input: &[u8],
        out: &mut [u8],
        finish: bool,
    ) -> Result<(usize, usize, bool), SeeThroughError> {
        if input.is_empty() && !finish {
            return Ok((0, 0, false)); // libbzip2 calls a step without input an error
        }
        let action = if finish { Action::Finish } else { Action::Run };
        let before = (self.0.total_in(), self.0.total_out());
        let status = self
            .0
            .compress(input, out, action)
            .map_err(|e| bz_err("bzip2 encoder", e))?;
        let (used, made) = recompress::counted(before, (self.0.total_in(), self.0.total_out()));
        Ok((used, made, status == Status::StreamEnd))
    }
}

/// The bzip2 stream at the start of `data` if libbzip2 recreates it from its plaintext (of at
/// most `plain_limit` bytes); `None` otherwise, or when it is not a bzip2 stream.
pub(super) fn probe(data: &[u8], plain_limit: u64) -> Result<Option<Bzip2Stream>, SeeThroughError> {
    if !looks_like_bzip2(data) {
        return Ok(None);
    }
    let level = data[3] - b'0';
    let Some((comp_len, plain_len)) =
        recompress::decode(&mut decoder(), data, plain_limit, &mut |_| Ok(true))?
    else {
        return Ok(None);
    };
    let stream = &data[..comp_len];
    if !recompress::recreates(&mut decoder(), Encoder::new(level)?, stream)? {
        return Ok(None);
    }
    Ok(Some(Bzip2Stream {
        level,
        comp_len,
        plain_len,
    }))
}

/// Streams the plaintext of the (already probed) bzip2 stream `stream` to `emit`.
pub(super) fn plaintext(
    stream: &[u8],
    emit: &mut dyn FnMut(&[u8]) -> Result<(), SeeThroughError>,
) -> Result<u64, SeeThroughError> {
    recompress::plaintext(&mut decoder(), stream, "a bzip2", emit)
}

/// Compresses `text` at block size `level`, giving the bytes to `emit`; returns their count.
pub(super) fn compress(
    text: &[u8],
    level: u8,
    emit: &mut dyn FnMut(&[u8]) -> Result<(), SeeThroughError>,
) -> Result<u64, SeeThroughError> {
    recompress::compress(Encoder::new(level)?, text, emit)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn text(n: usize) -> Vec<u8> {
        (0..n)
            .map(|i| b"pack my box with five dozen liquor jugs\n"[i % 40] ^ ((i / 1009) as u8 & 3))
            .collect()
    }

    fn bz(data: &[u8], level: u8) -> Vec<u8> {
        let mut out = Vec::new();
        compress(data, level, &mut |b| {
            out.extend_from_slice(b);
            Ok(())
        })
        .unwrap();
        out
    }

    #[test]
    fn finds_the_block_size_and_ends_each_stream() {
        for (level, n) in [(9, 300_000), (1, 250_000), (5, 0), (3, 17)] {
            let data = text(n);
            let stream = bz(&data, level);
            assert!(looks_like_bzip2(&stream));
            let mut followed = stream.clone();
            followed.extend_from_slice(&bz(b"next", 9));
            let found = probe(&followed, u64::MAX).unwrap().expect("recognised");
            assert_eq!(
                found,
                Bzip2Stream {
                    level,
                    comp_len: stream.len(),
                    plain_len: n as u64
                }
            );
            let mut back = Vec::new();
            plaintext(&stream, &mut |b| {
                back.extend_from_slice(b);
                Ok(())
            })
            .unwrap();
            assert_eq!(back, data);
        }
    }

    #[test]
    fn refuses_what_it_cannot_recreate() {
        let data = text(100_000);
        let stream = bz(&data, 9);
        assert_eq!(
            probe(&stream, 1000).unwrap(),
            None,
            "over the plaintext limit"
        );
        assert_eq!(probe(&stream[..stream.len() - 1], u64::MAX).unwrap(), None);
        let mut damaged = stream.clone();
        damaged[stream.len() / 2] ^= 0x40;
        assert_eq!(probe(&damaged, u64::MAX).unwrap(), None);
        assert!(!looks_like_bzip2(b"BZh9 is not a stream"));
        assert_eq!(probe(b"not bzip2 at all", u64::MAX).unwrap(), None);
    }
}
