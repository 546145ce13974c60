//! IAM posture end to end on the local AWS: a seeded account with misconfigured users, groups,
//! roles, policies and password policy next to compliant twins; the inventory and scan find
//! exactly the misconfigurations, a second scan changes nothing, fixes resolve, and an
//! AccessDenied on one call is a collection error that neither opens nor resolves anything.

use std::collections::BTreeSet;

use lambda_runtime::{Context, LambdaEvent};
use qrie::handler::{inventory_handler, scan_handler};
use qrie::inventory::{InventoryRequest, InventorySummary};
use qrie::model::{Account, FindingState};
use qrie::scan::{ScanRequest, ScanSummary};
use qrie_tests::{inject_fault, World};
use serde_json::{json, Value};

pub async fn inventory(world: &World, account: &Account) -> InventorySummary {
    let request = InventoryRequest {
        service: "iam".into(),
        account_id: Some(account.account_id.clone()),
    };
    inventory_handler(LambdaEvent::new(request, Context::default()), &world.deps)
        .await
        .expect("inventory runs")
}

async fn scan(world: &World, account: &Account) -> ScanSummary {
    let request: ScanRequest =
        serde_json::from_value(json!({"service": "iam", "account_id": account.account_id}))
            .expect("scan request");
    scan_handler(LambdaEvent::new(request, Context::default()), &world.deps)
        .await
        .expect("scan runs")
}

/// The ACTIVE findings of the account's IAM partition as `(resource name, policy)`.
async fn active(world: &World, account: &Account) -> BTreeSet<(String, String)> {
    let partition = format!("{}_iam", account.account_id);
    world
        .deps
        .stores
        .findings
        .active_in_partition(&partition)
        .await
        .unwrap()
        .into_iter()
        .filter(|f| f.state == FindingState::Active)
        .map(|f| {
            let name = f
                .arn
                .rsplit([':', '/'])
                .next()
                .unwrap_or_default()
                .to_owned();
            (name, f.policy_id)
        })
        .collect()
}

