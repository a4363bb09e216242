//! Shared helpers for the integration tests: round-trip checking and container builders.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Cursor, Write};
use std::process::{Command, Stdio};

use dg_seethrough::{expand, rebuild, ExpandOptions, ExpandStats};
use flate2::write::{DeflateEncoder, GzEncoder};
use flate2::Compression;

pub fn opts() -> ExpandOptions {
    ExpandOptions {
        self_check: true,
        ..Default::default()
    }
}

pub struct Expanded {
    pub stats: ExpandStats,
    pub plain: Vec<u8>,
    pub recipe: Vec<u8>,
}

/// expand + rebuild; asserts byte-exactness whenever expand says Some.
pub fn roundtrip(input: &[u8], o: &ExpandOptions) -> Option<Expanded> {
    let mut plain = Vec::new();
    let mut recipe = Vec::new();
    let stats = expand(input, &mut plain, &mut recipe, o).expect("expand must not fail")?;
    assert_eq!(stats.plain_len, plain.len() as u64);
    assert_eq!(stats.recipe_len, recipe.len() as u64);
    assert_eq!(
        stats.streams,
        stats.reproduced + stats.partial + stats.kept_raw,
        "{stats:?}"
    );
    let mut out = Vec::new();
    let n = rebuild(&plain, &recipe, &mut out, input.len() as u64).expect("rebuild");
    assert_eq!(n, input.len() as u64);
    assert!(out == input, "rebuild differs from input");
    // one byte less of allowance must fail cleanly
    if !input.is_empty() {
        let mut out2 = Vec::new();
        assert!(rebuild(&plain, &recipe, &mut out2, input.len() as u64 - 1).is_err());
        assert!(out2.len() < input.len());
    }
    Some(Expanded {
        stats,
        plain,
        recipe,
    })
}

pub fn gzip(data: &[u8], level: u32) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::new(level));
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

