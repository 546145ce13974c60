//! Exports of stored findings in the formats other tools read: OCSF ([`ocsf`], the Open
//! Cybersecurity Schema Framework's Compliance Finding, what SIEMs and data lakes ingest) and
//! ASFF ([`asff`], the AWS Security Finding Format that Security Hub imports).
//!
//! Both are pure conversions of one stored [`Finding`] with its policy (title, description,
//! remediation, controls, references) at a given time: nothing here reads a table or calls AWS,
//! so every mapping is tested as a unit. What they share lives here: the finding's [`Lifecycle`]
//! (open, acknowledged, suppressed, resolved: the one decision both formats map to their own
//! status fields), the resource's region and partition (from its ARN), the frameworks' display
//! names and a character-safe truncation with a marker.

pub mod asff;
pub mod ocsf;

use chrono::{DateTime, Utc};

use crate::model::{Finding, FindingState};
use crate::policy::Policy;

/// What a truncated text ends with, so a reader knows it was cut.
pub const TRUNCATION_MARKER: &str = " [truncated]";

/// The product name every export carries.
pub const PRODUCT_NAME: &str = "qrie";

/// The version of qrie that produced an export.
pub const PRODUCT_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Where a finding stands for its consumers, decided once for both formats. A suppression that
/// has expired counts for nothing, as everywhere else in qrie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifecycle {
    /// ACTIVE, nobody has looked at it yet.
    Open,
    /// ACTIVE and acknowledged by someone.
    Acknowledged,
    /// ACTIVE and an accepted risk (an operator's suppression or a suppression rule) at `now`.
    Suppressed,
    /// RESOLVED: the resource passes the policy now, or is gone.
    Resolved,
}

impl Lifecycle {
    /// The lifecycle of `finding` at `now`.
    pub fn of(finding: &Finding, now: DateTime<Utc>) -> Self {
        match finding.state {
            FindingState::Resolved => Lifecycle::Resolved,
            FindingState::Active if finding.is_suppressed_at(now) => Lifecycle::Suppressed,
            FindingState::Active if finding.acknowledged.is_some() => Lifecycle::Acknowledged,
            FindingState::Active => Lifecycle::Open,
        }
    }
}

/// One finding to export: the stored finding, its policy when the catalog still has it (a
/// finding of a removed policy is exported with its id for a title), and the time of the export.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    pub finding: &'a Finding,
    pub policy: Option<&'a Policy>,
    pub now: DateTime<Utc>,
}

impl<'a> Subject<'a> {
    pub fn new(finding: &'a Finding, policy: Option<&'a Policy>, now: DateTime<Utc>) -> Self {
        Self {
            finding,
            policy,
            now,
        }
    }

    pub fn lifecycle(&self) -> Lifecycle {
        Lifecycle::of(self.finding, self.now)
    }

    /// The finding's risk score: as stored, or (stored before qrie scored findings) its
    /// severity with its policy's risk factors.
    pub fn risk_score(&self) -> crate::risk::RiskScore {
        crate::risk::of_finding(
            self.finding,
            self.policy.map(|p| p.risk).unwrap_or_default(),
        )
    }

    /// The policy's title, or its id when the policy is no longer loaded.
    pub fn title(&self) -> &str {
        self.policy
            .map(|p| p.title.as_str())
            .unwrap_or(&self.finding.policy_id)
    }

    /// The policy's description, or a sentence naming the policy when it is no longer loaded.
    pub fn description(&self) -> String {
        match self.policy {
            Some(p) if !p.description.trim().is_empty() => p.description.trim().to_owned(),
            Some(p) => p.title.clone(),
            None => format!(
                "Finding of qrie policy {} (the policy is no longer loaded).",
                self.finding.policy_id
            ),
        }
    }

    pub fn remediation(&self) -> Option<&str> {
        self.policy
            .map(|p| p.remediation.trim())
            .filter(|r| !r.is_empty())
    }

