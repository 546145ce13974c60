//! The object scanner's vocabulary: the messages on the work queue, the requests a person
//! sends, a job and its counts, the outcome of one scan unit, and a stored finding.
//!
//! A *scan unit* is what one message asks for: a whole object, or one byte range of an object
//! that was split because it is larger than one invocation can scan. Job counts are per unit;
//! most objects are one unit.

use std::collections::BTreeMap;

use qrie_detectors::DetectorKind;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Longest unit id used as is in a marker's sort key; longer ones are hashed (DynamoDB sort
/// keys are at most 1,024 bytes, S3 keys may be 1,024 bytes themselves).
const MAX_PLAIN_UNIT_ID: usize = 900;

/// A half-open byte range `[start, end)` of an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ByteRange {
    pub start: u64,
    pub end: u64,
}

/// One scan unit on the work queue: `{job_id, bucket, key, etag, size[, range]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectMessage {
    pub job_id: String,
    pub bucket: String,
    pub key: String,
    /// The ETag seen at enumeration, without quotes.
    pub etag: String,
    /// The size seen at enumeration.
    pub size: u64,
    /// Only this part of the object (split objects); the whole object when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<ByteRange>,
    /// The onboarded account owning the bucket; qrie's own account when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// The bucket's region (us-east-1 when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

impl ObjectMessage {
    /// The unit's identity within its job: key, ETag and range start.
    pub fn unit_id(&self) -> String {
        unit_id(&self.key, &self.etag, self.range.map_or(0, |r| r.start))
    }
}

/// `<key>#<etag>#<range start>`, hashed when too long for a sort key.
pub fn unit_id(key: &str, etag: &str, start: u64) -> String {
    let plain = format!("{key}#{etag}#{start}");
    if plain.len() <= MAX_PLAIN_UNIT_ID {
        return plain;
    }
    let digest = Sha256::digest(plain.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// An enumeration that continues in another invocation: `{"enumerate": {...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Continuation {
    pub job_id: String,
    pub bucket: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    pub region: String,
    /// The ListObjectsV2 continuation token of the next page (`None`: the first page).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// The number of the next page (0-based); pages are counted once each by number.
    pub page: u64,
}

/// The envelope of a continuation message on the queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContinuationMessage {
    pub enumerate: Continuation,
}

/// `{"bucket": "...", "prefix": "...", "account_id": "...", "region": "..."}`: start an
/// object-scan job (not the policy scanner's [`crate::scan::ScanRequest`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobRequest {
    pub bucket: String,
    #[serde(default)]
    pub prefix: Option<String>,
    #[serde(default)]
    pub account_id: Option<String>,
    /// The bucket's region; read with GetBucketLocation when absent.
    #[serde(default)]
    pub region: Option<String>,
}

/// The `action` requests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum ActionRequest {
    Status {
        job_id: String,
    },
    Results {
        job_id: String,
        #[serde(default = "default_limit")]
        limit: usize,
        #[serde(default)]
        cursor: Option<String>,
        #[serde(default)]
        bucket: Option<String>,
        #[serde(default)]
        key_prefix: Option<String>,
        #[serde(default)]
        detector: Option<String>,
    },
    /// Continuous scanning: the bucket's ObjectCreated notifications go to the work queue.
    Enroll {
        bucket: String,
        #[serde(default)]
        account_id: Option<String>,
        #[serde(default)]
        region: Option<String>,
    },
}

fn default_limit() -> usize {
    100
}

/// One-off job (a listing) or a bucket's continuous job (its notifications).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    OneOff,
    Continuous,
}

impl JobKind {
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::OneOff => "one_off",
            JobKind::Continuous => "continuous",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "one_off" => Some(JobKind::OneOff),
            "continuous" => Some(JobKind::Continuous),
            _ => None,
        }
    }
}

/// The job id of a bucket's continuous job.
pub fn continuous_job_id(bucket: &str) -> String {
    format!("continuous-{bucket}")
}

