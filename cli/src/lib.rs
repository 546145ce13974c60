//! The `qrie` command: the operator's view of the live tables, with the caller's AWS credentials
//! (or the local AWS, through `AWS_ENDPOINT_URL`), and the same table-name variables the
//! functions read (`QRIE_FINDINGS_TABLE`, ...).
//!
//! - `qrie findings` lists findings with filters (state, minimum severity, account, service,
//!   policy, framework and control) as a table, JSON or CSV, the highest risk score first
//!   (`--sort severity`: most severe first); suppressed findings are left out
//!   unless `--include-suppressed`; `--fail-on-any` exits with [`EXIT_FINDINGS`] when any
//!   finding is listed, for CI.
//! - `qrie finding ARN POLICY` shows one, with its evidence, remediation, history and notes.
//! - `qrie compliance --framework F [--account A]` judges each control on the live tables (see
//!   `qrie::compliance`), with the score.
//! - `qrie findings --format ocsf|asff [--ndjson]` (OCSF and ASFF exports) and
//!   `qrie securityhub sync` are in `exports.rs`.
//! - `qrie ack`, `qrie suppress --until DATE --reason ...` and `qrie unsuppress` record what
//!   people decided about a finding, by the caller's identity unless `--by` says otherwise.
//!
//! Everything runs through [`run`], which writes to the given output and returns the exit code,
//! so that the tests drive the command on the local AWS exactly as a shell would.

use std::collections::HashMap;
use std::io::Write;

use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand, ValueEnum};
use qrie::compliance::{self, ControlStatus};
use qrie::handler::Deps;
use qrie::model::{partition_key, Acknowledgement, Finding, FindingState, Severity, Suppression};
use qrie::registry;
use qrie::scan;

mod exports;
pub mod objects;
pub mod ops;
pub mod progress;
mod report;

/// Writes `value` as indented JSON and a newline (the `--format json` output).
pub(crate) fn write_json<T: serde::Serialize + ?Sized>(
    out: &mut dyn Write,
    value: &T,
) -> std::io::Result<()> {
    writeln!(
        out,
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    )
}

/// Exit code of a run that worked.
pub const EXIT_OK: i32 = 0;
/// Exit code of a run that failed (a table could not be read, a finding does not exist, ...).
pub const EXIT_ERROR: i32 = 1;
/// Exit code of a command line that does not parse.
pub const EXIT_USAGE: i32 = 2;
/// Exit code of `qrie findings --fail-on-any` when it listed findings.
pub const EXIT_FINDINGS: i32 = 3;

#[derive(Debug, Parser)]
#[command(
    name = "qrie",
    version,
    about = "qrie: findings, compliance and triage from the live tables"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List findings.
    Findings(FindingsArgs),
    /// Show one finding with its evidence, remediation, history and notes.
    Finding {
        /// The resource's ARN.
        arn: String,
        /// The policy id.
        policy: String,
    },
    /// Each control of a framework, per account, with the score; with --trend, the stored
    /// daily summaries over time.
    Compliance {
        /// cis-aws-v5.0, fsbp, nist-800-53-r5 or pci-dss-4.0 (with --trend: default all).
        #[arg(long, required_unless_present = "trend")]
        framework: Option<String>,
        /// One account (default: every onboarded account).
        #[arg(long)]
        account: Option<String>,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        /// The stored daily summaries (one row per day: score, passed, failed, evaluated).
        #[arg(long)]
        trend: bool,
        /// Days of trend, today included.
        #[arg(long, requires = "trend", default_value_t = report::DEFAULT_TREND_DAYS,
              value_parser = clap::value_parser!(u32).range(1..=3660))]
        days: u32,
    },
    /// Write a self-contained HTML report: scores, findings by severity and service, failing
    /// controls and resources, top failing policies and the trend.
    Report(report::ReportArgs),
    /// Record that you have seen a finding.
    Ack {
        arn: String,
        policy: String,
        #[arg(long)]
        reason: String,
        /// Who (default: the caller's AWS identity).
        #[arg(long)]
        by: Option<String>,
    },
    /// Accept a finding as a risk until a date.
    Suppress {
        arn: String,
        policy: String,
        /// A date (the whole day, UTC) or an RFC 3339 time, in the future.
        #[arg(long)]
        until: String,
        #[arg(long)]
        reason: String,
        #[arg(long)]
        by: Option<String>,
    },
    /// Lift a finding's suppression.
    Unsuppress { arn: String, policy: String },
    /// The policies: list, show, enable, disable, launch.
    Policies(ops::PoliciesArgs),
    /// The onboarded accounts: list, onboard.
    Accounts(ops::AccountsArgs),
    /// Run the inventory (invokes qrie_inventory_generator, or --in-process).
    Inventory(ops::InventoryArgs),
    /// Run the policy scan (invokes qrie_policy_scanner, or --in-process).
    Scan(ops::ScanArgs),
    /// Object-scan jobs (scan, status, results) and local files (scan-local).
    Objects(objects::ObjectsArgs),
    /// AWS Security Hub: push the findings table.
    #[command(subcommand)]
    Securityhub(exports::SecurityHubCommand),
}

