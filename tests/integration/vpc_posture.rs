//! VPC posture end to end on the local AWS: an account seeded in two regions with each
//! misconfiguration next to a compliant twin, inventoried and scanned under the `vpc` service;
//! a region whose listing is refused keeps what it had; items an older version stored under the
//! `ec2` partition are swept by the EC2 inventory; and subnet, flow-log and route changes through
//! a real SQS queue open and resolve findings within the message.

use std::collections::{BTreeMap, BTreeSet};

use lambda_runtime::{Context, LambdaEvent};
use qrie::handler::{inventory_handler, scan_handler};
use qrie::inventory::{InventoryRequest, InventorySummary};
use qrie::model::{Account, FindingState, Resource, Service};
use qrie::scan::{ScanRequest, ScanSummary};
use qrie_tests::World;
use serde_json::{json, Value};

use crate::ec2_posture::{active, arn, customer_ec2, deny_in_region, through_the_queue, vpc};

pub(crate) async fn inventory(world: &World, account: &Account) -> InventorySummary {
    let request = InventoryRequest {
        service: "vpc".into(),
        account_id: Some(account.account_id.clone()),
    };
    inventory_handler(LambdaEvent::new(request, Context::default()), &world.deps)
        .await
        .expect("inventory runs")
}

async fn scan(world: &World) -> ScanSummary {
    let request = ScanRequest {
        service: Some("vpc".into()),
        ..Default::default()
    };
    scan_handler(LambdaEvent::new(request, Context::default()), &world.deps)
        .await
        .expect("scan runs")
}

/// The stored configuration of `arn` in the account's `vpc` partition, if stored.
pub(crate) async fn stored(world: &World, account: &Account, arn: &str) -> Option<Value> {
    world
        .deps
        .stores
        .resources
        .get(&format!("{}_vpc", account.account_id), arn)
        .await
        .unwrap()
        .map(|r| r.configuration)
}

fn set(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|s| (*s).to_owned()).collect()
}

pub(crate) async fn subnet(ec2: &aws_sdk_ec2::Client, vpc: &str, cidr: &str, az: &str) -> String {
    ec2.create_subnet()
        .vpc_id(vpc)
        .cidr_block(cidr)
        .availability_zone(az)
        .send()
        .await
        .expect("subnet created")
        .subnet
        .and_then(|s| s.subnet_id)
        .expect("subnet id")
}

pub(crate) async fn internet_gateway(ec2: &aws_sdk_ec2::Client, vpc: &str) -> String {
    let igw = ec2
        .create_internet_gateway()
        .send()
        .await
        .unwrap()
        .internet_gateway
        .and_then(|g| g.internet_gateway_id)
        .unwrap();
    ec2.attach_internet_gateway()
        .internet_gateway_id(&igw)
        .vpc_id(vpc)
        .send()
        .await
        .unwrap();
    igw
}

pub(crate) async fn main_table(ec2: &aws_sdk_ec2::Client, vpc: &str) -> String {
    ec2.describe_route_tables()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("vpc-id")
                .values(vpc)
                .build(),
        )
        .send()
        .await
        .unwrap()
        .route_tables()
        .iter()
        .find(|t| t.associations().iter().any(|a| a.main() == Some(true)))
        .and_then(|t| t.route_table_id())
        .expect("a VPC has a main route table")
        .to_owned()
}

pub(crate) async fn table_for(ec2: &aws_sdk_ec2::Client, vpc: &str, subnet: &str) -> String {
    let table = ec2
        .create_route_table()
        .vpc_id(vpc)
        .send()
        .await
        .unwrap()
        .route_table
        .and_then(|t| t.route_table_id)
        .unwrap();
    ec2.associate_route_table()
        .route_table_id(&table)
        .subnet_id(subnet)
        .send()
        .await
        .unwrap();
    table
}

pub(crate) async fn route_to_igw(ec2: &aws_sdk_ec2::Client, table: &str, igw: &str) {
    ec2.create_route()
        .route_table_id(table)
        .destination_cidr_block("0.0.0.0/0")
        .gateway_id(igw)
        .send()
        .await
        .unwrap();
}

