//! Storage of object scans: the scan-jobs port ([`ScanJobStore`]) and the object-findings port
//! ([`ObjectFindingStore`]), with their DynamoDB adapters and item conversions.
//!
//! Every counter of a job moves together with a *marker* item, in one `TransactWriteItems`: the
//! marker is put with `attribute_not_exists`, the counters are `ADD`ed on the job item. If the
//! marker already exists the whole transaction is cancelled, so a redelivered message, a
//! retried enumeration page or two workers racing on the same unit move the counters once:
//!
//! | marker | written when | counters |
//! |---|---|---|
//! | `PAGE#<n>` | listing page `n` has been enqueued | `Objects`, `Units`, `EnumerationPages` (+ `EnumerationDone` on the last page) |
//! | `UNITS#<unit>` | an ObjectCreated notification has been enqueued (continuous jobs) | `Objects`, `Units` |
//! | `START#<unit>` | a worker starts a unit | `Started` |
//! | `DONE#<unit>` | a unit ends: succeeded, skipped (with its reason) or failed; `Capped` names the kinds past the detectors' per-unit cap | `Succeeded`/`Skipped`/`Failed`, `Findings`, `Changed`, `Skipped_<reason>`, `Capped_<kind>` |
//!
//! Findings are put one by one with `attribute_not_exists` on their key
//! (`<key>#<etag>#<detector>#<offset>` under the job, the key's head and a hash when that would
//! not fit a sort key: [`finding_id`]), so each is stored exactly once.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use aws_sdk_dynamodb::Client;
use futures::StreamExt;
use sha2::{Digest, Sha256};

use super::dynamo::{conditional_write, encode_cursor, is_conditional_failure, store_error};
use super::item::Item;
use super::schema::{object_findings as of, scan_jobs as sj};
use super::{Page, StoreError};
use crate::object_scan::model::{
    CappedUnit, JobCounts, JobKind, ObjectFinding, ResultsQuery, ScanJob, SkipReason, UnitOutcome,
};

/// Findings written at once.
pub const FINDING_WRITE_CONCURRENCY: usize = 16;
/// Query rounds one results page may take when filters discard most items.
const MAX_QUERY_ROUNDS: usize = 20;

/// A listing page as counted by its marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageCount {
    pub page: u64,
    pub objects: u64,
    pub units: u64,
    pub last: bool,
}

#[async_trait]
pub trait ScanJobStore: Send + Sync {
    /// Creates a job; for a continuous job, keeps the existing one. True when created.
    async fn create(&self, job: &ScanJob) -> Result<bool, StoreError>;
    async fn get(&self, job_id: &str) -> Result<Option<ScanJob>, StoreError>;
    /// Counts a listing page once. False when it was already counted.
    async fn count_page(&self, job_id: &str, page: &PageCount) -> Result<bool, StoreError>;
    /// Counts the units of one notified object once (continuous jobs).
    async fn count_notified(
        &self,
        job_id: &str,
        unit: &str,
        units: u64,
    ) -> Result<bool, StoreError>;
    /// True when the unit has ended (any outcome).
    async fn is_done(&self, job_id: &str, unit: &str) -> Result<bool, StoreError>;
    /// Counts the unit started once. False when it had started before.
    async fn start(&self, job_id: &str, unit: &str) -> Result<bool, StoreError>;
    /// Records how the unit ended, once. False when it had ended before.
    async fn finish(
        &self,
        job_id: &str,
        unit: &str,
        outcome: &UnitOutcome,
    ) -> Result<bool, StoreError>;
    /// Ends a listing that cannot continue: the job knows its total as it stands.
    async fn fail_enumeration(&self, job_id: &str, reason: &str) -> Result<(), StoreError>;
    /// Names the object of a capped unit (`CAPPED#<unit>`, written before its `DONE` marker;
    /// a redelivery writes the same item again).
    async fn record_capped(
        &self,
        job_id: &str,
        unit: &str,
        capped: &CappedUnit,
    ) -> Result<(), StoreError>;
    /// Up to `limit` capped units of a job, and whether there are more.
    async fn capped_units(
        &self,
        job_id: &str,
        limit: usize,
    ) -> Result<(Vec<CappedUnit>, bool), StoreError>;
}

#[async_trait]
pub trait ObjectFindingStore: Send + Sync {
    /// Stores each finding unless stored before. Returns how many were new.
    async fn put_all(&self, findings: &[ObjectFinding]) -> Result<usize, StoreError>;
    /// One page of a job's findings, filtered.
    async fn page(&self, query: &ResultsQuery) -> Result<Page<ObjectFinding>, StoreError>;
}

