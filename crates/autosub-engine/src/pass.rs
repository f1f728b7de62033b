//! One target's pass.
//!
//! Guarantees: nothing is written in [`Mode::Plan`]; in [`Mode::Apply`] exactly the plan that
//! [`Mode::Plan`] would print is applied, up to the run's cancellation: reads stop at once,
//! apply stops between changes (never between a bucket's read and its write). Assumptions: the
//! config was validated. Errors: none — every failure lands in the report (discovery gaps,
//! unreadable resources, failed changes).

use std::collections::{BTreeMap, BTreeSet};

use autosub_config::Config;
use autosub_core::desired::{Routing, Selection, desire, forwarder_log_groups};
use autosub_core::focus::InPlay;
use autosub_core::ledger::{TargetLedger, location_of_account_policy};
use autosub_core::plan::{Plan, PlanPolicy, Skip, SkipReason, plan};
use autosub_core::policy_routing;
use autosub_core::{
    AccountId, Discovery, FunctionArn, GLOBAL_LOG_REGION, Location, LogGroupName, Region, Service,
};
use autosub_discover::{DiscoverCx, Discoverer, discover_all, discoverers_by_scope};
use autosub_triggers::{ChangeOutcome, Outcome, observe};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

pub use crate::context::{Mode, PassCx, Progress, Run, Target};
pub use crate::observe::AuditReport;
use crate::observe::{Groups, audit_report, observe_scope};
use crate::pipeline::{EarlyApply, apply_rest};
use crate::targeted;

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

