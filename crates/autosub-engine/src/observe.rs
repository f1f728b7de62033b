//! What a pass reads: the region's log groups and the account's buckets are listed, the audit
//! (`autosub_core::audit::scope`) chooses which to read from the desire and the ledger, and
//! those are read; then what was read, trusted and found is counted for the report.

use std::collections::{BTreeMap, BTreeSet};

use autosub_core::account_policy::AccountPolicies;
use autosub_core::audit::{FullReason, Scope, scope};
use autosub_core::desired::{Desired, Routing};
use autosub_core::focus::InPlay;
use autosub_core::ledger::{self, TargetLedger};
use autosub_core::plan::{Action, Plan, PlanPolicy};
use autosub_core::{
    BucketName, Coverage, Invoker, LogGroupClass, LogGroupName, LogGroupState, Observed,
};
use autosub_triggers::observe::GroupClasses;
use autosub_triggers::{ChangeOutcome, observe};
use futures::StreamExt;
use serde::Serialize;

use crate::context::PassCx;
use crate::pipeline::EarlyApply;

/// What a pass read, what it trusted the ledger for, and what the audit found.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct AuditReport {
    /// Set when the pass read everything, and why.
    pub full: Option<FullReason>,
    /// Log groups whose filters were read.
    pub log_groups_read: usize,
    /// Desired log groups trusted unread (verified within the audit window).
    pub log_groups_trusted: usize,
    /// Log groups read by the sweep for lost triggers.
    pub log_groups_swept: usize,
    /// Buckets whose notification configuration was read.
    pub buckets_read: usize,
    /// Desired buckets trusted unread.
    pub buckets_trusted: usize,
    /// Buckets whose region the sweep looked up (read when in this region).
    pub buckets_swept: usize,
    /// Verified log groups and buckets re-read because their turn in the window came.
    pub audited: usize,
    /// Of those, how many had drifted (a create or update was planned to restore them).
    pub drift: usize,
    /// Triggers of ours the sweep found that the ledger did not know.
    pub recovered: usize,
    /// A targeted pass: it read and planned only what events touched, and deleted nothing.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub targeted: bool,
}

/// The region's log groups and their classes (DescribeLogGroups), or why they could not be listed.
pub(crate) type ListedGroups = Result<BTreeMap<LogGroupName, LogGroupClass>, String>;

/// The log groups a pass knows of.
pub(crate) enum Groups<'a> {
    /// A scheduled pass's: the region's listing.
    Listed(ListedGroups),
    /// A targeted pass's: the locations in play, each log group looked up as it is read.
    InPlay(&'a InPlay),
}

