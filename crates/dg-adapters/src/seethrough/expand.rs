//! `expand`: walks gzip/zip/xz/bzip2/ar/tar/cpio/rpm containers, analyses compressed streams, emits plain + recipe.

use std::io::Write;

use super::index::Reused;

use super::bzip2_exact;
use super::engine::Analyzer;
use super::error::SeeThroughError;
use super::index::{self, StreamIndex};
use super::wire::{
    max_comp_for_plain, put_varint, CHUNK_END, CHUNK_MORE, CHUNK_ZLIB, CORR_SLACK, MAX_CHUNK_PLAIN,
    MAX_NESTED_PLAIN, OP_BZIP2, OP_COPY, OP_DEFLATE, OP_DEFLATE_NESTED, OP_END, OP_GZIP_TRAILER,
    OP_LIT, OP_NESTED, OP_XZ,
};
use super::xz_exact;
use super::zlib_exact::{self, Probe};
use super::{ar, cpio, gzip, rpm, tar, zip, ExpandOptions, ExpandStats};

/// Most notes kept in `ExpandStats::notes` (further ones are only counted).
const MAX_NOTES: usize = 64;

/// Destination of one op list: the plain stream and the recipe body.
/// Consecutive raw regions are merged into one `OP_COPY`.
pub(super) struct Sink<'w> {
    plain: &'w mut dyn Write,
    recipe: &'w mut dyn Write,
    pending_copy: u64,
    /// Offset of this sink's first plain byte in the whole plain stream.
    pub(super) base: u64,
    pub(super) plain_len: u64,
    pub(super) recipe_len: u64,
    scratch: Vec<u8>,
}

impl<'w> Sink<'w> {
    pub(super) fn new(plain: &'w mut dyn Write, recipe: &'w mut dyn Write) -> Self {
        Sink {
            plain,
            recipe,
            pending_copy: 0,
            base: 0,
            plain_len: 0,
            recipe_len: 0,
            scratch: Vec::with_capacity(32),
        }
    }

    /// A raw region: its bytes go to plain, and an `OP_COPY` (merged) to the recipe.
    pub(super) fn copy(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        self.plain.write_all(bytes)?;
        self.plain_len += bytes.len() as u64;
        self.pending_copy += bytes.len() as u64;
        Ok(())
    }

    /// Plaintext belonging to a deflate op.
    pub(super) fn text(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.plain.write_all(bytes)?;
        self.plain_len += bytes.len() as u64;
        Ok(())
    }

    /// True while raw bytes wait for their `OP_COPY`.
    pub(super) fn has_pending_copy(&self) -> bool {
        self.pending_copy > 0
    }

    fn flush_copy(&mut self) -> std::io::Result<()> {
        if self.pending_copy > 0 {
            self.scratch.clear();
            self.scratch.push(OP_COPY);
            put_varint(&mut self.scratch, self.pending_copy);
            self.recipe.write_all(&self.scratch)?;
            self.recipe_len += self.scratch.len() as u64;
            self.pending_copy = 0;
        }
        Ok(())
    }

    /// Raw recipe bytes (after flushing any pending copy).
    pub(super) fn op(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.flush_copy()?;
        self.recipe.write_all(bytes)?;
        self.recipe_len += bytes.len() as u64;
        Ok(())
    }

    fn lit(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let mut h = vec![OP_LIT];
        put_varint(&mut h, bytes.len() as u64);
        self.op(&h)?;
        self.op(bytes)
    }

    /// Ends the op list with `OP_END`.
    pub(super) fn finish(&mut self) -> std::io::Result<()> {
        self.op(&[OP_END])
    }
}

/// Encodes one chunk record.
fn chunk_record(plain_len: u64, comp_len: u64, corr: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(corr.len() + 16);
    b.push(CHUNK_MORE);
    put_varint(&mut b, plain_len);
    put_varint(&mut b, comp_len);
    put_varint(&mut b, corr.len() as u64);
    b.extend_from_slice(corr);
    b
}

/// Corrections above this share of the compressed bytes (per mille) mean preflate struggles.
const STRUGGLE_PER_MILLE: u64 = 10;

/// Whether preflate, on the first 256 KiB of a stream's plaintext, fails or needs corrections
/// of more than 1% of the compressed bytes.
fn preflate_struggles(body: &[u8]) -> bool {
    let mut an = Analyzer::new(256 << 10);
    match an.next_chunk(body) {
        Ok(c) => c.corrections.len() as u64 * 1000 > c.comp_len as u64 * STRUGGLE_PER_MILLE,
        // a first block longer than the probe says nothing about preflate's corrections
        Err(e) => !e.plain_limit,
    }
}

/// What became of one deflate stream.
pub(super) enum Outcome {
    /// Nothing was emitted; the caller keeps the stream raw.
    Raw,
    /// The first `consumed` compressed bytes were reproduced; the caller copies the rest raw.
    Partial { consumed: usize },
    /// The whole stream (`consumed` bytes) was reproduced.
    Complete {
        consumed: usize,
        crc: u32,
        plain_len: u64,
    },
}

