//! The diff-engine port: encode a target against a reference into a delta, and back.

use std::fmt::Debug;
use std::io::{Read, Write};

use crate::Result;

/// A binary delta codec (VCDIFF, zstd patch-from, rsync…).
///
/// Engines are synchronous and CPU-bound: callers run them on a blocking thread. The reference
/// is a byte slice (usually a memory map, so it may exceed RAM); the target and the delta are
/// streamed.
///
/// # Contract (checked by the engine conformance suite in `dg-adapters`)
/// - `decode(r, encode(r, t))` yields `t` exactly, for every `r` and `t` that
///   [`DiffEngine::supports`] accepts, including empty ones.
/// - `decode` never panics and never writes more than `max_output` bytes: on hostile or corrupt
///   input it returns an error (usually `InvalidData` or `LimitExceeded`).
/// - Every delta an engine writes starts with bytes that [`DiffEngine::recognizes`] accepts, so
///   readers choose the decoder from the delta itself, not from metadata.
pub trait DiffEngine: Send + Sync + Debug + 'static {
    /// Short stable name, recorded in metadata and accepted by `--engine` (`vcdiff`, `zstd`…).
    fn name(&self) -> &'static str;

    /// `Ok(())` when this engine can encode a target of `target_len` bytes against a reference of
    /// `reference_len` bytes; otherwise `Unsupported`/`LimitExceeded` saying why.
    fn supports(&self, reference_len: u64, target_len: u64) -> Result<()>;

    /// True when `delta_prefix` (the first bytes of a delta, up to 16) is this engine's format.
    fn recognizes(&self, delta_prefix: &[u8]) -> bool;

    /// Writes a delta of `target` against `reference` to `out`.
    fn encode(&self, reference: &[u8], target: &mut dyn Read, out: &mut dyn Write) -> Result<()>;

    /// Rebuilds the target from `reference` and `delta` into `out`; returns the bytes written.
    fn decode(
        &self,
        reference: &[u8],
        delta: &mut dyn Read,
        out: &mut dyn Write,
        max_output: u64,
    ) -> Result<u64>;

    /// The command line of the reference tool that makes the same kind of delta, recorded as
    /// `dg-delta-cmd` (informational).
    fn command_hint(&self) -> &'static str;
}
