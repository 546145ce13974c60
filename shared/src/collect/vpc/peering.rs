//! VPC peering connections, with the routes of the region's route tables that send traffic
//! through them.
//!
//! Normalised configuration:
//!
//! ```text
//! VpcPeeringConnectionId, Region, Status (active, pending-acceptance, ...)
//! Requester, Accepter   {OwnerId, VpcId, Region, CidrBlocks [IPv4 and IPv6 blocks]}
//! CrossAccount          the two sides' owners differ
//! Routes                [{RouteTableId, VpcId, Destination, State, IsWorld, CoversPeerVpc,
//!                         Overbroad}]: every route of a route table of the account in this
//!                       region whose target is this connection
//! ```
//!
//! `CoversPeerVpc` holds when the route's destination contains a whole CIDR block of the VPC on
//! the other side (the side that is not the route table's VPC); `Overbroad` when it is the world
//! (`0.0.0.0/0`, `::/0`) or covers the peer VPC (CIS 5.6 asks for routes to the subnets that need
//! the peering only). A route-table change re-describes the connections its routes go through
//! (the route table's `dependents`); a deleted route is seen by the next inventory.

use aws_sdk_ec2::types::{RouteTable, VpcPeeringConnection, VpcPeeringConnectionVpcInfo};
use serde_json::{json, Value};
use tokio::sync::mpsc::Sender;

use super::routes::{destination, list_route_tables, target};
use super::{
    about, cidr_contains, client, failure, is_not_found, is_world, send_resource, AccountSession,
    CollectionError,
};
use crate::arn::{ArnScope, ArnShape};
use crate::collect::{Collected, Described};
use crate::model::Service;
use crate::policy::schema::{Field, Type};
use crate::registry::{Residence, ResourceKind};

/// The ARN shape of [`PEERING_CONNECTION`] (what the collector's own code forms ARNs with).
pub const PEERING_CONNECTION_SHAPE: ArnShape = ArnShape::new(
    Service::Vpc,
    "ec2",
    "AWS::EC2::VPCPeeringConnection",
    ArnScope::Regional,
    "vpc-peering-connection/",
);

pub const PEERING_CONNECTION: ResourceKind = ResourceKind {
    shape: PEERING_CONNECTION_SHAPE,
    residence: Residence::Regional,
    permissions: &[
        "ec2:DescribeRegions",
        "ec2:DescribeVpcPeeringConnections",
        "ec2:DescribeRouteTables",
    ],
    fields: FIELDS,
    describe: |session, id| Box::pin(describe(session, id)),
    dependents: None,
    relations: &[],
};

const SIDE: &[Field] = &[
    Field::new("OwnerId", Type::String).nullable(),
    Field::new("VpcId", Type::String).nullable(),
    Field::new("Region", Type::String).nullable(),
    Field::new("CidrBlocks", Type::Array(&Type::String)),
];

const FIELDS: &[Field] = &[
    Field::new("VpcPeeringConnectionId", Type::String),
    Field::new("Region", Type::String),
    Field::new("Status", Type::String).nullable(),
    Field::new("Requester", Type::Object(SIDE)),
    Field::new("Accepter", Type::Object(SIDE)),
    Field::new("CrossAccount", Type::Bool),
    Field::new(
        "Routes",
        Type::Array(&Type::Object(&[
            Field::new("RouteTableId", Type::String).nullable(),
            Field::new("VpcId", Type::String).nullable(),
            Field::new("Destination", Type::String).nullable(),
            Field::new("State", Type::String).nullable(),
            Field::new("IsWorld", Type::Bool),
            Field::new("CoversPeerVpc", Type::Bool),
            Field::new("Overbroad", Type::Bool),
        ])),
    ),
];

