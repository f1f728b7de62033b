//! Event-driven mode end to end: `autosub run`, the built binary, against moto seeded with the
//! demo estate, following a queue that a real EventBridge rule (moto's) fills with
//! CloudTrail-shaped events. The schedule is daily, so after the startup pass only events can
//! bring a change. Each event is handled by a targeted pass that reads nothing unrelated, and a
//! poison message ends in the dead-letter queue while the loop keeps working.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use autosub_core::Service;
use autosub_core::cloudtrail::rule_pattern;
use autosub_testkit::estate::{self, FunctionSpec};
use autosub_testkit::events::{self as plumbing, EventPlumbing};
use serde_json::json;

use crate::daemon::{Daemon, eventually, eventually_async, filter_names, free_port};
use crate::e2e::Demo;

/// Appends `[events]` for `queue_url` to the demo config, with a daily schedule.
fn follow_queue(demo: &Demo, queue_url: &str) {
    let mut config = std::fs::read_to_string(&demo.config).expect("read the demo config");
    config.push_str(&format!(
        "\n[run]\nschedule = \"0 0 3 * * *\"\nshutdown_grace_secs = 10\n\n[events]\nqueue_url = \"{queue_url}\"\ndebounce_ms = 200\n"
    ));
    std::fs::write(&demo.config, config).expect("write the config");
}

/// AWS calls of one operation the daemon made so far, from `/metrics`.
fn calls(daemon: &Daemon, operation: &str) -> f64 {
    daemon.metric(
        "autosub_aws_calls_total",
        &[&format!("operation=\"{operation}\"")],
    )
}

/// Targeted runs finished so far, from the daemon's log.
fn targeted_runs(daemon: &Daemon) -> usize {
    daemon
        .log_lines()
        .iter()
        .filter(|l| l.contains("targeted run finished"))
        .count()
}

