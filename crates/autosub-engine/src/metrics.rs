//! The daemon's Prometheus metrics, fed from each run's report.
//!
//! Counters accumulate over the process's life; `autosub_last_pass_*` gauges describe the most
//! recent run only, so an alert can say "the last pass skipped N log groups for no free slot".
//! A target another replica holds the lease of is no failure: it counts under
//! `autosub_last_pass_targets{outcome="held"}`, and `autosub_last_pass_held_until_timestamp_seconds`
//! names it, its holder and when that lease lapses unless renewed.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

use crate::Outcome;
use crate::reconcile::RunReport;

type Labels = Vec<(&'static str, String)>;

/// How a run ended, as `autosub_passes_total{outcome}` labels it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunOutcome {
    /// Every pass finished and nothing failed.
    Success,
    /// Something failed (a change, a discovery read, the ledger) but the run did its work.
    Partial,
    /// Nothing could be done: the run could not start, or every pass failed outright.
    Failed,
    /// A shutdown cut the run short.
    Interrupted,
}

impl RunOutcome {
    /// The label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Partial => "partial",
            Self::Failed => "failed",
            Self::Interrupted => "interrupted",
        }
    }

    /// How a finished run ended.
    pub fn of(report: &RunReport) -> Self {
        let broken = |p: &crate::PassReport| {
            let outcomes = p.outcomes.as_deref().unwrap_or_default();
            let all_changes_failed = !outcomes.is_empty() && outcomes.len() == p.failures();
            let discovered_nothing = p.discovery.sources.is_empty() && !p.discovery.gaps.is_empty();
            all_changes_failed || discovered_nothing
        };
        if report.interrupted() {
            Self::Interrupted
        } else if !report.passes.is_empty() && report.passes.iter().all(broken) {
            Self::Failed
        } else if report.partial() {
            Self::Partial
        } else {
            Self::Success
        }
    }
}

