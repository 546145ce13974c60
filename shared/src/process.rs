//! The event processor's per-message logic: from one SQS record carrying a CloudTrail event to
//! the resources table and the findings table brought up to date.
//!
//! For each message of a batch, [`EventProcessor`]
//!
//! 1. parses the body ([`trail::parse_message`]) and [`trail::classify`]s the event; records
//!    whose `recipientAccountId` is not the sender's account, failed calls (any `errorCode`
//!    field, even `""`), read-only calls, non-management events and events outside the
//!    extraction table are ignored (counted by [`IgnoredBecause`], logged at debug);
//! 2. checks the event's account (the EventBridge sender; for a bare record its
//!    `recipientAccountId`, see [`trail`]) against the accounts table: accounts that are not
//!    onboarded, or disabled, are ignored too;
//! 3. for each touched resource of that account (a resource whose ARN, or caller identity,
//!    names another account is counted `foreign` and left alone: an account only ever reports
//!    on itself), re-describes it through the same collector code the inventory uses
//!    ([`ResourceSource`]; in production [`AwsSource`], one assumed-role session per account
//!    and invocation), stores it if no newer copy is stored, and re-evaluates the active
//!    policies with [`reconcile_resource`], exactly as the scanner does. A resource that the
//!    describe does not find is removed and its ACTIVE findings (of that account) resolved.
//!    A delete event is no exception: it is confirmed by the describe like any other, so a
//!    delete that failed, or was followed by a re-creation, leaves the resource stored and
//!    re-evaluated. A service without a collector is counted as unsupported and acknowledged:
//!    it starts working when its collector is registered in [`collect`], with no change here.
//!
//! A resource whose configuration lists parts that could not be read (the account-level S3
//! block under AccessDenied, for example) is stored as read, and the policies that read those
//! parts are not evaluated for it: counted in `not_evaluated`, the resource and the failed call
//! named in `unevaluated`, and its findings left as they were. Policies-table rows that cannot
//! be read are logged with every batch (by policy id and attribute) and the rest runs.
//!
//! Replays are harmless: the state is re-read rather than taken from the event, and every write
//! is guarded by the time the state was read, so a slow, older refresh never overwrites a newer
//! one. A resource not found right after its Create event (eventual consistency) is re-described
//! a bounded number of times with backoff, then the message fails as retryable.
//!
//! The batch loop (bounded concurrency, a span per message, batch item failures by message
//! id) is the one every queue consumer shares, [`crate::sqs_batch::consume`]; this module
//! tallies its per-message results into a [`BatchSummary`].
//!
//! Failures are per message ([`EventError`], classified by [`MessageFailure`]): poison messages (a body that is not a CloudTrail
//! event, a supported event without its identifier) are never retried successfully but are
//! still reported as batch item failures, so that SQS moves them to the dead-letter queue after
//! its receive limit instead of dropping them silently; AWS and storage failures are retryable.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsMessage};
use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::{Mutex, OnceCell};
use tracing::{debug, field, info, warn, Span};

use crate::collect::{self, AccountSession, CollectionError, Described, Unsupported};
use crate::config::Config;
use crate::message_span;
use crate::model::{partition_key, Account, FindingState, Resource};
use crate::policy::Catalog;
use crate::scan::{
    configure, reconcile_resource, resolve_gone, unevaluated_report, ActivePolicy, PolicySet,
};
use crate::sqs_batch::{self, MessageFailure, MissingBody};
use crate::store::{BadPolicyRow, StoreError, Stores};
use crate::trail::{
    self, Disposition, EnvelopeError, ExtractError, IgnoreReason, TouchedResource, TrailEvent,
};

/// Messages of one batch processed at once.
pub const MESSAGE_CONCURRENCY: usize = 10;

/// How long after its Create event a resource may still be invisible to Describe calls.
pub const CONSISTENCY_WINDOW: Duration = Duration::from_secs(15 * 60);

/// The session name qrie uses in customer accounts for event refreshes.
const SESSION_NAME: &str = "qrie-events";

/// How often, and how patiently, a resource missing right after its Create event is
/// re-described before the message fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsistencyRetry {
    /// Re-describes after the first "not found".
    pub retries: u32,
    /// Delay before the first re-describe; doubled before each following one.
    pub first_delay: Duration,
}

impl Default for ConsistencyRetry {
    /// 3 re-describes after 0.25 s, 0.5 s and 1 s: under 2 s of a 60 s Lambda timeout.
    fn default() -> Self {
        Self {
            retries: 3,
            first_delay: Duration::from_millis(250),
        }
    }
}

/// Why a message needed no work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IgnoredBecause {
    /// The record's `recipientAccountId` is not the account that sent it.
    OtherAccount,
    /// The call failed (`errorCode`), so nothing changed.
    ErrorCode,
    /// A data, insight or network-activity event.
    NotManagement,
    ReadOnly,
    /// Not in the extraction table.
    UnsupportedEvent,
    /// The event's account is not in the accounts table.
    AccountNotOnboarded,
    /// The event's account is onboarded but disabled.
    AccountDisabled,
}

impl IgnoredBecause {
    pub fn as_str(self) -> &'static str {
        match self {
            IgnoredBecause::OtherAccount => "other_account",
            IgnoredBecause::ErrorCode => "error_code",
            IgnoredBecause::NotManagement => "not_management",
            IgnoredBecause::ReadOnly => "read_only",
            IgnoredBecause::UnsupportedEvent => "unsupported_event",
            IgnoredBecause::AccountNotOnboarded => "account_not_onboarded",
            IgnoredBecause::AccountDisabled => "account_disabled",
        }
    }
}

impl From<&IgnoreReason> for IgnoredBecause {
    fn from(reason: &IgnoreReason) -> Self {
        match reason {
            IgnoreReason::OtherAccount => IgnoredBecause::OtherAccount,
            IgnoreReason::ErrorCode(_) => IgnoredBecause::ErrorCode,
            IgnoreReason::NotAManagementEvent(_) => IgnoredBecause::NotManagement,
            IgnoreReason::ReadOnly => IgnoredBecause::ReadOnly,
            IgnoreReason::UnsupportedEvent { .. } => IgnoredBecause::UnsupportedEvent,
        }
    }
}

/// What refreshing the resources of one message did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Refresh {
    /// Resources re-described and stored.
    pub refreshed: usize,
    /// Resources removed (the describe no longer found them).
    pub removed: usize,
    /// Resources whose service has no collector yet (acknowledged).
    pub unsupported: usize,
    /// Resources whose stored copy was read later than this refresh (not re-evaluated).
    pub stale: usize,
    /// Resources named by the event that belong to another account than the event's (left
    /// alone, whether that account is onboarded or not).
    pub foreign: usize,
    /// (resource, policy) evaluations.
    pub evaluated: usize,
    pub opened: usize,
    pub still_active: usize,
    pub resolved: usize,
    /// (resource, policy) pairs not evaluated: the policy reads a part of the configuration that
    /// could not be read; the finding was left as it was.
    pub not_evaluated: usize,
    /// The resources behind `not_evaluated`, with the parts and the failed calls.
    pub unevaluated: Vec<String>,
    /// Of `opened`, the resolved findings that failed again.
    pub reopened: usize,
    /// Resources re-evaluated because a resource their policies follow (`Related`) changed:
    /// an instance whose subnet's route table got a route (their outcomes are in the counts).
    pub dependents: usize,
    /// Notifications of opened and re-opened findings published, and those that failed (see
    /// [`crate::notify`]: a failure is logged and counted, the message still succeeds).
    pub notified: usize,
    pub notify_failed: usize,
    /// The resources whose findings this refresh opened, refreshed or resolved (what goes to
    /// Security Hub when the deployment enables it, see [`crate::securityhub`]).
    #[serde(skip)]
    pub changed: Vec<String>,
}

