//! The reference cache: typed settings ([`CacheConfig`]), read from the environment as Python
//! deltaglider does (`DG_CACHE_BACKEND`, `DG_CACHE_DIR`, `DG_CACHE_ENCRYPTION_KEY`,
//! `DG_CACHE_MEMORY_SIZE_MB`, `DG_CACHE_MAX_SIZE_MB`), and opened into a [`CacheSetup`].

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use base64::Engine as _;
use dg_adapters::cache::random_key;
use dg_adapters::{EncryptedCache, FsCache, MemoryCache};
use dg_ports::{Error, ReferenceCache, Result};

use crate::settings::Settings;

/// Default size cap of the on-disk cache.
const DEFAULT_DISK_MB: u64 = 2048;
/// Default size of the memory cache.
const DEFAULT_MEMORY_MB: u64 = 100;

/// A 32-byte AES-256-GCM key for a shared on-disk cache (never printed).
#[derive(Clone)]
pub struct CacheKey(pub [u8; 32]);

impl fmt::Debug for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CacheKey(..)")
    }
}

impl CacheKey {
    /// Parses base64 of 32 bytes (`openssl rand -base64 32`).
    pub fn from_base64(text: &str) -> Result<Self> {
        let text = text.trim();
        let raw = base64::engine::general_purpose::STANDARD
            .decode(text)
            .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(text))
            .map_err(|_| {
                Error::InvalidInput(
                    "DG_CACHE_ENCRYPTION_KEY is not base64 (make one with `openssl rand -base64 32`)"
                        .into(),
                )
            })?;
        let key: [u8; 32] = raw.as_slice().try_into().map_err(|_| {
            Error::InvalidInput(format!(
                "DG_CACHE_ENCRYPTION_KEY must decode to 32 bytes, not {} (make one with `openssl rand -base64 32`)",
                raw.len()
            ))
        })?;
        Ok(CacheKey(key))
    }
}

/// Where verified references are kept between downloads.
#[derive(Clone, Debug)]
pub enum CacheConfig {
    /// On disk, AES-256-GCM encrypted with a key of this client only, in a directory removed when
    /// the client is dropped (the default).
    Private {
        /// Parent of the private directory; `None` for the system temp directory.
        parent: Option<PathBuf>,
        /// Size cap; least recently used entries are evicted.
        max_bytes: u64,
    },
    /// On disk, encrypted with `key`: shared by every client and process that uses the key.
    Shared {
        /// The cache directory (`dg` uses `~/.cache/dg/references`).
        dir: PathBuf,
        /// Every process sharing the cache uses the same key.
        key: CacheKey,
        /// Size cap; least recently used entries are evicted.
        max_bytes: u64,
    },
    /// In memory, this client only.
    Memory {
        /// Size cap; least recently used entries are evicted.
        max_bytes: u64,
    },
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig::Private {
            parent: None,
            max_bytes: DEFAULT_DISK_MB << 20,
        }
    }
}

fn env_mb(settings: Settings, name: &str, default: u64) -> Result<u64> {
    match settings.var(name) {
        Some(v) => Ok(v.trim().parse::<u64>().map_err(|_| {
            Error::InvalidInput(format!("{name}={v:?} is not a whole number of MiB"))
        })? << 20),
        None => Ok(default << 20),
    }
}

