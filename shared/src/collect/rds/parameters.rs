//! RDS parameter groups: the few parameters qrie's policies judge (TLS enforcement, Aurora
//! MySQL audit logging), read once per group and embedded in every DB instance or cluster that
//! uses the group, so that an instance is evaluated on its own; and the groups themselves as
//! resources of their own (`AWS::RDS::DBParameterGroup`, `AWS::RDS::DBClusterParameterGroup`),
//! the target of `ModifyDBParameterGroup` / `ModifyDBClusterParameterGroup` and the like, whose
//! dependents are the instances (clusters) that use them: a change to a group re-describes them.
//!
//! Only groups in use by a collected instance or cluster are inventoried (the account's unused
//! groups, and the dozens of `default.*` groups per region, hold nothing a policy judges).
//!
//! Embedded in an instance (from its first DB parameter group) and in a cluster (from its DB
//! cluster parameter group), and stored on the group itself:
//!
//! ```text
//! Parameters   [{Name, Value, Source}]   one entry per watched parameter:
//!              instances: rds.force_ssl, require_secure_transport
//!              clusters:  rds.force_ssl, require_secure_transport, server_audit_logging,
//!                         server_audit_events
//! ```
//!
//! `Value` is the effective value: the group's own value when RDS returns one (`Source` as RDS
//! says: `user`, `system`, `engine-default`), otherwise the engine's documented default
//! (`Source: qrie-engine-default`): `rds.force_ssl` is `1` for RDS for PostgreSQL 15 and later
//! and `0` elsewhere, `require_secure_transport` and `server_audit_logging` are `0`, and
//! `server_audit_events` is empty. AWS returns every parameter of a group's family; the
//! defaults matter where a store answers with the modified parameters only. A group whose
//! parameters cannot be read (AccessDenied, a missing group) leaves `Parameters` out and lists
//! it under `Unreadable` (operation and code), so the TLS and audit policies are not evaluated
//! for that resource rather than guessed; the resource's other policies still are. A group
//! change waiting for a reboot (`ParameterApplyStatus: pending-reboot`) is judged as the group
//! says: that is what the database runs after its next restart.
//!
//! Normalised parameter group configuration (DB and DB cluster parameter groups alike):
//!
//! ```text
//! Name, Arn, Region          string
//! Parameters                 [{Name, Value, Source}] (as above, RDS's values only) | absent
//! UsedBy                     [instance or cluster identifier]
//! ```

use std::collections::{BTreeMap, BTreeSet, HashMap};

use aws_sdk_rds::Client;
use chrono::Utc;
use serde_json::{json, Value};
use tokio::sync::mpsc::Sender;

use super::{client, DB_INSTANCE_TYPE};
use crate::arn::{ArnScope, ArnShape};
use crate::collect::{
    error_code, regional_failure, send, AccountSession, Collected, CollectionError, Described,
};
use crate::model::{Resource, Service, UnreadablePart, UNREADABLE};
use crate::policy::schema::{Field, Type, UNREADABLE_FIELD};
use crate::registry::{Residence, ResourceKind};

/// A DB parameter group: `arn:aws:rds:<region>:<account>:pg:<name>`.
pub const DB_PARAMETER_GROUP: ResourceKind = ResourceKind {
    shape: ArnShape::new(
        Service::Rds,
        "rds",
        "AWS::RDS::DBParameterGroup",
        ArnScope::Regional,
        "pg:",
    ),
    residence: Residence::Regional,
    permissions: &["rds:DescribeDBParameters"],
    fields: GROUP_FIELDS,
    describe: |session, name| Box::pin(describe_group(session, name, GroupKind::Instance)),
    dependents: Some(|c| used_by(c, DB_INSTANCE_TYPE)),
    relations: &[],
};

