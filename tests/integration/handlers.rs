//! The handlers invoked through `lambda_runtime`'s types with the sample events in `events/`,
//! bad requests, and bad rows in the tables they read.

use aws_sdk_dynamodb::types::AttributeValue;
use lambda_runtime::{Context, Diagnostic, LambdaEvent};
use qrie::handler::{inventory_handler, scan_handler};
use qrie::inventory::InventoryRequest;
use qrie::model::Severity;
use qrie::scan::ScanRequest;
use qrie::store::BadRowEffect;
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
        // (one partition per account and service the request covers: every collected service
        // has policies)
        let partitions = if payload.service.is_some() || payload.policy_id.is_some() {
            1
        } else {
            qrie::registry::SERVICES.len()
        };
        let summary = scan_handler(LambdaEvent::new(payload, Context::default()), &world.deps)
            .await
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(!summary.policies.is_empty(), "{file}");
        assert_eq!(summary.partitions, partitions, "{file}");
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
        service: "lambdas".into(),
        account_id: None,
    };
    let err = inventory_handler(
        LambdaEvent::new(bad_service, Context::default()),
        &world.deps,
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("lambdas"));
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
        "protocol": "xml_wrapped",
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

/// Writes a policies-table row by hand, as an operator would in the console.
async fn put_policy_row(world: &World, attributes: &[(&str, AttributeValue)]) {
    let mut request = qrie::aws::dynamodb_client(&world.deps.sdk)
        .put_item()
        .table_name(&world.deps.config.tables.policies);
    for (name, value) in attributes {
        request = request.item(*name, value.clone());
    }
    request.send().await.expect("policy row written");
}

fn s(text: &str) -> AttributeValue {
    AttributeValue::S(text.to_owned())
}

#[tokio::test]
async fn bad_policies_rows_are_reported_by_id_and_field_and_the_rest_runs() {
    // Given a plain bucket (unversioned, unencrypted, no logging) and hand-written policy rows:
    // an unknown severity, Active as the string "false", an unreadable Active, an unknown id
    let world = World::new().await;
    let account = world.onboard().await;
    let s3 = world.customer_s3(&account, "us-east-1").await;
    let bucket = world.bucket("plain");
    crate::seed::create_bucket(&s3, &bucket, "us-east-1").await;
    put_policy_row(
        &world,
        &[
            ("PolicyId", s("S3BucketLoggingEnabled")),
            ("SeverityOverride", s("urgent")),
        ],
    )
    .await;
    put_policy_row(
        &world,
        &[
            ("PolicyId", s("S3BucketVersioningEnabled")),
            ("Active", s("false")),
        ],
    )
    .await;
    put_policy_row(
        &world,
        &[
            ("PolicyId", s("S3BucketDefaultEncryption")),
            ("Active", s("nope")),
        ],
    )
    .await;
    put_policy_row(
        &world,
        &[
            ("PolicyId", s("S3BucketVersioningEnabledd")),
            ("Active", AttributeValue::Bool(true)),
        ],
    )
    .await;

    // When the inventory and the scan run
    let request = InventoryRequest {
        service: "s3".into(),
        account_id: Some(account.account_id.clone()),
    };
    inventory_handler(LambdaEvent::new(request, Context::default()), &world.deps)
        .await
        .unwrap();
    let summary = scan_handler(
        LambdaEvent::new(ScanRequest::default(), Context::default()),
        &world.deps,
    )
    .await
    .expect("a bad row does not stop the scan");

    // Then exactly the three bad rows are reported, by policy id and field
    let mut reported: Vec<(String, String, BadRowEffect)> = summary
        .bad_policy_rows
        .iter()
        .map(|r| (r.policy_id.clone(), r.field.clone(), r.effect))
        .collect();
    reported.sort();
    assert_eq!(
        reported,
        [
            (
                "S3BucketDefaultEncryption".to_owned(),
                "Active".to_owned(),
                BadRowEffect::Disabled
            ),
            (
                "S3BucketLoggingEnabled".to_owned(),
                "SeverityOverride".to_owned(),
                BadRowEffect::CatalogueSeverity
            ),
            (
                "S3BucketVersioningEnabledd".to_owned(),
                "PolicyId".to_owned(),
                BadRowEffect::Ignored
            ),
        ]
    );
    // And without echoing the untrusted values
    for row in &summary.bad_policy_rows {
        let text = row.to_string();
        assert!(!text.contains("urgent") && !text.contains("nope"), "{text}");
    }
    // And the string "false" disables, the unreadable Active holds, the bad severity falls back
    let findings = world
        .deps
        .stores
        .findings
        .for_resource(&format!("arn:aws:s3:::{bucket}"))
        .await
        .unwrap();
    let find = |id: &str| findings.iter().find(|f| f.policy_id == id);
    assert!(find("S3BucketVersioningEnabled").is_none(), "{findings:?}");
    assert!(find("S3BucketDefaultEncryption").is_none(), "{findings:?}");
    let logging = find("S3BucketLoggingEnabled").expect("logging still evaluated");
    assert_eq!(logging.severity, Severity::Medium);
    assert!(find("S3BucketAclsProhibited").is_some() || find("S3BucketSslRequestsOnly").is_some());
    // And asking for the held policy by name says why it does not run
    let err = scan_handler(
        LambdaEvent::new(
            ScanRequest {
                policy_id: Some("S3BucketDefaultEncryption".into()),
                ..Default::default()
            },
            Context::default(),
        ),
        &world.deps,
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string().contains("held") && err.to_string().contains("Active"),
        "{err}"
    );
}

