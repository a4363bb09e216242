//! Whole-file read access for the rsync codec: small files are read, large ones memory-mapped.

use std::fs::File;
use std::io::{self, Read};
use std::ops::Deref;

use memmap2::Mmap;

/// Files above this size are mapped instead of read into memory.
const MAP_ABOVE: u64 = 64 << 20;

/// The bytes of a file.
#[derive(Debug)]
pub(crate) enum Bytes {
    Read(Vec<u8>),
    Mapped(Mmap),
}

impl Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Bytes::Read(v) => v,
            Bytes::Mapped(m) => m,
        }
    }
}

/// Loads `file`, which the caller opened and whose content it verifies by hash afterwards.
pub(crate) fn load(file: &File) -> io::Result<Bytes> {
    let len = file.metadata()?.len();
    if len <= MAP_ABOVE {
        let mut v = Vec::with_capacity(len as usize);
        let mut f = file;
        f.read_to_end(&mut v)?;
        return Ok(Bytes::Read(v));
    }
    // SAFETY: the map is read-only and private to this process. Another process truncating the
    // file meanwhile could fault the read; writers to the copied trees replace files by rename
    // (ours always do), and every result built from these bytes is checked by SHA-256.
    let map = unsafe { Mmap::map(file)? };
    Ok(Bytes::Mapped(map))
}
