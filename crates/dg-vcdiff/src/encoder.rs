//! Streaming VCDIFF encoder: reads the target window by window and writes xdelta3-decodable windows.

use std::io::{ErrorKind, Read, Write};

use super::adler32::adler32;
use super::decoder::{VCD_ADLER32, VCD_SOURCE};
use super::emit::Emitter;
use super::error::VcdiffError;
use super::index::SourceIndex;
use super::matcher::{From, Match, Matcher, Params, Segment};
use super::secondary::{LzmaEncoders, ID_LZMA};
use super::varint;
use super::{EncodeOptions, EncodeStats, Secondary, MAGIC, MAX_ENCODE_WINDOW};

/// Largest source segment one window refers to. xdelta3 3.0.x keeps window
/// positions in 32 bits, so segment + target window must stay below 4 GiB.
pub(super) const MAX_SEGMENT: u64 = 1 << 31;

pub(super) fn encode(
    source: &[u8],
    target: &mut dyn Read,
    out: &mut dyn Write,
    opts: &EncodeOptions,
) -> Result<EncodeStats, VcdiffError> {
    encode_with_segment_limit(source, target, out, opts, MAX_SEGMENT)
}

/// `encode` with a configurable largest source segment (tests use small ones).
pub(super) fn encode_with_segment_limit(
    source: &[u8],
    target: &mut dyn Read,
    out: &mut dyn Write,
    opts: &EncodeOptions,
    max_segment: u64,
) -> Result<EncodeStats, VcdiffError> {
    let max_segment = max_segment.max(1);
    let win = opts.window_size.clamp(1, MAX_ENCODE_WINDOW);
    let params = Params::for_level(opts.level);
    let index = SourceIndex::build(source, params.min_stride);
    let mut matcher = Matcher::new(params);
    let mut emitter = Emitter::new();
    let mut lzma = match opts.secondary {
        Secondary::None => None,
        Secondary::Lzma => Some(LzmaEncoders::new(opts.lzma_preset)),
    };
    let mut stats = EncodeStats::default();

    let mut header = MAGIC.to_vec();
    if lzma.is_some() {
        header.extend_from_slice(&[1, ID_LZMA]); // VCD_SECONDARY + id
    } else {
        header.push(0);
    }
    out.write_all(&header)?;
    stats.bytes_out += header.len() as u64;

    let src_len = source.len() as u64;
    // Where the next window probably continues in the source.
    let mut expect: u64 = 0;
    let mut buf: Vec<u8> = Vec::with_capacity(win.min(1 << 20));
    let mut matches: Vec<Match> = Vec::new();
    let mut packed: [Vec<u8>; 3] = Default::default();
    loop {
        let eof = fill(target, &mut buf, win)?;
        if buf.is_empty() && stats.windows > 0 {
            break;
        }
        stats.bytes_in += buf.len() as u64;
        let seg = choose_segment(src_len, expect, max_segment);
        matcher.find(source, &index, &buf, seg, &mut matches);
        expect = next_expect(&matches, &buf, expect);
        let uses_source = matches.iter().any(|m| matches!(m.from, From::Source(_)));
        let wseg = if uses_source {
            seg
        } else {
            Segment { off: 0, len: 0 }
        };
        emit_instructions(&mut emitter, &buf, &matches, wseg, &mut stats);
        let mut del_ind = 0u8;
        let sections: [&Vec<u8>; 3] = [&emitter.data, &emitter.inst, &emitter.addr];
        for (i, (sec, pk)) in sections.iter().zip(packed.iter_mut()).enumerate() {
            pk.clear();
            let compressed = match lzma.as_mut() {
                Some(enc) => enc.encode(i, sec, pk)?,
                None => false,
            };
            if compressed {
                del_ind |= 1 << i;
            } else {
                pk.extend_from_slice(sec);
            }
        }
        let checksum = opts.checksum.then(|| adler32(&buf));
        let seg_field = uses_source.then_some(wseg);
        stats.bytes_out += write_window(out, seg_field, buf.len(), del_ind, &packed, checksum)?;
        stats.windows += 1;
        buf.clear();
        if eof {
            break;
        }
    }
    out.flush()?;
    Ok(stats)
}

