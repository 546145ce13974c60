//! The declared configuration schemas against what the real collectors produce: every path in
//! the output of the S3 and EC2 collectors on the local AWS is declared with the right type, and every
//! declared path appears in some output, so the schema that policies are checked against cannot
//! drift from the collector.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_s3::primitives::DateTime;
use aws_sdk_s3::types::{
    BucketLifecycleConfiguration, BucketVersioningStatus, DefaultRetention, Event,
    ExpirationStatus, LambdaFunctionConfiguration, LifecycleExpiration, LifecycleRule,
    LifecycleRuleFilter, MfaDelete, NotificationConfiguration, ObjectLockConfiguration,
    ObjectLockEnabled, ObjectLockRetentionMode, ObjectLockRule, PublicAccessBlockConfiguration,
    QueueConfiguration, ServerSideEncryption, ServerSideEncryptionByDefault,
    ServerSideEncryptionConfiguration, ServerSideEncryptionRule, TopicConfiguration, Transition,
    TransitionStorageClass, VersioningConfiguration,
};
use lambda_runtime::{Context, LambdaEvent};
use qrie::collect::cloudtrail::{ACCOUNT_TRAIL_COVERAGE, TRAIL};
use qrie::collect::iam;
use qrie::collect::kms::KEY;
use qrie::collect::lambda::FUNCTION;
use qrie::collect::rds::{
    DB_CLUSTER, DB_CLUSTER_PARAMETER_GROUP, DB_CLUSTER_SNAPSHOT, DB_INSTANCE, DB_PARAMETER_GROUP,
    DB_SNAPSHOT, EVENT_SUBSCRIPTION,
};
use qrie::collect::s3::{ACCOUNT_PUBLIC_ACCESS_BLOCK_KIND, BUCKET};
use qrie::collect::s3_access_points::ACCESS_POINT;
use qrie::handler::inventory_handler;
use qrie::inventory::{InventoryRequest, InventorySummary};
use qrie::model::Account;
use qrie::policy::schema::{Schema, Strictness};
use qrie_tests::World;
use serde_json::Value;

use crate::s3_posture::{block_public_access_for_the_account, deny_account_block_reads};
use crate::{data_seed, seed};

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
    // versioning, logging, enforced ownership, a deny policy, a lifecycle rule, cross-region
    // replication, queue notifications, Object Lock), a log bucket, a replica, and one with
    // a partial block, AES256 encryption and suspended versioning
    let world = World::new().await;
    let account = world.onboard().await;
    let (open, locked, logs, partial, replica) = (
        world.bucket("open"),
        world.bucket("locked"),
        world.bucket("logs"),
        world.bucket("partial"),
        world.bucket("replica"),
    );
    let us = world.customer_s3(&account, "us-east-1").await;
    let eu = world.customer_s3(&account, "eu-west-1").await;
    seed::misconfigured_bucket(&us, &open, "us-east-1").await;
    seed::replica_bucket(&us, &replica, "us-east-1").await;
    seed::create_bucket(&eu, &logs, "eu-west-1").await;
    seed::compliant_bucket(&eu, &locked, "eu-west-1", &logs, &replica).await;
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
    // And one with expiring and transitioning lifecycle rules and SNS, SQS and Lambda
    // notifications, and two with Object Lock default retention in days and in years
    let aging = world.bucket("aging");
    seed::create_bucket(&us, &aging, "us-east-1").await;
    age_and_notify(&us, &aging).await;
    let (vault_days, vault_years) = (world.bucket("vault-days"), world.bucket("vault-years"));
    for (bucket, retention) in [
        (
            &vault_days,
            DefaultRetention::builder()
                .mode(ObjectLockRetentionMode::Governance)
                .days(30)
                .build(),
        ),
        (
            &vault_years,
            DefaultRetention::builder()
                .mode(ObjectLockRetentionMode::Compliance)
                .years(1)
                .build(),
        ),
    ] {
        seed::create_bucket_with_object_lock(&us, bucket, "us-east-1").await;
        us.put_object_lock_configuration()
            .bucket(bucket)
            .object_lock_configuration(
                ObjectLockConfiguration::builder()
                    .object_lock_enabled(ObjectLockEnabled::Enabled)
                    .rule(
                        ObjectLockRule::builder()
                            .default_retention(retention)
                            .build(),
                    )
                    .build(),
            )
            .send()
            .await
            .unwrap();
    }
    let buckets = [
        &open,
        &locked,
        &logs,
        &partial,
        &keyed,
        &replica,
        &aging,
        &vault_days,
        &vault_years,
    ];
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

/// Access point paths the local AWS never fills: GetAccessPoint answers no `BucketAccountId`.
const ACCESS_POINT_NULL_ONLY_LOCALLY: &[&str] = &["BucketAccountId"];

#[tokio::test]
async fn the_access_point_collector_writes_exactly_the_declared_schema() {
    // Given an Internet access point with a partial block and no policy, and a VPC access point
    // with the default block and a policy
    let world = World::new().await;
    let account = world.onboard().await;
    let bucket = world.bucket("ap-data");
    let us = world.customer_s3(&account, "us-east-1").await;
    seed::create_bucket(&us, &bucket, "us-east-1").await;
    let sdk = world.as_customer(&account).await;
    let control = qrie::aws::s3control_client(
        &qrie::aws::in_region(&sdk, "us-east-1"),
        &qrie_tests::settings(),
    );
    let (open, vpc) = (world.bucket("open-ap"), world.bucket("vpc-ap"));
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
        &vpc,
        &bucket,
        None,
        Some("vpc-1"),
    )
    .await;
    control
        .put_access_point_policy()
        .account_id(&account.account_id)
        .name(&vpc)
        .policy(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}"#)
        .send()
        .await
        .unwrap();

    // When the inventory runs
    let summary = inventory(&world, &account).await;
    assert!(summary.errors.is_empty(), "{:?}", summary.errors);
    let partition = format!("{}_s3", account.account_id);
    let mut configurations = Vec::new();
    for name in [&open, &vpc] {
        let arn = format!(
            "arn:aws:s3:us-east-1:{}:accesspoint/{name}",
            account.account_id
        );
        let stored = world
            .deps
            .stores
            .resources
            .get(&partition, &arn)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{arn} is stored"));
        configurations.push(stored.configuration);
    }

    // Then every path in every output is declared with the right type
    let mut seen = Seen::default();
    conform(
        &ACCESS_POINT.schema(),
        &configurations.iter().collect::<Vec<_>>(),
        &mut seen,
    );
    // And every declared path appears with a value, but those the local AWS never fills
    let unvalued: BTreeSet<String> = ACCESS_POINT
        .schema()
        .paths()
        .difference(&seen.valued)
        .cloned()
        .collect();
    let expected: BTreeSet<String> = ACCESS_POINT_NULL_ONLY_LOCALLY
        .iter()
        .map(|p| (*p).to_owned())
        .collect();
    assert_eq!(
        unvalued, expected,
        "declared but never collected with a value"
    );
    for path in ACCESS_POINT_NULL_ONLY_LOCALLY {
        assert!(seen.written.contains(*path), "{path} is never written");
    }
}

