//! KMS, CloudTrail and Lambda posture end to end on the local AWS: a customer account seeded in
//! two regions with each misconfiguration and a compliant twin, inventoried and scanned; exactly
//! the expected findings; a Lambda secret that appears masked in the evidence and nowhere raw
//! (every table, every log line); and one real-time event per service through a real SQS
//! queue (a change opens its finding, the fix resolves it).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::sync::{Arc, Mutex};

use aws_sdk_kms::types::KeySpec;
use aws_sdk_lambda::types::Runtime;
use chrono::Utc;
use lambda_runtime::{Context, LambdaEvent};
use qrie::handler::{inventory_handler, scan_handler};
use qrie::inventory::{InventoryRequest, InventorySummary};
use qrie::model::{Account, Finding, FindingState};
use qrie::scan::{ScanRequest, ScanSummary};
use qrie_tests::World;
use serde_json::{json, Value};

use crate::data_seed::{self as seed, KEY_ID, SECRET_KEY};
use crate::event_processor::{deliver, Queues};

pub(crate) async fn inventory(world: &World, account: &Account, service: &str) -> InventorySummary {
    let request = InventoryRequest {
        service: service.into(),
        account_id: Some(account.account_id.clone()),
    };
    inventory_handler(LambdaEvent::new(request, Context::default()), &world.deps)
        .await
        .expect("inventory runs")
}

pub(crate) async fn scan(world: &World, service: &str) -> ScanSummary {
    let request = ScanRequest {
        service: Some(service.into()),
        ..ScanRequest::default()
    };
    scan_handler(LambdaEvent::new(request, Context::default()), &world.deps)
        .await
        .expect("scan runs")
}

async fn findings_of(world: &World, arn: &str) -> Vec<Finding> {
    world
        .deps
        .stores
        .findings
        .for_resource(arn)
        .await
        .expect("findings read")
}

/// The active policies of each resource (resources with none left out).
async fn active_by_resource(world: &World, arns: &[&str]) -> BTreeMap<String, BTreeSet<String>> {
    let mut out = BTreeMap::new();
    for arn in arns {
        let active: BTreeSet<String> = findings_of(world, arn)
            .await
            .into_iter()
            .filter(|f| f.state == FindingState::Active)
            .map(|f| f.policy_id)
            .collect();
        if !active.is_empty() {
            out.insert((*arn).to_owned(), active);
        }
    }
    out
}

fn set(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|s| (*s).to_owned()).collect()
}

fn key_arn(account: &Account, region: &str, id: &str) -> String {
    format!("arn:aws:kms:{region}:{}:key/{id}", account.account_id)
}

#[tokio::test]
async fn kms_inventory_and_scan_find_exactly_the_misconfigured_keys() {
    // Given keys in two regions: one without rotation, one whose policy lets anyone use it, one
    // scheduled for deletion, one disabled and left behind, and compliant twins (a rotating key in each region, an
    // asymmetric key, which cannot rotate)
    let world = World::new().await;
    let account = world.onboard().await;
    let us = seed::kms(&world, &account, "us-east-1").await;
    let eu = seed::kms(&world, &account, "eu-west-1").await;
    let static_key = seed::key(&us, "no rotation").await;
    let public_key = seed::key(&us, "shared with everyone").await;
    seed::enable_rotation(&us, &public_key).await;
    seed::make_key_public(&us, &public_key, &account.account_id).await;
    let rotating_us = seed::key(&us, "compliant").await;
    seed::enable_rotation(&us, &rotating_us).await;
    let idle = seed::key(&us, "disabled, left behind").await;
    seed::enable_rotation(&us, &idle).await;
    us.disable_key().key_id(&idle).send().await.unwrap();
    us.create_alias()
        .alias_name(format!("alias/orders-{}", world.id))
        .target_key_id(&rotating_us)
        .send()
        .await
        .unwrap();
    let doomed = seed::key(&eu, "to be deleted").await;
    seed::enable_rotation(&eu, &doomed).await;
    eu.schedule_key_deletion()
        .key_id(&doomed)
        .pending_window_in_days(7)
        .send()
        .await
        .unwrap();
    let rotating_eu = seed::key(&eu, "compliant").await;
    seed::enable_rotation(&eu, &rotating_eu).await;
    let signing = seed::key_of_spec(&eu, KeySpec::Rsa2048).await;

    // When the inventory and the scan run
    let summary = inventory(&world, &account, "kms").await;
    assert!(summary.errors.is_empty(), "{:?}", summary.errors);
    let kms = &summary.accounts[0].services["kms"];
    assert_eq!(kms.by_region.get("us-east-1"), Some(&4), "{kms:?}");
    assert_eq!(kms.by_region.get("eu-west-1"), Some(&3), "{kms:?}");
    let first = scan(&world, "kms").await;
    assert!(first.errors.is_empty(), "{:?}", first.errors);

    // Then exactly the misconfigured keys fail, each for its own reason
    let arns: Vec<String> = [
        ("us-east-1", &static_key),
        ("us-east-1", &public_key),
        ("us-east-1", &rotating_us),
        ("eu-west-1", &doomed),
        ("eu-west-1", &rotating_eu),
        ("eu-west-1", &signing),
        ("us-east-1", &idle),
    ]
    .iter()
    .map(|(region, id)| key_arn(&account, region, id))
    .collect();
    let refs: Vec<&str> = arns.iter().map(String::as_str).collect();
    let expected: BTreeMap<String, BTreeSet<String>> = [
        (arns[0].clone(), set(&["KmsKeyRotationEnabled"])),
        (arns[1].clone(), set(&["KmsKeyNotPubliclyAccessible"])),
        (arns[3].clone(), set(&["KmsKeyNotScheduledForDeletion"])),
        (arns[6].clone(), set(&["KmsKeyNotDisabled"])),
    ]
    .into();
    assert_eq!(active_by_resource(&world, &refs).await, expected);
    // And the stored key carries its alias, its state and its region
    let stored = world
        .deps
        .stores
        .resources
        .get(&format!("{}_kms", account.account_id), &arns[2])
        .await
        .unwrap()
        .expect("the compliant key is stored");
    assert_eq!(stored.region, "us-east-1");
    assert_eq!(
        stored.configuration["Aliases"],
        json!([format!("alias/orders-{}", world.id)])
    );
    assert_eq!(stored.configuration["KeyRotationEnabled"], true);

    // When the static key's rotation is enabled and its rotation change goes through the queue
    seed::enable_rotation(&us, &static_key).await;
    let queues = Queues::new(&world, 30).await;
    let body = kms_event(&account, "EnableKeyRotation", "us-east-1", &static_key);
    let (_, response, report) = deliver(&world, &queues, &[body]).await;
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    assert_eq!(report.processed, 1, "{report:?}");
    // Then its finding is resolved in real time
    let after = findings_of(&world, &arns[0]).await;
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].state, FindingState::Resolved);
}

