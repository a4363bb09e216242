//! Small byte-slice helpers for the match finder: unaligned loads, prefix/suffix lengths, gcd.

#[inline]
pub(super) fn load4(b: &[u8], pos: usize) -> Option<u32> {
    let s = b.get(pos..pos.checked_add(4)?)?;
    Some(u32::from_le_bytes(s.try_into().ok()?))
}

pub(super) fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Length of the common prefix of `a` and `b`.
#[inline]
pub(super) fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    let n = a.len().min(b.len());
    let (a, b) = (a.get(..n).unwrap_or(&[]), b.get(..n).unwrap_or(&[]));
    let mut done = 0;
    for (ca, cb) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
        let x = u64::from_le_bytes(ca.try_into().unwrap_or([0; 8]));
        let y = u64::from_le_bytes(cb.try_into().unwrap_or([0; 8]));
        let d = x ^ y;
        if d != 0 {
            return done + (d.trailing_zeros() / 8) as usize;
        }
        done += 8;
    }
    let ra = a.get(done..).unwrap_or(&[]);
    let rb = b.get(done..).unwrap_or(&[]);
    done + ra.iter().zip(rb).take_while(|(x, y)| x == y).count()
}

/// Length of the common suffix of `a` and `b`.
#[inline]
pub(super) fn common_suffix(a: &[u8], b: &[u8]) -> usize {
    a.iter()
        .rev()
        .zip(b.iter().rev())
        .take_while(|(x, y)| x == y)
        .count()
}
