//! zstd, xz and bzip2 as a general-purpose compressor, for references stored in dg's native format.

use std::io::{self, Read, Write};

use dg_ports::{Compressor, Error, Level, Result};
use liblzma::stream::{Check, Filters, LzmaOptions, Stream};

use super::io::{input_error, SinkWriter};

/// Multi-threaded zstd with long-distance matching; xz (LZMA2) for inputs up to `xz_limit`.
///
/// A reference is compressed once and read by every later download, so small inputs (up to
/// `small_limit` bytes) get the slower `small_level`: their time stays a few seconds at most.
/// Inputs up to `xz_limit` go to xz at preset 6 with a dictionary of up to 16 MiB: 2–15%
/// smaller than zstd's level 17 on source tarballs, SQL dumps and the plain forms of `.deb`
/// packages (whose `.xz` members it matches), for about the same time. bzip2 (`-9`) runs
/// beside it, and the smaller is kept: on text such as SQL dumps bzip2 is a quarter smaller
/// than xz (a 6 MB dump: 391 KB against 536 KB). xz runs at 1–3 MB/s
/// whatever the data, so a fast zstd pass goes first: an input it cannot bring under
/// 90% of its size (already-compressed or random bytes) is stored as that pass
/// wrote it, in a fraction of a second instead of xz's ten or more. Decompression tells the
/// formats apart by their magic bytes, so references written by any of them are read.
#[derive(Clone, Debug)]
pub struct ZstdCompressor {
    /// Compression level (1–22).
    pub level: i32,
    /// Worker threads (0 = single-threaded).
    pub workers: u32,
    /// Level for inputs of at most `small_limit` bytes.
    pub small_level: i32,
    /// Size up to which `small_level` applies (buffered in memory to find out).
    pub small_limit: usize,
    /// Size up to which xz is used instead (0: never); inputs up to it are buffered in memory.
    pub xz_limit: usize,
}

impl Default for ZstdCompressor {
    fn default() -> Self {
        // Level 12 with long-distance matching: within ~15% of level 19's size at a tenth of
        // its time (a 98 MB plain form: 7.5 MB in 10 s vs 6.3 MB in 190 s here). Up to 64 MiB,
        // xz: a 4.4 MB tokio source tarball 546 KB (zstd 17) -> 541 KB, a 6 MB SQL dump 568 KB
        // -> 536 KB, a 6 MB `.deb` plain form 2.2 MB -> 1.9 MB (its own xz size), an 18 MB
        // tar from a `.tar.xz` 3.2 MB (zstd 12) -> its own 2.7 MB.
        ZstdCompressor {
            level: 12,
            workers: 2,
            small_level: 17,
            small_limit: 16 << 20,
            xz_limit: 64 << 20,
        }
    }
}

/// zstd level of the pass that decides whether xz is worth running (hundreds of MB/s).
const QUICK_LEVEL: i32 = 3;

/// Highest zstd level of the default level for inputs up to `xz_limit` (bzip2 `-9` runs
/// beside it and takes about as long): a pip wheel's 5.7 MB plain form 1.32 MB in 0.3 s where
/// level 17 gives 1.21 MB in 1.6 s; a tokio source tarball (4.6 MB) 583 KB (bzip2's) against
/// 565 KB in 1 s.
const DEFAULT_SMALL_LEVEL: i32 = 12;

/// Highest zstd level of the default level for inputs over `xz_limit`: a 97 MB plain form
/// (a botocore wheel) 7.9 MB in 0.75 s on 2 cores, where level 12 gives 7.55 MB in 1.7 s.
const DEFAULT_LARGE_LEVEL: i32 = 9;

/// xz runs only when the quick zstd pass brings the input under this fraction of its size.
const XZ_WORTH_IT: f64 = 0.9;

fn enc_err(e: io::Error) -> Error {
    Error::io("compressing with zstd", e)
}

