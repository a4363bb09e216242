//! Staging space: temp files in a directory (or memory) that become blobs.

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

    fn reserve(&mut self, len: u64, what: &str) -> Result<()> {
        let dir = self.path.parent().map(|p| p.display().to_string());
        crate::space::check_free(
            self.out.get_ref(),
            len,
            what,
            &format!("the staging directory {}", dir.unwrap_or_default()),
        )
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
}
