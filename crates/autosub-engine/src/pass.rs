//! One target's pass.
//!
//! Guarantees: nothing is written in [`Mode::Plan`]; in [`Mode::Apply`] exactly the plan that
//! [`Mode::Plan`] would print is applied, up to the run's cancellation: reads stop at once,
//! apply stops between changes (never between a bucket's read and its write). Assumptions: the
//! config was validated. Errors: none — every failure lands in the report (discovery gaps,
//! unreadable resources, failed changes).

use std::collections::{BTreeMap, BTreeSet};

use autosub_aws::apis::TargetApis;
use autosub_config::{Config, ForwarderRef};
use autosub_core::audit::{AuditPolicy, FullReason, Scope, scope};
use autosub_core::desired::{Desired, Routing, Selection, desire};
use autosub_core::ledger::{self, TargetLedger};
use autosub_core::plan::{Action, Change, Plan, PlanPolicy, Trigger, plan};
use autosub_core::{
    AccountId, BucketName, Coverage, Discovery, FunctionArn, Invoker, Location, LogGroupName,
    LogGroupState, Observed, PolicyState, Region, Service,
};
use autosub_discover::{DiscoverCx, Discoverer, discover_all, discoverers};
use autosub_triggers::{ChangeOutcome, Outcome, apply, observe};
use futures::StreamExt;
use serde::Serialize;
use tokio::sync::OnceCell;
use tokio_util::sync::CancellationToken;

/// Where global services (CloudFront, WAF's CLOUDFRONT scope) write CloudWatch Logs.
const GLOBAL_LOG_REGION: &str = "us-east-1";

/// An account and region to reconcile.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Target {
    /// The account.
    pub account: AccountId,
    /// The region.
    pub region: Region,
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.account, self.region)
    }
}

/// Plan only, or plan and apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Read-only: discover, observe and plan.
    Plan,
    /// Also apply the plan.
    Apply,
}

/// Where a pass reports what it is doing (a progress bar on a terminal, logs otherwise).
pub trait Progress: Send + Sync {
    /// The pass moved on to `step`.
    fn step(&self, target: &Target, step: &str);
}

/// Everything one pass found, planned and did.
#[derive(Clone, Debug, Serialize)]
pub struct PassReport {
    /// The target.
    pub target: Target,
    /// What discovery found, and its gaps.
    pub discovery: Discovery,
    /// The plan.
    pub plan: Plan,
    /// What happened to each change, in apply mode.
    pub outcomes: Option<Vec<ChangeOutcome>>,
    /// The ledger after the pass: the plan's, with the applied changes recorded.
    #[serde(skip)]
    pub ledger: TargetLedger,
    /// The run was cancelled (shutdown) before this pass finished.
    pub interrupted: bool,
    /// Why the target's own region has no usable forwarder, when it has none.
    pub no_forwarder: Option<String>,
    /// What the pass read and what it trusted the ledger for.
    pub audit: AuditReport,
}

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
}

impl PassReport {
    /// Changes that failed when applied.
    pub fn failures(&self) -> usize {
        self.outcomes
            .iter()
            .flatten()
            .filter(|o| matches!(o.outcome, Outcome::Failed { .. }))
            .count()
    }
}

/// The plan policy the config asks for in `account`; `stale_passes_before_delete` is the
/// command's default, used when the config does not set one.
pub fn plan_policy(
    config: &Config,
    account: &AccountId,
    stale_passes_before_delete: u32,
) -> PlanPolicy {
    PlanPolicy {
        account: account.clone(),
        notification_id_prefix: config.ownership.notification_id_prefix.clone(),
        filter_name: config.ownership.filter_name.clone(),
        filter_pattern: config.ownership.filter_pattern.clone(),
        statement_id_prefix: config.ownership.statement_id_prefix.clone(),
        max_filters_per_log_group: config.safety.max_filters_per_log_group,
        max_deletes_per_pass: config.safety.max_deletes_per_pass,
        stale_passes_before_delete: config
            .safety
            .stale_passes_before_delete
            .unwrap_or(stale_passes_before_delete),
        protect: config.safety.protect.clone(),
    }
}

/// What the passes of one account in a run share: the regions reconciled, the account's
/// forwarders and their policies (read once, before any pass of the account writes: a pass
/// changes only its own region's forwarder, and reads the others only to know they exist), the
/// discovery of global services (made once) and the command's stale-pass default.
pub struct Run {
    /// Every region the run reconciles in the account.
    pub regions: BTreeSet<Region>,
    /// The forwarder of each region (a name is resolved in the account).
    pub forwarders: BTreeMap<Region, ForwarderRef>,
    /// `safety.stale_passes_before_delete` when the config leaves it unset.
    pub stale_passes_before_delete: u32,
    /// How the passes choose what to read.
    pub audit: AuditPolicy,
    /// The run's time, in seconds since the Unix epoch: what the ledger records as seen.
    pub now: u64,
    global: OnceCell<Discovery>,
    policies: OnceCell<ForwarderPolicies>,
}

