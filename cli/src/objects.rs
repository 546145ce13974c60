//! `qrie objects`: sensitive-data scans of S3 objects and of local files.
//!
//! - `scan BUCKET [--prefix P]` creates an object-scan job exactly as the object scanner's
//!   `{"bucket", "prefix"}` invocation does (the job tables and the work queue named by
//!   `QRIE_SCAN_JOBS_TABLE` and `QRIE_OBJECT_SCAN_QUEUE_URL`), so the deployed workers scan it.
//!   `--wait` follows the job until it ends; `--in-process` also works the queue from this
//!   process (receive, scan, delete, as Lambda's SQS integration does), for a deployment
//!   without the function or a local AWS.
//! - `status JOB` and `results JOB` read the job and its findings as the `{"action": ...}`
//!   requests do; findings are masked as stored.
//! - `scan-local PATH...` runs the same detectors and stream pipeline (gzip, binary sniffing,
//!   size bound) over local files and folders, like `gitleaks detect --no-git`, and prints masked
//!   matches only. Anything found exits with [`EXIT_FINDINGS`], as `qrie findings --fail-on-any`.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use clap::Subcommand;
use qrie::handler::Deps;
use qrie::object_scan::pipeline::{gzip_by_name, StreamMode, StreamScan, Verdict};
use qrie::object_scan::{ObjectScanError, ObjectScanner};
use qrie_detectors::{DetectorKind, Detectors};
use serde_json::{json, Value};

use crate::ops::OutputFormat;
use crate::progress::Counter;
use crate::{CliError, EXIT_ERROR, EXIT_FINDINGS, EXIT_OK};

/// How often `--wait` reads a job's status.
pub const WAIT_POLL: Duration = Duration::from_secs(2);
/// Empty receives in a row (each waiting up to a second) after which `--in-process` stops
/// waiting for a job whose queue holds nothing more for it.
pub const IDLE_RECEIVES: u32 = 30;
/// Bytes read from a local file at once.
const READ_CHUNK: usize = 64 * 1024;
/// Findings a results page asks for.
const RESULTS_PAGE: usize = 1_000;

