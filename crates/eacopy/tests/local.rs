//! Local copies: single files, metadata, trees, filters, symlinks, sparse files, batches,
//! error strategies, progress, delta copies and the async forms.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use common::{make_tree, noise, snapshot};
use eacopy::{Config, Error, ErrorStrategy};

#[test]
fn copyfile_copy_and_copy2_differ_in_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src.bin");
    fs::write(&src, noise(1, 300_000)).unwrap();
    fs::set_permissions(&src, fs::Permissions::from_mode(0o640)).unwrap();
    let old = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    fs::File::options()
        .write(true)
        .open(&src)
        .unwrap()
        .set_modified(old)
        .unwrap();
    let cfg = Config::new();

    assert_eq!(
        eacopy::copyfile(&src, dir.path().join("a"), &cfg).unwrap(),
        300_000
    );
    let a = fs::metadata(dir.path().join("a")).unwrap();
    assert_ne!(a.modified().unwrap(), old);

    let out = dir.path().join("out");
    fs::create_dir(&out).unwrap();
    let b = eacopy::copy(&src, &out, &cfg).unwrap();
    assert_eq!(b, out.join("src.bin"));
    assert_eq!(fs::metadata(&b).unwrap().mode() & 0o777, 0o640);

    let c = eacopy::copy2(&src, dir.path().join("c"), &cfg).unwrap();
    let cm = fs::metadata(&c).unwrap();
    assert_eq!((cm.mode() & 0o777, cm.modified().unwrap()), (0o640, old));
    assert_eq!(fs::read(&c).unwrap(), fs::read(&src).unwrap());
}

#[test]
fn errors_have_meaningful_variants() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = Config::new();
    let missing = eacopy::copy(dir.path().join("nope"), dir.path().join("x"), &cfg).unwrap_err();
    assert!(matches!(missing, Error::NotFound { .. }), "{missing}");
    assert!(missing.to_string().contains("not found"));

    let f = dir.path().join("f");
    fs::write(&f, b"x").unwrap();
    assert!(matches!(
        eacopy::copy(&f, &f, &cfg).unwrap_err(),
        Error::SameFile { .. }
    ));
    assert!(matches!(
        eacopy::copyfile(&f, dir.path(), &cfg).unwrap_err(),
        Error::IsADirectory { .. }
    ));

    let t = dir.path().join("t");
    fs::create_dir(&t).unwrap();
    fs::create_dir(dir.path().join("u")).unwrap();
    let exists = eacopy::copytree(&t, dir.path().join("u"), &cfg).unwrap_err();
    assert!(
        matches!(exists, Error::DestinationExists { .. }),
        "{exists}"
    );
    assert!(exists.to_string().contains("dirs_exist_ok"));
}

#[test]
fn copytree_copies_everything_with_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    make_tree(&src, 60, 3 << 20);
    fs::set_permissions(src.join("d1"), fs::Permissions::from_mode(0o750)).unwrap();
    let report =
        eacopy::copytree(&src, dir.path().join("dst"), &Config::new().thread_count(4)).unwrap();
    assert_eq!(report.files, 61);
    assert_eq!(
        report.bytes,
        snapshot(&src)
            .iter()
            .map(|(_, b)| b.len() as u64)
            .sum::<u64>()
    );
    assert!(report.failures.is_empty());
    assert_eq!(snapshot(&src), snapshot(&dir.path().join("dst")));
    assert!(dir.path().join("dst/empty").is_dir());
    let (s, d) = (
        fs::metadata(src.join("big.bin")).unwrap(),
        fs::metadata(dir.path().join("dst/big.bin")).unwrap(),
    );
    assert_eq!(s.modified().unwrap(), d.modified().unwrap());
    assert_eq!(
        fs::metadata(dir.path().join("dst/d1")).unwrap().mode() & 0o777,
        0o750
    );
    let sd = fs::metadata(src.join("d1")).unwrap().modified().unwrap();
    assert_eq!(
        fs::metadata(dir.path().join("dst/d1"))
            .unwrap()
            .modified()
            .unwrap(),
        sd
    );
}

