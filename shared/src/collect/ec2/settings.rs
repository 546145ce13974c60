//! The region's account-level EC2 settings: snapshot and AMI Block Public Access and the
//! instance metadata defaults.
//!
//! Normalised configuration (one resource per region, `AWS::EC2::RegionSettings`):
//!
//! ```text
//! Region, AccountId
//! SnapshotBlockPublicAccess   block-all-sharing | block-new-sharing | unblocked
//! ImageBlockPublicAccess      block-new-sharing | unblocked
//! InstanceMetadataDefaults    {HttpTokens, HttpEndpoint, HttpPutResponseHopLimit}: the
//!                             region's defaults for new instances, each null when not set
//!                             (the AMI's and AWS's own defaults apply: IMDSv1 allowed)
//! ```
//!
//! Each setting is read by its own call. A call that fails (AccessDenied, or the local AWS, which
//! implements none of the three) leaves its setting out and lists it in `Unreadable`: the
//! policies reading it are not evaluated, so a setting that cannot be read is never reported as
//! off, and never as on.

use serde_json::{json, Map, Value};
use tokio::sync::mpsc::Sender;

use super::{client, failure, resource, send, AccountSession, Collected, CollectionError};
use crate::arn::{ArnScope, ArnShape};
use crate::collect::Described;
use crate::model::{Service, UnreadablePart, UNREADABLE};
use crate::policy::schema::{Field, Type, UNREADABLE_FIELD};
use crate::registry::{Residence, ResourceKind};

/// The ARN shape of [`REGION_SETTINGS`].
pub const REGION_SETTINGS_SHAPE: ArnShape = ArnShape::new(
    Service::Ec2,
    "ec2",
    "AWS::EC2::RegionSettings",
    ArnScope::Regional,
    "region-settings",
)
.singleton();

pub const REGION_SETTINGS: ResourceKind = ResourceKind {
    shape: REGION_SETTINGS_SHAPE,
    residence: Residence::Regional,
    permissions: &[
        "ec2:DescribeRegions",
        "ec2:GetSnapshotBlockPublicAccessState",
        "ec2:GetImageBlockPublicAccessState",
        "ec2:GetInstanceMetadataDefaults",
    ],
    fields: FIELDS,
    describe: |session, _account| Box::pin(describe(session)),
    dependents: None,
    relations: &[],
};

const FIELDS: &[Field] = &[
    Field::new("Region", Type::String),
    Field::new("AccountId", Type::String),
    Field::new("SnapshotBlockPublicAccess", Type::String)
        .nullable()
        .optional(),
    Field::new("ImageBlockPublicAccess", Type::String)
        .nullable()
        .optional(),
    Field::new(
        "InstanceMetadataDefaults",
        Type::Object(&[
            Field::new("HttpTokens", Type::String).nullable(),
            Field::new("HttpEndpoint", Type::String).nullable(),
            Field::new("HttpPutResponseHopLimit", Type::Number).nullable(),
        ]),
    )
    .optional(),
    UNREADABLE_FIELD,
];

/// One setting's answer: its value, or the failed call.
type Read = Result<Value, CollectionError>;

/// The configuration from the three answers: each read setting at its path, each failed one
/// listed in `Unreadable`.
fn configuration(region: &str, account: &str, settings: [(&str, Read); 3]) -> Value {
    let mut c = Map::new();
    c.insert("Region".into(), json!(region));
    c.insert("AccountId".into(), json!(account));
    let mut unreadable = Vec::new();
    for (path, read) in settings {
        match read {
            Ok(value) => {
                c.insert(path.into(), value);
            }
            Err(error) => {
                tracing::warn!(%error, "EC2 region setting unreadable");
                unreadable.push(UnreadablePart {
                    path: path.into(),
                    operation: error.operation,
                    code: error.code,
                });
            }
        }
    }
    if !unreadable.is_empty() {
        c.insert(
            UNREADABLE.into(),
            serde_json::to_value(unreadable).unwrap_or_else(|_| json!([{"Path": ""}])),
        );
    }
    Value::Object(c)
}

