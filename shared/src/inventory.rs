//! The inventory run: collect every requested service of every onboarded account into the
//! resources table, and remove what a complete run no longer sees.
//!
//! Accounts are processed concurrently with a bound; within an account, a collector streams
//! resources into a channel and a writer stores them in batches as they arrive, so memory stays
//! flat whatever the account's size. A resource that could not be read is reported and left as
//! stored; resources missing from a *complete* listing are removed (only if they were last seen
//! before this run started, so a concurrent real-time refresh is never undone).
//!
//! Completeness is decided per (account, service, region): the collector says which regions it
//! listed to the end ([`Completeness`]), and a stored resource this run did not see is removed
//! only if its region is one of them. A region whose listing failed keeps what it had (counted
//! as `kept` in its [`RegionSummary`], with the `listing_error`) while the other regions are
//! swept as usual. For S3 the units are the buckets' regions from one global ListBuckets: a
//! failed ListBuckets leaves every region incomplete; a bucket whose GetBucketLocation fails is
//! a failed resource, left as stored.
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

use crate::collect::{self, AccountSession, Collected, Completeness, ListingFailure};
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
    /// Resources collected per region.
    pub by_region: BTreeMap<String, usize>,
    /// Per region: stored, removed, failed, kept, and whether its listing was complete. A region
    /// whose listing failed is here with `complete: false` and its `listing_error`.
    pub regions: BTreeMap<String, RegionSummary>,
    pub removed: usize,
    pub failed: usize,
    /// Of `resources`, those stored with parts that could not be read (listed in their
    /// configuration's `Unreadable`; the policies reading those parts are not evaluated).
    pub partial: usize,
    /// False when any listing did not finish (nothing of its regions was removed then).
    pub complete: bool,
}

/// Per region of a service in an account. Removal is decided per region: a resource not seen
/// is removed only if its region's listing was complete.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RegionSummary {
    /// Resources stored.
    pub resources: usize,
    /// Stored resources removed: this region's complete listing no longer has them.
    pub removed: usize,
    /// Resources that could not be read (left as stored).
    pub failed: usize,
    /// Stored resources not seen but kept, because this region's listing did not finish.
    pub kept: usize,
    /// False when this region's listing did not finish (nothing of it was removed).
    pub complete: bool,
    /// Why it did not finish.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listing_error: Option<String>,
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
        let (supported, unsupported) = self.services(request)?;
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
            unsupported,
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

    /// The services `request` names that have a collector, and the names of those that do
    /// not; refused when none has one.
    pub fn services(
        &self,
        request: &InventoryRequest,
    ) -> Result<(Vec<Service>, Vec<String>), RequestError> {
        let services: Vec<Service> = if request.service.eq_ignore_ascii_case("all") {
            Service::ALL.to_vec()
        } else {
            vec![request.service.parse::<Service>()?]
        };
        let (supported, unsupported): (Vec<Service>, Vec<Service>) = services
            .into_iter()
            .partition(|s| collect::is_supported(*s));
        let unsupported: Vec<String> = unsupported.iter().map(|s| s.to_string()).collect();
        if supported.is_empty() {
            return Err(collect::Unsupported(format!("service {}", unsupported.join(", "))).into());
        }
        Ok((supported, unsupported))
    }

    /// The enabled accounts a request covers: `only`, refused when it is not onboarded or is
    /// disabled, or every enabled account.
    pub async fn accounts_for(&self, only: Option<&str>) -> Result<Vec<Account>, RequestError> {
        self.accounts(only).await
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
            let mut tally = Tally::default();
            let mut batch: Vec<Resource> = Vec::with_capacity(WRITE_BATCH);
            while let Some(item) = rx.recv().await {
                match item {
                    Collected::Resource(resource) => {
                        tally.seen.insert(resource.arn.clone());
                        if resource
                            .configuration
                            .get(UNREADABLE)
                            .is_some_and(|v| !v.is_null())
                        {
                            tally.summary.partial += 1;
                        }
                        *tally
                            .summary
                            .by_region
                            .entry(resource.region.clone())
                            .or_default() += 1;
                        batch.push(*resource);
                        if batch.len() == WRITE_BATCH {
                            flush(store, &mut batch, &mut tally).await;
                        }
                    }
                    Collected::Failed { arn, error } => {
                        tally.seen.insert(arn.clone());
                        tally.summary.failed += 1;
                        match &error.region {
                            Some(region) => tally.region(region).failed += 1,
                            // Counted under its stored region, if it is stored (see `conclude`).
                            None => {
                                tally.unlocated.insert(arn);
                            }
                        }
                        tally.errors.push(error.to_string());
                    }
                }
            }
            flush(store, &mut batch, &mut tally).await;
            tally
        };
        let collector = async move {
            let result = collect::collect_service(service, session, &tx).await;
            drop(tx);
            result
        };
        let (collected, mut tally) = tokio::join!(collector, writer);
        match collected {
            Ok(completeness) => {
                let partition = partition_key(&session.account.account_id, service);
                conclude(store, &partition, &completeness, run_started, &mut tally).await;
            }
            Err(unsupported) => tally.errors.push(unsupported.to_string()),
        }
        let Tally {
            summary, errors, ..
        } = tally;
        info!(
            resources = summary.resources,
            removed = summary.removed,
            failed = summary.failed,
            partial = summary.partial,
            complete = summary.complete,
            incomplete_regions = ?summary
                .regions
                .iter()
                .filter(|(_, r)| !r.complete)
                .map(|(name, _)| name.as_str())
                .collect::<Vec<_>>(),
            "service inventoried"
        );
        (summary, errors)
    }
}

