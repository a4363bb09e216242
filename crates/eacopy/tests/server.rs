//! The copy server on 127.0.0.1: counters for skips, links and deltas, and refusals of wrong
//! tokens, corrupted frames and paths that escape the root.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;

use common::{make_tree, noise, snapshot};
use eacopy::net::frame::{self, Kind};
use eacopy::{Config, Error, ErrorStrategy, Server, Token};

fn token() -> Token {
    Token::new(b"0123456789abcdef-test-token".to_vec()).unwrap()
}

fn start(root: &Path) -> (Server, SocketAddr) {
    let mut server = Server::new(root, token()).bind("127.0.0.1:0".parse().unwrap());
    let addr = server.start().unwrap();
    assert!(server.is_running());
    (server, addr)
}

#[test]
fn unchanged_tree_is_skipped_or_linked_and_a_change_goes_as_delta() {
    let dir = tempfile::tempdir().unwrap();
    let (src, root) = (dir.path().join("src"), dir.path().join("root"));
    make_tree(&src, 200, 2 << 20);
    fs::create_dir(&root).unwrap();
    let (mut server, addr) = start(&root);
    let cfg = Config::new().thread_count(4);
    let files = 201u64;
    let total: u64 = snapshot(&src).iter().map(|(_, b)| b.len() as u64).sum();

    // First copy: everything is sent.
    let first = eacopy::copy_with_server(&src, &format!("{addr}/build/1"), &token(), &cfg).unwrap();
    assert_eq!(
        (first.files_copied, first.bytes_copied, first.files_failed),
        (files, total, 0)
    );
    assert!(
        first.file_bytes_sent >= total,
        "noise does not compress: {first}"
    );
    assert_eq!(snapshot(&src), snapshot(&root.join("build/1")));
    assert!(root.join("build/1/empty").is_dir());

    // Same tree again to the same place: every file skipped, no file bytes.
    let again = eacopy::copy_with_server(&src, &format!("{addr}/build/1"), &token(), &cfg).unwrap();
    assert_eq!(
        (again.files_skipped, again.bytes_skipped),
        (files, total),
        "{again}"
    );
    assert_eq!(
        (
            again.files_copied,
            again.files_delta,
            again.files_linked,
            again.file_bytes_sent
        ),
        (0, 0, 0, 0)
    );
    assert!(
        again.wire_bytes < 64 << 10,
        "metadata only, got {} bytes",
        again.wire_bytes
    );

    // Same tree to a new place: every file hard-linked from build/1, no file bytes.
    let linked =
        eacopy::copy_with_server(&src, &format!("{addr}/build/2"), &token(), &cfg).unwrap();
    assert_eq!(
        (linked.files_linked, linked.bytes_linked),
        (files, total),
        "{linked}"
    );
    assert_eq!(linked.file_bytes_sent, 0);
    use std::os::unix::fs::MetadataExt;
    let (a, b) = (
        fs::metadata(root.join("build/1/big.bin")).unwrap(),
        fs::metadata(root.join("build/2/big.bin")).unwrap(),
    );
    assert_eq!(a.ino(), b.ino());

    // One changed file: a delta much smaller than the file; the rest skipped.
    let big = src.join("big.bin");
    let mut data = fs::read(&big).unwrap();
    data[1_000_000..1_000_050].copy_from_slice(&[7u8; 50]);
    fs::write(&big, &data).unwrap();
    let delta = eacopy::copy_with_server(&src, &format!("{addr}/build/1"), &token(), &cfg).unwrap();
    assert_eq!(
        (delta.files_delta, delta.bytes_delta),
        (1, data.len() as u64),
        "{delta}"
    );
    assert_eq!(
        (delta.files_skipped, delta.files_copied, delta.files_linked),
        (files - 1, 0, 0)
    );
    assert!(
        delta.delta_bytes_sent < data.len() as u64 / 20,
        "delta of {} bytes for a 2 MiB file",
        delta.delta_bytes_sent
    );
    assert_eq!(delta.file_bytes_sent, delta.delta_bytes_sent);
    assert_eq!(fs::read(root.join("build/1/big.bin")).unwrap(), data);
    // build/2 kept the old content: writes replace files, they never modify linked inodes.
    assert_ne!(fs::read(root.join("build/2/big.bin")).unwrap(), data);

    // The server counted the same.
    let s = server.stats();
    assert_eq!(
        (s.files_copied, s.files_linked, s.files_delta),
        (files, files, 1)
    );
    assert_eq!(s.files_skipped, files + files - 1);
    server.stop().unwrap();
    assert!(!server.is_running());
    assert!(root.join(".eacopy/index").is_file());
}

