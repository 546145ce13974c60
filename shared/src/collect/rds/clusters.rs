//! RDS DB clusters (Aurora, Multi-AZ DB clusters and Neptune, which shares the API) and the
//! account's manual DB cluster snapshots with who may restore them. DocumentDB clusters, which
//! DescribeDBClusters also returns (engine `docdb`), are a service of their own
//! (`AWS::DocDB::DBCluster`) and are not collected here; nor are automated cluster snapshots
//! (`rds:` prefix), which RDS takes and deletes itself.
//!
//! Normalised DB cluster configuration:
//!
//! ```text
//! DBClusterIdentifier, Arn, Region                                           string
//! Engine, EngineVersion, EngineMode, Status, KmsKeyId, MasterUsername,
//! DBClusterParameterGroup, DBSubnetGroup                                     string | null
//! MultiAZ, StorageEncrypted, DeletionProtection, IAMDatabaseAuthenticationEnabled,
//! CopyTagsToSnapshot, PubliclyAccessible                                     bool
//! AutoMinorVersionUpgrade    bool | null (Aurora clusters have no cluster-level flag)
//! Port                       number | null
//! BackupRetentionPeriod, BacktrackWindow                                     number
//! EnabledCloudwatchLogsExports                                               [log type]
//! VpcSecurityGroups          [{VpcSecurityGroupId, Status}]
//! DBClusterMembers           [{DBInstanceIdentifier, IsClusterWriter}]
//! Parameters                 [{Name, Value, Source}]: TLS and audit parameters of the cluster
//!                            parameter group (see [`super::parameters`]), or `Unreadable`
//! ```
//!
//! Normalised manual DB cluster snapshot configuration:
//!
//! ```text
//! DBClusterSnapshotIdentifier, Arn, Region                                   string
//! DBClusterIdentifier, SnapshotType, Engine, Status, KmsKeyId                string | null
//! StorageEncrypted           bool
//! RestorableBy               the `restore` attribute: account ids, or "all" when public
//! ```
//!
//! A cluster snapshot whose DescribeDBClusterSnapshotAttributes fails is a
//! [`Collected::Failed`] entry: who may restore it is never guessed.

use aws_sdk_rds::types::{DbCluster, DbClusterSnapshot};
use aws_sdk_rds::Client;
use chrono::Utc;
use futures::StreamExt;
use serde_json::json;
use tokio::sync::mpsc::Sender;
use tracing::{debug, warn};

use super::parameters::{read_group, GroupCache, GroupKind, GroupRead};
use super::{client, AUTOMATED_PREFIX, SNAPSHOT_CONCURRENCY};
use crate::arn::{ArnScope, ArnShape};
use crate::collect::{
    error_code, regional_failure, send, AccountSession, Collected, CollectionError, Described,
};
use crate::model::{Resource, Service};
use crate::policy::schema::{Field, Type, UNREADABLE_FIELD};
use crate::registry::{Residence, ResourceKind};

/// A DB cluster: `arn:aws:rds:<region>:<account>:cluster:<identifier>`.
pub const DB_CLUSTER: ResourceKind = ResourceKind {
    shape: ArnShape::new(
        Service::Rds,
        "rds",
        "AWS::RDS::DBCluster",
        ArnScope::Regional,
        "cluster:",
    ),
    residence: Residence::Regional,
    permissions: &["rds:DescribeDBClusters", "rds:DescribeDBClusterParameters"],
    fields: CLUSTER_FIELDS,
    describe: |session, id| Box::pin(describe_cluster(session, id)),
    dependents: None,
    relations: &[],
};

/// A manual DB cluster snapshot: `arn:aws:rds:<region>:<account>:cluster-snapshot:<identifier>`.
pub const DB_CLUSTER_SNAPSHOT: ResourceKind = ResourceKind {
    shape: ArnShape::new(
        Service::Rds,
        "rds",
        "AWS::RDS::DBClusterSnapshot",
        ArnScope::Regional,
        "cluster-snapshot:",
    ),
    residence: Residence::Regional,
    permissions: &[
        "rds:DescribeDBClusterSnapshots",
        "rds:DescribeDBClusterSnapshotAttributes",
    ],
    fields: CLUSTER_SNAPSHOT_FIELDS,
    describe: |session, id| Box::pin(describe_cluster_snapshot(session, id)),
    dependents: None,
    relations: &[],
};

