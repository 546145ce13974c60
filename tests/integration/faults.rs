//! Faults injected at the wire (`tests/moto/server.py`, `POST /_qrie/faults`) into the real SDK
//! calls of every collector, of the stores and of the queues' consumers: a transient fault is
//! retried and the run is as if nothing happened; a persistent one is reported, keeps what is
//! stored, removes nothing, and opens or resolves no finding. Each test scopes its rules to its
//! own customer account or tables, and tags them so it can clear its own.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use qrie::model::{Account, FindingState};
use qrie_tests::{clear_faults, faults_tagged, inject_fault, unique, World};
use serde_json::{json, Value};

use crate::data_posture::{inventory, scan};
use crate::{data_seed, ec2_posture, seed};

/// A class of fault, as AWS answers it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    /// The service's own throttling error (`SlowDown`, `RequestLimitExceeded`, `Throttling`,
    /// `ThrottlingException`, `TooManyRequestsException`, `ProvisionedThroughputExceededException`).
    Throttled,
    /// 500 InternalError.
    ServerError,
    /// The connection dropped without an answer.
    Reset,
    /// No answer before the client's attempt timeout.
    Timeout,
}

/// A collector and the listing call its faults are injected into.
#[derive(Clone, Copy, Debug)]
enum Case {
    S3,
    Iam,
    Ec2,
    Vpc,
    Rds,
    CloudTrail,
    Kms,
    Lambda,
}

impl Case {
    fn service(self) -> &'static str {
        match self {
            Case::S3 => "s3",
            Case::Iam => "iam",
            Case::Ec2 => "ec2",
            Case::Vpc => "vpc",
            Case::Rds => "rds",
            Case::CloudTrail => "cloudtrail",
            Case::Kms => "kms",
            Case::Lambda => "lambda",
        }
    }

    /// The service the listing call is signed for.
    fn signing_name(self) -> &'static str {
        match self {
            Case::Vpc => "ec2",
            other => other.service(),
        }
    }

    /// The operation named in errors, and the matcher that finds its requests.
    fn listing(self) -> (&'static str, Value) {
        match self {
            Case::S3 => ("ListBuckets", json!({"method": "GET", "path_regex": "^/$"})),
            Case::Iam => (
                "GetAccountAuthorizationDetails",
                json!({"action": "GetAccountAuthorizationDetails"}),
            ),
            Case::Ec2 => (
                "DescribeSecurityGroups",
                json!({"action": "DescribeSecurityGroups"}),
            ),
            Case::Vpc => ("DescribeVpcs", json!({"action": "DescribeVpcs"})),
            Case::Rds => (
                "DescribeDBInstances",
                json!({"action": "DescribeDBInstances"}),
            ),
            Case::CloudTrail => ("DescribeTrails", json!({"action": "DescribeTrails"})),
            Case::Kms => ("ListKeys", json!({"action": "ListKeys"})),
            Case::Lambda => (
                "ListFunctions",
                json!({"method": "GET", "path_regex": "^/2015-03-31/functions/?$"}),
            ),
        }
    }

    /// The service's throttling error: code and HTTP status.
    fn throttling(self) -> (&'static str, u16) {
        match self {
            Case::S3 => ("SlowDown", 503),
            Case::Ec2 | Case::Vpc => ("RequestLimitExceeded", 503),
            Case::Iam | Case::Rds => ("Throttling", 400),
            Case::CloudTrail | Case::Kms => ("ThrottlingException", 400),
            Case::Lambda => ("TooManyRequestsException", 429),
        }
    }
}

/// A fault rule for `case`'s listing in `account`.
fn listing_fault(case: Case, account: &Account, fault: Fault, tag: &str) -> Value {
    let (_, mut rule) = case.listing();
    rule["account"] = json!(account.account_id);
    rule["service"] = json!(case.signing_name());
    rule["tag"] = json!(tag);
    rule["protocol"] = json!("auto");
    let (code, status) = case.throttling();
    shape(&mut rule, fault, code, status);
    rule
}