pub fn deflate(data: &[u8], level: u32) -> Vec<u8> {
    let mut e = DeflateEncoder::new(Vec::new(), Compression::new(level));
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// Raw deflate by miniz_oxide, a compressor other than zlib: its streams go through preflate.
pub fn deflate_miniz(data: &[u8], level: u32) -> Vec<u8> {
    miniz_oxide::deflate::compress_to_vec(data, level as u8)
}

/// A gzip member whose deflate stream miniz_oxide wrote.
pub fn gzip_miniz(data: &[u8], level: u32) -> Vec<u8> {
    gzip_with_header(data, &deflate_miniz(data, level), None, None, None, false)
}

/// Whether zlib at some level 1–9 writes exactly `raw` for its plaintext (such streams are
/// recorded as the level alone, whatever preflate thinks of them).
pub fn zlib_recreates(raw: &[u8]) -> bool {
    use std::io::Read;
    let mut plain = Vec::new();
    if flate2::read::DeflateDecoder::new(raw)
        .read_to_end(&mut plain)
        .is_err()
    {
        return false;
    }
    (1..=9).any(|level| deflate(&plain, level) == raw)
}

/// Whether the see-through codec must reproduce `raw`: zlib wrote it, or preflate accepts it.
pub fn reproducible(raw: &[u8]) -> bool {
    zlib_recreates(raw) || preflate_accepts(raw)
}

/// gzip member with a hand-built header (all optional fields) around `raw_deflate`.
pub fn gzip_with_header(
    data: &[u8],
    raw_deflate: &[u8],
    name: Option<&[u8]>,
    comment: Option<&[u8]>,
    extra: Option<&[u8]>,
    hcrc: bool,
) -> Vec<u8> {
    let mut flg = 0u8;
    if hcrc {
        flg |= 2;
    }
    if extra.is_some() {
        flg |= 4;
    }
    if name.is_some() {
        flg |= 8;
    }
    if comment.is_some() {
        flg |= 16;
    }
    let mut g = vec![0x1f, 0x8b, 8, flg, 1, 2, 3, 4, 0, 255];
    if let Some(x) = extra {
        g.extend_from_slice(&(x.len() as u16).to_le_bytes());
        g.extend_from_slice(x);
    }
    if let Some(n) = name {
        g.extend_from_slice(n);
        g.push(0);
    }
    if let Some(c) = comment {
        g.extend_from_slice(c);
        g.push(0);
    }
    if hcrc {
        let c = crc32fast::hash(&g) as u16;
        g.extend_from_slice(&c.to_le_bytes());
    }
    g.extend_from_slice(raw_deflate);
    g.extend_from_slice(&crc32fast::hash(data).to_le_bytes());
    g.extend_from_slice(&(data.len() as u32).to_le_bytes());
    g
}

/// Zip via the `zip` crate. Members: (name, data, Some(level) = deflated / None = stored).
pub fn zip_crate(members: &[(&str, &[u8], Option<i64>)], stream: bool, large: bool) -> Vec<u8> {
    use zip::write::SimpleFileOptions;
    let opt = |lvl: Option<i64>| {
        let o = SimpleFileOptions::default().large_file(large);
        match lvl {
            Some(l) => o
                .compression_method(zip::CompressionMethod::Deflated)
                .compression_level(Some(l)),
            None => o.compression_method(zip::CompressionMethod::Stored),
        }
    };
    if stream {
        let mut w = zip::ZipWriter::new_stream(Vec::new());
        for (name, data, lvl) in members {
            w.start_file(*name, opt(*lvl)).unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap().into_inner()
    } else {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, data, lvl) in members {
            w.start_file(*name, opt(*lvl)).unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap().into_inner()
    }
}

/// One member for the hand-rolled zip writer.
pub struct Member<'a> {
    pub name: &'a str,
    pub data: &'a [u8],
    /// Some(level) = deflated with flate2 at that level, None = stored
    pub level: Option<u32>,
    /// write sizes in a data descriptor (flag bit 3) with signature
    pub descriptor: bool,
}

/// Hand-rolled zip writer (control over descriptors, zip64 records, prefix, comment).
pub fn zip_manual(members: &[Member<'_>], zip64: bool, prefix: &[u8], comment: &[u8]) -> Vec<u8> {
    let mut out = prefix.to_vec();
    let mut cd = Vec::new();
    for m in members {
        let (method, body) = match m.level {
            Some(l) => (8u16, deflate(m.data, l)),
            None => (0u16, m.data.to_vec()),
        };
        let crc = crc32fast::hash(m.data);
        let lho = (out.len() - prefix.len()) as u64; // offsets relative to archive start
        let flags: u16 = if m.descriptor { 8 } else { 0 };
        let (c32, u32_) = if zip64 {
            (0xffff_ffffu32, 0xffff_ffffu32)
        } else {
            (body.len() as u32, m.data.len() as u32)
        };
        let mut z64 = Vec::new();
        if zip64 {
            z64.extend_from_slice(&1u16.to_le_bytes());
            z64.extend_from_slice(&16u16.to_le_bytes());
            z64.extend_from_slice(&(m.data.len() as u64).to_le_bytes());
            z64.extend_from_slice(&(body.len() as u64).to_le_bytes());
        }
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        out.extend_from_slice(&(if zip64 { 45u16 } else { 20 }).to_le_bytes());
        out.extend_from_slice(&flags.to_le_bytes());
        out.extend_from_slice(&method.to_le_bytes());
        out.extend_from_slice(&[0, 0, 0x21, 0]);
        if m.descriptor {
            out.extend_from_slice(&[0u8; 12]);
        } else {
            out.extend_from_slice(&crc.to_le_bytes());
            out.extend_from_slice(&c32.to_le_bytes());
            out.extend_from_slice(&u32_.to_le_bytes());
        }
        out.extend_from_slice(&(m.name.len() as u16).to_le_bytes());
        out.extend_from_slice(&(z64.len() as u16).to_le_bytes());
        out.extend_from_slice(m.name.as_bytes());
        out.extend_from_slice(&z64);
        out.extend_from_slice(&body);
        if m.descriptor {
            out.extend_from_slice(&0x0807_4b50u32.to_le_bytes());
            out.extend_from_slice(&crc.to_le_bytes());
            if zip64 {
                out.extend_from_slice(&(body.len() as u64).to_le_bytes());
                out.extend_from_slice(&(m.data.len() as u64).to_le_bytes());
            } else {
                out.extend_from_slice(&(body.len() as u32).to_le_bytes());
                out.extend_from_slice(&(m.data.len() as u32).to_le_bytes());
            }
        }
        let mut cz64 = z64.clone();
        if zip64 {
            cz64[2..4].copy_from_slice(&24u16.to_le_bytes());
            cz64.extend_from_slice(&lho.to_le_bytes());
        }
        cd.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        cd.extend_from_slice(&[45, 3]);
        cd.extend_from_slice(&(if zip64 { 45u16 } else { 20 }).to_le_bytes());
        cd.extend_from_slice(&flags.to_le_bytes());
        cd.extend_from_slice(&method.to_le_bytes());
        cd.extend_from_slice(&[0, 0, 0x21, 0]);
        cd.extend_from_slice(&crc.to_le_bytes());
        cd.extend_from_slice(&c32.to_le_bytes());
        cd.extend_from_slice(&u32_.to_le_bytes());
        cd.extend_from_slice(&(m.name.len() as u16).to_le_bytes());
        cd.extend_from_slice(&(cz64.len() as u16).to_le_bytes());
        cd.extend_from_slice(&0u16.to_le_bytes());
        cd.extend_from_slice(&[0u8; 8]);
        cd.extend_from_slice(&(if zip64 { 0xffff_ffffu32 } else { lho as u32 }).to_le_bytes());
        cd.extend_from_slice(m.name.as_bytes());
        cd.extend_from_slice(&cz64);
    }
    let cd_off = (out.len() - prefix.len()) as u64;
    out.extend_from_slice(&cd);
    let n = members.len() as u64;
    if zip64 {
        let rec = (out.len() - prefix.len()) as u64;
        out.extend_from_slice(&0x0606_4b50u32.to_le_bytes());
        out.extend_from_slice(&44u64.to_le_bytes());
        out.extend_from_slice(&[45, 3, 45, 0]);
        out.extend_from_slice(&[0u8; 8]);
        out.extend_from_slice(&n.to_le_bytes());
        out.extend_from_slice(&n.to_le_bytes());
        out.extend_from_slice(&(cd.len() as u64).to_le_bytes());
        out.extend_from_slice(&cd_off.to_le_bytes());
        out.extend_from_slice(&0x0706_4b50u32.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&rec.to_le_bytes());
        out.extend_from_slice(&1u32.to_le_bytes());
    }
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0u8; 4]);
    let (n16, cds, cdo) = if zip64 {
        (0xffffu16, 0xffff_ffffu32, 0xffff_ffffu32)
    } else {
        (n as u16, cd.len() as u32, cd_off as u32)
    };
    out.extend_from_slice(&n16.to_le_bytes());
    out.extend_from_slice(&n16.to_le_bytes());
    out.extend_from_slice(&cds.to_le_bytes());
    out.extend_from_slice(&cdo.to_le_bytes());
    out.extend_from_slice(&(comment.len() as u16).to_le_bytes());
    out.extend_from_slice(comment);
    out
}