impl ZstdCompressor {
    /// zstd, or for inputs up to `xz_limit` that zstd's quick pass shrinks, the smaller of
    /// bzip2 and xz (`best`) or zstd at `small_level`, at most [`DEFAULT_SMALL_LEVEL`]
    /// (several times faster than xz, 5-10% larger; bzip2 wins on text such as SQL dumps).
    fn compress_with(&self, input: &mut dyn Read, out: &mut dyn Write, best: bool) -> Result<()> {
        // Read up to one byte past the small limit to learn which side of it the input is.
        let mut head = Vec::new();
        input
            .take(self.small_limit.max(self.xz_limit) as u64 + 1)
            .read_to_end(&mut head)
            .map_err(|e| Error::io("reading the data to compress", e))?;
        if head.len() <= self.xz_limit {
            let mut quick = Vec::new();
            self.zstd(&mut &head[..], &mut quick, QUICK_LEVEL)?;
            if (quick.len() as f64) < head.len() as f64 * XZ_WORTH_IT {
                let smallest = if best {
                    smaller_of_bzip2_and(&head, &|i, o| xz_compress(i, o))?
                } else {
                    let level = self.small_level.min(DEFAULT_SMALL_LEVEL);
                    smaller_of_bzip2_and(&head, &|i, o| self.zstd(&mut &i[..], o, level))?
                };
                return out.write_all(&smallest).map_err(enc_err);
            }
            return out.write_all(&quick).map_err(enc_err);
        }
        let level = if head.len() <= self.small_limit {
            self.small_level
        } else if best {
            self.level
        } else {
            self.level.min(DEFAULT_LARGE_LEVEL)
        };
        self.zstd(&mut io::Cursor::new(head).chain(input), out, level)
    }

    /// One zstd frame at `level`: long-distance matching, 128 MiB window, checksum.
    fn zstd(&self, input: &mut dyn Read, out: &mut dyn Write, level: i32) -> Result<()> {
        let mut encoder = zstd::stream::write::Encoder::new(out, level).map_err(enc_err)?;
        encoder.long_distance_matching(true).map_err(enc_err)?;
        encoder.window_log(27).map_err(enc_err)?;
        encoder.include_checksum(true).map_err(enc_err)?;
        if self.workers > 0 {
            encoder.multithread(self.workers).map_err(enc_err)?;
        }
        io::copy(input, &mut encoder).map_err(enc_err)?;
        encoder.finish().map_err(enc_err)?;
        Ok(())
    }
}

impl Compressor for ZstdCompressor {
    fn name(&self) -> &'static str {
        "zstd"
    }

    fn compress(&self, input: &mut dyn Read, out: &mut dyn Write) -> Result<()> {
        self.compress_with(input, out, true)
    }

    /// `Best` is [`Compressor::compress`]; `Default` the same with zstd at most at level 12 in
    /// xz's place and at most at level 9 beyond `xz_limit`; `Fast` zstd at level 3 alone.
    fn compress_at(&self, input: &mut dyn Read, out: &mut dyn Write, level: Level) -> Result<()> {
        match level {
            Level::Best => self.compress(input, out),
            Level::Fast => self.zstd(input, out, QUICK_LEVEL),
            Level::Default => self.compress_with(input, out, false),
        }
    }

    fn decompress(
        &self,
        input: &mut dyn Read,
        out: &mut dyn Write,
        max_output: u64,
    ) -> Result<u64> {
        let mut magic = Vec::with_capacity(XZ_MAGIC.len());
        input
            .take(XZ_MAGIC.len() as u64)
            .read_to_end(&mut magic)
            .map_err(|e| Error::io("reading compressed data", e))?;
        let mut input = io::Cursor::new(magic).chain(input);
        let magic = &input.get_ref().0.get_ref()[..];
        if magic == XZ_MAGIC {
            return xz_decompress(&mut input, out, max_output);
        }
        if magic.starts_with(BZIP2_MAGIC) {
            let mut decoder = bzip2::read::BzDecoder::new(input);
            let mut sink = SinkWriter::new(out, max_output);
            return io::copy(&mut decoder, &mut sink).map_err(|e| {
                input_error(
                    "bzip2",
                    "data",
                    "its compressed bytes are damaged",
                    &sink,
                    e,
                )
            });
        }
        let mut decoder = zstd::stream::read::Decoder::new(input)
            .map_err(|e| Error::io("starting a zstd decoder", e))?;
        decoder
            .window_log_max(27)
            .map_err(|e| Error::io("starting a zstd decoder", e))?;
        let mut sink = SinkWriter::new(out, max_output);
        io::copy(&mut decoder, &mut sink)
            .map_err(|e| input_error("zstd", "data", "its compressed bytes are damaged", &sink, e))
    }
}

/// First bytes of an xz stream.
const XZ_MAGIC: [u8; 6] = [0xFD, b'7', b'z', b'X', b'Z', 0x00];
/// First bytes of a bzip2 stream.
const BZIP2_MAGIC: &[u8] = b"BZh";

