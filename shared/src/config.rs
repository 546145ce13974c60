//! Typed configuration, read once at cold start.
//!
//! Every environment variable a qrie function reads is named here, and the same names appear in
//! `shared/schema/contract.json` (which the CDK app uses for each function's `environment`).
//! Missing required variables fail fast with an error that names them.

use std::time::Duration;

use thiserror::Error;

/// Names of the environment variables qrie reads.
pub mod env {
    pub const RESOURCES_TABLE: &str = "QRIE_RESOURCES_TABLE";
    pub const FINDINGS_TABLE: &str = "QRIE_FINDINGS_TABLE";
    pub const POLICIES_TABLE: &str = "QRIE_POLICIES_TABLE";
    pub const ACCOUNTS_TABLE: &str = "QRIE_ACCOUNTS_TABLE";
    pub const SCANNER_ROLE_NAME: &str = "QRIE_SCANNER_ROLE_NAME";
    pub const MAX_ATTEMPTS: &str = "QRIE_MAX_ATTEMPTS";
    pub const OPERATION_TIMEOUT_SECS: &str = "QRIE_OPERATION_TIMEOUT_SECS";
    pub const ATTEMPT_TIMEOUT_SECS: &str = "QRIE_ATTEMPT_TIMEOUT_SECS";
    pub const POLICY_DIR: &str = "QRIE_POLICY_DIR";
    pub const SCAN_JOBS_TABLE: &str = "QRIE_SCAN_JOBS_TABLE";
    pub const OBJECT_FINDINGS_TABLE: &str = "QRIE_OBJECT_FINDINGS_TABLE";
    pub const COMPLIANCE_TABLE: &str = "QRIE_COMPLIANCE_TABLE";
    /// The object-scan work queue (object, range and continuation messages).
    pub const OBJECT_SCAN_QUEUE_URL: &str = "QRIE_OBJECT_SCAN_QUEUE_URL";
    /// Objects (decompressed, for gzip) larger than this are skipped with a recorded reason.
    pub const OBJECT_MAX_BYTES: &str = "QRIE_OBJECT_MAX_BYTES";
    /// Objects larger than this are split into byte ranges of this size, one message each.
    pub const OBJECT_BYTES_PER_MESSAGE: &str = "QRIE_OBJECT_BYTES_PER_MESSAGE";
    /// The work queue's `maxReceiveCount`: the receive on which a failing message is counted
    /// failed before SQS dead-letters it.
    pub const OBJECT_SCAN_MAX_RECEIVES: &str = "QRIE_OBJECT_SCAN_MAX_RECEIVES";
    /// The SNS topic new and re-opened findings are published to; unset, notifications are off.
    pub const FINDINGS_TOPIC_ARN: &str = "QRIE_FINDINGS_TOPIC_ARN";
    /// The lowest severity that is notified (`critical`, `high`, ...; default `high`).
    pub const NOTIFY_MIN_SEVERITY: &str = "QRIE_NOTIFY_MIN_SEVERITY";
    /// `enabled`: the scanner and the event processor import what they open, change and
    /// resolve into AWS Security Hub (see `securityhub`); unset or `disabled`: they do not.
    pub const SECURITY_HUB: &str = "QRIE_SECURITY_HUB";
    /// The region findings are imported into (default: the function's own region).
    pub const SECURITY_HUB_REGION: &str = "QRIE_SECURITY_HUB_REGION";
    /// Standard AWS variable; when set, qrie is talking to a local emulator.
    pub const ENDPOINT_URL: &str = "AWS_ENDPOINT_URL";
}

/// A configuration problem found at start-up.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("environment variable {0} is required but not set")]
    Missing(&'static str),
    #[error("environment variable {name} has an invalid value {value:?}: {reason}")]
    Invalid {
        name: &'static str,
        value: String,
        reason: &'static str,
    },
}

