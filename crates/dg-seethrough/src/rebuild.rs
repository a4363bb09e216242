//! `rebuild`: interprets a recipe against the plain stream to recreate the original bytes.

use std::io::Write;

use super::bzip2_exact;
use super::engine::Recreator;
use super::error::{MismatchFault, RecipeFault, SeeThroughError};
use super::wire::{
    max_comp_for_plain, Reader, CHUNK_END, CHUNK_MORE, CHUNK_ZLIB, CORR_SLACK, HEADER_LEN, MAGIC,
    MAX_CHUNK_PLAIN, MAX_NEST, MAX_NESTED_PLAIN, MIN_VERSION, OP_BZIP2, OP_COPY, OP_DEFLATE,
    OP_DEFLATE_NESTED, OP_END, OP_GZIP_TRAILER, OP_LIT, OP_NESTED, OP_XZ, TRAILER_LEN, VERSION,
};
use super::xz_exact::{self, XzParams};
use super::zlib_exact;

/// Where rebuilt bytes go: the caller's writer or a bounded in-memory buffer.
pub(super) trait Out {
    /// Bytes that may still be written.
    fn room(&self) -> u64;
    fn put(&mut self, b: &[u8], at: u64) -> Result<(), SeeThroughError>;
}

struct WriterOut<'a> {
    out: &'a mut dyn Write,
    written: u64,
    declared: u64,
    max_output: u64,
    crc: crc32fast::Hasher,
}

impl Out for WriterOut<'_> {
    fn room(&self) -> u64 {
        self.declared
            .min(self.max_output)
            .saturating_sub(self.written)
    }
    fn put(&mut self, b: &[u8], at: u64) -> Result<(), SeeThroughError> {
        let end = self.written.saturating_add(b.len() as u64);
        if end > self.max_output {
            return Err(SeeThroughError::OutputLimit {
                limit: self.max_output,
            });
        }
        if end > self.declared {
            return Err(SeeThroughError::bad(at, RecipeFault::OutputLonger));
        }
        self.out.write_all(b)?;
        self.crc.update(b);
        self.written = end;
        Ok(())
    }
}

pub(super) struct BufOut {
    pub buf: Vec<u8>,
    pub limit: u64,
}

impl Out for BufOut {
    fn room(&self) -> u64 {
        self.limit.saturating_sub(self.buf.len() as u64)
    }
    fn put(&mut self, b: &[u8], at: u64) -> Result<(), SeeThroughError> {
        if b.len() as u64 > self.room() {
            return Err(SeeThroughError::bad(at, RecipeFault::NestedOutputLonger));
        }
        self.buf.extend_from_slice(b);
        Ok(())
    }
}

fn u64_le(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_le_bytes(a)
}

/// Streams taken as they are (see [`super::rebuild_trusting`] and [`super::rebuild_beside`]).
pub(super) struct Trust<'a> {
    pub original: &'a [u8],
    /// By plain offset, sorted.
    pub reused: &'a [(u64, super::index::Reused)],
    /// The streams of a similar file, by what recreates them.
    pub raw: Option<&'a super::raw_streams::RawStreams<'a>>,
}

impl Trust<'_> {
    /// The compressed bytes of the reused stream whose plaintext starts at `plain_at`.
    fn at(&self, plain_at: u64) -> Option<&[u8]> {
        let i = self.reused.binary_search_by_key(&plain_at, |r| r.0).ok()?;
        match &self.reused[i].1 {
            super::index::Reused::InInput { offset, len } => {
                let start = usize::try_from(*offset).ok()?;
                let end = usize::try_from(offset.checked_add(*len)?).ok()?;
                self.original.get(start..end)
            }
            super::index::Reused::Held(bytes) => Some(bytes),
        }
    }
}

/// What a recipe's header and trailer declare, and its op list.
pub(super) struct Parts<'r> {
    /// The op list (after the header, before the trailer).
    pub ops: &'r [u8],
    pub plain_len: u64,
    pub total_len: u64,
    /// CRC-32 of the rebuilt bytes.
    pub crc: u32,
}