/// The forwarders' resource policies, and why the missing ones are unavailable, by region.
type ForwarderPolicies = (BTreeMap<FunctionArn, PolicyState>, BTreeMap<Region, String>);

impl Run {
    /// A run at `now` over `regions` with `forwarders` that deletes on the first stale pass and
    /// audits incrementally over a day.
    pub fn new(
        regions: impl IntoIterator<Item = Region>,
        forwarders: BTreeMap<Region, ForwarderRef>,
        now: u64,
    ) -> Self {
        Self {
            regions: regions.into_iter().collect(),
            forwarders,
            stale_passes_before_delete: 1,
            audit: AuditPolicy {
                window_secs: 24 * 60 * 60,
                full: None,
            },
            now,
            global: OnceCell::new(),
            policies: OnceCell::new(),
        }
    }
}

/// Runs one pass over `target`, starting from the ledger the previous pass left, until `cancel`
/// fires (shutdown, or the target's lease was lost).
#[allow(clippy::too_many_arguments)]
pub async fn run_pass(
    apis: &TargetApis,
    target: &Target,
    run: &Run,
    cancel: &CancellationToken,
    config: &Config,
    mode: Mode,
    ledger: TargetLedger,
    progress: &dyn Progress,
) -> PassReport {
    let policy = plan_policy(config, &target.account, run.stale_passes_before_delete);
    // In apply mode, filters are written while the other log groups are still being read.
    let early = (mode == Mode::Apply).then_some(cancel);
    let planned = tokio::select! {
        biased;
        () = cancel.cancelled() => None,
        planned = discover_and_plan(apis, target, run, config, &policy, ledger, early, progress) => Some(planned),
    };
    let Some((discovery, plan, no_forwarder, audit, early)) = planned else {
        return PassReport {
            target: target.clone(),
            discovery: Discovery::default(),
            plan: Plan::default(),
            outcomes: None,
            ledger: TargetLedger::default(),
            interrupted: true,
            no_forwarder: None,
            audit: AuditReport::default(),
        };
    };
    let mut ledger = plan.ledger.clone();
    let outcomes = match mode {
        Mode::Plan => None,
        Mode::Apply => {
            progress.step(target, "applying changes");
            let outcomes = apply_rest(apis, &plan, &policy, cancel, early).await;
            for o in outcomes.iter().filter(|o| o.outcome == Outcome::Applied) {
                ledger.record_applied(&o.change, run.now);
            }
            Some(outcomes)
        }
    };
    PassReport {
        target: target.clone(),
        discovery,
        plan,
        outcomes,
        ledger,
        interrupted: cancel.is_cancelled(),
        no_forwarder,
        audit,
    }
}

/// Applies the changes of `plan` that were not applied early, and returns every change's
/// outcome in plan order (an early outcome whose change the plan does not hold comes last).
async fn apply_rest(
    apis: &TargetApis,
    plan: &Plan,
    policy: &PlanPolicy,
    cancel: &CancellationToken,
    early: Vec<ChangeOutcome>,
) -> Vec<ChangeOutcome> {
    let key = |c: &Change| (c.action, c.trigger.clone());
    let mut done: BTreeMap<(Action, Trigger), ChangeOutcome> =
        early.into_iter().map(|o| (key(&o.change), o)).collect();
    let rest = Plan {
        changes: plan
            .changes
            .iter()
            .filter(|c| !done.contains_key(&key(c)))
            .cloned()
            .collect(),
        ..Plan::default()
    };
    let mut applied = apply(apis, &rest, policy, cancel).await.into_iter();
    let mut outcomes: Vec<ChangeOutcome> = plan
        .changes
        .iter()
        .filter_map(|c| done.remove(&key(c)).or_else(|| applied.next()))
        .collect();
    outcomes.extend(done.into_values());
    outcomes
}

/// While a pass reads log groups, applies at once the filter a group needs when it needs
/// exactly that (a create or update, no permission first, no delete): DescribeSubscriptionFilters
/// and PutSubscriptionFilter have quotas of their own, so reading and writing together take
/// the time of the slower, not of both. The full plan is computed afterwards as always and
/// holds the same changes; [`apply_rest`] skips the ones done here.
struct EarlyApply<'a> {
    apis: &'a TargetApis,
    desired: &'a Desired,
    policies: &'a BTreeMap<FunctionArn, PolicyState>,
    policy: &'a PlanPolicy,
    cancel: &'a CancellationToken,
}

