//! Security groups, with their rules normalised so that policies judge them exactly.
//!
//! Normalised configuration:
//!
//! ```text
//! GroupId, GroupName, Description, VpcId, OwnerId, Region
//! IsDefault               the VPC's default group (its name is `default`)
//! IngressRules, EgressRules   one entry per (permission, source):
//!   Protocol              tcp | udp | icmp | icmpv6 | -1 (every protocol) | another number
//!   FromPort, ToPort      the port range; for `-1` (and a tcp/udp rule without ports) 0 and 65535
//!   AllPorts              the rule holds every port: protocol -1, or the range 0-65535
//!   SourceType            ipv4 | ipv6 | prefix-list | security-group
//!   Source                the CIDR, prefix list id or group id (`<account>/<group>` for
//!                         another account's group)
//!   IsWorld               the source is the whole internet: an IPv4 or IPv6 CIDR of prefix
//!                         length 0 (0.0.0.0/0, ::/0); prefix lists and groups never are
//!   PrefixLength          the CIDR's prefix length | null (prefix lists, groups)
//!   IsPublic              the CIDR reaches public addresses: it is not inside a private or
//!                         reserved block (10/8, 172.16/12, 192.168/16, 100.64/10, 127/8,
//!                         169.254/16, 0/8, fc00::/7, fe80::/10, ::1/128); false for prefix lists
//!                         and groups
//!   Description           the rule's description | null
//! NetworkInterfaceCount   network interfaces using the group
//! ExposableInterfaceCount those of them that are not exempt from "open to the internet"
//!                         checks: not an API Gateway managed or VPC endpoint interface
//!                         (InterfaceType api_gateway_managed, vpc_endpoint) nor a load
//!                         balancer's (attachment InstanceOwnerId amazon-elb), as Prowler exempts
//! IngressRuleCount, EgressRuleCount   the rules as AWS counts them against the per-group quota
//!                         (one per source: the lengths of IngressRules and EgressRules)
//! ```
//!
//! So "port 22 open to the world" is one quantifier over `IngressRules`: an entry with
//! `IsWorld`, `Protocol` tcp or `-1`, `FromPort <= 22 <= ToPort`; a protocol `-1` rule meets it
//! (and every other port's check) because its range is 0-65535.

use std::collections::HashMap;

use aws_sdk_ec2::types::{Filter, IpPermission, SecurityGroup};
use chrono::Utc;
use ipnet::IpNet;
use serde_json::{json, Value};
use tokio::sync::mpsc::Sender;

use super::{client, failure, lookup, send, AccountSession, Collected, CollectionError};
use crate::arn::{ArnScope, ArnShape};
use crate::collect::Described;
use crate::model::{Resource, Service};
use crate::policy::schema::{Field, Type};
use crate::registry::{Residence, ResourceKind};

/// The ARN shape of [`SECURITY_GROUP`] (what the collector's own code forms ARNs with).
pub const SECURITY_GROUP_SHAPE: ArnShape = ArnShape::new(
    Service::Ec2,
    "ec2",
    "AWS::EC2::SecurityGroup",
    ArnScope::Regional,
    "security-group/",
);

pub const SECURITY_GROUP: ResourceKind = ResourceKind {
    shape: SECURITY_GROUP_SHAPE,
    residence: Residence::Regional,
    permissions: &[
        "ec2:DescribeRegions",
        "ec2:DescribeSecurityGroups",
        "ec2:DescribeNetworkInterfaces",
    ],
    fields: FIELDS,
    describe: |session, id| Box::pin(describe(session, id)),
    dependents: None,
    relations: &[],
};

const RULE_FIELDS: &[Field] = &[
    Field::new("Protocol", Type::String),
    Field::new("FromPort", Type::Number),
    Field::new("ToPort", Type::Number),
    Field::new("AllPorts", Type::Bool),
    Field::new("SourceType", Type::String),
    Field::new("Source", Type::String),
    Field::new("IsWorld", Type::Bool),
    Field::new("PrefixLength", Type::Number).nullable(),
    Field::new("IsPublic", Type::Bool),
    Field::new("Description", Type::String).nullable(),
];

const FIELDS: &[Field] = &[
    Field::new("GroupId", Type::String),
    Field::new("GroupName", Type::String),
    Field::new("Description", Type::String).nullable(),
    Field::new("VpcId", Type::String).nullable(),
    Field::new("OwnerId", Type::String).nullable(),
    Field::new("Region", Type::String),
    Field::new("IsDefault", Type::Bool),
    Field::new("IngressRules", Type::Array(&Type::Object(RULE_FIELDS))),
    Field::new("EgressRules", Type::Array(&Type::Object(RULE_FIELDS))),
    Field::new("IngressRuleCount", Type::Number),
    Field::new("EgressRuleCount", Type::Number),
    Field::new("NetworkInterfaceCount", Type::Number),
    Field::new("ExposableInterfaceCount", Type::Number),
];

