//! Precision and recall of the detectors over a labelled dataset (Presidio's synthetic PII
//! samples, `tests/data/pii/`), shared by the `quality_report` example and the regression test.
//!
//! Matching rule, per sample:
//! - labels are converted from code-point offsets to UTF-8 byte offsets;
//! - `US_SSN`, `CREDIT_CARD` and `EMAIL_ADDRESS` labels score `us_ssn`, `credit_card` and
//!   `email`; `PHONE_NUMBER` labels score `us_phone` only when NANP-shaped
//!   ([`is_nanp_shaped`]); the other phone labels are neutral for `us_phone`;
//! - a detection is a true positive when its byte range overlaps (shares at least one byte
//!   with) a scored label of its own kind; a detection that overlaps only a neutral label is
//!   not counted at all; a detection listed in the allow-list (sample index, byte start, kind:
//!   a genuine value the dataset left unlabelled, reviewed by hand) is counted apart; every
//!   other detection is a false positive;
//! - a label is found (recall) when at least one detection of its kind overlaps it.

use std::sync::OnceLock;

use regex::Regex;
use serde::Deserialize;

use crate::context::masked_context;
use crate::error::QualityError;
use crate::kind::{Detection, DetectorKind};
use crate::mask::mask_value;
use crate::Detectors;

/// One labelled sample, as stored in the Presidio dataset files.
#[derive(Debug, Clone, Deserialize)]
pub struct Sample {
    pub full_text: String,
    pub spans: Vec<Label>,
}

/// One label; offsets are Python string indices (code points, exclusive end).
#[derive(Debug, Clone, Deserialize)]
pub struct Label {
    pub entity_type: String,
    pub entity_value: String,
    pub start_position: usize,
    pub end_position: usize,
}

/// A detection reviewed by hand and found to be a genuine value the dataset did not label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AllowedDetection {
    pub sample: usize,
    pub start: u64,
    pub kind: DetectorKind,
}

/// Parses the allow-list: one `sample<TAB>byte_start<TAB>kind<TAB>reason` per line; `#`
/// starts a comment line.
pub fn parse_allow_list(text: &str) -> Result<Vec<AllowedDetection>, QualityError> {
    let mut entries = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line_number = index + 1;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields = line.split('\t');
        let bad = |reason| QualityError::BadAllowListLine {
            line: line_number,
            reason,
        };
        let sample = fields
            .next()
            .and_then(|f| f.trim().parse().ok())
            .ok_or_else(|| bad("sample index is not a number"))?;
        let start = fields
            .next()
            .and_then(|f| f.trim().parse().ok())
            .ok_or_else(|| bad("byte start is not a number"))?;
        let kind = fields
            .next()
            .and_then(|f| DetectorKind::from_name(f.trim()))
            .ok_or_else(|| bad("unknown detector kind"))?;
        if fields.next().is_none_or(|reason| reason.trim().is_empty()) {
            return Err(bad("missing reason"));
        }
        entries.push(AllowedDetection {
            sample,
            start,
            kind,
        });
    }
    Ok(entries)
}

/// Counts for one detector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KindScore {
    pub kind: DetectorKind,
    /// Scored labels of this kind.
    pub labels: usize,
    /// Of those, labels overlapped by a detection of this kind.
    pub labels_found: usize,
    pub true_positives: usize,
    pub false_positives: usize,
    /// Detections on allow-listed unlabelled genuine values.
    pub allowed_unlabelled: usize,
    /// Detections on neutral labels (non-NANP phone numbers), not counted.
    pub neutral: usize,
}

impl KindScore {
    /// True positives over all counted detections; `None` without any.
    pub fn precision(&self) -> Option<f64> {
        let counted = self.true_positives + self.false_positives;
        (counted > 0).then(|| self.true_positives as f64 / counted as f64)
    }

    /// Labels found over labels; `None` without labels.
    pub fn recall(&self) -> Option<f64> {
        (self.labels > 0).then(|| self.labels_found as f64 / self.labels as f64)
    }
}

/// One listed error or allowed detection, masked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewItem {
    pub sample: usize,
    pub kind: DetectorKind,
    pub start: u64,
    pub end: u64,
    pub masked: String,
    /// Masked context (every detection in it masked; for a missed label, the label too).
    pub context: String,
}

/// The outcome of scoring one dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct QualityReport {
    pub samples: usize,
    pub scores: Vec<KindScore>,
    pub false_positives: Vec<ReviewItem>,
    pub false_negatives: Vec<ReviewItem>,
    pub allowed: Vec<ReviewItem>,
}

