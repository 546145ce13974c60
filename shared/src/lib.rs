//! qrie's core crate: the domain model, configuration, AWS setup, storage ports and adapters,
//! collectors and the policy engine that every qrie Lambda function shares.

pub mod trail;