/// What the job item holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanJob {
    pub job_id: String,
    pub bucket: String,
    pub prefix: Option<String>,
    pub account_id: Option<String>,
    pub region: String,
    pub kind: Option<JobKind>,
    pub created_at: String,
    pub enumeration_done: bool,
    pub enumeration_pages: u64,
    pub enumeration_error: Option<String>,
    pub counts: JobCounts,
}

/// The job's counters, each moved exactly once per page or unit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct JobCounts {
    pub objects: u64,
    pub units: u64,
    pub started: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub skipped: u64,
    pub findings: u64,
    pub changed: u64,
    pub skipped_by_reason: BTreeMap<String, u64>,
    /// Per detector kind, the units in which it had more matches than the per-unit cap.
    pub capped_by_kind: BTreeMap<String, u64>,
}

impl JobCounts {
    pub fn done(&self) -> u64 {
        self.succeeded + self.failed + self.skipped
    }
}

/// What `{"action": "status"}` returns.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobStatus {
    pub job_id: String,
    pub bucket: String,
    pub prefix: Option<String>,
    pub account_id: Option<String>,
    pub kind: JobKind,
    pub created_at: String,
    /// `enumerating`, `running`, `completed`, `failed` (one-off jobs) or `continuous`.
    pub status: &'static str,
    /// Why the job failed (its listing could not be completed: missing bucket, access
    /// denied, ...); what it found before that is still in its results.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Scan units in the job; known once the listing is done.
    pub total: Option<u64>,
    /// Objects listed (a split object is one object and several units).
    pub objects: u64,
    pub queued: u64,
    pub processing: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub skipped: u64,
    pub skipped_by_reason: BTreeMap<String, u64>,
    /// Units whose object had changed (ETag) since enumeration; scanned as they now are.
    pub changed: u64,
    pub findings: u64,
    /// Per detector kind, the units that had more matches of it than the detectors keep per
    /// unit ([`qrie_detectors::MAX_DETECTIONS_PER_KIND`]); empty when none was capped.
    pub capped_by_kind: BTreeMap<String, u64>,
    /// True when some unit was capped: `findings` (and the results) are a lower bound.
    pub findings_lower_bound: bool,
    /// Done units over units enqueued so far.
    pub percent_done: f64,
    pub enumeration_pages: u64,
    pub enumeration_error: Option<String>,
}

impl From<&ScanJob> for JobStatus {
    fn from(job: &ScanJob) -> Self {
        let c = &job.counts;
        let kind = job.kind.unwrap_or(JobKind::OneOff);
        let done = c.done();
        let failed = kind == JobKind::OneOff && job.enumeration_error.is_some();
        let status = match kind {
            JobKind::Continuous => "continuous",
            JobKind::OneOff if failed => "failed",
            JobKind::OneOff if !job.enumeration_done => "enumerating",
            JobKind::OneOff if done >= c.units => "completed",
            JobKind::OneOff => "running",
        };
        let percent_done = if c.units == 0 {
            if job.enumeration_done && !failed {
                100.0
            } else {
                0.0
            }
        } else {
            ((done as f64 / c.units as f64) * 1000.0).round() / 10.0
        };
        JobStatus {
            job_id: job.job_id.clone(),
            bucket: job.bucket.clone(),
            prefix: job.prefix.clone(),
            account_id: job.account_id.clone(),
            kind,
            created_at: job.created_at.clone(),
            status,
            reason: failed.then(|| {
                format!(
                    "the listing failed: {}",
                    job.enumeration_error.as_deref().unwrap_or_default()
                )
            }),
            total: job.enumeration_done.then_some(c.units),
            objects: c.objects,
            queued: c.units.saturating_sub(c.started),
            processing: c.started.saturating_sub(done),
            succeeded: c.succeeded,
            failed: c.failed,
            skipped: c.skipped,
            skipped_by_reason: c.skipped_by_reason.clone(),
            changed: c.changed,
            findings: c.findings,
            capped_by_kind: c.capped_by_kind.clone(),
            findings_lower_bound: !c.capped_by_kind.is_empty(),
            percent_done: percent_done.min(100.0),
            enumeration_pages: job.enumeration_pages,
            enumeration_error: job.enumeration_error.clone(),
        }
    }
}