/// DynamoDB's limit on a sort key value, in bytes of UTF-8.
pub const MAX_SORT_KEY_BYTES: usize = 1_024;
/// Longest `<key>#<etag>` kept as is at the head of a finding id: with `#<detector>#<offset>`
/// (at most 1 + 32 + 1 + 20 bytes) the id stays under [`MAX_SORT_KEY_BYTES`].
const MAX_PLAIN_OBJECT_PART: usize = 960;
/// Bytes of the object key kept readable at the head of a hashed finding id.
pub const FINDING_ID_KEY_HEAD: usize = 512;
/// Longest detector name a finding id makes room for.
const MAX_DETECTOR_NAME: usize = 32;

/// The finding's sort key: `<key>#<etag>#<detector>#<offset, 20 digits>`, or, when the key
/// and ETag are too long for that to fit DynamoDB's 1,024-byte sort keys (S3 keys are up to
/// 1,024 bytes themselves), `<first 512 bytes of the key>#sha256:<hash of key and
/// etag>#<detector>#<offset>`. Deterministic either way (a redelivered unit stores each
/// finding once); the item keeps the full key in `Key`, and every id starts with the key or
/// its head, so a key-prefix query stays a key condition.
pub fn finding_id(f: &ObjectFinding) -> String {
    let detector = truncate_utf8(&f.detector, MAX_DETECTOR_NAME);
    format!(
        "{}#{detector}#{:020}",
        object_part(&f.key, &f.etag),
        f.byte_offset
    )
}

/// `<key>#<etag>`, or `<key head>#sha256:<hex>` when that is longer than
/// [`MAX_PLAIN_OBJECT_PART`].
fn object_part(key: &str, etag: &str) -> String {
    if key.len() + 1 + etag.len() <= MAX_PLAIN_OBJECT_PART {
        return format!("{key}#{etag}");
    }
    let digest = Sha256::digest(format!("{key}#{etag}").as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}#sha256:{hex}", key_head(key))
}

/// What a finding id holds of a key (or key prefix) at most: its first
/// [`FINDING_ID_KEY_HEAD`] bytes, cut at a character boundary. A prefix of a key has as head
/// a prefix of the key's head, so `begins_with(FindingId, key_head(prefix))` finds every
/// finding of every key starting with `prefix` (and a few more, filtered on `Key`).
pub fn key_head(key: &str) -> &str {
    truncate_utf8(key, FINDING_ID_KEY_HEAD)
}

