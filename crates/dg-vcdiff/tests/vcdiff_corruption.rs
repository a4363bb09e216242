//! Hostile-input tests: every single-byte flip and every truncation of small deltas, plus limits.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{dec, dec_with, enc, mutate, texty, Rng};
use dg_vcdiff::{DecodeLimits, EncodeOptions, Secondary, VcdiffError};

fn sample() -> (Vec<u8>, Vec<u8>) {
    let mut rng = Rng::new(77);
    let src = texty(&mut rng, 3000);
    let tgt = mutate(&mut rng, &src, 12);
    (src, tgt)
}

fn deltas(src: &[u8], tgt: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut v = Vec::new();
    for secondary in [Secondary::None, Secondary::Lzma] {
        for window_size in [1000, 1 << 20] {
            let o = EncodeOptions {
                window_size,
                secondary,
                ..EncodeOptions::default()
            };
            v.push((format!("{secondary:?}/{window_size}"), enc(src, tgt, &o).0));
        }
    }
    v
}

/// Window start offsets in the decoded output, for judging truncations.
fn window_boundaries(tgt_len: usize, window_size: usize) -> Vec<usize> {
    (0..=tgt_len)
        .step_by(window_size)
        .chain([tgt_len])
        .collect()
}

#[test]
fn every_byte_flip_is_an_error_or_correct() {
    let (src, tgt) = sample();
    for (name, delta) in deltas(&src, &tgt) {
        let mut wrong = 0;
        for i in 0..delta.len() {
            for x in [0x01u8, 0x80, 0xFF, 0x55] {
                let mut d = delta.clone();
                d[i] ^= x;
                if let Ok(out) = dec(&src, &d) {
                    if out != tgt {
                        wrong += 1;
                        eprintln!(
                            "{name}: flip {x:#x} at {i} decoded to wrong output ({} bytes)",
                            out.len()
                        );
                    }
                }
            }
        }
        assert_eq!(wrong, 0, "{name}: undetected corruption");
    }
}

#[test]
fn every_truncation_is_an_error_or_a_window_prefix() {
    let (src, tgt) = sample();
    for (name, delta) in deltas(&src, &tgt) {
        let ws: usize = if name.ends_with("/1000") {
            1000
        } else {
            1 << 20
        };
        let bounds = window_boundaries(tgt.len(), ws);
        for cut in 0..delta.len() {
            if let Ok(out) = dec(&src, &delta[..cut]) {
                // VCDIFF has no end marker: cutting exactly between windows
                // yields the windows before the cut, nothing else.
                assert!(
                    tgt.starts_with(&out),
                    "{name}: cut at {cut} gave non-prefix output"
                );
                assert!(
                    bounds.contains(&out.len()),
                    "{name}: cut at {cut} gave a partial window"
                );
            }
        }
    }
}

#[test]
fn random_multi_byte_damage_never_panics() {
    let (src, tgt) = sample();
    let mut rng = Rng::new(5);
    for (_, delta) in deltas(&src, &tgt) {
        for _ in 0..3000 {
            let mut d = delta.clone();
            for _ in 0..1 + rng.below(6) {
                let i = rng.below(d.len() as u64) as usize;
                d[i] = rng.next() as u8;
            }
            if rng.below(4) == 0 {
                let cut = rng.below(d.len() as u64) as usize;
                d.truncate(cut);
            }
            if let Ok(out) = dec(&src, &d) {
                assert!(
                    tgt.starts_with(&out),
                    "damaged delta decoded to wrong output"
                );
            }
        }
    }
}

#[test]
fn garbage_inputs() {
    let mut rng = Rng::new(6);
    for n in 0..2000usize {
        let mut d = vec![0xD6, 0xC3, 0xC4, 0x00];
        d.extend(rng.bytes(n % 64));
        let _ = dec(b"some source bytes", &d);
    }
    assert!(matches!(dec(b"", b""), Err(VcdiffError::Truncated { .. })));
    assert!(matches!(
        dec(b"", b"PK\x03\x04"),
        Err(VcdiffError::BadMagic)
    ));
    assert!(matches!(
        dec(b"", &[0xD6, 0xC3, 0xC4, 0x01, 0]),
        Err(VcdiffError::UnsupportedVersion { version: 1 })
    ));
    assert_eq!(dec(b"", &[0xD6, 0xC3, 0xC4, 0, 1, 1]).unwrap(), b""); // DJW, no windows
    assert!(matches!(
        dec(b"", &[0xD6, 0xC3, 0xC4, 0, 1, 3]),
        Err(VcdiffError::UnsupportedSecondary { id: 3 })
    ));
    assert!(matches!(
        dec(b"", &[0xD6, 0xC3, 0xC4, 0, 1, 16]),
        Err(VcdiffError::UnsupportedSecondary { id: 16 })
    ));
    assert!(matches!(
        dec(b"", &[0xD6, 0xC3, 0xC4, 0, 2, 4, 0, 0]),
        Err(VcdiffError::UnsupportedCodeTable)
    ));
    assert!(matches!(
        dec(b"", &[0xD6, 0xC3, 0xC4, 0, 8]),
        Err(VcdiffError::InvalidHeader { .. })
    ));
    // Header only: no windows, empty output.
    assert_eq!(dec(b"", &[0xD6, 0xC3, 0xC4, 0, 0]).unwrap(), b"");
    // App header is skipped.
    assert_eq!(
        dec(b"", &[0xD6, 0xC3, 0xC4, 0, 4, 3, b'a', b'b', b'c']).unwrap(),
        b""
    );
    // VCD_TARGET window.
    assert!(matches!(
        dec(b"", &[0xD6, 0xC3, 0xC4, 0, 0, 2, 0, 0, 5, 0, 0, 0, 0, 0]),
        Err(VcdiffError::UnsupportedTargetWindow { window: 0 })
    ));
    // Source segment beyond the source.
    assert!(matches!(
        dec(b"abc", &[0xD6, 0xC3, 0xC4, 0, 0, 1, 4, 0, 5, 0, 0, 0, 0, 0]),
        Err(VcdiffError::SourceOutOfRange { .. })
    ));
}

#[test]
fn limits_are_enforced() {
    let mut rng = Rng::new(8);
    let src = rng.bytes(10_000);
    let tgt = mutate(&mut rng, &src, 5);
    let o = EncodeOptions {
        window_size: 4096,
        ..EncodeOptions::default()
    };
    let (delta, _) = enc(&src, &tgt, &o);
    let ok = DecodeLimits {
        max_output: tgt.len() as u64,
        max_window: 4096,
    };
    assert_eq!(dec_with(&src, &delta, &ok).unwrap(), tgt);
    let small_out = DecodeLimits {
        max_output: tgt.len() as u64 - 1,
        max_window: 4096,
    };
    assert!(matches!(
        dec_with(&src, &delta, &small_out),
        Err(VcdiffError::OutputLimit { .. })
    ));
    let small_win = DecodeLimits {
        max_output: u64::MAX,
        max_window: 4095,
    };
    assert!(matches!(
        dec_with(&src, &delta, &small_win),
        Err(VcdiffError::WindowTooLarge { .. })
    ));
    // A window announcing a huge length with no data behind it fails fast.
    let hostile = [
        0xD6, 0xC3, 0xC4, 0, 0, 0, 0x8F, 0xFF, 0xFF, 0x7F, 0x80, 0x80, 0x80, 0x7F, 0,
    ];
    assert!(dec(&src, &hostile).is_err());
}
