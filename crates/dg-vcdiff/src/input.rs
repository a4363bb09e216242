//! Buffered reader over the delta stream with VCDIFF primitives and byte accounting.

use std::io::{ErrorKind, Read};

use super::error::VcdiffError;
use super::varint::MAX_VARINT_LEN;

const BUF_SIZE: usize = 64 * 1024;
/// Largest chunk the reader grows a section buffer by before the bytes
/// actually arrive, so announced sizes never drive allocations on their own.
const GROW_STEP: usize = 1 << 20;

/// Reads the delta through an internal buffer and counts consumed bytes.
pub(super) struct Input<'a> {
    inner: &'a mut dyn Read,
    buf: Box<[u8]>,
    pos: usize,
    len: usize,
    consumed: u64,
}

impl<'a> Input<'a> {
    pub fn new(inner: &'a mut dyn Read) -> Self {
        Input {
            inner,
            buf: vec![0u8; BUF_SIZE].into_boxed_slice(),
            pos: 0,
            len: 0,
            consumed: 0,
        }
    }

    /// Total bytes consumed so far.
    pub fn consumed(&self) -> u64 {
        self.consumed
    }

    /// Refills the buffer if empty; returns false at end of input.
    fn fill(&mut self) -> Result<bool, VcdiffError> {
        if self.pos < self.len {
            return Ok(true);
        }
        loop {
            match self.inner.read(&mut self.buf) {
                Ok(0) => return Ok(false),
                Ok(n) => {
                    self.pos = 0;
                    self.len = n.min(self.buf.len());
                    return Ok(true);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(VcdiffError::Io(e)),
            }
        }
    }

    /// Next byte, or `None` at a clean end of input.
    pub fn try_byte(&mut self) -> Result<Option<u8>, VcdiffError> {
        if !self.fill()? {
            return Ok(None);
        }
        let b = self.buf.get(self.pos).copied();
        self.pos += 1;
        self.consumed += 1;
        Ok(b)
    }

    /// Next byte; end of input is a `Truncated` error naming `what`.
    pub fn byte(&mut self, what: &'static str) -> Result<u8, VcdiffError> {
        self.try_byte()?.ok_or(VcdiffError::Truncated { what })
    }

    /// Reads an RFC 3284 integer.
    pub fn varint(&mut self, what: &'static str) -> Result<u64, VcdiffError> {
        let mut value: u64 = 0;
        for _ in 0..MAX_VARINT_LEN {
            let b = self.byte(what)?;
            if value > (u64::MAX >> 7) {
                break;
            }
            value = (value << 7) | u64::from(b & 0x7f);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(VcdiffError::InvalidHeader {
            reason: "integer does not fit in 64 bits",
        })
    }

    /// Reads exactly `out.len()` bytes.
    pub fn exact(&mut self, out: &mut [u8], what: &'static str) -> Result<(), VcdiffError> {
        let mut done = 0;
        while done < out.len() {
            if !self.fill()? {
                return Err(VcdiffError::Truncated { what });
            }
            let avail = self.buf.get(self.pos..self.len).unwrap_or(&[]);
            let take = avail.len().min(out.len() - done);
            if let (Some(dst), Some(src)) = (out.get_mut(done..done + take), avail.get(..take)) {
                dst.copy_from_slice(src);
            }
            done += take;
            self.pos += take;
            self.consumed += take as u64;
        }
        Ok(())
    }

    /// Reads `n` bytes into `out` (cleared first). The buffer grows only as
    /// bytes arrive, so a hostile length cannot force a large allocation.
    pub fn vec(
        &mut self,
        n: u64,
        out: &mut Vec<u8>,
        what: &'static str,
    ) -> Result<(), VcdiffError> {
        out.clear();
        let mut remaining = n;
        while remaining > 0 {
            if !self.fill()? {
                return Err(VcdiffError::Truncated { what });
            }
            let avail = self.buf.get(self.pos..self.len).unwrap_or(&[]);
            let take = (avail.len() as u64).min(remaining) as usize;
            if out.capacity() - out.len() < take {
                let want = (remaining.min(GROW_STEP as u64) as usize).max(take);
                out.reserve(want);
            }
            out.extend_from_slice(avail.get(..take).unwrap_or(&[]));
            self.pos += take;
            self.consumed += take as u64;
            remaining -= take as u64;
        }
        Ok(())
    }

    /// Discards `n` bytes.
    pub fn skip(&mut self, n: u64, what: &'static str) -> Result<(), VcdiffError> {
        let mut remaining = n;
        while remaining > 0 {
            if !self.fill()? {
                return Err(VcdiffError::Truncated { what });
            }
            let take = ((self.len - self.pos) as u64).min(remaining) as usize;
            self.pos += take;
            self.consumed += take as u64;
            remaining -= take as u64;
        }
        Ok(())
    }
}
