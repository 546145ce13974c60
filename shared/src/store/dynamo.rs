//! DynamoDB adapters for the storage ports.
//!
//! Paginated reads, batch writes of 25 with bounded retries of unprocessed items, and
//! conditional writes that keep older data from overwriting newer data. Modeled errors
//! (conditional check failed, throttling) become outcomes or [`StoreError`] variants here.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, ReturnValue, WriteRequest};
use aws_sdk_dynamodb::Client;
use chrono::{DateTime, Utc};

use super::item::{self, Item};
use super::schema::{accounts as a, findings as f, policies as p, resources as r};
use super::{
    timestamp, AccountStore, ComplianceStore, FailedEvaluation, FindingStore, OpenOutcome, Page,
    PolicySetting, PolicyStore, Resolution, ResourceStore, Seen, StoreError,
};
use crate::model::{Account, Finding, FindingState, Resource};

const BATCH: usize = 25;
const UNPROCESSED_RETRIES: u32 = 8;

pub(super) fn store_error<E: ProvideErrorMetadata + std::fmt::Debug, R: std::fmt::Debug>(
    table: &str,
    operation: &'static str,
    err: &SdkError<E, R>,
) -> StoreError {
    let code = err.code().unwrap_or_default();
    let message = err
        .message()
        .map(str::to_owned)
        .unwrap_or_else(|| format!("{err:?}"));
    if matches!(
        code,
        "ProvisionedThroughputExceededException" | "ThrottlingException" | "RequestLimitExceeded"
    ) {
        StoreError::Throttled {
            table: table.to_owned(),
            operation,
            message,
        }
    } else {
        StoreError::Backend {
            table: table.to_owned(),
            operation,
            message: if code.is_empty() {
                message
            } else {
                format!("{code}: {message}")
            },
        }
    }
}

pub(super) fn is_conditional_failure<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    err.code() == Some("ConditionalCheckFailedException")
}

/// The outcome of a conditional write: `true` when written, `false` when the condition failed
/// (a newer or absent item), a [`StoreError`] for anything else.
pub(super) fn conditional_write<T, E, R>(
    table: &str,
    operation: &'static str,
    result: Result<T, SdkError<E, R>>,
) -> Result<bool, StoreError>
where
    E: ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug,
{
    match result {
        Ok(_) => Ok(true),
        Err(e) if is_conditional_failure(&e) => Ok(false),
        Err(e) => Err(store_error(table, operation, &e)),
    }
}

/// A finding state as the `State` attribute (and the `AccountServiceState` index) holds it.
fn state_value(state: FindingState) -> AttributeValue {
    AttributeValue::S(state.as_str().to_owned())
}

fn corrupt(table: &str, item: &Item, e: item::BadAttribute) -> StoreError {
    let key = [r::PK, r::SK, f::SK, a::PK, p::PK]
        .iter()
        .filter_map(|k| item.get(*k).and_then(|v| v.as_s().ok()).cloned())
        .collect::<Vec<_>>()
        .join("/");
    StoreError::Corrupt {
        table: table.to_owned(),
        key,
        message: e.to_string(),
    }
}

/// Opaque cursors are the `LastEvaluatedKey` as JSON.
pub(super) fn encode_cursor(key: Option<&Item>) -> Option<String> {
    let key = key?;
    let map: serde_json::Map<String, serde_json::Value> = key
        .iter()
        .map(|(k, v)| (k.clone(), item::from_attr(v)))
        .collect();
    Some(serde_json::Value::Object(map).to_string())
}

pub(super) fn decode_cursor(cursor: Option<String>) -> Option<Item> {
    let value: serde_json::Value = serde_json::from_str(&cursor?).ok()?;
    Some(
        value
            .as_object()?
            .iter()
            .map(|(k, v)| (k.clone(), item::to_attr(v)))
            .collect(),
    )
}

