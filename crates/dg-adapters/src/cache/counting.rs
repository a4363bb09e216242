//! A decorator that counts the hits and misses of any reference cache, for metrics.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use dg_ports::{BlobRef, ReferenceCache, Result};

/// Hits and misses so far; clones count together.
#[derive(Clone, Debug, Default)]
pub struct CacheCounts {
    hits: Arc<AtomicU64>,
    misses: Arc<AtomicU64>,
}

impl CacheCounts {
    /// `get`s that found their entry.
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    /// `get`s that found nothing.
    pub fn misses(&self) -> u64 {
        self.misses.load(Ordering::Relaxed)
    }
}

/// `inner`, with every `get` counted as a hit or a miss.
#[derive(Debug)]
pub struct CountingCache {
    inner: Arc<dyn ReferenceCache>,
    counts: CacheCounts,
}

impl CountingCache {
    /// Counts the gets of `inner`.
    pub fn new(inner: Arc<dyn ReferenceCache>) -> Self {
        CountingCache {
            inner,
            counts: CacheCounts::default(),
        }
    }

    /// The live counts.
    pub fn counts(&self) -> CacheCounts {
        self.counts.clone()
    }
}

#[async_trait]
impl ReferenceCache for CountingCache {
    async fn get(&self, sha256: &str) -> Result<Option<BlobRef>> {
        let got = self.inner.get(sha256).await?;
        let counter = if got.is_some() {
            &self.counts.hits
        } else {
            &self.counts.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        Ok(got)
    }

    async fn put(&self, sha256: &str, blob: BlobRef) -> Result<()> {
        self.inner.put(sha256, blob).await
    }

    async fn remove(&self, sha256: &str) -> Result<()> {
        self.inner.remove(sha256).await
    }
}
