//! The worker: one SQS batch of object-scan messages, processed concurrently with a bound,
//! answered with the messages that failed (partial batch failures), through the queue loop
//! every consumer shares ([`crate::sqs_batch::consume`]); [`WorkError`] says which failures
//! are poison.
//!
//! A message is a scan unit (`{job_id, bucket, key, etag, size[, range]}`), a listing
//! continuation (`{"enumerate": {...}}`), an S3 event notification (`{"Records": [...]}`) or
//! S3's `s3:TestEvent`. Per unit, [`Invocation::scan_unit`] streams the object from S3 through
//! [`StreamScan`] (never holding it whole), stores findings as they are found, and records the
//! unit's outcome once. See the module documentation of [`crate::object_scan`] for how counts
//! stay exact and how the last receive of a failing message is counted failed.

use std::time::{Duration, Instant};

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsMessage};
use aws_sdk_s3::error::ProvideErrorMetadata;
use serde_json::Value;
use tracing::{error, field, info, warn, Span};

use super::enumerate::normalize_etag;
use super::model::{
    CappedUnit, ContinuationMessage, ObjectFinding, ObjectMessage, SkipReason, UnitOutcome,
};
use super::pipeline::{
    is_gzip_magic, StreamMode, StreamScan, StreamSummary, Verdict, RANGE_LEAD_IN, RANGE_OVERLAP,
};
use super::{describe_shape, Invocation, ObjectScanError};
use crate::message_span;
use crate::sqs_batch::{self, MessageFailure, MissingBody};
use crate::store::StoreError;
use qrie_detectors::{looks_binary, ContextualDetection, SNIFF_BYTES};

/// Messages of one batch processed at once (each streams one object: memory is about this
/// many chunks plus the detectors' small overlap).
pub const MESSAGE_CONCURRENCY: usize = 4;
/// Findings buffered before they are written.
pub const FINDINGS_FLUSH: usize = 100;
/// Time kept in hand before the invocation's deadline to record a failure.
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(5);
/// Body bytes collected before they are handed to the scan's blocking thread at once.
pub const SCAN_BATCH_BYTES: usize = 256 * 1024;

/// Watches scans progress: called on the scan's blocking thread after each body chunk with
/// the raw (compressed) bytes scanned so far, and after each unit's outcome is
/// recorded. The default does nothing; tests use it to show that a long scan does not hold
/// up the other units of its batch, and how little of a decompression bomb is read.
pub trait ScanProbe: Send + Sync {
    fn scanned(&self, _job_id: &str, _key: &str, _raw_bytes: u64) {}
    fn unit_done(&self, _job_id: &str, _key: &str, _outcome: &UnitOutcome) {}
}

/// The probe that watches nothing.
pub struct NoProbe;

impl ScanProbe for NoProbe {}

/// What one message did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkOutcome {
    /// The unit ended (this delivery recorded it).
    Unit(UnitOutcome),
    /// The unit had already ended: nothing was done.
    Duplicate,
    /// A listing continued.
    Enumerated { units: u64, done: bool },
    /// Notified objects were turned into units.
    Notified { objects: usize },
    /// S3's test event, or a notification for a bucket that is not enrolled.
    Ignored,
}

