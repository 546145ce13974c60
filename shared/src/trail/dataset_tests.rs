//! Tests over real data: every record of the CloudTrail dataset in `tests/data/cloudtrail/`
//! and every sample SQS event in `events/event-processor/`.
//!
//! The expected ARNs live in `tests/data/cloudtrail/expected-arns.tsv`, written by reading the
//! records, not by running the extractor, so a wrong table entry shows up as a mismatch here.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::catalog::rule_for;
use super::{classify, parse_message, Disposition, IgnoreReason};

fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(relative)
}

fn json_files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            files.extend(json_files_under(&path));
        } else if path.extension().is_some_and(|ext| ext == "json") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// The records of a file in either dataset format: `{"Records":[...]}` or a bare array.
fn records_of(path: &Path) -> Vec<Value> {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    match serde_json::from_str::<Value>(&text).expect("dataset file is JSON") {
        Value::Array(records) => records,
        Value::Object(mut file) => match file.remove("Records") {
            Some(Value::Array(records)) => records,
            _ => panic!("{}: no Records array", path.display()),
        },
        _ => panic!("{}: neither an array nor an object", path.display()),
    }
}

/// (file relative to the dataset folder, eventID) → expected ARNs.
fn expected_arns() -> HashMap<(String, String), Vec<String>> {
    let path = repo_path("tests/data/cloudtrail/expected-arns.tsv");
    let text = fs::read_to_string(&path).expect("expected-arns.tsv");
    let mut expected = HashMap::new();
    for line in text
        .lines()
        .skip_while(|line| line.starts_with('#'))
        .skip(1)
    {
        let columns: Vec<&str> = line.split('\t').collect();
        assert_eq!(columns.len(), 4, "bad row: {line}");
        let arns = columns[3].split(' ').map(str::to_owned).collect();
        let previous = expected.insert((columns[0].to_owned(), columns[1].to_owned()), arns);
        assert!(previous.is_none(), "duplicate row: {line}");
    }
    expected
}

#[test]
fn every_dataset_record_is_classified_as_written_down() {
    // given every record of the dataset and the ARNs written down for the supported ones
    let dataset = repo_path("tests/data/cloudtrail");
    let mut expected = expected_arns();
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for file in json_files_under(&dataset) {
        let relative = file
            .strip_prefix(&dataset)
            .expect("under the dataset")
            .to_string_lossy()
            .replace('\\', "/");
        for record in records_of(&file) {
            // when
            let event =
                parse_message(&record.to_string()).unwrap_or_else(|e| panic!("{relative}: {e}"));
            let event_id = event
                .event_id
                .clone()
                .expect("every dataset record has an eventID");
            let disposition =
                classify(&event).unwrap_or_else(|e| panic!("{relative} {event_id}: {e}"));
            let supported = rule_for(&event.event_source, &event.event_name).is_some();
            // then
            match (&event.error_code, disposition) {
                (Some(code), Disposition::Ignored(IgnoreReason::ErrorCode(ignored_code))) => {
                    assert_eq!(code, &ignored_code);
                    *counts.entry("failed calls ignored").or_default() += 1;
                }
                (Some(_), other) => panic!("{relative} {event_id}: failed call gave {other:?}"),
                (None, Disposition::Relevant(touched)) => {
                    let arns: Vec<String> = touched.into_iter().map(|t| t.arn).collect();
                    let written = expected
                        .remove(&(relative.clone(), event_id.clone()))
                        .unwrap_or_else(|| {
                            panic!(
                                "{relative} {event_id} {}: no expected row",
                                event.event_name
                            )
                        });
                    assert_eq!(arns, written, "{relative} {event_id} {}", event.event_name);
                    *counts.entry("supported events checked").or_default() += 1;
                }
                (None, Disposition::Ignored(reason)) => {
                    assert!(
                        !supported,
                        "{relative} {event_id}: supported but {reason:?}"
                    );
                    *counts.entry("other events ignored").or_default() += 1;
                }
            }
        }
    }
    assert!(
        expected.is_empty(),
        "rows matching no record: {:?}",
        expected.keys()
    );
    assert_eq!(
        counts.get("supported events checked"),
        Some(&211),
        "{counts:?}"
    );
    assert_eq!(counts.values().sum::<usize>(), 1984, "{counts:?}");
}

#[test]
fn every_target_event_of_the_index_is_covered() {
    // given the dataset's index of the 79 records carrying a target eventName
    let index = fs::read_to_string(repo_path("tests/data/cloudtrail/target-events-index.tsv"))
        .expect("index");
    let expected = expected_arns();
    let mut rows = 0;
    for line in index.lines().skip(1) {
        let columns: Vec<&str> = line.split('\t').collect();
        let (file, event_id, event_source, error_code) = (
            columns[0],
            columns[1],
            columns[3],
            columns.get(4).copied().unwrap_or(""),
        );
        rows += 1;
        // then each is supported, and each successful one has expected ARNs written down
        assert!(rule_for(event_source, columns[2]).is_some(), "{line}");
        let has_row = expected.contains_key(&(file.to_owned(), event_id.to_owned()));
        assert_eq!(has_row, error_code.is_empty(), "{line}");
    }
    assert_eq!(rows, 79);
}

