//! Policy evaluations per second on one core for the EC2 policies.
//!
//! Each iteration evaluates every EC2 policy of a resource type against one realistic
//! configuration of that type, in the shape the EC2 collector writes (a web security group with
//! a dozen rules over IPv4, IPv6, a prefix list and a group reference; an instance; a volume, a
//! snapshot, an AMI; a launch template with three versions; an interface; a transit gateway;
//! the region settings), once compliant and once misconfigured. Throughput is in evaluations
//! (policy × resource) per second. `fails` is the scanner's decision path; `evaluate` also
//! builds the evidence of failures.
//! Run with `cargo bench -p qrie --bench ec2_policy_eval`.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use qrie::policy::Catalog;
use serde_json::{json, Value};

fn rule(proto: &str, from: i64, to: i64, kind: &str, source: &str) -> Value {
    let world = source == "0.0.0.0/0" || source == "::/0";
    let prefix: Option<u8> = source.split('/').nth(1).and_then(|p| p.parse().ok());
    let public = matches!(kind, "ipv4" | "ipv6") && !source.starts_with("10.");
    json!({"Protocol": proto, "FromPort": from, "ToPort": to,
           "AllPorts": proto == "-1" || (from == 0 && to == 65535), "SourceType": kind,
           "Source": source, "IsWorld": world, "PrefixLength": prefix, "IsPublic": public,
           "Description": "managed by terraform"})
}

fn group(open: bool) -> Value {
    let mut ingress = vec![
        rule("tcp", 443, 443, "ipv4", "0.0.0.0/0"),
        rule("tcp", 443, 443, "ipv6", "::/0"),
        rule("tcp", 80, 80, "ipv4", "0.0.0.0/0"),
        rule("tcp", 22, 22, "ipv4", "10.0.0.0/8"),
        rule("tcp", 5432, 5432, "security-group", "sg-0a1b2c3d4e5f60789"),
        rule("tcp", 8080, 8090, "prefix-list", "pl-0123456789abcdef0"),
        rule("udp", 53, 53, "ipv4", "10.1.0.0/16"),
        rule("icmp", 8, -1, "ipv4", "10.0.0.0/8"),
        rule("tcp", 9100, 9100, "ipv4", "10.2.0.0/16"),
        rule("tcp", 6379, 6379, "security-group", "sg-0fedcba9876543210"),
    ];
    if open {
        ingress.push(rule("tcp", 22, 22, "ipv4", "0.0.0.0/0"));
        ingress.push(rule("-1", 0, 65535, "ipv6", "::/0"));
    }
    let count = ingress.len();
    json!({
        "GroupId": "sg-0123456789abcdef0", "GroupName": "web", "Description": "web tier",
        "VpcId": "vpc-0123456789abcdef0", "OwnerId": "111122223333", "Region": "us-east-1",
        "IsDefault": false, "IngressRules": ingress,
        "EgressRules": [rule("-1", 0, 65535, "ipv4", "0.0.0.0/0")],
        "IngressRuleCount": count, "EgressRuleCount": 1,
        "NetworkInterfaceCount": if open { 0 } else { 4 }, "ExposableInterfaceCount": if open { 0 } else { 4 },
    })
}

fn instance(bad: bool) -> Value {
    json!({
        "InstanceId": "i-0123456789abcdef0", "Region": "us-east-1",
        "State": if bad { "stopped" } else { "running" }, "InstanceType": "m6i.large",
        "ImageId": "ami-0123456789abcdef0", "LaunchTime": "2024-01-01T00:00:00Z",
        "SubnetId": "subnet-0123456789abcdef0", "VpcId": "vpc-0123456789abcdef0",
        "VirtualizationType": "hvm",
        "PublicIpAddress": if bad { json!("203.0.113.10") } else { Value::Null },
        "IamInstanceProfileArn": "arn:aws:iam::111122223333:instance-profile/app",
        "SecurityGroupIds": ["sg-0123456789abcdef0", "sg-0fedcba9876543210"],
        "Monitoring": if bad { "disabled" } else { "enabled" },
        "MetadataOptions": {"HttpTokens": if bad { "optional" } else { "required" },
                            "HttpEndpoint": "enabled", "HttpPutResponseHopLimit": if bad { 3 } else { 1 }},
        "NetworkInterfaceCount": if bad { 2 } else { 1 }, "EnclaveEnabled": bad,
        "StateTransitionTime": if bad { json!("2024-02-01T00:00:00Z") } else { Value::Null },
        "UserDataSecrets": if bad { json!([{"Detector": "aws_access_key_id", "Masked": "AKIA****************", "Offset": 30}]) } else { json!([]) },
    })
}

fn version(n: i64, default: bool, bad: bool) -> Value {
    json!({"VersionNumber": n, "IsDefault": default,
           "HttpTokens": if bad { Value::Null } else { json!("required") }, "HttpEndpoint": "enabled",
           "AssociatesPublicIp": bad,
           "EbsVolumes": [{"DeviceName": "/dev/xvda", "Encrypted": !bad}, {"DeviceName": "/dev/xvdb", "Encrypted": null}],
           "UserDataSecrets": []})
}

