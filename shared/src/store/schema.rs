//! The one definition of qrie's tables: names, keys, indexes and attribute names.
//!
//! `shared/schema/contract.json` is generated from [`contract`] (with the environment variables
//! each function reads, the API permissions the customer role must allow, handed down by
//! `collect::session::role_permissions` so this module imports no feature, and the resource kinds
//! and event sources of `crate::registry` and the trail catalogue); the CDK app in `infra/`
//! builds its tables, environments and IAM policies from that file, and a test here fails if the
//! file and this code disagree. Regenerate with `make contract`.

use serde_json::{json, Value};

use crate::config::env;

/// Attribute names of the resources table.
pub mod resources {
    pub const PK: &str = "AccountService";
    pub const SK: &str = "ARN";
    pub const CONFIGURATION: &str = "Configuration";
    pub const RESOURCE_TYPE: &str = "ResourceType";
    pub const REGION: &str = "Region";
    pub const ACCOUNT_ID: &str = "AccountId";
    pub const LAST_SEEN_AT: &str = "LastSeenAt";
}

/// Attribute names of the findings table.
pub mod findings {
    pub const PK: &str = "ARN";
    pub const SK: &str = "PolicyId";
    pub const STATE: &str = "State";
    pub const SEVERITY: &str = "Severity";
    /// The risk score of the last failing evaluation, a number from 0 to 10 (`shared::risk`).
    pub const RISK_SCORE: &str = "RiskScore";
    pub const EVIDENCE: &str = "Evidence";
    pub const FIRST_SEEN: &str = "FirstSeen";
    pub const LAST_EVALUATED: &str = "LastEvaluated";
    pub const RESOLVED_AT: &str = "ResolvedAt";
    pub const OBSERVED_AT: &str = "ObservedAt";
    pub const ACCOUNT_SERVICE: &str = "AccountService";
    pub const ACCOUNT_ID: &str = "AccountId";
    pub const RESOURCE_TYPE: &str = "ResourceType";
    /// How many times a resolved finding failed again (absent: never).
    pub const REOPENED: &str = "Reopened";
    pub const REOPENED_AT: &str = "ReopenedAt";
    /// The resolution the last re-opening ended.
    pub const LAST_RESOLVED_AT: &str = "LastResolvedAt";
    /// `{By, At, Reason}`: someone has seen it.
    pub const ACKNOWLEDGED: &str = "Acknowledged";
    /// `{By, At, Reason, Until}`: an accepted risk until a date.
    pub const SUPPRESSED: &str = "Suppressed";
    /// `{Rule, Reason, Until}`: the suppression rule that matched the last failing evaluation.
    pub const MUTED: &str = "Muted";
    /// GSI on (AccountService, State): the active findings of one partition.
    pub const BY_PARTITION_STATE: &str = "AccountServiceState";
}

/// Attribute names of the compliance table: one item per account, framework and day; the other
/// attributes are the fields of `compliance::Summary` (`Score`, `Passed`, `Failed`, `BySeverity`,
/// `FailedControls`, ...).
pub mod compliance {
    pub const PK: &str = "AccountFramework";
    /// The summary's day, `YYYY-MM-DD` (string order is time order).
    pub const SK: &str = "Day";

    /// The partition key of one account's summaries of one framework.
    pub fn key(account_id: &str, framework: &str) -> String {
        format!("{account_id}#{framework}")
    }
}

/// Attribute names of the policies table.
pub mod policies {
    pub const PK: &str = "PolicyId";
    pub const ACTIVE: &str = "Active";
    pub const SEVERITY_OVERRIDE: &str = "SeverityOverride";
    pub const ACCOUNTS: &str = "Accounts";
}

/// Attribute names of the accounts table.
pub mod accounts {
    pub const PK: &str = "AccountId";
    pub const ROLE_ARN: &str = "RoleArn";
    pub const EXTERNAL_ID: &str = "ExternalId";
    pub const REGIONS: &str = "Regions";
    pub const ENABLED: &str = "Enabled";
    pub const NAME: &str = "Name";
}

