//! Moving bytes between async storage streams and blocking writers, hashing on the way.

use std::io::Write;

use bytes::Bytes;
use dg_ports::{ByteStream, Error, Result, StagedBlob};
use futures::StreamExt;

use crate::digest::HashingWriter;

/// Runs CPU- or disk-bound work on the blocking thread pool.
pub async fn blocking<T, F>(f: F) -> Result<T>
where
    F: FnOnce() -> Result<T> + Send + 'static,
    T: Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r,
        Err(join) => Err(Error::Io {
            context: "a background task stopped".into(),
            source: std::io::Error::other(join.to_string()),
        }),
    }
}

/// A staged writer after a stream was written into it.
pub struct Spooled {
    /// The writer, not yet finished.
    pub writer: Box<dyn StagedBlob>,
    /// SHA-256 of what was written.
    pub sha256: String,
    /// Bytes written.
    pub len: u64,
}

/// Writes every chunk of `body` into `out`, at most `limit` bytes, hashing as it goes.
///
/// Disk writes happen on a blocking thread fed through a small bounded channel, so memory
/// stays at a few chunks however large the body is.
pub async fn spool(
    mut body: ByteStream,
    out: Box<dyn StagedBlob>,
    limit: u64,
    what: &str,
) -> Result<Spooled> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(4);
    let what_owned = what.to_string();
    let writer = tokio::task::spawn_blocking(move || -> Result<Spooled> {
        let mut w = HashingWriter::new(out);
        while let Some(chunk) = rx.blocking_recv() {
            w.write_all(&chunk)
                .map_err(|e| Error::io(format!("writing {what_owned} to local disk"), e))?;
        }
        w.flush()
            .map_err(|e| Error::io(format!("writing {what_owned} to local disk"), e))?;
        let (writer, sha256, len) = w.finish();
        Ok(Spooled {
            writer,
            sha256,
            len,
        })
    });

    let mut received: u64 = 0;
    let mut failure = None;
    while let Some(chunk) = body.next().await {
        match chunk {
            Ok(chunk) => {
                received = received.saturating_add(chunk.len() as u64);
                if received > limit {
                    failure = Some(Error::LimitExceeded {
                        what: what.to_string(),
                        limit,
                    });
                    break;
                }
                if tx.send(chunk).await.is_err() {
                    break; // the writer failed; its error is reported below
                }
            }
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    drop(tx);
    let written = match writer.await {
        Ok(r) => r,
        Err(join) => Err(Error::Io {
            context: format!("writing {what} to local disk"),
            source: std::io::Error::other(join.to_string()),
        }),
    };
    match failure {
        Some(e) => Err(e),
        None => written,
    }
}
