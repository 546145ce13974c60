//! What the object scanner found in each bucket, for the policies that combine a bucket's
//! posture with its data (`Related.ObjectData`, see [`crate::relate`]).
//!
//! Each scanned unit (an object, or a range of one) with findings writes one item to the
//! object-findings table, beside the findings themselves: partition `DATA#<account>`, sort key
//! `<bucket>#<hash of the unit>`, with the number of findings per detector and one masked
//! example of each. A redelivered unit writes the same item again, so the counts stay exact;
//! a bucket's summary is the sum over its units ([`ObjectDataStore::of_account`]: one query per
//! account, whatever the number of buckets).

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use sha2::{Digest, Sha256};

use super::dynamo::store_error;
use super::item::Item;
use super::schema::object_findings as of;
use super::StoreError;

/// Findings of one detector in a unit or a bucket: how many, and one of them masked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetectorCount {
    pub count: u64,
    /// A masked match (never the raw value).
    pub sample: String,
}

/// What one scanned unit found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitData {
    pub account_id: String,
    pub bucket: String,
    pub region: String,
    /// The unit's identity in its job (key, ETag, range start).
    pub unit: String,
    pub detectors: BTreeMap<String, DetectorCount>,
    pub found_at: String,
}

/// What the object scanner found in one bucket, over every unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketData {
    pub account_id: String,
    pub bucket: String,
    pub region: String,
    /// Units (objects or parts of them) with at least one finding.
    pub units: u64,
    pub detectors: BTreeMap<String, DetectorCount>,
    pub last_found_at: String,
}

impl BucketData {
    fn absorb(&mut self, unit: &UnitData) {
        self.units += 1;
        for (name, found) in &unit.detectors {
            let entry = self
                .detectors
                .entry(name.clone())
                .or_insert_with(|| DetectorCount {
                    count: 0,
                    sample: found.sample.clone(),
                });
            entry.count += found.count;
        }
        if unit.found_at > self.last_found_at {
            self.last_found_at = unit.found_at.clone();
        }
    }
}

/// Sums units into one summary per bucket, in bucket order.
pub fn summarise(units: &[UnitData]) -> Vec<BucketData> {
    let mut buckets: BTreeMap<(String, String), BucketData> = BTreeMap::new();
    for unit in units {
        buckets
            .entry((unit.account_id.clone(), unit.bucket.clone()))
            .or_insert_with(|| BucketData {
                account_id: unit.account_id.clone(),
                bucket: unit.bucket.clone(),
                region: unit.region.clone(),
                units: 0,
                detectors: BTreeMap::new(),
                last_found_at: String::new(),
            })
            .absorb(unit);
    }
    buckets.into_values().collect()
}

#[async_trait]
pub trait ObjectDataStore: Send + Sync {
    /// Records what a unit found (idempotent: the same unit overwrites its own item).
    async fn record(&self, unit: &UnitData) -> Result<(), StoreError>;
    /// The summary of every bucket of the account with findings.
    async fn of_account(&self, account_id: &str) -> Result<Vec<BucketData>, StoreError>;
}

/// The partition of an account's data items.
fn partition(account_id: &str) -> String {
    format!("DATA#{account_id}")
}