/// A DB cluster parameter group: `arn:aws:rds:<region>:<account>:cluster-pg:<name>`.
pub const DB_CLUSTER_PARAMETER_GROUP: ResourceKind = ResourceKind {
    shape: ArnShape::new(
        Service::Rds,
        "rds",
        "AWS::RDS::DBClusterParameterGroup",
        ArnScope::Regional,
        "cluster-pg:",
    ),
    residence: Residence::Regional,
    permissions: &["rds:DescribeDBClusterParameters"],
    fields: GROUP_FIELDS,
    describe: |session, name| Box::pin(describe_group(session, name, GroupKind::Cluster)),
    dependents: Some(|c| used_by(c, super::clusters::DB_CLUSTER_TYPE)),
    relations: &[],
};

/// The parameters of a DB parameter group that instance policies read.
pub const INSTANCE_PARAMETERS: &[&str] = &["rds.force_ssl", "require_secure_transport"];

/// The parameters of a DB cluster parameter group that cluster policies read.
pub const CLUSTER_PARAMETERS: &[&str] = &[
    "rds.force_ssl",
    "require_secure_transport",
    "server_audit_logging",
    "server_audit_events",
];

/// The `Parameters` list as the schema declares it.
pub const PARAMETERS_FIELD: Field = Field::new(
    "Parameters",
    Type::Array(&Type::Object(&[
        Field::new("Name", Type::String),
        Field::new("Value", Type::String).nullable(),
        Field::new("Source", Type::String).nullable(),
    ])),
)
.optional();

const GROUP_FIELDS: &[Field] = &[
    Field::new("Name", Type::String),
    Field::new("Arn", Type::String),
    Field::new("Region", Type::String),
    PARAMETERS_FIELD,
    Field::new("UsedBy", Type::Array(&Type::String)),
    UNREADABLE_FIELD,
];

/// Which of the two families of groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupKind {
    Instance,
    Cluster,
}

impl GroupKind {
    fn watched(self) -> &'static [&'static str] {
        match self {
            Self::Instance => INSTANCE_PARAMETERS,
            Self::Cluster => CLUSTER_PARAMETERS,
        }
    }

    fn operation(self) -> &'static str {
        match self {
            Self::Instance => "DescribeDBParameters",
            Self::Cluster => "DescribeDBClusterParameters",
        }
    }

    fn kind(self) -> &'static ResourceKind {
        match self {
            Self::Instance => &DB_PARAMETER_GROUP,
            Self::Cluster => &DB_CLUSTER_PARAMETER_GROUP,
        }
    }
}

/// A watched parameter as RDS returned it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawParameter {
    pub name: String,
    pub value: Option<String>,
    pub source: Option<String>,
}

/// What reading one group gave: its watched parameters, the group is gone, or why it could
/// not be read (operation and code, never a guess).
#[derive(Debug, Clone)]
pub enum GroupRead {
    Read(Vec<RawParameter>),
    NotFound(UnreadablePart),
    Failed(UnreadablePart),
}

/// Reads the watched parameters of group `name`, every page.
pub async fn read_group(client: &Client, kind: GroupKind, name: &str) -> GroupRead {
    let watched = kind.watched();
    let mut found = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = match kind {
            GroupKind::Instance => client
                .describe_db_parameters()
                .db_parameter_group_name(name)
                .set_marker(marker.clone())
                .send()
                .await
                .map(|out| (out.parameters().to_vec(), out.marker().map(str::to_owned)))
                .map_err(|e| {
                    let missing = error_code(&e) == Some("DBParameterGroupNotFound");
                    (missing, failure_code(&e))
                }),
            GroupKind::Cluster => client
                .describe_db_cluster_parameters()
                .db_cluster_parameter_group_name(name)
                .set_marker(marker.clone())
                .send()
                .await
                .map(|out| (out.parameters().to_vec(), out.marker().map(str::to_owned)))
                .map_err(|e| {
                    let missing = matches!(
                        error_code(&e),
                        Some("DBParameterGroupNotFound" | "DBClusterParameterGroupNotFound")
                    );
                    (missing, failure_code(&e))
                }),
        };
        let (parameters, next) = match page {
            Ok(page) => page,
            Err((missing, code)) => {
                let part = UnreadablePart {
                    path: "Parameters".into(),
                    operation: kind.operation().into(),
                    code,
                };
                return if missing {
                    GroupRead::NotFound(part)
                } else {
                    GroupRead::Failed(part)
                };
            }
        };
        for p in parameters {
            let Some(pname) = p.parameter_name() else {
                continue;
            };
            if watched.contains(&pname) {
                found.push(RawParameter {
                    name: pname.to_owned(),
                    value: p.parameter_value().map(str::to_owned),
                    source: p.source().map(str::to_owned),
                });
            }
        }
        match next {
            Some(m) if !m.is_empty() && Some(&m) != marker.as_ref() => marker = Some(m),
            _ => break,
        }
    }
    GroupRead::Read(found)
}

