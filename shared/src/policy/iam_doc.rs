//! IAM document analysis for the condition language: what a set of IAM policy documents allows,
//! and who a trust policy lets in, with AWS's semantics rather than string equality.
//!
//! The operators of [`super::cond`] that call this module take the value at their path as a set
//! of documents: a document (an object with `Statement`), or any array or object holding
//! documents, searched to a bounded depth (so `Policies` of a user, with its attached, inline and
//! group documents, is one set). `Statement` may be one statement or a list; `Action`,
//! `NotAction`, `Resource`, `NotResource` a string or a list, as IAM writes them.
//!
//! Patterns are IAM wildcards (`*` any run, `?` one character, case-insensitive). A statement's
//! action patterns *cover* a target pattern when they allow every action the target names
//! (`s3:*` covers `s3:Get*`; the target's wildcards are read as the actions they stand for, so
//! the test is pattern inclusion); an `Allow` with `NotAction` covers the target when none of its
//! exclusions can match an action the target names (pattern overlap).
//!
//! - [`allows`]: the documents allow every action of the target on every resource: some `Allow`
//!   statement covers the target with a `Resource` of `*` (a `NotResource` statement never
//!   covers every resource), and no `Deny` statement without a `Condition` can match one of the
//!   target's actions. Conditions on the `Allow` are ignored (an MFA-conditioned `*` on `*` is
//!   still full administrative access, as Security Hub and Prowler judge it); a conditional
//!   `Deny` does not cancel it (it may not apply to a given request). `allows: "*"` is "allows
//!   `*` on `*`".
//! - [`escalation`]: the first published privilege-escalation combination ([`ESCALATIONS`]) whose
//!   every action some `Allow` statement covers (on any resource) and no unconditional
//!   `Deny` on every resource takes away.
//! - [`trusts_outside`]: some `Allow` statement of a trust policy for an `sts:AssumeRole*`
//!   action names an AWS principal outside the known accounts (`*`, `arn:aws:iam::*:root`, or an
//!   account id or ARN of another account), and has no condition on `sts:ExternalId` or
//!   `aws:PrincipalOrgID`. With no known accounts given, any AWS principal of another account
//!   counts; `*` always does.
//! - [`unscoped_service_trust`]: some `Allow` statement of a trust policy for an
//!   `sts:AssumeRole*` action names a `Service` principal and has no positive condition
//!   (`StringEquals`, `StringLike`, `ArnEquals`, `ArnLike`, with or without `ForAnyValue:` /
//!   `ForAllValues:`, not `...IfExists`) on `aws:SourceAccount`, `aws:SourceArn`,
//!   `aws:SourceOrgID` or `aws:SourceOrgPaths`: the service may assume the role on behalf of any
//!   account (the cross-service confused deputy).

use serde_json::Value;

/// How deep documents are searched for under the value at a path.
const MAX_DEPTH: usize = 8;

