//! A parallel directory walk: `thread_count` workers share a queue of directories to read.

use std::fs::{self, Metadata};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex};

use crate::{Config, Error, ErrorStrategy, Result};

/// One thing found under the root, with its path relative to the root.
#[derive(Debug)]
pub(crate) struct Found {
    pub rel: PathBuf,
    pub meta: Metadata,
}

/// Everything under a root, split by kind; `failures` holds unreadable entries, `skipped`
/// the special files (FIFOs, sockets, devices) and symlink loops, which are never copied.
#[derive(Debug, Default)]
pub(crate) struct Listing {
    pub dirs: Vec<Found>,
    pub files: Vec<Found>,
    pub filtered: u64,
    pub failures: Vec<(PathBuf, Error)>,
    pub skipped: Vec<(PathBuf, Error)>,
}

/// A directory to read, with the device and inode of itself and every directory above it
/// (the root first), which a followed link must not lead back to.
struct Todo {
    rel: PathBuf,
    chain: Vec<(u64, u64)>,
}

struct Queue {
    dirs: Vec<Todo>,
    busy: usize,
    done: bool,
}

/// Lists `root` (which must be a directory) recursively, applying the config's filters and
/// symlink rule. Symlinks are listed as files unless followed. A followed link that leads to
/// itself, or to a directory it is inside of, is a symlink loop; a directory reached by
/// several links is listed at each place (as `cp -rL` does).
pub(crate) fn walk(root: &Path, config: &Config) -> Result<Listing> {
    let chain = fs::metadata(root)
        .map(|md| vec![(md.dev(), md.ino())])
        .unwrap_or_default();
    let queue = Mutex::new(Queue {
        dirs: vec![Todo {
            rel: PathBuf::new(),
            chain,
        }],
        busy: 0,
        done: false,
    });
    let wake = Condvar::new();
    let out = Mutex::new(Listing::default());
    let worker = || {
        let mut local = Listing::default();
        loop {
            let todo = {
                let mut q = lock(&queue);
                loop {
                    if q.done {
                        break None;
                    }
                    if let Some(d) = q.dirs.pop() {
                        q.busy += 1;
                        break Some(d);
                    }
                    if q.busy == 0 {
                        q.done = true;
                        wake.notify_all();
                        break None;
                    }
                    q = wake.wait(q).unwrap_or_else(|p| p.into_inner());
                }
            };
            let Some(todo) = todo else { break };
            let subdirs = read_one(root, &todo, config, &mut local);
            let mut q = lock(&queue);
            q.busy -= 1;
            let failed = !local.failures.is_empty() || !local.skipped.is_empty();
            if failed && config.error_strategy != ErrorStrategy::Ignore {
                q.done = true;
            }
            q.dirs.extend(subdirs);
            wake.notify_all();
        }
        let mut o = lock(&out);
        o.dirs.append(&mut local.dirs);
        o.files.append(&mut local.files);
        o.filtered += local.filtered;
        o.failures.append(&mut local.failures);
        o.skipped.append(&mut local.skipped);
    };
    std::thread::scope(|s| {
        for _ in 1..config.thread_count {
            s.spawn(worker);
        }
        worker();
    });
    Ok(out.into_inner().unwrap_or_else(|p| p.into_inner()))
}

/// Reads one directory; returns its subdirectories to visit.
fn read_one(root: &Path, todo: &Todo, config: &Config, out: &mut Listing) -> Vec<Todo> {
    let rel = &todo.rel;
    let dir = root.join(rel);
    let entries = match fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) => {
            out.failures.push((dir.clone(), Error::io(&dir, e)));
            return Vec::new();
        }
    };
    let mut subdirs = Vec::new();
    for entry in entries {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                out.failures.push((dir.clone(), Error::io(&dir, e)));
                continue;
            }
        };
        let child_rel = rel.join(entry.file_name());
        let mut meta = match entry.metadata() {
            Ok(m) => m,
            Err(e) => {
                out.failures
                    .push((entry.path(), Error::io(entry.path(), e)));
                continue;
            }
        };
        if meta.file_type().is_symlink() && config.follow_symlinks {
            match fs::metadata(entry.path()) {
                Ok(m) => meta = m,
                Err(e) if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) => {
                    if config.filters.wants_file(&child_rel) {
                        out.skipped.push((entry.path(), Error::io(entry.path(), e)));
                    } else {
                        out.filtered += 1;
                    }
                    continue;
                }
                Err(_) => {} // a dangling link stays a link
            }
        }
        if meta.is_dir() {
            if !config.filters.wants_dir(&child_rel) {
                out.filtered += 1;
                continue;
            }
            let id = (meta.dev(), meta.ino());
            if let Some(depth) = todo.chain.iter().position(|d| *d == id) {
                let ancestor: PathBuf = rel.components().take(depth).collect();
                out.skipped.push((
                    entry.path(),
                    Error::SymlinkLoop {
                        path: entry.path(),
                        detail: format!("it leads back to {}", root.join(ancestor).display()),
                    },
                ));
                continue;
            }
            let mut chain = todo.chain.clone();
            chain.push(id);
            subdirs.push(Todo {
                rel: child_rel.clone(),
                chain,
            });
            out.dirs.push(Found {
                rel: child_rel,
                meta,
            });
        } else if !config.filters.wants_file(&child_rel) {
            out.filtered += 1;
        } else if let Some(special) = Error::special(&entry.path(), meta.file_type()) {
            out.skipped.push((entry.path(), special));
        } else {
            out.files.push(Found {
                rel: child_rel,
                meta,
            });
        }
    }
    subdirs
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
