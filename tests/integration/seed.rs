//! Seeding customer accounts with buckets in known configurations.

use aws_sdk_s3::types::{
    BucketCannedAcl, BucketLocationConstraint, BucketLoggingStatus, BucketVersioningStatus,
    CreateBucketConfiguration, LoggingEnabled, ObjectOwnership, OwnershipControls,
    OwnershipControlsRule, PublicAccessBlockConfiguration, ServerSideEncryption,
    ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
    VersioningConfiguration,
};
use aws_sdk_s3::Client;

pub async fn create_bucket(s3: &Client, name: &str, region: &str) {
    let mut req = s3.create_bucket().bucket(name);
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

/// A bucket that passes every S3 bucket policy; logs go to `log_bucket`.
pub async fn compliant_bucket(s3: &Client, name: &str, region: &str, log_bucket: &str) {
    create_bucket(s3, name, region).await;
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
