//! Runs one window's instruction stream against the source segment and the growing target window.

use super::addrcache::AddrCache;
use super::codetable::{Half, Kind, DEFAULT_TABLE, FIRST_SAME_MODE};
use super::error::VcdiffError;
use super::varint;

/// The inputs of one window, after any secondary decompression.
pub(super) struct WindowInput<'a> {
    pub window: u64,
    /// The source segment this window may copy from (`VCD_SOURCE`), or empty.
    pub segment: &'a [u8],
    pub data: &'a [u8],
    pub inst: &'a [u8],
    pub addr: &'a [u8],
    /// Announced target window length.
    pub target_len: u64,
}

struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

/// Decoding state of one window.
struct Exec<'a, 'b> {
    w: &'b WindowInput<'a>,
    inst: Cursor<'a>,
    data: Cursor<'a>,
    addr: Cursor<'a>,
    cache: &'b mut AddrCache,
    out: &'b mut Vec<u8>,
}

/// Decodes the window into `out` (cleared first). Checks every size and
/// address; never writes more than `target_len` bytes.
pub(super) fn run(
    w: &WindowInput<'_>,
    cache: &mut AddrCache,
    out: &mut Vec<u8>,
) -> Result<(), VcdiffError> {
    out.clear();
    cache.reset();
    let mut ex = Exec {
        w,
        inst: Cursor {
            buf: w.inst,
            pos: 0,
        },
        data: Cursor {
            buf: w.data,
            pos: 0,
        },
        addr: Cursor {
            buf: w.addr,
            pos: 0,
        },
        cache,
        out,
    };
    while let Some(&opcode) = ex.inst.buf.get(ex.inst.pos) {
        ex.inst.pos += 1;
        let Some(entry) = DEFAULT_TABLE.get(usize::from(opcode)) else {
            return Err(VcdiffError::Truncated {
                what: "instruction",
            });
        };
        for half in [entry.first, entry.second] {
            if half.kind != Kind::Noop {
                ex.one(half)?;
            }
        }
    }
    let window = w.window;
    let offset = ex.out.len() as u64;
    let bad = |reason| VcdiffError::InvalidInstruction {
        window,
        offset,
        reason,
    };
    if offset != w.target_len {
        return Err(bad(
            "instructions produce fewer bytes than the target window length",
        ));
    }
    if ex.data.pos != ex.data.buf.len() {
        return Err(bad("unused bytes in the data section"));
    }
    if ex.addr.pos != ex.addr.buf.len() {
        return Err(bad("unused bytes in the address section"));
    }
    Ok(())
}

impl Exec<'_, '_> {
    /// Executes one half-instruction.
    fn one(&mut self, half: Half) -> Result<(), VcdiffError> {
        let window = self.w.window;
        let cpylen = self.w.segment.len() as u64;
        let out = &mut *self.out;
        let (inst, data, addr) = (&mut self.inst, &mut self.data, &mut self.addr);
        let offset = out.len() as u64;
        let bad = |reason| VcdiffError::InvalidInstruction {
            window,
            offset,
            reason,
        };
        let size = if half.size == 0 {
            varint::read(inst.buf, &mut inst.pos)
                .map_err(|_| bad("bad size in the instruction section"))?
        } else {
            u64::from(half.size)
        };
        let end = offset.checked_add(size).ok_or(bad("size overflow"))?;
        if end > self.w.target_len {
            return Err(bad("instruction runs past the end of the target window"));
        }
        let n = size as usize; // fits: end <= target_len, a bounded window length
        match half.kind {
            Kind::Noop => {}
            Kind::Add => {
                let bytes = data
                    .buf
                    .get(data.pos..)
                    .and_then(|d| d.get(..n))
                    .ok_or(bad("ADD reads past the end of the data section"))?;
                out.extend_from_slice(bytes);
                data.pos += n;
            }
            Kind::Run => {
                let b = *data
                    .buf
                    .get(data.pos)
                    .ok_or(bad("RUN reads past the end of the data section"))?;
                data.pos += 1;
                out.resize(out.len() + n, b);
            }
            Kind::Copy(mode) => {
                let here = cpylen.checked_add(offset).ok_or(bad("position overflow"))?;
                let raw = if mode >= FIRST_SAME_MODE {
                    let b = *addr
                        .buf
                        .get(addr.pos)
                        .ok_or(bad("COPY reads past the end of the address section"))?;
                    addr.pos += 1;
                    u64::from(b)
                } else {
                    varint::read(addr.buf, &mut addr.pos)
                        .map_err(|_| bad("bad address in the address section"))?
                };
                let oob = |a| VcdiffError::AddressOutOfRange {
                    window,
                    addr: a,
                    here,
                };
                let a = self.cache.decode(mode, raw, here).ok_or(oob(raw))?;
                if a >= here {
                    return Err(oob(a));
                }
                self.cache.update(a);
                if a < cpylen {
                    // Source copy: must stay inside the source segment (as xdelta3 requires).
                    let src = self
                        .w
                        .segment
                        .get(a as usize..)
                        .and_then(|s| s.get(..n))
                        .ok_or(bad("COPY crosses the end of the source segment"))?;
                    out.extend_from_slice(src);
                } else {
                    // Target copy, possibly overlapping the bytes it produces:
                    // then the result repeats the `period` bytes before the
                    // current end, so copy whole periods from `from`, doubling.
                    let from = (a - cpylen) as usize;
                    let period = out.len().saturating_sub(from);
                    if period == 0 {
                        return Err(oob(a));
                    }
                    let mut remaining = n;
                    while remaining > 0 {
                        let avail = out.len() - from;
                        let take = if remaining <= avail {
                            remaining
                        } else {
                            avail - avail % period
                        };
                        out.extend_from_within(from..from + take);
                        remaining -= take;
                    }
                }
            }
        }
        Ok(())
    }
}
