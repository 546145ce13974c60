//! The `qrie` command's exports and its Security Hub push:
//!
//! - `qrie findings --format ocsf|asff [--ndjson]`: the listed findings (the same filters and the
//!   same suppression rule as every other format: suppressed findings only with
//!   `--include-suppressed`) as OCSF Compliance Findings or ASFF findings
//!   ([`qrie::export`]), a JSON array, or one object per line with `--ndjson`. ASFF is written
//!   for the region Security Hub imports go to (`QRIE_SECURITY_HUB_REGION`, else the caller's).
//! - `qrie securityhub sync [--account A]`: imports the findings table as it stands (ACTIVE
//!   findings active, RESOLVED ones archived, suppressed ones archived) into each finding's own
//!   account's Security Hub, through the account's role ([`qrie::securityhub`]); it prints what
//!   was imported and what failed, and exits with 1 when anything failed.

use std::io::Write;

use chrono::{DateTime, Utc};
use clap::Subcommand;
use qrie::export::{asff, ocsf, Subject};
use qrie::handler::Deps;
use qrie::model::Finding;

use super::{all_findings, CliError, Format, EXIT_ERROR, EXIT_OK};

/// `qrie securityhub ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum SecurityHubCommand {
    /// Import the findings table into AWS Security Hub, each finding in its own account.
    Sync {
        /// Only this account's findings.
        #[arg(long)]
        account: Option<String>,
    },
}

/// `--ndjson` is for the exports only.
pub(crate) fn check_ndjson(format: Format, ndjson: bool) -> Result<(), CliError> {
    if ndjson && !matches!(format, Format::Ocsf | Format::Asff) {
        return Err(CliError::Invalid(
            "--ndjson goes with --format ocsf or --format asff".into(),
        ));
    }
    Ok(())
}

/// Writes `listed` as OCSF or ASFF.
pub(crate) fn write_findings(
    deps: &Deps,
    listed: &[Finding],
    format: Format,
    ndjson: bool,
    now: DateTime<Utc>,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let region = qrie::securityhub::import_region(&deps.config, &deps.sdk);
    let values: Vec<serde_json::Value> = listed
        .iter()
        .map(|f| {
            let subject = Subject::new(f, deps.catalog.get(&f.policy_id), now);
            match format {
                Format::Asff => asff::finding(&subject, &region),
                _ => ocsf::compliance_finding(&subject),
            }
        })
        .collect();
    if ndjson {
        for v in &values {
            writeln!(out, "{v}")?;
        }
    } else {
        crate::write_json(out, &values)?;
    }
    Ok(())
}

/// Runs `qrie securityhub ...`.
pub(crate) async fn security_hub(
    deps: &Deps,
    command: SecurityHubCommand,
    out: &mut dyn Write,
) -> Result<i32, CliError> {
    let SecurityHubCommand::Sync { account } = command;
    if let Some(id) = &account {
        if deps.stores.accounts.get(id).await?.is_none() {
            return Err(CliError::Invalid(format!(
                "account {id} is not onboarded (not in the accounts table)"
            )));
        }
    }
    let findings: Vec<Finding> = all_findings(deps)
        .await?
        .into_iter()
        .filter(|f| account.as_ref().is_none_or(|a| &f.account_id == a))
        .collect();
    let region = qrie::securityhub::import_region(&deps.config, &deps.sdk);
    let report = Box::pin(qrie::securityhub::sync(
        &deps.config,
        &deps.sdk,
        &deps.stores,
        &deps.catalog,
        &findings,
        Utc::now(),
    ))
    .await;
    writeln!(
        out,
        "Security Hub ({region}): {} imported ({} suppressed, archived), {} failed, {} skipped, in {} batch(es)",
        report.imported, report.archived_suppressed, report.failed, report.skipped, report.batches
    )?;
    for e in &report.errors {
        writeln!(out, "  {e}")?;
    }
    Ok(if report.failed > 0 || report.skipped > 0 {
        EXIT_ERROR
    } else {
        EXIT_OK
    })
}
