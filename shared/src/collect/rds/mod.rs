//! The RDS collector: DB instances and the account's manual DB snapshots (with who may restore
//! them), in every region of the account; DB clusters and their manual snapshots are in
//! [`clusters`], event notification subscriptions in [`subscriptions`]. Automated snapshots (`rds:<db>-<time>`, which RDS takes and deletes itself) are
//! not the account's manual snapshots and are not collected.
//!
//! Normalised DB instance configuration:
//!
//! ```text
//! DBInstanceIdentifier, Arn, Region, Engine, EngineVersion, DBInstanceClass, DBInstanceStatus
//! PubliclyAccessible, StorageEncrypted, MultiAZ, DeletionProtection, AutoMinorVersionUpgrade,
//! IAMDatabaseAuthenticationEnabled, CopyTagsToSnapshot                       bool
//! KmsKeyId, MasterUsername, DBClusterIdentifier, CACertificateIdentifier,
//! ReadReplicaSourceDBInstanceIdentifier                                      | null
//! BackupRetentionPeriod, MonitoringInterval                                  number
//! EnabledCloudwatchLogsExports                                               [log type]
//! Endpoint                   {Address, Port} | null (while creating)
//! DBSubnetGroup              {DBSubnetGroupName, VpcId, SubnetIds} | null
//! VpcSecurityGroups          [{VpcSecurityGroupId, Status}]
//! DBParameterGroups          [{DBParameterGroupName, ParameterApplyStatus}]
//! Parameters                 [{Name, Value, Source}]: TLS parameters of the first DB parameter
//!                            group (see [`parameters`]); `Unreadable` names it when unreadable
//! EngineLifecycleSupport     open-source-rds-extended-support | ...-disabled | null
//! CACertificateValidTill, EngineVersionOffered: see [`versions`]
//! ```
//!
//! Normalised manual DB snapshot configuration:
//!
//! ```text
//! DBSnapshotIdentifier, Arn, Region, DBInstanceIdentifier, SnapshotType, Engine, Status
//! Encrypted                  bool
//! KmsKeyId                   | null
//! RestorableBy               the `restore` attribute: account ids, or "all" when public
//! ```
//!
//! A snapshot whose DescribeDBSnapshotAttributes fails is a [`Collected::Failed`] entry: who
//! may restore it is never guessed.

use aws_sdk_rds::types::{DbInstance, DbSnapshot};
use aws_sdk_rds::Client;
use chrono::Utc;
use futures::StreamExt;
use serde_json::json;
use tokio::sync::mpsc::Sender;
use tracing::{debug, warn};

use super::{
    error_code, regional_failure, send, AccountSession, Collected, CollectionError, Described,
};
use crate::arn::{ArnScope, ArnShape};
use crate::model::{Resource, Service};
use crate::policy::schema::{Field, Type, UNREADABLE_FIELD};
use crate::registry::{Relation, Residence, ResourceKind, ServiceEntry};
use parameters::{GroupKind, GroupRead};

pub mod clusters;
pub mod parameters;
pub mod subscriptions;
pub mod versions;

pub use clusters::{DB_CLUSTER, DB_CLUSTER_SNAPSHOT};
pub use parameters::{DB_CLUSTER_PARAMETER_GROUP, DB_PARAMETER_GROUP};
pub use subscriptions::EVENT_SUBSCRIPTION;

/// RDS in the registry: instances, clusters, their manual snapshots and the event
/// subscriptions, listed region by region.
pub const SERVICE: ServiceEntry = ServiceEntry {
    service: Service::Rds,
    kinds: &[
        &DB_INSTANCE,
        &DB_SNAPSHOT,
        &DB_CLUSTER,
        &DB_CLUSTER_SNAPSHOT,
        &EVENT_SUBSCRIPTION,
        &DB_PARAMETER_GROUP,
        &DB_CLUSTER_PARAMETER_GROUP,
    ],
    collect: |session, out| {
        Box::pin(super::regions::collect_regions(
            session,
            Service::Rds,
            move |region| async move { collect_region(session, &region, out).await },
        ))
    },
};

/// A DB instance: `arn:aws:rds:<region>:<account>:db:<identifier>`.
pub const DB_INSTANCE: ResourceKind = ResourceKind {
    shape: ArnShape::new(
        Service::Rds,
        "rds",
        "AWS::RDS::DBInstance",
        ArnScope::Regional,
        "db:",
    ),
    residence: Residence::Regional,
    permissions: &["rds:DescribeDBInstances", "rds:DescribeDBParameters"],
    fields: INSTANCE_FIELDS,
    describe: |session, id| Box::pin(describe_instance(session, id)),
    dependents: None,
    relations: DB_INSTANCE_RELATIONS,
};

