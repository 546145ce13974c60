//! A stored finding in the AWS Security Finding Format (ASFF, schema `2018-10-08`), as Security
//! Hub's `BatchImportFindings` takes it from a custom integration: the product ARN
//! `arn:<partition>:securityhub:<region>:<account>:product/<account>/default`, in the finding's
//! own account (see `crate::securityhub` for who imports).
//!
//! The mapping, in short:
//!
//! | qrie | ASFF |
//! |---|---|
//! | `<arn>#<policy>` | `Id` (a stable hash past [`ID_MAX`] characters) |
//! | policy id | `GeneratorId`; title, description, remediation in `Title`, `Description`, `Remediation.Recommendation.Text`, cut to ASFF's limits with a marker |
//! | open / acknowledged / suppressed / resolved | `Workflow.Status` NEW / NOTIFIED / SUPPRESSED / RESOLVED; `Compliance.Status` FAILED, FAILED, FAILED, PASSED; `RecordState` ACTIVE, ACTIVE, ACTIVE, ARCHIVED |
//! | controls | `Compliance.RelatedRequirements` (`<framework>/<control>`, at most 32) and `AssociatedStandards` (Security Hub's standard ids) |
//! | resource type | `Resources[0].Type` in ASFF's names ([`resource_type`]), `Other` where ASFF has none |
//! | first seen / last evaluated / last change | `CreatedAt` and `FirstObservedAt` / `LastObservedAt` / `UpdatedAt` |
//! | risk score 0.0 ... 10.0 | `Criticality` 0 ... 100 (the score in tenths) |
//!
//! Security Hub lets a provider set `Workflow` only when it creates a finding (after that it is
//! the customer's, changed with `BatchUpdateFindings`); on its own it sets a finding's workflow
//! to RESOLVED when `Compliance.Status` turns PASSED, which is what a resolution sends. Severity,
//! criticality and types are sent in `FindingProviderFields` too, the fields a provider updates them through.
//!
//! [`shape_problems`] checks a finding against these rules (required fields, lengths, enums,
//! timestamps); the unit tests and the export integration test run every output through it.

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::{truncate, Lifecycle, Subject, PRODUCT_NAME};
use crate::model::Severity;

pub const SCHEMA_VERSION: &str = "2018-10-08";
/// ASFF's length limits, in characters.
pub const ID_MAX: usize = 512;
pub const TITLE_MAX: usize = 256;
pub const DESCRIPTION_MAX: usize = 1024;
pub const RECOMMENDATION_MAX: usize = 512;
/// `Compliance.RelatedRequirements` holds at most this many.
pub const REQUIREMENTS_MAX: usize = 32;
/// A `ProductFields` value (qrie's own fields) is cut to this.
const PRODUCT_FIELD_MAX: usize = 2048;

/// The product ARN of the default custom integration of `account` in `region`.
pub fn product_arn(partition: &str, region: &str, account: &str) -> String {
    format!("arn:{partition}:securityhub:{region}:{account}:product/{account}/default")
}

