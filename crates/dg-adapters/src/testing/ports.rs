//! The in-memory adapters of every port, in one set-up for tests: what `dg_core::Ports` is
//! built from (`dg_testkit::ports` turns it into one).

use std::sync::Arc;

use dg_ports::{Clock, Compressor, DiffEngine, Expander, ObjectStorage, ReferenceCache, Staging};

use crate::engine::{ZstdCompressor, ZstdEngine};
use crate::{MemoryCache, MemoryStaging, MemoryStorage, SystemClock};

/// The budget of the memory cache [`memory_ports`] gives.
pub const MEMORY_CACHE_BYTES: u64 = 64 << 20;

/// One adapter per port, all in memory. Fields are public: change the ones a test needs with
/// struct update syntax (`MemoryPorts { cache: Arc::new(NoCache), ..memory_ports() }`).
#[derive(Clone, Debug)]
pub struct MemoryPorts {
    /// The store behind `storage`, to inspect what was stored (`create_bucket_now`, `keys`…).
    pub memory: MemoryStorage,
    /// The object storage: `memory` itself unless a test wraps it.
    pub storage: Arc<dyn ObjectStorage>,
    /// A [`MemoryCache`] of [`MEMORY_CACHE_BYTES`].
    pub cache: Arc<dyn ReferenceCache>,
    /// [`MemoryStaging`].
    pub staging: Arc<dyn Staging>,
    /// The diff engines, the preferred one first: [`ZstdEngine`].
    pub engines: Vec<Arc<dyn DiffEngine>>,
    /// [`SystemClock`].
    pub clock: Arc<dyn Clock>,
    /// [`ZstdCompressor`] at its defaults.
    pub compressor: Option<Arc<dyn Compressor>>,
    /// None: tests that see through files name their expander.
    pub expander: Option<Arc<dyn Expander>>,
}

/// Every port in memory, over a fresh [`MemoryStorage`] with no buckets.
pub fn memory_ports() -> MemoryPorts {
    let memory = MemoryStorage::new();
    MemoryPorts {
        storage: Arc::new(memory.clone()),
        memory,
        cache: Arc::new(MemoryCache::new(MEMORY_CACHE_BYTES)),
        staging: Arc::new(MemoryStaging),
        engines: vec![Arc::new(ZstdEngine::default())],
        clock: Arc::new(SystemClock),
        compressor: Some(Arc::new(ZstdCompressor::default())),
        expander: None,
    }
}

/// [`memory_ports`] over `memory` (a store a test keeps a handle to).
pub fn memory_ports_over(memory: &MemoryStorage) -> MemoryPorts {
    MemoryPorts {
        storage: Arc::new(memory.clone()),
        memory: memory.clone(),
        ..memory_ports()
    }
}
