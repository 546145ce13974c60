//! The S3 object scanner: sensitive data (SSN, card numbers, AWS keys, email, US phone) in
//! buckets of any size, as scan jobs run by one Lambda function fed by one SQS queue.
//!
//! # Flow
//!
//! 1. `{"bucket", "prefix"?, "account_id"?}` creates a job and starts the listing
//!    ([`enumerate`]): ListObjectsV2 page by page, one message per scan unit in
//!    `SendMessageBatch`es of 10. An object larger than `bytes_per_message` is split into byte
//!    ranges ([`pipeline::plan_units`]), one message each. After a page or time budget the
//!    invocation enqueues a *continuation* message carrying the continuation token; whichever
//!    invocation receives it lists on. The last page marks the listing done, and the job then
//!    knows its total.
//!    A listing S3 refuses for good (missing bucket, access denied, wrong region:
//!    [`BUCKET_REFUSALS`]) fails the job with the reason in its status, and the request that
//!    started it gets a non-retryable error naming the job.
//! 2. Workers ([`worker`]) receive batches of unit messages, scan up to
//!    [`worker::MESSAGE_CONCURRENCY`] of them at once, stream each object through
//!    [`pipeline::StreamScan`] (gzip, binary, size limit, compression-ratio bound, ranges) on a
//!    blocking thread, so one heavy object does not hold up the others of its batch, store
//!    each finding once, and return the messages that failed as batch item failures. A kind
//!    with more matches in a unit than the detectors keep is recorded on the unit and counted
//!    on the job (`capped_by_kind`): its findings are a lower bound.
//! 3. `{"action": "status"}` and `{"action": "results"}` read the job and its findings (a
//!    results cursor must be one returned for the same job); `{"action": "enroll"}` wires a
//!    bucket's ObjectCreated notifications to the queue, and the worker turns each
//!    notification into units of the bucket's continuous job ([`notify`]).
//!
//! # Exactly-once counting
//!
//! Messages are delivered at least once and may be processed concurrently. Each counter moves
//! in the same DynamoDB transaction that creates a marker item conditioned on
//! `attribute_not_exists` (see [`crate::store::object_scan`]): `PAGE#<n>` counts a listing page
//! (so a redelivered continuation does not add its page's units twice), `START#<unit>` counts a
//! unit started, `DONE#<unit>` records its outcome. A unit whose `DONE` marker exists is
//! acknowledged without work; a duplicate that races past that check loses the transaction and
//! changes nothing. Findings are stored with a conditional put on
//! `(job, key#etag#detector#offset)` (for keys too long for a sort key, the key's head and a
//! hash: [`crate::store::object_scan::finding_id`]), and the findings counter moves with `DONE` by the number
//! of findings of the scan that completed the unit (a deterministic scan of the same bytes), so
//! a redelivery after a crash neither duplicates nor loses them. queued = units - started,
//! processing = started - done.
//!
//! # Failures and the dead-letter queue
//!
//! The queue dead-letters a message after `max_receives` (3) receives. A worker reads the
//! message's `ApproximateReceiveCount`: when a unit fails on its last receive, it first records
//! the unit `failed` (its `DONE` marker, with the error as reason) and then still reports the
//! message as failed, so SQS moves it to the DLQ for inspection and the job finishes with it
//! counted failed. Each message runs under a deadline a few seconds short of the invocation's,
//! so a slow object fails in time to be recorded rather than being killed by the Lambda
//! timeout. A continuation message failing for good ends the listing with its error. A body
//! that is no message of ours (nothing to count) is dead-lettered as is.
//!
//! The S3 permissions the scanner uses in a customer account are declared with the account's
//! session, in [`crate::collect::session::OBJECT_SCAN_PERMISSIONS`].

pub mod enumerate;
pub mod model;
pub mod notify;
pub mod pipeline;
pub mod worker;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use aws_config::SdkConfig;
use aws_lambda_events::event::sqs::SqsEvent;
use qrie_detectors::Detectors;
use serde_json::{json, Value};
use tokio::sync::{Mutex, OnceCell};
use tracing::info;

use crate::config::Config;
use crate::store::object_scan::{
    DynamoObjectFindings, DynamoScanJobs, ObjectFindingStore, ScanJobStore,
};
use crate::store::{AccountStore, StoreError};
use model::{ActionRequest, JobRequest, JobStatus, ResultsQuery};

/// S3 error codes that refuse a bucket for good: the job fails with the reason, and the
/// request is not retryable.
pub const BUCKET_REFUSALS: &[&str] = &[
    "NoSuchBucket",
    "AccessDenied",
    "AllAccessDisabled",
    "InvalidBucketName",
    "PermanentRedirect",
    "AuthorizationHeaderMalformed",
    "IllegalLocationConstraintException",
];