/// Settings for every AWS client qrie builds (see [`crate::aws`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsSettings {
    /// Endpoint override (a local emulator such as moto); `None` on AWS.
    pub endpoint_url: Option<String>,
    /// Total attempts per call, first try included (standard retry mode, with backoff).
    pub max_attempts: u32,
    /// Upper bound for one whole operation, retries included.
    pub operation_timeout: Duration,
    /// Upper bound for one attempt.
    pub attempt_timeout: Duration,
}

impl Default for AwsSettings {
    fn default() -> Self {
        Self {
            endpoint_url: None,
            max_attempts: 5,
            operation_timeout: Duration::from_secs(60),
            attempt_timeout: Duration::from_secs(20),
        }
    }
}

impl AwsSettings {
    /// True when an endpoint override points at a local emulator.
    pub fn is_local(&self) -> bool {
        self.endpoint_url.is_some()
    }
}

/// The names of qrie's DynamoDB tables in this deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableNames {
    pub resources: String,
    pub findings: String,
    pub policies: String,
    pub accounts: String,
    /// Object-scan jobs, with their per-unit markers (see `object_scan`).
    pub scan_jobs: String,
    /// Sensitive-data findings of object scans.
    pub object_findings: String,
    /// Daily compliance summaries, one item per account, framework and day.
    pub compliance: String,
}

/// A gzip object inflating to more than this many times its compressed size is a
/// decompression bomb (deflate's own maximum is about 1,032:1).
pub const DEFAULT_MAX_COMPRESSION_RATIO: u64 = 1_000;

/// Settings of the object scanner (`object_scan`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectScanSettings {
    /// The work queue; required to create jobs, enroll buckets and continue enumerations.
    pub queue_url: Option<String>,
    /// Objects larger than this (decompressed size for gzip) are skipped with a reason.
    pub max_object_bytes: u64,
    /// Larger objects are split into byte ranges of this size at enumeration time.
    pub bytes_per_message: u64,
    /// The queue's receive limit before dead-lettering (counted failed on that receive).
    pub max_receives: u32,
    /// ListObjectsV2 page size (`MaxKeys`).
    pub list_page_size: i32,
    /// Listing pages one invocation enumerates before handing over to a continuation message.
    pub pages_per_invocation: u32,
    /// Time one invocation enumerates before handing over to a continuation message.
    pub enumeration_budget: Duration,
    /// A gzip object inflating to more than this many times its compressed size is skipped
    /// (`compression_ratio`) once that is seen.
    pub max_compression_ratio: u64,
}

impl Default for ObjectScanSettings {
    fn default() -> Self {
        Self {
            queue_url: None,
            max_object_bytes: 5 * 1024 * 1024 * 1024,
            bytes_per_message: 512 * 1024 * 1024,
            max_receives: 3,
            list_page_size: 1000,
            pages_per_invocation: 100,
            enumeration_budget: Duration::from_secs(120),
            max_compression_ratio: DEFAULT_MAX_COMPRESSION_RATIO,
        }
    }
}

/// Where and from which severity new and re-opened findings are announced (see `notify`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifySettings {
    /// The findings topic; `None`: notifications are off.
    pub topic_arn: Option<String>,
    /// Findings of this severity or a more serious one are announced.
    pub min_severity: crate::model::Severity,
}

impl Default for NotifySettings {
    fn default() -> Self {
        Self {
            topic_arn: None,
            min_severity: crate::model::Severity::High,
        }
    }
}

/// Whether and where findings go to AWS Security Hub (see `securityhub`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecurityHubSettings {
    pub enabled: bool,
    /// The region of the imports; `None`: the SDK configuration's region.
    pub region: Option<String>,
}

/// Everything a qrie function reads from its environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub tables: TableNames,
    pub aws: AwsSettings,
    /// Name of the read-only role qrie assumes in customer accounts (used when an account row
    /// carries no explicit role ARN).
    pub scanner_role_name: String,
    /// Load policies from this folder instead of the set compiled into the binary.
    pub policy_dir: Option<String>,
    pub object_scan: ObjectScanSettings,
    /// Notifications of new and re-opened findings (the scanner and the event processor).
    pub notify: NotifySettings,
    /// Imports into AWS Security Hub (`QRIE_SECURITY_HUB`).
    pub security_hub: SecurityHubSettings,
}