/// Plaintext of one stream written so far (or held back while deciding whether it
/// is itself a container), shared by the analysis passes over that stream.
struct StreamPlain {
    /// Held plaintext of a nesting candidate (`None` once streamed to the sink).
    held: Option<Vec<u8>>,
    /// Plaintext bytes of this stream already written or held.
    committed: u64,
}

/// Result of one analysis pass over a stream.
struct Pass {
    /// Encoded chunk records (without the final `CHUNK_END`).
    records: Vec<u8>,
    /// Compressed bytes reproduced.
    consumed: usize,
    plain_len: u64,
    crc: u32,
    corrections_len: u64,
    chunks: usize,
    complete: bool,
    /// preflate failed (a retry with larger chunks may get further).
    retryable: bool,
    stop: Option<String>,
}

/// Most recipe bytes held in memory for one stream.
const MAX_HELD_RECIPE: u64 = 64 << 20;

/// Walks containers and emits ops; one per nesting level that buffers.
pub(super) struct Expander<'o> {
    pub(super) opts: &'o ExpandOptions,
    pub(super) stats: ExpandStats,
    /// Plaintext bytes this expander may still emit for deflate streams.
    pub(super) budget: u64,
    pub(super) suppressed_notes: usize,
    /// Streams of a similar file (a reference's), reused instead of analysed again.
    pub(super) known: Option<&'o StreamIndex>,
    /// The streams of this expansion, when asked for.
    pub(super) learned: Option<StreamIndex>,
    /// Where the top-level input lies in memory, to tell a stream's offset in it.
    pub(super) input: Option<(usize, usize)>,
    /// Each stream reused from `known`: the offset of its plaintext in the plain stream, and
    /// where its compressed bytes are.
    pub(super) reused: Vec<(u64, Reused)>,
    /// Bytes that may still be copied for reused streams that lie inside other streams.
    pub(super) held_room: u64,
    /// What zlib has said about this input's short streams so far (tried before preflate).
    pub(super) zlib: ZlibHint,
}

/// Short deflate streams are offered to zlib first (one compression where zlib wrote them, as
/// it did for most zips, jars and wheels) unless the input's first ones showed it did not.
/// Levels are always tried in one order, so the record of a stream does not depend on what
/// came before it (members analysed in parallel give what one thread gives).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct ZlibHint {
    /// Short streams zlib recreated.
    pub(super) hits: u32,
    /// Short streams no zlib level recreated.
    pub(super) misses: u32,
}

/// Short streams zlib may miss, beyond those it recreated, before it is no longer tried first.
const ZLIB_MISSES: u32 = 4;

impl ZlibHint {
    fn worth_trying(&self) -> bool {
        self.misses < ZLIB_MISSES.saturating_add(self.hits)
    }
}

/// Most bytes copied for reused streams inside other streams (beyond, the check recompresses).
const MAX_HELD_REUSED: u64 = 256 << 20;

impl<'o> Expander<'o> {
    pub(super) fn new(opts: &'o ExpandOptions, budget: u64) -> Self {
        Expander {
            opts,
            stats: ExpandStats::default(),
            budget,
            suppressed_notes: 0,
            known: None,
            learned: None,
            input: None,
            reused: Vec::new(),
            held_room: MAX_HELD_REUSED,
            zlib: ZlibHint::default(),
        }
    }

    /// The expander of a whole input: reuses the streams of `known`, and records its own
    /// streams when `learn` is set.
    pub(super) fn top(
        opts: &'o ExpandOptions,
        input: &[u8],
        known: Option<&'o StreamIndex>,
        learn: bool,
    ) -> Self {
        let mut ex = Expander::new(opts, opts.max_plain);
        ex.known = known.filter(|k| !k.is_empty());
        ex.learned = learn.then(StreamIndex::default);
        ex.input = Some((input.as_ptr() as usize, input.len()));
        ex
    }

    /// Where `bytes` starts in the top-level input, when it lies there (not in plaintext
    /// held in memory).
    fn offset_in_input(&self, bytes: &[u8]) -> Option<u64> {
        let (base, len) = self.input?;
        let at = (bytes.as_ptr() as usize).checked_sub(base)?;
        (at.checked_add(bytes.len())? <= len).then_some(at as u64)
    }

    /// Marks the stream whose plaintext starts at `plain_at` as proven: the rebuild check takes
    /// its compressed bytes as they are (after inflating them to compare with the plaintext)
    /// instead of compressing its plaintext again.
    fn trust(&mut self, plain_at: u64, stream: &[u8]) {
        let len = stream.len() as u64;
        if let Some(offset) = self.offset_in_input(stream) {
            self.reused
                .push((plain_at, Reused::InInput { offset, len }));
        } else if len <= self.held_room {
            self.held_room -= len;
            self.reused.push((plain_at, Reused::Held(stream.to_vec())));
        }
    }

