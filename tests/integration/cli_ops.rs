//! The `qrie` command's operations on the local AWS, through `qrie_cli::run` exactly as a shell
//! runs the binary: policies (list, show, enable, disable, launch) read and written where the
//! scanner reads them; account onboarding behind a real STS AssumeRole; the inventory and the
//! scan in process and through Lambda Invoke (moto's Lambda without Docker, on a server of this
//! test's own, since that setting is the whole server's); object-scan jobs worked through a real
//! SQS queue; and local files scanned with masked output.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};

use aws_credential_types::Credentials;
use qrie::config::Config;
use qrie::handler::Deps;
use qrie::model::{FindingState, Severity};
use qrie::store::PolicySetting;
use qrie_cli::{EXIT_ERROR, EXIT_FINDINGS, EXIT_OK};
use qrie_tests::{inject_fault, new_account_id, repo_root, run_qrie as qrie, unique, World};
use serde_json::{json, Value};

const VERSIONING: &str = "S3BucketVersioningEnabled";

#[tokio::test]
async fn every_new_command_has_help() {
    let world = World::new().await;
    for (line, names) in [
        (
            &["policies", "--help"][..],
            &["list", "show", "enable", "disable", "launch"][..],
        ),
        (
            &["policies", "launch", "--help"],
            &["--in-process", "--function"],
        ),
        (
            &["accounts", "onboard", "--help"],
            &["--role-arn", "--external-id", "--regions"],
        ),
        (
            &["inventory", "--help"],
            &["--service", "--account", "--in-process"],
        ),
        (
            &["scan", "--help"],
            &["--policy", "--service", "--fail-on-errors"],
        ),
        (
            &["objects", "--help"],
            &["scan", "status", "results", "scan-local"],
        ),
        (
            &["objects", "scan-local", "--help"],
            &["--detector", "--max-bytes"],
        ),
    ] {
        let (code, out, _) = qrie(&world.deps, line).await;
        assert_eq!(code, EXIT_OK, "{line:?}");
        for name in names {
            assert!(out.contains(name), "{line:?} help names {name}: {out}");
        }
    }
    let (code, _, err) = qrie(&world.deps, &["accounts", "onboard", "111122223333"]).await;
    assert_eq!(code, qrie_cli::EXIT_USAGE);
    assert!(err.contains("--role-arn"), "{err}");
}

