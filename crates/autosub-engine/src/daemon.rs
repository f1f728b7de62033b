//! `autosub run`: a pass at start-up, then one per tick of the cron schedule
//! (tokio-cron-scheduler), never two at once, until shutdown.
//!
//! Guarantees: passes never overlap (ticks that arrive during a pass are dropped, not queued);
//! on shutdown no new pass starts and the running one stops at its next safe point (see
//! `pass`). Errors: only a schedule the scheduler rejects; a failing pass is reported in
//! metrics and logs and the next tick tries again.
//!
//! Readiness and leases: a target whose lease another replica holds is skipped, not failed.
//! A replica whose every target is held elsewhere is a standby: healthy, running its passes and
//! taking a target over as soon as its holder releases the lease or lets it lapse. It stays
//! ready (`/readyz` 200), since failing readiness would report the normal state of a second
//! replica (and of every new task while a deployment rolls) as a fault; `/readyz`'s body says
//! so and lists every held target with its holder and lease expiry.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use autosub_aws::factory::ClientFactory;
use autosub_config::{Config, DAEMON_STALE_PASSES, Schedule};
use chrono::Utc;
use rand::RngExt;
use tokio::sync::mpsc;
use tokio_cron_scheduler::{Job, JobScheduler, JobSchedulerError};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::follow::{FollowStats, follow};
use crate::internal_events::{RunEvents, RunOutcome};
use crate::lease::{Leases, rfc3339};
use crate::ledger::LedgerStore;
use crate::metrics::Metrics;
use crate::pass::{Mode, Progress, Target};
use crate::reconcile::{self, HeldTarget, RunCx, RunError, RunReport};
use crate::targeted::{Discoveries, Focused, Targeting};

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The scheduler refused the schedule or failed to start.
    #[error("the scheduler failed ({0}); check run.schedule")]
    Scheduler(#[from] JobSchedulerError),
}

/// What `/readyz` and `/metrics` read, shared between the pass loop and the HTTP server.
pub struct DaemonState {
    /// The metrics.
    pub metrics: Metrics,
    /// What the event loop has done (event-driven mode).
    pub events: FollowStats,
    ready_max_age: Duration,
    /// How long a pass may run before it is stopped.
    deadline: Duration,
    last: Mutex<Option<LastRun>>,
    /// When the running pass started (`true`), or when the last one ended (`false`).
    activity: Mutex<(tokio::time::Instant, bool)>,
}

/// The last finished (not interrupted) run, as `/readyz` reports it.
struct LastRun {
    at: Instant,
    outcome: RunOutcome,
    /// Targets another replica held the lease of, sorted.
    held: Vec<HeldTarget>,
    /// Every target of the run was held elsewhere: nothing ran, nothing failed.
    standby: bool,
}

impl DaemonState {
    /// State for `config`'s schedule: `/readyz` tolerates `run.ready_max_age_secs`, by default
    /// twice the schedule's interval plus the jitter and five minutes.
    pub fn new(config: &Config) -> Self {
        let max_age = config.run.ready_max_age_secs.map_or_else(
            || {
                let interval =
                    schedule_interval(&config.run.schedule).unwrap_or(Duration::from_secs(3600));
                interval * 2 + Duration::from_secs(config.run.jitter_secs + 300)
            },
            Duration::from_secs,
        );
        let metrics = Metrics::new();
        Self {
            events: FollowStats::registered(&metrics),
            metrics,
            ready_max_age: max_age,
            deadline: Duration::from_secs(config.run.pass_deadline_secs),
            last: Mutex::new(None),
            activity: Mutex::new((tokio::time::Instant::now(), false)),
        }
    }

    /// `Ok` while the daemon makes progress; otherwise why not (`/healthz`): a pass that runs
    /// past its deadline plus five minutes did not stop when told to, and no pass starting
    /// for twice the readiness age means the scheduler stalled.
    pub fn live(&self) -> Result<(), String> {
        let (since, running) = *self.activity.lock().unwrap_or_else(PoisonError::into_inner);
        let age = since.elapsed();
        if running && age > self.deadline + STUCK_AFTER_DEADLINE {
            return Err(format!(
                "a pass has run for {} s, past run.pass_deadline_secs ({} s), and did not stop",
                age.as_secs(),
                self.deadline.as_secs()
            ));
        }
        if !running && age > self.ready_max_age * 2 {
            return Err(format!(
                "no pass has started for {} s since the last one ended: the scheduler stalled",
                age.as_secs()
            ));
        }
        Ok(())
    }

