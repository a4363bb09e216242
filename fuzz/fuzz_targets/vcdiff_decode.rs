//! Arbitrary bytes as a VCDIFF delta against a fixed source, with tight limits: never a panic,
//! never more output than allowed.
#![no_main]

use dg_vcdiff::{decode, DecodeLimits};
use libfuzzer_sys::fuzz_target;

#[path = "source.rs"]
mod source;

fuzz_target!(|data: &[u8]| {
    let limits = DecodeLimits { max_output: 1 << 20, max_window: 64 << 10 };
    let mut out = Vec::new();
    let mut delta = data;
    if let Ok(n) = decode(source::source(), &mut delta, &mut out, &limits) {
        assert_eq!(n, out.len() as u64);
        assert!(n <= limits.max_output);
    }
});
