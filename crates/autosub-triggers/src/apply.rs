//! Carrying out a plan, change by change, in the plan's order. Every call is idempotent: "already
//! exists" on create and "not found" on delete count as done. Each kind's calls are in its own
//! module; this one holds the loop: a change waiting for another that was not applied is
//! skipped, a bucket's changes are one write, and shutdown skips what is left.

use std::collections::BTreeSet;

use autosub_aws::apis::TargetApis;
use autosub_core::plan::{Change, Plan, PlanPolicy, SkipReason, Trigger};
use tokio_util::sync::CancellationToken;

use crate::outcome::{ChangeOutcome, Outcome, log_outcome};
use crate::{account_policy, invoke_permission, s3_notification, subscription_filter};

pub use crate::s3_notification::BUCKET_WRITE_ROUNDS;

/// Applies `plan`, returning one outcome per change in plan order. Once `cancel` fires, the
/// change in flight (a bucket's whole read-modify-write) finishes and the rest are skipped.
pub async fn apply(
    apis: &TargetApis,
    plan: &Plan,
    policy: &PlanPolicy,
    cancel: &CancellationToken,
) -> Vec<ChangeOutcome> {
    let mut outcomes: Vec<ChangeOutcome> = Vec::with_capacity(plan.changes.len());
    let mut awaited = Awaited::new(plan);
    let mut i = 0;
    while i < plan.changes.len() {
        let change = &plan.changes[i];
        awaited.note(&outcomes);
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
        if let Some(outcome) = awaited.in_vain(change) {
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
                let results =
                    s3_notification::apply_bucket(apis, bucket, region, &group, policy).await;
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
                subscription_filter::apply_filter(
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
            } => {
                invoke_permission::apply_permission(apis, change.action, forwarder, permission)
                    .await
            }
            Trigger::AccountPolicy { policy } => {
                account_policy::apply_account_policy(apis, change.action, policy).await
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

/// The resources other changes wait for (`Change::after`), and those applied so far.
struct Awaited<'p> {
    awaited: BTreeSet<&'p str>,
    applied: BTreeSet<String>,
    /// How many outcomes were looked at: each is looked at once.
    recorded: usize,
}

impl<'p> Awaited<'p> {
    fn new(plan: &'p Plan) -> Self {
        Self {
            awaited: plan
                .changes
                .iter()
                .filter_map(|c| c.after.as_deref())
                .collect(),
            applied: BTreeSet::new(),
            recorded: 0,
        }
    }

    /// Takes in the outcomes added since the last call.
    fn note(&mut self, outcomes: &[ChangeOutcome]) {
        if self.awaited.is_empty() {
            return;
        }
        self.applied.extend(
            outcomes[self.recorded..]
                .iter()
                .filter(|o| o.outcome == Outcome::Applied)
                .map(|o| o.change.trigger.resource())
                .filter(|r| self.awaited.contains(r.as_str())),
        );
        self.recorded = outcomes.len();
    }

    /// The skip of `change` when the change it waits for was not applied.
    fn in_vain(&self, change: &Change) -> Option<Outcome> {
        let after = change
            .after
            .as_ref()
            .filter(|after| !self.applied.contains(*after))?;
        Some(Outcome::Skipped {
            reason: SkipReason::DependencyFailed,
            detail: format!(
                "it waits for the change to {after}, which was not applied; the next pass retries both"
            ),
        })
    }
}
