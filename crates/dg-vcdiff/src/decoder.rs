//! Streaming VCDIFF decoder: file header, window headers, sections, checksum, output.

use std::io::{Read, Write};

use super::addrcache::AddrCache;
use super::adler32::adler32;
use super::djw;
use super::error::VcdiffError;
use super::execute::{self, WindowInput};
use super::input::Input;
use super::secondary::{LzmaDecoders, ID_DJW, ID_LZMA, SECTION_NAMES};
use super::varint;
use super::{DecodeLimits, MAGIC};

const VCD_SECONDARY: u8 = 1;
const VCD_CODETABLE: u8 = 2;
const VCD_APPHEADER: u8 = 4;

pub(super) const VCD_SOURCE: u8 = 1;
pub(super) const VCD_TARGET: u8 = 2;
pub(super) const VCD_ADLER32: u8 = 4;

/// Slack added to section bounds derived from `max_window`.
const SECTION_SLACK: u64 = 1 << 16;

/// Longest application header accepted (it is skipped, not stored).
const MAX_APP_HEADER: u64 = 1 << 20;

/// Reusable per-window buffers.
#[derive(Default)]
struct Buffers {
    raw: [Vec<u8>; 3],
    plain: [Vec<u8>; 3],
    target: Vec<u8>,
}

pub(super) fn decode(
    source: &[u8],
    delta: &mut dyn Read,
    out: &mut dyn Write,
    limits: &DecodeLimits,
) -> Result<u64, VcdiffError> {
    let mut input = Input::new(delta);
    let mut secondary = read_header(&mut input)?;
    let mut bufs = Buffers::default();
    let mut cache = AddrCache::new();
    let mut total: u64 = 0;
    let mut window: u64 = 0;
    // Sections legitimately exceed the target length a little (instruction
    // and address overhead), never by orders of magnitude.
    let section_limit = limits
        .max_window
        .saturating_mul(4)
        .saturating_add(SECTION_SLACK);
    while let Some(win_ind) = input.try_byte()? {
        let bad = |reason| VcdiffError::InvalidWindow { window, reason };
        if win_ind & !(VCD_SOURCE | VCD_TARGET | VCD_ADLER32) != 0 {
            return Err(bad("unknown window indicator bits"));
        }
        if win_ind & VCD_TARGET != 0 {
            if win_ind & VCD_SOURCE != 0 {
                return Err(bad("both VCD_SOURCE and VCD_TARGET set"));
            }
            return Err(VcdiffError::UnsupportedTargetWindow { window });
        }
        let mut segment: &[u8] = &[];
        if win_ind & VCD_SOURCE != 0 {
            let len = input.varint("copy window length")?;
            let off = input.varint("copy window offset")?;
            let oob = VcdiffError::SourceOutOfRange {
                window,
                offset: off,
                len,
                source_len: source.len() as u64,
            };
            let end = off
                .checked_add(len)
                .ok_or_else(|| bad("copy window overflows"))?;
            if end > source.len() as u64 {
                return Err(oob);
            }
            segment = source.get(off as usize..end as usize).ok_or(oob)?;
        }
        let enclen = input.varint("delta encoding length")?;
        let enc_start = input.consumed();
        let target_len = input.varint("target window length")?;
        if target_len > limits.max_window {
            return Err(VcdiffError::WindowTooLarge {
                window,
                size: target_len,
                limit: limits.max_window,
            });
        }
        let new_total = total
            .checked_add(target_len)
            .ok_or(VcdiffError::OutputLimit {
                limit: limits.max_output,
            })?;
        if new_total > limits.max_output {
            return Err(VcdiffError::OutputLimit {
                limit: limits.max_output,
            });
        }
        let del_ind = input.byte("delta indicator")?;
        if del_ind & !7 != 0 {
            return Err(bad("unknown delta indicator bits"));
        }
        if del_ind != 0 && secondary.is_none() {
            return Err(bad("compressed sections without a secondary compressor"));
        }
        let mut lens = [0u64; 3];
        for (l, what) in lens.iter_mut().zip([
            "data section length",
            "instruction section length",
            "address section length",
        ]) {
            *l = input.varint(what)?;
            if *l > section_limit {
                return Err(VcdiffError::WindowTooLarge {
                    window,
                    size: *l,
                    limit: section_limit,
                });
            }
        }
        let mut expected_sum = None;
        if win_ind & VCD_ADLER32 != 0 {
            let mut b = [0u8; 4];
            input.exact(&mut b, "window checksum")?;
            expected_sum = Some(u32::from_be_bytes(b));
        }
        let header_bytes = input.consumed() - enc_start;
        let body = lens.iter().try_fold(0u64, |acc, &l| acc.checked_add(l));
        if body.and_then(|b| b.checked_add(header_bytes)) != Some(enclen) {
            return Err(bad("delta encoding length does not match the sections"));
        }
        for (i, what) in ["data section", "instruction section", "address section"]
            .into_iter()
            .enumerate()
        {
            if let (Some(raw), Some(len)) = (bufs.raw.get_mut(i), lens.get(i)) {
                input.vec(*len, raw, what)?;
            }
        }
        for i in 0..3 {
            let compressed = del_ind & (1 << i) != 0;
            if let (Some(raw), Some(plain)) = (bufs.raw.get_mut(i), bufs.plain.get_mut(i)) {
                if compressed {
                    match secondary
                        .as_mut()
                        .ok_or_else(|| bad("no secondary decoder"))?
                    {
                        SecondaryDecoder::Lzma(dec) => {
                            dec.decode(i, window, raw, section_limit, plain)?
                        }
                        SecondaryDecoder::Djw => decode_djw(i, window, raw, section_limit, plain)?,
                    }
                } else {
                    std::mem::swap(raw, plain);
                }
            }
        }
        let [data, inst, addr] = &bufs.plain;
        let w = WindowInput {
            window,
            segment,
            data,
            inst,
            addr,
            target_len,
        };
        execute::run(&w, &mut cache, &mut bufs.target)?;
        if let Some(expected) = expected_sum {
            let actual = adler32(&bufs.target);
            if actual != expected {
                return Err(VcdiffError::ChecksumMismatch {
                    window,
                    expected,
                    actual,
                });
            }
        }
        out.write_all(&bufs.target)?;
        total = new_total;
        window += 1;
    }
    out.flush()?;
    Ok(total)
}

