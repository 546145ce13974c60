//! The event processor end to end: a change in a customer account, its CloudTrail event sent
//! through a real SQS queue (with a dead-letter queue after 3 receives) on the local AWS, the
//! handler run on what the queue delivered, and the successful messages deleted as Lambda's SQS
//! integration does.

use std::collections::BTreeMap;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_s3::types::{BucketCannedAcl, ObjectOwnership};
use aws_sdk_sqs::types::MessageSystemAttributeName;
use chrono::Utc;
use lambda_runtime::{Context, LambdaEvent};
use qrie::handler::{event_handler, process_sqs_event};
use qrie::model::{Account, Finding, FindingState};
use qrie::process::{BatchSummary, IgnoredBecause};
use qrie::sqs_batch::MessageFailure;
use qrie_tests::{new_account_id, sample_event, World};
use serde_json::{json, Value};

use crate::seed;

const PUBLIC_READ: &str = "S3BucketPublicReadProhibited";
/// Bounded polling: receive calls (each waiting up to `WAIT_SECONDS`) before a test gives up.
const MAX_RECEIVES: usize = 20;
const WAIT_SECONDS: i32 = 1;

/// A work queue and its dead-letter queue (3 receives), in qrie's own account.
pub(crate) struct Queues {
    sqs: aws_sdk_sqs::Client,
    url: String,
    dlq_url: String,
}

impl Queues {
    pub(crate) async fn new(world: &World, visibility_timeout_secs: u32) -> Self {
        let sqs = aws_sdk_sqs::Client::new(&world.deps.sdk);
        let qrie_tests::QueueWithDlq { url, dlq_url } = qrie_tests::queue_with_dlq(
            &sqs,
            &format!("{}-events", world.id),
            visibility_timeout_secs,
        )
        .await;
        Self { sqs, url, dlq_url }
    }

    async fn send(&self, body: &str) -> String {
        self.sqs
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .send()
            .await
            .expect("message sent")
            .message_id
            .expect("message id")
    }

    /// One receive (up to 10 messages) from `url`, as the Lambda SQS integration polls.
    async fn receive_from(&self, url: &str) -> Vec<aws_sdk_sqs::types::Message> {
        self.sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(WAIT_SECONDS)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .expect("receive")
            .messages
            .unwrap_or_default()
    }

    /// Receives until `count` messages are in hand (bounded).
    pub(crate) async fn receive(&self, count: usize) -> Vec<aws_sdk_sqs::types::Message> {
        let mut messages = Vec::new();
        for _ in 0..MAX_RECEIVES {
            messages.extend(self.receive_from(&self.url).await);
            if messages.len() >= count {
                return messages;
            }
        }
        panic!("only {} of {count} messages arrived", messages.len());
    }

    /// Deletes the messages the handler did not report as failed (what Lambda does).
    pub(crate) async fn acknowledge(
        &self,
        messages: &[aws_sdk_sqs::types::Message],
        response: &SqsBatchResponse,
    ) {
        for m in messages {
            let id = m.message_id.as_deref().unwrap_or_default();
            if response
                .batch_item_failures
                .iter()
                .any(|f| f.item_identifier == id)
            {
                continue;
            }
            self.sqs
                .delete_message()
                .queue_url(&self.url)
                .receipt_handle(m.receipt_handle.as_deref().unwrap_or_default())
                .send()
                .await
                .expect("message deleted");
        }
    }
}

/// Sends `bodies`, receives them, runs the processor on the batch, and acknowledges the
/// successful ones. Returns the message ids sent, the response and the counts.
pub(crate) async fn deliver(
    world: &World,
    queues: &Queues,
    bodies: &[String],
) -> (Vec<String>, SqsBatchResponse, BatchSummary) {
    let mut ids = Vec::new();
    for body in bodies {
        ids.push(queues.send(body).await);
    }
    let messages = queues.receive(bodies.len()).await;
    let report = process_sqs_event(&qrie_tests::sqs_event(&messages), &world.deps)
        .await
        .expect("the batch is processed");
    queues.acknowledge(&messages, &report.response).await;
    (ids, report.response, report.summary)
}

/// An EventBridge "AWS API Call via CloudTrail" event for an S3 call on `bucket`.
pub(crate) fn s3_event(account_id: &str, event_name: &str, bucket: &str) -> String {
    json!({
        "version": "0",
        "id": uuid::Uuid::new_v4().to_string(),
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.s3",
        "account": account_id,
        "time": Utc::now().to_rfc3339(),
        "region": "us-east-1",
        "resources": [],
        "detail": {
            "eventVersion": "1.09",
            "userIdentity": {"type": "IAMUser", "accountId": account_id, "userName": "alice"},
            "eventTime": Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "eventSource": "s3.amazonaws.com",
            "eventName": event_name,
            "awsRegion": "us-east-1",
            "sourceIPAddress": "198.51.100.10",
            "requestParameters": {"bucketName": bucket, "Host": format!("{bucket}.s3.amazonaws.com")},
            "responseElements": null,
            "eventID": uuid::Uuid::new_v4().to_string(),
            "readOnly": false,
            "eventType": "AwsApiCall",
            "managementEvent": true,
            "recipientAccountId": account_id,
            "eventCategory": "Management",
            "resources": [{"accountId": account_id, "type": "AWS::S3::Bucket", "ARN": format!("arn:aws:s3:::{bucket}")}],
        },
    })
    .to_string()
}

