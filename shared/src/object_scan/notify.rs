//! Continuous scanning: a bucket's ObjectCreated notifications become units of its continuous
//! job (`continuous-<bucket>`), scanned like any other.
//!
//! `{"action": "enroll", "bucket": ...}` creates the continuous job and adds a queue
//! configuration (`s3:ObjectCreated:*` to the work queue) to the bucket's notification
//! configuration, keeping the ones already there. For a bucket in a customer account, qrie's
//! read-only role cannot change notifications; the customer runs the equivalent
//! `aws s3api put-bucket-notification-configuration` (see the function's README in
//! `events/object-scanner/README.md`) and the queue policy must let that bucket send.
//!
//! A notification is counted once per object version (`UNITS#<unit>` marker, adding its units
//! to the job), then its units are sent to the queue; a redelivered notification re-sends them,
//! and their `DONE` markers make the duplicates no-ops.

use aws_sdk_s3::types::{Event, NotificationConfiguration, QueueConfiguration};
use aws_sdk_sqs::types::QueueAttributeName;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tracing::{info, warn};

use super::enumerate::normalize_etag;
use super::model::{continuous_job_id, unit_id, JobKind, ObjectMessage, ScanJob};
use super::pipeline::plan_units;
use super::worker::{WorkError, WorkOutcome};
use super::{Invocation, ObjectScanError};