impl QualityReport {
    /// The score of one kind.
    pub fn score(&self, kind: DetectorKind) -> Option<&KindScore> {
        self.scores.iter().find(|s| s.kind == kind)
    }
}

/// How a label takes part in scoring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabelRole {
    /// Scores this kind (precision and recall).
    Scored(DetectorKind),
    /// Detections of this kind on it are neither right nor wrong.
    Neutral(DetectorKind),
    /// No detector of ours is about it.
    Ignored,
}

/// The role of a label of `entity_type` with value `value`.
pub fn label_role(entity_type: &str, value: &str) -> LabelRole {
    match entity_type {
        "US_SSN" => LabelRole::Scored(DetectorKind::UsSsn),
        "CREDIT_CARD" => LabelRole::Scored(DetectorKind::CreditCard),
        "EMAIL_ADDRESS" => LabelRole::Scored(DetectorKind::Email),
        "PHONE_NUMBER" if is_nanp_shaped(value) => LabelRole::Scored(DetectorKind::UsPhone),
        "PHONE_NUMBER" => LabelRole::Neutral(DetectorKind::UsPhone),
        _ => LabelRole::Ignored,
    }
}

/// Whether a labelled phone value is a US number: optional `+1`/`1`/`001` prefix, area code
/// and exchange starting 2-9, common separators, optional extension. Deliberately written
/// independently of the detector, as a regular expression.
pub fn is_nanp_shaped(value: &str) -> bool {
    static NANP: OnceLock<Option<Regex>> = OnceLock::new();
    NANP.get_or_init(|| {
        Regex::new(
            r"^(?:\+1[-. ]?|001[-. ]|1[-. ])?(?:\([2-9][0-9]{2}\) ?|[2-9][0-9]{2}[-. ]?)[2-9][0-9]{2}[-. ]?[0-9]{4}(?: ?(?:x|ext\.?) ?[0-9]+)?$",
        )
        .ok()
    })
    .as_ref()
    .is_some_and(|re| re.is_match(value))
}

/// A label in byte offsets.
struct ByteLabel {
    role: LabelRole,
    start: u64,
    end: u64,
    value: String,
}

fn byte_labels(index: usize, sample: &Sample) -> Result<Vec<ByteLabel>, QualityError> {
    let text = &sample.full_text;
    let offsets: Vec<usize> = text
        .char_indices()
        .map(|(byte, _)| byte)
        .chain(std::iter::once(text.len()))
        .collect();
    sample
        .spans
        .iter()
        .map(|label| {
            let out_of_range = || QualityError::LabelOutOfRange {
                sample: index,
                start: label.start_position,
                end: label.end_position,
                chars: offsets.len() - 1,
            };
            let start = *offsets.get(label.start_position).ok_or_else(out_of_range)?;
            let end = *offsets.get(label.end_position).ok_or_else(out_of_range)?;
            if start > end {
                return Err(out_of_range());
            }
            Ok(ByteLabel {
                role: label_role(&label.entity_type, &label.entity_value),
                start: start as u64,
                end: end as u64,
                value: label.entity_value.clone(),
            })
        })
        .collect()
}

/// Context radius used for listed items.
const REVIEW_CONTEXT_RADIUS: usize = 40;

