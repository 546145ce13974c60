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
//! handler can report it as a non-retryable failure without logging the body itself. Its
//! messages name the field and the problem, never the field's value: a poison message's text
//! never reaches the logs.
//!
//! **Which account an event is about.** qrie acts only in [`TrailEvent::account_id`]:
//!
//! * for an EventBridge event (bare or inside SNS), the envelope's `account`, which EventBridge
//!   sets to the account that sent the event and a sender cannot choose. A record whose
//!   `recipientAccountId` names another account keeps it in
//!   [`TrailEvent::recipient_account_id`], and the classifier ignores the event;
//! * for a bare record (bare or inside SNS) there is no sender to check: it can only come from
//!   whoever may write to qrie's own queue (an operator's replay), so its `recipientAccountId`
//!   is the account, and it is required. Every other account the record names (in an ARN, or
//!   the caller's identity) must be that same one, as for EventBridge events: a resource of
//!   another account is counted as foreign and left alone (see `process`).
//!
//! Account ids must be 12 digits and regions lowercase letters, digits and dashes; anything
//! else is a poison message rather than a value carried into ARNs, SDK calls and logs.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use thiserror::Error;

use crate::model::is_account_id;

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
    /// The account qrie acts in: the EventBridge `account` (the sender), or for a bare record
    /// its `recipientAccountId` (see the module documentation).
    pub account_id: String,
    /// The record's `recipientAccountId`, when it has one.
    pub recipient_account_id: Option<String>,
    /// `awsRegion`, else the EventBridge `region`. For global services (IAM) this is the region
    /// of the endpoint that was called, normally us-east-1.
    pub region: String,
    /// Set when the record has an `errorCode` field, whatever its value (`""` and `null`
    /// included): the call failed, so it changed nothing.
    pub error_code: Option<String>,
    /// The record's `readOnly` flag, when it has one.
    pub read_only: Option<bool>,
    /// `Management`, `Data`, `Insight`, ...; absent from older records.
    pub event_category: Option<String>,
    pub envelope: Envelope,
    /// The whole CloudTrail record.
    pub record: Value,
}