/// The notification shape S3 sends (only what the scanner reads).
#[derive(Debug, Clone, Deserialize)]
pub struct S3Notification {
    #[serde(rename = "Records", default)]
    pub records: Vec<S3Record>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct S3Record {
    #[serde(rename = "eventSource", default)]
    pub event_source: String,
    #[serde(rename = "eventName", default)]
    pub event_name: String,
    #[serde(rename = "awsRegion", default)]
    pub aws_region: Option<String>,
    pub s3: S3Entity,
}

#[derive(Debug, Clone, Deserialize)]
pub struct S3Entity {
    pub bucket: S3Bucket,
    pub object: S3Object,
}

#[derive(Debug, Clone, Deserialize)]
pub struct S3Bucket {
    pub name: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct S3Object {
    /// URL-encoded, spaces as `+`.
    pub key: String,
    #[serde(default)]
    pub size: u64,
    #[serde(rename = "eTag", default)]
    pub etag: String,
}

/// What enrolling answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Enrolled {
    pub job_id: String,
    pub bucket: String,
    pub queue_arn: String,
    /// False when the bucket already sent its ObjectCreated notifications to the queue.
    pub notification_added: bool,
}

/// Decodes an S3 notification key (`+` is a space, `%XX` a byte).
pub fn decode_key(key: &str) -> String {
    let bytes = key.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(hi), Some(lo)) => {
                    out.push(hi << 4 | lo);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// Reads a notification's records. The error says which shape was expected, never the
/// offending value (serde's own message would quote it, and it is logged).
pub fn parse_notification(value: &Value) -> Result<S3Notification, WorkError> {
    serde_json::from_value(value.clone()).map_err(|_| {
        WorkError::Unrecognised(
            "an S3 notification whose Records[] do not have the expected fields and types \
             (eventSource, eventName, awsRegion, s3.bucket.name, s3.object.key and eTag \
             strings, s3.object.size a number)"
                .to_owned(),
        )
    })
}

impl Invocation<'_> {
    /// Turns the ObjectCreated records of a notification into units of their continuous jobs.
    pub(crate) async fn notified(&self, value: &Value) -> Result<WorkOutcome, WorkError> {
        let notification = parse_notification(value)?;
        let settings = &self.scanner.config.object_scan;
        let queue = self.queue_url()?;
        let mut objects = 0;
        for record in &notification.records {
            if record.event_source != "aws:s3" || !record.event_name.starts_with("ObjectCreated") {
                continue;
            }
            let bucket = &record.s3.bucket.name;
            let job_id = continuous_job_id(bucket);
            let Some(job) = self.scanner.jobs.get(&job_id).await? else {
                // The bucket name is the notification's own text: not echoed.
                warn!("notification for a bucket (s3.bucket.name) that is not enrolled: ignored");
                continue;
            };
            let key = decode_key(&record.s3.object.key);
            let etag = normalize_etag(&record.s3.object.etag);
            let size = record.s3.object.size;
            let messages: Vec<ObjectMessage> = plan_units(
                &key,
                size,
                settings.bytes_per_message,
                settings.max_object_bytes,
            )
            .into_iter()
            .map(|range| ObjectMessage {
                job_id: job_id.clone(),
                bucket: bucket.clone(),
                key: key.clone(),
                etag: etag.clone(),
                size,
                range,
                account_id: job.account_id.clone(),
                region: record.aws_region.clone().or(Some(job.region.clone())),
            })
            .collect();
            let bodies = messages
                .iter()
                .map(serde_json::to_string)
                .collect::<Result<Vec<_>, _>>()
                .map_err(WorkError::malformed("unit message"))?;
            self.send_all(queue, &bodies).await?;
            self.scanner
                .jobs
                .count_notified(&job_id, &unit_id(&key, &etag, 0), messages.len() as u64)
                .await?;
            objects += 1;
        }
        info!(objects, "notification turned into units");
        Ok(if objects == 0 {
            WorkOutcome::Ignored
        } else {
            WorkOutcome::Notified { objects }
        })
    }

    /// Creates the bucket's continuous job and points its ObjectCreated notifications at the
    /// work queue.
    pub async fn enroll(
        &self,
        bucket: &str,
        account_id: Option<&str>,
        region: Option<&str>,
    ) -> Result<Enrolled, ObjectScanError> {
        let queue = self.queue_url()?;
        let region = match region {
            Some(r) => r.to_owned(),
            None => self.bucket_region(bucket, account_id).await?,
        };
        // The bucket is checked before the job exists: a missing or refused bucket leaves no
        // continuous job behind, and the refusal is not retryable.
        let s3 = self.s3(account_id, &region).await?;
        let current = s3
            .get_bucket_notification_configuration()
            .bucket(bucket)
            .send()
            .await
            .map_err(|e| {
                ObjectScanError::bucket_call("GetBucketNotificationConfiguration", bucket, &e)
            })?;
        let job_id = continuous_job_id(bucket);
        self.scanner
            .jobs
            .create(&ScanJob {
                job_id: job_id.clone(),
                bucket: bucket.to_owned(),
                account_id: account_id.map(str::to_owned),
                region: region.clone(),
                kind: Some(JobKind::Continuous),
                created_at: crate::store::timestamp(chrono::Utc::now()),
                enumeration_done: true,
                ..ScanJob::default()
            })
            .await?;
        let queue_arn = self
            .scanner
            .sqs
            .get_queue_attributes()
            .queue_url(queue)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(|e| ObjectScanError::aws("GetQueueAttributes", &e))?
            .attributes
            .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
            .unwrap_or_default();
        let already = current.queue_configurations().iter().any(|q| {
            q.queue_arn() == queue_arn
                && q.events()
                    .iter()
                    .any(|e| e.as_str().starts_with("s3:ObjectCreated"))
        });
        if !already {
            let ours = QueueConfiguration::builder()
                .id("qrie-object-scan")
                .queue_arn(&queue_arn)
                .events(Event::from("s3:ObjectCreated:*"))
                .build()
                .map_err(|e| ObjectScanError::Aws {
                    operation: "PutBucketNotificationConfiguration",
                    code: "BuildError".into(),
                    message: e.to_string(),
                })?;
            let mut queues = current.queue_configurations().to_vec();
            queues.push(ours);
            let config = NotificationConfiguration::builder()
                .set_queue_configurations(Some(queues))
                .set_topic_configurations(current.topic_configurations.clone())
                .set_lambda_function_configurations(current.lambda_function_configurations.clone())
                .set_event_bridge_configuration(current.event_bridge_configuration.clone())
                .build();
            s3.put_bucket_notification_configuration()
                .bucket(bucket)
                .notification_configuration(config)
                .send()
                .await
                .map_err(|e| ObjectScanError::aws("PutBucketNotificationConfiguration", &e))?;
        }
        info!(bucket = %bucket, job = %job_id, added = !already, "bucket enrolled for continuous scanning");
        Ok(Enrolled {
            job_id,
            bucket: bucket.to_owned(),
            queue_arn,
            notification_added: !already,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_encoded_keys_when_decoded_then_spaces_and_bytes_come_back() {
        assert_eq!(decode_key("dir/my+file%2Bv1.txt"), "dir/my file+v1.txt");
        assert_eq!(decode_key("caf%C3%A9.csv"), "café.csv");
        assert_eq!(decode_key("100%"), "100%");
    }

    #[test]
    fn given_a_record_of_the_wrong_shape_when_parsed_then_the_error_names_no_value() {
        // given records whose values have the wrong types, one carrying a marker
        const MARKER: &str = "Xq7SECRETq7X";
        let bodies = [
            serde_json::json!({"Records": [{"s3": {"bucket": {"name": "b"},
                "object": {"key": "k", "size": MARKER}}}]}),
            serde_json::json!({"Records": [{"eventSource": "aws:s3", "s3": {"bucket": {"name": 7},
                "object": {"key": MARKER}}}]}),
            serde_json::json!({"Records": MARKER}),
        ];
        for body in bodies {
            // when
            let error = parse_notification(&body).expect_err("wrong shape");
            // then it says what was expected, without the value
            let text = error.to_string();
            assert!(text.contains("s3.object.size"), "{text}");
            assert!(
                !text.contains(MARKER) && !format!("{error:?}").contains(MARKER),
                "{text}"
            );
        }
    }
}
