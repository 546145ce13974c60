//! Seeding customer accounts with buckets in known configurations.

use aws_sdk_s3::types::{
    AbortIncompleteMultipartUpload, BucketCannedAcl, BucketLifecycleConfiguration,
    BucketLocationConstraint, BucketLoggingStatus, BucketVersioningStatus,
    CreateBucketConfiguration, DeleteMarkerReplication, DeleteMarkerReplicationStatus, Destination,
    Event, ExpirationStatus, LifecycleRule, LifecycleRuleFilter, LoggingEnabled,
    NoncurrentVersionExpiration, NotificationConfiguration, ObjectOwnership, OwnershipControls,
    OwnershipControlsRule, PublicAccessBlockConfiguration, QueueConfiguration,
    ReplicationConfiguration, ReplicationRule, ReplicationRuleFilter, ReplicationRuleStatus,
    ServerSideEncryption, ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration,
    ServerSideEncryptionRule, StorageClass, VersioningConfiguration,
};
use aws_sdk_s3::Client;

/// The role replication rules name (the local AWS does not check it).
pub const REPLICATION_ROLE: &str = "arn:aws:iam::111122223333:role/s3-replication";

pub async fn create_bucket(s3: &Client, name: &str, region: &str) {
    create(s3, name, region, false).await
}

/// A bucket created with Object Lock enabled (S3 turns versioning on with it).
pub async fn create_bucket_with_object_lock(s3: &Client, name: &str, region: &str) {
    create(s3, name, region, true).await
}

async fn create(s3: &Client, name: &str, region: &str, object_lock: bool) {
    let mut req = s3.create_bucket().bucket(name);
    if object_lock {
        req = req.object_lock_enabled_for_bucket(true);
    }
    if region != "us-east-1" {
        req = req.create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(region))
                .build(),
        );
    }
    req.send().await.expect("bucket created");
}

/// A bucket with everything wrong: public-read ACL, a public GetObject policy, no block, no
/// encryption, versioning or logging, ACLs enabled.
pub async fn misconfigured_bucket(s3: &Client, name: &str, region: &str) {
    create_bucket(s3, name, region).await;
    set_object_ownership(s3, name, ObjectOwnership::ObjectWriter).await;
    s3.put_bucket_acl()
        .bucket(name)
        .acl(BucketCannedAcl::PublicRead)
        .send()
        .await
        .unwrap();
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{"Sid": "Public", "Effect": "Allow", "Principal": "*",
                       "Action": "s3:GetObject", "Resource": format!("arn:aws:s3:::{name}/*")}]
    });
    s3.put_bucket_policy()
        .bucket(name)
        .policy(policy.to_string())
        .send()
        .await
        .unwrap();
}

