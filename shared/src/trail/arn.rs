//! Reading the identifier of a resource a CloudTrail event touched into that resource's ARN.
//!
//! How each kind's ARN is formed is declared once, with the kind ([`ArnShape`], in the kind's
//! registry entry or, ahead of its collector, in the trail catalogue), and the collectors use
//! the same declaration, so that a resource touched by an event and the same resource found by the
//! nightly inventory share one key. The partition comes from the event's region
//! ([`partition_for_region`]).
//!
//! An identifier found in an event is either a native id (bucket name, instance id, key id) or
//! already an ARN (a trail or KMS key given by ARN). [`ArnShape::resolve`] accepts both; when
//! it is an ARN, the ARN's own partition, region and account win over the event's, because a
//! KMS call in us-east-1 can name a key in us-west-2.

use thiserror::Error;

pub(crate) use crate::arn::{partition_for_region, split_arn, ArnShape};
use crate::model::Service;

/// An identifier that could not be turned into a resource of the expected kind. The value is
/// never carried (it comes from the event and may be anything): the variant says what is
/// wrong, the caller says where the value was.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum IdentifierError {
    #[error("looks like an ARN but does not have six colon-separated parts")]
    MalformedArn,
    #[error("is an ARN but not of a {expected} (expected service {service:?} and resource {prefix:?}...)")]
    WrongKindOfArn {
        expected: &'static str,
        service: &'static str,
        prefix: &'static str,
    },
    #[error("is an alias, not a {expected} id; the event does not say which key it names")]
    Alias { expected: &'static str },
    #[error("is empty where a {expected} identifier was expected")]
    Empty { expected: &'static str },
    #[error(
        "is not a usable {expected} identifier (longer than {MAX_IDENTIFIER_LEN} characters, or \
         holding whitespace or control characters)"
    )]
    Unusable { expected: &'static str },
}

/// The longest identifier accepted from an event (ARNs are at most 2048 characters).
pub const MAX_IDENTIFIER_LEN: usize = 2048;

/// An identifier fit to become part of a key, an SDK call and a log line.
fn is_usable(value: &str) -> bool {
    value.len() <= MAX_IDENTIFIER_LEN && !value.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// A resource pinned down: its native id, full ARN, and where it lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ResolvedResource {
    pub id: String,
    pub arn: String,
    pub account_id: String,
    pub region: String,
}

impl ArnShape {
    /// Turns an identifier found in an event (a native id or an ARN) into a resource, with the
    /// event's account and region as defaults that an ARN overrides.
    pub(crate) fn resolve(
        &self,
        value: &str,
        event_account: &str,
        event_region: &str,
    ) -> Result<ResolvedResource, IdentifierError> {
        if value.is_empty() {
            return Err(IdentifierError::Empty {
                expected: self.resource_type,
            });
        }
        if !is_usable(value) {
            return Err(IdentifierError::Unusable {
                expected: self.resource_type,
            });
        }
        if value.starts_with("arn:") {
            return self.resolve_arn(value, event_account, event_region);
        }
        if self.service == Service::Kms && value.starts_with("alias/") {
            return Err(IdentifierError::Alias {
                expected: self.resource_type,
            });
        }
        let id = if self.singleton {
            event_account
        } else if self.qualified {
            value.split(':').next().unwrap_or(value)
        } else {
            value
        };
        Ok(ResolvedResource {
            id: id.to_owned(),
            arn: self.arn(
                partition_for_region(event_region),
                event_region,
                event_account,
                id,
            ),
            account_id: event_account.to_owned(),
            region: event_region.to_owned(),
        })
    }

