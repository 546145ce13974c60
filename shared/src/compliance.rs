//! Compliance: for one account and one framework, each control's status and the account's score.
//!
//! A framework is a control list in `policies/frameworks/<name>.tsv`; a policy maps to controls
//! in its file. For an account, each control of the framework is:
//! - **failed** when an enabled policy mapped to it has an ACTIVE finding in the account that
//!   counts (the caller leaves suppressed findings out); the failing resources are listed;
//! - **passed** when enabled policies map to it, at least one of them was evaluated on a resource
//!   of its type in the account, and none fails;
//! - **no resources** when enabled policies map to it but the account has no resource of any of
//!   their types (nothing to judge: excluded from the score, as Security Hub's "no data");
//! - **manual** when no enabled policy maps to it and the framework assesses it by hand (CIS's
//!   `Manual` controls);
//! - **not evaluated** when no enabled policy maps to it: qrie has no check for it (yet), and it
//!   says so instead of counting it as passed.
//!
//! The score is passed / (passed + failed), overall and by severity. A control's severity is the
//! highest severity of the enabled policies mapped to it (for a failed control, of the policies
//! that fail), so "how do we stand on critical controls" has an answer in every framework, CIS's
//! included, whose controls have no severity of their own.
//!
//! [`assess`] is a pure function of the catalogue, the enabled policies, the account's resource
//! counts per type and its counting findings: the scanner calls it after a daily scan to store
//! the day's summary, and the `qrie` command calls it on the live tables.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::model::{Finding, FindingState, Severity};
use crate::policy::Catalog;
use crate::scan::ActivePolicy;

/// The frameworks qrie reports on: the file stem of each control list and its display name.
pub const FRAMEWORKS: &[(&str, &str)] = &[
    ("cis-aws-v5.0", "CIS AWS Foundations Benchmark v5.0"),
    ("fsbp", "AWS Foundational Security Best Practices"),
    ("nist-800-53-r5", "NIST SP 800-53 Rev. 5"),
    ("pci-dss-4.0", "PCI DSS v4.0"),
];

/// The display name of a framework, or its file stem when it has none.
pub fn display_name(framework: &str) -> &str {
    FRAMEWORKS
        .iter()
        .find(|(stem, _)| *stem == framework)
        .map_or(framework, |(_, name)| name)
}

/// A control's standing in one account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ControlStatus {
    Failed,
    Passed,
    NoResources,
    Manual,
    NotEvaluated,
}

impl ControlStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ControlStatus::Failed => "FAILED",
            ControlStatus::Passed => "PASSED",
            ControlStatus::NoResources => "NO_RESOURCES",
            ControlStatus::Manual => "MANUAL",
            ControlStatus::NotEvaluated => "NOT_EVALUATED",
        }
    }
}

/// A resource that fails a control, through one policy.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct FailingResource {
    pub arn: String,
    pub policy_id: String,
    pub severity: Severity,
}

/// One control of the framework, judged for the account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ControlResult {
    pub id: String,
    pub title: String,
    pub status: ControlStatus,
    /// The enabled policies mapped to the control, by id.
    pub policies: Vec<String>,
    /// The highest severity of its policies (of the failing ones when it failed); none when no
    /// policy maps to it.
    pub severity: Option<Severity>,
    /// The resources that fail it, by ARN then policy.
    pub failing: Vec<FailingResource>,
}

/// Passed and failed controls of one severity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Counts {
    pub passed: usize,
    pub failed: usize,
}

impl Counts {
    /// passed / (passed + failed), or none when no control was decided.
    pub fn score(self) -> Option<f64> {
        let decided = self.passed + self.failed;
        (decided > 0).then(|| self.passed as f64 / decided as f64)
    }
}

/// One account's standing in one framework.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Assessment {
    pub framework: String,
    pub account_id: String,
    /// Every control of the framework, in the framework's own order (1.2 before 1.10).
    pub controls: Vec<ControlResult>,
    /// Controls by status.
    pub by_status: BTreeMap<ControlStatus, usize>,
    /// Passed and failed controls, overall.
    pub overall: Counts,
    /// Passed and failed controls by the control's severity.
    pub by_severity: BTreeMap<Severity, Counts>,
}