/// One step of the xorshift64 generator behind the test data.
pub fn xorshift(x: &mut u64) {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
}

/// Whether `needle` occurs in `haystack`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The test options ([`opts`]) seeing through `levels` levels of containers.
pub fn depth(levels: u8) -> ExpandOptions {
    ExpandOptions {
        max_depth: levels,
        ..opts()
    }
}

/// Deterministic text-like data with repeats (compressible, gives back-references).
pub fn texty(seed: u64, len: usize) -> Vec<u8> {
    let words: &[&[u8]] = &[
        b"alpha ",
        b"beta ",
        b"gamma ",
        b"delta\n",
        b"{\"key\": ",
        b"value",
        b"}, ",
        b"0123",
        b"tokio::runtime ",
        b"fn main() {}\n",
        b"    ",
        b"the quick brown fox ",
    ];
    let mut s = seed | 1;
    let mut v = Vec::with_capacity(len + 32);
    while v.len() < len {
        xorshift(&mut s);
        if s.is_multiple_of(11) {
            v.push((s >> 24) as u8);
        } else {
            v.extend_from_slice(words[(s >> 8) as usize % words.len()]);
        }
    }
    v.truncate(len);
    v
}

/// Minimal bit writer for crafting unusual deflate streams.
pub struct Bits {
    pub out: Vec<u8>,
    acc: u64,
    n: u32,
}

