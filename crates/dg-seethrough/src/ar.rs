//! Unix `ar` archives (Debian `.deb` packages): where each member's data lies.

/// First bytes of an ar archive.
const MAGIC: &[u8; 8] = b"!<arch>\n";
/// Size of a member header.
const HEADER: usize = 60;

/// Byte range of one member's data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Span {
    pub start: usize,
    pub end: usize,
}

/// The members of the ar archive `data`, in order, or `None` when `data` is not one (or its
/// headers do not describe it exactly).
pub(super) fn member_spans(data: &[u8]) -> Option<Vec<Span>> {
    if !data.starts_with(MAGIC) {
        return None;
    }
    let mut spans = Vec::new();
    let mut pos = MAGIC.len();
    while pos < data.len() {
        let header = data.get(pos..pos + HEADER)?;
        if &header[58..60] != b"`\n" {
            return None;
        }
        let size = std::str::from_utf8(&header[48..58]).ok()?.trim_end();
        let size: usize = size.parse().ok()?;
        let start = pos + HEADER;
        let end = start.checked_add(size)?;
        if end > data.len() {
            return None;
        }
        spans.push(Span { start, end });
        pos = end + (size & 1);
    }
    (pos == data.len()).then_some(spans)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn member(name: &str, data: &[u8]) -> Vec<u8> {
        let mut h = format!(
            "{name:<16}{:<12}{:<6}{:<6}{:<8}{:<10}`\n",
            0,
            0,
            0,
            100644,
            data.len()
        )
        .into_bytes();
        h.extend_from_slice(data);
        if data.len() % 2 == 1 {
            h.push(b'\n');
        }
        h
    }

    #[test]
    fn finds_members_and_refuses_damage() {
        let mut ar = MAGIC.to_vec();
        ar.extend(member("debian-binary", b"2.0\n"));
        ar.extend(member("data.tar.xz", b"odd"));
        let spans = member_spans(&ar).unwrap();
        assert_eq!(spans.len(), 2);
        assert_eq!(&ar[spans[0].start..spans[0].end], b"2.0\n");
        assert_eq!(&ar[spans[1].start..spans[1].end], b"odd");
        assert_eq!(member_spans(&ar[..ar.len() - 1]), None);
        assert_eq!(member_spans(b"!<arch>\nshort"), None);
        assert_eq!(member_spans(b"PK\x03\x04"), None);
        assert_eq!(member_spans(MAGIC), Some(vec![]));
    }
}