pub(crate) async fn set_acl(s3: &aws_sdk_s3::Client, bucket: &str, acl: BucketCannedAcl) {
    s3.put_bucket_acl()
        .bucket(bucket)
        .acl(acl)
        .send()
        .await
        .expect("ACL set");
}

/// A bucket with ACLs enabled (so that a canned public-read ACL applies).
pub(crate) async fn bucket_with_acls(s3: &aws_sdk_s3::Client, bucket: &str) {
    seed::create_bucket(s3, bucket, "us-east-1").await;
    seed::set_object_ownership(s3, bucket, ObjectOwnership::ObjectWriter).await;
}

async fn findings_of(world: &World, bucket: &str) -> Vec<Finding> {
    let mut findings = world
        .deps
        .stores
        .findings
        .for_resource(&format!("arn:aws:s3:::{bucket}"))
        .await
        .unwrap();
    findings.sort_by(|a, b| a.policy_id.cmp(&b.policy_id));
    findings
}

fn state_of(findings: &[Finding], policy_id: &str) -> Option<FindingState> {
    findings
        .iter()
        .find(|f| f.policy_id == policy_id)
        .map(|f| f.state)
}

async fn stored(world: &World, account: &Account, bucket: &str) -> bool {
    world
        .deps
        .stores
        .resources
        .get(
            &format!("{}_s3", account.account_id),
            &format!("arn:aws:s3:::{bucket}"),
        )
        .await
        .unwrap()
        .is_some()
}

#[tokio::test]
async fn a_bucket_made_public_is_flagged_its_fix_resolves_and_its_deletion_removes_it() {
    // Given an onboarded account with a private bucket, and the events queue
    let world = World::new().await;
    let account = world.onboard().await;
    let s3 = world.customer_s3(&account, "us-east-1").await;
    let bucket = world.bucket("events");
    bucket_with_acls(&s3, &bucket).await;
    let queues = Queues::new(&world, 30).await;
    // When the bucket is made public and its PutBucketAcl event goes through the queue
    set_acl(&s3, &bucket, BucketCannedAcl::PublicRead).await;
    queues
        .send(&s3_event(&account.account_id, "PutBucketAcl", &bucket))
        .await;
    let messages = queues.receive(1).await;
    let response = event_handler(
        LambdaEvent::new(qrie_tests::sqs_event(&messages), Context::default()),
        &world.deps,
    )
    .await
    .expect("the handler runs");
    queues.acknowledge(&messages, &response).await;
    // Then the message succeeded, the bucket is stored and the public-read finding is ACTIVE
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    assert!(stored(&world, &account, &bucket).await);
    let findings = findings_of(&world, &bucket).await;
    assert_eq!(
        state_of(&findings, PUBLIC_READ),
        Some(FindingState::Active),
        "{findings:?}"
    );
    // And it is stored with its risk score: critical and public, 7.0 + 1.5, a number attribute
    let public = findings
        .iter()
        .find(|f| f.policy_id == PUBLIC_READ)
        .unwrap();
    assert_eq!(
        public.risk_score.map(|s| s.to_string()).as_deref(),
        Some("8.5")
    );
    use aws_sdk_dynamodb::types::AttributeValue;
    use qrie::store::schema::findings as f;
    let item = qrie::aws::dynamodb_client(&world.deps.sdk)
        .get_item()
        .table_name(&world.deps.config.tables.findings)
        .key(f::PK, AttributeValue::S(format!("arn:aws:s3:::{bucket}")))
        .key(f::SK, AttributeValue::S(PUBLIC_READ.into()))
        .send()
        .await
        .expect("GetItem")
        .item
        .expect("the finding's item");
    assert_eq!(
        item.get(f::RISK_SCORE),
        Some(&AttributeValue::N("8.5".into()))
    );

    // When the ACL is restored and the event sent
    set_acl(&s3, &bucket, BucketCannedAcl::Private).await;
    let (_, response, summary) = deliver(
        &world,
        &queues,
        &[s3_event(&account.account_id, "PutBucketAcl", &bucket)],
    )
    .await;
    // Then the finding is RESOLVED
    assert!(response.batch_item_failures.is_empty());
    assert!(summary.refresh.resolved >= 1, "{summary:?}");
    let findings = findings_of(&world, &bucket).await;
    assert_eq!(
        state_of(&findings, PUBLIC_READ),
        Some(FindingState::Resolved)
    );
    assert!(findings.iter().any(|f| f.state == FindingState::Active));

    // When the bucket is deleted and its DeleteBucket event sent
    s3.delete_bucket().bucket(&bucket).send().await.unwrap();
    let (_, response, summary) = deliver(
        &world,
        &queues,
        &[s3_event(&account.account_id, "DeleteBucket", &bucket)],
    )
    .await;
    // Then the resource is removed and every finding resolved
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(summary.refresh.removed, 1, "{summary:?}");
    assert!(!stored(&world, &account, &bucket).await);
    let findings = findings_of(&world, &bucket).await;
    assert!(!findings.is_empty());
    assert!(
        findings.iter().all(|f| f.state == FindingState::Resolved),
        "{findings:?}"
    );
    // And the queue is empty
    assert!(queues.receive_from(&queues.url).await.is_empty());
}

