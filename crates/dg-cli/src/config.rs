//! Building a [`Client`]: typed options, optionally completed from the environment.

use std::path::PathBuf;
use std::sync::Arc;

use dg_adapters::cache::CountingCache;
use dg_adapters::storage::{
    RetryCounter, RetryPolicy, RetryingBuckets, RetryingStorage, S3Credentials, S3Storage,
};
use dg_adapters::{
    engine::{LzmaEngine, RsyncEngine, VcdiffEngine, ZstdCompressor, ZstdEngine},
    DirStaging, LocalStorage, MemoryStorage, SeeThrough, SystemClock,
};
use dg_core::{Config, DeltaGlider, EngineSet, Format, Ports, PutRequest};
use dg_ports::{Buckets, Error, ObjectStorage, Result, Staging};

use crate::aws_config::{s3_config, S3Flags};
use crate::cache::CacheConfig;
use crate::client::{Client, Counters};
use crate::settings::Settings;

/// The storage (its calls retried), its bucket administration, and the retry counter.
type Opened = (Arc<dyn ObjectStorage>, Arc<dyn Buckets>, RetryCounter);

/// Options of a [`Client`]; see [`Client::builder`] and [`ClientBuilder::from_env`].
#[derive(Debug)]
pub struct ClientBuilder {
    settings: Settings,
    endpoint: Option<String>,
    region: Option<String>,
    profile: Option<String>,
    credentials: Option<S3Credentials>,
    no_sign_request: bool,
    max_attempts: Option<usize>,
    cache: Option<CacheConfig>,
    staging_dir: Option<PathBuf>,
    staging: Option<Arc<dyn Staging>>,
    in_memory: bool,
    format: Option<Format>,
    max_ratio: Option<f64>,
    engine: Option<String>,
    level: Option<dg_core::Level>,
    reference_scope: Option<dg_core::ReferenceScope>,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        ClientBuilder::new()
    }
}

impl ClientBuilder {
    /// Options given one by one; nothing is read from the environment. Without
    /// [`ClientBuilder::endpoint`] the client talks to AWS S3.
    pub fn new() -> Self {
        ClientBuilder {
            settings: Settings::Explicit,
            endpoint: None,
            region: None,
            profile: None,
            credentials: None,
            no_sign_request: false,
            max_attempts: None,
            cache: None,
            staging_dir: None,
            staging: None,
            in_memory: false,
            format: None,
            max_ratio: None,
            engine: None,
            level: None,
            reference_scope: None,
        }
    }

    /// Options the `dg` command uses: what is not set explicitly comes from the environment
    /// when [`ClientBuilder::build`] runs. `AWS_ENDPOINT_URL` (`file:///DIR` or `http(s)://`),
    /// `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`/`AWS_SESSION_TOKEN`, `AWS_PROFILE` and the
    /// shared `~/.aws` files, `AWS_REGION`, `AWS_MAX_ATTEMPTS`, `DG_CACHE_*`, `DG_TMPDIR`,
    /// `DG_FORMAT`, `DG_MAX_RATIO`, `DG_ENGINE`, `DG_LEVEL`, `DG_REFERENCE_SCOPE`.
    pub fn from_env() -> Self {
        ClientBuilder {
            settings: Settings::Environment,
            ..ClientBuilder::new()
        }
    }

