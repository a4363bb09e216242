//! Rebuilding on every core: the top-level ops of a recipe that recompress a stream run on helper threads, their output written in order.
//!
//! The op list is first walked without running anything (each op's extent in the recipe and in
//! the plain stream is known from its lengths alone); then each op that recompresses (deflate,
//! nested, xz, bzip2) runs on its own slices of the recipe and plain stream into memory, at
//! most [`WINDOW`] ops ahead of the writer, while cheap ops (copies, literals, gzip trailers)
//! are written in between. Every op checks exactly what the sequential rebuild checks, and an
//! op must consume exactly the extent the walk found. Helper threads come from one budget for
//! the whole process (`cores - 1`), so many files rebuilt at once never oversubscribe.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, OnceLock};

use super::error::{RecipeFault, SeeThroughError};
use super::rebuild::{run_op, BufOut, Out, Trust};
use super::wire::{
    Reader, CHUNK_END, CHUNK_MORE, CHUNK_ZLIB, MAX_NEST, OP_BZIP2, OP_COPY, OP_DEFLATE,
    OP_DEFLATE_NESTED, OP_END, OP_GZIP_TRAILER, OP_LIT, OP_NESTED, OP_XZ,
};

/// Ops run ahead of the writer, per thread (bounds the memory held: their outputs).
const WINDOW: usize = 4;

/// Largest plain extent of an op run on a helper (its output is held until written).
const MAX_HELD_PLAIN: usize = 8 << 20;

/// Helper threads not lent out (the process's cores minus the one each caller runs on).
fn pool() -> &'static AtomicUsize {
    static FREE: OnceLock<AtomicUsize> = OnceLock::new();
    FREE.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        AtomicUsize::new(cores.saturating_sub(1))
    })
}

/// Helper threads lent to one rebuild; given back when dropped.
pub(super) struct Helpers(usize);

impl Drop for Helpers {
    fn drop(&mut self) {
        pool().fetch_add(self.0, Ordering::AcqRel);
    }
}

impl Helpers {
    /// Threads lent.
    pub(super) fn count(&self) -> usize {
        self.0
    }
}

/// No helper threads: [`run_top`] runs every op on the caller's thread.
pub(super) fn none() -> Helpers {
    Helpers(0)
}

/// As many helper threads as are free (`None`: none are).
pub(super) fn helpers() -> Option<Helpers> {
    let taken = pool()
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |free| {
            (free > 0).then_some(0)
        })
        .ok()?;
    Some(Helpers(taken))
}

/// Reads a chunk list without recreating it: (plaintext, compressed) lengths.
pub(super) fn skip_chunks(r: &mut Reader<'_>) -> Result<(u64, u64), SeeThroughError> {
    let (mut plain, mut comp, mut chunks) = (0u64, 0u64, 0u32);
    loop {
        let at = r.offset();
        match r.u8()? {
            CHUNK_END if chunks > 0 => return Ok((plain, comp)),
            CHUNK_MORE => {
                plain = plain.saturating_add(r.varint()?);
                comp = comp.saturating_add(r.varint()?);
                let corrections = r.varint()?;
                r.take(corrections)?;
            }
            CHUNK_ZLIB if chunks == 0 => {
                r.u8()?;
                plain = r.varint()?;
                comp = r.varint()?;
                if r.u8()? != CHUNK_END {
                    return Err(SeeThroughError::bad(at, RecipeFault::ZlibNotAlone));
                }
                return Ok((plain, comp));
            }
            t => {
                return Err(SeeThroughError::bad(
                    at,
                    RecipeFault::UnknownChunkTag { tag: t },
                ))
            }
        }
        chunks += 1;
    }
}