/// Writes `requests` with BatchWriteItem in chunks of 25, retrying unprocessed items with
/// exponential backoff a bounded number of times.
async fn batch_write(
    client: &Client,
    table: &str,
    requests: Vec<WriteRequest>,
) -> Result<(), StoreError> {
    for chunk in requests.chunks(BATCH) {
        let mut pending = chunk.to_vec();
        let mut attempt = 0;
        while !pending.is_empty() {
            let out = client
                .batch_write_item()
                .request_items(table, pending)
                .send()
                .await
                .map_err(|e| store_error(table, "BatchWriteItem", &e))?;
            pending = out
                .unprocessed_items
                .and_then(|mut m| m.remove(table))
                .unwrap_or_default();
            if pending.is_empty() {
                break;
            }
            attempt += 1;
            if attempt > UNPROCESSED_RETRIES {
                return Err(StoreError::Throttled {
                    table: table.to_owned(),
                    operation: "BatchWriteItem",
                    message: format!("{} items still unprocessed after retries", pending.len()),
                });
            }
            tokio::time::sleep(Duration::from_millis(25 << attempt.min(6))).await;
        }
    }
    Ok(())
}

/// Reads a whole (small) table page by page, converting every item with `parse`.
async fn scan_all<T>(
    client: &Client,
    table: &str,
    parse: impl Fn(&Item) -> Result<T, item::BadAttribute>,
) -> Result<Vec<T>, StoreError> {
    let mut items = client
        .scan()
        .table_name(table)
        .into_paginator()
        .items()
        .send();
    let mut out = Vec::new();
    while let Some(i) = items.next().await {
        let i = i.map_err(|e| store_error(table, "Scan", &e))?;
        out.push(parse(&i).map_err(|e| corrupt(table, &i, e))?);
    }
    Ok(out)
}

/// The resources table.
pub struct DynamoResources {
    client: Client,
    table: String,
}

impl DynamoResources {
    pub fn new(client: Client, table: &str) -> Self {
        Self {
            client,
            table: table.to_owned(),
        }
    }
}

