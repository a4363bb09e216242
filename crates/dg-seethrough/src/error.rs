//! Error types shared by `expand` and `rebuild`: what can go wrong, and in what way, as enums.
//!
//! The fault enums ([`RecipeFault`], [`MismatchFault`], [`PreflateFault`], [`SelfCheckFault`])
//! are the detail of their [`SeeThroughError`] variant, which prints them: a caller matches on
//! them, and the variant's message stays whole. Errors of the compression libraries (zlib,
//! liblzma, libbzip2) are the source of their variant.

use std::num::TryFromIntError;

/// Everything that can go wrong in the see-through codec.
///
/// `expand` only returns errors for I/O failures on the writers, for a failed
/// self-check, or for internal invariant violations; malformed *inputs* are not
/// errors (they give `Ok(None)` or are kept raw). `rebuild` returns an error for
/// any inconsistency between recipe, plain and the declared output.
#[derive(Debug, thiserror::Error)]
pub enum SeeThroughError {
    /// The recipe (or the plain stream) ended before a field it must contain.
    #[error("truncated {what}")]
    Truncated {
        /// Which stream or field was cut short.
        what: &'static str,
    },
    /// The recipe is structurally invalid or inconsistent with the plain stream.
    #[error("bad recipe at byte {offset}: {fault}")]
    BadRecipe {
        /// Byte offset in the recipe where the problem was detected.
        offset: u64,
        /// What is wrong.
        fault: RecipeFault,
    },
    /// The recipe was written by a newer (or unknown) version of this codec.
    #[error("unsupported recipe version {found} (this build reads version {supported})")]
    UnsupportedVersion {
        /// Version byte found in the recipe.
        found: u8,
        /// Version this build understands.
        supported: u8,
    },
    /// preflate refused or failed (including a caught panic inside preflate).
    #[error("preflate: {0}")]
    Preflate(PreflateFault),
    /// Rebuilding would write more than the caller's `max_output` bytes.
    #[error("output limit of {limit} bytes exceeded")]
    OutputLimit {
        /// The limit that would have been exceeded.
        limit: u64,
    },
    /// A recreated stream or the final output did not match what the recipe declares, or a
    /// stream's record asks its library for settings it does not have.
    #[error("rebuilt data mismatch: {0}")]
    Mismatch(MismatchFault),
    /// zlib failed on a stream it had accepted (or a size did not fit in memory).
    #[error("rebuilt data mismatch: zlib: {0}")]
    Zlib(#[source] ZlibFault),
    /// liblzma failed (`what` names the coder).
    #[error("rebuilt data mismatch: {what}: {source}")]
    Xz {
        /// The coder that failed: `xz`, `xz decoder` or `xz encoder`.
        what: &'static str,
        /// liblzma's error.
        #[source]
        source: liblzma::stream::Error,
    },
    /// libbzip2 failed (`what` names the coder).
    #[error("rebuilt data mismatch: {what}: {source}")]
    Bzip2 {
        /// The coder that failed: `bzip2 decoder` or `bzip2 encoder`.
        what: &'static str,
        /// libbzip2's error.
        #[source]
        source: bzip2::Error,
    },
    /// `expand`'s optional self-check (full rebuild and compare) failed. This is a bug.
    #[error("self-check failed: {0}")]
    SelfCheck(SelfCheckFault),
    /// Reading or writing failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl SeeThroughError {
    pub(crate) fn bad(offset: u64, fault: RecipeFault) -> Self {
        SeeThroughError::BadRecipe { offset, fault }
    }
}

impl From<MismatchFault> for SeeThroughError {
    fn from(fault: MismatchFault) -> Self {
        SeeThroughError::Mismatch(fault)
    }
}

impl From<SelfCheckFault> for SeeThroughError {
    fn from(fault: SelfCheckFault) -> Self {
        SeeThroughError::SelfCheck(fault)
    }
}

impl From<PreflateFault> for SeeThroughError {
    fn from(fault: PreflateFault) -> Self {
        SeeThroughError::Preflate(fault)
    }
}

/// What is wrong with a recipe ([`SeeThroughError::BadRecipe`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecipeFault {
    /// The recipe does not start with `dgST`.
    #[error("not a see-through recipe (bad magic)")]
    BadMagic,
    /// The header's flags byte is not 0.
    #[error("unknown header flags")]
    UnknownFlags {
        /// The flags byte.
        flags: u8,
    },
    /// The recipe's own CRC-32 does not match its bytes.
    #[error("recipe checksum mismatch (corrupted recipe)")]
    Checksum,
    /// Bytes follow the top-level op list's `OP_END`.
    #[error("bytes after the op list")]
    BytesAfterOps,
    /// An op byte this version does not know.
    #[error("unknown op 0x{op:02x}")]
    UnknownOp {
        /// The op byte.
        op: u8,
    },
    /// A chunk tag this version does not know.
    #[error("unknown chunk tag 0x{tag:02x}")]
    UnknownChunkTag {
        /// The tag byte.
        tag: u8,
    },
    /// An op writes past the output length the recipe declares.
    #[error("output longer than declared")]
    OutputLonger,
    /// A nested op list writes past the plaintext length it declares.
    #[error("nested output longer than declared")]
    NestedOutputLonger,
    /// An `OP_COPY` of no bytes.
    #[error("empty copy")]
    EmptyCopy,
    /// An `OP_COPY` past the declared output.
    #[error("copy longer than the declared output")]
    CopyTooLong,
    /// An `OP_NESTED` list not followed by an xz or bzip2 record.
    #[error("a nested op list must be followed by an xz or bzip2 stream")]
    NestedWithoutStream,
    /// A nested op list leaves some of its plaintext unused.
    #[error("nested plaintext not fully used")]
    NestedPlainUnused,
    /// An `OP_GZIP_TRAILER` with no deflate stream before it.
    #[error("gzip trailer without a deflate stream")]
    TrailerWithoutStream,
    /// Nested op lists deeper than the recipe format allows.
    #[error("nesting too deep")]
    NestingTooDeep,
    /// A nested plaintext longer than the recipe format allows.
    #[error("nested plaintext too large")]
    NestedPlainTooLarge,
    /// A nested op list writes less than the plaintext length it declares.
    #[error("nested plaintext shorter than declared")]
    NestedPlainShort,
    /// A preflate chunk with more plaintext than the recipe format allows.
    #[error("chunk plaintext too large")]
    ChunkPlainTooLarge,
    /// A chunk's compressed length is out of bounds for its plaintext.
    #[error("chunk compressed length out of bounds")]
    ChunkCompressedOutOfBounds,
    /// A chunk's corrections are longer than its compressed bytes allow.
    #[error("chunk corrections too large")]
    ChunkCorrectionsTooLarge,
    /// A chunk writes past the declared output.
    #[error("chunk longer than the declared output")]
    ChunkTooLong,
    /// A deflate op with no chunk.
    #[error("deflate op without chunks")]
    NoChunks,
    /// A `CHUNK_ZLIB` level outside 1–9.
    #[error("zlib level out of range")]
    ZlibLevel {
        /// The level byte.
        level: u8,
    },
    /// A `CHUNK_ZLIB` record followed by more chunks.
    #[error("a zlib stream must be its stream's only chunk")]
    ZlibNotAlone,
    /// An `OP_XZ` preset that does not fit in 32 bits.
    #[error("xz preset out of range")]
    XzPreset,
    /// An `OP_BZIP2` block size outside 1–9.
    #[error("bzip2 block size out of range")]
    Bzip2Level {
        /// The block-size byte.
        level: u8,
    },
    /// An xz or bzip2 stream's compressed length out of bounds for its plaintext or past the
    /// declared output.
    #[error("{what} stream compressed length out of bounds")]
    StreamCompressedOutOfBounds {
        /// The stream's format: `xz`, `bzip2` or `zlib`.
        what: &'static str,
    },
    /// An op whose bytes do not end where its lengths say.
    #[error("op longer than its lengths say")]
    OpLonger,
    /// An op too long to address in memory.
    #[error("op too long")]
    OpTooLong,
    /// A varint of more than 64 bits.
    #[error("varint overflows u64")]
    VarintOverflow,
    /// A varint with needless trailing zero groups.
    #[error("non-canonical varint")]
    VarintNotCanonical,
    /// A varint of more than 10 bytes.
    #[error("varint too long")]
    VarintTooLong,
}

