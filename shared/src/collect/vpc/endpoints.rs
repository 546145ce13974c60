//! VPC endpoints (the account's connections to AWS services and endpoint services) and the
//! endpoint services the account offers to others.
//!
//! Normalised configurations:
//!
//! ```text
//! VPCEndpoint         VpcEndpointId, Region, VpcId, OwnerId, ServiceName, VpcEndpointType,
//!                     State, PrivateDnsEnabled, SubnetIds [..], SubnetCount, RouteTableIds [..],
//!                     PolicyDocument (the parsed JSON document, or null when the type has none)
//!                     UntrustedPrincipals [principal]: who the policy lets in from outside the
//!                     account (see below)
//! VPCEndpointService  ServiceId, Region, ServiceName, ServiceType [..], ServiceState,
//!                     AcceptanceRequired, AllowedPrincipals [{Principal, PrincipalType}],
//!                     UntrustedPrincipals [principal]: `*` and principals of another account
//! ```
//!
//! An endpoint policy's principal is *untrusted* when an `Allow` statement names it and it is
//! `*` (or `arn:aws:iam::*:root`, any account) without a condition restricting the caller to the
//! account (`aws:PrincipalAccount` equal to the account, `aws:PrincipalArn` in the account, or
//! any `aws:PrincipalOrgID`, under a `String*`/`Arn*` operator that is not a negation), or names
//! another account (its id or an ARN in it). Service principals are AWS's own and never count.
//! A policy EC2 answers that is not JSON leaves `UntrustedPrincipals` unreadable (the
//! configuration's `Unreadable` list), never empty.
//!
//! An endpoint service whose permissions cannot be read is a [`Collected::Failed`] entry.

use aws_sdk_ec2::types::{AllowedPrincipal, ServiceConfiguration, VpcEndpoint};
use futures::StreamExt;
use serde_json::{json, Value};
use tokio::sync::mpsc::Sender;

use super::{
    about, client, described, failure, is_not_found, send_failed, send_resource, AccountSession,
    CollectionError, ATTRIBUTE_CONCURRENCY,
};
use crate::arn::{ArnScope, ArnShape};
use crate::collect::{Collected, Described};
use crate::model::{Service, UnreadablePart, UNREADABLE};
use crate::policy::schema::{Field, Type, UNREADABLE_FIELD};
use crate::registry::{Residence, ResourceKind};

/// The ARN shape of [`VPC_ENDPOINT`] (what the collector's own code forms ARNs with).
pub const VPC_ENDPOINT_SHAPE: ArnShape = ArnShape::new(
    Service::Vpc,
    "ec2",
    "AWS::EC2::VPCEndpoint",
    ArnScope::Regional,
    "vpc-endpoint/",
);

pub const VPC_ENDPOINT: ResourceKind = ResourceKind {
    shape: VPC_ENDPOINT_SHAPE,
    residence: Residence::Regional,
    permissions: &["ec2:DescribeRegions", "ec2:DescribeVpcEndpoints"],
    fields: ENDPOINT_FIELDS,
    describe: |session, id| Box::pin(describe_endpoint(session, id)),
    dependents: Some(endpoint_dependents),
    relations: &[],
};

/// The ARN shape of [`VPC_ENDPOINT_SERVICE`] (what the collector's own code forms ARNs with).
pub const VPC_ENDPOINT_SERVICE_SHAPE: ArnShape = ArnShape::new(
    Service::Vpc,
    "ec2",
    "AWS::EC2::VPCEndpointService",
    ArnScope::Regional,
    "vpc-endpoint-service/",
);

pub const VPC_ENDPOINT_SERVICE: ResourceKind = ResourceKind {
    shape: VPC_ENDPOINT_SERVICE_SHAPE,
    residence: Residence::Regional,
    permissions: &[
        "ec2:DescribeRegions",
        "ec2:DescribeVpcEndpointServiceConfigurations",
        "ec2:DescribeVpcEndpointServicePermissions",
    ],
    fields: SERVICE_FIELDS,
    describe: |session, id| Box::pin(describe_endpoint_service(session, id)),
    dependents: None,
    relations: &[],
};

