//! The messages inside frames: queries, offers, replies and stream headers.

use super::wire::{Dec, Enc};
use crate::hash::Hash;
use crate::{Error, Result};

/// Most entries in one `Query`.
pub(crate) const MAX_BATCH: usize = 512;

/// One thing the client wants at the destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub is_dir: bool,
    /// `/`-separated, relative to the server root.
    pub path: String,
    pub size: u64,
    pub mtime_ns: i64,
    pub mode: u32,
}

/// The server's answer for one queried entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Status {
    /// Same size and mtime already there: nothing to do.
    Have,
    /// Not there: offer it.
    Need,
    /// A different version is there: offer it, a delta is possible.
    NeedHasOld,
    /// Not allowed (the reason says why).
    Refused(String),
}

/// The server's answer to an offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum OfferReply {
    /// Hard-linked from a file with the same content.
    Linked = 0,
    /// The file there already has this content (times updated).
    Skipped = 1,
    /// Send the whole file.
    SendFull = 2,
    /// An old version is there: ask for its signature (`SigRequest`), then send a delta
    /// against it (or the whole file).
    SendDelta = 3,
}

/// How a file stream is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Encoding {
    /// The file's bytes.
    Raw = 0,
    /// The file's bytes, zstd-compressed.
    Zstd = 1,
    /// An rsync delta against the server's version, zstd-compressed.
    DeltaZstd = 2,
}

pub(crate) fn encode_query(entries: &[Entry]) -> Vec<u8> {
    let mut e = Enc::new().u32(entries.len() as u32);
    for x in entries {
        e = e
            .u8(u8::from(x.is_dir))
            .str(&x.path)
            .u64(x.size)
            .i64(x.mtime_ns)
            .u32(x.mode);
    }
    e.0
}

pub(crate) fn decode_query(payload: &[u8], peer: &str) -> Result<Vec<Entry>> {
    let mut d = Dec::new(payload, peer);
    let n = d.u32()? as usize;
    if n > MAX_BATCH {
        return Err(Error::Protocol {
            peer: peer.into(),
            what: format!("query of {n} entries (limit {MAX_BATCH})"),
        });
    }
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let is_dir = d.u8()? != 0;
        out.push(Entry {
            is_dir,
            path: d.str()?.to_string(),
            size: d.u64()?,
            mtime_ns: d.i64()?,
            mode: d.u32()?,
        });
    }
    d.end()?;
    Ok(out)
}

pub(crate) fn encode_statuses(statuses: &[Status]) -> Vec<u8> {
    let mut e = Enc::new().u32(statuses.len() as u32);
    for s in statuses {
        e = match s {
            Status::Have => e.u8(0),
            Status::Need => e.u8(1),
            Status::NeedHasOld => e.u8(2),
            Status::Refused(why) => e.u8(3).str(why),
        };
    }
    e.0
}

pub(crate) fn decode_statuses(payload: &[u8], peer: &str, expected: usize) -> Result<Vec<Status>> {
    let mut d = Dec::new(payload, peer);
    let n = d.u32()? as usize;
    if n != expected {
        return Err(Error::Protocol {
            peer: peer.into(),
            what: format!("{n} statuses for {expected} entries"),
        });
    }
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(match d.u8()? {
            0 => Status::Have,
            1 => Status::Need,
            2 => Status::NeedHasOld,
            3 => Status::Refused(d.str()?.to_string()),
            k => {
                return Err(Error::Protocol {
                    peer: peer.into(),
                    what: format!("unknown status {k}"),
                })
            }
        });
    }
    d.end()?;
    Ok(out)
}

/// An offer: a ticket (its number in the batch, echoed by the file that may follow), the
/// entry and its content hash.
pub(crate) fn encode_offer(ticket: u32, entry: &Entry, hash: &Hash) -> Vec<u8> {
    Enc::new()
        .u32(ticket)
        .str(&entry.path)
        .u64(entry.size)
        .i64(entry.mtime_ns)
        .u32(entry.mode)
        .hash(hash)
        .0
}

pub(crate) fn decode_offer(payload: &[u8], peer: &str) -> Result<(u32, Entry, Hash)> {
    let mut d = Dec::new(payload, peer);
    let ticket = d.u32()?;
    let entry = Entry {
        is_dir: false,
        path: d.str()?.to_string(),
        size: d.u64()?,
        mtime_ns: d.i64()?,
        mode: d.u32()?,
    };
    let hash = d.hash()?;
    d.end()?;
    Ok((ticket, entry, hash))
}

/// A bare ticket (`SigRequest`).
pub(crate) fn encode_ticket(ticket: u32) -> Vec<u8> {
    Enc::new().u32(ticket).0
}

pub(crate) fn decode_ticket(payload: &[u8], peer: &str) -> Result<u32> {
    let mut d = Dec::new(payload, peer);
    let t = d.u32()?;
    d.end()?;
    Ok(t)
}

pub(crate) fn decode_offer_reply(payload: &[u8], peer: &str) -> Result<OfferReply> {
    match payload {
        [0] => Ok(OfferReply::Linked),
        [1] => Ok(OfferReply::Skipped),
        [2] => Ok(OfferReply::SendFull),
        [3] => Ok(OfferReply::SendDelta),
        _ => Err(Error::Protocol {
            peer: peer.into(),
            what: "bad offer reply".into(),
        }),
    }
}

pub(crate) fn encode_file_header(ticket: u32, encoding: Encoding, raw_len: u64) -> Vec<u8> {
    Enc::new().u32(ticket).u8(encoding as u8).u64(raw_len).0
}

pub(crate) fn decode_file_header(payload: &[u8], peer: &str) -> Result<(u32, Encoding, u64)> {
    let mut d = Dec::new(payload, peer);
    let ticket = d.u32()?;
    let encoding = match d.u8()? {
        0 => Encoding::Raw,
        1 => Encoding::Zstd,
        2 => Encoding::DeltaZstd,
        k => {
            return Err(Error::Protocol {
                peer: peer.into(),
                what: format!("unknown encoding {k}"),
            })
        }
    };
    let raw_len = d.u64()?;
    d.end()?;
    Ok((ticket, encoding, raw_len))
}

/// `Done`: empty message on success, else the reason.
pub(crate) fn decode_done(payload: &[u8], peer: &str) -> Result<Option<String>> {
    let mut d = Dec::new(payload, peer);
    let ok = d.u8()? == 0;
    let message = d.str()?.to_string();
    d.end()?;
    Ok(if ok { None } else { Some(message) })
}

pub(crate) fn encode_done(error: Option<&str>) -> Vec<u8> {
    match error {
        None => Enc::new().u8(0).str("").0,
        Some(m) => Enc::new().u8(1).str(m).0,
    }
}
