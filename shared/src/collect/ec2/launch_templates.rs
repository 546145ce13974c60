//! Launch templates, with every version's metadata options, public IP assignment and the
//! secrets in its user data.
//!
//! Normalised configuration:
//!
//! ```text
//! LaunchTemplateId, LaunchTemplateName, Region, DefaultVersionNumber, LatestVersionNumber
//! Versions [{VersionNumber, IsDefault,
//!            HttpTokens | null, HttpEndpoint | null      (null: the template leaves them to the
//!                                                         account's and the AMI's defaults)
//!            AssociatesPublicIp    some network interface of the version asks for a public IP
//!            EbsVolumes            [{DeviceName | null, Encrypted: true | false | null}]: the
//!                                  version's EBS block device mappings (null: not set, the
//!                                  snapshot's and the region's default decide)
//!            UserDataSecrets       [{Detector, Masked, Offset}], as for instances}]
//! ```
//!
//! The user data itself is never stored or logged. A template whose versions cannot be read is a
//! failed resource (left as stored).

use aws_sdk_ec2::types::{LaunchTemplate, LaunchTemplateVersion};
use chrono::Utc;
use futures::StreamExt;
use serde_json::{json, Value};
use tokio::sync::mpsc::Sender;

use super::instances::{user_data_secrets, SECRET_FIELDS};
use super::{
    client, failure, is_not_found, lookup, send_described, AccountSession, Collected,
    CollectionError, ATTRIBUTE_CONCURRENCY,
};
use crate::arn::{ArnScope, ArnShape};
use crate::collect::Described;
use crate::model::{Resource, Service};
use crate::policy::schema::{Field, Type};
use crate::registry::{Residence, ResourceKind};

/// The ARN shape of [`LAUNCH_TEMPLATE`].
pub const LAUNCH_TEMPLATE_SHAPE: ArnShape = ArnShape::new(
    Service::Ec2,
    "ec2",
    "AWS::EC2::LaunchTemplate",
    ArnScope::Regional,
    "launch-template/",
);

pub const LAUNCH_TEMPLATE: ResourceKind = ResourceKind {
    shape: LAUNCH_TEMPLATE_SHAPE,
    residence: Residence::Regional,
    permissions: &[
        "ec2:DescribeRegions",
        "ec2:DescribeLaunchTemplates",
        "ec2:DescribeLaunchTemplateVersions",
    ],
    fields: FIELDS,
    describe: |session, id| Box::pin(describe(session, id)),
    dependents: None,
    relations: &[],
};

const FIELDS: &[Field] = &[
    Field::new("LaunchTemplateId", Type::String),
    Field::new("LaunchTemplateName", Type::String).nullable(),
    Field::new("Region", Type::String),
    Field::new("DefaultVersionNumber", Type::Number).nullable(),
    Field::new("LatestVersionNumber", Type::Number).nullable(),
    Field::new(
        "Versions",
        Type::Array(&Type::Object(&[
            Field::new("VersionNumber", Type::Number),
            Field::new("IsDefault", Type::Bool),
            Field::new("HttpTokens", Type::String).nullable(),
            Field::new("HttpEndpoint", Type::String).nullable(),
            Field::new("AssociatesPublicIp", Type::Bool),
            Field::new(
                "EbsVolumes",
                Type::Array(&Type::Object(&[
                    Field::new("DeviceName", Type::String).nullable(),
                    Field::new("Encrypted", Type::Bool).nullable(),
                ])),
            ),
            Field::new("UserDataSecrets", Type::Array(&Type::Object(SECRET_FIELDS))),
        ])),
    ),
];

fn arn(session: &AccountSession, region: &str, id: &str) -> String {
    LAUNCH_TEMPLATE_SHAPE.arn(session.partition(), region, &session.account.account_id, id)
}

