//! The condition language: how a policy says what a non-compliant configuration looks like.
//!
//! A condition is written in YAML and compiled once into [`PolicyCondition`], then evaluated many times
//! against resource configurations (`serde_json::Value`). The forms are:
//!
//! ```yaml
//! all: [ <condition>, ... ]          # every one holds
//! any: [ <condition>, ... ]          # at least one holds
//! not: <condition>                   # it does not hold
//! path: A.B.C                        # a leaf: the value at the path ...
//! op: eq                             # ... compared with an operator ...
//! value: true                        # ... and a value (not for exists / not_exists)
//! path: Policy.Statement             # a quantifier over the array at the path:
//! any_item: <condition>              #   some element satisfies the condition
//! all_items: <condition>             #   every element does (true for an empty or absent array)
//! no_item: <condition>               #   no element does
//! ```
//!
//! Inside a quantifier, paths are relative to the element; a leaf without `path` tests the
//! element itself. A scalar where an array was expected counts as a one-element array, which is
//! how IAM documents write `Action`, `Resource` and `Principal.AWS`. A path is a dotted string
//! (`Condition.Bool.aws:SecureTransport`) or, for keys that contain dots, a list of segments.
//!
//! Operators: `eq`, `neq`, `exists`, `not_exists`, `in`, `not_in`, `gt`, `gte`, `lt`, `lte`,
//! `contains` (a string contains a substring), `starts_with`, `ends_with`, `matches` (a regular
//! expression), `covers` (the value is an IAM-style wildcard pattern, `*` and `?`, that covers the
//! given string, ignoring case: `s3:Get*` covers `s3:GetObject`) and `cidr_contains` (the value is
//! a CIDR that contains the given address or network: `0.0.0.0/0` contains `203.0.113.0/24`).
//!
//! Time: `older_than_days` (the value is a number of days, `90`) holds when the value at the
//! path is a date (RFC 3339, `2024-05-01T10:00:00Z` or `2024-05-01T10:00:00+00:00` as the IAM
//! credential report writes it, or a bare `2024-05-01`, read as midnight UTC) more than that many
//! days (of 24 hours) before the evaluation time. A missing date, `null`, or anything that is not
//! a date (`N/A`, `no_information`) is not older than anything, so "a key unused for 90 days" is
//! written with an explicit case for the never-used key. The evaluation time is the scan's or
//! the event's (`holds_at`, `evidence_at`); [`PolicyCondition::holds`] uses the current time,
//! and a policy file's examples are evaluated at their `examples.at` when they give one, so that
//! an example of a fresh key stays fresh. `due_within_days` is its mirror for expiry dates: it
//! holds when the date is less than that many days after the evaluation time, or already past
//! (a certificate valid for fewer than 90 more days); a missing date or a non-date never is.
//!
//! IAM documents ([`super::iam_doc`] has the exact semantics): the value at the path is a set of
//! policy documents (a document, or any array or object holding documents: a user's
//! `Policies`). `allows` (the value is an action pattern) holds when the documents allow every
//! action of the pattern on every resource, `NotAction`, `NotResource` and unconditional `Deny`
//! statements taken into account (`allows: "*"` is full administrative access);
//! `escalates_privilege` (no value) when they grant every action of a published
//! privilege-escalation combination; `trusts_accounts_outside` (a list of account ids, possibly
//! empty) when a trust policy lets `*`, or an account neither listed nor the configuration's own
//! `AccountId`, assume the role without an `sts:ExternalId` or `aws:PrincipalOrgID` condition;
//! `trusts_services_unscoped` (no value) when a trust policy lets a service principal assume the
//! role without a positive condition on `aws:SourceAccount`, `aws:SourceArn`, `aws:SourceOrgID`
//! or `aws:SourceOrgPaths` (the cross-service confused deputy).
//!
//! Resource policies ([`super::resource_doc`] has the exact semantics): `grants_outside_account`
//! (a list of trusted account ids, possibly empty) holds when the value at the path, a resource
//! policy document (a bucket policy), has an `Allow` statement that reaches a principal outside
//! the trusted accounts and the configuration's own `AccountId`: `*`, `{"AWS": "*"}`, a
//! `NotPrincipal`, or another account's id or ARN, after the statement's restricting conditions
//! (`aws:PrincipalAccount`, `aws:SourceAccount`, `aws:PrincipalArn`, `aws:PrincipalOrgID` under
//! `StringEquals`/`StringLike`/`ArnEquals`/`ArnLike`, not their `IfExists` forms) and the
//! policy's `Deny` statements (unconditional, or to everyone but the values of one negated
//! restriction) are applied.
//!
//! A missing path is never equal to anything: `eq`, `in`, comparisons and string operators are
//! false on it, while `neq` and `not_in` are true. So `{path: PublicAccessBlock.BlockPublicAcls,
//! op: neq, value: true}` fails a bucket that has no public access block at all.
//!
//! When a condition holds, [`PolicyCondition::evidence`] explains why: the paths and values that made
//! it hold, which become the finding's `Evidence`. [`PolicyCondition::reads`] lists every path a
//! condition looks at, so that a policy is not evaluated on a configuration whose collector could
//! not read one of them.

use std::fmt;
use std::net::IpAddr;

use chrono::{DateTime, NaiveDate, Utc};

use ipnet::IpNet;

use super::{iam_doc, resource_doc};
use regex::Regex;
use serde::Deserialize;
use serde_json::{Map, Value};
use thiserror::Error;

/// An error in a condition, with the location inside the policy (`fails_when.any[2].op`).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{location}: {message}")]
pub struct ConditionError {
    pub location: String,
    pub message: String,
}

/// A condition exactly as written in a policy file, before validation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCondition {
    all: Option<Vec<RawCondition>>,
    any: Option<Vec<RawCondition>>,
    not: Option<Box<RawCondition>>,
    path: Option<RawPath>,
    op: Option<String>,
    value: Option<Value>,
    any_item: Option<Box<RawCondition>>,
    all_items: Option<Box<RawCondition>>,
    no_item: Option<Box<RawCondition>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum RawPath {
    Dotted(String),
    Segments(Vec<String>),
}

/// A path into a configuration, as segments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path(Vec<String>);

impl Path {
    fn parse(raw: &RawPath) -> Result<Self, String> {
        let segments: Vec<String> = match raw {
            RawPath::Dotted(s) if s.is_empty() => Vec::new(),
            RawPath::Dotted(s) => s.split('.').map(str::to_owned).collect(),
            RawPath::Segments(v) => v.clone(),
        };
        if segments.iter().any(String::is_empty) {
            return Err("path has an empty segment".to_owned());
        }
        Ok(Path(segments))
    }

