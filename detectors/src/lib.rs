//! Sensitive-data detectors for qrie's object scanner: US SSNs, payment cards, AWS access key
//! IDs and secret keys, email addresses and US phone numbers, in plain Rust with no AWS
//! dependency.
//!
//! The rules follow what Amazon Macie, Presidio, TruffleHog and gitleaks validate (issuer
//! prefixes and Luhn, SSA structure, NANP, key-ID prefixes, keyword proximity and entropy for
//! secrets, known example values), so that false positives stay near zero. Results carry byte
//! offsets and a masked value only: the raw match is never stored, logged or printed.
//! Contexts around a match ([`masked_context`]) hide more than the matches: every digit, and
//! every credential-like token, keyword value, broken key ID and address near it.
//!
//! Speed comes from a prefilter that finds the few candidate
//! positions in one SIMD pass, followed by full validation only around them.
//!
//! ```
//! use qrie_detectors::{Detectors, DetectorKind, masked_context};
//!
//! let text = b"ssn 536-22-1987, mail jane@example.com";
//! let detectors = Detectors::new();
//! let found = detectors.scan(text);
//! assert_eq!(found[0].kind, DetectorKind::UsSsn);
//! assert_eq!(found[0].masked, "***-**-1987");
//! let context = masked_context(text, &found[0], &found, 30);
//! assert_eq!(context, "ssn ***-**-1987, mail j***@e***.com");
//! ```

mod binary;
mod context;
mod engine;
mod error;
mod kind;
mod mask;
pub mod naive;
mod prefilter;
pub mod quality;
mod redact;
mod stream;
mod validate;

pub use binary::{looks_binary, MAX_NON_TEXT_RATIO, SNIFF_BYTES};
pub use context::{masked_context, MAX_CONTEXT_RADIUS};
pub use engine::MAX_DETECTIONS_PER_KIND;
pub use error::QualityError;
pub use kind::{Detection, DetectorKind};
pub use mask::{mask_value, MASKED_SECRET_KEY};
pub use redact::HIDDEN_VALUE;
pub use stream::{max_retained_bytes, ChunkScanner, ContextualDetection};

use engine::{advance, EnabledKinds, ScanState};

/// The result of scanning one object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanReport {
    /// Detections sorted by offset, non-overlapping, at most
    /// [`MAX_DETECTIONS_PER_KIND`] per kind.
    pub detections: Vec<Detection>,
    /// Kinds that had more matches than the cap; their extra matches were dropped. Once a
    /// kind is known to be capped (its first match past the cap), the rest of the object is
    /// scanned as if that kind were switched off (see [`Detectors::with_kinds`]): nothing
    /// more of it could be reported, so it is no longer validated, and the scan ends once
    /// every enabled kind is capped. The detections of the kinds not capped are all reported.
    pub capped: Vec<DetectorKind>,
}

/// The set of detectors to run. Cheap to build and to copy; build once and reuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Detectors {
    enabled: EnabledKinds,
}

impl Default for Detectors {
    fn default() -> Self {
        Detectors::new()
    }
}

impl Detectors {
    /// Every detector switched on.
    pub fn new() -> Self {
        Detectors {
            enabled: EnabledKinds::all(),
        }
    }

    /// Only the given detectors switched on.
    pub fn with_kinds(kinds: &[DetectorKind]) -> Self {
        Detectors {
            enabled: EnabledKinds::only(kinds),
        }
    }

    /// The detectors switched on, in [`DetectorKind::ALL`] order.
    pub fn enabled_kinds(&self) -> Vec<DetectorKind> {
        self.enabled.kinds()
    }

    /// Scans a whole object held in memory; detections sorted by offset, non-overlapping.
    pub fn scan(&self, bytes: &[u8]) -> Vec<Detection> {
        self.scan_report(bytes).detections
    }

    /// Like [`Detectors::scan`], also telling which kinds hit the per-object cap.
    pub fn scan_report(&self, bytes: &[u8]) -> ScanReport {
        let mut state = ScanState::default();
        // Room for a detection every 512 bytes without regrowing, whatever the object's size.
        let mut found = Vec::with_capacity((bytes.len() / 512).min(1_024));
        advance(self.enabled, &mut state, bytes, 0, true, false, &mut found);
        ScanReport {
            detections: found.into_iter().map(|f| f.detection).collect(),
            capped: state.capped_kinds(),
        }
    }

    /// A scanner for one object fed in chunks (see [`ChunkScanner`]).
    pub fn chunk_scanner(&self) -> ChunkScanner {
        ChunkScanner::new(self.enabled, None)
    }

    /// A chunk scanner that also builds a masked context of about `radius` bytes either side
    /// of each detection (at most [`MAX_CONTEXT_RADIUS`]).
    pub fn chunk_scanner_with_context(&self, radius: usize) -> ChunkScanner {
        ChunkScanner::new(self.enabled, Some(radius))
    }
}
