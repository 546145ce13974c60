//! The risk score of a finding: one number from 0.0 to 10.0 (one decimal) that orders findings
//! by how much they matter, so that the CLI, the report and the exports can put the worst first.
//!
//! Severity says how bad a misconfiguration is in general; the risk factors say how bad this one
//! is here. A policy declares its factors in its file (`risk: {exposure: internet, privilege:
//! admin, data: sensitive}`, parsed in `policy::def`); an object-scan finding takes its data
//! sensitivity from the detector that matched ([`object_finding_score`]).
//!
//! The formula (the README's "Risk score" section shows it with worked examples, and
//! `readme_worked_examples_are_exact` below checks them):
//!
//! ```text
//! score = min(10, base(severity) + exposure + privilege + data)
//! base:      critical 7.0, high 5.5, medium 4.0, low 2.0, informational 0.5
//! exposure:  internet +2.0, public +1.5, cross_account +1.0, none 0
//! privilege: admin +1.5, escalation +1.0, none 0
//! data:      sensitive +1.0, none 0
//! ```
//!
//! Every addend is a whole number of tenths, so the score is exact (no float rounding) and is
//! kept as tenths ([`RiskScore::tenths`]). Without factors the score orders findings as severity
//! does (informational 0.5 up to critical 7.0); a factor can lift an exposed finding past an
//! unexposed one of the next severity (SSH open to the world, high + internet, 7.5, passes a
//! critical finding with nothing, 7.0), and together they reach the cap: critical + internet +
//! admin + sensitive is 10.0. Stored and exported, a score is a number with one decimal.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::model::Severity;

/// Who can reach the resource a failing policy is about.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Exposure {
    /// Only the account itself.
    #[default]
    None,
    /// Another AWS account may use it (a cross-account grant or trust).
    CrossAccount,
    /// Anyone may read or use it through the AWS API (a public bucket, snapshot or AMI).
    Public,
    /// Reachable from the internet over the network (a security group open to the world, a
    /// publicly accessible database, a function URL without authentication).
    Internet,
}

/// What a principal gains through the failing resource.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Privilege {
    #[default]
    None,
    /// A path to more privilege (`iam:PassRole` with `lambda:CreateFunction`, ...).
    Escalation,
    /// Administrator access (`*` on `*`).
    Admin,
}

/// Whether the failing resource holds sensitive data.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DataSensitivity {
    #[default]
    None,
    /// Card numbers, AWS keys, social security numbers, ...
    Sensitive,
}

/// A factor value that is not one of the factor's values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {factor} {value:?} (known: {})", .known.join(", "))]
pub struct UnknownFactor {
    /// `exposure`, `privilege` or `data`.
    pub factor: &'static str,
    pub value: String,
    /// The factor's values, in increasing order.
    pub known: Vec<&'static str>,
}

/// The names and values of one factor, in increasing order.
trait Factor: Copy + PartialEq + 'static {
    const NAME: &'static str;
    const ALL: &'static [(&'static str, Self)];
    fn as_str(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, v)| *v == self)
            .map(|(n, _)| *n)
            .unwrap_or("none")
    }
}

fn parse_factor<F: Factor>(text: &str) -> Result<F, UnknownFactor> {
    F::ALL
        .iter()
        .find(|(name, _)| *name == text)
        .map(|(_, value)| *value)
        .ok_or_else(|| UnknownFactor {
            factor: F::NAME,
            value: text.to_owned(),
            known: F::ALL.iter().map(|(n, _)| *n).collect(),
        })
}

