//! Network ACLs and Elastic IPs (subnets are the VPC service's: `collect::vpc::subnets`).
//!
//! Normalised configurations:
//!
//! ```text
//! NetworkAcl  NetworkAclId, Region, VpcId, IsDefault, OwnerId, SubnetIds [subnet id]
//!             Entries [{RuleNumber, Egress, Protocol, RuleAction, Source, IsWorld, FromPort,
//!                       ToPort}] in rule-number order (Protocol named as for security groups;
//!                       ports 0-65535 when the entry names none)
//!             WorldIngress {Tcp22, Tcp3389, AllTraffic}: whether traffic from 0.0.0.0/0 or ::/0
//!                       is allowed in, judged as AWS does, by the first entry in rule-number
//!                       order whose source is the whole internet and that matches the traffic
//! EIP         AllocationId, Region, PublicIp, Domain, AssociationId | null, InstanceId | null,
//!             NetworkInterfaceId | null
//! ```

use aws_sdk_ec2::types::{Address, NetworkAcl};
use serde_json::{json, Value};
use tokio::sync::mpsc::Sender;

use super::security_groups::{is_world, protocol};
use super::{
    client, described, failure, resource, send, AccountSession, Collected, CollectionError,
};
use crate::arn::{ArnScope, ArnShape};
use crate::collect::Described;
use crate::model::Service;
use crate::policy::schema::{Field, Type};
use crate::registry::{Residence, ResourceKind};

/// The ARN shape of [`NETWORK_ACL`] (what the collector's own code forms ARNs with).
pub const NETWORK_ACL_SHAPE: ArnShape = ArnShape::new(
    Service::Ec2,
    "ec2",
    "AWS::EC2::NetworkAcl",
    ArnScope::Regional,
    "network-acl/",
);

pub const NETWORK_ACL: ResourceKind = ResourceKind {
    shape: NETWORK_ACL_SHAPE,
    residence: Residence::Regional,
    permissions: &["ec2:DescribeRegions", "ec2:DescribeNetworkAcls"],
    fields: ACL_FIELDS,
    describe: |session, id| Box::pin(describe_network_acl(session, id)),
    dependents: None,
    relations: &[],
};

/// The ARN shape of [`ELASTIC_IP`] (what the collector's own code forms ARNs with).
pub const ELASTIC_IP_SHAPE: ArnShape = ArnShape::new(
    Service::Ec2,
    "ec2",
    "AWS::EC2::EIP",
    ArnScope::Regional,
    "elastic-ip/",
);

pub const ELASTIC_IP: ResourceKind = ResourceKind {
    shape: ELASTIC_IP_SHAPE,
    residence: Residence::Regional,
    permissions: &["ec2:DescribeRegions", "ec2:DescribeAddresses"],
    fields: EIP_FIELDS,
    describe: |session, id| Box::pin(describe_address(session, id)),
    dependents: None,
    relations: &[],
};

const ACL_FIELDS: &[Field] = &[
    Field::new("NetworkAclId", Type::String),
    Field::new("Region", Type::String),
    Field::new("VpcId", Type::String).nullable(),
    Field::new("IsDefault", Type::Bool),
    Field::new("OwnerId", Type::String).nullable(),
    Field::new("SubnetIds", Type::Array(&Type::String)),
    Field::new(
        "Entries",
        Type::Array(&Type::Object(&[
            Field::new("RuleNumber", Type::Number),
            Field::new("Egress", Type::Bool),
            Field::new("Protocol", Type::String),
            Field::new("RuleAction", Type::String),
            Field::new("Source", Type::String),
            Field::new("IsWorld", Type::Bool),
            Field::new("FromPort", Type::Number),
            Field::new("ToPort", Type::Number),
        ])),
    ),
    Field::new(
        "WorldIngress",
        Type::Object(&[
            Field::new("Tcp22", Type::Bool),
            Field::new("Tcp3389", Type::Bool),
            Field::new("AllTraffic", Type::Bool),
        ]),
    ),
];

const EIP_FIELDS: &[Field] = &[
    Field::new("AllocationId", Type::String),
    Field::new("Region", Type::String),
    Field::new("PublicIp", Type::String).nullable(),
    Field::new("Domain", Type::String).nullable(),
    Field::new("AssociationId", Type::String).nullable(),
    Field::new("InstanceId", Type::String).nullable(),
    Field::new("NetworkInterfaceId", Type::String).nullable(),
];

