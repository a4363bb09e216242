//! See-through codec: stores deflate-compressed containers (gzip, zip) as their plaintext plus a small recipe that recreates the exact original bytes.
//!
//! `expand` turns an input file into two streams:
//!
//! * **plain**: the input with every reproducible deflate stream replaced by its
//!   plaintext (recursively expanded when that plaintext is itself a gzip/zip and
//!   `max_depth` allows). Everything else — zip local headers, stored members, data
//!   descriptors, central directory, comments, unreproducible streams, trailing
//!   bytes — is copied verbatim, in file order, so similar inputs give similar
//!   plain streams. gzip member headers and trailers go to the recipe, so the plain
//!   stream of a `.tar.gz` is exactly the `.tar`.
//! * **recipe**: a small versioned binary program that `rebuild` runs against the
//!   plain stream to write the original bytes.
//!
//! A deflate stream that zlib wrote (found by compressing its plaintext again at each level,
//! see `zlib_exact`) is recorded as its zlib level alone. Other deflate streams are analysed
//! with `preflate-rs` in chunks of about
//! `ExpandOptions::chunk_plain` plaintext bytes; preflate verifies every chunk by
//! re-creating it from plaintext + corrections and comparing with the original
//! bytes before we accept it. A stream preflate refuses, or whose corrections are
//! too large, is kept raw. If a later chunk fails (preflate-rs 0.7.6 sometimes
//! cannot *continue* a stream at a chunk boundary), the stream is analysed again
//! with 8x larger chunks (up to 64 MiB); if that fails too, it is reproduced up to
//! the end of the last good chunk and the rest is kept raw ("partial").
//!
//! xz streams that liblzma wrote with a preset (`.tar.xz`, `.txz`, and the members of Debian's
//! `.deb` ar archives) are recorded as that preset alone (`xz_exact`), and bzip2 streams that
//! libbzip2 wrote (`.tar.bz2`, `.bz2`, each stream of `pbzip2`'s output) as their block size
//! (`bzip2_exact`).
//!
//! Archives are walked for members compressed in those formats: ar (`.deb`), tar (`.gem`, or
//! the tar inside a `.tar.gz` of `.jar`s, whose deflate stream is then recorded as
//! `OP_DEFLATE_NESTED`, or inside a `.tar.xz` or `.tar.bz2`: `OP_NESTED`) and new-ASCII cpio
//! (inside the compressed payload of an `.rpm`, found after its lead and headers). Their
//! headers are copied as they are; the recipe does not depend on the archive format, and
//! rebuilding knows nothing of it.
//!
//! # Example
//!
//! ```
//! use std::io::Write;
//!
//! use dg_seethrough::{expand, rebuild, ExpandOptions};
//! use flate2::{write::GzEncoder, Compression};
//!
//! let text = b"a plain form, and a recipe that compresses it again\n".repeat(200);
//! let mut gz = GzEncoder::new(Vec::new(), Compression::default());
//! gz.write_all(&text)?;
//! let file = gz.finish()?;
//!
//! let (mut plain, mut recipe) = (Vec::new(), Vec::new());
//! let stats = expand(&file, &mut plain, &mut recipe, &ExpandOptions::default())?
//!     .expect("a gzip file is seen through");
//! assert_eq!(stats.reproduced, 1);
//! assert_eq!(plain, text); // the gzip header and trailer are in the recipe
//! assert!(recipe.len() < 100, "{} bytes", recipe.len());
//!
//! let mut back = Vec::new();
//! rebuild(&plain, &recipe, &mut back, file.len() as u64)?;
//! assert_eq!(back, file);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Recipe format, version 5 (version 4 is version 5 without `OP_NESTED`, version 3 version 4
//! without `OP_BZIP2`, version 2 version 3 without `OP_XZ`, version 1 version 2 without
//! `CHUNK_ZLIB`; all are read)
//!
//! All integers are little-endian; `varint` is unsigned LEB128 (canonical, ≤ 10 bytes).
//!
//! ```text
//! recipe  := header body trailer
//! header  := "dgST" (4 bytes) | version u8 (1–5) | flags u8 = 0x00
//! body    := op* OP_END
//! trailer := plain_len u64 | total_len u64 | crc32 u32 | recipe_crc u32   (24 bytes)
//!            plain_len:  exact length of the plain stream
//!            total_len:  length of the original file
//!            crc32:      CRC-32 (IEEE) of the original file (checked after rebuilding)
//!            recipe_crc: CRC-32 of all recipe bytes before it (checked first, so
//!                        corrupted recipes never reach preflate)
//!
//! op := 0x00                              OP_END: end of this op list
//!     | 0x01 len:varint                   OP_COPY: next `len` plain bytes -> output
//!     | 0x02 len:varint bytes[len]        OP_LIT: literal recipe bytes -> output
//!                                         (gzip member headers)
//!     | 0x03 chunks                       OP_DEFLATE: a deflate stream whose
//!                                         plaintext is the next bytes of plain
//!     | 0x04 n:varint op* 0x00 chunks     OP_DEFLATE_NESTED: a deflate stream whose
//!                                         n-byte plaintext is produced by the nested
//!                                         op list (a gzip/zip inside a zip member, a
//!                                         tar with compressed members),
//!                                         buffered in memory, then deflated by `chunks`
//!     | 0x05                              OP_GZIP_TRAILER: CRC-32 and ISIZE (u32 LE each)
//!                                         of the plaintext of the deflate op just before
//!     | 0x06 preset:varint check:u8 block_size:varint plain_len:varint comp_len:varint
//!                                         OP_XZ (version 3): liblzma at `preset` (level
//!                                         0–9, bit 31 = extreme) with integrity check
//!                                         `check` (xz header id) compresses the next
//!                                         plain_len plain bytes into exactly comp_len
//!                                         bytes: single-threaded when block_size is 0,
//!                                         else the multi-threaded encoder's layout with
//!                                         blocks of block_size plaintext bytes
//!     | 0x07 level:u8 plain_len:varint comp_len:varint
//!                                         OP_BZIP2 (version 4): libbzip2 with blocks of
//!                                         `level` × 100 kB (1–9, work factor 30)
//!                                         compresses the next plain_len plain bytes into
//!                                         exactly comp_len bytes
//!     | 0x08 n:varint op* 0x00 (OP_XZ | OP_BZIP2 record)
//!                                         OP_NESTED (version 5): an xz or bzip2 stream
//!                                         whose n-byte plaintext is produced by the
//!                                         nested op list (a tar with compressed members
//!                                         inside a `.tar.xz`), buffered in memory
//!
//! chunks := (0x01 plain_len:varint comp_len:varint corr_len:varint corr[corr_len])* 0x00
//!         | 0x02 level:u8 plain_len:varint comp_len:varint 0x00
//!           CHUNK_ZLIB: zlib (raw deflate, window 15, memLevel 8, default strategy) at
//!           `level` (1–9) compresses the next plain_len plaintext bytes into exactly
//!           comp_len bytes, the whole stream.
//!           each chunk: preflate re-creates comp_len compressed bytes from the next
//!           plain_len plaintext bytes and corr (preflate-rs 0.7 correction data; the
//!           first chunk's corr also holds the estimated compressor parameters).
//!           Chunks of one stream share one preflate re-creation state, in order.
//! ```
//!
//! Plain layout for a zip:
//!
//! ```text
//! input: [LH1][deflate 1][DD1][LH2][stored 2][LH3][deflate 3]...[CD][EOCD]
//! plain: [LH1][plain 1  ][DD1][LH2][stored 2][LH3][plain 3  ]...[CD][EOCD]
//! recipe: COPY(LH1) DEFLATE(chunks 1) COPY(DD1+LH2+stored 2+LH3) DEFLATE(chunks 3) COPY(CD+EOCD) END
//! ```
//!
//! # Memory
//!
//! `expand` holds one preflate chunk (about `chunk_plain` plaintext bytes plus
//! preflate's token arrays and its verification copy) and the chunk records of the
//! current stream (corrections are typically 0.001–0.5 % of the plaintext for zlib
//! output), plus, for a compressed stream whose plaintext is itself a container (a
//! gzip, zip, tar or cpio archive), that plaintext (≤ `max_nested`, per nesting level;
//! what expanding it writes goes straight to the plain stream). Measured on a 174 MB tar (36.7 MB
//! `.tar.gz`, gzip -6): ~45 MB heap with 8 MiB chunks, ~260 MB with 64 MiB chunks
//! (the retry size). `rebuild` holds one chunk (~25 MB heap in the same test) plus
//! nested plaintexts. Neither depends on the total file size.
//!
//! # Trust
//!
//! `rebuild` checks the recipe checksum before anything else, so accidental
//! corruption never reaches preflate. A *crafted* recipe with a valid checksum can
//! still make preflate-rs 0.7.6 loop or allocate without bound inside one
//! `recompress` call (its block loop and tree decoding take sizes from the
//! correction stream); only recipes written by `expand` should be rebuilt, or
//! rebuild untrusted ones in a resource-limited worker.
//!
//! Bounds enforced by `rebuild` (and respected by `expand`): chunk plaintext
//! ≤ 128 MiB; chunk `comp_len` ≤ 2·plain_len + 4096; `corr_len` ≤ comp_len + 256;
//! nested plaintext ≤ 512 MiB and nesting ≤ 4 levels; output ≤ `total_len` ≤
//! `max_output`. preflate is called inside `catch_unwind` (it has internal
//! `unwrap`s and asserts), so a panic in it becomes [`SeeThroughError::Preflate`]
//! ([`PreflateFault::Panicked`]);
//! this relies on `panic = "unwind"`.