/// A compressor writing all of its input to a `Vec`.
type Encode<'a> = dyn Fn(&[u8], &mut Vec<u8>) -> Result<()> + Sync + 'a;

/// `input` compressed with bzip2 and with `other` (side by side, on two threads), the smaller.
fn smaller_of_bzip2_and(input: &[u8], other: &Encode<'_>) -> Result<Vec<u8>> {
    let (theirs, bz) = std::thread::scope(|scope| {
        let bz = scope.spawn(|| bzip2_compress(input));
        let mut theirs = Vec::new();
        let theirs = other(input, &mut theirs).map(|()| theirs);
        let bz = bz
            .join()
            .unwrap_or_else(|_| Err(Error::io("bzip2", io::Error::other("the encoder failed"))));
        (theirs, bz)
    });
    let (theirs, bz) = (theirs?, bz?);
    Ok(if bz.len() < theirs.len() { bz } else { theirs })
}

/// bzip2 with 900 kB blocks (`bzip2 -9`).
fn bzip2_compress(input: &[u8]) -> Result<Vec<u8>> {
    let mut encoder = bzip2::write::BzEncoder::new(
        Vec::with_capacity(input.len() / 4),
        bzip2::Compression::best(),
    );
    encoder.write_all(input).map_err(enc_err)?;
    encoder.finish().map_err(enc_err)
}

fn xz_err(e: liblzma::stream::Error) -> Error {
    Error::io("xz", io::Error::other(e))
}

/// xz at preset 6, the dictionary sized to the input (1–16 MiB: at most ~190 MiB of encoder
/// memory), CRC-64.
fn xz_compress(input: &[u8], out: &mut dyn Write) -> Result<()> {
    let mut options = LzmaOptions::new_preset(6).map_err(xz_err)?;
    let dict = u32::try_from(input.len().clamp(1 << 20, 16 << 20)).unwrap_or(16 << 20);
    options.dict_size(dict);
    let mut filters = Filters::new();
    filters.lzma2(&options);
    let stream = Stream::new_stream_encoder(&filters, Check::Crc64).map_err(xz_err)?;
    let mut encoder = liblzma::write::XzEncoder::new_stream(out, stream);
    encoder.write_all(input).map_err(enc_err)?;
    encoder.finish().map_err(enc_err)?;
    Ok(())
}

