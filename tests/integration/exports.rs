//! Exports and Security Hub on the local AWS: findings seeded by the real inventory and scan,
//! exported by `qrie findings --format ocsf|asff` and validated (OCSF by py-ocsf-models through
//! `tests/ocsf/validate.py`, ASFF by the shape rules of `qrie::export::asff`), then imported into
//! moto's Security Hub (`BatchImportFindings`, read back with `GetFindings`): import, update and
//! archive, batches of 100, and refused findings reported.

use std::io::Write;
use std::process::{Command, Stdio};

use chrono::Utc;
use lambda_runtime::{Context, LambdaEvent};
use qrie::export::asff;
use qrie::handler::{inventory_handler, scan_handler};
use qrie::inventory::InventoryRequest;
use qrie::model::{Account, Severity};
use qrie::scan::{ScanRequest, ScanSummary};
use qrie::securityhub::{self, SecurityHub};
use qrie::store::FailedEvaluation;
use qrie_cli::{EXIT_ERROR, EXIT_OK, EXIT_USAGE};
use qrie_tests::{repo_root, World};
use serde_json::Value;

const VERSIONING: &str = "S3BucketVersioningEnabled";

async fn qrie(world: &World, line: &[&str]) -> (i32, String, String) {
    qrie_tests::run_qrie(&world.deps, line).await
}

