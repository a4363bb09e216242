//! Similarity sketches: a bottom-k MinHash of a file's content-defined chunks, small enough to
//! travel in a reference's metadata and to rank references for a file before any delta is made.
//!
//! The file is cut where a gear rolling hash of the last bytes matches a mask (chunks of about
//! 1 KiB, 256 B to 8 KiB), so an insertion moves only the chunks around it. Each chunk's bytes
//! are hashed, and the [`SKETCH_LEN`] smallest distinct hashes are kept. Two files' sketches
//! estimate the share of chunks they have in common (their Jaccard similarity): among the
//! smallest hashes of both sketches together, the fraction that both have.

use std::collections::BTreeSet;

/// Hashes kept in a sketch.
pub const SKETCH_LEN: usize = 64;

/// First characters of a sketch as metadata: its version.
const TAG: &str = "c1k64:";

/// Boundary mask: a chunk ends where the rolling hash has these bits clear (about 1 KiB).
const MASK: u64 = ((1 << 10) - 1) << 48;
const MIN_CHUNK: usize = 256;
const MAX_CHUNK: usize = 8 << 10;

/// A bottom-k sketch of a file's chunks: up to [`SKETCH_LEN`] hashes, ascending, distinct.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sketch {
    hashes: Vec<u32>,
}

/// 256 pseudo-random words for the gear hash, fixed forever (sketches are stored).
const GEAR: [u64; 256] = gear_table();

const fn gear_table() -> [u64; 256] {
    let mut table = [0u64; 256];
    let mut state: u64 = 0x6467_2073_6b65_7463; // "dg sketc"
    let mut i = 0;
    while i < 256 {
        // splitmix64
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        table[i] = z ^ (z >> 31);
        i += 1;
    }
    table
}

/// A 64-bit hash of one chunk's bytes, eight at a time.
fn chunk_hash(chunk: &[u8]) -> u64 {
    const K: u64 = 0x9fb2_1c65_1e98_df25;
    let mut h = (chunk.len() as u64).wrapping_mul(K);
    let mut words = chunk.chunks_exact(8);
    for word in &mut words {
        let mut w = [0u8; 8];
        w.copy_from_slice(word);
        h = (h ^ u64::from_le_bytes(w)).wrapping_mul(K).rotate_left(29);
    }
    for &b in words.remainder() {
        h = (h ^ u64::from(b)).wrapping_mul(K).rotate_left(29);
    }
    // final mix, so that nearby inputs spread over the whole range
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h
}

/// The end of the chunk that starts at `data[0]`.
fn chunk_end(data: &[u8]) -> usize {
    let limit = data.len().min(MAX_CHUNK);
    if limit <= MIN_CHUNK {
        return limit;
    }
    let mut h: u64 = 0;
    // the gear hash sees only the last 64 bytes: start it that far before the minimum
    let start = MIN_CHUNK - 64;
    for (i, &b) in data.iter().enumerate().take(limit).skip(start) {
        h = (h << 1).wrapping_add(GEAR[usize::from(b)]);
        if i >= MIN_CHUNK && h & MASK == 0 {
            return i + 1;
        }
    }
    limit
}

impl Sketch {
    /// The sketch of `data`.
    pub fn of(data: &[u8]) -> Sketch {
        let mut smallest = BTreeSet::new();
        let mut rest = data;
        while !rest.is_empty() {
            let end = chunk_end(rest);
            let (chunk, tail) = rest.split_at(end);
            let hash = (chunk_hash(chunk) >> 32) as u32;
            let full = smallest.len() >= SKETCH_LEN;
            if !full || smallest.last().is_some_and(|&max| hash < max) {
                smallest.insert(hash);
                if smallest.len() > SKETCH_LEN {
                    smallest.pop_last();
                }
            }
            rest = tail;
        }
        Sketch {
            hashes: smallest.into_iter().collect(),
        }
    }

    /// True when the sketch holds no hash (an empty file).
    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// The estimated share of chunks `self` and `other` have in common, from 0 to 1.
    pub fn similarity(&self, other: &Sketch) -> f64 {
        let union: BTreeSet<u32> = self.hashes.iter().chain(&other.hashes).copied().collect();
        let taken: Vec<u32> = union.into_iter().take(SKETCH_LEN).collect();
        if taken.is_empty() {
            return 0.0;
        }
        let both = taken
            .iter()
            .filter(|h| {
                self.hashes.binary_search(h).is_ok() && other.hashes.binary_search(h).is_ok()
            })
            .count();
        both as f64 / taken.len() as f64
    }

