//! Policy evaluations per second on one core for the IAM policies that analyse documents.
//!
//! Each iteration evaluates every IAM policy of a kind (users, groups, roles, customer managed
//! policies: nearly all of them analyse IAM documents with `allows`, `escalates_privilege` or the
//! trust operators) against one realistic configuration of that kind, as the IAM collector stores
//! it: a developer user with an AWS-managed and a customer policy attached, an inline policy and a
//! group; a role with a conditioned cross-account trust; a 6-statement customer policy.
//! Throughput is in evaluations (policy × resource) per second; `fails` is the scanner's decision
//! path, `evaluate` also builds the evidence of failures.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use qrie::policy::Catalog;
use serde_json::{json, Value};

/// A customer policy of the shape teams write: service wildcards on named resources, a few
/// read-only verbs everywhere, a conditional deny.
fn team_document() -> Value {
    json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "Data", "Effect": "Allow",
         "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket", "s3:GetBucketLocation"],
         "Resource": ["arn:aws:s3:::orders-data", "arn:aws:s3:::orders-data/*"]},
        {"Sid": "Tables", "Effect": "Allow",
         "Action": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem", "dynamodb:BatchWriteItem"],
         "Resource": "arn:aws:dynamodb:eu-west-1:111122223333:table/orders*"},
        {"Sid": "Read", "Effect": "Allow",
         "Action": ["ec2:Describe*", "cloudwatch:Get*", "cloudwatch:List*", "logs:Describe*", "logs:Get*", "logs:FilterLogEvents"],
         "Resource": "*"},
        {"Sid": "Deploy", "Effect": "Allow",
         "Action": ["lambda:UpdateFunctionConfiguration", "lambda:GetFunction", "lambda:PublishVersion"],
         "Resource": "arn:aws:lambda:eu-west-1:111122223333:function:orders-*"},
        {"Sid": "Pass", "Effect": "Allow", "Action": "iam:PassRole",
         "Resource": "arn:aws:iam::111122223333:role/orders-runtime",
         "Condition": {"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}}},
        {"Sid": "Region", "Effect": "Deny", "NotAction": ["iam:*", "sts:*", "cloudfront:*"], "Resource": "*",
         "Condition": {"StringNotEquals": {"aws:RequestedRegion": ["eu-west-1", "eu-central-1"]}}}
    ]})
}

fn read_only_document() -> Value {
    let actions: Vec<&str> = [
        "acm:Describe*",
        "acm:Get*",
        "acm:List*",
        "apigateway:GET",
        "autoscaling:Describe*",
        "cloudformation:Describe*",
        "cloudformation:Get*",
        "cloudformation:List*",
        "cloudtrail:Describe*",
        "cloudtrail:Get*",
        "cloudtrail:LookupEvents",
        "cloudwatch:Describe*",
        "cloudwatch:Get*",
        "cloudwatch:List*",
        "dynamodb:Describe*",
        "dynamodb:List*",
        "ec2:Describe*",
        "ec2:Get*",
        "ecr:Describe*",
        "ecr:List*",
        "ecs:Describe*",
        "ecs:List*",
        "eks:Describe*",
        "eks:List*",
        "elasticloadbalancing:Describe*",
        "iam:Get*",
        "iam:List*",
        "kms:Describe*",
        "kms:List*",
        "lambda:Get*",
        "lambda:List*",
        "logs:Describe*",
        "logs:Get*",
        "rds:Describe*",
        "rds:List*",
        "route53:Get*",
        "route53:List*",
        "s3:GetBucket*",
        "s3:List*",
        "sns:Get*",
        "sns:List*",
        "sqs:Get*",
        "sqs:List*",
        "ssm:Describe*",
        "ssm:List*",
        "tag:Get*",
    ]
    .to_vec();
    json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Resource": "*", "Action": actions}
    ]})
}

fn inline_document() -> Value {
    json!({"Version": "2012-10-17", "Statement": {"Effect": "Allow",
        "Action": ["sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage"],
        "Resource": "arn:aws:sqs:eu-west-1:111122223333:orders-*"}})
}

fn permissions() -> Value {
    json!({
        "AttachedPolicies": [
            {"PolicyName": "ReadOnlyAccess", "PolicyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess", "Document": read_only_document()},
            {"PolicyName": "orders-team", "PolicyArn": "arn:aws:iam::111122223333:policy/orders-team", "Document": team_document()}],
        "InlinePolicies": [{"PolicyName": "queues", "Document": inline_document()}]
    })
}