/// What stops an `objects` command.
#[derive(Debug, thiserror::Error)]
pub enum ObjectsError {
    #[error(transparent)]
    Scan(#[from] ObjectScanError),
    #[error("{0}: no such file or folder")]
    NoPath(PathBuf),
    #[error("unknown detector {0:?} (known: {known})", known = known_detectors())]
    UnknownDetector(String),
    #[error("receiving from the work queue failed: {0}")]
    Queue(String),
    #[error("job {job_id} is still {status} but the work queue has held nothing for {secs}s (does another worker consume it?)")]
    Stalled {
        job_id: String,
        status: String,
        secs: u32,
    },
}

fn known_detectors() -> String {
    DetectorKind::ALL
        .iter()
        .map(|k| k.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

#[derive(Debug, clap::Args)]
pub struct ObjectsArgs {
    #[command(subcommand)]
    command: ObjectsCommand,
}

#[derive(Debug, Subcommand)]
enum ObjectsCommand {
    #[command(flatten)]
    Job(JobCommand),
    /// Run the detectors over local files and folders; exits with 3 when anything is found.
    ScanLocal {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Only these detectors (repeat the flag; default: all).
        #[arg(long)]
        detector: Vec<String>,
        /// Files larger than this (decompressed) are scanned up to it only.
        #[arg(long)]
        max_bytes: Option<u64>,
        #[arg(long, value_enum, default_value_t)]
        format: OutputFormat,
    },
}

/// The commands on object-scan jobs (the job tables and the work queue).
#[derive(Debug, Subcommand)]
enum JobCommand {
    /// Start an object-scan job over a bucket (or a prefix of it).
    Scan {
        bucket: String,
        #[arg(long)]
        prefix: Option<String>,
        /// The onboarded account that owns the bucket (default: qrie's own account).
        #[arg(long)]
        account: Option<String>,
        /// The bucket's region (default: asked with GetBucketLocation).
        #[arg(long)]
        region: Option<String>,
        /// Follow the job until it completes or fails.
        #[arg(long)]
        wait: bool,
        /// Work the queue from this process until the job ends (implies --wait).
        #[arg(long)]
        in_process: bool,
        #[arg(long, value_enum, default_value_t)]
        format: OutputFormat,
    },
    /// A job's status and counts.
    Status {
        job_id: String,
        #[arg(long, value_enum, default_value_t)]
        format: OutputFormat,
    },
    /// A job's findings (masked).
    Results {
        job_id: String,
        /// Only this detector's (us_ssn, credit_card, aws_access_key_id, ...).
        #[arg(long)]
        detector: Option<String>,
        /// Only objects whose key starts with this.
        #[arg(long)]
        key_prefix: Option<String>,
        /// List at most this many (default: all).
        #[arg(long)]
        limit: Option<usize>,
        #[arg(long, value_enum, default_value_t)]
        format: OutputFormat,
        /// Exit with 3 when any finding is listed.
        #[arg(long)]
        fail_on_any: bool,
    },
}

/// `qrie objects ...`
pub async fn objects(deps: &Deps, args: ObjectsArgs, out: &mut dyn Write) -> Result<i32, CliError> {
    match args.command {
        ObjectsCommand::ScanLocal {
            paths,
            detector,
            max_bytes,
            format,
        } => {
            let kinds = detector
                .iter()
                .map(|d| {
                    DetectorKind::from_name(d)
                        .ok_or_else(|| ObjectsError::UnknownDetector(d.clone()))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let detectors = if kinds.is_empty() {
                Detectors::new()
            } else {
                Detectors::with_kinds(&kinds)
            };
            let max = max_bytes.unwrap_or(deps.config.object_scan.max_object_bytes);
            scan_local(&paths, &detectors, max, format, out)
        }
        ObjectsCommand::Job(command) => {
            let scanner = ObjectScanner::new(deps.config.clone(), deps.sdk.clone());
            remote(&scanner, command, out).await
        }
    }
}

async fn call(scanner: &ObjectScanner, payload: Value) -> Result<Value, ObjectsError> {
    Ok(scanner.handle(payload, None).await?)
}

async fn remote(
    scanner: &ObjectScanner,
    command: JobCommand,
    out: &mut dyn Write,
) -> Result<i32, CliError> {
    match command {
        JobCommand::Scan {
            bucket,
            prefix,
            account,
            region,
            wait,
            in_process,
            format,
        } => {
            let mut request = json!({"bucket": bucket});
            for (key, value) in [
                ("prefix", prefix),
                ("account_id", account),
                ("region", region),
            ] {
                if let Some(v) = value {
                    request[key] = json!(v);
                }
            }
            let started = call(scanner, request).await?;
            let job_id = started["job_id"].as_str().unwrap_or_default().to_owned();
            let finished = if in_process {
                Some(work_queue(scanner, &job_id).await?)
            } else if wait {
                Some(follow(scanner, &job_id).await?)
            } else {
                None
            };
            if format == OutputFormat::Json {
                let body = match &finished {
                    Some(status) => json!({"started": started, "status": status}),
                    None => started,
                };
                crate::write_json(out, &body)?;
            } else {
                writeln!(
                    out,
                    "job {job_id}: s3://{}/{} ({}), {}",
                    started["bucket"].as_str().unwrap_or_default(),
                    started["prefix"].as_str().unwrap_or_default(),
                    started["region"].as_str().unwrap_or_default(),
                    started["status"].as_str().unwrap_or_default()
                )?;
                match &finished {
                    Some(status) => print_status(status, out)?,
                    None => writeln!(
                        out,
                        "follow it with `qrie objects status {job_id}`, read it with `qrie objects results {job_id}`"
                    )?,
                }
            }
            Ok(match finished {
                Some(s) if s["status"] == "failed" => EXIT_ERROR,
                _ => EXIT_OK,
            })
        }
        JobCommand::Status { job_id, format } => {
            let status = call(scanner, json!({"action": "status", "job_id": job_id})).await?;
            if format == OutputFormat::Json {
                crate::write_json(out, &status)?;
            } else {
                print_status(&status, out)?;
            }
            Ok(EXIT_OK)
        }
        JobCommand::Results {
            job_id,
            detector,
            key_prefix,
            limit,
            format,
            fail_on_any,
        } => {
            let mut findings: Vec<Value> = Vec::new();
            let mut cursor: Option<String> = None;
            let mut lower_bound = false;
            let mut truncated = false;
            loop {
                let mut request =
                    json!({"action": "results", "job_id": job_id, "limit": RESULTS_PAGE});
                for (key, value) in [
                    ("detector", &detector),
                    ("key_prefix", &key_prefix),
                    ("cursor", &cursor),
                ] {
                    if let Some(v) = value {
                        request[key] = json!(v);
                    }
                }
                let page = call(scanner, request).await?;
                lower_bound |= page["findings_lower_bound"].as_bool().unwrap_or(false);
                findings.extend(page["findings"].as_array().cloned().unwrap_or_default());
                if limit.is_some_and(|l| findings.len() >= l) {
                    truncated = findings.len() > limit.unwrap_or(usize::MAX)
                        || page["has_more"].as_bool().unwrap_or(false);
                    findings.truncate(limit.unwrap_or(usize::MAX));
                    break;
                }
                cursor = page["next_cursor"].as_str().map(str::to_owned);
                if cursor.is_none() {
                    break;
                }
            }
            if format == OutputFormat::Json {
                let body = json!({"job_id": job_id, "findings": findings, "truncated": truncated, "findings_lower_bound": lower_bound});
                crate::write_json(out, &body)?;
            } else {
                writeln!(
                    out,
                    "{:<4} {:<22} {:>10}  {:<22} KEY / CONTEXT",
                    "RISK", "DETECTOR", "OFFSET", "MATCH"
                )?;
                for f in &findings {
                    writeln!(
                        out,
                        "{:<4} {:<22} {:>10}  {:<22} {}",
                        f["risk_score"]
                            .as_f64()
                            .map(|r| format!("{r:.1}"))
                            .unwrap_or_default(),
                        f["detector"].as_str().unwrap_or_default(),
                        f["byte_offset"].as_u64().unwrap_or_default(),
                        f["masked"].as_str().unwrap_or_default(),
                        f["key"].as_str().unwrap_or_default()
                    )?;
                    writeln!(
                        out,
                        "{:>62} {}",
                        "",
                        f["context"].as_str().unwrap_or_default()
                    )?;
                }
                writeln!(
                    out,
                    "{} finding(s){}{}",
                    findings.len(),
                    if truncated {
                        " (more: raise --limit)"
                    } else {
                        ""
                    },
                    if lower_bound {
                        "; some objects had more matches of a kind than are kept: a lower bound"
                    } else {
                        ""
                    }
                )?;
            }
            Ok(if fail_on_any && !findings.is_empty() {
                EXIT_FINDINGS
            } else {
                EXIT_OK
            })
        }
    }
}

fn print_status(s: &Value, out: &mut dyn Write) -> std::io::Result<()> {
    let n = |key: &str| s[key].as_u64().unwrap_or(0);
    writeln!(
        out,
        "job {}: {}{}",
        s["job_id"].as_str().unwrap_or_default(),
        s["status"].as_str().unwrap_or_default(),
        s["reason"]
            .as_str()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default()
    )?;
    writeln!(
        out,
        "  s3://{}/{}  objects {}, units {}",
        s["bucket"].as_str().unwrap_or_default(),
        s["prefix"].as_str().unwrap_or_default(),
        n("objects"),
        s["total"]
            .as_u64()
            .map(|t| t.to_string())
            .unwrap_or_else(|| "not yet known".into())
    )?;
    writeln!(
        out,
        "  queued {}, processing {}, succeeded {}, failed {}, skipped {}",
        n("queued"),
        n("processing"),
        n("succeeded"),
        n("failed"),
        n("skipped")
    )?;
    writeln!(
        out,
        "  findings {}{}",
        n("findings"),
        if s["findings_lower_bound"].as_bool().unwrap_or(false) {
            " (a lower bound)"
        } else {
            ""
        }
    )
}

fn ended(status: &Value) -> bool {
    matches!(status["status"].as_str(), Some("completed" | "failed"))
}

fn progress_line(status: &Value) -> String {
    format!(
        "job {}: {} {}/{} units, {} finding(s)",
        status["job_id"].as_str().unwrap_or_default(),
        status["status"].as_str().unwrap_or_default(),
        status["succeeded"].as_u64().unwrap_or(0)
            + status["failed"].as_u64().unwrap_or(0)
            + status["skipped"].as_u64().unwrap_or(0),
        status["total"]
            .as_u64()
            .map(|t| t.to_string())
            .unwrap_or_else(|| "?".into()),
        status["findings"].as_u64().unwrap_or(0)
    )
}

/// Reads the job's status until it ends (the deployed workers do the work).
async fn follow(scanner: &ObjectScanner, job_id: &str) -> Result<Value, ObjectsError> {
    let mut counter = Counter::new();
    loop {
        let status = call(scanner, json!({"action": "status", "job_id": job_id})).await?;
        if ended(&status) {
            return Ok(status);
        }
        counter.show(|| progress_line(&status));
        tokio::time::sleep(WAIT_POLL).await;
    }
}

/// Works the job's queue from this process until the job ends: receives up to 10 messages,
/// hands them to the scanner as Lambda's SQS poller would, deletes those that succeeded.
async fn work_queue(scanner: &ObjectScanner, job_id: &str) -> Result<Value, ObjectsError> {
    let url = scanner
        .config
        .object_scan
        .queue_url
        .clone()
        .ok_or(ObjectsError::Scan(ObjectScanError::NoQueue))?;
    let mut counter = Counter::new();
    let mut idle = 0;
    loop {
        let status = call(scanner, json!({"action": "status", "job_id": job_id})).await?;
        if ended(&status) {
            return Ok(status);
        }
        counter.show(|| progress_line(&status));
        let messages = scanner
            .sqs
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
            .send()
            .await
            .map_err(|e| {
                ObjectsError::Queue(aws_sdk_sqs::error::DisplayErrorContext(&e).to_string())
            })?
            .messages
            .unwrap_or_default();
        if messages.is_empty() {
            idle += 1;
            if idle >= IDLE_RECEIVES {
                return Err(ObjectsError::Stalled {
                    job_id: job_id.to_owned(),
                    status: status["status"].as_str().unwrap_or_default().to_owned(),
                    secs: IDLE_RECEIVES,
                });
            }
            continue;
        }
        idle = 0;
        let event = sqs_event(&messages, scanner.sdk.region().map(|r| r.to_string()));
        let response = call(
            scanner,
            serde_json::to_value(&event).map_err(ObjectScanError::InvalidRequest)?,
        )
        .await?;
        let failed: Vec<&str> = response["batchItemFailures"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f["itemIdentifier"].as_str())
            .collect();
        for m in &messages {
            if failed.contains(&m.message_id().unwrap_or_default()) {
                continue; // SQS redelivers it after its visibility timeout, as with Lambda
            }
            scanner
                .sqs
                .delete_message()
                .queue_url(&url)
                .receipt_handle(m.receipt_handle().unwrap_or_default())
                .send()
                .await
                .map_err(|e| {
                    ObjectsError::Queue(aws_sdk_sqs::error::DisplayErrorContext(&e).to_string())
                })?;
        }
    }
}

/// The Lambda event for received messages, as Lambda's SQS poller builds it.
fn sqs_event(messages: &[aws_sdk_sqs::types::Message], region: Option<String>) -> SqsEvent {
    let mut event = SqsEvent::default();
    event.records = messages
        .iter()
        .map(|m| {
            let mut record = SqsMessage::default();
            record.message_id = m.message_id.clone();
            record.receipt_handle = m.receipt_handle.clone();
            record.body = m.body.clone();
            record.md5_of_body = m.md5_of_body.clone();
            record.attributes = m
                .attributes
                .iter()
                .flatten()
                .map(|(k, v)| (k.as_str().to_owned(), v.clone()))
                .collect();
            record.event_source = Some("aws:sqs".into());
            record.aws_region = region.clone();
            record
        })
        .collect();
    event
}

/// One local match, masked.
struct LocalFinding {
    path: String,
    line: Option<u64>,
    offset: u64,
    length: u64,
    detector: &'static str,
    masked: String,
    context: String,
}

/// Counts of a local scan.
#[derive(Default)]
struct LocalTally {
    files: u64,
    bytes: u64,
    skipped: Vec<(String, &'static str)>,
    errors: Vec<String>,
}

fn scan_local(
    paths: &[PathBuf],
    detectors: &Detectors,
    max_bytes: u64,
    format: OutputFormat,
    out: &mut dyn Write,
) -> Result<i32, CliError> {
    for path in paths {
        if std::fs::symlink_metadata(path).is_err() {
            return Err(ObjectsError::NoPath(path.clone()).into());
        }
    }
    let mut files = Vec::new();
    let mut tally = LocalTally::default();
    for path in paths {
        collect_files(path, &mut files, &mut tally.errors);
    }
    let mut findings = Vec::new();
    let mut counter = Counter::new();
    for file in &files {
        counter.show(|| {
            format!(
                "scanned {} of {} file(s), {} finding(s)",
                tally.files,
                files.len(),
                findings.len()
            )
        });
        match scan_file(file, detectors, max_bytes, &mut findings) {
            Ok((bytes, verdict)) => {
                tally.files += 1;
                tally.bytes += bytes;
                let shown = file.display().to_string();
                match verdict {
                    Some(Verdict::Binary) => tally.skipped.push((shown, "binary")),
                    Some(Verdict::TooLarge) => {
                        tally.skipped.push((shown, "scanned up to --max-bytes"))
                    }
                    Some(Verdict::CompressionRatio) => tally
                        .skipped
                        .push((shown, "gzip compression ratio too high")),
                    Some(Verdict::CorruptGzip) => {
                        tally.errors.push(format!("{shown}: corrupt gzip"))
                    }
                    Some(Verdict::NeedsWholeObject) | None => {}
                }
            }
            Err(e) => tally.errors.push(format!("{}: {e}", file.display())),
        }
    }
    drop(counter);
    if format == OutputFormat::Json {
        let rows: Vec<Value> = findings
            .iter()
            .map(|f| {
                json!({
                    "path": f.path,
                    "line": f.line,
                    "byte_offset": f.offset,
                    "length": f.length,
                    "detector": f.detector,
                    "masked": f.masked,
                    "context": f.context,
                })
            })
            .collect();
        let skipped: Vec<Value> = tally
            .skipped
            .iter()
            .map(|(p, why)| json!({"path": p, "reason": why}))
            .collect();
        let body = json!({
            "findings": rows,
            "files": tally.files,
            "bytes": tally.bytes,
            "skipped": skipped,
            "errors": tally.errors,
        });
        crate::write_json(out, &body)?;
    } else {
        for f in &findings {
            let place = match f.line {
                Some(line) => format!("{}:{line}", f.path),
                None => format!("{}@{}", f.path, f.offset),
            };
            writeln!(out, "{place}: {} {}", f.detector, f.masked)?;
            writeln!(out, "    {}", f.context)?;
        }
        for (path, why) in &tally.skipped {
            writeln!(out, "skipped {path}: {why}")?;
        }
        for e in &tally.errors {
            writeln!(out, "error: {e}")?;
        }
        writeln!(
            out,
            "{} file(s), {} byte(s) scanned, {} finding(s)",
            tally.files,
            tally.bytes,
            findings.len()
        )?;
    }
    Ok(if !findings.is_empty() {
        EXIT_FINDINGS
    } else if !tally.errors.is_empty() {
        EXIT_ERROR
    } else {
        EXIT_OK
    })
}

/// Files under `path`, in name order; symbolic links are not followed (no loops, nothing
/// outside what was named).
fn collect_files(path: &Path, files: &mut Vec<PathBuf>, errors: &mut Vec<String>) {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) => {
            errors.push(format!("{}: {e}", path.display()));
            return;
        }
    };
    if meta.is_file() {
        files.push(path.to_owned());
    } else if meta.is_dir() {
        let mut entries: Vec<PathBuf> = match std::fs::read_dir(path) {
            Ok(dir) => dir.filter_map(|e| e.ok().map(|e| e.path())).collect(),
            Err(e) => {
                errors.push(format!("{}: {e}", path.display()));
                return;
            }
        };
        entries.sort();
        for entry in entries {
            collect_files(&entry, files, errors);
        }
    }
}

/// Scans one file through the object scanner's stream pipeline; returns the bytes scanned and
/// why the scan stopped early, if it did.
fn scan_file(
    path: &Path,
    detectors: &Detectors,
    max_bytes: u64,
    findings: &mut Vec<LocalFinding>,
) -> std::io::Result<(u64, Option<Verdict>)> {
    let name = path.display().to_string();
    let declared_gzip = gzip_by_name(&name);
    let mut file = std::fs::File::open(path)?;
    let mut scan = StreamScan::new(detectors, StreamMode::Whole { declared_gzip }, max_bytes);
    // Line starts are known for plain files only (gzip offsets are in the inflated bytes).
    let mut newlines: Vec<u64> = Vec::new();
    let mut read: u64 = 0;
    let mut plain_file = None;
    let mut buffer = vec![0u8; READ_CHUNK];
    let mut take = |scan: &mut StreamScan, newlines: &[u64], plain: bool| {
        for d in scan.take_ready() {
            let offset = d.detection.start;
            findings.push(LocalFinding {
                path: name.clone(),
                line: plain.then(|| newlines.partition_point(|&n| n < offset) as u64 + 1),
                offset,
                length: d.detection.len(),
                detector: d.detection.kind.as_str(),
                masked: d.detection.masked,
                context: d.context,
            });
        }
    };
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        let chunk = &buffer[..n];
        let plain = *plain_file.get_or_insert_with(|| {
            !(declared_gzip || qrie::object_scan::pipeline::is_gzip_magic(chunk))
        });
        if plain {
            newlines.extend(
                chunk
                    .iter()
                    .enumerate()
                    .filter(|(_, b)| **b == b'\n')
                    .map(|(i, _)| read + i as u64),
            );
        }
        read += n as u64;
        scan.push(chunk);
        take(&mut scan, &newlines, plain);
        if scan.stopped() {
            break;
        }
    }
    let summary = scan.finish();
    take(&mut scan, &newlines, plain_file.unwrap_or(true));
    Ok((summary.scanned_bytes, summary.verdict))
}
