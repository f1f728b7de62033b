//! Carrying out a plan, change by change, in the plan's order. Every call is idempotent: "already
//! exists" on create and "not found" on delete count as done.

use std::collections::BTreeSet;
use std::time::Duration;

use autosub_aws::apis::TargetApis;
use autosub_aws::error::{AwsError, ErrorClass};
use autosub_core::account_policy::AccountPolicy;
use autosub_core::notification::is_ours;
use autosub_core::plan::{
    Action, Change, Plan, PlanPolicy, SkipReason, Trigger, rewrite_notifications,
};
use autosub_core::{
    BucketName, InvokePermission, LogGroupName, NotificationConfig, Region, SubscriptionFilter,
};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

/// What happened to one change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// Done (or found already done).
    Applied,
    /// Not done, for a reason that is not a failure (no free slot, a rule appeared that overlaps).
    Skipped {
        /// Why, as a label.
        reason: SkipReason,
        /// Why, in words.
        detail: String,
    },
    /// The AWS call failed.
    Failed {
        /// The error class label.
        class: String,
        /// The error.
        error: String,
    },
}

/// A change and what happened to it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChangeOutcome {
    /// The planned change.
    pub change: Change,
    /// What happened.
    #[serde(flatten)]
    pub outcome: Outcome,
}

fn failed(e: &AwsError) -> Outcome {
    Outcome::Failed {
        class: e.class.as_str().to_owned(),
        error: e.to_string(),
    }
}

/// Applies `plan`, returning one outcome per change in plan order. Once `cancel` fires, the
/// change in flight (a bucket's whole read-modify-write) finishes and the rest are skipped.
pub async fn apply(
    apis: &TargetApis,
    plan: &Plan,
    policy: &PlanPolicy,
    cancel: &CancellationToken,
) -> Vec<ChangeOutcome> {
    let mut outcomes: Vec<ChangeOutcome> = Vec::with_capacity(plan.changes.len());
    // The resources other changes wait for (`Change::after`), and those applied so far.
    let awaited: BTreeSet<&str> = plan
        .changes
        .iter()
        .filter_map(|c| c.after.as_deref())
        .collect();
    let mut applied: BTreeSet<String> = BTreeSet::new();
    let mut recorded = 0;
    let mut i = 0;
    while i < plan.changes.len() {
        let change = &plan.changes[i];
        if !awaited.is_empty() {
            // Only the outcomes added since the last change: each is looked at once.
            applied.extend(
                outcomes[recorded..]
                    .iter()
                    .filter(|o| o.outcome == Outcome::Applied)
                    .map(|o| o.change.trigger.resource())
                    .filter(|r| awaited.contains(r.as_str())),
            );
            recorded = outcomes.len();
        }
        if cancel.is_cancelled() {
            outcomes.extend(plan.changes[i..].iter().map(|change| ChangeOutcome {
                change: change.clone(),
                outcome: Outcome::Skipped {
                    reason: SkipReason::Shutdown,
                    detail: "autosub was shutting down; the next pass makes this change".into(),
                },
            }));
            break;
        }
        let waits_in_vain = change
            .after
            .as_ref()
            .filter(|after| !applied.contains(*after));
        if let Some(after) = waits_in_vain {
            let outcome = Outcome::Skipped {
                reason: SkipReason::DependencyFailed,
                detail: format!(
                    "it waits for the change to {after}, which was not applied; the next pass retries both"
                ),
            };
            log_outcome(change, &outcome);
            outcomes.push(ChangeOutcome {
                change: change.clone(),
                outcome,
            });
            i += 1;
            continue;
        }
        let outcome = match &change.trigger {
            Trigger::S3Notification { bucket, region, .. } => {
                // One read-modify-write per bucket for all of its changes.
                let end = plan.changes[i..]
                    .iter()
                    .position(|c| !matches!(&c.trigger, Trigger::S3Notification { bucket: b, .. } if b == bucket))
                    .map_or(plan.changes.len(), |n| i + n);
                let group: Vec<&Change> = plan.changes[i..end].iter().collect();
                let results = apply_bucket(apis, bucket, region, &group, policy).await;
                outcomes.extend(group.into_iter().zip(results).map(|(change, outcome)| {
                    ChangeOutcome {
                        change: change.clone(),
                        outcome,
                    }
                }));
                i = end;
                continue;
            }
            Trigger::SubscriptionFilter {
                log_group,
                filter_name,
                pattern,
                destination,
            } => {
                apply_filter(
                    apis,
                    change.action,
                    log_group,
                    filter_name,
                    pattern,
                    destination,
                )
                .await
            }
            Trigger::InvokePermission {
                forwarder,
                permission,
            } => apply_permission(apis, change.action, forwarder, permission).await,
            Trigger::AccountPolicy { policy } => {
                apply_account_policy(apis, change.action, policy).await
            }
        };
        log_outcome(change, &outcome);
        outcomes.push(ChangeOutcome {
            change: change.clone(),
            outcome,
        });
        i += 1;
    }
    outcomes
}