#[test]
fn copytree_filters_and_dirs_exist_ok() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    fs::create_dir_all(src.join("keep/.git")).unwrap();
    fs::create_dir_all(src.join("target/x")).unwrap();
    fs::write(src.join("keep/a.rs"), b"a").unwrap();
    fs::write(src.join("keep/b.o"), b"b").unwrap();
    fs::write(src.join("keep/.git/c.rs"), b"c").unwrap();
    fs::write(src.join("target/x/d.rs"), b"d").unwrap();
    let dst = dir.path().join("dst");
    fs::create_dir(&dst).unwrap();
    let cfg = Config::new()
        .include("*.rs")
        .exclude("b.*")
        .exclude_dir(".git")
        .exclude_dir("target")
        .dirs_exist_ok(true);
    let r = eacopy::copytree(&src, &dst, &cfg).unwrap();
    assert_eq!(r.files, 1);
    let names: Vec<_> = snapshot(&dst).into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, vec!["keep/a.rs"]);
    assert!(!dst.join("target").exists());
}

#[test]
fn symlinks_as_links_or_followed() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    fs::create_dir(&src).unwrap();
    fs::write(src.join("real"), b"content").unwrap();
    std::os::unix::fs::symlink("real", src.join("link")).unwrap();
    std::os::unix::fs::symlink("/nonexistent/target", src.join("dangling")).unwrap();

    let r = eacopy::copytree(&src, dir.path().join("a"), &Config::new()).unwrap();
    assert_eq!((r.files, r.symlinks), (1, 2));
    assert_eq!(
        fs::read_link(dir.path().join("a/link")).unwrap().to_str(),
        Some("real")
    );

    let r = eacopy::copytree(
        &src,
        dir.path().join("b"),
        &Config::new().follow_symlinks(true),
    )
    .unwrap();
    assert_eq!((r.files, r.symlinks), (2, 1)); // the dangling link stays a link
    let m = fs::symlink_metadata(dir.path().join("b/link")).unwrap();
    assert!(m.is_file());
    assert_eq!(fs::read(dir.path().join("b/link")).unwrap(), b"content");
}

#[test]
fn sparse_files_stay_sparse() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("sparse");
    let f = fs::File::create(&src).unwrap();
    f.set_len(64 << 20).unwrap();
    use std::os::unix::fs::FileExt;
    f.write_all_at(&noise(5, 4096), 10 << 20).unwrap();
    f.write_all_at(&noise(6, 4096), 50 << 20).unwrap();
    drop(f);
    let dst = dir.path().join("copy");
    assert_eq!(
        eacopy::copyfile(&src, &dst, &Config::new()).unwrap(),
        64 << 20
    );
    assert_eq!(fs::read(&src).unwrap(), fs::read(&dst).unwrap());
    let blocks = fs::metadata(&dst).unwrap().blocks() * 512;
    assert!(
        blocks < 4 << 20,
        "copy allocated {blocks} bytes for 8 KiB of data"
    );
}

#[test]
fn batch_copy_and_progress() {
    let dir = tempfile::tempdir().unwrap();
    let files = make_tree(&dir.path().join("src"), 20, 1 << 20);
    let out = dir.path().join("out");
    fs::create_dir(&out).unwrap();
    let pairs: Vec<_> = files.iter().map(|f| (f.clone(), out.clone())).collect();
    let last = Arc::new(AtomicU64::new(0));
    let calls = Arc::new(AtomicU64::new(0));
    let (l, c) = (last.clone(), calls.clone());
    let cfg = Config::new()
        .thread_count(3)
        .progress(move |done, total, _name| {
            assert!(done <= total);
            l.fetch_max(done, Ordering::SeqCst);
            c.fetch_add(1, Ordering::SeqCst);
        });
    let r = eacopy::batch_copy(&pairs, &cfg).unwrap();
    assert_eq!(r.files, 21);
    let total: u64 = files.iter().map(|f| fs::metadata(f).unwrap().len()).sum();
    assert_eq!((r.bytes, last.load(Ordering::SeqCst)), (total, total));
    assert!(calls.load(Ordering::SeqCst) >= 21);
}

