//! `copy_with_server`: lists the source and hands batches of it to `thread_count`
//! connections (see `send` for what one batch does), reconnecting as the strategy says.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use super::auth::Token;
use super::conn::Conn;
use super::frame::Kind;
use super::msg::Entry;
use super::remote::Remote;
use super::send;
use super::stats::{Counters, TransferStats};
use crate::meta::mtime_ns;
use crate::report::Tracker;
use crate::walk::walk;
use crate::{Config, Error, ErrorStrategy, Result};

/// Most entries per query (small trees use smaller batches so every connection gets work).
const BATCH: usize = 256;

/// One local file or directory and where it goes.
#[derive(Debug)]
pub(super) struct Job {
    pub local: PathBuf,
    pub entry: Entry,
}

/// Everything the workers share.
pub(super) struct Shared<'a> {
    remote: &'a Remote,
    token: &'a Token,
    pub config: &'a Config,
    jobs: Vec<Job>,
    batch: usize,
    next: AtomicUsize,
    pub stop: AtomicBool,
    pub stats: Counters,
    pub failures: Mutex<Vec<(PathBuf, Error)>>,
    pub tracker: Tracker,
}

/// Copies `src` (a file or a directory tree) to the server destination `dest`
/// (`HOST:PORT/path`), sending only what the server lacks. Returns the client's counters.
///
/// A directory's contents go *into* `path`; a file goes *to* `path` (or into it when `dest`
/// ends with `/`). Symlinks are followed (servers never create links). Failures follow the
/// error strategy; with `Retry`, a broken connection (or a busy server) is tried again and
/// the batch resumed. FIFOs, sockets, devices and symlink loops are never sent: they fail the
/// copy before anything is sent, or with `Ignore` count in `files_failed` (each logged).
pub fn copy_with_server(
    src: impl AsRef<Path>,
    dest: &str,
    token: &Token,
    config: &Config,
) -> Result<TransferStats> {
    let src = src.as_ref();
    config.validate()?;
    let remote: Remote = dest.parse()?;
    let (jobs, mut failures) = list(src, &remote, config)?;
    if !failures.is_empty() && config.error_strategy != ErrorStrategy::Ignore {
        // Unreadable entries, special files, loops: fail before anything is sent.
        return Err(Error::Failed { failures });
    }
    let total = jobs.iter().map(|j| j.entry.size).sum();
    let workers = config.thread_count.min(jobs.len().div_ceil(32)).max(1);
    let shared = Shared {
        remote: &remote,
        token,
        config,
        batch: (jobs.len() / (workers * 4)).clamp(8, BATCH),
        jobs,
        next: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
        stats: Counters::default(),
        failures: Mutex::new(Vec::new()),
        tracker: Tracker::new(config.progress.clone(), total),
    };
    std::thread::scope(|s| {
        for _ in 1..workers {
            s.spawn(|| worker(&shared));
        }
        worker(&shared);
    });
    let mut stats = shared.stats.snapshot();
    failures.extend(
        shared
            .failures
            .into_inner()
            .unwrap_or_else(|p| p.into_inner()),
    );
    stats.files_failed = failures.len() as u64;
    if !failures.is_empty() && config.error_strategy != ErrorStrategy::Ignore {
        return Err(Error::Failed { failures });
    }
    Ok(stats)
}

type Failures = Vec<(PathBuf, Error)>;

