//! Error type shared by `expand` and `rebuild`.

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
    #[error("bad recipe at byte {offset}: {reason}")]
    BadRecipe {
        /// Byte offset in the recipe where the problem was detected.
        offset: u64,
        /// What is wrong.
        reason: String,
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
    Preflate(String),
    /// Rebuilding would write more than the caller's `max_output` bytes.
    #[error("output limit of {limit} bytes exceeded")]
    OutputLimit {
        /// The limit that would have been exceeded.
        limit: u64,
    },
    /// A recreated deflate chunk or the final output did not match what the recipe declares.
    #[error("rebuilt data mismatch: {0}")]
    Mismatch(String),
    /// `expand`'s optional self-check (full rebuild and compare) failed. This is a bug.
    #[error("self-check failed: {0}")]
    SelfCheck(String),
    /// Reading or writing failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl SeeThroughError {
    pub(super) fn bad(offset: u64, reason: impl Into<String>) -> Self {
        SeeThroughError::BadRecipe {
            offset,
            reason: reason.into(),
        }
    }
}
