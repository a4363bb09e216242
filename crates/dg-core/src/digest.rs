//! SHA-256 helpers: hashing blobs and hashing bytes as they are written.

use std::io::{self, Read, Write};

use dg_ports::{Blob, Error, Result};
use sha2::{Digest, Sha256};

/// Lowercase hex of a byte string.
pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

/// SHA-256 of `bytes`, lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    to_hex(&Sha256::digest(bytes))
}

/// The first 32 hex digits of the SHA-256 of `key`: a fixed-length name for a key in dg's
/// internal state (markers, layers).
pub fn short_digest(key: &str) -> String {
    let mut digest = sha256_hex(key.as_bytes());
    digest.truncate(32);
    digest
}

/// True when `s` looks like a lowercase or uppercase hex SHA-256.
pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// SHA-256 of a blob's whole content, read sequentially (call from a blocking thread).
pub fn sha256_blob(blob: &dyn Blob, what: &str) -> Result<String> {
    let mut reader = blob.reader()?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = reader
            .read(&mut buf)
            .map_err(|e| Error::io(format!("reading {what}"), e))?;
        if n == 0 {
            break;
        }
        hasher.update(buf.get(..n).unwrap_or_default());
    }
    Ok(to_hex(&hasher.finalize()))
}

/// A writer that hashes and counts everything written through it.
#[derive(Debug)]
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    written: u64,
}

impl<W: Write> HashingWriter<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
            written: 0,
        }
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// The inner writer, the hex digest and the byte count.
    pub fn finish(self) -> (W, String, u64) {
        (self.inner, to_hex(&self.hasher.finalize()), self.written)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        let done = buf.get(..n).unwrap_or_default();
        self.hasher.update(done);
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A writer that fails once more than `limit` bytes are written, remembering that it did.
#[derive(Debug)]
pub struct LimitedWriter<W> {
    inner: W,
    limit: u64,
    written: u64,
    exceeded: bool,
}

impl<W: Write> LimitedWriter<W> {
    /// Wraps `inner` with a byte budget.
    pub fn new(inner: W, limit: u64) -> Self {
        LimitedWriter {
            inner,
            limit,
            written: 0,
            exceeded: false,
        }
    }

    /// True when a write went over the limit.
    pub fn exceeded(&self) -> bool {
        self.exceeded
    }

    /// The inner writer.
    pub fn into_inner(self) -> W {
        self.inner
    }
}

impl<W: Write> Write for LimitedWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.written.saturating_add(buf.len() as u64) > self.limit {
            self.exceeded = true;
            return Err(io::Error::other("output exceeds its size budget"));
        }
        let n = self.inner.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dg_ports::BytesBlob;

    #[test]
    fn known_digest() {
        let b = BytesBlob::shared(&b"abc"[..]);
        assert_eq!(
            sha256_blob(b.as_ref(), "abc").unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let mut w = HashingWriter::new(Vec::new());
        w.write_all(b"abc").unwrap();
        let (v, h, n) = w.finish();
        assert_eq!((v.as_slice(), n), (&b"abc"[..], 3));
        assert!(h.starts_with("ba7816bf"));
        assert!(is_sha256_hex(&h));
    }

    #[test]
    fn limited_writer_stops() {
        let mut w = LimitedWriter::new(Vec::new(), 4);
        w.write_all(b"abcd").unwrap();
        assert!(w.write_all(b"e").is_err());
        assert!(w.exceeded());
    }
}