async fn flow_log(
    world: &World,
    account: &Account,
    ec2: &aws_sdk_ec2::Client,
    vpc: &str,
) -> String {
    let logs = world.bucket(&format!("flow-{}", &vpc[4..]));
    crate::seed::create_bucket(
        &world.customer_s3(account, "us-east-1").await,
        &logs,
        "us-east-1",
    )
    .await;
    ec2.create_flow_logs()
        .resource_ids(vpc)
        .resource_type(aws_sdk_ec2::types::FlowLogsResourceType::Vpc)
        .traffic_type(aws_sdk_ec2::types::TrafficType::Reject)
        .log_destination_type(aws_sdk_ec2::types::LogDestinationType::S3)
        .log_destination(format!("arn:aws:s3:::{logs}"))
        .send()
        .await
        .unwrap()
        .flow_log_ids()[0]
        .clone()
}

pub(crate) async fn endpoint(
    ec2: &aws_sdk_ec2::Client,
    vpc: &str,
    service: &str,
    subnets: &[&str],
    policy: Option<&Value>,
) -> String {
    ec2.create_vpc_endpoint()
        .vpc_id(vpc)
        .service_name(service)
        .vpc_endpoint_type(aws_sdk_ec2::types::VpcEndpointType::Interface)
        .set_subnet_ids(Some(subnets.iter().map(|s| (*s).to_owned()).collect()))
        .set_policy_document(policy.map(Value::to_string))
        .send()
        .await
        .unwrap()
        .vpc_endpoint
        .and_then(|e| e.vpc_endpoint_id)
        .unwrap()
}

pub(crate) async fn peering(ec2: &aws_sdk_ec2::Client, from: &str, to: &str) -> String {
    let id = ec2
        .create_vpc_peering_connection()
        .vpc_id(from)
        .peer_vpc_id(to)
        .send()
        .await
        .unwrap()
        .vpc_peering_connection
        .and_then(|p| p.vpc_peering_connection_id)
        .unwrap();
    ec2.accept_vpc_peering_connection()
        .vpc_peering_connection_id(&id)
        .send()
        .await
        .unwrap();
    id
}

pub(crate) async fn route_to_peer(ec2: &aws_sdk_ec2::Client, table: &str, cidr: &str, pcx: &str) {
    ec2.create_route()
        .route_table_id(table)
        .destination_cidr_block(cidr)
        .vpc_peering_connection_id(pcx)
        .send()
        .await
        .unwrap();
}

const FLOW_LOGS: &str = "VpcFlowLogsEnabled";
const SUBNET_PUBLIC_IP: &str = "VpcSubnetNoPublicIpByDefault";
const MULTI_AZ: &str = "VpcSubnetsInMultipleAzs";
const SEPARATE: &str = "VpcSeparatePrivateAndPublicSubnets";
/// The endpoint services a VPC is asked to have an endpoint for, and the policy asking.
const ENDPOINT_CHECKS: &[(&str, &str)] = &[
    ("ec2", "VpcEndpointForEc2"),
    ("ecr.api", "VpcEndpointForEcrApi"),
    ("ecr.dkr", "VpcEndpointForEcrDkr"),
    ("ssm", "VpcEndpointForSsm"),
    ("ssm-contacts", "VpcEndpointForSsmContacts"),
    ("ssm-incidents", "VpcEndpointForSsmIncidents"),
];

/// The findings of a VPC with no endpoint: `extra` and every endpoint check.
fn missing_every_endpoint(extra: &[&str]) -> BTreeSet<String> {
    let mut all = set(extra);
    all.extend(ENDPOINT_CHECKS.iter().map(|(_, p)| (*p).to_owned()));
    all
}