#[tokio::test]
async fn malformed_unknown_event_and_unknown_account_messages_behave_as_documented() {
    // Given an onboarded account and a batch of a malformed body, an event qrie does not
    // handle, and an event from an account that is not onboarded
    let world = World::new().await;
    let account = world.onboard().await;
    let queues = Queues::new(&world, 30).await;
    let bucket = world.bucket("any");
    let bodies = [
        "{\"detail-type\": \"AWS API Call via CloudTrail\", \"detail\": ".to_owned(),
        s3_event(&account.account_id, "PutBucketWebsiteRedirects", &bucket),
        s3_event(&new_account_id(), "PutBucketAcl", &bucket),
    ];
    // When the batch is processed
    let (ids, response, summary) = deliver(&world, &queues, &bodies).await;
    // Then only the malformed message fails (SQS retries it, then dead-letters it)
    let failed: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(failed, [ids[0].as_str()]);
    assert_eq!((summary.failed, summary.poison), (1, 1));
    // And the other two are acknowledged as ignored, each for its reason
    assert_eq!(
        summary.ignored,
        BTreeMap::from([
            (IgnoredBecause::UnsupportedEvent, 1),
            (IgnoredBecause::AccountNotOnboarded, 1),
        ])
    );
    assert_eq!(summary.processed, 0);
}

#[tokio::test]
async fn a_redelivered_message_changes_nothing() {
    // Given a public bucket whose event was processed, and a queue that redelivers at once
    let world = World::new().await;
    let account = world.onboard().await;
    let s3 = world.customer_s3(&account, "us-east-1").await;
    let bucket = world.bucket("replay");
    bucket_with_acls(&s3, &bucket).await;
    set_acl(&s3, &bucket, BucketCannedAcl::PublicRead).await;
    let queues = Queues::new(&world, 0).await;
    let id = queues
        .send(&s3_event(&account.account_id, "PutBucketAcl", &bucket))
        .await;
    let first_delivery = queues.receive(1).await;
    let first = process_sqs_event(&qrie_tests::sqs_event(&first_delivery), &world.deps)
        .await
        .unwrap()
        .summary;
    let before = findings_of(&world, &bucket).await;
    // When the same message is delivered again (not deleted: SQS at-least-once delivery)
    let second_delivery = queues.receive(1).await;
    assert_eq!(second_delivery[0].message_id.as_deref(), Some(id.as_str()));
    let second = process_sqs_event(&qrie_tests::sqs_event(&second_delivery), &world.deps)
        .await
        .unwrap()
        .summary;
    queues
        .acknowledge(&second_delivery, &SqsBatchResponse::default())
        .await;
    // Then the counts are the same, except that what opened is now still active
    assert!(first.refresh.opened >= 1, "{first:?}");
    assert_eq!(second.refresh.opened, 0);
    assert_eq!(second.refresh.still_active, first.refresh.opened);
    assert_eq!(
        (second.processed, second.failed, second.refresh.refreshed),
        (first.processed, first.failed, first.refresh.refreshed)
    );
    assert_eq!(second.refresh.evaluated, first.refresh.evaluated);
    // And the findings are unchanged but for their evaluation times
    let after = findings_of(&world, &bucket).await;
    let strip = |fs: &[Finding]| -> Vec<Value> {
        fs.iter()
            .map(|f| {
                json!({"policy": f.policy_id, "state": f.state, "first_seen": f.first_seen,
                       "resolved_at": f.resolved_at, "severity": f.severity, "evidence": f.evidence})
            })
            .collect()
    };
    assert_eq!(strip(&after), strip(&before));
    assert!(after
        .iter()
        .zip(&before)
        .all(|(a, b)| a.last_evaluated >= b.last_evaluated));
}

#[tokio::test]
async fn a_poison_message_ends_in_the_dlq_after_3_receives_while_its_batch_succeeds() {
    // Given a queue that makes failed messages visible again at once, a public bucket, and a
    // batch of its event and a poison message
    let world = World::new().await;
    let account = world.onboard().await;
    let s3 = world.customer_s3(&account, "us-east-1").await;
    let bucket = world.bucket("dlq");
    bucket_with_acls(&s3, &bucket).await;
    set_acl(&s3, &bucket, BucketCannedAcl::PublicRead).await;
    let queues = Queues::new(&world, 0).await;
    let poison = "not a CloudTrail event".to_owned();
    let good = s3_event(&account.account_id, "PutBucketAcl", &bucket);
    let poison_id = queues.send(&poison).await;
    queues.send(&good).await;
    // When the consumer loop runs (receive, handle, delete the successes) until the DLQ has it
    let mut handled: BTreeMap<String, usize> = BTreeMap::new();
    let mut dead = Vec::new();
    for _ in 0..MAX_RECEIVES {
        let messages = queues.receive_from(&queues.url).await;
        if !messages.is_empty() {
            for m in &messages {
                *handled
                    .entry(m.message_id.clone().unwrap_or_default())
                    .or_default() += 1;
            }
            let report = process_sqs_event(&qrie_tests::sqs_event(&messages), &world.deps)
                .await
                .unwrap();
            queues.acknowledge(&messages, &report.response).await;
        }
        dead = queues.receive_from(&queues.dlq_url).await;
        if !dead.is_empty() {
            break;
        }
    }
    // Then the poison message is in the DLQ, intact, after 3 receives
    assert_eq!(dead.len(), 1, "handled: {handled:?}");
    assert_eq!(dead[0].message_id.as_deref(), Some(poison_id.as_str()));
    assert_eq!(dead[0].body.as_deref(), Some(poison.as_str()));
    assert_eq!(handled.get(&poison_id), Some(&3));
    // And the good message was processed once and its finding opened
    assert_eq!(handled.len(), 2);
    assert!(handled.iter().any(|(id, n)| *id != poison_id && *n == 1));
    assert_eq!(
        state_of(&findings_of(&world, &bucket).await, PUBLIC_READ),
        Some(FindingState::Active)
    );
    assert!(queues.receive_from(&queues.url).await.is_empty());
}