    /// `file:///DIR` for a local directory store (one sub-directory per bucket), or
    /// `http(s)://HOST[:PORT]` for an S3-compatible service (addressed path-style).
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = Some(url.into());
        self
    }

    /// A local directory store: the same as `endpoint("file:///DIR")`.
    pub fn local_dir(self, dir: impl Into<PathBuf>) -> Self {
        let dir = dir.into();
        self.endpoint(format!("file://{}", dir.display()))
    }

    /// Stores in this process's memory (nothing persists; for tests and estimates).
    pub fn in_memory(mut self) -> Self {
        self.in_memory = true;
        self
    }

    /// Stages blobs where `staging` does (e.g. another client's, to share its temp directory).
    pub fn staging(mut self, staging: Arc<dyn Staging>) -> Self {
        self.staging = Some(staging);
        self
    }

    /// The region (default `us-east-1`).
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// A profile of `~/.aws/credentials` and `~/.aws/config`.
    pub fn profile(mut self, name: impl Into<String>) -> Self {
        self.profile = Some(name.into());
        self
    }

    /// Static credentials.
    pub fn credentials(
        mut self,
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<String>,
        session_token: Option<String>,
    ) -> Self {
        self.credentials = Some(S3Credentials {
            access_key_id: access_key_id.into(),
            secret_access_key: secret_access_key.into(),
            session_token,
        });
        self
    }

    /// Unsigned requests (public buckets).
    pub fn no_sign_request(mut self, yes: bool) -> Self {
        self.no_sign_request = yes;
        self
    }

    /// Attempts per storage call, the first included (default 5 for S3, as the AWS CLI, and 3
    /// for a local directory; else `AWS_MAX_ATTEMPTS` from the environment). Transient errors
    /// (5xx, SlowDown, timeouts, dropped connections) are retried with jittered exponential
    /// backoff; see [`Client::retries`].
    pub fn max_attempts(mut self, attempts: usize) -> Self {
        self.max_attempts = Some(attempts);
        self
    }

    /// The reference cache (default: a private encrypted directory, removed with the client).
    pub fn cache(mut self, cache: CacheConfig) -> Self {
        self.cache = Some(cache);
        self
    }

    /// Where references, deltas and downloads are staged (default: the system temp directory).
    pub fn staging_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.staging_dir = Some(dir.into());
        self
    }

    /// Format of new deltaspaces for uploads (default: the bucket's setting, else native).
    pub fn format(mut self, format: Format) -> Self {
        self.format = Some(format);
        self
    }

    /// Uploads store a file whole when its delta exceeds this fraction of it (default 0.5).
    pub fn max_ratio(mut self, ratio: f64) -> Self {
        self.max_ratio = Some(ratio);
        self
    }

    /// Diff engine of new deltas: `vcdiff` (default), `zstd` or `rsync`.
    pub fn engine(mut self, name: impl Into<String>) -> Self {
        self.engine = Some(name.into());
        self
    }

    /// How hard native uploads work for smaller objects (`DG_LEVEL` otherwise; see
    /// [`dg_core::Level`]).
    pub fn level(mut self, level: dg_core::Level) -> Self {
        self.level = Some(level);
        self
    }

    /// How far the first file of a new deltaspace looks for a reference
    /// (`DG_REFERENCE_SCOPE` otherwise; see [`dg_core::ReferenceScope`]).
    pub fn reference_scope(mut self, scope: dg_core::ReferenceScope) -> Self {
        self.reference_scope = Some(scope);
        self
    }

    /// Opens the storage, the cache and the staging directory.
    pub fn build(self) -> Result<Client> {
        let settings = self.settings;
        let (storage, buckets, retries) = self.storage()?;
        let staging_dir = self
            .staging_dir
            .clone()
            .or_else(|| settings.var("DG_TMPDIR").map(PathBuf::from));
        let staging: Arc<dyn Staging> = match (&self.staging, &staging_dir) {
            (Some(given), _) => given.clone(),
            (None, Some(dir)) => Arc::new(DirStaging::new(dir.clone()).map_err(temp_dir_error)?),
            (None, None) => Arc::new(DirStaging::system().map_err(temp_dir_error)?),
        };
        let cache = match (&self.cache, settings) {
            (Some(c), _) => c.clone(),
            (None, Settings::Environment) => CacheConfig::from_env()?,
            (None, Settings::Explicit) => CacheConfig::default(),
        }
        .open(staging_dir)?;
        let put = self.put_defaults()?;
        let counting = CountingCache::new(cache.cache.clone());
        let cache_counts = counting.counts();
        let ports = Ports {
            storage,
            cache: Arc::new(counting),
            staging: staging.clone(),
            engines: engines(),
            clock: Arc::new(SystemClock),
            compressor: Some(Arc::new(ZstdCompressor::default())),
            expander: Some(Arc::new(SeeThrough::default())),
        };
        let dg = DeltaGlider::new(ports, Config::default());
        Ok(Client::new(
            dg,
            buckets,
            staging,
            put,
            cache,
            Counters {
                retries,
                cache: cache_counts,
            },
        ))
    }

    /// Attempts per storage call: the option, else `AWS_MAX_ATTEMPTS`, else `default`.
    fn attempts(&self, default: u32) -> Result<u32> {
        let n = match (self.max_attempts, self.settings.var("AWS_MAX_ATTEMPTS")) {
            (Some(n), _) => n,
            (None, Some(v)) => v.trim().parse::<usize>().map_err(|_| {
                Error::InvalidInput(format!("AWS_MAX_ATTEMPTS={v:?} is not a number"))
            })?,
            (None, None) => return Ok(default),
        };
        if n == 0 {
            return Err(Error::InvalidInput(
                "max attempts must be at least 1 (1: no retries)".into(),
            ));
        }
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    /// Upload options every upload of the client starts from.
    fn put_defaults(&self) -> Result<PutRequest> {
        let settings = self.settings;
        let max_ratio =
            match (self.max_ratio, settings.var("DG_MAX_RATIO")) {
                (Some(r), _) => Some(r),
                (None, Some(v)) => Some(v.trim().parse::<f64>().map_err(|_| {
                    Error::InvalidInput(format!("DG_MAX_RATIO={v:?} is not a number"))
                })?),
                (None, None) => None,
            };
        if let Some(r) = max_ratio {
            if !(r > 0.0 && r <= 1.0) {
                return Err(Error::InvalidInput(format!(
                    "the max ratio must be in (0, 1], got {r}"
                )));
            }
        }
        let format = match (self.format, settings.var("DG_FORMAT")) {
            (Some(f), _) => Some(f),
            (None, Some(v)) => Some(v.parse::<Format>().map_err(Error::InvalidInput)?),
            (None, None) => None,
        };
        let level = explicit_or_env(self.level, &settings, "DG_LEVEL")?;
        let reference_scope =
            explicit_or_env(self.reference_scope, &settings, "DG_REFERENCE_SCOPE")?;
        Ok(PutRequest {
            no_delta: false,
            max_ratio,
            engine: self.engine.clone().or_else(|| settings.var("DG_ENGINE")),
            format,
            level,
            reference_scope,
            metadata: Default::default(),
        })
    }

    /// The storage the endpoint names: a local directory for `file://`, S3 otherwise, its calls
    /// retried; with its bucket administration and the retry counter.
    fn storage(&self) -> Result<Opened> {
        if self.in_memory {
            let memory = Arc::new(MemoryStorage::new());
            let retrying = RetryingStorage::new(memory.clone(), RetryPolicy::attempts(1));
            let retries = retrying.counter();
            return Ok((Arc::new(retrying), memory, retries));
        }
        let endpoint = self
            .endpoint
            .clone()
            .or_else(|| self.settings.var("AWS_ENDPOINT_URL"));
        if let Some(path) = endpoint.as_deref().and_then(|e| e.strip_prefix("file://")) {
            if path.is_empty() {
                return Err(Error::InvalidInput(
                    "--endpoint-url file:// needs a directory, e.g. file:///var/lib/dg".into(),
                ));
            }
            let local = Arc::new(
                LocalStorage::open(PathBuf::from(path)).map_err(|e| match e {
                    Error::Io { source, .. } => {
                        Error::io(format!("opening the local store {path}"), source)
                    }
                    other => other,
                })?,
            );
            let policy = RetryPolicy::attempts(self.attempts(RetryPolicy::LOCAL_ATTEMPTS)?);
            let retrying = RetryingStorage::new(local.clone(), policy);
            let retries = retrying.counter();
            return Ok((Arc::new(retrying), local, retries));
        }
        let config = s3_config(
            &S3Flags {
                endpoint_url: endpoint.as_deref(),
                region: self.region.as_deref(),
                profile: self.profile.as_deref(),
                credentials: self.credentials.clone(),
                no_sign_request: self.no_sign_request,
                max_attempts: Some(self.attempts(RetryPolicy::S3_ATTEMPTS)? as usize),
            },
            self.settings,
        )?;
        let s3 = Arc::new(S3Storage::new(config)?);
        // One schedule and one counter for whole calls and multipart parts alike.
        let retrying = RetryingStorage::with_backoff(s3.clone(), s3.backoff().clone());
        let retries = retrying.counter();
        let buckets = RetryingBuckets::new(s3.clone(), s3.backoff().clone());
        Ok((Arc::new(retrying), Arc::new(buckets), retries))
    }
}

