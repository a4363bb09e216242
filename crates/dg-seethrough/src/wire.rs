//! Recipe wire primitives: constants, LEB128 varints and a bounds-checked reader.

use super::error::{RecipeFault, SeeThroughError};

/// First four bytes of every recipe.
pub(super) const MAGIC: [u8; 4] = *b"dgST";
/// Recipe format version written by this build (2 added `CHUNK_ZLIB`, 3 `OP_XZ`, 4
/// `OP_BZIP2`, 5 `OP_NESTED`); it reads 1 to 5.
pub(super) const VERSION: u8 = 5;
/// Oldest recipe format version this build reads.
pub(super) const MIN_VERSION: u8 = 1;
/// Size of the fixed header: magic + version + reserved flags byte.
pub(super) const HEADER_LEN: usize = 6;
/// Size of the fixed trailer: plain_len u64 + total_len u64 + output crc32 u32 +
/// recipe crc32 u32 (CRC-32 of every recipe byte before it).
pub(super) const TRAILER_LEN: usize = 24;

/// End of an op list.
pub(super) const OP_END: u8 = 0x00;
/// Copy `len` bytes from the plain stream to the output.
pub(super) const OP_COPY: u8 = 0x01;
/// Copy `len` literal bytes stored in the recipe to the output.
pub(super) const OP_LIT: u8 = 0x02;
/// A deflate stream whose plaintext is read from the plain stream.
pub(super) const OP_DEFLATE: u8 = 0x03;
/// A deflate stream whose plaintext is produced by a nested op list.
pub(super) const OP_DEFLATE_NESTED: u8 = 0x04;
/// The 8-byte gzip trailer (CRC-32, ISIZE) of the immediately preceding deflate op.
pub(super) const OP_GZIP_TRAILER: u8 = 0x05;
/// (Version 3.) An xz stream liblzma recreates from its plaintext (the next plain bytes) and
/// its preset, check and block size.
pub(super) const OP_XZ: u8 = 0x06;
/// (Version 4.) A bzip2 stream libbzip2 recreates from its plaintext (the next plain bytes)
/// and its block size.
pub(super) const OP_BZIP2: u8 = 0x07;
/// (Version 5.) An xz or bzip2 stream (the `OP_XZ` or `OP_BZIP2` record right after the nested
/// op list) whose plaintext is produced by a nested op list: a tar with compressed members
/// inside a `.tar.xz`.
pub(super) const OP_NESTED: u8 = 0x08;

/// Chunk-list tag: one more chunk follows.
pub(super) const CHUNK_MORE: u8 = 0x01;
/// Chunk-list tag: end of the chunk list.
pub(super) const CHUNK_END: u8 = 0x00;
/// Chunk-list tag (version 2): the whole stream is zlib's output at a level; the only chunk.
pub(super) const CHUNK_ZLIB: u8 = 0x02;

/// Hard cap on one chunk's plaintext (rebuild refuses larger chunks).
pub(super) const MAX_CHUNK_PLAIN: u64 = 128 << 20;
/// Extra correction bytes allowed above a chunk's compressed length.
pub(super) const CORR_SLACK: u64 = 256;
/// Hard cap on a nested op list's output (it is buffered in memory).
pub(super) const MAX_NESTED_PLAIN: u64 = 512 << 20;
/// Hard cap on nesting depth of `OP_DEFLATE_NESTED`.
pub(super) const MAX_NEST: u8 = 4;

/// Largest compressed length a chunk may declare for a given plaintext length.
/// `expand` keeps streams that break this raw, so `rebuild` can enforce it.
pub(super) fn max_comp_for_plain(plain_len: u64) -> u64 {
    plain_len.saturating_mul(2).saturating_add(4096)
}

/// Appends `v` as an unsigned LEB128 varint.
pub(super) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Bounds-checked cursor over a byte slice; every failure is an error, never a panic.
#[derive(Clone)]
pub(super) struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    /// Offset of `data[0]` in the whole recipe, for error messages.
    base: u64,
    what: &'static str,
}

impl<'a> Reader<'a> {
    pub(super) fn new(data: &'a [u8], base: u64, what: &'static str) -> Self {
        Reader {
            data,
            pos: 0,
            base,
            what,
        }
    }

    /// Absolute offset of the next byte (for error messages).
    pub(super) fn offset(&self) -> u64 {
        self.base.saturating_add(self.pos as u64)
    }

    /// The bytes not read yet.
    pub(super) fn rest(&self) -> &'a [u8] {
        self.data.get(self.pos..).unwrap_or_default()
    }

    pub(super) fn remaining(&self) -> usize {
        self.data.len().saturating_sub(self.pos)
    }

    pub(super) fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    pub(super) fn u8(&mut self) -> Result<u8, SeeThroughError> {
        let b = *self
            .data
            .get(self.pos)
            .ok_or(SeeThroughError::Truncated { what: self.what })?;
        self.pos += 1;
        Ok(b)
    }

    pub(super) fn take(&mut self, n: u64) -> Result<&'a [u8], SeeThroughError> {
        let n = usize::try_from(n).map_err(|_| SeeThroughError::Truncated { what: self.what })?;
        if n > self.remaining() {
            return Err(SeeThroughError::Truncated { what: self.what });
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    pub(super) fn varint(&mut self) -> Result<u64, SeeThroughError> {
        let start = self.offset();
        let mut v: u64 = 0;
        for i in 0..10u32 {
            let b = self.u8()?;
            let bits = u64::from(b & 0x7f);
            if i == 9 && b > 1 {
                return Err(SeeThroughError::bad(start, RecipeFault::VarintOverflow));
            }
            v |= bits << (7 * i);
            if b & 0x80 == 0 {
                if i > 0 && b == 0 {
                    return Err(SeeThroughError::bad(start, RecipeFault::VarintNotCanonical));
                }
                return Ok(v);
            }
        }
        Err(SeeThroughError::bad(start, RecipeFault::VarintTooLong))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn varint_roundtrip() {
        for v in [0u64, 1, 127, 128, 300, 1 << 35, u64::MAX - 1, u64::MAX] {
            let mut b = Vec::new();
            put_varint(&mut b, v);
            let mut r = Reader::new(&b, 0, "t");
            assert_eq!(r.varint().unwrap(), v);
            assert!(r.is_empty());
        }
    }

    #[test]
    fn varint_rejects_garbage() {
        let mut r = Reader::new(&[0xff; 11], 0, "t");
        assert!(r.varint().is_err());
        let mut r = Reader::new(&[0x80, 0x00], 0, "t");
        assert!(r.varint().is_err());
        let mut r = Reader::new(&[0x80], 0, "t");
        assert!(matches!(r.varint(), Err(SeeThroughError::Truncated { .. })));
        let mut r = Reader::new(
            &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02],
            0,
            "t",
        );
        assert!(r.varint().is_err());
    }
}
