//! Listing a bucket (or a prefix) into scan-unit messages, across as many invocations as it
//! takes.
//!
//! Each ListObjectsV2 page becomes unit messages sent in `SendMessageBatch`es of
//! [`SEND_BATCH`]; then the page is counted once by number ([`ScanJobStore::count_page`]).
//! After [`ObjectScanSettings::pages_per_invocation`] pages or
//! [`ObjectScanSettings::enumeration_budget`] (whichever first), the listing hands over to a
//! continuation message carrying the continuation token and the next page number. Replays are
//! harmless: a page enqueued twice is counted once, and its units are deduplicated by their
//! `DONE` markers.
//!
//! [`ScanJobStore::count_page`]: crate::store::object_scan::ScanJobStore::count_page
//! [`ObjectScanSettings::pages_per_invocation`]: crate::config::ObjectScanSettings::pages_per_invocation
//! [`ObjectScanSettings::enumeration_budget`]: crate::config::ObjectScanSettings::enumeration_budget

use std::time::Instant;

use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use serde::Serialize;
use tracing::{info, info_span, warn, Instrument};

use super::model::{
    Continuation, ContinuationMessage, JobKind, JobRequest, ObjectMessage, ScanJob,
};
use super::pipeline::plan_units;
use super::{Invocation, ObjectScanError};
use crate::store::object_scan::PageCount;

/// Messages per SendMessageBatch (the SQS maximum).
pub const SEND_BATCH: usize = 10;
/// Attempts at sending the entries SQS reported as failed in a batch.
const SEND_ATTEMPTS: u32 = 3;

/// What one invocation's share of a listing did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct EnumerationProgress {
    pub pages: u64,
    pub objects: u64,
    pub units: u64,
    /// True when the listing has ended; false when a continuation message was enqueued.
    pub done: bool,
}

/// What creating a job answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobStarted {
    pub job_id: String,
    pub bucket: String,
    pub prefix: Option<String>,
    pub account_id: Option<String>,
    pub region: String,
    pub created_at: String,
    pub status: &'static str,
    /// The first invocation's share of the listing.
    pub enumeration: EnumerationProgress,
}

