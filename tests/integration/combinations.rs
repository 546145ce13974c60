//! Toxic combinations end to end on the local AWS: a customer account seeded with each path
//! complete once and twins that break it in exactly one place, inventoried and scanned, where
//! only the complete paths are reported (with every resource on the path in the evidence); a
//! route added to a near-path's table opens its findings in the message carrying CreateRoute,
//! and removing it resolves them; an object scan that finds card numbers in a public bucket
//! opens the combination finding without waiting for the daily scan.

use std::collections::BTreeSet;

use aws_sdk_ec2::types::{
    HttpTokensState, IamInstanceProfileSpecification, InstanceMetadataOptionsRequest, IpPermission,
    IpRange, RuleAction,
};
use lambda_runtime::{Context, LambdaEvent};
use qrie::handler::scan_handler;
use qrie::model::{Account, Finding, FindingState};
use qrie::scan::{ScanRequest, ScanSummary};
use qrie_tests::World;
use serde_json::{json, Value};

use crate::data_posture::inventory;
use crate::ec2_posture::{an_image_id, arn, customer_ec2, ec2_call, through_the_queue, vpc};
use crate::vpc_posture::{internet_gateway, route_to_igw, subnet, table_for};

const REGION: &str = "us-east-1";
const ADMIN_PORT: &str = "CombinationInstanceAdminPortReachableFromInternet";
const IMDSV1: &str = "CombinationInstanceReachableWithImdsv1";
const ADMIN_ROLE: &str = "CombinationInstanceReachableWithAdminRole";
const RDS_REACHABLE: &str = "CombinationRdsInstanceReachableFromInternet";
const PUBLIC_DATA: &str = "CombinationBucketPublicWithSensitiveData";

async fn scan(world: &World, account: &Account) -> ScanSummary {
    let request = ScanRequest {
        account_id: Some(account.account_id.clone()),
        ..Default::default()
    };
    scan_handler(LambdaEvent::new(request, Context::default()), &world.deps)
        .await
        .expect("scan runs")
}

async fn findings(world: &World, arn: &str) -> Vec<Finding> {
    world.deps.stores.findings.for_resource(arn).await.unwrap()
}

/// The ACTIVE combination findings of `arn`.
async fn combinations(world: &World, arn: &str) -> BTreeSet<String> {
    findings(world, arn)
        .await
        .into_iter()
        .filter(|f| f.state == FindingState::Active && f.policy_id.starts_with("Combination"))
        .map(|f| f.policy_id)
        .collect()
}

/// Inventory errors may only be the actions the local AWS lacks (VPC Block Public Access).
fn only_local_gaps(service: &str, errors: &[String]) {
    for e in errors {
        assert!(
            e.contains("is not valid for this web service"),
            "{service}: {e}"
        );
    }
}

fn set(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|s| (*s).to_owned()).collect()
}

async fn group(ec2: &aws_sdk_ec2::Client, vpc: &str, name: &str, cidr: &str, port: i32) -> String {
    let id = ec2
        .create_security_group()
        .group_name(name)
        .description(name)
        .vpc_id(vpc)
        .send()
        .await
        .unwrap()
        .group_id
        .unwrap();
    ec2.authorize_security_group_ingress()
        .group_id(&id)
        .ip_permissions(
            IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(port)
                .to_port(port)
                .ip_ranges(IpRange::builder().cidr_ip(cidr).build())
                .build(),
        )
        .send()
        .await
        .unwrap();
    id
}

