//! `qrie_policy_scanner`: evaluates the active policies against the inventory and keeps the
//! findings table in step.
//!
//! Trigger: EventBridge schedule (daily 04:00 UTC, `{}`) or by hand.
//! Environment: `QRIE_RESOURCES_TABLE`, `QRIE_FINDINGS_TABLE`, `QRIE_POLICIES_TABLE`,
//! `QRIE_ACCOUNTS_TABLE`, `QRIE_MAX_ATTEMPTS`, `QRIE_OPERATION_TIMEOUT_SECS`,
//! `QRIE_ATTEMPT_TIMEOUT_SECS`, `QRIE_FINDINGS_TOPIC_ARN` and `QRIE_NOTIFY_MIN_SEVERITY` (one
//! digest per account of the new and re-opened findings; unset topic: none)
//! (`QRIE_POLICY_DIR` to load policies from a folder, `AWS_ENDPOINT_URL` for a local emulator).
//! Invoke: `aws lambda invoke --function-name qrie_policy_scanner
//!   --payload '{"policy_id": "S3BucketPublicReadProhibited"}' response.json`

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use qrie::handler::{init_tracing, scan_handler, Deps};
use qrie::scan::ScanRequest;

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_tracing();
    let deps = Deps::from_env().await?;
    let deps = &deps;
    run(service_fn(
        move |event: LambdaEvent<ScanRequest>| async move { scan_handler(event, deps).await },
    ))
    .await
}
