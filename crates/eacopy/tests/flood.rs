//! Strangers who connect and say nothing, or trickle a byte a second, cannot keep a client with
//! the token out, and a full server answers "busy" in a frame the client turns into a clear error.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpStream};
use std::time::{Duration, Instant};

use common::{make_tree, snapshot};
use eacopy::net::frame::{self, Kind};
use eacopy::{Config, ErrorStrategy, Server, Token};

fn token() -> Token {
    Token::new(b"0123456789abcdef-test-token".to_vec()).unwrap()
}

/// A TCP connection to `to` from the loopback address `from` (127.0.0.0/8 is all local), so one
/// test can play many peers.
fn connect_from(from: Ipv4Addr, to: SocketAddr) -> TcpStream {
    use rustix::net::{bind, connect, socket, AddressFamily, SocketType};
    let fd = socket(AddressFamily::INET, SocketType::STREAM, None).unwrap();
    bind(&fd, &SocketAddr::V4(SocketAddrV4::new(from, 0))).unwrap();
    connect(&fd, &to).unwrap();
    TcpStream::from(fd)
}

/// Whether the server closed `s` (end of stream or reset); reads what it sent meanwhile.
fn closed_by_server(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 256];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return false,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => return true,
        }
    }
}

#[test]
fn idle_and_trickling_strangers_do_not_lock_out_clients() {
    let dir = tempfile::tempdir().unwrap();
    let (src, root) = (dir.path().join("src"), dir.path().join("root"));
    make_tree(&src, 12, 50_000);
    fs::create_dir(&root).unwrap();
    let mut server = Server::new(&root, token()).bind("127.0.0.1:0".parse().unwrap());
    let addr = server.start().unwrap();

    // 200 strangers: 40 on the client's own address, 160 from 16 other local addresses; every
    // other one trickles a byte a second (the start of an Auth frame, so each read succeeds).
    let opened = Instant::now();
    let mut idle = Vec::new();
    let mut trickling = Vec::new();
    for i in 0..200u32 {
        let from = if i < 40 {
            Ipv4Addr::LOCALHOST
        } else {
            Ipv4Addr::new(127, 0, 0, 2 + (i % 16) as u8)
        };
        let s = connect_from(from, addr);
        s.set_nonblocking(true).unwrap();
        if i % 2 == 0 {
            idle.push(s);
        } else {
            trickling.push(s);
        }
    }
    let trickler = std::thread::spawn(move || {
        let header = frame::header(Kind::Auth, &[0u8; 64]);
        let mut closed_at = vec![None; trickling.len()];
        for tick in 0..14 {
            for (s, closed) in trickling.iter_mut().zip(&mut closed_at) {
                if closed.is_none() {
                    let _ = s.write(&header[tick % header.len()..][..1]);
                    if closed_by_server(s) {
                        *closed = Some(opened.elapsed());
                    }
                }
            }
            if closed_at.iter().all(Option::is_some) {
                break;
            }
            std::thread::sleep(Duration::from_secs(1));
        }
        closed_at
    });
    std::thread::sleep(Duration::from_millis(300));

    // A client with the token gets through at once, on several connections.
    let started = Instant::now();
    let cfg = Config::new().thread_count(4);
    let stats = eacopy::copy_with_server(&src, &format!("{addr}/t"), &token(), &cfg)
        .expect("a client with the token is served despite the flood");
    let took = started.elapsed();
    eprintln!("the client's copy took {took:?} among 200 strangers");
    assert!(took < Duration::from_secs(15), "took {took:?}");
    assert_eq!((stats.files_copied, stats.files_failed), (13, 0), "{stats}");
    assert_eq!(snapshot(&src), snapshot(&root.join("t")));

    // Trickling does not buy more time: the handshake has one deadline (10 s) in all.
    let closed_at = trickler.join().unwrap();
    for (i, at) in closed_at.iter().enumerate() {
        let at = at.unwrap_or_else(|| panic!("trickling stranger {i} still connected after 14 s"));
        assert!(
            at < Duration::from_secs(13),
            "stranger {i} closed after {at:?}"
        );
    }
    let mut idle_open = 0;
    for s in &mut idle {
        if !closed_by_server(s) {
            idle_open += 1;
        }
    }
    assert_eq!(
        idle_open, 0,
        "idle strangers outlived the handshake deadline"
    );
    server.stop().unwrap();
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
fn a_full_server_answers_busy_and_the_client_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let (src, root) = (dir.path().join("src"), dir.path().join("root"));
    make_tree(&src, 3, 1000);
    fs::create_dir(&root).unwrap();
    let mut server = Server::new(&root, token()).bind("127.0.0.1:0".parse().unwrap());
    let addr = server.start().unwrap();
    // 64 authenticated connections: every working slot is taken.
    let mut sessions: Vec<TcpStream> = (0..64).map(|_| raw_session(addr)).collect();

    let err =
        eacopy::copy_with_server(&src, &format!("{addr}/t"), &token(), &Config::new()).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("server busy") && text.contains("try again later"),
        "{text}"
    );

    // A slot frees up: a client that retries gets in.
    for mut s in sessions.drain(..8) {
        frame::write_frame(&mut s, Kind::Bye, &[]).unwrap();
    }
    let cfg = Config::new()
        .error_strategy(ErrorStrategy::Retry)
        .retry_count(50)
        .retry_delay(Duration::from_millis(100));
    let st = eacopy::copy_with_server(&src, &format!("{addr}/t"), &token(), &cfg).unwrap();
    assert_eq!(st.files_copied, 4, "{st}");
    assert_eq!(snapshot(&src), snapshot(&root.join("t")));
    drop(sessions);
    server.stop().unwrap();
}

#[test]
fn the_handshake_deadline_can_be_shortened() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::new(dir.path(), token())
        .bind("127.0.0.1:0".parse().unwrap())
        .handshake_timeout(Duration::from_millis(400));
    let addr = server.start().unwrap();
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let started = Instant::now();
    let (kind, _) = frame::read_frame(&mut s, "server").unwrap();
    assert_eq!(kind, Kind::Hello);
    // Trickle the start of an Auth frame: every 100 ms one byte.
    let header = frame::header(Kind::Auth, &[0u8; 64]);
    for b in &header[..3] {
        s.write_all(std::slice::from_ref(b)).unwrap();
        std::thread::sleep(Duration::from_millis(100));
    }
    let (kind, msg) = frame::read_frame(&mut s, "server").unwrap();
    assert_eq!(kind, Kind::Error);
    assert!(String::from_utf8_lossy(&msg).contains("no token proof"));
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    let took = started.elapsed();
    assert!(took < Duration::from_secs(2), "closed after {took:?}");
    assert!(server.is_running());
    server.stop().unwrap();
}