fn log_outcome(change: &Change, outcome: &Outcome) {
    match outcome {
        Outcome::Applied => {
            tracing::info!(action = %change.action, kind = change.trigger.kind(), resource = %change.trigger.resource(), "applied")
        }
        Outcome::Skipped { reason, detail } => {
            tracing::warn!(action = %change.action, resource = %change.trigger.resource(), %reason, detail, "skipped")
        }
        Outcome::Failed { error, .. } => {
            tracing::error!(action = %change.action, resource = %change.trigger.resource(), error, "failed")
        }
    }
}

/// Writes of one bucket's configuration while another writer keeps changing it: each merges
/// our changes anew into what the last one read back.
pub const BUCKET_WRITE_ROUNDS: usize = 3;

/// Waits before re-reading a write that is not visible yet: S3's bucket configuration is
/// eventually consistent, so a read right after a write may still answer the old one.
const READ_BACK_WAITS: [Duration; 3] = [
    Duration::from_millis(250),
    Duration::from_secs(1),
    Duration::from_secs(4),
];

/// One read-modify-write of a bucket's configuration for all of its `changes`, verified by a
/// read-back. S3 has no conditional write for it, so a concurrent writer is detected after the
/// fact: the read-back then holds neither the configuration read nor the one written, and our
/// changes are merged into it again, up to [`BUCKET_WRITE_ROUNDS`] writes.
async fn apply_bucket(
    apis: &TargetApis,
    bucket: &BucketName,
    region: &Region,
    changes: &[&Change],
    policy: &PlanPolicy,
) -> Vec<Outcome> {
    let all = |outcome: Outcome| changes.iter().map(|_| outcome.clone()).collect::<Vec<_>>();
    // Re-read right before writing: what the plan read may be minutes old.
    let mut current = match apis.s3.notification_config(bucket, region).await {
        Ok(current) => current,
        Err(e) if e.class == ErrorClass::NotFound => return all(bucket_gone()),
        Err(e) => return all(failed(&e)),
    };
    for _ in 0..BUCKET_WRITE_ROUNDS {
        let (next, conflicts) = rewrite_notifications(&current, changes, policy);
        let outcomes: Vec<Outcome> = conflicts
            .into_iter()
            .map(|conflict| match conflict {
                Some(entry) => Outcome::Skipped {
                    reason: SkipReason::S3Overlap,
                    detail: format!(
                        "our rule would overlap the {entry}, which appeared during the pass"
                    ),
                },
                None => Outcome::Applied,
            })
            .collect();
        if next == current {
            return logged(changes, outcomes);
        }
        if let Err(e) = apis.s3.put_notification_config(bucket, region, &next).await {
            return all(refused_write(&e, &current, policy));
        }
        match read_back(apis, bucket, region, &current, &next).await {
            Some(overtaken) => {
                tracing::warn!(%bucket, "another writer changed the notification configuration during our write; merging again");
                current = overtaken;
            }
            None => return logged(changes, outcomes),
        }
    }
    all(Outcome::Failed {
        class: ErrorClass::Conflict.as_str().to_owned(),
        error: format!(
            "another writer kept changing the notification configuration of {bucket}: each of {BUCKET_WRITE_ROUNDS} writes, merged anew from what was read back, was overtaken; the next pass merges again"
        ),
    })
}

/// Reads the configuration back after writing `written` over `before`. `None` when the write
/// holds (or is not visible yet: S3 accepted it, and the next pass verifies); otherwise what
/// another writer left, to merge into again.
async fn read_back(
    apis: &TargetApis,
    bucket: &BucketName,
    region: &Region,
    before: &NotificationConfig,
    written: &NotificationConfig,
) -> Option<NotificationConfig> {
    for wait in READ_BACK_WAITS {
        match apis.s3.notification_config(bucket, region).await {
            Ok(seen) if seen.equivalent(written) => return None,
            Ok(seen) if !seen.equivalent(before) => return Some(seen),
            Ok(_) => tokio::time::sleep(wait).await,
            Err(e) => {
                tracing::warn!(%bucket, error = %e, "the notification configuration written could not be read back; the next pass verifies it");
                return None;
            }
        }
    }
    tracing::warn!(%bucket, "the notification configuration written is not visible yet; the next pass verifies it");
    None
}

fn bucket_gone() -> Outcome {
    Outcome::Skipped {
        reason: SkipReason::BucketMissing,
        detail: "the bucket was deleted during the pass".into(),
    }
}

