//! The registry of resource kinds: every kind qrie collects, declared once, in its service's
//! collector module, and read by everything else.
//!
//! A [`ResourceKind`] says what the kind is (its CloudFormation type and service, in its
//! [`ArnShape`]), where it lives ([`Residence`]) and how its ARN is formed in every partition,
//! the permissions collecting it needs, the schema of its normalised configuration, and how to
//! describe one resource of it. A [`ServiceEntry`] groups a service's kinds with the function that
//! lists all of them in an account. [`SERVICES`] is the one list: one line per service.
//!
//! Who reads it:
//! - the inventory ([`crate::collect::collect_service`]) and the event processor's re-describes
//!   ([`crate::collect::describe`]), which find the service's lister and the kind's describe here;
//! - the policy loader, which checks each policy's `resource_type` and condition against the kind's
//!   schema ([`crate::policy::schema::for_resource_type`]);
//! - the contract (`store::schema::contract`), which writes each service's permissions and each
//!   kind's type, ARN shape and events for the CDK app in `infra/` (the onboarding role's actions
//!   and the event rules' sources come from it);
//! - the CloudTrail extraction, whose rules point at the kinds' ARN shapes
//!   (`trail::catalog`), and the event processor, which asks the rule whether an event created its
//!   resource.
//!
//! The CloudTrail events that touch a kind are its lines in the trail catalogue
//! ([`ResourceKind::events`] reads them back), so an event is declared with the identifiers it
//! carries, in one place.
//!
//! Adding a service is written up in the README ("Adding a service"): its module under
//! `collect/`, one line in [`SERVICES`], its policies, its event rules, its tests.

use std::future::Future;
use std::pin::Pin;

use serde_json::Value;
use tokio::sync::mpsc::Sender;

use crate::arn::ArnShape;
use crate::collect::{AccountSession, Collected, CollectionError, Completeness, Described};
use crate::model::Service;
use crate::policy::schema::{Field, Schema, Type};

/// A boxed future borrowing from the call's arguments.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Lists every resource of a service in the session's account into the channel, and says which
/// regions were listed completely ([`Completeness`]).
pub type CollectFn =
    for<'a> fn(&'a AccountSession, &'a Sender<Collected>) -> BoxFuture<'a, Completeness>;

/// Describes one resource, named by its native id (bucket name, instance id; the account id for
/// a singleton), through a session whose home region is the resource's own.
pub type DescribeFn =
    for<'a> fn(&'a AccountSession, &'a str) -> BoxFuture<'a, Result<Described, CollectionError>>;

/// The resources whose stored configuration embeds part of this one, read from its fresh
/// configuration: `(resource type, native id)` of each (an IAM managed policy's users, groups
/// and roles; a group's members). The event processor re-describes them after the resource.
pub type DependentsFn = fn(&Value) -> Vec<(&'static str, String)>;

/// Where a kind's resources live, whatever their ARN says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Residence {
    /// In no region (IAM users, the password policy): stored under the account's home region.
    Global,
    /// In one region each (a bucket, though its ARN names none; an instance).
    Regional,
}

impl Residence {
    pub fn as_str(self) -> &'static str {
        match self {
            Residence::Global => "global",
            Residence::Regional => "regional",
        }
    }
}

/// One kind of resource qrie collects.
#[derive(Debug)]
pub struct ResourceKind {
    /// The type, service and ARN of the kind (shared with the CloudTrail extraction).
    pub shape: ArnShape,
    pub residence: Residence,
    /// Every API permission collecting and describing this kind uses.
    pub permissions: &'static [&'static str],
    /// The top-level fields of the normalised configuration (see [`ResourceKind::schema`]).
    pub fields: &'static [Field],
    pub describe: DescribeFn,
    /// The resources that embed this one's configuration, if any (see [`DependentsFn`]).
    pub dependents: Option<DependentsFn>,
    /// The related resources a policy of this kind may follow (`Related.<name>`): see
    /// [`Relation`].
    pub relations: &'static [Relation],
}

