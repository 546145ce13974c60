//! S3 posture end to end: inventory of a seeded account, the scan's findings, fixes, deletions,
//! and collection failures that must not turn into findings.

use std::collections::BTreeSet;

use lambda_runtime::{Context, LambdaEvent};
use qrie::handler::{inventory_handler, scan_handler};
use qrie::inventory::{InventoryRequest, InventorySummary};
use qrie::model::{Account, Finding, FindingState};
use qrie::scan::{ScanRequest, ScanSummary};
use qrie_tests::{inject_fault, World};
use serde_json::json;

use crate::seed;

async fn inventory(world: &World, account: &Account) -> InventorySummary {
    let request = InventoryRequest {
        service: "s3".into(),
        account_id: Some(account.account_id.clone()),
    };
    inventory_handler(LambdaEvent::new(request, Context::default()), &world.deps)
        .await
        .expect("inventory runs")
}

async fn scan(world: &World) -> ScanSummary {
    scan_handler(
        LambdaEvent::new(ScanRequest::default(), Context::default()),
        &world.deps,
    )
    .await
    .expect("scan runs")
}

async fn findings_of(world: &World, bucket: &str) -> Vec<Finding> {
    world
        .deps
        .stores
        .findings
        .for_resource(&format!("arn:aws:s3:::{bucket}"))
        .await
        .unwrap()
}

fn policies_in(findings: &[Finding], state: FindingState) -> BTreeSet<String> {
    findings
        .iter()
        .filter(|f| f.state == state)
        .map(|f| f.policy_id.clone())
        .collect()
}

fn set(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|s| (*s).to_owned()).collect()
}

const OPEN_BUCKET_FAILS: &[&str] = &[
    "S3BucketPublicReadProhibited",
    "S3BucketLevelPublicAccessBlock",
    "S3BucketDefaultEncryption",
    "S3BucketSslRequestsOnly",
    "S3BucketVersioningEnabled",
    "S3BucketLoggingEnabled",
    "S3BucketAclsProhibited",
    "S3BucketKmsEncryption",
    "S3BucketMfaDeleteEnabled",
    "S3BucketLifecyclePolicyConfigured",
    "S3BucketCrossRegionReplication",
    "S3BucketEventNotificationsEnabled",
    "S3BucketObjectLockEnabled",
    // its policy lets everyone read objects
    "S3BucketCrossAccountAccess",
];

/// What the compliant bucket still fails on the local AWS: MFA delete can only be turned on by
/// the root user with its MFA device, which the local AWS does not have (the policy is tested
/// with example configurations).
const COMPLIANT_BUCKET_FAILS_LOCALLY: &[&str] = &["S3BucketMfaDeleteEnabled"];

