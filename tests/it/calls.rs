//! The AWS calls of the demo estate's runs, snapshotted per operation, and the totals that
//! `docs/architecture.md` quotes: a change in what a pass calls shows up in review, and the
//! docs cannot drift from it.

use regex::Regex;
use serde_json::{Value, json};

use crate::e2e::Demo;

/// `aws_calls.by_operation` as `service:Operation outcome → count`, sorted.
fn by_operation(run: &Value) -> Value {
    let mut rows: Vec<(String, u64)> = run["aws_calls"]["by_operation"]
        .as_array()
        .expect("aws_calls.by_operation")
        .iter()
        .map(|row| {
            (
                format!(
                    "{}:{} {}",
                    row["service"].as_str().unwrap(),
                    row["operation"].as_str().unwrap(),
                    row["outcome"].as_str().unwrap()
                ),
                row["count"].as_u64().unwrap(),
            )
        })
        .collect();
    rows.sort();
    Value::Object(rows.into_iter().map(|(k, v)| (k, json!(v))).collect())
}

/// The totals of the table under "## AWS calls of a pass", in order.
fn quoted_totals() -> Vec<u64> {
    let doc = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/architecture.md"),
    )
    .unwrap();
    let section = doc
        .split("## AWS calls of a pass")
        .nth(1)
        .expect("the section")
        .split("\n## ")
        .next()
        .unwrap();
    let row = Regex::new(r"(?m)^\| `[^`]+`[^|]* \| (\d+) \|$").unwrap();
    row.captures_iter(section)
        .map(|c| c[1].parse().unwrap())
        .collect()
}

/// A first `plan` and the `reconcile` after it (both full audits) are snapshotted per operation
/// and their totals must be the ones the docs quote; the idle `plan` after them costs less.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_estate_s_calls_are_the_ones_snapshotted_and_quoted() {
    let demo = Demo::start().await;
    let first = demo.json(&["plan"], 0);
    let reconcile = demo.json(&["reconcile"], 0);
    let steady = demo.json(&["plan"], 0);
    let total = |run: &Value| run["aws_calls"]["total"].as_u64().unwrap();
    // Full audits: the same calls every time.
    insta::assert_json_snapshot!(
        "demo_estate_calls",
        json!({
            "plan (first)": by_operation(&first),
            "reconcile": by_operation(&reconcile),
        })
    );
    assert_eq!(
        quoted_totals(),
        [total(&first), total(&reconcile)],
        "docs/architecture.md quotes the totals of plan (first) and reconcile"
    );
    // An idle pass reads the audit's share, which grows with the seconds since the last pass:
    // never more than a full audit.
    assert!(
        total(&steady) < total(&first),
        "{} ≥ {}",
        total(&steady),
        total(&first)
    );
}
