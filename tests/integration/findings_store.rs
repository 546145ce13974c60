//! The findings store's contract, run the same way against the DynamoDB adapter on the local
//! AWS and the in-memory adapter: a finding never changes account while it is open, a "gone"
//! resolution or one stamped later than any read never stops a later failing evaluation from
//! re-opening it, and a newer evaluation protects a finding (open or resolved) from an older one.

use chrono::{DateTime, Duration, Utc};
use qrie::model::{FindingState, Severity};
use qrie::risk::RiskScore;
use qrie::store::memory::MemoryFindings;
use qrie::store::{FailedEvaluation, FindingStore, OpenOutcome, Resolution};
use qrie_tests::World;
use serde_json::json;

const POLICY: &str = "S3BucketPublicReadProhibited";

fn failed(arn: &str, account: &str, observed_at: DateTime<Utc>) -> FailedEvaluation {
    FailedEvaluation {
        arn: arn.to_owned(),
        policy_id: POLICY.to_owned(),
        account_id: account.to_owned(),
        account_service: format!("{account}_s3"),
        resource_type: "AWS::S3::Bucket".to_owned(),
        severity: Severity::Critical,
        risk_score: RiskScore::from_tenths(85),
        evidence: json!({"Acl": "public-read"}),
        evaluated_at: Utc::now(),
        observed_at,
        muted: None,
    }
}

/// The scenario, with the outcome of each step; both adapters must give the same answers.
async fn contract(store: &dyn FindingStore, arn: &str) {
    let (a, b) = ("111111111111", "222222222222");
    // Whole microseconds: the precision the findings table keeps.
    let micros = Utc::now().timestamp_micros();
    let t0 = DateTime::from_timestamp_micros(micros).expect("a time") - Duration::minutes(10);
    let t1 = t0 + Duration::minutes(1);
    let t2 = t1 + Duration::minutes(1);
    let state = || async {
        let found = store.for_resource(arn).await.expect("read");
        assert_eq!(found.len(), 1, "{found:?}");
        found.into_iter().next().expect("one finding")
    };
    // Given a finding open in account A from the configuration read at t1
    assert_eq!(
        store.open(&failed(arn, a, t1)).await.unwrap(),
        OpenOutcome::Opened
    );
    let first_seen = state().await.first_seen;
    // With the evaluation's risk score
    assert_eq!(state().await.risk_score, Some(RiskScore::from_tenths(85)));
    // When it is evaluated again after its policy's risk factors changed, the refresh stores
    // the new score
    let rescored = FailedEvaluation {
        risk_score: RiskScore::MAX,
        ..failed(arn, a, t1)
    };
    assert_eq!(
        store.open(&rescored).await.unwrap(),
        OpenOutcome::StillActive
    );
    assert_eq!(state().await.risk_score, Some(RiskScore::MAX));
    // When an older evaluation arrives, it is stale (and its score is not written)
    assert_eq!(
        store.open(&failed(arn, a, t0)).await.unwrap(),
        OpenOutcome::Stale
    );
    assert_eq!(state().await.risk_score, Some(RiskScore::MAX));
    // When account B claims the same ARN, the open finding stays A's
    assert_eq!(
        store.open(&failed(arn, b, t2)).await.unwrap(),
        OpenOutcome::OtherAccount
    );
    let now = state().await;
    assert_eq!(
        (now.account_id.as_str(), now.account_service.as_str()),
        (a, "111111111111_s3")
    );
    assert_eq!(now.state, FindingState::Active);
    // And B cannot resolve it, whatever the basis
    let passes_later = Resolution::Passes { observed_at: t2 };
    assert!(!store
        .resolve(arn, POLICY, b, Utc::now(), passes_later)
        .await
        .unwrap());
    let gone_later = Resolution::Gone { checked_at: t2 };
    assert!(!store
        .resolve(arn, POLICY, b, Utc::now(), gone_later)
        .await
        .unwrap());
    assert_eq!(state().await.state, FindingState::Active);
    // A "gone" that is not later than the evaluation does not resolve it (a re-creation)
    let gone_same = Resolution::Gone { checked_at: t1 };
    assert!(!store
        .resolve(arn, POLICY, a, Utc::now(), gone_same)
        .await
        .unwrap());
    // When A's finding is resolved with a too-new stamp (as event times used to stamp it)
    let stamped = Resolution::Passes {
        observed_at: Utc::now() + Duration::days(365),
    };
    assert!(store
        .resolve(arn, POLICY, a, Utc::now(), stamped)
        .await
        .unwrap());
    assert_eq!(state().await.state, FindingState::Resolved);
    // Then the next failing evaluation of the stored configuration re-opens it, first seen kept
    // (and the outcome says so, with what it replaced)
    assert_eq!(
        store.open(&failed(arn, a, t1)).await.unwrap(),
        OpenOutcome::Reopened {
            first_seen: Some(first_seen),
            suppressed_until: None
        }
    );
    let reopened = state().await;
    assert_eq!(reopened.state, FindingState::Active);
    assert_eq!(reopened.first_seen, first_seen);
    assert_eq!(reopened.resolved_at, None);
    // When a read at t2 shows it fixed, a slow evaluation of the older failing read (t1) does
    // not re-open it
    let fixed = Resolution::Passes { observed_at: t2 };
    assert!(store
        .resolve(arn, POLICY, a, Utc::now(), fixed)
        .await
        .unwrap());
    assert_eq!(
        store.open(&failed(arn, a, t1)).await.unwrap(),
        OpenOutcome::Stale
    );
    assert_eq!(state().await.state, FindingState::Resolved);
    // And a failing read at t2 re-opens it
    assert!(matches!(
        store.open(&failed(arn, a, t2)).await.unwrap(),
        OpenOutcome::Reopened { .. }
    ));
    // When it is resolved as gone, its observation time is left as it was
    let gone = Resolution::Gone {
        checked_at: t2 + Duration::minutes(1),
    };
    assert!(store
        .resolve(arn, POLICY, a, Utc::now(), gone)
        .await
        .unwrap());
    let resolved = state().await;
    assert_eq!(resolved.state, FindingState::Resolved);
    assert_eq!(resolved.observed_at, t2);
    // And once resolved, the ARN may open for another account (a re-used bucket name), as a
    // new finding of that account
    assert_eq!(
        store.open(&failed(arn, b, t0)).await.unwrap(),
        OpenOutcome::Opened
    );
    let taken = state().await;
    assert_eq!(
        (
            taken.account_id.as_str(),
            taken.account_service.as_str(),
            taken.state
        ),
        (b, "222222222222_s3", FindingState::Active)
    );
    assert!(taken.first_seen > first_seen);
}