macro_rules! factor {
    ($ty:ty, $name:literal, [$(($text:literal, $variant:expr)),+ $(,)?]) => {
        impl Factor for $ty {
            const NAME: &'static str = $name;
            const ALL: &'static [(&'static str, Self)] = &[$(($text, $variant)),+];
        }
        impl $ty {
            /// The name policy files use.
            pub fn as_str(self) -> &'static str {
                Factor::as_str(self)
            }
            /// Every value, in increasing order.
            pub fn all() -> impl Iterator<Item = Self> {
                <Self as Factor>::ALL.iter().map(|(_, v)| *v)
            }
        }
        impl FromStr for $ty {
            type Err = UnknownFactor;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                parse_factor(s)
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

factor!(
    Exposure,
    "exposure",
    [
        ("none", Exposure::None),
        ("cross_account", Exposure::CrossAccount),
        ("public", Exposure::Public),
        ("internet", Exposure::Internet),
    ]
);
factor!(
    Privilege,
    "privilege",
    [
        ("none", Privilege::None),
        ("escalation", Privilege::Escalation),
        ("admin", Privilege::Admin),
    ]
);
factor!(
    DataSensitivity,
    "data",
    [
        ("none", DataSensitivity::None),
        ("sensitive", DataSensitivity::Sensitive),
    ]
);

/// The risk factors of a failing policy (all `none` when its file has no `risk:` block).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
pub struct RiskFactors {
    pub exposure: Exposure,
    pub privilege: Privilege,
    pub data: DataSensitivity,
}

impl RiskFactors {
    /// True when every factor is `none`.
    pub fn is_none(&self) -> bool {
        *self == RiskFactors::default()
    }
}

/// A risk score, 0.0 to 10.0 in steps of 0.1, kept as tenths so that it is exact and ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct RiskScore(u8);

/// The highest score.
pub const MAX_TENTHS: u8 = 100;

impl RiskScore {
    pub const MAX: RiskScore = RiskScore(MAX_TENTHS);

    /// The score of `tenths` tenths, capped at 10.0.
    pub fn from_tenths(tenths: u32) -> Self {
        RiskScore(tenths.min(u32::from(MAX_TENTHS)) as u8)
    }

    /// The score in tenths (0 to 100).
    pub fn tenths(self) -> u8 {
        self.0
    }

    /// The score as a number (7.5).
    pub fn value(self) -> f64 {
        f64::from(self.0) / 10.0
    }

    /// The score on a 0-100 scale (ASFF's `Criticality`).
    pub fn percent(self) -> u8 {
        self.0
    }

    /// Reads a stored or exported number (`7.5`, `10`); `None` when it is not a number from 0
    /// to 10 with at most one decimal.
    pub fn parse(text: &str) -> Option<Self> {
        let value: f64 = text.trim().parse().ok()?;
        Self::from_value(value)
    }

    /// [`Self::parse`] of a number.
    pub fn from_value(value: f64) -> Option<Self> {
        if !value.is_finite() || !(0.0..=10.0).contains(&value) {
            return None;
        }
        let tenths = (value * 10.0).round();
        ((value * 10.0 - tenths).abs() < 1e-6).then_some(RiskScore(tenths as u8))
    }
}

impl fmt::Display for RiskScore {
    /// One decimal: `7.5`, `10.0`, `0.5`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.0 / 10, self.0 % 10)
    }
}

impl Serialize for RiskScore {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.value())
    }
}

impl<'de> Deserialize<'de> for RiskScore {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = f64::deserialize(d)?;
        RiskScore::from_value(value).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "risk score {value} is not a number from 0 to 10 with one decimal"
            ))
        })
    }
}

/// The base of a severity, in tenths.
pub fn base_tenths(severity: Severity) -> u32 {
    match severity {
        Severity::Critical => 70,
        Severity::High => 55,
        Severity::Medium => 40,
        Severity::Low => 20,
        Severity::Informational => 5,
    }
}

/// What an exposure adds, in tenths.
pub fn exposure_tenths(exposure: Exposure) -> u32 {
    match exposure {
        Exposure::None => 0,
        Exposure::CrossAccount => 10,
        Exposure::Public => 15,
        Exposure::Internet => 20,
    }
}

/// What a privilege adds, in tenths.
pub fn privilege_tenths(privilege: Privilege) -> u32 {
    match privilege {
        Privilege::None => 0,
        Privilege::Escalation => 10,
        Privilege::Admin => 15,
    }
}

/// What data sensitivity adds, in tenths.
pub fn data_tenths(data: DataSensitivity) -> u32 {
    match data {
        DataSensitivity::None => 0,
        DataSensitivity::Sensitive => 10,
    }
}

/// The score of a finding of `severity` with `factors`.
pub fn score(severity: Severity, factors: RiskFactors) -> RiskScore {
    RiskScore::from_tenths(
        base_tenths(severity)
            + exposure_tenths(factors.exposure)
            + privilege_tenths(factors.privilege)
            + data_tenths(factors.data),
    )
}

/// The severity an object-scan finding counts at: a detection in an object says what the object
/// holds, not who can read it (a policy that combines it with a public bucket says that).
pub const OBJECT_FINDING_SEVERITY: Severity = Severity::Medium;

/// The data sensitivity of a detector's match: card numbers, AWS keys and social security
/// numbers are sensitive; email addresses and phone numbers (contact data, common in ordinary
/// files), and a name qrie does not know, are not.
pub fn detector_sensitivity(detector: &str) -> DataSensitivity {
    use qrie_detectors::DetectorKind;
    match DetectorKind::from_name(detector) {
        Some(
            DetectorKind::CreditCard
            | DetectorKind::AwsAccessKeyId
            | DetectorKind::AwsSecretAccessKey
            | DetectorKind::UsSsn,
        ) => DataSensitivity::Sensitive,
        Some(DetectorKind::Email | DetectorKind::UsPhone) | None => DataSensitivity::None,
    }
}

