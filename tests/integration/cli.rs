//! The `qrie` command on the local AWS: findings with their filters and formats, one finding,
//! live compliance, and triage (acknowledge, suppress, unsuppress), driven through
//! `qrie_cli::run` exactly as a shell runs the binary.

use lambda_runtime::{Context, LambdaEvent};
use qrie::handler::{inventory_handler, scan_handler};
use qrie::inventory::InventoryRequest;
use qrie::model::Account;
use qrie::scan::ScanRequest;
use qrie_cli::{EXIT_ERROR, EXIT_FINDINGS, EXIT_OK, EXIT_USAGE};
use qrie_tests::World;

const VERSIONING: &str = "S3BucketVersioningEnabled";
const PUBLIC_READ: &str = "S3BucketPublicReadProhibited";

/// Runs one command line; returns (exit code, stdout, stderr).
async fn qrie(world: &World, line: &[&str]) -> (i32, String, String) {
    qrie_tests::run_qrie(&world.deps, line).await
}

/// The live FSBP assessment of one control of the world's first account, as
/// `qrie compliance --format json` reports it.
async fn fsbp_control(world: &World, id: &str) -> serde_json::Value {
    let (_, json, _) = qrie(
        world,
        &["compliance", "--framework", "fsbp", "--format", "json"],
    )
    .await;
    let assessments: serde_json::Value = serde_json::from_str(&json).expect("json");
    assessments[0]["controls"]
        .as_array()
        .expect("controls")
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("{id} in {json}"))
        .clone()
}

/// An account with one plain bucket (unversioned, no logging), inventoried and scanned.
async fn scanned_account(world: &World) -> (Account, String) {
    let account = world.onboard().await;
    let s3 = world.customer_s3(&account, "us-east-1").await;
    let bucket = world.bucket("cli");
    s3.create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("bucket");
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
    .expect("scan runs");
    (account, format!("arn:aws:s3:::{bucket}"))
}

#[tokio::test]
async fn findings_are_listed_filtered_and_exported_and_ci_can_fail_on_them() {
    // Given a scanned account whose plain bucket fails versioning but not public read
    let world = World::new().await;
    let (account, arn) = scanned_account(&world).await;
    // When the findings are listed as a table
    let (code, table, _) = qrie(&world, &["findings"]).await;
    // Then the versioning finding is there, with its account, and the count
    assert_eq!(code, EXIT_OK);
    let line = table
        .lines()
        .find(|l| l.contains(VERSIONING))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(
        line.contains(&account.account_id) && line.contains(&arn),
        "{line}"
    );
    assert!(!table.contains(PUBLIC_READ), "{table}");
    // And the JSON export names the policy's title, controls and remediation
    let (_, json, _) = qrie(
        &world,
        &["findings", "--policy", VERSIONING, "--format", "json"],
    )
    .await;
    let rows: serde_json::Value = serde_json::from_str(&json).expect("json");
    let row = &rows.as_array().expect("a list")[0];
    assert_eq!(row["arn"], arn.as_str());
    assert_eq!(row["state"], "ACTIVE");
    assert!(row["controls"].to_string().contains("fsbp S3.14"), "{row}");
    assert!(row["remediation"].as_str().is_some_and(|r| !r.is_empty()));
    // And CSV has a header and one row per finding, the same count as the table
    let (_, csv, _) = qrie(&world, &["findings", "--format", "csv"]).await;
    let table_count = table.lines().count() - 2;
    assert_eq!(csv.lines().count() - 1, table_count, "{csv}");
    assert!(csv.starts_with("severity,state,account_id"));
    // And the filters narrow: a framework control, a severity floor, another account
    let (_, s314, _) = qrie(
        &world,
        &[
            "findings",
            "--framework",
            "fsbp",
            "--control",
            "S3.14",
            "--format",
            "csv",
        ],
    )
    .await;
    assert_eq!(s314.lines().count(), 2, "{s314}");
    let (_, critical, _) = qrie(
        &world,
        &["findings", "--severity", "critical", "--format", "csv"],
    )
    .await;
    assert!(
        !critical.contains(VERSIONING),
        "versioning is not critical: {critical}"
    );
    let (code, none, _) = qrie(
        &world,
        &["findings", "--account", "000000000000", "--fail-on-any"],
    )
    .await;
    assert_eq!(
        (code, none.contains("0 finding(s)")),
        (EXIT_OK, true),
        "{none}"
    );
    // And --fail-on-any exits 3 when something is listed
    let (code, _, _) = qrie(
        &world,
        &["findings", "--policy", VERSIONING, "--fail-on-any"],
    )
    .await;
    assert_eq!(code, EXIT_FINDINGS);
    // And bad input is named
    let (code, _, err) = qrie(&world, &["findings", "--framework", "cis"]).await;
    assert_eq!(code, EXIT_ERROR);
    assert!(err.contains("unknown framework \"cis\""), "{err}");
    let (code, _, err) = qrie(&world, &["findings", "--sevrity", "high"]).await;
    assert_eq!(code, EXIT_USAGE);
    assert!(err.contains("--sevrity"), "{err}");
}

