//! The compressor conformance suite.

use std::io::{self, Read, Write};

use dg_ports::{Compressor, Level};
use dg_testdata::{noise, text};

/// A reader that hands out at most `step` bytes per call: input that arrives in pieces.
struct Trickle<'a> {
    data: &'a [u8],
    step: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(self.step).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

/// A writer that takes at most `step` bytes per call: output that drains in pieces.
struct Narrow {
    out: Vec<u8>,
    step: usize,
}

impl Write for Narrow {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len().min(self.step);
        self.out.extend_from_slice(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn pack(c: &dyn Compressor, data: &[u8], level: Level) -> Vec<u8> {
    let mut packed = Vec::new();
    c.compress_at(&mut &data[..], &mut packed, level)
        .unwrap_or_else(|e| {
            panic!(
                "{} compresses {} bytes at {level}: {e}",
                c.name(),
                data.len()
            )
        });
    packed
}

fn unpack(c: &dyn Compressor, packed: &[u8], max_output: u64) -> dg_ports::Result<Vec<u8>> {
    let mut out = Vec::new();
    let n = c.decompress(&mut &packed[..], &mut out, max_output)?;
    assert_eq!(
        n,
        out.len() as u64,
        "{}: decompress returns the bytes it wrote",
        c.name()
    );
    Ok(out)
}

/// The inputs every compressor must carry: empty, one byte, text, noise, and both mixed.
fn inputs() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("empty", Vec::new()),
        ("one byte", vec![0x42]),
        ("a short line", b"release notes\n".to_vec()),
        ("text", text(1, 300_000)),
        ("noise", noise(2, 200_000)),
        (
            "text then noise",
            [text(3, 100_000), noise(4, 100_000)].concat(),
        ),
        ("zeros", vec![0; 150_000]),
    ]
}

/// Runs every compressor rule against `c`: round trips of every level (streaming both ways),
/// the output limit, and refusing truncated, damaged and foreign input.
pub fn run(c: &dyn Compressor) {
    let name = c.name();
    assert!(!name.is_empty(), "a compressor has a name");
    assert_eq!(name, c.name(), "the name is stable");

    for (what, data) in inputs() {
        let len = data.len() as u64;
        for level in [Level::Fast, Level::Default, Level::Best] {
            let packed = pack(c, &data, level);
            assert_eq!(
                unpack(c, &packed, len)
                    .unwrap_or_else(|e| panic!("{name}: {what} at {level}: {e}")),
                data,
                "{name}: {what} round-trips at {level}"
            );
            // streaming: input in pieces, output drained in pieces
            let mut out = Narrow {
                out: Vec::new(),
                step: 7,
            };
            let n = c
                .decompress(
                    &mut Trickle {
                        data: &packed,
                        step: 3,
                    },
                    &mut out,
                    len,
                )
                .unwrap_or_else(|e| panic!("{name}: {what} at {level}, streamed: {e}"));
            assert_eq!((n, &out.out), (len, &data), "{name}: {what} streams out");
            if level == Level::Best {
                let mut streamed = Vec::new();
                c.compress(
                    &mut Trickle {
                        data: &data,
                        step: 5,
                    },
                    &mut streamed,
                )
                .unwrap_or_else(|e| panic!("{name}: {what} compressed from a trickle: {e}"));
                assert_eq!(
                    unpack(c, &streamed, len).unwrap(),
                    data,
                    "{name}: {what} compressed from a trickle round-trips"
                );
            }
        }
        let packed = pack(c, &data, Level::Default);
        if !data.is_empty() {
            // the output limit: exactly the size passes, one byte less fails having written
            // at most the limit
            let mut out = Vec::new();
            let over = c.decompress(&mut &packed[..], &mut out, len - 1);
            assert!(over.is_err(), "{name}: {what} over max_output fails");
            assert!(
                (out.len() as u64) < len,
                "{name}: {what}: at most max_output bytes are written ({} > {})",
                out.len(),
                len - 1
            );
        }
        // truncated input fails, wherever it is cut
        for cut in [packed.len() - 1, packed.len() / 2, packed.len().min(4), 1] {
            if cut >= packed.len() {
                continue;
            }
            assert!(
                unpack(c, &packed[..cut], u64::MAX).is_err(),
                "{name}: {what} cut to {cut} of {} bytes fails",
                packed.len()
            );
        }
        // damaged input fails (the format carries a checksum) or, at the very least, never
        // passes for the original
        for at in [packed.len() / 2, packed.len().saturating_sub(2)] {
            let mut damaged = packed.clone();
            damaged[at] ^= 0x41;
            if let Ok(out) = unpack(c, &damaged, len.max(1) * 2) {
                panic!(
                    "{name}: {what} with byte {at} of {} damaged decompressed ({} bytes)",
                    packed.len(),
                    out.len()
                );
            }
        }
    }

    // input that is no output of this compressor fails
    for (what, foreign) in [
        ("empty input", Vec::new()),
        ("text", b"plain text, not compressed".to_vec()),
        ("noise", noise(9, 4096)),
    ] {
        assert!(
            unpack(c, &foreign, 1 << 20).is_err(),
            "{name}: {what} is refused"
        );
    }
}
