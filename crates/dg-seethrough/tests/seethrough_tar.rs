//! tar archives seen through: the gzip members of a `.gem`-like tar and the `.jar`s inside a
//! `.tar.gz` (whichever encoder wrote the outer stream) come back byte for byte, with their
//! plaintext in the plain form, and so do those in a `.tar.xz`, a `.tar.bz2` and a `.deb`; a tar
//! with nothing compressed inside is left alone.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "seethrough_common/mod.rs"]
mod common;

use std::path::Path;
use std::process::Command;

use common::{
    ar_member, contains, depth, gzip, gzip_miniz, opts, program, roundtrip, sql_lines, texty,
    zip_crate,
};
use dg_seethrough::ExpandOptions;

/// `tar -cf -` of `names` in `dir` in the given format, or `None` (skipped) without GNU tar.
fn tar(dir: &Path, format: &str, names: &[&str]) -> Option<Vec<u8>> {
    let out = Command::new("tar")
        .arg("-cf")
        .arg("-")
        .arg(format!("--format={format}"))
        .arg("--owner=0")
        .arg("--group=0")
        .arg("-C")
        .arg(dir)
        .args(names)
        .output();
    match out {
        Ok(o) if o.status.success() => Some(o.stdout),
        _ => {
            assert!(
                std::env::var_os("DG_REQUIRE_TOOLS").is_none(),
                "DG_REQUIRE_TOOLS is set but GNU tar failed or is missing"
            );
            eprintln!("!!!!!!!! SKIPPING: GNU tar is not usable here !!!!!!!!");
            None
        }
    }
}

/// A jar: a few deflated members of text, one stored.
fn jar(seed: u64) -> (Vec<u8>, Vec<u8>) {
    let class = texty(seed, 60_000);
    let other = texty(seed + 1, 40_000);
    let manifest = b"Manifest-Version: 1.0\n".to_vec();
    let z = zip_crate(
        &[
            ("META-INF/MANIFEST.MF", &manifest, None),
            ("org/example/Main.class", &class, Some(6)),
            ("org/example/Util.class", &other, Some(9)),
        ],
        false,
        false,
    );
    (z, class)
}

/// `lib/a.jar` and `lib/b.jar` under `dir` (from seeds `seed` and `seed + 2`); their main
/// classes' plaintext.
fn two_jars_in_lib(dir: &Path, seed: u64) -> [Vec<u8>; 2] {
    std::fs::create_dir(dir.join("lib")).unwrap();
    let (a, a_class) = jar(seed);
    let (b, b_class) = jar(seed + 2);
    std::fs::write(dir.join("lib/a.jar"), a).unwrap();
    std::fs::write(dir.join("lib/b.jar"), b).unwrap();
    [a_class, b_class]
}

#[test]
fn the_gzip_members_of_a_gem_are_seen_through() {
    let dir = tempfile::tempdir().unwrap();
    let metadata = texty(41, 30_000);
    let data = texty(42, 200_000);
    std::fs::write(dir.path().join("metadata.gz"), gzip(&metadata, 9)).unwrap();
    std::fs::write(dir.path().join("data.tar.gz"), gzip_miniz(&data, 6)).unwrap();
    std::fs::write(
        dir.path().join("checksums.yaml.gz"),
        gzip(b"SHA256: {}\n", 9),
    )
    .unwrap();
    let names = ["metadata.gz", "data.tar.gz", "checksums.yaml.gz"];
    for format in ["ustar", "gnu", "pax"] {
        let Some(gem) = tar(dir.path(), format, &names) else {
            return;
        };
        let e = roundtrip(&gem, &opts()).unwrap_or_else(|| panic!("{format} tar seen through"));
        assert_eq!(e.stats.reproduced, 3, "{format}: {:?}", e.stats);
        assert!(contains(&e.plain, &metadata[..1000]), "{format}");
        assert!(contains(&e.plain, &data[150_000..151_000]), "{format}");
    }
}

#[test]
fn members_are_found_past_long_names_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let long = format!("{}/{}", "d".repeat(90), "x".repeat(80));
    std::fs::create_dir_all(dir.path().join(&long)).unwrap();
    let text = texty(43, 50_000);
    std::fs::write(dir.path().join(&long).join("a.gz"), gzip(&text, 6)).unwrap();
    let name = format!("{long}/a.gz");
    for format in ["gnu", "pax"] {
        let Some(t) = tar(dir.path(), format, &[&name]) else {
            return;
        };
        let e = roundtrip(&t, &opts()).unwrap_or_else(|| panic!("{format} seen through"));
        assert_eq!(e.stats.reproduced, 1, "{format}: {:?}", e.stats);
        assert!(contains(&e.plain, &text[..1000]), "{format}");
    }
}