/// `<bucket>#<sha256 of the unit id>`: bounded whatever the key's length.
fn sort_key(bucket: &str, unit: &str) -> String {
    let digest = Sha256::digest(unit.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("{bucket}#{hex}")
}

const DETECTORS: &str = "Detectors";
const COUNT: &str = "Count";
const SAMPLE: &str = "Sample";
const REGION: &str = "Region";

/// The object-findings table's data items.
pub struct DynamoObjectData {
    client: Client,
    table: String,
}

impl DynamoObjectData {
    pub fn new(client: Client, table: &str) -> Self {
        Self {
            client,
            table: table.to_owned(),
        }
    }
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

fn text(item: &Item, name: &str) -> String {
    match item.get(name) {
        Some(AttributeValue::S(v)) => v.clone(),
        _ => String::new(),
    }
}

/// A data item read back; `None` when it is malformed (reported by the caller).
fn unit_from_item(account_id: &str, item: &Item) -> Option<UnitData> {
    let Some(AttributeValue::M(detectors)) = item.get(DETECTORS) else {
        return None;
    };
    let mut out = BTreeMap::new();
    for (name, value) in detectors {
        let AttributeValue::M(found) = value else {
            return None;
        };
        let count = match found.get(COUNT) {
            Some(AttributeValue::N(n)) => n.parse().ok()?,
            _ => return None,
        };
        let sample = match found.get(SAMPLE) {
            Some(AttributeValue::S(v)) => v.clone(),
            _ => String::new(),
        };
        out.insert(name.clone(), DetectorCount { count, sample });
    }
    Some(UnitData {
        account_id: account_id.to_owned(),
        bucket: text(item, of::BUCKET),
        region: text(item, REGION),
        unit: text(item, of::SK),
        detectors: out,
        found_at: text(item, of::FOUND_AT),
    })
}

#[async_trait]
impl ObjectDataStore for DynamoObjectData {
    async fn record(&self, unit: &UnitData) -> Result<(), StoreError> {
        let detectors: std::collections::HashMap<String, AttributeValue> = unit
            .detectors
            .iter()
            .map(|(name, found)| {
                let mut m = std::collections::HashMap::new();
                m.insert(COUNT.to_owned(), AttributeValue::N(found.count.to_string()));
                m.insert(SAMPLE.to_owned(), s(&found.sample));
                (name.clone(), AttributeValue::M(m))
            })
            .collect();
        self.client
            .put_item()
            .table_name(&self.table)
            .item(of::PK, s(&partition(&unit.account_id)))
            .item(of::SK, s(&sort_key(&unit.bucket, &unit.unit)))
            .item(of::BUCKET, s(&unit.bucket))
            .item(of::ACCOUNT_ID, s(&unit.account_id))
            .item(REGION, s(&unit.region))
            .item(of::FOUND_AT, s(&unit.found_at))
            .item(DETECTORS, AttributeValue::M(detectors))
            .send()
            .await
            .map_err(|e| store_error(&self.table, "PutItem", &e))?;
        Ok(())
    }

    async fn of_account(&self, account_id: &str) -> Result<Vec<BucketData>, StoreError> {
        let mut units = Vec::new();
        let mut cursor = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("#pk = :pk")
                .expression_attribute_names("#pk", of::PK)
                .expression_attribute_values(":pk", s(&partition(account_id)))
                .set_exclusive_start_key(cursor.take())
                .send()
                .await
                .map_err(|e| store_error(&self.table, "Query", &e))?;
            for item in out.items() {
                units.push(unit_from_item(account_id, item).ok_or_else(|| {
                    StoreError::Backend {
                        table: self.table.clone(),
                        operation: "Query",
                        message: format!(
                            "malformed object-data item {}",
                            crate::store::loggable(&text(item, of::SK))
                        ),
                    }
                })?);
            }
            match out.last_evaluated_key() {
                Some(key) if !key.is_empty() => cursor = Some(key.clone()),
                _ => break,
            }
        }
        Ok(summarise(&units))
    }
}

/// In-memory data items (unit tests of logic only).
#[derive(Default)]
pub struct MemoryObjectData {
    units: Mutex<BTreeMap<(String, String), UnitData>>,
}

#[async_trait]
impl ObjectDataStore for MemoryObjectData {
    async fn record(&self, unit: &UnitData) -> Result<(), StoreError> {
        let key = (
            partition(&unit.account_id),
            sort_key(&unit.bucket, &unit.unit),
        );
        self.units.lock().unwrap().insert(key, unit.clone());
        Ok(())
    }

    async fn of_account(&self, account_id: &str) -> Result<Vec<BucketData>, StoreError> {
        let units: Vec<UnitData> = self
            .units
            .lock()
            .unwrap()
            .iter()
            .filter(|((pk, _), _)| *pk == partition(account_id))
            .map(|(_, u)| u.clone())
            .collect();
        Ok(summarise(&units))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(bucket: &str, unit: &str, found: &[(&str, u64)]) -> UnitData {
        UnitData {
            account_id: "111122223333".into(),
            bucket: bucket.into(),
            region: "us-east-1".into(),
            unit: unit.into(),
            detectors: found
                .iter()
                .map(|(d, n)| {
                    (
                        (*d).to_owned(),
                        DetectorCount {
                            count: *n,
                            sample: format!("{d}-masked"),
                        },
                    )
                })
                .collect(),
            found_at: format!("2026-12-02T00:00:0{}Z", unit.len() % 10),
        }
    }

    #[tokio::test]
    async fn a_bucket_s_summary_sums_its_units_and_a_redelivered_unit_counts_once() {
        // given two units of one bucket and one of another, the first recorded twice
        let store = MemoryObjectData::default();
        let first = unit("b", "a.csv#e#0", &[("credit_card", 3), ("email", 1)]);
        store.record(&first).await.unwrap();
        store.record(&first).await.unwrap();
        store
            .record(&unit("b", "b.csv#e#0", &[("credit_card", 2)]))
            .await
            .unwrap();
        store
            .record(&unit("c", "x#e#0", &[("email", 5)]))
            .await
            .unwrap();
        // when the account's data is read
        let data = store.of_account("111122223333").await.unwrap();
        // then each bucket has its own sums, the repeated unit counted once
        assert_eq!(data.len(), 2);
        assert_eq!(data[0].bucket, "b");
        assert_eq!(data[0].units, 2);
        assert_eq!(data[0].detectors["credit_card"].count, 5);
        assert_eq!(data[0].detectors["email"].count, 1);
        assert_eq!(data[1].detectors["email"].count, 5);
        // and another account sees nothing
        assert!(store.of_account("999988887777").await.unwrap().is_empty());
    }

    #[test]
    fn sort_keys_are_bounded_and_distinct_per_unit() {
        let long = "k".repeat(1024);
        assert!(sort_key("bucket", &long).len() < 200);
        assert_ne!(sort_key("b", "x#1#0"), sort_key("b", "x#1#10"));
    }
}
