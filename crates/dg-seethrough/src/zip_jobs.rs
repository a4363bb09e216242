//! Analysing a zip's deflated members on every core: consecutive members are analysed in batches on helper threads into memory, then written in file order exactly as one thread would have written them.
//!
//! Each member runs in an expander of its own with the plaintext budget that was left when
//! the batch started; its plain bytes, recipe ops, statistics, notes, learned and reused
//! streams are merged in order. A member whose plaintext would pass [`JOB_PLAIN`] in memory,
//! or that used more budget than the sequential run would have had left, is analysed again
//! on the writer's thread, streaming, so the result never depends on how it was run.

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use super::error::SeeThroughError;
use super::expand::{Expander, Outcome, Sink};
use super::index::StreamIndex;
use super::parallel::Helpers;

/// Most plaintext one member may hold in memory on a helper.
const JOB_PLAIN: usize = 4 << 20;
/// Members per batch, per thread.
const PER_THREAD: usize = 4;

/// A `Vec` that refuses to grow past its cap (the member then runs on the writer's thread).
struct Capped {
    bytes: Vec<u8>,
    cap: usize,
    over: bool,
}

impl Write for Capped {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.bytes.len() + buf.len() > self.cap {
            self.over = true;
            return Err(std::io::Error::other("member too large for a helper"));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// One member analysed on a helper.
struct Done<'o> {
    plain: Vec<u8>,
    recipe: Vec<u8>,
    outcome: Outcome,
    ex: Expander<'o>,
    /// Plaintext budget and held-copy room it used.
    used: u64,
    held_used: u64,
}

/// Deflated members waiting to be analysed together.
pub(super) struct Batch<'d> {
    threads: usize,
    members: Vec<(usize, &'d [u8])>,
}

impl<'d> Batch<'d> {
    pub(super) fn new(helpers: Option<&Helpers>) -> Self {
        Batch {
            threads: helpers.map_or(0, Helpers::count),
            members: Vec::new(),
        }
    }

    /// True when members are analysed in batches (helpers were free).
    pub(super) fn takes(&self) -> bool {
        self.threads > 0
    }

    pub(super) fn push(&mut self, at: usize, member: &'d [u8]) {
        self.members.push((at, member));
    }

    pub(super) fn full(&self) -> bool {
        self.members.len() >= PER_THREAD * (self.threads + 1)
    }

    /// Analyses the waiting members and writes them (with the raw bytes from `cur` up to
    /// each) to `sink`; returns where the bytes written end.
    pub(super) fn flush(
        &mut self,
        ex: &mut Expander<'_>,
        data: &[u8],
        mut cur: usize,
        sink: &mut Sink<'_>,
        depth_left: u8,
    ) -> Result<usize, SeeThroughError> {
        let members = std::mem::take(&mut self.members);
        if members.is_empty() {
            return Ok(cur);
        }
        let mut results = analyse(ex, &members, self.threads, depth_left);
        for (i, (at, member)) in members.iter().enumerate() {
            sink.copy(&data[cur..*at])?;
            let done = results
                .get_mut(i)
                .and_then(Option::take)
                .transpose()?
                .flatten();
            let outcome = match done {
                Some(done) if done.used <= ex.budget => merge(ex, sink, done)?,
                _ => ex.deflate(member, sink, depth_left, None, *at)?,
            };
            match outcome {
                Outcome::Raw => sink.copy(member)?,
                Outcome::Partial { consumed } | Outcome::Complete { consumed, .. } => {
                    sink.copy(&member[consumed..])?
                }
            }
            cur = at + member.len();
        }
        Ok(cur)
    }
}

type Analysed<'o> = Option<Result<Option<Done<'o>>, SeeThroughError>>;

/// Every member analysed, on `threads` helpers and this thread.
fn analyse<'o>(
    ex: &Expander<'o>,
    members: &[(usize, &[u8])],
    threads: usize,
    depth_left: u8,
) -> Vec<Analysed<'o>> {
    let next = AtomicUsize::new(0);
    let slots: Vec<Mutex<Analysed<'o>>> = members.iter().map(|_| Mutex::new(None)).collect();
    let fresh = |ex: &Expander<'o>| {
        let mut job = Expander::new(ex.opts, ex.budget);
        job.known = ex.known;
        job.learned = ex.learned.as_ref().map(|_| StreamIndex::default());
        job.input = ex.input;
        job.held_room = ex.held_room;
        job
    };
    let jobs: Vec<Mutex<Option<Expander<'o>>>> = members
        .iter()
        .map(|_| Mutex::new(Some(fresh(ex))))
        .collect();
    let work = || loop {
        let i = next.fetch_add(1, Ordering::AcqRel);
        let Some((at, member)) = members.get(i) else {
            return;
        };
        let job = jobs[i].lock().ok().and_then(|mut j| j.take());
        let result = job.map(|job| run(job, member, *at, depth_left));
        if let Ok(mut slot) = slots[i].lock() {
            *slot = result;
        }
    };
    std::thread::scope(|scope| {
        for _ in 0..threads.min(members.len().saturating_sub(1)) {
            scope.spawn(work);
        }
        work();
    });
    slots
        .into_iter()
        .map(|s| s.into_inner().unwrap_or_else(|e| e.into_inner()))
        .collect()
}

/// One member in an expander of its own; `None` when it must run on the writer's thread.
fn run<'o>(
    mut job: Expander<'o>,
    member: &[u8],
    at: usize,
    depth_left: u8,
) -> Result<Option<Done<'o>>, SeeThroughError> {
    let (start, held_start) = (job.budget, job.held_room);
    let mut plain = Capped {
        bytes: Vec::new(),
        cap: JOB_PLAIN,
        over: false,
    };
    let mut recipe = Vec::new();
    let (outcome, pending) = {
        let mut sink = Sink::new(&mut plain, &mut recipe);
        let outcome = job.deflate(member, &mut sink, depth_left, None, at);
        (outcome, sink.has_pending_copy())
    };
    if plain.over || pending {
        return Ok(None);
    }
    let outcome = outcome?;
    Ok(Some(Done {
        plain: plain.bytes,
        recipe,
        outcome,
        used: start - job.budget,
        held_used: held_start - job.held_room,
        ex: job,
    }))
}

/// Writes a member analysed on a helper as the writer's thread would have.
fn merge(
    ex: &mut Expander<'_>,
    sink: &mut Sink<'_>,
    mut done: Done<'_>,
) -> Result<Outcome, SeeThroughError> {
    let plain_at = sink.base + sink.plain_len;
    if !done.plain.is_empty() {
        sink.text(&done.plain)?;
    }
    if !done.recipe.is_empty() {
        sink.op(&done.recipe)?;
    }
    ex.budget -= done.used;
    for (at, _) in done.ex.reused.iter_mut() {
        *at += plain_at;
    }
    if let (Some(mine), Some(theirs)) = (ex.learned.as_mut(), done.ex.learned.take()) {
        mine.merge(theirs);
    }
    done.ex.held_room = ex.held_room.saturating_sub(done.held_used);
    ex.absorb(done.ex);
    Ok(done.outcome)
}