/// The published privilege-escalation combinations (Rhino Security Labs' list, as Prowler checks
/// it): each is a name and the actions that, granted together, let a principal raise its own
/// permissions.
pub const ESCALATIONS: &[(&str, &[&str])] = &[
    ("CreatePolicyVersion", &["iam:CreatePolicyVersion"]),
    ("SetDefaultPolicyVersion", &["iam:SetDefaultPolicyVersion"]),
    ("CreateAccessKey", &["iam:CreateAccessKey"]),
    ("CreateLoginProfile", &["iam:CreateLoginProfile"]),
    ("UpdateLoginProfile", &["iam:UpdateLoginProfile"]),
    ("AttachUserPolicy", &["iam:AttachUserPolicy"]),
    ("AttachGroupPolicy", &["iam:AttachGroupPolicy"]),
    (
        "AttachRolePolicy",
        &["iam:AttachRolePolicy", "sts:AssumeRole"],
    ),
    ("PutUserPolicy", &["iam:PutUserPolicy"]),
    ("PutGroupPolicy", &["iam:PutGroupPolicy"]),
    ("PutRolePolicy", &["iam:PutRolePolicy", "sts:AssumeRole"]),
    ("AddUserToGroup", &["iam:AddUserToGroup"]),
    (
        "UpdateAssumeRolePolicy",
        &["iam:UpdateAssumeRolePolicy", "sts:AssumeRole"],
    ),
    ("PassRoleEC2", &["iam:PassRole", "ec2:RunInstances"]),
    (
        "PassRoleLambdaInvoke",
        &[
            "iam:PassRole",
            "lambda:CreateFunction",
            "lambda:InvokeFunction",
        ],
    ),
    (
        "PassRoleLambdaEventSource",
        &[
            "iam:PassRole",
            "lambda:CreateFunction",
            "lambda:CreateEventSourceMapping",
        ],
    ),
    ("UpdateFunctionCode", &["lambda:UpdateFunctionCode"]),
    ("PassRoleGlue", &["iam:PassRole", "glue:CreateDevEndpoint"]),
    ("UpdateDevEndpoint", &["glue:UpdateDevEndpoint"]),
    (
        "PassRoleCloudFormation",
        &["iam:PassRole", "cloudformation:CreateStack"],
    ),
    (
        "PassRoleDataPipeline",
        &[
            "iam:PassRole",
            "datapipeline:CreatePipeline",
            "datapipeline:PutPipelineDefinition",
        ],
    ),
];

/// Calls `f` on every statement of every document under `value`.
fn for_each_statement<'v>(value: &'v Value, depth: usize, f: &mut impl FnMut(&'v Value)) {
    if depth > MAX_DEPTH {
        return;
    }
    match value {
        Value::Object(map) => {
            if let Some(statement) = map.get("Statement") {
                match statement {
                    Value::Array(items) => items.iter().for_each(&mut *f),
                    Value::Object(_) => f(statement),
                    _ => {}
                }
                return;
            }
            for v in map.values() {
                for_each_statement(v, depth + 1, f);
            }
        }
        Value::Array(items) => {
            for v in items {
                for_each_statement(v, depth + 1, f);
            }
        }
        _ => {}
    }
}

/// The strings of a string-or-list field; `None` when the field is absent.
fn strings<'v>(statement: &'v Value, key: &str) -> Option<impl Iterator<Item = &'v str>> {
    let value = statement.get(key)?;
    let items: &'v [Value] = match value {
        Value::Array(items) => items,
        _ => std::slice::from_ref(value),
    };
    Some(items.iter().filter_map(Value::as_str))
}

fn effect_is(statement: &Value, effect: &str) -> bool {
    statement
        .get("Effect")
        .and_then(Value::as_str)
        .is_some_and(|e| e.eq_ignore_ascii_case(effect))
}

fn has_condition(statement: &Value) -> bool {
    statement
        .get("Condition")
        .is_some_and(|c| c.as_object().is_some_and(|m| !m.is_empty()))
}

/// True when the pattern is all `*` (every string), or `*:*` (every action).
fn is_everything(pattern: &str) -> bool {
    let p = pattern.trim_matches('*');
    p.is_empty() || p == ":"
}

/// Whether the pattern `outer` matches every string the pattern `inner` matches (glob inclusion,
/// ASCII case-insensitive). `*` in `inner` is covered only by a `*` in `outer`; `?` in `inner` by
/// `?` or `*`.
pub fn pattern_covers(outer: &str, inner: &str) -> bool {
    match quick(outer, inner) {
        Some(answer) => answer,
        None => covers_dp(outer, inner),
    }
}

fn has_wildcard(s: &str) -> bool {
    s.bytes().any(|b| b == b'*' || b == b'?')
}