/// The ARN of security group `id`.
pub fn arn(session: &AccountSession, region: &str, id: &str) -> String {
    SECURITY_GROUP_SHAPE.arn(session.partition(), region, &session.account.account_id, id)
}

/// The protocol as qrie writes it: the names AWS uses for tcp, udp, icmp and icmpv6 (whether
/// the rule was written with the name or the number), `-1` for every protocol.
pub(crate) fn protocol(raw: &str) -> String {
    match raw.to_ascii_lowercase().as_str() {
        "6" | "tcp" => "tcp".into(),
        "17" | "udp" => "udp".into(),
        "1" | "icmp" => "icmp".into(),
        "58" | "icmpv6" => "icmpv6".into(),
        "-1" | "all" => "-1".into(),
        other => other.to_owned(),
    }
}

/// The port range a permission holds: all of 0-65535 for protocol `-1`, and for tcp/udp when
/// AWS reports no ports; the reported range otherwise (icmp: type and code).
fn ports(proto: &str, from: Option<i32>, to: Option<i32>) -> (i64, i64) {
    match (proto, from, to) {
        ("-1", _, _) => (0, 65535),
        ("tcp" | "udp", None, None) | ("tcp" | "udp", Some(-1), Some(-1)) => (0, 65535),
        (_, from, to) => {
            let from = i64::from(from.unwrap_or(-1));
            (from, to.map(i64::from).unwrap_or(from))
        }
    }
}

/// True when `cidr` is the whole IPv4 or IPv6 internet (prefix length 0).
pub fn is_world(cidr: &str) -> bool {
    cidr.trim()
        .parse::<IpNet>()
        .is_ok_and(|net| net.prefix_len() == 0)
}

/// The blocks that hold no public address (RFC 1918, shared, loopback, link-local, "this
/// network", IPv6 unique-local, link-local and loopback).
const NON_PUBLIC: &[&str] = &[
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "0.0.0.0/8",
    "fc00::/7",
    "fe80::/10",
    "::1/128",
];

/// The prefix length of `cidr` and whether it reaches public addresses (it is not inside a
/// non-public block); `(None, false)` for text that is not a CIDR.
pub fn cidr_reach(cidr: &str) -> (Option<u8>, bool) {
    let Ok(net) = cidr.trim().parse::<IpNet>() else {
        return (None, false);
    };
    let private = NON_PUBLIC
        .iter()
        .any(|block| block.parse::<IpNet>().is_ok_and(|b| b.contains(&net)));
    (Some(net.prefix_len()), !private)
}

/// One entry per source of each permission.
pub fn normalise_rules(permissions: &[IpPermission]) -> Vec<Value> {
    let mut rules = Vec::new();
    for p in permissions {
        let proto = protocol(p.ip_protocol().unwrap_or("-1"));
        let (from, to) = ports(&proto, p.from_port(), p.to_port());
        let all_ports = proto == "-1" || (from == 0 && to == 65535);
        let mut push = |kind: &str, source: String, world: bool, description: Option<&str>| {
            let (prefix, public) = match kind {
                "ipv4" | "ipv6" => cidr_reach(&source),
                _ => (None, false),
            };
            rules.push(json!({
                "Protocol": proto,
                "FromPort": from,
                "ToPort": to,
                "AllPorts": all_ports,
                "SourceType": kind,
                "Source": source,
                "IsWorld": world,
                "PrefixLength": prefix,
                "IsPublic": public,
                "Description": description,
            }));
        };
        for r in p.ip_ranges() {
            let cidr = r.cidr_ip().unwrap_or_default();
            push("ipv4", cidr.to_owned(), is_world(cidr), r.description());
        }
        for r in p.ipv6_ranges() {
            let cidr = r.cidr_ipv6().unwrap_or_default();
            push("ipv6", cidr.to_owned(), is_world(cidr), r.description());
        }
        for r in p.prefix_list_ids() {
            let id = r.prefix_list_id().unwrap_or_default();
            push("prefix-list", id.to_owned(), false, r.description());
        }
        for r in p.user_id_group_pairs() {
            let group = r.group_id().or(r.group_name()).unwrap_or_default();
            let source = match r.user_id() {
                Some(user) if !user.is_empty() => format!("{user}/{group}"),
                _ => group.to_owned(),
            };
            push("security-group", source, false, r.description());
        }
    }
    rules
}

