//! The IAM collector: users, groups, roles, customer managed policies, the password policy, the
//! root user, server certificates, SAML and OIDC providers and the account's access aggregate, each
//! normalised so that a policy judges one resource on its own.
//!
//! IAM is global: every resource is stored in the partition `<account>_iam` with the region
//! `us-east-1` (IAM's home in the `aws` partition; `cn-north-1` and `us-gov-west-1` in the
//! others, [`iam_region`]), which is also the region CloudTrail records IAM events in, so the
//! inventory and an event agree on one stored item. The ARN of a user, group, role or policy is
//! formed from its name without its path (`arn:aws:iam::111122223333:user/alice` for
//! `user/division/alice`): names are unique in an account whatever the path, and most events
//! carry only the name, so the trail extraction forms the same ARN (the real ARN is the
//! configuration's `Arn`).
//!
//! One `GetAccountAuthorizationDetails` listing (paginated) gives every user, group, role and
//! managed policy with their documents; `ListUsers` adds when each password was last used; each
//! user then costs `GetLoginProfile`, `ListMFADevices`, `ListAccessKeys` and one
//! `GetAccessKeyLastUsed` per key. Documents arrive URL-encoded and are stored decoded, with
//! `Statement` always a list ([`super::s3::normalise_policy`]).
//!
//! Normalised configurations (the kinds' schemas below are the reference):
//!
//! ```text
//! User    UserName, UserId, Arn, Path, AccountId, CreateDate, PasswordLastUsed,
//!         LoginProfile {CreateDate, PasswordResetRequired} | null,
//!         MfaDevices [{SerialNumber, EnableDate, Virtual}], AccessKeys [{AccessKeyId, Status,
//!         CreateDate, LastUsedDate, LastUsedService}], PermissionsBoundary, Tags,
//!         Permissions {AttachedPolicies [{PolicyName, PolicyArn, Document}],
//!                      InlinePolicies [{PolicyName, Document}],
//!                      Groups [{GroupName, AttachedPolicies, InlinePolicies}]}
//! Group   GroupName, GroupId, Arn, Path, AccountId, CreateDate, Permissions {AttachedPolicies,
//!         InlinePolicies}, Members [{UserName, ConsoleAccess, MfaActive}]
//! Role    RoleName, RoleId, Arn, Path, AccountId, CreateDate, ServiceLinked,
//!         AssumeRolePolicyDocument, InstanceProfiles (names), InstanceProfileArns, RoleLastUsed {LastUsedDate, Region} | null,
//!         PermissionsBoundary, Tags, Permissions {AttachedPolicies, InlinePolicies}
//! ManagedPolicy  PolicyName, PolicyId, Arn, Path, AccountId, DefaultVersionId,
//!         AttachmentCount, PermissionsBoundaryUsageCount, IsAttachable, CreateDate, UpdateDate,
//!         Document (the default version's)
//! PasswordPolicy AccountId, PasswordPolicy {...} | null (null: the account has none)
//! RootUser       AccountId, Arn, MfaEnabled, AccessKeysPresent, VirtualMfa,
//!                CredentialReport {PasswordLastUsed, AccessKey1Active, AccessKey1LastUsed,
//!                AccessKey2Active, AccessKey2LastUsed} (the report's `<root_account>` row)
//! SAMLProvider   Name, Arn, AccountId, CreateDate, ValidUntil
//! OIDCProvider   Url, Arn, AccountId, CreateDate, ClientIDList, ThumbprintList, Tags
//! AccountAccess  AccountId, SupportRoles, SecurityAuditRoles (the roles the AWS-managed
//!                AWSSupportAccess / SecurityAudit policies are attached to), SamlProviders,
//!                OidcProviders (ARNs)
//! ```
//!
//! The account access aggregate is built only from a complete read of its inputs (the
//! authorization details and both provider listings; a provider listing that fails fails the
//! service's listing, as the other listings do); it is stale after a role's managed policies
//! change (AttachRolePolicy, DetachRolePolicy, DeleteRole) and after a provider is created or
//! deleted.
//!
//! A failed call never reads as an absent setting: a user whose own calls fail is a
//! [`Collected::Failed`] entry (left as stored); a failed `GetAccountPasswordPolicy` makes the
//! password policy a failed entry (only `NoSuchEntity` means "no policy"); a failed listing fails
//! the whole service's listing (nothing removed); when the credential report or the virtual MFA
//! listing cannot be read, the root user is stored with those parts in its `Unreadable` list, and
//! the policies reading them are not evaluated.
//!
//! What makes a stored resource stale (the events that refresh it are the kinds' rules in
//! `trail::catalog`): a user depends on the groups it is in and on the managed policies attached
//! to it or to its groups; a group on its members' MFA and console access; a role on its
//! attached managed policies. A describe re-reads the account's authorization details, so a
//! re-described resource embeds the current documents of everything it depends on.

use std::collections::{BTreeMap, HashMap, HashSet};

use aws_sdk_iam::error::ProvideErrorMetadata;
use aws_sdk_iam::types::{
    AttachedPermissionsBoundary, AttachedPolicy, EntityType, ManagedPolicyDetail, PolicyDetail,
    SummaryKeyType, Tag,
};
use chrono::Utc;
use futures::StreamExt;
use serde_json::{json, Value};
use tokio::sync::mpsc::Sender;
use tracing::warn;

use super::{call_failure, AccountSession, Collected, CollectionError, Completeness, Described};
use crate::arn::{ArnScope, ArnShape};
use crate::model::{Resource, Service, UnreadablePart, UNREADABLE};
use crate::policy::schema::{Field, Type, UNREADABLE_FIELD};
use crate::registry::{Residence, ResourceKind, ServiceEntry};

/// IAM in the registry: its kinds, listed together by [`collect`] (one global listing).
pub const SERVICE: ServiceEntry = ServiceEntry {
    service: Service::Iam,
    kinds: &[
        &USER,
        &GROUP,
        &ROLE,
        &MANAGED_POLICY,
        &PASSWORD_POLICY,
        &ROOT_USER,
        &SERVER_CERTIFICATE,
        &SAML_PROVIDER,
        &OIDC_PROVIDER,
        &ACCOUNT_ACCESS,
    ],
    collect: |session, out| {
        Box::pin(async move { Completeness::of_global(collect(session, out).await) })
    },
};

/// What listing the account's users, groups, roles and policies needs.
const LISTING: &[&str] = &[
    "iam:GetAccountAuthorizationDetails",
    "iam:ListUsers",
    "iam:GetLoginProfile",
    "iam:ListMFADevices",
    "iam:ListAccessKeys",
    "iam:GetAccessKeyLastUsed",
    "iam:ListVirtualMFADevices",
];

pub const USER: ResourceKind = ResourceKind {
    shape: ArnShape::new(
        Service::Iam,
        "iam",
        "AWS::IAM::User",
        ArnScope::Account,
        "user/",
    )
    .pathed(),
    residence: Residence::Global,
    permissions: LISTING,
    fields: USER_FIELDS,
    describe: |session, name| Box::pin(describe_one(session, Kind::User, name)),
    dependents: None,
    relations: &[],
};

pub const GROUP: ResourceKind = ResourceKind {
    shape: ArnShape::new(
        Service::Iam,
        "iam",
        "AWS::IAM::Group",
        ArnScope::Account,
        "group/",
    )
    .pathed(),
    residence: Residence::Global,
    permissions: LISTING,
    fields: GROUP_FIELDS,
    describe: |session, name| Box::pin(describe_one(session, Kind::Group, name)),
    dependents: Some(group_dependents),
    relations: &[],
};