fn truncate_utf8(text: &str, max: usize) -> &str {
    let mut end = max.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Why a results cursor is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CursorError {
    #[error("the cursor is empty (omit it for the first page)")]
    Empty,
    #[error("the cursor is not one qrie returned (it does not parse as a results cursor)")]
    Malformed,
    #[error("the cursor belongs to another job")]
    OtherJob,
}

/// The start key of a results page: `None` for the first page, else the key `cursor` (the
/// `next_cursor` of a page of `job_id`, `{"JobId": ..., "FindingId": ...}`) names. Anything
/// else is refused: a cursor that does not parse, names more or other attributes, or names
/// another job never silently restarts at the first page or reads another job's findings.
pub fn results_start_key(job_id: &str, cursor: Option<&str>) -> Result<Option<Item>, CursorError> {
    let Some(cursor) = cursor else {
        return Ok(None);
    };
    if cursor.trim().is_empty() {
        return Err(CursorError::Empty);
    }
    let value: serde_json::Value =
        serde_json::from_str(cursor).map_err(|_| CursorError::Malformed)?;
    let map = value.as_object().ok_or(CursorError::Malformed)?;
    let field = |name: &str| map.get(name).and_then(serde_json::Value::as_str);
    let (Some(pk), Some(sk)) = (field(of::PK), field(of::SK)) else {
        return Err(CursorError::Malformed);
    };
    if map.len() != 2 || sk.is_empty() || sk.len() > MAX_SORT_KEY_BYTES {
        return Err(CursorError::Malformed);
    }
    if pk != job_id {
        return Err(CursorError::OtherJob);
    }
    let mut key = Item::new();
    key.insert(of::PK.into(), s(pk));
    key.insert(of::SK.into(), s(sk));
    Ok(Some(key))
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn num(item: &Item, name: &str) -> u64 {
    match item.get(name) {
        Some(AttributeValue::N(v)) => v.parse::<i64>().map_or(0, |x| x.max(0) as u64),
        _ => 0,
    }
}

fn text(item: &Item, name: &str) -> Option<String> {
    match item.get(name) {
        Some(AttributeValue::S(v)) if !v.is_empty() => Some(v.clone()),
        _ => None,
    }
}

fn job_to_item(job: &ScanJob) -> Item {
    let mut item = Item::new();
    item.insert(sj::PK.into(), s(&job.job_id));
    item.insert(sj::SK.into(), s(sj::JOB_ITEM));
    item.insert(sj::BUCKET.into(), s(&job.bucket));
    if let Some(p) = &job.prefix {
        item.insert(sj::PREFIX.into(), s(p));
    }
    if let Some(a) = &job.account_id {
        item.insert(sj::ACCOUNT_ID.into(), s(a));
    }
    item.insert(sj::REGION.into(), s(&job.region));
    item.insert(
        sj::KIND.into(),
        s(job.kind.unwrap_or(JobKind::OneOff).as_str()),
    );
    item.insert(sj::CREATED_AT.into(), s(&job.created_at));
    item.insert(
        sj::ENUMERATION_DONE.into(),
        AttributeValue::Bool(job.enumeration_done),
    );
    for name in [
        sj::OBJECTS,
        sj::UNITS,
        sj::STARTED,
        sj::SUCCEEDED,
        sj::FAILED,
        sj::SKIPPED,
        sj::FINDINGS,
        sj::CHANGED,
        sj::ENUMERATION_PAGES,
    ] {
        item.insert(name.into(), n(0));
    }
    item
}

fn job_from_item(item: &Item) -> Result<ScanJob, StoreError> {
    let job_id = text(item, sj::PK).ok_or_else(|| StoreError::Corrupt {
        table: "scan_jobs".into(),
        key: "?".into(),
        message: format!("attribute {} is missing", sj::PK),
    })?;
    let skipped_by_reason: BTreeMap<String, u64> = SkipReason::ALL
        .iter()
        .filter_map(|r| {
            let count = num(item, &format!("{}{}", sj::SKIPPED_PREFIX, r.as_str()));
            (count > 0).then(|| (r.as_str().to_owned(), count))
        })
        .collect();
    let capped_by_kind: BTreeMap<String, u64> = qrie_detectors::DetectorKind::ALL
        .iter()
        .filter_map(|k| {
            let count = num(item, &format!("{}{}", sj::CAPPED_PREFIX, k.as_str()));
            (count > 0).then(|| (k.as_str().to_owned(), count))
        })
        .collect();
    Ok(ScanJob {
        job_id,
        bucket: text(item, sj::BUCKET).unwrap_or_default(),
        prefix: text(item, sj::PREFIX),
        account_id: text(item, sj::ACCOUNT_ID),
        region: text(item, sj::REGION).unwrap_or_else(|| "us-east-1".into()),
        kind: text(item, sj::KIND).and_then(|k| JobKind::from_name(&k)),
        created_at: text(item, sj::CREATED_AT).unwrap_or_default(),
        enumeration_done: matches!(
            item.get(sj::ENUMERATION_DONE),
            Some(AttributeValue::Bool(true))
        ),
        enumeration_pages: num(item, sj::ENUMERATION_PAGES),
        enumeration_error: text(item, sj::ENUMERATION_ERROR),
        counts: JobCounts {
            objects: num(item, sj::OBJECTS),
            units: num(item, sj::UNITS),
            started: num(item, sj::STARTED),
            succeeded: num(item, sj::SUCCEEDED),
            failed: num(item, sj::FAILED),
            skipped: num(item, sj::SKIPPED),
            findings: num(item, sj::FINDINGS),
            changed: num(item, sj::CHANGED),
            skipped_by_reason,
            capped_by_kind,
        },
    })
}

fn finding_to_item(f: &ObjectFinding) -> Item {
    let mut item = Item::new();
    item.insert(of::PK.into(), s(&f.job_id));
    item.insert(of::SK.into(), s(&finding_id(f)));
    item.insert(of::BUCKET.into(), s(&f.bucket));
    item.insert(of::KEY.into(), s(&f.key));
    item.insert(of::ETAG.into(), s(&f.etag));
    item.insert(of::DETECTOR.into(), s(&f.detector));
    item.insert(of::OFFSET.into(), n(f.byte_offset));
    item.insert(of::LENGTH.into(), n(f.length));
    item.insert(of::MASKED.into(), s(&f.masked));
    item.insert(of::CONTEXT.into(), s(&f.context));
    if let Some(a) = &f.account_id {
        item.insert(of::ACCOUNT_ID.into(), s(a));
    }
    item.insert(of::FOUND_AT.into(), s(&f.found_at));
    item.insert(
        of::RISK_SCORE.into(),
        super::item::risk_score_to_attr(f.risk_score),
    );
    item
}

fn finding_from_item(item: &Item) -> ObjectFinding {
    let detector = text(item, of::DETECTOR).unwrap_or_default();
    // Stored before detections were scored (or damaged): the detector's score, which is all
    // the score depends on.
    let risk_score = super::item::risk_score(item, of::RISK_SCORE)
        .ok()
        .flatten()
        .unwrap_or_else(|| crate::risk::object_finding_score(&detector));
    ObjectFinding {
        job_id: text(item, of::PK).unwrap_or_default(),
        bucket: text(item, of::BUCKET).unwrap_or_default(),
        key: text(item, of::KEY).unwrap_or_default(),
        etag: text(item, of::ETAG).unwrap_or_default(),
        detector,
        byte_offset: num(item, of::OFFSET),
        length: num(item, of::LENGTH),
        masked: text(item, of::MASKED).unwrap_or_default(),
        context: text(item, of::CONTEXT).unwrap_or_default(),
        account_id: text(item, of::ACCOUNT_ID),
        found_at: text(item, of::FOUND_AT).unwrap_or_default(),
        risk_score,
    }
}

/// The scan-jobs table.
pub struct DynamoScanJobs {
    client: Client,
    table: String,
}

impl DynamoScanJobs {
    pub fn new(client: Client, table: &str) -> Self {
        Self {
            client,
            table: table.to_owned(),
        }
    }

    fn backend(&self, operation: &'static str, message: impl ToString) -> StoreError {
        StoreError::Backend {
            table: self.table.clone(),
            operation,
            message: message.to_string(),
        }
    }

    /// Puts `marker` unless it exists and applies `add` (and `set`) to the job item, in one
    /// transaction. False when the marker existed (nothing changed).
    async fn once(
        &self,
        job_id: &str,
        marker: String,
        marker_attrs: Item,
        add: &[(String, u64)],
        set: &[(&str, AttributeValue)],
    ) -> Result<bool, StoreError> {
        let mut marker_item = marker_attrs;
        marker_item.insert(sj::PK.into(), s(job_id));
        marker_item.insert(sj::SK.into(), s(&marker));
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(marker_item))
            .condition_expression("attribute_not_exists(#sk)")
            .expression_attribute_names("#sk", sj::SK)
            .build()
            .map_err(|e| self.backend("TransactWriteItems", e))?;
        let mut update = Update::builder()
            .table_name(&self.table)
            .key(sj::PK, s(job_id))
            .key(sj::SK, s(sj::JOB_ITEM))
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#pk", sj::PK);
        let mut adds = Vec::new();
        for (i, (name, delta)) in add.iter().enumerate() {
            adds.push(format!("#a{i} :a{i}"));
            update = update
                .expression_attribute_names(format!("#a{i}"), name)
                .expression_attribute_values(format!(":a{i}"), n(*delta));
        }
        let mut sets = Vec::new();
        for (i, (name, value)) in set.iter().enumerate() {
            sets.push(format!("#s{i} = :s{i}"));
            update = update
                .expression_attribute_names(format!("#s{i}"), *name)
                .expression_attribute_values(format!(":s{i}"), value.clone());
        }
        let mut expression = String::new();
        if !sets.is_empty() {
            expression.push_str(&format!("SET {}", sets.join(", ")));
        }
        if !adds.is_empty() {
            expression.push_str(&format!(" ADD {}", adds.join(", ")));
        }
        let update = update
            .update_expression(expression.trim())
            .build()
            .map_err(|e| self.backend("TransactWriteItems", e))?;
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(put).build())
            .transact_items(TransactWriteItem::builder().update(update).build())
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if e.code() == Some("TransactionCanceledException") => {
                // Either the marker exists (done before: not an error) or the job does not.
                if self.marker_exists(job_id, &marker).await? {
                    Ok(false)
                } else {
                    Err(self.backend(
                        "TransactWriteItems",
                        format!("job {job_id} does not exist (or the transaction conflicted)"),
                    ))
                }
            }
            Err(e) => Err(store_error(&self.table, "TransactWriteItems", &e)),
        }
    }

    async fn marker_exists(&self, job_id: &str, marker: &str) -> Result<bool, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(sj::PK, s(job_id))
            .key(sj::SK, s(marker))
            .projection_expression("#sk")
            .expression_attribute_names("#sk", sj::SK)
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| store_error(&self.table, "GetItem", &e))?;
        Ok(out.item.is_some())
    }
}

