//! Notifications of new and re-opened findings, on an SNS topic: one message per finding from
//! the event processor (the real-time path), one digest per account from the policy scanner.
//!
//! What is announced is decided where the finding is written: [`OpenedFinding::announced`] turns
//! the outcome of the findings store's conditional write into an announcement only when that
//! write opened a finding ([`OpenOutcome::Opened`]) or re-opened a resolved one
//! ([`OpenOutcome::Reopened`]), and only when neither a suppression rule (`Muted`) nor an
//! operator's suppression (kept across a re-open) holds. A refresh of an ACTIVE finding, a
//! redelivered event and a stale evaluation all write `StillActive`/`Stale`, so each opening is
//! announced once, whatever the retries. The [`Notifier`] then keeps those at or above the
//! configured severity (`QRIE_NOTIFY_MIN_SEVERITY`, default high) and publishes them to
//! `QRIE_FINDINGS_TOPIC_ARN`; without a topic, notifications are off.
//!
//! A finding message is a subject and a JSON body: the resource (ARN, account, region, service,
//! type), the policy (id, title, severity), the risk score, the controls by framework, the state, when it was
//! first seen and (re-)opened, the evidence (the failing part of the configuration, which the
//! collectors store masked; cut to a list of its paths past [`EVIDENCE_MAX_BYTES`]) and a console
//! link ([`console_url`]). Message attributes (`kind`, `event`, `severity`, `policy_id`,
//! `account`) let a subscription filter. A digest lists one account's new and re-opened findings
//! of a scan: counts by severity, the [`DIGEST_TOP`] of highest risk score (then severity), and
//! how many more; it is cut
//! to fit SNS's 256 KB with the count of what was left out, never refused.
//!
//! A publish that fails (after the SDK's own retries) is logged and counted in the function's
//! summary, and never changes a finding. It is not retried by failing the SQS message: the
//! redelivery's write would find the finding ACTIVE (`StillActive`) and announce nothing, so a
//! retry could only repeat the refresh, never deliver the message; the finding itself is in the
//! findings table (and `qrie findings`) either way.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Value};
use tracing::{error, info, warn};

use crate::config::NotifySettings;
use crate::model::{Resource, Service, Severity};
use crate::policy::Policy;
use crate::store::{timestamp, FailedEvaluation, OpenOutcome};

/// Findings listed by name in one digest; the rest are counted.
pub const DIGEST_TOP: usize = 50;
/// SNS's limit for one message, body and attributes together.
pub const SNS_MAX_BYTES: usize = 262_144;
/// Evidence larger than this (as JSON) is announced by its paths only.
pub const EVIDENCE_MAX_BYTES: usize = 4_096;
/// SNS's limit for a subject.
const SUBJECT_MAX_CHARS: usize = 100;

/// Whether an announced finding is new or a resolved one that failed again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Occurrence {
    Opened,
    Reopened,
}

impl Occurrence {
    pub fn as_str(self) -> &'static str {
        match self {
            Occurrence::Opened => "opened",
            Occurrence::Reopened => "reopened",
        }
    }
}

/// A finding one evaluation opened or re-opened and that no suppression covers: what the
/// notifications announce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenedFinding {
    pub arn: String,
    pub account_id: String,
    pub region: String,
    pub service: Service,
    pub resource_type: String,
    pub policy_id: String,
    pub title: String,
    pub severity: Severity,
    /// The evaluation's risk score (see `crate::risk`).
    pub risk_score: crate::risk::RiskScore,
    /// (framework, control ids), in the policy's order.
    pub controls: Vec<(String, Vec<String>)>,
    pub occurrence: Occurrence,
    /// When the finding was first seen (a re-opened finding keeps its first sighting).
    pub first_seen: Option<DateTime<Utc>>,
    /// When this evaluation opened or re-opened it.
    pub at: DateTime<Utc>,
    /// The failing part of the configuration (masked by the collectors); `Null` once dropped
    /// (the digest does not carry it).
    pub evidence: Value,
}

impl OpenedFinding {
    /// The announcement of one write's outcome: `None` unless the write opened or re-opened the
    /// finding, and `None` when a suppression rule matched the evaluation or an operator's
    /// suppression of the re-opened finding holds at `failed.evaluated_at`.
    pub fn announced(
        resource: &Resource,
        policy: &Policy,
        failed: &FailedEvaluation,
        outcome: OpenOutcome,
    ) -> Option<Self> {
        let now = failed.evaluated_at;
        if failed.muted.as_ref().is_some_and(|m| m.until > now) {
            return None;
        }
        let (occurrence, first_seen) = match outcome {
            OpenOutcome::Opened => (Occurrence::Opened, Some(now)),
            OpenOutcome::Reopened {
                first_seen,
                suppressed_until,
            } => {
                if suppressed_until.is_some_and(|until| until > now) {
                    return None;
                }
                (Occurrence::Reopened, first_seen)
            }
            OpenOutcome::StillActive | OpenOutcome::Stale | OpenOutcome::OtherAccount => {
                return None
            }
        };
        let mut controls: Vec<(String, Vec<String>)> = Vec::new();
        for c in &policy.controls {
            match controls.iter_mut().find(|(f, _)| *f == c.framework) {
                Some((_, ids)) => ids.push(c.id.clone()),
                None => controls.push((c.framework.clone(), vec![c.id.clone()])),
            }
        }
        Some(Self {
            arn: resource.arn.clone(),
            account_id: resource.account_id.clone(),
            region: resource.region.clone(),
            service: resource.service,
            resource_type: resource.resource_type.clone(),
            policy_id: policy.id.clone(),
            title: policy.title.clone(),
            severity: failed.severity,
            risk_score: failed.risk_score,
            controls,
            occurrence,
            first_seen,
            at: now,
            evidence: failed.evidence.clone(),
        })
    }

