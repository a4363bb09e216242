//! cpio archives in the "new ASCII" format (`070701`, `070702`: RPM payloads, initramfs
//! images): where each regular file's data lies.
//!
//! Like the tar walk, only a map: bytes outside the spans are copied as they are, and the first
//! header that does not read ends the walk.

use super::ar::Span;

/// Size of a header: the magic, then thirteen 8-digit hexadecimal fields.
const HEADER: usize = 110;
/// Headers, names and data are aligned to this.
const ALIGN: usize = 4;
/// Name of the last entry.
const TRAILER: &[u8] = b"TRAILER!!!";

/// True if `data` starts with a new-ASCII cpio header.
pub(super) fn looks_like_cpio(data: &[u8]) -> bool {
    data.len() >= HEADER
        && (data.starts_with(b"070701") || data.starts_with(b"070702"))
        && field(data, 0).is_some()
}

/// The data of each regular file in the cpio archive `data`, in order, or `None` when `data`
/// does not start with a new-ASCII header.
pub(super) fn member_spans(data: &[u8]) -> Option<Vec<Span>> {
    if !looks_like_cpio(data) {
        return None;
    }
    let mut spans = Vec::new();
    let mut pos = 0usize;
    while let Some(h) = data.get(pos..pos + HEADER) {
        if !(h.starts_with(b"070701") || h.starts_with(b"070702")) {
            break;
        }
        let (Some(mode), Some(size), Some(name_len)) = (field(h, 1), field(h, 6), field(h, 11))
        else {
            break;
        };
        let name_at = pos + HEADER;
        let Some(name) = data.get(name_at..name_at + name_len as usize) else {
            break;
        };
        if name.strip_suffix(b"\0") == Some(TRAILER) {
            break;
        }
        let start = (name_at + name_len as usize).next_multiple_of(ALIGN);
        let Some(end) = start
            .checked_add(size as usize)
            .filter(|&e| e <= data.len())
        else {
            break;
        };
        if mode & 0o170000 == 0o100000 && size > 0 {
            spans.push(Span { start, end });
        }
        pos = end.next_multiple_of(ALIGN);
    }
    Some(spans)
}

/// The `i`-th 8-digit hexadecimal field after the magic (0 = inode, 1 = mode, 6 = file size,
/// 11 = name size).
fn field(h: &[u8], i: usize) -> Option<u32> {
    let at = 6 + 8 * i;
    let digits = std::str::from_utf8(h.get(at..at + 8)?).ok()?;
    u32::from_str_radix(digits, 16).ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn entry(name: &str, mode: u32, data: &[u8]) -> Vec<u8> {
        let mut e = format!(
            "070701{:08x}{mode:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}",
            1,
            0,
            0,
            1,
            0,
            data.len(),
            0,
            0,
            0,
            0,
            name.len() + 1,
            0
        )
        .into_bytes();
        e.extend_from_slice(name.as_bytes());
        e.push(0);
        e.resize(e.len().next_multiple_of(ALIGN), 0);
        e.extend_from_slice(data);
        e.resize(e.len().next_multiple_of(ALIGN), 0);
        e
    }

    #[test]
    fn finds_regular_files_up_to_the_trailer() {
        let mut c = entry("./usr", 0o40755, b"");
        c.extend(entry(
            "./usr/share/man/ls.1.gz",
            0o100644,
            b"\x1f\x8b\x08 gzip",
        ));
        c.extend(entry("./usr/bin/link", 0o120777, b"target"));
        c.extend(entry("./usr/bin/x", 0o100755, b"ELF!!"));
        c.extend(entry("TRAILER!!!", 0, b""));
        c.extend([0u8; 100]);
        let spans = member_spans(&c).unwrap();
        assert_eq!(spans.len(), 2);
        assert_eq!(&c[spans[0].start..spans[0].end], b"\x1f\x8b\x08 gzip");
        assert_eq!(&c[spans[1].start..spans[1].end], b"ELF!!");
        // cut inside the last file: the walk stops before it
        let cut = &c[..spans[1].end - 1];
        assert_eq!(member_spans(cut).unwrap().len(), 1);
        assert!(member_spans(b"070701zzzz").is_none());
        assert!(!looks_like_cpio(&[0u8; 200]));
    }
}
