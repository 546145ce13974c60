//! The object scanner end to end on the local AWS: jobs over real buckets (in an onboarded
//! customer account, read through its role), unit messages through a real SQS queue with a
//! dead-letter queue after 3 receives, the handler run on what the queue delivered and the
//! successful messages deleted as Lambda's SQS integration does.
//!
//! Expected offsets come from planting values at known places and are cross-checked with a
//! whole-object scan of the same (decompressed) bytes: the job must find exactly those.

use std::collections::BTreeSet;
use std::io::Write;

use aws_lambda_events::event::sqs::SqsEvent;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use aws_sdk_sqs::types::MessageSystemAttributeName;
use qrie::config::ObjectScanSettings;
use qrie::object_scan::worker::message_kind;
use qrie::object_scan::ObjectScanner;
use qrie_detectors::Detectors;
use qrie_tests::{inject_fault, repo_root, sample_event, World};
use serde_json::{json, Value};

/// Receive calls (each waiting up to 1 s) a drain makes before giving up.
const MAX_RECEIVES: usize = 120;
/// Empty receives in a row after which a drain stops.
const QUIET_RECEIVES: usize = 3;

/// (key, detector, byte offset): one expected or found finding.
type Hit = (String, String, u64);

/// One test's scanner, queue and DLQ.
pub(crate) struct Rig {
    pub(crate) world: World,
    pub(crate) scanner: ObjectScanner,
    sqs: aws_sdk_sqs::Client,
    url: String,
    dlq_url: String,
}

impl Rig {
    pub(crate) async fn new(
        visibility_timeout_secs: u32,
        tweak: impl FnOnce(&mut ObjectScanSettings),
    ) -> Self {
        let world = World::new().await;
        let sqs = aws_sdk_sqs::Client::new(&world.deps.sdk);
        let qrie_tests::QueueWithDlq { url, dlq_url } = qrie_tests::queue_with_dlq(
            &sqs,
            &format!("{}-objects", world.id),
            visibility_timeout_secs,
        )
        .await;
        let mut config = world.deps.config.clone();
        config.object_scan.queue_url = Some(url.clone());
        tweak(&mut config.object_scan);
        let scanner = ObjectScanner::new(config, world.deps.sdk.clone());
        Self {
            world,
            scanner,
            sqs,
            url,
            dlq_url,
        }
    }

    pub(crate) async fn invoke(&self, payload: Value) -> Value {
        self.scanner
            .handle(payload, None)
            .await
            .expect("the invocation succeeds")
    }

    pub(crate) async fn status(&self, job_id: &str) -> Value {
        self.invoke(json!({"action": "status", "job_id": job_id}))
            .await
    }

    async fn receive(&self, url: &str) -> Vec<aws_sdk_sqs::types::Message> {
        self.sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .expect("receive")
            .messages
            .unwrap_or_default()
    }

    async fn send(&self, body: &str) {
        self.sqs
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .send()
            .await
            .expect("message sent");
    }

    /// Delivers the queue's messages to the handler batch by batch, as Lambda's poller does,
    /// until the queue stays empty. Returns every body handled.
    pub(crate) async fn drain(&self) -> Vec<String> {
        let mut bodies = Vec::new();
        let mut quiet = 0;
        for _ in 0..MAX_RECEIVES {
            let messages = self.receive(&self.url).await;
            if messages.is_empty() {
                quiet += 1;
                if quiet >= QUIET_RECEIVES {
                    return bodies;
                }
                continue;
            }
            quiet = 0;
            let response = self
                .invoke(serde_json::to_value(qrie_tests::sqs_event(&messages)).expect("event json"))
                .await;
            let failed: BTreeSet<String> = response["batchItemFailures"]
                .as_array()
                .expect("a batch response")
                .iter()
                .filter_map(|f| f["itemIdentifier"].as_str().map(str::to_owned))
                .collect();
            for m in &messages {
                bodies.push(m.body.clone().unwrap_or_default());
                if failed.contains(m.message_id.as_deref().unwrap_or_default()) {
                    continue;
                }
                self.sqs
                    .delete_message()
                    .queue_url(&self.url)
                    .receipt_handle(m.receipt_handle.as_deref().unwrap_or_default())
                    .send()
                    .await
                    .expect("message deleted");
            }
        }
        panic!("the queue did not drain in {MAX_RECEIVES} receives");
    }

    /// A new bucket of qrie's own account, and an S3 client for it.
    async fn own_bucket(&self, name: &str) -> (aws_sdk_s3::Client, String) {
        let s3 = qrie::aws::s3_client(&self.world.deps.sdk, &self.world.deps.config.aws);
        let bucket = self.world.bucket(name);
        s3.create_bucket()
            .bucket(&bucket)
            .send()
            .await
            .expect("bucket");
        (s3, bucket)
    }

    /// Starts a job over `bucket` and delivers its messages until the queue is empty; returns
    /// the job id and every body handled.
    async fn run_job(&self, bucket: &str) -> (String, Vec<String>) {
        let started = self
            .invoke(json!({"bucket": bucket, "region": "us-east-1"}))
            .await;
        let job_id = started["job_id"].as_str().expect("a job id").to_owned();
        let bodies = self.drain().await;
        (job_id, bodies)
    }

    /// Every finding of a job, read page by page with `limit`, with optional filters.
    async fn results(&self, job_id: &str, limit: usize, filters: Value) -> (Vec<Value>, usize) {
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let mut request = json!({"action": "results", "job_id": job_id, "limit": limit});
            if let Some(c) = &cursor {
                request["cursor"] = json!(c);
            }
            for (k, v) in filters.as_object().into_iter().flatten() {
                request[k] = v.clone();
            }
            let page = self.invoke(request).await;
            pages += 1;
            let items = page["findings"].as_array().expect("findings").clone();
            assert!(items.len() <= limit, "a page holds at most its limit");
            all.extend(items);
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => return (all, pages),
            }
            assert!(pages < 1_000, "paging ends");
        }
    }
}

