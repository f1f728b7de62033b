//! The fleet end to end against moto: the built binary in a central account assumes roles into
//! two member accounts × two regions, each with its own forwarder and estate. A third account's
//! role is denied and one member region has no forwarder: the other targets converge, the two
//! are reported, and the exit code says partial.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

use autosub_testkit::estate::{
    FunctionSpec, NotificationEntry, NotificationTarget, allow_log_delivery, create_bucket,
    create_function, create_lambda_role, create_log_group, put_bucket_logging, put_notifications,
};
use autosub_testkit::{Clients, MotoServer, StsGate};
use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::Value;

use crate::e2e::{autosub_binary, tempdir};

const MEMBER_A: &str = "222222222222";
const MEMBER_B: &str = "333333333333";
const DENIED: &str = "444444444444";
const REGIONS: [&str; 2] = ["us-east-1", "eu-west-1"];
const APP_LOG_GROUP: &str = "/aws/lambda/orders-api";
const FOREIGN_QUEUE_RULE: &str = "legacy-queue";

/// What one target's estate holds.
struct TargetEstate {
    cx: Clients,
    forwarder_arn: String,
    log_bucket: String,
}

/// In `account` × `region`: the forwarder (unless `with_forwarder` is false), an app function
/// with its log group, and a bucket whose access logs go to a log bucket that already carries a
/// foreign queue notification.
async fn seed_target(
    sdk: &aws_config::SdkConfig,
    account: &str,
    region: &str,
    with_forwarder: bool,
) -> TargetEstate {
    let cx = Clients::new(sdk, account, region);
    let role = create_lambda_role(&cx, "fleet-lambda").await.expect("role");
    if with_forwarder {
        create_function(&cx, &FunctionSpec::new("datadog-forwarder", &role))
            .await
            .expect("forwarder");
    }
    create_function(&cx, &FunctionSpec::new("orders-api", &role))
        .await
        .expect("app function");
    create_log_group(&cx, APP_LOG_GROUP)
        .await
        .expect("log group");
    let site = format!("site-{account}-{region}");
    let log_bucket = format!("logs-{account}-{region}");
    create_bucket(&cx, &site).await.expect("site bucket");
    create_bucket(&cx, &log_bucket).await.expect("log bucket");
    allow_log_delivery(&cx, &log_bucket)
        .await
        .expect("log delivery");
    put_bucket_logging(&cx, &site, &log_bucket, "s3/site/")
        .await
        .expect("bucket logging");
    let queue = format!("arn:aws:sqs:{region}:{account}:legacy-ingest");
    put_notifications(
        &cx,
        &log_bucket,
        &[NotificationEntry::new(
            FOREIGN_QUEUE_RULE,
            NotificationTarget::Queue(queue),
            "s3:ObjectCreated:*",
        )
        .prefix("elb/")],
    )
    .await
    .expect("foreign notification");
    TargetEstate {
        forwarder_arn: cx.function_arn("datadog-forwarder"),
        cx,
        log_bucket,
    }
}

const CONFIG: &str = r#"
[aws]
regions = ["us-east-1", "eu-west-1"]

[forwarders]
us-east-1 = "datadog-forwarder"
eu-west-1 = "datadog-forwarder"

[services.cloudfront]
enabled = false
[services.elbv2]
enabled = false
[services.elb]
enabled = false
[services.redshift]
enabled = false
[services.step_functions]
enabled = false
[services.wafv2]
enabled = false
[services.api_gateway]
enabled = false

[ledger]
location = "none"

[fleet]
external_id = "fleet-test"
targets_in_flight = 3
targets_in_flight_per_account = 2

[[fleet.accounts]]
id = "222222222222"

[[fleet.accounts]]
id = "333333333333"

[[fleet.accounts]]
id = "444444444444"
"#;

struct Fleet {
    moto: MotoServer,
    gate: StsGate,
    config: PathBuf,
    _dir: tempdir::Dir,
}

impl Fleet {
    fn autosub(&self, args: &[&str]) -> (Option<i32>, Value, String) {
        let out = Command::new(autosub_binary())
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .args(["--output", "json"])
            .env("AWS_ENDPOINT_URL", self.moto.endpoint())
            .env("AWS_ENDPOINT_URL_STS", self.gate.endpoint())
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1")
            .env("AUTOSUB_LOG", "warn")
            .env_remove("AWS_PROFILE")
            .env_remove("AUTOSUB_CONFIG_TOML")
            .output()
            .expect("run autosub");
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let json = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("autosub {args:?} printed no JSON ({e}): {stderr}"));
        (out.status.code(), json, stderr)
    }
}

fn targets_with_changes(report: &Value) -> BTreeSet<String> {
    report["passes"]
        .as_array()
        .expect("passes")
        .iter()
        .filter(|p| {
            p["plan"]["changes"]
                .as_array()
                .is_some_and(|c| !c.is_empty())
        })
        .map(|p| {
            format!(
                "{}/{}",
                p["target"]["account"].as_str().unwrap_or_default(),
                p["target"]["region"].as_str().unwrap_or_default()
            )
        })
        .collect()
}

