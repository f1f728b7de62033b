//! One run: every account's targets (account × region), each pass with the ledger loaded
//! before and saved after it. Shared by the one-shot commands and every scheduled pass of the
//! daemon.
//!
//! Guarantees: in [`Mode::Plan`] the ledger is only read; in [`Mode::Apply`] each target's
//! ledger is saved right after its pass, with exactly the changes that were applied. At most
//! `fleet.targets_in_flight` targets run at once (every target by default: the pacer keeps each
//! (account, region, API) within its quota), and at most `fleet.targets_in_flight_per_account`
//! of one account when that is set. One target's trouble (a role that
//! cannot be assumed, a disabled region, no forwarder) never stops the others: it is reported in
//! [`RunReport::failures`]. Errors: only what stops the whole run (no account, no region, no
//! Organizations listing).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use autosub_aws::apis::{S3Api, TargetApis};
use autosub_aws::factory::ClientFactory;
use autosub_config::{Config, LedgerLocation};
use autosub_core::audit::{AuditPolicy, FullReason};
use autosub_core::focus::Focus;
use futures::future::join_all;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::fleet::{self, Account};
use crate::lease::{Hold, Leases};
use crate::ledger::LedgerStore;
use crate::memo::MemoS3;
use crate::pass::{Mode, PassCx, PassReport, Progress, Run, Target, run_pass};
pub use crate::report::{FailureReason, HeldTarget, RunError, RunReport, TargetFailure};
use crate::targeted::Targeting;

/// What a run needs beyond the config.
pub struct RunCx<'a> {
    /// The SDK clients.
    pub factory: &'a ClientFactory,
    /// The validated configuration.
    pub config: &'a Config,
    /// Where the ledger lives.
    pub ledger: &'a dyn LedgerStore,
    /// The per-target leases (single-replica mode without a lease table).
    pub leases: &'a Leases,
    /// Plan only, or apply.
    pub mode: Mode,
    /// Stale passes before a delete, when the config does not say.
    pub stale_passes_before_delete: u32,
    /// Where progress goes.
    pub progress: &'a dyn Progress,
    /// The run's time, in seconds since the Unix epoch ([`now_secs`] outside tests).
    pub now: u64,
    /// Read every log group and bucket (`--full-audit`) instead of what the ledger cannot
    /// vouch for.
    pub full_audit: bool,
    /// Event-driven mode: remembered discoveries, and the focus of a targeted run.
    pub targeting: Targeting<'a>,
}

/// The system's wall clock, in seconds since the Unix epoch.
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// How the run's passes choose what to read: a full audit when asked (or with a zero window),
/// or when there is no ledger to trust.
fn audit_policy(cx: &RunCx<'_>) -> AuditPolicy {
    let window_secs = cx.config.audit.window_secs;
    let full = if cx.full_audit || window_secs == 0 {
        Some(FullReason::Asked)
    } else if cx.config.ledger.location == LedgerLocation::None {
        Some(FullReason::NoLedger)
    } else {
        None
    };
    AuditPolicy { window_secs, full }
}

/// Runs every target of the configuration, stopping early when `cancel` fires.
pub async fn run(cx: &RunCx<'_>, cancel: &CancellationToken) -> Result<RunReport, RunError> {
    let started = Instant::now();
    let calls_before = cx.factory.calls().snapshot();
    let throttles_before = cx.factory.calls().throttles();
    let mut accounts = fleet::accounts(cx.factory, cx.config).await?;
    if let Some(focused) = cx.targeting.focused {
        let touched = focused.accounts();
        accounts.retain(|a| touched.contains(&a.id));
    }
    let in_flight = Semaphore::new(cx.config.fleet.targets_in_flight);
    let done = join_all(
        accounts
            .iter()
            .map(|account| run_account(cx, account, &in_flight, cancel)),
    )
    .await;
    let mut report = RunReport::default();
    for account in done {
        report.passes.extend(account.passes);
        report.failures.extend(account.failures);
        report.ledger_errors.extend(account.ledger_errors);
        report.held.extend(account.held);
    }
    report.passes.sort_by(|a, b| a.target.cmp(&b.target));
    report.held.sort();
    report.failures.sort();
    report.ledger_errors.sort();
    report.calls = delta(&calls_before, &cx.factory.calls().snapshot());
    report.throttles = delta(&throttles_before, &cx.factory.calls().throttles());
    report.duration = started.elapsed();
    Ok(report)
}