    /// The finding's controls as (framework, control id), in the policy's order.
    pub fn controls(&self) -> Vec<(&str, &str)> {
        self.policy
            .map(|p| {
                p.controls
                    .iter()
                    .map(|c| (c.framework.as_str(), c.id.as_str()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The frameworks the controls belong to, each once, in order of first appearance.
    pub fn frameworks(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for (framework, _) in self.controls() {
            if !out.contains(&framework) {
                out.push(framework);
            }
        }
        out
    }

    /// The equivalent checks of other tools, as `source:id` (`prowler:s3_bucket_public_access`).
    pub fn references(&self) -> Vec<String> {
        self.policy
            .map(|p| {
                p.references
                    .iter()
                    .map(|r| format!("{}:{}", r.source, r.id))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The resource's region from its ARN; `None` for a global resource (IAM, an account-level
    /// setting) or an ARN that does not parse.
    pub fn region(&self) -> Option<&str> {
        crate::arn::split_arn(&self.finding.arn)
            .map(|p| p.region)
            .filter(|r| !r.is_empty())
    }

    /// The resource's partition from its ARN (`aws` when it does not parse).
    pub fn partition(&self) -> &str {
        crate::arn::split_arn(&self.finding.arn)
            .map(|p| p.partition)
            .filter(|p| !p.is_empty())
            .unwrap_or("aws")
    }

    /// The last time anything about the finding changed: its evaluation, resolution,
    /// re-opening, acknowledgement or suppression. What ASFF calls `UpdatedAt` and OCSF
    /// `modified_time`: it moves whenever an export of the finding would differ.
    pub fn updated_at(&self) -> DateTime<Utc> {
        let f = self.finding;
        [
            Some(f.last_evaluated),
            f.resolved_at,
            f.history.reopened_at,
            f.acknowledged.as_ref().map(|a| a.at),
            f.suppressed.as_ref().map(|s| s.at),
        ]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(f.last_evaluated)
        .max(f.first_seen)
    }

    /// Why the finding is suppressed, when it is (the operator's reason, or the rule's).
    pub fn suppression_reason(&self) -> Option<String> {
        let f = self.finding;
        if let Some(s) = f.suppressed.as_ref().filter(|s| s.until > self.now) {
            return Some(format!(
                "suppressed by {} until {}: {}",
                s.by,
                crate::store::timestamp(s.until),
                s.reason
            ));
        }
        f.muted.as_ref().filter(|m| m.until > self.now).map(|m| {
            format!(
                "suppressed by rule {} until {}: {}",
                m.rule,
                crate::store::timestamp(m.until),
                m.reason
            )
        })
    }
}

/// `text` cut to at most `max` characters, ending with [`TRUNCATION_MARKER`] when it was cut
/// (never in the middle of a character).
pub fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let marker = TRUNCATION_MARKER.chars().count();
    if max <= marker {
        return text.chars().take(max).collect();
    }
    let mut out: String = text.chars().take(max - marker).collect();
    out.push_str(TRUNCATION_MARKER);
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model::{Acknowledgement, History, RuleMatch, Severity, Suppression};
    use serde_json::json;

    pub fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    /// An open finding on a public bucket, of the embedded S3 policy `policy_id`.
    pub fn finding(policy_id: &str) -> Finding {
        Finding {
            arn: "arn:aws:s3:::example-bucket".into(),
            policy_id: policy_id.into(),
            account_id: "111122223333".into(),
            account_service: "111122223333_s3".into(),
            resource_type: "AWS::S3::Bucket".into(),
            state: FindingState::Active,
            severity: Severity::High,
            risk_score: None,
            evidence: json!({"PublicAccessBlock": {"BlockPublicAcls": false}}),
            first_seen: at("2026-11-01T10:00:00Z"),
            last_evaluated: at("2026-12-01T04:00:00Z"),
            resolved_at: None,
            observed_at: at("2026-12-01T03:59:00Z"),
            history: History::default(),
            acknowledged: None,
            suppressed: None,
            muted: None,
        }
    }

    pub fn catalog() -> crate::policy::Catalog {
        crate::policy::Catalog::embedded()
    }

    /// The id of an embedded policy with controls in more than one framework.
    pub fn mapped_policy(catalog: &crate::policy::Catalog) -> &Policy {
        catalog
            .policies()
            .iter()
            .find(|p| {
                p.resource_type == "AWS::S3::Bucket"
                    && p.controls
                        .iter()
                        .map(|c| &c.framework)
                        .collect::<std::collections::BTreeSet<_>>()
                        .len()
                        > 1
            })
            .expect("an S3 policy mapped to two frameworks")
    }

    #[test]
    fn the_lifecycle_follows_state_acknowledgement_and_unexpired_suppression() {
        let now = at("2026-12-02T00:00:00Z");
        let mut f = finding("P");
        assert_eq!(Lifecycle::of(&f, now), Lifecycle::Open);
        f.acknowledged = Some(Acknowledgement {
            by: "alice".into(),
            at: now,
            reason: "seen".into(),
        });
        assert_eq!(Lifecycle::of(&f, now), Lifecycle::Acknowledged);
        f.suppressed = Some(Suppression {
            by: "bob".into(),
            at: now,
            reason: "accepted".into(),
            until: at("2027-01-01T00:00:00Z"),
        });
        assert_eq!(Lifecycle::of(&f, now), Lifecycle::Suppressed);
        // An expired suppression counts for nothing
        assert_eq!(
            Lifecycle::of(&f, at("2027-02-01T00:00:00Z")),
            Lifecycle::Acknowledged
        );
        f.suppressed = None;
        f.muted = Some(RuleMatch {
            rule: "r1".into(),
            reason: "sandbox".into(),
            until: at("2027-01-01T00:00:00Z"),
        });
        assert_eq!(Lifecycle::of(&f, now), Lifecycle::Suppressed);
        f.state = FindingState::Resolved;
        assert_eq!(Lifecycle::of(&f, now), Lifecycle::Resolved);
    }

    #[test]
    fn truncation_keeps_the_limit_in_characters_and_says_so() {
        assert_eq!(truncate("short", 10), "short");
        let long = "é".repeat(300);
        let cut = truncate(&long, 256);
        assert_eq!(cut.chars().count(), 256);
        assert!(cut.ends_with(TRUNCATION_MARKER));
        assert!(cut.starts_with("éé"));
        assert_eq!(truncate("abcdef", 3), "abc");
    }

    #[test]
    fn updated_at_moves_with_every_change() {
        let mut f = finding("P");
        let s = |f: &Finding| Subject::new(f, None, at("2026-12-02T00:00:00Z")).updated_at();
        assert_eq!(s(&f), f.last_evaluated);
        f.acknowledged = Some(Acknowledgement {
            by: "a".into(),
            at: at("2026-12-01T09:00:00Z"),
            reason: "r".into(),
        });
        assert_eq!(s(&f), at("2026-12-01T09:00:00Z"));
        f.resolved_at = Some(at("2026-12-01T12:00:00Z"));
        assert_eq!(s(&f), at("2026-12-01T12:00:00Z"));
    }

    #[test]
    fn region_and_partition_come_from_the_arn() {
        let now = at("2026-12-02T00:00:00Z");
        let mut f = finding("P");
        assert_eq!(Subject::new(&f, None, now).region(), None);
        f.arn = "arn:aws-us-gov:ec2:us-gov-west-1:111122223333:volume/vol-1".into();
        let s = Subject::new(&f, None, now);
        assert_eq!(
            (s.region(), s.partition()),
            (Some("us-gov-west-1"), "aws-us-gov")
        );
    }
}
