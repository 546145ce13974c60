//! The KMS collector: customer managed keys, in every region of the account, with their state,
//! rotation, key policy and aliases. AWS managed keys (`KeyManager: AWS`) are not listed: they
//! are not the customer's to rotate, disable or share.
//!
//! Normalised key configuration (the shape the KMS policies read):
//!
//! ```text
//! KeyId, Arn, Region, Description, CreationDate
//! KeyState                 Enabled | Disabled | PendingDeletion | PendingImport | ...
//! KeyManager               CUSTOMER (always: AWS managed keys are skipped)
//! KeySpec, KeyUsage        SYMMETRIC_DEFAULT, RSA_2048, ...; ENCRYPT_DECRYPT, SIGN_VERIFY, ...
//! Origin                   AWS_KMS | EXTERNAL | AWS_CLOUDHSM | EXTERNAL_KEY_STORE
//! MultiRegion              bool; absent (and listed as unreadable) when DescribeKey omits it
//! DeletionDate             when a key pending deletion is deleted | null
//! PendingDeletionWindowInDays | null
//! KeyRotationEnabled       bool; null where rotation does not apply (asymmetric, HMAC,
//!                          imported or custom key store keys, a key pending deletion)
//! RotationPeriodInDays     | null
//! Policy                   the key policy, Statement always a list
//! Aliases                  [alias/name, ...]
//! ```
//!
//! A failed call on a key (DescribeKey, GetKeyPolicy, GetKeyRotationStatus other than "does not
//! apply", ListAliases) makes the key a [`Collected::Failed`] entry, left as stored. DescribeKey
//! always returns `MultiRegion` on AWS; when it does not (the local AWS omits it), the field is
//! left out and named in the configuration's `Unreadable` list, so the multi-region policy is
//! not evaluated on a guess.

use aws_sdk_kms::Client;
use chrono::Utc;
use futures::StreamExt;
use serde_json::{json, Map, Value};
use tokio::sync::mpsc::Sender;
use tracing::{debug, warn};

use super::{
    error_code, regional_failure, send, AccountSession, Collected, CollectionError, Described,
};
use crate::arn::{ArnScope, ArnShape};
use crate::model::{Resource, Service, UnreadablePart, UNREADABLE};
use crate::policy::schema::{Field, Type, UNREADABLE_FIELD};
use crate::registry::{Residence, ResourceKind, ServiceEntry};

/// KMS in the registry: customer managed keys, listed region by region.
pub const SERVICE: ServiceEntry = ServiceEntry {
    service: Service::Kms,
    kinds: &[&KEY],
    collect: |session, out| {
        Box::pin(super::regions::collect_regions(
            session,
            Service::Kms,
            move |region| async move { collect_region(session, &region, out).await },
        ))
    },
};

/// A customer managed key: `arn:aws:kms:<region>:<account>:key/<key id>`.
pub const KEY: ResourceKind = ResourceKind {
    shape: ArnShape::new(
        Service::Kms,
        "kms",
        "AWS::KMS::Key",
        ArnScope::Regional,
        "key/",
    ),
    residence: Residence::Regional,
    permissions: &[
        "kms:ListKeys",
        "kms:DescribeKey",
        "kms:GetKeyRotationStatus",
        "kms:GetKeyPolicy",
        "kms:ListAliases",
    ],
    fields: KEY_FIELDS,
    describe: |session, key_id| Box::pin(describe_key(session, key_id)),
    dependents: None,
    relations: &[],
};

/// The key type, `AWS::KMS::Key`.
pub const KEY_TYPE: &str = KEY.resource_type();