/// What a DB instance's policies may follow: its VPC security groups and its subnet group's
/// subnets.
const DB_INSTANCE_RELATIONS: &[Relation] = &[
    Relation {
        name: "SecurityGroups",
        target: Type::Kind("AWS::EC2::SecurityGroup"),
        local: "VpcSecurityGroups.VpcSecurityGroupId",
        remote: "GroupId",
        same_region: true,
        only_where: None,
        otherwise: None,
    },
    Relation {
        name: "Subnets",
        target: Type::Kind("AWS::EC2::Subnet"),
        local: "DBSubnetGroup.SubnetIds",
        remote: "SubnetId",
        same_region: true,
        only_where: None,
        otherwise: None,
    },
];

/// A manual DB snapshot: `arn:aws:rds:<region>:<account>:snapshot:<identifier>`.
pub const DB_SNAPSHOT: ResourceKind = ResourceKind {
    shape: ArnShape::new(
        Service::Rds,
        "rds",
        "AWS::RDS::DBSnapshot",
        ArnScope::Regional,
        "snapshot:",
    ),
    residence: Residence::Regional,
    permissions: &[
        "rds:DescribeDBSnapshots",
        "rds:DescribeDBSnapshotAttributes",
    ],
    fields: SNAPSHOT_FIELDS,
    describe: |session, id| Box::pin(describe_snapshot(session, id)),
    dependents: None,
    relations: DB_SNAPSHOT_RELATIONS,
};

/// The key a DB snapshot is encrypted with.
const DB_SNAPSHOT_RELATIONS: &[Relation] = &[Relation {
    name: "Key",
    target: Type::Kind("AWS::KMS::Key"),
    local: "KmsKeyId",
    remote: "Arn",
    same_region: true,
    only_where: None,
    otherwise: None,
}];

pub const DB_INSTANCE_TYPE: &str = DB_INSTANCE.resource_type();
pub const DB_SNAPSHOT_TYPE: &str = DB_SNAPSHOT.resource_type();

const INSTANCE_FIELDS: &[Field] = &[
    Field::new("DBInstanceIdentifier", Type::String),
    Field::new("Arn", Type::String),
    Field::new("Region", Type::String),
    Field::new("Engine", Type::String).nullable(),
    Field::new("EngineVersion", Type::String).nullable(),
    Field::new("DBInstanceClass", Type::String).nullable(),
    Field::new("DBInstanceStatus", Type::String).nullable(),
    Field::new("PubliclyAccessible", Type::Bool),
    Field::new("StorageEncrypted", Type::Bool),
    Field::new("MultiAZ", Type::Bool),
    Field::new("DeletionProtection", Type::Bool),
    Field::new("AutoMinorVersionUpgrade", Type::Bool),
    Field::new("IAMDatabaseAuthenticationEnabled", Type::Bool),
    Field::new("CopyTagsToSnapshot", Type::Bool),
    Field::new("KmsKeyId", Type::String).nullable(),
    Field::new("MasterUsername", Type::String).nullable(),
    Field::new("DBClusterIdentifier", Type::String).nullable(),
    Field::new("CACertificateIdentifier", Type::String).nullable(),
    Field::new("ReadReplicaSourceDBInstanceIdentifier", Type::String).nullable(),
    Field::new("BackupRetentionPeriod", Type::Number),
    Field::new("MonitoringInterval", Type::Number),
    Field::new("EnabledCloudwatchLogsExports", Type::Array(&Type::String)),
    Field::new(
        "Endpoint",
        Type::Object(&[
            Field::new("Address", Type::String).nullable(),
            Field::new("Port", Type::Number).nullable(),
        ]),
    )
    .nullable(),
    Field::new(
        "DBSubnetGroup",
        Type::Object(&[
            Field::new("DBSubnetGroupName", Type::String).nullable(),
            Field::new("VpcId", Type::String).nullable(),
            Field::new("SubnetIds", Type::Array(&Type::String)),
        ]),
    )
    .nullable(),
    Field::new(
        "VpcSecurityGroups",
        Type::Array(&Type::Object(&[
            Field::new("VpcSecurityGroupId", Type::String).nullable(),
            Field::new("Status", Type::String).nullable(),
        ])),
    ),
    Field::new(
        "DBParameterGroups",
        Type::Array(&Type::Object(&[
            Field::new("DBParameterGroupName", Type::String).nullable(),
            Field::new("ParameterApplyStatus", Type::String).nullable(),
        ])),
    ),
    parameters::PARAMETERS_FIELD,
    Field::new("EngineLifecycleSupport", Type::String).nullable(),
    versions::CA_VALID_TILL_FIELD,
    versions::VERSION_OFFERED_FIELD,
    UNREADABLE_FIELD,
];

