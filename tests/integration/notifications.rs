//! Notifications on the local AWS: a findings topic (SNS) with an SQS queue subscribed, the event
//! processor and the policy scanner publishing through the real SDK, and what arrives in the
//! queue read until it is empty (long-poll receives, no sleeps).
//!
//! Each test runs with the S3 policies narrowed, in its own policies table, to public read
//! (critical) and versioning (low), so that a bucket's findings at or above `high` are exactly
//! its public-read one.

use std::path::Path;
use std::sync::Arc;

use aws_sdk_s3::types::BucketCannedAcl;
use aws_sdk_sqs::types::QueueAttributeName;
use lambda_runtime::{Context, LambdaEvent};
use qrie::config::NotifySettings;
use qrie::handler::{inventory_handler, scan_handler};
use qrie::inventory::InventoryRequest;
use qrie::model::{Account, FindingState, Severity, Suppression};
use qrie::notify::Notifier;
use qrie::policy::Catalog;
use qrie::scan::ScanRequest;
use qrie::store::PolicySetting;
use qrie_tests::World;
use serde_json::Value;

use crate::event_processor::{bucket_with_acls, deliver, s3_event, set_acl, Queues};

const PUBLIC_READ: &str = "S3BucketPublicReadProhibited";
const VERSIONING: &str = "S3BucketVersioningEnabled";
/// Seconds one receive waits for a message before the queue counts as empty.
const LONG_POLL_SECONDS: i32 = 2;

/// The findings topic and the queue subscribed to it.
struct Subscriber {
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    topic_arn: String,
}

impl Subscriber {
    /// A new topic with a queue subscribed (the SNS envelope delivered, not the raw message).
    async fn new(world: &World) -> Self {
        let sns = aws_sdk_sns::Client::new(&world.deps.sdk);
        let sqs = aws_sdk_sqs::Client::new(&world.deps.sdk);
        let topic_arn = sns
            .create_topic()
            .name(format!("{}-findings", world.id))
            .send()
            .await
            .expect("topic created")
            .topic_arn
            .expect("topic arn");
        let queue_url = sqs
            .create_queue()
            .queue_name(format!("{}-findings-subscriber", world.id))
            .send()
            .await
            .expect("queue created")
            .queue_url
            .expect("queue url");
        let queue_arn = sqs
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .expect("queue attributes")
            .attributes
            .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
            .expect("queue arn");
        sns.subscribe()
            .topic_arn(&topic_arn)
            .protocol("sqs")
            .endpoint(queue_arn)
            .send()
            .await
            .expect("subscribed");
        Self {
            sqs,
            queue_url,
            topic_arn,
        }
    }

    /// Every message waiting, received (and deleted) until a long-poll receive finds none; each
    /// is the SNS envelope (`Subject`, `Message`, `MessageAttributes`).
    async fn drain(&self) -> Vec<Value> {
        let mut out = Vec::new();
        loop {
            let messages = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(LONG_POLL_SECONDS)
                .send()
                .await
                .expect("receive")
                .messages
                .unwrap_or_default();
            if messages.is_empty() {
                return out;
            }
            for m in messages {
                self.sqs
                    .delete_message()
                    .queue_url(&self.queue_url)
                    .receipt_handle(m.receipt_handle.clone().unwrap_or_default())
                    .send()
                    .await
                    .expect("deleted");
                out.push(
                    serde_json::from_str(m.body().unwrap_or_default()).expect("an SNS envelope"),
                );
            }
        }
    }
}

/// The message inside an SNS envelope.
fn body(envelope: &Value) -> Value {
    serde_json::from_str(envelope["Message"].as_str().expect("a message")).expect("a JSON body")
}

fn attribute<'a>(envelope: &'a Value, name: &str) -> &'a str {
    envelope["MessageAttributes"][name]["Value"]
        .as_str()
        .unwrap_or_else(|| panic!("attribute {name} in {envelope}"))
}

/// A world whose notifier publishes to a subscribed topic from `high` up, with the S3 policies
/// narrowed to public read and versioning.
async fn world_with_topic() -> (World, Account, Subscriber) {
    let mut world = World::new().await;
    let account = world.onboard().await;
    let subscriber = Subscriber::new(&world).await;
    world.deps.config.notify = NotifySettings {
        topic_arn: Some(subscriber.topic_arn.clone()),
        min_severity: Severity::High,
    };
    world.deps.notifier = Notifier::from_settings(&world.deps.config.notify, &world.deps.sdk);
    narrow_policies(&world).await;
    (world, account, subscriber)
}

