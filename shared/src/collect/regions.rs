//! Regional collection: which regions of an account a regional collector lists, and running one
//! listing per region concurrently, with a named bound, into a [`Completeness`].
//!
//! The regions come from the account's item in the accounts table (`Regions`). A missing list,
//! an empty one, or `["all"]` means every region enabled in the account ([`enabled_regions`]).
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

/// Every region enabled in the account (opt-in regions only when opted in).
///
/// Not built yet: discovering them needs `ec2:DescribeRegions`, which arrives with the EC2
/// collector. Until then an account whose `Regions` says `all` (or nothing) gets a collection
/// error for its regional services, never a guess.
pub async fn enabled_regions(
    session: &AccountSession,
    service: Service,
) -> Result<Vec<String>, CollectionError> {
    Err(CollectionError {
        account_id: session.account.account_id.clone(),
        service,
        region: None,
        resource: None,
        operation: "DescribeRegions".into(),
        code: "NotImplemented".into(),
        message: "the account's Regions is empty or `all`, and discovering its enabled regions \
                  is not built yet: list the regions in the accounts table"
            .into(),
    })
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
        // given an account whose regions say `all` while discovery is not possible
        let session = session(&["all"]);
        // when
        let completeness = collect_regions(&session, Service::Kms, |_| async { Ok(()) }).await;
        // then nothing is complete, and the error says why
        assert!(!completeness.is_complete("us-east-1"));
        assert_eq!(completeness.failures()[0].region, None);
        assert_eq!(
            completeness.failures()[0].error.operation,
            "DescribeRegions"
        );
    }
}
