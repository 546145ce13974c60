//! Regional collection: which regions of an account a regional collector lists, and running one
//! listing per region concurrently, with a named bound, into a [`Completeness`].
//!
//! The regions come from the account's item in the accounts table (`Regions`). A missing list,
//! an empty one, or `["all"]` means every region enabled in the account ([`enabled_regions`],
//! discovered with `ec2:DescribeRegions`: opt-in regions only when the account opted in).
//! A region name that is not an AWS region is skipped (the inventory reports it as invalid).
//!
//! Each region's listing stands alone: one that fails (the region is not enabled, AccessDenied,
//! an SCP) is recorded as failed for that region only ([`Completeness::failed`]), so what is
//! stored for it is kept, and the other regions are listed and swept as usual.

use std::future::Future;

use futures::StreamExt;

use super::{AccountSession, CollectionError, Completeness};
use crate::model::{is_region_name, Service};

/// Regions of one account listed at once by one regional collector.
pub const REGION_CONCURRENCY: usize = 4;

/// The word in an account's `Regions` that means every enabled region.
pub const ALL_REGIONS: &str = "all";

/// The regions to collect in the session's account: the account's list, or every enabled region
/// when the list is empty or says `all`. Each region once, in the account's order.
pub async fn regions_to_collect(
    session: &AccountSession,
    service: Service,
) -> Result<Vec<String>, CollectionError> {
    let listed = &session.account.regions;
    if listed.is_empty() || listed.iter().any(|r| r.eq_ignore_ascii_case(ALL_REGIONS)) {
        return enabled_regions(session, service).await;
    }
    let mut regions: Vec<String> = Vec::new();
    for region in listed.iter().filter(|r| is_region_name(r)) {
        if !regions.contains(region) {
            regions.push(region.clone());
        }
    }
    Ok(regions)
}

/// Every region enabled in the account: `ec2:DescribeRegions` in the session's home region,
/// which answers (without `AllRegions`) the regions enabled for the account, opt-in regions only
/// once opted in. An entry that still says `not-opted-in` is dropped. A failed call is a
/// collection error for the whole service (nothing is guessed, nothing removed).
pub async fn enabled_regions(
    session: &AccountSession,
    service: Service,
) -> Result<Vec<String>, CollectionError> {
    let home = session.home_region().to_owned();
    let answer = aws_sdk_ec2::Client::new(&session.config_in(&home))
        .describe_regions()
        .send()
        .await;
    match answer {
        Ok(out) => Ok(enabled(out.regions().iter().map(|r| {
            (
                r.region_name().unwrap_or_default(),
                r.opt_in_status().unwrap_or_default(),
            )
        }))),
        Err(e) => {
            let (code, message) = super::call_failure(&e);
            Err(CollectionError {
                account_id: session.account.account_id.clone(),
                service,
                region: Some(home),
                resource: None,
                operation: "DescribeRegions".into(),
                code,
                message,
            })
        }
    }
}

/// The enabled regions among `(name, opt-in status)` pairs, each once, sorted.
fn enabled<'a>(regions: impl Iterator<Item = (&'a str, &'a str)>) -> Vec<String> {
    let mut out: Vec<String> = regions
        .filter(|(name, status)| is_region_name(name) && *status != "not-opted-in")
        .map(|(name, _)| name.to_owned())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Runs `list_region` for every region to collect, [`REGION_CONCURRENCY`] at a time, and says
/// which regions were listed completely. A failure to decide the regions fails the service's
/// listing everywhere (nothing is removed).
pub async fn collect_regions<F, Fut>(
    session: &AccountSession,
    service: Service,
    list_region: F,
) -> Completeness
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = Result<(), CollectionError>>,
{
    let regions = match regions_to_collect(session, service).await {
        Ok(regions) => regions,
        Err(error) => return Completeness::of_global(Err(error)),
    };
    let outcomes: Vec<(String, Result<(), CollectionError>)> = futures::stream::iter(regions)
        .map(|region| {
            let listing = list_region(region.clone());
            async move { (region, listing.await) }
        })
        .buffer_unordered(REGION_CONCURRENCY)
        .collect()
        .await;
    let mut completeness = Completeness::default();
    for (region, outcome) in outcomes {
        match outcome {
            Ok(()) => completeness.listed(region),
            Err(error) => completeness.failed(Some(region), error),
        }
    }
    completeness
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::model::Account;

    fn session(regions: &[&str]) -> AccountSession {
        AccountSession {
            account: Account {
                account_id: "111122223333".into(),
                role_arn: String::new(),
                external_id: None,
                regions: regions.iter().map(|r| (*r).to_owned()).collect(),
                enabled: true,
                name: None,
            },
            sdk: aws_config::SdkConfig::builder().build(),
            settings: crate::config::AwsSettings::default(),
        }
    }

    fn denied(region: &str) -> CollectionError {
        CollectionError {
            account_id: "111122223333".into(),
            service: Service::Kms,
            region: Some(region.into()),
            resource: None,
            operation: "ListKeys".into(),
            code: "AccessDenied".into(),
            message: "denied".into(),
        }
    }

    #[tokio::test]
    async fn each_listed_region_is_listed_once_and_a_failing_one_stands_alone() {
        // given an account listing two regions, one twice, and a name that is no region
        let session = session(&["us-east-1", "eu-west-1", "not a region", "us-east-1"]);
        let asked = Mutex::new(Vec::new());
        // when eu-west-1's listing is refused
        let completeness = collect_regions(&session, Service::Kms, |region| {
            asked.lock().unwrap().push(region.clone());
            async move {
                if region == "eu-west-1" {
                    Err(denied(&region))
                } else {
                    Ok(())
                }
            }
        })
        .await;
        // then each real region was listed once
        let mut asked = asked.into_inner().unwrap();
        asked.sort();
        assert_eq!(asked, ["eu-west-1", "us-east-1"]);
        // and only the refused region is incomplete, with its error
        assert!(completeness.is_complete("us-east-1"));
        assert!(!completeness.is_complete("eu-west-1"));
        assert_eq!(completeness.failures().len(), 1);
        assert_eq!(
            completeness.failures()[0].region.as_deref(),
            Some("eu-west-1")
        );
    }

    #[tokio::test]
    async fn regions_that_cannot_be_decided_fail_the_listing_everywhere() {
        // given an account whose regions say `all`, and no AWS to discover them from
        let mut session = session(&["all"]);
        session.sdk = aws_config::SdkConfig::builder()
            .endpoint_url("http://127.0.0.1:9")
            .region(aws_config::Region::new("us-east-1"))
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build();
        // when
        let completeness = collect_regions(&session, Service::Kms, |_| async { Ok(()) }).await;
        // then nothing is complete, and the error names the discovery call
        assert!(!completeness.is_complete("us-east-1"));
        assert_eq!(completeness.failures()[0].region, None);
        assert_eq!(
            completeness.failures()[0].error.operation,
            "DescribeRegions"
        );
    }

    #[test]
    fn opt_in_regions_count_only_once_opted_in() {
        // given DescribeRegions' answer with each opt-in status, a duplicate and a bad name
        let answer = [
            ("us-east-1", "opt-in-not-required"),
            ("af-south-1", "opted-in"),
            ("me-south-1", "not-opted-in"),
            ("us-east-1", "opt-in-not-required"),
            ("", ""),
        ];
        // when
        let regions = enabled(answer.into_iter());
        // then
        assert_eq!(regions, ["af-south-1", "us-east-1"]);
    }
}