fn resource(
    session: &AccountSession,
    region: &str,
    group: &SecurityGroup,
    interfaces: Usage,
) -> Option<Resource> {
    let id = group.group_id()?;
    let name = group.group_name().unwrap_or_default();
    let ingress = normalise_rules(group.ip_permissions());
    let egress = normalise_rules(group.ip_permissions_egress());
    Some(Resource {
        arn: arn(session, region, id),
        account_id: session.account.account_id.clone(),
        service: Service::Ec2,
        resource_type: SECURITY_GROUP_SHAPE.resource_type.into(),
        region: region.to_owned(),
        configuration: json!({
            "GroupId": id,
            "GroupName": name,
            "Description": group.description(),
            "VpcId": group.vpc_id(),
            "OwnerId": group.owner_id(),
            "Region": region,
            "IsDefault": name == "default",
            "IngressRuleCount": ingress.len(),
            "EgressRuleCount": egress.len(),
            "IngressRules": ingress,
            "EgressRules": egress,
            "NetworkInterfaceCount": interfaces.interfaces,
            "ExposableInterfaceCount": interfaces.exposable,
        }),
        last_seen_at: Utc::now(),
    })
}

/// The network interfaces that use one group.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Usage {
    /// Every interface using the group.
    interfaces: usize,
    /// Those not exempt from the "open to the internet" checks ([`is_exempt`]).
    exposable: usize,
}

/// Interfaces that AWS services manage behind their own front door: API Gateway and VPC
/// endpoint interfaces, and load balancers' (owned by `amazon-elb`).
fn is_exempt(interface: &aws_sdk_ec2::types::NetworkInterface) -> bool {
    let kind = interface.interface_type().map(|t| t.as_str());
    matches!(kind, Some("api_gateway_managed" | "vpc_endpoint"))
        || interface
            .attachment()
            .and_then(|a| a.instance_owner_id())
            .is_some_and(|o| o == "amazon-elb")
}

/// How many network interfaces use each group, over the whole region (or one group).
async fn interface_counts(
    session: &AccountSession,
    ec2: &aws_sdk_ec2::Client,
    region: &str,
    group: Option<&str>,
) -> Result<HashMap<String, Usage>, CollectionError> {
    let mut request = ec2.describe_network_interfaces();
    if let Some(group) = group {
        request = request.filters(Filter::builder().name("group-id").values(group).build());
    }
    let mut pages = request.into_paginator().send();
    let mut counts = HashMap::new();
    while let Some(page) = pages.next().await {
        let page =
            page.map_err(|e| failure(session, region, None, "DescribeNetworkInterfaces", &e))?;
        for interface in page.network_interfaces() {
            let exempt = is_exempt(interface);
            for g in interface.groups() {
                if let Some(id) = g.group_id() {
                    let usage: &mut Usage = counts.entry(id.to_owned()).or_default();
                    usage.interfaces += 1;
                    if !exempt {
                        usage.exposable += 1;
                    }
                }
            }
        }
    }
    Ok(counts)
}

/// Lists every security group of `region`.
pub(crate) async fn collect(
    session: &AccountSession,
    ec2: &aws_sdk_ec2::Client,
    region: &str,
    out: &Sender<Collected>,
) -> Result<(), CollectionError> {
    let counts = interface_counts(session, ec2, region, None).await?;
    let mut pages = ec2.describe_security_groups().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page =
            page.map_err(|e| failure(session, region, None, "DescribeSecurityGroups", &e))?;
        for group in page.security_groups() {
            let used = group
                .group_id()
                .and_then(|id| counts.get(id).copied())
                .unwrap_or_default();
            if let Some(r) = resource(session, region, group, used) {
                send(out, Collected::Resource(Box::new(r))).await;
            }
        }
    }
    Ok(())
}

/// Re-describes one group in the session's home region.
pub async fn describe(session: &AccountSession, id: &str) -> Result<Described, CollectionError> {
    let region = session.home_region().to_owned();
    let ec2 = client(session, &region);
    let answer = ec2
        .describe_security_groups()
        .group_ids(id)
        .send()
        .await
        .map(|out| {
            out.security_groups
                .unwrap_or_default()
                .into_iter()
                .find(|g| g.group_id() == Some(id))
        });
    let found = lookup(
        session,
        &SECURITY_GROUP_SHAPE,
        &region,
        id,
        "DescribeSecurityGroups",
        answer,
    )?;
    let Some(group) = found else {
        return Ok(Described::NotFound);
    };
    let counts = interface_counts(session, &ec2, &region, Some(id)).await?;
    let used = counts.get(id).copied().unwrap_or_default();
    Ok(resource(session, &region, &group, used)
        .map(|r| Described::Found(Box::new(r)))
        .unwrap_or(Described::NotFound))
}

