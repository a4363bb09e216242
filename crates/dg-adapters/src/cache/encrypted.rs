//! AES-256-GCM encryption around any reference cache, in authenticated chunks so references of
//! any size need one chunk of memory.
//!
//! ```text
//! offset  size   field
//! 0       4      magic "DGCE"
//! 4       1      version (1)
//! 5       4      chunk size in bytes, little-endian (plaintext per chunk)
//! 9       7      random nonce prefix, fresh for every entry
//! 16      ...    chunks: ciphertext of up to `chunk size` bytes, then its 16-byte GCM tag
//!
//! nonce of chunk i = prefix (7) | i as u32 big-endian (4) | 1 if last chunk else 0 (1)
//! associated data  = "dg-cache-v1" | the entry's SHA-256 (64 hex chars) | header (bytes 0..16)
//! ```
//!
//! The last-chunk flag detects truncation, the counter reordering, the associated data an
//! entry stored under another SHA-256 (swapped files), and a wrong key fails every tag. An entry
//! that fails any check is removed from the inner cache and reported as a miss; the caller then
//! fetches the reference again. Decrypted references live only in anonymous temp files (no
//! name on disk) that vanish with their last handle.

use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::sync::Arc;

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use async_trait::async_trait;
use dg_ports::{BlobRef, Error, ReferenceCache, Result};
use tracing::warn;

use crate::blob::HandleBlob;

const MAGIC: &[u8; 4] = b"DGCE";
const VERSION: u8 = 1;
const HEADER: usize = 16;
const TAG: usize = 16;
const DEFAULT_CHUNK: u32 = 1 << 20;
const MAX_CHUNK: u32 = 16 << 20;

/// Encrypts entries of an inner cache with AES-256-GCM.
pub struct EncryptedCache {
    inner: Arc<dyn ReferenceCache>,
    cipher: Aes256Gcm,
    chunk: u32,
    temp_dir: Option<PathBuf>,
}

impl std::fmt::Debug for EncryptedCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncryptedCache")
            .field("inner", &self.inner)
            .field("chunk", &self.chunk)
            .finish_non_exhaustive()
    }
}

/// A fresh random 256-bit key.
pub fn random_key() -> Result<[u8; 32]> {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|e| Error::Io {
        context: "drawing a random cache key".into(),
        source: io::Error::other(e.to_string()),
    })?;
    Ok(key)
}

impl EncryptedCache {
    /// Wraps `inner`, encrypting with `key`. Decrypted references are staged in anonymous
    /// files in `temp_dir` (default: the system temp directory).
    pub fn new(inner: Arc<dyn ReferenceCache>, key: &[u8; 32], temp_dir: Option<PathBuf>) -> Self {
        let key = Key::<Aes256Gcm>::from(*key);
        EncryptedCache {
            inner,
            cipher: Aes256Gcm::new(&key),
            chunk: DEFAULT_CHUNK,
            temp_dir,
        }
    }

    /// Sets the plaintext bytes per chunk (tests use small chunks).
    pub fn with_chunk_size(mut self, chunk: u32) -> Self {
        self.chunk = chunk.clamp(1, MAX_CHUNK);
        self
    }

    fn anonymous_file(&self) -> Result<std::fs::File> {
        match &self.temp_dir {
            Some(dir) => tempfile::tempfile_in(dir),
            None => tempfile::tempfile(),
        }
        .map_err(|e| Error::io("creating a temp file for a cache entry", e))
    }
}

fn nonce(prefix: &[u8], index: u32, last: bool) -> Nonce<aes_gcm::aead::consts::U12> {
    let mut n = [0u8; 12];
    n[..7].copy_from_slice(prefix);
    n[7..11].copy_from_slice(&index.to_be_bytes());
    n[11] = u8::from(last);
    Nonce::from(n)
}

fn aad(sha256: &str, header: &[u8]) -> Vec<u8> {
    let mut a = b"dg-cache-v1".to_vec();
    a.extend_from_slice(sha256.to_ascii_lowercase().as_bytes());
    a.extend_from_slice(header);
    a
}

