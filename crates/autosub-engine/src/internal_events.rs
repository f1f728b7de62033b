//! The typed events a finished run produces, and the one metric vocabulary every sink records
//! them under. Internal, as Vector calls its own: what autosub did, not the AWS events
//! `follow` reacts to.
//!
//! [`RunEvents::of`] turns a run's report into [`Event`]s once. Three sinks consume them: the
//! daemon's Prometheus registry ([`crate::metrics`]), the DogStatsD lines
//! (`autosub_ops::telemetry`) and the daemon's `pass finished` log line ([`RunEvents::summary`]).
//! Each metric is defined once, in [`METRICS`]: its name, kind, unit, help text and label keys.
//! The Prometheus names are the canonical vocabulary (dashboards and alerts use them); a sink
//! derives its own spelling from the definition ([`Metric::prometheus_name`],
//! [`Metric::statsd_name`]) and never names a metric or a label itself. What each event records
//! is decided in one place too, [`RunEvents::measurements`], so the two metric sinks cannot
//! disagree on a name, a label or a value.
//!
//! A leaf of the run: it reads `report` and `pass`; `metrics` and `daemon` read it.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};

use autosub_core::plan::{Action, SkipReason};
use autosub_core::{AccountId, Region};

use crate::Outcome;
use crate::pass::{PassReport, Target};
use crate::report::{FailureReason, RunReport};

/// How a metric accumulates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Counts up: Prometheus adds each run's increment over the process's life; DogStatsD sends
    /// each run's increment and Datadog adds them up.
    Counter,
    /// A value set by a run.
    Gauge {
        /// The value describes the last finished run only: every run that was not interrupted
        /// replaces all of its series, so a series the run did not set disappears.
        last_run: bool,
    },
    /// Observations, one per run: Prometheus buckets them, the DogStatsD agent derives
    /// `.avg`, `.max`, `.median`, `.95percentile` and `.count` from them.
    Histogram,
}

impl Kind {
    /// The kind as the docs name it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Counter => "counter",
            Self::Gauge { .. } => "gauge",
            Self::Histogram => "histogram",
        }
    }
}

/// What a metric's values measure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// A count of things: an integer.
    Count,
    /// Seconds (a duration or a Unix time): a float, and `_seconds` ends the name.
    Seconds,
}

/// One metric of the vocabulary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Metric {
    /// The name without the unit and `_total` suffixes, as the Prometheus registry takes it.
    pub name: &'static str,
    /// How it accumulates.
    pub kind: Kind,
    /// What its values measure.
    pub unit: Unit,
    /// What it means, for `# HELP` and the docs.
    pub help: &'static str,
    /// Its label keys (DogStatsD tag keys), in order.
    pub labels: &'static [&'static str],
}

impl Metric {
    /// The name Prometheus exposes: the unit suffix, then `_total` for a counter
    /// (`autosub_passes_total`, `autosub_pass_duration_seconds`).
    pub fn prometheus_name(&self) -> String {
        let mut name = self.name.to_owned();
        if self.unit == Unit::Seconds {
            name.push_str("_seconds");
        }
        if self.kind == Kind::Counter {
            name.push_str("_total");
        }
        name
    }

    /// The DogStatsD name: the Prometheus name with `autosub.` for `autosub_` and without
    /// `_total` (`autosub.passes`, `autosub.pass_duration_seconds`).
    pub fn statsd_name(&self) -> String {
        let rest = self.name.strip_prefix("autosub_").unwrap_or(self.name);
        match self.unit {
            Unit::Count => format!("autosub.{rest}"),
            Unit::Seconds => format!("autosub.{rest}_seconds"),
        }
    }

    /// True for a gauge that describes the last finished run only.
    pub fn describes_last_run(&self) -> bool {
        self.kind == Kind::Gauge { last_run: true }
    }
}

/// The value a label takes when it stands for every value: a failure of every region of an
/// account has `region="*"`. DogStatsD leaves such a tag out, since a Datadog tag cannot hold `*`.
pub const EVERY: &str = "*";