fn failure_code<E, R>(err: &aws_sdk_rds::error::SdkError<E, R>) -> String
where
    E: aws_sdk_rds::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    crate::collect::call_failure(err).0
}

/// The major version of an engine version string (`15.4` → 15).
fn major(version: Option<&str>) -> Option<u32> {
    version?.split('.').next()?.parse().ok()
}

/// The documented default of a watched parameter for an engine, when the group gives none.
pub fn engine_default(engine: Option<&str>, version: Option<&str>, name: &str) -> &'static str {
    match name {
        "rds.force_ssl"
            if engine == Some("postgres") && major(version).is_some_and(|m| m >= 15) =>
        {
            "1"
        }
        "server_audit_events" => "",
        _ => "0",
    }
}

/// The effective watched parameters of a group for a resource of `engine` `version`: RDS's
/// value where it gives one, the engine's default otherwise.
pub fn effective(
    kind: GroupKind,
    raw: &[RawParameter],
    engine: Option<&str>,
    version: Option<&str>,
) -> Value {
    let by_name: HashMap<&str, &RawParameter> = raw.iter().map(|p| (p.name.as_str(), p)).collect();
    Value::Array(
        kind.watched()
            .iter()
            .map(|name| match by_name.get(name) {
                Some(p) if p.value.is_some() => {
                    json!({"Name": name, "Value": p.value, "Source": p.source})
                }
                _ => json!({
                    "Name": name,
                    "Value": engine_default(engine, version, name),
                    "Source": "qrie-engine-default",
                }),
            })
            .collect(),
    )
}

/// Puts the group's effective parameters (or the reason they are unreadable) into a
/// configuration object.
pub fn embed(
    configuration: &mut Value,
    kind: GroupKind,
    read: Option<&GroupRead>,
    engine: Option<&str>,
    version: Option<&str>,
) {
    let Some(object) = configuration.as_object_mut() else {
        return;
    };
    match read {
        Some(GroupRead::Read(raw)) => {
            object.insert("Parameters".into(), effective(kind, raw, engine, version));
        }
        Some(GroupRead::NotFound(part) | GroupRead::Failed(part)) => {
            push_unreadable(object, part.clone());
        }
        // No group named at all: RDS always names one, so this is a resource being created.
        None => push_unreadable(
            object,
            UnreadablePart {
                path: "Parameters".into(),
                operation: kind.operation().into(),
                code: "NoParameterGroup".into(),
            },
        ),
    }
}

/// Adds `part` to the configuration's `Unreadable` list, keeping what is there.
pub(super) fn push_unreadable(object: &mut serde_json::Map<String, Value>, part: UnreadablePart) {
    let entry = serde_json::to_value(part).unwrap_or_else(|_| json!({"Path": ""}));
    match object.get_mut(UNREADABLE) {
        Some(Value::Array(items)) => items.push(entry),
        _ => {
            object.insert(UNREADABLE.into(), Value::Array(vec![entry]));
        }
    }
}

/// The groups read during one region's collection, each read once, with who uses it.
#[derive(Default)]
pub struct GroupCache {
    reads: HashMap<String, GroupRead>,
    used_by: BTreeMap<String, BTreeSet<String>>,
}

