//! Round-trip tests: gzip/zip variants, nesting, fallbacks, hostile inputs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "seethrough_common/mod.rs"]
mod common;

use common::*;
use dg_seethrough::{expand, rebuild, ExpandOptions, SeeThroughError};

#[test]
fn gzip_levels_plain_is_payload() {
    let data = texty(1, 300_000);
    for level in 0..=9 {
        let gz = gzip(&data, level);
        let e = roundtrip(&gz, &opts()).expect("gzip must expand");
        assert_eq!(e.stats.streams, 1);
        assert_eq!(e.stats.reproduced, 1, "level {level}: {:?}", e.stats.notes);
        assert!(
            e.plain == data,
            "plain of a single gzip member is its payload"
        );
        // flate2 default backend (miniz_oxide) is modelled less well than zlib at low levels
        assert!(
            e.recipe.len() < 200 + gz.len() / 10,
            "level {level}: recipe {} bytes",
            e.recipe.len()
        );
    }
}

#[test]
fn multi_member_gzip_and_trailing_bytes() {
    let a = texty(2, 50_000);
    let b = texty(3, 70_000);
    let mut gz = gzip(&a, 6);
    gz.extend_from_slice(&gzip(&b, 9));
    gz.extend_from_slice(&gzip(b"", 1));
    let e = roundtrip(&gz, &opts()).unwrap();
    assert_eq!(e.stats.streams, 3);
    assert!(e.stats.reproduced >= 2, "{:?}", e.stats);
    assert!(e.plain.starts_with(&a));
    // trailing zeros (tape padding) and trailing garbage are kept raw
    let mut padded = gz.clone();
    padded.extend_from_slice(&[0u8; 1000]);
    let e = roundtrip(&padded, &opts()).unwrap();
    assert!(e.plain.ends_with(&[0u8; 1000]));
    let mut junk = gz;
    junk.extend_from_slice(b"\x1f\x8bjunk");
    roundtrip(&junk, &opts()).unwrap();
}

#[test]
fn gzip_header_fields() {
    let data = texty(4, 20_000);
    let raw = deflate(&data, 6);
    for (name, comment, extra, hcrc) in [
        (Some(&b"file.tar"[..]), None, None, false),
        (None, Some(&b"a comment"[..]), None, false),
        (None, None, Some(&b"AB\x02\x00xy"[..]), false),
        (Some(&b"n"[..]), Some(&b"c"[..]), Some(&b""[..]), true),
    ] {
        let gz = gzip_with_header(&data, &raw, name, comment, extra, hcrc);
        let e = roundtrip(&gz, &opts()).unwrap();
        assert_eq!(e.stats.reproduced, 1);
        assert!(e.plain == data);
    }
    // flate2's own builder
    let mut g = flate2::GzBuilder::new()
        .filename("x.txt")
        .comment("hello")
        .extra(vec![1, 2, 3, 4])
        .mtime(12345)
        .write(Vec::new(), flate2::Compression::best());
    std::io::Write::write_all(&mut g, &data).unwrap();
    let gz = g.finish().unwrap();
    assert_eq!(roundtrip(&gz, &opts()).unwrap().stats.reproduced, 1);
}

#[test]
fn empty_gzip() {
    for level in [0, 1, 6, 9] {
        let gz = gzip(b"", level);
        // preflate may or may not handle an empty stream; either way it must be exact
        if let Some(e) = roundtrip(&gz, &opts()) {
            assert!(e.plain.is_empty());
        }
    }
}

#[test]
fn wrong_gzip_trailer_is_kept_raw_and_exact() {
    let data = texty(5, 10_000);
    let mut gz = gzip(&data, 6);
    let n = gz.len();
    gz[n - 5] ^= 0x55; // corrupt CRC
    let e = roundtrip(&gz, &opts()).unwrap();
    assert_eq!(e.stats.reproduced, 1);
    assert!(e.stats.notes.iter().any(|n| n.contains("trailer")));
}

