//! Lambda handlers of the inventory generator, the policy scanner and the event processor, and
//! what they share:
//! dependencies built once per cold start, logging set-up, and error reporting.
//!
//! A handler is an ordinary async function of (`LambdaEvent<Request>`, `&Deps`), so tests call
//! it directly with `lambda_runtime`'s types; the binaries in `functions/` only wire it to
//! `lambda_runtime::run`.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{Diagnostic, LambdaEvent};
use tracing::error;

use crate::config::Config;
use crate::inventory::{Inventory, InventoryRequest, InventorySummary, RequestError};
use crate::policy::Catalog;
use crate::process::{AwsSource, BatchError, BatchReport, EventProcessor};
use crate::scan::{ScanRequest, ScanRequestError, ScanSummary, Scanner};
use crate::sqs_batch::MessageFailure;
use crate::store::Stores;

/// Everything a handler needs, built once at cold start.
pub struct Deps {
    pub config: Config,
    pub sdk: aws_config::SdkConfig,
    pub stores: Stores,
    pub catalog: Catalog,
    /// Announces new and re-opened findings (off without `QRIE_FINDINGS_TOPIC_ARN`).
    pub notifier: crate::notify::Notifier,
}

/// A problem that stops the function from starting.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Policies(#[from] crate::policy::CatalogError),
}

impl Deps {
    /// Reads the environment, loads the SDK configuration and the policies.
    pub async fn from_env() -> Result<Self, StartupError> {
        let config = Config::from_env()?;
        let sdk = crate::aws::load_sdk_config(&config.aws).await;
        Self::new(config, sdk)
    }

    /// Builds the dependencies from an explicit configuration (tests, the demo).
    pub fn new(config: Config, sdk: aws_config::SdkConfig) -> Result<Self, StartupError> {
        let catalog = match &config.policy_dir {
            Some(dir) => Catalog::from_dir(std::path::Path::new(dir))?,
            None => Catalog::embedded(),
        };
        for rejected in &catalog.rejected {
            error!(error = %rejected, "policy file rejected");
        }
        let stores = Stores::dynamodb(crate::aws::dynamodb_client(&sdk), &config.tables);
        let notifier = crate::notify::Notifier::from_settings(&config.notify, &sdk);
        Ok(Self {
            config,
            sdk,
            stores,
            catalog,
            notifier,
        })
    }
}

