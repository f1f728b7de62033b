//! Sends a run's results to Datadog when `[datadog.telemetry]` asks for it.

use std::time::SystemTime;

use autosub_aws::factory::ClientFactory;
use autosub_config::Config;
use autosub_engine::PassReport;
use autosub_engine::internal_events::{RunEvents, RunOutcome};
use autosub_engine::reconcile::{RunReport, TargetFailure};
use autosub_ops::telemetry::{ApiKeySource, Telemetry};

/// Metrics and events for a one-shot run (`reconcile`), its events taken from its report;
/// never fails (problems are logged as warnings).
pub async fn send(config: &Config, factory: &ClientFactory, report: &RunReport) {
    let run = RunEvents::of(report, RunOutcome::of(report), SystemTime::now());
    send_events(config, factory, &report.passes, &report.failures, &run).await;
}

/// Metrics for a run's events, and Datadog events for its passes and target failures; never
/// fails (problems are logged as warnings).
pub async fn send_events(
    config: &Config,
    factory: &ClientFactory,
    reports: &[PassReport],
    failures: &[TargetFailure],
    run: &RunEvents,
) {
    let t = &config.datadog.telemetry;
    if !t.events && t.dogstatsd_addr.is_none() {
        return;
    }
    let source = match ApiKeySource::from_env(|name| std::env::var(name).ok()) {
        Ok(source) => source,
        Err(e) => {
            tracing::warn!(error = %e, "datadog events are off for this run");
            None
        }
    };
    let secrets = factory.secrets();
    if let Some(telemetry) =
        Telemetry::from_config(&config.datadog, source.as_ref(), secrets.as_ref()).await
    {
        telemetry.send(reports, failures, run).await;
    }
}
