//! The server receiving files: the rsync signature of an old version on request, then the
//! whole file or a delta, decoded within bounds into a temporary file that is checked and
//! renamed.

use std::io::{self, Read};

use fast_rsync::{Signature, SignatureOptions};

use super::conn::Conn;
use super::msg::{Encoding, Entry};
use super::store::{HashingWriter, Store};
use crate::hash::Hash;
use crate::mapped;
use crate::{Error, Result};

/// Largest decoded delta accepted (deltas larger than the file make no sense anyway).
const MAX_DELTA: u64 = 1 << 30;

/// A file the server agreed to receive, waiting for its stream.
#[derive(Debug)]
pub(crate) struct Pending {
    pub entry: Entry,
    pub hash: Hash,
    /// Whether a version was there at the offer (the delta base).
    pub has_old: bool,
}

/// Signature block size for a file of `len` bytes: about √len, 1–64 KiB.
pub(crate) fn block_size(len: u64) -> u32 {
    let root = (len as f64).sqrt() as u64;
    root.next_power_of_two().clamp(1 << 10, 64 << 10) as u32
}

/// Sends the rsync signature of `old` as a `Data` stream (empty if it cannot be read, which
/// makes the client send the whole file).
pub(crate) fn send_signature(conn: &mut Conn, store: &Store, old: Option<&str>) -> Result<()> {
    let started = std::time::Instant::now();
    let sig = old.and_then(|p| load_old(store, p).ok()).map(|bytes| {
        let options = SignatureOptions {
            block_size: block_size(bytes.len() as u64),
            crypto_hash_size: 8,
        };
        Signature::calculate(&bytes, options)
    });
    let peer = conn.peer.clone();
    let mut w = conn.data_writer();
    if let Some(sig) = &sig {
        io::Write::write_all(&mut w, sig.serialized())
            .map_err(|err| Error::Network { peer, source: err })?;
    }
    w.finish()?;
    tracing::debug!(ms = started.elapsed().as_millis(), "signature sent");
    Ok(())
}

/// Receives the stream announced by a `FileHeader` for `p`; returns how it came.
/// `Ok(Err(reason))` is a failure of this file with the connection still in step; `Err`
/// closes the connection.
pub(crate) fn receive(
    conn: &mut Conn,
    store: &Store,
    p: &Pending,
    encoding: Encoding,
    raw_len: u64,
) -> Result<Result<Encoding, String>> {
    let e = &p.entry;
    conn.expect_stream();
    let base = match encoding {
        Encoding::DeltaZstd if p.has_old => load_old(store, &e.path).ok(),
        _ => None,
    };
    // Parents are made only now that the file comes, and the path is opened afresh.
    let (target, file) = match store.create_temp(&e.path) {
        Ok(t) => t,
        Err(why) => {
            conn.skip_stream()?;
            return Ok(Err(why));
        }
    };
    let mut out = HashingWriter::new(file, e.size);
    let size_limit = e.size.saturating_add(1);
    // Compressed input may be a little larger than the file; deltas are bounded separately.
    let wire_limit = e.size.saturating_add(e.size / 8).saturating_add(1 << 20);
    let started = std::time::Instant::now();
    let outcome: io::Result<()> = match (encoding, &base) {
        (Encoding::Raw, _) => {
            let mut r = conn.data_reader(wire_limit);
            io::copy(&mut (&mut r).take(size_limit), &mut out).map(|_| ())
        }
        (Encoding::Zstd, _) => {
            let mut r = conn.data_reader(wire_limit);
            zstd::stream::read::Decoder::new(&mut r)
                .and_then(|mut d| io::copy(&mut (&mut d).take(size_limit), &mut out).map(|_| ()))
        }
        (Encoding::DeltaZstd, Some(bytes))
            if raw_len <= MAX_DELTA.min(e.size.saturating_mul(2).saturating_add(1 << 20)) =>
        {
            match conn.data_reader(wire_limit).into_vec() {
                Ok(compressed) => apply_delta(bytes, &compressed, raw_len, e.size, &mut out),
                Err(err) => Err(io::Error::other(err)),
            }
        }
        (Encoding::DeltaZstd, _) => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "delta refused: no old version to apply it to, or larger than allowed",
        )),
    };
    if conn.broken {
        target.abandon();
        return Err(Error::Protocol {
            peer: conn.peer.clone(),
            what: "stream broken while receiving a file".into(),
        });
    }
    // Whatever stopped the decoder (end of data, a size bound, a write error), read on to `End`.
    conn.skip_stream()?;
    let result = outcome.and_then(|()| out.finish());
    tracing::debug!(path = %e.path, ?encoding, ms = started.elapsed().as_millis(), "file received");
    Ok(match result {
        Ok(got) => store.commit(target, e, &p.hash, got).map(|()| encoding),
        Err(err) => {
            target.abandon();
            Err(err.to_string())
        }
    })
}

/// Decompresses a delta (at most `raw_len` bytes) and applies it to `base` (at most `size` bytes out).
fn apply_delta(
    base: &[u8],
    compressed: &[u8],
    raw_len: u64,
    size: u64,
    out: &mut HashingWriter,
) -> io::Result<()> {
    let mut delta = Vec::new();
    zstd::stream::read::Decoder::new(compressed)?
        .take(raw_len.saturating_add(1))
        .read_to_end(&mut delta)?;
    fast_rsync::apply_limited(base, &delta, out, size as usize).map_err(|err| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("delta does not apply: {err}"),
        )
    })
}

/// Loads the version of `path` there now, never through a link (see `Store::open_old`).
fn load_old(store: &Store, path: &str) -> io::Result<mapped::Bytes> {
    mapped::load(&store.open_old(path)?)
}