mod ar;
mod bzip2_exact;
mod cpio;
mod engine;
mod error;
mod expand;
mod gzip;
mod index;
mod parallel;
mod raw_streams;
mod rebuild;
mod recompress;
mod rpm;
mod tar;
mod wire;
mod xz_exact;
mod zip;
mod zip_jobs;
mod zlib_exact;

use std::io::Write;

pub use self::error::{
    MismatchFault, PreflateFault, RecipeFault, SeeThroughError, SelfCheckFault, SimilarFault,
    ZlibFault,
};
pub use self::index::{Reused, StreamIndex};
pub use self::raw_streams::RawStreams;

/// Knobs for [`expand`].
#[derive(Debug, Clone)]
pub struct ExpandOptions {
    /// Container levels to see through: 1 = only the top-level gzip/zip, 2 = also
    /// gzip/zip found inside its members (e.g. `*.json.gz` inside a wheel, the `.gz` members
    /// of a `.gem`), 3 = one more (the `.jar`s in the tar of a `.tar.gz`), 4 = one more (the
    /// `.jar`s in the `data.tar.xz` of a `.deb`). 0 = nothing.
    pub max_depth: u8,
    /// Bound on the plaintext emitted for deflate streams (total over all streams);
    /// once reached, remaining streams are kept raw. The plain stream is at most
    /// `max_plain + input.len()` bytes.
    pub max_plain: u64,
    /// zip members whose compressed data is shorter than this are kept raw
    /// (their plaintext would not pay for its recipe entry).
    pub min_stream_len: u64,
    /// A chunk whose corrections exceed `max_correction_ratio * compressed_len + 256`
    /// bytes is not reproduced (the encoder is not one preflate models well). Clamped to 0..=1.
    pub max_correction_ratio: f32,
    /// Target plaintext per preflate chunk (memory per stream is a small multiple of this).
    /// Clamped to 64 KiB..=64 MiB.
    pub chunk_plain: u64,
    /// A compressed stream whose plaintext is a gzip, zip, tar or cpio archive is buffered (up
    /// to this many plaintext bytes, at most 512 MiB) to be expanded recursively; rebuilding
    /// buffers it too.
    pub max_nested: u64,
    /// After expanding, rebuild from the produced plain + recipe and compare with
    /// the input (keeps a copy of both streams in memory). Default: on in debug builds.
    pub self_check: bool,
    /// Analyse a zip's members on the process's free cores (the result is the same either
    /// way). Default: on.
    pub parallel: bool,
}