#[derive(Debug, clap::Args)]
struct FindingsArgs {
    #[arg(long, value_enum, default_value_t = StateFilter::Active)]
    state: StateFilter,
    /// This severity and above (critical, high, medium, low, informational).
    #[arg(long)]
    severity: Option<String>,
    #[arg(long)]
    account: Option<String>,
    /// A service (s3, iam, ec2, ...).
    #[arg(long)]
    service: Option<String>,
    #[arg(long)]
    policy: Option<String>,
    /// Only policies mapped to this framework (with --control, to that control).
    #[arg(long)]
    framework: Option<String>,
    #[arg(long, requires = "framework")]
    control: Option<String>,
    /// Also list suppressed findings (they are marked).
    #[arg(long)]
    include_suppressed: bool,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Exit with 3 when any finding is listed.
    #[arg(long)]
    fail_on_any: bool,
    /// With --format ocsf or asff: one JSON object per line instead of an array.
    #[arg(long)]
    ndjson: bool,
    /// The order: highest risk score first (then severity), or most severe first (then risk).
    #[arg(long, value_enum, default_value_t = SortBy::Risk)]
    sort: SortBy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum SortBy {
    Risk,
    Severity,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum StateFilter {
    Active,
    Resolved,
    All,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Table,
    Json,
    Csv,
    /// OCSF Compliance Findings (findings only).
    Ocsf,
    /// AWS Security Finding Format (findings only).
    Asff,
}

/// What stops a command.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] qrie::store::StoreError),
    #[error("writing the output failed: {0}")]
    Output(#[from] std::io::Error),
    #[error("cannot write the report to {}: {source}", path.display())]
    WriteReport {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Ops(#[from] ops::OpsError),
    #[error(transparent)]
    Objects(#[from] objects::ObjectsError),
}

/// Runs one command line (`args[0]` is the program name) and returns its exit code; usage and
/// errors are written to `err`.
pub async fn run(deps: &Deps, args: &[String], out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_USAGE } else { EXIT_OK };
            let _ = if code == EXIT_OK {
                write!(out, "{e}")
            } else {
                write!(err, "{e}")
            };
            return code;
        }
    };
    match execute(deps, cli.command, out).await {
        Ok(code) => code,
        Err(e) => {
            let _ = writeln!(err, "qrie: {e}");
            EXIT_ERROR
        }
    }
}

/// Runs one command. Each command's future is boxed: held inline, the largest of them (the
/// in-process scan, the Security Hub sync) would make every command's future as large, deeper
/// than a 2 MiB thread stack in a debug build.
async fn execute(deps: &Deps, command: Command, out: &mut dyn Write) -> Result<i32, CliError> {
    let now = Utc::now();
    match command {
        Command::Findings(args) => Box::pin(findings(deps, &args, now, out)).await,
        Command::Finding { arn, policy } => {
            let found = find(deps, &arn, &policy).await?;
            show(deps, &found, now, out)?;
            Ok(EXIT_OK)
        }
        Command::Compliance {
            framework,
            account,
            format,
            trend: true,
            days,
        } => {
            Box::pin(report::trend(
                deps,
                framework.as_deref(),
                account.as_deref(),
                days,
                format,
                out,
            ))
            .await
        }
        Command::Compliance {
            framework,
            account,
            format,
            ..
        } => {
            let framework = framework.unwrap_or_default();
            Box::pin(compliance_of(
                deps,
                &framework,
                account.as_deref(),
                format,
                out,
            ))
            .await
        }
        Command::Report(args) => Box::pin(report::html(deps, &args, out)).await,
        Command::Ack {
            arn,
            policy,
            reason,
            by,
        } => {
            let ack = Acknowledgement {
                by: who(deps, by).await?,
                at: now,
                reason: non_empty("--reason", reason)?,
            };
            find(deps, &arn, &policy).await?;
            if !deps
                .stores
                .findings
                .acknowledge(&arn, &policy, &ack)
                .await?
            {
                return Err(no_finding(&arn, &policy));
            }
            writeln!(out, "acknowledged {policy} on {arn} (by {})", ack.by)?;
            Ok(EXIT_OK)
        }
        Command::Suppress {
            arn,
            policy,
            until,
            reason,
            by,
        } => {
            let until = parse_until(&until)?;
            if until <= now {
                return Err(CliError::Invalid(format!(
                    "--until {until} is not in the future: a suppression must end later"
                )));
            }
            let suppression = Suppression {
                by: who(deps, by).await?,
                at: now,
                reason: non_empty("--reason", reason)?,
                until,
            };
            find(deps, &arn, &policy).await?;
            if !deps
                .stores
                .findings
                .suppress(&arn, &policy, Some(&suppression))
                .await?
            {
                return Err(no_finding(&arn, &policy));
            }
            writeln!(out, "suppressed {policy} on {arn} until {until}")?;
            Ok(EXIT_OK)
        }
        Command::Unsuppress { arn, policy } => {
            let found = find(deps, &arn, &policy).await?;
            if found.suppressed.is_none() {
                return Err(CliError::Invalid(format!(
                    "{policy} on {arn} is not suppressed by an operator{}",
                    found
                        .muted
                        .as_ref()
                        .map(|m| format!(
                            " (rule {} in suppressions.yaml matches it: edit that file)",
                            m.rule
                        ))
                        .unwrap_or_default()
                )));
            }
            deps.stores.findings.suppress(&arn, &policy, None).await?;
            writeln!(out, "unsuppressed {policy} on {arn}")?;
            Ok(EXIT_OK)
        }
        Command::Policies(args) => Box::pin(ops::policies(deps, args, out)).await,
        Command::Accounts(args) => Box::pin(ops::accounts(deps, args, out)).await,
        Command::Inventory(args) => Box::pin(ops::inventory(deps, args, out)).await,
        Command::Scan(args) => Box::pin(ops::scan(deps, args, out)).await,
        Command::Objects(args) => Box::pin(objects::objects(deps, args, out)).await,
        Command::Securityhub(command) => Box::pin(exports::security_hub(deps, command, out)).await,
    }
}

fn no_finding(arn: &str, policy: &str) -> CliError {
    CliError::Invalid(format!("no finding of policy {policy} on {arn}"))
}

fn non_empty(flag: &str, value: String) -> Result<String, CliError> {
    if value.trim().is_empty() {
        return Err(CliError::Invalid(format!("{flag} must not be empty")));
    }
    Ok(value)
}

/// `--until` as suppression rules read it (a date is the end of that day, UTC).
fn parse_until(text: &str) -> Result<DateTime<Utc>, CliError> {
    qrie::policy::suppressions::parse_until(text).ok_or_else(|| {
        CliError::Invalid(format!(
            "--until {text:?} is neither a date (2027-06-30) nor an RFC 3339 time"
        ))
    })
}

/// `--by`, or the caller's AWS identity (its ARN).
async fn who(deps: &Deps, by: Option<String>) -> Result<String, CliError> {
    if let Some(by) = by {
        return non_empty("--by", by);
    }
    let sts = aws_sdk_sts::Client::new(&deps.sdk);
    let identity = sts.get_caller_identity().send().await.map_err(|e| {
        CliError::Invalid(format!(
            "cannot tell who you are (sts:GetCallerIdentity failed: {}); pass --by",
            aws_sdk_sts::error::DisplayErrorContext(&e)
        ))
    })?;
    identity
        .arn()
        .map(str::to_owned)
        .ok_or_else(|| CliError::Invalid("sts:GetCallerIdentity named no ARN; pass --by".into()))
}

async fn find(deps: &Deps, arn: &str, policy: &str) -> Result<Finding, CliError> {
    deps.stores
        .findings
        .for_resource(arn)
        .await?
        .into_iter()
        .find(|f| f.policy_id == policy)
        .ok_or_else(|| no_finding(arn, policy))
}

async fn all_findings(deps: &Deps) -> Result<Vec<Finding>, CliError> {
    let mut all = Vec::new();
    let mut cursor = None;
    loop {
        let page = deps.stores.findings.page_all(cursor).await?;
        all.extend(page.items);
        match page.next {
            Some(next) => cursor = Some(next),
            None => return Ok(all),
        }
    }
}

async fn findings(
    deps: &Deps,
    args: &FindingsArgs,
    now: DateTime<Utc>,
    out: &mut dyn Write,
) -> Result<i32, CliError> {
    exports::check_ndjson(args.format, args.ndjson)?;
    let severity: Option<Severity> = args
        .severity
        .as_deref()
        .map(|s| {
            s.parse()
                .map_err(|e| CliError::Invalid(format!("--severity: {e}")))
        })
        .transpose()?;
    let service = args
        .service
        .as_deref()
        .map(|s| {
            s.parse::<qrie::model::Service>()
                .map_err(|e| CliError::Invalid(format!("--service: {e}")))
        })
        .transpose()?;
    if let Some(framework) = &args.framework {
        if deps.catalog.framework(framework).is_none() {
            return Err(CliError::Invalid(unknown_framework(deps, framework)));
        }
    }
    if let Some(policy) = &args.policy {
        if deps.catalog.get(policy).is_none() {
            return Err(CliError::Invalid(format!("--policy: no policy {policy:?}")));
        }
    }
    let mapped = |policy_id: &str| -> bool {
        let Some(framework) = &args.framework else {
            return true;
        };
        deps.catalog.get(policy_id).is_some_and(|p| {
            p.controls.iter().any(|c| {
                &c.framework == framework && args.control.as_ref().is_none_or(|id| &c.id == id)
            })
        })
    };
    let mut listed: Vec<Finding> = all_findings(deps)
        .await?
        .into_iter()
        .filter(|f| match args.state {
            StateFilter::Active => f.state == FindingState::Active,
            StateFilter::Resolved => f.state == FindingState::Resolved,
            StateFilter::All => true,
        })
        .filter(|f| severity.is_none_or(|s| f.severity <= s))
        .filter(|f| args.account.as_ref().is_none_or(|a| &f.account_id == a))
        .filter(|f| service.is_none_or(|s| f.account_service == partition_key(&f.account_id, s)))
        .filter(|f| args.policy.as_ref().is_none_or(|p| &f.policy_id == p))
        .filter(|f| mapped(&f.policy_id))
        .filter(|f| args.include_suppressed || !f.is_suppressed_at(now))
        .collect();
    sort_findings(deps, &mut listed, args.sort);
    match args.format {
        Format::Ocsf | Format::Asff => {
            exports::write_findings(deps, &listed, args.format, args.ndjson, now, out)?;
        }
        Format::Json => {
            let rows: Vec<serde_json::Value> =
                listed.iter().map(|f| finding_json(deps, f, now)).collect();
            write_json(out, &rows)?;
        }
        Format::Csv => {
            writeln!(
                out,
                "severity,state,account_id,service,policy_id,arn,first_seen,last_evaluated,acknowledged,suppressed,risk_score"
            )?;
            for f in &listed {
                let row = [
                    f.severity.as_str().to_owned(),
                    f.state.as_str().to_owned(),
                    f.account_id.clone(),
                    service_of(f).to_owned(),
                    f.policy_id.clone(),
                    f.arn.clone(),
                    qrie::store::timestamp(f.first_seen),
                    qrie::store::timestamp(f.last_evaluated),
                    f.acknowledged.is_some().to_string(),
                    f.is_suppressed_at(now).to_string(),
                    risk_of(deps, f).to_string(),
                ];
                let cells: Vec<String> = row.iter().map(|c| csv_cell(c)).collect();
                writeln!(out, "{}", cells.join(","))?;
            }
        }
        Format::Table => {
            writeln!(
                out,
                "{:<5} {:<13} {:<8} {:<12} {:<10} {:<44} ARN",
                "RISK", "SEVERITY", "STATE", "ACCOUNT", "SERVICE", "POLICY"
            )?;
            for f in &listed {
                let mark = if f.is_suppressed_at(now) {
                    " (suppressed)"
                } else if f.acknowledged.is_some() {
                    " (acknowledged)"
                } else {
                    ""
                };
                writeln!(
                    out,
                    "{:<5} {:<13} {:<8} {:<12} {:<10} {:<44} {}{mark}",
                    risk_of(deps, f).to_string(),
                    f.severity.as_str(),
                    f.state.as_str(),
                    f.account_id,
                    service_of(f),
                    f.policy_id,
                    f.arn
                )?;
            }
            writeln!(out, "{} finding(s)", listed.len())?;
        }
    }
    Ok(if args.fail_on_any && !listed.is_empty() {
        EXIT_FINDINGS
    } else {
        EXIT_OK
    })
}

/// A finding's risk score: as stored, or (stored before scores) from its severity and its
/// policy's risk factors.
pub(crate) fn risk_of(deps: &Deps, f: &Finding) -> qrie::risk::RiskScore {
    qrie::risk::of_finding(
        f,
        deps.catalog
            .get(&f.policy_id)
            .map(|p| p.risk)
            .unwrap_or_default(),
    )
}

/// Orders findings for listing: by risk score, highest first, then severity (or the other way
/// round), then account, policy and ARN, so that equal keys list the same way every time.
pub(crate) fn sort_findings(deps: &Deps, findings: &mut [Finding], by: SortBy) {
    findings.sort_by(|a, b| {
        let (risk_a, risk_b) = (risk_of(deps, a), risk_of(deps, b));
        let first = match by {
            SortBy::Risk => risk_b.cmp(&risk_a).then(a.severity.cmp(&b.severity)),
            SortBy::Severity => a.severity.cmp(&b.severity).then(risk_b.cmp(&risk_a)),
        };
        first.then_with(|| {
            (&a.account_id, &a.policy_id, &a.arn).cmp(&(&b.account_id, &b.policy_id, &b.arn))
        })
    });
}

/// The service of a finding's partition (`<account>_<service>`).
fn service_of(f: &Finding) -> &str {
    f.account_service
        .strip_prefix(&format!("{}_", f.account_id))
        .unwrap_or(&f.account_service)
}

/// One CSV cell, quoted when it holds a comma, quote or line break; a leading `=`, `+`, `-` or
/// `@` is prefixed with `'` so that a spreadsheet never runs a value from an account as a formula.
fn csv_cell(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

fn finding_json(deps: &Deps, f: &Finding, now: DateTime<Utc>) -> serde_json::Value {
    let policy = deps.catalog.get(&f.policy_id);
    serde_json::json!({
        "arn": f.arn,
        "policy_id": f.policy_id,
        "title": policy.map(|p| p.title.as_str()),
        "severity": f.severity,
        "risk_score": risk_of(deps, f),
        "state": f.state,
        "account_id": f.account_id,
        "service": service_of(f),
        "resource_type": f.resource_type,
        "evidence": f.evidence,
        "first_seen": f.first_seen,
        "last_evaluated": f.last_evaluated,
        "resolved_at": f.resolved_at,
        "history": f.history,
        "acknowledged": f.acknowledged,
        "suppressed": f.suppressed,
        "muted": f.muted,
        "is_suppressed": f.is_suppressed_at(now),
        "controls": policy.map(|p| p.controls.iter().map(|c| format!("{} {}", c.framework, c.id)).collect::<Vec<_>>()),
        "remediation": policy.map(|p| p.remediation.as_str()),
    })
}

fn show(deps: &Deps, f: &Finding, now: DateTime<Utc>, out: &mut dyn Write) -> Result<(), CliError> {
    let policy = deps.catalog.get(&f.policy_id);
    writeln!(out, "{} on {}", f.policy_id, f.arn)?;
    if let Some(p) = policy {
        writeln!(out, "  {}", p.title)?;
    }
    writeln!(out, "severity:   {}", f.severity)?;
    writeln!(out, "risk score: {}", risk_of(deps, f))?;
    writeln!(out, "state:      {}", f.state.as_str())?;
    writeln!(out, "account:    {} ({})", f.account_id, service_of(f))?;
    writeln!(out, "first seen: {}", f.first_seen)?;
    writeln!(out, "evaluated:  {}", f.last_evaluated)?;
    if let Some(at) = f.resolved_at {
        writeln!(out, "resolved:   {at}")?;
    }
    if f.history.reopened > 0 {
        writeln!(
            out,
            "re-opened:  {} time(s), last at {}{}",
            f.history.reopened,
            f.history
                .reopened_at
                .map(|t| t.to_string())
                .unwrap_or_default(),
            f.history
                .last_resolved_at
                .map(|t| format!(" (after its resolution at {t})"))
                .unwrap_or_default()
        )?;
    }
    if let Some(a) = &f.acknowledged {
        writeln!(out, "acknowledged by {} at {}: {}", a.by, a.at, a.reason)?;
    }
    if let Some(s) = &f.suppressed {
        let state = if s.until > now {
            "suppressed"
        } else {
            "suppression expired"
        };
        writeln!(
            out,
            "{state} by {} at {} until {}: {}",
            s.by, s.at, s.until, s.reason
        )?;
    }
    if let Some(m) = &f.muted {
        let state = if m.until > now {
            "suppressed"
        } else {
            "suppression expired"
        };
        writeln!(
            out,
            "{state} by rule {} until {}: {}",
            m.rule, m.until, m.reason
        )?;
    }
    writeln!(
        out,
        "evidence:   {}",
        serde_json::to_string_pretty(&f.evidence).unwrap_or_default()
    )?;
    if let Some(p) = policy {
        let controls: Vec<String> = p
            .controls
            .iter()
            .map(|c| format!("{} {}", c.framework, c.id))
            .collect();
        writeln!(out, "controls:   {}", controls.join(", "))?;
        writeln!(out, "remediation: {}", p.remediation.trim())?;
    }
    Ok(())
}

fn unknown_framework(deps: &Deps, framework: &str) -> String {
    let known: Vec<&str> = deps.catalog.framework_names().collect();
    format!(
        "unknown framework {framework:?} (known: {})",
        known.join(", ")
    )
}

async fn compliance_of(
    deps: &Deps,
    framework: &str,
    account: Option<&str>,
    format: Format,
    out: &mut dyn Write,
) -> Result<i32, CliError> {
    if deps.catalog.framework(framework).is_none() {
        return Err(CliError::Invalid(unknown_framework(deps, framework)));
    }
    if matches!(format, Format::Ocsf | Format::Asff) {
        return Err(CliError::Invalid(
            "qrie compliance writes table, json or csv; ocsf and asff are formats of `qrie findings`".into(),
        ));
    }
    let accounts: Vec<String> = match account {
        Some(id) => match deps.stores.accounts.get(id).await? {
            Some(a) => vec![a.account_id],
            None => {
                return Err(CliError::Invalid(format!(
                    "account {id} is not onboarded (not in the accounts table)"
                )))
            }
        },
        None => deps
            .stores
            .accounts
            .list()
            .await?
            .into_iter()
            .filter(|a| a.enabled)
            .map(|a| a.account_id)
            .collect(),
    };
    let settings = deps.stores.policies.settings().await?;
    let policies = scan::configure(&deps.catalog, &settings).policies;
    let now = Utc::now();
    let mut assessments = Vec::new();
    for account_id in &accounts {
        let mut types: HashMap<String, usize> = HashMap::new();
        let mut counted = Vec::new();
        for entry in registry::SERVICES {
            let partition = partition_key(account_id, entry.service);
            let mut cursor = None;
            loop {
                let page = deps.stores.resources.page(&partition, cursor).await?;
                for r in &page.items {
                    *types.entry(r.resource_type.clone()).or_default() += 1;
                }
                match page.next {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
            counted.extend(
                deps.stores
                    .findings
                    .active_in_partition(&partition)
                    .await?
                    .into_iter()
                    .filter(|f| !f.is_suppressed_at(now)),
            );
        }
        let assessment = compliance::assess(
            &deps.catalog,
            framework,
            account_id,
            &policies,
            &types,
            &counted,
        )
        .map_err(|e| CliError::Invalid(e.to_string()))?;
        assessments.push(assessment);
    }
    match format {
        Format::Ocsf | Format::Asff => {}
        Format::Json => {
            write_json(out, &assessments)?;
        }
        Format::Csv => {
            writeln!(out, "account_id,control,status,severity,failing,title")?;
            for a in &assessments {
                for c in &a.controls {
                    writeln!(
                        out,
                        "{},{},{},{},{},{}",
                        a.account_id,
                        csv_cell(&c.id),
                        c.status.as_str(),
                        c.severity.map(|s| s.as_str()).unwrap_or_default(),
                        c.failing.len(),
                        csv_cell(&c.title)
                    )?;
                }
            }
        }
        Format::Table => {
            for a in &assessments {
                let score = a
                    .score()
                    .map(|s| format!("{:.1}%", s * 100.0))
                    .unwrap_or_else(|| "no control decided".into());
                writeln!(
                    out,
                    "{} · account {}: {score} ({} passed, {} failed, {} no resources, {} manual, {} not evaluated)",
                    compliance::display_name(framework),
                    a.account_id,
                    a.overall.passed,
                    a.overall.failed,
                    a.count(ControlStatus::NoResources),
                    a.count(ControlStatus::Manual),
                    a.count(ControlStatus::NotEvaluated),
                )?;
                for (severity, counts) in &a.by_severity {
                    writeln!(
                        out,
                        "  {:<13} {} passed, {} failed",
                        severity.as_str(),
                        counts.passed,
                        counts.failed
                    )?;
                }
                for c in &a.controls {
                    writeln!(out, "  {:<13} {:<12} {}", c.status.as_str(), c.id, c.title)?;
                    for f in &c.failing {
                        writeln!(
                            out,
                            "      {} {} ({})",
                            f.severity.as_str(),
                            f.arn,
                            f.policy_id
                        )?;
                    }
                }
            }
        }
    }
    Ok(EXIT_OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_are_quoted_and_never_formulas() {
        assert_eq!(csv_cell("plain"), "plain");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_cell("-1"), "'-1");
    }

    #[test]
    fn until_is_the_end_of_a_date_or_an_exact_time() {
        assert_eq!(
            parse_until("2027-06-30").unwrap(),
            "2027-07-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(
            parse_until("2027-01-01T12:00:00+01:00").unwrap(),
            "2027-01-01T11:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert!(parse_until("soon")
            .unwrap_err()
            .to_string()
            .contains("neither a date"));
    }

    #[test]
    fn the_command_line_parses_and_bad_lines_are_usage_errors() {
        let parse = |line: &str| Cli::try_parse_from(line.split(' '));
        assert!(parse("qrie findings --severity high --format csv --fail-on-any").is_ok());
        assert!(
            parse("qrie findings --control 1.4").is_err(),
            "--control needs --framework"
        );
        assert!(
            parse("qrie suppress arn P --until 2027-01-01").is_err(),
            "--reason is required"
        );
        assert!(parse("qrie compliance --framework fsbp --format json").is_ok());
        assert!(
            parse("qrie compliance").is_err(),
            "--framework without --trend"
        );
        assert!(parse("qrie compliance --trend --days 7 --format csv").is_ok());
        assert!(
            parse("qrie compliance --framework fsbp --days 7").is_err(),
            "--days needs --trend"
        );
        assert!(parse("qrie compliance --trend --days 0").is_err());
        assert!(parse("qrie report --html r.html --framework fsbp --days 14").is_ok());
        assert!(parse("qrie report").is_err(), "--html is required");
    }
}