/// True when the two patterns begin with different literal characters (ASCII case-insensitive):
/// every string of one then starts differently from every string of the other, so neither
/// covers nor overlaps the other. Most pairs an analysis tests (`s3:Get*` against
/// `iam:PassRole`) are settled here, without reading further.
fn literal_heads_differ(p: &str, q: &str) -> bool {
    match (p.as_bytes().first(), q.as_bytes().first()) {
        (Some(&a), Some(&b)) => {
            a != b'*' && a != b'?' && b != b'*' && b != b'?' && !a.eq_ignore_ascii_case(&b)
        }
        _ => false,
    }
}

/// The common shapes answered without the general search (which is what they reduce to):
/// `outer` all stars covers everything; two literals cover each other when equal; a literal is
/// covered by `prefix*` when it starts with the prefix. `None` for everything else.
fn quick(outer: &str, inner: &str) -> Option<bool> {
    if !outer.is_empty() && outer.bytes().all(|b| b == b'*') {
        return Some(true);
    }
    if literal_heads_differ(outer, inner) {
        return Some(false);
    }
    if has_wildcard(inner) {
        return None;
    }
    if !has_wildcard(outer) {
        return Some(outer.eq_ignore_ascii_case(inner));
    }
    let prefix = outer.strip_suffix('*')?;
    if has_wildcard(prefix) {
        return None;
    }
    Some(
        inner.len() >= prefix.len()
            && inner.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes()),
    )
}

fn covers_dp(outer: &str, inner: &str) -> bool {
    let o = outer.as_bytes();
    let i = inner.as_bytes();
    // dp over positions: reach[a][b] = outer[..a] can consume inner[..b]. Small inputs.
    let mut reach = vec![vec![false; i.len() + 1]; o.len() + 1];
    reach[0][0] = true;
    for a in 0..=o.len() {
        for b in 0..=i.len() {
            if !reach[a][b] {
                continue;
            }
            if a < o.len() && o[a] == b'*' {
                // the star matches nothing, or one more element of inner (a char, `?` or `*`)
                reach[a + 1][b] = true;
                if b < i.len() {
                    reach[a][b + 1] = true;
                }
            }
            if a < o.len() && b < i.len() {
                let (x, y) = (o[a], i[b]);
                let step = match x {
                    b'*' => false,
                    b'?' => y != b'*',
                    _ => y != b'*' && y != b'?' && x.eq_ignore_ascii_case(&y),
                };
                if step {
                    reach[a + 1][b + 1] = true;
                }
            }
        }
    }
    reach[o.len()][i.len()]
}

/// Whether some string matches both patterns (ASCII case-insensitive).
pub fn patterns_overlap(p: &str, q: &str) -> bool {
    if literal_heads_differ(p, q) {
        return false;
    }
    // A literal overlaps a pattern exactly when the pattern covers it.
    if !has_wildcard(q) {
        if let Some(answer) = quick(p, q) {
            return answer;
        }
    } else if !has_wildcard(p) {
        if let Some(answer) = quick(q, p) {
            return answer;
        }
    }
    overlap_dp(p, q)
}

fn overlap_dp(p: &str, q: &str) -> bool {
    let p = p.as_bytes();
    let q = q.as_bytes();
    let mut reach = vec![vec![false; q.len() + 1]; p.len() + 1];
    reach[0][0] = true;
    for a in 0..=p.len() {
        for b in 0..=q.len() {
            if !reach[a][b] {
                continue;
            }
            if a < p.len() && p[a] == b'*' {
                reach[a + 1][b] = true;
                if b < q.len() {
                    reach[a][b + 1] = true;
                }
            }
            if b < q.len() && q[b] == b'*' {
                reach[a][b + 1] = true;
                if a < p.len() {
                    reach[a + 1][b] = true;
                }
            }
            if a < p.len() && b < q.len() {
                let (x, y) = (p[a], q[b]);
                if x == b'?' || y == b'?' || x.eq_ignore_ascii_case(&y) {
                    reach[a + 1][b + 1] = true;
                }
            }
        }
    }
    reach[p.len()][q.len()]
}

