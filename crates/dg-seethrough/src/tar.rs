//! tar archives (ustar, GNU and pax): where each regular file's data lies.
//!
//! Only a map is read; nothing depends on it being right: bytes outside the spans found are
//! copied as they are, and a header that does not check out ends the walk (the rest is copied).

use super::ar::Span;

/// Size of a header and of the blocks data is padded to.
const BLOCK: usize = 512;
/// Where the `ustar` magic sits in a header.
const MAGIC_AT: usize = 257;

/// True if `data` starts with a ustar, GNU or pax header whose checksum holds.
pub(super) fn looks_like_tar(data: &[u8]) -> bool {
    data.get(..BLOCK).is_some_and(|h| {
        h[MAGIC_AT..MAGIC_AT + 5] == *b"ustar" && checksum_holds(h) && h.iter().any(|&b| b != 0)
    })
}

/// The data of each regular file in the tar archive `data`, in order, or `None` when `data`
/// does not start with a tar header. Stops at the end-of-archive block or at the first header
/// that does not check out.
pub(super) fn member_spans(data: &[u8]) -> Option<Vec<Span>> {
    if !looks_like_tar(data) {
        return None;
    }
    let mut spans = Vec::new();
    let mut pos = 0usize;
    // a pax extended header's `size=` applies to the member after it
    let mut pax_size: Option<u64> = None;
    while let Some(h) = data.get(pos..pos + BLOCK) {
        if h.iter().all(|&b| b == 0) || !checksum_holds(h) {
            break;
        }
        let Some(mut size) = number(&h[124..136]) else {
            break;
        };
        let kind = h[156];
        if matches!(kind, b'0' | 0 | b'7') {
            size = pax_size.take().unwrap_or(size);
        }
        let start = pos + BLOCK;
        let Some(end) = usize::try_from(size)
            .ok()
            .and_then(|s| start.checked_add(s))
            .filter(|&e| e <= data.len())
        else {
            break;
        };
        match kind {
            b'0' | 0 | b'7' => spans.push(Span { start, end }),
            b'x' => pax_size = pax_record_size(&data[start..end]),
            _ => {}
        }
        // data is padded to whole blocks
        let Some(next) = end.checked_add((BLOCK - size as usize % BLOCK) % BLOCK) else {
            break;
        };
        pos = next;
    }
    Some(spans)
}

/// The header's checksum field equals the sum of its bytes (the field itself read as spaces).
fn checksum_holds(h: &[u8]) -> bool {
    let Some(recorded) = number(&h[148..156]) else {
        return false;
    };
    let sum: u64 = h
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                32
            } else {
                u64::from(b)
            }
        })
        .sum();
    sum == recorded
}

/// A numeric header field: octal digits (space or NUL padded), or GNU's base-256 form
/// (first byte's high bit set).
fn number(field: &[u8]) -> Option<u64> {
    if field.first().is_some_and(|&b| b & 0x80 != 0) {
        let mut v: u64 = u64::from(field[0] & 0x7f);
        for &b in &field[1..] {
            v = v.checked_mul(256)?.checked_add(u64::from(b))?;
        }
        return Some(v);
    }
    let digits = field
        .iter()
        .skip_while(|&&b| b == b' ')
        .take_while(|&&b| (b'0'..=b'7').contains(&b));
    let mut v: u64 = 0;
    let mut any = false;
    for &d in digits {
        v = v.checked_mul(8)?.checked_add(u64::from(d - b'0'))?;
        any = true;
    }
    // an all-blank field is zero (some writers leave unused fields empty)
    (any || field.iter().all(|&b| b == 0 || b == b' ')).then_some(v)
}

/// The `size` record of a pax extended header (`"<len> size=<n>\n"` records), if any.
fn pax_record_size(mut records: &[u8]) -> Option<u64> {
    let mut size = None;
    while !records.is_empty() {
        let space = records.iter().position(|&b| b == b' ')?;
        let len: usize = std::str::from_utf8(&records[..space]).ok()?.parse().ok()?;
        let record = records.get(space + 1..len)?;
        if let Some(v) = record.strip_prefix(b"size=") {
            let v = v.strip_suffix(b"\n").unwrap_or(v);
            size = std::str::from_utf8(v).ok()?.parse().ok();
        }
        records = &records[len..];
    }
    size
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    /// One ustar header for `name` of `size` bytes and type `kind`, checksum filled in.
    fn header(name: &str, size: u64, kind: u8) -> Vec<u8> {
        let mut h = vec![0u8; BLOCK];
        h[..name.len()].copy_from_slice(name.as_bytes());
        h[100..107].copy_from_slice(b"0000644");
        h[124..135].copy_from_slice(format!("{size:011o}").as_bytes());
        h[156] = kind;
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        h[148..156].copy_from_slice(b"        ");
        let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
        h[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
        h
    }

    fn entry(name: &str, data: &[u8], kind: u8) -> Vec<u8> {
        let mut e = header(name, data.len() as u64, kind);
        e.extend_from_slice(data);
        e.resize(e.len().div_ceil(BLOCK) * BLOCK, 0);
        e
    }

    #[test]
    fn finds_regular_files_and_skips_the_rest() {
        let mut t = entry("dir/", b"", b'5');
        t.extend(entry("a.gz", b"0123456789", b'0'));
        t.extend(entry("link", b"", b'2'));
        t.extend(entry("b", &[7u8; 600], b'0'));
        let b_header = t.len() - 1024 - BLOCK;
        t.extend([0u8; 1024]);
        let spans = member_spans(&t).unwrap();
        assert_eq!(spans.len(), 2);
        assert_eq!(&t[spans[0].start..spans[0].end], b"0123456789");
        assert_eq!(spans[1].start, b_header + BLOCK);
        assert_eq!(spans[1].end - spans[1].start, 600);
    }

    #[test]
    fn a_pax_size_applies_to_the_next_member() {
        // the ustar size field says 3, the pax record says 700
        let mut t = entry("pax", b"12 size=700\n", b'x');
        let mut h = header("big", 3, b'0');
        h.extend_from_slice(&[1u8; 700]);
        h.resize(h.len().div_ceil(BLOCK) * BLOCK, 0);
        t.extend(h);
        t.extend(entry("after", b"x", b'0'));
        let spans = member_spans(&t).unwrap();
        assert_eq!(spans.len(), 2);
        assert_eq!(spans[0].end - spans[0].start, 700);
        assert_eq!(&t[spans[1].start..spans[1].end], b"x");
    }

    #[test]
    fn damage_ends_the_walk_without_error() {
        let mut t = entry("a", b"abc", b'0');
        let mut bad = entry("b", b"def", b'0');
        bad[0] ^= 1; // checksum no longer holds
        t.extend(bad);
        assert_eq!(member_spans(&t).unwrap().len(), 1);
        // a size running past the end stops too
        let mut cut = entry("c", &[0u8; 2000], b'0');
        cut.truncate(1000);
        assert_eq!(member_spans(&cut).unwrap().len(), 0);
        assert!(member_spans(b"not a tar").is_none());
        assert!(member_spans(&[0u8; 1024]).is_none());
        assert!(!looks_like_tar(&t[..100]));
    }

    #[test]
    fn numbers_in_octal_and_base_256() {
        assert_eq!(number(b"00000001750\0"), Some(1000));
        assert_eq!(number(b"     1750 \0"), Some(1000));
        assert_eq!(number(&[0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0]), Some(256));
        assert_eq!(number(b"\0\0\0\0"), Some(0));
        assert_eq!(number(b"12x"), Some(10));
        assert_eq!(number(b"x"), None);
    }
}
