//! Deflate streams that zlib wrote: found by compressing their plaintext again with zlib at each level and comparing, rebuilt with no corrections at all.
//!
//! Python's `gzip`/`zipfile`, Java's `java.util.zip` (jars), Node, pigz's single-threaded mode
//! and most language runtimes compress with zlib (raw deflate, window 15, memory level 8,
//! default strategy). Such a stream is recreated bit for bit by the same zlib at the same level,
//! so its recipe is a level and two lengths instead of preflate's corrections (which on text at
//! levels 4–9 come to about 1% of the plaintext). zlib is linked statically from the source
//! `libz-sys` bundles (pinned), so every dg build compresses alike; `golden_outputs` below
//! fails if that ever changes.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use super::error::{SeeThroughError, SelfCheckFault, ZlibFault};

/// zlib levels tried, the most common first (6 is zlib's default).
const LEVELS: [u8; 9] = [6, 9, 1, 5, 4, 7, 8, 3, 2];

/// Plaintext inflated up front to rule levels out (zlib has written several blocks by then).
const PROBE_PLAIN: usize = 256 << 10;

/// Bytes handled per step when streaming.
const STEP: usize = 64 << 10;

/// A deflate stream zlib recreates exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ZlibStream {
    pub level: u8,
    /// Plaintext length.
    pub plain_len: u64,
    /// Compressed length: the stream is `body[..comp_len]`.
    pub comp_len: usize,
    /// CRC-32 of the plaintext.
    pub crc: u32,
}

fn zlib_error(e: impl Into<ZlibFault>) -> SeeThroughError {
    SeeThroughError::Zlib(e.into())
}

/// Inflates the deflate stream at the start of `body`, handing the plaintext to `each` in
/// pieces; stops early (returning `Ok(None)`) when `each` says so or the plaintext passes
/// `max_plain`. Returns the compressed length when the stream ended.
fn inflate(
    body: &[u8],
    max_plain: u64,
    each: &mut dyn FnMut(&[u8]) -> Result<bool, SeeThroughError>,
) -> Result<Option<usize>, SeeThroughError> {
    let mut d = Decompress::new(false);
    let mut buf = vec![0u8; STEP];
    loop {
        let (in0, out0) = (d.total_in(), d.total_out());
        let at = usize::try_from(in0).map_err(zlib_error)?;
        let input = body.get(at..).unwrap_or_default();
        let status = match d.decompress(input, &mut buf, FlushDecompress::None) {
            Ok(s) => s,
            // not a valid deflate stream: nothing to recreate
            Err(_) => return Ok(None),
        };
        let produced = usize::try_from(d.total_out() - out0).map_err(zlib_error)?;
        if d.total_out() > max_plain {
            return Ok(None);
        }
        if produced > 0 && !each(&buf[..produced])? {
            return Ok(None);
        }
        match status {
            Status::StreamEnd => {
                return Ok(Some(usize::try_from(d.total_in()).map_err(zlib_error)?))
            }
            // no progress: the stream is cut short
            _ if produced == 0 && d.total_in() == in0 => return Ok(None),
            _ => {}
        }
    }
}

/// zlib at one level, fed plaintext in pieces; its output goes to `emit`.
struct Deflater {
    c: Compress,
    buf: Vec<u8>,
}

impl Deflater {
    fn new(level: u8) -> Self {
        Deflater {
            c: Compress::new(Compression::new(u32::from(level)), false),
            buf: vec![0u8; STEP],
        }
    }