#[tokio::test]
async fn inventory_and_scan_find_exactly_the_misconfigurations() {
    // Given a customer account with a misconfigured bucket in us-east-1 and a compliant one
    // (plus its log bucket) in eu-west-1, replicated to a bucket in us-east-1
    let world = World::new().await;
    let account = world.onboard().await;
    let (open, locked, logs, replica) = (
        world.bucket("open"),
        world.bucket("locked"),
        world.bucket("logs"),
        world.bucket("replica"),
    );
    let us = world.customer_s3(&account, "us-east-1").await;
    let eu = world.customer_s3(&account, "eu-west-1").await;
    seed::misconfigured_bucket(&us, &open, "us-east-1").await;
    seed::replica_bucket(&us, &replica, "us-east-1").await;
    seed::create_bucket(&eu, &logs, "eu-west-1").await;
    seed::compliant_bucket(&eu, &locked, "eu-west-1", &logs, &replica).await;

    // When the inventory runs
    let summary = inventory(&world, &account).await;

    // Then every bucket is stored under its own region, with the account block as a resource
    assert!(summary.errors.is_empty(), "{:?}", summary.errors);
    let s3 = &summary.accounts[0].services["s3"];
    assert!(s3.complete);
    assert_eq!(s3.by_region.get("eu-west-1"), Some(&2), "{s3:?}");
    assert_eq!(s3.by_region.get("us-east-1"), Some(&3), "{s3:?}");
    assert!(s3.regions.values().all(|r| r.complete), "{s3:?}");
    assert_eq!(s3.regions["eu-west-1"].resources, 2, "{s3:?}");
    assert_eq!(s3.regions["us-east-1"].resources, 3, "{s3:?}");
    let partition = format!("{}_s3", account.account_id);
    let stored = world
        .deps
        .stores
        .resources
        .get(&partition, &format!("arn:aws:s3:::{locked}"))
        .await
        .unwrap()
        .expect("the compliant bucket is stored");
    assert_eq!(stored.region, "eu-west-1");
    assert_eq!(stored.configuration["Versioning"]["Status"], "Enabled");
    assert_eq!(
        stored.configuration["Encryption"]["Rules"][0]["SSEAlgorithm"],
        "aws:kms"
    );
    // And its replication rule names the destination's region, read from the destination
    let rule = &stored.configuration["Replication"]["Rules"][0];
    assert_eq!(rule["Destination"]["Region"], "us-east-1", "{rule}");
    assert_eq!(rule["CrossRegion"], true, "{rule}");
    assert_eq!(
        stored.configuration["ObjectLock"]["ObjectLockEnabled"],
        "Enabled"
    );

    // When the scan runs
    let first = scan(&world).await;
    assert!(first.errors.is_empty(), "{:?}", first.errors);

    // Then the misconfigured bucket fails exactly the expected policies, the compliant one none
    let open_findings = findings_of(&world, &open).await;
    assert_eq!(
        policies_in(&open_findings, FindingState::Active),
        set(OPEN_BUCKET_FAILS)
    );
    assert_eq!(
        policies_in(&findings_of(&world, &locked).await, FindingState::Active),
        set(COMPLIANT_BUCKET_FAILS_LOCALLY)
    );
    let account_block = world
        .deps
        .stores
        .findings
        .for_resource(&format!(
            "arn:aws:s3::{}:account-public-access-block",
            account.account_id
        ))
        .await
        .unwrap();
    assert_eq!(
        policies_in(&account_block, FindingState::Active),
        set(&["S3AccountLevelPublicAccessBlock"])
    );
    // And the evidence is the offending part of the configuration, not the whole document
    let read = open_findings
        .iter()
        .find(|f| f.policy_id == "S3BucketPublicReadProhibited")
        .unwrap();
    let evidence = read.evidence.as_object().unwrap();
    assert!(
        evidence.keys().any(|k| k.starts_with("Acl.Grants[")),
        "{evidence:?}"
    );
    assert!(!evidence.contains_key("Name"));

    // When the scan runs again, nothing changes but timestamps
    let second = scan(&world).await;
    assert_eq!((second.tally.new, second.tally.resolved), (0, 0));
    assert_eq!(second.tally.still_active, first.tally.new);
    let again = findings_of(&world, &open).await;
    for (before, after) in open_findings.iter().zip(&again) {
        assert_eq!(before.first_seen, after.first_seen);
        assert_eq!(before.evidence, after.evidence);
        assert_eq!(before.state, after.state);
        assert!(after.last_evaluated >= before.last_evaluated);
    }

    // When versioning is fixed and inventory and scan run again
    seed::enable_versioning(&us, &open).await;
    inventory(&world, &account).await;
    let third = scan(&world).await;

    // Then exactly that finding is resolved and FirstSeen of the others is untouched
    assert_eq!(third.tally.resolved, 1);
    let after_fix = findings_of(&world, &open).await;
    assert_eq!(
        policies_in(&after_fix, FindingState::Resolved),
        set(&["S3BucketVersioningEnabled"])
    );
    // And the now versioned bucket, with no lifecycle rule, opens exactly the versioned-lifecycle
    // finding (S3.10)
    assert_eq!(third.tally.new, 1, "{third:?}");
    let mut still_failing: BTreeSet<String> = set(OPEN_BUCKET_FAILS);
    still_failing.remove("S3BucketVersioningEnabled");
    still_failing.insert("S3VersionedBucketLifecyclePolicy".into());
    assert_eq!(policies_in(&after_fix, FindingState::Active), still_failing);
    let resolved = after_fix
        .iter()
        .find(|f| f.policy_id == "S3BucketVersioningEnabled")
        .unwrap();
    assert!(resolved.resolved_at.is_some());

    // When the bucket is deleted
    us.delete_bucket().bucket(&open).send().await.unwrap();
    let after_delete = inventory(&world, &account).await;

    // Then it leaves the inventory and all its findings are resolved
    assert_eq!(after_delete.removed, 1);
    assert_eq!(
        after_delete.accounts[0].services["s3"].regions["us-east-1"].removed,
        1
    );
    assert!(world
        .deps
        .stores
        .resources
        .get(&partition, &format!("arn:aws:s3:::{open}"))
        .await
        .unwrap()
        .is_none());
    scan(&world).await;
    let gone = findings_of(&world, &open).await;
    assert_eq!(policies_in(&gone, FindingState::Active), BTreeSet::new());
    let mut every_failure = set(OPEN_BUCKET_FAILS);
    every_failure.insert("S3VersionedBucketLifecyclePolicy".into());
    assert_eq!(policies_in(&gone, FindingState::Resolved), every_failure);
}

