//! Stream indexes: the deflate streams of one expansion, by the SHA-256 of their compressed bytes, with the record that recreates each from its plaintext.
//!
//! A reference's index lets the expansion of a similar file skip the analysis of every stream
//! it shares byte for byte with the reference (a new release of a wheel changes a few dozen of
//! its thousands of members): the stream is inflated, and the reference's record, which was
//! proven to recreate exactly these compressed bytes from exactly this plaintext when the
//! reference was expanded and checked, is used as it is.
//!
//! ```text
//! index  := "dgSI" | version u8 = 1 | count:varint | entry* | sha256 (32 bytes of all before)
//! entry  := sha256 of the compressed stream (32) | record_len:varint | record
//! record := the stream's chunk list as the recipe holds it after OP_DEFLATE, CHUNK_END included
//! ```

use std::collections::HashMap;

use sha2::{Digest, Sha256};

use super::wire::{put_varint, Reader, CHUNK_END, CHUNK_MORE, CHUNK_ZLIB};

const MAGIC: [u8; 4] = *b"dgSI";
const VERSION: u8 = 1;
/// Most entries read from an index (far above any real archive's stream count).
const MAX_ENTRIES: u64 = 1 << 22;

/// Where the compressed bytes of a stream reused from an index are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reused {
    /// In the input itself.
    InInput {
        /// Offset in the input.
        offset: u64,
        /// Length.
        len: u64,
    },
    /// Inside another compressed stream of the input: a copy.
    Held(Vec<u8>),
}

/// SHA-256 of a compressed stream.
pub(super) type StreamHash = [u8; 32];

/// The SHA-256 of `bytes`.
pub(super) fn hash(bytes: &[u8]) -> StreamHash {
    Sha256::digest(bytes).into()
}

/// Streams seen before, by the SHA-256 of their compressed bytes (see the module docs).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StreamIndex {
    records: HashMap<StreamHash, Vec<u8>>,
}

impl StreamIndex {
    /// Number of streams.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// True when no stream is known.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    pub(super) fn get(&self, stream: &StreamHash) -> Option<&[u8]> {
        self.records.get(stream).map(Vec::as_slice)
    }

    pub(super) fn insert(&mut self, stream: StreamHash, record: Vec<u8>) {
        self.records.entry(stream).or_insert(record);
    }

    /// Adds `other`'s streams (a stream already known keeps its record).
    pub(super) fn merge(&mut self, other: StreamIndex) {
        for (stream, record) in other.records {
            self.insert(stream, record);
        }
    }

    /// The index as bytes, entries in hash order (the same streams give the same bytes).
    pub fn encode(&self) -> Vec<u8> {
        let mut entries: Vec<_> = self.records.iter().collect();
        entries.sort_by(|a, b| a.0.cmp(b.0));
        let mut out = Vec::with_capacity(16 + entries.len() * 48);
        out.extend_from_slice(&MAGIC);
        out.push(VERSION);
        put_varint(&mut out, entries.len() as u64);
        for (stream, record) in entries {
            out.extend_from_slice(stream);
            put_varint(&mut out, record.len() as u64);
            out.extend_from_slice(record);
        }
        let sum = hash(&out);
        out.extend_from_slice(&sum);
        out
    }

    /// Reads an index written by [`StreamIndex::encode`]; `None` when it is damaged, of
    /// another version, or holds a record that is not one well-formed chunk list.
    pub fn decode(bytes: &[u8]) -> Option<StreamIndex> {
        let body_len = bytes.len().checked_sub(32)?;
        let (body, sum) = bytes.split_at(body_len);
        if hash(body) != sum {
            return None;
        }
        let mut r = Reader::new(body, 0, "stream index");
        if r.take(4).ok()? != MAGIC || r.u8().ok()? != VERSION {
            return None;
        }
        let count = r.varint().ok()?;
        if count > MAX_ENTRIES {
            return None;
        }
        let mut records = HashMap::with_capacity(usize::try_from(count).ok()?.min(1 << 16));
        for _ in 0..count {
            let stream: StreamHash = r.take(32).ok()?.try_into().ok()?;
            let len = r.varint().ok()?;
            let record = r.take(len).ok()?;
            record_lengths(record)?;
            records.insert(stream, record.to_vec());
        }
        r.is_empty().then_some(StreamIndex { records })
    }
}

/// The plaintext and compressed lengths a record declares, when it is exactly one
/// well-formed chunk list (preflate chunks, or one zlib chunk) ending in `CHUNK_END`.
pub(super) fn record_lengths(record: &[u8]) -> Option<(u64, u64)> {
    let mut r = Reader::new(record, 0, "record");
    let (mut plain, mut comp, mut chunks) = (0u64, 0u64, 0u32);
    loop {
        match r.u8().ok()? {
            CHUNK_END if chunks > 0 => break,
            CHUNK_MORE => {
                plain = plain.checked_add(r.varint().ok()?)?;
                comp = comp.checked_add(r.varint().ok()?)?;
                let corrections = r.varint().ok()?;
                r.take(corrections).ok()?;
            }
            CHUNK_ZLIB if chunks == 0 => {
                let level = r.u8().ok()?;
                if !(1..=9).contains(&level) {
                    return None;
                }
                plain = r.varint().ok()?;
                comp = r.varint().ok()?;
                if r.u8().ok()? != CHUNK_END {
                    return None;
                }
                break;
            }
            _ => return None,
        }
        chunks += 1;
    }
    r.is_empty().then_some((plain, comp))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn zlib_record(plain: u64, comp: u64) -> Vec<u8> {
        let mut r = vec![CHUNK_ZLIB, 6];
        put_varint(&mut r, plain);
        put_varint(&mut r, comp);
        r.push(CHUNK_END);
        r
    }

    #[test]
    fn round_trips_and_refuses_damage() {
        let mut index = StreamIndex::default();
        index.insert(hash(b"one"), zlib_record(100, 40));
        let mut preflate = vec![CHUNK_MORE];
        for v in [10, 5, 2] {
            put_varint(&mut preflate, v);
        }
        preflate.extend_from_slice(&[7, 7]);
        preflate.push(CHUNK_END);
        index.insert(hash(b"two"), preflate.clone());
        let bytes = index.encode();
        let back = StreamIndex::decode(&bytes).unwrap();
        assert_eq!(back, index);
        assert_eq!(back.get(&hash(b"two")), Some(&preflate[..]));
        assert_eq!(record_lengths(&preflate), Some((10, 5)));
        assert_eq!(record_lengths(&zlib_record(100, 40)), Some((100, 40)));
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 1;
            assert_eq!(StreamIndex::decode(&bad), None, "flipped byte {i}");
        }
        assert_eq!(StreamIndex::decode(&bytes[..bytes.len() - 1]), None);
        assert_eq!(record_lengths(&[CHUNK_END]), None, "no chunks");
        assert_eq!(record_lengths(&[CHUNK_ZLIB, 0, 1, 1, CHUNK_END]), None);
        let mut tail = zlib_record(1, 1);
        tail.push(0);
        assert_eq!(record_lengths(&tail), None, "bytes after the list");
    }
}
