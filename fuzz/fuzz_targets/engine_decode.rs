//! Arbitrary bytes through every engine's decoder (vcdiff, lzma, zstd, rsync): errors, never panics,
//! never more output than `max_output`.
#![no_main]

use dg_adapters::engine::{LzmaEngine, RsyncEngine, VcdiffEngine, ZstdEngine};
use dg_ports::DiffEngine;
use libfuzzer_sys::fuzz_target;

#[path = "source.rs"]
mod source;

fuzz_target!(|data: &[u8]| {
    let engines: [&dyn DiffEngine; 4] = [
        &VcdiffEngine::default(),
        &LzmaEngine::default(),
        &ZstdEngine::default(),
        &RsyncEngine::default(),
    ];
    for engine in engines {
        let mut out = Vec::new();
        let mut delta = data;
        if let Ok(n) = engine.decode(source::source(), &mut delta, &mut out, 1 << 20) {
            assert_eq!(n, out.len() as u64);
            assert!(n <= 1 << 20);
        }
    }
});