async fn narrow_policies(world: &World) {
    let ids: Vec<String> = world
        .deps
        .catalog
        .policies()
        .iter()
        .filter(|p| p.service == qrie::model::Service::S3)
        .map(|p| p.id.clone())
        .filter(|id| id != PUBLIC_READ && id != VERSIONING)
        .collect();
    for id in ids {
        let off = PolicySetting {
            active: false,
            ..PolicySetting::default()
        };
        world
            .deps
            .stores
            .policies
            .put_setting(&id, &off)
            .await
            .expect("setting stored");
    }
}

async fn finding(world: &World, bucket: &str, policy: &str) -> qrie::model::Finding {
    world
        .deps
        .stores
        .findings
        .for_resource(&format!("arn:aws:s3:::{bucket}"))
        .await
        .expect("read")
        .into_iter()
        .find(|f| f.policy_id == policy)
        .unwrap_or_else(|| panic!("no {policy} finding on {bucket}"))
}

#[tokio::test]
async fn an_opening_is_announced_once_and_a_reopening_once() {
    // Given a subscribed findings topic and a bucket made public
    let (world, account, subscriber) = world_with_topic().await;
    let s3 = world.customer_s3(&account, "us-east-1").await;
    let bucket = world.bucket("notify");
    bucket_with_acls(&s3, &bucket).await;
    set_acl(&s3, &bucket, BucketCannedAcl::PublicRead).await;
    let queues = Queues::new(&world, 30).await;
    let event = s3_event(&account.account_id, "PutBucketAcl", &bucket);
    // When its event is processed
    let (_, response, summary) = deliver(&world, &queues, std::slice::from_ref(&event)).await;
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    // Then the critical public-read finding and the low versioning one are open
    assert_eq!(summary.refresh.opened, 2, "{summary:?}");
    assert_eq!(
        finding(&world, &bucket, VERSIONING).await.state,
        FindingState::Active
    );
    // And exactly one message arrived: the public-read finding's, with what a responder needs
    let arrived = subscriber.drain().await;
    assert_eq!(arrived.len(), 1, "{arrived:#?}");
    assert_eq!(
        (summary.refresh.notified, summary.refresh.notify_failed),
        (1, 0)
    );
    let envelope = &arrived[0];
    let message = body(envelope);
    let arn = format!("arn:aws:s3:::{bucket}");
    assert_eq!(message["kind"], "finding");
    assert_eq!(message["event"], "opened");
    assert_eq!(message["resource"]["arn"], arn.as_str());
    assert_eq!(
        message["resource"]["account_id"],
        account.account_id.as_str()
    );
    assert_eq!(message["resource"]["region"], "us-east-1");
    assert_eq!(message["resource"]["service"], "s3");
    assert_eq!(message["resource"]["resource_type"], "AWS::S3::Bucket");
    assert_eq!(message["policy"]["id"], PUBLIC_READ);
    assert!(message["policy"]["title"]
        .as_str()
        .is_some_and(|t| !t.is_empty()));
    assert_eq!(message["severity"], "CRITICAL");
    assert!(
        message["controls"]["fsbp"]
            .as_array()
            .is_some_and(|c| !c.is_empty()),
        "{message}"
    );
    assert_eq!(message["state"], "ACTIVE");
    let stored = finding(&world, &bucket, PUBLIC_READ).await;
    assert_eq!(
        message["first_seen"],
        qrie::store::timestamp(stored.first_seen).as_str()
    );
    assert!(message["opened_at"].is_string(), "{message}");
    assert!(message["evidence"].is_object(), "{message}");
    assert_eq!(
        message["console_url"],
        format!("https://console.aws.amazon.com/s3/buckets/{bucket}?region=us-east-1").as_str()
    );
    assert!(
        envelope["Subject"].as_str().unwrap().contains(PUBLIC_READ),
        "{envelope}"
    );
    assert_eq!(attribute(envelope, "severity"), "CRITICAL");
    assert_eq!(attribute(envelope, "policy_id"), PUBLIC_READ);
    assert_eq!(attribute(envelope, "account"), account.account_id);

    // When the same event is delivered again
    let (_, _, again) = deliver(&world, &queues, std::slice::from_ref(&event)).await;
    // Then the refresh finds the finding open and nothing is published
    assert_eq!(
        (again.refresh.still_active, again.refresh.opened),
        (2, 0),
        "{again:?}"
    );
    assert_eq!(again.refresh.notified, 0);
    assert!(subscriber.drain().await.is_empty());

    // When the bucket is fixed, then made public again
    set_acl(&s3, &bucket, BucketCannedAcl::Private).await;
    let (_, _, fixed) = deliver(&world, &queues, std::slice::from_ref(&event)).await;
    assert_eq!(fixed.refresh.resolved, 1, "{fixed:?}");
    assert!(
        subscriber.drain().await.is_empty(),
        "a resolution is not announced"
    );
    set_acl(&s3, &bucket, BucketCannedAcl::PublicRead).await;
    let (_, _, broken) = deliver(&world, &queues, std::slice::from_ref(&event)).await;
    // Then one "reopened" message arrives, with the first sighting kept
    assert_eq!(
        (broken.refresh.opened, broken.refresh.reopened),
        (1, 1),
        "{broken:?}"
    );
    let arrived = subscriber.drain().await;
    assert_eq!(arrived.len(), 1, "{arrived:#?}");
    let message = body(&arrived[0]);
    assert_eq!(message["event"], "reopened");
    assert_eq!(attribute(&arrived[0], "event"), "reopened");
    assert_eq!(
        message["first_seen"],
        qrie::store::timestamp(stored.first_seen).as_str()
    );
    assert!(message["reopened_at"].is_string(), "{message}");
}