#[test]
fn single_file_compression_progress_and_restart_keeps_the_index() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    fs::create_dir(&root).unwrap();
    let text = dir.path().join("log.txt");
    fs::write(&text, "all work and no play\n".repeat(50_000)).unwrap();
    let (mut server, addr) = start(&root);
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let s2 = seen.clone();
    let cfg = Config::new()
        .compression_level(9)
        .progress(move |done, _, _| {
            s2.store(done, std::sync::atomic::Ordering::SeqCst);
        });
    let st = eacopy::copy_with_server(&text, &format!("{addr}/logs/"), &token(), &cfg).unwrap();
    assert_eq!(st.files_copied, 1);
    assert!(
        st.file_bytes_sent < 10_000,
        "zstd level 9 of repetitive text: {}",
        st.file_bytes_sent
    );
    assert_eq!(seen.load(std::sync::atomic::Ordering::SeqCst), 1_050_000);
    assert_eq!(
        fs::read(root.join("logs/log.txt")).unwrap(),
        fs::read(&text).unwrap()
    );
    server.stop().unwrap();

    // A restarted server still knows the content: a copy elsewhere is a link.
    let (_server, addr) = start(&root);
    let st = eacopy::copy_with_server(
        &text,
        &format!("{addr}/other/name.txt"),
        &token(),
        &Config::new(),
    )
    .unwrap();
    assert_eq!((st.files_linked, st.file_bytes_sent), (1, 0), "{st}");
}

#[test]
fn wrong_token_is_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let (src, root) = (dir.path().join("src"), dir.path().join("root"));
    make_tree(&src, 5, 1000);
    fs::create_dir(&root).unwrap();
    let (server, addr) = start(&root);
    let wrong = Token::new(b"not-the-right-token-at-all".to_vec()).unwrap();
    let err =
        eacopy::copy_with_server(&src, &format!("{addr}/x"), &wrong, &Config::new()).unwrap_err();
    let Error::Failed { failures } = &err else {
        panic!("{err}")
    };
    assert!(matches!(failures[0].1, Error::AuthFailed { .. }), "{err}");
    assert!(err.to_string().contains("token"));
    assert!(snapshot(&root).is_empty());
    assert!(!root.join("x").exists());
    assert_eq!(server.stats().auth_failures, 1);
    assert!(Token::new(b"short".to_vec()).is_err());
}

/// Opens a raw connection and completes the handshake with the right token.
fn raw_session(addr: SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    let (kind, hello) = frame::read_frame(&mut s, "server").unwrap();
    assert_eq!(kind, Kind::Hello);
    let server_nonce: [u8; 32] = hello.try_into().unwrap();
    let client_nonce = [9u8; 32];
    let mut auth = client_nonce.to_vec();
    auth.extend_from_slice(&token().client_proof(&server_nonce, &client_nonce).unwrap());
    frame::write_frame(&mut s, Kind::Auth, &auth).unwrap();
    let (kind, _) = frame::read_frame(&mut s, "server").unwrap();
    assert_eq!(kind, Kind::AuthOk);
    s
}