/// An EventBridge "AWS API Call via CloudTrail" event of `source` (`kms`, `cloudtrail`,
/// `lambda`) with the given record fields.
fn api_call(
    account: &Account,
    source: &str,
    event_name: &str,
    region: &str,
    fields: Value,
) -> String {
    let mut detail = json!({
        "eventVersion": "1.09",
        "userIdentity": {"type": "IAMUser", "accountId": account.account_id, "userName": "alice"},
        "eventTime": Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "eventSource": format!("{source}.amazonaws.com"),
        "eventName": event_name,
        "awsRegion": region,
        "sourceIPAddress": "198.51.100.10",
        "eventID": uuid::Uuid::new_v4().to_string(),
        "readOnly": false,
        "eventType": "AwsApiCall",
        "managementEvent": true,
        "recipientAccountId": account.account_id,
        "eventCategory": "Management",
    });
    if let (Some(d), Some(f)) = (detail.as_object_mut(), fields.as_object()) {
        d.extend(f.clone());
    }
    json!({
        "version": "0",
        "id": uuid::Uuid::new_v4().to_string(),
        "detail-type": "AWS API Call via CloudTrail",
        "source": format!("aws.{source}"),
        "account": account.account_id,
        "time": Utc::now().to_rfc3339(),
        "region": region,
        "resources": [],
        "detail": detail,
    })
    .to_string()
}

fn kms_event(account: &Account, event_name: &str, region: &str, key_id: &str) -> String {
    let arn = key_arn(account, region, key_id);
    api_call(
        account,
        "kms",
        event_name,
        region,
        json!({
            "requestParameters": {"keyId": key_id},
            "responseElements": null,
            "resources": [{"accountId": account.account_id, "type": "AWS::KMS::Key", "ARN": arn}],
        }),
    )
}

const COVERAGE_POLICIES: &[&str] = &[
    "CloudTrailMultiRegionManagementEvents",
    "CloudTrailEnabled",
    "CloudTrailS3ObjectLevelWriteLogging",
    "CloudTrailS3ObjectLevelReadLogging",
];