/// Why one message failed.
#[derive(Debug, thiserror::Error)]
pub enum WorkError {
    #[error("SQS record has no body")]
    MissingBody,
    #[error("unrecognised message: expected a unit {{job_id, bucket, key, etag, size}}, a continuation {{\"enumerate\": ...}} or an S3 event notification; got {0}")]
    Unrecognised(String),
    /// Names where and what kind of problem, never the value: serde's own message quotes the
    /// offending value, and this error is logged.
    #[error("malformed {what}: {problem} (line {line}, column {column})")]
    Malformed {
        what: &'static str,
        problem: &'static str,
        line: usize,
        column: usize,
    },
    #[error(transparent)]
    Scan(#[from] ObjectScanError),
    #[error("the invocation's deadline came before the message was done")]
    Deadline,
    #[error("the scan of the object stopped unexpectedly: {0}")]
    ScanTask(String),
}

impl From<MissingBody> for WorkError {
    fn from(_: MissingBody) -> Self {
        WorkError::MissingBody
    }
}

impl MessageFailure for WorkError {
    /// A body that is missing, unrecognised or malformed can never succeed; a scan failure is
    /// retryable when its cause is ([`ObjectScanError::is_retryable`]); running out of time
    /// and a scan task that stopped may succeed on the next receive.
    fn is_retryable(&self) -> bool {
        match self {
            WorkError::MissingBody | WorkError::Unrecognised(_) | WorkError::Malformed { .. } => {
                false
            }
            WorkError::Scan(e) => e.is_retryable(),
            WorkError::Deadline | WorkError::ScanTask(_) => true,
        }
    }
}

impl From<StoreError> for WorkError {
    fn from(e: StoreError) -> Self {
        WorkError::Scan(ObjectScanError::Store(e))
    }
}

/// A parsed message body.
enum Body {
    Unit(ObjectMessage),
    Continue(ContinuationMessage),
    Notification(Value),
    TestEvent,
}

impl WorkError {
    /// A JSON error about `what`, without the value serde would quote.
    pub(crate) fn malformed(what: &'static str) -> impl Fn(serde_json::Error) -> WorkError {
        move |e| WorkError::Malformed {
            what,
            problem: match e.classify() {
                serde_json::error::Category::Syntax => "not valid JSON",
                serde_json::error::Category::Eof => "the JSON ends early",
                serde_json::error::Category::Data => "a field is missing or has the wrong type",
                serde_json::error::Category::Io => "it could not be read",
            },
            line: e.line(),
            column: e.column(),
        }
    }
}

fn parse_body(body: &str) -> Result<Body, WorkError> {
    let value: Value = serde_json::from_str(body).map_err(WorkError::malformed("message body"))?;
    if value.get("Event").and_then(Value::as_str) == Some("s3:TestEvent") {
        return Ok(Body::TestEvent);
    }
    if value.get("Records").is_some() {
        return Ok(Body::Notification(value));
    }
    if value.get("enumerate").is_some() {
        return serde_json::from_value(value)
            .map(Body::Continue)
            .map_err(WorkError::malformed("continuation message"));
    }
    if value.get("job_id").is_some() && value.get("key").is_some() {
        return serde_json::from_value(value)
            .map(Body::Unit)
            .map_err(WorkError::malformed("unit message"));
    }
    Err(WorkError::Unrecognised(describe_shape(&value)))
}

/// The kind of a message body (`unit`, `continuation`, `notification`, `test_event`), or why
/// it is none of them.
pub fn message_kind(body: &str) -> Result<&'static str, WorkError> {
    Ok(match parse_body(body)? {
        Body::Unit(_) => "unit",
        Body::Continue(_) => "continuation",
        Body::Notification(v) => {
            serde_json::from_value::<super::notify::S3Notification>(v)
                .map_err(WorkError::malformed("S3 notification"))?;
            "notification"
        }
        Body::TestEvent => "test_event",
    })
}

