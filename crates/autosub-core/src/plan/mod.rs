//! The planner: `plan(desired, observed, policy) -> Plan`, a pure function.
//!
//! Guarantees: only `Ours` triggers are ever updated or deleted; nothing is deleted when
//! discovery had gaps; the same inputs give the same plan; planning again after the plan was
//! applied gives no changes.
//!
//! This module holds what every trigger kind shares: the plan's types, the planner's state, the
//! delete gates (gaps, protect list, stale passes, the cap) and the apply order. Each kind's
//! ownership rules and planning live in a module of its own (`s3_notification`,
//! `subscription_filter`, `invoke_permission`, `account_policy`), as an `impl Planner` block.

mod account_policy;
mod invoke_permission;
mod s3_notification;
mod subscription_filter;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::account_policy::AccountPolicies;
use crate::desired::Desired;
use crate::ids::{AccountId, BucketName, FunctionArn, LogGroupName};
use crate::ledger::{TargetLedger, Verified};
use crate::observed::{BucketState, LogGroupState, Observed, PolicyState};
use crate::pattern::wildcard_match;
use crate::permission::Invoker;

pub use crate::change::{
    Action, Change, ChangeReason, PermissionGap, Place, PolicyDifference, Skip, SkipReason, Trigger,
};
pub use s3_notification::{classify_entry, our_entry, rewrite_notifications};
pub use subscription_filter::classify_filter;

/// The knobs of a plan: our ownership marks and the safety rails.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanPolicy {
    /// The account the triggers live in (scopes the invoke permissions).
    pub account: AccountId,
    /// Id prefix of the S3 notification entries we own.
    pub notification_id_prefix: String,
    /// Name of the subscription filters we own.
    pub filter_name: String,
    /// Filter pattern of our subscription filters ("" = every event).
    pub filter_pattern: String,
    /// Statement id prefix of the invoke permissions we own.
    pub statement_id_prefix: String,
    /// Subscription filters a log group may hold (AWS documents 2; some accounts have more).
    pub max_filters_per_log_group: usize,
    /// At most this many deletes per pass; the rest wait for the next pass.
    pub max_deletes_per_pass: usize,
    /// Consecutive passes a trigger of ours must be stale before it is deleted (1 = at once).
    #[serde(default = "one")]
    pub stale_passes_before_delete: u32,
    /// Bucket and log group name patterns whose triggers are never deleted.
    pub protect: Vec<String>,
}

fn one() -> u32 {
    1
}

/// The changes that close the gap between desired and observed, in the order to apply them
/// (permissions first on create, last on delete), and what was skipped.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// Changes, in apply order.
    pub changes: Vec<Change>,
    /// Skips, sorted.
    pub skips: Vec<Skip>,
    /// The target's ledger after this pass, before any change is applied: every trigger of ours
    /// that was observed, with its stale count. Apply records its outcomes on top.
    #[serde(skip)]
    pub ledger: TargetLedger,
}

impl Plan {
    /// True when there is nothing to change.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// How many changes of each action the plan holds.
    pub fn count(&self, action: Action) -> usize {
        self.changes.iter().filter(|c| c.action == action).count()
    }
}

/// Plans the changes that make `observed` match `desired` under `policy`.
pub fn plan(desired: &Desired, observed: &Observed, policy: &PlanPolicy) -> Plan {
    let mut planner = Planner {
        desired,
        policy,
        deletes: Vec::new(),
        changes: Vec::new(),
        skips: desired.skips.clone(),
        uses: Uses::default(),
        unread: observed.unswept.clone(),
        previous: &observed.ledger,
        ledger: TargetLedger::default(),
        at: observed.coverage.at,
        policy_change: None,
        former: observed
            .policies
            .keys()
            .filter(|f| !desired.forwarders.contains(*f))
            .cloned()
            .collect(),
    };
    planner.account_policy(observed);
    planner.log_groups(observed);
    planner.buckets(observed);
    planner.permissions(observed);
    planner.carry_unobserved(observed);
    planner.ledger.last_pass_at = Some(observed.coverage.at);
    planner.ledger.sweep = observed.coverage.sweep.clone();
    planner.finish()
}

/// The permission a trigger relies on: forwarder, invoker and the trigger's source ARN.
type PermissionUse = (FunctionArn, Invoker, String);

/// Who will still invoke each forwarder after the plan is applied, by invoker.
#[derive(Default)]
struct Uses {
    /// Source ARNs of our triggers that remain or are created, per forwarder and invoker.
    ours: BTreeMap<(FunctionArn, Invoker), BTreeSet<String>>,
    /// Forwarders and invokers that adopted triggers rely on.
    adopted: BTreeSet<(FunctionArn, Invoker)>,
}