#[test]
fn corrupted_frames_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    fs::create_dir(&root).unwrap();
    let (server, addr) = start(&root);

    // A query whose payload was damaged in transit: checksum mismatch.
    let mut s = raw_session(addr);
    let payload = b"\x00\x00\x00\x01\x00\x00\x00\x00\x05hello".to_vec();
    let mut bytes = frame::header(Kind::Query, &payload).to_vec();
    bytes.extend_from_slice(&payload);
    bytes[20] ^= 0xFF;
    s.write_all(&bytes).unwrap();
    let (kind, msg) = frame::read_frame(&mut s, "server").unwrap();
    assert_eq!(kind, Kind::Error);
    assert!(
        String::from_utf8_lossy(&msg).contains("checksum"),
        "{}",
        String::from_utf8_lossy(&msg)
    );
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest); // the server closed the connection

    // Garbage instead of a frame, before authenticating.
    let mut s = TcpStream::connect(addr).unwrap();
    let _ = frame::read_frame(&mut s, "server").unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let (kind, msg) = frame::read_frame(&mut s, "server").unwrap();
    assert_eq!(kind, Kind::Error);
    assert!(String::from_utf8_lossy(&msg).contains("magic"));

    // A well-formed frame with a wrong version, and one over the size limit.
    for patch in [(4usize, 9u8), (8, 0x7F)] {
        let mut s = raw_session(addr);
        let mut bytes = frame::header(Kind::Bye, &[]).to_vec();
        bytes[patch.0] = patch.1;
        s.write_all(&bytes).unwrap();
        let (kind, _) = frame::read_frame(&mut s, "server").unwrap();
        assert_eq!(kind, Kind::Error);
    }
    // Before authenticating, even a well-formed frame may not be large.
    let mut s = TcpStream::connect(addr).unwrap();
    let _ = frame::read_frame(&mut s, "server").unwrap();
    frame::write_frame(&mut s, Kind::Auth, &vec![0u8; 4096]).unwrap();
    let (kind, msg) = frame::read_frame(&mut s, "server").unwrap();
    assert_eq!(kind, Kind::Error);
    assert!(String::from_utf8_lossy(&msg).contains("limit"));
    assert_eq!(server.stats().protocol_errors, 5);
    assert!(snapshot(&root).is_empty());
    assert!(server.is_running());
}

#[test]
fn paths_escaping_the_root_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (root, outside) = (dir.path().join("root"), dir.path().join("outside"));
    fs::create_dir_all(&root).unwrap();
    fs::create_dir_all(&outside).unwrap();
    fs::write(outside.join("victim"), b"precious").unwrap();
    std::os::unix::fs::symlink(&outside, root.join("linkdir")).unwrap();
    std::os::unix::fs::symlink(outside.join("victim"), root.join("linkfile")).unwrap();
    // A relative link deeper down that climbs out of the root.
    fs::create_dir(root.join("sub")).unwrap();
    std::os::unix::fs::symlink("../../outside", root.join("sub/up")).unwrap();
    let file = dir.path().join("victim");
    fs::write(&file, b"overwritten!").unwrap();
    let tree = dir.path().join("tree");
    fs::create_dir(&tree).unwrap();
    fs::write(tree.join("victim"), b"overwritten!").unwrap();
    let (server, addr) = start(&root);
    let before = snapshot(&outside);
    let cfg = Config::new().error_strategy(ErrorStrategy::Ignore);

    for dest in [
        format!("{addr}/../outside/victim"),
        format!("{addr}/a/../../outside/victim"),
        format!("{addr}/linkdir/victim"),
        format!("{addr}/linkfile"),
        format!("{addr}/sub/up/victim"),
        format!("{addr}/sub/up/new/file"),
        format!("{addr}/.eacopy/index"),
    ] {
        let st = eacopy::copy_with_server(&file, &dest, &token(), &cfg).unwrap();
        assert_eq!(
            (st.files_failed, st.files_copied, st.file_bytes_sent),
            (1, 0, 0),
            "{dest}: {st}"
        );
        let err = eacopy::copy_with_server(&file, &dest, &token(), &Config::new()).unwrap_err();
        let Error::Failed { failures } = &err else {
            panic!("{err}")
        };
        assert!(
            matches!(failures[0].1, Error::Refused { .. }),
            "{dest}: {err}"
        );
    }
    // A tree sent through a symlinked directory is refused file by file.
    let st = eacopy::copy_with_server(&tree, &format!("{addr}/linkdir"), &token(), &cfg).unwrap();
    assert_eq!((st.files_failed, st.files_copied), (1, 0), "{st}");

    assert_eq!(snapshot(&outside), before);
    assert_eq!(fs::read(outside.join("victim")).unwrap(), b"precious");
    assert_eq!(
        fs::read_link(root.join("linkfile")).unwrap(),
        outside.join("victim")
    );
    assert!(!outside.join("new").exists());
    assert!(server.stats().files_failed >= 15);
}

