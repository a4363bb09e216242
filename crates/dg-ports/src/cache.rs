//! The reference-cache port: keeps references on hand so each download need not fetch one.

use std::fmt::Debug;

use async_trait::async_trait;

use crate::{BlobRef, Result};

/// A reference cache, content-addressed by the reference's SHA-256 (lowercase hex).
///
/// # Contract (checked by the cache conformance suite in `dg-adapters`)
/// - `get` after `put` of the same digest returns a blob with the same bytes, unless the entry
///   was evicted since (a cache may drop entries at any time to stay within its budget).
/// - `get` of an unknown digest is `Ok(None)`.
/// - An entry that cannot be read back intact (tampered, truncated, written under another key)
///   is removed and reported as `Ok(None)`, never returned.
/// - `remove` of an unknown digest succeeds.
/// - Concurrent use from several tasks (and, for shared on-disk caches, several processes) is
///   safe: a reader sees a whole entry or none.
///
/// The cache does not check that content hashes to its digest: the caller does, and calls
/// `remove` on a mismatch.
#[async_trait]
pub trait ReferenceCache: Send + Sync + Debug + 'static {
    /// The cached blob for `sha256`, if present and intact.
    async fn get(&self, sha256: &str) -> Result<Option<BlobRef>>;

    /// Stores `blob` under `sha256`, replacing any entry.
    async fn put(&self, sha256: &str, blob: BlobRef) -> Result<()>;

    /// Drops the entry for `sha256`.
    async fn remove(&self, sha256: &str) -> Result<()>;
}

/// A cache that keeps nothing: every `get` misses.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoCache;

#[async_trait]
impl ReferenceCache for NoCache {
    async fn get(&self, _sha256: &str) -> Result<Option<BlobRef>> {
        Ok(None)
    }
    async fn put(&self, _sha256: &str, _blob: BlobRef) -> Result<()> {
        Ok(())
    }
    async fn remove(&self, _sha256: &str) -> Result<()> {
        Ok(())
    }
}