fn pairs(items: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    items
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

const ADMIN: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
const READ: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:Get*","s3:List*"],"Resource":"*"}]}"#;

/// A SAML metadata document (moto stores it as given).
const SAML_METADATA: &str = r#"<?xml version="1.0"?><md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://idp.example.com/saml"><md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.example.com/sso"/></md:IDPSSODescriptor></md:EntityDescriptor>"#;

/// Seeds the customer account: each misconfiguration with its compliant twin.
pub async fn seed_account(world: &World, account: &Account) {
    let iam = aws_sdk_iam::Client::new(&world.as_customer(account).await);
    // A weak password policy: 8 characters, no symbols, no expiry, no reuse prevention.
    iam.update_account_password_policy()
        .minimum_password_length(8)
        .require_numbers(true)
        .require_uppercase_characters(true)
        .require_lowercase_characters(true)
        .require_symbols(false)
        .send()
        .await
        .unwrap();
    // Customer policies: one admin, one read-only.
    let admin = iam
        .create_policy()
        .policy_name("admin-all")
        .policy_document(ADMIN)
        .send()
        .await
        .unwrap();
    let admin_arn = admin.policy().and_then(|p| p.arn()).unwrap().to_owned();
    let read = iam
        .create_policy()
        .policy_name("read-only")
        .path("/team/")
        .policy_document(READ)
        .send()
        .await
        .unwrap();
    let read_arn = read.policy().and_then(|p| p.arn()).unwrap().to_owned();
    // Groups: admins hold the admin policy, readers the read-only one.
    for (group, policy) in [("admins", &admin_arn), ("readers", &read_arn)] {
        iam.create_group().group_name(group).send().await.unwrap();
        iam.attach_group_policy()
            .group_name(group)
            .policy_arn(policy)
            .send()
            .await
            .unwrap();
    }
    // Users.
    for user in [
        "admin-inline",
        "console-nomfa",
        "two-keys",
        "reader",
        "one-key",
    ] {
        iam.create_user().user_name(user).send().await.unwrap();
    }
    iam.put_user_policy()
        .user_name("admin-inline")
        .policy_name("everything")
        .policy_document(ADMIN)
        .send()
        .await
        .unwrap();
    for user in ["console-nomfa", "reader"] {
        iam.create_login_profile()
            .user_name(user)
            .password("Correct-Horse-Battery-9")
            .send()
            .await
            .unwrap();
    }
    iam.add_user_to_group()
        .group_name("admins")
        .user_name("console-nomfa")
        .send()
        .await
        .unwrap();
    iam.add_user_to_group()
        .group_name("readers")
        .user_name("reader")
        .send()
        .await
        .unwrap();
    let device = iam
        .create_virtual_mfa_device()
        .virtual_mfa_device_name("reader")
        .send()
        .await
        .unwrap();
    let serial = device
        .virtual_mfa_device()
        .map(|d| d.serial_number().to_owned())
        .unwrap();
    iam.enable_mfa_device()
        .user_name("reader")
        .serial_number(serial)
        .authentication_code1("123456")
        .authentication_code2("654321")
        .send()
        .await
        .unwrap();
    for _ in 0..2 {
        iam.create_access_key()
            .user_name("two-keys")
            .send()
            .await
            .unwrap();
    }
    iam.create_access_key()
        .user_name("one-key")
        .send()
        .await
        .unwrap();
    // A hardware MFA device (its serial is not a virtual device's ARN), the twin of the others.
    iam.enable_mfa_device()
        .user_name("one-key")
        .serial_number("GAHT00000001")
        .authentication_code1("123456")
        .authentication_code2("654321")
        .send()
        .await
        .unwrap();
    // Roles: one holding the admin policy (its Lambda trust names no source account), one
    // trusting anyone, a third party's role scoped by an external id, and a compliant service
    // role whose trust is tied to the account.
    let lambda_trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    let scoped_lambda_trust = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"Service":"lambda.amazonaws.com"}},"Action":"sts:AssumeRole","Condition":{{"StringEquals":{{"aws:SourceAccount":"{}"}}}}}}]}}"#,
        account.account_id
    );
    let open_trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole"}]}"#;
    let vendor_trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:root"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"vendor-7f3a"}}}]}"#;
    for (role, trust) in [
        ("admin-role", lambda_trust),
        ("open-trust", open_trust),
        ("vendor-role", vendor_trust),
        ("lambda-role", scoped_lambda_trust.as_str()),
    ] {
        iam.create_role()
            .role_name(role)
            .assume_role_policy_document(trust)
            .send()
            .await
            .unwrap();
    }
    // An expired server certificate (moto lists every certificate with the same fixed, past
    // expiration whatever was uploaded, so a valid twin cannot be shown here: the policy's
    // examples have it).
    iam.upload_server_certificate()
        .server_certificate_name("old-www")
        .certificate_body(iam_data("expired-cert.pem"))
        .private_key(iam_data("expired-key.pem"))
        .send()
        .await
        .unwrap();
    // Identity providers: a SAML one (the account federates) and an OIDC one.
    iam.create_saml_provider()
        .name("corp")
        .saml_metadata_document(SAML_METADATA)
        .send()
        .await
        .unwrap();
    iam.create_open_id_connect_provider()
        .url("https://token.actions.githubusercontent.com")
        .client_id_list("sts.amazonaws.com")
        .thumbprint_list("6938fd4d98bab03faadb97b34396831e3780aea1")
        .send()
        .await
        .unwrap();
    iam.attach_role_policy()
        .role_name("admin-role")
        .policy_arn(&admin_arn)
        .send()
        .await
        .unwrap();
    iam.attach_role_policy()
        .role_name("lambda-role")
        .policy_arn(&read_arn)
        .send()
        .await
        .unwrap();
}

