//! The S3 collector: buckets with their access, encryption, versioning, logging, replication,
//! lifecycle, event notification and Object Lock settings, and the account-level S3 Block Public
//! Access configuration as a resource of its own.
//!
//! Normalised bucket configuration (the shape the S3 policies read):
//!
//! ```text
//! Name, Region, CreationDate, AccountId (the bucket's own account, which cross-account checks
//!                              compare principals with)
//! PublicAccessBlock            {BlockPublicAcls, IgnorePublicAcls, BlockPublicPolicy, RestrictPublicBuckets} | null
//! AccountPublicAccessBlock     the account's settings at collection time | null
//! EffectivePublicAccessBlock   each setting true if the bucket's or the account's is true
//! Policy                       the bucket policy document, Statement always a list | null
//! PolicyStatus                 {IsPublic} as S3 evaluates it | null
//! Acl                          {Owner: {ID}, Grants: [{Grantee: {Type, URI, ID}, Permission}]}
//! OwnershipControls            {ObjectOwnership} | null
//! Encryption                   {Rules: [{SSEAlgorithm, KMSMasterKeyID, BucketKeyEnabled}]} | null
//! Versioning                   {Status: Enabled | Suspended | null, MFADelete}
//! Logging                      {TargetBucket, TargetPrefix} | null
//! Replication                  {Role, Rules: [{ID, Priority, Status, Destination: {Bucket, Account,
//!                              StorageClass, Region}, CrossRegion}]} | null
//! Lifecycle                    {Rules: [{ID, Status, Expiration: {Days, Date, ExpiredObjectDeleteMarker},
//!                              Transitions: [{Days, Date, StorageClass}], NoncurrentVersionExpiration:
//!                              {NoncurrentDays}, AbortIncompleteMultipartUpload: {DaysAfterInitiation}}]} | null
//! Notifications                {TopicConfigurations: [{Id, TopicArn, Events}], QueueConfigurations:
//!                              [{Id, QueueArn, Events}], LambdaFunctionConfigurations:
//!                              [{Id, LambdaFunctionArn, Events}], EventBridgeEnabled}
//! ObjectLock                   {ObjectLockEnabled, Rule: {DefaultRetention: {Mode, Days, Years}}} | null
//! ```
//!
//! A replication rule's `Destination.Region` is where the destination bucket is (its
//! GetBucketLocation, `null` when the bucket does not exist), and `CrossRegion` says that region is
//! known and differs from the bucket's own. When the destination's location cannot be read (another
//! account's bucket, say), `Replication` is listed as unreadable with that call and its code, so
//! the replication policy is not evaluated for the bucket rather than guessed.
//!
//! The same shape is declared with the kind ([`BUCKET`]'s schema, and
//! [`ACCOUNT_PUBLIC_ACCESS_BLOCK_KIND`]'s), which policies are checked against at load and the
//! integration tests check real output against.
//!
//! `null` means S3 answered that the setting is not configured. A call on the bucket itself that
//! fails for any other reason makes the whole bucket a [`Collected::Failed`] entry instead (left
//! as stored).
//!
//! The account-level block is read once for every bucket. When that read fails (AccessDenied on
//! `s3:GetAccountPublicAccessBlock`, for example), the account resource is a
//! [`Collected::Failed`] entry and each bucket is still collected, but without a guess in place
//! of the account's settings: `AccountPublicAccessBlock` is absent, `EffectivePublicAccessBlock`
//! holds only the settings the bucket itself turns on (in force whatever the account says), and
//! the configuration's `Unreadable` list names the missing parts with the failed call and its
//! code. The policies that read them (public read and write) are then not evaluated for the
//! bucket; the others are.

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use chrono::Utc;
use futures::StreamExt;
use serde_json::{json, Map, Value};
use tokio::sync::mpsc::Sender;
use tracing::{debug, warn};

use super::{call_failure, AccountSession, Collected, CollectionError, Completeness, Described};
use crate::arn::{ArnScope, ArnShape};
use crate::model::{Resource, Service, UnreadablePart, UNREADABLE};
use crate::policy::schema::{Field, Type, UNREADABLE_FIELD};
use crate::registry::{Relation, Residence, ResourceKind, ServiceEntry};

/// S3 in the registry: its kinds. Buckets and the account block are listed together by
/// [`collect`] (one ListBuckets covers every region, so the buckets' regions are complete or
/// incomplete together); access points ([`super::s3_access_points`]) are listed in each region
/// of the account. A region is complete for S3 when both listings covered it: a failed access
/// point listing in a region keeps that region's buckets too (nothing is removed there).
pub const SERVICE: ServiceEntry = ServiceEntry {
    service: Service::S3,
    kinds: &[
        &BUCKET,
        &ACCOUNT_PUBLIC_ACCESS_BLOCK_KIND,
        &super::s3_access_points::ACCESS_POINT,
    ],
    collect: |session, out| {
        Box::pin(async move {
            let mut completeness = Completeness::of_global(collect(session, out).await);
            completeness.merge(
                super::regions::collect_regions(session, Service::S3, move |region| async move {
                    super::s3_access_points::collect_region(session, &region, out).await
                })
                .await,
            );
            completeness
        })
    },
};

