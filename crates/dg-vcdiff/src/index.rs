//! Hash index over the source: 4-way buckets of sampled 8-byte block offsets, sized for any source length.

/// Bytes hashed per index entry; also the shortest match the index can find.
pub(super) const BLOCK: usize = 8;

/// Largest table (in `log2` entries of 4 bytes): 2^25 = 128 MiB.
const MAX_BITS: u32 = 25;
const MIN_BITS: u32 = 8;
/// Entries per bucket (log2).
const WAY_BITS: u32 = 2;
/// Entries per bucket.
pub(super) const WAYS: usize = 1 << WAY_BITS;

const PRIME: u64 = 0x9E37_79B9_7F4A_7C15;

/// Reads 8 bytes little-endian at `pos`; `None` past the end.
#[inline]
pub(super) fn load8(b: &[u8], pos: usize) -> Option<u64> {
    let s = b.get(pos..pos.checked_add(8)?)?;
    let arr: [u8; 8] = s.try_into().ok()?;
    Some(u64::from_le_bytes(arr))
}

/// Sampled hash index: source offsets that are multiples of `stride`.
pub(super) struct SourceIndex {
    /// `offset / stride + 1`, 0 when empty.
    table: Vec<u32>,
    shift: u32,
    stride: u64,
}

impl SourceIndex {
    /// Indexes `source`. `min_stride` trades index time and memory for the
    /// ability to find shorter matches (a match of `BLOCK + stride - 1` bytes
    /// or more is always found, unless its slot was taken by another block).
    pub fn build(source: &[u8], min_stride: u64) -> Self {
        let len = source.len() as u64;
        if len < BLOCK as u64 {
            return SourceIndex {
                table: Vec::new(),
                shift: 63,
                stride: 1,
            };
        }
        let blocks_max = 1u64 << (MAX_BITS - 1); // keep the load factor <= 1/2
        let mut stride = min_stride.max(1);
        if len / stride > blocks_max {
            stride = len.div_ceil(blocks_max);
        }
        // Entries must fit in u32.
        while len / stride >= u64::from(u32::MAX) {
            stride += 1;
        }
        let blocks = (len - BLOCK as u64) / stride + 1;
        let bits = (64 - (blocks - 1).max(1).leading_zeros()).clamp(MIN_BITS, MAX_BITS);
        let bucket_bits = bits - WAY_BITS;
        let mut table = vec![0u32; 1usize << bits];
        let shift = 64 - bucket_bits;
        let mut pos = 0u64;
        let mut slot = 1u32;
        let mut last = None;
        while pos + BLOCK as u64 <= len {
            // A run (zero padding, repeated fill) would fill its bucket with copies of one
            // block at every stride and evict everything else there: keep its first offset.
            if let Some(key) = load8(source, pos as usize).filter(|&k| last.replace(k) != Some(k)) {
                let b = ((key.wrapping_mul(PRIME) >> shift) as usize) << WAY_BITS;
                if let Some(bucket) = table.get_mut(b..b + WAYS) {
                    // Keep the newest entries: shift the bucket by one.
                    bucket.copy_within(0..WAYS - 1, 1);
                    if let Some(e) = bucket.first_mut() {
                        *e = slot;
                    }
                }
            }
            pos += stride;
            slot = slot.wrapping_add(1);
        }
        SourceIndex {
            table,
            shift,
            stride,
        }
    }

    /// Candidate source offsets whose block may equal `key` (unverified);
    /// empty slots are skipped by the caller (`None`).
    #[inline]
    pub fn lookup(&self, key: u64) -> [Option<u64>; WAYS] {
        let mut out = [None; WAYS];
        let b = ((key.wrapping_mul(PRIME) >> self.shift) as usize) << WAY_BITS;
        if let Some(bucket) = self.table.get(b..b + WAYS) {
            for (o, &e) in out.iter_mut().zip(bucket) {
                if e != 0 {
                    *o = Some(u64::from(e - 1) * self.stride);
                }
            }
        }
        out
    }

    /// Sampling distance between indexed offsets.
    pub fn stride(&self) -> u64 {
        self.stride
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_indexed_blocks() {
        let src: Vec<u8> = (0..100_000u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        let idx = SourceIndex::build(&src, 1);
        assert_eq!(idx.stride(), 1);
        let mut found = 0;
        for pos in (0..src.len() - 8).step_by(97) {
            let key = load8(&src, pos).unwrap_or(0);
            if idx
                .lookup(key)
                .iter()
                .flatten()
                .any(|&s| load8(&src, s as usize) == Some(key))
            {
                found += 1;
            }
        }
        assert!(found > 900, "found {found}");
    }

    #[test]
    fn tiny_sources() {
        for n in 0..20 {
            let src = vec![7u8; n];
            let idx = SourceIndex::build(&src, 1);
            let _ = idx.lookup(0x0707_0707_0707_0707);
        }
    }
}
