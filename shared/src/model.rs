//! The domain model: accounts, resources, severities and findings.
//!
//! These types are what the collectors produce, what the policy engine evaluates and what the
//! storage ports persist. They carry no storage or AWS SDK detail.
//!
//! Two conventions shared by every service live here too: how a normalised configuration says
//! which of its parts could not be read ([`UNREADABLE`], [`UnreadablePart`]), so that no policy
//! is evaluated on a guess, and what counts as an AWS region name ([`is_region_name`]).

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
    Lambda,
    /// VPC networking (VPCs, subnets, route tables, gateways, endpoints, peering, VPN): EC2 API
    /// calls and `arn:<partition>:ec2:` ARNs, kept in a partition of their own.
    Vpc,
}

impl Service {
    pub const ALL: [Service; 8] = [
        Service::S3,
        Service::Iam,
        Service::Ec2,
        Service::Rds,
        Service::CloudTrail,
        Service::Kms,
        Service::Lambda,
        Service::Vpc,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Service::S3 => "s3",
            Service::Iam => "iam",
            Service::Ec2 => "ec2",
            Service::Rds => "rds",
            Service::CloudTrail => "cloudtrail",
            Service::Kms => "kms",
            Service::Lambda => "lambda",
            Service::Vpc => "vpc",
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
#[error("unknown service {0:?} (known: s3, iam, ec2, rds, cloudtrail, kms, lambda, vpc)")]
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
    /// The name stored in the findings table's `State` attribute (and its GSI key).
    pub fn as_str(self) -> &'static str {
        match self {
            FindingState::Active => "ACTIVE",
            FindingState::Resolved => "RESOLVED",
        }
    }
}

/// A stored `State` that is neither `ACTIVE` nor `RESOLVED`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown finding state {0:?} (known: ACTIVE, RESOLVED)")]
pub struct UnknownFindingState(pub String);

impl FromStr for FindingState {
    type Err = UnknownFindingState;
    /// The exact stored name, as [`FindingState::as_str`] writes it.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [FindingState::Active, FindingState::Resolved]
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| UnknownFindingState(s.to_owned()))
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
    /// The risk score of its last failing evaluation (severity and the policy's risk factors,
    /// see [`crate::risk`]); `None` on a finding stored before qrie scored findings, until it
    /// is evaluated again.
    #[serde(default)]
    pub risk_score: Option<crate::risk::RiskScore>,
    /// The part of the configuration that failed the policy.
    pub evidence: Value,
    pub first_seen: DateTime<Utc>,
    pub last_evaluated: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// The `last_seen_at` of the resource configuration this finding was evaluated from; writes
    /// from an older configuration never overwrite a newer one.
    pub observed_at: DateTime<Utc>,
    /// What happened to it before: how often a resolved finding failed again, when it last was.
    #[serde(default)]
    pub history: History,
    /// Someone has seen it (cleared when a resolved finding fails again: a new occurrence).
    #[serde(default)]
    pub acknowledged: Option<Acknowledgement>,
    /// An accepted risk until a date (kept across a re-open: the risk was accepted for the
    /// resource and policy, not for one occurrence).
    #[serde(default)]
    pub suppressed: Option<Suppression>,
    /// The suppression rule (`policies/suppressions.yaml`) that matched its last failing
    /// evaluation.
    #[serde(default)]
    pub muted: Option<RuleMatch>,
}

impl Finding {
    /// True when an operator's suppression of this finding, or the rule that matched it, holds
    /// at `now` (has not expired): it is left out of the compliance scores.
    pub fn is_suppressed_at(&self, now: DateTime<Utc>) -> bool {
        self.suppressed.as_ref().is_some_and(|s| s.until > now)
            || self.muted.as_ref().is_some_and(|m| m.until > now)
    }
}

/// A suppression rule that matched a failing evaluation: its id, reason and end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleMatch {
    pub rule: String,
    pub reason: String,
    pub until: DateTime<Utc>,
}