fn hits(findings: &[Value]) -> BTreeSet<Hit> {
    findings
        .iter()
        .map(|f| {
            (
                f["key"].as_str().unwrap_or_default().to_owned(),
                f["detector"].as_str().unwrap_or_default().to_owned(),
                f["byte_offset"].as_u64().unwrap_or(u64::MAX),
            )
        })
        .collect()
}

/// Text of `len` bytes with no sensitive value in it.
fn filler(len: usize) -> Vec<u8> {
    let mut text = b"lorem ipsum dolor sit amet consectetur adipiscing elit\n".repeat(len / 55 + 1);
    text.truncate(len);
    text
}

/// Writes `values` into `text` at the given offsets (each padded with spaces) and returns
/// the planted offsets.
fn plant(text: &mut [u8], values: &[(usize, &str)]) -> Vec<u64> {
    values
        .iter()
        .map(|&(at, value)| {
            let padded = format!(" {value} ");
            text[at - 1..at - 1 + padded.len()].copy_from_slice(padded.as_bytes());
            at as u64
        })
        .collect()
}

/// The whole-object scan of `bytes`, as hits on `key`; asserts it finds the planted offsets.
fn expect(key: &str, bytes: &[u8], planted: &[u64]) -> BTreeSet<Hit> {
    let found = Detectors::new().scan(bytes);
    let offsets: Vec<u64> = found.iter().map(|d| d.start).collect();
    assert_eq!(
        offsets, planted,
        "{key}: the planted values are what a whole scan finds"
    );
    found
        .into_iter()
        .map(|d| (key.to_owned(), d.kind.as_str().to_owned(), d.start))
        .collect()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).expect("gzip in memory");
    enc.finish().expect("gzip in memory")
}

pub(crate) async fn put(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, bytes: Vec<u8>) {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(bytes))
        .send()
        .await
        .unwrap_or_else(|e| panic!("put {key}: {e:?}"));
}