/// A bucket: global in its ARN (`arn:aws:s3:::name`), regional in where it lives.
pub const BUCKET: ResourceKind = ResourceKind {
    shape: ArnShape::new(Service::S3, "s3", "AWS::S3::Bucket", ArnScope::Global, ""),
    residence: Residence::Regional,
    permissions: &[
        "s3:ListAllMyBuckets",
        "s3:GetBucketLocation",
        "s3:GetBucketPublicAccessBlock",
        "s3:GetBucketPolicy",
        "s3:GetBucketPolicyStatus",
        "s3:GetBucketAcl",
        "s3:GetBucketOwnershipControls",
        "s3:GetEncryptionConfiguration",
        "s3:GetBucketVersioning",
        "s3:GetBucketLogging",
        "s3:GetReplicationConfiguration",
        "s3:GetLifecycleConfiguration",
        "s3:GetBucketNotification",
        "s3:GetBucketObjectLockConfiguration",
        // A bucket's effective Block Public Access settings include the account's.
        "s3:GetAccountPublicAccessBlock",
    ],
    fields: BUCKET_FIELDS,
    describe: |session, name| Box::pin(describe_bucket_by_name(session, name)),
    dependents: None,
    relations: BUCKET_RELATIONS,
};

/// What the object scanner found in the bucket (see [`crate::relate::OBJECT_DATA`]).
const BUCKET_RELATIONS: &[Relation] = &[Relation {
    name: "ObjectData",
    target: Type::Kind(crate::relate::OBJECT_DATA),
    local: "Name",
    remote: "Bucket",
    same_region: false,
    only_where: None,
    otherwise: None,
}];

/// The account-level S3 Block Public Access settings: one per account.
pub const ACCOUNT_PUBLIC_ACCESS_BLOCK_KIND: ResourceKind = ResourceKind {
    shape: ArnShape::new(
        Service::S3,
        "s3",
        "AWS::S3::AccountPublicAccessBlock",
        ArnScope::Account,
        "account-public-access-block",
    )
    .singleton(),
    residence: Residence::Global,
    permissions: &["s3:GetAccountPublicAccessBlock"],
    fields: ACCOUNT_PUBLIC_ACCESS_BLOCK_FIELDS,
    describe: |session, _account_id| Box::pin(describe_account_block(session)),
    dependents: None,
    relations: &[],
};

/// The bucket type, `AWS::S3::Bucket`.
pub const BUCKET_TYPE: &str = BUCKET.resource_type();
/// The account block type, `AWS::S3::AccountPublicAccessBlock`.
pub const ACCOUNT_PUBLIC_ACCESS_BLOCK: &str = ACCOUNT_PUBLIC_ACCESS_BLOCK_KIND.resource_type();

/// The four Block Public Access settings as the configurations hold them.
pub(crate) const BLOCK_FIELDS: &[Field] = &[
    Field::new("BlockPublicAcls", Type::Bool),
    Field::new("IgnorePublicAcls", Type::Bool),
    Field::new("BlockPublicPolicy", Type::Bool),
    Field::new("RestrictPublicBuckets", Type::Bool),
];

/// The same settings where some may be unknown (the account's could not be read): those left
/// out are listed as unreadable.
const KNOWN_BLOCK_FIELDS: &[Field] = &[
    Field::new("BlockPublicAcls", Type::Bool).optional(),
    Field::new("IgnorePublicAcls", Type::Bool).optional(),
    Field::new("BlockPublicPolicy", Type::Bool).optional(),
    Field::new("RestrictPublicBuckets", Type::Bool).optional(),
];

