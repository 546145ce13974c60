//! Deciding what a CloudTrail event means for qrie: ignored (and why), or the resources it
//! touched.
//!
//! [`classify`] drops failed calls, non-management events and read-only calls, looks the event
//! up in the [extraction table](super::catalog), and reads each touched resource's identifier
//! from the record. A supported event whose identifier is missing (a response that CloudTrail
//! left null, say) is an [`ExtractError`], never a silent empty list: the caller decides whether
//! to retry or drop it.

use serde::Serialize;
use serde_json::Value;
use thiserror::Error;

use super::arn::{ArnShape, IdentifierError};
use super::catalog::{rule_for, EventRule, IdSource, RecordCondition, Touch};
use super::envelope::TrailEvent;
use crate::model::Service;

/// One resource an event created, changed or removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TouchedResource {
    /// The service the resource belongs to (`s3`, `iam`, `ec2`, `rds`, `cloudtrail`, `kms`).
    pub service: Service,
    /// CloudFormation-style type, e.g. `AWS::S3::Bucket`.
    pub resource_type: &'static str,
    /// The account that owns the resource (from its ARN when the event gave one).
    pub account_id: String,
    /// The resource's region (from its ARN when the event gave one; for S3 buckets and IAM the
    /// event's `awsRegion`).
    pub region: String,
    /// The native identifier: bucket name, instance id, user name, key id, trail name... For
    /// per-account settings (password policy, account public access block, EBS default
    /// encryption) it is the account id.
    pub id: String,
    pub arn: String,
    /// The event says it removed the resource: a claim, which the processor checks by
    /// describing the resource like any other.
    pub deleted: bool,
    /// The event created the resource (a describe right after it may not see it yet).
    pub created: bool,
}

/// Why an event needs no work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IgnoreReason {
    /// The record's `recipientAccountId` is not the account that sent the event (EventBridge's
    /// `account`): an account may only report on itself.
    OtherAccount,
    /// The call failed (an `errorCode` field, whatever its value), so nothing changed.
    ErrorCode(String),
    /// A data, insight or network-activity event (the `eventCategory`).
    NotAManagementEvent(String),
    /// `readOnly: true`, or (without that flag) a Get/List/Describe/Head call.
    ReadOnly,
    /// Not in the extraction table.
    UnsupportedEvent {
        event_source: String,
        event_name: String,
    },
}

/// What to do with one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    Ignored(IgnoreReason),
    /// Never empty.
    Relevant(Vec<TouchedResource>),
}

/// A supported event whose record does not name the resource it touched. The event name is
/// one of the extraction table's (a supported event), and the identifier's value is never
/// carried: the message says where it was and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ExtractError {
    #[error("{event_name}: no {resource_type} identifier in {looked_in}")]
    MissingIdentifier {
        event_name: String,
        resource_type: &'static str,
        /// The places searched, e.g. `requestParameters.groupId, responseElements...`.
        looked_in: String,
    },
    #[error("{event_name}: {field}: {source}")]
    BadIdentifier {
        event_name: String,
        /// Where the identifier was read, e.g. `requestParameters.bucketName`.
        field: &'static str,
        #[source]
        source: IdentifierError,
    },
}

const READ_ONLY_PREFIXES: [&str; 4] = ["Get", "List", "Describe", "Head"];

/// Whether the call only read: its `readOnly` flag, else its name.
pub fn is_read_only(event: &TrailEvent) -> bool {
    event.read_only.unwrap_or_else(|| {
        READ_ONLY_PREFIXES
            .iter()
            .any(|prefix| event.event_name.starts_with(prefix))
    })
}

