//! The copy server: accepts authenticated connections and answers queries and offers,
//! writing only under its root.

use std::collections::{HashMap, HashSet};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::auth::{nonce, Token};
use super::conn::Conn;
use super::frame::{self, Kind};
use super::msg::{self, OfferReply};
use super::receive::{self, Pending};
use super::stats::TransferStats;
use super::store::{Plan, Store};
use super::wire::Dec;
use crate::{Error, Result};

/// The port EACopy's server listens on.
pub const DEFAULT_PORT: u16 = 31337;
/// How long a new connection may take to authenticate.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Most connections served at once; more are refused.
const MAX_CONNECTIONS: usize = 64;

/// A copy server for one root directory. Start it, copy to it with
/// [`copy_with_server`](crate::copy_with_server), read its [`stats`](Server::stats), stop it.
#[derive(Debug)]
pub struct Server {
    root: PathBuf,
    bind: SocketAddr,
    token: Token,
    timeout: Duration,
    running: Option<Running>,
    last_stats: TransferStats,
}

#[derive(Debug)]
struct Running {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: JoinHandle<()>,
}

#[derive(Debug)]
struct Shared {
    store: Store,
    token: Token,
    timeout: Duration,
    stop: AtomicBool,
    next_id: AtomicU64,
    live: Mutex<HashMap<u64, TcpStream>>,
}

impl Server {
    /// A server for `root`, listening on all interfaces at [`DEFAULT_PORT`] once started.
    pub fn new(root: impl Into<PathBuf>, token: Token) -> Server {
        Server {
            root: root.into(),
            bind: SocketAddr::from((Ipv4Addr::UNSPECIFIED, DEFAULT_PORT)),
            token,
            timeout: Duration::from_secs(300),
            running: None,
            last_stats: TransferStats::default(),
        }
    }

    /// Listens on `addr` instead (port 0 picks a free port; see [`Server::local_addr`]).
    pub fn bind(mut self, addr: SocketAddr) -> Server {
        self.bind = addr;
        self
    }

    /// How long a connection may stay silent before it is closed (default 300 s).
    pub fn idle_timeout(mut self, timeout: Duration) -> Server {
        self.timeout = timeout;
        self
    }

    /// Opens the root, binds and starts accepting; returns the address listened on.
    pub fn start(&mut self) -> Result<SocketAddr> {
        if let Some(r) = &self.running {
            return Ok(r.addr);
        }
        let store = Store::open(&self.root).map_err(|e| Error::io(&self.root, e))?;
        let listener = TcpListener::bind(self.bind).map_err(|e| Error::Connect {
            addr: self.bind.to_string(),
            source: e,
        })?;
        let addr = listener.local_addr().map_err(|e| Error::Connect {
            addr: self.bind.to_string(),
            source: e,
        })?;
        let shared = Arc::new(Shared {
            store,
            token: self.token.clone(),
            timeout: self.timeout,
            stop: AtomicBool::new(false),
            next_id: AtomicU64::new(0),
            live: Mutex::new(HashMap::new()),
        });
        let s = shared.clone();
        let accept = std::thread::Builder::new()
            .name("eacopy-accept".into())
            .spawn(move || accept_loop(listener, s))
            .map_err(|e| Error::io(&self.root, e))?;
        tracing::info!(%addr, root = %shared.store.root.display(), "eacopy server listening");
        self.running = Some(Running {
            addr,
            shared,
            accept,
        });
        Ok(addr)
    }

    /// Stops accepting, closes open connections, saves the content index.
    pub fn stop(&mut self) -> Result<()> {
        let Some(r) = self.running.take() else {
            return Ok(());
        };
        r.shared.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept with a connection of our own.
        let wake = if r.addr.ip().is_unspecified() {
            SocketAddr::from((Ipv4Addr::LOCALHOST, r.addr.port()))
        } else {
            r.addr
        };
        let _ = TcpStream::connect_timeout(&wake, Duration::from_secs(1));
        let _ = r.accept.join();
        for s in lock(&r.shared.live).values() {
            let _ = s.shutdown(Shutdown::Both);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while !lock(&r.shared.live).is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        self.last_stats = r.shared.store.stats.snapshot();
        r.shared
            .store
            .save_index()
            .map_err(|e| Error::io(&self.root, e))
    }

    /// Whether the server accepts connections.
    pub fn is_running(&self) -> bool {
        self.running.is_some()
    }

    /// The address listened on, while running.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.running.as_ref().map(|r| r.addr)
    }