#[tokio::test]
async fn access_denied_on_an_attribute_is_an_error_not_a_finding() {
    // Given a bucket whose policy cannot be read by qrie's role
    let world = World::new().await;
    let account = world.onboard().await;
    let name = world.bucket("denied");
    let s3 = world.customer_s3(&account, "us-east-1").await;
    seed::create_bucket(&s3, &name, "us-east-1").await;
    inject_fault(json!({
        "method": "GET",
        "path_regex": format!("^/{name}/?$"),
        "query_key": "policy",
        "status": 403,
        "code": "AccessDenied",
    }))
    .await;

    // When the inventory and the scan run
    let summary = inventory(&world, &account).await;
    let scanned = scan(&world).await;

    // Then the bucket is reported as a collection error naming the call, and not stored
    let s3_summary = &summary.accounts[0].services["s3"];
    assert_eq!(s3_summary.failed, 1, "{summary:?}");
    assert!(
        summary.errors.iter().any(|e| e.contains(&name)
            && e.contains("GetBucketPolicy")
            && e.contains("AccessDenied")),
        "{:?}",
        summary.errors
    );
    let partition = format!("{}_s3", account.account_id);
    let arn = format!("arn:aws:s3:::{name}");
    assert!(world
        .deps
        .stores
        .resources
        .get(&partition, &arn)
        .await
        .unwrap()
        .is_none());
    // And no finding claims the bucket lacks a TLS-only policy (or anything else)
    assert!(findings_of(&world, &name).await.is_empty());
    assert!(scanned.errors.is_empty(), "{:?}", scanned.errors);
}

#[tokio::test]
async fn a_bucket_that_becomes_unreadable_keeps_its_last_known_state() {
    // Given a bucket inventoried once
    let world = World::new().await;
    let account = world.onboard().await;
    let name = world.bucket("flaky");
    let s3 = world.customer_s3(&account, "us-east-1").await;
    seed::create_bucket(&s3, &name, "us-east-1").await;
    inventory(&world, &account).await;
    let partition = format!("{}_s3", account.account_id);
    let arn = format!("arn:aws:s3:::{name}");
    let before = world
        .deps
        .stores
        .resources
        .get(&partition, &arn)
        .await
        .unwrap()
        .expect("stored");

    // When a later run cannot read its ACL
    inject_fault(json!({
        "method": "GET",
        "path_regex": format!("^/{name}/?$"),
        "query_key": "acl",
        "code": "AccessDenied",
    }))
    .await;
    let summary = inventory(&world, &account).await;

    // Then it is neither removed as unseen nor overwritten
    assert_eq!(summary.removed, 0);
    let after = world
        .deps
        .stores
        .resources
        .get(&partition, &arn)
        .await
        .unwrap()
        .expect("still stored");
    assert_eq!(after.last_seen_at, before.last_seen_at);
}