#[tokio::test]
async fn requests_that_would_do_nothing_are_refused_not_answered_empty() {
    // Given an onboarded account
    let world = World::new().await;
    world.onboard().await;
    let non_retryable = |e: qrie::handler::HandlerError| {
        let d = Diagnostic::from(e);
        assert_eq!(d.error_type, "NonRetryable", "{}", d.error_message);
        d.error_message
    };
    // When EC2 (no collector yet) is inventoried alone, Then it is refused
    let ec2 = InventoryRequest {
        service: "ec2".into(),
        account_id: None,
    };
    let message = non_retryable(
        inventory_handler(LambdaEvent::new(ec2, Context::default()), &world.deps)
            .await
            .unwrap_err(),
    );
    assert!(
        message.contains("ec2") && message.contains("no collector"),
        "{message}"
    );
    // When EC2 (no policy yet) is scanned, Then it is refused
    let ec2 = ScanRequest {
        service: Some("ec2".into()),
        ..Default::default()
    };
    let message = non_retryable(
        scan_handler(LambdaEvent::new(ec2, Context::default()), &world.deps)
            .await
            .unwrap_err(),
    );
    assert!(message.contains("ec2"), "{message}");
    // When an account that is not onboarded is scanned, Then it is refused by id
    let unknown = ScanRequest {
        account_id: Some("999999999999".into()),
        ..Default::default()
    };
    let message = non_retryable(
        scan_handler(LambdaEvent::new(unknown, Context::default()), &world.deps)
            .await
            .unwrap_err(),
    );
    assert!(
        message.contains("999999999999") && message.contains("not onboarded"),
        "{message}"
    );
}

#[tokio::test]
async fn an_invalid_region_is_reported_and_the_account_still_runs() {
    // Given an account whose Regions names a real region and a typo
    let world = World::new().await;
    let mut account = world.onboard().await;
    account.regions = vec!["us-east-1".into(), "us-eats-1".into()];
    world.deps.stores.accounts.put(&account).await.unwrap();
    let s3 = world.customer_s3(&account, "us-east-1").await;
    crate::seed::create_bucket(&s3, &world.bucket("regional"), "us-east-1").await;
    // When it is inventoried
    let request = InventoryRequest {
        service: "s3".into(),
        account_id: Some(account.account_id.clone()),
    };
    let summary = inventory_handler(LambdaEvent::new(request, Context::default()), &world.deps)
        .await
        .unwrap();
    // Then the typo is reported for that account, and the account is still inventoried
    assert!(
        summary
            .errors
            .iter()
            .any(|e| e.contains(&account.account_id) && e.contains("us-eats-1")),
        "{:?}",
        summary.errors
    );
    assert_eq!(summary.accounts[0].invalid_regions, ["us-eats-1"]);
    let s3_summary = &summary.accounts[0].services["s3"];
    assert!(
        s3_summary.complete && s3_summary.resources >= 2,
        "{s3_summary:?}"
    );
}