/// The ASFF `Id` of a finding: `<arn>#<policy>`, or `qrie/<policy>/<sha256>` when that would
/// pass [`ID_MAX`] characters (both stable: a re-import updates the same finding).
pub fn finding_id(arn: &str, policy_id: &str) -> String {
    let plain = format!("{arn}#{policy_id}");
    if plain.chars().count() <= ID_MAX {
        return plain;
    }
    let digest = Sha256::digest(plain.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    truncate(&format!("qrie/{policy_id}/{hex}"), ID_MAX)
}

/// ASFF's resource type for a CloudFormation-style type, where ASFF has one; `Other` otherwise.
/// Account-level settings (password policy, root user, EBS default encryption, ...) are
/// `AwsAccount`, as Security Hub's own controls report them.
pub fn resource_type(cfn_type: &str) -> &'static str {
    match cfn_type {
        "AWS::S3::Bucket" => "AwsS3Bucket",
        "AWS::S3::AccessPoint" => "AwsS3AccessPoint",
        "AWS::S3::AccountPublicAccessBlock" => "AwsS3AccountPublicAccessBlock",
        "AWS::S3::Object" => "AwsS3Object",
        "AWS::IAM::User" => "AwsIamUser",
        "AWS::IAM::Role" => "AwsIamRole",
        "AWS::IAM::Group" => "AwsIamGroup",
        "AWS::IAM::ManagedPolicy" => "AwsIamPolicy",
        "AWS::IAM::RootUser"
        | "AWS::IAM::PasswordPolicy"
        | "AWS::IAM::AccountAccess"
        | "AWS::EC2::EbsEncryptionByDefault"
        | "AWS::EC2::RegionSettings"
        | "AWS::CloudTrail::AccountTrailCoverage" => "AwsAccount",
        "AWS::EC2::Instance" => "AwsEc2Instance",
        "AWS::EC2::SecurityGroup" => "AwsEc2SecurityGroup",
        "AWS::EC2::Volume" => "AwsEc2Volume",
        "AWS::EC2::VPC" => "AwsEc2Vpc",
        "AWS::EC2::Subnet" => "AwsEc2Subnet",
        "AWS::EC2::NetworkInterface" => "AwsEc2NetworkInterface",
        "AWS::EC2::EIP" => "AwsEc2Eip",
        "AWS::EC2::NetworkAcl" => "AwsEc2NetworkAcl",
        "AWS::EC2::RouteTable" => "AwsEc2RouteTable",
        "AWS::EC2::LaunchTemplate" => "AwsEc2LaunchTemplate",
        "AWS::EC2::TransitGateway" => "AwsEc2TransitGateway",
        "AWS::EC2::VPCEndpointService" => "AwsEc2VpcEndpointService",
        "AWS::EC2::VPCPeeringConnection" => "AwsEc2VpcPeeringConnection",
        "AWS::EC2::VPNConnection" => "AwsEc2VpnConnection",
        "AWS::RDS::DBInstance" => "AwsRdsDbInstance",
        "AWS::RDS::DBCluster" => "AwsRdsDbCluster",
        "AWS::RDS::DBSnapshot" => "AwsRdsDbSnapshot",
        "AWS::RDS::DBClusterSnapshot" => "AwsRdsDbClusterSnapshot",
        "AWS::RDS::EventSubscription" => "AwsRdsEventSubscription",
        "AWS::CloudTrail::Trail" => "AwsCloudTrailTrail",
        "AWS::KMS::Key" => "AwsKmsKey",
        "AWS::Lambda::Function" => "AwsLambdaFunction",
        "AWS::SQS::Queue" => "AwsSqsQueue",
        _ => "Other",
    }
}

/// Security Hub's standard id for a framework qrie maps to, when Security Hub has the standard.
pub fn standards_id(framework: &str) -> Option<&'static str> {
    match framework {
        "fsbp" => Some("standards/aws-foundational-security-best-practices/v/1.0.0"),
        "cis-aws-v5.0" => Some("standards/cis-aws-foundations-benchmark/v/5.0.0"),
        "nist-800-53-r5" => Some("standards/nist-800-53/v/5.0.0"),
        "pci-dss-4.0" => Some("standards/pci-dss/v/4.0.1"),
        _ => None,
    }
}

/// The finding type (`namespace/category/classifier`) of a framework.
fn finding_type(framework: &str) -> String {
    let classifier = match framework {
        "fsbp" => return "Software and Configuration Checks/AWS Security Best Practices".into(),
        "cis-aws-v5.0" => "CIS AWS Foundations Benchmark",
        "nist-800-53-r5" => "NIST 800-53 Controls",
        "pci-dss-4.0" => "PCI-DSS",
        other => other,
    };
    format!("Software and Configuration Checks/Industry and Regulatory Standards/{classifier}")
}