#[tokio::test]
async fn the_dynamodb_findings_store_keeps_the_contract() {
    // Given the findings table on the local AWS
    let world = World::new().await;
    // When / Then
    contract(
        world.deps.stores.findings.as_ref(),
        &format!("arn:aws:s3:::{}", world.bucket("contract")),
    )
    .await;
}

#[tokio::test]
async fn the_in_memory_findings_store_keeps_the_same_contract() {
    // Given the in-memory adapter
    let store = MemoryFindings::default();
    // When / Then
    contract(&store, "arn:aws:s3:::contract").await;
}

/// The lifecycle scenario: an acknowledged and suppressed finding resolves and fails again; both
/// adapters must keep the same history.
async fn lifecycle(store: &dyn FindingStore, arn: &str) {
    use qrie::model::{Acknowledgement, Suppression};
    let a = "111111111111";
    let micros = Utc::now().timestamp_micros();
    let t0 = DateTime::from_timestamp_micros(micros).expect("a time") - Duration::minutes(10);
    let at = |minutes: i64| t0 + Duration::minutes(minutes);
    let evaluated = |minutes: i64| FailedEvaluation {
        evaluated_at: at(minutes),
        ..failed(arn, a, at(minutes))
    };
    let state = || async {
        let found = store.for_resource(arn).await.expect("read");
        assert_eq!(found.len(), 1, "{found:?}");
        found.into_iter().next().expect("one finding")
    };
    // Given no finding, acknowledging or suppressing it changes nothing
    let ack = Acknowledgement {
        by: "alice@example.com".into(),
        at: at(1),
        reason: "ticket SEC-1".into(),
    };
    assert!(!store.acknowledge(arn, POLICY, &ack).await.unwrap());
    assert!(store.for_resource(arn).await.unwrap().is_empty());
    // Given a finding opened at t0, acknowledged and suppressed until t0 + 1 day
    assert_eq!(
        store.open(&evaluated(0)).await.unwrap(),
        OpenOutcome::Opened
    );
    assert!(store.acknowledge(arn, POLICY, &ack).await.unwrap());
    let suppression = Suppression {
        by: "bob@example.com".into(),
        at: at(2),
        reason: "accepted: legacy static site".into(),
        until: at(24 * 60),
    };
    assert!(store
        .suppress(arn, POLICY, Some(&suppression))
        .await
        .unwrap());
    let noted = state().await;
    assert_eq!(noted.acknowledged.as_ref(), Some(&ack));
    assert_eq!(noted.suppressed.as_ref(), Some(&suppression));
    assert!(noted.is_suppressed_at(at(3)) && !noted.is_suppressed_at(at(24 * 60 + 1)));
    assert_eq!(noted.history.reopened, 0);
    // And a later evaluation of the open finding keeps both notes
    assert_eq!(
        store.open(&evaluated(3)).await.unwrap(),
        OpenOutcome::StillActive
    );
    assert_eq!(state().await.acknowledged.as_ref(), Some(&ack));
    // When it resolves at t4 and fails again at t5
    let passes = Resolution::Passes { observed_at: at(4) };
    assert!(store.resolve(arn, POLICY, a, at(4), passes).await.unwrap());
    assert_eq!(
        store.open(&evaluated(5)).await.unwrap(),
        OpenOutcome::Reopened {
            first_seen: Some(at(0)),
            suppressed_until: Some(suppression.until)
        }
    );
    // Then it is the same finding re-opened: first seen kept, the re-opening and the resolution
    // it ended recorded, the acknowledgement (of the earlier occurrence) gone, the suppression kept
    let reopened = state().await;
    assert_eq!(reopened.state, FindingState::Active);
    assert_eq!(reopened.first_seen, at(0));
    assert_eq!(reopened.resolved_at, None);
    assert_eq!(reopened.history.reopened, 1);
    assert_eq!(reopened.history.reopened_at, Some(at(5)));
    assert_eq!(reopened.history.last_resolved_at, Some(at(4)));
    assert_eq!(reopened.acknowledged, None);
    assert_eq!(reopened.suppressed.as_ref(), Some(&suppression));
    // And a second round counts two re-openings
    let passes = Resolution::Passes { observed_at: at(6) };
    assert!(store.resolve(arn, POLICY, a, at(6), passes).await.unwrap());
    assert!(matches!(
        store.open(&evaluated(7)).await.unwrap(),
        OpenOutcome::Reopened { .. }
    ));
    let twice = state().await;
    assert_eq!(
        (twice.history.reopened, twice.history.last_resolved_at),
        (2, Some(at(6)))
    );
    // When the suppression is lifted, it is gone and the finding counts again
    assert!(store.suppress(arn, POLICY, None).await.unwrap());
    let lifted = state().await;
    assert_eq!(lifted.suppressed, None);
    assert!(!lifted.is_suppressed_at(at(8)));
    // Given it is acknowledged and suppressed again, then resolved at t9
    assert!(store.acknowledge(arn, POLICY, &ack).await.unwrap());
    assert!(store
        .suppress(arn, POLICY, Some(&suppression))
        .await
        .unwrap());
    let passes = Resolution::Passes { observed_at: at(9) };
    assert!(store.resolve(arn, POLICY, a, at(9), passes).await.unwrap());
    // When another account's new resource takes the ARN and fails at t10
    let b = "222222222222";
    let other = FailedEvaluation {
        evaluated_at: at(10),
        ..failed(arn, b, at(10))
    };
    assert_eq!(store.open(&other).await.unwrap(), OpenOutcome::Opened);
    // Then it is that account's new finding: nothing of the first account's triage or history
    // (its accepted risk must not hide the finding here)
    let taken = state().await;
    assert_eq!(
        (taken.account_id.as_str(), taken.state, taken.first_seen),
        (b, FindingState::Active, at(10))
    );
    assert_eq!(taken.acknowledged, None);
    assert_eq!(taken.suppressed, None);
    assert!(!taken.is_suppressed_at(at(11)));
    assert_eq!(taken.history, qrie::model::History::default());
}

#[tokio::test]
async fn the_dynamodb_findings_store_keeps_the_lifecycle() {
    // Given the findings table on the local AWS
    let world = World::new().await;
    // When / Then
    lifecycle(
        world.deps.stores.findings.as_ref(),
        &format!("arn:aws:s3:::{}", world.bucket("lifecycle")),
    )
    .await;
}

#[tokio::test]
async fn the_in_memory_findings_store_keeps_the_same_lifecycle() {
    lifecycle(&MemoryFindings::default(), "arn:aws:s3:::lifecycle").await;
}