#[tokio::test]
async fn a_bucket_whose_region_cannot_be_read_is_kept_while_a_deleted_one_elsewhere_is_removed() {
    // Given a bucket in eu-west-1 and one in us-east-1, inventoried once
    let world = World::new().await;
    let account = world.onboard().await;
    let (unlocated, gone) = (world.bucket("unlocated"), world.bucket("gone"));
    let eu = world.customer_s3(&account, "eu-west-1").await;
    let us = world.customer_s3(&account, "us-east-1").await;
    seed::create_bucket(&eu, &unlocated, "eu-west-1").await;
    seed::create_bucket(&us, &gone, "us-east-1").await;
    let first = inventory(&world, &account).await;
    assert!(first.errors.is_empty(), "{:?}", first.errors);
    let partition = format!("{}_s3", account.account_id);
    let unlocated_arn = format!("arn:aws:s3:::{unlocated}");
    let before = world
        .deps
        .stores
        .resources
        .get(&partition, &unlocated_arn)
        .await
        .unwrap()
        .expect("stored");

    // When the us-east-1 bucket is deleted and a later run cannot read where the other one is
    us.delete_bucket().bucket(&gone).send().await.unwrap();
    inject_fault(json!({
        "method": "GET",
        "path_regex": format!("^/{unlocated}/?$"),
        "query_key": "location",
        "code": "AccessDenied",
    }))
    .await;
    let summary = inventory(&world, &account).await;

    // Then the deleted bucket is removed from its region
    let s3 = &summary.accounts[0].services["s3"];
    assert_eq!(summary.removed, 1, "{summary:?}");
    let us_region = &s3.regions["us-east-1"];
    assert!(us_region.complete && us_region.removed == 1, "{s3:?}");
    assert!(world
        .deps
        .stores
        .resources
        .get(&partition, &format!("arn:aws:s3:::{gone}"))
        .await
        .unwrap()
        .is_none());
    // And the unlocatable bucket is left as stored, reported as failed under its stored region
    let after = world
        .deps
        .stores
        .resources
        .get(&partition, &unlocated_arn)
        .await
        .unwrap()
        .expect("still stored");
    assert_eq!(after.last_seen_at, before.last_seen_at);
    let eu_region = &s3.regions["eu-west-1"];
    assert_eq!((eu_region.failed, eu_region.removed), (1, 0), "{s3:?}");
    assert!(
        summary.errors.iter().any(|e| e.contains(&unlocated)
            && e.contains("GetBucketLocation")
            && e.contains("AccessDenied")),
        "{:?}",
        summary.errors
    );
}

#[tokio::test]
async fn throttling_is_retried_through_to_success() {
    // Given S3 throttles one versioning read of a bucket once
    let world = World::new().await;
    let account = world.onboard().await;
    let name = world.bucket("throttled");
    let s3 = world.customer_s3(&account, "us-east-1").await;
    seed::create_bucket(&s3, &name, "us-east-1").await;
    seed::enable_versioning(&s3, &name).await;
    inject_fault(json!({
        "method": "GET",
        "path_regex": format!("^/{name}/?$"),
        "query_key": "versioning",
        "status": 503,
        "code": "SlowDown",
        "message": "Please reduce your request rate.",
        "times": 1,
    }))
    .await;

    // When the inventory runs
    let summary = inventory(&world, &account).await;

    // Then the retry succeeds and the bucket is stored with its real setting
    assert!(summary.errors.is_empty(), "{:?}", summary.errors);
    let stored = world
        .deps
        .stores
        .resources
        .get(
            &format!("{}_s3", account.account_id),
            &format!("arn:aws:s3:::{name}"),
        )
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(stored.configuration["Versioning"]["Status"], "Enabled");
}

#[tokio::test]
async fn an_account_level_block_is_read_through_s3_control() {
    // Given an account whose account-level Block Public Access is fully on
    let world = World::new().await;
    let account = world.onboard().await;
    block_public_access_for_the_account(&world, &account).await;
    let name = world.bucket("covered");
    let s3 = world.customer_s3(&account, "us-east-1").await;
    seed::misconfigured_bucket(&s3, &name, "us-east-1").await;

    // When inventory and scan run
    inventory(&world, &account).await;
    scan(&world).await;

    // Then the account passes, and the public ACL and policy are neutralised by it
    let account_findings = world
        .deps
        .stores
        .findings
        .for_resource(&format!(
            "arn:aws:s3::{}:account-public-access-block",
            account.account_id
        ))
        .await
        .unwrap();
    assert!(account_findings.is_empty(), "{account_findings:?}");
    let bucket = policies_in(&findings_of(&world, &name).await, FindingState::Active);
    assert!(
        !bucket.contains("S3BucketPublicReadProhibited"),
        "{bucket:?}"
    );
    assert!(bucket.contains("S3BucketLevelPublicAccessBlock"));
}

/// Turns the account-level Block Public Access fully on, as the customer's administrator would.
pub async fn block_public_access_for_the_account(world: &World, account: &Account) {
    let sdk = world.as_customer(account).await;
    let control = qrie::aws::s3control_client(&sdk, &qrie_tests::settings());
    control
        .put_public_access_block()
        .account_id(&account.account_id)
        .public_access_block_configuration(
            aws_sdk_s3control::types::PublicAccessBlockConfiguration::builder()
                .block_public_acls(true)
                .ignore_public_acls(true)
                .block_public_policy(true)
                .restrict_public_buckets(true)
                .build(),
        )
        .send()
        .await
        .unwrap();
}