impl EarlyApply<'_> {
    /// The change a freshly read group needs, when it is a filter create or update alone.
    fn change_for(&self, name: &LogGroupName, state: &LogGroupState) -> Option<Change> {
        let want = self.desired.log_groups.get(name)?;
        let desired = Desired {
            home_region: self.desired.home_region.clone(),
            forwarders: self.desired.forwarders.clone(),
            log_groups: BTreeMap::from([(name.clone(), want.clone())]),
            ..Desired::default()
        };
        let observed = Observed {
            log_groups: BTreeMap::from([(name.clone(), state.clone())]),
            policies: self.policies.clone(),
            coverage: Coverage {
                full: false,
                ..Coverage::default()
            },
            ..Observed::default()
        };
        let mut one = plan(&desired, &observed, self.policy);
        match one.changes.as_slice() {
            [c] if matches!(c.trigger, Trigger::SubscriptionFilter { .. })
                && c.action != Action::Delete =>
            {
                one.changes.pop()
            }
            _ => None,
        }
    }

    /// Reads every group of `reads` and applies what [`EarlyApply::change_for`] finds, both at
    /// once; returns the states read and the outcomes.
    async fn run(
        &self,
        reads: impl futures::Stream<Item = (LogGroupName, LogGroupState)>,
    ) -> (BTreeMap<LogGroupName, LogGroupState>, Vec<ChangeOutcome>) {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Change>();
        let reader = async move {
            let mut states = BTreeMap::new();
            let mut reads = std::pin::pin!(reads);
            while let Some((name, state)) = reads.next().await {
                if let Some(change) = self.change_for(&name, &state) {
                    // The writer outlives the reader: the send cannot fail.
                    let _ = tx.send(change);
                }
                states.insert(name, state);
            }
            states
        };
        let writer = async {
            let mut outcomes = Vec::new();
            while let Some(change) = rx.recv().await {
                let one = Plan {
                    changes: vec![change],
                    ..Plan::default()
                };
                outcomes.extend(apply(self.apis, &one, self.policy, self.cancel).await);
            }
            outcomes
        };
        tokio::join!(reader, writer)
    }
}

/// What the read-only part of a pass found: the discovery, the plan, why the target's region
/// has no forwarder (if so), what the pass read, and the changes applied early.
type Planned = (
    Discovery,
    Plan,
    Option<String>,
    AuditReport,
    Vec<ChangeOutcome>,
);

/// The read part of a pass: discover, desire, observe, plan. With `early` (apply mode, the
/// run's cancellation) the filters groups need are written while the rest is read.
#[allow(clippy::too_many_arguments)]
async fn discover_and_plan(
    apis: &TargetApis,
    target: &Target,
    run: &Run,
    config: &Config,
    policy: &PlanPolicy,
    ledger: TargetLedger,
    early: Option<&CancellationToken>,
    progress: &dyn Progress,
) -> Planned {
    let concurrency = config.aws.concurrency;
    let forwarders: BTreeMap<Region, FunctionArn> = run
        .forwarders
        .iter()
        .map(|(region, fwd)| (region.clone(), fwd.resolve(&target.account, region)))
        .collect();

    progress.step(target, "reading the forwarders' resource policies");
    let (policies, unavailable) = run
        .policies
        .get_or_init(|| observe::forwarder_policies(apis, &forwarders))
        .await
        .clone();
    let no_forwarder = if forwarders.contains_key(&target.region) {
        unavailable.get(&target.region).cloned()
    } else {
        Some(format!(
            "no forwarder is configured for {}; add forwarders.{} (or the account's own forwarders)",
            target.region, target.region
        ))
    };

    progress.step(target, "discovering log sources");
    let all_forwarders: BTreeSet<FunctionArn> = forwarders.values().cloned().collect();
    let filters = config.services.enabled();
    let cx = DiscoverCx {
        account: &target.account,
        region: &target.region,
        apis,
        forwarders: &all_forwarders,
        filters: &filters,
        concurrency,
    };
    let enabled: BTreeSet<Service> = filters.keys().copied().collect();
    let all = discoverers(&enabled);
    let (global, regional): (Vec<&dyn Discoverer>, Vec<&dyn Discoverer>) =
        all.iter().map(|d| d.as_ref()).partition(|d| d.global());
    let mut discovery = discover_all(&cx, &regional).await;
    let mut shared = run
        .global
        .get_or_init(|| discover_all(&cx, &global))
        .await
        .clone();
    // Global services deliver CloudWatch Logs in us-east-1: those log groups are that pass's.
    if target.region.as_str() != GLOBAL_LOG_REGION {
        shared
            .sources
            .retain(|s| !matches!(s.location, Location::LogGroup { .. }));
    }
    discovery.merge(shared);
    let discovery = discovery.normalize();

    progress.step(target, "resolving bucket regions");
    let source_buckets: BTreeSet<_> = discovery
        .sources
        .iter()
        .filter_map(|s| match &s.location {
            Location::S3 { bucket, .. } => Some(bucket.clone()),
            Location::LogGroup { .. } => None,
        })
        .collect();
    let (bucket_regions, unresolved_buckets) =
        observe::bucket_regions(apis, &source_buckets, concurrency).await;
    let routing = Routing {
        home_region: target.region.clone(),
        reconciled_regions: run.regions.clone(),
        forwarders: forwarders
            .iter()
            .filter(|(r, _)| !unavailable.contains_key(*r))
            .map(|(r, f)| (r.clone(), f.clone()))
            .collect(),
        unavailable,
        bucket_regions,
        unresolved_buckets,
    };
    let desired = desire(&discovery, &selection(config, &forwarders), &routing);

    let early = early.map(|cancel| EarlyApply {
        apis,
        desired: &desired,
        policies: &policies,
        policy,
        cancel,
    });
    let (mut observed, scope, early) = observe_scope(
        apis,
        target,
        run,
        (&desired, &routing),
        policy,
        ledger,
        concurrency,
        early.as_ref(),
        progress,
    )
    .await;
    observed.policies = policies;
    let plan = plan(&desired, &observed, policy);
    let audit = audit_report(&scope, &observed, &plan);
    (discovery, plan, no_forwarder, audit, early)
}

