//! Conversion between domain types and DynamoDB items, in one place.
//!
//! Configurations and evidence are stored as native DynamoDB maps (readable in the console and
//! queryable), converted from and to `serde_json::Value`.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use serde_json::{Map, Number, Value};

use super::schema::{accounts as a, compliance as c, findings as f, policies as p, resources as r};
use super::{timestamp, BadPolicyRow, BadRowEffect, PolicySetting};
use crate::model::{Account, Finding, FindingState, Resource, Service, Severity};

pub type Item = HashMap<String, AttributeValue>;

/// A JSON value as a DynamoDB attribute.
pub fn to_attr(value: &Value) -> AttributeValue {
    match value {
        Value::Null => AttributeValue::Null(true),
        Value::Bool(b) => AttributeValue::Bool(*b),
        Value::Number(n) => AttributeValue::N(n.to_string()),
        Value::String(s) => AttributeValue::S(s.clone()),
        Value::Array(items) => AttributeValue::L(items.iter().map(to_attr).collect()),
        Value::Object(map) => {
            AttributeValue::M(map.iter().map(|(k, v)| (k.clone(), to_attr(v))).collect())
        }
    }
}

/// A DynamoDB attribute as a JSON value (sets become arrays, binary becomes null).
pub fn from_attr(attr: &AttributeValue) -> Value {
    match attr {
        AttributeValue::Null(_) => Value::Null,
        AttributeValue::Bool(b) => Value::Bool(*b),
        AttributeValue::N(n) => parse_number(n),
        AttributeValue::S(s) => Value::String(s.clone()),
        AttributeValue::L(items) => Value::Array(items.iter().map(from_attr).collect()),
        AttributeValue::M(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), from_attr(v)))
                .collect::<Map<_, _>>(),
        ),
        AttributeValue::Ss(items) => {
            Value::Array(items.iter().cloned().map(Value::String).collect())
        }
        AttributeValue::Ns(items) => Value::Array(items.iter().map(|n| parse_number(n)).collect()),
        _ => Value::Null,
    }
}

fn parse_number(n: &str) -> Value {
    if let Ok(i) = n.parse::<i64>() {
        Value::Number(i.into())
    } else if let Ok(u) = n.parse::<u64>() {
        Value::Number(u.into())
    } else {
        n.parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .map_or(Value::Null, Value::Number)
    }
}

