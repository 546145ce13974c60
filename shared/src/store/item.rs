//! Conversion between domain types and DynamoDB items, in one place.
//!
//! Configurations and evidence are stored as native DynamoDB maps (readable in the console and
//! queryable), converted from and to `serde_json::Value`.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use serde_json::{Map, Number, Value};

use super::schema::{accounts as a, findings as f, policies as p, resources as r};
use super::{timestamp, PolicySetting};
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

fn time(item: &Item, name: &'static str) -> Result<DateTime<Utc>, BadAttribute> {
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
    let state = match string(item, f::STATE)?.as_str() {
        "ACTIVE" => FindingState::Active,
        "RESOLVED" => FindingState::Resolved,
        _ => return Err(BadAttribute(f::STATE)),
    };
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
        evidence: item.get(f::EVIDENCE).map(from_attr).unwrap_or(Value::Null),
        first_seen: time(item, f::FIRST_SEEN)?,
        last_evaluated: time(item, f::LAST_EVALUATED)?,
        resolved_at: time(item, f::RESOLVED_AT).ok(),
        observed_at: time(item, f::OBSERVED_AT)?,
    })
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

pub fn setting_from_item(item: &Item) -> Result<(String, PolicySetting), BadAttribute> {
    let id = string(item, p::PK)?;
    let severity_override = match opt_string(item, p::SEVERITY_OVERRIDE) {
        Some(text) => Some(
            text.parse::<Severity>()
                .map_err(|_| BadAttribute(p::SEVERITY_OVERRIDE))?,
        ),
        None => None,
    };
    let accounts = match item.get(p::ACCOUNTS) {
        Some(AttributeValue::L(list)) => {
            Some(list.iter().filter_map(|v| v.as_s().ok().cloned()).collect())
        }
        Some(AttributeValue::Ss(list)) => Some(list.clone()),
        _ => None,
    };
    Ok((
        id,
        PolicySetting {
            active: !matches!(item.get(p::ACTIVE), Some(AttributeValue::Bool(false))),
            severity_override,
            accounts,
        },
    ))
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

    #[test]
    fn a_malformed_item_names_the_attribute() {
        let mut item = HashMap::new();
        item.insert(r::PK.to_owned(), s("111122223333_s3"));
        assert_eq!(resource_from_item(&item).unwrap_err(), BadAttribute(r::SK));
    }
}
