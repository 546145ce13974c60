//! The Lambda collector: functions, in every region of the account, with their runtime, role,
//! network, environment (variable names, and masked secrets found in the values), resource
//! policy, function URL, tracing, dead-letter queue, code signing and layers.
//!
//! Normalised function configuration:
//!
//! ```text
//! FunctionName, Arn, Region, Role, Handler, PackageType, Architectures
//! Runtime                    python3.12, ... | null (container images)
//! RuntimeDeprecationDate     YYYY-MM-DD from runtimes.tsv | null (none published)
//! VpcConfig                  {VpcId, SubnetIds, SecurityGroupIds} | null
//! EnvironmentVariableNames   [name, ...] (never the values)
//! EnvironmentSecrets         [{Variable, Detector, Masked}] found by qrie-detectors
//! KmsKeyArn                  the customer managed key encrypting the variables | null
//! TracingMode                Active | PassThrough | null
//! DeadLetterTargetArn        | null
//! Layers                     [{Arn, AccountId, SameAccount}]
//! Policy                     the resource policy, Statement always a list | null
//! FunctionUrl                {AuthType, Url, Cors: {AllowOrigins} | null} | null
//! CodeSigningConfigArn       | null
//! ```
//!
//! The variable values are read (ListFunctions and GetFunctionConfiguration return them) only
//! to be scanned; they are dropped before the configuration is built and never logged. The
//! deployment package is never downloaded (GetFunction, whose `Code.Location` is a presigned
//! URL, is not called). A failed GetPolicy, GetFunctionUrlConfig or
//! GetFunctionCodeSigningConfig (other than "none configured") makes the function a
//! [`Collected::Failed`] entry, left as stored.

mod runtimes;
mod secrets;

pub use runtimes::deprecation_date;

use aws_sdk_lambda::types::FunctionConfiguration;
use aws_sdk_lambda::Client;
use chrono::Utc;
use futures::StreamExt;
use serde_json::{json, Value};
use tokio::sync::mpsc::Sender;
use tracing::{debug, warn};

use super::{
    error_code, regional_failure, send, AccountSession, Collected, CollectionError, Described,
};
use crate::arn::{split_arn, ArnScope, ArnShape};
use crate::model::{Resource, Service};
use crate::policy::schema::{Field, Type};
use crate::registry::{Relation, Residence, ResourceKind, ServiceEntry};

/// Lambda in the registry: functions, listed region by region.
pub const SERVICE: ServiceEntry = ServiceEntry {
    service: Service::Lambda,
    kinds: &[&FUNCTION],
    collect: |session, out| {
        Box::pin(super::regions::collect_regions(
            session,
            Service::Lambda,
            move |region| async move { collect_region(session, &region, out).await },
        ))
    },
};

/// A function: `arn:aws:lambda:<region>:<account>:function:<name>`.
pub const FUNCTION: ResourceKind = ResourceKind {
    shape: ArnShape::new(
        Service::Lambda,
        "lambda",
        "AWS::Lambda::Function",
        ArnScope::Regional,
        "function:",
    )
    .qualified(),
    residence: Residence::Regional,
    permissions: &[
        "lambda:ListFunctions",
        "lambda:GetFunctionConfiguration",
        "lambda:GetPolicy",
        "lambda:GetFunctionUrlConfig",
        "lambda:GetFunctionCodeSigningConfig",
    ],
    fields: FUNCTION_FIELDS,
    describe: |session, name| Box::pin(describe_function(session, name)),
    dependents: None,
    relations: FUNCTION_RELATIONS,
};

/// A function's execution role.
const FUNCTION_RELATIONS: &[Relation] = &[Relation {
    name: "Role",
    target: Type::Kind("AWS::IAM::Role"),
    local: "Role",
    remote: "Arn",
    same_region: false,
    only_where: None,
    otherwise: None,
}];

pub const FUNCTION_TYPE: &str = FUNCTION.resource_type();

const FUNCTION_FIELDS: &[Field] = &[
    Field::new("FunctionName", Type::String),
    Field::new("Arn", Type::String),
    Field::new("Region", Type::String),
    Field::new("Role", Type::String).nullable(),
    Field::new("Handler", Type::String).nullable(),
    Field::new("PackageType", Type::String).nullable(),
    Field::new("Architectures", Type::Array(&Type::String)),
    Field::new("Runtime", Type::String).nullable(),
    Field::new("RuntimeDeprecationDate", Type::String).nullable(),
    Field::new(
        "VpcConfig",
        Type::Object(&[
            Field::new("VpcId", Type::String).nullable(),
            Field::new("SubnetIds", Type::Array(&Type::String)),
            Field::new("SecurityGroupIds", Type::Array(&Type::String)),
        ]),
    )
    .nullable(),
    Field::new("EnvironmentVariableNames", Type::Array(&Type::String)),
    Field::new(
        "EnvironmentSecrets",
        Type::Array(&Type::Object(&[
            Field::new("Variable", Type::String),
            Field::new("Detector", Type::String),
            Field::new("Masked", Type::String),
        ])),
    ),
    Field::new("KmsKeyArn", Type::String).nullable(),
    Field::new("TracingMode", Type::String).nullable(),
    Field::new("DeadLetterTargetArn", Type::String).nullable(),
    Field::new(
        "Layers",
        Type::Array(&Type::Object(&[
            Field::new("Arn", Type::String),
            Field::new("AccountId", Type::String).nullable(),
            Field::new("SameAccount", Type::Bool),
        ])),
    ),
    Field::new("Policy", Type::Any).nullable(),
    Field::new(
        "FunctionUrl",
        Type::Object(&[
            Field::new("AuthType", Type::String),
            Field::new("Url", Type::String),
            Field::new(
                "Cors",
                Type::Object(&[Field::new("AllowOrigins", Type::Array(&Type::String))]),
            )
            .nullable(),
        ]),
    )
    .nullable(),
    Field::new("CodeSigningConfigArn", Type::String).nullable(),
];