impl Invocation<'_> {
    /// Processes a batch, at most [`MESSAGE_CONCURRENCY`] messages at once, each in its own
    /// span; the response lists the messages to redeliver.
    pub async fn process_batch(&self, records: &[SqsMessage]) -> SqsBatchResponse {
        let started = Instant::now();
        let consumed = sqs_batch::consume(
            records,
            MESSAGE_CONCURRENCY,
            |delivery| message_span!(delivery, job = field::Empty, key = field::Empty),
            |body, delivery| async move {
                let receives = delivery.receive_count.unwrap_or(1);
                let result = self.process_message(body, receives).await;
                if let Ok(outcome) = &result {
                    info!(outcome = ?outcome_name(outcome), "message done");
                }
                result
            },
        )
        .await;
        let failed = consumed.failed();
        let poison = consumed.poison();
        let response = consumed.response;
        info!(
            messages = records.len(),
            failed,
            poison,
            duration_ms = started.elapsed().as_millis() as u64,
            "object-scan batch done"
        );
        response
    }

    /// One message, under the invocation's deadline; on its last receive a failing unit (or
    /// listing) is recorded failed before the message goes to the dead-letter queue.
    pub async fn process_message(
        &self,
        body: &str,
        receives: u32,
    ) -> Result<WorkOutcome, WorkError> {
        let parsed = parse_body(body)?;
        let work = self.process_parsed(&parsed);
        let result = match self.deadline {
            Some(deadline) => {
                let budget = deadline
                    .saturating_duration_since(Instant::now())
                    .saturating_sub(DEADLINE_MARGIN);
                tokio::time::timeout(budget, work)
                    .await
                    .unwrap_or(Err(WorkError::Deadline))
            }
            None => work.await,
        };
        let Err(error) = result else {
            return result;
        };
        let last_receive = receives >= self.scanner.config.object_scan.max_receives;
        if last_receive {
            match &parsed {
                Body::Unit(unit) => {
                    let outcome = UnitOutcome::Failed {
                        reason: error.to_string(),
                    };
                    match self
                        .scanner
                        .jobs
                        .finish(&unit.job_id, &unit.unit_id(), &outcome)
                        .await
                    {
                        Ok(_) => {
                            error!(error = %error, "unit failed on its last receive: counted failed, message goes to the DLQ")
                        }
                        Err(e) => error!(error = %e, "could not record the unit failed"),
                    }
                }
                Body::Continue(c) => {
                    if let Err(e) = self
                        .scanner
                        .jobs
                        .fail_enumeration(&c.enumerate.job_id, &error.to_string())
                        .await
                    {
                        error!(error = %e, "could not record the listing failed");
                    }
                }
                Body::Notification(_) | Body::TestEvent => {}
            }
        }
        Err(error)
    }

    async fn process_parsed(&self, parsed: &Body) -> Result<WorkOutcome, WorkError> {
        match parsed {
            Body::TestEvent => Ok(WorkOutcome::Ignored),
            Body::Notification(value) => self.notified(value).await,
            Body::Continue(c) => {
                Span::current().record("job", c.enumerate.job_id.as_str());
                let progress = self.enumerate(c.enumerate.clone()).await?;
                Ok(WorkOutcome::Enumerated {
                    units: progress.units,
                    done: progress.done,
                })
            }
            Body::Unit(unit) => {
                Span::current().record("job", unit.job_id.as_str());
                Span::current().record("key", unit.key.as_str());
                self.scan_unit(unit).await
            }
        }
    }

    /// Scans one unit unless it has ended before, and records its outcome once.
    pub async fn scan_unit(&self, unit: &ObjectMessage) -> Result<WorkOutcome, WorkError> {
        let jobs = &self.scanner.jobs;
        let id = unit.unit_id();
        if jobs.is_done(&unit.job_id, &id).await? {
            return Ok(WorkOutcome::Duplicate);
        }
        jobs.start(&unit.job_id, &id).await?;
        let outcome = self.scan_object(unit).await?;
        if !outcome.capped().is_empty() {
            let capped = CappedUnit {
                key: unit.key.clone(),
                etag: unit.etag.clone(),
                range_start: unit.range.map_or(0, |r| r.start),
                kinds: outcome
                    .capped()
                    .iter()
                    .map(|k| k.as_str().to_owned())
                    .collect(),
            };
            jobs.record_capped(&unit.job_id, &id, &capped).await?;
        }
        if jobs.finish(&unit.job_id, &id, &outcome).await? {
            self.scanner
                .probe
                .unit_done(&unit.job_id, &unit.key, &outcome);
            info!(
                outcome = outcome.name(),
                findings = outcome.findings(),
                etag_changed = outcome.etag_changed(),
                capped = ?outcome.capped(),
                "unit done"
            );
            Ok(WorkOutcome::Unit(outcome))
        } else {
            Ok(WorkOutcome::Duplicate)
        }
    }

    async fn scan_object(&self, unit: &ObjectMessage) -> Result<UnitOutcome, WorkError> {
        let region = unit.region.as_deref().unwrap_or("us-east-1");
        let s3 = self.s3(unit.account_id.as_deref(), region).await?;
        match unit.range {
            Some(range) if range.start > 0 => {
                // Decide gzip, binary and change on the object's head, as the first range does.
                let head = match self.get(&s3, unit, Some((0, SNIFF_BYTES as u64))).await? {
                    Got::Object(out) => out,
                    Got::NotFound => return Ok(skipped(SkipReason::NotFound, false)),
                };
                let etag = normalize_etag(head.e_tag().unwrap_or_default());
                let changed = etag != unit.etag;
                let declared_gzip = is_declared_gzip(&head);
                let bytes = collect_body(head).await?;
                if changed || declared_gzip || is_gzip_magic(&bytes) {
                    return Ok(skipped(SkipReason::ScannedWithFirstRange, changed));
                }
                if looks_binary(&bytes) {
                    return Ok(skipped(SkipReason::Binary, false));
                }
                let read_start = range.start.saturating_sub(RANGE_LEAD_IN);
                let read_end = range.end + RANGE_OVERLAP;
                let out = match self.get(&s3, unit, Some((read_start, read_end))).await? {
                    Got::Object(out) => out,
                    Got::NotFound => return Ok(skipped(SkipReason::NotFound, false)),
                };
                let mode = StreamMode::Range {
                    read_start,
                    report: range,
                };
                Ok(self
                    .stream(unit, &etag, false, out, mode)
                    .await?
                    .into_outcome())
            }
            Some(range) => {
                let out = match self
                    .get(&s3, unit, Some((0, range.end + RANGE_OVERLAP)))
                    .await?
                {
                    Got::Object(out) => out,
                    Got::NotFound => return Ok(skipped(SkipReason::NotFound, false)),
                };
                let etag = normalize_etag(out.e_tag().unwrap_or_default());
                if etag == unit.etag && !is_declared_gzip(&out) {
                    let mode = StreamMode::FirstRange { report: range };
                    if let Streamed::Done(outcome) =
                        self.stream(unit, &etag, false, out, mode).await?
                    {
                        return Ok(outcome);
                    }
                }
                // Changed or gzip: this unit scans the whole object as it now is.
                self.scan_whole(&s3, unit).await
            }
            None => self.scan_whole(&s3, unit).await,
        }
    }

    async fn scan_whole(
        &self,
        s3: &aws_sdk_s3::Client,
        unit: &ObjectMessage,
    ) -> Result<UnitOutcome, WorkError> {
        let out = match self.get(s3, unit, None).await? {
            Got::Object(out) => out,
            Got::NotFound => return Ok(skipped(SkipReason::NotFound, false)),
        };
        let etag = normalize_etag(out.e_tag().unwrap_or_default());
        let changed = etag != unit.etag;
        let declared_gzip = is_declared_gzip(&out);
        let size = u64::try_from(out.content_length().unwrap_or(0)).unwrap_or(0);
        let max = self.scanner.config.object_scan.max_object_bytes;
        // A gzip object is scanned up to the maximum decompressed size; anything else over the
        // maximum is not read at all.
        if size > max && !declared_gzip && !unit.key.to_ascii_lowercase().ends_with(".gz") {
            return Ok(skipped(SkipReason::TooLarge, changed));
        }
        Ok(self
            .stream(
                unit,
                &etag,
                changed,
                out,
                StreamMode::Whole { declared_gzip },
            )
            .await?
            .into_outcome())
    }

    /// GetObject of the whole object or of `[start, end)`.
    async fn get(
        &self,
        s3: &aws_sdk_s3::Client,
        unit: &ObjectMessage,
        range: Option<(u64, u64)>,
    ) -> Result<Got, WorkError> {
        let mut req = s3.get_object().bucket(&unit.bucket).key(&unit.key);
        if let Some((start, end)) = range {
            req = req.range(format!("bytes={start}-{}", end.saturating_sub(1)));
        }
        match req.send().await {
            Ok(out) => Ok(Got::Object(Box::new(out))),
            Err(e) if matches!(e.code(), Some("NoSuchKey" | "NotFound")) => Ok(Got::NotFound),
            Err(e) => Err(ObjectScanError::aws("GetObject", &e).into()),
        }
    }

    /// Streams one GetObject body through the pipeline, storing findings as they come.
    ///
    /// Inflating and scanning are CPU-bound: they run on a blocking thread, a batch of body
    /// chunks (up to [`SCAN_BATCH_BYTES`]) at a time, so the other units of the batch, which
    /// share this task, go on reading, scanning and storing meanwhile (a large gzip object
    /// cannot starve them).
    async fn stream(
        &self,
        unit: &ObjectMessage,
        etag: &str,
        changed: bool,
        out: Box<aws_sdk_s3::operation::get_object::GetObjectOutput>,
        mode: StreamMode,
    ) -> Result<Streamed, WorkError> {
        let settings = &self.scanner.config.object_scan;
        let mut scan = Some(StreamScan::with_max_ratio(
            &self.scanner.detectors,
            mode,
            settings.max_object_bytes,
            settings.max_compression_ratio,
        ));
        let mut body = out.body;
        let mut pending: Vec<ContextualDetection> = Vec::new();
        let mut findings = 0u64;
        let mut batch = Vec::new();
        let mut batched = 0usize;
        let mut ended = false;
        while !ended {
            match body.next().await {
                Some(chunk) => {
                    let chunk = chunk.map_err(|e| ObjectScanError::Aws {
                        operation: "GetObject",
                        code: "BodyRead".into(),
                        message: e.to_string(),
                    })?;
                    batched += chunk.len();
                    batch.push(chunk);
                    if batched < SCAN_BATCH_BYTES {
                        continue;
                    }
                }
                None => ended = true,
            }
            let chunks = std::mem::take(&mut batch);
            batched = 0;
            let (back, ready, stopped) = self.scan_off_task(unit, scan.take(), chunks).await?;
            scan = Some(back);
            pending.extend(ready);
            if pending.len() >= FINDINGS_FLUSH {
                findings += self.store(unit, etag, std::mem::take(&mut pending)).await?;
            }
            if stopped {
                break;
            }
        }
        let Some(mut scan) = scan else {
            return Err(WorkError::ScanTask("the scan state was lost".into()));
        };
        let (summary, rest) = tokio::task::spawn_blocking(move || {
            let summary: StreamSummary = scan.finish();
            let rest = scan.take_ready();
            (summary, rest)
        })
        .await
        .map_err(|e| WorkError::ScanTask(e.to_string()))?;
        pending.extend(rest);
        if summary.verdict == Some(Verdict::NeedsWholeObject) {
            return Ok(Streamed::NeedsWholeObject);
        }
        findings += self.store(unit, etag, pending).await?;
        info!(
            scanned_bytes = summary.scanned_bytes,
            raw_bytes = summary.raw_bytes,
            gzip = summary.gzip,
            findings,
            "object streamed"
        );
        if !summary.capped.is_empty() {
            warn!(
                capped = ?summary.capped,
                limit = qrie_detectors::MAX_DETECTIONS_PER_KIND,
                "more matches than the detectors keep per unit: the findings of these kinds are a lower bound"
            );
        }
        let capped = summary.capped;
        let skip = |reason| UnitOutcome::Skipped {
            reason,
            findings,
            etag_changed: changed,
            capped: capped.clone(),
        };
        Ok(Streamed::Done(match summary.verdict {
            None => UnitOutcome::Succeeded {
                findings,
                etag_changed: changed,
                etag: etag.to_owned(),
                capped,
            },
            Some(Verdict::Binary) => skipped(SkipReason::Binary, changed),
            Some(Verdict::CorruptGzip) => skip(SkipReason::CorruptGzip),
            Some(Verdict::CompressionRatio) => skip(SkipReason::CompressionRatio),
            Some(Verdict::TooLarge | Verdict::NeedsWholeObject) => skip(SkipReason::TooLarge),
        }))
    }

    /// Pushes `chunks` through the scan on a blocking thread; returns the scan, the
    /// detections now final and whether the scan has stopped. Reports progress to the
    /// scanner's [`ScanProbe`] from that thread.
    async fn scan_off_task<B: AsRef<[u8]> + Send + 'static>(
        &self,
        unit: &ObjectMessage,
        scan: Option<StreamScan>,
        chunks: Vec<B>,
    ) -> Result<(StreamScan, Vec<ContextualDetection>, bool), WorkError> {
        let Some(mut scan) = scan else {
            return Err(WorkError::ScanTask("the scan state was lost".into()));
        };
        let probe = self.scanner.probe.clone();
        let (job_id, key) = (unit.job_id.clone(), unit.key.clone());
        tokio::task::spawn_blocking(move || {
            for chunk in &chunks {
                scan.push(chunk.as_ref());
                probe.scanned(&job_id, &key, scan.raw_bytes());
                if scan.stopped() {
                    break;
                }
            }
            let ready = scan.take_ready();
            let stopped = scan.stopped();
            (scan, ready, stopped)
        })
        .await
        .map_err(|e| WorkError::ScanTask(e.to_string()))
    }

    /// Stores detections as findings (each once); returns how many there were.
    async fn store(
        &self,
        unit: &ObjectMessage,
        etag: &str,
        detections: Vec<ContextualDetection>,
    ) -> Result<u64, WorkError> {
        if detections.is_empty() {
            return Ok(0);
        }
        let found_at = crate::store::timestamp(chrono::Utc::now());
        let findings: Vec<ObjectFinding> = detections
            .into_iter()
            .map(|c| ObjectFinding {
                job_id: unit.job_id.clone(),
                bucket: unit.bucket.clone(),
                key: unit.key.clone(),
                etag: etag.to_owned(),
                detector: c.detection.kind.as_str().to_owned(),
                byte_offset: c.detection.start,
                length: c.detection.len(),
                masked: c.detection.masked,
                context: c.context,
                account_id: unit.account_id.clone(),
                found_at: found_at.clone(),
                risk_score: crate::risk::object_finding_score(c.detection.kind.as_str()),
            })
            .collect();
        self.scanner.findings.put_all(&findings).await?;
        self.record_data(unit, &findings).await?;
        Ok(findings.len() as u64)
    }

    /// Sums a unit's findings per detector for its bucket, then re-evaluates the bucket's
    /// policies that follow its data. Only for an onboarded account's bucket (the inventory
    /// has no posture of qrie's own account's). A failure fails the unit: its message is
    /// retried, and the findings, stored once each, and the unit's data item, overwritten,
    /// stay exact.
    async fn record_data(
        &self,
        unit: &ObjectMessage,
        findings: &[ObjectFinding],
    ) -> Result<(), WorkError> {
        let Some(account_id) = unit.account_id.as_deref() else {
            return Ok(());
        };
        let region = unit
            .region
            .clone()
            .unwrap_or_else(|| "us-east-1".to_owned());
        let mut detectors: std::collections::BTreeMap<
            String,
            crate::store::object_data::DetectorCount,
        > = std::collections::BTreeMap::new();
        for f in findings {
            detectors
                .entry(f.detector.clone())
                .or_insert_with(|| crate::store::object_data::DetectorCount {
                    count: 0,
                    sample: f.masked.clone(),
                })
                .count += 1;
        }
        let data = crate::store::object_data::UnitData {
            account_id: account_id.to_owned(),
            bucket: unit.bucket.clone(),
            region: region.clone(),
            unit: unit.unit_id(),
            detectors,
            found_at: findings
                .first()
                .map(|f| f.found_at.clone())
                .unwrap_or_default(),
        };
        let posture = &self.scanner.posture;
        posture.object_data.record(&data).await?;
        let processor = crate::process::EventProcessor::load(
            &self.scanner.catalog,
            posture,
            &crate::process::StoredStateOnly,
        )
        .await
        .map_err(|e| store_failure("loading the policies", e.to_string()))?;
        let refresh = processor
            .object_data_changed(account_id, &unit.bucket, &region)
            .await
            .map_err(|e| store_failure("re-evaluating the bucket", e.to_string()))?;
        if refresh.dependents > 0 {
            tracing::info!(bucket = %unit.bucket, evaluated = refresh.evaluated, opened = refresh.opened,
                resolved = refresh.resolved, "bucket re-evaluated with its object data");
        }
        Ok(())
    }
}