/// A finding's earlier life: it was resolved and then failed again.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    /// How many times it was re-opened after a resolution.
    pub reopened: u32,
    /// The last re-opening.
    pub reopened_at: Option<DateTime<Utc>>,
    /// The resolution the last re-opening ended.
    pub last_resolved_at: Option<DateTime<Utc>>,
}

/// "I have seen this": who, when and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acknowledgement {
    pub by: String,
    pub at: DateTime<Utc>,
    pub reason: String,
}

/// An accepted risk: who accepted it, when, why, and until when. After `until` the finding is
/// active again in scores, counts, notifications and exports, without anyone lifting it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suppression {
    pub by: String,
    pub at: DateTime<Utc>,
    pub reason: String,
    pub until: DateTime<Utc>,
}

/// The key of a normalised configuration under which a collector lists the parts of it that
/// could not be read (AccessDenied, throttled after retries, ...), instead of writing a guess in
/// their place. A policy whose condition reads one of these parts is not evaluated for that
/// resource (see `policy::Policy::evaluate`).
pub const UNREADABLE: &str = "Unreadable";

/// One part of a configuration that could not be read: the dotted path it would have had in the
/// configuration, the API call that failed and its error code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UnreadablePart {
    pub path: String,
    pub operation: String,
    pub code: String,
}

impl UnreadablePart {
    /// The path as segments (the empty path, the whole configuration, has none).
    pub fn segments(&self) -> Vec<&str> {
        self.path.split('.').filter(|s| !s.is_empty()).collect()
    }
}

impl fmt::Display for UnreadablePart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}: {})", self.path, self.operation, self.code)
    }
}

/// The unreadable parts a configuration lists. An `Unreadable` entry that is not in the expected
/// shape (a damaged stored item) makes the whole configuration unreadable (path `""`): nothing is
/// evaluated on it rather than everything.
pub fn unreadable_parts(configuration: &Value) -> Vec<UnreadablePart> {
    let whole = || UnreadablePart {
        path: String::new(),
        operation: "reading the stored configuration".into(),
        code: "MalformedUnreadableList".into(),
    };
    match configuration.get(UNREADABLE) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| serde_json::from_value(item.clone()).unwrap_or_else(|_| whole()))
            .collect(),
        Some(_) => vec![whole()],
    }
}

/// The geographic prefixes of AWS region names across the partitions (aws, aws-cn, aws-us-gov,
/// aws-iso*, aws-eusc).
const REGION_AREAS: &[&str] = &[
    "af", "ap", "ca", "cn", "eu", "il", "me", "mx", "sa", "us", "eusc",
];
/// The directions region names use.
const REGION_DIRECTIONS: &[&str] = &[
    "central",
    "east",
    "west",
    "north",
    "south",
    "northeast",
    "northwest",
    "southeast",
    "southwest",
];

/// True for a 12-digit AWS account id.
pub fn is_account_id(text: &str) -> bool {
    text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit())
}