/// Lifecycle rules that expire and transition by days and by date and remove expired delete
/// markers, and a notification to an SNS topic, an SQS queue and a Lambda function.
async fn age_and_notify(s3: &aws_sdk_s3::Client, bucket: &str) {
    let date = DateTime::from_secs(1_893_456_000); // 2030-01-01T00:00:00Z
    let rule = |id: &str, prefix: &str| {
        LifecycleRule::builder()
            .id(id)
            .status(ExpirationStatus::Enabled)
            .filter(LifecycleRuleFilter::builder().prefix(prefix).build())
    };
    let rules = [
        rule("by-days", "days/")
            .expiration(LifecycleExpiration::builder().days(365).build())
            .transitions(
                Transition::builder()
                    .days(30)
                    .storage_class(TransitionStorageClass::Glacier)
                    .build(),
            ),
        rule("by-date", "date/")
            .expiration(LifecycleExpiration::builder().date(date).build())
            .transitions(
                Transition::builder()
                    .date(DateTime::from_secs(1_861_920_000)) // 2029-01-01
                    .storage_class(TransitionStorageClass::StandardIa)
                    .build(),
            ),
        rule("markers", "markers/")
            .status(ExpirationStatus::Disabled)
            .expiration(
                LifecycleExpiration::builder()
                    .expired_object_delete_marker(true)
                    .build(),
            ),
    ];
    let mut lifecycle = BucketLifecycleConfiguration::builder();
    for rule in rules {
        lifecycle = lifecycle.rules(rule.build().unwrap());
    }
    s3.put_bucket_lifecycle_configuration()
        .bucket(bucket)
        .lifecycle_configuration(lifecycle.build().unwrap())
        .send()
        .await
        .unwrap();
    s3.put_bucket_notification_configuration()
        .bucket(bucket)
        .notification_configuration(
            NotificationConfiguration::builder()
                .topic_configurations(
                    TopicConfiguration::builder()
                        .id("to-sns")
                        .topic_arn("arn:aws:sns:us-east-1:111122223333:object-events")
                        .events(Event::S3ObjectCreated)
                        .build()
                        .unwrap(),
                )
                .queue_configurations(
                    QueueConfiguration::builder()
                        .id("to-sqs")
                        .queue_arn("arn:aws:sqs:us-east-1:111122223333:object-events")
                        .events(Event::S3ObjectRemoved)
                        .build()
                        .unwrap(),
                )
                .lambda_function_configurations(
                    LambdaFunctionConfiguration::builder()
                        .id("to-lambda")
                        .lambda_function_arn(
                            "arn:aws:lambda:us-east-1:111122223333:function:on-object",
                        )
                        .events(Event::S3ObjectCreatedPut)
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
}

/// The kinds whose collector output a test in this file checks against the declared schema.
/// A kind registered without such a test fails here: its schema would be a hand-kept copy that
/// nothing holds to the collector.
const CHECKED_AGAINST_COLLECTOR_OUTPUT: &[&str] = &[
    BUCKET.resource_type(),
    ACCOUNT_PUBLIC_ACCESS_BLOCK_KIND.resource_type(),
    ACCESS_POINT.resource_type(),
    iam::USER.resource_type(),
    iam::GROUP.resource_type(),
    iam::ROLE.resource_type(),
    iam::MANAGED_POLICY.resource_type(),
    iam::PASSWORD_POLICY.resource_type(),
    iam::ROOT_USER.resource_type(),
    iam::SERVER_CERTIFICATE.resource_type(),
    iam::SAML_PROVIDER.resource_type(),
    iam::OIDC_PROVIDER.resource_type(),
    iam::ACCOUNT_ACCESS.resource_type(),
    KEY.resource_type(),
    TRAIL.resource_type(),
    ACCOUNT_TRAIL_COVERAGE.resource_type(),
    FUNCTION.resource_type(),
    DB_INSTANCE.resource_type(),
    DB_SNAPSHOT.resource_type(),
    DB_CLUSTER.resource_type(),
    DB_CLUSTER_SNAPSHOT.resource_type(),
    EVENT_SUBSCRIPTION.resource_type(),
    DB_PARAMETER_GROUP.resource_type(),
    DB_CLUSTER_PARAMETER_GROUP.resource_type(),
    "AWS::EC2::SecurityGroup",
    "AWS::EC2::Instance",
    "AWS::EC2::Volume",
    "AWS::EC2::Snapshot",
    "AWS::EC2::Image",
    "AWS::EC2::EbsEncryptionByDefault",
    "AWS::EC2::NetworkAcl",
    "AWS::EC2::EIP",
    "AWS::EC2::LaunchTemplate",
    "AWS::EC2::NetworkInterface",
    "AWS::EC2::TransitGateway",
    "AWS::EC2::RegionSettings",
    "AWS::EC2::VPC",
    "AWS::EC2::Subnet",
    "AWS::EC2::RouteTable",
    "AWS::EC2::InternetGateway",
    "AWS::EC2::VPCEndpoint",
    "AWS::EC2::VPCEndpointService",
    "AWS::EC2::VPCPeeringConnection",
    "AWS::EC2::VPNConnection",
    "AWS::EC2::VPCBlockPublicAccessOptions",
    "AWS::EC2::VPCRegionSpread",
];

/// EC2 paths the local AWS never fills: no instance profile can be attached without IAM (the
/// tests have no IAM client), a snapshot of an encrypted volume gets no key id, and
/// GetEbsDefaultKmsKeyId is not implemented (the key is then listed as unreadable and left out),
/// nor are the three calls behind the region settings (listed as unreadable likewise).
const EC2_UNVALUED_LOCALLY: &[(&str, &str)] = &[
    ("AWS::EC2::Instance", "IamInstanceProfileArn"),
    ("AWS::EC2::Snapshot", "KmsKeyId"),
    ("AWS::EC2::EbsEncryptionByDefault", "EbsDefaultKmsKeyId"),
    ("AWS::EC2::RegionSettings", "SnapshotBlockPublicAccess"),
    ("AWS::EC2::RegionSettings", "ImageBlockPublicAccess"),
    ("AWS::EC2::RegionSettings", "InstanceMetadataDefaults"),
    (
        "AWS::EC2::RegionSettings",
        "InstanceMetadataDefaults.HttpTokens",
    ),
    (
        "AWS::EC2::RegionSettings",
        "InstanceMetadataDefaults.HttpEndpoint",
    ),
    (
        "AWS::EC2::RegionSettings",
        "InstanceMetadataDefaults.HttpPutResponseHopLimit",
    ),
];

#[tokio::test]
async fn the_ec2_collector_writes_exactly_the_declared_schema() {
    use crate::ec2_posture::{customer_ec2, group, inventory, tcp, vpc};
    use aws_sdk_ec2::types::{
        IpPermission, IpRange, LaunchPermission, LaunchPermissionModifications, PermissionGroup,
        PrefixListId, UserIdGroupPair,
    };
    // Given an account in us-east-1 with a group holding every kind of source (one described),
    // an instance with a volume attached and a key in its user data, encrypted and plain
    // volumes, a public and a shared snapshot, a public and a shared AMI, a VPC with a flow log
    // and an endpoint
    let world = World::new().await;
    let mut account = world.onboard().await;
    account.regions = vec!["us-east-1".into()];
    world.deps.stores.accounts.put(&account).await.unwrap();
    let ec2 = customer_ec2(&world, &account, "us-east-1").await;
    let net = vpc(&ec2, "10.80.0.0/16").await;
    let other = group(&ec2, &net, "other", vec![]).await;
    let list = ec2
        .create_managed_prefix_list()
        .prefix_list_name("office")
        .max_entries(2)
        .address_family("IPv4")
        .send()
        .await
        .unwrap()
        .prefix_list
        .and_then(|p| p.prefix_list_id)
        .unwrap();
    let rules = vec![
        IpPermission::builder()
            .ip_protocol("tcp")
            .from_port(22)
            .to_port(22)
            .ip_ranges(
                IpRange::builder()
                    .cidr_ip("0.0.0.0/0")
                    .description("ssh")
                    .build(),
            )
            .prefix_list_ids(PrefixListId::builder().prefix_list_id(&list).build())
            .user_id_group_pairs(UserIdGroupPair::builder().group_id(&other).build())
            .build(),
        tcp(443, 443, "::/0"),
    ];
    let mixed = group(&ec2, &net, "mixed", rules).await;
    ec2.authorize_security_group_egress()
        .group_id(&mixed)
        .ip_permissions(
            IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(443)
                .to_port(443)
                .ip_ranges(
                    IpRange::builder()
                        .cidr_ip("10.0.0.0/8")
                        .description("to the proxy")
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let logs = world.bucket("conform-logs");
    seed::create_bucket(
        &world.customer_s3(&account, "us-east-1").await,
        &logs,
        "us-east-1",
    )
    .await;
    ec2.create_flow_logs()
        .resource_ids(&net)
        .resource_type(aws_sdk_ec2::types::FlowLogsResourceType::Vpc)
        .traffic_type(aws_sdk_ec2::types::TrafficType::Reject)
        .log_destination_type(aws_sdk_ec2::types::LogDestinationType::S3)
        .log_destination(format!("arn:aws:s3:::{logs}"))
        .send()
        .await
        .unwrap();
    ec2.create_vpc_endpoint()
        .vpc_id(&net)
        .service_name("com.amazonaws.us-east-1.s3")
        .vpc_endpoint_type(aws_sdk_ec2::types::VpcEndpointType::Gateway)
        .send()
        .await
        .unwrap();
    let image = ec2
        .describe_images()
        .owners("amazon")
        .send()
        .await
        .unwrap()
        .images()[0]
        .image_id()
        .unwrap()
        .to_owned();
    let instance = ec2
        .run_instances()
        .image_id(&image)
        .min_count(1)
        .max_count(1)
        .user_data(aws_smithy_types::base64::encode(
            "key=AKIAQWERTYUIOPASDFGH\n",
        ))
        .send()
        .await
        .unwrap()
        .instances()[0]
        .instance_id()
        .unwrap()
        .to_owned();
    let mut volumes = Vec::new();
    for encrypted in [true, false] {
        volumes.push(
            ec2.create_volume()
                .availability_zone("us-east-1a")
                .size(8)
                .encrypted(encrypted)
                .send()
                .await
                .unwrap()
                .volume_id
                .unwrap(),
        );
    }
    ec2.attach_volume()
        .volume_id(&volumes[1])
        .instance_id(&instance)
        .device("/dev/sdf")
        .send()
        .await
        .unwrap();
    for (volume, public) in [(&volumes[0], true), (&volumes[1], false)] {
        let snapshot = ec2
            .create_snapshot()
            .volume_id(volume)
            .send()
            .await
            .unwrap()
            .snapshot_id
            .unwrap();
        // The classic form, which the local AWS reads (AWS accepts both).
        let request = ec2
            .modify_snapshot_attribute()
            .snapshot_id(&snapshot)
            .attribute(aws_sdk_ec2::types::SnapshotAttributeName::CreateVolumePermission)
            .operation_type(aws_sdk_ec2::types::OperationType::Add);
        let request = if public {
            request.group_names("all")
        } else {
            request.user_ids("222233334444")
        };
        request.send().await.unwrap();
    }
    for (name, permission) in [
        (
            "conform-public",
            LaunchPermission::builder()
                .group(PermissionGroup::All)
                .build(),
        ),
        (
            "conform-shared",
            LaunchPermission::builder().user_id("222233334444").build(),
        ),
    ] {
        let ami = ec2
            .create_image()
            .instance_id(&instance)
            .name(name)
            .send()
            .await
            .unwrap()
            .image_id
            .unwrap();
        ec2.modify_image_attribute()
            .image_id(&ami)
            .launch_permission(
                LaunchPermissionModifications::builder()
                    .add(permission)
                    .build(),
            )
            .send()
            .await
            .unwrap();
    }

    // And an Elastic IP on the instance and one unused, and an ACL of its own on a subnet
    for associate in [true, false] {
        let allocation = ec2
            .allocate_address()
            .domain(aws_sdk_ec2::types::DomainType::Vpc)
            .send()
            .await
            .unwrap()
            .allocation_id
            .unwrap();
        if associate {
            ec2.associate_address()
                .allocation_id(&allocation)
                .instance_id(&instance)
                .send()
                .await
                .unwrap();
        }
    }
    let subnet = ec2
        .create_subnet()
        .vpc_id(&net)
        .cidr_block("10.80.1.0/24")
        .send()
        .await
        .unwrap()
        .subnet
        .and_then(|s| s.subnet_id)
        .unwrap();
    let acl = ec2
        .create_network_acl()
        .vpc_id(&net)
        .send()
        .await
        .unwrap()
        .network_acl
        .and_then(|a| a.network_acl_id)
        .unwrap();
    ec2.create_network_acl_entry()
        .network_acl_id(&acl)
        .rule_number(100)
        .protocol("6")
        .rule_action(aws_sdk_ec2::types::RuleAction::Allow)
        .egress(false)
        .cidr_block("0.0.0.0/0")
        .port_range(
            aws_sdk_ec2::types::PortRange::builder()
                .from(22)
                .to(22)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let association = ec2
        .describe_network_acls()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("association.subnet-id")
                .values(&subnet)
                .build(),
        )
        .send()
        .await
        .unwrap()
        .network_acls()[0]
        .associations()
        .iter()
        .find(|a| a.subnet_id() == Some(subnet.as_str()))
        .and_then(|a| a.network_acl_association_id())
        .unwrap()
        .to_owned();
    ec2.replace_network_acl_association()
        .association_id(&association)
        .network_acl_id(&acl)
        .send()
        .await
        .unwrap();

    // And launch templates: IMDSv2 and a public IP with a key in the user data, and neither
    crate::ec2_posture::launch_template(&ec2, "conform-a", true, true, "k=AKIAQWERTYUIOPASDFGH\n")
        .await;
    crate::ec2_posture::launch_template(&ec2, "conform-b", false, false, "#!/bin/sh\n").await;
    crate::ec2_posture::launch_template_with_volume(&ec2, "conform-c", false).await;

    // And a stopped instance (its stop time is in its state transition reason), a transit
    // gateway, and a detached interface that forwards traffic
    let stopped = ec2
        .run_instances()
        .image_id(&image)
        .min_count(1)
        .max_count(1)
        .send()
        .await
        .unwrap()
        .instances()[0]
        .instance_id()
        .unwrap()
        .to_owned();
    ec2.stop_instances()
        .instance_ids(&stopped)
        .send()
        .await
        .unwrap();
    crate::ec2_posture::transit_gateway(&ec2, true).await;
    crate::ec2_posture::interface(&ec2, &subnet, false).await;

    // When the inventory runs
    let summary = inventory(&world, &account).await;
    assert!(summary.accounts[0].services["ec2"].complete, "{summary:?}");

    // Then every stored configuration conforms to its kind's schema
    let partition = format!("{}_ec2", account.account_id);
    let mut by_type: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for seen in world
        .deps
        .stores
        .resources
        .seen_times(&partition)
        .await
        .unwrap()
    {
        let resource = world
            .deps
            .stores
            .resources
            .get(&partition, &seen.arn)
            .await
            .unwrap()
            .unwrap();
        by_type
            .entry(resource.resource_type)
            .or_default()
            .push(resource.configuration);
    }
    let mut mismatches = Vec::new();
    for kind in qrie::collect::ec2::SERVICE.kinds {
        let name = kind.resource_type();
        let configurations: Vec<&Value> = by_type.get(name).into_iter().flatten().collect();
        assert!(!configurations.is_empty(), "no {name} collected");
        let mut seen = Seen::default();
        conform(&kind.schema(), &configurations, &mut seen);
        // And every declared path holds a value somewhere, except the few the local AWS
        // never fills
        let unvalued: BTreeSet<String> = kind
            .schema()
            .paths()
            .difference(&seen.valued)
            .cloned()
            .collect();
        let expected: BTreeSet<String> = EC2_UNVALUED_LOCALLY
            .iter()
            .filter(|(t, _)| *t == name)
            .map(|(_, p)| (*p).to_owned())
            .collect();
        if unvalued != expected {
            mismatches.push(format!(
                "{name}: never valued {unvalued:?}, expected {expected:?}"
            ));
        }
    }
    assert!(mismatches.is_empty(), "{mismatches:#?}");
}

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
        &iam::SERVER_CERTIFICATE,
        &iam::SAML_PROVIDER,
        &iam::OIDC_PROVIDER,
        &iam::ACCOUNT_ACCESS,
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

/// The declared paths of `schema` never collected with a value, less those whose first segment
/// is in `allowed` (each allowed one explained where it is listed).
fn unvalued(schema: &Schema, seen: &Seen, allowed: &[&str]) -> BTreeSet<String> {
    schema
        .paths()
        .difference(&seen.valued)
        .filter(|p| {
            !allowed.iter().any(|a| {
                p == a || p.starts_with(&format!("{a}.")) || p.starts_with(&format!("{a}["))
            })
        })
        .cloned()
        .collect()
}

/// Runs the inventory of `service` for the account and returns the stored configurations of
/// `arns` (each must be stored).
async fn stored(world: &World, account: &Account, service: &str, arns: &[String]) -> Vec<Value> {
    let request = InventoryRequest {
        service: service.into(),
        account_id: Some(account.account_id.clone()),
    };
    let summary = inventory_handler(LambdaEvent::new(request, Context::default()), &world.deps)
        .await
        .expect("inventory runs");
    assert!(summary.errors.is_empty(), "{:?}", summary.errors);
    let partition = format!("{}_{service}", account.account_id);
    let mut out = Vec::new();
    for arn in arns {
        let resource = world
            .deps
            .stores
            .resources
            .get(&partition, arn)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{arn} is stored"));
        out.push(resource.configuration);
    }
    out
}

#[tokio::test]
async fn the_kms_collector_writes_exactly_the_declared_schema() {
    // Given keys in varied states: rotating with an alias and a description, pending deletion,
    // asymmetric, multi-Region
    let world = World::new().await;
    let account = world.onboard().await;
    let kms = data_seed::kms(&world, &account, "us-east-1").await;
    let rotating = data_seed::key(&kms, "rotating").await;
    data_seed::enable_rotation(&kms, &rotating).await;
    kms.create_alias()
        .alias_name(format!("alias/conf-{}", world.id))
        .target_key_id(&rotating)
        .send()
        .await
        .unwrap();
    let doomed = data_seed::key(&kms, "doomed").await;
    kms.schedule_key_deletion()
        .key_id(&doomed)
        .pending_window_in_days(7)
        .send()
        .await
        .unwrap();
    let signing = data_seed::key_of_spec(&kms, aws_sdk_kms::types::KeySpec::EccNistP256).await;
    let multi = kms
        .create_key()
        .multi_region(true)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .key_id;
    let arns: Vec<String> = [&rotating, &doomed, &signing, &multi]
        .iter()
        .map(|id| format!("arn:aws:kms:us-east-1:{}:key/{id}", account.account_id))
        .collect();

    // When the inventory runs
    let configurations = stored(&world, &account, "kms", &arns).await;

    // Then the states were reached, every path is declared, and every declared path is valued
    assert!(configurations
        .iter()
        .any(|c| c["KeyState"] == "PendingDeletion"));
    assert!(configurations.iter().any(|c| c["MultiRegion"] == true));
    let mut seen = Seen::default();
    conform(
        &KEY.schema(),
        &configurations.iter().collect::<Vec<_>>(),
        &mut seen,
    );
    // `Unreadable` is written only when DescribeKey omits MultiRegion, which the local AWS
    // does not do; PendingDeletionWindowInDays and RotationPeriodInDays are not returned by
    // the local AWS.
    let missing = unvalued(
        &KEY.schema(),
        &seen,
        &[
            "Unreadable",
            "PendingDeletionWindowInDays",
            "RotationPeriodInDays",
        ],
    );
    assert!(
        missing.is_empty(),
        "declared but never collected: {missing:?}"
    );
}

#[tokio::test]
async fn the_cloudtrail_collector_writes_exactly_the_declared_schema() {
    // Given a trail with every optional setting, classic selectors with data events and
    // insights, and a trail with advanced selectors using each operator
    let world = World::new().await;
    let account = world.onboard().await;
    let id = &world.id;
    let full = data_seed::trail(&world, &account, "us-east-1", &format!("full-{id}"), |t| {
        t.is_multi_region_trail(true)
            .enable_log_file_validation(true)
            .s3_key_prefix("logs")
            .kms_key_id("arn:aws:kms:us-east-1:111122223333:key/k")
            .cloud_watch_logs_log_group_arn("arn:aws:logs:us-east-1:111122223333:log-group:t:*")
            .cloud_watch_logs_role_arn("arn:aws:iam::111122223333:role/t")
    })
    .await;
    let ct = data_seed::cloudtrail(&world, &account, "us-east-1").await;
    data_seed::record_everything(&ct, &full).await;
    ct.put_insight_selectors()
        .trail_name(&full)
        .insight_selectors(
            aws_sdk_cloudtrail::types::InsightSelector::builder()
                .insight_type(aws_sdk_cloudtrail::types::InsightType::ApiCallRateInsight)
                .build(),
        )
        .send()
        .await
        .unwrap();
    ct.start_logging().name(&full).send().await.unwrap();
    let advanced =
        data_seed::trail(&world, &account, "us-east-1", &format!("adv-{id}"), |t| t).await;
    let field =
        |name: &str| aws_sdk_cloudtrail::types::AdvancedFieldSelector::builder().field(name);
    ct.put_event_selectors()
        .trail_name(&advanced)
        .advanced_event_selectors(
            aws_sdk_cloudtrail::types::AdvancedEventSelector::builder()
                .name("everything")
                .field_selectors(field("eventCategory").equals("Data").build().unwrap())
                .field_selectors(
                    field("resources.type")
                        .equals("AWS::S3::Object")
                        .build()
                        .unwrap(),
                )
                .field_selectors(
                    field("resources.ARN")
                        .starts_with("arn:aws:s3:::a")
                        .ends_with("/x")
                        .build()
                        .unwrap(),
                )
                .field_selectors(
                    field("eventName")
                        .not_equals("GetObject")
                        .not_starts_with("Head")
                        .not_ends_with("Acl")
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let coverage = format!(
        "arn:aws:cloudtrail::{}:account-trail-coverage",
        account.account_id
    );

    // When the inventory runs
    let configurations = stored(&world, &account, "cloudtrail", &[full, advanced, coverage]).await;

    // Then every path is declared with its type, and every declared path is valued
    let trails: Vec<&Value> = configurations[..2].iter().collect();
    let mut seen = Seen::default();
    conform(&TRAIL.schema(), &trails, &mut seen);
    // SnsTopicArn needs an SNS topic, which these tests cannot create (no SNS client here)
    let missing = unvalued(&TRAIL.schema(), &seen, &["SnsTopicArn"]);
    assert!(
        missing.is_empty(),
        "trail paths never collected: {missing:?}"
    );
    let mut seen = Seen::default();
    conform(
        &ACCOUNT_TRAIL_COVERAGE.schema(),
        &[&configurations[2]],
        &mut seen,
    );
    let missing = unvalued(&ACCOUNT_TRAIL_COVERAGE.schema(), &seen, &[]);
    assert!(
        missing.is_empty(),
        "coverage paths never collected: {missing:?}"
    );
}

#[tokio::test]
async fn the_lambda_collector_writes_exactly_the_declared_schema() {
    // Given a function with every setting the local AWS keeps: VPC, environment with a secret,
    // KMS key, tracing, dead-letter queue, a layer, a policy, a URL with CORS
    let world = World::new().await;
    let account = world.onboard().await;
    let role = data_seed::execution_role(&world, &account).await;
    let lambda = data_seed::lambda(&world, &account, "us-east-1").await;
    let layer = lambda
        .publish_layer_version()
        .layer_name(format!("lib-{}", world.id))
        .content(
            aws_sdk_lambda::types::LayerVersionContentInput::builder()
                .zip_file(aws_sdk_lambda::primitives::Blob::new(data_seed::EMPTY_ZIP))
                .build(),
        )
        .send()
        .await
        .unwrap()
        .layer_version_arn
        .unwrap();
    let name = format!("full-{}", world.id);
    let arn = data_seed::function(
        &lambda,
        &name,
        &role,
        aws_sdk_lambda::types::Runtime::Python39,
        |f| {
            f.vpc_config(data_seed::vpc())
                .environment(data_seed::leaky_environment())
                .kms_key_arn("arn:aws:kms:us-east-1:111122223333:key/k")
                .tracing_config(
                    aws_sdk_lambda::types::TracingConfig::builder()
                        .mode(aws_sdk_lambda::types::TracingMode::Active)
                        .build(),
                )
                .dead_letter_config(
                    aws_sdk_lambda::types::DeadLetterConfig::builder()
                        .target_arn("arn:aws:sqs:us-east-1:111122223333:dlq")
                        .build(),
                )
                .layers(&layer)
        },
    )
    .await;
    lambda
        .create_function_url_config()
        .function_name(&name)
        .auth_type(aws_sdk_lambda::types::FunctionUrlAuthType::AwsIam)
        .cors(
            aws_sdk_lambda::types::Cors::builder()
                .allow_origins("https://example.com")
                .build(),
        )
        .send()
        .await
        .unwrap();
    lambda
        .add_permission()
        .function_name(&name)
        .statement_id("s3")
        .action("lambda:InvokeFunction")
        .principal("s3.amazonaws.com")
        .send()
        .await
        .unwrap();

    // When the inventory runs
    let configurations = stored(&world, &account, "lambda", &[arn]).await;

    // Then every path is declared with its type, and every declared path is valued except the
    // code signing configuration, which the local AWS cannot attach, and the dead-letter
    // target, which it accepts but does not return
    assert!(configurations[0]["RuntimeDeprecationDate"].is_string());
    let mut seen = Seen::default();
    conform(
        &FUNCTION.schema(),
        &configurations.iter().collect::<Vec<_>>(),
        &mut seen,
    );
    let missing = unvalued(
        &FUNCTION.schema(),
        &seen,
        &["CodeSigningConfigArn", "DeadLetterTargetArn"],
    );
    assert!(
        missing.is_empty(),
        "declared but never collected: {missing:?}"
    );
}

#[tokio::test]
async fn the_rds_collector_writes_exactly_the_declared_schema() {
    // Given an instance with every setting the local AWS keeps, a read replica of it, and a
    // public manual snapshot
    let world = World::new().await;
    let account = world.onboard().await;
    let sdk = world.as_customer(&account).await;
    let rds = aws_sdk_rds::Client::new(&qrie::aws::in_region(&sdk, "us-east-1"));
    let (db, replica, snapshot) = (
        format!("db-{}", world.id),
        format!("replica-{}", world.id),
        format!("snap-{}", world.id),
    );
    let group = format!("tls-{}", world.id);
    data_seed::db_parameter_group(&rds, &group, "postgres16", &[("rds.force_ssl", "1")]).await;
    rds.create_db_instance()
        .db_instance_identifier(&db)
        .engine("postgres")
        .db_instance_class("db.t3.micro")
        .allocated_storage(20)
        .master_username("dbowner")
        .master_user_password("not-a-secret-3")
        .storage_encrypted(true)
        .kms_key_id("arn:aws:kms:us-east-1:111122223333:key/k")
        .backup_retention_period(7)
        .monitoring_interval(60)
        .monitoring_role_arn("arn:aws:iam::111122223333:role/rds-monitoring")
        .enable_cloudwatch_logs_exports("postgresql")
        .db_parameter_group_name(&group)
        .send()
        .await
        .unwrap();
    rds.create_db_instance_read_replica()
        .db_instance_identifier(&replica)
        .source_db_instance_identifier(&db)
        .send()
        .await
        .unwrap();
    rds.create_db_snapshot()
        .db_instance_identifier(&db)
        .db_snapshot_identifier(&snapshot)
        .send()
        .await
        .unwrap();
    rds.modify_db_snapshot_attribute()
        .db_snapshot_identifier(&snapshot)
        .attribute_name("restore")
        .values_to_add("all")
        .send()
        .await
        .unwrap();
    let a = &account.account_id;
    let arns = [
        format!("arn:aws:rds:us-east-1:{a}:db:{db}"),
        format!("arn:aws:rds:us-east-1:{a}:db:{replica}"),
        format!("arn:aws:rds:us-east-1:{a}:snapshot:{snapshot}"),
        format!("arn:aws:rds:us-east-1:{a}:pg:{group}"),
    ];

    // When the inventory runs
    let configurations = stored(&world, &account, "rds", &arns).await;

    // Then every path is declared with its type, and every declared path is valued except
    // those the local AWS cannot fill here: a DB subnet group needs EC2 subnets, cluster
    // membership an Aurora cluster, and an unreadable parameter group a refused call; the
    // local AWS has neither DescribeCertificates nor DescribeDBEngineVersions, so the CA
    // certificate's expiry and the engine version's availability are listed unreadable
    let mut seen = Seen::default();
    conform(
        &DB_INSTANCE.schema(),
        &configurations[..2].iter().collect::<Vec<_>>(),
        &mut seen,
    );
    let missing = unvalued(
        &DB_INSTANCE.schema(),
        &seen,
        &[
            "DBSubnetGroup",
            "DBClusterIdentifier",
            "Unreadable",
            "CACertificateValidTill",
            "EngineVersionOffered",
            "EngineLifecycleSupport",
        ],
    );
    let unreadable: BTreeSet<(String, String)> = configurations[0]["Unreadable"]
        .as_array()
        .expect("the moto gaps are listed")
        .iter()
        .map(|p| {
            (
                p["Path"].as_str().unwrap().to_owned(),
                p["Operation"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        unreadable,
        [
            (
                "CACertificateValidTill".to_owned(),
                "DescribeCertificates".to_owned()
            ),
            (
                "EngineVersionOffered".to_owned(),
                "DescribeDBEngineVersions".to_owned()
            ),
        ]
        .into(),
        "{}",
        configurations[0]
    );
    // And the instance carries its group's TLS setting, the group its user
    assert_eq!(
        configurations[0]["Parameters"],
        serde_json::json!([
            {"Name": "rds.force_ssl", "Value": "1", "Source": null},
            {"Name": "require_secure_transport", "Value": "0", "Source": "qrie-engine-default"},
        ])
    );
    let mut seen_group = Seen::default();
    conform(
        &DB_PARAMETER_GROUP.schema(),
        &[&configurations[3]],
        &mut seen_group,
    );
    // (the local AWS gives the read replica its source's group)
    let mut users = vec![db.clone(), replica.clone()];
    users.sort();
    assert_eq!(configurations[3]["UsedBy"], serde_json::json!(users));
    // (the local AWS returns a parameter's value without its `Source`)
    let missing_group = unvalued(
        &DB_PARAMETER_GROUP.schema(),
        &seen_group,
        &["Unreadable", "Parameters[].Source"],
    );
    assert!(
        missing_group.is_empty(),
        "parameter group paths never collected: {missing_group:?}"
    );
    assert!(
        missing.is_empty(),
        "instance paths never collected: {missing:?}"
    );
    let mut seen = Seen::default();
    conform(&DB_SNAPSHOT.schema(), &[&configurations[2]], &mut seen);
    assert_eq!(
        configurations[2]["RestorableBy"],
        serde_json::json!(["all"])
    );
    let missing = unvalued(&DB_SNAPSHOT.schema(), &seen, &[]);
    assert!(
        missing.is_empty(),
        "snapshot paths never collected: {missing:?}"
    );
}

/// VPC kinds the local AWS cannot produce: an endpoint service needs a real load balancer
/// (no ELBv2 client here), and DescribeVpcBlockPublicAccessOptions is not implemented. Their
/// schemas are checked on configurations shaped as the collector writes them (unit-tested in
/// `collect::vpc`).
const VPC_NOT_PRODUCED_LOCALLY: &[&str] = &[
    "AWS::EC2::VPCEndpointService",
    "AWS::EC2::VPCBlockPublicAccessOptions",
];

#[tokio::test]
async fn the_vpc_collector_writes_the_declared_schema() {
    use crate::ec2_posture::{customer_ec2, vpc};
    use crate::vpc_posture as v;
    // Given an account in us-east-1 with two VPCs peered and routed through the peering, a
    // subnet made public by a route to an internet gateway, an interface endpoint with a
    // policy, a flow log, and a VPN connection
    let world = World::new().await;
    let mut account = world.onboard().await;
    account.regions = vec!["us-east-1".into()];
    world.deps.stores.accounts.put(&account).await.unwrap();
    let ec2 = customer_ec2(&world, &account, "us-east-1").await;
    let a = vpc(&ec2, "10.190.0.0/16").await;
    let b = vpc(&ec2, "10.191.0.0/16").await;
    let sub = v::subnet(&ec2, &a, "10.190.1.0/24", "us-east-1a").await;
    let igw = v::internet_gateway(&ec2, &a).await;
    let table = v::table_for(&ec2, &a, &sub).await;
    v::route_to_igw(&ec2, &table, &igw).await;
    let pcx = v::peering(&ec2, &a, &b).await;
    v::route_to_peer(&ec2, &table, "10.191.0.0/16", &pcx).await;
    let policy = serde_json::json!({"Statement": [{"Effect": "Allow", "Principal": {"AWS": "444455556666"}, "Action": "*", "Resource": "*"}]});
    v::endpoint(
        &ec2,
        &a,
        "com.amazonaws.us-east-1.ssm",
        &[&sub],
        Some(&policy),
    )
    .await;
    let logs = world.bucket("conform-vpc-logs");
    seed::create_bucket(
        &world.customer_s3(&account, "us-east-1").await,
        &logs,
        "us-east-1",
    )
    .await;
    ec2.create_flow_logs()
        .resource_ids(&a)
        .resource_type(aws_sdk_ec2::types::FlowLogsResourceType::Vpc)
        .traffic_type(aws_sdk_ec2::types::TrafficType::All)
        .log_destination_type(aws_sdk_ec2::types::LogDestinationType::S3)
        .log_destination(format!("arn:aws:s3:::{logs}"))
        .send()
        .await
        .unwrap();
    let cgw = ec2
        .create_customer_gateway()
        .r#type(aws_sdk_ec2::types::GatewayType::Ipsec1)
        .public_ip("203.0.113.40")
        .bgp_asn(65001)
        .send()
        .await
        .unwrap()
        .customer_gateway
        .and_then(|g| g.customer_gateway_id)
        .unwrap();
    let vgw = ec2
        .create_vpn_gateway()
        .r#type(aws_sdk_ec2::types::GatewayType::Ipsec1)
        .send()
        .await
        .unwrap()
        .vpn_gateway
        .and_then(|g| g.vpn_gateway_id)
        .unwrap();
    ec2.create_vpn_connection()
        .r#type("ipsec.1")
        .customer_gateway_id(&cgw)
        .vpn_gateway_id(&vgw)
        .send()
        .await
        .unwrap();

    // When the VPC inventory runs
    let summary = v::inventory(&world, &account).await;
    assert!(summary.accounts[0].services["vpc"].complete, "{summary:?}");

    // Then every stored configuration conforms to its kind's schema
    let partition = format!("{}_vpc", account.account_id);
    let mut by_type: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for seen in world
        .deps
        .stores
        .resources
        .seen_times(&partition)
        .await
        .unwrap()
    {
        let resource = world
            .deps
            .stores
            .resources
            .get(&partition, &seen.arn)
            .await
            .unwrap()
            .unwrap();
        by_type
            .entry(resource.resource_type)
            .or_default()
            .push(resource.configuration);
    }
    for kind in qrie::collect::vpc::SERVICE.kinds {
        let name = kind.resource_type();
        let configurations: Vec<&Value> = by_type.get(name).into_iter().flatten().collect();
        if VPC_NOT_PRODUCED_LOCALLY.contains(&name) {
            assert!(configurations.is_empty(), "{name} collected after all");
            continue;
        }
        assert!(!configurations.is_empty(), "no {name} collected");
        conform(&kind.schema(), &configurations, &mut Seen::default());
    }
    // And the endpoint's policy is stored decoded with its untrusted principal
    let endpoints = &by_type["AWS::EC2::VPCEndpoint"];
    assert!(endpoints.iter().any(|e| e["UntrustedPrincipals"]
        == serde_json::json!(["444455556666"])
        && e["PolicyDocument"]["Statement"].is_array()));
    // And the kinds the local AWS cannot produce conform on collector-shaped configurations
    let service = serde_json::json!({
        "ServiceId": "vpce-svc-1", "Region": "us-east-1",
        "ServiceName": "com.amazonaws.vpce.us-east-1.vpce-svc-1", "ServiceType": ["Interface"],
        "ServiceState": "Available", "AcceptanceRequired": true,
        "AllowedPrincipals": [{"Principal": "*", "PrincipalType": "All"}],
        "UntrustedPrincipals": ["*"],
    });
    let bpa = serde_json::json!({
        "Region": "us-east-1", "State": "default-state", "InternetGatewayBlockMode": "off",
        "ExclusionsAllowed": "allowed", "ManagedBy": "account",
    });
    conform(
        &qrie::collect::vpc::endpoints::VPC_ENDPOINT_SERVICE.schema(),
        &[&service],
        &mut Seen::default(),
    );
    conform(
        &qrie::collect::vpc::block_public_access::BLOCK_PUBLIC_ACCESS.schema(),
        &[&bpa],
        &mut Seen::default(),
    );
}

#[tokio::test]
async fn the_rds_cluster_and_subscription_collector_writes_exactly_the_declared_schema() {
    // Given an Aurora MySQL cluster with every setting the local AWS keeps and an instance in
    // it, a Multi-AZ DB cluster (MySQL, which has a cluster-level minor-version flag), a public
    // manual snapshot of the Aurora cluster, and an event subscription for it
    let world = World::new().await;
    let account = world.onboard().await;
    let sdk = world.as_customer(&account).await;
    let rds = aws_sdk_rds::Client::new(&qrie::aws::in_region(&sdk, "us-east-1"));
    let (aurora, multi_az, member, snapshot) = (
        format!("aurora-{}", world.id),
        format!("maz-{}", world.id),
        format!("member-{}", world.id),
        format!("csnap-{}", world.id),
    );
    let cluster_group = format!("audit-{}", world.id);
    data_seed::db_cluster_parameter_group(
        &rds,
        &cluster_group,
        "aurora-mysql8.0",
        &[("server_audit_logging", "1")],
    )
    .await;
    rds.create_db_cluster()
        .db_cluster_identifier(&aurora)
        .engine("aurora-mysql")
        .engine_version("8.0.mysql_aurora.3.05.2")
        .master_username("dbowner")
        .master_user_password("not-a-secret-6")
        .port(3307)
        .storage_encrypted(true)
        .kms_key_id("arn:aws:kms:us-east-1:111122223333:key/k")
        .deletion_protection(true)
        .copy_tags_to_snapshot(true)
        .backtrack_window(3600)
        .backup_retention_period(7)
        .enable_iam_database_authentication(true)
        .enable_cloudwatch_logs_exports("audit")
        .db_cluster_parameter_group_name(&cluster_group)
        .vpc_security_group_ids("sg-0123456789abcdef0")
        .send()
        .await
        .unwrap();
    rds.create_db_instance()
        .db_instance_identifier(&member)
        .db_cluster_identifier(&aurora)
        .engine("aurora-mysql")
        .db_instance_class("db.r5.large")
        .send()
        .await
        .unwrap();
    rds.create_db_cluster()
        .db_cluster_identifier(&multi_az)
        .engine("mysql")
        .db_cluster_instance_class("db.m5d.large")
        .storage_type("io1")
        .iops(1000)
        .allocated_storage(100)
        .master_username("dbowner")
        .master_user_password("not-a-secret-7")
        .auto_minor_version_upgrade(false)
        .send()
        .await
        .unwrap();
    rds.create_db_cluster_snapshot()
        .db_cluster_identifier(&aurora)
        .db_cluster_snapshot_identifier(&snapshot)
        .send()
        .await
        .unwrap();
    rds.modify_db_cluster_snapshot_attribute()
        .db_cluster_snapshot_identifier(&snapshot)
        .attribute_name("restore")
        .values_to_add("all")
        .send()
        .await
        .unwrap();
    let subscription = format!("alerts-{}", world.id);
    rds.create_event_subscription()
        .subscription_name(&subscription)
        .sns_topic_arn(format!("arn:aws:sns:us-east-1:{}:ops", account.account_id))
        .source_type("db-cluster")
        .source_ids(&aurora)
        .event_categories("failure")
        .enabled(true)
        .send()
        .await
        .unwrap();
    let a = &account.account_id;
    let arns = [
        format!("arn:aws:rds:us-east-1:{a}:cluster:{aurora}"),
        format!("arn:aws:rds:us-east-1:{a}:cluster:{multi_az}"),
        format!("arn:aws:rds:us-east-1:{a}:cluster-snapshot:{snapshot}"),
        format!("arn:aws:rds:us-east-1:{a}:es:{subscription}"),
        format!("arn:aws:rds:us-east-1:{a}:cluster-pg:{cluster_group}"),
    ];

    // When the inventory runs
    let configurations = stored(&world, &account, "rds", &arns).await;

    // Then every path is declared with its type, and every declared path is valued except
    // the DB subnet group, which needs EC2 subnets
    let mut seen = Seen::default();
    conform(
        &DB_CLUSTER.schema(),
        &configurations[..2].iter().collect::<Vec<_>>(),
        &mut seen,
    );
    assert_eq!(
        configurations[0]["DBClusterMembers"][0]["DBInstanceIdentifier"],
        member.as_str()
    );
    assert_eq!(configurations[1]["AutoMinorVersionUpgrade"], false);
    // (the Multi-AZ cluster's default cluster parameter group is one the local AWS does not
    // have: its parameters are unreadable, and named so)
    assert_eq!(configurations[1]["Unreadable"][0]["Path"], "Parameters");
    assert!(configurations[1].get("Parameters").is_none());
    assert_eq!(
        configurations[0]["Parameters"][2],
        serde_json::json!({"Name": "server_audit_logging", "Value": "1", "Source": null})
    );
    let missing = unvalued(&DB_CLUSTER.schema(), &seen, &["DBSubnetGroup"]);
    let mut seen_group = Seen::default();
    conform(
        &DB_CLUSTER_PARAMETER_GROUP.schema(),
        &[&configurations[4]],
        &mut seen_group,
    );
    assert_eq!(configurations[4]["UsedBy"], serde_json::json!([aurora]));
    let missing_group = unvalued(
        &DB_CLUSTER_PARAMETER_GROUP.schema(),
        &seen_group,
        &["Unreadable", "Parameters[].Source"],
    );
    assert!(
        missing_group.is_empty(),
        "cluster parameter group paths never collected: {missing_group:?}"
    );
    assert!(
        missing.is_empty(),
        "cluster paths never collected: {missing:?}"
    );
    let mut seen = Seen::default();
    conform(
        &DB_CLUSTER_SNAPSHOT.schema(),
        &[&configurations[2]],
        &mut seen,
    );
    assert_eq!(
        configurations[2]["RestorableBy"],
        serde_json::json!(["all"])
    );
    let missing = unvalued(&DB_CLUSTER_SNAPSHOT.schema(), &seen, &[]);
    assert!(
        missing.is_empty(),
        "cluster snapshot paths never collected: {missing:?}"
    );
    let mut seen = Seen::default();
    conform(
        &EVENT_SUBSCRIPTION.schema(),
        &[&configurations[3]],
        &mut seen,
    );
    assert_eq!(
        configurations[3]["SourceIdsList"],
        serde_json::json!([aurora])
    );
    let missing = unvalued(&EVENT_SUBSCRIPTION.schema(), &seen, &[]);
    assert!(
        missing.is_empty(),
        "subscription paths never collected: {missing:?}"
    );
}
