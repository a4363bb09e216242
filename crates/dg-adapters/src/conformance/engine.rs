//! The diff-engine conformance suite.

use std::io::Cursor;

use dg_ports::DiffEngine;

/// The shared deterministic data of every crate's tests (kept here for the suites' callers).
pub use dg_testdata::{edit, noise};

/// Encodes then decodes; returns the delta.
pub fn round_trip(engine: &dyn DiffEngine, reference: &[u8], target: &[u8]) -> Vec<u8> {
    let mut delta = Vec::new();
    engine
        .encode(reference, &mut Cursor::new(target), &mut delta)
        .unwrap_or_else(|e| panic!("{} failed to encode: {e}", engine.name()));
    assert!(
        engine.recognizes(&delta[..delta.len().min(16)]),
        "{} recognizes its own deltas",
        engine.name()
    );
    let mut out = Vec::new();
    let n = engine
        .decode(
            reference,
            &mut Cursor::new(&delta),
            &mut out,
            target.len() as u64,
        )
        .unwrap_or_else(|e| panic!("{} failed to decode its own delta: {e}", engine.name()));
    assert_eq!(
        n,
        target.len() as u64,
        "{} reports the bytes written",
        engine.name()
    );
    assert!(
        out == target,
        "{} round-trips ({} bytes vs {} bytes)",
        engine.name(),
        out.len(),
        target.len()
    );
    delta
}

/// Like [`round_trip`] where [`DiffEngine::supports`] accepts the sizes; where it refuses them,
/// encoding may only fail cleanly or round-trip (never panic, never a wrong file).
pub fn round_trip_if_supported(engine: &dyn DiffEngine, reference: &[u8], target: &[u8]) {
    if engine
        .supports(reference.len() as u64, target.len() as u64)
        .is_ok()
    {
        round_trip(engine, reference, target);
        return;
    }
    let mut delta = Vec::new();
    if engine
        .encode(reference, &mut Cursor::new(target), &mut delta)
        .is_ok()
    {
        let mut out = Vec::new();
        let decoded = engine.decode(
            reference,
            &mut Cursor::new(&delta),
            &mut out,
            target.len() as u64,
        );
        assert!(
            decoded.is_err() || out == target,
            "{}: an unsupported pair never decodes to other bytes",
            engine.name()
        );
    }
}

/// Runs every engine rule against `engine` (inputs up to a few MiB). Only the empty and tiny
/// inputs may be refused by [`DiffEngine::supports`]; every other case must round-trip.
pub fn run(engine: &dyn DiffEngine) {
    let base = noise(1, 1 << 20);
    let similar = edit(&base, 2, 20);
    // empty and tiny inputs
    round_trip_if_supported(engine, b"", b"");
    round_trip_if_supported(engine, b"", b"x");
    round_trip_if_supported(engine, b"x", b"y");
    round_trip(engine, &base, b"");
    round_trip(engine, b"", &base[..5000]);
    // identical: a near-empty delta
    let same = round_trip(engine, &base, &base);
    assert!(
        same.len() < base.len() / 50,
        "{}: identical files give a tiny delta ({} bytes)",
        engine.name(),
        same.len()
    );
    // similar: small delta
    let small = round_trip(engine, &base, &similar);
    assert!(
        small.len() < base.len() / 10,
        "{}: a few edits give a small delta ({} bytes)",
        engine.name(),
        small.len()
    );
    // unrelated: works, no promise of size
    round_trip(engine, &base, &noise(3, 300_000));
    // reference shorter / longer than target
    round_trip(engine, &base[..1000], &similar);
    round_trip(engine, &similar, &base[..1000]);
    let mut doubled = base.clone();
    doubled.extend_from_slice(&similar);
    round_trip(engine, &base, &doubled);

    // decode bounds: output limit, garbage and truncation are errors, never panics
    let mut out = Vec::new();
    let limited = engine.decode(&base, &mut Cursor::new(&small), &mut out, 1000);
    assert!(
        limited.is_err(),
        "{}: decode stops at max_output",
        engine.name()
    );
    for garbage in [&b""[..], b"\x00\x01\x02", &noise(9, 4096)] {
        let mut out = Vec::new();
        let r = engine.decode(&base, &mut Cursor::new(garbage), &mut out, 1 << 20);
        assert!(r.is_err(), "{}: garbage is an error", engine.name());
    }
    for cut in [4, small.len() / 2, small.len() - 1] {
        let mut out = Vec::new();
        let r = engine.decode(&base, &mut Cursor::new(&small[..cut]), &mut out, 1 << 22);
        assert!(
            r.is_err() || out != similar,
            "{}: a truncated delta never yields the file",
            engine.name()
        );
    }
}