/// Whether an `Allow` statement's actions cover every action of `target`.
fn allow_covers(statement: &Value, target: &str) -> bool {
    if let Some(mut actions) = strings(statement, "Action") {
        // `*:*` names every action as `*` does (every action has a colon).
        return actions
            .any(|a| pattern_covers(a, target) || (is_everything(target) && is_everything(a)));
    }
    if let Some(mut excluded) = strings(statement, "NotAction") {
        return !excluded.any(|e| patterns_overlap(e, target));
    }
    false
}

/// Whether a statement's actions can match one of `target`'s actions.
fn actions_touch(statement: &Value, target: &str) -> bool {
    if let Some(mut actions) = strings(statement, "Action") {
        return actions.any(|a| patterns_overlap(a, target));
    }
    if let Some(mut excluded) = strings(statement, "NotAction") {
        // All but the excluded actions: it touches the target unless the exclusions cover it.
        return !excluded.any(|e| pattern_covers(e, target));
    }
    false
}

fn resource_is_everything(statement: &Value) -> bool {
    strings(statement, "Resource").is_some_and(|mut r| r.any(is_everything))
}

fn names_some_resource(statement: &Value) -> bool {
    strings(statement, "Resource").is_some_and(|mut r| r.next().is_some())
        || statement.get("NotResource").is_some()
}

/// The documents under `value` allow every action of `target` on every resource (see the module
/// documentation).
pub fn allows(value: &Value, target: &str) -> bool {
    let mut allowed = false;
    let mut denied = false;
    for_each_statement(value, 0, &mut |s| {
        if effect_is(s, "Allow") {
            if !allowed && resource_is_everything(s) && allow_covers(s, target) {
                allowed = true;
            }
        } else if effect_is(s, "Deny")
            && !denied
            && !has_condition(s)
            && names_some_resource(s)
            && actions_touch(s, target)
        {
            denied = true;
        }
    });
    allowed && !denied
}

/// A statement's fields as [`escalation`] reads them, looked up once per statement rather
/// than once per action of every combination.
struct Grant<'v> {
    allow: bool,
    /// A `Deny` without a `Condition`, on every resource: what takes a grant away.
    blanket_deny: bool,
    /// `Action` as a list (a scalar as a one-item list), when present.
    actions: Option<&'v [Value]>,
    /// `NotAction`, read only when `Action` is absent.
    not_actions: Option<&'v [Value]>,
}

fn as_list(value: &Value) -> &[Value] {
    match value {
        Value::Array(items) => items,
        _ => std::slice::from_ref(value),
    }
}

impl<'v> Grant<'v> {
    fn read(statement: &'v Value) -> Self {
        let actions = statement.get("Action").map(as_list);
        Grant {
            allow: effect_is(statement, "Allow"),
            blanket_deny: effect_is(statement, "Deny")
                && !has_condition(statement)
                && resource_is_everything(statement),
            actions,
            not_actions: match actions {
                Some(_) => None,
                None => statement.get("NotAction").map(as_list),
            },
        }
    }

    /// An `Allow`'s actions cover `action` (`*:*` naming every action as `*` does).
    fn covers(&self, action: &str) -> bool {
        let texts = |items: &'v [Value]| items.iter().filter_map(Value::as_str);
        if let Some(actions) = self.actions {
            return texts(actions)
                .any(|a| pattern_covers(a, action) || (is_everything(action) && is_everything(a)));
        }
        if let Some(excluded) = self.not_actions {
            return !texts(excluded).any(|e| patterns_overlap(e, action));
        }
        false
    }

    /// A `Deny`'s actions cover `action` (without the `*:*` reading an `Allow` gets).
    fn deny_covers(&self, action: &str) -> bool {
        if let Some(actions) = self.actions {
            return actions
                .iter()
                .filter_map(Value::as_str)
                .any(|a| pattern_covers(a, action));
        }
        if let Some(excluded) = self.not_actions {
            return !excluded
                .iter()
                .filter_map(Value::as_str)
                .any(|e| patterns_overlap(e, action));
        }
        false
    }
}