    fn learn(&mut self, stream: &[u8], record: &[u8]) {
        if let Some(learned) = self.learned.as_mut() {
            learned.insert(index::hash(stream), record.to_vec());
        }
    }

    /// A stream byte-identical to one in `known`: its plaintext, with the known record. The
    /// record recreated exactly these compressed bytes from exactly this plaintext when the
    /// known file was expanded and checked, so nothing is analysed. `None`: not known.
    fn reuse(
        &mut self,
        body: &[u8],
        sink: &mut Sink<'_>,
        lit_prefix: Option<&[u8]>,
    ) -> Result<Option<Outcome>, SeeThroughError> {
        let Some(known) = self.known else {
            return Ok(None);
        };
        let Some(found) = zlib_exact::measure(body, self.budget)? else {
            return Ok(None);
        };
        let Some(stream) = body.get(..found.comp_len) else {
            return Ok(None);
        };
        let Some(record) = known.get(&index::hash(stream)) else {
            return Ok(None);
        };
        if index::record_lengths(record) != Some((found.plain_len, found.comp_len as u64)) {
            return Ok(None);
        }
        self.budget = self.budget.saturating_sub(found.plain_len);
        self.start_op(sink, lit_prefix, OP_DEFLATE)?;
        sink.op(record)?;
        let plain_at = sink.base + sink.plain_len;
        zlib_exact::plaintext(stream, &mut |t| Ok(sink.text(t)?))?;
        self.trust(plain_at, stream);
        let record = record.to_vec();
        self.learn(stream, &record);
        self.stats.reproduced += 1;
        self.stats.reused += 1;
        Ok(Some(Outcome::Complete {
            consumed: found.comp_len,
            crc: found.crc,
            plain_len: found.plain_len,
        }))
    }

    pub(super) fn note(&mut self, n: String) {
        if self.stats.notes.len() < MAX_NOTES {
            self.stats.notes.push(n);
        } else {
            self.suppressed_notes += 1;
        }
    }

    pub(super) fn finish_notes(&mut self) {
        if self.suppressed_notes > 0 {
            let n = self.suppressed_notes;
            self.stats.notes.push(format!("... and {n} more notes"));
            self.suppressed_notes = 0;
        }
    }

    pub(super) fn absorb(&mut self, other: Expander<'_>) {
        let s = other.stats;
        self.stats.streams += s.streams;
        self.stats.reproduced += s.reproduced;
        self.stats.partial += s.partial;
        self.stats.kept_raw += s.kept_raw;
        self.stats.corrections_len += s.corrections_len;
        self.stats.zlib += s.zlib;
        self.stats.xz += s.xz;
        self.stats.bzip2 += s.bzip2;
        self.stats.reused += s.reused;
        self.reused.extend(other.reused);
        if other.learned.is_some() {
            self.learned = other.learned;
        }
        self.held_room = other.held_room;
        for n in s.notes {
            self.note(n);
        }
        self.suppressed_notes += other.suppressed_notes;
    }

    /// Expands `data` if it is a gzip or zip container (and `depth_left > 0`), writing
    /// ops for all of `data`. Returns false (having written nothing) otherwise.
    pub(super) fn container(
        &mut self,
        data: &[u8],
        sink: &mut Sink<'_>,
        depth_left: u8,
    ) -> Result<bool, SeeThroughError> {
        if depth_left == 0 {
            return Ok(false);
        }
        if gzip::header_len(data).is_some() {
            self.gzip(data, sink, depth_left)?;
            return Ok(true);
        }
        if let Some(at) = rpm::payload_start(data) {
            // the lead and headers are copied; the payload is a compressed cpio archive
            let payload = &data[at..];
            if depth_left > 1 && compressed(payload) {
                sink.copy(&data[..at])?;
                if !self.container(payload, sink, depth_left - 1)? {
                    sink.copy(payload)?;
                }
                return Ok(true);
            }
            return Ok(false);
        }
        if let Some(spans) = tar::member_spans(data).or_else(|| cpio::member_spans(data)) {
            // a tar or cpio archive with nothing compressed inside is left alone, not copied
            // for nothing; nor is a tar taken for a zip with data before it when its last
            // member is a `.jar`
            if depth_left > 1 && spans.iter().any(|s| compressed(&data[s.start..s.end])) {
                self.archive(data, &spans, sink, depth_left)?;
                return Ok(true);
            }
            return Ok(false);
        }
        if let Some(spans) = zip::member_spans(data) {
            self.zip(data, &spans, sink, depth_left)?;
            return Ok(true);
        }
        if xz_exact::looks_like_xz(data) {
            self.series(data, sink, Series::Xz, depth_left)?;
            return Ok(true);
        }
        if bzip2_exact::looks_like_bzip2(data) {
            self.series(data, sink, Series::Bzip2, depth_left)?;
            return Ok(true);
        }
        if let Some(spans) = ar::member_spans(data) {
            self.archive(data, &spans, sink, depth_left)?;
            return Ok(true);
        }
        Ok(false)
    }