/// One normalised ACL entry.
struct Entry {
    number: i64,
    egress: bool,
    protocol: String,
    allow: bool,
    world: bool,
    from: i64,
    to: i64,
    value: Value,
}

fn entries(acl: &NetworkAcl) -> Vec<Entry> {
    let mut out: Vec<Entry> = acl
        .entries()
        .iter()
        .map(|e| {
            let proto = protocol(e.protocol().unwrap_or("-1"));
            let (from, to) = match (proto.as_str(), e.port_range()) {
                ("-1", _) | (_, None) => (0, 65535),
                (_, Some(r)) => (
                    i64::from(r.from().unwrap_or(0)),
                    i64::from(r.to().unwrap_or(65535)),
                ),
            };
            let source = e.cidr_block().or(e.ipv6_cidr_block()).unwrap_or_default();
            let action = e.rule_action().map(|a| a.as_str()).unwrap_or("deny");
            let number = i64::from(e.rule_number().unwrap_or(32767));
            let egress = e.egress().unwrap_or(false);
            Entry {
                number,
                egress,
                allow: action == "allow",
                world: is_world(source),
                from,
                to,
                value: json!({
                    "RuleNumber": number,
                    "Egress": egress,
                    "Protocol": proto,
                    "RuleAction": action,
                    "Source": source,
                    "IsWorld": is_world(source),
                    "FromPort": from,
                    "ToPort": to,
                }),
                protocol: proto,
            }
        })
        .collect();
    out.sort_by_key(|e| (e.egress, e.number));
    out
}

/// Whether traffic of `proto` on `port` (`None`: every protocol and port) from the whole
/// internet is let in: the first ingress entry from a `/0` source that matches decides.
fn world_allowed(entries: &[Entry], proto: &str, port: Option<i64>) -> bool {
    entries
        .iter()
        .filter(|e| !e.egress && e.world)
        .find(|e| match port {
            None => e.protocol == "-1",
            Some(p) => (e.protocol == "-1" || e.protocol == proto) && e.from <= p && p <= e.to,
        })
        .is_some_and(|e| e.allow)
}

fn acl_configuration(region: &str, acl: &NetworkAcl) -> Value {
    let entries = entries(acl);
    let subnets: Vec<&str> = acl
        .associations()
        .iter()
        .filter_map(|a| a.subnet_id())
        .collect();
    json!({
        "NetworkAclId": acl.network_acl_id(),
        "Region": region,
        "VpcId": acl.vpc_id(),
        "IsDefault": acl.is_default().unwrap_or(false),
        "OwnerId": acl.owner_id(),
        "SubnetIds": subnets,
        "WorldIngress": {
            "Tcp22": world_allowed(&entries, "tcp", Some(22)),
            "Tcp3389": world_allowed(&entries, "tcp", Some(3389)),
            "AllTraffic": world_allowed(&entries, "-1", None),
        },
        "Entries": entries.into_iter().map(|e| e.value).collect::<Vec<_>>(),
    })
}

fn address_configuration(region: &str, a: &Address) -> Value {
    json!({
        "AllocationId": a.allocation_id(),
        "Region": region,
        "PublicIp": a.public_ip(),
        "Domain": a.domain().map(|d| d.as_str()),
        "AssociationId": a.association_id(),
        "InstanceId": a.instance_id().filter(|i| !i.is_empty()),
        "NetworkInterfaceId": a.network_interface_id(),
    })
}

