//! A reference cache in a directory: one file per reference, named by its SHA-256, written
//! atomically, bounded in size (least recently used entries are evicted first).

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use async_trait::async_trait;
use dg_ports::{BlobRef, Error, ReferenceCache, Result};
use tracing::debug;

use crate::blob::HandleBlob;

/// One cache entry on disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheEntry {
    /// The reference's SHA-256.
    pub sha256: String,
    /// Bytes on disk.
    pub size: u64,
    /// Last use.
    pub used: Option<SystemTime>,
}

/// References as files `DIR/<sha256>.ref`, at most `max_bytes` in total.
///
/// Entries are written to `DIR/tmp/` and renamed into place, so readers (in this process or
/// another) see whole entries or none. A reader keeps its open handle, so eviction by another
/// process never pulls an entry from under it. The directory is created private to the user.
#[derive(Clone, Debug)]
pub struct FsCache {
    dir: PathBuf,
    max_bytes: u64,
}

const SUFFIX: &str = ".ref";

fn valid_key(sha256: &str) -> Result<()> {
    if sha256.len() == 64 && sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(Error::InvalidInput(format!(
            "`{sha256}` is not a SHA-256 cache key"
        )))
    }
}

fn private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

impl FsCache {
    /// A cache in `dir` (created, private to the user) holding at most `max_bytes`.
    pub fn new(dir: impl Into<PathBuf>, max_bytes: u64) -> Result<Self> {
        let dir = dir.into();
        private_dir(&dir.join("tmp"))
            .map_err(|e| Error::from_io(dir.display(), "creating the cache directory", e))?;
        Ok(FsCache { dir, max_bytes })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The size budget.
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    fn path(&self, sha256: &str) -> PathBuf {
        self.dir
            .join(format!("{}{SUFFIX}", sha256.to_ascii_lowercase()))
    }

    /// Every entry, least recently used first.
    pub fn entries(&self) -> Result<Vec<CacheEntry>> {
        let mut out = Vec::new();
        let list = fs::read_dir(&self.dir)
            .map_err(|e| Error::from_io(self.dir.display(), "listing", e))?;
        for entry in list.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(sha256) = name.strip_suffix(SUFFIX) else {
                continue;
            };
            let Ok(meta) = entry.metadata() else {
                continue; // evicted meanwhile
            };
            out.push(CacheEntry {
                sha256: sha256.to_string(),
                size: meta.len(),
                used: meta.modified().ok(),
            });
        }
        out.sort_by_key(|e| e.used);
        Ok(out)
    }

    /// Removes every entry and leftover temp file; returns the bytes freed.
    pub fn clear(&self) -> Result<u64> {
        let mut freed = 0;
        for e in self.entries()? {
            if fs::remove_file(self.path(&e.sha256)).is_ok() {
                freed += e.size;
            }
        }
        if let Ok(tmp) = fs::read_dir(self.dir.join("tmp")) {
            for t in tmp.flatten() {
                let _ = fs::remove_file(t.path());
            }
        }
        Ok(freed)
    }

    /// Evicts least recently used entries until the cache fits its budget, sparing `keep`.
    fn evict(&self, keep: &str) -> Result<()> {
        let entries = self.entries()?;
        let mut total: u64 = entries.iter().map(|e| e.size).sum();
        for e in entries {
            if total <= self.max_bytes {
                break;
            }
            if e.sha256 == keep {
                continue;
            }
            match fs::remove_file(self.path(&e.sha256)) {
                Ok(()) => {
                    debug!(sha256 = %e.sha256, size = e.size, "evicted from the reference cache");
                    total = total.saturating_sub(e.size);
                }
                Err(err) if err.kind() == io::ErrorKind::NotFound => {
                    total = total.saturating_sub(e.size);
                }
                Err(err) => {
                    return Err(Error::from_io(
                        self.path(&e.sha256).display(),
                        "evicting",
                        err,
                    ))
                }
            }
        }
        Ok(())
    }

    fn get_blocking(&self, sha256: &str) -> Result<Option<BlobRef>> {
        valid_key(sha256)?;
        let path = self.path(sha256);
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::from_io(path.display(), "opening", e)),
        };
        let len = file
            .metadata()
            .map_err(|e| Error::from_io(path.display(), "reading", e))?
            .len();
        // Mark as recently used; a read-only cache directory only loses LRU order.
        if let Ok(w) = fs::OpenOptions::new().write(true).open(&path) {
            let _ = w.set_modified(SystemTime::now());
        }
        Ok(Some(HandleBlob::shared(file, len)))
    }

    fn put_blocking(&self, sha256: &str, blob: &BlobRef) -> Result<()> {
        valid_key(sha256)?;
        if blob.len() > self.max_bytes {
            return Ok(()); // would evict everything else and still not fit
        }
        let tmp_dir = self.dir.join("tmp");
        let mut tmp = tempfile::NamedTempFile::new_in(&tmp_dir)
            .map_err(|e| Error::from_io(tmp_dir.display(), "writing to", e))?;
        let mut reader = blob.reader()?;
        io::copy(&mut reader, tmp.as_file_mut())
            .map_err(|e| Error::io("writing a cache entry", e))?;
        tmp.persist(self.path(sha256))
            .map_err(|e| Error::io("placing a cache entry", e.error))?;
        self.evict(sha256)
    }

    fn remove_blocking(&self, sha256: &str) -> Result<()> {
        valid_key(sha256)?;
        match fs::remove_file(self.path(sha256)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::from_io(self.path(sha256).display(), "removing", e)),
        }
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Io {
            context: "a cache task stopped".into(),
            source: io::Error::other(e.to_string()),
        })?
}

#[async_trait]
impl ReferenceCache for FsCache {
    async fn get(&self, sha256: &str) -> Result<Option<BlobRef>> {
        let (this, key) = (self.clone(), sha256.to_string());
        blocking(move || this.get_blocking(&key)).await
    }

    async fn put(&self, sha256: &str, blob: BlobRef) -> Result<()> {
        let (this, key) = (self.clone(), sha256.to_string());
        blocking(move || this.put_blocking(&key, &blob)).await
    }

    async fn remove(&self, sha256: &str) -> Result<()> {
        let (this, key) = (self.clone(), sha256.to_string());
        blocking(move || this.remove_blocking(&key)).await
    }
}
