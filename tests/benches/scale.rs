//! One account and region at scale on the in-memory fake AWS, through the production stack
//! (SDK clients, pacing at AWS's quotas, the Lambda and S3-access-log discoverers, the audit,
//! the planner, apply, a file ledger), on tokio's paused clock: every wait for a quota or a
//! call's 20 ms latency advances simulated time instead of the wall clock.
//!
//! Run: `cargo bench -p autosub-tests --bench scale [-- <log groups> <functions> <buckets>
//! <log buckets>] [account-policy]` (default 20000 5000 1000 200: 5,000 functions with their
//! log groups plus 15,000 log groups no source writes to; 800 buckets logging into 200;
//! `account-policy` turns on account-policy mode). Passes, 15 minutes of
//! simulated time apart: the first (a full audit, converging), an idle one, an idle one after 20
//! new functions, and `--full-audit`. For each: calls per API, the quota-bound time (the slowest
//! API's calls over its AWS quota), simulated and wall seconds. Then the peak RSS of the whole
//! process (the fake's own state included) and the time `desire` + `plan` take for as many
//! sources as log groups. Results: `docs/performance.md`.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use autosub_aws::factory::{AwsSettings, ClientFactory};
use autosub_aws::pacing::Rates;
use autosub_config::Config;
use autosub_core::desired::{Routing, Selection, desire};
use autosub_core::ledger::TargetLedger;
use autosub_core::observed::Coverage;
use autosub_core::plan::{PlanPolicy, plan};
use autosub_core::{
    AccountId, Discovery, FunctionArn, Location, LogGroupClass, LogGroupName, LogGroupState,
    LogSource, Observed, Region, Service, SubscriptionFilter,
};
use autosub_engine::lease::Leases;
use autosub_engine::ledger;
use autosub_engine::pass::Mode;
use autosub_engine::reconcile::{self, RunCx, RunReport};
use autosub_testkit::fake::{
    ApiKey, FAKE_ENDPOINT, FakeAws, FakeConfig, FleetShape, only_served_services,
};
use tokio_util::sync::CancellationToken;

use support::{Quiet, per_api, requests_since};

const ACCOUNT: &str = "111111111111";
const REGION: &str = "us-east-1";
/// The simulated start of the first pass (seconds since the Unix epoch).
const T0: u64 = 1_800_000_000;
/// The simulated schedule: a pass every 15 minutes.
const TICK: u64 = 15 * 60;

fn config(ledger: &std::path::Path, account_policy: bool) -> Config {
    let mut text = format!(
        "[aws]\naccount_id = \"{ACCOUNT}\"\nregions = [\"{REGION}\"]\n[forwarders]\n{REGION} = \"datadog-forwarder\"\n"
    );
    text.push_str(&only_served_services());
    text.push_str(&format!(
        "[ledger]\nlocation = \"{}\"\n[safety]\nmax_deletes_per_pass = 100\n[account_policy]\nenabled = {account_policy}\n",
        ledger.display()
    ));
    Config::parse(&text, "scale.toml").expect("a valid bench config")
}

/// What one pass cost.
struct Cost {
    calls: BTreeMap<&'static str, u64>,
    simulated: Duration,
    wall: Duration,
    report: RunReport,
}

impl Cost {
    /// The slowest API's calls over its AWS quota, in seconds: no pacer can beat it.
    fn quota_bound(&self) -> f64 {
        let rates = Rates::default();
        self.calls
            .iter()
            .map(|(api, n)| *n as f64 / rates.of(api))
            .fold(0.0, f64::max)
    }
}

async fn pass(
    fake: &FakeAws,
    factory: &ClientFactory,
    config: &Config,
    now: u64,
    full_audit: bool,
    before: &mut BTreeMap<ApiKey, u64>,
) -> Cost {
    let store = ledger::open(
        config,
        std::path::Path::new("."),
        factory,
        &Region::new(REGION),
    );
    let leases = Leases::local();
    let cx = RunCx {
        factory,
        config,
        ledger: store.as_ref(),
        leases: &leases,
        mode: Mode::Apply,
        stale_passes_before_delete: 1,
        progress: &Quiet,
        now,
        full_audit,
        targeting: Default::default(),
    };
    let (wall, simulated) = (Instant::now(), tokio::time::Instant::now());
    let report = reconcile::run(&cx, &CancellationToken::new())
        .await
        .expect("the run starts");
    let (simulated, wall) = (simulated.elapsed(), wall.elapsed());
    let calls = per_api(&requests_since(fake, before));
    Cost {
        calls,
        simulated,
        wall,
        report,
    }
}