/// The normalised bucket configuration (the table above), checked against real collector output
/// by the integration tests.
const BUCKET_FIELDS: &[Field] = &[
    Field::new("Name", Type::String),
    Field::new("Region", Type::String),
    Field::new("AccountId", Type::String),
    Field::new("CreationDate", Type::String).nullable(),
    Field::new("PublicAccessBlock", Type::Object(BLOCK_FIELDS)).nullable(),
    Field::new("AccountPublicAccessBlock", Type::Object(BLOCK_FIELDS))
        .nullable()
        .optional(),
    Field::new(
        "EffectivePublicAccessBlock",
        Type::Object(KNOWN_BLOCK_FIELDS),
    ),
    Field::new("Policy", Type::Any).nullable(),
    Field::new(
        "PolicyStatus",
        Type::Object(&[Field::new("IsPublic", Type::Bool)]),
    )
    .nullable(),
    Field::new(
        "Acl",
        Type::Object(&[
            Field::new(
                "Owner",
                Type::Object(&[Field::new("ID", Type::String).nullable()]),
            ),
            Field::new(
                "Grants",
                Type::Array(&Type::Object(&[
                    Field::new(
                        "Grantee",
                        Type::Object(&[
                            Field::new("Type", Type::String),
                            Field::new("URI", Type::String).nullable(),
                            Field::new("ID", Type::String).nullable(),
                            Field::new("EmailAddress", Type::String).nullable(),
                        ]),
                    )
                    .nullable(),
                    Field::new("Permission", Type::String).nullable(),
                ])),
            ),
        ]),
    ),
    Field::new(
        "OwnershipControls",
        Type::Object(&[Field::new("ObjectOwnership", Type::String).nullable()]),
    )
    .nullable(),
    Field::new(
        "Encryption",
        Type::Object(&[Field::new(
            "Rules",
            Type::Array(&Type::Object(&[
                Field::new("SSEAlgorithm", Type::String).nullable(),
                Field::new("KMSMasterKeyID", Type::String).nullable(),
                Field::new("BucketKeyEnabled", Type::Bool),
            ])),
        )]),
    )
    .nullable(),
    Field::new(
        "Versioning",
        Type::Object(&[
            Field::new("Status", Type::String).nullable(),
            Field::new("MFADelete", Type::String).nullable(),
        ]),
    ),
    Field::new(
        "Logging",
        Type::Object(&[
            Field::new("TargetBucket", Type::String),
            Field::new("TargetPrefix", Type::String),
        ]),
    )
    .nullable(),
    Field::new(
        "Replication",
        Type::Object(&[
            Field::new("Role", Type::String),
            Field::new(
                "Rules",
                Type::Array(&Type::Object(&[
                    Field::new("ID", Type::String).nullable(),
                    Field::new("Priority", Type::Number).nullable(),
                    Field::new("Status", Type::String),
                    Field::new(
                        "Destination",
                        Type::Object(&[
                            Field::new("Bucket", Type::String),
                            Field::new("Account", Type::String).nullable(),
                            Field::new("StorageClass", Type::String).nullable(),
                            Field::new("Region", Type::String).nullable(),
                        ]),
                    )
                    .nullable(),
                    Field::new("CrossRegion", Type::Bool),
                ])),
            ),
        ]),
    )
    .nullable(),
    Field::new(
        "Lifecycle",
        Type::Object(&[Field::new(
            "Rules",
            Type::Array(&Type::Object(&[
                Field::new("ID", Type::String).nullable(),
                Field::new("Status", Type::String),
                Field::new(
                    "Expiration",
                    Type::Object(&[
                        Field::new("Days", Type::Number).nullable(),
                        Field::new("Date", Type::String).nullable(),
                        Field::new("ExpiredObjectDeleteMarker", Type::Bool).nullable(),
                    ]),
                )
                .nullable(),
                Field::new(
                    "Transitions",
                    Type::Array(&Type::Object(&[
                        Field::new("Days", Type::Number).nullable(),
                        Field::new("Date", Type::String).nullable(),
                        Field::new("StorageClass", Type::String).nullable(),
                    ])),
                ),
                Field::new(
                    "NoncurrentVersionExpiration",
                    Type::Object(&[Field::new("NoncurrentDays", Type::Number).nullable()]),
                )
                .nullable(),
                Field::new(
                    "AbortIncompleteMultipartUpload",
                    Type::Object(&[Field::new("DaysAfterInitiation", Type::Number).nullable()]),
                )
                .nullable(),
            ])),
        )]),
    )
    .nullable(),
    Field::new(
        "Notifications",
        Type::Object(&[
            Field::new(
                "TopicConfigurations",
                Type::Array(&Type::Object(&[
                    Field::new("Id", Type::String).nullable(),
                    Field::new("TopicArn", Type::String),
                    Field::new("Events", Type::Array(&Type::String)),
                ])),
            ),
            Field::new(
                "QueueConfigurations",
                Type::Array(&Type::Object(&[
                    Field::new("Id", Type::String).nullable(),
                    Field::new("QueueArn", Type::String),
                    Field::new("Events", Type::Array(&Type::String)),
                ])),
            ),
            Field::new(
                "LambdaFunctionConfigurations",
                Type::Array(&Type::Object(&[
                    Field::new("Id", Type::String).nullable(),
                    Field::new("LambdaFunctionArn", Type::String),
                    Field::new("Events", Type::Array(&Type::String)),
                ])),
            ),
            Field::new("EventBridgeEnabled", Type::Bool),
        ]),
    ),
    Field::new(
        "ObjectLock",
        Type::Object(&[
            Field::new("ObjectLockEnabled", Type::String).nullable(),
            Field::new(
                "Rule",
                Type::Object(&[Field::new(
                    "DefaultRetention",
                    Type::Object(&[
                        Field::new("Mode", Type::String).nullable(),
                        Field::new("Days", Type::Number).nullable(),
                        Field::new("Years", Type::Number).nullable(),
                    ]),
                )
                .nullable()]),
            )
            .nullable(),
        ]),
    )
    .nullable(),
    UNREADABLE_FIELD,
];

/// The normalised account-level block configuration.
const ACCOUNT_PUBLIC_ACCESS_BLOCK_FIELDS: &[Field] = &[
    Field::new("AccountId", Type::String),
    Field::new("PublicAccessBlock", Type::Object(BLOCK_FIELDS)).nullable(),
];

/// Buckets described at once within one account.
const BUCKET_CONCURRENCY: usize = 8;
/// The region S3's global calls (ListBuckets, GetBucketLocation) go to.
const HOME_REGION: &str = "us-east-1";

/// The ARN of the bucket `name` in `partition`.
pub fn bucket_arn(partition: &str, name: &str) -> String {
    BUCKET.arn(partition, "", "", name)
}

/// The ARN of the account-level Block Public Access settings of `account_id` in `partition`.
pub fn account_block_arn(partition: &str, account_id: &str) -> String {
    ACCOUNT_PUBLIC_ACCESS_BLOCK_KIND.arn(partition, "", account_id, account_id)
}

/// The outcome of one attribute call: the setting, "not configured" (`None`), or a failure.
pub(crate) type Call = Result<Option<Value>, (String, String)>;

/// Turns an SDK result into a [`Call`]: error codes in `absent` mean "not configured".
pub(crate) fn settle<T, E, R>(
    result: Result<T, SdkError<E, R>>,
    absent: &[&str],
    read: impl FnOnce(T) -> Value,
) -> Call
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match result {
        Ok(out) => Ok(Some(read(out))),
        Err(e) if e.code().is_some_and(|c| absent.contains(&c)) => Ok(None),
        Err(e) => Err(call_failure(&e)),
    }
}

pub(crate) fn block_json(
    acls: Option<bool>,
    ignore: Option<bool>,
    policy: Option<bool>,
    restrict: Option<bool>,
) -> Value {
    json!({
        "BlockPublicAcls": acls.unwrap_or(false),
        "IgnorePublicAcls": ignore.unwrap_or(false),
        "BlockPublicPolicy": policy.unwrap_or(false),
        "RestrictPublicBuckets": restrict.unwrap_or(false),
    })
}