/// What the seeded account must fail, exactly.
const EXPECTED: &[(&str, &str)] = &[
    (
        "account-password-policy",
        "IamPasswordPolicyMinimumLength14",
    ),
    ("account-password-policy", "IamPasswordPolicySymbol"),
    ("account-password-policy", "IamPasswordPolicyExpires90Days"),
    ("account-password-policy", "IamPasswordPolicyReuse24"),
    // moto has no root MFA device
    ("root", "IamRootMfaEnabled"),
    ("root", "IamRootHardwareMfa"),
    ("admin-inline", "IamUserInlinePolicyNoAdmin"),
    ("admin-inline", "IamUserPermissionsOnlyThroughGroups"),
    // "*" on "*" grants every KMS action and Marketplace subscriptions too
    ("admin-inline", "IamUserInlinePolicyNoFullKms"),
    ("admin-inline", "IamUserInlinePolicyNoMarketplaceSubscribe"),
    ("console-nomfa", "IamUserMfaEnabledConsoleAccess"),
    ("two-keys", "IamUserOneActiveAccessKey"),
    ("admins", "IamGroupAttachedPolicyNoAdmin"),
    ("admin-all", "IamCustomerPolicyNoAdmin"),
    ("admin-all", "IamCustomerPolicyNoServiceWildcard"),
    ("admin-all", "IamCustomerPolicyNoFullKms"),
    ("admin-all", "IamCustomerPolicyNoMarketplaceSubscribe"),
    ("admin-role", "IamRoleAttachedPolicyNoAdmin"),
    // and every CloudTrail action, a privilege-escalation path and sts:AssumeRole on every role
    ("admin-inline", "IamUserInlinePolicyNoFullCloudTrail"),
    ("admin-inline", "IamUserInlinePolicyNoPrivilegeEscalation"),
    ("admin-all", "IamCustomerPolicyNoFullCloudTrail"),
    ("admin-all", "IamCustomerPolicyNoPrivilegeEscalation"),
    ("admin-all", "IamCustomerPolicyNoPermissiveRoleAssumption"),
    // no hardware MFA device (reader's is virtual; one-key's is hardware)
    ("admin-inline", "IamUserHardwareMfa"),
    ("console-nomfa", "IamUserHardwareMfa"),
    ("two-keys", "IamUserHardwareMfa"),
    ("reader", "IamUserHardwareMfa"),
    // trusts: anyone may assume open-trust (vendor-role's third party needs its external id);
    // Lambda may assume admin-role for any account (lambda-role's trust names the account)
    ("open-trust", "IamRoleTrustNoUnscopedOutsideAccess"),
    ("admin-role", "IamRoleServiceTrustScopedToSource"),
    // the account: no role holds AWSSupportAccess or SecurityAudit (moto does not load
    // AWS-managed policies, so none can be attached); a SAML provider exists
    ("account-access", "IamSupportRoleExists"),
    ("account-access", "IamSecurityAuditRoleExists"),
    ("old-www", "IamNoExpiredServerCertificates"),
];

#[tokio::test]
async fn inventory_and_scan_find_exactly_the_iam_misconfigurations() {
    // Given a seeded account
    let world = World::new().await;
    let account = world.onboard().await;
    seed_account(&world, &account).await;

    // When it is inventoried and scanned
    let summary = inventory(&world, &account).await;
    assert!(summary.errors.is_empty(), "{:?}", summary.errors);
    // 5 users, 2 groups, 4 roles, 2 customer policies, the password policy, the root user, a
    // server certificate, a SAML and an OIDC provider and the account access aggregate
    assert_eq!(summary.resources, 19, "{summary:?}");
    let first = scan(&world, &account).await;
    assert!(first.errors.is_empty(), "{:?}", first.errors);

    // Then exactly the misconfigurations are found, nothing on the twins
    assert_eq!(active(&world, &account).await, pairs(EXPECTED));
    // And the root user's credential report row (absent on moto) is not guessed: the policy
    // reading it is not evaluated
    assert!(
        first
            .unevaluated
            .iter()
            .any(|u| u.contains(":root") && u.contains("IamRootNotUsedRecently")),
        "{:?}",
        first.unevaluated
    );
    // And a finding carries the failing document as evidence
    let partition = format!("{}_iam", account.account_id);
    let findings = world
        .deps
        .stores
        .findings
        .for_resource(&format!(
            "arn:aws:iam::{}:user/admin-inline",
            account.account_id
        ))
        .await
        .unwrap();
    let inline = findings
        .iter()
        .find(|f| f.policy_id == "IamUserInlinePolicyNoAdmin")
        .expect("inline admin finding");
    assert_eq!(
        inline.evidence["Permissions.InlinePolicies[0]"]["Document"]["Statement"][0]["Action"], "*",
        "{}",
        inline.evidence
    );
    // And a path in a policy ARN does not reach the stored ARN
    let read = world
        .deps
        .stores
        .resources
        .get(
            &partition,
            &format!("arn:aws:iam::{}:policy/read-only", account.account_id),
        )
        .await
        .unwrap()
        .expect("the read-only policy is stored");
    assert_eq!(read.configuration["Path"], "/team/");
    assert_eq!(read.region, "us-east-1");

    // When it is scanned again, nothing changes but timestamps
    let second = scan(&world, &account).await;
    assert_eq!(
        (second.tally.new, second.tally.resolved),
        (0, 0),
        "{second:?}"
    );
    assert_eq!(active(&world, &account).await, pairs(EXPECTED));

    // When GetAccountPasswordPolicy is denied once, the inventory reports it and the password
    // policy's findings neither resolve nor change
    inject_fault(json!({
        "method": "POST",
        "body_contains": "Action=GetAccountPasswordPolicy",
        "account": account.account_id,
        "status": 403,
        "code": "AccessDenied",
        "protocol": "xml_wrapped",
        "times": 1,
    }))
    .await;
    let iam = aws_sdk_iam::Client::new(&world.as_customer(&account).await);
    let denied = inventory(&world, &account).await;
    assert!(
        denied
            .errors
            .iter()
            .any(|e| e.contains("GetAccountPasswordPolicy") && e.contains("AccessDenied")),
        "{:?}",
        denied.errors
    );
    scan(&world, &account).await;
    assert_eq!(active(&world, &account).await, pairs(EXPECTED));

    // When each misconfiguration of two resources is fixed
    iam.delete_user_policy()
        .user_name("admin-inline")
        .policy_name("everything")
        .send()
        .await
        .unwrap();
    iam.update_account_password_policy()
        .minimum_password_length(14)
        .require_numbers(true)
        .require_uppercase_characters(true)
        .require_lowercase_characters(true)
        .require_symbols(true)
        .max_password_age(90)
        .password_reuse_prevention(24)
        .send()
        .await
        .unwrap();
    let fixed = inventory(&world, &account).await;
    assert!(fixed.errors.is_empty(), "{:?}", fixed.errors);
    let after = scan(&world, &account).await;

    // Then their findings resolve (the user's six document findings and four of the password
    // policy) and the others stay
    assert_eq!(after.tally.resolved, 10, "{after:?}");
    let remaining: Vec<(&str, &str)> = EXPECTED
        .iter()
        .copied()
        .filter(|(name, policy)| {
            (*name != "admin-inline" || *policy == "IamUserHardwareMfa")
                && *name != "account-password-policy"
        })
        .collect();
    assert_eq!(active(&world, &account).await, pairs(&remaining));
}