/// Checks a recipe's magic, version, flags and checksum; returns its parts.
pub(super) fn parts(recipe: &[u8]) -> Result<Parts<'_>, SeeThroughError> {
    if recipe.len() < 4 || recipe[..4] != MAGIC {
        if recipe.len() < 4 && MAGIC.starts_with(recipe) {
            return Err(SeeThroughError::Truncated { what: "recipe" });
        }
        return Err(SeeThroughError::bad(0, RecipeFault::BadMagic));
    }
    let version = *recipe
        .get(4)
        .ok_or(SeeThroughError::Truncated { what: "recipe" })?;
    if !(MIN_VERSION..=VERSION).contains(&version) {
        return Err(SeeThroughError::UnsupportedVersion {
            found: version,
            supported: VERSION,
        });
    }
    if recipe.len() < HEADER_LEN + 1 + TRAILER_LEN {
        return Err(SeeThroughError::Truncated { what: "recipe" });
    }
    if recipe[5] != 0 {
        return Err(SeeThroughError::bad(
            5,
            RecipeFault::UnknownFlags { flags: recipe[5] },
        ));
    }
    let t = recipe.len() - TRAILER_LEN;
    let le32 = |at: usize| {
        u32::from_le_bytes([recipe[at], recipe[at + 1], recipe[at + 2], recipe[at + 3]])
    };
    if crc32fast::hash(&recipe[..t + 20]) != le32(t + 20) {
        return Err(SeeThroughError::bad((t + 20) as u64, RecipeFault::Checksum));
    }
    Ok(Parts {
        ops: &recipe[HEADER_LEN..t],
        plain_len: u64_le(&recipe[t..]),
        total_len: u64_le(&recipe[t + 8..]),
        crc: le32(t + 16),
    })
}

/// See [`super::rebuild`].
pub(super) fn rebuild(
    plain: &[u8],
    recipe: &[u8],
    out: &mut dyn Write,
    max_output: u64,
    trust: Option<&Trust<'_>>,
) -> Result<u64, SeeThroughError> {
    let Parts {
        ops,
        plain_len,
        total_len,
        crc,
    } = parts(recipe)?;
    if plain.len() as u64 != plain_len {
        return Err(MismatchFault::PlainLength {
            found: plain.len() as u64,
            expected: plain_len,
        }
        .into());
    }
    if total_len > max_output {
        return Err(SeeThroughError::OutputLimit { limit: max_output });
    }
    let mut r = Reader::new(ops, HEADER_LEN as u64, "recipe");
    let mut p = Reader::new(plain, 0, "plain stream");
    let mut w = WriterOut {
        out,
        written: 0,
        declared: total_len,
        max_output,
        crc: crc32fast::Hasher::new(),
    };
    // streams copied from a file rebuilt before are found among the top-level ops, which
    // the parallel rebuild walks first (with no helper free, it runs them all on this thread)
    match super::parallel::helpers() {
        Some(helpers) => super::parallel::run_top(&mut r, &mut p, &mut w, trust, &helpers)?,
        None if trust.is_some_and(|t| t.raw.is_some()) => {
            super::parallel::run_top(&mut r, &mut p, &mut w, trust, &super::parallel::none())?
        }
        None => run_ops(&mut r, &mut p, &mut w, 0, trust)?,
    }
    if !r.is_empty() {
        return Err(SeeThroughError::bad(r.offset(), RecipeFault::BytesAfterOps));
    }
    if !p.is_empty() {
        return Err(MismatchFault::PlainUnused {
            left: p.remaining() as u64,
        }
        .into());
    }
    if w.written != total_len {
        return Err(MismatchFault::OutputLength {
            written: w.written,
            declared: total_len,
        }
        .into());
    }
    let got = w.crc.finalize();
    if got != crc {
        return Err(MismatchFault::OutputCrc { got, declared: crc }.into());
    }
    w.out.flush()?;
    Ok(w.written)
}

