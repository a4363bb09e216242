//! The handshake gate: one thread accepts connections and runs every token handshake at once
//! without blocking (`poll`), so no peer can stall it and strangers cost no thread of their
//! own; only authenticated connections get one.
//!
//! Limits (defaults in [`Limits::default`]):
//!
//! * **One deadline for the whole handshake** (10 s from the accept), however the peer spaces
//!   its bytes; a stranger never gets more than 1 KiB of buffer.
//! * **At most 64 handshakes at once, 8 per peer** (an IPv4 address, or an IPv6 /64). A new
//!   connection from a peer at its cap takes the place of that peer's oldest handshake; when
//!   all places are taken it takes the place of the oldest handshake of the peer holding the
//!   most. So a flood of idle or trickling strangers only ever pushes out its own kind, and a
//!   client that answers at once (one round trip) gets through.
//! * **At most 64 authenticated connections** at work, counted apart from the handshakes.
//!
//! A connection turned away for room gets a `Busy` frame with the reason (the client reports
//! [`Error::Busy`]), not a silent close.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustix::event::{poll, PollFd, PollFlags, Timespec};
use rustix::io::Errno;

use super::auth::nonce;
use super::frame::{self, Kind, HEADER_LEN};
use super::server::Shared;
use super::wire::{Dec, Enc};
use crate::Error;

/// How much a server lets in, and how long a handshake may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    /// From accept to a proven token, in all.
    pub handshake_timeout: Duration,
    /// Handshakes under way at once.
    pub max_handshakes: usize,
    /// Handshakes under way from one peer.
    pub max_handshakes_per_peer: usize,
    /// Authenticated connections at once.
    pub max_sessions: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            handshake_timeout: Duration::from_secs(10),
            max_handshakes: 64,
            max_handshakes_per_peer: 8,
            max_sessions: 64,
        }
    }
}

/// The largest frame a stranger may send (an `Auth` is 64 bytes).
const MAX_AUTH_FRAME: usize = 1024;
/// Longest wait in `poll`, so a stop is noticed even without a wake-up connection.
const MAX_WAIT: Duration = Duration::from_millis(500);
/// Connections accepted per round, so handshakes under way are not starved.
const ACCEPTS_PER_ROUND: usize = 64;

/// A connection that proved the token, ready for its session.
#[derive(Debug)]
pub(crate) struct Admitted {
    pub stream: TcpStream,
    pub server_nonce: [u8; 32],
    pub client_nonce: [u8; 32],
    /// Bytes read from it so far.
    pub received: u64,
}

/// A handshake under way.
#[derive(Debug)]
struct Handshake {
    stream: TcpStream,
    peer: String,
    group: IpAddr,
    /// Order of arrival (smaller is older).
    seq: u64,
    deadline: Instant,
    nonce: [u8; 32],
    /// `Hello` bytes not yet sent.
    out: Vec<u8>,
    /// The `Auth` frame so far; never more than its header says, nor over the limit.
    buf: Vec<u8>,
    /// Its payload length, once the header is in and checked.
    len: Option<usize>,
}

/// What a round of reading did for a handshake.
enum Step {
    Wait,
    Auth(Vec<u8>),
    Failed(Error),
    /// The peer went away.
    Gone,
}

/// Accepts and authenticates until the server stops; `listener` must be non-blocking.
pub(crate) fn run(listener: &TcpListener, shared: &Arc<Shared>) {
    let mut pending: Vec<Handshake> = Vec::new();
    let mut seq = 0u64;
    loop {
        if shared.stop.load(Ordering::SeqCst) {
            for h in pending {
                close(&h.stream);
            }
            return;
        }
        let now = Instant::now();
        let wait = pending
            .iter()
            .map(|h| h.deadline.saturating_duration_since(now))
            .min()
            .unwrap_or(MAX_WAIT)
            .min(MAX_WAIT);
        let (listening, events) = match wait_for(listener, &pending, wait) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "poll failed");
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
        };

        let mut kept = Vec::with_capacity(pending.len());
        for (mut h, ev) in pending.into_iter().zip(events) {
            if ev.is_empty() {
                kept.push(h);
                continue;
            }
            match step(&mut h) {
                Step::Wait => kept.push(h),
                Step::Auth(payload) => authenticate(h, &payload, shared),
                Step::Failed(e) => fail(h, &e, shared),
                Step::Gone => count(&h, shared),
            }
        }
        pending = kept;

        let now = Instant::now();
        let (late, on_time): (Vec<_>, Vec<_>) =
            pending.into_iter().partition(|h| h.deadline <= now);
        pending = on_time;
        for h in late {
            tracing::debug!(peer = %h.peer, "handshake deadline passed");
            let limit = shared.limits.handshake_timeout;
            send_now(
                &h.stream,
                Kind::Error,
                &format!("no token proof within {limit:?}; closing"),
            );
            count(&h, shared);
        }

        if listening {
            for _ in 0..ACCEPTS_PER_ROUND {
                match listener.accept() {
                    Ok((stream, addr)) => {
                        seq += 1;
                        admit(&mut pending, stream, addr, seq, shared);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        // Out of file descriptors or the like: breathe instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        std::thread::sleep(Duration::from_millis(50));
                        break;
                    }
                }
            }
        }
    }
}

