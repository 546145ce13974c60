//! How a kind of resource forms its ARN, in every partition ([`ArnShape`]), below both the
//! collectors (`collect`) and the CloudTrail extraction (`trail`). Each kind's shape is declared
//! once, with the kind (see [`crate::registry`]), and both sides read that one declaration, so
//! that a resource found by the nightly inventory and the same resource touched by an event share
//! one key: `arn:<partition>:<service>:<region or empty>:<account or empty>:<prefix><id>`.
//!
//! The partition comes from a region, in one place ([`partition_for_region`]: `cn-*` →
//! `aws-cn`, `us-gov-*` → `aws-us-gov`, ... else `aws`); a collector takes it from its account
//! session ([`crate::collect::AccountSession::partition`]), the trail extraction from the
//! event's `awsRegion`. Reading an identifier found in an event (native id or ARN) is the trail's
//! business and lives in `trail::arn`.

use crate::model::Service;

/// Where in the ARN a kind of resource puts the region and the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArnScope {
    /// Neither region nor account: `arn:aws:s3:::bucket`.
    Global,
    /// The account only: `arn:aws:iam::111122223333:user/alice`.
    Account,
    /// Region and account: `arn:aws:ec2:us-east-1:111122223333:instance/i-0abc`.
    Regional,
}

/// How one kind of resource forms its ARN and its name. Declared once per kind: in its service's
/// collector module for a kind qrie collects (part of its [`crate::registry::ResourceKind`]), or
/// in the trail catalogue for a kind whose events are followed ahead of its collector.
#[derive(Debug, PartialEq, Eq)]
pub struct ArnShape {
    pub service: Service,
    /// CloudFormation-style type, e.g. `AWS::EC2::Instance`.
    pub resource_type: &'static str,
    /// The service field of the ARN (`service.as_str()` for every kind so far).
    pub arn_service: &'static str,
    pub scope: ArnScope,
    /// What precedes the id in the ARN's resource part (`instance/`, `db:`), or for a
    /// singleton the whole resource part (`account-password-policy`).
    pub resource_prefix: &'static str,
    /// One per account (or per account and region): the id is the account id and the ARN's
    /// resource part is `resource_prefix` alone.
    pub singleton: bool,
    /// The ARN may hold a path before the name (`user/division/alice`): the native id is the
    /// last `/`-separated part.
    pub pathed: bool,
    /// The ARN or id may carry a qualifier after the name (`function:orders:7`, a Lambda
    /// version or alias): the resource is the unqualified one.
    pub qualified: bool,
}

impl ArnShape {
    /// A kind whose ARN is `arn:<partition>:<arn_service>:<region?>:<account?>:<prefix><id>`.
    pub const fn new(
        service: Service,
        arn_service: &'static str,
        resource_type: &'static str,
        scope: ArnScope,
        resource_prefix: &'static str,
    ) -> Self {
        ArnShape {
            service,
            resource_type,
            arn_service,
            scope,
            resource_prefix,
            singleton: false,
            pathed: false,
            qualified: false,
        }
    }

    /// The same kind, one per account (or account and region): its ARN ends in the prefix.
    pub const fn singleton(self) -> Self {
        ArnShape {
            singleton: true,
            ..self
        }
    }

    /// The same kind, whose ARN may carry a path before the name.
    pub const fn pathed(self) -> Self {
        ArnShape {
            pathed: true,
            ..self
        }
    }

    /// The same kind, whose ARN or id may carry a `:qualifier` after the name that does not
    /// make another resource (a Lambda function's version or alias).
    pub const fn qualified(self) -> Self {
        ArnShape {
            qualified: true,
            ..self
        }
    }
}

/// The AWS partition that a region belongs to.
pub fn partition_for_region(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else if region.starts_with("us-isob-") {
        "aws-iso-b"
    } else if region.starts_with("us-iso-") {
        "aws-iso"
    } else {
        "aws"
    }
}

/// The six fields of an ARN, borrowed from the string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArnParts<'a> {
    pub partition: &'a str,
    pub service: &'a str,
    pub region: &'a str,
    pub account: &'a str,
    pub resource: &'a str,
}

/// Splits `arn:partition:service:region:account:resource`; the resource part may hold colons.
pub fn split_arn(value: &str) -> Option<ArnParts<'_>> {
    let mut fields = value.splitn(6, ':');
    let (Some("arn"), Some(partition), Some(service), Some(region), Some(account), Some(resource)) = (
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
    ) else {
        return None;
    };
    Some(ArnParts {
        partition,
        service,
        region,
        account,
        resource,
    })
}

impl ArnShape {
    /// The ARN of this kind of resource with the given native id.
    pub fn arn(&self, partition: &str, region: &str, account_id: &str, id: &str) -> String {
        let (region_field, account_field) = match self.scope {
            ArnScope::Global => ("", ""),
            ArnScope::Account => ("", account_id),
            ArnScope::Regional => (region, account_id),
        };
        let id_field = if self.singleton { "" } else { id };
        format!(
            "arn:{partition}:{}:{region_field}:{account_field}:{}{id_field}",
            self.arn_service, self.resource_prefix
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_follows_the_region_prefix() {
        // given regions of each partition
        let table = [
            ("us-east-1", "aws"),
            ("eu-west-3", "aws"),
            ("cn-north-1", "aws-cn"),
            ("cn-northwest-1", "aws-cn"),
            ("us-gov-west-1", "aws-us-gov"),
            ("us-iso-east-1", "aws-iso"),
            ("us-isob-east-1", "aws-iso-b"),
            ("sa-isob-west-2r", "aws"),
        ];
        for (region, expected) in table {
            // when / then
            assert_eq!(partition_for_region(region), expected, "{region}");
        }
    }

    const GLOBAL: ArnShape =
        ArnShape::new(Service::S3, "s3", "AWS::S3::Bucket", ArnScope::Global, "");
    const SINGLETON: ArnShape = ArnShape::new(
        Service::S3,
        "s3",
        "AWS::S3::AccountPublicAccessBlock",
        ArnScope::Account,
        "account-public-access-block",
    )
    .singleton();
    const REGIONAL: ArnShape = ArnShape::new(
        Service::Ec2,
        "ec2",
        "AWS::EC2::Volume",
        ArnScope::Regional,
        "volume/",
    );

    #[test]
    fn each_scope_places_region_and_account_in_every_partition() {
        // given one kind of each scope and the three commercial-like partitions
        for (partition, region) in [
            ("aws", "us-east-1"),
            ("aws-cn", "cn-north-1"),
            ("aws-us-gov", "us-gov-west-1"),
        ] {
            // when
            let bucket = GLOBAL.arn(partition, region, "111122223333", "b");
            let block = SINGLETON.arn(partition, region, "111122223333", "x");
            let volume = REGIONAL.arn(partition, region, "111122223333", "vol-1");
            // then
            assert_eq!(bucket, format!("arn:{partition}:s3:::b"));
            assert_eq!(
                block,
                format!("arn:{partition}:s3::111122223333:account-public-access-block")
            );
            assert_eq!(
                volume,
                format!("arn:{partition}:ec2:{region}:111122223333:volume/vol-1")
            );
        }
    }
}
