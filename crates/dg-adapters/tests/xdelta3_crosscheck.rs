//! Our VCDIFF codec checked against the `xdelta3` crate (C xdelta3), in both directions.
//!
//! Built only with `--features xdelta3` (the crate needs libclang); `.ci/run` turns it on.
#![cfg(feature = "xdelta3")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../dg-vcdiff/tests/common/mod.rs"]
mod common;

use std::io::Cursor;

use common::{dec, enc, mutate, texty, Rng};
use dg_adapters::conformance;
use dg_adapters::engine::Xdelta3LibEngine;
use dg_ports::DiffEngine;
use dg_vcdiff::{EncodeOptions, Secondary};
use proptest::prelude::*;

/// The crate's encoder.
fn lib_encode(reference: &[u8], target: &[u8]) -> Vec<u8> {
    let mut delta = Vec::new();
    Xdelta3LibEngine
        .encode(reference, &mut Cursor::new(target), &mut delta)
        .expect("the xdelta3 crate encodes");
    delta
}

/// The crate's decoder; `None` where it refuses.
fn lib_decode(reference: &[u8], delta: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    Xdelta3LibEngine
        .decode(reference, &mut Cursor::new(delta), &mut out, u64::MAX)
        .ok()
        .map(|_| out)
}

/// Our encoder without secondary compression: the format the crate reads.
fn plain() -> EncodeOptions {
    EncodeOptions {
        secondary: Secondary::None,
        ..EncodeOptions::default()
    }
}

/// Both directions for one pair; returns (our delta size, the crate's delta size).
fn cross_check(reference: &[u8], target: &[u8]) -> (usize, usize) {
    let theirs = lib_encode(reference, target);
    assert!(
        dec(reference, &theirs).expect("our decoder reads the crate's delta") == target,
        "our decoder rebuilds the crate's delta exactly"
    );
    let (ours, _) = enc(reference, target, &plain());
    // The crate gives the output 2 × (delta + reference) bytes of room; beyond that it refuses.
    let room = 2 * (ours.len() + reference.len());
    match lib_decode(reference, &ours) {
        Some(out) => assert!(out == target, "the crate rebuilds our delta exactly"),
        None => assert!(
            target.len() > room,
            "the crate refused our {}-byte delta of a {}-byte target with room for it",
            ours.len(),
            target.len()
        ),
    }
    (ours.len(), theirs.len())
}

#[test]
fn xdelta3_lib_engine_conforms() {
    conformance::engine::run(&Xdelta3LibEngine);
}

#[test]
fn generated_pairs_cross_check() {
    let mut rng = Rng::new(21);
    for (len, edits) in [(0, 0), (1, 1), (5000, 3), (100_000, 40), (2_000_000, 200)] {
        let a = texty(&mut rng, len);
        let b = mutate(&mut rng, &a, edits);
        let noise = rng.bytes(len);
        for target in [b, noise] {
            if Xdelta3LibEngine
                .supports(a.len() as u64, target.len() as u64)
                .is_ok()
            {
                cross_check(&a, &target);
            }
        }
    }
}

#[test]
fn tiny_inputs_are_refused_by_supports_or_cross_check() {
    let mut rng = Rng::new(23);
    for t in 0..48 {
        for s in 0..48 {
            let (a, b) = (rng.bytes(s), rng.bytes(t));
            if Xdelta3LibEngine.supports(s as u64, t as u64).is_ok() {
                cross_check(&a, &b);
            }
        }
    }
}

/// The crate writes no window checksum, so a damaged delta may decode to other bytes (dg's
/// SHA-256 catches that); both decoders must still agree on what it decodes to.
#[test]
fn both_decoders_agree_on_damaged_deltas() {
    let mut rng = Rng::new(22);
    let a = texty(&mut rng, 20_000);
    let b = mutate(&mut rng, &a, 10);
    let theirs = lib_encode(&a, &b);
    let mut agreed = 0;
    for i in 0..theirs.len() {
        for x in [0x01u8, 0x80, 0x5A] {
            let mut d = theirs.clone();
            d[i] ^= x;
            if let (Ok(ours), Some(lib)) = (dec(&a, &d), lib_decode(&a, &d)) {
                assert!(ours == lib, "byte {i} ^ {x:#x}: the decoders disagree");
                agreed += 1;
            }
        }
    }
    assert!(agreed > 0, "some damaged deltas still decode");
}

#[test]
fn corpus_pairs_cross_check_and_sizes() {
    let Some(pairs) = common::corpus_pairs("corpus_pairs_cross_check_and_sizes") else {
        return;
    };
    for (older, newer) in &pairs {
        let (a, b) = (std::fs::read(older).unwrap(), std::fs::read(newer).unwrap());
        let (ours, theirs) = cross_check(&a, &b);
        eprintln!(
            "{} -> {}: ours {ours} B, xdelta3 crate {theirs} B ({:+.1}%)",
            older.display(),
            newer.display(),
            (ours as f64 / theirs as f64 - 1.0) * 100.0
        );
        assert!(
            ours as f64 <= theirs as f64 * 1.10,
            "our delta ({ours} B) is within 10% of the xdelta3 crate's ({theirs} B) for {newer:?}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn prop_both_codecs_agree(reference in proptest::collection::vec(0u8..8, 0..3000),
                              edits in proptest::collection::vec((any::<u16>(), 0u8..8), 0..30)) {
        let mut target = reference.clone();
        for (pos, byte) in edits {
            let at = usize::from(pos) % (target.len() + 1);
            target.insert(at, byte);
        }
        cross_check(&reference, &target);
    }
}
