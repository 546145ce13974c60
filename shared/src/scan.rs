//! The policy scan: evaluate the active policies against the inventory and keep the findings
//! table in step, partition by partition.
//!
//! For each `<account>_<service>` partition the scanner loads the partition's ACTIVE findings
//! (one GSI query), streams the partition's resources page by page, evaluates every applicable
//! policy, and then: a new failure opens an ACTIVE finding (with `FirstSeen`), a repeated failure
//! only moves `LastEvaluated`, and an ACTIVE finding whose resource now passes, or no longer
//! exists, is RESOLVED. The same [`reconcile_resource`] step serves the event processor.
//!
//! A policy that reads a part of a configuration the collector could not read is not evaluated
//! for that resource: nothing opens, resolves or moves; it is counted (`not_evaluated`) and the
//! resource is named in the summary's `unevaluated`. A policies-table row that cannot be read is
//! reported in `bad_policy_rows` (see [`crate::store::item::policy_row`] for what each bad
//! attribute does) and the rest runs. A request that would do nothing (a service no active policy
//! covers, an account that is not onboarded) is refused rather than answered with an empty run.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Instant;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tracing::{info, info_span, warn, Instrument};

use crate::model::{partition_key, Resource, Service, Severity};
use crate::policy::suppressions::SuppressionRule;
use crate::policy::{Catalog, Outcome, Policy};
use crate::relate::RelatedIndex;
use crate::store::{
    BadPolicyRow, BadRowEffect, FailedEvaluation, FindingStore, OpenOutcome, PolicySetting,
    PolicySettings, Resolution, Stores,
};

/// Finding writes in flight at once within a partition.
const WRITE_CONCURRENCY: usize = 16;
/// Resources named in a summary's `unevaluated` list at most (the count is always complete).
pub const MAX_REPORTED_UNEVALUATED: usize = 100;

/// The invocation payload: `{}`, `{"policy_id": "..."}`, `{"service": "..."}`, optionally with
/// `"account_id"`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ScanRequest {
    #[serde(default)]
    pub policy_id: Option<String>,
    #[serde(default)]
    pub service: Option<String>,
    #[serde(default)]
    pub account_id: Option<String>,
}

impl ScanRequest {
    /// What the request covers, in words (a digest's `scope`).
    pub fn scope(&self) -> String {
        let mut parts = Vec::new();
        match (&self.policy_id, &self.service) {
            (Some(p), _) => parts.push(format!("policy {p}")),
            (None, Some(s)) => parts.push(format!("service {s}")),
            (None, None) => parts.push("all policies".to_owned()),
        }
        if let Some(a) = &self.account_id {
            parts.push(format!("account {a}"));
        }
        parts.join(", ")
    }
}

/// A request that cannot be run at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScanRequestError {
    #[error("unknown policy {0:?}")]
    UnknownPolicy(String),
    #[error("policy {0} is disabled in the policies table")]
    DisabledPolicy(String),
    #[error("policy {id} is held: its row in the policies table cannot be read ({fields})")]
    HeldPolicy { id: String, fields: String },
    #[error("no active policy covers {0}: nothing to scan")]
    NothingToScan(String),
    #[error("account {0} is not onboarded (not in the accounts table)")]
    UnknownAccount(String),
    #[error("account {0} is onboarded but disabled")]
    DisabledAccount(String),
    #[error("{0}")]
    UnknownService(#[from] crate::model::UnknownService),
    #[error("reading the {table} table failed: {message}")]
    Store {
        table: &'static str,
        message: String,
    },
}

/// Counts of one scan (or of one resource's re-evaluation).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    /// (resource, policy) evaluations.
    pub evaluated: usize,
    pub new: usize,
    pub still_active: usize,
    pub resolved: usize,
    /// Writes skipped because a newer evaluation was already stored.
    pub stale: usize,
    /// (resource, policy) pairs not evaluated: the policy reads a part of the configuration
    /// that could not be collected. Their findings were left as they were.
    pub not_evaluated: usize,
    /// Of `new`, the resolved findings that failed again.
    pub reopened: usize,
    /// The findings these writes opened or re-opened that no suppression covers (what the
    /// notifications announce, [`crate::notify`]); not summed by [`Tally::add`].
    #[serde(skip)]
    pub opened: Vec<crate::notify::OpenedFinding>,
}

impl Tally {
    fn add(&mut self, other: &Tally) {
        self.evaluated += other.evaluated;
        self.new += other.new;
        self.still_active += other.still_active;
        self.resolved += other.resolved;
        self.stale += other.stale;
        self.not_evaluated += other.not_evaluated;
        self.reopened += other.reopened;
    }
}

/// What a scan returns.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ScanSummary {
    #[serde(flatten)]
    pub tally: Tally,
    pub resources: usize,
    pub policies: Vec<String>,
    pub partitions: usize,
    pub by_partition: BTreeMap<String, Tally>,
    pub errors: Vec<String>,
    /// The resources some policies were not evaluated for, with the parts that could not be read
    /// (at most [`MAX_REPORTED_UNEVALUATED`], then a line saying how many more).
    pub unevaluated: Vec<String>,
    /// Rows of the policies table that could not be read completely, and what was done instead.
    pub bad_policy_rows: Vec<BadPolicyRow>,
    /// The compliance summaries stored after a full scan (`{}`), one per account and framework;
    /// empty for a scan of one policy or service, which does not judge every control.
    pub compliance: Vec<ScoreLine>,
    /// The digests of this scan's new and re-opened findings (see [`crate::notify`]), once the
    /// handler has sent them.
    pub notifications: crate::notify::Delivery,
    /// What was imported into Security Hub after the scan, when the deployment enables it
    /// (`QRIE_SECURITY_HUB`, see [`crate::securityhub`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub security_hub: Option<crate::securityhub::ImportReport>,
    /// The findings this scan opened or re-opened that no suppression covers, without their
    /// evidence: what the digests list.
    #[serde(skip)]
    pub opened: Vec<crate::notify::OpenedFinding>,
    pub duration_ms: u128,
}