    /// The value at this path, if every segment exists. Numeric segments index arrays.
    pub fn resolve<'v>(&self, root: &'v Value) -> Option<&'v Value> {
        let mut current = root;
        for segment in &self.0 {
            current = match current {
                Value::Object(map) => map.get(segment.as_str())?,
                Value::Array(items) => items.get(segment.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        Some(current)
    }

    /// The path of a dotted string (`DefaultRoutes.Ipv4`), split at every dot.
    pub fn dotted(text: &str) -> Path {
        Path(
            text.split('.')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
        )
    }

    /// The segments of the path.
    pub fn segments(&self) -> &[String] {
        &self.0
    }

    /// True when one path is a prefix of the other (segment by segment): reading either reads
    /// part of the other. The empty path overlaps every path.
    pub fn overlaps(&self, other: &[&str]) -> bool {
        self.0.iter().zip(other).all(|(a, b)| a == b)
    }

    fn join(&self, prefix: &str) -> String {
        let own = self.0.join(".");
        match (prefix.is_empty(), own.is_empty()) {
            (true, _) => own,
            (false, true) => prefix.to_owned(),
            (false, false) => format!("{prefix}.{own}"),
        }
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join("."))
    }
}

/// A comparison of the value at a path.
#[derive(Debug, Clone)]
pub enum Op {
    Eq(Value),
    Neq(Value),
    Exists,
    NotExists,
    In(Vec<Value>),
    NotIn(Vec<Value>),
    Gt(f64),
    Gte(f64),
    Lt(f64),
    Lte(f64),
    Contains(String),
    StartsWith(String),
    EndsWith(String),
    Matches(Regex),
    Covers(String),
    CidrContains(IpNet),
    /// A date more than this many days before the evaluation time.
    OlderThanDays(f64),
    /// A date less than this many days after the evaluation time (or before it).
    DueWithinDays(f64),
    /// IAM documents that allow every action of the pattern on every resource.
    Allows(String),
    /// IAM documents that grant a privilege-escalation combination.
    EscalatesPrivilege,
    /// A trust policy that lets principals outside these accounts (and the configuration's own
    /// `AccountId`) assume the role without `sts:ExternalId` or `aws:PrincipalOrgID`.
    TrustsAccountsOutside(Vec<String>),
    /// A trust policy that lets a service assume the role without a source account, ARN or
    /// organisation condition.
    TrustsServicesUnscoped,
    /// A resource policy with an `Allow` reaching principals outside these accounts (and the
    /// configuration's own `AccountId`).
    GrantsOutsideAccount(Vec<String>),
    /// A security group rule (`IngressRules[i]`) that lets TCP in on the port.
    ExposesPort(PortRef),
    /// A network ACL that lets a TCP connection from the whole IPv4 internet in on the port: its
    /// ingress entries let the port in from `0.0.0.0/0` and its egress entries let the replies
    /// out to it ([`EPHEMERAL_PORT`]).
    AdmitsWorldTcp(PortRef),
}

/// The port an operator tests: a number, or the number at a path of the document the policy
/// evaluates (`{path: Endpoint.Port}`: a database's own port, read from its rule's group).
#[derive(Debug, Clone)]
pub enum PortRef {
    Fixed(i64),
    Top(Path),
}

impl PortRef {
    fn port(&self, ctx: &Ctx<'_>) -> Option<i64> {
        match self {
            PortRef::Fixed(p) => Some(*p),
            PortRef::Top(path) => number(path.resolve(ctx.top)).map(|n| n as i64),
        }
    }
}

/// The client port the replies of a connection from the internet go to, for network ACL
/// egress: 49152, inside both the Linux (32768-60999) and the Windows (49152-65535) ephemeral
/// ranges.
pub const EPHEMERAL_PORT: i64 = 49152;

/// How a quantifier treats the elements of an array.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quantifier {
    AnyItem,
    AllItems,
    NoItem,
}

/// A compiled, validated condition.
#[derive(Debug, Clone)]
pub enum PolicyCondition {
    All(Vec<PolicyCondition>),
    Any(Vec<PolicyCondition>),
    Not(Box<PolicyCondition>),
    Leaf {
        path: Path,
        op: Op,
    },
    Each {
        path: Path,
        quantifier: Quantifier,
        inner: Box<PolicyCondition>,
    },
}

const OPERATORS: &str = "eq, neq, exists, not_exists, in, not_in, gt, gte, lt, lte, contains, \
                         starts_with, ends_with, matches, covers, cidr_contains, older_than_days, due_within_days, \
                         allows, \
                         escalates_privilege, trusts_accounts_outside, trusts_services_unscoped, \
                         grants_outside_account, exposes_port, admits_world_tcp";

impl PolicyCondition {
    /// Validates and compiles a raw condition; `location` names it in errors.
    pub fn compile(raw: &RawCondition, location: &str) -> Result<Self, ConditionError> {
        let err = |at: &str, message: String| ConditionError {
            location: if at.is_empty() {
                location.to_owned()
            } else {
                format!("{location}.{at}")
            },
            message,
        };
        let quantifiers = [
            (&raw.any_item, Quantifier::AnyItem, "any_item"),
            (&raw.all_items, Quantifier::AllItems, "all_items"),
            (&raw.no_item, Quantifier::NoItem, "no_item"),
        ];
        let mut forms = Vec::new();
        if raw.all.is_some() {
            forms.push("all");
        }
        if raw.any.is_some() {
            forms.push("any");
        }
        if raw.not.is_some() {
            forms.push("not");
        }
        if raw.op.is_some() {
            forms.push("op");
        }
        for (q, _, name) in &quantifiers {
            if q.is_some() {
                forms.push(name);
            }
        }
        if forms.len() != 1 {
            return Err(err(
                "",
                format!(
                    "a condition needs exactly one of all, any, not, op, any_item, all_items, \
                     no_item; found {}",
                    if forms.is_empty() {
                        "none".to_owned()
                    } else {
                        forms.join(", ")
                    }
                ),
            ));
        }
        let path = raw
            .path
            .as_ref()
            .map(Path::parse)
            .transpose()
            .map_err(|m| err("path", m))?;
        let compile_list = |list: &[RawCondition], name: &str| {
            if list.is_empty() {
                return Err(err(
                    name,
                    "an empty list; write at least one condition".into(),
                ));
            }
            list.iter()
                .enumerate()
                .map(|(i, c)| PolicyCondition::compile(c, &format!("{location}.{name}[{i}]")))
                .collect::<Result<Vec<_>, _>>()
        };
        let no_path_or_value = |form: &str| {
            if raw.path.is_some() || raw.value.is_some() {
                Err(err(
                    "",
                    format!("`{form}` takes no path or value; put them in its conditions"),
                ))
            } else {
                Ok(())
            }
        };
        if let Some(list) = &raw.all {
            no_path_or_value("all")?;
            return Ok(PolicyCondition::All(compile_list(list, "all")?));
        }
        if let Some(list) = &raw.any {
            no_path_or_value("any")?;
            return Ok(PolicyCondition::Any(compile_list(list, "any")?));
        }
        if let Some(inner) = &raw.not {
            no_path_or_value("not")?;
            return Ok(PolicyCondition::Not(Box::new(PolicyCondition::compile(
                inner,
                &format!("{location}.not"),
            )?)));
        }
        for (q, quantifier, name) in quantifiers {
            if let Some(inner) = q {
                if raw.value.is_some() {
                    return Err(err("value", format!("`{name}` takes no value")));
                }
                return Ok(PolicyCondition::Each {
                    path: path.unwrap_or(Path(Vec::new())),
                    quantifier,
                    inner: Box::new(PolicyCondition::compile(
                        inner,
                        &format!("{location}.{name}"),
                    )?),
                });
            }
        }
        let op_name = raw.op.as_deref().unwrap_or_default();
        let op = compile_op(op_name, raw.value.as_ref()).map_err(|m| err("op", m))?;
        Ok(PolicyCondition::Leaf {
            path: path.unwrap_or(Path(Vec::new())),
            op,
        })
    }

