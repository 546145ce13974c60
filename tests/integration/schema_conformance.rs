//! The declared configuration schemas against what the real collectors produce: every path in
//! the output of the S3 collector on the local AWS is declared with the right type, and every
//! declared path appears in some output, so the schema that policies are checked against cannot
//! drift from the collector.

use std::collections::BTreeSet;

use aws_sdk_s3::types::{
    BucketVersioningStatus, PublicAccessBlockConfiguration, ServerSideEncryption,
    ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
    VersioningConfiguration,
};
use lambda_runtime::{Context, LambdaEvent};
use qrie::collect::s3::{ACCOUNT_PUBLIC_ACCESS_BLOCK_SCHEMA, BUCKET_SCHEMA};
use qrie::handler::inventory_handler;
use qrie::inventory::{InventoryRequest, InventorySummary};
use qrie::model::Account;
use qrie::policy::schema::{Schema, Strictness};
use qrie_tests::World;
use serde_json::Value;

use crate::s3_posture::{block_public_access_for_the_account, deny_account_block_reads};
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

/// The stored configurations of the account block and of the named buckets, as the scan reads
/// them.
async fn configurations(world: &World, account: &Account, buckets: &[&String]) -> Vec<Value> {
    let partition = format!("{}_s3", account.account_id);
    let mut out = Vec::new();
    let arns = std::iter::once(format!(
        "arn:aws:s3::{}:account-public-access-block",
        account.account_id
    ))
    .chain(buckets.iter().map(|b| format!("arn:aws:s3:::{b}")));
    for arn in arns {
        let resource = world
            .deps
            .stores
            .resources
            .get(&partition, &arn)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{arn} is stored"));
        out.push(resource.configuration);
    }
    out
}

/// Checks each configuration against `schema` and returns the declared paths seen.
fn conform(schema: &Schema, configurations: &[&Value], seen: &mut BTreeSet<String>) {
    for configuration in configurations {
        let violations = schema.check_value(configuration, "", Strictness::Complete);
        assert!(
            violations.is_empty(),
            "{}: {violations:#?}\nin {configuration:#}",
            schema.resource_type
        );
        seen.extend(schema.present_paths(configuration));
    }
}

#[tokio::test]
async fn the_s3_collector_writes_exactly_the_declared_schema() {
    // Given buckets in varied states: public (ACL and policy), compliant (block, KMS encryption,
    // versioning, logging, enforced ownership, a deny policy), a log bucket, and one with a
    // partial block, AES256 encryption and suspended versioning
    let world = World::new().await;
    let account = world.onboard().await;
    let (open, locked, logs, partial) = (
        world.bucket("open"),
        world.bucket("locked"),
        world.bucket("logs"),
        world.bucket("partial"),
    );
    let us = world.customer_s3(&account, "us-east-1").await;
    let eu = world.customer_s3(&account, "eu-west-1").await;
    seed::misconfigured_bucket(&us, &open, "us-east-1").await;
    seed::create_bucket(&eu, &logs, "eu-west-1").await;
    seed::compliant_bucket(&eu, &locked, "eu-west-1", &logs).await;
    seed::create_bucket(&us, &partial, "us-east-1").await;
    us.put_public_access_block()
        .bucket(&partial)
        .public_access_block_configuration(
            PublicAccessBlockConfiguration::builder()
                .ignore_public_acls(true)
                .block_public_acls(false)
                .build(),
        )
        .send()
        .await
        .unwrap();
    us.put_bucket_encryption()
        .bucket(&partial)
        .server_side_encryption_configuration(
            ServerSideEncryptionConfiguration::builder()
                .rules(
                    ServerSideEncryptionRule::builder()
                        .apply_server_side_encryption_by_default(
                            ServerSideEncryptionByDefault::builder()
                                .sse_algorithm(ServerSideEncryption::Aes256)
                                .build()
                                .unwrap(),
                        )
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    seed::enable_versioning(&us, &partial).await;
    us.put_bucket_versioning()
        .bucket(&partial)
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Suspended)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let buckets = [&open, &locked, &logs, &partial];
    let mut rounds = Vec::new();

    // When the inventory runs with no account-level block, with one, and with its reads denied
    let first = inventory(&world, &account).await;
    assert!(first.errors.is_empty(), "{:?}", first.errors);
    rounds.push(configurations(&world, &account, &buckets).await);
    block_public_access_for_the_account(&world, &account).await;
    let second = inventory(&world, &account).await;
    assert!(second.errors.is_empty(), "{:?}", second.errors);
    rounds.push(configurations(&world, &account, &buckets).await);
    deny_account_block_reads(&account).await;
    let third = inventory(&world, &account).await;
    assert!(!third.errors.is_empty(), "the account block read is denied");
    rounds.push(configurations(&world, &account, &buckets).await);

    // Then the states were all reached (the test covers what it claims to)
    let states: Vec<&Value> = rounds.iter().flat_map(|r| &r[1..]).collect();
    assert!(states
        .iter()
        .any(|c| c["Versioning"]["Status"] == "Suspended"));
    assert!(states.iter().any(|c| c["Logging"]["TargetBucket"] == *logs));
    assert!(states
        .iter()
        .any(|c| c["AccountPublicAccessBlock"].is_null()));
    assert!(states
        .iter()
        .any(|c| c["AccountPublicAccessBlock"]["BlockPublicAcls"] == true));
    assert!(states.iter().any(|c| c["Unreadable"].is_array()));

    // And every path in every output is declared with the right type
    let mut seen_buckets = BTreeSet::new();
    conform(&BUCKET_SCHEMA, &states, &mut seen_buckets);
    let blocks: Vec<&Value> = rounds.iter().map(|r| &r[0]).collect();
    let mut seen_blocks = BTreeSet::new();
    conform(
        &ACCOUNT_PUBLIC_ACCESS_BLOCK_SCHEMA,
        &blocks,
        &mut seen_blocks,
    );

    // And every declared path appears in some output (nothing declared that is never written)
    let unseen: Vec<String> = BUCKET_SCHEMA
        .paths()
        .difference(&seen_buckets)
        .cloned()
        .collect();
    assert!(
        unseen.is_empty(),
        "declared but never collected: {unseen:?}"
    );
    let unseen: Vec<String> = ACCOUNT_PUBLIC_ACCESS_BLOCK_SCHEMA
        .paths()
        .difference(&seen_blocks)
        .cloned()
        .collect();
    assert!(
        unseen.is_empty(),
        "declared but never collected: {unseen:?}"
    );
}
