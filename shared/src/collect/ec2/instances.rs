//! Instances, with their user data scanned for secrets.
//!
//! Normalised configuration:
//!
//! ```text
//! InstanceId, Region, State (pending | running | stopping | stopped | shutting-down)
//! InstanceType, ImageId, LaunchTime, SubnetId, VpcId, VirtualizationType
//! PublicIpAddress             | null
//! IamInstanceProfileArn       | null
//! SecurityGroupIds            [group id]
//! Monitoring                  enabled | disabled | pending | disabling
//! MetadataOptions             {HttpTokens: required | optional, HttpEndpoint: enabled | disabled,
//!                              HttpPutResponseHopLimit} | null
//! NetworkInterfaceCount       interfaces attached
//! EnclaveEnabled              the instance is a Nitro Enclaves parent (EnclaveOptions.Enabled)
//! StateTransitionTime         when the instance entered its state, RFC 3339, read from the
//!                             `(YYYY-MM-DD HH:MM:SS GMT)` that AWS writes (the local AWS: UTC) in the
//!                             StateTransitionReason of a stopped instance | null when the
//!                             reason carries no time
//! UserDataSecrets             [{Detector, Masked, Offset}]: what `qrie-detectors` finds in the
//!                             user data (base64-decoded, gunzipped when compressed)
//! ```
//!
//! The user data itself is never stored or logged: only the detectors' masked matches. A
//! terminated instance is gone (not collected; a describe of one is "not found").

use std::io::Read;

use aws_sdk_ec2::types::{Instance, InstanceAttributeName};
use chrono::Utc;
use futures::StreamExt;
use qrie_detectors::{DetectorKind, Detectors};
use serde_json::{json, Value};
use tokio::sync::mpsc::Sender;

use super::{
    client, failure, is_not_found, lookup, send_described, timestamp, AccountSession, Collected,
    CollectionError, ATTRIBUTE_CONCURRENCY,
};
use crate::arn::{ArnScope, ArnShape};
use crate::collect::Described;
use crate::model::{Resource, Service};
use crate::policy::schema::{Field, Type};
use crate::registry::{Relation, Residence, ResourceKind};

/// The ARN shape of [`INSTANCE`] (what the collector's own code forms ARNs with).
pub const INSTANCE_SHAPE: ArnShape = ArnShape::new(
    Service::Ec2,
    "ec2",
    "AWS::EC2::Instance",
    ArnScope::Regional,
    "instance/",
);

pub const INSTANCE: ResourceKind = ResourceKind {
    shape: INSTANCE_SHAPE,
    residence: Residence::Regional,
    permissions: &[
        "ec2:DescribeRegions",
        "ec2:DescribeInstances",
        "ec2:DescribeInstanceAttribute",
    ],
    fields: FIELDS,
    describe: |session, id| Box::pin(describe(session, id)),
    dependents: None,
    relations: INSTANCE_RELATIONS,
};

/// What an instance's policies may follow: its security groups, its subnet (and through it
/// the route table and network ACL), and the role of its instance profile.
const INSTANCE_RELATIONS: &[Relation] = &[
    Relation {
        name: "SecurityGroups",
        target: Type::Kind("AWS::EC2::SecurityGroup"),
        local: "SecurityGroupIds",
        remote: "GroupId",
        same_region: true,
        only_where: None,
        otherwise: None,
    },
    Relation {
        name: "Subnet",
        target: Type::Kind("AWS::EC2::Subnet"),
        local: "SubnetId",
        remote: "SubnetId",
        same_region: true,
        only_where: None,
        otherwise: None,
    },
    Relation {
        name: "InstanceProfileRole",
        target: Type::Kind("AWS::IAM::Role"),
        local: "IamInstanceProfileArn",
        remote: "InstanceProfileArns",
        same_region: false,
        only_where: None,
        otherwise: None,
    },
];

const FIELDS: &[Field] = &[
    Field::new("InstanceId", Type::String),
    Field::new("Region", Type::String),
    Field::new("State", Type::String),
    Field::new("InstanceType", Type::String).nullable(),
    Field::new("ImageId", Type::String).nullable(),
    Field::new("LaunchTime", Type::String).nullable(),
    Field::new("SubnetId", Type::String).nullable(),
    Field::new("VpcId", Type::String).nullable(),
    Field::new("VirtualizationType", Type::String).nullable(),
    Field::new("PublicIpAddress", Type::String).nullable(),
    Field::new("IamInstanceProfileArn", Type::String).nullable(),
    Field::new("SecurityGroupIds", Type::Array(&Type::String)),
    Field::new("Monitoring", Type::String).nullable(),
    Field::new(
        "MetadataOptions",
        Type::Object(&[
            Field::new("HttpTokens", Type::String).nullable(),
            Field::new("HttpEndpoint", Type::String).nullable(),
            Field::new("HttpPutResponseHopLimit", Type::Number).nullable(),
        ]),
    )
    .nullable(),
    Field::new("NetworkInterfaceCount", Type::Number),
    Field::new("EnclaveEnabled", Type::Bool),
    Field::new("StateTransitionTime", Type::String).nullable(),
    Field::new("UserDataSecrets", Type::Array(&Type::Object(SECRET_FIELDS))),
];