fn now() -> AttributeValue {
    s(&super::timestamp(chrono::Utc::now()))
}

#[async_trait]
impl ScanJobStore for DynamoScanJobs {
    async fn create(&self, job: &ScanJob) -> Result<bool, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(job_to_item(job)))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", sj::PK)
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_conditional_failure(&e) && job.kind == Some(JobKind::Continuous) => {
                Ok(false)
            }
            Err(e) => Err(store_error(&self.table, "PutItem", &e)),
        }
    }

    async fn get(&self, job_id: &str) -> Result<Option<ScanJob>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(sj::PK, s(job_id))
            .key(sj::SK, s(sj::JOB_ITEM))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| store_error(&self.table, "GetItem", &e))?;
        out.item.as_ref().map(job_from_item).transpose()
    }

    async fn count_page(&self, job_id: &str, page: &PageCount) -> Result<bool, StoreError> {
        let mut attrs = Item::new();
        attrs.insert(sj::OBJECTS.into(), n(page.objects));
        attrs.insert(sj::UNITS.into(), n(page.units));
        attrs.insert(sj::AT.into(), now());
        let add = [
            (sj::OBJECTS.to_owned(), page.objects),
            (sj::UNITS.to_owned(), page.units),
            (sj::ENUMERATION_PAGES.to_owned(), 1),
        ];
        let set: Vec<(&str, AttributeValue)> = if page.last {
            vec![(sj::ENUMERATION_DONE, AttributeValue::Bool(true))]
        } else {
            vec![]
        };
        self.once(job_id, format!("PAGE#{:012}", page.page), attrs, &add, &set)
            .await
    }

    async fn count_notified(
        &self,
        job_id: &str,
        unit: &str,
        units: u64,
    ) -> Result<bool, StoreError> {
        let mut attrs = Item::new();
        attrs.insert(sj::UNITS.into(), n(units));
        attrs.insert(sj::AT.into(), now());
        let add = [(sj::OBJECTS.to_owned(), 1), (sj::UNITS.to_owned(), units)];
        self.once(job_id, format!("UNITS#{unit}"), attrs, &add, &[])
            .await
    }

    async fn is_done(&self, job_id: &str, unit: &str) -> Result<bool, StoreError> {
        self.marker_exists(job_id, &format!("DONE#{unit}")).await
    }

    async fn start(&self, job_id: &str, unit: &str) -> Result<bool, StoreError> {
        let mut attrs = Item::new();
        attrs.insert(sj::AT.into(), now());
        self.once(
            job_id,
            format!("START#{unit}"),
            attrs,
            &[(sj::STARTED.to_owned(), 1)],
            &[],
        )
        .await
    }

    async fn finish(
        &self,
        job_id: &str,
        unit: &str,
        outcome: &UnitOutcome,
    ) -> Result<bool, StoreError> {
        let mut attrs = Item::new();
        attrs.insert(sj::OUTCOME.into(), s(outcome.name()));
        attrs.insert(sj::AT.into(), now());
        let mut add = vec![(sj::FINDINGS.to_owned(), outcome.findings())];
        if outcome.etag_changed() {
            add.push((sj::CHANGED.to_owned(), 1));
        }
        if !outcome.capped().is_empty() {
            let kinds: Vec<String> = outcome
                .capped()
                .iter()
                .map(|k| k.as_str().to_owned())
                .collect();
            for kind in &kinds {
                add.push((format!("{}{kind}", sj::CAPPED_PREFIX), 1));
            }
            attrs.insert(sj::CAPPED.into(), AttributeValue::Ss(kinds));
        }
        match outcome {
            UnitOutcome::Succeeded { etag, .. } => {
                attrs.insert(sj::ETAG.into(), s(etag));
                add.push((sj::SUCCEEDED.to_owned(), 1));
            }
            UnitOutcome::Skipped { reason, .. } => {
                attrs.insert(sj::REASON.into(), s(reason.as_str()));
                add.push((sj::SKIPPED.to_owned(), 1));
                add.push((format!("{}{}", sj::SKIPPED_PREFIX, reason.as_str()), 1));
            }
            UnitOutcome::Failed { reason } => {
                attrs.insert(sj::REASON.into(), s(reason));
                add.push((sj::FAILED.to_owned(), 1));
            }
        }
        self.once(job_id, format!("DONE#{unit}"), attrs, &add, &[])
            .await
    }

    async fn record_capped(
        &self,
        job_id: &str,
        unit: &str,
        capped: &CappedUnit,
    ) -> Result<(), StoreError> {
        let mut item = Item::new();
        item.insert(sj::PK.into(), s(job_id));
        item.insert(
            sj::SK.into(),
            s(&format!("{}{unit}", sj::CAPPED_ITEM_PREFIX)),
        );
        item.insert(sj::KEY.into(), s(&capped.key));
        item.insert(sj::ETAG.into(), s(&capped.etag));
        item.insert(sj::RANGE_START.into(), n(capped.range_start));
        item.insert(sj::CAPPED.into(), AttributeValue::Ss(capped.kinds.clone()));
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| store_error(&self.table, "PutItem", &e))?;
        Ok(())
    }

    async fn capped_units(
        &self,
        job_id: &str,
        limit: usize,
    ) -> Result<(Vec<CappedUnit>, bool), StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :capped)")
            .expression_attribute_names("#pk", sj::PK)
            .expression_attribute_names("#sk", sj::SK)
            .expression_attribute_values(":pk", s(job_id))
            .expression_attribute_values(":capped", s(sj::CAPPED_ITEM_PREFIX))
            .limit(i32::try_from(limit.clamp(1, 1_000)).unwrap_or(1_000))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| store_error(&self.table, "Query", &e))?;
        let units = out
            .items()
            .iter()
            .map(|item| CappedUnit {
                key: text(item, sj::KEY).unwrap_or_default(),
                etag: text(item, sj::ETAG).unwrap_or_default(),
                range_start: num(item, sj::RANGE_START),
                kinds: match item.get(sj::CAPPED) {
                    Some(AttributeValue::Ss(kinds)) => {
                        let mut kinds = kinds.clone();
                        kinds.sort();
                        kinds
                    }
                    _ => Vec::new(),
                },
            })
            .collect();
        Ok((units, out.last_evaluated_key.is_some()))
    }

    async fn fail_enumeration(&self, job_id: &str, reason: &str) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key(sj::PK, s(job_id))
            .key(sj::SK, s(sj::JOB_ITEM))
            .update_expression("SET #done = :t, #err = :err")
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#pk", sj::PK)
            .expression_attribute_names("#done", sj::ENUMERATION_DONE)
            .expression_attribute_names("#err", sj::ENUMERATION_ERROR)
            .expression_attribute_values(":t", AttributeValue::Bool(true))
            .expression_attribute_values(":err", s(reason))
            .send()
            .await
            .map_err(|e| store_error(&self.table, "UpdateItem", &e))?;
        Ok(())
    }
}

