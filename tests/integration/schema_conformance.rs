//! The declared configuration schemas against what the real collectors produce: every path in
//! the output of the S3 collector on the local AWS is declared with the right type, and every
//! declared path appears in some output, so the schema that policies are checked against cannot
//! drift from the collector.

use std::collections::BTreeSet;

use aws_sdk_s3::types::{
    BucketVersioningStatus, MfaDelete, PublicAccessBlockConfiguration, ServerSideEncryption,
    ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
    VersioningConfiguration,
};
use lambda_runtime::{Context, LambdaEvent};
use qrie::collect::iam;
use qrie::collect::s3::{ACCOUNT_PUBLIC_ACCESS_BLOCK_KIND, BUCKET};
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

/// The value without its `null` members (so that the paths left are those holding a value).
fn without_nulls(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), without_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}

/// Bucket paths the local AWS never fills although it accepts the settings (MFA delete needs the
/// root user's MFA device; e-mail grantees come back as canonical users): each must still be
/// written (as `null`); their declared type (string) is what the SDK returns for them.
const NULL_ONLY_LOCALLY: &[&str] = &["Acl.Grants[].Grantee.EmailAddress", "Versioning.MFADelete"];

/// The declared paths seen in outputs: written at all (`null` or not), and holding a value.
#[derive(Default)]
struct Seen {
    written: BTreeSet<String>,
    valued: BTreeSet<String>,
}

/// Checks each configuration against `schema` and records the declared paths seen in it.
fn conform(schema: &Schema, configurations: &[&Value], seen: &mut Seen) {
    for configuration in configurations {
        let violations = schema.check_value(configuration, "", Strictness::Complete);
        assert!(
            violations.is_empty(),
            "{}: {violations:#?}\nin {configuration:#}",
            schema.resource_type
        );
        seen.written.extend(schema.present_paths(configuration));
        seen.valued
            .extend(schema.present_paths(&without_nulls(configuration)));
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
    // And one with a KMS key named, MFA delete stated, and a grant to an e-mail address
    let keyed = world.bucket("keyed");
    seed::create_bucket(&us, &keyed, "us-east-1").await;
    us.put_bucket_encryption()
        .bucket(&keyed)
        .server_side_encryption_configuration(
            ServerSideEncryptionConfiguration::builder()
                .rules(
                    ServerSideEncryptionRule::builder()
                        .apply_server_side_encryption_by_default(
                            ServerSideEncryptionByDefault::builder()
                                .sse_algorithm(ServerSideEncryption::AwsKms)
                                .kms_master_key_id("arn:aws:kms:us-east-1:111122223333:key/k")
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
    us.put_bucket_versioning()
        .bucket(&keyed)
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .mfa_delete(MfaDelete::Disabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
    us.put_bucket_acl()
        .bucket(&keyed)
        .grant_read("emailAddress=\"auditor@example.com\"")
        .send()
        .await
        .unwrap();
    let buckets = [&open, &locked, &logs, &partial, &keyed];
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
    let mut seen_buckets = Seen::default();
    conform(&BUCKET.schema(), &states, &mut seen_buckets);
    let blocks: Vec<&Value> = rounds.iter().map(|r| &r[0]).collect();
    let mut seen_blocks = Seen::default();
    conform(
        &ACCOUNT_PUBLIC_ACCESS_BLOCK_KIND.schema(),
        &blocks,
        &mut seen_blocks,
    );

    // And every declared path appears in some output with a value (so its type was checked),
    // except the few the local AWS never fills, which are still written
    let unvalued: BTreeSet<String> = BUCKET
        .schema()
        .paths()
        .difference(&seen_buckets.valued)
        .cloned()
        .collect();
    let expected: BTreeSet<String> = NULL_ONLY_LOCALLY.iter().map(|p| (*p).to_owned()).collect();
    assert_eq!(
        unvalued, expected,
        "declared but never collected with a value"
    );
    for path in NULL_ONLY_LOCALLY {
        assert!(
            seen_buckets.written.contains(*path),
            "{path} is never written"
        );
    }
    let unvalued: Vec<String> = ACCOUNT_PUBLIC_ACCESS_BLOCK_KIND
        .schema()
        .paths()
        .difference(&seen_blocks.valued)
        .cloned()
        .collect();
    assert!(
        unvalued.is_empty(),
        "declared but never collected: {unvalued:?}"
    );
}

/// The kinds whose collector output a test in this file checks against the declared schema.
/// A kind registered without such a test fails here: its schema would be a hand-kept copy that
/// nothing holds to the collector.
const CHECKED_AGAINST_COLLECTOR_OUTPUT: &[&str] = &[
    BUCKET.resource_type(),
    ACCOUNT_PUBLIC_ACCESS_BLOCK_KIND.resource_type(),
    iam::USER.resource_type(),
    iam::GROUP.resource_type(),
    iam::ROLE.resource_type(),
    iam::MANAGED_POLICY.resource_type(),
    iam::PASSWORD_POLICY.resource_type(),
    iam::ROOT_USER.resource_type(),
    iam::SERVER_CERTIFICATE.resource_type(),
];

#[tokio::test]
async fn the_iam_collector_writes_the_declared_schema() {
    // Given the seeded IAM account (misconfigurations and twins), inventoried
    let world = World::new().await;
    let account = world.onboard().await;
    crate::iam_posture::seed_account(&world, &account).await;
    let summary = crate::iam_posture::inventory(&world, &account).await;
    assert!(summary.errors.is_empty(), "{:?}", summary.errors);
    // When its stored configurations are read
    let stored = crate::iam_posture::seeded_configurations(&world, &account).await;
    // Then every path in every output is declared with the right type
    for kind in [
        &iam::USER,
        &iam::GROUP,
        &iam::ROLE,
        &iam::MANAGED_POLICY,
        &iam::PASSWORD_POLICY,
        &iam::ROOT_USER,
    ] {
        let of_kind: Vec<&Value> = stored
            .iter()
            .filter(|(t, _)| t == kind.resource_type())
            .map(|(_, c)| c)
            .collect();
        assert!(!of_kind.is_empty(), "{}", kind.resource_type());
        let mut seen = Seen::default();
        conform(&kind.schema(), &of_kind, &mut seen);
        // and the documents are stored decoded
        for config in &of_kind {
            if let Some(doc) = config.get("Document") {
                assert!(doc["Statement"].is_array(), "{doc}");
            }
        }
    }
    // And the server certificate schema conforms on a configuration shaped as the collector
    // writes it (moto's UploadServerCertificate needs a real certificate; see the README)
    let cert = serde_json::json!({
        "ServerCertificateName": "www", "ServerCertificateId": "ASCA", "Path": "/",
        "Arn": format!("arn:aws:iam::{}:server-certificate/www", account.account_id),
        "AccountId": account.account_id, "UploadDate": "2026-01-01T00:00:00Z",
        "Expiration": "2027-01-01T00:00:00Z",
    });
    conform(
        &iam::SERVER_CERTIFICATE.schema(),
        &[&cert],
        &mut Seen::default(),
    );
}

#[test]
fn every_registered_kind_has_its_schema_checked_against_its_collector() {
    // given every kind in the registry
    for kind in qrie::registry::kinds() {
        // then a conformance test in this file covers it
        assert!(
            CHECKED_AGAINST_COLLECTOR_OUTPUT.contains(&kind.resource_type()),
            "{} is registered but no test checks its collector's output against its schema",
            kind.resource_type()
        );
    }
}
