//! Network interfaces and transit gateways.
//!
//! Normalised configurations:
//!
//! ```text
//! NetworkInterface  NetworkInterfaceId, Region, InterfaceType (interface | efa | branch | lambda
//!                   | nat_gateway | vpc_endpoint | ...), Status, SubnetId, VpcId,
//!                   SourceDestCheck (true | false | null: AWS did not say),
//!                   RequesterManaged (an AWS service created and manages it),
//!                   InstanceId | null (the attached instance), PublicIp | null,
//!                   SecurityGroupIds [group id]
//! TransitGateway    TransitGatewayId, Region, State, OwnerId,
//!                   AutoAcceptSharedAttachments (enable | disable),
//!                   DefaultRouteTableAssociation, DefaultRouteTablePropagation (enable | disable)
//! ```
//!
//! A transit gateway in state `deleted` is gone (AWS lists deleted ones for a while).

use aws_sdk_ec2::types::{NetworkInterface, TransitGateway};
use serde_json::{json, Value};
use tokio::sync::mpsc::Sender;

use super::{
    client, described, failure, resource, send, AccountSession, Collected, CollectionError,
};
use crate::arn::{ArnScope, ArnShape};
use crate::collect::Described;
use crate::model::Service;
use crate::policy::schema::{Field, Type};
use crate::registry::{Residence, ResourceKind};

/// The ARN shape of [`NETWORK_INTERFACE`].
pub const NETWORK_INTERFACE_SHAPE: ArnShape = ArnShape::new(
    Service::Ec2,
    "ec2",
    "AWS::EC2::NetworkInterface",
    ArnScope::Regional,
    "network-interface/",
);

pub const NETWORK_INTERFACE: ResourceKind = ResourceKind {
    shape: NETWORK_INTERFACE_SHAPE,
    residence: Residence::Regional,
    permissions: &["ec2:DescribeRegions", "ec2:DescribeNetworkInterfaces"],
    fields: INTERFACE_FIELDS,
    describe: |session, id| Box::pin(describe_interface(session, id)),
    dependents: None,
    relations: &[],
};

/// The ARN shape of [`TRANSIT_GATEWAY`].
pub const TRANSIT_GATEWAY_SHAPE: ArnShape = ArnShape::new(
    Service::Ec2,
    "ec2",
    "AWS::EC2::TransitGateway",
    ArnScope::Regional,
    "transit-gateway/",
);

pub const TRANSIT_GATEWAY: ResourceKind = ResourceKind {
    shape: TRANSIT_GATEWAY_SHAPE,
    residence: Residence::Regional,
    permissions: &["ec2:DescribeRegions", "ec2:DescribeTransitGateways"],
    fields: TGW_FIELDS,
    describe: |session, id| Box::pin(describe_transit_gateway(session, id)),
    dependents: None,
    relations: &[],
};

const INTERFACE_FIELDS: &[Field] = &[
    Field::new("NetworkInterfaceId", Type::String),
    Field::new("Region", Type::String),
    Field::new("InterfaceType", Type::String).nullable(),
    Field::new("Status", Type::String).nullable(),
    Field::new("SubnetId", Type::String).nullable(),
    Field::new("VpcId", Type::String).nullable(),
    Field::new("SourceDestCheck", Type::Bool).nullable(),
    Field::new("RequesterManaged", Type::Bool),
    Field::new("InstanceId", Type::String).nullable(),
    Field::new("PublicIp", Type::String).nullable(),
    Field::new("SecurityGroupIds", Type::Array(&Type::String)),
];

const TGW_FIELDS: &[Field] = &[
    Field::new("TransitGatewayId", Type::String),
    Field::new("Region", Type::String),
    Field::new("State", Type::String).nullable(),
    Field::new("OwnerId", Type::String).nullable(),
    Field::new("AutoAcceptSharedAttachments", Type::String).nullable(),
    Field::new("DefaultRouteTableAssociation", Type::String).nullable(),
    Field::new("DefaultRouteTablePropagation", Type::String).nullable(),
];

fn interface_configuration(region: &str, n: &NetworkInterface) -> Value {
    let groups: Vec<&str> = n.groups().iter().filter_map(|g| g.group_id()).collect();
    json!({
        "NetworkInterfaceId": n.network_interface_id(),
        "Region": region,
        "InterfaceType": n.interface_type().map(|t| t.as_str()),
        "Status": n.status().map(|s| s.as_str()),
        "SubnetId": n.subnet_id(),
        "VpcId": n.vpc_id(),
        "SourceDestCheck": n.source_dest_check(),
        "RequesterManaged": n.requester_managed().unwrap_or(false),
        "InstanceId": n.attachment().and_then(|a| a.instance_id()),
        "PublicIp": n.association().and_then(|a| a.public_ip()),
        "SecurityGroupIds": groups,
    })
}

fn is_deleted(t: &TransitGateway) -> bool {
    t.state().is_some_and(|s| s.as_str() == "deleted")
}

