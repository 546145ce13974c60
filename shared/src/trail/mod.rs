//! CloudTrail events: envelope parsing and extraction of the resources an event touched.
//!
//! This is the pure core of the real-time path. CloudTrail management events from customer
//! accounts reach qrie through EventBridge and SQS; for each SQS message the event processor
//!
//! 1. [`parse_message`]s the body (an EventBridge event, a bare record, or either inside an SNS
//!    notification) into a [`TrailEvent`], or says what is wrong with it ([`EnvelopeError`]);
//! 2. checks `TrailEvent::account_id` (the EventBridge sender, or a bare record's
//!    `recipientAccountId`; see [`envelope`](parse_message)) against the onboarded accounts
//!    (the caller's job);
//! 3. [`classify`]s the event: [`Disposition::Ignored`] with an [`IgnoreReason`] (a record
//!    claiming another account than its sender's, any `errorCode`, ...), or
//!    [`Disposition::Relevant`] with every [`TouchedResource`] (ARN, native id, type, region,
//!    and whether the event deleted it), or an [`ExtractError`] when a supported event does
//!    not name its resource.
//!
//! What each event touches is a static table in the `catalog` module; [`supported_events`] lists it for
//! the infrastructure's EventBridge rule. Nothing here calls AWS.
//!
//! Region of global resources: IAM users, the password policy and S3 buckets named by an event
//! get the event's `awsRegion` (for IAM normally us-east-1, the region of the endpoint called).

mod arn;
mod catalog;
mod envelope;
mod extract;
mod pending;

#[cfg(test)]
mod dataset_tests;
#[cfg(test)]
mod documented_records_tests;

pub use crate::arn::partition_for_region;
pub use arn::IdentifierError;
pub use envelope::{parse_message, Envelope, EnvelopeError, TrailEvent};
pub use extract::{
    classify, is_read_only, Disposition, ExtractError, IgnoreReason, TouchedResource,
};

/// Every `(eventSource, eventName)` that [`classify`] can turn into touched resources, in table
/// order: what the EventBridge rule in the customer accounts must forward.
pub fn supported_events() -> impl Iterator<Item = (&'static str, &'static str)> {
    catalog::EVENT_RULES
        .iter()
        .map(|rule| (rule.event_source, rule.event_name))
}

/// Every `eventSource` the catalogue has rules for, each once, sorted: what the EventBridge
/// rules must let through (written into the contract the CDK app reads).
pub fn event_sources() -> Vec<&'static str> {
    catalog::event_sources()
}

/// The events that touch resources of `resource_type` (see
/// [`crate::registry::ResourceKind::events`]).
pub fn events_touching(resource_type: &str) -> Vec<(&'static str, &'static str)> {
    catalog::events_touching(resource_type)
}

/// Every event name [`classify`] supports (see [`supported_events`] for their sources).
pub fn supported_event_names() -> impl Iterator<Item = &'static str> {
    supported_events().map(|(_, event_name)| event_name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_supported_events_cover_every_service() {
        // given the table
        // when
        let sources: std::collections::BTreeSet<&str> =
            supported_events().map(|(source, _)| source).collect();
        // then
        assert_eq!(
            sources.into_iter().collect::<Vec<_>>(),
            [
                "cloudtrail.amazonaws.com",
                "ec2.amazonaws.com",
                "iam.amazonaws.com",
                "kms.amazonaws.com",
                "lambda.amazonaws.com",
                "rds.amazonaws.com",
                "s3.amazonaws.com"
            ]
        );
    }

    #[test]
    fn the_issue_s_required_events_are_all_supported() {
        // given the event names the issue asks for
        let required = [
            "CreateBucket",
            "DeleteBucket",
            "PutBucketPolicy",
            "DeleteBucketPolicy",
            "PutBucketAcl",
            "PutBucketPublicAccessBlock",
            "DeleteBucketPublicAccessBlock",
            "PutBucketEncryption",
            "DeleteBucketEncryption",
            "PutBucketVersioning",
            "PutBucketLogging",
            "PutBucketOwnershipControls",
            "PutAccountPublicAccessBlock",
            "DeleteAccountPublicAccessBlock",
            "AuthorizeSecurityGroupIngress",
            "RevokeSecurityGroupIngress",
            "AuthorizeSecurityGroupEgress",
            "RevokeSecurityGroupEgress",
            "ModifySecurityGroupRules",
            "CreateSecurityGroup",
            "DeleteSecurityGroup",
            "RunInstances",
            "TerminateInstances",
            "ModifyInstanceMetadataOptions",
            "ModifyInstanceAttribute",
            "StartInstances",
            "StopInstances",
            "CreateVolume",
            "DeleteVolume",
            "ModifyVolume",
            "CreateSnapshot",
            "DeleteSnapshot",
            "ModifySnapshotAttribute",
            "CreateImage",
            "RegisterImage",
            "DeregisterImage",
            "ModifyImageAttribute",
            "CreateVpc",
            "DeleteVpc",
            "CreateFlowLogs",
            "DeleteFlowLogs",
            "EnableEbsEncryptionByDefault",
            "DisableEbsEncryptionByDefault",
            "CreateUser",
            "DeleteUser",
            "CreateAccessKey",
            "UpdateAccessKey",
            "DeleteAccessKey",
            "AttachUserPolicy",
            "DetachUserPolicy",
            "PutUserPolicy",
            "DeleteUserPolicy",
            "CreateLoginProfile",
            "UpdateLoginProfile",
            "DeleteLoginProfile",
            "EnableMFADevice",
            "DeactivateMFADevice",
            "UpdateAccountPasswordPolicy",
            "DeleteAccountPasswordPolicy",
            "CreateDBInstance",
            "ModifyDBInstance",
            "DeleteDBInstance",
            "ModifyDBSnapshotAttribute",
            "CreateTrail",
            "UpdateTrail",
            "StartLogging",
            "StopLogging",
            "DeleteTrail",
            "PutEventSelectors",
            "CreateKey",
            "EnableKeyRotation",
            "DisableKeyRotation",
            "ScheduleKeyDeletion",
            "CancelKeyDeletion",
            "PutKeyPolicy",
            "DisableKey",
            "EnableKey",
        ];
        let supported: std::collections::HashSet<&str> = supported_event_names().collect();
        for name in required {
            // then
            assert!(supported.contains(name), "{name} is not supported");
        }
    }
}