/// Why a message body is not a CloudTrail record qrie can read. No variant carries, or
/// displays, a value taken from the message.
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
    #[error("EventBridge event's detail-type is not a CloudTrail one (\"... via CloudTrail\")")]
    NotCloudTrailDetailType,
    #[error("EventBridge event has no detail object")]
    MissingDetail,
    #[error("body is a CloudTrail log file with {count} records, not one event")]
    LogFileNotEvent { count: usize },
    #[error("CloudTrail record has no {field}")]
    MissingField { field: &'static str },
    #[error("CloudTrail record field {field} is not a string")]
    FieldNotString { field: &'static str },
    #[error("EventBridge event has no account")]
    MissingEnvelopeAccount,
    #[error(
        "CloudTrail record has no recipientAccountId (required without an EventBridge envelope)"
    )]
    MissingAccount,
    #[error("CloudTrail record has no awsRegion and its envelope no region")]
    MissingRegion,
    #[error("{field} is not a 12-digit account id")]
    InvalidAccount { field: &'static str },
    #[error("{field} is not a region name (lowercase letters, digits and dashes)")]
    InvalidRegion { field: &'static str },
    #[error("CloudTrail record field eventTime is not an RFC 3339 time: {source}")]
    InvalidEventTime {
        #[source]
        source: chrono::ParseError,
    },
}

/// The characters of a region name (`us-east-1`, `us-gov-west-1`, `cn-north-1`). Looser than
/// [`crate::model::is_region_name`] on purpose: an event from a region AWS opened after this
/// build is still read, while nothing but lowercase letters, digits and dashes reaches ARNs,
/// SDK calls and logs.
fn has_region_characters(text: &str) -> bool {
    (1..=32).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
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
            return Err(EnvelopeError::NotCloudTrailDetailType);
        }
        let detail = object
            .remove("detail")
            .ok_or(EnvelopeError::MissingDetail)?;
        if detail.is_null() {
            return Err(EnvelopeError::MissingDetail);
        }
        let record = into_object(detail, "EventBridge detail")?;
        let envelope_account =
            take_string(&mut object, "account").ok_or(EnvelopeError::MissingEnvelopeAccount)?;
        let envelope_region = take_string(&mut object, "region");
        return from_record(
            record,
            Envelope::EventBridge,
            Some(envelope_account),
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

/// `envelope_account` is the EventBridge sender; `None` for a bare record.
fn from_record(
    record: Map<String, Value>,
    envelope: Envelope,
    envelope_account: Option<String>,
    envelope_region: Option<String>,
) -> Result<TrailEvent, EnvelopeError> {
    let event_name = required_string(&record, "eventName")?;
    let event_source = required_string(&record, "eventSource")?;
    let recipient_account_id =
        optional_string(&record, "recipientAccountId")?.filter(|account| !account.is_empty());
    if recipient_account_id
        .as_deref()
        .is_some_and(|account| !is_account_id(account))
    {
        return Err(EnvelopeError::InvalidAccount {
            field: "recipientAccountId",
        });
    }
    let account_id = match envelope_account {
        Some(sender) if is_account_id(&sender) => sender,
        Some(_) => return Err(EnvelopeError::InvalidAccount { field: "account" }),
        None => recipient_account_id
            .clone()
            .ok_or(EnvelopeError::MissingAccount)?,
    };
    let region = match optional_string(&record, "awsRegion")?.filter(|region| !region.is_empty()) {
        Some(region) if has_region_characters(&region) => region,
        Some(_) => return Err(EnvelopeError::InvalidRegion { field: "awsRegion" }),
        None => match envelope_region {
            Some(region) if has_region_characters(&region) => region,
            Some(_) => return Err(EnvelopeError::InvalidRegion { field: "region" }),
            None => return Err(EnvelopeError::MissingRegion),
        },
    };
    let event_time = match optional_string(&record, "eventTime")? {
        None => None,
        Some(value) => Some(
            DateTime::parse_from_rfc3339(&value)
                .map_err(|source| EnvelopeError::InvalidEventTime { source })?
                .with_timezone(&Utc),
        ),
    };
    // Present is failed, whatever the value: "" or null is not a success.
    let error_code = record.get("errorCode").map(|code| match code {
        Value::String(text) => text.clone(),
        _ => String::new(),
    });
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
        recipient_account_id,
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
    fn the_eventbridge_sender_is_the_account_whatever_the_record_says() {
        // given an envelope account (the sender) that differs from recipientAccountId
        let mut body = eventbridge(record());
        body["account"] = json!("999999999999");
        // when
        let event = parse_message(&body.to_string()).expect("parses");
        // then the sender is the account acted in, and the record's claim is kept aside
        assert_eq!(event.account_id, "999999999999");
        assert_eq!(event.recipient_account_id.as_deref(), Some("111122223333"));
        // and inside SNS too
        let event = parse_message(&sns(&body).to_string()).expect("parses");
        assert_eq!(event.account_id, "999999999999");
    }

    #[test]
    fn an_eventbridge_event_without_its_account_is_refused() {
        // given an EventBridge event whose account is missing (recipientAccountId present)
        let mut body = eventbridge(record());
        body.as_object_mut().expect("object").remove("account");
        // when
        let error = parse_message(&body.to_string()).expect_err("no sender");
        // then the record's recipientAccountId is not taken instead
        assert!(
            matches!(error, EnvelopeError::MissingEnvelopeAccount),
            "{error:?}"
        );
    }

    #[test]
    fn any_error_code_field_marks_the_call_failed() {
        // given errorCode fields that are empty, null, or not a string
        for value in [json!(""), json!(null), json!(0), json!("AccessDenied")] {
            let mut r = record();
            r["errorCode"] = value.clone();
            // when
            let event = parse_message(&r.to_string()).expect("parses");
            // then the call counts as failed
            assert!(event.error_code.is_some(), "{value}");
        }
        // and a record without the field succeeded
        assert_eq!(
            parse_message(&record().to_string())
                .expect("parses")
                .error_code,
            None
        );
    }

    #[test]
    fn errors_name_the_field_never_its_value() {
        // given poison bodies whose bad values carry a marker
        const MARKER: &str = "Xq7SECRETq7X";
        let with = |field: &str, value: &str| {
            let mut r = record();
            r[field] = json!(value);
            r
        };
        let mut bad_sender = eventbridge(record());
        bad_sender["account"] = json!(MARKER);
        let mut bad_envelope_region = eventbridge({
            let mut r = record();
            r.as_object_mut().expect("object").remove("awsRegion");
            r
        });
        bad_envelope_region["region"] = json!(MARKER);
        let mut bad_detail_type = eventbridge(record());
        bad_detail_type["detail-type"] = json!(format!("{MARKER}\nERROR forged line"));
        let table = [
            (bad_detail_type, "detail-type"),
            (with("eventTime", MARKER), "eventTime"),
            (with("recipientAccountId", MARKER), "recipientAccountId"),
            (
                with("awsRegion", &format!("us-east-1\n{MARKER}")),
                "awsRegion",
            ),
            (bad_sender, "account"),
            (bad_envelope_region, "region"),
            (sns(&with("eventTime", MARKER)), "eventTime"),
        ];
        for (body, field) in table {
            // when
            let error = parse_message(&body.to_string()).expect_err(field);
            // then the message names the field, and neither it nor the error's Debug form
            // holds the value
            let (display, debug) = (error.to_string(), format!("{error:?}"));
            assert!(display.contains(field), "{field}: {display}");
            assert!(
                !display.contains(MARKER) && !debug.contains(MARKER),
                "{debug}"
            );
        }
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
                "NotCloudTrailDetailType",
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
