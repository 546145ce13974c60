//! The extraction table: for each CloudTrail event qrie reacts to, which resources it touches,
//! where in the record each one's identifier lives, and whether the event deletes it.
//!
//! Adding an event is adding one line to [`EVENT_RULES`]. A line reads
//! `rule(SOURCE, "EventName", &[touch(&KIND, WHERE)])`, where `WHERE` lists the places to look,
//! best first: the first place that holds an identifier wins, and every identifier found there
//! counts (so `items[].instanceId` yields each instance of a multi-instance call).
//!
//! Paths are dotted field names from the top of the CloudTrail record. `[]` marks a field that
//! holds an array; every array met on a path is walked element by element whether or not it is
//! marked, because the XML-derived EC2 shapes hold one item as an object and several as an array.
//!
//! Field paths come from real records in `tests/data/cloudtrail/` where there is one (see its
//! README); the others come from AWS documentation examples or, where marked "inferred", from
//! the API's request and response shapes and the naming CloudTrail uses for that API family.
//! Inferred paths always come with a second place to look.

use std::collections::HashMap;
use std::sync::OnceLock;

use super::arn::ArnShape;
use super::pending::EC2_FLOW_LOG;
use crate::collect::{cloudtrail, ec2, iam, kms, lambda, rds, s3, s3_access_points, vpc};

/// The registered kinds' shapes the rules point at (declared with the kinds).
const S3_BUCKET: ArnShape = s3::BUCKET.shape;
const S3_ACCOUNT_PUBLIC_ACCESS_BLOCK: ArnShape = s3::ACCOUNT_PUBLIC_ACCESS_BLOCK_KIND.shape;
const S3_ACCESS_POINT: ArnShape = s3_access_points::ACCESS_POINT.shape;
const IAM_USER: ArnShape = iam::USER.shape;
const IAM_GROUP: ArnShape = iam::GROUP.shape;
const IAM_ROLE: ArnShape = iam::ROLE.shape;
const IAM_MANAGED_POLICY: ArnShape = iam::MANAGED_POLICY.shape;
const IAM_PASSWORD_POLICY: ArnShape = iam::PASSWORD_POLICY.shape;
const IAM_ROOT_USER: ArnShape = iam::ROOT_USER.shape;
const IAM_SERVER_CERTIFICATE: ArnShape = iam::SERVER_CERTIFICATE.shape;
const IAM_SAML_PROVIDER: ArnShape = iam::SAML_PROVIDER.shape;
const IAM_OIDC_PROVIDER: ArnShape = iam::OIDC_PROVIDER.shape;
const IAM_ACCOUNT_ACCESS: ArnShape = iam::ACCOUNT_ACCESS.shape;
const KMS_KEY: ArnShape = kms::KEY.shape;
const CLOUDTRAIL_TRAIL: ArnShape = cloudtrail::TRAIL.shape;
const CLOUDTRAIL_COVERAGE: ArnShape = cloudtrail::ACCOUNT_TRAIL_COVERAGE.shape;
const LAMBDA_FUNCTION: ArnShape = lambda::FUNCTION.shape;
const RDS_DB_INSTANCE: ArnShape = rds::DB_INSTANCE.shape;
const RDS_DB_SNAPSHOT: ArnShape = rds::DB_SNAPSHOT.shape;
const RDS_DB_CLUSTER: ArnShape = rds::DB_CLUSTER.shape;
const RDS_DB_CLUSTER_SNAPSHOT: ArnShape = rds::DB_CLUSTER_SNAPSHOT.shape;
const RDS_EVENT_SUBSCRIPTION: ArnShape = rds::EVENT_SUBSCRIPTION.shape;
const RDS_DB_PARAMETER_GROUP: ArnShape = rds::DB_PARAMETER_GROUP.shape;
const RDS_DB_CLUSTER_PARAMETER_GROUP: ArnShape = rds::DB_CLUSTER_PARAMETER_GROUP.shape;
const EC2_INSTANCE: ArnShape = ec2::instances::INSTANCE_SHAPE;
const EC2_SECURITY_GROUP: ArnShape = ec2::security_groups::SECURITY_GROUP_SHAPE;
const EC2_VOLUME: ArnShape = ec2::ebs::VOLUME_SHAPE;
const EC2_SNAPSHOT: ArnShape = ec2::ebs::SNAPSHOT_SHAPE;
const EC2_IMAGE: ArnShape = ec2::ebs::IMAGE_SHAPE;
const EC2_EBS_ENCRYPTION_BY_DEFAULT: ArnShape = ec2::ebs::EBS_ENCRYPTION_BY_DEFAULT_SHAPE;
const EC2_NETWORK_ACL: ArnShape = ec2::network::NETWORK_ACL_SHAPE;
const EC2_EIP: ArnShape = ec2::network::ELASTIC_IP_SHAPE;
const EC2_LAUNCH_TEMPLATE: ArnShape = ec2::launch_templates::LAUNCH_TEMPLATE_SHAPE;
const EC2_VPC: ArnShape = vpc::vpcs::VPC_SHAPE;
const EC2_SUBNET: ArnShape = vpc::subnets::SUBNET_SHAPE;
const EC2_ROUTE_TABLE: ArnShape = vpc::routes::ROUTE_TABLE_SHAPE;
const EC2_INTERNET_GATEWAY: ArnShape = vpc::routes::INTERNET_GATEWAY_SHAPE;
const EC2_VPC_ENDPOINT: ArnShape = vpc::endpoints::VPC_ENDPOINT_SHAPE;
const EC2_VPC_ENDPOINT_SERVICE: ArnShape = vpc::endpoints::VPC_ENDPOINT_SERVICE_SHAPE;
const EC2_VPC_PEERING: ArnShape = vpc::peering::PEERING_CONNECTION_SHAPE;
const EC2_VPN_CONNECTION: ArnShape = vpc::vpn::VPN_CONNECTION_SHAPE;
const EC2_VPC_BLOCK_PUBLIC_ACCESS: ArnShape = vpc::block_public_access::BLOCK_PUBLIC_ACCESS_SHAPE;
const EC2_VPC_REGION_SPREAD: ArnShape = vpc::spread::VPC_REGION_SPREAD_SHAPE;
const EC2_NETWORK_INTERFACE: ArnShape = ec2::interfaces::NETWORK_INTERFACE_SHAPE;
const EC2_TRANSIT_GATEWAY: ArnShape = ec2::interfaces::TRANSIT_GATEWAY_SHAPE;
const EC2_REGION_SETTINGS: ArnShape = ec2::settings::REGION_SETTINGS_SHAPE;

/// Where an identifier can be found in a CloudTrail record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IdSource {
    /// Every string at a dotted path (see the module docs for arrays).
    Path(&'static str),
    /// `resources[].ARN` of the entries whose `type` is the resource kind's type.
    ResourcesArn,
    /// The calling IAM user (`userIdentity` of type `IAMUser`): self-service calls such as
    /// CreateAccessKey without a `userName` act on the caller.
    CallerIamUser,
    /// The account itself, for settings that exist once per account (or account and region).
    Account,
}

/// A test on the CloudTrail record that decides whether a touch applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RecordCondition {
    /// The string at the path equals the value.
    Equals(&'static str, &'static str),
    /// The path holds a non-empty string.
    Present(&'static str),
    /// The path holds no non-empty string.
    Absent(&'static str),
    /// The root user calls about its own credentials (`userIdentity.type` `Root`, no
    /// `requestParameters.userName`): the event is about the root user, not an IAM user.
    RootOnItself,
    /// Any other caller, or the root user naming a user.
    NotRootOnItself,
}

/// One resource (or set of resources of one kind) an event touches.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Touch {
    pub kind: &'static ArnShape,
    /// Places to look, best first.
    pub from: &'static [IdSource],
    /// The event removes the resource.
    pub deleted: bool,
    /// The event creates the resource: a describe right after it may not see it yet, and the
    /// event processor describes again before believing it gone.
    pub creates: bool,
    /// When set, the touch applies only if the condition holds; otherwise it always applies and
    /// finding no identifier is an error.
    pub only_if: Option<RecordCondition>,
}

/// What one CloudTrail event touches.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct EventRule {
    /// `eventSource`, e.g. `s3.amazonaws.com`. Event names are not unique across services
    /// (Lightsail also has CreateBucket), so the source is part of the key.
    pub event_source: &'static str,
    pub event_name: &'static str,
    pub touches: &'static [Touch],
}

const fn rule(
    event_source: &'static str,
    event_name: &'static str,
    touches: &'static [Touch],
) -> EventRule {
    EventRule {
        event_source,
        event_name,
        touches,
    }
}

/// The event changes the resource.
const fn touch(kind: &'static ArnShape, from: &'static [IdSource]) -> Touch {
    Touch {
        kind,
        from,
        deleted: false,
        creates: false,
        only_if: None,
    }
}

/// The event creates the resource (or a copy of one, or a new name for one).
const fn creates(kind: &'static ArnShape, from: &'static [IdSource]) -> Touch {
    Touch {
        creates: true,
        ..touch(kind, from)
    }
}