const SNAPSHOT_FIELDS: &[Field] = &[
    Field::new("DBSnapshotIdentifier", Type::String),
    Field::new("Arn", Type::String),
    Field::new("Region", Type::String),
    Field::new("DBInstanceIdentifier", Type::String).nullable(),
    Field::new("SnapshotType", Type::String).nullable(),
    Field::new("Engine", Type::String).nullable(),
    Field::new("Status", Type::String).nullable(),
    Field::new("Encrypted", Type::Bool),
    Field::new("KmsKeyId", Type::String).nullable(),
    Field::new("RestorableBy", Type::Array(&Type::String)),
];

/// Snapshots (of instances or of clusters) whose attributes are read at once within one region.
const SNAPSHOT_CONCURRENCY: usize = 8;

/// The prefix of automated snapshots' identifiers.
const AUTOMATED_PREFIX: &str = "rds:";

fn client(session: &AccountSession, region: &str) -> Client {
    Client::new(&session.config_in(region))
}

/// The ARN of DB instance `id` in `region`.
pub fn instance_arn(partition: &str, region: &str, account_id: &str, id: &str) -> String {
    DB_INSTANCE.arn(partition, region, account_id, id)
}

/// The ARN of DB snapshot `id` in `region`.
pub fn snapshot_arn(partition: &str, region: &str, account_id: &str, id: &str) -> String {
    DB_SNAPSHOT.arn(partition, region, account_id, id)
}

/// True for a snapshot the account took (not an automated, shared or public one of others).
fn is_manual(snapshot: &DbSnapshot) -> bool {
    snapshot.snapshot_type() == Some("manual")
        && !snapshot
            .db_snapshot_identifier()
            .unwrap_or_default()
            .starts_with(AUTOMATED_PREFIX)
}

/// Lists the instances, the manual snapshots, the clusters, the manual cluster snapshots and the
/// event subscriptions of `region` into `out`.
async fn collect_region(
    session: &AccountSession,
    region: &str,
    out: &Sender<Collected>,
) -> Result<(), CollectionError> {
    let client = client(session, region);
    let mut groups = parameters::GroupCache::default();
    let mut lookups = versions::Lookups::read(&client).await;
    let mut pages = client.describe_db_instances().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| {
            regional_failure(
                session,
                Service::Rds,
                region,
                None,
                "DescribeDBInstances",
                &e,
            )
        })?;
        for instance in page.db_instances() {
            let read = match parameter_group(instance) {
                Some(name) => Some(
                    groups
                        .get(
                            &client,
                            GroupKind::Instance,
                            name,
                            instance.db_instance_identifier().unwrap_or_default(),
                        )
                        .await
                        .clone(),
                ),
                None => None,
            };
            let mut resource = instance_resource(session, region, instance, read.as_ref());
            lookups
                .embed(
                    &client,
                    &mut resource.configuration,
                    instance.ca_certificate_identifier(),
                    instance.engine(),
                    instance.engine_version(),
                )
                .await;
            send(out, Collected::Resource(Box::new(resource))).await;
        }
    }
    groups.emit(session, region, GroupKind::Instance, out).await;
    let mut pages = client
        .describe_db_snapshots()
        .snapshot_type("manual")
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| {
            regional_failure(
                session,
                Service::Rds,
                region,
                None,
                "DescribeDBSnapshots",
                &e,
            )
        })?;
        let snapshots: Vec<DbSnapshot> = page
            .db_snapshots()
            .iter()
            .filter(|s| is_manual(s))
            .cloned()
            .collect();
        debug!(account = %session.account.account_id, region, snapshots = snapshots.len(), "snapshot page listed");
        let mut described = futures::stream::iter(snapshots)
            .map(|snapshot| {
                let client = &client;
                async move { snapshot_resource(session, client, region, &snapshot).await }
            })
            .buffer_unordered(SNAPSHOT_CONCURRENCY);
        while let Some(result) = described.next().await {
            match result {
                Ok(Described::Found(resource)) => send(out, Collected::Resource(resource)).await,
                Ok(Described::NotFound) => debug!("snapshot vanished during collection"),
                Err((arn, error)) => {
                    warn!(%error, "snapshot collection failed");
                    send(out, Collected::Failed { arn, error }).await
                }
            }
        }
    }
    clusters::collect_region(session, &client, region, out).await?;
    subscriptions::collect_region(session, &client, region, out).await
}

