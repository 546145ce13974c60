//! Opening an account's session: assuming its read-only role and handing back the
//! [`AccountSession`] every reader of a customer account (the inventory, the event processor's
//! re-describes, the object scanner) works through.
//!
//! It lives beside [`AccountSession`] because reaching an account is the collectors' floor, not
//! a feature's: before this module the inventory owned it and the two other subsystems reached
//! up into the inventory for it. The role ARN is checked before STS is called (it must be a role
//! in the account it is listed for, or qrie would store another account's resources under this
//! one); a refusal keeps the STS error code and message ([`SessionError::code`]), so run
//! summaries and logs say `AccessDenied` or `ValidationError` rather than "could not load
//! credentials".
//!
//! What the read-only role must allow is declared here too ([`role_permissions`]): every
//! collector's calls and the object scanner's reads ([`OBJECT_SCAN_PERMISSIONS`]), which go
//! through the same session. `store::schema` writes it into the contract the onboarding role in
//! `infra/` is built from, without reaching up into the features that use the role.

use aws_config::SdkConfig;

use super::AccountSession;
use crate::aws::AssumeRoleError;
use crate::config::Config;
use crate::model::{Account, Service};

/// The S3 permissions the object scanner uses in a customer account, through the same read-only
/// role as the collectors (the onboarding template grants them; see `store::schema::contract`).
/// Enrolling a customer bucket for continuous scanning writes its notification configuration,
/// which the read-only role cannot: the customer runs that step (see the README).
/// Objects encrypted with SSE-KMS also need `kms:Decrypt` on their key, granted by the key's
/// owner.
pub const OBJECT_SCAN_PERMISSIONS: &[&str] = &[
    "s3:ListBucket",
    "s3:GetObject",
    "s3:GetBucketLocation",
    "s3:GetBucketNotification",
];

/// What the same role must also allow when the deployment imports findings into AWS Security
/// Hub (`QRIE_SECURITY_HUB=enabled`, see `crate::securityhub`): Security Hub accepts a custom
/// integration's findings only from the account they belong to, so qrie imports each account's
/// findings through this session. Optional: the onboarding template grants it only when asked.
pub const SECURITY_HUB_PERMISSIONS: &[&str] = &["securityhub:BatchImportFindings"];

/// Everything the read-only role in a customer account must allow, per service with a
/// collector: the collector's own permissions, then the object scanner's reads under `s3` (each
/// permission once, in declaration order).
pub fn role_permissions() -> Vec<(Service, Vec<&'static str>)> {
    super::declared_permissions()
        .into_iter()
        .map(|(service, perms)| {
            let mut all: Vec<&'static str> = perms;
            if service == Service::S3 {
                for p in OBJECT_SCAN_PERMISSIONS {
                    if !all.contains(p) {
                        all.push(p);
                    }
                }
            }
            (service, all)
        })
        .collect()
}

/// Why an account's session could not be opened. Each message starts with `account <id>:` and
/// names the role and what was wrong (the STS code and message when STS refused).
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The accounts table's role ARN cannot be this account's role; STS was not called.
    #[error("account {account_id}: could not assume role {role_arn}: InvalidRoleArn: the role ARN {problem}")]
    InvalidRoleArn {
        account_id: String,
        role_arn: String,
        /// What is wrong with it ("is not an ARN", "names a role in another account", ...).
        problem: &'static str,
    },
    /// STS (or the credentials chain in front of it) refused the role.
    #[error("account {account_id}: {source}")]
    Assume {
        account_id: String,
        #[source]
        source: AssumeRoleError,
    },
}

impl SessionError {
    /// The account whose session could not be opened.
    pub fn account_id(&self) -> &str {
        match self {
            SessionError::InvalidRoleArn { account_id, .. }
            | SessionError::Assume { account_id, .. } => account_id,
        }
    }

    /// The error code: `InvalidRoleArn`, or what STS answered (`AccessDenied`,
    /// `ValidationError`, ...) or the credentials failure kind when STS was not reached.
    pub fn code(&self) -> &str {
        match self {
            SessionError::InvalidRoleArn { .. } => "InvalidRoleArn",
            SessionError::Assume { source, .. } => source.code(),
        }
    }
}

/// The role qrie assumes in `account`: the accounts table's `RoleArn`, or, when that is empty,
/// the default scanner role by name in the account's commercial partition.
pub fn role_arn(config: &Config, account: &Account) -> String {
    if account.role_arn.is_empty() {
        format!(
            "arn:aws:iam::{}:role/{}",
            account.account_id, config.scanner_role_name
        )
    } else {
        account.role_arn.clone()
    }
}

/// Assumes the account's role (with its ExternalId) and returns the session reading through it.
/// `session_name` names the caller in the account's CloudTrail (`qrie-inventory`, ...).
pub async fn open_session(
    config: &Config,
    base_sdk: &SdkConfig,
    account: &Account,
    session_name: &str,
) -> Result<AccountSession, SessionError> {
    let role_arn = role_arn(config, account);
    if let Some(problem) = role_arn_problem(&role_arn, &account.account_id) {
        return Err(SessionError::InvalidRoleArn {
            account_id: account.account_id.clone(),
            role_arn,
            problem,
        });
    }
    let sdk = crate::aws::assume_account_role(
        base_sdk,
        &role_arn,
        account.external_id.as_deref(),
        session_name,
    )
    .await
    .map_err(|source| SessionError::Assume {
        account_id: account.account_id.clone(),
        source,
    })?;
    Ok(AccountSession {
        account: account.clone(),
        sdk,
        settings: config.aws.clone(),
    })
}