#[async_trait]
impl ResourceStore for DynamoResources {
    async fn put_batch(&self, resources: &[Resource]) -> Result<(), StoreError> {
        let requests = resources
            .iter()
            .map(|res| {
                let put = PutRequest::builder()
                    .set_item(Some(item::resource_to_item(res)))
                    .build()
                    .map_err(|e| StoreError::Backend {
                        table: self.table.clone(),
                        operation: "BatchWriteItem",
                        message: e.to_string(),
                    })?;
                Ok(WriteRequest::builder().put_request(put).build())
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        batch_write(&self.client, &self.table, requests).await
    }

    async fn put_if_newer(&self, resource: &Resource) -> Result<bool, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item::resource_to_item(resource)))
            .condition_expression("attribute_not_exists(#seen) OR #seen <= :seen")
            .expression_attribute_names("#seen", r::LAST_SEEN_AT)
            .expression_attribute_values(
                ":seen",
                AttributeValue::S(timestamp(resource.last_seen_at)),
            )
            .send()
            .await;
        conditional_write(&self.table, "PutItem", result)
    }

    async fn get(&self, partition: &str, arn: &str) -> Result<Option<Resource>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(r::PK, AttributeValue::S(partition.to_owned()))
            .key(r::SK, AttributeValue::S(arn.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| store_error(&self.table, "GetItem", &e))?;
        out.item
            .map(|i| item::resource_from_item(&i).map_err(|e| corrupt(&self.table, &i, e)))
            .transpose()
    }

    async fn page(
        &self,
        partition: &str,
        cursor: Option<String>,
    ) -> Result<Page<Resource>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", r::PK)
            .expression_attribute_values(":pk", AttributeValue::S(partition.to_owned()))
            .set_exclusive_start_key(decode_cursor(cursor))
            .send()
            .await
            .map_err(|e| store_error(&self.table, "Query", &e))?;
        let items = out
            .items()
            .iter()
            .map(|i| item::resource_from_item(i).map_err(|e| corrupt(&self.table, i, e)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page {
            items,
            next: encode_cursor(out.last_evaluated_key.as_ref()),
        })
    }

    async fn seen_times(&self, partition: &str) -> Result<Vec<Seen>, StoreError> {
        let mut pages = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk")
            .projection_expression("#sk, #seen, #region")
            .expression_attribute_names("#pk", r::PK)
            .expression_attribute_names("#sk", r::SK)
            .expression_attribute_names("#seen", r::LAST_SEEN_AT)
            .expression_attribute_names("#region", r::REGION)
            .expression_attribute_values(":pk", AttributeValue::S(partition.to_owned()))
            .into_paginator()
            .items()
            .send();
        let mut out = Vec::new();
        while let Some(i) = pages.next().await {
            let i = i.map_err(|e| store_error(&self.table, "Query", &e))?;
            let arn = i.get(r::SK).and_then(|v| v.as_s().ok()).cloned();
            let seen = i
                .get(r::LAST_SEEN_AT)
                .and_then(|v| v.as_s().ok())
                .and_then(|s| DateTime::parse_from_rfc3339(s).ok());
            let region = i.get(r::REGION).and_then(|v| v.as_s().ok()).cloned();
            match (arn, seen, region) {
                (Some(arn), Some(seen), Some(region)) => out.push(Seen {
                    arn,
                    region,
                    last_seen_at: seen.with_timezone(&Utc),
                }),
                (_, None, _) | (None, _, _) => {
                    return Err(corrupt(
                        &self.table,
                        &i,
                        item::BadAttribute(r::LAST_SEEN_AT),
                    ))
                }
                (_, _, None) => {
                    return Err(corrupt(&self.table, &i, item::BadAttribute(r::REGION)))
                }
            }
        }
        Ok(out)
    }

    async fn delete_if_older(
        &self,
        partition: &str,
        arn: &str,
        seen_before: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(r::PK, AttributeValue::S(partition.to_owned()))
            .key(r::SK, AttributeValue::S(arn.to_owned()))
            .condition_expression("attribute_exists(#sk) AND #seen < :before")
            .expression_attribute_names("#sk", r::SK)
            .expression_attribute_names("#seen", r::LAST_SEEN_AT)
            .expression_attribute_values(":before", AttributeValue::S(timestamp(seen_before)))
            .send()
            .await;
        conditional_write(&self.table, "DeleteItem", result)
    }
}

/// The findings table.
pub struct DynamoFindings {
    client: Client,
    table: String,
}

/// How a failed evaluation opens its finding.
#[derive(Clone, Copy)]
enum Opening {
    /// The item is new, or this account's own (active or resolved): its first-seen time, its
    /// triage and its history are kept.
    InPlace,
    /// The item is another account's resolved finding on the same ARN (the name was taken by a
    /// new resource here): the finding starts afresh.
    TakeOver,
}

impl DynamoFindings {
    pub fn new(client: Client, table: &str) -> Self {
        Self {
            client,
            table: table.to_owned(),
        }
    }

    fn parse_all(&self, items: &[Item]) -> Result<Vec<Finding>, StoreError> {
        items
            .iter()
            .map(|i| item::finding_from_item(i).map_err(|e| corrupt(&self.table, i, e)))
            .collect()
    }
}

/// What a re-opening replaced, from the resolved item's old attributes. A suppression that
/// cannot be read is taken as holding indefinitely: what may be an accepted risk is never
/// announced on a guess.
fn reopened_from(old: &Item) -> OpenOutcome {
    OpenOutcome::Reopened {
        first_seen: item::time(old, f::FIRST_SEEN).ok(),
        suppressed_until: match item::suppression(old) {
            Ok(s) => s.map(|s| s.until),
            Err(_) => Some(DateTime::<Utc>::MAX_UTC),
        },
    }
}

/// The finding was not evaluated from a configuration read after `:obs`.
const NEWER_GUARD: &str = "(attribute_not_exists(#obs) OR #obs <= :obs)";