    /// Every configuration path the condition reads, from the configuration's root. Paths inside
    /// a quantifier are joined to the array's path (`Acl.Grants.Permission`): they read inside
    /// it. Derived from the compiled condition, so a policy never declares its inputs by hand.
    pub fn reads(&self) -> Vec<Path> {
        let mut out = Vec::new();
        self.collect_reads(&[], &mut out);
        let mut unique: Vec<Path> = Vec::with_capacity(out.len());
        for path in out {
            if !unique.contains(&path) {
                unique.push(path);
            }
        }
        unique
    }

    fn collect_reads(&self, prefix: &[String], out: &mut Vec<Path>) {
        let under = |path: &Path| Path(prefix.iter().chain(&path.0).cloned().collect());
        match self {
            PolicyCondition::All(list) | PolicyCondition::Any(list) => {
                list.iter().for_each(|c| c.collect_reads(prefix, out))
            }
            PolicyCondition::Not(inner) => inner.collect_reads(prefix, out),
            PolicyCondition::Leaf { path, .. } => out.push(under(path)),
            PolicyCondition::Each { path, inner, .. } => {
                let base = under(path);
                inner.collect_reads(&base.0, out);
                out.push(base);
            }
        }
    }

    /// True when the configuration satisfies the condition now.
    pub fn holds(&self, config: &Value) -> bool {
        self.holds_at(config, Utc::now())
    }

    /// True when the configuration satisfies the condition evaluated at `now` (what
    /// `older_than_days` compares with).
    pub fn holds_at(&self, config: &Value, now: DateTime<Utc>) -> bool {
        self.holds_in(
            config,
            &Ctx {
                root: config,
                top: config,
                now,
            },
        )
    }

    fn holds_in(&self, config: &Value, ctx: &Ctx<'_>) -> bool {
        match self {
            PolicyCondition::All(list) => list.iter().all(|c| c.holds_in(config, ctx)),
            PolicyCondition::Any(list) => list.iter().any(|c| c.holds_in(config, ctx)),
            PolicyCondition::Not(inner) => !inner.holds_in(config, ctx),
            PolicyCondition::Leaf { path, op } => op.test(path.resolve(config), ctx),
            PolicyCondition::Each {
                path,
                quantifier,
                inner,
            } => {
                let items = as_items(path.resolve(config));
                let holds = |v: &Value| inner.holds_in(v, &ctx.within(v));
                match quantifier {
                    Quantifier::AnyItem => items.iter().any(holds),
                    Quantifier::AllItems => items.iter().all(holds),
                    Quantifier::NoItem => !items.iter().any(holds),
                }
            }
        }
    }

    /// Why the condition holds for `config`: a map from paths to the values that made it hold.
    /// Empty when it does not hold.
    pub fn evidence(&self, config: &Value) -> Map<String, Value> {
        self.evidence_at(config, Utc::now())
    }

    /// [`Self::evidence`] with the condition evaluated at `now`.
    pub fn evidence_at(&self, config: &Value, now: DateTime<Utc>) -> Map<String, Value> {
        let mut out = Map::new();
        let ctx = Ctx {
            root: config,
            top: config,
            now,
        };
        if self.holds_in(config, &ctx) {
            self.explain(config, "", &ctx, &mut out);
        }
        out
    }

    /// Records why a condition that holds does so.
    fn explain(&self, config: &Value, prefix: &str, ctx: &Ctx<'_>, out: &mut Map<String, Value>) {
        match self {
            PolicyCondition::All(list) => list
                .iter()
                .for_each(|c| c.explain(config, prefix, ctx, out)),
            PolicyCondition::Any(list) => {
                if let Some(c) = list.iter().find(|c| c.holds_in(config, ctx)) {
                    c.explain(config, prefix, ctx, out);
                }
            }
            PolicyCondition::Not(inner) => inner.record_paths(config, prefix, out),
            PolicyCondition::Leaf { path, .. } => {
                out.insert(
                    path.join(prefix),
                    path.resolve(config).cloned().unwrap_or(Value::Null),
                );
            }
            PolicyCondition::Each {
                path,
                quantifier,
                inner,
            } => {
                let base = path.join(prefix);
                match quantifier {
                    Quantifier::AnyItem => {
                        let items = as_items(path.resolve(config));
                        for (i, item) in items.iter().enumerate() {
                            let within = ctx.within(item);
                            if !inner.holds_in(item, &within) {
                                continue;
                            }
                            match item.get(super::schema::RESOURCE_ARN) {
                                // A related resource: its ARN, and the part of it that made the
                                // step possible (not the whole configuration).
                                Some(arn) => {
                                    let at = format!("{base}[{i}]");
                                    out.insert(
                                        format!("{at}.{}", super::schema::RESOURCE_ARN),
                                        arn.clone(),
                                    );
                                    inner.explain(item, &at, &within, out);
                                }
                                None => {
                                    out.insert(format!("{base}[{i}]"), (*item).clone());
                                }
                            }
                        }
                    }
                    Quantifier::AllItems | Quantifier::NoItem => {
                        out.insert(base, path.resolve(config).cloned().unwrap_or(Value::Null));
                    }
                }
            }
        }
    }

    /// Records the values of every path a condition looks at (used under `not`, where the inner
    /// condition failed and all it examined is the reason).
    fn record_paths(&self, config: &Value, prefix: &str, out: &mut Map<String, Value>) {
        match self {
            PolicyCondition::All(list) | PolicyCondition::Any(list) => list
                .iter()
                .for_each(|c| c.record_paths(config, prefix, out)),
            PolicyCondition::Not(inner) => inner.record_paths(config, prefix, out),
            PolicyCondition::Leaf { path, .. } | PolicyCondition::Each { path, .. } => {
                out.insert(
                    path.join(prefix),
                    path.resolve(config).cloned().unwrap_or(Value::Null),
                );
            }
        }
    }
}

/// The elements a quantifier ranges over: an array's items, a scalar alone, nothing if absent.
fn as_items(value: Option<&Value>) -> &[Value] {
    match value {
        None | Some(Value::Null) => &[],
        Some(Value::Array(items)) => items,
        Some(other) => std::slice::from_ref(other),
    }
}

