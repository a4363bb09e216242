//! One batch on one connection: query, offer everything needed at once, stream the whole
//! files back to back, then the deltas one by one — so a batch costs a few round trips, not
//! two per file.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use fast_rsync::Signature;

use super::client::{Job, Shared};
use super::conn::Conn;
use super::frame::Kind;
use super::msg::{self, Encoding, Entry, OfferReply, Status};
use crate::hash::{hash_reader, Hash};
use crate::ops::open_regular;
use crate::{mapped, Error, ErrorStrategy, Result};

/// Largest delta built in memory; a file whose delta would be larger goes whole.
const MAX_DELTA: usize = 256 << 20;
/// Largest signature accepted from a server.
const MAX_SIGNATURE: u64 = 256 << 20;

/// Works through the unfinished jobs of `batch` (those with `done[i] == false`), marking each
/// finished one. An error means the connection broke; the caller decides about the rest.
pub(super) fn run_batch(
    sh: &Shared<'_>,
    conn: &mut Conn,
    batch: &[Job],
    done: &mut [bool],
) -> Result<()> {
    let todo: Vec<usize> = (0..batch.len()).filter(|&i| !done[i]).collect();
    let entries: Vec<Entry> = todo.iter().map(|&i| batch[i].entry.clone()).collect();
    conn.send_now(Kind::Query, &msg::encode_query(&entries))?;
    let statuses = msg::decode_statuses(
        &conn.expect(Kind::QueryReply)?,
        &conn.peer.clone(),
        todo.len(),
    )?;

    // Offers, all sent before any answer is read. The ticket is the job's index in the batch.
    let mut offers: Vec<usize> = Vec::new();
    for (&i, status) in todo.iter().zip(statuses) {
        let e = &batch[i].entry;
        match status {
            Status::Have => {
                sh.stats.bump(|s| {
                    if e.is_dir {
                        s.dirs += 1
                    } else {
                        s.files_skipped += 1;
                        s.bytes_skipped += e.size;
                    }
                });
                finish(sh, batch, done, i, Ok(()));
            }
            Status::Refused(reason) => finish(
                sh,
                batch,
                done,
                i,
                Err(Error::Refused {
                    path: e.path.clone(),
                    reason,
                }),
            ),
            Status::Need | Status::NeedHasOld => match read_local(sh, &batch[i].local, hash) {
                Ok(hash) => {
                    conn.send(Kind::Offer, &msg::encode_offer(i as u32, e, &hash))?;
                    offers.push(i);
                }
                Err(err) => finish(sh, batch, done, i, Err(err)),
            },
        }
    }
    conn.flush()?;
    let (mut whole, mut deltas) = (Vec::new(), Vec::new());
    for &i in &offers {
        let e = &batch[i].entry;
        let (kind, payload) = conn.recv()?;
        let peer = conn.peer.clone();
        match kind {
            Kind::Done => {
                let reason = msg::decode_done(&payload, &peer)?.unwrap_or_default();
                finish(
                    sh,
                    batch,
                    done,
                    i,
                    Err(Error::Refused {
                        path: e.path.clone(),
                        reason,
                    }),
                );
            }
            Kind::OfferReply => match msg::decode_offer_reply(&payload, &peer)? {
                reply @ (OfferReply::Linked | OfferReply::Skipped) => {
                    sh.stats.bump(|s| {
                        if reply == OfferReply::Linked {
                            s.files_linked += 1;
                            s.bytes_linked += e.size;
                        } else {
                            s.files_skipped += 1;
                            s.bytes_skipped += e.size;
                        }
                    });
                    finish(sh, batch, done, i, Ok(()));
                }
                OfferReply::SendFull => whole.push(i),
                OfferReply::SendDelta => deltas.push(i),
            },
            other => {
                return Err(Error::Protocol {
                    peer,
                    what: format!("expected OfferReply, got {other:?}"),
                })
            }
        }
    }

    // Whole files back to back; the server answers each with `Done`, read afterwards.
    let mut sent = Vec::new();
    for &i in &whole {
        match read_local(sh, &batch[i].local, open) {
            Ok(mut f) => sent.push((
                i,
                send_whole(
                    conn,
                    i as u32,
                    &mut f,
                    batch[i].entry.size,
                    sh.config.compression_level,
                )?,
            )),
            Err(err) => finish(sh, batch, done, i, Err(err)),
        }
    }
    for (i, bytes) in sent {
        let outcome = read_done(conn, &batch[i].entry)?;
        record(sh, &batch[i].entry, bytes, false, outcome.is_ok());
        finish(sh, batch, done, i, outcome);
    }

    // Deltas need the server's signature first: one at a time.
    for &i in &deltas {
        let outcome = send_delta(sh, conn, i, &batch[i])?;
        finish(sh, batch, done, i, outcome);
    }
    Ok(())
}

/// Reads (hashes or opens) a local file, tried again as the error strategy says: a file
/// being rewritten by a build may be missing for a moment.
fn read_local<T>(sh: &Shared<'_>, path: &Path, read: impl Fn(&Path) -> Result<T>) -> Result<T> {
    sh.config.with_retry(|| read(path))
}

/// Opens a local regular file (never waiting on a FIFO swapped in since the listing).
fn open(path: &Path) -> Result<File> {
    open_regular(path)
}

/// Hashes a local regular file.
fn hash(path: &Path) -> Result<Hash> {
    hash_reader(open_regular(path)?).map_err(|err| Error::io(path, err))
}