async fn put_multipart(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, bytes: &[u8]) {
    const PART: usize = 5 * 1024 * 1024;
    let upload = s3
        .create_multipart_upload()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .expect("multipart upload created");
    let upload_id = upload.upload_id().expect("upload id");
    let mut parts = Vec::new();
    for (i, chunk) in bytes.chunks(PART).enumerate() {
        let number = i32::try_from(i + 1).expect("few parts");
        let out = s3
            .upload_part()
            .bucket(bucket)
            .key(key)
            .upload_id(upload_id)
            .part_number(number)
            .body(ByteStream::from(chunk.to_vec()))
            .send()
            .await
            .expect("part uploaded");
        parts.push(
            CompletedPart::builder()
                .part_number(number)
                .e_tag(out.e_tag().unwrap_or_default())
                .build(),
        );
    }
    s3.complete_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(upload_id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await
        .expect("multipart upload completed");
}

const SSN: &str = "536-22-1987";
const CARD: &str = "4539 1488 0343 6467";
pub(crate) const EMAIL: &str = "jane.doe@example.com";
const KEY_ID: &str = "AKIAZ7VRSQ5TJN2K4LMB";
const MIB: usize = 1024 * 1024;

/// Builds the prefix's objects; returns what a job over it must find.
async fn seed_prefix(s3: &aws_sdk_s3::Client, bucket: &str) -> BTreeSet<Hit> {
    let mut expected = BTreeSet::new();

    let mut text = filler(20_000);
    let planted = plant(&mut text, &[(100, SSN), (8_190, EMAIL), (16_383, CARD)]);
    expected.extend(expect("data/notes.txt", &text, &planted));
    put(s3, bucket, "data/notes.txt", text).await;

    let mut csv = b"name,email,card\n".to_vec();
    let email_at = csv.len() as u64 + 4;
    csv.extend_from_slice(format!("ann,{EMAIL},{CARD}\n").as_bytes());
    let card_at = email_at + EMAIL.len() as u64 + 1;
    expected.extend(expect("data/people.csv", &csv, &[email_at, card_at]));
    put(s3, bucket, "data/people.csv", csv).await;

    let json_text = format!("{{\"user\": \"{EMAIL}\", \"aws_access_key_id\": \"{KEY_ID}\"}}\n");
    let email_at = json_text.find(EMAIL).expect("planted") as u64;
    let key_at = json_text.find(KEY_ID).expect("planted") as u64;
    expected.extend(expect(
        "data/config.json",
        json_text.as_bytes(),
        &[email_at, key_at],
    ));
    put(s3, bucket, "data/config.json", json_text.into_bytes()).await;

    let mut logs = filler(300_000);
    let planted = plant(
        &mut logs,
        &[(65_531, SSN), (131_070, EMAIL), (299_000, SSN)],
    );
    expected.extend(expect("data/logs.txt.gz", &logs, &planted));
    put(s3, bucket, "data/logs.txt.gz", gzip(&logs)).await;

    let binary: Vec<u8> = (0..50_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    put(s3, bucket, "data/image.bin", binary).await;

    // 12 MiB in three parts; ranges of 4 MiB: matches across both range boundaries, the
    // part boundary at 5 MiB and a few 64 KiB chunk boundaries.
    let mut big = filler(12 * MIB);
    let planted = plant(
        &mut big,
        &[
            (64 * 1024 - 3, SSN),
            (4 * MIB - 5, SSN),
            (4 * MIB + 500, EMAIL),
            (5 * MIB - 8, CARD),
            (8 * MIB - 2, EMAIL),
            (12 * MIB - 100, SSN),
        ],
    );
    expected.extend(expect("data/big.log", &big, &planted));
    put_multipart(s3, bucket, "data/big.log", &big).await;

    let mut outside = filler(1_000);
    plant(&mut outside, &[(10, SSN)]);
    put(s3, bucket, "other/outside.txt", outside).await;
    expected
}

#[tokio::test]
async fn a_job_over_a_prefix_finds_exactly_the_planted_matches_once_whatever_the_redelivery() {
    // given: a customer bucket with text, CSV, JSON, gzip, binary and a 12 MiB multipart object
    let rig = Rig::new(30, |s| s.bytes_per_message = 4 * MIB as u64).await;
    let account = rig.world.onboard().await;
    let s3 = rig.world.customer_s3(&account, "us-east-1").await;
    let bucket = rig.world.bucket("pii");
    s3.create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("bucket");
    let expected = seed_prefix(&s3, &bucket).await;

    // when: a job over data/ runs to the end
    let started = rig
        .invoke(json!({"bucket": bucket, "prefix": "data/", "account_id": account.account_id}))
        .await;
    let job_id = started["job_id"].as_str().expect("a job id").to_owned();
    assert_eq!(started["enumeration"]["done"], json!(true));
    let bodies = rig.drain().await;

    // then: exactly the planted matches, at their offsets
    let (findings, pages) = rig.results(&job_id, 4, json!({})).await;
    assert_eq!(hits(&findings), expected);
    assert_eq!(findings.len(), expected.len(), "each finding stored once");
    assert!(pages > 3, "results come page by page");
    for f in &findings {
        let text = f.to_string();
        for raw in [SSN, CARD, EMAIL, KEY_ID] {
            assert!(!text.contains(raw), "a raw value reached the table: {text}");
        }
        assert!(!f["etag"].as_str().unwrap_or_default().is_empty());
        assert!(!f["context"].as_str().unwrap_or_default().is_empty());
    }
    // and the job counts: 5 whole objects + 3 ranges; the binary one skipped
    let status = rig.status(&job_id).await;
    assert_eq!(status["status"], "completed", "{status}");
    assert_eq!(status["objects"], 6, "{status}");
    assert_eq!(status["total"], 8, "{status}");
    assert_eq!(status["succeeded"], 7, "{status}");
    assert_eq!(status["skipped"], 1, "{status}");
    assert_eq!(status["skipped_by_reason"]["binary"], 1, "{status}");
    assert_eq!(status["failed"], 0, "{status}");
    assert_eq!(status["queued"], 0, "{status}");
    assert_eq!(status["processing"], 0, "{status}");
    assert_eq!(status["findings"], expected.len(), "{status}");
    assert_eq!(status["percent_done"], 100.0, "{status}");

    // and filters narrow the results
    let (emails, _) = rig
        .results(&job_id, 100, json!({"detector": "email"}))
        .await;
    assert!(!emails.is_empty() && emails.iter().all(|f| f["detector"] == "email"));
    assert_eq!(
        emails.len(),
        expected.iter().filter(|h| h.1 == "email").count()
    );
    let (csv, _) = rig
        .results(&job_id, 100, json!({"key_prefix": "data/people"}))
        .await;
    assert_eq!(csv.len(), 2);
    let (none, _) = rig
        .results(&job_id, 100, json!({"bucket": "someone-else"}))
        .await;
    assert!(none.is_empty());
    let (some, _) = rig
        .results(&job_id, 2, json!({"bucket": bucket, "detector": "us_ssn"}))
        .await;
    assert_eq!(
        some.len(),
        expected.iter().filter(|h| h.1 == "us_ssn").count()
    );

    // when: every unit message is delivered again
    for body in bodies
        .iter()
        .filter(|b| message_kind(b).ok() == Some("unit"))
    {
        rig.send(body).await;
    }
    rig.drain().await;

    // then: nothing moved
    assert_eq!(rig.status(&job_id).await, status);
    let (again, _) = rig.results(&job_id, 100, json!({})).await;
    assert_eq!(hits(&again), expected);
    assert_eq!(again.len(), expected.len());
}

#[tokio::test]
async fn a_poison_message_reaches_the_dlq_and_the_job_finishes_with_it_counted_failed() {
    // given: a bucket where one object can never be read
    let rig = Rig::new(1, |_| {}).await;
    let s3 = qrie::aws::s3_client(&rig.world.deps.sdk, &rig.world.deps.config.aws);
    let bucket = rig.world.bucket("poison");
    s3.create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("bucket");
    put(
        &s3,
        &bucket,
        "ok.txt",
        format!("mail {EMAIL} now\n").into_bytes(),
    )
    .await;
    put(&s3, &bucket, "poison.txt", b"unreadable".to_vec()).await;
    inject_fault(json!({
        "method": "GET",
        "path_regex": format!("^/{bucket}/poison\\.txt$"),
        "status": 500, "code": "InternalError", "message": "injected",
    }))
    .await;

    // when
    let started = rig.invoke(json!({"bucket": bucket})).await;
    let job_id = started["job_id"].as_str().expect("job id").to_owned();
    rig.drain().await;

    // then: the job is done, the poison unit counted failed once
    let status = rig.status(&job_id).await;
    assert_eq!(status["status"], "completed", "{status}");
    assert_eq!(status["succeeded"], 1, "{status}");
    assert_eq!(status["failed"], 1, "{status}");
    assert_eq!(status["findings"], 1, "{status}");
    // and the message is in the DLQ
    let mut dead = Vec::new();
    for _ in 0..10 {
        rig.receive(&rig.url).await;
        dead = rig.receive(&rig.dlq_url).await;
        if !dead.is_empty() {
            break;
        }
    }
    assert_eq!(dead.len(), 1, "the poison message is dead-lettered");
    let body: Value = serde_json::from_str(dead[0].body().unwrap_or_default()).expect("json");
    assert_eq!(body["key"], "poison.txt");
    assert_eq!(rig.status(&job_id).await["failed"], 1);
}

#[tokio::test]
async fn enumeration_continues_across_invocations_and_counts_each_page_once() {
    // given: 7 objects, pages of 2 and one page per invocation
    let rig = Rig::new(30, |s| {
        s.list_page_size = 2;
        s.pages_per_invocation = 1;
    })
    .await;
    let s3 = qrie::aws::s3_client(&rig.world.deps.sdk, &rig.world.deps.config.aws);
    let bucket = rig.world.bucket("many");
    s3.create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("bucket");
    for i in 0..7 {
        put(&s3, &bucket, &format!("f{i}.txt"), filler(100)).await;
    }

    // when
    let started = rig
        .invoke(json!({"bucket": bucket, "region": "us-east-1"}))
        .await;
    let job_id = started["job_id"].as_str().expect("job id").to_owned();
    assert_eq!(started["enumeration"]["done"], json!(false), "{started}");
    assert_eq!(started["status"], "enumerating");
    let bodies = rig.drain().await;

    // then
    let status = rig.status(&job_id).await;
    assert_eq!(status["total"], 7, "{status}");
    assert_eq!(status["enumeration_pages"], 4, "{status}");
    assert_eq!(status["succeeded"], 7, "{status}");
    assert_eq!(status["status"], "completed", "{status}");

    // when: a continuation is delivered again
    let continuation = bodies
        .iter()
        .find(|b| message_kind(b).ok() == Some("continuation"))
        .expect("a continuation was sent");
    rig.send(continuation).await;
    rig.drain().await;

    // then: its pages are not counted again
    assert_eq!(rig.status(&job_id).await, status);
}

#[tokio::test]
async fn an_enrolled_bucket_has_its_new_objects_scanned() {
    // given: a bucket of qrie's own account, enrolled
    let rig = Rig::new(30, |_| {}).await;
    let s3 = qrie::aws::s3_client(&rig.world.deps.sdk, &rig.world.deps.config.aws);
    let bucket = rig.world.bucket("uploads");
    s3.create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("bucket");
    let enrolled = rig
        .invoke(json!({"action": "enroll", "bucket": bucket}))
        .await;
    assert_eq!(enrolled["notification_added"], true, "{enrolled}");
    let again = rig
        .invoke(json!({"action": "enroll", "bucket": bucket}))
        .await;
    assert_eq!(
        again["notification_added"], false,
        "enrolling twice adds nothing"
    );
    let job_id = enrolled["job_id"].as_str().expect("job id").to_owned();

    // when: an object is created
    put(
        &s3,
        &bucket,
        "in/new file.txt",
        format!("ssn {SSN}\n").into_bytes(),
    )
    .await;
    rig.drain().await;

    // then
    let status = rig.status(&job_id).await;
    assert_eq!(status["status"], "continuous", "{status}");
    assert_eq!(status["succeeded"], 1, "{status}");
    assert_eq!(status["findings"], 1, "{status}");
    let (findings, _) = rig.results(&job_id, 10, json!({})).await;
    assert_eq!(
        hits(&findings),
        BTreeSet::from([("in/new file.txt".to_owned(), "us_ssn".to_owned(), 4)])
    );
}

#[tokio::test]
async fn requests_of_unknown_shape_are_refused_with_a_clear_error() {
    let rig = Rig::new(30, |_| {}).await;
    let err = rig
        .scanner
        .handle(json!({"hello": "world"}), None)
        .await
        .expect_err("refused");
    assert!(err.to_string().contains("unrecognised payload"), "{err}");
    let err = rig
        .scanner
        .handle(json!({"action": "status", "job_id": "missing"}), None)
        .await
        .expect_err("refused");
    assert!(err.to_string().contains("does not exist"), "{err}");
}

#[test]
fn sample_events_parse() {
    let dir = repo_root().join("events/object-scanner");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("events/object-scanner") {
        let path = entry.expect("entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .expect("name")
            .to_owned();
        let value = sample_event(&format!("object-scanner/{name}"));
        if name.starts_with("sqs-") {
            let event: SqsEvent = serde_json::from_value(value).expect("an SQS event");
            for record in &event.records {
                let kind = message_kind(record.body.as_deref().unwrap_or_default())
                    .unwrap_or_else(|e| panic!("{name}: {e}"));
                assert!(!kind.is_empty());
            }
        } else if value.get("action").is_some() {
            serde_json::from_value::<qrie::object_scan::model::ActionRequest>(value)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        } else {
            serde_json::from_value::<qrie::object_scan::model::JobRequest>(value)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        seen += 1;
    }
    assert!(seen >= 10, "{seen} sample events");
}

#[tokio::test]
async fn objects_with_keys_of_up_to_1024_bytes_keep_their_findings_once() {
    // given: S3's longest keys (1,024 bytes of ASCII, and of 3- and 4-byte characters) and a
    // short one, each with an SSN
    let rig = Rig::new(30, |_| {}).await;
    let (s3, bucket) = rig.own_bucket("longkeys").await;
    let keys = [
        format!("long/{}", "k".repeat(1_019)),
        format!("long/{}", "日".repeat(339) + "ab"),
        format!("long/{}🔑", "x".repeat(1_015)),
        "short.txt".to_owned(),
    ];
    let mut expected = BTreeSet::new();
    for key in &keys {
        assert!(key.len() <= 1_024, "{} bytes", key.len());
        let body = format!("id {SSN} end\n");
        expected.insert((key.clone(), "us_ssn".to_owned(), 3));
        put(&s3, &bucket, key, body.into_bytes()).await;
    }
    assert_eq!(keys[1].len(), 1_024);

    // when: a job runs, then every unit message is delivered again
    let (job_id, bodies) = rig.run_job(&bucket).await;
    for body in bodies
        .iter()
        .filter(|b| message_kind(b).ok() == Some("unit"))
    {
        rig.send(body).await;
    }
    rig.drain().await;

    // then: every unit succeeded, nothing was dead-lettered, each finding is stored once with
    // its whole key
    let status = rig.status(&job_id).await;
    assert_eq!(status["status"], "completed", "{status}");
    assert_eq!(status["succeeded"], 4, "{status}");
    assert_eq!(status["failed"], 0, "{status}");
    assert_eq!(status["findings"], 4, "{status}");
    assert!(
        rig.receive(&rig.dlq_url).await.is_empty(),
        "nothing dead-lettered"
    );
    let (findings, _) = rig.results(&job_id, 100, json!({})).await;
    assert_eq!(hits(&findings), expected);
    assert_eq!(findings.len(), 4, "stored once whatever the redelivery");
    // and a key prefix longer than what the finding id holds still selects exactly its key
    for key in &keys[..3] {
        let (one, _) = rig.results(&job_id, 100, json!({"key_prefix": key})).await;
        assert_eq!(
            hits(&one),
            BTreeSet::from([(key.clone(), "us_ssn".to_owned(), 3)])
        );
    }
    let (long, _) = rig
        .results(&job_id, 1, json!({"key_prefix": "long/"}))
        .await;
    assert_eq!(long.len(), 3);
}

#[tokio::test]
async fn a_results_cursor_that_does_not_parse_or_names_another_job_is_refused() {
    // given: two finished jobs with three findings each
    let rig = Rig::new(30, |_| {}).await;
    let (s3, bucket) = rig.own_bucket("cursors").await;
    put(
        &s3,
        &bucket,
        "three.txt",
        format!("a {SSN} b {EMAIL} c {CARD} d\n").into_bytes(),
    )
    .await;
    let (first, _) = rig.run_job(&bucket).await;
    let (second, _) = rig.run_job(&bucket).await;
    let page = rig
        .invoke(json!({"action": "results", "job_id": first, "limit": 1}))
        .await;
    let cursor = page["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_owned();
    // the cursor works for its own job
    let next = rig
        .invoke(json!({"action": "results", "job_id": first, "limit": 1, "cursor": cursor}))
        .await;
    assert_ne!(
        next["findings"], page["findings"],
        "the next page, not the first again"
    );

    // when: cursors that are garbage, empty, or another job's
    for (cursor, job, expected) in [
        ("garbage".to_owned(), &first, "does not parse"),
        (String::new(), &first, "empty"),
        ("{\"JobId\": 1}".to_owned(), &first, "does not parse"),
        (cursor.clone(), &second, "another job"),
    ] {
        let err = rig
            .scanner
            .handle(
                json!({"action": "results", "job_id": job, "limit": 1, "cursor": cursor}),
                None,
            )
            .await
            .expect_err("the cursor is refused");
        // then: a clear error that retrying cannot fix
        assert!(err.to_string().contains(expected), "{err}");
        assert!(err.to_string().contains("invalid cursor"), "{err}");
        assert!(!err.is_retryable(), "{err}");
        assert_eq!(
            lambda_runtime::Diagnostic::from(err).error_type,
            "NonRetryable"
        );
    }
}

/// The job id a refused job start names in its error (`job <id> failed: ...`).
fn failed_job_id(err: &qrie::object_scan::ObjectScanError) -> String {
    match err {
        qrie::object_scan::ObjectScanError::JobFailed { job_id, .. } => job_id.clone(),
        other => panic!("expected a failed job, got {other}"),
    }
}

#[tokio::test]
async fn a_job_on_a_missing_or_denied_bucket_fails_with_its_reason_and_is_not_retried() {
    let rig = Rig::new(30, |_| {}).await;
    let missing = rig.world.bucket("missing");

    // when: a job on a bucket that does not exist, with its region given
    let err = rig
        .scanner
        .handle(json!({"bucket": missing, "region": "us-east-1"}), None)
        .await
        .expect_err("the job cannot run");
    // then: refused for good, naming the job, which is failed with the reason
    assert!(!err.is_retryable(), "{err}");
    assert!(err.to_string().contains("NoSuchBucket"), "{err}");
    let status = rig.status(&failed_job_id(&err)).await;
    assert_eq!(status["status"], "failed", "{status}");
    assert!(
        status["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("NoSuchBucket"),
        "{status}"
    );
    assert_eq!(status["percent_done"], 0.0, "{status}");
    assert_eq!(status["findings"], 0, "{status}");

    // when: the same without a region (GetBucketLocation refuses it before any job exists)
    let err = rig
        .scanner
        .handle(json!({"bucket": missing}), None)
        .await
        .expect_err("refused");
    assert!(!err.is_retryable(), "{err}");
    assert!(err.to_string().contains("NoSuchBucket"), "{err}");

    // when: the bucket exists, holds sensitive data, but listing it is denied
    let (s3, denied) = rig.own_bucket("denied").await;
    put(&s3, &denied, "a.txt", format!("ssn {SSN}\n").into_bytes()).await;
    inject_fault(json!({
        "method": "GET",
        "path_regex": format!("^/{denied}/?$"),
        "query_key": "list-type",
        "status": 403, "code": "AccessDenied", "message": "injected denial",
    }))
    .await;
    let err = rig
        .scanner
        .handle(json!({"bucket": denied, "region": "us-east-1"}), None)
        .await
        .expect_err("the job cannot run");
    // then: failed with the reason, never "completed with 0 findings"
    assert!(!err.is_retryable(), "{err}");
    let status = rig.status(&failed_job_id(&err)).await;
    assert_eq!(status["status"], "failed", "{status}");
    assert!(
        status["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("AccessDenied"),
        "{status}"
    );
    assert_eq!(
        lambda_runtime::Diagnostic::from(err).error_type,
        "NonRetryable"
    );

    // when: a missing bucket is enrolled for continuous scanning, with its region given
    let err = rig
        .scanner
        .handle(
            json!({"action": "enroll", "bucket": missing, "region": "us-east-1"}),
            None,
        )
        .await
        .expect_err("a missing bucket cannot be enrolled");
    // then: refused for good, and no continuous job is left behind
    assert!(!err.is_retryable(), "{err}");
    assert!(err.to_string().contains("NoSuchBucket"), "{err}");
    let job = rig
        .scanner
        .handle(
            json!({"action": "status", "job_id": qrie::object_scan::model::continuous_job_id(&missing)}),
            None,
        )
        .await;
    assert!(job.is_err(), "no job for a refused enrollment: {job:?}");
}

#[tokio::test]
async fn an_object_with_more_matches_than_the_cap_says_its_findings_are_a_lower_bound() {
    // given: one object with 1,500 SSNs, one with a single SSN
    let rig = Rig::new(30, |_| {}).await;
    let (s3, bucket) = rig.own_bucket("capped").await;
    let mut many = Vec::new();
    for i in 0..1_500 {
        many.extend_from_slice(format!("row {i} ssn {SSN}\n").as_bytes());
    }
    put(&s3, &bucket, "many.txt", many).await;
    put(&s3, &bucket, "one.txt", format!("ssn {SSN}\n").into_bytes()).await;

    // when: the job runs, and its unit messages are delivered again
    let (job_id, bodies) = rig.run_job(&bucket).await;
    for body in bodies
        .iter()
        .filter(|b| message_kind(b).ok() == Some("unit"))
    {
        rig.send(body).await;
    }
    rig.drain().await;

    // then: the status names the capped kind, once, and says the count is a lower bound
    let status = rig.status(&job_id).await;
    assert_eq!(status["status"], "completed", "{status}");
    assert_eq!(status["succeeded"], 2, "{status}");
    assert_eq!(status["findings"], 1_001, "{status}");
    assert_eq!(status["capped_by_kind"], json!({"us_ssn": 1}), "{status}");
    assert_eq!(status["findings_lower_bound"], true, "{status}");
    // and so does every results page
    let page = rig
        .invoke(json!({"action": "results", "job_id": job_id, "limit": 5}))
        .await;
    assert_eq!(page["findings_lower_bound"], true, "{page}");
    assert_eq!(page["capped_by_kind"], json!({"us_ssn": 1}), "{page}");
    assert_eq!(page["max_findings_per_kind_per_unit"], 1_000, "{page}");
    assert_eq!(
        page["capped_units"],
        json!([{"key": "many.txt", "etag": page["capped_units"][0]["etag"], "range_start": 0, "kinds": ["us_ssn"]}]),
        "{page}"
    );
    assert_eq!(page["capped_units_truncated"], false, "{page}");
    // and the unit's own record names the kind
    let etag = s3
        .head_object()
        .bucket(&bucket)
        .key("many.txt")
        .send()
        .await
        .expect("head")
        .e_tag()
        .unwrap_or_default()
        .trim_matches('"')
        .to_owned();
    assert_eq!(page["capped_units"][0]["etag"], json!(etag), "{page}");
    let ddb = qrie::aws::dynamodb_client(&rig.world.deps.sdk);
    let done = ddb
        .get_item()
        .table_name(&rig.world.deps.config.tables.scan_jobs)
        .key(
            "JobId",
            aws_sdk_dynamodb::types::AttributeValue::S(job_id.clone()),
        )
        .key(
            "Item",
            aws_sdk_dynamodb::types::AttributeValue::S(format!(
                "DONE#{}",
                qrie::object_scan::model::unit_id("many.txt", &etag, 0)
            )),
        )
        .send()
        .await
        .expect("get")
        .item
        .expect("the unit's DONE marker");
    assert_eq!(
        done.get("Capped"),
        Some(&aws_sdk_dynamodb::types::AttributeValue::Ss(vec![
            "us_ssn".into()
        ]))
    );
}

/// A probe that records how much of `watched` was read, and optionally holds its scan, on
/// its first chunk, until `waited_for` has been recorded done.
struct Probe {
    watched: String,
    waited_for: Option<String>,
    max_raw: std::sync::atomic::AtomicU64,
    held: std::sync::atomic::AtomicBool,
    other_done_meanwhile: std::sync::atomic::AtomicBool,
    done_tx: std::sync::Mutex<std::sync::mpsc::Sender<()>>,
    done_rx: std::sync::Mutex<std::sync::mpsc::Receiver<()>>,
}

/// Guard against a deadlock only (the scan it holds would otherwise hang the test): the
/// signal comes as soon as the other unit is done.
const DEADLOCK_GUARD: std::time::Duration = std::time::Duration::from_secs(120);

impl Probe {
    fn new(watched: &str, waited_for: Option<&str>) -> std::sync::Arc<Self> {
        let (tx, rx) = std::sync::mpsc::channel();
        std::sync::Arc::new(Self {
            watched: watched.to_owned(),
            waited_for: waited_for.map(str::to_owned),
            max_raw: 0.into(),
            held: false.into(),
            other_done_meanwhile: false.into(),
            done_tx: std::sync::Mutex::new(tx),
            done_rx: std::sync::Mutex::new(rx),
        })
    }
}

impl qrie::object_scan::worker::ScanProbe for Probe {
    fn scanned(&self, _job_id: &str, key: &str, raw_bytes: u64) {
        use std::sync::atomic::Ordering::SeqCst;
        if key != self.watched {
            return;
        }
        self.max_raw.fetch_max(raw_bytes, SeqCst);
        if self.waited_for.is_some() && !self.held.swap(true, SeqCst) {
            let rx = self.done_rx.lock().expect("probe lock");
            let done = rx.recv_timeout(DEADLOCK_GUARD).is_ok();
            self.other_done_meanwhile.store(done, SeqCst);
        }
    }

    fn unit_done(
        &self,
        _job_id: &str,
        key: &str,
        _outcome: &qrie::object_scan::model::UnitOutcome,
    ) {
        if self.waited_for.as_deref() == Some(key) {
            let _ = self.done_tx.lock().expect("probe lock").send(());
        }
    }
}

/// A gzip of `members` members of 8 MiB of spaces each (text that inflates about 1,030
/// times), compressed once and repeated.
fn space_bomb(members: usize) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(&vec![b' '; 8 * MIB]).expect("gzip in memory");
    enc.finish().expect("gzip in memory").repeat(members)
}

impl Rig {
    /// Receives the `n` messages on the queue and hands them to the handler as one batch;
    /// deletes the ones that succeeded and returns the batch's response.
    async fn one_batch(&self, n: usize) -> Value {
        let mut messages = Vec::new();
        for _ in 0..MAX_RECEIVES {
            messages.extend(self.receive(&self.url).await);
            if messages.len() >= n {
                break;
            }
        }
        assert_eq!(messages.len(), n, "the messages of one batch");
        let response = self
            .invoke(serde_json::to_value(qrie_tests::sqs_event(&messages)).expect("event json"))
            .await;
        for m in &messages {
            self.sqs
                .delete_message()
                .queue_url(&self.url)
                .receipt_handle(m.receipt_handle.as_deref().unwrap_or_default())
                .send()
                .await
                .expect("message deleted");
        }
        response
    }
}

#[tokio::test]
async fn a_gzip_bomb_is_skipped_at_the_ratio_bound_after_a_bounded_read() {
    // given: a 6 GiB bomb (about 6 MB of gzip) and a small object, in one bucket
    let mut rig = Rig::new(60, |s| s.max_object_bytes = 256 * MIB as u64).await;
    let (s3, bucket) = rig.own_bucket("bomb").await;
    let bomb = space_bomb(768);
    let compressed = bomb.len() as u64;
    put(&s3, &bucket, "bomb.txt.gz", bomb).await;
    put(
        &s3,
        &bucket,
        "small.txt",
        format!("ssn {SSN}\n").into_bytes(),
    )
    .await;
    let probe = Probe::new("bomb.txt.gz", None);
    rig.scanner.probe = probe.clone();

    // when: both units arrive in one batch
    let started = rig
        .invoke(json!({"bucket": bucket, "region": "us-east-1"}))
        .await;
    let job_id = started["job_id"].as_str().expect("job id").to_owned();
    let response = rig.one_batch(2).await;

    // then: both units are done in that batch; the bomb skipped for its ratio, not scanned
    // up to the size limit
    assert_eq!(response["batchItemFailures"], json!([]), "{response}");
    let status = rig.status(&job_id).await;
    assert_eq!(status["status"], "completed", "{status}");
    assert_eq!(status["succeeded"], 1, "{status}");
    assert_eq!(status["findings"], 1, "{status}");
    assert_eq!(
        status["skipped_by_reason"],
        json!({"compression_ratio": 1}),
        "{status}"
    );
    // and only a small, bounded part of the bomb was read
    let read = probe.max_raw.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        read > 0 && read <= MIB as u64,
        "{read} of {compressed} compressed bytes read"
    );
}

#[tokio::test]
async fn a_long_scan_does_not_hold_up_the_other_units_of_its_batch() {
    // given: a gzip object that takes long to inflate and scan (ratio allowed, scanned up to
    // 64 MiB) and a small object, in one bucket
    let mut rig = Rig::new(60, |s| {
        s.max_object_bytes = 64 * MIB as u64;
        s.max_compression_ratio = u64::MAX;
    })
    .await;
    let (s3, bucket) = rig.own_bucket("slow").await;
    put(&s3, &bucket, "heavy.txt.gz", space_bomb(64)).await;
    put(
        &s3,
        &bucket,
        "small.txt",
        format!("ssn {SSN}\n").into_bytes(),
    )
    .await;
    // the heavy scan is held on its first chunk until the small unit is recorded done
    let probe = Probe::new("heavy.txt.gz", Some("small.txt"));
    rig.scanner.probe = probe.clone();

    // when: both units arrive in one batch
    let started = rig
        .invoke(json!({"bucket": bucket, "region": "us-east-1"}))
        .await;
    let job_id = started["job_id"].as_str().expect("job id").to_owned();
    let response = rig.one_batch(2).await;

    // then: the small unit was done while the heavy one was still being read (had the heavy
    // scan run inside the batch's task, the small unit could not have progressed)
    use std::sync::atomic::Ordering::SeqCst;
    assert!(probe.held.load(SeqCst), "the heavy scan reached the probe");
    assert!(
        probe.other_done_meanwhile.load(SeqCst),
        "the small unit finished while the heavy scan was held"
    );
    assert_eq!(response["batchItemFailures"], json!([]), "{response}");
    let status = rig.status(&job_id).await;
    assert_eq!(status["succeeded"], 1, "{status}");
    assert_eq!(
        status["skipped_by_reason"],
        json!({"too_large": 1}),
        "{status}"
    );
}

/// Values no detector reports, planted next to real findings (issue 8, item 11): a secret
/// after the word `token`, a bare nine-digit number, a card written with dots, a key ID broken
/// by a space and a newline, and a secret lying between two findings' context windows.
const UNREPORTED_SECRET: &str = "Zk3xQ9vW2mN7pL4rT8yB1cD6fG0hJ5kM9nP2qR7s";
const BETWEEN_SECRET: &str = "qR7sM9nP2kJ5hG0fD6cB1yT8rL4pN7mW2vQ9xZk3";
const BARE_SSN: &str = "472839105";
const DOTTED_CARD: &str = "4111.1111.1111.1111";
const SPLIT_KEY_ID: &str = "AKIAZ7VR SQ5TJN2K\n4LMB";

#[tokio::test]
async fn stored_contexts_hide_the_values_next_to_a_finding_that_no_detector_reports() {
    // given: an object whose findings sit next to values the detectors do not report
    let rig = Rig::new(30, |_| {}).await;
    let s3 = qrie::aws::s3_client(&rig.world.deps.sdk, &rig.world.deps.config.aws);
    let bucket = rig.world.bucket("contexts");
    s3.create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("bucket");
    let text = format!(
        "customer record\nssn {SSN} token {UNREPORTED_SECRET} end\n\
         mail {EMAIL} id {BARE_SSN} card {DOTTED_CARD} ok\n\
         ssn {SSN} key id {SPLIT_KEY_ID} end\n\
         ssn {SSN} note {BETWEEN_SECRET} ssn {SSN}\n"
    );
    let expected: BTreeSet<Hit> = Detectors::new()
        .scan(text.as_bytes())
        .iter()
        .map(|d| ("notes.txt".to_owned(), d.kind.as_str().to_owned(), d.start))
        .collect();
    assert_eq!(
        expected.len(),
        5,
        "the SSNs and the email only: {expected:?}"
    );
    put(&s3, &bucket, "notes.txt", text.into_bytes()).await;

    // when
    let started = rig.invoke(json!({"bucket": bucket})).await;
    let job_id = started["job_id"].as_str().expect("job id").to_owned();
    rig.drain().await;

    // then: the findings are stored, read back through the results action
    let (findings, _) = rig.results(&job_id, 100, json!({})).await;
    assert_eq!(hits(&findings), expected);
    // and each carries its risk score: medium, raised for the sensitive SSNs, not the email
    for f in &findings {
        let expected_score = if f["detector"] == "us_ssn" { 5.0 } else { 4.0 };
        assert_eq!(f["risk_score"].as_f64(), Some(expected_score), "{f}");
    }
    // and, read straight from the object_findings table, no masked match or context holds
    // any digit beyond the masks' own or any 4-byte piece of the unreported values
    let items = qrie::aws::dynamodb_client(&rig.world.deps.sdk)
        .query()
        .table_name(&rig.world.deps.config.tables.object_findings)
        .key_condition_expression("#job = :job")
        .expression_attribute_names("#job", qrie::store::schema::object_findings::PK)
        .expression_attribute_values(
            ":job",
            aws_sdk_dynamodb::types::AttributeValue::S(job_id.clone()),
        )
        .send()
        .await
        .expect("object findings query")
        .items
        .unwrap_or_default();
    assert_eq!(items.len(), expected.len(), "every finding is in the table");
    let attribute = |item: &std::collections::HashMap<String, _>, name: &str| -> String {
        match item.get(name) {
            Some(aws_sdk_dynamodb::types::AttributeValue::S(s)) => s.clone(),
            other => panic!("{name} is not a string: {other:?}"),
        }
    };
    let mut pieces: Vec<String> = [UNREPORTED_SECRET, BETWEEN_SECRET, BARE_SSN, DOTTED_CARD]
        .iter()
        .flat_map(|v| v.as_bytes().windows(4))
        .map(|w| String::from_utf8_lossy(w).into_owned())
        .collect();
    pieces.extend(["Z7VR", "SQ5T", "JN2K", "4LMB", "jane.doe", "536-22"].map(str::to_owned));
    let mut stored_contexts = Vec::new();
    for item in &items {
        assert!(
            matches!(
                item.get(qrie::store::schema::object_findings::RISK_SCORE),
                Some(aws_sdk_dynamodb::types::AttributeValue::N(n)) if n == "5.0" || n == "4.0"
            ),
            "{item:?}"
        );
        let masked = attribute(item, qrie::store::schema::object_findings::MASKED);
        let context = attribute(item, qrie::store::schema::object_findings::CONTEXT);
        assert!(context.contains(&masked), "{context:?} shows its own mask");
        for field in [&masked, &context] {
            for piece in &pieces {
                assert!(
                    !field.contains(piece.as_str()),
                    "{piece:?} stored in {field:?}"
                );
            }
        }
        let other_digits = context
            .replace("***-**-1987", "")
            .chars()
            .filter(char::is_ascii_digit)
            .count();
        assert_eq!(other_digits, 0, "a raw digit is stored in {context:?}");
        stored_contexts.push(context);
    }
    // and the stored contexts still read as text around the finding
    stored_contexts.sort();
    assert!(
        stored_contexts
            .iter()
            .any(|c| c.contains("ssn ***-**-1987 token ********")),
        "{stored_contexts:#?}"
    );
    assert!(
        stored_contexts
            .iter()
            .any(|c| c.contains("mail j***@e***.com id ********* card ****.****.****.****")),
        "{stored_contexts:#?}"
    );
    assert!(
        stored_contexts
            .iter()
            .any(|c| c.contains("ssn ***-**-1987 key id AKIA**************** end")),
        "{stored_contexts:#?}"
    );
}

#[tokio::test]
async fn concurrent_unit_ends_and_refused_redeliveries_count_each_unit_exactly_once() {
    // given: a job whose 24 units each end twice at the same moment (a unit and its
    // redelivery), so that half of the DONE transactions are refused while others commit
    let rig = Rig::new(30, |_| {}).await;
    let job_id = format!("exact-{}", rig.world.bucket("counts"));
    let jobs = rig.scanner.jobs.clone();
    assert!(jobs
        .create(&qrie::object_scan::model::ScanJob {
            job_id: job_id.clone(),
            bucket: "b".into(),
            region: "us-east-1".into(),
            created_at: qrie::store::timestamp(chrono::Utc::now()),
            ..Default::default()
        })
        .await
        .unwrap());
    let outcome = qrie::object_scan::model::UnitOutcome::Succeeded {
        findings: 3,
        etag_changed: false,
        etag: "e".into(),
        capped: Vec::new(),
    };
    // when: all 48 ends run at once
    let mut tasks = Vec::new();
    for unit in 0..24 {
        for _ in 0..2 {
            let (jobs, job_id, outcome) = (jobs.clone(), job_id.clone(), outcome.clone());
            tasks.push(tokio::spawn(async move {
                jobs.finish(&job_id, &format!("unit-{unit}"), &outcome)
                    .await
                    .expect("finish")
            }));
        }
    }
    let mut won = 0;
    for task in tasks {
        won += usize::from(task.await.expect("task"));
    }
    // then: each unit ended once, and the job's counts say exactly that
    assert_eq!(won, 24);
    let job = jobs.get(&job_id).await.unwrap().expect("job");
    assert_eq!((job.counts.succeeded, job.counts.findings), (24, 72));
}