/// Capped units (objects with more matches of a kind than the detectors keep) a results page
/// names at most.
pub const MAX_CAPPED_UNITS_LISTED: usize = 100;

/// The session name qrie uses in customer accounts for object scans.
const SESSION_NAME: &str = "qrie-object-scan";

/// A request that cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum ObjectScanError {
    #[error("unrecognised payload: expected an SQS event, {{\"bucket\": ...}} or {{\"action\": \"status\"|\"results\"|\"enroll\", ...}}; got {0}")]
    UnknownPayload(String),
    #[error("invalid request: {0}")]
    InvalidRequest(#[source] serde_json::Error),
    #[error("job {0} does not exist")]
    UnknownJob(String),
    #[error("unknown detector {0:?}")]
    UnknownDetector(String),
    #[error("invalid cursor for job {job_id}: {reason}; pass the next_cursor of this job's previous results page, or no cursor for the first page")]
    InvalidCursor {
        job_id: String,
        #[source]
        reason: crate::store::object_scan::CursorError,
    },
    #[error("QRIE_OBJECT_SCAN_QUEUE_URL is not set: jobs cannot be enqueued")]
    NoQueue,
    #[error("account {0} is not onboarded (or disabled)")]
    UnknownAccount(String),
    #[error("cannot reach account {account_id}: {message}")]
    Session { account_id: String, message: String },
    #[error("bucket {bucket} cannot be scanned: {operation} answered {code}: {message}")]
    BucketRefused {
        bucket: String,
        operation: &'static str,
        code: String,
        message: String,
    },
    #[error("job {job_id} failed: {source}")]
    JobFailed {
        job_id: String,
        source: Box<ObjectScanError>,
    },
    #[error("{operation} failed: {code}: {message}")]
    Aws {
        operation: &'static str,
        code: String,
        message: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ObjectScanError {
    /// False for requests that can never succeed as sent.
    pub fn is_retryable(&self) -> bool {
        match self {
            ObjectScanError::JobFailed { source, .. } => source.is_retryable(),
            other => matches!(
                other,
                ObjectScanError::Aws { .. }
                    | ObjectScanError::Store(_)
                    | ObjectScanError::Session { .. }
            ),
        }
    }

    /// A failed call on a bucket: [`ObjectScanError::BucketRefused`] when S3 answers that
    /// the bucket cannot be read as asked (missing, access denied, wrong region: retrying
    /// cannot help), else [`ObjectScanError::Aws`].
    pub(crate) fn bucket_call<E, R>(
        operation: &'static str,
        bucket: &str,
        err: &aws_sdk_s3::error::SdkError<E, R>,
    ) -> Self
    where
        E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        let (code, message) = crate::collect::call_failure(err);
        if BUCKET_REFUSALS.contains(&code.as_str()) {
            ObjectScanError::BucketRefused {
                bucket: bucket.to_owned(),
                operation,
                code,
                message,
            }
        } else {
            ObjectScanError::Aws {
                operation,
                code,
                message,
            }
        }
    }

    pub(crate) fn aws<E, R>(
        operation: &'static str,
        err: &aws_sdk_s3::error::SdkError<E, R>,
    ) -> Self
    where
        E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        let (code, message) = crate::collect::call_failure(err);
        ObjectScanError::Aws {
            operation,
            code,
            message,
        }
    }
}

impl crate::sqs_batch::MessageFailure for ObjectScanError {
    fn is_retryable(&self) -> bool {
        ObjectScanError::is_retryable(self)
    }
}

impl From<ObjectScanError> for lambda_runtime::Diagnostic {
    fn from(e: ObjectScanError) -> Self {
        crate::sqs_batch::MessageFailure::diagnostic(&e)
    }
}

/// Everything the object scanner needs, built once per cold start.
pub struct ObjectScanner {
    pub config: Config,
    pub sdk: SdkConfig,
    pub jobs: Arc<dyn ScanJobStore>,
    pub findings: Arc<dyn ObjectFindingStore>,
    pub accounts: Arc<dyn AccountStore>,
    pub sqs: aws_sdk_sqs::Client,
    pub detectors: Detectors,
    /// Watches scans progress ([`worker::NoProbe`] unless a test sets one).
    pub probe: Arc<dyn worker::ScanProbe>,
    /// The posture tables: where a unit's findings are summed per bucket
    /// ([`crate::store::object_data`]) and the bucket's combination policies re-evaluated.
    pub posture: Arc<crate::store::Stores>,
    /// The policies those re-evaluations apply.
    pub catalog: Arc<crate::policy::Catalog>,
}