struct Planner<'a> {
    desired: &'a Desired,
    policy: &'a PlanPolicy,
    /// Deletes of ours, gated by incomplete discovery and the protect list, not yet capped.
    deletes: Vec<(Change, Option<PermissionUse>)>,
    changes: Vec<Change>,
    skips: Vec<Skip>,
    uses: Uses,
    /// Per invoker, the first log group or bucket that could not be read: it may hold a trigger
    /// that uses the invoker's statement, so that statement is not deleted this pass.
    unread: BTreeMap<Invoker, String>,
    /// The ledger as the previous pass left it.
    previous: &'a TargetLedger,
    /// The ledger after this pass: every trigger of ours observed, with its stale count.
    ledger: TargetLedger,
    /// When this pass read AWS (seconds since the Unix epoch).
    at: u64,
    /// The resource of the account policy change planned, which filter deletes it makes
    /// redundant wait for.
    policy_change: Option<String>,
    /// Forwarders whose policy was read but that route nothing this pass: configured but
    /// unusable, or formerly configured (the ledger holds a statement of ours there). A
    /// trigger with our mark pointing at one is ours (to move or keep), never adopted.
    former: BTreeSet<FunctionArn>,
}

impl Planner<'_> {
    fn skip(&mut self, subject: String, reason: SkipReason, detail: String) {
        self.skips.push(Skip {
            subject,
            reason,
            detail,
        });
    }

    /// Why a trigger found in `resource` and no longer wanted is kept, if it is.
    fn delete_blocker(&self, resource: &str, trigger: &Trigger) -> Option<(SkipReason, String)> {
        // A gap holds back only what its service could have desired: a Lambda listing that
        // failed says nothing about buckets, nor S3's about log groups.
        let (log_groups, buckets) = match trigger {
            Trigger::SubscriptionFilter { .. } | Trigger::AccountPolicy { .. } => (true, false),
            Trigger::S3Notification { .. } => (false, true),
            Trigger::InvokePermission { permission, .. } => match permission.invoker {
                Invoker::Logs => (true, false),
                Invoker::S3 => (false, true),
            },
        };
        let gaps: Vec<_> = self
            .desired
            .gaps
            .iter()
            .filter(|g| {
                (log_groups && g.service.writes_log_groups())
                    || (buckets && g.service.writes_buckets())
            })
            .collect();
        if let Some(gap) = gaps.first() {
            let more = gaps.len() - 1;
            return Some((
                SkipReason::IncompleteDiscovery,
                format!(
                    "discovery was incomplete ({}: {}{}); deletes wait for a complete pass",
                    gap.service,
                    gap.detail,
                    if more > 0 {
                        format!(" and {more} more")
                    } else {
                        String::new()
                    }
                ),
            ));
        }
        self.policy
            .protect
            .iter()
            .find(|p| wildcard_match(p, resource))
            .map(|p| {
                (
                    SkipReason::Protected,
                    format!("matches protect pattern {p:?}"),
                )
            })
    }

    /// Records `trigger` as ours in the next ledger with `stale_passes`.
    fn track(&mut self, trigger: &Trigger, stale_passes: u32) {
        self.ledger
            .track(trigger, stale_passes, self.at, self.previous);
    }

    /// Records that this pass read `unit` and found it delivered as `want` asks.
    fn verify(&mut self, unit: String, want: String) {
        self.ledger.verified.insert(
            unit,
            Verified {
                want,
                seen_at: self.at,
            },
        );
    }

    /// Keeps the previous pass's verified record of `unit`, which this pass trusted unread.
    fn keep_verified(&mut self, unit: String) {
        if let Some(record) = self.previous.verified.get(&unit) {
            self.ledger.verified.insert(unit, record.clone());
        }
    }

    /// Decides a stale trigger of ours: `Ok` to delete it, or why it stays. A blocked pass
    /// (`blocker`, gaps, protect list) does not count towards its stale passes; an unblocked one
    /// does, and the delete waits until it has been stale `stale_passes_before_delete` times.
    fn gate_delete(
        &mut self,
        resource: &str,
        trigger: &Trigger,
        blocker: Option<(SkipReason, String)>,
    ) -> Result<(), (SkipReason, String)> {
        let previous = self.previous.stale_passes(trigger);
        if let Some(blocked) = self.delete_blocker(resource, trigger).or(blocker) {
            self.track(trigger, previous);
            return Err(blocked);
        }
        let stale = previous.saturating_add(1);
        let needed = self.policy.stale_passes_before_delete;
        self.track(trigger, stale);
        if stale < needed {
            return Err((
                SkipReason::StaleWait,
                format!(
                    "stale for {stale} of the {needed} consecutive passes safety.stale_passes_before_delete asks for"
                ),
            ));
        }
        Ok(())
    }

    /// Queues a delete of ours unless it is blocked or still waiting (then it is a skip and
    /// returns false); `use_` is the permission the trigger keeps relying on if it stays.
    fn delete(&mut self, resource: &str, change: Change, use_: Option<PermissionUse>) -> bool {
        match self.gate_delete(resource, &change.trigger, None) {
            Err((reason, detail)) => {
                let subject = change.trigger.resource();
                self.skip(
                    subject,
                    reason,
                    format!("would delete: {}; {detail}", change.reason),
                );
                if let Some((f, invoker, arn)) = use_ {
                    self.uses.ours.entry((f, invoker)).or_default().insert(arn);
                }
                false
            }
            Ok(()) => {
                self.deletes.push((change, use_));
                true
            }
        }
    }

    /// Keeps the previous ledger's entries for resources this pass could not read: what they
    /// hold is unknown, so their stale counts neither grow nor reset.
    fn carry_unobserved(&mut self, observed: &Observed) {
        let seen = |location: &str| {
            if let Some(name) = location.strip_prefix("log-group:") {
                matches!(
                    observed.log_groups.get(&LogGroupName::new(name)),
                    Some(LogGroupState::Found { .. } | LogGroupState::Missing)
                )
            } else if let Some(bucket) = location.strip_prefix("s3://") {
                matches!(
                    observed.buckets.get(&BucketName::from(bucket)),
                    Some(BucketState::Found { .. } | BucketState::Missing)
                )
            } else if location.starts_with("account-policy:") {
                matches!(observed.account_policies, AccountPolicies::Found { .. })
            } else if let Some(arn) = location.strip_prefix("lambda:") {
                FunctionArn::parse(arn).is_ok_and(|f| {
                    matches!(observed.policies.get(&f), Some(PolicyState::Found { .. }))
                })
            } else {
                false
            }
        };
        for (key, entry) in &self.previous.triggers {
            if !self.ledger.triggers.contains_key(key) && !seen(&entry.location) {
                self.ledger.triggers.insert(key.clone(), entry.clone());
            }
        }
    }

    fn use_ours(&mut self, destination: &str, invoker: Invoker, source_arn: String) {
        if let Ok(f) = FunctionArn::parse(destination) {
            self.uses
                .ours
                .entry((f, invoker))
                .or_default()
                .insert(source_arn);
        }
    }

    /// Why a no-longer-desired location was dropped, from the desire's skips.
    fn why_undesired(&self, subject: &str) -> ChangeReason {
        self.desired
            .skips
            .iter()
            .find(|s| s.subject == subject)
            .map_or(ChangeReason::NoSource, |s| ChangeReason::NoLongerWanted {
                reason: s.reason,
                detail: s.detail.clone(),
            })
    }

    fn finish(mut self) -> Plan {
        self.deletes.sort_by(|a, b| a.0.cmp(&b.0));
        let cap = self.policy.max_deletes_per_pass;
        let mut trigger_deletes = Vec::new();
        let mut permission_deletes = Vec::new();
        for (rank, (change, _)) in self.deletes.into_iter().enumerate() {
            if rank >= cap {
                self.skips.push(Skip {
                    subject: change.trigger.resource(),
                    reason: SkipReason::DeleteCap,
                    detail: format!(
                        "would delete: {}; at most {cap} deletes per pass (max_deletes_per_pass)",
                        change.reason
                    ),
                });
            } else if matches!(change.trigger, Trigger::InvokePermission { .. }) {
                permission_deletes.push(change);
            } else {
                trigger_deletes.push(change);
            }
        }
        let (mut permission_upserts, mut trigger_upserts): (Vec<Change>, Vec<Change>) = self
            .changes
            .into_iter()
            .partition(|c| matches!(c.trigger, Trigger::InvokePermission { .. }));
        permission_upserts.sort();
        // A trigger put waits for the permission it needs when that is changed in this plan:
        // AWS would refuse the put (or the trigger would not fire) without it.
        for change in &mut trigger_upserts {
            if change.after.is_none()
                && let Some((forwarder, invoker)) = change.trigger.invoked_by()
            {
                change.after = permission_upserts
                    .iter()
                    .find(|p| {
                        matches!(&p.trigger, Trigger::InvokePermission { forwarder: f, permission }
                            if forwarder.as_ref().is_some_and(|x| x == f) && permission.invoker == invoker)
                    })
                    .map(|p| p.trigger.resource());
            }
        }
        trigger_upserts.extend(trigger_deletes);
        // An account policy is put before the filters it replaces are deleted, and deleted
        // after the filters that replace it are created.
        let policy_delete = |c: &Change| {
            c.action == Action::Delete && matches!(c.trigger, Trigger::AccountPolicy { .. })
        };
        trigger_upserts.sort_by(|a, b| {
            (
                policy_delete(a),
                a.trigger.kind(),
                a.trigger.resource(),
                a.action,
            )
                .cmp(&(
                    policy_delete(b),
                    b.trigger.kind(),
                    b.trigger.resource(),
                    b.action,
                ))
        });
        permission_deletes.sort();
        let mut changes = permission_upserts;
        changes.extend(trigger_upserts);
        changes.extend(permission_deletes);
        self.skips.sort();
        self.skips.dedup();
        Plan {
            changes,
            skips: self.skips,
            ledger: self.ledger,
        }
    }
}