/// The secondary decompressor named in the file header.
enum SecondaryDecoder {
    /// xdelta3 id 2; streams persist across windows.
    Lzma(Box<LzmaDecoders>),
    /// xdelta3 id 1; every section is self-contained.
    Djw,
}

/// Undoes DJW for one section: `varint size` + DJW bits.
fn decode_djw(
    kind: usize,
    window: u64,
    raw: &[u8],
    limit: u64,
    out: &mut Vec<u8>,
) -> Result<(), VcdiffError> {
    let section = SECTION_NAMES.get(kind).copied().unwrap_or("?");
    let mut pos = 0;
    let size = varint::read(raw, &mut pos).map_err(|_| VcdiffError::Secondary {
        window,
        section,
        reason: "bad uncompressed size",
    })?;
    if size > limit {
        return Err(VcdiffError::WindowTooLarge {
            window,
            size,
            limit,
        });
    }
    djw::decode(raw.get(pos..).unwrap_or(&[]), size as usize, out).map_err(|reason| {
        VcdiffError::Secondary {
            window,
            section,
            reason,
        }
    })
}

/// Parses the file header; returns the secondary decompressor the delta uses.
fn read_header(input: &mut Input<'_>) -> Result<Option<SecondaryDecoder>, VcdiffError> {
    let mut magic = [0u8; 4];
    for (i, m) in magic.iter_mut().enumerate() {
        *m = input.byte("file header")?;
        if i < 3 && MAGIC.get(i) != Some(&*m) {
            return Err(VcdiffError::BadMagic);
        }
    }
    if magic[3] != 0 {
        return Err(VcdiffError::UnsupportedVersion { version: magic[3] });
    }
    let hdr_ind = input.byte("header indicator")?;
    if hdr_ind & !(VCD_SECONDARY | VCD_CODETABLE | VCD_APPHEADER) != 0 {
        return Err(VcdiffError::InvalidHeader {
            reason: "unknown header indicator bits",
        });
    }
    let mut secondary = None;
    if hdr_ind & VCD_SECONDARY != 0 {
        secondary = Some(match input.byte("secondary compressor id")? {
            ID_LZMA => SecondaryDecoder::Lzma(Box::default()),
            ID_DJW => SecondaryDecoder::Djw,
            // FGK (16) and anything else.
            id => return Err(VcdiffError::UnsupportedSecondary { id }),
        });
    }
    if hdr_ind & VCD_CODETABLE != 0 {
        return Err(VcdiffError::UnsupportedCodeTable);
    }
    if hdr_ind & VCD_APPHEADER != 0 {
        let len = input.varint("application header length")?;
        if len > MAX_APP_HEADER {
            return Err(VcdiffError::InvalidHeader {
                reason: "application header too long",
            });
        }
        input.skip(len, "application header")?;
    }
    Ok(secondary)
}