/// The account-level public access block: `Ok(None)` when not configured.
async fn account_block(session: &AccountSession) -> Result<Option<Value>, CollectionError> {
    let result = crate::aws::s3control_client(&session.sdk, &session.settings)
        .get_public_access_block()
        .account_id(&session.account.account_id)
        .send()
        .await;
    settle(result, &["NoSuchPublicAccessBlockConfiguration"], |out| {
        let c = out.public_access_block_configuration();
        block_json(
            c.and_then(|c| c.block_public_acls()),
            c.and_then(|c| c.ignore_public_acls()),
            c.and_then(|c| c.block_public_policy()),
            c.and_then(|c| c.restrict_public_buckets()),
        )
    })
    .map_err(|(code, message)| CollectionError {
        account_id: session.account.account_id.clone(),
        service: Service::S3,
        region: None,
        resource: Some(account_block_arn(
            session.partition(),
            &session.account.account_id,
        )),
        operation: "GetPublicAccessBlock (account)".into(),
        code,
        message,
    })
}

fn account_block_resource(session: &AccountSession, block: Option<&Value>) -> Resource {
    let account_id = &session.account.account_id;
    Resource {
        arn: account_block_arn(session.partition(), account_id),
        account_id: account_id.clone(),
        service: Service::S3,
        resource_type: ACCOUNT_PUBLIC_ACCESS_BLOCK.into(),
        region: HOME_REGION.into(),
        configuration: json!({"AccountId": account_id, "PublicAccessBlock": block}),
        last_seen_at: Utc::now(),
    }
}

/// Re-describes the account-level block (event processor).
pub async fn describe_account_block(
    session: &AccountSession,
) -> Result<Described, CollectionError> {
    let block = account_block(session).await?;
    Ok(Described::Found(Box::new(account_block_resource(
        session,
        block.as_ref(),
    ))))
}

/// Collects the account block and every bucket of the account into `out`.
pub async fn collect(
    session: &AccountSession,
    out: &Sender<Collected>,
) -> Result<(), CollectionError> {
    let account_id = session.account.account_id.clone();
    // The account block first: every bucket's effective settings depend on it.
    let account = match account_block(session).await {
        Ok(block) => {
            let resource = account_block_resource(session, block.as_ref());
            send(out, Collected::Resource(Box::new(resource))).await;
            AccountBlock::Known(block)
        }
        Err(error) => {
            warn!(account = %account_id, %error, "account public access block unreadable");
            let unreadable = AccountBlock::Unreadable {
                operation: error.operation.clone(),
                code: error.code.clone(),
            };
            send(
                out,
                Collected::Failed {
                    arn: account_block_arn(session.partition(), &account_id),
                    error,
                },
            )
            .await;
            unreadable
        }
    };
    let client = session.s3(HOME_REGION);
    let mut pages = client.list_buckets().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| list_buckets_failure(session, &e))?;
        let names: Vec<(String, Option<String>)> = page
            .buckets()
            .iter()
            .filter_map(|b| {
                Some((
                    b.name()?.to_owned(),
                    b.creation_date().map(|d| d.to_string()),
                ))
            })
            .collect();
        debug!(account = %account_id, buckets = names.len(), "bucket page listed");
        let mut described = futures::stream::iter(names)
            .map(|(name, created)| {
                let account = &account;
                async move {
                    let result = describe_bucket(session, &name, created, account).await;
                    (name, result)
                }
            })
            .buffer_unordered(BUCKET_CONCURRENCY);
        while let Some((name, result)) = described.next().await {
            match result {
                Ok(Described::Found(resource)) => send(out, Collected::Resource(resource)).await,
                Ok(Described::NotFound) => {
                    debug!(bucket = %name, "bucket vanished during collection")
                }
                Err(error) => {
                    warn!(%error, "bucket collection failed");
                    send(
                        out,
                        Collected::Failed {
                            arn: bucket_arn(session.partition(), &name),
                            error,
                        },
                    )
                    .await
                }
            }
        }
    }
    Ok(())
}

async fn send(out: &Sender<Collected>, item: Collected) {
    // The receiver only goes away when the run is aborted; nothing is left to deliver to then.
    let _ = out.send(item).await;
}

/// What is known about the account-level block while describing a bucket.
enum AccountBlock {
    /// Read: the settings, or `None` when the account has none.
    Known(Option<Value>),
    /// The read failed (the call and its error code).
    Unreadable { operation: String, code: String },
}

/// A failed ListBuckets of the session's account.
fn list_buckets_failure<E, R>(session: &AccountSession, e: &SdkError<E, R>) -> CollectionError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let (code, message) = call_failure(e);
    CollectionError {
        account_id: session.account.account_id.clone(),
        service: Service::S3,
        region: None,
        resource: None,
        operation: "ListBuckets".into(),
        code,
        message,
    }
}

/// Whether the session's account owns bucket `name`. Bucket names are global and another
/// account's bucket may well be readable (a bucket policy that allows it; the local emulator
/// allows it always), so reading its settings does not make it this account's: only the
/// account's own ListBuckets does, as for the inventory.
async fn owns_bucket(session: &AccountSession, name: &str) -> Result<bool, CollectionError> {
    let mut pages = session
        .s3(HOME_REGION)
        .list_buckets()
        .prefix(name)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| list_buckets_failure(session, &e))?;
        if page.buckets().iter().any(|b| b.name() == Some(name)) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Re-describes one bucket by name (event processor), with the account block read fresh. A
/// bucket the account does not own (its ListBuckets does not list it) is not found in it.
pub async fn describe_bucket_by_name(
    session: &AccountSession,
    name: &str,
) -> Result<Described, CollectionError> {
    if !owns_bucket(session, name).await? {
        return Ok(Described::NotFound);
    }
    let account = match account_block(session).await {
        Ok(block) => AccountBlock::Known(block),
        Err(error) => {
            warn!(%error, "account public access block unreadable; the bucket's public access is not evaluated");
            AccountBlock::Unreadable {
                operation: error.operation,
                code: error.code,
            }
        }
    };
    describe_bucket(session, name, None, &account).await
}

