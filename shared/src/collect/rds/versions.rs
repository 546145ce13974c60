//! What a DB instance's CA certificate and engine version are worth, read once per region and
//! embedded in each instance:
//!
//! ```text
//! CACertificateValidTill     RFC 3339 | null: the ValidTill of the instance's CA certificate
//!                            (DescribeCertificates; null when RDS lists no such certificate)
//! EngineVersionOffered       bool: RDS still offers the instance's engine version
//!                            (DescribeDBEngineVersions for the engine and version, which lists
//!                            only available versions unless asked for all)
//! ```
//!
//! A lookup that fails is listed under `Unreadable` with its operation and error code (and the
//! policies that read it are not evaluated): a certificate's expiry or a version's end is never
//! guessed. Each engine version is asked about once per region however many instances run it.

use std::collections::HashMap;

use aws_sdk_rds::Client;
use serde_json::Value;

use crate::collect::call_failure;
use crate::model::UnreadablePart;
use crate::policy::schema::{Field, Type};

pub const CA_VALID_TILL: &str = "CACertificateValidTill";
pub const VERSION_OFFERED: &str = "EngineVersionOffered";

/// The fields this module adds to a DB instance.
/// Absent when the lookup failed (it is then under `Unreadable`).
pub const CA_VALID_TILL_FIELD: Field = Field::new(CA_VALID_TILL, Type::String)
    .nullable()
    .optional();
pub const VERSION_OFFERED_FIELD: Field = Field::new(VERSION_OFFERED, Type::Bool).optional();

/// The region's certificates and the engine versions asked about so far.
pub struct Lookups {
    /// Certificate identifier → ValidTill, or why the list could not be read.
    certificates: Result<HashMap<String, Option<String>>, UnreadablePart>,
    /// (engine, version) → offered, or why it could not be read.
    versions: HashMap<(String, String), Result<bool, UnreadablePart>>,
}

impl Lookups {
    /// Reads the region's CA certificates (all pages).
    pub async fn read(client: &Client) -> Self {
        Self {
            certificates: certificates(client).await,
            versions: HashMap::new(),
        }
    }

    /// Adds the certificate's expiry and whether the engine version is offered to `configuration`.
    pub async fn embed(
        &mut self,
        client: &Client,
        configuration: &mut Value,
        certificate: Option<&str>,
        engine: Option<&str>,
        version: Option<&str>,
    ) {
        let Some(object) = configuration.as_object_mut() else {
            return;
        };
        match &self.certificates {
            Ok(known) => {
                let till = certificate.and_then(|c| known.get(c).cloned().flatten());
                object.insert(CA_VALID_TILL.into(), till.into());
            }
            Err(part) => super::parameters::push_unreadable(object, part.clone()),
        }
        let (Some(engine), Some(version)) = (engine, version) else {
            // RDS names both for every instance; without them there is nothing to ask about.
            return;
        };
        let key = (engine.to_owned(), version.to_owned());
        if !self.versions.contains_key(&key) {
            let offered = offered(client, engine, version).await;
            self.versions.insert(key.clone(), offered);
        }
        match &self.versions[&key] {
            Ok(offered) => {
                object.insert(VERSION_OFFERED.into(), Value::Bool(*offered));
            }
            Err(part) => super::parameters::push_unreadable(object, part.clone()),
        }
    }
}

async fn certificates(client: &Client) -> Result<HashMap<String, Option<String>>, UnreadablePart> {
    let mut out = HashMap::new();
    let mut pages = client.describe_certificates().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| UnreadablePart {
            path: CA_VALID_TILL.into(),
            operation: "DescribeCertificates".into(),
            code: call_failure(&e).0,
        })?;
        for cert in page.certificates() {
            if let Some(id) = cert.certificate_identifier() {
                out.insert(
                    id.to_owned(),
                    crate::collect::ec2::timestamp(cert.valid_till()),
                );
            }
        }
    }
    Ok(out)
}

async fn offered(client: &Client, engine: &str, version: &str) -> Result<bool, UnreadablePart> {
    client
        .describe_db_engine_versions()
        .engine(engine)
        .engine_version(version)
        .send()
        .await
        .map(|out| !out.db_engine_versions().is_empty())
        .map_err(|e| UnreadablePart {
            path: VERSION_OFFERED.into(),
            operation: "DescribeDBEngineVersions".into(),
            code: call_failure(&e).0,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn lookups(certificates: Result<HashMap<String, Option<String>>, UnreadablePart>) -> Lookups {
        Lookups {
            certificates,
            versions: HashMap::new(),
        }
    }

    #[test]
    fn an_unreadable_certificate_list_is_listed_not_guessed() {
        // Given a region whose DescribeCertificates was refused
        let part = UnreadablePart {
            path: CA_VALID_TILL.into(),
            operation: "DescribeCertificates".into(),
            code: "AccessDenied".into(),
        };
        let mut found = lookups(Err(part));
        let mut c = json!({"Engine": "postgres"});
        // When an instance is embedded (no engine version: nothing is asked of RDS)
        let client = Client::from_conf(
            aws_sdk_rds::Config::builder()
                .behavior_version(aws_sdk_rds::config::BehaviorVersion::latest())
                .region(aws_sdk_rds::config::Region::new("us-east-1"))
                .build(),
        );
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime");
        runtime.block_on(found.embed(&client, &mut c, Some("rds-ca-rsa2048-g1"), None, None));
        // Then the expiry is absent and the part is listed unreadable with its operation
        assert!(c.get(CA_VALID_TILL).is_none(), "{c}");
        assert_eq!(c["Unreadable"][0]["Path"], CA_VALID_TILL);
        assert_eq!(c["Unreadable"][0]["Operation"], "DescribeCertificates");
        assert_eq!(c["Unreadable"][0]["Code"], "AccessDenied");
    }

    #[test]
    fn a_known_certificate_gives_its_expiry_and_an_unknown_one_null() {
        let known: HashMap<String, Option<String>> = [(
            "rds-ca-rsa2048-g1".to_owned(),
            Some("2061-05-21T22:21:18Z".to_owned()),
        )]
        .into();
        let client = Client::from_conf(
            aws_sdk_rds::Config::builder()
                .behavior_version(aws_sdk_rds::config::BehaviorVersion::latest())
                .region(aws_sdk_rds::config::Region::new("us-east-1"))
                .build(),
        );
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime");
        let mut found = lookups(Ok(known));
        let mut c = json!({});
        runtime.block_on(found.embed(&client, &mut c, Some("rds-ca-rsa2048-g1"), None, None));
        assert_eq!(c[CA_VALID_TILL], "2061-05-21T22:21:18Z");
        let mut d = json!({});
        runtime.block_on(found.embed(&client, &mut d, Some("rds-ca-2019"), None, None));
        assert_eq!(d[CA_VALID_TILL], Value::Null);
        assert!(d.get("Unreadable").is_none());
    }
}