/// Fills `buf` as far as the reader allows; returns the bytes read.
fn fill(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Why an entry was rejected.
#[derive(Debug)]
enum Reject {
    /// The entry is damaged, truncated, swapped or under another key.
    Bad(&'static str),
    /// Reading or writing failed for another reason.
    Io(Error),
}

impl EncryptedCache {
    fn encrypt(&self, sha256: &str, blob: &BlobRef) -> Result<BlobRef> {
        let mut prefix = [0u8; 7];
        getrandom::fill(&mut prefix).map_err(|e| Error::Io {
            context: "drawing a random nonce".into(),
            source: io::Error::other(e.to_string()),
        })?;
        let mut header = Vec::with_capacity(HEADER);
        header.extend_from_slice(MAGIC);
        header.push(VERSION);
        header.extend_from_slice(&self.chunk.to_le_bytes());
        header.extend_from_slice(&prefix);
        let aad = aad(sha256, &header);
        let mut out = io::BufWriter::new(self.anonymous_file()?);
        let io_err = |e| Error::io("writing an encrypted cache entry", e);
        out.write_all(&header).map_err(io_err)?;
        let mut reader = blob.reader()?;
        let chunk = self.chunk as usize;
        let mut current = vec![0u8; chunk];
        let mut next = vec![0u8; chunk];
        let mut n =
            fill(&mut reader, &mut current).map_err(|e| Error::io("reading a reference", e))?;
        let mut index: u32 = 0;
        loop {
            // Look ahead one chunk to know whether this one is the last.
            let m = if n == chunk {
                fill(&mut reader, &mut next).map_err(|e| Error::io("reading a reference", e))?
            } else {
                0
            };
            let last = m == 0;
            let mut buf = current[..n].to_vec();
            self.cipher
                .encrypt_in_place(&nonce(&prefix, index, last), &aad, &mut buf)
                .map_err(|_| Error::invalid("a cache entry", "encryption failed"))?;
            out.write_all(&buf).map_err(io_err)?;
            if last {
                break;
            }
            std::mem::swap(&mut current, &mut next);
            n = m;
            index = index
                .checked_add(1)
                .ok_or_else(|| Error::invalid("a cache entry", "too many chunks"))?;
        }
        let file = out
            .into_inner()
            .map_err(|e| Error::io("writing an encrypted cache entry", e.into_error()))?;
        let len = file
            .metadata()
            .map_err(|e| Error::io("reading an encrypted cache entry", e))?
            .len();
        Ok(HandleBlob::shared(file, len))
    }

    fn decrypt(&self, sha256: &str, blob: &BlobRef) -> std::result::Result<BlobRef, Reject> {
        let mut reader = blob.reader().map_err(Reject::Io)?;
        let mut header = [0u8; HEADER];
        let got = fill(&mut reader, &mut header)
            .map_err(|e| Reject::Io(Error::io("reading a cache entry", e)))?;
        if got < HEADER || &header[..4] != MAGIC || header[4] != VERSION {
            return Err(Reject::Bad("not an encrypted dg cache entry"));
        }
        let chunk = u32::from_le_bytes([header[5], header[6], header[7], header[8]]);
        if chunk == 0 || chunk > MAX_CHUNK {
            return Err(Reject::Bad("bad chunk size"));
        }
        let prefix = &header[9..16];
        let aad = aad(sha256, &header);
        let sealed = chunk as usize + TAG;
        let mut out = io::BufWriter::new(self.anonymous_file().map_err(Reject::Io)?);
        let mut buf = vec![0u8; sealed];
        let mut next = vec![0u8; sealed];
        let io_err = |e| Reject::Io(Error::io("reading a cache entry", e));
        let mut n = fill(&mut reader, &mut buf).map_err(io_err)?;
        let mut index: u32 = 0;
        let mut total: u64 = 0;
        loop {
            if n < TAG {
                return Err(Reject::Bad("truncated"));
            }
            let m = if n == sealed {
                fill(&mut reader, &mut next).map_err(io_err)?
            } else {
                0
            };
            let last = m == 0;
            let mut piece = buf[..n].to_vec();
            self.cipher
                .decrypt_in_place(&nonce(prefix, index, last), &aad, &mut piece)
                .map_err(|_| Reject::Bad("authentication failed (tampered, truncated, reordered, swapped or another key)"))?;
            out.write_all(&piece)
                .map_err(|e| Reject::Io(Error::io("writing a decrypted reference", e)))?;
            total += piece.len() as u64;
            if last {
                break;
            }
            std::mem::swap(&mut buf, &mut next);
            n = m;
            index = index.checked_add(1).ok_or(Reject::Bad("too many chunks"))?;
        }
        let file = out
            .into_inner()
            .map_err(|e| Reject::Io(Error::io("writing a decrypted reference", e.into_error())))?;
        Ok(HandleBlob::shared(file, total))
    }
}

#[async_trait]
impl ReferenceCache for EncryptedCache {
    async fn get(&self, sha256: &str) -> Result<Option<BlobRef>> {
        let Some(sealed) = self.inner.get(sha256).await? else {
            return Ok(None);
        };
        let this = self.shallow();
        let key = sha256.to_string();
        let opened = tokio::task::spawn_blocking(move || this.decrypt(&key, &sealed))
            .await
            .map_err(|e| Error::Io {
                context: "a cache task stopped".into(),
                source: io::Error::other(e.to_string()),
            })?;
        match opened {
            Ok(blob) => Ok(Some(blob)),
            Err(Reject::Bad(why)) => {
                warn!(sha256, "cache entry rejected: {why}; removing it");
                self.inner.remove(sha256).await?;
                Ok(None)
            }
            Err(Reject::Io(e)) => Err(e),
        }
    }

    async fn put(&self, sha256: &str, blob: BlobRef) -> Result<()> {
        let this = self.shallow();
        let key = sha256.to_string();
        let sealed = tokio::task::spawn_blocking(move || this.encrypt(&key, &blob))
            .await
            .map_err(|e| Error::Io {
                context: "a cache task stopped".into(),
                source: io::Error::other(e.to_string()),
            })??;
        self.inner.put(sha256, sealed).await
    }

    async fn remove(&self, sha256: &str) -> Result<()> {
        self.inner.remove(sha256).await
    }
}

impl EncryptedCache {
    /// A copy sharing the inner cache, for blocking tasks.
    fn shallow(&self) -> Self {
        EncryptedCache {
            inner: self.inner.clone(),
            cipher: self.cipher.clone(),
            chunk: self.chunk,
            temp_dir: self.temp_dir.clone(),
        }
    }
}
