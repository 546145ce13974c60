//! The operator's running of qrie from the `qrie` command: policies (list, show, enable, disable,
//! launch), accounts (list, onboard), and runs of the inventory and the policy scan.
//!
//! - Policy activation is the policies table's `Active`, which the scanner and the event
//!   processor already read (`qrie::scan::configure`): `enable` and `disable` rewrite that
//!   attribute and keep the row's severity override and account scope. `launch` is the design's
//!   "new policy launch": enable, then scan that one policy.
//! - `accounts onboard` assumes the role with its ExternalId (STS AssumeRole) and checks with
//!   GetCallerIdentity that the session is in the account named, before it writes the account
//!   item; a refused assume writes nothing.
//! - `inventory` and `scan` invoke the deployed functions with the payloads people pass to `aws
//!   lambda invoke` (names from `--function`, [`INVENTORY_FUNCTION_ENV`] /
//!   [`SCANNER_FUNCTION_ENV`], or the deployed names), and print the summary they return; a
//!   function error (`FunctionError`, a status other than 200) is an error naming the function
//!   and what it said. `--in-process` runs the same handler in this process against the tables.

use std::io::Write;

use aws_sdk_lambda::primitives::Blob;
use clap::{Subcommand, ValueEnum};
use lambda_runtime::{Context, LambdaEvent};
use qrie::handler::Deps;
use qrie::inventory::InventoryRequest;
use qrie::model::{is_region_name, Account, Service};
use qrie::scan::{self, ScanRequest};
use qrie::store::{BadRowEffect, PolicySetting};
use serde_json::{json, Value};

use crate::{CliError, EXIT_OK};

/// The variable naming the inventory function to invoke (default [`INVENTORY_FUNCTION`]).
pub const INVENTORY_FUNCTION_ENV: &str = "QRIE_INVENTORY_FUNCTION";
/// The variable naming the policy-scanner function to invoke (default [`SCANNER_FUNCTION`]).
pub const SCANNER_FUNCTION_ENV: &str = "QRIE_SCANNER_FUNCTION";
/// The deployed inventory function's name (the CDK app's `lambdaName`).
pub const INVENTORY_FUNCTION: &str = "qrie_inventory_generator";
/// The deployed policy scanner's name.
pub const SCANNER_FUNCTION: &str = "qrie_policy_scanner";
/// The session name of the onboarding check in the customer account.
const ONBOARD_SESSION: &str = "qrie-onboard";

/// What stops one of these commands.
#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    #[error("no policy {0:?} (see `qrie policies list`)")]
    UnknownPolicy(String),
    #[error("{flag}: {problem}")]
    BadArgument { flag: &'static str, problem: String },
    #[error("the role cannot be assumed, nothing was written: {0}")]
    AssumeRefused(#[source] qrie::aws::AssumeRoleError),
    #[error(
        "the role was assumed but sts:GetCallerIdentity failed there, nothing was written: {0}"
    )]
    Identity(String),
    #[error("{role_arn} was assumed into account {actual}, not {expected}: nothing was written")]
    WrongAccount {
        role_arn: String,
        expected: String,
        actual: String,
    },
    #[error("invoking {function} failed: {message}")]
    Invoke { function: String, message: String },
    #[error("{function} failed ({kind}): {error_type}: {message}")]
    FunctionError {
        function: String,
        kind: String,
        error_type: String,
        message: String,
    },
    #[error("{function} answered status {status}{}", body.as_deref().map(|b| format!(": {b}")).unwrap_or_default())]
    Status {
        function: String,
        status: i32,
        body: Option<String>,
    },
    #[error("{function} answered something that is not JSON: {head:?}")]
    NotJson { function: String, head: String },
    #[error("{function} (in process) refused the request: {message}")]
    Handler { function: String, message: String },
    #[error("the summary lists {0} error(s) (--fail-on-errors)")]
    SummaryErrors(usize),
}

/// `table` for people, `json` for programs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum OutputFormat {
    #[default]
    Table,
    Json,
}

