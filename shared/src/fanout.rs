//! The fanned-out inventory: a request (`{"service": "all"}`, the weekly schedule, ...) plans a
//! **run** of units, one per (account, service, region) for regional services and per
//! (account, service) for global ones (S3, IAM), and sends them to the inventory work queue
//! (`QRIE_INVENTORY_QUEUE_URL`); the same function consumes that queue, a unit per message,
//! with partial batch failures. Without a queue configured, the inventory runs in-process
//! ([`crate::inventory::Inventory::run`]: tests, the demo).
//!
//! The run is an item of the scan-jobs table (see [`crate::store::object_scan::DynamoScanJobs::create_run`]):
//! each unit's end moves its counts (`Done` or `Failed`, `Written`, `Removed`) with a
//! `DONE#<unit>` marker in one transaction, so a redelivered unit is counted once. A unit that
//! fails is counted `Failed` when it can never succeed (poison: an account no longer onboarded)
//! or on the queue's last receive ([`MAX_RECEIVES`]); it still fails, so SQS dead-letters it.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsMessage};
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tracing::{field, info};

use crate::inventory::{Inventory, InventoryRequest, RequestError, UnitError};
use crate::model::{is_region_name, Account, Service};
use crate::sqs_batch::{self, MessageFailure, MissingBody};
use crate::store::object_scan::DynamoScanJobs;
use crate::store::StoreError;

/// The inventory work queue; unset, the inventory runs in-process.
pub const QUEUE_URL_ENV: &str = "QRIE_INVENTORY_QUEUE_URL";
/// The work queue's `maxReceiveCount` (the CDK's), the receive on which a failing unit is
/// counted failed before SQS dead-letters it.
pub const MAX_RECEIVES: u32 = 3;
/// Units handled at once by one worker invocation (one account's API limits are protected
/// by the function's reserved concurrency times this).
pub const UNIT_CONCURRENCY: usize = 4;

/// Services listed once per account (their API is global, or one listing covers every
/// region, as S3's ListBuckets does).
pub fn is_global(service: Service) -> bool {
    matches!(service, Service::S3 | Service::Iam)
}

/// One unit of work: a message of the inventory queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Unit {
    pub run_id: String,
    pub account_id: String,
    pub service: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// When the run started: the unit removes only resources last seen before it.
    pub run_started: DateTime<Utc>,
}

impl Unit {
    /// The unit's marker name in its run: `<account>#<service>#<region or global>`.
    pub fn id(&self) -> String {
        format!(
            "{}#{}#{}",
            self.account_id,
            self.service,
            self.region.as_deref().unwrap_or("global")
        )
    }
}

/// A run and its counts (`{"action": "status", "run_id": ...}` answers this).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Run {
    pub run_id: String,
    /// The request that planned it, as JSON.
    pub request: String,
    pub started_at: String,
    pub queued: u64,
    pub done: u64,
    pub failed: u64,
    pub written: u64,
    pub removed: u64,
}

impl Run {
    /// True when every queued unit has ended, done or failed.
    pub fn finished(&self) -> bool {
        self.done + self.failed >= self.queued
    }
}

/// How one unit ended, as counted in its run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitResult {
    pub written: u64,
    pub removed: u64,
    /// Why it failed; `None` when done.
    pub error: Option<String>,
}

/// The units of a run over `accounts` and `services`: global services once per account,
/// regional ones once per valid entry of the account's `Regions` (an account without a list,
/// or with `["all"]`, has one unit per regional service, which lists every enabled region).
pub fn plan(
    run_id: &str,
    run_started: DateTime<Utc>,
    accounts: &[Account],
    services: &[Service],
) -> Vec<Unit> {
    let mut units = Vec::new();
    for account in accounts {
        let regions: Vec<&String> = account
            .regions
            .iter()
            .filter(|r| is_region_name(r))
            .collect();
        let discover = account.regions.is_empty()
            || account
                .regions
                .iter()
                .any(|r| r.eq_ignore_ascii_case("all"));
        for &service in services {
            let unit = |region: Option<&String>| Unit {
                run_id: run_id.to_owned(),
                account_id: account.account_id.clone(),
                service: service.to_string(),
                region: region.cloned(),
                run_started,
            };
            if is_global(service) || discover {
                units.push(unit(None));
            } else {
                let mut seen = Vec::new();
                for region in &regions {
                    if !seen.contains(region) {
                        seen.push(*region);
                        units.push(unit(Some(region)));
                    }
                }
            }
        }
    }
    units
}