/// Runs `tests/ocsf/validate.py` on `input`; returns (exit code, output).
fn validate_ocsf(input: &str) -> (i32, String) {
    let root = repo_root();
    let mut child = Command::new(root.join(".venv/bin/python"))
        .arg(root.join("tests/ocsf/validate.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the validator runs from .venv (make venv installs py-ocsf-models)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("export written to the validator");
    let out = child.wait_with_output().expect("validator finishes");
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

async fn inventory_and_scan(world: &World, account: &Account) -> ScanSummary {
    let request = InventoryRequest {
        service: "s3".into(),
        account_id: Some(account.account_id.clone()),
    };
    inventory_handler(LambdaEvent::new(request, Context::default()), &world.deps)
        .await
        .expect("inventory runs");
    scan_handler(
        LambdaEvent::new(ScanRequest::default(), Context::default()),
        &world.deps,
    )
    .await
    .expect("scan runs")
}

/// An account with a misconfigured bucket, inventoried and scanned; its bucket's name.
async fn scanned_account(world: &World) -> (Account, String) {
    let account = world.onboard().await;
    let s3 = world.customer_s3(&account, "us-east-1").await;
    let bucket = world.bucket("exp");
    crate::seed::misconfigured_bucket(&s3, &bucket, "us-east-1").await;
    inventory_and_scan(world, &account).await;
    (account, bucket)
}

fn array(text: &str) -> Vec<Value> {
    serde_json::from_str::<Value>(text)
        .unwrap_or_else(|e| panic!("{e}: {text}"))
        .as_array()
        .expect("a JSON array")
        .clone()
}

#[tokio::test]
async fn every_exported_finding_is_valid_ocsf_and_well_formed_asff_in_every_state() {
    // Given an account with findings: one acknowledged, one suppressed and one resolved
    let world = World::new().await;
    let (account, bucket) = scanned_account(&world).await;
    let arn = format!("arn:aws:s3:::{bucket}");
    let s3 = world.customer_s3(&account, "us-east-1").await;
    crate::seed::enable_versioning(&s3, &bucket).await;
    let rescan = inventory_and_scan(&world, &account).await;
    assert!(rescan.tally.resolved >= 1, "{rescan:?}");
    let (_, listed, _) = qrie(&world, &["findings", "--format", "json"]).await;
    let policies: Vec<String> = array(&listed)
        .iter()
        .filter(|r| r["arn"] == arn.as_str())
        .map(|r| r["policy_id"].as_str().unwrap().to_owned())
        .collect();
    assert!(policies.len() >= 2, "{listed}");
    let (acked, suppressed) = (&policies[0], &policies[1]);
    let ack = [
        "ack",
        &arn,
        acked,
        "--reason",
        "ticket SEC-1",
        "--by",
        "alice",
    ];
    assert_eq!(qrie(&world, &ack).await.0, EXIT_OK);
    let suppress = [
        "suppress",
        &arn,
        suppressed,
        "--until",
        "2099-01-01",
        "--reason",
        "accepted",
        "--by",
        "bob",
    ];
    assert_eq!(qrie(&world, &suppress).await.0, EXIT_OK);

    // When every finding is exported as OCSF
    let all = ["findings", "--state", "all", "--include-suppressed"];
    let (_, json, _) = qrie(&world, &[&all[..], &["--format", "json"]].concat()).await;
    let expected = array(&json).len();
    let (code, ocsf, err) = qrie(&world, &[&all[..], &["--format", "ocsf"]].concat()).await;
    assert_eq!(code, EXIT_OK, "{err}");
    let ocsf_rows = array(&ocsf);
    assert_eq!(ocsf_rows.len(), expected);
    // Then py-ocsf-models validates every one of them
    let (code, report) = validate_ocsf(&ocsf);
    assert_eq!(code, 0, "{report}");
    assert!(
        report.contains(&format!("{expected} valid, 0 invalid")),
        "{report}"
    );
    // And each state has its OCSF status: new, in progress, suppressed, resolved
    let status_of = |rows: &[Value], policy: &str| -> u64 {
        rows.iter()
            .find(|r| r["finding_info"]["uid"] == format!("{arn}#{policy}"))
            .and_then(|r| r["status_id"].as_u64())
            .unwrap_or_else(|| panic!("{policy} exported"))
    };
    assert_eq!(status_of(&ocsf_rows, acked), 2);
    assert_eq!(status_of(&ocsf_rows, suppressed), 3);
    assert_eq!(status_of(&ocsf_rows, VERSIONING), 4);
    // And NDJSON holds the same findings, one per line, valid too
    let (_, ndjson, _) = qrie(
        &world,
        &[&all[..], &["--format", "ocsf", "--ndjson"]].concat(),
    )
    .await;
    assert_eq!(ndjson.lines().count(), expected, "{ndjson}");
    let (code, report) = validate_ocsf(&ndjson);
    assert_eq!(code, 0, "{report}");

    // When they are exported as ASFF
    let (code, asff_out, _) = qrie(&world, &[&all[..], &["--format", "asff"]].concat()).await;
    assert_eq!(code, EXIT_OK);
    let asff_rows = array(&asff_out);
    assert_eq!(asff_rows.len(), expected);
    // Then every one is well formed, in its account's default product
    for row in &asff_rows {
        assert_eq!(asff::shape_problems(row), Vec::<String>::new(), "{row}");
        assert_eq!(row["AwsAccountId"], account.account_id.as_str());
    }
    let by_policy = |policy: &str| -> &Value {
        asff_rows
            .iter()
            .find(|r| r["GeneratorId"] == policy && r["Resources"][0]["Id"] == arn.as_str())
            .unwrap_or_else(|| panic!("{policy} exported"))
    };
    assert_eq!(by_policy(acked)["Workflow"]["Status"], "NOTIFIED");
    assert_eq!(by_policy(suppressed)["Workflow"]["Status"], "SUPPRESSED");
    let resolved = by_policy(VERSIONING);
    assert_eq!(
        (
            resolved["RecordState"].as_str(),
            resolved["Compliance"]["Status"].as_str()
        ),
        (Some("ARCHIVED"), Some("PASSED"))
    );

    // And without --include-suppressed the suppressed finding is left out, as in every format
    let (_, default_ocsf, _) =
        qrie(&world, &["findings", "--state", "all", "--format", "ocsf"]).await;
    let default_rows = array(&default_ocsf);
    assert_eq!(default_rows.len(), expected - 1);
    assert!(!default_ocsf.contains(&format!("{arn}#{suppressed}")));
}

#[tokio::test]
async fn the_validator_rejects_an_invalid_finding_and_bad_flags_are_named() {
    // Given a valid export of one finding
    let world = World::new().await;
    scanned_account(&world).await;
    let (_, ocsf, _) = qrie(&world, &["findings", "--format", "ocsf", "--ndjson"]).await;
    let mut finding: Value = serde_json::from_str(ocsf.lines().next().expect("a finding")).unwrap();
    // When it loses its required finding_info, and another gets an attribute OCSF does not have
    finding.as_object_mut().unwrap().remove("finding_info");
    let mut extra: Value = serde_json::from_str(ocsf.lines().next().unwrap()).unwrap();
    extra["colour"] = Value::from("red");
    let input = format!("{finding}\n{extra}\n");
    // Then the validator fails, naming both
    let (code, report) = validate_ocsf(&input);
    assert_eq!(code, 1, "{report}");
    assert!(report.contains("finding_info"), "{report}");
    assert!(report.contains("colour"), "{report}");
    assert!(report.contains("0 valid, 2 invalid"), "{report}");
    // And an empty export is not a pass
    assert_eq!(validate_ocsf("[]").0, 1);
    // And --ndjson without an export format, or a compliance export in OCSF, is refused
    let (code, _, err) = qrie(&world, &["findings", "--ndjson"]).await;
    assert_eq!(code, EXIT_ERROR);
    assert!(err.contains("--ndjson"), "{err}");
    let (code, _, err) = qrie(
        &world,
        &["compliance", "--framework", "fsbp", "--format", "ocsf"],
    )
    .await;
    assert_eq!(code, EXIT_ERROR, "{err}");
    assert_eq!(
        qrie(&world, &["findings", "--format", "xml"]).await.0,
        EXIT_USAGE
    );
}

/// The customer account's Security Hub, where qrie imports its findings.
async fn hub_of(world: &World, account: &Account) -> SecurityHub {
    let sdk = world.as_customer(account).await;
    let region = securityhub::import_region(&world.deps.config, &world.deps.sdk);
    SecurityHub::new(&sdk, &region)
}

fn by_id(
    findings: &[aws_sdk_securityhub::types::AwsSecurityFinding],
    id: &str,
) -> aws_sdk_securityhub::types::AwsSecurityFinding {
    findings
        .iter()
        .find(|f| f.id() == Some(id))
        .unwrap_or_else(|| panic!("{id} is in Security Hub"))
        .clone()
}

#[tokio::test]
async fn security_hub_gets_findings_from_the_scan_updates_and_archives_them() {
    // Given a deployment with Security Hub enabled and an account with a misconfigured bucket
    let mut world = World::new().await;
    world.deps.config.security_hub.enabled = true;
    let (account, bucket) = scanned_account(&world).await;
    let arn = format!("arn:aws:s3:::{bucket}");
    let id = asff::finding_id(&arn, VERSIONING);
    let hub = hub_of(&world, &account).await;
    // Then the scan imported every finding of the account into the account's Security Hub
    let (_, listed, _) = qrie(&world, &["findings", "--format", "json"]).await;
    let stored = array(&listed).len();
    let imported = hub.findings().await.expect("GetFindings");
    assert_eq!(
        imported.len(),
        stored,
        "{:?}\n{listed}",
        imported.iter().map(|f| f.id()).collect::<Vec<_>>()
    );
    let first = by_id(&imported, &id);
    assert_eq!(first.aws_account_id(), Some(account.account_id.as_str()));
    assert!(first
        .product_arn()
        .unwrap()
        .ends_with(&format!(":{0}:product/{0}/default", account.account_id)));
    assert_eq!(
        first
            .compliance()
            .and_then(|c| c.status())
            .map(|s| s.as_str()),
        Some("FAILED")
    );
    assert_eq!(first.record_state().map(|s| s.as_str()), Some("ACTIVE"));
    // And its criticality is its risk score in tenths (versioning: low, no factor, 2.0)
    assert_eq!(first.criticality(), Some(20), "{first:?}");

    // When the finding changes (acknowledged) and the table is synced by hand
    let ack = ["ack", &arn, VERSIONING, "--reason", "seen", "--by", "alice"];
    assert_eq!(qrie(&world, &ack).await.0, EXIT_OK);
    let (code, out, _) = qrie(
        &world,
        &["securityhub", "sync", "--account", &account.account_id],
    )
    .await;
    assert_eq!(code, EXIT_OK, "{out}");
    assert!(out.contains(&format!("{stored} imported")), "{out}");
    assert!(out.contains("0 failed"), "{out}");
    // Then it is the same finding (same Id, no duplicate) with a later UpdatedAt
    let updated = hub.findings().await.expect("GetFindings");
    assert_eq!(updated.len(), stored);
    let second = by_id(&updated, &id);
    assert!(second.updated_at() > first.updated_at(), "{second:?}");
    assert!(
        second
            .product_fields()
            .is_some_and(|p| p.contains_key("qrie/Acknowledged")),
        "{second:?}"
    );

    // When the bucket is fixed and scanned again
    let s3 = world.customer_s3(&account, "us-east-1").await;
    crate::seed::enable_versioning(&s3, &bucket).await;
    let summary = inventory_and_scan(&world, &account).await;
    let sent = summary.security_hub.expect("the scan reports its import");
    assert_eq!(sent.failed, 0, "{sent:?}");
    // Then the resolved finding is archived and passed, the others still active
    // (a versioned bucket may now fail policies that apply to versioned buckets only: those are
    // new findings, imported too)
    let (_, all, _) = qrie(&world, &["findings", "--state", "all", "--format", "json"]).await;
    let after = hub.findings().await.expect("GetFindings");
    assert_eq!(after.len(), array(&all).len());
    assert!(after.len() >= stored);
    let archived = by_id(&after, &id);
    assert_eq!(
        archived.record_state().map(|s| s.as_str()),
        Some("ARCHIVED")
    );
    assert_eq!(
        archived
            .compliance()
            .and_then(|c| c.status())
            .map(|s| s.as_str()),
        Some("PASSED")
    );
    assert!(after
        .iter()
        .filter(|f| f.id() != Some(id.as_str()))
        .all(|f| f.record_state().map(|s| s.as_str()) == Some("ACTIVE")));
}

#[tokio::test]
async fn imports_go_in_batches_of_100_and_refusals_are_counted_not_dropped() {
    // Given 205 stored findings of one account (more than two batches)
    let world = World::new().await;
    let account = world.onboard().await;
    let now = Utc::now();
    for i in 0..205 {
        let failed = FailedEvaluation {
            arn: format!("arn:aws:s3:::bulk-{i}-{}", world.id),
            policy_id: VERSIONING.into(),
            account_id: account.account_id.clone(),
            account_service: format!("{}_s3", account.account_id),
            resource_type: "AWS::S3::Bucket".into(),
            severity: Severity::Medium,
            risk_score: qrie::risk::RiskScore::from_tenths(40),
            evidence: serde_json::json!({"Versioning": {"Status": "Suspended"}}),
            evaluated_at: now,
            observed_at: now,
            muted: None,
        };
        world
            .deps
            .stores
            .findings
            .open(&failed)
            .await
            .expect("stored");
    }
    // When the table is synced
    let (code, out, _) = qrie(
        &world,
        &["securityhub", "sync", "--account", &account.account_id],
    )
    .await;
    // Then all of them are imported, in three calls
    assert_eq!(code, EXIT_OK, "{out}");
    assert!(
        out.contains("205 imported") && out.contains("in 3 batch(es)"),
        "{out}"
    );
    let hub = hub_of(&world, &account).await;
    assert_eq!(hub.findings().await.expect("GetFindings").len(), 205);

    // When Security Hub refuses a finding of a batch (no resources)
    let (_, ndjson, _) = qrie(&world, &["findings", "--format", "asff", "--ndjson"]).await;
    let good: Value = serde_json::from_str(ndjson.lines().next().expect("a finding")).unwrap();
    let mut bad = good.clone();
    bad["Id"] = Value::from("broken");
    bad["Resources"] = Value::Array(vec![]);
    let report = hub.import(&[good, bad]).await;
    // Then it is counted and named, and the other finding still goes in
    assert_eq!(
        (report.imported, report.failed, report.batches),
        (1, 1, 1),
        "{report:?}"
    );
    assert!(report.errors[0].starts_with("broken:"), "{report:?}");

    // And findings of an account that is not onboarded are skipped with the reason
    let stray = World::new().await;
    let failed = FailedEvaluation {
        arn: "arn:aws:s3:::stray".into(),
        policy_id: VERSIONING.into(),
        account_id: "999999999999".into(),
        account_service: "999999999999_s3".into(),
        resource_type: "AWS::S3::Bucket".into(),
        severity: Severity::Medium,
        risk_score: qrie::risk::RiskScore::from_tenths(40),
        evidence: Value::Null,
        evaluated_at: now,
        observed_at: now,
        muted: None,
    };
    stray
        .deps
        .stores
        .findings
        .open(&failed)
        .await
        .expect("stored");
    let (code, out, _) = qrie(&stray, &["securityhub", "sync"]).await;
    assert_eq!(code, EXIT_ERROR, "{out}");
    assert!(
        out.contains("1 skipped") && out.contains("999999999999: not onboarded"),
        "{out}"
    );
}

#[tokio::test]
async fn the_event_processor_imports_what_an_event_opened() {
    // Given a deployment with Security Hub enabled and a bucket made public
    let mut world = World::new().await;
    world.deps.config.security_hub.enabled = true;
    let account = world.onboard().await;
    let s3 = world.customer_s3(&account, "us-east-1").await;
    let bucket = world.bucket("shevent");
    crate::event_processor::bucket_with_acls(&s3, &bucket).await;
    crate::event_processor::set_acl(&s3, &bucket, aws_sdk_s3::types::BucketCannedAcl::PublicRead)
        .await;
    let queues = crate::event_processor::Queues::new(&world, 30).await;
    let event = crate::event_processor::s3_event(&account.account_id, "PutBucketAcl", &bucket);
    // When its event is processed
    let (_, response, summary) =
        crate::event_processor::deliver(&world, &queues, std::slice::from_ref(&event)).await;
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    // Then the findings it opened are in the account's Security Hub, and the summary says so
    let sent = summary
        .security_hub
        .clone()
        .expect("the batch reports its import");
    assert_eq!(sent.failed, 0, "{sent:?}");
    assert!(summary.refresh.opened >= 1, "{summary:?}");
    assert_eq!(
        sent.imported, summary.refresh.opened,
        "{sent:?} {summary:?}"
    );
    let arn = format!("arn:aws:s3:::{bucket}");
    let hub = hub_of(&world, &account).await;
    let imported = hub.findings().await.expect("GetFindings");
    assert_eq!(imported.len(), sent.imported);
    let public = by_id(
        &imported,
        &asff::finding_id(&arn, "S3BucketPublicReadProhibited"),
    );
    assert_eq!(
        public
            .severity()
            .and_then(|s| s.label())
            .map(|l| l.as_str()),
        Some("CRITICAL")
    );
}
