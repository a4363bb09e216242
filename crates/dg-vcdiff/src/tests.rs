//! Unit tests for codec internals that the public API cannot reach directly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::encoder::encode_with_segment_limit;
use super::{decode, DecodeLimits, EncodeOptions, Secondary};

fn rng_bytes(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Source larger than the segment limit: every window gets its own segment
/// and copies stay inside it.
#[test]
fn small_segment_limit_round_trips() {
    let src = rng_bytes(1, 300_000);
    let mut tgt = src.clone();
    for i in (0..tgt.len()).step_by(9973) {
        tgt[i] ^= 0x5A;
    }
    // Move a block from the end to the front: it lies outside the segment
    // chosen for the first windows and must fall back to literals.
    let tail = src[290_000..].to_vec();
    tgt.splice(0..0, tail);
    for (limit, window_size, secondary) in [
        (4096u64, 2048usize, Secondary::None),
        (50_000, 30_000, Secondary::Lzma),
        (1, 1000, Secondary::None),
    ] {
        let opts = EncodeOptions {
            window_size,
            secondary,
            ..EncodeOptions::default()
        };
        let mut delta = Vec::new();
        let mut r = &tgt[..];
        let st = encode_with_segment_limit(&src, &mut r, &mut delta, &opts, limit).unwrap();
        assert!(st.source_copied > 0 || limit == 1);
        let mut out = Vec::new();
        decode(&src, &mut &delta[..], &mut out, &DecodeLimits::default()).unwrap();
        assert!(out == tgt, "limit {limit}");
        // Every window's segment respects the limit.
        assert!(
            segments(&delta).iter().all(|&(_, len)| len <= limit),
            "limit {limit}"
        );
    }
}

/// (offset, length) of each window's source segment in an uncompressed-header delta.
fn segments(delta: &[u8]) -> Vec<(u64, u64)> {
    use super::varint::read;
    let mut pos = 4;
    let hdr = delta[pos];
    pos += 1;
    if hdr & 1 != 0 {
        pos += 1;
    }
    let mut v = Vec::new();
    while pos < delta.len() {
        let ind = delta[pos];
        pos += 1;
        let mut seg = (0, 0);
        if ind & 1 != 0 {
            let len = read(delta, &mut pos).unwrap();
            let off = read(delta, &mut pos).unwrap();
            seg = (off, len);
        }
        let enclen = read(delta, &mut pos).unwrap();
        pos += enclen as usize;
        v.push(seg);
    }
    v
}