/// Why a unit was not scanned (or not completely).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// The first bytes are not text.
    Binary,
    /// Larger than the configured maximum (for gzip: decompressed; scanned up to it).
    TooLarge,
    /// Deleted since enumeration.
    NotFound,
    /// Not valid gzip although it starts like gzip.
    CorruptGzip,
    /// A non-first range of an object that turned out to be gzip or to have changed: the
    /// first range's unit scans the whole object instead.
    ScannedWithFirstRange,
    /// A gzip object inflating more than the maximum ratio (a decompression bomb): scanned
    /// only up to where that was seen.
    CompressionRatio,
}

impl SkipReason {
    pub const ALL: [SkipReason; 6] = [
        SkipReason::Binary,
        SkipReason::TooLarge,
        SkipReason::NotFound,
        SkipReason::CorruptGzip,
        SkipReason::ScannedWithFirstRange,
        SkipReason::CompressionRatio,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::Binary => "binary",
            SkipReason::TooLarge => "too_large",
            SkipReason::NotFound => "not_found",
            SkipReason::CorruptGzip => "corrupt_gzip",
            SkipReason::ScannedWithFirstRange => "scanned_with_first_range",
            SkipReason::CompressionRatio => "compression_ratio",
        }
    }
}

/// How one unit ended; recorded once, with the counters, by its `DONE` marker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum UnitOutcome {
    Succeeded {
        findings: u64,
        etag_changed: bool,
        /// The ETag that was scanned.
        etag: String,
        /// Kinds that had more matches than the detectors' per-unit cap
        /// ([`qrie_detectors::MAX_DETECTIONS_PER_KIND`]): their findings are a lower bound.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        capped: Vec<DetectorKind>,
    },
    Skipped {
        reason: SkipReason,
        /// Findings stored before the skip was decided (gzip past the maximum size).
        findings: u64,
        etag_changed: bool,
        /// As for `Succeeded`, in what was scanned before the skip.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        capped: Vec<DetectorKind>,
    },
    Failed {
        /// The error, without any object content.
        reason: String,
    },
}

impl UnitOutcome {
    pub fn name(&self) -> &'static str {
        match self {
            UnitOutcome::Succeeded { .. } => "succeeded",
            UnitOutcome::Skipped { .. } => "skipped",
            UnitOutcome::Failed { .. } => "failed",
        }
    }

    pub fn findings(&self) -> u64 {
        match self {
            UnitOutcome::Succeeded { findings, .. } | UnitOutcome::Skipped { findings, .. } => {
                *findings
            }
            UnitOutcome::Failed { .. } => 0,
        }
    }

    /// Kinds whose matches went past the per-unit cap (their count is a lower bound).
    pub fn capped(&self) -> &[DetectorKind] {
        match self {
            UnitOutcome::Succeeded { capped, .. } | UnitOutcome::Skipped { capped, .. } => capped,
            UnitOutcome::Failed { .. } => &[],
        }
    }

    pub fn etag_changed(&self) -> bool {
        match self {
            UnitOutcome::Succeeded { etag_changed, .. }
            | UnitOutcome::Skipped { etag_changed, .. } => *etag_changed,
            UnitOutcome::Failed { .. } => false,
        }
    }
}

/// A unit in which some detector kinds had more matches than the detectors keep
/// ([`qrie_detectors::MAX_DETECTIONS_PER_KIND`]): its findings of those kinds are a lower bound.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CappedUnit {
    pub key: String,
    pub etag: String,
    /// Where the unit starts in the object (0 for a whole object).
    pub range_start: u64,
    pub kinds: Vec<String>,
}

/// One stored detection. Only masked values: the raw match never leaves the detectors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectFinding {
    pub job_id: String,
    pub bucket: String,
    pub key: String,
    pub etag: String,
    pub detector: String,
    /// Offset of the match's first byte (in the decompressed bytes for gzip).
    pub byte_offset: u64,
    pub length: u64,
    pub masked: String,
    /// A short context in which this and every other match is masked.
    pub context: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    pub found_at: String,
    /// The detection's risk score: medium, raised when the detector finds sensitive data
    /// (card numbers, AWS keys, social security numbers); see `crate::risk`.
    pub risk_score: crate::risk::RiskScore,
}