/// Where a run happens: the deployed function, or this process.
#[derive(Debug, Clone, clap::Args)]
pub struct Target {
    /// The function to invoke (default: the function's variable, else its deployed name).
    #[arg(long, conflicts_with = "in_process")]
    pub function: Option<String>,
    /// Run the handler in this process against the tables, with your credentials, instead of
    /// invoking the function.
    #[arg(long)]
    pub in_process: bool,
    /// Exit with 1 when the summary lists errors (collection or scan errors).
    #[arg(long)]
    pub fail_on_errors: bool,
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,
}

#[derive(Debug, clap::Args)]
pub struct PoliciesArgs {
    #[command(subcommand)]
    command: Option<PoliciesCommand>,
}

#[derive(Debug, Subcommand)]
enum PoliciesCommand {
    /// List the policies with their service, severity, activation and controls (the default).
    List {
        /// Only this service's (s3, iam, ec2, ...).
        #[arg(long)]
        service: Option<String>,
        #[arg(long, value_enum, default_value_t)]
        format: OutputFormat,
    },
    /// One policy: description, remediation, controls and how this deployment runs it.
    Show {
        id: String,
        #[arg(long, value_enum, default_value_t)]
        format: OutputFormat,
    },
    /// Enable a policy in the policies table (the scanner and event processor run it).
    Enable { id: String },
    /// Disable a policy in the policies table (not evaluated; its findings stay as they are).
    Disable { id: String },
    /// Enable a policy and run the policy scanner for it (a new policy's launch).
    Launch {
        id: String,
        #[command(flatten)]
        target: Target,
    },
}

#[derive(Debug, clap::Args)]
pub struct AccountsArgs {
    #[command(subcommand)]
    command: AccountsCommand,
}

#[derive(Debug, Subcommand)]
enum AccountsCommand {
    /// The onboarded accounts.
    List {
        #[arg(long, value_enum, default_value_t)]
        format: OutputFormat,
    },
    /// Onboard an account: checks that the role can be assumed, then writes its item.
    Onboard {
        /// The customer account's 12-digit id.
        account_id: String,
        /// The scanner role in that account (arn:aws:iam::ACCOUNT_ID:role/QrieScannerRole).
        #[arg(long)]
        role_arn: String,
        /// The ExternalId the role's trust policy requires.
        #[arg(long)]
        external_id: String,
        /// Regions to inventory, comma-separated (default: every enabled region).
        #[arg(long, value_delimiter = ',')]
        regions: Vec<String>,
        /// A display name.
        #[arg(long)]
        name: Option<String>,
    },
}

#[derive(Debug, clap::Args)]
pub struct InventoryArgs {
    /// One service (s3, iam, ec2, ...) or all.
    #[arg(long, default_value = "all")]
    service: String,
    /// One onboarded account (default: every enabled one).
    #[arg(long)]
    account: Option<String>,
    #[command(flatten)]
    target: Target,
}

#[derive(Debug, clap::Args)]
pub struct ScanArgs {
    /// One policy.
    #[arg(long)]
    policy: Option<String>,
    /// One service's policies.
    #[arg(long)]
    service: Option<String>,
    /// One onboarded account (default: every enabled one).
    #[arg(long)]
    account: Option<String>,
    #[command(flatten)]
    target: Target,
}

/// `qrie policies ...`
pub async fn policies(
    deps: &Deps,
    args: PoliciesArgs,
    out: &mut dyn Write,
) -> Result<i32, CliError> {
    match args.command.unwrap_or(PoliciesCommand::List {
        service: None,
        format: OutputFormat::Table,
    }) {
        PoliciesCommand::List { service, format } => {
            list_policies(deps, service, format, out).await
        }
        PoliciesCommand::Show { id, format } => show_policy(deps, &id, format, out).await,
        PoliciesCommand::Enable { id } => {
            let was = set_active(deps, &id, true).await?;
            writeln!(
                out,
                "{} {id}: the scanner and the event processor evaluate it from their next run",
                if was { "already enabled" } else { "enabled" }
            )?;
            Ok(EXIT_OK)
        }
        PoliciesCommand::Disable { id } => {
            let was = set_active(deps, &id, false).await?;
            writeln!(
                out,
                "{} {id}: no longer evaluated; its findings stay as they are",
                if was { "already disabled" } else { "disabled" }
            )?;
            Ok(EXIT_OK)
        }
        PoliciesCommand::Launch { id, target } => {
            let was = set_active(deps, &id, true).await?;
            writeln!(
                out,
                "{} {id}; scanning it",
                if was { "already enabled" } else { "enabled" }
            )?;
            let request = ScanRequest {
                policy_id: Some(id),
                ..ScanRequest::default()
            };
            run_scan(deps, request, &target, out).await
        }
    }
}