#[test]
fn zip_stored_and_deflated_members() {
    let a = texty(6, 40_000);
    let b = texty(7, 1000);
    let c = texty(8, 90_000);
    for stream in [false, true] {
        for large in [false, true] {
            let z = zip_crate(
                &[
                    ("a.txt", &a, Some(6)),
                    ("b.bin", &b, None),
                    ("dir/c.txt", &c, Some(9)),
                    ("empty", b"", Some(6)),
                ],
                stream,
                large,
            );
            let e = roundtrip(&z, &opts()).unwrap();
            assert!(
                e.stats.reproduced >= 2,
                "stream={stream} large={large} {:?}",
                e.stats
            );
            // plaintext appears in plain, in order
            let pa = find(&e.plain, &a[..1000]).unwrap();
            let pc = find(&e.plain, &c[..1000]).unwrap();
            assert!(pa < pc);
        }
    }
}

#[test]
fn zip_manual_descriptors_zip64_prefix_comment() {
    let a = texty(9, 30_000);
    let b = texty(10, 5_000);
    for zip64 in [false, true] {
        for descriptor in [false, true] {
            for prefix in [&b""[..], &b"#!/bin/sh\nexec java -jar $0\n"[..]] {
                let z = zip_manual(
                    &[
                        Member {
                            name: "a",
                            data: &a,
                            level: Some(5),
                            descriptor,
                        },
                        Member {
                            name: "b",
                            data: &b,
                            level: None,
                            descriptor,
                        },
                        Member {
                            name: "c",
                            data: &b,
                            level: Some(1),
                            descriptor: !descriptor,
                        },
                    ],
                    zip64,
                    prefix,
                    b"archive comment",
                );
                let e = roundtrip(&z, &opts()).unwrap();
                assert_eq!(e.stats.streams, 2, "zip64={zip64} desc={descriptor}");
                assert_eq!(e.stats.reproduced, 2);
            }
        }
    }
}

#[test]
fn nested_gzip_and_zip_inside_zip() {
    let inner_text = texty(11, 60_000);
    let inner_gz = gzip(&inner_text, 9);
    let inner_zip = zip_crate(
        &[("x.txt", &inner_text, Some(6)), ("y.gz", &inner_gz, None)],
        false,
        false,
    );
    let z = zip_crate(
        &[
            ("data.json.gz", &inner_gz, Some(6)), // deflated gzip
            ("stored.json.gz", &inner_gz, None),  // stored gzip
            ("lib.jar", &inner_zip, Some(6)),     // deflated zip
            ("stored.jar", &inner_zip, None),     // stored zip
        ],
        false,
        false,
    );
    let o = ExpandOptions {
        max_depth: 2,
        ..opts()
    };
    let e = roundtrip(&z, &o).unwrap();
    // outer: 2 deflated members; inner: gz(1) + gz(1) + jar: x.txt + y.gz(1) + stored jar: x.txt + y.gz
    assert_eq!(e.stats.kept_raw, 0, "{:?}", e.stats);
    // depth 2: outer members + one level inside them (y.gz inside the jars is not opened)
    assert_eq!(e.stats.streams, 6, "{:?}", e.stats);
    let count = count_occurrences(&e.plain, &inner_text[..2000]);
    assert!(count >= 4, "inner plaintext seen through {count} times");

    // depth 3 (and the default, 4): y.gz inside the jars is opened too
    assert!(opts().max_depth >= 3);
    let e3 = roundtrip(&z, &opts()).unwrap();
    assert_eq!(e3.stats.streams, 8, "{:?}", e3.stats);
    assert_eq!(e3.stats.reproduced, 8);
    assert!(count_occurrences(&e3.plain, &inner_text[..2000]) >= 6);

    // depth 1: members are expanded but not their contents
    let o = ExpandOptions {
        max_depth: 1,
        ..opts()
    };
    let e1 = roundtrip(&z, &o).unwrap();
    assert_eq!(e1.stats.streams, 2);
    assert_eq!(count_occurrences(&e1.plain, &inner_text[..2000]), 0);

    // gzip inside gzip (double compressed)
    let gg = gzip(&inner_gz, 6);
    let e = roundtrip(&gg, &opts()).unwrap();
    assert_eq!(e.stats.streams, 2);
    assert!(e.plain == inner_text);
    // depth 0: nothing
    let o = ExpandOptions {
        max_depth: 0,
        ..opts()
    };
    assert!(roundtrip(&gg, &o).is_none());
}

