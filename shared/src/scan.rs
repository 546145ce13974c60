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
use crate::policy::{Catalog, Outcome, Policy};
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
}

impl Tally {
    fn add(&mut self, other: &Tally) {
        self.evaluated += other.evaluated;
        self.new += other.new;
        self.still_active += other.still_active;
        self.resolved += other.resolved;
        self.stale += other.stale;
        self.not_evaluated += other.not_evaluated;
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
    pub duration_ms: u128,
}

/// A policy as this deployment runs it: its severity after overrides, and its account scope.
#[derive(Debug, Clone)]
pub struct ActivePolicy<'c> {
    pub policy: &'c Policy,
    pub severity: Severity,
    pub accounts: Option<Vec<String>>,
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
    catalog
        .policies()
        .iter()
        .filter_map(|policy| match settings.get(&policy.id) {
            Some(s) if !s.active => None,
            Some(s) => Some(ActivePolicy {
                policy,
                severity: s.severity_override.unwrap_or(policy.severity),
                accounts: s.accounts.clone(),
            }),
            None => Some(ActivePolicy {
                policy,
                severity: policy.severity,
                accounts: None,
            }),
        })
        .collect()
}

/// Evaluates every applicable policy against one resource and writes the outcome: opens or
/// refreshes failures, resolves the `active` findings that now pass.
pub async fn reconcile_resource(
    resource: &Resource,
    policies: &[ActivePolicy<'_>],
    active: &HashSet<String>,
    findings: &dyn FindingStore,
    now: DateTime<Utc>,
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
        match p.policy.evaluate_at(&resource.configuration, now) {
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
                    evidence,
                    evaluated_at: now,
                    observed_at: resource.last_seen_at,
                };
                match findings.open(&failed).await? {
                    OpenOutcome::Opened => tally.new += 1,
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
        for account in accounts.iter().filter(|a| a.enabled) {
            for &service in &services {
                let partition = partition_key(&account.account_id, service);
                let span = info_span!("partition", %partition);
                let result = self
                    .partition(&account.account_id, &partition, &policies, now)
                    .instrument(span)
                    .await;
                summary.partitions += 1;
                summary.resources += result.resources;
                summary.tally.add(&result.tally);
                summary.errors.extend(result.errors);
                unevaluated_resources += result.unevaluated.len();
                let room = MAX_REPORTED_UNEVALUATED.saturating_sub(summary.unevaluated.len());
                summary
                    .unevaluated
                    .extend(result.unevaluated.into_iter().take(room));
                summary.by_partition.insert(partition, result.tally);
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

    async fn partition(
        &self,
        account_id: &str,
        partition: &str,
        policies: &[ActivePolicy<'_>],
        now: DateTime<Utc>,
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
            let outcomes: Vec<_> = futures::stream::iter(page.items.iter())
                .map(|resource| {
                    let active = active.get(&resource.arn).unwrap_or(&empty);
                    async move {
                        let outcome =
                            reconcile_resource(resource, policies, active, findings, now).await;
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
                    Ok(t) => result.tally.add(&t),
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
    tally: Tally,
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
        let catalog = Catalog::embedded();
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
        // Then public read and write are not evaluated for either: nothing opens on the new
        // bucket, and the open finding is neither resolved nor refreshed
        assert_eq!(summary.tally.not_evaluated, 4, "{summary:?}");
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
        let catalog = Catalog::embedded();
        let stores = stores_with(&[]).await;
        let scanner = Scanner {
            catalog: &catalog,
            stores: &stores,
        };
        // Given a service no policy covers, When scanned, Then it is refused
        let err = scanner
            .run(&ScanRequest {
                service: Some("ec2".into()),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert!(matches!(err, ScanRequestError::NothingToScan(_)), "{err}");
        assert!(err.to_string().contains("ec2"), "{err}");
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
        let opened =
            reconcile_resource(&at(10, "Suspended"), &policies, &none, findings, Utc::now())
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
        )
        .await
        .unwrap();
        assert_eq!(fixed.resolved, 1);
        // And a slow evaluation of a failing state read earlier does not re-open it
        let replay =
            reconcile_resource(&at(10, "Suspended"), &policies, &none, findings, Utc::now())
                .await
                .unwrap();
        assert_eq!(replay.new, 0, "{replay:?}");
        assert!(replay.stale >= 1, "{replay:?}");
        assert_eq!(
            state(findings.for_resource("arn:aws:s3:::b").await.unwrap()),
            FindingState::Resolved
        );
        // And a failing state read after the fix re-opens it
        let broken =
            reconcile_resource(&at(30, "Suspended"), &policies, &none, findings, Utc::now())
                .await
                .unwrap();
        assert!(broken.new >= 1, "{broken:?}");
        assert_eq!(
            state(findings.for_resource("arn:aws:s3:::b").await.unwrap()),
            FindingState::Active
        );
    }
}
