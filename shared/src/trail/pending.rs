//! The ARN shapes of kinds whose CloudTrail events the catalogue follows ahead of their
//! collectors: the trail extraction can already name the resources these events touch, and the
//! event processor counts them as "no collector yet".
//!
//! A kind is declared here only until its service's collector exists. Then its shape moves into
//! its [`crate::registry::ResourceKind`] in `collect/<service>.rs` and the catalogue's rules
//! point there; a test fails while a registered type is still declared here.

use crate::arn::ArnScope::Regional;
use crate::arn::ArnShape;
use crate::model::Service::Ec2;

pub(crate) const EC2_FLOW_LOG: ArnShape =
    ArnShape::new(Ec2, "ec2", "AWS::EC2::FlowLog", Regional, "vpc-flow-log/");

/// Every shape declared here.
#[cfg(test)]
pub(crate) const ALL: &[&ArnShape] = &[&EC2_FLOW_LOG];