#[tokio::test]
async fn two_regions_seeded_with_twins_give_exactly_the_expected_findings() {
    // Given an account in us-east-1 and eu-west-1
    let world = World::new().await;
    let account = world.onboard().await;
    let us = customer_ec2(&world, &account, "us-east-1").await;
    let eu = customer_ec2(&world, &account, "eu-west-1").await;
    let own = account.account_id.clone();
    // And in us-east-1 an exposed VPC: one subnet (auto-assigning public IPs) in one zone,
    // public through the main table's route to an internet gateway, no flow log, no endpoint
    // but a KMS one in one subnet with the default full-access policy
    let exposed = vpc(&us, "10.110.0.0/16").await;
    let exposed_subnet = subnet(&us, &exposed, "10.110.1.0/24", "us-east-1a").await;
    us.modify_subnet_attribute()
        .subnet_id(&exposed_subnet)
        .map_public_ip_on_launch(
            aws_sdk_ec2::types::AttributeBooleanValue::builder()
                .value(true)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let exposed_igw = internet_gateway(&us, &exposed).await;
    let exposed_main = main_table(&us, &exposed).await;
    route_to_igw(&us, &exposed_main, &exposed_igw).await;
    let full_access = json!({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}]});
    let open_endpoint = endpoint(
        &us,
        &exposed,
        "com.amazonaws.us-east-1.kms",
        &[&exposed_subnet],
        Some(&full_access),
    )
    .await;
    // And its twin: a flow log, a public and a private subnet in two zones, and an endpoint in
    // both subnets for each service asked for, with a policy admitting the account only
    let careful = vpc(&us, "10.120.0.0/16").await;
    flow_log(&world, &account, &us, &careful).await;
    let public_subnet = subnet(&us, &careful, "10.120.1.0/24", "us-east-1a").await;
    let private_subnet = subnet(&us, &careful, "10.120.2.0/24", "us-east-1b").await;
    let careful_igw = internet_gateway(&us, &careful).await;
    let public_table = table_for(&us, &careful, &public_subnet).await;
    route_to_igw(&us, &public_table, &careful_igw).await;
    let own_only = json!({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*",
        "Condition": {"StringEquals": {"aws:PrincipalAccount": own}}}]});
    let mut careful_endpoints = Vec::new();
    for (service, _) in ENDPOINT_CHECKS {
        careful_endpoints.push(
            endpoint(
                &us,
                &careful,
                &format!("com.amazonaws.us-east-1.{service}"),
                &[&public_subnet, &private_subnet],
                Some(&own_only),
            )
            .await,
        );
    }
    // And a peering of the two whose route covers the whole peer VPC, and its twin: a peering
    // of the careful VPC with a third one, routed to one subnet of it only
    let wide = peering(&us, &exposed, &careful).await;
    route_to_peer(&us, &exposed_main, "10.120.0.0/16", &wide).await;
    let third = vpc(&us, "10.130.0.0/16").await;
    let narrow = peering(&us, &careful, &third).await;
    let careful_main = main_table(&us, &careful).await;
    route_to_peer(&us, &careful_main, "10.130.1.0/24", &narrow).await;
    // And a Site-to-Site VPN connection
    let cgw = us
        .create_customer_gateway()
        .r#type(aws_sdk_ec2::types::GatewayType::Ipsec1)
        .public_ip("203.0.113.12")
        .bgp_asn(65000)
        .send()
        .await
        .unwrap()
        .customer_gateway
        .and_then(|g| g.customer_gateway_id)
        .unwrap();
    let vgw = us
        .create_vpn_gateway()
        .r#type(aws_sdk_ec2::types::GatewayType::Ipsec1)
        .send()
        .await
        .unwrap()
        .vpn_gateway
        .and_then(|g| g.vpn_gateway_id)
        .unwrap();
    let vpn = us
        .create_vpn_connection()
        .r#type("ipsec.1")
        .customer_gateway_id(&cgw)
        .vpn_gateway_id(&vgw)
        .send()
        .await
        .unwrap()
        .vpn_connection
        .and_then(|v| v.vpn_connection_id)
        .unwrap();
    // And in eu-west-1 a VPC with one private subnet
    let eu_vpc = vpc(&eu, "10.140.0.0/16").await;
    let eu_subnet = subnet(&eu, &eu_vpc, "10.140.1.0/24", "eu-west-1a").await;

    // When the VPC inventory and scan run
    let summary = inventory(&world, &account).await;
    let vpc_summary = &summary.accounts[0].services["vpc"];
    assert!(vpc_summary.complete, "{summary:?}");
    assert!(
        vpc_summary.regions["us-east-1"].complete && vpc_summary.regions["eu-west-1"].complete,
        "{vpc_summary:?}"
    );
    let scanned = scan(&world).await;
    assert!(scanned.errors.is_empty(), "{:?}", scanned.errors);

    // Then each resource fails exactly the checks that apply to it
    let us_arn = |r: &str| arn(&account, "us-east-1", r);
    let mut expected: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    expected.insert(
        us_arn(&format!("vpc/{exposed}")),
        missing_every_endpoint(&[FLOW_LOGS, MULTI_AZ, SEPARATE]),
    );
    expected.insert(us_arn(&format!("vpc/{careful}")), set(&[]));
    expected.insert(
        us_arn(&format!("vpc/{third}")),
        missing_every_endpoint(&[FLOW_LOGS, MULTI_AZ, SEPARATE]),
    );
    expected.insert(
        us_arn(&format!("subnet/{exposed_subnet}")),
        set(&[SUBNET_PUBLIC_IP]),
    );
    expected.insert(us_arn(&format!("subnet/{public_subnet}")), set(&[]));
    expected.insert(us_arn(&format!("subnet/{private_subnet}")), set(&[]));
    expected.insert(
        us_arn(&format!("vpc-endpoint/{open_endpoint}")),
        set(&["VpcEndpointMultiAz", "VpcEndpointTrustedPrincipals"]),
    );
    for e in &careful_endpoints {
        expected.insert(us_arn(&format!("vpc-endpoint/{e}")), set(&[]));
    }
    expected.insert(
        us_arn(&format!("vpc-peering-connection/{wide}")),
        set(&["VpcPeeringRoutesLeastAccess"]),
    );
    expected.insert(
        us_arn(&format!("vpc-peering-connection/{narrow}")),
        set(&[]),
    );
    expected.insert(us_arn(&format!("vpn-connection/{vpn}")), set(&[]));
    for table in [&exposed_main, &public_table, &careful_main] {
        expected.insert(us_arn(&format!("route-table/{table}")), set(&[]));
    }
    for igw in [&exposed_igw, &careful_igw] {
        expected.insert(us_arn(&format!("internet-gateway/{igw}")), set(&[]));
    }
    expected.insert(
        arn(&account, "eu-west-1", &format!("vpc/{eu_vpc}")),
        missing_every_endpoint(&[FLOW_LOGS, MULTI_AZ, SEPARATE]),
    );
    expected.insert(
        arn(&account, "eu-west-1", &format!("subnet/{eu_subnet}")),
        set(&[]),
    );
    // And the account's own VPCs are in both regions
    let spread = format!("arn:aws:ec2::{own}:vpc-region-spread");
    expected.insert(spread.clone(), set(&[]));
    let mut actual = BTreeMap::new();
    for arn in expected.keys() {
        assert!(
            stored(&world, &account, arn).await.is_some(),
            "{arn} is stored"
        );
        actual.insert(arn.clone(), active(&world, arn).await);
    }
    assert_eq!(actual, expected);

    // And the VPC ARNs keep EC2's ARN service while living in the vpc partition
    assert!(expected.keys().all(|a| a.starts_with("arn:aws:ec2:")));
    let spread_config = stored(&world, &account, &spread).await.unwrap();
    assert_eq!(
        spread_config["RegionsWithNonDefaultVpcs"],
        json!(["eu-west-1", "us-east-1"])
    );
    // And the careful VPC's subnets are judged public and private from their route tables
    let careful_config = stored(&world, &account, &us_arn(&format!("vpc/{careful}")))
        .await
        .unwrap();
    let mut subnets = vec![
        json!({"SubnetId": public_subnet, "AvailabilityZone": "us-east-1a", "Public": true}),
        json!({"SubnetId": private_subnet, "AvailabilityZone": "us-east-1b", "Public": false}),
    ];
    subnets.sort_by_key(|s| s["SubnetId"].as_str().unwrap_or_default().to_owned());
    assert_eq!(careful_config["Subnets"], json!(subnets));
    assert_eq!(careful_config["AvailabilityZoneCount"], 2);
    // And the route tables name their default route's target, the peering its overbroad route
    let main_config = stored(
        &world,
        &account,
        &us_arn(&format!("route-table/{exposed_main}")),
    )
    .await
    .unwrap();
    assert_eq!(main_config["Main"], true);
    assert_eq!(
        main_config["DefaultRoutes"]["Ipv4"],
        json!({"TargetKind": "InternetGateway", "TargetId": exposed_igw, "State": "active"})
    );
    let wide_config = stored(
        &world,
        &account,
        &us_arn(&format!("vpc-peering-connection/{wide}")),
    )
    .await
    .unwrap();
    assert_eq!(wide_config["Routes"][0]["Destination"], "10.120.0.0/16");
    assert_eq!(wide_config["Routes"][0]["CoversPeerVpc"], true);
    // And the VPN connection is stored without its customer gateway configuration (its keys)
    let vpn_config = stored(&world, &account, &us_arn(&format!("vpn-connection/{vpn}")))
        .await
        .unwrap();
    assert!(vpn_config.get("CustomerGatewayConfiguration").is_none());
    assert!(!vpn_config
        .to_string()
        .to_lowercase()
        .contains("pre_shared_key"));
    // And Block Public Access, which the local AWS does not implement, is a collection error in
    // each region, never stored as "off"
    for region in ["us-east-1", "eu-west-1"] {
        let bpa = arn(&account, region, "vpc-block-public-access-options");
        assert!(stored(&world, &account, &bpa).await.is_none(), "{bpa}");
        assert!(vpc_summary.regions[region].failed >= 1, "{vpc_summary:?}");
    }
    assert!(
        summary
            .errors
            .iter()
            .any(|e| e.contains("DescribeVpcBlockPublicAccessOptions")),
        "{:?}",
        summary.errors
    );
}

