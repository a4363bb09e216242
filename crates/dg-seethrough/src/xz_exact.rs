//! xz streams that liblzma wrote with a preset: found by compressing their plaintext again
//! with the parameters their headers suggest, and recorded as those parameters alone.
//!
//! `xz -N` (single-threaded: block headers without sizes) and `xz -T`/`dpkg-deb`/liblzma's
//! multi-threaded encoder (sizes in every block header, blocks of a fixed plaintext size) are
//! both deterministic for a given preset, check and block size, and have not changed their
//! output across liblzma 5.x. A stream made any other way (custom filters such as BCJ, another
//! implementation, a dictionary no preset uses) does not match and is kept raw.

use liblzma::stream::{Action, Check, MtStreamBuilder, Status, Stream, PRESET_EXTREME};

use super::error::{MismatchFault, SeeThroughError};
use super::recompress::{self, Step};

/// First six bytes of an xz stream.
pub(super) const MAGIC: [u8; 6] = [0xFD, b'7', b'z', b'X', b'Z', 0x00];
/// Memory the decoder may use (a preset-9 stream needs 65 MiB).
const DECODER_MEMLIMIT: u64 = 256 << 20;
/// Dictionary size of each preset level 0–9.
const PRESET_DICT: [u32; 10] = [
    1 << 18,
    1 << 20,
    1 << 21,
    1 << 22,
    1 << 22,
    1 << 23,
    1 << 23,
    1 << 24,
    1 << 25,
    1 << 26,
];
/// Levels in the order they are tried (the common ones first).
const LEVELS: [u32; 10] = [6, 9, 7, 8, 5, 4, 3, 2, 1, 0];

/// How an xz stream was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct XzParams {
    /// Preset level 0–9, with [`PRESET_EXTREME`] or'ed in for `-e`.
    pub preset: u32,
    /// Integrity check id as in the stream header (0 none, 1 CRC-32, 4 CRC-64, 10 SHA-256).
    pub check: u8,
    /// Plaintext bytes per block of the multi-threaded encoder; 0 for the single-threaded one.
    pub block_size: u64,
}

/// An xz stream at the start of some bytes, recreated exactly by liblzma.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct XzStream {
    pub params: XzParams,
    /// Bytes of the stream (stream padding excluded).
    pub comp_len: usize,
    /// Bytes of its plaintext.
    pub plain_len: u64,
}

/// True when `data` starts with an xz stream header.
pub(super) fn looks_like_xz(data: &[u8]) -> bool {
    data.starts_with(&MAGIC)
}

fn check_of(id: u8) -> Option<Check> {
    match id {
        0 => Some(Check::None),
        1 => Some(Check::Crc32),
        4 => Some(Check::Crc64),
        10 => Some(Check::Sha256),
        _ => None,
    }
}

fn lzma_err(what: &'static str, source: liblzma::stream::Error) -> SeeThroughError {
    SeeThroughError::Xz { what, source }
}