/// Scans every sample with `detectors` and scores the result (see the module documentation).
pub fn score_dataset(
    samples: &[Sample],
    detectors: &Detectors,
    allow_list: &[AllowedDetection],
) -> Result<QualityReport, QualityError> {
    let kinds = detectors.enabled_kinds();
    let mut scores: Vec<KindScore> = kinds
        .iter()
        .map(|&kind| KindScore {
            kind,
            labels: 0,
            labels_found: 0,
            true_positives: 0,
            false_positives: 0,
            allowed_unlabelled: 0,
            neutral: 0,
        })
        .collect();
    let mut report = QualityReport {
        samples: samples.len(),
        scores: Vec::new(),
        false_positives: Vec::new(),
        false_negatives: Vec::new(),
        allowed: Vec::new(),
    };
    for (index, sample) in samples.iter().enumerate() {
        let text = sample.full_text.as_bytes();
        let labels = byte_labels(index, sample)?;
        let detections = detectors.scan(text);
        let review = |kind: DetectorKind, start: u64, end: u64, masked: String| {
            let probe = Detection {
                kind,
                start,
                end,
                masked: masked.clone(),
            };
            ReviewItem {
                sample: index,
                kind,
                start,
                end,
                masked,
                context: masked_context(text, &probe, &detections, REVIEW_CONTEXT_RADIUS),
            }
        };
        for detection in &detections {
            let Some(score) = scores.iter_mut().find(|s| s.kind == detection.kind) else {
                continue;
            };
            let overlaps = |role: LabelRole| {
                labels
                    .iter()
                    .any(|l| l.role == role && detection.overlaps(l.start, l.end))
            };
            if overlaps(LabelRole::Scored(detection.kind)) {
                score.true_positives += 1;
            } else if overlaps(LabelRole::Neutral(detection.kind)) {
                score.neutral += 1;
            } else if allow_list.iter().any(|a| {
                a.sample == index && a.start == detection.start && a.kind == detection.kind
            }) {
                score.allowed_unlabelled += 1;
                report.allowed.push(review(
                    detection.kind,
                    detection.start,
                    detection.end,
                    detection.masked.clone(),
                ));
            } else {
                score.false_positives += 1;
                report.false_positives.push(review(
                    detection.kind,
                    detection.start,
                    detection.end,
                    detection.masked.clone(),
                ));
            }
        }
        for label in &labels {
            let LabelRole::Scored(kind) = label.role else {
                continue;
            };
            let Some(score) = scores.iter_mut().find(|s| s.kind == kind) else {
                continue;
            };
            score.labels += 1;
            if detections
                .iter()
                .any(|d| d.kind == kind && d.overlaps(label.start, label.end))
            {
                score.labels_found += 1;
            } else {
                let masked = mask_value(kind, label.value.as_bytes());
                report
                    .false_negatives
                    .push(review(kind, label.start, label.end, masked));
            }
        }
    }
    report.scores = scores;
    Ok(report)
}

/// Formats a ratio for the report table.
pub fn format_ratio(value: Option<f64>) -> String {
    value.map_or_else(|| "n/a".to_string(), |v| format!("{v:.4}"))
}

/// The report as a Markdown table, one row per detector.
pub fn render_table(report: &QualityReport) -> String {
    let mut table = String::from(
        "| Detector | Labels | Found | Detections counted | TP | FP | Allowed unlabelled | Neutral | Precision | Recall |\n|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for s in &report.scores {
        table.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            s.kind,
            s.labels,
            s.labels_found,
            s.true_positives + s.false_positives,
            s.true_positives,
            s.false_positives,
            s.allowed_unlabelled,
            s.neutral,
            format_ratio(s.precision()),
            format_ratio(s.recall()),
        ));
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_phone_labels_when_classified_then_only_nanp_shapes_are_scored() {
        for value in [
            "905-674-3793",
            "+1-984-282-0190",
            "(579)888-3058",
            "001-518-640-0854",
            "345-899-3560x4587",
            "9498777106",
            "930.267.3943",
        ] {
            assert!(is_nanp_shaped(value), "{value}");
        }
        for value in [
            "+1-984-182-0190",
            "930.167.3943",
            "083 564 9312",
            "+447700677662",
            "21 284 698 2548",
            "0961-7596216",
            "467 3395",
        ] {
            assert!(!is_nanp_shaped(value), "{value}");
        }
    }

    #[test]
    fn given_accented_text_when_labels_converted_then_byte_offsets_cover_the_value() {
        let sample = Sample {
            full_text: "Åsa Lâine: 536-22-1987".to_string(),
            spans: vec![Label {
                entity_type: "US_SSN".to_string(),
                entity_value: "536-22-1987".to_string(),
                start_position: 11,
                end_position: 22,
            }],
        };
        let labels = byte_labels(0, &sample).expect("labels in range");
        let (start, end) = (labels[0].start as usize, labels[0].end as usize);
        assert_eq!(&sample.full_text[start..end], "536-22-1987");
        let report = score_dataset(&[sample], &Detectors::new(), &[]).expect("scored");
        let ssn = report.score(DetectorKind::UsSsn).expect("ssn score");
        assert_eq!(
            (ssn.labels, ssn.labels_found, ssn.true_positives),
            (1, 1, 1)
        );
    }

    #[test]
    fn given_allow_list_text_when_parsed_then_entries_and_errors_are_typed() {
        let parsed =
            parse_allow_list("# comment\n12\t340\temail\tunlabelled address in signature\n")
                .expect("valid list");
        assert_eq!(
            parsed,
            vec![AllowedDetection {
                sample: 12,
                start: 340,
                kind: DetectorKind::Email
            }]
        );
        assert!(matches!(
            parse_allow_list("12\t340\temail\n"),
            Err(QualityError::BadAllowListLine { line: 1, .. })
        ));
    }
}