#[tokio::test]
async fn cloudtrail_trails_are_listed_once_at_home_and_coverage_follows_logging_in_real_time() {
    // Given a compliant multi-Region trail homed in us-east-1 (validation, KMS, CloudWatch Logs,
    // Insights, logging, all management and S3 object events) and a single-Region trail in eu-west-1
    // with none of that, not logging
    let world = World::new().await;
    let account = world.onboard().await;
    let id = &world.id;
    let (org, local) = (format!("org-{id}"), format!("local-{id}"));
    let key = format!("arn:aws:kms:us-east-1:{}:key/trail-key", account.account_id);
    let group = format!(
        "arn:aws:logs:us-east-1:{}:log-group:trail:*",
        account.account_id
    );
    let role = format!("arn:aws:iam::{}:role/trail-logs", account.account_id);
    let org_arn = seed::trail(&world, &account, "us-east-1", &org, |t| {
        t.is_multi_region_trail(true)
            .enable_log_file_validation(true)
            .kms_key_id(&key)
            .cloud_watch_logs_log_group_arn(&group)
            .cloud_watch_logs_role_arn(&role)
    })
    .await;
    let us = seed::cloudtrail(&world, &account, "us-east-1").await;
    seed::record_everything(&us, &org_arn).await;
    us.put_insight_selectors()
        .trail_name(&org_arn)
        .insight_selectors(
            aws_sdk_cloudtrail::types::InsightSelector::builder()
                .insight_type(aws_sdk_cloudtrail::types::InsightType::ApiCallRateInsight)
                .build(),
        )
        .send()
        .await
        .unwrap();
    us.start_logging().name(&org_arn).send().await.unwrap();
    let local_arn = seed::trail(&world, &account, "eu-west-1", &local, |t| t).await;

    // When the inventory and the scan run
    let summary = inventory(&world, &account, "cloudtrail").await;
    assert!(summary.errors.is_empty(), "{:?}", summary.errors);
    let first = scan(&world, "cloudtrail").await;
    assert!(first.errors.is_empty(), "{:?}", first.errors);

    // Then each trail is stored once, in its home region (the multi-Region trail's shadow in
    // eu-west-1 is not a second resource), and the account's coverage once
    let trails = &summary.accounts[0].services["cloudtrail"];
    assert_eq!(trails.by_region.get("eu-west-1"), Some(&1), "{trails:?}");
    assert_eq!(
        trails.resources, 3,
        "two trails and the coverage: {trails:?}"
    );
    let partition = format!("{}_cloudtrail", account.account_id);
    let stored_org = world
        .deps
        .stores
        .resources
        .get(&partition, &org_arn)
        .await
        .unwrap()
        .expect("the multi-Region trail is stored");
    assert_eq!(stored_org.region, "us-east-1");
    assert_eq!(
        stored_org.configuration["ManagementEvents"],
        json!({"Read": true, "Write": true})
    );
    let coverage = format!(
        "arn:aws:cloudtrail::{}:account-trail-coverage",
        account.account_id
    );

    // And exactly the single-Region trail fails, on validation, encryption and CloudWatch Logs;
    // the compliant trail and the account's coverage pass
    let arns = [org_arn.as_str(), local_arn.as_str(), coverage.as_str()];
    let expected: BTreeMap<String, BTreeSet<String>> = [(
        local_arn.clone(),
        set(&[
            "CloudTrailLogFileValidationEnabled",
            "CloudTrailKmsEncryptionEnabled",
            "CloudTrailCloudWatchLogsIntegrated",
        ]),
    )]
    .into();
    assert_eq!(active_by_resource(&world, &arns).await, expected);

    // When the multi-Region trail stops logging and its StopLogging event goes through the queue
    us.stop_logging().name(&org_arn).send().await.unwrap();
    let queues = Queues::new(&world, 30).await;
    let stop = trail_event(&account, "StopLogging", &org_arn);
    let (_, response, report) = deliver(&world, &queues, &[stop]).await;
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    assert_eq!(report.failed, 0, "{report:?}");

    // Then the account's coverage fails every account-wide requirement, naming the one not met
    let opened = active_by_resource(&world, &[coverage.as_str()]).await;
    assert_eq!(
        opened.get(&coverage),
        Some(&set(COVERAGE_POLICIES)),
        "{opened:?}"
    );
    let finding = findings_of(&world, &coverage)
        .await
        .into_iter()
        .find(|f| f.policy_id == "CloudTrailMultiRegionManagementEvents")
        .expect("the CIS 3.1 finding");
    let evidence = finding.evidence.to_string();
    assert!(evidence.contains("IsLogging"), "{evidence}");

    // When it starts logging again and StartLogging goes through the queue
    us.start_logging().name(&org_arn).send().await.unwrap();
    let start = trail_event(&account, "StartLogging", &org_arn);
    let (_, response, _) = deliver(&world, &queues, &[start]).await;
    assert!(response.batch_item_failures.is_empty(), "{response:?}");

    // Then the coverage's findings are all resolved
    let after = findings_of(&world, &coverage).await;
    assert_eq!(after.len(), COVERAGE_POLICIES.len());
    assert!(
        after.iter().all(|f| f.state == FindingState::Resolved),
        "{after:?}"
    );
}

fn trail_event(account: &Account, event_name: &str, trail_arn: &str) -> String {
    api_call(
        account,
        "cloudtrail",
        event_name,
        "us-east-1",
        json!({"requestParameters": {"name": trail_arn}, "responseElements": null}),
    )
}

/// A log writer the test reads back: every line any code logs while the guard is held.
#[derive(Clone, Default)]
struct CapturedLogs(Arc<Mutex<Vec<u8>>>);

