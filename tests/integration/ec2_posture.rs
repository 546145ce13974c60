//! EC2 posture end to end on the local AWS (VPC posture is `vpc_posture.rs`): a customer account seeded in two regions
//! with each misconfiguration next to a compliant twin, inventoried and scanned; an account
//! limited to one region; a region whose listing is refused; and the account's foreign
//! snapshots (the local AWS ships ~1,300 public ones) left out.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_ec2::types::{
    HttpTokensState, InstanceMetadataOptionsRequest, IpPermission, IpRange, Ipv6Range,
    LaunchPermission, LaunchPermissionModifications, PermissionGroup, UserIdGroupPair,
};
use futures::StreamExt;
use lambda_runtime::{Context, LambdaEvent};
use qrie::handler::{inventory_handler, scan_handler};
use qrie::inventory::{InventoryRequest, InventorySummary};
use qrie::model::{Account, FindingState};
use qrie::scan::{ScanRequest, ScanSummary};
use qrie_tests::{inject_fault, World};
use serde_json::{json, Value};

pub async fn customer_ec2(world: &World, account: &Account, region: &str) -> aws_sdk_ec2::Client {
    let sdk = world.as_customer(account).await;
    aws_sdk_ec2::Client::new(&qrie::aws::in_region(&sdk, region))
}

pub async fn inventory(world: &World, account: &Account) -> InventorySummary {
    let request = InventoryRequest {
        service: "ec2".into(),
        account_id: Some(account.account_id.clone()),
    };
    inventory_handler(LambdaEvent::new(request, Context::default()), &world.deps)
        .await
        .expect("inventory runs")
}

async fn scan(world: &World) -> ScanSummary {
    let request = ScanRequest {
        service: Some("ec2".into()),
        ..Default::default()
    };
    scan_handler(LambdaEvent::new(request, Context::default()), &world.deps)
        .await
        .expect("scan runs")
}

pub fn arn(account: &Account, region: &str, resource: &str) -> String {
    format!("arn:aws:ec2:{region}:{}:{resource}", account.account_id)
}

/// The stored configuration of `arn`, if stored.
pub async fn stored(world: &World, account: &Account, arn: &str) -> Option<Value> {
    world
        .deps
        .stores
        .resources
        .get(&format!("{}_ec2", account.account_id), arn)
        .await
        .unwrap()
        .map(|r| r.configuration)
}

/// The ACTIVE findings' policy ids of `arn`.
pub async fn active(world: &World, arn: &str) -> BTreeSet<String> {
    world
        .deps
        .stores
        .findings
        .for_resource(arn)
        .await
        .unwrap()
        .into_iter()
        .filter(|f| f.state == FindingState::Active)
        .map(|f| f.policy_id)
        .collect()
}

fn set(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|s| (*s).to_owned()).collect()
}

pub async fn vpc(ec2: &aws_sdk_ec2::Client, cidr: &str) -> String {
    ec2.create_vpc()
        .cidr_block(cidr)
        .send()
        .await
        .expect("VPC created")
        .vpc
        .and_then(|v| v.vpc_id)
        .expect("VPC id")
}

pub async fn group(
    ec2: &aws_sdk_ec2::Client,
    vpc: &str,
    name: &str,
    rules: Vec<IpPermission>,
) -> String {
    let id = ec2
        .create_security_group()
        .group_name(name)
        .description(format!("qrie test {name}"))
        .vpc_id(vpc)
        .send()
        .await
        .expect("group created")
        .group_id
        .expect("group id");
    if !rules.is_empty() {
        ec2.authorize_security_group_ingress()
            .group_id(&id)
            .set_ip_permissions(Some(rules))
            .send()
            .await
            .expect("ingress authorised");
    }
    id
}

/// A launch template whose one version asks (or not) for a public IP, with IMDSv2 required or
/// left to the defaults, and the given user data.
pub async fn launch_template(
    ec2: &aws_sdk_ec2::Client,
    name: &str,
    public_ip: bool,
    imdsv2: bool,
    user_data: &str,
) -> String {
    use aws_sdk_ec2::types::{
        LaunchTemplateHttpTokensState, LaunchTemplateInstanceMetadataOptionsRequest,
        LaunchTemplateInstanceNetworkInterfaceSpecificationRequest, RequestLaunchTemplateData,
    };
    let mut data = RequestLaunchTemplateData::builder()
        .network_interfaces(
            LaunchTemplateInstanceNetworkInterfaceSpecificationRequest::builder()
                .device_index(0)
                .associate_public_ip_address(public_ip)
                .build(),
        )
        .user_data(aws_smithy_types::base64::encode(user_data));
    if imdsv2 {
        data = data.metadata_options(
            LaunchTemplateInstanceMetadataOptionsRequest::builder()
                .http_tokens(LaunchTemplateHttpTokensState::Required)
                .http_endpoint(
                    aws_sdk_ec2::types::LaunchTemplateInstanceMetadataEndpointState::Enabled,
                )
                .build(),
        );
    }
    ec2.create_launch_template()
        .launch_template_name(name)
        .launch_template_data(data.build())
        .send()
        .await
        .expect("launch template created")
        .launch_template
        .and_then(|t| t.launch_template_id)
        .expect("template id")
}

/// A launch template requiring IMDSv2 whose one version maps an EBS volume, encrypted or
/// explicitly not.
pub async fn launch_template_with_volume(
    ec2: &aws_sdk_ec2::Client,
    name: &str,
    encrypted: bool,
) -> String {
    use aws_sdk_ec2::types::{
        LaunchTemplateBlockDeviceMappingRequest, LaunchTemplateEbsBlockDeviceRequest,
        LaunchTemplateHttpTokensState, LaunchTemplateInstanceMetadataOptionsRequest,
        RequestLaunchTemplateData,
    };
    let data = RequestLaunchTemplateData::builder()
        .metadata_options(
            LaunchTemplateInstanceMetadataOptionsRequest::builder()
                .http_tokens(LaunchTemplateHttpTokensState::Required)
                .build(),
        )
        .block_device_mappings(
            LaunchTemplateBlockDeviceMappingRequest::builder()
                .device_name("/dev/xvdb")
                .ebs(
                    LaunchTemplateEbsBlockDeviceRequest::builder()
                        .volume_size(8)
                        .encrypted(encrypted)
                        .build(),
                )
                .build(),
        )
        .build();
    ec2.create_launch_template()
        .launch_template_name(name)
        .launch_template_data(data)
        .send()
        .await
        .expect("launch template created")
        .launch_template
        .and_then(|t| t.launch_template_id)
        .expect("template id")
}