/// `open` may write in place: no finding yet, or one of this account that was evaluated (or
/// resolved) from a configuration no newer than this one, or whose stamp is later than this
/// evaluation itself (see [`FindingStore::open`]).
const OPEN_IN_PLACE: &str = "attribute_not_exists(#state) OR \
     ((attribute_not_exists(#acct) OR #acct = :acct) \
      AND (attribute_not_exists(#obs) OR #obs <= :obs OR #obs > :now))";

impl DynamoFindings {
    /// The update that marks a finding ACTIVE from `failed`; `first_seen` is the expression for
    /// `FirstSeen` (kept on a re-open, reset when the ARN now names another account's resource).
    fn open_update(
        &self,
        failed: &FailedEvaluation,
        opening: Opening,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        let (first_seen, fresh) = match opening {
            Opening::InPlace => ("if_not_exists(#first, :now)", ""),
            // Another account's triage and history are not this account's: an acknowledgement
            // or an accepted risk there must not hide the finding here.
            Opening::TakeOver => (":now", ", #ack, #sup, #reopened, #reopened_at, #was"),
        };
        let builder = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(f::PK, AttributeValue::S(failed.arn.clone()))
            .key(f::SK, AttributeValue::S(failed.policy_id.clone()))
            .update_expression(format!(
                "SET #state = :active, #sev = :sev, #risk = :risk, #ev = :ev, #last = :now, \
                 #first = {first_seen}, #part = :part, #acct = :acct, \
                 #type = :type, #obs = :obs{} REMOVE #resolved{}{fresh}",
                if failed.muted.is_some() {
                    ", #muted = :muted"
                } else {
                    ""
                },
                if failed.muted.is_some() {
                    ""
                } else {
                    ", #muted"
                },
            ))
            .expression_attribute_names("#muted", f::MUTED)
            .expression_attribute_names("#state", f::STATE)
            .expression_attribute_names("#sev", f::SEVERITY)
            .expression_attribute_names("#risk", f::RISK_SCORE)
            .expression_attribute_names("#ev", f::EVIDENCE)
            .expression_attribute_names("#last", f::LAST_EVALUATED)
            .expression_attribute_names("#first", f::FIRST_SEEN)
            .expression_attribute_names("#part", f::ACCOUNT_SERVICE)
            .expression_attribute_names("#acct", f::ACCOUNT_ID)
            .expression_attribute_names("#type", f::RESOURCE_TYPE)
            .expression_attribute_names("#obs", f::OBSERVED_AT)
            .expression_attribute_names("#resolved", f::RESOLVED_AT)
            .expression_attribute_values(":active", state_value(FindingState::Active))
            .expression_attribute_values(":sev", AttributeValue::S(failed.severity.as_str().into()))
            .expression_attribute_values(":risk", item::risk_score_to_attr(failed.risk_score))
            .expression_attribute_values(":ev", item::to_attr(&failed.evidence))
            .expression_attribute_values(":now", AttributeValue::S(timestamp(failed.evaluated_at)))
            .expression_attribute_values(":part", AttributeValue::S(failed.account_service.clone()))
            .expression_attribute_values(":acct", AttributeValue::S(failed.account_id.clone()))
            .expression_attribute_values(":type", AttributeValue::S(failed.resource_type.clone()))
            .expression_attribute_values(":obs", AttributeValue::S(timestamp(failed.observed_at)));
        let builder = match opening {
            Opening::InPlace => builder,
            Opening::TakeOver => builder
                .expression_attribute_names("#ack", f::ACKNOWLEDGED)
                .expression_attribute_names("#sup", f::SUPPRESSED)
                .expression_attribute_names("#reopened", f::REOPENED)
                .expression_attribute_names("#reopened_at", f::REOPENED_AT)
                .expression_attribute_names("#was", f::LAST_RESOLVED_AT),
        };
        match &failed.muted {
            Some(rule) => {
                builder.expression_attribute_values(":muted", item::rule_match_to_attr(rule))
            }
            None => builder,
        }
    }

