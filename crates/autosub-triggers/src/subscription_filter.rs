//! CloudWatch Logs subscription filters: listing the region's log groups, reading the filters of
//! the groups a pass needs, and putting or deleting our filter (no free slot is a skip, never
//! retried).

use std::collections::{BTreeMap, BTreeSet};

use autosub_aws::apis::TargetApis;
use autosub_aws::error::ErrorClass;
use autosub_core::plan::{Action, SkipReason};
use autosub_core::{LogGroupClass, LogGroupName, LogGroupState, SubscriptionFilter};
use futures::{Stream, StreamExt, stream};

use crate::outcome::{Outcome, failed};

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

/// Puts or deletes our filter on `log_group`.
pub(crate) async fn apply_filter(
    apis: &TargetApis,
    action: Action,
    log_group: &LogGroupName,
    filter_name: &str,
    pattern: &str,
    destination: &str,
) -> Outcome {
    let result = match action {
        Action::Create | Action::Update => {
            let filter = SubscriptionFilter {
                name: filter_name.to_owned(),
                destination_arn: destination.to_owned(),
                pattern: pattern.to_owned(),
            };
            apis.logs.put_subscription_filter(log_group, &filter).await
        }
        Action::Delete => {
            apis.logs
                .delete_subscription_filter(log_group, filter_name)
                .await
        }
    };
    match result {
        Ok(()) => Outcome::Applied,
        Err(e) if e.class == ErrorClass::NotFound && action == Action::Delete => Outcome::Applied,
        Err(e) if e.class == ErrorClass::NotFound => Outcome::Skipped {
            reason: SkipReason::LogGroupMissing,
            detail: "the log group was deleted during the pass".into(),
        },
        Err(e) if e.class == ErrorClass::LimitExceeded => Outcome::Skipped {
            reason: SkipReason::NoFreeSlot,
            detail: format!(
                "CloudWatch Logs has no free subscription filter slot: {}",
                e.message
            ),
        },
        Err(e) => failed(&e),
    }
}
