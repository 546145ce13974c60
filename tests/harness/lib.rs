//! Integration-test harness: qrie's local AWS (moto in server mode on 127.0.0.1), isolated
//! tables per test, onboarded customer accounts, and wire-level fault injection.
//!
//! The server is the one named by `QRIE_TEST_ENDPOINT` (the Makefile starts one), or else one
//! this process starts from `.venv` (`make venv` installs it) and that exits with this process.
//! Every test gets its own table names, bucket names and customer account id, so tests run in
//! parallel against one server.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};

use aws_config::{Region, SdkConfig};
use aws_credential_types::Credentials;
use qrie::config::{AwsSettings, Config, TableNames};
use qrie::handler::Deps;
use qrie::model::Account;

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

struct Server {
    endpoint: String,
    _child: Option<Mutex<Child>>,
}

static SERVER: OnceLock<Server> = OnceLock::new();

/// The local AWS endpoint, starting the server on first use.
pub fn endpoint() -> &'static str {
    &SERVER
        .get_or_init(|| {
            if let Ok(endpoint) = std::env::var("QRIE_TEST_ENDPOINT") {
                return Server {
                    endpoint,
                    _child: None,
                };
            }
            let python = repo_root().join(".venv/bin/python");
            assert!(
                python.exists(),
                "no local AWS: set QRIE_TEST_ENDPOINT or run `make venv` (missing {})",
                python.display()
            );
            let mut child = Command::new(python)
                .arg(repo_root().join("tests/moto/server.py"))
                .arg("--parent-pid")
                .arg(std::process::id().to_string())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .expect("the moto server starts");
            let mut line = String::new();
            BufReader::new(child.stdout.take().expect("piped stdout"))
                .read_line(&mut line)
                .expect("the moto server prints its port");
            let port: u16 = line.trim().parse().expect("a port number");
            Server {
                endpoint: format!("http://127.0.0.1:{port}"),
                _child: Some(Mutex::new(child)),
            }
        })
        .endpoint
}

/// SDK configuration for the local AWS, acting as qrie's own (operator) account.
pub async fn sdk_config() -> SdkConfig {
    sdk_config_with(&settings()).await
}

/// [`sdk_config`] with other retry and timeout settings.
pub async fn sdk_config_with(settings: &AwsSettings) -> SdkConfig {
    qrie::aws::load_sdk_config(settings)
        .await
        .to_builder()
        .region(Region::new("us-east-1"))
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(Credentials::new(
                "testing",
                "testing",
                None,
                None,
                "qrie-tests",
            )),
        )
        .build()
}

pub fn settings() -> AwsSettings {
    AwsSettings {
        endpoint_url: Some(endpoint().to_owned()),
        max_attempts: 2,
        ..AwsSettings::default()
    }
}

/// A short unique suffix for names.
pub fn unique() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..10].to_owned()
}

/// A fresh 12-digit account id.
pub fn new_account_id() -> String {
    let digits: String = uuid::Uuid::new_v4()
        .as_u128()
        .to_string()
        .chars()
        .take(12)
        .collect();
    format!("{digits:0>12}")
}

/// One test's world: its own tables on the local AWS, and qrie's dependencies wired to them.
pub struct World {
    pub deps: Deps,
    pub id: String,
}

impl World {
    pub async fn new() -> Self {
        Self::with_aws(|_| {}).await
    }

    /// A world whose AWS settings (attempts, timeouts) `adjust` changes from the harness's.
    pub async fn with_aws(adjust: impl FnOnce(&mut AwsSettings)) -> Self {
        let mut aws = settings();
        adjust(&mut aws);
        let id = unique();
        let tables = TableNames {
            resources: format!("{id}_resources"),
            findings: format!("{id}_findings"),
            policies: format!("{id}_policies"),
            accounts: format!("{id}_accounts"),
            scan_jobs: format!("{id}_scan_jobs"),
            object_findings: format!("{id}_object_findings"),
            compliance: format!("{id}_compliance"),
        };
        let config = Config {
            tables,
            aws: aws.clone(),
            scanner_role_name: qrie::config::DEFAULT_SCANNER_ROLE_NAME.to_owned(),
            policy_dir: None,
            object_scan: qrie::config::ObjectScanSettings::default(),
            notify: qrie::config::NotifySettings::default(),
            security_hub: qrie::config::SecurityHubSettings::default(),
        };
        let sdk = sdk_config_with(&aws).await;
        qrie::store::dynamo::create_tables(&qrie::aws::dynamodb_client(&sdk), &config.tables)
            .await
            .expect("tables are created");
        let deps = Deps::new(config, sdk).expect("dependencies build");
        Self { deps, id }
    }

