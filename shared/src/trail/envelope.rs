//! Unwrapping an SQS message body into one CloudTrail record.
//!
//! CloudTrail management events reach qrie's queue in one of three wrappings, and
//! [`parse_message`] accepts each of them:
//!
//! * an EventBridge event (`detail-type` "AWS API Call via CloudTrail", `account`, `region`,
//!   `detail` = the record): what the customer-account rule forwards;
//! * a bare CloudTrail record (what a replay or a test puts on the queue);
//! * an SNS notification (`Type` "Notification", `Message` = one of the above as a JSON string),
//!   for a queue subscribed to a topic.
//!
//! A body that fits none of them is a [`EnvelopeError`] that says what is wrong with it, so the
//! handler can report it as a non-retryable failure without logging the body itself.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use thiserror::Error;

/// The wrapping a CloudTrail record arrived in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Envelope {
    EventBridge,
    BareRecord,
    /// An SNS notification whose message was an EventBridge event.
    SnsEventBridge,
    /// An SNS notification whose message was a bare record.
    SnsBareRecord,
}

/// One CloudTrail record with the fields qrie routes on pulled out.
#[derive(Debug, Clone, PartialEq)]
pub struct TrailEvent {
    pub event_name: String,
    /// `s3.amazonaws.com`, `ec2.amazonaws.com`, ...
    pub event_source: String,
    pub event_id: Option<String>,
    pub event_time: Option<DateTime<Utc>>,
    /// The account the event happened in: `recipientAccountId`, else the EventBridge `account`.
    pub account_id: String,
    /// `awsRegion`, else the EventBridge `region`. For global services (IAM) this is the region
    /// of the endpoint that was called, normally us-east-1.
    pub region: String,
    /// Set when the call failed; a failed call changed nothing.
    pub error_code: Option<String>,
    /// The record's `readOnly` flag, when it has one.
    pub read_only: Option<bool>,
    /// `Management`, `Data`, `Insight`, ...; absent from older records.
    pub event_category: Option<String>,
    pub envelope: Envelope,
    /// The whole CloudTrail record.
    pub record: Value,
}