/// True when `name` is shaped like an AWS region of a known partition:
/// `<area>[-gov|-iso[a-z]]-[<locale>-]<direction>-<n>`, e.g. `us-east-1`, `us-gov-west-1`,
/// `us-isob-east-1`, `eusc-de-east-1`. Syntactic: a region AWS opens later with a known shape
/// passes; a typo such as `us-eats-1` or `useast1` does not.
pub fn is_region_name(name: &str) -> bool {
    let parts: Vec<&str> = name.split('-').collect();
    let (Some(&area), Some(&number)) = (parts.first(), parts.last()) else {
        return false;
    };
    if !REGION_AREAS.contains(&area) || parts.len() < 3 {
        return false;
    }
    let number_ok = !number.is_empty()
        && number.len() <= 2
        && number.bytes().all(|b| b.is_ascii_digit())
        && !number.starts_with('0');
    let mut middle = &parts[1..parts.len() - 1];
    // An optional partition qualifier: gov, iso, isob, isoe, isof, ...
    if let Some(first) = middle.first() {
        let qualifier = *first == "gov"
            || (first.starts_with("iso")
                && first.len() <= 4
                && first.bytes().all(|b| b.is_ascii_lowercase()));
        if qualifier && middle.len() > 1 {
            middle = &middle[1..];
        }
    }
    // An optional two-letter locale (eusc-de-east-1), then the direction.
    let direction = match middle {
        [direction] => direction,
        [locale, direction]
            if locale.len() == 2 && locale.bytes().all(|b| b.is_ascii_lowercase()) =>
        {
            direction
        }
        _ => return false,
    };
    number_ok && REGION_DIRECTIONS.contains(direction)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finding_states_parse_back_from_their_stored_names_only() {
        for state in [FindingState::Active, FindingState::Resolved] {
            assert_eq!(state.as_str().parse(), Ok(state));
        }
        // the stored name is exact: no other spelling is a state
        assert_eq!(
            "active".parse::<FindingState>(),
            Err(UnknownFindingState("active".into()))
        );
        assert!("OPEN".parse::<FindingState>().is_err());
    }

    #[test]
    fn region_names_of_every_partition_pass_and_typos_do_not() {
        // Given real region names of each partition
        for name in [
            "us-east-1",
            "eu-west-3",
            "ap-southeast-5",
            "me-central-1",
            "il-central-1",
            "mx-central-1",
            "ca-west-1",
            "cn-northwest-1",
            "us-gov-west-1",
            "us-iso-east-1",
            "us-isob-east-1",
            "eu-isoe-west-1",
            "us-isof-south-1",
            "eusc-de-east-1",
        ] {
            // Then each is a region name
            assert!(is_region_name(name), "{name}");
        }
        // Given typos and other strings, Then none is
        for name in [
            "us-eats-1",
            "useast1",
            "us-east",
            "us-east-01",
            "US-EAST-1",
            "xx-east-1",
            "us-east-1 ",
            "",
            "us--east-1",
            "us-gov-1",
            "global",
            "aws-global",
        ] {
            assert!(!is_region_name(name), "{name}");
        }
    }

    #[test]
    fn unreadable_parts_are_listed_and_a_damaged_list_blocks_everything() {
        // Given a configuration listing an unreadable part
        let config = serde_json::json!({"Unreadable": [
            {"Path": "AccountPublicAccessBlock", "Operation": "GetPublicAccessBlock", "Code": "AccessDenied"}
        ]});
        // Then it is read back with its segments
        let parts = unreadable_parts(&config);
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].segments(), ["AccountPublicAccessBlock"]);
        assert!(unreadable_parts(&serde_json::json!({})).is_empty());
        // Given a damaged list, Then the whole configuration counts as unreadable
        let damaged = unreadable_parts(&serde_json::json!({"Unreadable": "oops"}));
        assert_eq!(damaged[0].segments(), Vec::<&str>::new());
    }

    #[test]
    fn services_round_trip_and_name_partitions() {
        for svc in Service::ALL {
            assert_eq!(svc.as_str().parse::<Service>().unwrap(), svc);
        }
        assert_eq!(
            partition_key("123456789012", Service::S3),
            "123456789012_s3"
        );
        assert!("lambdas".parse::<Service>().is_err());
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
        assert_eq!(
            Service::of_resource_type("AWS::Lambda::Function"),
            Some(Service::Lambda)
        );
        assert_eq!(Service::of_resource_type("AWS::SQS::Queue"), None);
    }

    #[test]
    fn severities_parse_case_insensitively() {
        assert_eq!("critical".parse::<Severity>().unwrap(), Severity::Critical);
        assert!(Severity::Critical < Severity::Low);
        assert!("urgent".parse::<Severity>().is_err());
    }
}
