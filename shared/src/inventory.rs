//! The inventory run: collect every requested service of every onboarded account into the
//! resources table, and remove what a complete run no longer sees.
//!
//! Accounts are processed concurrently with a bound; within an account, a collector streams
//! resources into a channel and a writer stores them in batches as they arrive, so memory stays
//! flat whatever the account's size. A resource that could not be read is reported and left as
//! stored; resources missing from a *complete* listing are removed (only if they were last seen
//! before this run started, so a concurrent real-time refresh is never undone).
//!
//! A resource stored with parts its collector could not read (its configuration's `Unreadable`
//! list) is counted as `partial`; the failed call is in `errors`. Requests that would do
//! nothing are refused: a single service that has no collector yet, an account that is not
//! onboarded. An account whose `Regions` names something that is not an AWS region has that
//! entry reported in `errors` (and `invalid_regions`); its valid regions still run.

use std::collections::{BTreeMap, HashSet};
use std::time::Instant;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tracing::{info, info_span, warn, Instrument};

use crate::collect::{self, AccountSession, Collected, CollectionError};
use crate::config::Config;
use crate::model::{is_region_name, partition_key, Account, Resource, Service, UNREADABLE};
use crate::store::{ResourceStore, Stores};

/// Accounts inventoried at once.
const ACCOUNT_CONCURRENCY: usize = 4;
/// Resources per write batch (DynamoDB's BatchWriteItem maximum).
const WRITE_BATCH: usize = 25;

/// The invocation payload: `{"service": "all"}`, `{"service": "s3"}`,
/// `{"service": "s3", "account_id": "123456789012"}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct InventoryRequest {
    #[serde(default = "all")]
    pub service: String,
    #[serde(default)]
    pub account_id: Option<String>,
}

fn all() -> String {
    "all".to_owned()
}

/// A request that cannot be run at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("{0}")]
    UnknownService(#[from] crate::model::UnknownService),
    #[error("{0}: nothing to inventory")]
    Unsupported(#[from] collect::Unsupported),
    #[error("account {0} is not onboarded (not in the accounts table)")]
    UnknownAccount(String),
    #[error("account {0} is onboarded but disabled")]
    DisabledAccount(String),
    #[error("reading the accounts table failed: {0}")]
    Accounts(String),
}

/// Per service and account: what was stored, removed, and where.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ServiceSummary {
    pub resources: usize,
    pub by_region: BTreeMap<String, usize>,
    pub removed: usize,
    pub failed: usize,
    /// Of `resources`, those stored with parts that could not be read (listed in their
    /// configuration's `Unreadable`; the policies reading those parts are not evaluated).
    pub partial: usize,
    /// False when the listing did not finish (nothing was removed then).
    pub complete: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AccountSummary {
    pub account_id: String,
    pub services: BTreeMap<String, ServiceSummary>,
    /// Entries of the account's `Regions` that are not AWS region names (made safe to print);
    /// skipped, and reported in the run's errors.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub invalid_regions: Vec<String>,
}

/// What an inventory run returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InventorySummary {
    pub started_at: DateTime<Utc>,
    pub duration_ms: u128,
    pub accounts: Vec<AccountSummary>,
    pub resources: usize,
    pub removed: usize,
    pub errors: Vec<String>,
    /// Services requested that have no collector yet.
    pub unsupported: Vec<String>,
}

/// Everything a run needs.
pub struct Inventory<'a> {
    pub config: &'a Config,
    pub base_sdk: &'a aws_config::SdkConfig,
    pub stores: &'a Stores,
}

