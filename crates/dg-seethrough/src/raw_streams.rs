//! The compressed streams of a file rebuilt before (a reference kept whole in the cache), found by what recreates them, so that rebuilding a similar file copies them instead of compressing again.
//!
//! An op of a recipe writes bytes that depend on nothing but the op's own recipe bytes and
//! the plain bytes it takes (a gzip trailer, which takes what the stream before it leaves, is
//! never copied). So an op of another file's recipe with the same recipe bytes and the same
//! plain bytes writes what this file's op wrote, and those bytes can be copied from this
//! file. Ops are matched by a BLAKE3 digest of both. The top-level ops are indexed, and the ops
//! one level inside a deflate stream (the `.json.gz` members of a wheel: a new release
//! changes the gzip header's time and so the member's stream, not the JSON's stream inside
//! it), whose bytes are found by inflating the outer stream. The file's bytes are checked
//! against its recipe's declared length and CRC-32 before any is used, and every rebuild is
//! checked whole by its caller (SHA-256) as always.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::error::{SeeThroughError, SimilarFault};
use super::parallel::{plan, skip_chunks, Step};
use super::rebuild::{parts, Trust};
use super::wire::{
    Reader, HEADER_LEN, MAX_NESTED_PLAIN, OP_BZIP2, OP_DEFLATE, OP_DEFLATE_NESTED, OP_NESTED, OP_XZ,
};
use super::zlib_exact;

/// Ops smaller than this are rebuilt (a copy saves nothing worth a hash).
const MIN_COPIED: u64 = 64;

/// Most plaintext of outer streams inflated to index the streams inside them.
const MAX_INFLATED: u64 = 1 << 30;

/// What identifies an op's output: BLAKE3 (several times faster than SHA-256 here, and as
/// hard to collide) of its tag, recipe bytes and plain bytes.
type OpKey = [u8; 32];

/// Where an indexed op's bytes are: in the file (`None`) or in an inflated outer stream.
type Place = (Option<usize>, usize, usize);

/// The streams of one file (its bytes, plain form and recipe), by [`OpKey`].
pub struct RawStreams<'a> {
    raw: &'a [u8],
    /// Plaintexts of outer streams, for the ops inside them.
    inflated: Vec<Vec<u8>>,
    by_key: HashMap<OpKey, Place>,
    /// Ops copied by rebuilds so far.
    copied: AtomicUsize,
}

impl std::fmt::Debug for RawStreams<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawStreams")
            .field("bytes", &self.raw.len())
            .field("streams", &self.by_key.len())
            .field("copied", &self.copied())
            .finish()
    }
}

/// Whether an op of this kind may be copied from another file (`before_trailer`: a gzip
/// trailer comes next, which needs the plaintext of the op's stream).
fn copied_kind(op: u8, before_trailer: bool) -> bool {
    match op {
        OP_DEFLATE => true,
        // the plaintext of these is not at hand without running them
        OP_DEFLATE_NESTED | OP_NESTED | OP_XZ | OP_BZIP2 => !before_trailer,
        _ => false,
    }
}

fn key(op: u8, recipe: &[u8], plain: &[u8]) -> OpKey {
    let mut h = blake3::Hasher::new();
    h.update(&[op]);
    h.update(&(recipe.len() as u64).to_le_bytes());
    h.update(recipe);
    h.update(plain);
    h.finalize().into()
}

impl<'a> RawStreams<'a> {
    /// Indexes `raw`, the bytes that `plain` and `recipe` rebuild. Fails when the recipe is
    /// not whole or `raw` is not of the length and CRC-32 the recipe declares.
    pub fn new(plain: &[u8], recipe: &[u8], raw: &'a [u8]) -> Result<Self, SeeThroughError> {
        let p = parts(recipe)?;
        if p.plain_len != plain.len() as u64 {
            return Err(SimilarFault::PlainForm.into());
        }
        if p.total_len != raw.len() as u64 || crc32fast::hash(raw) != p.crc {
            return Err(SimilarFault::NotRebuilt.into());
        }
        let mut r = Reader::new(p.ops, HEADER_LEN as u64, "recipe");
        let mut pr = Reader::new(plain, 0, "plain stream");
        let steps = plan(&mut r, &mut pr)?;
        if !r.is_empty() || !pr.is_empty() {
            return Err(SimilarFault::PlainNotCovered.into());
        }
        let mut index = RawStreams {
            raw,
            inflated: Vec::new(),
            by_key: HashMap::new(),
            copied: AtomicUsize::new(0),
        };
        let mut budget = MAX_INFLATED;
        index.add(&steps, raw, None, &mut budget)?;
        Ok(index)
    }

