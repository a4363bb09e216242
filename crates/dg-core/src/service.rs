//! The `DeltaGlider` service: the ports it is built from and its configuration.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use dg_ports::{
    BlobRef, Clock, Compressor, Error, Expander, ObjectStorage, ReferenceCache, Result, Staging,
};

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
    /// Compresses references in the native format (without one, only the compatible format is written).
    pub compressor: Option<Arc<dyn Compressor>>,
    /// Sees through gzip and zip in the native format (optional).
    pub expander: Option<Arc<dyn Expander>>,
}

/// How new deltaspaces are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Format {
    /// dg's own format: the reference stored compressed and seen through (gzip, zip, xz, bzip2), deltas
    /// between plain forms. Smallest; Python DeltaGlider cannot read it.
    #[default]
    Native,
    /// Python DeltaGlider's format: `reference.bin` whole, deltas straight against it (VCDIFF
    /// deltas are readable by deltaglider 6.2.0).
    Compat,
}

impl Format {
    /// `native` or `compat`.
    pub fn name(self) -> &'static str {
        match self {
            Format::Native => "native",
            Format::Compat => "compat",
        }
    }
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "native" => Ok(Format::Native),
            "compat" | "python" => Ok(Format::Compat),
            other => Err(format!("unknown format `{other}` (native or compat)")),
        }
    }
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
    /// Format of new deltaspaces (existing ones keep theirs).
    pub format: Format,
    /// How hard native uploads work for smaller objects.
    pub level: dg_ports::Level,
    /// How far the first file of a deltaspace looks for a reference.
    pub reference_scope: crate::nearby::ReferenceScope,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            tool: format!("dg/{}", env!("CARGO_PKG_VERSION")),
            max_ratio: 0.5,
            policy: DeltaPolicy::default(),
            max_object_size: 5 << 40,
            format: Format::Native,
            level: dg_ports::Level::Default,
            reference_scope: crate::nearby::ReferenceScope::default(),
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
    /// Bucket settings read in this process.
    pub settings: Mutex<HashMap<String, crate::BucketSettings>>,
    /// References' indexes of compressed streams met in this process, by SHA-256 (bounded).
    pub indexes: Mutex<Vec<(String, Arc<Vec<u8>>)>>,
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
                settings: Mutex::new(HashMap::new()),
                indexes: Mutex::new(Vec::new()),
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

    pub(crate) fn compressor(&self) -> Result<&Arc<dyn Compressor>> {
        self.inner
            .ports
            .compressor
            .as_ref()
            .ok_or_else(|| Error::Unsupported {
                what: "dg's native format without a compressor".into(),
            })
    }

    pub(crate) fn expander(&self) -> Option<&Arc<dyn Expander>> {
        self.inner.ports.expander.as_ref()
    }

    pub(crate) fn now_iso(&self) -> String {
        crate::timestamp::iso8601(self.inner.ports.clock.now())
    }
}
