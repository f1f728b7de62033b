//! Event-driven mode's latency: from a CloudTrail event's message becoming visible in the queue
//! to the subscription filter it calls for being written, with `autosub run`'s daemon in this
//! process (its event loop, targeted passes, pacer, file ledger) following the queue.
//!
//! Run: `cargo bench -p autosub-tests --bench events [-- fake|moto|burst] [<events>]` (all
//! three by default, 200 events; `moto` needs `moto_server` on PATH, which `scripts/test.sh`
//! installs; `RUST_LOG=info` shows the daemon's log).
//!
//! - `fake`: the in-memory fake AWS at AWS's quotas with 20 ms per call, SQS included, on
//!   tokio's paused clock: the latencies are simulated time, exact and noise-free.
//! - `moto`: a real `moto_server`, wall-clock time: the message is sent with SQS SendMessage,
//!   and the write time is the filter's `creationTime` as moto recorded it.
//! - `burst`: 1,000 CreateLogGroup events within one minute on the fake: how long until every
//!   group is subscribed, against the quota-bound time, and the events' latencies.
//!
//! `fake` and `moto` send 200 events at random (Poisson) times, one a second on average,
//! alternating two kinds: a new log group of a function the daemon already knows
//! (CreateLogGroup, as Lambda creates it at the first invocation) and a new function whose log
//! group exists (CreateFunction). Results: `docs/performance.md`.

#[path = "../support/in_process_daemon.rs"]
mod in_process_daemon;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use autosub_aws::factory::{AwsSettings, ClientFactory};
use autosub_core::Region;
use autosub_testkit::estate::{self, Clients, FunctionSpec};
use autosub_testkit::events::cloudtrail_message;
use autosub_testkit::fake::{
    FAKE_ENDPOINT, FakeAws, FakeConfig, FleetShape, only_served_services, unit_interval,
};
use autosub_testkit::moto::{MOTO_DEFAULT_ACCOUNT, MotoServer};
use in_process_daemon::{InProcessDaemon, following_config};
use serde_json::json;

const FAKE_ACCOUNT: &str = "111111111111";
const REGION: &str = "us-east-1";
const EVENTS: usize = 200;
const BURST: usize = 1_000;
/// How long the daemon may take to handle every event once the last was sent.
const DRAIN_LIMIT: Duration = Duration::from_secs(1_800);

/// One event of the run: what it announces, and the log group whose filter it calls for.
struct Arrival {
    /// Since the first event.
    at: Duration,
    kind: Kind,
    name: String,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A known function's log group was created.
    NewLogGroup,
    /// A function was created; its log group exists.
    NewFunction,
}

impl Arrival {
    fn group(&self) -> String {
        format!("/aws/lambda/{}", self.name)
    }

    /// The message EventBridge would deliver for it.
    fn message(&self, account: &str) -> String {
        match self.kind {
            Kind::NewLogGroup => cloudtrail_message(
                account,
                REGION,
                "logs.amazonaws.com",
                "CreateLogGroup",
                json!({"logGroupName": self.group()}),
            ),
            Kind::NewFunction => cloudtrail_message(
                account,
                REGION,
                "lambda.amazonaws.com",
                "CreateFunction20150331",
                json!({"functionName": self.name}),
            ),
        }
    }
}

/// `n` events at Poisson times averaging `mean` apart (a fixed sequence), alternating kinds.
fn arrivals(n: usize, mean: Duration) -> Vec<Arrival> {
    let mut at = Duration::ZERO;
    (0..n)
        .map(|i| {
            let arrival = Arrival {
                at,
                kind: if i % 2 == 0 {
                    Kind::NewLogGroup
                } else {
                    Kind::NewFunction
                },
                name: format!("latency-{i:03}"),
            };
            at += mean.mul_f64(-(1.0 - unit_interval(i as u64)).ln());
            arrival
        })
        .collect()
}

/// `n` events evenly within one minute, all new log groups.
fn burst(n: usize) -> Vec<Arrival> {
    (0..n)
        .map(|i| Arrival {
            at: Duration::from_secs(60) * i as u32 / n as u32,
            kind: Kind::NewLogGroup,
            name: format!("burst-{i:04}"),
        })
        .collect()
}

/// What one run measured.
struct Latencies {
    /// Per event, with its kind.
    each: Vec<(Kind, Duration)>,
    /// From the first event to the last filter written.
    span: Duration,
    runs: u64,
}

