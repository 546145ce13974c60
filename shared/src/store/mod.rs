//! Storage ports: what the domain needs from its four tables, as small async traits.
//!
//! Each port has a DynamoDB adapter ([`dynamo`]) and an in-memory adapter ([`memory`]) for unit
//! tests of logic. Table and attribute names live in [`schema`] only; items convert to and from
//! domain types in [`item`] only.

pub mod dynamo;
pub mod item;
pub mod memory;
pub mod object_data;
pub mod object_scan;
pub mod schema;

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use thiserror::Error;

use crate::model::{Account, Finding, Resource, Severity};

/// A storage failure, with the table and operation it happened in.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("{operation} on table {table} was throttled after retries: {message}")]
    Throttled {
        table: String,
        operation: &'static str,
        message: String,
    },
    #[error("{operation} on table {table} failed: {message}")]
    Backend {
        table: String,
        operation: &'static str,
        message: String,
    },
    #[error("table {table} holds an item qrie cannot read ({key}): {message}")]
    Corrupt {
        table: String,
        key: String,
        message: String,
    },
}

/// One page of a paginated read, with the opaque cursor of the next page.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

#[async_trait]
pub trait ResourceStore: Send + Sync {
    /// Upserts resources (any number; written in batches of the backend's size).
    async fn put_batch(&self, resources: &[Resource]) -> Result<(), StoreError>;
    /// Upserts one resource unless the stored copy was read from AWS later than this one.
    /// Returns false when a newer copy is already stored.
    async fn put_if_newer(&self, resource: &Resource) -> Result<bool, StoreError>;
    async fn get(&self, partition: &str, arn: &str) -> Result<Option<Resource>, StoreError>;
    /// One page of a partition.
    async fn page(
        &self,
        partition: &str,
        cursor: Option<String>,
    ) -> Result<Page<Resource>, StoreError>;
    /// The resources in a partition: each one's ARN, region and when it was last seen.
    async fn seen_times(&self, partition: &str) -> Result<Vec<Seen>, StoreError>;
    /// Deletes a resource unless it was seen at or after `seen_before`. Returns true if deleted.
    async fn delete_if_older(
        &self,
        partition: &str,
        arn: &str,
        seen_before: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
}

/// A stored resource as the inventory's sweep sees it: enough to decide whether a run that did
/// not see it may remove it (its region's listing must have been complete).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub arn: String,
    pub region: String,
    pub last_seen_at: DateTime<Utc>,
}

/// What the evaluation of one policy against one resource configuration wants stored.
#[derive(Debug, Clone, PartialEq)]
pub struct FailedEvaluation {
    pub arn: String,
    pub policy_id: String,
    pub account_id: String,
    pub account_service: String,
    pub resource_type: String,
    pub severity: Severity,
    /// The score of this evaluation: its severity with the policy's risk factors.
    pub risk_score: crate::risk::RiskScore,
    pub evidence: Value,
    pub evaluated_at: DateTime<Utc>,
    /// `last_seen_at` of the configuration that was evaluated.
    pub observed_at: DateTime<Utc>,
    /// The suppression rule that matched this evaluation, if one did.
    pub muted: Option<crate::model::RuleMatch>,
}

/// The effect of recording a failed evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenOutcome {
    /// No finding of this account existed: a new ACTIVE finding.
    Opened,
    /// A RESOLVED finding of this account failed again and is ACTIVE once more, its history
    /// kept. Carries what the write replaced that a caller announcing it needs: when it was
    /// first seen, and until when an operator's suppression (kept across a re-open) holds.
    Reopened {
        first_seen: Option<DateTime<Utc>>,
        suppressed_until: Option<DateTime<Utc>>,
    },
    /// The finding was already ACTIVE; its timestamps were updated.
    StillActive,
    /// An ACTIVE finding evaluated from a newer configuration is stored; nothing was written.
    Stale,
    /// The (ARN, policy) finding is ACTIVE in another account; nothing was written (a finding
    /// never changes account while it is open).
    OtherAccount,
}

/// What a resolution rests on, which decides the guard against newer evaluations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// The configuration read from AWS at `observed_at` passes (or the policy no longer
    /// applies to it). Refused if the finding was evaluated from a newer configuration; the
    /// finding's `ObservedAt` becomes `observed_at`.
    Passes { observed_at: DateTime<Utc> },
    /// The resource was not found at `checked_at` (a describe said so, or it is no longer in a
    /// complete inventory). Refused if the finding was evaluated from a configuration read at
    /// or after `checked_at` (a re-creation); `ObservedAt` is left as it was, since no
    /// configuration was observed.
    Gone { checked_at: DateTime<Utc> },
}

