//! RPM packages seen through: the compressed cpio payload after the lead and headers (gzip or
//! xz, as `rpmbuild` writes them), and the gzipped files inside that cpio, come back byte for
//! byte with their plaintext in the plain form.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "seethrough_common/mod.rs"]
mod common;

use common::{contains, depth, gzip, opts, program, roundtrip, texty};

/// One entry of a new-ASCII (`070701`) cpio archive.
fn cpio_entry(name: &str, mode: u32, data: &[u8]) -> Vec<u8> {
    let fields = [
        1,
        mode,
        0,
        0,
        1,
        0,
        data.len() as u32,
        0,
        0,
        0,
        0,
        name.len() as u32 + 1,
        0,
    ];
    let mut e = b"070701".to_vec();
    for f in fields {
        e.extend_from_slice(format!("{f:08x}").as_bytes());
    }
    e.extend_from_slice(name.as_bytes());
    e.push(0);
    e.resize(e.len().next_multiple_of(4), 0);
    e.extend_from_slice(data);
    e.resize(e.len().next_multiple_of(4), 0);
    e
}

/// A header structure of `entries` index entries and a `store`-byte data store.
fn rpm_header(entries: u32, store: u32) -> Vec<u8> {
    let mut h = vec![0x8e, 0xad, 0xe8, 1, 0, 0, 0, 0];
    h.extend_from_slice(&entries.to_be_bytes());
    h.extend_from_slice(&store.to_be_bytes());
    h.resize(h.len() + 16 * entries as usize + store as usize, 0x5a);
    h
}

/// Lead, signature header (padded to eight bytes), main header, then `payload`.
fn rpm(payload: &[u8]) -> Vec<u8> {
    let mut r = vec![0xed, 0xab, 0xee, 0xdb, 3, 0];
    r.resize(96, 0);
    r.extend(rpm_header(7, 1_117));
    r.resize(r.len().next_multiple_of(8), 0);
    r.extend(rpm_header(40, 9_001));
    r.extend_from_slice(payload);
    r
}

#[test]
fn an_rpms_payload_and_the_gzipped_files_in_it_are_seen_through() {
    let changelog = texty(61, 80_000);
    let binary = texty(62, 150_000);
    let mut cpio = cpio_entry("./usr", 0o40755, b"");
    cpio.extend(cpio_entry("./usr/bin/tool", 0o100755, &binary));
    cpio.extend(cpio_entry(
        "./usr/share/doc/tool/changelog.gz",
        0o100644,
        &gzip(&changelog, 9),
    ));
    cpio.extend(cpio_entry("TRAILER!!!", 0, b""));
    cpio.resize(cpio.len().next_multiple_of(512), 0);

    let Some(xz) = program("xz", &["-2"], &cpio) else {
        return;
    };
    for (payload, name) in [(gzip(&cpio, 9), "gzip"), (xz, "xz")] {
        let file = rpm(&payload);
        let e = roundtrip(&file, &opts()).unwrap_or_else(|| panic!("{name}: seen through"));
        assert!(contains(&e.plain, &binary[100_000..101_000]), "{name}");
        assert!(
            contains(&e.plain, &changelog[50_000..51_000]),
            "{name}: the changelog inside is seen through too: {:?}",
            e.stats
        );
        assert_eq!(e.stats.reproduced, 2, "{name}: {:?}", e.stats);
        // the lead and headers are copied: the plain form starts with them
        assert!(e.plain.starts_with(&file[..file.len() - payload.len()]));

        // without a level to spare for the files, the payload is still seen through
        let e = roundtrip(&file, &depth(2)).unwrap();
        assert_eq!(e.stats.reproduced, 1, "{name}: {:?}", e.stats);
        assert!(!contains(&e.plain, &changelog[50_000..51_000]));
    }
}

#[test]
fn an_rpm_with_a_payload_not_seen_through_is_left_alone() {
    // a payload in a format not seen through (here: bytes that are none)
    let file = rpm(&texty(63, 10_000));
    assert!(roundtrip(&file, &opts()).is_none());
    // a damaged header: not an RPM at all, nothing to see through
    let mut bad = rpm(&gzip(&texty(64, 10_000), 9));
    bad[96] ^= 0xff;
    assert!(roundtrip(&bad, &opts()).is_none());
}