/// The outcome of a write S3 refused.
fn refused_write(e: &AwsError, current: &NotificationConfig, policy: &PlanPolicy) -> Outcome {
    match e.class {
        ErrorClass::NotFound => bucket_gone(),
        // S3 checks every destination on each write: one it can no longer reach (a queue or
        // function deleted, a policy changed) blocks any write until it is fixed.
        _ if e
            .message
            .contains("Unable to validate the following destination") =>
        {
            let others: Vec<&str> = current
                .entries
                .iter()
                .filter(|en| !is_ours(en, &policy.notification_id_prefix))
                .map(|en| en.arn.as_str())
                .collect();
            Outcome::Skipped {
                reason: SkipReason::DestinationInvalid,
                detail: format!(
                    "S3 refuses every write of this bucket's notifications while it cannot validate a destination ({}); the bucket's other destinations: {}. Fix or remove the broken one",
                    e.message,
                    if others.is_empty() {
                        "none".to_owned()
                    } else {
                        others.join(", ")
                    }
                ),
            }
        }
        _ => failed(e),
    }
}

fn logged(changes: &[&Change], outcomes: Vec<Outcome>) -> Vec<Outcome> {
    for (change, outcome) in changes.iter().zip(&outcomes) {
        log_outcome(change, outcome);
    }
    outcomes
}

async fn apply_filter(
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

async fn apply_permission(
    apis: &TargetApis,
    action: Action,
    forwarder: &autosub_core::FunctionArn,
    permission: &InvokePermission,
) -> Outcome {
    let remove = |statement_id: &str| {
        let statement_id = statement_id.to_owned();
        async move {
            match apis
                .lambda
                .remove_permission(forwarder, &statement_id)
                .await
            {
                Err(e) if e.class != ErrorClass::NotFound => Err(e),
                _ => Ok(()),
            }
        }
    };
    let add = || async {
        match apis.lambda.add_permission(forwarder, permission).await {
            // Taken by a concurrent run adding the same statement, or by this update's own
            // earlier attempt (retried after Lambda refused the remove mid-deployment).
            Err(e)
                if e.class == ErrorClass::Conflict
                    && !update_in_progress(&e)
                    && (action == Action::Create || permission.replaces.is_some()) =>
            {
                Ok(())
            }
            other => other,
        }
    };
    let own = permission.statement_id.as_str();
    let once = || async {
        match (action, permission.replaces.as_deref()) {
            (Action::Create, _) => add().await,
            // The replacement goes in under our other id first: the grant never lapses.
            (Action::Update, Some(old)) => match add().await {
                Ok(()) => remove(old).await,
                Err(e) => Err(e),
            },
            (Action::Update, None) => match remove(own).await {
                Ok(()) => add().await,
                Err(e) => Err(e),
            },
            (Action::Delete, _) => remove(own).await,
        }
    };
    // Lambda refuses policy changes while the function is being updated (a deployment):
    // wait and try again, a bounded number of times, and never count it as done.
    let mut wait = PERMISSION_RETRY_START;
    let mut result = once().await;
    for _ in 0..PERMISSION_RETRIES {
        match &result {
            Err(e) if update_in_progress(e) => {
                tokio::time::sleep(wait).await;
                wait *= 2;
                result = once().await;
            }
            _ => break,
        }
    }
    match result {
        Ok(()) => Outcome::Applied,
        Err(e) => failed(&e),
    }
}

/// Retries of a policy change refused because the function is being updated, and the first
/// wait (doubled each time: 1 + 2 + 4 + 8 + 16 s at most).
const PERMISSION_RETRIES: u32 = 5;
const PERMISSION_RETRY_START: std::time::Duration = std::time::Duration::from_secs(1);

/// True for Lambda's ResourceConflictException meaning "the function is being updated", as
/// opposed to "that statement id exists".
fn update_in_progress(e: &AwsError) -> bool {
    e.class == ErrorClass::Conflict && e.message.contains("in progress")
}

async fn apply_account_policy(
    apis: &TargetApis,
    action: Action,
    policy: &AccountPolicy,
) -> Outcome {
    let result = match action {
        Action::Create | Action::Update => apis.logs.put_account_policy(policy).await,
        Action::Delete => match apis.logs.delete_account_policy(&policy.name).await {
            Err(e) if e.class == ErrorClass::NotFound => Ok(()),
            other => other,
        },
    };
    match result {
        Ok(()) => Outcome::Applied,
        Err(e) if e.class == ErrorClass::LimitExceeded => Outcome::Skipped {
            reason: SkipReason::AccountPolicyTaken,
            detail: format!(
                "CloudWatch Logs allows no further subscription filter policy in this region: {}",
                e.message
            ),
        },
        Err(e) => failed(&e),
    }
}
