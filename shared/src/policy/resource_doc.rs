//! Resource-policy principal analysis for the condition language: whether a resource policy (a
//! bucket policy, an access point policy) lets a principal outside the resource's own account,
//! and outside a list of trusted accounts, in, with IAM's evaluation rather than string equality.
//!
//! [`grants_outside`] takes the policy document (`Statement` one statement or a list) and the
//! known accounts (the resource's own and the trusted ones). It answers the first account scope
//! an `Allow` statement reaches beyond them, once every restriction is applied:
//!
//! - **Principals.** `"*"`, `{"AWS": "*"}` and any `NotPrincipal` (everyone but the named) reach
//!   every account, anonymous callers included. `{"AWS": [...]}` reaches the accounts of its
//!   entries (an account id, `arn:aws:iam::<account>:root`, a user or role ARN; an ARN whose
//!   account is not a 12-digit id, such as a CloudFront origin access identity's
//!   `arn:aws:iam::cloudfront:user/...`, is an identity of no known account and counts as
//!   outside). `Federated` entries count by the account of their ARN (a provider name such as
//!   `cognito-identity.amazonaws.com` is outside); `CanonicalUser` ids name no account and count
//!   as outside. `Service` principals are AWS services, not accounts, and are not counted (which
//!   account's resource a service acts for is the confused-deputy question, not this one).
//! - **Restricting conditions of the `Allow`.** Every condition of a statement must hold, so each
//!   of these narrows the accounts it reaches (intersection): `aws:PrincipalAccount`,
//!   `aws:SourceAccount` (an account id or pattern) and `aws:PrincipalArn` (the account of each
//!   ARN or ARN pattern) under `StringEquals`, `StringLike`, `ArnEquals`, `ArnLike` (or their
//!   `ForAnyValue:` forms); `aws:PrincipalOrgID` under the same operators confines it to the
//!   organisation, which counts as known. A value with a wildcard in the account reaches every
//!   account it can match. The `...IfExists` forms, `ForAllValues:` (true when the key is
//!   absent), negated operators and `Null` do not restrict: an anonymous caller has no principal
//!   account, and a direct caller no source account.
//! - **`Deny` statements** take away what they certainly remove for every action and resource
//!   of the `Allow` (their `Action` covers its actions, `s3:*` or `*` for a `NotAction` allow;
//!   their `Resource` covers its resources; a `NotResource` deny is not relied on): an
//!   unconditional deny to `"*"` removes everything; an unconditional deny to listed accounts
//!   removes those accounts; a deny to `"*"` whose only conditions are negated restrictions
//!   (`StringNotEquals`, `StringNotLike`, `ArnNotEquals`, `ArnNotLike`, with or without
//!   `IfExists`, on the keys above; true when the key is absent, so anonymous callers are denied
//!   too) confines every allow to the accounts the values name (the organisation for
//!   `aws:PrincipalOrgID`); an unconditional deny with `NotPrincipal` confines it to the
//!   accounts of the principals it spares. A deny with any other condition may not apply to a
//!   request and takes nothing away.
//!
//! What the function returns is the evidence: `*` for every account, or the first outside
//! account id, principal or pattern.

use serde_json::Value;

use super::iam_doc::{pattern_covers, patterns_overlap};

/// The condition keys that confine the accounts a statement reaches.
const ACCOUNT_KEYS: [&str; 3] = [
    "aws:PrincipalAccount",
    "aws:SourceAccount",
    "aws:PrincipalArn",
];
/// The key that confines a statement to the principal's organisation.
const ORG_KEY: &str = "aws:PrincipalOrgID";
/// Operators under which the listed values are the only ones allowed.
const RESTRICTING: [&str; 4] = ["StringEquals", "StringLike", "ArnEquals", "ArnLike"];
/// Operators under which the listed values are the only ones not denied.
const NEGATED: [&str; 4] = [
    "StringNotEquals",
    "StringNotLike",
    "ArnNotEquals",
    "ArnNotLike",
];

