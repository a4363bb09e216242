//! `expand`: walks gzip/zip/xz/bzip2/ar/tar/cpio/rpm containers, analyses compressed streams, emits plain + recipe.
//!
//! The expander's state and the reuse of known streams are here; the container walkers are in
//! `walk`, the deflate streams in `deflate`, the recipe writing in `sink`.

mod deflate;
mod sink;
mod walk;

use crate::error::SeeThroughError;
use crate::index::{self, Reused, StreamIndex};
use crate::wire::{OP_DEFLATE, OP_DEFLATE_NESTED};
use crate::zlib_exact;
use crate::{ExpandOptions, ExpandStats};

pub(crate) use self::sink::Sink;
use self::sink::{chunk_record, nested_list};

/// Most notes kept in `ExpandStats::notes` (further ones are only counted).
const MAX_NOTES: usize = 64;

/// What became of one deflate stream.
pub(crate) enum Outcome {
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

/// Walks containers and emits ops; one per nesting level that buffers.
pub(crate) struct Expander<'o> {
    pub(crate) opts: &'o ExpandOptions,
    pub(crate) stats: ExpandStats,
    /// Plaintext bytes this expander may still emit for deflate streams.
    pub(crate) budget: u64,
    pub(crate) suppressed_notes: usize,
    /// Streams of a similar file (a reference's), reused instead of analysed again.
    pub(crate) known: Option<&'o StreamIndex>,
    /// The streams of this expansion, when asked for.
    pub(crate) learned: Option<StreamIndex>,
    /// Where the top-level input lies in memory, to tell a stream's offset in it.
    pub(crate) input: Option<(usize, usize)>,
    /// Each stream reused from `known`: the offset of its plaintext in the plain stream, and
    /// where its compressed bytes are.
    pub(crate) reused: Vec<(u64, Reused)>,
    /// Bytes that may still be copied for reused streams that lie inside other streams.
    pub(crate) held_room: u64,
    /// What zlib has said about this input's short streams so far (tried before preflate).
    pub(crate) zlib: ZlibHint,
}

/// Short deflate streams are offered to zlib first (one compression where zlib wrote them, as
/// it did for most zips, jars and wheels) unless the input's first ones showed it did not.
/// Levels are always tried in one order, so the record of a stream does not depend on what
/// came before it (members analysed in parallel give what one thread gives).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ZlibHint {
    /// Short streams zlib recreated.
    pub(crate) hits: u32,
    /// Short streams no zlib level recreated.
    pub(crate) misses: u32,
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
    pub(crate) fn new(opts: &'o ExpandOptions, budget: u64) -> Self {
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
    pub(crate) fn top(
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

    pub(crate) fn note(&mut self, n: String) {
        if self.stats.notes.len() < MAX_NOTES {
            self.stats.notes.push(n);
        } else {
            self.suppressed_notes += 1;
        }
    }

    pub(crate) fn finish_notes(&mut self) {
        if self.suppressed_notes > 0 {
            let n = self.suppressed_notes;
            self.stats.notes.push(format!("... and {n} more notes"));
            self.suppressed_notes = 0;
        }
    }

    pub(crate) fn absorb(&mut self, other: Expander<'_>) {
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