/// Where the next window probably continues in the source: after the last
/// source match whose bytes are not one repeated value (runs, e.g. zeros in
/// sparse files, match anywhere and would steer the segment away).
fn next_expect(matches: &[Match], buf: &[u8], expect: u64) -> u64 {
    let found = matches.iter().rev().find_map(|m| match m.from {
        From::Source(s) if !is_run(buf.get(m.start..m.start + m.len.min(4096)).unwrap_or(&[])) => {
            Some(s + (buf.len() - m.start) as u64)
        }
        _ => None,
    });
    found.unwrap_or_else(|| expect.saturating_add(buf.len() as u64))
}

/// Turns the window's matches and the literals between them into sections.
fn emit_instructions(
    emitter: &mut Emitter,
    buf: &[u8],
    matches: &[Match],
    wseg: Segment,
    stats: &mut EncodeStats,
) {
    emitter.begin();
    let mut pos = 0usize;
    for m in matches {
        emitter.add(buf.get(pos..m.start).unwrap_or(&[]));
        let here = wseg.len + m.start as u64;
        let addr = match m.from {
            From::Source(s) => {
                stats.source_copied += m.len as u64;
                s - wseg.off
            }
            From::Target(q) => {
                stats.target_copied += m.len as u64;
                wseg.len + q as u64
            }
        };
        emitter.copy(addr, here, m.len as u64);
        pos = m.start + m.len;
    }
    emitter.add(buf.get(pos..).unwrap_or(&[]));
    emitter.flush();
}

/// Writes one window (header, then the three sections); returns its size.
fn write_window(
    out: &mut dyn Write,
    seg: Option<Segment>,
    target_len: usize,
    del_ind: u8,
    sections: &[Vec<u8>; 3],
    checksum: Option<u32>,
) -> Result<u64, VcdiffError> {
    let mut win_ind = 0u8;
    if seg.is_some() {
        win_ind |= VCD_SOURCE;
    }
    if checksum.is_some() {
        win_ind |= VCD_ADLER32;
    }
    // Everything after the "delta encoding length" field up to the sections.
    let mut enc_part = Vec::with_capacity(32);
    varint::write(&mut enc_part, target_len as u64);
    enc_part.push(del_ind);
    for sec in sections {
        varint::write(&mut enc_part, sec.len() as u64);
    }
    if let Some(sum) = checksum {
        enc_part.extend_from_slice(&sum.to_be_bytes());
    }
    let body: usize = sections.iter().map(Vec::len).sum();
    let mut head = Vec::with_capacity(64);
    head.push(win_ind);
    if let Some(seg) = seg {
        varint::write(&mut head, seg.len);
        varint::write(&mut head, seg.off);
    }
    varint::write(&mut head, (enc_part.len() + body) as u64);
    head.extend_from_slice(&enc_part);
    out.write_all(&head)?;
    for sec in sections {
        out.write_all(sec)?;
    }
    Ok((head.len() + body) as u64)
}

/// Reads until `buf` holds `win` bytes or the input ends; returns true at end of input.
fn fill(target: &mut dyn Read, buf: &mut Vec<u8>, win: usize) -> Result<bool, VcdiffError> {
    let mut chunk = [0u8; 64 * 1024];
    while buf.len() < win {
        let want = (win - buf.len()).min(chunk.len());
        let dst = chunk.get_mut(..want).unwrap_or(&mut []);
        match target.read(dst) {
            Ok(0) => return Ok(true),
            Ok(n) => buf.extend_from_slice(chunk.get(..n).unwrap_or(&[])),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(VcdiffError::Io(e)),
        }
    }
    Ok(false)
}

/// The source segment a window may copy from: the whole source when it is
/// small enough, else `max` bytes centred where the target is
/// expected to continue in the source.
fn choose_segment(src_len: u64, expect: u64, max: u64) -> Segment {
    if src_len <= max {
        return Segment {
            off: 0,
            len: src_len,
        };
    }
    let off = expect.saturating_sub(max / 2).min(src_len - max);
    Segment { off, len: max }
}

/// True when `bytes` is one value repeated.
fn is_run(bytes: &[u8]) -> bool {
    bytes.first().is_none_or(|&b| bytes.iter().all(|&x| x == b))
}