fn version(v: &LaunchTemplateVersion) -> Value {
    let data = v.launch_template_data();
    let metadata = data.and_then(|d| d.metadata_options());
    let public = data.is_some_and(|d| {
        d.network_interfaces()
            .iter()
            .any(|n| n.associate_public_ip_address() == Some(true))
    });
    let ebs: Vec<Value> = data
        .map(|d| d.block_device_mappings())
        .unwrap_or_default()
        .iter()
        .filter_map(|m| {
            m.ebs()
                .map(|e| json!({"DeviceName": m.device_name(), "Encrypted": e.encrypted()}))
        })
        .collect();
    json!({
        "VersionNumber": v.version_number().unwrap_or(0),
        "IsDefault": v.default_version().unwrap_or(false),
        "HttpTokens": metadata.and_then(|m| m.http_tokens()).map(|t| t.as_str()),
        "HttpEndpoint": metadata.and_then(|m| m.http_endpoint()).map(|e| e.as_str()),
        "AssociatesPublicIp": public,
        "EbsVolumes": ebs,
        "UserDataSecrets": data.and_then(|d| d.user_data()).map(user_data_secrets).unwrap_or_default(),
    })
}

/// Reads every version of `template` and builds the resource.
async fn build(
    session: &AccountSession,
    ec2: &aws_sdk_ec2::Client,
    region: &str,
    template: &LaunchTemplate,
) -> Result<Described, CollectionError> {
    let id = template.launch_template_id().unwrap_or_default();
    let observed = Utc::now();
    let mut versions = Vec::new();
    let mut pages = ec2
        .describe_launch_template_versions()
        .launch_template_id(id)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        match page {
            Ok(page) => versions.extend(page.launch_template_versions().iter().map(version)),
            Err(e) if is_not_found(&e) => return Ok(Described::NotFound),
            Err(e) => {
                let arn = arn(session, region, id);
                return Err(failure(
                    session,
                    region,
                    Some(arn),
                    "DescribeLaunchTemplateVersions",
                    &e,
                ));
            }
        }
    }
    Ok(Described::Found(Box::new(Resource {
        arn: arn(session, region, id),
        account_id: session.account.account_id.clone(),
        service: Service::Ec2,
        resource_type: LAUNCH_TEMPLATE_SHAPE.resource_type.into(),
        region: region.to_owned(),
        configuration: json!({
            "LaunchTemplateId": id,
            "LaunchTemplateName": template.launch_template_name(),
            "Region": region,
            "DefaultVersionNumber": template.default_version_number(),
            "LatestVersionNumber": template.latest_version_number(),
            "Versions": versions,
        }),
        last_seen_at: observed,
    })))
}

pub(crate) async fn collect(
    session: &AccountSession,
    ec2: &aws_sdk_ec2::Client,
    region: &str,
    out: &Sender<Collected>,
) -> Result<(), CollectionError> {
    let mut pages = ec2.describe_launch_templates().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page =
            page.map_err(|e| failure(session, region, None, "DescribeLaunchTemplates", &e))?;
        let templates: Vec<LaunchTemplate> = page
            .launch_templates()
            .iter()
            .filter(|t| t.launch_template_id().is_some())
            .cloned()
            .collect();
        let mut built = futures::stream::iter(templates)
            .map(|t: LaunchTemplate| async move {
                let id = t.launch_template_id().unwrap_or_default();
                (
                    arn(session, region, id),
                    build(session, ec2, region, &t).await,
                )
            })
            .buffer_unordered(ATTRIBUTE_CONCURRENCY);
        while let Some((arn, result)) = built.next().await {
            send_described(out, arn, result).await;
        }
    }
    Ok(())
}

pub async fn describe(session: &AccountSession, id: &str) -> Result<Described, CollectionError> {
    let region = session.home_region().to_owned();
    let ec2 = client(session, &region);
    let answer = ec2
        .describe_launch_templates()
        .launch_template_ids(id)
        .send()
        .await
        .map(|out| {
            out.launch_templates
                .unwrap_or_default()
                .into_iter()
                .find(|t| t.launch_template_id() == Some(id))
        });
    let found = lookup(
        session,
        &LAUNCH_TEMPLATE_SHAPE,
        &region,
        id,
        "DescribeLaunchTemplates",
        answer,
    )?;
    match found {
        Some(t) => build(session, &ec2, &region, &t).await,
        None => Ok(Described::NotFound),
    }
}