const ENDPOINT_FIELDS: &[Field] = &[
    Field::new("VpcEndpointId", Type::String),
    Field::new("Region", Type::String),
    Field::new("VpcId", Type::String).nullable(),
    Field::new("OwnerId", Type::String).nullable(),
    Field::new("ServiceName", Type::String).nullable(),
    Field::new("VpcEndpointType", Type::String).nullable(),
    Field::new("State", Type::String).nullable(),
    Field::new("PrivateDnsEnabled", Type::Bool),
    Field::new("SubnetIds", Type::Array(&Type::String)),
    Field::new("SubnetCount", Type::Number),
    Field::new("RouteTableIds", Type::Array(&Type::String)),
    Field::new("PolicyDocument", Type::Any).nullable(),
    Field::new("UntrustedPrincipals", Type::Array(&Type::String)).nullable(),
    UNREADABLE_FIELD,
];

const SERVICE_FIELDS: &[Field] = &[
    Field::new("ServiceId", Type::String),
    Field::new("Region", Type::String),
    Field::new("ServiceName", Type::String).nullable(),
    Field::new("ServiceType", Type::Array(&Type::String)),
    Field::new("ServiceState", Type::String).nullable(),
    Field::new("AcceptanceRequired", Type::Bool),
    Field::new(
        "AllowedPrincipals",
        Type::Array(&Type::Object(&[
            Field::new("Principal", Type::String),
            Field::new("PrincipalType", Type::String).nullable(),
        ])),
    ),
    Field::new("UntrustedPrincipals", Type::Array(&Type::String)),
];

/// The account a principal names: an account id, or the account field of an ARN (`*` for
/// `arn:aws:iam::*:root`); `None` for a principal that names no account.
fn account_of(principal: &str) -> Option<&str> {
    if principal.len() == 12 && principal.bytes().all(|b| b.is_ascii_digit()) {
        return Some(principal);
    }
    let mut parts = principal.splitn(6, ':');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some("arn"), Some(_), Some(_), Some(_)) => parts.next(),
        _ => None,
    }
}