impl Latencies {
    fn row(&self, label: &str, kind: Option<Kind>) -> String {
        let mut sorted: Vec<Duration> = self
            .each
            .iter()
            .filter(|(k, _)| kind.is_none_or(|want| *k == want))
            .map(|(_, d)| *d)
            .collect();
        sorted.sort();
        let pct =
            |p: f64| sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1];
        format!(
            "| {label} | {} | {:.2} s | {:.2} s | {:.2} s | {:.2} s |",
            sorted.len(),
            sorted[0].as_secs_f64(),
            pct(0.50).as_secs_f64(),
            pct(0.99).as_secs_f64(),
            sorted[sorted.len() - 1].as_secs_f64(),
        )
    }

    fn print(&self, title: &str) {
        println!(
            "\n{title}: {} targeted runs, {:.1} s from the first event to the last write\n",
            self.runs,
            self.span.as_secs_f64()
        );
        println!("| events | n | min | p50 | p99 | max |");
        println!("|---|---|---|---|---|---|");
        println!("{}", self.row("all", None));
        if self.each.iter().any(|(k, _)| *k == Kind::NewFunction) {
            println!(
                "{}",
                self.row("new log group (CreateLogGroup)", Some(Kind::NewLogGroup))
            );
            println!(
                "{}",
                self.row("new function (CreateFunction)", Some(Kind::NewFunction))
            );
        }
    }
}