fn compile_op(name: &str, value: Option<&Value>) -> Result<Op, String> {
    let need = |what: &str| -> Result<&Value, String> {
        value.ok_or_else(|| format!("operator `{name}` needs a `value` ({what})"))
    };
    let number = || -> Result<f64, String> {
        need("a number")?
            .as_f64()
            .ok_or_else(|| format!("operator `{name}` needs a number as its value"))
    };
    let string = || -> Result<String, String> {
        need("a string")?
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("operator `{name}` needs a string as its value"))
    };
    let list = || -> Result<Vec<Value>, String> {
        match need("a list")? {
            Value::Array(items) if !items.is_empty() => Ok(items.clone()),
            _ => Err(format!(
                "operator `{name}` needs a non-empty list as its value"
            )),
        }
    };
    let op = match name {
        "eq" => Op::Eq(need("the expected value")?.clone()),
        "neq" => Op::Neq(need("the value to differ from")?.clone()),
        "exists" | "not_exists" => {
            if value.is_some() {
                return Err(format!("operator `{name}` takes no value"));
            }
            if name == "exists" {
                Op::Exists
            } else {
                Op::NotExists
            }
        }
        "in" => Op::In(list()?),
        "not_in" => Op::NotIn(list()?),
        "gt" => Op::Gt(number()?),
        "gte" => Op::Gte(number()?),
        "lt" => Op::Lt(number()?),
        "lte" => Op::Lte(number()?),
        "contains" => Op::Contains(string()?),
        "starts_with" => Op::StartsWith(string()?),
        "ends_with" => Op::EndsWith(string()?),
        "matches" => {
            let pattern = string()?;
            Op::Matches(Regex::new(&pattern).map_err(|e| format!("invalid regex: {e}"))?)
        }
        "covers" => Op::Covers(string()?),
        "older_than_days" => {
            let days = number()?;
            if days.is_nan() || days < 0.0 {
                return Err("operator `older_than_days` needs a number of days, 0 or more".into());
            }
            Op::OlderThanDays(days)
        }
        "due_within_days" => {
            let days = number()?;
            if days.is_nan() || days < 0.0 {
                return Err("operator `due_within_days` needs a number of days, 0 or more".into());
            }
            Op::DueWithinDays(days)
        }
        "allows" => Op::Allows(string()?),
        "escalates_privilege" => {
            if value.is_some() {
                return Err("operator `escalates_privilege` takes no value".into());
            }
            Op::EscalatesPrivilege
        }
        "trusts_services_unscoped" => {
            if value.is_some() {
                return Err("operator `trusts_services_unscoped` takes no value".into());
            }
            Op::TrustsServicesUnscoped
        }
        "trusts_accounts_outside" => match value {
            Some(Value::Array(items)) => Op::TrustsAccountsOutside(
                items
                    .iter()
                    .map(|v| match v.as_str() {
                        Some(a) if a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()) => {
                            Ok(a.to_owned())
                        }
                        _ => Err(format!(
                            "operator `trusts_accounts_outside` needs 12-digit account ids, got {v}"
                        )),
                    })
                    .collect::<Result<_, _>>()?,
            ),
            _ => {
                return Err(
                    "operator `trusts_accounts_outside` needs a list of account ids \
                            (possibly empty) as its value"
                        .into(),
                )
            }
        },
        "grants_outside_account" => Op::GrantsOutsideAccount(account_ids(name, value)?),
        "exposes_port" => Op::ExposesPort(port_ref(name, value)?),
        "admits_world_tcp" => Op::AdmitsWorldTcp(port_ref(name, value)?),
        "cidr_contains" => {
            let text = string()?;
            Op::CidrContains(parse_net(&text).ok_or_else(|| {
                format!("operator `cidr_contains` needs an IP address or CIDR, got {text:?}")
            })?)
        }
        "" => return Err(format!("a leaf condition needs `op` (one of {OPERATORS})")),
        other => {
            return Err(format!(
                "unknown operator `{other}` (expected one of {OPERATORS})"
            ))
        }
    };
    Ok(op)
}

/// A port (0-65535), or `{path: ...}` naming one in the policy's document.
fn port_ref(name: &str, value: Option<&Value>) -> Result<PortRef, String> {
    match value {
        Some(Value::Number(n)) => match n.as_i64() {
            Some(p @ 0..=65535) => Ok(PortRef::Fixed(p)),
            _ => Err(format!(
                "operator `{name}` needs a port from 0 to 65535, got {n}"
            )),
        },
        Some(Value::Object(map)) if map.len() == 1 => match map.get("path") {
            Some(Value::String(path)) if !path.is_empty() => Ok(PortRef::Top(Path::dotted(path))),
            _ => Err(format!(
                "operator `{name}` needs a port or `{{path: <path of a port>}}`"
            )),
        },
        _ => Err(format!(
            "operator `{name}` needs a port or `{{path: <path of a port>}}` as its value"
        )),
    }
}

/// A list of 12-digit account ids (possibly empty), the value of operator `name`.
fn account_ids(name: &str, value: Option<&Value>) -> Result<Vec<String>, String> {
    let Some(Value::Array(items)) = value else {
        return Err(format!(
            "operator `{name}` needs a list of account ids (possibly empty) as its value"
        ));
    };
    items
        .iter()
        .map(|v| match v.as_str() {
            Some(a) if a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()) => Ok(a.to_owned()),
            _ => Err(format!(
                "operator `{name}` needs 12-digit account ids, got {v}"
            )),
        })
        .collect()
}

fn parse_net(text: &str) -> Option<IpNet> {
    text.parse::<IpNet>()
        .ok()
        .or_else(|| text.parse::<IpAddr>().ok().map(IpNet::from))
}

