//! In-memory adapters for the storage ports, with the same semantics as the DynamoDB ones
//! (conditional writes included). For unit tests of logic only; integration tests use DynamoDB
//! on the local emulator.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{
    AccountStore, ComplianceStore, FailedEvaluation, FindingStore, OpenOutcome, Page,
    PolicySetting, PolicySettings, PolicyStore, Resolution, ResourceStore, Seen, StoreError,
};
use crate::model::{Account, Finding, FindingState, Resource};

const PAGE: usize = 100;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panicking test thread must not hide the data from the others.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[derive(Default)]
pub struct MemoryResources {
    items: Mutex<BTreeMap<(String, String), Resource>>,
}

#[async_trait]
impl ResourceStore for MemoryResources {
    async fn put_batch(&self, resources: &[Resource]) -> Result<(), StoreError> {
        let mut items = lock(&self.items);
        for r in resources {
            items.insert((r.partition_key(), r.arn.clone()), r.clone());
        }
        Ok(())
    }

    async fn put_if_newer(&self, resource: &Resource) -> Result<bool, StoreError> {
        let mut items = lock(&self.items);
        let key = (resource.partition_key(), resource.arn.clone());
        if items
            .get(&key)
            .is_some_and(|old| old.last_seen_at > resource.last_seen_at)
        {
            return Ok(false);
        }
        items.insert(key, resource.clone());
        Ok(true)
    }

    async fn get(&self, partition: &str, arn: &str) -> Result<Option<Resource>, StoreError> {
        Ok(lock(&self.items)
            .get(&(partition.to_owned(), arn.to_owned()))
            .cloned())
    }

    async fn page(
        &self,
        partition: &str,
        cursor: Option<String>,
    ) -> Result<Page<Resource>, StoreError> {
        let start: usize = cursor.and_then(|c| c.parse().ok()).unwrap_or(0);
        let all: Vec<Resource> = lock(&self.items)
            .iter()
            .filter(|((p, _), _)| p == partition)
            .map(|(_, r)| r.clone())
            .collect();
        let items: Vec<Resource> = all.iter().skip(start).take(PAGE).cloned().collect();
        let end = start + items.len();
        Ok(Page {
            items,
            next: (end < all.len()).then(|| end.to_string()),
        })
    }

    async fn seen_times(&self, partition: &str) -> Result<Vec<Seen>, StoreError> {
        Ok(lock(&self.items)
            .iter()
            .filter(|((p, _), _)| p == partition)
            .map(|((_, arn), r)| Seen {
                arn: arn.clone(),
                region: r.region.clone(),
                last_seen_at: r.last_seen_at,
            })
            .collect())
    }

    async fn delete_if_older(
        &self,
        partition: &str,
        arn: &str,
        seen_before: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut items = lock(&self.items);
        let key = (partition.to_owned(), arn.to_owned());
        if items
            .get(&key)
            .is_some_and(|r| r.last_seen_at < seen_before)
        {
            items.remove(&key);
            return Ok(true);
        }
        Ok(false)
    }
}

#[derive(Default)]
pub struct MemoryFindings {
    items: Mutex<BTreeMap<(String, String), Finding>>,
}

#[async_trait]
impl FindingStore for MemoryFindings {
    async fn active_in_partition(&self, partition: &str) -> Result<Vec<Finding>, StoreError> {
        Ok(lock(&self.items)
            .values()
            .filter(|f| f.account_service == partition && f.state == FindingState::Active)
            .cloned()
            .collect())
    }

    async fn for_resource(&self, arn: &str) -> Result<Vec<Finding>, StoreError> {
        Ok(lock(&self.items)
            .values()
            .filter(|f| f.arn == arn)
            .cloned()
            .collect())
    }

    async fn open(&self, failed: &FailedEvaluation) -> Result<OpenOutcome, StoreError> {
        let mut items = lock(&self.items);
        let key = (failed.arn.clone(), failed.policy_id.clone());
        let old = items.get(&key);
        let active = old.is_some_and(|o| o.state == FindingState::Active);
        let same_account = old.is_none_or(|o| o.account_id == failed.account_id);
        if active && !same_account {
            return Ok(OpenOutcome::OtherAccount);
        }
        // A newer evaluation is stored (ACTIVE or RESOLVED); a stamp later than this evaluation
        // itself cannot come from a configuration anyone read, so it protects nothing.
        if same_account
            && old.is_some_and(|o| {
                o.observed_at > failed.observed_at && o.observed_at <= failed.evaluated_at
            })
        {
            return Ok(OpenOutcome::Stale);
        }
        let reopened = old
            .filter(|o| same_account && o.state == FindingState::Resolved)
            .map(|o| OpenOutcome::Reopened {
                first_seen: Some(o.first_seen),
                suppressed_until: o.suppressed.as_ref().map(|s| s.until),
            });
        let first_seen = match old {
            Some(o) if same_account => o.first_seen,
            _ => failed.evaluated_at,
        };
        // A resolved finding of this account failing again keeps its history and suppression;
        // its acknowledgement was of the earlier occurrence.
        let (history, acknowledged, suppressed) = match old {
            Some(o) if same_account && o.state == FindingState::Resolved => (
                crate::model::History {
                    reopened: o.history.reopened + 1,
                    reopened_at: Some(failed.evaluated_at),
                    last_resolved_at: o.resolved_at,
                },
                None,
                o.suppressed.clone(),
            ),
            Some(o) if same_account => (
                o.history.clone(),
                o.acknowledged.clone(),
                o.suppressed.clone(),
            ),
            _ => Default::default(),
        };
        items.insert(
            key,
            Finding {
                arn: failed.arn.clone(),
                policy_id: failed.policy_id.clone(),
                account_id: failed.account_id.clone(),
                account_service: failed.account_service.clone(),
                resource_type: failed.resource_type.clone(),
                state: FindingState::Active,
                severity: failed.severity,
                risk_score: Some(failed.risk_score),
                evidence: failed.evidence.clone(),
                first_seen,
                last_evaluated: failed.evaluated_at,
                resolved_at: None,
                observed_at: failed.observed_at,
                history,
                acknowledged,
                suppressed,
                muted: failed.muted.clone(),
            },
        );
        Ok(if active {
            OpenOutcome::StillActive
        } else {
            reopened.unwrap_or(OpenOutcome::Opened)
        })
    }

