//! The CloudTrail collector: trails, each listed once in its home region (a multi-Region trail
//! shows in every region as a shadow trail; only its home listing describes it), with status,
//! event selectors, insight selectors, validation, encryption and CloudWatch Logs delivery; and
//! per account, the trail coverage the account-wide requirements are judged on (CIS 3.1: a
//! logging multi-Region trail records all read and write management events) as a resource of
//! its own.
//!
//! Normalised trail configuration:
//!
//! ```text
//! Name, Arn, HomeRegion, IsMultiRegionTrail, IsOrganizationTrail, IncludeGlobalServiceEvents
//! S3BucketName, S3KeyPrefix, SnsTopicArn                      | null
//! LogFileValidationEnabled                                    bool
//! CloudWatchLogsLogGroupArn, CloudWatchLogsRoleArn, KmsKeyId  | null
//! IsLogging                                                   bool (GetTrailStatus)
//! EventSelectors           [{ReadWriteType, IncludeManagementEvents, DataResources: [{Type, Values}],
//!                            ExcludeManagementEventSources}]
//! AdvancedEventSelectors   [{Name, FieldSelectors: [{Field, Equals, StartsWith, EndsWith,
//!                            NotEquals, NotStartsWith, NotEndsWith}]}]
//! InsightSelectors         [{InsightType}]  (empty when Insights are not enabled)
//! ManagementEvents         {Read, Write}: whether the selectors record every read / write
//!                          management event (see [`management_events`])
//! S3DataEvents             {Read, Write}: whether they record S3 object-level read / write
//!                          events for every bucket (see [`s3_data_events`])
//! ```
//!
//! The account's trail coverage (`AWS::CloudTrail::AccountTrailCoverage`, one per account):
//! `{AccountId, Trails: [{Arn, HomeRegion, IsMultiRegionTrail, IsLogging, ManagementEvents,
//! S3DataEvents}]}` over every trail homed in a listed region and every multi-Region trail
//! (whose home may be a region the account does not list). It is built only when every region
//! listed completely and every trail was read: otherwise it is a [`Collected::Failed`] entry,
//! never a coverage with a trail missing.
//!
//! The selectors are read as GetEventSelectors returns them. On AWS a trail that never had
//! selectors put returns the default selector (all management events, read and write); the local
//! AWS returns none, so tests put selectors explicitly.

use std::collections::BTreeMap;
use std::sync::Mutex;

use aws_sdk_cloudtrail::types::{AdvancedEventSelector, EventSelector, Trail};
use aws_sdk_cloudtrail::Client;
use chrono::Utc;
use futures::StreamExt;
use serde_json::{json, Value};
use tokio::sync::mpsc::Sender;
use tracing::{debug, warn};

use super::{
    error_code, regional_failure, send, AccountSession, Collected, CollectionError, Completeness,
    Described,
};
use crate::arn::{ArnScope, ArnShape};
use crate::model::{Resource, Service};
use crate::policy::schema::{Field, Type};
use crate::registry::{Relation, Residence, ResourceKind, ServiceEntry};

/// CloudTrail in the registry: trails region by region, then the account's coverage.
pub const SERVICE: ServiceEntry = ServiceEntry {
    service: Service::CloudTrail,
    kinds: &[&TRAIL, &ACCOUNT_TRAIL_COVERAGE],
    collect: |session, out| Box::pin(collect(session, out)),
};

/// A trail: `arn:aws:cloudtrail:<home region>:<account>:trail/<name>`.
pub const TRAIL: ResourceKind = ResourceKind {
    shape: ArnShape::new(
        Service::CloudTrail,
        "cloudtrail",
        "AWS::CloudTrail::Trail",
        ArnScope::Regional,
        "trail/",
    ),
    residence: Residence::Regional,
    permissions: PERMISSIONS,
    fields: TRAIL_FIELDS,
    describe: |session, name| Box::pin(describe_trail(session, name)),
    dependents: None,
    relations: TRAIL_RELATIONS,
};

/// The bucket a trail delivers to (when it is the trail's own account's).
const TRAIL_RELATIONS: &[Relation] = &[Relation {
    name: "Bucket",
    target: Type::Kind("AWS::S3::Bucket"),
    local: "S3BucketName",
    remote: "Name",
    same_region: false,
    only_where: None,
    otherwise: None,
}];