    /// xz or bzip2 streams one after the other (xz with stream padding between): each that
    /// its library recreates becomes one op and its plaintext (or `OP_NESTED`, where that
    /// plaintext is a container seen through in its turn); from the first that it does not,
    /// the rest is copied.
    fn series(
        &mut self,
        data: &[u8],
        sink: &mut Sink<'_>,
        kind: Series,
        depth_left: u8,
    ) -> Result<(), SeeThroughError> {
        let mut pos = 0usize;
        while kind.starts(&data[pos..]) {
            self.stats.streams += 1;
            let Some((record, comp_len, plain_len)) = kind.probe(&data[pos..], self.budget)? else {
                self.stats.kept_raw += 1;
                self.note(format!(
                    "{} stream at {pos} kept raw: {}",
                    kind.name(),
                    kind.unmatched()
                ));
                break;
            };
            let stream = &data[pos..pos + comp_len];
            self.budget = self.budget.saturating_sub(plain_len);
            let max_nested = self.opts.max_nested.min(MAX_NESTED_PLAIN);
            // The first bytes of the plaintext decide: a container (a tar of `.jar`s) is held to
            // be seen through in its turn, anything else is written as it comes.
            let mut held: Vec<u8> = Vec::new();
            let mut holding = depth_left > 1 && plain_len <= max_nested;
            let written = kind.plaintext(stream, &mut |text| {
                if !holding {
                    return Ok(sink.text(text)?);
                }
                let undecided = held.len() < PEEK;
                held.extend_from_slice(text);
                if undecided && held.len() >= PEEK && !worth_nesting(&held) {
                    holding = false;
                    sink.text(&held)?;
                    held = Vec::new();
                }
                Ok(())
            })?;
            let sub = match holding && written == plain_len && worth_nesting(&held) {
                true => self.sub_expand(&held, sink, depth_left)?,
                false => None,
            };
            if let Some(ops) = sub {
                sink.op(&[OP_NESTED])?;
                nested_list(held.len(), &ops, sink)?;
            } else if holding {
                sink.text(&held)?;
            }
            // (plaintext written before its op: the plain stream is read in the same order)
            sink.op(&record)?;
            if written != plain_len {
                return Err(SeeThroughError::SelfCheck(format!(
                    "{} stream at {pos}: {written} plaintext bytes, {plain_len} expected",
                    kind.name()
                )));
            }
            self.stats.reproduced += 1;
            match kind {
                Series::Xz => self.stats.xz += 1,
                Series::Bzip2 => self.stats.bzip2 += 1,
            }
            pos += comp_len;
            let padding = kind.padding(&data[pos..]);
            sink.copy(&data[pos..pos + padding])?;
            pos += padding;
        }
        sink.copy(&data[pos..])?;
        Ok(())
    }

    /// An ar archive (`.deb`), a tar (`.gem`, a `.tar.gz` of `.jar`s) or a cpio archive (an
    /// RPM's payload): members that are gzip, zip, xz or bzip2 are seen through; everything
    /// else is copied.
    fn archive(
        &mut self,
        data: &[u8],
        spans: &[ar::Span],
        sink: &mut Sink<'_>,
        depth_left: u8,
    ) -> Result<(), SeeThroughError> {
        let mut cur = 0usize;
        for s in spans {
            sink.copy(&data[cur..s.start])?;
            let member = &data[s.start..s.end];
            if !(depth_left > 1
                && compressed(member)
                && self.container(member, sink, depth_left - 1)?)
            {
                sink.copy(member)?;
            }
            cur = s.end;
        }
        sink.copy(&data[cur..])?;
        Ok(())
    }

    fn gzip(
        &mut self,
        data: &[u8],
        sink: &mut Sink<'_>,
        depth_left: u8,
    ) -> Result<(), SeeThroughError> {
        let mut pos = 0usize;
        while pos < data.len() {
            let Some(h) = gzip::header_len(&data[pos..]) else {
                break;
            };
            let body = &data[pos + h..];
            match self.deflate(body, sink, depth_left, Some(&data[pos..pos + h]), pos)? {
                Outcome::Raw => break,
                Outcome::Partial { consumed } => {
                    pos += h + consumed;
                    break;
                }
                Outcome::Complete {
                    consumed,
                    crc,
                    plain_len,
                } => {
                    let t = pos + h + consumed;
                    pos = t;
                    let Some(trailer) = data.get(t..t + 8) else {
                        break;
                    };
                    if trailer[..4] != crc.to_le_bytes()
                        || trailer[4..] != (plain_len as u32).to_le_bytes()
                    {
                        self.note(format!(
                            "gzip member trailer at {t} does not match its data"
                        ));
                        break;
                    }
                    sink.op(&[OP_GZIP_TRAILER])?;
                    pos = t + 8;
                }
            }
        }
        sink.copy(&data[pos..])?;
        Ok(())
    }

