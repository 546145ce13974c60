//! The one place where qrie builds AWS SDK configuration and clients.
//!
//! Region, endpoint override for a local emulator, retry mode and attempts, and operation and
//! attempt timeouts are set here and nowhere else. When an endpoint override is present (moto on
//! 127.0.0.1), S3 uses path-style addressing and S3 Control requests, which the SDK sends to an
//! account-prefixed host name (`<account>.127.0.0.1`), are re-pointed at the emulator's host.
//! Customer accounts are reached through [`assume_account_role`].

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextMut;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

use crate::config::AwsSettings;

/// Loads the base SDK configuration (credentials and region from the environment, as on Lambda).
pub async fn load_sdk_config(settings: &AwsSettings) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(RetryConfig::standard().with_max_attempts(settings.max_attempts))
        .timeout_config(
            TimeoutConfig::builder()
                .operation_timeout(settings.operation_timeout)
                .operation_attempt_timeout(settings.attempt_timeout)
                .build(),
        );
    if let Some(endpoint) = &settings.endpoint_url {
        loader = loader.endpoint_url(endpoint);
    }
    loader.load().await
}

/// A copy of `base` pointed at `region`.
pub fn in_region(base: &SdkConfig, region: &str) -> SdkConfig {
    base.to_builder()
        .region(Region::new(region.to_owned()))
        .build()
}

/// An S3 client; path-style addressing when talking to a local emulator.
pub fn s3_client(sdk: &SdkConfig, settings: &AwsSettings) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::config::Builder::from(sdk)
        .force_path_style(settings.is_local())
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// An S3 Control client. Against a local emulator the account-prefixed host is rewritten to the
/// emulator's own host, since `<account>.127.0.0.1` does not resolve.
pub fn s3control_client(sdk: &SdkConfig, settings: &AwsSettings) -> aws_sdk_s3control::Client {
    let mut builder = aws_sdk_s3control::config::Builder::from(sdk);
    if let Some(endpoint) = &settings.endpoint_url {
        builder = builder.interceptor(LocalHostRewrite {
            endpoint: endpoint.trim_end_matches('/').to_owned(),
        });
    }
    aws_sdk_s3control::Client::from_conf(builder.build())
}

/// A DynamoDB client.
pub fn dynamodb_client(sdk: &SdkConfig) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(sdk)
}

/// Rewrites `scheme://<anything>.<endpoint host>/path` to `<endpoint>/path` (local use only).
#[derive(Debug)]
struct LocalHostRewrite {
    endpoint: String,
}

impl Intercept for LocalHostRewrite {
    fn name(&self) -> &'static str {
        "LocalHostRewrite"
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request_mut();
        let uri = request.uri().to_owned();
        if let Some(rewritten) = rewrite_to_endpoint(&uri, &self.endpoint) {
            request.set_uri(rewritten.as_str())?;
        }
        Ok(())
    }
}

/// `http://111122223333.127.0.0.1:5000/v2/x?y` with endpoint `http://127.0.0.1:5000` becomes
/// `http://127.0.0.1:5000/v2/x?y`; URIs already on the endpoint are left alone.
fn rewrite_to_endpoint(uri: &str, endpoint: &str) -> Option<String> {
    let (scheme, rest) = uri.split_once("://")?;
    let (host, path) = rest.find('/').map_or((rest, ""), |i| rest.split_at(i));
    let endpoint_host = endpoint.split_once("://").map_or(endpoint, |(_, h)| h);
    if host == endpoint_host || !host.ends_with(&format!(".{endpoint_host}")) {
        return None;
    }
    Some(format!("{scheme}://{endpoint_host}{path}"))
}

/// Errors reaching a customer account.
#[derive(Debug, thiserror::Error)]
pub enum AssumeRoleError {
    /// `code` and `message` are what STS answered (`AccessDenied`, `ValidationError`, ...), or,
    /// when STS was not reached, the kind of credentials failure and its innermost cause.
    #[error("could not assume {role_arn}: {code}: {message}")]
    Assume {
        role_arn: String,
        code: String,
        message: String,
        #[source]
        source: aws_credential_types::provider::error::CredentialsError,
    },
}

impl AssumeRoleError {
    /// The STS error code (or credentials failure kind).
    pub fn code(&self) -> &str {
        match self {
            AssumeRoleError::Assume { code, .. } => code,
        }
    }
}

