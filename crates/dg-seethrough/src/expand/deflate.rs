//! Deflate streams in `expand`: reused, recorded as a zlib level, or analysed by preflate in
//! chunks (retried with larger chunks), and their plaintext written or held to nest.

use super::walk::worth_nesting;
use super::{chunk_record, Expander, Outcome, Sink};
use crate::engine::Analyzer;
use crate::error::{SeeThroughError, SelfCheckFault};
use crate::wire::{
    max_comp_for_plain, put_varint, CHUNK_END, CHUNK_ZLIB, CORR_SLACK, MAX_CHUNK_PLAIN,
    MAX_NESTED_PLAIN, OP_DEFLATE,
};
use crate::zlib_exact::{self, Probe};

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

impl Expander<'_> {
    /// Analyses the deflate stream at the start of `body`. On success emits (in order)
    /// `lit_prefix` as `OP_LIT`, the deflate op and its plaintext. `at` is for notes.
    ///
    /// preflate-rs 0.7 sometimes fails to *continue* a stream at a chunk boundary
    /// (errors such as "no match found" that do not occur when the same blocks are
    /// analysed in one chunk). A stream that fails after its first chunk is therefore
    /// analysed again from the start with 8x larger chunks (up to 64 MiB); the pass
    /// that reproduces more wins. Plaintext is written once: both passes produce the
    /// same plaintext prefix, and only bytes beyond what was already written are emitted.
    pub(crate) fn deflate(
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
            return Err(SelfCheckFault::DeflatePlaintext {
                at: at as u64,
                recorded: best.plain_len,
                written: out.committed,
            }
            .into());
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
        let stream = body
            .get(..z.comp_len)
            .ok_or(SelfCheckFault::ZlibPastInput)?;
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
}