/// Waits for one more targeted run than `before`; how long it took.
fn next_targeted_run(daemon: &Daemon, before: usize) -> Duration {
    let started = Instant::now();
    eventually("a targeted run finished", || targeted_runs(daemon) > before);
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_handled_by_targeted_passes_that_read_nothing_unrelated() {
    let demo = Demo::start().await;
    let sdk = demo.moto.sdk_config("us-east-1");
    let all: BTreeSet<Service> = Service::ALL.into_iter().collect();
    let EventPlumbing { queue_url, dlq_url } =
        plumbing::create(&sdk, "autosub-events", &rule_pattern(&all), 2)
            .await
            .expect("create the queue and the rule");
    follow_queue(&demo, &queue_url);
    let daemon = Daemon::start(&demo, free_port());
    eventually("the daemon listens", || daemon.get("/healthz").is_some());
    eventually("the startup pass finished", || daemon.passes() >= 1.0);
    let listings = calls(&daemon, "DescribeLogGroups");

    // A new function and its log group (Lambda makes it on the first invocation; moto never).
    let role = estate::create_lambda_role(&demo.us, "autosub-events-role")
        .await
        .expect("role");
    estate::create_function(&demo.us, &FunctionSpec::new("events-new", &role))
        .await
        .expect("create the function");
    let group = "/aws/lambda/events-new";
    demo.us
        .logs
        .create_log_group()
        .log_group_name(group)
        .send()
        .await
        .expect("create the log group");
    let before = targeted_runs(&daemon);
    let reads = calls(&daemon, "DescribeSubscriptionFilters");
    for (source, name, request) in [
        (
            "lambda.amazonaws.com",
            "CreateFunction20150331",
            json!({"functionName": "events-new"}),
        ),
        (
            "logs.amazonaws.com",
            "CreateLogGroup",
            json!({"logGroupName": group}),
        ),
    ] {
        plumbing::put_cloudtrail_event(&sdk, &demo.estate.account, source, name, request)
            .await
            .expect("put the event");
    }
    let took = next_targeted_run(&daemon, before);
    eventually_async("the new log group is subscribed", || async {
        filter_names(&demo, group)
            .await
            .contains(&"autosub".to_owned())
    })
    .await;
    eprintln!("new function subscribed {took:?} after its events");
    // One lookup and one filter read for the one group in play; the region is not listed.
    assert_eq!(calls(&daemon, "DescribeSubscriptionFilters") - reads, 1.0);
    assert!(
        calls(&daemon, "DescribeLogGroups") - listings <= 1.0,
        "the targeted pass looked its group up, it did not list the region"
    );

    // A filter deleted by hand comes back.
    let checkout = "/aws/lambda/checkout-api";
    assert!(
        filter_names(&demo, checkout)
            .await
            .contains(&"autosub".to_owned())
    );
    demo.us
        .logs
        .delete_subscription_filter()
        .log_group_name(checkout)
        .filter_name("autosub")
        .send()
        .await
        .expect("delete the filter by hand");
    let before = targeted_runs(&daemon);
    plumbing::put_cloudtrail_event(
        &sdk,
        &demo.estate.account,
        "logs.amazonaws.com",
        "DeleteSubscriptionFilter",
        json!({"logGroupName": checkout, "filterName": "autosub"}),
    )
    .await
    .expect("put the event");
    next_targeted_run(&daemon, before);
    eventually_async("the deleted filter is back", || async {
        filter_names(&demo, checkout)
            .await
            .contains(&"autosub".to_owned())
    })
    .await;

    // A poison message ends in the dead-letter queue; the loop keeps working.
    plumbing::send_raw(&sdk, &queue_url, "{this is not an event")
        .await
        .expect("send the poison message");
    eventually_async("the poison message is dead-lettered", || async {
        plumbing::depth(&sdk, &dlq_url).await.unwrap_or_default() == 1
    })
    .await;

    // A bucket starts logging to a new bucket: the log bucket gets our notification.
    for bucket in ["events-src", "events-logs"] {
        demo.us
            .s3
            .create_bucket()
            .bucket(bucket)
            .send()
            .await
            .expect("create the bucket");
    }
    estate::allow_log_delivery(&demo.us, "events-logs")
        .await
        .expect("allow log delivery");
    estate::put_bucket_logging(&demo.us, "events-src", "events-logs", "src/")
        .await
        .expect("turn logging on");
    let notification_reads = calls(&daemon, "GetBucketNotificationConfiguration");
    let before = targeted_runs(&daemon);
    plumbing::put_cloudtrail_event(
        &sdk,
        &demo.estate.account,
        "s3.amazonaws.com",
        "PutBucketLogging",
        json!({"bucketName": "events-src"}),
    )
    .await
    .expect("put the event");
    next_targeted_run(&daemon, before);
    eventually_async("the log bucket notifies the forwarder", || async {
        demo.us
            .s3
            .get_bucket_notification_configuration()
            .bucket("events-logs")
            .send()
            .await
            .is_ok_and(|c| {
                c.lambda_function_configurations()
                    .iter()
                    .any(|l| l.id().unwrap_or_default().starts_with("autosub-"))
            })
    })
    .await;
    // The one bucket in play (observed, re-read to merge before the write, read back after
    // it): none of the demo's other notified buckets.
    let read = calls(&daemon, "GetBucketNotificationConfiguration") - notification_reads;
    assert!(
        read <= 3.0,
        "{read} notification reads for one bucket in play"
    );

    // A deleted function: its pass runs, and its filter stays until the scheduled passes
    // count it stale (a targeted pass never deletes).
    let payments = "/aws/lambda/payments-worker";
    demo.us
        .lambda
        .delete_function()
        .function_name("payments-worker")
        .send()
        .await
        .expect("delete the function");
    let before = targeted_runs(&daemon);
    plumbing::put_cloudtrail_event(
        &sdk,
        &demo.estate.account,
        "lambda.amazonaws.com",
        "DeleteFunction20150331",
        json!({"functionName": "payments-worker"}),
    )
    .await
    .expect("put the event");
    next_targeted_run(&daemon, before);
    assert!(
        filter_names(&demo, payments)
            .await
            .contains(&"autosub".to_owned())
    );

    eventually_async("every handled message is deleted", || async {
        plumbing::depth(&sdk, &queue_url).await.unwrap_or(1) == 0
    })
    .await;
    let unreadable = daemon.metric("autosub_queue_messages_total", &["result=\"unreadable\""]);
    assert!(unreadable >= 1.0, "the poison message is counted");
}
