//! Observing current triggers. Each read error is kept on the resource it concerns (`Unreadable`)
//! so the planner skips that resource and nothing else.

use std::collections::{BTreeMap, BTreeSet};

use autosub_aws::apis::TargetApis;
use autosub_aws::error::ErrorClass;
use autosub_core::account_policy::AccountPolicies;
use autosub_core::observed::parse_policy;
use autosub_core::{
    BucketName, BucketState, FunctionArn, LogGroupClass, LogGroupName, LogGroupState, PolicyState,
    Region,
};
use futures::{Stream, StreamExt, stream};

/// The forwarders' resource policies, and the forwarders that turned out not to exist.
pub async fn forwarder_policies(
    apis: &TargetApis,
    forwarders: &BTreeMap<Region, FunctionArn>,
) -> (BTreeMap<FunctionArn, PolicyState>, BTreeMap<Region, String>) {
    let mut policies = BTreeMap::new();
    let mut unavailable = BTreeMap::new();
    for (region, forwarder) in forwarders {
        match policy_state(apis, forwarder).await {
            Some(state) => {
                policies.insert(forwarder.clone(), state);
            }
            None => {
                unavailable.insert(
                    region.clone(),
                    format!(
                        "function {forwarder} does not exist; deploy it or fix forwarders.{region}"
                    ),
                );
            }
        }
    }
    (policies, unavailable)
}

/// The resource policy of `function`; `None` when the function does not exist.
pub async fn policy_state(apis: &TargetApis, function: &FunctionArn) -> Option<PolicyState> {
    Some(match apis.lambda.policy(function).await {
        Ok(None) => PolicyState::Found {
            statements: Vec::new(),
        },
        Ok(Some(json)) => match parse_policy(&json) {
            Ok(statements) => PolicyState::Found { statements },
            Err(e) => PolicyState::Unreadable {
                detail: format!("the resource policy of {function} is not valid JSON: {e}"),
            },
        },
        Err(e) if e.class == ErrorClass::NotFound => return None,
        Err(e) => PolicyState::Unreadable {
            detail: e.to_string(),
        },
    })
}

/// The account's subscription filter policies in the target region.
pub async fn account_policies(apis: &TargetApis) -> AccountPolicies {
    match apis.logs.account_policies().await {
        Ok(policies) => AccountPolicies::Found { policies },
        Err(e) => AccountPolicies::Unreadable {
            detail: e.to_string(),
        },
    }
}

/// The region of each bucket, and why the others could not be resolved.
pub async fn bucket_regions(
    apis: &TargetApis,
    buckets: &BTreeSet<BucketName>,
    concurrency: usize,
) -> (BTreeMap<BucketName, Region>, BTreeMap<BucketName, String>) {
    let results: Vec<_> = stream::iter(buckets)
        .map(|bucket| async move { (bucket.clone(), apis.s3.bucket_region(bucket).await) })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let mut regions = BTreeMap::new();
    let mut unresolved = BTreeMap::new();
    for (bucket, result) in results {
        match result {
            Ok(region) => {
                regions.insert(bucket, region);
            }
            Err(e) if e.class == ErrorClass::NotFound => {
                unresolved.insert(bucket, "the bucket does not exist".to_owned());
            }
            Err(e) => {
                unresolved.insert(bucket, e.to_string());
            }
        }
    }
    (regions, unresolved)
}

/// Every log group of the region with its class (DescribeLogGroups, 50 a page): which groups
/// exist, with no per-group call.
pub async fn list_log_groups(
    apis: &TargetApis,
) -> Result<BTreeMap<LogGroupName, LogGroupClass>, String> {
    apis.logs
        .log_groups()
        .await
        .map(|listed| listed.into_iter().collect())
        .map_err(|e| format!("listing log groups: {e}"))
}

/// The filters of each of `names` (one DescribeSubscriptionFilters each), whose classes the
/// listing gave.
pub async fn read_log_groups(
    apis: &TargetApis,
    names: &BTreeSet<LogGroupName>,
    classes: &BTreeMap<LogGroupName, LogGroupClass>,
    concurrency: usize,
) -> BTreeMap<LogGroupName, LogGroupState> {
    log_group_reads(apis, names, classes, concurrency)
        .collect()
        .await
}

/// [`read_log_groups`] as a stream, each group as soon as it is read (in no promised order), so
/// a caller can act on one while the others are still being read.
pub fn log_group_reads<'a>(
    apis: &'a TargetApis,
    names: &'a BTreeSet<LogGroupName>,
    classes: &'a BTreeMap<LogGroupName, LogGroupClass>,
    concurrency: usize,
) -> impl Stream<Item = (LogGroupName, LogGroupState)> + 'a {
    stream::iter(names)
        .map(move |group| async move {
            let class = classes
                .get(group)
                .cloned()
                .unwrap_or(LogGroupClass::Standard);
            let state = match apis.logs.subscription_filters(group).await {
                Ok(filters) => LogGroupState::Found { class, filters },
                // Deleted since the listing: gone, not a failure.
                Err(e) if e.class == ErrorClass::NotFound => LogGroupState::Missing,
                Err(e) => LogGroupState::Unreadable {
                    detail: e.to_string(),
                },
            };
            (group.clone(), state)
        })
        .buffer_unordered(concurrency)
}

/// Every bucket the credentials' account owns (ListBuckets, all pages).
pub async fn list_buckets(apis: &TargetApis) -> Result<BTreeSet<BucketName>, String> {
    apis.s3
        .list_buckets()
        .await
        .map(|all| all.into_iter().map(|b| b.name).collect())
        .map_err(|e| format!("listing buckets: {e}"))
}

/// The notification configuration of every `wanted` bucket (wherever it is) and of each
/// `swept` bucket that turns out to be in `region`; also the first bucket whose region could
/// not be told, when one could not.
pub async fn buckets(
    apis: &TargetApis,
    region: &Region,
    wanted: &BTreeMap<BucketName, Region>,
    swept: &BTreeSet<BucketName>,
    concurrency: usize,
) -> (BTreeMap<BucketName, BucketState>, Option<String>) {
    let mut to_read: BTreeMap<BucketName, Region> = wanted.clone();
    let mut unswept = Vec::new();
    let regions: Vec<_> = stream::iter(swept.iter().filter(|b| !wanted.contains_key(*b)))
        .map(|bucket| async move { (bucket, apis.s3.bucket_region(bucket).await) })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    for (bucket, bucket_region) in regions {
        match bucket_region {
            Ok(bucket_region) if &bucket_region == region => {
                to_read.insert(bucket.clone(), bucket_region);
            }
            Ok(_) => {}
            // Deleted since the listing: nothing of ours can be there.
            Err(e) if e.class == ErrorClass::NotFound => {}
            Err(e) => unswept.push(format!("bucket {bucket}: {e}")),
        }
    }
    let states = stream::iter(to_read)
        .map(|(bucket, region)| async move {
            let state = match apis.s3.notification_config(&bucket, &region).await {
                Ok(config) => BucketState::Found { region, config },
                Err(e) if e.class == ErrorClass::NotFound => BucketState::Missing,
                Err(e) => BucketState::Unreadable {
                    detail: e.to_string(),
                },
            };
            (bucket, state)
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    unswept.sort();
    (states, unswept.into_iter().next())
}
