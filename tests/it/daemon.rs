//! `autosub run`, the built binary, against moto seeded with the demo estate on a one-second
//! schedule: readiness, convergence, metrics, new and removed sources, SIGTERM and a restart
//! that picks the ledger up.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use autosub_testkit::estate::{self, FunctionSpec};
use serde_json::Value;

use crate::e2e::{Demo, changes};

/// How long any one condition may take to come true (a pass over the demo takes ~1 s).
const PATIENCE: Duration = Duration::from_secs(60);

/// The daemon as a child process, with its log lines collected as they come.
pub(crate) struct Daemon {
    child: Child,
    port: u16,
    logs: Arc<Mutex<Vec<String>>>,
}

impl Daemon {
    pub(crate) fn start(demo: &Demo, port: u16) -> Daemon {
        let mut child = demo
            .command(&["run"])
            .env("AUTOSUB_LOG", "info")
            .env("AUTOSUB_LISTEN", format!("127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start autosub run");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().expect("piped stderr");
        let sink = Arc::clone(&logs);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().expect("log sink").push(line);
            }
        });
        Daemon { child, port, logs }
    }

    /// `(status, body)` of `GET path`, or `None` while nothing listens.
    pub(crate) fn get(&self, path: &str) -> Option<(u16, String)> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
        let mut reply = String::new();
        stream.read_to_string(&mut reply).ok()?;
        let status = reply.split(' ').nth(1)?.parse().ok()?;
        let body = reply.split_once("\r\n\r\n").map(|(_, b)| b.to_owned())?;
        Some((status, body))
    }

    /// The sum of every sample of `metric` whose labels contain all of `labels`.
    pub(crate) fn metric(&self, metric: &str, labels: &[&str]) -> f64 {
        let (_, body) = self.get("/metrics").expect("/metrics answers");
        body.lines()
            .filter(|l| l.starts_with(metric) && l[metric.len()..].starts_with(['{', ' ']))
            .filter(|l| labels.iter().all(|label| l.contains(label)))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    pub(crate) fn passes(&self) -> f64 {
        self.metric("autosub_passes_total", &[])
    }

    pub(crate) fn log_lines(&self) -> Vec<String> {
        self.logs.lock().expect("log sink").clone()
    }

    /// Sends `signal` (`TERM`, `INT`) to the process.
    fn signal(&self, signal: &str) {
        let status = std::process::Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Waits for the process to exit; its exit code and how long it took.
    fn wait_exit(&mut self, limit: Duration) -> (Option<i32>, Duration) {
        let started = Instant::now();
        while started.elapsed() < limit {
            if let Some(status) = self.child.try_wait().expect("poll the child") {
                return (status.code(), started.elapsed());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        panic!("autosub run did not exit within {limit:?}");
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `condition` every 50 ms until it holds, failing after [`PATIENCE`] with `what`.
pub(crate) fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let started = Instant::now();
    while !condition() {
        assert!(
            started.elapsed() < PATIENCE,
            "timed out waiting until {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

pub(crate) async fn filter_names(demo: &Demo, group: &str) -> Vec<String> {
    match demo
        .us
        .logs
        .describe_subscription_filters()
        .log_group_name(group)
        .send()
        .await
    {
        Ok(out) => out
            .subscription_filters()
            .iter()
            .filter_map(|f| f.filter_name().map(str::to_owned))
            .collect(),
        Err(_) => Vec::new(),
    }
}

pub(crate) async fn eventually_async<F: std::future::Future<Output = bool>>(
    what: &str,
    mut condition: impl FnMut() -> F,
) {
    let started = Instant::now();
    while !condition().await {
        assert!(
            started.elapsed() < PATIENCE,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn ledger(demo: &Demo) -> Value {
    let path = demo.config.with_file_name("autosub-ledger.json");
    let text = std::fs::read_to_string(&path).expect("the ledger file exists");
    serde_json::from_str(&text).expect("the ledger is whole JSON")
}

fn ledger_origins(ledger: &Value) -> Vec<String> {
    ledger["targets"]
        .as_object()
        .into_iter()
        .flat_map(|t| t.values())
        .flat_map(|t| t["triggers"].as_object().cloned().unwrap_or_default())
        .map(|(key, entry)| format!("{key} {}", entry["origin"].as_str().unwrap_or_default()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_converges_follows_the_estate_and_shuts_down_cleanly() {
    let demo = Demo::start().await;
    let mut config = std::fs::read_to_string(&demo.config).expect("read the config");
    config.push_str(
        "\n[safety]\nstale_passes_before_delete = 2\n\n[run]\nschedule = \"* * * * * *\"\nshutdown_grace_secs = 10\n",
    );
    std::fs::write(&demo.config, config).expect("write the config");
    let planned = changes(&demo.json(&["plan"], 0)).len();
    assert!(
        planned > 20,
        "the demo estate needs work: {planned} changes"
    );

    let port = free_port();
    let mut daemon = Daemon::start(&demo, port);
    eventually("/healthz answers", || {
        daemon.get("/healthz").is_some_and(|(s, _)| s == 200)
    });
    eventually("/readyz says ready", || {
        daemon.get("/readyz").is_some_and(|(s, _)| s == 200)
    });

    // Converged: a one-shot plan finds nothing to do, and the metrics count what was done.
    assert_eq!(
        demo.command(&["plan", "--detailed-exitcode"])
            .status()
            .unwrap()
            .code(),
        Some(0)
    );
    let applied = daemon.metric("autosub_changes_total", &["outcome=\"applied\""]);
    assert_eq!(
        applied, planned as f64,
        "every planned change was applied once"
    );
    assert_eq!(
        daemon.metric("autosub_changes_total", &["outcome=\"failed\""]),
        0.0
    );
    assert_eq!(
        daemon.metric("autosub_managed_triggers", &[]),
        planned as f64,
        "the ledger holds every trigger created"
    );
    assert!(
        daemon.metric(
            "autosub_aws_calls_total",
            &["operation=\"PutSubscriptionFilter\""]
        ) > 0.0
    );

    // A source created while the service runs is subscribed on a later pass.
    let late = "late-arrival";
    let spec = FunctionSpec::new(late, &demo.estate.role_arn);
    estate::create_function(&demo.us, &spec)
        .await
        .expect("create a function");
    let late_group = format!("/aws/lambda/{late}");
    estate::create_log_group(&demo.us, &late_group)
        .await
        .expect("create its log group");
    eventually_async("the new log group is subscribed", || {
        let group = late_group.clone();
        let demo = &demo;
        async move {
            filter_names(demo, &group)
                .await
                .contains(&"autosub".to_owned())
        }
    })
    .await;

    // A removed source loses its trigger, but only after two stale passes.
    let gone_group = "/aws/lambda/checkout-api";
    assert!(
        filter_names(&demo, gone_group)
            .await
            .contains(&"autosub".to_owned())
    );
    demo.us
        .lambda
        .delete_function()
        .function_name("checkout-api")
        .send()
        .await
        .expect("delete checkout-api");
    let passes_at_removal = daemon.passes();
    eventually_async("the removed source's filter is deleted", || {
        let demo = &demo;
        async move {
            !filter_names(demo, gone_group)
                .await
                .contains(&"autosub".to_owned())
        }
    })
    .await;
    assert!(
        daemon.passes() - passes_at_removal >= 2.0,
        "the delete waited for two stale passes"
    );

    // SIGTERM during a pass: the pass stops at a safe point and the process exits in time.
    let started_passes = |lines: &[String]| {
        lines
            .iter()
            .filter(|l| l.contains("\"pass started\""))
            .count()
    };
    let seen = started_passes(&daemon.log_lines());
    eventually("another pass starts", || {
        started_passes(&daemon.log_lines()) > seen
    });
    daemon.signal("TERM");
    let (code, took) = daemon.wait_exit(Duration::from_secs(25));
    assert_eq!(code, Some(0), "a clean exit: {:#?}", daemon.log_lines());
    assert!(took < Duration::from_secs(10), "exited after {took:?}");
    let logs = daemon.log_lines();
    assert!(
        logs.iter().any(|l| l.contains("shutting down")),
        "{logs:#?}"
    );
    assert!(
        logs.iter().all(|l| !l.contains("\"level\":\"ERROR\"")),
        "{logs:#?}"
    );

    // The ledger is whole, and a restart picks it up: nothing to do, every record kept.
    let before = ledger(&demo);
    let origins = ledger_origins(&before);
    assert!(
        origins.iter().all(|o| o.ends_with(" created")),
        "{origins:#?}"
    );
    assert!(
        !origins.iter().any(|o| o.contains(gone_group)),
        "{origins:#?}"
    );
    let restarted = Daemon::start(&demo, port);
    eventually("the restarted service is ready", || {
        restarted.get("/readyz").is_some_and(|(s, _)| s == 200)
    });
    assert_eq!(restarted.metric("autosub_changes_total", &[]), 0.0);
    assert_eq!(ledger_origins(&ledger(&demo)), origins);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_environment_override_fails_at_start_up_naming_the_variable() {
    let demo = Demo::start().await;
    let out = demo
        .command(&["run"])
        .env("AUTOSUB_SCHEDULE", "every five minutes")
        .output()
        .expect("run autosub");
    assert_eq!(out.status.code(), Some(4));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("run.schedule (from AUTOSUB_SCHEDULE)")
            && stderr.contains("0 */15 * * * *"),
        "{stderr}"
    );
}

/// Writes the lease item of `target` in `table` as another replica would hold it.
async fn put_lease(
    leases: &aws_sdk_dynamodb::Client,
    table: &str,
    target: &str,
    owner: &str,
    expires_at_ms: u64,
    fencing: u64,
) {
    use aws_sdk_dynamodb::types::AttributeValue;
    leases
        .put_item()
        .table_name(table)
        .item("pk", AttributeValue::S(format!("lease/{target}")))
        .item("sk", AttributeValue::S("lease".into()))
        .item("owner", AttributeValue::S(owner.into()))
        .item(
            "expires_at_ms",
            AttributeValue::N(expires_at_ms.to_string()),
        )
        .item("fencing", AttributeValue::N(fencing.to_string()))
        .send()
        .await
        .expect("put a lease item");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn targets_held_elsewhere_show_in_readyz_and_metrics_and_a_forged_lease_is_taken_over() {
    use autosub_engine::lease::rfc3339_ms;
    let demo = Demo::start().await;
    let table = "autosub-it-daemon-leases";
    let leases = crate::lease::create_table_named(&demo.moto, table).await;
    let mut config = std::fs::read_to_string(&demo.config).expect("read the config");
    config.push_str(&format!(
        "\n[run]\nschedule = \"* * * * * *\"\n\n[lease]\ntable = \"{table}\"\nduration_secs = 600\n"
    ));
    std::fs::write(&demo.config, config).expect("write the config");
    let account = &demo.estate.account;
    let (us, eu) = (
        format!("{account}/us-east-1"),
        format!("{account}/eu-west-1"),
    );
    let now_secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    // us-east-1: another replica's lease, 5 minutes left (within the 600 s autosub takes).
    let held_until = (now_secs + 300) * 1000;
    put_lease(&leases, table, &us, "replica-elsewhere", held_until, 7).await;
    // eu-west-1: a lease ten years ahead, which no replica takes: forged or corrupt.
    let forged_until = (now_secs + 10 * 365 * 24 * 3600) * 1000;
    put_lease(&leases, table, &eu, "forger", forged_until, 3).await;

    let daemon = Daemon::start(&demo, free_port());
    let mut body = String::new();
    eventually("/readyz says ready", || match daemon.get("/readyz") {
        Some((200, b)) => {
            body = b;
            true
        }
        _ => false,
    });
    // Ready, not a standby: the forged lease was taken over; the held target is listed.
    assert_eq!(
        body,
        format!(
            "ready\nheld: {us} by replica-elsewhere until {}\n",
            rfc3339_ms(held_until)
        )
    );
    assert_eq!(
        daemon.metric(
            "autosub_last_pass_held_until_timestamp_seconds",
            &[
                &format!("account=\"{account}\""),
                "region=\"us-east-1\"",
                "owner=\"replica-elsewhere\"",
            ]
        ),
        (held_until / 1000) as f64
    );
    assert_eq!(
        daemon.metric("autosub_last_pass_targets", &["outcome=\"held\""]),
        1.0
    );
    let logs = daemon.log_lines();
    assert!(
        logs.iter().any(|l| l.contains("WARN")
            && l.contains("forger")
            && l.contains(&rfc3339_ms(forged_until))
            && l.contains("taken over")),
        "the takeover is a warning naming the holder and the expiry: {logs:#?}"
    );
    let forged_item = leases
        .get_item()
        .table_name(table)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("lease/{eu}")),
        )
        .key(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S("lease".into()),
        )
        .send()
        .await
        .unwrap()
        .item
        .expect("the eu-west-1 lease item");
    let fencing: u64 = forged_item["fencing"].as_n().unwrap().parse().unwrap();
    assert!(fencing > 3, "granted under a higher token: {forged_item:?}");
    assert!(
        forged_item.get("owner").and_then(|o| o.as_s().ok()) != Some(&"forger".to_owned()),
        "{forged_item:?}"
    );
    // The held target was left alone.
    let group = "/aws/lambda/checkout-api";
    assert!(
        !filter_names(&demo, group)
            .await
            .contains(&"autosub".to_owned())
    );

    // The other replica releases its lease: this one takes the target over and converges it.
    leases
        .update_item()
        .table_name(table)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("lease/{us}")),
        )
        .key(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S("lease".into()),
        )
        .update_expression("SET expires_at_ms = :zero REMOVE #owner")
        .expression_attribute_names("#owner", "owner")
        .expression_attribute_values(
            ":zero",
            aws_sdk_dynamodb::types::AttributeValue::N("0".into()),
        )
        .send()
        .await
        .expect("release the other replica's lease");
    eventually("/readyz lists nothing held", || {
        daemon.get("/readyz") == Some((200, "ready\n".to_owned()))
    });
    assert_eq!(
        daemon.metric("autosub_last_pass_targets", &["outcome=\"held\""]),
        0.0
    );
    assert_eq!(
        daemon.metric("autosub_last_pass_held_until_timestamp_seconds", &[]),
        0.0
    );
    assert!(
        filter_names(&demo, group)
            .await
            .contains(&"autosub".to_owned())
    );
    assert_eq!(
        demo.command(&["plan", "--detailed-exitcode"])
            .status()
            .unwrap()
            .code(),
        Some(0),
        "both targets converged"
    );
}