/// The accounts a statement reaches.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Reach {
    /// Every account, and anonymous callers.
    All,
    /// Accounts matching these patterns (an account id, or a wildcard pattern over ids; an
    /// identity of no known account is kept as written, and is outside every known account).
    Some(Vec<String>),
    /// Members of the organisation only.
    Organisation,
}

impl Reach {
    fn intersect(self, other: Reach) -> Reach {
        match (self, other) {
            (Reach::All, x) | (x, Reach::All) => x,
            // The organisation's members are known; narrowing them stays known.
            (Reach::Organisation, _) | (_, Reach::Organisation) => Reach::Organisation,
            (Reach::Some(a), Reach::Some(b)) => Reach::Some(
                a.into_iter()
                    .filter(|p| b.iter().any(|q| patterns_overlap(p, q)))
                    .collect(),
            ),
        }
    }

    /// Removes the accounts an unconditional deny names exactly.
    fn without(self, denied: &[String]) -> Reach {
        match self {
            Reach::Some(items) => Reach::Some(
                items
                    .into_iter()
                    .filter(|p| !denied.iter().any(|d| pattern_covers(d, p)))
                    .collect(),
            ),
            other => other,
        }
    }

    /// The first part of the reach outside `known`.
    fn outside(&self, known: &[&str]) -> Option<String> {
        match self {
            Reach::All => Some("*".into()),
            Reach::Organisation => None,
            Reach::Some(items) => items
                .iter()
                .find(|p| !(is_account_id(p) && known.contains(&p.as_str())))
                .cloned(),
        }
    }
}

fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// The strings of a string-or-list value.
fn strings(value: Option<&Value>) -> Vec<&str> {
    match value {
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        Some(Value::String(s)) => vec![s.as_str()],
        _ => Vec::new(),
    }
}

fn effect_is(statement: &Value, effect: &str) -> bool {
    statement
        .get("Effect")
        .and_then(Value::as_str)
        .is_some_and(|e| e.eq_ignore_ascii_case(effect))
}

/// The account (or account pattern) of a principal entry: an id, or the account field of an ARN;
/// the entry itself when it names no account (an identity of no known account).
fn principal_account(entry: &str) -> String {
    if entry == "*" {
        return "*".into();
    }
    match entry.strip_prefix("arn:") {
        Some(_) => entry.split(':').nth(4).unwrap_or(entry).to_owned(),
        None => entry.to_owned(),
    }
}

/// The account pattern an ARN or ARN pattern names (`*` when its account field is a wildcard or
/// is missing because the pattern ends in one).
fn arn_account(value: &str) -> String {
    let mut fields = value.split(':');
    match fields.nth(4) {
        Some(account) if !account.is_empty() => account.to_owned(),
        _ if value.contains('*') => "*".into(),
        _ => value.to_owned(),
    }
}

/// Who a statement's `Principal` (or `NotPrincipal`) names, by account.
fn principal_reach(statement: &Value) -> Option<Reach> {
    if statement.get("NotPrincipal").is_some() {
        return Some(Reach::All);
    }
    match statement.get("Principal")? {
        Value::String(s) if s == "*" => Some(Reach::All),
        Value::Object(map) => {
            let mut accounts = Vec::new();
            for (kind, entries) in map {
                match kind.as_str() {
                    "AWS" | "Federated" => {
                        for entry in strings(Some(entries)) {
                            if entry == "*" {
                                return Some(Reach::All);
                            }
                            accounts.push(principal_account(entry));
                        }
                    }
                    "CanonicalUser" => {
                        accounts.extend(
                            strings(Some(entries))
                                .iter()
                                .map(|c| format!("canonical:{c}")),
                        );
                    }
                    // AWS services are not accounts.
                    _ => {}
                }
            }
            Some(Reach::Some(accounts))
        }
        // An unknown shape: IAM would refuse the document; nothing is granted.
        _ => None,
    }
}

