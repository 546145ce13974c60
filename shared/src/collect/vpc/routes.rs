//! Route tables and internet gateways: what makes a subnet public, and where a VPC's traffic to
//! the internet or to a peer goes.
//!
//! Normalised configurations:
//!
//! ```text
//! RouteTable        RouteTableId, Region, VpcId, OwnerId,
//!                   Main        whether it is its VPC's main table (the table of every subnet
//!                               with no explicit association)
//!                   SubnetIds   [subnet id] explicitly associated, sorted
//!                   GatewayIds  [gateway id] of edge associations (an IGW or VGW), sorted
//!                   Routes      [{Destination, DestinationType, IsWorld, TargetKind, TargetId,
//!                                 State, Origin}] in the order EC2 answers
//!                   DefaultRoutes {Ipv4, Ipv6}: the route to 0.0.0.0/0 and to ::/0 as
//!                               {TargetKind, TargetId, State}, or null when there is none
//!                   RoutesToInternetGateway   some active route targets an internet gateway
//! InternetGateway   InternetGatewayId, Region, OwnerId, Attachments [{VpcId, State}],
//!                   AttachedVpcIds [vpc id] of attachments `available` or `attached`
//! ```
//!
//! `DestinationType` is `ipv4`, `ipv6` or `prefix-list`; `IsWorld` holds for `0.0.0.0/0` and
//! `::/0`. `TargetKind` is one of `Local`, `InternetGateway`, `EgressOnlyInternetGateway`,
//! `NatGateway`, `VpcPeeringConnection`, `TransitGateway`, `VirtualPrivateGateway`,
//! `GatewayEndpoint`, `Instance`, `NetworkInterface`, `CarrierGateway`, `LocalGateway`,
//! `CoreNetwork` or `Other` (a target EC2 added after this list), and `TargetId` the target's id
//! (or ARN for a core network). `State` is `active` or `blackhole` (the target is gone: the route
//! carries nothing).

use aws_sdk_ec2::types::{Filter, InternetGateway, Route, RouteTable};
use serde_json::{json, Value};
use tokio::sync::mpsc::Sender;

use super::{client, described, failure, is_world, send_resource, AccountSession, CollectionError};
use crate::arn::{ArnScope, ArnShape};
use crate::collect::{Collected, Described};
use crate::model::Service;
use crate::policy::schema::{Field, Type};
use crate::registry::{Residence, ResourceKind};

/// The ARN shape of [`ROUTE_TABLE`] (what the collector's own code forms ARNs with).
pub const ROUTE_TABLE_SHAPE: ArnShape = ArnShape::new(
    Service::Vpc,
    "ec2",
    "AWS::EC2::RouteTable",
    ArnScope::Regional,
    "route-table/",
);

pub const ROUTE_TABLE: ResourceKind = ResourceKind {
    shape: ROUTE_TABLE_SHAPE,
    residence: Residence::Regional,
    permissions: &["ec2:DescribeRegions", "ec2:DescribeRouteTables"],
    fields: ROUTE_TABLE_FIELDS,
    describe: |session, id| Box::pin(describe_route_table(session, id)),
    dependents: Some(route_table_dependents),
    relations: &[],
};

/// The ARN shape of [`INTERNET_GATEWAY`] (what the collector's own code forms ARNs with).
pub const INTERNET_GATEWAY_SHAPE: ArnShape = ArnShape::new(
    Service::Vpc,
    "ec2",
    "AWS::EC2::InternetGateway",
    ArnScope::Regional,
    "internet-gateway/",
);

pub const INTERNET_GATEWAY: ResourceKind = ResourceKind {
    shape: INTERNET_GATEWAY_SHAPE,
    residence: Residence::Regional,
    permissions: &["ec2:DescribeRegions", "ec2:DescribeInternetGateways"],
    fields: IGW_FIELDS,
    describe: |session, id| Box::pin(describe_internet_gateway(session, id)),
    dependents: None,
    relations: &[],
};

const TARGET: &[Field] = &[
    Field::new("TargetKind", Type::String),
    Field::new("TargetId", Type::String).nullable(),
    Field::new("State", Type::String).nullable(),
];