/// Reads one op (tag `op` already read) without running it; returns the plain bytes it takes
/// and the bytes it writes (as its lengths declare them).
pub(super) fn skip_op(
    op: u8,
    at: u64,
    r: &mut Reader<'_>,
    depth: u8,
) -> Result<(u64, u64), SeeThroughError> {
    Ok(match op {
        OP_COPY => {
            let n = r.varint()?;
            (n, n)
        }
        OP_LIT => {
            let n = r.varint()?;
            r.take(n)?;
            (0, n)
        }
        OP_DEFLATE => skip_chunks(r)?,
        OP_DEFLATE_NESTED | OP_NESTED => {
            if depth + 1 >= MAX_NEST {
                return Err(SeeThroughError::bad(at, RecipeFault::NestingTooDeep));
            }
            r.varint()?;
            let mut taken = 0u64;
            loop {
                let at = r.offset();
                match r.u8()? {
                    OP_END => break,
                    inner => taken = taken.saturating_add(skip_op(inner, at, r, depth + 1)?.0),
                }
            }
            // the stream the nested plaintext feeds (its plain bytes are not the outer ones)
            let written = if op == OP_DEFLATE_NESTED {
                skip_chunks(r)?.1
            } else {
                let stream_at = r.offset();
                match r.u8()? {
                    tag @ (OP_XZ | OP_BZIP2) => skip_op(tag, stream_at, r, depth + 1)?.1,
                    _ => {
                        return Err(SeeThroughError::bad(
                            stream_at,
                            RecipeFault::NestedWithoutStream,
                        ))
                    }
                }
            };
            (taken, written)
        }
        OP_GZIP_TRAILER => (0, 8),
        OP_XZ => {
            r.varint()?;
            r.u8()?;
            r.varint()?;
            (r.varint()?, r.varint()?)
        }
        OP_BZIP2 => {
            r.u8()?;
            (r.varint()?, r.varint()?)
        }
        _ => return Err(SeeThroughError::bad(at, RecipeFault::UnknownOp { op })),
    })
}

/// One op of the top-level list: where it lies in the recipe and the plain stream.
pub(super) struct Step<'r, 'p> {
    pub(super) op: u8,
    at: u64,
    /// The op's bytes after its tag.
    pub(super) recipe: &'r [u8],
    /// The plain bytes it takes, and their offset in the plain stream.
    pub(super) plain: &'p [u8],
    plain_at: u64,
    /// The bytes it writes, as its lengths declare them.
    pub(super) out_len: u64,
    /// A gzip trailer comes next (it takes the CRC-32 of this op's plaintext).
    pub(super) before_trailer: bool,
}

impl Step<'_, '_> {
    /// True for ops that recompress a stream (worth a thread) small enough to hold their
    /// output in memory; larger ones stream from the writer's thread.
    fn heavy(&self) -> bool {
        matches!(
            self.op,
            OP_DEFLATE | OP_DEFLATE_NESTED | OP_NESTED | OP_XZ | OP_BZIP2
        ) && self.plain.len() <= MAX_HELD_PLAIN
    }

    /// Runs the op alone into `out`, checking that it takes exactly its extent.
    fn run(
        &self,
        out: &mut dyn Out,
        trust: Option<&Trust<'_>>,
        prev: Option<(u32, u64)>,
    ) -> Result<Option<(u32, u64)>, SeeThroughError> {
        // (a deflate stream is looked up by `run_op`, at any depth)
        if self.op != OP_DEFLATE {
            if let Some(bytes) = self.known_bytes(trust) {
                out.put(bytes, self.at)?;
                // no trailer follows the kinds copied here (see `known_bytes`)
                return Ok(None);
            }
        }
        let mut r = Reader::new(self.recipe, self.at + 1, "recipe");
        let mut p = Reader::new(self.plain, self.plain_at, "plain stream");
        let last = run_op(self.op, self.at, &mut r, &mut p, out, 0, trust, prev)?;
        if !r.is_empty() || !p.is_empty() {
            return Err(SeeThroughError::bad(self.at, RecipeFault::OpLonger));
        }
        Ok(last)
    }
}

/// Walks the top-level op list to its `OP_END`, consuming it from `r` and the plain bytes it
/// takes from `p`.
pub(super) fn plan<'r, 'p>(
    r: &mut Reader<'r>,
    p: &mut Reader<'p>,
) -> Result<Vec<Step<'r, 'p>>, SeeThroughError> {
    let mut steps = Vec::new();
    loop {
        let at = r.offset();
        let op = r.u8()?;
        if op == OP_END {
            return Ok(steps);
        }
        let (rest, from) = (r.rest(), r.offset());
        let plain_at = p.offset();
        let (taken, out_len) = skip_op(op, at, r, 0)?;
        let len = usize::try_from(r.offset() - from)
            .map_err(|_| SeeThroughError::bad(at, RecipeFault::OpTooLong))?;
        if op == OP_GZIP_TRAILER {
            if let Some(before) = steps.last_mut() {
                before.before_trailer = true;
            }
        }
        steps.push(Step {
            op,
            at,
            recipe: rest.get(..len).unwrap_or_default(),
            plain: p.take(taken)?,
            plain_at,
            out_len,
            before_trailer: false,
        });
    }
}