/// Attribute names of the scan-jobs table: one `JOB` item per job with its counters, and the
/// markers that make every counter move exactly once (see `object_scan`).
pub mod scan_jobs {
    pub const PK: &str = "JobId";
    /// `JOB`, `PAGE#<n>`, `UNITS#<unit>`, `START#<unit>`, `DONE#<unit>` or `CAPPED#<unit>`.
    pub const SK: &str = "Item";
    pub const JOB_ITEM: &str = "JOB";
    pub const BUCKET: &str = "Bucket";
    pub const PREFIX: &str = "Prefix";
    pub const ACCOUNT_ID: &str = "AccountId";
    pub const REGION: &str = "Region";
    pub const KIND: &str = "Kind";
    pub const CREATED_AT: &str = "CreatedAt";
    pub const ENUMERATION_DONE: &str = "EnumerationDone";
    pub const ENUMERATION_PAGES: &str = "EnumerationPages";
    pub const ENUMERATION_ERROR: &str = "EnumerationError";
    /// Objects listed.
    pub const OBJECTS: &str = "Objects";
    /// Scan units (objects, or byte ranges of split objects) enqueued.
    pub const UNITS: &str = "Units";
    pub const STARTED: &str = "Started";
    pub const SUCCEEDED: &str = "Succeeded";
    pub const FAILED: &str = "Failed";
    pub const SKIPPED: &str = "Skipped";
    pub const FINDINGS: &str = "Findings";
    pub const CHANGED: &str = "Changed";
    /// Prefix of the per-reason skip counters (`Skipped_binary`, ...).
    pub const SKIPPED_PREFIX: &str = "Skipped_";
    /// Prefix of the per-kind counters of units whose matches went past the detectors' cap
    /// (`Capped_us_ssn`, ...).
    pub const CAPPED_PREFIX: &str = "Capped_";
    /// On `DONE` markers and `CAPPED#<unit>` items: the detector kinds capped in the unit (a
    /// string set).
    pub const CAPPED: &str = "Capped";
    /// Sort-key prefix of the items naming a capped unit's object (`Key`, `ETag`, `RangeStart`).
    pub const CAPPED_ITEM_PREFIX: &str = "CAPPED#";
    pub const KEY: &str = "Key";
    pub const RANGE_START: &str = "RangeStart";
    /// On markers: the outcome and its reason, the ETag scanned, when.
    pub const OUTCOME: &str = "Outcome";
    pub const REASON: &str = "Reason";
    pub const ETAG: &str = "ETag";
    pub const AT: &str = "At";
}

/// Attribute names of the object-findings table: one item per (job, key, ETag, detector,
/// byte offset); the sort key starts with the object key, so a key-prefix filter is a key
/// condition.
pub mod object_findings {
    pub const PK: &str = "JobId";
    /// `<key>#<etag>#<detector>#<offset, 20 digits>`; for keys too long for a sort key,
    /// `<key's first 512 bytes>#sha256:<hash of key and etag>#<detector>#<offset>` (see
    /// `store::object_scan::finding_id`). `Key` always holds the whole key.
    pub const SK: &str = "FindingId";
    pub const BUCKET: &str = "Bucket";
    pub const KEY: &str = "Key";
    pub const ETAG: &str = "ETag";
    pub const DETECTOR: &str = "Detector";
    pub const OFFSET: &str = "ByteOffset";
    pub const LENGTH: &str = "Length";
    pub const MASKED: &str = "Masked";
    pub const CONTEXT: &str = "Context";
    pub const ACCOUNT_ID: &str = "AccountId";
    pub const FOUND_AT: &str = "FoundAt";
    /// The detection's risk score, a number from 0 to 10 (`shared::risk`).
    pub const RISK_SCORE: &str = "RiskScore";
}

/// A key attribute: name and DynamoDB scalar type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyAttr {
    pub name: &'static str,
    pub kind: &'static str,
}

/// A global secondary index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexSpec {
    pub name: &'static str,
    pub partition_key: KeyAttr,
    pub sort_key: Option<KeyAttr>,
}

/// A table definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSpec {
    /// Logical name (`resources`), the key in the contract.
    pub logical: &'static str,
    /// Environment variable holding the deployed name.
    pub env: &'static str,
    pub default_name: &'static str,
    pub partition_key: KeyAttr,
    pub sort_key: Option<KeyAttr>,
    pub indexes: Vec<IndexSpec>,
}

const fn s(name: &'static str) -> KeyAttr {
    KeyAttr { name, kind: "S" }
}