impl Refresh {
    fn add(&mut self, other: &Refresh) {
        self.dependents += other.dependents;
        self.refreshed += other.refreshed;
        self.removed += other.removed;
        self.unsupported += other.unsupported;
        self.stale += other.stale;
        self.foreign += other.foreign;
        self.evaluated += other.evaluated;
        self.opened += other.opened;
        self.still_active += other.still_active;
        self.resolved += other.resolved;
        self.not_evaluated += other.not_evaluated;
        self.unevaluated.extend(other.unevaluated.iter().cloned());
        self.reopened += other.reopened;
        self.notified += other.notified;
        self.notify_failed += other.notify_failed;
        for arn in &other.changed {
            if !self.changed.contains(arn) {
                self.changed.push(arn.clone());
            }
        }
    }
}

/// The result of one message that did not fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventOutcome {
    Ignored(IgnoredBecause),
    Processed(Refresh),
}

/// Why one message failed.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error("SQS record has no body")]
    MissingBody,
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    #[error(transparent)]
    Extract(#[from] ExtractError),
    #[error("reading account {account_id} from the accounts table failed: {source}")]
    Account {
        account_id: String,
        #[source]
        source: StoreError,
    },
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error("{arn} was not found {attempts} times after {event_name}; it may not be visible yet")]
    NotYetVisible {
        arn: String,
        event_name: String,
        attempts: u32,
    },
    #[error("storing the refresh of {arn} failed: {source}")]
    Store {
        arn: String,
        #[source]
        source: StoreError,
    },
}

impl From<MissingBody> for EventError {
    fn from(_: MissingBody) -> Self {
        EventError::MissingBody
    }
}

impl MessageFailure for EventError {
    /// False for messages that can never succeed (they still fail, so SQS dead-letters them).
    fn is_retryable(&self) -> bool {
        !matches!(
            self,
            EventError::MissingBody | EventError::Envelope(_) | EventError::Extract(_)
        )
    }
}

/// A failure of the whole invocation, before any message was looked at.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    #[error("loading the policy settings failed: {0}")]
    Settings(#[source] StoreError),
}

/// What re-describing one resource found.
#[derive(Debug, Clone)]
pub enum Lookup {
    Found(Box<Resource>),
    NotFound,
    /// No collector for the resource's service or type yet.
    Unsupported(Unsupported),
}

/// Why a resource could not be re-described.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SourceError {
    #[error("cannot open a session in account {account_id}: {message}")]
    Session { account_id: String, message: String },
    #[error(transparent)]
    Collection(#[from] CollectionError),
}

/// Where current resource state comes from: the port between event processing and AWS.
#[async_trait]
pub trait ResourceSource: Send + Sync {
    /// Re-describes one touched resource in its account (`account` is its onboarded owner).
    async fn describe(
        &self,
        account: &Account,
        touched: &TouchedResource,
    ) -> Result<Lookup, SourceError>;
}

/// A source that describes nothing: for re-evaluations from stored state alone (the object
/// scanner's, after it recorded what a bucket holds).
pub struct StoredStateOnly;

#[async_trait]
impl ResourceSource for StoredStateOnly {
    async fn describe(
        &self,
        _account: &Account,
        touched: &TouchedResource,
    ) -> Result<Lookup, SourceError> {
        Ok(Lookup::Unsupported(crate::collect::Unsupported(format!(
            "{}: re-evaluated from stored state only",
            touched.arn
        ))))
    }
}

/// One value per account, initialised once per invocation even under concurrent messages.
struct PerAccount<T> {
    cells: Mutex<HashMap<String, Arc<OnceCell<T>>>>,
}

impl<T: Clone> PerAccount<T> {
    fn new() -> Self {
        Self {
            cells: Mutex::new(HashMap::new()),
        }
    }

    async fn get_or_try_init<E, F, Fut>(&self, account_id: &str, init: F) -> Result<T, E>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<T, E>>,
    {
        let cell = {
            let mut cells = self.cells.lock().await;
            cells.entry(account_id.to_owned()).or_default().clone()
        };
        cell.get_or_try_init(init).await.cloned()
    }
}

/// The production [`ResourceSource`]: the collectors, through each account's read-only role.
pub struct AwsSource<'a> {
    config: &'a Config,
    base_sdk: &'a aws_config::SdkConfig,
    sessions: PerAccount<AccountSession>,
}

impl<'a> AwsSource<'a> {
    /// A source with an empty session cache (build one per invocation: sessions expire).
    pub fn new(config: &'a Config, base_sdk: &'a aws_config::SdkConfig) -> Self {
        Self {
            config,
            base_sdk,
            sessions: PerAccount::new(),
        }
    }
}

#[async_trait]
impl ResourceSource for AwsSource<'_> {
    async fn describe(
        &self,
        account: &Account,
        touched: &TouchedResource,
    ) -> Result<Lookup, SourceError> {
        // No role assumption for a kind that has no collector yet (its events are followed
        // ahead of it: `trail/pending.rs`), whether or not its service has one.
        if crate::registry::kind(touched.resource_type).is_none() {
            return Ok(Lookup::Unsupported(Unsupported(format!(
                "resource type {}",
                touched.resource_type
            ))));
        }
        let session = self
            .sessions
            .get_or_try_init(&account.account_id, || {
                collect::open_session(self.config, self.base_sdk, account, SESSION_NAME)
            })
            .await
            .map_err(|e| SourceError::Session {
                account_id: account.account_id.clone(),
                message: e.to_string(),
            })?;
        let regional = AccountSession {
            sdk: crate::aws::in_region(&session.sdk, &touched.region),
            ..session
        };
        match collect::describe(&regional, touched.resource_type, &touched.id).await {
            Err(unsupported) => Ok(Lookup::Unsupported(unsupported)),
            Ok(Ok(Described::Found(resource))) => Ok(Lookup::Found(resource)),
            Ok(Ok(Described::NotFound)) => Ok(Lookup::NotFound),
            Ok(Err(error)) => Err(SourceError::Collection(error)),
        }
    }
}

/// Counts of one batch, as logged in the summary line.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BatchSummary {
    pub messages: usize,
    /// Messages whose resources were refreshed.
    pub processed: usize,
    pub ignored: BTreeMap<IgnoredBecause, usize>,
    /// Messages that failed (retryable or poison); their ids are in the batch response.
    pub failed: usize,
    /// Of `failed`, the ones that can never succeed.
    pub poison: usize,
    /// Rows of the policies table that could not be read completely (the same for every batch
    /// of an invocation).
    pub bad_policy_rows: Vec<BadPolicyRow>,
    #[serde(flatten)]
    pub refresh: Refresh,
    /// What was imported into Security Hub, when the deployment enables it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub security_hub: Option<crate::securityhub::ImportReport>,
}

impl BatchSummary {
    pub fn ignored_total(&self) -> usize {
        self.ignored.values().sum()
    }
}

/// A processed batch: what to return to Lambda, and the counts.
#[derive(Debug, Clone, Default)]
pub struct BatchReport {
    pub response: SqsBatchResponse,
    pub summary: BatchSummary,
}

impl BatchReport {
    /// The ids of the messages that failed, in batch order.
    pub fn failed_ids(&self) -> Vec<String> {
        self.response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.clone())
            .collect()
    }
}

/// Processes SQS batches of CloudTrail events for one invocation.
pub struct EventProcessor<'a> {
    stores: &'a Stores,
    source: &'a dyn ResourceSource,
    policies: Vec<ActivePolicy<'a>>,
    bad_policy_rows: Vec<BadPolicyRow>,
    retry: ConsistencyRetry,
    accounts: PerAccount<Option<Account>>,
    /// Announces the findings its writes open or re-open; none: no notifications.
    notifier: Option<&'a crate::notify::Notifier>,
}

