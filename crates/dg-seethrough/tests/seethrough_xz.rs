//! xz streams seen through: what the `xz` program writes (single- and multi-threaded, several
//! presets, concatenated streams) and Debian `.deb` archives comes back byte for byte from
//! plaintext + recipe, and a stream liblzma cannot recreate is kept raw.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "seethrough_common/mod.rs"]
mod common;

use common::{ar_member, program, sql_lines};
use dg_seethrough::{expand, rebuild, ExpandOptions};

/// `xz ARGS` over `data`, or `None` when the program is missing (see `program`).
fn xz(data: &[u8], args: &[&str]) -> Option<Vec<u8>> {
    let mut args = args.to_vec();
    args.push("-q");
    program("xz", &args, data)
}

/// Expands and rebuilds `file`; returns (plain, recipe length) when it was seen through.
fn round_trip(file: &[u8]) -> Option<(Vec<u8>, usize)> {
    let (mut plain, mut recipe) = (Vec::new(), Vec::new());
    let opts = ExpandOptions {
        self_check: true,
        ..ExpandOptions::default()
    };
    expand(file, &mut plain, &mut recipe, &opts).unwrap()?;
    let mut back = Vec::new();
    rebuild(&plain, &recipe, &mut back, file.len() as u64).unwrap();
    assert!(back == file, "rebuilt bytes equal the original");
    Some((plain, recipe.len()))
}

#[test]
fn what_the_xz_program_writes_is_seen_through() {
    let data = sql_lines(7, 3_000_000);
    for args in [
        &["-6"][..],
        &["-9e"],
        &["-1"],
        &["-6", "-C", "crc32"],
        &["-6", "-T2", "--block-size=1MiB"],
        &["-T2", "-6"],
        &["-3", "-C", "sha256"],
    ] {
        let Some(file) = xz(&data, args) else { return };
        let (plain, recipe) =
            round_trip(&file).unwrap_or_else(|| panic!("xz {args:?} seen through"));
        assert!(
            plain == data,
            "xz {args:?}: the plain form is the plaintext"
        );
        assert!(recipe < 100, "xz {args:?}: recipe of {recipe} bytes");
    }
    // Two streams one after the other, with stream padding between.
    let (Some(mut two), Some(second)) = (xz(&data[..1000], &["-6"]), xz(&data[1000..], &["-2"]))
    else {
        return;
    };
    two.extend_from_slice(&[0; 8]);
    two.extend_from_slice(&second);
    let (plain, _) = round_trip(&two).unwrap();
    assert_eq!(plain.len(), data.len() + 8);
}

#[test]
fn streams_liblzma_does_not_write_are_kept_raw() {
    let data = sql_lines(8, 500_000);
    // A BCJ filter before LZMA2, and a dictionary no preset uses.
    for args in [
        &["--x86", "--lzma2=preset=6"][..],
        &["--lzma2=preset=6,dict=3MiB"],
    ] {
        let Some(file) = xz(&data, args) else { return };
        assert!(
            round_trip(&file).is_none(),
            "xz {args:?} is not seen through"
        );
    }
}

#[test]
fn a_deb_archive_is_seen_through_member_by_member() {
    let control = sql_lines(9, 3_001);
    let data = sql_lines(10, 2_000_001);
    let (Some(control_xz), Some(data_xz)) =
        (xz(&control, &["-T2", "-6"]), xz(&data, &["-T2", "-6"]))
    else {
        return;
    };
    let mut deb = b"!<arch>\n".to_vec();
    deb.extend(ar_member("debian-binary", b"2.0\n"));
    deb.extend(ar_member("control.tar.xz", &control_xz));
    deb.extend(ar_member("data.tar.xz", &data_xz));
    let (plain, _) = round_trip(&deb).unwrap();
    assert!(plain.len() > control.len() + data.len());
    assert!(
        plain.windows(64).any(|w| w == &data[..64]),
        "the data member's plaintext is in the plain form"
    );
}