#[tokio::test]
async fn a_policy_is_disabled_enabled_and_launched_where_the_scanner_reads_it() {
    // Given an account with one plain bucket, inventoried in process through the command
    let world = World::new().await;
    let account = world.onboard().await;
    let bucket = world.bucket("ops");
    world
        .customer_s3(&account, "us-east-1")
        .await
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("bucket");
    let arn = format!("arn:aws:s3:::{bucket}");
    let (code, out, err) = qrie(
        &world.deps,
        &[
            "inventory",
            "--service",
            "s3",
            "--account",
            &account.account_id,
            "--in-process",
        ],
    )
    .await;
    assert_eq!(code, EXIT_OK, "{err}");
    assert!(
        out.contains("resources in 1 account(s), 0 removed"),
        "{out}"
    );
    // And a severity override on the versioning policy's row
    world
        .deps
        .stores
        .policies
        .put_setting(
            VERSIONING,
            &PolicySetting {
                active: true,
                severity_override: Some(Severity::Critical),
                accounts: None,
            },
        )
        .await
        .expect("row written");
    // When the policies are listed and one is shown
    let (code, list, _) = qrie(&world.deps, &["policies", "list", "--service", "s3"]).await;
    assert_eq!(code, EXIT_OK);
    let line = list
        .lines()
        .find(|l| l.starts_with(&format!("{VERSIONING} ")))
        .unwrap_or_else(|| panic!("{list}"));
    // Then each shows its service, effective severity, activation and controls
    assert!(
        line.contains(" s3 ") && line.contains("CRITICAL*") && line.contains("enabled"),
        "{line}"
    );
    assert!(line.contains("fsbp S3.14"), "{line}");
    assert!(!list.contains("IAMRootAccessKeyAbsent"), "only s3: {list}");
    let (_, shown, _) = qrie(&world.deps, &["policies", "show", VERSIONING]).await;
    for part in [
        "description:",
        "remediation:",
        "controls:",
        "fsbp S3.14",
        "(overridden; catalogue LOW)",
    ] {
        assert!(shown.contains(part), "{part}: {shown}");
    }
    // When it is disabled
    let (code, out, _) = qrie(&world.deps, &["policies", "disable", VERSIONING]).await;
    assert_eq!(
        (code, out.starts_with("disabled")),
        (EXIT_OK, true),
        "{out}"
    );
    // Then the policies table holds it inactive, its override kept, and the listing says so
    let settings = world
        .deps
        .stores
        .policies
        .settings()
        .await
        .expect("settings");
    assert_eq!(
        settings.settings[VERSIONING],
        PolicySetting {
            active: false,
            severity_override: Some(Severity::Critical),
            accounts: None
        }
    );
    let (_, json_list, _) = qrie(&world.deps, &["policies", "list", "--format", "json"]).await;
    let rows: Value = serde_json::from_str(&json_list).expect("json");
    let row = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == VERSIONING)
        .expect("listed");
    assert_eq!(
        (row["enabled"].clone(), row["state"].clone()),
        (json!(false), json!("disabled"))
    );
    // And the scanner honours it: a full scan opens no versioning finding, a scan of it is refused
    let (code, out, err) = qrie(&world.deps, &["scan", "--in-process", "--format", "json"]).await;
    assert_eq!(code, EXIT_OK, "{err}");
    let summary: Value = serde_json::from_str(&out).expect("summary json");
    assert!(
        !summary["policies"]
            .as_array()
            .unwrap()
            .contains(&json!(VERSIONING)),
        "{out}"
    );
    assert!(summary["evaluated"].as_u64().unwrap() > 0, "{out}");
    let findings = world
        .deps
        .stores
        .findings
        .for_resource(&arn)
        .await
        .expect("findings");
    assert!(
        findings.iter().all(|f| f.policy_id != VERSIONING),
        "{findings:?}"
    );
    let (code, _, err) = qrie(
        &world.deps,
        &["scan", "--policy", VERSIONING, "--in-process"],
    )
    .await;
    assert_eq!(code, EXIT_ERROR);
    assert!(
        err.contains("policy S3BucketVersioningEnabled is disabled in the policies table"),
        "{err}"
    );
    // When it is launched
    let (code, out, err) = qrie(
        &world.deps,
        &["policies", "launch", VERSIONING, "--in-process"],
    )
    .await;
    // Then it is enabled again and scanned: its finding opens at the overridden severity
    assert_eq!(code, EXIT_OK, "{err}");
    assert!(
        out.starts_with("enabled S3BucketVersioningEnabled; scanning it"),
        "{out}"
    );
    assert!(
        out.contains("qrie_policy_scanner: 1 evaluations, 1 new"),
        "{out}"
    );
    let finding = world
        .deps
        .stores
        .findings
        .for_resource(&arn)
        .await
        .expect("findings")
        .into_iter()
        .find(|f| f.policy_id == VERSIONING)
        .expect("the launch opened it");
    assert_eq!(
        (finding.state, finding.severity),
        (FindingState::Active, Severity::Critical)
    );
    assert!(
        world
            .deps
            .stores
            .policies
            .settings()
            .await
            .unwrap()
            .settings[VERSIONING]
            .active
    );
    // And unknown ids and services are named
    let (code, _, err) = qrie(&world.deps, &["policies", "enable", "NoSuchPolicy"]).await;
    assert_eq!(code, EXIT_ERROR);
    assert!(err.contains("no policy \"NoSuchPolicy\""), "{err}");
    let (code, _, err) = qrie(&world.deps, &["scan", "--service", "s4", "--in-process"]).await;
    assert_eq!(code, EXIT_ERROR);
    assert!(err.contains("--service"), "{err}");
}