#[tokio::test]
async fn a_refused_region_keeps_what_it_had_and_the_other_is_swept() {
    // Given an account in us-east-1 and ap-southeast-2 with a VPC in each, inventoried and
    // scanned once (the fault below is scoped to this account)
    let world = World::new().await;
    let mut account = world.onboard().await;
    account.regions = vec!["us-east-1".into(), "ap-southeast-2".into()];
    world.deps.stores.accounts.put(&account).await.unwrap();
    let us = customer_ec2(&world, &account, "us-east-1").await;
    let ap = customer_ec2(&world, &account, "ap-southeast-2").await;
    let us_vpc = vpc(&us, "10.150.0.0/16").await;
    let ap_vpc = vpc(&ap, "10.160.0.0/16").await;
    let first = inventory(&world, &account).await;
    assert!(first.accounts[0].services["vpc"].complete, "{first:?}");
    scan(&world).await;
    let us_arn = arn(&account, "us-east-1", &format!("vpc/{us_vpc}"));
    let ap_arn = arn(&account, "ap-southeast-2", &format!("vpc/{ap_vpc}"));
    assert!(active(&world, &ap_arn).await.contains(FLOW_LOGS));
    // When both VPCs are deleted and ap-southeast-2's route-table listing is refused
    us.delete_vpc().vpc_id(&us_vpc).send().await.unwrap();
    ap.delete_vpc().vpc_id(&ap_vpc).send().await.unwrap();
    deny_in_region(
        &account.account_id,
        "ap-southeast-2",
        "DescribeRouteTables",
        1,
    )
    .await;
    let second = inventory(&world, &account).await;
    scan(&world).await;
    // Then the refused region is incomplete with its error, and keeps its VPC and finding
    let vpc_summary = &second.accounts[0].services["vpc"];
    let ap_summary = &vpc_summary.regions["ap-southeast-2"];
    assert!(!ap_summary.complete, "{vpc_summary:?}");
    let error = ap_summary.listing_error.as_deref().unwrap_or_default();
    assert!(
        error.contains("UnauthorizedOperation") && error.contains("DescribeRouteTables"),
        "{error}"
    );
    assert!(stored(&world, &account, &ap_arn).await.is_some());
    assert!(active(&world, &ap_arn).await.contains(FLOW_LOGS));
    // And the account-wide region spread, undecidable without ap-southeast-2, is failed and
    // keeps what the first run stored (both regions with a VPC of their own)
    let spread = format!("arn:aws:ec2::{}:vpc-region-spread", account.account_id);
    assert!(
        second
            .errors
            .iter()
            .any(|e| e.contains("vpc-region-spread")),
        "{:?}",
        second.errors
    );
    assert_eq!(
        stored(&world, &account, &spread).await.unwrap()["NonDefaultVpcRegionCount"],
        2
    );
    // And the other region was swept, its VPC's findings resolved as gone
    assert!(vpc_summary.regions["us-east-1"].complete);
    assert!(stored(&world, &account, &us_arn).await.is_none());
    assert!(active(&world, &us_arn).await.is_empty());
}