/// The object-findings table.
pub struct DynamoObjectFindings {
    client: Client,
    table: String,
}

impl DynamoObjectFindings {
    pub fn new(client: Client, table: &str) -> Self {
        Self {
            client,
            table: table.to_owned(),
        }
    }

    async fn put_one(&self, finding: &ObjectFinding) -> Result<bool, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(finding_to_item(finding)))
            .condition_expression("attribute_not_exists(#sk)")
            .expression_attribute_names("#sk", of::SK)
            .send()
            .await;
        conditional_write(&self.table, "PutItem", result)
    }
}

#[async_trait]
impl ObjectFindingStore for DynamoObjectFindings {
    async fn put_all(&self, findings: &[ObjectFinding]) -> Result<usize, StoreError> {
        let results: Vec<Result<bool, StoreError>> =
            futures::stream::iter(findings.iter().cloned())
                .map(|f| async move { self.put_one(&f).await })
                .buffer_unordered(FINDING_WRITE_CONCURRENCY)
                .collect()
                .await;
        let mut new = 0;
        for r in results {
            if r? {
                new += 1;
            }
        }
        Ok(new)
    }

    async fn page(&self, query: &ResultsQuery) -> Result<Page<ObjectFinding>, StoreError> {
        let limit = query.limit.clamp(1, 1_000);
        let mut items = Vec::new();
        let mut cursor =
            results_start_key(&query.job_id, query.cursor.as_deref()).map_err(|e| {
                StoreError::Backend {
                    table: self.table.clone(),
                    operation: "Query",
                    message: e.to_string(),
                }
            })?;
        for _ in 0..MAX_QUERY_ROUNDS {
            let remaining = limit - items.len();
            let mut req = self
                .client
                .query()
                .table_name(&self.table)
                .expression_attribute_names("#pk", of::PK)
                .expression_attribute_values(":pk", s(&query.job_id))
                .limit(i32::try_from(remaining).unwrap_or(1_000))
                .set_exclusive_start_key(cursor.take());
            let mut filters = Vec::new();
            req = match &query.key_prefix {
                Some(prefix) if !prefix.is_empty() => {
                    // The id holds the key's head only (long keys): the key condition narrows,
                    // the filter on the full key decides.
                    filters.push("begins_with(#key, :prefix)");
                    req.key_condition_expression("#pk = :pk AND begins_with(#sk, :head)")
                        .expression_attribute_names("#sk", of::SK)
                        .expression_attribute_names("#key", of::KEY)
                        .expression_attribute_values(":head", s(key_head(prefix)))
                        .expression_attribute_values(":prefix", s(prefix))
                }
                _ => req.key_condition_expression("#pk = :pk"),
            };
            if let Some(bucket) = &query.bucket {
                filters.push("#bucket = :bucket");
                req = req
                    .expression_attribute_names("#bucket", of::BUCKET)
                    .expression_attribute_values(":bucket", s(bucket));
            }
            if let Some(detector) = &query.detector {
                filters.push("#detector = :detector");
                req = req
                    .expression_attribute_names("#detector", of::DETECTOR)
                    .expression_attribute_values(":detector", s(detector));
            }
            if !filters.is_empty() {
                req = req.filter_expression(filters.join(" AND "));
            }
            let out = req
                .send()
                .await
                .map_err(|e| store_error(&self.table, "Query", &e))?;
            items.extend(out.items().iter().map(finding_from_item));
            cursor = out.last_evaluated_key;
            if cursor.is_none() || items.len() >= limit {
                break;
            }
        }
        Ok(Page {
            items,
            next: encode_cursor(cursor.as_ref()),
        })
    }
}