/// One stored compliance summary, as the scan reports it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScoreLine {
    pub account_id: String,
    pub framework: String,
    /// passed / (passed + failed) controls; none when no control was decided.
    pub score: Option<f64>,
    pub passed: usize,
    pub failed: usize,
}

// A score is a ratio of counts, never NaN.
impl Eq for ScoreLine {}

/// A policy as this deployment runs it: its severity after overrides, and its account scope.
#[derive(Debug, Clone)]
pub struct ActivePolicy<'c> {
    pub policy: &'c Policy,
    pub severity: Severity,
    pub accounts: Option<Vec<String>>,
    /// The suppression rules that cover this policy (matched per resource at evaluation).
    pub suppressions: Vec<&'c SuppressionRule>,
}

impl ActivePolicy<'_> {
    pub fn applies_to(&self, resource: &Resource) -> bool {
        self.policy.resource_type == resource.resource_type
            && self
                .accounts
                .as_ref()
                .is_none_or(|a| a.contains(&resource.account_id))
    }
}

/// The policies a run applies, and the policies-table rows it could not apply as written.
#[derive(Debug, Clone)]
pub struct PolicySet<'c> {
    pub policies: Vec<ActivePolicy<'c>>,
    pub bad_rows: Vec<BadPolicyRow>,
}

/// The catalog's policies as configured by the policies table, with its bad rows reported:
/// those the store could not read, and rows naming a policy the catalog does not have.
pub fn configure<'c>(catalog: &'c Catalog, table: &PolicySettings) -> PolicySet<'c> {
    let mut bad_rows = table.bad_rows.clone();
    let mut unknown: Vec<&String> = table
        .settings
        .keys()
        .filter(|id| catalog.get(id).is_none())
        .collect();
    unknown.sort();
    bad_rows.extend(unknown.into_iter().map(|id| BadPolicyRow {
        policy_id: crate::store::loggable(id),
        field: crate::store::schema::policies::PK.into(),
        problem: "names no policy in the catalog",
        effect: BadRowEffect::Ignored,
    }));
    PolicySet {
        policies: active_policies(catalog, &table.settings),
        bad_rows,
    }
}

/// The catalog's policies as configured by the policies table (active unless disabled).
pub fn active_policies<'c>(
    catalog: &'c Catalog,
    settings: &HashMap<String, PolicySetting>,
) -> Vec<ActivePolicy<'c>> {
    let rules = |policy: &Policy| -> Vec<&'c SuppressionRule> {
        catalog
            .suppressions()
            .iter()
            .filter(|r| r.covers(&policy.id))
            .collect()
    };
    catalog
        .policies()
        .iter()
        .filter_map(|policy| match settings.get(&policy.id) {
            Some(s) if !s.active => None,
            Some(s) => Some(ActivePolicy {
                policy,
                severity: s.severity_override.unwrap_or(policy.severity),
                accounts: s.accounts.clone(),
                suppressions: rules(policy),
            }),
            None => Some(ActivePolicy {
                policy,
                severity: policy.severity,
                accounts: None,
                suppressions: rules(policy),
            }),
        })
        .collect()
}

/// Evaluates every applicable policy against one resource and writes the outcome: opens or
/// refreshes failures, resolves the `active` findings that now pass.
///
/// A policy that follows related resources is evaluated on the resource's document from
/// `related` (its account's index); without one (the related resources could not be read) it is
/// not evaluated.
pub async fn reconcile_resource(
    resource: &Resource,
    policies: &[ActivePolicy<'_>],
    active: &HashSet<String>,
    findings: &dyn FindingStore,
    now: DateTime<Utc>,
    related: Option<&RelatedIndex>,
) -> Result<Tally, crate::store::StoreError> {
    let mut tally = Tally::default();
    let passes = Resolution::Passes {
        observed_at: resource.last_seen_at,
    };
    for p in policies
        .iter()
        .filter(|p| p.policy.resource_type == resource.resource_type)
    {
        if !p.applies_to(resource) {
            // Scoped away from this account since the finding opened: it no longer applies.
            if active.contains(&p.policy.id)
                && findings
                    .resolve(
                        &resource.arn,
                        &p.policy.id,
                        &resource.account_id,
                        now,
                        passes,
                    )
                    .await?
            {
                tally.resolved += 1;
            }
            continue;
        }
        let outcome = if p.policy.follows_relations() {
            match related {
                Some(index) => p
                    .policy
                    .evaluate_at(&index.document(resource, &p.policy.related), now),
                None => Outcome::NotEvaluated {
                    unreadable: Vec::new(),
                },
            }
        } else {
            p.policy.evaluate_at(&resource.configuration, now)
        };
        match outcome {
            Outcome::NotEvaluated { .. } => tally.not_evaluated += 1,
            Outcome::Fail { evidence } => {
                tally.evaluated += 1;
                let failed = FailedEvaluation {
                    arn: resource.arn.clone(),
                    policy_id: p.policy.id.clone(),
                    account_id: resource.account_id.clone(),
                    account_service: resource.partition_key(),
                    resource_type: resource.resource_type.clone(),
                    severity: p.severity,
                    risk_score: crate::risk::score(p.severity, p.policy.risk),
                    evidence,
                    evaluated_at: now,
                    observed_at: resource.last_seen_at,
                    muted: p
                        .suppressions
                        .iter()
                        .find(|r| r.matches(&p.policy.id, resource, now))
                        .map(|r| crate::model::RuleMatch {
                            rule: r.id.clone(),
                            reason: r.reason.clone(),
                            until: r.until,
                        }),
                };
                let outcome = findings.open(&failed).await?;
                tally.opened.extend(crate::notify::OpenedFinding::announced(
                    resource, p.policy, &failed, outcome,
                ));
                match outcome {
                    OpenOutcome::Opened => tally.new += 1,
                    OpenOutcome::Reopened { .. } => {
                        tally.new += 1;
                        tally.reopened += 1;
                    }
                    OpenOutcome::StillActive => tally.still_active += 1,
                    OpenOutcome::Stale => tally.stale += 1,
                    OpenOutcome::OtherAccount => {
                        // Two accounts claim one ARN: the open finding stays with its account.
                        warn!(arn = %resource.arn, policy = %p.policy.id, account = %resource.account_id,
                            "finding is open in another account; left there");
                        tally.stale += 1;
                    }
                }
            }
            Outcome::Pass => {
                tally.evaluated += 1;
                if active.contains(&p.policy.id)
                    && findings
                        .resolve(
                            &resource.arn,
                            &p.policy.id,
                            &resource.account_id,
                            now,
                            passes,
                        )
                        .await?
                {
                    tally.resolved += 1;
                }
            }
        }
    }
    Ok(tally)
}

/// Why some applicable policies were not evaluated for `resource`: the policies and the parts
/// of its configuration they read that could not be collected (the failed call and its code).
/// `None` when every applicable policy could be evaluated.
pub fn unevaluated_report(resource: &Resource, policies: &[ActivePolicy<'_>]) -> Option<String> {
    let mut ids = Vec::new();
    let mut parts: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for p in policies.iter().filter(|p| p.applies_to(resource)) {
        let unreadable = p.policy.unreadable_inputs(&resource.configuration);
        if unreadable.is_empty() {
            continue;
        }
        ids.push(p.policy.id.as_str());
        for part in unreadable {
            let paths = parts
                .entry(format!("{}: {}", part.operation, part.code))
                .or_default();
            if !paths.contains(&part.path) {
                paths.push(part.path);
            }
        }
    }
    if ids.is_empty() {
        return None;
    }
    let why: Vec<String> = parts
        .into_iter()
        .map(|(call, paths)| format!("{} could not be read ({call})", paths.join(", ")))
        .collect();
    Some(format!(
        "{}: {} not evaluated: {}",
        resource.arn,
        ids.join(", "),
        why.join("; ")
    ))
}

/// The types the policies that follow relations reach (what an account's index must hold).
pub fn related_types<'a>(
    policies: &[ActivePolicy<'a>],
) -> std::collections::BTreeSet<&'static str> {
    policies
        .iter()
        .filter(|p| p.policy.follows_relations())
        .flat_map(|p| p.policy.related.types())
        .collect()
}

/// Resolves the ACTIVE findings, in `account_id`, of a resource found missing at `checked_at`.
pub async fn resolve_gone(
    arn: &str,
    account_id: &str,
    policy_ids: impl IntoIterator<Item = &str>,
    findings: &dyn FindingStore,
    now: DateTime<Utc>,
    checked_at: DateTime<Utc>,
) -> Result<usize, crate::store::StoreError> {
    let mut resolved = 0;
    let gone = Resolution::Gone { checked_at };
    for id in policy_ids {
        if findings.resolve(arn, id, account_id, now, gone).await? {
            resolved += 1;
        }
    }
    Ok(resolved)
}

/// Everything a scan needs.
pub struct Scanner<'a> {
    pub catalog: &'a Catalog,
    pub stores: &'a Stores,
}