/// Whether the documents grant `action` on some resource and no unconditional `Deny` on every
/// resource takes it away.
fn grants_action(statements: &[Grant<'_>], action: &str) -> bool {
    statements.iter().any(|s| s.allow && s.covers(action))
        && !statements
            .iter()
            .any(|s| s.blanket_deny && s.deny_covers(action))
}

/// The name of the first privilege-escalation combination the documents under `value` grant.
pub fn escalation(value: &Value) -> Option<&'static str> {
    let mut statements = Vec::new();
    for_each_statement(value, 0, &mut |s| statements.push(Grant::read(s)));
    if statements.is_empty() {
        return None;
    }
    ESCALATIONS
        .iter()
        .find(|(_, actions)| actions.iter().all(|a| grants_action(&statements, a)))
        .map(|(name, _)| *name)
}

/// The condition keys (any operator) that scope a cross-account trust to a known party.
const SCOPING_KEYS: [&str; 2] = ["sts:ExternalId", "aws:PrincipalOrgID"];

fn scoped(statement: &Value) -> bool {
    let Some(Value::Object(operators)) = statement.get("Condition") else {
        return false;
    };
    operators.values().any(|keys| {
        keys.as_object().is_some_and(|keys| {
            keys.keys()
                .any(|k| SCOPING_KEYS.iter().any(|s| k.eq_ignore_ascii_case(s)))
        })
    })
}

/// The account of an AWS principal (`123456789012`, `arn:aws:iam::123456789012:root`, a role or
/// user ARN); `None` for `*` and any account wildcard.
fn principal_account(principal: &str) -> Option<&str> {
    let account = if principal.starts_with("arn:") {
        principal.split(':').nth(4)?
    } else {
        principal
    };
    (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())).then_some(account)
}

/// The AWS principals of a statement (`Principal: "*"` counts as `*`).
fn aws_principals(statement: &Value) -> Vec<&str> {
    match statement.get("Principal") {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Object(map)) => match map.get("AWS") {
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
            Some(Value::String(s)) => vec![s.as_str()],
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}

/// Some `Allow` statement of the trust policy under `value` lets an AWS principal outside
/// `known` accounts assume the role without an `sts:ExternalId` or `aws:PrincipalOrgID`
/// condition. Returns the first such principal.
pub fn trusts_outside<'v>(value: &'v Value, known: &[&str]) -> Option<&'v str> {
    let mut found = None;
    for_each_statement(value, 0, &mut |s| {
        if found.is_some() || !effect_is(s, "Allow") || scoped(s) {
            return;
        }
        if !strings(s, "Action")
            .is_some_and(|mut a| a.any(|a| patterns_overlap(a, "sts:AssumeRole*")))
        {
            return;
        }
        found = aws_principals(s)
            .into_iter()
            .find(|p| match principal_account(p) {
                Some(account) => !known.contains(&account),
                None => true,
            });
    });
    found
}

/// The condition keys that tie a service's use of a role to the calling account or organisation.
const SOURCE_KEYS: [&str; 4] = [
    "aws:SourceAccount",
    "aws:SourceArn",
    "aws:SourceOrgID",
    "aws:SourceOrgPaths",
];

/// Whether a condition operator, as a trust policy writes it, requires the key to match (the
/// negated, `Null` and `...IfExists` forms let a request without the key through).
fn positive_operator(operator: &str) -> bool {
    let base = operator
        .strip_prefix("ForAnyValue:")
        .or_else(|| operator.strip_prefix("ForAllValues:"))
        .unwrap_or(operator);
    [
        "StringEquals",
        "StringLike",
        "ArnEquals",
        "ArnLike",
        "StringEqualsIgnoreCase",
    ]
    .iter()
    .any(|o| base.eq_ignore_ascii_case(o))
}