impl Bits {
    pub fn new() -> Self {
        Bits {
            out: Vec::new(),
            acc: 0,
            n: 0,
        }
    }
    pub fn put(&mut self, v: u32, n: u32) {
        self.acc |= u64::from(v) << self.n;
        self.n += n;
        while self.n >= 8 {
            self.out.push(self.acc as u8);
            self.acc >>= 8;
            self.n -= 8;
        }
    }
    /// Huffman codes are sent MSB first.
    pub fn put_rev(&mut self, code: u32, n: u32) {
        let mut r = 0;
        for i in 0..n {
            r |= ((code >> i) & 1) << (n - 1 - i);
        }
        self.put(r, n);
    }
    pub fn finish(mut self) -> Vec<u8> {
        if self.n > 0 {
            self.out.push(self.acc as u8);
        }
        self.out
    }
    /// fixed-Huffman literal/length symbol
    pub fn fixed_sym(&mut self, sym: u32) {
        match sym {
            0..=143 => self.put_rev(0x30 + sym, 8),
            144..=255 => self.put_rev(0x190 + sym - 144, 9),
            256..=279 => self.put_rev(sym - 256, 7),
            _ => self.put_rev(0xc0 + sym - 280, 8),
        }
    }
}

/// A "weird encoder": a fixed-Huffman deflate stream of `data` with literals and
/// back-references chosen pseudo-randomly (valid, but unlike any real encoder).
pub fn weird_deflate(data: &[u8], seed: u64) -> Vec<u8> {
    const LBASE: [u32; 29] = [
        3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115,
        131, 163, 195, 227, 258,
    ];
    const LEXT: [u32; 29] = [
        0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
    ];
    const DBASE: [u32; 30] = [
        1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537,
        2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
    ];
    const DEXT: [u32; 30] = [
        0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12,
        13, 13,
    ];
    let mut s = seed | 1;
    let mut rnd = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    let mut b = Bits::new();
    b.put(1, 1);
    b.put(1, 2);
    let mut i = 0usize;
    while i < data.len() {
        // look for any earlier match of length >= 3 within a random window
        let mut best = None;
        if i >= 1 && rnd() % 3 != 0 {
            let maxd = (i).min(1 + (rnd() % 4000) as usize);
            for d in 1..=maxd {
                let mut l = 0;
                while i + l < data.len() && l < 258 && data[i + l] == data[i + l - d] {
                    l += 1;
                }
                if l >= 3 {
                    best = Some((d, l));
                    if rnd() % 2 == 0 {
                        break;
                    }
                }
            }
        }
        match best {
            Some((d, l)) => {
                let l = 3 + (rnd() as usize % (l - 2)); // random length <= found
                let li = LBASE.iter().rposition(|&x| x as usize <= l).unwrap();
                b.fixed_sym(257 + li as u32);
                b.put(l as u32 - LBASE[li], LEXT[li]);
                let di = DBASE.iter().rposition(|&x| x as usize <= d).unwrap();
                b.put_rev(di as u32, 5);
                b.put(d as u32 - DBASE[di], DEXT[di]);
                i += l;
            }
            None => {
                b.fixed_sym(u32::from(data[i]));
                i += 1;
            }
        }
    }
    b.fixed_sym(256);
    b.finish()
}