/// Errors a handler returns to Lambda. Requests that can never succeed are `NonRetryable`.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    #[error(transparent)]
    Inventory(#[from] RequestError),
    #[error(transparent)]
    Scan(#[from] ScanRequestError),
    #[error(transparent)]
    Events(#[from] BatchError),
    #[error(transparent)]
    Fanout(#[from] crate::fanout::FanoutError),
    #[error("bad inventory payload: {0}")]
    BadPayload(String),
    #[error("no inventory run {0}")]
    UnknownRun(String),
}

impl MessageFailure for HandlerError {
    fn is_retryable(&self) -> bool {
        matches!(
            self,
            HandlerError::Inventory(RequestError::Accounts(_))
                | HandlerError::Scan(ScanRequestError::Store { .. })
                | HandlerError::Events(BatchError::Settings(_))
        ) || matches!(self, HandlerError::Fanout(e) if e.is_retryable())
    }
}

impl From<HandlerError> for Diagnostic {
    fn from(e: HandlerError) -> Self {
        e.diagnostic()
    }
}

/// `qrie_inventory_generator`.
pub async fn inventory_handler(
    event: LambdaEvent<InventoryRequest>,
    deps: &Deps,
) -> Result<InventorySummary, HandlerError> {
    let inventory = Inventory {
        config: &deps.config,
        base_sdk: &deps.sdk,
        stores: &deps.stores,
    };
    inventory.run(&event.payload).await.map_err(|e| {
        error!(error = %e, request_id = %event.context.request_id, "inventory request refused");
        e.into()
    })
}

/// The fan-out of `deps` when `QRIE_INVENTORY_QUEUE_URL` names the inventory work queue.
fn fanout(deps: &Deps) -> Option<crate::fanout::Fanout<'_>> {
    let queue_url = std::env::var(crate::fanout::QUEUE_URL_ENV)
        .ok()
        .filter(|v| !v.is_empty())?;
    Some(crate::fanout::Fanout {
        inventory: Inventory {
            config: &deps.config,
            base_sdk: &deps.sdk,
            stores: &deps.stores,
        },
        runs: crate::store::object_scan::DynamoScanJobs::new(
            crate::aws::dynamodb_client(&deps.sdk),
            &deps.config.tables.scan_jobs,
        ),
        sqs: aws_sdk_sqs::Client::new(&deps.sdk),
        queue_url,
    })
}

/// `qrie_inventory_generator` as deployed: an SQS batch of units (the work queue), a status
/// request (`{"action": "status", "run_id": "..."}`), or an inventory request, which plans a
/// run and answers its `run_id` when the work queue is configured, and runs in-process (the
/// [`inventory_handler`]) when it is not.
pub async fn inventory_function_handler(
    event: LambdaEvent<serde_json::Value>,
    deps: &Deps,
) -> Result<serde_json::Value, HandlerError> {
    let payload = event.payload;
    if payload.get("Records").is_some() {
        let batch: SqsEvent = serde_json::from_value(payload)
            .map_err(|e| HandlerError::BadPayload(format!("SQS event: {e}")))?;
        let fanout = fanout(deps).ok_or_else(|| {
            HandlerError::BadPayload(format!(
                "an SQS batch of units, but {} is not set",
                crate::fanout::QUEUE_URL_ENV
            ))
        })?;
        let response = fanout.process_batch(&batch.records).await;
        return Ok(json(&response));
    }
    if payload.get("action").is_some() {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Status {
            action: String,
            run_id: String,
        }
        let status: Status = serde_json::from_value(payload).map_err(|e| {
            HandlerError::BadPayload(format!(
                "{e} (expected {{\"action\": \"status\", \"run_id\": \"...\"}})"
            ))
        })?;
        if status.action != "status" {
            return Err(HandlerError::BadPayload(format!(
                "unknown action {:?} (the only action is \"status\")",
                crate::store::loggable(&status.action)
            )));
        }
        let runs = crate::store::object_scan::DynamoScanJobs::new(
            crate::aws::dynamodb_client(&deps.sdk),
            &deps.config.tables.scan_jobs,
        );
        let run = runs
            .get_run(&status.run_id)
            .await
            .map_err(crate::fanout::FanoutError::from)?
            .ok_or_else(|| HandlerError::UnknownRun(crate::store::loggable(&status.run_id)))?;
        let mut out = serde_json::to_value(&run).unwrap_or_default();
        out["finished"] = serde_json::Value::Bool(run.finished());
        return Ok(out);
    }
    let request: InventoryRequest =
        serde_json::from_value(payload).map_err(|e| HandlerError::BadPayload(e.to_string()))?;
    match fanout(deps) {
        Some(fanout) => {
            let started = fanout.start(&request).await.map_err(|e| {
                error!(error = %e, request_id = %event.context.request_id, "inventory run refused");
                HandlerError::from(e)
            })?;
            Ok(json(&started))
        }
        None => {
            let summary = inventory_handler(LambdaEvent::new(request, event.context), deps).await?;
            Ok(json(&summary))
        }
    }
}

fn json<T: serde::Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or_default()
}

/// `qrie_policy_scanner`.
pub async fn scan_handler(
    event: LambdaEvent<ScanRequest>,
    deps: &Deps,
) -> Result<ScanSummary, HandlerError> {
    let scanner = Scanner {
        catalog: &deps.catalog,
        stores: &deps.stores,
    };
    let started = chrono::Utc::now();
    let mut summary = scanner.run(&event.payload).await.map_err(|e| {
        error!(error = %e, request_id = %event.context.request_id, "scan request refused");
        HandlerError::from(e)
    })?;
    // The scan never announces finding by finding: one digest per account of what it opened.
    summary.notifications = deps
        .notifier
        .digest(&summary.opened, &event.payload.scope())
        .await;
    if deps.config.security_hub.enabled {
        // Boxed: the import's futures (a session, SDK calls) would otherwise sit on the stack.
        summary.security_hub = Some(Box::pin(security_hub_after_scan(deps, started)).await);
    }
    Ok(summary)
}

/// Imports into Security Hub what a scan that started at `started` opened, refreshed or
/// resolved: every finding whose export changed since then (a full scan refreshes every failing
/// finding, which also keeps them from Security Hub's expiry of findings not updated for 90
/// days). A table that cannot be read is reported in the import's errors.
async fn security_hub_after_scan(
    deps: &Deps,
    started: chrono::DateTime<chrono::Utc>,
) -> crate::securityhub::ImportReport {
    let mut all = Vec::new();
    let mut cursor = None;
    loop {
        match deps.stores.findings.page_all(cursor).await {
            Ok(page) => {
                all.extend(page.items);
                match page.next {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
            Err(e) => {
                error!(error = %e, "findings not read for the Security Hub import");
                return crate::securityhub::ImportReport {
                    errors: vec![format!("reading the findings table failed: {e}")],
                    ..Default::default()
                };
            }
        }
    }
    let changed = crate::securityhub::changed_since(all, started);
    crate::securityhub::sync(
        &deps.config,
        &deps.sdk,
        &deps.stores,
        &deps.catalog,
        &changed,
        chrono::Utc::now(),
    )
    .await
}

/// Imports into Security Hub the findings of the resources an event batch that started at
/// `started` changed (opened, refreshed or resolved).
async fn security_hub_after_events(
    deps: &Deps,
    arns: &[String],
    started: chrono::DateTime<chrono::Utc>,
) -> crate::securityhub::ImportReport {
    let mut touched = Vec::new();
    let mut report = crate::securityhub::ImportReport::default();
    for arn in arns {
        match deps.stores.findings.for_resource(arn).await {
            Ok(found) => touched.extend(found),
            Err(e) => {
                error!(arn = %arn, error = %e, "findings not read for the Security Hub import");
                report.failed += 1;
                report
                    .errors
                    .push(format!("{arn}: reading its findings failed: {e}"));
            }
        }
    }
    let changed = crate::securityhub::changed_since(touched, started);
    report.add(
        crate::securityhub::sync(
            &deps.config,
            &deps.sdk,
            &deps.stores,
            &deps.catalog,
            &changed,
            chrono::Utc::now(),
        )
        .await,
    );
    report
}

/// `qrie_event_processor`: returns the ids of the messages that failed, so that SQS redelivers
/// only those (and dead-letters them after the queue's receive limit).
pub async fn event_handler(
    event: LambdaEvent<SqsEvent>,
    deps: &Deps,
) -> Result<SqsBatchResponse, HandlerError> {
    Ok(process_sqs_event(&event.payload, deps).await?.response)
}

/// The event processor's work on one SQS event, with its counts (the demo and tests read them).
pub async fn process_sqs_event(event: &SqsEvent, deps: &Deps) -> Result<BatchReport, HandlerError> {
    let source = AwsSource::new(&deps.config, &deps.sdk);
    let processor = EventProcessor::load(&deps.catalog, &deps.stores, &source)
        .await
        .map_err(|e| {
            error!(error = %e, "event batch refused");
            e
        })?
        .with_notifier(&deps.notifier);
    let started = chrono::Utc::now();
    let mut report = processor.process_batch(&event.records).await;
    if deps.config.security_hub.enabled && !report.summary.refresh.changed.is_empty() {
        // Like a notification, an import that fails is logged and reported, never a failed
        // message: the finding is stored, and the next scan or `qrie securityhub sync` sends it.
        let sent = Box::pin(security_hub_after_events(
            deps,
            &report.summary.refresh.changed,
            started,
        ))
        .await;
        report.summary.security_hub = Some(sent);
    }
    Ok(report)
}

/// JSON logs on Lambda (CloudWatch), filtered by `RUST_LOG` (default `info`).
pub fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .without_time()
        .with_target(false)
        .try_init();
}