#[test]
fn a_known_copy_behind_a_symlink_is_not_linked() {
    let dir = tempfile::tempdir().unwrap();
    let (root, outside) = (dir.path().join("root"), dir.path().join("outside"));
    fs::create_dir_all(&root).unwrap();
    fs::create_dir_all(&outside).unwrap();
    let file = dir.path().join("f.bin");
    fs::write(&file, noise(11, 50_000)).unwrap();
    let (_server, addr) = start(&root);
    let st = eacopy::copy_with_server(&file, &format!("{addr}/a/f.bin"), &token(), &Config::new())
        .unwrap();
    assert_eq!(st.files_copied, 1);

    // The server's known copy moves out of the root and a symlink takes its directory's place.
    fs::rename(root.join("a"), outside.join("a")).unwrap();
    std::os::unix::fs::symlink(outside.join("a"), root.join("a")).unwrap();
    let st = eacopy::copy_with_server(&file, &format!("{addr}/b/f.bin"), &token(), &Config::new())
        .unwrap();
    assert_eq!((st.files_linked, st.files_copied), (0, 1), "{st}");
    use std::os::unix::fs::MetadataExt;
    assert_eq!(fs::metadata(outside.join("a/f.bin")).unwrap().nlink(), 1);
    assert_eq!(
        fs::read(root.join("b/f.bin")).unwrap(),
        fs::read(&file).unwrap()
    );
}

#[test]
fn changed_content_with_same_size_is_sent_and_touched_files_are_not() {
    let dir = tempfile::tempdir().unwrap();
    let (src, root) = (dir.path().join("src"), dir.path().join("root"));
    fs::create_dir_all(&src).unwrap();
    fs::create_dir(&root).unwrap();
    fs::write(src.join("a"), noise(1, 100_000)).unwrap();
    let (_server, addr) = start(&root);
    let dest = format!("{addr}/t");
    eacopy::copy_with_server(&src, &dest, &token(), &Config::new()).unwrap();

    // Only the mtime changed: the server hashes its copy, finds it equal, skips.
    let later = std::time::SystemTime::now() + std::time::Duration::from_secs(5);
    fs::File::options()
        .write(true)
        .open(src.join("a"))
        .unwrap()
        .set_modified(later)
        .unwrap();
    let st = eacopy::copy_with_server(&src, &dest, &token(), &Config::new()).unwrap();
    assert_eq!((st.files_skipped, st.file_bytes_sent), (1, 0), "{st}");
    let again = eacopy::copy_with_server(&src, &dest, &token(), &Config::new()).unwrap();
    assert_eq!(again.files_skipped, 1);

    // Entirely new content of the same size: a delta is not worth it, the file goes whole.
    fs::write(src.join("a"), noise(2, 100_000)).unwrap();
    let st = eacopy::copy_with_server(&src, &dest, &token(), &Config::new()).unwrap();
    assert_eq!((st.files_copied, st.files_delta), (1, 0), "{st}");
    assert_eq!(fs::read(root.join("t/a")).unwrap(), noise(2, 100_000));
}