fn shape(rule: &mut Value, fault: Fault, throttling_code: &str, throttling_status: u16) {
    match fault {
        Fault::Throttled => {
            rule["code"] = json!(throttling_code);
            rule["status"] = json!(throttling_status);
            rule["message"] = json!("Rate exceeded (injected)");
        }
        Fault::ServerError => {
            rule["code"] = json!("InternalError");
            rule["status"] = json!(500);
            rule["message"] = json!("We encountered an internal error (injected)");
        }
        Fault::Reset => rule["fault"] = json!("reset"),
        Fault::Timeout => {
            rule["fault"] = json!("timeout");
            rule["delay_ms"] = json!(TIMEOUT_DELAY.as_millis());
        }
    }
}

/// The attempt timeout of the worlds whose calls are made to time out, and how long the local
/// AWS holds those calls (well past it).
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(3);
const TIMEOUT_DELAY: Duration = Duration::from_secs(8);

/// What the resources table holds for a partition: ARN to (LastSeenAt, Configuration).
async fn stored(world: &World, partition: &str) -> BTreeMap<String, (DateTime<Utc>, Value)> {
    let mut all = BTreeMap::new();
    let mut cursor = None;
    loop {
        let page = world
            .deps
            .stores
            .resources
            .page(partition, cursor)
            .await
            .expect("resources read");
        for r in page.items {
            all.insert(r.arn, (r.last_seen_at, r.configuration));
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => return all,
        }
    }
}

/// The (ARN, policy) pairs ACTIVE in a partition.
async fn active(world: &World, partition: &str) -> BTreeSet<(String, String)> {
    world
        .deps
        .stores
        .findings
        .active_in_partition(partition)
        .await
        .expect("findings read")
        .into_iter()
        .filter(|f| f.state == FindingState::Active)
        .map(|f| (f.arn, f.policy_id))
        .collect()
}

/// Creates one misconfigured resource of `case` in the account's us-east-1 and returns a name or
/// id its ARN contains.
async fn seed_one(case: Case, world: &World, account: &Account) -> String {
    let sdk = qrie::aws::in_region(&world.as_customer(account).await, "us-east-1");
    let name = format!("faults-{}", unique());
    match case {
        Case::S3 => {
            let bucket = world.bucket("faults");
            seed::create_bucket(
                &world.customer_s3(account, "us-east-1").await,
                &bucket,
                "us-east-1",
            )
            .await;
            bucket
        }
        Case::Iam => {
            let document = json!({"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": "*", "Resource": "*"}]});
            aws_sdk_iam::Client::new(&sdk)
                .create_policy()
                .policy_name(&name)
                .policy_document(document.to_string())
                .send()
                .await
                .expect("policy created");
            name
        }
        Case::Ec2 => {
            let ec2 = aws_sdk_ec2::Client::new(&sdk);
            let vpc = ec2_posture::vpc(&ec2, "10.61.0.0/16").await;
            ec2_posture::group(
                &ec2,
                &vpc,
                &name,
                vec![ec2_posture::tcp(22, 22, "0.0.0.0/0")],
            )
            .await
        }
        Case::Vpc => ec2_posture::vpc(&aws_sdk_ec2::Client::new(&sdk), "10.62.0.0/16").await,
        Case::Rds => {
            aws_sdk_rds::Client::new(&sdk)
                .create_db_instance()
                .db_instance_identifier(&name)
                .engine("postgres")
                .db_instance_class("db.t3.micro")
                .allocated_storage(20)
                .master_username("postgres")
                .master_user_password("not-a-secret-1")
                .publicly_accessible(true)
                .storage_encrypted(false)
                .send()
                .await
                .expect("DB instance created");
            name
        }
        Case::CloudTrail => {
            data_seed::trail(world, account, "us-east-1", &name, |t| t).await;
            name
        }
        Case::Kms => {
            data_seed::key(&data_seed::kms(world, account, "us-east-1").await, &name).await
        }
        Case::Lambda => {
            let role = data_seed::execution_role(world, account).await;
            let client = data_seed::lambda(world, account, "us-east-1").await;
            data_seed::function(
                &client,
                &name,
                &role,
                aws_sdk_lambda::types::Runtime::Python39,
                |f| f,
            )
            .await;
            name
        }
    }
}