#[tokio::test]
async fn a_finding_is_acknowledged_suppressed_until_a_date_and_unsuppressed() {
    // Given a scanned account with an open versioning finding
    let world = World::new().await;
    let (_, arn) = scanned_account(&world).await;
    // When it is acknowledged and suppressed
    let (code, _, err) = qrie(
        &world,
        &[
            "ack", &arn, VERSIONING, "--reason", "SEC-12", "--by", "alice",
        ],
    )
    .await;
    assert_eq!(code, EXIT_OK, "{err}");
    let (code, _, err) = qrie(
        &world,
        &[
            "suppress",
            &arn,
            VERSIONING,
            "--until",
            "2099-12-31",
            "--reason",
            "archive bucket",
        ],
    )
    .await;
    assert_eq!(code, EXIT_OK, "{err}");
    // Then `finding` shows both notes, the suppression by the caller's AWS identity
    let (_, shown, _) = qrie(&world, &["finding", &arn, VERSIONING]).await;
    assert!(shown.contains("acknowledged by alice"), "{shown}");
    assert!(shown.contains("suppressed by arn:aws:"), "{shown}");
    assert!(
        shown.contains("until 2100-01-01 00:00:00 UTC: archive bucket"),
        "{shown}"
    );
    assert!(shown.contains("remediation:"), "{shown}");
    // And the listing leaves it out unless asked, and then marks it
    let (_, listed, _) = qrie(&world, &["findings", "--policy", VERSIONING]).await;
    assert!(listed.contains("0 finding(s)"), "{listed}");
    let (_, all, _) = qrie(
        &world,
        &["findings", "--policy", VERSIONING, "--include-suppressed"],
    )
    .await;
    assert!(all.contains("(suppressed)"), "{all}");
    // And the live compliance no longer fails S3.14 for it
    let s314 = fsbp_control(&world, "S3.14").await;
    assert_eq!(s314["status"], "PASSED", "{s314}");
    // When it is unsuppressed, it is listed again and fails S3.14 again
    let (code, _, err) = qrie(&world, &["unsuppress", &arn, VERSIONING]).await;
    assert_eq!(code, EXIT_OK, "{err}");
    let (_, listed, _) = qrie(&world, &["findings", "--policy", VERSIONING]).await;
    assert!(listed.contains("1 finding(s)"), "{listed}");
    let (_, table, _) = qrie(&world, &["compliance", "--framework", "fsbp"]).await;
    let line = table
        .lines()
        .find(|l| l.contains(" S3.14 "))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(line.trim_start().starts_with("FAILED"), "{line}");
    assert!(
        table.contains("AWS Foundational Security Best Practices"),
        "{table}"
    );
    // And refusals say what was wrong
    for (line, expected) in [
        (
            vec![
                "suppress",
                &arn,
                VERSIONING,
                "--until",
                "2001-01-01",
                "--reason",
                "r",
            ],
            "not in the future",
        ),
        (
            vec![
                "suppress", &arn, VERSIONING, "--until", "later", "--reason", "r",
            ],
            "neither a date",
        ),
        (
            vec!["ack", &arn, "NoSuchPolicy", "--reason", "r"],
            "no finding of policy NoSuchPolicy",
        ),
        (vec!["unsuppress", &arn, VERSIONING], "is not suppressed"),
        (
            vec!["ack", &arn, VERSIONING, "--reason", " "],
            "--reason must not be empty",
        ),
        (
            vec![
                "compliance",
                "--framework",
                "fsbp",
                "--account",
                "000000000000",
            ],
            "not onboarded",
        ),
    ] {
        let (code, _, err) = qrie(&world, &line).await;
        assert_eq!(code, EXIT_ERROR, "{line:?}");
        assert!(err.contains(expected), "{line:?}: {err}");
    }
}