#[test]
fn absolute_and_dotted_paths_in_raw_queries_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (root, outside) = (dir.path().join("root"), dir.path().join("outside"));
    fs::create_dir_all(&root).unwrap();
    fs::create_dir_all(&outside).unwrap();
    let (server, addr) = start(&root);
    let mut s = raw_session(addr);
    let paths = [
        outside.join("new").display().to_string(),
        "../outside/new".into(),
        "a/./b".into(),
        "ok/file".into(),
    ];
    let mut q = (paths.len() as u32).to_be_bytes().to_vec();
    for p in &paths {
        q.push(0); // a file
        q.extend_from_slice(&(p.len() as u32).to_be_bytes());
        q.extend_from_slice(p.as_bytes());
        q.extend_from_slice(&5u64.to_be_bytes());
        q.extend_from_slice(&0i64.to_be_bytes());
        q.extend_from_slice(&0o644u32.to_be_bytes());
    }
    frame::write_frame(&mut s, Kind::Query, &q).unwrap();
    let (kind, reply) = frame::read_frame(&mut s, "server").unwrap();
    assert_eq!(kind, Kind::QueryReply);
    let text = String::from_utf8_lossy(&reply);
    assert!(
        text.contains("absolute path") && text.contains("escapes the root") && text.contains("`.`"),
        "{text}"
    );
    assert_eq!(*reply.last().unwrap(), 1, "ok/file is needed");
    frame::write_frame(&mut s, Kind::Bye, &[]).unwrap();
    assert!(fs::read_dir(&outside).unwrap().next().is_none());
    assert_eq!(server.stats().files_failed, 3);
}

#[test]
fn retry_reconnects_until_the_server_is_up() {
    let dir = tempfile::tempdir().unwrap();
    let (src, root) = (dir.path().join("src"), dir.path().join("root"));
    make_tree(&src, 3, 1000);
    fs::create_dir(&root).unwrap();
    // A free port, released, and a server that comes up on it after ~300 ms.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let r = root.clone();
    let starter = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(300));
        let mut server = Server::new(r, token()).bind(SocketAddr::from(([127, 0, 0, 1], port)));
        server.start().unwrap();
        std::thread::sleep(std::time::Duration::from_secs(3));
        server.stop().unwrap();
    });
    let dest = format!("127.0.0.1:{port}/t");
    let raise = eacopy::copy_with_server(&src, &dest, &token(), &Config::new()).unwrap_err();
    assert!(raise.to_string().contains("cannot connect"), "{raise}");
    let cfg = Config::new()
        .error_strategy(ErrorStrategy::Retry)
        .retry_count(20)
        .retry_delay(std::time::Duration::from_millis(100));
    let st = eacopy::copy_with_server(&src, &dest, &token(), &cfg).unwrap();
    assert_eq!((st.files_copied, st.files_failed), (4, 0));
    assert_eq!(snapshot(&src), snapshot(&root.join("t")));
    starter.join().unwrap();
}

/// A length-prefixed string, as the protocol encodes it.
fn wire_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// A `Query` payload for files (`dir == false`) or directories of size 5.
fn query(entries: &[(&str, bool)]) -> Vec<u8> {
    let mut q = (entries.len() as u32).to_be_bytes().to_vec();
    for (p, dir) in entries {
        q.push(u8::from(*dir));
        wire_str(&mut q, p);
        q.extend_from_slice(&5u64.to_be_bytes());
        q.extend_from_slice(&0i64.to_be_bytes());
        q.extend_from_slice(&0o644u32.to_be_bytes());
    }
    q
}

/// An `Offer` payload: ticket, path, size, mtime, mode, SHA-256.
fn offer(ticket: u32, path: &str, size: u64, hash: &[u8; 32]) -> Vec<u8> {
    let mut o = ticket.to_be_bytes().to_vec();
    wire_str(&mut o, path);
    o.extend_from_slice(&size.to_be_bytes());
    o.extend_from_slice(&0i64.to_be_bytes());
    o.extend_from_slice(&0o644u32.to_be_bytes());
    o.extend_from_slice(hash);
    o
}

