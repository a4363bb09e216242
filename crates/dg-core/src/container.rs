//! dg's native object format: a reference stored compressed and seen through, and deltas
//! between the plain forms of files.
//!
//! Python DeltaGlider cannot read these objects; buckets shared with it use the compatible
//! format (raw `reference.bin`, VCDIFF deltas) instead.
//!
//! ```text
//! offset  size  field
//! 0       4     magic 89 'D' 'G' 'X'
//! 4       1     version (1)
//! 5       1     kind: 1 = reference, 2 = delta
//! 6       ...   sections, each: tag (1 byte) | length (LEB128) | bytes
//!               tags below 0x80 must be understood; others may be skipped
//! ...     1     tag 0xFF: the tail, which runs to the end of the object
//!
//! tag   section        content
//! 0x01  ORIGINAL       LEB128 size of the original file | 32-byte SHA-256 of it
//! 0x02  PLAIN          LEB128 size of the plain form | 32-byte SHA-256 of it
//! 0x03  BASIS          32-byte SHA-256 of the reference's plain form (deltas)
//! 0x04  RECIPE         the expander's recipe, compressed; absent when plain == original
//! 0x05  IDENTICAL      empty; the file is the reference's original (deltas; no tail bytes)
//! 0x80  STREAMS        the expander's index of the original's compressed streams
//!                      (references; optional: readers without it skip it)
//! 0xFF  tail           reference: the plain form, compressed
//!                      delta: an engine delta of the file's plain form against the
//!                      reference's plain form (the engine is known by its magic bytes)
//! ```

use std::io::{self, Read, Write};

use dg_ports::{Error, Result};

use crate::digest::to_hex;

/// The first four bytes of every native object.
pub const MAGIC: [u8; 4] = [0x89, b'D', b'G', b'X'];
const VERSION: u8 = 1;
const TAG_ORIGINAL: u8 = 0x01;
const TAG_PLAIN: u8 = 0x02;
const TAG_BASIS: u8 = 0x03;
const TAG_RECIPE: u8 = 0x04;
const TAG_IDENTICAL: u8 = 0x05;
const TAG_STREAMS: u8 = 0x80;
const TAG_TAIL: u8 = 0xFF;
/// Largest section accepted (recipes of multi-GB archives stay well below).
const MAX_SECTION: u64 = 256 << 20;

/// What a native object is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A deltaspace reference.
    Reference,
    /// A delta against a reference.
    Delta,
}

/// Size and SHA-256 (lowercase hex) of some bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fingerprint {
    /// Length in bytes.
    pub size: u64,
    /// SHA-256, lowercase hex.
    pub sha256: String,
}

/// Everything before the tail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// Reference or delta.
    pub kind: Kind,
    /// The original file.
    pub original: Fingerprint,
    /// The plain form (equal to the original when there is no recipe).
    pub plain: Fingerprint,
    /// For deltas: the SHA-256 of the reference's plain form.
    pub basis: Option<String>,
    /// The compressed recipe, when the plain form differs from the original.
    pub recipe: Option<Vec<u8>>,
    /// For deltas: the file is the reference itself.
    pub identical: bool,
    /// The expander's index of the original's compressed streams (references).
    pub streams: Option<Vec<u8>>,
}

/// True when `prefix` starts a native object.
pub fn is_native(prefix: &[u8]) -> bool {
    prefix.starts_with(&MAGIC)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
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

/// The 32 bytes of a hex SHA-256 of a header. The hashes come from dg's own hashing or from
/// stored metadata, never from the caller, so a bad one is invalid data.
fn sha_bytes(hex: &str) -> Result<[u8; 32]> {
    let mut out = [0u8; 32];
    let not_sha = || bad(format!("not a SHA-256: {hex:?}"));
    if hex.len() != 64 {
        return Err(not_sha());
    }
    for (i, slot) in out.iter_mut().enumerate() {
        let pair = hex.get(i * 2..i * 2 + 2).unwrap_or("");
        *slot = u8::from_str_radix(pair, 16).map_err(|_| not_sha())?;
    }
    Ok(out)
}

fn section(out: &mut Vec<u8>, tag: u8, body: &[u8]) {
    out.push(tag);
    put_varint(out, body.len() as u64);
    out.extend_from_slice(body);
}

fn fingerprint_bytes(f: &Fingerprint) -> Result<Vec<u8>> {
    let mut v = Vec::with_capacity(42);
    put_varint(&mut v, f.size);
    v.extend_from_slice(&sha_bytes(&f.sha256)?);
    Ok(v)
}

/// Serialises `header` and the tail tag; the caller writes the tail bytes after it.
pub fn encode_header(header: &Header) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(128 + header.recipe.as_ref().map_or(0, Vec::len));
    out.extend_from_slice(&MAGIC);
    out.push(VERSION);
    out.push(match header.kind {
        Kind::Reference => 1,
        Kind::Delta => 2,
    });
    section(
        &mut out,
        TAG_ORIGINAL,
        &fingerprint_bytes(&header.original)?,
    );
    section(&mut out, TAG_PLAIN, &fingerprint_bytes(&header.plain)?);
    if let Some(basis) = &header.basis {
        section(&mut out, TAG_BASIS, &sha_bytes(basis)?);
    }
    if let Some(recipe) = &header.recipe {
        section(&mut out, TAG_RECIPE, recipe);
    }
    if header.identical {
        section(&mut out, TAG_IDENTICAL, &[]);
    }
    if let Some(streams) = &header.streams {
        section(&mut out, TAG_STREAMS, streams);
    }
    out.push(TAG_TAIL);
    Ok(out)
}