fn source_scoped(statement: &Value) -> bool {
    let Some(Value::Object(operators)) = statement.get("Condition") else {
        return false;
    };
    operators.iter().any(|(operator, keys)| {
        positive_operator(operator)
            && keys.as_object().is_some_and(|keys| {
                keys.keys()
                    .any(|k| SOURCE_KEYS.iter().any(|s| k.eq_ignore_ascii_case(s)))
            })
    })
}

/// The service principals of a statement.
fn service_principals(statement: &Value) -> Vec<&str> {
    match statement.get("Principal").and_then(|p| p.get("Service")) {
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        Some(Value::String(s)) => vec![s.as_str()],
        _ => Vec::new(),
    }
}

/// Some `Allow` statement of the trust policy under `value` lets a service assume the role
/// without a condition tying it to a source account, ARN or organisation. Returns the first
/// such service.
pub fn unscoped_service_trust(value: &Value) -> Option<&str> {
    let mut found = None;
    for_each_statement(value, 0, &mut |s| {
        if found.is_some() || !effect_is(s, "Allow") || source_scoped(s) {
            return;
        }
        if !strings(s, "Action")
            .is_some_and(|mut a| a.any(|a| patterns_overlap(a, "sts:AssumeRole*")))
        {
            return;
        }
        found = service_principals(s).into_iter().next();
    });
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(statements: Value) -> Value {
        json!({"Version": "2012-10-17", "Statement": statements})
    }

    #[test]
    fn star_on_star_is_admin_whatever_the_shape() {
        // given the shapes AWS accepts for the same grant
        for statement in [
            json!({"Effect": "Allow", "Action": "*", "Resource": "*"}),
            json!({"Effect": "Allow", "Action": ["s3:GetObject", "*"], "Resource": ["*"]}),
            json!({"Effect": "Allow", "Action": "*:*", "Resource": "*"}),
            json!({"Effect": "allow", "Action": "**", "Resource": "*",
                   "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}}}),
        ] {
            // then each allows * on *, as a single statement or in a list
            assert!(allows(&doc(statement.clone()), "*"), "{statement}");
            assert!(allows(&doc(json!([statement])), "*"));
        }
    }

    #[test]
    fn not_action_not_resource_and_partial_grants_are_not_admin() {
        for statement in [
            // all but IAM
            json!({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}),
            // everything on all but one bucket
            json!({"Effect": "Allow", "Action": "*", "NotResource": "arn:aws:s3:::b"}),
            json!({"Effect": "Allow", "Action": "*", "Resource": "arn:aws:s3:::b/*"}),
            json!({"Effect": "Allow", "Action": "s3:*", "Resource": "*"}),
            json!({"Effect": "Allow", "Action": "s*", "Resource": "*"}),
        ] {
            assert!(!allows(&doc(json!([statement])), "*"), "{statement}");
        }
        // but a NotAction whose exclusion names no real action pattern of the target still covers
        // a narrower target
        let all_but_iam = doc(json!({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}));
        assert!(allows(&all_but_iam, "kms:*"));
        assert!(!allows(&all_but_iam, "iam:Create*"));
    }

    #[test]
    fn an_unconditional_deny_cancels_admin_and_a_conditional_one_does_not() {
        let admin = json!({"Effect": "Allow", "Action": "*", "Resource": "*"});
        // given an explicit deny of one action on one resource
        let deny =
            json!({"Effect": "Deny", "Action": "s3:DeleteBucket", "Resource": "arn:aws:s3:::prod"});
        assert!(!allows(&doc(json!([admin.clone(), deny])), "*"));
        // and a deny of everything outside one region, conditional
        let conditional = json!({"Effect": "Deny", "NotAction": "iam:*", "Resource": "*",
            "Condition": {"StringNotEquals": {"aws:RequestedRegion": "eu-west-1"}}});
        assert!(allows(&doc(json!([admin.clone(), conditional])), "*"));
        // and a deny in another document of the same set (a group's)
        let set = json!({"Attached": [{"Document": doc(json!([admin]))}],
                         "Groups": [{"Inline": [{"Document": doc(json!({"Effect": "Deny", "Action": "kms:*", "Resource": "*"}))}]}]});
        assert!(!allows(&set, "*"));
        assert!(allows(&set, "s3:*"));
        assert!(!allows(&set, "kms:Decrypt"));
    }

    #[test]
    fn service_wide_grants_need_inclusion_not_equality() {
        let d = doc(json!([{"Effect": "Allow", "Action": ["kms:*"], "Resource": "*"}]));
        assert!(allows(&d, "kms:*"));
        assert!(allows(&d, "KMS:Decrypt"));
        assert!(!allows(&d, "cloudtrail:*"));
        // a wildcard in the middle of an action
        let mid = doc(json!({"Effect": "Allow", "Action": "cloudtrail:*Trail*", "Resource": "*"}));
        assert!(allows(&mid, "cloudtrail:DeleteTrail"));
        assert!(!allows(&mid, "cloudtrail:*"));
        assert!(pattern_covers("s3:Get*", "s3:GetObject?"));
        assert!(!pattern_covers("s3:Get?", "s3:Get*"));
        assert!(patterns_overlap("iam:*", "*"));
        assert!(patterns_overlap("iam:Put*", "*Policy"));
        assert!(!patterns_overlap("iam:Put*", "s3:*"));
    }

    #[test]
    fn escalation_combinations_need_every_action() {
        // given PassRole alone, then with lambda create and invoke
        let pass = json!({"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*"});
        let create = json!({"Effect": "Allow", "Action": ["lambda:CreateFunction", "lambda:Invoke*"], "Resource": "*"});
        assert_eq!(escalation(&doc(json!([pass.clone()]))), None);
        assert_eq!(
            escalation(&doc(json!([pass.clone(), create.clone()]))),
            Some("PassRoleLambdaInvoke")
        );
        // and across documents of one set
        let set = json!([doc(json!([pass])), doc(json!([create]))]);
        assert_eq!(escalation(&set), Some("PassRoleLambdaInvoke"));
        // and iam:* grants the first single-action combination
        let iam_all = doc(json!({"Effect": "Allow", "Action": "iam:*", "Resource": "*"}));
        assert_eq!(escalation(&iam_all), Some("CreatePolicyVersion"));
        // and an unconditional deny on every resource takes one away
        let denied = doc(json!([
            {"Effect": "Allow", "Action": "iam:CreatePolicyVersion", "Resource": "*"},
            {"Effect": "Deny", "Action": "iam:CreatePolicy*", "Resource": "*"}
        ]));
        assert_eq!(escalation(&denied), None);
        // and read-only access grants none
        let read =
            doc(json!({"Effect": "Allow", "Action": ["iam:Get*", "iam:List*"], "Resource": "*"}));
        assert_eq!(escalation(&read), None);
    }

    #[test]
    fn trust_open_to_anyone_or_outsiders_without_external_id() {
        let trust = |principal: Value, condition: Value| {
            let mut s =
                json!({"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"});
            if !condition.is_null() {
                s["Condition"] = condition;
            }
            doc(json!([s]))
        };
        let own = ["111122223333"];
        // anyone
        assert_eq!(
            trusts_outside(&trust(json!("*"), Value::Null), &own),
            Some("*")
        );
        assert_eq!(
            trusts_outside(
                &trust(
                    json!({"AWS": ["arn:aws:iam::111122223333:root", "*"]}),
                    Value::Null
                ),
                &own
            ),
            Some("*")
        );
        // another account, without and with an ExternalId or org condition
        let other = json!({"AWS": "arn:aws:iam::999988887777:root"});
        assert_eq!(
            trusts_outside(&trust(other.clone(), Value::Null), &own),
            Some("arn:aws:iam::999988887777:root")
        );
        let ext = json!({"StringEquals": {"sts:ExternalId": "x"}});
        assert_eq!(trusts_outside(&trust(other.clone(), ext), &own), None);
        let org = json!({"StringEquals": {"aws:PrincipalOrgID": "o-1"}});
        assert_eq!(trusts_outside(&trust(other.clone(), org), &own), None);
        // a known account, the role's own, a service
        assert_eq!(
            trusts_outside(&trust(other, Value::Null), &["999988887777"]),
            None
        );
        assert_eq!(
            trusts_outside(&trust(json!({"AWS": "111122223333"}), Value::Null), &own),
            None
        );
        assert_eq!(
            trusts_outside(
                &trust(json!({"Service": "lambda.amazonaws.com"}), Value::Null),
                &own
            ),
            None
        );
        // a wildcard account
        assert!(trusts_outside(
            &trust(json!({"AWS": "arn:aws:iam::*:root"}), Value::Null),
            &own
        )
        .is_some());
    }

    #[test]
    fn a_service_trust_without_a_source_condition_is_a_confused_deputy() {
        let lambda = json!({"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                            "Action": "sts:AssumeRole"});
        // given a service trust with no condition
        assert_eq!(
            unscoped_service_trust(&doc(json!([lambda.clone()]))),
            Some("lambda.amazonaws.com")
        );
        // then a source account or ARN condition scopes it, whatever the case or list shape
        let mut scoped = lambda.clone();
        scoped["Condition"] = json!({"StringEquals": {"aws:sourceaccount": "111122223333"}});
        assert_eq!(unscoped_service_trust(&doc(json!(scoped))), None);
        let mut by_arn = lambda.clone();
        by_arn["Condition"] =
            json!({"ArnLike": {"aws:SourceArn": "arn:aws:lambda:*:111122223333:function:*"}});
        assert_eq!(unscoped_service_trust(&doc(json!([by_arn]))), None);
        // but a negated or IfExists condition does not
        for operator in ["StringNotEquals", "StringEqualsIfExists", "Null"] {
            let mut weak = lambda.clone();
            weak["Condition"] = json!({operator: {"aws:SourceAccount": "111122223333"}});
            assert!(
                unscoped_service_trust(&doc(json!([weak]))).is_some(),
                "{operator}"
            );
        }
        // and an AWS principal or a Deny is not a service trust
        let account = json!({"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::444455556666:root"},
                             "Action": "sts:AssumeRole"});
        assert_eq!(unscoped_service_trust(&doc(json!([account]))), None);
        let deny = json!({"Effect": "Deny", "Principal": {"Service": ["ec2.amazonaws.com"]},
                          "Action": "sts:AssumeRole"});
        assert_eq!(unscoped_service_trust(&doc(json!([deny]))), None);
    }

    #[test]
    fn the_quick_answers_agree_with_the_general_search() {
        let patterns = [
            "*",
            "**",
            "*:*",
            "s3:*",
            "s3:Get*",
            "S3:GETOBJECT",
            "s3:GetObject",
            "s3:Get?bject",
            "s3:*Object",
            "iam:PassRole",
            "iam:Pass*",
            "iam:*Role*",
            "",
            "s3:",
            "kms:*",
            "?",
            "ec2:Describe*",
            "e*",
            "iam:?ass*",
            "*Role",
            "?am:PassRole",
        ];
        for outer in patterns {
            for inner in patterns {
                assert_eq!(
                    pattern_covers(outer, inner),
                    covers_dp(outer, inner),
                    "covers {outer:?} {inner:?}"
                );
                assert_eq!(
                    patterns_overlap(outer, inner),
                    overlap_dp(outer, inner),
                    "overlap {outer:?} {inner:?}"
                );
            }
        }
    }
}
