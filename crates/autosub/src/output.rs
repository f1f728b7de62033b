//! What the commands print on stdout, and the exit code it implies.

use autosub_core::audit::FullReason;
use autosub_core::render::{plan_json, plan_text, table};
use autosub_engine::PassReport;
use autosub_engine::reconcile::TargetFailure;
use autosub_engine::{ChangeOutcome, Outcome};
use serde_json::json;

use std::collections::BTreeMap;

use crate::cli::Format;
use crate::exit;

/// Prints the plan (and in apply mode the outcomes) of every pass.
pub fn plans(
    format: Format,
    reports: &[PassReport],
    failures: &[TargetFailure],
    calls: &CallCounts,
) -> u8 {
    match format {
        Format::Text => {
            for report in reports {
                let title = format!("Plan for {}", report.target);
                print!("{}", plan_text(&title, &report.plan));
                print_audit(report);
                print_gaps(report);
                if let Some(outcomes) = &report.outcomes {
                    print_outcomes(outcomes);
                }
                println!();
            }
            eprintln!("{} AWS API calls", calls.values().sum::<u64>());
        }
        Format::Json => {
            let passes: Vec<_> = reports
                .iter()
                .map(|r| {
                    let plan: serde_json::Value =
                        serde_json::from_str(&plan_json(&r.plan)).unwrap_or_default();
                    json!({
                        "target": r.target,
                        "plan": plan,
                        "gaps": r.discovery.gaps,
                        "outcomes": r.outcomes,
                        "audit": r.audit,
                    })
                })
                .collect();
            print_json(
                &json!({ "passes": passes, "failures": failures, "aws_calls": calls_json(calls) }),
            );
        }
    }
    status(reports)
}

/// Prints every discovered source.
pub fn discovery(
    format: Format,
    reports: &[PassReport],
    failures: &[TargetFailure],
    calls: &CallCounts,
) -> u8 {
    match format {
        Format::Text => {
            for report in reports {
                println!(
                    "Sources in {}: {}",
                    report.target,
                    report.discovery.sources.len()
                );
                let rows: Vec<[String; 3]> = report
                    .discovery
                    .sources
                    .iter()
                    .map(|s| {
                        [
                            s.service.to_string(),
                            s.resource_arn.clone(),
                            s.location.to_string(),
                        ]
                    })
                    .collect();
                let mut out = String::new();
                table(&mut out, ["SERVICE", "RESOURCE", "LOCATION"], &rows);
                print!("{out}");
                print_gaps(report);
                println!();
            }
            eprintln!("{} AWS API calls", calls.values().sum::<u64>());
        }
        Format::Json => {
            let passes: Vec<_> = reports
                .iter()
                .map(|r| json!({ "target": r.target, "sources": r.discovery.sources, "gaps": r.discovery.gaps }))
                .collect();
            print_json(
                &json!({ "passes": passes, "failures": failures, "aws_calls": calls_json(calls) }),
            );
        }
    }
    if reports.iter().any(|r| !r.discovery.gaps.is_empty()) {
        exit::PARTIAL
    } else {
        exit::OK
    }
}

/// AWS operations of the run by (service, operation, outcome), from the SDK interceptor.
pub type CallCounts = BTreeMap<(String, String, String), u64>;

fn calls_json(calls: &CallCounts) -> serde_json::Value {
    let by_operation: Vec<_> = calls
        .iter()
        .map(|((service, operation, outcome), count)| {
            json!({ "service": service, "operation": operation, "outcome": outcome, "count": count })
        })
        .collect();
    json!({ "total": calls.values().sum::<u64>(), "by_operation": by_operation })
}

fn status(reports: &[PassReport]) -> u8 {
    let partial = reports
        .iter()
        .any(|r| r.failures() > 0 || !r.discovery.gaps.is_empty());
    if partial { exit::PARTIAL } else { exit::OK }
}

/// One line on what the pass read: a full audit and why, or what it trusted the ledger for.
fn print_audit(report: &PassReport) {
    let a = &report.audit;
    let how = match a.full {
        Some(FullReason::Asked) => "full audit (asked)".to_owned(),
        Some(FullReason::NoLedger) => {
            "full audit (ledger = \"none\": nothing can be trusted)".to_owned()
        }
        Some(FullReason::FirstPass) => "full audit (no previous pass in the ledger)".to_owned(),
        None => format!(
            "incremental audit: {} and {} trusted from the ledger, {} re-verified ({} drifted), {} and {} swept for lost triggers ({} found)",
            count(a.log_groups_trusted, "log group"),
            count(a.buckets_trusted, "bucket"),
            a.audited,
            a.drift,
            count(a.log_groups_swept, "log group"),
            count(a.buckets_swept, "bucket"),
            a.recovered
        ),
    };
    println!(
        "\nRead {} and {}; {how}.",
        count(a.log_groups_read, "log group"),
        count(a.buckets_read, "bucket")
    );
}

/// `1 bucket`, `2 buckets`.
fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

fn print_gaps(report: &PassReport) {
    if report.discovery.gaps.is_empty() {
        return;
    }
    println!("\nDiscovery was incomplete (no deletes this pass):");
    let rows: Vec<[String; 2]> = report
        .discovery
        .gaps
        .iter()
        .map(|g| [g.service.to_string(), g.detail.clone()])
        .collect();
    let mut out = String::new();
    table(&mut out, ["SERVICE", "COULD NOT READ"], &rows);
    print!("{out}");
}

fn print_outcomes(outcomes: &[ChangeOutcome]) {
    let applied = outcomes
        .iter()
        .filter(|o| o.outcome == Outcome::Applied)
        .count();
    println!("\nApplied {applied} of {} changes.", outcomes.len());
    let rows: Vec<[String; 4]> = outcomes
        .iter()
        .filter_map(|o| match &o.outcome {
            Outcome::Applied => None,
            Outcome::Skipped { reason, detail } => Some([
                "skipped".into(),
                o.change.trigger.resource(),
                reason.to_string(),
                detail.clone(),
            ]),
            Outcome::Failed { class, error } => Some([
                "failed".into(),
                o.change.trigger.resource(),
                class.clone(),
                error.clone(),
            ]),
        })
        .collect();
    if !rows.is_empty() {
        let mut out = String::new();
        table(&mut out, ["OUTCOME", "RESOURCE", "CLASS", "DETAIL"], &rows);
        print!("{out}");
    }
}

fn print_json(value: &serde_json::Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
}
