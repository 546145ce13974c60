//! Scripted measurements of the object scanner (see BENCHMARKS.md, "Object scanner").
//!
//! Needs a local AWS for the `upload`, `scan` and `throughput` modes
//! (`.venv/bin/python tests/moto/server.py --port 5077`); `pipeline` needs nothing.
//!
//! - `pipeline <MiB> [gzip]`: generates an object of that size in memory chunk by chunk and
//!   pushes it through the scan pipeline (no AWS): peak memory of the pipeline alone.
//! - `upload <endpoint> <MiB> [gzip]`: uploads a generated object (multipart, 8 MiB parts) to
//!   bucket `qrie-bench`, key `big.txt` or `big.txt.gz`.
//! - `scan <endpoint> [gzip]`: scans that object as one unit through the worker (GetObject
//!   stream, detectors, DynamoDB writes): run under `/usr/bin/time -v` for the peak RSS.
//! - `throughput <endpoint> <objects>`: uploads that many small objects, runs a job through
//!   the real SQS queue and the handler until it completes, and prints objects per second.
//! - `batch <endpoint> [ratio-off]`: one batch of a 6 GiB gzip bomb of text and a small
//!   object; prints when each unit was done (with `ratio-off`, the bomb is scanned up to the
//!   5 GiB limit instead of being skipped at the compression-ratio bound).

use std::io::Write;
use std::time::Instant;

use aws_config::{BehaviorVersion, Region};
use aws_credential_types::Credentials;
use aws_sdk_s3::primitives::ByteStream;
use qrie::config::{Config, ObjectScanSettings};
use qrie::object_scan::model::{JobKind, ScanJob};
use qrie::object_scan::pipeline::{StreamMode, StreamScan};
use qrie::object_scan::{Invocation, ObjectScanner};
use qrie_detectors::Detectors;
use serde_json::json;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const BUCKET: &str = "qrie-bench";
const PART: usize = 8 * 1024 * 1024;

/// About 64 KiB of text with one email, one SSN and one card number in it; `n` varies it.
fn block(n: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(65_536);
    while out.len() < 64_000 {
        out.extend_from_slice(
            b"2024-05-01T12:00:00Z INFO request served path=/api/v1/items status=200 bytes=5120\n",
        );
    }
    out.extend_from_slice(
        format!("user{n}@example.com ssn 536-22-1987 card 4539 1488 0343 6467\n").as_bytes(),
    );
    out
}

/// Calls `sink` with generated content until `bytes` were produced (gzip-compressed if asked).
fn generate(bytes: u64, gzip: bool, mut sink: impl FnMut(&[u8])) {
    let mut produced = 0u64;
    let mut n = 0;
    if gzip {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        while produced < bytes {
            let b = block(n);
            n += 1;
            produced += b.len() as u64;
            enc.write_all(&b).expect("gzip in memory");
            if enc.get_ref().len() >= PART {
                sink(enc.get_ref());
                enc.get_mut().clear();
            }
        }
        let rest = enc.finish().expect("gzip in memory");
        sink(&rest);
    } else {
        while produced < bytes {
            let b = block(n);
            n += 1;
            produced += b.len() as u64;
            sink(&b);
        }
    }
}

async fn sdk(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "bench"))
        .load()
        .await
}

fn config(endpoint: &str, tables: &str) -> Config {
    let mut config = Config::from_lookup(|_| None).expect("defaults");
    config.aws.endpoint_url = Some(endpoint.to_owned());
    config.tables.scan_jobs = format!("{tables}_scan_jobs");
    config.tables.object_findings = format!("{tables}_object_findings");
    config.tables.accounts = format!("{tables}_accounts");
    config.tables.resources = format!("{tables}_resources");
    config.tables.findings = format!("{tables}_findings");
    config.tables.policies = format!("{tables}_policies");
    config.object_scan = ObjectScanSettings {
        max_object_bytes: 64 * 1024 * 1024 * 1024,
        bytes_per_message: 64 * 1024 * 1024 * 1024,
        ..ObjectScanSettings::default()
    };
    config
}