pub const ROLE: ResourceKind = ResourceKind {
    shape: ArnShape::new(
        Service::Iam,
        "iam",
        "AWS::IAM::Role",
        ArnScope::Account,
        "role/",
    )
    .pathed(),
    residence: Residence::Global,
    permissions: &["iam:GetAccountAuthorizationDetails"],
    fields: ROLE_FIELDS,
    describe: |session, name| Box::pin(describe_one(session, Kind::Role, name)),
    dependents: None,
    relations: &[],
};

/// A customer managed policy (AWS-managed policies are judged where they are attached: their
/// ARN belongs to no customer account).
pub const MANAGED_POLICY: ResourceKind = ResourceKind {
    shape: ArnShape::new(
        Service::Iam,
        "iam",
        "AWS::IAM::ManagedPolicy",
        ArnScope::Account,
        "policy/",
    )
    .pathed(),
    residence: Residence::Global,
    permissions: &["iam:GetAccountAuthorizationDetails"],
    fields: MANAGED_POLICY_FIELDS,
    describe: |session, name| Box::pin(describe_one(session, Kind::Policy, name)),
    dependents: Some(policy_dependents),
    relations: &[],
};

pub const PASSWORD_POLICY: ResourceKind = ResourceKind {
    shape: ArnShape::new(
        Service::Iam,
        "iam",
        "AWS::IAM::PasswordPolicy",
        ArnScope::Account,
        "account-password-policy",
    )
    .singleton(),
    residence: Residence::Global,
    permissions: &["iam:GetAccountPasswordPolicy"],
    fields: PASSWORD_POLICY_FIELDS,
    describe: |session, _| Box::pin(describe_password_policy(session)),
    dependents: None,
    relations: &[],
};

/// The account's root user (`arn:aws:iam::<account>:root`): the account summary, the credential
/// report's root row and whether its MFA device is virtual.
pub const ROOT_USER: ResourceKind = ResourceKind {
    shape: ArnShape::new(
        Service::Iam,
        "iam",
        "AWS::IAM::RootUser",
        ArnScope::Account,
        "root",
    )
    .singleton(),
    residence: Residence::Global,
    permissions: &[
        "iam:GetAccountSummary",
        "iam:GenerateCredentialReport",
        "iam:GetCredentialReport",
        "iam:ListVirtualMFADevices",
    ],
    fields: ROOT_USER_FIELDS,
    describe: |session, _| Box::pin(describe_root(session)),
    dependents: None,
    relations: &[],
};

/// A server certificate stored in IAM.
pub const SERVER_CERTIFICATE: ResourceKind = ResourceKind {
    shape: ArnShape::new(
        Service::Iam,
        "iam",
        "AWS::IAM::ServerCertificate",
        ArnScope::Account,
        "server-certificate/",
    )
    .pathed(),
    residence: Residence::Global,
    permissions: &["iam:ListServerCertificates"],
    fields: SERVER_CERTIFICATE_FIELDS,
    describe: |session, name| Box::pin(describe_certificate(session, name)),
    dependents: None,
    relations: &[],
};

/// A SAML identity provider: `arn:aws:iam::<account>:saml-provider/<name>`.
pub const SAML_PROVIDER: ResourceKind = ResourceKind {
    shape: ArnShape::new(
        Service::Iam,
        "iam",
        "AWS::IAM::SAMLProvider",
        ArnScope::Account,
        "saml-provider/",
    ),
    residence: Residence::Global,
    permissions: &["iam:ListSAMLProviders"],
    fields: SAML_PROVIDER_FIELDS,
    describe: |session, name| Box::pin(describe_saml_provider(session, name)),
    dependents: None,
    relations: &[],
};

/// An OpenID Connect identity provider: `arn:aws:iam::<account>:oidc-provider/<host and path>`
/// (the id is the provider's URL without `https://`).
pub const OIDC_PROVIDER: ResourceKind = ResourceKind {
    shape: ArnShape::new(
        Service::Iam,
        "iam",
        "AWS::IAM::OIDCProvider",
        ArnScope::Account,
        "oidc-provider/",
    ),
    residence: Residence::Global,
    permissions: &[
        "iam:ListOpenIDConnectProviders",
        "iam:GetOpenIDConnectProvider",
    ],
    fields: OIDC_PROVIDER_FIELDS,
    describe: |session, name| Box::pin(describe_oidc_provider(session, name)),
    dependents: None,
    relations: &[],
};

/// The account's IAM access aggregate (`arn:aws:iam::<account>:account-access`): the roles
/// holding the AWS-managed AWSSupportAccess and SecurityAudit policies and the account's
/// identity providers, built only from a complete read of all of them.
pub const ACCOUNT_ACCESS: ResourceKind = ResourceKind {
    shape: ArnShape::new(
        Service::Iam,
        "iam",
        "AWS::IAM::AccountAccess",
        ArnScope::Account,
        "account-access",
    )
    .singleton(),
    residence: Residence::Global,
    permissions: &[
        "iam:GetAccountAuthorizationDetails",
        "iam:ListSAMLProviders",
        "iam:ListOpenIDConnectProviders",
    ],
    fields: ACCOUNT_ACCESS_FIELDS,
    describe: |session, _| Box::pin(describe_account_access(session)),
    dependents: None,
    relations: &[],
};

const SAML_PROVIDER_FIELDS: &[Field] = &[
    Field::new("Name", Type::String),
    Field::new("Arn", Type::String),
    Field::new("AccountId", Type::String),
    Field::new("CreateDate", Type::String).nullable(),
    Field::new("ValidUntil", Type::String).nullable(),
];

const OIDC_PROVIDER_FIELDS: &[Field] = &[
    Field::new("Url", Type::String).nullable(),
    Field::new("Arn", Type::String),
    Field::new("AccountId", Type::String),
    Field::new("CreateDate", Type::String).nullable(),
    Field::new("ClientIDList", Type::Array(&Type::String)),
    Field::new("ThumbprintList", Type::Array(&Type::String)),
    TAGS,
];

const ACCOUNT_ACCESS_FIELDS: &[Field] = &[
    Field::new("AccountId", Type::String),
    Field::new("SupportRoles", Type::Array(&Type::String)),
    Field::new("SecurityAuditRoles", Type::Array(&Type::String)),
    Field::new("SamlProviders", Type::Array(&Type::String)),
    Field::new("OidcProviders", Type::Array(&Type::String)),
];

const SERVER_CERTIFICATE_FIELDS: &[Field] = &[
    Field::new("ServerCertificateName", Type::String),
    Field::new("ServerCertificateId", Type::String).nullable(),
    Field::new("Arn", Type::String).nullable(),
    Field::new("Path", Type::String).nullable(),
    Field::new("AccountId", Type::String),
    Field::new("UploadDate", Type::String).nullable(),
    Field::new("Expiration", Type::String).nullable(),
];

const TAGS: Field = Field::new(
    "Tags",
    Type::Array(&Type::Object(&[
        Field::new("Key", Type::String),
        Field::new("Value", Type::String),
    ])),
);
const BOUNDARY: Field = Field::new(
    "PermissionsBoundary",
    Type::Object(&[
        Field::new("PermissionsBoundaryArn", Type::String).nullable(),
        Field::new("PermissionsBoundaryType", Type::String).nullable(),
    ]),
)
.nullable();
const ATTACHED: Field = Field::new(
    "AttachedPolicies",
    Type::Array(&Type::Object(&[
        Field::new("PolicyName", Type::String).nullable(),
        Field::new("PolicyArn", Type::String).nullable(),
        // null when the policy's document was not in the account's details
        Field::new("Document", Type::Any).nullable(),
    ])),
);
const INLINE: Field = Field::new(
    "InlinePolicies",
    Type::Array(&Type::Object(&[
        Field::new("PolicyName", Type::String).nullable(),
        Field::new("Document", Type::Any),
    ])),
);
const PERMISSIONS: &[Field] = &[ATTACHED, INLINE];
const USER_PERMISSIONS: &[Field] = &[
    ATTACHED,
    INLINE,
    Field::new(
        "Groups",
        Type::Array(&Type::Object(&[
            Field::new("GroupName", Type::String),
            ATTACHED,
            INLINE,
        ])),
    ),
];