/// A network ACL for `subnet` that denies SSH and RDP from anywhere and allows the rest.
async fn acl_denying_admin_ports(ec2: &aws_sdk_ec2::Client, vpc: &str, subnet: &str) -> String {
    let acl = ec2
        .create_network_acl()
        .vpc_id(vpc)
        .send()
        .await
        .unwrap()
        .network_acl
        .and_then(|a| a.network_acl_id)
        .unwrap();
    let entry = |number: i32, egress: bool, action: RuleAction, from: i32, to: i32| {
        ec2.create_network_acl_entry()
            .network_acl_id(&acl)
            .rule_number(number)
            .egress(egress)
            .protocol("6")
            .rule_action(action)
            .cidr_block("0.0.0.0/0")
            .port_range(
                aws_sdk_ec2::types::PortRange::builder()
                    .from(from)
                    .to(to)
                    .build(),
            )
            .send()
    };
    entry(100, false, RuleAction::Deny, 22, 22).await.unwrap();
    entry(110, false, RuleAction::Deny, 3389, 3389)
        .await
        .unwrap();
    entry(200, false, RuleAction::Allow, 0, 65535)
        .await
        .unwrap();
    entry(100, true, RuleAction::Allow, 0, 65535).await.unwrap();
    let current = ec2
        .describe_network_acls()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("association.subnet-id")
                .values(subnet)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let association = current
        .network_acls()
        .iter()
        .flat_map(|a| a.associations())
        .find(|a| a.subnet_id() == Some(subnet))
        .and_then(|a| a.network_acl_association_id())
        .expect("every subnet has an ACL")
        .to_owned();
    ec2.replace_network_acl_association()
        .association_id(association)
        .network_acl_id(&acl)
        .send()
        .await
        .unwrap();
    acl
}

/// A role EC2 may assume with `document` inline, in an instance profile of the same name.
async fn role_with_profile(iam: &aws_sdk_iam::Client, name: &str, document: Value) {
    let trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]});
    iam.create_role()
        .role_name(name)
        .assume_role_policy_document(trust.to_string())
        .send()
        .await
        .unwrap();
    iam.put_role_policy()
        .role_name(name)
        .policy_name("inline")
        .policy_document(document.to_string())
        .send()
        .await
        .unwrap();
    iam.create_instance_profile()
        .instance_profile_name(name)
        .send()
        .await
        .unwrap();
    iam.add_role_to_instance_profile()
        .instance_profile_name(name)
        .role_name(name)
        .send()
        .await
        .unwrap();
}

async fn instance(
    ec2: &aws_sdk_ec2::Client,
    image: &str,
    subnet: &str,
    group: &str,
    tokens: HttpTokensState,
    profile: &str,
) -> String {
    ec2.run_instances()
        .image_id(image)
        .min_count(1)
        .max_count(1)
        .subnet_id(subnet)
        .security_group_ids(group)
        .metadata_options(
            InstanceMetadataOptionsRequest::builder()
                .http_tokens(tokens)
                .build(),
        )
        .iam_instance_profile(
            IamInstanceProfileSpecification::builder()
                .name(profile)
                .build(),
        )
        .send()
        .await
        .expect("instance runs")
        .instances()[0]
        .instance_id()
        .unwrap()
        .to_owned()
}

fn admin_document() -> Value {
    json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})
}

/// The EventBridge event of an EC2 route change to `0.0.0.0/0` in `table`.
fn route_event(account: &Account, event_name: &str, table: &str) -> String {
    ec2_call(
        &account.account_id,
        REGION,
        event_name,
        json!({"routeTableId": table, "destinationCidrBlock": "0.0.0.0/0"}),
    )
}