/// The account's trail coverage: `arn:aws:cloudtrail::<account>:account-trail-coverage`.
pub const ACCOUNT_TRAIL_COVERAGE: ResourceKind = ResourceKind {
    shape: ArnShape::new(
        Service::CloudTrail,
        "cloudtrail",
        "AWS::CloudTrail::AccountTrailCoverage",
        ArnScope::Account,
        "account-trail-coverage",
    )
    .singleton(),
    residence: Residence::Global,
    permissions: PERMISSIONS,
    fields: COVERAGE_FIELDS,
    describe: |session, _account_id| Box::pin(describe_coverage(session)),
    dependents: None,
    relations: &[],
};

pub const TRAIL_TYPE: &str = TRAIL.resource_type();
pub const ACCOUNT_TRAIL_COVERAGE_TYPE: &str = ACCOUNT_TRAIL_COVERAGE.resource_type();

const PERMISSIONS: &[&str] = &[
    "cloudtrail:DescribeTrails",
    "cloudtrail:GetTrailStatus",
    "cloudtrail:GetEventSelectors",
    "cloudtrail:GetInsightSelectors",
];

const READ_WRITE: &[Field] = &[
    Field::new("Read", Type::Bool),
    Field::new("Write", Type::Bool),
];

const TRAIL_FIELDS: &[Field] = &[
    Field::new("Name", Type::String),
    Field::new("Arn", Type::String),
    Field::new("HomeRegion", Type::String),
    Field::new("IsMultiRegionTrail", Type::Bool),
    Field::new("IsOrganizationTrail", Type::Bool),
    Field::new("IncludeGlobalServiceEvents", Type::Bool),
    Field::new("S3BucketName", Type::String).nullable(),
    Field::new("S3KeyPrefix", Type::String).nullable(),
    Field::new("SnsTopicArn", Type::String).nullable(),
    Field::new("LogFileValidationEnabled", Type::Bool),
    Field::new("CloudWatchLogsLogGroupArn", Type::String).nullable(),
    Field::new("CloudWatchLogsRoleArn", Type::String).nullable(),
    Field::new("KmsKeyId", Type::String).nullable(),
    Field::new("IsLogging", Type::Bool),
    Field::new(
        "EventSelectors",
        Type::Array(&Type::Object(&[
            Field::new("ReadWriteType", Type::String),
            Field::new("IncludeManagementEvents", Type::Bool),
            Field::new(
                "DataResources",
                Type::Array(&Type::Object(&[
                    Field::new("Type", Type::String).nullable(),
                    Field::new("Values", Type::Array(&Type::String)),
                ])),
            ),
            Field::new("ExcludeManagementEventSources", Type::Array(&Type::String)),
        ])),
    ),
    Field::new(
        "AdvancedEventSelectors",
        Type::Array(&Type::Object(&[
            Field::new("Name", Type::String).nullable(),
            Field::new(
                "FieldSelectors",
                Type::Array(&Type::Object(&[
                    Field::new("Field", Type::String),
                    Field::new("Equals", Type::Array(&Type::String)),
                    Field::new("StartsWith", Type::Array(&Type::String)),
                    Field::new("EndsWith", Type::Array(&Type::String)),
                    Field::new("NotEquals", Type::Array(&Type::String)),
                    Field::new("NotStartsWith", Type::Array(&Type::String)),
                    Field::new("NotEndsWith", Type::Array(&Type::String)),
                ])),
            ),
        ])),
    ),
    Field::new(
        "InsightSelectors",
        Type::Array(&Type::Object(&[
            Field::new("InsightType", Type::String).nullable()
        ])),
    ),
    Field::new("ManagementEvents", Type::Object(READ_WRITE)),
    Field::new("S3DataEvents", Type::Object(READ_WRITE)),
];

const COVERAGE_FIELDS: &[Field] = &[
    Field::new("AccountId", Type::String),
    Field::new(
        "Trails",
        Type::Array(&Type::Object(&[
            Field::new("Arn", Type::String),
            Field::new("HomeRegion", Type::String),
            Field::new("IsMultiRegionTrail", Type::Bool),
            Field::new("IsLogging", Type::Bool),
            Field::new("ManagementEvents", Type::Object(READ_WRITE)),
            Field::new("S3DataEvents", Type::Object(READ_WRITE)),
        ])),
    ),
];