impl GroupCache {
    /// The read of `name` (reading it the first time), noting `user` as one of its users.
    pub async fn get(
        &mut self,
        client: &Client,
        kind: GroupKind,
        name: &str,
        user: &str,
    ) -> &GroupRead {
        self.used_by
            .entry(name.to_owned())
            .or_default()
            .insert(user.to_owned());
        if !self.reads.contains_key(name) {
            let read = read_group(client, kind, name).await;
            self.reads.insert(name.to_owned(), read);
        }
        &self.reads[name]
    }

    /// Sends one resource per group in use (a group that vanished is left out; one that could
    /// not be read is stored with its `Unreadable` part, never as a failure of its users).
    pub async fn emit(
        self,
        session: &AccountSession,
        region: &str,
        kind: GroupKind,
        out: &Sender<Collected>,
    ) {
        for (name, users) in self.used_by {
            let read = self.reads.get(&name);
            if let Some(GroupRead::NotFound(_)) = read {
                continue;
            }
            let users: Vec<String> = users.into_iter().collect();
            let resource = group_resource(session, region, kind, &name, read, users);
            send(out, Collected::Resource(Box::new(resource))).await;
        }
    }
}

fn group_resource(
    session: &AccountSession,
    region: &str,
    kind: GroupKind,
    name: &str,
    read: Option<&GroupRead>,
    users: Vec<String>,
) -> Resource {
    let account_id = &session.account.account_id;
    let arn = kind
        .kind()
        .arn(session.partition(), region, account_id, name);
    let mut configuration = json!({
        "Name": name,
        "Arn": arn,
        "Region": region,
        "UsedBy": users,
    });
    match read {
        Some(GroupRead::Read(raw)) => {
            configuration["Parameters"] = Value::Array(
                raw.iter()
                    .map(|p| json!({"Name": p.name, "Value": p.value, "Source": p.source}))
                    .collect(),
            );
        }
        Some(GroupRead::Failed(part) | GroupRead::NotFound(part)) => {
            configuration[UNREADABLE] =
                serde_json::to_value(vec![part]).unwrap_or_else(|_| json!([{"Path": ""}]));
        }
        None => {}
    }
    Resource {
        arn,
        account_id: account_id.clone(),
        service: Service::Rds,
        resource_type: kind.kind().resource_type().into(),
        region: region.to_owned(),
        configuration,
        last_seen_at: Utc::now(),
    }
}