/// Why a message body is not a CloudTrail record qrie can read.
#[derive(Debug, Error)]
pub enum EnvelopeError {
    #[error("message body is not JSON: {0}")]
    NotJson(#[source] serde_json::Error),
    #[error("{what} is JSON {found}, not an object")]
    NotAnObject {
        what: &'static str,
        found: &'static str,
    },
    #[error("SNS notification has no string Message")]
    SnsMessageMissing,
    #[error("SNS Message is not JSON: {0}")]
    SnsMessageNotJson(#[source] serde_json::Error),
    #[error("EventBridge event has detail-type {0:?}, not a CloudTrail one")]
    NotCloudTrailDetailType(String),
    #[error("EventBridge event has no detail object")]
    MissingDetail,
    #[error("body is a CloudTrail log file with {count} records, not one event")]
    LogFileNotEvent { count: usize },
    #[error("CloudTrail record has no {field}")]
    MissingField { field: &'static str },
    #[error("CloudTrail record field {field} is not a string")]
    FieldNotString { field: &'static str },
    #[error("CloudTrail record has no recipientAccountId and its envelope no account")]
    MissingAccount,
    #[error("CloudTrail record has no awsRegion and its envelope no region")]
    MissingRegion,
    #[error("CloudTrail record eventTime {value:?} is not RFC 3339: {source}")]
    InvalidEventTime {
        value: String,
        #[source]
        source: chrono::ParseError,
    },
}

/// The EventBridge detail-types whose `detail` is a CloudTrail record.
fn is_cloudtrail_detail_type(detail_type: &str) -> bool {
    detail_type.ends_with(" via CloudTrail")
}

/// Reads one SQS message body into a [`TrailEvent`].
pub fn parse_message(body: &str) -> Result<TrailEvent, EnvelopeError> {
    let value: Value = serde_json::from_str(body).map_err(EnvelopeError::NotJson)?;
    let object = into_object(value, "message body")?;
    if is_sns_notification(&object) {
        let message = match object.get("Message") {
            Some(Value::String(message)) => message,
            _ => return Err(EnvelopeError::SnsMessageMissing),
        };
        let inner: Value =
            serde_json::from_str(message).map_err(EnvelopeError::SnsMessageNotJson)?;
        let inner = into_object(inner, "SNS Message")?;
        return match from_object(inner)? {
            event @ TrailEvent {
                envelope: Envelope::EventBridge,
                ..
            } => Ok(TrailEvent {
                envelope: Envelope::SnsEventBridge,
                ..event
            }),
            event => Ok(TrailEvent {
                envelope: Envelope::SnsBareRecord,
                ..event
            }),
        };
    }
    from_object(object)
}

fn is_sns_notification(object: &Map<String, Value>) -> bool {
    object.get("Type").and_then(Value::as_str) == Some("Notification")
        && object.contains_key("Message")
}

/// An EventBridge event or a bare record.
fn from_object(mut object: Map<String, Value>) -> Result<TrailEvent, EnvelopeError> {
    if let Some(detail_type) = object.get("detail-type") {
        let detail_type = detail_type.as_str().unwrap_or_default();
        if !is_cloudtrail_detail_type(detail_type) {
            return Err(EnvelopeError::NotCloudTrailDetailType(
                detail_type.to_owned(),
            ));
        }
        let envelope_account = take_string(&mut object, "account");
        let envelope_region = take_string(&mut object, "region");
        let detail = object
            .remove("detail")
            .ok_or(EnvelopeError::MissingDetail)?;
        if detail.is_null() {
            return Err(EnvelopeError::MissingDetail);
        }
        let record = into_object(detail, "EventBridge detail")?;
        return from_record(
            record,
            Envelope::EventBridge,
            envelope_account,
            envelope_region,
        );
    }
    if let Some(Value::Array(records)) = object.get("Records") {
        if !object.contains_key("eventName") {
            return Err(EnvelopeError::LogFileNotEvent {
                count: records.len(),
            });
        }
    }
    from_record(object, Envelope::BareRecord, None, None)
}

fn from_record(
    record: Map<String, Value>,
    envelope: Envelope,
    envelope_account: Option<String>,
    envelope_region: Option<String>,
) -> Result<TrailEvent, EnvelopeError> {
    let event_name = required_string(&record, "eventName")?;
    let event_source = required_string(&record, "eventSource")?;
    let account_id = optional_string(&record, "recipientAccountId")?
        .filter(|account| !account.is_empty())
        .or(envelope_account)
        .ok_or(EnvelopeError::MissingAccount)?;
    let region = optional_string(&record, "awsRegion")?
        .filter(|region| !region.is_empty())
        .or(envelope_region)
        .ok_or(EnvelopeError::MissingRegion)?;
    let event_time = match optional_string(&record, "eventTime")? {
        None => None,
        Some(value) => Some(
            DateTime::parse_from_rfc3339(&value)
                .map_err(|source| EnvelopeError::InvalidEventTime { value, source })?
                .with_timezone(&Utc),
        ),
    };
    let error_code = optional_string(&record, "errorCode")?.filter(|code| !code.is_empty());
    let read_only = match record.get("readOnly") {
        Some(Value::Bool(flag)) => Some(*flag),
        Some(Value::String(flag)) if flag.eq_ignore_ascii_case("true") => Some(true),
        Some(Value::String(flag)) if flag.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    };
    Ok(TrailEvent {
        event_name,
        event_source,
        event_id: optional_string(&record, "eventID")?,
        event_time,
        account_id,
        region,
        error_code,
        read_only,
        event_category: optional_string(&record, "eventCategory")?,
        envelope,
        record: Value::Object(record),
    })
}

fn into_object(value: Value, what: &'static str) -> Result<Map<String, Value>, EnvelopeError> {
    match value {
        Value::Object(object) => Ok(object),
        other => Err(EnvelopeError::NotAnObject {
            what,
            found: json_type_name(&other),
        }),
    }
}

fn json_type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn take_string(object: &mut Map<String, Value>, field: &str) -> Option<String> {
    match object.remove(field) {
        Some(Value::String(text)) if !text.is_empty() => Some(text),
        _ => None,
    }
}

fn required_string(
    record: &Map<String, Value>,
    field: &'static str,
) -> Result<String, EnvelopeError> {
    optional_string(record, field)?.ok_or(EnvelopeError::MissingField { field })
}

/// A string field; absent and null are `None`, any other type is an error.
fn optional_string(
    record: &Map<String, Value>,
    field: &'static str,
) -> Result<Option<String>, EnvelopeError> {
    match record.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(_) => Err(EnvelopeError::FieldNotString { field }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record() -> Value {
        json!({
            "eventVersion": "1.08",
            "eventTime": "2024-05-01T10:00:00Z",
            "eventSource": "s3.amazonaws.com",
            "eventName": "DeleteBucket",
            "awsRegion": "us-east-1",
            "requestParameters": {"bucketName": "qrie-demo-logs"},
            "responseElements": null,
            "eventID": "11111111-2222-3333-4444-555555555555",
            "readOnly": false,
            "eventType": "AwsApiCall",
            "managementEvent": true,
            "recipientAccountId": "111122223333",
            "eventCategory": "Management"
        })
    }

    fn eventbridge(detail: Value) -> Value {
        json!({
            "version": "0",
            "id": "6f0e3c1e-1c3c-4d5c-9c7e-1f0e3c1e1c3c",
            "detail-type": "AWS API Call via CloudTrail",
            "source": "aws.s3",
            "account": "111122223333",
            "time": "2024-05-01T10:00:00Z",
            "region": "us-east-1",
            "resources": [],
            "detail": detail
        })
    }

    fn sns(message: &Value) -> Value {
        json!({
            "Type": "Notification",
            "MessageId": "c5e4b3a2-0000-0000-0000-000000000000",
            "TopicArn": "arn:aws:sns:us-east-1:111122223333:qrie-events",
            "Message": message.to_string(),
            "Timestamp": "2024-05-01T10:00:01.000Z"
        })
    }

    #[test]
    fn every_envelope_shape_yields_the_same_record() {
        // given the same record in each wrapping
        let table = [
            (eventbridge(record()), Envelope::EventBridge),
            (record(), Envelope::BareRecord),
            (sns(&eventbridge(record())), Envelope::SnsEventBridge),
            (sns(&record()), Envelope::SnsBareRecord),
        ];
        for (body, expected_envelope) in table {
            // when
            let event = parse_message(&body.to_string()).expect("parses");
            // then
            assert_eq!(event.envelope, expected_envelope);
            assert_eq!(event.event_name, "DeleteBucket");
            assert_eq!(event.event_source, "s3.amazonaws.com");
            assert_eq!(event.account_id, "111122223333");
            assert_eq!(event.region, "us-east-1");
            assert_eq!(event.read_only, Some(false));
            assert_eq!(event.error_code, None);
            assert_eq!(event.event_category.as_deref(), Some("Management"));
            assert_eq!(
                event.event_time.map(|t| t.to_rfc3339()),
                Some("2024-05-01T10:00:00+00:00".to_owned())
            );
            assert_eq!(event.record, record());
        }
    }

    #[test]
    fn account_and_region_fall_back_to_the_eventbridge_envelope() {
        // given a record without recipientAccountId or awsRegion
        let mut detail = record();
        let fields = detail.as_object_mut().expect("object");
        fields.remove("recipientAccountId");
        fields.remove("awsRegion");
        let mut body = eventbridge(detail);
        body["account"] = json!("444455556666");
        body["region"] = json!("eu-west-1");
        // when
        let event = parse_message(&body.to_string()).expect("parses");
        // then
        assert_eq!(event.account_id, "444455556666");
        assert_eq!(event.region, "eu-west-1");
    }

    #[test]
    fn recipient_account_wins_over_the_envelope_account() {
        // given an envelope account that differs from recipientAccountId
        let mut body = eventbridge(record());
        body["account"] = json!("999999999999");
        // when
        let event = parse_message(&body.to_string()).expect("parses");
        // then
        assert_eq!(event.account_id, "111122223333");
    }

    #[test]
    fn malformed_bodies_say_what_is_wrong() {
        // given bodies that are not a readable CloudTrail record
        let without = |field: &str| {
            let mut r = record();
            r.as_object_mut().expect("object").remove(field);
            r.to_string()
        };
        let with = |field: &str, value: Value| {
            let mut r = record();
            r[field] = value;
            r.to_string()
        };
        let table: Vec<(String, &str)> = vec![
            ("not json".into(), "NotJson"),
            ("".into(), "NotJson"),
            ("[1,2]".into(), "NotAnObject"),
            ("\"text\"".into(), "NotAnObject"),
            (
                without("eventName"),
                "MissingField { field: \"eventName\" }",
            ),
            (
                without("eventSource"),
                "MissingField { field: \"eventSource\" }",
            ),
            (
                with("eventName", json!(7)),
                "FieldNotString { field: \"eventName\" }",
            ),
            (without("recipientAccountId"), "MissingAccount"),
            (without("awsRegion"), "MissingRegion"),
            (with("eventTime", json!("yesterday")), "InvalidEventTime"),
            (
                json!({"Records": [record()]}).to_string(),
                "LogFileNotEvent { count: 1 }",
            ),
            (
                json!({"detail-type": "Scheduled Event", "detail": {}}).to_string(),
                "NotCloudTrailDetailType(\"Scheduled Event\")",
            ),
            (
                json!({"detail-type": "AWS API Call via CloudTrail", "detail": null}).to_string(),
                "MissingDetail",
            ),
            (
                json!({"detail-type": "AWS API Call via CloudTrail", "detail": [1]}).to_string(),
                "NotAnObject",
            ),
            (
                json!({"Type": "Notification", "Message": 3}).to_string(),
                "SnsMessageMissing",
            ),
            (
                json!({"Type": "Notification", "Message": "{oops"}).to_string(),
                "SnsMessageNotJson",
            ),
            (
                json!({"Type": "Notification", "Message": "[]"}).to_string(),
                "NotAnObject { what: \"SNS Message\", found: \"an array\" }",
            ),
            (
                json!({"hello": "world"}).to_string(),
                "MissingField { field: \"eventName\" }",
            ),
        ];
        for (body, expected) in table {
            // when
            let error = parse_message(&body).expect_err(&body);
            // then
            let debug = format!("{error:?}");
            assert!(debug.starts_with(expected), "{body}: got {debug}");
            assert!(!error.to_string().is_empty());
        }
    }

    #[test]
    fn a_string_read_only_flag_is_understood() {
        // given readOnly written as a string
        let body = {
            let mut r = record();
            r["readOnly"] = json!("true");
            r.to_string()
        };
        // when
        let event = parse_message(&body).expect("parses");
        // then
        assert_eq!(event.read_only, Some(true));
    }
}