#[test]
fn every_sample_sqs_event_yields_a_touched_resource() {
    // given the sample SQS events of the event processor
    let files = json_files_under(&repo_path("events/event-processor"));
    assert!(files.len() >= 7, "expected at least one sample per service");
    for file in files {
        let text = fs::read_to_string(&file).expect("sample");
        let sqs: Value = serde_json::from_str(&text).expect("sample is JSON");
        let records = sqs["Records"].as_array().expect("SqsEvent has Records");
        assert!(!records.is_empty(), "{}", file.display());
        for record in records {
            assert_eq!(record["eventSource"], "aws:sqs");
            let body = record["body"].as_str().expect("body is a string");
            // when
            let event = parse_message(body).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            let disposition =
                classify(&event).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            // then
            let Disposition::Relevant(touched) = disposition else {
                panic!("{}: ignored: {disposition:?}", file.display())
            };
            assert!(!touched.is_empty());
            assert_eq!(event.account_id, "111122223333", "{}", file.display());
            assert_eq!(event.region, "us-east-1", "{}", file.display());
        }
    }
}

#[test]
fn the_sample_sqs_events_touch_the_resources_their_names_say() {
    // given each sample and the resources its scenario is about
    let table: [(&str, &[(&str, bool)]); 11] = [
        (
            "s3-put-bucket-acl-public.json",
            &[("arn:aws:s3:::qrie-demo-logs", false)],
        ),
        (
            "s3-delete-bucket.json",
            &[("arn:aws:s3:::qrie-demo-logs", true)],
        ),
        (
            "ec2-authorize-security-group-ingress.json",
            &[(
                "arn:aws:ec2:us-east-1:111122223333:security-group/sg-0123456789abcdef0",
                false,
            )],
        ),
        (
            "ec2-terminate-instances-batch.json",
            &[
                (
                    "arn:aws:ec2:us-east-1:111122223333:instance/i-0aaaaaaaaaaaaaaa1",
                    true,
                ),
                (
                    "arn:aws:ec2:us-east-1:111122223333:instance/i-0aaaaaaaaaaaaaaa2",
                    true,
                ),
                (
                    "arn:aws:ec2:us-east-1:111122223333:instance/i-0bbbbbbbbbbbbbbb1",
                    false,
                ),
            ],
        ),
        (
            "iam-create-access-key.json",
            &[("arn:aws:iam::111122223333:user/deploy-bot", false)],
        ),
        (
            "rds-modify-db-instance.json",
            &[("arn:aws:rds:us-east-1:111122223333:db:orders-db", false)],
        ),
        (
            "cloudtrail-stop-logging.json",
            &[
                (
                    "arn:aws:cloudtrail:us-east-1:111122223333:trail/org-audit",
                    false,
                ),
                (
                    "arn:aws:cloudtrail::111122223333:account-trail-coverage",
                    false,
                ),
            ],
        ),
        (
            "kms-disable-key-rotation.json",
            &[(
                "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
                false,
            )],
        ),
        (
            "rds-modify-db-cluster.json",
            &[(
                "arn:aws:rds:us-east-1:111122223333:cluster:orders-aurora",
                false,
            )],
        ),
        (
            "rds-modify-db-parameter-group.json",
            &[("arn:aws:rds:us-east-1:111122223333:pg:orders-pg", false)],
        ),
        (
            "ec2-delete-flow-logs.json",
            &[(
                "arn:aws:ec2:us-east-1:111122223333:vpc-flow-log/fl-064ed3a785e4a37ef",
                true,
            )],
        ),
    ];
    for (file, expected) in table {
        let path = repo_path("events/event-processor").join(file);
        let sqs: Value =
            serde_json::from_str(&fs::read_to_string(&path).expect("sample")).expect("JSON");
        // when
        let mut touched = Vec::new();
        for record in sqs["Records"].as_array().expect("Records") {
            let event = parse_message(record["body"].as_str().expect("body")).expect("parses");
            if let Ok(Disposition::Relevant(resources)) = classify(&event) {
                touched.extend(resources.into_iter().map(|r| (r.arn, r.deleted)));
            }
        }
        // then
        let expected: Vec<(String, bool)> = expected
            .iter()
            .map(|(arn, deleted)| ((*arn).to_owned(), *deleted))
            .collect();
        assert_eq!(touched, expected, "{file}");
    }
}
