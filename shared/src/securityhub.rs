//! Findings into AWS Security Hub: `BatchImportFindings` with the ASFF of
//! [`crate::export::asff`], in batches of [`BATCH_MAX`], from the finding's own account.
//!
//! **Who imports.** With the default product ARN of a custom integration
//! (`product/<account>/default`), Security Hub accepts a finding only from the account named in
//! its `AwsAccountId` (only an allow-listed partner may send other accounts' findings). qrie's
//! findings belong to the customer accounts, so qrie imports each account's findings *in that
//! account*: it assumes the account's qrie role (the onboarding role, which then needs
//! [`CUSTOMER_PERMISSIONS`]; the onboarding template grants it when the deployment enables
//! Security Hub) and calls `BatchImportFindings` there, in one region per deployment
//! (`QRIE_SECURITY_HUB_REGION`, default the function's region). Security Hub's own cross-account
//! and cross-region aggregation then brings them to the administrator account.
//!
//! **What is sent.** An open finding is imported ACTIVE and FAILED; a change (a re-evaluation,
//! a re-opening, a triage) is re-imported under the same `Id` with a later `UpdatedAt`; a
//! resolved finding is imported ARCHIVED with `Compliance.Status` PASSED (and workflow RESOLVED,
//! which Security Hub sets itself on an existing finding when its compliance turns PASSED). A
//! suppressed finding is left out of exports, so in Security Hub it is archived
//! ([`archive_suppressed`]) and comes back ACTIVE when its suppression ends and the next scan
//! re-imports it.
//!
//! **Failures.** A refused call fails its whole batch; `FailedFindings` in an answer fail those
//! findings. Both are counted and listed in the [`ImportReport`] the functions' summaries and
//! `qrie securityhub sync` print, and never change a stored finding. Nothing is silently
//! dropped: every finding handed in is imported, failed, or counted under `skipped` with the
//! reason (an account that is not onboarded).

use std::collections::BTreeMap;

use aws_sdk_securityhub::error::ProvideErrorMetadata;
use aws_sdk_securityhub::types as sh;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use tracing::{error, info};

use crate::config::Config;
use crate::export::{asff, Subject};
use crate::model::Finding;
use crate::policy::Catalog;
use crate::store::Stores;

/// `BatchImportFindings` takes at most this many findings per call.
pub const BATCH_MAX: usize = 100;
/// What the role qrie assumes in a customer account must allow for the imports (declared with
/// the session, which the contract's onboarding permissions are read from).
pub const CUSTOMER_PERMISSIONS: &[&str] = crate::collect::session::SECURITY_HUB_PERMISSIONS;
/// The role session name, in the customer's CloudTrail.
pub const SESSION_NAME: &str = "qrie-securityhub";
/// The region imports go to when neither the settings nor the SDK configuration name one.
const FALLBACK_REGION: &str = "us-east-1";
/// Failures listed by name in a report; the rest are counted.
pub const MAX_REPORTED_ERRORS: usize = 50;

/// What one round of imports did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    /// Findings Security Hub accepted.
    pub imported: usize,
    /// Findings it refused, or whose batch failed.
    pub failed: usize,
    /// `BatchImportFindings` calls made.
    pub batches: usize,
    /// Of `imported`, suppressed findings sent archived.
    pub archived_suppressed: usize,
    /// Findings not sent, with the reason in `errors` (an account that is not onboarded).
    pub skipped: usize,
    /// The failures: the finding's Id (or the account) with the error code and message.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}

impl ImportReport {
    pub fn add(&mut self, other: ImportReport) {
        self.imported += other.imported;
        self.failed += other.failed;
        self.batches += other.batches;
        self.archived_suppressed += other.archived_suppressed;
        self.skipped += other.skipped;
        for e in other.errors {
            self.error(e);
        }
    }

    fn error(&mut self, message: String) {
        if self.errors.len() < MAX_REPORTED_ERRORS {
            self.errors.push(message);
        } else if self.errors.len() == MAX_REPORTED_ERRORS {
            self.errors.push("... more failures, not listed".into());
        }
    }
}

/// A suppressed finding's ASFF as Security Hub gets it: archived (left out, like any export of
/// a suppressed finding), its workflow and compliance unchanged.
pub fn archive_suppressed(mut finding: Value) -> Value {
    finding["RecordState"] = Value::from("ARCHIVED");
    finding
}

/// One account's Security Hub in one region.
pub struct SecurityHub {
    client: aws_sdk_securityhub::Client,
}

impl SecurityHub {
    /// A client on `sdk` (the account's session) in `region`.
    pub fn new(sdk: &aws_config::SdkConfig, region: &str) -> Self {
        Self {
            client: aws_sdk_securityhub::Client::new(&crate::aws::in_region(sdk, region)),
        }
    }

