//! Collectors: read resources from a customer account and normalise them for the policies.
//!
//! The same collector code serves the weekly inventory (every resource of a service in an
//! account, streamed into a channel page by page) and the event processor (one resource
//! re-described after a CloudTrail event). Each collector declares the API permissions it uses;
//! the onboarding role in `infra/` is built from those declarations (see `store::schema`).
//!
//! A resource whose attribute calls fail (AccessDenied, throttled after retries) is reported as
//! [`Collected::Failed`] and never stored as if the setting were absent, which would turn a
//! permission problem into a false finding or a false pass. When what fails is a setting shared
//! by many resources (the account-level S3 block every bucket's effective settings depend on),
//! the resources are stored without a guess in its place: their configuration's `Unreadable`
//! list ([`crate::model::UNREADABLE`]) names the missing paths, the call and its error code, and
//! the policies that read those paths are not evaluated for them.
//!
//! Completeness is per region: [`collect_service`] returns a [`Completeness`] saying which
//! regions' listings finished, and the inventory removes a stored resource this run did not see
//! only if its region's listing did. A global listing (S3's ListBuckets, one call for buckets in
//! every region) is complete or failed everywhere at once; a regional collector (one listing per
//! region, run concurrently) reports each region with [`Completeness::listed`] or
//! [`Completeness::failed`], so one failing region neither blocks removal elsewhere nor removes
//! what it could not list.

pub mod cloudtrail;
pub mod ec2;
pub mod iam;
pub mod kms;
pub mod lambda;
pub mod rds;
pub mod regions;
pub mod s3;
pub mod s3_access_points;
pub mod session;
pub mod vpc;

// Each service's module declares its kinds and its lister; `crate::registry::SERVICES` lists
// the services.

pub use session::{open_session, SessionError};

use std::collections::BTreeSet;
use std::fmt;

use aws_config::SdkConfig;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use serde::Serialize;
use tokio::sync::mpsc::Sender;

use crate::config::AwsSettings;
use crate::model::{Account, Resource, Service};

/// An account reached through its read-only role; opened by [`open_session`].
#[derive(Clone)]
pub struct AccountSession {
    pub account: Account,
    /// SDK configuration with the assumed role's credentials (home region us-east-1).
    pub sdk: SdkConfig,
    pub settings: AwsSettings,
}

/// The region an account session's SDK configuration falls back to when it names none.
const DEFAULT_HOME_REGION: &str = "us-east-1";

impl AccountSession {
    /// The session's home region: its SDK configuration's region, or us-east-1 when unset.
    pub fn home_region(&self) -> &str {
        self.sdk
            .region()
            .map(|r| r.as_ref())
            .unwrap_or(DEFAULT_HOME_REGION)
    }

    /// The partition (`aws`, `aws-cn`, `aws-us-gov`, ...) of the session's home region, which
    /// the collectors put in every ARN they form ([`crate::arn`]).
    pub fn partition(&self) -> &'static str {
        crate::arn::partition_for_region(self.home_region())
    }

    /// The session's SDK configuration pointed at `region`: what a collector builds its
    /// service's client from (`aws_sdk_ec2::Client::new(&session.config_in(region))`), with the
    /// assumed role's credentials and qrie's retry, timeout and endpoint settings.
    pub fn config_in(&self, region: &str) -> SdkConfig {
        crate::aws::in_region(&self.sdk, region)
    }

    /// An S3 client in `region` (the collector's and the object scanner's reads).
    pub fn s3(&self, region: &str) -> aws_sdk_s3::Client {
        crate::aws::s3_client(&self.config_in(region), &self.settings)
    }
}

/// One failed API call while collecting, as reported in run summaries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CollectionError {
    pub account_id: String,
    pub service: Service,
    pub region: Option<String>,
    /// The resource (ARN) whose collection failed, if the failure is about one resource.
    pub resource: Option<String>,
    pub operation: String,
    /// The AWS error code (`AccessDenied`, `SlowDown`, ...) or the transport failure kind.
    pub code: String,
    pub message: String,
}