impl Write for CapturedLogs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut lines) = self.0.lock() {
            lines.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Every item of a table, as JSON-ish text (attribute values' Debug form, which shows strings
/// whole).
async fn table_text(world: &World, table: &str) -> String {
    let dynamo = qrie::aws::dynamodb_client(&world.deps.sdk);
    let mut text = String::new();
    let mut pages = dynamo.scan().table_name(table).into_paginator().send();
    while let Some(page) = pages.next().await {
        for item in page.expect("scan page").items() {
            text.push_str(&format!("{item:?}\n"));
        }
    }
    text
}

#[tokio::test(flavor = "current_thread")]
async fn lambda_inventory_and_scan_find_exactly_the_misconfigured_functions_and_no_raw_secret() {
    // Given every log line captured from here on
    let logs = CapturedLogs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    // And functions in two regions: one on a deprecated runtime (python3.9) with an AWS secret
    // key and key id in its environment (encrypted with the AWS managed key only),
    // one that anyone may invoke (a policy statement for "*" without a condition), and their
    // compliant twins in a VPC with clean environments (one encrypted with a customer managed
    // key, one invoked by S3 with a source condition)
    // (the local AWS never returns a dead-letter target, so the dead-letter policy would fail
    // every function here: it is turned off and judged on its examples)
    let world = World::new().await;
    disable_policy(&world, "LambdaFunctionDeadLetterQueue").await;
    let account = world.onboard().await;
    let role = seed::execution_role(&world, &account).await;
    let us = seed::lambda(&world, &account, "us-east-1").await;
    let eu = seed::lambda(&world, &account, "eu-west-1").await;
    let id = &world.id;
    let leaky = seed::function(&us, &format!("leaky-{id}"), &role, Runtime::Python39, |f| {
        f.environment(seed::leaky_environment())
            .vpc_config(seed::vpc())
    })
    .await;
    let public = seed::function(
        &eu,
        &format!("public-{id}"),
        &role,
        Runtime::Nodejs22x,
        |f| f.vpc_config(seed::vpc()),
    )
    .await;
    eu.add_permission()
        .function_name(format!("public-{id}"))
        .statement_id("anyone")
        .action("lambda:InvokeFunction")
        .principal("*")
        .send()
        .await
        .unwrap();
    let clean_us = seed::function(
        &us,
        &format!("clean-{id}"),
        &role,
        Runtime::Python313,
        |f| {
            f.vpc_config(seed::vpc())
                .environment(
                    aws_sdk_lambda::types::Environment::builder()
                        .variables("TABLE", "orders")
                        .build(),
                )
                .kms_key_arn(format!(
                    "arn:aws:kms:us-east-1:{}:key/1234abcd-12ab-34cd-56ef-1234567890ab",
                    account.account_id
                ))
        },
    )
    .await;
    let clean_eu = seed::function(
        &eu,
        &format!("clean-{id}"),
        &role,
        Runtime::Nodejs22x,
        |f| f.vpc_config(seed::vpc()),
    )
    .await;
    eu.add_permission()
        .function_name(format!("clean-{id}"))
        .statement_id("s3")
        .action("lambda:InvokeFunction")
        .principal("s3.amazonaws.com")
        .source_arn("arn:aws:s3:::uploads")
        .source_account(&account.account_id)
        .send()
        .await
        .unwrap();
    // And one outside any VPC, and one with a URL anyone may call (auth type NONE)
    let outside = seed::function(
        &us,
        &format!("outside-{id}"),
        &role,
        Runtime::Python313,
        |f| f,
    )
    .await;
    let open_url = seed::function(&eu, &format!("url-{id}"), &role, Runtime::Python313, |f| {
        f.vpc_config(seed::vpc())
    })
    .await;
    seed::public_url(&eu, &format!("url-{id}")).await;

    // When the inventory and the scan run
    let summary = inventory(&world, &account, "lambda").await;
    assert!(summary.errors.is_empty(), "{:?}", summary.errors);
    let first = scan(&world, "lambda").await;
    assert!(first.errors.is_empty(), "{:?}", first.errors);

    // Then exactly the misconfigured functions fail
    let arns = [
        leaky.as_str(),
        public.as_str(),
        clean_us.as_str(),
        clean_eu.as_str(),
        outside.as_str(),
        open_url.as_str(),
    ];
    // (on AWS the URL's permission statement carries a lambda:FunctionUrlAuthType condition;
    // the local AWS drops it, so the statement is an unconditional "*" and the public-policy
    // check reports it too)
    let expected: BTreeMap<String, BTreeSet<String>> = [
        (
            leaky.clone(),
            set(&[
                "LambdaFunctionNoSecretsInEnvironment",
                "LambdaFunctionSupportedRuntime",
                "LambdaFunctionEnvironmentEncryptedWithCmk",
            ]),
        ),
        (public.clone(), set(&["LambdaFunctionNotPublic"])),
        (outside.clone(), set(&["LambdaFunctionInVpc"])),
        (
            open_url.clone(),
            set(&["LambdaFunctionUrlRequiresAuth", "LambdaFunctionNotPublic"]),
        ),
    ]
    .into();
    assert_eq!(active_by_resource(&world, &arns).await, expected);

    // And the stored configuration names the variables and the masked detections, not values
    let stored = world
        .deps
        .stores
        .resources
        .get(&format!("{}_lambda", account.account_id), &leaky)
        .await
        .unwrap()
        .expect("the leaky function is stored");
    let secrets = &stored.configuration["EnvironmentSecrets"];
    assert!(
        secrets.as_array().is_some_and(|s| s
            .iter()
            .any(|d| d["Variable"] == "BILLING_SECRET_ACCESS_KEY"
                && d["Detector"] == "aws_secret_access_key")),
        "{secrets}"
    );
    assert_eq!(
        stored.configuration["EnvironmentVariableNames"],
        json!([
            "BILLING_ACCESS_KEY_ID",
            "BILLING_SECRET_ACCESS_KEY",
            "LOG_LEVEL"
        ])
    );

    // And the finding's evidence names the variable and shows the secret masked
    let finding = findings_of(&world, &leaky)
        .await
        .into_iter()
        .find(|f| f.policy_id == "LambdaFunctionNoSecretsInEnvironment")
        .expect("the secrets finding");
    let evidence = finding.evidence.to_string();
    assert!(evidence.contains("BILLING_SECRET_ACCESS_KEY"), "{evidence}");
    assert!(evidence.contains("aws_secret_access_key"), "{evidence}");
    assert!(
        evidence.contains("Masked") || evidence.contains("Detector"),
        "{evidence}"
    );

    // And the raw secret and key id are in no table and no log line
    let tables = &world.deps.config.tables;
    for table in [
        &tables.resources,
        &tables.findings,
        &tables.policies,
        &tables.accounts,
    ] {
        let text = table_text(&world, table).await;
        assert!(!text.contains(SECRET_KEY), "raw secret in {table}");
        assert!(!text.contains(KEY_ID), "raw key id in {table}");
    }
    let captured = String::from_utf8_lossy(&logs.0.lock().expect("logs")).into_owned();
    assert!(
        captured.contains("function page listed"),
        "logs were captured"
    );
    assert!(!captured.contains(SECRET_KEY), "raw secret in the logs");
    assert!(!captured.contains(KEY_ID), "raw key id in the logs");

    // When the public statement is removed and its event goes through the queue
    eu.remove_permission()
        .function_name(format!("public-{id}"))
        .statement_id("anyone")
        .send()
        .await
        .unwrap();
    let queues = Queues::new(&world, 30).await;
    let body = api_call(
        &account,
        "lambda",
        "RemovePermission20150331v2",
        "eu-west-1",
        json!({"requestParameters": {"functionName": format!("public-{id}"), "statementId": "anyone"},
               "responseElements": null}),
    );
    let (_, response, report) = deliver(&world, &queues, &[body]).await;
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    assert_eq!(report.processed, 1, "{report:?}");
    // Then its finding is resolved in real time
    let after = findings_of(&world, &public).await;
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].state, FindingState::Resolved);
}