/// Removes the seeded resource, or mends it where removal is not how AWS works (a KMS key is
/// scheduled for deletion; rotation is turned on instead), so that a complete collection would
/// resolve at least one of its findings.
async fn change(case: Case, world: &World, account: &Account, id: &str) {
    let sdk = qrie::aws::in_region(&world.as_customer(account).await, "us-east-1");
    match case {
        Case::S3 => {
            world
                .customer_s3(account, "us-east-1")
                .await
                .delete_bucket()
                .bucket(id)
                .send()
                .await
                .expect("bucket deleted");
        }
        Case::Iam => {
            let arn = format!("arn:aws:iam::{}:policy/{id}", account.account_id);
            aws_sdk_iam::Client::new(&sdk)
                .delete_policy()
                .policy_arn(arn)
                .send()
                .await
                .expect("policy deleted");
        }
        Case::Ec2 => {
            aws_sdk_ec2::Client::new(&sdk)
                .delete_security_group()
                .group_id(id)
                .send()
                .await
                .expect("group deleted");
        }
        Case::Vpc => {
            aws_sdk_ec2::Client::new(&sdk)
                .delete_vpc()
                .vpc_id(id)
                .send()
                .await
                .expect("VPC deleted");
        }
        Case::Rds => {
            aws_sdk_rds::Client::new(&sdk)
                .delete_db_instance()
                .db_instance_identifier(id)
                .skip_final_snapshot(true)
                .send()
                .await
                .expect("DB instance deleted");
        }
        Case::CloudTrail => {
            data_seed::cloudtrail(world, account, "us-east-1")
                .await
                .delete_trail()
                .name(id)
                .send()
                .await
                .expect("trail deleted");
        }
        Case::Kms => {
            data_seed::enable_rotation(&data_seed::kms(world, account, "us-east-1").await, id).await
        }
        Case::Lambda => {
            data_seed::lambda(world, account, "us-east-1")
                .await
                .delete_function()
                .function_name(id)
                .send()
                .await
                .expect("function deleted");
        }
    }
}