pub const DB_CLUSTER_TYPE: &str = DB_CLUSTER.resource_type();
pub const DB_CLUSTER_SNAPSHOT_TYPE: &str = DB_CLUSTER_SNAPSHOT.resource_type();

/// The engine of DocumentDB clusters, which DescribeDBClusters returns too.
const DOCUMENTDB_ENGINE: &str = "docdb";

const CLUSTER_FIELDS: &[Field] = &[
    Field::new("DBClusterIdentifier", Type::String),
    Field::new("Arn", Type::String),
    Field::new("Region", Type::String),
    Field::new("Engine", Type::String).nullable(),
    Field::new("EngineVersion", Type::String).nullable(),
    Field::new("EngineMode", Type::String).nullable(),
    Field::new("Status", Type::String).nullable(),
    Field::new("MultiAZ", Type::Bool),
    Field::new("StorageEncrypted", Type::Bool),
    Field::new("DeletionProtection", Type::Bool),
    Field::new("IAMDatabaseAuthenticationEnabled", Type::Bool),
    Field::new("CopyTagsToSnapshot", Type::Bool),
    Field::new("PubliclyAccessible", Type::Bool),
    Field::new("AutoMinorVersionUpgrade", Type::Bool).nullable(),
    Field::new("KmsKeyId", Type::String).nullable(),
    Field::new("MasterUsername", Type::String).nullable(),
    Field::new("DBClusterParameterGroup", Type::String).nullable(),
    Field::new("DBSubnetGroup", Type::String).nullable(),
    Field::new("Port", Type::Number).nullable(),
    Field::new("BackupRetentionPeriod", Type::Number),
    Field::new("BacktrackWindow", Type::Number),
    Field::new("EnabledCloudwatchLogsExports", Type::Array(&Type::String)),
    Field::new(
        "VpcSecurityGroups",
        Type::Array(&Type::Object(&[
            Field::new("VpcSecurityGroupId", Type::String).nullable(),
            Field::new("Status", Type::String).nullable(),
        ])),
    ),
    Field::new(
        "DBClusterMembers",
        Type::Array(&Type::Object(&[
            Field::new("DBInstanceIdentifier", Type::String).nullable(),
            Field::new("IsClusterWriter", Type::Bool),
        ])),
    ),
    super::parameters::PARAMETERS_FIELD,
    UNREADABLE_FIELD,
];

const CLUSTER_SNAPSHOT_FIELDS: &[Field] = &[
    Field::new("DBClusterSnapshotIdentifier", Type::String),
    Field::new("Arn", Type::String),
    Field::new("Region", Type::String),
    Field::new("DBClusterIdentifier", Type::String).nullable(),
    Field::new("SnapshotType", Type::String).nullable(),
    Field::new("Engine", Type::String).nullable(),
    Field::new("Status", Type::String).nullable(),
    Field::new("StorageEncrypted", Type::Bool),
    Field::new("KmsKeyId", Type::String).nullable(),
    Field::new("RestorableBy", Type::Array(&Type::String)),
];

/// The ARN of DB cluster `id` in `region`.
pub fn cluster_arn(partition: &str, region: &str, account_id: &str, id: &str) -> String {
    DB_CLUSTER.arn(partition, region, account_id, id)
}

/// The ARN of DB cluster snapshot `id` in `region`.
pub fn cluster_snapshot_arn(partition: &str, region: &str, account_id: &str, id: &str) -> String {
    DB_CLUSTER_SNAPSHOT.arn(partition, region, account_id, id)
}

/// True for a cluster of RDS's own (Aurora, Multi-AZ DB cluster, Neptune), not DocumentDB.
pub(super) fn is_rds_cluster(cluster: &DbCluster) -> bool {
    cluster.engine() != Some(DOCUMENTDB_ENGINE)
}