    /// Compresses `text` (all of it), or with `finish` ends the stream.
    fn feed(
        &mut self,
        mut text: &[u8],
        finish: bool,
        emit: &mut dyn FnMut(&[u8]) -> Result<bool, SeeThroughError>,
    ) -> Result<bool, SeeThroughError> {
        let flush = if finish {
            FlushCompress::Finish
        } else {
            FlushCompress::None
        };
        loop {
            let (in0, out0) = (self.c.total_in(), self.c.total_out());
            let status = self
                .c
                .compress(text, &mut self.buf, flush)
                .map_err(zlib_error)?;
            let used = usize::try_from(self.c.total_in() - in0).map_err(zlib_error)?;
            let produced = usize::try_from(self.c.total_out() - out0).map_err(zlib_error)?;
            text = text.get(used..).unwrap_or_default();
            if produced > 0 && !emit(&self.buf[..produced])? {
                return Ok(false);
            }
            let done = if finish {
                status == Status::StreamEnd
            } else {
                text.is_empty() && produced < self.buf.len()
            };
            if done {
                return Ok(true);
            }
            if used == 0 && produced == 0 {
                return Err(zlib_error(ZlibFault::NoProgress));
            }
        }
    }
}

/// Compares zlib's output with the original compressed bytes as it comes.
struct Compare<'a> {
    original: &'a [u8],
    pos: usize,
}

impl Compare<'_> {
    fn check(&mut self, bytes: &[u8]) -> bool {
        let end = self.pos + bytes.len();
        let same = self.original.get(self.pos..end) == Some(bytes);
        self.pos = end;
        same
    }
}

/// Does zlib at `level` turn the stream's plaintext back into exactly its bytes? Streams the
/// whole stream once (inflate and deflate side by side), stopping at the first difference.
fn verify(body: &[u8], level: u8, max_plain: u64) -> Result<Option<ZlibStream>, SeeThroughError> {
    let mut z = Deflater::new(level);
    let mut cmp = Compare {
        original: body,
        pos: 0,
    };
    let mut crc = crc32fast::Hasher::new();
    let mut plain_len = 0u64;
    let Some(comp_len) = inflate(body, max_plain, &mut |text| {
        crc.update(text);
        plain_len += text.len() as u64;
        z.feed(text, false, &mut |out| Ok(cmp.check(out)))
    })?
    else {
        return Ok(None);
    };
    let mut cmp = Compare {
        original: body.get(..comp_len).unwrap_or_default(),
        pos: cmp.pos,
    };
    if !z.feed(&[], true, &mut |out| Ok(cmp.check(out)))? || cmp.pos != comp_len {
        return Ok(None);
    }
    Ok(Some(ZlibStream {
        level,
        plain_len,
        comp_len,
        crc: crc.finalize(),
    }))
}

/// The lengths and CRC-32 of the deflate stream at the start of `body`, inflated once and
/// nothing kept; `None` when it is not a whole valid stream of at most `max_plain` bytes.
pub(super) fn measure(body: &[u8], max_plain: u64) -> Result<Option<ZlibStream>, SeeThroughError> {
    let mut crc = crc32fast::Hasher::new();
    let mut plain_len = 0u64;
    let ended = inflate(body, max_plain, &mut |text| {
        crc.update(text);
        plain_len += text.len() as u64;
        Ok(true)
    })?;
    Ok(ended.map(|comp_len| ZlibStream {
        level: 0,
        plain_len,
        comp_len,
        crc: crc.finalize(),
    }))
}

/// What the first plaintext of a deflate stream says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Probe {
    /// Not a whole valid stream within the plaintext budget.
    Invalid,
    /// The stream ends within the probe: `head` is its whole plaintext.
    Whole { comp_len: usize },
    /// Longer than the probe: `head` is its first 256 KiB of plaintext.
    Large,
}

/// Inflates up to 256 KiB of the deflate stream at the start of `body` into `head`.
pub(super) fn probe(
    body: &[u8],
    max_plain: u64,
    head: &mut Vec<u8>,
) -> Result<Probe, SeeThroughError> {
    head.clear();
    let ended = inflate(body, max_plain, &mut |text| {
        let room = PROBE_PLAIN.saturating_sub(head.len());
        head.extend_from_slice(&text[..text.len().min(room)]);
        Ok(head.len() < PROBE_PLAIN)
    })?;
    Ok(match ended {
        Some(comp_len) if head.len() < PROBE_PLAIN => Probe::Whole { comp_len },
        None if head.len() < PROBE_PLAIN => Probe::Invalid,
        _ => Probe::Large,
    })
}

