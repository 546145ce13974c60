//! EBS volumes, snapshots and AMIs owned by the account, and the region's EBS encryption
//! default.
//!
//! Normalised configurations:
//!
//! ```text
//! Volume    VolumeId, Region, State, Encrypted, KmsKeyId | null, Size, VolumeType,
//!           AvailabilityZone, Attachments [{InstanceId, State, Device}],
//!           SnapshotCount (the account's own snapshots of it)
//! Snapshot  SnapshotId, Region, OwnerId, VolumeId, State, Encrypted, KmsKeyId | null, StartTime,
//!           CreateVolumePermissions [{Group: all | null, UserId | null}]
//! Image     ImageId, Region, Name, OwnerId, State, Public, CreationDate,
//!           LaunchPermissions [{Group: all | null, UserId | null}]
//! EbsEncryptionByDefault   Region, AccountId, EbsEncryptionByDefault, EbsDefaultKmsKeyId | null
//!           (left out, and listed in `Unreadable`, when GetEbsDefaultKmsKeyId fails)
//! ```
//!
//! Snapshots and images are listed with `OwnerIds`/`Owners` `self` and an `owner-id` filter, and
//! each is kept only if its `OwnerId` is the account's: the local AWS answers `self` with other
//! accounts' public snapshots too. A snapshot's `createVolumePermission` or an image's
//! `launchPermission` that cannot be read makes that resource a failed one.

use std::collections::HashMap;

use aws_sdk_ec2::types::{
    Filter, Image, ImageAttributeName, Snapshot, SnapshotAttributeName, Volume,
};
use futures::StreamExt;
use serde_json::{json, Value};
use tokio::sync::mpsc::Sender;

use super::{
    client, failure, is_not_found, lookup, resource, send, send_described, timestamp,
    AccountSession, Collected, CollectionError, ATTRIBUTE_CONCURRENCY,
};
use crate::arn::{ArnScope, ArnShape};
use crate::collect::Described;
use crate::model::{Resource, Service, UnreadablePart, UNREADABLE};
use crate::policy::schema::{Field, Type, UNREADABLE_FIELD};
use crate::registry::{Relation, Residence, ResourceKind};

/// The ARN shape of [`VOLUME`] (what the collector's own code forms ARNs with).
pub const VOLUME_SHAPE: ArnShape = ArnShape::new(
    Service::Ec2,
    "ec2",
    "AWS::EC2::Volume",
    ArnScope::Regional,
    "volume/",
);

pub const VOLUME: ResourceKind = ResourceKind {
    shape: VOLUME_SHAPE,
    residence: Residence::Regional,
    permissions: &[
        "ec2:DescribeRegions",
        "ec2:DescribeVolumes",
        "ec2:DescribeSnapshots",
    ],
    fields: VOLUME_FIELDS,
    describe: |session, id| Box::pin(describe_volume(session, id)),
    dependents: None,
    relations: VOLUME_RELATIONS,
};

/// The key a volume is encrypted with.
const VOLUME_RELATIONS: &[Relation] = &[Relation {
    name: "Key",
    target: Type::Kind("AWS::KMS::Key"),
    local: "KmsKeyId",
    remote: "Arn",
    same_region: true,
    only_where: None,
    otherwise: None,
}];

/// The ARN shape of [`SNAPSHOT`] (what the collector's own code forms ARNs with).
pub const SNAPSHOT_SHAPE: ArnShape = ArnShape::new(
    Service::Ec2,
    "ec2",
    "AWS::EC2::Snapshot",
    ArnScope::Regional,
    "snapshot/",
);

pub const SNAPSHOT: ResourceKind = ResourceKind {
    shape: SNAPSHOT_SHAPE,
    residence: Residence::Regional,
    permissions: &[
        "ec2:DescribeRegions",
        "ec2:DescribeSnapshots",
        "ec2:DescribeSnapshotAttribute",
    ],
    fields: SNAPSHOT_FIELDS,
    describe: |session, id| Box::pin(describe_snapshot(session, id)),
    dependents: None,
    relations: SNAPSHOT_RELATIONS,
};

/// A snapshot's volume and its key.
const SNAPSHOT_RELATIONS: &[Relation] = &[
    Relation {
        name: "Volume",
        target: Type::Kind("AWS::EC2::Volume"),
        local: "VolumeId",
        remote: "VolumeId",
        same_region: true,
        only_where: None,
        otherwise: None,
    },
    Relation {
        name: "Key",
        target: Type::Kind("AWS::KMS::Key"),
        local: "KmsKeyId",
        remote: "Arn",
        same_region: true,
        only_where: None,
        otherwise: None,
    },
];