    /// Imports ASFF findings in batches of [`BATCH_MAX`].
    pub async fn import(&self, findings: &[Value]) -> ImportReport {
        let mut report = ImportReport::default();
        for batch in findings.chunks(BATCH_MAX) {
            report.batches += 1;
            let sdk_findings: Vec<sh::AwsSecurityFinding> = batch.iter().map(to_sdk).collect();
            match self
                .client
                .batch_import_findings()
                .set_findings(Some(sdk_findings))
                .send()
                .await
            {
                Ok(out) => {
                    let failed = out.failed_findings();
                    let failed_count = usize::try_from(out.failed_count().unwrap_or(0))
                        .unwrap_or(0)
                        .max(failed.len());
                    report.failed += failed_count;
                    report.imported += batch.len().saturating_sub(failed_count);
                    for f in failed {
                        let message = format!(
                            "{}: {}: {}",
                            f.id().unwrap_or("?"),
                            f.error_code().unwrap_or("Unknown"),
                            f.error_message().unwrap_or("")
                        );
                        error!(
                            finding = f.id().unwrap_or("?"),
                            code = f.error_code().unwrap_or("Unknown"),
                            "Security Hub refused a finding"
                        );
                        report.error(message);
                    }
                }
                Err(e) => {
                    let code = e.code().unwrap_or("Unknown").to_owned();
                    let message = e.message().map(str::to_owned).unwrap_or_else(|| {
                        aws_sdk_securityhub::error::DisplayErrorContext(&e).to_string()
                    });
                    error!(code = %code, findings = batch.len(), "BatchImportFindings failed");
                    report.failed += batch.len();
                    report.error(format!(
                        "BatchImportFindings of {} finding(s) failed: {code}: {message}",
                        batch.len()
                    ));
                }
            }
        }
        report
    }

    /// The findings stored in this account's Security Hub (every page).
    pub async fn findings(
        &self,
    ) -> Result<Vec<sh::AwsSecurityFinding>, aws_sdk_securityhub::Error> {
        let mut out = Vec::new();
        let mut pages = self
            .client
            .get_findings()
            .max_results(100)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(aws_sdk_securityhub::Error::from)?;
            out.extend(page.findings().iter().cloned());
        }
        Ok(out)
    }
}

/// The region imports go to under `config`.
pub fn import_region(config: &Config, sdk: &aws_config::SdkConfig) -> String {
    config
        .security_hub
        .region
        .clone()
        .or_else(|| sdk.region().map(|r| r.to_string()))
        .unwrap_or_else(|| FALLBACK_REGION.to_owned())
}

/// The ASFF of each finding for an import in `region`, suppressed ones archived (see the module
/// documentation), with how many were suppressed.
pub fn asff_for_import(
    findings: &[Finding],
    catalog: &Catalog,
    region: &str,
    now: DateTime<Utc>,
) -> (Vec<Value>, usize) {
    let mut suppressed = 0;
    let values = findings
        .iter()
        .map(|f| {
            let subject = Subject::new(f, catalog.get(&f.policy_id), now);
            let value = asff::finding(&subject, region);
            if f.state == crate::model::FindingState::Active && f.is_suppressed_at(now) {
                suppressed += 1;
                archive_suppressed(value)
            } else {
                value
            }
        })
        .collect();
    (values, suppressed)
}

/// Imports `findings` into each one's own account's Security Hub (see the module
/// documentation): per account, the account's role is assumed and its findings are sent in
/// batches. An account that is not onboarded, or whose role cannot be assumed, fails (or skips)
/// its findings with the reason.
pub async fn sync(
    config: &Config,
    base_sdk: &aws_config::SdkConfig,
    stores: &Stores,
    catalog: &Catalog,
    findings: &[Finding],
    now: DateTime<Utc>,
) -> ImportReport {
    let region = import_region(config, base_sdk);
    let mut by_account: BTreeMap<&str, Vec<Finding>> = BTreeMap::new();
    for f in findings {
        by_account.entry(&f.account_id).or_default().push(f.clone());
    }
    let mut report = ImportReport::default();
    for (account_id, listed) in by_account {
        let account = match stores.accounts.get(account_id).await {
            Ok(Some(account)) => account,
            Ok(None) => {
                report.skipped += listed.len();
                report.error(format!(
                    "account {account_id}: not onboarded (not in the accounts table); {} finding(s) not sent",
                    listed.len()
                ));
                continue;
            }
            Err(e) => {
                report.failed += listed.len();
                report.error(format!(
                    "account {account_id}: reading the accounts table failed: {e}"
                ));
                continue;
            }
        };
        let session = match Box::pin(crate::collect::open_session(
            config,
            base_sdk,
            &account,
            SESSION_NAME,
        ))
        .await
        {
            Ok(session) => session,
            Err(e) => {
                error!(account = %account_id, error = %e, "no session for the Security Hub import");
                report.failed += listed.len();
                report.error(e.to_string());
                continue;
            }
        };
        let (values, suppressed) = asff_for_import(&listed, catalog, &region, now);
        let hub = SecurityHub::new(&session.sdk, &region);
        let mut sent = Box::pin(hub.import(&values)).await;
        sent.archived_suppressed = if sent.failed == 0 { suppressed } else { 0 };
        info!(account = %account_id, region = %region, imported = sent.imported, failed = sent.failed,
            batches = sent.batches, "findings imported into Security Hub");
        report.add(sent);
    }
    report
}