/// The event removes the resource.
const fn deletes(kind: &'static ArnShape, from: &'static [IdSource]) -> Touch {
    Touch {
        deleted: true,
        ..touch(kind, from)
    }
}

impl Touch {
    const fn only_if(self, condition: RecordCondition) -> Touch {
        Touch {
            only_if: Some(condition),
            ..self
        }
    }
}

use IdSource::{Account, CallerIamUser, Path, ResourcesArn};
use RecordCondition::{Absent, Equals, NotRootOnItself, Present, RootOnItself};

const S3: &str = "s3.amazonaws.com";
const EC2: &str = "ec2.amazonaws.com";
const IAM: &str = "iam.amazonaws.com";
const RDS: &str = "rds.amazonaws.com";
const CLOUDTRAIL: &str = "cloudtrail.amazonaws.com";
const KMS: &str = "kms.amazonaws.com";
const LAMBDA: &str = "lambda.amazonaws.com";

const THE_ACCOUNT: &[IdSource] = &[Account];

const BUCKET: &[IdSource] = &[Path("requestParameters.bucketName"), ResourcesArn];
/// An access point: `resources[]` holds its ARN (with its region); `requestParameters.name` is
/// its name, or its ARN when the call named it by ARN.
const ACCESS_POINT: &[IdSource] = &[ResourcesArn, Path("requestParameters.name")];

const INSTANCES_IN_REQUEST: &[IdSource] = &[
    Path("requestParameters.instancesSet.items[].instanceId"),
    Path("responseElements.instancesSet.items[].instanceId"),
];
const GROUP_IN_REQUEST: &[IdSource] = &[
    Path("requestParameters.groupId"),
    Path("responseElements.securityGroupRuleSet.items[].groupId"),
];
const VOLUME_IN_REQUEST: &[IdSource] = &[Path("requestParameters.volumeId")];
const SNAPSHOT_IN_REQUEST: &[IdSource] = &[Path("requestParameters.snapshotId")];
const SNAPSHOT_IN_RESPONSE: &[IdSource] = &[Path("responseElements.snapshotId")];
const IMAGE_IN_REQUEST: &[IdSource] = &[Path("requestParameters.imageId")];
const IMAGE_IN_RESPONSE: &[IdSource] = &[Path("responseElements.imageId")];
const VPC_IN_REQUEST: &[IdSource] = &[Path("requestParameters.vpcId")];
const NETWORK_ACL_IN_REQUEST: &[IdSource] = &[Path("requestParameters.networkAclId")];
const ROUTE_TABLE_IN_REQUEST: &[IdSource] = &[Path("requestParameters.routeTableId")];
const IGW_IN_REQUEST: &[IdSource] = &[Path("requestParameters.internetGatewayId")];
const PEERING_IN_REQUEST: &[IdSource] = &[Path("requestParameters.vpcPeeringConnectionId")];
const VPN_IN_REQUEST: &[IdSource] = &[
    Path("requestParameters.vpnConnectionId"),
    Path("requestParameters.ModifyVpnTunnelOptionsRequest.VpnConnectionId"),
];
/// The newer endpoint-service APIs log `<Action>Request` with PascalCase fields (inferred, as
/// CreateFlowLogs); the classic camelCase field second.
const ENDPOINT_SERVICE_IN_REQUEST: &[IdSource] = &[
    Path("requestParameters.ModifyVpcEndpointServiceConfigurationRequest.ServiceId"),
    Path("requestParameters.ModifyVpcEndpointServicePermissionsRequest.ServiceId"),
    Path("requestParameters.serviceId"),
];
const INTERFACE_IN_REQUEST: &[IdSource] = &[Path("requestParameters.networkInterfaceId")];
/// Transit gateway APIs are of the newer `<Action>Request`/`<Action>Response` form (inferred:
/// the response's gateway first, the request's id second).
const TGW_MODIFIED: &[IdSource] = &[
    Path("responseElements.ModifyTransitGatewayResponse.transitGateway.transitGatewayId"),
    Path("requestParameters.ModifyTransitGatewayRequest.TransitGatewayId"),
];
const TGW_DELETED: &[IdSource] = &[
    Path("responseElements.DeleteTransitGatewayResponse.transitGateway.transitGatewayId"),
    Path("requestParameters.DeleteTransitGatewayRequest.TransitGatewayId"),
];

const USER_IN_REQUEST: &[IdSource] = &[Path("requestParameters.userName")];
const USER_OR_CALLER: &[IdSource] = &[Path("requestParameters.userName"), CallerIamUser];
const GROUP_NAME: &[IdSource] = &[Path("requestParameters.groupName")];
const ROLE_NAME: &[IdSource] = &[Path("requestParameters.roleName")];
const POLICY_ARN: &[IdSource] = &[Path("requestParameters.policyArn")];
const SAML_PROVIDER_ARN: &[IdSource] = &[Path("requestParameters.sAMLProviderArn")];
const OIDC_PROVIDER_ARN: &[IdSource] = &[Path("requestParameters.openIDConnectProviderArn")];

const DB_INSTANCE: &[IdSource] = &[
    Path("responseElements.dBInstanceArn"),
    Path("requestParameters.dBInstanceIdentifier"),
];
const DB_SNAPSHOT: &[IdSource] = &[
    Path("responseElements.dBSnapshotArn"),
    Path("requestParameters.dBSnapshotIdentifier"),
];

const DB_CLUSTER: &[IdSource] = &[
    Path("responseElements.dBClusterArn"),
    Path("requestParameters.dBClusterIdentifier"),
];
const DB_CLUSTER_SNAPSHOT: &[IdSource] = &[
    Path("responseElements.dBClusterSnapshotArn"),
    Path("requestParameters.dBClusterSnapshotIdentifier"),
];
const DB_PARAMETER_GROUP: &[IdSource] = &[Path("requestParameters.dBParameterGroupName")];
const DB_CLUSTER_PARAMETER_GROUP: &[IdSource] =
    &[Path("requestParameters.dBClusterParameterGroupName")];

/// `requestParameters.name` is a trail name or a trail ARN.
const TRAIL: &[IdSource] = &[
    Path("responseElements.trailARN"),
    Path("requestParameters.name"),
];
const TRAIL_BY_TRAIL_NAME: &[IdSource] = &[
    Path("responseElements.trailARN"),
    Path("requestParameters.trailName"),
];

/// `resources[]` first: it holds the key's ARN with the key's own region, which can differ
/// from the event's `awsRegion` (see the ScheduleKeyDeletion example in the KMS docs).
/// `keyId` in the request may be a key id or a key ARN.
const KEY: &[IdSource] = &[
    ResourcesArn,
    Path("responseElements.keyMetadata.arn"),
    Path("responseElements.keyId"),
    Path("requestParameters.keyId"),
];

/// The key an alias call points at (inferred from the request shape: `targetKeyId` is a key id
/// or key ARN).
const KEY_OF_ALIAS: &[IdSource] = &[ResourcesArn, Path("requestParameters.targetKeyId")];

/// A function: the ARN in the response when the call returns the configuration, else
/// `functionName` (a name or an ARN, possibly qualified with a version or alias).
const FUNCTION: &[IdSource] = &[
    Path("responseElements.functionArn"),
    Path("requestParameters.functionName"),
];

