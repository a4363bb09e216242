//! Ports for whole-file transforms: a general-purpose compressor, and an expander that "sees
//! through" compressed containers (gzip, zip) so similar files stay similar byte for byte.

use std::fmt::Debug;
use std::io::{Read, Write};

use crate::Result;

/// How hard to work for a smaller result, as every compressor has it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Level {
    /// Fastest: a quick compressor pass, one engine.
    Fast,
    /// Fast enough for every pipeline, output close to the smallest.
    #[default]
    Default,
    /// Smallest output, whatever it takes (slower compressors, a second engine tried).
    Best,
}

impl Level {
    /// The name users type (`fast`, `default`, `best`).
    pub fn name(self) -> &'static str {
        match self {
            Level::Fast => "fast",
            Level::Default => "default",
            Level::Best => "best",
        }
    }
}

impl std::fmt::Display for Level {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Level {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "fast" => Ok(Level::Fast),
            "default" => Ok(Level::Default),
            "best" => Ok(Level::Best),
            other => Err(format!("unknown level `{other}` (fast, default or best)")),
        }
    }
}

/// A general-purpose compressor, used for references stored in dg's native format.
///
/// # Contract
/// - `decompress(compress(x)) == x` for every `x`, streaming both ways.
/// - `decompress` never panics, never writes more than `max_output`, and fails on corrupt or
///   truncated input (the format carries its own checksum).
pub trait Compressor: Send + Sync + Debug + 'static {
    /// Short stable name (`zstd`).
    fn name(&self) -> &'static str;
    /// Compresses all of `input` into `out`.
    fn compress(&self, input: &mut dyn Read, out: &mut dyn Write) -> Result<()>;
    /// Compresses all of `input` into `out` at `level`; `decompress` reads every level's
    /// output. The default ignores the level.
    fn compress_at(&self, input: &mut dyn Read, out: &mut dyn Write, level: Level) -> Result<()> {
        let _ = level;
        self.compress(input, out)
    }
    /// Decompresses all of `input` into `out`; returns the bytes written.
    fn decompress(&self, input: &mut dyn Read, out: &mut dyn Write, max_output: u64)
        -> Result<u64>;
}

/// What an expansion did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExpandSummary {
    /// Compressed streams found.
    pub streams: usize,
    /// Streams replaced by their plaintext (reproducible exactly).
    pub reproduced: usize,
    /// Streams kept as raw bytes (could not be reproduced, or not worth it).
    pub kept_raw: usize,
    /// Human-readable remarks (formats found, why streams were kept raw).
    pub notes: Vec<String>,
    /// Of the reproduced streams, those byte-identical to a known one (see
    /// [`Expander::expand_with`]), whose recipe was reused instead of worked out again.
    pub reused: usize,
    /// The reused streams, by the offset of their plaintext in the plain form, with where
    /// their compressed bytes are, for [`Expander::verify`].
    pub reused_spans: Vec<(u64, ReusedBytes)>,
    /// The input's own index of streams (opaque), when asked for: kept with a reference, it
    /// lets the expansion of similar files reuse its work.
    pub index: Option<Vec<u8>>,
}

/// Where the compressed bytes of a reused stream are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReusedBytes {
    /// In the input itself.
    InInput {
        /// Offset in the input.
        offset: u64,
        /// Length.
        len: u64,
    },
    /// Inside another compressed stream of the input: a copy.
    Held(Vec<u8>),
}

/// A writer that compares what it is given with `expected` as it comes, keeping nothing.
#[derive(Debug)]
pub struct CompareWriter<'a> {
    expected: &'a [u8],
    pos: usize,
    same: bool,
}

impl<'a> CompareWriter<'a> {
    /// A comparison against `expected`.
    pub fn new(expected: &'a [u8]) -> Self {
        CompareWriter {
            expected,
            pos: 0,
            same: true,
        }
    }