/// How rebuilt data differs from what the recipe declares ([`SeeThroughError::Mismatch`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MismatchFault {
    /// The plain stream is not of the length the recipe declares.
    #[error("plain stream is {found} bytes, recipe expects {expected}")]
    PlainLength {
        /// Length of the plain stream given.
        found: u64,
        /// Length the recipe declares.
        expected: u64,
    },
    /// The ops left plain bytes unused.
    #[error("{left} plain bytes left unused")]
    PlainUnused {
        /// Plain bytes not taken by any op.
        left: u64,
    },
    /// The output is not of the length the recipe declares.
    #[error("rebuilt {written} bytes, recipe declares {declared}")]
    OutputLength {
        /// Bytes rebuilt.
        written: u64,
        /// Bytes the recipe declares.
        declared: u64,
    },
    /// The output's CRC-32 is not the one the recipe declares.
    #[error("CRC-32 of rebuilt data is {got:08x}, recipe declares {declared:08x}")]
    OutputCrc {
        /// CRC-32 of the rebuilt bytes.
        got: u32,
        /// CRC-32 the recipe declares.
        declared: u32,
    },
    /// A reused stream's record declares another compressed length than the original's.
    #[error("reused stream at recipe byte {at} declares {declared} compressed bytes, the original has {found}")]
    ReusedLength {
        /// Recipe offset of the stream's op.
        at: u64,
        /// Compressed length the record declares.
        declared: u64,
        /// Compressed length in the original.
        found: u64,
    },
    /// A reused stream's compressed bytes do not inflate to its plaintext.
    #[error(
        "reused stream at recipe byte {at}: its compressed bytes do not inflate to its plaintext"
    )]
    ReusedPlaintext {
        /// Recipe offset of the stream's op.
        at: u64,
    },
    /// preflate recreated a chunk of another length than the recipe declares.
    #[error("deflate chunk at recipe byte {at} recreated {made} bytes, expected {expected}")]
    ChunkLength {
        /// Recipe offset of the chunk.
        at: u64,
        /// Bytes recreated.
        made: u64,
        /// Bytes the recipe declares.
        expected: u64,
    },
    /// An xz or bzip2 stream recreated more bytes than its record declares.
    #[error("{what} stream at recipe byte {at} recreates more than its {expected} bytes")]
    StreamLonger {
        /// The stream's format: `xz` or `bzip2`.
        what: &'static str,
        /// Recipe offset of the stream's op.
        at: u64,
        /// Bytes the record declares.
        expected: u64,
    },
    /// An xz or bzip2 stream recreated another number of bytes than its record declares.
    #[error("{what} stream at recipe byte {at} recreated {made} bytes, expected {expected}")]
    StreamLength {
        /// The stream's format: `xz` or `bzip2`.
        what: &'static str,
        /// Recipe offset of the stream's op.
        at: u64,
        /// Bytes recreated.
        made: u64,
        /// Bytes the record declares.
        expected: u64,
    },
    /// An xz record's integrity check id is not one liblzma writes.
    #[error("xz check id {id}")]
    XzCheck {
        /// The check id.
        id: u8,
    },
    /// An xz record's preset is not a level 0–9 with optional extreme flag.
    #[error("xz preset {preset:#x}")]
    XzPreset {
        /// The preset.
        preset: u32,
    },
    /// A bzip2 record's block size is not 1–9.
    #[error("bzip2 block size {level}")]
    Bzip2Level {
        /// The block size (in 100 kB).
        level: u8,
    },
    /// An xz or bzip2 encoder took no input and wrote nothing.
    #[error("the encoder made no progress")]
    NoProgress,
    /// The similar file a rebuild copies streams from is not what its recipe rebuilds.
    #[error("the similar file: {0}")]
    Similar(SimilarFault),
}

