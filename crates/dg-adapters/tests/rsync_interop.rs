//! Differential tests of the rsync engine against the real `rdiff` (librsync), both directions.
//! Skipped (loudly) without `rdiff` on PATH, unless DG_REQUIRE_TOOLS is set (CI).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

use dg_adapters::conformance::engine::{edit, noise};
use dg_adapters::engine::rsync::{delta, patch, signature, RsyncOptions};

fn have_rdiff() -> bool {
    let ok = Command::new("rdiff").arg("--version").output().is_ok();
    if !ok {
        assert!(
            std::env::var_os("DG_REQUIRE_TOOLS").is_none(),
            "DG_REQUIRE_TOOLS is set but `rdiff` is not on PATH"
        );
        eprintln!("!!!!!!!! SKIPPING: `rdiff` is not on PATH (apt-get install rdiff) !!!!!!!!");
    }
    ok
}

fn rdiff(args: &[&Path]) {
    let mut cmd = Command::new("rdiff");
    cmd.args(["-f"]);
    let out = cmd
        .args(args.iter().map(|p| p.as_os_str()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "rdiff {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn rdiff_sig(basis: &Path, sig: &Path) {
    let out = Command::new("rdiff")
        .args([
            "-f",
            "signature",
            "-H",
            "md4",
            "-R",
            "rollsum",
            "-b",
            "2048",
            "-S",
            "8",
        ])
        .arg(basis)
        .arg(sig)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "rdiff signature: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn check_pair(dir: &Path, old: &[u8], new: &[u8], label: &str) {
    let p = |n: &str| dir.join(n);
    std::fs::write(p("old"), old).unwrap();
    std::fs::write(p("new"), new).unwrap();

    // signatures are byte-identical
    rdiff_sig(&p("old"), &p("sig.rdiff"));
    let mut ours = Vec::new();
    signature(old, &mut ours, RsyncOptions::default()).unwrap();
    assert_eq!(
        ours,
        std::fs::read(p("sig.rdiff")).unwrap(),
        "{label}: our signature equals rdiff's"
    );

    // rdiff's signature -> our delta -> rdiff patch
    let mut ours_delta = Vec::new();
    delta(
        &mut &std::fs::read(p("sig.rdiff")).unwrap()[..],
        &mut &new[..],
        &mut ours_delta,
    )
    .unwrap();
    std::fs::write(p("delta.ours"), &ours_delta).unwrap();
    rdiff(&[
        Path::new("patch"),
        &p("old"),
        &p("delta.ours"),
        &p("out.rdiff"),
    ]);
    assert!(
        std::fs::read(p("out.rdiff")).unwrap() == new,
        "{label}: rdiff patch applies our delta"
    );

    // rdiff delta -> our patch
    rdiff(&[
        Path::new("delta"),
        &p("sig.rdiff"),
        &p("new"),
        &p("delta.rdiff"),
    ]);
    let mut out = Vec::new();
    patch(
        old,
        &mut &std::fs::read(p("delta.rdiff")).unwrap()[..],
        &mut out,
        new.len() as u64,
    )
    .unwrap();
    assert!(out == new, "{label}: our patch applies rdiff's delta");
}

#[test]
fn generated_pairs() {
    if !have_rdiff() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let base = noise(1, 300_000);
    check_pair(dir.path(), &base, &edit(&base, 2, 30), "edits");
    check_pair(dir.path(), &base, &noise(3, 5000), "unrelated");
    check_pair(dir.path(), b"", &base[..10_000], "empty basis");
    check_pair(dir.path(), &base[..10_000], b"", "empty new");
}

#[test]
fn corpus_pairs() {
    if !have_rdiff() {
        return;
    }
    let Some(root) = std::env::var_os("DG_CORPUS").map(PathBuf::from) else {
        assert!(
            std::env::var_os("DG_REQUIRE_TOOLS").is_none(),
            "DG_REQUIRE_TOOLS is set but DG_CORPUS is not"
        );
        eprintln!("!!!!!!!! SKIPPING corpus_pairs: DG_CORPUS not set !!!!!!!!");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    for series in ["pip", "tokio-tar", "botocore"] {
        let mut files: Vec<_> = std::fs::read_dir(root.join(series))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for pair in files.windows(2).take(2) {
            let (old, new) = (
                std::fs::read(&pair[0]).unwrap(),
                std::fs::read(&pair[1]).unwrap(),
            );
            check_pair(dir.path(), &old, &new, &pair[1].display().to_string());
        }
    }
}