/// Trails described at once within one region.
const TRAIL_CONCURRENCY: usize = 4;

/// The ARN of trail `name` homed in `region`.
pub fn trail_arn(partition: &str, region: &str, account_id: &str, name: &str) -> String {
    TRAIL.arn(partition, region, account_id, name)
}

/// The ARN of the account's trail coverage.
pub fn coverage_arn(partition: &str, account_id: &str) -> String {
    ACCOUNT_TRAIL_COVERAGE.arn(partition, "", account_id, account_id)
}

fn client(session: &AccountSession, region: &str) -> Client {
    Client::new(&session.config_in(region))
}

/// What one region's listing found: its home trails (read or failed) and the multi-Region
/// trails seen there as shadows, by ARN with their home region.
#[derive(Default)]
struct RegionTrails {
    home: Vec<Result<Box<Resource>, (String, CollectionError)>>,
    shadows: Vec<(String, String, Trail)>,
}

/// Every trail visible from `region` (DescribeTrails is not paginated: it returns them all).
async fn visible_trails(
    session: &AccountSession,
    region: &str,
) -> Result<Vec<Trail>, CollectionError> {
    client(session, region)
        .describe_trails()
        .include_shadow_trails(true)
        .send()
        .await
        .map(|out| out.trail_list().to_vec())
        .map_err(|e| {
            regional_failure(
                session,
                Service::CloudTrail,
                region,
                None,
                "DescribeTrails",
                &e,
            )
        })
}

/// Lists `region`: describes each trail homed there, and notes the multi-Region shadows.
async fn list_region(
    session: &AccountSession,
    region: &str,
) -> Result<RegionTrails, CollectionError> {
    let trails = visible_trails(session, region).await?;
    let mut found = RegionTrails::default();
    let mut home = Vec::new();
    for trail in trails {
        let home_region = trail.home_region().unwrap_or(region).to_owned();
        if home_region == region {
            home.push(trail);
        } else if trail.is_multi_region_trail() == Some(true) {
            let arn = trail.trail_arn().unwrap_or_default().to_owned();
            found.shadows.push((arn, home_region, trail));
        }
    }
    debug!(account = %session.account.account_id, region, trails = home.len(), "trails listed");
    found.home = futures::stream::iter(home)
        .map(|trail| async move { describe_at_home(session, region, &trail).await })
        .buffer_unordered(TRAIL_CONCURRENCY)
        .collect()
        .await;
    Ok(found)
}

