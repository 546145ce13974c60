//! `qrie report --html FILE` and `qrie compliance --trend`: the posture for people who would
//! rather look than read, and the stored daily summaries over time.
//!
//! Both read the live tables only. The report is one self-contained HTML file (inline CSS and
//! inline SVG, no script, no font, no image, nothing fetched; a Content-Security-Policy that
//! forbids any fetch or script says so to the browser too) with, for the chosen accounts and
//! frameworks: the score per framework, the counting findings by severity and by service, the
//! top failing policies, the failing controls with their failing resources, each failing
//! resource with its risk score (highest first), evidence and tags, and the trend of the stored
//! daily summaries.
//!
//! Everything that comes from an account (ARNs, tags, evidence) or from a table is
//! attacker-controlled text: it goes into the page only through [`escape`]. Each number the page
//! shows is the whole text of an element that carries a stable `data-qrie="..."` key, so that a
//! test (or a script of the operator's) reads the numbers back from the rendered page:
//!
//! | key | text |
//! |---|---|
//! | `score:<account>:<framework>` | the live score, `21.6%`, or `n/a` when no control is decided |
//! | `score:<account>:<framework>:<SEVERITY>` | the score of the controls of that severity |
//! | `passed:`, `failed:`, `no-resources:`, `manual:`, `not-evaluated:` + `<account>:<framework>` | control counts |
//! | `findings-total`, `findings-suppressed` | counting findings, and the active ones left out as suppressed |
//! | `findings-severity:<SEVERITY>`, `findings-service:<service>` | counting findings by severity and service |
//! | `policy:<policy id>` | failing resources of one of the top failing policies |
//! | `control:<account>:<framework>:<control>` | failing (resource, policy) pairs of a failed control |
//! | `risk:<policy id>:<arn>` | a failing resource's risk score, `8.5` (the failing resources are listed highest first) |
//! | `trend-score:`, `trend-passed:`, `trend-failed:`, `trend-evaluated:` + `<account>:<framework>:<day>` | a stored summary |
//!
//! Counting findings are those `qrie findings` lists by default: ACTIVE and not suppressed, of
//! the chosen accounts, and with `--framework`, of policies mapped to that framework.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::io::Write;
use std::path::PathBuf;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use qrie::compliance::{self, Assessment, ControlStatus, Summary};
use qrie::handler::Deps;
use qrie::model::{partition_key, Finding, FindingState, Severity};
use qrie::{registry, scan};
use serde_json::Value;

use super::{
    all_findings, risk_of, service_of, sort_findings, unknown_framework, CliError, Format, SortBy,
    EXIT_OK,
};

/// Days of trend when `--days` is not given.
pub(crate) const DEFAULT_TREND_DAYS: u32 = 30;
/// The most failing resources listed under one failed control (the rest are counted).
const MAX_RESOURCES_PER_CONTROL: usize = 25;
/// How many of the most failing policies the report lists.
const TOP_POLICIES: usize = 10;
/// Evidence longer than this (pretty-printed JSON, in characters) is cut, with a marker.
const MAX_EVIDENCE_CHARS: usize = 1_500;

const SEVERITIES: [Severity; 5] = [
    Severity::Critical,
    Severity::High,
    Severity::Medium,
    Severity::Low,
    Severity::Informational,
];

/// `qrie report`.
#[derive(Debug, clap::Args)]
pub(crate) struct ReportArgs {
    /// Write the report, one self-contained HTML file, here.
    #[arg(long, value_name = "FILE")]
    html: PathBuf,
    /// One account (default: every enabled onboarded account).
    #[arg(long)]
    account: Option<String>,
    /// One framework: cis-aws-v5.0, fsbp, nist-800-53-r5 or pci-dss-4.0 (default: all).
    #[arg(long)]
    framework: Option<String>,
    /// Days of trend, today included.
    #[arg(long, default_value_t = DEFAULT_TREND_DAYS,
          value_parser = clap::value_parser!(u32).range(1..=3660))]
    days: u32,
}

/// The accounts a command reports on: the one named (it must be onboarded), or every enabled one.
async fn accounts(deps: &Deps, account: Option<&str>) -> Result<Vec<String>, CliError> {
    match account {
        Some(id) => match deps.stores.accounts.get(id).await? {
            Some(a) => Ok(vec![a.account_id]),
            None => Err(CliError::Invalid(format!(
                "account {id} is not onboarded (not in the accounts table)"
            ))),
        },
        None => Ok(deps
            .stores
            .accounts
            .list()
            .await?
            .into_iter()
            .filter(|a| a.enabled)
            .map(|a| a.account_id)
            .collect()),
    }
}

/// The frameworks a command reports on: the one named (it must be known), or every one qrie
/// reports on.
fn frameworks(deps: &Deps, framework: Option<&str>) -> Result<Vec<String>, CliError> {
    match framework {
        Some(name) if deps.catalog.framework(name).is_some() => Ok(vec![name.to_owned()]),
        Some(name) => Err(CliError::Invalid(unknown_framework(deps, name))),
        None => Ok(compliance::FRAMEWORKS
            .iter()
            .map(|(stem, _)| *stem)
            .filter(|stem| deps.catalog.framework(stem).is_some())
            .map(str::to_owned)
            .collect()),
    }
}