/// Waits up to `wait` for the listener or any handshake; returns whether the listener is
/// ready and the events of each handshake, in order.
fn wait_for(
    listener: &TcpListener,
    pending: &[Handshake],
    wait: Duration,
) -> io::Result<(bool, Vec<PollFlags>)> {
    let mut fds = Vec::with_capacity(pending.len() + 1);
    fds.push(PollFd::new(listener, PollFlags::IN));
    for h in pending {
        let mut flags = PollFlags::IN;
        if !h.out.is_empty() {
            flags |= PollFlags::OUT;
        }
        fds.push(PollFd::new(&h.stream, flags));
    }
    let timeout = Timespec::try_from(wait).unwrap_or(Timespec {
        tv_sec: 0,
        tv_nsec: 100_000_000,
    });
    match poll(&mut fds, Some(&timeout)) {
        Ok(_) => {}
        Err(Errno::INTR) => {
            return Ok((false, vec![PollFlags::empty(); pending.len()]));
        }
        Err(e) => return Err(e.into()),
    }
    let listening = !fds[0].revents().is_empty();
    Ok((listening, fds[1..].iter().map(PollFd::revents).collect()))
}

/// The peer a connection counts against: its IPv4 address, or its IPv6 /64.
fn peer_group(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// Takes a new connection in: refused if every working place is taken, else its handshake
/// starts, in the place of an older one if need be.
fn admit(
    pending: &mut Vec<Handshake>,
    stream: TcpStream,
    addr: SocketAddr,
    seq: u64,
    shared: &Shared,
) {
    let limits = shared.limits;
    if stream.set_nonblocking(true).is_err() {
        return;
    }
    let _ = stream.set_nodelay(true);
    if shared.sessions_full() {
        tracing::debug!(peer = %addr, "busy: every working connection is taken");
        send_now(
            &stream,
            Kind::Busy,
            &format!("too many connections ({} at work)", limits.max_sessions),
        );
        close(&stream);
        return;
    }
    let group = peer_group(addr.ip());
    let mine = pending.iter().filter(|h| h.group == group).count();
    let evict = if mine >= limits.max_handshakes_per_peer.max(1) {
        oldest(pending, group).map(|i| {
            (
                i,
                format!("too many connections from {group} waiting to authenticate"),
            )
        })
    } else if pending.len() >= limits.max_handshakes.max(1) {
        let mut per: HashMap<IpAddr, usize> = HashMap::new();
        for h in pending.iter() {
            *per.entry(h.group).or_default() += 1;
        }
        let top = per.values().copied().max().unwrap_or(0);
        let heaviest = pending
            .iter()
            .filter(|h| per.get(&h.group) == Some(&top))
            .min_by_key(|h| h.seq)
            .map(|h| h.group);
        heaviest.and_then(|g| oldest(pending, g)).map(|i| {
            (
                i,
                "too many connections waiting to authenticate".to_string(),
            )
        })
    } else {
        None
    };
    if let Some((i, reason)) = evict {
        let old = pending.swap_remove(i);
        tracing::debug!(peer = %old.peer, "handshake pushed out by a newer connection");
        send_now(&old.stream, Kind::Busy, &reason);
        count(&old, shared);
    }
    let Ok(server_nonce) = nonce() else {
        send_now(
            &stream,
            Kind::Error,
            "the server has no randomness for a handshake",
        );
        close(&stream);
        return;
    };
    let now = Instant::now();
    let deadline = now
        .checked_add(limits.handshake_timeout)
        .unwrap_or(now + Duration::from_secs(3600));
    let mut h = Handshake {
        stream,
        peer: addr.to_string(),
        group,
        seq,
        deadline,
        nonce: server_nonce,
        out: frame::encode(Kind::Hello, &server_nonce),
        buf: Vec::with_capacity(HEADER_LEN + 64),
        len: None,
    };
    if flush_out(&mut h).is_err() {
        close(&h.stream);
        return;
    }
    pending.push(h);
}

/// The index of the oldest handshake of `group`.
fn oldest(pending: &[Handshake], group: IpAddr) -> Option<usize> {
    pending
        .iter()
        .enumerate()
        .filter(|(_, h)| h.group == group)
        .min_by_key(|(_, h)| h.seq)
        .map(|(i, _)| i)
}

/// Sends what is left of `Hello`, as far as the socket takes it now.
fn flush_out(h: &mut Handshake) -> io::Result<()> {
    while !h.out.is_empty() {
        match (&h.stream).write(&h.out) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                h.out.drain(..n);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Sends what it can and reads what has come, never past the end of the `Auth` frame (what
/// follows it belongs to the session).
fn step(h: &mut Handshake) -> Step {
    if flush_out(h).is_err() {
        return Step::Gone;
    }
    let mut chunk = [0u8; HEADER_LEN + MAX_AUTH_FRAME];
    loop {
        let want = HEADER_LEN + h.len.unwrap_or(0);
        if h.buf.len() == want && h.len.is_some() {
            break;
        }
        let room = (want - h.buf.len()).min(chunk.len());
        match (&h.stream).read(&mut chunk[..room]) {
            Ok(0) => return Step::Gone,
            Ok(n) => h.buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Step::Wait,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return Step::Gone,
        }
        if h.len.is_none() && h.buf.len() == HEADER_LEN {
            let Ok(header) = <[u8; HEADER_LEN]>::try_from(&h.buf[..]) else {
                return Step::Gone;
            };
            match frame::check_header(&header, &h.peer, MAX_AUTH_FRAME) {
                Ok((_, len)) => h.len = Some(len),
                Err(e) => return Step::Failed(e),
            }
        }
    }
    let (head, payload) = h.buf.split_at(HEADER_LEN);
    let Ok(header) = <[u8; HEADER_LEN]>::try_from(head) else {
        return Step::Gone;
    };
    if let Err(e) = frame::check_payload(&header, payload, &h.peer) {
        return Step::Failed(e);
    }
    match frame::check_header(&header, &h.peer, MAX_AUTH_FRAME) {
        Ok((Kind::Auth, _)) => Step::Auth(payload.to_vec()),
        Ok((Kind::Error, _)) => {
            let message = Dec::new(payload, &h.peer)
                .str()
                .unwrap_or("(unreadable message)")
                .to_string();
            Step::Failed(Error::Protocol {
                peer: h.peer.clone(),
                what: format!("peer reported: {message}"),
            })
        }
        Ok((other, _)) => Step::Failed(Error::Protocol {
            peer: h.peer.clone(),
            what: format!("expected Auth, got {other:?}"),
        }),
        Err(e) => Step::Failed(e),
    }
}

/// Checks the token proof; a right one starts the session (or gets `Busy` if the working
/// places filled up meanwhile).
fn authenticate(h: Handshake, payload: &[u8], shared: &Arc<Shared>) {
    let (client_nonce, proof) = match decode_auth(payload, &h.peer) {
        Ok(fields) => fields,
        Err(e) => return fail(h, &e, shared),
    };
    if !shared.token.verify_client(&h.nonce, &client_nonce, &proof) {
        shared.store.stats.bump(|s| s.auth_failures += 1);
        tracing::info!(peer = %h.peer, "authentication failed: wrong token");
        send_now(&h.stream, Kind::Error, "authentication failed: wrong token");
        return count(&h, shared);
    }
    if shared.sessions_full() {
        let max = shared.limits.max_sessions;
        send_now(
            &h.stream,
            Kind::Busy,
            &format!("too many connections ({max} at work)"),
        );
        return count(&h, shared);
    }
    if h.stream.set_nonblocking(false).is_err() {
        return count(&h, shared);
    }
    let admitted = Admitted {
        stream: h.stream,
        server_nonce: h.nonce,
        client_nonce,
        received: h.buf.len() as u64,
    };
    if let Err((stream, why)) = shared.start_session(admitted) {
        tracing::warn!(error = %why, "no thread for a connection");
        let _ = stream.set_nonblocking(true);
        send_now(
            &stream,
            Kind::Busy,
            "the server cannot start a worker thread now",
        );
        close(&stream);
    }
}

/// The client nonce and proof of an `Auth` message.
fn decode_auth(payload: &[u8], peer: &str) -> Result<([u8; 32], [u8; 32]), Error> {
    let mut d = Dec::new(payload, peer);
    let client_nonce = d.hash()?;
    let proof = d.hash()?;
    d.end()?;
    Ok((client_nonce, proof))
}

/// Reports a protocol error to the peer (counted first, so the peer that reads the report
/// finds it in the statistics) and closes.
fn fail(h: Handshake, e: &Error, shared: &Shared) {
    tracing::debug!(peer = %h.peer, error = %e, "handshake failed");
    tally(&h, shared, matches!(e, Error::Protocol { .. }));
    send_now(&h.stream, Kind::Error, &e.to_string());
    close(&h.stream);
}

/// Counts what a handshake that ends here read, and closes it.
fn count(h: &Handshake, shared: &Shared) {
    tally(h, shared, false);
    close(&h.stream);
}

/// Counts what a handshake read, and whether it broke the protocol.
fn tally(h: &Handshake, shared: &Shared, protocol_error: bool) {
    let received = h.buf.len() as u64;
    shared.store.stats.bump(|s| {
        s.wire_bytes += received;
        if protocol_error {
            s.protocol_errors += 1;
        }
    });
}

/// Sends one small frame without waiting (a peer that does not read loses it).
fn send_now(stream: &TcpStream, kind: Kind, message: &str) {
    let bytes = frame::encode(kind, &Enc::new().str(message).0);
    let mut s = stream;
    let _ = s.write(&bytes);
}

/// Closes a connection: what the peer sent is read first (up to a bound), so the close is a
/// clean end of stream that lets the peer read our last frame, not a reset.
fn close(stream: &TcpStream) {
    let mut sink = [0u8; 4096];
    let mut s = stream;
    for _ in 0..16 {
        match s.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
    let _ = stream.shutdown(Shutdown::Write);
}