async fn scanner(endpoint: &str) -> Result<ObjectScanner, BoxError> {
    let sdk = sdk(endpoint).await;
    let tables = format!("bench{}", std::process::id());
    let config = config(endpoint, &tables);
    qrie::store::dynamo::create_tables(&qrie::aws::dynamodb_client(&sdk), &config.tables).await?;
    Ok(ObjectScanner::new(config, sdk))
}

fn pipeline(mib: u64, gzip: bool) {
    let detectors = Detectors::new();
    let mut scan = StreamScan::new(
        &detectors,
        StreamMode::Whole {
            declared_gzip: false,
        },
        u64::MAX,
    );
    let mut findings = 0usize;
    let started = Instant::now();
    generate(mib * 1024 * 1024, gzip, |chunk| {
        for piece in chunk.chunks(64 * 1024) {
            scan.push(piece);
            findings += scan.take_ready().len();
        }
    });
    let summary = scan.finish();
    findings += scan.take_ready().len();
    println!(
        "pipeline: {} MiB scanned ({} raw), gzip {}, {findings} findings, {:.1}s",
        summary.scanned_bytes / (1024 * 1024),
        summary.raw_bytes,
        summary.gzip,
        started.elapsed().as_secs_f64()
    );
}

async fn upload(endpoint: &str, mib: u64, gzip: bool) -> Result<(), BoxError> {
    let sdk = sdk(endpoint).await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .build(),
    );
    let _ = s3.create_bucket().bucket(BUCKET).send().await;
    let key = if gzip { "big.txt.gz" } else { "big.txt" };
    let upload = s3
        .create_multipart_upload()
        .bucket(BUCKET)
        .key(key)
        .send()
        .await?;
    let upload_id = upload.upload_id().unwrap_or_default().to_owned();
    let mut parts = Vec::new();
    let mut buffer = Vec::with_capacity(PART);
    let mut pending = Vec::new();
    generate(mib * 1024 * 1024, gzip, |chunk| {
        buffer.extend_from_slice(chunk);
        if buffer.len() >= PART {
            pending.push(std::mem::take(&mut buffer));
        }
    });
    if !buffer.is_empty() {
        pending.push(buffer);
    }
    for (i, part) in pending.into_iter().enumerate() {
        let number = i32::try_from(i + 1)?;
        let out = s3
            .upload_part()
            .bucket(BUCKET)
            .key(key)
            .upload_id(&upload_id)
            .part_number(number)
            .body(ByteStream::from(part))
            .send()
            .await?;
        parts.push(
            aws_sdk_s3::types::CompletedPart::builder()
                .part_number(number)
                .e_tag(out.e_tag().unwrap_or_default())
                .build(),
        );
    }
    s3.complete_multipart_upload()
        .bucket(BUCKET)
        .key(key)
        .upload_id(&upload_id)
        .multipart_upload(
            aws_sdk_s3::types::CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await?;
    println!("uploaded s3://{BUCKET}/{key}");
    Ok(())
}

async fn scan(endpoint: &str, gzip: bool) -> Result<(), BoxError> {
    let scanner = scanner(endpoint).await?;
    let key = if gzip { "big.txt.gz" } else { "big.txt" };
    let s3 = qrie::aws::s3_client(&scanner.sdk, &scanner.config.aws);
    let head = s3.head_object().bucket(BUCKET).key(key).send().await?;
    let job = ScanJob {
        job_id: format!("bench-{}", std::process::id()),
        bucket: BUCKET.into(),
        region: "us-east-1".into(),
        kind: Some(JobKind::OneOff),
        ..ScanJob::default()
    };
    scanner.jobs.create(&job).await?;
    let unit = json!({
        "job_id": job.job_id, "bucket": BUCKET, "key": key,
        "etag": head.e_tag().unwrap_or_default().trim_matches('"'),
        "size": head.content_length().unwrap_or(0),
    });
    let started = Instant::now();
    let outcome = Invocation::new(&scanner, None)
        .process_message(&unit.to_string(), 1)
        .await?;
    let secs = started.elapsed().as_secs_f64();
    let size = head.content_length().unwrap_or(0) as f64 / (1024.0 * 1024.0);
    println!("scan: {key} ({size:.0} MiB stored) in {secs:.1}s: {outcome:?}");
    Ok(())
}