    /// Indexes `steps`, which write `bytes`: the file's top-level ops (`held` is `None`),
    /// whose nested deflate streams are inflated to index the ops inside them, or those ops
    /// (`bytes` is `inflated[held]`).
    fn add(
        &mut self,
        steps: &[Step<'_, '_>],
        bytes: &[u8],
        held: Option<usize>,
        budget: &mut u64,
    ) -> Result<(), SeeThroughError> {
        let mut at = 0usize;
        for step in steps {
            let end = usize::try_from(step.out_len)
                .ok()
                .and_then(|len| at.checked_add(len))
                .filter(|&end| end <= bytes.len())
                .ok_or(SimilarFault::OpsPastEnd)?;
            if copied_kind(step.op, step.before_trailer) && step.out_len >= MIN_COPIED {
                self.by_key
                    .insert(key(step.op, step.recipe, step.plain), (held, at, end));
            }
            if held.is_none() && step.op == OP_DEFLATE_NESTED {
                if let Some(stream) = bytes.get(at..end) {
                    self.add_inner(step, stream, budget)?;
                }
            }
            at = end;
        }
        if at != bytes.len() {
            return Err(SimilarFault::OpsShort.into());
        }
        Ok(())
    }

    /// Indexes the ops inside the nested deflate stream `step`, whose bytes are `stream`.
    fn add_inner(
        &mut self,
        step: &Step<'_, '_>,
        stream: &[u8],
        budget: &mut u64,
    ) -> Result<(), SeeThroughError> {
        let mut r = Reader::new(step.recipe, 0, "recipe");
        let declared = r.varint()?;
        if declared > MAX_NESTED_PLAIN || declared > *budget {
            return Ok(());
        }
        *budget -= declared;
        let mut p = Reader::new(step.plain, 0, "plain stream");
        let inner = plan(&mut r, &mut p)?;
        let mut text = Vec::new();
        zlib_exact::plaintext(stream, &mut |t| {
            if (text.len() + t.len()) as u64 > declared {
                return Err(SimilarFault::InflatesPast.into());
            }
            text.extend_from_slice(t);
            Ok(())
        })?;
        if text.len() as u64 != declared {
            return Err(SimilarFault::InflatesShort.into());
        }
        let held = self.inflated.len();
        self.add(&inner, &text, Some(held), budget)?;
        self.inflated.push(text);
        Ok(())
    }

    /// Streams indexed.
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    /// Ops that rebuilds copied from this file so far.
    pub fn copied(&self) -> usize {
        self.copied.load(Ordering::Relaxed)
    }

    /// True when no stream was indexed.
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// The `out_len` bytes an op (`op`, its recipe bytes after the tag, the plain bytes it
    /// takes) writes, when this file has such an op.
    pub(super) fn find(
        &self,
        op: u8,
        recipe: &[u8],
        plain: &[u8],
        out_len: u64,
        before_trailer: bool,
    ) -> Option<&[u8]> {
        if !copied_kind(op, before_trailer) || out_len < MIN_COPIED {
            return None;
        }
        let &(held, start, end) = self.by_key.get(&key(op, recipe, plain))?;
        let source = match held {
            None => self.raw,
            Some(i) => self.inflated.get(i)?.as_slice(),
        };
        let bytes = source.get(start..end)?;
        if bytes.len() as u64 != out_len {
            return None;
        }
        self.copied.fetch_add(1, Ordering::Relaxed);
        Some(bytes)
    }
}

impl Step<'_, '_> {
    /// This op's bytes, copied from the similar file of `trust` when it has them.
    pub(super) fn known_bytes<'t>(&self, trust: Option<&Trust<'t>>) -> Option<&'t [u8]> {
        trust?.raw?.find(
            self.op,
            self.recipe,
            self.plain,
            self.out_len,
            self.before_trailer,
        )
    }
}

/// A deflate op (its tag read; `r` at its chunk list, `p` at its plaintext) copied from the
/// similar file of `trust` when it has it: its bytes and plaintext, with `r` and `p` moved
/// past the op. A malformed op is left to the rebuild to report.
pub(super) fn known_deflate<'t, 'p>(
    trust: Option<&Trust<'t>>,
    r: &mut Reader<'_>,
    p: &mut Reader<'p>,
) -> Option<(&'t [u8], &'p [u8])> {
    let raw = trust?.raw?;
    let mut after = r.clone();
    let start = after.rest();
    let (plain_len, comp) = skip_chunks(&mut after).ok()?;
    let recipe = start.get(..start.len() - after.rest().len())?;
    let mut plain = p.clone();
    let text = plain.take(plain_len).ok()?;
    let bytes = raw.find(OP_DEFLATE, recipe, text, comp, false)?;
    *r = after;
    *p = plain;
    Some((bytes, text))
}