fn user() -> Value {
    let mut p = permissions();
    p["Groups"] = json!([{"GroupName": "developers",
        "AttachedPolicies": [{"PolicyName": "orders-team", "PolicyArn": "arn:aws:iam::111122223333:policy/orders-team", "Document": team_document()}],
        "InlinePolicies": []}]);
    json!({
        "UserName": "dana", "UserId": "AIDAEXAMPLE", "Arn": "arn:aws:iam::111122223333:user/dev/dana",
        "Path": "/dev/", "AccountId": "111122223333", "CreateDate": "2025-03-01T09:00:00Z",
        "PasswordLastUsed": "2026-11-30T08:12:00Z",
        "LoginProfile": {"CreateDate": "2025-03-01T09:00:00Z", "PasswordResetRequired": false},
        "MfaDevices": [{"SerialNumber": "arn:aws:iam::111122223333:mfa/dana", "EnableDate": "2025-03-01T09:05:00Z", "Virtual": true}],
        "AccessKeys": [{"AccessKeyId": "AKIAEXAMPLE", "Status": "Active", "CreateDate": "2026-09-01T00:00:00Z",
                        "LastUsedDate": "2026-11-29T17:00:00Z", "LastUsedService": "s3"}],
        "PermissionsBoundary": null, "Tags": [{"Key": "team", "Value": "orders"}],
        "Permissions": p
    })
}

fn group() -> Value {
    json!({
        "GroupName": "developers", "GroupId": "AGPAEXAMPLE", "Arn": "arn:aws:iam::111122223333:group/developers",
        "Path": "/", "AccountId": "111122223333", "CreateDate": "2025-01-01T00:00:00Z",
        "Permissions": permissions(),
        "Members": [{"UserName": "dana", "ConsoleAccess": true, "MfaActive": true},
                    {"UserName": "eli", "ConsoleAccess": false, "MfaActive": false}]
    })
}

fn role() -> Value {
    json!({
        "RoleName": "orders-deploy", "RoleId": "AROAEXAMPLE", "Arn": "arn:aws:iam::111122223333:role/orders-deploy",
        "Path": "/", "AccountId": "111122223333", "CreateDate": "2025-01-01T00:00:00Z", "ServiceLinked": false,
        "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam::444455556666:role/ci", "arn:aws:iam::111122223333:root"]},
             "Action": ["sts:AssumeRole", "sts:TagSession"],
             "Condition": {"StringEquals": {"sts:ExternalId": "ci-7f3a"}}},
            {"Effect": "Allow", "Principal": {"Service": "codebuild.amazonaws.com"}, "Action": "sts:AssumeRole",
             "Condition": {"StringEquals": {"aws:SourceAccount": "111122223333"}}}]},
        "InstanceProfiles": [], "RoleLastUsed": {"LastUsedDate": "2026-11-30T00:00:00Z", "Region": "eu-west-1"},
        "PermissionsBoundary": null, "Tags": [],
        "Permissions": permissions()
    })
}

fn managed_policy() -> Value {
    json!({
        "PolicyName": "orders-team", "PolicyId": "ANPAEXAMPLE", "Arn": "arn:aws:iam::111122223333:policy/orders-team",
        "Path": "/", "AccountId": "111122223333", "DefaultVersionId": "v3", "AttachmentCount": 2,
        "PermissionsBoundaryUsageCount": 0, "IsAttachable": true, "CreateDate": "2025-01-01T00:00:00Z",
        "UpdateDate": "2026-06-01T00:00:00Z", "Document": team_document(),
        "AppliesTo": {"Users": ["dana"], "Groups": ["developers"], "Roles": []}
    })
}

fn bench(c: &mut Criterion) {
    let catalog = Catalog::embedded();
    let mut bench_group = c.benchmark_group("iam_policies");
    for (kind, config) in [
        ("AWS::IAM::User", user()),
        ("AWS::IAM::Group", group()),
        ("AWS::IAM::Role", role()),
        ("AWS::IAM::ManagedPolicy", managed_policy()),
    ] {
        let policies: Vec<_> = catalog
            .policies()
            .iter()
            .filter(|p| p.resource_type == kind)
            .collect();
        assert!(!policies.is_empty(), "{kind}");
        let name = kind.rsplit(':').next().unwrap_or(kind);
        bench_group.throughput(Throughput::Elements(policies.len() as u64));
        bench_group.bench_function(format!("fails/{name}"), |b| {
            b.iter(|| {
                let mut failed = 0usize;
                for p in &policies {
                    failed += usize::from(p.fails(black_box(&config)));
                }
                failed
            })
        });
        bench_group.bench_function(format!("evaluate_with_evidence/{name}"), |b| {
            b.iter(|| {
                policies
                    .iter()
                    .map(|p| p.evaluate(black_box(&config)))
                    .filter(|o| !matches!(o, qrie::policy::Outcome::Pass))
                    .count()
            })
        });
    }
    bench_group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
