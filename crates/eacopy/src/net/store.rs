//! The server's side of the file work: what it already has (path, size and mtime, or content
//! hash), hard links, and writes that land by temporary file and rename — every one of them
//! relative to a directory opened without following links (see `paths`).

use std::collections::HashMap;
use std::fs::{self, File, FileTimes, Permissions};
use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use rustix::fs::{AtFlags, Mode, OFlags};
use sha2::{Digest, Sha256};

use super::msg::{Entry, Status};
use super::paths::{self, Kind, Made, RESERVED};
use super::stats::Counters;
use crate::hash::{from_hex, hash_reader, hex, Hash};
use crate::meta::system_time;

/// A file the server wrote or linked, by content hash.
#[derive(Debug, Clone)]
struct Known {
    /// Relative to the root, as the client sent it.
    rel: String,
    size: u64,
    mtime_ns: i64,
}

/// What to do with an offered file.
#[derive(Debug)]
pub(crate) enum Plan {
    Linked,
    Skipped,
    /// Receive it; `has_old` when a version is there now (delta base).
    Receive {
        has_old: bool,
    },
}

/// A file being written: its directory (opened without following links), the temporary
/// file in it, and the directories made on the way.
#[derive(Debug)]
pub(crate) struct Target {
    dir: OwnedFd,
    name: String,
    tmp: String,
    made: Made,
}

impl Target {
    /// Gives up: removes the temporary file and the directories made for it.
    pub(crate) fn abandon(self) {
        paths::remove_at(&self.dir, &self.tmp);
        self.made.undo();
    }
}

