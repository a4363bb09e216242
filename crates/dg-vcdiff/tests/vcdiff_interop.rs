//! Differential tests against the real `xdelta3` program, in both directions.
//!
//! Skipped (loudly) when `xdelta3` is not on PATH. The corpus test reads
//! release series from `$DG_CORPUS` (built by `bench/make-corpus.sh`): every
//! sub-directory's files, sorted by name, form consecutive (old, new) pairs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{dec, enc, mutate, texty, Rng};
use dg_vcdiff::{EncodeOptions, Secondary, VcdiffError};

fn have_xdelta3() -> bool {
    let ok = Command::new("xdelta3")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success() || !o.stderr.is_empty());
    if !ok {
        assert!(
            std::env::var_os("DG_REQUIRE_TOOLS").is_none(),
            "DG_REQUIRE_TOOLS is set but `xdelta3` is not on PATH"
        );
        eprintln!("!!!!!!!! SKIPPING: `xdelta3` is not on PATH (apt-get install xdelta3) !!!!!!!!");
    }
    ok
}

fn run(args: &[&str]) {
    let out = Command::new("xdelta3")
        .args(args)
        .output()
        .expect("spawn xdelta3");
    assert!(
        out.status.success(),
        "xdelta3 {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `xdelta3 -e` with `extra` flags; returns the delta bytes.
fn xd3_encode(dir: &Path, src: &Path, tgt: &Path, extra: &[&str]) -> Vec<u8> {
    let delta = dir.join("xd3.delta");
    let mut args = vec!["-e", "-f", "-D", "-R"];
    args.extend_from_slice(extra);
    let (s, t, d) = (
        src.to_str().unwrap(),
        tgt.to_str().unwrap(),
        delta.to_str().unwrap(),
    );
    args.extend_from_slice(&["-s", s, t, d]);
    run(&args);
    std::fs::read(&delta).unwrap()
}

/// `xdelta3 -d` of our delta; returns the decoded bytes.
fn xd3_decode(dir: &Path, src: &Path, delta: &[u8]) -> Vec<u8> {
    let dpath = dir.join("ours.delta");
    let out = dir.join("xd3.out");
    std::fs::write(&dpath, delta).unwrap();
    let (s, d, o) = (
        src.to_str().unwrap(),
        dpath.to_str().unwrap(),
        out.to_str().unwrap(),
    );
    run(&["-d", "-f", "-D", "-R", "-s", s, d, o]);
    std::fs::read(&out).unwrap()
}

/// Checks one (source, target) pair in every direction we support.
fn check_pair(src: &Path, tgt: &Path, xd3_flag_sets: &[&[&str]], our_opts: &[EncodeOptions]) {
    let dir = tempfile::tempdir().unwrap();
    let s = std::fs::read(src).unwrap();
    let t = std::fs::read(tgt).unwrap();
    for flags in xd3_flag_sets {
        let delta = xd3_encode(dir.path(), src, tgt, flags);
        let got = dec(&s, &delta)
            .unwrap_or_else(|e| panic!("decode xdelta3 {flags:?} delta of {tgt:?}: {e}"));
        assert!(
            got == t,
            "wrong output decoding xdelta3 {flags:?} delta of {tgt:?}"
        );
    }
    for o in our_opts {
        let (delta, _) = enc(&s, &t, o);
        let got = xd3_decode(dir.path(), src, &delta);
        assert!(
            got == t,
            "xdelta3 decoded our {o:?} delta of {tgt:?} wrongly"
        );
    }
}

fn write_pair(dir: &Path, name: &str, a: &[u8], b: &[u8]) -> (PathBuf, PathBuf) {
    let (pa, pb) = (
        dir.join(format!("{name}.old")),
        dir.join(format!("{name}.new")),
    );
    std::fs::write(&pa, a).unwrap();
    std::fs::write(&pb, b).unwrap();
    (pa, pb)
}

fn our_variants() -> Vec<EncodeOptions> {
    vec![
        EncodeOptions::default(),
        EncodeOptions {
            secondary: Secondary::Lzma,
            ..EncodeOptions::default()
        },
        EncodeOptions {
            window_size: 20_000,
            checksum: false,
            level: 1,
            ..EncodeOptions::default()
        },
        EncodeOptions {
            window_size: 30_000,
            secondary: Secondary::Lzma,
            level: 9,
            ..EncodeOptions::default()
        },
    ]
}

const XD3_SETS: &[&[&str]] = &[
    &["-9"],
    &["-9", "-S", "none"],
    &["-9", "-S", "djw"],
    &["-S", "none", "-W", "16384"],
    &["-W", "16384"],
    &["-n", "-1"],
];

#[test]
fn generated_pairs() {
    if !have_xdelta3() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng::new(42);
    let text = texty(&mut rng, 400_000);
    let bin = rng.bytes(300_000);
    let cases: Vec<(&str, Vec<u8>, Vec<u8>)> = vec![
        ("text", text.clone(), mutate(&mut rng, &text, 300)),
        ("bin", bin.clone(), mutate(&mut rng, &bin, 100)),
        ("grow", text[..10_000].to_vec(), text.clone()),
        ("shrink", text.clone(), text[100_000..120_000].to_vec()),
        ("unrelated", bin.clone(), text[..50_000].to_vec()),
        ("empty-target", text[..1000].to_vec(), Vec::new()),
        ("tiny", b"a".to_vec(), b"ab".to_vec()),
    ];
    for (name, a, b) in &cases {
        let (pa, pb) = write_pair(dir.path(), name, a, b);
        check_pair(&pa, &pb, XD3_SETS, &our_variants());
    }
}

#[test]
fn multi_window_lzma_stream_continues() {
    if !have_xdelta3() {
        return;
    }
    // > 8 MiB so xdelta3 itself writes several windows with its default -W,
    // exercising LZMA streams continued across windows.
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng::new(7);
    let a = texty(&mut rng, 18 << 20);
    let b = mutate(&mut rng, &a, 2000);
    let (pa, pb) = write_pair(dir.path(), "big", &a, &b);
    check_pair(
        &pa,
        &pb,
        &[&["-9"], &["-S", "none"], &["-S", "djw"]],
        &[EncodeOptions {
            secondary: Secondary::Lzma,
            ..EncodeOptions::default()
        }],
    );
}

#[test]
fn djw_and_fgk_secondaries() {
    if !have_xdelta3() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng::new(9);
    let a = texty(&mut rng, 200_000);
    let b = mutate(&mut rng, &a, 100);
    let (pa, pb) = write_pair(dir.path(), "djw", &a, &b);
    // DJW (id 1) decodes, also with many small windows and 1 group.
    for flags in [
        &["-9", "-S", "djw"][..],
        &["-S", "djw", "-W", "16384"][..],
        &["-1", "-S", "djw"][..],
    ] {
        let delta = xd3_encode(dir.path(), &pa, &pb, flags);
        assert_eq!(dec(&a, &delta).unwrap(), b, "{flags:?}");
    }
    // FGK (id 16) is refused cleanly.
    let delta = xd3_encode(dir.path(), &pa, &pb, &["-S", "fgk"]);
    match dec(&a, &delta) {
        Err(VcdiffError::UnsupportedSecondary { id: 16 }) => {}
        other => panic!(
            "expected UnsupportedSecondary {{ id: 16 }}, got {:?}",
            other.map(|v| v.len())
        ),
    }
}

#[test]
fn wrong_source_is_detected() {
    if !have_xdelta3() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng::new(11);
    let a = rng.bytes(100_000);
    let b = mutate(&mut rng, &a, 10);
    let (pa, pb) = write_pair(dir.path(), "ws", &a, &b);
    let delta = xd3_encode(dir.path(), &pa, &pb, &["-9"]);
    let mut other = a.clone();
    other[5000] ^= 1;
    match dec(&other, &delta) {
        Err(VcdiffError::ChecksumMismatch { window: 0, .. }) => {}
        r => panic!("expected a checksum mismatch, got {:?}", r.map(|v| v.len())),
    }
}

#[test]
fn corpus_pairs() {
    if !have_xdelta3() {
        return;
    }
    let Some(pairs) = common::corpus_pairs("corpus_pairs") else {
        return;
    };
    for (older, newer) in &pairs {
        check_pair(
            older,
            newer,
            &[&["-9"], &["-9", "-S", "none"], &["-9", "-S", "djw"]],
            &[EncodeOptions::default()],
        );
    }
    eprintln!("corpus_pairs: checked {} pairs", pairs.len());
}

#[test]
fn damaged_xdelta3_deltas_never_decode_wrongly() {
    if !have_xdelta3() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng::new(13);
    let a = texty(&mut rng, 6000);
    let b = mutate(&mut rng, &a, 15);
    let (pa, pb) = write_pair(dir.path(), "dmg", &a, &b);
    for flags in [
        &["-9"][..],
        &["-9", "-S", "none"][..],
        &["-9", "-S", "djw"][..],
    ] {
        let delta = xd3_encode(dir.path(), &pa, &pb, flags);
        for i in 0..delta.len() {
            for x in [0x01u8, 0x80, 0xFF] {
                let mut d = delta.clone();
                d[i] ^= x;
                if let Ok(out) = dec(&a, &d) {
                    assert!(
                        out == b,
                        "{flags:?}: flip {x:#x} at {i} decoded to wrong output"
                    );
                }
            }
        }
        for cut in 0..delta.len() {
            if let Ok(out) = dec(&a, &delta[..cut]) {
                assert!(
                    out.is_empty() || out == b,
                    "{flags:?}: cut at {cut} decoded to wrong output"
                );
            }
        }
    }
}
