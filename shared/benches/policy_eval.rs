//! Policy evaluations per second on one core for the S3 policies.
//!
//! Each iteration evaluates every S3 bucket policy against one realistic bucket configuration
//! (as the S3 collector produces it), for a compliant and a misconfigured bucket; throughput is
//! reported in evaluations (policy × resource) per second. `fails` is the scanner's decision path;
//! `evaluate` also builds the evidence of failures.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use qrie::policy::Catalog;
use serde_json::{json, Value};

fn compliant() -> Value {
    json!({
        "Name": "customer-data", "Region": "us-east-1", "AccountId": "111122223333", "CreationDate": "2024-01-01T00:00:00Z",
        "PublicAccessBlock": {"BlockPublicAcls": true, "IgnorePublicAcls": true, "BlockPublicPolicy": true, "RestrictPublicBuckets": true},
        "AccountPublicAccessBlock": null,
        "EffectivePublicAccessBlock": {"BlockPublicAcls": true, "IgnorePublicAcls": true, "BlockPublicPolicy": true, "RestrictPublicBuckets": true},
        "Policy": {"Version": "2012-10-17", "Statement": [
            {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
             "Resource": ["arn:aws:s3:::customer-data", "arn:aws:s3:::customer-data/*"],
             "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
            {"Sid": "App", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:role/app"},
             "Action": ["s3:GetObject", "s3:PutObject"], "Resource": "arn:aws:s3:::customer-data/*"}]},
        "PolicyStatus": {"IsPublic": false},
        "Acl": {"Owner": {"ID": "abc"}, "Grants": [{"Grantee": {"Type": "CanonicalUser", "ID": "abc"}, "Permission": "FULL_CONTROL"}]},
        "OwnershipControls": {"ObjectOwnership": "BucketOwnerEnforced"},
        "Encryption": {"Rules": [{"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": "arn:aws:kms:us-east-1:111122223333:key/k", "BucketKeyEnabled": true}]},
        "Versioning": {"Status": "Enabled", "MFADelete": "Disabled"},
        "Logging": {"TargetBucket": "logs", "TargetPrefix": "customer-data/"}
    })
}

fn misconfigured() -> Value {
    json!({
        "Name": "public-assets", "Region": "us-east-1", "AccountId": "111122223333", "CreationDate": "2024-01-01T00:00:00Z",
        "PublicAccessBlock": null, "AccountPublicAccessBlock": null,
        "EffectivePublicAccessBlock": {"BlockPublicAcls": false, "IgnorePublicAcls": false, "BlockPublicPolicy": false, "RestrictPublicBuckets": false},
        "Policy": {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::public-assets/*"}]},
        "PolicyStatus": {"IsPublic": true},
        "Acl": {"Owner": {"ID": "abc"}, "Grants": [
            {"Grantee": {"Type": "CanonicalUser", "ID": "abc"}, "Permission": "FULL_CONTROL"},
            {"Grantee": {"Type": "Group", "URI": "http://acs.amazonaws.com/groups/global/AllUsers"}, "Permission": "READ"}]},
        "OwnershipControls": {"ObjectOwnership": "ObjectWriter"},
        "Encryption": null,
        "Versioning": {"Status": null, "MFADelete": null},
        "Logging": null
    })
}

fn bench(c: &mut Criterion) {
    let catalog = Catalog::embedded();
    let policies: Vec<_> = catalog
        .policies()
        .iter()
        .filter(|p| p.resource_type == "AWS::S3::Bucket")
        .collect();
    let configs = [
        ("compliant", compliant()),
        ("misconfigured", misconfigured()),
    ];
    let mut group = c.benchmark_group("s3_policies");
    group.throughput(Throughput::Elements(policies.len() as u64));
    for (name, config) in &configs {
        group.bench_function(format!("fails/{name}"), |b| {
            b.iter(|| {
                let mut failed = 0usize;
                for p in &policies {
                    failed += usize::from(p.fails(black_box(config)));
                }
                failed
            })
        });
        group.bench_function(format!("evaluate_with_evidence/{name}"), |b| {
            b.iter(|| {
                policies
                    .iter()
                    .map(|p| p.evaluate(black_box(config)))
                    .filter(|o| !matches!(o, qrie::policy::Outcome::Pass))
                    .count()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