/// Runs one op list until `OP_END`.
pub(super) fn run_ops(
    r: &mut Reader<'_>,
    p: &mut Reader<'_>,
    out: &mut dyn Out,
    depth: u8,
    trust: Option<&Trust<'_>>,
) -> Result<(), SeeThroughError> {
    // (crc, len) of the deflate op just before, for OP_GZIP_TRAILER
    let mut last: Option<(u32, u64)> = None;
    loop {
        let at = r.offset();
        let op = r.u8()?;
        if op == OP_END {
            return Ok(());
        }
        last = run_op(op, at, r, p, out, depth, trust, last.take())?;
    }
}

/// Runs one op (its tag `op` already read, at recipe offset `at`); `prev` is what the op
/// before left for a gzip trailer. Returns what this op leaves for one.
#[allow(clippy::too_many_arguments)]
pub(super) fn run_op(
    op: u8,
    at: u64,
    r: &mut Reader<'_>,
    p: &mut Reader<'_>,
    out: &mut dyn Out,
    depth: u8,
    trust: Option<&Trust<'_>>,
    prev: Option<(u32, u64)>,
) -> Result<Option<(u32, u64)>, SeeThroughError> {
    let mut last = None;
    match op {
        OP_COPY => {
            let n = r.varint()?;
            if n == 0 {
                return Err(SeeThroughError::bad(at, RecipeFault::EmptyCopy));
            }
            if n > out.room() {
                return Err(SeeThroughError::bad(at, RecipeFault::CopyTooLong));
            }
            let b = p.take(n)?;
            out.put(b, at)?;
        }
        OP_LIT => {
            let n = r.varint()?;
            let b = r.take(n)?;
            out.put(b, at)?;
        }
        OP_DEFLATE => {
            last = Some(match trust.and_then(|t| t.at(p.offset())) {
                Some(bytes) => take_trusted(r, p, out, bytes)?,
                None => match super::raw_streams::known_deflate(trust, r, p) {
                    Some((bytes, text)) => {
                        out.put(bytes, at)?;
                        (crc32fast::hash(text), text.len() as u64)
                    }
                    None => run_chunks(r, p, out)?,
                },
            });
        }
        OP_DEFLATE_NESTED | OP_NESTED => {
            let text = nested_plaintext(r, p, depth, at, trust)?;
            let mut src = Reader::new(&text, 0, "nested plaintext");
            if op == OP_DEFLATE_NESTED {
                last = Some(run_chunks(r, &mut src, out)?);
            } else {
                // OP_NESTED: the xz or bzip2 record whose plaintext this is
                let stream_at = r.offset();
                match r.u8()? {
                    OP_XZ => run_xz(r, &mut src, out, stream_at)?,
                    OP_BZIP2 => run_bzip2(r, &mut src, out, stream_at)?,
                    _ => {
                        return Err(SeeThroughError::bad(
                            stream_at,
                            RecipeFault::NestedWithoutStream,
                        ))
                    }
                }
            }
            if !src.is_empty() {
                return Err(SeeThroughError::bad(at, RecipeFault::NestedPlainUnused));
            }
        }
        OP_GZIP_TRAILER => {
            let Some((crc, len)) = prev else {
                return Err(SeeThroughError::bad(at, RecipeFault::TrailerWithoutStream));
            };
            let mut t = [0u8; 8];
            t[..4].copy_from_slice(&crc.to_le_bytes());
            t[4..].copy_from_slice(&(len as u32).to_le_bytes());
            out.put(&t, at)?;
        }
        OP_XZ => run_xz(r, p, out, at)?,
        OP_BZIP2 => run_bzip2(r, p, out, at)?,
        _ => return Err(SeeThroughError::bad(at, RecipeFault::UnknownOp { op })),
    }
    Ok(last)
}

