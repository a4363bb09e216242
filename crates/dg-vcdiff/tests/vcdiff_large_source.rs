//! `#[ignore]`d: a >4 GiB sparse, memory-mapped source with scattered edits, streamed through
//! encode and decode (and `xdelta3 -d` when installed) without ever holding the target.
//!
//! Run: `cargo test --release --test large_source -- --ignored --nocapture`
//! (`DG_LARGE_DIR` picks the directory for the sparse file; default: temp dir).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::Instant;

use common::Rng;
use dg_vcdiff::{decode, encode, DecodeLimits, EncodeOptions};

const SIZE: u64 = (5 << 30) + 12_345;

/// Current anonymous (heap) resident memory in KiB, from /proc/self/status.
fn rss_anon_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("RssAnon:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[derive(Clone)]
enum Piece {
    Src(u64, u64),
    Lit(Vec<u8>),
}

/// The target: the source with edits, as a list of pieces.
fn edited(rng: &mut Rng, size: u64, edits: usize) -> Vec<Piece> {
    let mut at: Vec<u64> = (0..edits).map(|_| rng.below(size - 1000)).collect();
    at.sort_unstable();
    at.dedup();
    let mut pieces = Vec::new();
    let mut pos = 0u64;
    for a in at {
        if a < pos {
            continue;
        }
        pieces.push(Piece::Src(pos, a));
        let n = 1 + rng.below(200) as usize;
        match rng.below(3) {
            0 => {
                pieces.push(Piece::Lit(rng.bytes(n)));
                pos = a + n as u64; // replace
            }
            1 => {
                pieces.push(Piece::Lit(rng.bytes(n)));
                pos = a; // insert
            }
            _ => pos = a + n as u64, // delete
        }
    }
    pieces.push(Piece::Src(pos, size));
    pieces
}

struct PieceReader<'a> {
    src: &'a [u8],
    pieces: &'a [Piece],
    idx: usize,
    off: usize,
    /// Peak RssAnon seen while reading (sampled every 64 calls).
    peak_anon: u64,
    calls: u64,
}

impl Read for PieceReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.calls += 1;
        if self.calls.is_multiple_of(64) {
            self.peak_anon = self.peak_anon.max(rss_anon_kib());
        }
        while let Some(p) = self.pieces.get(self.idx) {
            let bytes: &[u8] = match p {
                Piece::Src(a, b) => &self.src[*a as usize..*b as usize],
                Piece::Lit(v) => v,
            };
            if self.off < bytes.len() {
                let n = buf.len().min(bytes.len() - self.off);
                buf[..n].copy_from_slice(&bytes[self.off..self.off + n]);
                self.off += n;
                return Ok(n);
            }
            self.idx += 1;
            self.off = 0;
        }
        Ok(0)
    }
}

/// A writer that checks what is written against the expected pieces.
struct Compare<'a> {
    expect: PieceReader<'a>,
    scratch: Vec<u8>,
    written: u64,
    ok: bool,
}

impl Write for Compare<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.scratch.resize(buf.len(), 0);
        let mut got = 0;
        while got < buf.len() {
            let n = self.expect.read(&mut self.scratch[got..])?;
            if n == 0 {
                break;
            }
            got += n;
        }
        if got != buf.len() || self.scratch[..got] != *buf {
            self.ok = false;
        }
        self.written += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
#[ignore = "creates a 5 GiB sparse file; run explicitly"]
fn five_gib_sparse_source() {
    let dir = std::env::var_os("DG_LARGE_DIR").map_or_else(std::env::temp_dir, Into::into);
    let file = tempfile::NamedTempFile::new_in(dir).unwrap();
    let f = file.as_file();
    f.set_len(SIZE).unwrap();
    let mut rng = Rng::new(2024);
    // Non-zero content scattered over the file, including past 4 GiB.
    use std::os::unix::fs::FileExt;
    for i in 0..48u64 {
        let at = i * (SIZE / 48) + rng.below(1 << 20);
        f.write_all_at(&rng.bytes(1 << 20), at).unwrap();
    }
    f.write_all_at(b"the end", SIZE - 7).unwrap();
    let map = unsafe { memmap2::Mmap::map(f).unwrap() };
    let src: &[u8] = &map;
    let pieces = edited(&mut rng, SIZE, 300);
    let target_len: u64 = pieces
        .iter()
        .map(|p| match p {
            Piece::Src(a, b) => b - a,
            Piece::Lit(v) => v.len() as u64,
        })
        .sum();

    let t = Instant::now();
    let mut delta = Vec::new();
    let mut reader = PieceReader {
        src,
        pieces: &pieces,
        idx: 0,
        off: 0,
        peak_anon: 0,
        calls: 0,
    };
    let st = encode(src, &mut reader, &mut delta, &EncodeOptions::default()).unwrap();
    eprintln!(
        "encode: {:?} in {:.1}s (target {} bytes), peak RssAnon {} MiB",
        st,
        t.elapsed().as_secs_f64(),
        target_len,
        reader.peak_anon / 1024
    );
    assert_eq!(st.bytes_in, target_len);
    if let Some(keep) = std::env::var_os("DG_LARGE_KEEP_DELTA") {
        std::fs::write(keep, &delta).unwrap();
    }

    let t = Instant::now();
    let expect = PieceReader {
        src,
        pieces: &pieces,
        idx: 0,
        off: 0,
        peak_anon: 0,
        calls: 0,
    };
    let mut cmp = Compare {
        expect,
        scratch: Vec::new(),
        written: 0,
        ok: true,
    };
    let n = decode(src, &mut &delta[..], &mut cmp, &DecodeLimits::default()).unwrap();
    eprintln!(
        "decode: {n} bytes in {:.1}s, peak RssAnon {} MiB",
        t.elapsed().as_secs_f64(),
        cmp.expect.peak_anon / 1024
    );
    assert_eq!(n, target_len);
    assert!(cmp.ok, "decoded output differs");

    if Command::new("xdelta3").arg("-V").output().is_ok() {
        let t = Instant::now();
        let dpath = file.path().with_extension("delta");
        std::fs::write(&dpath, &delta).unwrap();
        let mut child = Command::new("xdelta3")
            .args(["-d", "-c", "-D", "-R", "-s"])
            .arg(file.path())
            .arg(&dpath)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let expect = PieceReader {
            src,
            pieces: &pieces,
            idx: 0,
            off: 0,
            peak_anon: 0,
            calls: 0,
        };
        let mut cmp = Compare {
            expect,
            scratch: Vec::new(),
            written: 0,
            ok: true,
        };
        std::io::copy(&mut stdout, &mut cmp).unwrap();
        assert!(child.wait().unwrap().success());
        std::fs::remove_file(&dpath).unwrap();
        eprintln!(
            "xdelta3 -d: {} bytes in {:.1}s",
            cmp.written,
            t.elapsed().as_secs_f64()
        );
        assert_eq!(cmp.written, target_len);
        assert!(cmp.ok, "xdelta3 decoded our delta differently");
    } else {
        eprintln!("!!!!!!!! xdelta3 not on PATH: skipping its half of the large test !!!!!!!!");
    }
}