#[test]
fn progress_reaches_the_total_on_every_operation() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    make_tree(&src, 12, 3 << 20);
    let tree_bytes: u64 = snapshot(&src).iter().map(|(_, b)| b.len() as u64).sum();
    let big = src.join("big.bin");
    let big_len = 3u64 << 20;
    // (calls, last copied_bytes, last total_bytes); every call must have done <= total.
    let seen = Arc::new(std::sync::Mutex::new((0u64, 0u64, 0u64)));
    let s = seen.clone();
    let cfg = Config::new()
        .thread_count(3)
        .progress(move |done, total, _| {
            assert!(done <= total, "{done} > {total}");
            let mut g = s.lock().unwrap();
            *g = (g.0 + 1, done.max(g.1), total);
        });
    let take =
        |seen: &Arc<std::sync::Mutex<(u64, u64, u64)>>| std::mem::take(&mut *seen.lock().unwrap());

    eacopy::copyfile(&big, dir.path().join("a"), &cfg).unwrap();
    let (calls, done, total) = take(&seen);
    assert!(calls >= 1);
    assert_eq!((done, total), (big_len, big_len), "copyfile");
    eacopy::copy(&big, dir.path().join("b"), &cfg).unwrap();
    assert_eq!(take(&seen).1, big_len, "copy");
    eacopy::copy2(&big, dir.path().join("c"), &cfg).unwrap();
    assert_eq!(take(&seen).1, big_len, "copy2");
    eacopy::copytree(&src, dir.path().join("t"), &cfg).unwrap();
    let (calls, done, total) = take(&seen);
    assert!(calls >= 13, "one call per file at least, got {calls}");
    assert_eq!((done, total), (tree_bytes, tree_bytes), "copytree");
    eacopy::delta_copy(&big, dir.path().join("d"), dir.path().join("a"), &cfg).unwrap();
    assert_eq!(take(&seen).1, big_len, "delta_copy");
    let pairs = vec![(src.clone(), dir.path().join("t2"))];
    eacopy::batch_copytree(&pairs, &cfg).unwrap();
    assert_eq!(take(&seen).1, tree_bytes, "batch_copytree");
}

#[test]
fn retried_files_are_counted_once_in_progress() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("f");
    fs::write(&src, noise(3, 200_000)).unwrap();
    // The destination's directory appears after ~150 ms: the first tries fail.
    let later = dir.path().join("later");
    let l = later.clone();
    let maker = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(150));
        fs::create_dir(l).unwrap();
    });
    let last = Arc::new(std::sync::Mutex::new((0u64, 0u64)));
    let l2 = last.clone();
    let cfg = Config::new()
        .error_strategy(ErrorStrategy::Retry)
        .retry_count(10)
        .retry_delay(Duration::from_millis(50))
        .progress(move |done, total, _| *l2.lock().unwrap() = (done, total));
    let r = eacopy::batch_copy(&[(src.clone(), later.join("f"))], &cfg).unwrap();
    maker.join().unwrap();
    assert_eq!((r.files, r.bytes), (1, 200_000));
    assert_eq!(*last.lock().unwrap(), (200_000, 200_000));
}

#[test]
fn a_full_disk_is_reported_as_disk_full() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("f");
    fs::write(&src, noise(4, 100_000)).unwrap();
    // Every write to /dev/full fails with ENOSPC.
    let err = eacopy::copyfile(&src, "/dev/full", &Config::new()).unwrap_err();
    assert!(matches!(err, Error::DiskFull { .. }), "{err}");
    assert!(err.to_string().contains("disk full"));
}

