//! S3 access points (`AWS::S3::AccessPoint`), a kind of the S3 service: listed per region of
//! the account through S3 Control, each read with its Block Public Access settings and its policy.
//!
//! Normalised configuration (the shape the access point policies read):
//!
//! ```text
//! Name, Region, AccountId, Bucket, BucketAccountId | null, NetworkOrigin (Internet | VPC),
//! VpcId | null, Alias | null, CreationDate | null
//! PublicAccessBlock   {BlockPublicAcls, IgnorePublicAcls, BlockPublicPolicy, RestrictPublicBuckets} | null
//! Policy              the access point policy document, Statement always a list | null
//! PolicyStatus        {IsPublic} as S3 evaluates the policy | null (no policy)
//! ```
//!
//! An access point lives in one region: `ListAccessPoints` in a region answers that region's
//! access points (`arn:<partition>:s3:<region>:<account>:accesspoint/<name>`), and an entry whose
//! ARN names another region is left to that region's listing. Each access point costs three reads
//! (GetAccessPoint, GetAccessPointPolicy, GetAccessPointPolicyStatus), up to
//! [`ACCESS_POINT_CONCURRENCY`] access points at a time per region. `NoSuchAccessPointPolicy`
//! means the access point has no policy (`null`); any other failure makes the access point a
//! [`Collected::Failed`] entry (left as stored), and a failed listing fails that region only.
//! Access points are immutable but for their policy, so the events that change one are
//! CreateAccessPoint, DeleteAccessPoint, PutAccessPointPolicy and DeleteAccessPointPolicy.
//!
//! On the local AWS (moto 5.2.5) every access point's ARN names `us-east-1` whatever region it
//! was created in, and `GetAccessPointPolicyStatus` answers `IsPublic: true` for any policy; the
//! policies do not read `PolicyStatus`.

use aws_sdk_s3control::error::ProvideErrorMetadata;
use chrono::Utc;
use futures::StreamExt;
use serde_json::{json, Value};
use tokio::sync::mpsc::Sender;
use tracing::warn;

use super::s3::{block_json, normalise_policy, settle, Call, BLOCK_FIELDS};
use super::{call_failure, AccountSession, Collected, CollectionError, Described};
use crate::arn::{split_arn, ArnScope, ArnShape};
use crate::model::{Resource, Service};
use crate::policy::schema::{Field, Type};
use crate::registry::{Residence, ResourceKind};

/// An access point: `arn:<partition>:s3:<region>:<account>:accesspoint/<name>`.
pub const ACCESS_POINT: ResourceKind = ResourceKind {
    shape: ArnShape::new(
        Service::S3,
        "s3",
        "AWS::S3::AccessPoint",
        ArnScope::Regional,
        "accesspoint/",
    ),
    residence: Residence::Regional,
    permissions: &[
        "s3:ListAccessPoints",
        "s3:GetAccessPoint",
        "s3:GetAccessPointPolicy",
        "s3:GetAccessPointPolicyStatus",
    ],
    fields: ACCESS_POINT_FIELDS,
    describe: |session, name| Box::pin(describe_access_point(session, name)),
    dependents: None,
    relations: &[],
};

/// The access point type, `AWS::S3::AccessPoint`.
pub const ACCESS_POINT_TYPE: &str = ACCESS_POINT.resource_type();

/// Access points described at once within one region.
pub const ACCESS_POINT_CONCURRENCY: usize = 8;

const ACCESS_POINT_FIELDS: &[Field] = &[
    Field::new("Name", Type::String),
    Field::new("Region", Type::String),
    Field::new("AccountId", Type::String),
    Field::new("Bucket", Type::String),
    Field::new("BucketAccountId", Type::String).nullable(),
    Field::new("NetworkOrigin", Type::String).nullable(),
    Field::new("VpcId", Type::String).nullable(),
    Field::new("Alias", Type::String).nullable(),
    Field::new("CreationDate", Type::String).nullable(),
    Field::new("PublicAccessBlock", Type::Object(BLOCK_FIELDS)).nullable(),
    Field::new("Policy", Type::Any).nullable(),
    Field::new(
        "PolicyStatus",
        Type::Object(&[Field::new("IsPublic", Type::Bool)]),
    )
    .nullable(),
];

/// The ARN of the access point `name` of `account_id` in `region` (of `partition`).
pub fn access_point_arn(partition: &str, region: &str, account_id: &str, name: &str) -> String {
    ACCESS_POINT.arn(partition, region, account_id, name)
}

/// A failed call about the access points of `region` (`name`: about that one).
fn failure(
    session: &AccountSession,
    region: &str,
    name: Option<&str>,
    operation: &str,
    (code, message): (String, String),
) -> CollectionError {
    let account_id = &session.account.account_id;
    CollectionError {
        account_id: account_id.clone(),
        service: Service::S3,
        region: Some(region.to_owned()),
        resource: name.map(|n| access_point_arn(session.partition(), region, account_id, n)),
        operation: operation.to_owned(),
        code,
        message,
    }
}