/// The whole contract for one collector: transient faults of every class are retried and the
/// run is complete; a persistent fault of class `persistent` is reported, keeps every stored
/// resource exactly as it was, and neither opens nor resolves a finding; once the fault is gone
/// the same run removes or updates the resource and resolves what it should.
async fn collector_under_faults(case: Case, persistent: Fault) {
    // Given a world that makes four attempts per call, and one misconfigured resource, collected
    // and scanned without faults
    let world = World::with_aws(|aws| aws.max_attempts = 4).await;
    let account = world.onboard().await;
    let service = case.service();
    let (operation, _) = case.listing();
    let partition = format!("{}_{service}", account.account_id);
    let id = seed_one(case, &world, &account).await;
    // (what the local AWS lacks is reported the same way on every run: the baseline)
    let clean = inventory(&world, &account, service).await;
    assert!(clean.accounts[0].services[service].complete, "{clean:?}");
    let baseline: BTreeSet<String> = clean.errors.into_iter().collect();
    scan(&world, service).await;
    let arn = stored(&world, &partition)
        .await
        .into_keys()
        .find(|arn| arn.contains(&id))
        .unwrap_or_else(|| panic!("{id} is stored in {partition}"));
    let failing: BTreeSet<String> = active(&world, &partition)
        .await
        .into_iter()
        .filter(|(a, _)| *a == arn)
        .map(|(_, p)| p)
        .collect();
    assert!(!failing.is_empty(), "{arn} has findings to keep");

    // When its listing is throttled, answers 500 and drops the connection, once each
    let tag = format!("transient-{}", world.id);
    for fault in [Fault::Throttled, Fault::ServerError, Fault::Reset] {
        let mut rule = listing_fault(case, &account, fault, &tag);
        rule["times"] = json!(1);
        inject_fault(rule).await;
    }
    let retried = inventory(&world, &account, service).await;
    // Then the retries make the run complete, and each fault did fire
    let fired: Vec<u64> = faults_tagged(&tag)
        .await
        .iter()
        .map(|r| r["fired"].as_u64().unwrap_or_default())
        .collect();
    clear_faults(&tag).await;
    assert_eq!(
        fired,
        vec![1, 1, 1],
        "each transient fault hit {operation} once"
    );
    assert_eq!(
        retried.errors.iter().cloned().collect::<BTreeSet<_>>(),
        baseline
    );
    assert!(
        retried.accounts[0].services[service].complete,
        "{retried:?}"
    );
    let before = stored(&world, &partition).await;
    assert!(before.contains_key(&arn));
    let findings_before = active(&world, &partition).await;

    // When the resource is removed or mended in AWS, and its listing then fails every time
    change(case, &world, &account, &id).await;
    let tag = format!("persistent-{}", world.id);
    inject_fault(listing_fault(case, &account, persistent, &tag)).await;
    let refused = inventory(&world, &account, service).await;
    let scanned = scan(&world, service).await;
    let hits = faults_tagged(&tag).await[0]["fired"]
        .as_u64()
        .unwrap_or_default();
    clear_faults(&tag).await;

    // Then the run says the listing failed and why, and nothing was removed
    assert!(hits >= 4, "all four attempts met the fault ({hits})");
    let summary = &refused.accounts[0].services[service];
    assert!(!summary.complete, "{refused:?}");
    assert_eq!(summary.removed, 0, "{refused:?}");
    assert_eq!(refused.removed, 0);
    assert!(
        refused
            .errors
            .iter()
            .any(|e| e.contains(operation) && e.contains("nothing")),
        "{:?}",
        refused.errors
    );
    // and every resource is stored exactly as before (the removed one too), not re-dated
    let after = stored(&world, &partition).await;
    assert_eq!(after.get(&arn), before.get(&arn), "{arn} kept as it was");
    assert_eq!(
        after.keys().collect::<Vec<_>>(),
        before.keys().collect::<Vec<_>>()
    );
    // and the scan of what is stored opened and resolved nothing
    assert_eq!(scanned.tally.resolved, 0, "{:?}", scanned.tally);
    assert_eq!(scanned.tally.new, 0, "{:?}", scanned.tally);
    assert_eq!(active(&world, &partition).await, findings_before);

    // When the fault is gone, the same run removes or updates the resource and resolves
    let healed = inventory(&world, &account, service).await;
    assert!(healed.accounts[0].services[service].complete, "{healed:?}");
    scan(&world, service).await;
    let now: BTreeSet<String> = active(&world, &partition)
        .await
        .into_iter()
        .filter(|(a, _)| *a == arn)
        .map(|(_, p)| p)
        .collect();
    assert!(
        now.is_subset(&failing) && now != failing,
        "{now:?} after {failing:?}"
    );
}

#[tokio::test]
async fn s3_listing_faults_are_retried_or_reported_without_loss() {
    collector_under_faults(Case::S3, Fault::Throttled).await;
}

#[tokio::test]
async fn iam_listing_faults_are_retried_or_reported_without_loss() {
    collector_under_faults(Case::Iam, Fault::ServerError).await;
}

#[tokio::test]
async fn ec2_listing_faults_are_retried_or_reported_without_loss() {
    collector_under_faults(Case::Ec2, Fault::Reset).await;
}

#[tokio::test]
async fn vpc_listing_faults_are_retried_or_reported_without_loss() {
    collector_under_faults(Case::Vpc, Fault::Throttled).await;
}

