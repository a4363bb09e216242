//! xz streams that liblzma wrote with a preset: found by compressing their plaintext again
//! with the parameters their headers suggest, and recorded as those parameters alone.
//!
//! `xz -N` (single-threaded: block headers without sizes) and `xz -T`/`dpkg-deb`/liblzma's
//! multi-threaded encoder (sizes in every block header, blocks of a fixed plaintext size) are
//! both deterministic for a given preset, check and block size, and have not changed their
//! output across liblzma 5.x. A stream made any other way (custom filters such as BCJ, another
//! implementation, a dictionary no preset uses) does not match and is kept raw.

use liblzma::stream::{Action, Check, MtStreamBuilder, Status, Stream, PRESET_EXTREME};

use super::error::SeeThroughError;

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
/// I/O buffer size.
const BUF: usize = 64 << 10;

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

fn lzma_err(what: &str, e: liblzma::stream::Error) -> SeeThroughError {
    SeeThroughError::Mismatch(format!("{what}: {e}"))
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

fn decoder() -> Result<Stream, SeeThroughError> {
    Stream::new_stream_decoder(DECODER_MEMLIMIT, 0).map_err(|e| lzma_err("xz decoder", e))
}

/// Decodes the stream at the start of `data` (without its padding), giving its plaintext to
/// `emit` in pieces; returns (compressed length, plaintext length), or `None` when it is not a
/// valid stream, needs too much memory, or its plaintext exceeds `plain_limit`.
fn decode(
    data: &[u8],
    plain_limit: u64,
    emit: &mut dyn FnMut(&[u8]) -> Result<bool, SeeThroughError>,
) -> Result<Option<(usize, u64)>, SeeThroughError> {
    let mut dec = decoder()?;
    let mut out = vec![0u8; BUF];
    loop {
        let at = usize::try_from(dec.total_in()).unwrap_or(usize::MAX);
        let input = data.get(at..).unwrap_or_default();
        let before = dec.total_out();
        let status = match dec.process(input, &mut out, Action::Run) {
            Ok(s) => s,
            Err(_) => return Ok(None),
        };
        let n = usize::try_from(dec.total_out() - before).unwrap_or(0);
        if dec.total_out() > plain_limit {
            return Ok(None);
        }
        if n > 0 && !emit(&out[..n])? {
            return Ok(None);
        }
        match status {
            Status::StreamEnd => {
                let comp = usize::try_from(dec.total_in()).unwrap_or(usize::MAX);
                return Ok(Some((comp, dec.total_out())));
            }
            _ if n == 0 && usize::try_from(dec.total_in()).unwrap_or(usize::MAX) == at => {
                return Ok(None); // truncated: no progress without more input
            }
            _ => {}
        }
    }
}

fn measure(data: &[u8], plain_limit: u64) -> Option<(usize, u64)> {
    decode(data, plain_limit, &mut |_| Ok(true)).ok().flatten()
}

/// Streams the plaintext of the (already probed) xz stream `stream` to `emit`.
pub(super) fn plaintext(
    stream: &[u8],
    emit: &mut dyn FnMut(&[u8]) -> Result<(), SeeThroughError>,
) -> Result<u64, SeeThroughError> {
    match decode(stream, u64::MAX, &mut |b| emit(b).map(|_| true))? {
        Some((_, n)) => Ok(n),
        None => Err(SeeThroughError::SelfCheck(
            "an xz stream that decoded before no longer does".into(),
        )),
    }
}

/// An encoder for `params`, writing whole pieces to a callback.
pub(super) struct XzEncoder {
    stream: Stream,
    buf: Vec<u8>,
}

impl XzEncoder {
    pub(super) fn new(params: XzParams) -> Result<Self, SeeThroughError> {
        let check = check_of(params.check)
            .ok_or_else(|| SeeThroughError::Mismatch(format!("xz check id {}", params.check)))?;
        let level = params.preset & !PRESET_EXTREME;
        if level > 9 || params.preset & !(PRESET_EXTREME | 0x0f) != 0 {
            return Err(SeeThroughError::Mismatch(format!(
                "xz preset {:#x}",
                params.preset
            )));
        }
        let stream = if params.block_size == 0 {
            Stream::new_easy_encoder(params.preset, check)
        } else {
            MtStreamBuilder::new()
                .threads(1)
                .block_size(params.block_size)
                .preset(params.preset)
                .check(check)
                .encoder()
        }
        .map_err(|e| lzma_err("xz encoder", e))?;
        Ok(XzEncoder {
            stream,
            buf: vec![0u8; BUF],
        })
    }

    fn run(
        &mut self,
        mut input: &[u8],
        action: Action,
        emit: &mut dyn FnMut(&[u8]) -> Result<bool, SeeThroughError>,
    ) -> Result<bool, SeeThroughError> {
        loop {
            let (in_before, out_before) = (self.stream.total_in(), self.stream.total_out());
            let status = self
                .stream
                .process(input, &mut self.buf, action)
                .map_err(|e| lzma_err("xz encoder", e))?;
            let used = usize::try_from(self.stream.total_in() - in_before).unwrap_or(0);
            let made = usize::try_from(self.stream.total_out() - out_before).unwrap_or(0);
            input = &input[used.min(input.len())..];
            if made > 0 && !emit(&self.buf[..made])? {
                return Ok(false);
            }
            let done = match action {
                Action::Finish => status == Status::StreamEnd,
                _ => input.is_empty() && made < self.buf.len(),
            };
            if done {
                return Ok(true);
            }
            if used == 0 && made == 0 {
                return Err(SeeThroughError::Mismatch(
                    "the xz encoder made no progress".into(),
                ));
            }
        }
    }

    /// Compresses `text`; `emit` returning false stops early (false returned).
    pub(super) fn feed(
        &mut self,
        text: &[u8],
        emit: &mut dyn FnMut(&[u8]) -> Result<bool, SeeThroughError>,
    ) -> Result<bool, SeeThroughError> {
        self.run(text, Action::Run, emit)
    }

    /// Ends the stream.
    pub(super) fn finish(
        &mut self,
        emit: &mut dyn FnMut(&[u8]) -> Result<bool, SeeThroughError>,
    ) -> Result<bool, SeeThroughError> {
        self.run(&[], Action::Finish, emit)
    }
}

/// True when compressing the plaintext of `stream` with `params` gives `stream` exactly.
fn recreates(stream: &[u8], params: XzParams) -> Result<bool, SeeThroughError> {
    let mut enc = XzEncoder::new(params)?;
    let mut matched = 0usize;
    let mut compare = |bytes: &[u8]| -> Result<bool, SeeThroughError> {
        let end = matched + bytes.len();
        if stream.get(matched..end) != Some(bytes) {
            return Ok(false);
        }
        matched = end;
        Ok(true)
    };
    let mut alive = true;
    let decoded = decode(stream, u64::MAX, &mut |text| {
        alive = enc.feed(text, &mut compare)?;
        Ok(alive)
    })?;
    if decoded.is_none() || !alive || !enc.finish(&mut compare)? {
        return Ok(false);
    }
    Ok(matched == stream.len())
}

/// Compresses `text` with `params`, giving the bytes to `emit`; returns their count.
pub(super) fn compress(
    text: &[u8],
    params: XzParams,
    emit: &mut dyn FnMut(&[u8]) -> Result<(), SeeThroughError>,
) -> Result<u64, SeeThroughError> {
    let mut enc = XzEncoder::new(params)?;
    let mut written = 0u64;
    let mut out = |b: &[u8]| -> Result<bool, SeeThroughError> {
        written += b.len() as u64;
        emit(b)?;
        Ok(true)
    };
    for piece in text.chunks(1 << 20) {
        enc.feed(piece, &mut out)?;
    }
    enc.finish(&mut out)?;
    Ok(written)
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