/// How this deployment runs one policy.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Activation {
    Enabled {
        severity: qrie::model::Severity,
        accounts: Option<Vec<String>>,
    },
    Disabled,
    /// Its row cannot be read; held as disabled (the fields at fault).
    Held(String),
}

impl Activation {
    fn word(&self) -> &'static str {
        match self {
            Activation::Enabled { .. } => "enabled",
            Activation::Disabled => "disabled",
            Activation::Held(_) => "held",
        }
    }
}

async fn activations(
    deps: &Deps,
) -> Result<std::collections::HashMap<String, Activation>, CliError> {
    let settings = deps.stores.policies.settings().await?;
    let set = scan::configure(&deps.catalog, &settings);
    let mut out = std::collections::HashMap::new();
    for policy in deps.catalog.policies() {
        let activation = match set.policies.iter().find(|p| p.policy.id == policy.id) {
            Some(p) => Activation::Enabled {
                severity: p.severity,
                accounts: p.accounts.clone(),
            },
            None => {
                let fields: Vec<&str> = set
                    .bad_rows
                    .iter()
                    .filter(|r| r.policy_id == policy.id && r.effect == BadRowEffect::Disabled)
                    .map(|r| r.field.as_str())
                    .collect();
                if fields.is_empty() {
                    Activation::Disabled
                } else {
                    Activation::Held(fields.join(", "))
                }
            }
        };
        out.insert(policy.id.clone(), activation);
    }
    Ok(out)
}

fn controls_of(policy: &qrie::policy::Policy) -> Vec<String> {
    policy
        .controls
        .iter()
        .map(|c| format!("{} {}", c.framework, c.id))
        .collect()
}

fn parse_service(flag: &'static str, text: &str) -> Result<Service, OpsError> {
    text.parse::<Service>().map_err(|e| OpsError::BadArgument {
        flag,
        problem: e.to_string(),
    })
}

async fn list_policies(
    deps: &Deps,
    service: Option<String>,
    format: OutputFormat,
    out: &mut dyn Write,
) -> Result<i32, CliError> {
    let service = service
        .as_deref()
        .map(|s| parse_service("--service", s))
        .transpose()?;
    let activations = activations(deps).await?;
    let mut listed: Vec<&qrie::policy::Policy> = deps
        .catalog
        .policies()
        .iter()
        .filter(|p| service.is_none_or(|s| p.service == s))
        .collect();
    listed.sort_by(|a, b| (a.service, &a.id).cmp(&(b.service, &b.id)));
    match format {
        OutputFormat::Json => {
            let rows: Vec<Value> = listed
                .iter()
                .map(|p| {
                    let a = &activations[&p.id];
                    policy_json(p, a)
                })
                .collect();
            crate::write_json(out, &json!(rows))?;
        }
        OutputFormat::Table => {
            writeln!(
                out,
                "{:<52} {:<11} {:<13} {:<8} CONTROLS",
                "POLICY", "SERVICE", "SEVERITY", "ENABLED"
            )?;
            for p in &listed {
                let a = &activations[&p.id];
                let severity = match a {
                    Activation::Enabled { severity, .. } if *severity != p.severity => {
                        format!("{}*", severity.as_str())
                    }
                    _ => p.severity.as_str().to_owned(),
                };
                writeln!(
                    out,
                    "{:<52} {:<11} {:<13} {:<8} {}",
                    p.id,
                    p.service.as_str(),
                    severity,
                    a.word(),
                    controls_of(p).join(", ")
                )?;
            }
            let enabled = listed
                .iter()
                .filter(|p| matches!(activations[&p.id], Activation::Enabled { .. }))
                .count();
            writeln!(
                out,
                "{} policies, {enabled} enabled (* severity overridden in the policies table)",
                listed.len()
            )?;
        }
    }
    Ok(EXIT_OK)
}