/// What one service's run has gathered so far.
#[derive(Default)]
struct Tally {
    summary: ServiceSummary,
    errors: Vec<String>,
    /// ARNs this run saw (stored, or read and failed: either way not gone).
    seen: HashSet<String>,
    /// Failed resources whose region the collector could not tell (S3's GetBucketLocation
    /// failed); counted under their stored region.
    unlocated: HashSet<String>,
}

impl Tally {
    fn region(&mut self, region: &str) -> &mut RegionSummary {
        self.summary.regions.entry(region.to_owned()).or_default()
    }
}

/// Closes a service's run: records the failed listings, removes what the complete regions no
/// longer have (see [`sweep`]) and marks each region complete or not.
async fn conclude(
    store: &dyn ResourceStore,
    partition: &str,
    completeness: &Completeness,
    run_started: DateTime<Utc>,
    tally: &mut Tally,
) {
    for failure in completeness.failures() {
        tally.errors.push(listing_error(failure));
        if let Some(region) = &failure.region {
            tally.region(region);
        }
    }
    match sweep(store, partition, completeness, run_started, tally).await {
        Ok(removed) => tally.summary.removed = removed,
        Err(e) => tally
            .errors
            .push(format!("removing unseen {partition} resources: {e}")),
    }
    for (name, region) in tally.summary.regions.iter_mut() {
        region.complete = completeness.is_complete(name);
        region.listing_error = completeness
            .failures()
            .iter()
            .find(|f| f.region.as_deref().is_none_or(|r| r == name))
            .map(|f| f.error.to_string());
    }
    tally.summary.complete = completeness.nothing_failed();
}

fn listing_error(failure: &ListingFailure) -> String {
    match &failure.region {
        Some(region) => format!(
            "{} (listing of {region} incomplete: nothing in {region} was removed)",
            failure.error
        ),
        None => format!(
            "{} (listing incomplete: nothing was removed)",
            failure.error
        ),
    }
}

async fn flush(store: &dyn ResourceStore, batch: &mut Vec<Resource>, tally: &mut Tally) {
    if batch.is_empty() {
        return;
    }
    match store.put_batch(batch).await {
        Ok(()) => {
            tally.summary.resources += batch.len();
            for resource in batch.iter() {
                tally.region(&resource.region).resources += 1;
            }
        }
        Err(e) => {
            tally.summary.failed += batch.len();
            for resource in batch.iter() {
                tally.region(&resource.region).failed += 1;
            }
            tally
                .errors
                .push(format!("writing {} resources: {e}", batch.len()));
        }
    }
    batch.clear();
}