async fn describe_bucket(
    session: &AccountSession,
    name: &str,
    created: Option<String>,
    account: &AccountBlock,
) -> Result<Described, CollectionError> {
    let account_id = &session.account.account_id;
    let fail = |region: Option<&str>, operation: &str, (code, message): (String, String)| {
        CollectionError {
            account_id: account_id.clone(),
            service: Service::S3,
            region: region.map(str::to_owned),
            resource: Some(bucket_arn(session.partition(), name)),
            operation: operation.to_owned(),
            code,
            message,
        }
    };
    let location = session
        .s3(HOME_REGION)
        .get_bucket_location()
        .bucket(name)
        .send()
        .await;
    let region = match location {
        Ok(out) => bucket_region(out.location_constraint()),
        Err(e) if e.code() == Some("NoSuchBucket") => return Ok(Described::NotFound),
        Err(e) => return Err(fail(None, "GetBucketLocation", call_failure(&e))),
    };
    let observed = Utc::now();
    let client = session.s3(&region);
    let (pab, policy, status, acl, ownership, encryption, versioning, logging) = tokio::join!(
        client.get_public_access_block().bucket(name).send(),
        client.get_bucket_policy().bucket(name).send(),
        client.get_bucket_policy_status().bucket(name).send(),
        client.get_bucket_acl().bucket(name).send(),
        client.get_bucket_ownership_controls().bucket(name).send(),
        client.get_bucket_encryption().bucket(name).send(),
        client.get_bucket_versioning().bucket(name).send(),
        client.get_bucket_logging().bucket(name).send(),
    );
    let (replication, lifecycle, notifications, object_lock) = tokio::join!(
        client.get_bucket_replication().bucket(name).send(),
        client
            .get_bucket_lifecycle_configuration()
            .bucket(name)
            .send(),
        client
            .get_bucket_notification_configuration()
            .bucket(name)
            .send(),
        client.get_object_lock_configuration().bucket(name).send(),
    );
    let calls: [(&str, &str, Call); 12] = [
        (
            "PublicAccessBlock",
            "GetPublicAccessBlock",
            settle(pab, &["NoSuchPublicAccessBlockConfiguration"], |o| {
                let c = o.public_access_block_configuration();
                block_json(
                    c.and_then(|c| c.block_public_acls()),
                    c.and_then(|c| c.ignore_public_acls()),
                    c.and_then(|c| c.block_public_policy()),
                    c.and_then(|c| c.restrict_public_buckets()),
                )
            }),
        ),
        (
            "Policy",
            "GetBucketPolicy",
            settle(policy, &["NoSuchBucketPolicy"], |o| {
                normalise_policy(o.policy().unwrap_or_default())
            }),
        ),
        (
            "PolicyStatus",
            "GetBucketPolicyStatus",
            settle(
                status,
                &["NoSuchBucketPolicy"],
                |o| json!({"IsPublic": o.policy_status().and_then(|s| s.is_public()).unwrap_or(false)}),
            ),
        ),
        (
            "Acl",
            "GetBucketAcl",
            settle(acl, &[], |o| {
                let grants: Vec<Value> = o
                    .grants()
                    .iter()
                    .map(|g| {
                        let grantee = g.grantee().map(|ge| {
                            json!({
                                "Type": ge.r#type().as_str(),
                                "URI": ge.uri(),
                                "ID": ge.id(),
                                "EmailAddress": ge.email_address(),
                            })
                        });
                        json!({"Grantee": grantee, "Permission": g.permission().map(|p| p.as_str())})
                    })
                    .collect();
                json!({"Owner": {"ID": o.owner().and_then(|w| w.id())}, "Grants": grants})
            }),
        ),
        (
            "OwnershipControls",
            "GetBucketOwnershipControls",
            settle(ownership, &["OwnershipControlsNotFoundError"], |o| {
                let rule = o
                    .ownership_controls()
                    .and_then(|c| c.rules().first())
                    .map(|r| r.object_ownership().as_str().to_owned());
                json!({"ObjectOwnership": rule})
            }),
        ),
        (
            "Encryption",
            "GetBucketEncryption",
            settle(
                encryption,
                &["ServerSideEncryptionConfigurationNotFoundError"],
                |o| {
                    let rules: Vec<Value> = o
                        .server_side_encryption_configuration()
                        .map(|c| c.rules())
                        .unwrap_or_default()
                        .iter()
                        .map(|r| {
                            let d = r.apply_server_side_encryption_by_default();
                            json!({
                                "SSEAlgorithm": d.map(|d| d.sse_algorithm().as_str()),
                                "KMSMasterKeyID": d.and_then(|d| d.kms_master_key_id()),
                                "BucketKeyEnabled": r.bucket_key_enabled().unwrap_or(false),
                            })
                        })
                        .collect();
                    json!({"Rules": rules})
                },
            ),
        ),
        (
            "Versioning",
            "GetBucketVersioning",
            settle(versioning, &[], |o| {
                json!({
                    "Status": o.status().map(|s| s.as_str()),
                    "MFADelete": o.mfa_delete().map(|s| s.as_str()),
                })
            }),
        ),
        (
            "Logging",
            "GetBucketLogging",
            settle(logging, &[], |o| match o.logging_enabled() {
                Some(l) => {
                    json!({"TargetBucket": l.target_bucket(), "TargetPrefix": l.target_prefix()})
                }
                None => Value::Null,
            }),
        ),
        (
            "Replication",
            "GetBucketReplication",
            settle(
                replication,
                &["ReplicationConfigurationNotFoundError"],
                |o| match o.replication_configuration() {
                    Some(c) => replication_json(c),
                    None => Value::Null,
                },
            ),
        ),
        (
            "Lifecycle",
            "GetBucketLifecycleConfiguration",
            settle(
                lifecycle,
                &["NoSuchLifecycleConfiguration"],
                |o| json!({"Rules": o.rules().iter().map(lifecycle_rule_json).collect::<Vec<_>>()}),
            ),
        ),
        (
            "Notifications",
            "GetBucketNotificationConfiguration",
            settle(notifications, &[], |o| {
                let events = |events: &[aws_sdk_s3::types::Event]| -> Vec<String> {
                    events.iter().map(|e| e.as_str().to_owned()).collect()
                };
                json!({
                    "TopicConfigurations": o.topic_configurations().iter().map(|c| json!({
                        "Id": c.id(), "TopicArn": c.topic_arn(), "Events": events(c.events()),
                    })).collect::<Vec<_>>(),
                    "QueueConfigurations": o.queue_configurations().iter().map(|c| json!({
                        "Id": c.id(), "QueueArn": c.queue_arn(), "Events": events(c.events()),
                    })).collect::<Vec<_>>(),
                    "LambdaFunctionConfigurations": o.lambda_function_configurations().iter().map(|c| json!({
                        "Id": c.id(), "LambdaFunctionArn": c.lambda_function_arn(), "Events": events(c.events()),
                    })).collect::<Vec<_>>(),
                    "EventBridgeEnabled": o.event_bridge_configuration().is_some(),
                })
            }),
        ),
        (
            "ObjectLock",
            "GetObjectLockConfiguration",
            settle(
                object_lock,
                &["ObjectLockConfigurationNotFoundError"],
                |o| match o.object_lock_configuration() {
                    Some(c) => {
                        let retention = c.rule().and_then(|r| r.default_retention()).map(|d| {
                            json!({
                                "Mode": d.mode().map(|m| m.as_str()),
                                "Days": d.days(),
                                "Years": d.years(),
                            })
                        });
                        json!({
                            "ObjectLockEnabled": c.object_lock_enabled().map(|e| e.as_str()),
                            "Rule": c.rule().map(|_| json!({"DefaultRetention": retention})),
                        })
                    }
                    None => Value::Null,
                },
            ),
        ),
    ];
    let mut config = Map::new();
    config.insert("Name".into(), json!(name));
    config.insert("Region".into(), json!(region));
    config.insert("AccountId".into(), json!(account_id));
    config.insert("CreationDate".into(), json!(created));
    let mut failures = Vec::new();
    for (field, operation, call) in calls {
        match call {
            Ok(value) => {
                config.insert(field.into(), value.unwrap_or(Value::Null));
            }
            Err(failure) => {
                // A bucket deleted between listing and describing is simply gone.
                if failure.0 == "NoSuchBucket" {
                    return Ok(Described::NotFound);
                }
                failures.push((operation, failure));
            }
        }
    }
    if let Some((operation, first)) = failures.first().cloned() {
        let mut error = fail(Some(&region), operation, first);
        if failures.len() > 1 {
            let others: Vec<&str> = failures[1..].iter().map(|(op, _)| *op).collect();
            error.message = format!("{} (also failed: {})", error.message, others.join(", "));
        }
        return Err(error);
    }
    let mut unreadable = Vec::new();
    if let Some(replication) = config.get_mut("Replication") {
        if let Err((operation, code)) =
            resolve_replication_regions(session, &region, replication).await
        {
            unreadable.push(UnreadablePart {
                path: "Replication".into(),
                operation,
                code,
            });
        }
    }
    match account {
        AccountBlock::Known(block) => {
            let account_value = block.clone().unwrap_or(Value::Null);
            config.insert(
                "EffectivePublicAccessBlock".into(),
                effective_block(config.get("PublicAccessBlock"), Some(&account_value)),
            );
            config.insert("AccountPublicAccessBlock".into(), account_value);
        }
        AccountBlock::Unreadable { operation, code } => {
            let (effective, unknown) =
                effective_block_without_account(config.get("PublicAccessBlock"));
            config.insert("EffectivePublicAccessBlock".into(), effective);
            let part = |path: String| UnreadablePart {
                path,
                operation: operation.clone(),
                code: code.clone(),
            };
            unreadable.push(part("AccountPublicAccessBlock".into()));
            unreadable.extend(
                unknown
                    .into_iter()
                    .map(|key| part(format!("EffectivePublicAccessBlock.{key}"))),
            );
        }
    }
    if !unreadable.is_empty() {
        config.insert(
            UNREADABLE.into(),
            serde_json::to_value(unreadable).unwrap_or_else(|_| json!([{"Path": ""}])),
        );
    }
    Ok(Described::Found(Box::new(Resource {
        arn: bucket_arn(session.partition(), name),
        account_id: account_id.clone(),
        service: Service::S3,
        resource_type: BUCKET_TYPE.into(),
        region,
        configuration: Value::Object(config),
        last_seen_at: observed,
    })))
}