#[tokio::test]
async fn vpc_items_an_older_version_stored_under_ec2_are_swept_by_the_ec2_inventory() {
    // Given a VPC stored under the account's ec2 partition, as before VPC was a service
    let world = World::new().await;
    let mut account = world.onboard().await;
    account.regions = vec!["us-east-1".into()];
    world.deps.stores.accounts.put(&account).await.unwrap();
    let us = customer_ec2(&world, &account, "us-east-1").await;
    let id = vpc(&us, "10.170.0.0/16").await;
    let vpc_arn = arn(&account, "us-east-1", &format!("vpc/{id}"));
    let old = Resource {
        arn: vpc_arn.clone(),
        account_id: account.account_id.clone(),
        service: Service::Ec2,
        resource_type: "AWS::EC2::VPC".into(),
        region: "us-east-1".into(),
        configuration: json!({"VpcId": id, "Region": "us-east-1", "IsDefault": false, "FlowLogs": [], "Endpoints": []}),
        last_seen_at: chrono::Utc::now() - chrono::Duration::days(1),
    };
    world
        .deps
        .stores
        .resources
        .put_if_newer(&old)
        .await
        .unwrap();
    let ec2_partition = format!("{}_ec2", account.account_id);
    // When the EC2 inventory runs (its complete region no longer lists VPCs) and then the VPC one
    let ec2_summary = crate::ec2_posture::inventory(&world, &account).await;
    assert!(ec2_summary.accounts[0].services["ec2"].regions["us-east-1"].complete);
    inventory(&world, &account).await;
    // Then the VPC is gone from the ec2 partition and stored in the vpc one
    let under_ec2 = world
        .deps
        .stores
        .resources
        .get(&ec2_partition, &vpc_arn)
        .await
        .unwrap();
    assert!(under_ec2.is_none(), "{under_ec2:?}");
    assert!(ec2_summary.accounts[0].services["ec2"].removed >= 1);
    assert!(stored(&world, &account, &vpc_arn).await.is_some());
}