#[tokio::test]
async fn rds_listing_faults_are_retried_or_reported_without_loss() {
    collector_under_faults(Case::Rds, Fault::Throttled).await;
}

#[tokio::test]
async fn cloudtrail_listing_faults_are_retried_or_reported_without_loss() {
    collector_under_faults(Case::CloudTrail, Fault::ServerError).await;
}

#[tokio::test]
async fn kms_listing_faults_are_retried_or_reported_without_loss() {
    collector_under_faults(Case::Kms, Fault::Reset).await;
}

#[tokio::test]
async fn lambda_listing_faults_are_retried_or_reported_without_loss() {
    collector_under_faults(Case::Lambda, Fault::Throttled).await;
}

#[tokio::test]
async fn a_call_that_never_answers_times_out_and_is_retried_or_reported() {
    // Given calls that time out after ATTEMPT_TIMEOUT, two attempts each, and a key collected
    let world = World::with_aws(|aws| {
        aws.max_attempts = 2;
        aws.attempt_timeout = ATTEMPT_TIMEOUT;
    })
    .await;
    let account = world.onboard().await;
    let id = seed_one(Case::Kms, &world, &account).await;
    let partition = format!("{}_kms", account.account_id);
    assert!(inventory(&world, &account, "kms").await.errors.is_empty());
    let before = stored(&world, &partition).await;
    assert!(before.keys().any(|arn| arn.contains(&id)));

    // When one ListKeys goes unanswered
    let tag = format!("timeout-once-{}", world.id);
    let mut rule = listing_fault(Case::Kms, &account, Fault::Timeout, &tag);
    rule["times"] = json!(1);
    inject_fault(rule).await;
    let retried = inventory(&world, &account, "kms").await;
    let fired = faults_tagged(&tag).await[0]["fired"].as_u64();
    clear_faults(&tag).await;
    // Then the second attempt answers and the run is complete
    assert_eq!(fired, Some(1));
    assert!(retried.errors.is_empty(), "{:?}", retried.errors);
    assert!(retried.accounts[0].services["kms"].complete);

    // When every ListKeys goes unanswered
    let tag = format!("timeout-always-{}", world.id);
    inject_fault(listing_fault(Case::Kms, &account, Fault::Timeout, &tag)).await;
    let before = stored(&world, &partition).await;
    let refused = inventory(&world, &account, "kms").await;
    clear_faults(&tag).await;
    // Then the run reports the timeout and keeps every key as it was
    let summary = &refused.accounts[0].services["kms"];
    assert!(!summary.complete, "{refused:?}");
    assert!(
        refused
            .errors
            .iter()
            .any(|e| e.contains("ListKeys") && e.to_lowercase().contains("timed out")),
        "{:?}",
        refused.errors
    );
    assert_eq!(stored(&world, &partition).await, before);
}

/// A rule failing `action` on one of `world`'s tables with DynamoDB's throttling error.
fn table_fault(world: &World, table: &str, action: Option<&str>, tag: &str) -> Value {
    let mut rule = json!({
        "service": "dynamodb",
        "body_contains": format!("\"{}_{table}\"", world.id),
        "protocol": "json",
        "status": 400,
        "code": "ProvisionedThroughputExceededException",
        "message": "The level of configured provisioned throughput for the table was exceeded",
        "tag": tag,
    });
    if let Some(action) = action {
        rule["action"] = json!(action);
    }
    rule
}