async fn throughput(endpoint: &str, objects: usize) -> Result<(), BoxError> {
    let mut scanner = scanner(endpoint).await?;
    let sqs = aws_sdk_sqs::Client::new(&scanner.sdk);
    let queue = sqs
        .create_queue()
        .queue_name(format!("bench-{}", std::process::id()))
        .send()
        .await?
        .queue_url
        .unwrap_or_default();
    scanner.config.object_scan.queue_url = Some(queue.clone());
    let s3 = qrie::aws::s3_client(&scanner.sdk, &scanner.config.aws);
    let bucket = format!("qrie-bench-many-{}", std::process::id());
    s3.create_bucket().bucket(&bucket).send().await?;
    for i in 0..objects {
        let mut body = block(i as u64);
        body.truncate(4_000);
        body.extend_from_slice(format!("mail user{i}@example.com ssn 536-22-1987\n").as_bytes());
        s3.put_object()
            .bucket(&bucket)
            .key(format!("objects/{i:06}.log"))
            .body(ByteStream::from(body))
            .send()
            .await?;
    }
    let started = Instant::now();
    let job = scanner
        .handle(json!({"bucket": bucket, "region": "us-east-1"}), None)
        .await?;
    let job_id = job["job_id"].as_str().unwrap_or_default().to_owned();
    loop {
        let messages = sqs
            .receive_message()
            .queue_url(&queue)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await?
            .messages
            .unwrap_or_default();
        if messages.is_empty() {
            let status = scanner
                .handle(json!({"action": "status", "job_id": job_id}), None)
                .await?;
            if status["status"] == "completed" {
                let secs = started.elapsed().as_secs_f64();
                println!(
                    "throughput: {} objects, {} findings in {secs:.1}s: {:.0} objects/s (one worker, batches of 10, {} at once)",
                    status["succeeded"], status["findings"],
                    objects as f64 / secs, qrie::object_scan::worker::MESSAGE_CONCURRENCY
                );
                return Ok(());
            }
            continue;
        }
        let records: Vec<serde_json::Value> = messages
            .iter()
            .map(|m| {
                json!({"messageId": m.message_id(), "receiptHandle": m.receipt_handle(),
                       "body": m.body(), "attributes": {"ApproximateReceiveCount": "1"},
                       "messageAttributes": {}, "eventSource": "aws:sqs", "awsRegion": "us-east-1"})
            })
            .collect();
        let response = scanner.handle(json!({"Records": records}), None).await?;
        let failed = response["batchItemFailures"].as_array().map_or(0, Vec::len);
        if failed > 0 {
            return Err(format!("{failed} messages failed").into());
        }
        for m in &messages {
            sqs.delete_message()
                .queue_url(&queue)
                .receipt_handle(m.receipt_handle().unwrap_or_default())
                .send()
                .await?;
        }
    }
}

/// Records when each unit of a batch was done, from the batch's start.
struct Timings {
    started: std::sync::Mutex<Option<Instant>>,
    done: std::sync::Mutex<Vec<(String, String, f64)>>,
}

impl qrie::object_scan::worker::ScanProbe for Timings {
    fn unit_done(&self, _job_id: &str, key: &str, outcome: &qrie::object_scan::model::UnitOutcome) {
        let since = self
            .started
            .lock()
            .ok()
            .and_then(|s| *s)
            .map_or(0.0, |s| s.elapsed().as_secs_f64());
        let what = match outcome {
            qrie::object_scan::model::UnitOutcome::Skipped { reason, .. } => {
                format!("skipped {}", reason.as_str())
            }
            other => other.name().to_owned(),
        };
        if let Ok(mut done) = self.done.lock() {
            done.push((key.to_owned(), what, since));
        }
    }
}