/// The operator of a condition block, without its `ForAnyValue:` qualifier, and whether it is
/// an `IfExists` form; `None` for `ForAllValues:` (true when the key is absent).
fn base_operator(op: &str) -> Option<(&str, bool)> {
    let op = if let Some(rest) = op.strip_prefix("ForAnyValue:") {
        rest
    } else if op.starts_with("ForAllValues:") {
        return None;
    } else {
        op
    };
    Some(match op.strip_suffix("IfExists") {
        Some(base) => (base, true),
        None => (op, false),
    })
}

/// The reach a condition value confines a key to.
fn key_reach(key: &str, values: &Value) -> Option<Reach> {
    if key.eq_ignore_ascii_case(ORG_KEY) {
        return Some(Reach::Organisation);
    }
    let key = ACCOUNT_KEYS.iter().find(|k| k.eq_ignore_ascii_case(key))?;
    let values = strings(Some(values));
    let accounts = if *key == "aws:PrincipalArn" {
        values.iter().map(|v| arn_account(v)).collect()
    } else {
        values.iter().map(|v| (*v).to_owned()).collect()
    };
    Some(Reach::Some(accounts))
}

/// The conditions of a statement as (operator, key, values).
fn conditions(statement: &Value) -> Vec<(&str, &str, &Value)> {
    let mut out = Vec::new();
    if let Some(Value::Object(blocks)) = statement.get("Condition") {
        for (op, keys) in blocks {
            if let Value::Object(keys) = keys {
                for (key, values) in keys {
                    out.push((op.as_str(), key.as_str(), values));
                }
            }
        }
    }
    out
}

/// The reach an `Allow` statement's own conditions leave of `reach`.
fn allow_reach(statement: &Value, mut reach: Reach) -> Reach {
    for (op, key, values) in conditions(statement) {
        let Some((base, if_exists)) = base_operator(op) else {
            continue;
        };
        if if_exists || !RESTRICTING.contains(&base) {
            continue;
        }
        if let Some(confined) = key_reach(key, values) {
            reach = reach.intersect(confined);
        }
    }
    reach
}

/// Whether the deny statement applies to every action and resource the allow statement names.
fn deny_covers(deny: &Value, allow: &Value) -> bool {
    let deny_actions = strings(deny.get("Action"));
    if deny.get("NotAction").is_some() || deny_actions.is_empty() {
        return false;
    }
    let actions_covered = match allow.get("Action") {
        Some(actions) => strings(Some(actions))
            .iter()
            .all(|a| deny_actions.iter().any(|d| pattern_covers(d, a))),
        // A NotAction allow may name any action of the service.
        None => deny_actions
            .iter()
            .any(|d| pattern_covers(d, "s3:*") || pattern_covers(d, "*")),
    };
    let deny_resources = strings(deny.get("Resource"));
    if deny.get("NotResource").is_some() || deny_resources.is_empty() {
        return false;
    }
    let resources_covered = match allow.get("Resource") {
        Some(resources) => strings(Some(resources))
            .iter()
            .all(|r| deny_resources.iter().any(|d| pattern_covers(d, r))),
        None => deny_resources.contains(&"*"),
    };
    actions_covered && resources_covered
}

/// What a deny statement takes away from an allow statement's reach.
fn apply_deny(deny: &Value, allow: &Value, reach: Reach) -> Reach {
    if !deny_covers(deny, allow) {
        return reach;
    }
    let conds = conditions(deny);
    if deny.get("NotPrincipal").is_some() {
        if !conds.is_empty() {
            return reach;
        }
        // Everyone but the spared principals is denied.
        return match principal_reach(&serde_json::json!({"Principal": deny["NotPrincipal"]})) {
            Some(spared @ Reach::Some(_)) => reach.intersect(spared),
            _ => reach,
        };
    }
    let Some(denied) = principal_reach(deny) else {
        return reach;
    };
    if conds.is_empty() {
        return match denied {
            Reach::All => Reach::Some(Vec::new()),
            Reach::Some(accounts) => reach.without(&accounts),
            Reach::Organisation => reach,
        };
    }
    if denied != Reach::All {
        return reach;
    }
    // A deny to everyone whose one condition is a negated restriction (`StringNotEquals
    // aws:PrincipalOrgID`, say) spares exactly the values it lists, so every allow is confined to
    // them. With more conditions the deny applies only when all hold, and one that is not such
    // a restriction may not hold: such a deny is not relied on.
    match conds.as_slice() {
        [(op, key, values)] => {
            let negated = base_operator(op).is_some_and(|(base, _)| NEGATED.contains(&base));
            match key_reach(key, values) {
                Some(spared) if negated => reach.intersect(spared),
                _ => reach,
            }
        }
        _ => reach,
    }
}

