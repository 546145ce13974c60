//! The EC2 collector: security groups, instances, EBS volumes, snapshots and AMIs owned by the
//! account, the per-region EBS encryption default, VPCs with their flow logs and endpoints,
//! subnets, network ACLs, Elastic IPs, launch templates, network interfaces, transit gateways and
//! the region's Block Public Access and instance metadata defaults,
//! in every region the account is collected in (see [`super::regions`]).
//!
//! One file per area, each declaring its kinds (ARN shape, permissions, schema, describe) next to
//! the code that builds their configuration:
//! - [`security_groups`] has `AWS::EC2::SecurityGroup`, rules normalised one entry per source so
//!   that the declarative conditions judge them exactly (protocol `-1` holds every port, a range
//!   holds each port inside it, `0.0.0.0/0` and `::/0` are the world, prefix lists and group
//!   references are not);
//! - [`instances`] has `AWS::EC2::Instance`, with user data scanned for secrets by `qrie-detectors`
//!   (only masked matches are kept);
//! - [`ebs`] has `AWS::EC2::Volume`, `AWS::EC2::Snapshot`, `AWS::EC2::Image` and
//!   `AWS::EC2::EbsEncryptionByDefault`;
//! - [`vpcs`] has `AWS::EC2::VPC`;
//! - [`network`] has `AWS::EC2::Subnet`, `AWS::EC2::NetworkAcl` (entries judged in rule order) and
//!   `AWS::EC2::EIP`;
//! - [`launch_templates`] has `AWS::EC2::LaunchTemplate`, every version with its user data scanned
//!   like an instance's;
//! - [`interfaces`] has `AWS::EC2::NetworkInterface` and `AWS::EC2::TransitGateway`;
//! - [`settings`] has `AWS::EC2::RegionSettings`: snapshot and AMI Block Public Access and the
//!   instance metadata defaults, each listed as unreadable when its call fails.
//!
//! Each region is listed on its own ([`super::regions::collect_regions`]): a listing call that
//! fails in a region (AccessDenied, an SCP, a region not enabled) fails that region only, and its
//! stored resources are kept. An attribute call that fails for one resource (a snapshot's
//! permissions, an instance's user data) makes that resource a [`Collected::Failed`] entry, never
//! a configuration with the setting left out.

pub mod ebs;
pub mod instances;
pub mod interfaces;
pub mod launch_templates;
pub mod network;
pub mod security_groups;
pub mod settings;
pub mod vpcs;

use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use tokio::sync::mpsc::Sender;

use chrono::Utc;
use serde_json::Value;

use super::{call_failure, AccountSession, Collected, CollectionError, Described};
use crate::arn::ArnShape;
use crate::model::{Resource, Service};
use crate::registry::ServiceEntry;

/// EC2 in the registry: every kind, listed region by region.
pub const SERVICE: ServiceEntry = ServiceEntry {
    service: Service::Ec2,
    kinds: &[
        &security_groups::SECURITY_GROUP,
        &instances::INSTANCE,
        &ebs::VOLUME,
        &ebs::SNAPSHOT,
        &ebs::IMAGE,
        &ebs::EBS_ENCRYPTION_BY_DEFAULT,
        &vpcs::VPC,
        &network::SUBNET,
        &network::NETWORK_ACL,
        &network::ELASTIC_IP,
        &launch_templates::LAUNCH_TEMPLATE,
        &interfaces::NETWORK_INTERFACE,
        &interfaces::TRANSIT_GATEWAY,
        &settings::REGION_SETTINGS,
    ],
    collect: |session, out| {
        Box::pin(super::regions::collect_regions(
            session,
            Service::Ec2,
            move |region| async move { collect_region(session, &region, out).await },
        ))
    },
};

/// Per-resource attribute calls (user data, snapshot and image permissions) made at once in
/// one region.
pub(crate) const ATTRIBUTE_CONCURRENCY: usize = 8;

/// An EC2 client of the session's account in `region`.
pub(crate) fn client(session: &AccountSession, region: &str) -> aws_sdk_ec2::Client {
    aws_sdk_ec2::Client::new(&session.config_in(region))
}