/// The ARN shape of [`IMAGE`] (what the collector's own code forms ARNs with).
pub const IMAGE_SHAPE: ArnShape = ArnShape::new(
    Service::Ec2,
    "ec2",
    "AWS::EC2::Image",
    ArnScope::Regional,
    "image/",
);

pub const IMAGE: ResourceKind = ResourceKind {
    shape: IMAGE_SHAPE,
    residence: Residence::Regional,
    permissions: &[
        "ec2:DescribeRegions",
        "ec2:DescribeImages",
        "ec2:DescribeImageAttribute",
    ],
    fields: IMAGE_FIELDS,
    describe: |session, id| Box::pin(describe_image(session, id)),
    dependents: None,
    relations: &[],
};

/// The ARN shape of [`EBS_ENCRYPTION_BY_DEFAULT`] (what the collector's own code forms ARNs with).
pub const EBS_ENCRYPTION_BY_DEFAULT_SHAPE: ArnShape = ArnShape::new(
    Service::Ec2,
    "ec2",
    "AWS::EC2::EbsEncryptionByDefault",
    ArnScope::Regional,
    "ebs-encryption-by-default",
)
.singleton();

pub const EBS_ENCRYPTION_BY_DEFAULT: ResourceKind = ResourceKind {
    shape: EBS_ENCRYPTION_BY_DEFAULT_SHAPE,
    residence: Residence::Regional,
    permissions: &[
        "ec2:DescribeRegions",
        "ec2:GetEbsEncryptionByDefault",
        "ec2:GetEbsDefaultKmsKeyId",
    ],
    fields: DEFAULT_FIELDS,
    describe: |session, _account| Box::pin(describe_encryption_default(session)),
    dependents: None,
    relations: &[],
};

const VOLUME_FIELDS: &[Field] = &[
    Field::new("VolumeId", Type::String),
    Field::new("Region", Type::String),
    Field::new("State", Type::String).nullable(),
    Field::new("Encrypted", Type::Bool),
    Field::new("KmsKeyId", Type::String).nullable(),
    Field::new("Size", Type::Number).nullable(),
    Field::new("VolumeType", Type::String).nullable(),
    Field::new("AvailabilityZone", Type::String).nullable(),
    Field::new(
        "Attachments",
        Type::Array(&Type::Object(&[
            Field::new("InstanceId", Type::String).nullable(),
            Field::new("State", Type::String).nullable(),
            Field::new("Device", Type::String).nullable(),
        ])),
    ),
    Field::new("SnapshotCount", Type::Number),
];

const PERMISSION_FIELDS: &[Field] = &[
    Field::new("Group", Type::String).nullable(),
    Field::new("UserId", Type::String).nullable(),
];

const SNAPSHOT_FIELDS: &[Field] = &[
    Field::new("SnapshotId", Type::String),
    Field::new("Region", Type::String),
    Field::new("OwnerId", Type::String),
    Field::new("VolumeId", Type::String).nullable(),
    Field::new("State", Type::String).nullable(),
    Field::new("Encrypted", Type::Bool),
    Field::new("KmsKeyId", Type::String).nullable(),
    Field::new("StartTime", Type::String).nullable(),
    Field::new(
        "CreateVolumePermissions",
        Type::Array(&Type::Object(PERMISSION_FIELDS)),
    ),
];

const IMAGE_FIELDS: &[Field] = &[
    Field::new("ImageId", Type::String),
    Field::new("Region", Type::String),
    Field::new("Name", Type::String).nullable(),
    Field::new("OwnerId", Type::String),
    Field::new("State", Type::String).nullable(),
    Field::new("Public", Type::Bool),
    Field::new("CreationDate", Type::String).nullable(),
    Field::new(
        "LaunchPermissions",
        Type::Array(&Type::Object(PERMISSION_FIELDS)),
    ),
];

const DEFAULT_FIELDS: &[Field] = &[
    Field::new("Region", Type::String),
    Field::new("AccountId", Type::String),
    Field::new("EbsEncryptionByDefault", Type::Bool),
    Field::new("EbsDefaultKmsKeyId", Type::String)
        .nullable()
        .optional(),
    UNREADABLE_FIELD,
];

// ---- volumes ----

