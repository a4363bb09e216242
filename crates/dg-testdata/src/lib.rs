//! Deterministic test data shared by every crate's tests and benchmarks.
//!
//! Everything here is a pure function of its arguments, so a failing test can be rerun with
//! the same bytes (all but [`corpus_pairs`], which finds the optional corpus of real release
//! series). Nothing here is cryptographically random.
//!
//! ```
//! use dg_testdata::{edit, noise};
//!
//! let base = noise(1, 4096);
//! assert_eq!(base, noise(1, 4096));
//! let next = edit(&base, 2, 5);
//! assert_ne!(base, next);
//! ```

mod corpus;
mod rng;

pub use corpus::corpus_pairs;
pub use rng::{mutate, texty, Rng};

/// Deterministic pseudo-random bytes (xorshift64): incompressible, so deltas stay honest.
pub fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// `data` with `n` scattered edits (a flipped byte, 40 inserted bytes, or 30 removed), chosen
/// by `seed`.
pub fn edit(data: &[u8], seed: u64, n: usize) -> Vec<u8> {
    let mut out = data.to_vec();
    let r = noise(seed, n * 3);
    for i in 0..n {
        if out.is_empty() {
            out.push(r[i * 3]);
            continue;
        }
        let pos = (usize::from(r[i * 3]) << 8 | usize::from(r[i * 3 + 1])) * out.len() / 65536;
        match r[i * 3 + 2] % 3 {
            0 => out[pos] ^= 0x5a,
            1 => out
                .splice(pos..pos, noise(seed.wrapping_add(i as u64), 40))
                .for_each(drop),
            _ => {
                let end = (pos + 30).min(out.len());
                out.drain(pos..end);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_is_deterministic_and_seeded() {
        assert_eq!(noise(7, 1000), noise(7, 1000));
        assert_ne!(noise(7, 1000), noise(8, 1000));
        assert_eq!(noise(3, 0), Vec::<u8>::new());
    }

    #[test]
    fn edit_changes_and_handles_empty() {
        let base = noise(1, 10_000);
        assert_ne!(edit(&base, 2, 3), base);
        assert_eq!(edit(&[], 1, 1).len(), 1);
    }
}