/// Decides whether an event matters and, if it does, which resources it touched.
pub fn classify(event: &TrailEvent) -> Result<Disposition, ExtractError> {
    if event
        .recipient_account_id
        .as_ref()
        .is_some_and(|recipient| *recipient != event.account_id)
    {
        return Ok(Disposition::Ignored(IgnoreReason::OtherAccount));
    }
    if let Some(code) = &event.error_code {
        return Ok(Disposition::Ignored(IgnoreReason::ErrorCode(code.clone())));
    }
    if let Some(category) = &event.event_category {
        if category != "Management" {
            return Ok(Disposition::Ignored(IgnoreReason::NotAManagementEvent(
                category.clone(),
            )));
        }
    }
    if is_read_only(event) {
        return Ok(Disposition::Ignored(IgnoreReason::ReadOnly));
    }
    let Some(rule) = rule_for(&event.event_source, &event.event_name) else {
        return Ok(Disposition::Ignored(IgnoreReason::UnsupportedEvent {
            event_source: event.event_source.clone(),
            event_name: event.event_name.clone(),
        }));
    };
    extract(rule, event).map(Disposition::Relevant)
}

fn extract(rule: &EventRule, event: &TrailEvent) -> Result<Vec<TouchedResource>, ExtractError> {
    let mut touched: Vec<TouchedResource> = Vec::with_capacity(rule.touches.len());
    for touch in rule.touches {
        if let Some(condition) = touch.only_if {
            if !condition_holds(condition, &event.record) {
                continue;
            }
        }
        let identifiers = first_identifiers(touch, event);
        if identifiers.is_empty() {
            return Err(ExtractError::MissingIdentifier {
                event_name: event.event_name.clone(),
                resource_type: touch.kind.resource_type,
                looked_in: looked_in(touch.from),
            });
        }
        for (field, identifier) in identifiers {
            let resource = resolve(touch, field, identifier, event)?;
            if !touched.iter().any(|seen| seen.arn == resource.arn) {
                touched.push(resource);
            }
        }
    }
    Ok(touched)
}

fn resolve(
    touch: &Touch,
    field: &'static str,
    identifier: &str,
    event: &TrailEvent,
) -> Result<TouchedResource, ExtractError> {
    let kind: &ArnShape = touch.kind;
    let resolved = kind
        .resolve(identifier, &event.account_id, &event.region)
        .map_err(|source| ExtractError::BadIdentifier {
            event_name: event.event_name.clone(),
            field,
            source,
        })?;
    Ok(TouchedResource {
        service: kind.service,
        resource_type: kind.resource_type,
        account_id: resolved.account_id,
        region: resolved.region,
        id: resolved.id,
        arn: resolved.arn,
        deleted: touch.deleted,
        created: touch.creates,
    })
}

/// The identifiers at the first source that has any, each with where it was read.
fn first_identifiers<'e>(touch: &Touch, event: &'e TrailEvent) -> Vec<(&'static str, &'e str)> {
    let mut found = Vec::new();
    for source in touch.from {
        match source {
            IdSource::Path(path) => strings_at(&event.record, path, &mut found),
            IdSource::ResourcesArn => resource_arns(&event.record, touch.kind, &mut found),
            IdSource::CallerIamUser => {
                if let Some(user) = caller_iam_user(&event.record) {
                    found.push(user);
                }
            }
            IdSource::Account => found.push(event.account_id.as_str()),
        }
        found.retain(|identifier| !identifier.is_empty());
        if !found.is_empty() {
            let field = source_name(source);
            return found.into_iter().map(|id| (field, id)).collect();
        }
    }
    Vec::new()
}

/// Collects every string at a dotted path, walking into each element of any array on the way.
fn strings_at<'v>(value: &'v Value, path: &str, found: &mut Vec<&'v str>) {
    walk(value, path.split('.'), found);
}

fn walk<'v, 'p>(
    value: &'v Value,
    mut segments: std::str::Split<'p, char>,
    found: &mut Vec<&'v str>,
) {
    match value {
        Value::Array(elements) => {
            for element in elements {
                walk(element, segments.clone(), found);
            }
        }
        Value::Object(fields) => {
            if let Some(segment) = segments.next() {
                let name = segment.strip_suffix("[]").unwrap_or(segment);
                if let Some(child) = fields.get(name) {
                    walk(child, segments, found);
                }
            }
        }
        Value::String(text) if segments.next().is_none() => found.push(text),
        _ => {}
    }
}