/// The zlib level that writes exactly `body[..comp_len]` from `head`, a whole stream's
/// plaintext ([`Probe::Whole`]).
pub(super) fn match_whole(
    body: &[u8],
    comp_len: usize,
    head: &[u8],
) -> Result<Option<ZlibStream>, SeeThroughError> {
    let stream = body.get(..comp_len).unwrap_or_default();
    for level in LEVELS {
        let mut cmp = Compare {
            original: stream,
            pos: 0,
        };
        let mut z = Deflater::new(level);
        if z.feed(head, false, &mut |out| Ok(cmp.check(out)))?
            && z.feed(&[], true, &mut |out| Ok(cmp.check(out)))?
            && cmp.pos == comp_len
        {
            return Ok(Some(ZlibStream {
                level,
                plain_len: head.len() as u64,
                comp_len,
                crc: crc32fast::hash(head),
            }));
        }
    }
    Ok(None)
}

/// The zlib level that recreates a stream longer than the probe ([`Probe::Large`], `head`
/// its first plaintext) exactly, its plaintext at most `max_plain` bytes. Levels whose first
/// blocks for `head` differ from the stream are ruled out before any full pass.
pub(super) fn match_large(
    body: &[u8],
    head: &[u8],
    max_plain: u64,
) -> Result<Option<ZlibStream>, SeeThroughError> {
    for level in LEVELS {
        let mut z = Deflater::new(level);
        let mut cmp = Compare {
            original: body,
            pos: 0,
        };
        if !z.feed(head, false, &mut |out| Ok(cmp.check(out)))? {
            continue;
        }
        if let Some(found) = verify(body, level, max_plain)? {
            return Ok(Some(found));
        }
    }
    Ok(None)
}

/// The zlib level that recreates the deflate stream at the start of `body` exactly, if any
/// does and its plaintext is at most `max_plain` bytes.
#[cfg(test)]
pub(super) fn find(
    body: &[u8],
    max_plain: u64,
    head: &mut Vec<u8>,
) -> Result<Option<ZlibStream>, SeeThroughError> {
    match probe(body, max_plain, head)? {
        Probe::Invalid => Ok(None),
        Probe::Whole { comp_len } => match_whole(body, comp_len, head),
        Probe::Large => match_large(body, head, max_plain),
    }
}

/// Writes zlib's compression of `text` at `level` to `emit`; returns the bytes written.
pub(super) fn deflate(
    text: &[u8],
    level: u8,
    emit: &mut dyn FnMut(&[u8]) -> Result<(), SeeThroughError>,
) -> Result<u64, SeeThroughError> {
    let mut z = Deflater::new(level);
    let mut written = 0u64;
    let mut sink = |out: &[u8]| {
        written += out.len() as u64;
        emit(out).map(|()| true)
    };
    for piece in text.chunks(STEP) {
        z.feed(piece, false, &mut sink)?;
    }
    z.feed(&[], true, &mut sink)?;
    Ok(written)
}

/// Does the deflate stream `body` (exactly, nothing after it) inflate to exactly `text`?
pub(super) fn inflates_to(body: &[u8], text: &[u8]) -> Result<bool, SeeThroughError> {
    let mut at = 0usize;
    let ended = inflate(body, text.len() as u64, &mut |piece| {
        let end = at + piece.len();
        let same = text.get(at..end) == Some(piece);
        at = end;
        Ok(same)
    })?;
    Ok(ended == Some(body.len()) && at == text.len())
}