fn label(severity: Severity) -> &'static str {
    severity.as_str()
}

/// `Workflow.Status`, `Compliance.Status` and `RecordState` of a lifecycle.
pub fn statuses(lifecycle: Lifecycle) -> (&'static str, &'static str, &'static str) {
    match lifecycle {
        Lifecycle::Open => ("NEW", "FAILED", "ACTIVE"),
        Lifecycle::Acknowledged => ("NOTIFIED", "FAILED", "ACTIVE"),
        Lifecycle::Suppressed => ("SUPPRESSED", "FAILED", "ACTIVE"),
        Lifecycle::Resolved => ("RESOLVED", "PASSED", "ARCHIVED"),
    }
}

/// The ASFF finding of `subject`, for import into Security Hub in `region` (the region of the
/// product ARN; a regional resource keeps its own region under `Resources`).
pub fn finding(subject: &Subject<'_>, region: &str) -> Value {
    let f = subject.finding;
    let (workflow, compliance_status, record_state) = statuses(subject.lifecycle());
    let mut types: Vec<String> = subject.frameworks().into_iter().map(finding_type).collect();
    if types.is_empty() {
        types.push("Software and Configuration Checks".into());
    }
    let requirements: Vec<String> = subject
        .controls()
        .into_iter()
        .map(|(framework, id)| format!("{framework}/{id}"))
        .take(REQUIREMENTS_MAX)
        .collect();
    let standards: Vec<Value> = subject
        .frameworks()
        .into_iter()
        .filter_map(standards_id)
        .map(|id| json!({"StandardsId": id}))
        .collect();
    let severity = json!({"Label": label(f.severity), "Original": f.severity.as_str()});

    let mut compliance = Map::new();
    compliance.insert("Status".into(), json!(compliance_status));
    if !requirements.is_empty() {
        compliance.insert("RelatedRequirements".into(), json!(requirements));
    }
    if !standards.is_empty() {
        compliance.insert("AssociatedStandards".into(), json!(standards));
    }

    let mut resource = Map::new();
    resource.insert("Type".into(), json!(resource_type(&f.resource_type)));
    resource.insert("Id".into(), json!(f.arn));
    resource.insert("Partition".into(), json!(subject.partition()));
    resource.insert("Region".into(), json!(subject.region().unwrap_or(region)));

    let mut product_fields = Map::new();
    product_fields.insert("qrie/PolicyId".into(), json!(f.policy_id));
    product_fields.insert("qrie/State".into(), json!(f.state.as_str()));
    product_fields.insert("qrie/ResourceType".into(), json!(f.resource_type));
    if let Some(reason) = subject.suppression_reason() {
        product_fields.insert(
            "qrie/Suppressed".into(),
            json!(truncate(&reason, PRODUCT_FIELD_MAX)),
        );
    }
    if let Some(a) = &f.acknowledged {
        product_fields.insert(
            "qrie/Acknowledged".into(),
            json!(truncate(
                &format!(
                    "by {} at {}: {}",
                    a.by,
                    crate::store::timestamp(a.at),
                    a.reason
                ),
                PRODUCT_FIELD_MAX
            )),
        );
    }
    if f.history.reopened > 0 {
        product_fields.insert(
            "qrie/Reopened".into(),
            json!(f.history.reopened.to_string()),
        );
    }

    let mut out = Map::new();
    out.insert("SchemaVersion".into(), json!(SCHEMA_VERSION));
    out.insert("Id".into(), json!(finding_id(&f.arn, &f.policy_id)));
    out.insert(
        "ProductArn".into(),
        json!(product_arn(subject.partition(), region, &f.account_id)),
    );
    out.insert("ProductName".into(), json!(PRODUCT_NAME));
    out.insert("CompanyName".into(), json!(PRODUCT_NAME));
    out.insert("GeneratorId".into(), json!(truncate(&f.policy_id, ID_MAX)));
    out.insert("AwsAccountId".into(), json!(f.account_id));
    out.insert("Region".into(), json!(region));
    out.insert("Types".into(), json!(types));
    out.insert(
        "CreatedAt".into(),
        json!(crate::store::timestamp(f.first_seen)),
    );
    out.insert(
        "UpdatedAt".into(),
        json!(crate::store::timestamp(subject.updated_at())),
    );
    out.insert(
        "FirstObservedAt".into(),
        json!(crate::store::timestamp(f.first_seen)),
    );
    out.insert(
        "LastObservedAt".into(),
        json!(crate::store::timestamp(f.last_evaluated)),
    );
    let criticality = subject.risk_score().percent();
    out.insert("Severity".into(), severity.clone());
    out.insert("Criticality".into(), json!(criticality));
    out.insert(
        "FindingProviderFields".into(),
        json!({"Severity": severity, "Criticality": criticality, "Types": types}),
    );
    out.insert("Title".into(), json!(truncate(subject.title(), TITLE_MAX)));
    out.insert(
        "Description".into(),
        json!(truncate(&subject.description(), DESCRIPTION_MAX)),
    );
    if let Some(text) = subject.remediation() {
        out.insert(
            "Remediation".into(),
            json!({"Recommendation": {"Text": truncate(text, RECOMMENDATION_MAX)}}),
        );
    }
    out.insert("Resources".into(), json!([Value::Object(resource)]));
    out.insert("Compliance".into(), Value::Object(compliance));
    out.insert("Workflow".into(), json!({"Status": workflow}));
    out.insert("RecordState".into(), json!(record_state));
    out.insert("ProductFields".into(), Value::Object(product_fields));
    Value::Object(out)
}