/// The first day of a trend of `days` days that ends today.
fn trend_start(today: NaiveDate, days: u32) -> NaiveDate {
    today - Duration::days(i64::from(days.max(1)) - 1)
}

/// One stored daily summary, as the trend shows it.
#[derive(Debug, Clone, PartialEq)]
struct TrendRow {
    account_id: String,
    framework: String,
    day: NaiveDate,
    /// passed / evaluated, 0 to 1; none when no control was decided that day.
    score: Option<f64>,
    passed: usize,
    failed: usize,
    /// Decided controls: passed + failed.
    evaluated: usize,
    no_resources: usize,
    manual: usize,
    not_evaluated: usize,
    assessed_at: DateTime<Utc>,
}

impl TrendRow {
    fn to_json(&self) -> Value {
        serde_json::json!({
            "account_id": self.account_id,
            "framework": self.framework,
            "day": self.day,
            "score": self.score,
            "passed": self.passed,
            "failed": self.failed,
            "evaluated": self.evaluated,
            "no_resources": self.no_resources,
            "manual": self.manual,
            "not_evaluated": self.not_evaluated,
            "assessed_at": self.assessed_at,
        })
    }
}

impl From<&Summary> for TrendRow {
    fn from(s: &Summary) -> Self {
        TrendRow {
            account_id: s.account_id.clone(),
            framework: s.framework.clone(),
            day: s.day,
            score: s.score,
            passed: s.passed,
            failed: s.failed,
            evaluated: s.passed + s.failed,
            no_resources: s.no_resources,
            manual: s.manual,
            not_evaluated: s.not_evaluated,
            assessed_at: s.assessed_at,
        }
    }
}

/// The stored summaries of each (account, framework), oldest first, from `since` on.
async fn trend_rows(
    deps: &Deps,
    accounts: &[String],
    frameworks: &[String],
    since: NaiveDate,
) -> Result<Vec<(String, String, Vec<TrendRow>)>, CliError> {
    let mut all = Vec::new();
    for account in accounts {
        for framework in frameworks {
            let rows = deps
                .stores
                .compliance
                .history(account, framework, since)
                .await?
                .iter()
                .map(TrendRow::from)
                .collect();
            all.push((account.clone(), framework.clone(), rows));
        }
    }
    Ok(all)
}

fn percent(score: Option<f64>) -> String {
    score.map_or_else(|| "n/a".to_owned(), |s| format!("{:.1}%", s * 100.0))
}

/// `qrie compliance --trend`: one row per stored day of each account and framework.
pub(crate) async fn trend(
    deps: &Deps,
    framework: Option<&str>,
    account: Option<&str>,
    days: u32,
    format: Format,
    out: &mut dyn Write,
) -> Result<i32, CliError> {
    let frameworks = frameworks(deps, framework)?;
    let accounts = accounts(deps, account).await?;
    let since = trend_start(Utc::now().date_naive(), days);
    let series = trend_rows(deps, &accounts, &frameworks, since).await?;
    if format == Format::Json {
        let rows: Vec<Value> = series
            .iter()
            .flat_map(|(_, _, rows)| rows)
            .map(TrendRow::to_json)
            .collect();
        crate::write_json(out, &rows)?;
    } else if format == Format::Csv {
        writeln!(
            out,
            "account_id,framework,day,score,passed,failed,evaluated,no_resources,manual,not_evaluated"
        )?;
        for row in series.iter().flat_map(|(_, _, rows)| rows) {
            writeln!(
                out,
                "{},{},{},{},{},{},{},{},{},{}",
                row.account_id,
                row.framework,
                row.day,
                row.score.map(|s| format!("{s:.4}")).unwrap_or_default(),
                row.passed,
                row.failed,
                row.evaluated,
                row.no_resources,
                row.manual,
                row.not_evaluated
            )?;
        }
    } else if format == Format::Table {
        for (account, framework, rows) in &series {
            writeln!(
                out,
                "{} · account {account} · since {since}",
                compliance::display_name(framework)
            )?;
            if rows.is_empty() {
                writeln!(
                    out,
                    "  no stored summary (the policy scanner stores one after each full scan)"
                )?;
                continue;
            }
            writeln!(
                out,
                "  {:<10}  {:>6}  {:>6}  {:>6}  {:>9}",
                "DAY", "SCORE", "PASSED", "FAILED", "EVALUATED"
            )?;
            for row in rows {
                writeln!(
                    out,
                    "  {:<10}  {:>6}  {:>6}  {:>6}  {:>9}",
                    row.day.to_string(),
                    percent(row.score),
                    row.passed,
                    row.failed,
                    row.evaluated
                )?;
            }
        }
    } else {
        return Err(CliError::Invalid(
            "--trend prints --format table, json or csv".into(),
        ));
    }
    Ok(EXIT_OK)
}

/// What the report shows, read from the live tables.
struct ReportData {
    generated_at: DateTime<Utc>,
    /// (account id, its name in the accounts table).
    accounts: Vec<(String, Option<String>)>,
    frameworks: Vec<String>,
    /// One per account and framework, account by account.
    assessments: Vec<Assessment>,
    /// The counting findings (see the module's documentation), most severe first.
    findings: Vec<Finding>,
    /// ACTIVE findings of the chosen accounts and frameworks left out as suppressed.
    suppressed: usize,
    /// The `Tags` of the stored resources that have them, by ARN.
    tags: HashMap<String, Value>,
    /// The title of each policy that has a counting finding, by id.
    titles: HashMap<String, String>,
    since: NaiveDate,
    trend: Vec<(String, String, Vec<TrendRow>)>,
}