/// Runs the nested op list of `OP_DEFLATE_NESTED` or `OP_NESTED` (after its declared length)
/// into memory: the plaintext of the stream that follows.
fn nested_plaintext(
    r: &mut Reader<'_>,
    p: &mut Reader<'_>,
    depth: u8,
    at: u64,
    trust: Option<&Trust<'_>>,
) -> Result<Vec<u8>, SeeThroughError> {
    if depth + 1 >= MAX_NEST {
        return Err(SeeThroughError::bad(at, RecipeFault::NestingTooDeep));
    }
    let n = r.varint()?;
    if n > MAX_NESTED_PLAIN {
        return Err(SeeThroughError::bad(at, RecipeFault::NestedPlainTooLarge));
    }
    let mut buf = BufOut {
        buf: Vec::new(),
        limit: n,
    };
    run_ops(r, p, &mut buf, depth + 1, trust)?;
    if buf.buf.len() as u64 != n {
        return Err(SeeThroughError::bad(at, RecipeFault::NestedPlainShort));
    }
    Ok(buf.buf)
}

/// A reused stream: its chunk list read for its lengths only, its plaintext taken (and its
/// CRC-32 computed for a gzip trailer), its compressed bytes copied from the original.
fn take_trusted(
    r: &mut Reader<'_>,
    src: &mut Reader<'_>,
    out: &mut dyn Out,
    bytes: &[u8],
) -> Result<(u32, u64), SeeThroughError> {
    let start = r.offset();
    let (plain_len, comp) = super::parallel::skip_chunks(r)?;
    if comp != bytes.len() as u64 {
        return Err(MismatchFault::ReusedLength {
            at: start,
            declared: comp,
            found: bytes.len() as u64,
        }
        .into());
    }
    let text = src.take(plain_len)?;
    if !super::zlib_exact::inflates_to(bytes, text)? {
        return Err(MismatchFault::ReusedPlaintext { at: start }.into());
    }
    out.put(bytes, start)?;
    Ok((crc32fast::hash(text), plain_len))
}

/// Reads a chunk list and re-creates the deflate stream; returns (CRC-32, length) of its plaintext.
fn run_chunks(
    r: &mut Reader<'_>,
    src: &mut Reader<'_>,
    out: &mut dyn Out,
) -> Result<(u32, u64), SeeThroughError> {
    let mut rec = Recreator::new();
    let mut crc = crc32fast::Hasher::new();
    let mut total = 0u64;
    let mut n = 0u64;
    loop {
        let at = r.offset();
        match r.u8()? {
            CHUNK_END => break,
            CHUNK_MORE => {}
            CHUNK_ZLIB if n == 0 => return run_zlib(r, src, out, at),
            t => {
                return Err(SeeThroughError::bad(
                    at,
                    RecipeFault::UnknownChunkTag { tag: t },
                ));
            }
        }
        let plain_len = r.varint()?;
        let comp_len = r.varint()?;
        let corr_len = r.varint()?;
        if plain_len > MAX_CHUNK_PLAIN {
            return Err(SeeThroughError::bad(at, RecipeFault::ChunkPlainTooLarge));
        }
        if comp_len > max_comp_for_plain(plain_len) {
            return Err(SeeThroughError::bad(
                at,
                RecipeFault::ChunkCompressedOutOfBounds,
            ));
        }
        if corr_len > comp_len.saturating_add(CORR_SLACK) {
            return Err(SeeThroughError::bad(
                at,
                RecipeFault::ChunkCorrectionsTooLarge,
            ));
        }
        if comp_len > out.room() {
            return Err(SeeThroughError::bad(at, RecipeFault::ChunkTooLong));
        }
        let text = src.take(plain_len)?;
        let corr = r.take(corr_len)?;
        let bytes = rec.chunk(text, corr)?;
        if bytes.len() as u64 != comp_len {
            return Err(MismatchFault::ChunkLength {
                at,
                made: bytes.len() as u64,
                expected: comp_len,
            }
            .into());
        }
        out.put(&bytes, at)?;
        crc.update(text);
        total += plain_len;
        n += 1;
    }
    if n == 0 {
        return Err(SeeThroughError::bad(r.offset(), RecipeFault::NoChunks));
    }
    Ok((crc.finalize(), total))
}

