//! One run: every target's pass, with the ledger loaded before and saved after each one. Shared
//! by the one-shot commands and every scheduled pass of the daemon.
//!
//! Guarantees: in [`Mode::Plan`] the ledger is only read; in [`Mode::Apply`] each target's
//! ledger is saved right after its pass, with exactly the changes that were applied. Errors:
//! only what stops the whole run (no account, no region); ledger trouble is reported per target
//! and never stops a pass.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use autosub_aws::apis::{S3Api, TargetApis};
use autosub_aws::calls::CallKey;
use autosub_aws::factory::ClientFactory;
use autosub_config::Config;
use autosub_core::{AccountId, Region};
use tracing::Instrument;

use crate::ledger::LedgerStore;
use crate::memo::MemoS3;
use crate::pass::{Mode, PassReport, Progress, Run, Target, run_pass};

/// What stops a run before any pass.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The account could not be told from the credentials.
    #[error(
        "cannot tell which account to reconcile ({0}); check the AWS credentials or set aws.account_id"
    )]
    NoAccount(autosub_aws::AwsError),
    /// No region was configured or found in the environment.
    #[error(
        "no region to reconcile: set aws.regions in the configuration, AUTOSUB_REGIONS or AWS_REGION"
    )]
    NoRegion,
}

/// What one run did, over every target.
#[derive(Debug)]
pub struct RunReport {
    /// One report per target, in order.
    pub passes: Vec<PassReport>,
    /// AWS operations of this run by (service, operation, outcome).
    pub calls: BTreeMap<CallKey, u64>,
    /// Throttled attempts of this run by service (retried ones included).
    pub throttles: BTreeMap<String, u64>,
    /// Ledger problems, one line each (`<target>: <error>`).
    pub ledger_errors: Vec<String>,
    /// Wall time of the run.
    pub duration: Duration,
}

impl RunReport {
    /// True when part of the run failed: a change failed, discovery had gaps, or the ledger
    /// could not be read or written.
    pub fn partial(&self) -> bool {
        !self.ledger_errors.is_empty()
            || self
                .passes
                .iter()
                .any(|r| r.failures() > 0 || !r.discovery.gaps.is_empty())
    }

    /// True when the run was cut short by a shutdown.
    pub fn interrupted(&self) -> bool {
        self.passes.iter().any(|p| p.interrupted)
    }
}

/// What a run needs beyond the config.
pub struct RunCx<'a> {
    /// The SDK clients.
    pub factory: &'a ClientFactory,
    /// The validated configuration.
    pub config: &'a Config,
    /// Where the ledger lives.
    pub ledger: &'a dyn LedgerStore,
    /// Plan only, or apply.
    pub mode: Mode,
    /// Stale passes before a delete, when the config does not say.
    pub stale_passes_before_delete: u32,
    /// Where progress goes.
    pub progress: &'a dyn Progress,
}

/// The account and regions the configuration and credentials name.
pub async fn targets(factory: &ClientFactory, config: &Config) -> Result<Vec<Target>, RunError> {
    let account = match &config.aws.account_id {
        Some(account) => AccountId::new(account.as_str()),
        None => factory
            .caller_account()
            .await
            .map_err(RunError::NoAccount)?,
    };
    let regions: Vec<Region> = if config.aws.regions.is_empty() {
        vec![factory.home_region().cloned().ok_or(RunError::NoRegion)?]
    } else {
        config
            .aws
            .regions
            .iter()
            .map(|r| Region::new(r.as_str()))
            .collect()
    };
    Ok(regions
        .into_iter()
        .map(|region| Target {
            account: account.clone(),
            region,
        })
        .collect())
}

/// Runs one pass per target of `targets` (one account, several regions), in order, stopping
/// early when `cancel` fires.
pub async fn run(
    cx: &RunCx<'_>,
    targets: &[Target],
    cancel: &tokio_util::sync::CancellationToken,
) -> RunReport {
    let started = Instant::now();
    let calls_before = cx.factory.calls().snapshot();
    let throttles_before = cx.factory.calls().throttles();
    let mut run = Run::new(targets.iter().map(|t| t.region.clone()));
    run.stale_passes_before_delete = cx.stale_passes_before_delete;
    run.cancel = cancel.clone();
    let mut passes = Vec::new();
    let mut ledger_errors = Vec::new();
    // One bucket list and one region lookup per bucket for the whole run, whatever the regions.
    let s3: Option<Arc<dyn S3Api>> = targets.first().map(|t| {
        let memo: Arc<dyn S3Api> = Arc::new(MemoS3::new(cx.factory.apis(&t.account, &t.region).s3));
        memo
    });
    for target in targets {
        if cancel.is_cancelled() {
            break;
        }
        let span = tracing::info_span!("target", target = %target);
        let report = async {
            let previous = match cx.ledger.load(target).await {
                Ok(ledger) => ledger,
                Err(e) => {
                    tracing::error!(error = %e, "ledger unreadable; this pass starts from an empty one (deletes wait longer)");
                    ledger_errors.push(format!("{target}: {e}"));
                    Default::default()
                }
            };
            let mut apis: TargetApis = cx.factory.apis(&target.account, &target.region);
            if let Some(s3) = &s3 {
                apis.s3 = Arc::clone(s3);
            }
            let report = run_pass(
                &apis,
                target,
                &run,
                cx.config,
                cx.mode,
                previous,
                cx.progress,
            )
            .await;
            if cx.mode == Mode::Apply
                && report.outcomes.is_some()
                && let Err(e) = cx.ledger.save(target, &report.ledger).await
            {
                tracing::error!(error = %e, "ledger not saved; the next pass recounts stale triggers");
                ledger_errors.push(format!("{target}: {e}"));
            }
            report
        }
        .instrument(span)
        .await;
        passes.push(report);
    }
    RunReport {
        passes,
        calls: delta(&calls_before, &cx.factory.calls().snapshot()),
        throttles: delta(&throttles_before, &cx.factory.calls().throttles()),
        ledger_errors,
        duration: started.elapsed(),
    }
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