/// A posture-table failure after a unit's findings were stored, as a retryable store error.
fn store_failure(what: &str, message: String) -> WorkError {
    WorkError::Scan(ObjectScanError::Store(crate::store::StoreError::Backend {
        table: "posture".into(),
        operation: "re-evaluation",
        message: format!("{what}: {message}"),
    }))
}

/// How streaming one body ended.
enum Streamed {
    Done(UnitOutcome),
    /// A first range that turned out to be gzip: the whole object must be read instead.
    NeedsWholeObject,
}

impl Streamed {
    fn into_outcome(self) -> UnitOutcome {
        match self {
            Streamed::Done(outcome) => outcome,
            // Only a first range can need the whole object; callers of other modes never see it.
            Streamed::NeedsWholeObject => skipped(SkipReason::ScannedWithFirstRange, false),
        }
    }
}

enum Got {
    Object(Box<aws_sdk_s3::operation::get_object::GetObjectOutput>),
    NotFound,
}

fn skipped(reason: SkipReason, etag_changed: bool) -> UnitOutcome {
    UnitOutcome::Skipped {
        reason,
        findings: 0,
        etag_changed,
        capped: Vec::new(),
    }
}

fn is_declared_gzip(out: &aws_sdk_s3::operation::get_object::GetObjectOutput) -> bool {
    out.content_encoding()
        .is_some_and(|e| e.eq_ignore_ascii_case("gzip"))
}