/// The jobs for `src`, directories first.
fn list(src: &Path, remote: &Remote, config: &Config) -> Result<(Vec<Job>, Failures)> {
    let join = |rel: &Path| -> Option<String> {
        let rel = rel.to_str()?;
        Some(if remote.path.is_empty() {
            rel.to_string()
        } else {
            format!("{}/{rel}", remote.path)
        })
    };
    let md = fs::metadata(src).map_err(|e| Error::io(src, e))?;
    if let Some(special) = Error::special(src, md.file_type()) {
        return Err(special);
    }
    if !md.is_dir() {
        let name =
            src.file_name()
                .and_then(|n| n.to_str())
                .ok_or_else(|| Error::InvalidConfig {
                    what: format!(
                        "{}: file names sent to a server must be UTF-8",
                        src.display()
                    ),
                })?;
        let path = if remote.path.is_empty() || remote.trailing_slash {
            join(Path::new(name))
        } else {
            Some(remote.path.clone())
        };
        let entry = entry_for(path.unwrap_or_default(), &md);
        return Ok((
            vec![Job {
                local: src.to_path_buf(),
                entry,
            }],
            Vec::new(),
        ));
    }
    let follow = config.clone().follow_symlinks(true);
    let listing = walk(src, &follow)?;
    let mut failures = listing.failures;
    failures.extend(listing.skipped);
    let mut jobs = Vec::with_capacity(listing.dirs.len() + listing.files.len());
    for f in listing.dirs.iter().chain(&listing.files) {
        let local = src.join(&f.rel);
        if f.meta.file_type().is_symlink() {
            failures.push((local.clone(), Error::NotFound { path: local }));
            continue; // a dangling link
        }
        match join(&f.rel) {
            Some(path) => jobs.push(Job {
                entry: entry_for(path, &f.meta),
                local,
            }),
            None => failures.push((
                local.clone(),
                Error::InvalidConfig {
                    what: format!(
                        "{}: file names sent to a server must be UTF-8",
                        local.display()
                    ),
                },
            )),
        }
    }
    Ok((jobs, failures))
}

fn entry_for(path: String, md: &fs::Metadata) -> Entry {
    let is_dir = md.is_dir();
    Entry {
        is_dir,
        path,
        size: if is_dir { 0 } else { md.len() },
        mtime_ns: mtime_ns(md),
        mode: md.mode() & 0o777,
    }
}

fn worker(sh: &Shared<'_>) {
    let timeout = Duration::from_secs(300);
    let mut conn: Option<Conn> = None;
    loop {
        if sh.stop.load(Ordering::Relaxed) {
            break;
        }
        let start = sh.next.fetch_add(sh.batch, Ordering::Relaxed);
        if start >= sh.jobs.len() {
            break;
        }
        let batch = &sh.jobs[start..(start + sh.batch).min(sh.jobs.len())];
        let mut done = vec![false; batch.len()];
        let mut attempt = 0;
        while done.contains(&false) {
            let result = match conn.as_mut() {
                Some(c) => send::run_batch(sh, c, batch, &mut done),
                None => sh.remote.connect(sh.token, timeout).map(|c| {
                    conn = Some(c);
                }),
            };
            let Err(e) = result else { continue };
            if let Some(c) = conn.take() {
                sh.stats.bump(|s| s.wire_bytes += c.sent);
            }
            attempt += 1;
            let pause = e
                .is_retryable()
                .then(|| sh.config.retry_pause(attempt))
                .flatten();
            if let Some(pause) = pause {
                tracing::debug!(attempt, error = %e, pause_ms = pause.as_millis() as u64, "connection failed; retrying the unfinished files");
                std::thread::sleep(pause);
                continue;
            }
            // Give up on the unfinished files of this batch.
            let mut failures = sh.failures.lock().unwrap_or_else(|p| p.into_inner());
            let mut first = Some(e);
            for (j, _) in batch.iter().zip(&done).filter(|(_, d)| !**d) {
                let err = first.take().unwrap_or_else(|| Error::Refused {
                    path: j.entry.path.clone(),
                    reason: "connection lost".into(),
                });
                failures.push((j.local.clone(), err));
            }
            if sh.config.error_strategy != ErrorStrategy::Ignore {
                sh.stop.store(true, Ordering::Relaxed);
            }
            break;
        }
    }
    if let Some(mut c) = conn {
        let _ = c.send_now(Kind::Bye, &[]);
        sh.stats.bump(|s| s.wire_bytes += c.sent);
    }
}