#[tokio::test]
async fn resource_writes_the_table_refuses_are_counted_failed_and_remove_nothing() {
    // Given a bucket collected and scanned, and a second bucket created afterwards
    let world = World::new().await;
    let account = world.onboard().await;
    let s3 = world.customer_s3(&account, "us-east-1").await;
    let (old, new) = (world.bucket("old"), world.bucket("new"));
    seed::create_bucket(&s3, &old, "us-east-1").await;
    assert!(inventory(&world, &account, "s3").await.errors.is_empty());
    scan(&world, "s3").await;
    let partition = format!("{}_s3", account.account_id);
    let before = stored(&world, &partition).await;
    let findings = active(&world, &partition).await;
    assert!(!findings.is_empty());
    seed::create_bucket(&s3, &new, "us-east-1").await;

    // When the resources table refuses one write, the SDK's retry stores both buckets
    let tag = format!("write-once-{}", world.id);
    let mut rule = table_fault(&world, "resources", Some("BatchWriteItem"), &tag);
    rule["times"] = json!(1);
    inject_fault(rule).await;
    let retried = inventory(&world, &account, "s3").await;
    assert_eq!(faults_tagged(&tag).await[0]["fired"], 1);
    clear_faults(&tag).await;
    assert!(retried.errors.is_empty(), "{:?}", retried.errors);
    let stored_now = stored(&world, &partition).await;
    assert_eq!(
        stored_now.len(),
        before.len() + 1,
        "the new bucket is stored"
    );
    assert_eq!(retried.resources, stored_now.len());

    // When it refuses every write
    s3.delete_bucket()
        .bucket(&new)
        .send()
        .await
        .expect("bucket deleted");
    let tag = format!("write-always-{}", world.id);
    inject_fault(table_fault(
        &world,
        "resources",
        Some("BatchWriteItem"),
        &tag,
    ))
    .await;
    let refused = inventory(&world, &account, "s3").await;
    clear_faults(&tag).await;
    // Then nothing is counted stored, what was listed is counted failed, the error
    // says which write failed and why, and nothing was removed (not even the deleted bucket:
    // the sweep runs on the complete listing, and the old bucket was seen)
    let summary = &refused.accounts[0].services["s3"];
    assert_eq!(
        (summary.resources, summary.failed),
        (0, before.len()),
        "{refused:?}"
    );
    assert!(
        refused.errors.iter().any(
            |e| e.contains(&format!("writing {} resources", before.len()))
                && e.contains("throttled")
        ),
        "{:?}",
        refused.errors
    );
    let kept = stored(&world, &partition).await;
    let old_arn = format!("arn:aws:s3:::{old}");
    assert_eq!(kept.get(&old_arn), stored_now.get(&old_arn), "not re-dated");
    // and a scan of what is stored resolves nothing
    let scanned = scan(&world, "s3").await;
    assert_eq!(scanned.tally.resolved, 0, "{:?}", scanned.tally);
    assert!(findings.is_subset(&active(&world, &partition).await));
    assert_ne!(before, kept);
}

#[tokio::test]
async fn a_scan_that_cannot_read_the_inventory_or_write_findings_opens_and_resolves_nothing() {
    // Given two buckets collected
    let world = World::new().await;
    let account = world.onboard().await;
    let s3 = world.customer_s3(&account, "us-east-1").await;
    for name in ["a", "b"] {
        seed::create_bucket(&s3, &world.bucket(name), "us-east-1").await;
    }
    assert!(inventory(&world, &account, "s3").await.errors.is_empty());
    let partition = format!("{}_s3", account.account_id);

    // When every finding write is refused
    let tag = format!("findings-{}", world.id);
    inject_fault(table_fault(&world, "findings", Some("UpdateItem"), &tag)).await;
    let refused = scan(&world, "s3").await;
    clear_faults(&tag).await;
    // Then the scan reports the failures, counts no finding opened, and none is stored
    assert!(!refused.errors.is_empty());
    assert!(
        refused
            .errors
            .iter()
            .all(|e| e.contains("UpdateItem") && e.contains("provisioned throughput")),
        "{:?}",
        refused.errors
    );
    assert_eq!(refused.tally.new, 0, "{:?}", refused.tally);
    assert!(active(&world, &partition).await.is_empty());

    // When the writes succeed again, the same scan opens them all, each once
    let opened = scan(&world, "s3").await;
    assert!(opened.errors.is_empty(), "{:?}", opened.errors);
    let findings = active(&world, &partition).await;
    assert_eq!(opened.tally.new, findings.len());
    assert!(!findings.is_empty());

    // When the resources table cannot be read
    let tag = format!("resources-{}", world.id);
    inject_fault(table_fault(&world, "resources", Some("Query"), &tag)).await;
    let blind = scan(&world, "s3").await;
    clear_faults(&tag).await;
    // Then the scan says so and resolves nothing: an unread partition is not an empty one
    assert!(
        blind.errors.iter().any(|e| e.contains(&partition)),
        "{:?}",
        blind.errors
    );
    assert_eq!(blind.tally.resolved, 0, "{:?}", blind.tally);
    assert_eq!(active(&world, &partition).await, findings);
}