/// Every CloudTrail event qrie turns into touched resources.
#[rustfmt::skip]
pub(crate) static EVENT_RULES: &[EventRule] = &[
    // ---- S3 buckets (requestParameters.bucketName in every real record) ----
    rule(S3, "CreateBucket", &[creates(&S3_BUCKET, BUCKET)]),
    rule(S3, "DeleteBucket", &[deletes(&S3_BUCKET, BUCKET)]),
    rule(S3, "PutBucketPolicy", &[touch(&S3_BUCKET, BUCKET)]),
    rule(S3, "DeleteBucketPolicy", &[touch(&S3_BUCKET, BUCKET)]),
    rule(S3, "PutBucketAcl", &[touch(&S3_BUCKET, BUCKET)]),
    rule(S3, "PutBucketPublicAccessBlock", &[touch(&S3_BUCKET, BUCKET)]),
    rule(S3, "DeleteBucketPublicAccessBlock", &[touch(&S3_BUCKET, BUCKET)]),
    rule(S3, "PutBucketEncryption", &[touch(&S3_BUCKET, BUCKET)]),
    rule(S3, "DeleteBucketEncryption", &[touch(&S3_BUCKET, BUCKET)]),
    rule(S3, "PutBucketVersioning", &[touch(&S3_BUCKET, BUCKET)]),
    rule(S3, "PutBucketLogging", &[touch(&S3_BUCKET, BUCKET)]),
    rule(S3, "PutBucketOwnershipControls", &[touch(&S3_BUCKET, BUCKET)]),
    rule(S3, "DeleteBucketOwnershipControls", &[touch(&S3_BUCKET, BUCKET)]),
    rule(S3, "PutBucketTagging", &[touch(&S3_BUCKET, BUCKET)]),
    rule(S3, "DeleteBucketTagging", &[touch(&S3_BUCKET, BUCKET)]),
    rule(S3, "PutBucketLifecycle", &[touch(&S3_BUCKET, BUCKET)]),
    rule(S3, "DeleteBucketLifecycle", &[touch(&S3_BUCKET, BUCKET)]),
    rule(S3, "PutBucketReplication", &[touch(&S3_BUCKET, BUCKET)]),
    rule(S3, "DeleteBucketReplication", &[touch(&S3_BUCKET, BUCKET)]),
    rule(S3, "PutBucketWebsite", &[touch(&S3_BUCKET, BUCKET)]),
    rule(S3, "DeleteBucketWebsite", &[touch(&S3_BUCKET, BUCKET)]),
    rule(S3, "PutBucketCors", &[touch(&S3_BUCKET, BUCKET)]),
    rule(S3, "DeleteBucketCors", &[touch(&S3_BUCKET, BUCKET)]),
    // PutBucketNotificationConfiguration is logged as PutBucketNotification.
    rule(S3, "PutBucketNotification", &[touch(&S3_BUCKET, BUCKET)]),
    rule(S3, "PutObjectLockConfiguration", &[touch(&S3_BUCKET, BUCKET)]),
    // ---- S3 account-level Block Public Access (S3 Control API, logged by s3.amazonaws.com) ----
    rule(S3, "PutAccountPublicAccessBlock", &[touch(&S3_ACCOUNT_PUBLIC_ACCESS_BLOCK, THE_ACCOUNT)]),
    rule(S3, "DeleteAccountPublicAccessBlock", &[touch(&S3_ACCOUNT_PUBLIC_ACCESS_BLOCK, THE_ACCOUNT)]),
    // ---- S3 access points (S3 Control API, logged by s3.amazonaws.com); immutable but for
    // their policy ----
    rule(S3, "CreateAccessPoint", &[creates(&S3_ACCESS_POINT, ACCESS_POINT)]),
    rule(S3, "DeleteAccessPoint", &[deletes(&S3_ACCESS_POINT, ACCESS_POINT)]),
    rule(S3, "PutAccessPointPolicy", &[touch(&S3_ACCESS_POINT, ACCESS_POINT)]),
    rule(S3, "DeleteAccessPointPolicy", &[touch(&S3_ACCESS_POINT, ACCESS_POINT)]),
    // ---- EC2 instances ----
    rule(EC2, "RunInstances", &[creates(&EC2_INSTANCE, &[Path("responseElements.instancesSet.items[].instanceId")])]),
    rule(EC2, "TerminateInstances", &[deletes(&EC2_INSTANCE, INSTANCES_IN_REQUEST)]),
    rule(EC2, "StartInstances", &[touch(&EC2_INSTANCE, INSTANCES_IN_REQUEST)]),
    rule(EC2, "StopInstances", &[touch(&EC2_INSTANCE, INSTANCES_IN_REQUEST)]),
    rule(EC2, "ModifyInstanceAttribute", &[touch(&EC2_INSTANCE, &[Path("requestParameters.instanceId")])]),
    // The request path is from a published CloudTrail example; the response path is inferred.
    rule(EC2, "ModifyInstanceMetadataOptions", &[touch(&EC2_INSTANCE, &[
        Path("requestParameters.ModifyInstanceMetadataOptionsRequest.InstanceId"),
        Path("responseElements.ModifyInstanceMetadataOptionsResponse.instanceId"),
    ])]),
    rule(EC2, "MonitorInstances", &[touch(&EC2_INSTANCE, INSTANCES_IN_REQUEST)]),
    rule(EC2, "UnmonitorInstances", &[touch(&EC2_INSTANCE, INSTANCES_IN_REQUEST)]),
    // Inferred, as ModifyInstanceMetadataOptions (a newer API logged as `<Action>Request`).
    rule(EC2, "AssociateIamInstanceProfile", &[touch(&EC2_INSTANCE, &[
        Path("requestParameters.AssociateIamInstanceProfileRequest.InstanceId"),
        Path("requestParameters.instanceId"),
    ])]),
    // An Elastic IP associated with an instance gives it a public address.
    rule(EC2, "AssociateAddress", &[
        touch(&EC2_INSTANCE, &[Path("requestParameters.instanceId")])
            .only_if(Present("requestParameters.instanceId")),
        touch(&EC2_EIP, &[Path("requestParameters.allocationId")])
            .only_if(Present("requestParameters.allocationId")),
    ]),
    // ---- EC2 security groups ----
    rule(EC2, "CreateSecurityGroup", &[
        creates(&EC2_SECURITY_GROUP, &[Path("responseElements.groupId")]),
        touch(&EC2_VPC, VPC_IN_REQUEST).only_if(Present("requestParameters.vpcId")),
    ]),
    rule(EC2, "DeleteSecurityGroup", &[deletes(&EC2_SECURITY_GROUP, &[Path("requestParameters.groupId")])]),
    rule(EC2, "AuthorizeSecurityGroupIngress", &[touch(&EC2_SECURITY_GROUP, GROUP_IN_REQUEST)]),
    rule(EC2, "AuthorizeSecurityGroupEgress", &[touch(&EC2_SECURITY_GROUP, GROUP_IN_REQUEST)]),
    rule(EC2, "RevokeSecurityGroupIngress", &[touch(&EC2_SECURITY_GROUP, GROUP_IN_REQUEST)]),
    rule(EC2, "RevokeSecurityGroupEgress", &[touch(&EC2_SECURITY_GROUP, GROUP_IN_REQUEST)]),
    // Inferred: newer EC2 APIs log `<Action>Request` with PascalCase fields (as CreateFlowLogs
    // and ModifyInstanceMetadataOptions do); the classic camelCase field is the fallback.
    rule(EC2, "ModifySecurityGroupRules", &[touch(&EC2_SECURITY_GROUP, &[
        Path("requestParameters.ModifySecurityGroupRulesRequest.GroupId"),
        Path("requestParameters.groupId"),
    ])]),
    // ---- EC2 volumes ----
    rule(EC2, "CreateVolume", &[creates(&EC2_VOLUME, &[Path("responseElements.volumeId")])]),
    rule(EC2, "DeleteVolume", &[deletes(&EC2_VOLUME, VOLUME_IN_REQUEST)]),
    // Inferred, as ModifySecurityGroupRules.
    rule(EC2, "ModifyVolume", &[touch(&EC2_VOLUME, &[
        Path("requestParameters.ModifyVolumeRequest.VolumeId"),
        Path("requestParameters.volumeId"),
        Path("responseElements.ModifyVolumeResponse.volumeModification.volumeId"),
    ])]),
    rule(EC2, "AttachVolume", &[touch(&EC2_VOLUME, VOLUME_IN_REQUEST)]),
    rule(EC2, "DetachVolume", &[touch(&EC2_VOLUME, VOLUME_IN_REQUEST)]),
    // ---- EC2 snapshots ----
    // The volume's snapshot count changes too (a deleted snapshot names no volume: the next
    // inventory counts it).
    rule(EC2, "CreateSnapshot", &[
        creates(&EC2_SNAPSHOT, SNAPSHOT_IN_RESPONSE),
        touch(&EC2_VOLUME, VOLUME_IN_REQUEST),
    ]),
    // Inferred from the CopySnapshot response shape (`snapshotId`), as CreateSnapshot.
    rule(EC2, "CopySnapshot", &[creates(&EC2_SNAPSHOT, SNAPSHOT_IN_RESPONSE)]),
    rule(EC2, "DeleteSnapshot", &[deletes(&EC2_SNAPSHOT, SNAPSHOT_IN_REQUEST)]),
    rule(EC2, "ModifySnapshotAttribute", &[touch(&EC2_SNAPSHOT, SNAPSHOT_IN_REQUEST)]),
    rule(EC2, "ResetSnapshotAttribute", &[touch(&EC2_SNAPSHOT, SNAPSHOT_IN_REQUEST)]),
    // ---- EC2 images ----
    rule(EC2, "CreateImage", &[creates(&EC2_IMAGE, IMAGE_IN_RESPONSE)]),
    rule(EC2, "RegisterImage", &[creates(&EC2_IMAGE, IMAGE_IN_RESPONSE)]),
    rule(EC2, "CopyImage", &[creates(&EC2_IMAGE, IMAGE_IN_RESPONSE)]),
    rule(EC2, "DeregisterImage", &[deletes(&EC2_IMAGE, IMAGE_IN_REQUEST)]),
    rule(EC2, "ModifyImageAttribute", &[touch(&EC2_IMAGE, IMAGE_IN_REQUEST)]),
    rule(EC2, "ResetImageAttribute", &[touch(&EC2_IMAGE, IMAGE_IN_REQUEST)]),
    // ---- EC2 VPCs and flow logs ----
    // A new or deleted VPC can change the regions holding one (a default VPC never counts).
    rule(EC2, "CreateVpc", &[
        creates(&EC2_VPC, &[Path("responseElements.vpc.vpcId")]),
        touch(&EC2_VPC_REGION_SPREAD, THE_ACCOUNT),
    ]),
    rule(EC2, "DeleteVpc", &[
        deletes(&EC2_VPC, VPC_IN_REQUEST),
        touch(&EC2_VPC_REGION_SPREAD, THE_ACCOUNT),
    ]),
    rule(EC2, "ModifyVpcAttribute", &[touch(&EC2_VPC, VPC_IN_REQUEST)]),
    // Inferred from the CreateDefaultVpc response shape, as CreateVpc.
    rule(EC2, "CreateDefaultVpc", &[creates(&EC2_VPC, &[
        Path("responseElements.vpc.vpcId"),
        Path("responseElements.CreateDefaultVpcResponse.vpc.vpcId"),
    ])]),
    // A new endpoint, and the VPC whose endpoints it changes. Inferred: the PascalCase
    // `<Action>Request`/`<Action>Response` form of newer APIs first, the classic camelCase second.
    rule(EC2, "CreateVpcEndpoint", &[
        creates(&EC2_VPC_ENDPOINT, &[
            Path("responseElements.CreateVpcEndpointResponse.vpcEndpoint.vpcEndpointId"),
            Path("responseElements.vpcEndpoint.vpcEndpointId"),
        ]),
        touch(&EC2_VPC, &[
            Path("requestParameters.CreateVpcEndpointRequest.VpcId"),
            Path("requestParameters.vpcId"),
        ]),
    ]),
    // Inferred as CreateVpcEndpoint; the endpoint's VPC follows as its dependent.
    rule(EC2, "ModifyVpcEndpoint", &[touch(&EC2_VPC_ENDPOINT, &[
        Path("requestParameters.ModifyVpcEndpointRequest.VpcEndpointId"),
        Path("requestParameters.vpcEndpointId"),
    ])]),
    // Inferred: several ids, one `VpcEndpointId` item each (a list, or one object).
    rule(EC2, "DeleteVpcEndpoints", &[deletes(&EC2_VPC_ENDPOINT, &[
        Path("requestParameters.DeleteVpcEndpointsRequest.VpcEndpointId[].content"),
        Path("requestParameters.DeleteVpcEndpointsRequest.VpcEndpointId"),
    ])]),
    // ---- endpoint services (inferred: the `<Action>Request`/`<Action>Response` form) ----
    rule(EC2, "CreateVpcEndpointServiceConfiguration", &[creates(&EC2_VPC_ENDPOINT_SERVICE, &[
        Path("responseElements.CreateVpcEndpointServiceConfigurationResponse.serviceConfiguration.serviceId"),
        Path("responseElements.serviceConfiguration.serviceId"),
    ])]),
    rule(EC2, "ModifyVpcEndpointServiceConfiguration", &[touch(&EC2_VPC_ENDPOINT_SERVICE, ENDPOINT_SERVICE_IN_REQUEST)]),
    rule(EC2, "ModifyVpcEndpointServicePermissions", &[touch(&EC2_VPC_ENDPOINT_SERVICE, ENDPOINT_SERVICE_IN_REQUEST)]),
    rule(EC2, "DeleteVpcEndpointServiceConfigurations", &[deletes(&EC2_VPC_ENDPOINT_SERVICE, &[
        Path("requestParameters.DeleteVpcEndpointServiceConfigurationsRequest.ServiceId[].content"),
        Path("requestParameters.DeleteVpcEndpointServiceConfigurationsRequest.ServiceId"),
    ])]),
    // CreateFlowLogs names the flow logs it made and the resources they watch; only VPCs are
    // tracked (ResourceType can also be Subnet or NetworkInterface).
    rule(EC2, "CreateFlowLogs", &[
        creates(&EC2_FLOW_LOG, &[Path("responseElements.CreateFlowLogsResponse.flowLogIdSet.item")]),
        touch(&EC2_VPC, &[
            Path("requestParameters.CreateFlowLogsRequest.ResourceId.content"),
            Path("requestParameters.CreateFlowLogsRequest.ResourceId"),
        ])
        .only_if(Equals("requestParameters.CreateFlowLogsRequest.ResourceType", "VPC")),
    ]),
    // The deleted flow log's VPC is not in the record; the VPC's posture changes all the same,
    // and the next inventory sees it.
    rule(EC2, "DeleteFlowLogs", &[deletes(&EC2_FLOW_LOG, &[
        Path("requestParameters.DeleteFlowLogsRequest.FlowLogId.content"),
        Path("requestParameters.DeleteFlowLogsRequest.FlowLogId"),
    ])]),
    // ---- route tables and internet gateways (classic camelCase request fields); a route
    // table's VPC and the peerings it routes through follow as its dependents ----
    rule(EC2, "CreateRouteTable", &[creates(&EC2_ROUTE_TABLE, &[Path("responseElements.routeTable.routeTableId")])]),
    rule(EC2, "DeleteRouteTable", &[deletes(&EC2_ROUTE_TABLE, ROUTE_TABLE_IN_REQUEST)]),
    rule(EC2, "CreateRoute", &[
        touch(&EC2_ROUTE_TABLE, ROUTE_TABLE_IN_REQUEST),
        touch(&EC2_VPC_PEERING, PEERING_IN_REQUEST).only_if(Present("requestParameters.vpcPeeringConnectionId")),
    ]),
    rule(EC2, "ReplaceRoute", &[
        touch(&EC2_ROUTE_TABLE, ROUTE_TABLE_IN_REQUEST),
        touch(&EC2_VPC_PEERING, PEERING_IN_REQUEST).only_if(Present("requestParameters.vpcPeeringConnectionId")),
    ]),
    // The peering a deleted route went through is not in the record; the next inventory sees it.
    rule(EC2, "DeleteRoute", &[touch(&EC2_ROUTE_TABLE, ROUTE_TABLE_IN_REQUEST)]),
    rule(EC2, "AssociateRouteTable", &[touch(&EC2_ROUTE_TABLE, ROUTE_TABLE_IN_REQUEST)]),
    // The table the subnet moves to; the one it leaves is seen by the next inventory.
    rule(EC2, "ReplaceRouteTableAssociation", &[touch(&EC2_ROUTE_TABLE, ROUTE_TABLE_IN_REQUEST)]),
    rule(EC2, "CreateInternetGateway", &[creates(&EC2_INTERNET_GATEWAY, &[Path("responseElements.internetGateway.internetGatewayId")])]),
    rule(EC2, "DeleteInternetGateway", &[deletes(&EC2_INTERNET_GATEWAY, IGW_IN_REQUEST)]),
    rule(EC2, "AttachInternetGateway", &[
        touch(&EC2_INTERNET_GATEWAY, IGW_IN_REQUEST),
        touch(&EC2_VPC, VPC_IN_REQUEST),
    ]),
    rule(EC2, "DetachInternetGateway", &[
        touch(&EC2_INTERNET_GATEWAY, IGW_IN_REQUEST),
        touch(&EC2_VPC, VPC_IN_REQUEST),
    ]),
    // ---- peering connections ----
    rule(EC2, "CreateVpcPeeringConnection", &[creates(&EC2_VPC_PEERING, &[Path("responseElements.vpcPeeringConnection.vpcPeeringConnectionId")])]),
    rule(EC2, "AcceptVpcPeeringConnection", &[touch(&EC2_VPC_PEERING, PEERING_IN_REQUEST)]),
    // A rejected connection is gone: the describe no longer finds it, and it is removed.
    rule(EC2, "RejectVpcPeeringConnection", &[touch(&EC2_VPC_PEERING, PEERING_IN_REQUEST)]),
    rule(EC2, "DeleteVpcPeeringConnection", &[deletes(&EC2_VPC_PEERING, PEERING_IN_REQUEST)]),
    rule(EC2, "ModifyVpcPeeringConnectionOptions", &[touch(&EC2_VPC_PEERING, PEERING_IN_REQUEST)]),
    // ---- Site-to-Site VPN connections ----
    rule(EC2, "CreateVpnConnection", &[creates(&EC2_VPN_CONNECTION, &[Path("responseElements.vpnConnection.vpnConnectionId")])]),
    rule(EC2, "DeleteVpnConnection", &[deletes(&EC2_VPN_CONNECTION, VPN_IN_REQUEST)]),
    rule(EC2, "ModifyVpnConnection", &[touch(&EC2_VPN_CONNECTION, VPN_IN_REQUEST)]),
    rule(EC2, "ModifyVpnConnectionOptions", &[touch(&EC2_VPN_CONNECTION, VPN_IN_REQUEST)]),
    // Inferred: the classic camelCase field, else the `<Action>Request` form.
    rule(EC2, "ModifyVpnTunnelOptions", &[touch(&EC2_VPN_CONNECTION, VPN_IN_REQUEST)]),
    // ---- VPC Block Public Access (one setting per account and region; inferred) ----
    rule(EC2, "ModifyVpcBlockPublicAccessOptions", &[touch(&EC2_VPC_BLOCK_PUBLIC_ACCESS, THE_ACCOUNT)]),
    // ---- subnets; a subnet's VPC follows as its dependent ----
    rule(EC2, "CreateSubnet", &[creates(&EC2_SUBNET, &[Path("responseElements.subnet.subnetId")])]),
    rule(EC2, "DeleteSubnet", &[deletes(&EC2_SUBNET, &[Path("requestParameters.subnetId")])]),
    rule(EC2, "ModifySubnetAttribute", &[touch(&EC2_SUBNET, &[Path("requestParameters.subnetId")])]),
    // ---- network ACLs and Elastic IPs (classic camelCase request fields) ----
    rule(EC2, "CreateNetworkAcl", &[creates(&EC2_NETWORK_ACL, &[Path("responseElements.networkAcl.networkAclId")])]),
    rule(EC2, "DeleteNetworkAcl", &[deletes(&EC2_NETWORK_ACL, NETWORK_ACL_IN_REQUEST)]),
    rule(EC2, "CreateNetworkAclEntry", &[touch(&EC2_NETWORK_ACL, NETWORK_ACL_IN_REQUEST)]),
    rule(EC2, "ReplaceNetworkAclEntry", &[touch(&EC2_NETWORK_ACL, NETWORK_ACL_IN_REQUEST)]),
    rule(EC2, "DeleteNetworkAclEntry", &[touch(&EC2_NETWORK_ACL, NETWORK_ACL_IN_REQUEST)]),
    // The ACL the subnet moves to; the one it leaves is seen by the next inventory.
    rule(EC2, "ReplaceNetworkAclAssociation", &[touch(&EC2_NETWORK_ACL, NETWORK_ACL_IN_REQUEST)]),
    rule(EC2, "AllocateAddress", &[creates(&EC2_EIP, &[Path("responseElements.allocationId")])]),
    rule(EC2, "ReleaseAddress", &[deletes(&EC2_EIP, &[Path("requestParameters.allocationId")])]),
    // ---- launch templates (inferred: the `<Action>Request`/`<Action>Response` form of the newer
    // EC2 APIs, the template id from the response first, the request second) ----
    rule(EC2, "CreateLaunchTemplate", &[creates(&EC2_LAUNCH_TEMPLATE, &[
        Path("responseElements.CreateLaunchTemplateResponse.launchTemplate.launchTemplateId"),
        Path("responseElements.launchTemplate.launchTemplateId"),
    ])]),
    rule(EC2, "CreateLaunchTemplateVersion", &[touch(&EC2_LAUNCH_TEMPLATE, &[
        Path("responseElements.CreateLaunchTemplateVersionResponse.launchTemplateVersion.launchTemplateId"),
        Path("requestParameters.CreateLaunchTemplateVersionRequest.LaunchTemplateId"),
    ])]),
    rule(EC2, "ModifyLaunchTemplate", &[touch(&EC2_LAUNCH_TEMPLATE, &[
        Path("responseElements.ModifyLaunchTemplateResponse.launchTemplate.launchTemplateId"),
        Path("requestParameters.ModifyLaunchTemplateRequest.LaunchTemplateId"),
    ])]),
    rule(EC2, "DeleteLaunchTemplate", &[deletes(&EC2_LAUNCH_TEMPLATE, &[
        Path("responseElements.DeleteLaunchTemplateResponse.launchTemplate.launchTemplateId"),
        Path("requestParameters.DeleteLaunchTemplateRequest.LaunchTemplateId"),
    ])]),
    // ---- EBS encryption by default (one setting per account and region) ----
    rule(EC2, "EnableEbsEncryptionByDefault", &[touch(&EC2_EBS_ENCRYPTION_BY_DEFAULT, THE_ACCOUNT)]),
    rule(EC2, "DisableEbsEncryptionByDefault", &[touch(&EC2_EBS_ENCRYPTION_BY_DEFAULT, THE_ACCOUNT)]),
    rule(EC2, "ModifyEbsDefaultKmsKeyId", &[touch(&EC2_EBS_ENCRYPTION_BY_DEFAULT, THE_ACCOUNT)]),
    rule(EC2, "ResetEbsDefaultKmsKeyId", &[touch(&EC2_EBS_ENCRYPTION_BY_DEFAULT, THE_ACCOUNT)]),
    // ---- network interfaces ----
    rule(EC2, "CreateNetworkInterface", &[creates(&EC2_NETWORK_INTERFACE, &[
        Path("responseElements.networkInterface.networkInterfaceId"),
    ])]),
    rule(EC2, "DeleteNetworkInterface", &[deletes(&EC2_NETWORK_INTERFACE, INTERFACE_IN_REQUEST)]),
    rule(EC2, "ModifyNetworkInterfaceAttribute", &[touch(&EC2_NETWORK_INTERFACE, INTERFACE_IN_REQUEST)]),
    rule(EC2, "AttachNetworkInterface", &[touch(&EC2_NETWORK_INTERFACE, INTERFACE_IN_REQUEST)]),
    // ---- transit gateways (inferred, see TGW_MODIFIED) ----
    rule(EC2, "CreateTransitGateway", &[creates(&EC2_TRANSIT_GATEWAY, &[
        Path("responseElements.CreateTransitGatewayResponse.transitGateway.transitGatewayId"),
        Path("responseElements.transitGateway.transitGatewayId"),
    ])]),
    rule(EC2, "ModifyTransitGateway", &[touch(&EC2_TRANSIT_GATEWAY, TGW_MODIFIED)]),
    rule(EC2, "DeleteTransitGateway", &[deletes(&EC2_TRANSIT_GATEWAY, TGW_DELETED)]),
    // ---- the region's Block Public Access and instance metadata defaults (one per region) ----
    rule(EC2, "EnableSnapshotBlockPublicAccess", &[touch(&EC2_REGION_SETTINGS, THE_ACCOUNT)]),
    rule(EC2, "DisableSnapshotBlockPublicAccess", &[touch(&EC2_REGION_SETTINGS, THE_ACCOUNT)]),
    rule(EC2, "EnableImageBlockPublicAccess", &[touch(&EC2_REGION_SETTINGS, THE_ACCOUNT)]),
    rule(EC2, "DisableImageBlockPublicAccess", &[touch(&EC2_REGION_SETTINGS, THE_ACCOUNT)]),
    rule(EC2, "ModifyInstanceMetadataDefaults", &[touch(&EC2_REGION_SETTINGS, THE_ACCOUNT)]),
    // ---- IAM users: keys, passwords, MFA and policies all touch the user ----
    rule(IAM, "CreateUser", &[creates(&IAM_USER, &[
        Path("responseElements.user.arn"),
        Path("requestParameters.userName"),
    ])]),
    rule(IAM, "DeleteUser", &[deletes(&IAM_USER, USER_IN_REQUEST)]),
    // A rename removes the old name and creates the new one.
    rule(IAM, "UpdateUser", &[
        touch(&IAM_USER, USER_IN_REQUEST).only_if(Absent("requestParameters.newUserName")),
        deletes(&IAM_USER, USER_IN_REQUEST).only_if(Present("requestParameters.newUserName")),
        creates(&IAM_USER, &[Path("requestParameters.newUserName")])
            .only_if(Present("requestParameters.newUserName")),
    ]),
    rule(IAM, "TagUser", &[touch(&IAM_USER, USER_IN_REQUEST)]),
    rule(IAM, "UntagUser", &[touch(&IAM_USER, USER_IN_REQUEST)]),
    rule(IAM, "AddUserToGroup", &[touch(&IAM_USER, USER_IN_REQUEST), touch(&IAM_GROUP, GROUP_NAME)]),
    rule(IAM, "RemoveUserFromGroup", &[touch(&IAM_USER, USER_IN_REQUEST), touch(&IAM_GROUP, GROUP_NAME)]),
    rule(IAM, "PutUserPermissionsBoundary", &[touch(&IAM_USER, USER_IN_REQUEST)]),
    rule(IAM, "DeleteUserPermissionsBoundary", &[touch(&IAM_USER, USER_IN_REQUEST)]),
    rule(IAM, "AttachUserPolicy", &[touch(&IAM_USER, USER_IN_REQUEST)]),
    rule(IAM, "DetachUserPolicy", &[touch(&IAM_USER, USER_IN_REQUEST)]),
    rule(IAM, "PutUserPolicy", &[touch(&IAM_USER, USER_IN_REQUEST)]),
    rule(IAM, "DeleteUserPolicy", &[touch(&IAM_USER, USER_IN_REQUEST)]),
    // Self-service credential calls: the caller's own user, or the root user's own credentials.
    rule(IAM, "CreateAccessKey", &[
        touch(&IAM_USER, &[
            Path("requestParameters.userName"),
            Path("responseElements.accessKey.userName"),
            CallerIamUser,
        ])
        .only_if(NotRootOnItself),
        touch(&IAM_ROOT_USER, THE_ACCOUNT).only_if(RootOnItself),
    ]),
    rule(IAM, "UpdateAccessKey", &[
        touch(&IAM_USER, USER_OR_CALLER).only_if(NotRootOnItself),
        touch(&IAM_ROOT_USER, THE_ACCOUNT).only_if(RootOnItself),
    ]),
    rule(IAM, "DeleteAccessKey", &[
        touch(&IAM_USER, USER_OR_CALLER).only_if(NotRootOnItself),
        touch(&IAM_ROOT_USER, THE_ACCOUNT).only_if(RootOnItself),
    ]),
    rule(IAM, "CreateLoginProfile", &[touch(&IAM_USER, &[
        Path("requestParameters.userName"),
        Path("responseElements.loginProfile.userName"),
        CallerIamUser,
    ])]),
    rule(IAM, "UpdateLoginProfile", &[touch(&IAM_USER, USER_OR_CALLER)]),
    rule(IAM, "DeleteLoginProfile", &[touch(&IAM_USER, USER_OR_CALLER)]),
    rule(IAM, "ChangePassword", &[touch(&IAM_USER, &[CallerIamUser])]),
    rule(IAM, "EnableMFADevice", &[
        touch(&IAM_USER, USER_OR_CALLER).only_if(NotRootOnItself),
        touch(&IAM_ROOT_USER, THE_ACCOUNT).only_if(RootOnItself),
    ]),
    rule(IAM, "DeactivateMFADevice", &[
        touch(&IAM_USER, USER_OR_CALLER).only_if(NotRootOnItself),
        touch(&IAM_ROOT_USER, THE_ACCOUNT).only_if(RootOnItself),
    ]),
    rule(IAM, "ResyncMFADevice", &[
        touch(&IAM_USER, USER_OR_CALLER).only_if(NotRootOnItself),
        touch(&IAM_ROOT_USER, THE_ACCOUNT).only_if(RootOnItself),
    ]),
    // Virtual devices decide whether the root user's MFA is virtual.
    rule(IAM, "CreateVirtualMFADevice", &[touch(&IAM_ROOT_USER, THE_ACCOUNT)]),
    rule(IAM, "DeleteVirtualMFADevice", &[touch(&IAM_ROOT_USER, THE_ACCOUNT)]),
    // ---- IAM groups (membership also touches the user) ----
    rule(IAM, "CreateGroup", &[creates(&IAM_GROUP, &[
        Path("responseElements.group.arn"),
        Path("requestParameters.groupName"),
    ])]),
    rule(IAM, "DeleteGroup", &[deletes(&IAM_GROUP, GROUP_NAME)]),
    rule(IAM, "UpdateGroup", &[
        touch(&IAM_GROUP, GROUP_NAME).only_if(Absent("requestParameters.newGroupName")),
        deletes(&IAM_GROUP, GROUP_NAME).only_if(Present("requestParameters.newGroupName")),
        creates(&IAM_GROUP, &[Path("requestParameters.newGroupName")])
            .only_if(Present("requestParameters.newGroupName")),
    ]),
    rule(IAM, "AttachGroupPolicy", &[touch(&IAM_GROUP, GROUP_NAME)]),
    rule(IAM, "DetachGroupPolicy", &[touch(&IAM_GROUP, GROUP_NAME)]),
    rule(IAM, "PutGroupPolicy", &[touch(&IAM_GROUP, GROUP_NAME)]),
    rule(IAM, "DeleteGroupPolicy", &[touch(&IAM_GROUP, GROUP_NAME)]),
    // ---- IAM roles ----
    rule(IAM, "CreateRole", &[creates(&IAM_ROLE, &[
        Path("responseElements.role.arn"),
        Path("requestParameters.roleName"),
    ])]),
    rule(IAM, "DeleteRole", &[deletes(&IAM_ROLE, ROLE_NAME), touch(&IAM_ACCOUNT_ACCESS, THE_ACCOUNT)]),
    rule(IAM, "UpdateRole", &[touch(&IAM_ROLE, ROLE_NAME)]),
    rule(IAM, "UpdateRoleDescription", &[touch(&IAM_ROLE, ROLE_NAME)]),
    rule(IAM, "UpdateAssumeRolePolicy", &[touch(&IAM_ROLE, ROLE_NAME)]),
    rule(IAM, "AttachRolePolicy", &[touch(&IAM_ROLE, ROLE_NAME), touch(&IAM_ACCOUNT_ACCESS, THE_ACCOUNT)]),
    rule(IAM, "DetachRolePolicy", &[touch(&IAM_ROLE, ROLE_NAME), touch(&IAM_ACCOUNT_ACCESS, THE_ACCOUNT)]),
    rule(IAM, "PutRolePolicy", &[touch(&IAM_ROLE, ROLE_NAME)]),
    rule(IAM, "DeleteRolePolicy", &[touch(&IAM_ROLE, ROLE_NAME)]),
    rule(IAM, "PutRolePermissionsBoundary", &[touch(&IAM_ROLE, ROLE_NAME)]),
    rule(IAM, "DeleteRolePermissionsBoundary", &[touch(&IAM_ROLE, ROLE_NAME)]),
    rule(IAM, "TagRole", &[touch(&IAM_ROLE, ROLE_NAME)]),
    rule(IAM, "UntagRole", &[touch(&IAM_ROLE, ROLE_NAME)]),
    // ---- customer managed policies (the users, groups and roles they are attached to are
    // refreshed with them: see the kind's dependents) ----
    rule(IAM, "CreatePolicy", &[creates(&IAM_MANAGED_POLICY, &[
        Path("responseElements.policy.arn"),
        Path("requestParameters.policyName"),
    ])]),
    rule(IAM, "DeletePolicy", &[deletes(&IAM_MANAGED_POLICY, POLICY_ARN)]),
    rule(IAM, "CreatePolicyVersion", &[touch(&IAM_MANAGED_POLICY, POLICY_ARN)]),
    rule(IAM, "DeletePolicyVersion", &[touch(&IAM_MANAGED_POLICY, POLICY_ARN)]),
    rule(IAM, "SetDefaultPolicyVersion", &[touch(&IAM_MANAGED_POLICY, POLICY_ARN)]),
    // ---- server certificates ----
    rule(IAM, "UploadServerCertificate", &[creates(&IAM_SERVER_CERTIFICATE, &[
        Path("responseElements.serverCertificateMetadata.arn"),
        Path("requestParameters.serverCertificateName"),
    ])]),
    rule(IAM, "DeleteServerCertificate", &[deletes(&IAM_SERVER_CERTIFICATE, &[
        Path("requestParameters.serverCertificateName"),
    ])]),
    // ---- identity providers (and the account access aggregate that lists them) ----
    rule(IAM, "CreateSAMLProvider", &[
        creates(&IAM_SAML_PROVIDER, &[
            Path("responseElements.sAMLProviderArn"),
            Path("requestParameters.name"),
        ]),
        touch(&IAM_ACCOUNT_ACCESS, THE_ACCOUNT),
    ]),
    rule(IAM, "UpdateSAMLProvider", &[touch(&IAM_SAML_PROVIDER, SAML_PROVIDER_ARN)]),
    rule(IAM, "DeleteSAMLProvider", &[
        deletes(&IAM_SAML_PROVIDER, SAML_PROVIDER_ARN),
        touch(&IAM_ACCOUNT_ACCESS, THE_ACCOUNT),
    ]),
    rule(IAM, "CreateOpenIDConnectProvider", &[
        creates(&IAM_OIDC_PROVIDER, &[Path("responseElements.openIDConnectProviderArn")]),
        touch(&IAM_ACCOUNT_ACCESS, THE_ACCOUNT),
    ]),
    rule(IAM, "DeleteOpenIDConnectProvider", &[
        deletes(&IAM_OIDC_PROVIDER, OIDC_PROVIDER_ARN),
        touch(&IAM_ACCOUNT_ACCESS, THE_ACCOUNT),
    ]),
    rule(IAM, "UpdateOpenIDConnectProviderThumbprint", &[touch(&IAM_OIDC_PROVIDER, OIDC_PROVIDER_ARN)]),
    rule(IAM, "AddClientIDToOpenIDConnectProvider", &[touch(&IAM_OIDC_PROVIDER, OIDC_PROVIDER_ARN)]),
    rule(IAM, "RemoveClientIDFromOpenIDConnectProvider", &[touch(&IAM_OIDC_PROVIDER, OIDC_PROVIDER_ARN)]),
    rule(IAM, "TagOpenIDConnectProvider", &[touch(&IAM_OIDC_PROVIDER, OIDC_PROVIDER_ARN)]),
    rule(IAM, "UntagOpenIDConnectProvider", &[touch(&IAM_OIDC_PROVIDER, OIDC_PROVIDER_ARN)]),
    rule(IAM, "UpdateAccountPasswordPolicy", &[touch(&IAM_PASSWORD_POLICY, THE_ACCOUNT)]),
    rule(IAM, "DeleteAccountPasswordPolicy", &[touch(&IAM_PASSWORD_POLICY, THE_ACCOUNT)]),
    // ---- RDS instances and snapshots (the response ARN when the call returns one) ----
    rule(RDS, "CreateDBInstance", &[creates(&RDS_DB_INSTANCE, DB_INSTANCE)]),
    rule(RDS, "CreateDBInstanceReadReplica", &[creates(&RDS_DB_INSTANCE, DB_INSTANCE)]),
    rule(RDS, "RestoreDBInstanceFromDBSnapshot", &[creates(&RDS_DB_INSTANCE, DB_INSTANCE)]),
    rule(RDS, "RestoreDBInstanceToPointInTime", &[creates(&RDS_DB_INSTANCE, &[
        Path("responseElements.dBInstanceArn"),
        Path("requestParameters.targetDBInstanceIdentifier"),
    ])]),
    rule(RDS, "RestoreDBInstanceFromS3", &[creates(&RDS_DB_INSTANCE, DB_INSTANCE)]),
    rule(RDS, "ModifyDBInstance", &[touch(&RDS_DB_INSTANCE, DB_INSTANCE)]),
    rule(RDS, "RebootDBInstance", &[touch(&RDS_DB_INSTANCE, DB_INSTANCE)]),
    rule(RDS, "AddRoleToDBInstance", &[touch(&RDS_DB_INSTANCE, DB_INSTANCE)]),
    rule(RDS, "RemoveRoleFromDBInstance", &[touch(&RDS_DB_INSTANCE, DB_INSTANCE)]),
    rule(RDS, "PromoteReadReplica", &[touch(&RDS_DB_INSTANCE, DB_INSTANCE)]),
    rule(RDS, "StartDBInstance", &[touch(&RDS_DB_INSTANCE, DB_INSTANCE)]),
    rule(RDS, "StopDBInstance", &[touch(&RDS_DB_INSTANCE, DB_INSTANCE)]),
    rule(RDS, "DeleteDBInstance", &[deletes(&RDS_DB_INSTANCE, DB_INSTANCE)]),
    rule(RDS, "CreateDBSnapshot", &[creates(&RDS_DB_SNAPSHOT, DB_SNAPSHOT)]),
    rule(RDS, "CopyDBSnapshot", &[creates(&RDS_DB_SNAPSHOT, &[
        Path("responseElements.dBSnapshotArn"),
        Path("requestParameters.targetDBSnapshotIdentifier"),
    ])]),
    rule(RDS, "ModifyDBSnapshot", &[touch(&RDS_DB_SNAPSHOT, DB_SNAPSHOT)]),
    rule(RDS, "ModifyDBSnapshotAttribute", &[touch(&RDS_DB_SNAPSHOT, DB_SNAPSHOT)]),
    rule(RDS, "DeleteDBSnapshot", &[deletes(&RDS_DB_SNAPSHOT, DB_SNAPSHOT)]),
    // ---- RDS clusters, cluster snapshots and event subscriptions; parameter groups (followed
    // ahead of their collector). The paths are inferred from the API's request and
    // response shapes, the response ARN first as for instances; a restore names the new
    // cluster in `dBClusterIdentifier` ----
    rule(RDS, "CreateDBCluster", &[creates(&RDS_DB_CLUSTER, DB_CLUSTER)]),
    rule(RDS, "RestoreDBClusterFromSnapshot", &[creates(&RDS_DB_CLUSTER, DB_CLUSTER)]),
    rule(RDS, "RestoreDBClusterToPointInTime", &[creates(&RDS_DB_CLUSTER, DB_CLUSTER)]),
    rule(RDS, "RestoreDBClusterFromS3", &[creates(&RDS_DB_CLUSTER, DB_CLUSTER)]),
    rule(RDS, "FailoverDBCluster", &[touch(&RDS_DB_CLUSTER, DB_CLUSTER)]),
    rule(RDS, "RebootDBCluster", &[touch(&RDS_DB_CLUSTER, DB_CLUSTER)]),
    rule(RDS, "AddRoleToDBCluster", &[touch(&RDS_DB_CLUSTER, DB_CLUSTER)]),
    rule(RDS, "RemoveRoleFromDBCluster", &[touch(&RDS_DB_CLUSTER, DB_CLUSTER)]),
    rule(RDS, "CopyDBClusterSnapshot", &[creates(&RDS_DB_CLUSTER_SNAPSHOT, &[
        Path("responseElements.dBClusterSnapshotArn"),
        Path("requestParameters.targetDBClusterSnapshotIdentifier"),
    ])]),
    rule(RDS, "ModifyDBCluster", &[touch(&RDS_DB_CLUSTER, DB_CLUSTER)]),
    rule(RDS, "StartDBCluster", &[touch(&RDS_DB_CLUSTER, DB_CLUSTER)]),
    rule(RDS, "StopDBCluster", &[touch(&RDS_DB_CLUSTER, DB_CLUSTER)]),
    rule(RDS, "DeleteDBCluster", &[deletes(&RDS_DB_CLUSTER, DB_CLUSTER)]),
    rule(RDS, "CreateDBClusterSnapshot", &[creates(&RDS_DB_CLUSTER_SNAPSHOT, DB_CLUSTER_SNAPSHOT)]),
    rule(RDS, "DeleteDBClusterSnapshot", &[deletes(&RDS_DB_CLUSTER_SNAPSHOT, DB_CLUSTER_SNAPSHOT)]),
    rule(RDS, "ModifyDBClusterSnapshotAttribute", &[touch(&RDS_DB_CLUSTER_SNAPSHOT, DB_CLUSTER_SNAPSHOT)]),
    rule(RDS, "ModifyDBParameterGroup", &[touch(&RDS_DB_PARAMETER_GROUP, DB_PARAMETER_GROUP)]),
    rule(RDS, "ResetDBParameterGroup", &[touch(&RDS_DB_PARAMETER_GROUP, DB_PARAMETER_GROUP)]),
    rule(RDS, "DeleteDBParameterGroup", &[deletes(&RDS_DB_PARAMETER_GROUP, DB_PARAMETER_GROUP)]),
    rule(RDS, "ModifyDBClusterParameterGroup", &[touch(&RDS_DB_CLUSTER_PARAMETER_GROUP, DB_CLUSTER_PARAMETER_GROUP)]),
    rule(RDS, "ResetDBClusterParameterGroup", &[touch(&RDS_DB_CLUSTER_PARAMETER_GROUP, DB_CLUSTER_PARAMETER_GROUP)]),
    rule(RDS, "DeleteDBClusterParameterGroup", &[deletes(&RDS_DB_CLUSTER_PARAMETER_GROUP, DB_CLUSTER_PARAMETER_GROUP)]),
    rule(RDS, "CreateEventSubscription", &[creates(&RDS_EVENT_SUBSCRIPTION, &[
        Path("responseElements.eventSubscriptionArn"),
        Path("requestParameters.subscriptionName"),
    ])]),
    rule(RDS, "DeleteEventSubscription", &[deletes(&RDS_EVENT_SUBSCRIPTION, &[
        Path("responseElements.eventSubscriptionArn"),
        Path("requestParameters.subscriptionName"),
    ])]),
    rule(RDS, "ModifyEventSubscription", &[touch(&RDS_EVENT_SUBSCRIPTION, &[
        Path("responseElements.eventSubscriptionArn"),
        Path("requestParameters.subscriptionName"),
    ])]),
    rule(RDS, "AddSourceIdentifierToSubscription", &[touch(&RDS_EVENT_SUBSCRIPTION, &[
        Path("responseElements.eventSubscriptionArn"),
        Path("requestParameters.subscriptionName"),
    ])]),
    rule(RDS, "RemoveSourceIdentifierFromSubscription", &[touch(&RDS_EVENT_SUBSCRIPTION, &[
        Path("responseElements.eventSubscriptionArn"),
        Path("requestParameters.subscriptionName"),
    ])]),
    // ---- CloudTrail trails, and the account's coverage that every trail change can move ----
    rule(CLOUDTRAIL, "CreateTrail", &[creates(&CLOUDTRAIL_TRAIL, TRAIL), touch(&CLOUDTRAIL_COVERAGE, THE_ACCOUNT)]),
    rule(CLOUDTRAIL, "UpdateTrail", &[touch(&CLOUDTRAIL_TRAIL, TRAIL), touch(&CLOUDTRAIL_COVERAGE, THE_ACCOUNT)]),
    rule(CLOUDTRAIL, "StartLogging", &[touch(&CLOUDTRAIL_TRAIL, TRAIL), touch(&CLOUDTRAIL_COVERAGE, THE_ACCOUNT)]),
    rule(CLOUDTRAIL, "StopLogging", &[touch(&CLOUDTRAIL_TRAIL, TRAIL), touch(&CLOUDTRAIL_COVERAGE, THE_ACCOUNT)]),
    rule(CLOUDTRAIL, "DeleteTrail", &[deletes(&CLOUDTRAIL_TRAIL, TRAIL), touch(&CLOUDTRAIL_COVERAGE, THE_ACCOUNT)]),
    rule(CLOUDTRAIL, "PutEventSelectors", &[touch(&CLOUDTRAIL_TRAIL, TRAIL_BY_TRAIL_NAME), touch(&CLOUDTRAIL_COVERAGE, THE_ACCOUNT)]),
    rule(CLOUDTRAIL, "PutInsightSelectors", &[touch(&CLOUDTRAIL_TRAIL, TRAIL_BY_TRAIL_NAME)]),
    // ---- KMS keys (ScheduleKeyDeletion leaves the key in PendingDeletion: not deleted) ----
    rule(KMS, "CreateKey", &[creates(&KMS_KEY, KEY)]),
    rule(KMS, "EnableKeyRotation", &[touch(&KMS_KEY, KEY)]),
    rule(KMS, "DisableKeyRotation", &[touch(&KMS_KEY, KEY)]),
    rule(KMS, "ScheduleKeyDeletion", &[touch(&KMS_KEY, KEY)]),
    rule(KMS, "CancelKeyDeletion", &[touch(&KMS_KEY, KEY)]),
    rule(KMS, "PutKeyPolicy", &[touch(&KMS_KEY, KEY)]),
    rule(KMS, "EnableKey", &[touch(&KMS_KEY, KEY)]),
    rule(KMS, "DisableKey", &[touch(&KMS_KEY, KEY)]),
    rule(KMS, "ImportKeyMaterial", &[touch(&KMS_KEY, KEY)]),
    rule(KMS, "DeleteImportedKeyMaterial", &[touch(&KMS_KEY, KEY)]),
    rule(KMS, "UpdateKeyDescription", &[touch(&KMS_KEY, KEY)]),
    rule(KMS, "ReplicateKey", &[touch(&KMS_KEY, KEY)]),
    rule(KMS, "UpdatePrimaryRegion", &[touch(&KMS_KEY, KEY)]),
    // Aliases are part of their key's configuration: CreateAlias and UpdateAlias name the key
    // (resources[], else targetKeyId); DeleteAlias names it only in resources[].
    rule(KMS, "CreateAlias", &[touch(&KMS_KEY, KEY_OF_ALIAS)]),
    rule(KMS, "UpdateAlias", &[touch(&KMS_KEY, KEY_OF_ALIAS)]),
    rule(KMS, "DeleteAlias", &[touch(&KMS_KEY, &[ResourcesArn])]),
    // The end of the waiting period: KMS itself deletes the key (an AwsServiceEvent whose
    // resources[] names it).
    rule(KMS, "DeleteKey", &[deletes(&KMS_KEY, &[ResourcesArn, Path("requestParameters.keyId")])]),
    // ---- Lambda functions (CloudTrail names Lambda's calls with their API version) ----
    rule(LAMBDA, "CreateFunction20150331", &[creates(&LAMBDA_FUNCTION, FUNCTION)]),
    rule(LAMBDA, "UpdateFunctionConfiguration20150331v2", &[touch(&LAMBDA_FUNCTION, FUNCTION)]),
    rule(LAMBDA, "UpdateFunctionCode20150331v2", &[touch(&LAMBDA_FUNCTION, FUNCTION)]),
    rule(LAMBDA, "AddPermission20150331v2", &[touch(&LAMBDA_FUNCTION, FUNCTION)]),
    rule(LAMBDA, "RemovePermission20150331v2", &[touch(&LAMBDA_FUNCTION, FUNCTION)]),
    rule(LAMBDA, "DeleteFunction20150331", &[deletes(&LAMBDA_FUNCTION, FUNCTION)]),
    rule(LAMBDA, "CreateFunctionUrlConfig20211031", &[touch(&LAMBDA_FUNCTION, FUNCTION)]),
    rule(LAMBDA, "UpdateFunctionUrlConfig20211031", &[touch(&LAMBDA_FUNCTION, FUNCTION)]),
    rule(LAMBDA, "DeleteFunctionUrlConfig20211031", &[touch(&LAMBDA_FUNCTION, FUNCTION)]),
    // Inferred from the API versions of the code signing operations (2020-04-22).
    rule(LAMBDA, "PutFunctionCodeSigningConfig20200422", &[touch(&LAMBDA_FUNCTION, FUNCTION)]),
    rule(LAMBDA, "DeleteFunctionCodeSigningConfig20200422", &[touch(&LAMBDA_FUNCTION, FUNCTION)]),
];