#[test]
fn weird_encoder_streams_are_exact() {
    for seed in 1..20u64 {
        let data = texty(seed, 5_000 + seed as usize * 1000);
        let raw = weird_deflate(&data, seed);
        let mut check = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::DeflateDecoder::new(&raw[..]), &mut check)
            .unwrap();
        assert!(check == data, "test encoder is broken");
        let gz = gzip_with_header(&data, &raw, None, None, None, false);
        let o = ExpandOptions {
            max_correction_ratio: 1.0,
            ..opts()
        };
        if let Some(e) = roundtrip(&gz, &o) {
            eprintln!(
                "weird seed {seed}: {:?} corr {} of {}",
                (e.stats.reproduced, e.stats.kept_raw),
                e.stats.corrections_len,
                raw.len()
            );
        }
        // with a zero ratio, such streams are kept raw (-> None) unless corrections are tiny
        let o = ExpandOptions {
            max_correction_ratio: 0.0,
            ..opts()
        };
        let _ = roundtrip(&gz, &o);
    }
}

/// A fixed-Huffman stream using the non-standard length code 284+31 for 258,
/// which preflate refuses: the stream must be kept raw and the file still exact.
fn nonstandard_258(prefix: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let mut b = Bits::new();
    b.put(1, 1);
    b.put(1, 2);
    for &c in prefix {
        b.fixed_sym(u32::from(c));
    }
    b.fixed_sym(284);
    b.put(31, 5);
    b.put_rev(0, 5); // distance 1
    b.fixed_sym(256);
    let raw = b.finish();
    let mut data = prefix.to_vec();
    let last = *prefix.last().unwrap();
    data.extend(std::iter::repeat_n(last, 258));
    (data, raw)
}

#[test]
fn unreproducible_stream_kept_raw() {
    let (data, raw) = nonstandard_258(b"hello world");
    let gz = gzip_with_header(&data, &raw, None, None, None, false);
    let mut plain = Vec::new();
    let mut recipe = Vec::new();
    let r = expand(&gz, &mut plain, &mut recipe, &opts()).unwrap();
    assert!(r.is_none(), "nothing reproducible -> None");
    // inside a zip next to a good member: kept raw, the other reproduced
    let good = texty(12, 10_000);
    let mut z = zip_crate(
        &[("good", &good, Some(6)), ("bad", &data, None)],
        false,
        false,
    );
    // splice the bad raw deflate in place of the stored data: build manually instead
    z.clear();
    let zz = zip_manual(
        &[
            Member {
                name: "good",
                data: &good,
                level: Some(6),
                descriptor: false,
            },
            Member {
                name: "bad",
                data: &raw,
                level: None,
                descriptor: false,
            },
        ],
        false,
        b"",
        b"",
    );
    // flip member "bad" to method 8 (deflated) in local and central headers
    let mut zz = zz;
    let lh = find(&zz, b"PK\x03\x04bad")
        .or_else(|| find_all(&zz, b"PK\x03\x04").get(1).copied())
        .unwrap();
    zz[lh + 8] = 8;
    let ch = find_all(&zz, b"PK\x01\x02")[1];
    zz[ch + 10] = 8;
    let e = roundtrip(&zz, &opts()).unwrap();
    assert_eq!(e.stats.streams, 2);
    assert_eq!(e.stats.reproduced, 1);
    assert_eq!(e.stats.kept_raw, 1);
    assert!(!e.stats.notes.is_empty());
}

#[test]
fn partial_reproduction_keeps_tail_raw() {
    // sync-flushed blocks of ~100 KB, then a final block preflate refuses
    use flate2::{Compress, Compression, FlushCompress};
    let text = texty(13, 800_000);
    let mut c = Compress::new(Compression::new(6), false);
    let mut raw = Vec::with_capacity(1 << 20);
    for part in text.chunks(100_000) {
        raw.reserve(200_000);
        c.compress_vec(part, &mut raw, FlushCompress::Sync).unwrap();
    }
    let (tail_data, tail_raw) = nonstandard_258(b"xyz");
    raw.extend_from_slice(&tail_raw);
    let mut data = text.clone();
    data.extend_from_slice(&tail_data);
    let gz = gzip_with_header(&data, &raw, Some(b"p"), None, None, false);
    let o = ExpandOptions {
        chunk_plain: 64 << 10,
        ..opts()
    };
    let e = roundtrip(&gz, &o).unwrap();
    assert_eq!(e.stats.partial, 1, "{:?}", e.stats);
    assert_eq!(e.stats.reproduced, 0);
    // a prefix of the plaintext is seen through, the rest of the stream is raw
    let n = e
        .plain
        .iter()
        .zip(&text)
        .take_while(|(a, b)| a == b)
        .count();
    assert!(n >= 64 << 10, "only {n} plaintext bytes seen through");
    assert!(e.plain.ends_with(&gz[gz.len() - 100..]));
}

