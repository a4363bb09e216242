//! Streaming VCDIFF (RFC 3284) codec compatible with `xdelta3`: public API, options and limits.
//!
//! Includes xdelta3's extensions: Adler-32 window checksums, LZMA secondary compression (both directions) and DJW (decode only).
//!
//! * [`decode`] reads any delta xdelta3 writes with `-S none`, the default
//!   `-S lzma`, or `-S djw` (FGK, `-S fgk`, is refused with
//!   [`VcdiffError::UnsupportedSecondary`]).
//! * [`encode`] writes deltas that `xdelta3 -d` decodes, optionally with LZMA
//!   secondary compression laid out the way xdelta3 does it.
//!
//! The source (reference) is random access and may exceed 4 GiB; the target
//! and the delta are streamed window by window.
//!
//! Encoder outline: a sampled 4-way hash index of 8-byte source blocks
//! (`index`), per-window greedy matching with lazy look-ahead that combines
//! index hits, continuation of the previous source match, and hash chains
//! over the window itself (`matcher`, `candidate`), then instruction
//! emission with the default code table's combined ADD+COPY / COPY+ADD
//! opcodes and the NEAR/SAME address caches (`emit`). For xdelta3 3.0.x
//! compatibility windows are at most 16 MiB and each window's source segment
//! at most 2 GiB (chosen around where the target continues in the source);
//! segment offsets are 64-bit, so any source size works.
//!
//! Decoder outline: `input` reads the stream, `decoder` parses headers and
//! bounds every size against [`DecodeLimits`], `secondary` undoes LZMA and `djw` undoes DJW,
//! `execute` runs the instructions with checked arithmetic, and the window's
//! Adler-32 is verified before the window is written out.
//!
//! # Example
//!
//! ```
//! use dg_vcdiff::{decode, encode, is_vcdiff, DecodeLimits, EncodeOptions, Secondary};
//!
//! let source = b"The quick brown fox jumps over the lazy dog. ".repeat(100);
//! let mut target = source.clone();
//! target[2000..2005].copy_from_slice(b"HELLO");
//!
//! let opts = EncodeOptions { secondary: Secondary::Lzma, ..EncodeOptions::default() };
//! let mut delta = Vec::new();
//! let stats = encode(&source, &mut &target[..], &mut delta, &opts)?;
//! assert!(is_vcdiff(&delta));
//! assert_eq!(stats.bytes_in, target.len() as u64);
//! assert!(delta.len() < 100, "{} bytes", delta.len());
//!
//! let mut back = Vec::new();
//! let n = decode(&source, &mut &delta[..], &mut back, &DecodeLimits::default())?;
//! assert_eq!(n, target.len() as u64);
//! assert_eq!(back, target);
//! # Ok::<(), dg_vcdiff::VcdiffError>(())
//! ```

mod addrcache;
mod adler32;
mod bytes;
mod candidate;
mod codetable;
mod decoder;
mod djw;
mod emit;
mod encoder;
mod error;
mod execute;
mod index;
mod input;
mod matcher;
mod secondary;
mod varint;

#[cfg(test)]
mod tests;

pub use self::error::VcdiffError;

/// The four bytes every VCDIFF file starts with (`D6 C3 C4` + version 0).
pub const MAGIC: [u8; 4] = [0xD6, 0xC3, 0xC4, 0x00];

/// Largest target window xdelta3 3.0.x accepts when decoding (`XD3_HARDMAXWINSIZE`).
pub const MAX_ENCODE_WINDOW: usize = 1 << 24;

/// True when `prefix` starts with the VCDIFF magic and version 0.
pub fn is_vcdiff(prefix: &[u8]) -> bool {
    prefix.get(..4) == Some(&MAGIC[..])
}

/// Secondary compression applied to the window sections when encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Secondary {
    /// Sections are stored as is (like `xdelta3 -S none`).
    #[default]
    None,
    /// xdelta3-compatible LZMA (`xdelta3 -S lzma`, its default).
    Lzma,
}

/// Encoder settings.
#[derive(Debug, Clone)]
pub struct EncodeOptions {
    /// Target bytes per window. Clamped to `1..=MAX_ENCODE_WINDOW` (16 MiB) so
    /// that xdelta3 3.0.x can decode the result.
    pub window_size: usize,
    /// Store an Adler-32 of every target window (`VCD_ADLER32`).
    pub checksum: bool,
    /// Secondary compression of the sections.
    pub secondary: Secondary,
    /// Match-search effort, 1 (fastest) ..= 9 (smallest deltas).
    pub level: u32,
    /// LZMA preset (0..=9) used when `secondary` is [`Secondary::Lzma`].
    pub lzma_preset: u32,
}

impl Default for EncodeOptions {
    fn default() -> Self {
        EncodeOptions {
            window_size: 8 << 20,
            checksum: true,
            secondary: Secondary::None,
            level: 6,
            lzma_preset: 6,
        }
    }
}

/// Hard bounds the decoder enforces on (possibly hostile) input.
///
/// Per window the decoder holds the target window (at most `max_window`
/// bytes, grown only as output is produced) and the three sections (each at
/// most `4 * max_window + 64 KiB`, grown only as delta bytes arrive). Each of
/// the up to three LZMA decoders is limited to 160 MiB (xdelta3 `-9` needs
/// about 65 MiB).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Most bytes the whole delta may decode to.
    pub max_output: u64,
    /// Largest target window accepted; also bounds section sizes (4x this).
    pub max_window: u64,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        // xdelta3 3.2 never writes windows above 64 MiB (3.0.x: 16 MiB).
        DecodeLimits {
            max_output: 1 << 40,
            max_window: 64 << 20,
        }
    }
}

/// What [`encode`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EncodeStats {
    /// Target bytes read.
    pub bytes_in: u64,
    /// Delta bytes written.
    pub bytes_out: u64,
    /// Windows written.
    pub windows: u64,
    /// Target bytes encoded as copies from the source.
    pub source_copied: u64,
    /// Target bytes encoded as copies from earlier in the same window.
    pub target_copied: u64,
}

/// Encodes `target` as a delta against `source`, writing the VCDIFF to `out`.
///
/// `source` is the reference with random access (the caller may memory-map
/// files larger than 4 GiB); `target` is read sequentially one window at a
/// time, and `out` is written sequentially.
pub fn encode(
    source: &[u8],
    target: &mut dyn std::io::Read,
    out: &mut dyn std::io::Write,
    opts: &EncodeOptions,
) -> Result<EncodeStats, VcdiffError> {
    encoder::encode(source, target, out, opts)
}

/// Decodes `delta` against `source`, streaming the target to `out`.
///
/// Never buffers more than one target window (plus the secondary decoder
/// state). Returns the number of bytes written.
pub fn decode(
    source: &[u8],
    delta: &mut dyn std::io::Read,
    out: &mut dyn std::io::Write,
    limits: &DecodeLimits,
) -> Result<u64, VcdiffError> {
    decoder::decode(source, delta, out, limits)
}