/// A transit gateway that auto-accepts shared attachments, or not.
pub async fn transit_gateway(ec2: &aws_sdk_ec2::Client, auto_accept: bool) -> String {
    use aws_sdk_ec2::types::{AutoAcceptSharedAttachmentsValue, TransitGatewayRequestOptions};
    let value = if auto_accept {
        AutoAcceptSharedAttachmentsValue::Enable
    } else {
        AutoAcceptSharedAttachmentsValue::Disable
    };
    ec2.create_transit_gateway()
        .options(
            TransitGatewayRequestOptions::builder()
                .auto_accept_shared_attachments(value)
                .build(),
        )
        .send()
        .await
        .expect("transit gateway created")
        .transit_gateway
        .and_then(|t| t.transit_gateway_id)
        .expect("gateway id")
}

/// A detached network interface in `subnet`, with source/destination checking as given.
pub async fn interface(ec2: &aws_sdk_ec2::Client, subnet: &str, checked: bool) -> String {
    let id = ec2
        .create_network_interface()
        .subnet_id(subnet)
        .send()
        .await
        .expect("interface created")
        .network_interface
        .and_then(|n| n.network_interface_id)
        .expect("interface id");
    ec2.modify_network_interface_attribute()
        .network_interface_id(&id)
        .source_dest_check(
            aws_sdk_ec2::types::AttributeBooleanValue::builder()
                .value(checked)
                .build(),
        )
        .send()
        .await
        .expect("source/destination check set");
    id
}

pub fn tcp(from: i32, to: i32, cidr: &str) -> IpPermission {
    let p = IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(from)
        .to_port(to);
    if cidr.contains(':') {
        p.ipv6_ranges(Ipv6Range::builder().cidr_ipv6(cidr).build())
            .build()
    } else {
        p.ip_ranges(IpRange::builder().cidr_ip(cidr).build())
            .build()
    }
}

fn all_traffic(cidr: &str) -> IpPermission {
    IpPermission::builder()
        .ip_protocol("-1")
        .ip_ranges(IpRange::builder().cidr_ip(cidr).build())
        .build()
}

async fn default_group_of(ec2: &aws_sdk_ec2::Client, vpc: &str) -> String {
    ec2.describe_security_groups()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("vpc-id")
                .values(vpc)
                .build(),
        )
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("group-name")
                .values("default")
                .build(),
        )
        .send()
        .await
        .unwrap()
        .security_groups()[0]
        .group_id()
        .unwrap()
        .to_owned()
}

pub(crate) async fn an_image_id(ec2: &aws_sdk_ec2::Client) -> String {
    ec2.describe_images()
        .owners("amazon")
        .send()
        .await
        .unwrap()
        .images()
        .iter()
        .find_map(|i| i.image_id().map(str::to_owned))
        .expect("the local AWS ships AMIs")
}

async fn subnet(ec2: &aws_sdk_ec2::Client, vpc: &str, cidr: &str) -> String {
    ec2.create_subnet()
        .vpc_id(vpc)
        .cidr_block(cidr)
        .send()
        .await
        .unwrap()
        .subnet
        .and_then(|s| s.subnet_id)
        .unwrap()
}

/// Runs one instance; `public` puts it in the default VPC (where the local AWS gives it a
/// public address), else in `subnet` of a new VPC (none).
async fn instance(
    ec2: &aws_sdk_ec2::Client,
    image: &str,
    subnet: Option<&str>,
    tokens: HttpTokensState,
    user_data: &str,
) -> String {
    // Detailed monitoring where the metadata is locked down: the careful twin.
    let monitored = tokens == HttpTokensState::Required;
    ec2.run_instances()
        .image_id(image)
        .monitoring(
            aws_sdk_ec2::types::RunInstancesMonitoringEnabled::builder()
                .enabled(monitored)
                .build(),
        )
        .min_count(1)
        .max_count(1)
        .set_subnet_id(subnet.map(str::to_owned))
        .metadata_options(
            InstanceMetadataOptionsRequest::builder()
                .http_tokens(tokens)
                .build(),
        )
        .user_data(aws_smithy_types::base64::encode(user_data))
        .send()
        .await
        .expect("instance runs")
        .instances()[0]
        .instance_id()
        .unwrap()
        .to_owned()
}

async fn volume(ec2: &aws_sdk_ec2::Client, az: &str, encrypted: bool) -> String {
    ec2.create_volume()
        .availability_zone(az)
        .size(8)
        .encrypted(encrypted)
        .send()
        .await
        .unwrap()
        .volume_id
        .unwrap()
}

async fn snapshot(ec2: &aws_sdk_ec2::Client, volume: &str, public: bool) -> String {
    let id = ec2
        .create_snapshot()
        .volume_id(volume)
        .send()
        .await
        .unwrap()
        .snapshot_id
        .unwrap();
    // The classic form (group names or user ids with an operation type), which the local AWS
    // reads; AWS accepts both.
    let request = ec2
        .modify_snapshot_attribute()
        .snapshot_id(&id)
        .attribute(aws_sdk_ec2::types::SnapshotAttributeName::CreateVolumePermission)
        .operation_type(aws_sdk_ec2::types::OperationType::Add);
    let request = if public {
        request.group_names("all")
    } else {
        request.user_ids("222233334444")
    };
    request.send().await.unwrap();
    id
}

const USER_DATA_WITH_KEY: &str =
    "#!/bin/sh\nexport AWS_ACCESS_KEY_ID=AKIAQWERTYUIOPASDFGH\n/opt/app/start\n";