const ROUTE_TABLE_FIELDS: &[Field] = &[
    Field::new("RouteTableId", Type::String),
    Field::new("Region", Type::String),
    Field::new("VpcId", Type::String).nullable(),
    Field::new("OwnerId", Type::String).nullable(),
    Field::new("Main", Type::Bool),
    Field::new("SubnetIds", Type::Array(&Type::String)),
    Field::new("GatewayIds", Type::Array(&Type::String)),
    Field::new(
        "Routes",
        Type::Array(&Type::Object(&[
            Field::new("Destination", Type::String).nullable(),
            Field::new("DestinationType", Type::String),
            Field::new("IsWorld", Type::Bool),
            Field::new("TargetKind", Type::String),
            Field::new("TargetId", Type::String).nullable(),
            Field::new("State", Type::String).nullable(),
            Field::new("Origin", Type::String).nullable(),
        ])),
    ),
    Field::new(
        "DefaultRoutes",
        Type::Object(&[
            Field::new("Ipv4", Type::Object(TARGET)).nullable(),
            Field::new("Ipv6", Type::Object(TARGET)).nullable(),
        ]),
    ),
    Field::new("RoutesToInternetGateway", Type::Bool),
];

const IGW_FIELDS: &[Field] = &[
    Field::new("InternetGatewayId", Type::String),
    Field::new("Region", Type::String),
    Field::new("OwnerId", Type::String).nullable(),
    Field::new(
        "Attachments",
        Type::Array(&Type::Object(&[
            Field::new("VpcId", Type::String).nullable(),
            Field::new("State", Type::String).nullable(),
        ])),
    ),
    Field::new("AttachedVpcIds", Type::Array(&Type::String)),
];

/// What a route sends its traffic to: `(TargetKind, TargetId)`.
pub(crate) fn target(route: &Route) -> (&'static str, Option<&str>) {
    let by_field = [
        ("NatGateway", route.nat_gateway_id()),
        ("VpcPeeringConnection", route.vpc_peering_connection_id()),
        ("TransitGateway", route.transit_gateway_id()),
        (
            "EgressOnlyInternetGateway",
            route.egress_only_internet_gateway_id(),
        ),
        ("CarrierGateway", route.carrier_gateway_id()),
        ("LocalGateway", route.local_gateway_id()),
        ("CoreNetwork", route.core_network_arn()),
        ("Instance", route.instance_id()),
    ];
    if let Some((kind, id)) = by_field
        .into_iter()
        .find(|(_, id)| id.is_some_and(|i| !i.is_empty()))
    {
        return (kind, id);
    }
    if let Some(gateway) = route.gateway_id().filter(|g| !g.is_empty()) {
        let kind = match gateway {
            "local" => "Local",
            g if g.starts_with("igw-") => "InternetGateway",
            g if g.starts_with("vgw-") => "VirtualPrivateGateway",
            g if g.starts_with("vpce-") => "GatewayEndpoint",
            _ => "Other",
        };
        return (kind, Some(gateway));
    }
    match route.network_interface_id().filter(|i| !i.is_empty()) {
        Some(eni) => ("NetworkInterface", Some(eni)),
        None => ("Other", None),
    }
}

/// A route's destination and its type (`ipv4`, `ipv6`, `prefix-list`).
pub(crate) fn destination(route: &Route) -> (Option<&str>, &'static str) {
    if let Some(v4) = route.destination_cidr_block() {
        (Some(v4), "ipv4")
    } else if let Some(v6) = route.destination_ipv6_cidr_block() {
        (Some(v6), "ipv6")
    } else {
        (route.destination_prefix_list_id(), "prefix-list")
    }
}

/// True when the route carries traffic (its target exists).
pub(crate) fn is_active(route: &Route) -> bool {
    route.state().map(|s| s.as_str()) != Some("blackhole")
}