    /// What the server did so far (the totals of the last run once stopped).
    pub fn stats(&self) -> TransferStats {
        self.running.as_ref().map_or_else(
            || self.last_stats.clone(),
            |r| r.shared.store.stats.snapshot(),
        )
    }

    /// Blocks until the server is stopped from another thread, or forever (for the CLI).
    pub fn wait(&self) {
        while let Some(r) = &self.running {
            if r.accept.is_finished() {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = stream else { continue };
        if lock(&shared.live).len() >= MAX_CONNECTIONS {
            tracing::warn!("connection refused: {MAX_CONNECTIONS} already open");
            continue;
        }
        let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
        if let Ok(clone) = stream.try_clone() {
            lock(&shared.live).insert(id, clone);
        }
        let s = shared.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("eacopy-conn-{id}"))
            .spawn(move || {
                if let Err(e) = serve(stream, &s) {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                lock(&s.live).remove(&id);
            });
        if spawned.is_err() {
            lock(&shared.live).remove(&id);
        }
    }
}

/// One connection: handshake, then queries and offers until `Bye`.
fn serve(stream: TcpStream, shared: &Shared) -> Result<()> {
    let mut conn = Conn::new(stream, shared.timeout)?;
    let result = serve_conn(&mut conn, shared);
    let received = conn.received;
    shared.store.stats.bump(|s| {
        s.wire_bytes += received;
        if matches!(result, Err(Error::Protocol { .. })) {
            s.protocol_errors += 1;
        }
    });
    if let Err(e) = &result {
        if !matches!(e, Error::Network { .. } | Error::AuthFailed { .. }) {
            conn.send_error(&e.to_string());
        }
    }
    if let Err(e) = shared.store.save_index() {
        tracing::warn!(error = %e, "content index not saved");
    }
    result
}

fn serve_conn(conn: &mut Conn, shared: &Shared) -> Result<()> {
    let server_nonce = nonce()?;
    conn.send_now(Kind::Hello, &server_nonce)?;
    // A stranger gets small frames and a short time to prove the token.
    conn.max_frame = 1024;
    conn.set_read_timeout(HANDSHAKE_TIMEOUT.min(shared.timeout))?;
    let auth = conn.expect(Kind::Auth)?;
    let peer = conn.peer.clone();
    let mut d = Dec::new(&auth, &peer);
    let client_nonce = d.hash()?;
    let proof = d.hash()?;
    d.end()?;
    if !shared
        .token
        .verify_client(&server_nonce, &client_nonce, &proof)
    {
        shared.store.stats.bump(|s| s.auth_failures += 1);
        conn.send_error("authentication failed: wrong token");
        return Err(Error::AuthFailed { peer });
    }
    conn.max_frame = frame::MAX_PAYLOAD;
    conn.set_read_timeout(shared.timeout)?;
    conn.send_now(
        Kind::AuthOk,
        &shared.token.server_proof(&server_nonce, &client_nonce)?,
    )?;

    let store = &shared.store;
    let mut session = Session::default();
    loop {
        let (kind, payload) = match conn.recv() {
            Ok(f) => f,
            Err(Error::Network { source, .. })
                if source.kind() == std::io::ErrorKind::UnexpectedEof =>
            {
                return Ok(())
            }
            Err(e) => return Err(e),
        };
        match kind {
            Kind::Query => {
                // A new batch: offers of the last one that got no file are forgotten.
                session.pending.clear();
                let entries = msg::decode_query(&payload, &peer)?;
                let statuses: Vec<_> = entries
                    .iter()
                    .map(|e| store.status(e, &mut session.known))
                    .collect();
                store.stats.bump(|s| {
                    for (e, st) in entries.iter().zip(&statuses) {
                        match st {
                            msg::Status::Have if e.is_dir => s.dirs += 1,
                            msg::Status::Have => {
                                s.files_skipped += 1;
                                s.bytes_skipped += e.size;
                            }
                            msg::Status::Refused(_) => s.files_failed += 1,
                            _ => {}
                        }
                    }
                });
                conn.send_now(Kind::QueryReply, &msg::encode_statuses(&statuses))?;
            }
            Kind::Offer => offer(conn, store, &payload, &mut session)?,
            Kind::SigRequest => signature(conn, &payload, &session)?,
            Kind::FileHeader => file(conn, store, &payload, &mut session)?,
            Kind::Bye => return Ok(()),
            other => {
                return Err(Error::Protocol {
                    peer,
                    what: format!("unexpected {other:?} frame"),
                });
            }
        }
    }
}

/// What one connection remembers between messages.
#[derive(Debug, Default)]
struct Session {
    /// Directories already checked: each is looked at once, not once per file.
    known: HashSet<PathBuf>,
    /// Offers waiting for their file stream, by ticket.
    pending: HashMap<u32, Pending>,
}

/// Most offers waiting for their files at once.
const MAX_PENDING: usize = 4096;

/// An offer: link, skip, refuse, or remember it and ask for the file (or a delta).
fn offer(conn: &mut Conn, store: &Store, payload: &[u8], session: &mut Session) -> Result<()> {
    let (ticket, e, hash) = msg::decode_offer(payload, &conn.peer.clone())?;
    let started = Instant::now();
    let planned = store.plan(&e, &hash, &mut session.known);
    tracing::debug!(path = %e.path, ms = started.elapsed().as_millis(), "offer planned");
    match planned {
        Err(reason) => {
            store.stats.bump(|s| s.files_failed += 1);
            conn.send_now(Kind::Done, &msg::encode_done(Some(&reason)))
        }
        Ok(Plan::Linked) => {
            store.stats.bump(|s| {
                s.files_linked += 1;
                s.bytes_linked += e.size;
            });
            conn.send_now(Kind::OfferReply, &[OfferReply::Linked as u8])
        }
        Ok(Plan::Skipped) => {
            store.stats.bump(|s| {
                s.files_skipped += 1;
                s.bytes_skipped += e.size;
            });
            conn.send_now(Kind::OfferReply, &[OfferReply::Skipped as u8])
        }
        Ok(Plan::Receive { full, old }) => {
            if session.pending.len() >= MAX_PENDING {
                return Err(Error::Protocol {
                    peer: conn.peer.clone(),
                    what: "too many offers without files".into(),
                });
            }
            let reply = if old.is_some() {
                OfferReply::SendDelta
            } else {
                OfferReply::SendFull
            };
            session.pending.insert(
                ticket,
                Pending {
                    entry: e,
                    hash,
                    full,
                    old,
                },
            );
            conn.send_now(Kind::OfferReply, &[reply as u8])
        }
    }
}

/// The signature of a pending offer's old version.
fn signature(conn: &mut Conn, payload: &[u8], session: &Session) -> Result<()> {
    let ticket = msg::decode_ticket(payload, &conn.peer.clone())?;
    let old = session.pending.get(&ticket).and_then(|p| p.old.clone());
    receive::send_signature(conn, old.as_deref())
}

/// The stream of a pending offer.
fn file(conn: &mut Conn, store: &Store, payload: &[u8], session: &mut Session) -> Result<()> {
    let (ticket, encoding, raw_len) = msg::decode_file_header(payload, &conn.peer.clone())?;
    let Some(p) = session.pending.remove(&ticket) else {
        return Err(Error::Protocol {
            peer: conn.peer.clone(),
            what: format!("file for unknown offer {ticket}"),
        });
    };
    let before = conn.received;
    let outcome = receive::receive(conn, store, &p, encoding, raw_len)?;
    let wire = conn.received - before;
    let size = p.entry.size;
    store.stats.bump(|s| match &outcome {
        Err(_) => s.files_failed += 1,
        Ok(msg::Encoding::DeltaZstd) => {
            s.files_delta += 1;
            s.bytes_delta += size;
            s.delta_bytes_sent += wire;
            s.file_bytes_sent += wire;
        }
        Ok(_) => {
            s.files_copied += 1;
            s.bytes_copied += size;
            s.file_bytes_sent += wire;
        }
    });
    conn.send_now(
        Kind::Done,
        &msg::encode_done(outcome.as_ref().err().map(String::as_str)),
    )
}
