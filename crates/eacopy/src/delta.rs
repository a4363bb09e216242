//! `delta_copy`: writes `dst = src` starting from a reference copy, so only the blocks that
//! differ from the reference are written, then checks the result's SHA-256.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::hash::{hash_reader, hex, Hash};
use crate::meta::{self, Keep};
use crate::report::Tracker;
use crate::{Config, Error, Result};

/// What a [`delta_copy`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeltaReport {
    /// Size of the file written (= size of `src`).
    pub bytes_total: u64,
    /// Bytes equal to the reference at the same offset, not written again.
    pub bytes_reused: u64,
    /// Bytes written from `src`.
    pub bytes_written: u64,
    /// Whether the reference was cloned (reflink), so reused bytes cost nothing.
    pub cloned: bool,
    /// SHA-256 of the result, checked after writing.
    pub sha256: Hash,
}

/// Makes `dst` a copy of `src`, using `reference` (an older version of the same file) so that
/// unchanged blocks are not rewritten, and verifies the result by SHA-256.
///
/// When `reference` *is* `dst` (same file), `dst` is patched in place and only changed blocks
/// are written. Otherwise a temporary file next to `dst` starts as a clone of `reference`
/// (reflink where the file system can, else a kernel copy), gets the changed blocks, is checked
/// and renamed over `dst`. Blocks are compared at equal offsets (`buffer_size` bytes); data
/// that moved is simply rewritten (the copy server's rsync deltas handle moved data).
pub fn delta_copy(
    src: impl AsRef<Path>,
    dst: impl AsRef<Path>,
    reference: impl AsRef<Path>,
    config: &Config,
) -> Result<DeltaReport> {
    let (src, dst, reference) = (src.as_ref(), dst.as_ref(), reference.as_ref());
    config.validate()?;
    config.with_retry(|| delta_once(src, dst, reference, config))
}

fn delta_once(src: &Path, dst: &Path, reference: &Path, config: &Config) -> Result<DeltaReport> {
    let src_file = crate::ops::open_regular(src)?;
    let src_md = src_file.metadata().map_err(|e| Error::io(src, e))?;
    if src_md.is_dir() {
        return Err(Error::IsADirectory {
            path: src.to_path_buf(),
        });
    }
    let ref_file = crate::ops::open_regular(reference)?;
    let ref_md = ref_file.metadata().map_err(|e| Error::io(reference, e))?;
    if src_md.dev() == ref_md.dev()
        && src_md.ino() == ref_md.ino()
        && fs::metadata(dst).is_ok_and(|d| d.ino() == src_md.ino())
    {
        return Err(Error::SameFile {
            path: dst.to_path_buf(),
        });
    }
    let in_place =
        fs::metadata(dst).is_ok_and(|d| d.dev() == ref_md.dev() && d.ino() == ref_md.ino());
    let (out, tmp) = if in_place {
        (
            OpenOptions::new()
                .write(true)
                .read(true)
                .open(dst)
                .map_err(|e| Error::io(dst, e))?,
            None,
        )
    } else {
        let tmp = temp_path(dst);
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(src_md.mode() & 0o777)
            .open(&tmp)
            .map_err(|e| Error::io(&tmp, e))?;
        (f, Some(tmp))
    };
    let result = patch(
        &src_file,
        &src_md,
        &ref_file,
        &out,
        in_place,
        config,
        (src, dst),
    )
    .and_then(|mut report| {
        out.set_len(report.bytes_total)
            .map_err(|e| Error::io(dst, e))?;
        let actual = hash_reader(&out).map_err(|e| Error::io(dst, e))?;
        if actual != report.sha256 {
            return Err(Error::HashMismatch {
                path: dst.to_path_buf(),
                expected: hex(&report.sha256),
                actual: hex(&actual),
            });
        }
        if config.preserve_metadata {
            meta::apply_to_file(
                &out,
                &src_md,
                Keep {
                    mode: true,
                    times: true,
                },
            )
            .map_err(|e| Error::io(dst, e))?;
        }
        if let Some(tmp) = &tmp {
            fs::rename(tmp, dst).map_err(|e| Error::io(dst, e))?;
        }
        report.cloned |= in_place;
        Ok(report)
    });
    if let (Err(_), Some(tmp)) = (&result, &tmp) {
        let _ = fs::remove_file(tmp);
    }
    result
}

/// Compares `src` with the reference block by block and writes the differences into `out`.
fn patch(
    src: &File,
    src_md: &fs::Metadata,
    reference: &File,
    out: &File,
    in_place: bool,
    config: &Config,
    (src_path, dst): (&Path, &Path),
) -> Result<DeltaReport> {
    let cloned = in_place || rustix::fs::ioctl_ficlone(out, reference).is_ok();
    let len = src_md.len();
    let block = config.buffer_size;
    let (mut a, mut b) = (vec![0u8; block], vec![0u8; block]);
    let mut hasher = Sha256::new();
    let tracker = Tracker::new(config.progress.clone(), len);
    let mut report = DeltaReport {
        bytes_total: len,
        cloned,
        ..DeltaReport::default()
    };
    let mut off = 0u64;
    loop {
        let n = read_full_at(src, &mut a, off).map_err(|e| Error::io(src_path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&a[..n]);
        let m = read_full_at(reference, &mut b[..n], off).map_err(|e| Error::io(dst, e))?;
        if m == n && a[..n] == b[..n] {
            report.bytes_reused += n as u64;
            if !cloned {
                let (mut i, mut o) = (off, off);
                let copied =
                    rustix::fs::copy_file_range(reference, Some(&mut i), out, Some(&mut o), n)
                        .unwrap_or(0);
                if copied != n {
                    out.write_all_at(&a[..n], off)
                        .map_err(|e| Error::io(dst, e))?;
                }
            }
        } else {
            out.write_all_at(&a[..n], off)
                .map_err(|e| Error::io(dst, e))?;
            report.bytes_written += n as u64;
        }
        off += n as u64;
        tracker.advance(n as u64, dst);
    }
    if off != len {
        report.bytes_total = off; // the source changed size while we read it
    }
    report.sha256 = hasher.finalize().into();
    Ok(report)
}

/// Reads until `buf` is full or the file ends; returns the bytes read.
fn read_full_at(file: &File, buf: &mut [u8], off: u64) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match file.read_at(&mut buf[got..], off + got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// A hidden temporary name next to `path`, unique to this process and moment.
pub(crate) fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut nonce = [0u8; 6];
    let _ = getrandom::fill(&mut nonce);
    let tag: String = nonce.iter().map(|b| format!("{b:02x}")).collect();
    path.with_file_name(format!(".{name}.eacopy-{}-{tag}.tmp", std::process::id()))
}
