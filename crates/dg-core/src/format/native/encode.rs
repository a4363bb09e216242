//! Encoding a native delta: VCDIFF first, LZMA only where it can pay, the smaller kept.

use std::sync::Arc;

use dg_ports::{BlobRef, DiffEngine, Level, Result};
use tracing::debug;

use super::plain::Plain;
use crate::put::PutRequest;
use crate::service::DeltaGlider;
use crate::upload::Upload;

impl DeltaGlider {
    /// Encodes a native delta with `chosen`, or — when no engine was asked for and `chosen` is
    /// not the first engine (VCDIFF) — with VCDIFF first, then `chosen` (LZMA) only where it
    /// can pay, keeping the smaller. VCDIFF streams and is fast; LZMA's deltas are 20–30%
    /// smaller on text and binaries but it is up to ten times slower on high-entropy data. So
    /// LZMA is skipped when VCDIFF's delta is under 1/[`SECOND_TRY_FLOOR`] of the file (nearly the
    /// same files: LZMA's matches stop at 273 bytes, so its delta cannot go lower) or over
    /// 1/[`SECOND_TRY_CEILING`] (mostly new, incompressible content). Below the best level
    /// (the upload's) LZMA is not tried where VCDIFF made a delta, and at the fast level not at
    /// all. `None`: over `budget`.
    pub(crate) async fn encode_native(
        &self,
        up: &Upload,
        request: &PutRequest,
        chosen: Arc<dyn DiffEngine>,
        basis: &BlobRef,
        plain: &Plain,
        budget: u64,
    ) -> Result<Option<(Arc<dyn DiffEngine>, BlobRef)>> {
        let level = self.level_for(&up.space().bucket, request.level).await?;
        let what = up.dest();
        let (plain, plain_sha) = (&plain.blob, plain.fingerprint.sha256.as_str());
        let first = self
            .engines()
            .fallback(chosen.name())
            .filter(|e| request.engine.is_none() && e.supports(basis.len(), plain.len()).is_ok());
        // `engine`'s delta of the plain form, checked, within `limit` bytes.
        let encode = |engine: Arc<dyn DiffEngine>, limit: u64| {
            let (basis, plain) = (basis.clone(), plain.clone());
            async move {
                self.encode_checked(&engine, basis, plain, plain_sha, limit, what)
                    .await
            }
        };
        let Some(first) = first else {
            let delta = encode(chosen.clone(), budget).await?;
            return Ok(delta.map(|d| (chosen, d)));
        };
        let size = plain.len();
        let Some(fast) = encode(first.clone(), budget).await? else {
            // VCDIFF's delta is over the budget. For a compressed file the budget (a share of
            // the compressed size) can sit far below the ceiling of the plain form, where
            // LZMA's smaller delta may still fit: try it there, not beyond.
            if level == Level::Fast || budget.saturating_mul(SECOND_TRY_CEILING) >= size {
                return Ok(None);
            }
            let delta = encode(chosen.clone(), budget).await?;
            return Ok(delta.map(|d| (chosen, d)));
        };
        // Only the best level spends the second engine's time on a delta VCDIFF already made.
        let pays = level == Level::Best
            && fast.len().saturating_mul(SECOND_TRY_FLOOR) >= size
            && fast.len().saturating_mul(SECOND_TRY_CEILING) <= size;
        if !pays {
            debug!(
                engine = first.name(),
                delta = fast.len(),
                size,
                "{} not tried: the files are nearly the same or mostly new",
                chosen.name()
            );
            return Ok(Some((first, fast)));
        }
        let smaller = encode(chosen.clone(), fast.len().saturating_sub(1)).await?;
        Ok(Some(match smaller {
            Some(d) if d.len() < fast.len() => (chosen, d),
            _ => (first, fast),
        }))
    }
}

/// Below 1/`SECOND_TRY_FLOOR` of the file, VCDIFF's delta is at LZMA's floor (~1 KB per MB).
const SECOND_TRY_FLOOR: u64 = 1000;
/// Above 1/`SECOND_TRY_CEILING` of the file, VCDIFF's delta is mostly new incompressible bytes.
const SECOND_TRY_CEILING: u64 = 4;