/// Why a role ARN from the accounts table cannot be the account's role, if it cannot: it must
/// be `arn:<partition>:iam::<account>:role/<name>` in that very account, or qrie would read
/// another account's resources and store them under this one.
fn role_arn_problem(role_arn: &str, account_id: &str) -> Option<&'static str> {
    let fields: Vec<&str> = role_arn.splitn(6, ':').collect();
    let [arn, _partition, service, region, account, resource] = fields[..] else {
        return Some("is not an ARN");
    };
    if arn != "arn" || service != "iam" || !region.is_empty() {
        return Some("is not an IAM ARN");
    }
    if !resource.starts_with("role/") || resource.len() == "role/".len() {
        return Some("is not a role ARN");
    }
    if account != account_id {
        return Some("names a role in another account");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACCOUNT: &str = "111122223333";

    fn account(role_arn: &str) -> Account {
        Account {
            account_id: ACCOUNT.into(),
            role_arn: role_arn.into(),
            external_id: None,
            regions: vec!["us-east-1".into()],
            enabled: true,
            name: None,
        }
    }

    fn config() -> Config {
        Config::from_lookup(|_| None).expect("the empty environment is a valid configuration")
    }

    #[test]
    fn the_role_allows_each_collectors_calls_and_the_object_scanners_reads_once() {
        // when the role's permissions are listed
        let perms = role_permissions();
        // then every collector's permissions come first, in order
        for (service, declared) in super::super::declared_permissions() {
            let (_, all) = perms
                .iter()
                .find(|(s, _)| *s == service)
                .expect("every collector's service is granted");
            assert_eq!(&all[..declared.len()], declared, "{service}");
        }
        // and under s3 every object-scan read is there exactly once
        let (_, s3) = perms
            .iter()
            .find(|(s, _)| *s == Service::S3)
            .expect("s3 is granted");
        for p in OBJECT_SCAN_PERMISSIONS {
            assert_eq!(s3.iter().filter(|q| *q == p).count(), 1, "{p}");
        }
    }

    #[test]
    fn role_arns_in_every_partition_of_the_account_are_accepted() {
        for partition in ["aws", "aws-cn", "aws-us-gov"] {
            let arn = format!("arn:{partition}:iam::{ACCOUNT}:role/qrie-scanner");
            assert_eq!(role_arn_problem(&arn, ACCOUNT), None, "{arn}");
        }
        // and a role under a path is still a role
        let arn = format!("arn:aws:iam::{ACCOUNT}:role/security/qrie-scanner");
        assert_eq!(role_arn_problem(&arn, ACCOUNT), None);
    }

    #[test]
    fn role_arns_that_cannot_be_the_accounts_role_say_why() {
        let cases = [
            ("qrie-scanner", "is not an ARN"),
            ("arn:aws:s3:::bucket/x", "is not an IAM ARN"),
            (
                "arn:aws:iam:us-east-1:111122223333:role/r",
                "is not an IAM ARN",
            ),
            ("arn:aws:iam::111122223333:user/alice", "is not a role ARN"),
            ("arn:aws:iam::111122223333:role/", "is not a role ARN"),
            (
                "arn:aws:iam::444455556666:role/r",
                "names a role in another account",
            ),
        ];
        for (arn, problem) in cases {
            assert_eq!(role_arn_problem(arn, ACCOUNT), Some(problem), "{arn}");
        }
    }

    #[test]
    fn an_empty_role_arn_means_the_default_scanner_role() {
        // given an account row without a RoleArn
        let config = config();
        // when its role is named
        let arn = role_arn(&config, &account(""));
        // then it is the scanner role in that account
        assert_eq!(
            arn,
            format!("arn:aws:iam::{ACCOUNT}:role/{}", config.scanner_role_name)
        );
        assert_eq!(
            role_arn(&config, &account("arn:aws:iam::111122223333:role/mine")),
            "arn:aws:iam::111122223333:role/mine"
        );
    }

    #[tokio::test]
    async fn a_role_in_another_account_is_refused_before_sts_is_called() {
        // given an account whose RoleArn names another account's role, and an SDK
        // configuration that could not reach any STS (no endpoint, no credentials)
        let config = config();
        let sdk = SdkConfig::builder().build();
        let account = account("arn:aws:iam::444455556666:role/qrie-scanner");
        // when its session is opened
        let err = open_session(&config, &sdk, &account, "qrie-test")
            .await
            .err()
            .expect("the session must not open");
        // then the error is typed, names the account, and reads as it always has
        assert_eq!(err.code(), "InvalidRoleArn");
        assert_eq!(err.account_id(), ACCOUNT);
        assert_eq!(
            err.to_string(),
            "account 111122223333: could not assume role arn:aws:iam::444455556666:role/qrie-scanner: \
             InvalidRoleArn: the role ARN names a role in another account"
        );
    }
}
