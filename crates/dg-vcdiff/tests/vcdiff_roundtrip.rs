//! Round trips through our own encoder and decoder, including property tests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{dec, enc, mutate, round_trip, texty, Rng};
use dg_vcdiff::{is_vcdiff, EncodeOptions, Secondary, MAGIC};
use proptest::prelude::*;

fn all_opts() -> Vec<EncodeOptions> {
    let mut v = Vec::new();
    for secondary in [Secondary::None, Secondary::Lzma] {
        for checksum in [true, false] {
            for (level, window_size) in [(6, 8 << 20), (1, 1000), (9, 4096)] {
                v.push(EncodeOptions {
                    window_size,
                    checksum,
                    secondary,
                    level,
                    ..EncodeOptions::default()
                });
            }
        }
    }
    v
}

#[test]
fn magic() {
    assert!(is_vcdiff(&MAGIC));
    assert!(is_vcdiff(&[0xD6, 0xC3, 0xC4, 0x00, 0x05]));
    assert!(!is_vcdiff(&[0xD6, 0xC3, 0xC4, 0x01]));
    assert!(!is_vcdiff(&[0xD6, 0xC3, 0xC4]));
    assert!(!is_vcdiff(b"PK\x03\x04"));
}

#[test]
fn empty_cases() {
    let mut rng = Rng::new(1);
    let data = texty(&mut rng, 5000);
    for o in all_opts() {
        round_trip(&[], &[], &o);
        round_trip(&data, &[], &o);
        round_trip(&[], &data, &o);
        round_trip(&data[..3], &data[..5], &o);
        round_trip(&[1], &[1], &o);
    }
}

#[test]
fn identical_is_tiny() {
    let mut rng = Rng::new(2);
    let data = rng.bytes(1 << 20);
    let d = round_trip(&data, &data, &EncodeOptions::default());
    assert!(d.len() < 64, "identical delta is {} bytes", d.len());
}

#[test]
fn unrelated_random() {
    let mut rng = Rng::new(3);
    let a = rng.bytes(200_000);
    let b = rng.bytes(150_000);
    for o in all_opts() {
        let d = round_trip(&a, &b, &o);
        assert!(d.len() < b.len() + b.len() / 50 + 1000);
    }
}

#[test]
fn shorter_and_longer_source() {
    let mut rng = Rng::new(4);
    let base = texty(&mut rng, 300_000);
    let tgt = mutate(&mut rng, &base, 50);
    for o in all_opts() {
        round_trip(&base[..1000], &tgt, &o);
        round_trip(&base, &tgt[..2000], &o);
        round_trip(&tgt, &base, &o);
    }
}

#[test]
fn similar_data_compresses() {
    let mut rng = Rng::new(5);
    let base = texty(&mut rng, 1 << 20);
    let tgt = mutate(&mut rng, &base, 200);
    let d = round_trip(&base, &tgt, &EncodeOptions::default());
    assert!(d.len() < 40_000, "delta {} bytes", d.len());
}

#[test]
fn many_windows() {
    let mut rng = Rng::new(6);
    let base = rng.bytes(100_000);
    let tgt = mutate(&mut rng, &base, 100);
    for secondary in [Secondary::None, Secondary::Lzma] {
        for window_size in [1, 7, 100, 4096, 65_536] {
            let o = EncodeOptions {
                window_size,
                secondary,
                ..EncodeOptions::default()
            };
            let (delta, st) = enc(&base, &tgt, &o);
            assert_eq!(st.windows, (tgt.len() as u64).div_ceil(window_size as u64));
            assert_eq!(dec(&base, &delta).unwrap(), tgt);
        }
    }
}

#[test]
fn runs_and_self_similar_target() {
    let mut t = vec![0u8; 100_000];
    t.extend(std::iter::repeat_n(b"abc".iter().copied(), 5000).flatten());
    t.extend_from_slice(&t.clone()[..50_000]);
    for o in all_opts() {
        let d = round_trip(&[], &t, &o);
        if o.window_size > 200_000 {
            assert!(d.len() < 1000, "{}", d.len());
        }
    }
}

#[test]
fn lzma_is_smaller_on_text() {
    let mut rng = Rng::new(7);
    let base = texty(&mut rng, 500_000);
    let tgt = mutate(&mut rng, &base, 300);
    let plain = round_trip(&base, &tgt, &EncodeOptions::default());
    let lz = round_trip(
        &base,
        &tgt,
        &EncodeOptions {
            secondary: Secondary::Lzma,
            ..EncodeOptions::default()
        },
    );
    assert!(lz.len() < plain.len(), "{} vs {}", lz.len(), plain.len());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn prop_round_trip(
        seed in any::<u64>(),
        len in 0usize..20_000,
        edits in 0usize..40,
        window_size in prop_oneof![Just(8usize << 20), 1usize..5000],
        level in 1u32..=9,
        lzma in any::<bool>(),
        checksum in any::<bool>(),
    ) {
        let mut rng = Rng::new(seed);
        let base = if seed % 2 == 0 { texty(&mut rng, len) } else { rng.bytes(len) };
        let tgt = mutate(&mut rng, &base, edits);
        let secondary = if lzma { Secondary::Lzma } else { Secondary::None };
        let o = EncodeOptions { window_size, checksum, secondary, level, ..EncodeOptions::default() };
        let (delta, _) = enc(&base, &tgt, &o);
        prop_assert_eq!(dec(&base, &delta).unwrap(), tgt);
    }

    #[test]
    fn prop_arbitrary_pairs(src in proptest::collection::vec(any::<u8>(), 0..600),
                            tgt in proptest::collection::vec(0u8..4, 0..600),
                            window_size in 1usize..700) {
        let o = EncodeOptions { window_size, ..EncodeOptions::default() };
        let (delta, _) = enc(&src, &tgt, &o);
        prop_assert_eq!(dec(&src, &delta).unwrap(), tgt);
    }
}