impl Op {
    /// The operator's name as policies write it.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Eq(_) => "eq",
            Op::Neq(_) => "neq",
            Op::Exists => "exists",
            Op::NotExists => "not_exists",
            Op::In(_) => "in",
            Op::NotIn(_) => "not_in",
            Op::Gt(_) => "gt",
            Op::Gte(_) => "gte",
            Op::Lt(_) => "lt",
            Op::Lte(_) => "lte",
            Op::Contains(_) => "contains",
            Op::StartsWith(_) => "starts_with",
            Op::EndsWith(_) => "ends_with",
            Op::Matches(_) => "matches",
            Op::Covers(_) => "covers",
            Op::CidrContains(_) => "cidr_contains",
            Op::OlderThanDays(_) => "older_than_days",
            Op::DueWithinDays(_) => "due_within_days",
            Op::Allows(_) => "allows",
            Op::EscalatesPrivilege => "escalates_privilege",
            Op::TrustsAccountsOutside(_) => "trusts_accounts_outside",
            Op::TrustsServicesUnscoped => "trusts_services_unscoped",
            Op::GrantsOutsideAccount(_) => "grants_outside_account",
            Op::ExposesPort(_) => "exposes_port",
            Op::AdmitsWorldTcp(_) => "admits_world_tcp",
        }
    }

    fn test(&self, actual: Option<&Value>, ctx: &Ctx<'_>) -> bool {
        let now = ctx.now;
        // JSON null reads as absent: AWS APIs and normalisation both use it for "not set".
        let actual = actual.filter(|v| !v.is_null());
        match self {
            Op::Exists => actual.is_some(),
            Op::NotExists => actual.is_none(),
            Op::Eq(expected) => actual.is_some_and(|v| loosely_equal(v, expected)),
            Op::Neq(expected) => !actual.is_some_and(|v| loosely_equal(v, expected)),
            Op::In(options) => actual.is_some_and(|v| options.iter().any(|o| loosely_equal(v, o))),
            Op::NotIn(options) => {
                !actual.is_some_and(|v| options.iter().any(|o| loosely_equal(v, o)))
            }
            Op::Gt(n) => number(actual).is_some_and(|v| v > *n),
            Op::Gte(n) => number(actual).is_some_and(|v| v >= *n),
            Op::Lt(n) => number(actual).is_some_and(|v| v < *n),
            Op::Lte(n) => number(actual).is_some_and(|v| v <= *n),
            Op::Contains(s) => text(actual).is_some_and(|v| v.contains(s.as_str())),
            Op::StartsWith(s) => text(actual).is_some_and(|v| v.starts_with(s.as_str())),
            Op::EndsWith(s) => text(actual).is_some_and(|v| v.ends_with(s.as_str())),
            Op::Matches(re) => text(actual).is_some_and(|v| re.is_match(v)),
            Op::Covers(target) => {
                text(actual).is_some_and(|pattern| wildcard_covers(pattern, target))
            }
            Op::CidrContains(net) => text(actual)
                .and_then(parse_net)
                .is_some_and(|outer| outer.contains(net)),
            Op::OlderThanDays(days) => text(actual).and_then(parse_date).is_some_and(|date| {
                // Whole seconds: a date exactly `days` old is not older than it.
                (now - date).num_seconds() as f64 > days * 86_400.0
            }),
            Op::DueWithinDays(days) => text(actual).and_then(parse_date).is_some_and(|date| {
                // Whole seconds: a date exactly `days` ahead is not within them.
                ((date - now).num_seconds() as f64) < days * 86_400.0
            }),
            Op::Allows(target) => actual.is_some_and(|v| iam_doc::allows(v, target)),
            Op::EscalatesPrivilege => actual.is_some_and(|v| iam_doc::escalation(v).is_some()),
            Op::TrustsServicesUnscoped => {
                actual.is_some_and(|v| iam_doc::unscoped_service_trust(v).is_some())
            }
            Op::TrustsAccountsOutside(known) => actual.is_some_and(|v| {
                let own = ctx.own_account();
                let known: Vec<&str> = known.iter().map(String::as_str).chain(own).collect();
                iam_doc::trusts_outside(v, &known).is_some()
            }),
            Op::GrantsOutsideAccount(trusted) => actual.is_some_and(|v| {
                let own = ctx.own_account();
                let known: Vec<&str> = trusted.iter().map(String::as_str).chain(own).collect();
                resource_doc::grants_outside(v, &known).is_some()
            }),
            Op::ExposesPort(port) => actual
                .zip(port.port(ctx))
                .is_some_and(|(rule, p)| rule_covers(rule, "tcp", p)),
            Op::AdmitsWorldTcp(port) => actual.zip(port.port(ctx)).is_some_and(|(acl, p)| {
                first_world_entry_allows(acl, false, p)
                    && first_world_entry_allows(acl, true, EPHEMERAL_PORT)
            }),
        }
    }
}

/// Whether a rule or entry (`Protocol`, `FromPort`, `ToPort`, as the EC2 collectors write
/// them) covers `port` of `protocol`: its protocol is that one or every one (`-1`).
fn rule_covers(rule: &Value, protocol: &str, port: i64) -> bool {
    let proto = rule.get("Protocol").and_then(Value::as_str);
    let from = rule.get("FromPort").and_then(Value::as_i64);
    let to = rule.get("ToPort").and_then(Value::as_i64);
    matches!(proto, Some(p) if p == "-1" || p == protocol)
        && from.zip(to).is_some_and(|(f, t)| f <= port && port <= t)
}

/// Whether a network ACL's first entry in rule-number order whose CIDR is the whole IPv4
/// internet (`0.0.0.0/0`) and that matches TCP on `port`, in the direction asked, allows it (the
/// collector's `WorldIngress` rule, for any port and either direction).
fn first_world_entry_allows(acl: &Value, egress: bool, port: i64) -> bool {
    let Some(entries) = acl.get("Entries").and_then(Value::as_array) else {
        return false;
    };
    let mut matching: Vec<&Value> = entries
        .iter()
        .filter(|e| e.get("Egress").and_then(Value::as_bool) == Some(egress))
        .filter(|e| e.get("Source").and_then(Value::as_str) == Some("0.0.0.0/0"))
        .filter(|e| rule_covers(e, "tcp", port))
        .collect();
    matching.sort_by_key(|e| {
        e.get("RuleNumber")
            .and_then(Value::as_i64)
            .unwrap_or(i64::MAX)
    });
    matching
        .first()
        .is_some_and(|e| e.get("RuleAction").and_then(Value::as_str) == Some("allow"))
}

/// What a condition is evaluated against besides the value in hand: the configuration's root
/// (for operators that compare with the resource's own account) and the evaluation time.
#[derive(Clone, Copy)]
struct Ctx<'a> {
    root: &'a Value,
    /// The document the policy evaluates (the root of a related resource's is its own).
    top: &'a Value,
    now: DateTime<Utc>,
}

impl<'a> Ctx<'a> {
    /// The account of the configuration in hand: its `AccountId`, or the account of its
    /// `ResourceArn` (a related resource, or a policy's document).
    fn own_account(&self) -> Option<&'a str> {
        self.root
            .get("AccountId")
            .and_then(Value::as_str)
            .or_else(|| {
                let arn = self.root.get(super::schema::RESOURCE_ARN)?.as_str()?;
                arn.split(':').nth(4).filter(|a| !a.is_empty())
            })
    }

    /// The context inside `item`: a related resource (it carries a `ResourceArn`) is its own
    /// root, so operators comparing with "the configuration's own account" read its account.
    fn within(&self, item: &'a Value) -> Ctx<'a> {
        if item.get(super::schema::RESOURCE_ARN).is_some() {
            Ctx {
                root: item,
                top: self.top,
                now: self.now,
            }
        } else {
            *self
        }
    }
}

/// A date as AWS writes them: RFC 3339 (`Z` or an offset), or a bare `YYYY-MM-DD` (midnight
/// UTC). Anything else (`N/A`, `no_information`) is not a date.
pub fn parse_date(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
}

