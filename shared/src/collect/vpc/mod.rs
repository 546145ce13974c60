//! The VPC collector: VPCs (with their flow logs, endpoints and subnets), subnets, route tables,
//! internet gateways, VPC endpoints, endpoint services, peering connections, Site-to-Site VPN
//! connections and the per-region VPC Block Public Access setting, in every region the account
//! is collected in (see [`super::regions`]).
//!
//! VPC is a qrie service of its own (`vpc`, partition `<account>_vpc`, policies in
//! `policies/vpc/`), though every call it makes is an EC2 API call (`ec2:Describe*`) and every
//! ARN it forms is an EC2 ARN (`arn:<partition>:ec2:<region>:<account>:vpc/vpc-...`): the
//! kinds' [`crate::arn::ArnShape`]s say `Service::Vpc` with the `ec2` ARN service. Network ACLs
//! and Elastic IPs stay in the EC2 service, as the catalogue files them.
//!
//! One file per area, each declaring its kinds (ARN shape, permissions, schema, describe) next to
//! the code that builds their configuration:
//! - [`vpcs`] has `AWS::EC2::VPC`, with its flow logs, endpoints and subnets (each subnet public
//!   or not, judged from its route table);
//! - [`subnets`] has `AWS::EC2::Subnet`;
//! - [`routes`] has `AWS::EC2::RouteTable` (routes with their target kind) and
//!   `AWS::EC2::InternetGateway` (attachments): what makes a subnet public;
//! - [`endpoints`] has `AWS::EC2::VPCEndpoint` (policy, type, private DNS, subnets) and
//!   `AWS::EC2::VPCEndpointService` (acceptance, allowed principals);
//! - [`peering`] has `AWS::EC2::VPCPeeringConnection` with the routes that send traffic through it;
//! - [`vpn`] has `AWS::EC2::VPNConnection` (tunnel states and logging options);
//! - [`block_public_access`] has `AWS::EC2::VPCBlockPublicAccessOptions`, one per region;
//! - [`spread`] has `AWS::EC2::VPCRegionSpread`, one per account: the regions holding a VPC of
//!   the account's own, known only once every region is listed.
//!
//! Each region is listed on its own ([`super::regions::collect_regions`]): a listing call that
//! fails in a region fails that region only, and its stored resources are kept. A call that fails
//! for one resource (an endpoint service's permissions, a region's Block Public Access options)
//! makes that resource a [`Collected::Failed`] entry, never a configuration with the setting left
//! out.

pub mod block_public_access;
pub mod endpoints;
pub mod peering;
pub mod routes;
pub mod spread;
pub mod subnets;
pub mod vpcs;
pub mod vpn;

use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use chrono::Utc;
use serde_json::Value;
use tokio::sync::mpsc::Sender;

use super::{call_failure, AccountSession, Collected, CollectionError, Completeness, Described};
use crate::arn::ArnShape;
use crate::model::{Resource, Service};
use crate::registry::ServiceEntry;

/// VPC in the registry: every kind, listed region by region.
pub const SERVICE: ServiceEntry = ServiceEntry {
    service: Service::Vpc,
    kinds: &[
        &vpcs::VPC,
        &subnets::SUBNET,
        &routes::ROUTE_TABLE,
        &routes::INTERNET_GATEWAY,
        &endpoints::VPC_ENDPOINT,
        &endpoints::VPC_ENDPOINT_SERVICE,
        &peering::PEERING_CONNECTION,
        &vpn::VPN_CONNECTION,
        &block_public_access::BLOCK_PUBLIC_ACCESS,
        &spread::VPC_REGION_SPREAD,
    ],
    collect: |session, out| Box::pin(collect_all(session, out)),
};

/// Lists every region ([`super::regions::collect_regions`]), then concludes the account-wide
/// region spread from what the regions saw.
async fn collect_all(session: &AccountSession, out: &Sender<Collected>) -> Completeness {
    let seen = std::sync::Mutex::new(spread::Spread::default());
    let record = &seen;
    let completeness = super::regions::collect_regions(session, Service::Vpc, move |region| {
        async move {
            let own = collect_region(session, &region, out).await?;
            // A poisoned lock only means another region's task panicked: its set is still whole.
            let mut spread = record.lock().unwrap_or_else(|p| p.into_inner());
            if own {
                spread.with_own_vpcs.insert(region.clone());
            }
            spread.listed.insert(region);
            Ok::<(), CollectionError>(())
        }
    })
    .await;
    let spread = seen.into_inner().unwrap_or_else(|p| p.into_inner());
    spread::conclude(session, &completeness, &spread, out).await;
    completeness
}

/// Per-resource calls (an endpoint service's permissions) made at once in one region.
pub(crate) const ATTRIBUTE_CONCURRENCY: usize = 8;

/// An EC2 client (the VPC API is EC2's) of the session's account in `region`.
pub(crate) fn client(session: &AccountSession, region: &str) -> aws_sdk_ec2::Client {
    aws_sdk_ec2::Client::new(&session.config_in(region))
}