impl ObjectScanner {
    /// DynamoDB stores and an SQS client from `config`.
    pub fn new(config: Config, sdk: SdkConfig) -> Self {
        let ddb = crate::aws::dynamodb_client(&sdk);
        Self {
            jobs: Arc::new(DynamoScanJobs::new(ddb.clone(), &config.tables.scan_jobs)),
            findings: Arc::new(DynamoObjectFindings::new(
                ddb.clone(),
                &config.tables.object_findings,
            )),
            accounts: Arc::new(crate::store::dynamo::DynamoAccounts::new(
                ddb.clone(),
                &config.tables.accounts,
            )),
            posture: Arc::new(crate::store::Stores::dynamodb(ddb, &config.tables)),
            catalog: Arc::new(crate::policy::Catalog::embedded()),
            sqs: aws_sdk_sqs::Client::new(&sdk),
            detectors: Detectors::new(),
            probe: Arc::new(worker::NoProbe),
            config,
            sdk,
        }
    }

    /// Serves one invocation: dispatches on the payload's shape. `deadline` is when the
    /// invocation must have answered (Lambda's), if known.
    pub async fn handle(
        &self,
        payload: Value,
        deadline: Option<Instant>,
    ) -> Result<Value, ObjectScanError> {
        let session = Invocation::new(self, deadline);
        if is_sqs_event(&payload) {
            let event: SqsEvent =
                serde_json::from_value(payload).map_err(ObjectScanError::InvalidRequest)?;
            let response = session.process_batch(&event.records).await;
            return serde_json::to_value(response).map_err(ObjectScanError::InvalidRequest);
        }
        if payload.get("action").is_some() {
            let action: ActionRequest =
                serde_json::from_value(payload).map_err(ObjectScanError::InvalidRequest)?;
            return session.action(action).await;
        }
        if payload.get("bucket").is_some() {
            let request: JobRequest =
                serde_json::from_value(payload).map_err(ObjectScanError::InvalidRequest)?;
            let started = session.start_job(&request).await?;
            return serde_json::to_value(started).map_err(ObjectScanError::InvalidRequest);
        }
        Err(ObjectScanError::UnknownPayload(describe_shape(&payload)))
    }
}

/// The invocation's deadline (Lambda gives it in milliseconds since the epoch) as an instant.
pub fn deadline_of(context: &lambda_runtime::Context) -> Option<Instant> {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_millis();
    let left = u128::from(context.deadline).checked_sub(now_ms)?;
    Instant::now().checked_add(std::time::Duration::from_millis(u64::try_from(left).ok()?))
}

fn is_sqs_event(payload: &Value) -> bool {
    payload
        .get("Records")
        .and_then(Value::as_array)
        .is_some_and(|records| {
            records
                .first()
                .and_then(|r| r.get("eventSource"))
                .and_then(Value::as_str)
                == Some("aws:sqs")
        })
}

/// The keys of a JSON object (never its values: they could be anything).
pub(crate) fn describe_shape(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            // Only the names qrie itself reads are echoed: any other key is counted, since a
            // hostile or careless body can put anything in a key and this text is logged.
            let (known, other): (Vec<&String>, Vec<&String>) =
                map.keys().partition(|k| KNOWN_FIELDS.contains(&k.as_str()));
            let known: Vec<&str> = known.iter().map(|k| k.as_str()).collect();
            match (known.is_empty(), other.len()) {
                (true, 0) => "an empty object".into(),
                (true, n) => format!("an object with {n} unrecognised keys"),
                (false, 0) => format!("an object with keys [{}]", known.join(", ")),
                (false, n) => format!(
                    "an object with keys [{}] and {n} unrecognised keys",
                    known.join(", ")
                ),
            }
        }
        Value::Array(_) => "an array".into(),
        Value::String(_) => "a string".into(),
        Value::Number(_) => "a number".into(),
        Value::Bool(_) => "a boolean".into(),
        Value::Null => "null".into(),
    }
}

/// The payload and message fields qrie reads, which [`describe_shape`] may name.
const KNOWN_FIELDS: &[&str] = &[
    "account_id",
    "action",
    "bucket",
    "cursor",
    "detector",
    "enumerate",
    "etag",
    "Event",
    "job_id",
    "key",
    "key_prefix",
    "limit",
    "prefix",
    "range",
    "Records",
    "region",
    "size",
];

/// An S3 client built once per (account, region) and invocation.
type ClientCell = Arc<OnceCell<aws_sdk_s3::Client>>;

/// One invocation: the scanner plus per-invocation caches (assumed-role sessions expire).
pub struct Invocation<'a> {
    pub scanner: &'a ObjectScanner,
    pub deadline: Option<Instant>,
    clients: Mutex<HashMap<(String, String), ClientCell>>,
}