fn route_value(route: &Route) -> Value {
    let (dest, dest_type) = destination(route);
    let (kind, id) = target(route);
    json!({
        "Destination": dest,
        "DestinationType": dest_type,
        "IsWorld": dest.is_some_and(is_world),
        "TargetKind": kind,
        "TargetId": id,
        "State": route.state().map(|s| s.as_str()),
        "Origin": route.origin().map(|o| o.as_str()),
    })
}

fn default_route(table: &RouteTable, world: &str) -> Value {
    table
        .routes()
        .iter()
        .find(|r| destination(r).0 == Some(world))
        .map(|r| {
            let (kind, id) = target(r);
            json!({"TargetKind": kind, "TargetId": id, "State": r.state().map(|s| s.as_str())})
        })
        .unwrap_or(Value::Null)
}

fn is_main(table: &RouteTable) -> bool {
    table.associations().iter().any(|a| a.main() == Some(true))
}

fn routes_to_internet_gateway(table: &RouteTable) -> bool {
    table
        .routes()
        .iter()
        .any(|r| is_active(r) && target(r).0 == "InternetGateway")
}

fn route_table_configuration(region: &str, table: &RouteTable) -> Value {
    let mut subnets: Vec<&str> = table
        .associations()
        .iter()
        .filter_map(|a| a.subnet_id())
        .collect();
    subnets.sort_unstable();
    let mut gateways: Vec<&str> = table
        .associations()
        .iter()
        .filter_map(|a| a.gateway_id())
        .collect();
    gateways.sort_unstable();
    json!({
        "RouteTableId": table.route_table_id(),
        "Region": region,
        "VpcId": table.vpc_id(),
        "OwnerId": table.owner_id(),
        "Main": is_main(table),
        "SubnetIds": subnets,
        "GatewayIds": gateways,
        "Routes": table.routes().iter().map(route_value).collect::<Vec<_>>(),
        "DefaultRoutes": {
            "Ipv4": default_route(table, "0.0.0.0/0"),
            "Ipv6": default_route(table, "::/0"),
        },
        "RoutesToInternetGateway": routes_to_internet_gateway(table),
    })
}

/// The VPC a route table belongs to and the peering connections its routes go through: their
/// stored configurations embed its routes.
fn route_table_dependents(configuration: &Value) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if let Some(vpc) = configuration["VpcId"].as_str() {
        out.push((super::vpcs::VPC_SHAPE.resource_type, vpc.to_owned()));
    }
    if let Some(routes) = configuration["Routes"].as_array() {
        for r in routes {
            if r["TargetKind"] == "VpcPeeringConnection" {
                if let Some(id) = r["TargetId"].as_str() {
                    let dependent = (
                        super::peering::PEERING_CONNECTION_SHAPE.resource_type,
                        id.to_owned(),
                    );
                    if !out.contains(&dependent) {
                        out.push(dependent);
                    }
                }
            }
        }
    }
    out
}

/// Whether the subnet `subnet` of `vpc` is public: the route table explicitly associated with it,
/// else the VPC's main table, has an active route to an internet gateway. A subnet whose table
/// is not among `tables` is not public.
pub(crate) fn subnet_is_public(tables: &[RouteTable], vpc: &str, subnet: &str) -> bool {
    let explicit = tables.iter().find(|t| {
        t.associations()
            .iter()
            .any(|a| a.subnet_id() == Some(subnet))
    });
    let table = explicit.or_else(|| {
        tables
            .iter()
            .find(|t| t.vpc_id() == Some(vpc) && is_main(t))
    });
    table.is_some_and(routes_to_internet_gateway)
}

/// Every route table of the region (`vpc`: of that VPC only), all pages.
pub(crate) async fn list_route_tables_of(
    session: &AccountSession,
    ec2: &aws_sdk_ec2::Client,
    region: &str,
    vpc: Option<&str>,
) -> Result<Vec<RouteTable>, CollectionError> {
    let mut request = ec2.describe_route_tables();
    if let Some(vpc) = vpc {
        request = request.filters(Filter::builder().name("vpc-id").values(vpc).build());
    }
    let mut pages = request.into_paginator().send();
    let mut tables = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| failure(session, region, None, "DescribeRouteTables", &e))?;
        tables.extend(page.route_tables().iter().cloned());
    }
    Ok(tables)
}