/// True for a cluster snapshot the account took (not an automated or shared one).
fn is_manual(snapshot: &DbClusterSnapshot) -> bool {
    snapshot.snapshot_type() == Some("manual")
        && snapshot.engine() != Some(DOCUMENTDB_ENGINE)
        && !snapshot
            .db_cluster_snapshot_identifier()
            .unwrap_or_default()
            .starts_with(AUTOMATED_PREFIX)
}

/// Lists the clusters and the manual cluster snapshots of `region` into `out`.
pub(super) async fn collect_region(
    session: &AccountSession,
    client: &Client,
    region: &str,
    out: &Sender<Collected>,
) -> Result<(), CollectionError> {
    let mut groups = GroupCache::default();
    let mut pages = client.describe_db_clusters().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| {
            regional_failure(
                session,
                Service::Rds,
                region,
                None,
                "DescribeDBClusters",
                &e,
            )
        })?;
        for cluster in page.db_clusters().iter().filter(|c| is_rds_cluster(c)) {
            let read = match cluster.db_cluster_parameter_group() {
                Some(name) => Some(
                    groups
                        .get(
                            client,
                            GroupKind::Cluster,
                            name,
                            cluster.db_cluster_identifier().unwrap_or_default(),
                        )
                        .await
                        .clone(),
                ),
                None => None,
            };
            let resource = cluster_resource(session, region, cluster, read.as_ref());
            send(out, Collected::Resource(Box::new(resource))).await;
        }
    }
    groups.emit(session, region, GroupKind::Cluster, out).await;
    let mut pages = client
        .describe_db_cluster_snapshots()
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
                "DescribeDBClusterSnapshots",
                &e,
            )
        })?;
        let snapshots: Vec<DbClusterSnapshot> = page
            .db_cluster_snapshots()
            .iter()
            .filter(|s| is_manual(s))
            .cloned()
            .collect();
        let mut described = futures::stream::iter(snapshots)
            .map(|snapshot| async move {
                cluster_snapshot_resource(session, client, region, &snapshot).await
            })
            .buffer_unordered(SNAPSHOT_CONCURRENCY);
        while let Some(result) = described.next().await {
            match result {
                Ok(Described::Found(resource)) => send(out, Collected::Resource(resource)).await,
                Ok(Described::NotFound) => debug!("cluster snapshot vanished during collection"),
                Err((arn, error)) => {
                    warn!(%error, "cluster snapshot collection failed");
                    send(out, Collected::Failed { arn, error }).await
                }
            }
        }
    }
    Ok(())
}

fn cluster_resource(
    session: &AccountSession,
    region: &str,
    c: &DbCluster,
    parameters: Option<&GroupRead>,
) -> Resource {
    let account_id = &session.account.account_id;
    let id = c.db_cluster_identifier().unwrap_or_default();
    let arn = c
        .db_cluster_arn()
        .map(str::to_owned)
        .unwrap_or_else(|| cluster_arn(session.partition(), region, account_id, id));
    let mut configuration = json!({
        "DBClusterIdentifier": id,
        "Arn": arn,
        "Region": region,
        "Engine": c.engine(),
        "EngineVersion": c.engine_version(),
        "EngineMode": c.engine_mode(),
        "Status": c.status(),
        "MultiAZ": c.multi_az().unwrap_or(false),
        "StorageEncrypted": c.storage_encrypted().unwrap_or(false),
        "DeletionProtection": c.deletion_protection().unwrap_or(false),
        "IAMDatabaseAuthenticationEnabled": c.iam_database_authentication_enabled().unwrap_or(false),
        "CopyTagsToSnapshot": c.copy_tags_to_snapshot().unwrap_or(false),
        "PubliclyAccessible": c.publicly_accessible().unwrap_or(false),
        "AutoMinorVersionUpgrade": c.auto_minor_version_upgrade(),
        "KmsKeyId": c.kms_key_id(),
        "MasterUsername": c.master_username(),
        "DBClusterParameterGroup": c.db_cluster_parameter_group(),
        "DBSubnetGroup": c.db_subnet_group(),
        "Port": c.port(),
        "BackupRetentionPeriod": c.backup_retention_period().unwrap_or(0),
        "BacktrackWindow": c.backtrack_window().unwrap_or(0),
        "EnabledCloudwatchLogsExports": c.enabled_cloudwatch_logs_exports(),
        "VpcSecurityGroups": c.vpc_security_groups().iter().map(|g| json!({
            "VpcSecurityGroupId": g.vpc_security_group_id(),
            "Status": g.status(),
        })).collect::<Vec<_>>(),
        "DBClusterMembers": c.db_cluster_members().iter().map(|m| json!({
            "DBInstanceIdentifier": m.db_instance_identifier(),
            "IsClusterWriter": m.is_cluster_writer().unwrap_or(false),
        })).collect::<Vec<_>>(),
    });
    super::parameters::embed(
        &mut configuration,
        GroupKind::Cluster,
        parameters,
        c.engine(),
        c.engine_version(),
    );
    Resource {
        arn,
        account_id: account_id.clone(),
        service: Service::Rds,
        resource_type: DB_CLUSTER_TYPE.into(),
        region: region.to_owned(),
        configuration,
        last_seen_at: Utc::now(),
    }
}

