//! Compliance on the local AWS: the compliance table keeps one summary per account, framework
//! and day (a later scan the same day replaces it) and returns the trend oldest first; a full
//! daily scan stores each framework's summary of every account it scanned.

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDate, Utc};
use lambda_runtime::{Context, LambdaEvent};
use qrie::compliance::{Counts, Summary};
use qrie::handler::{inventory_handler, scan_handler};
use qrie::inventory::InventoryRequest;
use qrie::scan::ScanRequest;
use qrie_tests::World;

fn summary(account: &str, framework: &str, day: NaiveDate, passed: usize) -> Summary {
    Summary {
        account_id: account.into(),
        framework: framework.into(),
        day,
        assessed_at: day.and_hms_opt(4, 0, 0).expect("a time").and_utc(),
        score: (passed > 0).then(|| passed as f64 / (passed + 3) as f64),
        passed,
        failed: if passed > 0 { 3 } else { 0 },
        no_resources: 7,
        manual: 28,
        not_evaluated: 11,
        by_severity: BTreeMap::from([("CRITICAL".to_owned(), Counts { passed, failed: 1 })]),
        failed_controls: BTreeMap::from([("S3.2".to_owned(), 2), ("S3.14".to_owned(), 1)]),
    }
}

#[tokio::test]
async fn the_compliance_table_keeps_one_summary_per_day_and_returns_the_trend_oldest_first() {
    // Given summaries of three days for one account and framework, a second write for the last
    // day, a day without any decided control, and summaries of another framework and account
    let world = World::new().await;
    let store = world.deps.stores.compliance.clone();
    let today = Utc::now().date_naive();
    let (a, b) = ("111111111111", "222222222222");
    for (days_ago, passed) in [(3, 1), (2, 0), (1, 4), (0, 5), (0, 6)] {
        store
            .put(&summary(
                a,
                "fsbp",
                today - Duration::days(days_ago),
                passed,
            ))
            .await
            .expect("stored");
    }
    store
        .put(&summary(a, "cis-aws-v5.0", today, 9))
        .await
        .expect("stored");
    store
        .put(&summary(b, "fsbp", today, 2))
        .await
        .expect("stored");
    // When the trend since two days ago is read
    let trend = store
        .history(a, "fsbp", today - Duration::days(2))
        .await
        .expect("read");
    // Then it has one summary per day, oldest first, the last write of a day winning, each
    // exactly as written (a day with no decided control has no score)
    let days: Vec<(NaiveDate, usize)> = trend.iter().map(|s| (s.day, s.passed)).collect();
    assert_eq!(
        days,
        [
            (today - Duration::days(2), 0),
            (today - Duration::days(1), 4),
            (today, 6)
        ]
    );
    assert_eq!(trend[0].score, None);
    assert_eq!(trend[2], summary(a, "fsbp", today, 6));
}

#[tokio::test]
async fn the_daily_scan_stores_each_frameworks_summary_of_the_scanned_account() {
    // Given an account with one bucket as S3 creates it (unversioned, no logging) inventoried
    let world = World::new().await;
    let account = world.onboard().await;
    let s3 = world.customer_s3(&account, "us-east-1").await;
    s3.create_bucket()
        .bucket(world.bucket("plain"))
        .send()
        .await
        .expect("bucket created");
    let request = InventoryRequest {
        service: "s3".into(),
        account_id: Some(account.account_id.clone()),
    };
    inventory_handler(LambdaEvent::new(request, Context::default()), &world.deps)
        .await
        .expect("inventory runs");
    // When the daily scan runs
    let scan = scan_handler(
        LambdaEvent::new(ScanRequest::default(), Context::default()),
        &world.deps,
    )
    .await
    .expect("scan runs");
    // Then it reports and stores a summary per framework for the account, today
    assert_eq!(scan.compliance.len(), 4, "{:?}", scan.compliance);
    let today = Utc::now().date_naive();
    let fsbp = world
        .deps
        .stores
        .compliance
        .history(&account.account_id, "fsbp", today)
        .await
        .expect("read");
    assert_eq!(fsbp.len(), 1, "{fsbp:?}");
    let fsbp = &fsbp[0];
    // And the unversioned bucket fails S3.14 through its one (bucket, policy) pair, while the
    // IAM controls, with no IAM resource inventoried, are neither passed nor failed
    assert_eq!(fsbp.failed_controls.get("S3.14"), Some(&1), "{fsbp:?}");
    assert!(
        !fsbp.failed_controls.keys().any(|c| c.starts_with("IAM.")),
        "{fsbp:?}"
    );
    assert!(fsbp.no_resources > 0 && fsbp.passed > 0, "{fsbp:?}");
    let line = scan
        .compliance
        .iter()
        .find(|l| l.framework == "fsbp")
        .expect("an fsbp line");
    assert_eq!(
        (line.passed, line.failed, line.score),
        (fsbp.passed, fsbp.failed, fsbp.score)
    );
    // And CIS reports as manual exactly its manual controls that no policy maps to
    let catalog = &world.deps.catalog;
    let mapped = |id: &str| {
        catalog.policies().iter().any(|p| {
            p.controls
                .iter()
                .any(|c| c.framework == "cis-aws-v5.0" && c.id == id)
        })
    };
    let manual = catalog
        .framework("cis-aws-v5.0")
        .expect("CIS")
        .values()
        .filter(|c| c.manual && !mapped(&c.id))
        .count();
    assert!(manual > 0, "the CIS list marks manual controls");
    let cis = world
        .deps
        .stores
        .compliance
        .history(&account.account_id, "cis-aws-v5.0", today)
        .await
        .expect("read");
    assert_eq!(cis[0].manual, manual, "{:?}", cis[0]);
}
