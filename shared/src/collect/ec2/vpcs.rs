//! VPCs, with the flow logs that watch them and the endpoints placed in them.
//!
//! Normalised configuration:
//!
//! ```text
//! VpcId, Region, CidrBlock, IsDefault, State, OwnerId
//! FlowLogs    [{FlowLogId, FlowLogStatus, TrafficType, LogDestinationType}] of resource the VPC
//! Endpoints   [{VpcEndpointId, ServiceName, VpcEndpointType, State}]
//! ```

use std::collections::HashMap;

use aws_sdk_ec2::types::{Filter, Vpc};
use chrono::Utc;
use serde_json::{json, Value};
use tokio::sync::mpsc::Sender;

use super::{client, failure, is_not_found, send, AccountSession, Collected, CollectionError};
use crate::arn::{ArnScope, ArnShape};
use crate::collect::Described;
use crate::model::{Resource, Service};
use crate::policy::schema::{Field, Type};
use crate::registry::{Residence, ResourceKind};

/// The ARN shape of [`VPC`] (what the collector's own code forms ARNs with).
pub const VPC_SHAPE: ArnShape = ArnShape::new(
    Service::Ec2,
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
    ],
    fields: FIELDS,
    describe: |session, id| Box::pin(describe(session, id)),
    dependents: None,
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
];

/// Flow logs and endpoints of a region (or of one VPC), by VPC id.
#[derive(Default)]
struct Attached {
    flow_logs: HashMap<String, Vec<Value>>,
    endpoints: HashMap<String, Vec<Value>>,
}

async fn attached(
    session: &AccountSession,
    ec2: &aws_sdk_ec2::Client,
    region: &str,
    vpc: Option<&str>,
) -> Result<Attached, CollectionError> {
    let mut out = Attached::default();
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

fn resource(
    session: &AccountSession,
    region: &str,
    vpc: &Vpc,
    attached: &Attached,
) -> Option<Resource> {
    let id = vpc.vpc_id()?;
    Some(Resource {
        arn: VPC_SHAPE.arn(session.partition(), region, &session.account.account_id, id),
        account_id: session.account.account_id.clone(),
        service: Service::Ec2,
        resource_type: VPC_SHAPE.resource_type.into(),
        region: region.to_owned(),
        configuration: json!({
            "VpcId": id,
            "Region": region,
            "CidrBlock": vpc.cidr_block(),
            "IsDefault": vpc.is_default().unwrap_or(false),
            "State": vpc.state().map(|s| s.as_str()),
            "OwnerId": vpc.owner_id(),
            "FlowLogs": attached.flow_logs.get(id).cloned().unwrap_or_default(),
            "Endpoints": attached.endpoints.get(id).cloned().unwrap_or_default(),
        }),
        last_seen_at: Utc::now(),
    })
}

pub(crate) async fn collect(
    session: &AccountSession,
    ec2: &aws_sdk_ec2::Client,
    region: &str,
    out: &Sender<Collected>,
) -> Result<(), CollectionError> {
    let attached = attached(session, ec2, region, None).await?;
    let mut pages = ec2.describe_vpcs().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| failure(session, region, None, "DescribeVpcs", &e))?;
        for vpc in page.vpcs() {
            if let Some(r) = resource(session, region, vpc, &attached) {
                send(out, Collected::Resource(Box::new(r))).await;
            }
        }
    }
    Ok(())
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
        .map_err(|e| CollectionError {
            resource: Some(arn),
            ..e
        })?;
    Ok(resource(session, &region, vpc, &attached)
        .map(|r| Described::Found(Box::new(r)))
        .unwrap_or(Described::NotFound))
}