const SSH: &str = "EC2SecurityGroupSshOpenToInternet";
const RDP: &str = "EC2SecurityGroupRdpOpenToInternet";
const ALL_PORTS: &str = "EC2SecurityGroupAllPortsOpenToInternet";
const HIGH_RISK: &str = "EC2SecurityGroupHighRiskPortsOpenToInternet";
const AUTHORIZED: &str = "EC2SecurityGroupOnlyAuthorizedPortsOpenToInternet";
const DEFAULT_SG: &str = "EC2DefaultSecurityGroupRestrictsAllTraffic";
const UNUSED: &str = "EC2SecurityGroupUnused";
const WORLD_INGRESS: &str = "EC2SecurityGroupNoIngressFromInternet";
const PUBLIC_RANGE: &str = "EC2SecurityGroupNoIngressFromPublicIpRange";
const WIDE_PUBLIC: &str = "EC2SecurityGroupNoWideOpenPublicIpv4";
const WIZARD: &str = "EC2SecurityGroupNotFromLaunchWizard";

/// Every world-open port check that an all-traffic rule from the world meets.
const EVERY_PORT_CHECK: &[&str] = &[
    WORLD_INGRESS,
    SSH,
    RDP,
    ALL_PORTS,
    HIGH_RISK,
    AUTHORIZED,
    "EC2SecurityGroupCassandraOpenToInternet",
    "EC2SecurityGroupElasticsearchOpenToInternet",
    "EC2SecurityGroupFtpOpenToInternet",
    "EC2SecurityGroupKafkaOpenToInternet",
    "EC2SecurityGroupMemcachedOpenToInternet",
    "EC2SecurityGroupMongoDbOpenToInternet",
    "EC2SecurityGroupMySqlOpenToInternet",
    "EC2SecurityGroupOracleOpenToInternet",
    "EC2SecurityGroupPostgreSqlOpenToInternet",
    "EC2SecurityGroupRedisOpenToInternet",
    "EC2SecurityGroupSqlServerOpenToInternet",
    "EC2SecurityGroupTelnetOpenToInternet",
];