/// Lists the region's network ACLs and Elastic IPs.
pub(crate) async fn collect(
    session: &AccountSession,
    ec2: &aws_sdk_ec2::Client,
    region: &str,
    out: &Sender<Collected>,
) -> Result<(), CollectionError> {
    let mut pages = ec2.describe_network_acls().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| failure(session, region, None, "DescribeNetworkAcls", &e))?;
        for acl in page.network_acls() {
            let Some(id) = acl.network_acl_id() else {
                continue;
            };
            let r = resource(
                session,
                &NETWORK_ACL_SHAPE,
                region,
                id,
                acl_configuration(region, acl),
            );
            send(out, Collected::Resource(Box::new(r))).await;
        }
    }
    // DescribeAddresses has no pagination: one answer holds every address of the region.
    let addresses = ec2
        .describe_addresses()
        .send()
        .await
        .map_err(|e| failure(session, region, None, "DescribeAddresses", &e))?;
    for a in addresses.addresses() {
        let Some(id) = a.allocation_id() else {
            continue;
        };
        let r = resource(
            session,
            &ELASTIC_IP_SHAPE,
            region,
            id,
            address_configuration(region, a),
        );
        send(out, Collected::Resource(Box::new(r))).await;
    }
    Ok(())
}

pub async fn describe_network_acl(
    session: &AccountSession,
    id: &str,
) -> Result<Described, CollectionError> {
    let region = session.home_region().to_owned();
    let answer = client(session, &region)
        .describe_network_acls()
        .network_acl_ids(id)
        .send()
        .await
        .map(|out| {
            out.network_acls()
                .iter()
                .find(|a| a.network_acl_id() == Some(id))
                .map(|a| acl_configuration(&region, a))
        });
    described(
        session,
        &NETWORK_ACL_SHAPE,
        &region,
        id,
        "DescribeNetworkAcls",
        answer,
    )
}

pub async fn describe_address(
    session: &AccountSession,
    id: &str,
) -> Result<Described, CollectionError> {
    let region = session.home_region().to_owned();
    let answer = client(session, &region)
        .describe_addresses()
        .allocation_ids(id)
        .send()
        .await
        .map(|out| {
            out.addresses()
                .iter()
                .find(|a| a.allocation_id() == Some(id))
                .map(|a| address_configuration(&region, a))
        });
    described(
        session,
        &ELASTIC_IP_SHAPE,
        &region,
        id,
        "DescribeAddresses",
        answer,
    )
}

#[cfg(test)]
mod tests {
    use aws_sdk_ec2::types::{NetworkAclEntry, PortRange, RuleAction};

    use super::*;

    fn entry(
        number: i32,
        proto: &str,
        ports: Option<(i32, i32)>,
        cidr: &str,
        allow: bool,
    ) -> NetworkAclEntry {
        let mut e = NetworkAclEntry::builder()
            .rule_number(number)
            .protocol(proto)
            .egress(false)
            .rule_action(if allow {
                RuleAction::Allow
            } else {
                RuleAction::Deny
            });
        if let Some((from, to)) = ports {
            e = e.port_range(PortRange::builder().from(from).to(to).build());
        }
        if cidr.contains(':') {
            e.ipv6_cidr_block(cidr).build()
        } else {
            e.cidr_block(cidr).build()
        }
    }

    fn judged(list: Vec<NetworkAclEntry>) -> Value {
        acl_configuration(
            "us-east-1",
            &NetworkAcl::builder()
                .network_acl_id("acl-1")
                .set_entries(Some(list))
                .build(),
        )["WorldIngress"]
            .clone()
    }

    #[test]
    fn the_first_world_entry_in_rule_order_decides() {
        // given the default ACL: allow all (100), deny all (*)
        let open = judged(vec![
            entry(32767, "-1", None, "0.0.0.0/0", false),
            entry(100, "-1", None, "0.0.0.0/0", true),
        ]);
        // then every port is open to the world
        assert_eq!(
            open,
            json!({"Tcp22": true, "Tcp3389": true, "AllTraffic": true})
        );
        // given a deny of TCP 22 from ::/0 at 90 before an allow of 0-1024 from ::/0 at 100
        let guarded = judged(vec![
            entry(100, "6", Some((0, 1024)), "::/0", true),
            entry(90, "6", Some((22, 22)), "::/0", false),
        ]);
        // then 22 is closed and nothing else in the range is judged open by the 22 check
        assert_eq!(
            guarded,
            json!({"Tcp22": false, "Tcp3389": false, "AllTraffic": false})
        );
        // given an allow of TCP 3389 from a private range only
        let private = judged(vec![entry(
            100,
            "6",
            Some((3389, 3389)),
            "10.0.0.0/8",
            true,
        )]);
        assert_eq!(private["Tcp3389"], false);
    }
}