/// Lists every kind in one region, and says whether it holds a VPC that is not its default one.
/// The first listing that fails fails the region.
async fn collect_region(
    session: &AccountSession,
    region: &str,
    out: &Sender<Collected>,
) -> Result<bool, CollectionError> {
    let ec2 = client(session, region);
    let tables = routes::list_route_tables(session, &ec2, region).await?;
    let own = vpcs::collect(session, &ec2, region, &tables, out).await?;
    subnets::collect(session, &ec2, region, out).await?;
    routes::collect(session, &ec2, region, &tables, out).await?;
    endpoints::collect(session, &ec2, region, out).await?;
    peering::collect(session, &ec2, region, &tables, out).await?;
    vpn::collect(session, &ec2, region, out).await?;
    block_public_access::collect(session, &ec2, region, out).await;
    Ok(own)
}

/// A failed VPC (EC2 API) call in `region`, about `resource` (an ARN) if it concerns one.
pub(crate) fn failure<E, R>(
    session: &AccountSession,
    region: &str,
    resource: Option<String>,
    operation: &str,
    err: &SdkError<E, R>,
) -> CollectionError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let (code, message) = call_failure(err);
    CollectionError {
        account_id: session.account.account_id.clone(),
        service: Service::Vpc,
        region: Some(region.to_owned()),
        resource,
        operation: operation.to_owned(),
        code,
        message,
    }
}

/// True when the error says the named resource does not exist (`InvalidVpcID.NotFound`,
/// `InvalidRouteTableID.NotFound`, ...), or its id is malformed (which no resource of the
/// account can have).
pub(crate) fn is_not_found<E, R>(err: &SdkError<E, R>) -> bool
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    err.code()
        .is_some_and(|c| c.ends_with(".NotFound") || c.ends_with(".Malformed"))
}

/// The resource `id` of `shape` in `region` of the session's account, in the `vpc` partition.
pub(crate) fn resource(
    session: &AccountSession,
    shape: &ArnShape,
    region: &str,
    id: &str,
    configuration: Value,
) -> Resource {
    Resource {
        arn: shape.arn(session.partition(), region, &session.account.account_id, id),
        account_id: session.account.account_id.clone(),
        service: Service::Vpc,
        resource_type: shape.resource_type.into(),
        region: region.to_owned(),
        configuration,
        last_seen_at: Utc::now(),
    }
}

/// Streams one resource out.
pub(crate) async fn send_resource(out: &Sender<Collected>, resource: Resource) {
    super::send(out, Collected::Resource(Box::new(resource))).await;
}

/// Streams a resource that could not be read completely out (never stored, never removed).
pub(crate) async fn send_failed(out: &Sender<Collected>, arn: String, error: CollectionError) {
    tracing::warn!(%error, "VPC resource collection failed");
    super::send(out, Collected::Failed { arn, error }).await;
}

/// The outcome of describing the resource `id` of `shape`: its configuration when the answer
/// lists it, not found when EC2 says so or lists nothing, else the call's failure about it.
/// (Clippy weighs the error of a synchronous function only; the describes that return this
/// value carry the same `CollectionError`.)
#[allow(clippy::result_large_err)]
pub(crate) fn described<E, R>(
    session: &AccountSession,
    shape: &ArnShape,
    region: &str,
    id: &str,
    operation: &str,
    answer: Result<Option<Value>, SdkError<E, R>>,
) -> Result<Described, CollectionError>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match answer {
        Ok(Some(configuration)) => Ok(Described::Found(Box::new(resource(
            session,
            shape,
            region,
            id,
            configuration,
        )))),
        Ok(None) => Ok(Described::NotFound),
        Err(e) if is_not_found(&e) => Ok(Described::NotFound),
        Err(e) => {
            let arn = shape.arn(session.partition(), region, &session.account.account_id, id);
            Err(failure(session, region, Some(arn), operation, &e))
        }
    }
}

/// A failure of a listing made while describing one resource, about that resource.
pub(crate) fn about(error: CollectionError, arn: String) -> CollectionError {
    CollectionError {
        resource: Some(arn),
        ..error
    }
}

/// True when `cidr` is the whole IPv4 or IPv6 internet.
pub(crate) fn is_world(cidr: &str) -> bool {
    cidr == "0.0.0.0/0" || cidr == "::/0"
}

/// True when the block `outer` holds every address of `inner` (same family, prefix no longer,
/// same leading bits). Unparsable blocks (a prefix list id) hold nothing and are held by nothing.
pub(crate) fn cidr_contains(outer: &str, inner: &str) -> bool {
    match (outer.parse::<ipnet::IpNet>(), inner.parse::<ipnet::IpNet>()) {
        (Ok(o), Ok(i)) => o.contains(&i),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_holds_the_blocks_inside_it_and_no_other() {
        // given blocks in both families
        // then a block holds itself and its sub-blocks
        assert!(cidr_contains("10.0.0.0/16", "10.0.0.0/16"));
        assert!(cidr_contains("10.0.0.0/8", "10.1.2.0/24"));
        assert!(cidr_contains("0.0.0.0/0", "192.168.0.0/16"));
        assert!(cidr_contains("::/0", "2600:1f18::/56"));
        // and neither a narrower one, a disjoint one nor the other family
        assert!(!cidr_contains("10.0.1.0/24", "10.0.0.0/16"));
        assert!(!cidr_contains("10.1.0.0/16", "10.2.0.0/16"));
        assert!(!cidr_contains("0.0.0.0/0", "2600:1f18::/56"));
        assert!(!cidr_contains("pl-123", "10.0.0.0/16"));
    }
}
