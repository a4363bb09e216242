//! Panic-safe wrapper around preflate-rs chunked analysis and recreation.

use std::io::Cursor;
use std::panic::{catch_unwind, AssertUnwindSafe};

use preflate_rs::{
    ExitCode, PreflateConfig, PreflateStreamProcessor, RecreateStreamProcessor,
    TokenPredictorParameters,
};

use super::error::{PreflateFault, SeeThroughError};

/// Turns a caught panic payload into a message.
fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_string()
    }
}

/// preflate error messages carry a multi-line backtrace of contexts; keep the first line.
fn first_line(m: &str) -> &str {
    m.lines().next().unwrap_or("").trim()
}

/// Why analysis of a chunk failed.
pub(super) struct AnalyzeError {
    pub(super) message: String,
    /// A single deflate block had more plaintext than the chunk limit.
    pub(super) plain_limit: bool,
}

impl AnalyzeError {
    fn other(message: String) -> Self {
        AnalyzeError {
            message,
            plain_limit: false,
        }
    }
}

/// One analysed chunk of a deflate stream.
pub(super) struct AnalyzedChunk {
    /// preflate's correction data for this chunk (first chunk also carries the parameters).
    pub(super) corrections: Vec<u8>,
    /// Number of compressed bytes this chunk reproduces.
    pub(super) comp_len: usize,
}

/// Chunked analysis of one deflate stream. preflate verifies every chunk itself
/// (`verify_compression: true` re-creates the chunk from plaintext + corrections
/// and compares it with the original bytes before returning it).
pub(super) struct Analyzer {
    proc: Option<PreflateStreamProcessor>,
    first: bool,
}

impl Analyzer {
    pub(super) fn new(chunk_plain: usize) -> Self {
        let config = PreflateConfig {
            plain_text_limit: chunk_plain,
            max_chain_length: MAX_CHAIN,
            verify_compression: true,
        };
        Analyzer {
            proc: Some(PreflateStreamProcessor::new(&config)),
            first: true,
        }
    }

    /// Analyses the next chunk; `rest` is the remaining compressed data of the stream.
    /// After an error (or a caught panic) the analyser is unusable.
    pub(super) fn next_chunk(&mut self, rest: &[u8]) -> Result<AnalyzedChunk, AnalyzeError> {
        let Some(proc) = self.proc.as_mut() else {
            return Err(AnalyzeError::other("analyser already failed".to_string()));
        };
        let r = catch_unwind(AssertUnwindSafe(|| proc.decompress(rest)));
        match r {
            Ok(Ok(c)) => {
                if c.compressed_size > rest.len() {
                    self.proc = None;
                    return Err(AnalyzeError::other(
                        "preflate reported more input than given".to_string(),
                    ));
                }
                if self.first {
                    self.first = false;
                    if let Err(e) = check_parameters(&c.corrections) {
                        self.proc = None;
                        return Err(AnalyzeError::other(e.to_string()));
                    }
                }
                Ok(AnalyzedChunk {
                    corrections: c.corrections,
                    comp_len: c.compressed_size,
                })
            }
            Ok(Err(e)) => {
                self.proc = None;
                Err(AnalyzeError {
                    message: format!("{:?}: {}", e.exit_code(), first_line(e.message())),
                    plain_limit: e.exit_code() == ExitCode::PlainTextLimit,
                })
            }
            Err(p) => {
                self.proc = None;
                Err(AnalyzeError::other(format!(
                    "panic: {}",
                    panic_message(p.as_ref())
                )))
            }
        }
    }

    /// Plaintext of the chunk last returned by `next_chunk`.
    pub(super) fn text(&self) -> &[u8] {
        match &self.proc {
            Some(p) => p.plain_text().text(),
            None => &[],
        }
    }

    pub(super) fn is_done(&self) -> bool {
        self.proc.as_ref().is_some_and(|p| p.is_done())
    }

    /// Drops the current chunk's plaintext, keeping the 32 KiB dictionary.
    pub(super) fn shrink(&mut self) {
        if let Some(p) = self.proc.as_mut() {
            p.shrink_to_dictionary();
        }
    }
}

/// Largest hash-chain depth `expand` lets preflate use (preflate's default limit),
/// and so the largest `max_chain` a recipe may carry.
pub(super) const MAX_CHAIN: u32 = 4096;