impl Scanner<'_> {
    pub async fn run(&self, request: &ScanRequest) -> Result<ScanSummary, ScanRequestError> {
        let started = Instant::now();
        let now = Utc::now();
        let settings =
            self.stores
                .policies
                .settings()
                .await
                .map_err(|e| ScanRequestError::Store {
                    table: "policies",
                    message: e.to_string(),
                })?;
        let PolicySet {
            mut policies,
            bad_rows,
        } = configure(self.catalog, &settings);
        for row in &bad_rows {
            warn!(policy = %row.policy_id, field = %row.field, effect = ?row.effect, problem = row.problem, "bad policies-table row");
        }
        if let Some(id) = &request.policy_id {
            if self.catalog.get(id).is_none() {
                return Err(ScanRequestError::UnknownPolicy(id.clone()));
            }
            policies.retain(|p| p.policy.id == *id);
            if policies.is_empty() {
                let fields: Vec<&str> = bad_rows
                    .iter()
                    .filter(|r| r.policy_id == *id && r.effect == BadRowEffect::Disabled)
                    .map(|r| r.field.as_str())
                    .collect();
                return Err(if fields.is_empty() {
                    ScanRequestError::DisabledPolicy(id.clone())
                } else {
                    ScanRequestError::HeldPolicy {
                        id: id.clone(),
                        fields: fields.join(", "),
                    }
                });
            }
        }
        if let Some(service) = &request.service {
            let service: Service = service.parse()?;
            policies.retain(|p| p.policy.service == service);
            if policies.is_empty() {
                return Err(ScanRequestError::NothingToScan(format!(
                    "service {service}{}",
                    request
                        .policy_id
                        .as_ref()
                        .map(|id| format!(" with policy {id}"))
                        .unwrap_or_default()
                )));
            }
        }
        if policies.is_empty() {
            return Err(ScanRequestError::NothingToScan(
                "any service (every policy is disabled or held)".into(),
            ));
        }
        let mut services: Vec<Service> = policies.iter().map(|p| p.policy.service).collect();
        services.sort();
        services.dedup();
        let store_error = |e: crate::store::StoreError| ScanRequestError::Store {
            table: "accounts",
            message: e.to_string(),
        };
        let accounts = match &request.account_id {
            Some(id) => match self.stores.accounts.get(id).await.map_err(store_error)? {
                Some(a) if a.enabled => vec![a],
                Some(_) => return Err(ScanRequestError::DisabledAccount(id.clone())),
                None => return Err(ScanRequestError::UnknownAccount(id.clone())),
            },
            None => self.stores.accounts.list().await.map_err(store_error)?,
        };
        let mut summary = ScanSummary {
            policies: policies.iter().map(|p| p.policy.id.clone()).collect(),
            bad_policy_rows: bad_rows,
            errors: self
                .catalog
                .rejected
                .iter()
                .map(|e| format!("policy not loaded: {e}"))
                .collect(),
            ..ScanSummary::default()
        };
        let mut unevaluated_resources = 0;
        let full = request.policy_id.is_none() && request.service.is_none();
        let related_types = related_types(&policies);
        for account in accounts.iter().filter(|a| a.enabled) {
            let mut types: HashMap<String, usize> = HashMap::new();
            let mut partition_errors = 0;
            let related = if related_types.is_empty() {
                None
            } else {
                match crate::relate::load_index(self.stores, &account.account_id, &related_types)
                    .await
                {
                    Ok(index) => Some(index),
                    Err(e) => {
                        partition_errors += 1;
                        summary.errors.push(format!(
                            "{}: policies that follow related resources not evaluated: {e}",
                            account.account_id
                        ));
                        None
                    }
                }
            };
            for &service in &services {
                let partition = partition_key(&account.account_id, service);
                let span = info_span!("partition", %partition);
                let result = self
                    .partition(
                        &account.account_id,
                        &partition,
                        &policies,
                        now,
                        related.as_ref(),
                    )
                    .instrument(span)
                    .await;
                summary.partitions += 1;
                summary.resources += result.resources;
                summary.tally.add(&result.tally);
                summary.opened.extend(result.opened);
                partition_errors += result.errors.len();
                summary.errors.extend(result.errors);
                for (kind, n) in result.by_type {
                    *types.entry(kind).or_default() += n;
                }
                unevaluated_resources += result.unevaluated.len();
                let room = MAX_REPORTED_UNEVALUATED.saturating_sub(summary.unevaluated.len());
                summary
                    .unevaluated
                    .extend(result.unevaluated.into_iter().take(room));
                summary.by_partition.insert(partition, result.tally);
            }
            if full && partition_errors > 0 {
                summary.errors.push(format!(
                    "{}: compliance not recorded: the scan of its partitions had errors",
                    account.account_id
                ));
            } else if full {
                match self
                    .record_compliance(&account.account_id, &services, &policies, &types, now)
                    .await
                {
                    Ok(lines) => summary.compliance.extend(lines),
                    Err(e) => summary.errors.push(e),
                }
            }
        }
        if unevaluated_resources > summary.unevaluated.len() {
            let more = unevaluated_resources - summary.unevaluated.len();
            summary
                .unevaluated
                .push(format!("... and {more} more resources not fully evaluated"));
        }
        summary.duration_ms = started.elapsed().as_millis();
        info!(
            evaluated = summary.tally.evaluated,
            new = summary.tally.new,
            still_active = summary.tally.still_active,
            resolved = summary.tally.resolved,
            not_evaluated = summary.tally.not_evaluated,
            bad_policy_rows = summary.bad_policy_rows.len(),
            errors = summary.errors.len(),
            duration_ms = summary.duration_ms as u64,
            "scan finished"
        );
        Ok(summary)
    }

    /// Judges every framework for the account on its current findings and stores the day's
    /// summaries (see [`crate::compliance`]).
    async fn record_compliance(
        &self,
        account_id: &str,
        services: &[Service],
        policies: &[ActivePolicy<'_>],
        types: &HashMap<String, usize>,
        now: DateTime<Utc>,
    ) -> Result<Vec<ScoreLine>, String> {
        let mut findings = Vec::new();
        for &service in services {
            let partition = partition_key(account_id, service);
            let active = self
                .stores
                .findings
                .active_in_partition(&partition)
                .await
                .map_err(|e| {
                    format!("{account_id}: compliance not recorded: reading {partition}: {e}")
                })?;
            // A suppressed finding is still evaluated and kept, but it does not count.
            findings.extend(active.into_iter().filter(|f| !f.is_suppressed_at(now)));
        }
        let mut lines = Vec::new();
        for (framework, _) in crate::compliance::FRAMEWORKS {
            let assessment = match crate::compliance::assess(
                self.catalog,
                framework,
                account_id,
                policies,
                types,
                &findings,
            ) {
                Ok(a) => a,
                // A catalogue loaded from a folder may lack a framework: nothing to judge.
                Err(_) => continue,
            };
            let stored = assessment.summary(now);
            self.stores.compliance.put(&stored).await.map_err(|e| {
                format!("{account_id}: compliance summary of {framework} not stored: {e}")
            })?;
            lines.push(ScoreLine {
                account_id: account_id.to_owned(),
                framework: (*framework).to_owned(),
                score: stored.score,
                passed: stored.passed,
                failed: stored.failed,
            });
        }
        Ok(lines)
    }

    async fn partition(
        &self,
        account_id: &str,
        partition: &str,
        policies: &[ActivePolicy<'_>],
        now: DateTime<Utc>,
        related: Option<&RelatedIndex>,
    ) -> PartitionResult {
        let mut result = PartitionResult::default();
        let in_scope: HashSet<&str> = policies.iter().map(|p| p.policy.id.as_str()).collect();
        let findings = self.stores.findings.as_ref();
        // (arn → policy ids) of the ACTIVE findings this scan is responsible for.
        let mut active: HashMap<String, HashSet<String>> = HashMap::new();
        match findings.active_in_partition(partition).await {
            Ok(list) => {
                for f in list
                    .into_iter()
                    .filter(|f| in_scope.contains(f.policy_id.as_str()))
                {
                    active.entry(f.arn).or_default().insert(f.policy_id);
                }
            }
            Err(e) => {
                result
                    .errors
                    .push(format!("{partition}: loading active findings: {e}"));
                return result;
            }
        }
        let empty = HashSet::new();
        let mut evaluated_arns = HashSet::new();
        let mut cursor = None;
        loop {
            let page = match self.stores.resources.page(partition, cursor.take()).await {
                Ok(page) => page,
                Err(e) => {
                    // Without the full inventory, absent resources cannot be told apart from
                    // unread ones: resolve nothing as gone.
                    result
                        .errors
                        .push(format!("{partition}: reading resources: {e}"));
                    return result;
                }
            };
            result.resources += page.items.len();
            for resource in &page.items {
                *result
                    .by_type
                    .entry(resource.resource_type.clone())
                    .or_default() += 1;
            }
            let outcomes: Vec<_> = futures::stream::iter(page.items.iter())
                .map(|resource| {
                    let active = active.get(&resource.arn).unwrap_or(&empty);
                    async move {
                        let outcome =
                            reconcile_resource(resource, policies, active, findings, now, related)
                                .await;
                        let unevaluated = match &outcome {
                            Ok(t) if t.not_evaluated > 0 => unevaluated_report(resource, policies),
                            _ => None,
                        };
                        (resource.arn.as_str(), outcome, unevaluated)
                    }
                })
                .buffer_unordered(WRITE_CONCURRENCY)
                .collect()
                .await;
            for (arn, outcome, unevaluated) in outcomes {
                evaluated_arns.insert(arn.to_owned());
                if let Some(report) = unevaluated {
                    warn!(%report, "resource not fully evaluated");
                    result.unevaluated.push(report);
                }
                match outcome {
                    Ok(t) => {
                        result.tally.add(&t);
                        result.opened.extend(
                            t.opened
                                .into_iter()
                                .map(crate::notify::OpenedFinding::without_evidence),
                        );
                    }
                    Err(e) => result.errors.push(format!("{arn}: {e}")),
                }
            }
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        // ACTIVE findings whose resource is gone from the inventory.
        for (arn, ids) in active
            .iter()
            .filter(|(arn, _)| !evaluated_arns.contains(*arn))
        {
            let ids = ids.iter().map(String::as_str);
            match resolve_gone(arn, account_id, ids, findings, now, now).await {
                Ok(n) => result.tally.resolved += n,
                Err(e) => result.errors.push(format!("{arn}: {e}")),
            }
        }
        if !result.errors.is_empty() {
            warn!(
                errors = result.errors.len(),
                "partition scanned with errors"
            );
        }
        result
    }
}

#[derive(Default)]
struct PartitionResult {
    resources: usize,
    /// Resources read, by CloudFormation type (what compliance counts as evaluated).
    by_type: HashMap<String, usize>,
    tally: Tally,
    /// What the partition's writes opened or re-opened (without evidence), for the digest.
    opened: Vec<crate::notify::OpenedFinding>,
    errors: Vec<String>,
    unevaluated: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Account, FindingState};
    use serde_json::json;

    fn bucket(name: &str, config: serde_json::Value) -> Resource {
        Resource {
            arn: format!("arn:aws:s3:::{name}"),
            account_id: "111122223333".into(),
            service: Service::S3,
            resource_type: "AWS::S3::Bucket".into(),
            region: "us-east-1".into(),
            configuration: config,
            last_seen_at: Utc::now(),
        }
    }

    async fn stores_with(resources: &[Resource]) -> Stores {
        let stores = Stores::in_memory();
        stores
            .accounts
            .put(&Account {
                account_id: "111122223333".into(),
                role_arn: String::new(),
                external_id: None,
                regions: vec![],
                enabled: true,
                name: None,
            })
            .await
            .unwrap();
        stores.resources.put_batch(resources).await.unwrap();
        stores
    }

    #[tokio::test]
    async fn a_full_scan_stores_the_days_compliance_of_each_framework_and_a_narrow_one_none() {
        // Given an unversioned bucket (fails FSBP S3.14 and more) in an onboarded account
        let catalog = Catalog::embedded();
        let stores = stores_with(&[bucket("b", json!({"Versioning": {"Status": null}}))]).await;
        let scanner = Scanner {
            catalog: &catalog,
            stores: &stores,
        };
        // When one policy is scanned, Then no summary is stored (not every control was judged)
        let narrow = ScanRequest {
            policy_id: Some("S3BucketVersioningEnabled".into()),
            ..Default::default()
        };
        assert!(scanner.run(&narrow).await.unwrap().compliance.is_empty());
        let day = Utc::now().date_naive();
        let fsbp = |stores: &Stores| {
            let stores = stores.clone();
            async move {
                stores
                    .compliance
                    .history("111122223333", "fsbp", day)
                    .await
                    .unwrap()
            }
        };
        assert!(fsbp(&stores).await.is_empty());
        // When the whole account is scanned
        let full = scanner.run(&ScanRequest::default()).await.unwrap();
        // Then one summary per framework is reported and stored for today
        let frameworks: Vec<&str> = full
            .compliance
            .iter()
            .map(|l| l.framework.as_str())
            .collect();
        assert_eq!(
            frameworks,
            ["cis-aws-v5.0", "fsbp", "nist-800-53-r5", "pci-dss-4.0"]
        );
        let stored = fsbp(&stores).await;
        assert_eq!(stored.len(), 1);
        let summary = &stored[0];
        assert_eq!(summary.day, day);
        assert!(
            summary
                .failed_controls
                .get("S3.14")
                .is_some_and(|&n| n == 1),
            "{summary:?}"
        );
        assert!(summary.failed > 0 && summary.passed > 0, "{summary:?}");
        assert!(
            summary.not_evaluated > 0,
            "FSBP controls of services without a policy"
        );
        let line = full
            .compliance
            .iter()
            .find(|l| l.framework == "fsbp")
            .unwrap();
        assert_eq!((line.passed, line.failed), (summary.passed, summary.failed));
        // And once the bucket is versioned, the day's summary is replaced without S3.14
        stores
            .resources
            .put_batch(&[bucket("b", json!({"Versioning": {"Status": "Enabled"}}))])
            .await
            .unwrap();
        scanner.run(&ScanRequest::default()).await.unwrap();
        let again = fsbp(&stores).await;
        assert_eq!(again.len(), 1);
        assert!(!again[0].failed_controls.contains_key("S3.14"), "{again:?}");
    }

    #[tokio::test]
    async fn a_finding_a_rule_suppresses_is_recorded_marked_and_left_out_of_compliance() {
        // Given a rule suppressing the versioning policy on buckets named `legacy-*` until next
        // year, and two unversioned buckets, one of them legacy
        let until = (Utc::now() + chrono::Duration::days(365)).date_naive();
        let rules = format!(
            "rules:\n  - {{id: legacy, reason: archived data, by: alice, until: {until}, \
             policies: [S3BucketVersioningEnabled], resources: ['arn:aws:s3:::legacy-*']}}\n"
        );
        let catalog = Catalog::embedded_of_with_rules(&["s3"], &rules);
        assert!(catalog.rejected.is_empty(), "{:#?}", catalog.rejected);
        let unversioned = json!({"Versioning": {"Status": null}});
        let stores = stores_with(&[
            bucket("legacy-a", unversioned.clone()),
            bucket("live-b", unversioned),
        ])
        .await;
        let scanner = Scanner {
            catalog: &catalog,
            stores: &stores,
        };
        // When the account is scanned
        scanner.run(&ScanRequest::default()).await.unwrap();
        // Then both findings are open, the legacy one marked with the rule and suppressed
        let finding = |arn: &'static str| {
            let stores = stores.clone();
            async move {
                stores
                    .findings
                    .for_resource(arn)
                    .await
                    .unwrap()
                    .into_iter()
                    .find(|f| f.policy_id == "S3BucketVersioningEnabled")
                    .unwrap()
            }
        };
        let legacy = finding("arn:aws:s3:::legacy-a").await;
        let live = finding("arn:aws:s3:::live-b").await;
        assert_eq!(legacy.state, FindingState::Active);
        assert_eq!(
            legacy.muted.as_ref().map(|m| m.rule.as_str()),
            Some("legacy")
        );
        assert!(legacy.is_suppressed_at(Utc::now()));
        assert!(live.muted.is_none() && !live.is_suppressed_at(Utc::now()));
        // And FSBP S3.14 fails through the live bucket alone
        let fsbp = stores
            .compliance
            .history("111122223333", "fsbp", Utc::now().date_naive())
            .await
            .unwrap();
        assert_eq!(
            fsbp[0].failed_controls.get("S3.14"),
            Some(&1),
            "{:?}",
            fsbp[0]
        );
    }

    #[tokio::test]
    async fn a_failure_opens_once_then_stays_active_then_resolves() {
        // Given an unversioned bucket
        let catalog = Catalog::embedded();
        let stores = stores_with(&[bucket("b", json!({"Versioning": {"Status": null}}))]).await;
        let scanner = Scanner {
            catalog: &catalog,
            stores: &stores,
        };
        let request = ScanRequest {
            policy_id: Some("S3BucketVersioningEnabled".into()),
            ..Default::default()
        };
        // When scanned twice
        let first = scanner.run(&request).await.unwrap();
        let second = scanner.run(&request).await.unwrap();
        // Then the finding opens once and the second run only refreshes it
        assert_eq!((first.tally.new, first.tally.still_active), (1, 0));
        assert_eq!((second.tally.new, second.tally.still_active), (0, 1));
        let f = &stores
            .findings
            .for_resource("arn:aws:s3:::b")
            .await
            .unwrap()[0];
        assert_eq!(f.state, FindingState::Active);
        assert_eq!(f.evidence, json!({"Versioning.Status": null}));
        // And when the bucket is fixed, the next scan resolves it
        stores
            .resources
            .put_batch(&[bucket("b", json!({"Versioning": {"Status": "Enabled"}}))])
            .await
            .unwrap();
        let third = scanner.run(&request).await.unwrap();
        assert_eq!(third.tally.resolved, 1);
        let f = &stores
            .findings
            .for_resource("arn:aws:s3:::b")
            .await
            .unwrap()[0];
        assert_eq!(f.state, FindingState::Resolved);
    }

    #[tokio::test]
    async fn disabled_and_overridden_policies_are_honoured() {
        let catalog = Catalog::embedded();
        let stores = stores_with(&[bucket("b", json!({}))]).await;
        stores
            .policies
            .put_setting(
                "S3BucketVersioningEnabled",
                &PolicySetting {
                    active: false,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        stores
            .policies
            .put_setting(
                "S3BucketLoggingEnabled",
                &PolicySetting {
                    active: true,
                    severity_override: Some(Severity::High),
                    accounts: None,
                },
            )
            .await
            .unwrap();
        let scanner = Scanner {
            catalog: &catalog,
            stores: &stores,
        };
        let summary = scanner.run(&ScanRequest::default()).await.unwrap();
        assert!(!summary
            .policies
            .contains(&"S3BucketVersioningEnabled".to_owned()));
        let found = stores
            .findings
            .for_resource("arn:aws:s3:::b")
            .await
            .unwrap();
        assert!(found
            .iter()
            .all(|f| f.policy_id != "S3BucketVersioningEnabled"));
        let logging = found
            .iter()
            .find(|f| f.policy_id == "S3BucketLoggingEnabled")
            .unwrap();
        assert_eq!(logging.severity, Severity::High);
        let err = scanner
            .run(&ScanRequest {
                policy_id: Some("S3BucketVersioningEnabled".into()),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(
            err,
            ScanRequestError::DisabledPolicy("S3BucketVersioningEnabled".into())
        );
    }

    /// A catalog of one medium bucket policy (fails an unversioned bucket) with `risk` (a
    /// `risk:` line, or nothing).
    fn versioned_policy(risk: &str) -> Catalog {
        let catalog = Catalog::from_files([
            (
                "frameworks/test.tsv".to_owned(),
                "1.1\tFirst\tAutomated\n".to_owned(),
            ),
            (
                "s3/Versioned.yaml".to_owned(),
                format!(
                    "id: Versioned\ntitle: t\ndescription: d\nseverity: medium\n\
                     resource_type: AWS::S3::Bucket\nremediation: r\ncontrols: {{test: [1.1]}}\n\
                     {risk}fails_when: {{path: Versioning.Status, op: neq, value: Enabled}}\n\
                     examples: {{pass: [{{Versioning: {{Status: Enabled}}}}], fail: [{{}}]}}\n"
                ),
            ),
        ]);
        assert!(catalog.rejected.is_empty(), "{:#?}", catalog.rejected);
        catalog
    }

    #[tokio::test]
    async fn a_changed_risk_block_or_severity_override_rescores_the_open_finding() {
        // Given an unversioned bucket scanned with a medium policy without risk factors
        let stores = stores_with(&[bucket("b", json!({}))]).await;
        let score = || async {
            let found = stores
                .findings
                .for_resource("arn:aws:s3:::b")
                .await
                .unwrap();
            found[0].risk_score.map(|s| s.to_string())
        };
        let plain = versioned_policy("");
        let scan = |catalog| {
            let scanner = Scanner {
                catalog,
                stores: &stores,
            };
            async move { scanner.run(&ScanRequest::default()).await.unwrap() }
        };
        assert_eq!(scan(&plain).await.tally.new, 1);
        assert_eq!(score().await.as_deref(), Some("4.0"));
        // When the policy's file gains a risk block and the scan runs again
        let exposed = versioned_policy("risk: {exposure: public, data: sensitive}\n");
        let summary = scan(&exposed).await;
        // Then the finding, still active, carries the new score (4.0 + 1.5 + 1.0)
        assert_eq!(summary.tally.still_active, 1);
        assert_eq!(score().await.as_deref(), Some("6.5"));
        // And when the policies table raises its severity to critical, the score follows
        stores
            .policies
            .put_setting(
                "Versioned",
                &PolicySetting {
                    active: true,
                    severity_override: Some(Severity::Critical),
                    accounts: None,
                },
            )
            .await
            .unwrap();
        scan(&exposed).await;
        assert_eq!(score().await.as_deref(), Some("9.5"));
    }

    #[tokio::test]
    async fn scoping_a_policy_away_from_an_account_resolves_its_findings() {
        // Given an open versioning finding
        let catalog = Catalog::embedded();
        let stores = stores_with(&[bucket("b", json!({}))]).await;
        let scanner = Scanner {
            catalog: &catalog,
            stores: &stores,
        };
        let request = ScanRequest {
            policy_id: Some("S3BucketVersioningEnabled".into()),
            ..Default::default()
        };
        assert_eq!(scanner.run(&request).await.unwrap().tally.new, 1);
        // When the policy is scoped to another account and the scan runs
        stores
            .policies
            .put_setting(
                "S3BucketVersioningEnabled",
                &PolicySetting {
                    active: true,
                    severity_override: None,
                    accounts: Some(vec!["999999999999".into()]),
                },
            )
            .await
            .unwrap();
        let summary = scanner.run(&request).await.unwrap();
        // Then the finding is resolved, not left open forever
        assert_eq!((summary.tally.resolved, summary.tally.evaluated), (1, 0));
        let f = &stores
            .findings
            .for_resource("arn:aws:s3:::b")
            .await
            .unwrap()[0];
        assert_eq!(f.state, FindingState::Resolved);
    }

    #[tokio::test]
    async fn unknown_policies_and_services_are_refused() {
        // (a catalogue of S3's policies alone: EC2 has none in it)
        let catalog = Catalog::embedded_of(&["s3"]);
        let stores = stores_with(&[]).await;
        let scanner = Scanner {
            catalog: &catalog,
            stores: &stores,
        };
        let err = scanner
            .run(&ScanRequest {
                policy_id: Some("NoSuchPolicy".into()),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert!(err.to_string().contains("NoSuchPolicy"));
        let err = scanner
            .run(&ScanRequest {
                service: Some("ec2".into()),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert!(err.to_string().contains("ec2"));
    }

    const PUBLIC_READ: &str = "S3BucketPublicReadProhibited";

    fn public_acl() -> serde_json::Value {
        json!({"Grants": [{"Grantee": {"Type": "Group", "URI": "http://acs.amazonaws.com/groups/global/AllUsers"}, "Permission": "READ"}]})
    }

    /// A public-ACL bucket whose account-level block could not be read (as the collector writes it).
    fn public_bucket_with_unreadable_account_block(name: &str) -> Resource {
        let denied = |path: &str| json!({"Path": path, "Operation": "GetPublicAccessBlock (account)", "Code": "AccessDenied"});
        bucket(
            name,
            json!({
                "Acl": public_acl(),
                "PublicAccessBlock": null,
                "EffectivePublicAccessBlock": {},
                "Versioning": {"Status": null},
                "Unreadable": [
                    denied("AccountPublicAccessBlock"),
                    denied("EffectivePublicAccessBlock.IgnorePublicAcls"),
                    denied("EffectivePublicAccessBlock.RestrictPublicBuckets"),
                ],
            }),
        )
    }

    #[tokio::test]
    async fn a_policy_reading_an_unreadable_part_opens_and_resolves_nothing() {
        // Given a public bucket whose public-read finding is open, and a new public bucket
        let catalog = Catalog::embedded();
        let open = bucket(
            "open",
            json!({"Acl": public_acl(), "EffectivePublicAccessBlock": {"IgnorePublicAcls": false}}),
        );
        let stores = stores_with(&[open]).await;
        let scanner = Scanner {
            catalog: &catalog,
            stores: &stores,
        };
        assert!(
            scanner
                .run(&ScanRequest::default())
                .await
                .unwrap()
                .tally
                .new
                >= 1
        );
        let before = stores
            .findings
            .for_resource("arn:aws:s3:::open")
            .await
            .unwrap();
        // When the account-level block cannot be read for either of them and the scan runs
        stores
            .resources
            .put_batch(&[
                public_bucket_with_unreadable_account_block("open"),
                public_bucket_with_unreadable_account_block("new"),
            ])
            .await
            .unwrap();
        let summary = scanner.run(&ScanRequest::default()).await.unwrap();
        // Then public read and write (and both combinations of public access with the bucket's data) are not
        // evaluated for either: nothing opens on the new bucket, and the open finding is
        // neither resolved nor refreshed
        assert_eq!(summary.tally.not_evaluated, 8, "{summary:?}");
        let new = stores
            .findings
            .for_resource("arn:aws:s3:::new")
            .await
            .unwrap();
        assert!(new.iter().all(|f| f.policy_id != PUBLIC_READ), "{new:?}");
        let after = stores
            .findings
            .for_resource("arn:aws:s3:::open")
            .await
            .unwrap();
        let read = |fs: &[crate::model::Finding]| {
            fs.iter()
                .find(|f| f.policy_id == PUBLIC_READ)
                .cloned()
                .unwrap()
        };
        assert_eq!(read(&after), read(&before));
        // And the policies that do not read the account's block are still evaluated
        assert!(new
            .iter()
            .any(|f| f.policy_id == "S3BucketVersioningEnabled"));
        // And the summary names each resource, the policies and the failed call
        assert_eq!(summary.unevaluated.len(), 2, "{:?}", summary.unevaluated);
        let line = summary
            .unevaluated
            .iter()
            .find(|l| l.starts_with("arn:aws:s3:::new:"))
            .unwrap();
        assert!(line.contains(PUBLIC_READ), "{line}");
        assert!(line.contains("S3BucketPublicWriteProhibited"), "{line}");
        assert!(
            line.contains("GetPublicAccessBlock (account): AccessDenied"),
            "{line}"
        );
    }

    #[tokio::test]
    async fn a_row_for_an_unknown_policy_is_reported_and_the_scan_runs() {
        // Given a policies-table row naming a policy qrie does not have
        let catalog = Catalog::embedded();
        let stores = stores_with(&[bucket("b", json!({}))]).await;
        stores
            .policies
            .put_setting("S3BucketVersioningEnabledd", &PolicySetting::default())
            .await
            .unwrap();
        let scanner = Scanner {
            catalog: &catalog,
            stores: &stores,
        };
        // When the scan runs
        let summary = scanner.run(&ScanRequest::default()).await.unwrap();
        // Then the row is reported by id and field, and every policy still runs
        assert_eq!(
            summary.bad_policy_rows.len(),
            1,
            "{:?}",
            summary.bad_policy_rows
        );
        let row = &summary.bad_policy_rows[0];
        assert_eq!(
            (row.policy_id.as_str(), row.field.as_str(), row.effect),
            (
                "S3BucketVersioningEnabledd",
                "PolicyId",
                BadRowEffect::Ignored
            )
        );
        assert_eq!(summary.policies.len(), catalog.policies().len());
        assert!(summary.tally.new >= 1);
    }

    #[tokio::test]
    async fn requests_that_would_do_nothing_are_refused() {
        // (a catalogue of S3's policies alone: KMS has none in it)
        let catalog = Catalog::embedded_of(&["s3"]);
        let stores = stores_with(&[]).await;
        let scanner = Scanner {
            catalog: &catalog,
            stores: &stores,
        };
        // Given a service no policy covers, When scanned, Then it is refused
        let err = scanner
            .run(&ScanRequest {
                service: Some("kms".into()),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert!(matches!(err, ScanRequestError::NothingToScan(_)), "{err}");
        assert!(err.to_string().contains("kms"), "{err}");
        // Given an account that is not onboarded, Then it is refused by id
        let err = scanner
            .run(&ScanRequest {
                account_id: Some("999999999999".into()),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(err, ScanRequestError::UnknownAccount("999999999999".into()));
        // Given a disabled account, Then it is refused as disabled
        stores
            .accounts
            .put(&Account {
                account_id: "444455556666".into(),
                role_arn: String::new(),
                external_id: None,
                regions: vec![],
                enabled: false,
                name: None,
            })
            .await
            .unwrap();
        let err = scanner
            .run(&ScanRequest {
                account_id: Some("444455556666".into()),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(
            err,
            ScanRequestError::DisabledAccount("444455556666".into())
        );
        // Given a policy and a service it does not belong to, Then it is refused
        let err = scanner
            .run(&ScanRequest {
                policy_id: Some(PUBLIC_READ.into()),
                service: Some("iam".into()),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert!(matches!(err, ScanRequestError::NothingToScan(_)), "{err}");
    }

    #[tokio::test]
    async fn an_older_evaluation_never_overwrites_a_newer_one() {
        let catalog = Catalog::embedded();
        let policies = active_policies(&catalog, &HashMap::new());
        let stores = stores_with(&[]).await;
        let findings = stores.findings.as_ref();
        let at = |secs: i64, status: &str| {
            let mut b = bucket("b", json!({"Versioning": {"Status": status}}));
            b.last_seen_at = DateTime::from_timestamp(1_700_000_000 + secs, 0).unwrap();
            b
        };
        let versioning: HashSet<String> = ["S3BucketVersioningEnabled".to_owned()].into();
        let none = HashSet::new();
        // Given a finding opened from the state read at t=10
        let opened = reconcile_resource(
            &at(10, "Suspended"),
            &policies,
            &none,
            findings,
            Utc::now(),
            None,
        )
        .await
        .unwrap();
        assert!(opened.new >= 1);
        // When a slow refresh of the state read at t=5 (versioning on) arrives late
        let late = reconcile_resource(
            &at(5, "Enabled"),
            &policies,
            &versioning,
            findings,
            Utc::now(),
            None,
        )
        .await
        .unwrap();
        // Then it does not resolve the finding
        assert_eq!(late.resolved, 0);
        let state = |fs: Vec<crate::model::Finding>| {
            fs.into_iter()
                .find(|f| f.policy_id == "S3BucketVersioningEnabled")
                .unwrap()
                .state
        };
        assert_eq!(
            state(findings.for_resource("arn:aws:s3:::b").await.unwrap()),
            FindingState::Active
        );
        // When the state read at t=20 passes, it resolves
        let fixed = reconcile_resource(
            &at(20, "Enabled"),
            &policies,
            &versioning,
            findings,
            Utc::now(),
            None,
        )
        .await
        .unwrap();
        assert_eq!(fixed.resolved, 1);
        // And a slow evaluation of a failing state read earlier does not re-open it
        let replay = reconcile_resource(
            &at(10, "Suspended"),
            &policies,
            &none,
            findings,
            Utc::now(),
            None,
        )
        .await
        .unwrap();
        assert_eq!(replay.new, 0, "{replay:?}");
        assert!(replay.stale >= 1, "{replay:?}");
        assert_eq!(
            state(findings.for_resource("arn:aws:s3:::b").await.unwrap()),
            FindingState::Resolved
        );
        // And a failing state read after the fix re-opens it
        let broken = reconcile_resource(
            &at(30, "Suspended"),
            &policies,
            &none,
            findings,
            Utc::now(),
            None,
        )
        .await
        .unwrap();
        assert!(broken.new >= 1, "{broken:?}");
        assert_eq!(
            state(findings.for_resource("arn:aws:s3:::b").await.unwrap()),
            FindingState::Active
        );
    }
}