/// Marks job `i` finished: progress, and the failure (which stops the others unless ignored).
fn finish(sh: &Shared<'_>, batch: &[Job], done: &mut [bool], i: usize, outcome: Result<()>) {
    done[i] = true;
    let job = &batch[i];
    match outcome {
        Ok(()) => sh.tracker.advance(job.entry.size, &job.local),
        Err(err) => {
            tracing::warn!(path = %job.local.display(), error = %err, "not copied");
            sh.failures
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push((job.local.clone(), err));
            if sh.config.error_strategy != ErrorStrategy::Ignore {
                sh.stop.store(true, std::sync::atomic::Ordering::Relaxed);
            }
        }
    }
}

/// Counts a file the server accepted.
fn record(sh: &Shared<'_>, e: &Entry, sent: u64, delta: bool, accepted: bool) {
    if !accepted {
        return;
    }
    sh.stats.bump(|s| {
        s.file_bytes_sent += sent;
        if delta {
            s.files_delta += 1;
            s.bytes_delta += e.size;
            s.delta_bytes_sent += sent;
        } else {
            s.files_copied += 1;
            s.bytes_copied += e.size;
        }
    });
}

/// Reads the server's verdict on a file it received.
fn read_done(conn: &mut Conn, e: &Entry) -> Result<Result<()>> {
    let peer = conn.peer.clone();
    Ok(match msg::decode_done(&conn.expect(Kind::Done)?, &peer)? {
        None => Ok(()),
        Some(reason) => Err(Error::Refused {
            path: e.path.clone(),
            reason,
        }),
    })
}

/// Asks for the signature of the server's version, sends a delta (or the whole file if the
/// delta is not worth it) and reads the verdict.
fn send_delta(sh: &Shared<'_>, conn: &mut Conn, i: usize, job: &Job) -> Result<Result<()>> {
    let e = &job.entry;
    conn.send_now(Kind::SigRequest, &msg::encode_ticket(i as u32))?;
    let sig = conn.data_reader(MAX_SIGNATURE).into_vec()?;
    let mut file = match read_local(sh, &job.local, open) {
        Ok(f) => f,
        Err(err) => {
            // Nothing will be sent for this offer; the server forgets it at the next query.
            return Ok(Err(err));
        }
    };
    let level = sh.config.compression_level;
    let (bytes, delta) = match make_delta(&file, sig, e.size, level) {
        Some((compressed, raw_len)) => {
            conn.send(
                Kind::FileHeader,
                &msg::encode_file_header(i as u32, Encoding::DeltaZstd, raw_len),
            )?;
            let peer = conn.peer.clone();
            let mut w = conn.data_writer();
            io::Write::write_all(&mut w, &compressed)
                .map_err(|err| Error::Network { peer, source: err })?;
            (w.finish()?, true)
        }
        None => (send_whole(conn, i as u32, &mut file, e.size, level)?, false),
    };
    let outcome = read_done(conn, e)?;
    record(sh, e, bytes, delta, outcome.is_ok());
    Ok(outcome)
}

/// An rsync delta of `file` against the server's signature, zstd-compressed, if it is under
/// 90 % of the file; `(compressed, uncompressed length)`.
fn make_delta(file: &File, signature: Vec<u8>, size: u64, level: i32) -> Option<(Vec<u8>, u64)> {
    let started = std::time::Instant::now();
    let signature = Signature::deserialize(signature).ok()?;
    let data = mapped::load(file).ok()?;
    let limit = usize::try_from(size / 2)
        .unwrap_or(MAX_DELTA)
        .min(MAX_DELTA)
        + 4096;
    let mut delta = LimitedVec {
        buf: Vec::new(),
        limit,
    };
    fast_rsync::diff(&signature.index(), &data, &mut delta).ok()?;
    let compressed = zstd::bulk::compress(&delta.buf, level.max(1)).ok()?;
    let (ms, raw, packed) = (
        started.elapsed().as_millis(),
        delta.buf.len(),
        compressed.len(),
    );
    tracing::debug!(ms, raw, packed, "delta built");
    (compressed.len() as u64 * 10 < size * 9).then_some((compressed, delta.buf.len() as u64))
}

/// Sends the whole file as offer `ticket` (zstd unless `level` is 0); returns the stream bytes
/// sent. A read error still ends the stream, so the server sees a short file and refuses it.
fn send_whole(conn: &mut Conn, ticket: u32, file: &mut File, size: u64, level: i32) -> Result<u64> {
    let peer = conn.peer.clone();
    let net = |err| Error::Network {
        peer: peer.clone(),
        source: err,
    };
    io::Seek::rewind(file).map_err(net)?;
    let encoding = if level == 0 {
        Encoding::Raw
    } else {
        Encoding::Zstd
    };
    conn.send(
        Kind::FileHeader,
        &msg::encode_file_header(ticket, encoding, size),
    )?;
    let mut w = conn.data_writer();
    let mut input = file.take(size);
    if level == 0 {
        let _ = io::copy(&mut input, &mut w);
        return w.finish();
    }
    let mut enc = zstd::stream::write::Encoder::new(w, level).map_err(net)?;
    let _ = io::copy(&mut input, &mut enc);
    enc.finish().map_err(net)?.finish()
}

/// A `Vec` writer that refuses to grow past `limit` (a delta that large is not worth it).
struct LimitedVec {
    buf: Vec<u8>,
    limit: usize,
}

impl io::Write for LimitedVec {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.buf.len() + data.len() > self.limit {
            return Err(io::Error::other("delta larger than half the file"));
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