/// Whether preflate-rs itself (whole-stream API) accepts a raw deflate stream.
pub fn preflate_accepts(raw: &[u8]) -> bool {
    preflate_rs::preflate_whole_deflate_stream(raw, &preflate_rs::PreflateConfig::default()).is_ok()
}

/// Raw (compressed) bytes of every deflated member of a zip, in central-directory order.
pub fn zip_raw_deflated(z: &[u8]) -> Vec<Vec<u8>> {
    use std::io::Read;
    let mut a = zip::ZipArchive::new(Cursor::new(z)).unwrap();
    let mut v = Vec::new();
    for i in 0..a.len() {
        let mut f = a.by_index_raw(i).unwrap();
        if f.compression() == zip::CompressionMethod::Deflated {
            let mut b = Vec::new();
            f.read_to_end(&mut b).unwrap();
            v.push(b);
        }
    }
    v
}

/// `NAME ARGS -c` over `data` (a compressor reading stdin), or `None` (after a loud note) when
/// the program is missing, which fails instead under `DG_REQUIRE_TOOLS` (CI).
pub fn program(name: &str, args: &[&str], data: &[u8]) -> Option<Vec<u8>> {
    let child = Command::new(name)
        .args(args)
        .arg("-c")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn();
    let Ok(mut child) = child else {
        assert!(
            std::env::var_os("DG_REQUIRE_TOOLS").is_none(),
            "DG_REQUIRE_TOOLS is set but `{name}` is missing"
        );
        eprintln!("!!!!!!!! SKIPPING: the {name} program is not installed !!!!!!!!");
        return None;
    };
    let mut stdin = child.stdin.take().unwrap();
    let input = data.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(out.status.success(), "{name} {args:?} failed");
    Some(out.stdout)
}

/// One member of an ar archive (`.deb`): header, data, padding to an even offset.
pub fn ar_member(name: &str, data: &[u8]) -> Vec<u8> {
    let mut h = format!(
        "{name:<16}{:<12}{:<6}{:<6}{:<8}{:<10}`\n",
        0,
        0,
        0,
        100644,
        data.len()
    )
    .into_bytes();
    h.extend_from_slice(data);
    if data.len() % 2 == 1 {
        h.push(b'\n');
    }
    h
}

/// `n` bytes of SQL `INSERT` lines with pseudo-random values (text on which preflate needs
/// corrections, so zlib's own streams of it take the zlib path).
pub fn sql_lines(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(n + 64);
    while out.len() < n {
        xorshift(&mut x);
        out.extend_from_slice(
            format!(
                "INSERT INTO t VALUES ({}, 'name-{}');\n",
                x % 100_000,
                x % 977
            )
            .as_bytes(),
        );
    }
    out.truncate(n);
    out
}

/// A wheel-like zip: many members, some of them gzip files (stored inside deflated members,
/// as a wheel's `.json.gz` data), one member per `changed` index different.
pub fn release(changed: &[usize], gz_name: &[u8]) -> Vec<u8> {
    let texts: Vec<Vec<u8>> = (0..12)
        .map(|i| texty(i, 40_000 + 997 * i as usize))
        .collect();
    let mut members: Vec<(String, Vec<u8>)> = Vec::new();
    for (i, t) in texts.iter().enumerate() {
        let mut t = t.clone();
        if changed.contains(&i) {
            t[100] ^= 0x20;
        }
        if i % 3 == 0 {
            let gz = gzip_with_header(&t, &deflate(&t, 9), Some(gz_name), None, None, false);
            members.push((format!("data/m{i}.json.gz"), gz));
        } else {
            members.push((format!("pkg/m{i}.py"), t));
        }
    }
    let refs: Vec<(&str, &[u8], Option<i64>)> = members
        .iter()
        .map(|(n, b)| (n.as_str(), &b[..], Some(6)))
        .collect();
    zip_crate(&refs, false, false)
}