/// The identifiers a stored group lists under `UsedBy`, as dependents of `resource_type`.
fn used_by(configuration: &Value, resource_type: &'static str) -> Vec<(&'static str, String)> {
    configuration
        .get("UsedBy")
        .and_then(Value::as_array)
        .map(|ids| {
            ids.iter()
                .filter_map(Value::as_str)
                .map(|id| (resource_type, id.to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

/// Re-describes one group (event processor): its parameters and who uses it now.
async fn describe_group(
    session: &AccountSession,
    name: &str,
    kind: GroupKind,
) -> Result<Described, CollectionError> {
    let region = session.home_region().to_owned();
    let client = client(session, &region);
    let read = read_group(&client, kind, name).await;
    if let GroupRead::NotFound(_) = read {
        return Ok(Described::NotFound);
    }
    let arn = kind.kind().arn(
        session.partition(),
        &region,
        &session.account.account_id,
        name,
    );
    let mut users = Vec::new();
    match kind {
        GroupKind::Instance => {
            let mut pages = client.describe_db_instances().into_paginator().send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| {
                    regional_failure(
                        session,
                        Service::Rds,
                        &region,
                        Some(arn.clone()),
                        "DescribeDBInstances",
                        &e,
                    )
                })?;
                for db in page.db_instances() {
                    let uses = db
                        .db_parameter_groups()
                        .first()
                        .and_then(|g| g.db_parameter_group_name())
                        == Some(name);
                    if uses {
                        users.extend(db.db_instance_identifier().map(str::to_owned));
                    }
                }
            }
        }
        GroupKind::Cluster => {
            let mut pages = client.describe_db_clusters().into_paginator().send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| {
                    regional_failure(
                        session,
                        Service::Rds,
                        &region,
                        Some(arn.clone()),
                        "DescribeDBClusters",
                        &e,
                    )
                })?;
                for c in page.db_clusters() {
                    if c.db_cluster_parameter_group() == Some(name)
                        && super::clusters::is_rds_cluster(c)
                    {
                        users.extend(c.db_cluster_identifier().map(str::to_owned));
                    }
                }
            }
        }
    }
    users.sort();
    if users.is_empty() {
        // Not in use: qrie inventories the groups in use only.
        return Ok(Described::NotFound);
    }
    Ok(Described::Found(Box::new(group_resource(
        session,
        &region,
        kind,
        name,
        Some(&read),
        users,
    ))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(name: &str, value: Option<&str>) -> RawParameter {
        RawParameter {
            name: name.into(),
            value: value.map(str::to_owned),
            source: Some("user".into()),
        }
    }

    #[test]
    fn the_groups_value_wins_and_the_engine_default_fills_the_rest() {
        let got = effective(
            GroupKind::Instance,
            &[raw("require_secure_transport", Some("ON"))],
            Some("mysql"),
            Some("8.0.35"),
        );
        assert_eq!(
            got,
            json!([
                {"Name": "rds.force_ssl", "Value": "0", "Source": "qrie-engine-default"},
                {"Name": "require_secure_transport", "Value": "ON", "Source": "user"},
            ])
        );
    }

    #[test]
    fn postgres_15_and_later_force_tls_by_default() {
        assert_eq!(
            engine_default(Some("postgres"), Some("15.4"), "rds.force_ssl"),
            "1"
        );
        assert_eq!(
            engine_default(Some("postgres"), Some("16"), "rds.force_ssl"),
            "1"
        );
        assert_eq!(
            engine_default(Some("postgres"), Some("14.9"), "rds.force_ssl"),
            "0"
        );
        assert_eq!(engine_default(Some("postgres"), None, "rds.force_ssl"), "0");
        assert_eq!(
            engine_default(Some("aurora-postgresql"), Some("15.4"), "rds.force_ssl"),
            "0"
        );
        assert_eq!(
            engine_default(Some("sqlserver-se"), Some("15.00"), "rds.force_ssl"),
            "0"
        );
    }

    #[test]
    fn a_parameter_without_a_value_takes_the_default() {
        let got = effective(
            GroupKind::Instance,
            &[raw("rds.force_ssl", None)],
            Some("postgres"),
            Some("16.1"),
        );
        assert_eq!(
            got[0],
            json!({"Name": "rds.force_ssl", "Value": "1", "Source": "qrie-engine-default"})
        );
    }

    #[test]
    fn an_unreadable_group_is_listed_not_guessed() {
        let mut c = json!({"Engine": "postgres"});
        let part = UnreadablePart {
            path: "Parameters".into(),
            operation: "DescribeDBParameters".into(),
            code: "AccessDenied".into(),
        };
        embed(
            &mut c,
            GroupKind::Instance,
            Some(&GroupRead::Failed(part)),
            Some("postgres"),
            None,
        );
        assert!(c.get("Parameters").is_none());
        assert_eq!(c[UNREADABLE][0]["Code"], "AccessDenied");
        assert_eq!(c[UNREADABLE][0]["Path"], "Parameters");
    }

    #[test]
    fn dependents_are_the_users_of_the_group() {
        let c = json!({"UsedBy": ["orders", "billing"]});
        assert_eq!(
            used_by(&c, DB_INSTANCE_TYPE),
            vec![
                (DB_INSTANCE_TYPE, "orders".to_owned()),
                (DB_INSTANCE_TYPE, "billing".to_owned())
            ]
        );
    }
}
