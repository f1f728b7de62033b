//! The incremental audit end to end: the built binary against the demo estate in moto, with a
//! file ledger. An idle pass reads only what can matter; a trigger deleted by hand comes back
//! once its turn in the audit window comes; a lost ledger is rebuilt without deleting anything.
//! Time passing is simulated by moving the ledger's timestamps back, never by sleeping.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde_json::Value;

use crate::e2e::{Demo, changes};

/// Log groups no source writes to, added to the demo estate.
const QUIET_GROUPS: usize = 60;

/// DescribeSubscriptionFilters calls of a run, from its `aws_calls`.
fn describes(out: &Value) -> u64 {
    out["aws_calls"]["by_operation"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["operation"] == "DescribeSubscriptionFilters")
        .map(|c| c["count"].as_u64().unwrap_or_default())
        .sum()
}

/// `audit.<field>` of every pass.
fn audit(out: &Value, field: &str) -> Vec<Value> {
    out["passes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| p["audit"][field].clone())
        .collect()
}

fn ledger_path(demo: &Demo) -> PathBuf {
    demo.config
        .parent()
        .expect("the config is in a directory")
        .join("autosub-ledger.json")
}

/// Moves every timestamp of the ledger `secs` into the past, as if the passes that wrote it
/// had run that long ago.
fn age_ledger(demo: &Demo, secs: u64) {
    let path = ledger_path(demo);
    let mut doc: Value =
        serde_json::from_slice(&std::fs::read(&path).expect("read the ledger")).expect("JSON");
    let back = |v: &mut Value| {
        if let Some(t) = v.as_u64() {
            *v = Value::from(t - secs);
        }
    };
    for target in doc["targets"]
        .as_object_mut()
        .expect("targets")
        .values_mut()
    {
        back(&mut target["last_pass_at"]);
        for record in target["verified"]
            .as_object_mut()
            .into_iter()
            .flat_map(|m| m.values_mut())
        {
            back(&mut record["seen_at"]);
        }
    }
    std::fs::write(&path, serde_json::to_vec_pretty(&doc).expect("JSON")).expect("write");
}

async fn demo_with_quiet_groups() -> Demo {
    let demo = Demo::start().await;
    for i in 0..QUIET_GROUPS {
        autosub_testkit::estate::create_log_group(&demo.us, &format!("/app/quiet-{i:03}"))
            .await
            .expect("create a quiet log group");
    }
    demo
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_pass_does_not_describe_unrelated_log_groups() {
    let demo = demo_with_quiet_groups().await;
    let first = demo.json(&["reconcile"], 0);
    assert_eq!(audit(&first, "full"), ["first_pass", "first_pass"]);
    let first_describes = describes(&first);
    assert!(
        first_describes >= QUIET_GROUPS as u64,
        "the first pass reads every log group: {first_describes}"
    );

    let idle = demo.json(&["plan"], 0);
    assert_eq!(changes(&idle), BTreeSet::new());
    assert_eq!(audit(&idle, "full"), [Value::Null, Value::Null]);
    let read: u64 = audit(&idle, "log_groups_read")
        .iter()
        .filter_map(Value::as_u64)
        .sum();
    assert_eq!(
        describes(&idle),
        read,
        "every describe is a group the audit chose"
    );
    // Seconds after the first pass, each region's share of the window is at most one verified
    // group and one unrelated group; the rest are desired groups no verified record covers
    // (the group whose slots are full, re-read until one frees up).
    for swept in audit(&idle, "log_groups_swept") {
        assert!(swept.as_u64() <= Some(1), "swept {swept}");
    }
    assert!(
        read <= 6,
        "the idle pass read {read} log groups of {first_describes}: {idle:#}"
    );
    let trusted: u64 = audit(&idle, "log_groups_trusted")
        .iter()
        .filter_map(Value::as_u64)
        .sum();
    assert!(trusted >= 5, "the subscribed groups are trusted: {trusted}");

    // --full-audit still reads everything.
    let full = demo.json(&["plan", "--full-audit"], 0);
    assert_eq!(audit(&full, "full"), ["asked", "asked"]);
    assert_eq!(describes(&full), first_describes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trigger_deleted_by_hand_is_restored_by_the_audit_within_its_window() {
    let demo = demo_with_quiet_groups().await;
    demo.json(&["reconcile"], 0);
    // Not the first verified group by name: that one is the share an idle pass re-reads first.
    let group = "/aws/lambda/payments-worker";
    demo.us
        .logs
        .delete_subscription_filter()
        .log_group_name(group)
        .filter_name("autosub")
        .send()
        .await
        .expect("delete our filter by hand");

    // Right away the ledger vouches for the group: its turn has not come, so it is not read.
    let soon = demo.json(&["plan"], 0);
    assert_eq!(changes(&soon), BTreeSet::new(), "{soon:#}");

    // A window later its turn has come: the audit re-reads it, restores it and counts drift.
    age_ledger(&demo, 24 * 60 * 60);
    let later = demo.json(&["reconcile"], 0);
    assert_eq!(
        changes(&later),
        BTreeSet::from([format!("create subscription_filter {group}")])
    );
    let drift: u64 = audit(&later, "drift")
        .iter()
        .filter_map(Value::as_u64)
        .sum();
    assert_eq!(drift, 1);
    let filters = demo
        .us
        .logs
        .describe_subscription_filters()
        .log_group_name(group)
        .send()
        .await
        .expect("read filters");
    let names: Vec<_> = filters
        .subscription_filters()
        .iter()
        .filter_map(|f| f.filter_name())
        .collect();
    assert_eq!(names, ["autosub"]);
    assert_eq!(changes(&demo.json(&["plan"], 0)), BTreeSet::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_ledger_is_rebuilt_by_the_sweep_without_deleting_anything_foreign() {
    let demo = demo_with_quiet_groups().await;
    demo.json(&["reconcile"], 0);
    let ledger: Value =
        serde_json::from_slice(&std::fs::read(ledger_path(&demo)).expect("ledger")).expect("JSON");
    let foreign_before = demo.foreign_state().await;

    std::fs::remove_file(ledger_path(&demo)).expect("lose the ledger");
    let rebuilt = demo.json(&["reconcile"], 0);
    assert_eq!(audit(&rebuilt, "full"), ["first_pass", "first_pass"]);
    assert_eq!(
        changes(&rebuilt),
        BTreeSet::new(),
        "nothing is deleted or added"
    );
    assert_eq!(demo.foreign_state().await, foreign_before);

    let again: Value =
        serde_json::from_slice(&std::fs::read(ledger_path(&demo)).expect("ledger")).expect("JSON");
    for (target, before) in ledger["targets"].as_object().expect("targets") {
        let keys = |l: &Value| -> BTreeSet<String> {
            l["triggers"]
                .as_object()
                .into_iter()
                .flat_map(|m| m.keys().cloned())
                .collect()
        };
        assert_eq!(keys(&again["targets"][target]), keys(before), "{target}");
        for entry in again["targets"][target]["triggers"]
            .as_object()
            .expect("triggers")
            .values()
        {
            assert_eq!(
                entry["origin"], "found",
                "a rebuilt entry was found, not created"
            );
        }
    }
    let idle = demo.json(&["plan"], 0);
    assert_eq!(audit(&idle, "full"), [Value::Null, Value::Null]);
    assert_eq!(changes(&idle), BTreeSet::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweep_finds_a_trigger_of_ours_the_ledger_lost() {
    let demo = demo_with_quiet_groups().await;
    demo.json(&["reconcile"], 0);
    let group = "/aws/lambda/payments-worker";
    // Its source goes away, and the ledger loses what it knew of the group: only the sweep can
    // find our filter there now.
    demo.us
        .lambda
        .delete_function()
        .function_name("payments-worker")
        .send()
        .await
        .expect("delete the function");
    let path = ledger_path(&demo);
    let mut doc: Value =
        serde_json::from_slice(&std::fs::read(&path).expect("read the ledger")).expect("JSON");
    let us = &mut doc["targets"]["123456789012/us-east-1"];
    let key = format!("subscription-filter log-group:{group} autosub");
    assert!(
        us["triggers"]
            .as_object_mut()
            .expect("triggers")
            .remove(&key)
            .is_some()
    );
    us["verified"]
        .as_object_mut()
        .expect("verified")
        .remove(&format!("log-group:{group}"));
    std::fs::write(&path, serde_json::to_vec_pretty(&doc).expect("JSON")).expect("write");

    // A window later the sweep has covered every unrelated group, this one included.
    age_ledger(&demo, 24 * 60 * 60);
    let swept = demo.json(&["reconcile"], 0);
    assert_eq!(
        changes(&swept),
        BTreeSet::from([format!("delete subscription_filter {group}")])
    );
    let recovered: u64 = audit(&swept, "recovered")
        .iter()
        .filter_map(Value::as_u64)
        .sum();
    assert_eq!(recovered, 1);
    assert_eq!(audit(&swept, "full"), [Value::Null, Value::Null]);
}