/// Reads a trail's status and selectors in its home region into its resource.
async fn describe_at_home(
    session: &AccountSession,
    home_region: &str,
    trail: &Trail,
) -> Result<Box<Resource>, (String, CollectionError)> {
    let account_id = &session.account.account_id;
    let name = trail.name().unwrap_or_default();
    let arn = trail
        .trail_arn()
        .map(str::to_owned)
        .unwrap_or_else(|| trail_arn(session.partition(), home_region, account_id, name));
    let client = client(session, home_region);
    let observed = Utc::now();
    let fail = |operation: &str, e: CollectionError| {
        debug!(trail = %arn, operation, "trail read failed");
        (arn.clone(), e)
    };
    let status = client
        .get_trail_status()
        .name(&arn)
        .send()
        .await
        .map_err(|e| {
            fail(
                "GetTrailStatus",
                regional_failure(
                    session,
                    Service::CloudTrail,
                    home_region,
                    Some(arn.clone()),
                    "GetTrailStatus",
                    &e,
                ),
            )
        })?;
    let selectors = client
        .get_event_selectors()
        .trail_name(&arn)
        .send()
        .await
        .map_err(|e| {
            fail(
                "GetEventSelectors",
                regional_failure(
                    session,
                    Service::CloudTrail,
                    home_region,
                    Some(arn.clone()),
                    "GetEventSelectors",
                    &e,
                ),
            )
        })?;
    let insights: Vec<Value> = match client.get_insight_selectors().trail_name(&arn).send().await {
        Ok(out) => out
            .insight_selectors()
            .iter()
            .map(|s| json!({"InsightType": s.insight_type().map(|t| t.as_str())}))
            .collect(),
        Err(e) if error_code(&e) == Some("InsightNotEnabledException") => Vec::new(),
        Err(e) => {
            return Err(fail(
                "GetInsightSelectors",
                regional_failure(
                    session,
                    Service::CloudTrail,
                    home_region,
                    Some(arn.clone()),
                    "GetInsightSelectors",
                    &e,
                ),
            ))
        }
    };
    let classic = selectors.event_selectors();
    let advanced = selectors.advanced_event_selectors();
    let (mgmt_read, mgmt_write) = management_events(classic, advanced);
    let (s3_read, s3_write) = s3_data_events(classic, advanced);
    let configuration = json!({
        "Name": name,
        "Arn": arn,
        "HomeRegion": home_region,
        "IsMultiRegionTrail": trail.is_multi_region_trail().unwrap_or(false),
        "IsOrganizationTrail": trail.is_organization_trail().unwrap_or(false),
        "IncludeGlobalServiceEvents": trail.include_global_service_events().unwrap_or(false),
        "S3BucketName": trail.s3_bucket_name(),
        "S3KeyPrefix": trail.s3_key_prefix(),
        "SnsTopicArn": trail.sns_topic_arn(),
        "LogFileValidationEnabled": trail.log_file_validation_enabled().unwrap_or(false),
        "CloudWatchLogsLogGroupArn": trail.cloud_watch_logs_log_group_arn().filter(|s| !s.is_empty()),
        "CloudWatchLogsRoleArn": trail.cloud_watch_logs_role_arn().filter(|s| !s.is_empty()),
        "KmsKeyId": trail.kms_key_id().filter(|s| !s.is_empty()),
        "IsLogging": status.is_logging().unwrap_or(false),
        "EventSelectors": classic.iter().map(classic_json).collect::<Vec<_>>(),
        "AdvancedEventSelectors": advanced.iter().map(advanced_json).collect::<Vec<_>>(),
        "InsightSelectors": insights,
        "ManagementEvents": {"Read": mgmt_read, "Write": mgmt_write},
        "S3DataEvents": {"Read": s3_read, "Write": s3_write},
    });
    Ok(Box::new(Resource {
        arn: arn.clone(),
        account_id: account_id.clone(),
        service: Service::CloudTrail,
        resource_type: TRAIL_TYPE.into(),
        region: home_region.to_owned(),
        configuration,
        last_seen_at: observed,
    }))
}

fn classic_json(s: &EventSelector) -> Value {
    json!({
        "ReadWriteType": s.read_write_type().map(|t| t.as_str()).unwrap_or("All"),
        "IncludeManagementEvents": s.include_management_events().unwrap_or(true),
        "DataResources": s.data_resources().iter().map(|d| json!({
            "Type": d.r#type(),
            "Values": d.values(),
        })).collect::<Vec<_>>(),
        "ExcludeManagementEventSources": s.exclude_management_event_sources(),
    })
}

fn advanced_json(s: &AdvancedEventSelector) -> Value {
    json!({
        "Name": s.name(),
        "FieldSelectors": s.field_selectors().iter().map(|f| json!({
            "Field": f.field(),
            "Equals": f.equals(),
            "StartsWith": f.starts_with(),
            "EndsWith": f.ends_with(),
            "NotEquals": f.not_equals(),
            "NotStartsWith": f.not_starts_with(),
            "NotEndsWith": f.not_ends_with(),
        })).collect::<Vec<_>>(),
    })
}

/// Which directions a classic selector's `ReadWriteType` records (absent means All).
fn classic_directions(s: &EventSelector) -> (bool, bool) {
    match s.read_write_type().map(|t| t.as_str()) {
        Some("ReadOnly") => (true, false),
        Some("WriteOnly") => (false, true),
        _ => (true, true),
    }
}

/// An advanced selector's field selectors by field name, when every one is an `Equals` list
/// (any other operator narrows what it records).
fn equals_only(s: &AdvancedEventSelector) -> Option<BTreeMap<&str, &[String]>> {
    let mut fields = BTreeMap::new();
    for f in s.field_selectors() {
        let narrows = !f.starts_with().is_empty()
            || !f.ends_with().is_empty()
            || !f.not_equals().is_empty()
            || !f.not_starts_with().is_empty()
            || !f.not_ends_with().is_empty();
        if narrows || fields.insert(f.field(), f.equals()).is_some() {
            return None;
        }
    }
    Some(fields)
}