/// Every CIDR block of one side, IPv4 then IPv6, each once.
fn blocks(side: Option<&VpcPeeringConnectionVpcInfo>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let Some(side) = side else { return out };
    let v4 = side
        .cidr_block()
        .into_iter()
        .chain(side.cidr_block_set().iter().filter_map(|b| b.cidr_block()));
    let v6 = side
        .ipv6_cidr_block_set()
        .iter()
        .filter_map(|b| b.ipv6_cidr_block());
    for block in v4.chain(v6) {
        if !out.iter().any(|b| b == block) {
            out.push(block.to_owned());
        }
    }
    out
}

fn side(info: Option<&VpcPeeringConnectionVpcInfo>) -> Value {
    json!({
        "OwnerId": info.and_then(|i| i.owner_id()),
        "VpcId": info.and_then(|i| i.vpc_id()),
        "Region": info.and_then(|i| i.region()),
        "CidrBlocks": blocks(info),
    })
}

fn configuration(region: &str, pcx: &VpcPeeringConnection, tables: &[RouteTable]) -> Value {
    let id = pcx.vpc_peering_connection_id().unwrap_or_default();
    let requester = pcx.requester_vpc_info();
    let accepter = pcx.accepter_vpc_info();
    let mut routes = Vec::new();
    for table in tables {
        // The peer of a table's VPC is the other side; a table of neither side is judged
        // against both.
        let table_vpc = table.vpc_id();
        let peer_blocks: Vec<String> =
            if table_vpc.is_some() && table_vpc == requester.and_then(|r| r.vpc_id()) {
                blocks(accepter)
            } else if table_vpc.is_some() && table_vpc == accepter.and_then(|a| a.vpc_id()) {
                blocks(requester)
            } else {
                blocks(requester)
                    .into_iter()
                    .chain(blocks(accepter))
                    .collect()
            };
        for route in table.routes() {
            if target(route) != ("VpcPeeringConnection", Some(id)) {
                continue;
            }
            let dest = destination(route).0;
            let world = dest.is_some_and(is_world);
            let covers = dest.is_some_and(|d| peer_blocks.iter().any(|b| cidr_contains(d, b)));
            routes.push(json!({
                "RouteTableId": table.route_table_id(),
                "VpcId": table_vpc,
                "Destination": dest,
                "State": route.state().map(|s| s.as_str()),
                "IsWorld": world,
                "CoversPeerVpc": covers,
                "Overbroad": world || covers,
            }));
        }
    }
    let owners = (
        requester.and_then(|r| r.owner_id()),
        accepter.and_then(|a| a.owner_id()),
    );
    json!({
        "VpcPeeringConnectionId": id,
        "Region": region,
        "Status": pcx.status().and_then(|s| s.code()).map(|c| c.as_str()),
        "Requester": side(requester),
        "Accepter": side(accepter),
        "CrossAccount": matches!(owners, (Some(r), Some(a)) if r != a),
        "Routes": routes,
    })
}

/// True when the connection is gone (deleted, rejected, expired or failed: EC2 keeps answering
/// these for a while).
fn is_gone(pcx: &VpcPeeringConnection) -> bool {
    matches!(
        pcx.status().and_then(|s| s.code()).map(|c| c.as_str()),
        Some("deleted") | Some("rejected") | Some("expired") | Some("failed")
    )
}

/// Lists the region's peering connections; `tables` are the region's route tables.
pub(crate) async fn collect(
    session: &AccountSession,
    ec2: &aws_sdk_ec2::Client,
    region: &str,
    tables: &[RouteTable],
    out: &Sender<Collected>,
) -> Result<(), CollectionError> {
    let mut pages = ec2
        .describe_vpc_peering_connections()
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page =
            page.map_err(|e| failure(session, region, None, "DescribeVpcPeeringConnections", &e))?;
        for pcx in page.vpc_peering_connections() {
            let Some(id) = pcx.vpc_peering_connection_id() else {
                continue;
            };
            if is_gone(pcx) {
                continue;
            }
            let c = configuration(region, pcx, tables);
            send_resource(
                out,
                super::resource(session, &PEERING_CONNECTION_SHAPE, region, id, c),
            )
            .await;
        }
    }
    Ok(())
}