/// One masked detection in user data (shared with launch templates).
pub(crate) const SECRET_FIELDS: &[Field] = &[
    Field::new("Detector", Type::String),
    Field::new("Masked", Type::String),
    Field::new("Offset", Type::Number),
];

/// The detectors run over user data: credentials (the other kinds, e-mail addresses and phone
/// numbers, are ordinary in bootstrap scripts).
const USER_DATA_DETECTORS: &[DetectorKind] = &[
    DetectorKind::AwsAccessKeyId,
    DetectorKind::AwsSecretAccessKey,
];

/// The most decompressed user data scanned (AWS caps user data at 16 KB before base64).
const MAX_USER_DATA: u64 = 1024 * 1024;

/// The ARN of instance `id`.
pub fn arn(session: &AccountSession, region: &str, id: &str) -> String {
    INSTANCE_SHAPE.arn(session.partition(), region, &session.account.account_id, id)
}

/// The masked secrets in base64 user data, as the configuration holds them. The decoded bytes
/// live only inside this function.
pub fn user_data_secrets(base64: &str) -> Vec<Value> {
    let Ok(mut bytes) = aws_smithy_types::base64::decode(base64.trim()) else {
        return Vec::new();
    };
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut inflated = Vec::new();
        let decoder = flate2::read::GzDecoder::new(bytes.as_slice());
        if decoder
            .take(MAX_USER_DATA)
            .read_to_end(&mut inflated)
            .is_ok()
        {
            bytes = inflated;
        }
    }
    Detectors::with_kinds(USER_DATA_DETECTORS)
        .scan(&bytes)
        .into_iter()
        .map(|d| json!({"Detector": d.kind.as_str(), "Masked": d.masked, "Offset": d.start}))
        .collect()
}

fn configuration(region: &str, i: &Instance, secrets: Vec<Value>) -> Value {
    let metadata = i.metadata_options().map(|m| {
        json!({
            "HttpTokens": m.http_tokens().map(|t| t.as_str()),
            "HttpEndpoint": m.http_endpoint().map(|t| t.as_str()),
            "HttpPutResponseHopLimit": m.http_put_response_hop_limit(),
        })
    });
    let groups: Vec<&str> = i
        .security_groups()
        .iter()
        .filter_map(|g| g.group_id())
        .collect();
    json!({
        "InstanceId": i.instance_id(),
        "Region": region,
        "State": i.state().and_then(|s| s.name()).map(|n| n.as_str()).unwrap_or("unknown"),
        "InstanceType": i.instance_type().map(|t| t.as_str()),
        "ImageId": i.image_id(),
        "LaunchTime": timestamp(i.launch_time()),
        "SubnetId": i.subnet_id(),
        "VpcId": i.vpc_id(),
        "VirtualizationType": i.virtualization_type().map(|v| v.as_str()),
        "PublicIpAddress": i.public_ip_address(),
        "IamInstanceProfileArn": i.iam_instance_profile().and_then(|p| p.arn()),
        "SecurityGroupIds": groups,
        "Monitoring": i.monitoring().and_then(|m| m.state()).map(|s| s.as_str()),
        "MetadataOptions": metadata,
        "NetworkInterfaceCount": i.network_interfaces().len(),
        "EnclaveEnabled": i.enclave_options().and_then(|e| e.enabled()).unwrap_or(false),
        "StateTransitionTime": i.state_transition_reason().and_then(transition_time),
        "UserDataSecrets": secrets,
    })
}

/// The time in a StateTransitionReason (`User initiated (2026-01-01 12:00:00 GMT)`), as
/// RFC 3339; `None` when the text holds none (a running instance's reason is empty).
pub fn transition_time(reason: &str) -> Option<String> {
    let open = reason.rfind('(')?;
    let inner = reason[open + 1..].strip_suffix(')')?.trim();
    // AWS writes GMT; the local AWS writes UTC.
    let stamp = ["GMT", "UTC"]
        .iter()
        .find_map(|zone| inner.strip_suffix(zone))
        .unwrap_or(inner)
        .trim();
    let time = chrono::NaiveDateTime::parse_from_str(stamp, "%Y-%m-%d %H:%M:%S").ok()?;
    Some(
        time.and_utc()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    )
}

fn is_terminated(i: &Instance) -> bool {
    i.state()
        .and_then(|s| s.name())
        .is_some_and(|n| n.as_str() == "terminated")
}

