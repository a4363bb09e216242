//! The jitter source: a small non-cryptographic random generator (SplitMix64).

/// SplitMix64: a 64-bit state advanced by a constant, each output a mix of the state. Also
/// good enough for seeded fault injection in tests.
#[derive(Clone, Debug)]
pub struct Jitter(u64);

impl Jitter {
    /// A generator whose outputs depend only on `seed` (tests that must repeat).
    pub fn seeded(seed: u64) -> Self {
        Jitter(seed)
    }

    /// A generator seeded from the operating system, else from the clock.
    pub fn from_entropy() -> Self {
        let mut seed = [0u8; 8];
        if getrandom::fill(&mut seed).is_ok() {
            return Jitter(u64::from_le_bytes(seed));
        }
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x5eed);
        Jitter(nanos ^ u64::from(std::process::id()).rotate_left(32))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_generators_repeat_and_stay_in_range() {
        let (mut a, mut b) = (Jitter::seeded(7), Jitter::seeded(7));
        let mut below_half = 0;
        for _ in 0..1000 {
            let x = a.unit();
            assert_eq!(x, b.unit());
            assert!((0.0..1.0).contains(&x));
            below_half += usize::from(x < 0.5);
        }
        assert!((400..600).contains(&below_half), "{below_half}");
        assert_ne!(Jitter::seeded(1).next_u64(), Jitter::seeded(2).next_u64());
    }
}
