//! bzip2 streams seen through: what the `bzip2` program writes at every block size, the
//! concatenated streams of `pbzip2`, and a `.deb` with a bzip2 member come back byte for byte
//! from plaintext + recipe; `lbzip2`'s streams (another encoder) are kept raw.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "seethrough_common/mod.rs"]
mod common;

use common::{ar_member, opts, program, roundtrip, texty};

#[test]
fn what_the_bzip2_program_writes_is_seen_through() {
    let data = texty(21, 1_500_000);
    for level in ["-1", "-5", "-9"] {
        let Some(file) = program("bzip2", &[level], &data) else {
            return;
        };
        let e = roundtrip(&file, &opts()).unwrap_or_else(|| panic!("bzip2 {level} seen through"));
        assert!(
            e.plain == data,
            "bzip2 {level}: the plain form is the plaintext"
        );
        assert_eq!((e.stats.reproduced, e.stats.bzip2), (1, 1), "{:?}", e.stats);
        assert!(
            e.recipe.len() < 80,
            "bzip2 {level}: recipe of {} bytes",
            e.recipe.len()
        );
    }
    // An empty file compressed: a stream without blocks.
    let empty = program("bzip2", &[], b"").unwrap();
    let e = roundtrip(&empty, &opts()).unwrap();
    assert!(e.plain.is_empty());
}

#[test]
fn pbzip2_streams_are_each_seen_through() {
    let data = texty(22, 2_500_000);
    let Some(file) = program("pbzip2", &["-p2", "-b3"], &data) else {
        return;
    };
    let e = roundtrip(&file, &opts()).expect("pbzip2 output seen through");
    assert!(e.plain == data, "the plain form is the plaintext");
    assert!(e.stats.bzip2 >= 8, "one stream per 300 kB: {:?}", e.stats);
    assert_eq!(e.stats.kept_raw, 0);
}

#[test]
fn another_encoders_streams_are_kept_raw_and_still_round_trip() {
    let data = texty(23, 1_000_000);
    let Some(file) = program("lbzip2", &["-n2", "-9"], &data) else {
        return;
    };
    assert!(
        roundtrip(&file, &opts()).is_none(),
        "lbzip2's blocks differ from libbzip2's: nothing to see through"
    );
}

#[test]
fn a_deb_with_a_bzip2_member_is_seen_through() {
    let control = texty(24, 3_001);
    let data = texty(25, 900_001);
    let (Some(control_gz), Some(data_bz2)) = (
        program("gzip", &["-9", "-n"], &control),
        program("bzip2", &["-9"], &data),
    ) else {
        return;
    };
    let mut deb = b"!<arch>\n".to_vec();
    deb.extend(ar_member("debian-binary", b"2.0\n"));
    deb.extend(ar_member("control.tar.gz", &control_gz));
    deb.extend(ar_member("data.tar.bz2", &data_bz2));
    let e = roundtrip(&deb, &opts()).expect("seen through");
    assert_eq!(e.stats.bzip2, 1, "{:?}", e.stats);
    assert!(
        e.plain.windows(64).any(|w| w == &data[..64]),
        "the data member's plaintext is in the plain form"
    );
}