/// Turns a policy off for this test's world (a row in its policies table), for a policy whose
/// failing state the local AWS cannot avoid.
async fn disable_policy(world: &World, policy_id: &str) {
    use aws_sdk_dynamodb::types::AttributeValue;
    qrie::aws::dynamodb_client(&world.deps.sdk)
        .put_item()
        .table_name(&world.deps.config.tables.policies)
        .item("PolicyId", AttributeValue::S(policy_id.into()))
        .item("Active", AttributeValue::Bool(false))
        .send()
        .await
        .expect("policy row written");
}

const PUBLIC_DB_FAILS: &[&str] = &[
    "RdsInstanceNotPublic",
    "RdsInstanceStorageEncrypted",
    "RdsInstanceMultiAz",
    "RdsInstanceEnhancedMonitoring",
    "RdsInstanceDeletionProtection",
    "RdsInstanceIamAuthentication",
    "RdsInstanceBackupsEnabled",
    "RdsInstanceAutoMinorVersionUpgrade",
    "RdsInstanceCopyTagsToSnapshots",
    "RdsInstanceNonDefaultPort",
    "RdsInstanceCustomAdminUsername",
    "RdsInstanceLogsExported",
    "RdsInstancePostgresTlsRequired",
    "RdsInstancePostgresLogsExported",
];