    /// A resolved finding of this account failed again (the open above re-activated it): count
    /// the re-opening, keep the resolution it ended, and clear the acknowledgement of the
    /// earlier occurrence. Only while the finding is still the one this evaluation wrote.
    async fn record_reopening(
        &self,
        failed: &FailedEvaluation,
        resolved_at: Option<AttributeValue>,
    ) -> Result<(), StoreError> {
        let mut set = "#n = if_not_exists(#n, :zero) + :one, #at = :now".to_owned();
        if resolved_at.is_some() {
            set.push_str(", #was = :was");
        }
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(f::PK, AttributeValue::S(failed.arn.clone()))
            .key(f::SK, AttributeValue::S(failed.policy_id.clone()))
            .update_expression(format!("SET {set} REMOVE #ack"))
            .condition_expression("#state = :active AND #last = :now")
            .expression_attribute_names("#n", f::REOPENED)
            .expression_attribute_names("#at", f::REOPENED_AT)
            .expression_attribute_names("#ack", f::ACKNOWLEDGED)
            .expression_attribute_names("#state", f::STATE)
            .expression_attribute_names("#last", f::LAST_EVALUATED)
            .expression_attribute_values(":zero", AttributeValue::N("0".into()))
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":now", AttributeValue::S(timestamp(failed.evaluated_at)))
            .expression_attribute_values(":active", state_value(FindingState::Active));
        if let Some(was) = resolved_at {
            request = request
                .expression_attribute_names("#was", f::LAST_RESOLVED_AT)
                .expression_attribute_values(":was", was);
        }
        let result = request.send().await;
        // A condition failure: a later write already moved the finding on; it keeps its own.
        conditional_write(&self.table, "UpdateItem", result).map(|_| ())
    }

    /// Sets or removes one operator's note on an existing finding; false when there is none.
    async fn set_note(
        &self,
        arn: &str,
        policy_id: &str,
        attribute: &'static str,
        value: Option<AttributeValue>,
    ) -> Result<bool, StoreError> {
        let request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(f::PK, AttributeValue::S(arn.to_owned()))
            .key(f::SK, AttributeValue::S(policy_id.to_owned()))
            .condition_expression("attribute_exists(#state)")
            .expression_attribute_names("#state", f::STATE)
            .expression_attribute_names("#note", attribute);
        let request = match value {
            Some(v) => request
                .update_expression("SET #note = :note")
                .expression_attribute_values(":note", v),
            None => request.update_expression("REMOVE #note"),
        };
        conditional_write(&self.table, "UpdateItem", request.send().await)
    }

    /// The stored (state, account) of one finding, read consistently.
    async fn state_and_account(
        &self,
        arn: &str,
        policy_id: &str,
    ) -> Result<Option<(String, String)>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(f::PK, AttributeValue::S(arn.to_owned()))
            .key(f::SK, AttributeValue::S(policy_id.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| store_error(&self.table, "GetItem", &e))?;
        let text = |item: &Item, name: &str| {
            item.get(name)
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_default()
        };
        Ok(out
            .item
            .map(|i| (text(&i, f::STATE), text(&i, f::ACCOUNT_ID))))
    }
}