/// The body of the first record of a sample SQS event, moved to `account_id`.
fn sample_body(file: &str, account_id: &str) -> String {
    let event = sample_event(&format!("event-processor/{file}"));
    event["Records"][0]["body"]
        .as_str()
        .expect("a body")
        .replace("111122223333", account_id)
}

#[tokio::test]
async fn an_event_for_a_kind_without_collector_is_acknowledged_as_unsupported() {
    // Given an onboarded account and the deletion of one of its VPC flow logs (EC2 is
    // collected, flow logs not yet as a kind: their events are followed ahead of their collector)
    let world = World::new().await;
    let account = world.onboard().await;
    let queues = Queues::new(&world, 30).await;
    let body = sample_body("ec2-delete-flow-logs.json", &account.account_id);
    // When it goes through the queue
    let (_, response, summary) = deliver(&world, &queues, &[body]).await;
    // Then it is acknowledged and counted unsupported
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    assert_eq!(summary.refresh.unsupported, 1, "{summary:?}");
    assert_eq!(summary.processed, 1);
    assert!(queues.receive_from(&queues.url).await.is_empty());
}

#[tokio::test]
async fn every_sample_event_runs_through_the_handler() {
    // Given a world where the samples' account is onboarded
    let world = World::new().await;
    world.onboard_sample_account().await;
    let files = qrie_tests::sample_files("event-processor");
    assert!(files.len() >= 6, "{files:?}");
    for file in files {
        // When each sample is invoked as Lambda would
        let event: SqsEvent =
            serde_json::from_value(sample_event(&format!("event-processor/{file}")))
                .unwrap_or_else(|e| panic!("{file}: {e}"));
        let records = event.records.len();
        let report = process_sqs_event(&event, &world.deps)
            .await
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        // Then every record is accounted for, and none fails
        let s = &report.summary;
        assert_eq!(s.messages, records, "{file}");
        assert_eq!(
            s.processed + s.ignored_total() + s.failed,
            records,
            "{file}"
        );
        assert_eq!(s.failed, 0, "{file}: {s:?}");
        let response = event_handler(LambdaEvent::new(event, Context::default()), &world.deps)
            .await
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(response.batch_item_failures.is_empty(), "{file}");
    }
}

/// A measurement, not a check: events per second through 10-message batches against the local
/// AWS (SQS receive and delete excluded; the describe, DynamoDB reads and writes included).
/// Run with `cargo test -p qrie-tests -- --ignored --nocapture events_per_second`.
#[tokio::test]
#[ignore = "a measurement; run by hand, see BENCHMARKS.md"]
async fn events_per_second_through_10_message_batches() {
    const BATCHES: usize = 5;
    const BATCH: usize = 10;
    // Given ten public buckets and their events on the queue, batch after batch
    let world = World::new().await;
    let account = world.onboard().await;
    let s3 = world.customer_s3(&account, "us-east-1").await;
    let queues = Queues::new(&world, 30).await;
    let mut buckets = Vec::new();
    for i in 0..BATCH {
        let bucket = world.bucket(&format!("rate{i}"));
        bucket_with_acls(&s3, &bucket).await;
        set_acl(&s3, &bucket, BucketCannedAcl::PublicRead).await;
        buckets.push(bucket);
    }
    let mut handler_time = std::time::Duration::ZERO;
    let mut events = 0;
    for _ in 0..BATCHES {
        for bucket in &buckets {
            queues
                .send(&s3_event(&account.account_id, "PutBucketAcl", bucket))
                .await;
        }
        let messages = queues.receive(BATCH).await;
        // When each batch goes through the handler
        let started = std::time::Instant::now();
        let report = process_sqs_event(&qrie_tests::sqs_event(&messages), &world.deps)
            .await
            .unwrap();
        handler_time += started.elapsed();
        queues.acknowledge(&messages, &report.response).await;
        assert_eq!(report.summary.failed, 0);
        events += messages.len();
    }
    // Then the rate is printed
    println!(
        "events_per_second: {events} events in {BATCHES} batches of {BATCH}: {:.0} ms per batch, {:.1} events/s",
        handler_time.as_secs_f64() * 1000.0 / BATCHES as f64,
        events as f64 / handler_time.as_secs_f64()
    );
}

/// An S3 event as `s3_event` builds it, with `change` applied to the JSON.
fn s3_event_with(
    account_id: &str,
    event_name: &str,
    bucket: &str,
    change: impl FnOnce(&mut Value),
) -> String {
    let mut event: Value =
        serde_json::from_str(&s3_event(account_id, event_name, bucket)).expect("the event is JSON");
    change(&mut event);
    event.to_string()
}

/// A public bucket of `account` whose PutBucketAcl event has been processed: stored, with its
/// public-read finding ACTIVE.
async fn public_bucket_flagged(
    world: &World,
    queues: &Queues,
    account: &Account,
    name: &str,
) -> String {
    let s3 = world.customer_s3(account, "us-east-1").await;
    let bucket = world.bucket(name);
    bucket_with_acls(&s3, &bucket).await;
    set_acl(&s3, &bucket, BucketCannedAcl::PublicRead).await;
    let (_, response, _) = deliver(
        world,
        queues,
        &[s3_event(&account.account_id, "PutBucketAcl", &bucket)],
    )
    .await;
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    assert!(stored(world, account, &bucket).await);
    assert_eq!(
        state_of(&findings_of(world, &bucket).await, PUBLIC_READ),
        Some(FindingState::Active)
    );
    bucket
}

