//! Regression test over the labelled Presidio dataset in `tests/data/pii/`: precision and
//! recall must stay at or above the targets (SSN, card, email: precision >= 0.99 and recall >=
//! 0.98; US phone: recall >= 0.95), and no AWS key may be reported on data that has none.

use std::path::PathBuf;

use qrie_detectors::quality::{parse_allow_list, score_dataset, QualityReport, Sample};
use qrie_detectors::{DetectorKind, Detectors};

fn data_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("tests")
        .join("data")
        .join("pii")
        .join(name)
}

fn score(name: &str) -> QualityReport {
    let text = std::fs::read_to_string(data_path(name)).expect("dataset present in tests/data/pii");
    let samples: Vec<Sample> = serde_json::from_str(&text).expect("dataset parses");
    let allowed = match std::fs::read_to_string(data_path("unlabelled_allowlist.tsv")) {
        Ok(text) => parse_allow_list(&text).expect("allow-list parses"),
        Err(_) => Vec::new(),
    };
    score_dataset(&samples, &Detectors::new(), &allowed).expect("labels in range")
}

fn assert_targets(report: &QualityReport, kind: DetectorKind, precision: f64, recall: f64) {
    let score = report.score(kind).expect("kind scored");
    let found_precision = score.precision().unwrap_or(1.0);
    let found_recall = score.recall().expect("labels present");
    assert!(
        found_precision >= precision,
        "{kind}: precision {found_precision:.4} < {precision} ({score:?})"
    );
    assert!(
        found_recall >= recall,
        "{kind}: recall {found_recall:.4} < {recall} ({score:?})"
    );
}

#[test]
fn given_synth_dataset_v2_when_scored_then_every_target_is_met() {
    let report = score("synth_dataset_v2.json");
    assert_eq!(report.samples, 1_500);
    assert_targets(&report, DetectorKind::UsSsn, 0.99, 0.98);
    assert_targets(&report, DetectorKind::CreditCard, 0.99, 0.98);
    assert_targets(&report, DetectorKind::Email, 0.99, 0.98);
    assert_targets(&report, DetectorKind::UsPhone, 0.0, 0.95);
    for kind in [
        DetectorKind::AwsAccessKeyId,
        DetectorKind::AwsSecretAccessKey,
    ] {
        let score = report.score(kind).expect("kind scored");
        assert_eq!(score.false_positives, 0, "{kind} on data without keys");
    }
}

#[test]
fn given_generated_small_dataset_when_scored_then_every_target_is_met() {
    let report = score("generated_small.json");
    assert_targets(&report, DetectorKind::UsSsn, 0.99, 0.98);
    assert_targets(&report, DetectorKind::CreditCard, 0.99, 0.98);
    assert_targets(&report, DetectorKind::Email, 0.99, 0.98);
    assert_targets(&report, DetectorKind::UsPhone, 0.0, 0.95);
}