impl fmt::Display for CollectionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {}{}: {} failed: {}: {}",
            self.account_id,
            self.service,
            self.region.as_deref().unwrap_or("-"),
            self.resource
                .as_deref()
                .map(|r| format!(" {r}"))
                .unwrap_or_default(),
            self.operation,
            self.code,
            self.message
        )
    }
}

impl std::error::Error for CollectionError {}

/// What a collector streams out.
#[derive(Debug, Clone)]
pub enum Collected {
    Resource(Box<Resource>),
    /// The resource exists but could not be read completely; it must not be stored (nor
    /// removed as unseen).
    Failed {
        arn: String,
        error: CollectionError,
    },
}

/// Which regions one run of a collector listed completely, and the listings that failed.
///
/// A region is complete when it was listed (or a global listing finished) and no listing
/// covering it failed; a failure always wins. A region the collector never reported is
/// incomplete, so a resource stored in a region that is no longer listed is kept, never guessed
/// gone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Completeness {
    /// A global listing finished: every region is listed.
    everywhere: bool,
    listed: BTreeSet<String>,
    failures: Vec<ListingFailure>,
}

/// A listing that did not finish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListingFailure {
    /// The region whose listing failed; `None` for a global listing (every region incomplete).
    pub region: Option<String>,
    pub error: CollectionError,
}

impl Completeness {
    /// The outcome of a global listing: complete everywhere, or failed everywhere.
    pub fn of_global(result: Result<(), CollectionError>) -> Self {
        match result {
            Ok(()) => Self {
                everywhere: true,
                ..Self::default()
            },
            Err(error) => Self {
                failures: vec![ListingFailure {
                    region: None,
                    error,
                }],
                ..Self::default()
            },
        }
    }

    /// Records that `region` was listed to the end.
    pub fn listed(&mut self, region: impl Into<String>) {
        self.listed.insert(region.into());
    }

    /// Records that the listing of `region` failed (`None`: a global listing).
    pub fn failed(&mut self, region: Option<String>, error: CollectionError) {
        self.failures.push(ListingFailure { region, error });
    }

    /// True when resources of `region` not seen in this run may be removed.
    pub fn is_complete(&self, region: &str) -> bool {
        let failed = self
            .failures
            .iter()
            .any(|f| f.region.as_deref().is_none_or(|r| r == region));
        !failed && (self.everywhere || self.listed.contains(region))
    }

    /// Adds another listing of the same service (S3's buckets, listed globally, and its access
    /// points, listed per region): a region listed by either is listed, and a failure of either
    /// makes its region (or every region) incomplete.
    pub fn merge(&mut self, other: Completeness) {
        self.everywhere |= other.everywhere;
        self.listed.extend(other.listed);
        self.failures.extend(other.failures);
    }

    /// True when no listing failed.
    pub fn nothing_failed(&self) -> bool {
        self.failures.is_empty()
    }

    pub fn failures(&self) -> &[ListingFailure] {
        &self.failures
    }
}

/// The result of re-describing one resource.
#[derive(Debug, Clone)]
pub enum Described {
    Found(Box<Resource>),
    /// The resource does not exist (any more).
    NotFound,
}

/// The code and message of a failed SDK call, for errors that are not "setting absent".
pub(crate) fn call_failure<E: ProvideErrorMetadata + std::error::Error + 'static, R: fmt::Debug>(
    err: &SdkError<E, R>,
) -> (String, String) {
    let code = err.code().map(str::to_owned).unwrap_or_else(|| match err {
        SdkError::TimeoutError(_) => "Timeout".to_owned(),
        SdkError::DispatchFailure(_) => "DispatchFailure".to_owned(),
        SdkError::ResponseError(_) => "ResponseError".to_owned(),
        _ => "Unknown".to_owned(),
    });
    let message = err.message().map(str::to_owned).unwrap_or_else(|| {
        let mut text = err.to_string();
        let mut source = std::error::Error::source(err);
        while let Some(s) = source {
            text.push_str(&format!(": {s}"));
            source = s.source();
        }
        text
    });
    (code, message)
}