#[test]
fn error_strategies_raise_ignore_retry() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good");
    fs::write(&good, b"ok").unwrap();
    let missing = dir.path().join("late");
    let pairs = vec![
        (good.clone(), dir.path().join("g2")),
        (missing.clone(), dir.path().join("l2")),
    ];

    let raised = eacopy::batch_copy(&pairs, &Config::new()).unwrap_err();
    assert!(
        matches!(raised, Error::Failed { ref failures } if failures.len() == 1),
        "{raised}"
    );

    let ignored =
        eacopy::batch_copy(&pairs, &Config::new().error_strategy(ErrorStrategy::Ignore)).unwrap();
    assert_eq!((ignored.files, ignored.failures.len()), (1, 1));

    // The missing file appears after ~150 ms: 5 tries 100 ms apart find it.
    let m = missing.clone();
    let writer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(150));
        fs::write(m, b"late").unwrap();
    });
    let cfg = Config::new()
        .error_strategy(ErrorStrategy::Retry)
        .retry_count(5)
        .retry_delay(Duration::from_millis(100));
    let started = std::time::Instant::now();
    eacopy::copy(&missing, dir.path().join("l3"), &cfg).unwrap();
    assert!(started.elapsed() >= Duration::from_millis(100));
    writer.join().unwrap();
    assert_eq!(fs::read(dir.path().join("l3")).unwrap(), b"late");

    // Retry gives up after retry_count tries, retry_delay apart.
    let cfg = Config::new()
        .error_strategy(ErrorStrategy::Retry)
        .retry_count(2)
        .retry_delay(Duration::from_millis(50));
    let started = std::time::Instant::now();
    assert!(eacopy::copy(dir.path().join("never"), dir.path().join("n"), &cfg).is_err());
    assert!(started.elapsed() >= Duration::from_millis(100));
    assert!(Config::new()
        .error_strategy(ErrorStrategy::Retry)
        .retry_count(0)
        .validate()
        .is_err());
}

#[test]
fn delta_copy_writes_only_changed_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let old = noise(7, 8 << 20);
    let mut new = old.clone();
    new[3_000_000..3_000_100].copy_from_slice(&[0xAB; 100]);
    new.extend_from_slice(b"tail");
    let (src, reference) = (dir.path().join("new"), dir.path().join("old"));
    fs::write(&src, &new).unwrap();
    fs::write(&reference, &old).unwrap();
    let cfg = Config::new().buffer_size(256 << 10);

    // To a new destination: reference cloned/copied, changed blocks written.
    let r = eacopy::delta_copy(&src, dir.path().join("out"), &reference, &cfg).unwrap();
    assert_eq!(fs::read(dir.path().join("out")).unwrap(), new);
    assert_eq!(r.bytes_total, new.len() as u64);
    assert!(
        r.bytes_written <= 2 * (256 << 10),
        "wrote {}",
        r.bytes_written
    );
    assert_eq!(r.bytes_written + r.bytes_reused, r.bytes_total);
    assert_eq!(r.sha256, eacopy::hash::hash_file(&src).unwrap());

    // In place: the reference is the destination.
    let ino = fs::metadata(&reference).unwrap().ino();
    let r = eacopy::delta_copy(&src, &reference, &reference, &cfg).unwrap();
    assert_eq!(fs::read(&reference).unwrap(), new);
    assert_eq!(fs::metadata(&reference).unwrap().ino(), ino);
    assert!(r.bytes_written <= 2 * (256 << 10));
    let leftovers: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn batch_copytree_adds_up_and_ignores_failures_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    make_tree(&a, 5, 1000);
    make_tree(&b, 7, 1000);
    let pairs = vec![
        (a.clone(), dir.path().join("a2")),
        (dir.path().join("missing"), dir.path().join("m2")),
        (b.clone(), dir.path().join("b2")),
    ];
    assert!(eacopy::batch_copytree(&pairs, &Config::new()).is_err());
    let cfg = Config::new()
        .error_strategy(ErrorStrategy::Ignore)
        .dirs_exist_ok(true);
    let r = eacopy::batch_copytree(&pairs, &cfg).unwrap();
    assert_eq!((r.files, r.failures.len()), (14, 1));
    assert_eq!(snapshot(&b), snapshot(&dir.path().join("b2")));
}