/// Wall time of a run over every target.
pub static PASS_DURATION: Metric = Metric {
    name: "autosub_pass_duration",
    kind: Kind::Histogram,
    unit: Unit::Seconds,
    help: "Wall time of a pass over every target",
    labels: &[],
};
/// Runs by outcome.
pub static PASSES: Metric = Metric {
    name: "autosub_passes",
    kind: Kind::Counter,
    unit: Unit::Count,
    help: "Passes by outcome (success, partial, failed, interrupted)",
    labels: &["outcome"],
};
/// Changes by what happened to them.
pub static CHANGES: Metric = Metric {
    name: "autosub_changes",
    kind: Kind::Counter,
    unit: Unit::Count,
    help: "Changes by action, trigger kind and outcome (applied, skipped, failed)",
    labels: &["action", "kind", "outcome"],
};
/// AWS operations.
pub static AWS_CALLS: Metric = Metric {
    name: "autosub_aws_calls",
    kind: Kind::Counter,
    unit: Unit::Count,
    help: "AWS operations by service, operation and outcome (after the SDK's retries)",
    labels: &["service", "operation", "outcome"],
};
/// Throttled AWS attempts.
pub static AWS_THROTTLES: Metric = Metric {
    name: "autosub_aws_throttles",
    kind: Kind::Counter,
    unit: Unit::Count,
    help: "AWS attempts answered with a throttling error, retried ones included",
    labels: &["service"],
};
/// Skips of the last run.
pub static LAST_PASS_SKIPS: Metric = Metric {
    name: "autosub_last_pass_skips",
    kind: Kind::Gauge { last_run: true },
    unit: Unit::Count,
    help: "Sources and triggers the last pass deliberately left alone, by reason",
    labels: &["reason"],
};
/// Discovery gaps of the last run.
pub static LAST_PASS_DISCOVERY_GAPS: Metric = Metric {
    name: "autosub_last_pass_discovery_gaps",
    kind: Kind::Gauge { last_run: true },
    unit: Unit::Count,
    help: "What the last pass's discoverers could not read (no deletes while above 0)",
    labels: &[],
};
/// When a run last succeeded.
pub static LAST_SUCCESS_TIMESTAMP: Metric = Metric {
    name: "autosub_last_success_timestamp",
    kind: Kind::Gauge { last_run: false },
    unit: Unit::Seconds,
    help: "Unix time the last pass without failures finished",
    labels: &[],
};
/// Triggers we own.
pub static MANAGED_TRIGGERS: Metric = Metric {
    name: "autosub_managed_triggers",
    kind: Kind::Gauge { last_run: true },
    unit: Unit::Count,
    help: "Triggers autosub owns, by kind, as the ledger records them",
    labels: &["kind"],
};
/// Targets of the last run by outcome.
pub static LAST_PASS_TARGETS: Metric = Metric {
    name: "autosub_last_pass_targets",
    kind: Kind::Gauge { last_run: true },
    unit: Unit::Count,
    help: "Targets (account x region) of the last pass, by outcome (reconciled, failed, held: another replica holds its lease)",
    labels: &["outcome"],
};
/// Targets the last run could not reconcile.
pub static LAST_PASS_TARGET_FAILURES: Metric = Metric {
    name: "autosub_last_pass_target_failures",
    kind: Kind::Gauge { last_run: true },
    unit: Unit::Count,
    help: "Targets the last pass could not reconcile, by account, region (\"*\": every region) and reason",
    labels: &["account", "region", "reason"],
};
/// Targets the last run found held by another replica.
pub static LAST_PASS_HELD_UNTIL_TIMESTAMP: Metric = Metric {
    name: "autosub_last_pass_held_until_timestamp",
    kind: Kind::Gauge { last_run: true },
    unit: Unit::Seconds,
    help: "Targets the last pass skipped because another replica holds their lease, by account, region and owner (the holder's id): Unix time the lease lapses unless renewed",
    labels: &["account", "region", "owner"],
};
/// What the audit found.
pub static AUDIT: Metric = Metric {
    name: "autosub_audit",
    kind: Kind::Counter,
    unit: Unit::Count,
    help: "What the audit found: drift (a verified trigger gone or changed, restored) and recovered (a trigger of ours the ledger had lost)",
    labels: &["finding"],
};
/// What the last run read, trusted and swept.
pub static LAST_PASS_RESOURCES: Metric = Metric {
    name: "autosub_last_pass_resources",
    kind: Kind::Gauge { last_run: true },
    unit: Unit::Count,
    help: "Log groups and buckets of the last pass, by kind and how they were handled (read, trusted from the ledger, swept)",
    labels: &["kind", "how"],
};
/// Sources the last run discovered.
pub static LAST_PASS_SOURCES: Metric = Metric {
    name: "autosub_last_pass_sources",
    kind: Kind::Gauge { last_run: true },
    unit: Unit::Count,
    help: "Log sources the last pass's discoverers found",
    labels: &[],
};

/// The event queue's messages by what became of them (event-driven mode). Counted by the event
/// loop as messages come, not by a run, so it is not among [`METRICS`]: `/metrics` serves it
/// after them, and DogStatsD, which sends each run's events, does not carry it.
pub static QUEUE_MESSAGES: Metric = Metric {
    name: "autosub_queue_messages",
    kind: Kind::Counter,
    unit: Unit::Count,
    help: "Messages of the event queue by result (received, handled, ignored, unreadable, retried) and targeted runs (runs)",
    labels: &["result"],
};

/// Every metric, in the order `/metrics` lists them.
pub static METRICS: [&Metric; 15] = [
    &PASS_DURATION,
    &PASSES,
    &CHANGES,
    &AWS_CALLS,
    &AWS_THROTTLES,
    &LAST_PASS_SKIPS,
    &LAST_PASS_DISCOVERY_GAPS,
    &LAST_SUCCESS_TIMESTAMP,
    &MANAGED_TRIGGERS,
    &LAST_PASS_TARGETS,
    &LAST_PASS_TARGET_FAILURES,
    &LAST_PASS_HELD_UNTIL_TIMESTAMP,
    &AUDIT,
    &LAST_PASS_RESOURCES,
    &LAST_PASS_SOURCES,
];

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
        let broken = |p: &PassReport| {
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

/// What happened to a change, as `autosub_changes_total{outcome}` labels it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ChangeResult {
    /// Done, or found already done.
    Applied,
    /// Left for a later pass, for a reason that is no failure.
    Skipped,
    /// The AWS call failed.
    Failed,
}

