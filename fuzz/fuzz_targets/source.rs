//! The fixed 4 KiB source every decode target runs against (deterministic noise with a few
//! repeats, so copies at many offsets are meaningful).

pub fn source() -> &'static [u8] {
    static SOURCE: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    SOURCE.get_or_init(|| {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut v: Vec<u8> = (0..3072)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect();
        let head = v[..1024].to_vec();
        v.extend_from_slice(&head);
        v
    })
}