    fn started(&self) {
        *self.activity.lock().unwrap_or_else(PoisonError::into_inner) =
            (tokio::time::Instant::now(), true);
    }

    /// `/readyz`: `Ok` with the body when the last pass finished within the allowed age and did
    /// not fail outright; otherwise why not. Either way the last pass's targets held by another
    /// replica follow, one line each (`held: <target> by <owner> until <RFC 3339>`). Targets
    /// held elsewhere never make a replica unready, even all of them (see the module docs).
    pub fn ready(&self) -> Result<String, String> {
        let last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(last) = last.as_ref() else {
            return Err("the first pass has not finished yet".into());
        };
        let held: String = last
            .held
            .iter()
            .map(|h| {
                format!(
                    "\nheld: {} by {} until {}",
                    h.target,
                    h.owner,
                    rfc3339(h.until)
                )
            })
            .collect();
        let age = last.at.elapsed();
        if last.outcome == RunOutcome::Failed {
            Err(format!("the last pass failed outright; see the logs{held}"))
        } else if age > self.ready_max_age {
            Err(format!(
                "the last pass finished {} s ago, more than run.ready_max_age_secs ({} s){held}",
                age.as_secs(),
                self.ready_max_age.as_secs()
            ))
        } else if last.standby {
            Ok(format!(
                "ready: standby, another replica holds every target; each is taken over when its lease is released or lapses{held}\n"
            ))
        } else {
            Ok(format!("ready{held}\n"))
        }
    }

    /// Records a finished run: its events (computed here, once) go to the metrics, and
    /// readiness learns how a scheduled run ended. The events are returned for the run's other
    /// sinks.
    fn finished(&self, report: &RunReport, outcome: RunOutcome, targeted: bool) -> RunEvents {
        *self.activity.lock().unwrap_or_else(PoisonError::into_inner) =
            (tokio::time::Instant::now(), false);
        let mut events = RunEvents::of(report, outcome, SystemTime::now());
        if targeted {
            events = events.targeted();
        }
        self.metrics.record(&events);
        if events.replaces_last_run() {
            *self.last.lock().unwrap_or_else(PoisonError::into_inner) = Some(LastRun {
                at: Instant::now(),
                outcome,
                held: report.held.clone(),
                standby: !report.held.is_empty()
                    && report.passes.is_empty()
                    && report.failures.is_empty(),
            });
        }
        events
    }
}

/// How long past its deadline a pass may take to stop before `/healthz` fails.
const STUCK_AFTER_DEADLINE: Duration = Duration::from_secs(300);

/// The time between the schedule's next two ticks.
fn schedule_interval(schedule: &Schedule) -> Option<Duration> {
    let cron = schedule.cron();
    let first = cron.find_next_occurrence(&Utc::now(), false).ok()?;
    let second = cron.find_next_occurrence(&first, false).ok()?;
    (second - first).to_std().ok()
}

/// What the daemon runs with.
pub struct DaemonCx<'a> {
    /// The SDK clients.
    pub factory: &'a ClientFactory,
    /// The validated configuration.
    pub config: &'a Config,
    /// Where the ledger lives.
    pub ledger: &'a dyn LedgerStore,
    /// The per-target leases.
    pub leases: &'a Leases,
    /// Metrics and readiness.
    pub state: Arc<DaemonState>,
    /// Called after every run, interrupted or failed ones included, with the run's events
    /// (e.g. telemetry to Datadog).
    pub after_run: &'a (dyn Fn(&RunReport, &RunEvents) + Send + Sync),
}

