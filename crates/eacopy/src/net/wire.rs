//! Payload encoding: big-endian integers, length-prefixed strings and bytes, checked on decode.

use crate::hash::Hash;
use crate::{Error, Result};

/// Builds a payload.
#[derive(Debug, Default)]
pub(crate) struct Enc(pub Vec<u8>);

impl Enc {
    pub fn new() -> Self {
        Enc(Vec::new())
    }
    pub fn u8(mut self, v: u8) -> Self {
        self.0.push(v);
        self
    }
    pub fn u32(mut self, v: u32) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub fn u64(mut self, v: u64) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub fn i64(mut self, v: i64) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub fn bytes(mut self, v: &[u8]) -> Self {
        self = self.u32(v.len() as u32);
        self.0.extend_from_slice(v);
        self
    }
    pub fn str(self, v: &str) -> Self {
        self.bytes(v.as_bytes())
    }
    pub fn hash(mut self, v: &Hash) -> Self {
        self.0.extend_from_slice(v);
        self
    }
}

/// Reads a payload; every read checks the bounds and names the peer on failure.
#[derive(Debug)]
pub(crate) struct Dec<'a> {
    buf: &'a [u8],
    peer: &'a str,
}

impl<'a> Dec<'a> {
    pub fn new(buf: &'a [u8], peer: &'a str) -> Self {
        Dec { buf, peer }
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.buf.len() < n {
            return Err(Error::Protocol {
                peer: self.peer.to_string(),
                what: "message shorter than its fields".into(),
            });
        }
        let (a, b) = self.buf.split_at(n);
        self.buf = b;
        Ok(a)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }
    pub fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    pub fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_be_bytes(self.array()?))
    }
    pub fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_be_bytes(self.array()?))
    }
    pub fn i64(&mut self) -> Result<i64> {
        Ok(i64::from_be_bytes(self.array()?))
    }
    pub fn bytes(&mut self) -> Result<&'a [u8]> {
        let n = self.u32()? as usize;
        self.take(n)
    }
    pub fn str(&mut self) -> Result<&'a str> {
        let b = self.bytes()?;
        std::str::from_utf8(b).map_err(|_| Error::Protocol {
            peer: self.peer.to_string(),
            what: "path is not UTF-8".into(),
        })
    }
    pub fn hash(&mut self) -> Result<Hash> {
        self.array()
    }
    /// Fails if bytes are left over (a malformed or hostile message).
    pub fn end(&self) -> Result<()> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(Error::Protocol {
                peer: self.peer.to_string(),
                what: "trailing bytes in message".into(),
            })
        }
    }
}