#[tokio::test]
async fn an_event_whose_finding_cannot_be_written_goes_back_to_its_queue_and_counts_once() {
    // Given a public bucket, its ACL event on a real queue (visible again after 1 s), and a
    // findings table that refuses the next two requests (both SDK attempts of one call)
    let world = World::new().await;
    let account = world.onboard().await;
    let s3 = world.customer_s3(&account, "us-east-1").await;
    let bucket = world.bucket("public");
    crate::event_processor::bucket_with_acls(&s3, &bucket).await;
    crate::event_processor::set_acl(&s3, &bucket, aws_sdk_s3::types::BucketCannedAcl::PublicRead)
        .await;
    let queues = crate::event_processor::Queues::new(&world, 1).await;
    let tag = format!("event-{}", world.id);
    let mut rule = table_fault(&world, "findings", None, &tag);
    rule["times"] = json!(2);
    inject_fault(rule).await;
    let event = crate::event_processor::s3_event(&account.account_id, "PutBucketAcl", &bucket);

    // When the event is delivered
    let (ids, response, summary) =
        crate::event_processor::deliver(&world, &queues, std::slice::from_ref(&event)).await;
    let fired = faults_tagged(&tag).await[0]["fired"].as_u64();
    clear_faults(&tag).await;
    // Then the message failed, retryably, and nothing claims the bucket is public yet
    assert_eq!(fired, Some(2));
    assert_eq!((summary.failed, summary.poison), (1, 0), "{summary:?}");
    assert_eq!(response.batch_item_failures.len(), 1);
    assert_eq!(response.batch_item_failures[0].item_identifier, ids[0]);
    let arn = format!("arn:aws:s3:::{bucket}");
    let open = |findings: Vec<qrie::model::Finding>| {
        findings
            .into_iter()
            .filter(|f| f.state == FindingState::Active)
            .map(|f| f.policy_id)
            .collect::<BTreeSet<_>>()
    };
    assert!(open(world.deps.stores.findings.for_resource(&arn).await.unwrap()).is_empty());

    // When the queue delivers it again (the same message: not acknowledged)
    let again = queues.receive(1).await;
    assert_eq!(again[0].message_id.as_deref(), Some(ids[0].as_str()));
    let report = qrie::handler::process_sqs_event(&qrie_tests::sqs_event(&again), &world.deps)
        .await
        .expect("the batch is processed");
    queues.acknowledge(&again, &report.response).await;
    // Then it succeeds, and the public-read finding is open exactly once
    assert!(report.response.batch_item_failures.is_empty());
    assert_eq!(report.summary.processed, 1, "{:?}", report.summary);
    let findings = world.deps.stores.findings.for_resource(&arn).await.unwrap();
    let public: Vec<_> = findings
        .iter()
        .filter(|f| f.policy_id == "S3BucketPublicReadProhibited")
        .collect();
    assert_eq!(public.len(), 1);
    assert_eq!(public[0].state, FindingState::Active);
    assert!(open(findings).contains("S3BucketPublicReadProhibited"));
}

