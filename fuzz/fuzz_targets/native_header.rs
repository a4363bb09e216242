//! Arbitrary bytes as the header of a dg native object: parsed or refused, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut reader = data;
    if let Ok(header) = dg_core::container::read_header(&mut reader) {
        let again = dg_core::container::encode_header(&header).expect("a parsed header re-encodes");
        let mut r = &again[..];
        assert_eq!(dg_core::container::read_header(&mut r).expect("re-parses"), header);
    }
});