/// What one account's targets did.
#[derive(Default)]
struct AccountReport {
    passes: Vec<PassReport>,
    failures: Vec<TargetFailure>,
    ledger_errors: Vec<String>,
    held: Vec<HeldTarget>,
}

/// Reaches the account, resolves its regions, then runs its targets, at most
/// `fleet.targets_in_flight_per_account` at once and within the run's `in_flight`.
async fn run_account(
    cx: &RunCx<'_>,
    account: &Account,
    in_flight: &Semaphore,
    cancel: &CancellationToken,
) -> AccountReport {
    let span = tracing::info_span!("account", account = %account.id);
    async {
        let mut out = AccountReport::default();
        if let Err(failure) = fleet::reach(cx.factory, account).await {
            tracing::error!(%failure, "account skipped");
            out.failures.push(failure);
            return out;
        }
        let regions = match fleet::regions(cx.factory, cx.config, account).await {
            Ok((regions, disabled)) => {
                out.failures.extend(disabled);
                regions
            }
            Err(failure) => {
                tracing::error!(%failure, "account skipped");
                out.failures.push(failure);
                return out;
            }
        };
        let mut run = Run::new(regions.iter().cloned(), account.forwarders.clone(), cx.now);
        run.stale_passes_before_delete = cx.stale_passes_before_delete;
        run.audit = audit_policy(cx);
        // One bucket list and one region lookup per bucket for the account, whatever the regions.
        let s3: Option<Arc<dyn S3Api>> = regions.first().map(|region| {
            let memo: Arc<dyn S3Api> =
                Arc::new(MemoS3::new(cx.factory.apis(&account.id, region).s3));
            memo
        });
        let per_account = Semaphore::new(
            cx.config
                .fleet
                .targets_in_flight_per_account
                .unwrap_or(Semaphore::MAX_PERMITS),
        );
        let targets: Vec<(Target, Option<Focus>)> = regions
            .into_iter()
            .map(|region| Target {
                account: account.id.clone(),
                region,
            })
            .filter_map(|target| match cx.targeting.focused {
                None => Some((target, None)),
                Some(focused) => focused.of(&target).map(|focus| (target, Some(focus))),
            })
            .collect();
        let (per_account, run, s3) = (&per_account, &run, &s3);
        let done = join_all(targets.iter().map(|(target, focus)| async move {
            let (Ok(_account_slot), Ok(_run_slot)) =
                (per_account.acquire().await, in_flight.acquire().await)
            else {
                unreachable!("the semaphores are never closed")
            };
            if cancel.is_cancelled() {
                return AccountReport::default();
            }
            run_target(cx, (target, focus.as_ref()), run, s3.as_ref(), cancel)
                .instrument(tracing::info_span!("target", target = %target))
                .await
        }))
        .await;
        for target in done {
            out.passes.extend(target.passes);
            out.failures.extend(target.failures);
            out.ledger_errors.extend(target.ledger_errors);
            out.held.extend(target.held);
        }
        out
    }
    .instrument(span)
    .await
}