impl ChangeResult {
    /// The label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Applied => "applied",
            Self::Skipped => "skipped",
            Self::Failed => "failed",
        }
    }

    fn of(outcome: &Outcome) -> Self {
        match outcome {
            Outcome::Applied => Self::Applied,
            Outcome::Skipped { .. } => Self::Skipped,
            Outcome::Failed { .. } => Self::Failed,
        }
    }
}

/// What the audit found, as `autosub_audit_total{finding}` labels it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finding {
    /// A verified trigger gone or changed, restored.
    Drift,
    /// A trigger of ours the ledger had lost.
    Recovered,
}

impl Finding {
    /// The label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Drift => "drift",
            Self::Recovered => "recovered",
        }
    }
}

/// A kind of resource a pass reads, as `autosub_last_pass_resources{kind}` labels it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResourceKind {
    /// A CloudWatch Logs log group.
    LogGroup,
    /// An S3 bucket.
    Bucket,
}

impl ResourceKind {
    /// The label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::LogGroup => "log_group",
            Self::Bucket => "bucket",
        }
    }
}

/// How a pass handled a resource, as `autosub_last_pass_resources{how}` labels it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Handling {
    /// Its triggers were read.
    Read,
    /// Trusted unread, on the ledger's word.
    Trusted,
    /// Read by the sweep for lost triggers.
    Swept,
}

impl Handling {
    /// The label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Trusted => "trusted",
            Self::Swept => "swept",
        }
    }
}

/// How a target fared in a run, as `autosub_last_pass_targets{outcome}` labels it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetOutcome {
    /// Its pass ran and the target did not fail.
    Reconciled,
    /// It could not be (fully) reconciled.
    Failed,
    /// Another replica holds its lease.
    Held,
}

impl TargetOutcome {
    /// The label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reconciled => "reconciled",
            Self::Failed => "failed",
            Self::Held => "held",
        }
    }
}

/// Something a finished run did or found. Counts are over the whole run (every target).
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// The run finished.
    RunFinished {
        /// How it ended.
        outcome: RunOutcome,
        /// Its wall time.
        duration: Duration,
        /// When it finished.
        at: SystemTime,
    },
    /// Changes of one action and trigger kind that ended alike.
    Changes {
        /// Create, update or delete.
        action: Action,
        /// The trigger kind (`subscription-filter`, …).
        kind: &'static str,
        /// What happened to them.
        result: ChangeResult,
        /// How many.
        count: u64,
    },
    /// AWS operations that ended alike.
    AwsCalls {
        /// The AWS service (`logs`, `s3`, …).
        service: String,
        /// The operation (`PutSubscriptionFilter`, …).
        operation: String,
        /// `ok` or the error class.
        outcome: String,
        /// How many.
        count: u64,
    },
    /// Attempts a service answered with a throttling error.
    AwsThrottles {
        /// The AWS service.
        service: String,
        /// How many.
        count: u64,
    },
    /// What the audit found.
    Audit {
        /// Drift or recovered.
        finding: Finding,
        /// How many.
        count: u64,
    },
    /// Resources of one kind the passes handled alike.
    Resources {
        /// Log groups or buckets.
        kind: ResourceKind,
        /// Read, trusted or swept.
        how: Handling,
        /// How many.
        count: u64,
    },
    /// Sources and triggers deliberately left alone for one reason.
    Skips {
        /// Why.
        reason: SkipReason,
        /// How many.
        count: u64,
    },
    /// What the discoverers could not read.
    DiscoveryGaps {
        /// How many gaps.
        count: u64,
    },
    /// What the discoverers found.
    SourcesDiscovered {
        /// How many log sources.
        count: u64,
    },
    /// Triggers of one kind we own, as the ledgers record them after the run.
    ManagedTriggers {
        /// The trigger kind.
        kind: String,
        /// How many.
        count: u64,
    },
    /// Targets that fared alike.
    Targets {
        /// Reconciled, failed or held.
        outcome: TargetOutcome,
        /// How many.
        count: u64,
    },
    /// A target, or every region of an account, that could not be reconciled.
    TargetFailed {
        /// The account.
        account: AccountId,
        /// The region; unset when the whole account failed.
        region: Option<Region>,
        /// Why.
        reason: FailureReason,
    },
    /// A target skipped because another replica holds its lease.
    TargetHeld {
        /// The target.
        target: Target,
        /// The holder's id.
        owner: String,
        /// When the lease lapses unless renewed.
        until: SystemTime,
    },
}

/// A value of a metric.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value {
    /// A count ([`Unit::Count`]).
    Count(u64),
    /// Seconds ([`Unit::Seconds`]).
    Seconds(f64),
}