/// Functions described at once within one region.
const FUNCTION_CONCURRENCY: usize = 8;

/// The ARN of function `name` in `region`.
pub fn function_arn(partition: &str, region: &str, account_id: &str, name: &str) -> String {
    FUNCTION.arn(partition, region, account_id, name)
}

fn client(session: &AccountSession, region: &str) -> Client {
    Client::new(&session.config_in(region))
}

/// Lists every function of `region` into `out`.
async fn collect_region(
    session: &AccountSession,
    region: &str,
    out: &Sender<Collected>,
) -> Result<(), CollectionError> {
    let client = client(session, region);
    let mut pages = client.list_functions().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| {
            regional_failure(session, Service::Lambda, region, None, "ListFunctions", &e)
        })?;
        let functions = page.functions().to_vec();
        debug!(account = %session.account.account_id, region, functions = functions.len(), "function page listed");
        let mut described = futures::stream::iter(functions)
            .map(|function| {
                let client = &client;
                async move {
                    let name = function.function_name().unwrap_or_default().to_owned();
                    (name, complete(session, client, region, function).await)
                }
            })
            .buffer_unordered(FUNCTION_CONCURRENCY);
        while let Some((name, result)) = described.next().await {
            match result {
                Ok(Described::Found(resource)) => send(out, Collected::Resource(resource)).await,
                Ok(Described::NotFound) => {
                    debug!(function = %name, "function vanished during collection")
                }
                Err(error) => {
                    warn!(%error, "function collection failed");
                    let arn = function_arn(
                        session.partition(),
                        region,
                        &session.account.account_id,
                        &name,
                    );
                    send(out, Collected::Failed { arn, error }).await
                }
            }
        }
    }
    Ok(())
}

/// Re-describes one function (event processor) in the session's home region. A qualified name
/// (`name:version`) describes the function itself.
pub async fn describe_function(
    session: &AccountSession,
    name: &str,
) -> Result<Described, CollectionError> {
    let region = session.home_region().to_owned();
    let name = name.split(':').next().unwrap_or(name);
    let client = client(session, &region);
    let arn = function_arn(
        session.partition(),
        &region,
        &session.account.account_id,
        name,
    );
    let function = match client
        .get_function_configuration()
        .function_name(name)
        .send()
        .await
    {
        Ok(out) => function_of(out),
        Err(e) if error_code(&e) == Some("ResourceNotFoundException") => {
            return Ok(Described::NotFound)
        }
        Err(e) => {
            return Err(regional_failure(
                session,
                Service::Lambda,
                &region,
                Some(arn),
                "GetFunctionConfiguration",
                &e,
            ))
        }
    };
    complete(session, &client, &region, function).await
}

/// The configuration part of GetFunctionConfiguration's answer, as ListFunctions gives it.
fn function_of(
    out: aws_sdk_lambda::operation::get_function_configuration::GetFunctionConfigurationOutput,
) -> FunctionConfiguration {
    FunctionConfiguration::builder()
        .set_function_name(out.function_name)
        .set_function_arn(out.function_arn)
        .set_runtime(out.runtime)
        .set_role(out.role)
        .set_handler(out.handler)
        .set_vpc_config(out.vpc_config)
        .set_dead_letter_config(out.dead_letter_config)
        .set_environment(out.environment)
        .set_kms_key_arn(out.kms_key_arn)
        .set_tracing_config(out.tracing_config)
        .set_layers(out.layers)
        .set_package_type(out.package_type)
        .set_architectures(out.architectures)
        .build()
}