    /// Onboards a new customer account (in the accounts table) and returns it.
    pub async fn onboard(&self) -> Account {
        let account_id = new_account_id();
        let account = Account {
            role_arn: format!("arn:aws:iam::{account_id}:role/QrieScannerRole"),
            account_id,
            external_id: Some(format!("ext-{}", self.id)),
            regions: vec!["us-east-1".into(), "eu-west-1".into()],
            enabled: true,
            name: Some("test customer".into()),
        };
        self.deps
            .stores
            .accounts
            .put(&account)
            .await
            .expect("account stored");
        account
    }

    /// Onboards the account the sample events in `events/` name (111122223333).
    pub async fn onboard_sample_account(&self) -> Account {
        let account = Account {
            account_id: "111122223333".into(),
            role_arn: "arn:aws:iam::111122223333:role/QrieScannerRole".into(),
            external_id: Some("demo".into()),
            regions: vec!["us-east-1".into()],
            enabled: true,
            name: None,
        };
        self.deps
            .stores
            .accounts
            .put(&account)
            .await
            .expect("account stored");
        account
    }

    /// SDK configuration acting inside a customer account (as an administrator there would).
    pub async fn as_customer(&self, account: &Account) -> SdkConfig {
        qrie::aws::assume_account_role(&self.deps.sdk, &account.role_arn, None, "test-admin")
            .await
            .expect("moto lets any role be assumed")
    }

    /// An S3 client of the customer account in `region`.
    pub async fn customer_s3(&self, account: &Account, region: &str) -> aws_sdk_s3::Client {
        let sdk = self.as_customer(account).await;
        qrie::aws::s3_client(&qrie::aws::in_region(&sdk, region), &settings())
    }

    /// A unique bucket name for this test.
    pub fn bucket(&self, name: &str) -> String {
        format!("{name}-{}", self.id)
    }
}

/// A work queue on the local AWS that dead-letters after 3 receives, as the deployed queues do.
pub struct QueueWithDlq {
    pub url: String,
    pub dlq_url: String,
}

/// Creates `<name>` and `<name>-dlq` (redrive after 3 receives) with the given visibility timeout.
pub async fn queue_with_dlq(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
    visibility_timeout_secs: u32,
) -> QueueWithDlq {
    use aws_sdk_sqs::types::QueueAttributeName;
    let dlq_url = sqs
        .create_queue()
        .queue_name(format!("{name}-dlq"))
        .send()
        .await
        .expect("DLQ created")
        .queue_url
        .expect("DLQ url");
    let dlq_arn = sqs
        .get_queue_attributes()
        .queue_url(&dlq_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("DLQ attributes")
        .attributes
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .expect("DLQ arn");
    let redrive = serde_json::json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "3"});
    let url = sqs
        .create_queue()
        .queue_name(name)
        .attributes(QueueAttributeName::RedrivePolicy, redrive.to_string())
        .attributes(
            QueueAttributeName::VisibilityTimeout,
            visibility_timeout_secs.to_string(),
        )
        .send()
        .await
        .expect("queue created")
        .queue_url
        .expect("queue url");
    QueueWithDlq { url, dlq_url }
}

/// The Lambda event for messages received from a queue, as Lambda's SQS poller builds it.
pub fn sqs_event(
    messages: &[aws_sdk_sqs::types::Message],
) -> aws_lambda_events::event::sqs::SqsEvent {
    let mut event = aws_lambda_events::event::sqs::SqsEvent::default();
    event.records = messages
        .iter()
        .map(|m| {
            let mut record = aws_lambda_events::event::sqs::SqsMessage::default();
            record.message_id = m.message_id.clone();
            record.receipt_handle = m.receipt_handle.clone();
            record.body = m.body.clone();
            record.md5_of_body = m.md5_of_body.clone();
            record.attributes = m
                .attributes
                .iter()
                .flatten()
                .map(|(k, v)| (k.as_str().to_owned(), v.clone()))
                .collect::<std::collections::HashMap<_, _>>();
            record.event_source = Some("aws:sqs".into());
            record.aws_region = Some("us-east-1".into());
            record
        })
        .collect();
    event
}