fn policy_json(p: &qrie::policy::Policy, a: &Activation) -> Value {
    let (severity, accounts, held) = match a {
        Activation::Enabled { severity, accounts } => (*severity, accounts.clone(), None),
        Activation::Held(fields) => (p.severity, None, Some(fields.clone())),
        Activation::Disabled => (p.severity, None, None),
    };
    json!({
        "id": p.id,
        "title": p.title,
        "service": p.service.as_str(),
        "resource_type": p.resource_type,
        "severity": severity,
        "catalogue_severity": p.severity,
        "enabled": matches!(a, Activation::Enabled { .. }),
        "state": a.word(),
        "held_by": held,
        "accounts": accounts,
        "controls": controls_of(p),
        "risk": p.risk,
    })
}

async fn show_policy(
    deps: &Deps,
    id: &str,
    format: OutputFormat,
    out: &mut dyn Write,
) -> Result<i32, CliError> {
    let policy = deps
        .catalog
        .get(id)
        .ok_or_else(|| OpsError::UnknownPolicy(id.to_owned()))?;
    let activation = activations(deps)
        .await?
        .remove(id)
        .unwrap_or(Activation::Disabled);
    let controls: Vec<Value> = policy
        .controls
        .iter()
        .map(|c| {
            let title = deps
                .catalog
                .framework(&c.framework)
                .and_then(|f| f.get(&c.id))
                .map(|control| control.title.clone());
            json!({"framework": c.framework, "id": c.id, "title": title})
        })
        .collect();
    if format == OutputFormat::Json {
        let mut row = policy_json(policy, &activation);
        row["description"] = json!(policy.description);
        row["remediation"] = json!(policy.remediation);
        row["controls"] = json!(controls);
        row["references"] = json!(policy
            .references
            .iter()
            .map(|r| format!("{} {}", r.source, r.id))
            .collect::<Vec<_>>());
        crate::write_json(out, &row)?;
        return Ok(EXIT_OK);
    }
    writeln!(out, "{}", policy.id)?;
    writeln!(out, "  {}", policy.title)?;
    writeln!(
        out,
        "service:     {} ({})",
        policy.service.as_str(),
        policy.resource_type
    )?;
    if !policy.risk.is_none() {
        writeln!(
            out,
            "risk:        exposure {}, privilege {}, data {}",
            policy.risk.exposure, policy.risk.privilege, policy.risk.data
        )?;
    }
    match &activation {
        Activation::Enabled { severity, accounts } => {
            writeln!(
                out,
                "severity:    {}{}",
                severity.as_str(),
                if *severity != policy.severity {
                    format!(" (overridden; catalogue {})", policy.severity.as_str())
                } else {
                    String::new()
                }
            )?;
            writeln!(
                out,
                "enabled:     yes{}",
                accounts
                    .as_ref()
                    .map(|a| format!(", only in accounts {}", a.join(", ")))
                    .unwrap_or_default()
            )?;
        }
        Activation::Disabled => {
            writeln!(out, "severity:    {}", policy.severity.as_str())?;
            writeln!(out, "enabled:     no (disabled in the policies table)")?;
        }
        Activation::Held(fields) => {
            writeln!(out, "severity:    {}", policy.severity.as_str())?;
            writeln!(
                out,
                "enabled:     held: its policies-table row cannot be read ({fields})"
            )?;
        }
    }
    writeln!(out, "description: {}", policy.description.trim())?;
    writeln!(out, "remediation: {}", policy.remediation.trim())?;
    writeln!(out, "controls:")?;
    for c in &controls {
        writeln!(
            out,
            "  {} {}{}",
            c["framework"].as_str().unwrap_or_default(),
            c["id"].as_str().unwrap_or_default(),
            c["title"]
                .as_str()
                .map(|t| format!(": {t}"))
                .unwrap_or_default()
        )?;
    }
    if !policy.references.is_empty() {
        let refs: Vec<String> = policy
            .references
            .iter()
            .map(|r| format!("{} {}", r.source, r.id))
            .collect();
        writeln!(out, "references:  {}", refs.join(", "))?;
    }
    Ok(EXIT_OK)
}