#[test]
fn the_jars_inside_a_tar_gz_are_seen_through() {
    let dir = tempfile::tempdir().unwrap();
    let [a_class, b_class] = two_jars_in_lib(dir.path(), 44);
    // (the tar ends with a jar: it must still be walked as a tar, not taken for a zip with
    // data before it)
    // a long SQL text first makes zlib's own output one that preflate struggles with: that
    // stream takes the zlib path, miniz's the preflate path; both must nest
    std::fs::write(dir.path().join("NOTICE"), sql_lines(48, 1_200_000)).unwrap();
    let Some(tarball) = tar(dir.path(), "gnu", &["NOTICE", "lib"]) else {
        return;
    };
    for (encoder, tgz) in [
        ("zlib", gzip(&tarball, 9)),
        ("miniz", gzip_miniz(&tarball, 6)),
    ] {
        let e = roundtrip(&tgz, &opts()).unwrap_or_else(|| panic!("{encoder}: seen through"));
        assert!(
            contains(&e.plain, &a_class[30_000..31_000])
                && contains(&e.plain, &b_class[30_000..31_000]),
            "{encoder}: the classes inside the jars are in the plain form: {:?}",
            e.stats
        );
        // the outer stream and two deflated members of each jar
        assert_eq!(e.stats.reproduced, 5, "{encoder}: {:?}", e.stats);
        // the jars' members were written by zlib: each a level alone; so was the outer
        // stream when zlib wrote it
        let zlib = if encoder == "zlib" { 5 } else { 4 };
        assert_eq!(e.stats.zlib, zlib, "{encoder}: {:?}", e.stats);

        // two levels see the tar but not into the jars
        let e = roundtrip(&tgz, &depth(2)).unwrap();
        assert_eq!(e.stats.reproduced, 1, "{encoder}: {:?}", e.stats);
        assert!(!contains(&e.plain, &a_class[30_000..31_000]));
    }
}

#[test]
fn a_tar_with_nothing_compressed_inside_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.txt"), texty(49, 100_000)).unwrap();
    std::fs::write(dir.path().join("b.txt"), b"hello").unwrap();
    let Some(t) = tar(dir.path(), "gnu", &["a.txt", "b.txt"]) else {
        return;
    };
    assert!(roundtrip(&t, &opts()).is_none());
    // gzipped, it is seen through as before: the plain form is the tar itself
    let e = roundtrip(&gzip(&t, 6), &opts()).unwrap();
    assert!(e.plain == t);
    assert_eq!(e.stats.reproduced, 1);
}

#[test]
fn the_jars_inside_a_tar_xz_a_tar_bz2_and_a_deb_are_seen_through() {
    let dir = tempfile::tempdir().unwrap();
    let [a_class, b_class] = two_jars_in_lib(dir.path(), 50);
    std::fs::write(dir.path().join("README"), texty(54, 20_000)).unwrap();
    let Some(tarball) = tar(dir.path(), "gnu", &["README", "lib"]) else {
        return;
    };
    let sees_the_classes = |plain: &[u8]| {
        contains(plain, &a_class[30_000..31_000]) && contains(plain, &b_class[30_000..31_000])
    };
    for (name, args) in [("xz", ["-6"]), ("bzip2", ["-9"])] {
        let Some(file) = program(name, &args, &tarball) else {
            return;
        };
        let e = roundtrip(&file, &opts()).unwrap_or_else(|| panic!("{name}: seen through"));
        assert!(sees_the_classes(&e.plain), "{name}: {:?}", e.stats);
        // the outer stream and two deflated members of each jar
        assert_eq!(e.stats.reproduced, 5, "{name}: {:?}", e.stats);
    }

    // a Java library's .deb: ar → data.tar.xz → tar → .jar → members
    let Some(control) = tar(dir.path(), "gnu", &["README"]) else {
        return;
    };
    let mut deb = b"!<arch>\n".to_vec();
    deb.extend(ar_member("debian-binary", b"2.0\n"));
    deb.extend(ar_member(
        "control.tar.xz",
        &program("xz", &["-6"], &control).unwrap(),
    ));
    deb.extend(ar_member(
        "data.tar.xz",
        &program("xz", &["-6"], &tarball).unwrap(),
    ));
    let e = roundtrip(&deb, &opts()).expect(".deb seen through");
    assert!(sees_the_classes(&e.plain), "{:?}", e.stats);
    assert_eq!(e.stats.reproduced, 6, "{:?}", e.stats);
    // three levels reach the tar inside data.tar.xz, not the jars in it
    let e = roundtrip(&deb, &depth(3)).unwrap();
    assert!(!sees_the_classes(&e.plain));
    assert_eq!(e.stats.reproduced, 2, "{:?}", e.stats);
}

#[test]
fn the_members_of_a_held_tar_may_expand_past_the_holding_bound() {
    // the tar is held in memory to be walked (up to `max_nested`); its members' plaintext goes
    // straight to the plain form, so it is not bounded by that
    let dir = tempfile::tempdir().unwrap();
    let mut classes = Vec::new();
    for i in 0..4 {
        let (j, class) = jar(70 + 2 * i);
        std::fs::write(dir.path().join(format!("{i}.jar")), j).unwrap();
        classes.push(class);
    }
    let Some(tarball) = tar(dir.path(), "gnu", &["0.jar", "1.jar", "2.jar", "3.jar"]) else {
        return;
    };
    let tight = ExpandOptions {
        max_nested: tarball.len() as u64,
        ..opts()
    };
    let e = roundtrip(&gzip(&tarball, 6), &tight).unwrap();
    assert!(e.plain.len() > 3 * tarball.len(), "{:?}", e.stats);
    assert_eq!(e.stats.reproduced, 9, "{:?}", e.stats);
    assert!(classes
        .iter()
        .all(|c| contains(&e.plain, &c[50_000..51_000])));
}

#[test]
fn a_held_tar_in_which_nothing_is_recreated_still_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let Some(lbzip2) = program("lbzip2", &["-n2", "-9"], &texty(80, 300_000)) else {
        return;
    };
    std::fs::write(dir.path().join("other.bz2"), lbzip2).unwrap();
    let Some(tarball) = tar(dir.path(), "gnu", &["other.bz2"]) else {
        return;
    };
    let e = roundtrip(&gzip(&tarball, 6), &opts()).unwrap();
    assert!(e.plain == tarball, "the plain form is the tar as it is");
    assert_eq!(
        (e.stats.reproduced, e.stats.kept_raw),
        (1, 1),
        "{:?}",
        e.stats
    );
}