/// One value an event records under a metric: what every metric sink writes.
#[derive(Clone, Debug, PartialEq)]
pub struct Measurement {
    /// The metric.
    pub metric: &'static Metric,
    /// The label values, in the order of the metric's label keys.
    pub labels: Vec<String>,
    /// The value: an increment for a counter, the value for a gauge, an observation for a
    /// histogram.
    pub value: Value,
}

impl Measurement {
    fn new(metric: &'static Metric, labels: Vec<String>, value: Value) -> Self {
        debug_assert_eq!(labels.len(), metric.labels.len(), "{}", metric.name);
        Self {
            metric,
            labels,
            value,
        }
    }

    fn count(metric: &'static Metric, labels: Vec<String>, count: u64) -> Self {
        Self::new(metric, labels, Value::Count(count))
    }

    /// The label keys with their values, in order.
    pub fn label_pairs(&self) -> impl Iterator<Item = (&'static str, &str)> + '_ {
        self.metric
            .labels
            .iter()
            .copied()
            .zip(self.labels.iter().map(String::as_str))
    }
}

/// Seconds since the Unix epoch (0 before it).
fn unix_secs(at: SystemTime) -> f64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl Event {
    /// What the event records, under which metric and labels.
    pub fn measurements(&self) -> Vec<Measurement> {
        let count = Measurement::count;
        match self {
            Self::RunFinished {
                outcome,
                duration,
                at,
            } => {
                let mut out = vec![
                    Measurement::new(
                        &PASS_DURATION,
                        vec![],
                        Value::Seconds(duration.as_secs_f64()),
                    ),
                    count(&PASSES, vec![outcome.as_str().to_owned()], 1),
                ];
                if *outcome == RunOutcome::Success {
                    out.push(Measurement::new(
                        &LAST_SUCCESS_TIMESTAMP,
                        vec![],
                        Value::Seconds(unix_secs(*at)),
                    ));
                }
                out
            }
            Self::Changes {
                action,
                kind,
                result,
                count: n,
            } => vec![count(
                &CHANGES,
                vec![
                    action.to_string(),
                    (*kind).to_owned(),
                    result.as_str().to_owned(),
                ],
                *n,
            )],
            Self::AwsCalls {
                service,
                operation,
                outcome,
                count: n,
            } => vec![count(
                &AWS_CALLS,
                vec![service.clone(), operation.clone(), outcome.clone()],
                *n,
            )],
            Self::AwsThrottles { service, count: n } => {
                vec![count(&AWS_THROTTLES, vec![service.clone()], *n)]
            }
            Self::Audit { finding, count: n } => {
                vec![count(&AUDIT, vec![finding.as_str().to_owned()], *n)]
            }
            Self::Resources {
                kind,
                how,
                count: n,
            } => vec![count(
                &LAST_PASS_RESOURCES,
                vec![kind.as_str().to_owned(), how.as_str().to_owned()],
                *n,
            )],
            Self::Skips { reason, count: n } => {
                vec![count(&LAST_PASS_SKIPS, vec![reason.to_string()], *n)]
            }
            Self::DiscoveryGaps { count: n } => {
                vec![count(&LAST_PASS_DISCOVERY_GAPS, vec![], *n)]
            }
            Self::SourcesDiscovered { count: n } => vec![count(&LAST_PASS_SOURCES, vec![], *n)],
            Self::ManagedTriggers { kind, count: n } => {
                vec![count(&MANAGED_TRIGGERS, vec![kind.clone()], *n)]
            }
            Self::Targets { outcome, count: n } => {
                vec![count(
                    &LAST_PASS_TARGETS,
                    vec![outcome.as_str().to_owned()],
                    *n,
                )]
            }
            Self::TargetFailed {
                account,
                region,
                reason,
            } => vec![count(
                &LAST_PASS_TARGET_FAILURES,
                vec![
                    account.to_string(),
                    region
                        .as_ref()
                        .map_or_else(|| EVERY.to_owned(), ToString::to_string),
                    reason.as_str().to_owned(),
                ],
                1,
            )],
            Self::TargetHeld {
                target,
                owner,
                until,
            } => vec![Measurement::new(
                &LAST_PASS_HELD_UNTIL_TIMESTAMP,
                vec![
                    target.account.to_string(),
                    target.region.to_string(),
                    owner.clone(),
                ],
                Value::Seconds(unix_secs(*until)),
            )],
        }
    }
}

/// The events of one finished run.
#[derive(Clone, Debug, PartialEq)]
pub struct RunEvents {
    /// How the run ended.
    pub outcome: RunOutcome,
    /// What it did and found, run-level first, then by metric; within one kind sorted by
    /// label, so the same report gives the same events.
    pub events: Vec<Event>,
    /// A targeted run (event-driven mode): it saw only what events touched.
    pub targeted: bool,
}

/// A `usize` count as a metric's `u64`.
fn n(count: usize) -> u64 {
    u64::try_from(count).unwrap_or(u64::MAX)
}

impl RunEvents {
    /// The events of `report`, a run that ended as `outcome` at `at`.
    pub fn of(report: &RunReport, outcome: RunOutcome, at: SystemTime) -> Self {
        let passes = &report.passes;
        let mut events = vec![Event::RunFinished {
            outcome,
            duration: report.duration,
            at,
        }];

        let mut changes: BTreeMap<(Action, &'static str, ChangeResult), u64> = BTreeMap::new();
        for o in passes.iter().flat_map(|p| p.outcomes.iter().flatten()) {
            let key = (
                o.change.action,
                o.change.trigger.kind(),
                ChangeResult::of(&o.outcome),
            );
            *changes.entry(key).or_default() += 1;
        }
        events.extend(
            changes
                .into_iter()
                .map(|((action, kind, result), count)| Event::Changes {
                    action,
                    kind,
                    result,
                    count,
                }),
        );
        events.extend(
            report
                .calls
                .iter()
                .map(|((service, operation, outcome), count)| Event::AwsCalls {
                    service: service.clone(),
                    operation: operation.clone(),
                    outcome: outcome.clone(),
                    count: *count,
                }),
        );
        events.extend(
            report
                .throttles
                .iter()
                .map(|(service, count)| Event::AwsThrottles {
                    service: service.clone(),
                    count: *count,
                }),
        );
        // Zeros too, once a pass ran: a series at 0 tells "nothing found" from "never looked".
        if !passes.is_empty() {
            let sum = |f: fn(&PassReport) -> usize| n(passes.iter().map(f).sum());
            for (finding, count) in [
                (Finding::Drift, sum(|p| p.audit.drift)),
                (Finding::Recovered, sum(|p| p.audit.recovered)),
            ] {
                events.push(Event::Audit { finding, count });
            }
            for (kind, how, count) in [
                (
                    ResourceKind::LogGroup,
                    Handling::Read,
                    sum(|p| p.audit.log_groups_read),
                ),
                (
                    ResourceKind::LogGroup,
                    Handling::Trusted,
                    sum(|p| p.audit.log_groups_trusted),
                ),
                (
                    ResourceKind::LogGroup,
                    Handling::Swept,
                    sum(|p| p.audit.log_groups_swept),
                ),
                (
                    ResourceKind::Bucket,
                    Handling::Read,
                    sum(|p| p.audit.buckets_read),
                ),
                (
                    ResourceKind::Bucket,
                    Handling::Trusted,
                    sum(|p| p.audit.buckets_trusted),
                ),
                (
                    ResourceKind::Bucket,
                    Handling::Swept,
                    sum(|p| p.audit.buckets_swept),
                ),
            ] {
                events.push(Event::Resources { kind, how, count });
            }
        }

        let mut skips: BTreeMap<SkipReason, u64> = BTreeMap::new();
        for skip in passes.iter().flat_map(|p| &p.plan.skips) {
            *skips.entry(skip.reason).or_default() += 1;
        }
        events.extend(
            skips
                .into_iter()
                .map(|(reason, count)| Event::Skips { reason, count }),
        );
        events.push(Event::DiscoveryGaps {
            count: n(passes.iter().map(|p| p.discovery.gaps.len()).sum()),
        });
        events.push(Event::SourcesDiscovered {
            count: n(passes.iter().map(|p| p.discovery.sources.len()).sum()),
        });
        let mut managed: BTreeMap<String, u64> = BTreeMap::new();
        for pass in passes {
            for (kind, count) in pass.ledger.count_by_kind() {
                *managed.entry(kind.to_owned()).or_default() += n(count);
            }
        }
        events.extend(
            managed
                .into_iter()
                .map(|(kind, count)| Event::ManagedTriggers { kind, count }),
        );

        // A target counts as failed once, however many of its failures were reported.
        let failed: BTreeSet<(&AccountId, Option<&Region>)> = report
            .failures
            .iter()
            .map(|f| (&f.account, f.region.as_ref()))
            .collect();
        let reconciled = passes
            .iter()
            .filter(|p| !failed.contains(&(&p.target.account, Some(&p.target.region))))
            .count();
        for (outcome, count) in [
            (TargetOutcome::Reconciled, reconciled),
            (TargetOutcome::Failed, failed.len()),
            (TargetOutcome::Held, report.held.len()),
        ] {
            events.push(Event::Targets {
                outcome,
                count: n(count),
            });
        }
        let failures: BTreeSet<(&AccountId, Option<&Region>, FailureReason)> = report
            .failures
            .iter()
            .map(|f| (&f.account, f.region.as_ref(), f.reason))
            .collect();
        events.extend(
            failures
                .into_iter()
                .map(|(account, region, reason)| Event::TargetFailed {
                    account: account.clone(),
                    region: region.cloned(),
                    reason,
                }),
        );
        events.extend(report.held.iter().map(|h| Event::TargetHeld {
            target: h.target.clone(),
            owner: h.owner.clone(),
            until: h.until,
        }));
        Self {
            outcome,
            events,
            targeted: false,
        }
    }

    /// The same events, of a targeted run.
    pub fn targeted(self) -> Self {
        Self {
            targeted: true,
            ..self
        }
    }

    /// True when the run replaces what the last run's gauges said: it was neither interrupted
    /// nor targeted (either saw only part of the estate). The last-pass gauges and readiness
    /// describe the scheduled passes; a targeted run adds to the counters only.
    pub fn replaces_last_run(&self) -> bool {
        self.outcome != RunOutcome::Interrupted && !self.targeted
    }

    /// What the metric sinks record, in event order: every event's measurements, less the
    /// last-run gauges of a run that does not replace them.
    pub fn measurements(&self) -> Vec<Measurement> {
        let keep_last_run = self.replaces_last_run();
        self.events
            .iter()
            .flat_map(Event::measurements)
            .filter(|m| keep_last_run || !m.metric.describes_last_run())
            .collect()
    }

    /// The totals the run's summary log line gives.
    pub fn summary(&self) -> Summary {
        let mut summary = Summary {
            outcome: self.outcome,
            changes: 0,
            failed: 0,
            skips: 0,
            gaps: 0,
            aws_calls: 0,
            duration: Duration::ZERO,
        };
        for event in &self.events {
            match event {
                Event::RunFinished { duration, .. } => summary.duration = *duration,
                Event::Changes { result, count, .. } => {
                    summary.changes += count;
                    if *result == ChangeResult::Failed {
                        summary.failed += count;
                    }
                }
                Event::AwsCalls { count, .. } => summary.aws_calls += count,
                Event::Skips { count, .. } => summary.skips += count,
                Event::DiscoveryGaps { count } => summary.gaps += count,
                Event::AwsThrottles { .. }
                | Event::Audit { .. }
                | Event::Resources { .. }
                | Event::SourcesDiscovered { .. }
                | Event::ManagedTriggers { .. }
                | Event::Targets { .. }
                | Event::TargetFailed { .. }
                | Event::TargetHeld { .. } => {}
            }
        }
        summary
    }
}

/// A run in a few numbers, for its `pass finished` log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Summary {
    /// How the run ended.
    pub outcome: RunOutcome,
    /// Changes, whatever happened to them (`autosub_changes_total`).
    pub changes: u64,
    /// Of those, the ones that failed (`autosub_changes_total{outcome="failed"}`).
    pub failed: u64,
    /// Skips (`autosub_last_pass_skips`).
    pub skips: u64,
    /// Discovery gaps (`autosub_last_pass_discovery_gaps`).
    pub gaps: u64,
    /// AWS operations (`autosub_aws_calls_total`).
    pub aws_calls: u64,
    /// Wall time (`autosub_pass_duration_seconds`).
    pub duration: Duration,
}

/// A run over two targets of one account, with two failed targets and one held: every event
/// kind, for the sinks' tests.
#[cfg(test)]
pub(crate) mod fixture {
    use std::collections::BTreeMap;
    use std::time::{Duration, SystemTime};