impl Default for ExpandOptions {
    fn default() -> Self {
        ExpandOptions {
            max_depth: 4,
            max_plain: 16 << 30,
            min_stream_len: 0,
            max_correction_ratio: 0.5,
            chunk_plain: 8 << 20,
            max_nested: 64 << 20,
            self_check: cfg!(debug_assertions),
            parallel: true,
        }
    }
}

/// What [`expand`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExpandStats {
    /// Deflate streams found (including nested ones).
    pub streams: usize,
    /// Streams reproduced completely.
    pub reproduced: usize,
    /// Streams reproduced for a prefix only (the rest kept raw).
    pub partial: usize,
    /// Streams kept entirely raw.
    pub kept_raw: usize,
    /// Of the reproduced streams, those zlib itself recreates (no corrections needed).
    pub zlib: usize,
    /// Of the reproduced streams, xz streams (liblzma recreates them from their preset).
    pub xz: usize,
    /// Of the reproduced streams, bzip2 streams (libbzip2 recreates them from their block size).
    pub bzip2: usize,
    /// Bytes written to the plain stream.
    pub plain_len: u64,
    /// Bytes written to the recipe.
    pub recipe_len: u64,
    /// Total preflate correction bytes inside the recipe.
    pub corrections_len: u64,
    /// Why streams were kept raw, etc. (bounded).
    pub notes: Vec<String>,
    /// Of the reproduced streams, those byte-identical to one of the known streams, whose
    /// record was reused instead of analysing them.
    pub reused: usize,
    /// The reused streams by the offset of their plaintext in the plain stream, with where
    /// their compressed bytes are, for [`rebuild_trusting`].
    pub reused_spans: Vec<(u64, Reused)>,
    /// This expansion's streams, when [`expand_with`] was asked to learn them.
    pub index: Option<StreamIndex>,
}