impl<'a> EventProcessor<'a> {
    /// Loads the policy settings (once per invocation) and prepares empty per-account caches.
    pub async fn load(
        catalog: &'a Catalog,
        stores: &'a Stores,
        source: &'a dyn ResourceSource,
    ) -> Result<Self, BatchError> {
        let settings = stores
            .policies
            .settings()
            .await
            .map_err(BatchError::Settings)?;
        let PolicySet { policies, bad_rows } = configure(catalog, &settings);
        let mut processor = Self::with_policies(policies, stores, source);
        processor.bad_policy_rows = bad_rows;
        Ok(processor)
    }

    /// A processor for an explicit policy set (tests, benchmarks).
    pub fn with_policies(
        policies: Vec<ActivePolicy<'a>>,
        stores: &'a Stores,
        source: &'a dyn ResourceSource,
    ) -> Self {
        Self {
            stores,
            source,
            policies,
            bad_policy_rows: Vec::new(),
            retry: ConsistencyRetry::default(),
            accounts: PerAccount::new(),
            notifier: None,
        }
    }

    /// Announces each finding this processor opens or re-opens through `notifier`.
    pub fn with_notifier(mut self, notifier: &'a crate::notify::Notifier) -> Self {
        self.notifier = Some(notifier);
        self
    }

    /// Replaces the eventual-consistency retry (tests use short delays).
    pub fn with_retry(mut self, retry: ConsistencyRetry) -> Self {
        self.retry = retry;
        self
    }

    /// Processes a batch, at most [`MESSAGE_CONCURRENCY`] messages at once, each in its own
    /// span, and logs one summary line.
    pub async fn process_batch(&self, records: &[SqsMessage]) -> BatchReport {
        let started = Instant::now();
        let consumed = sqs_batch::consume(
            records,
            MESSAGE_CONCURRENCY,
            |delivery| message_span!(delivery, event = field::Empty, account = field::Empty),
            |body, _| self.process_message(body),
        )
        .await;
        let mut report = BatchReport {
            summary: BatchSummary {
                messages: consumed.results.len(),
                failed: consumed.failed(),
                poison: consumed.poison(),
                bad_policy_rows: self.bad_policy_rows.clone(),
                ..BatchSummary::default()
            },
            response: consumed.response,
        };
        let summary = &mut report.summary;
        for handled in consumed.results {
            match handled.result {
                Ok(EventOutcome::Ignored(reason)) => {
                    *summary.ignored.entry(reason).or_default() += 1;
                }
                Ok(EventOutcome::Processed(refresh)) => {
                    summary.processed += 1;
                    summary.refresh.add(&refresh);
                }
                Err(_) => {}
            }
        }
        let summary = &report.summary;
        if !summary.bad_policy_rows.is_empty() {
            let rows: Vec<String> = summary
                .bad_policy_rows
                .iter()
                .map(|r| format!("{}.{}", r.policy_id, r.field))
                .collect();
            warn!(bad_policy_rows = ?rows, "policies-table rows that cannot be read; see each row's effect");
        }
        info!(
            messages = summary.messages,
            processed = summary.processed,
            ignored = summary.ignored_total(),
            ignored_by_reason = ?summary.ignored,
            unsupported = summary.refresh.unsupported,
            refreshed = summary.refresh.refreshed,
            removed = summary.refresh.removed,
            stale = summary.refresh.stale,
            foreign = summary.refresh.foreign,
            opened = summary.refresh.opened,
            reopened = summary.refresh.reopened,
            notified = summary.refresh.notified,
            notify_failed = summary.refresh.notify_failed,
            resolved = summary.refresh.resolved,
            not_evaluated = summary.refresh.not_evaluated,
            bad_policy_rows = summary.bad_policy_rows.len(),
            failed = summary.failed,
            poison = summary.poison,
            duration_ms = started.elapsed().as_millis() as u64,
            "event batch processed"
        );
        report
    }

