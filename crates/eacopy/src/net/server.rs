//! The copy server: a gate thread that accepts and authenticates (see [`gate`](super::gate)),
//! and a thread per authenticated connection that answers queries and offers, writing only
//! under its root.

use std::collections::HashMap;
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::auth::Token;
use super::gate::{self, Admitted, Limits};
use super::session;
use super::stats::TransferStats;
use super::store::Store;
use crate::{Error, Result};

/// The port EACopy's server listens on.
pub const DEFAULT_PORT: u16 = 31337;

/// A copy server for one root directory. Start it, copy to it with
/// [`copy_with_server`](crate::copy_with_server), read its [`stats`](Server::stats), stop it.
///
/// A new connection has 10 s in all to prove the token ([`Server::handshake_timeout`]); at
/// most 64 handshakes run at once, 8 per peer address, and at most 64 authenticated
/// connections ([`Server::max_connections`]). A connection turned away for room is answered
/// "server busy" ([`Error::Busy`] on the client).
#[derive(Debug)]
pub struct Server {
    root: PathBuf,
    bind: SocketAddr,
    token: Token,
    timeout: Duration,
    limits: Limits,
    running: Option<Running>,
    last_stats: TransferStats,
}

#[derive(Debug)]
struct Running {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: JoinHandle<()>,
}

/// What the gate and the connection threads share.
#[derive(Debug)]
pub(super) struct Shared {
    pub store: Store,
    pub token: Token,
    /// Idle timeout of an authenticated connection.
    pub timeout: Duration,
    pub limits: Limits,
    pub stop: AtomicBool,
    next_id: AtomicU64,
    /// Authenticated connections, to close them at stop.
    live: Mutex<HashMap<u64, TcpStream>>,
}

impl Shared {
    /// Whether every place for an authenticated connection is taken.
    pub(super) fn sessions_full(&self) -> bool {
        lock(&self.live).len() >= self.limits.max_sessions.max(1)
    }

    /// Serves `a` on a thread of its own; gives the stream back if no thread can be made.
    pub(super) fn start_session(
        self: &Arc<Self>,
        a: Admitted,
    ) -> std::result::Result<(), (TcpStream, std::io::Error)> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        if let Ok(clone) = a.stream.try_clone() {
            lock(&self.live).insert(id, clone);
        }
        let s = self.clone();
        let back = a.stream.try_clone();
        let spawned = std::thread::Builder::new()
            .name(format!("eacopy-conn-{id}"))
            .spawn(move || {
                if let Err(e) = session::serve(a, &s) {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                lock(&s.live).remove(&id);
            });
        match spawned {
            Ok(_) => Ok(()),
            Err(e) => {
                lock(&self.live).remove(&id);
                match back {
                    Ok(stream) => Err((stream, e)),
                    Err(_) => Ok(()), // nothing left to answer on
                }
            }
        }
    }
}

impl Server {
    /// A server for `root`, listening on all interfaces at [`DEFAULT_PORT`] once started.
    pub fn new(root: impl Into<PathBuf>, token: Token) -> Server {
        Server {
            root: root.into(),
            bind: SocketAddr::from((Ipv4Addr::UNSPECIFIED, DEFAULT_PORT)),
            token,
            timeout: Duration::from_secs(300),
            limits: Limits::default(),
            running: None,
            last_stats: TransferStats::default(),
        }
    }

    /// Listens on `addr` instead (port 0 picks a free port; see [`Server::local_addr`]).
    pub fn bind(mut self, addr: SocketAddr) -> Server {
        self.bind = addr;
        self
    }

    /// How long an authenticated connection may stay silent before it is closed (default
    /// 300 s).
    pub fn idle_timeout(mut self, timeout: Duration) -> Server {
        self.timeout = timeout;
        self
    }

    /// How long a new connection has, from its accept, to prove the token — in all, however
    /// it spaces its bytes (default 10 s).
    pub fn handshake_timeout(mut self, timeout: Duration) -> Server {
        self.limits.handshake_timeout = timeout;
        self
    }

    /// Most authenticated connections at work at once (default 64, at least 1); more are
    /// answered "server busy".
    pub fn max_connections(mut self, n: usize) -> Server {
        self.limits.max_sessions = n.max(1);
        self
    }

    /// Opens the root, binds and starts accepting; returns the address listened on.
    pub fn start(&mut self) -> Result<SocketAddr> {
        if let Some(r) = &self.running {
            return Ok(r.addr);
        }
        let store = Store::open(&self.root).map_err(|e| Error::io(&self.root, e))?;
        let connect_err = |e| Error::Connect {
            addr: self.bind.to_string(),
            source: e,
        };
        let listener = TcpListener::bind(self.bind).map_err(connect_err)?;
        let addr = listener.local_addr().map_err(connect_err)?;
        listener.set_nonblocking(true).map_err(connect_err)?;
        let shared = Arc::new(Shared {
            store,
            token: self.token.clone(),
            timeout: self.timeout,
            limits: self.limits,
            stop: AtomicBool::new(false),
            next_id: AtomicU64::new(0),
            live: Mutex::new(HashMap::new()),
        });
        let s = shared.clone();
        let accept = std::thread::Builder::new()
            .name("eacopy-accept".into())
            .spawn(move || gate::run(&listener, &s))
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
        // Wake the gate's poll with a connection of our own.
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