impl<'a> Invocation<'a> {
    pub fn new(scanner: &'a ObjectScanner, deadline: Option<Instant>) -> Self {
        Self {
            scanner,
            deadline,
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// An S3 client for a bucket of `account_id` (qrie's own account when `None`) in `region`,
    /// one per account and region per invocation.
    pub async fn s3(
        &self,
        account_id: Option<&str>,
        region: &str,
    ) -> Result<aws_sdk_s3::Client, ObjectScanError> {
        let cell = {
            let mut clients = self.clients.lock().await;
            clients
                .entry((account_id.unwrap_or_default().to_owned(), region.to_owned()))
                .or_default()
                .clone()
        };
        cell.get_or_try_init(|| async {
            let settings = &self.scanner.config.aws;
            let Some(account_id) = account_id else {
                return Ok(crate::aws::s3_client(
                    &crate::aws::in_region(&self.scanner.sdk, region),
                    settings,
                ));
            };
            let account = self
                .scanner
                .accounts
                .get(account_id)
                .await?
                .filter(|a| a.enabled)
                .ok_or_else(|| ObjectScanError::UnknownAccount(account_id.to_owned()))?;
            let session = crate::collect::open_session(
                &self.scanner.config,
                &self.scanner.sdk,
                &account,
                SESSION_NAME,
            )
            .await
            .map_err(|e| ObjectScanError::Session {
                account_id: account_id.to_owned(),
                message: e.to_string(),
            })?;
            Ok(session.s3(region))
        })
        .await
        .cloned()
    }

    async fn action(&self, action: ActionRequest) -> Result<Value, ObjectScanError> {
        match action {
            ActionRequest::Status { job_id } => {
                let job = self
                    .scanner
                    .jobs
                    .get(&job_id)
                    .await?
                    .ok_or_else(|| ObjectScanError::UnknownJob(job_id.clone()))?;
                serde_json::to_value(JobStatus::from(&job)).map_err(ObjectScanError::InvalidRequest)
            }
            ActionRequest::Results {
                job_id,
                limit,
                cursor,
                bucket,
                key_prefix,
                detector,
            } => {
                if let Some(d) = &detector {
                    if qrie_detectors::DetectorKind::from_name(d).is_none() {
                        return Err(ObjectScanError::UnknownDetector(d.clone()));
                    }
                }
                if let Err(reason) =
                    crate::store::object_scan::results_start_key(&job_id, cursor.as_deref())
                {
                    return Err(ObjectScanError::InvalidCursor { job_id, reason });
                }
                let Some(job) = self.scanner.jobs.get(&job_id).await? else {
                    return Err(ObjectScanError::UnknownJob(job_id));
                };
                let limit = limit.clamp(1, 1_000);
                let page = self
                    .scanner
                    .findings
                    .page(&ResultsQuery {
                        job_id: job_id.clone(),
                        limit,
                        cursor,
                        bucket,
                        key_prefix,
                        detector,
                    })
                    .await?;
                info!(job = %job_id, findings = page.items.len(), "results page read");
                let capped = &job.counts.capped_by_kind;
                let (capped_units, more_capped) = if capped.is_empty() {
                    (Vec::new(), false)
                } else {
                    self.scanner
                        .jobs
                        .capped_units(&job_id, MAX_CAPPED_UNITS_LISTED)
                        .await?
                };
                Ok(json!({
                    "job_id": job_id,
                    "limit": limit,
                    "findings": page.items,
                    "has_more": page.next.is_some(),
                    "next_cursor": page.next,
                    // Units with more matches of a kind than the detectors keep: the findings
                    // of those kinds are a lower bound.
                    "findings_lower_bound": !capped.is_empty(),
                    "capped_by_kind": capped,
                    "capped_units": capped_units,
                    "capped_units_truncated": more_capped,
                    "max_findings_per_kind_per_unit": qrie_detectors::MAX_DETECTIONS_PER_KIND,
                }))
            }
            ActionRequest::Enroll {
                bucket,
                account_id,
                region,
            } => {
                let enrolled = self
                    .enroll(&bucket, account_id.as_deref(), region.as_deref())
                    .await?;
                serde_json::to_value(enrolled).map_err(ObjectScanError::InvalidRequest)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_payload_shapes_when_classified_then_only_sqs_events_are_batches() {
        assert!(is_sqs_event(
            &json!({"Records": [{"eventSource": "aws:sqs"}]})
        ));
        assert!(!is_sqs_event(
            &json!({"Records": [{"eventSource": "aws:s3"}]})
        ));
        assert!(!is_sqs_event(&json!({"bucket": "b"})));
    }

    #[test]
    fn given_an_unknown_payload_when_described_then_only_the_keys_qrie_reads_are_named() {
        let shape = describe_shape(&json!({"secret": "AKIA...", "x": 1}));
        assert_eq!(shape, "an object with 2 unrecognised keys");
        let shape = describe_shape(&json!({"bucket": "b", "AKIAIOSFODNN7EXAMPLE": 1}));
        assert_eq!(
            shape,
            "an object with keys [bucket] and 1 unrecognised keys"
        );
        assert_eq!(describe_shape(&json!(123456789)), "a number");
    }
}