    fn resolve_arn(
        &self,
        arn: &str,
        event_account: &str,
        event_region: &str,
    ) -> Result<ResolvedResource, IdentifierError> {
        let parts = split_arn(arn).ok_or(IdentifierError::MalformedArn)?;
        let wrong_kind = || IdentifierError::WrongKindOfArn {
            expected: self.resource_type,
            service: self.arn_service,
            prefix: self.resource_prefix,
        };
        if parts.service != self.arn_service {
            return Err(wrong_kind());
        }
        let rest = parts
            .resource
            .strip_prefix(self.resource_prefix)
            .ok_or_else(wrong_kind)?;
        let id = if self.singleton {
            event_account
        } else if self.pathed {
            // `user/division/team/alice`: the path is part of the ARN, the name is the last part.
            rest.rsplit('/').next().unwrap_or(rest)
        } else if self.qualified {
            // `function:orders:7`: version 7 of the function `orders`.
            rest.split(':').next().unwrap_or(rest)
        } else {
            rest
        };
        if id.is_empty() {
            return Err(wrong_kind());
        }
        let account_id = non_empty_or(parts.account, event_account);
        let region = non_empty_or(parts.region, event_region);
        // A pathed kind is stored under its ARN without the path (what an event that names only
        // the user or role forms too), so that every event about it reaches one stored item.
        let arn = if self.pathed || self.qualified {
            self.arn(parts.partition, region, account_id, id)
        } else {
            arn.to_owned()
        };
        Ok(ResolvedResource {
            id: id.to_owned(),
            arn,
            account_id: account_id.to_owned(),
            region: region.to_owned(),
        })
    }
}

fn non_empty_or<'a>(value: &'a str, fallback: &'a str) -> &'a str {
    if value.is_empty() {
        fallback
    } else {
        value
    }
}

#[cfg(test)]
mod tests {
    use super::super::pending::*;
    use super::*;
    use crate::collect::ec2::ebs::{
        EBS_ENCRYPTION_BY_DEFAULT_SHAPE as EC2_EBS_ENCRYPTION_BY_DEFAULT,
        VOLUME_SHAPE as EC2_VOLUME,
    };
    use crate::collect::ec2::instances::INSTANCE_SHAPE as EC2_INSTANCE;
    use crate::collect::ec2::security_groups::SECURITY_GROUP_SHAPE as EC2_SECURITY_GROUP;

    const IAM_USER: ArnShape = crate::collect::iam::USER.shape;
    const IAM_PASSWORD_POLICY: ArnShape = crate::collect::iam::PASSWORD_POLICY.shape;
    const S3_BUCKET: ArnShape = crate::collect::s3::BUCKET.shape;
    const S3_ACCOUNT_PUBLIC_ACCESS_BLOCK: ArnShape =
        crate::collect::s3::ACCOUNT_PUBLIC_ACCESS_BLOCK_KIND.shape;
    const KMS_KEY: ArnShape = crate::collect::kms::KEY.shape;
    const CLOUDTRAIL_TRAIL: ArnShape = crate::collect::cloudtrail::TRAIL.shape;
    const RDS_DB_INSTANCE: ArnShape = crate::collect::rds::DB_INSTANCE.shape;
    const RDS_DB_SNAPSHOT: ArnShape = crate::collect::rds::DB_SNAPSHOT.shape;