impl Inventory<'_> {
    pub async fn run(&self, request: &InventoryRequest) -> Result<InventorySummary, RequestError> {
        let started = Instant::now();
        let started_at = Utc::now();
        let services: Vec<Service> = if request.service.eq_ignore_ascii_case("all") {
            Service::ALL.to_vec()
        } else {
            vec![request.service.parse::<Service>()?]
        };
        let (supported, unsupported): (Vec<Service>, Vec<Service>) = services
            .into_iter()
            .partition(|s| collect::is_supported(*s));
        if supported.is_empty() {
            let names: Vec<String> = unsupported.iter().map(|s| s.to_string()).collect();
            return Err(collect::Unsupported(format!("service {}", names.join(", "))).into());
        }
        let accounts = self.accounts(request.account_id.as_deref()).await?;
        info!(
            accounts = accounts.len(),
            services = ?supported,
            "inventory run starting"
        );
        let results: Vec<(AccountSummary, Vec<String>)> = futures::stream::iter(accounts)
            .map(|account| {
                let span = info_span!("account", account = %account.account_id);
                self.account(account, &supported, started_at)
                    .instrument(span)
            })
            .buffer_unordered(ACCOUNT_CONCURRENCY)
            .collect()
            .await;
        let mut summary = InventorySummary {
            started_at,
            duration_ms: 0,
            accounts: Vec::new(),
            resources: 0,
            removed: 0,
            errors: Vec::new(),
            unsupported: unsupported.iter().map(|s| s.to_string()).collect(),
        };
        for (account, errors) in results {
            for s in account.services.values() {
                summary.resources += s.resources;
                summary.removed += s.removed;
            }
            summary.accounts.push(account);
            summary.errors.extend(errors);
        }
        summary
            .accounts
            .sort_by(|a, b| a.account_id.cmp(&b.account_id));
        summary.duration_ms = started.elapsed().as_millis();
        info!(
            resources = summary.resources,
            removed = summary.removed,
            errors = summary.errors.len(),
            duration_ms = summary.duration_ms as u64,
            "inventory run finished"
        );
        Ok(summary)
    }

    async fn accounts(&self, only: Option<&str>) -> Result<Vec<Account>, RequestError> {
        match only {
            Some(id) => match self.stores.accounts.get(id).await {
                Ok(Some(a)) if a.enabled => Ok(vec![a]),
                Ok(Some(_)) => Err(RequestError::DisabledAccount(id.to_owned())),
                Ok(None) => Err(RequestError::UnknownAccount(id.to_owned())),
                Err(e) => Err(RequestError::Accounts(e.to_string())),
            },
            None => Ok(self
                .stores
                .accounts
                .list()
                .await
                .map_err(|e| RequestError::Accounts(e.to_string()))?
                .into_iter()
                .filter(|a| a.enabled)
                .collect()),
        }
    }

    async fn account(
        &self,
        account: Account,
        services: &[Service],
        run_started: DateTime<Utc>,
    ) -> (AccountSummary, Vec<String>) {
        let mut summary = AccountSummary {
            account_id: account.account_id.clone(),
            services: BTreeMap::new(),
            invalid_regions: account
                .regions
                .iter()
                .filter(|r| !is_region_name(r))
                .map(|r| crate::store::loggable(r))
                .collect(),
        };
        let mut errors: Vec<String> = summary
            .invalid_regions
            .iter()
            .map(|r| {
                format!(
                    "account {}: Regions names {r}, which is not an AWS region; it is skipped",
                    account.account_id
                )
            })
            .collect();
        if !errors.is_empty() {
            warn!(invalid_regions = ?summary.invalid_regions, "account lists invalid regions");
        }
        let session =
            match collect::open_session(self.config, self.base_sdk, &account, "qrie-inventory")
                .await
            {
                Ok(s) => s,
                Err(e) => {
                    warn!(error = %e, code = e.code(), "cannot reach account");
                    errors.push(e.to_string());
                    return (summary, errors);
                }
            };
        for &service in services {
            let span = info_span!("service", service = %service);
            let (service_summary, service_errors) = self
                .service(&session, service, run_started)
                .instrument(span)
                .await;
            summary
                .services
                .insert(service.to_string(), service_summary);
            errors.extend(service_errors);
        }
        (summary, errors)
    }

    async fn service(
        &self,
        session: &AccountSession,
        service: Service,
        run_started: DateTime<Utc>,
    ) -> (ServiceSummary, Vec<String>) {
        let (tx, mut rx) = mpsc::channel::<Collected>(WRITE_BATCH * 4);
        let store = self.stores.resources.as_ref();
        let writer = async {
            let mut summary = ServiceSummary::default();
            let mut errors = Vec::new();
            let mut seen = HashSet::new();
            let mut batch: Vec<Resource> = Vec::with_capacity(WRITE_BATCH);
            while let Some(item) = rx.recv().await {
                match item {
                    Collected::Resource(resource) => {
                        seen.insert(resource.arn.clone());
                        if resource
                            .configuration
                            .get(UNREADABLE)
                            .is_some_and(|v| !v.is_null())
                        {
                            summary.partial += 1;
                        }
                        *summary
                            .by_region
                            .entry(resource.region.clone())
                            .or_default() += 1;
                        batch.push(*resource);
                        if batch.len() == WRITE_BATCH {
                            flush(store, &mut batch, &mut summary, &mut errors).await;
                        }
                    }
                    Collected::Failed { arn, error } => {
                        seen.insert(arn);
                        summary.failed += 1;
                        errors.push(error.to_string());
                    }
                }
            }
            flush(store, &mut batch, &mut summary, &mut errors).await;
            (summary, errors, seen)
        };
        let collector = async move {
            let result = collect::collect_service(service, session, &tx).await;
            drop(tx);
            result
        };
        let (collected, (mut summary, mut errors, seen)) = tokio::join!(collector, writer);
        match collected {
            Ok(Ok(())) => {
                summary.complete = true;
                let partition = partition_key(&session.account.account_id, service);
                match sweep(store, &partition, &seen, run_started).await {
                    Ok(removed) => summary.removed = removed,
                    Err(e) => errors.push(format!("removing unseen {partition} resources: {e}")),
                }
            }
            Ok(Err(listing)) => errors.push(listing_error(listing)),
            Err(unsupported) => errors.push(unsupported.to_string()),
        }
        info!(
            resources = summary.resources,
            removed = summary.removed,
            failed = summary.failed,
            partial = summary.partial,
            complete = summary.complete,
            "service inventoried"
        );
        (summary, errors)
    }
}

fn listing_error(e: CollectionError) -> String {
    format!("{e} (listing incomplete: nothing was removed)")
}

async fn flush(
    store: &dyn ResourceStore,
    batch: &mut Vec<Resource>,
    summary: &mut ServiceSummary,
    errors: &mut Vec<String>,
) {
    if batch.is_empty() {
        return;
    }
    match store.put_batch(batch).await {
        Ok(()) => summary.resources += batch.len(),
        Err(e) => {
            summary.failed += batch.len();
            errors.push(format!("writing {} resources: {e}", batch.len()));
        }
    }
    batch.clear();
}

/// Removes resources of a completely listed partition that this run did not see.
async fn sweep(
    store: &dyn ResourceStore,
    partition: &str,
    seen: &HashSet<String>,
    run_started: DateTime<Utc>,
) -> Result<usize, crate::store::StoreError> {
    let mut removed = 0;
    for (arn, _) in store
        .seen_times(partition)
        .await?
        .into_iter()
        .filter(|(arn, last_seen)| !seen.contains(arn) && *last_seen < run_started)
    {
        if store.delete_if_older(partition, &arn, run_started).await? {
            info!(%arn, "removed: no longer exists");
            removed += 1;
        }
    }
    Ok(removed)
}
