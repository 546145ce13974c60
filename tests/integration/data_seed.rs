//! Seeding customer accounts with KMS keys, CloudTrail trails and Lambda functions in known
//! configurations, through the real SDK calls an administrator of the account would make.

use aws_sdk_cloudtrail::types::{DataResource, EventSelector, ReadWriteType};
use aws_sdk_kms::types::KeySpec;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{Environment, FunctionCode, FunctionUrlAuthType, Runtime, VpcConfig};
use qrie::model::Account;
use qrie_tests::World;

use crate::seed;

/// Synthetic credentials of the right shape for the detectors (AWS's documentation examples
/// are deliberately not reported, so they cannot stand in).
pub const SECRET_KEY: &str = "Zk3xQ9vW2mN7pL4rT8yB1cD6fG0hJ5kM9nP2qR7s";
pub const KEY_ID: &str = "AKIAZ7VRSQ5TJN2K4LMB";

/// The smallest valid zip archive (an empty one: just the end-of-central-directory record).
pub const EMPTY_ZIP: &[u8] = &[
    0x50, 0x4b, 0x05, 0x06, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
];

pub async fn kms(world: &World, account: &Account, region: &str) -> aws_sdk_kms::Client {
    let sdk = world.as_customer(account).await;
    aws_sdk_kms::Client::new(&qrie::aws::in_region(&sdk, region))
}

pub async fn cloudtrail(
    world: &World,
    account: &Account,
    region: &str,
) -> aws_sdk_cloudtrail::Client {
    let sdk = world.as_customer(account).await;
    aws_sdk_cloudtrail::Client::new(&qrie::aws::in_region(&sdk, region))
}

pub async fn lambda(world: &World, account: &Account, region: &str) -> aws_sdk_lambda::Client {
    let sdk = world.as_customer(account).await;
    aws_sdk_lambda::Client::new(&qrie::aws::in_region(&sdk, region))
}

/// A symmetric customer managed key; returns its id.
pub async fn key(kms: &aws_sdk_kms::Client, description: &str) -> String {
    kms.create_key()
        .description(description)
        .send()
        .await
        .expect("key created")
        .key_metadata
        .expect("metadata")
        .key_id
}

/// A key of `spec` (asymmetric, say).
pub async fn key_of_spec(kms: &aws_sdk_kms::Client, spec: KeySpec) -> String {
    let usage = if spec == KeySpec::SymmetricDefault {
        aws_sdk_kms::types::KeyUsageType::EncryptDecrypt
    } else {
        aws_sdk_kms::types::KeyUsageType::SignVerify
    };
    kms.create_key()
        .key_spec(spec)
        .key_usage(usage)
        .send()
        .await
        .expect("key created")
        .key_metadata
        .expect("metadata")
        .key_id
}

pub async fn enable_rotation(kms: &aws_sdk_kms::Client, key_id: &str) {
    kms.enable_key_rotation()
        .key_id(key_id)
        .send()
        .await
        .expect("rotation enabled");
}

/// Replaces the key's policy with one that lets every AWS principal use it, unconditionally.
pub async fn make_key_public(kms: &aws_sdk_kms::Client, key_id: &str, account_id: &str) {
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "Admin", "Effect": "Allow",
             "Principal": {"AWS": format!("arn:aws:iam::{account_id}:root")},
             "Action": "kms:*", "Resource": "*"},
            {"Sid": "Everyone", "Effect": "Allow", "Principal": {"AWS": "*"},
             "Action": ["kms:Encrypt", "kms:Decrypt"], "Resource": "*"}
        ]
    });
    kms.put_key_policy()
        .key_id(key_id)
        .policy_name("default")
        .policy(policy.to_string())
        .send()
        .await
        .expect("policy put");
}

/// Creates the trail's bucket in `region` and the trail (not logging yet); returns its ARN.
pub async fn trail(
    world: &World,
    account: &Account,
    region: &str,
    name: &str,
    configure: impl FnOnce(
        aws_sdk_cloudtrail::operation::create_trail::builders::CreateTrailFluentBuilder,
    ) -> aws_sdk_cloudtrail::operation::create_trail::builders::CreateTrailFluentBuilder,
) -> String {
    let bucket = world.bucket(&format!("trail-{name}"));
    let s3 = world.customer_s3(account, region).await;
    seed::create_bucket(&s3, &bucket, region).await;
    let ct = cloudtrail(world, account, region).await;
    configure(ct.create_trail().name(name).s3_bucket_name(&bucket))
        .send()
        .await
        .expect("trail created")
        .trail_arn
        .expect("trail ARN")
}