fn volume_configuration(region: &str, v: &Volume, snapshots: usize) -> Value {
    let attachments: Vec<Value> = v
        .attachments()
        .iter()
        .map(|a| {
            json!({
                "InstanceId": a.instance_id(),
                "State": a.state().map(|s| s.as_str()),
                "Device": a.device(),
            })
        })
        .collect();
    json!({
        "VolumeId": v.volume_id(),
        "Region": region,
        "State": v.state().map(|s| s.as_str()),
        "Encrypted": v.encrypted().unwrap_or(false),
        "KmsKeyId": v.kms_key_id(),
        "Size": v.size(),
        "VolumeType": v.volume_type().map(|t| t.as_str()),
        "AvailabilityZone": v.availability_zone(),
        "Attachments": attachments,
        "SnapshotCount": snapshots,
    })
}

/// How many of the account's own snapshots each volume has, over the region (or of one volume).
async fn snapshot_counts(
    session: &AccountSession,
    ec2: &aws_sdk_ec2::Client,
    region: &str,
    volume: Option<&str>,
) -> Result<HashMap<String, usize>, CollectionError> {
    let mut request = ec2
        .describe_snapshots()
        .owner_ids("self")
        .filters(owner_filter(session));
    if let Some(volume) = volume {
        request = request.filters(Filter::builder().name("volume-id").values(volume).build());
    }
    let mut pages = request.into_paginator().send();
    let mut counts = HashMap::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| failure(session, region, None, "DescribeSnapshots", &e))?;
        for s in page.snapshots() {
            if let (true, Some(v)) = (owned_by(session, s.owner_id()), s.volume_id()) {
                *counts.entry(v.to_owned()).or_insert(0) += 1;
            }
        }
    }
    Ok(counts)
}

pub(crate) async fn collect_volumes(
    session: &AccountSession,
    ec2: &aws_sdk_ec2::Client,
    region: &str,
    out: &Sender<Collected>,
) -> Result<(), CollectionError> {
    let snapshots = snapshot_counts(session, ec2, region, None).await?;
    let mut pages = ec2.describe_volumes().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| failure(session, region, None, "DescribeVolumes", &e))?;
        for v in page.volumes() {
            let Some(id) = v.volume_id() else { continue };
            let count = snapshots.get(id).copied().unwrap_or(0);
            let r = resource(
                session,
                &VOLUME_SHAPE,
                region,
                id,
                volume_configuration(region, v, count),
            );
            send(out, Collected::Resource(Box::new(r))).await;
        }
    }
    Ok(())
}

pub async fn describe_volume(
    session: &AccountSession,
    id: &str,
) -> Result<Described, CollectionError> {
    let region = session.home_region().to_owned();
    let ec2 = client(session, &region);
    let answer = ec2
        .describe_volumes()
        .volume_ids(id)
        .send()
        .await
        .map(|out| {
            out.volumes
                .unwrap_or_default()
                .into_iter()
                .find(|v| v.volume_id() == Some(id))
        });
    let Some(volume) = lookup(
        session,
        &VOLUME_SHAPE,
        &region,
        id,
        "DescribeVolumes",
        answer,
    )?
    else {
        return Ok(Described::NotFound);
    };
    let counts = snapshot_counts(session, &ec2, &region, Some(id)).await?;
    let count = counts.get(id).copied().unwrap_or(0);
    Ok(Described::Found(Box::new(resource(
        session,
        &VOLUME_SHAPE,
        &region,
        id,
        volume_configuration(&region, &volume, count),
    ))))
}

// ---- snapshots ----

fn owner_filter(session: &AccountSession) -> Filter {
    Filter::builder()
        .name("owner-id")
        .values(&session.account.account_id)
        .build()
}

async fn build_snapshot(
    session: &AccountSession,
    ec2: &aws_sdk_ec2::Client,
    region: &str,
    s: &Snapshot,
) -> Result<Described, CollectionError> {
    let id = s.snapshot_id().unwrap_or_default();
    let answer = ec2
        .describe_snapshot_attribute()
        .snapshot_id(id)
        .attribute(SnapshotAttributeName::CreateVolumePermission)
        .send()
        .await;
    let permissions: Vec<Value> = match answer {
        Ok(out) => out
            .create_volume_permissions()
            .iter()
            .map(|p| json!({"Group": p.group().map(|g| g.as_str()), "UserId": p.user_id()}))
            .collect(),
        Err(e) if is_not_found(&e) => return Ok(Described::NotFound),
        Err(e) => {
            let arn =
                SNAPSHOT_SHAPE.arn(session.partition(), region, &session.account.account_id, id);
            return Err(failure(
                session,
                region,
                Some(arn),
                "DescribeSnapshotAttribute (createVolumePermission)",
                &e,
            ));
        }
    };
    let configuration = json!({
        "SnapshotId": id,
        "Region": region,
        "OwnerId": s.owner_id(),
        "VolumeId": s.volume_id(),
        "State": s.state().map(|x| x.as_str()),
        "Encrypted": s.encrypted().unwrap_or(false),
        "KmsKeyId": s.kms_key_id(),
        "StartTime": timestamp(s.start_time()),
        "CreateVolumePermissions": permissions,
    });
    Ok(Described::Found(Box::new(resource(
        session,
        &SNAPSHOT_SHAPE,
        region,
        id,
        configuration,
    ))))
}