/// An EventBridge "AWS API Call via CloudTrail" event for an EC2 (VPC) call.
fn vpc_event(
    account_id: &str,
    region: &str,
    event_name: &str,
    request: Value,
    response: Value,
) -> String {
    json!({
        "version": "0",
        "id": uuid::Uuid::new_v4().to_string(),
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.ec2",
        "account": account_id,
        "time": chrono::Utc::now().to_rfc3339(),
        "region": region,
        "resources": [],
        "detail": {
            "eventVersion": "1.09",
            "userIdentity": {"type": "IAMUser", "accountId": account_id, "userName": "alice"},
            "eventTime": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "eventSource": "ec2.amazonaws.com",
            "eventName": event_name,
            "awsRegion": region,
            "sourceIPAddress": "198.51.100.10",
            "requestParameters": request,
            "responseElements": response,
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

#[tokio::test]
async fn subnet_flow_log_and_route_changes_open_and_resolve_findings_in_real_time() {
    // Given an inventoried and scanned VPC with one private subnet and no flow log, an internet
    // gateway attached, and the events queue
    let world = World::new().await;
    let mut account = world.onboard().await;
    account.regions = vec!["us-east-1".into()];
    world.deps.stores.accounts.put(&account).await.unwrap();
    let ec2 = customer_ec2(&world, &account, "us-east-1").await;
    let net = vpc(&ec2, "10.180.0.0/16").await;
    let sub = subnet(&ec2, &net, "10.180.1.0/24", "us-east-1a").await;
    let igw = internet_gateway(&ec2, &net).await;
    let main = main_table(&ec2, &net).await;
    inventory(&world, &account).await;
    scan(&world).await;
    let vpc_arn = arn(&account, "us-east-1", &format!("vpc/{net}"));
    let subnet_arn = arn(&account, "us-east-1", &format!("subnet/{sub}"));
    assert!(active(&world, &vpc_arn).await.contains(FLOW_LOGS));
    assert!(!active(&world, &subnet_arn).await.contains(SUBNET_PUBLIC_IP));
    let sqs = aws_sdk_sqs::Client::new(&world.deps.sdk);
    let queue = qrie_tests::queue_with_dlq(&sqs, &format!("{}-vpc-events", world.id), 30).await;
    let account_id = account.account_id.clone();
    let map_public = |on: bool| {
        ec2.modify_subnet_attribute()
            .subnet_id(&sub)
            .map_public_ip_on_launch(
                aws_sdk_ec2::types::AttributeBooleanValue::builder()
                    .value(on)
                    .build(),
            )
            .send()
    };
    let modified = |on: bool| {
        vpc_event(
            &account_id,
            "us-east-1",
            "ModifySubnetAttribute",
            json!({"subnetId": sub, "mapPublicIpOnLaunch": {"value": on}}),
            json!({"_return": true}),
        )
    };
    // When the subnet starts giving public IPs and the event goes through the queue
    map_public(true).await.unwrap();
    through_the_queue(&world, &sqs, &queue.url, &modified(true)).await;
    // Then its finding opens within the message
    assert!(active(&world, &subnet_arn).await.contains(SUBNET_PUBLIC_IP));
    // When it stops, the finding resolves
    map_public(false).await.unwrap();
    through_the_queue(&world, &sqs, &queue.url, &modified(false)).await;
    let findings = world
        .deps
        .stores
        .findings
        .for_resource(&subnet_arn)
        .await
        .unwrap();
    assert!(
        findings
            .iter()
            .any(|f| f.policy_id == SUBNET_PUBLIC_IP && f.state == FindingState::Resolved),
        "{findings:?}"
    );
    // When a flow log is created for the VPC, its finding resolves
    let log = flow_log(&world, &account, &ec2, &net).await;
    let created = vpc_event(
        &account.account_id,
        "us-east-1",
        "CreateFlowLogs",
        json!({"CreateFlowLogsRequest": {"ResourceId": {"tag": 1, "content": net}, "ResourceType": "VPC",
            "TrafficType": "REJECT", "LogDestinationType": "s3"}}),
        json!({"CreateFlowLogsResponse": {"flowLogIdSet": {"item": log}, "unsuccessful": ""}}),
    );
    through_the_queue(&world, &sqs, &queue.url, &created).await;
    assert!(!active(&world, &vpc_arn).await.contains(FLOW_LOGS));
    // When the main table gets a route to the internet gateway, the table is refreshed and so
    // is its VPC (a dependent): the subnet is now public
    route_to_igw(&ec2, &main, &igw).await;
    let routed = vpc_event(
        &account.account_id,
        "us-east-1",
        "CreateRoute",
        json!({"routeTableId": main, "destinationCidrBlock": "0.0.0.0/0", "gatewayId": igw}),
        json!({"_return": true}),
    );
    through_the_queue(&world, &sqs, &queue.url, &routed).await;
    let table = stored(
        &world,
        &account,
        &arn(&account, "us-east-1", &format!("route-table/{main}")),
    )
    .await
    .expect("the route table is stored");
    assert_eq!(
        table["DefaultRoutes"]["Ipv4"]["TargetKind"],
        "InternetGateway"
    );
    let refreshed = stored(&world, &account, &vpc_arn).await.unwrap();
    assert_eq!(refreshed["PublicSubnetCount"], 1);
    assert_eq!(refreshed["PrivateSubnetCount"], 0);
}