#[tokio::test]
async fn only_complete_paths_to_an_instance_are_reported_and_a_route_opens_and_closes_one() {
    // Given a VPC with an internet gateway and three subnets whose instances get public
    // addresses: one routed to the gateway, one not, one routed but behind an ACL denying 22
    let world = World::new().await;
    let account = world.onboard().await;
    let ec2 = customer_ec2(&world, &account, REGION).await;
    let iam = aws_sdk_iam::Client::new(&world.as_customer(&account).await);
    let vpc_id = vpc(&ec2, "10.40.0.0/16").await;
    let igw = internet_gateway(&ec2, &vpc_id).await;
    let public = subnet(&ec2, &vpc_id, "10.40.1.0/24", "us-east-1a").await;
    let private = subnet(&ec2, &vpc_id, "10.40.2.0/24", "us-east-1a").await;
    let guarded = subnet(&ec2, &vpc_id, "10.40.3.0/24", "us-east-1a").await;
    let public_table = table_for(&ec2, &vpc_id, &public).await;
    let private_table = table_for(&ec2, &vpc_id, &private).await;
    let guarded_table = table_for(&ec2, &vpc_id, &guarded).await;
    route_to_igw(&ec2, &public_table, &igw).await;
    route_to_igw(&ec2, &guarded_table, &igw).await;
    let acl = acl_denying_admin_ports(&ec2, &vpc_id, &guarded).await;
    for s in [&public, &private, &guarded] {
        ec2.modify_subnet_attribute()
            .subnet_id(s)
            .map_public_ip_on_launch(
                aws_sdk_ec2::types::AttributeBooleanValue::builder()
                    .value(true)
                    .build(),
            )
            .send()
            .await
            .unwrap();
    }
    // and a group open to the world on 22, one open to 10/8 only
    let open = group(&ec2, &vpc_id, "open-ssh", "0.0.0.0/0", 22).await;
    let internal = group(&ec2, &vpc_id, "internal-ssh", "10.0.0.0/8", 22).await;
    // and an administrator role and a reader, each in an instance profile
    role_with_profile(&iam, "admin-app", admin_document()).await;
    role_with_profile(
        &iam,
        "reader-app",
        json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Action": "s3:GetObject", "Resource": "arn:aws:s3:::reports/*"}]}),
    )
    .await;
    // and the complete path once, and twins breaking it in one place each
    let image = an_image_id(&ec2).await;
    let optional = HttpTokensState::Optional;
    let full = instance(&ec2, &image, &public, &open, optional.clone(), "admin-app").await;
    let no_route = instance(&ec2, &image, &private, &open, optional.clone(), "admin-app").await;
    let acl_denies = instance(&ec2, &image, &guarded, &open, optional.clone(), "admin-app").await;
    let internal_only = instance(&ec2, &image, &public, &internal, optional, "admin-app").await;
    let careful = instance(
        &ec2,
        &image,
        &public,
        &open,
        HttpTokensState::Required,
        "reader-app",
    )
    .await;

    // When the account is inventoried and scanned
    for service in ["ec2", "vpc", "iam"] {
        let summary = inventory(&world, &account, service).await;
        only_local_gaps(service, &summary.errors);
    }
    let summary = scan(&world, &account).await;
    assert!(
        summary.errors.iter().all(|e| !e.contains("related")),
        "{:?}",
        summary.errors
    );

    // Then only the complete path is reported, with each combination it completes
    let instance_arn = |id: &str| arn(&account, REGION, &format!("instance/{id}"));
    assert_eq!(
        combinations(&world, &instance_arn(&full)).await,
        set(&[ADMIN_PORT, IMDSV1, ADMIN_ROLE])
    );
    for twin in [&no_route, &acl_denies, &internal_only] {
        assert_eq!(
            combinations(&world, &instance_arn(twin)).await,
            set(&[]),
            "{twin}"
        );
    }
    // and the IMDSv2 twin with a reader role is reachable, and nothing more
    assert_eq!(
        combinations(&world, &instance_arn(&careful)).await,
        set(&[ADMIN_PORT])
    );
    // and the evidence shows the whole path: group, subnet, route table, ACL and role
    let finding = findings(&world, &instance_arn(&full))
        .await
        .into_iter()
        .find(|f| f.policy_id == ADMIN_ROLE)
        .unwrap();
    let evidence = finding.evidence.to_string();
    for on_path in [
        arn(&account, REGION, &format!("security-group/{open}")),
        arn(&account, REGION, &format!("subnet/{public}")),
        arn(&account, REGION, &format!("route-table/{public_table}")),
        format!("arn:aws:iam::{}:role/admin-app", account.account_id),
    ] {
        assert!(evidence.contains(&on_path), "{on_path} not in {evidence}");
    }
    assert!(evidence.contains("PublicIpAddress"), "{evidence}");
    assert!(
        !evidence.contains(&acl),
        "the ACL of another subnet is not on the path: {evidence}"
    );

    // When a route to the gateway is added to the near-path's table, through the queue
    let sqs = aws_sdk_sqs::Client::new(&world.deps.sdk);
    let queue = qrie_tests::queue_with_dlq(&sqs, &format!("{}-routes", world.id), 30).await;
    route_to_igw(&ec2, &private_table, &igw).await;
    through_the_queue(
        &world,
        &sqs,
        &queue.url,
        &route_event(&account, "CreateRoute", &private_table),
    )
    .await;
    // Then the message that carried CreateRoute opened its combinations
    assert_eq!(
        combinations(&world, &instance_arn(&no_route)).await,
        set(&[ADMIN_PORT, IMDSV1, ADMIN_ROLE])
    );
    // When the route is deleted again
    ec2.delete_route()
        .route_table_id(&private_table)
        .destination_cidr_block("0.0.0.0/0")
        .send()
        .await
        .unwrap();
    through_the_queue(
        &world,
        &sqs,
        &queue.url,
        &route_event(&account, "DeleteRoute", &private_table),
    )
    .await;
    // Then they are resolved, and the complete path elsewhere is untouched
    assert_eq!(
        combinations(&world, &instance_arn(&no_route)).await,
        set(&[])
    );
    let resolved: BTreeSet<String> = findings(&world, &instance_arn(&no_route))
        .await
        .into_iter()
        .filter(|f| f.state == FindingState::Resolved)
        .map(|f| f.policy_id)
        .collect();
    assert!(
        resolved.is_superset(&set(&[ADMIN_PORT, IMDSV1, ADMIN_ROLE])),
        "{resolved:?}"
    );
    assert_eq!(
        combinations(&world, &instance_arn(&full)).await,
        set(&[ADMIN_PORT, IMDSV1, ADMIN_ROLE])
    );
}

#[tokio::test]
async fn a_database_is_reported_only_when_the_internet_reaches_its_own_port() {
    // Given a VPC with an internet gateway, two subnets routed to it, and a subnet group
    let world = World::new().await;
    let account = world.onboard().await;
    let ec2 = customer_ec2(&world, &account, REGION).await;
    let sdk = world.as_customer(&account).await;
    let rds = aws_sdk_rds::Client::new(&qrie::aws::in_region(&sdk, REGION));
    let vpc_id = vpc(&ec2, "10.41.0.0/16").await;
    let igw = internet_gateway(&ec2, &vpc_id).await;
    let mut subnets = Vec::new();
    for (cidr, az) in [
        ("10.41.1.0/24", "us-east-1a"),
        ("10.41.2.0/24", "us-east-1b"),
    ] {
        let s = subnet(&ec2, &vpc_id, cidr, az).await;
        let table = table_for(&ec2, &vpc_id, &s).await;
        route_to_igw(&ec2, &table, &igw).await;
        subnets.push(s);
    }
    rds.create_db_subnet_group()
        .db_subnet_group_name("public-dbs")
        .db_subnet_group_description("routed to the internet")
        .set_subnet_ids(Some(subnets.clone()))
        .send()
        .await
        .unwrap();
    // and a group open to the world on PostgreSQL's port, one on MySQL's
    let postgres_open = group(&ec2, &vpc_id, "pg-open", "0.0.0.0/0", 5432).await;
    let mysql_open = group(&ec2, &vpc_id, "mysql-open", "0.0.0.0/0", 3306).await;
    let db = |name: &str, public: bool, group: &str| {
        rds.create_db_instance()
            .db_instance_identifier(name)
            .engine("postgres")
            .db_instance_class("db.t3.micro")
            .allocated_storage(20)
            .master_username("postgres")
            .master_user_password("not-a-secret-1")
            .publicly_accessible(public)
            .db_subnet_group_name("public-dbs")
            .vpc_security_group_ids(group)
            .port(5432)
            .send()
    };
    // and the complete path, a private twin, and a twin whose open port is not its own
    db("reachable", true, &postgres_open).await.unwrap();
    db("private", false, &postgres_open).await.unwrap();
    db("other-port", true, &mysql_open).await.unwrap();

    // When the account is inventoried and scanned
    for service in ["ec2", "vpc", "rds"] {
        let summary = inventory(&world, &account, service).await;
        only_local_gaps(service, &summary.errors);
    }
    scan(&world, &account).await;

    // Then only the database the internet reaches is reported
    let db_arn = |name: &str| format!("arn:aws:rds:{REGION}:{}:db:{name}", account.account_id);
    assert_eq!(
        combinations(&world, &db_arn("reachable")).await,
        set(&[RDS_REACHABLE])
    );
    assert_eq!(combinations(&world, &db_arn("private")).await, set(&[]));
    assert_eq!(combinations(&world, &db_arn("other-port")).await, set(&[]));
    // and the flag alone is still its own finding, on both public databases
    for name in ["reachable", "other-port"] {
        assert!(
            findings(&world, &db_arn(name))
                .await
                .iter()
                .any(|f| f.policy_id == "RdsInstanceNotPublic" && f.state == FindingState::Active),
            "{name}"
        );
    }
    let finding = findings(&world, &db_arn("reachable"))
        .await
        .into_iter()
        .find(|f| f.policy_id == RDS_REACHABLE)
        .unwrap();
    let evidence = finding.evidence.to_string();
    assert!(
        evidence.contains(&arn(
            &account,
            REGION,
            &format!("security-group/{postgres_open}")
        )),
        "{evidence}"
    );
}

#[tokio::test]
async fn an_object_scan_finding_card_numbers_in_a_public_bucket_opens_the_combination() {
    // Given three customer buckets: public with card numbers, private with the same data, and
    // public with only email addresses
    let rig = crate::object_scanner::Rig::new(30, |_| {}).await;
    let world = &rig.world;
    let account = world.onboard().await;
    let s3 = world.customer_s3(&account, REGION).await;
    let exposed = world.bucket("exposed");
    let private = world.bucket("private");
    let emails = world.bucket("emails");
    let card = "4539 1488 0343 6467";
    for (bucket, public, body) in [
        (&exposed, true, format!("name,card\njane,{card}\n")),
        (&private, false, format!("name,card\njane,{card}\n")),
        (
            &emails,
            true,
            "name,email\njane,jane.doe@example.com\n".to_owned(),
        ),
    ] {
        s3.create_bucket().bucket(bucket).send().await.unwrap();
        if public {
            let policy = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                "Principal": "*", "Action": "s3:GetObject", "Resource": format!("arn:aws:s3:::{bucket}/*")}]});
            s3.put_bucket_policy()
                .bucket(bucket)
                .policy(policy.to_string())
                .send()
                .await
                .unwrap();
        }
        s3.put_object()
            .bucket(bucket)
            .key("exports/people.csv")
            .body(body.into_bytes().into())
            .send()
            .await
            .unwrap();
    }
    // and the buckets inventoried and scanned before any object scan
    let summary = inventory(world, &account, "s3").await;
    assert!(summary.errors.is_empty(), "{:?}", summary.errors);
    scan(world, &account).await;
    let bucket_arn = |b: &str| format!("arn:aws:s3:::{b}");
    assert!(findings(world, &bucket_arn(&exposed))
        .await
        .iter()
        .any(|f| f.policy_id == "S3BucketPublicReadProhibited" && f.state == FindingState::Active));
    assert_eq!(combinations(world, &bucket_arn(&exposed)).await, set(&[]));

    // When each bucket's objects are scanned (no posture scan runs after)
    for bucket in [&exposed, &private, &emails] {
        rig.invoke(json!({"bucket": bucket, "account_id": account.account_id}))
            .await;
        rig.drain().await;
    }

    // Then the public bucket holding card numbers has its combination finding, opened by the
    // object scan, with the detector, its count and a masked example
    assert_eq!(
        combinations(world, &bucket_arn(&exposed)).await,
        set(&[PUBLIC_DATA])
    );
    let finding = findings(world, &bucket_arn(&exposed))
        .await
        .into_iter()
        .find(|f| f.policy_id == PUBLIC_DATA)
        .unwrap();
    let evidence = finding.evidence.to_string();
    assert!(evidence.contains("credit_card"), "{evidence}");
    assert!(
        evidence.contains(&format!("arn:aws:s3:::{exposed}/*")),
        "{evidence}"
    );
    assert!(
        !evidence.contains(card) && !evidence.contains("4539148803436467"),
        "{evidence}"
    );
    // and the private twin and the public bucket without sensitive data have none
    assert_eq!(combinations(world, &bucket_arn(&private)).await, set(&[]));
    assert_eq!(combinations(world, &bucket_arn(&emails)).await, set(&[]));

    // When the public bucket is scanned again (a redelivery of every unit)
    rig.invoke(json!({"bucket": exposed, "account_id": account.account_id}))
        .await;
    rig.drain().await;
    // Then the counts did not double: the evidence says one match still
    let again = findings(world, &bucket_arn(&exposed))
        .await
        .into_iter()
        .find(|f| f.policy_id == PUBLIC_DATA)
        .unwrap();
    assert_eq!(again.evidence, finding.evidence);
}

#[tokio::test]
async fn a_trail_is_reported_when_its_bucket_is_public_and_not_when_it_is_private() {
    // Given two trails, one delivering to a bucket everyone can read
    let world = World::new().await;
    let account = world.onboard().await;
    let exposed = crate::data_seed::trail(&world, &account, REGION, "exposed-logs", |t| t).await;
    let kept = crate::data_seed::trail(&world, &account, REGION, "kept-logs", |t| t).await;
    let s3 = world.customer_s3(&account, REGION).await;
    let bucket = world.bucket("trail-exposed-logs");
    let policy = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": "*", "Action": "s3:GetObject", "Resource": format!("arn:aws:s3:::{bucket}/*")}]});
    s3.put_bucket_policy()
        .bucket(&bucket)
        .policy(policy.to_string())
        .send()
        .await
        .unwrap();
    // When the account is inventoried and scanned
    for service in ["s3", "cloudtrail"] {
        let summary = inventory(&world, &account, service).await;
        only_local_gaps(service, &summary.errors);
    }
    scan(&world, &account).await;
    // Then only the trail whose bucket is public is reported as such, naming the bucket (both
    // buckets lack access logging and MFA Delete, as the local AWS creates them)
    let guards = [
        "CombinationTrailBucketAccessLogging",
        "CombinationTrailBucketMfaDelete",
    ];
    let mut expected = set(&guards);
    assert_eq!(combinations(&world, &kept).await, expected);
    expected.insert("CombinationTrailBucketPublic".to_owned());
    assert_eq!(combinations(&world, &exposed).await, expected);
    let finding = findings(&world, &exposed)
        .await
        .into_iter()
        .find(|f| f.policy_id == "CombinationTrailBucketPublic")
        .unwrap();
    assert!(
        finding
            .evidence
            .to_string()
            .contains(&format!("arn:aws:s3:::{bucket}")),
        "{}",
        finding.evidence
    );
}

#[tokio::test]
async fn a_public_function_url_is_reported_only_when_the_function_runs_as_an_administrator() {
    // Given an administrator role and a reader role Lambda may assume
    let world = World::new().await;
    let account = world.onboard().await;
    let iam = aws_sdk_iam::Client::new(&world.as_customer(&account).await);
    let trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]});
    let mut roles = Vec::new();
    for (name, document) in [
        ("fn-admin", admin_document()),
        (
            "fn-reader",
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                "Action": "s3:GetObject", "Resource": "arn:aws:s3:::reports/*"}]}),
        ),
    ] {
        let role = iam
            .create_role()
            .role_name(name)
            .assume_role_policy_document(trust.to_string())
            .send()
            .await
            .unwrap()
            .role
            .unwrap()
            .arn;
        iam.put_role_policy()
            .role_name(name)
            .policy_name("inline")
            .policy_document(document.to_string())
            .send()
            .await
            .unwrap();
        roles.push(role);
    }
    // and a public URL on an administrator's function, the same on a reader's, and an
    // administrator's function whose URL requires IAM authentication
    let lambda = crate::data_seed::lambda(&world, &account, REGION).await;
    let runtime = aws_sdk_lambda::types::Runtime::Python313;
    let exposed =
        crate::data_seed::function(&lambda, "exposed-admin", &roles[0], runtime.clone(), |f| f)
            .await;
    crate::data_seed::public_url(&lambda, "exposed-admin").await;
    let reader =
        crate::data_seed::function(&lambda, "exposed-reader", &roles[1], runtime.clone(), |f| f)
            .await;
    crate::data_seed::public_url(&lambda, "exposed-reader").await;
    let guarded =
        crate::data_seed::function(&lambda, "guarded-admin", &roles[0], runtime, |f| f).await;
    lambda
        .create_function_url_config()
        .function_name("guarded-admin")
        .auth_type(aws_sdk_lambda::types::FunctionUrlAuthType::AwsIam)
        .send()
        .await
        .unwrap();
    // When the account is inventoried and scanned
    for service in ["lambda", "iam"] {
        let summary = inventory(&world, &account, service).await;
        only_local_gaps(service, &summary.errors);
    }
    scan(&world, &account).await;
    // Then only the administrator's public URL is reported, naming the role
    const POLICY: &str = "CombinationLambdaPublicUrlWithAdminRole";
    assert_eq!(combinations(&world, &exposed).await, set(&[POLICY]));
    assert_eq!(combinations(&world, &reader).await, set(&[]));
    assert_eq!(combinations(&world, &guarded).await, set(&[]));
    let finding = findings(&world, &exposed)
        .await
        .into_iter()
        .find(|f| f.policy_id == POLICY)
        .unwrap();
    assert!(
        finding.evidence.to_string().contains(&format!(
            "arn:aws:iam::{}:role/fn-admin",
            account.account_id
        )),
        "{}",
        finding.evidence
    );
}

#[tokio::test]
async fn a_shared_snapshot_is_reported_only_when_its_key_may_be_used_outside_the_account() {
    // Given a key anyone may use and a key only the account may use
    let world = World::new().await;
    let account = world.onboard().await;
    let kms = crate::data_seed::kms(&world, &account, REGION).await;
    let open_key = crate::data_seed::key(&kms, "open").await;
    crate::data_seed::make_key_public(&kms, &open_key, &account.account_id).await;
    let own_key = crate::data_seed::key(&kms, "own").await;
    let ec2 = customer_ec2(&world, &account, REGION).await;
    // and snapshots of volumes encrypted with each, shared with another account or not
    let snapshot = |key: String, shared: bool| {
        let ec2 = ec2.clone();
        async move {
            let volume = ec2
                .create_volume()
                .availability_zone("us-east-1a")
                .size(8)
                .encrypted(true)
                .kms_key_id(key)
                .send()
                .await
                .unwrap()
                .volume_id
                .unwrap();
            let snapshot = ec2
                .create_snapshot()
                .volume_id(volume)
                .send()
                .await
                .unwrap()
                .snapshot_id
                .unwrap();
            if shared {
                ec2.modify_snapshot_attribute()
                    .snapshot_id(&snapshot)
                    .attribute(aws_sdk_ec2::types::SnapshotAttributeName::CreateVolumePermission)
                    .operation_type(aws_sdk_ec2::types::OperationType::Add)
                    .user_ids("999988887777")
                    .send()
                    .await
                    .unwrap();
            }
            snapshot
        }
    };
    // (by the key's ARN: what DescribeSnapshots answers on AWS)
    let key_arn = |id: &str| format!("arn:aws:kms:{REGION}:{}:key/{id}", account.account_id);
    let exposed = snapshot(key_arn(&open_key), true).await;
    let own_key_shared = snapshot(key_arn(&own_key), true).await;
    let not_shared = snapshot(key_arn(&open_key), false).await;
    // When the account is inventoried and scanned
    for service in ["ec2", "kms"] {
        let summary = inventory(&world, &account, service).await;
        only_local_gaps(service, &summary.errors);
    }
    scan(&world, &account).await;
    // Then only the snapshot another account can both reach and decrypt is reported
    const POLICY: &str = "CombinationEbsSnapshotSharedWithUsableKey";
    let snapshot_arn = |id: &str| arn(&account, REGION, &format!("snapshot/{id}"));
    assert_eq!(
        combinations(&world, &snapshot_arn(&exposed)).await,
        set(&[POLICY]),
        "{:?}",
        crate::ec2_posture::stored(&world, &account, &snapshot_arn(&exposed)).await
    );
    assert_eq!(
        combinations(&world, &snapshot_arn(&own_key_shared)).await,
        set(&[])
    );
    assert_eq!(
        combinations(&world, &snapshot_arn(&not_shared)).await,
        set(&[])
    );
}