#[async_trait]
pub trait FindingStore: Send + Sync {
    /// The ACTIVE findings of one resources-table partition (`<account>_<service>`).
    async fn active_in_partition(&self, partition: &str) -> Result<Vec<Finding>, StoreError>;
    /// Every finding (any state) of one resource.
    async fn for_resource(&self, arn: &str) -> Result<Vec<Finding>, StoreError>;
    /// Marks (arn, policy) ACTIVE in `failed.account_id`.
    ///
    /// * No finding yet: a new one ([`OpenOutcome::Opened`], `FirstSeen` now).
    /// * ACTIVE in the same account: refreshed ([`OpenOutcome::StillActive`]) unless it was
    ///   evaluated from a newer configuration ([`OpenOutcome::Stale`]; the same exception for
    ///   stamps later than `evaluated_at` as below).
    /// * RESOLVED in the same account: re-opened ([`OpenOutcome::Reopened`], `FirstSeen` kept)
    ///   unless the resolution rests on a newer configuration ([`OpenOutcome::Stale`]: a slow
    ///   evaluation of an older read never re-opens what a newer read showed fixed). Only a
    ///   resolution that passed on a configuration stamps `ObservedAt` ([`Resolution::Passes`]);
    ///   "gone" resolutions keep it, so an event-stamped or gone resolution never stops a later
    ///   scan of the stored configuration from re-opening. A stamp later than `evaluated_at`
    ///   (no configuration can have been read after the evaluation) protects nothing.
    /// * ACTIVE in another account: untouched ([`OpenOutcome::OtherAccount`]).
    /// * RESOLVED in another account (the ARN now names another account's resource, e.g. a
    ///   re-used bucket name): a new finding of this account (`FirstSeen` now).
    async fn open(&self, failed: &FailedEvaluation) -> Result<OpenOutcome, StoreError>;
    /// Marks (arn, policy) RESOLVED if it is ACTIVE, belongs to `account_id`, and `basis`
    /// allows it (see [`Resolution`]). Returns true when it was resolved by this call.
    async fn resolve(
        &self,
        arn: &str,
        policy_id: &str,
        account_id: &str,
        at: DateTime<Utc>,
        basis: Resolution,
    ) -> Result<bool, StoreError>;
    /// Every finding, page by page (for reports and the demo).
    async fn page_all(&self, cursor: Option<String>) -> Result<Page<Finding>, StoreError>;
    /// Records that someone has seen (arn, policy); false when there is no such finding.
    async fn acknowledge(
        &self,
        arn: &str,
        policy_id: &str,
        acknowledgement: &crate::model::Acknowledgement,
    ) -> Result<bool, StoreError>;
    /// Accepts (arn, policy) as a risk until `suppression.until` (replacing an earlier
    /// suppression), or lifts it with `None`; false when there is no such finding.
    async fn suppress(
        &self,
        arn: &str,
        policy_id: &str,
        suppression: Option<&crate::model::Suppression>,
    ) -> Result<bool, StoreError>;
}

/// How an operator has configured one policy in the policies table.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PolicySetting {
    /// Policies are active unless a row says otherwise.
    pub active: bool,
    pub severity_override: Option<Severity>,
    /// When set, the policy applies only to these accounts.
    pub accounts: Option<Vec<String>>,
}

/// What happens to a policy whose row in the policies table cannot be read completely.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BadRowEffect {
    /// The row names no policy qrie has (or none at all): nothing to apply it to.
    Ignored,
    /// The rest of the row applies; the policy runs at its catalogue severity.
    CatalogueSeverity,
    /// The policy is held as if disabled: not evaluated, its findings stay as they were.
    Disabled,
}

/// A policies-table row that cannot be read completely: which policy, which attribute, what is
/// wrong with it (never the value itself: it is untrusted input), and what qrie does about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BadPolicyRow {
    /// The row's `PolicyId`, made safe to log ([`loggable`]).
    pub policy_id: String,
    /// The attribute at fault (an unknown attribute's own name, made safe to log).
    pub field: String,
    pub problem: &'static str,
    pub effect: BadRowEffect,
}