const KEY_FIELDS: &[Field] = &[
    Field::new("KeyId", Type::String),
    Field::new("Arn", Type::String),
    Field::new("Region", Type::String),
    Field::new("Description", Type::String).nullable(),
    Field::new("CreationDate", Type::String).nullable(),
    Field::new("KeyState", Type::String),
    Field::new("KeyManager", Type::String),
    Field::new("KeySpec", Type::String).nullable(),
    Field::new("KeyUsage", Type::String).nullable(),
    Field::new("Origin", Type::String).nullable(),
    Field::new("MultiRegion", Type::Bool).optional(),
    Field::new("DeletionDate", Type::String).nullable(),
    Field::new("PendingDeletionWindowInDays", Type::Number).nullable(),
    Field::new("KeyRotationEnabled", Type::Bool).nullable(),
    Field::new("RotationPeriodInDays", Type::Number).nullable(),
    Field::new("Policy", Type::Any),
    Field::new("Aliases", Type::Array(&Type::String)),
    UNREADABLE_FIELD,
];

/// Keys described at once within one region.
const KEY_CONCURRENCY: usize = 8;

/// Error codes of GetKeyRotationStatus that mean "rotation does not apply to this key": an
/// asymmetric, HMAC, imported or custom key store key, or a key whose state does not allow it.
const ROTATION_DOES_NOT_APPLY: &[&str] =
    &["UnsupportedOperationException", "KMSInvalidStateException"];

/// The ARN of key `key_id` in `region`.
pub fn key_arn(partition: &str, region: &str, account_id: &str, key_id: &str) -> String {
    KEY.arn(partition, region, account_id, key_id)
}

fn client(session: &AccountSession, region: &str) -> Client {
    Client::new(&session.config_in(region))
}

/// Lists every customer managed key of `region` into `out`.
async fn collect_region(
    session: &AccountSession,
    region: &str,
    out: &Sender<Collected>,
) -> Result<(), CollectionError> {
    let client = client(session, region);
    let mut pages = client.list_keys().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page
            .map_err(|e| regional_failure(session, Service::Kms, region, None, "ListKeys", &e))?;
        let ids: Vec<String> = page
            .keys()
            .iter()
            .filter_map(|k| k.key_id().map(str::to_owned))
            .collect();
        debug!(account = %session.account.account_id, region, keys = ids.len(), "key page listed");
        let mut described = futures::stream::iter(ids)
            .map(|id| {
                let client = &client;
                async move {
                    let result = describe_with(session, client, region, &id).await;
                    (id, result)
                }
            })
            .buffer_unordered(KEY_CONCURRENCY);
        while let Some((id, result)) = described.next().await {
            match result {
                Ok(Some(Described::Found(resource))) => {
                    send(out, Collected::Resource(resource)).await
                }
                Ok(Some(Described::NotFound)) => {
                    debug!(key = %id, "key vanished during collection")
                }
                Ok(None) => debug!(key = %id, "AWS managed key skipped"),
                Err(error) => {
                    warn!(%error, "key collection failed");
                    let arn = key_arn(
                        session.partition(),
                        region,
                        &session.account.account_id,
                        &id,
                    );
                    send(out, Collected::Failed { arn, error }).await
                }
            }
        }
    }
    Ok(())
}

/// Re-describes one key (event processor) in the session's home region. An AWS managed key is
/// not collected: not found as far as qrie is concerned.
pub async fn describe_key(
    session: &AccountSession,
    key_id: &str,
) -> Result<Described, CollectionError> {
    let region = session.home_region().to_owned();
    let client = client(session, &region);
    Ok(describe_with(session, &client, &region, key_id)
        .await?
        .unwrap_or(Described::NotFound))
}