/// A temp directory that could not be prepared, with the setting that chooses another.
fn temp_dir_error(e: Error) -> Error {
    match e {
        Error::Io { source, .. } => Error::io(
            "preparing a temp directory (set DG_TMPDIR to choose one)",
            source,
        ),
        other => other,
    }
}

/// The diff engines, the default (VCDIFF, readable by Python deltaglider) first; dg's native
/// format writes LZMA where it takes the input (reference + file up to 64 MiB). Builds with
/// the `xdelta3` feature add the `xdelta3` crate's engine last, so it writes only when asked for
/// by name and our own decoder reads its deltas.
pub fn engines() -> EngineSet {
    #[allow(unused_mut)]
    let mut engines: Vec<Arc<dyn dg_ports::DiffEngine>> = vec![
        Arc::new(VcdiffEngine::default()),
        Arc::new(LzmaEngine::default()),
        Arc::new(ZstdEngine::default()),
        Arc::new(RsyncEngine::default()),
    ];
    #[cfg(feature = "xdelta3")]
    engines.push(Arc::new(dg_adapters::engine::Xdelta3LibEngine));
    EngineSet::new(engines).with_native_default("lzma")
}

impl Client {
    /// Options set one by one (nothing read from the environment).
    pub fn builder() -> ClientBuilder {
        ClientBuilder::new()
    }

    /// A client configured like the `dg` command: `AWS_ENDPOINT_URL`, AWS credentials and
    /// region, `DG_*` settings (see [`ClientBuilder::from_env`]).
    pub fn from_env() -> Result<Client> {
        ClientBuilder::from_env().build()
    }
}

/// `explicit` when set, else the environment variable `var` parsed (naming it when it is bad).
fn explicit_or_env<T: std::str::FromStr<Err = String>>(
    explicit: Option<T>,
    settings: &Settings,
    var: &str,
) -> Result<Option<T>> {
    match (explicit, settings.var(var)) {
        (Some(value), _) => Ok(Some(value)),
        (None, Some(v)) => v
            .parse()
            .map(Some)
            .map_err(|why| Error::InvalidInput(format!("{var}: {why}"))),
        (None, None) => Ok(None),
    }
}