    async fn resolve(
        &self,
        arn: &str,
        policy_id: &str,
        account_id: &str,
        at: DateTime<Utc>,
        basis: Resolution,
    ) -> Result<bool, StoreError> {
        let mut items = lock(&self.items);
        let Some(f) = items.get_mut(&(arn.to_owned(), policy_id.to_owned())) else {
            return Ok(false);
        };
        if f.state != FindingState::Active || f.account_id != account_id {
            return Ok(false);
        }
        match basis {
            Resolution::Passes { observed_at } if f.observed_at <= observed_at => {
                f.observed_at = observed_at;
            }
            Resolution::Gone { checked_at } if f.observed_at < checked_at => {}
            _ => return Ok(false),
        }
        f.state = FindingState::Resolved;
        f.resolved_at = Some(at);
        f.last_evaluated = at;
        Ok(true)
    }

    async fn page_all(&self, cursor: Option<String>) -> Result<Page<Finding>, StoreError> {
        let start: usize = cursor.and_then(|c| c.parse().ok()).unwrap_or(0);
        let items = lock(&self.items);
        let page: Vec<Finding> = items.values().skip(start).take(PAGE).cloned().collect();
        let end = start + page.len();
        Ok(Page {
            items: page,
            next: (end < items.len()).then(|| end.to_string()),
        })
    }

    async fn acknowledge(
        &self,
        arn: &str,
        policy_id: &str,
        acknowledgement: &crate::model::Acknowledgement,
    ) -> Result<bool, StoreError> {
        let mut items = lock(&self.items);
        let Some(f) = items.get_mut(&(arn.to_owned(), policy_id.to_owned())) else {
            return Ok(false);
        };
        f.acknowledged = Some(acknowledgement.clone());
        Ok(true)
    }

    async fn suppress(
        &self,
        arn: &str,
        policy_id: &str,
        suppression: Option<&crate::model::Suppression>,
    ) -> Result<bool, StoreError> {
        let mut items = lock(&self.items);
        let Some(f) = items.get_mut(&(arn.to_owned(), policy_id.to_owned())) else {
            return Ok(false);
        };
        f.suppressed = suppression.cloned();
        Ok(true)
    }
}

#[derive(Default)]
pub struct MemoryPolicies {
    items: Mutex<HashMap<String, PolicySetting>>,
}

#[async_trait]
impl PolicyStore for MemoryPolicies {
    async fn settings(&self) -> Result<PolicySettings, StoreError> {
        Ok(PolicySettings {
            settings: lock(&self.items).clone(),
            bad_rows: Vec::new(),
        })
    }

    async fn put_setting(
        &self,
        policy_id: &str,
        setting: &PolicySetting,
    ) -> Result<(), StoreError> {
        lock(&self.items).insert(policy_id.to_owned(), setting.clone());
        Ok(())
    }
}

#[derive(Default)]
pub struct MemoryAccounts {
    items: Mutex<BTreeMap<String, Account>>,
}

#[async_trait]
impl AccountStore for MemoryAccounts {
    async fn list(&self) -> Result<Vec<Account>, StoreError> {
        Ok(lock(&self.items).values().cloned().collect())
    }

    async fn get(&self, account_id: &str) -> Result<Option<Account>, StoreError> {
        Ok(lock(&self.items).get(account_id).cloned())
    }

    async fn put(&self, account: &Account) -> Result<(), StoreError> {
        lock(&self.items).insert(account.account_id.clone(), account.clone());
        Ok(())
    }
}

/// Summaries keyed by (account, framework, day).
#[derive(Default)]
pub struct MemoryCompliance {
    items: Mutex<BTreeMap<(String, String, chrono::NaiveDate), crate::compliance::Summary>>,
}

#[async_trait]
impl ComplianceStore for MemoryCompliance {
    async fn put(&self, summary: &crate::compliance::Summary) -> Result<(), StoreError> {
        let key = (
            summary.account_id.clone(),
            summary.framework.clone(),
            summary.day,
        );
        lock(&self.items).insert(key, summary.clone());
        Ok(())
    }

    async fn history(
        &self,
        account_id: &str,
        framework: &str,
        since: chrono::NaiveDate,
    ) -> Result<Vec<crate::compliance::Summary>, StoreError> {
        Ok(lock(&self.items)
            .iter()
            .filter(|((a, f, day), _)| a == account_id && f == framework && *day >= since)
            .map(|(_, s)| s.clone())
            .collect())
    }
}