/// Writes `Active` for one policy, keeping the rest of its row. Returns whether the policy was
/// already in the asked state.
async fn set_active(deps: &Deps, id: &str, active: bool) -> Result<bool, CliError> {
    if deps.catalog.get(id).is_none() {
        return Err(OpsError::UnknownPolicy(id.to_owned()).into());
    }
    let settings = deps.stores.policies.settings().await?;
    let held = settings
        .bad_rows
        .iter()
        .any(|r| r.policy_id == id && r.effect == BadRowEffect::Disabled);
    let current = settings.settings.get(id).cloned();
    let was = match &current {
        Some(s) => s.active == active && !(active && held),
        None => active,
    };
    let setting = PolicySetting {
        active,
        ..current.unwrap_or(PolicySetting {
            active: true,
            severity_override: None,
            accounts: None,
        })
    };
    deps.stores.policies.put_setting(id, &setting).await?;
    Ok(was)
}

/// `qrie accounts ...`
pub async fn accounts(
    deps: &Deps,
    args: AccountsArgs,
    out: &mut dyn Write,
) -> Result<i32, CliError> {
    match args.command {
        AccountsCommand::List { format } => {
            let accounts = deps.stores.accounts.list().await?;
            if format == OutputFormat::Json {
                let rows: Vec<Value> = accounts
                    .iter()
                    .map(|a| {
                        json!({
                            "account_id": a.account_id,
                            "name": a.name,
                            "enabled": a.enabled,
                            "role_arn": a.role_arn,
                            "external_id": a.external_id.is_some(),
                            "regions": a.regions,
                        })
                    })
                    .collect();
                crate::write_json(out, &json!(rows))?;
                return Ok(EXIT_OK);
            }
            writeln!(
                out,
                "{:<13} {:<8} {:<20} {:<28} ROLE",
                "ACCOUNT", "ENABLED", "NAME", "REGIONS"
            )?;
            for a in &accounts {
                let regions = if a.regions.is_empty() {
                    "all enabled".to_owned()
                } else {
                    a.regions.join(",")
                };
                writeln!(
                    out,
                    "{:<13} {:<8} {:<20} {:<28} {}",
                    a.account_id,
                    if a.enabled { "yes" } else { "no" },
                    a.name.as_deref().unwrap_or("-"),
                    regions,
                    a.role_arn
                )?;
            }
            writeln!(out, "{} account(s)", accounts.len())?;
            Ok(EXIT_OK)
        }
        AccountsCommand::Onboard {
            account_id,
            role_arn,
            external_id,
            regions,
            name,
        } => {
            let account = onboarding(account_id, role_arn, external_id, regions, name)?;
            check_role(deps, &account).await?;
            let existed = deps
                .stores
                .accounts
                .get(&account.account_id)
                .await?
                .is_some();
            deps.stores.accounts.put(&account).await?;
            writeln!(
                out,
                "{} account {}: {} assumed with its ExternalId; regions {}",
                if existed { "updated" } else { "onboarded" },
                account.account_id,
                account.role_arn,
                if account.regions.is_empty() {
                    "every enabled region".to_owned()
                } else {
                    account.regions.join(", ")
                }
            )?;
            Ok(EXIT_OK)
        }
    }
}