/// Reads what ListFunctions does not return (policy, URL, code signing) and builds the
/// function's resource.
async fn complete(
    session: &AccountSession,
    client: &Client,
    region: &str,
    function: FunctionConfiguration,
) -> Result<Described, CollectionError> {
    let account_id = &session.account.account_id;
    let name = function.function_name().unwrap_or_default().to_owned();
    let arn = function
        .function_arn()
        .map(str::to_owned)
        .unwrap_or_else(|| function_arn(session.partition(), region, account_id, &name));
    let failure = |operation: &str, code: &dyn Fn() -> CollectionError| {
        debug!(function = %name, operation, "function read failed");
        code()
    };
    let observed = Utc::now();
    let policy = match client.get_policy().function_name(&name).send().await {
        Ok(out) => Some(super::s3::normalise_policy(
            out.policy().unwrap_or_default(),
        )),
        // The function exists (it was just listed or described): no policy.
        Err(e) if error_code(&e) == Some("ResourceNotFoundException") => None,
        Err(e) => {
            return Err(failure("GetPolicy", &|| {
                regional_failure(
                    session,
                    Service::Lambda,
                    region,
                    Some(arn.clone()),
                    "GetPolicy",
                    &e,
                )
            }))
        }
    };
    let url = match client
        .get_function_url_config()
        .function_name(&name)
        .send()
        .await
    {
        Ok(out) => Some(json!({
            "AuthType": out.auth_type().as_str(),
            "Url": out.function_url(),
            "Cors": out.cors().map(|c| json!({"AllowOrigins": c.allow_origins()})),
        })),
        Err(e) if error_code(&e) == Some("ResourceNotFoundException") => None,
        Err(e) => {
            return Err(failure("GetFunctionUrlConfig", &|| {
                regional_failure(
                    session,
                    Service::Lambda,
                    region,
                    Some(arn.clone()),
                    "GetFunctionUrlConfig",
                    &e,
                )
            }))
        }
    };
    let signing = match client
        .get_function_code_signing_config()
        .function_name(&name)
        .send()
        .await
    {
        Ok(out) => Some(out.code_signing_config_arn().to_owned()).filter(|a| !a.is_empty()),
        Err(e) if error_code(&e) == Some("ResourceNotFoundException") => {
            return Ok(Described::NotFound)
        }
        Err(e) => {
            return Err(failure("GetFunctionCodeSigningConfig", &|| {
                regional_failure(
                    session,
                    Service::Lambda,
                    region,
                    Some(arn.clone()),
                    "GetFunctionCodeSigningConfig",
                    &e,
                )
            }))
        }
    };
    let configuration =
        function_configuration(&function, &arn, region, account_id, policy, url, signing);
    Ok(Described::Found(Box::new(Resource {
        arn,
        account_id: account_id.clone(),
        service: Service::Lambda,
        resource_type: FUNCTION_TYPE.into(),
        region: region.to_owned(),
        configuration,
        last_seen_at: observed,
    })))
}

/// The normalised configuration: the variables' values are scanned here and go no further.
fn function_configuration(
    f: &FunctionConfiguration,
    arn: &str,
    region: &str,
    account_id: &str,
    policy: Option<Value>,
    url: Option<Value>,
    signing: Option<String>,
) -> Value {
    let variables = f.environment().and_then(|e| e.variables());
    let mut names: Vec<&String> = variables.map(|v| v.keys().collect()).unwrap_or_default();
    names.sort();
    let detections = variables
        .map(secrets::masked_detections)
        .unwrap_or_default();
    let runtime = f.runtime().map(|r| r.as_str().to_owned());
    let layers: Vec<Value> = f
        .layers()
        .iter()
        .filter_map(|l| l.arn())
        .map(|layer| {
            let owner = split_arn(layer).map(|p| p.account.to_owned());
            json!({
                "Arn": layer,
                "SameAccount": owner.as_deref() == Some(account_id),
                "AccountId": owner,
            })
        })
        .collect();
    let vpc = f
        .vpc_config()
        .filter(|v| v.vpc_id().is_some_and(|id| !id.is_empty()) || !v.subnet_ids().is_empty())
        .map(|v| {
            json!({
                "VpcId": v.vpc_id().filter(|id| !id.is_empty()),
                "SubnetIds": v.subnet_ids(),
                "SecurityGroupIds": v.security_group_ids(),
            })
        });
    json!({
        "FunctionName": f.function_name(),
        "Arn": arn,
        "Region": region,
        "Role": f.role(),
        "Handler": f.handler(),
        "PackageType": f.package_type().map(|p| p.as_str()),
        "Architectures": f.architectures().iter().map(|a| a.as_str()).collect::<Vec<_>>(),
        "RuntimeDeprecationDate": runtime.as_deref().and_then(deprecation_date),
        "Runtime": runtime,
        "VpcConfig": vpc,
        "EnvironmentVariableNames": names,
        "EnvironmentSecrets": detections,
        "KmsKeyArn": f.kms_key_arn().filter(|k| !k.is_empty()),
        "TracingMode": f.tracing_config().and_then(|t| t.mode()).map(|m| m.as_str()),
        "DeadLetterTargetArn": f.dead_letter_config().and_then(|d| d.target_arn()).filter(|t| !t.is_empty()),
        "Layers": layers,
        "Policy": policy,
        "FunctionUrl": url,
        "CodeSigningConfigArn": signing,
    })
}