/// The DB parameter group an instance runs with (the first RDS lists).
fn parameter_group(db: &DbInstance) -> Option<&str> {
    db.db_parameter_groups()
        .first()
        .and_then(|g| g.db_parameter_group_name())
}

fn instance_resource(
    session: &AccountSession,
    region: &str,
    db: &DbInstance,
    parameters: Option<&GroupRead>,
) -> Resource {
    let account_id = &session.account.account_id;
    let id = db.db_instance_identifier().unwrap_or_default();
    let arn = db
        .db_instance_arn()
        .map(str::to_owned)
        .unwrap_or_else(|| instance_arn(session.partition(), region, account_id, id));
    let mut configuration = json!({
        "DBInstanceIdentifier": id,
        "Arn": arn,
        "Region": region,
        "Engine": db.engine(),
        "EngineVersion": db.engine_version(),
        "DBInstanceClass": db.db_instance_class(),
        "DBInstanceStatus": db.db_instance_status(),
        "PubliclyAccessible": db.publicly_accessible().unwrap_or(false),
        "StorageEncrypted": db.storage_encrypted().unwrap_or(false),
        "MultiAZ": db.multi_az().unwrap_or(false),
        "DeletionProtection": db.deletion_protection().unwrap_or(false),
        "AutoMinorVersionUpgrade": db.auto_minor_version_upgrade().unwrap_or(false),
        "IAMDatabaseAuthenticationEnabled": db.iam_database_authentication_enabled().unwrap_or(false),
        "CopyTagsToSnapshot": db.copy_tags_to_snapshot().unwrap_or(false),
        "KmsKeyId": db.kms_key_id(),
        "MasterUsername": db.master_username(),
        "DBClusterIdentifier": db.db_cluster_identifier(),
        "CACertificateIdentifier": db.ca_certificate_identifier(),
        "EngineLifecycleSupport": db.engine_lifecycle_support(),
        "ReadReplicaSourceDBInstanceIdentifier": db.read_replica_source_db_instance_identifier(),
        "BackupRetentionPeriod": db.backup_retention_period().unwrap_or(0),
        "MonitoringInterval": db.monitoring_interval().unwrap_or(0),
        "EnabledCloudwatchLogsExports": db.enabled_cloudwatch_logs_exports(),
        "Endpoint": db.endpoint().map(|e| json!({"Address": e.address(), "Port": e.port()})),
        "DBSubnetGroup": db.db_subnet_group().map(|g| json!({
            "DBSubnetGroupName": g.db_subnet_group_name(),
            "VpcId": g.vpc_id().filter(|v| !v.is_empty()),
            "SubnetIds": g.subnets().iter().filter_map(|s| s.subnet_identifier()).collect::<Vec<_>>(),
        })),
        "VpcSecurityGroups": db.vpc_security_groups().iter().map(|g| json!({
            "VpcSecurityGroupId": g.vpc_security_group_id(),
            "Status": g.status(),
        })).collect::<Vec<_>>(),
        "DBParameterGroups": db.db_parameter_groups().iter().map(|g| json!({
            "DBParameterGroupName": g.db_parameter_group_name(),
            "ParameterApplyStatus": g.parameter_apply_status(),
        })).collect::<Vec<_>>(),
    });
    parameters::embed(
        &mut configuration,
        GroupKind::Instance,
        parameters,
        db.engine(),
        db.engine_version(),
    );
    Resource {
        arn,
        account_id: account_id.clone(),
        service: Service::Rds,
        resource_type: DB_INSTANCE_TYPE.into(),
        region: region.to_owned(),
        configuration,
        last_seen_at: Utc::now(),
    }
}

