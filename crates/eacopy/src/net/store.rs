//! The server's side of the file work: what it already has (path, size and mtime, or content
//! hash), hard links, and writes that land by temporary file and rename.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File, FileTimes, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use sha2::{Digest, Sha256};

use super::msg::{Entry, Status};
use super::paths::{self, RESERVED};
use super::stats::Counters;
use crate::delta::temp_path;
use crate::hash::{from_hex, hash_file, hex, Hash};
use crate::meta::system_time;

/// A file the server wrote or linked, by content hash.
#[derive(Debug, Clone)]
struct Known {
    path: PathBuf,
    size: u64,
    mtime_ns: i64,
}

/// What to do with an offered file.
#[derive(Debug)]
pub(crate) enum Plan {
    Linked,
    Skipped,
    /// Receive it at `full`; `old` is the version there now (delta base).
    Receive {
        full: PathBuf,
        old: Option<PathBuf>,
    },
}

/// The destination root and the server's memory of its content.
#[derive(Debug)]
pub(crate) struct Store {
    pub root: PathBuf,
    index: Mutex<HashMap<Hash, Known>>,
    /// The index changed since it was last saved.
    dirty: AtomicBool,
    /// One writer of `.eacopy/index` at a time.
    saving: Mutex<()>,
    pub stats: Counters,
}

impl Store {
    pub(crate) fn open(root: &Path) -> io::Result<Store> {
        let root = fs::canonicalize(root)?;
        if !root.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                "server root is not a directory",
            ));
        }
        let store = Store {
            root,
            index: Mutex::new(HashMap::new()),
            dirty: AtomicBool::new(false),
            saving: Mutex::new(()),
            stats: Counters::default(),
        };
        store.load_index();
        Ok(store)
    }

    fn index_path(&self) -> PathBuf {
        self.root.join(RESERVED).join("index")
    }

    fn load_index(&self) {
        let Ok(text) = fs::read_to_string(self.index_path()) else {
            return;
        };
        let mut index = self.lock();
        for line in text.lines() {
            let mut f = line.splitn(4, '\t');
            let (Some(h), Some(s), Some(m), Some(p)) = (f.next(), f.next(), f.next(), f.next())
            else {
                continue;
            };
            if paths::components(p).is_err() {
                continue; // never trust a path that could leave the root
            }
            if let (Some(hash), Ok(size), Ok(mtime_ns)) = (from_hex(h), s.parse(), m.parse()) {
                index.insert(
                    hash,
                    Known {
                        path: self.root.join(p),
                        size,
                        mtime_ns,
                    },
                );
            }
        }
    }

    /// Writes the content index to `.eacopy/index` (temporary file, then rename) if it
    /// changed since the last save. Called when a connection ends and when the server stops,
    /// so a server that is killed keeps what finished connections taught it.
    pub(crate) fn save_index(&self) -> io::Result<()> {
        let _one_writer = self.saving.lock().unwrap_or_else(|p| p.into_inner());
        if !self.dirty.swap(false, Ordering::SeqCst) {
            return Ok(());
        }
        let dir = self.root.join(RESERVED);
        fs::create_dir_all(&dir)?;
        let mut text = String::new();
        for (hash, k) in self.lock().iter() {
            if let Ok(rel) = k.path.strip_prefix(&self.root) {
                text.push_str(&format!(
                    "{}\t{}\t{}\t{}\n",
                    hex(hash),
                    k.size,
                    k.mtime_ns,
                    rel.display()
                ));
            }
        }
        let tmp = dir.join("index.tmp");
        fs::write(&tmp, text)?;
        fs::rename(tmp, self.index_path())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Hash, Known>> {
        self.index.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the server has `e` already (same size and mtime), or what it needs.
    pub(crate) fn status(&self, e: &Entry, known: &mut HashSet<PathBuf>) -> Status {
        let full = match paths::resolve(&self.root, &e.path, true, known) {
            Ok(f) => f,
            Err(why) => return Status::Refused(why.to_string()),
        };
        let have = fs::symlink_metadata(&full);
        if e.is_dir {
            return match have {
                Ok(m) if m.is_dir() => Status::Have,
                Ok(_) => Status::Refused("a file is in the way of this directory".into()),
                Err(_) => match fs::create_dir(&full) {
                    Ok(()) => Status::Have,
                    // Another connection made it meanwhile: fine if it is a real directory.
                    Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
                        match fs::symlink_metadata(&full) {
                            Ok(m) if m.is_dir() => Status::Have,
                            _ => Status::Refused(format!("cannot create directory: {err}")),
                        }
                    }
                    Err(err) => Status::Refused(format!("cannot create directory: {err}")),
                },
            };
        }
        match have {
            Err(_) => Status::Need,
            Ok(m) if m.is_dir() => Status::Refused("a directory is in the way of this file".into()),
            Ok(m) if !m.is_file() => Status::Refused("a special file is in the way".into()),
            Ok(m) if m.len() == e.size && crate::meta::mtime_ns(&m) == e.mtime_ns => Status::Have,
            Ok(_) => Status::NeedHasOld,
        }
    }

    /// Decides how to get the offered file: link a known copy, keep an identical one, or receive.
    pub(crate) fn plan(
        &self,
        e: &Entry,
        hash: &Hash,
        known: &mut HashSet<PathBuf>,
    ) -> Result<Plan, String> {
        let full = paths::resolve(&self.root, &e.path, true, known).map_err(str::to_string)?;
        let current = fs::symlink_metadata(&full).ok().filter(|m| m.is_file());
        if let Some(m) = &current {
            if m.len() == e.size && hash_file(&full).is_ok_and(|h| &h == hash) {
                set_meta(&full, e).map_err(|err| err.to_string())?;
                self.remember(hash, &full, e);
                return Ok(Plan::Skipped);
            }
        }
        let candidate = self.lock().get(hash).cloned();
        if let Some(k) = candidate.filter(|k| k.path != full && k.size == e.size) {
            // The known copy must still be reachable without a symlink (a directory on its
            // way may have been replaced by a link out of the root since it was written).
            let inside = k
                .path
                .strip_prefix(&self.root)
                .ok()
                .and_then(Path::to_str)
                .is_some_and(|rel| paths::resolve(&self.root, rel, false, known).is_ok());
            let still = inside
                && fs::symlink_metadata(&k.path).is_ok_and(|m| {
                    m.is_file() && m.len() == k.size && crate::meta::mtime_ns(&m) == k.mtime_ns
                });
            if still {
                let tmp = temp_path(&full);
                if fs::hard_link(&k.path, &tmp).is_ok() {
                    let done = set_meta(&tmp, e).and_then(|()| fs::rename(&tmp, &full));
                    if done.is_ok() {
                        self.remember(hash, &full, e);
                        return Ok(Plan::Linked);
                    }
                    let _ = fs::remove_file(&tmp);
                }
            }
        }
        let old = current.map(|_| full.clone());
        Ok(Plan::Receive { full, old })
    }

    fn remember(&self, hash: &Hash, full: &Path, e: &Entry) {
        self.dirty.store(true, Ordering::SeqCst);
        self.lock().insert(
            *hash,
            Known {
                path: full.to_path_buf(),
                size: e.size,
                mtime_ns: e.mtime_ns,
            },
        );
    }

    /// A new temporary file next to `full`, readable only by us until committed.
    pub(crate) fn create_temp(&self, full: &Path) -> io::Result<(PathBuf, File)> {
        let tmp = temp_path(full);
        let f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        Ok((tmp, f))
    }

    /// Checks size and hash of a received temporary file, then renames it into place.
    pub(crate) fn commit(
        &self,
        tmp: &Path,
        full: &Path,
        e: &Entry,
        hash: &Hash,
        got: (u64, Hash, File),
    ) -> Result<(), String> {
        let result = if got.0 != e.size {
            Err(format!("received {} bytes, expected {}", got.0, e.size))
        } else if &got.1 != hash {
            Err(format!(
                "content hash mismatch (expected {}, got {})",
                hex(hash),
                hex(&got.1)
            ))
        } else {
            set_file_meta(&got.2, e)
                .and_then(|()| fs::rename(tmp, full))
                .map_err(|err| err.to_string())
        };
        match result {
            Ok(()) => {
                self.remember(hash, full, e);
                Ok(())
            }
            Err(m) => {
                let _ = fs::remove_file(tmp);
                Err(m)
            }
        }
    }
}

