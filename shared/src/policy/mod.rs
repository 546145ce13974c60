//! The policy engine: policy definitions, their condition language and the catalog that loads
//! them from `policies/`.

pub mod catalog;
pub mod cond;
pub mod def;
pub mod iam_doc;
pub mod resource_doc;
pub mod schema;
pub mod suppressions;

pub use catalog::{Catalog, CatalogError};
pub use def::{ControlRef, Outcome, Policy, PolicyError, Reference, REFERENCE_SOURCES};