/// Adds a fault rule to the local AWS (see tests/moto/server.py for the fields).
pub async fn inject_fault(rule: serde_json::Value) {
    let url = format!("{}/_qrie/faults", endpoint());
    let body = rule.to_string();
    tokio::task::spawn_blocking(move || http("POST", &url, &body))
        .await
        .expect("fault request task");
}

/// Removes the fault rules tagged `tag` (and no other test's).
pub async fn clear_faults(tag: &str) {
    let url = format!("{}/_qrie/faults?tag={tag}", endpoint());
    tokio::task::spawn_blocking(move || http("DELETE", &url, ""))
        .await
        .expect("fault request task");
}

/// The fault rules tagged `tag`, with how often each fired and how many requests it let
/// through first (`let_through`, for rules with `after`).
pub async fn faults_tagged(tag: &str) -> Vec<serde_json::Value> {
    match fault_rules().await {
        serde_json::Value::Array(rules) => rules
            .into_iter()
            .filter(|r| r["tag"].as_str() == Some(tag))
            .collect(),
        other => panic!("the rules are a list: {other}"),
    }
}

/// Starts counting the local AWS requests signed by `account_id`'s keys (a measurement aid).
pub async fn count_calls(account_id: &str) {
    let url = format!("{}/_qrie/calls", endpoint());
    let body = serde_json::json!({"account": account_id}).to_string();
    tokio::task::spawn_blocking(move || http("POST", &url, &body))
        .await
        .expect("count request task");
}

/// The requests signed by `account_id`'s keys since [`count_calls`], by action.
pub async fn counted_calls(account_id: &str) -> std::collections::BTreeMap<String, u64> {
    let url = format!("{}/_qrie/calls?account={account_id}", endpoint());
    let response = tokio::task::spawn_blocking(move || http("GET", &url, ""))
        .await
        .expect("count request task");
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .unwrap_or_default();
    serde_json::from_str(body).expect("the counts are JSON")
}

/// The fault rules the local AWS holds, with how often each fired (a `pass` rule counts the
/// requests it matched and lets them through: see `tests/moto/server.py`).
pub async fn fault_rules() -> serde_json::Value {
    let url = format!("{}/_qrie/faults", endpoint());
    let response = tokio::task::spawn_blocking(move || http("GET", &url, ""))
        .await
        .expect("fault request task");
    let body = response.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    serde_json::from_str(body).expect("the rules are JSON")
}

/// A minimal HTTP/1.1 client for the harness's own control endpoint.
fn http(method: &str, url: &str, body: &str) -> String {
    use std::io::{Read, Write};
    let rest = url.trim_start_matches("http://");
    let (host, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_owned()), |(h, p)| (h, format!("/{p}")));
    let mut stream = std::net::TcpStream::connect(host).expect("local AWS reachable");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("request written");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("response read");
    assert!(
        response.starts_with("HTTP/1.1 200") || response.starts_with("HTTP/1.0 200"),
        "{response}"
    );
    response
}

/// The names of the sample event files of one function (`events/<function>/*.json`), sorted.
pub fn sample_files(function: &str) -> Vec<String> {
    let dir = repo_root().join("events").join(function);
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            e.expect("directory entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|n| n.ends_with(".json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "events/{function} has samples");
    files
}

/// Reads a sample event file from `events/`.
pub fn sample_event(path: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(repo_root().join("events").join(path))
        .unwrap_or_else(|e| panic!("events/{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("events/{path}: {e}"))
}

/// Runs one `qrie` command line (without the program name) through `qrie_cli::run`, exactly as
/// a shell runs the binary; returns (exit code, stdout, stderr).
pub async fn run_qrie(deps: &Deps, line: &[&str]) -> (i32, String, String) {
    let args: Vec<String> = std::iter::once("qrie")
        .chain(line.iter().copied())
        .map(str::to_owned)
        .collect();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = qrie_cli::run(deps, &args, &mut out, &mut err).await;
    (
        code,
        String::from_utf8(out).expect("utf-8"),
        String::from_utf8(err).expect("utf-8"),
    )
}
