//! Single-file copies (`copyfile`, `copy`, `copy2`) and `batch_copy`, on top of the fast paths.

use std::fs::{self, File, Metadata, OpenOptions};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use crate::fastcopy::Engine;
use crate::meta::{self, Keep};
use crate::report::{CopyReport, Tracker};
use crate::{pool, Config, Error, ErrorStrategy, Result};

/// Shared state of one operation: the fast-path engine and progress.
#[derive(Debug)]
pub(crate) struct Ctx {
    pub(crate) engine: Engine,
    pub(crate) tracker: Tracker,
}

impl Ctx {
    pub(crate) fn new(config: &Config, total: u64) -> Self {
        Ctx {
            engine: Engine::new(config.buffer_size),
            tracker: Tracker::new(config.progress.clone(), total),
        }
    }
}

/// Reads the metadata of `path` as the symlink setting says (the link itself, or its target).
pub(crate) fn source_meta(path: &Path, follow: bool) -> Result<Metadata> {
    let md = if follow {
        fs::metadata(path)
    } else {
        fs::symlink_metadata(path)
    };
    md.map_err(|e| Error::io(path, e))
}

/// Copies one file or symlink `src` (described by `md`) to the file path `dst`.
/// `check_same` guards against `dst` being `src` itself (not needed in fresh directories).
pub(crate) fn copy_entry(
    ctx: &Ctx,
    src: &Path,
    md: &Metadata,
    dst: &Path,
    keep: Keep,
    check_same: bool,
) -> Result<u64> {
    if md.file_type().is_symlink() {
        let target = fs::read_link(src).map_err(|e| Error::io(src, e))?;
        if let Ok(old) = fs::symlink_metadata(dst) {
            if old.is_dir() {
                return Err(Error::IsADirectory {
                    path: dst.to_path_buf(),
                });
            }
            fs::remove_file(dst).map_err(|e| Error::io(dst, e))?;
        }
        std::os::unix::fs::symlink(&target, dst).map_err(|e| Error::io(dst, e))?;
        if keep.times {
            meta::apply_to_path(
                dst,
                md,
                Keep {
                    mode: false,
                    times: true,
                },
            )
            .map_err(|e| Error::io(dst, e))?;
        }
        ctx.tracker.advance(0, dst);
        return Ok(0);
    }
    if md.is_dir() {
        return Err(Error::IsADirectory {
            path: src.to_path_buf(),
        });
    }
    if let Some(special) = Error::special(src, md.file_type()) {
        return Err(special);
    }
    if check_same {
        if let Ok(d) = fs::metadata(dst) {
            if d.dev() == md.dev() && d.ino() == md.ino() {
                return Err(Error::SameFile {
                    path: dst.to_path_buf(),
                });
            }
            if d.is_dir() {
                return Err(Error::IsADirectory {
                    path: dst.to_path_buf(),
                });
            }
        }
    }
    let input = open_regular(src)?;
    let output = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(md.mode() & 0o777)
        .open(dst)
        .map_err(|e| Error::io(dst, e))?;
    let mut reported = 0;
    let copied = ctx
        .engine
        .copy(&input, md, &output, &mut |n| {
            reported += n;
            ctx.tracker.advance(n, dst);
        })
        .and_then(|_| meta::apply_to_file(&output, md, keep));
    if let Err(e) = copied {
        // A retry reports this file's bytes again.
        ctx.tracker.retract(reported);
        return Err(Error::io(dst, e));
    }
    if md.len() == 0 {
        ctx.tracker.advance(0, dst);
    }
    Ok(md.len())
}

/// Opens the file `path` for reading without ever waiting on a FIFO (it is opened
/// non-blocking, which changes nothing for a regular file) and refuses anything that is not a
/// regular file once open — it may have been swapped since it was listed.
pub(crate) fn open_regular(path: &Path) -> Result<File> {
    let opened = OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path);
    let file = match opened {
        Ok(f) => f,
        Err(e) => {
            // A socket cannot be opened at all (ENXIO): say what it is.
            if let Some(special) = fs::metadata(path)
                .ok()
                .and_then(|m| Error::special(path, m.file_type()))
            {
                return Err(special);
            }
            return Err(Error::io(path, e));
        }
    };
    let md = file.metadata().map_err(|e| Error::io(path, e))?;
    if md.is_dir() {
        return Err(Error::IsADirectory {
            path: path.to_path_buf(),
        });
    }
    if let Some(special) = Error::special(path, md.file_type()) {
        return Err(special);
    }
    Ok(file)
}