    /// True when exactly `expected` was written, no more and no less.
    pub fn matches(&self) -> bool {
        self.same && self.pos == self.expected.len()
    }
}

impl Write for CompareWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let end = self.pos.saturating_add(buf.len());
        self.same &= self.expected.get(self.pos..end) == Some(buf);
        self.pos = end;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A file rebuilt before, for [`Expander::rebuild_beside`]: its bytes, and the plain form and
/// recipe its expansion made.
#[derive(Clone, Copy, Debug)]
pub struct Similar<'a> {
    /// The file's bytes.
    pub original: &'a [u8],
    /// Its plain form.
    pub plain: &'a [u8],
    /// Its recipe.
    pub recipe: &'a [u8],
}

/// Undoes compression inside a file (deflate streams of gzip and zip members) while recording
/// how to redo it bit for bit.
///
/// # Contract
/// - `expand` returns `Some` only when `rebuild(plain, recipe)` reproduces `input` exactly; it
///   checks this itself. Otherwise it returns `None` and whatever it wrote is ignored.
/// - `expand` is deterministic: the same input gives the same plain and recipe.
/// - `rebuild` never panics, never writes more than `max_output`, and fails on inconsistent input.
pub trait Expander: Send + Sync + Debug + 'static {
    /// Short stable name of the recipe format.
    fn name(&self) -> &'static str;
    /// Writes `input`'s plain form and its recipe; `None` when there is nothing to see through.
    fn expand(
        &self,
        input: &[u8],
        plain: &mut dyn Write,
        recipe: &mut dyn Write,
    ) -> Result<Option<ExpandSummary>>;
    /// Recreates the original bytes from a plain form and its recipe; returns the bytes written.
    fn rebuild(
        &self,
        plain: &[u8],
        recipe: &[u8],
        out: &mut dyn Write,
        max_output: u64,
    ) -> Result<u64>;

    /// [`Expander::rebuild`] beside a similar file rebuilt before (a reference kept whole in a
    /// cache): an expander may copy from `similar` the compressed streams the two files share
    /// instead of compressing them again. The output is the same as `rebuild`'s, whatever
    /// `similar` holds: an expander checks that `similar.original` is what its plain form
    /// and recipe rebuild (at least its length and a checksum) and ignores it otherwise.
    /// The default ignores it.
    fn rebuild_beside(
        &self,
        plain: &[u8],
        recipe: &[u8],
        out: &mut dyn Write,
        max_output: u64,
        similar: Similar<'_>,
    ) -> Result<u64> {
        let _ = similar;
        self.rebuild(plain, recipe, out, max_output)
    }

    /// [`Expander::expand`], reusing what is known of a similar file: `known` is that file's
    /// [`ExpandSummary::index`] (unreadable or foreign indexes are ignored), and `learn` asks
    /// for this input's own index. The contract of `expand` holds unchanged: the plain form
    /// and recipe rebuild `input` exactly. An expander without indexes expands as usual.
    fn expand_with(
        &self,
        input: &[u8],
        plain: &mut dyn Write,
        recipe: &mut dyn Write,
        known: Option<&[u8]>,
        learn: bool,
    ) -> Result<Option<ExpandSummary>> {
        let _ = (known, learn);
        self.expand(input, plain, recipe)
    }

    /// True when `plain` and `recipe` rebuild exactly `original`. `reused` are the
    /// [`ExpandSummary::reused_spans`] of the expansion that made them: an expander may take
    /// those spans from `original` instead of recreating them, their recipes having been
    /// proven on the file they came from. The default rebuilds everything.
    fn verify(
        &self,
        plain: &[u8],
        recipe: &[u8],
        original: &[u8],
        reused: &[(u64, ReusedBytes)],
    ) -> Result<bool> {
        let _ = reused;
        let mut cmp = CompareWriter::new(original);
        self.rebuild(plain, recipe, &mut cmp, original.len() as u64)?;
        Ok(cmp.matches())
    }
}