/// The first account scope outside `known` that some `Allow` statement of the policy `doc`
/// reaches after its own conditions and every `Deny` statement (see the module documentation):
/// `*` for every account, else the account id, identity or pattern.
pub fn grants_outside(doc: &Value, known: &[&str]) -> Option<String> {
    let statements: Vec<&Value> = match doc.get("Statement") {
        Some(Value::Array(items)) => items.iter().collect(),
        Some(single @ Value::Object(_)) => vec![single],
        _ => return None,
    };
    let denies: Vec<&Value> = statements
        .iter()
        .copied()
        .filter(|s| effect_is(s, "Deny"))
        .collect();
    statements
        .iter()
        .filter(|s| effect_is(s, "Allow"))
        .find_map(|allow| {
            let reach = principal_reach(allow)?;
            let reach = allow_reach(allow, reach);
            let reach = denies
                .iter()
                .fold(reach, |reach, deny| apply_deny(deny, allow, reach));
            reach.outside(known)
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const OWN: &str = "111122223333";
    const OTHER: &str = "444455556666";
    const OBJECTS: &str = "arn:aws:s3:::b/*";

    fn doc(statements: Value) -> Value {
        json!({"Version": "2012-10-17", "Statement": statements})
    }

    fn allow(principal: Value) -> Value {
        json!({"Effect": "Allow", "Principal": principal, "Action": "s3:GetObject", "Resource": OBJECTS})
    }

    fn allow_if(principal: Value, condition: Value) -> Value {
        let mut s = allow(principal);
        s["Condition"] = condition;
        s
    }

    /// A deny of every S3 action on the bucket and its objects to everyone, under `condition`.
    fn deny_all_unless(condition: Value) -> Value {
        json!({"Effect": "Deny", "Principal": "*", "Action": "s3:*",
               "Resource": ["arn:aws:s3:::b", OBJECTS], "Condition": condition})
    }

    fn outside(policy: &Value) -> Option<String> {
        grants_outside(policy, &[OWN])
    }

    #[test]
    fn everyone_is_outside_whatever_the_shape() {
        // given the shapes AWS accepts for "any principal", as one statement or in a list
        for principal in [
            json!("*"),
            json!({"AWS": "*"}),
            json!({"AWS": ["arn:aws:iam::111122223333:root", "*"]}),
        ] {
            let statement = allow(principal.clone());
            // then each reaches every account
            assert_eq!(
                outside(&doc(statement.clone())).as_deref(),
                Some("*"),
                "{principal}"
            );
            assert_eq!(outside(&doc(json!([statement]))).as_deref(), Some("*"));
        }
        // and so does an allow to everyone but a principal
        let not_principal = json!({"Effect": "Allow", "NotPrincipal": {"AWS": format!("arn:aws:iam::{OWN}:root")},
                                   "Action": "s3:GetObject", "Resource": OBJECTS});
        assert_eq!(outside(&doc(not_principal)).as_deref(), Some("*"));
    }

    #[test]
    fn another_account_is_outside_unless_trusted() {
        // given a grant to another account's root, one of its roles, and its bare id
        for principal in [
            format!("arn:aws:iam::{OTHER}:root"),
            format!("arn:aws:iam::{OTHER}:role/reader"),
            OTHER.to_owned(),
        ] {
            let policy = doc(json!([allow(json!({"AWS": principal}))]));
            // then it reaches that account, unless the account is trusted
            assert_eq!(outside(&policy).as_deref(), Some(OTHER), "{principal}");
            assert_eq!(grants_outside(&policy, &[OWN, OTHER]), None);
        }
        // given grants to the bucket's own account only (root, a role, a service)
        let own = doc(json!([
            allow(json!({"AWS": format!("arn:aws:iam::{OWN}:root")})),
            allow(json!({"AWS": [format!("arn:aws:iam::{OWN}:role/app"), OWN]})),
            allow(json!({"Service": "logging.s3.amazonaws.com"})),
        ]));
        // then nothing is outside
        assert_eq!(outside(&own), None);
    }

    #[test]
    fn identities_of_no_account_are_outside() {
        // given a CloudFront origin access identity and a canonical user
        let oai = doc(allow(
            json!({"AWS": "arn:aws:iam::cloudfront:user/CloudFront Origin Access Identity E2QWRUHEXAMPLE"}),
        ));
        let canonical = doc(allow(
            json!({"CanonicalUser": "79a59df900b949e55d96a1e698fbaced"}),
        ));
        // then they count as outside (they are no known account)
        assert_eq!(outside(&oai).as_deref(), Some("cloudfront"));
        assert!(outside(&canonical).is_some_and(|p| p.starts_with("canonical:")));
    }

    #[test]
    fn restricting_conditions_narrow_an_allow_to_everyone() {
        // given an allow to everyone confined by the keys that name the caller's account or org
        for condition in [
            json!({"StringEquals": {"aws:PrincipalOrgID": "o-abc123"}}),
            json!({"StringEquals": {"aws:PrincipalAccount": [OWN]}}),
            json!({"StringLike": {"aws:SourceAccount": OWN}}),
            json!({"ArnLike": {"aws:PrincipalArn": format!("arn:aws:iam::{OWN}:role/*")}}),
            json!({"ForAnyValue:StringEquals": {"aws:PrincipalAccount": OWN}}),
            json!({"StringEquals": {"aws:PrincipalAccount": OWN}, "Bool": {"aws:SecureTransport": "true"}}),
        ] {
            // then nothing outside the account is reached
            assert_eq!(
                outside(&doc(allow_if(json!("*"), condition.clone()))),
                None,
                "{condition}"
            );
        }
        // given conditions that look restrictive but let others in
        for (condition, reached) in [
            // anonymous callers have no principal account: IfExists lets them in
            (
                json!({"StringEqualsIfExists": {"aws:PrincipalAccount": OWN}}),
                "*",
            ),
            // true when the key is absent
            (
                json!({"ForAllValues:StringEquals": {"aws:PrincipalAccount": OWN}}),
                "*",
            ),
            // everything but the own account
            (
                json!({"StringNotEquals": {"aws:PrincipalAccount": OWN}}),
                "*",
            ),
            // a pattern matching other accounts
            (
                json!({"StringLike": {"aws:PrincipalAccount": "1111*"}}),
                "1111*",
            ),
            (
                json!({"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/reader"}}),
                "*",
            ),
            // another account listed next to the own
            (
                json!({"StringEquals": {"aws:PrincipalAccount": [OWN, OTHER]}}),
                OTHER,
            ),
            // a condition on something else than the account
            (
                json!({"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}),
                "*",
            ),
        ] {
            // then what they let in is reported
            assert_eq!(
                outside(&doc(allow_if(json!("*"), condition.clone()))).as_deref(),
                Some(reached),
                "{condition}"
            );
        }
        // and a condition naming another account cannot widen a grant to the own account
        let own_only = allow_if(
            json!({"AWS": OWN}),
            json!({"StringEquals": {"aws:PrincipalAccount": OTHER}}),
        );
        assert_eq!(outside(&doc(own_only)), None);
    }

    #[test]
    fn a_deny_takes_away_what_it_certainly_removes() {
        let cross = allow(json!({"AWS": format!("arn:aws:iam::{OTHER}:root")}));
        // given the organisation-perimeter shape: deny everything to callers outside the org
        let perimeter =
            deny_all_unless(json!({"StringNotEquals": {"aws:PrincipalOrgID": "o-abc123"}}));
        assert_eq!(outside(&doc(json!([cross, perimeter]))), None);
        // given a deny to every caller of another account, with or without IfExists
        for op in ["StringNotEquals", "StringNotEqualsIfExists"] {
            let account_perimeter = deny_all_unless(json!({op: {"aws:PrincipalAccount": OWN}}));
            assert_eq!(
                outside(&doc(json!([allow(json!("*")), account_perimeter]))),
                None,
                "{op}"
            );
        }
        // given an unconditional deny to everyone but the own account's principals
        let spare_own = json!({"Effect": "Deny", "NotPrincipal": {"AWS": format!("arn:aws:iam::{OWN}:root")},
                               "Action": "s3:*", "Resource": ["arn:aws:s3:::b", OBJECTS]});
        assert_eq!(outside(&doc(json!([allow(json!("*")), spare_own]))), None);
        // given an unconditional deny to the other account, or to everyone
        let deny_other = json!({"Effect": "Deny", "Principal": {"AWS": OTHER}, "Action": "s3:*", "Resource": "*"});
        assert_eq!(outside(&doc(json!([cross, deny_other]))), None);
        let deny_all = json!({"Effect": "Deny", "Principal": "*", "Action": "*", "Resource": "*"});
        assert_eq!(outside(&doc(json!([allow(json!("*")), deny_all]))), None);
    }

    #[test]
    fn a_deny_that_may_not_apply_takes_nothing_away() {
        let cross = allow(json!({"AWS": format!("arn:aws:iam::{OTHER}:root")}));
        for deny in [
            // the TLS-only deny: it applies to plain HTTP requests only
            deny_all_unless(json!({"Bool": {"aws:SecureTransport": "false"}})),
            // a perimeter with a second condition that may not hold
            deny_all_unless(
                json!({"StringNotEquals": {"aws:PrincipalOrgID": "o-abc123"},
                                   "Bool": {"aws:PrincipalIsAWSService": "false"}}),
            ),
            // a deny of other actions than the one allowed
            json!({"Effect": "Deny", "Principal": "*", "Action": "s3:PutObject", "Resource": "*"}),
            // a deny on other resources
            json!({"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "arn:aws:s3:::b/private/*"}),
            // a deny of everything but a resource
            json!({"Effect": "Deny", "Principal": "*", "Action": "s3:*", "NotResource": "arn:aws:s3:::other/*"}),
            // a deny to yet another account
            json!({"Effect": "Deny", "Principal": {"AWS": "999988887777"}, "Action": "s3:*", "Resource": "*"}),
        ] {
            // then the cross-account grant stands
            assert_eq!(
                outside(&doc(json!([cross, deny.clone()]))).as_deref(),
                Some(OTHER),
                "{deny}"
            );
        }
        // and a NotAction allow is taken away only by a deny of every S3 action
        let not_action = json!({"Effect": "Allow", "Principal": "*", "NotAction": "s3:DeleteBucket", "Resource": "*"});
        let deny_get =
            json!({"Effect": "Deny", "Principal": "*", "Action": "s3:Get*", "Resource": "*"});
        let deny_s3 =
            json!({"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "*"});
        assert_eq!(
            outside(&doc(json!([not_action, deny_get]))).as_deref(),
            Some("*")
        );
        assert_eq!(outside(&doc(json!([not_action, deny_s3]))), None);
    }

    #[test]
    fn documents_that_grant_nothing_reach_no_one() {
        // given no statement, a deny alone, and malformed principals
        for policy in [
            json!({"Statement": []}),
            json!({"Raw": "not json", "Statement": []}),
            doc(json!({"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "*"})),
            doc(json!({"Effect": "Allow", "Principal": 5, "Action": "s3:*", "Resource": "*"})),
            doc(json!({"Effect": "Allow", "Action": "s3:*", "Resource": "*"})),
        ] {
            assert_eq!(outside(&policy), None, "{policy}");
        }
    }
}
