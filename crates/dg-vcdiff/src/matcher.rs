//! Greedy match finder for one target window: source index hits, continuation of the last source match, and hash chains over the window itself.

use super::addrcache::AddrCache;
use super::bytes::{common_prefix, common_suffix, gcd, load4};
use super::candidate::{better, clip_to_segment, Cand, REST_COST};
pub(super) use super::candidate::{From, Match, Segment};
use super::index::{load8, SourceIndex, BLOCK};
use super::varint;

/// Shortest copy the default code table encodes with an immediate size.
const MIN_MATCH: usize = 4;
/// How far past the end of the last source match its continuation is probed.
const MAX_CONTINUE_GAP: usize = 4096;
/// Matches at least this long are taken without looking ahead.
const LAZY_STOP: usize = 4096;
/// Matches longer than this are indexed only over their last `SKIP_INSERT_TAIL` bytes.
const SKIP_INSERT_LEN: usize = 1024;
const SKIP_INSERT_TAIL: usize = 256;
/// Most positions skipped between probes inside long unmatched stretches.
const MAX_SKIP: usize = 15;

/// Effort knobs derived from the compression level.
#[derive(Debug, Clone, Copy)]
pub(super) struct Params {
    /// Sampling stride of the source index.
    pub min_stride: u64,
    /// Hash-chain candidates examined per position in the target window.
    pub chain: usize,
    /// A match this long is taken without looking further.
    pub long_enough: usize,
    /// Positions ahead examined before committing to a match.
    pub lazy: usize,
    /// Unmatched bytes per extra skipped position (log2).
    pub skip_shift: u32,
}

impl Params {
    pub fn for_level(level: u32) -> Self {
        match level {
            0..=1 => Params {
                min_stride: 8,
                chain: 1,
                long_enough: 32,
                lazy: 0,
                skip_shift: 5,
            },
            2..=3 => Params {
                min_stride: 4,
                chain: 4,
                long_enough: 64,
                lazy: 1,
                skip_shift: 6,
            },
            4..=5 => Params {
                min_stride: 2,
                chain: 8,
                long_enough: 128,
                lazy: 2,
                skip_shift: 7,
            },
            6 => Params {
                min_stride: 3,
                chain: 16,
                long_enough: 256,
                lazy: 4,
                skip_shift: 7,
            },
            7..=8 => Params {
                min_stride: 2,
                chain: 32,
                long_enough: 512,
                lazy: 6,
                skip_shift: 7,
            },
            _ => Params {
                min_stride: 1,
                chain: 64,
                long_enough: 1024,
                lazy: 8,
                skip_shift: 8,
            },
        }
    }
}

/// What one window's search looks at.
#[derive(Clone, Copy)]
struct Ctx<'a> {
    src: &'a [u8],
    idx: &'a SourceIndex,
    tgt: &'a [u8],
    seg: Segment,
}

/// Reusable state for matching windows.
pub(super) struct Matcher {
    params: Params,
    head: Vec<u32>,
    prev: Vec<u32>,
    shift: u32,
    inserted: usize,
    cache: AddrCache,
}

impl Matcher {
    pub fn new(params: Params) -> Self {
        Matcher {
            params,
            head: Vec::new(),
            prev: Vec::new(),
            shift: 32,
            inserted: 0,
            cache: AddrCache::new(),
        }
    }

    fn reset(&mut self, n: usize) {
        let bits = (usize::BITS - n.max(1).leading_zeros()).clamp(10, 20);
        self.head.clear();
        self.head.resize(1usize << bits, 0);
        self.shift = 32 - bits;
        // No need to clear `prev`: an entry is written when its position is
        // inserted, and chains only reach positions inserted in this window.
        if self.prev.len() < n {
            self.prev.resize(n, 0);
        }
        self.inserted = 0;
        self.cache.reset();
    }

    #[inline]
    fn hash4(&self, x: u32) -> usize {
        (x.wrapping_mul(0x9E37_79B1) >> self.shift) as usize
    }

    /// Adds window positions below `upto` to the hash chains.
    fn insert_upto(&mut self, tgt: &[u8], upto: usize) {
        let end = upto.min(tgt.len().saturating_sub(MIN_MATCH - 1));
        while self.inserted < end {
            let p = self.inserted;
            if let Some(x) = load4(tgt, p) {
                let h = self.hash4(x);
                if let (Some(hd), Some(pv)) = (self.head.get(h).copied(), self.prev.get_mut(p)) {
                    *pv = hd;
                    if let Some(slot) = self.head.get_mut(h) {
                        *slot = p as u32 + 1;
                    }
                }
            }
            self.inserted += 1;
        }
    }

    fn cost(&self, m: &Match, seg: Segment) -> usize {
        let here = seg.len + m.start as u64;
        let addr_cost = match m.from {
            From::Source(s) => match s.checked_sub(seg.off) {
                Some(a) if a < seg.len => self.cache.choose(a, here).cost(),
                _ => 5,
            },
            From::Target(q) => self.cache.choose(seg.len + q as u64, here).cost(),
        };
        let size_cost = if (4..=18).contains(&m.len) {
            0
        } else {
            varint::len(m.len as u64)
        };
        addr_cost + size_cost + 1
    }

