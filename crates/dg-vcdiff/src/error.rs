//! Error type shared by the VCDIFF encoder and decoder.

/// Everything that can go wrong while encoding or decoding VCDIFF.
///
/// Decode errors carry the zero-based window number where one applies, so a
/// caller can report where a hostile or damaged delta went wrong.
#[derive(Debug, thiserror::Error)]
pub enum VcdiffError {
    /// The input does not start with the VCDIFF magic bytes `D6 C3 C4`.
    #[error("not a VCDIFF delta (bad magic bytes)")]
    BadMagic,
    /// The fourth header byte (format version) is not 0.
    #[error("unsupported VCDIFF version {version}")]
    UnsupportedVersion {
        /// The version byte found.
        version: u8,
    },
    /// The header indicator byte has unknown bits set or is otherwise malformed.
    #[error("invalid VCDIFF file header: {reason}")]
    InvalidHeader {
        /// What was wrong.
        reason: &'static str,
    },
    /// The delta uses a secondary compressor this codec does not implement
    /// (supported xdelta3 ids: 1 = DJW, 2 = LZMA; 16 = FGK is not).
    #[error("unsupported secondary compressor id {id}")]
    UnsupportedSecondary {
        /// The compressor id byte from the file header.
        id: u8,
    },
    /// The delta carries an application-defined code table (`VCD_CODETABLE`).
    #[error("application-defined code tables are not supported")]
    UnsupportedCodeTable,
    /// A window copies from earlier target data (`VCD_TARGET`), which this
    /// decoder (like xdelta3) does not implement.
    #[error("window {window}: VCD_TARGET copy windows are not supported")]
    UnsupportedTargetWindow {
        /// Window number.
        window: u64,
    },
    /// The delta ended in the middle of a structure.
    #[error("delta truncated while reading {what}")]
    Truncated {
        /// Which structure was being read.
        what: &'static str,
    },
    /// An integer in the delta does not fit in 64 bits.
    #[error("integer overflow while reading {what}")]
    IntegerOverflow {
        /// Which field was being read.
        what: &'static str,
    },
    /// A window header or section layout is malformed.
    #[error("window {window}: invalid window: {reason}")]
    InvalidWindow {
        /// Window number.
        window: u64,
        /// What was wrong.
        reason: &'static str,
    },
    /// An instruction is malformed (bad size, runs past the window, ...).
    #[error("window {window}: invalid instruction at target offset {offset}: {reason}")]
    InvalidInstruction {
        /// Window number.
        window: u64,
        /// Offset inside the target window where the instruction starts.
        offset: u64,
        /// What was wrong.
        reason: &'static str,
    },
    /// A COPY address points outside the data available to it.
    #[error("window {window}: copy address {addr} out of range (position {here})")]
    AddressOutOfRange {
        /// Window number.
        window: u64,
        /// The decoded address.
        addr: u64,
        /// The current position (copy window length + target offset).
        here: u64,
    },
    /// The window's source segment lies (partly) outside the source.
    #[error("window {window}: source segment {offset}+{len} exceeds source length {source_len}")]
    SourceOutOfRange {
        /// Window number.
        window: u64,
        /// Segment offset in the source.
        offset: u64,
        /// Segment length.
        len: u64,
        /// Length of the source given to the decoder.
        source_len: u64,
    },
    /// The Adler-32 of a decoded window differs from the one in the delta:
    /// usually the wrong source was supplied.
    #[error("window {window}: checksum mismatch (expected {expected:#010x}, got {actual:#010x}); the source likely differs from the one used to create this delta")]
    ChecksumMismatch {
        /// Window number.
        window: u64,
        /// Checksum stored in the delta.
        expected: u32,
        /// Checksum of the decoded data.
        actual: u32,
    },
    /// Decoding would produce more than `DecodeLimits::max_output` bytes.
    #[error("decoded output would exceed the limit of {limit} bytes")]
    OutputLimit {
        /// The configured limit.
        limit: u64,
    },
    /// A window (or one of its sections) is larger than the configured bound.
    #[error("window {window}: size {size} exceeds the limit of {limit} bytes")]
    WindowTooLarge {
        /// Window number.
        window: u64,
        /// The announced size.
        size: u64,
        /// The limit it exceeds.
        limit: u64,
    },
    /// A secondary-compressed section is malformed (wrong sizes, trailing bytes).
    #[error("window {window}: invalid secondary-compressed {section} section: {reason}")]
    Secondary {
        /// Window number.
        window: u64,
        /// Section kind: "data", "instructions" or "addresses".
        section: &'static str,
        /// What was wrong.
        reason: &'static str,
    },
    /// liblzma reported an error.
    #[error("lzma: {0}")]
    Lzma(String),
    /// Reading the delta/target or writing the output failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}