    /// The same announcement without its evidence (what a digest keeps in memory).
    pub fn without_evidence(mut self) -> Self {
        self.evidence = Value::Null;
        self
    }

    /// The finding's id: what `qrie finding` and the findings table key it by.
    pub fn finding_id(&self) -> String {
        format!("{}#{}", self.arn, self.policy_id)
    }

    fn controls_json(&self) -> Value {
        Value::Object(
            self.controls
                .iter()
                .map(|(f, ids)| (f.clone(), json!(ids)))
                .collect(),
        )
    }
}

/// One SNS message: subject, body, and the string attributes subscribers filter on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub subject: String,
    pub body: String,
    pub attributes: BTreeMap<&'static str, String>,
}

impl Message {
    /// The bytes SNS counts against its limit: the body and every attribute's name, type and
    /// value.
    pub fn size(&self) -> usize {
        self.body.len() + attributes_size(&self.attributes)
    }
}

fn attributes_size(attributes: &BTreeMap<&'static str, String>) -> usize {
    attributes
        .iter()
        .map(|(k, v)| k.len() + "String".len() + v.len())
        .sum()
}

/// A publish that did not succeed.
#[derive(Debug, thiserror::Error)]
#[error("publishing to {topic} failed: {code}: {message}")]
pub struct PublishError {
    pub topic: String,
    pub code: String,
    pub message: String,
}

/// Where messages go: SNS in production ([`SnsPublisher`]), memory in unit tests.
#[async_trait]
pub trait Publisher: Send + Sync {
    async fn publish(&self, message: &Message) -> Result<(), PublishError>;
}

/// Publishes to one SNS topic.
pub struct SnsPublisher {
    client: aws_sdk_sns::Client,
    topic_arn: String,
}

impl SnsPublisher {
    /// A publisher for `topic_arn`, its client in the topic's own region.
    pub fn new(sdk: &aws_config::SdkConfig, topic_arn: &str) -> Self {
        let region = topic_arn.split(':').nth(3).filter(|r| !r.is_empty());
        let sdk = match region {
            Some(region) => crate::aws::in_region(sdk, region),
            None => sdk.clone(),
        };
        Self {
            client: aws_sdk_sns::Client::new(&sdk),
            topic_arn: topic_arn.to_owned(),
        }
    }
}

#[async_trait]
impl Publisher for SnsPublisher {
    async fn publish(&self, message: &Message) -> Result<(), PublishError> {
        use aws_sdk_sns::error::ProvideErrorMetadata;
        use aws_sdk_sns::types::MessageAttributeValue;
        let mut request = self
            .client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(&message.subject)
            .message(&message.body);
        for (name, value) in &message.attributes {
            let attribute = MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
                .map_err(|e| PublishError {
                    topic: self.topic_arn.clone(),
                    code: "InvalidAttribute".into(),
                    message: e.to_string(),
                })?;
            request = request.message_attributes(*name, attribute);
        }
        request.send().await.map(|_| ()).map_err(|e| PublishError {
            topic: self.topic_arn.clone(),
            code: e.code().unwrap_or("Unknown").to_owned(),
            message: e
                .message()
                .map(str::to_owned)
                .unwrap_or_else(|| e.to_string()),
        })
    }
}

/// Keeps what it is given (unit tests of logic); fails every publish when `failing`.
#[derive(Default)]
pub struct MemoryPublisher {
    pub sent: Mutex<Vec<Message>>,
    pub failing: bool,
}

#[async_trait]
impl Publisher for MemoryPublisher {
    async fn publish(&self, message: &Message) -> Result<(), PublishError> {
        if self.failing {
            return Err(PublishError {
                topic: "memory".into(),
                code: "Unavailable".into(),
                message: "the publisher is set to fail".into(),
            });
        }
        self.sent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(message.clone());
        Ok(())
    }
}

/// What one round of notifications did, as the functions' summaries report it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Delivery {
    /// Messages published.
    pub published: usize,
    /// Messages that could not be published (logged; the findings are stored regardless).
    pub failed: usize,
    /// The failures, by message (no finding content: the topic, the error code and message).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}

impl Delivery {
    pub fn add(&mut self, other: Delivery) {
        self.published += other.published;
        self.failed += other.failed;
        self.errors.extend(other.errors);
    }
}

/// Announces findings at or above a severity on a topic; off without one.
#[derive(Clone)]
pub struct Notifier {
    publisher: Option<Arc<dyn Publisher>>,
    min_severity: Severity,
}

impl Notifier {
    /// Notifications off.
    pub fn off() -> Self {
        Self {
            publisher: None,
            min_severity: Severity::High,
        }
    }

    /// Publishes through `publisher` from `min_severity` up.
    pub fn new(publisher: Arc<dyn Publisher>, min_severity: Severity) -> Self {
        Self {
            publisher: Some(publisher),
            min_severity,
        }
    }