#[tokio::test]
async fn an_account_is_onboarded_only_once_its_role_is_assumed() {
    let world = World::new().await;
    let id = new_account_id();
    let role = format!("arn:aws:iam::{id}:role/QrieScannerRole");
    // When an account whose role can be assumed is onboarded
    let (code, out, err) = qrie(
        &world.deps,
        &[
            "accounts",
            "onboard",
            &id,
            "--role-arn",
            &role,
            "--external-id",
            "ext-123",
            "--regions",
            "us-east-1,eu-west-1",
            "--name",
            "payments",
        ],
    )
    .await;
    // Then its item is written as the inventory reads it, and listed
    assert_eq!(code, EXIT_OK, "{err}");
    assert!(out.starts_with(&format!("onboarded account {id}")), "{out}");
    let stored = world
        .deps
        .stores
        .accounts
        .get(&id)
        .await
        .unwrap()
        .expect("written");
    assert_eq!(stored.role_arn, role);
    assert_eq!(stored.external_id.as_deref(), Some("ext-123"));
    assert_eq!(stored.regions, ["us-east-1", "eu-west-1"]);
    assert!(stored.enabled);
    let (_, list, _) = qrie(&world.deps, &["accounts", "list"]).await;
    let line = list
        .lines()
        .find(|l| l.starts_with(&id))
        .unwrap_or_else(|| panic!("{list}"));
    assert!(
        line.contains("payments") && line.contains("us-east-1,eu-west-1"),
        "{line}"
    );
    // When STS refuses the assume (the trust policy or its ExternalId does not allow qrie)
    let refused = new_account_id();
    inject_fault(json!({
        "body_contains": refused,
        "status": 403,
        "code": "AccessDenied",
        "message": "not authorized to perform: sts:AssumeRole",
        "protocol": "xml_wrapped",
        "times": 1,
    }))
    .await;
    let (code, _, err) = qrie(
        &world.deps,
        &[
            "accounts",
            "onboard",
            &refused,
            "--role-arn",
            &format!("arn:aws:iam::{refused}:role/QrieScannerRole"),
            "--external-id",
            "ext-123",
        ],
    )
    .await;
    // Then the error says so, and nothing is written
    assert_eq!(code, EXIT_ERROR);
    assert!(
        err.contains("the role cannot be assumed, nothing was written"),
        "{err}"
    );
    assert!(err.contains("AccessDenied"), "{err}");
    let listed = world.deps.stores.accounts.list().await.unwrap();
    assert!(listed.iter().all(|a| a.account_id != refused), "{listed:?}");
    // And a role of another account, or a malformed region, is refused before any call
    let (code, _, err) = qrie(
        &world.deps,
        &[
            "accounts",
            "onboard",
            &refused,
            "--role-arn",
            &role,
            "--external-id",
            "ext-123",
        ],
    )
    .await;
    assert_eq!(code, EXIT_ERROR);
    assert!(
        err.contains(&format!("is a role of account {id}, not of {refused}")),
        "{err}"
    );
    let (code, _, err) = qrie(
        &world.deps,
        &[
            "accounts",
            "onboard",
            &id,
            "--role-arn",
            &role,
            "--external-id",
            "ext-123",
            "--regions",
            "us-esat-1",
        ],
    )
    .await;
    assert_eq!(code, EXIT_ERROR);
    assert!(
        err.contains("\"us-esat-1\" is not an AWS region name"),
        "{err}"
    );
    assert_eq!(world.deps.stores.accounts.list().await.unwrap().len(), 1);
}

