//! The reference cache, configured from the environment as Python deltaglider does:
//! `DG_CACHE_BACKEND`, `DG_CACHE_DIR`, `DG_CACHE_ENCRYPTION_KEY`, `DG_CACHE_MEMORY_SIZE_MB`,
//! `DG_CACHE_MAX_SIZE_MB`.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context as _, Result};
use base64::Engine as _;
use dg_adapters::cache::random_key;
use dg_adapters::{EncryptedCache, FsCache, MemoryCache};
use dg_ports::ReferenceCache;

/// How references are cached in this run.
pub struct CacheSetup {
    pub cache: Arc<dyn ReferenceCache>,
    pub description: String,
    /// The on-disk cache, when there is one (for `dg cache info/clear`).
    pub fs: Option<FsCache>,
    /// True when the cache outlives this process.
    pub shared: bool,
    /// A per-process cache directory, removed when this is dropped.
    _private: Option<tempfile::TempDir>,
}

fn env_mb(name: &str, default: u64) -> Result<u64> {
    match std::env::var(name) {
        Ok(v) => Ok(v
            .trim()
            .parse::<u64>()
            .with_context(|| format!("{name}={v:?} is not a whole number of MiB"))?
            << 20),
        Err(_) => Ok(default << 20),
    }
}

/// `$DG_CACHE_DIR`, else `$XDG_CACHE_HOME/dg/references`, else `~/.cache/dg/references`.
pub fn default_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("DG_CACHE_DIR") {
        return PathBuf::from(d);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("dg").join("references")
}

fn key_from_env() -> Result<Option<[u8; 32]>> {
    let Ok(text) = std::env::var("DG_CACHE_ENCRYPTION_KEY") else {
        return Ok(None);
    };
    let raw = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(text.trim()))
        .context(
            "DG_CACHE_ENCRYPTION_KEY is not base64 (make one with `openssl rand -base64 32`)",
        )?;
    let key: [u8; 32] = raw.as_slice().try_into().map_err(|_| {
        anyhow::anyhow!(
            "DG_CACHE_ENCRYPTION_KEY must decode to 32 bytes, not {} (make one with `openssl rand -base64 32`)",
            raw.len()
        )
    })?;
    Ok(Some(key))
}

/// Builds the cache this run uses.
pub fn from_env() -> Result<CacheSetup> {
    let backend = std::env::var("DG_CACHE_BACKEND").unwrap_or_else(|_| "filesystem".into());
    match backend.as_str() {
        "memory" => {
            let budget = env_mb("DG_CACHE_MEMORY_SIZE_MB", 100)?;
            Ok(CacheSetup {
                cache: Arc::new(MemoryCache::new(budget)),
                description: format!("memory, {} MiB, this process only", budget >> 20),
                fs: None,
                shared: false,
                _private: None,
            })
        }
        "filesystem" => {
            let max = env_mb("DG_CACHE_MAX_SIZE_MB", 2048)?;
            let temp_dir = std::env::var_os("DG_TMPDIR").map(PathBuf::from);
            match key_from_env()? {
                Some(key) => {
                    let dir = default_dir();
                    let fs = FsCache::new(&dir, max).with_context(|| {
                        format!("opening the reference cache {}", dir.display())
                    })?;
                    let cache = EncryptedCache::new(Arc::new(fs.clone()), &key, temp_dir);
                    Ok(CacheSetup {
                        cache: Arc::new(cache),
                        description: format!(
                            "filesystem at {}, AES-256-GCM with DG_CACHE_ENCRYPTION_KEY, shared between runs, at most {} MiB",
                            dir.display(),
                            max >> 20
                        ),
                        fs: Some(fs),
                        shared: true,
                        _private: None,
                    })
                }
                None => {
                    let base = std::env::var_os("DG_CACHE_DIR")
                        .map(PathBuf::from)
                        .unwrap_or_else(std::env::temp_dir);
                    std::fs::create_dir_all(&base)
                        .with_context(|| format!("creating {}", base.display()))?;
                    let private = tempfile::Builder::new()
                        .prefix("dg-cache-")
                        .tempdir_in(&base)
                        .with_context(|| {
                            format!("creating a cache directory in {}", base.display())
                        })?;
                    let fs = FsCache::new(private.path(), max)?;
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
        other => bail!("DG_CACHE_BACKEND={other:?}: expected `filesystem` or `memory`"),
    }
}