#[async_trait]
impl FindingStore for DynamoFindings {
    async fn active_in_partition(&self, partition: &str) -> Result<Vec<Finding>, StoreError> {
        let mut pages = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(f::BY_PARTITION_STATE)
            .key_condition_expression("#pk = :pk AND #state = :active")
            .expression_attribute_names("#pk", f::ACCOUNT_SERVICE)
            .expression_attribute_names("#state", f::STATE)
            .expression_attribute_values(":pk", AttributeValue::S(partition.to_owned()))
            .expression_attribute_values(":active", state_value(FindingState::Active))
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| store_error(&self.table, "Query", &e))?;
            out.extend(self.parse_all(page.items())?);
        }
        Ok(out)
    }

    async fn for_resource(&self, arn: &str) -> Result<Vec<Finding>, StoreError> {
        let mut pages = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", f::PK)
            .expression_attribute_values(":pk", AttributeValue::S(arn.to_owned()))
            .consistent_read(true)
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| store_error(&self.table, "Query", &e))?;
            out.extend(self.parse_all(page.items())?);
        }
        Ok(out)
    }

    async fn open(&self, failed: &FailedEvaluation) -> Result<OpenOutcome, StoreError> {
        let result = self
            .open_update(failed, Opening::InPlace)
            .condition_expression(OPEN_IN_PLACE)
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        match result {
            Ok(out) => {
                let old_state = out
                    .attributes
                    .as_ref()
                    .and_then(|old| old.get(f::STATE))
                    .and_then(|v| v.as_s().ok())
                    .and_then(|s| s.parse::<FindingState>().ok());
                if let (Some(FindingState::Resolved), Some(old)) =
                    (old_state, out.attributes.as_ref())
                {
                    let resolved_at = old.get(f::RESOLVED_AT).cloned();
                    self.record_reopening(failed, resolved_at).await?;
                    return Ok(reopened_from(old));
                }
                return Ok(if old_state == Some(FindingState::Active) {
                    OpenOutcome::StillActive
                } else {
                    OpenOutcome::Opened
                });
            }
            Err(e) if is_conditional_failure(&e) => {}
            Err(e) => return Err(store_error(&self.table, "UpdateItem", &e)),
        }
        // Refused: a newer evaluation in this account, or a finding of another account.
        let Some((state, account)) = self
            .state_and_account(&failed.arn, &failed.policy_id)
            .await?
        else {
            return Ok(OpenOutcome::Stale);
        };
        if account == failed.account_id {
            return Ok(OpenOutcome::Stale);
        }
        if state.parse() == Ok(FindingState::Active) {
            return Ok(OpenOutcome::OtherAccount);
        }
        // RESOLVED in another account: this account's resource now has the ARN.
        let result = self
            .open_update(failed, Opening::TakeOver)
            .condition_expression("#state = :resolved AND #acct = :old")
            .expression_attribute_values(":resolved", state_value(FindingState::Resolved))
            .expression_attribute_values(":old", AttributeValue::S(account))
            .send()
            .await;
        Ok(
            match conditional_write(&self.table, "UpdateItem", result)? {
                true => OpenOutcome::Opened,
                // Changed meanwhile; the next evaluation settles it.
                false => OpenOutcome::Stale,
            },
        )
    }

    async fn acknowledge(
        &self,
        arn: &str,
        policy_id: &str,
        acknowledgement: &crate::model::Acknowledgement,
    ) -> Result<bool, StoreError> {
        let note = item::acknowledgement_to_attr(acknowledgement);
        self.set_note(arn, policy_id, f::ACKNOWLEDGED, Some(note))
            .await
    }

    async fn suppress(
        &self,
        arn: &str,
        policy_id: &str,
        suppression: Option<&crate::model::Suppression>,
    ) -> Result<bool, StoreError> {
        let note = suppression.map(item::suppression_to_attr);
        self.set_note(arn, policy_id, f::SUPPRESSED, note).await
    }

    async fn resolve(
        &self,
        arn: &str,
        policy_id: &str,
        account_id: &str,
        at: DateTime<Utc>,
        basis: Resolution,
    ) -> Result<bool, StoreError> {
        let request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(f::PK, AttributeValue::S(arn.to_owned()))
            .key(f::SK, AttributeValue::S(policy_id.to_owned()))
            .expression_attribute_names("#state", f::STATE)
            .expression_attribute_names("#acct", f::ACCOUNT_ID)
            .expression_attribute_names("#resolved", f::RESOLVED_AT)
            .expression_attribute_names("#last", f::LAST_EVALUATED)
            .expression_attribute_names("#obs", f::OBSERVED_AT)
            .expression_attribute_values(":resolved", state_value(FindingState::Resolved))
            .expression_attribute_values(":active", state_value(FindingState::Active))
            .expression_attribute_values(":acct", AttributeValue::S(account_id.to_owned()))
            .expression_attribute_values(":now", AttributeValue::S(timestamp(at)));
        let owned = "#state = :active AND #acct = :acct";
        let request = match basis {
            Resolution::Passes { observed_at } => request
                .update_expression(
                    "SET #state = :resolved, #resolved = :now, #last = :now, #obs = :obs",
                )
                .condition_expression(format!("{owned} AND {NEWER_GUARD}"))
                .expression_attribute_values(":obs", AttributeValue::S(timestamp(observed_at))),
            Resolution::Gone { checked_at } => request
                .update_expression("SET #state = :resolved, #resolved = :now, #last = :now")
                .condition_expression(format!(
                    "{owned} AND (attribute_not_exists(#obs) OR #obs < :checked)"
                ))
                .expression_attribute_values(":checked", AttributeValue::S(timestamp(checked_at))),
        };
        conditional_write(&self.table, "UpdateItem", request.send().await)
    }

    async fn page_all(&self, cursor: Option<String>) -> Result<Page<Finding>, StoreError> {
        let out = self
            .client
            .scan()
            .table_name(&self.table)
            .set_exclusive_start_key(decode_cursor(cursor))
            .send()
            .await
            .map_err(|e| store_error(&self.table, "Scan", &e))?;
        Ok(Page {
            items: self.parse_all(out.items())?,
            next: encode_cursor(out.last_evaluated_key.as_ref()),
        })
    }
}