/// The destination root and the server's memory of its content.
#[derive(Debug)]
pub(crate) struct Store {
    pub root: PathBuf,
    /// The root, opened once: every path is resolved from here.
    root_fd: OwnedFd,
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
        let root_fd = rustix::fs::open(
            &root,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| {
            if e == rustix::io::Errno::NOTDIR {
                io::Error::new(
                    io::ErrorKind::NotADirectory,
                    "server root is not a directory",
                )
            } else {
                e.into()
            }
        })?;
        let store = Store {
            root,
            root_fd,
            index: Mutex::new(HashMap::new()),
            dirty: AtomicBool::new(false),
            saving: Mutex::new(()),
            stats: Counters::default(),
        };
        store.load_index();
        Ok(store)
    }

    /// The reserved directory, made if missing (never through a link).
    fn reserved_dir(&self) -> io::Result<OwnedFd> {
        paths::make_dir_at(&self.root_fd, RESERVED, &mut Made::default()).map_err(io::Error::other)
    }

    fn load_index(&self) {
        let Ok(Some(dir)) = paths::open_parent(&self.root_fd, &[RESERVED, "index"]) else {
            return;
        };
        let mut text = String::new();
        let read = paths::open_file_at(&dir, "index").and_then(|mut f| f.read_to_string(&mut text));
        if read.is_err() {
            return;
        }
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
                        rel: p.to_string(),
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
        let dir = self.reserved_dir()?;
        let mut text = String::new();
        for (hash, k) in self.lock().iter() {
            text.push_str(&format!(
                "{}\t{}\t{}\t{}\n",
                hex(hash),
                k.size,
                k.mtime_ns,
                k.rel
            ));
        }
        paths::remove_at(&dir, "index.tmp");
        let mut f = paths::create_file_at(&dir, "index.tmp")?;
        f.write_all(text.as_bytes())?;
        drop(f);
        paths::rename_at(&dir, "index.tmp", "index")
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Hash, Known>> {
        self.index.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the server has `e` already (same size and mtime), or what it needs. Makes the
    /// directory of a directory entry; a file's parents wait until the file is written.
    pub(crate) fn status(&self, e: &Entry) -> Status {
        let parts = match paths::components(&e.path) {
            Ok(p) => p,
            Err(why) => return Status::Refused(why.to_string()),
        };
        let dir = match paths::open_parent(&self.root_fd, &parts) {
            Ok(d) => d,
            Err(why) => return Status::Refused(why.to_string()),
        };
        let name = parts.last().copied().unwrap_or_default();
        let have = dir.as_ref().map(|d| paths::stat_at(d, name));
        if e.is_dir {
            return match have {
                Some(Ok(m)) if m.kind == Kind::Dir => Status::Have,
                Some(Ok(m)) if m.kind == Kind::Symlink => {
                    Status::Refused("the destination is a symlink".into())
                }
                Some(Ok(_)) => Status::Refused("a file is in the way of this directory".into()),
                _ => match self.make_dir(&parts) {
                    Ok(()) => Status::Have,
                    Err(why) => Status::Refused(why),
                },
            };
        }
        match have {
            None => Status::Need,
            Some(Err(err)) if err.kind() == io::ErrorKind::NotFound => Status::Need,
            Some(Err(err)) => Status::Refused(format!("cannot inspect the destination: {err}")),
            Some(Ok(m)) => match m.kind {
                Kind::Dir => Status::Refused(IS_A_DIRECTORY.into()),
                Kind::Symlink => Status::Refused("the destination is a symlink".into()),
                Kind::Special => Status::Refused("a special file is in the way".into()),
                Kind::File if m.size == e.size && m.mtime_ns == e.mtime_ns => Status::Have,
                Kind::File => Status::NeedHasOld,
            },
        }
    }

    /// Makes the directory `parts` and its missing parents (none of them if it fails).
    fn make_dir(&self, parts: &[&str]) -> Result<(), String> {
        let (dir, mut made) = paths::make_parent(&self.root_fd, parts)?;
        let name = parts.last().copied().unwrap_or_default();
        match paths::make_dir_at(&dir, name, &mut made) {
            Ok(_) => Ok(()),
            Err(why) => {
                made.undo();
                Err(why)
            }
        }
    }

    /// Decides how to get the offered file: refuse it (before any byte of it is sent), link a
    /// known copy, keep an identical one, or receive it.
    pub(crate) fn plan(&self, e: &Entry, hash: &Hash) -> Result<Plan, String> {
        let parts = paths::components(&e.path).map_err(str::to_string)?;
        let name = parts.last().copied().unwrap_or_default();
        let dir = paths::open_parent(&self.root_fd, &parts).map_err(str::to_string)?;
        let current = match dir.as_ref().map(|d| paths::stat_at(d, name)) {
            None => None,
            Some(Err(err)) if err.kind() == io::ErrorKind::NotFound => None,
            Some(Err(err)) => return Err(format!("cannot inspect the destination: {err}")),
            Some(Ok(m)) => match m.kind {
                Kind::File => Some(m),
                Kind::Dir => return Err(IS_A_DIRECTORY.into()),
                Kind::Symlink => return Err("the destination is a symlink".into()),
                Kind::Special => return Err("a special file is in the way".into()),
            },
        };
        if let (Some(m), Some(dir)) = (&current, &dir) {
            if m.size == e.size {
                if let Ok(f) = paths::open_file_at(dir, name) {
                    if hash_reader(&f).is_ok_and(|h| &h == hash) {
                        set_file_meta(&f, e).map_err(|err| err.to_string())?;
                        self.remember(hash, e);
                        return Ok(Plan::Skipped);
                    }
                }
            }
        }
        let candidate = self.lock().get(hash).cloned();
        if let Some(k) = candidate.filter(|k| k.rel != e.path && k.size == e.size) {
            if self.link(&k, &parts, e) {
                self.remember(hash, e);
                return Ok(Plan::Linked);
            }
        }
        Ok(Plan::Receive {
            has_old: current.is_some(),
        })
    }

    /// Hard-links the known copy `k` to `parts`, if it is still reachable under the root
    /// without a link and unchanged since it was written.
    fn link(&self, k: &Known, parts: &[&str], e: &Entry) -> bool {
        let Ok(from) = paths::components(&k.rel) else {
            return false;
        };
        let from_name = from.last().copied().unwrap_or_default();
        let Ok(Some(from_dir)) = paths::open_parent(&self.root_fd, &from) else {
            return false;
        };
        let unchanged = paths::stat_at(&from_dir, from_name)
            .is_ok_and(|m| m.kind == Kind::File && m.size == k.size && m.mtime_ns == k.mtime_ns);
        if !unchanged {
            return false;
        }
        let Ok(target) = self.target(parts) else {
            return false;
        };
        let linked = rustix::fs::linkat(
            &from_dir,
            from_name,
            &target.dir,
            target.tmp.as_str(),
            AtFlags::empty(),
        )
        .map_err(io::Error::from)
        .and_then(|()| paths::open_file_at(&target.dir, &target.tmp))
        .and_then(|f| set_file_meta(&f, e))
        .and_then(|()| paths::rename_at(&target.dir, &target.tmp, &target.name));
        if linked.is_ok() {
            return true;
        }
        target.abandon();
        false
    }

    fn remember(&self, hash: &Hash, e: &Entry) {
        self.dirty.store(true, Ordering::SeqCst);
        self.lock().insert(
            *hash,
            Known {
                rel: e.path.clone(),
                size: e.size,
                mtime_ns: e.mtime_ns,
            },
        );
    }

    /// Opens the current version of `path` for reading (the delta base), if it is a regular
    /// file reachable without a link.
    pub(crate) fn open_old(&self, path: &str) -> io::Result<File> {
        let parts = paths::components(path).map_err(io::Error::other)?;
        let name = parts.last().copied().unwrap_or_default();
        match paths::open_parent(&self.root_fd, &parts) {
            Ok(Some(dir)) => paths::open_file_at(&dir, name),
            Ok(None) => Err(io::ErrorKind::NotFound.into()),
            Err(why) => Err(io::Error::other(why)),
        }
    }

    /// Where a file for `parts` is written: its directory (parents made now), with a fresh
    /// temporary name in it.
    fn target(&self, parts: &[&str]) -> Result<Target, String> {
        let (dir, made) = paths::make_parent(&self.root_fd, parts)?;
        let name = parts.last().copied().unwrap_or_default().to_string();
        Ok(Target {
            tmp: paths::temp_name(&name),
            dir,
            name,
            made,
        })
    }

    /// A new temporary file for `path`, readable only by us until committed; the path is
    /// resolved again here, so a link swapped in since the offer is not followed.
    pub(crate) fn create_temp(&self, path: &str) -> Result<(Target, File), String> {
        let parts = paths::components(path).map_err(str::to_string)?;
        let target = self.target(&parts)?;
        match paths::stat_at(&target.dir, &target.name) {
            Ok(m) if m.kind == Kind::Dir => {
                target.abandon();
                return Err(IS_A_DIRECTORY.into());
            }
            Ok(m) if m.kind != Kind::File => {
                target.abandon();
                return Err("the destination is not a regular file".into());
            }
            _ => {}
        }
        match paths::create_file_at(&target.dir, &target.tmp) {
            Ok(f) => Ok((target, f)),
            Err(err) => {
                target.abandon();
                Err(format!("cannot create a temporary file: {err}"))
            }
        }
    }

    /// Checks size and hash of a received temporary file, then renames it into place.
    pub(crate) fn commit(
        &self,
        target: Target,
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
                .and_then(|()| paths::rename_at(&target.dir, &target.tmp, &target.name))
                .map_err(|err| err.to_string())
        };
        match result {
            Ok(()) => {
                self.remember(hash, e);
                Ok(())
            }
            Err(m) => {
                target.abandon();
                Err(m)
            }
        }
    }
}

/// The reason given for a file whose destination is a directory.
const IS_A_DIRECTORY: &str =
    "the destination is a directory; remove it or send the file to another path";

/// Mode (permission bits only, never set-id bits) and mtime of the client's file, on an open
/// file.
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