/// Lists every kind in one region. The first listing that fails fails the region.
async fn collect_region(
    session: &AccountSession,
    region: &str,
    out: &Sender<Collected>,
) -> Result<(), CollectionError> {
    let ec2 = client(session, region);
    ebs::collect_encryption_default(session, &ec2, region, out).await?;
    security_groups::collect(session, &ec2, region, out).await?;
    instances::collect(session, &ec2, region, out).await?;
    ebs::collect_volumes(session, &ec2, region, out).await?;
    ebs::collect_snapshots(session, &ec2, region, out).await?;
    ebs::collect_images(session, &ec2, region, out).await?;
    vpcs::collect(session, &ec2, region, out).await?;
    network::collect(session, &ec2, region, out).await?;
    launch_templates::collect(session, &ec2, region, out).await?;
    interfaces::collect(session, &ec2, region, out).await?;
    settings::collect(session, &ec2, region, out).await?;
    Ok(())
}

/// A failed EC2 call in `region`, about `resource` (an ARN) if it concerns one.
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
        service: Service::Ec2,
        region: Some(region.to_owned()),
        resource,
        operation: operation.to_owned(),
        code,
        message,
    }
}

/// True when the error says the named resource does not exist (`InvalidGroup.NotFound`,
/// `InvalidInstanceID.NotFound`, `InvalidVolume.NotFound`, ...), or its id is malformed (which
/// no resource of the account can have).
pub(crate) fn is_not_found<E, R>(err: &SdkError<E, R>) -> bool
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    err.code()
        .is_some_and(|c| c.ends_with(".NotFound") || c.ends_with(".Malformed"))
}

pub(crate) async fn send(out: &Sender<Collected>, item: Collected) {
    // The receiver only goes away when the run is aborted; nothing is left to deliver to then.
    let _ = out.send(item).await;
}

/// The outcome of a describe as an inventory item: a resource, a failure, or nothing (gone).
pub(crate) async fn send_described(
    out: &Sender<Collected>,
    arn: String,
    result: Result<Described, CollectionError>,
) {
    match result {
        Ok(Described::Found(resource)) => send(out, Collected::Resource(resource)).await,
        Ok(Described::NotFound) => {}
        Err(error) => {
            tracing::warn!(%error, "EC2 resource collection failed");
            send(out, Collected::Failed { arn, error }).await
        }
    }
}

/// A resource of `kind` in `region`, observed now.
pub(crate) fn resource(
    session: &AccountSession,
    kind: &ArnShape,
    region: &str,
    id: &str,
    configuration: Value,
) -> Resource {
    Resource {
        arn: kind.arn(session.partition(), region, &session.account.account_id, id),
        account_id: session.account.account_id.clone(),
        service: Service::Ec2,
        resource_type: kind.resource_type.into(),
        region: region.to_owned(),
        configuration,
        last_seen_at: Utc::now(),
    }
}

/// What a describe's answer says about the resource `id` of `shape`: the item when the answer
/// lists it, `None` when EC2 says it does not exist or lists nothing, else the call's failure
/// about it. (Clippy weighs the error of a synchronous function only; the describes that return
/// this value carry the same `CollectionError`.)
#[allow(clippy::result_large_err)]
pub(crate) fn lookup<T, E, R>(
    session: &AccountSession,
    shape: &ArnShape,
    region: &str,
    id: &str,
    operation: &str,
    answer: Result<Option<T>, SdkError<E, R>>,
) -> Result<Option<T>, CollectionError>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match answer {
        Ok(found) => Ok(found),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => {
            let arn = shape.arn(session.partition(), region, &session.account.account_id, id);
            Err(failure(session, region, Some(arn), operation, &e))
        }
    }
}

/// The outcome of describing the resource `id` of `shape`, whose configuration the answer holds
/// directly: found, not found, or the call's failure about it ([`lookup`]).
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
    Ok(
        match lookup(session, shape, region, id, operation, answer)? {
            Some(configuration) => Described::Found(Box::new(resource(
                session,
                shape,
                region,
                id,
                configuration,
            ))),
            None => Described::NotFound,
        },
    )
}

/// An SDK timestamp as RFC 3339 text.
pub(crate) fn timestamp(t: Option<&aws_smithy_types::DateTime>) -> Option<String> {
    t.and_then(|t| t.fmt(aws_smithy_types::date_time::Format::DateTime).ok())
}