/// Streams the plaintext of a stream [`find`] accepted to `each`.
pub(super) fn plaintext(
    body: &[u8],
    each: &mut dyn FnMut(&[u8]) -> Result<(), SeeThroughError>,
) -> Result<(), SeeThroughError> {
    inflate(body, u64::MAX, &mut |text| each(text).map(|()| true))?
        .map(|_| ())
        .ok_or(SelfCheckFault::ZlibNoLongerInflates.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Text any language can generate: the golden CRCs below came from Python's zlib 1.2.13.
    fn text() -> Vec<u8> {
        let mut t = Vec::new();
        for i in 0..20_000u64 {
            t.extend_from_slice(
                format!("row {i} value {} name n{}\n", i * 7919 % 1000, i % 37).as_bytes(),
            );
        }
        t
    }

    fn raw_deflate(data: &[u8], level: u8) -> Vec<u8> {
        let mut out = Vec::new();
        deflate(data, level, &mut |b| {
            out.extend_from_slice(b);
            Ok(())
        })
        .unwrap();
        out
    }

    #[test]
    fn every_level_is_found_and_rebuilds() {
        let t = text();
        for level in 1..=9u8 {
            let z = raw_deflate(&t, level);
            let mut body = z.clone();
            body.extend_from_slice(b"trailing bytes after the stream");
            let mut head = Vec::new();
            let found = find(&body, u64::MAX, &mut head).unwrap().unwrap();
            assert_eq!(found.comp_len, z.len(), "level {level}");
            assert_eq!(found.plain_len, t.len() as u64);
            assert_eq!(found.crc, crc32fast::hash(&t));
            // levels that happen to write the same bytes are interchangeable
            assert_eq!(raw_deflate(&t, found.level), z, "level {level}");
            assert_eq!(head, t[..PROBE_PLAIN.min(t.len())]);
        }
    }

    #[test]
    fn other_compressors_and_damage_are_not_taken_for_zlib() {
        let t = text();
        let mut z = raw_deflate(&t, 6);
        // one stored block, as a compressor that does not compress writes: no zlib level does
        let plain = &t[..1000];
        let mut stored = vec![0x01, 0xE8, 0x03, 0x17, 0xFC];
        stored.extend_from_slice(plain);
        let mut head = Vec::new();
        let mut back = Vec::new();
        plaintext(&stored, &mut |b| {
            back.extend_from_slice(b);
            Ok(())
        })
        .unwrap();
        assert_eq!(back, plain, "the stored block is valid deflate");
        assert_eq!(find(&stored, u64::MAX, &mut head).unwrap(), None);
        // cut short, over budget, garbage
        assert_eq!(find(&z[..z.len() / 2], u64::MAX, &mut head).unwrap(), None);
        assert_eq!(find(&z, 1000, &mut head).unwrap(), None);
        assert_eq!(find(b"\xff\xff\xff", u64::MAX, &mut head).unwrap(), None);
        let last = z.len() - 3;
        z[last] ^= 0x10;
        assert_eq!(find(&z, u64::MAX, &mut head).unwrap(), None);
    }

    /// zlib must compress the same in every dg build, or recipes written by one build would
    /// not rebuild in another. CRC-32s of raw deflate output (window 15, memLevel 8, default
    /// strategy) of `text()` at levels 1–9, from Python 3.11's zlib (zlib 1.2.13).
    #[test]
    fn golden_outputs() {
        let t = text();
        let got: Vec<u32> = (1..=9u8)
            .map(|l| crc32fast::hash(&raw_deflate(&t, l)))
            .collect();
        assert_eq!(got, GOLDEN);
    }

    const GOLDEN: [u32; 9] = [
        0xCC6B_C416,
        0x2FEA_C8E5,
        0xD967_414C,
        0x07E1_F929,
        0xBFD7_1BC5,
        0x8193_5548,
        0xCDD5_D56F,
        0x0F76_EC8E,
        0x0F76_EC8E,
    ];
}