/// `$DG_CACHE_DIR`, else `$XDG_CACHE_HOME/dg/references`, else `~/.cache/dg/references`.
pub fn default_dir() -> PathBuf {
    let settings = Settings::Environment;
    if let Some(d) = settings.var("DG_CACHE_DIR") {
        return PathBuf::from(d);
    }
    let base = settings
        .var("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| crate::settings::home().map(|h| h.join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("dg").join("references")
}

impl CacheConfig {
    /// The cache the environment describes.
    pub fn from_env() -> Result<Self> {
        let settings = Settings::Environment;
        let backend = settings
            .var("DG_CACHE_BACKEND")
            .unwrap_or_else(|| "filesystem".into());
        match backend.as_str() {
            "memory" => Ok(CacheConfig::Memory {
                max_bytes: env_mb(settings, "DG_CACHE_MEMORY_SIZE_MB", DEFAULT_MEMORY_MB)?,
            }),
            "filesystem" => {
                let max_bytes = env_mb(settings, "DG_CACHE_MAX_SIZE_MB", DEFAULT_DISK_MB)?;
                match settings.var("DG_CACHE_ENCRYPTION_KEY") {
                    Some(text) => Ok(CacheConfig::Shared {
                        dir: default_dir(),
                        key: CacheKey::from_base64(&text)?,
                        max_bytes,
                    }),
                    None => Ok(CacheConfig::Private {
                        parent: settings.var("DG_CACHE_DIR").map(PathBuf::from),
                        max_bytes,
                    }),
                }
            }
            other => Err(Error::InvalidInput(format!(
                "DG_CACHE_BACKEND={other:?}: expected `filesystem` or `memory`"
            ))),
        }
    }

    /// Opens the cache; encrypted entries are staged in `temp_dir` (default: the system's).
    pub fn open(&self, temp_dir: Option<PathBuf>) -> Result<CacheSetup> {
        match self {
            CacheConfig::Memory { max_bytes } => Ok(CacheSetup {
                cache: Arc::new(MemoryCache::new(*max_bytes)),
                description: format!("memory, {} MiB, this process only", max_bytes >> 20),
                fs: None,
                shared: false,
                _private: None,
            }),
            CacheConfig::Shared {
                dir,
                key,
                max_bytes,
            } => {
                let fs = FsCache::new(dir, *max_bytes).map_err(|e| {
                    context(e, format!("opening the reference cache {}", dir.display()))
                })?;
                let cache = EncryptedCache::new(Arc::new(fs.clone()), &key.0, temp_dir);
                Ok(CacheSetup {
                    cache: Arc::new(cache),
                    description: format!(
                        "filesystem at {}, AES-256-GCM with DG_CACHE_ENCRYPTION_KEY, shared between runs, at most {} MiB",
                        dir.display(),
                        max_bytes >> 20
                    ),
                    fs: Some(fs),
                    shared: true,
                    _private: None,
                })
            }
            CacheConfig::Private { parent, max_bytes } => {
                let base = parent.clone().unwrap_or_else(std::env::temp_dir);
                std::fs::create_dir_all(&base)
                    .map_err(|e| Error::io(format!("creating {}", base.display()), e))?;
                let private = tempfile::Builder::new()
                    .prefix("dg-cache-")
                    .tempdir_in(&base)
                    .map_err(|e| {
                        Error::io(
                            format!("creating a cache directory in {}", base.display()),
                            e,
                        )
                    })?;
                let fs = FsCache::new(private.path(), *max_bytes)?;
                let cache = EncryptedCache::new(Arc::new(fs.clone()), &random_key()?, temp_dir);
                Ok(CacheSetup {
                    cache: Arc::new(cache),
                    description: format!(
                        "filesystem at {}, AES-256-GCM with a key of this run only (set DG_CACHE_ENCRYPTION_KEY to share it between runs)",
                        private.path().display()
                    ),
                    fs: Some(fs),
                    shared: false,
                    _private: Some(private),
                })
            }
        }
    }
}

/// An I/O error with what was being done; other errors as they are.
fn context(e: Error, what: String) -> Error {
    match e {
        Error::Io { source, .. } => Error::io(what, source),
        other => other,
    }
}

/// An opened reference cache.
#[derive(Debug)]
pub struct CacheSetup {
    pub cache: Arc<dyn ReferenceCache>,
    /// Where and how, in words (`dg cache info`).
    pub description: String,
    /// The on-disk cache, when there is one (for `dg cache info/clear`).
    pub fs: Option<FsCache>,
    /// True when the cache outlives this process.
    pub shared: bool,
    /// A per-client cache directory, removed when this is dropped.
    _private: Option<tempfile::TempDir>,
}

/// The cache the environment describes, opened (`DG_TMPDIR` for staging encrypted entries).
pub fn from_env() -> Result<CacheSetup> {
    CacheConfig::from_env()?.open(Settings::Environment.var("DG_TMPDIR").map(PathBuf::from))
}