/// Makes every read of the account-level block of `account` answer AccessDenied.
pub async fn deny_account_block_reads(account: &Account) {
    inject_fault(json!({
        "method": "GET",
        "path_regex": "^/v20180820/configuration/publicAccessBlock$",
        "headers": {"x-amz-account-id": account.account_id},
        "code": "AccessDenied",
        "protocol": "xml_wrapped",
    }))
    .await;
}

#[tokio::test]
async fn an_unreadable_account_block_opens_nothing_and_keeps_existing_findings() {
    // Given a public bucket whose public-read finding is open
    let world = World::new().await;
    let account = world.onboard().await;
    let s3 = world.customer_s3(&account, "us-east-1").await;
    let (was_public, now_public) = (world.bucket("was-public"), world.bucket("now-public"));
    seed::misconfigured_bucket(&s3, &was_public, "us-east-1").await;
    inventory(&world, &account).await;
    scan(&world).await;
    let read = |findings: &[Finding]| {
        findings
            .iter()
            .find(|f| f.policy_id == "S3BucketPublicReadProhibited")
            .cloned()
    };
    let before = read(&findings_of(&world, &was_public).await).expect("public read is open");
    assert_eq!(before.state, FindingState::Active);

    // When the account turns Block Public Access on, another public bucket appears, and qrie's
    // role is denied s3:GetAccountPublicAccessBlock
    block_public_access_for_the_account(&world, &account).await;
    seed::misconfigured_bucket(&s3, &now_public, "us-east-1").await;
    deny_account_block_reads(&account).await;
    let summary = inventory(&world, &account).await;
    let scanned = scan(&world).await;

    // Then the inventory reports the failed call, and stores both buckets as partly read
    assert!(
        summary
            .errors
            .iter()
            .any(|e| e.contains("account-public-access-block")
                && e.contains("GetPublicAccessBlock (account)")
                && e.contains("AccessDenied")),
        "{:?}",
        summary.errors
    );
    assert_eq!(summary.accounts[0].services["s3"].partial, 2, "{summary:?}");
    // And no public-read finding opens on the new bucket (no false CRITICAL)
    let new_findings = findings_of(&world, &now_public).await;
    assert_eq!(read(&new_findings), None, "{new_findings:?}");
    // And the open finding is neither resolved nor refreshed: it stays as it was
    let after = read(&findings_of(&world, &was_public).await).unwrap();
    assert_eq!(after, before);
    // And the policies that do not read the account's block are still evaluated
    assert!(policies_in(&new_findings, FindingState::Active).contains("S3BucketVersioningEnabled"));
    // And the scan counts and names what it could not evaluate, and why
    // (public read and write, and the two combinations of public access with the data)
    assert_eq!(scanned.tally.not_evaluated, 8, "{scanned:?}");
    for bucket in [&was_public, &now_public] {
        assert!(
            scanned
                .unevaluated
                .iter()
                .any(|l| l.contains(bucket.as_str())
                    && l.contains("S3BucketPublicReadProhibited")
                    && l.contains("AccessDenied")),
            "{:?}",
            scanned.unevaluated
        );
    }
}

#[tokio::test]
async fn an_unlocatable_replication_destination_leaves_replication_unevaluated() {
    // Given a versioned bucket replicating to a bucket whose location qrie's role may not read
    // (another account's, say), with its lifecycle policy otherwise missing
    let world = World::new().await;
    let account = world.onboard().await;
    let us = world.customer_s3(&account, "us-east-1").await;
    let eu = world.customer_s3(&account, "eu-west-1").await;
    let (source, replica) = (world.bucket("source"), world.bucket("elsewhere"));
    seed::replica_bucket(&eu, &replica, "eu-west-1").await;
    seed::replica_bucket(&us, &source, "us-east-1").await;
    seed::replicate(&us, &source, &replica).await;
    inject_fault(json!({
        "method": "GET",
        "path_regex": format!("^/{replica}/?$"),
        "query_key": "location",
        "code": "AccessDenied",
    }))
    .await;

    // When the inventory and the scan run
    inventory(&world, &account).await;
    let scanned = scan(&world).await;

    // Then the source bucket is stored, its replication marked unreadable with the failed call
    let stored = world
        .deps
        .stores
        .resources
        .get(
            &format!("{}_s3", account.account_id),
            &format!("arn:aws:s3:::{source}"),
        )
        .await
        .unwrap()
        .expect("the source bucket is stored");
    assert_eq!(
        stored.configuration["Unreadable"],
        json!([{"Path": "Replication",
                "Operation": "GetBucketLocation (replication destination)",
                "Code": "AccessDenied"}])
    );
    // And no replication finding is opened (nor a pass assumed): it is reported as not evaluated
    let findings = policies_in(&findings_of(&world, &source).await, FindingState::Active);
    assert!(
        !findings.contains("S3BucketCrossRegionReplication"),
        "{findings:?}"
    );
    assert!(
        scanned
            .unevaluated
            .iter()
            .any(|l| l.contains(source.as_str())
                && l.contains("S3BucketCrossRegionReplication")
                && l.contains("AccessDenied")),
        "{:?}",
        scanned.unevaluated
    );
    // And the policies that do not read it are still evaluated
    assert!(
        findings.contains("S3VersionedBucketLifecyclePolicy"),
        "{findings:?}"
    );
}