/// What is wrong with an ASFF finding by the rules above: each problem names the field. Empty
/// when the finding is well formed.
pub fn shape_problems(finding: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let text = |field: &str| finding.get(field).and_then(Value::as_str);
    for (field, max) in [
        ("SchemaVersion", 64),
        ("Id", ID_MAX),
        ("ProductArn", 2048),
        ("GeneratorId", ID_MAX),
        ("AwsAccountId", 12),
        ("CreatedAt", 64),
        ("UpdatedAt", 64),
        ("Title", TITLE_MAX),
        ("Description", DESCRIPTION_MAX),
    ] {
        match text(field) {
            None => problems.push(format!("{field}: missing or not a string")),
            Some(v) if v.trim().is_empty() => problems.push(format!("{field}: empty")),
            Some(v) if v.chars().count() > max => {
                problems.push(format!("{field}: longer than {max} characters"))
            }
            Some(_) => {}
        }
    }
    if text("SchemaVersion").is_some_and(|v| v != SCHEMA_VERSION) {
        problems.push(format!("SchemaVersion: not {SCHEMA_VERSION}"));
    }
    if let Some(account) = text("AwsAccountId") {
        if !crate::model::is_account_id(account) {
            problems.push("AwsAccountId: not a 12-digit account id".into());
        }
        let expected_suffix = format!(":{account}:product/{account}/default");
        if text("ProductArn").is_some_and(|arn| !arn.ends_with(&expected_suffix)) {
            problems
                .push("ProductArn: not the default product of the finding's own account".into());
        }
    }
    for field in [
        "CreatedAt",
        "UpdatedAt",
        "FirstObservedAt",
        "LastObservedAt",
    ] {
        if let Some(v) = text(field) {
            if chrono::DateTime::parse_from_rfc3339(v).is_err() {
                problems.push(format!("{field}: not an RFC 3339 time"));
            }
        }
    }
    if let (Some(c), Some(u)) = (text("CreatedAt"), text("UpdatedAt")) {
        if let (Ok(c), Ok(u)) = (
            chrono::DateTime::parse_from_rfc3339(c),
            chrono::DateTime::parse_from_rfc3339(u),
        ) {
            if u < c {
                problems.push("UpdatedAt: before CreatedAt".into());
            }
        }
    }
    match finding.get("Types").and_then(Value::as_array) {
        Some(types) if !types.is_empty() && types.len() <= 50 => {
            for t in types {
                if t.as_str()
                    .is_none_or(|t| t.split('/').count() > 3 || t.is_empty())
                {
                    problems.push(format!("Types: {t} is not namespace/category/classifier"));
                }
            }
        }
        _ => problems.push("Types: must list 1 to 50 types".into()),
    }
    const LABELS: [&str; 5] = ["INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL"];
    if !finding
        .pointer("/Severity/Label")
        .and_then(Value::as_str)
        .is_some_and(|l| LABELS.contains(&l))
    {
        problems
            .push("Severity.Label: not one of INFORMATIONAL, LOW, MEDIUM, HIGH, CRITICAL".into());
    }
    for pointer in ["/Criticality", "/FindingProviderFields/Criticality"] {
        if let Some(c) = finding.pointer(pointer) {
            if c.as_u64().is_none_or(|c| c > 100) {
                problems.push(format!(
                    "{}: not an integer from 0 to 100",
                    pointer[1..].replace('/', ".")
                ));
            }
        }
    }
    match finding.get("Resources").and_then(Value::as_array) {
        Some(resources) if !resources.is_empty() && resources.len() <= 32 => {
            for r in resources {
                for field in ["Type", "Id"] {
                    if r.get(field)
                        .and_then(Value::as_str)
                        .is_none_or(str::is_empty)
                    {
                        problems.push(format!("Resources[].{field}: missing"));
                    }
                }
            }
        }
        _ => problems.push("Resources: must list 1 to 32 resources".into()),
    }
    if let Some(text) = finding
        .pointer("/Remediation/Recommendation/Text")
        .and_then(Value::as_str)
    {
        if text.chars().count() > RECOMMENDATION_MAX {
            problems.push(format!(
                "Remediation.Recommendation.Text: longer than {RECOMMENDATION_MAX} characters"
            ));
        }
    }
    let one_of = |pointer: &str, allowed: &[&str], problems: &mut Vec<String>| {
        if !finding
            .pointer(pointer)
            .and_then(Value::as_str)
            .is_some_and(|v| allowed.contains(&v))
        {
            problems.push(format!("{pointer}: not one of {}", allowed.join(", ")));
        }
    };
    one_of(
        "/Compliance/Status",
        &["PASSED", "WARNING", "FAILED", "NOT_AVAILABLE"],
        &mut problems,
    );
    one_of(
        "/Workflow/Status",
        &["NEW", "NOTIFIED", "SUPPRESSED", "RESOLVED"],
        &mut problems,
    );
    one_of("/RecordState", &["ACTIVE", "ARCHIVED"], &mut problems);
    if finding
        .pointer("/Compliance/RelatedRequirements")
        .and_then(Value::as_array)
        .is_some_and(|r| r.len() > REQUIREMENTS_MAX)
    {
        problems.push(format!(
            "Compliance.RelatedRequirements: more than {REQUIREMENTS_MAX}"
        ));
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::tests::{at, catalog, finding as stored, mapped_policy};
    use crate::model::{Acknowledgement, FindingState, RuleMatch};

    const NOW: &str = "2026-12-02T00:00:00Z";

    #[test]
    fn the_risk_score_is_the_criticality_in_tenths() {
        // Given a finding stored with the score 8.5
        let catalog = catalog();
        let policy = mapped_policy(&catalog);
        let mut f = stored(&policy.id);
        f.risk_score = Some(crate::risk::RiskScore::from_tenths(85));
        // When it is exported, Then Criticality is 85, also where a provider updates it
        let a = finding(&Subject::new(&f, Some(policy), at(NOW)), "us-east-1");
        assert_eq!(a["Criticality"], 85);
        assert_eq!(a["FindingProviderFields"]["Criticality"], 85);
        assert_eq!(shape_problems(&a), Vec::<String>::new());
        // And a criticality outside 0..=100 is a shape problem
        let mut bad = a.clone();
        bad["Criticality"] = json!(101);
        bad["FindingProviderFields"]["Criticality"] = json!(7.5);
        let problems = shape_problems(&bad);
        assert!(
            problems.contains(&"Criticality: not an integer from 0 to 100".to_owned())
                && problems.contains(
                    &"FindingProviderFields.Criticality: not an integer from 0 to 100".to_owned()
                ),
            "{problems:?}"
        );
    }

    #[test]
    fn an_open_finding_is_a_failed_active_new_finding_of_the_account_s_default_product() {
        // Given an open finding of a policy mapped to two frameworks
        let catalog = catalog();
        let policy = mapped_policy(&catalog);
        let f = stored(&policy.id);
        // When it is exported for us-east-1
        let a = finding(&Subject::new(&f, Some(policy), at(NOW)), "us-east-1");
        // Then it is a well-formed ASFF finding of the account's default product
        assert_eq!(shape_problems(&a), Vec::<String>::new());
        assert_eq!(
            a["ProductArn"],
            "arn:aws:securityhub:us-east-1:111122223333:product/111122223333/default"
        );
        assert_eq!(
            (a["GeneratorId"].as_str(), a["AwsAccountId"].as_str()),
            (Some(policy.id.as_str()), Some("111122223333"))
        );
        assert_eq!(a["Id"], format!("{}#{}", f.arn, policy.id));
        assert_eq!(a["Severity"]["Label"], "HIGH");
        assert_eq!(a["Compliance"]["Status"], "FAILED");
        assert_eq!(
            (a["Workflow"]["Status"].as_str(), a["RecordState"].as_str()),
            (Some("NEW"), Some("ACTIVE"))
        );
        assert_eq!(a["Resources"][0]["Type"], "AwsS3Bucket");
        assert_eq!(a["Resources"][0]["Region"], "us-east-1");
        assert_eq!(a["CreatedAt"], "2026-11-01T10:00:00.000000Z");
        assert_eq!(a["LastObservedAt"], "2026-12-01T04:00:00.000000Z");
        let requirements = a["Compliance"]["RelatedRequirements"].as_array().unwrap();
        assert_eq!(
            requirements.len(),
            policy.controls.len().min(REQUIREMENTS_MAX)
        );
        assert!(!a["Compliance"]["AssociatedStandards"]
            .as_array()
            .unwrap()
            .is_empty());
        assert!(a["Types"][0]
            .as_str()
            .unwrap()
            .starts_with("Software and Configuration Checks/"));
    }

    #[test]
    fn triage_and_resolution_change_workflow_compliance_and_record_state() {
        let now = at(NOW);
        let mut f = stored("P");
        f.acknowledged = Some(Acknowledgement {
            by: "alice".into(),
            at: at("2026-12-01T08:00:00Z"),
            reason: "ticket".into(),
        });
        let a = finding(&Subject::new(&f, None, now), "eu-west-1");
        assert_eq!(a["Workflow"]["Status"], "NOTIFIED");
        assert_eq!(a["UpdatedAt"], "2026-12-01T08:00:00.000000Z");
        assert!(a["ProductFields"]["qrie/Acknowledged"]
            .as_str()
            .unwrap()
            .contains("alice"));

        f.muted = Some(RuleMatch {
            rule: "sandbox".into(),
            reason: "sandbox account".into(),
            until: at("2027-01-01T00:00:00Z"),
        });
        let a = finding(&Subject::new(&f, None, now), "eu-west-1");
        assert_eq!(
            (a["Workflow"]["Status"].as_str(), a["RecordState"].as_str()),
            (Some("SUPPRESSED"), Some("ACTIVE"))
        );
        assert!(a["ProductFields"]["qrie/Suppressed"]
            .as_str()
            .unwrap()
            .contains("rule sandbox"));

        f.state = FindingState::Resolved;
        f.resolved_at = Some(at("2026-12-01T12:00:00Z"));
        let a = finding(&Subject::new(&f, None, now), "eu-west-1");
        assert_eq!(
            (
                a["Compliance"]["Status"].as_str(),
                a["Workflow"]["Status"].as_str(),
                a["RecordState"].as_str()
            ),
            (Some("PASSED"), Some("RESOLVED"), Some("ARCHIVED"))
        );
        assert_eq!(a["UpdatedAt"], "2026-12-01T12:00:00.000000Z");
        assert_eq!(shape_problems(&a), Vec::<String>::new());
    }

    #[test]
    fn severities_are_asff_labels() {
        use crate::model::Severity::*;
        for (s, l) in [
            (Critical, "CRITICAL"),
            (High, "HIGH"),
            (Medium, "MEDIUM"),
            (Low, "LOW"),
            (Informational, "INFORMATIONAL"),
        ] {
            let mut f = stored("P");
            f.severity = s;
            let a = finding(&Subject::new(&f, None, at(NOW)), "us-east-1");
            assert_eq!(a["Severity"]["Label"], l);
            assert_eq!(a["FindingProviderFields"]["Severity"]["Label"], l);
        }
    }

    #[test]
    fn long_texts_and_ids_are_cut_to_asff_limits() {
        // Given a policy whose title, description and remediation are far too long, on an ARN
        // whose id would pass 512 characters
        let catalog = catalog();
        let mut policy = mapped_policy(&catalog).clone();
        policy.title = "T".repeat(400);
        policy.description = "D".repeat(3000);
        policy.remediation = "R".repeat(900);
        let mut f = stored(&policy.id);
        f.arn = format!("arn:aws:s3:::{}", "b".repeat(600));
        // When it is exported
        let a = finding(&Subject::new(&f, Some(&policy), at(NOW)), "us-east-1");
        // Then every text is at its limit and ends with the marker, and the id is a stable hash
        assert_eq!(shape_problems(&a), Vec::<String>::new());
        let title = a["Title"].as_str().unwrap();
        assert_eq!(title.chars().count(), TITLE_MAX);
        assert!(title.ends_with(crate::export::TRUNCATION_MARKER));
        assert_eq!(
            a["Description"].as_str().unwrap().chars().count(),
            DESCRIPTION_MAX
        );
        assert_eq!(
            a["Remediation"]["Recommendation"]["Text"]
                .as_str()
                .unwrap()
                .chars()
                .count(),
            RECOMMENDATION_MAX
        );
        let id = a["Id"].as_str().unwrap();
        assert!(id.starts_with(&format!("qrie/{}/", policy.id)), "{id}");
        assert_eq!(id, finding_id(&f.arn, &policy.id));
    }

    #[test]
    fn resource_types_use_asff_names_or_other() {
        assert_eq!(resource_type("AWS::IAM::ManagedPolicy"), "AwsIamPolicy");
        assert_eq!(resource_type("AWS::RDS::DBInstance"), "AwsRdsDbInstance");
        assert_eq!(resource_type("AWS::IAM::PasswordPolicy"), "AwsAccount");
        assert_eq!(resource_type("AWS::EC2::Snapshot"), "Other");
    }

    #[test]
    fn the_shape_check_names_what_is_wrong() {
        let mut a = finding(&Subject::new(&stored("P"), None, at(NOW)), "us-east-1");
        a["Title"] = json!("x".repeat(300));
        a["Severity"]["Label"] = json!("SEVERE");
        a["ProductArn"] =
            json!("arn:aws:securityhub:us-east-1:999999999999:product/999999999999/default");
        a.as_object_mut().unwrap().remove("Resources");
        let problems = shape_problems(&a);
        for field in ["Title", "Severity.Label", "ProductArn", "Resources"] {
            assert!(
                problems.iter().any(|p| p.starts_with(field)),
                "{field}: {problems:?}"
            );
        }
    }
}