/// The strings of a policy field that is a string or a list of strings.
fn strings(value: &Value) -> Vec<&str> {
    match value {
        Value::String(s) => vec![s.as_str()],
        Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// True when the statement's condition admits callers of `account` (or of a trusted
/// organisation) only: see the module docs.
fn restricted_to_account(condition: &Value, account: &str) -> bool {
    let Some(operators) = condition.as_object() else {
        return false;
    };
    operators.iter().any(|(operator, keys)| {
        let op = operator.to_ascii_lowercase();
        let op = op.rsplit(':').next().unwrap_or_default();
        if !(op.starts_with("string") || op.starts_with("arn")) || op.contains("not") {
            return false;
        }
        keys.as_object().is_some_and(|keys| {
            keys.iter().any(|(key, values)| {
                let values = strings(values);
                match key.to_ascii_lowercase().as_str() {
                    "aws:principalorgid" => !values.is_empty(),
                    "aws:principalaccount" => {
                        !values.is_empty() && values.iter().all(|v| *v == account)
                    }
                    "aws:principalarn" => {
                        !values.is_empty() && values.iter().all(|v| account_of(v) == Some(account))
                    }
                    _ => false,
                }
            })
        })
    })
}

/// The principals an endpoint policy lets in from outside `account` (see the module docs), each
/// once, in the order the policy names them.
pub(crate) fn untrusted_principals(policy: &Value, account: &str) -> Vec<String> {
    let statements: Vec<&Value> = match &policy["Statement"] {
        Value::Array(list) => list.iter().collect(),
        Value::Object(_) => vec![&policy["Statement"]],
        _ => Vec::new(),
    };
    let mut out: Vec<String> = Vec::new();
    for statement in statements {
        if statement["Effect"] != "Allow" {
            continue;
        }
        let principals: Vec<&str> = match &statement["Principal"] {
            Value::String(s) => vec![s.as_str()],
            Value::Object(by_type) => by_type.get("AWS").map(strings).unwrap_or_default(),
            _ => Vec::new(),
        };
        for principal in principals {
            let untrusted = match account_of(principal) {
                _ if principal == "*" => !restricted_to_account(&statement["Condition"], account),
                Some("*") => !restricted_to_account(&statement["Condition"], account),
                Some(other) => other != account,
                None => false,
            };
            if untrusted && !out.iter().any(|p| p == principal) {
                out.push(principal.to_owned());
            }
        }
    }
    out
}

fn endpoint_configuration(region: &str, account: &str, e: &VpcEndpoint) -> Value {
    let subnets = e.subnet_ids();
    let mut configuration = json!({
        "VpcEndpointId": e.vpc_endpoint_id(),
        "Region": region,
        "VpcId": e.vpc_id(),
        "OwnerId": e.owner_id(),
        "ServiceName": e.service_name(),
        "VpcEndpointType": e.vpc_endpoint_type().map(|t| t.as_str()),
        "State": e.state().map(|s| s.as_str()),
        "PrivateDnsEnabled": e.private_dns_enabled().unwrap_or(false),
        "SubnetIds": subnets,
        "SubnetCount": subnets.len(),
        "RouteTableIds": e.route_table_ids(),
        "PolicyDocument": Value::Null,
        "UntrustedPrincipals": [],
    });
    if let Some(text) = e.policy_document() {
        match serde_json::from_str::<Value>(text) {
            Ok(policy) => {
                configuration["UntrustedPrincipals"] =
                    json!(untrusted_principals(&policy, account));
                configuration["PolicyDocument"] = policy;
            }
            Err(_) => {
                configuration["UntrustedPrincipals"] = Value::Null;
                configuration[UNREADABLE] = json!([UnreadablePart {
                    path: "UntrustedPrincipals".into(),
                    operation: "DescribeVpcEndpoints".into(),
                    code: "PolicyDocumentNotJson".into(),
                }]);
            }
        }
    }
    configuration
}

/// True when the endpoint is gone (EC2 answers deleted endpoints for a while).
fn is_deleted(e: &VpcEndpoint) -> bool {
    matches!(
        e.state().map(|s| s.as_str()),
        Some("deleted") | Some("Deleted")
    )
}

/// The VPC whose `Endpoints` list embeds the endpoint.
fn endpoint_dependents(configuration: &Value) -> Vec<(&'static str, String)> {
    configuration["VpcId"]
        .as_str()
        .map(|vpc| vec![(super::vpcs::VPC_SHAPE.resource_type, vpc.to_owned())])
        .unwrap_or_default()
}

fn service_configuration(
    region: &str,
    account: &str,
    s: &ServiceConfiguration,
    allowed: &[AllowedPrincipal],
) -> Value {
    let principals: Vec<Value> = allowed
        .iter()
        .filter_map(|p| {
            Some(json!({
                "Principal": p.principal()?,
                "PrincipalType": p.principal_type().map(|t| t.as_str()),
            }))
        })
        .collect();
    let mut untrusted: Vec<&str> = Vec::new();
    for p in allowed.iter().filter_map(|p| p.principal()) {
        let outside = p == "*" || account_of(p).is_some_and(|a| a != account);
        if outside && !untrusted.contains(&p) {
            untrusted.push(p);
        }
    }
    json!({
        "ServiceId": s.service_id(),
        "Region": region,
        "ServiceName": s.service_name(),
        "ServiceType": s.service_type().iter().filter_map(|t| t.service_type()).map(|t| t.as_str()).collect::<Vec<_>>(),
        "ServiceState": s.service_state().map(|t| t.as_str()),
        "AcceptanceRequired": s.acceptance_required().unwrap_or(false),
        "AllowedPrincipals": principals,
        "UntrustedPrincipals": untrusted,
    })
}

/// Every principal allowed to connect to the endpoint service `id`, all pages.
async fn allowed_principals(
    session: &AccountSession,
    ec2: &aws_sdk_ec2::Client,
    region: &str,
    id: &str,
) -> Result<Vec<AllowedPrincipal>, CollectionError> {
    let arn = VPC_ENDPOINT_SERVICE_SHAPE.arn(
        session.partition(),
        region,
        &session.account.account_id,
        id,
    );
    let mut pages = ec2
        .describe_vpc_endpoint_service_permissions()
        .service_id(id)
        .into_paginator()
        .send();
    let mut all = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| {
            failure(
                session,
                region,
                Some(arn.clone()),
                "DescribeVpcEndpointServicePermissions",
                &e,
            )
        })?;
        all.extend(page.allowed_principals().iter().cloned());
    }
    Ok(all)
}