/// Sends the whole file `data` raw for offer `ticket` and returns the server's `Done` text
/// (empty on success).
fn send_raw_file(s: &mut TcpStream, ticket: u32, data: &[u8]) -> String {
    let mut header = ticket.to_be_bytes().to_vec();
    header.push(0); // raw
    header.extend_from_slice(&(data.len() as u64).to_be_bytes());
    frame::write_frame(s, Kind::FileHeader, &header).unwrap();
    frame::write_frame(s, Kind::Data, data).unwrap();
    frame::write_frame(s, Kind::End, &[]).unwrap();
    let (kind, done) = frame::read_frame(s, "server").unwrap();
    assert_eq!(kind, Kind::Done);
    String::from_utf8_lossy(&done[5..]).into_owned()
}

fn sha256(data: &[u8]) -> [u8; 32] {
    eacopy::hash::hash_reader(data).unwrap()
}

#[test]
fn an_offer_onto_a_directory_is_refused_before_its_body() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    fs::create_dir_all(root.join("taken/inner")).unwrap();
    let (server, addr) = start(&root);

    // An offer straight away (no query before it) for a path that is a directory.
    let mut s = raw_session(addr);
    let data = noise(5, 300_000);
    frame::write_frame(
        &mut s,
        Kind::Offer,
        &offer(0, "taken", 300_000, &sha256(&data)),
    )
    .unwrap();
    let (kind, reply) = frame::read_frame(&mut s, "server").unwrap();
    assert_eq!(kind, Kind::Done, "the server asked for the body first");
    let text = String::from_utf8_lossy(&reply);
    assert!(text.contains("is a directory"), "{text}");
    frame::write_frame(&mut s, Kind::Bye, &[]).unwrap();
    assert!(root.join("taken/inner").is_dir());
    assert_eq!(server.stats().file_bytes_sent, 0);

    // Through the client: that file fails, with the reason, and no byte of it is sent.
    let file = dir.path().join("taken");
    fs::write(&file, &data).unwrap();
    let err = eacopy::copy_with_server(&file, &format!("{addr}/taken"), &token(), &Config::new())
        .unwrap_err();
    assert!(err.to_string().contains("is a directory"), "{err}");
    assert_eq!(server.stats().file_bytes_sent, 0);
}

#[test]
fn refused_or_unwritten_paths_create_no_directories() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    fs::create_dir(&root).unwrap();
    fs::write(root.join("plain"), b"a file").unwrap();
    let (_server, addr) = start(&root);
    let long = format!("n1/{}", "x".repeat(300));
    let mut s = raw_session(addr);
    let entries = [
        ("q1/q2/f.bin", false), // needed, but never offered
        (long.as_str(), false), // a name no file system takes
        ("plain/d1/d2", true),  // a file is in the way of the directory
        ("plain/sub/f", false), // and of the file's parent
        (".eacopy/x/y", false), // reserved
    ];
    frame::write_frame(&mut s, Kind::Query, &query(&entries)).unwrap();
    let (kind, reply) = frame::read_frame(&mut s, "server").unwrap();
    assert_eq!(kind, Kind::QueryReply);
    let text = String::from_utf8_lossy(&reply);
    assert!(text.contains("longer than 255 bytes"), "{text}");

    // An offer that is accepted, then its file arrives with the wrong content.
    let good = b"hello";
    frame::write_frame(&mut s, Kind::Offer, &offer(7, "p1/p2/f", 5, &sha256(good))).unwrap();
    let (kind, reply) = frame::read_frame(&mut s, "server").unwrap();
    assert_eq!((kind, reply.as_slice()), (Kind::OfferReply, &[2u8][..]));
    let done = send_raw_file(&mut s, 7, b"HELLO");
    assert!(done.contains("hash mismatch"), "{done}");
    frame::write_frame(&mut s, Kind::Bye, &[]).unwrap();
    drop(s);
    std::thread::sleep(std::time::Duration::from_millis(100));

    let mut names: Vec<_> = fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != ".eacopy")
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["plain"],
        "directories made for refused or unwritten paths"
    );
    assert!(root.join("plain").is_file());

    // A file that is written makes its parents.
    let mut s = raw_session(addr);
    frame::write_frame(&mut s, Kind::Offer, &offer(1, "p1/p2/f", 5, &sha256(good))).unwrap();
    let (kind, _) = frame::read_frame(&mut s, "server").unwrap();
    assert_eq!(kind, Kind::OfferReply);
    assert!(!root.join("p1").exists(), "made before the file came");
    assert_eq!(send_raw_file(&mut s, 1, good), "");
    assert_eq!(fs::read(root.join("p1/p2/f")).unwrap(), good);
}

