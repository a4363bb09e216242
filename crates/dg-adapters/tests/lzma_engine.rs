//! The lzma engine: conformance, property round trips, and both directions against C liblzma
//! (xz's own library) given the same preset dictionary.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../dg-vcdiff/tests/common/mod.rs"]
mod common;

use std::io::Cursor;

use common::{mutate, texty, Rng};
use dg_adapters::conformance;
use dg_adapters::engine::{LzmaEngine, VcdiffEngine};
use dg_ports::DiffEngine;
use proptest::prelude::*;

/// C liblzma's raw LZMA2 coder with `reference` as preset dictionary (the one way liblzma
/// exposes preset dictionaries is its C API, hence the FFI here and nowhere in dg itself).
mod c_lzma {
    use liblzma_sys as sys;

    pub fn code(
        encode: bool,
        reference: &[u8],
        input: &[u8],
        dict_size: u32,
    ) -> Result<Vec<u8>, String> {
        // SAFETY: the options, filter array, input and reference outlive the stream, which is
        // ended before they are dropped; buffers are described by pointer + length of live
        // slices and vectors.
        unsafe {
            let mut opts: sys::lzma_options_lzma = std::mem::zeroed();
            if sys::lzma_lzma_preset(&mut opts, 6) != 0 {
                return Err("lzma_lzma_preset failed".into());
            }
            opts.dict_size = dict_size;
            if !reference.is_empty() {
                opts.preset_dict = reference.as_ptr();
                opts.preset_dict_size =
                    u32::try_from(reference.len()).map_err(|e| e.to_string())?;
            }
            let filters = [
                sys::lzma_filter {
                    id: sys::LZMA_FILTER_LZMA2,
                    options: (&mut opts as *mut sys::lzma_options_lzma).cast(),
                },
                sys::lzma_filter {
                    id: sys::LZMA_VLI_UNKNOWN,
                    options: std::ptr::null_mut(),
                },
            ];
            let mut strm: sys::lzma_stream = std::mem::zeroed();
            let ret = if encode {
                sys::lzma_raw_encoder(&mut strm, filters.as_ptr())
            } else {
                sys::lzma_raw_decoder(&mut strm, filters.as_ptr())
            };
            if ret != sys::LZMA_OK {
                return Err(format!("liblzma init failed: {ret}"));
            }
            strm.next_in = input.as_ptr();
            strm.avail_in = input.len();
            let mut out = Vec::new();
            let mut buf = vec![0u8; 1 << 16];
            let result = loop {
                strm.next_out = buf.as_mut_ptr();
                strm.avail_out = buf.len();
                let ret = sys::lzma_code(&mut strm, sys::LZMA_FINISH);
                out.extend_from_slice(&buf[..buf.len() - strm.avail_out]);
                match ret {
                    sys::LZMA_STREAM_END => break Ok(out),
                    sys::LZMA_OK => {}
                    other => break Err(format!("liblzma says {other}")),
                }
            };
            sys::lzma_end(&mut strm);
            result
        }
    }
}

const HEADER_LEN: usize = 25;

fn dict_size(reference: &[u8], target_len: usize) -> u32 {
    u32::try_from((reference.len() + target_len).max(4096)).unwrap()
}

fn ours_encode(reference: &[u8], target: &[u8]) -> Vec<u8> {
    let mut delta = Vec::new();
    LzmaEngine::default()
        .encode(reference, &mut Cursor::new(target), &mut delta)
        .unwrap();
    delta
}

fn ours_decode(reference: &[u8], delta: &[u8]) -> dg_ports::Result<Vec<u8>> {
    let mut out = Vec::new();
    LzmaEngine::default().decode(reference, &mut Cursor::new(delta), &mut out, u64::MAX)?;
    Ok(out)
}