    fn zip(
        &mut self,
        data: &[u8],
        spans: &[zip::Span],
        sink: &mut Sink<'_>,
        depth_left: u8,
    ) -> Result<(), SeeThroughError> {
        let helpers = self.opts.parallel.then(super::parallel::helpers).flatten();
        let mut jobs = super::zip_jobs::Batch::new(helpers.as_ref());
        let mut cur = 0usize;
        for s in spans {
            let member = &data[s.start..s.end];
            let deflated = s.method == zip::Method::Deflated
                && member.len() as u64 >= self.opts.min_stream_len;
            if deflated && jobs.takes() {
                jobs.push(s.start, member);
                if jobs.full() {
                    cur = jobs.flush(self, data, cur, sink, depth_left)?;
                }
                continue;
            }
            cur = jobs.flush(self, data, cur, sink, depth_left)?;
            sink.copy(&data[cur..s.start])?;
            match s.method {
                _ if deflated => match self.deflate(member, sink, depth_left, None, s.start)? {
                    Outcome::Raw => sink.copy(member)?,
                    Outcome::Partial { consumed } | Outcome::Complete { consumed, .. } => {
                        sink.copy(&member[consumed..])?
                    }
                },
                zip::Method::Stored if depth_left > 1 && worth_nesting(member) => {
                    if !self.container(member, sink, depth_left - 1)? {
                        sink.copy(member)?;
                    }
                }
                _ => sink.copy(member)?,
            }
            cur = s.end;
        }
        cur = jobs.flush(self, data, cur, sink, depth_left)?;
        sink.copy(&data[cur..])?;
        Ok(())
    }

    /// Analyses the deflate stream at the start of `body`. On success emits (in order)
    /// `lit_prefix` as `OP_LIT`, the deflate op and its plaintext. `at` is for notes.
    ///
    /// preflate-rs 0.7 sometimes fails to *continue* a stream at a chunk boundary
    /// (errors such as "no match found" that do not occur when the same blocks are
    /// analysed in one chunk). A stream that fails after its first chunk is therefore
    /// analysed again from the start with 8x larger chunks (up to 64 MiB); the pass
    /// that reproduces more wins. Plaintext is written once: both passes produce the
    /// same plaintext prefix, and only bytes beyond what was already written are emitted.
    pub(super) fn deflate(
        &mut self,
        body: &[u8],
        sink: &mut Sink<'_>,
        depth_left: u8,
        lit_prefix: Option<&[u8]>,
        at: usize,
    ) -> Result<Outcome, SeeThroughError> {
        self.stats.streams += 1;
        if let Some(done) = self.reuse(body, sink, lit_prefix)? {
            return Ok(done);
        }
        // preflate recreates most zlib output with a few bytes of corrections, and quickly. Where
        // it struggles on the start of a long stream (on text at levels 4-9 its corrections
        // come to ~1% of the plaintext, and it slows down) a stream zlib wrote is recorded as
        // its level at once; a short stream preflate cannot recreate is offered to zlib after.
        let mut head = Vec::new();
        let probe = zlib_exact::probe(body, self.budget, &mut head)?;
        let zlib_first = matches!(probe, Probe::Whole { .. }) && self.zlib.worth_trying();
        if let Probe::Whole { comp_len } = probe {
            if zlib_first {
                match zlib_exact::match_whole(body, comp_len, &head)? {
                    Some(z) => {
                        self.zlib.hits = self.zlib.hits.saturating_add(1);
                        return self.zlib_stream(body, sink, depth_left, lit_prefix, &head, z);
                    }
                    None => {
                        self.zlib.misses = self.zlib.misses.saturating_add(1);
                    }
                }
            }
        }
        if probe == Probe::Large && preflate_struggles(body) {
            if let Some(z) = zlib_exact::match_large(body, &head, self.budget)? {
                return self.zlib_stream(body, sink, depth_left, lit_prefix, &head, z);
            }
        }
        let max_chunk = MAX_CHUNK_PLAIN / 2;
        let mut chunk_plain = self.opts.chunk_plain.clamp(64 << 10, max_chunk);
        let mut out = StreamPlain {
            held: None,
            committed: 0,
        };
        let mut best: Option<Pass> = None;
        let mut notes = Vec::new();
        for _attempt in 0..4 {
            let pass = self.pass(body, sink, depth_left, chunk_plain, &mut out)?;
            let retry = !pass.complete && pass.retryable && chunk_plain < max_chunk;
            if let Some(why) = &pass.stop {
                notes.push(format!("{} (chunk size {chunk_plain})", why));
            }
            if best.as_ref().is_none_or(|b| pass.consumed > b.consumed) {
                best = Some(pass);
            }
            if !retry {
                break;
            }
            chunk_plain = (chunk_plain * 8).min(max_chunk);
        }
        let why = notes.join("; ");
        let Some(best) = best.filter(|b| b.chunks > 0) else {
            if let (Probe::Whole { comp_len }, false) = (probe, zlib_first) {
                if let Some(z) = zlib_exact::match_whole(body, comp_len, &head)? {
                    return self.zlib_stream(body, sink, depth_left, lit_prefix, &head, z);
                }
            }
            self.stats.kept_raw += 1;
            let why = if why.is_empty() {
                "empty".to_string()
            } else {
                why
            };
            self.note(format!(
                "deflate stream at {at} ({} bytes available) kept raw: {why}",
                body.len()
            ));
            return Ok(Outcome::Raw);
        };
        if best.plain_len != out.committed {
            return Err(SeeThroughError::SelfCheck(format!(
                "stream at {at}: recorded {} plaintext bytes but wrote {}",
                best.plain_len, out.committed
            )));
        }
        self.stats.corrections_len += best.corrections_len;
        let mut nested_done = false;
        if let Some(text) = out.held.as_ref().filter(|_| best.complete) {
            nested_done = self.nested(text, &best.records, sink, depth_left, lit_prefix)?;
        }
        if !nested_done {
            self.start_op(sink, lit_prefix, OP_DEFLATE)?;
            sink.op(&best.records)?;
            if let Some(text) = out.held.as_ref() {
                sink.text(text)?;
            }
        }
        sink.op(&[CHUNK_END])?;
        if !nested_done && best.complete && self.learned.is_some() {
            let mut record = best.records.clone();
            record.push(CHUNK_END);
            self.learn(&body[..best.consumed], &record);
        }
        if best.complete {
            self.stats.reproduced += 1;
            if !why.is_empty() {
                self.note(format!(
                    "deflate stream at {at} reproduced after retry: {why}"
                ));
            }
            Ok(Outcome::Complete {
                consumed: best.consumed,
                crc: best.crc,
                plain_len: best.plain_len,
            })
        } else {
            self.stats.partial += 1;
            self.note(format!(
                "deflate stream at {at} reproduced for its first {} of {} bytes only: {why}",
                best.consumed,
                body.len()
            ));
            Ok(Outcome::Partial {
                consumed: best.consumed,
            })
        }
    }