impl Assessment {
    /// passed / (passed + failed) over every decided control.
    pub fn score(&self) -> Option<f64> {
        self.overall.score()
    }

    pub fn count(&self, status: ControlStatus) -> usize {
        self.by_status.get(&status).copied().unwrap_or(0)
    }

    /// The day's summary of this assessment, as the compliance table keeps it.
    pub fn summary(&self, assessed_at: DateTime<Utc>) -> Summary {
        Summary {
            account_id: self.account_id.clone(),
            framework: self.framework.clone(),
            day: assessed_at.date_naive(),
            assessed_at,
            score: self.score(),
            passed: self.count(ControlStatus::Passed),
            failed: self.count(ControlStatus::Failed),
            no_resources: self.count(ControlStatus::NoResources),
            manual: self.count(ControlStatus::Manual),
            not_evaluated: self.count(ControlStatus::NotEvaluated),
            by_severity: self
                .by_severity
                .iter()
                .map(|(s, c)| (s.as_str().to_owned(), *c))
                .collect(),
            failed_controls: self
                .controls
                .iter()
                .filter(|c| c.status == ControlStatus::Failed)
                .map(|c| (c.id.clone(), c.failing.len()))
                .collect(),
        }
    }
}

/// One account's standing in one framework on one day: what the compliance table stores after
/// each daily scan (one item per account, framework and day; a later scan the same day replaces
/// it), so that the trend can be shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Summary {
    pub account_id: String,
    pub framework: String,
    pub day: NaiveDate,
    pub assessed_at: DateTime<Utc>,
    /// passed / (passed + failed); absent when no control was decided.
    pub score: Option<f64>,
    pub passed: usize,
    pub failed: usize,
    pub no_resources: usize,
    pub manual: usize,
    pub not_evaluated: usize,
    /// Passed and failed controls by severity name (`CRITICAL`, ...).
    pub by_severity: BTreeMap<String, Counts>,
    /// Each failed control with its number of failing (resource, policy) pairs.
    pub failed_controls: BTreeMap<String, usize>,
}

/// A framework the catalogue has no control list for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown framework {name:?} (known: {})", known.join(", "))]
pub struct UnknownFramework {
    pub name: String,
    pub known: Vec<String>,
}

