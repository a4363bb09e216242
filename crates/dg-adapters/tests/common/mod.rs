//! Shared helpers for the integration tests: data generators and codec wrappers.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use dg_adapters::engine::vcdiff::{
    decode, encode, DecodeLimits, EncodeOptions, EncodeStats, VcdiffError,
};

/// Small deterministic PRNG (xorshift64*).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// Text-like data: words from a small vocabulary (compressible, repetitive).
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

/// A modified copy of `base`: insertions, deletions, replacements, moved blocks.
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
                // Duplicate a block from elsewhere.
                let from = rng.below(len.max(1)) as usize;
                let end = (from + n * 8).min(v.len());
                let block = v[from..end].to_vec();
                v.splice(pos..pos, block);
            }
        }
    }
    v
}

pub fn enc(src: &[u8], tgt: &[u8], opts: &EncodeOptions) -> (Vec<u8>, EncodeStats) {
    let mut out = Vec::new();
    let mut r = tgt;
    let st = encode(src, &mut r, &mut out, opts).expect("encode");
    assert_eq!(st.bytes_out, out.len() as u64);
    assert_eq!(st.bytes_in, tgt.len() as u64);
    (out, st)
}

pub fn dec(src: &[u8], delta: &[u8]) -> Result<Vec<u8>, VcdiffError> {
    dec_with(src, delta, &DecodeLimits::default())
}

pub fn dec_with(src: &[u8], delta: &[u8], limits: &DecodeLimits) -> Result<Vec<u8>, VcdiffError> {
    let mut out = Vec::new();
    let mut r = delta;
    let n = decode(src, &mut r, &mut out, limits)?;
    assert_eq!(n, out.len() as u64);
    Ok(out)
}

/// Encodes, decodes with our decoder and checks the result.
pub fn round_trip(src: &[u8], tgt: &[u8], opts: &EncodeOptions) -> Vec<u8> {
    let (delta, _) = enc(src, tgt, opts);
    let back = dec(src, &delta).expect("decode");
    assert!(
        back == tgt,
        "round trip mismatch: {} vs {} bytes",
        back.len(),
        tgt.len()
    );
    delta
}

/// Consecutive (older, newer) file pairs of every series under `$DG_CORPUS` (built by
/// `bench/make-corpus.sh`): each sub-directory's files sorted by name. `None` (after a loud
/// note) when the corpus is missing, which fails instead under `DG_REQUIRE_TOOLS`.
pub fn corpus_pairs(test: &str) -> Option<Vec<(std::path::PathBuf, std::path::PathBuf)>> {
    use std::path::PathBuf;
    let root = std::env::var_os("DG_CORPUS")
        .map_or_else(|| PathBuf::from("corpus-not-set"), PathBuf::from);
    let Ok(entries) = std::fs::read_dir(&root) else {
        assert!(
            std::env::var_os("DG_REQUIRE_TOOLS").is_none(),
            "DG_REQUIRE_TOOLS is set but the corpus {root:?} is missing"
        );
        eprintln!("!!!!!!!! SKIPPING {test}: corpus {root:?} not found (set DG_CORPUS) !!!!!!!!");
        return None;
    };
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    let mut pairs = Vec::new();
    for d in dirs {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&d)
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        pairs.extend(files.windows(2).map(|w| (w[0].clone(), w[1].clone())));
    }
    assert!(!pairs.is_empty(), "corpus {root:?} has no pairs");
    Some(pairs)
}
