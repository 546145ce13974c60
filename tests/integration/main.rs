//! Integration tests: qrie's Lambda handlers against the local AWS (moto in server mode),
//! through the same AWS SDK calls they make in production. One binary, split by topic.

mod cli;
mod cli_ops;
mod combinations;
mod compliance;
mod data_posture;
mod data_seed;
mod ec2_posture;
mod event_processor;
mod exports;
mod fanout;
mod faults;
mod findings_store;
mod handlers;
mod iam_posture;
mod notifications;
mod object_scanner;
mod report;
mod s3_posture;
mod schema_conformance;
mod seed;
mod vpc_posture;
