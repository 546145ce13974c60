//! The domain model: accounts, resources, severities and findings.
//!
//! These types are what the collectors produce, what the policy engine evaluates and what the
//! storage ports persist. They carry no storage or AWS SDK detail.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The services qrie inventories. The string form is the suffix of the resources table's
/// `AccountService` partition key (`123456789012_s3`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Service {
    S3,
    Iam,
    Ec2,
    Rds,
    CloudTrail,
    Kms,
}

impl Service {
    pub const ALL: [Service; 6] = [
        Service::S3,
        Service::Iam,
        Service::Ec2,
        Service::Rds,
        Service::CloudTrail,
        Service::Kms,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Service::S3 => "s3",
            Service::Iam => "iam",
            Service::Ec2 => "ec2",
            Service::Rds => "rds",
            Service::CloudTrail => "cloudtrail",
            Service::Kms => "kms",
        }
    }

    /// The service a CloudFormation-style resource type belongs to (`AWS::S3::Bucket` → s3).
    pub fn of_resource_type(resource_type: &str) -> Option<Service> {
        let mut parts = resource_type.split("::");
        match (parts.next(), parts.next()) {
            (Some("AWS"), Some(svc)) => svc.to_ascii_lowercase().parse().ok(),
            _ => None,
        }
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A service name that qrie does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown service {0:?} (known: s3, iam, ec2, rds, cloudtrail, kms)")]
pub struct UnknownService(pub String);

impl FromStr for Service {
    type Err = UnknownService;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Service::ALL
            .into_iter()
            .find(|svc| svc.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownService(s.to_owned()))
    }
}

/// The resources-table partition of one account and service: `<account>_<service>`.
pub fn partition_key(account_id: &str, service: Service) -> String {
    format!("{account_id}_{}", service.as_str())
}

/// An onboarded customer account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub account_id: String,
    /// The read-only role qrie assumes in the account.
    pub role_arn: String,
    /// The ExternalId the role's trust policy requires.
    pub external_id: Option<String>,
    /// Regions to inventory for regional services.
    pub regions: Vec<String>,
    pub enabled: bool,
    pub name: Option<String>,
}

/// One inventoried resource with its normalised configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resource {
    pub arn: String,
    pub account_id: String,
    pub service: Service,
    /// CloudFormation-style type, e.g. `AWS::S3::Bucket`.
    pub resource_type: String,
    pub region: String,
    /// The normalised configuration the policies evaluate.
    pub configuration: Value,
    /// When this configuration was read from AWS.
    pub last_seen_at: DateTime<Utc>,
}

impl Resource {
    pub fn partition_key(&self) -> String {
        partition_key(&self.account_id, self.service)
    }
}

/// How serious a failed policy is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Severity {
    Critical,
    High,
    Medium,
    Low,
    Informational,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "CRITICAL",
            Severity::High => "HIGH",
            Severity::Medium => "MEDIUM",
            Severity::Low => "LOW",
            Severity::Informational => "INFORMATIONAL",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A severity name that qrie does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown severity {0:?} (known: critical, high, medium, low, informational)")]
pub struct UnknownSeverity(pub String);

impl FromStr for Severity {
    type Err = UnknownSeverity;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            Severity::Critical,
            Severity::High,
            Severity::Medium,
            Severity::Low,
            Severity::Informational,
        ]
        .into_iter()
        .find(|sev| sev.as_str().eq_ignore_ascii_case(s))
        .ok_or_else(|| UnknownSeverity(s.to_owned()))
    }
}

/// Whether a finding is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum FindingState {
    Active,
    Resolved,
}

impl FindingState {
    pub fn as_str(self) -> &'static str {
        match self {
            FindingState::Active => "ACTIVE",
            FindingState::Resolved => "RESOLVED",
        }
    }
}

/// One (resource, policy) finding as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub arn: String,
    pub policy_id: String,
    pub account_id: String,
    pub account_service: String,
    pub resource_type: String,
    pub state: FindingState,
    pub severity: Severity,
    /// The part of the configuration that failed the policy.
    pub evidence: Value,
    pub first_seen: DateTime<Utc>,
    pub last_evaluated: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// The `last_seen_at` of the resource configuration this finding was evaluated from; writes
    /// from an older configuration never overwrite a newer one.
    pub observed_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_round_trip_and_name_partitions() {
        for svc in Service::ALL {
            assert_eq!(svc.as_str().parse::<Service>().unwrap(), svc);
        }
        assert_eq!(
            partition_key("123456789012", Service::S3),
            "123456789012_s3"
        );
        assert!("lambda".parse::<Service>().is_err());
    }

    #[test]
    fn resource_types_map_to_services() {
        assert_eq!(
            Service::of_resource_type("AWS::S3::Bucket"),
            Some(Service::S3)
        );
        assert_eq!(
            Service::of_resource_type("AWS::CloudTrail::Trail"),
            Some(Service::CloudTrail)
        );
        assert_eq!(Service::of_resource_type("AWS::Lambda::Function"), None);
    }

    #[test]
    fn severities_parse_case_insensitively() {
        assert_eq!("critical".parse::<Severity>().unwrap(), Severity::Critical);
        assert!(Severity::Critical < Severity::Low);
        assert!("urgent".parse::<Severity>().is_err());
    }
}