/// Mode (permission bits only, never set-id bits) and mtime of the client's file, on `path`.
fn set_meta(path: &Path, e: &Entry) -> io::Result<()> {
    let f = OpenOptions::new()
        .write(true)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(path)?;
    set_file_meta(&f, e)
}

/// The same on an open file.
fn set_file_meta(f: &File, e: &Entry) -> io::Result<()> {
    let mode = if e.mode & 0o777 == 0 {
        0o644
    } else {
        e.mode & 0o777
    };
    if f.metadata()?.mode() & 0o777 != mode {
        f.set_permissions(Permissions::from_mode(mode))?;
    }
    let t = system_time(e.mtime_ns);
    f.set_times(FileTimes::new().set_modified(t).set_accessed(t))
}

/// A file writer that hashes and counts what goes through it.
#[derive(Debug)]
pub(crate) struct HashingWriter {
    pub file: io::BufWriter<File>,
    pub hasher: Sha256,
    pub written: u64,
}

impl HashingWriter {
    /// A writer for a file of about `size` bytes.
    pub(crate) fn new(file: File, size: u64) -> Self {
        let capacity = usize::try_from(size)
            .unwrap_or(1 << 20)
            .clamp(4096, 1 << 20);
        HashingWriter {
            file: io::BufWriter::with_capacity(capacity, file),
            hasher: Sha256::new(),
            written: 0,
        }
    }

    /// Flushes; returns the bytes written, their SHA-256 and the file.
    pub(crate) fn finish(self) -> io::Result<(u64, Hash, File)> {
        let file = self.file.into_inner().map_err(|e| e.into_error())?;
        Ok((self.written, self.hasher.finalize().into(), file))
    }
}

impl Write for HashingWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}