/// A replication configuration, each rule's destination region still unknown (see
/// [`resolve_replication_regions`]).
fn replication_json(c: &aws_sdk_s3::types::ReplicationConfiguration) -> Value {
    let rules: Vec<Value> = c
        .rules()
        .iter()
        .map(|r| {
            let destination = r.destination().map(|d| {
                json!({
                    "Bucket": d.bucket(),
                    "Account": d.account(),
                    "StorageClass": d.storage_class().map(|s| s.as_str()),
                    "Region": null,
                })
            });
            json!({
                "ID": r.id(),
                "Priority": r.priority(),
                "Status": r.status().as_str(),
                "Destination": destination,
                "CrossRegion": false,
            })
        })
        .collect();
    json!({"Role": c.role(), "Rules": rules})
}

fn lifecycle_rule_json(r: &aws_sdk_s3::types::LifecycleRule) -> Value {
    let date = |d: Option<&aws_sdk_s3::primitives::DateTime>| d.map(|d| d.to_string());
    json!({
        "ID": r.id(),
        "Status": r.status().as_str(),
        "Expiration": r.expiration().map(|e| json!({
            "Days": e.days(),
            "Date": date(e.date()),
            "ExpiredObjectDeleteMarker": e.expired_object_delete_marker(),
        })),
        "Transitions": r.transitions().iter().map(|t| json!({
            "Days": t.days(),
            "Date": date(t.date()),
            "StorageClass": t.storage_class().map(|s| s.as_str()),
        })).collect::<Vec<_>>(),
        "NoncurrentVersionExpiration": r.noncurrent_version_expiration().map(|e| json!({
            "NoncurrentDays": e.noncurrent_days(),
        })),
        "AbortIncompleteMultipartUpload": r.abort_incomplete_multipart_upload().map(|a| json!({
            "DaysAfterInitiation": a.days_after_initiation(),
        })),
    })
}