/// Read and write management events and S3 object events for every bucket.
pub async fn record_everything(ct: &aws_sdk_cloudtrail::Client, trail: &str) {
    ct.put_event_selectors()
        .trail_name(trail)
        .event_selectors(
            EventSelector::builder()
                .read_write_type(ReadWriteType::All)
                .include_management_events(true)
                .data_resources(
                    DataResource::builder()
                        .r#type("AWS::S3::Object")
                        .values("arn:aws:s3")
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .expect("selectors put");
}

/// The execution role functions are created with (Lambda checks that it exists).
pub async fn execution_role(world: &World, account: &Account) -> String {
    let sdk = world.as_customer(account).await;
    let iam = aws_sdk_iam::Client::new(&sdk);
    let trust = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                       "Action": "sts:AssumeRole"}]
    });
    iam.create_role()
        .role_name(format!("fn-{}", world.id))
        .assume_role_policy_document(trust.to_string())
        .send()
        .await
        .expect("role created")
        .role
        .expect("role")
        .arn
}

/// A function with an empty package; `configure` adds what the test needs.
pub async fn function(
    client: &aws_sdk_lambda::Client,
    name: &str,
    role: &str,
    runtime: Runtime,
    configure: impl FnOnce(
        aws_sdk_lambda::operation::create_function::builders::CreateFunctionFluentBuilder,
    )
        -> aws_sdk_lambda::operation::create_function::builders::CreateFunctionFluentBuilder,
) -> String {
    let request = client
        .create_function()
        .function_name(name)
        .role(role)
        .runtime(runtime)
        .handler("index.handler")
        .code(
            FunctionCode::builder()
                .zip_file(Blob::new(EMPTY_ZIP))
                .build(),
        );
    configure(request)
        .send()
        .await
        .expect("function created")
        .function_arn
        .expect("function ARN")
}

/// Environment variables: one holding a secret key, one a key id, one harmless.
pub fn leaky_environment() -> Environment {
    Environment::builder()
        .variables("BILLING_SECRET_ACCESS_KEY", SECRET_KEY)
        .variables("BILLING_ACCESS_KEY_ID", KEY_ID)
        .variables("LOG_LEVEL", "info")
        .build()
}

pub fn vpc() -> VpcConfig {
    VpcConfig::builder()
        .subnet_ids("subnet-0a1b2c3d")
        .subnet_ids("subnet-0e1f2a3b")
        .security_group_ids("sg-0a1b2c3d")
        .build()
}

/// Gives the function a URL that anyone may call, and a policy letting anyone invoke it.
pub async fn public_url(client: &aws_sdk_lambda::Client, name: &str) {
    client
        .create_function_url_config()
        .function_name(name)
        .auth_type(FunctionUrlAuthType::None)
        .send()
        .await
        .expect("URL created");
    client
        .add_permission()
        .function_name(name)
        .statement_id("public-url")
        .action("lambda:InvokeFunctionUrl")
        .principal("*")
        .function_url_auth_type(FunctionUrlAuthType::None)
        .send()
        .await
        .expect("permission added");
}

/// The parameters as ModifyDB(Cluster)ParameterGroup takes them, each applied immediately.
fn db_parameters(parameters: &[(&str, &str)]) -> Vec<aws_sdk_rds::types::Parameter> {
    parameters
        .iter()
        .map(|(name, value)| {
            aws_sdk_rds::types::Parameter::builder()
                .parameter_name(*name)
                .parameter_value(*value)
                .apply_method(aws_sdk_rds::types::ApplyMethod::Immediate)
                .build()
        })
        .collect()
}

/// Sets one parameter of a DB parameter group (applied immediately).
pub async fn set_db_parameter(rds: &aws_sdk_rds::Client, group: &str, name: &str, value: &str) {
    rds.modify_db_parameter_group()
        .db_parameter_group_name(group)
        .set_parameters(Some(db_parameters(&[(name, value)])))
        .send()
        .await
        .expect("parameter set");
}

/// Creates a DB parameter group of `family` with `parameters` set.
pub async fn db_parameter_group(
    rds: &aws_sdk_rds::Client,
    name: &str,
    family: &str,
    parameters: &[(&str, &str)],
) {
    rds.create_db_parameter_group()
        .db_parameter_group_name(name)
        .db_parameter_group_family(family)
        .description("qrie test")
        .send()
        .await
        .expect("parameter group created");
    if !parameters.is_empty() {
        rds.modify_db_parameter_group()
            .db_parameter_group_name(name)
            .set_parameters(Some(db_parameters(parameters)))
            .send()
            .await
            .expect("parameters set");
    }
}

/// Creates a DB cluster parameter group of `family` with `parameters` set.
pub async fn db_cluster_parameter_group(
    rds: &aws_sdk_rds::Client,
    name: &str,
    family: &str,
    parameters: &[(&str, &str)],
) {
    rds.create_db_cluster_parameter_group()
        .db_cluster_parameter_group_name(name)
        .db_parameter_group_family(family)
        .description("qrie test")
        .send()
        .await
        .expect("cluster parameter group created");
    if !parameters.is_empty() {
        rds.modify_db_cluster_parameter_group()
            .db_cluster_parameter_group_name(name)
            .set_parameters(Some(db_parameters(parameters)))
            .send()
            .await
            .expect("cluster parameters set");
    }
}