#[tokio::test]
async fn a_suppression_whose_expiry_has_passed_counts_the_finding_again() {
    // Given a scanned account whose versioning finding was suppressed until a minute ago (the
    // command refuses a past date, so the suppression is written as it stands after its end)
    let world = World::new().await;
    let (_, arn) = scanned_account(&world).await;
    let now = chrono::Utc::now();
    let lapsed = qrie::model::Suppression {
        by: "bob@example.com".into(),
        at: now - chrono::Duration::days(30),
        reason: "accepted until the migration".into(),
        until: now - chrono::Duration::minutes(1),
    };
    assert!(world
        .deps
        .stores
        .findings
        .suppress(&arn, VERSIONING, Some(&lapsed))
        .await
        .expect("suppressed"));
    // When the operator lists the findings and the live compliance
    let (code, listed, err) = qrie(&world, &["findings", "--policy", VERSIONING]).await;
    // Then the finding is listed as any active one, not marked suppressed
    assert_eq!(code, EXIT_OK, "{err}");
    assert!(listed.contains("1 finding(s)"), "{listed}");
    assert!(!listed.contains("(suppressed)"), "{listed}");
    // And it fails S3.14 again
    let s314 = fsbp_control(&world, "S3.14").await;
    assert_eq!(s314["status"], "FAILED", "{s314}");
    // And CI can fail on it
    let (code, _, _) = qrie(
        &world,
        &["findings", "--policy", VERSIONING, "--fail-on-any"],
    )
    .await;
    assert_eq!(code, EXIT_FINDINGS);
}