/// Runs passes until `shutdown` fires.
pub async fn run(cx: DaemonCx<'_>, shutdown: CancellationToken) -> Result<(), DaemonError> {
    let (ticks, mut tick) = mpsc::channel::<()>(1);
    let mut scheduler = JobScheduler::new().await?;
    let job = Job::new_async(cx.config.run.schedule.as_str(), move |_, _| {
        let ticks = ticks.clone();
        Box::pin(async move {
            // Full means a pass is due already; this tick adds nothing.
            let _ = ticks.try_send(());
        })
    })?;
    let job_id = scheduler.add(job).await?;
    scheduler.start().await?;
    tracing::info!(schedule = %cx.config.run.schedule, ledger = %cx.ledger.location(), "autosub run started");

    // Every pass remembers its discovery; targeted passes plan from it. Scheduled and targeted
    // runs take turns, so two never write the same target at once.
    let discoveries = Discoveries::default();
    let turn = tokio::sync::Mutex::new(());
    let shared = Shared {
        discoveries: &discoveries,
        turn: &turn,
    };
    let scheduled = async {
        let mut pass_number: u64 = 0;
        loop {
            pass_number += 1;
            {
                let _turn = turn.lock().await;
                run_one(&cx, pass_number, &shutdown, shared.targeting(None)).await;
            }
            // Ticks that came during the pass are dropped: passes never overlap or pile up.
            while tick.try_recv().is_ok() {}
            if shutdown.is_cancelled() {
                break;
            }
            if let Ok(Some(next)) = scheduler.next_tick_for_job(job_id).await {
                tracing::info!(next_pass = %next.to_rfc3339(), "waiting for the next pass");
            }
            tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                received = tick.recv() => if received.is_none() { break },
            }
            let jitter = cx.config.run.jitter_secs;
            if jitter > 0 {
                let delay = Duration::from_millis(rand::rng().random_range(0..=jitter * 1000));
                tokio::select! {
                    biased;
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(delay) => {}
                }
            }
        }
    };
    tokio::join!(scheduled, follow_events(&cx, shared, &shutdown));
    scheduler.shutdown().await?;
    tracing::info!("autosub run stopped");
    Ok(())
}

/// What the scheduled and the targeted runs share.
#[derive(Clone, Copy)]
struct Shared<'a> {
    discoveries: &'a Discoveries,
    /// Held by the run in progress.
    turn: &'a tokio::sync::Mutex<()>,
}

impl<'a> Shared<'a> {
    fn targeting(self, focused: Option<&'a Focused>) -> Targeting<'a> {
        Targeting {
            discoveries: Some(self.discoveries),
            focused,
        }
    }
}

/// Follows the `[events]` queue, when there is one, until shutdown: each burst of events is one
/// targeted run, recorded like a scheduled one.
async fn follow_events(cx: &DaemonCx<'_>, shared: Shared<'_>, shutdown: &CancellationToken) {
    let Some(queue) = &cx.config.events.queue else {
        return;
    };
    let region = cx
        .config
        .events_queue_region()
        .unwrap_or_else(|| cx.factory.own_region());
    tracing::info!(queue = %queue.url, debounce_ms = cx.config.events.debounce.as_millis() as u64, "following the event queue");
    let api = cx.factory.queue(&queue.url, &region);
    let runs = &std::sync::atomic::AtomicU64::new(0);
    follow(
        api.as_ref(),
        (cx.config.events.debounce, shared.turn),
        |focused: Focused| async move {
            let n = runs.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            let span = tracing::info_span!("targeted", run = n);
            run_one_targeted(cx, shared.targeting(Some(&focused)), shutdown)
                .instrument(span)
                .await
        },
        &cx.state.events,
        shutdown,
    )
    .await;
}

/// What a daemon run (scheduled or targeted) runs with: apply mode, the daemon's stale-pass
/// default, progress as logs, now.
fn run_cx<'a>(cx: &'a DaemonCx<'_>, targeting: Targeting<'a>) -> RunCx<'a> {
    RunCx {
        factory: cx.factory,
        config: cx.config,
        ledger: cx.ledger,
        leases: cx.leases,
        mode: Mode::Apply,
        stale_passes_before_delete: DAEMON_STALE_PASSES,
        progress: &LogProgress,
        now: reconcile::now_secs(),
        full_audit: false,
        targeting,
    }
}