/// Runs of the fanned-out inventory ([`crate::fanout`]) are kept in the scan-jobs table, with
/// the same exactly-once design as object-scan jobs: the run is the `JOB` item of `JobId` =
/// the run id (`run-...`), and each unit ends with a `DONE#<unit>` marker put in the same
/// transaction that `ADD`s its counts to the run (`Done` or `Failed`, `Written`, `Removed`).
impl DynamoScanJobs {
    /// Creates the run item with its `Queued` count; an existing run id is an error.
    pub async fn create_run(&self, run: &crate::fanout::Run) -> Result<(), StoreError> {
        let mut item = Item::new();
        item.insert(sj::PK.into(), s(&run.run_id));
        item.insert(sj::SK.into(), s(sj::JOB_ITEM));
        item.insert("Kind".into(), s("inventory-run"));
        item.insert("Request".into(), s(&run.request));
        item.insert("StartedAt".into(), s(&run.started_at));
        item.insert("Queued".into(), n(run.queued));
        for name in ["Done", "Failed", "Written", "Removed"] {
            item.insert(name.into(), n(0));
        }
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", sj::PK)
            .send()
            .await
            .map_err(|e| store_error(&self.table, "PutItem", &e))?;
        Ok(())
    }

    /// Counts how a unit of a run ended, once: false when it had ended before (a redelivery).
    pub async fn finish_run_unit(
        &self,
        run_id: &str,
        unit: &str,
        outcome: &crate::fanout::UnitResult,
    ) -> Result<bool, StoreError> {
        let mut attrs = Item::new();
        attrs.insert(sj::AT.into(), now());
        let mut add = vec![
            ("Written".to_owned(), outcome.written),
            ("Removed".to_owned(), outcome.removed),
        ];
        match &outcome.error {
            None => add.push(("Done".to_owned(), 1)),
            Some(reason) => {
                attrs.insert(sj::REASON.into(), s(reason));
                add.push(("Failed".to_owned(), 1));
            }
        }
        self.once(run_id, format!("DONE#{unit}"), attrs, &add, &[])
            .await
    }