/// `qrie report --html FILE`.
pub(crate) async fn html(
    deps: &Deps,
    args: &ReportArgs,
    out: &mut dyn Write,
) -> Result<i32, CliError> {
    let frameworks = frameworks(deps, args.framework.as_deref())?;
    let accounts = accounts(deps, args.account.as_deref()).await?;
    if accounts.is_empty() {
        return Err(CliError::Invalid(
            "no enabled account in the accounts table: nothing to report on".into(),
        ));
    }
    let now = Utc::now();
    let narrowed = args.framework.is_some();
    let data = read(deps, accounts, frameworks, narrowed, args.days, now).await?;
    let page = render(&data);
    std::fs::write(&args.html, page.as_bytes()).map_err(|source| CliError::WriteReport {
        path: args.html.clone(),
        source,
    })?;
    writeln!(
        out,
        "wrote {} ({} account(s), {} framework(s), {} finding(s))",
        args.html.display(),
        data.accounts.len(),
        data.frameworks.len(),
        data.findings.len()
    )?;
    Ok(EXIT_OK)
}

/// Reads what the report shows; `narrowed` (a `--framework` was given) counts only the findings
/// of policies mapped to the frameworks.
async fn read(
    deps: &Deps,
    account_ids: Vec<String>,
    frameworks: Vec<String>,
    narrowed: bool,
    days: u32,
    now: DateTime<Utc>,
) -> Result<ReportData, CliError> {
    let settings = deps.stores.policies.settings().await?;
    let policies = scan::configure(&deps.catalog, &settings).policies;
    let mapped = |policy_id: &str| -> bool {
        deps.catalog.get(policy_id).is_some_and(|p| {
            p.controls
                .iter()
                .any(|c| frameworks.iter().any(|f| f == &c.framework))
        })
    };
    let active: Vec<Finding> = all_findings(deps)
        .await?
        .into_iter()
        .filter(|f| f.state == FindingState::Active && account_ids.contains(&f.account_id))
        .collect();
    let (mut counted, suppressed): (Vec<Finding>, Vec<Finding>) =
        active.into_iter().partition(|f| !f.is_suppressed_at(now));
    let mut accounts = Vec::with_capacity(account_ids.len());
    let mut assessments = Vec::new();
    let mut tags = HashMap::new();
    for account_id in &account_ids {
        let name = deps
            .stores
            .accounts
            .get(account_id)
            .await?
            .and_then(|a| a.name);
        accounts.push((account_id.clone(), name));
        let mut types: HashMap<String, usize> = HashMap::new();
        for entry in registry::SERVICES {
            let partition = partition_key(account_id, entry.service);
            let mut cursor = None;
            loop {
                let page = deps.stores.resources.page(&partition, cursor).await?;
                for r in page.items {
                    *types.entry(r.resource_type).or_default() += 1;
                    if let Some(t) = r.configuration.get("Tags").filter(|t| !t.is_null()) {
                        tags.insert(r.arn, t.clone());
                    }
                }
                match page.next {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
        }
        for framework in &frameworks {
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
    }
    if narrowed {
        counted.retain(|f| mapped(&f.policy_id));
    }
    // The score the page shows: as stored, or from the policy for a finding stored before
    // scores; the highest first, as `qrie findings` lists them.
    for f in &mut counted {
        f.risk_score = Some(risk_of(deps, f));
    }
    sort_findings(deps, &mut counted, SortBy::Risk);
    let suppressed = suppressed
        .iter()
        .filter(|f| !narrowed || mapped(&f.policy_id))
        .count();
    let titles = counted
        .iter()
        .filter_map(|f| deps.catalog.get(&f.policy_id))
        .map(|p| (p.id.clone(), p.title.clone()))
        .collect();
    let since = trend_start(now.date_naive(), days);
    let trend = trend_rows(deps, &account_ids, &frameworks, since).await?;
    Ok(ReportData {
        generated_at: now,
        accounts,
        frameworks,
        assessments,
        findings: counted,
        suppressed,
        tags,
        titles,
        since,
        trend,
    })
}

/// Text made safe for HTML element content and quoted attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// An element whose whole text is a number the page reports, under a stable key.
fn num(tag: &str, class: &str, key: &str, text: &str) -> String {
    format!(
        "<{tag} class=\"{class}\" data-qrie=\"{}\">{}</{tag}>",
        escape(key),
        escape(text)
    )
}

/// A bar of `value` out of `max`, as wide as its share.
fn bar(value: usize, max: usize, class: &str) -> String {
    let width = if max == 0 {
        0.0
    } else {
        value as f64 * 100.0 / max as f64
    };
    format!("<span class=\"bar {class}\" style=\"width:{width:.1}%\"></span>")
}

fn severity_class(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "sev-critical",
        Severity::High => "sev-high",
        Severity::Medium => "sev-medium",
        Severity::Low => "sev-low",
        Severity::Informational => "sev-info",
    }
}

fn severity_badge(severity: Severity) -> String {
    format!(
        "<span class=\"badge {}\">{}</span>",
        severity_class(severity),
        severity.as_str()
    )
}

/// Evidence as pretty JSON, cut at [`MAX_EVIDENCE_CHARS`] with a marker, escaped.
fn evidence_block(evidence: &Value) -> String {
    let text = serde_json::to_string_pretty(evidence).unwrap_or_default();
    let shown = if text.chars().count() > MAX_EVIDENCE_CHARS {
        let head: String = text.chars().take(MAX_EVIDENCE_CHARS).collect();
        format!(
            "{head}\n… (cut: {} characters in all; `qrie finding` shows it whole)",
            text.chars().count()
        )
    } else {
        text
    };
    format!("<pre class=\"evidence\">{}</pre>", escape(&shown))
}

/// A resource's tags, as stored (a map, or a list of Key/Value pairs), escaped.
fn tags_line(tags: &Value) -> String {
    let pairs: Vec<(String, String)> = match tags {
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    v.as_str().map_or_else(|| v.to_string(), str::to_owned),
                )
            })
            .collect(),
        Value::Array(items) => items
            .iter()
            .map(|i| {
                let field = |name: &str| {
                    i.get(name)
                        .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                        .unwrap_or_default()
                };
                (field("Key"), field("Value"))
            })
            .collect(),
        other => vec![(String::new(), other.to_string())],
    };
    if pairs.is_empty() {
        return String::new();
    }
    let cells: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("<span class=\"tag\">{}={}</span>", escape(k), escape(v)))
        .collect();
    format!("<div class=\"tags\">tags: {}</div>", cells.join(" "))
}