/// Reads who may restore the cluster snapshot and builds its resource (the ARN with the error).
async fn cluster_snapshot_resource(
    session: &AccountSession,
    client: &Client,
    region: &str,
    snapshot: &DbClusterSnapshot,
) -> Result<Described, (String, CollectionError)> {
    let account_id = &session.account.account_id;
    let id = snapshot
        .db_cluster_snapshot_identifier()
        .unwrap_or_default();
    let arn = snapshot
        .db_cluster_snapshot_arn()
        .map(str::to_owned)
        .unwrap_or_else(|| cluster_snapshot_arn(session.partition(), region, account_id, id));
    let observed = Utc::now();
    let attributes = match client
        .describe_db_cluster_snapshot_attributes()
        .db_cluster_snapshot_identifier(id)
        .send()
        .await
    {
        Ok(out) => out,
        Err(e) if error_code(&e) == Some("DBClusterSnapshotNotFoundFault") => {
            return Ok(Described::NotFound)
        }
        Err(e) => {
            let error = regional_failure(
                session,
                Service::Rds,
                region,
                Some(arn.clone()),
                "DescribeDBClusterSnapshotAttributes",
                &e,
            );
            return Err((arn, error));
        }
    };
    let mut restorable: Vec<String> = attributes
        .db_cluster_snapshot_attributes_result()
        .map(|r| r.db_cluster_snapshot_attributes())
        .unwrap_or_default()
        .iter()
        .filter(|a| a.attribute_name() == Some("restore"))
        .flat_map(|a| a.attribute_values().iter().cloned())
        .collect();
    restorable.sort();
    let configuration = json!({
        "DBClusterSnapshotIdentifier": id,
        "Arn": arn,
        "Region": region,
        "DBClusterIdentifier": snapshot.db_cluster_identifier(),
        "SnapshotType": snapshot.snapshot_type(),
        "Engine": snapshot.engine(),
        "Status": snapshot.status(),
        "StorageEncrypted": snapshot.storage_encrypted().unwrap_or(false),
        "KmsKeyId": snapshot.kms_key_id(),
        "RestorableBy": restorable,
    });
    Ok(Described::Found(Box::new(Resource {
        arn,
        account_id: account_id.clone(),
        service: Service::Rds,
        resource_type: DB_CLUSTER_SNAPSHOT_TYPE.into(),
        region: region.to_owned(),
        configuration,
        last_seen_at: observed,
    })))
}