    #[test]
    fn arn_shapes_match_the_collectors() {
        // given each kind and a native id
        let table = [
            (&S3_BUCKET, "b", "arn:aws:s3:::b"),
            (
                &S3_ACCOUNT_PUBLIC_ACCESS_BLOCK,
                "111122223333",
                "arn:aws:s3::111122223333:account-public-access-block",
            ),
            (&IAM_USER, "alice", "arn:aws:iam::111122223333:user/alice"),
            (
                &IAM_PASSWORD_POLICY,
                "111122223333",
                "arn:aws:iam::111122223333:account-password-policy",
            ),
            (
                &EC2_INSTANCE,
                "i-1",
                "arn:aws:ec2:us-east-1:111122223333:instance/i-1",
            ),
            (
                &EC2_SECURITY_GROUP,
                "sg-1",
                "arn:aws:ec2:us-east-1:111122223333:security-group/sg-1",
            ),
            (
                &EC2_FLOW_LOG,
                "fl-1",
                "arn:aws:ec2:us-east-1:111122223333:vpc-flow-log/fl-1",
            ),
            (
                &EC2_EBS_ENCRYPTION_BY_DEFAULT,
                "111122223333",
                "arn:aws:ec2:us-east-1:111122223333:ebs-encryption-by-default",
            ),
            (
                &RDS_DB_INSTANCE,
                "db1",
                "arn:aws:rds:us-east-1:111122223333:db:db1",
            ),
            (
                &RDS_DB_SNAPSHOT,
                "s1",
                "arn:aws:rds:us-east-1:111122223333:snapshot:s1",
            ),
            (
                &CLOUDTRAIL_TRAIL,
                "t",
                "arn:aws:cloudtrail:us-east-1:111122223333:trail/t",
            ),
            (&KMS_KEY, "k", "arn:aws:kms:us-east-1:111122223333:key/k"),
        ];
        for (kind, id, expected) in table {
            // when
            let resolved = kind.resolve(id, "111122223333", "us-east-1");
            // then
            assert_eq!(resolved.map(|r| r.arn), Ok(expected.to_owned()), "{id}");
        }
    }

    #[test]
    fn an_arn_identifier_keeps_its_own_region_and_account() {
        // given a key ARN in another region and account than the event's
        let arn = "arn:aws:kms:us-west-2:444455556666:key/1234";
        // when
        let resolved = KMS_KEY.resolve(arn, "111122223333", "us-east-1");
        // then
        assert_eq!(
            resolved,
            Ok(ResolvedResource {
                id: "1234".into(),
                arn: arn.into(),
                account_id: "444455556666".into(),
                region: "us-west-2".into(),
            })
        );
    }

    #[test]
    fn a_user_arn_with_a_path_yields_the_bare_user_name() {
        // given a user ARN with a path
        let arn = "arn:aws:iam::111122223333:user/dev/team/alice";
        // when
        let resolved = IAM_USER.resolve(arn, "111122223333", "us-east-1");
        // then
        assert_eq!(
            resolved.map(|r| (r.id, r.region, r.arn)),
            Ok((
                "alice".into(),
                "us-east-1".into(),
                // and the ARN stored is the one the name alone gives
                "arn:aws:iam::111122223333:user/alice".into()
            ))
        );
    }

    #[test]
    fn a_china_region_uses_the_china_partition() {
        // given an event in cn-north-1
        // when
        let resolved = EC2_VOLUME.resolve("vol-1", "111122223333", "cn-north-1");
        // then
        assert_eq!(
            resolved.map(|r| r.arn),
            Ok("arn:aws-cn:ec2:cn-north-1:111122223333:volume/vol-1".to_owned())
        );
    }

    #[test]
    fn unusable_identifiers_are_typed_errors() {
        // given identifiers that cannot name a key
        let table = [
            ("arn:aws:kms:us-east-1", "MalformedArn"),
            (
                "arn:aws:kms:us-east-1:111122223333:alias/prod",
                "WrongKindOfArn",
            ),
            ("arn:aws:s3:::bucket", "WrongKindOfArn"),
            ("alias/prod", "Alias"),
            ("", "Empty"),
            ("key id\nERROR forged", "Unusable"),
            (&"k".repeat(MAX_IDENTIFIER_LEN + 1), "Unusable"),
        ];
        for (value, expected) in table {
            // when
            let error = KMS_KEY
                .resolve(value, "111122223333", "us-east-1")
                .expect_err(value);
            // then the error says what is wrong, without the value
            assert!(
                format!("{error:?}").starts_with(expected),
                "{value}: {error:?}"
            );
            if !value.is_empty() {
                assert!(!error.to_string().contains(value), "{error}");
                assert!(!format!("{error:?}").contains(value), "{error:?}");
            }
        }
    }
}
