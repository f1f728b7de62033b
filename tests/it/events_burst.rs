//! Event-driven mode under a burst, on the in-memory fake AWS (SQS included) at AWS's quotas,
//! on tokio's paused clock: `autosub run`'s daemon, in this process, absorbs 1,000
//! CreateLogGroup events sent within one minute for one account and region, without a
//! throttled call, a duplicate write, a redelivered or a lost event. moto has no quotas, so
//! this is the fake's to show; how long the burst takes is in `docs/performance.md` (the
//! `events` bench), not asserted here.

use std::time::Duration;

use autosub_testkit::events::cloudtrail_message;
use autosub_testkit::fake::{FakeAws, FakeConfig, FleetShape, only_served_services};
use serde_json::json;
use tokio::time::Instant;

use crate::e2e::tempdir::Dir;
use crate::in_process_daemon::{InProcessDaemon, following_config};
use crate::on_fake::factory;

const ACCOUNT: &str = "111111111111";
const REGION: &str = "us-east-1";
const FORWARDER: &str = "arn:aws:lambda:us-east-1:111111111111:function:datadog-forwarder";
const BURST: usize = 1_000;
/// Simulated time after the last event within which the daemon must have drained the queue:
/// far above the quota-bound ~200 s (1,000 filter reads and writes at 5/s each).
const DRAIN_LIMIT: Duration = Duration::from_secs(1_800);

#[tokio::test(start_paused = true)]
async fn a_thousand_new_log_groups_in_a_minute_are_absorbed_without_throttles_duplicates_or_losses()
{
    let dir = Dir::new();
    let fake = FakeAws::new(FakeConfig::default());
    fake.seed_fleet(&FleetShape {
        functions_per_target: 0,
        buckets_per_target: 0,
        ..FleetShape::default()
    });
    // Functions known to the startup pass, whose log groups appear only with the burst (as
    // Lambda creates a group at a function's first invocation).
    let groups: Vec<String> = (0..BURST)
        .map(|i| {
            let name = format!("burst-{i:04}");
            fake.add_function(ACCOUNT, REGION, &name, None);
            format!("/aws/lambda/{name}")
        })
        .collect();
    let queue = fake.create_queue(ACCOUNT, REGION, "autosub-events", Duration::from_secs(30));
    let dlq = fake.create_queue(
        ACCOUNT,
        REGION,
        "autosub-events-dlq",
        Duration::from_secs(30),
    );
    assert!(fake.set_redrive(&queue, &dlq, 5));
    let daemon = InProcessDaemon::new(
        factory(&fake),
        following_config(ACCOUNT, REGION, &dir.0, &queue, &only_served_services()),
    );

    let puts_before = daemon
        .run_until(async {
            daemon.started().await;
            let puts_before = fake
                .stats_of(ACCOUNT, REGION, "logs:PutSubscriptionFilter")
                .requests;
            let start = Instant::now();
            for (i, group) in groups.iter().enumerate() {
                tokio::time::sleep_until(start + Duration::from_secs(60) * i as u32 / BURST as u32)
                    .await;
                fake.add_log_group(ACCOUNT, REGION, group, "STANDARD");
                let event = cloudtrail_message(
                    ACCOUNT,
                    REGION,
                    "logs.amazonaws.com",
                    "CreateLogGroup",
                    json!({"logGroupName": group}),
                );
                fake.send_message(&queue, &event).expect("the queue exists");
            }
            let sent = Instant::now();
            while daemon.state.events.handled.get() < BURST as u64 {
                assert!(
                    sent.elapsed() < DRAIN_LIMIT,
                    "{} of {BURST} events handled {DRAIN_LIMIT:?} after the burst",
                    daemon.state.events.handled.get()
                );
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            puts_before
        })
        .await;

    // Nothing lost: every new group has the forwarder's filter, and the queue is empty.
    let unsubscribed: Vec<&String> = groups
        .iter()
        .filter(|g| {
            let filters = fake.filters(ACCOUNT, REGION, g).unwrap_or_default();
            filters.len() != 1 || filters[0].destination_arn != FORWARDER
        })
        .collect();
    assert!(
        unsubscribed.is_empty(),
        "{} groups without exactly the forwarder's filter, e.g. {:?}",
        unsubscribed.len(),
        unsubscribed.first()
    );
    let depth = fake.queue_depth(&queue).expect("the queue");
    assert_eq!(
        (depth.visible, depth.in_flight),
        (0, 0),
        "the queue drained"
    );
    let dead = fake.queue_depth(&dlq).expect("the dead-letter queue");
    assert_eq!(dead.visible, 0, "nothing dead-lettered");
    // Each event received once and handled once: none came back while its run was at work.
    assert_eq!(fake.deliveries(&queue), BURST as u64, "no redelivery");
    let events = &daemon.state.events;
    assert_eq!(
        (
            events.received.get(),
            events.handled.get(),
            events.retried.get()
        ),
        (BURST as u64, BURST as u64, 0)
    );
    // One write per group, none throttled: the pacer kept every API within its quota.
    let puts = fake.stats_of(ACCOUNT, REGION, "logs:PutSubscriptionFilter");
    assert_eq!(
        puts.requests - puts_before,
        BURST as u64,
        "no duplicate write"
    );
    assert_eq!(fake.total_throttles(), 0, "no call throttled");
    assert!(puts.max_per_second <= 5, "{puts:?}");
}
