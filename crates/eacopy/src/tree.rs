//! `copytree`: a parallel walk, then directories in order, files on `thread_count` workers,
//! and directory times last.

use std::fs;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Mutex;

use crate::meta::{self, Keep};
use crate::ops::{self, Ctx};
use crate::report::CopyReport;
use crate::walk::walk;
use crate::{pool, Config, Error, ErrorStrategy, Result};

/// Copies the directory tree `src` to `dst` on `thread_count` workers.
///
/// `dst` must not exist unless `dirs_exist_ok` is set. Files keep their mode, and their
/// times when `preserve_metadata` is set; symlinks are recreated as links unless
/// `follow_symlinks`; the include/exclude filters apply.
pub fn copytree(
    src: impl AsRef<Path>,
    dst: impl AsRef<Path>,
    config: &Config,
) -> Result<CopyReport> {
    let (src, dst) = (src.as_ref(), dst.as_ref());
    config.validate()?;
    let root_meta = fs::metadata(src).map_err(|e| Error::io(src, e))?;
    if !root_meta.is_dir() {
        return Err(Error::InvalidConfig {
            what: format!("{} is not a directory; use copy for files", src.display()),
        });
    }
    let existed = match fs::symlink_metadata(dst) {
        Ok(_) if !config.dirs_exist_ok => {
            return Err(Error::DestinationExists {
                path: dst.to_path_buf(),
            })
        }
        Ok(m) if !m.is_dir() => {
            return Err(Error::DestinationExists {
                path: dst.to_path_buf(),
            })
        }
        Ok(_) => true,
        Err(_) => false,
    };
    if dst.starts_with(src) && dst != src {
        // Refuse before creating anything: the walk would copy the copy.
        return Err(Error::InvalidConfig {
            what: format!(
                "{} is inside {}; choose a destination outside the source",
                dst.display(),
                src.display()
            ),
        });
    }
    // An unreadable directory fails the walk; `Retry` walks again, `Ignore` goes on without it.
    // Special files and symlink loops fail it too (no retry heals them), or are listed as
    // skipped under `Ignore`. Either way nothing is made at the destination before this.
    let listing = config.with_retry(|| {
        let mut listing = walk(src, config)?;
        if !listing.failures.is_empty() && config.error_strategy != ErrorStrategy::Ignore {
            return Err(Error::Failed {
                failures: std::mem::take(&mut listing.failures),
            });
        }
        Ok(listing)
    })?;
    if !listing.skipped.is_empty() && config.error_strategy != ErrorStrategy::Ignore {
        return Err(Error::Failed {
            failures: listing.skipped,
        });
    }
    let mut report = CopyReport {
        filtered: listing.filtered,
        failures: listing.failures,
        skipped: listing.skipped,
        ..CopyReport::default()
    };
    let keep = Keep {
        mode: true,
        times: config.preserve_metadata,
    };

    if !existed {
        fs::create_dir_all(dst).map_err(|e| Error::io(dst, e))?;
    }
    let mut dirs = listing.dirs;
    dirs.sort_by(|a, b| a.rel.cmp(&b.rel)); // parents before children
    for d in &dirs {
        let path = dst.join(&d.rel);
        let made = config.with_retry(|| match fs::create_dir(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && path.is_dir() => Ok(()),
            Err(e) => Err(Error::io(&path, e)),
        });
        match made {
            Ok(()) => report.dirs += 1,
            Err(err) if config.error_strategy != ErrorStrategy::Ignore => return Err(err),
            Err(err) => report.failures.push((path, err)),
        }
    }

    let mut files = listing.files;
    files.sort_by_key(|f| std::cmp::Reverse(f.meta.len())); // big files first balance the workers
    let total = files.iter().map(|f| f.meta.len()).sum();
    let ctx = Ctx::new(config, total);
    let shared = Mutex::new(report);
    let stop = AtomicBool::new(false);
    pool::for_each_index(files.len(), config.thread_count, &stop, |i| {
        let f = &files[i];
        let (from, to) = (src.join(&f.rel), dst.join(&f.rel));
        let result =
            config.with_retry(|| ops::copy_entry(&ctx, &from, &f.meta, &to, keep, existed));
        if result.is_ok() && f.meta.file_type().is_symlink() {
            let mut r = shared.lock().unwrap_or_else(|p| p.into_inner());
            r.symlinks += 1;
            return;
        }
        ops::record(&shared, &stop, config, &from, result);
    });

    // Children first, so writing a child does not bump its parent's times again.
    for d in dirs.iter().rev() {
        let path = dst.join(&d.rel);
        if let Err(e) = meta::apply_to_path(&path, &d.meta, keep) {
            tracing::debug!(path = %path.display(), error = %e, "directory metadata not set");
        }
    }
    if let Err(e) = meta::apply_to_path(dst, &root_meta, keep) {
        tracing::debug!(path = %dst.display(), error = %e, "directory metadata not set");
    }
    ops::finish(shared, config)
}

/// Copies several trees, one after the other (each on `thread_count` workers); the reports are
/// added up. Failures follow the error strategy: with `Ignore`, a tree that cannot start is
/// recorded and the next one copied.
pub fn batch_copytree<P: AsRef<Path>, Q: AsRef<Path>>(
    pairs: &[(P, Q)],
    config: &Config,
) -> Result<CopyReport> {
    let mut total = CopyReport::default();
    for (src, dst) in pairs {
        match copytree(src, dst, config) {
            Ok(r) => {
                total.files += r.files;
                total.bytes += r.bytes;
                total.dirs += r.dirs;
                total.symlinks += r.symlinks;
                total.filtered += r.filtered;
                total.failures.extend(r.failures);
                total.skipped.extend(r.skipped);
            }
            Err(e) if config.error_strategy == ErrorStrategy::Ignore => {
                let list = if e.is_skip() {
                    &mut total.skipped
                } else {
                    &mut total.failures
                };
                list.push((src.as_ref().to_path_buf(), e));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(total)
}
