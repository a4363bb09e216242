//! Turning flags and environment into a configured service: storage backend, cache, engines.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context as _, Result};
use dg_adapters::storage::S3Storage;
use dg_adapters::{
    engine::{RsyncEngine, VcdiffEngine, ZstdCompressor, ZstdEngine},
    DirStaging, LocalStorage, SeeThrough, SystemClock,
};
use dg_core::{Config, DeltaGlider, EngineSet, Ports};
use dg_ports::{Buckets, ObjectStorage, Staging};

use crate::args::Global;
use crate::aws_config::{s3_config, S3Flags};

/// Everything a command needs.
pub struct Context {
    pub dg: DeltaGlider,
    pub buckets: Arc<dyn Buckets>,
    pub staging: Arc<dyn Staging>,
    pub quiet: bool,
    /// One JSON object per line instead of text.
    pub json: bool,
    /// Files transferred at once.
    pub jobs: usize,
    /// Keeps a per-run cache directory alive until the command ends.
    pub _cache: crate::cache::CacheSetup,
}

/// The storage the global flags name: a local directory for `file://`, S3 otherwise.
fn storage(global: &Global) -> Result<(Arc<dyn ObjectStorage>, Arc<dyn Buckets>)> {
    let endpoint = global.endpoint_url.clone().or_else(|| {
        std::env::var("AWS_ENDPOINT_URL")
            .ok()
            .filter(|e| !e.is_empty())
    });
    if let Some(path) = endpoint.as_deref().and_then(|e| e.strip_prefix("file://")) {
        if path.is_empty() {
            bail!("--endpoint-url file:// needs a directory, e.g. file:///var/lib/dg");
        }
        let local = Arc::new(
            LocalStorage::new(PathBuf::from(path))
                .with_context(|| format!("opening the local store {path}"))?,
        );
        return Ok((local.clone(), local));
    }
    let config = s3_config(&S3Flags {
        endpoint_url: endpoint.as_deref(),
        region: global.region.as_deref(),
        profile: global.profile.as_deref(),
        no_sign_request: global.no_sign_request,
    })?;
    let s3 = Arc::new(S3Storage::new(config)?);
    Ok((s3.clone(), s3))
}

/// The diff engines, the default (VCDIFF, readable by Python deltaglider) first.
pub fn engines() -> EngineSet {
    EngineSet::new(vec![
        Arc::new(VcdiffEngine::default()),
        Arc::new(ZstdEngine::default()),
        Arc::new(RsyncEngine::default()),
    ])
}

/// `-j N`, or the number of CPUs (at most 16).
fn jobs(flag: Option<usize>) -> Result<usize> {
    match flag {
        Some(0) => crate::exit::usage!("-j/--jobs must be at least 1"),
        Some(n) => Ok(n),
        None => Ok(std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(4)
            .min(16)),
    }
}

impl Context {
    /// Builds the service for these global flags.
    pub fn new(global: &Global) -> Result<Self> {
        let (storage, buckets) = storage(global)?;
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
            expander: Some(Arc::new(SeeThrough::default())),
        };
        Ok(Context {
            dg: DeltaGlider::new(ports, Config::default()),
            buckets,
            staging,
            quiet: global.quiet,
            json: global.json,
            jobs: jobs(global.jobs)?,
            _cache: cache,
        })
    }
}