#[tokio::test]
async fn access_denied_on_a_replication_lifecycle_notification_or_object_lock_read_is_an_error() {
    // Given four buckets, each with one of the newer attribute reads denied to qrie's role
    let world = World::new().await;
    let account = world.onboard().await;
    let s3 = world.customer_s3(&account, "us-east-1").await;
    let cases = [
        ("replication", "GetBucketReplication"),
        ("lifecycle", "GetBucketLifecycleConfiguration"),
        ("notification", "GetBucketNotificationConfiguration"),
        ("object-lock", "GetObjectLockConfiguration"),
    ];
    let mut buckets = Vec::new();
    for (query_key, _) in cases {
        let name = world.bucket(&format!("denied-{query_key}"));
        seed::create_bucket(&s3, &name, "us-east-1").await;
        inject_fault(json!({
            "method": "GET",
            "path_regex": format!("^/{name}/?$"),
            "query_key": query_key,
            "status": 403,
            "code": "AccessDenied",
        }))
        .await;
        buckets.push(name);
    }

    // When the inventory and the scan run
    let summary = inventory(&world, &account).await;
    scan(&world).await;

    // Then each bucket is a collection error naming its call, and none has a finding
    assert_eq!(summary.accounts[0].services["s3"].failed, 4, "{summary:?}");
    for (name, (_, operation)) in buckets.iter().zip(cases) {
        assert!(
            summary.errors.iter().any(|e| e.contains(name.as_str())
                && e.contains(operation)
                && e.contains("AccessDenied")),
            "{operation}: {:?}",
            summary.errors
        );
        assert!(findings_of(&world, name).await.is_empty(), "{name}");
    }
}

const CROSS_ACCOUNT: &str = "S3BucketCrossAccountAccess";
const ACCESS_POINT_BLOCK: &str = "S3AccessPointPublicAccessBlock";
/// An account outside every test's onboarded accounts (those are random 12-digit ids).
const OTHER_ACCOUNT: &str = "444455556666";