/// One target's pass (narrowed to `focus` in a targeted run), under its lease (apply mode) and between loading and saving its ledger.
async fn run_target(
    cx: &RunCx<'_>,
    (target, focus): (&Target, Option<&Focus>),
    run: &Run,
    s3: Option<&Arc<dyn S3Api>>,
    shutdown: &CancellationToken,
) -> AccountReport {
    let mut out = AccountReport::default();
    let lease_failure = |message: String| TargetFailure {
        account: target.account.clone(),
        region: Some(target.region.clone()),
        reason: FailureReason::Lease,
        message,
    };
    // Plans only read, so they need no lease.
    let guard = if cx.mode == Mode::Apply {
        match cx.leases.hold(&target.to_string(), shutdown).await {
            Ok(Hold::Granted(guard)) => Some(guard),
            Ok(Hold::HeldElsewhere { owner, until }) => {
                tracing::info!(%owner, "another replica holds the target; skipped");
                out.held.push(HeldTarget {
                    target: target.clone(),
                    owner,
                    until,
                });
                return out;
            }
            Err(e) => {
                tracing::error!(error = %e, "lease not taken; target skipped");
                out.failures.push(lease_failure(format!(
                    "{e}; check the lease table and autosub's dynamodb:UpdateItem/GetItem on it"
                )));
                return out;
            }
        }
    } else {
        None
    };
    let cancel = guard
        .as_ref()
        .map_or_else(|| shutdown.clone(), |g| g.cancel());
    let previous = match cx.ledger.load(target).await {
        Ok(ledger) => ledger,
        Err(e) => {
            // Without the ledger the pass cannot tell what it may delete, and saving would
            // overwrite what it could not read: the target waits until the ledger is readable.
            tracing::error!(error = %e, "ledger unreadable; the target's pass does not run");
            out.failures.push(TargetFailure {
                account: target.account.clone(),
                region: Some(target.region.clone()),
                reason: FailureReason::Ledger,
                message: format!("{e}; the target is not reconciled until the ledger can be read"),
            });
            if let Some(guard) = guard
                && let Err(e) = guard.release().await
            {
                tracing::warn!(error = %e, "lease not released; it lapses after lease.duration_secs");
            }
            return out;
        }
    };
    let mut apis: TargetApis = cx.factory.apis(&target.account, &target.region);
    if let Some(s3) = s3 {
        apis.s3 = Arc::clone(s3);
    }
    let pass = PassCx {
        apis: &apis,
        target,
        run,
        config: cx.config,
        mode: cx.mode,
        progress: cx.progress,
        focus,
        discoveries: cx.targeting.discoveries,
    };
    let mut report = run_pass(&pass, previous, &cancel).await;
    if cx.mode == Mode::Apply
        && report.outcomes.is_some()
        && let Err(e) = cx.ledger.save(target, &report.ledger).await
    {
        tracing::error!(error = %e, "ledger not saved; the next pass recounts stale triggers");
        out.ledger_errors.push(format!("{target}: {e}"));
    }
    if let Some(guard) = guard {
        if let Some(loss) = guard.loss() {
            tracing::error!(%loss, "lease lost; the pass stopped before its next write");
            report.interrupted = shutdown.is_cancelled();
            out.failures.push(lease_failure(format!(
                "{loss}; the pass stopped before its next write (raise lease.duration_secs if passes stall)"
            )));
        }
        if let Err(e) = guard.release().await {
            tracing::warn!(error = %e, "lease not released; it lapses after lease.duration_secs");
        }
    }
    if let Some(message) = &report.no_forwarder {
        tracing::warn!(%message, "the target's region has no forwarder");
        out.failures.push(TargetFailure {
            account: target.account.clone(),
            region: Some(target.region.clone()),
            reason: FailureReason::NoForwarder,
            message: message.clone(),
        });
    }
    out.passes.push(report);
    out
}

/// `after - before`, per key, without the zeros.
fn delta<K: Ord + Clone>(before: &BTreeMap<K, u64>, after: &BTreeMap<K, u64>) -> BTreeMap<K, u64> {
    after
        .iter()
        .filter_map(|(k, n)| {
            let d = n - before.get(k).copied().unwrap_or(0).min(*n);
            (d > 0).then(|| (k.clone(), d))
        })
        .collect()
}