/// One batch of two units, a 6 GiB gzip bomb of text (about 6 MB compressed) and a small
/// object; prints when each was done. `ratio_off` lifts the compression-ratio bound, so the
/// bomb is inflated and scanned up to the 5 GiB size limit.
async fn batch(endpoint: &str, ratio_off: bool) -> Result<(), BoxError> {
    let mut scanner = scanner(endpoint).await?;
    scanner.config.object_scan.max_object_bytes = ObjectScanSettings::default().max_object_bytes;
    if ratio_off {
        scanner.config.object_scan.max_compression_ratio = u64::MAX;
    }
    let timings = std::sync::Arc::new(Timings {
        started: std::sync::Mutex::new(None),
        done: std::sync::Mutex::new(Vec::new()),
    });
    scanner.probe = timings.clone();
    let s3 = qrie::aws::s3_client(&scanner.sdk, &scanner.config.aws);
    let bucket = format!("qrie-bench-bomb-{}", std::process::id());
    s3.create_bucket().bucket(&bucket).send().await?;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(&vec![b' '; 8 * 1024 * 1024])?;
    let bomb = enc.finish()?.repeat(768);
    let compressed = bomb.len();
    let objects = [
        ("bomb.txt.gz", bomb),
        ("small.txt", b"ssn 536-22-1987\n".to_vec()),
    ];
    let job = ScanJob {
        job_id: format!("bench-bomb-{}", std::process::id()),
        bucket: bucket.clone(),
        region: "us-east-1".into(),
        kind: Some(JobKind::OneOff),
        ..ScanJob::default()
    };
    scanner.jobs.create(&job).await?;
    let mut records = Vec::new();
    for (key, body) in objects {
        let size = body.len();
        let out = s3
            .put_object()
            .bucket(&bucket)
            .key(key)
            .body(ByteStream::from(body))
            .send()
            .await?;
        let unit = json!({
            "job_id": job.job_id, "bucket": bucket, "key": key,
            "etag": out.e_tag().unwrap_or_default().trim_matches('"'), "size": size,
        });
        records.push(
            json!({"messageId": key, "receiptHandle": key, "body": unit.to_string(),
            "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {},
            "eventSource": "aws:sqs", "awsRegion": "us-east-1"}),
        );
    }
    let started = Instant::now();
    if let Ok(mut s) = timings.started.lock() {
        *s = Some(started);
    }
    let response = scanner.handle(json!({"Records": records}), None).await?;
    let total = started.elapsed().as_secs_f64();
    println!(
        "batch: bomb of {compressed} compressed bytes (6 GiB of text), ratio bound {}: batch done in {total:.2}s, failures {}",
        if ratio_off { "off" } else { "1,000" },
        response["batchItemFailures"]
    );
    for (key, what, at) in timings.done.lock().map(|d| d.clone()).unwrap_or_default() {
        println!("  {key}: {what} at {at:.3}s");
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| args.get(i).map(String::as_str).unwrap_or_default();
    let gzip = args.iter().any(|a| a == "gzip");
    match arg(0) {
        "pipeline" => pipeline(arg(1).parse()?, gzip),
        "upload" => upload(arg(1), arg(2).parse()?, gzip).await?,
        "scan" => scan(arg(1), gzip).await?,
        "throughput" => throughput(arg(1), arg(2).parse()?).await?,
        "batch" => batch(arg(1), args.iter().any(|a| a == "ratio-off")).await?,
        _ => {
            return Err(
                "usage: object_scan_bench pipeline <MiB> [gzip] | upload <endpoint> <MiB> [gzip] | scan <endpoint> [gzip] | throughput <endpoint> <objects> | batch <endpoint> [ratio-off]"
                    .into(),
            )
        }
    }
    Ok(())
}
