//! Running a diff engine over blobs: encode within a size budget, decode while hashing.

use std::io::{Read, Write};
use std::sync::Arc;

use dg_ports::{BlobRef, DiffEngine, Error, Result, Staging};

use crate::digest::{HashingWriter, LimitedWriter};

/// What encoding produced.
#[derive(Debug)]
pub enum Encoded {
    /// The delta, within budget.
    Delta(BlobRef),
    /// The delta would have exceeded the budget; encoding stopped early.
    OverBudget,
}

/// Encodes `target` against `reference` into a staged blob, giving up once the delta exceeds
/// `budget` bytes. Call from a blocking thread.
pub fn encode(
    engine: &dyn DiffEngine,
    reference: &BlobRef,
    target: &BlobRef,
    staging: &Arc<dyn Staging>,
    budget: u64,
) -> Result<Encoded> {
    let reference_bytes = reference.map()?;
    let mut target_reader = target.reader()?;
    let mut out = LimitedWriter::new(staging.create()?, budget);
    match engine.encode(&reference_bytes, &mut target_reader, &mut out) {
        Ok(()) => {
            out.flush()
                .map_err(|e| Error::io("writing a delta to local disk", e))?;
            Ok(Encoded::Delta(out.into_inner().finish()?))
        }
        Err(_) if out.exceeded() => Ok(Encoded::OverBudget),
        Err(e) => Err(e),
    }
}

/// Decodes `delta` against `reference` into `out`, at most `max_output` bytes.
/// Returns `out`, the SHA-256 and the length of what was written. Call from a blocking thread.
pub fn decode<W: Write>(
    engine: &dyn DiffEngine,
    reference: &BlobRef,
    delta: &BlobRef,
    out: W,
    max_output: u64,
) -> Result<(W, String, u64)> {
    let reference_bytes = reference.map()?;
    let mut delta_reader = delta.reader()?;
    let mut hashing = HashingWriter::new(out);
    engine.decode(
        &reference_bytes,
        &mut delta_reader,
        &mut hashing,
        max_output,
    )?;
    hashing
        .flush()
        .map_err(|e| Error::io("writing a rebuilt file", e))?;
    Ok(hashing.finish())
}

/// The first bytes of a blob, for recognising formats.
pub fn head(blob: &BlobRef, n: usize) -> Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(n);
    blob.reader()?
        .take(n as u64)
        .read_to_end(&mut buf)
        .map_err(|e| Error::io("reading the start of a file", e))?;
    Ok(buf)
}