/// A reference from one kind's configuration to resources of another kind in the same account:
/// the resources of `target` whose value at `remote` equals a value at `local` in this one
/// (each path may pass through arrays: every value is taken). Declared once, with the kind that
/// holds the reference; the scanner, the event processor and the policy loader all read it
/// ([`crate::relate`]).
///
/// `SecurityGroupIds` ↔ `GroupId` (an instance's groups), `SubnetId` ↔ `SubnetIds` (a subnet's
/// explicitly associated route table), `Role` ↔ `Arn` (a function's execution role).
#[derive(Debug)]
pub struct Relation {
    /// The name a policy follows: `Related.<name>`.
    pub name: &'static str,
    /// The related kind's type; its configuration is the item type of `Related.<name>`.
    pub target: Type,
    /// The path, in this kind's configuration, of the referencing values (strings).
    pub local: &'static str,
    /// The path, in the target's configuration, of the values they must equal.
    pub remote: &'static str,
    /// Only targets in this resource's region (regional references: group and subnet ids).
    pub same_region: bool,
    /// Only targets whose boolean at this path is true (a VPC's main route table).
    pub only_where: Option<&'static str>,
    /// When nothing matches, the related resources are those of this relation instead (a subnet
    /// with no explicit route table uses its VPC's main table). Same name and target.
    pub otherwise: Option<&'static Relation>,
}

impl Relation {
    /// The related kind's CloudFormation type.
    pub fn target_type(&self) -> &'static str {
        match self.target {
            Type::Kind(t) => t,
            _ => unreachable!("a relation's target is a Type::Kind"),
        }
    }
}

impl ResourceKind {
    /// The CloudFormation type, e.g. `AWS::S3::Bucket`.
    pub const fn resource_type(&self) -> &'static str {
        self.shape.resource_type
    }

    /// The schema policies of this kind are checked against.
    pub const fn schema(&self) -> Schema {
        Schema {
            resource_type: self.shape.resource_type,
            fields: self.fields,
        }
    }

    /// The ARN of the resource `id` of this kind (see [`ArnShape::arn`]).
    pub fn arn(&self, partition: &str, region: &str, account_id: &str, id: &str) -> String {
        self.shape.arn(partition, region, account_id, id)
    }

    /// The CloudTrail events that touch this kind (`(eventSource, eventName)`), from the trail
    /// catalogue.
    pub fn events(&self) -> Vec<(&'static str, &'static str)> {
        crate::trail::events_touching(self.shape.resource_type)
    }
}

/// One service qrie collects: its kinds and how to list them.
#[derive(Debug)]
pub struct ServiceEntry {
    pub service: Service,
    pub kinds: &'static [&'static ResourceKind],
    pub collect: CollectFn,
}

impl ServiceEntry {
    /// Every permission the service's kinds use, each once, in declaration order.
    pub fn permissions(&self) -> Vec<&'static str> {
        let mut all: Vec<&'static str> = Vec::new();
        for kind in self.kinds {
            for p in kind.permissions {
                if !all.contains(p) {
                    all.push(p);
                }
            }
        }
        all
    }
}

/// Every service qrie collects: one line each.
pub static SERVICES: &[&ServiceEntry] = &[
    &crate::collect::s3::SERVICE,
    &crate::collect::ec2::SERVICE,
    &crate::collect::kms::SERVICE,
    &crate::collect::cloudtrail::SERVICE,
    &crate::collect::lambda::SERVICE,
    &crate::collect::rds::SERVICE,
    &crate::collect::iam::SERVICE,
    &crate::collect::vpc::SERVICE,
];

/// The entry of `service`, if qrie collects it.
pub fn service(service: Service) -> Option<&'static ServiceEntry> {
    SERVICES.iter().copied().find(|s| s.service == service)
}

/// Every registered kind, service by service.
pub fn kinds() -> impl Iterator<Item = &'static ResourceKind> {
    SERVICES.iter().flat_map(|s| s.kinds.iter().copied())
}

/// The registered kind of `resource_type` (`AWS::S3::Bucket`), if qrie collects it.
pub fn kind(resource_type: &str) -> Option<&'static ResourceKind> {
    kinds().find(|k| k.shape.resource_type == resource_type)
}

/// The relation `name` of the kind `resource_type`, if it declares one.
pub fn relation(resource_type: &str, name: &str) -> Option<&'static Relation> {
    kind(resource_type)?
        .relations
        .iter()
        .find(|r| r.name == name)
}