/// Describes one key; `None` for an AWS managed key.
async fn describe_with(
    session: &AccountSession,
    client: &Client,
    region: &str,
    key_id: &str,
) -> Result<Option<Described>, CollectionError> {
    let account_id = &session.account.account_id;
    let arn = key_arn(session.partition(), region, account_id, key_id);
    let observed = Utc::now();
    let described = match client.describe_key().key_id(key_id).send().await {
        Ok(out) => out,
        Err(e) if error_code(&e) == Some("NotFoundException") => {
            return Ok(Some(Described::NotFound))
        }
        Err(e) => {
            return Err(regional_failure(
                session,
                Service::Kms,
                region,
                Some(arn),
                "DescribeKey",
                &e,
            ))
        }
    };
    let Some(meta) = described.key_metadata() else {
        return Ok(Some(Described::NotFound));
    };
    if meta.key_manager().map(|m| m.as_str()) != Some("CUSTOMER") {
        return Ok(None);
    }
    let arn = meta.arn().map(str::to_owned).unwrap_or(arn);
    let rotation = match client.get_key_rotation_status().key_id(key_id).send().await {
        Ok(out) => Some((out.key_rotation_enabled(), out.rotation_period_in_days())),
        Err(e) if error_code(&e).is_some_and(|c| ROTATION_DOES_NOT_APPLY.contains(&c)) => None,
        Err(e) if error_code(&e) == Some("NotFoundException") => {
            return Ok(Some(Described::NotFound))
        }
        Err(e) => {
            return Err(regional_failure(
                session,
                Service::Kms,
                region,
                Some(arn),
                "GetKeyRotationStatus",
                &e,
            ))
        }
    };
    let policy = match client
        .get_key_policy()
        .key_id(key_id)
        .policy_name("default")
        .send()
        .await
    {
        Ok(out) => super::s3::normalise_policy(out.policy().unwrap_or_default()),
        Err(e) if error_code(&e) == Some("NotFoundException") => {
            return Ok(Some(Described::NotFound))
        }
        Err(e) => {
            return Err(regional_failure(
                session,
                Service::Kms,
                region,
                Some(arn),
                "GetKeyPolicy",
                &e,
            ))
        }
    };
    let mut aliases = Vec::new();
    let mut pages = client.list_aliases().key_id(key_id).into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| {
            regional_failure(
                session,
                Service::Kms,
                region,
                Some(arn.clone()),
                "ListAliases",
                &e,
            )
        })?;
        aliases.extend(
            page.aliases()
                .iter()
                .filter_map(|a| a.alias_name().map(str::to_owned)),
        );
    }
    aliases.sort();
    let mut config = Map::new();
    config.insert("KeyId".into(), json!(meta.key_id()));
    config.insert("Arn".into(), json!(arn));
    config.insert("Region".into(), json!(region));
    config.insert(
        "Description".into(),
        json!(meta.description().filter(|d| !d.is_empty())),
    );
    config.insert(
        "CreationDate".into(),
        json!(meta.creation_date().map(|d| d.to_string())),
    );
    config.insert(
        "KeyState".into(),
        json!(meta.key_state().map(|s| s.as_str()).unwrap_or("Unknown")),
    );
    config.insert("KeyManager".into(), json!("CUSTOMER"));
    config.insert("KeySpec".into(), json!(meta.key_spec().map(|s| s.as_str())));
    config.insert(
        "KeyUsage".into(),
        json!(meta.key_usage().map(|s| s.as_str())),
    );
    config.insert("Origin".into(), json!(meta.origin().map(|s| s.as_str())));
    config.insert(
        "DeletionDate".into(),
        json!(meta.deletion_date().map(|d| d.to_string())),
    );
    config.insert(
        "PendingDeletionWindowInDays".into(),
        json!(meta.pending_deletion_window_in_days()),
    );
    config.insert("KeyRotationEnabled".into(), json!(rotation.map(|r| r.0)));
    config.insert(
        "RotationPeriodInDays".into(),
        json!(rotation.and_then(|r| r.1)),
    );
    config.insert("Policy".into(), policy);
    config.insert("Aliases".into(), json!(aliases));
    match meta.multi_region() {
        Some(multi) => {
            config.insert("MultiRegion".into(), json!(multi));
        }
        None => {
            let part = UnreadablePart {
                path: "MultiRegion".into(),
                operation: "DescribeKey".into(),
                code: "FieldMissing".into(),
            };
            config.insert(
                UNREADABLE.into(),
                serde_json::to_value(vec![part]).unwrap_or_else(|_| json!([{"Path": ""}])),
            );
        }
    }
    Ok(Some(Described::Found(Box::new(Resource {
        arn,
        account_id: account_id.clone(),
        service: Service::Kms,
        resource_type: KEY_TYPE.into(),
        region: region.to_owned(),
        configuration: Value::Object(config),
        last_seen_at: observed,
    }))))
}
