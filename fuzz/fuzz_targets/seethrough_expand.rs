//! Arbitrary files through the see-through `expand` (the gzip, zip, tar, ar, xz and bzip2
//! walkers read untrusted uploads): never a panic, and whatever it claims to see through
//! rebuilds to the input byte for byte (the self-check, which fails loudly here).
#![no_main]

use dg_seethrough::{expand, ExpandOptions, SeeThroughError};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let opts = ExpandOptions {
        self_check: true,
        max_plain: 4 << 20,
        max_nested: 1 << 20,
        ..ExpandOptions::default()
    };
    let (mut plain, mut recipe) = (Vec::new(), Vec::new());
    if let Err(SeeThroughError::SelfCheck(why)) = expand(data, &mut plain, &mut recipe, &opts) {
        panic!("expand produced a recipe that does not rebuild its input: {why}");
    }
});