    /// Best match starting at `p` or reaching back to at most `add_start`.
    fn best_at(
        &self,
        cx: &Ctx<'_>,
        p: usize,
        add_start: usize,
        last_src: Option<(usize, u64)>,
    ) -> Option<Cand> {
        let Ctx { src, idx, tgt, seg } = *cx;
        let rest = tgt.get(p..)?;
        let pending = tgt.get(add_start..p).unwrap_or(&[]);
        let mut best: Option<Cand> = None;
        let consider = |this: &Self, m: Match, best: &mut Option<Cand>| {
            let Some(m) = clip_to_segment(m, seg) else {
                return;
            };
            if m.len < MIN_MATCH {
                return;
            }
            let c = Cand {
                m,
                cost: this.cost(&m, seg),
            };
            if c.cost < m.len && best.is_none_or(|b| better(&c, &b, add_start)) {
                *best = Some(c);
            }
        };
        // 1. Continue the previous source match after a small gap.
        if let Some((t_end, s_end)) = last_src {
            if p >= t_end && p - t_end <= MAX_CONTINUE_GAP {
                let s = s_end + (p - t_end) as u64;
                if let Some(sr) = src.get(s as usize..) {
                    let len = common_prefix(sr, rest);
                    consider(
                        self,
                        Match {
                            start: p,
                            len,
                            from: From::Source(s),
                        },
                        &mut best,
                    );
                }
            }
        }
        // 2. Source index.
        if let Some(key) = load8(tgt, p) {
            for s in idx.lookup(key).into_iter().flatten() {
                if load8(src, s as usize) == Some(key) {
                    let s0 = s as usize;
                    let fwd = BLOCK
                        + common_prefix(
                            src.get(s0 + BLOCK..).unwrap_or(&[]),
                            rest.get(BLOCK..).unwrap_or(&[]),
                        );
                    let back = common_suffix(src.get(..s0).unwrap_or(&[]), pending);
                    let m = Match {
                        start: p - back,
                        len: fwd + back,
                        from: From::Source(s - back as u64),
                    };
                    consider(self, m, &mut best);
                }
            }
        }
        // A long source match already: glance at the newest chain entry only
        // (it still catches runs, which continue much further).
        let chain = if best.is_some_and(|b| b.m.len >= self.params.long_enough) {
            1
        } else {
            self.params.chain
        };
        // 3. Earlier in this window.
        if let Some(x) = load4(tgt, p) {
            let mut q1 = self.head.get(self.hash4(x)).copied().unwrap_or(0);
            let mut steps = chain;
            let mut best_len = best.map_or(0, |b| b.m.len);
            while q1 != 0 && steps > 0 {
                let q = (q1 - 1) as usize;
                steps -= 1;
                if q >= p {
                    break;
                }
                if load4(tgt, q) == Some(x) {
                    let fwd = 4 + common_prefix(
                        tgt.get(q + 4..).unwrap_or(&[]),
                        rest.get(4..).unwrap_or(&[]),
                    );
                    if fwd + p - add_start + REST_COST > best_len {
                        let back = common_suffix(tgt.get(..q).unwrap_or(&[]), pending);
                        let m = Match {
                            start: p - back,
                            len: fwd + back,
                            from: From::Target(q - back),
                        };
                        consider(self, m, &mut best);
                        best_len = best.map_or(0, |b| b.m.len);
                        if fwd >= self.params.long_enough {
                            break;
                        }
                    }
                }
                q1 = self.prev.get(q).copied().unwrap_or(0);
            }
        }
        best
    }

    /// Finds non-overlapping matches for the window `tgt`, in order.
    pub fn find(
        &mut self,
        src: &[u8],
        idx: &SourceIndex,
        tgt: &[u8],
        seg: Segment,
        out: &mut Vec<Match>,
    ) {
        out.clear();
        self.reset(tgt.len());
        let cx = Ctx { src, idx, tgt, seg };
        let n = tgt.len();
        let mut p = 0usize;
        let mut add_start = 0usize;
        let mut last_src: Option<(usize, u64)> = None;
        while p + MIN_MATCH <= n {
            self.insert_upto(tgt, p);
            let Some(mut cand) = self.best_at(&cx, p, add_start, last_src) else {
                // In long stretches without matches, probe sparser; back
                // extension recovers the skipped start of the next match.
                let mut step = 1 + ((p - add_start) >> self.params.skip_shift).min(MAX_SKIP);
                // A step sharing a factor with the index stride would keep
                // probing the same residues and never meet an indexed offset.
                while step > 1 && gcd(step as u64, idx.stride()) != 1 {
                    step -= 1;
                }
                p += step;
                continue;
            };
            for k in 1..=self.params.lazy {
                let q = p + k;
                if cand.m.len >= LAZY_STOP || q + MIN_MATCH > n {
                    break;
                }
                self.insert_upto(tgt, q);
                if let Some(next) = self.best_at(&cx, q, add_start, last_src) {
                    if better(&next, &cand, add_start) {
                        cand = next;
                    }
                }
            }
            let m = cand.m;
            match m.from {
                From::Source(s) => {
                    if let Some(a) = s.checked_sub(seg.off) {
                        self.cache.update(a);
                    }
                    last_src = Some((m.start + m.len, s + m.len as u64));
                }
                From::Target(q) => self.cache.update(seg.len + q as u64),
            }
            out.push(m);
            p = m.start + m.len;
            add_start = p;
            // Inside a long match only the tail is worth indexing: what it
            // covered is reachable through the match's own source anyway.
            if m.len > SKIP_INSERT_LEN {
                self.inserted = self.inserted.max(p - SKIP_INSERT_TAIL);
            }
        }
    }
}