/// One targeted run, recorded in the state as a run.
async fn run_one_targeted(
    cx: &DaemonCx<'_>,
    targeting: Targeting<'_>,
    shutdown: &CancellationToken,
) -> Result<RunReport, RunError> {
    let run_cx = run_cx(cx, targeting);
    cx.state.started();
    let result = reconcile::run(&run_cx, shutdown).await;
    match &result {
        Ok(report) => report_run(cx, report, (RunOutcome::of(report), true)),
        Err(e) => {
            tracing::error!(error = %e, "targeted run failed before it started");
            report_run(cx, &RunReport::default(), (RunOutcome::Failed, true));
        }
    }
    result
}

/// One scheduled run over every target, recorded in the state.
async fn run_one(
    cx: &DaemonCx<'_>,
    pass_number: u64,
    shutdown: &CancellationToken,
    targeting: Targeting<'_>,
) {
    let span = tracing::info_span!("pass", pass = pass_number);
    async {
        let run_cx = run_cx(cx, targeting);
        tracing::info!("pass started");
        cx.state.started();
        // The deadline stops the pass at its next safe point, as a shutdown would.
        let stop = shutdown.child_token();
        let run = reconcile::run(&run_cx, &stop);
        tokio::pin!(run);
        let mut overran = false;
        let result = tokio::select! {
            result = &mut run => result,
            () = tokio::time::sleep(cx.state.deadline) => {
                tracing::error!(deadline_secs = cx.state.deadline.as_secs(), "the pass overran run.pass_deadline_secs; stopping it");
                overran = true;
                stop.cancel();
                run.await
            }
        };
        let report = match result {
            Ok(report) => report,
            Err(e) => {
                tracing::error!(error = %e, "pass failed before it started");
                report_run(cx, &RunReport::default(), (RunOutcome::Failed, false));
                return;
            }
        };
        for failure in &report.failures {
            tracing::error!(%failure, "target not reconciled");
        }
        let outcome = if overran {
            RunOutcome::Failed
        } else {
            RunOutcome::of(&report)
        };
        report_run(cx, &report, (outcome, false));
    }
    .instrument(span)
    .await;
}

/// The one emit site of a run's events: the metrics (and readiness), the `pass finished` log
/// line, and `after_run` (telemetry) all get the same events.
fn report_run(cx: &DaemonCx<'_>, report: &RunReport, (outcome, targeted): (RunOutcome, bool)) {
    let events = cx.state.finished(report, outcome, targeted);
    let summary = events.summary();
    tracing::info!(
        outcome = summary.outcome.as_str(),
        targeted,
        changes = summary.changes,
        failed = summary.failed,
        skips = summary.skips,
        gaps = summary.gaps,
        aws_calls = summary.aws_calls,
        duration_ms = u64::try_from(summary.duration.as_millis()).unwrap_or(u64::MAX),
        "pass finished"
    );
    (cx.after_run)(report, &events);
}

/// Progress as debug logs: the daemon has no terminal.
struct LogProgress;

