//! What an upload produced: a delta or a whole object, and why a file was stored whole.

use std::fmt;

use dg_ports::Location;

use crate::service::Format;

/// How a file was stored.
#[derive(Clone, Debug, PartialEq)]
pub enum Stored {
    /// As a delta against the deltaspace's reference.
    Delta {
        /// The engine that wrote it (`identical` for a file equal to the reference).
        engine: &'static str,
        /// True when this upload created the reference.
        created_reference: bool,
        /// The deltaspace's format.
        format: Format,
    },
    /// Whole, for the reason given.
    Direct {
        /// Why no delta was stored.
        reason: DirectReason,
    },
}

/// Why a file was stored whole instead of as a delta.
///
/// `Display` gives the sentence for people; [`DirectReason::code`] a stable snake_case name
/// for machines (JSON output).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum DirectReason {
    /// The upload asked for no delta (`--no-delta`).
    NoDeltaRequested,
    /// The delta policy does not cover the file: neither its extension nor its first bytes
    /// make it delta-eligible.
    NotEligible,
    /// The file is empty: there is nothing a delta could save.
    Empty,
    /// The delta would have been larger than the max ratio allows.
    OverRatio {
        /// The max delta/file ratio that applied.
        max_ratio: f64,
        /// The most bytes the delta could take under it (what encoding gave up beyond).
        limit: u64,
    },
    /// No diff engine could take the file (its size, or the reference's, is beyond what each
    /// engine supports).
    EngineRefused {
        /// What the engines said.
        detail: String,
    },
}

impl DirectReason {
    /// A stable machine name: `no_delta`, `not_eligible`, `empty`, `over_ratio`,
    /// `engine_refused`.
    pub fn code(&self) -> &'static str {
        match self {
            DirectReason::NoDeltaRequested => "no_delta",
            DirectReason::NotEligible => "not_eligible",
            DirectReason::Empty => "empty",
            DirectReason::OverRatio { .. } => "over_ratio",
            DirectReason::EngineRefused { .. } => "engine_refused",
        }
    }
}

impl fmt::Display for DirectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DirectReason::NoDeltaRequested => f.write_str("--no-delta"),
            DirectReason::NotEligible => f.write_str("not a delta-eligible file type"),
            DirectReason::Empty => f.write_str("empty file"),
            DirectReason::OverRatio { max_ratio, .. } => write!(
                f,
                "its delta is larger than {:.0}% of the file (max ratio {max_ratio})",
                max_ratio * 100.0
            ),
            DirectReason::EngineRefused { detail } => f.write_str(detail),
        }
    }
}

/// The result of an upload.
#[derive(Clone, Debug)]
pub struct PutOutcome {
    /// The object written for this file (`…/name.delta` or `…/name`).
    pub location: Location,
    /// Delta or direct.
    pub stored: Stored,
    /// Size of the file.
    pub original_size: u64,
    /// Size of the object written for it (not counting a reference it created).
    pub stored_size: u64,
    /// Size of the reference this upload created, if it created one.
    pub reference_size: Option<u64>,
    /// SHA-256 of the file.
    pub sha256: String,
    /// Things the user may want to know (engine fallbacks, lost reference races, see-through).
    pub notes: Vec<String>,
}

impl PutOutcome {
    /// Fraction of the file's size saved by this object (negative when it grew).
    pub fn savings(&self) -> f64 {
        if self.original_size == 0 {
            return 0.0;
        }
        1.0 - self.stored_size as f64 / self.original_size as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_keep_their_sentences_and_have_codes() {
        let over = DirectReason::OverRatio {
            max_ratio: 0.5,
            limit: 500,
        };
        assert_eq!(
            over.to_string(),
            "its delta is larger than 50% of the file (max ratio 0.5)"
        );
        assert_eq!(over.code(), "over_ratio");
        assert_eq!(DirectReason::NoDeltaRequested.to_string(), "--no-delta");
        assert_eq!(
            DirectReason::NotEligible.to_string(),
            "not a delta-eligible file type"
        );
        assert_eq!(DirectReason::Empty.to_string(), "empty file");
        let refused = DirectReason::EngineRefused {
            detail: "zstd: too large".into(),
        };
        assert_eq!(refused.to_string(), "zstd: too large");
        let codes: Vec<_> = [
            DirectReason::NoDeltaRequested,
            DirectReason::NotEligible,
            DirectReason::Empty,
            over,
            refused,
        ]
        .iter()
        .map(DirectReason::code)
        .collect();
        assert_eq!(
            codes,
            [
                "no_delta",
                "not_eligible",
                "empty",
                "over_ratio",
                "engine_refused"
            ]
        );
    }
}