fn first_string_at<'v>(value: &'v Value, path: &str) -> Option<&'v str> {
    let mut found = Vec::new();
    strings_at(value, path, &mut found);
    found.into_iter().find(|text| !text.is_empty())
}

fn resource_arns<'v>(record: &'v Value, kind: &ArnShape, found: &mut Vec<&'v str>) {
    let Some(resources) = record.get("resources").and_then(Value::as_array) else {
        return;
    };
    for resource in resources {
        if resource.get("type").and_then(Value::as_str) == Some(kind.resource_type) {
            if let Some(arn) = resource.get("ARN").and_then(Value::as_str) {
                found.push(arn);
            }
        }
    }
}

/// The caller's user ARN (which carries the user's path), else its user name, when the caller
/// is an IAM user.
fn caller_iam_user(record: &Value) -> Option<&str> {
    let identity = record.get("userIdentity")?;
    if identity.get("type").and_then(Value::as_str) != Some("IAMUser") {
        return None;
    }
    identity
        .get("arn")
        .and_then(Value::as_str)
        .filter(|arn| arn.contains(":user/"))
        .or_else(|| identity.get("userName").and_then(Value::as_str))
}

/// The root user calling an IAM API about its own credentials: `userIdentity.type` is `Root`
/// and the request names no user (CreateAccessKey without `userName` creates a root key).
fn root_on_itself(record: &Value) -> bool {
    first_string_at(record, "userIdentity.type") == Some("Root")
        && first_string_at(record, "requestParameters.userName").is_none()
}

fn condition_holds(condition: RecordCondition, record: &Value) -> bool {
    match condition {
        RecordCondition::Equals(path, expected) => first_string_at(record, path) == Some(expected),
        RecordCondition::RootOnItself => root_on_itself(record),
        RecordCondition::NotRootOnItself => !root_on_itself(record),
        RecordCondition::Present(path) => first_string_at(record, path).is_some(),
        RecordCondition::Absent(path) => first_string_at(record, path).is_none(),
    }
}

fn source_name(source: &IdSource) -> &'static str {
    match source {
        IdSource::Path(path) => path,
        IdSource::ResourcesArn => "resources[].ARN",
        IdSource::CallerIamUser => "userIdentity (IAMUser)",
        IdSource::Account => "the account",
    }
}