/// Every table qrie uses.
pub fn tables() -> Vec<TableSpec> {
    vec![
        TableSpec {
            logical: "resources",
            env: env::RESOURCES_TABLE,
            default_name: "qrie_resources",
            partition_key: s(resources::PK),
            sort_key: Some(s(resources::SK)),
            indexes: vec![],
        },
        TableSpec {
            logical: "findings",
            env: env::FINDINGS_TABLE,
            default_name: "qrie_findings",
            partition_key: s(findings::PK),
            sort_key: Some(s(findings::SK)),
            indexes: vec![IndexSpec {
                name: findings::BY_PARTITION_STATE,
                partition_key: s(findings::ACCOUNT_SERVICE),
                sort_key: Some(s(findings::STATE)),
            }],
        },
        TableSpec {
            logical: "policies",
            env: env::POLICIES_TABLE,
            default_name: "qrie_policies",
            partition_key: s(policies::PK),
            sort_key: None,
            indexes: vec![],
        },
        TableSpec {
            logical: "accounts",
            env: env::ACCOUNTS_TABLE,
            default_name: "qrie_accounts",
            partition_key: s(accounts::PK),
            sort_key: None,
            indexes: vec![],
        },
        TableSpec {
            logical: "scan_jobs",
            env: env::SCAN_JOBS_TABLE,
            default_name: "qrie_scan_jobs",
            partition_key: s(scan_jobs::PK),
            sort_key: Some(s(scan_jobs::SK)),
            indexes: vec![],
        },
        TableSpec {
            logical: "object_findings",
            env: env::OBJECT_FINDINGS_TABLE,
            default_name: "qrie_object_findings",
            partition_key: s(object_findings::PK),
            sort_key: Some(s(object_findings::SK)),
            indexes: vec![],
        },
        TableSpec {
            logical: "compliance",
            env: env::COMPLIANCE_TABLE,
            default_name: "qrie_compliance",
            partition_key: s(compliance::PK),
            sort_key: Some(s(compliance::SK)),
            indexes: vec![],
        },
    ]
}

/// A deployed function: its name, the tables it touches and the variables it reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionSpec {
    /// Kebab-case package, binary and folder name.
    pub name: &'static str,
    /// The Lambda function name of the runbook.
    pub lambda_name: &'static str,
    /// Logical table names and whether the function writes them.
    pub tables: Vec<(&'static str, Access)>,
    pub env: Vec<&'static str>,
}

/// Table access a function needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    ReadWrite,
}

const AWS_SETTINGS_ENV: [&str; 3] = [
    env::MAX_ATTEMPTS,
    env::OPERATION_TIMEOUT_SECS,
    env::ATTEMPT_TIMEOUT_SECS,
];

/// Every function qrie deploys (so far).
pub fn functions() -> Vec<FunctionSpec> {
    let with_settings = |mut v: Vec<&'static str>| {
        v.extend(AWS_SETTINGS_ENV);
        v
    };
    vec![
        FunctionSpec {
            name: "inventory-generator",
            lambda_name: "qrie_inventory_generator",
            tables: vec![("resources", Access::ReadWrite), ("accounts", Access::Read)],
            env: with_settings(vec![
                env::RESOURCES_TABLE,
                env::ACCOUNTS_TABLE,
                env::SCANNER_ROLE_NAME,
            ]),
        },
        FunctionSpec {
            name: "policy-scanner",
            lambda_name: "qrie_policy_scanner",
            tables: vec![
                ("resources", Access::Read),
                ("findings", Access::ReadWrite),
                ("policies", Access::Read),
                ("accounts", Access::Read),
                ("compliance", Access::ReadWrite),
                // What object scans found per bucket (`Related.ObjectData`).
                ("object_findings", Access::Read),
            ],
            env: with_settings(vec![
                env::RESOURCES_TABLE,
                env::FINDINGS_TABLE,
                env::POLICIES_TABLE,
                env::ACCOUNTS_TABLE,
                env::COMPLIANCE_TABLE,
                env::OBJECT_FINDINGS_TABLE,
                env::FINDINGS_TOPIC_ARN,
                env::NOTIFY_MIN_SEVERITY,
                env::SECURITY_HUB,
            ]),
        },
        FunctionSpec {
            name: "event-processor",
            lambda_name: "qrie_event_processor",
            tables: vec![
                ("resources", Access::ReadWrite),
                ("findings", Access::ReadWrite),
                ("policies", Access::Read),
                ("accounts", Access::Read),
                ("object_findings", Access::Read),
            ],
            env: with_settings(vec![
                env::RESOURCES_TABLE,
                env::FINDINGS_TABLE,
                env::POLICIES_TABLE,
                env::ACCOUNTS_TABLE,
                env::OBJECT_FINDINGS_TABLE,
                env::SCANNER_ROLE_NAME,
                env::FINDINGS_TOPIC_ARN,
                env::NOTIFY_MIN_SEVERITY,
                env::SECURITY_HUB,
            ]),
        },
        FunctionSpec {
            name: "object-scanner",
            lambda_name: "qrie_object_scanner",
            tables: vec![
                ("scan_jobs", Access::ReadWrite),
                ("object_findings", Access::ReadWrite),
                ("accounts", Access::Read),
                // A unit with sensitive data re-evaluates its bucket's combination policies.
                ("resources", Access::Read),
                ("findings", Access::ReadWrite),
                ("policies", Access::Read),
            ],
            env: with_settings(vec![
                env::SCAN_JOBS_TABLE,
                env::OBJECT_FINDINGS_TABLE,
                env::ACCOUNTS_TABLE,
                env::RESOURCES_TABLE,
                env::FINDINGS_TABLE,
                env::POLICIES_TABLE,
                env::SCANNER_ROLE_NAME,
                env::OBJECT_SCAN_QUEUE_URL,
                env::OBJECT_MAX_BYTES,
                env::OBJECT_BYTES_PER_MESSAGE,
                env::OBJECT_SCAN_MAX_RECEIVES,
            ]),
        },
    ]
}