fn owned_by(session: &AccountSession, owner: Option<&str>) -> bool {
    owner == Some(session.account.account_id.as_str())
}

pub(crate) async fn collect_snapshots(
    session: &AccountSession,
    ec2: &aws_sdk_ec2::Client,
    region: &str,
    out: &Sender<Collected>,
) -> Result<(), CollectionError> {
    let mut pages = ec2
        .describe_snapshots()
        .owner_ids("self")
        .filters(owner_filter(session))
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| failure(session, region, None, "DescribeSnapshots", &e))?;
        let owned: Vec<Snapshot> = page
            .snapshots()
            .iter()
            .filter(|s| s.snapshot_id().is_some() && owned_by(session, s.owner_id()))
            .cloned()
            .collect();
        let mut built = futures::stream::iter(owned)
            .map(|s: Snapshot| async move {
                let id = s.snapshot_id().unwrap_or_default();
                let arn = SNAPSHOT_SHAPE.arn(
                    session.partition(),
                    region,
                    &session.account.account_id,
                    id,
                );
                (arn, build_snapshot(session, ec2, region, &s).await)
            })
            .buffer_unordered(ATTRIBUTE_CONCURRENCY);
        while let Some((arn, result)) = built.next().await {
            send_described(out, arn, result).await;
        }
    }
    Ok(())
}

pub async fn describe_snapshot(
    session: &AccountSession,
    id: &str,
) -> Result<Described, CollectionError> {
    let region = session.home_region().to_owned();
    let ec2 = client(session, &region);
    let answer = ec2
        .describe_snapshots()
        .snapshot_ids(id)
        .send()
        .await
        .map(|out| {
            out.snapshots
                .unwrap_or_default()
                .into_iter()
                .find(|s| s.snapshot_id() == Some(id) && owned_by(session, s.owner_id()))
        });
    let found = lookup(
        session,
        &SNAPSHOT_SHAPE,
        &region,
        id,
        "DescribeSnapshots",
        answer,
    )?;
    match found {
        Some(s) => build_snapshot(session, &ec2, &region, &s).await,
        None => Ok(Described::NotFound),
    }
}

// ---- images ----

async fn build_image(
    session: &AccountSession,
    ec2: &aws_sdk_ec2::Client,
    region: &str,
    image: &Image,
) -> Result<Described, CollectionError> {
    let id = image.image_id().unwrap_or_default();
    let answer = ec2
        .describe_image_attribute()
        .image_id(id)
        .attribute(ImageAttributeName::LaunchPermission)
        .send()
        .await;
    let permissions: Vec<Value> = match answer {
        Ok(out) => out
            .launch_permissions()
            .iter()
            .map(|p| json!({"Group": p.group().map(|g| g.as_str()), "UserId": p.user_id()}))
            .collect(),
        Err(e) if is_not_found(&e) => return Ok(Described::NotFound),
        Err(e) => {
            let arn = IMAGE_SHAPE.arn(session.partition(), region, &session.account.account_id, id);
            return Err(failure(
                session,
                region,
                Some(arn),
                "DescribeImageAttribute (launchPermission)",
                &e,
            ));
        }
    };
    let configuration = json!({
        "ImageId": id,
        "Region": region,
        "Name": image.name(),
        "OwnerId": image.owner_id(),
        "State": image.state().map(|s| s.as_str()),
        "Public": image.public().unwrap_or(false),
        "CreationDate": image.creation_date(),
        "LaunchPermissions": permissions,
    });
    Ok(Described::Found(Box::new(resource(
        session,
        &IMAGE_SHAPE,
        region,
        id,
        configuration,
    ))))
}

