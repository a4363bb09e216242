//! Frames: the checked, versioned envelope every message of the copy protocol travels in.
//!
//! ```text
//!  0       4     5      6          8               12              16
//!  +-------+-----+------+----------+---------------+---------------+---------------------+
//!  | "EAcp"| ver | kind | reserved | payload length|    CRC-32     | payload             |
//!  | magic | =1  |  u8  |  u16 = 0 |    u32 BE     |    u32 BE     | (length bytes,      |
//!  |       |     |      |          |  ≤ 8 MiB      | of bytes 4..12|  at most 8 MiB)     |
//!  |       |     |      |          |               |  + payload    |                     |
//!  +-------+-----+------+----------+---------------+---------------+---------------------+
//! ```
//!
//! A frame with the wrong magic, version, reserved bits, kind, length or checksum is refused:
//! the reader returns [`Error::Protocol`] and the connection is closed.

use std::io::{self, Read, Write};

use crate::{Error, Result};

/// The first four bytes of every frame.
pub const MAGIC: [u8; 4] = *b"EAcp";
/// The protocol version this build speaks.
pub const VERSION: u8 = 1;
/// Bytes before the payload.
pub const HEADER_LEN: usize = 16;
/// The largest payload accepted.
pub const MAX_PAYLOAD: usize = 8 << 20;

/// What a frame carries; see [`crate::net`] for the conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// Server → client: server nonce.
    Hello = 1,
    /// Client → server: client nonce and HMAC proof.
    Auth = 2,
    /// Server → client: the server's HMAC proof.
    AuthOk = 3,
    /// Client → server: a batch of (path, kind, size, mtime, mode).
    Query = 4,
    /// Server → client: one status per queried entry.
    QueryReply = 5,
    /// Client → server: one file with its SHA-256.
    Offer = 6,
    /// Server → client: linked / skipped / send full / send delta.
    OfferReply = 7,
    /// A chunk of a byte stream (file data, delta or signature).
    Data = 8,
    /// The end of a byte stream.
    End = 9,
    /// Server → client: a file was written (or why not).
    Done = 10,
    /// Either way: a fatal error, then the connection closes.
    Error = 11,
    /// Client → server: no more work.
    Bye = 12,
    /// Client → server: which offer the following stream is for, and its encoding.
    FileHeader = 13,
    /// Client → server: send the signature of an offer's old version.
    SigRequest = 14,
    /// Server → client, in place of `Hello` or `AuthOk` (or ending a handshake that waited):
    /// no room for this connection now, and why; then the connection closes.
    Busy = 15,
}

impl Kind {
    fn from_u8(v: u8) -> Option<Kind> {
        use Kind::*;
        [
            Hello, Auth, AuthOk, Query, QueryReply, Offer, OfferReply, Data, End, Done, Error, Bye,
            FileHeader, SigRequest, Busy,
        ]
        .into_iter()
        .find(|k| *k as u8 == v)
    }
}

/// Encodes a frame header for `payload`.
pub fn header(kind: Kind, payload: &[u8]) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..4].copy_from_slice(&MAGIC);
    h[4] = VERSION;
    h[5] = kind as u8;
    h[8..12].copy_from_slice(&(payload.len() as u32).to_be_bytes());
    let mut crc = crc32fast::Hasher::new();
    crc.update(&h[4..12]);
    crc.update(payload);
    h[12..16].copy_from_slice(&crc.finalize().to_be_bytes());
    h
}

/// Writes one frame (the caller flushes).
pub fn write_frame(w: &mut impl Write, kind: Kind, payload: &[u8]) -> io::Result<()> {
    if payload.len() > MAX_PAYLOAD {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "frame payload over 8 MiB",
        ));
    }
    w.write_all(&header(kind, payload))?;
    w.write_all(payload)
}

/// Reads and checks one frame; `peer` names the other side in errors.
pub fn read_frame(r: &mut impl Read, peer: &str) -> Result<(Kind, Vec<u8>)> {
    read_frame_max(r, peer, MAX_PAYLOAD)
}

/// Reads and checks one frame whose payload may not exceed `max` bytes (a server allows
/// unauthenticated peers only small frames).
pub fn read_frame_max(r: &mut impl Read, peer: &str, max: usize) -> Result<(Kind, Vec<u8>)> {
    let mut h = [0u8; HEADER_LEN];
    r.read_exact(&mut h).map_err(|e| Error::Network {
        peer: peer.to_string(),
        source: e,
    })?;
    let (kind, len) = check_header(&h, peer, max)?;
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload).map_err(|e| Error::Network {
        peer: peer.to_string(),
        source: e,
    })?;
    check_payload(&h, &payload, peer)?;
    Ok((kind, payload))
}

/// Checks a frame header (magic, version, reserved bits, kind, length at most `max`);
/// returns the kind and the payload length.
pub(crate) fn check_header(h: &[u8; HEADER_LEN], peer: &str, max: usize) -> Result<(Kind, usize)> {
    let bad = |what: String| Error::Protocol {
        peer: peer.to_string(),
        what,
    };
    if h[..4] != MAGIC {
        return Err(bad(
            "bad frame magic (not an eacopy peer, or a corrupted stream)".into(),
        ));
    }
    if h[4] != VERSION {
        return Err(bad(format!(
            "protocol version {} (this build speaks {VERSION}); use the same eacopy on both ends",
            h[4]
        )));
    }
    if h[6] != 0 || h[7] != 0 {
        return Err(bad("reserved frame bits set".into()));
    }
    let kind = Kind::from_u8(h[5]).ok_or_else(|| bad(format!("unknown frame kind {}", h[5])))?;
    let len = u32::from_be_bytes([h[8], h[9], h[10], h[11]]) as usize;
    if len > max.min(MAX_PAYLOAD) {
        return Err(bad(format!(
            "frame of {len} bytes exceeds the limit of {max} bytes"
        )));
    }
    Ok((kind, len))
}

/// Checks a payload against the CRC-32 of its header.
pub(crate) fn check_payload(h: &[u8; HEADER_LEN], payload: &[u8], peer: &str) -> Result<()> {
    let mut crc = crc32fast::Hasher::new();
    crc.update(&h[4..12]);
    crc.update(payload);
    if crc.finalize().to_be_bytes() != h[12..16] {
        return Err(Error::Protocol {
            peer: peer.to_string(),
            what: "frame checksum mismatch (corrupted in transit)".into(),
        });
    }
    Ok(())
}

/// A whole frame (header and payload) as bytes.
pub(crate) fn encode(kind: Kind, payload: &[u8]) -> Vec<u8> {
    let mut out = header(kind, payload).to_vec();
    out.extend_from_slice(payload);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_corruption() {
        let mut buf = Vec::new();
        write_frame(&mut buf, Kind::Data, b"hello").unwrap();
        let (k, p) = read_frame(&mut buf.as_slice(), "t").unwrap();
        assert_eq!((k, p.as_slice()), (Kind::Data, &b"hello"[..]));
        for i in 0..buf.len() {
            let mut bad = buf.clone();
            bad[i] ^= 0x40;
            assert!(
                read_frame(&mut bad.as_slice(), "t").is_err(),
                "flip at {i} accepted"
            );
        }
    }
}
