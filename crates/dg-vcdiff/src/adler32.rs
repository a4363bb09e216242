//! Adler-32 checksum (RFC 1950), used for xdelta3's per-window `VCD_ADLER32`.

const BASE: u32 = 65_521;
/// Largest n such that 255 n (n+1) / 2 + (n+1)(BASE-1) fits in a u32.
const NMAX: usize = 5552;

/// Adler-32 of `data` (starting value 1).
pub(super) fn adler32(data: &[u8]) -> u32 {
    update(1, data)
}

/// Continues an Adler-32 computation.
pub(super) fn update(adler: u32, data: &[u8]) -> u32 {
    let mut a = adler & 0xffff;
    let mut b = adler >> 16;
    for chunk in data.chunks(NMAX) {
        let mut quads = chunk.chunks_exact(4);
        for q in &mut quads {
            a += u32::from(q[0]);
            b += a;
            a += u32::from(q[1]);
            b += a;
            a += u32::from(q[2]);
            b += a;
            a += u32::from(q[3]);
            b += a;
        }
        for &x in quads.remainder() {
            a += u32::from(x);
            b += a;
        }
        a %= BASE;
        b %= BASE;
    }
    (b << 16) | a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        assert_eq!(adler32(b""), 1);
        assert_eq!(adler32(b"Wikipedia"), 0x11E6_0398);
        let big = vec![0xFFu8; 100_000];
        // Reference: byte-at-a-time definition.
        let (mut a, mut b) = (1u32, 0u32);
        for &x in &big {
            a = (a + u32::from(x)) % BASE;
            b = (b + a) % BASE;
        }
        assert_eq!(adler32(&big), (b << 16) | a);
    }
}