/// The score of a stored finding: the one its last failing evaluation stored, or, for a finding
/// stored before qrie scored findings, its severity with `factors` (its policy's).
pub fn of_finding(finding: &crate::model::Finding, factors: RiskFactors) -> RiskScore {
    finding
        .risk_score
        .unwrap_or_else(|| score(finding.severity, factors))
}

/// The score of an object-scan finding of `detector`: medium, with the detector's sensitivity.
pub fn object_finding_score(detector: &str) -> RiskScore {
    score(
        OBJECT_FINDING_SEVERITY,
        RiskFactors {
            data: detector_sensitivity(detector),
            ..RiskFactors::default()
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEVERITIES: [Severity; 5] = [
        Severity::Informational,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    fn all_factors() -> Vec<RiskFactors> {
        let mut out = Vec::new();
        for exposure in Exposure::all() {
            for privilege in Privilege::all() {
                for data in DataSensitivity::all() {
                    out.push(RiskFactors {
                        exposure,
                        privilege,
                        data,
                    });
                }
            }
        }
        out
    }

    fn factors(exposure: &str, privilege: &str, data: &str) -> RiskFactors {
        RiskFactors {
            exposure: exposure.parse().unwrap(),
            privilege: privilege.parse().unwrap(),
            data: data.parse().unwrap(),
        }
    }

    #[test]
    fn the_extremes_are_ten_and_the_lowest_score() {
        // Given the worst and the mildest finding
        let worst = score(
            Severity::Critical,
            factors("internet", "admin", "sensitive"),
        );
        let mildest = score(Severity::Informational, RiskFactors::default());
        // Then the worst is the cap and the mildest is below every other combination
        assert_eq!(worst, RiskScore::MAX);
        assert_eq!(worst.to_string(), "10.0");
        assert_eq!(mildest.to_string(), "0.5");
        for severity in SEVERITIES {
            for f in all_factors() {
                let s = score(severity, f);
                assert!(s <= RiskScore::MAX, "{severity} {f:?}");
                if (severity, f) != (Severity::Informational, RiskFactors::default()) {
                    assert!(s > mildest, "{severity} {f:?}: {s}");
                }
            }
        }
    }

    #[test]
    fn no_factor_or_severity_ever_lowers_the_score() {
        // Given every severity and factor combination
        for (i, severity) in SEVERITIES.iter().enumerate() {
            for f in all_factors() {
                let s = score(*severity, f);
                // Then a higher severity with the same factors scores at least as much, and
                // strictly more unless both are capped
                if let Some(higher) = SEVERITIES.get(i + 1) {
                    let h = score(*higher, f);
                    assert!(h > s || h == RiskScore::MAX, "{severity}->{higher} {f:?}");
                }
                // And raising any one factor raises the score, unless it is capped
                for g in all_factors() {
                    let dominates =
                        g.exposure >= f.exposure && g.privilege >= f.privilege && g.data >= f.data;
                    if dominates && g != f {
                        let t = score(*severity, g);
                        assert!(t > s || t == RiskScore::MAX, "{severity} {f:?} -> {g:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn severity_still_orders_findings_without_factors() {
        // Given findings with no factor, Then the score orders them as severity does
        let scores: Vec<RiskScore> = SEVERITIES
            .iter()
            .map(|s| score(*s, RiskFactors::default()))
            .collect();
        assert!(scores.windows(2).all(|w| w[0] < w[1]), "{scores:?}");
        // And an exposed high finding outranks an unexposed critical one, but not an exposed
        // critical one
        let exposed_high = score(Severity::High, factors("internet", "none", "none"));
        assert!(exposed_high > score(Severity::Critical, RiskFactors::default()));
        assert!(exposed_high < score(Severity::Critical, factors("internet", "none", "none")));
    }

    #[test]
    fn exposures_are_ordered_internet_public_cross_account_none() {
        let at = |e: &str| score(Severity::Medium, factors(e, "none", "none"));
        assert!(at("internet") > at("public"));
        assert!(at("public") > at("cross_account"));
        assert!(at("cross_account") > at("none"));
        let priv_at = |p: &str| score(Severity::Medium, factors("none", p, "none"));
        assert!(
            priv_at("admin") > priv_at("escalation") && priv_at("escalation") > priv_at("none")
        );
    }

    /// The README's table, row by row: severity, exposure, privilege, data, score.
    const README_EXAMPLES: &[(&str, &str, &str, &str, &str)] = &[
        ("critical", "internet", "admin", "sensitive", "10.0"),
        ("critical", "public", "none", "sensitive", "9.5"),
        ("critical", "public", "none", "none", "8.5"),
        ("high", "internet", "none", "none", "7.5"),
        ("critical", "none", "admin", "none", "8.5"),
        ("high", "none", "escalation", "none", "6.5"),
        ("high", "cross_account", "none", "none", "6.5"),
        ("medium", "none", "none", "sensitive", "5.0"),
        ("medium", "none", "none", "none", "4.0"),
        ("low", "none", "none", "none", "2.0"),
        ("informational", "none", "none", "none", "0.5"),
    ];

    #[test]
    fn readme_worked_examples_are_exact() {
        // Given the README's worked examples and the shipped policies
        let catalog = crate::policy::Catalog::embedded();
        let readme =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
        for (severity, exposure, privilege, data, expected) in README_EXAMPLES {
            // When each is scored, Then it is the README's number
            let s = score(
                severity.parse().unwrap(),
                factors(exposure, privilege, data),
            );
            assert_eq!(
                s.to_string(),
                *expected,
                "{severity} {exposure} {privilege} {data}"
            );
            // And the README shows that row
            let row =
                format!("| {severity} | {exposure} | {privilege} | {data} | **{expected}** |");
            let line = readme
                .lines()
                .find(|l| l.starts_with(&row))
                .unwrap_or_else(|| panic!("README.md lacks the row {row}"));
            // And every shipped policy it names scores so
            let example = &line[row.len()..];
            for id in example.split('`').skip(1).step_by(2) {
                let policy = catalog
                    .get(id)
                    .unwrap_or_else(|| panic!("README names {id}, no shipped policy"));
                assert_eq!(
                    score(policy.severity, policy.risk).to_string(),
                    *expected,
                    "{id}"
                );
            }
        }
    }

    #[test]
    fn scores_print_with_one_decimal_and_read_back() {
        for tenths in 0..=100u32 {
            let s = RiskScore::from_tenths(tenths);
            assert_eq!(RiskScore::parse(&s.to_string()), Some(s));
            assert_eq!(RiskScore::from_value(s.value()), Some(s));
            let json = serde_json::to_value(s).unwrap();
            assert_eq!(serde_json::from_value::<RiskScore>(json).unwrap(), s);
        }
        assert_eq!(RiskScore::from_tenths(250), RiskScore::MAX);
        assert_eq!(RiskScore::parse("10"), Some(RiskScore::MAX));
        assert_eq!(RiskScore::parse("7.5").unwrap().percent(), 75);
        for bad in ["-1", "10.1", "7.55", "NaN", "inf", "high", ""] {
            assert_eq!(RiskScore::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn unknown_factor_values_are_named_with_the_known_ones() {
        let err = "interent".parse::<Exposure>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown exposure \"interent\" (known: none, cross_account, public, internet)"
        );
        assert_eq!(err.factor, "exposure");
        let err = "root".parse::<Privilege>().unwrap_err().to_string();
        assert!(err.starts_with("unknown privilege \"root\""), "{err}");
        assert!(err.contains("none, escalation, admin"), "{err}");
        assert!("Sensitive".parse::<DataSensitivity>().is_err());
        for e in Exposure::all() {
            assert_eq!(e.as_str().parse::<Exposure>(), Ok(e));
        }
    }

    #[test]
    fn object_findings_are_sensitive_for_cards_keys_and_ssns() {
        // Given each detector, Then its findings score by its sensitivity
        for (detector, sensitive) in [
            ("credit_card", true),
            ("aws_access_key_id", true),
            ("aws_secret_access_key", true),
            ("us_ssn", true),
            ("email", false),
            ("us_phone", false),
            ("not_a_detector", false),
        ] {
            let expected = if sensitive { "5.0" } else { "4.0" };
            assert_eq!(
                object_finding_score(detector).to_string(),
                expected,
                "{detector}"
            );
        }
        // And every detector kind is covered by the list above
        for kind in qrie_detectors::DetectorKind::ALL {
            assert!(
                [
                    "credit_card",
                    "aws_access_key_id",
                    "aws_secret_access_key",
                    "us_ssn",
                    "email",
                    "us_phone"
                ]
                .contains(&kind.as_str()),
                "{kind}"
            );
        }
    }
}