    use autosub_core::plan::{Action, Change, ChangeReason, Plan, Skip, SkipReason, Trigger};
    use autosub_core::{Discovery, Gap, Location, LogGroupName, LogSource, Service};
    use autosub_triggers::{ChangeOutcome, Outcome};

    use crate::observe::AuditReport;
    use crate::pass::{PassReport, Target};
    use crate::reconcile::{FailureReason, HeldTarget, RunReport, TargetFailure};

    fn filter(group: &str) -> Trigger {
        Trigger::SubscriptionFilter {
            log_group: LogGroupName::new(group),
            filter_name: "autosub".into(),
            pattern: String::new(),
            destination: "arn:aws:lambda:us-east-1:111111111111:function:fwd".into(),
        }
    }

    /// The run.
    pub(crate) fn sample() -> RunReport {
        let change = |action, group: &str| Change {
            action,
            trigger: filter(group),
            reason: ChangeReason::NoSource,
            after: None,
        };
        let skip = |reason| Skip {
            subject: "log-group:/x".into(),
            reason,
            detail: "d".into(),
        };
        let mut ledger = autosub_core::ledger::TargetLedger::default();
        let c1 = change(Action::Create, "/a");
        let c2 = change(Action::Create, "/b");
        let c3 = change(Action::Delete, "/c");
        let c4 = change(Action::Update, "/d");
        ledger.record_applied(&c1, 10);
        ledger.record_applied(&c4, 10);
        let us = PassReport {
            target: Target {
                account: "111111111111".into(),
                region: "us-east-1".into(),
            },
            discovery: Discovery {
                sources: vec![
                    LogSource {
                        service: Service::Lambda,
                        resource_arn: "arn:1".into(),
                        location: Location::LogGroup {
                            name: LogGroupName::new("/a"),
                        },
                    },
                    LogSource {
                        service: Service::Lambda,
                        resource_arn: "arn:2".into(),
                        location: Location::LogGroup {
                            name: LogGroupName::new("/b"),
                        },
                    },
                ],
                unsubscribable: vec![],
                loops: vec![],
                gaps: vec![Gap {
                    service: Service::Lambda,
                    detail: "denied".into(),
                }],
            },
            plan: Plan {
                changes: vec![c1.clone(), c2.clone(), c3.clone(), c4.clone()],
                skips: vec![
                    skip(SkipReason::NoFreeSlot),
                    skip(SkipReason::NoFreeSlot),
                    skip(SkipReason::StaleWait),
                ],
                ..Plan::default()
            },
            outcomes: Some(vec![
                ChangeOutcome {
                    change: c1,
                    outcome: Outcome::Applied,
                },
                ChangeOutcome {
                    change: c2,
                    outcome: Outcome::Failed {
                        class: "access_denied".into(),
                        error: "e".into(),
                    },
                },
                ChangeOutcome {
                    change: c3,
                    outcome: Outcome::Skipped {
                        reason: SkipReason::Shutdown,
                        detail: "s".into(),
                    },
                },
                ChangeOutcome {
                    change: c4,
                    outcome: Outcome::Applied,
                },
            ]),
            ledger,
            interrupted: false,
            no_forwarder: None,
            audit: AuditReport {
                log_groups_read: 3,
                log_groups_trusted: 2,
                buckets_read: 1,
                drift: 1,
                ..AuditReport::default()
            },
        };
        let eu = PassReport {
            target: Target {
                account: "111111111111".into(),
                region: "eu-west-1".into(),
            },
            discovery: Discovery::default(),
            plan: Plan {
                skips: vec![skip(SkipReason::NoFreeSlot)],
                ..Plan::default()
            },
            outcomes: Some(vec![]),
            ledger: autosub_core::ledger::TargetLedger::default(),
            interrupted: false,
            no_forwarder: None,
            audit: AuditReport {
                log_groups_read: 1,
                recovered: 2,
                ..AuditReport::default()
            },
        };
        RunReport {
            passes: vec![eu, us],
            failures: vec![
                TargetFailure {
                    account: "222222222222".into(),
                    region: None,
                    reason: FailureReason::AssumeRole,
                    message: "m".into(),
                },
                TargetFailure {
                    account: "333333333333".into(),
                    region: Some("eu-west-1".into()),
                    reason: FailureReason::NoForwarder,
                    message: "m".into(),
                },
            ],
            held: vec![HeldTarget {
                target: Target {
                    account: "444444444444".into(),
                    region: "us-east-1".into(),
                },
                owner: "replica-b".into(),
                until: SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
            }],
            calls: BTreeMap::from([
                (
                    ("logs".into(), "PutSubscriptionFilter".into(), "ok".into()),
                    3,
                ),
                (
                    (
                        "logs".into(),
                        "PutSubscriptionFilter".into(),
                        "access_denied".into(),
                    ),
                    1,
                ),
                (("s3".into(), "ListBuckets".into(), "ok".into()), 1),
            ]),
            throttles: BTreeMap::from([("logs".into(), 2)]),
            ledger_errors: vec![],
            duration: Duration::from_millis(1500),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::time::{Duration, SystemTime};

    use super::fixture::sample;
    use super::*;

    #[test]
    fn each_metric_is_defined_once_with_names_every_sink_can_spell() {
        let prometheus: BTreeSet<String> = METRICS.iter().map(|m| m.prometheus_name()).collect();
        let statsd: BTreeSet<String> = METRICS.iter().map(|m| m.statsd_name()).collect();
        assert_eq!(prometheus.len(), METRICS.len(), "{prometheus:?}");
        assert_eq!(statsd.len(), METRICS.len(), "{statsd:?}");
        let snake = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        };
        for m in METRICS {
            assert!(
                m.name.starts_with("autosub_") && snake(m.name),
                "{}",
                m.name
            );
            assert!(!m.help.is_empty() && !m.help.ends_with('.'), "{}", m.name);
            let keys: BTreeSet<&str> = m.labels.iter().copied().collect();
            assert_eq!(keys.len(), m.labels.len(), "{}: a label key twice", m.name);
            assert!(m.labels.iter().all(|k| snake(k)), "{}", m.name);
            // Counters count things; a histogram observes seconds.
            match m.kind {
                Kind::Counter => assert_eq!(m.unit, Unit::Count, "{}", m.name),
                Kind::Histogram => assert_eq!(m.unit, Unit::Seconds, "{}", m.name),
                Kind::Gauge { .. } => {}
            }
        }
        assert_eq!(PASSES.prometheus_name(), "autosub_passes_total");
        assert_eq!(PASSES.statsd_name(), "autosub.passes");
        assert_eq!(
            PASS_DURATION.prometheus_name(),
            "autosub_pass_duration_seconds"
        );
        assert_eq!(PASS_DURATION.statsd_name(), "autosub.pass_duration_seconds");
        assert_eq!(LAST_PASS_SKIPS.statsd_name(), "autosub.last_pass_skips");
    }

    #[test]
    fn a_run_measures_every_metric_once_per_label_set() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let run = RunEvents::of(&sample(), RunOutcome::Success, at);
        let measured = run.measurements();
        let mut seen = BTreeSet::new();
        for m in &measured {
            assert!(
                METRICS.iter().any(|v| std::ptr::eq(*v, m.metric)),
                "{} is in the vocabulary",
                m.metric.name
            );
            assert_eq!(m.labels.len(), m.metric.labels.len(), "{m:?}");
            assert!(
                matches!(
                    (m.metric.unit, m.value),
                    (Unit::Count, Value::Count(_)) | (Unit::Seconds, Value::Seconds(_))
                ),
                "{m:?}"
            );
            assert!(
                seen.insert((m.metric.name, m.labels.clone())),
                "{m:?} measured twice"
            );
        }
        let names: BTreeSet<&str> = measured.iter().map(|m| m.metric.name).collect();
        let all: BTreeSet<&str> = METRICS.iter().map(|m| m.name).collect();
        assert_eq!(names, all, "the sample exercises every metric");
    }

