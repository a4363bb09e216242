//! `copy_with_server`: lists the source, asks the server what it lacks in batches, and sends
//! only that — as a link request, an rsync delta, or a compressed file — over
//! `thread_count` connections.

use std::fs::{self, File};
use std::io::{self, Read, Seek};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use fast_rsync::Signature;

use super::auth::Token;
use super::conn::Conn;
use super::frame::Kind;
use super::msg::{self, Encoding, Entry, OfferReply, Status};
use super::remote::Remote;
use super::stats::{Counters, TransferStats};
use crate::hash::hash_file;
use crate::meta::mtime_ns;
use crate::report::Tracker;
use crate::walk::walk;
use crate::{mapped, Config, Error, ErrorStrategy, Result};

/// Most entries per query (small trees use smaller batches so every connection gets work).
const BATCH: usize = 256;
/// Largest delta built in memory; a file whose delta would be larger goes whole.
const MAX_DELTA: usize = 256 << 20;
/// Largest signature accepted from a server.
const MAX_SIGNATURE: u64 = 256 << 20;

/// One local file or directory and where it goes.
#[derive(Debug)]
struct Job {
    local: PathBuf,
    entry: Entry,
}

/// Everything the workers share.
struct Shared<'a> {
    remote: &'a Remote,
    token: &'a Token,
    config: &'a Config,
    jobs: Vec<Job>,
    batch: usize,
    next: AtomicUsize,
    stop: AtomicBool,
    stats: Counters,
    failures: Mutex<Vec<(PathBuf, Error)>>,
    tracker: Tracker,
}

/// Copies `src` (a file or a directory tree) to the server destination `dest`
/// (`HOST:PORT/path`), sending only what the server lacks. Returns the client's counters.
///
/// A directory's contents go *into* `path`; a file goes *to* `path` (or into it when `dest`
/// ends with `/`). Symlinks are followed (servers never create links). Failures follow the
/// error strategy; with `Retry`, a broken connection is re-opened and the batch resumed.
pub fn copy_with_server(
    src: impl AsRef<Path>,
    dest: &str,
    token: &Token,
    config: &Config,
) -> Result<TransferStats> {
    let src = src.as_ref();
    config.validate()?;
    let remote: Remote = dest.parse()?;
    let (jobs, mut failures) = list(src, &remote, config)?;
    let total = jobs.iter().map(|j| j.entry.size).sum();
    let workers = config.thread_count.min(jobs.len().div_ceil(32)).max(1);
    let shared = Shared {
        remote: &remote,
        token,
        config,
        batch: (jobs.len() / (workers * 4)).clamp(8, BATCH),
        jobs,
        next: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
        stats: Counters::default(),
        failures: Mutex::new(Vec::new()),
        tracker: Tracker::new(config.progress.clone(), total),
    };
    std::thread::scope(|s| {
        for _ in 1..workers {
            s.spawn(|| worker(&shared));
        }
        worker(&shared);
    });
    let mut stats = shared.stats.snapshot();
    failures.extend(
        shared
            .failures
            .into_inner()
            .unwrap_or_else(|p| p.into_inner()),
    );
    stats.files_failed = failures.len() as u64;
    if !failures.is_empty() && config.error_strategy != ErrorStrategy::Ignore {
        return Err(Error::Failed { failures });
    }
    Ok(stats)
}

type Failures = Vec<(PathBuf, Error)>;