const USER_FIELDS: &[Field] = &[
    Field::new("UserName", Type::String),
    Field::new("UserId", Type::String).nullable(),
    Field::new("Arn", Type::String).nullable(),
    Field::new("Path", Type::String).nullable(),
    Field::new("AccountId", Type::String),
    Field::new("CreateDate", Type::String).nullable(),
    Field::new("PasswordLastUsed", Type::String).nullable(),
    Field::new(
        "LoginProfile",
        Type::Object(&[
            Field::new("CreateDate", Type::String).nullable(),
            Field::new("PasswordResetRequired", Type::Bool),
        ]),
    )
    .nullable(),
    Field::new(
        "MfaDevices",
        Type::Array(&Type::Object(&[
            Field::new("SerialNumber", Type::String),
            Field::new("EnableDate", Type::String).nullable(),
            Field::new("Virtual", Type::Bool),
        ])),
    ),
    Field::new(
        "AccessKeys",
        Type::Array(&Type::Object(&[
            Field::new("AccessKeyId", Type::String).nullable(),
            Field::new("Status", Type::String).nullable(),
            Field::new("CreateDate", Type::String).nullable(),
            Field::new("LastUsedDate", Type::String).nullable(),
            Field::new("LastUsedService", Type::String).nullable(),
        ])),
    ),
    BOUNDARY,
    TAGS,
    Field::new("Permissions", Type::Object(USER_PERMISSIONS)),
];

const GROUP_FIELDS: &[Field] = &[
    Field::new("GroupName", Type::String),
    Field::new("GroupId", Type::String).nullable(),
    Field::new("Arn", Type::String).nullable(),
    Field::new("Path", Type::String).nullable(),
    Field::new("AccountId", Type::String),
    Field::new("CreateDate", Type::String).nullable(),
    Field::new("Permissions", Type::Object(PERMISSIONS)),
    Field::new(
        "Members",
        Type::Array(&Type::Object(&[
            Field::new("UserName", Type::String),
            Field::new("ConsoleAccess", Type::Bool),
            Field::new("MfaActive", Type::Bool),
        ])),
    ),
    UNREADABLE_FIELD,
];

const ROLE_FIELDS: &[Field] = &[
    Field::new("RoleName", Type::String),
    Field::new("RoleId", Type::String).nullable(),
    Field::new("Arn", Type::String).nullable(),
    Field::new("Path", Type::String).nullable(),
    Field::new("AccountId", Type::String),
    Field::new("CreateDate", Type::String).nullable(),
    Field::new("ServiceLinked", Type::Bool),
    Field::new("AssumeRolePolicyDocument", Type::Any).nullable(),
    Field::new("InstanceProfiles", Type::Array(&Type::String)),
    Field::new("InstanceProfileArns", Type::Array(&Type::String)),
    Field::new(
        "RoleLastUsed",
        Type::Object(&[
            Field::new("LastUsedDate", Type::String).nullable(),
            Field::new("Region", Type::String).nullable(),
        ]),
    )
    .nullable(),
    BOUNDARY,
    TAGS,
    Field::new("Permissions", Type::Object(PERMISSIONS)),
];

const MANAGED_POLICY_FIELDS: &[Field] = &[
    Field::new("PolicyName", Type::String),
    Field::new("PolicyId", Type::String).nullable(),
    Field::new("Arn", Type::String).nullable(),
    Field::new("Path", Type::String).nullable(),
    Field::new("AccountId", Type::String),
    Field::new("DefaultVersionId", Type::String).nullable(),
    Field::new("AttachmentCount", Type::Number),
    Field::new("PermissionsBoundaryUsageCount", Type::Number),
    Field::new("IsAttachable", Type::Bool),
    Field::new("CreateDate", Type::String).nullable(),
    Field::new("UpdateDate", Type::String).nullable(),
    Field::new("Document", Type::Any).nullable(),
    Field::new(
        "AppliesTo",
        Type::Object(&[
            Field::new("Users", Type::Array(&Type::String)),
            Field::new("Groups", Type::Array(&Type::String)),
            Field::new("Roles", Type::Array(&Type::String)),
        ]),
    ),
];

const PASSWORD_POLICY_FIELDS: &[Field] = &[
    Field::new("AccountId", Type::String),
    Field::new(
        "PasswordPolicy",
        Type::Object(&[
            Field::new("MinimumPasswordLength", Type::Number).nullable(),
            Field::new("RequireSymbols", Type::Bool),
            Field::new("RequireNumbers", Type::Bool),
            Field::new("RequireUppercaseCharacters", Type::Bool),
            Field::new("RequireLowercaseCharacters", Type::Bool),
            Field::new("AllowUsersToChangePassword", Type::Bool),
            Field::new("ExpirePasswords", Type::Bool),
            Field::new("MaxPasswordAge", Type::Number).nullable(),
            Field::new("PasswordReusePrevention", Type::Number).nullable(),
            Field::new("HardExpiry", Type::Bool).nullable(),
        ]),
    )
    .nullable(),
];

const ROOT_USER_FIELDS: &[Field] = &[
    Field::new("AccountId", Type::String),
    Field::new("Arn", Type::String),
    Field::new("MfaEnabled", Type::Bool),
    Field::new("AccessKeysPresent", Type::Bool),
    Field::new("VirtualMfa", Type::Bool).optional(),
    Field::new(
        "CredentialReport",
        Type::Object(&[
            Field::new("PasswordLastUsed", Type::String).nullable(),
            Field::new("AccessKey1Active", Type::Bool),
            Field::new("AccessKey1LastUsed", Type::String).nullable(),
            Field::new("AccessKey2Active", Type::Bool),
            Field::new("AccessKey2LastUsed", Type::String).nullable(),
        ]),
    )
    .optional(),
    UNREADABLE_FIELD,
];

/// Users whose credentials are read at once.
const USER_CONCURRENCY: usize = 8;
/// How many times the credential report is asked for while AWS generates it.
const REPORT_ATTEMPTS: u32 = 10;
/// The wait between two asks.
const REPORT_WAIT: std::time::Duration = std::time::Duration::from_millis(500);

/// The region IAM's calls go to and IAM resources are stored under, in `partition`.
pub fn iam_region(partition: &str) -> &'static str {
    match partition {
        "aws-cn" => "cn-north-1",
        "aws-us-gov" => "us-gov-west-1",
        _ => "us-east-1",
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    User,
    Group,
    Role,
    Policy,
    PasswordPolicy,
    Root,
    Certificate,
    Saml,
    Oidc,
    Access,
}

/// The registered kind (async code names the kinds through this function: a kind's describe
/// cannot name its own constant inside the future it returns).
fn kind(k: Kind) -> &'static ResourceKind {
    match k {
        Kind::User => &USER,
        Kind::Group => &GROUP,
        Kind::Role => &ROLE,
        Kind::Policy => &MANAGED_POLICY,
        Kind::PasswordPolicy => &PASSWORD_POLICY,
        Kind::Root => &ROOT_USER,
        Kind::Certificate => &SERVER_CERTIFICATE,
        Kind::Saml => &SAML_PROVIDER,
        Kind::Oidc => &OIDC_PROVIDER,
        Kind::Access => &ACCOUNT_ACCESS,
    }
}