fn xz_decompress(input: &mut dyn Read, out: &mut dyn Write, max_output: u64) -> Result<u64> {
    // A dictionary of at most 64 MiB: what `xz_compress` writes, with room to spare.
    let stream = Stream::new_stream_decoder(256 << 20, 0).map_err(xz_err)?;
    let mut decoder = liblzma::read::XzDecoder::new_stream(io::BufReader::new(input), stream);
    let mut sink = SinkWriter::new(out, max_output);
    io::copy(&mut decoder, &mut sink)
        .map_err(|e| input_error("xz", "data", "its compressed bytes are damaged", &sink, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_garbage() {
        let c = ZstdCompressor::default();
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 97) as u8).collect();
        let mut packed = Vec::new();
        c.compress(&mut &data[..], &mut packed).unwrap();
        assert!(packed.len() < data.len() / 10);
        let mut out = Vec::new();
        assert_eq!(
            c.decompress(&mut &packed[..], &mut out, 1 << 20).unwrap(),
            data.len() as u64
        );
        assert_eq!(out, data);
        assert!(c
            .decompress(&mut &packed[..packed.len() / 2], &mut Vec::new(), 1 << 20)
            .is_err());
        assert!(c
            .decompress(&mut &packed[..], &mut Vec::new(), 1000)
            .is_err());
        assert!(c
            .decompress(&mut &b"garbage!"[..], &mut Vec::new(), 1000)
            .is_err());
    }

    #[test]
    fn small_inputs_go_to_xz_and_both_formats_are_read() {
        let text: Vec<u8> = (0..100_000u32)
            .flat_map(|i| format!("row {} value {}\n", i % 5003, i % 11).into_bytes())
            .collect();
        let c = ZstdCompressor::default();
        let mut packed = Vec::new();
        c.compress(&mut &text[..], &mut packed).unwrap();
        assert!(
            packed.starts_with(&XZ_MAGIC) || packed.starts_with(BZIP2_MAGIC),
            "small input: xz or bzip2"
        );
        let zstd_only = ZstdCompressor {
            xz_limit: 0,
            ..ZstdCompressor::default()
        };
        let mut zpacked = Vec::new();
        zstd_only.compress(&mut &text[..], &mut zpacked).unwrap();
        assert_eq!(zpacked[..4], [0x28, 0xB5, 0x2F, 0xFD], "xz off: zstd");
        for p in [&packed, &zpacked] {
            let mut out = Vec::new();
            c.decompress(&mut &p[..], &mut out, 1 << 30).unwrap();
            assert_eq!(out, text);
            assert!(c
                .decompress(&mut &p[..p.len() - 1], &mut Vec::new(), 1 << 30)
                .is_err());
            assert!(c.decompress(&mut &p[..], &mut Vec::new(), 1000).is_err());
        }
    }

    #[test]
    fn incompressible_inputs_skip_xz() {
        // xorshift bytes: nothing for either compressor to find.
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        let noise: Vec<u8> = (0..300_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let c = ZstdCompressor::default();
        let mut packed = Vec::new();
        c.compress(&mut &noise[..], &mut packed).unwrap();
        assert_eq!(packed[..4], [0x28, 0xB5, 0x2F, 0xFD], "random bytes: zstd");
        let mut out = Vec::new();
        c.decompress(&mut &packed[..], &mut out, 1 << 30).unwrap();
        assert_eq!(out, noise);
        // Half text, half noise: zstd's pass gets under the bar, so xz runs.
        let text: Vec<u8> = (0..30_000u32)
            .flat_map(|i| format!("row {i} of {}\n", i % 7).into_bytes())
            .take(noise.len())
            .collect();
        let mixed = [&text[..], &noise[..]].concat();
        let mut packed = Vec::new();
        c.compress(&mut &mixed[..], &mut packed).unwrap();
        assert!(
            packed.starts_with(&XZ_MAGIC) || packed.starts_with(BZIP2_MAGIC),
            "half text: xz or bzip2, not the quick pass"
        );
    }

    #[test]
    fn the_smaller_of_xz_and_bzip2_is_kept_and_both_are_read() {
        // Rows of a dump (bzip2's strength) and a repeated binary block (xz's).
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        const NAMES: [&str; 6] = ["alice", "bob", "carol", "dave", "erin", "frank"];
        let rows: Vec<u8> = (0..20_000)
            .flat_map(|i| {
                let (a, b, amount) = (next() % 6, next() % 6, next() % 100_000);
                let (day, hour) = (1 + next() % 28, next() % 24);
                format!(
                    "INSERT INTO orders VALUES ({i}, '{}.{}@example.com', {amount}, \
                     '2026-11-{day:02} {hour:02}:00');\n",
                    NAMES[a as usize], NAMES[b as usize]
                )
                .into_bytes()
            })
            .collect();
        let block: Vec<u8> = (0..200_000).map(|_| next() as u8).collect();
        let repeated = [&block[..], &block[..], &block[..]].concat();
        let c = ZstdCompressor::default();
        for (input, magic) in [(&rows, BZIP2_MAGIC), (&repeated, &XZ_MAGIC[..])] {
            let mut packed = Vec::new();
            c.compress(&mut &input[..], &mut packed).unwrap();
            assert!(packed.starts_with(magic), "{:?}", &packed[..6]);
            let mut out = Vec::new();
            c.decompress(&mut &packed[..], &mut out, 1 << 30).unwrap();
            assert_eq!(&out, input);
            assert!(c
                .decompress(&mut &packed[..packed.len() - 1], &mut Vec::new(), 1 << 30)
                .is_err());
            assert!(c
                .decompress(&mut &packed[..], &mut Vec::new(), 1000)
                .is_err());
        }
    }

    #[test]
    fn small_inputs_get_the_small_level_and_large_ones_stream() {
        let text: Vec<u8> = (0..300_000u32)
            .flat_map(|i| format!("line {} of {}\n", i % 7919, i % 13).into_bytes())
            .collect();
        let sized = |limit: usize| {
            let c = ZstdCompressor {
                level: 1,
                workers: 0,
                small_level: 19,
                small_limit: limit,
                xz_limit: 0,
            };
            let mut packed = Vec::new();
            c.compress(&mut &text[..], &mut packed).unwrap();
            let mut out = Vec::new();
            c.decompress(&mut &packed[..], &mut out, 1 << 30).unwrap();
            assert_eq!(out, text);
            packed.len()
        };
        let small = sized(text.len());
        let large = sized(text.len() - 1);
        assert!(small < large, "level 19 {small} vs level 1 {large}");
    }
}
