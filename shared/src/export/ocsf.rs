//! A stored finding as an OCSF Compliance Finding (class 2003, category Findings), schema
//! [`OCSF_VERSION`]: the version `py-ocsf-models` 0.10.0 implements (the library Prowler writes
//! its OCSF output with, and which `tests/ocsf/validate.py` validates every export against).
//!
//! The mapping, in short:
//!
//! | qrie | OCSF |
//! |---|---|
//! | open / acknowledged / suppressed / resolved | `status_id` New / In Progress / Suppressed / Resolved; `compliance.status_id` Fail, Fail, Fail, Pass |
//! | first occurrence / re-opened or triaged / resolved | `activity_id` Create / Update / Close (`type_uid` = 200300 + activity) |
//! | severity CRITICAL ... INFORMATIONAL | `severity_id` 5 ... 1 |
//! | `<arn>#<policy>` | `finding_info.uid` |
//! | controls by framework | `compliance.standards` (display names) and `compliance.requirements` (`<framework>/<control>`) |
//! | risk score 0.0 ... 10.0 | `unmapped.risk_score` (OCSF 1.5.0 defines `risk_score` on the Detection and Data Security Finding classes, not on Compliance Finding, and `tests/ocsf/validate.py` refuses a key the class does not have) |
//! | the resource | `resources[0]` (uid ARN, type, region, partition, evidence under `data`) and `cloud` (provider AWS, account, region) |
//!
//! Times are milliseconds since the epoch (`time`, `*_time`), with the `_dt` twins in RFC 3339.

use serde_json::{json, Map, Value};

use super::{Lifecycle, Subject, PRODUCT_NAME, PRODUCT_VERSION};
use crate::model::Severity;

/// The OCSF schema version of the exports.
pub const OCSF_VERSION: &str = "1.5.0";
/// Findings.
pub const CATEGORY_UID: u32 = 2;
/// Compliance Finding.
pub const CLASS_UID: u32 = 2003;

/// OCSF's `severity_id` of a qrie severity.
pub fn severity_id(severity: Severity) -> u8 {
    match severity {
        Severity::Informational => 1,
        Severity::Low => 2,
        Severity::Medium => 3,
        Severity::High => 4,
        Severity::Critical => 5,
    }
}

fn severity_name(severity: Severity) -> &'static str {
    match severity {
        Severity::Informational => "Informational",
        Severity::Low => "Low",
        Severity::Medium => "Medium",
        Severity::High => "High",
        Severity::Critical => "Critical",
    }
}

/// The finding's `status_id` and its caption.
pub fn status(lifecycle: Lifecycle) -> (u8, &'static str) {
    match lifecycle {
        Lifecycle::Open => (1, "New"),
        Lifecycle::Acknowledged => (2, "In Progress"),
        Lifecycle::Suppressed => (3, "Suppressed"),
        Lifecycle::Resolved => (4, "Resolved"),
    }
}

/// The finding's `activity_id` and its caption: Close for a resolved finding, Update for one
/// that was re-opened or triaged since it opened, Create otherwise.
pub fn activity(subject: &Subject<'_>) -> (u8, &'static str) {
    let f = subject.finding;
    match subject.lifecycle() {
        Lifecycle::Resolved => (3, "Close"),
        _ if f.history.reopened > 0
            || f.acknowledged.is_some()
            || f.suppressed.is_some()
            || f.muted.is_some() =>
        {
            (2, "Update")
        }
        _ => (1, "Create"),
    }
}

fn millis(t: chrono::DateTime<chrono::Utc>) -> i64 {
    t.timestamp_millis()
}

fn rfc3339(t: chrono::DateTime<chrono::Utc>) -> String {
    crate::store::timestamp(t)
}

