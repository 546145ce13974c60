//! The ARN shapes of kinds whose CloudTrail events the catalogue follows ahead of their
//! collectors: the trail extraction can already name the resources these events touch, and the
//! event processor counts them as "no collector yet".
//!
//! A kind is declared here only until its service's collector exists. Then its shape moves into
//! its [`crate::registry::ResourceKind`] in `collect/<service>.rs` and the catalogue's rules
//! point there; a test fails while a registered type is still declared here.

use crate::arn::ArnScope::{Account, Regional};
use crate::arn::ArnShape;
use crate::model::Service::{CloudTrail, Ec2, Iam, Kms, Rds};

pub(crate) const IAM_USER: ArnShape =
    ArnShape::new(Iam, "iam", "AWS::IAM::User", Account, "user/").pathed();
pub(crate) const IAM_PASSWORD_POLICY: ArnShape = ArnShape::new(
    Iam,
    "iam",
    "AWS::IAM::PasswordPolicy",
    Account,
    "account-password-policy",
)
.singleton();
pub(crate) const EC2_FLOW_LOG: ArnShape =
    ArnShape::new(Ec2, "ec2", "AWS::EC2::FlowLog", Regional, "vpc-flow-log/");
pub(crate) const RDS_DB_INSTANCE: ArnShape =
    ArnShape::new(Rds, "rds", "AWS::RDS::DBInstance", Regional, "db:");
pub(crate) const RDS_DB_SNAPSHOT: ArnShape =
    ArnShape::new(Rds, "rds", "AWS::RDS::DBSnapshot", Regional, "snapshot:");
pub(crate) const CLOUDTRAIL_TRAIL: ArnShape = ArnShape::new(
    CloudTrail,
    "cloudtrail",
    "AWS::CloudTrail::Trail",
    Regional,
    "trail/",
);
pub(crate) const KMS_KEY: ArnShape = ArnShape::new(Kms, "kms", "AWS::KMS::Key", Regional, "key/");

/// Every shape declared here.
#[cfg(test)]
pub(crate) const ALL: &[&ArnShape] = &[
    &IAM_USER,
    &IAM_PASSWORD_POLICY,
    &EC2_FLOW_LOG,
    &RDS_DB_INSTANCE,
    &RDS_DB_SNAPSHOT,
    &CLOUDTRAIL_TRAIL,
    &KMS_KEY,
];