/// Lists the account's buckets, chooses what to read from the desire and the ledger ([`scope`];
/// in a targeted pass, what is in play), and reads it (applying filters on the way with
/// `early`).
pub(crate) async fn observe_scope(
    cx: &PassCx<'_>,
    (desired, routing, groups): (&Desired, &Routing, Groups<'_>),
    policy: &PlanPolicy,
    ledger: TargetLedger,
    early: Option<&EarlyApply<'_>>,
) -> (Observed, Scope, Vec<ChangeOutcome>) {
    let PassCx {
        apis,
        target,
        run,
        config,
        progress,
        ..
    } = *cx;
    let concurrency = config.aws.concurrency;
    progress.step(target, "listing buckets");
    let listed_buckets = observe::list_buckets(apis).await;
    let scope = match &groups {
        // A targeted pass reads what is in play, and trusts nothing else.
        Groups::InPlay(in_play) => Scope {
            log_groups: in_play.log_groups.clone(),
            buckets: in_play.buckets.clone(),
            ..Scope::default()
        },
        Groups::Listed(listed) => scope(
            desired,
            &ledger,
            &listed
                .as_ref()
                .map(|g| g.keys().cloned().collect())
                .unwrap_or_default(),
            listed_buckets.as_ref().unwrap_or(&BTreeSet::new()),
            policy,
            run.audit,
            run.now,
        ),
    };

    progress.step(target, "reading subscription filters");
    let names = &scope.log_groups;
    let read = |classes| async move {
        let reads = observe::log_group_reads(apis, names, classes, concurrency);
        match early {
            Some(early) => early.run(reads).await,
            None => (reads.collect().await, Vec::new()),
        }
    };
    let (log_groups, logs_unswept, early) = match &groups {
        // Every desired, held and ledgered group of a targeted pass is in play, so read.
        Groups::InPlay(_) => {
            let (states, early) = read(GroupClasses::LookedUp).await;
            (states, None, early)
        }
        Groups::Listed(Ok(classes)) => {
            let (mut states, early) = read(GroupClasses::Listed(classes)).await;
            // Desired and held groups: absent from the listing means not there (yet), with no
            // call.
            let known = desired.log_groups.keys().chain(&desired.held_log_groups);
            let ledgered = ledger
                .triggers
                .values()
                .filter_map(|e| e.location.strip_prefix("log-group:"))
                .map(LogGroupName::new);
            for name in known.cloned().chain(ledgered) {
                if !classes.contains_key(&name) {
                    states.insert(name, LogGroupState::Missing);
                }
            }
            (states, None, early)
        }
        Groups::Listed(Err(detail)) => {
            let states = desired
                .log_groups
                .keys()
                .chain(&desired.held_log_groups)
                .map(|g| {
                    let state = LogGroupState::Unreadable {
                        detail: detail.clone(),
                    };
                    (g.clone(), state)
                })
                .collect();
            (states, Some(detail.clone()), Vec::new())
        }
    };

    progress.step(target, "reading bucket notifications");
    let mut wanted_buckets: BTreeMap<BucketName, _> = BTreeMap::new();
    for bucket in &scope.buckets {
        let region = match desired.buckets.get(bucket) {
            Some(d) => Some(d.region.clone()),
            None if desired.held_buckets.contains(bucket) => {
                routing.bucket_regions.get(bucket).cloned()
            }
            // The ledger's: ours are only ever in the pass's own region.
            None => Some(target.region.clone()),
        };
        if let Some(region) = region {
            wanted_buckets.insert(bucket.clone(), region);
        }
    }
    let (buckets, s3_unreadable) = observe::buckets(
        apis,
        &target.region,
        &wanted_buckets,
        &scope.swept_buckets,
        concurrency,
    )
    .await;
    let s3_unswept = listed_buckets.err().or(s3_unreadable);

    let coverage = Coverage {
        at: run.now,
        full: scope.full.is_some() && logs_unswept.is_none() && s3_unswept.is_none(),
        trusted_log_groups: if logs_unswept.is_some() {
            BTreeSet::new()
        } else {
            scope.trusted_log_groups.clone()
        },
        trusted_buckets: scope.trusted_buckets.clone(),
        sweep: scope.cursors.clone(),
    };
    let unswept = [(Invoker::Logs, logs_unswept), (Invoker::S3, s3_unswept)]
        .into_iter()
        .filter_map(|(invoker, failure)| failure.map(|f| (invoker, f)))
        .collect();
    let observed = Observed {
        buckets,
        log_groups,
        policies: BTreeMap::new(),
        unswept,
        ledger,
        coverage,
        account_policies: AccountPolicies::NotRead,
    };
    (observed, scope, early)
}

/// Counts what the pass read and trusted; drift is an audited resource the plan restores, a
/// recovered trigger one of ours the sweep found.
pub(crate) fn audit_report(scope: &Scope, observed: &Observed, plan: &Plan) -> AuditReport {
    let drift = plan
        .changes
        .iter()
        .filter(|c| matches!(c.action, Action::Create | Action::Update))
        .map(|c| ledger::location(&c.trigger))
        .filter(|location| scope.audited.contains(location))
        .collect::<BTreeSet<_>>()
        .len();
    let swept: BTreeSet<String> = scope
        .swept_log_groups
        .iter()
        .map(|g| ledger::log_group_unit(g.as_str()))
        .chain(scope.swept_buckets.iter().map(|b| format!("s3://{b}")))
        .collect();
    let recovered = plan
        .ledger
        .triggers
        .iter()
        .filter(|(key, e)| {
            swept.contains(&e.location) && !observed.ledger.triggers.contains_key(*key)
        })
        .count();
    AuditReport {
        full: scope.full,
        log_groups_read: scope.log_groups.len(),
        log_groups_trusted: observed.coverage.trusted_log_groups.len(),
        log_groups_swept: scope.swept_log_groups.len(),
        buckets_read: observed.buckets.len(),
        buckets_trusted: observed.coverage.trusted_buckets.len(),
        buckets_swept: scope.swept_buckets.len(),
        audited: scope.audited.len(),
        drift,
        recovered,
        targeted: false,
    }
}