/// An inline SVG line chart of one trend's scores over the days from `since` to `until`.
fn trend_chart(rows: &[TrendRow], since: NaiveDate, until: NaiveDate) -> String {
    const W: f64 = 640.0;
    const H: f64 = 180.0;
    const LEFT: f64 = 44.0;
    const RIGHT: f64 = 12.0;
    const TOP: f64 = 10.0;
    const BOTTOM: f64 = 26.0;
    let span = (until - since).num_days().max(1) as f64;
    let x = |day: NaiveDate| LEFT + (day - since).num_days() as f64 / span * (W - LEFT - RIGHT);
    let y = |score: f64| TOP + (1.0 - score.clamp(0.0, 1.0)) * (H - TOP - BOTTOM);
    let mut svg = format!(
        "<svg class=\"chart\" viewBox=\"0 0 {W} {H}\" width=\"{W}\" height=\"{H}\" role=\"img\">"
    );
    for (level, label) in [(0.0, "0%"), (0.5, "50%"), (1.0, "100%")] {
        let _ = write!(
            svg,
            "<line class=\"grid\" x1=\"{LEFT}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\"/>\
             <text class=\"axis\" x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{label}</text>",
            W - RIGHT,
            LEFT - 6.0,
            y(level) + 4.0,
            y = y(level)
        );
    }
    for (day, anchor) in [(since, "start"), (until, "end")] {
        let _ = write!(
            svg,
            "<text class=\"axis\" x=\"{:.1}\" y=\"{}\" text-anchor=\"{anchor}\">{day}</text>",
            x(day),
            H - 6.0
        );
    }
    let points: Vec<(f64, f64, &TrendRow)> = rows
        .iter()
        .filter_map(|r| r.score.map(|s| (x(r.day), y(s), r)))
        .collect();
    if points.len() > 1 {
        let line: Vec<String> = points
            .iter()
            .map(|(px, py, _)| format!("{px:.1},{py:.1}"))
            .collect();
        let _ = write!(
            svg,
            "<polyline class=\"line\" points=\"{}\"/>",
            line.join(" ")
        );
    }
    for (px, py, row) in &points {
        let _ = write!(
            svg,
            "<circle class=\"dot\" cx=\"{px:.1}\" cy=\"{py:.1}\" r=\"3.5\"><title>{}: {} ({} of {})</title></circle>",
            row.day,
            percent(row.score),
            row.passed,
            row.evaluated
        );
    }
    svg.push_str("</svg>");
    svg
}

const STYLE: &str = "
:root { --fg: #1d2330; --muted: #5c6577; --line: #d9dde5; --bg: #f6f7f9; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif; color: var(--fg);
       background: var(--bg); margin: 0; padding: 24px 32px; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 32px 0 8px; border-bottom: 2px solid var(--line); padding-bottom: 4px; }