/// The policies table.
pub struct DynamoPolicies {
    client: Client,
    table: String,
}

impl DynamoPolicies {
    pub fn new(client: Client, table: &str) -> Self {
        Self {
            client,
            table: table.to_owned(),
        }
    }
}

#[async_trait]
impl PolicyStore for DynamoPolicies {
    async fn settings(&self) -> Result<super::PolicySettings, StoreError> {
        let rows = scan_all(&self.client, &self.table, |i| Ok(item::policy_row(i))).await?;
        let mut out = super::PolicySettings::default();
        for row in rows {
            match row {
                item::PolicyRow::Setting {
                    id,
                    setting,
                    problems,
                } => {
                    out.bad_rows.extend(problems);
                    out.settings.insert(id, setting);
                }
                item::PolicyRow::Unidentified(problem) => out.bad_rows.push(problem),
            }
        }
        Ok(out)
    }

    async fn put_setting(
        &self,
        policy_id: &str,
        setting: &PolicySetting,
    ) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item::setting_to_item(policy_id, setting)))
            .send()
            .await
            .map_err(|e| store_error(&self.table, "PutItem", &e))?;
        Ok(())
    }
}

/// The accounts table.
pub struct DynamoAccounts {
    client: Client,
    table: String,
}

impl DynamoAccounts {
    pub fn new(client: Client, table: &str) -> Self {
        Self {
            client,
            table: table.to_owned(),
        }
    }
}

#[async_trait]
impl AccountStore for DynamoAccounts {
    async fn list(&self) -> Result<Vec<Account>, StoreError> {
        let mut out = scan_all(&self.client, &self.table, item::account_from_item).await?;
        out.sort_by(|x, y| x.account_id.cmp(&y.account_id));
        Ok(out)
    }

    async fn get(&self, account_id: &str) -> Result<Option<Account>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(a::PK, AttributeValue::S(account_id.to_owned()))
            .send()
            .await
            .map_err(|e| store_error(&self.table, "GetItem", &e))?;
        out.item
            .map(|i| item::account_from_item(&i).map_err(|e| corrupt(&self.table, &i, e)))
            .transpose()
    }

    async fn put(&self, account: &Account) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item::account_to_item(account)))
            .send()
            .await
            .map_err(|e| store_error(&self.table, "PutItem", &e))?;
        Ok(())
    }
}

pub struct DynamoCompliance {
    client: Client,
    table: String,
}

impl DynamoCompliance {
    pub fn new(client: Client, table: &str) -> Self {
        Self {
            client,
            table: table.to_owned(),
        }
    }
}