fn key_json(k: &KeyAttr) -> Value {
    json!({"name": k.name, "type": k.kind})
}

/// The contract file's content, built from the code.
pub fn contract() -> Value {
    let tables: serde_json::Map<String, Value> = tables()
        .iter()
        .map(|t| {
            (
                t.logical.to_owned(),
                json!({
                    "env": t.env,
                    "default_name": t.default_name,
                    "partition_key": key_json(&t.partition_key),
                    "sort_key": t.sort_key.as_ref().map(key_json),
                    "global_secondary_indexes": t.indexes.iter().map(|i| json!({
                        "name": i.name,
                        "partition_key": key_json(&i.partition_key),
                        "sort_key": i.sort_key.as_ref().map(key_json),
                        "projection": "ALL",
                    })).collect::<Vec<_>>(),
                }),
            )
        })
        .collect();
    let functions: serde_json::Map<String, Value> = functions()
        .iter()
        .map(|f| {
            (
                f.name.to_owned(),
                json!({
                    "lambda_name": f.lambda_name,
                    "tables": f.tables.iter().map(|(t, _)| *t).collect::<Vec<_>>(),
                    "table_access": f.tables.iter().map(|(t, a)| (t.to_string(), json!(match a {
                        Access::Read => "read",
                        Access::ReadWrite => "read_write",
                    }))).collect::<serde_json::Map<_, _>>(),
                    "env": f.env,
                }),
            )
        })
        .collect();
    // What the read-only role in a customer account may do: every collector's calls, plus the
    // object scanner's reads under s3 (declared with the session, `collect::session`).
    let permissions: serde_json::Map<String, Value> = crate::collect::session::role_permissions()
        .into_iter()
        .map(|(svc, perms)| (svc.as_str().to_owned(), json!(perms)))
        .collect();
    // The kinds qrie collects, from the registry: what each is, where its ARN puts region and
    // account, and the events that keep it current (documentation for the operator, and the CDK
    // app's check that every kind's events are let through).
    let kinds: serde_json::Map<String, Value> = crate::registry::kinds()
        .map(|k| {
            (
                k.resource_type().to_owned(),
                json!({
                    "service": k.shape.service.as_str(),
                    "residence": k.residence.as_str(),
                    "arn": k.arn("${Partition}", "${Region}", "${Account}", "${Id}"),
                    "events": k.events().iter().map(|(source, name)| format!("{}:{name}", source.trim_end_matches(".amazonaws.com"))).collect::<Vec<_>>(),
                }),
            )
        })
        .collect();
    json!({
        "tables": tables,
        "functions": functions,
        "scanner_role_name": crate::config::DEFAULT_SCANNER_ROLE_NAME,
        "collector_permissions": permissions,
        // Granted to the same role only when the deployment imports into Security Hub (the
        // onboarding template's EnableSecurityHubImports).
        "security_hub_permissions": crate::collect::session::SECURITY_HUB_PERMISSIONS,
        "resource_kinds": kinds,
        // Every eventSource the trail catalogue has rules for, collected or ahead of its
        // collector: the EventBridge rules forward exactly these.
        "event_sources": crate::trail::event_sources(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The checked-in contract must be exactly what the code says. Regenerate with
    /// `QRIE_BLESS=1 cargo test -p qrie contract` (or `make contract`).
    #[test]
    fn contract_file_matches_the_code() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/contract.json");
        let expected = serde_json::to_string_pretty(&contract()).unwrap() + "\n";
        if std::env::var_os("QRIE_BLESS").is_some() {
            std::fs::write(&path, &expected).unwrap();
        }
        let actual = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            actual, expected,
            "shared/schema/contract.json is out of date: run `make contract`"
        );
    }

    #[test]
    fn every_function_reads_the_tables_it_touches() {
        let specs = tables();
        for f in functions() {
            for (logical, _) in &f.tables {
                let t = specs.iter().find(|t| t.logical == *logical).unwrap();
                assert!(f.env.contains(&t.env), "{} lacks {}", f.name, t.env);
            }
        }
    }
}