fn tgw_configuration(region: &str, t: &TransitGateway) -> Value {
    let options = t.options();
    json!({
        "TransitGatewayId": t.transit_gateway_id(),
        "Region": region,
        "State": t.state().map(|s| s.as_str()),
        "OwnerId": t.owner_id(),
        "AutoAcceptSharedAttachments":
            options.and_then(|o| o.auto_accept_shared_attachments()).map(|v| v.as_str()),
        "DefaultRouteTableAssociation":
            options.and_then(|o| o.default_route_table_association()).map(|v| v.as_str()),
        "DefaultRouteTablePropagation":
            options.and_then(|o| o.default_route_table_propagation()).map(|v| v.as_str()),
    })
}

/// Lists the region's network interfaces and transit gateways.
pub(crate) async fn collect(
    session: &AccountSession,
    ec2: &aws_sdk_ec2::Client,
    region: &str,
    out: &Sender<Collected>,
) -> Result<(), CollectionError> {
    let mut pages = ec2.describe_network_interfaces().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page =
            page.map_err(|e| failure(session, region, None, "DescribeNetworkInterfaces", &e))?;
        for n in page.network_interfaces() {
            let Some(id) = n.network_interface_id() else {
                continue;
            };
            let configuration = interface_configuration(region, n);
            let r = resource(session, &NETWORK_INTERFACE_SHAPE, region, id, configuration);
            send(out, Collected::Resource(Box::new(r))).await;
        }
    }
    let mut pages = ec2.describe_transit_gateways().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page =
            page.map_err(|e| failure(session, region, None, "DescribeTransitGateways", &e))?;
        for t in page.transit_gateways() {
            let Some(id) = t.transit_gateway_id() else {
                continue;
            };
            if is_deleted(t) {
                continue;
            }
            let r = resource(
                session,
                &TRANSIT_GATEWAY_SHAPE,
                region,
                id,
                tgw_configuration(region, t),
            );
            send(out, Collected::Resource(Box::new(r))).await;
        }
    }
    Ok(())
}

pub async fn describe_interface(
    session: &AccountSession,
    id: &str,
) -> Result<Described, CollectionError> {
    let region = session.home_region().to_owned();
    let answer = client(session, &region)
        .describe_network_interfaces()
        .network_interface_ids(id)
        .send()
        .await
        .map(|out| {
            out.network_interfaces()
                .iter()
                .find(|n| n.network_interface_id() == Some(id))
                .map(|n| interface_configuration(&region, n))
        });
    described(
        session,
        &NETWORK_INTERFACE_SHAPE,
        &region,
        id,
        "DescribeNetworkInterfaces",
        answer,
    )
}

pub async fn describe_transit_gateway(
    session: &AccountSession,
    id: &str,
) -> Result<Described, CollectionError> {
    let region = session.home_region().to_owned();
    let answer = client(session, &region)
        .describe_transit_gateways()
        .transit_gateway_ids(id)
        .send()
        .await
        .map(|out| {
            out.transit_gateways()
                .iter()
                .find(|t| t.transit_gateway_id() == Some(id) && !is_deleted(t))
                .map(|t| tgw_configuration(&region, t))
        });
    described(
        session,
        &TRANSIT_GATEWAY_SHAPE,
        &region,
        id,
        "DescribeTransitGateways",
        answer,
    )
}

#[cfg(test)]
mod tests {
    use aws_sdk_ec2::types::{
        AutoAcceptSharedAttachmentsValue, NetworkInterfaceAttachment, NetworkInterfaceType,
        TransitGatewayOptions, TransitGatewayState,
    };

    use super::*;

    #[test]
    fn an_interface_keeps_its_check_type_and_attachment() {
        // given an appliance interface with source/destination checking off
        let n = NetworkInterface::builder()
            .network_interface_id("eni-1")
            .interface_type(NetworkInterfaceType::Interface)
            .source_dest_check(false)
            .attachment(
                NetworkInterfaceAttachment::builder()
                    .instance_id("i-1")
                    .build(),
            )
            .build();
        // when
        let c = interface_configuration("eu-west-1", &n);
        // then
        assert_eq!(c["SourceDestCheck"], false);
        assert_eq!(c["InterfaceType"], "interface");
        assert_eq!(c["RequesterManaged"], false);
        assert_eq!(c["InstanceId"], "i-1");
        assert_eq!(c["PublicIp"], Value::Null);
    }

    #[test]
    fn a_gateway_keeps_its_auto_accept_option_and_deleted_ones_are_gone() {
        // given a gateway that auto-accepts shared attachments, and a deleted one
        let live = TransitGateway::builder()
            .transit_gateway_id("tgw-1")
            .state(TransitGatewayState::Available)
            .options(
                TransitGatewayOptions::builder()
                    .auto_accept_shared_attachments(AutoAcceptSharedAttachmentsValue::Enable)
                    .build(),
            )
            .build();
        let gone = TransitGateway::builder()
            .transit_gateway_id("tgw-2")
            .state(TransitGatewayState::Deleted)
            .build();
        // then
        assert_eq!(
            tgw_configuration("eu-west-1", &live)["AutoAcceptSharedAttachments"],
            "enable"
        );
        assert!(!is_deleted(&live) && is_deleted(&gone));
    }
}