/// The ARN qrie stores for the `kind` resource named `name` (no path; see the module docs).
pub fn arn_of(session: &AccountSession, kind: &ResourceKind, name: &str) -> String {
    kind.arn(session.partition(), "", &session.account.account_id, name)
}

fn client(session: &AccountSession) -> aws_sdk_iam::Client {
    aws_sdk_iam::Client::new(&session.config_in(iam_region(session.partition())))
}

fn failure<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(
    session: &AccountSession,
    resource: Option<String>,
    operation: &str,
    err: &aws_sdk_iam::error::SdkError<E, R>,
) -> CollectionError {
    let (code, message) = call_failure(err);
    CollectionError {
        account_id: session.account.account_id.clone(),
        service: Service::Iam,
        region: None,
        resource,
        operation: operation.into(),
        code,
        message,
    }
}

fn date(d: Option<&aws_sdk_iam::primitives::DateTime>) -> Value {
    d.map(|d| json!(d.to_string())).unwrap_or(Value::Null)
}

/// Decodes a URL-encoded IAM document (`%7B%22Version...`) and normalises it; a document that is
/// already JSON is taken as it is.
pub fn decode_document(text: &str) -> Value {
    if serde_json::from_str::<Value>(text).is_ok() {
        return super::s3::normalise_policy(text);
    }
    super::s3::normalise_policy(&percent_decode(text))
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' && i + 2 < bytes.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(if b == b'+' { b' ' } else { b });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn tags(tags: &[Tag]) -> Value {
    Value::Array(
        tags.iter()
            .map(|t| json!({"Key": t.key(), "Value": t.value()}))
            .collect(),
    )
}

fn boundary(b: Option<&AttachedPermissionsBoundary>) -> Value {
    b.map(|b| {
        json!({
            "PermissionsBoundaryArn": b.permissions_boundary_arn(),
            "PermissionsBoundaryType": b.permissions_boundary_type().map(|t| t.as_str()),
        })
    })
    .unwrap_or(Value::Null)
}

/// Everything one `GetAccountAuthorizationDetails` listing gives, plus `ListUsers`' password
/// dates.
#[derive(Default)]
struct Details {
    users: Vec<aws_sdk_iam::types::UserDetail>,
    groups: Vec<aws_sdk_iam::types::GroupDetail>,
    roles: Vec<aws_sdk_iam::types::RoleDetail>,
    /// Managed policies (customer and the AWS-managed ones attached), by ARN.
    policies: BTreeMap<String, ManagedPolicyDetail>,
    password_last_used: HashMap<String, Value>,
}

async fn details(session: &AccountSession, with_users: bool) -> Result<Details, CollectionError> {
    let iam = client(session);
    let mut d = Details::default();
    let mut pages = iam
        .get_account_authorization_details()
        .filter(EntityType::User)
        .filter(EntityType::Group)
        .filter(EntityType::Role)
        .filter(EntityType::LocalManagedPolicy)
        .filter(EntityType::AwsManagedPolicy)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page =
            page.map_err(|e| failure(session, None, "GetAccountAuthorizationDetails", &e))?;
        d.users.extend(page.user_detail_list().iter().cloned());
        d.groups.extend(page.group_detail_list().iter().cloned());
        d.roles.extend(page.role_detail_list().iter().cloned());
        for p in page.policies() {
            if let Some(arn) = p.arn() {
                d.policies.insert(arn.to_owned(), p.clone());
            }
        }
    }
    if with_users {
        let mut pages = iam.list_users().into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| failure(session, None, "ListUsers", &e))?;
            for u in page.users() {
                d.password_last_used
                    .insert(u.user_name().to_owned(), date(u.password_last_used()));
            }
        }
    }
    Ok(d)
}

fn default_document(p: &ManagedPolicyDetail) -> Value {
    p.policy_version_list()
        .iter()
        .find(|v| v.is_default_version())
        .and_then(|v| v.document())
        .map(decode_document)
        .unwrap_or(Value::Null)
}

fn attached(list: &[AttachedPolicy], d: &Details) -> Value {
    Value::Array(
        list.iter()
            .map(|a| {
                let doc = a
                    .policy_arn()
                    .and_then(|arn| d.policies.get(arn))
                    .map(default_document)
                    .unwrap_or(Value::Null);
                json!({"PolicyName": a.policy_name(), "PolicyArn": a.policy_arn(), "Document": doc})
            })
            .collect(),
    )
}

fn inline(list: &[PolicyDetail]) -> Value {
    Value::Array(
        list.iter()
            .map(|p| {
                json!({
                    "PolicyName": p.policy_name(),
                    "Document": p.policy_document().map(decode_document).unwrap_or(json!({"Statement": []})),
                })
            })
            .collect(),
    )
}

/// A user's own credentials: login profile, MFA devices, access keys with their last use.
#[derive(Debug, Clone)]
struct Credentials {
    login_profile: Value,
    mfa: Value,
    keys: Value,
}

impl Credentials {
    fn console(&self) -> bool {
        !self.login_profile.is_null()
    }
    fn mfa_active(&self) -> bool {
        self.mfa.as_array().is_some_and(|a| !a.is_empty())
    }
}

async fn credentials(
    session: &AccountSession,
    iam: &aws_sdk_iam::Client,
    name: &str,
    virtual_serials: &HashSet<String>,
) -> Result<Option<Credentials>, CollectionError> {
    let arn = Some(arn_of(session, kind(Kind::User), name));
    let login_profile = match iam.get_login_profile().user_name(name).send().await {
        Ok(out) => match out.login_profile() {
            Some(p) => json!({
                "CreateDate": p.create_date().to_string(),
                "PasswordResetRequired": p.password_reset_required(),
            }),
            None => Value::Null,
        },
        Err(e) if e.code() == Some("NoSuchEntity") => {
            // No password; but a user deleted since the listing is also NoSuchEntity, which the
            // next call tells apart.
            Value::Null
        }
        Err(e) => return Err(failure(session, arn, "GetLoginProfile", &e)),
    };
    let mut mfa = Vec::new();
    let mut pages = iam
        .list_mfa_devices()
        .user_name(name)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = match page {
            Ok(p) => p,
            Err(e) if e.code() == Some("NoSuchEntity") => return Ok(None),
            Err(e) => return Err(failure(session, arn, "ListMFADevices", &e)),
        };
        for m in page.mfa_devices() {
            let serial = m.serial_number();
            mfa.push(json!({
                "SerialNumber": serial,
                "EnableDate": m.enable_date().to_string(),
                "Virtual": virtual_serials.contains(serial) || serial.contains(":mfa/"),
            }));
        }
    }
    let mut keys = Vec::new();
    let mut pages = iam
        .list_access_keys()
        .user_name(name)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = match page {
            Ok(p) => p,
            Err(e) if e.code() == Some("NoSuchEntity") => return Ok(None),
            Err(e) => return Err(failure(session, arn, "ListAccessKeys", &e)),
        };
        for k in page.access_key_metadata() {
            let (last_date, last_service) = match k.access_key_id() {
                Some(id) => match iam
                    .get_access_key_last_used()
                    .access_key_id(id)
                    .send()
                    .await
                {
                    Ok(out) => {
                        let used = out.access_key_last_used();
                        (
                            date(used.and_then(|u| u.last_used_date())),
                            used.map(|u| u.service_name())
                                .filter(|s| *s != "N/A")
                                .map(|s| json!(s))
                                .unwrap_or(Value::Null),
                        )
                    }
                    Err(e) => {
                        return Err(failure(session, arn, "GetAccessKeyLastUsed", &e));
                    }
                },
                None => (Value::Null, Value::Null),
            };
            keys.push(json!({
                "AccessKeyId": k.access_key_id(),
                "Status": k.status().map(|s| s.as_str()),
                "CreateDate": date(k.create_date()),
                "LastUsedDate": last_date,
                "LastUsedService": last_service,
            }));
        }
    }
    Ok(Some(Credentials {
        login_profile,
        mfa: Value::Array(mfa),
        keys: Value::Array(keys),
    }))
}