/// (resource type, compliant, misconfigured)
fn configurations() -> Vec<(&'static str, Value, Value)> {
    let settings = |good: bool| {
        json!({"Region": "us-east-1", "AccountId": "111122223333",
               "SnapshotBlockPublicAccess": if good { "block-all-sharing" } else { "unblocked" },
               "ImageBlockPublicAccess": if good { "block-new-sharing" } else { "unblocked" },
               "InstanceMetadataDefaults": {"HttpTokens": if good { json!("required") } else { Value::Null },
                                            "HttpEndpoint": null, "HttpPutResponseHopLimit": null}})
    };
    let volume = |enc: bool| {
        json!({"VolumeId": "vol-1", "Region": "us-east-1", "State": "in-use", "Encrypted": enc,
               "KmsKeyId": if enc { json!("arn:aws:kms:us-east-1:111122223333:key/k") } else { Value::Null },
               "Size": 100, "VolumeType": "gp3", "AvailabilityZone": "us-east-1a",
               "Attachments": [{"InstanceId": "i-1", "State": "attached", "Device": "/dev/xvda"}]})
    };
    let snapshot = |good: bool| {
        json!({"SnapshotId": "snap-1", "Region": "us-east-1", "OwnerId": "111122223333", "VolumeId": "vol-1",
               "State": "completed", "Encrypted": good, "KmsKeyId": null, "StartTime": "2025-01-01T00:00:00Z",
               "CreateVolumePermissions": if good { json!([{"Group": null, "UserId": "222233334444"}]) } else { json!([{"Group": "all", "UserId": null}]) }})
    };
    let image = |good: bool| {
        json!({"ImageId": "ami-1", "Region": "us-east-1", "Name": "golden", "OwnerId": "111122223333",
               "State": "available", "Public": !good, "CreationDate": "2025-01-01T00:00:00Z",
               "LaunchPermissions": if good { json!([]) } else { json!([{"Group": "all", "UserId": null}]) }})
    };
    let template = |bad: bool| {
        json!({"LaunchTemplateId": "lt-1", "LaunchTemplateName": "web", "Region": "us-east-1",
               "DefaultVersionNumber": 3, "LatestVersionNumber": 3,
               "Versions": [version(1, false, true), version(2, false, false), version(3, true, bad)]})
    };
    let eni = |good: bool| {
        json!({"NetworkInterfaceId": "eni-1", "Region": "us-east-1", "InterfaceType": "interface",
               "Status": "in-use", "SubnetId": "subnet-1", "VpcId": "vpc-1", "SourceDestCheck": good,
               "RequesterManaged": false, "InstanceId": "i-1", "PublicIp": null,
               "SecurityGroupIds": ["sg-1"]})
    };
    let tgw = |good: bool| {
        json!({"TransitGatewayId": "tgw-1", "Region": "us-east-1", "State": "available",
               "OwnerId": "111122223333", "AutoAcceptSharedAttachments": if good { "disable" } else { "enable" },
               "DefaultRouteTableAssociation": "enable", "DefaultRouteTablePropagation": "enable"})
    };
    let ebs_default = |good: bool| {
        json!({"Region": "us-east-1", "AccountId": "111122223333", "EbsEncryptionByDefault": good,
               "EbsDefaultKmsKeyId": "alias/aws/ebs"})
    };
    vec![
        ("AWS::EC2::SecurityGroup", group(false), group(true)),
        ("AWS::EC2::Instance", instance(false), instance(true)),
        ("AWS::EC2::Volume", volume(true), volume(false)),
        ("AWS::EC2::Snapshot", snapshot(true), snapshot(false)),
        ("AWS::EC2::Image", image(true), image(false)),
        ("AWS::EC2::LaunchTemplate", template(false), template(true)),
        ("AWS::EC2::NetworkInterface", eni(true), eni(false)),
        ("AWS::EC2::TransitGateway", tgw(true), tgw(false)),
        ("AWS::EC2::RegionSettings", settings(true), settings(false)),
        (
            "AWS::EC2::EbsEncryptionByDefault",
            ebs_default(true),
            ebs_default(false),
        ),
    ]
}

fn bench(c: &mut Criterion) {
    let catalog = Catalog::embedded();
    let cases = configurations();
    // Every (policy, configuration) pair of the EC2 policies, each configuration judged by the
    // policies of its type.
    let mut compliant = Vec::new();
    let mut misconfigured = Vec::new();
    for (resource_type, good, bad) in &cases {
        for p in catalog
            .policies()
            .iter()
            .filter(|p| p.resource_type == *resource_type)
        {
            compliant.push((p, good));
            misconfigured.push((p, bad));
        }
    }
    let mut group = c.benchmark_group("ec2_policies");
    for (name, pairs) in [("compliant", &compliant), ("misconfigured", &misconfigured)] {
        group.throughput(Throughput::Elements(pairs.len() as u64));
        group.bench_function(format!("fails/{name}"), |b| {
            b.iter(|| {
                let mut failed = 0usize;
                for (p, config) in pairs.iter() {
                    failed += usize::from(p.fails(black_box(config)));
                }
                failed
            })
        });
        group.bench_function(format!("evaluate_with_evidence/{name}"), |b| {
            b.iter(|| {
                pairs
                    .iter()
                    .map(|(p, config)| p.evaluate(black_box(config)))
                    .filter(|o| !matches!(o, qrie::policy::Outcome::Pass))
                    .count()
            })
        });
    }
    group.finish();
    let fails = misconfigured.iter().filter(|(p, c)| p.fails(c)).count();
    let passes_clean = compliant.iter().filter(|(p, c)| !p.fails(c)).count();
    println!(
        "{} EC2 policy evaluations per configuration set; misconfigured fail {fails}, compliant pass {passes_clean}",
        compliant.len()
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
