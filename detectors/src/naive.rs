//! The naive baseline the benchmark compares against: one regular expression per detector,
//! each run over the whole text separately, with the same validators applied to every regex
//! match. It exists to measure what the prefilter buys; the object scanner uses
//! [`crate::Detectors`].

use regex::bytes::Regex;

use crate::kind::{Detection, DetectorKind};
use crate::mask::mask_value;
use crate::validate::{aws_key, card, email, phone, ssn, Span, Window, LOOKAHEAD, LOOKBEHIND};

/// Per-detector regular expressions, ASCII mode.
const PATTERNS: [(DetectorKind, &str); 6] = [
    (
        DetectorKind::UsSsn,
        r"(?-u)\b[0-9]{3}[-. ][0-9]{2}[-. ][0-9]{4}\b|\b[0-9]{9}\b",
    ),
    (
        DetectorKind::CreditCard,
        r"(?-u)\b[0-9]{4}[ -]?[0-9]{4,6}[ -]?[0-9]{4,5}(?:[ -]?[0-9]{1,4})?(?:[ -]?[0-9]{1,3})?\b",
    ),
    (
        DetectorKind::AwsAccessKeyId,
        r"(?-u)\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}\b",
    ),
    (DetectorKind::AwsSecretAccessKey, r"(?i-u)secret"),
    (
        DetectorKind::Email,
        r"(?-u)[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9.-]+\.[A-Za-z]{2,24}",
    ),
    (
        DetectorKind::UsPhone,
        r"(?-u)\(?\b[0-9]{3}\)?[-. ]?[0-9]{3}[-. ][0-9]{4}\b|\b[0-9]{10}\b",
    ),
];

/// Every detector's pattern in one alternation, each in its own group so that its flags stay
/// its own: the single regex a grep-like tool would run to find the same shapes (the bench
/// times ripgrep with it).
pub fn combined_pattern() -> String {
    PATTERNS
        .iter()
        .map(|(_, pattern)| format!("(?:{pattern})"))
        .collect::<Vec<_>>()
        .join("|")
}

/// Runs each detector's regex separately; see the module documentation.
#[derive(Debug, Clone)]
pub struct NaiveRegexScanner {
    patterns: Vec<(DetectorKind, Regex)>,
}

impl NaiveRegexScanner {
    /// Compiles the baseline patterns.
    pub fn new() -> Result<Self, regex::Error> {
        let patterns = PATTERNS
            .iter()
            .map(|&(kind, pattern)| Regex::new(pattern).map(|re| (kind, re)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(NaiveRegexScanner { patterns })
    }

    /// Validated matches of every pattern, sorted by offset (overlaps between kinds are not
    /// resolved: this is a speed baseline).
    pub fn scan(&self, bytes: &[u8]) -> Vec<Detection> {
        let mut detections = Vec::new();
        let mut spans = Vec::new();
        for (kind, regex) in &self.patterns {
            for found in regex.find_iter(bytes) {
                let anchor = match kind {
                    DetectorKind::Email => found
                        .as_bytes()
                        .iter()
                        .position(|&b| b == b'@')
                        .map(|i| found.start() + i),
                    DetectorKind::AwsSecretAccessKey => Some(found.start() + 1),
                    DetectorKind::AwsAccessKeyId => Some(found.start()),
                    _ => found
                        .as_bytes()
                        .iter()
                        .position(u8::is_ascii_digit)
                        .map(|i| found.start() + i)
                        .or(Some(found.start())),
                };
                let Some(position) = anchor else {
                    continue;
                };
                let low = position.saturating_sub(LOOKBEHIND);
                let high = (position + LOOKAHEAD).min(bytes.len());
                let window = Window {
                    bytes: &bytes[low..high],
                    min_start: 0,
                };
                spans.clear();
                validate(*kind, &window, position - low, &mut spans);
                for span in spans.iter().filter(|s| s.kind == *kind) {
                    let (start, end) = (low + span.start, low + span.end);
                    detections.push(Detection {
                        kind: *kind,
                        start: start as u64,
                        end: end as u64,
                        masked: mask_value(*kind, &bytes[start..end]),
                    });
                }
            }
        }
        detections.sort_by_key(|d| (d.start, d.end));
        detections
    }
}

fn validate(kind: DetectorKind, window: &Window<'_>, position: usize, spans: &mut Vec<Span>) {
    match kind {
        DetectorKind::UsSsn => spans.extend(ssn::ssn_at(window, position)),
        DetectorKind::CreditCard => spans.extend(card::card_at(window, position)),
        DetectorKind::UsPhone => spans.extend(phone::phone_at(window, position)),
        DetectorKind::Email => spans.extend(email::email_at(window, position)),
        DetectorKind::AwsAccessKeyId => aws_key::access_key_at(window, position, spans),
        DetectorKind::AwsSecretAccessKey => {
            spans.extend(aws_key::secret_after_keyword(window, position))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Detectors;

    #[test]
    fn given_simple_text_when_baseline_and_engine_scan_then_they_agree() {
        let text = b"ssn 536-22-1987 card 4539148803436467 call (202) 555-0143 mail jane@example.com key AKIAZ7VRSQ5TJN2K4LMB";
        let baseline = NaiveRegexScanner::new()
            .expect("patterns compile")
            .scan(text);
        let engine = Detectors::new().scan(text);
        assert_eq!(baseline, engine);
    }

    #[test]
    fn given_the_combined_pattern_when_compiled_then_it_finds_each_kind_and_keeps_flags_apart() {
        let combined = regex::bytes::Regex::new(&combined_pattern()).expect("compiles");
        for text in [
            "536-22-1987",
            "4539148803436467",
            "AKIAZ7VRSQ5TJN2K4LMB",
            "SeCrEt",
            "jane@example.com",
            "(202) 555-0143",
        ] {
            assert!(combined.is_match(text.as_bytes()), "{text}");
        }
        // `(?i)` belongs to the secret pattern only: key IDs stay upper case.
        assert!(!combined.is_match(b"akiaz7vrsq5tjn2k4lmb"));
    }
}