/// The STS code and message inside a credentials error: the provider wraps the `AssumeRole`
/// call's error, whose own Display says only "an error occurred while loading credentials".
fn sts_failure(
    error: &aws_credential_types::provider::error::CredentialsError,
) -> (String, String) {
    use aws_credential_types::provider::error::CredentialsError as E;
    use aws_sdk_sts::error::ProvideErrorMetadata;
    type StsError = aws_sdk_sts::error::SdkError<
        aws_sdk_sts::operation::assume_role::AssumeRoleError,
        aws_smithy_runtime_api::client::orchestrator::HttpResponse,
    >;
    let mut innermost = None;
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if let Some(sts) = e.downcast_ref::<StsError>() {
            if let Some(code) = sts.code() {
                let message = sts.message().unwrap_or("no message").to_owned();
                return (code.to_owned(), message);
            }
            if let Some(response) = sts.raw_response() {
                // An answer STS's error parser could not read: its status is still a clue.
                let status = response.status().as_u16();
                return (
                    format!("HTTP{status}"),
                    "unreadable STS error response".to_owned(),
                );
            }
        }
        innermost = Some(e);
        source = e.source();
    }
    let kind = match error {
        E::CredentialsNotLoaded(_) => "CredentialsNotLoaded",
        E::ProviderTimedOut(_) => "ProviderTimedOut",
        E::InvalidConfiguration(_) => "InvalidConfiguration",
        E::ProviderError(_) => "ProviderError",
        _ => "Unhandled",
    };
    let message = innermost.map_or_else(|| error.to_string(), |e| e.to_string());
    (kind.to_owned(), message)
}

/// SDK configuration acting in a customer account through its read-only role.
///
/// Credentials come from an `AssumeRoleProvider`, which caches them and refreshes them before
/// they expire, so long inventory runs keep working. The first set is fetched eagerly so that a
/// role that cannot be assumed is reported for its account before any collection starts.
pub async fn assume_account_role(
    base: &SdkConfig,
    role_arn: &str,
    external_id: Option<&str>,
    session_name: &str,
) -> Result<SdkConfig, AssumeRoleError> {
    use aws_credential_types::provider::ProvideCredentials;
    let mut builder =
        aws_config::sts::AssumeRoleProvider::builder(role_arn).session_name(session_name);
    if let Some(id) = external_id {
        builder = builder.external_id(id);
    }
    let provider = builder.configure(base).build().await;
    provider.provide_credentials().await.map_err(|source| {
        let (code, message) = sts_failure(&source);
        AssumeRoleError::Assume {
            role_arn: role_arn.to_owned(),
            code,
            message,
            source,
        }
    })?;
    Ok(base
        .to_builder()
        .credentials_provider(SharedCredentialsProvider::new(provider))
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_prefixed_local_hosts_are_rewritten() {
        let got = rewrite_to_endpoint(
            "http://111122223333.127.0.0.1:5000/v20180820/configuration/publicAccessBlock",
            "http://127.0.0.1:5000",
        );
        assert_eq!(
            got.as_deref(),
            Some("http://127.0.0.1:5000/v20180820/configuration/publicAccessBlock")
        );
    }

    #[test]
    fn an_sts_refusal_keeps_its_code_and_message() {
        // given a credentials error wrapping STS's AccessDenied, as the AssumeRole provider
        // builds it
        use aws_credential_types::provider::error::CredentialsError;
        use aws_sdk_sts::operation::assume_role::AssumeRoleError as Refused;
        use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
        let meta = aws_smithy_types::error::ErrorMetadata::builder()
            .code("AccessDenied")
            .message("not authorized to perform sts:AssumeRole")
            .build();
        let response = HttpResponse::new(
            403u16.try_into().expect("a status"),
            aws_smithy_types::body::SdkBody::empty(),
        );
        let sts = aws_sdk_sts::error::SdkError::service_error(Refused::generic(meta), response);
        let error = CredentialsError::provider_error(sts);
        // when
        let (code, message) = sts_failure(&error);
        // then
        assert_eq!(code, "AccessDenied");
        assert_eq!(message, "not authorized to perform sts:AssumeRole");
        // and a failure that never reached STS names its kind and its cause
        let (code, message) = sts_failure(&CredentialsError::provider_timed_out(
            std::time::Duration::from_secs(5),
        ));
        assert_eq!(code, "ProviderTimedOut");
        assert!(!message.is_empty());
    }

    #[test]
    fn endpoint_hosts_and_foreign_hosts_are_left_alone() {
        assert_eq!(
            rewrite_to_endpoint("http://127.0.0.1:5000/x", "http://127.0.0.1:5000"),
            None
        );
        assert_eq!(
            rewrite_to_endpoint("https://s3.amazonaws.com/x", "http://127.0.0.1:5000"),
            None
        );
    }
}