/// A results query: one job's findings, optionally filtered, one page at a time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResultsQuery {
    pub job_id: String,
    pub limit: usize,
    pub cursor: Option<String>,
    pub bucket: Option<String>,
    pub key_prefix: Option<String>,
    pub detector: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_a_range_message_when_parsed_then_the_unit_id_names_its_start() {
        // given
        let body = r#"{"job_id":"j","bucket":"b","key":"a/b.txt","etag":"e1","size":10,
                       "range":{"start":4,"end":8}}"#;
        // when
        let m: ObjectMessage = serde_json::from_str(body).unwrap();
        // then
        assert_eq!(m.unit_id(), "a/b.txt#e1#4");
    }

    #[test]
    fn given_a_very_long_key_when_identified_then_the_id_is_hashed_and_short() {
        let key = "k".repeat(1_024);
        let id = unit_id(&key, "etag", 0);
        assert!(id.starts_with("sha256:") && id.len() < 100, "{id}");
        assert_ne!(id, unit_id(&key, "etag", 1));
    }

    #[test]
    fn given_a_1024_byte_multibyte_key_when_marked_then_every_marker_fits_a_sort_key() {
        // given: S3's longest key, in 3-byte characters, and the longest range start
        let key = format!("a{}", "日".repeat(341));
        assert_eq!(key.len(), 1_024);
        for start in [0, u64::MAX] {
            // when
            let id = unit_id(&key, "0123456789abcdef0123456789abcdef-10000", start);
            // then: START#, DONE# and UNITS# markers stay under DynamoDB's 1,024 bytes
            for marker in ["START#", "DONE#", "UNITS#", "CAPPED#"] {
                assert!(marker.len() + id.len() <= 1_024, "{marker}{id}");
            }
        }
        // and a key just short of the limit, kept plain, fits too
        let plain = unit_id(&"k".repeat(870), "e".repeat(8).as_str(), u64::MAX);
        assert!(!plain.starts_with("sha256:") && plain.len() + "UNITS#".len() <= 1_024);
    }

    #[test]
    fn given_counts_when_shown_then_queued_processing_and_percent_follow() {
        // given
        let job = ScanJob {
            job_id: "j".into(),
            enumeration_done: true,
            counts: JobCounts {
                units: 10,
                started: 6,
                succeeded: 3,
                failed: 1,
                skipped: 1,
                ..JobCounts::default()
            },
            ..ScanJob::default()
        };
        // when
        let status = JobStatus::from(&job);
        // then
        assert_eq!(status.queued, 4);
        assert_eq!(status.processing, 1);
        assert_eq!(status.total, Some(10));
        assert_eq!(status.percent_done, 50.0);
        assert_eq!(status.status, "running");
    }

    #[test]
    fn given_a_listing_that_failed_when_shown_then_the_job_is_failed_with_its_reason() {
        // given: a job whose first listing call was refused
        let job = ScanJob {
            job_id: "j".into(),
            enumeration_done: true,
            enumeration_error: Some("bucket b cannot be scanned: NoSuchBucket".into()),
            ..ScanJob::default()
        };
        // when
        let status = JobStatus::from(&job);
        // then: failed, with the reason, and not 100 % done
        assert_eq!(status.status, "failed");
        assert!(status
            .reason
            .as_deref()
            .unwrap_or_default()
            .contains("NoSuchBucket"));
        assert_eq!(status.percent_done, 0.0);
        // and a listed empty bucket is still completed
        let empty = JobStatus::from(&ScanJob {
            enumeration_error: None,
            ..job
        });
        assert_eq!(
            (empty.status, empty.percent_done, empty.reason),
            ("completed", 100.0, None)
        );
    }

    #[test]
    fn given_an_unknown_action_when_parsed_then_it_is_refused() {
        let err = serde_json::from_str::<ActionRequest>(r#"{"action":"explode"}"#).unwrap_err();
        assert!(err.to_string().contains("explode"), "{err}");
    }
}
