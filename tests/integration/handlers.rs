//! The handlers invoked through `lambda_runtime`'s types with the sample events in `events/`.

use lambda_runtime::{Context, Diagnostic, LambdaEvent};
use qrie::handler::{inventory_handler, scan_handler};
use qrie::inventory::InventoryRequest;
use qrie::scan::ScanRequest;
use qrie_tests::{sample_event, sample_files, World};

#[tokio::test]
async fn every_sample_event_runs_through_its_handler() {
    // Given a world where the sample events' account is onboarded
    let world = World::new().await;
    world.onboard_sample_account().await;
    // When each inventory sample is invoked
    for file in sample_files("inventory-generator") {
        let payload: InventoryRequest =
            serde_json::from_value(sample_event(&format!("inventory-generator/{file}"))).unwrap();
        let summary = inventory_handler(LambdaEvent::new(payload, Context::default()), &world.deps)
            .await
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        // Then it inventories the onboarded account
        assert_eq!(summary.accounts.len(), 1, "{file}");
        assert!(summary.accounts[0].services.contains_key("s3"), "{file}");
    }
    // And each scanner sample runs
    for file in sample_files("policy-scanner") {
        let payload: ScanRequest =
            serde_json::from_value(sample_event(&format!("policy-scanner/{file}"))).unwrap();
        let summary = scan_handler(LambdaEvent::new(payload, Context::default()), &world.deps)
            .await
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(!summary.policies.is_empty(), "{file}");
        assert_eq!(summary.partitions, 1, "{file}");
    }
}

#[tokio::test]
async fn bad_requests_are_refused_with_a_clear_non_retryable_error() {
    let world = World::new().await;
    let unknown = InventoryRequest {
        service: "s3".into(),
        account_id: Some("999999999999".into()),
    };
    let err = inventory_handler(LambdaEvent::new(unknown, Context::default()), &world.deps)
        .await
        .unwrap_err();
    let diagnostic = Diagnostic::from(err);
    assert_eq!(diagnostic.error_type, "NonRetryable");
    assert!(diagnostic.error_message.contains("999999999999"));
    let bad_service = InventoryRequest {
        service: "lambda".into(),
        account_id: None,
    };
    let err = inventory_handler(
        LambdaEvent::new(bad_service, Context::default()),
        &world.deps,
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("lambda"));
    // Unknown fields in a payload are refused too, rather than silently scanning everything.
    assert!(serde_json::from_str::<ScanRequest>(r#"{"policy": "x"}"#).is_err());
}

#[tokio::test]
async fn an_account_whose_role_cannot_be_assumed_is_reported_and_the_others_still_run() {
    // Given two onboarded accounts, and STS refusing the role of one of them
    let world = World::new().await;
    let good = world.onboard().await;
    let bad = world.onboard().await;
    let s3 = world.customer_s3(&good, "us-east-1").await;
    let bucket = world.bucket("reachable");
    crate::seed::create_bucket(&s3, &bucket, "us-east-1").await;
    qrie_tests::inject_fault(serde_json::json!({
        "method": "POST",
        "body_contains": format!("RoleArn=arn%3Aaws%3Aiam%3A%3A{}%3A", bad.account_id),
        "protocol": "query",
        "code": "AccessDenied",
        "message": "not authorized to perform sts:AssumeRole",
    }))
    .await;
    // When the inventory runs over all accounts
    let summary = inventory_handler(
        LambdaEvent::new(
            InventoryRequest {
                service: "all".into(),
                account_id: None,
            },
            Context::default(),
        ),
        &world.deps,
    )
    .await
    .unwrap();
    // Then the refused account is named in the errors, with what STS said, and the other one
    // is inventoried
    assert!(
        summary.errors.iter().any(|e| e.contains(&bad.account_id)
            && e.contains("assume")
            && e.contains("AccessDenied")
            && e.contains("not authorized to perform sts:AssumeRole")),
        "{:?}",
        summary.errors
    );
    assert!(
        !summary
            .errors
            .iter()
            .any(|e| e.contains("an error occurred while loading credentials")),
        "{:?}",
        summary.errors
    );
    let good_summary = summary
        .accounts
        .iter()
        .find(|a| a.account_id == good.account_id)
        .unwrap();
    assert!(good_summary.services["s3"].resources >= 2);
    // And services without a collector yet are listed, not silently skipped
    assert!(summary.unsupported.contains(&"ec2".to_owned()));
}

#[tokio::test]
async fn a_role_arn_that_is_not_the_account_s_role_is_refused_before_sts() {
    // Given onboarded accounts whose role ARN is malformed, or names another account's role
    // (the local STS would accept both)
    let world = World::new().await;
    let mut malformed = world.onboard().await;
    malformed.role_arn = "QrieScannerRole".into();
    world.deps.stores.accounts.put(&malformed).await.unwrap();
    let other = world.onboard().await;
    let s3 = world.customer_s3(&other, "us-east-1").await;
    crate::seed::create_bucket(&s3, &world.bucket("lent"), "us-east-1").await;
    let mut borrowed = world.onboard().await;
    borrowed.role_arn = other.role_arn.clone();
    world.deps.stores.accounts.put(&borrowed).await.unwrap();
    // When the inventory runs over all accounts
    let summary = inventory_handler(
        LambdaEvent::new(
            InventoryRequest {
                service: "s3".into(),
                account_id: None,
            },
            Context::default(),
        ),
        &world.deps,
    )
    .await
    .unwrap();
    // Then each is reported with what is wrong, and nothing of the other account is stored
    // under the borrowing one
    for (account, problem) in [
        (&malformed, "is not an ARN"),
        (&borrowed, "names a role in another account"),
    ] {
        assert!(
            summary
                .errors
                .iter()
                .any(|e| e.contains(&account.account_id)
                    && e.contains("InvalidRoleArn")
                    && e.contains(problem)),
            "{problem}: {:?}",
            summary.errors
        );
    }
    let page = world
        .deps
        .stores
        .resources
        .page(&format!("{}_s3", borrowed.account_id), None)
        .await
        .unwrap();
    assert!(page.items.is_empty(), "{:?}", page.items);
}
