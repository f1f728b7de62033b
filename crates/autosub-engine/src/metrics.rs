//! The daemon's Prometheus metrics: a registry of the vocabulary in [`crate::internal_events`], fed with
//! each run's events.
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
use prometheus_client::registry::{Metric as Exposed, Registry, Unit as ExposedUnit};

use crate::internal_events::{
    Kind, METRICS, Measurement, Metric, QUEUE_MESSAGES, RunEvents, Unit, Value,
};

type Labels = Vec<(&'static str, String)>;

/// The series of one metric, typed as Prometheus stores it: counts as integers, seconds as
/// floats.
enum Series {
    Counter(Family<Labels, Counter>),
    Gauge(Family<Labels, Gauge>),
    SecondsGauge(Family<Labels, Gauge<f64, AtomicU64>>),
    Histogram(Family<Labels, Histogram, fn() -> Histogram>),
}

/// The buckets of a histogram in seconds: 0.5 s to ~4.5 h, since a pass over a small account
/// takes seconds and a paced sweep of a large one hours.
fn seconds_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.5, 2.0, 16))
}

impl Series {
    fn new(metric: &Metric) -> Self {
        match (metric.kind, metric.unit) {
            (Kind::Counter, _) => Self::Counter(Family::default()),
            (Kind::Gauge { .. }, Unit::Count) => Self::Gauge(Family::default()),
            (Kind::Gauge { .. }, Unit::Seconds) => Self::SecondsGauge(Family::default()),
            (Kind::Histogram, _) => {
                Self::Histogram(Family::new_with_constructor(seconds_histogram))
            }
        }
    }

    fn register(&self, registry: &mut Registry, metric: &Metric) {
        fn add(registry: &mut Registry, metric: &Metric, series: impl Exposed) {
            match metric.unit {
                Unit::Count => registry.register(metric.name, metric.help, series),
                Unit::Seconds => {
                    registry.register_with_unit(
                        metric.name,
                        metric.help,
                        ExposedUnit::Seconds,
                        series,
                    );
                }
            }
        }
        match self {
            Self::Counter(f) => add(registry, metric, f.clone()),
            Self::Gauge(f) => add(registry, metric, f.clone()),
            Self::SecondsGauge(f) => add(registry, metric, f.clone()),
            Self::Histogram(f) => add(registry, metric, f.clone()),
        }
    }

    /// Creates the one series of a metric without labels, at zero, so `/metrics` shows it
    /// before the first run.
    fn create_unlabelled(&self) {
        let none = Labels::new();
        match self {
            Self::Counter(f) => drop(f.get_or_create(&none)),
            Self::Gauge(f) => drop(f.get_or_create(&none)),
            Self::SecondsGauge(f) => drop(f.get_or_create(&none)),
            Self::Histogram(f) => drop(f.get_or_create(&none)),
        }
    }

    fn clear(&self) {
        match self {
            Self::Counter(f) => f.clear(),
            Self::Gauge(f) => f.clear(),
            Self::SecondsGauge(f) => f.clear(),
            Self::Histogram(f) => f.clear(),
        }
    }

    fn record(&self, m: &Measurement) {
        let labels: Labels = m
            .label_pairs()
            .map(|(key, value)| (key, value.to_owned()))
            .collect();
        let count = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        match (self, m.value) {
            (Self::Counter(f), Value::Count(v)) => {
                f.get_or_create(&labels).inc_by(v);
            }
            (Self::Gauge(f), Value::Count(v)) => {
                f.get_or_create(&labels).set(count(v));
            }
            (Self::SecondsGauge(f), Value::Seconds(v)) => {
                f.get_or_create(&labels).set(v);
            }
            (Self::Histogram(f), Value::Seconds(v)) => f.get_or_create(&labels).observe(v),
            (series, value) => {
                debug_assert!(
                    false,
                    "{} cannot take {value:?} ({})",
                    m.metric.name,
                    series.describe()
                );
            }
        }
    }

    fn describe(&self) -> &'static str {
        match self {
            Self::Counter(_) => "a counter of counts",
            Self::Gauge(_) => "a gauge of counts",
            Self::SecondsGauge(_) => "a gauge of seconds",
            Self::Histogram(_) => "a histogram of seconds",
        }
    }
}