#[tokio::test]
async fn rds_inventory_and_scan_find_exactly_the_misconfigured_databases_and_snapshots() {
    // Given, in us-east-1, a public, unencrypted PostgreSQL instance without backups, deletion
    // protection, standby, monitoring, logs or IAM authentication, on the default port with the
    // default user, and a public unencrypted manual snapshot of it; in eu-west-1 a compliant
    // twin and a private encrypted snapshot of it. (RDS also keeps automated `rds:` snapshots
    // of both, which are not the account's manual snapshots.) A DB subnet group needs EC2
    // subnets, which these tests do not create: the in-VPC policy is judged on examples.
    let world = World::new().await;
    disable_policy(&world, "RdsInstanceInVpc").await;
    let account = world.onboard().await;
    let sdk = world.as_customer(&account).await;
    let us = aws_sdk_rds::Client::new(&qrie::aws::in_region(&sdk, "us-east-1"));
    let eu = aws_sdk_rds::Client::new(&qrie::aws::in_region(&sdk, "eu-west-1"));
    let id = &world.id;
    let (open, locked) = (format!("open-{id}"), format!("locked-{id}"));
    // (the twin forces TLS through a parameter group of its own; the open one runs with the
    // default group, whose rds.force_ssl is 0 before PostgreSQL 15)
    let tls_group = format!("tls-{id}");
    seed::db_parameter_group(&eu, &tls_group, "postgres9.3", &[("rds.force_ssl", "1")]).await;
    us.create_db_instance()
        .db_instance_identifier(&open)
        .engine("postgres")
        .db_instance_class("db.t3.micro")
        .allocated_storage(20)
        .master_username("postgres")
        .master_user_password("not-a-secret-1")
        .publicly_accessible(true)
        .storage_encrypted(false)
        .backup_retention_period(0)
        .auto_minor_version_upgrade(false)
        .port(5432)
        .send()
        .await
        .unwrap();
    eu.create_db_instance()
        .db_instance_identifier(&locked)
        .engine("postgres")
        .db_instance_class("db.t3.micro")
        .allocated_storage(20)
        .master_username("dbowner")
        .master_user_password("not-a-secret-2")
        .publicly_accessible(false)
        .storage_encrypted(true)
        .multi_az(true)
        .backup_retention_period(7)
        .deletion_protection(true)
        .auto_minor_version_upgrade(true)
        .monitoring_interval(60)
        .monitoring_role_arn(format!(
            "arn:aws:iam::{}:role/rds-monitoring",
            account.account_id
        ))
        .enable_iam_database_authentication(true)
        .copy_tags_to_snapshot(true)
        .enable_cloudwatch_logs_exports("postgresql")
        .enable_cloudwatch_logs_exports("upgrade")
        .port(6543)
        .db_parameter_group_name(&tls_group)
        .send()
        .await
        .unwrap();
    let (shared, private) = (format!("shared-{id}"), format!("private-{id}"));
    us.create_db_snapshot()
        .db_instance_identifier(&open)
        .db_snapshot_identifier(&shared)
        .send()
        .await
        .unwrap();
    us.modify_db_snapshot_attribute()
        .db_snapshot_identifier(&shared)
        .attribute_name("restore")
        .values_to_add("all")
        .send()
        .await
        .unwrap();
    eu.create_db_snapshot()
        .db_instance_identifier(&locked)
        .db_snapshot_identifier(&private)
        .send()
        .await
        .unwrap();

    // When the inventory and the scan run
    let summary = inventory(&world, &account, "rds").await;
    assert!(summary.errors.is_empty(), "{:?}", summary.errors);
    let first = scan(&world, "rds").await;
    assert!(first.errors.is_empty(), "{:?}", first.errors);

    // Then one instance, its parameter group and one manual snapshot are stored per region, no
    // automated snapshot
    let rds = &summary.accounts[0].services["rds"];
    assert_eq!(rds.by_region.get("us-east-1"), Some(&3), "{rds:?}");
    assert_eq!(rds.by_region.get("eu-west-1"), Some(&3), "{rds:?}");
    // And exactly the misconfigured instance and snapshot fail
    let a = &account.account_id;
    let open_arn = format!("arn:aws:rds:us-east-1:{a}:db:{open}");
    let locked_arn = format!("arn:aws:rds:eu-west-1:{a}:db:{locked}");
    let shared_arn = format!("arn:aws:rds:us-east-1:{a}:snapshot:{shared}");
    let private_arn = format!("arn:aws:rds:eu-west-1:{a}:snapshot:{private}");
    let arns = [
        open_arn.as_str(),
        locked_arn.as_str(),
        shared_arn.as_str(),
        private_arn.as_str(),
    ];
    let expected: BTreeMap<String, BTreeSet<String>> = [
        (open_arn.clone(), set(PUBLIC_DB_FAILS)),
        (
            shared_arn.clone(),
            set(&["RdsSnapshotNotPublic", "RdsSnapshotEncrypted"]),
        ),
    ]
    .into();
    assert_eq!(active_by_resource(&world, &arns).await, expected);

    // When the snapshot is made private and its event goes through the queue
    us.modify_db_snapshot_attribute()
        .db_snapshot_identifier(&shared)
        .attribute_name("restore")
        .values_to_remove("all")
        .send()
        .await
        .unwrap();
    let queues = Queues::new(&world, 30).await;
    let body = api_call(
        &account,
        "rds",
        "ModifyDBSnapshotAttribute",
        "us-east-1",
        json!({"requestParameters": {"dBSnapshotIdentifier": shared, "attributeName": "restore",
                                     "valuesToRemove": ["all"]},
               "responseElements": null}),
    );
    let (_, response, report) = deliver(&world, &queues, &[body]).await;
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    assert_eq!(report.processed, 1, "{report:?}");
    // Then the public-snapshot finding is resolved and the encryption one stays
    let after = findings_of(&world, &shared_arn).await;
    let state = |p: &str| after.iter().find(|f| f.policy_id == p).map(|f| f.state);
    assert_eq!(state("RdsSnapshotNotPublic"), Some(FindingState::Resolved));
    assert_eq!(state("RdsSnapshotEncrypted"), Some(FindingState::Active));

    // When the twin's parameter group stops forcing TLS and its event goes through the queue
    seed::set_db_parameter(&eu, &tls_group, "rds.force_ssl", "0").await;
    let body = api_call(
        &account,
        "rds",
        "ModifyDBParameterGroup",
        "eu-west-1",
        json!({"requestParameters": {"dBParameterGroupName": tls_group,
                                     "parameters": [{"parameterName": "rds.force_ssl",
                                                     "parameterValue": "0",
                                                     "applyMethod": "immediate"}]},
               "responseElements": {"dBParameterGroupName": tls_group}}),
    );
    let (_, response, report) = deliver(&world, &queues, &[body]).await;
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    // Then the instance that uses the group is refreshed with it, and its TLS finding opens
    let expected: BTreeMap<String, BTreeSet<String>> =
        [(locked_arn.clone(), set(&["RdsInstancePostgresTlsRequired"]))].into();
    assert_eq!(active_by_resource(&world, &[&locked_arn]).await, expected);
    assert_eq!(report.processed, 1, "{report:?}");

    // When TLS is forced again
    seed::set_db_parameter(&eu, &tls_group, "rds.force_ssl", "1").await;
    let body = api_call(
        &account,
        "rds",
        "ModifyDBParameterGroup",
        "eu-west-1",
        json!({"requestParameters": {"dBParameterGroupName": tls_group},
               "responseElements": {"dBParameterGroupName": tls_group}}),
    );
    let (_, response, _) = deliver(&world, &queues, &[body]).await;
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    // Then the finding is resolved
    let after = findings_of(&world, &locked_arn).await;
    let tls = after
        .iter()
        .find(|f| f.policy_id == "RdsInstancePostgresTlsRequired")
        .expect("the TLS finding is kept");
    assert_eq!(tls.state, FindingState::Resolved);
}

