//! Subnets.
//!
//! Normalised configuration:
//!
//! ```text
//! SubnetId, Region, VpcId, CidrBlock, AvailabilityZone, DefaultForAz, MapPublicIpOnLaunch,
//! AssignIpv6AddressOnCreation
//! ```
//!
//! A subnet's VPC embeds it (`Subnets` of the VPC), so a subnet change re-describes the VPC too
//! ([`SUBNET`]'s `dependents`).

use aws_sdk_ec2::types::Subnet;
use serde_json::{json, Value};
use tokio::sync::mpsc::Sender;

use super::{client, described, failure, send_resource, AccountSession, CollectionError};
use crate::arn::{ArnScope, ArnShape};
use crate::collect::{Collected, Described};
use crate::model::Service;
use crate::policy::schema::{Field, Type};
use crate::registry::{Relation, Residence, ResourceKind};

/// The ARN shape of [`SUBNET`] (what the collector's own code forms ARNs with).
pub const SUBNET_SHAPE: ArnShape = ArnShape::new(
    Service::Vpc,
    "ec2",
    "AWS::EC2::Subnet",
    ArnScope::Regional,
    "subnet/",
);

pub const SUBNET: ResourceKind = ResourceKind {
    shape: SUBNET_SHAPE,
    residence: Residence::Regional,
    permissions: &["ec2:DescribeRegions", "ec2:DescribeSubnets"],
    fields: SUBNET_FIELDS,
    describe: |session, id| Box::pin(describe_subnet(session, id)),
    dependents: Some(subnet_dependents),
    relations: SUBNET_RELATIONS,
};

/// A subnet with no explicitly associated route table uses its VPC's main table.
const MAIN_ROUTE_TABLE: Relation = Relation {
    name: "RouteTable",
    target: Type::Kind("AWS::EC2::RouteTable"),
    local: "VpcId",
    remote: "VpcId",
    same_region: true,
    only_where: Some("Main"),
    otherwise: None,
};

/// What a subnet's policies may follow: its route table (the explicit association, else the
/// VPC's main table) and its network ACL.
const SUBNET_RELATIONS: &[Relation] = &[
    Relation {
        name: "RouteTable",
        target: Type::Kind("AWS::EC2::RouteTable"),
        local: "SubnetId",
        remote: "SubnetIds",
        same_region: true,
        only_where: None,
        otherwise: Some(&MAIN_ROUTE_TABLE),
    },
    Relation {
        name: "NetworkAcl",
        target: Type::Kind("AWS::EC2::NetworkAcl"),
        local: "SubnetId",
        remote: "SubnetIds",
        same_region: true,
        only_where: None,
        otherwise: None,
    },
];

const SUBNET_FIELDS: &[Field] = &[
    Field::new("SubnetId", Type::String),
    Field::new("Region", Type::String),
    Field::new("VpcId", Type::String).nullable(),
    Field::new("CidrBlock", Type::String).nullable(),
    Field::new("AvailabilityZone", Type::String).nullable(),
    Field::new("DefaultForAz", Type::Bool),
    Field::new("MapPublicIpOnLaunch", Type::Bool),
    Field::new("AssignIpv6AddressOnCreation", Type::Bool),
];

fn subnet_configuration(region: &str, s: &Subnet) -> Value {
    json!({
        "SubnetId": s.subnet_id(),
        "Region": region,
        "VpcId": s.vpc_id(),
        "CidrBlock": s.cidr_block(),
        "AvailabilityZone": s.availability_zone(),
        "DefaultForAz": s.default_for_az().unwrap_or(false),
        "MapPublicIpOnLaunch": s.map_public_ip_on_launch().unwrap_or(false),
        "AssignIpv6AddressOnCreation": s.assign_ipv6_address_on_creation().unwrap_or(false),
    })
}

/// The VPC that embeds the subnet.
fn subnet_dependents(configuration: &Value) -> Vec<(&'static str, String)> {
    configuration["VpcId"]
        .as_str()
        .map(|vpc| vec![(super::vpcs::VPC_SHAPE.resource_type, vpc.to_owned())])
        .unwrap_or_default()
}

/// Lists the region's subnets.
pub(crate) async fn collect(
    session: &AccountSession,
    ec2: &aws_sdk_ec2::Client,
    region: &str,
    out: &Sender<Collected>,
) -> Result<(), CollectionError> {
    let mut pages = ec2.describe_subnets().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| failure(session, region, None, "DescribeSubnets", &e))?;
        for s in page.subnets() {
            let Some(id) = s.subnet_id() else { continue };
            let configuration = subnet_configuration(region, s);
            let r = super::resource(session, &SUBNET_SHAPE, region, id, configuration);
            send_resource(out, r).await;
        }
    }
    Ok(())
}

pub async fn describe_subnet(
    session: &AccountSession,
    id: &str,
) -> Result<Described, CollectionError> {
    let region = session.home_region().to_owned();
    let answer = client(session, &region)
        .describe_subnets()
        .subnet_ids(id)
        .send()
        .await
        .map(|out| {
            out.subnets()
                .iter()
                .find(|s| s.subnet_id() == Some(id))
                .map(|s| subnet_configuration(&region, s))
        });
    described(
        session,
        &SUBNET_SHAPE,
        &region,
        id,
        "DescribeSubnets",
        answer,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subnet_refreshes_its_vpc() {
        // given a subnet's configuration, and one without a VPC
        let c = subnet_configuration(
            "us-east-1",
            &Subnet::builder()
                .subnet_id("subnet-1")
                .vpc_id("vpc-1")
                .build(),
        );
        // then its VPC is its dependent, and a subnet without one has none
        assert_eq!(
            subnet_dependents(&c),
            vec![("AWS::EC2::VPC", "vpc-1".to_owned())]
        );
        assert!(subnet_dependents(&json!({"VpcId": null})).is_empty());
    }
}