/// A field that is missing or has the wrong type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("attribute {0} is missing or malformed")]
pub struct BadAttribute(pub &'static str);

fn string(item: &Item, name: &'static str) -> Result<String, BadAttribute> {
    match item.get(name) {
        Some(AttributeValue::S(s)) => Ok(s.clone()),
        _ => Err(BadAttribute(name)),
    }
}

fn opt_string(item: &Item, name: &'static str) -> Option<String> {
    match item.get(name) {
        Some(AttributeValue::S(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

/// A timestamp attribute of an item.
pub fn time(item: &Item, name: &'static str) -> Result<DateTime<Utc>, BadAttribute> {
    let s = string(item, name)?;
    DateTime::parse_from_rfc3339(&s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| BadAttribute(name))
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub fn resource_to_item(res: &Resource) -> Item {
    HashMap::from([
        (r::PK.to_owned(), s(res.partition_key())),
        (r::SK.to_owned(), s(&res.arn)),
        (r::CONFIGURATION.to_owned(), to_attr(&res.configuration)),
        (r::RESOURCE_TYPE.to_owned(), s(&res.resource_type)),
        (r::REGION.to_owned(), s(&res.region)),
        (r::ACCOUNT_ID.to_owned(), s(&res.account_id)),
        (r::LAST_SEEN_AT.to_owned(), s(timestamp(res.last_seen_at))),
    ])
}

pub fn resource_from_item(item: &Item) -> Result<Resource, BadAttribute> {
    let partition = string(item, r::PK)?;
    let service = partition
        .rsplit_once('_')
        .and_then(|(_, svc)| svc.parse::<Service>().ok())
        .ok_or(BadAttribute(r::PK))?;
    Ok(Resource {
        arn: string(item, r::SK)?,
        account_id: string(item, r::ACCOUNT_ID)?,
        service,
        resource_type: string(item, r::RESOURCE_TYPE)?,
        region: string(item, r::REGION)?,
        configuration: item
            .get(r::CONFIGURATION)
            .map(from_attr)
            .ok_or(BadAttribute(r::CONFIGURATION))?,
        last_seen_at: time(item, r::LAST_SEEN_AT)?,
    })
}

pub fn finding_from_item(item: &Item) -> Result<Finding, BadAttribute> {
    let state: FindingState = string(item, f::STATE)?
        .parse()
        .map_err(|_| BadAttribute(f::STATE))?;
    let severity: Severity = string(item, f::SEVERITY)?
        .parse()
        .map_err(|_| BadAttribute(f::SEVERITY))?;
    Ok(Finding {
        arn: string(item, f::PK)?,
        policy_id: string(item, f::SK)?,
        account_id: string(item, f::ACCOUNT_ID)?,
        account_service: string(item, f::ACCOUNT_SERVICE)?,
        resource_type: string(item, f::RESOURCE_TYPE)?,
        state,
        severity,
        risk_score: risk_score(item, f::RISK_SCORE)?,
        evidence: item.get(f::EVIDENCE).map(from_attr).unwrap_or(Value::Null),
        first_seen: time(item, f::FIRST_SEEN)?,
        last_evaluated: time(item, f::LAST_EVALUATED)?,
        resolved_at: time(item, f::RESOLVED_AT).ok(),
        observed_at: time(item, f::OBSERVED_AT)?,
        history: crate::model::History {
            reopened: match item.get(f::REOPENED) {
                None => 0,
                Some(n) => n
                    .as_n()
                    .ok()
                    .and_then(|n| n.parse().ok())
                    .ok_or(BadAttribute(f::REOPENED))?,
            },
            reopened_at: time(item, f::REOPENED_AT).ok(),
            last_resolved_at: time(item, f::LAST_RESOLVED_AT).ok(),
        },
        acknowledged: acknowledgement(item)?,
        suppressed: suppression(item)?,
        muted: rule_match(item)?,
    })
}

/// A risk score as a number attribute (`7.5`).
pub fn risk_score_to_attr(score: crate::risk::RiskScore) -> AttributeValue {
    AttributeValue::N(score.to_string())
}

/// The risk score at `name`: absent is `None` (a finding stored before qrie scored findings);
/// anything but a number from 0 to 10 with one decimal is a bad attribute.
pub fn risk_score(
    item: &Item,
    name: &'static str,
) -> Result<Option<crate::risk::RiskScore>, BadAttribute> {
    match item.get(name) {
        None => Ok(None),
        Some(attr) => attr
            .as_n()
            .ok()
            .and_then(|n| crate::risk::RiskScore::parse(n))
            .map(Some)
            .ok_or(BadAttribute(name)),
    }
}

/// An acknowledgement as its `{By, At, Reason}` map attribute.
pub fn acknowledgement_to_attr(ack: &crate::model::Acknowledgement) -> AttributeValue {
    AttributeValue::M(Item::from([
        ("By".to_owned(), s(&ack.by)),
        ("At".to_owned(), s(timestamp(ack.at))),
        ("Reason".to_owned(), s(&ack.reason)),
    ]))
}

/// A suppression as its `{By, At, Reason, Until}` map attribute.
pub fn suppression_to_attr(sup: &crate::model::Suppression) -> AttributeValue {
    AttributeValue::M(Item::from([
        ("By".to_owned(), s(&sup.by)),
        ("At".to_owned(), s(timestamp(sup.at))),
        ("Reason".to_owned(), s(&sup.reason)),
        ("Until".to_owned(), s(timestamp(sup.until))),
    ]))
}

/// The suppression rule that matched a finding as its `{Rule, Reason, Until}` map attribute.
pub fn rule_match_to_attr(rule: &crate::model::RuleMatch) -> AttributeValue {
    AttributeValue::M(Item::from([
        ("Rule".to_owned(), s(&rule.rule)),
        ("Reason".to_owned(), s(&rule.reason)),
        ("Until".to_owned(), s(timestamp(rule.until))),
    ]))
}

fn rule_match(item: &Item) -> Result<Option<crate::model::RuleMatch>, BadAttribute> {
    let Some(attr) = item.get(f::MUTED) else {
        return Ok(None);
    };
    let bad = || BadAttribute(f::MUTED);
    let map = attr.as_m().map_err(|_| bad())?;
    let text = |key: &str| {
        map.get(key)
            .and_then(|v| v.as_s().ok())
            .cloned()
            .ok_or_else(bad)
    };
    let until = DateTime::parse_from_rfc3339(&text("Until")?)
        .map_err(|_| bad())?
        .with_timezone(&Utc);
    Ok(Some(crate::model::RuleMatch {
        rule: text("Rule")?,
        reason: text("Reason")?,
        until,
    }))
}

/// The fields of an operator's note map (`Until` only for a suppression).
struct Note {
    by: String,
    at: DateTime<Utc>,
    reason: String,
    until: Option<DateTime<Utc>>,
}

/// The operator's note in map attribute `name`, or the attribute at fault.
fn note_fields(
    item: &Item,
    name: &'static str,
    with_until: bool,
) -> Result<Option<Note>, BadAttribute> {
    let Some(attr) = item.get(name) else {
        return Ok(None);
    };
    let map = attr.as_m().map_err(|_| BadAttribute(name))?;
    let text = |key: &str| {
        map.get(key)
            .and_then(|v| v.as_s().ok())
            .cloned()
            .ok_or(BadAttribute(name))
    };
    let when = |key: &str| {
        text(key).and_then(|t| {
            DateTime::parse_from_rfc3339(&t)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| BadAttribute(name))
        })
    };
    let until = if with_until {
        Some(when("Until")?)
    } else {
        None
    };
    Ok(Some(Note {
        by: text("By")?,
        at: when("At")?,
        reason: text("Reason")?,
        until,
    }))
}

fn acknowledgement(item: &Item) -> Result<Option<crate::model::Acknowledgement>, BadAttribute> {
    Ok(
        note_fields(item, f::ACKNOWLEDGED, false)?.map(|n| crate::model::Acknowledgement {
            by: n.by,
            at: n.at,
            reason: n.reason,
        }),
    )
}

/// A finding item's operator suppression (`Suppressed`), if it has one.
pub fn suppression(item: &Item) -> Result<Option<crate::model::Suppression>, BadAttribute> {
    Ok(note_fields(item, f::SUPPRESSED, true)?.and_then(|n| {
        n.until.map(|until| crate::model::Suppression {
            by: n.by,
            at: n.at,
            reason: n.reason,
            until,
        })
    }))
}

pub fn account_to_item(acc: &Account) -> Item {
    let mut item = HashMap::from([
        (a::PK.to_owned(), s(&acc.account_id)),
        (a::ROLE_ARN.to_owned(), s(&acc.role_arn)),
        (
            a::REGIONS.to_owned(),
            AttributeValue::L(acc.regions.iter().map(s).collect()),
        ),
        (a::ENABLED.to_owned(), AttributeValue::Bool(acc.enabled)),
    ]);
    if let Some(id) = &acc.external_id {
        item.insert(a::EXTERNAL_ID.to_owned(), s(id));
    }
    if let Some(name) = &acc.name {
        item.insert(a::NAME.to_owned(), s(name));
    }
    item
}

pub fn account_from_item(item: &Item) -> Result<Account, BadAttribute> {
    let regions = match item.get(a::REGIONS) {
        Some(AttributeValue::L(list)) => {
            list.iter().filter_map(|v| v.as_s().ok().cloned()).collect()
        }
        Some(AttributeValue::Ss(list)) => list.clone(),
        None => Vec::new(),
        Some(_) => return Err(BadAttribute(a::REGIONS)),
    };
    Ok(Account {
        account_id: string(item, a::PK)?,
        role_arn: string(item, a::ROLE_ARN)?,
        external_id: opt_string(item, a::EXTERNAL_ID),
        regions,
        enabled: match item.get(a::ENABLED) {
            Some(AttributeValue::Bool(b)) => *b,
            None => true,
            Some(_) => return Err(BadAttribute(a::ENABLED)),
        },
        name: opt_string(item, a::NAME),
    })
}

pub fn setting_to_item(policy_id: &str, setting: &PolicySetting) -> Item {
    let mut item = HashMap::from([
        (p::PK.to_owned(), s(policy_id)),
        (p::ACTIVE.to_owned(), AttributeValue::Bool(setting.active)),
    ]);
    if let Some(sev) = setting.severity_override {
        item.insert(p::SEVERITY_OVERRIDE.to_owned(), s(sev.as_str()));
    }
    if let Some(accounts) = &setting.accounts {
        item.insert(
            p::ACCOUNTS.to_owned(),
            AttributeValue::L(accounts.iter().map(s).collect()),
        );
    }
    item
}

/// One row of the policies table as read: the setting it makes, with what could not be read of
/// it, or a row that names no policy at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyRow {
    Setting {
        id: String,
        setting: PolicySetting,
        problems: Vec<BadPolicyRow>,
    },
    Unidentified(BadPolicyRow),
}

/// Reads one policies-table row, attribute by attribute, never failing as a whole: every
/// attribute it cannot read is reported (by policy id and attribute, never by value) and replaced
/// by the safe choice for that attribute:
///
/// - `Active`: a boolean, or the string `"true"`/`"false"` in any case. Anything else (`"no"`,
///   `0`, `"disabled"`, ...) holds the policy as **disabled**. The only reason to write `Active`
///   is to change the default, and every catalogue default is "active": falling back to it would
///   silently re-enable a policy the operator most likely meant to turn off. A held policy is not
///   evaluated, so its findings are neither opened nor resolved: the state stays as it was.
/// - `SeverityOverride`: a known severity name, any case (empty or NULL: none). An unknown name
///   keeps the policy running at its **catalogue severity**: detection goes on, the severity is
///   the policy author's, and the bad value is reported.
/// - `Accounts`: a non-empty list (or string set) of 12-digit account ids (NULL: every account).
///   Anything else holds the policy as **disabled**: widening it to every account would report
///   on accounts the operator excluded, narrowing it to none would resolve every finding.
/// - any other attribute holds the policy as **disabled**: it is most likely a misspelt `Active`
///   or `Accounts` (the accounts table calls its flag `Enabled`), whose intent cannot be known.
///
/// Rows whose `PolicyId` is missing are reported and ignored; rows naming a policy the catalog
/// does not have are reported by the scan (the store does not know the catalog).
pub fn policy_row(item: &Item) -> PolicyRow {
    let id = match item.get(p::PK) {
        Some(AttributeValue::S(id)) if !id.is_empty() => id.clone(),
        _ => {
            return PolicyRow::Unidentified(BadPolicyRow {
                policy_id: "(none)".into(),
                field: p::PK.into(),
                problem: "is missing or not a non-empty string",
                effect: BadRowEffect::Ignored,
            })
        }
    };
    // (attribute, problem, the effect if the row is otherwise active)
    let mut problems: Vec<(String, &'static str, BadRowEffect)> = Vec::new();
    let mut held = false;
    let mut active = match item.get(p::ACTIVE) {
        None => true,
        Some(AttributeValue::Bool(b)) => *b,
        Some(AttributeValue::S(text)) if text.trim().eq_ignore_ascii_case("true") => true,
        Some(AttributeValue::S(text)) if text.trim().eq_ignore_ascii_case("false") => false,
        Some(_) => {
            problems.push((
                p::ACTIVE.into(),
                "is neither a boolean nor the string \"true\" or \"false\"",
                BadRowEffect::Disabled,
            ));
            held = true;
            false
        }
    };
    let severity_override = match item.get(p::SEVERITY_OVERRIDE) {
        None | Some(AttributeValue::Null(_)) => None,
        Some(AttributeValue::S(text)) if text.trim().is_empty() => None,
        Some(AttributeValue::S(text)) if text.trim().parse::<Severity>().is_ok() => {
            text.trim().parse::<Severity>().ok()
        }
        Some(_) => {
            problems.push((
                p::SEVERITY_OVERRIDE.into(),
                "is not a severity (critical, high, medium, low, informational)",
                BadRowEffect::CatalogueSeverity,
            ));
            None
        }
    };
    let account_ids = |ids: Vec<&str>| -> Option<Vec<String>> {
        let valid = !ids.is_empty() && ids.iter().all(|id| crate::model::is_account_id(id));
        valid.then(|| ids.into_iter().map(str::to_owned).collect())
    };
    let accounts = match item.get(p::ACCOUNTS) {
        None | Some(AttributeValue::Null(_)) => None,
        Some(value) => {
            let ids = match value {
                AttributeValue::L(list) => list
                    .iter()
                    .map(|v| v.as_s().map(String::as_str))
                    .collect::<Result<Vec<_>, _>>()
                    .ok()
                    .and_then(account_ids),
                AttributeValue::Ss(list) => account_ids(list.iter().map(String::as_str).collect()),
                _ => None,
            };
            if ids.is_none() {
                problems.push((
                    p::ACCOUNTS.into(),
                    "is not a non-empty list of 12-digit account ids",
                    BadRowEffect::Disabled,
                ));
                held = true;
            }
            ids
        }
    };
    let mut unknown: Vec<&String> = item
        .keys()
        .filter(|k| ![p::PK, p::ACTIVE, p::SEVERITY_OVERRIDE, p::ACCOUNTS].contains(&k.as_str()))
        .collect();
    unknown.sort();
    for name in unknown {
        problems.push((
            super::loggable(name),
            "is not an attribute of the policies table (Active, SeverityOverride, Accounts)",
            BadRowEffect::Disabled,
        ));
        held = true;
    }
    if held {
        active = false;
    }
    let policy_id = super::loggable(&id);
    PolicyRow::Setting {
        problems: problems
            .into_iter()
            .map(|(field, problem, effect)| BadPolicyRow {
                policy_id: policy_id.clone(),
                field,
                problem,
                effect: if active {
                    effect
                } else {
                    BadRowEffect::Disabled
                },
            })
            .collect(),
        id,
        setting: PolicySetting {
            active,
            severity_override,
            accounts,
        },
    }
}

/// A compliance summary as its item: the partition key `AccountFramework`, and each field of the
/// summary as a native attribute (counts as numbers, the severity split as a map); its `Day`
/// field is the sort key.
pub fn summary_to_item(summary: &crate::compliance::Summary) -> Item {
    let mut item: Item = match serde_json::to_value(summary) {
        Ok(Value::Object(fields)) => fields
            .iter()
            .map(|(k, v)| (k.clone(), to_attr(v)))
            .collect(),
        _ => Item::new(),
    };
    item.insert(
        c::PK.into(),
        s(c::key(&summary.account_id, &summary.framework)),
    );
    item.insert(c::SK.into(), s(summary.day.to_string()));
    item
}

/// The summary an item holds (see [`summary_to_item`]).
pub fn summary_from_item(item: &Item) -> Result<crate::compliance::Summary, BadAttribute> {
    let fields: Map<String, Value> = item
        .iter()
        .filter(|(k, _)| k.as_str() != c::PK)
        .map(|(k, v)| (k.clone(), from_attr(v)))
        .collect();
    serde_json::from_value(Value::Object(fields)).map_err(|_| BadAttribute(c::PK))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_round_trips_through_attributes() {
        let v = json!({"a": [1, -2, 3.5, "x", null, true], "b": {"c": {}}, "big": 18446744073709551615u64});
        assert_eq!(from_attr(&to_attr(&v)), v);
    }

    #[test]
    fn resources_and_accounts_round_trip() {
        let res = Resource {
            arn: "arn:aws:s3:::b".into(),
            account_id: "111122223333".into(),
            service: Service::S3,
            resource_type: "AWS::S3::Bucket".into(),
            region: "eu-west-1".into(),
            configuration: json!({"Name": "b"}),
            last_seen_at: Utc::now(),
        };
        let back = resource_from_item(&resource_to_item(&res)).unwrap();
        assert_eq!(back.arn, res.arn);
        assert_eq!(back.configuration, res.configuration);
        assert_eq!(timestamp(back.last_seen_at), timestamp(res.last_seen_at));
        let acc = Account {
            account_id: "111122223333".into(),
            role_arn: "arn:aws:iam::111122223333:role/QrieScannerRole".into(),
            external_id: Some("x".into()),
            regions: vec!["us-east-1".into()],
            enabled: true,
            name: None,
        };
        assert_eq!(account_from_item(&account_to_item(&acc)).unwrap(), acc);
    }

    fn row(attributes: &[(&str, AttributeValue)]) -> Item {
        let mut item: Item = attributes
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
        item.insert(p::PK.to_owned(), s("S3BucketVersioningEnabled"));
        item
    }

    fn setting(item: &Item) -> (PolicySetting, Vec<BadPolicyRow>) {
        match policy_row(item) {
            PolicyRow::Setting {
                setting, problems, ..
            } => (setting, problems),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn policy_rows_round_trip_and_accept_boolean_strings() {
        // Given a setting written by qrie
        let written = PolicySetting {
            active: false,
            severity_override: Some(Severity::High),
            accounts: Some(vec!["111122223333".into()]),
        };
        // Then it reads back unchanged, without problems
        assert_eq!(
            setting(&setting_to_item("S3BucketVersioningEnabled", &written)),
            (written, vec![])
        );
        // Given Active written by hand as a string, in any case
        for (text, expected) in [("false", false), ("FALSE", false), ("True", true)] {
            let (read, problems) = setting(&row(&[(p::ACTIVE, s(text))]));
            // Then it counts as the boolean it names
            assert_eq!((read.active, problems.len()), (expected, 0), "{text}");
        }
        let (read, _) = setting(&row(&[(p::SEVERITY_OVERRIDE, s("critical"))]));
        assert_eq!(read.severity_override, Some(Severity::Critical));
    }

    #[test]
    fn a_bad_policy_row_is_reported_by_attribute_and_never_reenables_a_policy() {
        // Given an unreadable Active
        let (read, problems) = setting(&row(&[(p::ACTIVE, s("no"))]));
        // Then the policy is held as disabled and the attribute named, not its value
        assert!(!read.active);
        assert_eq!(problems[0].field, p::ACTIVE);
        assert_eq!(problems[0].effect, BadRowEffect::Disabled);
        assert!(!problems[0].to_string().contains("\"no\""));
        let (read, _) = setting(&row(&[(p::ACTIVE, AttributeValue::N("0".into()))]));
        assert!(!read.active);
        // Given an invalid severity on an active row
        let (read, problems) = setting(&row(&[(p::SEVERITY_OVERRIDE, s("urgent"))]));
        // Then the policy runs at its catalogue severity
        assert!(read.active);
        assert_eq!(read.severity_override, None);
        assert_eq!(problems[0].field, p::SEVERITY_OVERRIDE);
        assert_eq!(problems[0].effect, BadRowEffect::CatalogueSeverity);
        assert!(!problems[0].to_string().contains("urgent"));
        // Given an invalid severity on a disabled row, Then it stays disabled
        let (read, problems) = setting(&row(&[
            (p::ACTIVE, AttributeValue::Bool(false)),
            (p::SEVERITY_OVERRIDE, s("urgent")),
        ]));
        assert!(!read.active);
        assert_eq!(problems[0].effect, BadRowEffect::Disabled);
        // Given a malformed scope or a misspelt attribute, Then the policy is held
        for bad in [
            row(&[(p::ACCOUNTS, AttributeValue::L(vec![s("1111-2222-3333")]))]),
            row(&[(p::ACCOUNTS, AttributeValue::L(vec![]))]),
            row(&[(p::ACCOUNTS, s("111122223333"))]),
            row(&[("Enabled", AttributeValue::Bool(false))]),
        ] {
            let (read, problems) = setting(&bad);
            assert!(!read.active, "{bad:?}");
            assert_eq!(problems.len(), 1, "{bad:?}");
        }
        // Given a row without PolicyId, Then it is reported and ignored
        let mut anonymous = row(&[]);
        anonymous.remove(p::PK);
        assert!(matches!(
            policy_row(&anonymous),
            PolicyRow::Unidentified(BadPolicyRow {
                effect: BadRowEffect::Ignored,
                ..
            })
        ));
    }

    #[test]
    fn untrusted_names_are_escaped_before_they_reach_a_log() {
        assert_eq!(super::super::loggable("S3BucketX"), "S3BucketX");
        let hostile =
            super::super::loggable("x\n{\"level\":\"ERROR\"} and a very long tail of text");
        assert!(!hostile.contains('\n'), "{hostile}");
        assert!(hostile.starts_with('"'), "{hostile}");
    }

    #[test]
    fn a_malformed_item_names_the_attribute() {
        let mut item = HashMap::new();
        item.insert(r::PK.to_owned(), s("111122223333_s3"));
        assert_eq!(resource_from_item(&item).unwrap_err(), BadAttribute(r::SK));
    }
}