fn bad(reason: impl Into<String>) -> Error {
    Error::invalid("dg native object", reason.into())
}

fn read_byte(r: &mut dyn Read) -> Result<u8> {
    let mut b = [0u8; 1];
    r.read_exact(&mut b).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => bad("truncated header"),
        _ => Error::io("reading a dg native object", e),
    })?;
    Ok(b[0])
}

fn read_varint(r: &mut dyn Read) -> Result<u64> {
    let mut v: u64 = 0;
    for shift in (0..64).step_by(7) {
        let b = read_byte(r)?;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(bad("varint longer than 64 bits"))
}

fn parse_fingerprint(body: &[u8]) -> Result<Fingerprint> {
    let mut cursor = body;
    let size = read_varint(&mut cursor)?;
    if cursor.len() != 32 {
        return Err(bad("fingerprint is not size + 32-byte SHA-256"));
    }
    Ok(Fingerprint {
        size,
        sha256: to_hex(cursor),
    })
}

/// Reads the header, leaving `r` at the first byte of the tail.
pub fn read_header(r: &mut dyn Read) -> Result<Header> {
    let mut magic = [0u8; 4];
    r.read_exact(&mut magic)
        .map_err(|_| bad("shorter than its magic"))?;
    if magic != MAGIC {
        return Err(bad("wrong magic"));
    }
    let version = read_byte(r)?;
    if version != VERSION {
        return Err(Error::Unsupported {
            what: format!(
                "dg native format version {version} (this dg reads version {VERSION}; upgrade dg)"
            ),
        });
    }
    let kind = match read_byte(r)? {
        1 => Kind::Reference,
        2 => Kind::Delta,
        k => return Err(bad(format!("unknown kind {k}"))),
    };
    let (mut original, mut plain, mut basis, mut recipe, mut identical) =
        (None, None, None, None, false);
    let mut streams = None;
    loop {
        let tag = read_byte(r)?;
        if tag == TAG_TAIL {
            break;
        }
        let len = read_varint(r)?;
        if len > MAX_SECTION {
            return Err(bad(format!("section {tag:#x} of {len} bytes is too large")));
        }
        let mut body = vec![0u8; usize::try_from(len).map_err(|_| bad("section too large"))?];
        r.read_exact(&mut body)
            .map_err(|_| bad(format!("section {tag:#x} is truncated")))?;
        match tag {
            TAG_ORIGINAL => original = Some(parse_fingerprint(&body)?),
            TAG_PLAIN => plain = Some(parse_fingerprint(&body)?),
            TAG_BASIS if body.len() == 32 => basis = Some(to_hex(&body)),
            TAG_BASIS => return Err(bad("basis is not a 32-byte SHA-256")),
            TAG_RECIPE => recipe = Some(body),
            TAG_IDENTICAL => identical = true,
            TAG_STREAMS => streams = Some(body),
            t if t < 0x80 => {
                return Err(bad(format!("unknown required section {t:#x} (upgrade dg)")))
            }
            _ => {}
        }
    }
    let original = original.ok_or_else(|| bad("no ORIGINAL section"))?;
    let plain = plain.ok_or_else(|| bad("no PLAIN section"))?;
    if kind == Kind::Delta && basis.is_none() {
        return Err(bad("a delta without BASIS"));
    }
    Ok(Header {
        kind,
        original,
        plain,
        basis,
        recipe,
        identical,
        streams,
    })
}

/// Writes `header` and then copies `tail` after it.
pub fn write(header: &Header, tail: &mut dyn Read, out: &mut dyn Write) -> Result<()> {
    out.write_all(&encode_header(header)?)
        .and_then(|_| io::copy(tail, out).map(|_| ()))
        .map_err(|e| Error::io("writing a dg native object", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp(size: u64, c: char) -> Fingerprint {
        Fingerprint {
            size,
            sha256: c.to_string().repeat(64),
        }
    }

    #[test]
    fn header_round_trips() {
        let h = Header {
            kind: Kind::Delta,
            original: fp(1 << 40, 'a'),
            plain: fp(300, 'b'),
            basis: Some("c".repeat(64)),
            recipe: Some(vec![1, 2, 3]),
            identical: false,
            streams: Some(vec![4, 5]),
        };
        let mut bytes = encode_header(&h).unwrap();
        bytes.extend_from_slice(b"tail");
        let mut r = &bytes[..];
        assert_eq!(read_header(&mut r).unwrap(), h);
        assert_eq!(r, b"tail");
        assert!(is_native(&bytes));
    }

    #[test]
    fn damaged_headers_are_errors() {
        let h = Header {
            kind: Kind::Reference,
            original: fp(5, 'a'),
            plain: fp(5, 'a'),
            basis: None,
            recipe: None,
            identical: false,
            streams: None,
        };
        let bytes = encode_header(&h).unwrap();
        for cut in 0..bytes.len() {
            assert!(read_header(&mut &bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut v = bytes.clone();
        v[4] = 9;
        assert!(matches!(
            read_header(&mut &v[..]),
            Err(Error::Unsupported { .. })
        ));
        let mut v = bytes.clone();
        v[6] = 0x33; // unknown required tag
        assert!(read_header(&mut &v[..]).is_err());
        let mut v = bytes[..6].to_vec();
        v.extend_from_slice(&[
            0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
        ]);
        assert!(
            read_header(&mut &v[..]).is_err(),
            "huge sections are refused"
        );
    }
}