    /// A stream zlib wrote (`z`) is recorded as its level alone (`CHUNK_ZLIB`); where its
    /// plaintext is itself a container seen through (a tar of `.jar`s, say), as the nested
    /// container's ops followed by that record.
    fn zlib_stream(
        &mut self,
        body: &[u8],
        sink: &mut Sink<'_>,
        depth_left: u8,
        lit_prefix: Option<&[u8]>,
        head: &[u8],
        z: zlib_exact::ZlibStream,
    ) -> Result<Outcome, SeeThroughError> {
        let stream = body.get(..z.comp_len).ok_or_else(|| {
            SeeThroughError::SelfCheck("zlib stream longer than its input".into())
        })?;
        self.budget = self.budget.saturating_sub(z.plain_len);
        let mut record = vec![CHUNK_ZLIB, z.level];
        put_varint(&mut record, z.plain_len);
        put_varint(&mut record, z.comp_len as u64);
        record.push(CHUNK_END);
        // the whole plaintext in memory: `head` when the probe read it all, else inflated here
        // when it may be a container to see through in its turn
        let may_nest = depth_left > 1 && worth_nesting(head);
        let mut held = Vec::new();
        let text = if head.len() as u64 == z.plain_len {
            Some(head)
        } else if may_nest && z.plain_len <= self.opts.max_nested.min(MAX_NESTED_PLAIN) {
            zlib_exact::plaintext(stream, &mut |t| {
                held.extend_from_slice(t);
                Ok(())
            })?;
            Some(&held[..])
        } else {
            None
        };
        let nested_done = match text {
            Some(t) if may_nest => self.nested(t, &record, sink, depth_left, lit_prefix)?,
            _ => false,
        };
        if !nested_done {
            self.start_op(sink, lit_prefix, OP_DEFLATE)?;
            sink.op(&record)?;
            // zlib at this level wrote exactly these bytes from this plaintext just now (that is
            // how the level was found): the check need not compress it again
            self.trust(sink.base + sink.plain_len, stream);
            match text {
                Some(t) => sink.text(t)?,
                None => zlib_exact::plaintext(stream, &mut |t| Ok(sink.text(t)?))?,
            }
            self.learn(stream, &record);
        }
        self.stats.reproduced += 1;
        self.stats.zlib += 1;
        Ok(Outcome::Complete {
            consumed: z.comp_len,
            crc: z.crc,
            plain_len: z.plain_len,
        })
    }