/// Runs the system `gzip` (zlib-family encoder) if present.
fn system_gzip(data: &[u8], level: u32) -> Option<Vec<u8>> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new("gzip")
        .arg(format!("-{level}"))
        .arg("-n")
        .arg("-c")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .ok()?;
    let mut stdin = child.stdin.take()?;
    let d = data.to_vec();
    let t = std::thread::spawn(move || stdin.write_all(&d));
    let out = child.wait_with_output().ok()?;
    t.join().ok()?.ok()?;
    out.status.success().then_some(out.stdout)
}

#[test]
fn multi_chunk_streams() {
    let data = texty(14, 6_000_000);
    let Some(gz) = system_gzip(&data, 6) else {
        eprintln!("SKIPPED multi_chunk_streams: no system gzip");
        return;
    };
    // many preflate chunks per stream (zlib-family encoder: continuation works)
    let o = ExpandOptions {
        chunk_plain: 256 << 10,
        ..opts()
    };
    let e = roundtrip(&gz, &o).unwrap();
    assert_eq!(e.stats.reproduced, 1, "{:?}", e.stats);
    assert!(e.plain == data);
}

#[test]
fn budget_and_min_stream_len() {
    let data = texty(14, 3_000_000);
    let gz = gzip(&data, 6);
    // max_plain stops reproduction part way: partial, plain <= max_plain + input
    let o = ExpandOptions {
        chunk_plain: 64 << 10,
        max_plain: 1_000_000,
        ..opts()
    };
    let e = roundtrip(&gz, &o).unwrap();
    assert_eq!(e.stats.partial, 1, "{:?}", e.stats);
    assert!(e.plain.len() as u64 <= 1_000_000 + gz.len() as u64);
    // min_stream_len keeps small zip members raw
    let small = texty(15, 100);
    let z = zip_crate(
        &[("s", &small, Some(6)), ("big", &data[..100_000], Some(6))],
        false,
        false,
    );
    let o = ExpandOptions {
        min_stream_len: 1000,
        ..opts()
    };
    let e = roundtrip(&z, &o).unwrap();
    assert_eq!(e.stats.streams, 1);
    assert_eq!(e.stats.reproduced, 1);
}

#[test]
fn not_containers_give_none() {
    for input in [
        &b""[..],
        b"hello",
        b"PK\x03\x04",
        b"\x1f\x8b\x08",
        &[0u8; 100][..],
        b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03garbage garbage garbage",
    ] {
        assert!(roundtrip(input, &opts()).is_none());
    }
    let tar = texty(16, 10_000);
    assert!(roundtrip(&tar, &opts()).is_none());
}

#[test]
fn truncated_and_corrupted_inputs_never_panic() {
    let a = texty(17, 20_000);
    let gz = gzip(&a, 6);
    let z = zip_crate(
        &[
            ("a", &a, Some(6)),
            ("g", &gz, Some(6)),
            ("s", &a[..500], None),
        ],
        false,
        false,
    );
    let mut s = 12345u64;
    for base in [&gz, &z] {
        for cut in (0..base.len())
            .step_by(997)
            .chain([base.len() - 1, base.len() - 22])
        {
            let _ = roundtrip(&base[..cut], &opts());
        }
        for _ in 0..60 {
            let mut m = base.clone();
            for _ in 0..4 {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                let i = (s as usize) % m.len();
                m[i] ^= (s >> 32) as u8 | 1;
            }
            let _ = roundtrip(&m, &opts());
        }
    }
}