/// Every route table of the region, all pages (read once per region: VPCs, route tables and
/// peering connections are judged from them).
pub(crate) async fn list_route_tables(
    session: &AccountSession,
    ec2: &aws_sdk_ec2::Client,
    region: &str,
) -> Result<Vec<RouteTable>, CollectionError> {
    list_route_tables_of(session, ec2, region, None).await
}

fn igw_configuration(region: &str, igw: &InternetGateway) -> Value {
    let attachments: Vec<Value> = igw
        .attachments()
        .iter()
        .map(|a| json!({"VpcId": a.vpc_id(), "State": a.state().map(|s| s.as_str())}))
        .collect();
    let attached: Vec<&str> = igw
        .attachments()
        .iter()
        .filter(|a| {
            matches!(
                a.state().map(|s| s.as_str()),
                Some("available") | Some("attached")
            )
        })
        .filter_map(|a| a.vpc_id())
        .collect();
    json!({
        "InternetGatewayId": igw.internet_gateway_id(),
        "Region": region,
        "OwnerId": igw.owner_id(),
        "Attachments": attachments,
        "AttachedVpcIds": attached,
    })
}

/// Streams the region's route tables (already listed) and lists its internet gateways.
pub(crate) async fn collect(
    session: &AccountSession,
    ec2: &aws_sdk_ec2::Client,
    region: &str,
    tables: &[RouteTable],
    out: &Sender<Collected>,
) -> Result<(), CollectionError> {
    for table in tables {
        let Some(id) = table.route_table_id() else {
            continue;
        };
        let configuration = route_table_configuration(region, table);
        let r = super::resource(session, &ROUTE_TABLE_SHAPE, region, id, configuration);
        send_resource(out, r).await;
    }
    let mut pages = ec2.describe_internet_gateways().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page =
            page.map_err(|e| failure(session, region, None, "DescribeInternetGateways", &e))?;
        for igw in page.internet_gateways() {
            let Some(id) = igw.internet_gateway_id() else {
                continue;
            };
            let configuration = igw_configuration(region, igw);
            let r = super::resource(session, &INTERNET_GATEWAY_SHAPE, region, id, configuration);
            send_resource(out, r).await;
        }
    }
    Ok(())
}

pub async fn describe_route_table(
    session: &AccountSession,
    id: &str,
) -> Result<Described, CollectionError> {
    let region = session.home_region().to_owned();
    let answer = client(session, &region)
        .describe_route_tables()
        .route_table_ids(id)
        .send()
        .await
        .map(|out| {
            out.route_tables()
                .iter()
                .find(|t| t.route_table_id() == Some(id))
                .map(|t| route_table_configuration(&region, t))
        });
    described(
        session,
        &ROUTE_TABLE_SHAPE,
        &region,
        id,
        "DescribeRouteTables",
        answer,
    )
}

pub async fn describe_internet_gateway(
    session: &AccountSession,
    id: &str,
) -> Result<Described, CollectionError> {
    let region = session.home_region().to_owned();
    let answer = client(session, &region)
        .describe_internet_gateways()
        .internet_gateway_ids(id)
        .send()
        .await
        .map(|out| {
            out.internet_gateways()
                .iter()
                .find(|g| g.internet_gateway_id() == Some(id))
                .map(|g| igw_configuration(&region, g))
        });
    described(
        session,
        &INTERNET_GATEWAY_SHAPE,
        &region,
        id,
        "DescribeInternetGateways",
        answer,
    )
}

#[cfg(test)]
mod tests {
    use aws_sdk_ec2::types::{RouteState, RouteTableAssociation};

    use super::*;

    fn route(dest: &str, gateway: Option<&str>, nat: Option<&str>, blackhole: bool) -> Route {
        let mut r = Route::builder()
            .set_gateway_id(gateway.map(str::to_owned))
            .set_nat_gateway_id(nat.map(str::to_owned))
            .state(if blackhole {
                RouteState::Blackhole
            } else {
                RouteState::Active
            });
        r = if dest.contains(':') {
            r.destination_ipv6_cidr_block(dest)
        } else {
            r.destination_cidr_block(dest)
        };
        r.build()
    }