/// The bucket name in a replication destination (`arn:<partition>:s3:::name`, or a bare name).
fn destination_bucket_name(destination: &str) -> &str {
    destination
        .rsplit_once(":::")
        .map_or(destination, |(_, name)| name)
}

/// Fills each replication rule's `Destination.Region` (GetBucketLocation of the destination
/// bucket, each distinct one once, in turn) and `CrossRegion`. A destination that does not exist
/// has no region; any other failure is returned (the call and its code) and leaves the regions
/// unknown.
async fn resolve_replication_regions(
    session: &AccountSession,
    source_region: &str,
    replication: &mut Value,
) -> Result<(), (String, String)> {
    let Some(rules) = replication.get_mut("Rules").and_then(Value::as_array_mut) else {
        return Ok(());
    };
    let mut regions: std::collections::HashMap<String, Option<String>> =
        std::collections::HashMap::new();
    for rule in rules.iter_mut() {
        let Some(bucket) = rule
            .pointer("/Destination/Bucket")
            .and_then(Value::as_str)
            .map(|b| destination_bucket_name(b).to_owned())
        else {
            continue;
        };
        let region = match regions.get(&bucket) {
            Some(known) => known.clone(),
            None => {
                let location = session
                    .s3(HOME_REGION)
                    .get_bucket_location()
                    .bucket(&bucket)
                    .send()
                    .await;
                let region = match location {
                    Ok(out) => Some(bucket_region(out.location_constraint())),
                    Err(e) if e.code() == Some("NoSuchBucket") => None,
                    Err(e) => {
                        let (code, _) = call_failure(&e);
                        return Err(("GetBucketLocation (replication destination)".into(), code));
                    }
                };
                regions.insert(bucket, region.clone());
                region
            }
        };
        rule["CrossRegion"] = json!(region.as_deref().is_some_and(|r| r != source_region));
        rule["Destination"]["Region"] = json!(region);
    }
    Ok(())
}

/// The region a GetBucketLocation answer names (none or empty is us-east-1, `EU` is eu-west-1).
fn bucket_region(constraint: Option<&aws_sdk_s3::types::BucketLocationConstraint>) -> String {
    match constraint.map(|c| c.as_str()) {
        None | Some("") => HOME_REGION.to_owned(),
        Some("EU") => "eu-west-1".to_owned(),
        Some(other) => other.to_owned(),
    }
}

/// The four Block Public Access settings.
const BLOCK_SETTINGS: [&str; 4] = [
    "BlockPublicAcls",
    "IgnorePublicAcls",
    "BlockPublicPolicy",
    "RestrictPublicBuckets",
];