/// A stream recorded as zlib's output at a level (`CHUNK_ZLIB`, the stream's only chunk):
/// compresses its plaintext again; returns (CRC-32, length) of the plaintext.
fn run_zlib(
    r: &mut Reader<'_>,
    src: &mut Reader<'_>,
    out: &mut dyn Out,
    at: u64,
) -> Result<(u32, u64), SeeThroughError> {
    let level = r.u8()?;
    if !(1..=9).contains(&level) {
        return Err(SeeThroughError::bad(at, RecipeFault::ZlibLevel { level }));
    }
    let (plain_len, comp_len) = lengths(r, out, at, "zlib")?;
    let end_at = r.offset();
    if r.u8()? != CHUNK_END {
        return Err(SeeThroughError::bad(end_at, RecipeFault::ZlibNotAlone));
    }
    let text = src.take(plain_len)?;
    exactly("zlib", at, comp_len, out, |emit| {
        zlib_exact::deflate(text, level, emit)
    })?;
    Ok((crc32fast::hash(text), plain_len))
}

/// An xz stream recorded as its liblzma parameters (`OP_XZ`): compresses its plaintext again.
fn run_xz(
    r: &mut Reader<'_>,
    src: &mut Reader<'_>,
    out: &mut dyn Out,
    at: u64,
) -> Result<(), SeeThroughError> {
    let preset =
        u32::try_from(r.varint()?).map_err(|_| SeeThroughError::bad(at, RecipeFault::XzPreset))?;
    let check = r.u8()?;
    let block_size = r.varint()?;
    let (plain_len, comp_len) = lengths(r, out, at, "xz")?;
    let params = XzParams {
        preset,
        check,
        block_size,
    };
    let text = src.take(plain_len)?;
    exactly("xz", at, comp_len, out, |emit| {
        xz_exact::compress(text, params, emit)
    })
}

/// A bzip2 stream recorded as its block size (`OP_BZIP2`): compresses its plaintext again.
fn run_bzip2(
    r: &mut Reader<'_>,
    src: &mut Reader<'_>,
    out: &mut dyn Out,
    at: u64,
) -> Result<(), SeeThroughError> {
    let level = r.u8()?;
    if !(1..=9).contains(&level) {
        return Err(SeeThroughError::bad(at, RecipeFault::Bzip2Level { level }));
    }
    let (plain_len, comp_len) = lengths(r, out, at, "bzip2")?;
    let text = src.take(plain_len)?;
    exactly("bzip2", at, comp_len, out, |emit| {
        bzip2_exact::compress(text, level, emit)
    })
}

/// Reads a recompressed stream's plaintext and compressed lengths, refusing a compressed
/// length its plaintext cannot need or the output has no room for.
fn lengths(
    r: &mut Reader<'_>,
    out: &mut dyn Out,
    at: u64,
    what: &'static str,
) -> Result<(u64, u64), SeeThroughError> {
    let plain_len = r.varint()?;
    let comp_len = r.varint()?;
    if comp_len > max_comp_for_plain(plain_len) || comp_len > out.room() {
        return Err(SeeThroughError::bad(
            at,
            RecipeFault::StreamCompressedOutOfBounds { what },
        ));
    }
    Ok((plain_len, comp_len))
}

/// Writes what `make` compresses into `out`, which must be exactly `comp_len` bytes (a
/// mismatch error names the `what` stream otherwise); `make` returns how many it gave.
fn exactly(
    what: &'static str,
    at: u64,
    comp_len: u64,
    out: &mut dyn Out,
    make: impl FnOnce(
        &mut dyn FnMut(&[u8]) -> Result<(), SeeThroughError>,
    ) -> Result<u64, SeeThroughError>,
) -> Result<(), SeeThroughError> {
    let mut room = comp_len;
    let written = make(&mut |bytes| {
        let n = bytes.len() as u64;
        if n > room {
            return Err(MismatchFault::StreamLonger {
                what,
                at,
                expected: comp_len,
            }
            .into());
        }
        room -= n;
        out.put(bytes, at)
    })?;
    if written != comp_len {
        return Err(MismatchFault::StreamLength {
            what,
            at,
            made: written,
            expected: comp_len,
        }
        .into());
    }
    Ok(())
}
