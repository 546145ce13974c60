//! `qrie_object_scanner`: scans S3 objects for sensitive data (SSN, card numbers, AWS keys,
//! email, US phone) as scan jobs, and answers for their status and results.
//!
//! Triggers: direct invocation (`{"bucket", "prefix"?, "account_id"?}` starts a job;
//! `{"action": "status" | "results" | "enroll", ...}`), and the object-scan SQS queue (unit,
//! continuation and S3 notification messages; dead-letter queue after 3 receives) with
//! `ReportBatchItemFailures`. See `qrie::object_scan`.
//! Environment: `QRIE_SCAN_JOBS_TABLE`, `QRIE_OBJECT_FINDINGS_TABLE`, `QRIE_ACCOUNTS_TABLE`,
//! `QRIE_SCANNER_ROLE_NAME`, `QRIE_OBJECT_SCAN_QUEUE_URL`, `QRIE_OBJECT_MAX_BYTES`,
//! `QRIE_OBJECT_BYTES_PER_MESSAGE`, `QRIE_OBJECT_SCAN_MAX_RECEIVES`, `QRIE_MAX_ATTEMPTS`,
//! `QRIE_OPERATION_TIMEOUT_SECS`, `QRIE_ATTEMPT_TIMEOUT_SECS` (`AWS_ENDPOINT_URL` for a local
//! emulator).
//! Invoke: `cargo lambda invoke object-scanner --data-file events/object-scanner/start-job.json`

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use qrie::config::Config;
use qrie::handler::init_tracing;
use qrie::object_scan::{deadline_of, ObjectScanError, ObjectScanner};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_tracing();
    let config = Config::from_env()?;
    let sdk = qrie::aws::load_sdk_config(&config.aws).await;
    let scanner = ObjectScanner::new(config, sdk);
    let scanner = &scanner;
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        let deadline = deadline_of(&event.context);
        scanner.handle(event.payload, deadline).await.map_err(|e: ObjectScanError| {
            tracing::error!(error = %e, request_id = %event.context.request_id, "object-scan request refused");
            e
        })
    }))
    .await
}
