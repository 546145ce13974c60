//! qrie's core crate: the domain model, configuration, AWS setup, storage ports and adapters,
//! collectors and the policy engine that every qrie Lambda function shares.
//!
//! Binaries in `functions/` only wire these pieces together; everything here is testable
//! without Lambda.

pub mod arn;
pub mod aws;
pub mod collect;
pub mod compliance;
pub mod config;
pub mod export;
pub mod fanout;
pub mod handler;
pub mod inventory;
pub mod model;
pub mod notify;
pub mod object_scan;
pub mod policy;
pub mod process;
pub mod registry;
pub mod relate;
pub mod risk;
pub mod scan;
pub mod securityhub;
pub mod sqs_batch;
pub mod store;
pub mod trail;