/// Runs one pass, starting from the ledger the previous pass left, until `cancel` fires
/// (shutdown, or the target's lease was lost).
pub async fn run_pass(
    cx: &PassCx<'_>,
    ledger: TargetLedger,
    cancel: &CancellationToken,
) -> PassReport {
    let PassCx {
        apis,
        target,
        run,
        config,
        mode,
        progress,
        ..
    } = *cx;
    let policy = plan_policy(config, &target.account, run.stale_passes_before_delete);
    // In apply mode, filters are written while the other log groups are still being read.
    let early = (mode == Mode::Apply).then_some(cancel);
    let previous = ledger.clone();
    let planned = tokio::select! {
        biased;
        () = cancel.cancelled() => None,
        planned = discover_and_plan(cx, &policy, ledger, early) => Some(planned),
    };
    let Some((discovery, plan, no_forwarder, audit, early, in_play)) = planned else {
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
    if let Some(in_play) = &in_play {
        ledger = in_play.merge_ledger(&previous, &ledger);
    }
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

/// What the read-only part of a pass found: the discovery, the plan, why the target's region
/// has no forwarder (if so), what the pass read, the changes applied early, and in a targeted
/// pass the locations in play.
type Planned = (
    Discovery,
    Plan,
    Option<String>,
    AuditReport,
    Vec<ChangeOutcome>,
    Option<InPlay>,
);

/// The read part of a pass: discover, desire, observe, plan. With `early` (apply mode, the
/// run's cancellation) the filters groups need are written while the rest is read.
async fn discover_and_plan(
    pass: &PassCx<'_>,
    policy: &PlanPolicy,
    ledger: TargetLedger,
    early: Option<&CancellationToken>,
) -> Planned {
    let PassCx {
        apis,
        target,
        run,
        config,
        progress,
        ..
    } = *pass;
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

    // Forwarders of this region that hold a statement of ours per the ledger but are no longer
    // configured: read, so that statement goes once nothing of ours points there.
    let mut former = BTreeMap::new();
    let former_arns: BTreeSet<FunctionArn> = ledger
        .triggers
        .values()
        .filter_map(|e| {
            let arn = FunctionArn::parse(e.location.strip_prefix("lambda:")?).ok()?;
            (arn.region() == &target.region && !policies.contains_key(&arn)).then_some(arn)
        })
        .collect();
    for arn in former_arns {
        if let Some(state) = observe::policy_state(apis, &arn).await {
            former.insert(arn, state);
        }
    }

    progress.step(target, "discovering log sources");
    let account_mode = config
        .account_policy
        .applies(target.account.as_str(), target.region.as_str());
    // In account-policy mode the policy's exclusions come from the region's listing, which a
    // targeted pass does not make: events there run a full pass.
    let targeted = pass
        .focus
        .filter(|_| !account_mode)
        .zip(pass.discoveries.and_then(|d| d.get(target)));
    let all_forwarders: BTreeSet<FunctionArn> = forwarders.values().cloned().collect();
    let filters = config.services.enabled();
    let cx = DiscoverCx {
        account: &target.account,
        region: &target.region,
        apis,
        forwarders: &all_forwarders,
        filters: &filters,
        concurrency,
        focus: targeted.as_ref().map(|(focus, _)| *focus),
    };
    let (discovery, in_play) = match &targeted {
        None => (discover(&cx, run, target).await, None),
        Some((focus, remembered)) => {
            let fresh = discover(&cx, run, target).await;
            let in_play = focus.in_play(remembered, &fresh);
            (focus.refresh(remembered, fresh), Some(in_play))
        }
    };
    if let Some(discoveries) = pass.discoveries {
        discoveries.put(target, discovery.clone());
    }

    progress.step(target, "resolving bucket regions");
    let source_buckets: BTreeSet<_> = discovery
        .sources
        .iter()
        .filter_map(|s| match &s.location {
            Location::S3 { bucket, .. } => Some(bucket.clone()),
            Location::LogGroup { .. } => None,
        })
        .filter(|b| in_play.as_ref().is_none_or(|p| p.buckets.contains(b)))
        .collect();
    let (bucket_regions, unresolved_buckets) =
        observe::bucket_regions(apis, &source_buckets, concurrency).await;
    // The account's own buckets are exactly those it lists; unlisted, a bucket is another's.
    // Without the listing, ownership is left to ExpectedBucketOwner on each call.
    let other_account_buckets = if source_buckets.is_empty() {
        BTreeSet::new()
    } else {
        observe::list_buckets(apis).await.map_or_else(
            |_| BTreeSet::new(),
            |owned| {
                bucket_regions
                    .keys()
                    .filter(|b| !owned.contains(*b))
                    .cloned()
                    .collect()
            },
        )
    };
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
        other_account_buckets,
    };
    let mut selection = selection(config, &forwarders);
    // A forwarder with a custom LoggingConfig group: the account policy must exclude it too.
    selection
        .guarded_log_groups
        .extend(forwarder_log_groups(&discovery, forwarders.values()));
    let mut desired = desire(&discovery, &selection, &routing);
    if let Some(in_play) = &in_play {
        targeted::narrow(&mut desired, in_play);
    }

    let groups = match &in_play {
        None => {
            progress.step(target, "listing log groups");
            Groups::Listed(observe::list_log_groups(apis).await)
        }
        Some(in_play) => Groups::InPlay(in_play),
    };
    // Read in either mode: a policy to the forwarder already delivers what it selects.
    progress.step(target, "reading the account's subscription filter policies");
    let account_policies = observe::account_policies(apis).await;
    // Account-policy mode has no targeted passes: its exclusions come from the listing.
    if account_mode
        && let (Some(forwarder), Groups::Listed(listed_groups)) =
            (routing.forwarders.get(&target.region), &groups)
    {
        let wanted = match listed_groups {
            Ok(listed) => policy_routing::want(
                &policy.filter_name,
                forwarder,
                &policy.filter_pattern,
                &selection,
                &listed.keys().cloned().collect(),
            ),
            // Without the listing, the globs of exclude.log_groups cannot be expanded.
            Err(detail) => Err(Skip {
                subject: location_of_account_policy(&policy.filter_name),
                reason: SkipReason::Unreadable,
                detail: format!(
                    "{detail}; the policy's exclusions cannot be worked out, so it is left as it is"
                ),
            }),
        };
        policy_routing::route(
            &mut desired,
            wanted,
            &account_policies,
            &ledger,
            &selection.guarded_log_groups,
        );
    } else {
        policy_routing::adopt(
            &mut desired,
            &policy.filter_name,
            &account_policies,
            &ledger,
            &selection.guarded_log_groups,
        );
    }
    let desired = desired;

    let early = early.map(|cancel| EarlyApply {
        apis,
        desired: &desired,
        policies: &policies,
        policy,
        cancel,
    });
    let ledger = match &in_play {
        Some(in_play) => targeted::ledger_in_play(&ledger, in_play),
        None => ledger,
    };
    let (mut observed, scope, early) = observe_scope(
        pass,
        (&desired, &routing, groups),
        policy,
        ledger,
        early.as_ref(),
    )
    .await;
    observed.policies = policies;
    observed.policies.extend(former);
    observed.account_policies = account_policies;
    let plan = plan(&desired, &observed, policy);
    let plan = match in_play {
        Some(_) => targeted::without_deletes(plan),
        None => plan,
    };
    let audit = AuditReport {
        targeted: in_play.is_some(),
        ..audit_report(&scope, &observed, &plan)
    };
    (discovery, plan, no_forwarder, audit, early, in_play)
}

/// Runs the enabled services' discoverers (in a targeted pass, only the focused services'),
/// the global ones once per run unless targeted; global services' log groups belong to the
/// pass of [`GLOBAL_LOG_REGION`].
async fn discover(cx: &DiscoverCx<'_>, run: &Run, target: &Target) -> Discovery {
    let enabled: BTreeSet<Service> = match cx.focus {
        None => cx.filters.keys().copied().collect(),
        Some(focus) => focus
            .services()
            .into_iter()
            .filter(|s| cx.filters.contains_key(s))
            .collect(),
    };
    let all = discoverers_by_scope(&enabled);
    let regional: Vec<&dyn Discoverer> = all.regional.iter().map(AsRef::as_ref).collect();
    let global: Vec<&dyn Discoverer> = all.global.iter().map(AsRef::as_ref).collect();
    let mut discovery = discover_all(cx, &regional).await;
    let mut shared = match cx.focus {
        None => run
            .global
            .get_or_init(|| discover_all(cx, &global))
            .await
            .clone(),
        Some(_) => discover_all(cx, &global).await,
    };
    if target.region.as_str() != GLOBAL_LOG_REGION {
        shared
            .sources
            .retain(|s| !matches!(s.location, Location::LogGroup { .. }));
    }
    discovery.merge(shared);
    discovery.normalize()
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