#[async_trait]
impl ComplianceStore for DynamoCompliance {
    async fn put(&self, summary: &crate::compliance::Summary) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item::summary_to_item(summary)))
            .send()
            .await
            .map_err(|e| store_error(&self.table, "PutItem", &e))?;
        Ok(())
    }

    async fn history(
        &self,
        account_id: &str,
        framework: &str,
        since: chrono::NaiveDate,
    ) -> Result<Vec<crate::compliance::Summary>, StoreError> {
        use super::schema::compliance as c;
        let mut out = Vec::new();
        let mut pages = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk AND #day >= :since")
            .expression_attribute_names("#pk", c::PK)
            .expression_attribute_names("#day", c::SK)
            .expression_attribute_values(":pk", AttributeValue::S(c::key(account_id, framework)))
            .expression_attribute_values(":since", AttributeValue::S(since.to_string()))
            .into_paginator()
            .items()
            .send();
        while let Some(found) = pages.next().await {
            let found = found.map_err(|e| store_error(&self.table, "Query", &e))?;
            out.push(
                item::summary_from_item(&found).map_err(|e| StoreError::Corrupt {
                    table: self.table.clone(),
                    key: c::key(account_id, framework),
                    message: e.to_string(),
                })?,
            );
        }
        Ok(out)
    }
}

/// Creates every qrie table (on-demand) that does not exist yet; used by the demo and tests.
/// In AWS the CDK app creates them.
pub async fn create_tables(
    client: &Client,
    names: &crate::config::TableNames,
) -> Result<(), StoreError> {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
        Projection, ProjectionType, ScalarAttributeType,
    };
    let name_of = |logical: &str| match logical {
        "resources" => names.resources.clone(),
        "findings" => names.findings.clone(),
        "policies" => names.policies.clone(),
        "scan_jobs" => names.scan_jobs.clone(),
        "object_findings" => names.object_findings.clone(),
        "compliance" => names.compliance.clone(),
        _ => names.accounts.clone(),
    };
    let key = |name: &str, kind: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
    };
    let build_err = |table: &str, e: aws_sdk_dynamodb::error::BuildError| StoreError::Backend {
        table: table.to_owned(),
        operation: "CreateTable",
        message: e.to_string(),
    };
    for spec in super::schema::tables() {
        let table = name_of(spec.logical);
        let mut attrs = vec![spec.partition_key];
        attrs.extend(spec.sort_key);
        for index in &spec.indexes {
            attrs.push(index.partition_key);
            attrs.extend(index.sort_key);
        }
        attrs.sort_by_key(|k| k.name);
        attrs.dedup_by_key(|k| k.name);
        let mut req = client
            .create_table()
            .table_name(&table)
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(
                key(spec.partition_key.name, KeyType::Hash).map_err(|e| build_err(&table, e))?,
            );
        if let Some(sk) = spec.sort_key {
            req = req.key_schema(key(sk.name, KeyType::Range).map_err(|e| build_err(&table, e))?);
        }
        for attr in attrs {
            req = req.attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(attr.name)
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .map_err(|e| build_err(&table, e))?,
            );
        }
        for index in &spec.indexes {
            let mut gsi = GlobalSecondaryIndex::builder()
                .index_name(index.name)
                .key_schema(
                    key(index.partition_key.name, KeyType::Hash)
                        .map_err(|e| build_err(&table, e))?,
                )
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                );
            if let Some(sk) = index.sort_key {
                gsi =
                    gsi.key_schema(key(sk.name, KeyType::Range).map_err(|e| build_err(&table, e))?);
            }
            req = req.global_secondary_indexes(gsi.build().map_err(|e| build_err(&table, e))?);
        }
        match req.send().await {
            Ok(_) => {}
            Err(e) if e.code() == Some("ResourceInUseException") => {}
            Err(e) => return Err(store_error(&table, "CreateTable", &e)),
        }
    }
    Ok(())
}