impl std::fmt::Display for BadPolicyRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let effect = match self.effect {
            BadRowEffect::Ignored => "row ignored",
            BadRowEffect::CatalogueSeverity => "policy runs at its catalogue severity",
            BadRowEffect::Disabled => {
                "policy held as disabled (not evaluated, findings left as they are)"
            }
        };
        write!(
            f,
            "policies table row {}: {} {}; {effect}",
            self.policy_id, self.field, self.problem
        )
    }
}

/// A name from a table row, safe to log: as it is when it is short and made of letters, digits
/// and `-_.:`; otherwise its first characters, escaped and quoted.
pub fn loggable(name: &str) -> String {
    const MAX: usize = 128;
    let plain = name.len() <= MAX
        && !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c));
    if plain {
        name.to_owned()
    } else {
        let head: String = name.chars().take(32).collect();
        format!(
            "{:?}{}",
            head,
            if name.chars().count() > 32 { "…" } else { "" }
        )
    }
}

/// Every policy setting of the policies table, and the rows that could not be read completely.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PolicySettings {
    pub settings: HashMap<String, PolicySetting>,
    pub bad_rows: Vec<BadPolicyRow>,
}

#[async_trait]
pub trait PolicyStore: Send + Sync {
    /// Every row; a row that cannot be read completely is reported in `bad_rows`, never an
    /// error of the whole read.
    async fn settings(&self) -> Result<PolicySettings, StoreError>;
    async fn put_setting(&self, policy_id: &str, setting: &PolicySetting)
        -> Result<(), StoreError>;
}

#[async_trait]
pub trait AccountStore: Send + Sync {
    async fn list(&self) -> Result<Vec<Account>, StoreError>;
    async fn get(&self, account_id: &str) -> Result<Option<Account>, StoreError>;
    async fn put(&self, account: &Account) -> Result<(), StoreError>;
}

/// The daily compliance summaries (see [`crate::compliance`]).
#[async_trait]
pub trait ComplianceStore: Send + Sync {
    /// Stores one account's summary of one framework for its day, replacing that day's earlier
    /// one.
    async fn put(&self, summary: &crate::compliance::Summary) -> Result<(), StoreError>;
    /// The account's summaries of the framework from `since` on, oldest first.
    async fn history(
        &self,
        account_id: &str,
        framework: &str,
        since: chrono::NaiveDate,
    ) -> Result<Vec<crate::compliance::Summary>, StoreError>;
}

/// The stores, as the handlers use them.
#[derive(Clone)]
pub struct Stores {
    pub resources: std::sync::Arc<dyn ResourceStore>,
    pub findings: std::sync::Arc<dyn FindingStore>,
    pub policies: std::sync::Arc<dyn PolicyStore>,
    pub accounts: std::sync::Arc<dyn AccountStore>,
    pub compliance: std::sync::Arc<dyn ComplianceStore>,
    /// What the object scanner found per bucket (for policies following `Related.ObjectData`).
    pub object_data: std::sync::Arc<dyn object_data::ObjectDataStore>,
}

impl Stores {
    /// DynamoDB-backed stores for the given tables.
    pub fn dynamodb(client: aws_sdk_dynamodb::Client, tables: &crate::config::TableNames) -> Self {
        use std::sync::Arc;
        Self {
            resources: Arc::new(dynamo::DynamoResources::new(
                client.clone(),
                &tables.resources,
            )),
            findings: Arc::new(dynamo::DynamoFindings::new(
                client.clone(),
                &tables.findings,
            )),
            policies: Arc::new(dynamo::DynamoPolicies::new(
                client.clone(),
                &tables.policies,
            )),
            accounts: Arc::new(dynamo::DynamoAccounts::new(
                client.clone(),
                &tables.accounts,
            )),
            compliance: Arc::new(dynamo::DynamoCompliance::new(
                client.clone(),
                &tables.compliance,
            )),
            object_data: Arc::new(object_data::DynamoObjectData::new(
                client,
                &tables.object_findings,
            )),
        }
    }

    /// In-memory stores (unit tests of logic only).
    pub fn in_memory() -> Self {
        use std::sync::Arc;
        Self {
            resources: Arc::new(memory::MemoryResources::default()),
            findings: Arc::new(memory::MemoryFindings::default()),
            policies: Arc::new(memory::MemoryPolicies::default()),
            accounts: Arc::new(memory::MemoryAccounts::default()),
            compliance: Arc::new(memory::MemoryCompliance::default()),
            object_data: Arc::new(object_data::MemoryObjectData::default()),
        }
    }
}

/// Timestamps are stored as RFC 3339 UTC with microseconds, so that string order is time order
/// in DynamoDB condition expressions.
pub fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}
