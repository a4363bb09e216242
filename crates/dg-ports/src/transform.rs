//! Ports for whole-file transforms: a general-purpose compressor, and an expander that "sees
//! through" compressed containers (gzip, zip) so similar files stay similar byte for byte.

use std::fmt::Debug;
use std::io::{Read, Write};

use crate::Result;

/// A general-purpose compressor, used for references stored in dg's native format.
///
/// # Contract
/// - `decompress(compress(x)) == x` for every `x`, streaming both ways.
/// - `decompress` never panics, never writes more than `max_output`, and fails on corrupt or
///   truncated input (the format carries its own checksum).
pub trait Compressor: Send + Sync + Debug + 'static {
    /// Short stable name (`zstd`).
    fn name(&self) -> &'static str;
    /// Compresses all of `input` into `out`.
    fn compress(&self, input: &mut dyn Read, out: &mut dyn Write) -> Result<()>;
    /// Decompresses all of `input` into `out`; returns the bytes written.
    fn decompress(&self, input: &mut dyn Read, out: &mut dyn Write, max_output: u64)
        -> Result<u64>;
}

/// What an expansion did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExpandSummary {
    /// Compressed streams found.
    pub streams: usize,
    /// Streams replaced by their plaintext (reproducible exactly).
    pub reproduced: usize,
    /// Streams kept as raw bytes (could not be reproduced, or not worth it).
    pub kept_raw: usize,
    /// Human-readable remarks (formats found, why streams were kept raw).
    pub notes: Vec<String>,
}

/// Undoes compression inside a file (deflate streams of gzip and zip members) while recording
/// how to redo it bit for bit.
///
/// # Contract
/// - `expand` returns `Some` only when `rebuild(plain, recipe)` reproduces `input` exactly; it
///   checks this itself. Otherwise it returns `None` and whatever it wrote is ignored.
/// - `expand` is deterministic: the same input gives the same plain and recipe.
/// - `rebuild` never panics, never writes more than `max_output`, and fails on inconsistent input.
pub trait Expander: Send + Sync + Debug + 'static {
    /// Short stable name of the recipe format.
    fn name(&self) -> &'static str;
    /// Writes `input`'s plain form and its recipe; `None` when there is nothing to see through.
    fn expand(
        &self,
        input: &[u8],
        plain: &mut dyn Write,
        recipe: &mut dyn Write,
    ) -> Result<Option<ExpandSummary>>;
    /// Recreates the original bytes from a plain form and its recipe; returns the bytes written.
    fn rebuild(
        &self,
        plain: &[u8],
        recipe: &[u8],
        out: &mut dyn Write,
        max_output: u64,
    ) -> Result<u64>;
}