#[tokio::test]
async fn async_forms_work() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    make_tree(&src, 10, 100_000);
    let cfg = Config::new();
    let r = eacopy::aio::copytree(src.clone(), dir.path().join("dst"), &cfg)
        .await
        .unwrap();
    assert_eq!(r.files, 11);
    let n = eacopy::aio::copyfile(src.join("big.bin"), dir.path().join("x"), &cfg)
        .await
        .unwrap();
    assert_eq!(n, 100_000);
    let p = eacopy::aio::copy2(src.join("big.bin"), dir.path().join("y"), &cfg)
        .await
        .unwrap();
    assert!(p.exists());
    let r = eacopy::aio::delta_copy(
        src.join("big.bin"),
        dir.path().join("z"),
        dir.path().join("x"),
        &cfg,
    )
    .await
    .unwrap();
    assert_eq!(r.bytes_written, 0);
    let p = eacopy::aio::copy(src.join("big.bin"), dir.path().join("w"), &cfg)
        .await
        .unwrap();
    assert_eq!(fs::read(p).unwrap(), fs::read(src.join("big.bin")).unwrap());
    let r = eacopy::aio::batch_copy(vec![(src.join("big.bin"), dir.path().join("v"))], &cfg)
        .await
        .unwrap();
    assert_eq!((r.files, r.bytes), (1, 100_000));

    // The server form, against a server on 127.0.0.1.
    let root = dir.path().join("root");
    fs::create_dir(&root).unwrap();
    let token = eacopy::Token::new(b"0123456789abcdef-async".to_vec()).unwrap();
    let mut server = eacopy::Server::new(&root, token.clone()).bind("127.0.0.1:0".parse().unwrap());
    let addr = server.start().unwrap();
    let st = eacopy::aio::copy_with_server(src.clone(), &format!("{addr}/a"), &token, &cfg)
        .await
        .unwrap();
    assert_eq!((st.files_copied, st.files_failed), (11, 0), "{st}");
    assert_eq!(snapshot(&src), snapshot(&root.join("a")));
    server.stop().unwrap();
}

/// Runs `f` on a thread and fails the test if it takes longer than `secs` (a FIFO opened for
/// reading blocks until a writer comes).
fn within<T: Send + 'static>(secs: u64, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(secs))
        .unwrap_or_else(|_| panic!("blocked for more than {secs} s (opened a FIFO?)"))
}

fn mkfifo(path: &std::path::Path) {
    rustix::fs::mknodat(
        rustix::fs::CWD,
        path,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o644),
        0,
    )
    .unwrap();
}

/// A tree with one regular file, a FIFO, a socket, a character device (where mknod is
/// allowed), a self-referencing link and a link back to the tree's own root.
fn special_tree(src: &std::path::Path) -> bool {
    fs::create_dir_all(src.join("sub")).unwrap();
    fs::write(src.join("sub/regular"), b"regular").unwrap();
    mkfifo(&src.join("pipe"));
    let _listener = std::os::unix::net::UnixListener::bind(src.join("sock")).unwrap();
    let device = rustix::fs::mknodat(
        rustix::fs::CWD,
        src.join("null"),
        rustix::fs::FileType::CharacterDevice,
        rustix::fs::Mode::from_raw_mode(0o666),
        rustix::fs::makedev(1, 3),
    )
    .is_ok();
    std::os::unix::fs::symlink("self", src.join("self")).unwrap();
    std::os::unix::fs::symlink("..", src.join("sub/back")).unwrap();
    device
}