/// Lists the region's log groups and the account's buckets, chooses what to read from the
/// desire and the ledger ([`scope`]), and reads it (applying filters on the way with `early`).
#[allow(clippy::too_many_arguments)]
async fn observe_scope(
    apis: &TargetApis,
    target: &Target,
    run: &Run,
    (desired, routing): (&Desired, &Routing),
    policy: &PlanPolicy,
    ledger: TargetLedger,
    concurrency: usize,
    early: Option<&EarlyApply<'_>>,
    progress: &dyn Progress,
) -> (Observed, Scope, Vec<ChangeOutcome>) {
    progress.step(target, "listing log groups and buckets");
    let listed_groups = observe::list_log_groups(apis).await;
    let listed_buckets = observe::list_buckets(apis).await;
    let scope = scope(
        desired,
        &ledger,
        &listed_groups
            .as_ref()
            .map(|g| g.keys().cloned().collect())
            .unwrap_or_default(),
        listed_buckets.as_ref().unwrap_or(&BTreeSet::new()),
        policy,
        run.audit,
        run.now,
    );

    progress.step(target, "reading subscription filters");
    // Desired and held groups: absent from the listing means not there (yet), with no call.
    let known: BTreeSet<&LogGroupName> = desired
        .log_groups
        .keys()
        .chain(&desired.held_log_groups)
        .collect();
    let (log_groups, logs_unswept, early) = match &listed_groups {
        Ok(classes) => {
            let reads = observe::log_group_reads(apis, &scope.log_groups, classes, concurrency);
            let (mut states, early) = match early {
                Some(early) => early.run(reads).await,
                None => (reads.collect().await, Vec::new()),
            };
            let ledgered = ledger
                .triggers
                .values()
                .filter_map(|e| e.location.strip_prefix("log-group:"))
                .map(LogGroupName::new);
            for name in known.iter().map(|g| (*g).clone()).chain(ledgered) {
                if !classes.contains_key(&name) {
                    states.insert(name, LogGroupState::Missing);
                }
            }
            (states, None, early)
        }
        Err(detail) => {
            let states = known
                .iter()
                .map(|g| {
                    let state = LogGroupState::Unreadable {
                        detail: detail.clone(),
                    };
                    ((*g).clone(), state)
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
    };
    (observed, scope, early)
}

/// Counts what the pass read and trusted; drift is an audited resource the plan restores, a
/// recovered trigger one of ours the sweep found.
fn audit_report(scope: &Scope, observed: &Observed, plan: &Plan) -> AuditReport {
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
        .map(|g| format!("log-group:{g}"))
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
    }
}

/// Exclusions from the config, and loop guards: every forwarder's default log group plus the
/// configured ones.
fn selection(config: &Config, forwarders: &BTreeMap<Region, FunctionArn>) -> Selection {
    let mut guarded_log_groups: BTreeSet<LogGroupName> = config
        .loop_guard
        .log_groups
        .iter()
        .map(|g| LogGroupName::new(g.as_str()))
        .collect();
    guarded_log_groups.extend(
        forwarders
            .values()
            .map(|f| LogGroupName::new(format!("/aws/lambda/{}", f.name()))),
    );
    Selection {
        exclude_log_groups: config.exclude.log_groups.clone(),
        exclude_buckets: config.exclude.buckets.clone(),
        guarded_log_groups,
        guarded_buckets: config
            .loop_guard
            .buckets
            .iter()
            .map(|b| b.as_str().into())
            .collect(),
    }
}