    /// From the configuration, once per cold start; says so when notifications are off.
    pub fn from_settings(settings: &NotifySettings, sdk: &aws_config::SdkConfig) -> Self {
        match &settings.topic_arn {
            Some(topic) => {
                info!(topic = %topic, min_severity = %settings.min_severity, "notifications on");
                Self::new(
                    Arc::new(SnsPublisher::new(sdk, topic)),
                    settings.min_severity,
                )
            }
            None => {
                info!(
                    "notifications off: {} is not set",
                    crate::config::env::FINDINGS_TOPIC_ARN
                );
                Self::off()
            }
        }
    }

    pub fn is_on(&self) -> bool {
        self.publisher.is_some()
    }

    pub fn min_severity(&self) -> Severity {
        self.min_severity
    }

    /// At or above the threshold (`Severity` orders the most serious first).
    fn qualifies(&self, finding: &OpenedFinding) -> bool {
        finding.severity <= self.min_severity
    }

    /// The real-time path: one message per qualifying finding.
    pub async fn announce(&self, findings: &[OpenedFinding]) -> Delivery {
        let mut delivery = Delivery::default();
        let Some(publisher) = &self.publisher else {
            return delivery;
        };
        for finding in findings.iter().filter(|f| self.qualifies(f)) {
            let message = finding_message(finding);
            match publisher.publish(&message).await {
                Ok(()) => {
                    info!(arn = %finding.arn, policy = %finding.policy_id, severity = %finding.severity,
                        event = finding.occurrence.as_str(), "finding notification published");
                    delivery.published += 1;
                }
                Err(e) => {
                    error!(arn = %finding.arn, policy = %finding.policy_id, error = %e,
                        "finding notification not published; the finding is stored regardless");
                    delivery.failed += 1;
                    delivery
                        .errors
                        .push(format!("{} {}: {e}", finding.arn, finding.policy_id));
                }
            }
        }
        delivery
    }

    /// The scan's path: one digest per account of the qualifying findings, nothing for an
    /// account with none. `scope` names what the scan covered (`all policies`, a policy, a
    /// service).
    pub async fn digest(&self, findings: &[OpenedFinding], scope: &str) -> Delivery {
        let mut delivery = Delivery::default();
        let Some(publisher) = &self.publisher else {
            return delivery;
        };
        let mut by_account: BTreeMap<&str, Vec<&OpenedFinding>> = BTreeMap::new();
        for f in findings.iter().filter(|f| self.qualifies(f)) {
            by_account.entry(&f.account_id).or_default().push(f);
        }
        for (account, listed) in by_account {
            let message = digest_message(
                account,
                scope,
                self.min_severity,
                listed,
                DIGEST_TOP,
                SNS_MAX_BYTES,
            );
            match publisher.publish(&message).await {
                Ok(()) => {
                    info!(account = %account, "digest published");
                    delivery.published += 1;
                }
                Err(e) => {
                    error!(account = %account, error = %e, "digest not published");
                    delivery.failed += 1;
                    delivery
                        .errors
                        .push(format!("digest for account {account}: {e}"));
                }
            }
        }
        delivery
    }
}

/// A subject SNS accepts: printable ASCII, no line breaks, at most 100 characters.
fn subject(text: &str) -> String {
    let clean: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect();
    if clean.chars().count() <= SUBJECT_MAX_CHARS {
        return clean;
    }
    let mut cut: String = clean.chars().take(SUBJECT_MAX_CHARS - 3).collect();
    cut.push_str("...");
    cut
}

/// The last part of an ARN's resource (a bucket, a role's name, an instance id).
fn short_name(arn: &str) -> &str {
    let resource = arn.splitn(6, ':').nth(5).unwrap_or(arn);
    resource.rsplit(['/', ':']).next().unwrap_or(resource)
}

/// The evidence as announced: as stored when small, else its paths and size.
fn evidence_summary(evidence: &Value) -> Value {
    let text = evidence.to_string();
    if text.len() <= EVIDENCE_MAX_BYTES {
        return evidence.clone();
    }
    let mut paths: Vec<&String> = evidence
        .as_object()
        .map(|o| o.keys().collect())
        .unwrap_or_default();
    paths.sort();
    paths.truncate(50);
    json!({"truncated": true, "bytes": text.len(), "paths": paths})
}

/// The message of one opened or re-opened finding.
pub fn finding_message(f: &OpenedFinding) -> Message {
    let mut body = json!({
        "kind": "finding",
        "event": f.occurrence.as_str(),
        "finding_id": f.finding_id(),
        "resource": {
            "arn": f.arn,
            "account_id": f.account_id,
            "region": f.region,
            "service": f.service.as_str(),
            "resource_type": f.resource_type,
        },
        "policy": {"id": f.policy_id, "title": f.title, "severity": f.severity},
        "severity": f.severity,
        "risk_score": f.risk_score,
        "controls": f.controls_json(),
        "state": "ACTIVE",
        "first_seen": f.first_seen.map(timestamp),
        "evidence": evidence_summary(&f.evidence),
        "console_url": console_url(&f.arn, &f.region, &f.resource_type),
        "details": format!("qrie finding '{}' {}", f.arn, f.policy_id),
    });
    let at = match f.occurrence {
        Occurrence::Opened => "opened_at",
        Occurrence::Reopened => "reopened_at",
    };
    body[at] = json!(timestamp(f.at));
    let attributes = BTreeMap::from([
        ("kind", "finding".to_owned()),
        ("event", f.occurrence.as_str().to_owned()),
        ("severity", f.severity.as_str().to_owned()),
        ("policy_id", f.policy_id.clone()),
        ("account", f.account_id.clone()),
    ]);
    let mut body_text = body.to_string();
    if body_text.len() + attributes_size(&attributes) > SNS_MAX_BYTES {
        // Only a pathological ARN could get here: the evidence goes first.
        body["evidence"] = json!({"truncated": true});
        body_text = body.to_string();
    }
    let what = match f.occurrence {
        Occurrence::Opened => "new",
        Occurrence::Reopened => "reopened",
    };
    Message {
        subject: subject(&format!(
            "[qrie] {} {what}: {} on {} ({})",
            f.severity,
            f.policy_id,
            short_name(&f.arn),
            f.account_id
        )),
        body: body_text,
        attributes,
    }
}