/// Removes the stored resources this run did not see, of the regions whose listing was
/// complete; those of the other regions are kept (and counted as `kept`). Only resources last
/// seen before the run started are removed, so a concurrent real-time refresh is never undone.
/// Returns how many were removed.
async fn sweep(
    store: &dyn ResourceStore,
    partition: &str,
    completeness: &Completeness,
    run_started: DateTime<Utc>,
    tally: &mut Tally,
) -> Result<usize, crate::store::StoreError> {
    let mut removed = 0;
    for stored in store.seen_times(partition).await? {
        if tally.seen.contains(&stored.arn) {
            if tally.unlocated.contains(&stored.arn) {
                tally.region(&stored.region).failed += 1;
            }
            continue;
        }
        if stored.last_seen_at >= run_started {
            continue;
        }
        if !completeness.is_complete(&stored.region) {
            tally.region(&stored.region).kept += 1;
            continue;
        }
        if store
            .delete_if_older(partition, &stored.arn, run_started)
            .await?
        {
            info!(arn = %stored.arn, region = %stored.region, "removed: no longer exists");
            tally.region(&stored.region).removed += 1;
            removed += 1;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use chrono::Duration;
    use serde_json::json;

    use super::*;
    use crate::collect::CollectionError;
    use crate::store::memory::MemoryResources;

    const ACCOUNT: &str = "111122223333";

    fn partition() -> String {
        partition_key(ACCOUNT, Service::S3)
    }

    fn resource(name: &str, region: &str, last_seen_at: DateTime<Utc>) -> Resource {
        Resource {
            arn: format!("arn:aws:s3:::{name}"),
            account_id: ACCOUNT.into(),
            service: Service::S3,
            resource_type: "AWS::S3::Bucket".into(),
            region: region.into(),
            configuration: json!({"Name": name}),
            last_seen_at,
        }
    }

    fn listing_error(region: Option<&str>) -> CollectionError {
        CollectionError {
            account_id: ACCOUNT.into(),
            service: Service::S3,
            region: region.map(str::to_owned),
            resource: None,
            operation: "ListThings".into(),
            code: "AccessDenied".into(),
            message: "denied".into(),
        }
    }

    /// A store holding `resources`, all written before the run starts.
    async fn store_with(resources: &[Resource]) -> MemoryResources {
        let store = MemoryResources::default();
        store.put_batch(resources).await.expect("in-memory write");
        store
    }

    async fn stored(store: &MemoryResources, name: &str) -> bool {
        store
            .get(&partition(), &format!("arn:aws:s3:::{name}"))
            .await
            .expect("in-memory read")
            .is_some()
    }

    #[tokio::test]
    async fn a_failed_region_keeps_its_resources_while_a_complete_one_is_swept() {
        // Given resources stored by an earlier run in us-east-1 and eu-west-1, one of each gone
        let run_started = Utc::now();
        let earlier = run_started - Duration::hours(1);
        let store = store_with(&[
            resource("us-gone", "us-east-1", earlier),
            resource("us-here", "us-east-1", earlier),
            resource("eu-gone", "eu-west-1", earlier),
        ])
        .await;
        // And a run that saw us-here, listed us-east-1 fully and failed to list eu-west-1
        let mut tally = Tally::default();
        tally.seen.insert("arn:aws:s3:::us-here".into());
        let mut completeness = Completeness::default();
        completeness.listed("us-east-1");
        completeness.failed(Some("eu-west-1".into()), listing_error(Some("eu-west-1")));

        // When the run is concluded
        conclude(&store, &partition(), &completeness, run_started, &mut tally).await;

        // Then the resource gone from the complete region is removed
        assert!(!stored(&store, "us-gone").await);
        assert!(stored(&store, "us-here").await);
        let us = &tally.summary.regions["us-east-1"];
        assert!(us.complete && us.removed == 1 && us.kept == 0, "{us:?}");
        assert_eq!(us.listing_error, None);
        // And the one in the failed region is kept, and the region is reported as failed
        assert!(stored(&store, "eu-gone").await);
        let eu = &tally.summary.regions["eu-west-1"];
        assert!(!eu.complete && eu.removed == 0 && eu.kept == 1, "{eu:?}");
        assert!(eu
            .listing_error
            .as_deref()
            .is_some_and(|e| e.contains("ListThings") && e.contains("AccessDenied")));
        assert_eq!(tally.summary.removed, 1);
        assert!(!tally.summary.complete);
        assert_eq!(
            tally.errors,
            [format!(
                "{} (listing of eu-west-1 incomplete: nothing in eu-west-1 was removed)",
                listing_error(Some("eu-west-1"))
            )]
        );
    }

    #[tokio::test]
    async fn a_failed_global_listing_removes_nothing_in_any_region() {
        // Given resources gone from two regions, and a global listing (ListBuckets) that failed
        let run_started = Utc::now();
        let earlier = run_started - Duration::hours(1);
        let store = store_with(&[
            resource("us-gone", "us-east-1", earlier),
            resource("eu-gone", "eu-west-1", earlier),
        ])
        .await;
        let mut tally = Tally::default();
        let completeness = Completeness::of_global(Err(listing_error(None)));

        // When the run is concluded
        conclude(&store, &partition(), &completeness, run_started, &mut tally).await;

        // Then nothing is removed and every region with stored resources is listed as failed
        assert!(stored(&store, "us-gone").await && stored(&store, "eu-gone").await);
        assert_eq!(tally.summary.removed, 0);
        assert!(!tally.summary.complete);
        assert_eq!(
            tally.summary.regions.keys().collect::<Vec<_>>(),
            ["eu-west-1", "us-east-1"]
        );
        for region in tally.summary.regions.values() {
            assert!(!region.complete && region.kept == 1, "{region:?}");
            assert!(region.listing_error.is_some(), "{region:?}");
        }
        assert_eq!(
            tally.errors,
            [format!(
                "{} (listing incomplete: nothing was removed)",
                listing_error(None)
            )]
        );
    }

    #[tokio::test]
    async fn a_complete_region_never_undoes_a_refresh_made_during_the_run() {
        // Given a resource not seen by the listing but refreshed (by an event) after it started
        let run_started = Utc::now();
        let store = store_with(&[resource(
            "refreshed",
            "us-east-1",
            run_started + Duration::seconds(1),
        )])
        .await;
        let mut tally = Tally::default();

        // When a complete run is concluded
        conclude(
            &store,
            &partition(),
            &Completeness::of_global(Ok(())),
            run_started,
            &mut tally,
        )
        .await;

        // Then it stays
        assert!(stored(&store, "refreshed").await);
        assert_eq!(tally.summary.removed, 0);
        assert!(tally.summary.complete);
    }

    #[tokio::test]
    async fn a_resource_whose_region_could_not_be_read_is_kept_and_counted_where_it_is_stored() {
        // Given a bucket stored in eu-west-1 whose GetBucketLocation failed in this run
        let run_started = Utc::now();
        let store = store_with(&[resource(
            "unlocated",
            "eu-west-1",
            run_started - Duration::hours(1),
        )])
        .await;
        let mut tally = Tally::default();
        tally.seen.insert("arn:aws:s3:::unlocated".into());
        tally.unlocated.insert("arn:aws:s3:::unlocated".into());

        // When a complete run is concluded
        conclude(
            &store,
            &partition(),
            &Completeness::of_global(Ok(())),
            run_started,
            &mut tally,
        )
        .await;

        // Then it is left as stored, counted as failed in its stored region, which is complete
        assert!(stored(&store, "unlocated").await);
        let eu = &tally.summary.regions["eu-west-1"];
        assert!(eu.complete && eu.failed == 1 && eu.removed == 0, "{eu:?}");
    }
}

/// Why one fanned-out unit could not be inventoried.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnitError {
    /// The request names something that can never be inventoried (poison).
    #[error(transparent)]
    Request(#[from] RequestError),
    /// The account's role could not be assumed (may succeed on a redelivery).
    #[error("{0}")]
    Session(String),
}

impl Inventory<'_> {
    /// One unit of a fanned-out run ([`crate::fanout`]): `service` of `account_id`, in `region`
    /// only when given (a regional service), else everywhere the account's `Regions` name.
    /// Resources of the unit's region not seen are removed as in [`Inventory::run`], only
    /// after its listing completed and only if last seen before `run_started`.
    pub async fn unit(
        &self,
        account_id: &str,
        service: Service,
        region: Option<&str>,
        run_started: DateTime<Utc>,
    ) -> Result<(ServiceSummary, Vec<String>), UnitError> {
        if !collect::is_supported(service) {
            return Err(
                RequestError::from(collect::Unsupported(format!("service {service}"))).into(),
            );
        }
        let mut account = self
            .accounts(Some(account_id))
            .await?
            .pop()
            .ok_or_else(|| RequestError::UnknownAccount(account_id.to_owned()))?;
        if let Some(region) = region {
            account.regions = vec![region.to_owned()];
        }
        let session = collect::open_session(self.config, self.base_sdk, &account, "qrie-inventory")
            .await
            .map_err(|e| UnitError::Session(e.to_string()))?;
        let (mut summary, errors) = self.service(&session, service, run_started).await;
        if let Some(region) = region {
            // The sweep looks at the whole partition; only this unit's region is its own.
            summary.regions.retain(|name, _| name == region);
        }
        Ok((summary, errors))
    }
}