/// The directions an advanced selector's `readOnly` field allows (absent: both).
fn advanced_directions(fields: &BTreeMap<&str, &[String]>) -> (bool, bool) {
    match fields.get("readOnly") {
        None => (true, true),
        Some(values) => (
            values.iter().any(|v| v == "true"),
            values.iter().any(|v| v == "false"),
        ),
    }
}

/// Whether the selectors record every read and every write management event: a classic
/// selector including management events with no excluded event source, or an advanced selector
/// on `eventCategory = Management` narrowed by nothing but `readOnly`. Read and write may come
/// from different selectors.
pub fn management_events(
    classic: &[EventSelector],
    advanced: &[AdvancedEventSelector],
) -> (bool, bool) {
    let mut read = false;
    let mut write = false;
    for s in classic {
        if s.include_management_events().unwrap_or(true)
            && s.exclude_management_event_sources().is_empty()
        {
            let (r, w) = classic_directions(s);
            read |= r;
            write |= w;
        }
    }
    for s in advanced {
        let Some(fields) = equals_only(s) else {
            continue;
        };
        let management = fields
            .get("eventCategory")
            .is_some_and(|v| v.iter().any(|c| c == "Management"));
        let others = fields
            .keys()
            .all(|k| *k == "eventCategory" || *k == "readOnly");
        if management && others {
            let (r, w) = advanced_directions(&fields);
            read |= r;
            write |= w;
        }
    }
    (read, write)
}

/// True for a data resource value that means every bucket: `arn:<partition>:s3` or
/// `arn:<partition>:s3:::`.
fn all_buckets(value: &str) -> bool {
    let Some(rest) = value.strip_prefix("arn:") else {
        return false;
    };
    let after_partition = rest.split_once(':').map(|(_, r)| r);
    matches!(after_partition, Some("s3") | Some("s3:::"))
}

/// Whether the selectors record S3 object-level read and write events for every bucket: a
/// classic data resource of type `AWS::S3::Object` whose values name all buckets, or an advanced
/// selector on `eventCategory = Data` and `resources.type = AWS::S3::Object` narrowed by nothing
/// but `readOnly`.
pub fn s3_data_events(
    classic: &[EventSelector],
    advanced: &[AdvancedEventSelector],
) -> (bool, bool) {
    let mut read = false;
    let mut write = false;
    for s in classic {
        let every_bucket = s.data_resources().iter().any(|d| {
            d.r#type() == Some("AWS::S3::Object") && d.values().iter().any(|v| all_buckets(v))
        });
        if every_bucket {
            let (r, w) = classic_directions(s);
            read |= r;
            write |= w;
        }
    }
    for s in advanced {
        let Some(fields) = equals_only(s) else {
            continue;
        };
        let data = fields
            .get("eventCategory")
            .is_some_and(|v| v.iter().any(|c| c == "Data"));
        let objects = fields
            .get("resources.type")
            .is_some_and(|v| v.iter().any(|t| t == "AWS::S3::Object"));
        let others = fields
            .keys()
            .all(|k| matches!(*k, "eventCategory" | "resources.type" | "readOnly"));
        if data && objects && others {
            let (r, w) = advanced_directions(&fields);
            read |= r;
            write |= w;
        }
    }
    (read, write)
}

/// The coverage entry of one trail.
fn coverage_entry(trail: &Resource) -> Value {
    let c = &trail.configuration;
    json!({
        "Arn": trail.arn,
        "HomeRegion": c["HomeRegion"],
        "IsMultiRegionTrail": c["IsMultiRegionTrail"],
        "IsLogging": c["IsLogging"],
        "ManagementEvents": c["ManagementEvents"],
        "S3DataEvents": c["S3DataEvents"],
    })
}

