//! `qrie_inventory_generator`: inventories every onboarded customer account into the resources
//! table.
//!
//! Trigger: EventBridge schedule (Saturday 00:00 UTC, `{"service": "all"}`) or by hand.
//! Environment: `QRIE_RESOURCES_TABLE`, `QRIE_ACCOUNTS_TABLE`, `QRIE_SCANNER_ROLE_NAME`,
//! `QRIE_MAX_ATTEMPTS`, `QRIE_OPERATION_TIMEOUT_SECS`, `QRIE_ATTEMPT_TIMEOUT_SECS`
//! (`AWS_ENDPOINT_URL` for a local emulator).
//! With `QRIE_INVENTORY_QUEUE_URL` a request plans a run of units on that queue (answering its
//! `run_id`), the function consumes the queue, and `{"action": "status", "run_id": ...}`
//! answers a run's progress; without it, the inventory runs in-process.
//! Invoke: `aws lambda invoke --function-name qrie_inventory_generator
//!   --payload '{"service": "s3", "account_id": "123456789012"}' response.json`

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use qrie::handler::{init_tracing, inventory_function_handler, Deps};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_tracing();
    let deps = Deps::from_env().await?;
    let deps = &deps;
    run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            inventory_function_handler(event, deps).await
        },
    ))
    .await
}
