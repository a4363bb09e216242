//! Staging space: temp files in a directory (or memory) that become blobs, and destination
//! files that appear under their final name only when finished.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use dg_ports::{BlobRef, BytesBlob, Error, Result, StagedBlob, Staging};
use tempfile::TempPath;

use crate::blob::FileBlob;

/// Staging in a directory: each blob is a temp file there, removed with its last handle.
#[derive(Clone, Debug)]
pub struct DirStaging {
    dir: PathBuf,
}

impl DirStaging {
    /// Staging in `dir` (created if missing).
    pub fn new(dir: impl Into<PathBuf>) -> Result<Self> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::from_io(dir.display(), "creating staging directory", e))?;
        Ok(DirStaging { dir })
    }

    /// Staging in the system temp directory.
    pub fn system() -> Result<Self> {
        Self::new(std::env::temp_dir())
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Staging for DirStaging {
    fn create(&self) -> Result<Box<dyn StagedBlob>> {
        let (file, path) = tempfile::Builder::new()
            .prefix(".dg-stage-")
            .tempfile_in(&self.dir)
            .map_err(|e| Error::from_io(self.dir.display(), "creating a temp file in", e))?
            .into_parts();
        Ok(Box::new(StagedFile {
            out: BufWriter::with_capacity(1 << 20, file),
            path,
        }))
    }
}

/// A temp file being written.
#[derive(Debug)]
struct StagedFile {
    out: BufWriter<File>,
    path: TempPath,
}

impl Write for StagedFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

impl StagedBlob for StagedFile {
    fn finish(self: Box<Self>) -> Result<BlobRef> {
        let StagedFile { out, path } = *self;
        let file = out
            .into_inner()
            .map_err(|e| Error::io(format!("writing {}", path.display()), e.into_error()))?;
        let len = file
            .metadata()
            .map_err(|e| Error::io(format!("reading {}", path.display()), e))?
            .len();
        Ok(FileBlob::temp(path, len))
    }

    fn path(&self) -> Option<&Path> {
        Some(&self.path)
    }
}

/// Staging in memory, for tests and small data.
#[derive(Clone, Copy, Debug, Default)]
pub struct MemoryStaging;

impl Staging for MemoryStaging {
    fn create(&self) -> Result<Box<dyn StagedBlob>> {
        Ok(Box::new(MemoryStaged(Vec::new())))
    }
}

#[derive(Debug)]
struct MemoryStaged(Vec<u8>);

impl Write for MemoryStaged {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl StagedBlob for MemoryStaged {
    fn finish(self: Box<Self>) -> Result<BlobRef> {
        Ok(BytesBlob::shared(self.0))
    }
}

/// A file written under a temp name next to its destination and renamed into place by
/// [`StagedBlob::finish`]. Dropped unfinished, it leaves nothing behind.
#[derive(Debug)]
pub struct DestinationFile {
    staged: StagedFile,
    destination: PathBuf,
}

impl DestinationFile {
    /// Starts writing what will become `destination`.
    pub fn create(destination: impl Into<PathBuf>) -> Result<Self> {
        let destination = destination.into();
        let dir = match destination.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = destination
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let prefix = format!(".{name}.dg-");
        let mut builder = tempfile::Builder::new();
        builder.prefix(&prefix).suffix(".part");
        crate::blob::user_file(&mut builder);
        let (file, path) = builder
            .tempfile_in(&dir)
            .map_err(|e| Error::from_io(dir.display(), "creating a temp file in", e))?
            .into_parts();
        Ok(DestinationFile {
            staged: StagedFile {
                out: BufWriter::with_capacity(1 << 20, file),
                path,
            },
            destination,
        })
    }
}

impl Write for DestinationFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.staged.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.staged.flush()
    }
}

impl StagedBlob for DestinationFile {
    fn finish(self: Box<Self>) -> Result<BlobRef> {
        let DestinationFile {
            staged,
            destination,
        } = *self;
        let StagedFile { out, path } = staged;
        let file = out
            .into_inner()
            .map_err(|e| Error::io(format!("writing {}", path.display()), e.into_error()))?;
        file.sync_all()
            .map_err(|e| Error::io(format!("syncing {}", path.display()), e))?;
        drop(file);
        path.persist(&destination).map_err(|e| {
            Error::from_io(
                destination.display(),
                "renaming a finished download to",
                e.error,
            )
        })?;
        FileBlob::open(destination)
    }

    fn path(&self) -> Option<&Path> {
        Some(&self.staged.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn staged_files_vanish_with_their_blob() {
        let dir = tempfile::tempdir().unwrap();
        let staging = DirStaging::new(dir.path()).unwrap();
        let mut w = staging.create().unwrap();
        w.write_all(b"hello").unwrap();
        let blob = w.finish().unwrap();
        let path = blob.path().unwrap().to_path_buf();
        assert!(path.exists());
        assert_eq!(&*blob.map().unwrap(), b"hello");
        let mut s = String::new();
        blob.reader().unwrap().read_to_string(&mut s).unwrap();
        assert_eq!(s, "hello");
        drop(blob);
        assert!(!path.exists());
        // unfinished writers leave nothing
        let w = staging.create().unwrap();
        drop(w);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn destination_appears_only_when_finished() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out.bin");
        let mut w = DestinationFile::create(&dest).unwrap();
        w.write_all(b"data").unwrap();
        assert!(!dest.exists());
        drop(w);
        assert!(!dest.exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        let mut w = Box::new(DestinationFile::create(&dest).unwrap());
        w.write_all(b"data").unwrap();
        let blob = w.finish().unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"data");
        drop(blob);
        assert!(dest.exists(), "a finished destination is kept");
    }
}