/// A little-endian base-128 number of the xz headers (at most 9 bytes).
fn varint(data: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for i in 0..9 {
        let b = *data.get(*pos)?;
        *pos += 1;
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// What the stream and first block headers say: check id, LZMA2 dictionary size, and the first
/// block's plaintext size when the header records it (the multi-threaded encoder's blocks).
/// `None` for anything but a single LZMA2 filter.
fn headers(data: &[u8]) -> Option<(u8, u32, Option<u64>)> {
    if !looks_like_xz(data) || data.len() < 12 + 8 || data[6] != 0 {
        return None;
    }
    let check = data[7];
    check_of(check)?;
    let header_size = (usize::from(data[12]) + 1) * 4;
    let block = data.get(12..12 + header_size)?;
    let flags = block[1];
    if flags & 0x03 != 0 || flags & 0x3c != 0 {
        return None; // more than one filter, or reserved bits
    }
    let mut pos = 2;
    if flags & 0x40 != 0 {
        varint(block, &mut pos)?;
    }
    let uncompressed = if flags & 0x80 != 0 {
        Some(varint(block, &mut pos)?)
    } else {
        None
    };
    let filter = varint(block, &mut pos)?;
    let props_len = varint(block, &mut pos)?;
    if filter != 0x21 || props_len != 1 {
        return None;
    }
    let code = u32::from(*block.get(pos)?);
    if code > 40 {
        return None;
    }
    let dict = if code == 40 {
        u32::MAX
    } else {
        (2 | (code & 1)) << (code / 2 + 11)
    };
    Some((check, dict, uncompressed))
}

/// The xz stream at the start of `data` if liblzma recreates it from its plaintext (of at most
/// `plain_limit` bytes) with a preset; `None` otherwise, or when it is not an xz stream.
pub(super) fn probe(data: &[u8], plain_limit: u64) -> Result<Option<XzStream>, SeeThroughError> {
    let Some((check, dict, first_block)) = headers(data) else {
        return Ok(None);
    };
    let Some((comp_len, plain_len)) = measure(data, plain_limit) else {
        return Ok(None);
    };
    let stream = &data[..comp_len];
    let block_sizes: Vec<u64> = match first_block {
        // One block holding everything: the encoder's default block size (three times the
        // dictionary, at least 1 MiB), else that block's size. They differ: the block size
        // also bounds what the encoder keeps in its dictionary.
        Some(n) if n >= plain_len => {
            let default = (u64::from(dict) * 3).max(1 << 20);
            vec![default, n.max(1)]
        }
        Some(n) => vec![n],
        None => vec![0],
    };
    for level in LEVELS {
        if PRESET_DICT[level as usize] != dict {
            continue;
        }
        for preset in [level, level | PRESET_EXTREME] {
            for &block_size in &block_sizes {
                let params = XzParams {
                    preset,
                    check,
                    block_size,
                };
                if recreates(stream, params)? {
                    return Ok(Some(XzStream {
                        params,
                        comp_len,
                        plain_len,
                    }));
                }
            }
        }
    }
    Ok(None)
}

/// liblzma's encoder or decoder, one call at a time.
struct Lzma(Stream);

impl Step for Lzma {
    fn step(
        &mut self,
        input: &[u8],
        out: &mut [u8],
        finish: bool,
    ) -> Result<(usize, usize, bool), SeeThroughError> {
        let before = (self.0.total_in(), self.0.total_out());
        let action = if finish { Action::Finish } else { Action::Run };
        let status = self
            .0
            .process(input, out, action)
            .map_err(|e| lzma_err("xz", e))?;
        let (used, made) = recompress::counted(before, (self.0.total_in(), self.0.total_out()));
        Ok((used, made, status == Status::StreamEnd))
    }
}

fn decoder() -> Result<Lzma, SeeThroughError> {
    Stream::new_stream_decoder(DECODER_MEMLIMIT, 0)
        .map(Lzma)
        .map_err(|e| lzma_err("xz decoder", e))
}

/// The encoder that writes streams with `params`.
fn encoder(params: XzParams) -> Result<Lzma, SeeThroughError> {
    let check = check_of(params.check).ok_or(MismatchFault::XzCheck { id: params.check })?;
    let level = params.preset & !PRESET_EXTREME;
    if level > 9 || params.preset & !(PRESET_EXTREME | 0x0f) != 0 {
        return Err(MismatchFault::XzPreset {
            preset: params.preset,
        }
        .into());
    }
    if params.block_size == 0 {
        Stream::new_easy_encoder(params.preset, check)
    } else {
        MtStreamBuilder::new()
            .threads(1)
            .block_size(params.block_size)
            .preset(params.preset)
            .check(check)
            .encoder()
    }
    .map(Lzma)
    .map_err(|e| lzma_err("xz encoder", e))
}

/// (compressed length, plaintext length) of the valid stream at the start of `data` whose
/// plaintext is at most `plain_limit` bytes.
fn measure(data: &[u8], plain_limit: u64) -> Option<(usize, u64)> {
    let mut dec = decoder().ok()?;
    recompress::decode(&mut dec, data, plain_limit, &mut |_| Ok(true))
        .ok()
        .flatten()
}

/// Streams the plaintext of the (already probed) xz stream `stream` to `emit`.
pub(super) fn plaintext(
    stream: &[u8],
    emit: &mut dyn FnMut(&[u8]) -> Result<(), SeeThroughError>,
) -> Result<u64, SeeThroughError> {
    recompress::plaintext(&mut decoder()?, stream, "an xz", emit)
}

/// True when compressing the plaintext of `stream` with `params` gives `stream` exactly.
fn recreates(stream: &[u8], params: XzParams) -> Result<bool, SeeThroughError> {
    recompress::recreates(&mut decoder()?, encoder(params)?, stream)
}

/// Compresses `text` with `params`, giving the bytes to `emit`; returns their count.
pub(super) fn compress(
    text: &[u8],
    params: XzParams,
    emit: &mut dyn FnMut(&[u8]) -> Result<(), SeeThroughError>,
) -> Result<u64, SeeThroughError> {
    recompress::compress(encoder(params)?, text, emit)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn text(n: usize) -> Vec<u8> {
        (0..n)
            .map(|i| {
                b"the quick brown fox jumps over the lazy dog\n"[i % 44] ^ ((i / 997) as u8 & 1)
            })
            .collect()
    }

    fn xz(data: &[u8], params: XzParams) -> Vec<u8> {
        let mut out = Vec::new();
        compress(data, params, &mut |b| {
            out.extend_from_slice(b);
            Ok(())
        })
        .unwrap();
        out
    }

    #[test]
    fn finds_the_parameters_of_presets_checks_and_block_sizes() {
        let data = text(300_000);
        for (preset, check, block_size) in [
            (6, 4, 0),
            (9, 1, 0),
            (1 | PRESET_EXTREME, 10, 0),
            (6, 4, 100_000),
            (6, 0, 300_000),
            (3, 4, 64 << 10),
        ] {
            let params = XzParams {
                preset,
                check,
                block_size,
            };
            let stream = xz(&data, params);
            let mut padded = stream.clone();
            padded.extend_from_slice(&[0, 0, 0, 0, 1, 2, 3]);
            let found = probe(&padded, u64::MAX).unwrap().expect("recognised");
            assert_eq!(found.comp_len, stream.len());
            assert_eq!(found.plain_len, data.len() as u64);
            assert_eq!(xz(&data, found.params), stream, "{params:?} -> {found:?}");
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
        let params = XzParams {
            preset: 6,
            check: 4,
            block_size: 0,
        };
        let stream = xz(&data, params);
        assert_eq!(
            probe(&stream, 1000).unwrap(),
            None,
            "over the plaintext limit"
        );
        assert_eq!(probe(&stream[..stream.len() - 1], u64::MAX).unwrap(), None);
        let mut damaged = stream.clone();
        damaged[stream.len() / 2] ^= 0x40;
        assert_eq!(probe(&damaged, u64::MAX).unwrap(), None);
        assert_eq!(probe(b"not xz at all", u64::MAX).unwrap(), None);
        assert_eq!(probe(&MAGIC, u64::MAX).unwrap(), None);
    }
}
