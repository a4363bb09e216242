//! A seeded generator and the text-like data and edits the codec tests build from it.

/// Small deterministic PRNG (xorshift64*), for tests that draw many different values.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed` (any value, 0 included).
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next 64 pseudo-random bits.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A value in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }

    /// `n` pseudo-random bytes.
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// `n` bytes of text-like data: words from a small vocabulary of Rust source, with numbers
/// (compressible and repetitive, like source code).
pub fn texty(rng: &mut Rng, n: usize) -> Vec<u8> {
    const WORDS: &[&str] = &[
        "fn ", "let ", "mut ", "self", "return ", "match ", "Some(", "None", "=> ", "{\n", "}\n",
        "    ", "impl ", "pub ", "struct ", "async ", "await", "tokio", "::", "Result<", ">",
        "Ok(())", ";\n", "// ",
    ];
    let mut v = Vec::with_capacity(n + 16);
    while v.len() < n {
        let w = WORDS[rng.below(WORDS.len() as u64) as usize];
        v.extend_from_slice(w.as_bytes());
        if rng.below(7) == 0 {
            v.extend_from_slice(format!("{}", rng.below(100_000)).as_bytes());
        }
    }
    v.truncate(n);
    v
}

/// A modified copy of `base` after `edits` edits: insertions, deletions, replacements, and
/// blocks copied from elsewhere in it.
pub fn mutate(rng: &mut Rng, base: &[u8], edits: usize) -> Vec<u8> {
    let mut v = base.to_vec();
    for _ in 0..edits {
        let len = v.len() as u64;
        let pos = rng.below(len + 1) as usize;
        let n = 1 + rng.below(64) as usize;
        match rng.below(4) {
            0 => {
                let ins = rng.bytes(n);
                v.splice(pos..pos, ins);
            }
            1 => {
                let end = (pos + n).min(v.len());
                v.drain(pos..end);
            }
            2 => {
                let end = (pos + n).min(v.len());
                for b in &mut v[pos..end] {
                    *b = rng.next() as u8;
                }
            }
            _ => {
                let from = rng.below(len.max(1)) as usize;
                let end = (from + n * 8).min(v.len());
                let block = v[from..end].to_vec();
                v.splice(pos..pos, block);
            }
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generator_is_seeded_and_the_data_deterministic() {
        assert_eq!(Rng::new(3).next(), Rng::new(3).next());
        assert_ne!(Rng::new(3).next(), Rng::new(4).next());
        assert_eq!(Rng::new(1).below(0), 0);
        let text = texty(&mut Rng::new(5), 1000);
        assert_eq!(text.len(), 1000);
        assert_eq!(text, texty(&mut Rng::new(5), 1000));
        let edited = mutate(&mut Rng::new(6), &text, 10);
        assert_ne!(edited, text);
        assert_eq!(
            mutate(&mut Rng::new(7), &[], 3),
            mutate(&mut Rng::new(7), &[], 3)
        );
    }
}
