//! File-backed blobs: a file on local disk, memory-mapped on demand, deleted with the last
//! handle when it is a temp file.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use dg_ports::{Blob, BlobRef, Error, Mapped, Result};
use tempfile::TempPath;

/// A blob stored in a local file.
#[derive(Debug)]
pub struct FileBlob {
    path: PathBuf,
    len: u64,
    /// Deletes the file when the blob is dropped (temp files only).
    _temp: Option<TempPath>,
}

impl FileBlob {
    /// A blob over an existing file, which must not change while the blob is in use (a change
    /// is caught by the SHA-256 checks, never silently stored).
    pub fn open(path: impl Into<PathBuf>) -> Result<BlobRef> {
        let path = path.into();
        let meta =
            std::fs::metadata(&path).map_err(|e| Error::from_io(path.display(), "reading", e))?;
        if !meta.is_file() {
            return Err(Error::InvalidInput(format!(
                "{} is not a regular file",
                path.display()
            )));
        }
        Ok(Arc::new(FileBlob {
            path,
            len: meta.len(),
            _temp: None,
        }))
    }

    /// A blob over a temp file that is removed when the blob is dropped.
    pub(crate) fn temp(path: TempPath, len: u64) -> BlobRef {
        Arc::new(FileBlob {
            path: path.to_path_buf(),
            len,
            _temp: Some(path),
        })
    }
}

impl Blob for FileBlob {
    fn len(&self) -> u64 {
        self.len
    }

    fn reader(&self) -> Result<Box<dyn Read + Send>> {
        let f = File::open(&self.path)
            .map_err(|e| Error::from_io(self.path.display(), "opening", e))?;
        Ok(Box::new(
            std::io::BufReader::with_capacity(1 << 20, f).take(self.len),
        ))
    }

    fn map(&self) -> Result<Mapped> {
        if self.len == 0 {
            return Ok(Mapped::new(Vec::new()));
        }
        let f = File::open(&self.path)
            .map_err(|e| Error::from_io(self.path.display(), "opening", e))?;
        // SAFETY: the file is a private temp file that nobody writes after it was finished, or
        // a file the caller promised not to change while the blob is in use. A change made
        // anyway can only produce wrong bytes, which the SHA-256 checks reject.
        let map = unsafe { memmap2::Mmap::map(&f) }
            .map_err(|e| Error::io(format!("memory-mapping {}", self.path.display()), e))?;
        if (map.len() as u64) < self.len {
            return Err(Error::Io {
                context: format!("{} shrank while in use", self.path.display()),
                source: std::io::Error::from(std::io::ErrorKind::UnexpectedEof),
            });
        }
        Ok(Mapped::new(map))
    }

    fn path(&self) -> Option<&Path> {
        Some(&self.path)
    }
}

/// A blob over an open file handle: it stays readable after its path is deleted or replaced
/// (cache eviction by another process), or when it never had a path (anonymous temp files).
#[derive(Debug)]
pub struct HandleBlob {
    file: Arc<File>,
    len: u64,
}

impl HandleBlob {
    /// A blob over the first `len` bytes of `file`, which must not be written any more.
    pub fn shared(file: File, len: u64) -> BlobRef {
        Arc::new(HandleBlob {
            file: Arc::new(file),
            len,
        })
    }
}

/// Reads a shared file handle from its own position, without touching the handle's offset.
#[derive(Debug)]
struct PositionalReader {
    file: Arc<File>,
    pos: u64,
    end: u64,
}

impl Read for PositionalReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use std::os::unix::fs::FileExt;
        let left = self.end.saturating_sub(self.pos);
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        if want == 0 {
            return Ok(0);
        }
        let n = self
            .file
            .read_at(buf.get_mut(..want).unwrap_or_default(), self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Blob for HandleBlob {
    fn len(&self) -> u64 {
        self.len
    }

    fn reader(&self) -> Result<Box<dyn Read + Send>> {
        Ok(Box::new(std::io::BufReader::with_capacity(
            1 << 20,
            PositionalReader {
                file: self.file.clone(),
                pos: 0,
                end: self.len,
            },
        )))
    }

    fn map(&self) -> Result<Mapped> {
        if self.len == 0 {
            return Ok(Mapped::new(Vec::new()));
        }
        let len = usize::try_from(self.len)
            .map_err(|_| Error::InvalidInput("blob larger than the address space".into()))?;
        // SAFETY: the handle's file is never written after the blob was made (cache entries are
        // replaced by rename, never rewritten in place; anonymous files have no other writer).
        let map = unsafe { memmap2::MmapOptions::new().len(len).map(&*self.file) }
            .map_err(|e| Error::io("memory-mapping a cached reference", e))?;
        Ok(Mapped::new(map))
    }
}

/// Applies the permissions of an ordinary new file (`rw-rw-rw-` less the umask, as `open(2)`
/// with mode 0666 gives) to files users will see: downloads and local-store objects.
pub(crate) fn user_file(builder: &mut tempfile::Builder<'_, '_>) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    #[cfg(not(unix))]
    let _ = builder;
}
