//! The vocabulary shared by every detector: what kind of sensitive value was found
//! ([`DetectorKind`]) and where ([`Detection`]).
//!
//! A [`Detection`] never holds the raw matched value, only its masked form, so that it can be
//! logged, serialised, stored or printed with `{:?}` without leaking what was found.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The kinds of sensitive data this crate recognises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DetectorKind {
    /// US Social Security number (`ddd-dd-dddd`, or nine bare digits next to a keyword).
    UsSsn,
    /// Payment card number (13 to 19 digits, issuer prefix, Luhn; 12-digit Maestro with keyword).
    CreditCard,
    /// AWS access key ID (`AKIA`, `ASIA`, `ABIA`, `ACCA` followed by 16 base32 characters).
    AwsAccessKeyId,
    /// AWS secret access key (40 base64 characters next to a keyword or an access key ID).
    AwsSecretAccessKey,
    /// Email address.
    Email,
    /// US (NANP) phone number.
    UsPhone,
}

impl DetectorKind {
    /// Every kind, in a fixed order (the order of [`DetectorKind::index`]).
    pub const ALL: [DetectorKind; 6] = [
        DetectorKind::UsSsn,
        DetectorKind::CreditCard,
        DetectorKind::AwsAccessKeyId,
        DetectorKind::AwsSecretAccessKey,
        DetectorKind::Email,
        DetectorKind::UsPhone,
    ];

    /// Stable snake_case name, used in findings, metrics and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            DetectorKind::UsSsn => "us_ssn",
            DetectorKind::CreditCard => "credit_card",
            DetectorKind::AwsAccessKeyId => "aws_access_key_id",
            DetectorKind::AwsSecretAccessKey => "aws_secret_access_key",
            DetectorKind::Email => "email",
            DetectorKind::UsPhone => "us_phone",
        }
    }

    /// Position of this kind in [`DetectorKind::ALL`], handy for per-kind counters.
    pub fn index(self) -> usize {
        match self {
            DetectorKind::UsSsn => 0,
            DetectorKind::CreditCard => 1,
            DetectorKind::AwsAccessKeyId => 2,
            DetectorKind::AwsSecretAccessKey => 3,
            DetectorKind::Email => 4,
            DetectorKind::UsPhone => 5,
        }
    }

    /// Parses a name produced by [`DetectorKind::as_str`].
    pub fn from_name(name: &str) -> Option<DetectorKind> {
        DetectorKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == name)
    }
}

impl fmt::Display for DetectorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One sensitive value found in scanned bytes.
///
/// `start..end` are UTF-8 byte offsets into the scanned object (absolute offsets when the
/// object was fed in chunks). `masked` is the only representation of the value that is kept;
/// the derived `Debug` therefore shows nothing raw.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Detection {
    /// What was found.
    pub kind: DetectorKind,
    /// Byte offset of the first byte of the match.
    pub start: u64,
    /// Byte offset one past the last byte of the match.
    pub end: u64,
    /// Masked form of the value, safe to log and store.
    pub masked: String,
}

impl Detection {
    /// Length of the match in bytes.
    pub fn len(&self) -> u64 {
        self.end - self.start
    }

    /// Whether the match is empty (never the case for a real detection).
    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }

    /// Whether this detection shares at least one byte with `start..end`.
    pub fn overlaps(&self, start: u64, end: u64) -> bool {
        self.start < end && start < self.end
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_every_kind_when_named_then_names_are_stable_snake_case_and_round_trip() {
        let names: Vec<&str> = DetectorKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "us_ssn",
                "credit_card",
                "aws_access_key_id",
                "aws_secret_access_key",
                "email",
                "us_phone"
            ]
        );
        for kind in DetectorKind::ALL {
            assert_eq!(DetectorKind::from_name(kind.as_str()), Some(kind));
            assert_eq!(DetectorKind::ALL[kind.index()], kind);
            let json = serde_json::to_string(&kind).expect("serialise kind");
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
        }
    }

    #[test]
    fn given_a_detection_when_debug_printed_then_only_the_masked_value_shows() {
        let detection = Detection {
            kind: DetectorKind::CreditCard,
            start: 10,
            end: 26,
            masked: "************1111".to_string(),
        };
        let printed = format!("{detection:?}");
        assert!(printed.contains("************1111"));
        assert!(!printed.contains("4111111111111111"));
    }
}