/// Writes to `inner`, hashing what it writes and optionally keeping an in-memory
/// copy (for the self-check).
struct Tee<'a> {
    inner: &'a mut dyn Write,
    copy: Option<Vec<u8>>,
    crc: crc32fast::Hasher,
}

impl Write for Tee<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        if let Some(c) = self.copy.as_mut() {
            c.extend_from_slice(&buf[..n]);
        }
        self.crc.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Recognises gzip (single- or multi-member), zip-family (zip/jar/whl/apk/nupkg…,
/// zip64, prepended data) and nested combinations (a zip member — deflated or
/// stored — that is itself gzip or zip) up to `opts.max_depth`.
///
/// Writes the plain stream (original bytes with every reproducible deflate stream
/// replaced by its plaintext) to `plain` and the recipe to `recipe`.
///
/// Returns `Ok(None)` (and the writers' contents must be ignored) when the input is
/// not such a container or nothing in it could be reproduced. Malformed containers
/// are not errors: unreadable parts are kept raw.
pub fn expand(
    input: &[u8],
    plain: &mut dyn Write,
    recipe: &mut dyn Write,
    opts: &ExpandOptions,
) -> Result<Option<ExpandStats>, SeeThroughError> {
    expand_with(input, plain, recipe, opts, None, false)
}

/// [`expand`], reusing the record of every deflate stream byte-identical to one in `known`
/// (the index of a similar file) instead of analysing it, and with `learn` returning this
/// input's own index in [`ExpandStats::index`].
pub fn expand_with(
    input: &[u8],
    plain: &mut dyn Write,
    recipe: &mut dyn Write,
    opts: &ExpandOptions,
    known: Option<&StreamIndex>,
    learn: bool,
) -> Result<Option<ExpandStats>, SeeThroughError> {
    if input.is_empty() || opts.max_depth == 0 {
        return Ok(None);
    }
    let mut plain = Tee {
        inner: plain,
        copy: opts.self_check.then(Vec::new),
        crc: crc32fast::Hasher::new(),
    };
    let mut recipe = Tee {
        inner: recipe,
        copy: opts.self_check.then(Vec::new),
        crc: crc32fast::Hasher::new(),
    };
    let mut header = Vec::with_capacity(wire::HEADER_LEN);
    header.extend_from_slice(&wire::MAGIC);
    header.push(wire::VERSION);
    header.push(0);

    let mut ex = expand::Expander::top(opts, input, known, learn);
    let (plain_len, recipe_len) = {
        let mut sink = expand::Sink::new(&mut plain, &mut recipe);
        sink.op(&header)?;
        if !ex.container(input, &mut sink, opts.max_depth.min(wire::MAX_NEST))? {
            tracing::debug!("not seen through: not a gzip, zip, xz, bzip2 or ar container");
            return Ok(None);
        }
        sink.finish()?;
        (sink.plain_len, sink.recipe_len)
    };
    if ex.stats.reproduced + ex.stats.partial == 0 {
        ex.finish_notes();
        tracing::debug!(
            streams = ex.stats.streams,
            why = ?ex.stats.notes,
            "not seen through: none of the compressed streams could be recreated bit for bit"
        );
        return Ok(None);
    }
    let mut trailer = [0u8; wire::TRAILER_LEN];
    trailer[..8].copy_from_slice(&plain_len.to_le_bytes());
    trailer[8..16].copy_from_slice(&(input.len() as u64).to_le_bytes());
    trailer[16..20].copy_from_slice(&crc32fast::hash(input).to_le_bytes());
    recipe.write_all(&trailer[..20])?;
    let recipe_crc = recipe.crc.clone().finalize();
    trailer[20..].copy_from_slice(&recipe_crc.to_le_bytes());
    recipe.write_all(&trailer[20..])?;
    plain.flush()?;
    recipe.flush()?;
    ex.finish_notes();
    let mut stats = ex.stats;
    stats.reused_spans = ex.reused;
    stats.reused_spans.sort_by_key(|r| r.0);
    stats.index = ex.learned;
    stats.plain_len = plain_len;
    stats.recipe_len = recipe_len + wire::TRAILER_LEN as u64;

    if let (Some(p), Some(r)) = (plain.copy.as_ref(), recipe.copy.as_ref()) {
        let mut back = Vec::with_capacity(input.len());
        rebuild(p, r, &mut back, input.len() as u64)
            .map_err(|e| SelfCheckFault::RebuildFailed(Box::new(e)))?;
        if back != input {
            return Err(SelfCheckFault::Differs.into());
        }
    }
    Ok(Some(stats))
}

/// Recreates the exact original bytes from `plain` + `recipe`, streaming to `out`;
/// returns the number of bytes written. Errors (never panics) on any inconsistency,
/// and never writes more than `max_output` bytes (nor more than the recipe declares).
/// On error, `out` may have received a prefix of the output.
pub fn rebuild(
    plain: &[u8],
    recipe: &[u8],
    out: &mut dyn Write,
    max_output: u64,
) -> Result<u64, SeeThroughError> {
    rebuild::rebuild(plain, recipe, out, max_output, None)
}

/// [`rebuild`] as the check of an expansion that reused known streams: the deflate streams
/// whose plaintext starts at the `reused` plain offsets (sorted, from
/// [`ExpandStats::reused_spans`]) are taken as they are instead of being recompressed (their
/// records are checked for shape and lengths); everything else is rebuilt.
pub fn rebuild_trusting(
    plain: &[u8],
    recipe: &[u8],
    out: &mut dyn Write,
    original: &[u8],
    reused: &[(u64, Reused)],
) -> Result<u64, SeeThroughError> {
    let trust = rebuild::Trust {
        original,
        reused,
        raw: None,
    };
    rebuild::rebuild(plain, recipe, out, original.len() as u64, Some(&trust))
}

/// [`rebuild`] beside a similar file rebuilt before (`similar`, indexed from its bytes, plain
/// form and recipe): every stream, at the top level or one level inside a deflate stream,
/// whose recipe and plaintext are those of one of its streams is copied from it instead of
/// being compressed again (for a new release of an archive, most of its members). The output
/// is the same as [`rebuild`]'s.
pub fn rebuild_beside(
    plain: &[u8],
    recipe: &[u8],
    out: &mut dyn Write,
    max_output: u64,
    similar: &RawStreams<'_>,
) -> Result<u64, SeeThroughError> {
    let trust = rebuild::Trust {
        original: &[],
        reused: &[],
        raw: Some(similar),
    };
    rebuild::rebuild(plain, recipe, out, max_output, Some(&trust))
}