/// Where a file copy lands: into `dst` if it is a directory, else at `dst`.
fn target_path(src: &Path, dst: &Path) -> Result<PathBuf> {
    if dst.is_dir() {
        let name = src.file_name().ok_or_else(|| Error::InvalidConfig {
            what: format!(
                "{} has no file name to copy into {}",
                src.display(),
                dst.display()
            ),
        })?;
        Ok(dst.join(name))
    } else {
        Ok(dst.to_path_buf())
    }
}

fn copy_single(src: &Path, dst: &Path, config: &Config, keep: Keep) -> Result<u64> {
    config.validate()?;
    config.with_retry(|| {
        let md = source_meta(src, config.follow_symlinks)?;
        let ctx = Ctx::new(config, md.len());
        copy_entry(&ctx, src, &md, dst, keep, true)
    })
}

/// Copies the contents of `src` to the file `dst` (created or truncated); returns the bytes
/// copied. No metadata is copied; `dst` must not be a directory.
pub fn copyfile(src: impl AsRef<Path>, dst: impl AsRef<Path>, config: &Config) -> Result<u64> {
    let dst = dst.as_ref();
    if dst.is_dir() {
        return Err(Error::IsADirectory {
            path: dst.to_path_buf(),
        });
    }
    copy_single(
        src.as_ref(),
        dst,
        config,
        Keep {
            mode: false,
            times: false,
        },
    )
}

/// Copies `src` to `dst` (or into `dst` if it is a directory) with its permission bits;
/// returns the path written.
pub fn copy(src: impl AsRef<Path>, dst: impl AsRef<Path>, config: &Config) -> Result<PathBuf> {
    let target = target_path(src.as_ref(), dst.as_ref())?;
    copy_single(
        src.as_ref(),
        &target,
        config,
        Keep {
            mode: true,
            times: false,
        },
    )?;
    Ok(target)
}

/// Like [`copy`], and also keeps access and modification times.
pub fn copy2(src: impl AsRef<Path>, dst: impl AsRef<Path>, config: &Config) -> Result<PathBuf> {
    let target = target_path(src.as_ref(), dst.as_ref())?;
    copy_single(
        src.as_ref(),
        &target,
        config,
        Keep {
            mode: true,
            times: true,
        },
    )?;
    Ok(target)
}

/// Copies many `(src, dst)` file pairs on `thread_count` workers, like [`copy`] (or [`copy2`]
/// when `preserve_metadata` is set). Failures follow the error strategy.
pub fn batch_copy<P: AsRef<Path> + Sync, Q: AsRef<Path> + Sync>(
    pairs: &[(P, Q)],
    config: &Config,
) -> Result<CopyReport> {
    config.validate()?;
    let ctx = Ctx::new(config, 0);
    let keep = Keep {
        mode: true,
        times: config.preserve_metadata,
    };
    let report = Mutex::new(CopyReport::default());
    let stop = AtomicBool::new(false);
    pool::for_each_index(pairs.len(), config.thread_count, &stop, |i| {
        let (src, dst) = (pairs[i].0.as_ref(), pairs[i].1.as_ref());
        let mut counted = false;
        let result = config.with_retry(|| {
            let md = source_meta(src, config.follow_symlinks)?;
            if !counted {
                // Once per file, however many tries it takes.
                ctx.tracker.add_total(md.len());
                counted = true;
            }
            let target = target_path(src, dst)?;
            copy_entry(&ctx, src, &md, &target, keep, true)
        });
        record(&report, &stop, config, src, result);
    });
    finish(report, config)
}

/// Adds one file's outcome to the report; a failure stops the others unless ignoring.
pub(crate) fn record(
    report: &Mutex<CopyReport>,
    stop: &AtomicBool,
    config: &Config,
    path: &Path,
    result: Result<u64>,
) {
    let mut r = report.lock().unwrap_or_else(|p| p.into_inner());
    match result {
        Ok(bytes) => {
            r.files += 1;
            r.bytes += bytes;
        }
        Err(e) if config.error_strategy == ErrorStrategy::Ignore && e.is_skip() => {
            tracing::warn!(path = %path.display(), reason = %e, "skipped");
            r.skipped.push((path.to_path_buf(), e));
        }
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "copy failed");
            if config.error_strategy != ErrorStrategy::Ignore {
                stop.store(true, Ordering::Relaxed);
            }
            r.failures.push((path.to_path_buf(), e));
        }
    }
}

/// Turns a report into the result: failures are an error unless the strategy ignores them
/// (what is skipped is only ever recorded under `Ignore`).
pub(crate) fn finish(report: Mutex<CopyReport>, config: &Config) -> Result<CopyReport> {
    let mut r = report.into_inner().unwrap_or_else(|p| p.into_inner());
    if config.error_strategy != ErrorStrategy::Ignore && !r.failures.is_empty() {
        return Err(Error::Failed {
            failures: std::mem::take(&mut r.failures),
        });
    }
    Ok(r)
}