/// Mirror of preflate-rs 0.7's private `ReconstructionData` (bitcode is positional),
/// used to vet the compressor parameters in a first chunk before preflate runs with them.
#[derive(bitcode::Encode, bitcode::Decode)]
struct ReconstructionMirror {
    parameters: TokenPredictorParameters,
    corrections: Vec<u8>,
}

/// Rejects parameters that `expand` can never produce and that would make preflate's
/// re-creation loop without progress (e.g. `max_token_count == 0` gives endless empty
/// blocks) or search without bound.
fn check_parameters(first_chunk: &[u8]) -> Result<(), SeeThroughError> {
    let m: ReconstructionMirror =
        bitcode::decode(first_chunk).map_err(PreflateFault::BadParameters)?;
    // canonical encoding only (bitcode tolerates trailing bytes when built for fuzzing)
    if bitcode::encode(&m).len() != first_chunk.len() {
        return Err(PreflateFault::TrailingParameterBytes.into());
    }
    let p = m.parameters;
    let bounds = [
        ("max_token_count", p.max_token_count >= 1),
        ("window_bits", p.window_bits <= 15),
        ("max_chain", p.max_chain <= MAX_CHAIN),
        ("nice_length", p.nice_length <= 258),
        ("min_len", p.min_len <= 258),
        ("max_dist_3_matches", p.max_dist_3_matches <= 32768),
    ];
    match bounds.iter().find(|(_, ok)| !ok) {
        None => Ok(()),
        Some(&(field, _)) => Err(PreflateFault::ImplausibleParameters { field }.into()),
    }
}

/// Re-creates one deflate stream chunk by chunk.
pub(super) struct Recreator {
    proc: Option<RecreateStreamProcessor>,
    first: bool,
}

impl Recreator {
    pub(super) fn new() -> Self {
        Recreator {
            proc: Some(RecreateStreamProcessor::new()),
            first: true,
        }
    }

    /// Returns the compressed bytes of the next chunk.
    pub(super) fn chunk(
        &mut self,
        plain: &[u8],
        corrections: &[u8],
    ) -> Result<Vec<u8>, SeeThroughError> {
        let Some(proc) = self.proc.as_mut() else {
            return Err(PreflateFault::AlreadyFailed.into());
        };
        if self.first {
            check_parameters(corrections)?;
            self.first = false;
        }
        let r = catch_unwind(AssertUnwindSafe(|| {
            proc.recompress(&mut Cursor::new(plain), corrections)
        }));
        match r {
            Ok(Ok((bytes, _blocks))) => Ok(bytes),
            Ok(Err(e)) => {
                self.proc = None;
                Err(PreflateFault::Failed {
                    code: e.exit_code(),
                    message: first_line(e.message()).to_string(),
                }
                .into())
            }
            Err(p) => {
                self.proc = None;
                Err(PreflateFault::Panicked {
                    message: panic_message(p.as_ref()),
                }
                .into())
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    /// First-chunk correction data (parameters + corrections) for a small stream.
    fn first_chunk() -> Vec<u8> {
        let text = b"hello hello hello hello hello world world world".repeat(20);
        let raw = {
            // one final stored block
            let mut v = vec![0x01];
            v.extend_from_slice(&(text.len() as u16).to_le_bytes());
            v.extend_from_slice(&(!(text.len() as u16)).to_le_bytes());
            v.extend_from_slice(&text);
            v
        };
        let mut a = Analyzer::new(1 << 20);
        let c = a.next_chunk(&raw).map_err(|e| e.message).unwrap();
        assert!(a.is_done());
        c.corrections
    }

    #[test]
    fn parameter_vetting() {
        let good = first_chunk();
        check_parameters(&good).unwrap();
        let m: ReconstructionMirror = bitcode::decode(&good).unwrap();
        // max_token_count == 0 made preflate loop forever on a fuzzed recipe
        let mut bad = ReconstructionMirror {
            parameters: m.parameters,
            corrections: m.corrections.clone(),
        };
        bad.parameters.max_token_count = 0;
        assert!(check_parameters(&bitcode::encode(&bad)).is_err());
        let mut bad = ReconstructionMirror {
            parameters: m.parameters,
            corrections: m.corrections.clone(),
        };
        bad.parameters.window_bits = 40;
        assert!(check_parameters(&bitcode::encode(&bad)).is_err());
        // trailing bytes (accepted by bitcode when built with cfg(fuzzing))
        let mut t = good.clone();
        t.push(0);
        assert!(check_parameters(&t).is_err());
        assert!(check_parameters(&[]).is_err());
    }
}