/// Lists and describes every access point of the session's account in `region` into `out`.
pub async fn collect_region(
    session: &AccountSession,
    region: &str,
    out: &Sender<Collected>,
) -> Result<(), CollectionError> {
    let account_id = session.account.account_id.clone();
    let client = crate::aws::s3control_client(&session.config_in(region), &session.settings);
    let mut pages = client
        .list_access_points()
        .account_id(&account_id)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page =
            page.map_err(|e| failure(session, region, None, "ListAccessPoints", call_failure(&e)))?;
        let names: Vec<String> = page
            .access_point_list()
            .iter()
            .filter(|ap| {
                // The region's own access points only (see the module documentation).
                ap.access_point_arn()
                    .and_then(split_arn)
                    .is_none_or(|parts| parts.region == region)
            })
            .map(|ap| ap.name().to_owned())
            .collect();
        let mut described = futures::stream::iter(names)
            .map(|name| async move {
                let result = read_access_point(session, region, &name).await;
                (name, result)
            })
            .buffer_unordered(ACCESS_POINT_CONCURRENCY);
        while let Some((name, result)) = described.next().await {
            let item = match result {
                Ok(Described::Found(resource)) => Collected::Resource(resource),
                // Deleted between the listing and the read.
                Ok(Described::NotFound) => continue,
                Err(error) => {
                    warn!(%error, "access point collection failed");
                    Collected::Failed {
                        arn: access_point_arn(session.partition(), region, &account_id, &name),
                        error,
                    }
                }
            };
            // The receiver only goes away when the run is aborted.
            let _ = out.send(item).await;
        }
    }
    Ok(())
}

/// Re-describes one access point by name in the session's home region (event processor).
pub async fn describe_access_point(
    session: &AccountSession,
    name: &str,
) -> Result<Described, CollectionError> {
    let region = session.home_region().to_owned();
    read_access_point(session, &region, name).await
}

/// Reads one access point: its settings, its policy and the policy's status.
async fn read_access_point(
    session: &AccountSession,
    region: &str,
    name: &str,
) -> Result<Described, CollectionError> {
    let account_id = &session.account.account_id;
    let client = crate::aws::s3control_client(&session.config_in(region), &session.settings);
    let observed = Utc::now();
    let (access_point, policy, status) = tokio::join!(
        client
            .get_access_point()
            .account_id(account_id)
            .name(name)
            .send(),
        client
            .get_access_point_policy()
            .account_id(account_id)
            .name(name)
            .send(),
        client
            .get_access_point_policy_status()
            .account_id(account_id)
            .name(name)
            .send(),
    );
    let access_point = match access_point {
        Ok(out) => out,
        Err(e) if e.code() == Some("NoSuchAccessPoint") => return Ok(Described::NotFound),
        Err(e) => {
            return Err(failure(
                session,
                region,
                Some(name),
                "GetAccessPoint",
                call_failure(&e),
            ))
        }
    };
    let policy: Call = settle(policy, &["NoSuchAccessPointPolicy"], |o| {
        normalise_policy(o.policy().unwrap_or_default())
    });
    let status: Call = settle(
        status,
        &["NoSuchAccessPointPolicy"],
        |o| json!({"IsPublic": o.policy_status().is_some_and(|s| s.is_public())}),
    );
    let policy = policy
        .map_err(|f| failure(session, region, Some(name), "GetAccessPointPolicy", f))?
        .unwrap_or(Value::Null);
    let status = status
        .map_err(|f| failure(session, region, Some(name), "GetAccessPointPolicyStatus", f))?
        .unwrap_or(Value::Null);
    let block = access_point.public_access_block_configuration().map(|c| {
        block_json(
            c.block_public_acls(),
            c.ignore_public_acls(),
            c.block_public_policy(),
            c.restrict_public_buckets(),
        )
    });
    let configuration = json!({
        "Name": access_point.name().unwrap_or(name),
        "Region": region,
        "AccountId": account_id,
        "Bucket": access_point.bucket().unwrap_or_default(),
        "BucketAccountId": access_point.bucket_account_id(),
        "NetworkOrigin": access_point.network_origin().map(|o| o.as_str()),
        "VpcId": access_point.vpc_configuration().map(|v| v.vpc_id()),
        "Alias": access_point.alias(),
        "CreationDate": access_point.creation_date().map(|d| d.to_string()),
        "PublicAccessBlock": block,
        "Policy": policy,
        "PolicyStatus": status,
    });
    Ok(Described::Found(Box::new(Resource {
        arn: access_point_arn(session.partition(), region, account_id, name),
        account_id: account_id.clone(),
        service: Service::S3,
        resource_type: ACCESS_POINT_TYPE.into(),
        region: region.to_owned(),
        configuration,
        last_seen_at: observed,
    })))
}
