//! Where the account's own (non-default) VPCs are: one account-wide configuration, decided from
//! every collected region at once.
//!
//! Normalised configuration (one per account, id the account id, stored under the home region,
//! or the first region listed when the home region is not collected):
//!
//! ```text
//! Regions                      [region]: the regions collected, sorted
//! RegionsWithNonDefaultVpcs    [region]: those holding a VPC that is not the default one
//! NonDefaultVpcRegionCount     how many they are
//! ```
//!
//! It is only known once every region is listed: an inventory run in which a region's listing
//! failed makes it a [`Collected::Failed`] entry (the stored one is kept), never a count of the
//! regions that answered. A real-time refresh (after CreateVpc or DeleteVpc) lists the VPCs of
//! every region to collect again.

use std::collections::BTreeSet;

use serde_json::{json, Value};
use tokio::sync::mpsc::Sender;

use super::{client, failure, send_failed, send_resource, AccountSession, CollectionError};
use crate::arn::{ArnScope, ArnShape};
use crate::collect::regions::regions_to_collect;
use crate::collect::{Collected, Completeness, Described};
use crate::model::Service;
use crate::policy::schema::{Field, Type};
use crate::registry::{Residence, ResourceKind};

/// The ARN shape of [`VPC_REGION_SPREAD`] (what the collector's own code forms ARNs with).
pub const VPC_REGION_SPREAD_SHAPE: ArnShape = ArnShape::new(
    Service::Vpc,
    "ec2",
    "AWS::EC2::VPCRegionSpread",
    ArnScope::Account,
    "vpc-region-spread",
)
.singleton();

pub const VPC_REGION_SPREAD: ResourceKind = ResourceKind {
    shape: VPC_REGION_SPREAD_SHAPE,
    residence: Residence::Global,
    permissions: &["ec2:DescribeRegions", "ec2:DescribeVpcs"],
    fields: FIELDS,
    describe: |session, _id| Box::pin(describe(session)),
    dependents: None,
    relations: &[],
};

const FIELDS: &[Field] = &[
    Field::new("Regions", Type::Array(&Type::String)),
    Field::new("RegionsWithNonDefaultVpcs", Type::Array(&Type::String)),
    Field::new("NonDefaultVpcRegionCount", Type::Number),
];

/// What the regional listings saw: the regions listed, and those with a non-default VPC.
#[derive(Debug, Default)]
pub(crate) struct Spread {
    pub(crate) listed: BTreeSet<String>,
    pub(crate) with_own_vpcs: BTreeSet<String>,
}

fn configuration(spread: &Spread) -> Value {
    json!({
        "Regions": spread.listed,
        "RegionsWithNonDefaultVpcs": spread.with_own_vpcs,
        "NonDefaultVpcRegionCount": spread.with_own_vpcs.len(),
    })
}

fn arn(session: &AccountSession) -> String {
    let account = &session.account.account_id;
    VPC_REGION_SPREAD_SHAPE.arn(session.partition(), "", account, account)
}

/// The configuration as a resource, stored under the session's home region when it was listed,
/// else under the first region listed (so that the inventory never reports a region it did not
/// list).
fn resource_of(session: &AccountSession, spread: &Spread) -> crate::model::Resource {
    let account = session.account.account_id.clone();
    let home = session.home_region();
    let region = if spread.listed.contains(home) || spread.listed.is_empty() {
        home
    } else {
        spread
            .listed
            .iter()
            .next()
            .map(String::as_str)
            .unwrap_or(home)
    };
    super::resource(
        session,
        &VPC_REGION_SPREAD_SHAPE,
        region,
        &account,
        configuration(spread),
    )
}

/// After every region's listing: the account-wide configuration, or a failed entry when some
/// listing did not finish.
pub(crate) async fn conclude(
    session: &AccountSession,
    completeness: &Completeness,
    spread: &Spread,
    out: &Sender<Collected>,
) {
    match completeness.failures().first() {
        None => send_resource(out, resource_of(session, spread)).await,
        Some(failed) => {
            let error = CollectionError {
                resource: Some(arn(session)),
                ..failed.error.clone()
            };
            send_failed(out, arn(session), error).await;
        }
    }
}

/// True when the region holds a VPC that is not its default one (every page read).
pub(crate) async fn has_own_vpc(
    session: &AccountSession,
    ec2: &aws_sdk_ec2::Client,
    region: &str,
) -> Result<bool, CollectionError> {
    let mut pages = ec2.describe_vpcs().into_paginator().send();
    let mut found = false;
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| failure(session, region, None, "DescribeVpcs", &e))?;
        found |= page.vpcs().iter().any(|v| v.is_default() != Some(true));
    }
    Ok(found)
}

/// Lists the VPCs of every region to collect, one region after the other (a rare event).
pub async fn describe(session: &AccountSession) -> Result<Described, CollectionError> {
    let about_it = |e: CollectionError| CollectionError {
        resource: Some(arn(session)),
        ..e
    };
    let regions = regions_to_collect(session, Service::Vpc)
        .await
        .map_err(about_it)?;
    let mut spread = Spread::default();
    for region in regions {
        let own = has_own_vpc(session, &client(session, &region), &region)
            .await
            .map_err(about_it)?;
        if own {
            spread.with_own_vpcs.insert(region.clone());
        }
        spread.listed.insert(region);
    }
    Ok(Described::Found(Box::new(resource_of(session, &spread))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spread_counts_the_regions_with_own_vpcs() {
        // given three regions listed, two with a VPC of their own
        let spread = Spread {
            listed: ["eu-west-1", "us-east-1", "us-west-2"]
                .map(String::from)
                .into(),
            with_own_vpcs: ["us-west-2", "eu-west-1"].map(String::from).into(),
        };
        // then both are named, sorted, and counted
        assert_eq!(
            configuration(&spread),
            json!({
                "Regions": ["eu-west-1", "us-east-1", "us-west-2"],
                "RegionsWithNonDefaultVpcs": ["eu-west-1", "us-west-2"],
                "NonDefaultVpcRegionCount": 2,
            })
        );
    }
}