#[tokio::test]
async fn a_bucket_policy_granting_another_account_fails_and_its_confined_twins_do_not() {
    // Given a bucket whose policy lets another account read its objects, a twin whose same grant
    // sits behind an organisation perimeter (a Deny to every caller outside the organisation),
    // and one whose policy grants a role of its own account only
    let world = World::new().await;
    let account = world.onboard().await;
    let (shared, perimeter, own) = (
        world.bucket("shared"),
        world.bucket("perimeter"),
        world.bucket("own"),
    );
    let us = world.customer_s3(&account, "us-east-1").await;
    for bucket in [&shared, &perimeter, &own] {
        seed::create_bucket(&us, bucket, "us-east-1").await;
    }
    let other_root = format!("arn:aws:iam::{OTHER_ACCOUNT}:root");
    seed::put_policy(
        &us,
        &shared,
        &[seed::object_read_grant(&shared, &other_root)],
    )
    .await;
    seed::put_policy(
        &us,
        &perimeter,
        &[
            seed::object_read_grant(&perimeter, &other_root),
            seed::organisation_perimeter(&perimeter, "o-a1b2c3d4e5"),
        ],
    )
    .await;
    let own_role = format!("arn:aws:iam::{}:role/app", account.account_id);
    seed::put_policy(&us, &own, &[seed::object_read_grant(&own, &own_role)]).await;

    // When inventory and scan run
    let summary = inventory(&world, &account).await;
    assert!(summary.errors.is_empty(), "{:?}", summary.errors);
    let first = scan(&world).await;
    assert!(first.errors.is_empty(), "{:?}", first.errors);

    // Then the bucket is stored with its own account, which the policy is judged against
    let stored = world
        .deps
        .stores
        .resources
        .get(
            &format!("{}_s3", account.account_id),
            &format!("arn:aws:s3:::{shared}"),
        )
        .await
        .unwrap()
        .expect("the shared bucket is stored");
    assert_eq!(stored.configuration["AccountId"], account.account_id);
    // And only the unconfined grant is a finding, with the policy as its evidence
    let findings = findings_of(&world, &shared).await;
    let cross = findings
        .iter()
        .find(|f| f.policy_id == CROSS_ACCOUNT && f.state == FindingState::Active)
        .unwrap_or_else(|| panic!("{findings:?}"));
    assert!(
        cross.evidence["Policy"].to_string().contains(OTHER_ACCOUNT),
        "{}",
        cross.evidence
    );
    for twin in [&perimeter, &own] {
        let twin_findings = findings_of(&world, twin).await;
        assert!(
            !policies_in(&twin_findings, FindingState::Active).contains(CROSS_ACCOUNT),
            "{twin}: {twin_findings:?}"
        );
    }

    // When the shared bucket's grant is put behind the perimeter too
    seed::put_policy(
        &us,
        &shared,
        &[
            seed::object_read_grant(&shared, &other_root),
            seed::organisation_perimeter(&shared, "o-a1b2c3d4e5"),
        ],
    )
    .await;
    inventory(&world, &account).await;
    scan(&world).await;

    // Then its finding is resolved
    let after = findings_of(&world, &shared).await;
    assert!(
        policies_in(&after, FindingState::Resolved).contains(CROSS_ACCOUNT),
        "{after:?}"
    );
    assert!(!policies_in(&after, FindingState::Active).contains(CROSS_ACCOUNT));
}

/// An S3 Control client of the customer account in `region`.
async fn control(world: &World, account: &Account, region: &str) -> aws_sdk_s3control::Client {
    let sdk = world.as_customer(account).await;
    qrie::aws::s3control_client(&qrie::aws::in_region(&sdk, region), &qrie_tests::settings())
}

fn access_point_arn(account: &Account, name: &str) -> String {
    format!(
        "arn:aws:s3:us-east-1:{}:accesspoint/{name}",
        account.account_id
    )
}

async fn access_point_findings(world: &World, account: &Account, name: &str) -> Vec<Finding> {
    world
        .deps
        .stores
        .findings
        .for_resource(&access_point_arn(account, name))
        .await
        .unwrap()
}