/// The OCSF Compliance Finding of one finding.
pub fn compliance_finding(subject: &Subject<'_>) -> Value {
    let f = subject.finding;
    let lifecycle = subject.lifecycle();
    let (status_id, status_name) = status(lifecycle);
    let (activity_id, activity_name) = activity(subject);
    let (compliance_status_id, compliance_status) = match lifecycle {
        Lifecycle::Resolved => (1, "Pass"),
        _ => (3, "Fail"),
    };
    let updated = subject.updated_at();
    let standards: Vec<&str> = subject
        .frameworks()
        .into_iter()
        .map(crate::compliance::display_name)
        .collect();
    let requirements: Vec<String> = subject
        .controls()
        .into_iter()
        .map(|(framework, id)| format!("{framework}/{id}"))
        .collect();
    let region = subject.region();
    let resource_name = crate::arn::split_arn(&f.arn)
        .map(|p| p.resource.to_owned())
        .unwrap_or_else(|| f.arn.clone());

    let mut compliance = Map::new();
    compliance.insert("control".into(), json!(f.policy_id));
    if !standards.is_empty() {
        compliance.insert("standards".into(), json!(standards));
    }
    if !requirements.is_empty() {
        compliance.insert("requirements".into(), json!(requirements));
    }
    // The status's caption (`Pass`, `Fail`) is not an attribute of the compliance object in the
    // models Prowler validates with: the id, and a sentence in `desc`.
    compliance.insert("status_id".into(), json!(compliance_status_id));
    compliance.insert(
        "desc".into(),
        json!(format!("qrie policy {} {compliance_status}ed", f.policy_id)),
    );

    let mut resource = Map::new();
    resource.insert("uid".into(), json!(f.arn));
    resource.insert("name".into(), json!(resource_name));
    resource.insert("type".into(), json!(f.resource_type));
    resource.insert("cloud_partition".into(), json!(subject.partition()));
    if let Some(region) = region {
        resource.insert("region".into(), json!(region));
    }
    resource.insert("data".into(), json!({"evidence": f.evidence}));

    let mut cloud = Map::new();
    cloud.insert("provider".into(), json!("AWS"));
    cloud.insert(
        "account".into(),
        json!({"uid": f.account_id, "name": f.account_id, "type_id": 10, "type": "AWS Account"}),
    );
    if let Some(region) = region {
        cloud.insert("region".into(), json!(region));
    }

    let mut finding_info = Map::new();
    finding_info.insert("uid".into(), json!(format!("{}#{}", f.arn, f.policy_id)));
    finding_info.insert("title".into(), json!(subject.title()));
    finding_info.insert("desc".into(), json!(subject.description()));
    finding_info.insert("types".into(), json!(["Compliance Finding"]));
    finding_info.insert("created_time".into(), json!(millis(f.first_seen)));
    finding_info.insert("created_time_dt".into(), json!(rfc3339(f.first_seen)));
    finding_info.insert("first_seen_time".into(), json!(millis(f.first_seen)));
    finding_info.insert("first_seen_time_dt".into(), json!(rfc3339(f.first_seen)));
    finding_info.insert("last_seen_time".into(), json!(millis(f.last_evaluated)));
    finding_info.insert("last_seen_time_dt".into(), json!(rfc3339(f.last_evaluated)));
    finding_info.insert("modified_time".into(), json!(millis(updated)));
    finding_info.insert("modified_time_dt".into(), json!(rfc3339(updated)));

    let mut event = Map::new();
    event.insert("activity_id".into(), json!(activity_id));
    event.insert("activity_name".into(), json!(activity_name));
    event.insert("category_uid".into(), json!(CATEGORY_UID));
    event.insert("category_name".into(), json!("Findings"));
    event.insert("class_uid".into(), json!(CLASS_UID));
    event.insert("class_name".into(), json!("Compliance Finding"));
    event.insert(
        "type_uid".into(),
        json!(CLASS_UID * 100 + u32::from(activity_id)),
    );
    event.insert(
        "type_name".into(),
        json!(format!("Compliance Finding: {activity_name}")),
    );
    event.insert("severity_id".into(), json!(severity_id(f.severity)));
    event.insert("severity".into(), json!(severity_name(f.severity)));
    event.insert("status_id".into(), json!(status_id));
    event.insert("status".into(), json!(status_name));
    event.insert("status_code".into(), json!(f.state.as_str()));
    if let Some(reason) = subject.suppression_reason() {
        event.insert("status_detail".into(), json!(reason));
    } else if let Some(a) = &f.acknowledged {
        event.insert(
            "status_detail".into(),
            json!(format!("acknowledged by {}: {}", a.by, a.reason)),
        );
    }
    event.insert("message".into(), json!(subject.title()));
    event.insert("time".into(), json!(millis(updated)));
    event.insert("time_dt".into(), json!(rfc3339(updated)));
    event.insert("start_time".into(), json!(millis(f.first_seen)));
    event.insert("end_time".into(), json!(millis(f.last_evaluated)));
    event.insert(
        "metadata".into(),
        json!({
            "version": OCSF_VERSION,
            "product": {
                "name": PRODUCT_NAME,
                "vendor_name": PRODUCT_NAME,
                "uid": PRODUCT_NAME,
                "version": PRODUCT_VERSION,
            },
            "event_code": f.policy_id,
            "profiles": ["cloud"],
        }),
    );
    event.insert("finding_info".into(), Value::Object(finding_info));
    event.insert("compliance".into(), Value::Object(compliance));
    if let Some(remediation) = subject.remediation() {
        let mut r = Map::new();
        r.insert("desc".into(), json!(remediation));
        let references = subject.references();
        if !references.is_empty() {
            r.insert("references".into(), json!(references));
        }
        event.insert("remediation".into(), Value::Object(r));
    }
    event.insert("resources".into(), json!([Value::Object(resource)]));
    event.insert("cloud".into(), Value::Object(cloud));
    let mut unmapped = Map::new();
    unmapped.insert("risk_score".into(), json!(subject.risk_score()));
    if let Some(a) = &f.acknowledged {
        unmapped.insert("acknowledged".into(), json!(a));
    }
    if let Some(s) = &f.suppressed {
        unmapped.insert("suppressed".into(), json!(s));
    }
    if let Some(m) = &f.muted {
        unmapped.insert("muted".into(), json!(m));
    }
    if f.history.reopened > 0 {
        unmapped.insert("history".into(), json!(f.history));
    }
    event.insert("unmapped".into(), Value::Object(unmapped));
    Value::Object(event)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::tests::{at, catalog, finding, mapped_policy};
    use crate::model::{Acknowledgement, FindingState, Suppression};

    #[test]
    fn an_open_finding_is_a_new_failing_compliance_finding_with_its_controls() {
        // Given an open finding of a policy mapped to two frameworks
        let catalog = catalog();
        let policy = mapped_policy(&catalog);
        let f = finding(&policy.id);
        // When it is exported
        let e = compliance_finding(&Subject::new(&f, Some(policy), at("2026-12-02T00:00:00Z")));
        // Then it is a Compliance Finding, new, failing, created
        assert_eq!(
            (e["class_uid"].as_u64(), e["category_uid"].as_u64()),
            (Some(2003), Some(2))
        );
        assert_eq!(
            (e["activity_id"].as_u64(), e["type_uid"].as_u64()),
            (Some(1), Some(200301))
        );
        assert_eq!(
            (
                e["status_id"].as_u64(),
                e["compliance"]["status_id"].as_u64()
            ),
            (Some(1), Some(3))
        );
        assert_eq!(e["severity_id"], 4);
        assert_eq!(e["metadata"]["version"], OCSF_VERSION);
        assert_eq!(e["metadata"]["product"]["name"], "qrie");
        assert_eq!(e["finding_info"]["uid"], format!("{}#{}", f.arn, policy.id));
        assert_eq!(e["finding_info"]["title"], policy.title);
        assert_eq!(
            e["finding_info"]["first_seen_time"],
            f.first_seen.timestamp_millis()
        );
        assert_eq!(
            e["finding_info"]["last_seen_time"],
            f.last_evaluated.timestamp_millis()
        );
        assert_eq!(e["cloud"]["provider"], "AWS");
        assert_eq!(e["cloud"]["account"]["uid"], "111122223333");
        assert_eq!(e["resources"][0]["uid"], f.arn);
        assert_eq!(e["resources"][0]["data"]["evidence"], f.evidence);
        // And every control is a requirement, under its framework's standard
        let requirements = e["compliance"]["requirements"].as_array().unwrap();
        assert_eq!(requirements.len(), policy.controls.len());
        for c in &policy.controls {
            assert!(requirements.contains(&json!(format!("{}/{}", c.framework, c.id))));
        }
        assert!(e["compliance"]["standards"].as_array().unwrap().len() >= 2);
        assert_eq!(e["remediation"]["desc"], policy.remediation.trim());
    }

    #[test]
    fn the_risk_score_is_unmapped_as_stored_or_from_the_policy() {
        // Given a finding stored with a score, and one stored before scores
        let catalog = catalog();
        let policy = catalog.get("S3BucketPublicReadProhibited").unwrap();
        let mut f = finding(&policy.id);
        f.risk_score = Some(crate::risk::RiskScore::from_tenths(95));
        let now = at("2026-12-02T00:00:00Z");
        // When they are exported, Then the stored score is sent as a number
        let e = compliance_finding(&Subject::new(&f, Some(policy), now));
        assert_eq!(e["unmapped"]["risk_score"], json!(9.5));
        // And the unscored one gets its severity (high) with the policy's factors (public)
        f.risk_score = None;
        let e = compliance_finding(&Subject::new(&f, Some(policy), now));
        assert_eq!(
            e["unmapped"]["risk_score"],
            json!(crate::risk::score(f.severity, policy.risk).value())
        );
        assert_eq!(e["unmapped"]["risk_score"], json!(7.0));
        // And OCSF 1.5.0's top-level risk attributes (not in a Compliance Finding) are not set
        assert!(e.get("risk_score").is_none());
    }

    #[test]
    fn acknowledged_suppressed_and_resolved_findings_have_their_statuses() {
        let now = at("2026-12-02T00:00:00Z");
        let mut f = finding("Gone");
        f.acknowledged = Some(Acknowledgement {
            by: "alice".into(),
            at: now,
            reason: "ticket 42".into(),
        });
        let e = compliance_finding(&Subject::new(&f, None, now));
        assert_eq!(
            (e["status_id"].as_u64(), e["activity_id"].as_u64()),
            (Some(2), Some(2))
        );
        assert!(e["status_detail"].as_str().unwrap().contains("ticket 42"));
        // A finding of a policy no longer loaded keeps its id as title
        assert_eq!(e["finding_info"]["title"], "Gone");
        assert!(e.get("remediation").is_none());

        f.suppressed = Some(Suppression {
            by: "bob".into(),
            at: now,
            reason: "accepted risk".into(),
            until: at("2027-01-01T00:00:00Z"),
        });
        let e = compliance_finding(&Subject::new(&f, None, now));
        assert_eq!(e["status_id"], 3);
        assert!(e["status_detail"]
            .as_str()
            .unwrap()
            .contains("accepted risk"));
        assert_eq!(e["unmapped"]["suppressed"]["by"], "bob");

        f.state = FindingState::Resolved;
        f.resolved_at = Some(at("2026-12-03T00:00:00Z"));
        let e = compliance_finding(&Subject::new(&f, None, now));
        assert_eq!(
            (e["status_id"].as_u64(), e["activity_id"].as_u64()),
            (Some(4), Some(3))
        );
        assert_eq!(
            (
                e["compliance"]["status_id"].as_u64(),
                e["type_uid"].as_u64()
            ),
            (Some(1), Some(200303))
        );
        assert_eq!(e["time"], at("2026-12-03T00:00:00Z").timestamp_millis());
    }

    #[test]
    fn severities_map_to_ocsf_ids() {
        use crate::model::Severity::*;
        let ids: Vec<u8> = [Informational, Low, Medium, High, Critical]
            .into_iter()
            .map(severity_id)
            .collect();
        assert_eq!(ids, vec![1, 2, 3, 4, 5]);
    }

    #[test]
    fn a_regional_resource_names_its_region_in_the_resource_and_the_cloud() {
        let mut f = finding("P");
        f.arn = "arn:aws:ec2:eu-west-1:111122223333:volume/vol-1".into();
        let e = compliance_finding(&Subject::new(&f, None, at("2026-12-02T00:00:00Z")));
        assert_eq!(e["resources"][0]["region"], "eu-west-1");
        assert_eq!(e["resources"][0]["name"], "volume/vol-1");
        assert_eq!(e["cloud"]["region"], "eu-west-1");
    }
}