#[tokio::test]
async fn two_regions_seeded_with_twins_give_exactly_the_expected_findings() {
    // Given an account in us-east-1 and eu-west-1
    let world = World::new().await;
    let account = world.onboard().await;
    let us = customer_ec2(&world, &account, "us-east-1").await;
    let eu = customer_ec2(&world, &account, "eu-west-1").await;
    // And in us-east-1 a VPC without flow logs, and one with a flow log, an EC2 endpoint and a
    // default group stripped of its rules
    let bare = vpc(&us, "10.10.0.0/16").await;
    let watched = vpc(&us, "10.20.0.0/16").await;
    let logs = world.bucket("flow-logs");
    crate::seed::create_bucket(
        &world.customer_s3(&account, "us-east-1").await,
        &logs,
        "us-east-1",
    )
    .await;
    us.create_flow_logs()
        .resource_ids(&watched)
        .resource_type(aws_sdk_ec2::types::FlowLogsResourceType::Vpc)
        .traffic_type(aws_sdk_ec2::types::TrafficType::All)
        .log_destination_type(aws_sdk_ec2::types::LogDestinationType::S3)
        .log_destination(format!("arn:aws:s3:::{logs}"))
        .send()
        .await
        .unwrap();
    us.create_vpc_endpoint()
        .vpc_id(&watched)
        .service_name("com.amazonaws.us-east-1.ec2")
        .vpc_endpoint_type(aws_sdk_ec2::types::VpcEndpointType::Interface)
        .send()
        .await
        .unwrap();
    let watched_default = default_group_of(&us, &watched).await;
    us.revoke_security_group_egress()
        .group_id(&watched_default)
        .ip_permissions(all_traffic("0.0.0.0/0"))
        .send()
        .await
        .unwrap();
    let bare_default = default_group_of(&us, &bare).await;
    // And groups: SSH from 0.0.0.0/0, RDP from ::/0, all traffic from 0.0.0.0/0, PostgreSQL
    // from the world, a range 20-30 from the world; and the twins: SSH from a private range,
    // HTTPS from the world, SSH from another group
    let ssh = group(&us, &bare, "ssh", vec![tcp(22, 22, "0.0.0.0/0")]).await;
    let rdp6 = group(&us, &bare, "rdp6", vec![tcp(3389, 3389, "::/0")]).await;
    let everything = group(&us, &bare, "everything", vec![all_traffic("0.0.0.0/0")]).await;
    let postgres = group(&us, &bare, "postgres", vec![tcp(5432, 5432, "0.0.0.0/0")]).await;
    let range = group(&us, &bare, "range", vec![tcp(20, 30, "0.0.0.0/0")]).await;
    let private_ssh = group(&us, &bare, "private-ssh", vec![tcp(22, 22, "10.0.0.0/8")]).await;
    let https = group(
        &us,
        &bare,
        "https",
        vec![tcp(443, 443, "0.0.0.0/0"), tcp(443, 443, "::/0")],
    )
    .await;
    let from_group = group(&us, &bare, "from-group", vec![]).await;
    us.authorize_security_group_ingress()
        .group_id(&from_group)
        .ip_permissions(
            IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(22)
                .to_port(22)
                .user_id_group_pairs(UserIdGroupPair::builder().group_id(&private_ssh).build())
                .build(),
        )
        .send()
        .await
        .unwrap();
    // And an IMDSv1 instance with a public address, basic monitoring and a key in its user
    // data, and its twin (IMDSv2, private subnet, detailed monitoring, clean user data)
    let image = an_image_id(&us).await;
    let private = subnet(&us, &bare, "10.10.1.0/24").await;
    let exposed = instance(
        &us,
        &image,
        None,
        HttpTokensState::Optional,
        USER_DATA_WITH_KEY,
    )
    .await;
    let careful = instance(
        &us,
        &image,
        Some(&private),
        HttpTokensState::Required,
        "#!/bin/sh\n/opt/app/start\n",
    )
    .await;
    us.modify_instance_attribute()
        .instance_id(&careful)
        .groups(&https)
        .send()
        .await
        .expect("the careful instance uses the HTTPS group");
    // And an unencrypted volume with a public snapshot, and an encrypted one with a private one
    let plain = volume(&us, "us-east-1a", false).await;
    let sealed = volume(&us, "us-east-1a", true).await;
    // (and an encrypted volume that no snapshot copies)
    let uncopied = volume(&us, "us-east-1a", true).await;
    let public_snap = snapshot(&us, &plain, true).await;
    let private_snap = snapshot(&us, &sealed, false).await;
    // And a public AMI, and a private one shared with one account
    let public_ami = us
        .create_image()
        .instance_id(&careful)
        .name("qrie-public")
        .send()
        .await
        .unwrap()
        .image_id
        .unwrap();
    us.modify_image_attribute()
        .image_id(&public_ami)
        .launch_permission(
            LaunchPermissionModifications::builder()
                .add(
                    LaunchPermission::builder()
                        .group(PermissionGroup::All)
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let shared_ami = us
        .create_image()
        .instance_id(&careful)
        .name("qrie-shared")
        .send()
        .await
        .unwrap()
        .image_id
        .unwrap();
    us.modify_image_attribute()
        .image_id(&shared_ami)
        .launch_permission(
            LaunchPermissionModifications::builder()
                .add(LaunchPermission::builder().user_id("222233334444").build())
                .build(),
        )
        .send()
        .await
        .unwrap();
    // And a launch template handing out public IPs, and its twin
    let public_template =
        launch_template(&us, "qrie-public", true, false, USER_DATA_WITH_KEY).await;
    let private_template = launch_template(&us, "qrie-private", false, true, "#!/bin/sh\n").await;
    // And in eu-west-1, EBS encryption by default on, and SSH from ::/0 in a VPC of its own
    eu.enable_ebs_encryption_by_default().send().await.unwrap();
    let eu_vpc = vpc(&eu, "10.30.0.0/16").await;
    let eu_ssh = group(&eu, &eu_vpc, "ssh6", vec![tcp(22, 22, "::/0")]).await;
    // And in us-east-1: HTTPS from a wide public range (a /16), and its twin from a /24 (still a
    // specific public range); a group the launch wizard named; a template mapping an
    // unencrypted volume and its encrypted twin; a transit gateway auto-accepting shared
    // attachments and its twin; an interface forwarding traffic (source/destination check
    // off) and its twin
    let wide = group(
        &us,
        &bare,
        "partner-wide",
        vec![tcp(443, 443, "52.94.0.0/16")],
    )
    .await;
    let narrow = group(&us, &bare, "partner", vec![tcp(443, 443, "203.0.113.0/24")]).await;
    let wizard = group(&us, &bare, "launch-wizard-1", vec![]).await;
    let plain_template = launch_template_with_volume(&us, "qrie-plain-volume", false).await;
    let sealed_template = launch_template_with_volume(&us, "qrie-sealed-volume", true).await;
    let accepting = transit_gateway(&us, true).await;
    let reviewing = transit_gateway(&us, false).await;
    let forwarding = interface(&us, &private, false).await;
    let checking = interface(&us, &private, true).await;

    // When the inventory and the scan run
    let summary = inventory(&world, &account).await;
    let ec2 = &summary.accounts[0].services["ec2"];
    assert!(ec2.complete, "{summary:?}");
    assert!(
        ec2.regions["us-east-1"].complete && ec2.regions["eu-west-1"].complete,
        "{ec2:?}"
    );
    let scanned = scan(&world).await;
    assert!(scanned.errors.is_empty(), "{:?}", scanned.errors);

    // Then each group fails exactly the checks that apply to it, under each check
    let us_arn = |r: &str| arn(&account, "us-east-1", r);
    let mut expected: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    expected.insert(
        us_arn(&format!("security-group/{ssh}")),
        set(&[SSH, HIGH_RISK, AUTHORIZED, WORLD_INGRESS]),
    );
    expected.insert(
        us_arn(&format!("security-group/{rdp6}")),
        set(&[RDP, HIGH_RISK, AUTHORIZED, WORLD_INGRESS]),
    );
    expected.insert(
        us_arn(&format!("security-group/{everything}")),
        set(EVERY_PORT_CHECK),
    );
    expected.insert(
        us_arn(&format!("security-group/{postgres}")),
        set(&[
            "EC2SecurityGroupPostgreSqlOpenToInternet",
            HIGH_RISK,
            AUTHORIZED,
            WORLD_INGRESS,
        ]),
    );
    expected.insert(
        us_arn(&format!("security-group/{range}")),
        set(&[
            SSH,
            "EC2SecurityGroupFtpOpenToInternet",
            "EC2SecurityGroupTelnetOpenToInternet",
            HIGH_RISK,
            AUTHORIZED,
            WORLD_INGRESS,
        ]),
    );
    // The HTTPS group passes the authorized-ports check, but still admits the world on a port,
    // on the careful instance's interface (no exempt AWS-managed one)
    expected.insert(
        us_arn(&format!("security-group/{https}")),
        set(&[WORLD_INGRESS]),
    );
    expected.insert(
        us_arn(&format!("security-group/{wide}")),
        set(&[WIDE_PUBLIC, PUBLIC_RANGE]),
    );
    expected.insert(
        us_arn(&format!("security-group/{narrow}")),
        set(&[PUBLIC_RANGE]),
    );
    expected.insert(us_arn(&format!("security-group/{wizard}")), set(&[WIZARD]));
    for twin in [&private_ssh, &from_group, &watched_default] {
        expected.insert(us_arn(&format!("security-group/{twin}")), set(&[]));
    }
    expected.insert(
        us_arn(&format!("security-group/{bare_default}")),
        set(&[DEFAULT_SG]),
    );
    expected.insert(
        arn(&account, "eu-west-1", &format!("security-group/{eu_ssh}")),
        set(&[SSH, HIGH_RISK, AUTHORIZED, WORLD_INGRESS]),
    );
    // And the instances, volumes, snapshots, VPCs and the EBS defaults
    expected.insert(
        us_arn(&format!("instance/{exposed}")),
        set(&[
            "EC2InstanceImdsv2Required",
            "EC2InstanceNoPublicIp",
            "EC2InstanceProfileAttached",
            "EC2InstanceDetailedMonitoring",
            "EC2InstanceNoSecretsInUserData",
        ]),
    );
    expected.insert(
        us_arn(&format!("instance/{careful}")),
        set(&["EC2InstanceProfileAttached"]),
    );
    expected.insert(
        us_arn(&format!("volume/{plain}")),
        set(&["EC2VolumeEncrypted"]),
    );
    expected.insert(us_arn(&format!("volume/{sealed}")), set(&[]));
    expected.insert(
        us_arn(&format!("volume/{uncopied}")),
        set(&["EC2VolumeHasSnapshot"]),
    );
    expected.insert(
        us_arn(&format!("snapshot/{public_snap}")),
        set(&["EC2SnapshotNotPublic", "EC2SnapshotEncrypted"]),
    );
    expected.insert(us_arn(&format!("snapshot/{private_snap}")), set(&[]));
    // (the VPCs' findings are the VPC service's: `vpc_posture.rs`)
    expected.insert(
        us_arn(&format!("launch-template/{public_template}")),
        set(&[
            "EC2LaunchTemplateNoPublicIp",
            "EC2LaunchTemplateNoSecretsInUserData",
            "EC2LaunchTemplateImdsv2Required",
        ]),
    );
    expected.insert(
        us_arn(&format!("launch-template/{private_template}")),
        set(&[]),
    );
    expected.insert(
        us_arn(&format!("launch-template/{plain_template}")),
        set(&["EC2LaunchTemplateEbsEncrypted"]),
    );
    expected.insert(
        us_arn(&format!("launch-template/{sealed_template}")),
        set(&[]),
    );
    expected.insert(
        us_arn(&format!("transit-gateway/{accepting}")),
        set(&["EC2TransitGatewayNoAutoAcceptSharedAttachments"]),
    );
    expected.insert(us_arn(&format!("transit-gateway/{reviewing}")), set(&[]));
    expected.insert(
        us_arn(&format!("network-interface/{forwarding}")),
        set(&["EC2NetworkInterfaceSourceDestCheckEnabled"]),
    );
    expected.insert(us_arn(&format!("network-interface/{checking}")), set(&[]));
    expected.insert(
        us_arn(&format!("image/{public_ami}")),
        set(&["EC2AmiNotPublic"]),
    );
    expected.insert(us_arn(&format!("image/{shared_ami}")), set(&[]));
    // And the region settings, which the local AWS cannot answer: no finding either way
    for region in ["us-east-1", "eu-west-1"] {
        expected.insert(arn(&account, region, "region-settings"), set(&[]));
    }
    expected.insert(
        us_arn("ebs-encryption-by-default"),
        set(&["EC2EbsDefaultEncryptionEnabled"]),
    );
    expected.insert(
        arn(&account, "eu-west-1", "ebs-encryption-by-default"),
        set(&[]),
    );
    // And every group of its own that no interface uses is unused (default groups are exempt,
    // and the HTTPS twin is the careful instance's)
    for unused in [
        &ssh,
        &rdp6,
        &everything,
        &postgres,
        &range,
        &private_ssh,
        &from_group,
        &wide,
        &narrow,
        &wizard,
    ] {
        let group = us_arn(&format!("security-group/{unused}"));
        expected
            .get_mut(&group)
            .expect("listed above")
            .insert(UNUSED.into());
    }
    let eu_group = arn(&account, "eu-west-1", &format!("security-group/{eu_ssh}"));
    expected
        .get_mut(&eu_group)
        .expect("listed above")
        .insert(UNUSED.into());
    let mut actual = BTreeMap::new();
    for arn in expected.keys() {
        assert!(
            stored(&world, &account, arn).await.is_some(),
            "{arn} is stored"
        );
        actual.insert(arn.clone(), active(&world, arn).await);
    }
    assert_eq!(actual, expected);

    // And the region settings the local AWS lacks are listed as unreadable, never guessed
    let settings = stored(&world, &account, &us_arn("region-settings"))
        .await
        .expect("region settings stored");
    let unreadable: BTreeSet<&str> = settings["Unreadable"]
        .as_array()
        .expect("unreadable parts listed")
        .iter()
        .filter_map(|p| p["Path"].as_str())
        .collect();
    assert_eq!(
        unreadable,
        BTreeSet::from([
            "ImageBlockPublicAccess",
            "InstanceMetadataDefaults",
            "SnapshotBlockPublicAccess"
        ]),
        "{settings}"
    );
    assert!(settings.get("SnapshotBlockPublicAccess").is_none());

    // And the AMIs are collected with their launch permissions, the key in the user data only
    // masked, and no foreign snapshot stored
    let public_image = stored(&world, &account, &us_arn(&format!("image/{public_ami}")))
        .await
        .expect("public AMI stored");
    assert_eq!(public_image["Public"], true);
    assert_eq!(
        public_image["LaunchPermissions"],
        json!([{"Group": "all", "UserId": null}])
    );
    let shared_image = stored(&world, &account, &us_arn(&format!("image/{shared_ami}")))
        .await
        .expect("shared AMI stored");
    assert_eq!(
        shared_image["LaunchPermissions"],
        json!([{"Group": null, "UserId": "222233334444"}])
    );
    let exposed_config = stored(&world, &account, &us_arn(&format!("instance/{exposed}")))
        .await
        .unwrap();
    assert_eq!(
        exposed_config["UserDataSecrets"][0]["Detector"],
        "aws_access_key_id"
    );
    assert!(!exposed_config.to_string().contains("AKIAQWERTYUIOPASDFGH"));
    let template = stored(
        &world,
        &account,
        &us_arn(&format!("launch-template/{public_template}")),
    )
    .await
    .unwrap();
    assert_eq!(
        template["Versions"][0]["UserDataSecrets"][0]["Detector"],
        "aws_access_key_id"
    );
    assert!(!template.to_string().contains("AKIAQWERTYUIOPASDFGH"));
    let careful_config = stored(&world, &account, &us_arn(&format!("instance/{careful}")))
        .await
        .unwrap();
    assert_eq!(careful_config["UserDataSecrets"], json!([]));
    let stored_snapshots: BTreeSet<String> = world
        .deps
        .stores
        .resources
        .seen_times(&format!("{}_ec2", account.account_id))
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.arn.contains(":snapshot/") && r.region == "us-east-1")
        .map(|r| r.arn)
        .collect();
    let answered_to_self = us
        .describe_snapshots()
        .owner_ids("self")
        .send()
        .await
        .unwrap();
    let own: BTreeSet<String> = answered_to_self
        .snapshots()
        .iter()
        .filter(|s| s.owner_id() == Some(account.account_id.as_str()))
        .map(|s| us_arn(&format!("snapshot/{}", s.snapshot_id().unwrap())))
        .collect();
    assert!(
        answered_to_self.snapshots().len() > own.len() + 100,
        "the local AWS answers `self` with foreign snapshots (else this checks nothing)"
    );
    assert_eq!(stored_snapshots, own, "exactly the account's own snapshots");
}

/// A fault rule answering one EC2 action in one region with AccessDenied (EC2's error shape).
pub async fn deny_in_region(account_id: &str, region: &str, action: &str, times: u32) {
    inject_fault(json!({
        "account": account_id,
        "access_key": format!("/{region}/ec2/"),
        "body_contains": format!("Action={action}"),
        "protocol": "ec2",
        "status": 403,
        "code": "UnauthorizedOperation",
        "message": "denied by an SCP (injected)",
        "times": times,
    }))
    .await;
}

#[tokio::test]
async fn an_account_limited_to_one_region_is_collected_there_only() {
    // Given an account whose Regions lists eu-north-1 only, with a group there and in us-west-2
    let world = World::new().await;
    let mut account = world.onboard().await;
    account.regions = vec!["eu-north-1".into()];
    world.deps.stores.accounts.put(&account).await.unwrap();
    let north = customer_ec2(&world, &account, "eu-north-1").await;
    let west = customer_ec2(&world, &account, "us-west-2").await;
    let north_vpc = vpc(&north, "10.40.0.0/16").await;
    let west_vpc = vpc(&west, "10.50.0.0/16").await;
    let here = group(&north, &north_vpc, "here", vec![]).await;
    let there = group(&west, &west_vpc, "there", vec![]).await;
    // When the inventory runs
    let summary = inventory(&world, &account).await;
    // Then only eu-north-1 was listed and stored
    let ec2 = &summary.accounts[0].services["ec2"];
    assert_eq!(
        ec2.regions.keys().collect::<Vec<_>>(),
        ["eu-north-1"],
        "{ec2:?}"
    );
    assert!(stored(
        &world,
        &account,
        &arn(&account, "eu-north-1", &format!("security-group/{here}"))
    )
    .await
    .is_some());
    assert!(stored(
        &world,
        &account,
        &arn(&account, "us-west-2", &format!("security-group/{there}"))
    )
    .await
    .is_none());
}

#[tokio::test]
async fn a_refused_region_keeps_what_it_had_and_reports_the_error() {
    // Given an account in us-east-1 and ap-southeast-2, with a group in each, inventoried once
    // (the fault below is scoped to this account: the all-regions test lists ap-southeast-2 too)
    let world = World::new().await;
    let mut account = world.onboard().await;
    account.regions = vec!["us-east-1".into(), "ap-southeast-2".into()];
    world.deps.stores.accounts.put(&account).await.unwrap();
    let us = customer_ec2(&world, &account, "us-east-1").await;
    let ap = customer_ec2(&world, &account, "ap-southeast-2").await;
    let us_vpc = vpc(&us, "10.60.0.0/16").await;
    let ap_vpc = vpc(&ap, "10.70.0.0/16").await;
    let us_gone = group(&us, &us_vpc, "us-gone", vec![]).await;
    let ap_gone = group(&ap, &ap_vpc, "ap-gone", vec![tcp(22, 22, "0.0.0.0/0")]).await;
    let first = inventory(&world, &account).await;
    assert!(first.accounts[0].services["ec2"].complete, "{first:?}");
    let ap_arn = arn(
        &account,
        "ap-southeast-2",
        &format!("security-group/{ap_gone}"),
    );
    let us_arn = arn(&account, "us-east-1", &format!("security-group/{us_gone}"));
    assert!(stored(&world, &account, &ap_arn).await.is_some());
    scan(&world).await;
    assert!(active(&world, &ap_arn).await.contains(SSH));
    // When both groups are deleted and ap-southeast-2's group listing is refused
    us.delete_security_group()
        .group_id(&us_gone)
        .send()
        .await
        .unwrap();
    ap.delete_security_group()
        .group_id(&ap_gone)
        .send()
        .await
        .unwrap();
    deny_in_region(
        &account.account_id,
        "ap-southeast-2",
        "DescribeSecurityGroups",
        1,
    )
    .await;
    let second = inventory(&world, &account).await;
    scan(&world).await;
    // Then the refused region is incomplete with its error, and keeps its group and finding
    let ec2 = &second.accounts[0].services["ec2"];
    let ap_summary = &ec2.regions["ap-southeast-2"];
    assert!(!ap_summary.complete, "{ec2:?}");
    let error = ap_summary.listing_error.as_deref().unwrap_or_default();
    assert!(
        error.contains("UnauthorizedOperation") && error.contains("DescribeSecurityGroups"),
        "{error}"
    );
    assert!(ap_summary.kept >= 1, "{ap_summary:?}");
    assert!(stored(&world, &account, &ap_arn).await.is_some());
    assert!(active(&world, &ap_arn).await.contains(SSH));
    // And the other region was swept as usual
    assert!(ec2.regions["us-east-1"].complete);
    assert!(stored(&world, &account, &us_arn).await.is_none());
}

/// An EventBridge "AWS API Call via CloudTrail" event for an EC2 call on security group `group`.
fn ec2_event(account_id: &str, region: &str, event_name: &str, group: &str) -> String {
    ec2_call(
        account_id,
        region,
        event_name,
        json!({
            "groupId": group,
            "ipPermissions": {"items": [{"ipProtocol": "tcp", "fromPort": 22, "toPort": 22,
                "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}]},
        }),
    )
}

/// An EventBridge "AWS API Call via CloudTrail" event for an EC2 call with `request` as its
/// requestParameters.
pub(crate) fn ec2_call(account_id: &str, region: &str, event_name: &str, request: Value) -> String {
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
            "responseElements": {"_return": true},
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

/// Sends one body through the queue, runs the processor on what the queue delivers, and
/// deletes the delivered messages it did not fail (as Lambda's SQS integration does).
pub(crate) async fn through_the_queue(
    world: &World,
    sqs: &aws_sdk_sqs::Client,
    url: &str,
    body: &str,
) {
    sqs.send_message()
        .queue_url(url)
        .message_body(body)
        .send()
        .await
        .unwrap();
    let mut messages = Vec::new();
    for _ in 0..20 {
        let received = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        messages.extend(received.messages.unwrap_or_default());
        if !messages.is_empty() {
            break;
        }
    }
    assert_eq!(messages.len(), 1, "the message arrived");
    let report = qrie::handler::process_sqs_event(&qrie_tests::sqs_event(&messages), &world.deps)
        .await
        .expect("the batch is processed");
    assert!(
        report.response.batch_item_failures.is_empty(),
        "{:?}",
        report.summary
    );
    for m in &messages {
        sqs.delete_message()
            .queue_url(url)
            .receipt_handle(m.receipt_handle.as_deref().unwrap_or_default())
            .send()
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn ssh_opened_to_the_world_is_flagged_in_real_time_and_its_revocation_resolves() {
    // Given an onboarded account with a closed group, and the events queue
    let world = World::new().await;
    let account = world.onboard().await;
    let ec2 = customer_ec2(&world, &account, "eu-west-1").await;
    let net = vpc(&ec2, "10.90.0.0/16").await;
    let id = group(&ec2, &net, "realtime", vec![]).await;
    let sqs = aws_sdk_sqs::Client::new(&world.deps.sdk);
    let queue = qrie_tests::queue_with_dlq(&sqs, &format!("{}-ec2-events", world.id), 30).await;
    let group_arn = arn(&account, "eu-west-1", &format!("security-group/{id}"));
    // When port 22 is opened to 0.0.0.0/0 and the event goes through the queue
    ec2.authorize_security_group_ingress()
        .group_id(&id)
        .ip_permissions(tcp(22, 22, "0.0.0.0/0"))
        .send()
        .await
        .unwrap();
    let opened = ec2_event(
        &account.account_id,
        "eu-west-1",
        "AuthorizeSecurityGroupIngress",
        &id,
    );
    through_the_queue(&world, &sqs, &queue.url, &opened).await;
    // Then the group is stored in its region and the SSH finding is ACTIVE
    let config = stored(&world, &account, &group_arn)
        .await
        .expect("the group is stored");
    assert_eq!(config["IngressRules"][0]["IsWorld"], true);
    assert!(active(&world, &group_arn).await.contains(SSH));
    // When the rule is revoked and that event goes through the queue
    ec2.revoke_security_group_ingress()
        .group_id(&id)
        .ip_permissions(tcp(22, 22, "0.0.0.0/0"))
        .send()
        .await
        .unwrap();
    let revoked = ec2_event(
        &account.account_id,
        "eu-west-1",
        "RevokeSecurityGroupIngress",
        &id,
    );
    through_the_queue(&world, &sqs, &queue.url, &revoked).await;
    // Then the finding is resolved and only "unused" is left active on the group
    let findings = world
        .deps
        .stores
        .findings
        .for_resource(&group_arn)
        .await
        .unwrap();
    assert!(
        findings
            .iter()
            .any(|f| f.policy_id == SSH && f.state == FindingState::Resolved),
        "{findings:?}"
    );
    assert_eq!(active(&world, &group_arn).await, set(&[UNUSED]));
}

#[tokio::test]
async fn an_interface_set_to_forward_is_flagged_in_real_time_and_checking_again_resolves() {
    // Given an onboarded account with an interface that checks source and destination, and
    // the events queue
    let world = World::new().await;
    let account = world.onboard().await;
    let ec2 = customer_ec2(&world, &account, "eu-west-1").await;
    let net = vpc(&ec2, "10.91.0.0/16").await;
    let sub = subnet(&ec2, &net, "10.91.1.0/24").await;
    let id = interface(&ec2, &sub, true).await;
    let sqs = aws_sdk_sqs::Client::new(&world.deps.sdk);
    let queue = qrie_tests::queue_with_dlq(&sqs, &format!("{}-eni-events", world.id), 30).await;
    let eni_arn = arn(&account, "eu-west-1", &format!("network-interface/{id}"));
    let check = |on: bool| {
        let ec2 = ec2.clone();
        let id = id.clone();
        let account_id = account.account_id.clone();
        async move {
            ec2.modify_network_interface_attribute()
                .network_interface_id(&id)
                .source_dest_check(
                    aws_sdk_ec2::types::AttributeBooleanValue::builder()
                        .value(on)
                        .build(),
                )
                .send()
                .await
                .unwrap();
            ec2_call(
                &account_id,
                "eu-west-1",
                "ModifyNetworkInterfaceAttribute",
                json!({"networkInterfaceId": id, "sourceDestCheck": {"value": on}}),
            )
        }
    };
    // When checking is turned off and the event goes through the queue
    let off = check(false).await;
    through_the_queue(&world, &sqs, &queue.url, &off).await;
    // Then the interface is stored with the check off and the EC2.180 finding is ACTIVE
    let config = stored(&world, &account, &eni_arn)
        .await
        .expect("the interface is stored");
    assert_eq!(config["SourceDestCheck"], false);
    let policy = "EC2NetworkInterfaceSourceDestCheckEnabled";
    assert_eq!(active(&world, &eni_arn).await, set(&[policy]));
    // When it is turned back on and that event goes through the queue
    let on = check(true).await;
    through_the_queue(&world, &sqs, &queue.url, &on).await;
    // Then the finding is resolved and nothing is left active
    let findings = world
        .deps
        .stores
        .findings
        .for_resource(&eni_arn)
        .await
        .unwrap();
    assert!(
        findings
            .iter()
            .any(|f| f.policy_id == policy && f.state == FindingState::Resolved),
        "{findings:?}"
    );
    assert_eq!(active(&world, &eni_arn).await, set(&[]));
}

#[tokio::test]
async fn an_account_listing_all_regions_is_collected_in_every_region_describe_regions_reports() {
    // Given an account whose Regions says `all`, with a group in ap-northeast-3
    let world = World::new().await;
    let mut account = world.onboard().await;
    account.regions = vec!["all".into()];
    world.deps.stores.accounts.put(&account).await.unwrap();
    let osaka = customer_ec2(&world, &account, "ap-northeast-3").await;
    let net = vpc(&osaka, "10.99.0.0/16").await;
    let far = group(&osaka, &net, "far", vec![]).await;
    // When the inventory runs
    let summary = inventory(&world, &account).await;
    // Then every region DescribeRegions reports enabled was listed, completely
    let enabled: BTreeSet<String> = osaka
        .describe_regions()
        .send()
        .await
        .unwrap()
        .regions()
        .iter()
        .filter(|r| r.opt_in_status() != Some("not-opted-in"))
        .filter_map(|r| r.region_name().map(str::to_owned))
        .collect();
    assert!(enabled.len() > 10, "{enabled:?}");
    let ec2 = &summary.accounts[0].services["ec2"];
    let listed: BTreeSet<String> = ec2.regions.keys().cloned().collect();
    assert_eq!(listed, enabled);
    assert!(ec2.complete, "{:?}", summary.errors);
    // And the group far from the usual regions is stored
    let arn = arn(&account, "ap-northeast-3", &format!("security-group/{far}"));
    assert!(stored(&world, &account, &arn).await.is_some());
}

/// A measurement, not a check: EC2 collection of one region holding 2,000 instances, 2,000
/// security groups and 5,000 volumes on the local AWS, with its wall time and the API calls per
/// operation (counted by pass-through rules of the local AWS, scoped to this account).
/// Run with `cargo test -p qrie-tests --test integration -- --ignored --nocapture
/// ec2_collection_of_a_large_region`.
#[tokio::test]
#[ignore = "a measurement; run by hand, see BENCHMARKS.md"]
async fn ec2_collection_of_a_large_region() {
    const INSTANCES: i32 = 2_000;
    const GROUPS: usize = 2_000;
    const VOLUMES: usize = 5_000;
    // Given an account limited to eu-west-2 with that many resources
    let world = World::new().await;
    let mut account = world.onboard().await;
    account.regions = vec!["eu-west-2".into()];
    world.deps.stores.accounts.put(&account).await.unwrap();
    let ec2 = customer_ec2(&world, &account, "eu-west-2").await;
    let image = an_image_id(&ec2).await;
    for _ in 0..(INSTANCES / 500) {
        ec2.run_instances()
            .image_id(&image)
            .min_count(500)
            .max_count(500)
            .user_data(aws_smithy_types::base64::encode(
                "#!/bin/sh\n/opt/app/start\n",
            ))
            .send()
            .await
            .expect("instances run");
    }
    let net = vpc(&ec2, "10.70.0.0/16").await;
    let seeded = futures::stream::iter(0..GROUPS)
        .map(|i| {
            let ec2 = ec2.clone();
            let net = net.clone();
            async move {
                let cidr = format!("198.51.{}.0/24", i % 250);
                group(&ec2, &net, &format!("load-{i}"), vec![tcp(443, 443, &cidr)]).await
            }
        })
        .buffer_unordered(16)
        .count()
        .await;
    assert_eq!(seeded, GROUPS);
    let seeded = futures::stream::iter(0..VOLUMES)
        .map(|i| {
            let ec2 = ec2.clone();
            async move { volume(&ec2, "eu-west-2a", i % 2 == 0).await }
        })
        .buffer_unordered(16)
        .count()
        .await;
    assert_eq!(seeded, VOLUMES);
    // And a counting rule per EC2 operation the collector calls
    let operations = [
        "DescribeInstances",
        "DescribeInstanceAttribute",
        "DescribeSecurityGroups",
        "DescribeNetworkInterfaces",
        "DescribeVolumes",
        "DescribeSnapshots",
        "DescribeImages",
        "DescribeVpcs",
        "DescribeSubnets",
        "DescribeNetworkAcls",
        "DescribeAddresses",
        "DescribeLaunchTemplates",
        "DescribeTransitGateways",
        "DescribeRegions",
    ];
    let tag = uuid::Uuid::new_v4().to_string();
    for op in operations {
        inject_fault(json!({
            "account": account.account_id,
            "access_key": "/eu-west-2/ec2/",
            "body_contains": format!("Action={op}&"),
            "pass": true,
            "measure": tag,
            "op": op,
        }))
        .await;
    }
    // When the inventory runs
    let started = std::time::Instant::now();
    let summary = inventory(&world, &account).await;
    let wall = started.elapsed();
    // Then the wall time and the calls are printed
    let ec2_summary = &summary.accounts[0].services["ec2"];
    assert!(ec2_summary.complete, "{summary:?}");
    let rules = qrie_tests::fault_rules().await;
    let mut calls = BTreeMap::new();
    for rule in rules.as_array().expect("a list of rules") {
        if rule["measure"] == json!(tag) {
            calls.insert(
                rule["op"].as_str().unwrap_or_default().to_owned(),
                rule["fired"].as_u64().unwrap_or(0),
            );
        }
    }
    println!(
        "ec2_collection: {INSTANCES} instances, {GROUPS} groups, {VOLUMES} volumes; {} resources stored in {:.1} s; calls: {calls:?}",
        ec2_summary.resources,
        wall.as_secs_f64()
    );
    assert!(ec2_summary.resources >= INSTANCES as usize + GROUPS + VOLUMES);
}