    /// One analysis pass over a stream with a given chunk size. Chunk records are
    /// collected in memory; plaintext beyond `out.committed` is emitted (or held).
    fn pass(
        &mut self,
        body: &[u8],
        sink: &mut Sink<'_>,
        depth_left: u8,
        chunk_plain: u64,
        out: &mut StreamPlain,
    ) -> Result<Pass, SeeThroughError> {
        let ratio = f64::from(self.opts.max_correction_ratio.clamp(0.0, 1.0));
        let max_nested = self.opts.max_nested.min(MAX_NESTED_PLAIN);
        let mut an = Analyzer::new(usize::try_from(chunk_plain).unwrap_or(1 << 24));
        let mut p = Pass {
            records: Vec::new(),
            consumed: 0,
            plain_len: 0,
            crc: 0,
            corrections_len: 0,
            chunks: 0,
            complete: false,
            retryable: false,
            stop: None,
        };
        let mut crc = crc32fast::Hasher::new();
        while !an.is_done() {
            let c = match an.next_chunk(&body[p.consumed..]) {
                Ok(c) => c,
                Err(e) => {
                    // at the first chunk only "block larger than the chunk" is worth a retry
                    p.retryable = e.plain_limit || p.chunks > 0;
                    p.stop = Some(e.message);
                    break;
                }
            };
            let text = an.text();
            let (plain_len, comp_len, corr_len) = (
                text.len() as u64,
                c.comp_len as u64,
                c.corrections.len() as u64,
            );
            if comp_len == 0 && !an.is_done() {
                p.stop = Some("preflate made no progress".to_string());
                break;
            }
            if plain_len > MAX_CHUNK_PLAIN || comp_len > max_comp_for_plain(plain_len) {
                p.stop = Some(format!(
                    "chunk of {plain_len} plain / {comp_len} compressed bytes out of bounds"
                ));
                break;
            }
            if corr_len as f64 > ratio * comp_len as f64 + CORR_SLACK as f64 {
                p.stop = Some(format!(
                    "corrections too large ({corr_len} bytes for {comp_len} compressed bytes)"
                ));
                break;
            }
            if p.records.len() as u64 + corr_len > MAX_HELD_RECIPE {
                p.stop = Some("recipe for this stream too large".to_string());
                break;
            }
            // plaintext not yet written by an earlier pass
            let new_from = out.committed.saturating_sub(p.plain_len);
            let fresh = if new_from < plain_len {
                &text[new_from as usize..]
            } else {
                &[][..]
            };
            if fresh.len() as u64 > self.budget {
                p.stop = Some("max_plain reached".to_string());
                break;
            }
            if p.chunks == 0 && out.committed == 0 && depth_left > 1 && worth_nesting(text) {
                out.held = Some(Vec::new());
            }
            if !fresh.is_empty() {
                self.budget -= fresh.len() as u64;
                out.committed += fresh.len() as u64;
                let spill = match out.held.as_mut() {
                    Some(h) if (h.len() + fresh.len()) as u64 <= max_nested => {
                        h.extend_from_slice(fresh);
                        false
                    }
                    Some(_) => true,
                    None => {
                        sink.text(fresh)?;
                        false
                    }
                };
                if spill {
                    // too big to buffer for nesting: write what was held and stream the rest
                    if let Some(h) = out.held.take() {
                        sink.text(&h)?;
                    }
                    sink.text(fresh)?;
                }
            }
            p.records
                .extend_from_slice(&chunk_record(plain_len, comp_len, &c.corrections));
            crc.update(text);
            p.corrections_len += corr_len;
            p.plain_len += plain_len;
            p.consumed += c.comp_len;
            p.chunks += 1;
            an.shrink();
        }
        p.complete = p.stop.is_none() && an.is_done();
        p.crc = crc.finalize();
        Ok(p)
    }

    fn start_op(
        &mut self,
        sink: &mut Sink<'_>,
        lit_prefix: Option<&[u8]>,
        op: u8,
    ) -> std::io::Result<()> {
        if let Some(p) = lit_prefix {
            sink.lit(p)?;
        }
        sink.op(&[op])
    }

    /// Tries to expand held plaintext as a nested container; on success emits
    /// `OP_DEFLATE_NESTED` with the sub-op list and the chunk records.
    fn nested(
        &mut self,
        text: &[u8],
        records: &[u8],
        sink: &mut Sink<'_>,
        depth_left: u8,
        lit_prefix: Option<&[u8]>,
    ) -> Result<bool, SeeThroughError> {
        let Some(ops) = self.sub_expand(text, sink, depth_left)? else {
            return Ok(false);
        };
        self.start_op(sink, lit_prefix, OP_DEFLATE_NESTED)?;
        nested_list(text.len(), &ops, sink)?;
        sink.op(records)?;
        Ok(true)
    }

