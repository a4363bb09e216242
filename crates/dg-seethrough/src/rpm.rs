//! RPM packages: where the payload (a compressed cpio archive) starts, after the lead and the
//! signature and main headers.

/// First bytes of an RPM package (the lead).
const LEAD_MAGIC: [u8; 4] = [0xed, 0xab, 0xee, 0xdb];
/// Size of the lead.
const LEAD_LEN: usize = 96;
/// First bytes of a header structure (then version 1 and four reserved bytes).
const HEADER_MAGIC: [u8; 3] = [0x8e, 0xad, 0xe8];

/// Offset of the payload of the RPM package `data`, or `None` when `data` is not one (or its
/// headers run past its end).
pub(super) fn payload_start(data: &[u8]) -> Option<usize> {
    if !data.starts_with(&LEAD_MAGIC) {
        return None;
    }
    let signature = header_len(data, LEAD_LEN)?;
    // the signature header is padded to a multiple of eight bytes
    let main_at = (LEAD_LEN + signature).next_multiple_of(8);
    let main = header_len(data, main_at)?;
    let payload = main_at.checked_add(main)?;
    (payload <= data.len()).then_some(payload)
}

/// Length of the header structure at `at`: 16 bytes of preamble, 16 per index entry, then the
/// data store.
fn header_len(data: &[u8], at: usize) -> Option<usize> {
    let h = data.get(at..at.checked_add(16)?)?;
    if h[..3] != HEADER_MAGIC || h[3] != 1 {
        return None;
    }
    let entries = u32::from_be_bytes([h[8], h[9], h[10], h[11]]);
    let store = u32::from_be_bytes([h[12], h[13], h[14], h[15]]);
    let len = 16u64 + 16 * u64::from(entries) + u64::from(store);
    let len = usize::try_from(len).ok()?;
    (at.checked_add(len)? <= data.len()).then_some(len)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn header(entries: u32, store: u32) -> Vec<u8> {
        let mut h = HEADER_MAGIC.to_vec();
        h.extend_from_slice(&[1, 0, 0, 0, 0]);
        h.extend_from_slice(&entries.to_be_bytes());
        h.extend_from_slice(&store.to_be_bytes());
        h.resize(h.len() + 16 * entries as usize + store as usize, 7);
        h
    }

    #[test]
    fn finds_the_payload_after_the_padded_signature() {
        let mut rpm = LEAD_MAGIC.to_vec();
        rpm.resize(LEAD_LEN, 0);
        rpm.extend(header(2, 5)); // 16 + 32 + 5 = 53 bytes: 3 bytes of padding follow
        rpm.extend([0u8; 3]);
        let main_at = rpm.len();
        rpm.extend(header(3, 10));
        let payload = rpm.len();
        rpm.extend_from_slice(b"\xfd7zXZ\0payload");
        assert_eq!(main_at % 8, 0);
        assert_eq!(payload_start(&rpm), Some(payload));
        // cut inside the main header
        assert_eq!(payload_start(&rpm[..payload - 1]), None);
        // no lead, or a damaged header
        assert_eq!(payload_start(&rpm[1..]), None);
        let mut bad = rpm.clone();
        bad[main_at] ^= 1;
        assert_eq!(payload_start(&bad), None);
        // a header claiming more than the file holds
        let mut huge = rpm.clone();
        huge[LEAD_LEN + 8..LEAD_LEN + 12].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(payload_start(&huge), None);
    }
}