/// Opens a finding of `policy` on `arn` in `account` with `severity` and `risk_score` (tenths),
/// as an evaluation would.
async fn open_scored(
    world: &World,
    account: &Account,
    arn: &str,
    policy: &str,
    severity: qrie::model::Severity,
    risk_tenths: u32,
) {
    let now = chrono::Utc::now();
    let failed = qrie::store::FailedEvaluation {
        arn: arn.to_owned(),
        policy_id: policy.to_owned(),
        account_id: account.account_id.clone(),
        account_service: format!("{}_s3", account.account_id),
        resource_type: "AWS::S3::Bucket".into(),
        severity,
        risk_score: qrie::risk::RiskScore::from_tenths(risk_tenths),
        evidence: serde_json::json!({}),
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

#[tokio::test]
async fn findings_are_listed_highest_risk_first_and_by_severity_on_request() {
    // Given three findings whose risk order differs from their severity order: a critical one
    // with no risk factor (7.0), a high one open to the internet (7.5), a low one (2.0)
    use qrie::model::Severity;
    let world = World::new().await;
    let account = world.onboard().await;
    let arn = |name: &str| format!("arn:aws:s3:::{}", world.bucket(name));
    let (kms, ssh, versioning) = (
        "KmsKeyNotScheduledForDeletion",
        "EC2SecurityGroupSshOpenToInternet",
        VERSIONING,
    );
    open_scored(&world, &account, &arn("k"), kms, Severity::Critical, 70).await;
    open_scored(&world, &account, &arn("s"), ssh, Severity::High, 75).await;
    open_scored(&world, &account, &arn("v"), versioning, Severity::Low, 20).await;
    let order = |json: &str| -> Vec<(String, f64)> {
        let rows: Vec<serde_json::Value> = serde_json::from_str(json).expect("json");
        rows.iter()
            .map(|r| {
                (
                    r["policy_id"].as_str().expect("a policy").to_owned(),
                    r["risk_score"].as_f64().expect("a score"),
                )
            })
            .collect()
    };
    let json = [
        "findings",
        "--account",
        &account.account_id,
        "--format",
        "json",
    ];
    // When they are listed, Then the highest risk score comes first, with its score
    let (code, listed, _) = qrie(&world, &json).await;
    assert_eq!(code, EXIT_OK);
    assert_eq!(
        order(&listed),
        [
            (ssh.to_owned(), 7.5),
            (kms.to_owned(), 7.0),
            (versioning.to_owned(), 2.0)
        ]
    );
    // And the table shows the score in its first column, in the same order
    let (_, table, _) = qrie(&world, &["findings", "--account", &account.account_id]).await;
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("RISK  SEVERITY"), "{table}");
    assert!(
        lines[1].starts_with("7.5   HIGH") && lines[1].contains(ssh),
        "{table}"
    );
    assert!(
        lines[2].starts_with("7.0   CRITICAL") && lines[2].contains(kms),
        "{table}"
    );
    // And CSV ends each row with the score
    let (_, csv, _) = qrie(
        &world,
        &[
            "findings",
            "--account",
            &account.account_id,
            "--format",
            "csv",
        ],
    )
    .await;
    assert!(
        csv.lines()
            .next()
            .unwrap_or_default()
            .ends_with(",risk_score"),
        "{csv}"
    );
    assert!(
        csv.lines().nth(1).unwrap_or_default().ends_with(",7.5"),
        "{csv}"
    );
    // When they are listed --sort severity, Then the most severe comes first
    let (code, by_severity, _) = qrie(&world, &[&json[..], &["--sort", "severity"]].concat()).await;
    assert_eq!(code, EXIT_OK);
    let policies: Vec<String> = order(&by_severity).into_iter().map(|(p, _)| p).collect();
    assert_eq!(policies, [kms, ssh, versioning]);

    // When a finding was stored before scores (no RiskScore attribute)
    use aws_sdk_dynamodb::types::AttributeValue;
    use qrie::store::schema::findings as f;
    qrie::aws::dynamodb_client(&world.deps.sdk)
        .update_item()
        .table_name(&world.deps.config.tables.findings)
        .key(f::PK, AttributeValue::S(arn("s")))
        .key(f::SK, AttributeValue::S(ssh.into()))
        .update_expression("REMOVE #risk")
        .expression_attribute_names("#risk", f::RISK_SCORE)
        .send()
        .await
        .expect("UpdateItem");
    let stored = world
        .deps
        .stores
        .findings
        .for_resource(&arn("s"))
        .await
        .expect("read");
    assert_eq!(stored[0].risk_score, None);
    // Then it is listed with the score of its severity and its policy's factors (high +
    // internet), not its severity alone
    let (_, listed, _) = qrie(&world, &json).await;
    assert_eq!(order(&listed)[0], (ssh.to_owned(), 7.5));
    // And a sort that is not one of the two is refused as usage
    let (code, _, err) = qrie(&world, &["findings", "--sort", "age"]).await;
    assert_eq!(code, EXIT_USAGE, "{err}");
    assert!(err.contains("age"), "{err}");
}