    /// Processes one message body.
    pub async fn process_message(&self, body: &str) -> Result<EventOutcome, EventError> {
        let event = trail::parse_message(body)?;
        let span = Span::current();
        // The account id is validated (12 digits); the event name is free text from the record.
        span.record("event", loggable_name(&event.event_name));
        span.record("account", event.account_id.as_str());
        let classified = match trail::classify(&event) {
            Ok(Disposition::Ignored(reason)) => {
                return Ok(self.ignored(IgnoredBecause::from(&reason)))
            }
            Ok(Disposition::Relevant(touched)) => Ok(touched),
            Err(e) => Err(e),
        };
        // Only events that would change posture cost an accounts-table read; an unknown account
        // makes even an unreadable identifier irrelevant.
        match self.account(&event.account_id).await? {
            Some(account) if account.enabled => {}
            Some(_) => return Ok(self.ignored(IgnoredBecause::AccountDisabled)),
            None => return Ok(self.ignored(IgnoredBecause::AccountNotOnboarded)),
        }
        let touched = classified?;
        let mut refresh = Refresh::default();
        let mut first_error = None;
        for resource in &touched {
            match self.refresh(&event, resource).await {
                Ok(r) => refresh.add(&r),
                Err(e) => {
                    warn!(arn = %resource.arn, error = %e, "resource refresh failed");
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => {
                info!(
                    resources = touched.len(),
                    refreshed = refresh.refreshed,
                    removed = refresh.removed,
                    unsupported = refresh.unsupported,
                    opened = refresh.opened,
                    resolved = refresh.resolved,
                    "event processed"
                );
                Ok(EventOutcome::Processed(refresh))
            }
        }
    }

    fn ignored(&self, because: IgnoredBecause) -> EventOutcome {
        debug!(reason = because.as_str(), "event ignored");
        EventOutcome::Ignored(because)
    }

    /// The onboarded account, read once per invocation.
    async fn account(&self, account_id: &str) -> Result<Option<Account>, EventError> {
        self.accounts
            .get_or_try_init(account_id, || self.stores.accounts.get(account_id))
            .await
            .map_err(|source| EventError::Account {
                account_id: account_id.to_owned(),
                source,
            })
    }

    /// Brings one touched resource and its findings up to date.
    async fn refresh(
        &self,
        event: &TrailEvent,
        touched: &TouchedResource,
    ) -> Result<Refresh, EventError> {
        let mut refresh = Refresh::default();
        if touched.account_id != event.account_id {
            // Named by an ARN or the caller's identity: an account only reports on itself.
            debug!(
                resource_type = touched.resource_type,
                "resource of another account than the event's; left alone"
            );
            refresh.foreign = 1;
            return Ok(refresh);
        }
        let account = match self.account(&touched.account_id).await? {
            Some(account) if account.enabled => account,
            _ => {
                refresh.foreign = 1;
                return Ok(refresh);
            }
        };
        // A delete event is confirmed like any other: only a describe that does not find the
        // resource removes it, and the describe's own clock (never the event's eventTime)
        // dates the removal.
        let mut attempt = 0;
        loop {
            let described_at = Utc::now();
            match self.source.describe(&account, touched).await? {
                Lookup::Unsupported(why) => {
                    debug!(arn = %touched.arn, %why, "no collector yet; acknowledged");
                    refresh.unsupported = 1;
                    return Ok(refresh);
                }
                Lookup::Found(resource) => {
                    let mut refresh = self.store(&resource, refresh).await?;
                    for dependent in dependents_of(touched, &resource) {
                        refresh.add(&self.refresh_dependent(&account, &dependent).await?);
                    }
                    return Ok(refresh);
                }
                Lookup::NotFound if may_not_be_visible_yet(event, touched, Utc::now()) => {
                    if attempt == self.retry.retries {
                        return Err(EventError::NotYetVisible {
                            arn: touched.arn.clone(),
                            event_name: event.event_name.clone(),
                            attempts: attempt + 1,
                        });
                    }
                    let delay = self.retry.first_delay * 2u32.saturating_pow(attempt);
                    debug!(arn = %touched.arn, attempt, ?delay, "not found after its Create event; describing again");
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                Lookup::NotFound => return self.remove(touched, described_at, refresh).await,
            }
        }
    }

    /// Re-describes a resource that embeds part of one just refreshed (a user whose group's
    /// policy changed), and stores or removes it; its own dependents are not followed.
    async fn refresh_dependent(
        &self,
        account: &Account,
        dependent: &TouchedResource,
    ) -> Result<Refresh, EventError> {
        let described_at = Utc::now();
        match self.source.describe(account, dependent).await? {
            Lookup::Found(resource) => self.store(&resource, Refresh::default()).await,
            Lookup::NotFound => {
                self.remove(dependent, described_at, Refresh::default())
                    .await
            }
            Lookup::Unsupported(_) => Ok(Refresh::default()),
        }
    }

    /// Stores a re-described resource unless a newer copy is stored, then re-evaluates it.
    async fn store(
        &self,
        resource: &Resource,
        mut refresh: Refresh,
    ) -> Result<Refresh, EventError> {
        let store_error = |source| EventError::Store {
            arn: resource.arn.clone(),
            source,
        };
        if !self
            .stores
            .resources
            .put_if_newer(resource)
            .await
            .map_err(store_error)?
        {
            debug!(arn = %resource.arn, "a newer copy is stored; not re-evaluated");
            refresh.stale = 1;
            return Ok(refresh);
        }
        refresh.refreshed = 1;
        let active = self
            .active_policy_ids(&resource.arn, &resource.account_id)
            .await?;
        let index = self
            .related_index(&resource.account_id, &resource.resource_type)
            .await;
        let own = self
            .policies
            .iter()
            .filter(|p| p.policy.resource_type == resource.resource_type)
            .any(|p| p.policy.follows_relations());
        let related = match &index {
            Ok(index) => index.as_ref(),
            Err(e) if own => {
                warn!(arn = %resource.arn, error = %e, "related resources unreadable; policies that follow them not evaluated");
                None
            }
            Err(_) => None,
        };
        let tally = reconcile_resource(
            resource,
            &self.policies,
            &active,
            self.stores.findings.as_ref(),
            Utc::now(),
            related,
        )
        .await
        .map_err(store_error)?;
        self.record(&mut refresh, &resource.arn, &tally).await;
        let dependents = self
            .reevaluate_dependents(
                &resource.account_id,
                &resource.resource_type,
                &resource.arn,
                index,
            )
            .await?;
        refresh.add(&dependents);
        if tally.not_evaluated > 0 {
            if let Some(report) = unevaluated_report(resource, &self.policies) {
                warn!(%report, "resource refreshed but not fully evaluated");
                refresh.unevaluated.push(report);
            }
        }
        Ok(refresh)
    }

    /// Removes a resource known to be gone at `gone_at` and resolves its ACTIVE findings.
    async fn remove(
        &self,
        touched: &TouchedResource,
        gone_at: DateTime<Utc>,
        mut refresh: Refresh,
    ) -> Result<Refresh, EventError> {
        let store_error = |source| EventError::Store {
            arn: touched.arn.clone(),
            source,
        };
        let partition = partition_key(&touched.account_id, touched.service);
        if self
            .stores
            .resources
            .delete_if_older(&partition, &touched.arn, gone_at)
            .await
            .map_err(store_error)?
        {
            refresh.removed = 1;
        }
        let active = self
            .active_policy_ids(&touched.arn, &touched.account_id)
            .await?;
        refresh.resolved = resolve_gone(
            &touched.arn,
            &touched.account_id,
            active.iter().map(String::as_str),
            self.stores.findings.as_ref(),
            Utc::now(),
            gone_at,
        )
        .await
        .map_err(store_error)?;
        if refresh.resolved > 0 {
            refresh.changed.push(touched.arn.clone());
        }
        let kind = touched.resource_type;
        let index = self.related_index(&touched.account_id, kind).await;
        let dependents = self
            .reevaluate_dependents(&touched.account_id, kind, &touched.arn, index)
            .await?;
        refresh.add(&dependents);
        Ok(refresh)
    }

    /// Re-evaluates the policies that follow a bucket's object data (`Related.ObjectData`) after
    /// an object scan recorded what it found in `bucket` of `account_id`: a public bucket now
    /// known to hold card numbers opens its finding here, not at the next daily scan.
    pub async fn object_data_changed(
        &self,
        account_id: &str,
        bucket: &str,
        region: &str,
    ) -> Result<Refresh, EventError> {
        let partition = crate::arn::partition_for_region(region);
        let arn = format!("arn:{partition}:s3:::{bucket}/*");
        let index = self
            .related_index(account_id, crate::relate::OBJECT_DATA)
            .await;
        self.reevaluate_dependents(account_id, crate::relate::OBJECT_DATA, &arn, index)
            .await
    }

    /// Adds one resource's evaluation to the refresh's counts, and announces what it opened.
    async fn record(&self, refresh: &mut Refresh, arn: &str, tally: &crate::scan::Tally) {
        refresh.evaluated += tally.evaluated;
        refresh.opened += tally.new;
        refresh.reopened += tally.reopened;
        if let Some(notifier) = self.notifier {
            // Tied to this write's outcome: a redelivery finds the finding ACTIVE and announces
            // nothing. A failed publish is counted, never a failed message (see `notify`).
            let delivery = notifier.announce(&tally.opened).await;
            refresh.notified += delivery.published;
            refresh.notify_failed += delivery.failed;
        }
        refresh.still_active += tally.still_active;
        refresh.resolved += tally.resolved;
        refresh.stale += tally.stale;
        refresh.not_evaluated += tally.not_evaluated;
        if tally.new + tally.still_active + tally.resolved > 0 {
            refresh.changed.push(arn.to_owned());
        }
    }

    /// The policies that follow a relation to `resource_type` (they judge its dependents).
    fn depending_on(&self, resource_type: &str) -> Vec<&ActivePolicy<'a>> {
        self.policies
            .iter()
            .filter(|p| p.policy.related.types().contains(resource_type))
            .collect()
    }

    /// The account's index of what the policies of a `resource_type` resource follow, and of
    /// what the policies depending on that type judge; `Ok(None)` when no policy needs one.
    async fn related_index(
        &self,
        account_id: &str,
        resource_type: &str,
    ) -> Result<Option<crate::relate::RelatedIndex>, String> {
        let mut types = std::collections::BTreeSet::new();
        for p in &self.policies {
            if p.policy.resource_type == resource_type && p.policy.follows_relations() {
                types.extend(p.policy.related.types());
            }
        }
        for p in self.depending_on(resource_type) {
            types.extend(p.policy.related.types());
            if let Some(kind) = crate::registry::kind(&p.policy.resource_type) {
                types.insert(kind.resource_type());
            }
        }
        if types.is_empty() {
            return Ok(None);
        }
        crate::relate::load_index(self.stores, account_id, &types)
            .await
            .map(Some)
    }

    /// Re-evaluates, after the resource `arn` of `resource_type` changed (or went), the
    /// resources whose policies follow it: those whose document now reaches it, and those with
    /// an ACTIVE finding of such a policy (a path it may have left). Only the depending policies
    /// are evaluated. An unreadable index fails the message (it is retried): the dependents'
    /// findings would otherwise stay as they were without anyone knowing.
    async fn reevaluate_dependents(
        &self,
        account_id: &str,
        resource_type: &str,
        arn: &str,
        index: Result<Option<crate::relate::RelatedIndex>, String>,
    ) -> Result<Refresh, EventError> {
        let mut refresh = Refresh::default();
        let depending = self.depending_on(resource_type);
        if depending.is_empty() {
            return Ok(refresh);
        }
        let store_error = |source| EventError::Store {
            arn: arn.to_owned(),
            source,
        };
        let index = match index {
            Ok(Some(index)) => index,
            Ok(None) => return Ok(refresh),
            Err(message) => {
                return Err(EventError::Store {
                    arn: arn.to_owned(),
                    source: crate::store::StoreError::Backend {
                        table: "resources".into(),
                        operation: "Query",
                        message,
                    },
                })
            }
        };
        let now = Utc::now();
        // The ACTIVE findings of each partition the depending policies judge, read once.
        let mut open_by_partition: HashMap<String, Vec<crate::model::Finding>> = HashMap::new();
        for policy in depending {
            let mut targets: Vec<&Resource> =
                index.reaching(&policy.policy.resource_type, &policy.policy.related, arn);
            let partition = partition_key(account_id, policy.policy.service);
            if !open_by_partition.contains_key(&partition) {
                let open = self
                    .stores
                    .findings
                    .active_in_partition(&partition)
                    .await
                    .map_err(store_error)?;
                open_by_partition.insert(partition.clone(), open);
            }
            let open = &open_by_partition[&partition];
            for finding in open
                .iter()
                .filter(|f| f.policy_id == policy.policy.id && f.account_id == account_id)
            {
                if let Some(r) = index.get(&finding.arn) {
                    if !targets.iter().any(|t| t.arn == r.arn) {
                        targets.push(r);
                    }
                }
            }
            let one = std::slice::from_ref(policy);
            for dependent in targets.into_iter().filter(|r| r.arn != arn) {
                let active = self
                    .active_policy_ids(&dependent.arn, &dependent.account_id)
                    .await?;
                let tally = reconcile_resource(
                    dependent,
                    one,
                    &active,
                    self.stores.findings.as_ref(),
                    now,
                    Some(&index),
                )
                .await
                .map_err(store_error)?;
                refresh.dependents += 1;
                self.record(&mut refresh, &dependent.arn, &tally).await;
            }
        }
        Ok(refresh)
    }

    /// The policies of the resource's ACTIVE findings in `account_id` (a finding of another
    /// account with the same ARN is never touched from here).
    async fn active_policy_ids(
        &self,
        arn: &str,
        account_id: &str,
    ) -> Result<HashSet<String>, EventError> {
        let findings = self
            .stores
            .findings
            .for_resource(arn)
            .await
            .map_err(|source| EventError::Store {
                arn: arn.to_owned(),
                source,
            })?;
        Ok(findings
            .into_iter()
            .filter(|f| f.state == FindingState::Active && f.account_id == account_id)
            .map(|f| f.policy_id)
            .collect())
    }
}

/// An event name as it may appear in logs: CloudTrail's are letters and digits; anything else
/// is free text from the message and is not echoed.
/// At most this many dependents are re-described after one resource (a policy attached to more
/// waits for the weekly inventory for the rest; the count is logged).
const MAX_DEPENDENTS: usize = 200;

/// The resources that embed part of `resource` (its kind's dependents), as touched resources of
/// the same account and region.
fn dependents_of(touched: &TouchedResource, resource: &Resource) -> Vec<TouchedResource> {
    let Some(find) = crate::registry::kind(touched.resource_type).and_then(|k| k.dependents) else {
        return Vec::new();
    };
    let partition = crate::arn::partition_for_region(&touched.region);
    let all = find(&resource.configuration);
    if all.len() > MAX_DEPENDENTS {
        warn!(arn = %touched.arn, dependents = all.len(), limit = MAX_DEPENDENTS,
              "more dependents than refreshed in real time; the inventory refreshes the rest");
    }
    all.into_iter()
        .take(MAX_DEPENDENTS)
        .filter_map(|(resource_type, id)| {
            let kind = crate::registry::kind(resource_type)?;
            Some(TouchedResource {
                service: kind.shape.service,
                resource_type: kind.resource_type(),
                account_id: touched.account_id.clone(),
                region: touched.region.clone(),
                arn: kind.arn(partition, &touched.region, &touched.account_id, &id),
                id,
                deleted: false,
                created: false,
            })
        })
        .collect()
}

fn loggable_name(name: &str) -> &str {
    if !name.is_empty() && name.len() <= 128 && name.bytes().all(|b| b.is_ascii_alphanumeric()) {
        name
    } else {
        "(not an event name)"
    }
}

/// How far ahead of qrie's clock an `eventTime` may be and still be believed (clock skew).
const EVENT_TIME_SKEW: chrono::TimeDelta = chrono::TimeDelta::minutes(5);

/// True for an event that created its resource (its catalogue rule says so) recently enough that
/// Describe calls may not see it yet. An `eventTime` further in the future than clock skew explains is not believed:
/// it earns no retries (the event's time only ever decides whether to describe again, never
/// what is stored or resolved).
fn may_not_be_visible_yet(
    event: &TrailEvent,
    touched: &TouchedResource,
    now: DateTime<Utc>,
) -> bool {
    let creates = touched.created;
    let recent = event.event_time.is_none_or(|t| {
        let age = now.signed_duration_since(t);
        age >= -EVENT_TIME_SKEW && age.to_std().map_or(true, |age| age <= CONSISTENCY_WINDOW)
    });
    creates && recent
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::sync::Mutex as StdMutex;

    use serde_json::{json, Value};

    use super::*;
    use crate::model::Service;
    use crate::store::PolicySetting;

    const ACCOUNT: &str = "111122223333";
    const BUCKET_ARN: &str = "arn:aws:s3:::b";
    const PUBLIC_READ: &str = "S3BucketPublicReadProhibited";

    /// A scripted AWS: answers describes from a queue per ARN (the last answer repeats).
    #[derive(Default)]
    struct ScriptedSource {
        answers: StdMutex<HashMap<String, VecDeque<Result<Lookup, SourceError>>>>,
        calls: StdMutex<Vec<String>>,
    }

    impl ScriptedSource {
        fn answer(&self, arn: &str, answer: Result<Lookup, SourceError>) {
            self.answers
                .lock()
                .unwrap()
                .entry(arn.to_owned())
                .or_default()
                .push_back(answer);
        }

        fn calls(&self) -> usize {
            self.calls.lock().unwrap().len()
        }
    }

    #[async_trait]
    impl ResourceSource for ScriptedSource {
        async fn describe(
            &self,
            _account: &Account,
            touched: &TouchedResource,
        ) -> Result<Lookup, SourceError> {
            self.calls.lock().unwrap().push(touched.arn.clone());
            let mut answers = self.answers.lock().unwrap();
            let queue = answers.get_mut(&touched.arn).expect("scripted ARN");
            if queue.len() > 1 {
                queue.pop_front().unwrap()
            } else {
                queue.front().cloned().unwrap()
            }
        }
    }

    fn account(enabled: bool) -> Account {
        Account {
            account_id: ACCOUNT.into(),
            role_arn: String::new(),
            external_id: None,
            regions: vec!["us-east-1".into()],
            enabled,
            name: None,
        }
    }

    async fn stores_with_account(enabled: bool) -> Stores {
        let stores = Stores::in_memory();
        stores.accounts.put(&account(enabled)).await.unwrap();
        stores
    }

    fn bucket(acl_uri: &str, seen_at: DateTime<Utc>) -> Lookup {
        Lookup::Found(Box::new(Resource {
            arn: BUCKET_ARN.into(),
            account_id: ACCOUNT.into(),
            service: Service::S3,
            resource_type: "AWS::S3::Bucket".into(),
            region: "us-east-1".into(),
            configuration: json!({
                "Name": "b",
                "Acl": {"Grants": [{"Grantee": {"Type": "Group", "URI": acl_uri}, "Permission": "READ"}]},
                "EffectivePublicAccessBlock": {"IgnorePublicAcls": false, "RestrictPublicBuckets": false},
            }),
            last_seen_at: seen_at,
        }))
    }

    const ALL_USERS: &str = "http://acs.amazonaws.com/groups/global/AllUsers";
    const NOBODY: &str = "http://example.com/nobody";

    /// An EventBridge body for an S3 event on bucket `b`.
    fn s3_event(name: &str, extra: Value) -> String {
        let mut detail = json!({
            "eventVersion": "1.09",
            "eventTime": Utc::now().to_rfc3339(),
            "eventSource": "s3.amazonaws.com",
            "eventName": name,
            "awsRegion": "us-east-1",
            "requestParameters": {"bucketName": "b"},
            "responseElements": null,
            "eventID": "e1",
            "readOnly": false,
            "eventCategory": "Management",
            "recipientAccountId": ACCOUNT,
        });
        if let (Value::Object(d), Value::Object(e)) = (&mut detail, extra) {
            d.extend(e);
        }
        json!({
            "version": "0",
            "detail-type": "AWS API Call via CloudTrail",
            "source": "aws.s3",
            "account": ACCOUNT,
            "region": "us-east-1",
            "detail": detail,
        })
        .to_string()
    }

    /// An EventBridge event on bucket `b` sent by `account_id` (envelope and record agree).
    fn from_account(account_id: &str, name: &str) -> String {
        let mut body: Value =
            serde_json::from_str(&s3_event(name, json!({"recipientAccountId": account_id})))
                .unwrap();
        body["account"] = json!(account_id);
        body.to_string()
    }

    fn message(id: &str, body: &str) -> SqsMessage {
        let mut m = SqsMessage::default();
        m.message_id = Some(id.into());
        m.body = Some(body.into());
        m
    }

    fn fast() -> ConsistencyRetry {
        ConsistencyRetry {
            retries: 2,
            first_delay: Duration::from_millis(1),
        }
    }

    async fn finding_state(stores: &Stores) -> Option<FindingState> {
        stores
            .findings
            .for_resource(BUCKET_ARN)
            .await
            .unwrap()
            .into_iter()
            .find(|f| f.policy_id == PUBLIC_READ)
            .map(|f| f.state)
    }

    #[tokio::test]
    async fn a_public_bucket_opens_a_finding_that_its_fix_resolves_and_replays_change_nothing() {
        // Given an onboarded account whose bucket is public
        let catalog = Catalog::embedded();
        let stores = stores_with_account(true).await;
        let source = ScriptedSource::default();
        source.answer(BUCKET_ARN, Ok(bucket(ALL_USERS, Utc::now())));
        let processor = EventProcessor::load(&catalog, &stores, &source)
            .await
            .unwrap();
        let body = s3_event("PutBucketAcl", json!({}));
        // When its PutBucketAcl event is processed
        let first = processor.process_message(&body).await.unwrap();
        // Then the bucket is stored and the public-read finding opens
        let EventOutcome::Processed(first) = first else {
            panic!("{first:?}")
        };
        assert_eq!(first.refreshed, 1);
        assert!(first.opened >= 1, "{first:?}");
        assert_eq!(finding_state(&stores).await, Some(FindingState::Active));
        let opened = stores.findings.for_resource(BUCKET_ARN).await.unwrap();
        // When the same message is delivered again
        let EventOutcome::Processed(replay) = processor.process_message(&body).await.unwrap()
        else {
            panic!("not processed")
        };
        // Then nothing opens again and the findings keep their first-seen times
        assert_eq!(replay.opened, 0);
        assert_eq!(replay.still_active, first.opened);
        let after = stores.findings.for_resource(BUCKET_ARN).await.unwrap();
        for (a, b) in opened.iter().zip(&after) {
            assert_eq!(
                (&a.policy_id, a.state, a.first_seen),
                (&b.policy_id, b.state, b.first_seen)
            );
        }
        // When the ACL is fixed and the event processed
        source.answer(BUCKET_ARN, Ok(bucket(NOBODY, Utc::now())));
        source
            .answers
            .lock()
            .unwrap()
            .get_mut(BUCKET_ARN)
            .unwrap()
            .pop_front();
        let EventOutcome::Processed(fixed) = processor.process_message(&body).await.unwrap() else {
            panic!("not processed")
        };
        // Then the finding is resolved
        assert!(fixed.resolved >= 1, "{fixed:?}");
        assert_eq!(finding_state(&stores).await, Some(FindingState::Resolved));
    }

    #[tokio::test]
    async fn events_that_cannot_change_posture_are_ignored_with_their_reason() {
        // Given one onboarded account and one disabled account
        let catalog = Catalog::embedded();
        let stores = stores_with_account(true).await;
        let mut disabled = account(false);
        disabled.account_id = "444455556666".into();
        stores.accounts.put(&disabled).await.unwrap();
        let source = ScriptedSource::default();
        let processor = EventProcessor::load(&catalog, &stores, &source)
            .await
            .unwrap();
        let cases = [
            (
                s3_event("PutBucketAcl", json!({"errorCode": "AccessDenied"})),
                IgnoredBecause::ErrorCode,
            ),
            (
                s3_event("GetBucketAcl", json!({"readOnly": true})),
                IgnoredBecause::ReadOnly,
            ),
            (
                s3_event("PutBucketWebsiteRedirects", json!({})),
                IgnoredBecause::UnsupportedEvent,
            ),
            (
                s3_event("DeleteBucket", json!({"errorCode": ""})),
                IgnoredBecause::ErrorCode,
            ),
            (
                s3_event("DeleteBucket", json!({"errorCode": null})),
                IgnoredBecause::ErrorCode,
            ),
            (
                s3_event(
                    "PutBucketAcl",
                    json!({"recipientAccountId": "444455556666"}),
                ),
                IgnoredBecause::OtherAccount,
            ),
            (
                from_account("999999999999", "PutBucketAcl"),
                IgnoredBecause::AccountNotOnboarded,
            ),
            (
                from_account("444455556666", "PutBucketAcl"),
                IgnoredBecause::AccountDisabled,
            ),
        ];
        for (body, expected) in cases {
            // When each is processed
            let outcome = processor.process_message(&body).await.unwrap();
            // Then it is ignored for its reason, without a describe
            assert_eq!(outcome, EventOutcome::Ignored(expected));
        }
        assert_eq!(source.calls(), 0);
    }

    #[tokio::test]
    async fn a_poison_message_fails_alone_and_is_not_retryable() {
        // Given a batch of a malformed body, a message without identifier and a good event
        let catalog = Catalog::embedded();
        let stores = stores_with_account(true).await;
        let source = ScriptedSource::default();
        source.answer(BUCKET_ARN, Ok(bucket(NOBODY, Utc::now())));
        let processor = EventProcessor::load(&catalog, &stores, &source)
            .await
            .unwrap();
        let no_bucket = s3_event("PutBucketAcl", json!({"requestParameters": {}}));
        let records = [
            message("bad", "{not json"),
            message("no-id", &no_bucket),
            message("good", &s3_event("PutBucketAcl", json!({}))),
            SqsMessage::default(),
        ];
        // When the batch is processed
        let report = processor.process_batch(&records).await;
        // Then only the poison messages fail, and they are reported (never dropped)
        assert_eq!(report.failed_ids(), ["bad", "no-id", ""]);
        assert_eq!((report.summary.failed, report.summary.poison), (3, 3));
        assert_eq!(report.summary.processed, 1);
        assert!(matches!(
            processor.process_message("{not json").await,
            Err(e) if !e.is_retryable()
        ));
    }

    #[tokio::test]
    async fn aws_failures_fail_the_message_as_retryable() {
        // Given a describe that fails
        let catalog = Catalog::embedded();
        let stores = stores_with_account(true).await;
        let source = ScriptedSource::default();
        source.answer(
            BUCKET_ARN,
            Err(SourceError::Session {
                account_id: ACCOUNT.into(),
                message: "AccessDenied".into(),
            }),
        );
        let processor = EventProcessor::load(&catalog, &stores, &source)
            .await
            .unwrap();
        // When the event is processed
        let err = processor
            .process_message(&s3_event("PutBucketAcl", json!({})))
            .await
            .unwrap_err();
        // Then it is retryable
        assert!(err.is_retryable(), "{err}");
    }

    #[tokio::test]
    async fn a_bucket_missing_right_after_create_is_described_again_then_fails_retryably() {
        // Given a bucket that becomes visible on the third describe
        let catalog = Catalog::embedded();
        let stores = stores_with_account(true).await;
        let source = ScriptedSource::default();
        source.answer(BUCKET_ARN, Ok(Lookup::NotFound));
        source.answer(BUCKET_ARN, Ok(Lookup::NotFound));
        source.answer(BUCKET_ARN, Ok(bucket(NOBODY, Utc::now())));
        let processor = EventProcessor::load(&catalog, &stores, &source)
            .await
            .unwrap()
            .with_retry(fast());
        let create = s3_event("CreateBucket", json!({}));
        // When its CreateBucket event is processed
        let outcome = processor.process_message(&create).await.unwrap();
        // Then it is stored after three describes
        assert!(matches!(
            outcome,
            EventOutcome::Processed(Refresh { refreshed: 1, .. })
        ));
        assert_eq!(source.calls(), 3);
        // Given a bucket that never shows up
        let never = ScriptedSource::default();
        never.answer(BUCKET_ARN, Ok(Lookup::NotFound));
        let processor = EventProcessor::load(&catalog, &stores, &never)
            .await
            .unwrap()
            .with_retry(fast());
        // When the event is processed
        let err = processor.process_message(&create).await.unwrap_err();
        // Then the message fails, retryably, after 1 + retries describes
        assert!(
            matches!(err, EventError::NotYetVisible { attempts: 3, .. }),
            "{err}"
        );
        assert!(err.is_retryable());
        assert_eq!(never.calls(), 3);
        // And an old Create event whose bucket is gone is not retried: the bucket was deleted
        let old = s3_event("CreateBucket", json!({"eventTime": "2024-05-01T10:00:00Z"}));
        let outcome = processor.process_message(&old).await.unwrap();
        assert!(matches!(outcome, EventOutcome::Processed(_)), "{outcome:?}");
        assert_eq!(never.calls(), 4);
        // Nor is one stamped far in the future
        let future = s3_event("CreateBucket", json!({"eventTime": "2999-01-01T00:00:00Z"}));
        let outcome = processor.process_message(&future).await.unwrap();
        assert!(matches!(outcome, EventOutcome::Processed(_)), "{outcome:?}");
        assert_eq!(never.calls(), 5);
    }

    #[tokio::test]
    async fn a_deleted_bucket_is_removed_and_its_findings_resolved_once_a_describe_confirms_it() {
        // Given a stored public bucket with an open finding, which is then really deleted
        let catalog = Catalog::embedded();
        let stores = stores_with_account(true).await;
        let source = ScriptedSource::default();
        source.answer(
            BUCKET_ARN,
            Ok(bucket(ALL_USERS, Utc::now() - chrono::Duration::seconds(5))),
        );
        source.answer(BUCKET_ARN, Ok(Lookup::NotFound));
        let processor = EventProcessor::load(&catalog, &stores, &source)
            .await
            .unwrap();
        processor
            .process_message(&s3_event("PutBucketAcl", json!({})))
            .await
            .unwrap();
        assert_eq!(finding_state(&stores).await, Some(FindingState::Active));
        // When its DeleteBucket event is processed
        let outcome = processor
            .process_message(&s3_event("DeleteBucket", json!({})))
            .await
            .unwrap();
        // Then the bucket was described, found gone, removed and every finding resolved
        let EventOutcome::Processed(refresh) = outcome else {
            panic!("{outcome:?}")
        };
        assert_eq!(refresh.removed, 1);
        assert!(refresh.resolved >= 1);
        assert_eq!(source.calls(), 2);
        assert!(stores
            .resources
            .get(&format!("{ACCOUNT}_s3"), BUCKET_ARN)
            .await
            .unwrap()
            .is_none());
        let findings = stores.findings.for_resource(BUCKET_ARN).await.unwrap();
        assert!(findings.iter().all(|f| f.state == FindingState::Resolved));
    }

    #[tokio::test]
    async fn a_delete_event_for_a_bucket_that_still_exists_keeps_it_and_its_findings() {
        // Given a stored public bucket with an open finding, still there after its "deletion"
        let catalog = Catalog::embedded();
        let stores = stores_with_account(true).await;
        let source = ScriptedSource::default();
        source.answer(
            BUCKET_ARN,
            Ok(bucket(ALL_USERS, Utc::now() - chrono::Duration::seconds(5))),
        );
        source.answer(BUCKET_ARN, Ok(bucket(ALL_USERS, Utc::now())));
        let processor = EventProcessor::load(&catalog, &stores, &source)
            .await
            .unwrap();
        processor
            .process_message(&s3_event("PutBucketAcl", json!({})))
            .await
            .unwrap();
        // When a DeleteBucket event for it arrives (a lie, or a delete that failed)
        let outcome = processor
            .process_message(&s3_event("DeleteBucket", json!({})))
            .await
            .unwrap();
        // Then the describe finds it: it is refreshed, not removed, and the finding stays open
        let EventOutcome::Processed(refresh) = outcome else {
            panic!("{outcome:?}")
        };
        assert_eq!(
            (refresh.removed, refresh.refreshed, refresh.resolved),
            (0, 1, 0)
        );
        assert_eq!(source.calls(), 2);
        assert!(stores
            .resources
            .get(&format!("{ACCOUNT}_s3"), BUCKET_ARN)
            .await
            .unwrap()
            .is_some());
        assert_eq!(finding_state(&stores).await, Some(FindingState::Active));
    }

    #[tokio::test]
    async fn a_delete_event_s_time_never_dates_the_removal() {
        // Given a bucket stored from a describe made now
        let catalog = Catalog::embedded();
        let stores = stores_with_account(true).await;
        let source = ScriptedSource::default();
        source.answer(BUCKET_ARN, Ok(bucket(ALL_USERS, Utc::now())));
        let processor = EventProcessor::load(&catalog, &stores, &source)
            .await
            .unwrap();
        processor
            .process_message(&s3_event("PutBucketAcl", json!({})))
            .await
            .unwrap();
        // When DeleteBucket events stamped long ago, then far ahead, are processed and the
        // bucket is gone
        let gone = ScriptedSource::default();
        gone.answer(BUCKET_ARN, Ok(Lookup::NotFound));
        let processor = EventProcessor::load(&catalog, &stores, &gone)
            .await
            .unwrap();
        let old = s3_event("DeleteBucket", json!({"eventTime": "2020-01-01T00:00:00Z"}));
        let outcome = processor.process_message(&old).await.unwrap();
        // Then the describe's time decides: the bucket is removed and its findings resolved
        assert!(
            matches!(outcome, EventOutcome::Processed(Refresh { removed: 1, .. })),
            "{outcome:?}"
        );
        assert_eq!(finding_state(&stores).await, Some(FindingState::Resolved));
        // And a far-future stamp changes nothing further (no second removal, no error)
        let future = s3_event("DeleteBucket", json!({"eventTime": "2999-01-01T00:00:00Z"}));
        let outcome = processor.process_message(&future).await.unwrap();
        assert!(
            matches!(outcome, EventOutcome::Processed(Refresh { removed: 0, .. })),
            "{outcome:?}"
        );
    }

    #[tokio::test]
    async fn an_event_only_acts_in_the_account_that_sent_it() {
        // Given two onboarded accounts: the sender, and 444455556666 whose bucket `b` is public
        let catalog = Catalog::embedded();
        let stores = stores_with_account(true).await;
        let mut other = account(true);
        other.account_id = "444455556666".into();
        stores.accounts.put(&other).await.unwrap();
        let source = ScriptedSource::default();
        source.answer(BUCKET_ARN, Ok(Lookup::NotFound));
        let processor = EventProcessor::load(&catalog, &stores, &source)
            .await
            .unwrap();
        // When the sender's event claims to be about the other account
        let claims_other = s3_event(
            "DeleteBucket",
            json!({"recipientAccountId": "444455556666"}),
        );
        let outcome = processor.process_message(&claims_other).await.unwrap();
        // Then it is ignored, without a describe
        assert_eq!(outcome, EventOutcome::Ignored(IgnoredBecause::OtherAccount));
        // When the sender's event names a resource of the other account by ARN
        let kms = json!({
            "detail-type": "AWS API Call via CloudTrail",
            "account": ACCOUNT,
            "region": "us-east-1",
            "detail": {
                "eventSource": "kms.amazonaws.com",
                "eventName": "DisableKeyRotation",
                "awsRegion": "us-east-1",
                "recipientAccountId": ACCOUNT,
                "readOnly": false,
                "requestParameters": {"keyId": "arn:aws:kms:us-east-1:444455556666:key/k1"},
            },
        })
        .to_string();
        let outcome = processor.process_message(&kms).await.unwrap();
        // Then that resource is counted foreign and left alone
        assert!(
            matches!(
                outcome,
                EventOutcome::Processed(Refresh {
                    foreign: 1,
                    unsupported: 0,
                    ..
                })
            ),
            "{outcome:?}"
        );
        assert_eq!(source.calls(), 0);
    }

    #[tokio::test]
    async fn a_gone_resource_resolves_only_its_own_account_s_findings() {
        // Given a public-read finding of bucket `b` open in another account
        let catalog = Catalog::embedded();
        let stores = stores_with_account(true).await;
        let mut theirs = match bucket(ALL_USERS, Utc::now() - chrono::Duration::seconds(5)) {
            Lookup::Found(resource) => *resource,
            _ => unreachable!(),
        };
        theirs.account_id = "444455556666".into();
        let policies = crate::scan::active_policies(&catalog, &HashMap::new());
        reconcile_resource(
            &theirs,
            &policies,
            &HashSet::new(),
            stores.findings.as_ref(),
            Utc::now(),
            None,
        )
        .await
        .unwrap();
        // When the sender's account says its own `b` is gone
        let source = ScriptedSource::default();
        source.answer(BUCKET_ARN, Ok(Lookup::NotFound));
        let processor = EventProcessor::load(&catalog, &stores, &source)
            .await
            .unwrap();
        let outcome = processor
            .process_message(&s3_event("DeleteBucket", json!({})))
            .await
            .unwrap();
        // Then nothing of the other account is resolved or moved
        assert!(
            matches!(
                outcome,
                EventOutcome::Processed(Refresh { resolved: 0, .. })
            ),
            "{outcome:?}"
        );
        let findings = stores.findings.for_resource(BUCKET_ARN).await.unwrap();
        assert!(!findings.is_empty());
        assert!(findings.iter().all(|f| f.state == FindingState::Active
            && f.account_id == "444455556666"
            && f.account_service == "444455556666_s3"));
    }

    #[test]
    fn only_plain_event_names_reach_the_logs() {
        // Given event names, real and forged
        // When / Then
        assert_eq!(loggable_name("PutBucketAcl"), "PutBucketAcl");
        assert_eq!(
            loggable_name("CreateFunction20150331"),
            "CreateFunction20150331"
        );
        assert_eq!(loggable_name("x\nERROR forged"), "(not an event name)");
        assert_eq!(loggable_name(""), "(not an event name)");
        assert_eq!(loggable_name(&"A".repeat(129)), "(not an event name)");
    }

    #[tokio::test]
    async fn an_older_refresh_never_overwrites_a_newer_stored_state() {
        // Given a fixed bucket stored from a describe at t
        let catalog = Catalog::embedded();
        let stores = stores_with_account(true).await;
        let now = Utc::now();
        let source = ScriptedSource::default();
        source.answer(BUCKET_ARN, Ok(bucket(NOBODY, now)));
        let processor = EventProcessor::load(&catalog, &stores, &source)
            .await
            .unwrap();
        let body = s3_event("PutBucketAcl", json!({}));
        processor.process_message(&body).await.unwrap();
        // When a slow refresh read before t (still public) completes
        let late = ScriptedSource::default();
        late.answer(
            BUCKET_ARN,
            Ok(bucket(ALL_USERS, now - chrono::Duration::seconds(1))),
        );
        let processor = EventProcessor::load(&catalog, &stores, &late)
            .await
            .unwrap();
        let outcome = processor.process_message(&body).await.unwrap();
        // Then it is counted stale and opens nothing
        assert!(
            matches!(
                outcome,
                EventOutcome::Processed(Refresh {
                    stale: 1,
                    opened: 0,
                    ..
                })
            ),
            "{outcome:?}"
        );
        assert_eq!(finding_state(&stores).await, None);
    }

    #[tokio::test]
    async fn a_kind_without_collector_is_acknowledged_as_unsupported() {
        // Given the production source and an event on a kind whose events are followed ahead of
        // its collector (a VPC flow log: EC2 is collected, flow logs not yet as resources)
        let catalog = Catalog::embedded();
        let stores = stores_with_account(true).await;
        let config = Config::from_lookup(|_| None).unwrap();
        let sdk = aws_config::SdkConfig::builder().build();
        let source = AwsSource::new(&config, &sdk);
        let processor = EventProcessor::load(&catalog, &stores, &source)
            .await
            .unwrap();
        let body = json!({
            "detail-type": "AWS API Call via CloudTrail",
            "account": ACCOUNT,
            "region": "us-east-1",
            "detail": {
                "eventSource": "ec2.amazonaws.com",
                "eventName": "DeleteFlowLogs",
                "awsRegion": "us-east-1",
                "recipientAccountId": ACCOUNT,
                "readOnly": false,
                "requestParameters": {"DeleteFlowLogsRequest": {"FlowLogId": "fl-0123456789abcdef0"}},
            },
        })
        .to_string();
        // When it is processed
        let outcome = processor.process_message(&body).await.unwrap();
        // Then it is acknowledged, counted unsupported, without opening a session
        assert!(
            matches!(
                outcome,
                EventOutcome::Processed(Refresh { unsupported: 1, .. })
            ),
            "{outcome:?}"
        );
    }

    #[tokio::test]
    async fn policy_settings_are_honoured() {
        // Given the public-read policy disabled in the policies table
        let catalog = Catalog::embedded();
        let stores = stores_with_account(true).await;
        stores
            .policies
            .put_setting(
                PUBLIC_READ,
                &PolicySetting {
                    active: false,
                    ..PolicySetting::default()
                },
            )
            .await
            .unwrap();
        let source = ScriptedSource::default();
        source.answer(BUCKET_ARN, Ok(bucket(ALL_USERS, Utc::now())));
        let processor = EventProcessor::load(&catalog, &stores, &source)
            .await
            .unwrap();
        // When a public bucket's event is processed
        processor
            .process_message(&s3_event("PutBucketAcl", json!({})))
            .await
            .unwrap();
        // Then that policy opens nothing
        assert_eq!(finding_state(&stores).await, None);
    }
}
