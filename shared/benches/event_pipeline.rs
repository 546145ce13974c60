//! Benchmark: the event processor's own time per event, AWS latency excluded.
//!
//! Two measurements over the `s3-put-bucket-acl-public` sample (an EventBridge envelope around a
//! PutBucketAcl record, as the queue delivers it) and a bucket configuration in the collector's
//! shape (public ACL and policy, no encryption, versioning or logging: every S3 policy has
//! something to look at):
//!
//! * `event_pipeline/parse_classify_evaluate`: `parse_message` + `classify` + evaluation of every
//!   active policy that applies to the bucket: the CPU work of one event;
//! * `event_pipeline/process_message_in_memory`: `EventProcessor::process_message` end to end
//!   with in-memory stores and a source that answers the describe at once: adds the account
//!   lookup, the guarded upsert, the findings read and the finding writes.
//!
//! Criterion reports mean and confidence interval; before it runs, each measurement is also timed
//! over `SAMPLES` single iterations and p50/p99/max are printed (the target is p99 < 1 ms).
//! Run with `cargo bench -p qrie --bench event_pipeline`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::Utc;
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use serde_json::{json, Value};

use qrie::model::{Account, Resource, Service};
use qrie::policy::Catalog;
use qrie::process::{EventOutcome, EventProcessor, Lookup, ResourceSource, SourceError};
use qrie::scan::active_policies;
use qrie::store::Stores;
use qrie::trail::{classify, parse_message, Disposition, TouchedResource};

/// Single iterations timed for the percentiles.
const SAMPLES: usize = 20_000;
const SAMPLE_FILE: &str = "s3-put-bucket-acl-public.json";
const ACCOUNT: &str = "111122223333";

fn sample_body() -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../events/event-processor")
        .join(SAMPLE_FILE);
    let event: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("sample file")).expect("JSON");
    event["Records"][0]["body"]
        .as_str()
        .expect("a body")
        .to_owned()
}

/// A public bucket as the S3 collector describes it.
fn bucket_configuration() -> Value {
    let no_block = json!({"BlockPublicAcls": false, "IgnorePublicAcls": false,
                          "BlockPublicPolicy": false, "RestrictPublicBuckets": false});
    json!({
        "Name": "qrie-demo-logs",
        "Region": "us-east-1",
        "CreationDate": "2024-05-01T09:00:00Z",
        "PublicAccessBlock": null,
        "Policy": {"Version": "2012-10-17", "Statement": [
            {"Sid": "Public", "Effect": "Allow", "Principal": "*", "Action": ["s3:GetObject"],
             "Resource": ["arn:aws:s3:::qrie-demo-logs/*"]}
        ]},
        "PolicyStatus": {"IsPublic": true},
        "Acl": {"Owner": {"ID": "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"},
                "Grants": [
                    {"Grantee": {"Type": "CanonicalUser", "ID": "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"}, "Permission": "FULL_CONTROL"},
                    {"Grantee": {"Type": "Group", "URI": "http://acs.amazonaws.com/groups/global/AllUsers"}, "Permission": "READ"}
                ]},
        "OwnershipControls": {"ObjectOwnership": "ObjectWriter"},
        "Encryption": null,
        "Versioning": {"Status": null, "MFADelete": null},
        "Logging": null,
        "EffectivePublicAccessBlock": no_block,
        "AccountPublicAccessBlock": null,
    })
}

fn bucket(configuration: &Value) -> Resource {
    Resource {
        arn: "arn:aws:s3:::qrie-demo-logs".into(),
        account_id: ACCOUNT.into(),
        service: Service::S3,
        resource_type: "AWS::S3::Bucket".into(),
        region: "us-east-1".into(),
        configuration: configuration.clone(),
        last_seen_at: Utc::now(),
    }
}

/// AWS with no latency: every describe returns the bucket, freshly read.
struct InstantSource {
    configuration: Value,
}

#[async_trait]
impl ResourceSource for InstantSource {
    async fn describe(
        &self,
        _account: &Account,
        _touched: &TouchedResource,
    ) -> Result<Lookup, SourceError> {
        Ok(Lookup::Found(Box::new(bucket(&self.configuration))))
    }
}

fn percentiles(name: &str, mut times: Vec<Duration>) {
    times.sort();
    let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    println!(
        "{name}: n={} p50={:.1} µs p99={:.1} µs max={:.1} µs",
        times.len(),
        at(0.50).as_secs_f64() * 1e6,
        at(0.99).as_secs_f64() * 1e6,
        times[times.len() - 1].as_secs_f64() * 1e6,
    );
}

fn bench(c: &mut Criterion) {
    let body = sample_body();
    let configuration = bucket_configuration();
    let catalog = Catalog::embedded();
    let policies = active_policies(&catalog, &HashMap::new());
    let resource = bucket(&configuration);

    // parse + classify + evaluate
    let cpu = || {
        let event = parse_message(black_box(&body)).expect("parses");
        let Ok(Disposition::Relevant(touched)) = classify(&event) else {
            panic!("the sample is relevant")
        };
        let mut failed = 0;
        for _ in &touched {
            for p in policies.iter().filter(|p| p.applies_to(&resource)) {
                if p.policy.fails(black_box(&resource.configuration)) {
                    failed += 1;
                }
            }
        }
        assert!(failed > 0);
        failed
    };
    let times: Vec<Duration> = (0..SAMPLES)
        .map(|_| {
            let start = Instant::now();
            black_box(cpu());
            start.elapsed()
        })
        .collect();
    percentiles("parse_classify_evaluate", times);
    c.bench_function("event_pipeline/parse_classify_evaluate", |b| b.iter(cpu));

    // the whole per-message logic with in-memory stores
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let stores = Stores::in_memory();
    runtime
        .block_on(stores.accounts.put(&Account {
            account_id: ACCOUNT.into(),
            role_arn: String::new(),
            external_id: None,
            regions: vec!["us-east-1".into()],
            enabled: true,
            name: None,
        }))
        .expect("account stored");
    let source = InstantSource { configuration };
    let processor = runtime
        .block_on(EventProcessor::load(&catalog, &stores, &source))
        .expect("settings load");
    let process = || {
        let outcome = runtime
            .block_on(processor.process_message(black_box(&body)))
            .expect("processed");
        assert!(matches!(outcome, EventOutcome::Processed(_)));
        outcome
    };
    let times: Vec<Duration> = (0..SAMPLES)
        .map(|_| {
            let start = Instant::now();
            black_box(process());
            start.elapsed()
        })
        .collect();
    percentiles("process_message_in_memory", times);
    c.bench_function("event_pipeline/process_message_in_memory", |b| {
        b.iter(process)
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
