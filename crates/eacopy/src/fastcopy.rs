//! Moves one file's bytes as fast as the file system allows: reflink, sparse-aware
//! `copy_file_range`, then plain reads and writes.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::sync::atomic::{AtomicBool, Ordering};

use rustix::fs::SeekFrom;
use rustix::io::Errno;

/// How the bytes of one file were moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// The destination shares the source's extents (`FICLONE`): no data was written.
    Reflink,
    /// The kernel copied the data (`copy_file_range`), holes kept.
    CopyFileRange,
    /// Read into a buffer and written out.
    ReadWrite,
}

/// The fast paths that still look usable during one operation; a file system that refuses
/// one is not asked again for every file.
#[derive(Debug)]
pub(crate) struct Engine {
    reflink: AtomicBool,
    copy_range: AtomicBool,
    buffer_size: usize,
}

/// Granularity of progress reports for large kernel copies.
const KERNEL_CHUNK: u64 = 64 << 20;

impl Engine {
    pub(crate) fn new(buffer_size: usize) -> Self {
        Engine {
            reflink: AtomicBool::new(true),
            copy_range: AtomicBool::new(true),
            buffer_size,
        }
    }

    /// Copies all of `src` (of `meta`'s size) into the empty file `dst`; `progress` gets
    /// each run of bytes copied.
    pub(crate) fn copy(
        &self,
        src: &File,
        meta: &std::fs::Metadata,
        dst: &File,
        progress: &mut dyn FnMut(u64),
    ) -> io::Result<Method> {
        let len = meta.len();
        if len == 0 {
            // Empty, or a pseudo-file whose size is unknown: read it to the end.
            self.read_write_to_end(src, dst, progress)?;
            return Ok(Method::ReadWrite);
        }
        if self.reflink.load(Ordering::Relaxed) {
            match rustix::fs::ioctl_ficlone(dst, src) {
                Ok(()) => {
                    progress(len);
                    return Ok(Method::Reflink);
                }
                Err(e) if unsupported(e) || e == Errno::XDEV => {
                    self.reflink.store(false, Ordering::Relaxed)
                }
                Err(_) => {}
            }
        }
        // Fewer allocated blocks than the size says: the file has holes worth keeping.
        let sparse = meta.blocks().saturating_mul(512) < len;
        let mut method = Method::CopyFileRange;
        if sparse {
            let mut pos = 0u64;
            while pos < len {
                let start = match rustix::fs::seek(src, SeekFrom::Data(pos)) {
                    Ok(s) => s,
                    Err(Errno::NXIO) => break,
                    Err(_) => {
                        // No SEEK_DATA here: copy the rest densely.
                        method = self.copy_range(src, dst, pos, len - pos, progress)?;
                        break;
                    }
                };
                let end = rustix::fs::seek(src, SeekFrom::Hole(start))
                    .unwrap_or(len)
                    .min(len);
                if end <= start {
                    break;
                }
                method = self.copy_range(src, dst, start, end - start, progress)?;
                pos = end;
            }
            dst.set_len(len)?;
        } else {
            method = self.copy_range(src, dst, 0, len, progress)?;
        }
        Ok(method)
    }

    /// Copies `len` bytes at offset `off` of `src` to the same offset of `dst`.
    fn copy_range(
        &self,
        src: &File,
        dst: &File,
        off: u64,
        len: u64,
        progress: &mut dyn FnMut(u64),
    ) -> io::Result<Method> {
        let (mut in_off, mut out_off) = (off, off);
        let end = off + len;
        if self.copy_range.load(Ordering::Relaxed) {
            while in_off < end {
                let want = (end - in_off).min(KERNEL_CHUNK) as usize;
                match rustix::fs::copy_file_range(
                    src,
                    Some(&mut in_off),
                    dst,
                    Some(&mut out_off),
                    want,
                ) {
                    Ok(0) => return Ok(Method::CopyFileRange), // the source shrank meanwhile
                    Ok(n) => progress(n as u64),
                    Err(Errno::INTR) => {}
                    Err(e)
                        if in_off == off
                            && (unsupported(e) || e == Errno::XDEV || e == Errno::INVAL) =>
                    {
                        self.copy_range.store(false, Ordering::Relaxed);
                        break;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            if in_off >= end {
                return Ok(Method::CopyFileRange);
            }
        }
        let mut buf = vec![0u8; self.buffer_size.min(len as usize).max(4096)];
        while in_off < end {
            let want = ((end - in_off) as usize).min(buf.len());
            let n = src.read_at(&mut buf[..want], in_off)?;
            if n == 0 {
                break;
            }
            dst.write_all_at(&buf[..n], in_off)?;
            in_off += n as u64;
            progress(n as u64);
        }
        Ok(Method::ReadWrite)
    }

    fn read_write_to_end(
        &self,
        mut src: &File,
        mut dst: &File,
        progress: &mut dyn FnMut(u64),
    ) -> io::Result<()> {
        let mut buf = vec![0u8; 64 << 10];
        loop {
            let n = match src.read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            dst.write_all(&buf[..n])?;
            progress(n as u64);
        }
    }
}

fn unsupported(e: Errno) -> bool {
    e == Errno::OPNOTSUPP || e == Errno::NOSYS || e == Errno::NOTTY || e == Errno::BADF
}