/// The stored configuration of every seeded IAM resource (for the schema conformance test).
pub async fn seeded_configurations(world: &World, account: &Account) -> Vec<(String, Value)> {
    let partition = format!("{}_iam", account.account_id);
    let id = &account.account_id;
    let arns = [
        (
            "AWS::IAM::PasswordPolicy",
            format!("arn:aws:iam::{id}:account-password-policy"),
        ),
        ("AWS::IAM::RootUser", format!("arn:aws:iam::{id}:root")),
        (
            "AWS::IAM::User",
            format!("arn:aws:iam::{id}:user/admin-inline"),
        ),
        (
            "AWS::IAM::User",
            format!("arn:aws:iam::{id}:user/console-nomfa"),
        ),
        ("AWS::IAM::User", format!("arn:aws:iam::{id}:user/two-keys")),
        ("AWS::IAM::User", format!("arn:aws:iam::{id}:user/reader")),
        ("AWS::IAM::Group", format!("arn:aws:iam::{id}:group/admins")),
        (
            "AWS::IAM::Group",
            format!("arn:aws:iam::{id}:group/readers"),
        ),
        (
            "AWS::IAM::Role",
            format!("arn:aws:iam::{id}:role/admin-role"),
        ),
        (
            "AWS::IAM::Role",
            format!("arn:aws:iam::{id}:role/open-trust"),
        ),
        (
            "AWS::IAM::ManagedPolicy",
            format!("arn:aws:iam::{id}:policy/admin-all"),
        ),
        (
            "AWS::IAM::ManagedPolicy",
            format!("arn:aws:iam::{id}:policy/read-only"),
        ),
        (
            "AWS::IAM::ServerCertificate",
            format!("arn:aws:iam::{id}:server-certificate/old-www"),
        ),
        (
            "AWS::IAM::SAMLProvider",
            format!("arn:aws:iam::{id}:saml-provider/corp"),
        ),
        (
            "AWS::IAM::OIDCProvider",
            format!("arn:aws:iam::{id}:oidc-provider/token.actions.githubusercontent.com"),
        ),
        (
            "AWS::IAM::AccountAccess",
            format!("arn:aws:iam::{id}:account-access"),
        ),
    ];
    let mut out = Vec::new();
    for (kind, arn) in arns {
        let resource = world
            .deps
            .stores
            .resources
            .get(&partition, &arn)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{arn} is stored"));
        assert_eq!(resource.resource_type, kind);
        out.push((kind.to_owned(), resource.configuration));
    }
    out
}