    #[test]
    fn a_report_becomes_events_counted_over_every_target() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let report = sample();
        let run = RunEvents::of(&report, RunOutcome::of(&report), at);
        let value = |metric: &Metric, labels: &[&str]| -> Option<Value> {
            run.measurements()
                .into_iter()
                .find(|m| m.metric == metric && m.labels == labels)
                .map(|m| m.value)
        };
        assert_eq!(run.outcome, RunOutcome::Partial);
        assert_eq!(value(&PASSES, &["partial"]), Some(Value::Count(1)));
        assert_eq!(
            value(&PASS_DURATION, &[]),
            Some(Value::Seconds(1.5)),
            "the run's wall time"
        );
        assert_eq!(
            value(&LAST_SUCCESS_TIMESTAMP, &[]),
            None,
            "only a success sets it"
        );
        assert_eq!(
            value(&CHANGES, &["create", "subscription-filter", "failed"]),
            Some(Value::Count(1))
        );
        assert_eq!(
            value(&LAST_PASS_SKIPS, &["no_free_slot"]),
            Some(Value::Count(3)),
            "two in us-east-1, one in eu-west-1"
        );
        assert_eq!(value(&LAST_PASS_SOURCES, &[]), Some(Value::Count(2)));
        assert_eq!(value(&LAST_PASS_DISCOVERY_GAPS, &[]), Some(Value::Count(1)));
        assert_eq!(
            value(&LAST_PASS_TARGETS, &["reconciled"]),
            Some(Value::Count(2))
        );
        assert_eq!(
            value(
                &LAST_PASS_TARGET_FAILURES,
                &["222222222222", EVERY, "assume_role"]
            ),
            Some(Value::Count(1))
        );
        assert_eq!(
            value(
                &LAST_PASS_HELD_UNTIL_TIMESTAMP,
                &["444444444444", "us-east-1", "replica-b"]
            ),
            Some(Value::Seconds(1_800_000_000.0))
        );
        assert_eq!(
            value(&LAST_PASS_RESOURCES, &["log_group", "read"]),
            Some(Value::Count(4))
        );
    }