async fn virtual_mfa_serials(
    session: &AccountSession,
) -> Result<(HashSet<String>, bool), CollectionError> {
    let iam = client(session);
    let root = kind(Kind::Root).arn(session.partition(), "", &session.account.account_id, "");
    let mut serials = HashSet::new();
    let mut root_virtual = false;
    let mut pages = iam
        .list_virtual_mfa_devices()
        .assignment_status(aws_sdk_iam::types::AssignmentStatusType::Assigned)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| failure(session, None, "ListVirtualMFADevices", &e))?;
        for d in page.virtual_mfa_devices() {
            serials.insert(d.serial_number().to_owned());
            if d.user()
                .is_some_and(|u| u.arn() == root || u.arn().ends_with(":root"))
            {
                root_virtual = true;
            }
        }
    }
    Ok((serials, root_virtual))
}

fn resource(
    session: &AccountSession,
    kind: &ResourceKind,
    name: &str,
    configuration: Value,
) -> Resource {
    Resource {
        arn: arn_of(session, kind, name),
        account_id: session.account.account_id.clone(),
        service: Service::Iam,
        resource_type: kind.resource_type().into(),
        region: iam_region(session.partition()).into(),
        configuration,
        last_seen_at: Utc::now(),
    }
}

fn user_config(
    session: &AccountSession,
    u: &aws_sdk_iam::types::UserDetail,
    d: &Details,
    creds: &Credentials,
) -> Value {
    let name = u.user_name().unwrap_or_default();
    let groups: Vec<Value> = u
        .group_list()
        .iter()
        .map(|g| {
            let group = d.groups.iter().find(|x| x.group_name() == Some(g.as_str()));
            json!({
                "GroupName": g,
                "AttachedPolicies": group.map(|x| attached(x.attached_managed_policies(), d)).unwrap_or(json!([])),
                "InlinePolicies": group.map(|x| inline(x.group_policy_list())).unwrap_or(json!([])),
            })
        })
        .collect();
    json!({
        "UserName": name,
        "UserId": u.user_id(),
        "Arn": u.arn(),
        "Path": u.path(),
        "AccountId": session.account.account_id,
        "CreateDate": date(u.create_date()),
        "PasswordLastUsed": d.password_last_used.get(name).cloned().unwrap_or(Value::Null),
        "LoginProfile": creds.login_profile,
        "MfaDevices": creds.mfa,
        "AccessKeys": creds.keys,
        "PermissionsBoundary": boundary(u.permissions_boundary()),
        "Tags": tags(u.tags()),
        "Permissions": {
            "AttachedPolicies": attached(u.attached_managed_policies(), d),
            "InlinePolicies": inline(u.user_policy_list()),
            "Groups": groups,
        },
    })
}

fn group_config(
    session: &AccountSession,
    g: &aws_sdk_iam::types::GroupDetail,
    d: &Details,
    members: Vec<Value>,
) -> Value {
    json!({
        "GroupName": g.group_name(),
        "GroupId": g.group_id(),
        "Arn": g.arn(),
        "Path": g.path(),
        "AccountId": session.account.account_id,
        "CreateDate": date(g.create_date()),
        "Permissions": {
            "AttachedPolicies": attached(g.attached_managed_policies(), d),
            "InlinePolicies": inline(g.group_policy_list()),
        },
        "Members": members,
    })
}

fn role_config(session: &AccountSession, r: &aws_sdk_iam::types::RoleDetail, d: &Details) -> Value {
    json!({
        "RoleName": r.role_name(),
        "RoleId": r.role_id(),
        "Arn": r.arn(),
        "Path": r.path(),
        "AccountId": session.account.account_id,
        "CreateDate": date(r.create_date()),
        "ServiceLinked": r.path().is_some_and(|p| p.starts_with("/aws-service-role/")),
        "AssumeRolePolicyDocument": r.assume_role_policy_document().map(decode_document),
        "InstanceProfiles": r.instance_profile_list().iter().map(|p| p.instance_profile_name()).collect::<Vec<_>>(),
        "InstanceProfileArns": r.instance_profile_list().iter().map(|p| p.arn()).collect::<Vec<_>>(),
        "RoleLastUsed": r.role_last_used().map(|u| json!({
            "LastUsedDate": date(u.last_used_date()),
            "Region": u.region(),
        })),
        "PermissionsBoundary": boundary(r.permissions_boundary()),
        "Tags": tags(r.tags()),
        "Permissions": {
            "AttachedPolicies": attached(r.attached_managed_policies(), d),
            "InlinePolicies": inline(r.role_policy_list()),
        },
    })
}

/// A managed policy's name: its `PolicyName`, or the last part of its ARN (moto's account
/// details leave the name out).
fn policy_name(p: &ManagedPolicyDetail) -> &str {
    p.policy_name()
        .or_else(|| p.arn().and_then(|a| a.rsplit('/').next()))
        .unwrap_or_default()
}

fn policy_config(session: &AccountSession, p: &ManagedPolicyDetail, d: &Details) -> Value {
    let arn = p.arn().unwrap_or_default();
    let has = |list: &[AttachedPolicy]| list.iter().any(|a| a.policy_arn() == Some(arn));
    let groups: Vec<&str> = d
        .groups
        .iter()
        .filter(|g| has(g.attached_managed_policies()))
        .filter_map(|g| g.group_name())
        .collect();
    let users: Vec<&str> = d
        .users
        .iter()
        .filter(|u| {
            has(u.attached_managed_policies())
                || u.group_list().iter().any(|g| groups.contains(&g.as_str()))
        })
        .filter_map(|u| u.user_name())
        .collect();
    let roles: Vec<&str> = d
        .roles
        .iter()
        .filter(|r| has(r.attached_managed_policies()))
        .filter_map(|r| r.role_name())
        .collect();
    json!({
        "AppliesTo": {"Users": users, "Groups": groups, "Roles": roles},
        "PolicyName": policy_name(p),
        "PolicyId": p.policy_id(),
        "Arn": p.arn(),
        "Path": p.path(),
        "AccountId": session.account.account_id,
        "DefaultVersionId": p.default_version_id(),
        "AttachmentCount": p.attachment_count().unwrap_or(0),
        "PermissionsBoundaryUsageCount": p.permissions_boundary_usage_count().unwrap_or(0),
        "IsAttachable": p.is_attachable(),
        "CreateDate": date(p.create_date()),
        "UpdateDate": date(p.update_date()),
        "Document": default_document(p),
    })
}

