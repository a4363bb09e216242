//! zip / zip64 structure walking: finds the byte ranges of member data.

/// How a member's data is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Method {
    Stored,
    Deflated,
}

/// The data bytes of one member, `start..end` in the archive.
#[derive(Debug, Clone, Copy)]
pub(super) struct Span {
    pub(super) start: usize,
    pub(super) end: usize,
    pub(super) method: Method,
}

const SIG_LOCAL: u32 = 0x0403_4b50;
const SIG_CENTRAL: u32 = 0x0201_4b50;
const SIG_EOCD: u32 = 0x0605_4b50;
const SIG_EOCD64: u32 = 0x0606_4b50;
const SIG_EOCD64_LOC: u32 = 0x0706_4b50;

fn u16_at(d: &[u8], at: usize) -> Option<u16> {
    let b = d.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes([b[0], b[1]]))
}
fn u32_at(d: &[u8], at: usize) -> Option<u32> {
    let b = d.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}
fn u64_at(d: &[u8], at: usize) -> Option<u64> {
    let b = d.get(at..at.checked_add(8)?)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(b);
    Some(u64::from_le_bytes(a))
}

/// True if `data` starts with a zip local header or is an empty archive.
pub(super) fn looks_like_zip(data: &[u8]) -> bool {
    matches!(u32_at(data, 0), Some(SIG_LOCAL) | Some(SIG_EOCD))
}

/// Central-directory location found from the end records.
struct Directory {
    cd_start: usize,
    cd_size: usize,
    entries: u64,
    /// Offset to add to recorded local-header offsets (data prepended to the archive).
    shift: i64,
}

fn find_directory(d: &[u8]) -> Option<Directory> {
    if d.len() < 22 {
        return None;
    }
    let last = d.len() - 22;
    let first = last.saturating_sub(65535);
    let mut eocd = None;
    for at in (first..=last).rev() {
        if u32_at(d, at) == Some(SIG_EOCD) {
            let clen = usize::from(u16_at(d, at + 20)?);
            if at + 22 + clen <= d.len() {
                eocd = Some(at);
                break;
            }
        }
    }
    let eocd = eocd?;
    let mut entries = u64::from(u16_at(d, eocd + 10)?);
    let mut cd_size = u64::from(u32_at(d, eocd + 12)?);
    let mut cd_off = u64::from(u32_at(d, eocd + 16)?);
    let mut end_of_cd = eocd;
    if entries == 0xffff || cd_size == 0xffff_ffff || cd_off == 0xffff_ffff {
        // zip64: locator just before the EOCD record
        if let Some(loc) = eocd
            .checked_sub(20)
            .filter(|&loc| u32_at(d, loc) == Some(SIG_EOCD64_LOC))
        {
            let rec = usize::try_from(u64_at(d, loc + 8)?).ok()?;
            // the recorded offset may be shifted like the rest; try it, then "just before locator"
            let rec = if u32_at(d, rec) == Some(SIG_EOCD64) {
                Some(rec)
            } else {
                (loc.saturating_sub(56)..loc)
                    .rev()
                    .find(|&a| u32_at(d, a) == Some(SIG_EOCD64))
            };
            if let Some(rec) = rec {
                entries = u64_at(d, rec + 32)?;
                cd_size = u64_at(d, rec + 40)?;
                cd_off = u64_at(d, rec + 48)?;
                end_of_cd = rec;
            }
        }
    }
    let cd_size = usize::try_from(cd_size).ok()?;
    // Where the directory really is: recorded offset, or right before the end records.
    let cd_start = if usize::try_from(cd_off).ok().and_then(|o| u32_at(d, o)) == Some(SIG_CENTRAL)
        || (entries == 0 && cd_off as usize <= d.len())
    {
        usize::try_from(cd_off).ok()?
    } else {
        let guess = end_of_cd.checked_sub(cd_size)?;
        if u32_at(d, guess) != Some(SIG_CENTRAL) {
            return None;
        }
        guess
    };
    let shift = (cd_start as i64).wrapping_sub(cd_off as i64);
    if cd_start.checked_add(cd_size)? > d.len() {
        return None;
    }
    Some(Directory {
        cd_start,
        cd_size,
        entries,
        shift,
    })
}

/// Walks the central directory and local headers; returns member data spans in
/// file order (non-overlapping), or `None` if `d` is not a readable zip archive.
pub(super) fn member_spans(d: &[u8]) -> Option<Vec<Span>> {
    let dir = find_directory(d)?;
    let cd_end = dir.cd_start + dir.cd_size;
    let mut spans = Vec::new();
    let mut p = dir.cd_start;
    let mut n = 0u64;
    while n < dir.entries && p + 46 <= cd_end {
        if u32_at(d, p) != Some(SIG_CENTRAL) {
            break;
        }
        n += 1;
        let flags = u16_at(d, p + 8)?;
        let method = u16_at(d, p + 10)?;
        let mut csize = u64::from(u32_at(d, p + 20)?);
        let usize_ = u32_at(d, p + 24)?;
        let nlen = usize::from(u16_at(d, p + 28)?);
        let xlen = usize::from(u16_at(d, p + 30)?);
        let clen = usize::from(u16_at(d, p + 32)?);
        let mut lho = u64::from(u32_at(d, p + 42)?);
        let extra_start = p + 46 + nlen;
        let next = extra_start + xlen + clen;
        if next > cd_end {
            break;
        }
        // zip64 extended information extra field
        let mut e = extra_start;
        while e + 4 <= extra_start + xlen {
            let id = u16_at(d, e)?;
            let sz = usize::from(u16_at(d, e + 2)?);
            if id == 0x0001 {
                let mut f = e + 4;
                let fend = (e + 4 + sz).min(extra_start + xlen);
                if usize_ == 0xffff_ffff && f + 8 <= fend {
                    f += 8;
                }
                if csize == 0xffff_ffff && f + 8 <= fend {
                    csize = u64_at(d, f)?;
                    f += 8;
                }
                if lho == 0xffff_ffff && f + 8 <= fend {
                    lho = u64_at(d, f)?;
                }
                break;
            }
            e += 4 + sz;
        }
        p = next;
        if flags & 1 != 0 {
            continue; // encrypted
        }
        let method = match method {
            0 => Method::Stored,
            8 => Method::Deflated,
            _ => continue,
        };
        let Some(Ok(lho)) = (lho as i64).checked_add(dir.shift).map(usize::try_from) else {
            continue;
        };
        if u32_at(d, lho) != Some(SIG_LOCAL) {
            continue;
        }
        let (Some(ln), Some(lx)) = (u16_at(d, lho + 26), u16_at(d, lho + 28)) else {
            continue;
        };
        let start = lho + 30 + usize::from(ln) + usize::from(lx);
        let Some(end) = usize::try_from(csize)
            .ok()
            .and_then(|c| start.checked_add(c))
        else {
            continue;
        };
        if end > dir.cd_start || start >= end {
            continue;
        }
        spans.push(Span { start, end, method });
    }
    spans.sort_by_key(|s| s.start);
    let mut out: Vec<Span> = Vec::with_capacity(spans.len());
    for s in spans {
        if out.last().is_none_or(|l| s.start >= l.end) {
            out.push(s);
        }
    }
    Some(out)
}