/// A failed SDK call of a regional collector as a [`CollectionError`] of the session's account.
pub(crate) fn regional_failure<E, R>(
    session: &AccountSession,
    service: Service,
    region: &str,
    resource: Option<String>,
    operation: &str,
    err: &SdkError<E, R>,
) -> CollectionError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: fmt::Debug,
{
    let (code, message) = call_failure(err);
    CollectionError {
        account_id: session.account.account_id.clone(),
        service,
        region: Some(region.to_owned()),
        resource,
        operation: operation.to_owned(),
        code,
        message,
    }
}

/// The AWS error code of a failed SDK call, if the service sent one.
pub(crate) fn error_code<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> Option<&str> {
    err.code()
}

/// Streams one collected item out. The receiver only goes away when the run is aborted;
/// nothing is left to deliver to then.
pub(crate) async fn send(out: &Sender<Collected>, item: Collected) {
    let _ = out.send(item).await;
}

/// The services whose collectors exist (see [`crate::registry`]), and the permissions each uses.
pub fn declared_permissions() -> Vec<(Service, Vec<&'static str>)> {
    crate::registry::SERVICES
        .iter()
        .map(|entry| (entry.service, entry.permissions()))
        .collect()
}

/// True when qrie can collect `service` today.
pub fn is_supported(service: Service) -> bool {
    crate::registry::service(service).is_some()
}

/// A service or resource type whose collector does not exist yet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0} has no collector yet")]
pub struct Unsupported(pub String);

/// Collects every resource of `service` in the session's account into `out`, with the
/// service's lister from the registry.
///
/// Returns which regions were listed completely (so resources of those regions not seen may be
/// removed) with the listings that failed.
pub async fn collect_service(
    service: Service,
    session: &AccountSession,
    out: &Sender<Collected>,
) -> Result<Completeness, Unsupported> {
    let entry = crate::registry::service(service)
        .ok_or_else(|| Unsupported(format!("service {service}")))?;
    Ok((entry.collect)(session, out).await)
}