pub async fn describe(session: &AccountSession, id: &str) -> Result<Described, CollectionError> {
    let region = session.home_region().to_owned();
    let ec2 = client(session, &region);
    let arn = PEERING_CONNECTION_SHAPE.arn(
        session.partition(),
        &region,
        &session.account.account_id,
        id,
    );
    let answer = ec2
        .describe_vpc_peering_connections()
        .vpc_peering_connection_ids(id)
        .send()
        .await;
    let found = match answer {
        Ok(out) => out
            .vpc_peering_connections()
            .iter()
            .find(|p| p.vpc_peering_connection_id() == Some(id) && !is_gone(p))
            .cloned(),
        Err(e) if is_not_found(&e) => None,
        Err(e) => {
            return Err(failure(
                session,
                &region,
                Some(arn),
                "DescribeVpcPeeringConnections",
                &e,
            ))
        }
    };
    let Some(pcx) = found else {
        return Ok(Described::NotFound);
    };
    let tables = list_route_tables(session, &ec2, &region)
        .await
        .map_err(|e| about(e, arn))?;
    let c = configuration(&region, &pcx, &tables);
    Ok(Described::Found(Box::new(super::resource(
        session,
        &PEERING_CONNECTION_SHAPE,
        &region,
        id,
        c,
    ))))
}

#[cfg(test)]
mod tests {
    use aws_sdk_ec2::types::{Route, RouteState};

    use super::*;

    fn info(vpc: &str, cidr: &str) -> VpcPeeringConnectionVpcInfo {
        VpcPeeringConnectionVpcInfo::builder()
            .vpc_id(vpc)
            .owner_id("111122223333")
            .cidr_block(cidr)
            .build()
    }

    fn table(vpc: &str, dests: &[&str]) -> RouteTable {
        RouteTable::builder()
            .route_table_id(format!("rtb-{vpc}"))
            .vpc_id(vpc)
            .set_routes(Some(
                dests
                    .iter()
                    .map(|d| {
                        Route::builder()
                            .destination_cidr_block(*d)
                            .vpc_peering_connection_id("pcx-1")
                            .state(RouteState::Active)
                            .build()
                    })
                    .collect(),
            ))
            .build()
    }

    #[test]
    fn routes_to_the_whole_peer_or_the_world_are_overbroad_and_a_subnet_route_is_not() {
        // given a peering of vpc-a (10.0.0.0/16) and vpc-b (10.1.0.0/16)
        let pcx = VpcPeeringConnection::builder()
            .vpc_peering_connection_id("pcx-1")
            .requester_vpc_info(info("vpc-a", "10.0.0.0/16"))
            .accepter_vpc_info(info("vpc-b", "10.1.0.0/16"))
            .build();
        // and vpc-a routing the whole of vpc-b, a wider block and the world through it, and
        // vpc-b routing one subnet of vpc-a
        let tables = [
            table("vpc-a", &["10.1.0.0/16", "10.0.0.0/8", "0.0.0.0/0"]),
            table("vpc-b", &["10.0.1.0/24"]),
        ];
        // when normalised
        let c = configuration("us-east-1", &pcx, &tables);
        let overbroad: Vec<(&str, bool)> = c["Routes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r["Destination"].as_str().unwrap(), r["Overbroad"] == true))
            .collect();
        // then the three routes of vpc-a are overbroad and the subnet route is not
        assert_eq!(
            overbroad,
            [
                ("10.1.0.0/16", true),
                ("10.0.0.0/8", true),
                ("0.0.0.0/0", true),
                ("10.0.1.0/24", false),
            ]
        );
        assert_eq!(c["Routes"][2]["IsWorld"], true);
        assert_eq!(c["CrossAccount"], false);
    }
}
