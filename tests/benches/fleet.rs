//! Passes over a simulated fleet (default 20 accounts × 4 regions) on the in-memory fake AWS,
//! through the production stack: the SDK clients, assume-role per account, pacing, the
//! discoverers (Lambda and S3 access logs), the audit, the planner, apply and a file ledger.
//! The fake enforces AWS's quotas and answers every call after 20 ms, like an AWS round trip;
//! the bench runs on tokio's paused clock, so waits advance simulated time, not the wall clock.
//!
//! Run: `cargo bench -p autosub-tests --bench fleet [-- <accounts> <regions>]`. Prints, for a
//! first (converging) and an idle pass 15 simulated minutes later, the simulated and wall time,
//! the calls, and the quota-bound time (the slowest (account, region, API)'s calls over its
//! AWS quota: every target runs at once, so no pacer can beat it); then per API the busiest
//! (account, region)'s calls in any one-second window against the quota. Results:
//! `docs/fleet.md` and `docs/performance.md`.

mod support;

use std::collections::BTreeMap;
use std::time::Instant;

use autosub_aws::factory::{AwsSettings, ClientFactory};
use autosub_aws::pacing::Rates;
use autosub_config::Config;
use autosub_core::Region;
use autosub_engine::lease::Leases;
use autosub_engine::ledger;
use autosub_engine::pass::Mode;
use autosub_engine::reconcile::{self, RunCx, RunReport};
use autosub_testkit::fake::{
    ApiKey, FAKE_ENDPOINT, FakeAws, FakeConfig, FleetShape, only_served_services,
};
use tokio_util::sync::CancellationToken;

use support::{Quiet, per_api, requests_since};

const CENTRAL: &str = "100000000000";
/// The simulated start of the first pass (seconds since the Unix epoch).
const T0: u64 = 1_800_000_000;
const REGIONS: [&str; 8] = [
    "us-east-1",
    "eu-west-1",
    "us-west-2",
    "ap-southeast-2",
    "eu-central-1",
    "us-east-2",
    "ap-northeast-1",
    "ca-central-1",
];

fn config(accounts: &[String], regions: &[&str], ledger: &std::path::Path) -> Config {
    let mut text = format!(
        "[aws]\nregions = {regions:?}\n[forwarders]\n{}\n",
        regions
            .iter()
            .map(|r| format!("{r} = \"datadog-forwarder\""))
            .collect::<Vec<_>>()
            .join("\n")
    );
    text.push_str(&only_served_services());
    text.push_str(&format!(
        "[ledger]\nlocation = \"{}\"\n[fleet]\n",
        ledger.display()
    ));
    for account in accounts {
        text.push_str(&format!("[[fleet.accounts]]\nid = \"{account}\"\n"));
    }
    Config::parse(&text, "bench.toml").expect("a valid bench config")
}

/// One pass at `now`: its report, simulated and wall seconds.
async fn pass(factory: &ClientFactory, config: &Config, now: u64) -> (RunReport, f64, f64) {
    let ledger = ledger::open(
        config,
        std::path::Path::new("."),
        factory,
        &Region::new("us-east-1"),
    );
    let leases = Leases::local();
    let cx = RunCx {
        factory,
        config,
        ledger: ledger.as_ref(),
        leases: &leases,
        mode: Mode::Apply,
        stale_passes_before_delete: 1,
        progress: &Quiet,
        now,
        full_audit: false,
        targeting: Default::default(),
    };
    let (wall, simulated) = (Instant::now(), tokio::time::Instant::now());
    let report = reconcile::run(&cx, &CancellationToken::new())
        .await
        .expect("the run starts");
    (
        report,
        simulated.elapsed().as_secs_f64(),
        wall.elapsed().as_secs_f64(),
    )
}