#[tokio::test]
async fn access_points_are_inventoried_and_one_that_does_not_block_public_policies_fails() {
    // Given a bucket with two access points: one that leaves BlockPublicPolicy off, and one with
    // S3's default block (all four on), a VPC origin and a policy
    let world = World::new().await;
    let account = world.onboard().await;
    let bucket = world.bucket("data");
    let us = world.customer_s3(&account, "us-east-1").await;
    seed::create_bucket(&us, &bucket, "us-east-1").await;
    let control = control(&world, &account, "us-east-1").await;
    let (open, closed) = (world.bucket("open-ap"), world.bucket("closed-ap"));
    seed::create_access_point(
        &control,
        &account.account_id,
        &open,
        &bucket,
        Some(seed::block_all_but_public_policy()),
        None,
    )
    .await;
    seed::create_access_point(
        &control,
        &account.account_id,
        &closed,
        &bucket,
        None,
        Some("vpc-1a2b3c4d"),
    )
    .await;
    let policy = json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow",
        "Principal": {"AWS": format!("arn:aws:iam::{}:role/app", account.account_id)},
        "Action": "s3:GetObject",
        "Resource": format!("{}/object/*", access_point_arn(&account, &closed)),
    }]});
    control
        .put_access_point_policy()
        .account_id(&account.account_id)
        .name(&closed)
        .policy(policy.to_string())
        .send()
        .await
        .unwrap();

    // When the inventory runs (listing access points in us-east-1 and eu-west-1)
    let summary = inventory(&world, &account).await;

    // Then both access points are stored in their region, read in full
    assert!(summary.errors.is_empty(), "{:?}", summary.errors);
    let s3 = &summary.accounts[0].services["s3"];
    assert!(s3.complete, "{s3:?}");
    assert_eq!(
        s3.regions["us-east-1"].resources, 4,
        "bucket, account block, two access points: {s3:?}"
    );
    let partition = format!("{}_s3", account.account_id);
    let get = |name: String| {
        let world = &world;
        let partition = partition.clone();
        let arn = access_point_arn(&account, &name);
        async move {
            world
                .deps
                .stores
                .resources
                .get(&partition, &arn)
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("{arn} is stored"))
        }
    };
    let open_ap = get(open.clone()).await;
    assert_eq!(open_ap.resource_type, "AWS::S3::AccessPoint");
    assert_eq!(open_ap.region, "us-east-1");
    assert_eq!(open_ap.configuration["Bucket"], bucket.as_str());
    assert_eq!(open_ap.configuration["NetworkOrigin"], "Internet");
    assert_eq!(
        open_ap.configuration["PublicAccessBlock"]["BlockPublicPolicy"],
        false
    );
    assert!(open_ap.configuration["Policy"].is_null());
    let closed_ap = get(closed.clone()).await;
    assert_eq!(closed_ap.configuration["VpcId"], "vpc-1a2b3c4d");
    assert_eq!(
        closed_ap.configuration["Policy"]["Statement"][0]["Action"],
        "s3:GetObject"
    );

    // When the scan runs
    scan(&world).await;

    // Then only the access point that lets public policies through fails, with the setting as
    // evidence
    let findings = access_point_findings(&world, &account, &open).await;
    let finding = findings
        .iter()
        .find(|f| f.policy_id == ACCESS_POINT_BLOCK)
        .unwrap_or_else(|| panic!("{findings:?}"));
    assert_eq!(finding.state, FindingState::Active);
    assert_eq!(
        finding.evidence["PublicAccessBlock.BlockPublicPolicy"], false,
        "{}",
        finding.evidence
    );
    assert!(access_point_findings(&world, &account, &closed)
        .await
        .is_empty());

    // When the failing access point is deleted and inventory and scan run again
    control
        .delete_access_point()
        .account_id(&account.account_id)
        .name(&open)
        .send()
        .await
        .unwrap();
    let after = inventory(&world, &account).await;
    scan(&world).await;

    // Then it leaves the inventory and its finding is resolved
    assert_eq!(after.removed, 1, "{after:?}");
    let findings = access_point_findings(&world, &account, &open).await;
    assert_eq!(
        policies_in(&findings, FindingState::Resolved),
        set(&[ACCESS_POINT_BLOCK])
    );
}

#[tokio::test]
async fn access_denied_on_an_access_point_policy_is_an_error_not_a_resolution() {
    // Given an access point whose public-policy finding is open
    let world = World::new().await;
    let account = world.onboard().await;
    let bucket = world.bucket("denied");
    let us = world.customer_s3(&account, "us-east-1").await;
    seed::create_bucket(&us, &bucket, "us-east-1").await;
    let control = control(&world, &account, "us-east-1").await;
    let name = world.bucket("denied-ap");
    seed::create_access_point(
        &control,
        &account.account_id,
        &name,
        &bucket,
        Some(seed::block_all_but_public_policy()),
        None,
    )
    .await;
    inventory(&world, &account).await;
    scan(&world).await;
    let before = access_point_findings(&world, &account, &name).await;
    assert_eq!(
        policies_in(&before, FindingState::Active),
        set(&[ACCESS_POINT_BLOCK])
    );

    // When qrie's role is denied GetAccessPointPolicy on it (this account, this access point)
    inject_fault(json!({
        "method": "GET",
        "path_regex": format!("^/v20180820/accesspoint/{name}/policy$"),
        "headers": {"x-amz-account-id": account.account_id},
        "account": account.account_id,
        "code": "AccessDenied",
        "protocol": "xml_wrapped",
    }))
    .await;
    let summary = inventory(&world, &account).await;
    scan(&world).await;

    // Then the failed call is a collection error naming the access point and the call
    assert!(
        summary.errors.iter().any(|e| e.contains(&name)
            && e.contains("GetAccessPointPolicy")
            && e.contains("AccessDenied")),
        "{:?}",
        summary.errors
    );
    // And the access point is kept as stored, and its finding stays open since it first opened
    assert_eq!(summary.removed, 0, "{summary:?}");
    let after = access_point_findings(&world, &account, &name).await;
    assert_eq!(after.len(), 1, "{after:?}");
    assert_eq!(after[0].state, FindingState::Active);
    assert_eq!(after[0].first_seen, before[0].first_seen);
    assert!(after[0].resolved_at.is_none());
}
