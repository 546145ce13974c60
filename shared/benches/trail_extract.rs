//! Benchmark: parsing one SQS message body and extracting the resources it touched.
//!
//! Runs `parse_message` + `classify` over the sample SQS events of the event processor and
//! over every record of the CloudTrail dataset wrapped in an EventBridge envelope, the shape the
//! queue delivers. Target: well under 1 ms per event at p99. Run with `cargo bench -p qrie --bench
//! trail_extract`.

use std::fs;
use std::path::{Path, PathBuf};

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use serde_json::{json, Value};

use qrie::trail::{classify, parse_message};

fn json_files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).expect("readable dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(json_files_under(&path));
        } else if path.extension().is_some_and(|ext| ext == "json") {
            files.push(path);
        }
    }
    files
}

/// Every dataset record as an EventBridge body.
fn dataset_bodies() -> Vec<String> {
    let dataset = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/cloudtrail");
    let mut bodies = Vec::new();
    for file in json_files_under(&dataset) {
        let value: Value =
            serde_json::from_str(&fs::read_to_string(&file).expect("file")).expect("JSON");
        let records = match value {
            Value::Array(records) => records,
            Value::Object(mut object) => match object.remove("Records") {
                Some(Value::Array(records)) => records,
                _ => continue,
            },
            _ => continue,
        };
        for record in records {
            let envelope = json!({
                "version": "0",
                "detail-type": "AWS API Call via CloudTrail",
                "source": "aws.cloudtrail",
                "account": record["recipientAccountId"].clone(),
                "region": record["awsRegion"].clone(),
                "detail": record,
            });
            bodies.push(envelope.to_string());
        }
    }
    bodies
}

fn bench(c: &mut Criterion) {
    let bodies = dataset_bodies();
    c.bench_function("parse_and_classify/dataset_all_records", |b| {
        b.iter(|| {
            for body in &bodies {
                if let Ok(event) = parse_message(black_box(body)) {
                    let _ = black_box(classify(&event));
                }
            }
        })
    });
    let largest = bodies
        .iter()
        .max_by_key(|body| body.len())
        .expect("dataset not empty");
    c.bench_function("parse_and_classify/largest_record", |b| {
        b.iter(|| {
            let event = parse_message(black_box(largest)).expect("parses");
            black_box(classify(&event))
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