#[test]
fn special_files_and_symlink_loops_are_reported_not_skipped_silently() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let device = special_tree(&src);

    // Raise: the copy fails and names a special file.
    let (s, d) = (src.clone(), dir.path().join("raise"));
    let err = within(10, move || eacopy::copytree(&s, &d, &Config::new())).unwrap_err();
    let Error::Failed { failures } = &err else {
        panic!("{err}")
    };
    assert!(
        failures.iter().any(|(p, e)| p.ends_with("pipe")
            && matches!(e, Error::SpecialFile { .. })
            && e.to_string().contains("FIFO")),
        "{failures:?}"
    );

    // Ignore: everything else is copied; each special file is in the report with its reason.
    let (s, d) = (src.clone(), dir.path().join("ignore"));
    let cfg = Config::new().error_strategy(ErrorStrategy::Ignore);
    let r = within(10, move || eacopy::copytree(&s, &d, &cfg)).unwrap();
    assert_eq!(r.files, 1);
    assert!(r.failures.is_empty(), "{:?}", r.failures);
    let mut reasons: Vec<String> = r
        .skipped
        .iter()
        .map(|(p, e)| format!("{} {e}", p.file_name().unwrap().to_string_lossy()))
        .collect();
    reasons.sort();
    assert_eq!(reasons.len(), 2 + usize::from(device), "{reasons:?}");
    assert!(reasons
        .iter()
        .any(|r| r.starts_with("pipe ") && r.contains("FIFO")));
    assert!(reasons
        .iter()
        .any(|r| r.starts_with("sock ") && r.contains("socket")));
    if device {
        assert!(reasons
            .iter()
            .any(|r| r.starts_with("null ") && r.contains("device")));
    }
    let dst = dir.path().join("ignore");
    assert_eq!(fs::read(dst.join("sub/regular")).unwrap(), b"regular");
    for gone in ["pipe", "sock", "null"] {
        assert!(fs::symlink_metadata(dst.join(gone)).is_err(), "{gone} made");
    }
    // Without -L the links are links.
    assert_eq!(r.symlinks, 2);

    // -L: the self-link and the link back to the root are loops, reported as such.
    let (s, d) = (src.clone(), dir.path().join("follow"));
    let cfg = Config::new()
        .error_strategy(ErrorStrategy::Ignore)
        .follow_symlinks(true);
    let r = within(10, move || eacopy::copytree(&s, &d, &cfg)).unwrap();
    let loops: Vec<_> = r
        .skipped
        .iter()
        .filter(|(_, e)| matches!(e, Error::SymlinkLoop { .. }))
        .map(|(p, e)| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                e.to_string(),
            )
        })
        .collect();
    assert_eq!(loops.len(), 2, "{:?}", r.skipped);
    assert!(
        loops.iter().all(|(_, e)| e.contains("symlink loop")),
        "{loops:?}"
    );
    assert!(!dir.path().join("follow/sub/back").exists());
    let (s, d) = (src.clone(), dir.path().join("follow-raise"));
    let cfg = Config::new().follow_symlinks(true);
    let err = within(10, move || eacopy::copytree(&s, &d, &cfg)).unwrap_err();
    assert!(err.to_string().contains("file(s) failed"), "{err}");

    // Single files and batches never block on a FIFO either.
    let (s, d) = (src.join("pipe"), dir.path().join("one"));
    let err = within(10, move || eacopy::copy(&s, &d, &Config::new())).unwrap_err();
    assert!(matches!(err, Error::SpecialFile { .. }), "{err}");
    assert!(err.to_string().contains("pipe"), "{err}");
    let pairs = vec![
        (src.join("pipe"), dir.path().join("b1")),
        (src.join("sub/regular"), dir.path().join("b2")),
    ];
    let cfg = Config::new().error_strategy(ErrorStrategy::Ignore);
    let r = within(10, move || eacopy::batch_copy(&pairs, &cfg)).unwrap();
    assert_eq!((r.files, r.skipped.len(), r.failures.len()), (1, 1, 0));
}

#[test]
fn a_followed_link_to_a_fifo_does_not_block() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    mkfifo(&fifo);
    std::os::unix::fs::symlink(&fifo, dir.path().join("link")).unwrap();
    let (s, d) = (dir.path().join("link"), dir.path().join("g"));
    let err = within(10, move || {
        eacopy::copyfile(&s, &d, &Config::new().follow_symlinks(true))
    })
    .unwrap_err();
    assert!(err.to_string().contains("FIFO"), "{err}");
    assert!(!dir.path().join("g").exists());
}
