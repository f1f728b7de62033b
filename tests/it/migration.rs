//! Forwarder migration against moto: when a region's configured forwarder changes, the triggers
//! move to the new one, and the statements autosub added to the old forwarder go once nothing
//! of ours points there (the ledger remembers which forwarder held them).

use autosub_testkit::estate::{FunctionSpec, create_function, function_policy_sids};

use crate::e2e::{Demo, changes};

const OLD: &str = "arn:aws:lambda:us-east-1:123456789012:function:datadog-forwarder";
const NEW: &str = "arn:aws:lambda:us-east-1:123456789012:function:datadog-forwarder-v2";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_forwarder_takes_the_triggers_and_the_old_one_loses_our_statements() {
    let demo = Demo::start().await;
    demo.json(&["reconcile"], 0);
    let ours = |sids: Vec<String>| -> Vec<String> {
        sids.into_iter()
            .filter(|s| s.starts_with("autosub-"))
            .collect()
    };
    let before = function_policy_sids(&demo.us, OLD).await.unwrap();
    assert_eq!(
        ours(before),
        ["autosub-s3-123456789012"],
        "the template grants logs itself"
    );

    create_function(
        &demo.us,
        &FunctionSpec::new("datadog-forwarder-v2", &demo.estate.role_arn),
    )
    .await
    .unwrap();
    let config = std::fs::read_to_string(&demo.config).unwrap();
    let moved = config.replacen(
        &format!("us-east-1 = \"{OLD}\""),
        &format!("us-east-1 = \"{NEW}\""),
        1,
    );
    assert_ne!(config, moved, "the demo config names the old forwarder");
    std::fs::write(&demo.config, moved).unwrap();

    // A full audit: only it may conclude that nothing of ours uses a statement any more.
    let out = demo.json(&["reconcile", "--full-audit"], 0);
    let planned = changes(&out);
    assert!(
        planned.contains(&format!(
            "delete invoke_permission {OLD} autosub-s3-123456789012"
        )),
        "{planned:?}"
    );
    assert!(
        planned.contains("update subscription_filter /aws/lambda/checkout-api"),
        "{planned:?}"
    );
    assert!(ours(function_policy_sids(&demo.us, OLD).await.unwrap()).is_empty());
    let new = ours(function_policy_sids(&demo.us, NEW).await.unwrap());
    assert_eq!(
        new,
        ["autosub-logs-123456789012", "autosub-s3-123456789012"]
    );

    // Converged: the next pass plans nothing.
    let again = demo.json(&["plan", "--detailed-exitcode", "--full-audit"], 0);
    assert!(changes(&again).is_empty(), "{:?}", changes(&again));
}