h3 { font-size: 15px; margin: 20px 0 6px; }
.meta { color: var(--muted); margin: 0 0 16px; }
table { border-collapse: collapse; background: #fff; margin: 6px 0 12px; }
th, td { border: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #eef0f4; font-weight: 600; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
.score { font-size: 18px; font-weight: 700; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 10px 14px; min-width: 220px; }
.card .score { font-size: 28px; }
.barcell { width: 240px; }
.bar { display: inline-block; height: 12px; background: #6b7a99; border-radius: 2px; vertical-align: middle; }
.bar.pass { background: #2e8b57; }
.badge { display: inline-block; padding: 0 6px; border-radius: 3px; font-size: 12px; font-weight: 600; color: #fff; }
.sev-critical { background: #8b1a1a; } .sev-high { background: #d0452f; } .sev-medium { background: #d98c1f; }
.sev-low { background: #4a78b5; } .sev-info { background: #7b8494; }
.bar.sev-critical, .bar.sev-high, .bar.sev-medium, .bar.sev-low, .bar.sev-info { color: transparent; }
pre.evidence { background: #fbfbfc; border: 1px solid var(--line); padding: 6px 8px; margin: 4px 0;
               max-height: 240px; overflow: auto; white-space: pre-wrap; word-break: break-all; font-size: 12px; }
.arn { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12px; word-break: break-all; }
.tags { color: var(--muted); font-size: 12px; }
.tag { font-family: ui-monospace, monospace; background: #eef0f4; padding: 0 4px; border-radius: 3px; }
.chart { background: #fff; border: 1px solid var(--line); }
.chart .grid { stroke: #e3e6ec; stroke-width: 1; }
.chart .axis { fill: var(--muted); font-size: 11px; }
.chart .line { fill: none; stroke: #2e6bd6; stroke-width: 2; }
.chart .dot { fill: #2e6bd6; }
.empty { color: var(--muted); font-style: italic; }
ul.resources { margin: 0; padding-left: 18px; }
";

/// The whole page. Every text from the tables passes through [`escape`].
fn render(data: &ReportData) -> String {
    let mut h = String::with_capacity(64 * 1024);
    h.push_str(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>qrie posture report</title><style>",
    );
    h.push_str(STYLE);
    h.push_str("</style></head><body>\n<h1>qrie posture report</h1>\n");
    let accounts: Vec<String> = data
        .accounts
        .iter()
        .map(|(id, name)| match name {
            Some(name) => format!("{} ({})", escape(id), escape(name)),
            None => escape(id),
        })
        .collect();
    let frameworks: Vec<&str> = data
        .frameworks
        .iter()
        .map(|f| compliance::display_name(f))
        .collect();
    let _ = writeln!(
        h,
        "<p class=\"meta\">Generated {} from the live tables · account(s): {} · framework(s): {}</p>",
        escape(&data.generated_at.format("%Y-%m-%d %H:%M:%S UTC").to_string()),
        accounts.join(", "),
        escape(&frameworks.join(", "))
    );
    render_scores(&mut h, data);
    render_findings(&mut h, data);
    render_top_policies(&mut h, data);
    render_failing_controls(&mut h, data);
    render_failing_resources(&mut h, data);
    render_trend(&mut h, data);
    h.push_str("</body></html>\n");
    h
}

fn render_scores(h: &mut String, data: &ReportData) {
    h.push_str("<h2 id=\"scores\">Score per framework</h2>\n<div class=\"cards\">\n");
    for a in &data.assessments {
        let _ = writeln!(
            h,
            "<div class=\"card\"><div>{}</div><div class=\"meta\">account {}</div>\
             <div class=\"score\">{}</div><div>{} passed, {} failed of {} decided</div></div>",
            escape(compliance::display_name(&a.framework)),
            escape(&a.account_id),
            escape(&percent(a.score())),
            a.overall.passed,
            a.overall.failed,
            a.overall.passed + a.overall.failed
        );
    }
    h.push_str(
        "</div>\n<table><tr><th>Framework</th><th>Account</th><th>Score</th><th>Passed</th>\
                <th>Failed</th><th>No resources</th><th>Manual</th><th>Not evaluated</th>",
    );
    for s in SEVERITIES {
        let _ = write!(h, "<th>{}</th>", s.as_str());
    }
    h.push_str("</tr>\n");
    for a in &data.assessments {
        let k = format!("{}:{}", a.account_id, a.framework);
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td>{}{}{}{}{}{}",
            escape(compliance::display_name(&a.framework)),
            escape(&a.account_id),
            num("td", "n", &format!("score:{k}"), &percent(a.score())),
            num(
                "td",
                "n",
                &format!("passed:{k}"),
                &a.overall.passed.to_string()
            ),
            num(
                "td",
                "n",
                &format!("failed:{k}"),
                &a.overall.failed.to_string()
            ),
            num(
                "td",
                "n",
                &format!("no-resources:{k}"),
                &a.count(ControlStatus::NoResources).to_string()
            ),
            num(
                "td",
                "n",
                &format!("manual:{k}"),
                &a.count(ControlStatus::Manual).to_string()
            ),
            num(
                "td",
                "n",
                &format!("not-evaluated:{k}"),
                &a.count(ControlStatus::NotEvaluated).to_string()
            ),
        );
        for s in SEVERITIES {
            match a.by_severity.get(&s) {
                Some(c) => {
                    let _ = write!(
                        h,
                        "<td class=\"n\">{} <span class=\"meta\">({}/{})</span></td>",
                        num(
                            "span",
                            "",
                            &format!("score:{k}:{}", s.as_str()),
                            &percent(c.score())
                        ),
                        c.passed,
                        c.passed + c.failed
                    );
                }
                None => h.push_str("<td class=\"n empty\">–</td>"),
            }
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</table>\n");
}

fn render_findings(h: &mut String, data: &ReportData) {
    h.push_str("<h2 id=\"findings\">Findings</h2>\n");
    let _ = writeln!(
        h,
        "<p>{} active finding(s) count; {} suppressed one(s) are left out.</p>",
        num(
            "strong",
            "",
            "findings-total",
            &data.findings.len().to_string()
        ),
        num(
            "strong",
            "",
            "findings-suppressed",
            &data.suppressed.to_string()
        )
    );
    let mut by_severity: BTreeMap<Severity, usize> = BTreeMap::new();
    let mut by_service: BTreeMap<String, usize> = BTreeMap::new();
    for f in &data.findings {
        *by_severity.entry(f.severity).or_default() += 1;
        *by_service.entry(service_of(f).to_owned()).or_default() += 1;
    }
    let max = data.findings.len();
    h.push_str("<h3>By severity</h3>\n<table><tr><th>Severity</th><th>Findings</th><th class=\"barcell\"></th></tr>\n");
    for s in SEVERITIES {
        let n = by_severity.get(&s).copied().unwrap_or(0);
        let _ = writeln!(
            h,
            "<tr><td>{}</td>{}<td class=\"barcell\">{}</td></tr>",
            severity_badge(s),
            num(
                "td",
                "n",
                &format!("findings-severity:{}", s.as_str()),
                &n.to_string()
            ),
            bar(n, max, severity_class(s))
        );
    }
    h.push_str("</table>\n<h3>By service</h3>\n");
    if by_service.is_empty() {
        h.push_str("<p class=\"empty\">No finding counts.</p>\n");
        return;
    }
    h.push_str("<table><tr><th>Service</th><th>Findings</th><th class=\"barcell\"></th></tr>\n");
    let mut services: Vec<(&String, &usize)> = by_service.iter().collect();
    services.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    for (service, n) in services {
        let _ = writeln!(
            h,
            "<tr><td>{}</td>{}<td class=\"barcell\">{}</td></tr>",
            escape(service),
            num(
                "td",
                "n",
                &format!("findings-service:{service}"),
                &n.to_string()
            ),
            bar(*n, max, "")
        );
    }
    h.push_str("</table>\n");
}

fn render_top_policies(h: &mut String, data: &ReportData) {
    h.push_str("<h2 id=\"policies\">Top failing policies</h2>\n");
    let mut by_policy: BTreeMap<&str, (usize, Severity)> = BTreeMap::new();
    for f in &data.findings {
        let e = by_policy
            .entry(f.policy_id.as_str())
            .or_insert((0, f.severity));
        e.0 += 1;
        e.1 = e.1.min(f.severity);
    }
    if by_policy.is_empty() {
        h.push_str("<p class=\"empty\">No policy fails.</p>\n");
        return;
    }
    let mut ranked: Vec<(&str, usize, Severity)> =
        by_policy.into_iter().map(|(p, (n, s))| (p, n, s)).collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.2.cmp(&b.2)).then(a.0.cmp(b.0)));
    let max = ranked.first().map_or(0, |r| r.1);
    h.push_str("<table><tr><th>Policy</th><th>Title</th><th>Severity</th><th>Failing resources</th><th class=\"barcell\"></th></tr>\n");
    for (policy_id, n, severity) in ranked.into_iter().take(TOP_POLICIES) {
        // The policies are the catalogue's, but the id comes from a table row: escape it too.
        let title = data.titles.get(policy_id).map_or(policy_id, String::as_str);
        let _ = writeln!(
            h,
            "<tr><td class=\"arn\">{}</td><td>{}</td><td>{}</td>{}<td class=\"barcell\">{}</td></tr>",
            escape(policy_id),
            escape(title),
            severity_badge(severity),
            num("td", "n", &format!("policy:{policy_id}"), &n.to_string()),
            bar(n, max, severity_class(severity))
        );
    }
    h.push_str("</table>\n");
}

fn render_failing_controls(h: &mut String, data: &ReportData) {
    h.push_str("<h2 id=\"controls\">Failing controls</h2>\n");
    let anchors: HashMap<(&str, &str), usize> = data
        .findings
        .iter()
        .enumerate()
        .map(|(i, f)| ((f.arn.as_str(), f.policy_id.as_str()), i))
        .collect();
    for a in &data.assessments {
        let failing: Vec<_> = a
            .controls
            .iter()
            .filter(|c| c.status == ControlStatus::Failed)
            .collect();
        let _ = writeln!(
            h,
            "<h3>{} · account {}: {} failed control(s)</h3>",
            escape(compliance::display_name(&a.framework)),
            escape(&a.account_id),
            failing.len()
        );
        if failing.is_empty() {
            h.push_str("<p class=\"empty\">No control fails.</p>\n");
            continue;
        }
        h.push_str("<table><tr><th>Control</th><th>Title</th><th>Severity</th><th>Failing</th><th>Failing resources (policy)</th></tr>\n");
        for c in failing {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td>{}<td><ul class=\"resources\">",
                escape(&c.id),
                escape(&c.title),
                c.severity.map(severity_badge).unwrap_or_default(),
                num(
                    "td",
                    "n",
                    &format!("control:{}:{}:{}", a.account_id, a.framework, c.id),
                    &c.failing.len().to_string()
                ),
            );
            for r in c.failing.iter().take(MAX_RESOURCES_PER_CONTROL) {
                let link = anchors
                    .get(&(r.arn.as_str(), r.policy_id.as_str()))
                    .map(|i| format!(" <a href=\"#finding-{i}\">evidence</a>"))
                    .unwrap_or_default();
                let _ = write!(
                    h,
                    "<li>{} <span class=\"arn\">{}</span> ({}){link}</li>",
                    severity_badge(r.severity),
                    escape(&r.arn),
                    escape(&r.policy_id)
                );
            }
            if c.failing.len() > MAX_RESOURCES_PER_CONTROL {
                let _ = write!(
                    h,
                    "<li class=\"empty\">and {} more (qrie compliance --format json lists them all)</li>",
                    c.failing.len() - MAX_RESOURCES_PER_CONTROL
                );
            }
            h.push_str("</ul></td></tr>\n");
        }
        h.push_str("</table>\n");
    }
}

fn render_failing_resources(h: &mut String, data: &ReportData) {
    h.push_str("<h2 id=\"resources\">Failing resources</h2>\n");
    if data.findings.is_empty() {
        h.push_str("<p class=\"empty\">No finding counts.</p>\n");
        return;
    }
    h.push_str(
        "<table><tr><th>Risk</th><th>Severity</th><th>Resource</th><th>Policy</th><th>Evidence</th></tr>\n",
    );
    for (i, f) in data.findings.iter().enumerate() {
        let tags = data.tags.get(&f.arn).map(tags_line).unwrap_or_default();
        let note = if f.acknowledged.is_some() {
            "<div class=\"tags\">acknowledged</div>"
        } else {
            ""
        };
        let _ = writeln!(
            h,
            "<tr id=\"finding-{i}\"><td>{}</td><td>{}</td><td><div class=\"arn\">{}</div>\
             <div class=\"tags\">account {} · {} · first seen {}</div>{tags}{note}</td>\
             <td><div class=\"arn\">{}</div><div>{}</div></td><td>{}</td></tr>",
            num(
                "span",
                "risk",
                &format!("risk:{}:{}", f.policy_id, f.arn),
                &f.risk_score.unwrap_or_default().to_string()
            ),
            severity_badge(f.severity),
            escape(&f.arn),
            escape(&f.account_id),
            escape(service_of(f)),
            escape(&f.first_seen.format("%Y-%m-%d").to_string()),
            escape(&f.policy_id),
            escape(data.titles.get(&f.policy_id).map_or("", String::as_str)),
            evidence_block(&f.evidence)
        );
    }
    h.push_str("</table>\n");
}

fn render_trend(h: &mut String, data: &ReportData) {
    let today = data.generated_at.date_naive();
    let _ = writeln!(
        h,
        "<h2 id=\"trend\">Trend</h2>\n<p class=\"meta\">The daily summaries the policy scanner \
         stored after each full scan, {} to {today}.</p>",
        data.since
    );
    for (account, framework, rows) in &data.trend {
        let _ = writeln!(
            h,
            "<h3>{} · account {}</h3>",
            escape(compliance::display_name(framework)),
            escape(account)
        );
        if rows.is_empty() {
            h.push_str("<p class=\"empty\">No stored summary in this period.</p>\n");
            continue;
        }
        h.push_str(&trend_chart(rows, data.since, today));
        h.push_str("\n<table><tr><th>Day</th><th>Score</th><th>Passed</th><th>Failed</th><th>Evaluated</th></tr>\n");
        for r in rows {
            let k = format!("{account}:{framework}:{}", r.day);
            let _ = writeln!(
                h,
                "<tr><td>{}</td>{}{}{}{}</tr>",
                r.day,
                num("td", "n", &format!("trend-score:{k}"), &percent(r.score)),
                num(
                    "td",
                    "n",
                    &format!("trend-passed:{k}"),
                    &r.passed.to_string()
                ),
                num(
                    "td",
                    "n",
                    &format!("trend-failed:{k}"),
                    &r.failed.to_string()
                ),
                num(
                    "td",
                    "n",
                    &format!("trend-evaluated:{k}"),
                    &r.evaluated.to_string()
                ),
            );
        }
        h.push_str("</table>\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use qrie::compliance::Counts;
    use serde_json::json;

    fn finding(arn: &str, policy: &str, severity: Severity, evidence: Value) -> Finding {
        Finding {
            arn: arn.into(),
            policy_id: policy.into(),
            account_id: "111122223333".into(),
            account_service: "111122223333_s3".into(),
            resource_type: "AWS::S3::Bucket".into(),
            state: FindingState::Active,
            severity,
            risk_score: None,
            evidence,
            first_seen: Utc::now(),
            last_evaluated: Utc::now(),
            resolved_at: None,
            observed_at: Utc::now(),
            history: Default::default(),
            acknowledged: None,
            suppressed: None,
            muted: None,
        }
    }

    fn row(day: NaiveDate, passed: usize, failed: usize) -> TrendRow {
        TrendRow {
            account_id: "111122223333".into(),
            framework: "fsbp".into(),
            day,
            score: Counts { passed, failed }.score(),
            passed,
            failed,
            evaluated: passed + failed,
            no_resources: 0,
            manual: 0,
            not_evaluated: 0,
            assessed_at: day.and_hms_opt(4, 0, 0).expect("a time").and_utc(),
        }
    }

    /// The text of the element carrying `data-qrie="key"` (elements hold only text).
    fn value<'h>(page: &'h str, key: &str) -> Option<&'h str> {
        let marker = format!("data-qrie=\"{}\"", escape(key));
        let at = page.find(&marker)? + marker.len();
        let start = at + page[at..].find('>')? + 1;
        let end = start + page[start..].find('<')?;
        Some(&page[start..end])
    }

    #[test]
    fn escape_leaves_no_markup_and_no_way_out_of_an_attribute() {
        assert_eq!(
            escape("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
        assert_eq!(escape("plain 1.2 AC-2(1)"), "plain 1.2 AC-2(1)");
    }

    #[test]
    fn the_page_shows_attacker_text_as_text_and_every_number_under_its_key() {
        // Given findings whose evidence and tags hold markup, and a two-day trend
        let today = Utc::now().date_naive();
        let evil = "<script>alert(1)</script>\"><img src=x onerror=alert(2)>";
        let findings = vec![
            Finding {
                risk_score: Some(qrie::risk::RiskScore::from_tenths(85)),
                ..finding(
                    "arn:aws:s3:::evil",
                    "S3BucketPublicReadProhibited",
                    Severity::Critical,
                    json!({"Policy": {"Statement": [{"Sid": evil}]}}),
                )
            },
            finding(
                "arn:aws:s3:::plain",
                "S3BucketVersioningEnabled",
                Severity::Medium,
                json!({"Versioning": null}),
            ),
        ];
        let data = ReportData {
            generated_at: Utc::now(),
            accounts: vec![("111122223333".into(), Some(evil.into()))],
            frameworks: vec!["fsbp".into()],
            assessments: vec![],
            findings,
            suppressed: 1,
            tags: HashMap::from([("arn:aws:s3:::evil".to_owned(), json!({"owner": evil}))]),
            titles: HashMap::from([(
                "S3BucketVersioningEnabled".to_owned(),
                "S3 buckets should have versioning enabled".to_owned(),
            )]),
            since: today - Duration::days(1),
            trend: vec![(
                "111122223333".into(),
                "fsbp".into(),
                vec![row(today - Duration::days(1), 1, 3), row(today, 3, 1)],
            )],
        };
        // When the page is rendered
        let page = render(&data);
        // Then no markup from the data survives, and it is there as text
        assert!(!page.contains("<script"), "a script element");
        assert!(!page.contains("<img"), "an img element");
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(page.contains("owner=&lt;script&gt;"), "the tag is shown");
        // And the numbers are under their keys
        assert_eq!(value(&page, "findings-total"), Some("2"));
        assert_eq!(value(&page, "findings-suppressed"), Some("1"));
        assert_eq!(value(&page, "findings-severity:CRITICAL"), Some("1"));
        assert_eq!(value(&page, "findings-severity:HIGH"), Some("0"));
        assert_eq!(value(&page, "findings-service:s3"), Some("2"));
        assert_eq!(value(&page, "policy:S3BucketVersioningEnabled"), Some("1"));
        assert_eq!(
            value(&page, "risk:S3BucketPublicReadProhibited:arn:aws:s3:::evil"),
            Some("8.5")
        );
        let k = format!("111122223333:fsbp:{today}");
        assert_eq!(value(&page, &format!("trend-score:{k}")), Some("75.0%"));
        assert_eq!(value(&page, &format!("trend-evaluated:{k}")), Some("4"));
        // And the page's own markup fetches nothing
        for fetch in [
            "src=\"",
            "href=\"http",
            "<link",
            "url(",
            "@import",
            "<iframe",
        ] {
            assert!(!page.contains(fetch), "{fetch}");
        }
    }

    #[test]
    fn the_chart_draws_a_line_through_scored_days_only() {
        let today = Utc::now().date_naive();
        let since = today - Duration::days(9);
        let rows = vec![
            row(since, 1, 1),
            row(today - Duration::days(4), 0, 0),
            row(today, 4, 0),
        ];
        let svg = trend_chart(&rows, since, today);
        // Two scored days: a line of two points, from the left edge at 50% to the right at 100%
        assert_eq!(svg.matches("<circle").count(), 2, "{svg}");
        assert!(svg.contains("points=\"44.0,82.0 628.0,10.0\""), "{svg}");
        // One scored day: a dot and no line
        let one = trend_chart(&rows[2..], since, today);
        assert!(
            !one.contains("<polyline") && one.contains("<circle"),
            "{one}"
        );
    }

    #[test]
    fn long_evidence_is_cut_with_a_marker() {
        let long = json!({"Big": "x".repeat(MAX_EVIDENCE_CHARS * 2)});
        let block = evidence_block(&long);
        assert!(block.contains("(cut: "), "{block}");
        assert!(block.len() < MAX_EVIDENCE_CHARS + 200);
    }

    #[test]
    fn a_trend_of_n_days_starts_n_minus_one_days_ago() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 2).expect("a day");
        assert_eq!(trend_start(today, 1), today);
        assert_eq!(
            trend_start(today, 30),
            NaiveDate::from_ymd_opt(2026, 11, 3).expect("a day")
        );
    }

    #[test]
    fn tags_read_as_a_map_or_as_key_value_pairs() {
        let pairs = tags_line(&json!([{"Key": "team", "Value": "<b>"}]));
        assert!(pairs.contains("team=&lt;b&gt;"), "{pairs}");
        assert_eq!(tags_line(&json!({})), "");
    }
}