/// Reads who may restore the snapshot and builds its resource (the ARN with the error).
async fn snapshot_resource(
    session: &AccountSession,
    client: &Client,
    region: &str,
    snapshot: &DbSnapshot,
) -> Result<Described, (String, CollectionError)> {
    let account_id = &session.account.account_id;
    let id = snapshot.db_snapshot_identifier().unwrap_or_default();
    let arn = snapshot
        .db_snapshot_arn()
        .map(str::to_owned)
        .unwrap_or_else(|| snapshot_arn(session.partition(), region, account_id, id));
    let observed = Utc::now();
    let attributes = match client
        .describe_db_snapshot_attributes()
        .db_snapshot_identifier(id)
        .send()
        .await
    {
        Ok(out) => out,
        Err(e) if error_code(&e) == Some("DBSnapshotNotFound") => return Ok(Described::NotFound),
        Err(e) => {
            let error = regional_failure(
                session,
                Service::Rds,
                region,
                Some(arn.clone()),
                "DescribeDBSnapshotAttributes",
                &e,
            );
            return Err((arn, error));
        }
    };
    let mut restorable: Vec<String> = attributes
        .db_snapshot_attributes_result()
        .map(|r| r.db_snapshot_attributes())
        .unwrap_or_default()
        .iter()
        .filter(|a| a.attribute_name() == Some("restore"))
        .flat_map(|a| a.attribute_values().iter().cloned())
        .collect();
    restorable.sort();
    let configuration = json!({
        "DBSnapshotIdentifier": id,
        "Arn": arn,
        "Region": region,
        "DBInstanceIdentifier": snapshot.db_instance_identifier(),
        "SnapshotType": snapshot.snapshot_type(),
        "Engine": snapshot.engine(),
        "Status": snapshot.status(),
        "Encrypted": snapshot.encrypted().unwrap_or(false),
        "KmsKeyId": snapshot.kms_key_id(),
        "RestorableBy": restorable,
    });
    Ok(Described::Found(Box::new(Resource {
        arn,
        account_id: account_id.clone(),
        service: Service::Rds,
        resource_type: DB_SNAPSHOT_TYPE.into(),
        region: region.to_owned(),
        configuration,
        last_seen_at: observed,
    })))
}

/// Re-describes one DB instance (event processor) in the session's home region.
pub async fn describe_instance(
    session: &AccountSession,
    id: &str,
) -> Result<Described, CollectionError> {
    let region = session.home_region().to_owned();
    let arn = instance_arn(
        session.partition(),
        &region,
        &session.account.account_id,
        id,
    );
    let client = client(session, &region);
    match client
        .describe_db_instances()
        .db_instance_identifier(id)
        .send()
        .await
    {
        Ok(out) => Ok(match out.db_instances().first() {
            Some(db) => {
                let read = match parameter_group(db) {
                    Some(name) => {
                        Some(parameters::read_group(&client, GroupKind::Instance, name).await)
                    }
                    None => None,
                };
                let mut resource = instance_resource(session, &region, db, read.as_ref());
                versions::Lookups::read(&client)
                    .await
                    .embed(
                        &client,
                        &mut resource.configuration,
                        db.ca_certificate_identifier(),
                        db.engine(),
                        db.engine_version(),
                    )
                    .await;
                Described::Found(Box::new(resource))
            }
            None => Described::NotFound,
        }),
        Err(e) if error_code(&e) == Some("DBInstanceNotFound") => Ok(Described::NotFound),
        Err(e) => Err(regional_failure(
            session,
            Service::Rds,
            &region,
            Some(arn),
            "DescribeDBInstances",
            &e,
        )),
    }
}

/// Re-describes one manual DB snapshot (event processor). An automated snapshot is not
/// collected: not found as far as qrie is concerned.
pub async fn describe_snapshot(
    session: &AccountSession,
    id: &str,
) -> Result<Described, CollectionError> {
    if id.starts_with(AUTOMATED_PREFIX) {
        return Ok(Described::NotFound);
    }
    let region = session.home_region().to_owned();
    let client = client(session, &region);
    let arn = snapshot_arn(
        session.partition(),
        &region,
        &session.account.account_id,
        id,
    );
    let snapshot = match client
        .describe_db_snapshots()
        .db_snapshot_identifier(id)
        .send()
        .await
    {
        Ok(out) => out.db_snapshots().iter().find(|s| is_manual(s)).cloned(),
        Err(e) if error_code(&e) == Some("DBSnapshotNotFound") => None,
        Err(e) => {
            return Err(regional_failure(
                session,
                Service::Rds,
                &region,
                Some(arn),
                "DescribeDBSnapshots",
                &e,
            ))
        }
    };
    match snapshot {
        None => Ok(Described::NotFound),
        Some(s) => snapshot_resource(session, &client, &region, &s)
            .await
            .map_err(|(_, e)| e),
    }
}