/// One account's digest: counts by severity and occurrence, the `top` most serious findings,
/// and how many more; entries are dropped from the end (and counted in `more`) until the
/// message fits `max_bytes`.
pub fn digest_message(
    account_id: &str,
    scope: &str,
    min_severity: Severity,
    mut findings: Vec<&OpenedFinding>,
    top: usize,
    max_bytes: usize,
) -> Message {
    // The highest risk first, then the most severe.
    findings.sort_by(|a, b| {
        b.risk_score.cmp(&a.risk_score).then_with(|| {
            (a.severity, a.occurrence, &a.policy_id, &a.arn).cmp(&(
                b.severity,
                b.occurrence,
                &b.policy_id,
                &b.arn,
            ))
        })
    });
    let total = findings.len();
    let mut by_severity: BTreeMap<Severity, (usize, usize)> = BTreeMap::new();
    for f in &findings {
        let counts = by_severity.entry(f.severity).or_default();
        match f.occurrence {
            Occurrence::Opened => counts.0 += 1,
            Occurrence::Reopened => counts.1 += 1,
        }
    }
    let reopened: usize = by_severity.values().map(|c| c.1).sum();
    let entries: Vec<Value> = findings
        .iter()
        .take(top)
        .map(|f| {
            json!({
                "event": f.occurrence.as_str(),
                "severity": f.severity,
                "risk_score": f.risk_score,
                "policy_id": f.policy_id,
                "title": f.title,
                "arn": f.arn,
                "region": f.region,
                "resource_type": f.resource_type,
                "console_url": console_url(&f.arn, &f.region, &f.resource_type),
            })
        })
        .collect();
    let highest = findings
        .iter()
        .map(|f| f.severity)
        .min()
        .unwrap_or(min_severity);
    let attributes = BTreeMap::from([
        ("kind", "digest".to_owned()),
        ("event", "digest".to_owned()),
        ("severity", highest.as_str().to_owned()),
        ("account", account_id.to_owned()),
    ]);
    let budget = max_bytes.saturating_sub(attributes_size(&attributes));
    let body_of = |listed: usize| -> String {
        json!({
            "kind": "digest",
            "account_id": account_id,
            "scope": scope,
            "min_severity": min_severity,
            "total": total,
            "new": total - reopened,
            "reopened": reopened,
            "by_severity": by_severity.iter().map(|(s, (n, r))| (s.as_str().to_owned(), json!({"new": n, "reopened": r}))).collect::<serde_json::Map<_, _>>(),
            "findings": entries[..listed],
            "more": total - listed,
        })
        .to_string()
    };
    // The largest prefix of the entries that fits (the body grows with each entry).
    let mut listed = entries.len();
    let mut body = body_of(listed);
    if body.len() > budget {
        let (mut lo, mut hi) = (0, listed);
        while lo < hi {
            let mid = (lo + hi).div_ceil(2);
            if body_of(mid).len() <= budget {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        listed = lo;
        body = body_of(listed);
        warn!(account = %account_id, listed, total, "digest cut to fit the SNS message limit");
    }
    let counts: Vec<String> = by_severity
        .iter()
        .map(|(s, (n, r))| format!("{} {s}", n + r))
        .collect();
    Message {
        subject: subject(&format!(
            "[qrie] {account_id}: {total} new or reopened finding{} ({})",
            if total == 1 { "" } else { "s" },
            counts.join(", ")
        )),
        body,
        attributes,
    }
}

/// Percent-encodes everything but unreserved characters (for a URL path or fragment part).
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A link to the resource in the AWS console, for the kinds whose console page is well known
/// (S3 buckets, IAM users, roles, groups and policies, EC2 instances, security groups, volumes,
/// snapshots and images, VPCs and subnets, RDS instances, clusters and snapshots, Lambda
/// functions, KMS keys, CloudTrail trails); `None` for the rest (the message's `finding_id` and
/// `details` name the finding then).
pub fn console_url(arn: &str, region: &str, resource_type: &str) -> Option<String> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [_, partition, _, arn_region, _, resource] = parts[..] else {
        return None;
    };
    let host = match partition {
        "aws" => "console.aws.amazon.com",
        "aws-cn" => "console.amazonaws.cn",
        "aws-us-gov" => "console.amazonaws-us-gov.com",
        _ => return None,
    };
    let region = if arn_region.is_empty() {
        region
    } else {
        arn_region
    };
    let after = |prefix: &str| resource.strip_prefix(prefix).filter(|id| !id.is_empty());
    // The name of a pathed IAM resource (`user/division/alice` → `alice`).
    let iam_name = |prefix: &str| after(prefix).map(|p| p.rsplit('/').next().unwrap_or(p));
    let ec2 = |fragment: &str, id: &str| {
        format!(
            "https://{host}/ec2/home?region={region}#{fragment}={}",
            encode(id)
        )
    };
    let vpc = |fragment: &str, id: &str| {
        format!(
            "https://{host}/vpcconsole/home?region={region}#{fragment}={}",
            encode(id)
        )
    };
    let rds = |fragment: &str, id: &str| {
        format!(
            "https://{host}/rds/home?region={region}#{fragment}:id={}",
            encode(id)
        )
    };
    let url = match resource_type {
        "AWS::S3::Bucket" if !resource.is_empty() && !resource.contains('/') => format!(
            "https://{host}/s3/buckets/{}?region={region}",
            encode(resource)
        ),
        "AWS::IAM::User" => format!(
            "https://{host}/iam/home#/users/details/{}",
            encode(iam_name("user/")?)
        ),
        "AWS::IAM::Role" => format!(
            "https://{host}/iam/home#/roles/details/{}",
            encode(iam_name("role/")?)
        ),
        "AWS::IAM::Group" => format!(
            "https://{host}/iam/home#/groups/details/{}",
            encode(iam_name("group/")?)
        ),
        "AWS::IAM::ManagedPolicy" => {
            format!("https://{host}/iam/home#/policies/details/{}", encode(arn))
        }
        "AWS::IAM::PasswordPolicy" => format!("https://{host}/iam/home#/account_settings"),
        "AWS::EC2::Instance" => ec2("InstanceDetails:instanceId", after("instance/")?),
        "AWS::EC2::SecurityGroup" => ec2("SecurityGroup:groupId", after("security-group/")?),
        "AWS::EC2::Volume" => ec2("VolumeDetails:volumeId", after("volume/")?),
        "AWS::EC2::Snapshot" => ec2("SnapshotDetails:snapshotId", after("snapshot/")?),
        "AWS::EC2::Image" => ec2("ImageDetails:imageId", after("image/")?),
        "AWS::EC2::VPC" => vpc("VpcDetails:VpcId", after("vpc/")?),
        "AWS::EC2::Subnet" => vpc("SubnetDetails:subnetId", after("subnet/")?),
        "AWS::RDS::DBInstance" => format!("{};is-cluster=false", rds("database", after("db:")?)),
        "AWS::RDS::DBCluster" => format!("{};is-cluster=true", rds("database", after("cluster:")?)),
        "AWS::RDS::DBSnapshot" => rds("db-snapshot", after("snapshot:")?),
        "AWS::RDS::DBClusterSnapshot" => rds("db-cluster-snapshot", after("cluster-snapshot:")?),
        "AWS::Lambda::Function" => {
            let name = after("function:")?;
            let name = name.split(':').next().unwrap_or(name);
            format!(
                "https://{host}/lambda/home?region={region}#/functions/{}",
                encode(name)
            )
        }
        "AWS::KMS::Key" => format!(
            "https://{host}/kms/home?region={region}#/kms/keys/{}",
            encode(after("key/")?)
        ),
        "AWS::CloudTrail::Trail" => format!(
            "https://{host}/cloudtrail/home?region={region}#/trails/{}",
            encode(arn)
        ),
        _ => return None,
    };
    Some(url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::RuleMatch;

    fn finding(
        arn: &str,
        policy: &str,
        severity: Severity,
        occurrence: Occurrence,
    ) -> OpenedFinding {
        OpenedFinding {
            arn: arn.into(),
            account_id: "111122223333".into(),
            region: "us-east-1".into(),
            service: Service::S3,
            resource_type: "AWS::S3::Bucket".into(),
            policy_id: policy.into(),
            title: "S3 buckets prohibit public read access".into(),
            severity,
            risk_score: crate::risk::score(severity, Default::default()),
            controls: vec![("fsbp".into(), vec!["S3.2".into()])],
            occurrence,
            first_seen: Some(DateTime::from_timestamp(1_700_000_000, 0).unwrap()),
            at: DateTime::from_timestamp(1_700_000_600, 0).unwrap(),
            evidence: json!({"Acl.Grants": [{"Grantee": {"URI": "http://acs.amazonaws.com/groups/global/AllUsers"}}]}),
        }
    }

    #[test]
    fn console_links_name_the_resource_in_its_service_page() {
        let cases = [
            ("arn:aws:s3:::my-bucket", "eu-west-1", "AWS::S3::Bucket",
             Some("https://console.aws.amazon.com/s3/buckets/my-bucket?region=eu-west-1")),
            ("arn:aws:iam::111122223333:role/ops/deployer", "us-east-1", "AWS::IAM::Role",
             Some("https://console.aws.amazon.com/iam/home#/roles/details/deployer")),
            ("arn:aws:iam::111122223333:user/alice", "us-east-1", "AWS::IAM::User",
             Some("https://console.aws.amazon.com/iam/home#/users/details/alice")),
            ("arn:aws:ec2:us-west-2:111122223333:instance/i-0abc", "us-west-2", "AWS::EC2::Instance",
             Some("https://console.aws.amazon.com/ec2/home?region=us-west-2#InstanceDetails:instanceId=i-0abc")),
            ("arn:aws:ec2:us-west-2:111122223333:security-group/sg-0abc", "us-west-2", "AWS::EC2::SecurityGroup",
             Some("https://console.aws.amazon.com/ec2/home?region=us-west-2#SecurityGroup:groupId=sg-0abc")),
            ("arn:aws:rds:eu-west-1:111122223333:db:orders", "eu-west-1", "AWS::RDS::DBInstance",
             Some("https://console.aws.amazon.com/rds/home?region=eu-west-1#database:id=orders;is-cluster=false")),
            ("arn:aws:lambda:us-east-1:111122223333:function:orders:7", "us-east-1", "AWS::Lambda::Function",
             Some("https://console.aws.amazon.com/lambda/home?region=us-east-1#/functions/orders")),
            ("arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab", "us-east-1", "AWS::KMS::Key",
             Some("https://console.aws.amazon.com/kms/home?region=us-east-1#/kms/keys/1234abcd-12ab")),
            ("arn:aws:cloudtrail:us-east-1:111122223333:trail/main", "us-east-1", "AWS::CloudTrail::Trail",
             Some("https://console.aws.amazon.com/cloudtrail/home?region=us-east-1#/trails/arn%3Aaws%3Acloudtrail%3Aus-east-1%3A111122223333%3Atrail%2Fmain")),
            ("arn:aws-cn:s3:::cn-bucket", "cn-north-1", "AWS::S3::Bucket",
             Some("https://console.amazonaws.cn/s3/buckets/cn-bucket?region=cn-north-1")),
            // Kinds without a well-known page, and ARNs that are not ARNs, get none
            ("arn:aws:iam::111122223333:root", "us-east-1", "AWS::IAM::RootUser", None),
            ("arn:aws:ec2:us-east-1:111122223333:instance/", "us-east-1", "AWS::EC2::Instance", None),
            ("not-an-arn", "us-east-1", "AWS::S3::Bucket", None),
        ];
        for (arn, region, kind, expected) in cases {
            assert_eq!(console_url(arn, region, kind).as_deref(), expected, "{arn}");
        }
    }

    #[test]
    fn a_finding_message_carries_what_a_responder_needs_and_attributes_to_filter_on() {
        // Given a critical public-read finding just opened
        let f = finding(
            "arn:aws:s3:::my-bucket",
            "S3BucketPublicReadProhibited",
            Severity::Critical,
            Occurrence::Opened,
        );
        // When its message is built
        let m = finding_message(&f);
        let body: Value = serde_json::from_str(&m.body).unwrap();
        // Then the body names the resource, policy, severity, controls, dates and console page
        assert_eq!(body["event"], "opened");
        assert_eq!(body["resource"]["arn"], "arn:aws:s3:::my-bucket");
        assert_eq!(body["resource"]["account_id"], "111122223333");
        assert_eq!(body["resource"]["service"], "s3");
        assert_eq!(body["policy"]["id"], "S3BucketPublicReadProhibited");
        assert_eq!(body["severity"], "CRITICAL");
        assert_eq!(body["risk_score"], json!(7.0));
        assert_eq!(body["controls"], json!({"fsbp": ["S3.2"]}));
        assert_eq!(body["state"], "ACTIVE");
        assert_eq!(body["first_seen"], "2023-11-14T22:13:20.000000Z");
        assert_eq!(body["opened_at"], "2023-11-14T22:23:20.000000Z");
        assert_eq!(body["evidence"], f.evidence);
        assert_eq!(
            body["console_url"],
            "https://console.aws.amazon.com/s3/buckets/my-bucket?region=us-east-1"
        );
        assert_eq!(
            body["finding_id"],
            "arn:aws:s3:::my-bucket#S3BucketPublicReadProhibited"
        );
        assert_eq!(
            m.subject,
            "[qrie] CRITICAL new: S3BucketPublicReadProhibited on my-bucket (111122223333)"
        );
        assert_eq!(m.attributes["severity"], "CRITICAL");
        assert_eq!(m.attributes["policy_id"], "S3BucketPublicReadProhibited");
        assert_eq!(m.attributes["account"], "111122223333");
        assert_eq!(m.attributes["event"], "opened");
        // And a re-opened one says so, with when
        let again = finding_message(&finding(
            "arn:aws:s3:::b",
            "P",
            Severity::High,
            Occurrence::Reopened,
        ));
        let body: Value = serde_json::from_str(&again.body).unwrap();
        assert_eq!(
            (body["event"].as_str(), body["reopened_at"].is_string()),
            (Some("reopened"), true)
        );
        assert!(again.subject.contains("reopened"), "{}", again.subject);
    }

    #[test]
    fn large_evidence_is_announced_by_its_paths_and_subjects_stay_within_sns_rules() {
        let mut f = finding("arn:aws:s3:::b", "P", Severity::High, Occurrence::Opened);
        f.evidence = json!({"Policy": "x".repeat(10_000), "Acl": "y"});
        let body: Value = serde_json::from_str(&finding_message(&f).body).unwrap();
        assert_eq!(body["evidence"]["truncated"], true);
        assert_eq!(body["evidence"]["paths"], json!(["Acl", "Policy"]));
        assert!(!body.to_string().contains(&"x".repeat(100)));
        // A long name with a line break in it gives a one-line subject of at most 100 characters
        let long = finding(
            &format!("arn:aws:s3:::{}\nb", "n".repeat(150)),
            "P",
            Severity::High,
            Occurrence::Opened,
        );
        let s = finding_message(&long).subject;
        assert!(
            s.chars().count() <= 100 && !s.contains('\n') && s.ends_with("..."),
            "{s}"
        );
    }

    #[test]
    fn a_digest_counts_by_severity_lists_the_most_serious_first_and_says_how_many_more() {
        // Given 3 critical findings (one re-opened) and 4 high ones
        let mut all = Vec::new();
        for i in 0..4 {
            all.push(finding(
                &format!("arn:aws:s3:::h{i}"),
                "High",
                Severity::High,
                Occurrence::Opened,
            ));
        }
        for i in 0..2 {
            all.push(finding(
                &format!("arn:aws:s3:::c{i}"),
                "Crit",
                Severity::Critical,
                Occurrence::Opened,
            ));
        }
        all.push(finding(
            "arn:aws:s3:::r",
            "Crit",
            Severity::Critical,
            Occurrence::Reopened,
        ));
        // When a digest of the top 5 is built
        let m = digest_message(
            "111122223333",
            "all policies",
            Severity::High,
            all.iter().collect(),
            5,
            SNS_MAX_BYTES,
        );
        let body: Value = serde_json::from_str(&m.body).unwrap();
        // Then it counts all 7 by severity and occurrence, lists 5 (critical first), and 2 more
        assert_eq!(
            (
                body["total"].as_u64(),
                body["new"].as_u64(),
                body["reopened"].as_u64()
            ),
            (Some(7), Some(6), Some(1))
        );
        assert_eq!(
            body["by_severity"],
            json!({"CRITICAL": {"new": 2, "reopened": 1}, "HIGH": {"new": 4, "reopened": 0}})
        );
        let listed = body["findings"].as_array().unwrap();
        assert_eq!(listed.len(), 5);
        assert_eq!(body["more"], 2);
        assert!(
            listed[..3].iter().all(|e| e["severity"] == "CRITICAL"),
            "{listed:?}"
        );
        assert_eq!(listed[2]["event"], "reopened");
        assert_eq!(m.attributes["severity"], "CRITICAL");
        assert_eq!(m.attributes["kind"], "digest");
        assert_eq!(
            m.subject,
            "[qrie] 111122223333: 7 new or reopened findings (3 CRITICAL, 4 HIGH)"
        );
    }

    #[test]
    fn a_digest_lists_the_highest_risk_first_and_is_labelled_by_the_highest_severity() {
        // Given a critical finding with no risk factor (7.0) and a high one open to the
        // internet (7.5)
        let critical = finding(
            "arn:aws:s3:::c",
            "Crit",
            Severity::Critical,
            Occurrence::Opened,
        );
        let exposed = OpenedFinding {
            risk_score: crate::risk::RiskScore::from_tenths(75),
            ..finding("arn:aws:s3:::h", "High", Severity::High, Occurrence::Opened)
        };
        // When the digest is built
        let m = digest_message(
            "111122223333",
            "all policies",
            Severity::High,
            vec![&critical, &exposed],
            5,
            SNS_MAX_BYTES,
        );
        // Then the exposed one is listed first, each with its score
        let body: Value = serde_json::from_str(&m.body).unwrap();
        let listed = body["findings"].as_array().unwrap();
        assert_eq!(
            (
                listed[0]["policy_id"].as_str(),
                listed[0]["risk_score"].as_f64()
            ),
            (Some("High"), Some(7.5))
        );
        assert_eq!(listed[1]["risk_score"].as_f64(), Some(7.0));
        // And the message is still filed under its most severe finding
        assert_eq!(m.attributes["severity"], "CRITICAL");
    }

    #[test]
    fn a_digest_too_large_for_sns_is_cut_with_a_count_never_refused() {
        // Given 400 findings on resources with 2,000-character names (about 2 KB each)
        let all: Vec<OpenedFinding> = (0..400)
            .map(|i| {
                finding(
                    &format!("arn:aws:s3:::{i:04}{}", "n".repeat(2_000)),
                    "P",
                    Severity::High,
                    Occurrence::Opened,
                )
            })
            .collect();
        // When a digest listing up to all 400 is built
        let m = digest_message(
            "111122223333",
            "all policies",
            Severity::High,
            all.iter().collect(),
            400,
            SNS_MAX_BYTES,
        );
        // Then it fits SNS's limit, lists as many as fit, and counts the rest
        assert!(m.size() <= SNS_MAX_BYTES, "{}", m.size());
        let body: Value = serde_json::from_str(&m.body).unwrap();
        let listed = body["findings"].as_array().unwrap().len();
        assert!(listed > 50 && listed < 400, "{listed}");
        assert_eq!(body["more"].as_u64().unwrap() as usize, 400 - listed);
        assert_eq!(body["total"], 400);
        // And one more entry would not have fitted
        let m2 = digest_message(
            "111122223333",
            "all policies",
            Severity::High,
            all.iter().collect(),
            listed + 1,
            SNS_MAX_BYTES,
        );
        let body2: Value = serde_json::from_str(&m2.body).unwrap();
        assert_eq!(body2["findings"].as_array().unwrap().len(), listed);
        // And with a tiny limit it still produces a message: counts, no entries
        let tiny = digest_message(
            "111122223333",
            "all policies",
            Severity::High,
            all.iter().collect(),
            400,
            1_000,
        );
        let body: Value = serde_json::from_str(&tiny.body).unwrap();
        assert_eq!(
            (
                body["findings"].as_array().unwrap().len(),
                body["more"].as_u64()
            ),
            (0, Some(400))
        );
    }

    fn policy() -> Policy {
        crate::policy::Catalog::embedded()
            .get("S3BucketPublicReadProhibited")
            .unwrap()
            .clone()
    }

    fn failed(muted: Option<RuleMatch>) -> FailedEvaluation {
        let now = Utc::now();
        FailedEvaluation {
            arn: "arn:aws:s3:::b".into(),
            policy_id: "S3BucketPublicReadProhibited".into(),
            account_id: "111122223333".into(),
            account_service: "111122223333_s3".into(),
            resource_type: "AWS::S3::Bucket".into(),
            severity: Severity::Critical,
            risk_score: crate::risk::RiskScore::from_tenths(85),
            evidence: json!({}),
            evaluated_at: now,
            observed_at: now,
            muted,
        }
    }

    fn bucket() -> Resource {
        Resource {
            arn: "arn:aws:s3:::b".into(),
            account_id: "111122223333".into(),
            service: Service::S3,
            resource_type: "AWS::S3::Bucket".into(),
            region: "eu-west-1".into(),
            configuration: json!({}),
            last_seen_at: Utc::now(),
        }
    }

    #[test]
    fn only_openings_and_reopenings_without_a_holding_suppression_are_announced() {
        let (policy, resource) = (policy(), bucket());
        let plain = failed(None);
        let later = plain.evaluated_at + chrono::Duration::days(1);
        let earlier = plain.evaluated_at - chrono::Duration::days(1);
        // Opened and re-opened writes are announced, with the controls grouped by framework
        let opened =
            OpenedFinding::announced(&resource, &policy, &plain, OpenOutcome::Opened).unwrap();
        assert_eq!(
            (opened.occurrence, opened.region.as_str()),
            (Occurrence::Opened, "eu-west-1")
        );
        assert!(
            opened.controls.iter().any(|(f, _)| f == "fsbp"),
            "{:?}",
            opened.controls
        );
        let reopened = OpenOutcome::Reopened {
            first_seen: Some(earlier),
            suppressed_until: Some(earlier),
        };
        let again = OpenedFinding::announced(&resource, &policy, &plain, reopened).unwrap();
        assert_eq!(
            (again.occurrence, again.first_seen),
            (Occurrence::Reopened, Some(earlier))
        );
        // Refreshes, stale and other-account writes are not
        for outcome in [
            OpenOutcome::StillActive,
            OpenOutcome::Stale,
            OpenOutcome::OtherAccount,
        ] {
            assert_eq!(
                OpenedFinding::announced(&resource, &policy, &plain, outcome),
                None,
                "{outcome:?}"
            );
        }
        // A re-opening whose operator suppression still holds is not
        let suppressed = OpenOutcome::Reopened {
            first_seen: None,
            suppressed_until: Some(later),
        };
        assert_eq!(
            OpenedFinding::announced(&resource, &policy, &plain, suppressed),
            None
        );
        // Nor an opening a suppression rule matched (until it expires)
        let rule = |until| {
            Some(RuleMatch {
                rule: "r".into(),
                reason: "accepted".into(),
                until,
            })
        };
        assert_eq!(
            OpenedFinding::announced(
                &resource,
                &policy,
                &failed(rule(later)),
                OpenOutcome::Opened
            ),
            None
        );
        assert!(OpenedFinding::announced(
            &resource,
            &policy,
            &failed(rule(earlier)),
            OpenOutcome::Opened
        )
        .is_some());
    }

    #[tokio::test]
    async fn the_notifier_keeps_the_threshold_and_counts_failures() {
        // Given a notifier from high up, and a high, a critical and a low finding
        let memory = Arc::new(MemoryPublisher::default());
        let notifier = Notifier::new(memory.clone(), Severity::High);
        let fs = [
            finding("arn:aws:s3:::a", "A", Severity::High, Occurrence::Opened),
            finding(
                "arn:aws:s3:::b",
                "B",
                Severity::Critical,
                Occurrence::Opened,
            ),
            finding("arn:aws:s3:::c", "C", Severity::Low, Occurrence::Opened),
        ];
        // When they are announced, the two serious ones are published
        let d = notifier.announce(&fs).await;
        assert_eq!((d.published, d.failed), (2, 0));
        let sent = memory.sent.lock().unwrap().clone();
        let ids: Vec<&str> = sent
            .iter()
            .map(|m| m.attributes["policy_id"].as_str())
            .collect();
        assert_eq!(ids, ["A", "B"]);
        // And a digest of them is one message listing the same two
        let d = notifier.digest(&fs, "all policies").await;
        assert_eq!(d.published, 1);
        let digest: Value = serde_json::from_str(&memory.sent.lock().unwrap()[2].body).unwrap();
        assert_eq!(digest["total"], 2);
        // And nothing to digest sends nothing
        assert_eq!(
            notifier.digest(&fs[2..], "all policies").await,
            Delivery::default()
        );
        // Given a failing topic, failures are counted and named, never raised
        let failing = Notifier::new(
            Arc::new(MemoryPublisher {
                failing: true,
                ..Default::default()
            }),
            Severity::High,
        );
        let d = failing.announce(&fs).await;
        assert_eq!((d.published, d.failed, d.errors.len()), (0, 2, 2));
        assert!(d.errors[0].contains("Unavailable"), "{:?}", d.errors);
        // And notifications off publish nothing
        assert_eq!(Notifier::off().announce(&fs).await, Delivery::default());
    }
}