const WEAK_CLUSTER_FAILS: &[&str] = &[
    "RdsClusterBacktrackEnabled",
    "RdsClusterCopyTagsToSnapshots",
    "RdsClusterCustomAdminUsername",
    "RdsClusterDeletionProtection",
    "RdsClusterIamAuthentication",
    "RdsClusterLogsExported",
    "RdsClusterMultiAz",
    "RdsClusterNonDefaultPort",
    "RdsClusterStorageEncrypted",
    "RdsClusterAuroraMysqlAuditLogging",
    "RdsClusterAuroraMysqlAuditLogExported",
    "RdsClusterTlsRequired",
];

#[tokio::test]
async fn rds_cluster_inventory_and_scan_find_exactly_the_misconfigured_clusters_snapshots_and_subscriptions(
) {
    // Given, in us-east-1, an Aurora MySQL cluster with every weakness (unencrypted, no
    // deletion protection, backtracking, IAM authentication, log export or tag copy, the
    // default user on the default port, one Availability Zone) and a public unencrypted manual
    // snapshot of it; in eu-west-1 a compliant twin with instances in two Availability Zones and
    // a private encrypted snapshot of it. (The twin's instances are judged by the instance
    // policies, not here; the minor-version check applies to Multi-AZ DB clusters, which the
    // local AWS gives no second zone, and is judged on examples.)
    let world = World::new().await;
    let account = world.onboard().await;
    let sdk = world.as_customer(&account).await;
    let us = aws_sdk_rds::Client::new(&qrie::aws::in_region(&sdk, "us-east-1"));
    let eu = aws_sdk_rds::Client::new(&qrie::aws::in_region(&sdk, "eu-west-1"));
    let id = &world.id;
    let (weak, strong) = (format!("weak-{id}"), format!("strong-{id}"));
    // (the weak cluster's group sets nothing: audit logging and TLS stay at their defaults, off)
    let (weak_group, strong_group) = (format!("weakc-{id}"), format!("strongc-{id}"));
    seed::db_cluster_parameter_group(&us, &weak_group, "aurora-mysql8.0", &[]).await;
    seed::db_cluster_parameter_group(
        &eu,
        &strong_group,
        "aurora-mysql8.0",
        &[
            ("server_audit_logging", "1"),
            ("require_secure_transport", "ON"),
        ],
    )
    .await;
    us.create_db_cluster()
        .db_cluster_identifier(&weak)
        .engine("aurora-mysql")
        .master_username("admin")
        .master_user_password("not-a-secret-4")
        .port(3306)
        .storage_encrypted(false)
        .db_cluster_parameter_group_name(&weak_group)
        .send()
        .await
        .unwrap();
    eu.create_db_cluster()
        .db_cluster_identifier(&strong)
        .engine("aurora-mysql")
        .master_username("dbowner")
        .master_user_password("not-a-secret-5")
        .port(3307)
        .storage_encrypted(true)
        .kms_key_id(format!(
            "arn:aws:kms:eu-west-1:{}:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            account.account_id
        ))
        .deletion_protection(true)
        .copy_tags_to_snapshot(true)
        .backtrack_window(86400)
        .enable_iam_database_authentication(true)
        .enable_cloudwatch_logs_exports("audit")
        .db_cluster_parameter_group_name(&strong_group)
        .send()
        .await
        .unwrap();
    for (n, zone) in [(1, "eu-west-1a"), (2, "eu-west-1b")] {
        eu.create_db_instance()
            .db_instance_identifier(format!("strong-{n}-{id}"))
            .db_cluster_identifier(&strong)
            .engine("aurora-mysql")
            .db_instance_class("db.r5.large")
            .availability_zone(zone)
            .send()
            .await
            .unwrap();
    }
    let (shared, private) = (format!("cshared-{id}"), format!("cprivate-{id}"));
    us.create_db_cluster_snapshot()
        .db_cluster_identifier(&weak)
        .db_cluster_snapshot_identifier(&shared)
        .send()
        .await
        .unwrap();
    us.modify_db_cluster_snapshot_attribute()
        .db_cluster_snapshot_identifier(&shared)
        .attribute_name("restore")
        .values_to_add("all")
        .send()
        .await
        .unwrap();
    eu.create_db_cluster_snapshot()
        .db_cluster_identifier(&strong)
        .db_cluster_snapshot_identifier(&private)
        .send()
        .await
        .unwrap();

    // And event subscriptions: in us-east-1 a cluster subscription without maintenance events
    // and a disabled instance subscription; in eu-west-1 a complete cluster subscription
    let topic = |region: &str| format!("arn:aws:sns:{region}:{}:ops", account.account_id);
    let (partial, disabled, complete) = (
        format!("partial-{id}"),
        format!("disabled-{id}"),
        format!("complete-{id}"),
    );
    us.create_event_subscription()
        .subscription_name(&partial)
        .sns_topic_arn(topic("us-east-1"))
        .source_type("db-cluster")
        .event_categories("failure")
        .enabled(true)
        .send()
        .await
        .unwrap();
    us.create_event_subscription()
        .subscription_name(&disabled)
        .sns_topic_arn(topic("us-east-1"))
        .source_type("db-instance")
        .enabled(false)
        .send()
        .await
        .unwrap();
    eu.create_event_subscription()
        .subscription_name(&complete)
        .sns_topic_arn(topic("eu-west-1"))
        .source_type("db-cluster")
        .event_categories("failure")
        .event_categories("maintenance")
        .enabled(true)
        .send()
        .await
        .unwrap();

    // When the inventory and the scan run
    let summary = inventory(&world, &account, "rds").await;
    assert!(summary.errors.is_empty(), "{:?}", summary.errors);
    let first = scan(&world, "rds").await;
    assert!(first.errors.is_empty(), "{:?}", first.errors);

    // Then the weak cluster, its public snapshot and the two incomplete subscriptions fail
    // exactly their checks, the twins none
    let a = &account.account_id;
    let weak_arn = format!("arn:aws:rds:us-east-1:{a}:cluster:{weak}");
    let strong_arn = format!("arn:aws:rds:eu-west-1:{a}:cluster:{strong}");
    let shared_arn = format!("arn:aws:rds:us-east-1:{a}:cluster-snapshot:{shared}");
    let private_arn = format!("arn:aws:rds:eu-west-1:{a}:cluster-snapshot:{private}");
    let partial_arn = format!("arn:aws:rds:us-east-1:{a}:es:{partial}");
    let disabled_arn = format!("arn:aws:rds:us-east-1:{a}:es:{disabled}");
    let complete_arn = format!("arn:aws:rds:eu-west-1:{a}:es:{complete}");
    let arns = [
        weak_arn.as_str(),
        strong_arn.as_str(),
        shared_arn.as_str(),
        private_arn.as_str(),
        partial_arn.as_str(),
        disabled_arn.as_str(),
        complete_arn.as_str(),
    ];
    let expected: BTreeMap<String, BTreeSet<String>> = [
        (weak_arn.clone(), set(WEAK_CLUSTER_FAILS)),
        (
            shared_arn.clone(),
            set(&["RdsClusterSnapshotNotPublic", "RdsClusterSnapshotEncrypted"]),
        ),
        (
            partial_arn.clone(),
            set(&["RdsClusterEventSubscriptionCritical"]),
        ),
        (
            disabled_arn.clone(),
            set(&["RdsInstanceEventSubscriptionCritical"]),
        ),
    ]
    .into();
    assert_eq!(active_by_resource(&world, &arns).await, expected);

    // When the snapshot is made private and deletion protection turned on, and their events go
    // through the queue
    us.modify_db_cluster_snapshot_attribute()
        .db_cluster_snapshot_identifier(&shared)
        .attribute_name("restore")
        .values_to_remove("all")
        .send()
        .await
        .unwrap();
    us.modify_db_cluster()
        .db_cluster_identifier(&weak)
        .deletion_protection(true)
        .apply_immediately(true)
        .send()
        .await
        .unwrap();
    let queues = Queues::new(&world, 30).await;
    let bodies = [
        api_call(
            &account,
            "rds",
            "ModifyDBClusterSnapshotAttribute",
            "us-east-1",
            json!({"requestParameters": {"dBClusterSnapshotIdentifier": shared,
                                         "attributeName": "restore", "valuesToRemove": ["all"]},
                   "responseElements": null}),
        ),
        api_call(
            &account,
            "rds",
            "ModifyDBCluster",
            "us-east-1",
            json!({"requestParameters": {"dBClusterIdentifier": weak, "deletionProtection": true,
                                         "applyImmediately": true},
                   "responseElements": {"dBClusterIdentifier": weak, "dBClusterArn": weak_arn}}),
        ),
    ];
    let (_, response, report) = deliver(&world, &queues, &bodies).await;
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    assert_eq!(report.processed, 2, "{report:?}");
    // Then the public-snapshot and deletion-protection findings are resolved, the rest stay
    let after = findings_of(&world, &shared_arn).await;
    let state = |p: &str| after.iter().find(|f| f.policy_id == p).map(|f| f.state);
    assert_eq!(
        state("RdsClusterSnapshotNotPublic"),
        Some(FindingState::Resolved)
    );
    assert_eq!(
        state("RdsClusterSnapshotEncrypted"),
        Some(FindingState::Active)
    );
    let remaining: Vec<&str> = WEAK_CLUSTER_FAILS
        .iter()
        .copied()
        .filter(|p| *p != "RdsClusterDeletionProtection")
        .collect();
    let expected: BTreeMap<String, BTreeSet<String>> = [(weak_arn.clone(), set(&remaining))].into();
    assert_eq!(active_by_resource(&world, &[&weak_arn]).await, expected);
}