/// What planning a run returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunStarted {
    pub run_id: String,
    pub queued: usize,
    pub accounts: usize,
    pub unsupported: Vec<String>,
}

/// Why a run could not be planned or a unit not done.
#[derive(Debug, thiserror::Error)]
pub enum FanoutError {
    #[error(transparent)]
    Request(#[from] RequestError),
    #[error(transparent)]
    Unit(#[from] UnitError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("inventory unit message is not a unit: {0}")]
    BadMessage(String),
    #[error("sending units to the inventory queue failed: {0}")]
    Queue(String),
    #[error(transparent)]
    MissingBody(#[from] MissingBody),
    /// A listing did not finish (throttled, a timeout): nothing of its region was removed,
    /// and the unit is redelivered until the queue's last receive.
    #[error("listing incomplete: {0}")]
    Incomplete(String),
}

impl MessageFailure for FanoutError {
    fn is_retryable(&self) -> bool {
        match self {
            FanoutError::Request(e) | FanoutError::Unit(UnitError::Request(e)) => {
                matches!(e, RequestError::Accounts(_))
            }
            FanoutError::Unit(UnitError::Session(_))
            | FanoutError::Store(_)
            | FanoutError::Queue(_)
            | FanoutError::Incomplete(_) => true,
            FanoutError::BadMessage(_) | FanoutError::MissingBody(_) => false,
        }
    }
}

/// The fan-out: the inventory, the runs' store and the queue.
pub struct Fanout<'a> {
    pub inventory: Inventory<'a>,
    pub runs: DynamoScanJobs,
    pub sqs: aws_sdk_sqs::Client,
    pub queue_url: String,
}

impl Fanout<'_> {
    /// Plans a run of `request`, creates its item and queues its units.
    pub async fn start(&self, request: &InventoryRequest) -> Result<RunStarted, FanoutError> {
        let (services, unsupported) = self.inventory.services(request)?;
        let accounts = self
            .inventory
            .accounts_for(request.account_id.as_deref())
            .await?;
        let started = Utc::now();
        let run_id = format!("run-{}", uuid::Uuid::new_v4());
        let units = plan(&run_id, started, &accounts, &services);
        self.runs
            .create_run(&Run {
                run_id: run_id.clone(),
                request: serde_json::to_string(request).unwrap_or_default(),
                started_at: crate::store::timestamp(started),
                queued: units.len() as u64,
                done: 0,
                failed: 0,
                written: 0,
                removed: 0,
            })
            .await?;
        for chunk in units.chunks(10) {
            self.send(chunk).await?;
        }
        info!(run_id = %run_id, units = units.len(), accounts = accounts.len(), "inventory run queued");
        Ok(RunStarted {
            run_id,
            queued: units.len(),
            accounts: accounts.len(),
            unsupported,
        })
    }

    async fn send(&self, units: &[Unit]) -> Result<(), FanoutError> {
        let mut pending: Vec<(String, String)> = units
            .iter()
            .enumerate()
            .map(|(i, u)| (i.to_string(), serde_json::to_string(u).unwrap_or_default()))
            .collect();
        for attempt in 1..=3 {
            let entries = pending
                .iter()
                .map(|(id, body)| {
                    SendMessageBatchRequestEntry::builder()
                        .id(id)
                        .message_body(body.as_str())
                        .build()
                        .map_err(|e| FanoutError::Queue(e.to_string()))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let out = self
                .sqs
                .send_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| {
                    FanoutError::Queue(aws_sdk_sqs::error::DisplayErrorContext(e).to_string())
                })?;
            let failed: Vec<String> = out.failed().iter().map(|f| f.id().to_owned()).collect();
            if failed.is_empty() {
                return Ok(());
            }
            if attempt == 3 {
                return Err(FanoutError::Queue(format!(
                    "{} units not accepted after retries",
                    failed.len()
                )));
            }
            pending.retain(|(id, _)| failed.contains(id));
        }
        Ok(())
    }

    /// Consumes a batch of units; the response lists the messages SQS should redeliver.
    pub async fn process_batch(&self, records: &[SqsMessage]) -> SqsBatchResponse {
        let consumed = sqs_batch::consume(
            records,
            UNIT_CONCURRENCY,
            |delivery| crate::message_span!(delivery, unit = field::Empty),
            |body, delivery| async move {
                self.process_message(body, delivery.receive_count.unwrap_or(1))
                    .await
            },
        )
        .await;
        consumed.response
    }

    async fn process_message(&self, body: &str, receives: u32) -> Result<bool, FanoutError> {
        let unit: Unit =
            serde_json::from_str(body).map_err(|e| FanoutError::BadMessage(e.to_string()))?;
        tracing::Span::current().record("unit", unit.id().as_str());
        let result = match unit.service.parse::<Service>() {
            Ok(service) => self
                .inventory
                .unit(
                    &unit.account_id,
                    service,
                    unit.region.as_deref(),
                    unit.run_started,
                )
                .await
                .map_err(FanoutError::from),
            Err(e) => Err(FanoutError::Request(e.into())),
        };
        let result = result.and_then(|(summary, errors)| {
            if summary.complete {
                Ok((summary, errors))
            } else {
                Err(FanoutError::Incomplete(errors.join("; ")))
            }
        });
        match result {
            Ok((summary, errors)) => {
                let outcome = UnitResult {
                    written: summary.resources as u64,
                    removed: summary.removed as u64,
                    error: None,
                };
                info!(
                    resources = summary.resources,
                    removed = summary.removed,
                    errors = errors.len(),
                    "unit done"
                );
                Ok(self
                    .runs
                    .finish_run_unit(&unit.run_id, &unit.id(), &outcome)
                    .await?)
            }
            Err(e) => {
                if !e.is_retryable() || receives >= MAX_RECEIVES {
                    let outcome = UnitResult {
                        written: 0,
                        removed: 0,
                        error: Some(e.to_string()),
                    };
                    self.runs
                        .finish_run_unit(&unit.run_id, &unit.id(), &outcome)
                        .await?;
                }
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(id: &str, regions: &[&str]) -> Account {
        Account {
            account_id: id.to_owned(),
            role_arn: format!("arn:aws:iam::{id}:role/QrieScannerRole"),
            external_id: None,
            regions: regions.iter().map(|r| (*r).to_owned()).collect(),
            enabled: true,
            name: None,
        }
    }

    /// (account, service, region) of each unit, in order.
    fn shape(units: &[Unit]) -> Vec<(String, String, Option<String>)> {
        units
            .iter()
            .map(|u| (u.account_id.clone(), u.service.clone(), u.region.clone()))
            .collect()
    }

    #[test]
    fn global_services_get_one_unit_and_regional_ones_one_per_distinct_valid_region() {
        let started = Utc::now();
        let accounts = [
            account(
                "111111111111",
                &["us-east-1", "eu-west-1", "us-east-1", "us-eats-1"],
            ),
            account("222222222222", &["all"]),
            account("333333333333", &[]),
        ];
        let units = plan(
            "run-1",
            started,
            &accounts,
            &[Service::S3, Service::Kms, Service::Iam],
        );
        let s = |v: &str| v.to_owned();
        let r = |v: &str| Some(v.to_owned());
        assert_eq!(
            shape(&units),
            vec![
                (s("111111111111"), s("s3"), None),
                (s("111111111111"), s("kms"), r("us-east-1")),
                (s("111111111111"), s("kms"), r("eu-west-1")),
                (s("111111111111"), s("iam"), None),
                // every enabled region, discovered by the unit itself
                (s("222222222222"), s("s3"), None),
                (s("222222222222"), s("kms"), None),
                (s("222222222222"), s("iam"), None),
                (s("333333333333"), s("s3"), None),
                (s("333333333333"), s("kms"), None),
                (s("333333333333"), s("iam"), None),
            ]
        );
        assert!(units
            .iter()
            .all(|u| u.run_id == "run-1" && u.run_started == started));
        // each unit has its own marker in the run
        let ids: std::collections::BTreeSet<String> = units.iter().map(Unit::id).collect();
        assert_eq!(ids.len(), units.len());
    }

    #[test]
    fn an_account_with_only_invalid_regions_plans_no_regional_unit() {
        let units = plan(
            "run-2",
            Utc::now(),
            &[account("444444444444", &["nowhere"])],
            &[Service::Kms, Service::S3],
        );
        assert_eq!(
            shape(&units),
            vec![("444444444444".to_owned(), "s3".to_owned(), None)]
        );
    }
}