type RuleIndex = HashMap<(&'static str, &'static str), &'static EventRule>;

/// The rule for an event, looked up by (eventSource, eventName).
pub(crate) fn rule_for(event_source: &str, event_name: &str) -> Option<&'static EventRule> {
    static INDEX: OnceLock<RuleIndex> = OnceLock::new();
    let index: &HashMap<(&str, &str), &'static EventRule> = INDEX.get_or_init(|| {
        EVENT_RULES
            .iter()
            .map(|rule| ((rule.event_source, rule.event_name), rule))
            .collect()
    });
    index.get(&(event_source, event_name)).copied()
}

/// The events that touch resources of `resource_type`, as `(eventSource, eventName)`.
pub(crate) fn events_touching(resource_type: &str) -> Vec<(&'static str, &'static str)> {
    EVENT_RULES
        .iter()
        .filter(|rule| {
            rule.touches
                .iter()
                .any(|t| t.kind.resource_type == resource_type)
        })
        .map(|rule| (rule.event_source, rule.event_name))
        .collect()
}

/// Every `eventSource` the catalogue has rules for (`s3.amazonaws.com`, ...), each once, sorted.
pub(crate) fn event_sources() -> Vec<&'static str> {
    let mut sources: Vec<&'static str> = EVENT_RULES.iter().map(|r| r.event_source).collect();
    sources.sort_unstable();
    sources.dedup();
    sources
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_kind_a_rule_names_is_registered_or_pending_never_both() {
        // given the kinds qrie collects and those followed ahead of their collectors
        let registered: HashSet<&str> = crate::registry::kinds()
            .map(|k| k.resource_type())
            .collect();
        let pending: HashSet<&str> = super::super::pending::ALL
            .iter()
            .map(|k| k.resource_type)
            .collect();
        // then a type is declared in one place only
        let both: Vec<&&str> = registered.intersection(&pending).collect();
        assert!(both.is_empty(), "declared twice: {both:?}");
        for rule in EVENT_RULES {
            for touch in rule.touches {
                // and every rule points at a declared kind, with the same shape as declared
                let name = touch.kind.resource_type;
                let declared = crate::registry::kind(name).map(|k| &k.shape).or_else(|| {
                    super::super::pending::ALL
                        .iter()
                        .copied()
                        .find(|k| k.resource_type == name)
                });
                assert_eq!(declared, Some(touch.kind), "{}: {name}", rule.event_name);
            }
        }
    }

    #[test]
    fn sources_are_listed_once_each() {
        let sources = event_sources();
        assert!(sources.contains(&"s3.amazonaws.com"));
        assert!(sources.windows(2).all(|w| w[0] < w[1]), "{sources:?}");
    }

    #[test]
    fn each_event_appears_once() {
        // given the table
        let mut seen = HashSet::new();
        // when / then
        for rule in EVENT_RULES {
            assert!(
                seen.insert((rule.event_source, rule.event_name)),
                "{} listed twice",
                rule.event_name
            );
        }
    }

    #[test]
    fn every_rule_touches_something_from_somewhere() {
        for rule in EVENT_RULES {
            // given a rule
            // then it names at least one resource, each with a place to look
            assert!(!rule.touches.is_empty(), "{}", rule.event_name);
            for touch in rule.touches {
                assert!(!touch.from.is_empty(), "{}", rule.event_name);
            }
        }
    }

    #[test]
    fn the_rule_is_found_by_source_and_name() {
        // given an S3 event name that Lightsail also uses
        // when
        let s3 = rule_for("s3.amazonaws.com", "CreateBucket");
        let lightsail = rule_for("lightsail.amazonaws.com", "CreateBucket");
        // then
        assert_eq!(s3.map(|r| r.event_name), Some("CreateBucket"));
        assert_eq!(lightsail, None);
    }

    #[test]
    fn exactly_the_removing_events_delete() {
        // given the events that remove a resource outright
        let removing: HashSet<&str> = [
            "DeleteBucket",
            "DeleteAccessPoint",
            "DeleteSecurityGroup",
            "TerminateInstances",
            "DeleteVolume",
            "DeleteSnapshot",
            "DeregisterImage",
            "DeleteVpc",
            "DeleteFlowLogs",
            "DeleteSubnet",
            "DeleteRouteTable",
            "DeleteInternetGateway",
            "DeleteVpcPeeringConnection",
            "DeleteVpcEndpoints",
            "DeleteVpcEndpointServiceConfigurations",
            "DeleteVpnConnection",
            "DeleteNetworkAcl",
            "ReleaseAddress",
            "DeleteLaunchTemplate",
            "DeleteNetworkInterface",
            "DeleteTransitGateway",
            "DeleteUser",
            "UpdateUser",
            "DeleteGroup",
            "UpdateGroup",
            "DeleteRole",
            "DeletePolicy",
            "DeleteServerCertificate",
            "DeleteSAMLProvider",
            "DeleteOpenIDConnectProvider",
            "DeleteDBInstance",
            "DeleteDBSnapshot",
            "DeleteTrail",
            "DeleteKey",
            "DeleteFunction20150331",
            "DeleteDBCluster",
            "DeleteDBClusterSnapshot",
            "DeleteEventSubscription",
            "DeleteDBParameterGroup",
            "DeleteDBClusterParameterGroup",
        ]
        .into();
        for rule in EVENT_RULES {
            // when
            let deletes_something = rule.touches.iter().any(|touch| touch.deleted);
            // then
            assert_eq!(
                deletes_something,
                removing.contains(rule.event_name),
                "{}",
                rule.event_name
            );
        }
    }
}