/// Our delta's LZMA2 stream decoded by C liblzma; C liblzma's stream, behind the header as
/// documented in `engine/lzma.rs`, decoded by us. Returns (our delta, liblzma's) sizes.
fn cross_check(reference: &[u8], target: &[u8]) -> (usize, usize) {
    let dict = dict_size(reference, target.len());
    let ours = ours_encode(reference, target);
    assert_eq!(&ours[..4], b"dgLZ");
    assert_eq!(ours[4], 1, "header version");
    assert_eq!(ours[5..9], dict.to_le_bytes(), "dictionary size");
    assert_eq!(ours[9..17], (reference.len() as u64).to_le_bytes());
    assert_eq!(ours[17..25], (target.len() as u64).to_le_bytes());
    let by_c = c_lzma::code(false, reference, &ours[HEADER_LEN..], dict).unwrap();
    assert!(by_c == target, "C liblzma decodes our delta to the target");

    let stream = c_lzma::code(true, reference, target, dict).unwrap();
    let mut theirs = b"dgLZ\x01".to_vec();
    theirs.extend_from_slice(&dict.to_le_bytes());
    theirs.extend_from_slice(&(reference.len() as u64).to_le_bytes());
    theirs.extend_from_slice(&(target.len() as u64).to_le_bytes());
    theirs.extend_from_slice(&stream);
    assert!(
        ours_decode(reference, &theirs).unwrap() == target,
        "we decode C liblzma's stream to the target"
    );
    (ours.len(), theirs.len())
}

#[test]
fn lzma_engine_conforms() {
    conformance::engine::run(&LzmaEngine::default());
}

#[test]
fn both_directions_with_c_liblzma() {
    let mut rng = Rng::new(31);
    for (len, edits) in [(0, 0), (1, 1), (100, 3), (50_000, 20), (700_000, 200)] {
        let a = texty(&mut rng, len);
        let b = mutate(&mut rng, &a, edits);
        cross_check(&a, &b);
        cross_check(&[], &b);
        cross_check(&a, &[]);
    }
    let random = rng.bytes(300_000);
    cross_check(&random, &mutate(&mut rng, &random, 50));
}

/// Every corpus pair that fits the engine: both directions with C liblzma, and the delta no
/// larger than VCDIFF's (with its LZMA secondary compression) plus 2%, but for files so alike
/// that both deltas are tiny.
#[test]
fn corpus_pairs_both_ways_and_smaller_than_vcdiff() {
    let Some(pairs) = common::corpus_pairs("corpus_pairs_both_ways_and_smaller_than_vcdiff") else {
        return;
    };
    let engine = LzmaEngine::default();
    for (older, newer) in &pairs {
        let (a, b) = (std::fs::read(older).unwrap(), std::fs::read(newer).unwrap());
        if engine.supports(a.len() as u64, b.len() as u64).is_err() {
            eprintln!("{}: over the lzma engine's limit, skipped", newer.display());
            continue;
        }
        let (ours, theirs) = cross_check(&a, &b);
        let mut vcdiff = Vec::new();
        VcdiffEngine::default()
            .encode(&a, &mut Cursor::new(&b), &mut vcdiff)
            .unwrap();
        eprintln!(
            "{} -> {}: lzma {ours} B, C liblzma (preset 6) {theirs} B, vcdiff {} B",
            older.display(),
            newer.display(),
            vcdiff.len()
        );
        // Near-identical files are the exception: LZMA's matches stop at 273 bytes, so its
        // delta stays above ~1 KB per MB of file (dg-core then keeps VCDIFF's, if smaller).
        let floor = b.len() / 500;
        assert!(
            ours as f64 <= vcdiff.len() as f64 * 1.02 || ours <= floor,
            "lzma ({ours} B) is no larger than vcdiff ({} B) for {newer:?}",
            vcdiff.len()
        );
    }
}

#[test]
fn damaged_deltas_are_errors_or_other_bytes_never_panics() {
    let mut rng = Rng::new(32);
    let a = texty(&mut rng, 20_000);
    let b = mutate(&mut rng, &a, 10);
    let delta = ours_encode(&a, &b);
    let mut errors = 0;
    for i in 0..delta.len() {
        for x in [0x01u8, 0x80] {
            let mut d = delta.clone();
            d[i] ^= x;
            match ours_decode(&a, &d) {
                Err(_) => errors += 1,
                Ok(out) => assert!(
                    out.len() == b.len(),
                    "a decoded delta has its header's length"
                ),
            }
        }
    }
    assert!(errors > 0, "damage is noticed");
    for cut in [0, 10, HEADER_LEN, delta.len() / 2, delta.len() - 1] {
        assert!(
            ours_decode(&a, &delta[..cut]).is_err(),
            "truncated at {cut}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn prop_round_trip(seed in any::<u64>(), len in 0usize..20_000, edits in 0usize..40) {
        let mut rng = Rng::new(seed);
        let a = texty(&mut rng, len);
        let b = mutate(&mut rng, &a, edits);
        let delta = ours_encode(&a, &b);
        prop_assert!(ours_decode(&a, &delta).unwrap() == b);
    }
}
