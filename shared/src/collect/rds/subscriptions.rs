//! RDS event notification subscriptions: which source type (instances, clusters, parameter
//! groups, security groups) and which event categories each one sends to its SNS topic, and
//! whether it is enabled.
//!
//! Normalised event subscription configuration:
//!
//! ```text
//! CustSubscriptionId, Arn, Region                          string
//! SnsTopicArn, Status, SourceType                          string | null (no type: all sources)
//! Enabled                                                  bool
//! SourceIdsList, EventCategoriesList                       [string] (empty: all of them)
//! ```

use aws_sdk_rds::types::EventSubscription;
use chrono::Utc;
use serde_json::json;
use tokio::sync::mpsc::Sender;

use super::client;
use crate::arn::{ArnScope, ArnShape};
use crate::collect::{
    error_code, regional_failure, send, AccountSession, Collected, CollectionError, Described,
};
use crate::model::{Resource, Service};
use crate::policy::schema::{Field, Type};
use crate::registry::{Residence, ResourceKind};

/// An event subscription: `arn:aws:rds:<region>:<account>:es:<name>`.
pub const EVENT_SUBSCRIPTION: ResourceKind = ResourceKind {
    shape: ArnShape::new(
        Service::Rds,
        "rds",
        "AWS::RDS::EventSubscription",
        ArnScope::Regional,
        "es:",
    ),
    residence: Residence::Regional,
    permissions: &["rds:DescribeEventSubscriptions"],
    fields: FIELDS,
    describe: |session, id| Box::pin(describe_subscription(session, id)),
    dependents: None,
    relations: &[],
};

pub const EVENT_SUBSCRIPTION_TYPE: &str = EVENT_SUBSCRIPTION.resource_type();

const FIELDS: &[Field] = &[
    Field::new("CustSubscriptionId", Type::String),
    Field::new("Arn", Type::String),
    Field::new("Region", Type::String),
    Field::new("SnsTopicArn", Type::String).nullable(),
    Field::new("Status", Type::String).nullable(),
    Field::new("SourceType", Type::String).nullable(),
    Field::new("Enabled", Type::Bool),
    Field::new("SourceIdsList", Type::Array(&Type::String)),
    Field::new("EventCategoriesList", Type::Array(&Type::String)),
];

/// The ARN of event subscription `name` in `region`.
pub fn subscription_arn(partition: &str, region: &str, account_id: &str, name: &str) -> String {
    EVENT_SUBSCRIPTION.arn(partition, region, account_id, name)
}

/// Lists the event subscriptions of `region` into `out`.
pub(super) async fn collect_region(
    session: &AccountSession,
    client: &aws_sdk_rds::Client,
    region: &str,
    out: &Sender<Collected>,
) -> Result<(), CollectionError> {
    let mut pages = client
        .describe_event_subscriptions()
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| {
            regional_failure(
                session,
                Service::Rds,
                region,
                None,
                "DescribeEventSubscriptions",
                &e,
            )
        })?;
        for subscription in page.event_subscriptions_list() {
            let resource = subscription_resource(session, region, subscription);
            send(out, Collected::Resource(Box::new(resource))).await;
        }
    }
    Ok(())
}

fn subscription_resource(
    session: &AccountSession,
    region: &str,
    s: &EventSubscription,
) -> Resource {
    let account_id = &session.account.account_id;
    let name = s.cust_subscription_id().unwrap_or_default();
    let arn = s
        .event_subscription_arn()
        .map(str::to_owned)
        .unwrap_or_else(|| subscription_arn(session.partition(), region, account_id, name));
    let mut categories = s.event_categories_list().to_vec();
    categories.sort();
    let mut sources = s.source_ids_list().to_vec();
    sources.sort();
    let configuration = json!({
        "CustSubscriptionId": name,
        "Arn": arn,
        "Region": region,
        "SnsTopicArn": s.sns_topic_arn(),
        "Status": s.status(),
        "SourceType": s.source_type().filter(|t| !t.is_empty()),
        "Enabled": s.enabled().unwrap_or(false),
        "SourceIdsList": sources,
        "EventCategoriesList": categories,
    });
    Resource {
        arn,
        account_id: account_id.clone(),
        service: Service::Rds,
        resource_type: EVENT_SUBSCRIPTION_TYPE.into(),
        region: region.to_owned(),
        configuration,
        last_seen_at: Utc::now(),
    }
}

/// Re-describes one event subscription (event processor) in the session's home region.
pub async fn describe_subscription(
    session: &AccountSession,
    name: &str,
) -> Result<Described, CollectionError> {
    let region = session.home_region().to_owned();
    let arn = subscription_arn(
        session.partition(),
        &region,
        &session.account.account_id,
        name,
    );
    match client(session, &region)
        .describe_event_subscriptions()
        .subscription_name(name)
        .send()
        .await
    {
        Ok(out) => Ok(match out.event_subscriptions_list().first() {
            Some(s) => Described::Found(Box::new(subscription_resource(session, &region, s))),
            None => Described::NotFound,
        }),
        Err(e) if error_code(&e) == Some("SubscriptionNotFound") => Ok(Described::NotFound),
        Err(e) => Err(regional_failure(
            session,
            Service::Rds,
            &region,
            Some(arn),
            "DescribeEventSubscriptions",
            &e,
        )),
    }
}