/// Reads a small (ranged) body whole.
async fn collect_body(
    out: Box<aws_sdk_s3::operation::get_object::GetObjectOutput>,
) -> Result<Vec<u8>, WorkError> {
    let bytes = out.body.collect().await.map_err(|e| ObjectScanError::Aws {
        operation: "GetObject",
        code: "BodyRead".into(),
        message: e.to_string(),
    })?;
    Ok(bytes.into_bytes().to_vec())
}

fn outcome_name(outcome: &WorkOutcome) -> &'static str {
    match outcome {
        WorkOutcome::Unit(u) => u.name(),
        WorkOutcome::Duplicate => "duplicate",
        WorkOutcome::Enumerated { .. } => "enumerated",
        WorkOutcome::Notified { .. } => "notified",
        WorkOutcome::Ignored => "ignored",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_each_message_shape_when_parsed_then_it_is_recognised() {
        assert!(matches!(
            parse_body(r#"{"job_id":"j","bucket":"b","key":"k","etag":"e","size":1}"#),
            Ok(Body::Unit(_))
        ));
        assert!(matches!(
            parse_body(
                r#"{"enumerate":{"job_id":"j","bucket":"b","region":"us-east-1","page":3}}"#
            ),
            Ok(Body::Continue(_))
        ));
        assert!(matches!(
            parse_body(r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Bucket":"b"}"#),
            Ok(Body::TestEvent)
        ));
        assert!(matches!(
            parse_body(r#"{"Records":[]}"#),
            Ok(Body::Notification(_))
        ));
    }

    #[test]
    fn given_an_unknown_shape_when_parsed_then_the_error_names_the_expected_shapes() {
        let err = parse_body(r#"{"hello":"world"}"#).err().unwrap();
        assert!(err.to_string().contains("expected a unit"), "{err}");
        assert!(err.to_string().contains("1 unrecognised keys"), "{err}");
        assert!(!err.to_string().contains("hello"), "{err}");
    }

    #[test]
    fn given_malformed_bodies_when_parsed_then_the_error_never_quotes_their_values() {
        // Given bodies whose values serde would quote in its own message
        let cases = [
            (
                r#"{"job_id":"j","bucket":"b","key":"k","etag":"e","size":"AKIAIOSFODNN7EXAMPLE"}"#,
                "a field is missing or has the wrong type",
            ),
            (
                r#"{"enumerate":{"job_id":123456789}}"#,
                "a field is missing or has the wrong type",
            ),
            (
                r#"{"job_id": "secret-AKIAIOSFODNN7EXAMPLE"#,
                "the JSON ends early",
            ),
            (r#"AKIAIOSFODNN7EXAMPLE"#, "not valid JSON"),
            (r#"{"AKIAIOSFODNN7EXAMPLE": 1}"#, "expected a unit"),
        ];
        for (body, problem) in cases {
            // When parsed
            let err = parse_body(body).err().expect(body).to_string();
            // Then the error says what is wrong, and nothing of the body
            assert!(err.contains(problem), "{body}: {err}");
            assert!(!err.contains("AKIA") && !err.contains("123456789"), "{err}");
        }
    }

    #[test]
    fn given_each_failure_when_classified_then_only_bad_bodies_are_poison() {
        // Given the ways a message fails
        let poison = [
            WorkError::MissingBody,
            parse_body("{").err().unwrap(),
            parse_body(r#"{"hello":"world"}"#).err().unwrap(),
        ];
        let retryable = [WorkError::Deadline, WorkError::ScanTask("gone".into())];
        // Then a bad body can never succeed, and running out of time may succeed next time
        for e in &poison {
            assert!(!e.is_retryable(), "{e}");
            assert_eq!(e.diagnostic().error_type, "NonRetryable");
        }
        for e in &retryable {
            assert!(e.is_retryable(), "{e}");
        }
    }
}