#[tokio::test]
async fn a_delete_event_for_a_bucket_that_still_exists_keeps_its_critical_finding_active() {
    // Given a public bucket, flagged, that was never deleted
    let world = World::new().await;
    let account = world.onboard().await;
    let queues = Queues::new(&world, 30).await;
    let bucket = public_bucket_flagged(&world, &queues, &account, "notgone").await;
    // When a DeleteBucket event for it goes through the queue
    let (_, response, summary) = deliver(
        &world,
        &queues,
        &[s3_event(&account.account_id, "DeleteBucket", &bucket)],
    )
    .await;
    // Then the describe finds it: it stays stored, refreshed, and the critical finding ACTIVE
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    assert_eq!(
        (
            summary.refresh.removed,
            summary.refresh.refreshed,
            summary.refresh.resolved
        ),
        (0, 1, 0),
        "{summary:?}"
    );
    assert!(stored(&world, &account, &bucket).await);
    let findings = findings_of(&world, &bucket).await;
    assert_eq!(
        state_of(&findings, PUBLIC_READ),
        Some(FindingState::Active),
        "{findings:?}"
    );
    // And a daily scan keeps it open
    let scan = qrie::handler::scan_handler(
        LambdaEvent::new(qrie::scan::ScanRequest::default(), Context::default()),
        &world.deps,
    )
    .await
    .expect("scan runs");
    assert!(scan.errors.is_empty(), "{:?}", scan.errors);
    assert_eq!(
        state_of(&findings_of(&world, &bucket).await, PUBLIC_READ),
        Some(FindingState::Active)
    );
}

#[tokio::test]
async fn a_failed_delete_with_an_empty_error_code_is_ignored() {
    // Given a public bucket, flagged
    let world = World::new().await;
    let account = world.onboard().await;
    let queues = Queues::new(&world, 30).await;
    let bucket = public_bucket_flagged(&world, &queues, &account, "emptycode").await;
    // When DeleteBucket events whose errorCode is "" and null go through the queue
    let bodies: Vec<String> = [json!(""), json!(null)]
        .into_iter()
        .map(|code| {
            s3_event_with(&account.account_id, "DeleteBucket", &bucket, |e| {
                e["detail"]["errorCode"] = code;
                e["detail"]["errorMessage"] = json!("The bucket you tried to delete is not empty");
            })
        })
        .collect();
    let (_, response, summary) = deliver(&world, &queues, &bodies).await;
    // Then both are acknowledged as failed calls, and nothing changed
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    assert_eq!(
        summary.ignored,
        BTreeMap::from([(IgnoredBecause::ErrorCode, 2)]),
        "{summary:?}"
    );
    assert!(stored(&world, &account, &bucket).await);
    assert_eq!(
        state_of(&findings_of(&world, &bucket).await, PUBLIC_READ),
        Some(FindingState::Active)
    );
}

#[tokio::test]
async fn an_event_from_one_account_naming_another_acts_on_nothing_there() {
    // Given two onboarded accounts, A with a public bucket that is flagged, and B
    let world = World::new().await;
    let a = world.onboard().await;
    let b = world.onboard().await;
    let queues = Queues::new(&world, 30).await;
    let bucket = public_bucket_flagged(&world, &queues, &a, "foreign").await;
    let before = findings_of(&world, &bucket).await;
    // When A sends events whose records say they happened in B (a change, a deletion), and
    // A's records name B's resources by ARN
    let claims_b = |name: &str| {
        s3_event_with(&a.account_id, name, &bucket, |e| {
            e["detail"]["recipientAccountId"] = json!(b.account_id);
            e["detail"]["userIdentity"]["accountId"] = json!(b.account_id);
        })
    };
    let names_b_key = s3_event_with(&a.account_id, "DisableKeyRotation", &bucket, |e| {
        e["source"] = json!("aws.kms");
        e["detail"]["eventSource"] = json!("kms.amazonaws.com");
        e["detail"]["requestParameters"] =
            json!({"keyId": format!("arn:aws:kms:us-east-1:{}:key/k1", b.account_id)});
        e["detail"]["resources"] = json!([]);
    });
    let (_, response, summary) = deliver(
        &world,
        &queues,
        &[
            claims_b("PutBucketAcl"),
            claims_b("DeleteBucket"),
            names_b_key,
        ],
    )
    .await;
    // Then the claims are ignored and the ARN of B's key is counted foreign
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    assert_eq!(
        summary.ignored,
        BTreeMap::from([(IgnoredBecause::OtherAccount, 2)]),
        "{summary:?}"
    );
    assert_eq!(
        (
            summary.refresh.foreign,
            summary.refresh.refreshed,
            summary.refresh.removed
        ),
        (1, 0, 0),
        "{summary:?}"
    );
    // And nothing is stored in B, and A's findings are exactly as they were
    assert!(!stored(&world, &b, &bucket).await);
    assert!(stored(&world, &a, &bucket).await);
    let after = findings_of(&world, &bucket).await;
    let owners = |fs: &[Finding]| -> Vec<(String, String, String, FindingState)> {
        fs.iter()
            .map(|f| {
                (
                    f.policy_id.clone(),
                    f.account_id.clone(),
                    f.account_service.clone(),
                    f.state,
                )
            })
            .collect()
    };
    assert_eq!(owners(&after), owners(&before));
    assert!(after.iter().all(|f| f.account_id == a.account_id));

    // When B itself (a genuine sender) reports the deletion of a bucket with that name
    let (_, response, summary) = deliver(
        &world,
        &queues,
        &[s3_event(&b.account_id, "DeleteBucket", &bucket)],
    )
    .await;
    // Then A's findings are neither resolved nor moved to B
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    assert_eq!(summary.refresh.resolved, 0, "{summary:?}");
    assert!(!stored(&world, &b, &bucket).await);
    let after = findings_of(&world, &bucket).await;
    assert_eq!(
        state_of(&after, PUBLIC_READ),
        Some(FindingState::Active),
        "{after:?}"
    );
    assert!(after.iter().all(
        |f| f.account_id == a.account_id && f.account_service == format!("{}_s3", a.account_id)
    ));
    assert!(stored(&world, &a, &bucket).await);

    // When B reports a change to a bucket of that name (readable from B, but A's)
    let (_, response, summary) = deliver(
        &world,
        &queues,
        &[s3_event(&b.account_id, "PutBucketAcl", &bucket)],
    )
    .await;
    // Then A's bucket is not stored under B, and nothing opens or moves
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    assert_eq!(
        (summary.refresh.refreshed, summary.refresh.opened),
        (0, 0),
        "{summary:?}"
    );
    assert!(!stored(&world, &b, &bucket).await);
    assert_eq!(owners(&findings_of(&world, &bucket).await), owners(&before));
}

