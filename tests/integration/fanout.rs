//! The fanned-out inventory on the local AWS: 100 simulated customer accounts in 3 regions,
//! one run of KMS units drained by concurrent workers through the real SQS queue and its DLQ.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use qrie::fanout::{Fanout, Unit};
use qrie::inventory::{Inventory, InventoryRequest};
use qrie::store::object_scan::DynamoScanJobs;
use qrie_tests::{fault_rules, inject_fault, queue_with_dlq, sqs_event, unique, World};
use serde_json::json;

const ACCOUNTS: usize = 100;
const REGIONS: [&str; 3] = ["us-east-1", "eu-west-1", "us-west-2"];
/// Worker invocations at once (the reserved concurrency of the deployed worker).
const WORKERS: usize = 8;

fn fanout<'a>(world: &'a World, queue_url: &str) -> Fanout<'a> {
    Fanout {
        inventory: Inventory {
            config: &world.deps.config,
            base_sdk: &world.deps.sdk,
            stores: &world.deps.stores,
        },
        runs: DynamoScanJobs::new(
            qrie::aws::dynamodb_client(&world.deps.sdk),
            &world.deps.config.tables.scan_jobs,
        ),
        sqs: aws_sdk_sqs::Client::new(&world.deps.sdk),
        queue_url: queue_url.to_owned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_run_of_100_accounts_counts_every_unit_once() {
    let world = World::new().await;
    let sqs = aws_sdk_sqs::Client::new(&world.deps.sdk);
    let queue = queue_with_dlq(&sqs, &format!("inventory-{}", unique()), 30).await;
    let mut accounts = Vec::new();
    for _ in 0..ACCOUNTS {
        let mut account = world.onboard().await;
        account.regions = REGIONS.iter().map(|r| r.to_string()).collect();
        world.deps.stores.accounts.put(&account).await.unwrap();
        accounts.push(account);
    }
    // One key in us-east-1 of each of the first ten accounts: resources written.
    for account in &accounts[..10] {
        let sdk = world.as_customer(account).await;
        let kms = aws_sdk_kms::Client::new(&qrie::aws::in_region(&sdk, "us-east-1"));
        kms.create_key().send().await.expect("key created");
    }
    let fanout = fanout(&world, &queue.url);
    let started = fanout
        .start(&InventoryRequest {
            service: "kms".into(),
            account_id: None,
        })
        .await
        .expect("run planned");
    assert_eq!(started.queued, ACCOUNTS * REGIONS.len());
    assert_eq!(started.accounts, ACCOUNTS);

    // The poison unit: an account disabled after the run was planned can never be inventoried.
    let mut poisoned = accounts[99].clone();
    poisoned.enabled = false;
    world.deps.stores.accounts.put(&poisoned).await.unwrap();
    // The throttled account: its first KMS listings are throttled.
    let throttled = accounts[50].account_id.clone();
    inject_fault(json!({
        "account": throttled,
        "target": "TrentService.ListKeys",
        "protocol": "json",
        "status": 400,
        "code": "ThrottlingException",
        "message": "Rate exceeded (injected)",
        // More than the SDK's two attempts absorb: at least one unit fails its receive.
        "times": 4,
    }))
    .await;

    let clock = Instant::now();
    let in_flight = AtomicUsize::new(0);
    let peak = AtomicUsize::new(0);
    let receives: Mutex<BTreeMap<String, Vec<bool>>> = Mutex::new(BTreeMap::new());
    let worker = || async {
        loop {
            let out = sqs
                .receive_message()
                .queue_url(&queue.url)
                .max_number_of_messages(10)
                .message_system_attribute_names(
                    aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount,
                )
                .send()
                .await
                .expect("receive");
            let messages = out.messages.unwrap_or_default();
            if messages.is_empty() {
                let run = fanout.runs.get_run(&started.run_id).await.unwrap().unwrap();
                if run.finished() && in_flight.load(Ordering::SeqCst) == 0 {
                    break;
                }
                continue;
            }
            let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            let response = fanout.process_batch(&sqs_event(&messages).records).await;
            let failed: Vec<String> = response
                .batch_item_failures
                .iter()
                .map(|f| f.item_identifier.clone())
                .collect();
            for m in &messages {
                let unit: Unit = serde_json::from_str(m.body().unwrap()).unwrap();
                let id = m.message_id().unwrap().to_owned();
                let ok = !failed.contains(&id);
                receives
                    .lock()
                    .unwrap()
                    .entry(unit.id())
                    .or_default()
                    .push(ok);
                if ok {
                    sqs.delete_message()
                        .queue_url(&queue.url)
                        .receipt_handle(m.receipt_handle().unwrap())
                        .send()
                        .await
                        .expect("delete");
                } else {
                    sqs.change_message_visibility()
                        .queue_url(&queue.url)
                        .receipt_handle(m.receipt_handle().unwrap())
                        .visibility_timeout(0)
                        .send()
                        .await
                        .expect("visible again");
                }
            }
            in_flight.fetch_sub(1, Ordering::SeqCst);
        }
    };
    futures::future::join_all((0..WORKERS).map(|_| worker())).await;
    let wall = clock.elapsed();

    let run = fanout.runs.get_run(&started.run_id).await.unwrap().unwrap();
    let units = (ACCOUNTS * REGIONS.len()) as u64;
    assert_eq!(run.queued, units);
    assert_eq!(run.failed, 3, "the disabled account's three units: {run:?}");
    assert_eq!(run.done, units - 3, "{run:?}");
    assert!(run.finished());
    // Written counts each unit once: what the resources table holds.
    let mut stored = 0;
    for account in &accounts {
        stored += world
            .deps
            .stores
            .resources
            .seen_times(&format!("{}_kms", account.account_id))
            .await
            .unwrap()
            .len() as u64;
    }
    assert!(stored >= 10, "the ten keys are stored: {stored}");
    assert_eq!(run.written, stored);
    assert_eq!(run.removed, 0);

    // A redelivered unit (a done one, sent again) is not counted again.
    let again = Unit {
        run_id: started.run_id.clone(),
        account_id: accounts[0].account_id.clone(),
        service: "kms".into(),
        region: Some("us-east-1".into()),
        run_started: chrono::Utc::now() - chrono::Duration::hours(1),
    };
    let mut record = aws_lambda_events::event::sqs::SqsMessage::default();
    record.message_id = Some("redelivered".into());
    record.body = Some(serde_json::to_string(&again).unwrap());
    let response = fanout.process_batch(&[record]).await;
    assert!(response.batch_item_failures.is_empty());
    let after = fanout.runs.get_run(&started.run_id).await.unwrap().unwrap();
    assert_eq!(after, run, "a redelivery moves no count");

    // The poison units are in the DLQ after 3 receives each.
    let receives = receives.into_inner().unwrap();
    let dead = sqs
        .receive_message()
        .queue_url(&queue.dlq_url)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap_or_default();
    let mut dead_accounts: Vec<String> = dead
        .iter()
        .map(|m| {
            serde_json::from_str::<Unit>(m.body().unwrap())
                .unwrap()
                .account_id
        })
        .collect();
    dead_accounts.dedup();
    assert_eq!(dead.len(), 3, "{dead:?}");
    assert_eq!(dead_accounts, vec![poisoned.account_id.clone()]);
    for region in REGIONS {
        let id = format!("{}#kms#{region}", poisoned.account_id);
        assert_eq!(receives[&id], vec![false; 3], "{id}");
    }
    // The throttled account took more receives; every other unit one.
    let fired = fault_rules().await;
    let rule = fired
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["account"] == json!(throttled))
        .expect("the throttling rule");
    assert_eq!(rule["fired"], json!(4));
    let throttled_receives: usize = REGIONS
        .iter()
        .map(|r| receives[&format!("{throttled}#kms#{r}")].len())
        .sum();
    assert!(throttled_receives > 3, "{throttled_receives}");
    for r in REGIONS {
        assert_eq!(
            receives[&format!("{throttled}#kms#{r}")].last(),
            Some(&true),
            "the throttled account finishes"
        );
    }
    for (id, seen) in &receives {
        if !id.starts_with(&throttled) && !id.starts_with(&poisoned.account_id) {
            // (SQS may deliver a done unit again if its delete came after the visibility
            // timeout on a busy machine; the counts above show that moved nothing)
            assert_eq!(seen.first(), Some(&true), "{id} done on its first receive");
        }
    }
    let peak = peak.load(Ordering::SeqCst);
    assert!(peak >= 2, "workers ran concurrently: {peak}");
    println!(
        "fanout: {units} units in {:.2}s ({:.0} units/s), peak concurrency {peak} of {WORKERS}",
        wall.as_secs_f64(),
        units as f64 / wall.as_secs_f64()
    );
}