/// Reads the instance's user data and builds the resource.
async fn build(
    session: &AccountSession,
    ec2: &aws_sdk_ec2::Client,
    region: &str,
    instance: &Instance,
) -> Result<Described, CollectionError> {
    let id = instance.instance_id().unwrap_or_default();
    let arn = arn(session, region, id);
    let observed = Utc::now();
    let user_data = ec2
        .describe_instance_attribute()
        .instance_id(id)
        .attribute(InstanceAttributeName::UserData)
        .send()
        .await;
    let secrets = match user_data {
        Ok(out) => out
            .user_data()
            .and_then(|v| v.value())
            .map(user_data_secrets)
            .unwrap_or_default(),
        Err(e) if is_not_found(&e) => return Ok(Described::NotFound),
        Err(e) => {
            return Err(failure(
                session,
                region,
                Some(arn),
                "DescribeInstanceAttribute (userData)",
                &e,
            ))
        }
    };
    Ok(Described::Found(Box::new(Resource {
        arn,
        account_id: session.account.account_id.clone(),
        service: Service::Ec2,
        resource_type: INSTANCE_SHAPE.resource_type.into(),
        region: region.to_owned(),
        configuration: configuration(region, instance, secrets),
        last_seen_at: observed,
    })))
}

/// Lists every instance of `region` that is not terminated.
pub(crate) async fn collect(
    session: &AccountSession,
    ec2: &aws_sdk_ec2::Client,
    region: &str,
    out: &Sender<Collected>,
) -> Result<(), CollectionError> {
    let mut pages = ec2.describe_instances().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| failure(session, region, None, "DescribeInstances", &e))?;
        let instances: Vec<Instance> = page
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .filter(|i| i.instance_id().is_some() && !is_terminated(i))
            .cloned()
            .collect();
        let mut built = futures::stream::iter(instances)
            .map(|i: Instance| async move {
                let id = i.instance_id().unwrap_or_default();
                (
                    arn(session, region, id),
                    build(session, ec2, region, &i).await,
                )
            })
            .buffer_unordered(ATTRIBUTE_CONCURRENCY);
        while let Some((arn, result)) = built.next().await {
            send_described(out, arn, result).await;
        }
    }
    Ok(())
}

/// Re-describes one instance in the session's home region.
pub async fn describe(session: &AccountSession, id: &str) -> Result<Described, CollectionError> {
    let region = session.home_region().to_owned();
    let ec2 = client(session, &region);
    let answer = ec2
        .describe_instances()
        .instance_ids(id)
        .send()
        .await
        .map(|page| {
            page.reservations
                .unwrap_or_default()
                .into_iter()
                .flat_map(|r| r.instances.unwrap_or_default())
                .find(|i| i.instance_id() == Some(id) && !is_terminated(i))
        });
    let found = lookup(
        session,
        &INSTANCE_SHAPE,
        &region,
        id,
        "DescribeInstances",
        answer,
    )?;
    match found {
        Some(instance) => build(session, &ec2, &region, &instance).await,
        None => Ok(Described::NotFound),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(text: &[u8]) -> String {
        aws_smithy_types::base64::encode(text)
    }

    #[test]
    fn a_key_in_user_data_is_found_and_only_masked() {
        // given user data exporting an access key id and its secret
        let script = b"#!/bin/sh\nexport AWS_ACCESS_KEY_ID=AKIAQWERTYUIOPASDFGH\nexport AWS_SECRET_ACCESS_KEY=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\n";
        // when
        let secrets = user_data_secrets(&b64(script));
        // then both are found, and neither value is kept
        let kinds: Vec<&str> = secrets
            .iter()
            .map(|s| s["Detector"].as_str().unwrap())
            .collect();
        assert!(kinds.contains(&"aws_access_key_id"), "{secrets:?}");
        let text = serde_json::to_string(&secrets).unwrap();
        assert!(!text.contains("AKIAQWERTYUIOPASDFGH"));
        assert!(!text.contains("q8Zr4bT7nVx2LmK9pW3sD6fH1jY5cA0eGuNtRoIz"));
    }

    #[test]
    fn the_stop_time_is_read_from_the_transition_reason() {
        // given the reasons AWS writes
        // then the time inside the parentheses is kept, and a reason without one gives none
        assert_eq!(
            transition_time("User initiated (2026-01-05 17:01:32 GMT)").as_deref(),
            Some("2026-01-05T17:01:32Z")
        );
        assert_eq!(
            transition_time("User initiated (2026-01-05 17:01:32 UTC)").as_deref(),
            Some("2026-01-05T17:01:32Z")
        );
        assert_eq!(transition_time(""), None);
        assert_eq!(transition_time("Server.ScheduledStop (not a time)"), None);
    }

    #[test]
    fn gzipped_user_data_is_scanned_and_plain_scripts_are_clean() {
        // given a gzipped script with a key id, and a clean one
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(b"key=AKIAQWERTYUIOPASDFGH\n").unwrap();
        let zipped = gz.finish().unwrap();
        // then
        assert_eq!(user_data_secrets(&b64(&zipped)).len(), 1);
        assert!(user_data_secrets(&b64(b"#!/bin/sh\nyum -y update\n")).is_empty());
        assert!(user_data_secrets("not base64 !!").is_empty());
    }
}