    /// Expands `text`, a stream's whole plaintext, as a container one level down: its plain
    /// bytes go straight to `sink` (they are read in this order whatever op comes first in the
    /// recipe), its op list is returned. `None`, with nothing written, when `text` is not a
    /// container. A container in which nothing could be recreated is still one: its op list
    /// copies it whole, and is as right as any.
    fn sub_expand(
        &mut self,
        text: &[u8],
        sink: &mut Sink<'_>,
        depth_left: u8,
    ) -> Result<Option<Vec<u8>>, SeeThroughError> {
        let mut ops: Vec<u8> = Vec::new();
        let mut sub = Expander::new(self.opts, self.budget);
        sub.known = self.known;
        sub.learned = self.learned.take();
        sub.held_room = self.held_room;
        let (recognised, plain_len) = {
            let base = sink.base + sink.plain_len;
            let mut sub_sink = Sink::new(&mut *sink.plain, &mut ops);
            sub_sink.base = base;
            let r = sub.container(text, &mut sub_sink, depth_left - 1)?;
            if r {
                sub_sink.finish()?;
            }
            (r, sub_sink.plain_len)
        };
        self.budget = sub.budget;
        self.absorb(sub);
        if !recognised {
            return Ok(None);
        }
        sink.plain_len += plain_len;
        Ok(Some(ops))
    }
}

/// Writes a nested op list's declared plaintext length and the list itself (its plain bytes
/// are already in the plain stream).
fn nested_list(text_len: usize, ops: &[u8], sink: &mut Sink<'_>) -> std::io::Result<()> {
    let mut b = Vec::new();
    put_varint(&mut b, text_len as u64);
    sink.op(&b)?;
    sink.op(ops)
}

/// Plaintext bytes enough to tell a container from anything else (a tar header's length).
const PEEK: usize = 512;

/// A member of an archive that is itself compressed in a format seen through.
fn compressed(member: &[u8]) -> bool {
    gzip::looks_like_gzip(member)
        || zip::looks_like_zip(member)
        || xz_exact::looks_like_xz(member)
        || bzip2_exact::looks_like_bzip2(member)
}

/// Plaintext that is worth holding to see through as a container in its turn: a gzip, a zip,
/// a tar or a cpio archive (whose members may be compressed: the `.jar`s of a Java
/// distribution's `.tar.gz`, the gzipped manual pages of an RPM's payload).
fn worth_nesting(text: &[u8]) -> bool {
    gzip::looks_like_gzip(text)
        || zip::looks_like_zip(text)
        || tar::looks_like_tar(text)
        || cpio::looks_like_cpio(text)
}

/// A format whose streams are recreated by compressing their plaintext again.
#[derive(Clone, Copy, Debug)]
enum Series {
    Xz,
    Bzip2,
}

impl Series {
    fn name(self) -> &'static str {
        match self {
            Series::Xz => "xz",
            Series::Bzip2 => "bzip2",
        }
    }

    fn starts(self, data: &[u8]) -> bool {
        match self {
            Series::Xz => xz_exact::looks_like_xz(data),
            Series::Bzip2 => bzip2_exact::looks_like_bzip2(data),
        }
    }

    /// Why a stream was not recreated, for the notes.
    fn unmatched(self) -> &'static str {
        match self {
            Series::Xz => {
                "liblzma does not recreate it from any preset (another encoder, custom \
                 filters, or over the plaintext budget)"
            }
            Series::Bzip2 => {
                "libbzip2 does not recreate it (another encoder such as lbzip2, or over the \
                 plaintext budget)"
            }
        }
    }

    /// The stream at the start of `data` if its library recreates it: (op record,
    /// compressed length, plaintext length).
    fn probe(
        self,
        data: &[u8],
        budget: u64,
    ) -> Result<Option<(Vec<u8>, usize, u64)>, SeeThroughError> {
        Ok(match self {
            Series::Xz => xz_exact::probe(data, budget)?.map(|s| {
                let mut record = vec![OP_XZ];
                put_varint(&mut record, u64::from(s.params.preset));
                record.push(s.params.check);
                put_varint(&mut record, s.params.block_size);
                put_varint(&mut record, s.plain_len);
                put_varint(&mut record, s.comp_len as u64);
                (record, s.comp_len, s.plain_len)
            }),
            Series::Bzip2 => bzip2_exact::probe(data, budget)?.map(|s| {
                let mut record = vec![OP_BZIP2, s.level];
                put_varint(&mut record, s.plain_len);
                put_varint(&mut record, s.comp_len as u64);
                (record, s.comp_len, s.plain_len)
            }),
        })
    }

    fn plaintext(
        self,
        stream: &[u8],
        emit: &mut dyn FnMut(&[u8]) -> Result<(), SeeThroughError>,
    ) -> Result<u64, SeeThroughError> {
        match self {
            Series::Xz => xz_exact::plaintext(stream, emit),
            Series::Bzip2 => bzip2_exact::plaintext(stream, emit),
        }
    }

    /// Bytes between this stream and the next: xz's stream padding (groups of four zero
    /// bytes); bzip2 streams follow each other directly.
    fn padding(self, rest: &[u8]) -> usize {
        match self {
            Series::Xz => rest.chunks_exact(4).take_while(|c| c == &[0u8; 4]).count() * 4,
            Series::Bzip2 => 0,
        }
    }
}
