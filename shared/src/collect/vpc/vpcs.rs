//! VPCs, with the flow logs that watch them, the endpoints placed in them and their subnets.
//!
//! Normalised configuration:
//!
//! ```text
//! VpcId, Region, CidrBlock, IsDefault, State, OwnerId
//! FlowLogs    [{FlowLogId, FlowLogStatus, TrafficType, LogDestinationType}] of resource the VPC
//! Endpoints   [{VpcEndpointId, ServiceName, VpcEndpointType, State}]
//! Subnets     [{SubnetId, AvailabilityZone, Public}]: Public when the subnet's route table (its
//!             explicit association, else the VPC's main table) has an active route to an
//!             internet gateway ([`super::routes::subnet_is_public`])
//! AvailabilityZoneCount, PublicSubnetCount, PrivateSubnetCount   counted from Subnets
//! ```
//!
//! A subnet or route-table change re-describes its VPC (the subnet's and the route table's
//! `dependents`), so `Subnets` stays current in real time.

use std::collections::{BTreeSet, HashMap};

use aws_sdk_ec2::types::{Filter, RouteTable, Subnet, Vpc};
use serde_json::{json, Value};
use tokio::sync::mpsc::Sender;

use super::routes::{list_route_tables_of, subnet_is_public};
use super::{about, client, failure, is_not_found, send_resource, AccountSession, CollectionError};
use crate::arn::{ArnScope, ArnShape};
use crate::collect::{Collected, Described};
use crate::model::{Resource, Service};
use crate::policy::schema::{Field, Type};
use crate::registry::{Residence, ResourceKind};

/// The ARN shape of [`VPC`] (what the collector's own code forms ARNs with).
pub const VPC_SHAPE: ArnShape = ArnShape::new(
    Service::Vpc,
    "ec2",
    "AWS::EC2::VPC",
    ArnScope::Regional,
    "vpc/",
);

pub const VPC: ResourceKind = ResourceKind {
    shape: VPC_SHAPE,
    residence: Residence::Regional,
    permissions: &[
        "ec2:DescribeRegions",
        "ec2:DescribeVpcs",
        "ec2:DescribeFlowLogs",
        "ec2:DescribeVpcEndpoints",
        "ec2:DescribeSubnets",
        "ec2:DescribeRouteTables",
    ],
    fields: FIELDS,
    describe: |session, id| Box::pin(describe(session, id)),
    dependents: None,
    relations: &[],
};

const FIELDS: &[Field] = &[
    Field::new("VpcId", Type::String),
    Field::new("Region", Type::String),
    Field::new("CidrBlock", Type::String).nullable(),
    Field::new("IsDefault", Type::Bool),
    Field::new("State", Type::String).nullable(),
    Field::new("OwnerId", Type::String).nullable(),
    Field::new(
        "FlowLogs",
        Type::Array(&Type::Object(&[
            Field::new("FlowLogId", Type::String),
            Field::new("FlowLogStatus", Type::String).nullable(),
            Field::new("TrafficType", Type::String).nullable(),
            Field::new("LogDestinationType", Type::String).nullable(),
        ])),
    ),
    Field::new(
        "Endpoints",
        Type::Array(&Type::Object(&[
            Field::new("VpcEndpointId", Type::String),
            Field::new("ServiceName", Type::String).nullable(),
            Field::new("VpcEndpointType", Type::String).nullable(),
            Field::new("State", Type::String).nullable(),
        ])),
    ),
    Field::new(
        "Subnets",
        Type::Array(&Type::Object(&[
            Field::new("SubnetId", Type::String),
            Field::new("AvailabilityZone", Type::String).nullable(),
            Field::new("Public", Type::Bool),
        ])),
    ),
    Field::new("AvailabilityZoneCount", Type::Number),
    Field::new("PublicSubnetCount", Type::Number),
    Field::new("PrivateSubnetCount", Type::Number),
];

/// Flow logs, endpoints and subnets of a region (or of one VPC), by VPC id.
#[derive(Default)]
struct Attached {
    flow_logs: HashMap<String, Vec<Value>>,
    endpoints: HashMap<String, Vec<Value>>,
    subnets: HashMap<String, Vec<Subnet>>,
}