async fn settings(
    session: &AccountSession,
    ec2: &aws_sdk_ec2::Client,
    region: &str,
) -> crate::model::Resource {
    let account = &session.account.account_id;
    let arn = REGION_SETTINGS_SHAPE.arn(session.partition(), region, account, account);
    let (snapshots, images, metadata) = tokio::join!(
        ec2.get_snapshot_block_public_access_state().send(),
        ec2.get_image_block_public_access_state().send(),
        ec2.get_instance_metadata_defaults().send(),
    );
    let snapshots: Read = snapshots
        .map(|out| json!(out.state().map(|s| s.as_str())))
        .map_err(|e| {
            failure(
                session,
                region,
                Some(arn.clone()),
                "GetSnapshotBlockPublicAccessState",
                &e,
            )
        });
    let images: Read = images
        .map(|out| json!(out.image_block_public_access_state()))
        .map_err(|e| {
            failure(
                session,
                region,
                Some(arn.clone()),
                "GetImageBlockPublicAccessState",
                &e,
            )
        });
    let metadata: Read = metadata
        .map(|out| {
            let d = out.account_level();
            json!({
                "HttpTokens": d.and_then(|d| d.http_tokens()).map(|t| t.as_str()),
                "HttpEndpoint": d.and_then(|d| d.http_endpoint()).map(|t| t.as_str()),
                "HttpPutResponseHopLimit": d.and_then(|d| d.http_put_response_hop_limit()),
            })
        })
        .map_err(|e| {
            failure(
                session,
                region,
                Some(arn.clone()),
                "GetInstanceMetadataDefaults",
                &e,
            )
        });
    let configuration = configuration(
        region,
        account,
        [
            ("SnapshotBlockPublicAccess", snapshots),
            ("ImageBlockPublicAccess", images),
            ("InstanceMetadataDefaults", metadata),
        ],
    );
    resource(
        session,
        &REGION_SETTINGS_SHAPE,
        region,
        account,
        configuration,
    )
}

/// Reads the region's settings (never fails the region: an unreadable setting is listed).
pub(crate) async fn collect(
    session: &AccountSession,
    ec2: &aws_sdk_ec2::Client,
    region: &str,
    out: &Sender<Collected>,
) -> Result<(), CollectionError> {
    let r = settings(session, ec2, region).await;
    send(out, Collected::Resource(Box::new(r))).await;
    Ok(())
}

pub async fn describe(session: &AccountSession) -> Result<Described, CollectionError> {
    let region = session.home_region().to_owned();
    let ec2 = client(session, &region);
    Ok(Described::Found(Box::new(
        settings(session, &ec2, &region).await,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn denied(operation: &str) -> CollectionError {
        CollectionError {
            account_id: "111122223333".into(),
            service: Service::Ec2,
            region: Some("eu-west-1".into()),
            resource: None,
            operation: operation.into(),
            code: "AccessDenied".into(),
            message: "no".into(),
        }
    }

    #[test]
    fn a_setting_that_cannot_be_read_is_listed_and_never_guessed() {
        // given the snapshot setting read, and the other two refused
        let c = configuration(
            "eu-west-1",
            "111122223333",
            [
                ("SnapshotBlockPublicAccess", Ok(json!("block-new-sharing"))),
                (
                    "ImageBlockPublicAccess",
                    Err(denied("GetImageBlockPublicAccessState")),
                ),
                (
                    "InstanceMetadataDefaults",
                    Err(denied("GetInstanceMetadataDefaults")),
                ),
            ],
        );
        // then the read one is kept, the others are absent and listed as unreadable
        assert_eq!(c["SnapshotBlockPublicAccess"], "block-new-sharing");
        assert!(c.get("ImageBlockPublicAccess").is_none());
        assert!(c.get("InstanceMetadataDefaults").is_none());
        let parts = crate::model::unreadable_parts(&c);
        let paths: Vec<&str> = parts.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            ["ImageBlockPublicAccess", "InstanceMetadataDefaults"]
        );
        assert_eq!(parts[0].code, "AccessDenied");
    }

    #[test]
    fn every_setting_read_lists_nothing_unreadable() {
        // given all three answers
        let c = configuration(
            "eu-west-1",
            "111122223333",
            [
                ("SnapshotBlockPublicAccess", Ok(json!("block-all-sharing"))),
                ("ImageBlockPublicAccess", Ok(json!("block-new-sharing"))),
                (
                    "InstanceMetadataDefaults",
                    Ok(json!({"HttpTokens": "required"})),
                ),
            ],
        );
        // then
        assert!(c.get(UNREADABLE).is_none());
        assert_eq!(c["InstanceMetadataDefaults"]["HttpTokens"], "required");
    }
}
