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

/// Where the reads of [`log_group_reads`] take each group's class from.
#[derive(Clone, Copy)]
pub enum GroupClasses<'a> {
    /// The region's listing ([`list_log_groups`]): each group read is in it.
    Listed(&'a BTreeMap<LogGroupName, LogGroupClass>),
    /// One lookup per group (DescribeLogGroups by name prefix) just before its filters are
    /// read, for a targeted pass, which lists nothing: a group the lookup does not find is
    /// missing, with no filter read. Lookups and reads overlap, so a burst's groups cost the
    /// time of the slower API (DescribeSubscriptionFilters), not of both in turn.
    LookedUp,
}

/// The filters of each of `names` (one DescribeSubscriptionFilters each).
pub async fn read_log_groups(
    apis: &TargetApis,
    names: &BTreeSet<LogGroupName>,
    classes: GroupClasses<'_>,
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
    classes: GroupClasses<'a>,
    concurrency: usize,
) -> impl Stream<Item = (LogGroupName, LogGroupState)> + 'a {
    stream::iter(names)
        .map(move |group| async move {
            let class = match classes {
                GroupClasses::Listed(listed) => listed
                    .get(group)
                    .cloned()
                    .unwrap_or(LogGroupClass::Standard),
                GroupClasses::LookedUp => match apis.logs.log_group(group).await {
                    Ok(Some(class)) => class,
                    Ok(None) => return (group.clone(), LogGroupState::Missing),
                    Err(e) => {
                        let detail = format!("looking up log group {group}: {e}");
                        return (group.clone(), LogGroupState::Unreadable { detail });
                    }
                },
            };
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
