//! Typed errors of this crate. Scanning itself cannot fail; only reading a labelled dataset
//! for the quality report can.

use thiserror::Error;

/// Why a labelled dataset could not be scored.
#[derive(Debug, Error)]
pub enum QualityError {
    /// A label's code-point offsets do not fall inside its sample's text.
    #[error("sample {sample}: label {start}..{end} is outside the text ({chars} characters)")]
    LabelOutOfRange {
        sample: usize,
        start: usize,
        end: usize,
        chars: usize,
    },
    /// A line of the allow-list file could not be read.
    #[error("allow-list line {line}: {reason}")]
    BadAllowListLine { line: usize, reason: &'static str },
}