/// Why the similar file of [`crate::RawStreams::new`] cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SimilarFault {
    /// Its plain form is not of the length its recipe declares.
    #[error("its plain form is not its recipe's")]
    PlainForm,
    /// Its bytes are not of the length or CRC-32 its recipe declares.
    #[error("not what its recipe rebuilds (length or CRC-32)")]
    NotRebuilt,
    /// Its recipe's ops do not take all of its plain form.
    #[error("its recipe does not cover its plain form")]
    PlainNotCovered,
    /// Its ops write more bytes than it has.
    #[error("its ops write more than it holds")]
    OpsPastEnd,
    /// Its ops write fewer bytes than it has.
    #[error("its ops do not cover it")]
    OpsShort,
    /// A nested stream inflates to more than its declared plaintext.
    #[error("a stream inflates past its declared length")]
    InflatesPast,
    /// A nested stream inflates to less than its declared plaintext.
    #[error("a stream inflates short of its declared length")]
    InflatesShort,
}

impl From<SimilarFault> for SeeThroughError {
    fn from(fault: SimilarFault) -> Self {
        SeeThroughError::Mismatch(MismatchFault::Similar(fault))
    }
}

/// What preflate did wrong ([`SeeThroughError::Preflate`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PreflateFault {
    /// The first chunk's parameter block does not decode.
    #[error("bad parameter block: {0}")]
    BadParameters(bitcode::Error),
    /// The first chunk's parameter block has bytes after its encoding.
    #[error("parameter block has trailing bytes")]
    TrailingParameterBytes,
    /// The first chunk's compressor parameters are not ones `expand` writes.
    #[error("implausible compressor parameters ({field} out of range)")]
    ImplausibleParameters {
        /// The first parameter out of its range.
        field: &'static str,
    },
    /// The re-creator of this stream failed on an earlier chunk.
    #[error("recreator already failed")]
    AlreadyFailed,
    /// preflate returned an error.
    #[error("{code:?}: {message}")]
    Failed {
        /// preflate's exit code.
        code: preflate_rs::ExitCode,
        /// The first line of preflate's message (the rest is its trace of contexts).
        message: String,
    },
    /// preflate panicked (caught).
    #[error("panic: {message}")]
    Panicked {
        /// The panic's message.
        message: String,
    },
}