/// Waits until the daemon has handled `n` events.
async fn handled(daemon: &InProcessDaemon, n: usize) {
    let sent = tokio::time::Instant::now();
    while daemon.state.events.handled.get() < n as u64 {
        assert!(
            sent.elapsed() < DRAIN_LIMIT,
            "{} of {n} events handled {DRAIN_LIMIT:?} after the last",
            daemon.state.events.handled.get()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The events of `plan` against the fake, on paused time.
async fn on_fake(plan: Vec<Arrival>) -> Latencies {
    let dir = temp_dir("fake");
    let fake = FakeAws::new(FakeConfig::default());
    fake.seed_fleet(&FleetShape {
        functions_per_target: 0,
        buckets_per_target: 0,
        ..FleetShape::default()
    });
    for arrival in &plan {
        match arrival.kind {
            Kind::NewLogGroup => {
                fake.add_function(FAKE_ACCOUNT, REGION, &arrival.name, None);
            }
            Kind::NewFunction => {
                fake.add_log_group(FAKE_ACCOUNT, REGION, &arrival.group(), "STANDARD")
            }
        }
    }
    let queue = fake.create_queue(
        FAKE_ACCOUNT,
        REGION,
        "autosub-events",
        Duration::from_secs(30),
    );
    let daemon = InProcessDaemon::new(
        ClientFactory::from_sdk_config(
            fake.sdk_config(FAKE_ACCOUNT, REGION),
            AwsSettings {
                endpoint_url: Some(FAKE_ENDPOINT.to_owned()),
                region: Some(Region::new(REGION)),
                ..AwsSettings::default()
            },
        ),
        following_config(FAKE_ACCOUNT, REGION, &dir, &queue, &only_served_services()),
    );
    let sent = daemon
        .run_until(async {
            daemon.started().await;
            let start = tokio::time::Instant::now();
            let mut sent = Vec::new();
            for arrival in &plan {
                tokio::time::sleep_until(start + arrival.at).await;
                match arrival.kind {
                    Kind::NewLogGroup => {
                        fake.add_log_group(FAKE_ACCOUNT, REGION, &arrival.group(), "STANDARD")
                    }
                    Kind::NewFunction => {
                        fake.add_function(FAKE_ACCOUNT, REGION, &arrival.name, None);
                    }
                }
                sent.push(tokio::time::Instant::now());
                fake.send_message(&queue, &arrival.message(FAKE_ACCOUNT))
                    .expect("the queue exists");
            }
            handled(&daemon, plan.len()).await;
            sent
        })
        .await;
    let _ = std::fs::remove_dir_all(&dir);
    let written: Vec<tokio::time::Instant> = plan
        .iter()
        .map(|arrival| {
            let group = arrival.group();
            let filters = fake
                .filters(FAKE_ACCOUNT, REGION, &group)
                .unwrap_or_default();
            let [filter] = &filters[..] else {
                panic!(
                    "{group} has {} filters, not the forwarder's one",
                    filters.len()
                );
            };
            fake.filter_put_at(FAKE_ACCOUNT, REGION, &group, &filter.name)
                .expect("a filter put by the daemon")
        })
        .collect();
    let first = sent[0];
    let last = written.iter().max().copied().unwrap_or(first);
    Latencies {
        each: plan
            .iter()
            .zip(sent.iter().zip(&written))
            .map(|(a, (s, w))| (a.kind, *w - *s))
            .collect(),
        span: last - first,
        runs: daemon.state.events.runs.get(),
    }
}

/// The events of `plan` against a moto server, on the wall clock.
async fn on_moto(plan: Vec<Arrival>) -> Latencies {
    let dir = temp_dir("moto");
    let moto = MotoServer::start().expect("start moto_server (scripts/test.sh installs it)");
    let sdk = moto.sdk_config(REGION);
    let account = MOTO_DEFAULT_ACCOUNT;
    let aws = Clients::new(&sdk, account, REGION);
    let role = estate::create_lambda_role(&aws, "latency-role")
        .await
        .expect("a role");
    estate::create_function(&aws, &FunctionSpec::new("datadog-forwarder", &role))
        .await
        .expect("the forwarder");
    for arrival in &plan {
        match arrival.kind {
            Kind::NewLogGroup => {
                estate::create_function(&aws, &FunctionSpec::new(&arrival.name, &role))
                    .await
                    .expect("a function");
            }
            Kind::NewFunction => create_log_group(&aws, &arrival.group()).await,
        }
    }
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let queue = sqs
        .create_queue()
        .queue_name("autosub-events")
        .send()
        .await
        .expect("a queue")
        .queue_url
        .expect("its URL");
    let daemon = InProcessDaemon::new(
        ClientFactory::from_sdk_config(
            sdk.clone(),
            AwsSettings {
                endpoint_url: Some(moto.endpoint()),
                region: Some(Region::new(REGION)),
                // moto answers what it does not emulate (DescribeAccountPolicies) with a 500,
                // which 10 attempts would retry for a minute.
                max_attempts: 1,
                ..AwsSettings::default()
            },
        ),
        following_config(account, REGION, &dir, &queue, &only_served_services()),
    );
    let sent = daemon
        .run_until(async {
            daemon.started().await;
            let start = tokio::time::Instant::now();
            let mut sent = Vec::new();
            for arrival in &plan {
                tokio::time::sleep_until(start + arrival.at).await;
                match arrival.kind {
                    Kind::NewLogGroup => create_log_group(&aws, &arrival.group()).await,
                    Kind::NewFunction => {
                        estate::create_function(&aws, &FunctionSpec::new(&arrival.name, &role))
                            .await
                            .expect("a function");
                    }
                }
                sent.push(epoch_millis());
                sqs.send_message()
                    .queue_url(&queue)
                    .message_body(arrival.message(account))
                    .send()
                    .await
                    .expect("send the event");
            }
            handled(&daemon, plan.len()).await;
            sent
        })
        .await;
    let _ = std::fs::remove_dir_all(&dir);
    let mut written = Vec::new();
    for arrival in &plan {
        let group = arrival.group();
        let filters = aws
            .logs
            .describe_subscription_filters()
            .log_group_name(&group)
            .send()
            .await
            .expect("read the filters");
        let [filter] = filters.subscription_filters() else {
            panic!(
                "{group} has {} filters, not the forwarder's one",
                filters.subscription_filters().len()
            );
        };
        written.push(filter.creation_time().expect("moto records creationTime"));
    }
    let first = sent[0];
    let last = written.iter().max().copied().unwrap_or(first);
    let millis = |ms: i64| Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    Latencies {
        each: plan
            .iter()
            .zip(sent.iter().zip(&written))
            .map(|(a, (s, w))| (a.kind, millis(w - s)))
            .collect(),
        span: millis(last - first),
        runs: daemon.state.events.runs.get(),
    }
}

async fn create_log_group(aws: &Clients, group: &str) {
    aws.logs
        .create_log_group()
        .log_group_name(group)
        .send()
        .await
        .expect("create the log group");
}

fn epoch_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn temp_dir(what: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("autosub-events-{what}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temp dir");
    dir
}

fn main() {
    // `RUST_LOG=info` shows the daemon's log (each targeted run and how long it took).
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let events: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(EVENTS);
    let asked: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| ["fake", "moto", "burst"].contains(&a.as_str()))
        .collect();
    let wants = |what: &str| asked.is_empty() || asked.iter().any(|a| a == what);
    let paused = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .expect("a paused runtime")
    };
    if wants("fake") {
        let latencies = paused().block_on(on_fake(arrivals(events, Duration::from_secs(1))));
        latencies.print("fake AWS at AWS's quotas, 20 ms a call (simulated time)");
    }
    if wants("moto") {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let latencies = runtime.block_on(on_moto(arrivals(events, Duration::from_secs(1))));
        latencies.print("moto_server (wall-clock time)");
    }
    if wants("burst") {
        let latencies = paused().block_on(on_fake(burst(BURST)));
        latencies.print(
            "burst: 1,000 CreateLogGroup events within one minute on the fake AWS (simulated time)",
        );
        let bound = BURST as f64 / 5.0;
        println!(
            "\nquota-bound: {bound:.0} s (1,000 DescribeSubscriptionFilters and 1,000 PutSubscriptionFilter at 5/s each, overlapping); the burst took {:.2}x that",
            latencies.span.as_secs_f64() / bound
        );
    }
}