// Multi-threaded: the STS gate serves the autosub process while this test blocks on it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_is_diagnosed_then_converges_around_a_denied_role_and_a_missing_forwarder() {
    let moto = MotoServer::start().expect("start moto_server");
    let sdk = moto.sdk_config("us-east-1");
    let mut converging = Vec::new();
    for account in [MEMBER_A, MEMBER_B] {
        for region in REGIONS {
            let missing = account == MEMBER_B && region == "eu-west-1";
            let estate = seed_target(&sdk, account, region, !missing).await;
            if !missing {
                converging.push(estate);
            }
        }
    }
    let gate = StsGate::start(
        &moto.endpoint(),
        &[&format!("arn:aws:iam::{DENIED}:role/autosub")],
    )
    .await
    .expect("start the STS gate");
    let dir = tempdir::Dir::new();
    let config = dir.0.join("autosub.toml");
    std::fs::write(&config, CONFIG).expect("write the config");
    let fleet = Fleet {
        moto,
        gate,
        config,
        _dir: dir,
    };

    // The doctor finds the same two problems first, each named with its fix.
    let (code, doctor, stderr) = fleet.autosub(&["doctor"]);
    assert_eq!(code, Some(1), "the doctor fails: {doctor:#} {stderr}");
    let check = |name: &str| -> (String, String, String) {
        let found = doctor["checks"]
            .as_array()
            .expect("checks")
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("a check {name:?} in {doctor:#}"));
        let text = |key: &str| found[key].as_str().unwrap_or_default().to_owned();
        (text("status"), text("detail"), text("fix"))
    };
    for member in [MEMBER_A, MEMBER_B] {
        let (status, detail, _) = check(&format!("assume-role {member}"));
        assert_eq!(status, "pass", "{detail}");
        assert!(
            detail.contains(&format!("acts in account {member}")),
            "{detail}"
        );
    }
    let (status, detail, fix) = check(&format!("assume-role {DENIED}"));
    assert_eq!(status, "fail");
    assert!(detail.contains("AccessDenied"), "{detail}");
    assert!(fix.contains("fleet-member-role.yaml"), "{fix}");
    let (status, detail, _) = check(&format!("forwarder {MEMBER_B}/eu-west-1"));
    assert_eq!(status, "fail");
    assert!(
        detail.contains(
            "arn:aws:lambda:eu-west-1:333333333333:function:datadog-forwarder does not exist"
        ),
        "{detail}"
    );
    let (status, _, _) = check(&format!("forwarder {MEMBER_A}/eu-west-1"));
    assert_eq!(status, "pass");
    assert!(
        doctor["checks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| !c["name"].as_str().unwrap().contains(DENIED)
                || c["name"] == format!("assume-role {DENIED}")),
        "nothing else is checked in an account that cannot be reached: {doctor:#}"
    );

    let (code, report, stderr) = fleet.autosub(&["reconcile"]);
    assert_eq!(code, Some(3), "partial: {stderr}");
    let failures: Vec<(String, Option<String>, String)> = report["failures"]
        .as_array()
        .expect("failures")
        .iter()
        .map(|f| {
            (
                f["account"].as_str().unwrap_or_default().to_owned(),
                f["region"].as_str().map(str::to_owned),
                f["reason"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        failures,
        [
            (
                MEMBER_B.to_owned(),
                Some("eu-west-1".to_owned()),
                "no_forwarder".to_owned()
            ),
            (DENIED.to_owned(), None, "assume_role".to_owned()),
        ],
        "{stderr}"
    );
    assert!(
        stderr.contains("arn:aws:iam::444444444444:role/autosub")
            && stderr.contains("AccessDenied"),
        "the denied role is named with AWS's reason: {stderr}"
    );
    assert!(
        stderr.contains("datadog-forwarder") && stderr.contains("333333333333/eu-west-1"),
        "the missing forwarder is named: {stderr}"
    );
    let changed = targets_with_changes(&report);
    assert_eq!(
        changed,
        BTreeSet::from([
            format!("{MEMBER_A}/us-east-1"),
            format!("{MEMBER_A}/eu-west-1"),
            format!("{MEMBER_B}/us-east-1"),
        ]),
        "each reachable target with a forwarder planned its own changes"
    );

    // Every converging target: our filter to its own forwarder, our notification beside the
    // foreign queue rule on its own log bucket.
    for estate in &converging {
        let filters = estate
            .cx
            .logs
            .describe_subscription_filters()
            .log_group_name(APP_LOG_GROUP)
            .send()
            .await
            .expect("read filters");
        let ours: Vec<_> = filters
            .subscription_filters()
            .iter()
            .filter(|f| f.filter_name() == Some("autosub"))
            .collect();
        assert_eq!(ours.len(), 1, "{}/{}", estate.cx.account, estate.cx.region);
        assert_eq!(
            ours[0].destination_arn(),
            Some(estate.forwarder_arn.as_str())
        );
        let notifications = estate
            .cx
            .s3
            .get_bucket_notification_configuration()
            .bucket(&estate.log_bucket)
            .send()
            .await
            .expect("read notifications");
        let queue_ids: Vec<_> = notifications
            .queue_configurations()
            .iter()
            .filter_map(|q| q.id())
            .collect();
        assert_eq!(queue_ids, [FOREIGN_QUEUE_RULE], "the foreign rule survives");
        let lambdas: Vec<_> = notifications
            .lambda_function_configurations()
            .iter()
            .map(|l| l.lambda_function_arn())
            .collect();
        assert_eq!(lambdas, [estate.forwarder_arn.as_str()]);
    }

    // A second pass plans nothing anywhere, and still reports the two broken targets.
    let (code, report, stderr) = fleet.autosub(&["plan"]);
    assert_eq!(code, Some(3), "still partial: {stderr}");
    assert_eq!(targets_with_changes(&report), BTreeSet::new(), "{report:#}");
    assert_eq!(report["failures"].as_array().map(Vec::len), Some(2));
}

/// The buckets whose notification configuration a `reconcile --output json` report wrote.
fn buckets_written(report: &Value) -> BTreeSet<String> {
    report["passes"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|p| p["outcomes"].as_array().cloned().unwrap_or_default())
        .filter(|o| {
            o["outcome"] == "applied" && o["change"]["trigger"]["kind"] == "s3_notification"
        })
        .filter_map(|o| o["change"]["trigger"]["bucket"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn two_racing_reconciles_never_write_the_same_bucket() {
    let demo = crate::e2e::Demo::start().await;
    let table = "autosub-race-leases";
    let leases = crate::lease::create_table_named(&demo.moto, table).await;
    let mut text = std::fs::read_to_string(&demo.config).expect("read the demo config");
    text.push_str(&format!("\n[lease]\ntable = \"{table}\"\n"));
    std::fs::write(&demo.config, text).expect("write the config");

    // Each racer signs with its own access key, so moto's request log tells their writes apart.
    demo.moto
        .start_recording()
        .await
        .expect("start moto's recorder");
    // The second starts as soon as the first holds a lease (moto evaluates DynamoDB conditions
    // without a lock, so truly simultaneous grants are DynamoDB's to arbitrate, not moto's).
    let spawn = |racer: &str| {
        demo.command(&["reconcile", "--output", "json"])
            .env("AWS_ACCESS_KEY_ID", racer)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start autosub")
    };
    let first = spawn("racer-one");
    let lease_key = format!("lease/{}/us-east-1", demo.estate.account);
    for _ in 0..400 {
        let item = leases
            .get_item()
            .table_name(table)
            .key("pk", AttributeValue::S(lease_key.clone()))
            .key("sk", AttributeValue::S("lease".into()))
            .send()
            .await
            .expect("read the lease");
        if item.item().is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let racers = [first, spawn("racer-two")];
    let mut written = Vec::new();
    let mut held = 0;
    for racer in racers {
        let out = racer.wait_with_output().expect("wait for autosub");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            matches!(out.status.code(), Some(0 | 3)),
            "exit {:?}: {stderr}",
            out.status.code()
        );
        held += stderr.matches("holds its lease").count();
        let report: Value = serde_json::from_slice(&out.stdout).expect("JSON report");
        written.push(buckets_written(&report));
    }
    assert!(
        held > 0,
        "the second racer started while the first held a lease, so it met a held target"
    );
    // What moto saw: every PutBucketNotificationConfiguration, by the key that signed it.
    let mut seen: [BTreeSet<String>; 2] = Default::default();
    for request in demo.moto.recorded_requests().expect("moto's request log") {
        if matches!(request.access_key_id(), Some("racer-one" | "racer-two")) {
            // CloudTrail records it: event-driven mode ignores the events of autosub's writes.
            let agent = request.header("user-agent").unwrap_or_default();
            assert!(
                agent.split_whitespace().any(|part| part == "app/autosub"),
                "autosub's calls name it in their User-Agent: {agent:?} ({})",
                request.url
            );
        }
        if let Some(bucket) = request.notification_write_bucket() {
            let racer = match request.access_key_id() {
                Some("racer-one") => 0,
                Some("racer-two") => 1,
                other => panic!("a notification write signed by {other:?}"),
            };
            seen[racer].insert(bucket.to_owned());
        }
    }
    let both: BTreeSet<&String> = seen[0].intersection(&seen[1]).collect();
    assert!(
        both.is_empty(),
        "buckets moto saw written by both racers: {both:?} (held {held} times)"
    );
    assert!(
        !seen[0].is_empty() || !seen[1].is_empty(),
        "the demo estate needs bucket notifications"
    );
    assert_eq!(
        seen.to_vec(),
        written,
        "each racer's report names exactly the buckets moto saw it write"
    );

    // Whoever did the work, the estate converged once: a third run plans nothing.
    let plan = demo.json(&["plan"], 0);
    assert_eq!(crate::e2e::changes(&plan), BTreeSet::new());
}