/// Every metric the daemon serves on `/metrics`.
pub struct Metrics {
    registry: Registry,
    pass_duration: Histogram,
    passes: Family<Labels, Counter>,
    changes: Family<Labels, Counter>,
    aws_calls: Family<Labels, Counter>,
    aws_throttles: Family<Labels, Counter>,
    last_pass_skips: Family<Labels, Gauge>,
    last_pass_gaps: Gauge,
    last_success: Gauge<f64, AtomicU64>,
    managed_triggers: Family<Labels, Gauge>,
    last_pass_targets: Family<Labels, Gauge>,
    last_pass_target_failures: Family<Labels, Gauge>,
    last_pass_held: Family<Labels, Gauge<f64, AtomicU64>>,
    audit: Family<Labels, Counter>,
    last_pass_resources: Family<Labels, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric, all at zero.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        // 0.5 s to ~4.5 h: a pass over a small account takes seconds, a paced sweep of a large
        // one hours.
        let pass_duration = Histogram::new(exponential_buckets(0.5, 2.0, 16));
        let metrics = Self {
            registry: Registry::default(),
            pass_duration,
            passes: Family::default(),
            changes: Family::default(),
            aws_calls: Family::default(),
            aws_throttles: Family::default(),
            last_pass_skips: Family::default(),
            last_pass_gaps: Gauge::default(),
            last_success: Gauge::default(),
            managed_triggers: Family::default(),
            last_pass_targets: Family::default(),
            last_pass_target_failures: Family::default(),
            last_pass_held: Family::default(),
            audit: Family::default(),
            last_pass_resources: Family::default(),
        };
        registry.register_with_unit(
            "autosub_pass_duration",
            "Wall time of a pass over every target",
            Unit::Seconds,
            metrics.pass_duration.clone(),
        );
        registry.register(
            "autosub_passes",
            "Passes by outcome (success, partial, failed, interrupted)",
            metrics.passes.clone(),
        );
        registry.register(
            "autosub_changes",
            "Changes by action, trigger kind and outcome (applied, skipped, failed)",
            metrics.changes.clone(),
        );
        registry.register(
            "autosub_aws_calls",
            "AWS operations by service, operation and outcome (after the SDK's retries)",
            metrics.aws_calls.clone(),
        );
        registry.register(
            "autosub_aws_throttles",
            "AWS attempts answered with a throttling error, retried ones included",
            metrics.aws_throttles.clone(),
        );
        registry.register(
            "autosub_last_pass_skips",
            "Sources and triggers the last pass deliberately left alone, by reason",
            metrics.last_pass_skips.clone(),
        );
        registry.register(
            "autosub_last_pass_discovery_gaps",
            "What the last pass's discoverers could not read (no deletes while above 0)",
            metrics.last_pass_gaps.clone(),
        );
        registry.register_with_unit(
            "autosub_last_success_timestamp",
            "Unix time the last pass without failures finished",
            Unit::Seconds,
            metrics.last_success.clone(),
        );
        registry.register(
            "autosub_managed_triggers",
            "Triggers autosub owns, by kind, as the ledger records them",
            metrics.managed_triggers.clone(),
        );
        registry.register(
            "autosub_last_pass_targets",
            "Targets (account x region) of the last pass, by outcome (reconciled, failed, held: another replica holds its lease)",
            metrics.last_pass_targets.clone(),
        );
        registry.register(
            "autosub_last_pass_target_failures",
            "Targets the last pass could not reconcile, by account, region (\"*\": every region) and reason",
            metrics.last_pass_target_failures.clone(),
        );
        registry.register_with_unit(
            "autosub_last_pass_held_until_timestamp",
            "Targets the last pass skipped because another replica holds their lease, by account, region and owner (the holder's id): Unix time the lease lapses unless renewed",
            Unit::Seconds,
            metrics.last_pass_held.clone(),
        );
        registry.register(
            "autosub_audit",
            "What the audit found: drift (a verified trigger gone or changed, restored) and recovered (a trigger of ours the ledger had lost)",
            metrics.audit.clone(),
        );
        registry.register(
            "autosub_last_pass_resources",
            "Log groups and buckets of the last pass, by kind and how they were handled (read, trusted from the ledger, swept)",
            metrics.last_pass_resources.clone(),
        );
        Self {
            registry,
            ..metrics
        }
    }

    /// Records a finished run that ended as `outcome` at `now_unix` (seconds).
    pub fn record(&self, report: &RunReport, outcome: RunOutcome, now_unix: f64) {
        self.pass_duration.observe(report.duration.as_secs_f64());
        self.passes
            .get_or_create(&vec![("outcome", outcome.as_str().to_owned())])
            .inc();
        for pass in &report.passes {
            for o in pass.outcomes.iter().flatten() {
                let result = match o.outcome {
                    Outcome::Applied => "applied",
                    Outcome::Skipped { .. } => "skipped",
                    Outcome::Failed { .. } => "failed",
                };
                self.changes
                    .get_or_create(&vec![
                        ("action", o.change.action.to_string()),
                        ("kind", o.change.trigger.kind().to_owned()),
                        ("outcome", result.to_owned()),
                    ])
                    .inc();
            }
        }
        for ((service, operation, result), n) in &report.calls {
            self.aws_calls
                .get_or_create(&vec![
                    ("service", service.clone()),
                    ("operation", operation.clone()),
                    ("outcome", result.clone()),
                ])
                .inc_by(*n);
        }
        for (service, n) in &report.throttles {
            self.aws_throttles
                .get_or_create(&vec![("service", service.clone())])
                .inc_by(*n);
        }
        for pass in &report.passes {
            for (finding, n) in [
                ("drift", pass.audit.drift),
                ("recovered", pass.audit.recovered),
            ] {
                self.audit
                    .get_or_create(&vec![("finding", finding.to_owned())])
                    .inc_by(u64::try_from(n).unwrap_or(u64::MAX));
            }
        }
        if outcome == RunOutcome::Interrupted {
            return;
        }
        self.last_pass_resources.clear();
        for a in report.passes.iter().map(|p| &p.audit) {
            for (kind, how, n) in [
                ("log_group", "read", a.log_groups_read),
                ("log_group", "trusted", a.log_groups_trusted),
                ("log_group", "swept", a.log_groups_swept),
                ("bucket", "read", a.buckets_read),
                ("bucket", "trusted", a.buckets_trusted),
                ("bucket", "swept", a.buckets_swept),
            ] {
                self.last_pass_resources
                    .get_or_create(&vec![("kind", kind.to_owned()), ("how", how.to_owned())])
                    .inc_by(i64::try_from(n).unwrap_or(i64::MAX));
            }
        }
        self.last_pass_skips.clear();
        for skip in report.passes.iter().flat_map(|p| &p.plan.skips) {
            self.last_pass_skips
                .get_or_create(&vec![("reason", skip.reason.to_string())])
                .inc();
        }
        let gaps: usize = report.passes.iter().map(|p| p.discovery.gaps.len()).sum();
        self.last_pass_gaps
            .set(i64::try_from(gaps).unwrap_or(i64::MAX));
        self.managed_triggers.clear();
        for pass in &report.passes {
            for (kind, n) in pass.ledger.count_by_kind() {
                self.managed_triggers
                    .get_or_create(&vec![("kind", kind.to_owned())])
                    .inc_by(i64::try_from(n).unwrap_or(i64::MAX));
            }
        }
        self.last_pass_targets.clear();
        self.last_pass_target_failures.clear();
        self.last_pass_held.clear();
        let failed: std::collections::BTreeSet<(
            &autosub_core::AccountId,
            Option<&autosub_core::Region>,
        )> = report
            .failures
            .iter()
            .map(|f| (&f.account, f.region.as_ref()))
            .collect();
        let reconciled = report
            .passes
            .iter()
            .filter(|p| !failed.contains(&(&p.target.account, Some(&p.target.region))))
            .count();
        for (label, n) in [
            ("reconciled", reconciled),
            ("failed", failed.len()),
            ("held", report.held.len()),
        ] {
            self.last_pass_targets
                .get_or_create(&vec![("outcome", label.to_owned())])
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
        for failure in &report.failures {
            self.last_pass_target_failures
                .get_or_create(&vec![
                    ("account", failure.account.to_string()),
                    (
                        "region",
                        failure
                            .region
                            .as_ref()
                            .map_or_else(|| "*".to_owned(), ToString::to_string),
                    ),
                    ("reason", failure.reason.as_str().to_owned()),
                ])
                .set(1);
        }
        for held in &report.held {
            let until = held
                .until
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64());
            self.last_pass_held
                .get_or_create(&vec![
                    ("account", held.target.account.to_string()),
                    ("region", held.target.region.to_string()),
                    ("owner", held.owner.clone()),
                ])
                .set(until);
        }
        if outcome == RunOutcome::Success {
            self.last_success.set(now_unix);
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut text, &self.registry);
        text
    }
}