/// The quota-bound time of the fake's requests since `before` (the largest calls / AWS quota of
/// any one (account, region, API)), and those requests per API over every target.
fn quota_bound(
    fake: &FakeAws,
    before: &mut BTreeMap<ApiKey, u64>,
) -> (f64, BTreeMap<&'static str, u64>) {
    let rates = Rates::default();
    let requests = requests_since(fake, before);
    let bound = requests
        .iter()
        .map(|(key, n)| *n as f64 / rates.of(key.api))
        .fold(0.0, f64::max);
    (bound, per_api(&requests))
}

fn summary(label: &str, report: &RunReport, simulated: f64, wall: f64, bound: f64) {
    let changes: usize = report.passes.iter().map(|p| p.plan.changes.len()).sum();
    let failed: usize = report.passes.iter().map(|p| p.failures()).sum();
    let calls: u64 = report.calls.values().sum();
    println!(
        "{label}: simulated {simulated:.1} s against a quota-bound {bound:.1} s ({:.2}x), wall {wall:.1} s, {} targets, {changes} changes ({failed} failed), {calls} AWS calls, {} target failures",
        simulated / bound.max(f64::EPSILON),
        report.passes.len(),
        report.failures.len()
    );
}

#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let accounts_n = args.first().copied().unwrap_or(20);
    let regions_n = args.get(1).copied().unwrap_or(4).min(REGIONS.len());
    let accounts: Vec<String> = (1..=accounts_n)
        .map(|i| format!("{:012}", 200_000_000_000u64 + i as u64))
        .collect();
    let regions = &REGIONS[..regions_n];

    let fake = FakeAws::new(FakeConfig::default());
    fake.seed_fleet(&FleetShape {
        accounts: accounts.clone(),
        regions: regions.iter().map(|r| (*r).to_owned()).collect(),
        functions_per_target: 40,
        buckets_per_target: 5,
        ..FleetShape::default()
    });
    let factory = ClientFactory::from_sdk_config(
        fake.sdk_config(CENTRAL, "us-east-1"),
        AwsSettings {
            endpoint_url: Some(FAKE_ENDPOINT.to_owned()),
            region: Some(Region::new("us-east-1")),
            ..AwsSettings::default()
        },
    );
    let dir = std::env::temp_dir().join(format!("autosub-fleet-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temp dir");
    let config = config(&accounts, regions, &dir.join("ledger.json"));
    println!(
        "fleet: {accounts_n} accounts x {regions_n} regions, 40 functions + 5 logged buckets per target, 20 ms per call"
    );
    let mut seen = BTreeMap::new();
    let (first, simulated, wall) = pass(&factory, &config, T0).await;
    let (bound, calls) = quota_bound(&fake, &mut seen);
    summary("first pass (converging)", &first, simulated, wall, bound);
    println!("  calls per API: {calls:?}");
    let (second, simulated, wall) = pass(&factory, &config, T0 + 15 * 60).await;
    let (bound, calls) = quota_bound(&fake, &mut seen);
    summary(
        "idle pass, 15 minutes later",
        &second,
        simulated,
        wall,
        bound,
    );
    println!("  calls per API: {calls:?}");
    let _ = std::fs::remove_dir_all(&dir);

    // Per API: the busiest (account, region) second against the quota.
    let quotas = FakeConfig::default().quotas;
    let mut by_api: BTreeMap<&str, (u32, u64, u64)> = BTreeMap::new();
    for (key, stats) in fake.stats() {
        let entry = by_api.entry(key.api).or_default();
        entry.0 = entry.0.max(stats.max_per_second);
        entry.1 += stats.requests;
        entry.2 += stats.throttled;
    }
    println!("\n| API | busiest 1 s window per (account, region) | quota | requests | throttled |");
    println!("|---|---|---|---|---|");
    for (api, (max, requests, throttled)) in &by_api {
        let quota = quotas
            .limit(api)
            .map_or_else(|| "-".to_owned(), |q| q.to_string());
        println!("| `{api}` | {max} | {quota} | {requests} | {throttled} |");
    }
    println!(
        "\nthrottles seen by the pacer: {}",
        factory.pacer().throttles().values().sum::<u64>()
    );
}