fn block_setting_on(block: Option<&Value>, key: &str) -> bool {
    block
        .and_then(|b| b.get(key))
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

/// Each Block Public Access setting is in force if the bucket or the account sets it.
fn effective_block(bucket: Option<&Value>, account: Option<&Value>) -> Value {
    let mut out = Map::new();
    for key in BLOCK_SETTINGS {
        out.insert(
            key.into(),
            json!(block_setting_on(bucket, key) || block_setting_on(account, key)),
        );
    }
    Value::Object(out)
}

/// The effective settings when the account's are unknown: those the bucket turns on are in
/// force; the others are unknown (returned by name, left out of the value).
fn effective_block_without_account(bucket: Option<&Value>) -> (Value, Vec<&'static str>) {
    let mut out = Map::new();
    let mut unknown = Vec::new();
    for key in BLOCK_SETTINGS {
        if block_setting_on(bucket, key) {
            out.insert(key.into(), json!(true));
        } else {
            unknown.push(key);
        }
    }
    (Value::Object(out), unknown)
}

/// Parses a bucket policy and makes `Statement` always a list. An unparsable document is kept
/// as a string under `Raw` so that it is visible, and fails closed in the policies (no
/// statements to prove it safe).
pub fn normalise_policy(text: &str) -> Value {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(mut doc)) => {
            let statements = match doc.remove("Statement") {
                Some(Value::Array(items)) => items,
                Some(Value::Null) | None => Vec::new(),
                Some(single) => vec![single],
            };
            doc.insert("Statement".into(), Value::Array(statements));
            Value::Object(doc)
        }
        _ => json!({"Raw": text, "Statement": []}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Account;
    use crate::trail::{classify, parse_message, Disposition};

    const ACCOUNT: &str = "111122223333";
    /// One region of each partition, with the partition.
    const PARTITIONS: [(&str, &str); 3] = [
        ("us-east-1", "aws"),
        ("cn-north-1", "aws-cn"),
        ("us-gov-west-1", "aws-us-gov"),
    ];

    /// A session whose SDK configuration is in `region` (no call is made through it).
    fn session_in(region: &str) -> AccountSession {
        AccountSession {
            account: Account {
                account_id: ACCOUNT.into(),
                role_arn: String::new(),
                external_id: None,
                regions: vec![region.into()],
                enabled: true,
                name: None,
            },
            sdk: aws_config::SdkConfig::builder()
                .region(aws_config::Region::new(region.to_owned()))
                .build(),
            settings: crate::config::AwsSettings::default(),
        }
    }

    /// The ARNs the trail extraction finds in a successful S3 call recorded in `region`.
    fn trail_arns(region: &str, event_name: &str, request: Value) -> Vec<String> {
        let partition = crate::arn::partition_for_region(region);
        let record = json!({
            "eventVersion": "1.09",
            "userIdentity": {
                "type": "IAMUser",
                "arn": format!("arn:{partition}:iam::{ACCOUNT}:user/alice"),
                "accountId": ACCOUNT,
            },
            "eventTime": "2024-05-01T10:00:00Z",
            "eventSource": "s3.amazonaws.com",
            "eventName": event_name,
            "awsRegion": region,
            "requestParameters": request,
            "responseElements": null,
            "eventID": "00000000-0000-0000-0000-000000000000",
            "eventType": "AwsApiCall",
            "recipientAccountId": ACCOUNT,
        });
        let event = parse_message(&record.to_string()).expect("test record parses");
        match classify(&event).expect("the record is extractable") {
            Disposition::Relevant(touched) => touched.into_iter().map(|t| t.arn).collect(),
            Disposition::Ignored(reason) => panic!("{event_name} in {region} ignored: {reason:?}"),
        }
    }

    #[test]
    fn a_session_takes_its_partition_from_its_region() {
        for (region, partition) in PARTITIONS {
            // given a session in a region of each partition
            let session = session_in(region);
            // when / then
            assert_eq!(session.home_region(), region);
            assert_eq!(session.partition(), partition, "{region}");
        }
        // given a session whose SDK configuration names no region
        let mut unset = session_in("us-east-1");
        unset.sdk = aws_config::SdkConfig::builder().build();
        // then it is the commercial partition's home region
        assert_eq!(
            (unset.home_region(), unset.partition()),
            ("us-east-1", "aws")
        );
    }

    #[test]
    fn the_collector_and_the_trail_give_a_bucket_one_arn_in_every_partition() {
        for (region, partition) in PARTITIONS {
            // given a session and a CreateBucket record in the same region
            let session = session_in(region);
            let from_trail = trail_arns(region, "CreateBucket", json!({"bucketName": "b1"}));
            // when the collector forms the bucket's ARN
            let from_collector = bucket_arn(session.partition(), "b1");
            // then both are the same ARN, in the region's partition
            assert_eq!(from_trail, vec![from_collector.clone()], "{region}");
            assert_eq!(from_collector, format!("arn:{partition}:s3:::b1"));
        }
    }

    #[test]
    fn the_collector_and_the_trail_give_the_account_block_one_arn_in_every_partition() {
        for (region, partition) in PARTITIONS {
            // given a session and a PutAccountPublicAccessBlock record in the same region
            let session = session_in(region);
            let from_trail = trail_arns(
                region,
                "PutAccountPublicAccessBlock",
                json!({"PublicAccessBlockConfiguration": {"BlockPublicAcls": true}}),
            );
            // when the collector forms the account block's ARN
            let from_collector = account_block_arn(session.partition(), ACCOUNT);
            // then both are the same ARN, in the region's partition
            assert_eq!(from_trail, vec![from_collector.clone()], "{region}");
            assert_eq!(
                from_collector,
                format!("arn:{partition}:s3::{ACCOUNT}:account-public-access-block")
            );
        }
    }

    #[test]
    fn a_replication_destination_names_its_bucket() {
        assert_eq!(destination_bucket_name("arn:aws:s3:::replica"), "replica");
        assert_eq!(destination_bucket_name("arn:aws-cn:s3:::r.cn"), "r.cn");
        assert_eq!(destination_bucket_name("replica"), "replica");
    }

    #[test]
    fn a_single_statement_becomes_a_list() {
        let doc = normalise_policy(r#"{"Version":"2012-10-17","Statement":{"Effect":"Deny"}}"#);
        assert_eq!(doc["Statement"], json!([{"Effect": "Deny"}]));
        assert_eq!(normalise_policy("not json")["Statement"], json!([]));
    }

    #[test]
    fn effective_block_ors_bucket_and_account() {
        let bucket = block_json(Some(true), Some(false), None, None);
        let account = block_json(None, Some(true), None, None);
        let eff = effective_block(Some(&bucket), Some(&account));
        assert_eq!(eff["BlockPublicAcls"], true);
        assert_eq!(eff["IgnorePublicAcls"], true);
        assert_eq!(eff["RestrictPublicBuckets"], false);
        assert_eq!(
            effective_block(None, Some(&Value::Null))["BlockPublicAcls"],
            false
        );
    }

    #[test]
    fn without_the_account_only_what_the_bucket_turns_on_is_known() {
        // Given a bucket that ignores public ACLs, and an account block that could not be read
        let bucket = block_json(None, Some(true), None, None);
        // When the effective block is computed
        let (effective, unknown) = effective_block_without_account(Some(&bucket));
        // Then only the bucket's own setting is known; the others are not guessed as false
        assert_eq!(effective, json!({"IgnorePublicAcls": true}));
        assert_eq!(
            unknown,
            [
                "BlockPublicAcls",
                "BlockPublicPolicy",
                "RestrictPublicBuckets"
            ]
        );
    }
}