#[tokio::test]
async fn after_an_event_stamped_resolution_the_daily_scan_reopens_the_finding() {
    // Given a public bucket stored by the inventory and flagged by the scan
    let world = World::new().await;
    let account = world.onboard().await;
    let s3 = world.customer_s3(&account, "us-east-1").await;
    let bucket = world.bucket("stamped");
    bucket_with_acls(&s3, &bucket).await;
    set_acl(&s3, &bucket, BucketCannedAcl::PublicRead).await;
    let inventory = qrie::handler::inventory_handler(
        LambdaEvent::new(
            qrie::inventory::InventoryRequest {
                service: "s3".into(),
                account_id: Some(account.account_id.clone()),
            },
            Context::default(),
        ),
        &world.deps,
    )
    .await
    .expect("inventory runs");
    assert!(inventory.errors.is_empty(), "{:?}", inventory.errors);
    let scan = || async {
        qrie::handler::scan_handler(
            LambdaEvent::new(qrie::scan::ScanRequest::default(), Context::default()),
            &world.deps,
        )
        .await
        .expect("scan runs")
    };
    scan().await;
    assert_eq!(
        state_of(&findings_of(&world, &bucket).await, PUBLIC_READ),
        Some(FindingState::Active)
    );
    // When its finding is resolved with a stamp newer than the stored configuration (what a
    // DeleteBucket event used to do, with the event's own time, while the bucket stayed)
    let arn = format!("arn:aws:s3:::{bucket}");
    let stamped = qrie::store::Resolution::Passes {
        observed_at: Utc::now() + chrono::Duration::hours(1),
    };
    assert!(world
        .deps
        .stores
        .findings
        .resolve(&arn, PUBLIC_READ, &account.account_id, Utc::now(), stamped)
        .await
        .unwrap());
    assert_eq!(
        state_of(&findings_of(&world, &bucket).await, PUBLIC_READ),
        Some(FindingState::Resolved)
    );
    // Then the next daily scan, over the unchanged inventory, re-opens it
    let summary = scan().await;
    assert!(summary.tally.new >= 1, "{summary:?}");
    assert_eq!(
        state_of(&findings_of(&world, &bucket).await, PUBLIC_READ),
        Some(FindingState::Active)
    );
}

#[tokio::test]
async fn an_unassumable_role_fails_the_message_with_what_sts_said() {
    // Given an onboarded account whose role STS refuses
    let world = World::new().await;
    let account = world.onboard().await;
    qrie_tests::inject_fault(json!({
        "method": "POST",
        "body_contains": format!("RoleArn=arn%3Aaws%3Aiam%3A%3A{}%3A", account.account_id),
        "protocol": "xml_wrapped",
        "code": "AccessDenied",
        "message": "User is not authorized to perform sts:AssumeRole (ExternalId mismatch)",
    }))
    .await;
    let source = qrie::process::AwsSource::new(&world.deps.config, &world.deps.sdk);
    let catalog = qrie::policy::Catalog::embedded();
    let processor = qrie::process::EventProcessor::load(&catalog, &world.deps.stores, &source)
        .await
        .expect("settings load");
    // When one of its events is processed
    let error = processor
        .process_message(&s3_event(
            &account.account_id,
            "PutBucketAcl",
            &world.bucket("x"),
        ))
        .await
        .expect_err("the role cannot be assumed");
    // Then the message fails, retryably, with STS's code and message
    assert!(error.is_retryable(), "{error}");
    let text = error.to_string();
    assert!(text.contains(&account.account_id), "{text}");
    assert!(text.contains("AccessDenied"), "{text}");
    assert!(text.contains("ExternalId mismatch"), "{text}");
    assert!(
        !text.contains("an error occurred while loading credentials"),
        "{text}"
    );
}

