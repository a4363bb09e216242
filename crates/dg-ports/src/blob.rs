//! Blobs: immutable byte sequences of any size (usually temp files) and the staging space that makes them.

use std::fmt::Debug;
use std::io::{Read, Write};
use std::ops::Deref;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;

use crate::Result;

/// A shared, immutable blob.
pub type BlobRef = Arc<dyn Blob>;

/// An immutable sequence of bytes, possibly many gigabytes long.
///
/// This is how large data flows through every port: storage `put` reads from a blob, staging
/// produces blobs, diff engines read references through [`Blob::map`]. Implementations are
/// files on local disk (memory-mapped on demand) or byte buffers.
///
/// # Contract
/// - The content never changes while any handle to the blob exists.
/// - [`Blob::reader`] may be called any number of times; each reader starts at offset 0 and
///   yields exactly [`Blob::len`] bytes.
/// - [`Blob::map`] returns the whole content as one slice without copying it into the heap
///   when the blob is a file (memory map), so references larger than RAM work.
pub trait Blob: Send + Sync + Debug {
    /// Length in bytes.
    fn len(&self) -> u64;

    /// True when the blob holds no bytes.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A fresh sequential reader over the whole content.
    fn reader(&self) -> Result<Box<dyn Read + Send>>;

    /// The whole content as a byte slice (memory-mapped for files).
    fn map(&self) -> Result<Mapped>;

    /// The local file holding this blob, when it is one. Callers may hard-link or copy it, never
    /// modify it.
    fn path(&self) -> Option<&Path> {
        None
    }
}

/// A read-only view of a blob's bytes: a memory map or a shared buffer.
#[derive(Clone)]
pub struct Mapped(Arc<dyn AsRef<[u8]> + Send + Sync>);

impl Mapped {
    /// Wraps anything that exposes bytes (a `memmap2::Mmap`, [`Bytes`], a `Vec<u8>`).
    pub fn new(inner: impl AsRef<[u8]> + Send + Sync + 'static) -> Self {
        Mapped(Arc::new(inner))
    }
}

impl Deref for Mapped {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        (*self.0).as_ref()
    }
}

impl AsRef<[u8]> for Mapped {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl Debug for Mapped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Mapped({} bytes)", self.len())
    }
}

/// A blob held in memory. Used for small objects and in tests.
#[derive(Clone, Debug, Default)]
pub struct BytesBlob(pub Bytes);

impl BytesBlob {
    /// A blob of these bytes, shared.
    pub fn shared(bytes: impl Into<Bytes>) -> BlobRef {
        Arc::new(BytesBlob(bytes.into()))
    }
}

impl Blob for BytesBlob {
    fn len(&self) -> u64 {
        self.0.len() as u64
    }
    fn reader(&self) -> Result<Box<dyn Read + Send>> {
        Ok(Box::new(std::io::Cursor::new(self.0.clone())))
    }
    fn map(&self) -> Result<Mapped> {
        Ok(Mapped::new(self.0.clone()))
    }
}

/// Scratch space where blobs are written: temp files in a directory, or memory.
///
/// # Contract
/// - [`Staging::create`] returns a writer; bytes written become a blob only when
///   [`StagedBlob::finish`] succeeds. A writer dropped without `finish` leaves nothing behind.
/// - Blobs stay readable for as long as a handle exists and are removed after the last one is
///   dropped (or when the process exits).
pub trait Staging: Send + Sync + Debug {
    /// Starts a new blob.
    fn create(&self) -> Result<Box<dyn StagedBlob>>;
}

/// A blob being written. See [`Staging`].
pub trait StagedBlob: Write + Send {
    /// Flushes the bytes and turns them into an immutable blob.
    fn finish(self: Box<Self>) -> Result<BlobRef>;

    /// The file behind this blob, when staging writes to disk. Callers use it to make a finished
    /// download visible under its final name with one rename.
    fn path(&self) -> Option<&Path> {
        None
    }

    /// Checks, before `len` bytes of `what` are written, that they fit where this blob is
    /// written ([`NoSpace`](crate::Error::NoSpace) when they do not), so that a large or hostile object fails
    /// at once instead of filling the disk. The default (memory, caller-owned writers) accepts.
    fn reserve(&mut self, len: u64, what: &str) -> Result<()> {
        let _ = (len, what);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_blob_reads_and_maps() {
        let b = BytesBlob::shared(&b"hello"[..]);
        assert_eq!(b.len(), 5);
        let mut s = String::new();
        b.reader().unwrap().read_to_string(&mut s).unwrap();
        assert_eq!(s, "hello");
        assert_eq!(&*b.map().unwrap(), b"hello");
        assert!(b.path().is_none());
    }
}