/// A moto server of this test's own (Lambda's `use_docker` is a whole-server setting).
struct PrivateServer {
    endpoint: String,
    child: Child,
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn private_server() -> PrivateServer {
    let mut child = Command::new(repo_root().join(".venv/bin/python"))
        .arg(repo_root().join("tests/moto/server.py"))
        .arg("--parent-pid")
        .arg(std::process::id().to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("a moto server starts (make venv)");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("the server prints its port");
    let port: u16 = line.trim().parse().expect("a port");
    PrivateServer {
        endpoint: format!("http://127.0.0.1:{port}"),
        child,
    }
}

/// POSTs JSON to the server's own API; returns the status line.
fn post(endpoint: &str, path: &str, body: &Value) -> String {
    let host = endpoint.trim_start_matches("http://");
    let body = body.to_string();
    let mut stream = std::net::TcpStream::connect(host).expect("server reachable");
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("request written");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("response");
    response.lines().next().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn inventory_and_scan_invoke_the_functions_with_the_payloads_people_pass() {
    // Given a local AWS whose Lambda runs no code (moto's use_docker: false: an invoke answers
    // its payload, or the next queued result), and two functions deployed on it
    let server = private_server();
    let endpoint = server.endpoint.clone();
    let status = tokio::task::spawn_blocking({
        let endpoint = endpoint.clone();
        move || {
            post(
                &endpoint,
                "/moto-api/config",
                &json!({"lambda": {"use_docker": false}}),
            )
        }
    })
    .await
    .unwrap();
    assert!(status.contains("201") || status.contains("200"), "{status}");
    let mut config = Config::from_lookup(|_| None).expect("defaults");
    config.aws.endpoint_url = Some(endpoint.clone());
    config.aws.max_attempts = 1;
    let sdk = qrie::aws::load_sdk_config(&config.aws)
        .await
        .to_builder()
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(Credentials::new(
                "testing",
                "testing",
                None,
                None,
                "qrie-tests",
            )),
        )
        .build();
    let deps = Deps::new(config, sdk.clone()).expect("deps");
    let role = aws_sdk_iam::Client::new(&sdk)
        .create_role()
        .role_name(format!("fn-{}", unique()))
        .assume_role_policy_document(
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
            .to_string(),
        )
        .send()
        .await
        .expect("role")
        .role
        .expect("role")
        .arn;
    let lambda = aws_sdk_lambda::Client::new(&sdk);
    let names = [format!("inv-{}", unique()), format!("scan-{}", unique())];
    for name in &names {
        lambda
            .create_function()
            .function_name(name)
            .runtime(aws_sdk_lambda::types::Runtime::Providedal2023)
            .handler("bootstrap")
            .role(&role)
            .code(
                aws_sdk_lambda::types::FunctionCode::builder()
                    .zip_file(aws_sdk_lambda::primitives::Blob::new(empty_zip()))
                    .build(),
            )
            .send()
            .await
            .expect("function created");
    }
    // When the inventory and the scan are run through them
    let (code, out, err) = qrie(
        &deps,
        &[
            "inventory",
            "--service",
            "s3",
            "--account",
            "111122223333",
            "--function",
            &names[0],
            "--format",
            "json",
        ],
    )
    .await;
    // Then each function received exactly the payload of `aws lambda invoke`
    assert_eq!(code, EXIT_OK, "{err}");
    let sent: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(sent, json!({"service": "s3", "account_id": "111122223333"}));
    let (code, out, err) = qrie(
        &deps,
        &[
            "scan",
            "--policy",
            VERSIONING,
            "--function",
            &names[1],
            "--format",
            "json",
        ],
    )
    .await;
    assert_eq!(code, EXIT_OK, "{err}");
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap(),
        json!({"policy_id": VERSIONING})
    );
    // And the summary a function returns is printed
    let summary = json!({"evaluated": 7, "new": 2, "still_active": 4, "resolved": 1, "reopened": 0,
        "not_evaluated": 0, "errors": ["111122223333_s3: Query failed"], "compliance": []});
    let status = tokio::task::spawn_blocking({
        let endpoint = endpoint.clone();
        let summary = summary.to_string();
        move || {
            post(
                &endpoint,
                "/moto-api/static/lambda-simple/response",
                &json!({"results": [summary.clone(), summary], "region": "us-east-1"}),
            )
        }
    })
    .await
    .unwrap();
    assert!(status.contains("201"), "{status}");
    let (code, out, err) = qrie(&deps, &["scan", "--function", &names[1]]).await;
    assert_eq!(code, EXIT_OK, "{err}");
    assert!(
        out.contains(&format!("{}: 7 evaluations, 2 new (0 re-opened), 4 still active, 1 resolved, 0 not evaluated, 1 error(s)", names[1])),
        "{out}"
    );
    assert!(
        out.contains("error: 111122223333_s3: Query failed"),
        "{out}"
    );
    // And --fail-on-errors turns the summary's errors into exit 1
    let (code, _, err) = qrie(
        &deps,
        &["scan", "--function", &names[1], "--fail-on-errors"],
    )
    .await;
    assert_eq!(code, EXIT_ERROR);
    assert!(err.contains("the summary lists 1 error(s)"), "{err}");
    drop(server);
    // And a function that is not there is a clear error with a non-zero exit (on the shared
    // server, whose Lambda looks functions up: the one without Docker answers any name)
    let world = World::new().await;
    let (code, _, err) = qrie(
        &world.deps,
        &["scan", "--function", "qrie_no_such_function"],
    )
    .await;
    assert_eq!(code, EXIT_ERROR);
    assert!(
        err.contains("invoking qrie_no_such_function failed"),
        "{err}"
    );
    assert!(err.contains("ResourceNotFound"), "{err}");
}

/// The smallest zip archive: an end-of-central-directory record and nothing else.
fn empty_zip() -> Vec<u8> {
    let mut zip = b"PK\x05\x06".to_vec();
    zip.extend([0u8; 18]);
    zip
}

#[tokio::test]
async fn an_object_scan_job_is_started_worked_followed_and_read_through_the_command() {
    // Given a customer bucket with planted values inside and outside a prefix, and the
    // object scanner's work queue
    let world = World::new().await;
    let account = world.onboard().await;
    let s3 = world.customer_s3(&account, "us-east-1").await;
    let bucket = world.bucket("objects");
    s3.create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("bucket");
    for (key, body) in [
        ("data/a.txt", "payroll\nssn 536-22-1987 for jane\n"),
        ("data/b.txt", "nothing to see here\n"),
        ("other/c.txt", "ssn 536-22-1987\n"),
    ] {
        s3.put_object()
            .bucket(&bucket)
            .key(key)
            .body(aws_sdk_s3::primitives::ByteStream::from(
                body.as_bytes().to_vec(),
            ))
            .send()
            .await
            .expect("object");
    }
    // And without a queue, a job cannot be started, which is named
    let (code, _, err) = qrie(&world.deps, &["objects", "scan", &bucket]).await;
    assert_eq!(code, EXIT_ERROR);
    assert!(
        err.contains("QRIE_OBJECT_SCAN_QUEUE_URL is not set"),
        "{err}"
    );
    let sqs = aws_sdk_sqs::Client::new(&world.deps.sdk);
    let queue = qrie_tests::queue_with_dlq(&sqs, &format!("{}-cli-objects", world.id), 30).await;
    let mut config = world.deps.config.clone();
    config.object_scan.queue_url = Some(queue.url.clone());
    let deps = Deps::new(config, world.deps.sdk.clone()).expect("deps");
    // When a job over the prefix is started and worked from the command
    let (code, out, err) = qrie(
        &deps,
        &[
            "objects",
            "scan",
            &bucket,
            "--prefix",
            "data/",
            "--account",
            &account.account_id,
            "--in-process",
            "--format",
            "json",
        ],
    )
    .await;
    // Then it completes with the prefix's two objects scanned and one finding
    assert_eq!(code, EXIT_OK, "{err}");
    let answer: Value = serde_json::from_str(&out).expect("json");
    let job_id = answer["started"]["job_id"]
        .as_str()
        .expect("a job id")
        .to_owned();
    assert_eq!(answer["status"]["status"], "completed", "{out}");
    assert_eq!(
        (
            answer["status"]["succeeded"].clone(),
            answer["status"]["findings"].clone()
        ),
        (json!(2), json!(1)),
        "{out}"
    );
    // And status and results read the same job from the tables, masked
    let (code, status, _) = qrie(&deps, &["objects", "status", &job_id]).await;
    assert_eq!(code, EXIT_OK);
    assert!(
        status.contains(&format!("job {job_id}: completed")),
        "{status}"
    );
    assert!(
        status.contains("succeeded 2, failed 0, skipped 0") && status.contains("findings 1"),
        "{status}"
    );
    let (code, results, _) = qrie(&deps, &["objects", "results", &job_id, "--fail-on-any"]).await;
    assert_eq!(code, EXIT_FINDINGS, "{results}");
    assert!(
        results.contains("us_ssn")
            && results.contains("***-**-1987")
            && results.contains("data/a.txt"),
        "{results}"
    );
    assert!(
        !results.contains("536-22-1987") && !results.contains("other/c.txt"),
        "{results}"
    );
    assert!(results.contains("1 finding(s)"), "{results}");
    // (with its risk score first: an SSN is sensitive, medium + 1.0)
    let row = results
        .lines()
        .find(|l| l.contains("us_ssn"))
        .unwrap_or_default();
    assert!(row.starts_with("5.0  us_ssn"), "{results}");
    let (code, json_results, _) = qrie(
        &deps,
        &[
            "objects",
            "results",
            &job_id,
            "--detector",
            "email",
            "--format",
            "json",
        ],
    )
    .await;
    assert_eq!(code, EXIT_OK);
    let page: Value = serde_json::from_str(&json_results).expect("json");
    assert_eq!(page["findings"], json!([]), "{json_results}");
    // And a job that does not exist, or a detector that does not, is named
    let (code, _, err) = qrie(&deps, &["objects", "status", "no-such-job"]).await;
    assert_eq!(code, EXIT_ERROR);
    assert!(err.contains("job no-such-job does not exist"), "{err}");
    let (code, _, err) = qrie(&deps, &["objects", "results", &job_id, "--detector", "ssn"]).await;
    assert_eq!(code, EXIT_ERROR);
    assert!(err.contains("unknown detector \"ssn\""), "{err}");
}

#[tokio::test]
async fn local_files_are_scanned_with_masked_output_and_a_find_fails_the_run() {
    // Given a folder with a planted SSN and AWS key id, a gzip file with an SSN, a binary file
    // and a clean subfolder
    let world = World::new().await;
    let root = std::env::temp_dir().join(format!("qrie-scan-local-{}", unique()));
    let clean = root.join("clean");
    std::fs::create_dir_all(&clean).expect("folders");
    std::fs::write(clean.join("readme.md"), "nothing sensitive\n").unwrap();
    std::fs::write(
        root.join("config.env"),
        "# settings\nSSN=536-22-1987\naws_access_key_id = AKIA2OGYBAH6STMMNXNN\n",
    )
    .unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(b"export: ssn 536-22-1987\n").unwrap();
    std::fs::write(root.join("dump.gz"), gz.finish().unwrap()).unwrap();
    std::fs::write(
        root.join("blob.bin"),
        [0u8, 1, 2, 3, 255, 254, 0, 0].repeat(2048),
    )
    .unwrap();
    let root_s = root.display().to_string();
    // When the folder is scanned
    let (code, out, err) = qrie(&world.deps, &["objects", "scan-local", &root_s]).await;
    // Then the matches are listed by file and line, masked, and the run exits 3
    assert_eq!(code, EXIT_FINDINGS, "{out}{err}");
    assert!(
        out.contains(&format!("{root_s}/config.env:2: us_ssn ***-**-1987")),
        "{out}"
    );
    assert!(
        out.contains(&format!("{root_s}/config.env:3: aws_access_key_id")),
        "{out}"
    );
    assert!(
        out.contains(&format!("{root_s}/dump.gz@12: us_ssn ***-**-1987")),
        "{out}"
    );
    assert!(out.contains("blob.bin: binary"), "{out}");
    assert!(
        !out.contains("536-22-1987") && !out.contains("AKIA2OGYBAH6STMMNXNN"),
        "{out}"
    );
    assert!(out.contains("3 finding(s)"), "{out}");
    // And a clean folder exits 0, a filtered detector narrows, a missing path is named
    let (code, out, _) = qrie(
        &world.deps,
        &["objects", "scan-local", &clean.display().to_string()],
    )
    .await;
    assert_eq!(
        (code, out.contains("0 finding(s)")),
        (EXIT_OK, true),
        "{out}"
    );
    let (code, out, _) = qrie(
        &world.deps,
        &[
            "objects",
            "scan-local",
            &root.join("config.env").display().to_string(),
            "--detector",
            "aws_access_key_id",
            "--format",
            "json",
        ],
    )
    .await;
    assert_eq!(code, EXIT_FINDINGS);
    let report: Value = serde_json::from_str(&out).expect("json");
    let found = report["findings"].as_array().expect("findings");
    assert_eq!(found.len(), 1, "{out}");
    assert_eq!(
        (found[0]["detector"].clone(), found[0]["line"].clone()),
        (json!("aws_access_key_id"), json!(3))
    );
    let missing = root.join("nope").display().to_string();
    let (code, _, err) = qrie(&world.deps, &["objects", "scan-local", &missing]).await;
    assert_eq!(code, EXIT_ERROR);
    assert!(
        err.contains(&format!("{missing}: no such file or folder")),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&root);
}