/// Every relation whose target is `resource_type`, with the type that declares it: who may
/// depend on a resource of that type.
pub fn relations_to(resource_type: &str) -> Vec<(&'static str, &'static Relation)> {
    let mut out = Vec::new();
    for kind in kinds() {
        for relation in kind.relations {
            let otherwise = relation.otherwise.map(Relation::target_type);
            if relation.target_type() == resource_type || otherwise == Some(resource_type) {
                out.push((kind.resource_type(), relation));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn each_service_and_each_kind_is_registered_once() {
        // given the registry
        let mut services = HashSet::new();
        let mut types = HashSet::new();
        for entry in SERVICES {
            // then no service appears twice
            assert!(services.insert(entry.service), "{} twice", entry.service);
            assert!(!entry.kinds.is_empty(), "{} has no kinds", entry.service);
            for kind in entry.kinds {
                // and no type, and each kind belongs to its service
                assert!(
                    types.insert(kind.resource_type()),
                    "{}",
                    kind.resource_type()
                );
                assert_eq!(
                    kind.shape.service,
                    entry.service,
                    "{}",
                    kind.resource_type()
                );
                // named for the service whose API and ARNs it has (VPC kinds are `AWS::EC2::*`,
                // `arn:aws:ec2:` and `ec2:` calls, kept in a qrie service of their own)
                assert_eq!(
                    Service::of_resource_type(kind.resource_type()).map(Service::as_str),
                    Some(kind.shape.arn_service),
                    "{} is named for another service",
                    kind.resource_type()
                );
            }
        }
    }

    #[test]
    fn every_kind_has_permissions_a_schema_and_events() {
        for kind in kinds() {
            // given a registered kind
            let name = kind.resource_type();
            // then it needs permissions, all of the API its ARNs name (`ec2:` for VPC kinds)
            assert!(!kind.permissions.is_empty(), "{name}");
            for p in kind.permissions {
                let prefix = format!("{}:", kind.shape.arn_service);
                assert!(p.starts_with(&prefix), "{name}: {p}");
            }
            // and its schema names it and has fields
            assert_eq!(kind.schema().resource_type, name);
            assert!(!kind.fields.is_empty(), "{name}");
            // and some event keeps it current in real time
            assert!(!kind.events().is_empty(), "{name} has no event rules");
        }
    }

    #[test]
    fn every_relation_joins_registered_kinds_on_declared_paths() {
        for kind in kinds() {
            let from = kind.schema().paths();
            let mut names = HashSet::new();
            for relation in kind.relations {
                let at = format!("{}.{}", kind.resource_type(), relation.name);
                // given a relation, then its name is unique on its kind
                assert!(names.insert(relation.name), "{at} twice");
                // and it reads a path this kind declares
                assert!(
                    from.contains(relation.local)
                        || from.contains(&relation.local.replace('.', "[].")),
                    "{at}: `{}` is not a path of {}",
                    relation.local,
                    kind.resource_type()
                );
                // and its target is registered and declares the remote path
                for r in std::iter::once(relation).chain(relation.otherwise) {
                    let paths = match crate::relate::derived_fields(r.target_type()) {
                        Some(fields) => Schema {
                            resource_type: r.target_type(),
                            fields,
                        }
                        .paths(),
                        None => super::kind(r.target_type())
                            .unwrap_or_else(|| {
                                panic!("{at}: {} is not registered", r.target_type())
                            })
                            .schema()
                            .paths(),
                    };
                    let declared = |p: &str| {
                        paths.contains(p) || paths.iter().any(|d| d.replace("[]", "") == p)
                    };
                    assert!(
                        declared(r.remote),
                        "{at}: `{}` is not a path of the target",
                        r.remote
                    );
                    if let Some(flag) = r.only_where {
                        assert!(declared(flag), "{at}: `{flag}` is not a path of the target");
                    }
                    assert_eq!(r.name, relation.name, "{at}: its fallback has another name");
                }
            }
        }
    }

    #[test]
    fn lookups_find_registered_kinds_and_only_those() {
        // given the bucket kind
        let bucket = crate::collect::s3::BUCKET.resource_type();
        // then
        assert_eq!(kind(bucket).map(|k| k.resource_type()), Some(bucket));
        assert!(kind("AWS::S3::Buckett").is_none());
        assert!(service(Service::S3).is_some());
    }
}