#[test]
fn a_directory_swapped_for_a_symlink_after_the_offer_is_not_written_through() {
    let dir = tempfile::tempdir().unwrap();
    let (root, outside) = (dir.path().join("root"), dir.path().join("outside"));
    fs::create_dir_all(root.join("a")).unwrap();
    fs::create_dir_all(&outside).unwrap();
    fs::write(outside.join("f"), b"precious").unwrap();
    fs::write(root.join("a/f"), b"old version").unwrap();
    let (_server, addr) = start(&root);

    let data = b"attacker's bytes".to_vec();
    let mut s = raw_session(addr);
    frame::write_frame(
        &mut s,
        Kind::Offer,
        &offer(0, "a/f", data.len() as u64, &sha256(&data)),
    )
    .unwrap();
    let (kind, reply) = frame::read_frame(&mut s, "server").unwrap();
    assert_eq!(
        kind,
        Kind::OfferReply,
        "{}",
        String::from_utf8_lossy(&reply)
    );
    // Between the offer and the file, a local user swaps `a` for a link out of the root.
    fs::rename(root.join("a"), dir.path().join("a-moved")).unwrap();
    std::os::unix::fs::symlink(&outside, root.join("a")).unwrap();
    // The old version's signature is not read through the link (an empty stream)...
    frame::write_frame(&mut s, Kind::SigRequest, &0u32.to_be_bytes()).unwrap();
    let (kind, _) = frame::read_frame(&mut s, "server").unwrap();
    assert_eq!(kind, Kind::End, "a signature of a file outside the root");
    // ...and the file is not written through it.
    let done = send_raw_file(&mut s, 0, &data);
    assert_eq!(
        fs::read(outside.join("f")).unwrap(),
        b"precious",
        "written through"
    );
    assert!(done.contains("symlink"), "{done}");
    assert_eq!(
        fs::read_dir(&outside).unwrap().count(),
        1,
        "a file appeared outside the root"
    );
    assert_eq!(
        fs::read(dir.path().join("a-moved/f")).unwrap(),
        b"old version"
    );
}

#[test]
fn a_fifo_in_the_source_fails_or_is_counted_and_never_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let (src, root) = (dir.path().join("src"), dir.path().join("root"));
    fs::create_dir_all(&src).unwrap();
    fs::create_dir(&root).unwrap();
    fs::write(src.join("a"), b"regular").unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        src.join("pipe"),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o644),
        0,
    )
    .unwrap();
    let (_server, addr) = start(&root);
    let (tx, rx) = std::sync::mpsc::channel();
    let (s2, t2) = (src.clone(), format!("{addr}/t"));
    std::thread::spawn(move || {
        let raised = eacopy::copy_with_server(&s2, &t2, &token(), &Config::new());
        let ignored = eacopy::copy_with_server(
            &s2,
            &t2,
            &token(),
            &Config::new().error_strategy(ErrorStrategy::Ignore),
        );
        let _ = tx.send((
            raised.map_err(|e| e.to_string()),
            ignored.map_err(|e| e.to_string()),
        ));
    });
    let (raised, ignored) = rx
        .recv_timeout(std::time::Duration::from_secs(20))
        .expect("copy_with_server blocked on a FIFO");
    let text = raised.unwrap_err();
    assert!(text.contains("pipe") && text.contains("FIFO"), "{text}");
    let st = ignored.unwrap();
    assert_eq!((st.files_failed, st.files_copied), (1, 1), "{st}");
    assert_eq!(fs::read(root.join("t/a")).unwrap(), b"regular");
    assert!(!root.join("t/pipe").exists());
}