    #[test]
    fn the_summary_line_counts_what_the_metrics_count() {
        let report = sample();
        let run = RunEvents::of(&report, RunOutcome::of(&report), SystemTime::UNIX_EPOCH);
        assert_eq!(
            run.summary(),
            Summary {
                outcome: RunOutcome::Partial,
                changes: 4,
                failed: 1,
                skips: 4,
                gaps: 1,
                aws_calls: 5,
                duration: Duration::from_millis(1500),
            }
        );
        // An interrupted run measures no last-run gauge, yet its line still counts them.
        let cut = RunEvents::of(&report, RunOutcome::Interrupted, SystemTime::UNIX_EPOCH);
        assert!(
            cut.measurements()
                .iter()
                .all(|m| !m.metric.describes_last_run())
        );
        assert!(cut.measurements().iter().any(|m| m.metric == &CHANGES));
        assert_eq!(
            cut.summary(),
            Summary {
                outcome: RunOutcome::Interrupted,
                ..run.summary()
            }
        );
    }

    #[test]
    fn a_run_that_failed_before_any_pass_counts_as_failed_and_reads_zero() {
        let run = RunEvents::of(
            &RunReport::default(),
            RunOutcome::Failed,
            SystemTime::UNIX_EPOCH,
        );
        let lines: Vec<(String, Vec<String>, Value)> = run
            .measurements()
            .into_iter()
            .map(|m| (m.metric.prometheus_name(), m.labels, m.value))
            .collect();
        let s = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            lines,
            [
                (
                    "autosub_pass_duration_seconds".to_owned(),
                    vec![],
                    Value::Seconds(0.0)
                ),
                (
                    "autosub_passes_total".into(),
                    s(&["failed"]),
                    Value::Count(1)
                ),
                (
                    "autosub_last_pass_discovery_gaps".into(),
                    vec![],
                    Value::Count(0)
                ),
                ("autosub_last_pass_sources".into(), vec![], Value::Count(0)),
                (
                    "autosub_last_pass_targets".into(),
                    s(&["reconciled"]),
                    Value::Count(0)
                ),
                (
                    "autosub_last_pass_targets".into(),
                    s(&["failed"]),
                    Value::Count(0)
                ),
                (
                    "autosub_last_pass_targets".into(),
                    s(&["held"]),
                    Value::Count(0)
                ),
            ]
        );
    }
}
