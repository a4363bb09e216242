//! One authenticated connection on the server: queries, offers, signatures and files until
//! `Bye`, on a thread of its own.

use std::collections::HashMap;
use std::time::Instant;

use super::conn::Conn;
use super::frame::Kind;
use super::gate::Admitted;
use super::msg::{self, OfferReply};
use super::receive::{self, Pending};
use super::server::Shared;
use super::store::{Plan, Store};
use crate::{Error, Result};

/// Serves `a` to its end: counts its bytes and errors, reports a fatal error to the peer, and
/// saves the content index.
pub(super) fn serve(a: Admitted, shared: &Shared) -> Result<()> {
    let mut conn = Conn::new(a.stream, shared.timeout)?;
    conn.received = a.received;
    let result = conn
        .send_now(
            Kind::AuthOk,
            &shared
                .token
                .server_proof(&a.server_nonce, &a.client_nonce)?,
        )
        .and_then(|()| serve_conn(&mut conn, &shared.store));
    let received = conn.received;
    shared.store.stats.bump(|s| {
        s.wire_bytes += received;
        if matches!(result, Err(Error::Protocol { .. })) {
            s.protocol_errors += 1;
        }
    });
    if let Err(e) = &result {
        if !matches!(e, Error::Network { .. }) {
            conn.send_error(&e.to_string());
        }
    }
    if let Err(e) = shared.store.save_index() {
        tracing::warn!(error = %e, "content index not saved");
    }
    result
}

fn serve_conn(conn: &mut Conn, store: &Store) -> Result<()> {
    let peer = conn.peer.clone();
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
                let statuses: Vec<_> = entries.iter().map(|e| store.status(e)).collect();
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
            Kind::SigRequest => signature(conn, store, &payload, &session)?,
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
    /// Offers waiting for their file stream, by ticket.
    pending: HashMap<u32, Pending>,
}

/// Most offers waiting for their files at once.
const MAX_PENDING: usize = 4096;

/// An offer: refuse, link, skip, or remember it and ask for the file (or a delta).
fn offer(conn: &mut Conn, store: &Store, payload: &[u8], session: &mut Session) -> Result<()> {
    let (ticket, e, hash) = msg::decode_offer(payload, &conn.peer.clone())?;
    let started = Instant::now();
    let planned = store.plan(&e, &hash);
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
        Ok(Plan::Receive { has_old }) => {
            if session.pending.len() >= MAX_PENDING {
                return Err(Error::Protocol {
                    peer: conn.peer.clone(),
                    what: "too many offers without files".into(),
                });
            }
            let reply = if has_old {
                OfferReply::SendDelta
            } else {
                OfferReply::SendFull
            };
            session.pending.insert(
                ticket,
                Pending {
                    entry: e,
                    hash,
                    has_old,
                },
            );
            conn.send_now(Kind::OfferReply, &[reply as u8])
        }
    }
}

/// The signature of a pending offer's old version.
fn signature(conn: &mut Conn, store: &Store, payload: &[u8], session: &Session) -> Result<()> {
    let ticket = msg::decode_ticket(payload, &conn.peer.clone())?;
    let old = session
        .pending
        .get(&ticket)
        .filter(|p| p.has_old)
        .map(|p| p.entry.path.as_str());
    receive::send_signature(conn, store, old)
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
