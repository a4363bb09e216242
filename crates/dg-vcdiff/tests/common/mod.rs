//! Shared helpers for the integration tests: data generators and codec wrappers.
#![allow(
    dead_code,
    unused_imports,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

pub use dg_testdata::{corpus_pairs, mutate, texty, Rng};
use dg_vcdiff::{decode, encode, DecodeLimits, EncodeOptions, EncodeStats, VcdiffError};

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