/// Every metric the daemon serves on `/metrics`.
pub struct Metrics {
    registry: Registry,
    /// One entry per metric of [`METRICS`], in its order.
    series: Vec<(&'static Metric, Series)>,
    /// [`QUEUE_MESSAGES`], counted by the event loop.
    queue_messages: Family<Labels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric of the vocabulary, all at zero.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let series = METRICS
            .iter()
            .map(|&metric| {
                let series = Series::new(metric);
                series.register(&mut registry, metric);
                if metric.labels.is_empty() {
                    series.create_unlabelled();
                }
                (metric, series)
            })
            .collect();
        let queue_messages = Family::<Labels, Counter>::default();
        registry.register(
            QUEUE_MESSAGES.name,
            QUEUE_MESSAGES.help,
            queue_messages.clone(),
        );
        Self {
            registry,
            series,
            queue_messages,
        }
    }

    /// The counter of the event queue's messages that ended as `result` (shared: what the
    /// event loop adds to it `/metrics` serves).
    pub fn queue_messages(&self, result: &str) -> Counter {
        self.queue_messages
            .get_or_create(&vec![(QUEUE_MESSAGES.labels[0], result.to_owned())])
            .clone()
    }

    /// Records a finished run's events: counters add, gauges are set, and a run that replaces
    /// the last one first drops every series the last run's gauges had.
    pub fn record(&self, events: &RunEvents) {
        if events.replaces_last_run() {
            for (_, series) in self.series.iter().filter(|(m, _)| m.describes_last_run()) {
                series.clear();
            }
        }
        for m in events.measurements() {
            if let Some((_, series)) = self.series.iter().find(|(metric, _)| *metric == m.metric) {
                series.record(&m);
            }
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

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::internal_events::RunOutcome;
    use crate::internal_events::fixture::sample;
    use crate::reconcile::RunReport;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn record(metrics: &Metrics, report: &RunReport, outcome: RunOutcome, secs: u64) {
        metrics.record(&RunEvents::of(report, outcome, at(secs)));
    }

    /// The exposition's lines, sorted (a family lists its series in no fixed order), less
    /// the histogram's buckets and the end marker.
    fn lines(metrics: &Metrics) -> Vec<String> {
        let mut lines: Vec<String> = metrics
            .encode()
            .lines()
            .filter(|l| !l.contains("_bucket{") && *l != "# EOF")
            .map(str::to_owned)
            .collect();
        lines.sort();
        lines
    }

    /// The lines of the series of `name` (no help, type or unit lines).
    fn samples(metrics: &Metrics, name: &str) -> Vec<String> {
        lines(metrics)
            .into_iter()
            .filter(|l| {
                l.strip_prefix(name)
                    .is_some_and(|rest| rest.starts_with(['{', ' ']))
            })
            .collect()
    }

    #[test]
    fn a_run_is_exposed_under_the_canonical_names_help_and_labels() {
        let metrics = Metrics::new();
        let report = sample();
        record(&metrics, &report, RunOutcome::of(&report), 1_700_000_000);
        // The names, help texts and labels dashboards and alerts use: these lines were
        // taken from the registry before the vocabulary moved to `internal_events`
        // (`autosub_last_pass_sources` came with it).
        let expected = [
            r#"# HELP autosub_audit What the audit found: drift (a verified trigger gone or changed, restored) and recovered (a trigger of ours the ledger had lost)."#,
            r#"# HELP autosub_aws_calls AWS operations by service, operation and outcome (after the SDK's retries)."#,
            r#"# HELP autosub_aws_throttles AWS attempts answered with a throttling error, retried ones included."#,
            r#"# HELP autosub_changes Changes by action, trigger kind and outcome (applied, skipped, failed)."#,
            r#"# HELP autosub_last_pass_discovery_gaps What the last pass's discoverers could not read (no deletes while above 0)."#,
            r#"# HELP autosub_last_pass_held_until_timestamp_seconds Targets the last pass skipped because another replica holds their lease, by account, region and owner (the holder's id): Unix time the lease lapses unless renewed."#,
            r#"# HELP autosub_last_pass_resources Log groups and buckets of the last pass, by kind and how they were handled (read, trusted from the ledger, swept)."#,
            r#"# HELP autosub_last_pass_skips Sources and triggers the last pass deliberately left alone, by reason."#,
            r#"# HELP autosub_last_pass_sources Log sources the last pass's discoverers found."#,
            r#"# HELP autosub_last_pass_target_failures Targets the last pass could not reconcile, by account, region ("*": every region) and reason."#,
            r#"# HELP autosub_last_pass_targets Targets (account x region) of the last pass, by outcome (reconciled, failed, held: another replica holds its lease)."#,
            r#"# HELP autosub_last_success_timestamp_seconds Unix time the last pass without failures finished."#,
            r#"# HELP autosub_managed_triggers Triggers autosub owns, by kind, as the ledger records them."#,
            r#"# HELP autosub_pass_duration_seconds Wall time of a pass over every target."#,
            r#"# HELP autosub_passes Passes by outcome (success, partial, failed, interrupted)."#,
            r#"# TYPE autosub_audit counter"#,
            r#"# TYPE autosub_aws_calls counter"#,
            r#"# TYPE autosub_aws_throttles counter"#,
            r#"# TYPE autosub_changes counter"#,
            r#"# TYPE autosub_last_pass_discovery_gaps gauge"#,
            r#"# TYPE autosub_last_pass_held_until_timestamp_seconds gauge"#,
            r#"# TYPE autosub_last_pass_resources gauge"#,
            r#"# TYPE autosub_last_pass_skips gauge"#,
            r#"# TYPE autosub_last_pass_sources gauge"#,
            r#"# TYPE autosub_last_pass_target_failures gauge"#,
            r#"# TYPE autosub_last_pass_targets gauge"#,
            r#"# TYPE autosub_last_success_timestamp_seconds gauge"#,
            r#"# TYPE autosub_managed_triggers gauge"#,
            r#"# TYPE autosub_pass_duration_seconds histogram"#,
            r#"# TYPE autosub_passes counter"#,
            r#"# UNIT autosub_last_pass_held_until_timestamp_seconds seconds"#,
            r#"# UNIT autosub_last_success_timestamp_seconds seconds"#,
            r#"# UNIT autosub_pass_duration_seconds seconds"#,
            r#"autosub_audit_total{finding="drift"} 1"#,
            r#"autosub_audit_total{finding="recovered"} 2"#,
            r#"autosub_aws_calls_total{service="logs",operation="PutSubscriptionFilter",outcome="access_denied"} 1"#,
            r#"autosub_aws_calls_total{service="logs",operation="PutSubscriptionFilter",outcome="ok"} 3"#,
            r#"autosub_aws_calls_total{service="s3",operation="ListBuckets",outcome="ok"} 1"#,
            r#"autosub_aws_throttles_total{service="logs"} 2"#,
            r#"autosub_changes_total{action="create",kind="subscription-filter",outcome="applied"} 1"#,
            r#"autosub_changes_total{action="create",kind="subscription-filter",outcome="failed"} 1"#,
            r#"autosub_changes_total{action="delete",kind="subscription-filter",outcome="skipped"} 1"#,
            r#"autosub_changes_total{action="update",kind="subscription-filter",outcome="applied"} 1"#,
            r#"autosub_last_pass_discovery_gaps 1"#,
            r#"autosub_last_pass_held_until_timestamp_seconds{account="444444444444",region="us-east-1",owner="replica-b"} 1800000000.0"#,
            r#"autosub_last_pass_resources{kind="bucket",how="read"} 1"#,
            r#"autosub_last_pass_resources{kind="bucket",how="swept"} 0"#,
            r#"autosub_last_pass_resources{kind="bucket",how="trusted"} 0"#,
            r#"autosub_last_pass_resources{kind="log_group",how="read"} 4"#,
            r#"autosub_last_pass_resources{kind="log_group",how="swept"} 0"#,
            r#"autosub_last_pass_resources{kind="log_group",how="trusted"} 2"#,
            r#"autosub_last_pass_skips{reason="no_free_slot"} 3"#,
            r#"autosub_last_pass_skips{reason="stale_wait"} 1"#,
            r#"autosub_last_pass_sources 2"#,
            r#"autosub_last_pass_target_failures{account="222222222222",region="*",reason="assume_role"} 1"#,
            r#"autosub_last_pass_target_failures{account="333333333333",region="eu-west-1",reason="no_forwarder"} 1"#,
            r#"autosub_last_pass_targets{outcome="failed"} 2"#,
            r#"autosub_last_pass_targets{outcome="held"} 1"#,
            r#"autosub_last_pass_targets{outcome="reconciled"} 2"#,
            r#"autosub_last_success_timestamp_seconds 0.0"#,
            r#"autosub_managed_triggers{kind="subscription-filter"} 2"#,
            r#"autosub_pass_duration_seconds_count 1"#,
            r#"autosub_pass_duration_seconds_sum 1.5"#,
            r#"autosub_passes_total{outcome="partial"} 1"#,
        ];
        assert_eq!(lines(&metrics), expected);
        let buckets: Vec<String> = metrics
            .encode()
            .lines()
            .filter_map(|l| l.strip_prefix("autosub_pass_duration_seconds_bucket{le=\""))
            .map(|l| l.split('"').next().unwrap_or_default().to_owned())
            .collect();
        assert_eq!(
            buckets,
            [
                "0.5", "1.0", "2.0", "4.0", "8.0", "16.0", "32.0", "64.0", "128.0", "256.0",
                "512.0", "1024.0", "2048.0", "4096.0", "8192.0", "16384.0", "+Inf"
            ]
        );
    }

    #[test]
    fn before_the_first_run_the_metrics_without_labels_read_zero() {
        let metrics = Metrics::new();
        for (name, zero) in [
            ("autosub_pass_duration_seconds_count", "0"),
            ("autosub_last_pass_discovery_gaps", "0"),
            ("autosub_last_pass_sources", "0"),
            ("autosub_last_success_timestamp_seconds", "0.0"),
        ] {
            assert_eq!(samples(&metrics, name), [format!("{name} {zero}")]);
        }
        assert!(samples(&metrics, "autosub_passes_total").is_empty());
    }

    #[test]
    fn an_interrupted_run_adds_to_the_counters_and_leaves_the_last_runs_gauges() {
        let metrics = Metrics::new();
        let report = sample();
        record(&metrics, &report, RunOutcome::Partial, 1_700_000_000);
        let gauges = |m: &Metrics| {
            [
                "autosub_last_pass_skips",
                "autosub_last_pass_discovery_gaps",
                "autosub_last_pass_sources",
                "autosub_managed_triggers",
                "autosub_last_pass_targets",
                "autosub_last_pass_target_failures",
                "autosub_last_pass_held_until_timestamp_seconds",
                "autosub_last_pass_resources",
            ]
            .map(|name| samples(m, name))
        };
        let before = gauges(&metrics);
        record(
            &metrics,
            &RunReport::default(),
            RunOutcome::Interrupted,
            1_700_000_100,
        );
        assert_eq!(gauges(&metrics), before);
        assert_eq!(
            samples(&metrics, "autosub_passes_total"),
            [
                "autosub_passes_total{outcome=\"interrupted\"} 1",
                "autosub_passes_total{outcome=\"partial\"} 1",
            ]
        );
        assert_eq!(
            samples(&metrics, "autosub_pass_duration_seconds_count"),
            ["autosub_pass_duration_seconds_count 2"]
        );
    }

    #[test]
    fn a_targeted_run_adds_to_the_counters_and_leaves_the_last_runs_gauges() {
        let metrics = Metrics::new();
        let report = sample();
        record(&metrics, &report, RunOutcome::Partial, 1_700_000_000);
        let last_run = |m: &Metrics| {
            [
                "autosub_last_pass_targets",
                "autosub_managed_triggers",
                "autosub_last_pass_sources",
            ]
            .map(|name| samples(m, name))
        };
        let before = last_run(&metrics);
        let targeted = RunEvents::of(&report, RunOutcome::Success, at(1_700_000_100)).targeted();
        assert!(!targeted.replaces_last_run());
        metrics.record(&targeted);
        assert_eq!(
            last_run(&metrics),
            before,
            "the gauges describe the scheduled pass"
        );
        assert_eq!(
            samples(&metrics, "autosub_passes_total"),
            [
                "autosub_passes_total{outcome=\"partial\"} 1",
                "autosub_passes_total{outcome=\"success\"} 1",
            ]
        );
    }

    #[test]
    fn a_finished_run_replaces_every_series_of_the_last_runs_gauges() {
        let metrics = Metrics::new();
        let report = sample();
        record(&metrics, &report, RunOutcome::Partial, 1_700_000_000);
        record(
            &metrics,
            &RunReport::default(),
            RunOutcome::Success,
            1_700_000_200,
        );
        for gone in [
            "autosub_last_pass_skips",
            "autosub_managed_triggers",
            "autosub_last_pass_target_failures",
            "autosub_last_pass_held_until_timestamp_seconds",
            "autosub_last_pass_resources",
        ] {
            assert_eq!(samples(&metrics, gone), Vec::<String>::new(), "{gone}");
        }
        assert_eq!(
            samples(&metrics, "autosub_last_pass_targets"),
            [
                "autosub_last_pass_targets{outcome=\"failed\"} 0",
                "autosub_last_pass_targets{outcome=\"held\"} 0",
                "autosub_last_pass_targets{outcome=\"reconciled\"} 0",
            ]
        );
        assert_eq!(
            samples(&metrics, "autosub_last_pass_discovery_gaps"),
            ["autosub_last_pass_discovery_gaps 0"]
        );
        assert_eq!(
            samples(&metrics, "autosub_last_success_timestamp_seconds"),
            ["autosub_last_success_timestamp_seconds 1700000200.0"]
        );
        // Counters keep what the first run added.
        assert_eq!(
            samples(&metrics, "autosub_audit_total"),
            [
                "autosub_audit_total{finding=\"drift\"} 1",
                "autosub_audit_total{finding=\"recovered\"} 2",
            ]
        );
    }
}