/// Lists the region's endpoints and endpoint services.
pub(crate) async fn collect(
    session: &AccountSession,
    ec2: &aws_sdk_ec2::Client,
    region: &str,
    out: &Sender<Collected>,
) -> Result<(), CollectionError> {
    let account = session.account.account_id.as_str();
    let mut pages = ec2.describe_vpc_endpoints().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| failure(session, region, None, "DescribeVpcEndpoints", &e))?;
        for e in page.vpc_endpoints() {
            if is_deleted(e) {
                continue;
            }
            let Some(id) = e.vpc_endpoint_id() else {
                continue;
            };
            let configuration = endpoint_configuration(region, account, e);
            let r = super::resource(session, &VPC_ENDPOINT_SHAPE, region, id, configuration);
            send_resource(out, r).await;
        }
    }
    let mut pages = ec2
        .describe_vpc_endpoint_service_configurations()
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| {
            failure(
                session,
                region,
                None,
                "DescribeVpcEndpointServiceConfigurations",
                &e,
            )
        })?;
        // Owned, so that the futures below borrow nothing from the page.
        let services: Vec<ServiceConfiguration> = page
            .service_configurations()
            .iter()
            .filter(|s| s.service_id().is_some())
            .cloned()
            .collect();
        let mut built = futures::stream::iter(services)
            .map(|s: ServiceConfiguration| async move {
                let id = s.service_id().unwrap_or_default().to_owned();
                let allowed = allowed_principals(session, ec2, region, &id).await;
                (s, id, allowed)
            })
            .buffer_unordered(ATTRIBUTE_CONCURRENCY);
        while let Some((s, id, allowed)) = built.next().await {
            match allowed {
                Ok(allowed) => {
                    let configuration = service_configuration(region, account, &s, &allowed);
                    let r = super::resource(
                        session,
                        &VPC_ENDPOINT_SERVICE_SHAPE,
                        region,
                        &id,
                        configuration,
                    );
                    send_resource(out, r).await;
                }
                Err(error) => {
                    let arn = error.resource.clone().unwrap_or_default();
                    send_failed(out, arn, error).await;
                }
            }
        }
    }
    Ok(())
}

pub async fn describe_endpoint(
    session: &AccountSession,
    id: &str,
) -> Result<Described, CollectionError> {
    let region = session.home_region().to_owned();
    let account = session.account.account_id.clone();
    let answer = client(session, &region)
        .describe_vpc_endpoints()
        .vpc_endpoint_ids(id)
        .send()
        .await
        .map(|out| {
            out.vpc_endpoints()
                .iter()
                .find(|e| e.vpc_endpoint_id() == Some(id))
                .filter(|e| !is_deleted(e))
                .map(|e| endpoint_configuration(&region, &account, e))
        });
    described(
        session,
        &VPC_ENDPOINT_SHAPE,
        &region,
        id,
        "DescribeVpcEndpoints",
        answer,
    )
}

pub async fn describe_endpoint_service(
    session: &AccountSession,
    id: &str,
) -> Result<Described, CollectionError> {
    let region = session.home_region().to_owned();
    let account = session.account.account_id.clone();
    let ec2 = client(session, &region);
    let arn = VPC_ENDPOINT_SERVICE_SHAPE.arn(session.partition(), &region, &account, id);
    let answer = ec2
        .describe_vpc_endpoint_service_configurations()
        .service_ids(id)
        .send()
        .await;
    let found = match answer {
        Ok(out) => out
            .service_configurations()
            .iter()
            .find(|s| s.service_id() == Some(id))
            .cloned(),
        Err(e) if is_not_found(&e) => None,
        Err(e) => {
            return Err(failure(
                session,
                &region,
                Some(arn),
                "DescribeVpcEndpointServiceConfigurations",
                &e,
            ))
        }
    };
    let Some(service) = found else {
        return Ok(Described::NotFound);
    };
    let allowed = allowed_principals(session, &ec2, &region, id)
        .await
        .map_err(|e| about(e, arn))?;
    let configuration = service_configuration(&region, &account, &service, &allowed);
    Ok(Described::Found(Box::new(super::resource(
        session,
        &VPC_ENDPOINT_SERVICE_SHAPE,
        &region,
        id,
        configuration,
    ))))
}