async fn attached(
    session: &AccountSession,
    ec2: &aws_sdk_ec2::Client,
    region: &str,
    vpc: Option<&str>,
) -> Result<Attached, CollectionError> {
    let mut out = Attached::default();
    let mut subnets = ec2.describe_subnets();
    if let Some(vpc) = vpc {
        subnets = subnets.filters(Filter::builder().name("vpc-id").values(vpc).build());
    }
    let mut pages = subnets.into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| failure(session, region, None, "DescribeSubnets", &e))?;
        for s in page.subnets() {
            if let Some(vpc) = s.vpc_id() {
                out.subnets
                    .entry(vpc.to_owned())
                    .or_default()
                    .push(s.clone());
            }
        }
    }
    let mut logs = ec2.describe_flow_logs();
    if let Some(vpc) = vpc {
        logs = logs.filter(Filter::builder().name("resource-id").values(vpc).build());
    }
    let mut pages = logs.into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| failure(session, region, None, "DescribeFlowLogs", &e))?;
        for log in page.flow_logs() {
            let (Some(resource), Some(id)) = (log.resource_id(), log.flow_log_id()) else {
                continue;
            };
            out.flow_logs
                .entry(resource.to_owned())
                .or_default()
                .push(json!({
                    "FlowLogId": id,
                    "FlowLogStatus": log.flow_log_status(),
                    "TrafficType": log.traffic_type().map(|t| t.as_str()),
                    "LogDestinationType": log.log_destination_type().map(|t| t.as_str()),
                }));
        }
    }
    let mut endpoints = ec2.describe_vpc_endpoints();
    if let Some(vpc) = vpc {
        endpoints = endpoints.filters(Filter::builder().name("vpc-id").values(vpc).build());
    }
    let mut pages = endpoints.into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| failure(session, region, None, "DescribeVpcEndpoints", &e))?;
        for e in page.vpc_endpoints() {
            let (Some(vpc), Some(id)) = (e.vpc_id(), e.vpc_endpoint_id()) else {
                continue;
            };
            out.endpoints
                .entry(vpc.to_owned())
                .or_default()
                .push(json!({
                    "VpcEndpointId": id,
                    "ServiceName": e.service_name(),
                    "VpcEndpointType": e.vpc_endpoint_type().map(|t| t.as_str()),
                    "State": e.state().map(|s| s.as_str()),
                }));
        }
    }
    Ok(out)
}

/// The VPC's subnets, each public or private, in subnet-id order.
fn subnets(id: &str, attached: &Attached, tables: &[RouteTable]) -> Vec<Value> {
    let mut list: Vec<(&str, Option<&str>, bool)> = attached
        .subnets
        .get(id)
        .map(|subnets| {
            subnets
                .iter()
                .filter_map(|s| {
                    let subnet = s.subnet_id()?;
                    Some((
                        subnet,
                        s.availability_zone(),
                        subnet_is_public(tables, id, subnet),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    list.sort();
    list.into_iter()
        .map(|(subnet, az, public)| {
            json!({"SubnetId": subnet, "AvailabilityZone": az, "Public": public})
        })
        .collect()
}

fn resource(
    session: &AccountSession,
    region: &str,
    vpc: &Vpc,
    attached: &Attached,
    tables: &[RouteTable],
) -> Option<Resource> {
    let id = vpc.vpc_id()?;
    let subnets = subnets(id, attached, tables);
    let zones: BTreeSet<&str> = subnets
        .iter()
        .filter_map(|s| s["AvailabilityZone"].as_str())
        .collect();
    let public = subnets.iter().filter(|s| s["Public"] == true).count();
    let private = subnets.len() - public;
    Some(super::resource(
        session,
        &VPC_SHAPE,
        region,
        id,
        json!({
            "VpcId": id,
            "Region": region,
            "CidrBlock": vpc.cidr_block(),
            "IsDefault": vpc.is_default().unwrap_or(false),
            "State": vpc.state().map(|s| s.as_str()),
            "OwnerId": vpc.owner_id(),
            "FlowLogs": attached.flow_logs.get(id).cloned().unwrap_or_default(),
            "Endpoints": attached.endpoints.get(id).cloned().unwrap_or_default(),
            "AvailabilityZoneCount": zones.len(),
            "PublicSubnetCount": public,
            "PrivateSubnetCount": private,
            "Subnets": subnets,
        }),
    ))
}

/// Lists the region's VPCs (`tables` are the region's route tables), and says whether one of
/// them is not the region's default VPC.
pub(crate) async fn collect(
    session: &AccountSession,
    ec2: &aws_sdk_ec2::Client,
    region: &str,
    tables: &[RouteTable],
    out: &Sender<Collected>,
) -> Result<bool, CollectionError> {
    let attached = attached(session, ec2, region, None).await?;
    let mut pages = ec2.describe_vpcs().into_paginator().send();
    let mut own = false;
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| failure(session, region, None, "DescribeVpcs", &e))?;
        for vpc in page.vpcs() {
            own |= vpc.is_default() != Some(true);
            if let Some(r) = resource(session, region, vpc, &attached, tables) {
                send_resource(out, r).await;
            }
        }
    }
    Ok(own)
}

pub async fn describe(session: &AccountSession, id: &str) -> Result<Described, CollectionError> {
    let region = session.home_region().to_owned();
    let ec2 = client(session, &region);
    let arn = VPC_SHAPE.arn(
        session.partition(),
        &region,
        &session.account.account_id,
        id,
    );
    let answer = ec2.describe_vpcs().vpc_ids(id).send().await;
    let vpcs = match answer {
        Ok(out) => out.vpcs.unwrap_or_default(),
        Err(e) if is_not_found(&e) => return Ok(Described::NotFound),
        Err(e) => return Err(failure(session, &region, Some(arn), "DescribeVpcs", &e)),
    };
    let Some(vpc) = vpcs.iter().find(|v| v.vpc_id() == Some(id)) else {
        return Ok(Described::NotFound);
    };
    let attached = attached(session, &ec2, &region, Some(id))
        .await
        .map_err(|e| about(e, arn.clone()))?;
    let tables = list_route_tables_of(session, &ec2, &region, Some(id))
        .await
        .map_err(|e| about(e, arn))?;
    Ok(resource(session, &region, vpc, &attached, &tables)
        .map(|r| Described::Found(Box::new(r)))
        .unwrap_or(Described::NotFound))
}