/// A bucket that passes every S3 bucket policy the local AWS can show (MFA delete needs the root
/// user's MFA device); logs go to `log_bucket`, objects are replicated to `replica` (a versioned
/// bucket in another region, see [`replica_bucket`]).
pub async fn compliant_bucket(
    s3: &Client,
    name: &str,
    region: &str,
    log_bucket: &str,
    replica: &str,
) {
    create_bucket_with_object_lock(s3, name, region).await;
    s3.put_public_access_block()
        .bucket(name)
        .public_access_block_configuration(
            PublicAccessBlockConfiguration::builder()
                .block_public_acls(true)
                .ignore_public_acls(true)
                .block_public_policy(true)
                .restrict_public_buckets(true)
                .build(),
        )
        .send()
        .await
        .unwrap();
    s3.put_bucket_encryption()
        .bucket(name)
        .server_side_encryption_configuration(
            ServerSideEncryptionConfiguration::builder()
                .rules(
                    ServerSideEncryptionRule::builder()
                        .apply_server_side_encryption_by_default(
                            ServerSideEncryptionByDefault::builder()
                                .sse_algorithm(ServerSideEncryption::AwsKms)
                                .build()
                                .unwrap(),
                        )
                        .bucket_key_enabled(true)
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    enable_versioning(s3, name).await;
    // S3 requires the log bucket to let the log-delivery group write.
    s3.put_bucket_acl()
        .bucket(log_bucket)
        .acl(BucketCannedAcl::from("log-delivery-write"))
        .send()
        .await
        .unwrap();
    s3.put_bucket_logging()
        .bucket(name)
        .bucket_logging_status(
            BucketLoggingStatus::builder()
                .logging_enabled(
                    LoggingEnabled::builder()
                        .target_bucket(log_bucket)
                        .target_prefix(format!("{name}/"))
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    set_object_ownership(s3, name, ObjectOwnership::BucketOwnerEnforced).await;
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*",
                       "Action": "s3:*",
                       "Resource": [format!("arn:aws:s3:::{name}"), format!("arn:aws:s3:::{name}/*")],
                       "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]
    });
    s3.put_bucket_policy()
        .bucket(name)
        .policy(policy.to_string())
        .send()
        .await
        .unwrap();
    expire_noncurrent_versions(s3, name).await;
    replicate(s3, name, replica).await;
    notify_queue(s3, name, region).await;
}

/// A versioned bucket in `region` that another bucket's objects can be replicated to.
pub async fn replica_bucket(s3: &Client, name: &str, region: &str) {
    create_bucket(s3, name, region).await;
    enable_versioning(s3, name).await;
}

/// One enabled lifecycle rule: noncurrent versions expire after 90 days, incomplete uploads are
/// aborted after 7.
pub async fn expire_noncurrent_versions(s3: &Client, name: &str) {
    s3.put_bucket_lifecycle_configuration()
        .bucket(name)
        .lifecycle_configuration(
            BucketLifecycleConfiguration::builder()
                .rules(
                    LifecycleRule::builder()
                        .id("expire-noncurrent")
                        .status(ExpirationStatus::Enabled)
                        .filter(LifecycleRuleFilter::builder().prefix("").build())
                        .noncurrent_version_expiration(
                            NoncurrentVersionExpiration::builder()
                                .noncurrent_days(90)
                                .build(),
                        )
                        .abort_incomplete_multipart_upload(
                            AbortIncompleteMultipartUpload::builder()
                                .days_after_initiation(7)
                                .build(),
                        )
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
}

/// Replicates every object of `name` (versioned) to the bucket `replica`.
pub async fn replicate(s3: &Client, name: &str, replica: &str) {
    s3.put_bucket_replication()
        .bucket(name)
        .replication_configuration(
            ReplicationConfiguration::builder()
                .role(REPLICATION_ROLE)
                .rules(
                    ReplicationRule::builder()
                        .id("crr")
                        .priority(1)
                        .status(ReplicationRuleStatus::Enabled)
                        .filter(ReplicationRuleFilter::builder().prefix("").build())
                        .delete_marker_replication(
                            DeleteMarkerReplication::builder()
                                .status(DeleteMarkerReplicationStatus::Disabled)
                                .build(),
                        )
                        .destination(
                            Destination::builder()
                                .bucket(format!("arn:aws:s3:::{replica}"))
                                .account("111122223333")
                                .storage_class(StorageClass::StandardIa)
                                .build()
                                .unwrap(),
                        )
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
}

/// Sends the bucket's object-created events to an SQS queue. (The local AWS accepts an
/// EventBridge configuration but never returns it, so a queue stands in for it here.)
pub async fn notify_queue(s3: &Client, name: &str, region: &str) {
    s3.put_bucket_notification_configuration()
        .bucket(name)
        .notification_configuration(
            NotificationConfiguration::builder()
                .queue_configurations(
                    QueueConfiguration::builder()
                        .id("object-events")
                        .queue_arn(format!("arn:aws:sqs:{region}:111122223333:object-events"))
                        .events(Event::S3ObjectCreated)
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
}

pub async fn enable_versioning(s3: &Client, name: &str) {
    s3.put_bucket_versioning()
        .bucket(name)
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
}

/// Sets the bucket's Object Ownership (ObjectWriter keeps ACLs in use).
pub async fn set_object_ownership(s3: &Client, name: &str, ownership: ObjectOwnership) {
    s3.put_bucket_ownership_controls()
        .bucket(name)
        .ownership_controls(
            OwnershipControls::builder()
                .rules(
                    OwnershipControlsRule::builder()
                        .object_ownership(ownership)
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
}

/// Sets the bucket policy to these statements.
pub async fn put_policy(s3: &Client, name: &str, statements: &[serde_json::Value]) {
    let policy = serde_json::json!({"Version": "2012-10-17", "Statement": statements});
    s3.put_bucket_policy()
        .bucket(name)
        .policy(policy.to_string())
        .send()
        .await
        .expect("bucket policy set");
}

/// A statement letting `principal` (an AWS principal: account id or ARN) read the bucket's
/// objects.
pub fn object_read_grant(bucket: &str, principal: &str) -> serde_json::Value {
    serde_json::json!({"Sid": "Read", "Effect": "Allow", "Principal": {"AWS": principal},
                       "Action": "s3:GetObject", "Resource": format!("arn:aws:s3:::{bucket}/*")})
}

/// The organisation perimeter: every S3 action on the bucket is denied to callers outside the
/// organisation `org`.
pub fn organisation_perimeter(bucket: &str, org: &str) -> serde_json::Value {
    serde_json::json!({"Sid": "OrgOnly", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
                       "Resource": [format!("arn:aws:s3:::{bucket}"), format!("arn:aws:s3:::{bucket}/*")],
                       "Condition": {"StringNotEquals": {"aws:PrincipalOrgID": org}}})
}

/// Creates access point `name` on `bucket` through S3 Control; `block` is its Block Public
/// Access (all four on when `None`, S3's default), `vpc` makes it a VPC access point.
pub async fn create_access_point(
    control: &aws_sdk_s3control::Client,
    account_id: &str,
    name: &str,
    bucket: &str,
    block: Option<aws_sdk_s3control::types::PublicAccessBlockConfiguration>,
    vpc: Option<&str>,
) {
    let mut request = control
        .create_access_point()
        .account_id(account_id)
        .name(name)
        .bucket(bucket)
        .set_public_access_block_configuration(block);
    if let Some(vpc) = vpc {
        request = request.vpc_configuration(
            aws_sdk_s3control::types::VpcConfiguration::builder()
                .vpc_id(vpc)
                .build()
                .expect("vpc configuration"),
        );
    }
    request.send().await.expect("access point created");
}

/// A Block Public Access configuration with every setting on but `BlockPublicPolicy`.
pub fn block_all_but_public_policy() -> aws_sdk_s3control::types::PublicAccessBlockConfiguration {
    aws_sdk_s3control::types::PublicAccessBlockConfiguration::builder()
        .block_public_acls(true)
        .ignore_public_acls(true)
        .block_public_policy(false)
        .restrict_public_buckets(true)
        .build()
}
