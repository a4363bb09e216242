//! Turning flags and environment into a configured service: storage backend, cache, engines.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context as _, Result};
use dg_adapters::{
    engine::{RsyncEngine, VcdiffEngine, ZstdCompressor, ZstdEngine},
    DirStaging, LocalStorage, SystemClock,
};
use dg_core::{Config, DeltaGlider, EngineSet, Ports};
use dg_ports::{Buckets, ObjectStorage, Staging};

use crate::args::Global;

/// Everything a command needs.
pub struct Context {
    pub dg: DeltaGlider,
    pub buckets: Arc<dyn Buckets>,
    pub staging: Arc<dyn Staging>,
    pub quiet: bool,
    /// Keeps a per-run cache directory alive until the command ends.
    pub _cache: crate::cache::CacheSetup,
}

/// The storage a `--endpoint-url` names.
fn storage(endpoint: Option<&str>) -> Result<(Arc<dyn ObjectStorage>, Arc<dyn Buckets>)> {
    let Some(endpoint) = endpoint else {
        bail!("no storage endpoint: pass --endpoint-url file:///DIR (or set AWS_ENDPOINT_URL) to use a local directory store");
    };
    if let Some(path) = endpoint.strip_prefix("file://") {
        if path.is_empty() {
            bail!("--endpoint-url file:// needs a directory, e.g. file:///var/lib/dg");
        }
        let local = Arc::new(
            LocalStorage::new(PathBuf::from(path))
                .with_context(|| format!("opening the local store {path}"))?,
        );
        return Ok((local.clone(), local));
    }
    if endpoint.starts_with("http://") || endpoint.starts_with("https://") {
        bail!("S3 endpoints ({endpoint}) are not supported by this build yet; use file:///DIR for a local store");
    }
    bail!("`{endpoint}` is not an endpoint dg understands (expected file:///DIR)");
}

/// The diff engines, the default (VCDIFF, readable by Python deltaglider) first.
pub fn engines() -> EngineSet {
    EngineSet::new(vec![
        Arc::new(VcdiffEngine::default()),
        Arc::new(ZstdEngine::default()),
        Arc::new(RsyncEngine::default()),
    ])
}

impl Context {
    /// Builds the service for these global flags.
    pub fn new(global: &Global) -> Result<Self> {
        let (storage, buckets) = storage(global.endpoint_url.as_deref())?;
        let staging = match std::env::var_os("DG_TMPDIR") {
            Some(dir) => DirStaging::new(PathBuf::from(dir)),
            None => DirStaging::system(),
        }
        .context("preparing a temp directory (set DG_TMPDIR to choose one)")?;
        let staging: Arc<dyn Staging> = Arc::new(staging);
        let cache = crate::cache::from_env()?;
        let ports = Ports {
            storage,
            cache: cache.cache.clone(),
            staging: staging.clone(),
            engines: engines(),
            clock: Arc::new(SystemClock),
            compressor: Some(Arc::new(ZstdCompressor::default())),
            expander: None,
        };
        Ok(Context {
            dg: DeltaGlider::new(ports, Config::default()),
            buckets,
            staging,
            quiet: global.quiet,
            _cache: cache,
        })
    }
}