/// Re-describes one DB cluster (event processor) in the session's home region. A DocumentDB
/// cluster is not collected: not found as far as qrie is concerned.
pub async fn describe_cluster(
    session: &AccountSession,
    id: &str,
) -> Result<Described, CollectionError> {
    let region = session.home_region().to_owned();
    let arn = cluster_arn(
        session.partition(),
        &region,
        &session.account.account_id,
        id,
    );
    let client = client(session, &region);
    match client
        .describe_db_clusters()
        .db_cluster_identifier(id)
        .send()
        .await
    {
        Ok(out) => Ok(match out.db_clusters().iter().find(|c| is_rds_cluster(c)) {
            Some(c) => {
                let read = match c.db_cluster_parameter_group() {
                    Some(name) => Some(read_group(&client, GroupKind::Cluster, name).await),
                    None => None,
                };
                Described::Found(Box::new(cluster_resource(
                    session,
                    &region,
                    c,
                    read.as_ref(),
                )))
            }
            None => Described::NotFound,
        }),
        Err(e) if error_code(&e) == Some("DBClusterNotFoundFault") => Ok(Described::NotFound),
        Err(e) => Err(regional_failure(
            session,
            Service::Rds,
            &region,
            Some(arn),
            "DescribeDBClusters",
            &e,
        )),
    }
}

/// Re-describes one manual DB cluster snapshot (event processor). An automated one is not
/// collected: not found as far as qrie is concerned.
pub async fn describe_cluster_snapshot(
    session: &AccountSession,
    id: &str,
) -> Result<Described, CollectionError> {
    if id.starts_with(AUTOMATED_PREFIX) {
        return Ok(Described::NotFound);
    }
    let region = session.home_region().to_owned();
    let client = client(session, &region);
    let arn = cluster_snapshot_arn(
        session.partition(),
        &region,
        &session.account.account_id,
        id,
    );
    let snapshot = match client
        .describe_db_cluster_snapshots()
        .db_cluster_snapshot_identifier(id)
        .send()
        .await
    {
        Ok(out) => out
            .db_cluster_snapshots()
            .iter()
            .find(|s| is_manual(s))
            .cloned(),
        Err(e) if error_code(&e) == Some("DBClusterSnapshotNotFoundFault") => None,
        Err(e) => {
            return Err(regional_failure(
                session,
                Service::Rds,
                &region,
                Some(arn),
                "DescribeDBClusterSnapshots",
                &e,
            ))
        }
    };
    match snapshot {
        None => Ok(Described::NotFound),
        Some(s) => cluster_snapshot_resource(session, &client, &region, &s)
            .await
            .map_err(|(_, e)| e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documentdb_clusters_are_not_rds_clusters() {
        // given an Aurora cluster, a Neptune cluster and a DocumentDB cluster
        let aurora = DbCluster::builder().engine("aurora-postgresql").build();
        let neptune = DbCluster::builder().engine("neptune").build();
        let docdb = DbCluster::builder().engine("docdb").build();
        // then only DocumentDB is left to its own service
        assert!(is_rds_cluster(&aurora));
        assert!(is_rds_cluster(&neptune));
        assert!(!is_rds_cluster(&docdb));
    }

    #[test]
    fn only_the_accounts_own_manual_cluster_snapshots_are_collected() {
        // given a manual snapshot, an automated one, and a manual one named like automated
        let snapshot = |id: &str, kind: &str| {
            DbClusterSnapshot::builder()
                .db_cluster_snapshot_identifier(id)
                .snapshot_type(kind)
                .engine("aurora-mysql")
                .build()
        };
        // then only the first is the account's manual snapshot
        assert!(is_manual(&snapshot("orders-1", "manual")));
        assert!(!is_manual(&snapshot("rds:orders-2026-12-01", "automated")));
        assert!(!is_manual(&snapshot("rds:orders-x", "manual")));
        assert!(!is_manual(&snapshot("shared-1", "shared")));
    }

    #[test]
    fn a_cluster_without_arn_gets_the_arn_of_its_partition() {
        // when the ARN of a cluster and a cluster snapshot are formed
        // then they follow the documented shapes
        assert_eq!(
            cluster_arn("aws", "eu-west-1", "111122223333", "orders"),
            "arn:aws:rds:eu-west-1:111122223333:cluster:orders"
        );
        assert_eq!(
            cluster_snapshot_arn("aws-cn", "cn-north-1", "111122223333", "orders-1"),
            "arn:aws-cn:rds:cn-north-1:111122223333:cluster-snapshot:orders-1"
        );
    }
}
