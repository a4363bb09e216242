//! A parallel directory walk: `thread_count` workers share a queue of directories to read.

use std::collections::HashSet;
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

/// Everything under a root, split by kind; `failures` holds unreadable entries.
#[derive(Debug, Default)]
pub(crate) struct Listing {
    pub dirs: Vec<Found>,
    pub files: Vec<Found>,
    pub filtered: u64,
    pub failures: Vec<(PathBuf, Error)>,
}

struct Queue {
    dirs: Vec<PathBuf>,
    busy: usize,
    done: bool,
}

/// Lists `root` (which must be a directory) recursively, applying the config's filters and
/// symlink rule. Symlinks are listed as files unless followed; followed directory links are
/// entered once (loops are cut by device and inode).
pub(crate) fn walk(root: &Path, config: &Config) -> Result<Listing> {
    let queue = Mutex::new(Queue {
        dirs: vec![PathBuf::new()],
        busy: 0,
        done: false,
    });
    let wake = Condvar::new();
    let out = Mutex::new(Listing::default());
    let seen = Mutex::new(HashSet::new());
    if let Ok(md) = fs::metadata(root) {
        lock(&seen).insert((md.dev(), md.ino()));
    }
    let worker = || {
        let mut local = Listing::default();
        loop {
            let rel = {
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
            let Some(rel) = rel else { break };
            let subdirs = read_one(root, &rel, config, &seen, &mut local);
            let mut q = lock(&queue);
            q.busy -= 1;
            if !local.failures.is_empty() && config.error_strategy != ErrorStrategy::Ignore {
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
fn read_one(
    root: &Path,
    rel: &Path,
    config: &Config,
    seen: &Mutex<HashSet<(u64, u64)>>,
    out: &mut Listing,
) -> Vec<PathBuf> {
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
            // A dangling link stays a link.
            if let Ok(m) = fs::metadata(entry.path()) {
                meta = m;
            }
        }
        if meta.is_dir() {
            if !config.filters.wants_dir(&child_rel) {
                out.filtered += 1;
                continue;
            }
            if !lock(seen).insert((meta.dev(), meta.ino())) {
                continue; // a link loop, or the same directory reached twice
            }
            subdirs.push(child_rel.clone());
            out.dirs.push(Found {
                rel: child_rel,
                meta,
            });
        } else if config.filters.wants_file(&child_rel) {
            out.files.push(Found {
                rel: child_rel,
                meta,
            });
        } else {
            out.filtered += 1;
        }
    }
    subdirs
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