/// What the helpers share: the next op to claim, finished outputs, how far the writer is.
struct Shared {
    next: usize,
    written: usize,
    failed: bool,
    done: BTreeMap<usize, Done>,
}

/// The top-level op list of `r` run with `helpers` threads beside this one (see the module
/// docs); the same checks and output as the sequential rebuild.
pub(super) fn run_top(
    r: &mut Reader<'_>,
    p: &mut Reader<'_>,
    out: &mut dyn Out,
    trust: Option<&Trust<'_>>,
    helpers: &Helpers,
) -> Result<(), SeeThroughError> {
    let steps = plan(r, p)?;
    let heavy: Vec<usize> = (0..steps.len()).filter(|&i| steps[i].heavy()).collect();
    let window = WINDOW * (helpers.0 + 1);
    let limit = out.room();
    let shared = Mutex::new(Shared {
        next: 0,
        written: 0,
        failed: false,
        done: BTreeMap::new(),
    });
    let changed = Condvar::new();
    let lock = || shared.lock().unwrap_or_else(|e| e.into_inner());
    let job = |j: usize| {
        let mut buf = BufOut {
            buf: Vec::new(),
            limit,
        };
        // a gzip trailer takes what its stream leaves: streams run alone leave it here
        steps[heavy[j]]
            .run(&mut buf, trust, None)
            .map(|last| (buf.buf, last))
    };
    std::thread::scope(|scope| {
        for _ in 0..helpers.0 {
            scope.spawn(|| loop {
                let j = {
                    let mut s = lock();
                    while !s.failed && s.next < heavy.len() && s.next >= s.written + window {
                        s = changed.wait(s).unwrap_or_else(|e| e.into_inner());
                    }
                    if s.failed || s.next >= heavy.len() {
                        return;
                    }
                    s.next += 1;
                    s.next - 1
                };
                let result = job(j);
                let mut s = lock();
                s.failed |= result.is_err();
                s.done.insert(j, result);
                changed.notify_all();
            });
        }
        let result = write_in_order(
            &steps,
            heavy.len(),
            window,
            out,
            trust,
            &lock,
            &changed,
            &job,
        );
        if result.is_err() {
            lock().failed = true;
            changed.notify_all();
        }
        result
    })
}

type Done = Result<(Vec<u8>, Option<(u32, u64)>), SeeThroughError>;

/// The writer's side of [`run_top`]: cheap ops run here, heavy ones taken from the helpers
/// (or run here when none has claimed them yet).
#[allow(clippy::too_many_arguments)]
fn write_in_order<'s>(
    steps: &[Step<'_, '_>],
    total: usize,
    window: usize,
    out: &mut dyn Out,
    trust: Option<&Trust<'_>>,
    lock: &dyn Fn() -> std::sync::MutexGuard<'s, Shared>,
    changed: &Condvar,
    job: &dyn Fn(usize) -> Done,
) -> Result<(), SeeThroughError> {
    let mut last = None;
    let mut j = 0;
    for step in steps {
        if !step.heavy() {
            last = step.run(out, trust, last.take())?;
            continue;
        }
        // while the op due is being run by a helper, this thread runs the next ones
        let done = {
            let mut s = lock();
            loop {
                if let Some(d) = s.done.remove(&j) {
                    break d;
                }
                if s.next < total && s.next < j + window {
                    let k = s.next;
                    s.next += 1;
                    drop(s);
                    let result = job(k);
                    if k == j {
                        break result;
                    }
                    s = lock();
                    s.done.insert(k, result);
                    continue;
                }
                s = changed.wait(s).unwrap_or_else(|e| e.into_inner());
            }
        };
        let (bytes, left) = done?;
        out.put(&bytes, step.at)?;
        last = left;
        j += 1;
        lock().written = j;
        changed.notify_all();
    }
    Ok(())
}