/// An EventBridge "AWS API Call via CloudTrail" event for an IAM call (IAM records its events in
/// us-east-1).
fn iam_event(account_id: &str, event_name: &str, request: Value) -> String {
    let now = chrono::Utc::now();
    json!({
        "version": "0",
        "id": uuid::Uuid::new_v4().to_string(),
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.iam",
        "account": account_id,
        "time": now.to_rfc3339(),
        "region": "us-east-1",
        "resources": [],
        "detail": {
            "eventVersion": "1.09",
            "userIdentity": {"type": "IAMUser", "accountId": account_id, "userName": "alice",
                             "arn": format!("arn:aws:iam::{account_id}:user/alice")},
            "eventTime": now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "eventSource": "iam.amazonaws.com",
            "eventName": event_name,
            "awsRegion": "us-east-1",
            "sourceIPAddress": "198.51.100.10",
            "requestParameters": request,
            "responseElements": null,
            "eventID": uuid::Uuid::new_v4().to_string(),
            "readOnly": false,
            "eventType": "AwsApiCall",
            "managementEvent": true,
            "recipientAccountId": account_id,
            "eventCategory": "Management",
        },
    })
    .to_string()
}

async fn state_of(world: &World, arn: &str, policy: &str) -> Option<FindingState> {
    world
        .deps
        .stores
        .findings
        .for_resource(arn)
        .await
        .unwrap()
        .into_iter()
        .find(|f| f.policy_id == policy)
        .map(|f| f.state)
}

#[tokio::test]
async fn iam_changes_reach_findings_in_real_time_through_the_queue() {
    use crate::event_processor::{deliver, Queues};
    // Given an inventoried and scanned account: a role, and a read-only customer policy
    // attached to a user directly and to a group with a member
    let world = World::new().await;
    let account = world.onboard().await;
    let id = account.account_id.clone();
    let iam = aws_sdk_iam::Client::new(&world.as_customer(&account).await);
    let lambda_trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    iam.create_role()
        .role_name("deploy")
        .assume_role_policy_document(lambda_trust)
        .send()
        .await
        .unwrap();
    let admin_arn = iam
        .create_policy()
        .policy_name("admin-all")
        .policy_document(ADMIN)
        .send()
        .await
        .unwrap()
        .policy()
        .and_then(|p| p.arn())
        .unwrap()
        .to_owned();
    let team_arn = iam
        .create_policy()
        .policy_name("team")
        .policy_document(READ)
        .send()
        .await
        .unwrap()
        .policy()
        .and_then(|p| p.arn())
        .unwrap()
        .to_owned();
    iam.create_user().user_name("dev").send().await.unwrap();
    iam.create_user().user_name("op1").send().await.unwrap();
    iam.create_group().group_name("ops").send().await.unwrap();
    iam.add_user_to_group()
        .group_name("ops")
        .user_name("op1")
        .send()
        .await
        .unwrap();
    iam.attach_user_policy()
        .user_name("dev")
        .policy_arn(&team_arn)
        .send()
        .await
        .unwrap();
    iam.attach_group_policy()
        .group_name("ops")
        .policy_arn(&team_arn)
        .send()
        .await
        .unwrap();
    inventory(&world, &account).await;
    scan(&world, &account).await;
    let role = format!("arn:aws:iam::{id}:role/deploy");
    assert_eq!(
        state_of(&world, &role, "IamRoleAttachedPolicyNoAdmin").await,
        None
    );
    let queues = Queues::new(&world, 30).await;

    // When an admin policy is attached to the role and its event arrives
    iam.attach_role_policy()
        .role_name("deploy")
        .policy_arn(&admin_arn)
        .send()
        .await
        .unwrap();
    let attach = json!({"roleName": "deploy", "policyArn": admin_arn});
    let (_, response, summary) = deliver(
        &world,
        &queues,
        &[iam_event(&id, "AttachRolePolicy", attach.clone())],
    )
    .await;
    // Then the finding opens
    assert!(response.batch_item_failures.is_empty(), "{summary:?}");
    assert_eq!(
        state_of(&world, &role, "IamRoleAttachedPolicyNoAdmin").await,
        Some(FindingState::Active)
    );

    // When it is detached and that event arrives, Then the finding resolves
    iam.detach_role_policy()
        .role_name("deploy")
        .policy_arn(&admin_arn)
        .send()
        .await
        .unwrap();
    deliver(
        &world,
        &queues,
        &[iam_event(&id, "DetachRolePolicy", attach)],
    )
    .await;
    assert_eq!(
        state_of(&world, &role, "IamRoleAttachedPolicyNoAdmin").await,
        Some(FindingState::Resolved)
    );

    // When the shared policy gets an admin default version and its event arrives
    iam.create_policy_version()
        .policy_arn(&team_arn)
        .policy_document(ADMIN)
        .set_as_default(true)
        .send()
        .await
        .unwrap();
    let (_, response, summary) = deliver(
        &world,
        &queues,
        &[iam_event(
            &id,
            "CreatePolicyVersion",
            json!({"policyArn": team_arn, "setAsDefault": true}),
        )],
    )
    .await;
    assert!(response.batch_item_failures.is_empty(), "{summary:?}");
    // Then the policy, the user it is attached to and the group open findings
    let policy = format!("arn:aws:iam::{id}:policy/team");
    let dev = format!("arn:aws:iam::{id}:user/dev");
    let ops = format!("arn:aws:iam::{id}:group/ops");
    assert_eq!(
        state_of(&world, &policy, "IamCustomerPolicyNoAdmin").await,
        Some(FindingState::Active)
    );
    assert_eq!(
        state_of(&world, &dev, "IamUserAttachedPolicyNoAdmin").await,
        Some(FindingState::Active)
    );
    assert_eq!(
        state_of(&world, &ops, "IamGroupAttachedPolicyNoAdmin").await,
        Some(FindingState::Active)
    );
    // And the group's member, who has it through the group, is stored with the new document
    let op1 = world
        .deps
        .stores
        .resources
        .get(&format!("{id}_iam"), &format!("arn:aws:iam::{id}:user/op1"))
        .await
        .unwrap()
        .expect("op1 stored");
    assert_eq!(
        op1.configuration["Permissions"]["Groups"][0]["AttachedPolicies"][0]["Document"]
            ["Statement"][0]["Action"],
        "*"
    );
}