#[tokio::test]
async fn an_unreadable_account_block_on_the_event_path_opens_nothing_and_keeps_existing_findings() {
    // Given a bucket made public whose public-read finding opened through its event
    let world = World::new().await;
    let account = world.onboard().await;
    let s3 = world.customer_s3(&account, "us-east-1").await;
    let (was_public, now_public) = (world.bucket("was-public"), world.bucket("now-public"));
    bucket_with_acls(&s3, &was_public).await;
    set_acl(&s3, &was_public, BucketCannedAcl::PublicRead).await;
    let queues = Queues::new(&world, 30).await;
    let acl_event = |bucket: &str| s3_event(&account.account_id, "PutBucketAcl", bucket);
    deliver(&world, &queues, &[acl_event(&was_public)]).await;
    let before = findings_of(&world, &was_public).await;
    assert_eq!(state_of(&before, PUBLIC_READ), Some(FindingState::Active));

    // When the account turns Block Public Access on, qrie's role is denied
    // s3:GetAccountPublicAccessBlock, another bucket is made public, and both events arrive
    crate::s3_posture::block_public_access_for_the_account(&world, &account).await;
    crate::s3_posture::deny_account_block_reads(&account).await;
    bucket_with_acls(&s3, &now_public).await;
    set_acl(&s3, &now_public, BucketCannedAcl::PublicRead).await;
    let (_, response, summary) = deliver(
        &world,
        &queues,
        &[acl_event(&was_public), acl_event(&now_public)],
    )
    .await;

    // Then both messages are processed (a permission problem is not retried forever) ...
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    assert_eq!(summary.refresh.refreshed, 2, "{summary:?}");
    // ... no public-read finding opens on the new bucket ...
    let new_findings = findings_of(&world, &now_public).await;
    assert_eq!(
        state_of(&new_findings, PUBLIC_READ),
        None,
        "{new_findings:?}"
    );
    assert_eq!(
        state_of(&new_findings, "S3BucketVersioningEnabled"),
        Some(FindingState::Active)
    );
    // ... the open finding stays exactly as it was ...
    let read = |fs: &[Finding]| fs.iter().find(|f| f.policy_id == PUBLIC_READ).cloned();
    assert_eq!(read(&findings_of(&world, &was_public).await), read(&before));
    // ... and the outcome counts and names what was not evaluated, with the failed call
    // (public read and write, and the two combinations of public access with the data)
    assert_eq!(summary.refresh.not_evaluated, 8, "{summary:?}");
    assert!(
        summary
            .refresh
            .unevaluated
            .iter()
            .any(|l| l.contains(&now_public)
                && l.contains("GetPublicAccessBlock (account): AccessDenied")),
        "{:?}",
        summary.refresh.unevaluated
    );
}

#[tokio::test]
async fn a_bad_policies_row_is_reported_and_the_event_batch_still_runs() {
    // Given a hand-written policies row with an unknown severity for the public-read policy
    let world = World::new().await;
    let account = world.onboard().await;
    qrie::aws::dynamodb_client(&world.deps.sdk)
        .put_item()
        .table_name(&world.deps.config.tables.policies)
        .item("PolicyId", AttributeValue::S(PUBLIC_READ.into()))
        .item("SeverityOverride", AttributeValue::S("super-urgent".into()))
        .send()
        .await
        .expect("row written");
    let s3 = world.customer_s3(&account, "us-east-1").await;
    let bucket = world.bucket("bad-row");
    bucket_with_acls(&s3, &bucket).await;
    set_acl(&s3, &bucket, BucketCannedAcl::PublicRead).await;
    let queues = Queues::new(&world, 30).await;
    // When the bucket's event goes through the queue
    let (_, response, summary) = deliver(
        &world,
        &queues,
        &[s3_event(&account.account_id, "PutBucketAcl", &bucket)],
    )
    .await;
    // Then the batch succeeds (nothing is dead-lettered) and the row is reported by id and field
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    assert_eq!(summary.processed, 1, "{summary:?}");
    let rows: Vec<(&str, &str)> = summary
        .bad_policy_rows
        .iter()
        .map(|r| (r.policy_id.as_str(), r.field.as_str()))
        .collect();
    assert_eq!(rows, [(PUBLIC_READ, "SeverityOverride")]);
    // And the policy still runs, at its catalogue severity
    let findings = findings_of(&world, &bucket).await;
    let read = findings
        .iter()
        .find(|f| f.policy_id == PUBLIC_READ)
        .unwrap();
    assert_eq!(
        (read.state, read.severity),
        (FindingState::Active, qrie::model::Severity::Critical)
    );
}