/// The embedded policies (read from the repository's `policies/`) with `rules` as the
/// suppression rules file.
fn catalog_with_rules(rules: &str) -> Catalog {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, String)>) {
        for entry in std::fs::read_dir(dir).expect("policies folder") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let name = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                out.push((name, std::fs::read_to_string(&path).expect("policy file")));
            }
        }
    }
    let root = qrie_tests::repo_root().join("policies");
    let mut files = Vec::new();
    walk(&root, &root, &mut files);
    files.retain(|(name, _)| name != qrie::policy::suppressions::FILE);
    files.push((
        qrie::policy::suppressions::FILE.to_owned(),
        rules.to_owned(),
    ));
    Catalog::from_files(files)
}

#[tokio::test]
async fn suppressed_findings_are_recorded_but_never_announced() {
    // Given a rule that mutes public read on this test's "muted-" buckets
    let (mut world, account, subscriber) = world_with_topic().await;
    let muted = world.bucket("muted");
    let rules = format!(
        "rules:\n  - id: static-site\n    reason: reviewed public website\n    by: sec@example.com\n    until: 2099-12-31\n    policies: [{PUBLIC_READ}]\n    resources: [\"arn:aws:s3:::{muted}\"]\n"
    );
    world.deps.catalog = catalog_with_rules(&rules);
    assert!(
        world.deps.catalog.rejected.is_empty(),
        "{:?}",
        world.deps.catalog.rejected
    );
    let s3 = world.customer_s3(&account, "us-east-1").await;
    bucket_with_acls(&s3, &muted).await;
    set_acl(&s3, &muted, BucketCannedAcl::PublicRead).await;
    let queues = Queues::new(&world, 30).await;
    // When the muted bucket's event is processed
    let (_, _, summary) = deliver(
        &world,
        &queues,
        &[s3_event(&account.account_id, "PutBucketAcl", &muted)],
    )
    .await;
    // Then its public-read finding is open and marked with the rule, and nothing is published
    assert_eq!(summary.refresh.opened, 2, "{summary:?}");
    let f = finding(&world, &muted, PUBLIC_READ).await;
    assert_eq!(f.state, FindingState::Active);
    assert_eq!(
        f.muted.as_ref().map(|m| m.rule.as_str()),
        Some("static-site")
    );
    assert_eq!(summary.refresh.notified, 0);
    assert!(subscriber.drain().await.is_empty());

    // Given another public bucket whose finding an operator suppressed, then fixed
    let accepted = world.bucket("accepted");
    bucket_with_acls(&s3, &accepted).await;
    set_acl(&s3, &accepted, BucketCannedAcl::PublicRead).await;
    let event = s3_event(&account.account_id, "PutBucketAcl", &accepted);
    let (_, _, opened) = deliver(&world, &queues, std::slice::from_ref(&event)).await;
    assert_eq!(opened.refresh.notified, 1, "{opened:?}");
    assert_eq!(subscriber.drain().await.len(), 1);
    let suppression = Suppression {
        by: "sec@example.com".into(),
        at: chrono::Utc::now(),
        reason: "accepted until the migration".into(),
        until: chrono::Utc::now() + chrono::Duration::days(30),
    };
    let arn = format!("arn:aws:s3:::{accepted}");
    assert!(world
        .deps
        .stores
        .findings
        .suppress(&arn, PUBLIC_READ, Some(&suppression))
        .await
        .unwrap());
    set_acl(&s3, &accepted, BucketCannedAcl::Private).await;
    let (_, _, fixed) = deliver(&world, &queues, std::slice::from_ref(&event)).await;
    assert_eq!(fixed.refresh.resolved, 1, "{fixed:?}");
    // When it fails again while the suppression holds
    set_acl(&s3, &accepted, BucketCannedAcl::PublicRead).await;
    let (_, _, reopened) = deliver(&world, &queues, std::slice::from_ref(&event)).await;
    // Then it is re-opened, suppressed, and not announced
    assert_eq!(reopened.refresh.reopened, 1, "{reopened:?}");
    let f = finding(&world, &accepted, PUBLIC_READ).await;
    assert_eq!((f.state, f.history.reopened), (FindingState::Active, 1));
    assert!(f.is_suppressed_at(chrono::Utc::now()));
    assert_eq!(reopened.refresh.notified, 0);
    assert!(subscriber.drain().await.is_empty());
}