/// A measurement, not a check: the IAM inventory of an account of 500 users (each with an access
/// key) and 500 roles (each with an inline policy) on the local AWS, its wall time and the API
/// calls it makes per resource. Run with
/// `cargo test -p qrie-tests --test integration -- --ignored --nocapture iam_collection_of_500`.
#[tokio::test]
#[ignore = "a measurement; run by hand, see BENCHMARKS.md"]
async fn iam_collection_of_500_users_and_500_roles() {
    use futures::StreamExt;
    const USERS: usize = 500;
    const ROLES: usize = 500;
    // Given an account of 500 users with a key each and 500 roles with an inline policy
    let world = World::new().await;
    let account = world.onboard().await;
    let iam = aws_sdk_iam::Client::new(&world.as_customer(&account).await);
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    futures::stream::iter(0..USERS)
        .for_each_concurrent(16, |i| {
            let iam = &iam;
            async move {
                let name = format!("user-{i:03}");
                iam.create_user().user_name(&name).send().await.unwrap();
                iam.create_access_key()
                    .user_name(&name)
                    .send()
                    .await
                    .unwrap();
            }
        })
        .await;
    futures::stream::iter(0..ROLES)
        .for_each_concurrent(16, |i| {
            let iam = &iam;
            async move {
                let name = format!("role-{i:03}");
                iam.create_role()
                    .role_name(&name)
                    .assume_role_policy_document(trust)
                    .send()
                    .await
                    .unwrap();
                iam.put_role_policy()
                    .role_name(&name)
                    .policy_name("read")
                    .policy_document(READ)
                    .send()
                    .await
                    .unwrap();
            }
        })
        .await;
    qrie_tests::count_calls(&account.account_id).await;

    // When it is inventoried
    let started = std::time::Instant::now();
    let summary = inventory(&world, &account).await;
    let elapsed = started.elapsed();
    let calls = qrie_tests::counted_calls(&account.account_id).await;

    // Then every resource is stored and the figures are printed
    assert!(summary.errors.is_empty(), "{:?}", summary.errors);
    assert!(summary.resources >= USERS + ROLES, "{summary:?}");
    let total: u64 = calls.values().sum();
    println!(
        "iam_collection: {} resources ({USERS} users, {ROLES} roles) in {:.2} s; {total} API calls, {:.2} per resource",
        summary.resources,
        elapsed.as_secs_f64(),
        total as f64 / summary.resources as f64
    );
    for (action, n) in &calls {
        println!("iam_collection:   {action}: {n}");
    }
}