fn print_pass(label: &str, cost: &Cost) {
    let pass = &cost.report.passes[0];
    let a = &pass.audit;
    println!(
        "\n### {label}\n\n{} changes ({} failed); read {} log groups ({} trusted, {} swept, {} re-verified, {} drifted), {} buckets ({} trusted, {} swept)",
        pass.plan.changes.len(),
        pass.failures(),
        a.log_groups_read,
        a.log_groups_trusted,
        a.log_groups_swept,
        a.audited,
        a.drift,
        a.buckets_read,
        a.buckets_trusted,
        a.buckets_swept
    );
    println!(
        "quota-bound {:.0} s, simulated {:.0} s ({:.2}x the bound), wall {:.1} s\n",
        cost.quota_bound(),
        cost.simulated.as_secs_f64(),
        cost.simulated.as_secs_f64() / cost.quota_bound().max(f64::EPSILON),
        cost.wall.as_secs_f64()
    );
    let rates = Rates::default();
    println!("| API | calls | AWS quota /s | seconds at quota |");
    println!("|---|---|---|---|");
    for (api, n) in &cost.calls {
        let rate = rates.of(api);
        println!("| `{api}` | {n} | {rate} | {:.0} |", *n as f64 / rate);
    }
}

/// DescribeSubscriptionFilters calls of a pass.
fn describes(cost: &Cost) -> u64 {
    cost.calls
        .get("logs:DescribeSubscriptionFilters")
        .copied()
        .unwrap_or(0)
}