    /// A run's counts, `None` when there is no such run.
    pub async fn get_run(&self, run_id: &str) -> Result<Option<crate::fanout::Run>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(sj::PK, s(run_id))
            .key(sj::SK, s(sj::JOB_ITEM))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| store_error(&self.table, "GetItem", &e))?;
        let Some(item) = out.item else {
            return Ok(None);
        };
        if text(&item, "Kind").as_deref() != Some("inventory-run") {
            return Ok(None);
        }
        Ok(Some(crate::fanout::Run {
            run_id: run_id.to_owned(),
            request: text(&item, "Request").unwrap_or_default(),
            started_at: text(&item, "StartedAt").unwrap_or_default(),
            queued: num(&item, "Queued"),
            done: num(&item, "Done"),
            failed: num(&item, "Failed"),
            written: num(&item, "Written"),
            removed: num(&item, "Removed"),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_a_finding_when_keyed_then_the_key_starts_with_the_object_key_and_sorts_by_offset() {
        // given
        let mut f = ObjectFinding {
            job_id: "j".into(),
            bucket: "b".into(),
            key: "dir/a.txt".into(),
            etag: "e".into(),
            detector: "email".into(),
            byte_offset: 42,
            length: 10,
            masked: "j***@e***.com".into(),
            context: String::new(),
            account_id: None,
            found_at: String::new(),
            risk_score: crate::risk::object_finding_score("email"),
        };
        // when
        let first = finding_id(&f);
        f.byte_offset = 1_000;
        let second = finding_id(&f);
        // then
        assert!(first.starts_with("dir/a.txt#e#email#"));
        assert!(first < second);
    }

    fn finding_on(key: &str) -> ObjectFinding {
        ObjectFinding {
            job_id: "j".into(),
            bucket: "b".into(),
            key: key.into(),
            etag: "0123456789abcdef0123456789abcdef-10000".into(),
            detector: "aws_secret_access_key".into(),
            byte_offset: u64::MAX,
            length: 40,
            masked: String::new(),
            context: String::new(),
            account_id: None,
            found_at: String::new(),
            risk_score: crate::risk::object_finding_score("aws_secret_access_key"),
        }
    }

    #[test]
    fn given_a_finding_when_stored_then_its_risk_score_reads_back_or_comes_from_its_detector() {
        // given: a detection of an AWS secret key
        let f = finding_on("keys.txt");
        // when: it is stored and read back
        let mut item = finding_to_item(&f);
        // then: the score is a number attribute and reads back as stored
        assert_eq!(item[of::RISK_SCORE], AttributeValue::N("5.0".into()));
        assert_eq!(finding_from_item(&item).risk_score, f.risk_score);
        // and an item stored before scores gets its detector's (sensitive) score
        item.remove(of::RISK_SCORE);
        assert_eq!(finding_from_item(&item).risk_score.to_string(), "5.0");
        item.insert(of::DETECTOR.into(), s("email"));
        assert_eq!(finding_from_item(&item).risk_score.to_string(), "4.0");
    }

    #[test]
    fn given_keys_of_up_to_1024_bytes_when_keyed_then_every_id_fits_a_sort_key() {
        // given: S3's longest keys, ASCII and multibyte (2, 3 and 4 bytes per character)
        let keys = [
            "k".repeat(1_024),
            "é".repeat(512),
            format!("a{}", "日".repeat(341)),
            "🔑".repeat(256),
            format!("{}é", "x".repeat(1_022)),
        ];
        for key in &keys {
            assert_eq!(key.len(), 1_024);
            // when
            let id = finding_id(&finding_on(key));
            // then: it fits, starts with the key's readable head, and is stable
            assert!(id.len() <= MAX_SORT_KEY_BYTES, "{} bytes", id.len());
            assert!(id.starts_with(key_head(key)), "{id}");
            assert!(key_head(key).len() > FINDING_ID_KEY_HEAD - 4);
            assert_eq!(id, finding_id(&finding_on(key)), "deterministic");
        }
    }

    #[test]
    fn given_long_keys_that_differ_only_at_the_end_when_keyed_then_their_ids_differ() {
        let a = format!("{}a", "p/".repeat(600));
        let b = format!("{}b", "p/".repeat(600));
        assert_ne!(finding_id(&finding_on(&a)), finding_id(&finding_on(&b)));
        let mut other_etag = finding_on(&a);
        other_etag.etag = "ffff".into();
        assert_ne!(finding_id(&other_etag), finding_id(&finding_on(&a)));
    }

    #[test]
    fn given_a_prefix_of_a_long_key_when_headed_then_it_prefixes_the_keys_id() {
        // given: a key of 3-byte characters whose head cuts inside the prefix
        let key = format!("dir/{}", "日".repeat(340));
        let id = finding_id(&finding_on(&key));
        for cut in [4, 100, 511, 700, key.len()] {
            let mut end = cut;
            while !key.is_char_boundary(end) {
                end -= 1;
            }
            // when / then
            assert!(
                id.starts_with(key_head(&key[..end])),
                "prefix of {end} bytes"
            );
        }
    }

    #[test]
    fn given_cursors_when_checked_then_only_a_cursor_of_this_job_is_accepted() {
        // given: the cursor a page of job j returns
        let mut key = Item::new();
        key.insert(of::PK.into(), s("j"));
        key.insert(of::SK.into(), s("a.txt#e#email#00000000000000000042"));
        let good = encode_cursor(Some(&key)).unwrap();
        // when / then
        assert_eq!(results_start_key("j", None), Ok(None));
        assert_eq!(results_start_key("j", Some(&good)), Ok(Some(key)));
        assert_eq!(
            results_start_key("other", Some(&good)),
            Err(CursorError::OtherJob)
        );
        for garbage in [
            "",
            "  ",
            "garbage",
            "[]",
            "{}",
            "42",
            r#"{"JobId":"j"}"#,
            r#"{"JobId":"j","FindingId":""}"#,
            r#"{"JobId":"j","FindingId":7}"#,
            r#"{"JobId":"j","FindingId":"x","Extra":"y"}"#,
        ] {
            let refused = results_start_key("j", Some(garbage));
            assert!(refused.is_err(), "{garbage:?} was accepted");
        }
        assert_eq!(results_start_key("j", Some("")), Err(CursorError::Empty));
    }

    #[test]
    fn given_a_new_job_when_stored_then_it_reads_back_with_zero_counts() {
        let job = ScanJob {
            job_id: "j1".into(),
            bucket: "b".into(),
            prefix: Some("p/".into()),
            region: "eu-west-1".into(),
            kind: Some(JobKind::OneOff),
            created_at: "2024-01-01T00:00:00Z".into(),
            ..ScanJob::default()
        };
        let back = job_from_item(&job_to_item(&job)).unwrap();
        assert_eq!(back, job);
    }
}