#[cfg(test)]
mod tests {
    use aws_sdk_ec2::types::{IpRange, Ipv6Range, PrefixListId, UserIdGroupPair};

    use super::*;

    fn permission(proto: &str, from: Option<i32>, to: Option<i32>) -> IpPermission {
        let mut p = IpPermission::builder().ip_protocol(proto);
        if let Some(f) = from {
            p = p.from_port(f);
        }
        if let Some(t) = to {
            p = p.to_port(t);
        }
        p.ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
            .build()
    }

    #[test]
    fn protocol_minus_one_holds_every_port_from_the_world() {
        // given an all-traffic rule from 0.0.0.0/0
        let rules = normalise_rules(&[permission("-1", None, None)]);
        // then it is one world entry spanning 0-65535
        assert_eq!(rules.len(), 1);
        assert_eq!(rules[0]["Protocol"], "-1");
        assert_eq!(
            (rules[0]["FromPort"].as_i64(), rules[0]["ToPort"].as_i64()),
            (Some(0), Some(65535))
        );
        assert_eq!(rules[0]["AllPorts"], true);
        assert_eq!(rules[0]["IsWorld"], true);
    }

    #[test]
    fn numbered_protocols_are_named_and_ranges_kept() {
        // given tcp written as 6 over 20-25, and icmp type 8
        let rules = normalise_rules(&[
            permission("6", Some(20), Some(25)),
            permission("icmp", Some(8), Some(-1)),
        ]);
        // then
        assert_eq!(rules[0]["Protocol"], "tcp");
        assert_eq!(
            (rules[0]["FromPort"].as_i64(), rules[0]["ToPort"].as_i64()),
            (Some(20), Some(25))
        );
        assert_eq!(rules[0]["AllPorts"], false);
        assert_eq!(rules[1]["Protocol"], "icmp");
        assert_eq!(rules[1]["AllPorts"], false);
    }

    #[test]
    fn only_prefix_length_zero_is_the_world() {
        // given every kind of source
        let p = IpPermission::builder()
            .ip_protocol("tcp")
            .from_port(22)
            .to_port(22)
            .ip_ranges(IpRange::builder().cidr_ip("10.0.0.0/8").build())
            .ipv6_ranges(Ipv6Range::builder().cidr_ipv6("::/0").build())
            .prefix_list_ids(PrefixListId::builder().prefix_list_id("pl-123").build())
            .user_id_group_pairs(
                UserIdGroupPair::builder()
                    .group_id("sg-1")
                    .user_id("222233334444")
                    .build(),
            )
            .build();
        // when
        let rules = normalise_rules(&[p]);
        // then ::/0 is the world; a private range, a prefix list and a group are not
        let world: Vec<(&str, bool)> = rules
            .iter()
            .map(|r| {
                (
                    r["SourceType"].as_str().unwrap(),
                    r["IsWorld"].as_bool().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            world,
            [
                ("ipv4", false),
                ("ipv6", true),
                ("prefix-list", false),
                ("security-group", false)
            ]
        );
        assert_eq!(rules[3]["Source"], "222233334444/sg-1");
        assert!(is_world("0.0.0.0/0") && !is_world("0.0.0.0/1") && !is_world("junk"));
    }

    #[test]
    fn public_reach_and_prefix_length_are_read_from_the_cidr() {
        // given private, public, world and malformed sources
        // then only ranges outside the private and reserved blocks are public
        assert_eq!(cidr_reach("10.1.0.0/16"), (Some(16), false));
        assert_eq!(cidr_reach("192.168.1.7/32"), (Some(32), false));
        assert_eq!(cidr_reach("203.0.113.0/24"), (Some(24), true));
        assert_eq!(cidr_reach("52.0.0.0/8"), (Some(8), true));
        assert_eq!(cidr_reach("0.0.0.0/0"), (Some(0), true));
        assert_eq!(cidr_reach("2001:db8::/32"), (Some(32), true));
        assert_eq!(cidr_reach("fd00::/8"), (Some(8), false));
        assert_eq!(cidr_reach("junk"), (None, false));
        // and a rule carries them
        let rules = normalise_rules(&[permission("tcp", Some(22), Some(22))]);
        assert_eq!(rules[0]["PrefixLength"], 0);
        assert_eq!(rules[0]["IsPublic"], true);
    }
}
