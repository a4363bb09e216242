//! gzip member header parsing (RFC 1952).

const FHCRC: u8 = 0x02;
const FEXTRA: u8 = 0x04;
const FNAME: u8 = 0x08;
const FCOMMENT: u8 = 0x10;
const FRESERVED: u8 = 0xe0;

/// True if `data` starts like a deflate-compressed gzip member.
pub(super) fn looks_like_gzip(data: &[u8]) -> bool {
    data.len() >= 18
        && data[0] == 0x1f
        && data[1] == 0x8b
        && data[2] == 8
        && data[3] & FRESERVED == 0
}

/// Length of the gzip member header at the start of `data`, or `None` if it is
/// not a complete, well-formed deflate gzip header.
pub(super) fn header_len(data: &[u8]) -> Option<usize> {
    if data.len() < 10 || data[0] != 0x1f || data[1] != 0x8b || data[2] != 8 {
        return None;
    }
    let flg = data[3];
    if flg & FRESERVED != 0 {
        return None;
    }
    let mut pos = 10usize;
    if flg & FEXTRA != 0 {
        let xlen = usize::from(u16::from_le_bytes([*data.get(pos)?, *data.get(pos + 1)?]));
        pos = pos.checked_add(2 + xlen)?;
    }
    if flg & FNAME != 0 {
        let z = data.get(pos..)?.iter().position(|&b| b == 0)?;
        pos += z + 1;
    }
    if flg & FCOMMENT != 0 {
        let z = data.get(pos..)?.iter().position(|&b| b == 0)?;
        pos += z + 1;
    }
    if flg & FHCRC != 0 {
        pos += 2;
    }
    if pos > data.len() {
        return None;
    }
    Some(pos)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn headers() {
        let base = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3];
        assert_eq!(header_len(&base), Some(10));
        let mut h = base.to_vec();
        h[3] = FNAME | FCOMMENT | FEXTRA | FHCRC;
        h.extend_from_slice(&[3, 0, b'a', b'b', b'c']);
        h.extend_from_slice(b"name\0comment\0");
        h.extend_from_slice(&[0x12, 0x34]);
        assert_eq!(header_len(&h), Some(h.len()));
        assert_eq!(header_len(&h[..h.len() - 1]), None);
        assert_eq!(header_len(&h[..16]), None);
        h[3] |= 0x20;
        assert_eq!(header_len(&h), None);
        assert_eq!(header_len(&[0x1f, 0x8b]), None);
    }
}