#[cfg(test)]
mod tests {
    use super::*;

    const OWN: &str = "111122223333";

    #[test]
    fn the_default_full_access_policy_lets_everyone_in() {
        // given the policy EC2 gives an endpoint by default
        let policy = json!({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}]});
        // then `*` is untrusted
        assert_eq!(untrusted_principals(&policy, OWN), ["*"]);
    }

    #[test]
    fn a_condition_pinning_the_account_or_organisation_makes_star_trusted() {
        // given `*` restricted to the account, to an organisation, and by a negated operator
        let pinned = json!({"Statement": {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "s3:*", "Resource": "*",
            "Condition": {"StringEquals": {"aws:PrincipalAccount": [OWN]}}}});
        let org = json!({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*",
            "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-abc"}}}]});
        let negated = json!({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*",
            "Condition": {"StringNotEquals": {"aws:PrincipalAccount": OWN}}}]});
        let elsewhere = json!({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*",
            "Condition": {"StringEquals": {"aws:PrincipalAccount": [OWN, "444455556666"]}}}]});
        // then the first two let no one in from outside, the others do
        assert!(untrusted_principals(&pinned, OWN).is_empty());
        assert!(untrusted_principals(&org, OWN).is_empty());
        assert_eq!(untrusted_principals(&negated, OWN), ["*"]);
        assert_eq!(untrusted_principals(&elsewhere, OWN), ["*"]);
    }

    #[test]
    fn named_principals_count_by_their_account() {
        // given principals of the account, of another account, any account, and a service
        let policy = json!({"Statement": [
            {"Effect": "Allow", "Principal": {"AWS": [format!("arn:aws:iam::{OWN}:role/app"), "444455556666", "arn:aws:iam::*:root"]}, "Action": "*", "Resource": "*"},
            {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "*", "Resource": "*"},
            {"Effect": "Deny", "Principal": "*", "Action": "*", "Resource": "*"},
        ]});
        // then only the other account and any account are untrusted (a Deny lets no one in)
        assert_eq!(
            untrusted_principals(&policy, OWN),
            ["444455556666", "arn:aws:iam::*:root"]
        );
    }

    #[test]
    fn a_policy_that_is_not_json_is_unreadable_not_trusted() {
        // given an endpoint whose policy text does not parse
        let e = VpcEndpoint::builder()
            .vpc_endpoint_id("vpce-1")
            .policy_document("{not json")
            .build();
        // when normalised
        let c = endpoint_configuration("us-east-1", OWN, &e);
        // then the untrusted principals are marked unreadable
        assert_eq!(c["UntrustedPrincipals"], Value::Null);
        assert_eq!(c[UNREADABLE][0]["Path"], "UntrustedPrincipals");
    }

    #[test]
    fn an_endpoint_service_allowing_star_or_another_account_is_untrusted() {
        // given a service allowing its own account, another account and everyone
        let allowed = [
            AllowedPrincipal::builder()
                .principal(format!("arn:aws:iam::{OWN}:root"))
                .build(),
            AllowedPrincipal::builder()
                .principal("arn:aws:iam::444455556666:root")
                .build(),
            AllowedPrincipal::builder().principal("*").build(),
        ];
        let s = ServiceConfiguration::builder()
            .service_id("vpce-svc-1")
            .build();
        // then the other account and `*` are untrusted
        let c = service_configuration("us-east-1", OWN, &s, &allowed);
        assert_eq!(
            c["UntrustedPrincipals"],
            json!(["arn:aws:iam::444455556666:root", "*"])
        );
        assert_eq!(c["AllowedPrincipals"].as_array().map(Vec::len), Some(3));
    }
}
