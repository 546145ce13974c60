//! VPC Block Public Access: the per-region account setting that blocks internet gateway traffic
//! to and from the region's VPCs (`ec2:DescribeVpcBlockPublicAccessOptions`).
//!
//! Normalised configuration (one per account and region, id the account id):
//!
//! ```text
//! Region, State, InternetGatewayBlockMode (off | block-bidirectional | block-ingress),
//! ExclusionsAllowed, ManagedBy
//! ```
//!
//! A failed call (AccessDenied, or a local AWS without the API) makes the region's setting a
//! [`Collected::Failed`] entry: never stored as "off", and what was stored is kept. It does not
//! fail the region's listing of the other kinds.

use aws_sdk_ec2::types::VpcBlockPublicAccessOptions;
use serde_json::{json, Value};
use tokio::sync::mpsc::Sender;

use super::{client, failure, send_failed, send_resource, AccountSession, CollectionError};
use crate::arn::{ArnScope, ArnShape};
use crate::collect::{Collected, Described};
use crate::model::Service;
use crate::policy::schema::{Field, Type};
use crate::registry::{Residence, ResourceKind};

/// The ARN shape of [`BLOCK_PUBLIC_ACCESS`] (what the collector's own code forms ARNs with).
pub const BLOCK_PUBLIC_ACCESS_SHAPE: ArnShape = ArnShape::new(
    Service::Vpc,
    "ec2",
    "AWS::EC2::VPCBlockPublicAccessOptions",
    ArnScope::Regional,
    "vpc-block-public-access-options",
)
.singleton();

pub const BLOCK_PUBLIC_ACCESS: ResourceKind = ResourceKind {
    shape: BLOCK_PUBLIC_ACCESS_SHAPE,
    residence: Residence::Regional,
    permissions: &[
        "ec2:DescribeRegions",
        "ec2:DescribeVpcBlockPublicAccessOptions",
    ],
    fields: FIELDS,
    describe: |session, _id| Box::pin(describe(session)),
    dependents: None,
    relations: &[],
};

const FIELDS: &[Field] = &[
    Field::new("Region", Type::String),
    Field::new("State", Type::String).nullable(),
    Field::new("InternetGatewayBlockMode", Type::String).nullable(),
    Field::new("ExclusionsAllowed", Type::String).nullable(),
    Field::new("ManagedBy", Type::String).nullable(),
];

fn configuration(region: &str, options: Option<&VpcBlockPublicAccessOptions>) -> Value {
    json!({
        "Region": region,
        "State": options.and_then(|o| o.state()).map(|s| s.as_str()),
        // EC2 answers every region, so an answer without a mode is the default: off.
        "InternetGatewayBlockMode": options
            .and_then(|o| o.internet_gateway_block_mode())
            .map(|m| m.as_str())
            .unwrap_or("off"),
        "ExclusionsAllowed": options.and_then(|o| o.exclusions_allowed()).map(|e| e.as_str()),
        "ManagedBy": options.and_then(|o| o.managed_by()).map(|m| m.as_str()),
    })
}

async fn read(
    session: &AccountSession,
    ec2: &aws_sdk_ec2::Client,
    region: &str,
) -> Result<Value, CollectionError> {
    let account = &session.account.account_id;
    match ec2.describe_vpc_block_public_access_options().send().await {
        Ok(out) => Ok(configuration(region, out.vpc_block_public_access_options())),
        Err(e) => {
            let arn = BLOCK_PUBLIC_ACCESS_SHAPE.arn(session.partition(), region, account, account);
            Err(failure(
                session,
                region,
                Some(arn),
                "DescribeVpcBlockPublicAccessOptions",
                &e,
            ))
        }
    }
}

/// Reads the region's setting: a resource, or a failed entry (the region's listing goes on).
pub(crate) async fn collect(
    session: &AccountSession,
    ec2: &aws_sdk_ec2::Client,
    region: &str,
    out: &Sender<Collected>,
) {
    let account = session.account.account_id.clone();
    match read(session, ec2, region).await {
        Ok(c) => {
            let r = super::resource(session, &BLOCK_PUBLIC_ACCESS_SHAPE, region, &account, c);
            send_resource(out, r).await;
        }
        Err(error) => {
            let arn =
                BLOCK_PUBLIC_ACCESS_SHAPE.arn(session.partition(), region, &account, &account);
            send_failed(out, arn, error).await;
        }
    }
}

pub async fn describe(session: &AccountSession) -> Result<Described, CollectionError> {
    let region = session.home_region().to_owned();
    let account = session.account.account_id.clone();
    let c = read(session, &client(session, &region), &region).await?;
    Ok(Described::Found(Box::new(super::resource(
        session,
        &BLOCK_PUBLIC_ACCESS_SHAPE,
        &region,
        &account,
        c,
    ))))
}