/// A file of `tests/data/iam`.
fn iam_data(name: &str) -> String {
    let path = qrie_tests::repo_root().join("tests/data/iam").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[tokio::test]
async fn certificate_and_identity_provider_events_reach_findings_in_real_time() {
    use crate::event_processor::{deliver, Queues};
    // Given an inventoried and scanned account with no SAML provider
    let world = World::new().await;
    let account = world.onboard().await;
    let id = account.account_id.clone();
    let iam = aws_sdk_iam::Client::new(&world.as_customer(&account).await);
    inventory(&world, &account).await;
    scan(&world, &account).await;
    let access = format!("arn:aws:iam::{id}:account-access");
    assert_eq!(
        state_of(&world, &access, "IamSamlProviderExists").await,
        Some(FindingState::Active)
    );
    let queues = Queues::new(&world, 30).await;

    // When an expired certificate is uploaded and its event arrives
    iam.upload_server_certificate()
        .server_certificate_name("old-www")
        .certificate_body(iam_data("expired-cert.pem"))
        .private_key(iam_data("expired-key.pem"))
        .send()
        .await
        .unwrap();
    let (_, response, summary) = deliver(
        &world,
        &queues,
        &[iam_event(
            &id,
            "UploadServerCertificate",
            json!({"serverCertificateName": "old-www"}),
        )],
    )
    .await;
    assert!(response.batch_item_failures.is_empty(), "{summary:?}");
    // Then it is stored and its finding opens
    let old = format!("arn:aws:iam::{id}:server-certificate/old-www");
    let partition = format!("{id}_iam");
    assert!(world
        .deps
        .stores
        .resources
        .get(&partition, &old)
        .await
        .unwrap()
        .is_some());
    assert_eq!(
        state_of(&world, &old, "IamNoExpiredServerCertificates").await,
        Some(FindingState::Active)
    );

    // When the expired one is deleted and that event arrives, Then its finding resolves and it
    // is no longer stored
    iam.delete_server_certificate()
        .server_certificate_name("old-www")
        .send()
        .await
        .unwrap();
    deliver(
        &world,
        &queues,
        &[iam_event(
            &id,
            "DeleteServerCertificate",
            json!({"serverCertificateName": "old-www"}),
        )],
    )
    .await;
    assert_eq!(
        state_of(&world, &old, "IamNoExpiredServerCertificates").await,
        Some(FindingState::Resolved)
    );
    assert!(world
        .deps
        .stores
        .resources
        .get(&partition, &old)
        .await
        .unwrap()
        .is_none());

    // When a SAML provider is created and its event arrives
    let arn = iam
        .create_saml_provider()
        .name("corp")
        .saml_metadata_document(SAML_METADATA)
        .send()
        .await
        .unwrap()
        .saml_provider_arn()
        .unwrap()
        .to_owned();
    let (_, response, summary) = deliver(
        &world,
        &queues,
        &[iam_event(
            &id,
            "CreateSAMLProvider",
            json!({"name": "corp"}),
        )],
    )
    .await;
    assert!(response.batch_item_failures.is_empty(), "{summary:?}");
    // Then the provider is stored and the account's federation finding resolves
    let provider = format!("arn:aws:iam::{id}:saml-provider/corp");
    assert!(world
        .deps
        .stores
        .resources
        .get(&partition, &provider)
        .await
        .unwrap()
        .is_some());
    assert_eq!(
        state_of(&world, &access, "IamSamlProviderExists").await,
        Some(FindingState::Resolved)
    );

    // When it is deleted and that event arrives, Then the finding is open again and the provider
    // gone
    iam.delete_saml_provider()
        .saml_provider_arn(&arn)
        .send()
        .await
        .unwrap();
    deliver(
        &world,
        &queues,
        &[iam_event(
            &id,
            "DeleteSAMLProvider",
            json!({"sAMLProviderArn": arn}),
        )],
    )
    .await;
    assert_eq!(
        state_of(&world, &access, "IamSamlProviderExists").await,
        Some(FindingState::Active)
    );
    assert!(world
        .deps
        .stores
        .resources
        .get(&partition, &provider)
        .await
        .unwrap()
        .is_none());
}