/// A memory figure of this process in MB from `/proc/self/status` (`VmHWM`: the peak
/// resident set, `VmRSS`: the current one).
fn status_mb(field: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// `desire` + `plan` for `n` Lambda sources whose groups all carry our filter (the steady
/// state), timed on the wall clock: the pure core alone.
fn time_plan(n: usize) -> Duration {
    let account = AccountId::new(ACCOUNT);
    let region = Region::new(REGION);
    let forwarder = FunctionArn::from_parts(&account, &region, "datadog-forwarder");
    let discovery = Discovery {
        sources: (0..n)
            .map(|i| LogSource {
                service: Service::Lambda,
                resource_arn: format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:app-{i:06}"),
                location: Location::LogGroup {
                    name: LogGroupName::new(format!("/aws/lambda/app-{i:06}")),
                },
            })
            .collect(),
        ..Discovery::default()
    };
    let routing = Routing {
        home_region: region.clone(),
        reconciled_regions: [region.clone()].into(),
        forwarders: [(region.clone(), forwarder.clone())].into(),
        ..Routing::default()
    };
    let ours = SubscriptionFilter {
        name: "autosub".into(),
        destination_arn: forwarder.to_string(),
        pattern: String::new(),
    };
    let observed = Observed {
        log_groups: (0..n)
            .map(|i| {
                (
                    LogGroupName::new(format!("/aws/lambda/app-{i:06}")),
                    LogGroupState::Found {
                        class: LogGroupClass::Standard,
                        filters: vec![ours.clone()],
                    },
                )
            })
            .collect(),
        ledger: TargetLedger::default(),
        coverage: Coverage::default(),
        ..Observed::default()
    };
    let policy = PlanPolicy {
        account,
        notification_id_prefix: "autosub-".into(),
        filter_name: "autosub".into(),
        filter_pattern: String::new(),
        statement_id_prefix: "autosub-".into(),
        max_filters_per_log_group: 2,
        max_deletes_per_pass: 50,
        stale_passes_before_delete: 1,
        protect: Vec::new(),
    };
    let started = Instant::now();
    let desired = desire(&discovery.normalize(), &Selection::default(), &routing);
    let planned = plan(&desired, &observed, &policy);
    let took = started.elapsed();
    assert!(planned.is_empty(), "the steady state plans nothing");
    took
}

#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() {
    let account_policy = std::env::args().any(|a| a == "account-policy");
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let groups = args.first().copied().unwrap_or(20_000);
    let functions = args.get(1).copied().unwrap_or(5_000).min(groups);
    let buckets = args.get(2).copied().unwrap_or(1_000);
    let log_buckets = args.get(3).copied().unwrap_or(200).clamp(1, buckets);

    let fake = FakeAws::new(FakeConfig::default());
    fake.seed_fleet(&FleetShape {
        accounts: vec![ACCOUNT.to_owned()],
        regions: vec![REGION.to_owned()],
        functions_per_target: functions,
        // The forwarder's own log group is one of the groups.
        quiet_log_groups: groups.saturating_sub(functions + 1),
        buckets_per_target: buckets - log_buckets,
        log_buckets_per_target: log_buckets,
        ..FleetShape::default()
    });
    let factory = ClientFactory::from_sdk_config(
        fake.sdk_config(ACCOUNT, REGION),
        AwsSettings {
            endpoint_url: Some(FAKE_ENDPOINT.to_owned()),
            region: Some(Region::new(REGION)),
            ..AwsSettings::default()
        },
    );
    let dir = std::env::temp_dir().join(format!("autosub-scale-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temp dir");
    let config = config(&dir.join("ledger.json"), account_policy);
    println!(
        "## scale: {groups} log groups ({functions} with a Lambda source), {buckets} buckets ({log_buckets} receiving access logs), one account and region, 20 ms per call, paced at AWS's quotas{}",
        if account_policy {
            ", account-policy mode"
        } else {
            ""
        }
    );

    // The fake's own state, before autosub runs: subtracted from the peak below.
    let seeded = status_mb("VmRSS:");
    let mut seen = BTreeMap::new();
    // Each pass's report is dropped once printed: the peak below is one pass's, not four.
    let first = pass(&fake, &factory, &config, T0, false, &mut seen).await;
    print_pass("first pass (full audit: no previous pass)", &first);
    let (first_simulated, first_bound) = (first.simulated.as_secs_f64(), first.quota_bound());
    drop(first);
    let idle = pass(&fake, &factory, &config, T0 + TICK, false, &mut seen).await;
    print_pass("idle pass, 15 minutes later", &idle);
    let idle_describes = describes(&idle);
    drop(idle);
    for i in 0..20 {
        let name = format!("new-{i:02}");
        fake.add_function(ACCOUNT, REGION, &name, None);
        fake.add_log_group(ACCOUNT, REGION, &format!("/aws/lambda/{name}"), "STANDARD");
    }
    let after_new = pass(&fake, &factory, &config, T0 + 2 * TICK, false, &mut seen).await;
    print_pass("idle pass after 20 new functions", &after_new);
    drop(after_new);
    let full = pass(&fake, &factory, &config, T0 + 3 * TICK, true, &mut seen).await;
    print_pass("--full-audit", &full);
    let full_describes = describes(&full);
    drop(full);
    let peak = status_mb("VmHWM:");

    println!("\n### goals\n");
    println!(
        "- idle pass DescribeSubscriptionFilters: {idle_describes} of the full audit's {full_describes} ({:.2} %, goal <= 5 %)",
        100.0 * idle_describes as f64 / full_describes.max(1) as f64
    );
    println!(
        "- first pass: simulated {first_simulated:.0} s against a quota-bound {first_bound:.0} s ({:.2}x, goal <= 1.1x)",
        first_simulated / first_bound.max(f64::EPSILON)
    );
    if let (Some(peak), Some(seeded)) = (peak, seeded) {
        println!(
            "- peak RSS over the four passes {peak:.0} MB, of which the seeded fake AWS {seeded:.0} MB: autosub (and the fake's answers and new filters) at most {:.0} MB",
            peak - seeded
        );
    }
    // Five timings of the pure core: min, median, max.
    let mut took: Vec<f64> = (0..5).map(|_| time_plan(groups).as_secs_f64()).collect();
    took.sort_by(f64::total_cmp);
    println!(
        "- desire + plan for {groups} sources (steady state), 5 runs: min {:.3} s, median {:.3} s, max {:.3} s",
        took[0], took[2], took[4]
    );
    let _ = std::fs::remove_dir_all(&dir);
}