impl Progress for LogProgress {
    fn step(&self, target: &Target, step: &str) {
        tracing::debug!(%target, step, "pass progress");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(extra: &str) -> DaemonState {
        let text = format!(
            "[forwarders]\nus-east-1 = \"datadog-forwarder\"\n[run]\nschedule = \"0 */15 * * * *\"\nready_max_age_secs = 3600\npass_deadline_secs = 7200\n{extra}"
        );
        DaemonState::new(&Config::parse(&text, "t.toml").unwrap())
    }

    #[tokio::test(start_paused = true)]
    async fn healthz_fails_when_a_pass_outlives_its_deadline_or_none_starts() {
        let state = state("");
        assert_eq!(state.live(), Ok(()));
        state.started();
        tokio::time::advance(Duration::from_secs(7200 + 299)).await;
        assert_eq!(
            state.live(),
            Ok(()),
            "a pass within its deadline and the grace"
        );
        tokio::time::advance(Duration::from_secs(2)).await;
        assert!(state.live().unwrap_err().contains("did not stop"));

        state.finished(&RunReport::default(), RunOutcome::Success, false);
        assert_eq!(state.live(), Ok(()), "a long pass that ended is no stall");
        tokio::time::advance(Duration::from_secs(2 * 3600 + 1)).await;
        assert!(state.live().unwrap_err().contains("scheduler stalled"));
    }

    fn held(account: &str, region: &str, owner: &str, until_secs: u64) -> HeldTarget {
        HeldTarget {
            target: Target {
                account: autosub_core::AccountId::new(account),
                region: autosub_core::Region::new(region),
            },
            owner: owner.into(),
            until: SystemTime::UNIX_EPOCH + Duration::from_secs(until_secs),
        }
    }

    /// The lines of `/metrics` that start with `name`, sorted.
    fn samples(state: &DaemonState, name: &str) -> Vec<String> {
        let text = state.metrics.encode();
        let mut lines: Vec<String> = text
            .lines()
            .filter(|l| l.starts_with(name))
            .map(str::to_owned)
            .collect();
        lines.sort();
        lines
    }

    #[test]
    fn targets_held_by_other_replicas_show_in_readyz_and_metrics_and_keep_it_ready() {
        let state = state("");
        // Every target held elsewhere: a standby, ready to take them over.
        let report = RunReport {
            held: vec![
                held("111111111111", "eu-west-1", "replica-b", 1_800_000_000),
                held("111111111111", "us-east-1", "replica-b", 1_800_000_060),
            ],
            ..RunReport::default()
        };
        state.finished(&report, RunOutcome::of(&report), false);
        assert_eq!(
            state.ready(),
            Ok("ready: standby, another replica holds every target; each is taken over when its lease is released or lapses\n\
                held: 111111111111/eu-west-1 by replica-b until 2027-01-15T08:00:00Z\n\
                held: 111111111111/us-east-1 by replica-b until 2027-01-15T08:01:00Z\n"
                .to_owned())
        );
        assert_eq!(
            samples(&state, "autosub_last_pass_held_until_timestamp_seconds{"),
            [
                "autosub_last_pass_held_until_timestamp_seconds{account=\"111111111111\",region=\"eu-west-1\",owner=\"replica-b\"} 1800000000.0",
                "autosub_last_pass_held_until_timestamp_seconds{account=\"111111111111\",region=\"us-east-1\",owner=\"replica-b\"} 1800000060.0",
            ]
        );
        assert!(
            samples(&state, "autosub_last_pass_targets{")
                .contains(&"autosub_last_pass_targets{outcome=\"held\"} 2".to_owned()),
            "{}",
            state.metrics.encode()
        );

        // One target held beside another that failed: not a standby; the held one still listed.
        let report = RunReport {
            held: vec![held(
                "111111111111",
                "us-east-1",
                "replica-c",
                1_800_000_120,
            )],
            failures: vec![crate::reconcile::TargetFailure {
                account: autosub_core::AccountId::new("111111111111"),
                region: Some(autosub_core::Region::new("eu-west-1")),
                reason: crate::reconcile::FailureReason::Lease,
                message: "x".into(),
            }],
            ..RunReport::default()
        };
        state.finished(&report, RunOutcome::of(&report), false);
        assert_eq!(
            state.ready(),
            Ok(
                "ready\nheld: 111111111111/us-east-1 by replica-c until 2027-01-15T08:02:00Z\n"
                    .to_owned()
            )
        );
        assert_eq!(
            samples(&state, "autosub_last_pass_held_until_timestamp_seconds{").len(),
            1,
            "the gauge describes the last pass only"
        );

        // Nothing held any more: the plain body, and no held gauge left.
        state.finished(&RunReport::default(), RunOutcome::Success, false);
        assert_eq!(state.ready(), Ok("ready\n".to_owned()));
        assert!(samples(&state, "autosub_last_pass_held_until_timestamp_seconds{").is_empty());
        assert!(
            samples(&state, "autosub_last_pass_targets{")
                .contains(&"autosub_last_pass_targets{outcome=\"held\"} 0".to_owned())
        );

        // An unready replica still lists what it found held.
        state.finished(&report, RunOutcome::Failed, false);
        assert_eq!(
            state.ready(),
            Err("the last pass failed outright; see the logs\nheld: 111111111111/us-east-1 by replica-c until 2027-01-15T08:02:00Z".to_owned())
        );
    }
}