/// The role name the onboarding template creates; the default for `QRIE_SCANNER_ROLE_NAME`.
pub const DEFAULT_SCANNER_ROLE_NAME: &str = "QrieScannerRole";

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup` (the environment, or a map in tests). Table names
    /// default to the names the CDK app gives them; everything else has a safe default.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &'static str, default: &str| -> String {
            lookup(name)
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| default.to_owned())
        };
        let number = |name: &'static str, default: u64| -> Result<u64, ConfigError> {
            match lookup(name).filter(|v| !v.is_empty()) {
                None => Ok(default),
                Some(v) => match v.parse::<u64>() {
                    Ok(n) if n > 0 => Ok(n),
                    _ => Err(ConfigError::Invalid {
                        name,
                        value: v,
                        reason: "expected a positive integer",
                    }),
                },
            }
        };
        let defaults = AwsSettings::default();
        let scan_defaults = ObjectScanSettings::default();
        let max_attempts = number(env::MAX_ATTEMPTS, u64::from(defaults.max_attempts))?;
        let aws = AwsSettings {
            endpoint_url: lookup(env::ENDPOINT_URL).filter(|v| !v.is_empty()),
            max_attempts: u32::try_from(max_attempts).map_err(|_| ConfigError::Invalid {
                name: env::MAX_ATTEMPTS,
                value: max_attempts.to_string(),
                reason: "too large",
            })?,
            operation_timeout: Duration::from_secs(number(
                env::OPERATION_TIMEOUT_SECS,
                defaults.operation_timeout.as_secs(),
            )?),
            attempt_timeout: Duration::from_secs(number(
                env::ATTEMPT_TIMEOUT_SECS,
                defaults.attempt_timeout.as_secs(),
            )?),
        };
        Ok(Self {
            tables: TableNames {
                resources: get(env::RESOURCES_TABLE, "qrie_resources"),
                findings: get(env::FINDINGS_TABLE, "qrie_findings"),
                policies: get(env::POLICIES_TABLE, "qrie_policies"),
                accounts: get(env::ACCOUNTS_TABLE, "qrie_accounts"),
                scan_jobs: get(env::SCAN_JOBS_TABLE, "qrie_scan_jobs"),
                object_findings: get(env::OBJECT_FINDINGS_TABLE, "qrie_object_findings"),
                compliance: get(env::COMPLIANCE_TABLE, "qrie_compliance"),
            },
            aws,
            scanner_role_name: get(env::SCANNER_ROLE_NAME, DEFAULT_SCANNER_ROLE_NAME),
            policy_dir: lookup(env::POLICY_DIR).filter(|v| !v.is_empty()),
            object_scan: ObjectScanSettings {
                queue_url: lookup(env::OBJECT_SCAN_QUEUE_URL).filter(|v| !v.is_empty()),
                max_object_bytes: number(env::OBJECT_MAX_BYTES, scan_defaults.max_object_bytes)?,
                bytes_per_message: number(
                    env::OBJECT_BYTES_PER_MESSAGE,
                    scan_defaults.bytes_per_message,
                )?,
                max_receives: u32::try_from(number(
                    env::OBJECT_SCAN_MAX_RECEIVES,
                    u64::from(scan_defaults.max_receives),
                )?)
                .map_err(|_| ConfigError::Invalid {
                    name: env::OBJECT_SCAN_MAX_RECEIVES,
                    value: String::new(),
                    reason: "too large",
                })?,
                ..scan_defaults
            },
            notify: NotifySettings {
                topic_arn: lookup(env::FINDINGS_TOPIC_ARN).filter(|v| !v.is_empty()),
                min_severity: match lookup(env::NOTIFY_MIN_SEVERITY).filter(|v| !v.is_empty()) {
                    None => NotifySettings::default().min_severity,
                    Some(v) => v.parse().map_err(|_| ConfigError::Invalid {
                        name: env::NOTIFY_MIN_SEVERITY,
                        value: v,
                        reason: "expected critical, high, medium, low or informational",
                    })?,
                },
            },
            security_hub: SecurityHubSettings {
                enabled: match lookup(env::SECURITY_HUB).filter(|v| !v.is_empty()) {
                    None => false,
                    Some(v) if v.eq_ignore_ascii_case("enabled") => true,
                    Some(v) if v.eq_ignore_ascii_case("disabled") => false,
                    Some(v) => {
                        return Err(ConfigError::Invalid {
                            name: env::SECURITY_HUB,
                            value: v,
                            reason: "expected enabled or disabled",
                        })
                    }
                },
                region: lookup(env::SECURITY_HUB_REGION).filter(|v| !v.is_empty()),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn empty_environment_gives_deployed_defaults() {
        let config = Config::from_lookup(lookup(&[])).unwrap();
        assert_eq!(config.tables.resources, "qrie_resources");
        assert_eq!(config.tables.findings, "qrie_findings");
        assert_eq!(config.scanner_role_name, DEFAULT_SCANNER_ROLE_NAME);
        assert!(!config.aws.is_local());
    }

    #[test]
    fn security_hub_is_off_unless_enabled_and_a_bad_value_is_named() {
        let off = Config::from_lookup(lookup(&[])).unwrap();
        assert_eq!(off.security_hub, SecurityHubSettings::default());
        let on = Config::from_lookup(lookup(&[
            (env::SECURITY_HUB, "enabled"),
            (env::SECURITY_HUB_REGION, "eu-west-1"),
        ]))
        .unwrap();
        assert!(on.security_hub.enabled);
        assert_eq!(on.security_hub.region.as_deref(), Some("eu-west-1"));
        let err = Config::from_lookup(lookup(&[(env::SECURITY_HUB, "yes")])).unwrap_err();
        assert!(err.to_string().contains(env::SECURITY_HUB), "{err}");
    }

    #[test]
    fn overrides_are_read() {
        let config = Config::from_lookup(lookup(&[
            (env::RESOURCES_TABLE, "r"),
            (env::ENDPOINT_URL, "http://127.0.0.1:5000"),
            (env::MAX_ATTEMPTS, "2"),
        ]))
        .unwrap();
        assert_eq!(config.tables.resources, "r");
        assert!(config.aws.is_local());
        assert_eq!(config.aws.max_attempts, 2);
    }

    #[test]
    fn notifications_are_off_without_a_topic_and_default_to_high() {
        let config = Config::from_lookup(lookup(&[])).unwrap();
        assert_eq!(config.notify, NotifySettings::default());
        assert_eq!(config.notify.min_severity, crate::model::Severity::High);
        let config = Config::from_lookup(lookup(&[
            (
                env::FINDINGS_TOPIC_ARN,
                "arn:aws:sns:us-east-1:123456789012:qrie-findings",
            ),
            (env::NOTIFY_MIN_SEVERITY, "Critical"),
        ]))
        .unwrap();
        assert_eq!(
            config.notify.topic_arn.as_deref(),
            Some("arn:aws:sns:us-east-1:123456789012:qrie-findings")
        );
        assert_eq!(config.notify.min_severity, crate::model::Severity::Critical);
        let err = Config::from_lookup(lookup(&[(env::NOTIFY_MIN_SEVERITY, "urgent")])).unwrap_err();
        assert!(err.to_string().contains(env::NOTIFY_MIN_SEVERITY), "{err}");
    }

    #[test]
    fn an_invalid_number_names_the_variable() {
        let err = Config::from_lookup(lookup(&[(env::MAX_ATTEMPTS, "lots")])).unwrap_err();
        assert!(err.to_string().contains(env::MAX_ATTEMPTS), "{err}");
    }
}
