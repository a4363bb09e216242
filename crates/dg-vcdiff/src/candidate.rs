//! Match and candidate types, segment clipping, and the cost model used to choose between candidates.

/// Assumed cost of matching whatever a shorter candidate leaves uncovered.
pub(super) const REST_COST: usize = 4;

/// Where a match copies from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum From {
    /// Absolute source offset.
    Source(u64),
    /// Offset earlier in the same target window.
    Target(usize),
}

/// `len` target bytes at window offset `start` equal the bytes at `from`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Match {
    pub start: usize,
    pub len: usize,
    pub from: From,
}

/// The source segment addresses are expressed against (for cost estimates).
#[derive(Debug, Clone, Copy)]
pub(super) struct Segment {
    pub off: u64,
    pub len: u64,
}

#[derive(Clone, Copy)]
pub(super) struct Cand {
    pub m: Match,
    /// Estimated bytes the copy instruction takes (opcode, size, address).
    pub cost: usize,
}

impl Cand {
    pub fn end(&self) -> usize {
        self.m.start + self.m.len
    }
}

/// Estimated cost of covering `rest` bytes left over after a match.
#[inline]
pub(super) fn rest_cost(rest: usize) -> usize {
    rest.min(REST_COST)
}

/// True when encoding up to the farther end is estimated cheaper via `a`
/// than via `b` (literals before each match, the copy, and what remains).
#[inline]
pub(super) fn better(a: &Cand, b: &Cand, add_start: usize) -> bool {
    let end = a.end().max(b.end());
    let ca = (a.m.start - add_start) + a.cost + rest_cost(end - a.end());
    let cb = (b.m.start - add_start) + b.cost + rest_cost(end - b.end());
    ca < cb || (ca == cb && a.m.len > b.m.len)
}

/// Cuts a source match down to the part inside `seg` (`None` if nothing is left).
pub(super) fn clip_to_segment(mut m: Match, seg: Segment) -> Option<Match> {
    if let From::Source(s) = m.from {
        let seg_end = seg.off.checked_add(seg.len)?;
        if s < seg.off {
            let cut = usize::try_from(seg.off - s).ok()?;
            if cut >= m.len {
                return None;
            }
            m = Match {
                start: m.start + cut,
                len: m.len - cut,
                from: From::Source(seg.off),
            };
        }
        let s = match m.from {
            From::Source(s) => s,
            From::Target(_) => return None,
        };
        if s >= seg_end {
            return None;
        }
        let room = usize::try_from(seg_end - s).unwrap_or(usize::MAX);
        m.len = m.len.min(room);
    }
    Some(m)
}