/// The account item `onboard` would write, after checking each argument.
fn onboarding(
    account_id: String,
    role_arn: String,
    external_id: String,
    regions: Vec<String>,
    name: Option<String>,
) -> Result<Account, OpsError> {
    let bad = |flag: &'static str, problem: String| OpsError::BadArgument { flag, problem };
    if account_id.len() != 12 || !account_id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad(
            "ACCOUNT_ID",
            format!("{account_id:?} is not a 12-digit AWS account id"),
        ));
    }
    let parts: Vec<&str> = role_arn.splitn(6, ':').collect();
    let role_ok = parts.len() == 6
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == "iam"
        && parts[3].is_empty()
        && parts[5]
            .strip_prefix("role/")
            .is_some_and(|n| !n.is_empty());
    if !role_ok {
        return Err(bad(
            "--role-arn",
            format!("{role_arn:?} is not an IAM role ARN (arn:aws:iam::{account_id}:role/NAME)"),
        ));
    }
    if parts[4] != account_id {
        return Err(bad(
            "--role-arn",
            format!(
                "{role_arn} is a role of account {}, not of {account_id}",
                parts[4]
            ),
        ));
    }
    let external_ok = (2..=1224).contains(&external_id.len())
        && external_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+=,.@:/-".contains(c));
    if !external_ok {
        return Err(bad(
            "--external-id",
            "must be 2 to 1,224 characters of letters, digits and _+=,.@:/-".into(),
        ));
    }
    let mut listed: Vec<String> = Vec::new();
    for region in regions.iter().map(|r| r.trim()).filter(|r| !r.is_empty()) {
        if region.eq_ignore_ascii_case("all") {
            listed.clear();
            break;
        }
        if !is_region_name(region) {
            return Err(bad(
                "--regions",
                format!("{region:?} is not an AWS region name (us-east-1, eu-west-1, ...)"),
            ));
        }
        if !listed.iter().any(|r| r == region) {
            listed.push(region.to_owned());
        }
    }
    Ok(Account {
        account_id,
        role_arn,
        external_id: Some(external_id),
        regions: listed,
        enabled: true,
        name: name.filter(|n| !n.trim().is_empty()),
    })
}

/// Assumes the account's role with its ExternalId and checks the session is in that account.
async fn check_role(deps: &Deps, account: &Account) -> Result<(), OpsError> {
    let assumed = qrie::aws::assume_account_role(
        &deps.sdk,
        &account.role_arn,
        account.external_id.as_deref(),
        ONBOARD_SESSION,
    )
    .await
    .map_err(OpsError::AssumeRefused)?;
    let identity = aws_sdk_sts::Client::new(&assumed)
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| OpsError::Identity(aws_sdk_sts::error::DisplayErrorContext(&e).to_string()))?;
    let actual = identity.account().unwrap_or_default();
    if actual != account.account_id {
        return Err(OpsError::WrongAccount {
            role_arn: account.role_arn.clone(),
            expected: account.account_id.clone(),
            actual: actual.to_owned(),
        });
    }
    Ok(())
}

/// `qrie inventory ...`
pub async fn inventory(
    deps: &Deps,
    args: InventoryArgs,
    out: &mut dyn Write,
) -> Result<i32, CliError> {
    if !args.service.eq_ignore_ascii_case("all") {
        parse_service("--service", &args.service)?;
    }
    let request = InventoryRequest {
        service: args.service,
        account_id: args.account,
    };
    let payload = payload_of(&request);
    run_function(
        deps,
        &args.target,
        (INVENTORY_FUNCTION, INVENTORY_FUNCTION_ENV),
        payload,
        || qrie::handler::inventory_handler(LambdaEvent::new(request, Context::default()), deps),
        out,
    )
    .await
}

/// `qrie scan ...`
pub async fn scan(deps: &Deps, args: ScanArgs, out: &mut dyn Write) -> Result<i32, CliError> {
    if let Some(id) = &args.policy {
        if deps.catalog.get(id).is_none() {
            return Err(OpsError::UnknownPolicy(id.clone()).into());
        }
    }
    if let Some(s) = &args.service {
        parse_service("--service", s)?;
    }
    let request = ScanRequest {
        policy_id: args.policy,
        service: args.service,
        account_id: args.account,
    };
    run_scan(deps, request, &args.target, out).await
}

async fn run_scan(
    deps: &Deps,
    request: ScanRequest,
    target: &Target,
    out: &mut dyn Write,
) -> Result<i32, CliError> {
    let payload = payload_of(&request);
    run_function(
        deps,
        target,
        (SCANNER_FUNCTION, SCANNER_FUNCTION_ENV),
        payload,
        || qrie::handler::scan_handler(LambdaEvent::new(request, Context::default()), deps),
        out,
    )
    .await
}

