//! The `DeltaGlider` service: the ports it is built from and its configuration.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use dg_ports::{BlobRef, Clock, ObjectStorage, ReferenceCache, Staging};

use crate::engines::EngineSet;
use crate::policy::DeltaPolicy;

/// The ports a [`DeltaGlider`] service works through.
#[derive(Clone, Debug)]
pub struct Ports {
    /// Where objects are stored.
    pub storage: Arc<dyn ObjectStorage>,
    /// Where references are kept between downloads.
    pub cache: Arc<dyn ReferenceCache>,
    /// Scratch space for references, deltas and uploads being prepared.
    pub staging: Arc<dyn Staging>,
    /// Diff engines, the preferred one first.
    pub engines: EngineSet,
    /// The time source for `dg-created-at`.
    pub clock: Arc<dyn Clock>,
}

/// Settings of the domain (typed; the command line builds them from flags and environment).
#[derive(Clone, Debug)]
pub struct Config {
    /// Written as `dg-tool`.
    pub tool: String,
    /// Store a file whole when its delta is larger than this fraction of it (default 0.5).
    pub max_ratio: f64,
    /// Which files get deltas.
    pub policy: DeltaPolicy,
    /// Largest object a download may produce when its size is not recorded (default 5 TiB).
    pub max_object_size: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            tool: format!("dg/{}", env!("CARGO_PKG_VERSION")),
            max_ratio: 0.5,
            policy: DeltaPolicy::default(),
            max_object_size: 5 << 40,
        }
    }
}

/// Stores files as deltas against per-deltaspace references and rebuilds them on download,
/// checking SHA-256 on every write and read. Cheap to clone: clones share state.
#[derive(Clone, Debug)]
pub struct DeltaGlider {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub ports: Ports,
    pub config: Config,
    /// References verified in this process, most recent last (bounded).
    pub verified: Mutex<Vec<(String, BlobRef)>>,
    /// One lock per reference location, so concurrent downloads fetch a reference once.
    pub fetching: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// How many verified references a service keeps at hand.
pub(crate) const VERIFIED_KEEP: usize = 4;

impl DeltaGlider {
    /// A service over `ports` with `config`.
    pub fn new(ports: Ports, config: Config) -> Self {
        DeltaGlider {
            inner: Arc::new(Inner {
                ports,
                config,
                verified: Mutex::new(Vec::new()),
                fetching: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The storage this service writes to.
    pub fn storage(&self) -> &Arc<dyn ObjectStorage> {
        &self.inner.ports.storage
    }

    /// The diff engines.
    pub fn engines(&self) -> &EngineSet {
        &self.inner.ports.engines
    }

    pub(crate) fn staging(&self) -> &Arc<dyn Staging> {
        &self.inner.ports.staging
    }

    pub(crate) fn cache(&self) -> &Arc<dyn ReferenceCache> {
        &self.inner.ports.cache
    }

    pub(crate) fn now_iso(&self) -> String {
        crate::timestamp::iso8601(self.inner.ports.clock.now())
    }
}