#[tokio::test]
async fn lifecycle_notification_and_replication_changes_resolve_their_findings_in_real_time() {
    // Given a new bucket whose CreateBucket event went through the queue
    let world = World::new().await;
    let account = world.onboard().await;
    let s3 = world.customer_s3(&account, "us-east-1").await;
    let eu = world.customer_s3(&account, "eu-west-1").await;
    let (bucket, replica) = (world.bucket("realtime"), world.bucket("realtime-replica"));
    seed::create_bucket(&s3, &bucket, "us-east-1").await;
    let queues = Queues::new(&world, 30).await;
    let event = |name: &str| s3_event(&account.account_id, name, &bucket);
    let (_, response, _) = deliver(&world, &queues, &[event("CreateBucket")]).await;
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    // Then it has no lifecycle rule, no notification and no replication
    const LIFECYCLE: &str = "S3BucketLifecyclePolicyConfigured";
    const NOTIFICATIONS: &str = "S3BucketEventNotificationsEnabled";
    const REPLICATION: &str = "S3BucketCrossRegionReplication";
    let findings = findings_of(&world, &bucket).await;
    for policy in [LIFECYCLE, NOTIFICATIONS, REPLICATION] {
        assert_eq!(
            state_of(&findings, policy),
            Some(FindingState::Active),
            "{policy}: {findings:?}"
        );
    }

    // When a lifecycle rule is put and its PutBucketLifecycle event delivered
    seed::expire_noncurrent_versions(&s3, &bucket).await;
    deliver(&world, &queues, &[event("PutBucketLifecycle")]).await;
    // Then exactly the lifecycle finding is resolved
    let findings = findings_of(&world, &bucket).await;
    assert_eq!(state_of(&findings, LIFECYCLE), Some(FindingState::Resolved));
    assert_eq!(
        state_of(&findings, NOTIFICATIONS),
        Some(FindingState::Active)
    );

    // When notifications go to a queue (PutBucketNotification is how CloudTrail logs
    // PutBucketNotificationConfiguration)
    seed::notify_queue(&s3, &bucket, "us-east-1").await;
    deliver(&world, &queues, &[event("PutBucketNotification")]).await;
    let findings = findings_of(&world, &bucket).await;
    assert_eq!(
        state_of(&findings, NOTIFICATIONS),
        Some(FindingState::Resolved)
    );

    // When the bucket is versioned and replicated to a bucket in eu-west-1
    seed::replica_bucket(&eu, &replica, "eu-west-1").await;
    seed::enable_versioning(&s3, &bucket).await;
    seed::replicate(&s3, &bucket, &replica).await;
    deliver(
        &world,
        &queues,
        &[event("PutBucketVersioning"), event("PutBucketReplication")],
    )
    .await;
    // Then the replication finding is resolved too
    let findings = findings_of(&world, &bucket).await;
    assert_eq!(
        state_of(&findings, REPLICATION),
        Some(FindingState::Resolved),
        "{findings:?}"
    );
}

/// An EventBridge "AWS API Call via CloudTrail" event for an S3 Control call on the access point
/// `name` in us-east-1, in the shape S3 Control calls are logged (`name`, and the ARN in
/// `resources[]`).
fn access_point_event(account_id: &str, event_name: &str, name: &str) -> String {
    let arn = format!("arn:aws:s3:us-east-1:{account_id}:accesspoint/{name}");
    json!({
        "version": "0",
        "id": uuid::Uuid::new_v4().to_string(),
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.s3",
        "account": account_id,
        "time": Utc::now().to_rfc3339(),
        "region": "us-east-1",
        "resources": [],
        "detail": {
            "eventVersion": "1.09",
            "userIdentity": {"type": "IAMUser", "accountId": account_id, "userName": "alice"},
            "eventTime": Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "eventSource": "s3.amazonaws.com",
            "eventName": event_name,
            "awsRegion": "us-east-1",
            "sourceIPAddress": "198.51.100.10",
            "requestParameters": {
                "name": name,
                "Host": format!("{account_id}.s3-control.us-east-1.amazonaws.com"),
                "x-amz-account-id": account_id,
            },
            "responseElements": null,
            "eventID": uuid::Uuid::new_v4().to_string(),
            "readOnly": false,
            "eventType": "AwsApiCall",
            "managementEvent": true,
            "recipientAccountId": account_id,
            "eventCategory": "Management",
            "resources": [{"accountId": account_id, "type": "AWS::S3::AccessPoint", "ARN": arn}],
        },
    })
    .to_string()
}

#[tokio::test]
async fn an_access_point_created_without_a_full_block_is_flagged_and_its_deletion_resolves_it() {
    // Given an onboarded account with a bucket, and the events queue
    let world = World::new().await;
    let account = world.onboard().await;
    let s3 = world.customer_s3(&account, "us-east-1").await;
    let bucket = world.bucket("ap-events");
    seed::create_bucket(&s3, &bucket, "us-east-1").await;
    let queues = Queues::new(&world, 30).await;
    let sdk = world.as_customer(&account).await;
    let control = qrie::aws::s3control_client(
        &qrie::aws::in_region(&sdk, "us-east-1"),
        &qrie_tests::settings(),
    );
    let name = world.bucket("ap");
    let arn = format!(
        "arn:aws:s3:us-east-1:{}:accesspoint/{name}",
        account.account_id
    );
    let policy_of = |findings: &[Finding]| state_of(findings, "S3AccessPointPublicAccessBlock");

    // When an access point that lets public policies through is created and its event sent
    seed::create_access_point(
        &control,
        &account.account_id,
        &name,
        &bucket,
        Some(seed::block_all_but_public_policy()),
        None,
    )
    .await;
    let (_, response, _) = deliver(
        &world,
        &queues,
        &[access_point_event(
            &account.account_id,
            "CreateAccessPoint",
            &name,
        )],
    )
    .await;

    // Then the access point is stored and its finding is ACTIVE
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    let findings = world.deps.stores.findings.for_resource(&arn).await.unwrap();
    assert_eq!(
        policy_of(&findings),
        Some(FindingState::Active),
        "{findings:?}"
    );

    // When it is deleted and its DeleteAccessPoint event sent
    control
        .delete_access_point()
        .account_id(&account.account_id)
        .name(&name)
        .send()
        .await
        .unwrap();
    let (_, response, summary) = deliver(
        &world,
        &queues,
        &[access_point_event(
            &account.account_id,
            "DeleteAccessPoint",
            &name,
        )],
    )
    .await;

    // Then it is removed and its finding RESOLVED
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    assert_eq!(summary.refresh.removed, 1, "{summary:?}");
    let findings = world.deps.stores.findings.for_resource(&arn).await.unwrap();
    assert_eq!(
        policy_of(&findings),
        Some(FindingState::Resolved),
        "{findings:?}"
    );
    assert!(world
        .deps
        .stores
        .resources
        .get(&format!("{}_s3", account.account_id), &arn)
        .await
        .unwrap()
        .is_none());
}