pub(crate) async fn collect_images(
    session: &AccountSession,
    ec2: &aws_sdk_ec2::Client,
    region: &str,
    out: &Sender<Collected>,
) -> Result<(), CollectionError> {
    let mut pages = ec2
        .describe_images()
        .owners("self")
        .filters(owner_filter(session))
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| failure(session, region, None, "DescribeImages", &e))?;
        let owned: Vec<Image> = page
            .images()
            .iter()
            .filter(|i| i.image_id().is_some() && owned_by(session, i.owner_id()))
            .cloned()
            .collect();
        let mut built = futures::stream::iter(owned)
            .map(|i: Image| async move {
                let id = i.image_id().unwrap_or_default();
                let arn =
                    IMAGE_SHAPE.arn(session.partition(), region, &session.account.account_id, id);
                (arn, build_image(session, ec2, region, &i).await)
            })
            .buffer_unordered(ATTRIBUTE_CONCURRENCY);
        while let Some((arn, result)) = built.next().await {
            send_described(out, arn, result).await;
        }
    }
    Ok(())
}

pub async fn describe_image(
    session: &AccountSession,
    id: &str,
) -> Result<Described, CollectionError> {
    let region = session.home_region().to_owned();
    let ec2 = client(session, &region);
    let answer = ec2.describe_images().image_ids(id).send().await.map(|out| {
        out.images
            .unwrap_or_default()
            .into_iter()
            .find(|i| i.image_id() == Some(id) && owned_by(session, i.owner_id()))
    });
    let found = lookup(session, &IMAGE_SHAPE, &region, id, "DescribeImages", answer)?;
    match found {
        Some(i) => build_image(session, &ec2, &region, &i).await,
        None => Ok(Described::NotFound),
    }
}

// ---- the region's encryption default ----

async fn encryption_default(
    session: &AccountSession,
    ec2: &aws_sdk_ec2::Client,
    region: &str,
) -> Result<Resource, CollectionError> {
    let account = &session.account.account_id;
    let arn = EBS_ENCRYPTION_BY_DEFAULT_SHAPE.arn(session.partition(), region, account, account);
    let (enabled, key) = tokio::join!(
        ec2.get_ebs_encryption_by_default().send(),
        ec2.get_ebs_default_kms_key_id().send()
    );
    let enabled = enabled.map_err(|e| {
        failure(
            session,
            region,
            Some(arn.clone()),
            "GetEbsEncryptionByDefault",
            &e,
        )
    })?;
    let mut configuration = json!({
        "Region": region,
        "AccountId": account,
        "EbsEncryptionByDefault": enabled.ebs_encryption_by_default().unwrap_or(false),
    });
    match key {
        Ok(key) => configuration["EbsDefaultKmsKeyId"] = json!(key.kms_key_id()),
        Err(e) => {
            // The key is a detail of the setting: the setting itself is still judged, and the
            // key is listed as unreadable rather than guessed (the local AWS lacks this call).
            let error = failure(
                session,
                region,
                Some(arn.clone()),
                "GetEbsDefaultKmsKeyId",
                &e,
            );
            tracing::warn!(%error, "EBS default KMS key unreadable");
            let part = UnreadablePart {
                path: "EbsDefaultKmsKeyId".into(),
                operation: error.operation,
                code: error.code,
            };
            configuration[UNREADABLE] =
                serde_json::to_value([part]).unwrap_or_else(|_| json!([{"Path": ""}]));
        }
    }
    Ok(resource(
        session,
        &EBS_ENCRYPTION_BY_DEFAULT_SHAPE,
        region,
        account,
        configuration,
    ))
}

/// The region's setting, as one resource (a failed read is a failed resource, never "off").
pub(crate) async fn collect_encryption_default(
    session: &AccountSession,
    ec2: &aws_sdk_ec2::Client,
    region: &str,
    out: &Sender<Collected>,
) -> Result<(), CollectionError> {
    match encryption_default(session, ec2, region).await {
        Ok(r) => send(out, Collected::Resource(Box::new(r))).await,
        Err(error) => {
            let account = &session.account.account_id;
            let arn =
                EBS_ENCRYPTION_BY_DEFAULT_SHAPE.arn(session.partition(), region, account, account);
            tracing::warn!(%error, "EBS encryption default unreadable");
            send(out, Collected::Failed { arn, error }).await
        }
    }
    Ok(())
}

pub async fn describe_encryption_default(
    session: &AccountSession,
) -> Result<Described, CollectionError> {
    let region = session.home_region().to_owned();
    let ec2 = client(session, &region);
    encryption_default(session, &ec2, &region)
        .await
        .map(|r| Described::Found(Box::new(r)))
}