    /// The sketch as a metadata value (`c1k64:` and eight hex digits per hash).
    pub fn render(&self) -> String {
        let mut text = String::with_capacity(TAG.len() + self.hashes.len() * 8);
        text.push_str(TAG);
        for h in &self.hashes {
            text.push_str(&format!("{h:08x}"));
        }
        text
    }

    /// Reads a metadata value; `None` for anything but a well-formed sketch of this version
    /// (a sketch only ranks candidates, so a bad one is ignored, never an error).
    pub fn parse(text: &str) -> Option<Sketch> {
        let hex = text.trim().strip_prefix(TAG)?;
        if hex.len() % 8 != 0 || hex.len() > SKETCH_LEN * 8 || !hex.is_ascii() {
            return None;
        }
        let mut hashes = Vec::with_capacity(hex.len() / 8);
        for i in (0..hex.len()).step_by(8) {
            hashes.push(u32::from_str_radix(hex.get(i..i + 8)?, 16).ok()?);
        }
        // ascending and distinct, as sketches are made
        hashes
            .windows(2)
            .all(|w| w[0] < w[1])
            .then_some(Sketch { hashes })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise(len: usize, seed: u64) -> Vec<u8> {
        let mut state = seed;
        (0..len)
            .map(|_| {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                (state >> 33) as u8
            })
            .collect()
    }

    #[test]
    fn similar_files_score_high_and_unrelated_ones_low() {
        let a = noise(400_000, 1);
        let mut b = a.clone();
        // a few edits, one insertion: most chunks stay
        b[1000] ^= 0xff;
        b.splice(200_000..200_000, noise(3000, 9));
        b[350_000] ^= 1;
        let c = noise(400_000, 2);
        let (sa, sb, sc) = (Sketch::of(&a), Sketch::of(&b), Sketch::of(&c));
        assert_eq!(sa.hashes.len(), SKETCH_LEN);
        assert!(sa.similarity(&sb) > 0.8, "{}", sa.similarity(&sb));
        assert!(sa.similarity(&sc) < 0.05, "{}", sa.similarity(&sc));
        assert_eq!(sa.similarity(&sa), 1.0);
        // half the content in common scores about a third (|A∩B| / |A∪B|)
        let mut half = a[..200_000].to_vec();
        half.extend_from_slice(&c[200_000..]);
        let s = sa.similarity(&Sketch::of(&half));
        assert!((0.15..0.6).contains(&s), "{s}");
    }

    #[test]
    fn renders_and_parses_and_refuses_damage() {
        let s = Sketch::of(&noise(100_000, 3));
        let text = s.render();
        assert!(text.len() <= TAG.len() + SKETCH_LEN * 8);
        assert_eq!(Sketch::parse(&text), Some(s.clone()));
        assert_eq!(Sketch::parse(""), None);
        assert_eq!(Sketch::parse("c1k64:12"), None);
        assert_eq!(Sketch::parse("c1k64:0000000200000001"), None); // not ascending
        assert_eq!(Sketch::parse(&format!("{text}00000000")), None); // too long
        assert_eq!(Sketch::parse("c2k64:00000001"), None);
        assert_eq!(Sketch::parse("c1k64:zzzzzzzz"), None);
        assert_eq!(Sketch::parse("c1k64:"), Some(Sketch::default()));
        assert!(Sketch::of(b"").is_empty());
        assert_eq!(Sketch::of(b"").similarity(&s), 0.0);
    }

    #[test]
    fn chunks_stay_within_their_bounds() {
        let data = noise(100_000, 4);
        let mut rest = &data[..];
        while !rest.is_empty() {
            let end = chunk_end(rest);
            assert!(end <= MAX_CHUNK && (end >= MIN_CHUNK || end == rest.len()));
            rest = &rest[end..];
        }
        assert_eq!(chunk_end(&[0u8; 10]), 10);
        // constant data never matches the mask: chunks run to the maximum
        assert_eq!(chunk_end(&[0u8; 20_000]), MAX_CHUNK);
    }
}