fn number(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn text(v: Option<&Value>) -> Option<&str> {
    v?.as_str()
}

/// Equality that also matches the string forms AWS uses for booleans and numbers in documents
/// (`"false"` in an IAM condition equals `false` in a policy file).
fn loosely_equal(actual: &Value, expected: &Value) -> bool {
    match (actual, expected) {
        (Value::String(a), Value::Bool(b)) | (Value::Bool(b), Value::String(a)) => {
            a.eq_ignore_ascii_case(if *b { "true" } else { "false" })
        }
        (Value::String(a), Value::Number(n)) | (Value::Number(n), Value::String(a)) => {
            a.parse::<f64>().ok() == n.as_f64()
        }
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        _ => actual == expected,
    }
}

/// IAM wildcard matching: `*` any run, `?` one character, case-insensitive.
fn wildcard_covers(pattern: &str, target: &str) -> bool {
    if pattern.is_ascii() && target.is_ascii() {
        // The usual case, without lowering either string into a new one.
        return glob_match(pattern.as_bytes(), target.as_bytes(), |a, b| {
            a.eq_ignore_ascii_case(b)
        });
    }
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    let t: Vec<char> = target.to_lowercase().chars().collect();
    glob_match(&p, &t, |a, b| a == b)
}

/// `*`/`?` matching of `t` by the pattern `p`, comparing other elements with `same`.
fn glob_match<C: Copy + PartialEq + From<u8>>(
    p: &[C],
    t: &[C],
    same: impl Fn(&C, &C) -> bool,
) -> bool {
    let (any, one) = (C::from(b'*'), C::from(b'?'));
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == one || same(&p[pi], &t[ti])) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == any {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == any)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cond(yaml: &str) -> PolicyCondition {
        let raw: RawCondition = serde_yaml::from_str(yaml).unwrap();
        PolicyCondition::compile(&raw, "fails_when").unwrap()
    }

    fn compile_error(yaml: &str) -> String {
        let raw: RawCondition = serde_yaml::from_str(yaml).unwrap();
        PolicyCondition::compile(&raw, "fails_when")
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn exposes_port_reads_a_rule_s_protocol_and_range() {
        // given a leaf testing the rule itself for port 22
        let ssh = cond("{op: exposes_port, value: 22}");
        let rule = |proto: &str, from: i64, to: i64| json!({"Protocol": proto, "FromPort": from, "ToPort": to});
        // then TCP or every protocol over a range covering 22 exposes it, nothing else does
        assert!(ssh.holds(&rule("tcp", 22, 22)));
        assert!(ssh.holds(&rule("tcp", 0, 1024)));
        assert!(ssh.holds(&rule("-1", 0, 65535)));
        assert!(!ssh.holds(&rule("udp", 22, 22)));
        assert!(!ssh.holds(&rule("tcp", 23, 80)));
        assert!(!ssh.holds(&json!({"Protocol": "tcp"})));
        // and a port read from the policy's document follows the document
        let own = cond("{path: Rules, any_item: {op: exposes_port, value: {path: Endpoint.Port}}}");
        let doc =
            |port: i64| json!({"Endpoint": {"Port": port}, "Rules": [rule("tcp", 5432, 5432)]});
        assert!(own.holds(&doc(5432)));
        assert!(!own.holds(&doc(3306)));
        assert!(!own.holds(&json!({"Rules": [rule("tcp", 5432, 5432)]})));
        // and a value that is no port is refused
        assert!(compile_error("{op: exposes_port, value: 70000}").contains("0 to 65535"));
        assert!(compile_error("{op: exposes_port, value: ssh}").contains("port"));
    }

    #[test]
    fn admits_world_tcp_applies_the_first_matching_entry_both_ways() {
        let ssh = cond("{op: admits_world_tcp, value: 22}");
        let entry = |n: i64, egress: bool, action: &str, source: &str, from: i64, to: i64| {
            json!({"RuleNumber": n, "Egress": egress, "Protocol": "tcp", "RuleAction": action,
                   "Source": source, "FromPort": from, "ToPort": to})
        };
        let acl = |entries: Vec<Value>| json!({ "Entries": entries });
        let out_all = entry(100, true, "allow", "0.0.0.0/0", 0, 65535);
        // given an ACL allowing 22 in and everything out, then a connection gets through
        assert!(ssh.holds(&acl(vec![
            entry(100, false, "allow", "0.0.0.0/0", 22, 22),
            out_all.clone()
        ])));
        // and a lower-numbered deny decides before a later allow, whatever the order listed
        assert!(!ssh.holds(&acl(vec![
            entry(200, false, "allow", "0.0.0.0/0", 0, 65535),
            entry(100, false, "deny", "0.0.0.0/0", 22, 22),
            out_all.clone(),
        ])));
        // and replies blocked on the way out stop the connection
        assert!(!ssh.holds(&acl(vec![
            entry(100, false, "allow", "0.0.0.0/0", 22, 22),
            entry(100, true, "allow", "0.0.0.0/0", 443, 443),
            entry(200, true, "deny", "0.0.0.0/0", 0, 65535),
        ])));
        // and an IPv6 or narrower entry says nothing about the IPv4 internet
        assert!(!ssh.holds(&acl(vec![
            entry(100, false, "allow", "::/0", 22, 22),
            out_all.clone()
        ])));
        assert!(!ssh.holds(&acl(vec![
            entry(100, false, "allow", "203.0.113.0/24", 22, 22),
            out_all
        ])));
    }

    #[test]
    fn inside_a_related_resource_its_own_account_is_the_account() {
        // given a key policy granting its own account's root, read as a related resource
        let outside = cond(
            "{path: Related.Key, any_item: {path: Policy, op: grants_outside_account, value: []}}",
        );
        let key = |principal: &str| {
            json!({"Related": {"Key": [{
                "ResourceArn": "arn:aws:kms:us-east-1:111122223333:key/k",
                "Policy": {"Statement": [{"Effect": "Allow", "Principal": {"AWS": principal},
                                          "Action": "kms:Decrypt", "Resource": "*"}]}}]}})
        };
        // then the key's own account is not outside it, another account is
        assert!(!outside.holds(&key("arn:aws:iam::111122223333:root")));
        assert!(outside.holds(&key("arn:aws:iam::999988887777:root")));
        // and the evidence names the related resource by its ARN, not its whole configuration
        let evidence = outside.evidence(&key("*"));
        assert_eq!(
            evidence["Related.Key[0].ResourceArn"],
            json!("arn:aws:kms:us-east-1:111122223333:key/k")
        );
        assert!(
            evidence.contains_key("Related.Key[0].Policy"),
            "{evidence:?}"
        );
    }

    #[test]
    fn the_policy_file_reference_documents_every_operator() {
        // given the reference that policy authors read
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies/README.md");
        let reference = std::fs::read_to_string(&path).unwrap();
        // then every operator the compiler accepts is in its operator table
        for op in OPERATORS.split(',').map(str::trim) {
            assert!(
                reference.contains(&format!("`{op}`")),
                "policies/README.md does not document `{op}`"
            );
            // and compiles as documented (with a value unless it takes none)
            let value = match op {
                "exists" | "not_exists" => None,
                "in" | "not_in" => Some(serde_json::json!(["a"])),
                "gt" | "gte" | "lt" | "lte" => Some(serde_json::json!(1)),
                "cidr_contains" => Some(serde_json::json!("10.0.0.0/8")),
                "older_than_days" | "due_within_days" => Some(serde_json::json!(90)),
                "escalates_privilege" | "trusts_services_unscoped" => None,
                "trusts_accounts_outside" | "grants_outside_account" => Some(serde_json::json!([])),
                "exposes_port" | "admits_world_tcp" => Some(serde_json::json!(22)),
                _ => Some(serde_json::json!("a")),
            };
            assert!(compile_op(op, value.as_ref()).is_ok(), "{op}");
        }
    }

    #[test]
    fn a_condition_knows_every_path_it_reads() {
        // Given a condition with leaves, a negation and a nested quantifier
        let c = cond(
            r#"
any:
  - {path: EffectivePublicAccessBlock.IgnorePublicAcls, op: neq, value: true}
  - not: {path: Logging.TargetBucket, op: exists}
  - path: Policy.Statement
    any_item:
      all:
        - {path: Effect, op: eq, value: Allow}
        - {path: Action, any_item: {op: covers, value: "s3:GetObject"}}
"#,
        );
        // When its inputs are derived
        let reads: Vec<String> = c.reads().iter().map(|p| p.to_string()).collect();
        // Then every path is there, quantifier paths joined to their array's
        assert_eq!(
            reads,
            [
                "EffectivePublicAccessBlock.IgnorePublicAcls",
                "Logging.TargetBucket",
                "Policy.Statement.Effect",
                "Policy.Statement.Action",
                "Policy.Statement",
            ]
        );
        // And overlap is a prefix relation either way
        let p = &c.reads()[0];
        assert!(p.overlaps(&["EffectivePublicAccessBlock"]));
        assert!(p.overlaps(&["EffectivePublicAccessBlock", "IgnorePublicAcls"]));
        assert!(p.overlaps(&[]));
        assert!(!p.overlaps(&["EffectivePublicAccessBlock", "BlockPublicAcls"]));
        assert!(!p.overlaps(&["AccountPublicAccessBlock"]));
    }

    #[test]
    fn missing_paths_are_not_equal_to_anything() {
        let c = cond("{path: PublicAccessBlock.BlockPublicAcls, op: neq, value: true}");
        assert!(c.holds(&json!({})));
        assert!(c.holds(&json!({"PublicAccessBlock": null})));
        assert!(c.holds(&json!({"PublicAccessBlock": {"BlockPublicAcls": false}})));
        assert!(!c.holds(&json!({"PublicAccessBlock": {"BlockPublicAcls": true}})));
        let eq = cond("{path: A, op: eq, value: 1}");
        assert!(!eq.holds(&json!({})));
    }

    #[test]
    fn all_any_not_combine() {
        let c = cond(
            "all: [{path: A, op: eq, value: 1}, {any: [{path: B, op: exists}, {not: {path: C, op: lt, value: 3}}]}]",
        );
        assert!(c.holds(&json!({"A": 1, "B": "x"})));
        assert!(c.holds(&json!({"A": 1, "C": 5})));
        assert!(!c.holds(&json!({"A": 1, "C": 2})));
        assert!(!c.holds(&json!({"A": 2, "B": "x"})));
    }

    #[test]
    fn in_not_in_and_comparisons() {
        assert!(cond("{path: P, op: in, value: [READ, FULL_CONTROL]}").holds(&json!({"P": "READ"})));
        assert!(cond("{path: P, op: not_in, value: [READ]}").holds(&json!({})));
        assert!(cond("{path: N, op: gte, value: 14}").holds(&json!({"N": 14})));
        assert!(!cond("{path: N, op: gt, value: 14}").holds(&json!({"N": 14})));
        assert!(cond("{path: N, op: lt, value: 14}").holds(&json!({"N": "8"})));
        assert!(!cond("{path: N, op: lte, value: 14}").holds(&json!({"N": "many"})));
    }

    #[test]
    fn quantifiers_treat_scalars_as_one_item_lists() {
        let c = cond("{path: Action, any_item: {op: covers, value: 's3:GetObject'}}");
        assert!(c.holds(&json!({"Action": "s3:*"})));
        assert!(c.holds(&json!({"Action": ["s3:PutObject", "s3:Get*"]})));
        assert!(!c.holds(&json!({"Action": ["s3:PutObject"]})));
        assert!(!c.holds(&json!({})));
        let all = cond("{path: L, all_items: {op: eq, value: 1}}");
        assert!(all.holds(&json!({"L": []})));
        assert!(!all.holds(&json!({"L": [1, 2]})));
        let none = cond("{path: L, no_item: {op: eq, value: 1}}");
        assert!(none.holds(&json!({"L": [2]})));
        assert!(!none.holds(&json!({"L": [2, 1]})));
    }

    #[test]
    fn nested_quantifiers_reach_into_documents() {
        let public_get = cond(
            r#"
path: Policy.Statement
any_item:
  all:
    - {path: Effect, op: eq, value: Allow}
    - any:
        - {path: Principal, op: eq, value: "*"}
        - {path: Principal.AWS, any_item: {op: eq, value: "*"}}
    - {path: Action, any_item: {op: covers, value: "s3:GetObject"}}
"#,
        );
        let doc = |principal: Value| {
            json!({"Policy": {"Statement": [
                {"Effect": "Deny", "Principal": "*", "Action": "s3:*"},
                {"Effect": "Allow", "Principal": principal, "Action": ["s3:GetObject"]}
            ]}})
        };
        assert!(public_get.holds(&doc(json!("*"))));
        assert!(public_get.holds(&doc(json!({"AWS": ["arn:aws:iam::1:root", "*"]}))));
        assert!(!public_get.holds(&doc(json!({"AWS": "arn:aws:iam::1:root"}))));
    }

    #[test]
    fn string_booleans_equal_booleans() {
        let c = cond("{path: [Condition, Bool, 'aws:SecureTransport'], op: eq, value: false}");
        assert!(c.holds(&json!({"Condition": {"Bool": {"aws:SecureTransport": "false"}}})));
        assert!(c.holds(&json!({"Condition": {"Bool": {"aws:SecureTransport": false}}})));
        assert!(!c.holds(&json!({"Condition": {"Bool": {"aws:SecureTransport": "true"}}})));
    }

    #[test]
    fn cidrs_ports_and_patterns() {
        let world = cond("{path: CidrIp, op: cidr_contains, value: 203.0.113.7}");
        assert!(world.holds(&json!({"CidrIp": "0.0.0.0/0"})));
        assert!(!world.holds(&json!({"CidrIp": "10.0.0.0/8"})));
        let ssh =
            cond("all: [{path: FromPort, op: lte, value: 22}, {path: ToPort, op: gte, value: 22}]");
        assert!(ssh.holds(&json!({"FromPort": 0, "ToPort": 1024})));
        assert!(!ssh.holds(&json!({"FromPort": 80, "ToPort": 80})));
        assert!(cond("{path: N, op: matches, value: '^qrie-'}").holds(&json!({"N": "qrie-x"})));
        assert!(wildcard_covers("s3:*", "S3:GetObject"));
        assert!(wildcard_covers("*", "anything"));
        assert!(wildcard_covers("s3:Get?bject", "s3:GetObject"));
        assert!(!wildcard_covers("s3:Put*", "s3:GetObject"));
    }

    #[test]
    fn evidence_names_the_failing_paths() {
        let c = cond(
            "any: [{path: Versioning.Status, op: neq, value: Enabled}, {path: Other, op: exists}]",
        );
        let config = json!({"Versioning": {"Status": "Suspended"}, "Name": "b"});
        let ev = c.evidence(&config);
        assert_eq!(Value::Object(ev), json!({"Versioning.Status": "Suspended"}));
        assert!(c
            .evidence(&json!({"Versioning": {"Status": "Enabled"}}))
            .is_empty());
        let grants = cond("{path: Acl.Grants, any_item: {path: Permission, op: eq, value: READ}}");
        let ev = grants.evidence(
            &json!({"Acl": {"Grants": [{"Permission": "WRITE"}, {"Permission": "READ"}]}}),
        );
        assert_eq!(
            Value::Object(ev),
            json!({"Acl.Grants[1]": {"Permission": "READ"}})
        );
    }

    #[test]
    fn invalid_conditions_say_what_and_where() {
        assert!(
            compile_error("{path: A, op: equals, value: 1}").contains("unknown operator `equals`")
        );
        assert!(compile_error("{path: A, op: gt, value: x}").contains("needs a number"));
        assert!(
            compile_error("{all: [{path: A, op: in, value: []}]}").contains("fails_when.all[0].op")
        );
        assert!(compile_error("{path: A}").contains("exactly one of"));
        assert!(compile_error("{path: A, op: exists, value: 1}").contains("takes no value"));
        assert!(compile_error("{all: []}").contains("empty list"));
        assert!(compile_error("{path: A, op: matches, value: '('}").contains("invalid regex"));
    }

    fn at(text: &str) -> DateTime<Utc> {
        parse_date(text).unwrap()
    }

    #[test]
    fn older_than_days_compares_a_date_with_the_evaluation_time() {
        // Given a 90-day age rule and an evaluation time
        let c = cond("{path: CreateDate, op: older_than_days, value: 90}");
        let now = at("2026-12-01T00:00:00Z");
        let key = |date: &str| json!({ "CreateDate": date });
        // Then a date 91 days old is older, one 89 days old is not
        assert!(c.holds_at(&key("2026-09-01T00:00:00Z"), now));
        assert!(!c.holds_at(&key("2026-09-03T00:00:00Z"), now));
        // And exactly 90 days is not older than 90 days; one second more is
        assert!(!c.holds_at(&key("2026-09-02T00:00:00Z"), now));
        assert!(c.holds_at(&key("2026-09-01T23:59:59Z"), now));
        // And offsets (the credential report's form) and bare dates are read
        assert!(c.holds_at(&key("2026-09-01T00:00:00+00:00"), now));
        assert!(c.holds_at(&key("2026-09-01"), now));
        // And missing, null and non-dates are never older
        assert!(!c.holds_at(&json!({}), now));
        assert!(!c.holds_at(&json!({"CreateDate": null}), now));
        assert!(!c.holds_at(&key("N/A"), now));
        assert!(!c.holds_at(&key("no_information"), now));
        // And the same configuration judged later becomes old
        let fresh = key("2026-11-30T00:00:00Z");
        assert!(!c.holds_at(&fresh, now));
        assert!(c.holds_at(&fresh, at("2027-03-01T00:00:00Z")));
    }

    #[test]
    fn older_than_days_inside_quantifiers_and_evidence_use_the_same_time() {
        // Given a rule on any active key older than 90 days
        let c = cond(
            r#"
path: AccessKeys
any_item:
  all:
    - {path: Status, op: eq, value: Active}
    - {path: CreateDate, op: older_than_days, value: 90}
"#,
        );
        let config = json!({"AccessKeys": [
            {"Status": "Inactive", "CreateDate": "2020-01-01T00:00:00Z"},
            {"Status": "Active", "CreateDate": "2026-06-01T00:00:00Z"},
        ]});
        // When evaluated at two times
        let early = at("2026-07-01T00:00:00Z");
        let late = at("2026-12-01T00:00:00Z");
        // Then only the late evaluation fails, and its evidence names the active key
        assert!(!c.holds_at(&config, early));
        assert!(c.evidence_at(&config, early).is_empty());
        assert_eq!(
            Value::Object(c.evidence_at(&config, late)),
            json!({"AccessKeys[1]": {"Status": "Active", "CreateDate": "2026-06-01T00:00:00Z"}})
        );
    }

    #[test]
    fn due_within_days_holds_for_a_date_less_than_that_many_days_ahead_or_past() {
        // Given a 90-day expiry rule and an evaluation time
        let c = cond("{path: ValidTill, op: due_within_days, value: 90}");
        let now = at("2026-12-01T00:00:00Z");
        let cert = |date: &str| json!({ "ValidTill": date });
        // Then a date 89 days ahead is due, one 91 days ahead is not
        assert!(c.holds_at(&cert("2027-02-28T00:00:00Z"), now));
        assert!(!c.holds_at(&cert("2027-03-02T00:00:00Z"), now));
        // And exactly 90 days ahead is not within 90 days; one second less is
        assert!(!c.holds_at(&cert("2027-03-01T00:00:00Z"), now));
        assert!(c.holds_at(&cert("2027-02-28T23:59:59Z"), now));
        // And a date already past is due
        assert!(c.holds_at(&cert("2024-08-22T17:08:50Z"), now));
        // And missing, null and non-dates are never due
        assert!(!c.holds_at(&json!({}), now));
        assert!(!c.holds_at(&json!({"ValidTill": null}), now));
        assert!(!c.holds_at(&cert("N/A"), now));
        // And a negative number of days is refused
        assert!(compile_error("{path: D, op: due_within_days, value: -1}").contains("0 or more"));
    }

    #[test]
    fn older_than_days_needs_a_non_negative_number() {
        assert!(
            compile_error("{path: D, op: older_than_days, value: x}").contains("needs a number")
        );
        assert!(compile_error("{path: D, op: older_than_days, value: -1}").contains("0 or more"));
        assert!(compile_error("{path: D, op: older_than_days}").contains("needs a `value`"));
    }
}