/// Judges every control of `framework` for `account_id`.
///
/// `enabled` are the policies as this deployment runs them (`scan::configure`: the policies
/// table's disabled ones left out, severity overrides applied; a policy scoped to other accounts
/// does not count here); `resources` counts the account's stored resources by CloudFormation type;
/// `findings` are the account's findings that count (the caller leaves suppressed ones out;
/// resolved ones and those of other accounts are ignored here).
pub fn assess(
    catalog: &Catalog,
    framework: &str,
    account_id: &str,
    enabled: &[ActivePolicy<'_>],
    resources: &HashMap<String, usize>,
    findings: &[Finding],
) -> Result<Assessment, UnknownFramework> {
    let controls = catalog
        .framework(framework)
        .ok_or_else(|| UnknownFramework {
            name: framework.to_owned(),
            known: catalog.framework_names().map(str::to_owned).collect(),
        })?;
    let mut mapped: HashMap<&str, Vec<&ActivePolicy<'_>>> = HashMap::new();
    let in_account = enabled.iter().filter(|p| {
        p.accounts
            .as_ref()
            .is_none_or(|a| a.iter().any(|id| id == account_id))
    });
    for active in in_account {
        for control in &active.policy.controls {
            if control.framework == framework {
                mapped.entry(control.id.as_str()).or_default().push(active);
            }
        }
    }
    let mut failing_by_policy: HashMap<&str, BTreeSet<FailingResource>> = HashMap::new();
    for finding in findings {
        if finding.state == FindingState::Active && finding.account_id == account_id {
            failing_by_policy
                .entry(finding.policy_id.as_str())
                .or_default()
                .insert(FailingResource {
                    arn: finding.arn.clone(),
                    policy_id: finding.policy_id.clone(),
                    severity: finding.severity,
                });
        }
    }
    let mut ordered: Vec<_> = controls.values().collect();
    ordered.sort_by_cached_key(|c| natural_key(&c.id));
    let mut assessment = Assessment {
        framework: framework.to_owned(),
        account_id: account_id.to_owned(),
        controls: Vec::with_capacity(ordered.len()),
        by_status: BTreeMap::new(),
        overall: Counts::default(),
        by_severity: BTreeMap::new(),
    };
    for control in ordered {
        let policies = mapped.get(control.id.as_str()).cloned().unwrap_or_default();
        let failing: Vec<FailingResource> = policies
            .iter()
            .filter_map(|p| failing_by_policy.get(p.policy.id.as_str()))
            .flatten()
            .cloned()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let evaluated = policies.iter().any(|p| {
            resources
                .get(&p.policy.resource_type)
                .is_some_and(|&n| n > 0)
        });
        let status = if policies.is_empty() {
            if control.manual {
                ControlStatus::Manual
            } else {
                ControlStatus::NotEvaluated
            }
        } else if !failing.is_empty() {
            ControlStatus::Failed
        } else if evaluated {
            ControlStatus::Passed
        } else {
            ControlStatus::NoResources
        };
        let severity = if failing.is_empty() {
            policies.iter().map(|p| p.severity).min()
        } else {
            failing.iter().map(|f| f.severity).min()
        };
        *assessment.by_status.entry(status).or_default() += 1;
        let counts = |a: &mut Counts| match status {
            ControlStatus::Passed => a.passed += 1,
            ControlStatus::Failed => a.failed += 1,
            _ => {}
        };
        counts(&mut assessment.overall);
        if let Some(severity) = severity {
            if matches!(status, ControlStatus::Passed | ControlStatus::Failed) {
                counts(assessment.by_severity.entry(severity).or_default());
            }
        }
        let mut ids: Vec<String> = policies.iter().map(|p| p.policy.id.clone()).collect();
        ids.sort();
        ids.dedup();
        assessment.controls.push(ControlResult {
            id: control.id.clone(),
            title: control.title.clone(),
            status,
            policies: ids,
            severity,
            failing,
        });
    }
    Ok(assessment)
}

/// A sort key that orders control ids as their frameworks number them: `1.2` before `1.10`,
/// `AC-2` before `AC-2(1)` before `AC-10`, `S3.9` before `S3.10`.
fn natural_key(id: &str) -> Vec<(String, u64)> {
    let mut key = Vec::new();
    let (mut text, mut digits) = (String::new(), String::new());
    for c in id.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
        } else {
            if !digits.is_empty() {
                key.push((
                    std::mem::take(&mut text),
                    digits.parse().unwrap_or(u64::MAX),
                ));
                digits.clear();
            }
            text.push(c);
        }
    }
    if !text.is_empty() || !digits.is_empty() {
        key.push((text, digits.parse().unwrap_or(0)));
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use serde_json::json;

    const FRAMEWORK: &str = "# a test framework: id, title, assessment\n\
        1.1\tFirst\tAutomated\n\
        1.2\tSecond\tAutomated\n\
        1.10\tTenth\tAutomated\n\
        2.1\tBy hand\tManual\n\
        2.2\tNobody checks\tAutomated\n";

    /// A bucket policy of the test framework (the versioning check, under another id).
    fn policy(id: &str, severity: &str, controls: &[&str]) -> (String, String) {
        let text = format!(
            "id: {id}\ntitle: t\ndescription: d\nseverity: {severity}\n\
             resource_type: AWS::S3::Bucket\nremediation: r\ncontrols: {{test: [{}]}}\n\
             fails_when: {{path: Versioning.Status, op: neq, value: Enabled}}\n\
             examples: {{pass: [{{Versioning: {{Status: Enabled}}}}], fail: [{{}}]}}\n",
            controls.join(", ")
        );
        (format!("s3/{id}.yaml"), text)
    }

    fn catalog() -> Catalog {
        let files = vec![
            ("frameworks/test.tsv".to_owned(), FRAMEWORK.to_owned()),
            policy("Alpha", "high", &["1.1"]),
            policy("Beta", "critical", &["1.1", "1.2"]),
            policy("Gamma", "low", &["1.10"]),
        ];
        let catalog = Catalog::from_files(files);
        assert!(catalog.rejected.is_empty(), "{:#?}", catalog.rejected);
        catalog
    }

    fn finding(arn: &str, policy: &str, severity: Severity, state: FindingState) -> Finding {
        Finding {
            arn: arn.into(),
            policy_id: policy.into(),
            account_id: "111122223333".into(),
            account_service: "111122223333_s3".into(),
            resource_type: "AWS::S3::Bucket".into(),
            state,
            severity,
            risk_score: None,
            evidence: json!({}),
            first_seen: Utc::now(),
            last_evaluated: Utc::now(),
            resolved_at: None,
            observed_at: Utc::now(),
            history: Default::default(),
            acknowledged: None,
            suppressed: None,
            muted: None,
        }
    }

    fn enabled(catalog: &Catalog) -> Vec<ActivePolicy<'_>> {
        crate::scan::active_policies(catalog, &HashMap::new())
    }

    fn buckets(n: usize) -> HashMap<String, usize> {
        HashMap::from([("AWS::S3::Bucket".to_owned(), n)])
    }

    #[test]
    fn each_control_gets_the_status_its_policies_and_findings_give() {
        // Given a framework of five controls, three policies over 1.1, 1.2 and 1.10, and an
        // account with buckets where Beta fails one bucket (and a resolved Gamma finding)
        let catalog = catalog();
        let enabled = enabled(&catalog);
        let findings = vec![
            finding(
                "arn:aws:s3:::b",
                "Beta",
                Severity::Critical,
                FindingState::Active,
            ),
            finding(
                "arn:aws:s3:::c",
                "Gamma",
                Severity::Low,
                FindingState::Resolved,
            ),
        ];
        // When the account is assessed
        let a = assess(
            &catalog,
            "test",
            "111122223333",
            &enabled,
            &buckets(3),
            &findings,
        )
        .unwrap();
        // Then the controls come in the framework's numbering, each with its status
        let statuses: Vec<(&str, ControlStatus)> = a
            .controls
            .iter()
            .map(|c| (c.id.as_str(), c.status))
            .collect();
        assert_eq!(
            statuses,
            [
                ("1.1", ControlStatus::Failed),
                ("1.2", ControlStatus::Failed),
                ("1.10", ControlStatus::Passed),
                ("2.1", ControlStatus::Manual),
                ("2.2", ControlStatus::NotEvaluated),
            ]
        );
        // And a failed control names its failing resource and the policy, at its severity
        let first = &a.controls[0];
        assert_eq!(first.policies, ["Alpha", "Beta"]);
        assert_eq!(
            first.failing,
            [FailingResource {
                arn: "arn:aws:s3:::b".into(),
                policy_id: "Beta".into(),
                severity: Severity::Critical
            }]
        );
        assert_eq!(first.severity, Some(Severity::Critical));
        // And the score is 1 passed of 3 decided, split by severity
        assert_eq!(
            a.overall,
            Counts {
                passed: 1,
                failed: 2
            }
        );
        assert!((a.score().unwrap() - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(
            a.by_severity[&Severity::Critical],
            Counts {
                passed: 0,
                failed: 2
            }
        );
        assert_eq!(
            a.by_severity[&Severity::Low],
            Counts {
                passed: 1,
                failed: 0
            }
        );
        assert_eq!(a.count(ControlStatus::Manual), 1);
        assert_eq!(a.count(ControlStatus::NotEvaluated), 1);
    }

    #[test]
    fn an_account_without_resources_of_a_controls_types_is_not_scored_on_it() {
        // Given the same policies and an account with no bucket and no finding
        let catalog = catalog();
        let enabled = enabled(&catalog);
        // When it is assessed
        let a = assess(&catalog, "test", "111122223333", &enabled, &buckets(0), &[]).unwrap();
        // Then the controls with policies have no resources, and there is no score at all
        assert_eq!(a.count(ControlStatus::NoResources), 3);
        assert_eq!(a.count(ControlStatus::Passed), 0);
        assert_eq!(a.score(), None);
    }

    #[test]
    fn a_disabled_policy_leaves_its_control_not_evaluated_and_other_accounts_do_not_count() {
        // Given only Alpha enabled, Gamma scoped to another account, and a Beta finding and an
        // Alpha finding of another account
        let catalog = catalog();
        let mut enabled = enabled(&catalog);
        enabled.retain(|p| p.policy.id != "Beta");
        for p in &mut enabled {
            if p.policy.id == "Gamma" {
                p.accounts = Some(vec!["999988887777".into()]);
            }
        }
        let mut other = finding(
            "arn:aws:s3:::x",
            "Alpha",
            Severity::High,
            FindingState::Active,
        );
        other.account_id = "999988887777".into();
        let findings = vec![
            finding(
                "arn:aws:s3:::b",
                "Beta",
                Severity::Critical,
                FindingState::Active,
            ),
            other,
        ];
        // When the account is assessed
        let a = assess(
            &catalog,
            "test",
            "111122223333",
            &enabled,
            &buckets(1),
            &findings,
        )
        .unwrap();
        // Then 1.1 passes on Alpha alone, and 1.2 and 1.10 have no enabled policy
        let status = |id: &str| a.controls.iter().find(|c| c.id == id).unwrap().status;
        assert_eq!(status("1.1"), ControlStatus::Passed);
        assert_eq!(status("1.2"), ControlStatus::NotEvaluated);
        assert_eq!(status("1.10"), ControlStatus::NotEvaluated);
        assert_eq!(
            a.by_severity[&Severity::High],
            Counts {
                passed: 1,
                failed: 0
            }
        );
    }

    #[test]
    fn an_unknown_framework_is_refused_with_the_known_ones() {
        let catalog = catalog();
        let err = assess(&catalog, "cis", "111122223333", &[], &HashMap::new(), &[]).unwrap_err();
        assert_eq!(err.known, ["test"]);
        assert!(
            err.to_string().contains("unknown framework \"cis\""),
            "{err}"
        );
    }

    #[test]
    fn the_shipped_frameworks_all_load_and_cis_marks_its_manual_controls() {
        // Given the shipped catalogue
        let catalog = Catalog::embedded();
        // Then every framework qrie reports on has a control list
        for (stem, _) in FRAMEWORKS {
            assert!(
                catalog.framework(stem).is_some_and(|c| !c.is_empty()),
                "{stem}"
            );
        }
        // And CIS 1.1 (contact details) is manual while 1.3 (root keys) is not
        let cis = catalog.framework("cis-aws-v5.0").unwrap();
        assert!(cis["1.1"].manual);
        assert!(!cis["1.3"].manual);
        // And no FSBP, NIST or PCI control is marked manual by accident
        for stem in ["fsbp", "nist-800-53-r5", "pci-dss-4.0"] {
            assert!(
                catalog.framework(stem).unwrap().values().all(|c| !c.manual),
                "{stem}"
            );
        }
    }

    #[test]
    fn control_ids_sort_as_their_frameworks_number_them() {
        let mut ids = vec![
            "1.10", "AC-2(1)", "1.2", "S3.10", "AC-10", "S3.9", "AC-2", "10.2.1",
        ];
        ids.sort_by_key(|id| natural_key(id));
        assert_eq!(
            ids,
            ["1.2", "1.10", "10.2.1", "AC-2", "AC-2(1)", "AC-10", "S3.9", "S3.10"]
        );
    }
}