/// What embeds a customer managed policy's document: the users it applies to (directly or
/// through a group), its groups and its roles.
fn policy_dependents(config: &Value) -> Vec<(&'static str, String)> {
    let names = |key: &str| -> Vec<String> {
        config["AppliesTo"][key]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut out = Vec::new();
    out.extend(
        names("Users")
            .into_iter()
            .map(|n| (USER.resource_type(), n)),
    );
    out.extend(
        names("Groups")
            .into_iter()
            .map(|n| (GROUP.resource_type(), n)),
    );
    out.extend(
        names("Roles")
            .into_iter()
            .map(|n| (ROLE.resource_type(), n)),
    );
    out
}

/// What embeds a group's policies: its members.
fn group_dependents(config: &Value) -> Vec<(&'static str, String)> {
    config["Members"]
        .as_array()
        .map(|members| {
            members
                .iter()
                .filter_map(|m| m["UserName"].as_str())
                .map(|n| (USER.resource_type(), n.to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

/// Customer managed: the policy's ARN names the customer's account, not `aws`.
fn is_customer_managed(session: &AccountSession, arn: &str) -> bool {
    arn.split(':').nth(4) == Some(session.account.account_id.as_str())
}

async fn send(out: &Sender<Collected>, item: Collected) {
    if out.send(item).await.is_err() {
        warn!("collection receiver dropped");
    }
}

/// Collects every IAM resource of the account into `out`. Fails (nothing removed) when the
/// account's listing fails.
pub async fn collect(
    session: &AccountSession,
    out: &Sender<Collected>,
) -> Result<(), CollectionError> {
    // The account-level resources first: each fails on its own.
    match describe_password_policy(session).await {
        Ok(Described::Found(r)) => send(out, Collected::Resource(r)).await,
        Ok(Described::NotFound) => {}
        Err(error) => {
            let arn = kind(Kind::PasswordPolicy).arn(
                session.partition(),
                "",
                &session.account.account_id,
                "",
            );
            send(out, Collected::Failed { arn, error }).await
        }
    }
    match describe_root(session).await {
        Ok(Described::Found(r)) => send(out, Collected::Resource(r)).await,
        Ok(Described::NotFound) => {}
        Err(error) => {
            let arn =
                kind(Kind::Root).arn(session.partition(), "", &session.account.account_id, "");
            send(out, Collected::Failed { arn, error }).await
        }
    }
    for cert in certificates(session).await? {
        send(out, Collected::Resource(Box::new(cert))).await;
    }
    let saml = saml_providers(session).await?;
    let oidc = oidc_providers(session).await?;
    let d = details(session, true).await?;
    let access = account_access(session, &d, &saml, &oidc);
    for provider in saml {
        send(out, Collected::Resource(Box::new(provider))).await;
    }
    for provider in oidc {
        send(out, provider).await;
    }
    send(out, Collected::Resource(Box::new(access))).await;
    let (virtual_serials, _) = virtual_mfa_serials(session).await?;
    let iam = client(session);
    let names: Vec<String> = d
        .users
        .iter()
        .filter_map(|u| u.user_name().map(str::to_owned))
        .collect();
    let mut creds: HashMap<String, Result<Option<Credentials>, CollectionError>> =
        futures::stream::iter(names)
            .map(|name| {
                let iam = &iam;
                let virtual_serials = &virtual_serials;
                async move {
                    let c = credentials(session, iam, &name, virtual_serials).await;
                    (name, c)
                }
            })
            .buffer_unordered(USER_CONCURRENCY)
            .collect()
            .await;
    for u in &d.users {
        let name = u.user_name().unwrap_or_default();
        match creds.get(name) {
            Some(Ok(Some(c))) => {
                let config = user_config(session, u, &d, c);
                send(
                    out,
                    Collected::Resource(Box::new(resource(
                        session,
                        kind(Kind::User),
                        name,
                        config,
                    ))),
                )
                .await
            }
            Some(Ok(None)) | None => {}
            Some(Err(error)) => {
                send(
                    out,
                    Collected::Failed {
                        arn: arn_of(session, kind(Kind::User), name),
                        error: error.clone(),
                    },
                )
                .await
            }
        }
    }
    for g in &d.groups {
        let name = g.group_name().unwrap_or_default();
        match members(session, &d, name, &mut creds) {
            Ok(m) => {
                let config = group_config(session, g, &d, m);
                send(
                    out,
                    Collected::Resource(Box::new(resource(
                        session,
                        kind(Kind::Group),
                        name,
                        config,
                    ))),
                )
                .await
            }
            Err(error) => {
                send(
                    out,
                    Collected::Failed {
                        arn: arn_of(session, kind(Kind::Group), name),
                        error: *error,
                    },
                )
                .await
            }
        }
    }
    for r in &d.roles {
        let name = r.role_name().unwrap_or_default();
        let config = role_config(session, r, &d);
        send(
            out,
            Collected::Resource(Box::new(resource(session, kind(Kind::Role), name, config))),
        )
        .await
    }
    for (arn, p) in &d.policies {
        if !is_customer_managed(session, arn) {
            continue;
        }
        let name = policy_name(p);
        let config = policy_config(session, p, &d);
        send(
            out,
            Collected::Resource(Box::new(resource(
                session,
                kind(Kind::Policy),
                name,
                config,
            ))),
        )
        .await
    }
    Ok(())
}

/// The members of group `name` with their console access and MFA, from credentials already read.
fn members(
    session: &AccountSession,
    d: &Details,
    name: &str,
    creds: &mut HashMap<String, Result<Option<Credentials>, CollectionError>>,
) -> Result<Vec<Value>, Box<CollectionError>> {
    let mut out = Vec::new();
    for u in d
        .users
        .iter()
        .filter(|u| u.group_list().iter().any(|g| g == name))
    {
        let user = u.user_name().unwrap_or_default();
        match creds.get(user) {
            Some(Ok(Some(c))) => out.push(json!({
                "UserName": user,
                "ConsoleAccess": c.console(),
                "MfaActive": c.mfa_active(),
            })),
            Some(Ok(None)) | None => {}
            Some(Err(e)) => {
                let mut error = e.clone();
                error.resource = Some(arn_of(session, kind(Kind::Group), name));
                return Err(Box::new(error));
            }
        }
    }
    Ok(out)
}

/// Re-describes one user, group, role or customer managed policy by name (event processor).
async fn describe_one(
    session: &AccountSession,
    which: Kind,
    name: &str,
) -> Result<Described, CollectionError> {
    let d = details(session, which == Kind::User).await?;
    let needs_creds: Vec<String> = match which {
        Kind::User => vec![name.to_owned()],
        Kind::Group => d
            .users
            .iter()
            .filter(|u| u.group_list().iter().any(|g| g == name))
            .filter_map(|u| u.user_name().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    };
    let mut creds = HashMap::new();
    if !needs_creds.is_empty() {
        let (virtual_serials, _) = virtual_mfa_serials(session).await?;
        let iam = client(session);
        for user in needs_creds {
            let c = credentials(session, &iam, &user, &virtual_serials).await;
            creds.insert(user, c);
        }
    }
    let config = match which {
        Kind::User => {
            let Some(u) = d.users.iter().find(|u| u.user_name() == Some(name)) else {
                return Ok(Described::NotFound);
            };
            match creds.remove(name) {
                Some(Ok(Some(c))) => user_config(session, u, &d, &c),
                Some(Err(e)) => return Err(e),
                _ => return Ok(Described::NotFound),
            }
        }
        Kind::Group => {
            let Some(g) = d.groups.iter().find(|g| g.group_name() == Some(name)) else {
                return Ok(Described::NotFound);
            };
            let m = members(session, &d, name, &mut creds).map_err(|e| *e)?;
            group_config(session, g, &d, m)
        }
        Kind::Role => {
            let Some(r) = d.roles.iter().find(|r| r.role_name() == Some(name)) else {
                return Ok(Described::NotFound);
            };
            role_config(session, r, &d)
        }
        Kind::Policy => {
            let Some(p) = d.policies.iter().find_map(|(arn, p)| {
                (is_customer_managed(session, arn) && policy_name(p) == name).then_some(p)
            }) else {
                return Ok(Described::NotFound);
            };
            policy_config(session, p, &d)
        }
        Kind::PasswordPolicy
        | Kind::Root
        | Kind::Certificate
        | Kind::Saml
        | Kind::Oidc
        | Kind::Access => return Ok(Described::NotFound),
    };
    Ok(Described::Found(Box::new(resource(
        session,
        kind(which),
        name,
        config,
    ))))
}

/// Every server certificate stored in IAM.
async fn certificates(session: &AccountSession) -> Result<Vec<Resource>, CollectionError> {
    let mut out = Vec::new();
    let mut pages = client(session)
        .list_server_certificates()
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| failure(session, None, "ListServerCertificates", &e))?;
        for c in page.server_certificate_metadata_list() {
            let name = c.server_certificate_name();
            let config = json!({
                "ServerCertificateName": name,
                "ServerCertificateId": c.server_certificate_id(),
                "Arn": c.arn(),
                "Path": c.path(),
                "AccountId": session.account.account_id,
                "UploadDate": date(c.upload_date()),
                "Expiration": date(c.expiration()),
            });
            out.push(resource(session, kind(Kind::Certificate), name, config));
        }
    }
    Ok(out)
}

async fn describe_certificate(
    session: &AccountSession,
    name: &str,
) -> Result<Described, CollectionError> {
    Ok(certificates(session)
        .await?
        .into_iter()
        .find(|r| r.configuration["ServerCertificateName"] == name)
        .map(|r| Described::Found(Box::new(r)))
        .unwrap_or(Described::NotFound))
}

/// Every SAML identity provider of the account.
async fn saml_providers(session: &AccountSession) -> Result<Vec<Resource>, CollectionError> {
    // ListSAMLProviders is not paginated: one call returns every provider.
    let out = client(session)
        .list_saml_providers()
        .send()
        .await
        .map_err(|e| failure(session, None, "ListSAMLProviders", &e))?;
    Ok(out
        .saml_provider_list()
        .iter()
        .filter_map(|p| {
            let arn = p.arn()?;
            let name = arn.rsplit_once("saml-provider/").map(|(_, n)| n)?;
            let config = json!({
                "Name": name,
                "Arn": arn,
                "AccountId": session.account.account_id,
                "CreateDate": date(p.create_date()),
                "ValidUntil": date(p.valid_until()),
            });
            Some(resource(session, kind(Kind::Saml), name, config))
        })
        .collect())
}

async fn describe_saml_provider(
    session: &AccountSession,
    name: &str,
) -> Result<Described, CollectionError> {
    Ok(saml_providers(session)
        .await?
        .into_iter()
        .find(|r| r.configuration["Name"] == name)
        .map(|r| Described::Found(Box::new(r)))
        .unwrap_or(Described::NotFound))
}

/// The id of an OIDC provider in its ARN (`token.actions.githubusercontent.com`).
fn oidc_id(arn: &str) -> Option<&str> {
    arn.split_once(":oidc-provider/").map(|(_, id)| id)
}

/// Every OpenID Connect provider of the account, each read with GetOpenIDConnectProvider (a
/// provider whose read fails is a failed entry of its own).
async fn oidc_providers(session: &AccountSession) -> Result<Vec<Collected>, CollectionError> {
    let iam = client(session);
    // ListOpenIDConnectProviders is not paginated: one call returns every provider.
    let listed = iam
        .list_open_id_connect_providers()
        .send()
        .await
        .map_err(|e| failure(session, None, "ListOpenIDConnectProviders", &e))?;
    let arns: Vec<String> = listed
        .open_id_connect_provider_list()
        .iter()
        .filter_map(|p| p.arn().map(str::to_owned))
        .collect();
    Ok(futures::stream::iter(arns)
        .map(|arn| {
            let iam = &iam;
            async move {
                let id = oidc_id(&arn).unwrap_or_default().to_owned();
                let stored = arn_of(session, kind(Kind::Oidc), &id);
                match oidc_provider(session, iam, &arn, &id).await {
                    Ok(Some(r)) => Some(Collected::Resource(Box::new(r))),
                    // deleted between the listing and the read
                    Ok(None) => None,
                    Err(error) => Some(Collected::Failed { arn: stored, error }),
                }
            }
        })
        .buffer_unordered(USER_CONCURRENCY)
        .filter_map(|c| async move { c })
        .collect()
        .await)
}

async fn oidc_provider(
    session: &AccountSession,
    iam: &aws_sdk_iam::Client,
    arn: &str,
    id: &str,
) -> Result<Option<Resource>, CollectionError> {
    let stored = arn_of(session, kind(Kind::Oidc), id);
    let out = match iam
        .get_open_id_connect_provider()
        .open_id_connect_provider_arn(arn)
        .send()
        .await
    {
        Ok(out) => out,
        Err(e) if e.code() == Some("NoSuchEntity") => return Ok(None),
        Err(e) => {
            return Err(failure(
                session,
                Some(stored),
                "GetOpenIDConnectProvider",
                &e,
            ))
        }
    };
    let config = json!({
        "Url": out.url(),
        "Arn": arn,
        "AccountId": session.account.account_id,
        "CreateDate": date(out.create_date()),
        "ClientIDList": out.client_id_list(),
        "ThumbprintList": out.thumbprint_list(),
        "Tags": tags(out.tags()),
    });
    Ok(Some(resource(session, kind(Kind::Oidc), id, config)))
}

async fn describe_oidc_provider(
    session: &AccountSession,
    id: &str,
) -> Result<Described, CollectionError> {
    let arn = arn_of(session, kind(Kind::Oidc), id);
    Ok(
        match oidc_provider(session, &client(session), &arn, id).await? {
            Some(r) => Described::Found(Box::new(r)),
            None => Described::NotFound,
        },
    )
}

/// The names of the roles the AWS-managed policy `name` is attached to.
fn roles_with_aws_policy(d: &Details, name: &str) -> Vec<String> {
    let suffix = format!(":iam::aws:policy/{name}");
    d.roles
        .iter()
        .filter(|r| {
            r.attached_managed_policies()
                .iter()
                .any(|a| a.policy_arn().is_some_and(|arn| arn.ends_with(&suffix)))
        })
        .filter_map(|r| r.role_name().map(str::to_owned))
        .collect()
}

/// The account's access aggregate, from a complete read of its roles and identity providers.
fn account_access(
    session: &AccountSession,
    d: &Details,
    saml: &[Resource],
    oidc: &[Collected],
) -> Resource {
    let account = &session.account.account_id;
    let oidc_arns: Vec<String> = oidc
        .iter()
        .map(|c| match c {
            Collected::Resource(r) => r.arn.clone(),
            Collected::Failed { arn, .. } => arn.clone(),
        })
        .collect();
    let config = json!({
        "AccountId": account,
        "SupportRoles": roles_with_aws_policy(d, "AWSSupportAccess"),
        "SecurityAuditRoles": roles_with_aws_policy(d, "SecurityAudit"),
        "SamlProviders": saml.iter().map(|r| r.arn.clone()).collect::<Vec<_>>(),
        "OidcProviders": oidc_arns,
    });
    resource(session, kind(Kind::Access), account, config)
}

/// Re-reads the account's access aggregate (event processor): every input again.
async fn describe_account_access(session: &AccountSession) -> Result<Described, CollectionError> {
    let saml = saml_providers(session).await?;
    let oidc = oidc_providers(session).await?;
    let d = details(session, false).await?;
    Ok(Described::Found(Box::new(account_access(
        session, &d, &saml, &oidc,
    ))))
}

/// The password policy: `PasswordPolicy: null` when the account has none (`NoSuchEntity`).
pub async fn describe_password_policy(
    session: &AccountSession,
) -> Result<Described, CollectionError> {
    let account = &session.account.account_id;
    let arn = kind(Kind::PasswordPolicy).arn(session.partition(), "", account, "");
    let policy = match client(session).get_account_password_policy().send().await {
        Ok(out) => match out.password_policy() {
            Some(p) => json!({
                "MinimumPasswordLength": p.minimum_password_length(),
                "RequireSymbols": p.require_symbols(),
                "RequireNumbers": p.require_numbers(),
                "RequireUppercaseCharacters": p.require_uppercase_characters(),
                "RequireLowercaseCharacters": p.require_lowercase_characters(),
                "AllowUsersToChangePassword": p.allow_users_to_change_password(),
                "ExpirePasswords": p.expire_passwords(),
                "MaxPasswordAge": p.max_password_age(),
                "PasswordReusePrevention": p.password_reuse_prevention(),
                "HardExpiry": p.hard_expiry(),
            }),
            None => Value::Null,
        },
        Err(e) if e.code() == Some("NoSuchEntity") => Value::Null,
        Err(e) => return Err(failure(session, Some(arn), "GetAccountPasswordPolicy", &e)),
    };
    Ok(Described::Found(Box::new(resource(
        session,
        kind(Kind::PasswordPolicy),
        account,
        json!({"AccountId": account, "PasswordPolicy": policy}),
    ))))
}

/// The root user: the account summary (required), the credential report's root row and the
/// virtual MFA listing (each unreadable on its own).
pub async fn describe_root(session: &AccountSession) -> Result<Described, CollectionError> {
    let account = session.account.account_id.clone();
    let arn = kind(Kind::Root).arn(session.partition(), "", &account, "");
    let iam = client(session);
    let summary = iam
        .get_account_summary()
        .send()
        .await
        .map_err(|e| failure(session, Some(arn.clone()), "GetAccountSummary", &e))?;
    let value = |key: SummaryKeyType| {
        summary
            .summary_map()
            .and_then(|m| m.get(&key))
            .copied()
            .unwrap_or(0)
    };
    let mut config = serde_json::Map::new();
    config.insert("AccountId".into(), json!(account));
    config.insert("Arn".into(), json!(arn));
    config.insert(
        "MfaEnabled".into(),
        json!(value(SummaryKeyType::AccountMfaEnabled) > 0),
    );
    config.insert(
        "AccessKeysPresent".into(),
        json!(value(SummaryKeyType::AccountAccessKeysPresent) > 0),
    );
    let mut unreadable = Vec::new();
    match virtual_mfa_serials(session).await {
        Ok((_, root_virtual)) => {
            config.insert("VirtualMfa".into(), json!(root_virtual));
        }
        Err(e) => unreadable.push(UnreadablePart {
            path: "VirtualMfa".into(),
            operation: e.operation,
            code: e.code,
        }),
    }
    match credential_report(session, &iam).await {
        Ok(Some(row)) => {
            config.insert("CredentialReport".into(), row);
        }
        Ok(None) => unreadable.push(UnreadablePart {
            path: "CredentialReport".into(),
            operation: "GetCredentialReport".into(),
            code: "NoRootRow".into(),
        }),
        Err((operation, code)) => unreadable.push(UnreadablePart {
            path: "CredentialReport".into(),
            operation,
            code,
        }),
    }
    if !unreadable.is_empty() {
        config.insert(
            UNREADABLE.into(),
            serde_json::to_value(unreadable).unwrap_or_else(|_| json!([{"Path": ""}])),
        );
    }
    Ok(Described::Found(Box::new(resource(
        session,
        kind(Kind::Root),
        &account,
        Value::Object(config),
    ))))
}

/// Generates the credential report, waits for it (bounded) and returns its root row; the
/// failed operation and code otherwise.
async fn credential_report(
    session: &AccountSession,
    iam: &aws_sdk_iam::Client,
) -> Result<Option<Value>, (String, String)> {
    let _ = session;
    for _ in 0..REPORT_ATTEMPTS {
        let state = iam
            .generate_credential_report()
            .send()
            .await
            .map_err(|e| ("GenerateCredentialReport".to_owned(), call_failure(&e).0))?;
        let complete = state
            .state()
            .is_some_and(|s| *s == aws_sdk_iam::types::ReportStateType::Complete);
        if complete {
            break;
        }
        tokio::time::sleep(REPORT_WAIT).await;
    }
    let report = iam
        .get_credential_report()
        .send()
        .await
        .map_err(|e| ("GetCredentialReport".to_owned(), call_failure(&e).0))?;
    let text = report
        .content()
        .map(|b| String::from_utf8_lossy(b.as_ref()).into_owned())
        .unwrap_or_default();
    Ok(root_row(&text))
}

/// The `<root_account>` row of a credential report (CSV), normalised.
pub fn root_row(csv: &str) -> Option<Value> {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next()?.split(',').collect();
    let row = lines.find(|l| l.starts_with("<root_account>,"))?;
    let cells: Vec<&str> = row.split(',').collect();
    let get = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .and_then(|i| cells.get(i))
            .copied()
    };
    let when = |name: &str| match get(name) {
        Some(v) if crate::policy::cond::parse_date(v).is_some() => json!(v),
        _ => Value::Null,
    };
    let flag = |name: &str| json!(get(name) == Some("true"));
    Some(json!({
        "PasswordLastUsed": when("password_last_used"),
        "AccessKey1Active": flag("access_key_1_active"),
        "AccessKey1LastUsed": when("access_key_1_last_used_date"),
        "AccessKey2Active": flag("access_key_2_active"),
        "AccessKey2LastUsed": when("access_key_2_last_used_date"),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_encoded_documents_are_decoded_and_statements_listed() {
        // given a document as IAM returns it, URL-encoded, with a single statement
        let encoded = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22*%22%2C%22Resource%22%3A%22*%22%7D%7D";
        // when decoded
        let doc = decode_document(encoded);
        // then it is JSON with a list of statements
        assert_eq!(
            doc["Statement"],
            json!([{"Effect": "Allow", "Action": "*", "Resource": "*"}])
        );
        // and an already decoded document is kept
        assert_eq!(
            decode_document(r#"{"Statement":[{"Effect":"Deny"}]}"#)["Statement"][0]["Effect"],
            "Deny"
        );
    }

    #[test]
    fn the_root_row_of_a_credential_report_is_read() {
        // given a report with a root row (AWS writes N/A for what never happened)
        let csv = "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date\n\
<root_account>,arn:aws:iam::111122223333:root,2020-01-01T00:00:00+00:00,not_supported,2026-11-30T10:00:00+00:00,not_supported,not_supported,true,true,2021-01-01T00:00:00+00:00,N/A,false,N/A,N/A\n\
alice,arn:aws:iam::111122223333:user/alice,2021-01-01T00:00:00+00:00,true,N/A,N/A,N/A,false,false,N/A,N/A,false,N/A,N/A\n";
        // when its root row is read
        let row = root_row(csv).unwrap();
        // then dates are kept, N/A is null and flags are booleans
        assert_eq!(row["PasswordLastUsed"], "2026-11-30T10:00:00+00:00");
        assert_eq!(row["AccessKey1Active"], true);
        assert_eq!(row["AccessKey1LastUsed"], Value::Null);
        assert_eq!(row["AccessKey2Active"], false);
        // and a report without a root row (moto's) has none
        assert!(root_row("user,arn\nalice,arn:aws:iam::1:user/alice\n").is_none());
    }

    #[test]
    fn iam_lives_in_each_partitions_home_region() {
        assert_eq!(iam_region("aws"), "us-east-1");
        assert_eq!(iam_region("aws-cn"), "cn-north-1");
        assert_eq!(iam_region("aws-us-gov"), "us-gov-west-1");
    }
}