/// The jobs for `src`, directories first.
fn list(src: &Path, remote: &Remote, config: &Config) -> Result<(Vec<Job>, Failures)> {
    let join = |rel: &Path| -> Option<String> {
        let rel = rel.to_str()?;
        Some(if remote.path.is_empty() {
            rel.to_string()
        } else {
            format!("{}/{rel}", remote.path)
        })
    };
    let md = fs::metadata(src).map_err(|e| Error::io(src, e))?;
    if !md.is_dir() {
        let name =
            src.file_name()
                .and_then(|n| n.to_str())
                .ok_or_else(|| Error::InvalidConfig {
                    what: format!(
                        "{}: file names sent to a server must be UTF-8",
                        src.display()
                    ),
                })?;
        let path = if remote.path.is_empty() || remote.trailing_slash {
            join(Path::new(name))
        } else {
            Some(remote.path.clone())
        };
        let entry = entry_for(path.unwrap_or_default(), &md);
        return Ok((
            vec![Job {
                local: src.to_path_buf(),
                entry,
            }],
            Vec::new(),
        ));
    }
    let follow = config.clone().follow_symlinks(true);
    let listing = walk(src, &follow)?;
    let mut failures = listing.failures;
    let mut jobs = Vec::with_capacity(listing.dirs.len() + listing.files.len());
    for f in listing.dirs.iter().chain(&listing.files) {
        let local = src.join(&f.rel);
        if f.meta.file_type().is_symlink() {
            failures.push((local.clone(), Error::NotFound { path: local }));
            continue; // a dangling link
        }
        match join(&f.rel) {
            Some(path) => jobs.push(Job {
                entry: entry_for(path, &f.meta),
                local,
            }),
            None => failures.push((
                local.clone(),
                Error::InvalidConfig {
                    what: format!(
                        "{}: file names sent to a server must be UTF-8",
                        local.display()
                    ),
                },
            )),
        }
    }
    Ok((jobs, failures))
}

fn entry_for(path: String, md: &fs::Metadata) -> Entry {
    let is_dir = md.is_dir();
    Entry {
        is_dir,
        path,
        size: if is_dir { 0 } else { md.len() },
        mtime_ns: mtime_ns(md),
        mode: md.mode() & 0o777,
    }
}

fn worker(sh: &Shared<'_>) {
    let timeout = Duration::from_secs(300);
    let mut conn: Option<Conn> = None;
    loop {
        if sh.stop.load(Ordering::Relaxed) {
            break;
        }
        let start = sh.next.fetch_add(sh.batch, Ordering::Relaxed);
        if start >= sh.jobs.len() {
            break;
        }
        let batch = &sh.jobs[start..(start + sh.batch).min(sh.jobs.len())];
        let mut pos = 0;
        let mut attempt = 0;
        while pos < batch.len() {
            let result = match conn.as_mut() {
                Some(c) => run_batch(sh, c, &batch[pos..], &mut pos),
                None => sh.remote.connect(sh.token, timeout).map(|c| {
                    conn = Some(c);
                }),
            };
            let Err(e) = result else { continue };
            if let Some(c) = conn.take() {
                sh.stats.bump(|s| s.wire_bytes += c.sent);
            }
            attempt += 1;
            let retry = sh.config.error_strategy == ErrorStrategy::Retry
                && attempt <= sh.config.retry_count
                && e.is_retryable();
            if retry {
                tracing::debug!(attempt, error = %e, "connection failed; retrying");
                std::thread::sleep(sh.config.retry_delay);
                continue;
            }
            // Give up on the rest of this batch.
            let mut failures = sh.failures.lock().unwrap_or_else(|p| p.into_inner());
            let first = &batch[pos];
            failures.push((first.local.clone(), e));
            for j in &batch[pos + 1..] {
                failures.push((
                    j.local.clone(),
                    Error::Refused {
                        path: j.entry.path.clone(),
                        reason: "connection lost".into(),
                    },
                ));
            }
            if sh.config.error_strategy != ErrorStrategy::Ignore {
                sh.stop.store(true, Ordering::Relaxed);
            }
            break;
        }
    }
    if let Some(mut c) = conn {
        let _ = c.send_now(Kind::Bye, &[]);
        sh.stats.bump(|s| s.wire_bytes += c.sent);
    }
}

/// Queries `jobs` and handles each answer; `pos` counts the jobs finished (for resuming).
fn run_batch(sh: &Shared<'_>, conn: &mut Conn, jobs: &[Job], pos: &mut usize) -> Result<()> {
    let entries: Vec<Entry> = jobs.iter().map(|j| j.entry.clone()).collect();
    conn.send_now(Kind::Query, &msg::encode_query(&entries))?;
    let statuses = msg::decode_statuses(
        &conn.expect(Kind::QueryReply)?,
        &conn.peer.clone(),
        jobs.len(),
    )?;
    for (job, status) in jobs.iter().zip(statuses) {
        let e = &job.entry;
        let outcome = match status {
            Status::Have => {
                sh.stats.bump(|s| {
                    if e.is_dir {
                        s.dirs += 1
                    } else {
                        s.files_skipped += 1;
                        s.bytes_skipped += e.size;
                    }
                });
                Ok(())
            }
            Status::Refused(reason) => Err(Error::Refused {
                path: e.path.clone(),
                reason,
            }),
            Status::Need | Status::NeedHasOld => send_file(sh, conn, job)?,
        };
        match outcome {
            Ok(()) => sh.tracker.advance(e.size, &job.local),
            Err(err) => {
                tracing::warn!(path = %job.local.display(), error = %err, "not copied");
                sh.failures
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push((job.local.clone(), err));
                if sh.config.error_strategy != ErrorStrategy::Ignore {
                    sh.stop.store(true, Ordering::Relaxed);
                }
            }
        }
        *pos += 1;
    }
    Ok(())
}

