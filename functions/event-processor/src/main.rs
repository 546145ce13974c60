//! `qrie_event_processor`: refreshes the resources a CloudTrail event touched and opens or
//! resolves their findings within seconds of the change.
//!
//! Trigger: the `qrie_events` SQS queue (fed by the EventBridge rule that forwards "AWS API Call
//! via CloudTrail" events from customer accounts; dead-letter queue after 3 receives), with
//! `ReportBatchItemFailures`: the response lists the messages to redeliver.
//! Environment: `QRIE_RESOURCES_TABLE`, `QRIE_FINDINGS_TABLE`, `QRIE_POLICIES_TABLE`,
//! `QRIE_ACCOUNTS_TABLE`, `QRIE_SCANNER_ROLE_NAME`, `QRIE_MAX_ATTEMPTS`,
//! `QRIE_OPERATION_TIMEOUT_SECS`, `QRIE_ATTEMPT_TIMEOUT_SECS`, `QRIE_FINDINGS_TOPIC_ARN` and
//! `QRIE_NOTIFY_MIN_SEVERITY` (one message per new or re-opened finding; unset topic: none)
//! (`QRIE_POLICY_DIR` to load policies from a folder, `AWS_ENDPOINT_URL` for a local emulator).
//! Invoke: `cargo lambda invoke event-processor
//!   --data-file events/event-processor/s3-put-bucket-acl-public.json`

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use qrie::handler::{event_handler, init_tracing, Deps};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_tracing();
    let deps = Deps::from_env().await?;
    let deps = &deps;
    run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        event_handler(event, deps).await
    }))
    .await
}