    fn table(id: &str, main: bool, subnet: Option<&str>, routes: Vec<Route>) -> RouteTable {
        let mut association = RouteTableAssociation::builder().main(main);
        if let Some(s) = subnet {
            association = association.subnet_id(s);
        }
        RouteTable::builder()
            .route_table_id(id)
            .vpc_id("vpc-1")
            .associations(association.build())
            .set_routes(Some(routes))
            .build()
    }

    #[test]
    fn routes_name_their_target_kind_and_the_default_routes() {
        // given a table with a local route, 0.0.0.0/0 to a NAT gateway and ::/0 to an IGW
        let t = table(
            "rtb-1",
            false,
            Some("subnet-1"),
            vec![
                route("10.0.0.0/16", Some("local"), None, false),
                route("0.0.0.0/0", None, Some("nat-1"), false),
                route("::/0", Some("igw-1"), None, false),
            ],
        );
        // when normalised
        let c = route_table_configuration("us-east-1", &t);
        // then each route says where it goes, and the default routes are picked out
        assert_eq!(c["Routes"][0]["TargetKind"], "Local");
        assert_eq!(c["Routes"][1]["TargetKind"], "NatGateway");
        assert_eq!(c["Routes"][1]["IsWorld"], true);
        assert_eq!(c["Routes"][2]["DestinationType"], "ipv6");
        assert_eq!(
            c["DefaultRoutes"]["Ipv4"],
            json!({"TargetKind": "NatGateway", "TargetId": "nat-1", "State": "active"})
        );
        assert_eq!(c["DefaultRoutes"]["Ipv6"]["TargetKind"], "InternetGateway");
        assert_eq!(c["RoutesToInternetGateway"], true);
        assert_eq!(c["SubnetIds"], json!(["subnet-1"]));
        assert_eq!(c["Main"], false);
    }

    #[test]
    fn a_subnet_is_public_through_its_own_table_else_the_main_one() {
        // given a main table routing to an IGW, and a private table associated with subnet-2
        let tables = vec![
            table(
                "rtb-main",
                true,
                None,
                vec![route("0.0.0.0/0", Some("igw-1"), None, false)],
            ),
            table(
                "rtb-private",
                false,
                Some("subnet-2"),
                vec![route("10.0.0.0/16", Some("local"), None, false)],
            ),
            table(
                "rtb-dead",
                false,
                Some("subnet-3"),
                vec![route("0.0.0.0/0", Some("igw-gone"), None, true)],
            ),
        ];
        // then a subnet without an association takes the main table's route: public
        assert!(subnet_is_public(&tables, "vpc-1", "subnet-1"));
        // and one with its own table is judged by that table only
        assert!(!subnet_is_public(&tables, "vpc-1", "subnet-2"));
        // and a blackhole route to a deleted gateway carries nothing
        assert!(!subnet_is_public(&tables, "vpc-1", "subnet-3"));
        // and a subnet of a VPC with no table here is not public
        assert!(!subnet_is_public(&tables, "vpc-2", "subnet-9"));
    }

    #[test]
    fn a_route_table_refreshes_its_vpc_and_the_peerings_it_routes_through() {
        // given a table routing to a peering connection twice
        let c = json!({"VpcId": "vpc-1", "Routes": [
            {"TargetKind": "VpcPeeringConnection", "TargetId": "pcx-1"},
            {"TargetKind": "VpcPeeringConnection", "TargetId": "pcx-1"},
            {"TargetKind": "Local", "TargetId": "local"},
        ]});
        // then its dependents are the VPC and the peering, once each
        assert_eq!(
            route_table_dependents(&c),
            vec![
                ("AWS::EC2::VPC", "vpc-1".to_owned()),
                ("AWS::EC2::VPCPeeringConnection", "pcx-1".to_owned()),
            ]
        );
    }
}