fn coverage_resource(session: &AccountSession, mut entries: Vec<Value>) -> Resource {
    let account_id = &session.account.account_id;
    entries.sort_by(|a, b| a["Arn"].as_str().cmp(&b["Arn"].as_str()));
    Resource {
        arn: coverage_arn(session.partition(), account_id),
        account_id: account_id.clone(),
        service: Service::CloudTrail,
        resource_type: ACCOUNT_TRAIL_COVERAGE_TYPE.into(),
        region: session.home_region().to_owned(),
        configuration: json!({"AccountId": account_id, "Trails": entries}),
        last_seen_at: Utc::now(),
    }
}

/// What a sweep of every listed region found, for the coverage.
#[derive(Default)]
struct Sweep {
    entries: Vec<Value>,
    homes: Vec<String>,
    shadows: BTreeMap<String, (String, Trail)>,
    failure: Option<CollectionError>,
}

impl Sweep {
    fn record(&mut self, region: &str, found: &RegionTrails) {
        self.homes.push(region.to_owned());
        for trail in &found.home {
            match trail {
                Ok(resource) => self.entries.push(coverage_entry(resource)),
                Err((_, error)) => {
                    self.failure.get_or_insert_with(|| error.clone());
                }
            }
        }
        for (arn, home, trail) in &found.shadows {
            self.shadows
                .entry(arn.clone())
                .or_insert_with(|| (home.clone(), trail.clone()));
        }
    }

    /// The coverage once every region is in: multi-Region trails homed outside the listed
    /// regions are read at their home. `None` with the error when something could not be read.
    async fn finish(
        self,
        session: &AccountSession,
        completeness: &Completeness,
    ) -> Result<Resource, CollectionError> {
        if let Some(failure) = completeness.failures().first() {
            return Err(failure.error.clone());
        }
        if let Some(error) = self.failure {
            return Err(error);
        }
        let mut entries = self.entries;
        for (home, trail) in self.shadows.values() {
            if self.homes.contains(home) {
                continue;
            }
            let resource = describe_at_home(session, home, trail)
                .await
                .map_err(|(_, e)| e)?;
            entries.push(coverage_entry(&resource));
        }
        Ok(coverage_resource(session, entries))
    }
}

/// Lists every region's trails, then the account's coverage.
async fn collect(session: &AccountSession, out: &Sender<Collected>) -> Completeness {
    let sweep = Mutex::new(Sweep::default());
    let completeness = super::regions::collect_regions(session, Service::CloudTrail, |region| {
        let sweep = &sweep;
        async move {
            let found = list_region(session, &region).await?;
            if let Ok(mut s) = sweep.lock() {
                s.record(&region, &found);
            }
            for trail in found.home {
                match trail {
                    Ok(resource) => send(out, Collected::Resource(resource)).await,
                    Err((arn, error)) => {
                        warn!(%error, "trail collection failed");
                        send(out, Collected::Failed { arn, error }).await
                    }
                }
            }
            Ok(())
        }
    })
    .await;
    let sweep = sweep
        .into_inner()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let arn = coverage_arn(session.partition(), &session.account.account_id);
    match sweep.finish(session, &completeness).await {
        Ok(coverage) => send(out, Collected::Resource(Box::new(coverage))).await,
        Err(error) => {
            warn!(%error, "account trail coverage not built");
            send(out, Collected::Failed { arn, error }).await
        }
    }
    completeness
}

/// Re-describes one trail (event processor) from the session's region, which is the trail's
/// home when the event named it by ARN. A trail named by name only is looked up among the
/// trails homed in that region (CloudTrail requires the ARN to act on a trail elsewhere).
pub async fn describe_trail(
    session: &AccountSession,
    name: &str,
) -> Result<Described, CollectionError> {
    let region = session.home_region().to_owned();
    let trails = visible_trails(session, &region).await?;
    let found = trails.into_iter().find(|t| {
        t.home_region().unwrap_or(&region) == region
            && (t.name() == Some(name) || t.trail_arn() == Some(name))
    });
    match found {
        None => Ok(Described::NotFound),
        Some(trail) => describe_at_home(session, &region, &trail)
            .await
            .map(Described::Found)
            .map_err(|(_, e)| e),
    }
}