/// Re-describes one resource, identified by type and native id (bucket name, ...), with the
/// kind's describe from the registry. The session's home region is the resource's region.
pub async fn describe(
    session: &AccountSession,
    resource_type: &str,
    id: &str,
) -> Result<Result<Described, CollectionError>, Unsupported> {
    let kind = crate::registry::kind(resource_type)
        .ok_or_else(|| Unsupported(format!("resource type {resource_type}")))?;
    Ok((kind.describe)(session, id).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(region: Option<&str>) -> CollectionError {
        CollectionError {
            account_id: "111122223333".into(),
            service: Service::S3,
            region: region.map(str::to_owned),
            resource: None,
            operation: "List".into(),
            code: "AccessDenied".into(),
            message: "denied".into(),
        }
    }

    #[test]
    fn a_failed_region_is_incomplete_and_the_others_are_not() {
        // Given a regional collector that listed us-east-1 and failed in eu-west-1
        let mut completeness = Completeness::default();
        completeness.listed("us-east-1");
        completeness.listed("eu-west-1");
        completeness.failed(Some("eu-west-1".into()), error(Some("eu-west-1")));
        // Then only us-east-1 is complete; a region never reported is not
        assert!(completeness.is_complete("us-east-1"));
        assert!(!completeness.is_complete("eu-west-1"));
        assert!(!completeness.is_complete("ap-south-1"));
        assert!(!completeness.nothing_failed());
    }

    /// The ARNs the trail extraction finds in a successful call recorded in `region`.
    fn trail_arns(
        region: &str,
        source: &str,
        event_name: &str,
        fields: serde_json::Value,
    ) -> Vec<String> {
        use crate::trail::{classify, parse_message, Disposition};
        let partition = crate::arn::partition_for_region(region);
        let mut record = serde_json::json!({
            "eventVersion": "1.09",
            "userIdentity": {"type": "IAMUser", "arn": format!("arn:{partition}:iam::111122223333:user/alice"), "accountId": "111122223333"},
            "eventTime": "2024-05-01T10:00:00Z",
            "eventSource": source,
            "eventName": event_name,
            "awsRegion": region,
            "responseElements": null,
            "eventID": "00000000-0000-0000-0000-000000000000",
            "eventType": "AwsApiCall",
            "recipientAccountId": "111122223333",
        });
        if let (Some(r), Some(f)) = (record.as_object_mut(), fields.as_object()) {
            r.extend(f.clone());
        }
        let event = parse_message(&record.to_string()).expect("test record parses");
        match classify(&event).expect("the record is extractable") {
            Disposition::Relevant(touched) => touched.into_iter().map(|t| t.arn).collect(),
            Disposition::Ignored(reason) => panic!("{event_name} in {region} ignored: {reason:?}"),
        }
    }

    #[test]
    fn the_regional_collectors_and_the_trail_give_one_arn_in_every_partition() {
        let account = "111122223333";
        for (region, partition) in [
            ("us-east-1", "aws"),
            ("cn-north-1", "aws-cn"),
            ("us-gov-west-1", "aws-us-gov"),
        ] {
            // given calls naming a key, a trail, a function, a DB instance and a DB snapshot
            let key = trail_arns(
                region,
                "kms.amazonaws.com",
                "EnableKeyRotation",
                serde_json::json!({"requestParameters": {"keyId": "k1"}}),
            );
            let trail = trail_arns(
                region,
                "cloudtrail.amazonaws.com",
                "StartLogging",
                serde_json::json!({"requestParameters": {"name": "t1"}}),
            );
            let function = trail_arns(
                region,
                "lambda.amazonaws.com",
                "AddPermission20150331v2",
                serde_json::json!({"requestParameters": {"functionName": "f1"}}),
            );
            let db = trail_arns(
                region,
                "rds.amazonaws.com",
                "RebootDBInstance",
                serde_json::json!({"requestParameters": {"dBInstanceIdentifier": "d1"}}),
            );
            let snapshot = trail_arns(
                region,
                "rds.amazonaws.com",
                "ModifyDBSnapshotAttribute",
                serde_json::json!({"requestParameters": {"dBSnapshotIdentifier": "s1"}}),
            );
            // then each is the ARN the collector forms, in the region's partition
            assert_eq!(key, [kms::key_arn(partition, region, account, "k1")]);
            assert_eq!(
                trail,
                [
                    cloudtrail::trail_arn(partition, region, account, "t1"),
                    cloudtrail::coverage_arn(partition, account),
                ]
            );
            assert_eq!(
                function,
                [lambda::function_arn(partition, region, account, "f1")]
            );
            assert_eq!(db, [rds::instance_arn(partition, region, account, "d1")]);
            assert_eq!(
                snapshot,
                [rds::snapshot_arn(partition, region, account, "s1")]
            );
            assert!(key[0].starts_with(&format!("arn:{partition}:kms:{region}:{account}:key/")));
            // and a version or alias of a function is the function itself, named or by ARN
            let version = trail_arns(
                region,
                "lambda.amazonaws.com",
                "UpdateFunctionCode20150331v2",
                serde_json::json!({
                    "requestParameters": {"functionName": "f1"},
                    "responseElements": {"functionArn": format!("arn:{partition}:lambda:{region}:{account}:function:f1:7")},
                }),
            );
            let alias = trail_arns(
                region,
                "lambda.amazonaws.com",
                "AddPermission20150331v2",
                serde_json::json!({"requestParameters": {"functionName": "f1:live"}}),
            );
            assert_eq!(version, function);
            assert_eq!(alias, function);
        }
    }

    #[test]
    fn a_global_listing_is_complete_or_failed_everywhere() {
        // Given a global listing that finished, and one that failed
        let done = Completeness::of_global(Ok(()));
        let failed = Completeness::of_global(Err(error(None)));
        // Then the first covers every region and the second none
        assert!(done.is_complete("eu-west-1") && done.nothing_failed());
        assert!(!failed.is_complete("eu-west-1"));
        assert!(!failed.is_complete("us-east-1"));
        assert_eq!(failed.failures()[0].region, None);
    }
}