impl Invocation<'_> {
    /// The queue URL, required to enqueue anything.
    pub(crate) fn queue_url(&self) -> Result<&str, ObjectScanError> {
        self.scanner
            .config
            .object_scan
            .queue_url
            .as_deref()
            .ok_or(ObjectScanError::NoQueue)
    }

    /// The bucket's region from GetBucketLocation (`None`/empty is us-east-1, `EU` eu-west-1).
    pub(crate) async fn bucket_region(
        &self,
        bucket: &str,
        account_id: Option<&str>,
    ) -> Result<String, ObjectScanError> {
        let s3 = self.s3(account_id, "us-east-1").await?;
        let out = s3
            .get_bucket_location()
            .bucket(bucket)
            .send()
            .await
            .map_err(|e| ObjectScanError::bucket_call("GetBucketLocation", bucket, &e))?;
        Ok(match out.location_constraint().map(|c| c.as_str()) {
            None | Some("") => "us-east-1".to_owned(),
            Some("EU") => "eu-west-1".to_owned(),
            Some(other) => other.to_owned(),
        })
    }

    /// Creates a job and lists as much as this invocation's budget allows.
    pub async fn start_job(&self, request: &JobRequest) -> Result<JobStarted, ObjectScanError> {
        self.queue_url()?;
        let region = match &request.region {
            Some(r) => r.clone(),
            None => {
                self.bucket_region(&request.bucket, request.account_id.as_deref())
                    .await?
            }
        };
        let job = ScanJob {
            job_id: uuid::Uuid::new_v4().to_string(),
            bucket: request.bucket.clone(),
            prefix: request.prefix.clone().filter(|p| !p.is_empty()),
            account_id: request.account_id.clone(),
            region: region.clone(),
            kind: Some(JobKind::OneOff),
            created_at: crate::store::timestamp(chrono::Utc::now()),
            ..ScanJob::default()
        };
        self.scanner.jobs.create(&job).await?;
        info!(job = %job.job_id, bucket = %job.bucket, prefix = job.prefix.as_deref().unwrap_or(""), "scan job created");
        let continuation = Continuation {
            job_id: job.job_id.clone(),
            bucket: job.bucket.clone(),
            prefix: job.prefix.clone(),
            account_id: job.account_id.clone(),
            region,
            token: None,
            page: 0,
        };
        let enumeration = match self.enumerate(continuation).await {
            Ok(progress) => progress,
            Err(e) => {
                // The job is failed with the reason (its status says so); the caller gets the
                // job id with the error, retryable only if the cause is.
                self.scanner
                    .jobs
                    .fail_enumeration(&job.job_id, &e.to_string())
                    .await?;
                warn!(job = %job.job_id, error = %e, "scan job failed while listing");
                return Err(ObjectScanError::JobFailed {
                    job_id: job.job_id,
                    source: Box::new(e),
                });
            }
        };
        Ok(JobStarted {
            job_id: job.job_id,
            bucket: job.bucket,
            prefix: job.prefix,
            account_id: job.account_id,
            region: job.region,
            created_at: job.created_at,
            status: if enumeration.done {
                "running"
            } else {
                "enumerating"
            },
            enumeration,
        })
    }

    /// Lists from `from` on, until the listing ends or the budget is spent.
    pub async fn enumerate(
        &self,
        from: Continuation,
    ) -> Result<EnumerationProgress, ObjectScanError> {
        let span =
            info_span!("enumerate", job = %from.job_id, bucket = %from.bucket, page = from.page);
        self.enumerate_inner(from).instrument(span).await
    }

    async fn enumerate_inner(
        &self,
        mut at: Continuation,
    ) -> Result<EnumerationProgress, ObjectScanError> {
        let settings = &self.scanner.config.object_scan;
        let queue = self.queue_url()?;
        let s3 = self.s3(at.account_id.as_deref(), &at.region).await?;
        let started = Instant::now();
        let mut progress = EnumerationProgress::default();
        loop {
            let out = s3
                .list_objects_v2()
                .bucket(&at.bucket)
                .set_prefix(at.prefix.clone())
                .set_continuation_token(at.token.clone())
                .max_keys(settings.list_page_size)
                .send()
                .await
                .map_err(|e| ObjectScanError::bucket_call("ListObjectsV2", &at.bucket, &e))?;
            let mut messages = Vec::new();
            let mut objects = 0u64;
            for object in out.contents() {
                let (Some(key), Some(etag)) = (object.key(), object.e_tag()) else {
                    continue;
                };
                let size = u64::try_from(object.size().unwrap_or(0)).unwrap_or(0);
                objects += 1;
                for range in plan_units(
                    key,
                    size,
                    settings.bytes_per_message,
                    settings.max_object_bytes,
                ) {
                    messages.push(ObjectMessage {
                        job_id: at.job_id.clone(),
                        bucket: at.bucket.clone(),
                        key: key.to_owned(),
                        etag: normalize_etag(etag),
                        size,
                        range,
                        account_id: at.account_id.clone(),
                        region: Some(at.region.clone()),
                    });
                }
            }
            let bodies = messages
                .iter()
                .map(serde_json::to_string)
                .collect::<Result<Vec<_>, _>>()
                .map_err(ObjectScanError::InvalidRequest)?;
            self.send_all(queue, &bodies).await?;
            let next = out.next_continuation_token().map(str::to_owned);
            let last = !out.is_truncated().unwrap_or(false) || next.is_none();
            let counted = self
                .scanner
                .jobs
                .count_page(
                    &at.job_id,
                    &PageCount {
                        page: at.page,
                        objects,
                        units: messages.len() as u64,
                        last,
                    },
                )
                .await?;
            if !counted {
                warn!(
                    page = at.page,
                    "listing page was already counted (replayed continuation)"
                );
            }
            progress.pages += 1;
            progress.objects += objects;
            progress.units += messages.len() as u64;
            info!(
                page = at.page,
                objects,
                units = messages.len(),
                last,
                "listing page enqueued"
            );
            if last {
                progress.done = true;
                return Ok(progress);
            }
            at.token = next;
            at.page += 1;
            let over_budget = progress.pages >= u64::from(settings.pages_per_invocation)
                || started.elapsed() >= settings.enumeration_budget
                || self.deadline.is_some_and(|d| {
                    d.saturating_duration_since(Instant::now()) < worker::DEADLINE_MARGIN * 2
                });
            if over_budget {
                let body = serde_json::to_string(&ContinuationMessage {
                    enumerate: at.clone(),
                })
                .map_err(ObjectScanError::InvalidRequest)?;
                self.send_all(queue, &[body]).await?;
                info!(
                    next_page = at.page,
                    "listing continues in another invocation"
                );
                return Ok(progress);
            }
        }
    }

    /// Sends message bodies in batches of [`SEND_BATCH`], re-sending failed entries a bounded
    /// number of times.
    pub(crate) async fn send_all(
        &self,
        queue: &str,
        bodies: &[String],
    ) -> Result<(), ObjectScanError> {
        for chunk in bodies.chunks(SEND_BATCH) {
            let mut pending: Vec<(String, &String)> = chunk
                .iter()
                .enumerate()
                .map(|(i, b)| (i.to_string(), b))
                .collect();
            for attempt in 1..=SEND_ATTEMPTS {
                let entries = pending
                    .iter()
                    .map(|(id, body)| {
                        SendMessageBatchRequestEntry::builder()
                            .id(id)
                            .message_body(body.as_str())
                            .build()
                            .map_err(|e| ObjectScanError::Aws {
                                operation: "SendMessageBatch",
                                code: "BuildError".into(),
                                message: e.to_string(),
                            })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let out = self
                    .scanner
                    .sqs
                    .send_message_batch()
                    .queue_url(queue)
                    .set_entries(Some(entries))
                    .send()
                    .await
                    .map_err(|e| ObjectScanError::aws("SendMessageBatch", &e))?;
                let failed: Vec<String> = out.failed().iter().map(|f| f.id().to_owned()).collect();
                if failed.is_empty() {
                    break;
                }
                if attempt == SEND_ATTEMPTS {
                    return Err(ObjectScanError::Aws {
                        operation: "SendMessageBatch",
                        code: out.failed()[0].code().to_owned(),
                        message: format!("{} messages not accepted after retries", failed.len()),
                    });
                }
                pending.retain(|(id, _)| failed.contains(id));
            }
        }
        Ok(())
    }
}

use super::worker;

/// ETags without their quotes (ListObjectsV2 and GetObject quote them, notifications do not).
pub fn normalize_etag(etag: &str) -> String {
    etag.trim_matches('"').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_quoted_and_bare_etags_when_normalized_then_they_are_equal() {
        assert_eq!(normalize_etag("\"abc-2\""), normalize_etag("abc-2"));
    }
}