/// The findings whose export changed at or after `since` (see
/// [`Subject::updated_at`](crate::export::Subject::updated_at)): what a scan or an event batch
/// that started at `since` opened, refreshed, triaged or resolved.
pub fn changed_since(findings: Vec<Finding>, since: DateTime<Utc>) -> Vec<Finding> {
    findings
        .into_iter()
        .filter(|f| Subject::new(f, None, since).updated_at() >= since)
        .collect()
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_owned)
}

fn texts(v: Option<&Value>) -> Option<Vec<String>> {
    v.and_then(Value::as_array).map(|items| {
        items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_owned))
            .collect()
    })
}

/// The SDK's finding of an ASFF value as [`asff::finding`] writes it (the fields qrie sets).
pub fn to_sdk(v: &Value) -> sh::AwsSecurityFinding {
    let severity = |s: Option<&Value>| {
        let s = s.cloned().unwrap_or(Value::Null);
        (
            text(&s, "Label").map(|l| sh::SeverityLabel::from(l.as_str())),
            text(&s, "Original"),
        )
    };
    let (label, original) = severity(v.get("Severity"));
    let (provider_label, provider_original) =
        severity(v.pointer("/FindingProviderFields/Severity"));
    let criticality = |pointer: &str| {
        v.pointer(pointer)
            .and_then(Value::as_i64)
            .and_then(|c| i32::try_from(c).ok())
    };
    let resources: Vec<sh::Resource> = v
        .get("Resources")
        .and_then(Value::as_array)
        .map(|rs| {
            rs.iter()
                .map(|r| {
                    sh::Resource::builder()
                        .set_type(text(r, "Type"))
                        .set_id(text(r, "Id"))
                        .set_partition(
                            text(r, "Partition").map(|p| sh::Partition::from(p.as_str())),
                        )
                        .set_region(text(r, "Region"))
                        .build()
                })
                .collect()
        })
        .unwrap_or_default();
    let compliance = v.get("Compliance").map(|c| {
        sh::Compliance::builder()
            .set_status(text(c, "Status").map(|s| sh::ComplianceStatus::from(s.as_str())))
            .set_related_requirements(texts(c.get("RelatedRequirements")))
            .set_associated_standards(c.get("AssociatedStandards").and_then(Value::as_array).map(
                |items| {
                    items
                        .iter()
                        .map(|s| {
                            sh::AssociatedStandard::builder()
                                .set_standards_id(text(s, "StandardsId"))
                                .build()
                        })
                        .collect()
                },
            ))
            .build()
    });
    let product_fields = v.get("ProductFields").and_then(Value::as_object).map(|m| {
        m.iter()
            .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
            .collect()
    });
    sh::AwsSecurityFinding::builder()
        .set_schema_version(text(v, "SchemaVersion"))
        .set_id(text(v, "Id"))
        .set_product_arn(text(v, "ProductArn"))
        .set_product_name(text(v, "ProductName"))
        .set_company_name(text(v, "CompanyName"))
        .set_generator_id(text(v, "GeneratorId"))
        .set_aws_account_id(text(v, "AwsAccountId"))
        .set_region(text(v, "Region"))
        .set_types(texts(v.get("Types")))
        .set_created_at(text(v, "CreatedAt"))
        .set_updated_at(text(v, "UpdatedAt"))
        .set_first_observed_at(text(v, "FirstObservedAt"))
        .set_last_observed_at(text(v, "LastObservedAt"))
        .severity(
            sh::Severity::builder()
                .set_label(label)
                .set_original(original)
                .build(),
        )
        .set_criticality(criticality("/Criticality"))
        .finding_provider_fields(
            sh::FindingProviderFields::builder()
                .set_criticality(criticality("/FindingProviderFields/Criticality"))
                .severity(
                    sh::FindingProviderSeverity::builder()
                        .set_label(provider_label)
                        .set_original(provider_original)
                        .build(),
                )
                .set_types(texts(v.pointer("/FindingProviderFields/Types")))
                .build(),
        )
        .set_title(text(v, "Title"))
        .set_description(text(v, "Description"))
        .set_remediation(
            v.pointer("/Remediation/Recommendation/Text")
                .and_then(Value::as_str)
                .map(|t| {
                    sh::Remediation::builder()
                        .recommendation(sh::Recommendation::builder().text(t).build())
                        .build()
                }),
        )
        .set_resources(Some(resources))
        .set_compliance(compliance)
        .set_workflow(
            v.pointer("/Workflow/Status")
                .and_then(Value::as_str)
                .map(|s| {
                    sh::Workflow::builder()
                        .status(sh::WorkflowStatus::from(s))
                        .build()
                }),
        )
        .set_record_state(text(v, "RecordState").map(|s| sh::RecordState::from(s.as_str())))
        .set_product_fields(product_fields)
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::tests::{at, catalog, finding, mapped_policy};
    use crate::model::{FindingState, Suppression};

    #[test]
    fn the_sdk_finding_carries_every_field_qrie_sets() {
        let catalog = catalog();
        let policy = mapped_policy(&catalog);
        let f = finding(&policy.id);
        let v = asff::finding(
            &Subject::new(&f, Some(policy), at("2026-12-02T00:00:00Z")),
            "us-east-1",
        );
        let s = to_sdk(&v);
        assert_eq!(s.id(), v["Id"].as_str());
        assert_eq!(s.product_arn(), v["ProductArn"].as_str());
        assert_eq!(s.aws_account_id(), Some("111122223333"));
        assert_eq!(s.generator_id(), Some(policy.id.as_str()));
        assert_eq!(s.updated_at(), v["UpdatedAt"].as_str());
        assert_eq!(
            s.severity().and_then(|x| x.label()),
            Some(&sh::SeverityLabel::High)
        );
        assert_eq!(s.resources()[0].r#type(), Some("AwsS3Bucket"));
        assert_eq!(
            s.compliance().and_then(|c| c.status()),
            Some(&sh::ComplianceStatus::Failed)
        );
        assert_eq!(
            s.compliance().map(|c| c.related_requirements().len()),
            Some(policy.controls.len())
        );
        assert_eq!(s.record_state(), Some(&sh::RecordState::Active));
        assert_eq!(
            s.workflow().and_then(|w| w.status()),
            Some(&sh::WorkflowStatus::New)
        );
        assert_eq!(
            s.product_fields().and_then(|p| p.get("qrie/PolicyId")),
            Some(&policy.id)
        );
    }

    #[test]
    fn suppressed_findings_are_sent_archived_and_counted() {
        let now = at("2026-12-02T00:00:00Z");
        let catalog = catalog();
        let open = finding("A");
        let mut suppressed = finding("B");
        suppressed.suppressed = Some(Suppression {
            by: "bob".into(),
            at: now,
            reason: "accepted".into(),
            until: at("2027-01-01T00:00:00Z"),
        });
        let mut resolved = finding("C");
        resolved.state = FindingState::Resolved;
        let (values, n) =
            asff_for_import(&[open, suppressed, resolved], &catalog, "us-east-1", now);
        assert_eq!(n, 1);
        let states: Vec<&str> = values
            .iter()
            .map(|v| v["RecordState"].as_str().unwrap())
            .collect();
        assert_eq!(states, vec!["ACTIVE", "ARCHIVED", "ARCHIVED"]);
        assert_eq!(values[1]["Workflow"]["Status"], "SUPPRESSED");
    }

    #[test]
    fn changed_since_keeps_what_moved_after_the_start() {
        let start = at("2026-12-01T04:00:00Z");
        let mut old = finding("A");
        old.last_evaluated = at("2026-11-30T04:00:00Z");
        let fresh = finding("B"); // last evaluated at 04:00:00, the start itself
        let mut resolved = finding("C");
        resolved.last_evaluated = at("2026-11-30T04:00:00Z");
        resolved.resolved_at = Some(at("2026-12-01T05:00:00Z"));
        let kept: Vec<String> = changed_since(vec![old, fresh, resolved], start)
            .into_iter()
            .map(|f| f.policy_id)
            .collect();
        assert_eq!(kept, vec!["B", "C"]);
    }

    #[test]
    fn a_report_lists_a_bounded_number_of_failures() {
        let mut r = ImportReport::default();
        for i in 0..(MAX_REPORTED_ERRORS + 10) {
            r.error(format!("e{i}"));
        }
        assert_eq!(r.errors.len(), MAX_REPORTED_ERRORS + 1);
    }
}