fn looked_in(sources: &[IdSource]) -> String {
    sources
        .iter()
        .map(source_name)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trail::envelope::parse_message;
    use serde_json::json;

    fn event(record: Value) -> TrailEvent {
        parse_message(&record.to_string()).expect("test record parses")
    }

    fn base(source: &str, name: &str) -> Value {
        json!({
            "eventVersion": "1.08",
            "userIdentity": {
                "type": "IAMUser",
                "arn": "arn:aws:iam::111122223333:user/ops/alice",
                "accountId": "111122223333",
                "userName": "alice"
            },
            "eventTime": "2024-05-01T10:00:00Z",
            "eventSource": source,
            "eventName": name,
            "awsRegion": "us-east-1",
            "requestParameters": {},
            "responseElements": null,
            "eventID": "00000000-0000-0000-0000-000000000000",
            "eventType": "AwsApiCall",
            "recipientAccountId": "111122223333"
        })
    }

    fn arns(disposition: Disposition) -> Vec<String> {
        match disposition {
            Disposition::Relevant(resources) => resources.into_iter().map(|r| r.arn).collect(),
            Disposition::Ignored(reason) => panic!("ignored: {reason:?}"),
        }
    }

    #[test]
    fn failed_non_management_and_read_only_calls_are_ignored() {
        // given records that change nothing qrie tracks
        let failed = {
            let mut r = base("s3.amazonaws.com", "DeleteBucket");
            r["errorCode"] = json!("BucketNotEmpty");
            r["requestParameters"] = json!({"bucketName": "b"});
            r
        };
        let data_event = {
            let mut r = base("s3.amazonaws.com", "PutObject");
            r["eventCategory"] = json!("Data");
            r
        };
        let flagged_read_only = {
            let mut r = base("kms.amazonaws.com", "Decrypt");
            r["readOnly"] = json!(true);
            r
        };
        let named_read_only = base("ec2.amazonaws.com", "DescribeInstances");
        let head = base("s3.amazonaws.com", "HeadBucket");
        let unknown = base("lambda.amazonaws.com", "PublishVersion20150331");
        let same_name_other_service = base("lightsail.amazonaws.com", "CreateBucket");
        let table = [
            (failed, IgnoreReason::ErrorCode("BucketNotEmpty".into())),
            (data_event, IgnoreReason::NotAManagementEvent("Data".into())),
            (flagged_read_only, IgnoreReason::ReadOnly),
            (named_read_only, IgnoreReason::ReadOnly),
            (head, IgnoreReason::ReadOnly),
            (
                unknown,
                IgnoreReason::UnsupportedEvent {
                    event_source: "lambda.amazonaws.com".into(),
                    event_name: "PublishVersion20150331".into(),
                },
            ),
            (
                same_name_other_service,
                IgnoreReason::UnsupportedEvent {
                    event_source: "lightsail.amazonaws.com".into(),
                    event_name: "CreateBucket".into(),
                },
            ),
        ];
        for (record, expected) in table {
            // when
            let disposition = classify(&event(record));
            // then
            assert_eq!(disposition, Ok(Disposition::Ignored(expected)));
        }
    }

    #[test]
    fn a_get_call_flagged_not_read_only_is_not_ignored_as_read_only() {
        // given a Get-named call whose record says readOnly: false
        let mut record = base("s3.amazonaws.com", "GetSomethingThatWrites");
        record["readOnly"] = json!(false);
        // when
        let disposition = classify(&event(record));
        // then it is judged by the table, not by its name
        assert!(matches!(
            disposition,
            Ok(Disposition::Ignored(IgnoreReason::UnsupportedEvent { .. }))
        ));
    }

    #[test]
    fn terminating_several_instances_touches_each_and_marks_them_deleted() {
        // given a TerminateInstances call on two instances
        let mut record = base("ec2.amazonaws.com", "TerminateInstances");
        record["requestParameters"] = json!({"instancesSet": {"items": [
            {"instanceId": "i-0aaa"}, {"instanceId": "i-0bbb"}
        ]}});
        // when
        let disposition = classify(&event(record)).expect("extracts");
        // then
        let expected: Vec<TouchedResource> = ["i-0aaa", "i-0bbb"]
            .into_iter()
            .map(|id| TouchedResource {
                service: Service::Ec2,
                resource_type: "AWS::EC2::Instance",
                account_id: "111122223333".into(),
                region: "us-east-1".into(),
                id: id.into(),
                arn: format!("arn:aws:ec2:us-east-1:111122223333:instance/{id}"),
                deleted: true,
                created: false,
            })
            .collect();
        assert_eq!(disposition, Disposition::Relevant(expected));
    }

    #[test]
    fn create_security_group_touches_the_group_and_its_vpc() {
        // given a CreateSecurityGroup in a VPC
        let mut record = base("ec2.amazonaws.com", "CreateSecurityGroup");
        record["requestParameters"] = json!({"groupName": "web", "vpcId": "vpc-1"});
        record["responseElements"] = json!({"_return": true, "groupId": "sg-1"});
        // when
        let touched = arns(classify(&event(record)).expect("extracts"));
        // then
        assert_eq!(
            touched,
            [
                "arn:aws:ec2:us-east-1:111122223333:security-group/sg-1",
                "arn:aws:ec2:us-east-1:111122223333:vpc/vpc-1"
            ]
        );
    }

    #[test]
    fn a_missing_identifier_is_an_error_not_an_empty_list() {
        // given a RunInstances whose response CloudTrail left null
        let record = base("ec2.amazonaws.com", "RunInstances");
        // when
        let result = classify(&event(record));
        // then
        assert_eq!(
            result,
            Err(ExtractError::MissingIdentifier {
                event_name: "RunInstances".into(),
                resource_type: "AWS::EC2::Instance",
                looked_in: "responseElements.instancesSet.items[].instanceId".into(),
            })
        );
    }

    #[test]
    fn a_key_alias_is_an_identifier_error() {
        // given an EnableKey naming the key by alias, with no resources[]
        let mut record = base("kms.amazonaws.com", "EnableKey");
        record["requestParameters"] = json!({"keyId": "alias/prod"});
        // when
        let result = classify(&event(record));
        // then
        assert!(matches!(
            result,
            Err(ExtractError::BadIdentifier {
                source: IdentifierError::Alias { .. },
                ..
            })
        ));
    }

    #[test]
    fn the_key_arn_region_wins_over_the_event_region() {
        // given the KMS docs' ScheduleKeyDeletion: event in us-east-1, key in us-west-2
        let mut record = base("kms.amazonaws.com", "ScheduleKeyDeletion");
        record["requestParameters"] =
            json!({"keyId": "1234abcd-12ab-34cd-56ef-1234567890ab", "pendingWindowInDays": 20});
        record["responseElements"] = json!({
            "keyId": "arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "keyState": "PendingDeletion"
        });
        // when
        let disposition = classify(&event(record.clone())).expect("extracts");
        // then
        let expected = TouchedResource {
            service: Service::Kms,
            resource_type: "AWS::KMS::Key",
            account_id: "111122223333".into(),
            region: "us-west-2".into(),
            id: "1234abcd-12ab-34cd-56ef-1234567890ab".into(),
            arn: "arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
                .into(),
            deleted: false,
            created: false,
        };
        assert_eq!(disposition, Disposition::Relevant(vec![expected.clone()]));

        // and given the same event with resources[] naming the key (in another account)
        record["resources"] = json!([{
            "accountId": "444455556666",
            "type": "AWS::KMS::Key",
            "ARN": "arn:aws:kms:us-west-2:444455556666:key/1234abcd-12ab-34cd-56ef-1234567890ab"
        }]);
        // when
        let disposition = classify(&event(record)).expect("extracts");
        // then resources[] wins, with its account
        let Disposition::Relevant(touched) = disposition else {
            panic!("ignored")
        };
        assert_eq!(touched[0].account_id, "444455556666");
        assert_eq!(touched[0].region, "us-west-2");
    }

    #[test]
    fn access_key_calls_without_a_user_name_touch_the_caller() {
        // given an UpdateAccessKey by an IAM user on their own key
        let mut record = base("iam.amazonaws.com", "UpdateAccessKey");
        record["requestParameters"] =
            json!({"accessKeyId": "AKIAIOSFODNN7EXAMPLE", "status": "Inactive"});
        // when
        let disposition = classify(&event(record)).expect("extracts");
        // then the caller is the touched user, stored under its ARN without the path (the
        // ARN an event naming only `alice` gives, and the collector stores)
        let Disposition::Relevant(touched) = disposition else {
            panic!("ignored")
        };
        assert_eq!(touched[0].arn, "arn:aws:iam::111122223333:user/alice");
        assert_eq!(touched[0].id, "alice");
    }

    #[test]
    fn root_credential_calls_touch_the_root_user_not_a_user() {
        // given a CreateAccessKey by the root user with no userName (a root access key)
        let root = json!({"type": "Root", "arn": "arn:aws:iam::111122223333:root",
                          "accountId": "111122223333"});
        let mut record = base("iam.amazonaws.com", "CreateAccessKey");
        record["userIdentity"] = root.clone();
        record["responseElements"] = json!({"accessKey": {"accessKeyId": "AKIAIOSFODNN7EXAMPLE",
                                            "status": "Active"}});
        // then it is about the root user
        assert_eq!(
            arns(classify(&event(record)).expect("extracts")),
            ["arn:aws:iam::111122223333:root"]
        );
        // and the root user enabling its own MFA too
        let mut mfa = base("iam.amazonaws.com", "EnableMFADevice");
        mfa["userIdentity"] = root.clone();
        mfa["requestParameters"] = json!({"serialNumber": "arn:aws:iam::111122223333:mfa/root"});
        assert_eq!(
            arns(classify(&event(mfa)).expect("extracts")),
            ["arn:aws:iam::111122223333:root"]
        );
        // but the root user creating a key for alice touches alice
        let mut for_alice = base("iam.amazonaws.com", "CreateAccessKey");
        for_alice["userIdentity"] = root;
        for_alice["requestParameters"] = json!({"userName": "alice"});
        assert_eq!(
            arns(classify(&event(for_alice)).expect("extracts")),
            ["arn:aws:iam::111122223333:user/alice"]
        );
    }

    #[test]
    fn group_role_and_policy_events_touch_their_resources() {
        let touched = |name: &str, request: Value| {
            let mut record = base("iam.amazonaws.com", name);
            record["requestParameters"] = request;
            arns(classify(&event(record)).expect("extracts"))
        };
        // membership touches the user and the group
        assert_eq!(
            touched(
                "AddUserToGroup",
                json!({"userName": "alice", "groupName": "admins"})
            ),
            [
                "arn:aws:iam::111122223333:user/alice",
                "arn:aws:iam::111122223333:group/admins"
            ]
        );
        assert_eq!(
            touched(
                "UpdateAssumeRolePolicy",
                json!({"roleName": "deploy", "policyDocument": "{}"})
            ),
            ["arn:aws:iam::111122223333:role/deploy"]
        );
        // a policy named by an ARN with a path is stored without it
        assert_eq!(
            touched(
                "CreatePolicyVersion",
                json!({"policyArn": "arn:aws:iam::111122223333:policy/team/admin", "setAsDefault": true})
            ),
            ["arn:aws:iam::111122223333:policy/admin"]
        );
        assert_eq!(
            touched(
                "DeleteServerCertificate",
                json!({"serverCertificateName": "old"})
            ),
            ["arn:aws:iam::111122223333:server-certificate/old"]
        );
    }

    #[test]
    fn identity_provider_events_touch_the_provider_and_the_account_access() {
        let touched = |name: &str, request: Value, response: Value| {
            let mut record = base("iam.amazonaws.com", name);
            record["requestParameters"] = request;
            record["responseElements"] = response;
            arns(classify(&event(record)).expect("extracts"))
        };
        let access = "arn:aws:iam::111122223333:account-access";
        // a SAML provider by its name or its ARN
        assert_eq!(
            touched(
                "CreateSAMLProvider",
                json!({"name": "corp", "sAMLMetadataDocument": "<md/>"}),
                json!({"sAMLProviderArn": "arn:aws:iam::111122223333:saml-provider/corp"})
            ),
            ["arn:aws:iam::111122223333:saml-provider/corp", access]
        );
        assert_eq!(
            touched(
                "DeleteSAMLProvider",
                json!({"sAMLProviderArn": "arn:aws:iam::111122223333:saml-provider/corp"}),
                Value::Null
            ),
            ["arn:aws:iam::111122223333:saml-provider/corp", access]
        );
        // an OIDC provider by its ARN, whose id may hold a path
        assert_eq!(
            touched(
                "AddClientIDToOpenIDConnectProvider",
                json!({"openIDConnectProviderArn": "arn:aws:iam::111122223333:oidc-provider/idp.example.com/tenant", "clientID": "app"}),
                Value::Null
            ),
            ["arn:aws:iam::111122223333:oidc-provider/idp.example.com/tenant"]
        );
        // and attaching a role's policy also refreshes the account access
        assert_eq!(
            touched(
                "AttachRolePolicy",
                json!({"roleName": "support", "policyArn": "arn:aws:iam::aws:policy/AWSSupportAccess"}),
                Value::Null
            ),
            ["arn:aws:iam::111122223333:role/support", access]
        );
    }

    #[test]
    fn an_access_key_call_by_a_role_without_a_user_name_is_an_error() {
        // given a DeleteAccessKey by an assumed role with no userName
        let mut record = base("iam.amazonaws.com", "DeleteAccessKey");
        record["userIdentity"] = json!({"type": "AssumedRole",
            "arn": "arn:aws:sts::111122223333:assumed-role/admin/bob"});
        record["requestParameters"] = json!({"accessKeyId": "AKIAIOSFODNN7EXAMPLE"});
        // when
        let result = classify(&event(record));
        // then
        assert!(matches!(
            result,
            Err(ExtractError::MissingIdentifier { .. })
        ));
    }

    #[test]
    fn renaming_a_user_deletes_the_old_name_and_touches_the_new() {
        // given an UpdateUser rename
        let mut record = base("iam.amazonaws.com", "UpdateUser");
        record["requestParameters"] = json!({"userName": "bob", "newUserName": "robert"});
        // when
        let disposition = classify(&event(record)).expect("extracts");
        // then
        let Disposition::Relevant(touched) = disposition else {
            panic!("ignored")
        };
        let summary: Vec<(&str, bool)> =
            touched.iter().map(|t| (t.id.as_str(), t.deleted)).collect();
        assert_eq!(summary, [("bob", true), ("robert", false)]);
    }

    #[test]
    fn updating_a_user_without_rename_touches_it_once() {
        // given an UpdateUser that only moves the user to a new path
        let mut record = base("iam.amazonaws.com", "UpdateUser");
        record["requestParameters"] = json!({"userName": "bob", "newPath": "/ops/"});
        // when
        let touched = arns(classify(&event(record)).expect("extracts"));
        // then
        assert_eq!(touched, ["arn:aws:iam::111122223333:user/bob"]);
    }

    #[test]
    fn a_flow_log_on_a_subnet_touches_only_the_flow_log() {
        // given a CreateFlowLogs on a subnet, in the XML-derived shape of the real records
        let mut record = base("ec2.amazonaws.com", "CreateFlowLogs");
        record["requestParameters"] = json!({"CreateFlowLogsRequest": {
            "ResourceId": {"tag": 1, "content": "subnet-1"},
            "ResourceType": "Subnet",
            "TrafficType": "ALL"
        }});
        record["responseElements"] = json!({"CreateFlowLogsResponse": {
            "flowLogIdSet": {"item": "fl-1"}, "unsuccessful": ""
        }});
        // when
        let touched = arns(classify(&event(record)).expect("extracts"));
        // then
        assert_eq!(
            touched,
            ["arn:aws:ec2:us-east-1:111122223333:vpc-flow-log/fl-1"]
        );
    }

    #[test]
    fn a_flow_log_call_on_several_vpcs_touches_each() {
        // given a CreateFlowLogs on two VPCs: items become arrays
        let mut record = base("ec2.amazonaws.com", "CreateFlowLogs");
        record["requestParameters"] = json!({"CreateFlowLogsRequest": {
            "ResourceId": [{"tag": 1, "content": "vpc-1"}, {"tag": 2, "content": "vpc-2"}],
            "ResourceType": "VPC"
        }});
        record["responseElements"] = json!({"CreateFlowLogsResponse": {
            "flowLogIdSet": {"item": ["fl-1", "fl-2"]}
        }});
        // when
        let touched = arns(classify(&event(record)).expect("extracts"));
        // then
        assert_eq!(
            touched,
            [
                "arn:aws:ec2:us-east-1:111122223333:vpc-flow-log/fl-1",
                "arn:aws:ec2:us-east-1:111122223333:vpc-flow-log/fl-2",
                "arn:aws:ec2:us-east-1:111122223333:vpc/vpc-1",
                "arn:aws:ec2:us-east-1:111122223333:vpc/vpc-2",
            ]
        );
    }

    #[test]
    fn a_gov_cloud_event_uses_the_gov_cloud_partition() {
        // given a DeleteVolume in us-gov-west-1
        let mut record = base("ec2.amazonaws.com", "DeleteVolume");
        record["awsRegion"] = json!("us-gov-west-1");
        record["requestParameters"] = json!({"volumeId": "vol-1"});
        // when
        let touched = arns(classify(&event(record)).expect("extracts"));
        // then
        assert_eq!(
            touched,
            ["arn:aws-us-gov:ec2:us-gov-west-1:111122223333:volume/vol-1"]
        );
    }
}