/// Re-describes the account's coverage (event processor): every listed region swept again.
pub async fn describe_coverage(session: &AccountSession) -> Result<Described, CollectionError> {
    let sweep = Mutex::new(Sweep::default());
    let completeness = super::regions::collect_regions(session, Service::CloudTrail, |region| {
        let sweep = &sweep;
        async move {
            let found = list_region(session, &region).await?;
            if let Ok(mut s) = sweep.lock() {
                s.record(&region, &found);
            }
            Ok(())
        }
    })
    .await;
    let sweep = sweep
        .into_inner()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let coverage = sweep.finish(session, &completeness).await?;
    Ok(Described::Found(Box::new(coverage)))
}

#[cfg(test)]
mod tests {
    use aws_sdk_cloudtrail::types::{AdvancedFieldSelector, DataResource, ReadWriteType};

    use super::*;

    fn classic(rw: ReadWriteType, management: bool, excluded: &[&str]) -> EventSelector {
        let mut b = EventSelector::builder()
            .read_write_type(rw)
            .include_management_events(management);
        for e in excluded {
            b = b.exclude_management_event_sources(*e);
        }
        b.build()
    }

    fn field(name: &str, equals: &[&str]) -> AdvancedFieldSelector {
        let mut b = AdvancedFieldSelector::builder().field(name);
        for v in equals {
            b = b.equals(*v);
        }
        b.build().expect("field is set")
    }

    fn advanced(fields: Vec<AdvancedFieldSelector>) -> AdvancedEventSelector {
        AdvancedEventSelector::builder()
            .set_field_selectors(Some(fields))
            .build()
            .expect("fields are set")
    }

    #[test]
    fn read_and_write_management_events_may_come_from_two_classic_selectors() {
        // given a read-only and a write-only management selector
        let both = [
            classic(ReadWriteType::ReadOnly, true, &[]),
            classic(ReadWriteType::WriteOnly, true, &[]),
        ];
        // then together they record all management events
        assert_eq!(management_events(&both, &[]), (true, true));
        // given one that excludes KMS events, or one without management events
        let excluded = [classic(ReadWriteType::All, true, &["kms.amazonaws.com"])];
        let data_only = [classic(ReadWriteType::All, false, &[])];
        // then neither records them all
        assert_eq!(management_events(&excluded, &[]), (false, false));
        assert_eq!(management_events(&data_only, &[]), (false, false));
    }

    #[test]
    fn an_advanced_management_selector_counts_unless_something_but_read_only_narrows_it() {
        // given the console's default advanced selector, a write-only one and one narrowed by source
        let all = [advanced(vec![field("eventCategory", &["Management"])])];
        let writes = [advanced(vec![
            field("eventCategory", &["Management"]),
            field("readOnly", &["false"]),
        ])];
        let narrowed = [advanced(vec![
            field("eventCategory", &["Management"]),
            AdvancedFieldSelector::builder()
                .field("eventSource")
                .not_equals("kms.amazonaws.com")
                .build()
                .expect("field is set"),
        ])];
        // then
        assert_eq!(management_events(&[], &all), (true, true));
        assert_eq!(management_events(&[], &writes), (false, true));
        assert_eq!(management_events(&[], &narrowed), (false, false));
    }

    #[test]
    fn s3_data_events_count_only_for_every_bucket() {
        // given a classic selector on all buckets, and one on a single bucket
        let every = EventSelector::builder()
            .read_write_type(ReadWriteType::WriteOnly)
            .data_resources(
                DataResource::builder()
                    .r#type("AWS::S3::Object")
                    .values("arn:aws:s3")
                    .build(),
            )
            .build();
        let one = EventSelector::builder()
            .data_resources(
                DataResource::builder()
                    .r#type("AWS::S3::Object")
                    .values("arn:aws:s3:::one-bucket/")
                    .build(),
            )
            .build();
        // then only the first counts, for writes only
        assert_eq!(s3_data_events(&[every], &[]), (false, true));
        assert_eq!(s3_data_events(&[one], &[]), (false, false));
        // and an advanced selector on S3 objects counts both ways
        let adv = [advanced(vec![
            field("eventCategory", &["Data"]),
            field("resources.type", &["AWS::S3::Object"]),
        ])];
        assert_eq!(s3_data_events(&[], &adv), (true, true));
        assert!(all_buckets("arn:aws-cn:s3:::") && !all_buckets("arn:aws:s3:::b"));
    }
}