/// How `expand`'s self-check failed ([`SeeThroughError::SelfCheck`]). Each is a bug.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SelfCheckFault {
    /// Rebuilding from the new plain form and recipe failed.
    #[error("rebuild failed: {0}")]
    RebuildFailed(Box<SeeThroughError>),
    /// Rebuilding gave other bytes than the input.
    #[error("rebuilt bytes differ from the input")]
    Differs,
    /// A zlib stream accepted before does not inflate now.
    #[error("a zlib stream no longer inflates")]
    ZlibNoLongerInflates,
    /// A zlib stream is longer than the input it was found in.
    #[error("zlib stream longer than its input")]
    ZlibPastInput,
    /// An xz or bzip2 stream that decoded before does not now.
    #[error("{what} stream that decoded before no longer does")]
    NoLongerDecodes {
        /// The stream's format: `xz` or `bzip2`.
        what: &'static str,
    },
    /// An xz or bzip2 stream gave another plaintext length than when it was probed.
    #[error("{what} stream at {at}: {written} plaintext bytes, {expected} expected")]
    StreamPlaintext {
        /// The stream's format: `xz` or `bzip2`.
        what: &'static str,
        /// The stream's offset in its container.
        at: u64,
        /// Plaintext bytes written.
        written: u64,
        /// Plaintext bytes the probe found.
        expected: u64,
    },
    /// A deflate stream's records declare another plaintext length than was written.
    #[error("stream at {at}: recorded {recorded} plaintext bytes but wrote {written}")]
    DeflatePlaintext {
        /// The stream's offset in its container.
        at: u64,
        /// Plaintext bytes the chunk records declare.
        recorded: u64,
        /// Plaintext bytes written.
        written: u64,
    },
}

/// zlib's failures ([`SeeThroughError::Zlib`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ZlibFault {
    /// The compressor returned an error.
    #[error(transparent)]
    Compress(#[from] flate2::CompressError),
    /// A stream position did not fit in memory.
    #[error(transparent)]
    Size(#[from] TryFromIntError),
    /// The compressor took no input and wrote nothing.
    #[error("the compressor made no progress")]
    NoProgress,
}
