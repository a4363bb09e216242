//! The `eacopy` binary: help, a local tree copy, a delta copy, and `serve` with a client.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::fs;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::{make_tree, snapshot};

fn eacopy() -> Command {
    Command::new(env!("CARGO_BIN_EXE_eacopy"))
}

#[test]
fn help_documents_flags_and_examples() {
    let out = eacopy().arg("--help").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "Examples:",
        "serve --root",
        "HOST:PORT/path",
        "--exclude-dir",
        "--on-error",
        "--delta-from",
        "--token-file",
    ] {
        assert!(text.contains(needle), "--help lacks {needle}");
    }
    let bad = eacopy().arg("--no-such-flag").output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn local_tree_and_delta_copies() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    make_tree(&src, 30, 500_000);
    let dst = dir.path().join("dst");
    let out = eacopy()
        .args(["-j", "2", "--exclude", "f1*.bin"])
        .arg(&src)
        .arg(&dst)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("files"));
    assert!(!dst.join("d1/e1/f1.bin").exists());
    assert!(dst.join("big.bin").exists());

    let again = eacopy().arg(&src).arg(&dst).output().unwrap();
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("dirs-exist-ok"));

    let copy = dir.path().join("big.copy");
    let out = eacopy()
        .arg(src.join("big.bin"))
        .arg(&copy)
        .arg("--delta-from")
        .arg(dst.join("big.bin"))
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("0 written"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        fs::read(&copy).unwrap(),
        fs::read(src.join("big.bin")).unwrap()
    );
}

#[test]
fn serve_and_copy_to_host_port_path() {
    let dir = tempfile::tempdir().unwrap();
    let (src, root, token) = (
        dir.path().join("src"),
        dir.path().join("root"),
        dir.path().join("token"),
    );
    make_tree(&src, 20, 100_000);
    fs::create_dir(&root).unwrap();
    fs::write(&token, "a-token-of-at-least-16-bytes\n").unwrap();
    let mut server = eacopy()
        .args(["serve", "--bind", "127.0.0.1", "--port", "0", "--root"])
        .arg(&root)
        .arg("--token-file")
        .arg(&token)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(server.stderr.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line.trim().rsplit(' ').next().unwrap().to_string();
    assert!(line.contains("serving"), "{line}");

    let dest = format!("{addr}/builds/7");
    let first = eacopy()
        .arg("--token-file")
        .arg(&token)
        .arg(&src)
        .arg(&dest)
        .output()
        .unwrap();
    let second = eacopy()
        .arg("--token-file")
        .arg(&token)
        .arg(&src)
        .arg(&dest)
        .output()
        .unwrap();
    let no_token = eacopy().arg(&src).arg(&dest).output().unwrap();
    // The content index is saved as connections end, so a killed server keeps it.
    let index = root.join(".eacopy/index");
    for _ in 0..100 {
        if index.is_file() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    server.kill().unwrap();
    assert_eq!(fs::read_to_string(&index).unwrap().lines().count(), 21);
    let _ = server.wait();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(String::from_utf8_lossy(&first.stderr).contains("copied 21 files"));
    assert!(
        String::from_utf8_lossy(&second.stderr).contains("skipped 21"),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    assert_eq!(snapshot(&src), snapshot(&root.join("builds/7")));
    assert_eq!(no_token.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&no_token.stderr).contains("--token-file"));
}

#[test]
fn special_files_are_warned_about_and_fail_the_exit_status() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    fs::create_dir_all(&src).unwrap();
    fs::write(src.join("a"), b"data").unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        src.join("pipe"),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o644),
        0,
    )
    .unwrap();
    std::os::unix::fs::symlink("loop", src.join("loop")).unwrap();
    let run = |args: &[&str], dst: &str| {
        let mut child = eacopy()
            .args(args)
            .arg(&src)
            .arg(dir.path().join(dst))
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        for _ in 0..200 {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap();
            panic!("eacopy {args:?} blocked (on the FIFO?)");
        }
        let out = child.wait_with_output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };

    let (code, err) = run(&[], "raise");
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("pipe") && err.contains("FIFO"), "{err}");

    let (code, err) = run(&["--on-error", "ignore", "-L"], "ignore");
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("warning") && err.contains("pipe") && err.contains("FIFO"),
        "{err}"
    );
    assert!(
        err.contains("loop") && err.contains("symlink loop"),
        "{err}"
    );
    assert!(err.contains("2 skipped"), "{err}");
    assert_eq!(fs::read(dir.path().join("ignore/a")).unwrap(), b"data");
}