/// Runs one function, in this process (`--in-process`: `handler`) or by invoking it with
/// `payload` (`(default name, variable)` name it, see [`function_name`]), and reports its summary.
async fn run_function<R, E, F, Fut>(
    deps: &Deps,
    target: &Target,
    (default, variable): (&str, &str),
    payload: Value,
    handler: F,
    out: &mut dyn Write,
) -> Result<i32, CliError>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<R, E>>,
    R: serde::Serialize,
    E: std::fmt::Display,
{
    let (function, summary) = if target.in_process {
        let function = default.to_owned();
        let _ticker = crate::progress::Ticker::start(format!("{function} (in process)"));
        let summary = Box::pin(handler()).await.map_err(|e| OpsError::Handler {
            function: function.clone(),
            message: e.to_string(),
        })?;
        (function, to_json(&summary))
    } else {
        let function = function_name(target, variable, default);
        let summary = invoke(deps, &function, &payload).await?;
        (function, summary)
    };
    report(&function, &summary, target, out)
}

/// `--function`, else the variable, else the deployed name.
fn function_name(target: &Target, variable: &str, default: &str) -> String {
    target
        .function
        .clone()
        .or_else(|| std::env::var(variable).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| default.to_owned())
}

fn to_json<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// A request as people write it for `aws lambda invoke`: the fields left unset are left out.
fn payload_of<T: serde::Serialize>(request: &T) -> Value {
    match to_json(request) {
        Value::Object(map) => {
            Value::Object(map.into_iter().filter(|(_, v)| !v.is_null()).collect())
        }
        other => other,
    }
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

/// Invokes `function` synchronously (RequestResponse) with `payload`, and reads its answer.
pub async fn invoke(deps: &Deps, function: &str, payload: &Value) -> Result<Value, OpsError> {
    let _ticker = crate::progress::Ticker::start(format!("{function}: running"));
    let answer = aws_sdk_lambda::Client::new(&deps.sdk)
        .invoke()
        .function_name(function)
        .payload(Blob::new(payload.to_string().into_bytes()))
        .send()
        .await
        .map_err(|e| OpsError::Invoke {
            function: function.to_owned(),
            message: aws_sdk_lambda::error::DisplayErrorContext(&e).to_string(),
        })?;
    read_answer(
        function,
        answer.status_code(),
        answer.function_error(),
        answer.payload().map(|b| b.as_ref()).unwrap_or_default(),
    )
}

/// What an invocation answered: the summary, or the function's error as Lambda reports it
/// (`FunctionError` set, the payload `{"errorType", "errorMessage"}`), or a bad status.
pub fn read_answer(
    function: &str,
    status: i32,
    function_error: Option<&str>,
    payload: &[u8],
) -> Result<Value, OpsError> {
    let parsed: Option<Value> = serde_json::from_slice(payload).ok();
    let head = || String::from_utf8_lossy(&payload[..payload.len().min(300)]).into_owned();
    if let Some(kind) = function_error {
        let text = |key: &str| {
            parsed
                .as_ref()
                .and_then(|v| v.get(key))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        return Err(OpsError::FunctionError {
            function: function.to_owned(),
            kind: kind.to_owned(),
            error_type: text("errorType").unwrap_or_else(|| "unknown".into()),
            message: text("errorMessage").unwrap_or_else(head),
        });
    }
    if status != 200 {
        return Err(OpsError::Status {
            function: function.to_owned(),
            status,
            body: (!payload.is_empty()).then(head),
        });
    }
    parsed.ok_or_else(|| OpsError::NotJson {
        function: function.to_owned(),
        head: head(),
    })
}

/// Prints a run's summary: the whole JSON, or a few lines of counts.
fn report(
    function: &str,
    summary: &Value,
    target: &Target,
    out: &mut dyn Write,
) -> Result<i32, CliError> {
    let errors: Vec<&str> = summary["errors"]
        .as_array()
        .map(|e| e.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    match target.format {
        OutputFormat::Json => crate::write_json(out, summary)?,
        OutputFormat::Table => {
            let n = |key: &str| summary[key].as_u64().unwrap_or(0);
            if summary.get("evaluated").is_some() {
                writeln!(
                    out,
                    "{function}: {} evaluations, {} new ({} re-opened), {} still active, {} resolved, {} not evaluated, {} error(s)",
                    n("evaluated"),
                    n("new"),
                    n("reopened"),
                    n("still_active"),
                    n("resolved"),
                    n("not_evaluated"),
                    errors.len()
                )?;
                for line in summary["compliance"].as_array().into_iter().flatten() {
                    writeln!(
                        out,
                        "  compliance {} {}: {}",
                        line["account_id"].as_str().unwrap_or_default(),
                        line["framework"].as_str().unwrap_or_default(),
                        line["score"]
                            .as_f64()
                            .map(|s| format!("{:.1}%", s * 100.0))
                            .unwrap_or_else(|| "no control decided".into())
                    )?;
                }
            } else if summary.get("resources").is_some() {
                writeln!(
                    out,
                    "{function}: {} resources in {} account(s), {} removed, {} error(s)",
                    n("resources"),
                    summary["accounts"].as_array().map_or(0, Vec::len),
                    n("removed"),
                    errors.len()
                )?;
            } else {
                writeln!(out, "{function}: {}", pretty(summary))?;
            }
            for e in &errors {
                writeln!(out, "  error: {e}")?;
            }
        }
    }
    if target.fail_on_errors && !errors.is_empty() {
        return Err(OpsError::SummaryErrors(errors.len()).into());
    }
    Ok(EXIT_OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_a_function_error_when_read_then_its_type_and_message_are_named() {
        let payload = br#"{"errorType":"NothingToScan","errorMessage":"no active policy covers service kms"}"#;
        let err = read_answer("qrie_policy_scanner", 200, Some("Unhandled"), payload).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("qrie_policy_scanner failed (Unhandled)"),
            "{text}"
        );
        assert!(
            text.contains("NothingToScan: no active policy covers service kms"),
            "{text}"
        );
    }

    #[test]
    fn given_a_bad_status_or_a_non_json_answer_when_read_then_each_is_an_error() {
        let err = read_answer("f", 500, None, b"boom").unwrap_err();
        assert_eq!(err.to_string(), "f answered status 500: boom");
        let err = read_answer("f", 200, None, b"Simple Lambda happy path OK").unwrap_err();
        assert!(err.to_string().contains("not JSON"), "{err}");
        let ok = read_answer("f", 200, None, br#"{"resources": 3}"#).unwrap();
        assert_eq!(ok["resources"], 3);
    }

    #[test]
    fn given_a_request_when_sent_then_unset_fields_are_left_out() {
        let request = ScanRequest {
            policy_id: Some("P".into()),
            ..ScanRequest::default()
        };
        assert_eq!(payload_of(&request), json!({"policy_id": "P"}));
        let request = InventoryRequest {
            service: "all".into(),
            account_id: None,
        };
        assert_eq!(payload_of(&request), json!({"service": "all"}));
    }

    #[test]
    fn given_onboarding_arguments_when_checked_then_each_mistake_is_named() {
        let go = |account: &str, role: &str, ext: &str, regions: &[&str]| {
            onboarding(
                account.into(),
                role.into(),
                ext.into(),
                regions.iter().map(|r| (*r).to_owned()).collect(),
                None,
            )
        };
        let role = "arn:aws:iam::111122223333:role/QrieScannerRole";
        let ok = go(
            "111122223333",
            role,
            "ext-1",
            &["us-east-1", "eu-west-1", "us-east-1"],
        )
        .unwrap();
        assert_eq!(ok.regions, ["us-east-1", "eu-west-1"]);
        assert!(ok.enabled);
        assert!(go("111122223333", role, "ext-1", &["all"])
            .unwrap()
            .regions
            .is_empty());
        let err = |r: Result<Account, OpsError>| r.unwrap_err().to_string();
        assert!(err(go("1111", role, "ext-1", &[])).contains("12-digit"));
        assert!(err(go(
            "111122223333",
            "arn:aws:iam::111122223333:user/x",
            "ext-1",
            &[]
        ))
        .contains("not an IAM role ARN"));
        assert!(
            err(go("999922223333", role, "ext-1", &[])).contains("a role of account 111122223333")
        );
        assert!(err(go("111122223333", role, "x", &[])).starts_with("--external-id"));
        assert!(err(go("111122223333", role, "ext-1", &["mars-1"])).contains("\"mars-1\""));
    }
}