#[tokio::test]
async fn the_daily_scan_sends_one_digest_and_nothing_when_nothing_is_new() {
    // Given three public buckets and a private one, inventoried
    let (world, account, subscriber) = world_with_topic().await;
    let s3 = world.customer_s3(&account, "us-east-1").await;
    let public: Vec<String> = (0..3).map(|i| world.bucket(&format!("pub{i}"))).collect();
    for b in &public {
        bucket_with_acls(&s3, b).await;
        set_acl(&s3, b, BucketCannedAcl::PublicRead).await;
    }
    bucket_with_acls(&s3, &world.bucket("private")).await;
    let inventory: InventoryRequest = serde_json::from_value(serde_json::json!({
        "service": "s3", "account_id": account.account_id,
    }))
    .unwrap();
    inventory_handler(LambdaEvent::new(inventory, Context::default()), &world.deps)
        .await
        .expect("inventory runs");
    // When the daily scan runs
    let summary = scan_handler(
        LambdaEvent::new(ScanRequest::default(), Context::default()),
        &world.deps,
    )
    .await
    .expect("scan runs");
    // Then it opened the three public-read findings and the four versioning ones
    assert_eq!(summary.tally.new, 7, "{summary:?}");
    assert_eq!(
        (
            summary.notifications.published,
            summary.notifications.failed
        ),
        (1, 0)
    );
    // And exactly one digest arrived, listing the three public-read findings and nothing low
    let arrived = subscriber.drain().await;
    assert_eq!(arrived.len(), 1, "{arrived:#?}");
    let digest = body(&arrived[0]);
    assert_eq!(digest["kind"], "digest");
    assert_eq!(digest["account_id"], account.account_id.as_str());
    assert_eq!(
        (digest["total"].as_u64(), digest["more"].as_u64()),
        (Some(3), Some(0))
    );
    assert_eq!(digest["by_severity"]["CRITICAL"]["new"], 3);
    let mut listed: Vec<&str> = digest["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            assert_eq!(f["policy_id"], PUBLIC_READ);
            f["arn"].as_str().unwrap()
        })
        .collect();
    listed.sort();
    let mut expected: Vec<String> = public.iter().map(|b| format!("arn:aws:s3:::{b}")).collect();
    expected.sort();
    assert_eq!(listed, expected);
    assert_eq!(attribute(&arrived[0], "kind"), "digest");
    assert_eq!(attribute(&arrived[0], "account"), account.account_id);
    assert!(
        arrived[0]["Subject"]
            .as_str()
            .unwrap()
            .contains("3 new or reopened findings"),
        "{}",
        arrived[0]["Subject"]
    );

    // When the scan runs again with nothing new
    let again = scan_handler(
        LambdaEvent::new(ScanRequest::default(), Context::default()),
        &world.deps,
    )
    .await
    .expect("scan runs");
    // Then nothing is published
    assert_eq!(
        (again.tally.new, again.tally.still_active),
        (0, 7),
        "{again:?}"
    );
    assert_eq!(again.notifications.published, 0);
    assert!(subscriber.drain().await.is_empty());
}

#[tokio::test]
async fn a_topic_that_refuses_publishes_never_changes_a_finding() {
    // Given a notifier pointed at a topic that does not exist
    let (mut world, account, _subscriber) = world_with_topic().await;
    let missing = format!(
        "arn:aws:sns:us-east-1:123456789012:{}-no-such-topic",
        world.id
    );
    world.deps.notifier = Notifier::new(
        Arc::new(qrie::notify::SnsPublisher::new(&world.deps.sdk, &missing)),
        Severity::High,
    );
    let s3 = world.customer_s3(&account, "us-east-1").await;
    let bucket = world.bucket("refused");
    bucket_with_acls(&s3, &bucket).await;
    set_acl(&s3, &bucket, BucketCannedAcl::PublicRead).await;
    let queues = Queues::new(&world, 30).await;
    // When the bucket's event is processed
    let (_, response, summary) = deliver(
        &world,
        &queues,
        &[s3_event(&account.account_id, "PutBucketAcl", &bucket)],
    )
    .await;
    // Then the message succeeds, the finding is open, and the failure is counted
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    assert_eq!(
        (summary.refresh.notified, summary.refresh.notify_failed),
        (0, 1),
        "{summary:?}"
    );
    assert_eq!(
        finding(&world, &bucket, PUBLIC_READ).await.state,
        FindingState::Active
    );
}