/// Offers one file and sends what the server asks for. The outer error breaks the
/// connection; the inner one fails only this file.
fn send_file(sh: &Shared<'_>, conn: &mut Conn, job: &Job) -> Result<Result<()>> {
    let e = &job.entry;
    let hash = match hash_file(&job.local) {
        Ok(h) => h,
        Err(err) => return Ok(Err(Error::io(&job.local, err))),
    };
    let mut file = match File::open(&job.local) {
        Ok(f) => f,
        Err(err) => return Ok(Err(Error::io(&job.local, err))),
    };
    conn.send_now(Kind::Offer, &msg::encode_offer(e, &hash))?;
    let (kind, payload) = conn.recv()?;
    let peer = conn.peer.clone();
    if kind == Kind::Done {
        let reason = msg::decode_done(&payload, &peer)?.unwrap_or_default();
        return Ok(Err(Error::Refused {
            path: e.path.clone(),
            reason,
        }));
    }
    if kind != Kind::OfferReply {
        return Err(Error::Protocol {
            peer,
            what: format!("expected OfferReply, got {kind:?}"),
        });
    }
    let reply = msg::decode_offer_reply(&payload, &peer)?;
    let (sent, delta) = match reply {
        OfferReply::Linked | OfferReply::Skipped => {
            sh.stats.bump(|s| {
                if reply == OfferReply::Linked {
                    s.files_linked += 1;
                    s.bytes_linked += e.size;
                } else {
                    s.files_skipped += 1;
                    s.bytes_skipped += e.size;
                }
            });
            return Ok(Ok(()));
        }
        OfferReply::SendDelta => {
            let sig = conn.data_reader(MAX_SIGNATURE).into_vec()?;
            match make_delta(&file, sig, e.size, sh.config.compression_level) {
                Some((compressed, raw_len)) => {
                    conn.send(
                        Kind::FileHeader,
                        &msg::encode_file_header(Encoding::DeltaZstd, raw_len),
                    )?;
                    let mut w = conn.data_writer();
                    io::Write::write_all(&mut w, &compressed).map_err(|err| Error::Network {
                        peer: peer.clone(),
                        source: err,
                    })?;
                    (w.finish()?, true)
                }
                None => (
                    send_whole(conn, &mut file, e.size, sh.config.compression_level)?,
                    false,
                ),
            }
        }
        OfferReply::SendFull => (
            send_whole(conn, &mut file, e.size, sh.config.compression_level)?,
            false,
        ),
    };
    let done = msg::decode_done(&conn.expect(Kind::Done)?, &peer)?;
    if let Some(reason) = done {
        return Ok(Err(Error::Refused {
            path: e.path.clone(),
            reason,
        }));
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
    Ok(Ok(()))
}

/// An rsync delta of `file` against the server's signature, zstd-compressed, if it is smaller
/// than the file; `(compressed, uncompressed length)`.
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

/// Sends the whole file (zstd unless `level` is 0); returns the stream bytes sent. A read
/// error still ends the stream, so the server sees a short file and refuses it.
fn send_whole(conn: &mut Conn, file: &mut File, size: u64, level: i32) -> Result<u64> {
    let peer = conn.peer.clone();
    let net = |err| Error::Network {
        peer: peer.clone(),
        source: err,
    };
    file.rewind().map_err(net)?;
    let encoding = if level == 0 {
        Encoding::Raw
    } else {
        Encoding::Zstd
    };
    conn.send(Kind::FileHeader, &msg::encode_file_header(encoding, size))?;
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