#[tokio::test]
async fn an_object_unit_whose_findings_cannot_be_written_is_redelivered_and_counted_once() {
    // Given three objects with one email each, a queue visible again after 1 s, and an
    // object-findings table that refuses the next six requests (both attempts of each of the
    // three units' writes, however the units are batched)
    let rig = crate::object_scanner::Rig::new(1, |_| {}).await;
    let bucket = bucket_of_three_emails(&rig, "faulty-writes").await;
    let tag = format!("objects-{}", rig.world.id);
    let mut rule = table_fault(&rig.world, "object_findings", None, &tag);
    rule["times"] = json!(6);
    inject_fault(rule).await;

    // When the job runs and its queue is drained (redeliveries included)
    let started = rig.invoke(json!({"bucket": bucket})).await;
    let job_id = started["job_id"].as_str().expect("job id").to_owned();
    let handled = rig.drain().await;
    let fired = faults_tagged(&tag).await[0]["fired"].as_u64();
    clear_faults(&tag).await;

    // Then the refused writes failed units, which came back from the queue...
    assert_eq!(fired, Some(6));
    let distinct: BTreeSet<&String> = handled.iter().collect();
    assert!(
        handled.len() > distinct.len(),
        "a unit was delivered again: {handled:?}"
    );
    // ...and every unit is counted exactly once
    let status = rig.status(&job_id).await;
    assert_eq!(status["status"], "completed", "{status}");
    assert_eq!(status["succeeded"], 3, "{status}");
    assert_eq!(status["failed"], 0, "{status}");
    assert_eq!(status["findings"], 3, "{status}");
}

#[tokio::test]
async fn an_object_listing_whose_second_page_fails_never_completes_the_job() {
    // Given three objects listed one per page, with an email each
    let rig = crate::object_scanner::Rig::new(1, |s| s.list_page_size = 1).await;
    let bucket = bucket_of_three_emails(&rig, "paged").await;
    // When every request for the listing's second page (and later) fails
    let tag = format!("pages-{}", rig.world.id);
    inject_fault(json!({
        "method": "GET", "path_regex": format!("^/{bucket}/?$"), "query_key": "list-type",
        "after": 1, "status": 503, "code": "SlowDown", "message": "Please reduce your request rate.",
        "tag": tag,
    }))
    .await;
    let refused = rig
        .scanner
        .handle(json!({"bucket": bucket, "region": "us-east-1"}), None)
        .await
        .expect_err("the listing cannot finish");
    rig.drain().await;
    let rule = faults_tagged(&tag).await.remove(0);
    clear_faults(&tag).await;

    // Then the first page was read and the second refused (both attempts)
    assert_eq!(rule["let_through"], 1, "{rule}");
    assert_eq!(rule["fired"], 2, "{rule}");
    // and the job failed saying what S3 answered, never "completed" on a partial listing
    let text = refused.to_string();
    assert!(
        text.contains("ListObjectsV2") && text.contains("SlowDown"),
        "{text}"
    );
    let qrie::object_scan::ObjectScanError::JobFailed { job_id, .. } = &refused else {
        panic!("a job that failed: {refused:?}");
    };
    let status = rig.status(job_id).await;
    assert_eq!(status["status"], "failed", "{status}");
    assert!(
        status["reason"]
            .as_str()
            .is_some_and(|r| r.contains("SlowDown")),
        "{status}"
    );
}

/// A bucket of qrie's own account holding three objects (`a.txt`, `b.txt`, `c.txt`) with one
/// email each.
async fn bucket_of_three_emails(rig: &crate::object_scanner::Rig, name: &str) -> String {
    let s3 = qrie::aws::s3_client(&rig.world.deps.sdk, &rig.world.deps.config.aws);
    let bucket = rig.world.bucket(name);
    s3.create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("bucket");
    for key in ["a.txt", "b.txt", "c.txt"] {
        let body = format!("mail {} now\n", crate::object_scanner::EMAIL);
        crate::object_scanner::put(&s3, &bucket, key, body.into_bytes()).await;
    }
    bucket
}