#[test]
fn hostile_recipes_fail_cleanly() {
    let a = texty(18, 50_000);
    let gz = gzip(&a, 6);
    let e = roundtrip(&gz, &opts()).unwrap();
    let mut out = Vec::new();
    // truncations
    for n in 0..e.recipe.len() {
        out.clear();
        assert!(rebuild(&e.plain, &e.recipe[..n], &mut out, u64::MAX).is_err());
        assert!(out.len() <= gz.len());
    }
    // every single-byte corruption of the recipe: caught by the recipe checksum ...
    for i in 0..e.recipe.len() {
        let mut r = e.recipe.clone();
        r[i] ^= 0x10;
        out.clear();
        assert!(rebuild(&e.plain, &r, &mut out, u64::MAX).is_err());
        assert!(
            out.is_empty(),
            "nothing is written before the checksum is verified"
        );
    }
    // ... and with the checksum recomputed, by the parser / preflate / the output CRC
    let n = e.recipe.len() - 4;
    for i in 0..n {
        for x in [1u8, 0x80, 0xff] {
            let mut r = e.recipe.clone();
            r[i] ^= x;
            let c = crc32fast::hash(&r[..n]);
            r[n..].copy_from_slice(&c.to_le_bytes());
            out.clear();
            let res = rebuild(&e.plain, &r, &mut out, gz.len() as u64 + 10);
            assert!(
                res.is_err() || out == gz,
                "byte {i}^{x:#x} gave wrong bytes without error"
            );
            assert!(out.len() <= gz.len() + 10);
        }
    }
    // corrupted plain
    let mut p = e.plain.clone();
    p[1000] ^= 1;
    assert!(rebuild(&p, &e.recipe, &mut Vec::new(), u64::MAX).is_err());
    assert!(rebuild(&e.plain[1..], &e.recipe, &mut Vec::new(), u64::MAX).is_err());
    // version / magic / limit
    for version in [0u8, 6] {
        let mut r = e.recipe.clone();
        r[4] = version;
        assert!(matches!(
            rebuild(&e.plain, &r, &mut Vec::new(), u64::MAX),
            Err(SeeThroughError::UnsupportedVersion { found, supported: 5 }) if found == version
        ));
    }
    assert!(matches!(
        rebuild(&e.plain, &e.recipe, &mut Vec::new(), 100),
        Err(SeeThroughError::OutputLimit { limit: 100 })
    ));
    assert!(matches!(
        rebuild(
            &e.plain,
            b"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
            &mut Vec::new(),
            100
        ),
        Err(SeeThroughError::BadRecipe { .. })
    ));
}

fn find(h: &[u8], n: &[u8]) -> Option<usize> {
    h.windows(n.len()).position(|w| w == n)
}

fn find_all(h: &[u8], n: &[u8]) -> Vec<usize> {
    h.windows(n.len())
        .enumerate()
        .filter(|(_, w)| *w == n)
        .map(|(i, _)| i)
        .collect()
}

fn count_occurrences(h: &[u8], n: &[u8]) -> usize {
    find_all(h, n).len()
}

/// Recipes written before zlib streams were recognised (version 1) still rebuild, and the
/// same data now records a zlib-made stream as its level with no corrections.
#[test]
fn version_1_recipes_rebuild_and_zlib_streams_need_no_corrections() {
    let text = texty(5, 300_000);
    let old = gzip_miniz(&text, 6);
    let e = roundtrip(&old, &opts()).unwrap();
    assert_eq!((e.stats.reproduced, e.stats.zlib), (1, 0), "{:?}", e.stats);
    let mut r = e.recipe.clone();
    r[4] = 1;
    let n = r.len() - 4;
    let c = crc32fast::hash(&r[..n]);
    r[n..].copy_from_slice(&c.to_le_bytes());
    let mut out = Vec::new();
    rebuild(&e.plain, &r, &mut out, u64::MAX).unwrap();
    assert!(out == old);

    let zlib_made = gzip(&text, 6);
    let z = roundtrip(&zlib_made, &opts()).unwrap();
    assert_eq!((z.stats.reproduced, z.stats.zlib), (1, 1), "{:?}", z.stats);
    assert_eq!(z.stats.corrections_len, 0);
    assert!(z.recipe.len() < 64, "recipe of {} bytes", z.recipe.len());
}
