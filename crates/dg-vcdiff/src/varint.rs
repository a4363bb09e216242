//! RFC 3284 variable-length integers (big-endian base 128) over byte slices.

/// Most bytes a `u64` can take in this encoding.
pub(super) const MAX_VARINT_LEN: usize = 10;

/// Appends `value` to `out` in RFC 3284 integer form.
pub(super) fn write(out: &mut Vec<u8>, value: u64) {
    let mut tmp = [0u8; MAX_VARINT_LEN];
    let mut i = MAX_VARINT_LEN;
    let mut v = value;
    let mut first = true;
    loop {
        i -= 1;
        let low = (v & 0x7f) as u8;
        tmp[i] = if first { low } else { low | 0x80 };
        first = false;
        v >>= 7;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&tmp[i..]);
}

/// Number of bytes `write` would use for `value`.
pub(super) fn len(value: u64) -> usize {
    let bits = 64 - value.leading_zeros() as usize;
    bits.div_ceil(7).max(1)
}

/// Why a varint could not be read from a slice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum VarintError {
    /// The slice ended before the last byte of the integer.
    Truncated,
    /// The value does not fit in 64 bits.
    Overflow,
}

/// Reads one integer from `buf` starting at `*pos`, advancing `*pos`.
pub(super) fn read(buf: &[u8], pos: &mut usize) -> Result<u64, VarintError> {
    let mut value: u64 = 0;
    let mut p = *pos;
    loop {
        let b = *buf.get(p).ok_or(VarintError::Truncated)?;
        p += 1;
        if value > (u64::MAX >> 7) {
            return Err(VarintError::Overflow);
        }
        value = (value << 7) | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            *pos = p;
            return Ok(value);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_edges() {
        for v in [
            0u64,
            1,
            127,
            128,
            16383,
            16384,
            u32::MAX as u64,
            u64::MAX - 1,
            u64::MAX,
        ] {
            let mut b = Vec::new();
            write(&mut b, v);
            assert_eq!(b.len(), len(v));
            let mut p = 0;
            assert_eq!(read(&b, &mut p).unwrap(), v);
            assert_eq!(p, b.len());
        }
    }

    #[test]
    fn rfc_example() {
        // RFC 3284 section 2: 123456789 is 0xBA 0xEF 0x9A 0x15.
        let mut b = Vec::new();
        write(&mut b, 123_456_789);
        assert_eq!(b, [0xBA, 0xEF, 0x9A, 0x15]);
    }

    #[test]
    fn errors() {
        let mut p = 0;
        assert_eq!(read(&[0x80], &mut p), Err(VarintError::Truncated));
        let big = [0xFFu8; 11];
        let mut p = 0;
        assert_eq!(read(&big, &mut p), Err(VarintError::Overflow));
    }
}
