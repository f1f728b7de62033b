//! End to end: the built `autosub` binary against moto seeded with the demo estate.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use autosub_testkit::estate::FilterSpec;
use autosub_testkit::{Clients, DemoEstate, MotoServer, seed_demo_estate};
use serde_json::Value;

/// The `autosub` binary, built once per test run by the same cargo that runs the tests, so it is
/// never stale. Built as `scripts/test.sh` builds it (with the workspace's tests, so with their
/// features): a no-op after that script's build, and never a second build of the SDK crates.
pub(crate) fn autosub_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut build = Command::new(env!("CARGO"));
        build
            .args(["build", "--quiet", "--workspace", "--bins", "--tests"])
            .current_dir(&workspace);
        // Cargo gives this test process the variables of the package under test. Some build
        // scripts (ring's) fingerprint CARGO_MANIFEST_DIR, so passing them on would make this
        // build rerun them and recompile the whole SDK instead of finding it up to date.
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy();
            if cargo_sets_for_the_test(&name) {
                build.env_remove(name.as_ref());
            }
        }
        let status = build
            .status()
            .expect("run cargo build for the autosub binary");
        assert!(status.success(), "cargo build of the autosub binary failed");
        // This test binary lives in <target>/<profile>/deps; the CLI in <target>/<profile>.
        let exe = std::env::current_exe().expect("the test binary's path");
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("<target>/<profile>");
        profile_dir.join(format!("autosub{}", std::env::consts::EXE_SUFFIX))
    })
}

/// Whether `name` is one of the variables cargo sets for the package whose tests run.
fn cargo_sets_for_the_test(name: &str) -> bool {
    [
        "CARGO_PKG_",
        "CARGO_MANIFEST_",
        "CARGO_CRATE_",
        "CARGO_BIN_",
    ]
    .iter()
    .any(|prefix| name.starts_with(prefix))
        || ["CARGO_PRIMARY_PACKAGE", "CARGO_TARGET_TMPDIR", "OUT_DIR"].contains(&name)
}

/// A moto server seeded with the demo estate, and a config file for it.
pub(crate) struct Demo {
    pub(crate) moto: MotoServer,
    pub(crate) estate: DemoEstate,
    pub(crate) us: Clients,
    pub(crate) config: PathBuf,
    _dir: tempdir::Dir,
}

pub(crate) mod tempdir {
    /// A temporary directory removed on drop.
    pub struct Dir(pub std::path::PathBuf);

    impl Dir {
        pub fn new() -> Self {
            let path = std::env::temp_dir().join(format!(
                "autosub-e2e-{}-{}",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos())
                    .unwrap_or_default()
            ));
            std::fs::create_dir_all(&path).expect("create a temp dir");
            Self(path)
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

impl Demo {
    pub(crate) async fn start() -> Self {
        let moto = MotoServer::start().expect("start moto_server");
        let sdk = moto.sdk_config("us-east-1");
        let estate = seed_demo_estate(&sdk, autosub_testkit::MOTO_DEFAULT_ACCOUNT)
            .await
            .expect("seed the demo estate");
        let us = Clients::new(&sdk, &estate.account, &estate.region);
        let dir = tempdir::Dir::new();
        let config = dir.0.join("autosub.toml");
        let demo_config = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/demo.toml");
        std::fs::copy(demo_config, &config).expect("copy config/demo.toml");
        Self {
            moto,
            estate,
            us,
            config,
            _dir: dir,
        }
    }

    /// `autosub --config <the demo config> <args>` against the demo's moto.
    pub(crate) fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(autosub_binary());
        command
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .env("AWS_ENDPOINT_URL", self.moto.endpoint())
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1")
            .env("AUTOSUB_LOG", "warn")
            .env_remove("AWS_PROFILE")
            .env_remove("AUTOSUB_CONFIG_TOML");
        command
    }

    fn autosub(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run autosub")
    }

    /// Runs `autosub <args> --output json`, checks the exit code and parses stdout.
    pub(crate) fn json(&self, args: &[&str], want_code: i32) -> Value {
        let mut all = args.to_vec();
        all.extend(["--output", "json"]);
        let out = self.autosub(&all);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(want_code),
            "autosub {args:?}: {stderr}"
        );
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("autosub {args:?} printed no JSON ({e}): {stderr}"))
    }

    /// Every entry and filter autosub must never touch, as the SDK reads them.
    pub(crate) async fn foreign_state(&self) -> Vec<String> {
        let mut state = Vec::new();
        for bucket in self.estate.foreign_notifications.keys() {
            let config = self
                .us
                .s3
                .get_bucket_notification_configuration()
                .bucket(bucket)
                .send()
                .await
                .expect("read notifications");
            state.extend(
                config
                    .topic_configurations()
                    .iter()
                    .map(|c| format!("{bucket} {c:?}")),
            );
            state.extend(
                config
                    .queue_configurations()
                    .iter()
                    .map(|c| format!("{bucket} {c:?}")),
            );
            state.extend(
                config
                    .lambda_function_configurations()
                    .iter()
                    .filter(|c| !c.id().unwrap_or_default().starts_with("autosub-"))
                    .map(|c| format!("{bucket} {c:?}")),
            );
        }
        for group in [
            &self.estate.full_log_group,
            &self.estate.adopted_filter.log_group,
        ] {
            let filters = self
                .us
                .logs
                .describe_subscription_filters()
                .log_group_name(group)
                .send()
                .await
                .expect("read filters");
            state.extend(filters.subscription_filters().iter().map(|f| {
                format!(
                    "{group} {:?} {:?} {:?}",
                    f.filter_name(),
                    f.destination_arn(),
                    f.filter_pattern()
                )
            }));
        }
        let policy = self
            .us
            .lambda
            .get_policy()
            .function_name(&self.estate.forwarder_name)
            .send()
            .await
            .expect("read the forwarder policy");
        let policy: Value =
            serde_json::from_str(policy.policy().unwrap_or("{}")).expect("policy JSON");
        for statement in policy["Statement"].as_array().into_iter().flatten() {
            if !statement["Sid"]
                .as_str()
                .unwrap_or_default()
                .starts_with("autosub-")
            {
                state.push(statement.to_string());
            }
        }
        state
    }
}

/// Replaces the ids AWS generates (API ids, ACL ids, load balancer suffixes, distribution ids)
/// with `*`, so expectations can name resources.
fn generated_ids_elided(line: String) -> String {
    static PATTERNS: OnceLock<Vec<(regex::Regex, &str)>> = OnceLock::new();
    let patterns = PATTERNS.get_or_init(|| {
        [
            (r"Execution-Logs_[a-z0-9]+/", "Execution-Logs_*/"),
            (r"/(restapis|apis)/[a-z0-9]+/", "/$1/*/"),
            (r"webacl/([^/]+)/[0-9a-f-]+", "webacl/$1/*"),
            (
                r"loadbalancer/(app|net)/([^/]+)/[0-9a-f]+",
                "loadbalancer/$1/$2/*",
            ),
            (r"distribution/[A-Z0-9]+", "distribution/*"),
            (r"vpc-flow-log/fl-[0-9a-f]+", "vpc-flow-log/fl-*"),
        ]
        .into_iter()
        .map(|(p, r)| (regex::Regex::new(p).expect("a valid pattern"), r))
        .collect()
    });
    patterns
        .iter()
        .fold(line, |line, (p, r)| p.replace_all(&line, *r).into_owned())
}

/// Every action an IAM policy document grants.
pub(crate) fn granted_actions(policy: &Value) -> BTreeSet<String> {
    policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["Action"].as_array().cloned().unwrap())
        .map(|a| a.as_str().unwrap().to_owned())
        .collect()
}

pub(crate) fn changes(plan: &Value) -> BTreeSet<String> {
    plan["passes"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|p| p["plan"]["changes"].as_array().cloned().unwrap_or_default())
        .map(|c| {
            let t = &c["trigger"];
            let resource = match t["kind"].as_str() {
                Some("s3_notification") => format!(
                    "s3://{}/{}",
                    t["bucket"].as_str().unwrap(),
                    t["prefix"].as_str().unwrap()
                ),
                Some("subscription_filter") => t["log_group"].as_str().unwrap().to_owned(),
                _ => format!(
                    "{} {}",
                    t["forwarder"].as_str().unwrap(),
                    t["permission"]["statement_id"].as_str().unwrap()
                ),
            };
            generated_ids_elided(format!(
                "{} {} {resource}",
                c["action"].as_str().unwrap(),
                t["kind"].as_str().unwrap()
            ))
        })
        .collect()
}

fn skips(plan: &Value) -> BTreeSet<String> {
    plan["passes"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|p| p["plan"]["skips"].as_array().cloned().unwrap_or_default())
        .map(|s| {
            generated_ids_elided(format!(
                "{} {}",
                s["reason"].as_str().unwrap(),
                s["subject"].as_str().unwrap()
            ))
        })
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

const US_FWD: &str = "arn:aws:lambda:us-east-1:123456789012:function:datadog-forwarder";
const EU_FWD: &str = "arn:aws:lambda:eu-west-1:123456789012:function:datadog-forwarder";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_estate_plans_exactly_then_converges_and_foreign_triggers_survive() {
    let demo = Demo::start().await;
    let foreign_before = demo.foreign_state().await;

    let plan = demo.json(&["plan", "--detailed-exitcode"], 2);
    assert_eq!(
        changes(&plan),
        set(&[
            &format!("create invoke_permission {US_FWD} autosub-s3-123456789012"),
            &format!("create invoke_permission {EU_FWD} autosub-logs-123456789012"),
            &format!("create invoke_permission {EU_FWD} autosub-s3-123456789012"),
            // Lambda, and S3 access logs in both regions.
            "create subscription_filter /aws/lambda/checkout-api",
            "create subscription_filter /aws/lambda/payments-worker",
            "create subscription_filter /aws/lambda/siem-shipper",
            "create s3_notification s3://demo-access-logs/s3/app-assets/",
            "create s3_notification s3://demo-access-logs/s3/app-uploads/",
            "create s3_notification s3://demo-eu-logs/site/",
            // CloudFront (global), each bucket routed to its own region's forwarder.
            "create s3_notification s3://demo-cdn-logs/cloudfront/www/",
            "create s3_notification s3://demo-eu-cdn-logs/cloudfront/shop/",
            // ALB access and connection logs, NLB, classic ELB.
            "create s3_notification s3://demo-alb-logs/alb/web/AWSLogs/123456789012/",
            "create s3_notification s3://demo-alb-logs/alb/web-conn/AWSLogs/123456789012/",
            "create s3_notification s3://demo-eu-alb-logs/AWSLogs/123456789012/",
            "create s3_notification s3://demo-elb-logs/AWSLogs/123456789012/",
            "create s3_notification s3://demo-elb-logs/classic/legacy-web/AWSLogs/123456789012/",
            // Redshift to S3 and to CloudWatch Logs.
            "create s3_notification s3://demo-redshift-logs/AWSLogs/123456789012/redshift/us-east-1/",
            "create s3_notification s3://demo-eu-redshift-logs/audit/AWSLogs/123456789012/redshift/eu-west-1/",
            "create subscription_filter /aws/redshift/cluster/demo-analytics/connectionlog",
            "create subscription_filter /aws/redshift/cluster/demo-analytics/userlog",
            // Step Functions.
            "create subscription_filter /aws/vendedlogs/states/demo-order-pipeline",
            "create subscription_filter /aws/vendedlogs/states/demo-eu-pipeline",
            // WAF: a regional ACL to a log group, the CLOUDFRONT-scope one and an eu one to S3.
            "create subscription_filter aws-waf-logs-demo-api",
            "create s3_notification s3://aws-waf-logs-demo-site/edge/AWSLogs/123456789012/WAFLogs/",
            "create s3_notification s3://aws-waf-logs-demo-eu/AWSLogs/123456789012/WAFLogs/",
            // API Gateway: REST access and execution logs, HTTP API access logs.
            "create subscription_filter /demo/apigateway/orders-access",
            "create subscription_filter API-Gateway-Execution-Logs_*/prod",
            "create subscription_filter /demo/apigateway/payments-access",
            "create subscription_filter /demo/apigateway/eu-catalog-access",
            // VPC flow logs to a log group and to S3 (narrowed to the account's folder).
            "create subscription_filter /demo/vpc-flow-logs",
            "create s3_notification s3://demo-vpc-flow-logs/AWSLogs/123456789012/vpcflowlogs/",
            // CloudTrail: two trails' folders in one bucket, one trail's log group.
            "create s3_notification s3://demo-cloudtrail-logs/audit/AWSLogs/123456789012/CloudTrail/",
            "create s3_notification s3://demo-cloudtrail-logs/cw/AWSLogs/123456789012/CloudTrail/",
            "create subscription_filter /demo/cloudtrail",
        ]),
        "the Datadog template's logs statement already covers the log groups: no logs permission"
    );
    assert_eq!(
        skips(&plan),
        set(&[
            "no_free_slot log-group:/aws/lambda/audit-sink",
            // moto drops LoggingConfig, so image-resizer's custom group is not visible here; the
            // custom-group mapping is covered by the Lambda discoverer's unit test.
            "log_group_missing log-group:/aws/lambda/image-resizer",
            "log_group_missing log-group:/aws/lambda/nightly-report",
            "s3_overlap s3://demo-conflict-logs/s3/",
            // Logs that go where no trigger can be put.
            "not_subscribable arn:aws:apigateway:us-east-1::/restapis/*/stages/prod",
            "not_subscribable arn:aws:states:us-east-1:123456789012:stateMachine:demo-cross-region",
            "not_subscribable arn:aws:wafv2:us-east-1:123456789012:regional/webacl/demo-admin-acl/*",
            "not_subscribable arn:aws:ec2:us-east-1:123456789012:vpc-flow-log/fl-*",
            // A trail recording reads of its own bucket: the loop guard.
            "loop_guard s3://demo-cloudtrail-loop/AWSLogs/123456789012/CloudTrail/",
            // moto answers DescribeAccountPolicies with a 500.
            "unreadable account-policies",
        ])
    );
    // Passes are reported in (account, region) order; the conflict bucket is in us-east-1.
    let overlap = plan["passes"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["plan"]["skips"].as_array().unwrap())
        .find(|s| s["reason"] == "s3_overlap")
        .expect("an s3_overlap skip in some pass");
    assert!(
        overlap["detail"]
            .as_str()
            .unwrap()
            .contains(&demo.estate.conflict_rule_id),
        "the skip names the foreign rule: {overlap}"
    );

    // `reconcile --dry-run` prints the same plan and changes nothing.
    let dry = demo.json(&["reconcile", "--dry-run"], 0);
    assert_eq!(changes(&dry), changes(&plan));

    let applied = demo.json(&["reconcile"], 0);
    let outcomes: Vec<&Value> = applied["passes"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["outcomes"].as_array().unwrap())
        .collect();
    assert_eq!(outcomes.len(), 34);
    assert!(
        outcomes.iter().all(|o| o["outcome"] == "applied"),
        "{outcomes:?}"
    );

    let again = demo.json(&["plan", "--detailed-exitcode"], 0);
    assert_eq!(
        changes(&again),
        BTreeSet::new(),
        "a second pass plans nothing"
    );
    assert_eq!(
        skips(&again),
        skips(&plan),
        "the skips stay, each with its reason"
    );
    assert_eq!(
        demo.foreign_state().await,
        foreign_before,
        "foreign entries, filters and statements are unchanged"
    );

    // Our triggers really exist, pointing at the forwarder of their region.
    let eu = Clients::new(
        &demo.moto.sdk_config("eu-west-1"),
        &demo.estate.account,
        "eu-west-1",
    );
    let eu_config = eu
        .s3
        .get_bucket_notification_configuration()
        .bucket("demo-eu-logs")
        .send()
        .await
        .unwrap();
    let ours = eu_config.lambda_function_configurations();
    assert_eq!(ours.len(), 1);
    assert_eq!(ours[0].lambda_function_arn(), EU_FWD);
    let filters = demo
        .us
        .logs
        .describe_subscription_filters()
        .log_group_name("/aws/lambda/checkout-api")
        .send()
        .await
        .unwrap();
    assert_eq!(
        filters.subscription_filters()[0].filter_name(),
        Some("autosub")
    );
    assert_eq!(
        filters.subscription_filters()[0].destination_arn(),
        Some(US_FWD)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_that_goes_away_loses_our_trigger_and_foreign_ones_stay() {
    let demo = Demo::start().await;
    demo.json(&["reconcile"], 0);

    // checkout-api is deleted (its log group stays, as on AWS) and someone adds a filter there.
    demo.us
        .lambda
        .delete_function()
        .function_name("checkout-api")
        .send()
        .await
        .unwrap();
    autosub_testkit::estate::put_subscription_filter(
        &demo.us,
        &FilterSpec {
            log_group: "/aws/lambda/checkout-api".into(),
            filter_name: "team-archive".into(),
            destination_arn: demo.estate.siem_shipper_arn.clone(),
            pattern: String::new(),
        },
    )
    .await
    .unwrap();
    // demo-app-assets stops logging.
    demo.us
        .s3
        .put_bucket_logging()
        .bucket("demo-app-assets")
        .bucket_logging_status(aws_sdk_s3::types::BucketLoggingStatus::builder().build())
        .send()
        .await
        .unwrap();
    let foreign_before = demo.foreign_state().await;

    let plan = demo.json(&["plan"], 0);
    assert_eq!(
        changes(&plan),
        set(&[
            "delete s3_notification s3://demo-access-logs/s3/app-assets/",
            "delete subscription_filter /aws/lambda/checkout-api",
        ])
    );
    demo.json(&["reconcile"], 0);
    assert_eq!(changes(&demo.json(&["plan"], 0)), BTreeSet::new());

    let filters = demo
        .us
        .logs
        .describe_subscription_filters()
        .log_group_name("/aws/lambda/checkout-api")
        .send()
        .await
        .unwrap();
    let names: Vec<_> = filters
        .subscription_filters()
        .iter()
        .filter_map(|f| f.filter_name())
        .collect();
    assert_eq!(
        names,
        ["team-archive"],
        "the foreign filter in the same log group stays"
    );
    let config = demo
        .us
        .s3
        .get_bucket_notification_configuration()
        .bucket("demo-access-logs")
        .send()
        .await
        .unwrap();
    let ids: Vec<_> = config
        .lambda_function_configurations()
        .iter()
        .filter_map(|c| c.id())
        .collect();
    assert_eq!(
        ids,
        ["thumbnailer", "autosub-s3/app-uploads/"],
        "the foreign Lambda entry and our other prefix stay"
    );
    assert_eq!(demo.foreign_state().await, foreign_before);
}

#[test]
fn every_example_config_validates_and_a_bad_one_names_its_keys() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config");
    let mut seen = 0;
    for entry in std::fs::read_dir(&root).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let out = Command::new(autosub_binary())
                .arg("--config")
                .arg(&path)
                .arg("validate-config")
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}: {}",
                path.display(),
                String::from_utf8_lossy(&out.stderr)
            );
            seen += 1;
        }
    }
    assert!(
        seen >= 2,
        "config/ holds the annotated example and the demo config"
    );

    let dir = tempdir::Dir::new();
    let bad = dir.0.join("bad.toml");
    std::fs::write(&bad, "[forwarders]\nus-east-1 = \"arn:aws:lambda:eu-west-1:123456789012:function:fwd\"\n[safety]\nmax_deletes = 1\n").unwrap();
    let out = Command::new(autosub_binary())
        .arg("--config")
        .arg(&bad)
        .arg("plan")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(4),
        "bad config has its own exit code"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("max_deletes"), "{stderr}");
    std::fs::write(
        &bad,
        "[forwarders]\nus-east-1 = \"arn:aws:lambda:eu-west-1:123456789012:function:fwd\"\n",
    )
    .unwrap();
    let out = Command::new(autosub_binary())
        .arg("--config")
        .arg(&bad)
        .arg("validate-config")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4));
    assert!(
        stderr.contains("forwarders.us-east-1") && stderr.contains("own region"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discover_lists_every_source_with_service_arn_and_location() {
    let demo = Demo::start().await;
    let found = demo.json(&["discover"], 0);
    let sources: BTreeSet<String> = found["passes"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["sources"].as_array().cloned().unwrap())
        .map(|s| {
            let l = &s["location"];
            let location = match l["kind"].as_str().unwrap() {
                "s3" => format!(
                    "s3://{}/{}",
                    l["bucket"].as_str().unwrap(),
                    l["prefix"].as_str().unwrap()
                ),
                _ => l["name"].as_str().unwrap().to_owned(),
            };
            generated_ids_elided(format!(
                "{} {} {location}",
                s["service"].as_str().unwrap(),
                s["resource_arn"].as_str().unwrap()
            ))
        })
        .collect();
    let lambda = |name: &str| {
        format!("lambda arn:aws:lambda:us-east-1:123456789012:function:{name} /aws/lambda/{name}")
    };
    let mut want: BTreeSet<String> = [
        "audit-sink",
        "checkout-api",
        "image-resizer",
        "nightly-report",
        "orders-api",
        "payments-worker",
        "siem-shipper",
    ]
    .iter()
    .map(|n| lambda(n))
    .collect();
    want.extend(set(&[
        "s3_access_logs arn:aws:s3:::demo-app-assets s3://demo-access-logs/s3/app-assets/",
        "s3_access_logs arn:aws:s3:::demo-app-uploads s3://demo-access-logs/s3/app-uploads/",
        "s3_access_logs arn:aws:s3:::demo-conflict-src s3://demo-conflict-logs/s3/",
        "s3_access_logs arn:aws:s3:::demo-eu-site s3://demo-eu-logs/site/",
        // moto's distribution ARNs lack the empty region field AWS has (`cloudfront::<account>`).
        "cloudfront arn:aws:cloudfront:123456789012:distribution/* s3://demo-cdn-logs/cloudfront/www/",
        "cloudfront arn:aws:cloudfront:123456789012:distribution/* s3://demo-eu-cdn-logs/cloudfront/shop/",
        "elbv2 arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/demo-web-alb/* s3://demo-alb-logs/alb/web/AWSLogs/123456789012/",
        "elbv2 arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/demo-web-alb/* s3://demo-alb-logs/alb/web-conn/AWSLogs/123456789012/",
        "elbv2 arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/demo-eu-nlb/* s3://demo-eu-alb-logs/AWSLogs/123456789012/",
        "elb arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/demo-legacy-api s3://demo-elb-logs/AWSLogs/123456789012/",
        "elb arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/demo-legacy-web s3://demo-elb-logs/classic/legacy-web/AWSLogs/123456789012/",
        "redshift arn:aws:redshift:us-east-1:123456789012:cluster:demo-analytics /aws/redshift/cluster/demo-analytics/connectionlog",
        "redshift arn:aws:redshift:us-east-1:123456789012:cluster:demo-analytics /aws/redshift/cluster/demo-analytics/userlog",
        "redshift arn:aws:redshift:us-east-1:123456789012:cluster:demo-warehouse s3://demo-redshift-logs/AWSLogs/123456789012/redshift/us-east-1/",
        "redshift arn:aws:redshift:eu-west-1:123456789012:cluster:demo-eu-warehouse s3://demo-eu-redshift-logs/audit/AWSLogs/123456789012/redshift/eu-west-1/",
        "step_functions arn:aws:states:us-east-1:123456789012:stateMachine:demo-order-pipeline /aws/vendedlogs/states/demo-order-pipeline",
        "step_functions arn:aws:states:eu-west-1:123456789012:stateMachine:demo-eu-pipeline /aws/vendedlogs/states/demo-eu-pipeline",
        "wafv2 arn:aws:wafv2:us-east-1:123456789012:global/webacl/demo-site-acl/* s3://aws-waf-logs-demo-site/edge/AWSLogs/123456789012/WAFLogs/",
        "wafv2 arn:aws:wafv2:us-east-1:123456789012:regional/webacl/demo-api-acl/* aws-waf-logs-demo-api",
        "wafv2 arn:aws:wafv2:eu-west-1:123456789012:regional/webacl/demo-eu-acl/* s3://aws-waf-logs-demo-eu/AWSLogs/123456789012/WAFLogs/",
        "api_gateway arn:aws:apigateway:us-east-1::/restapis/*/stages/prod /demo/apigateway/orders-access",
        "api_gateway arn:aws:apigateway:us-east-1::/restapis/*/stages/prod API-Gateway-Execution-Logs_*/prod",
        "api_gateway arn:aws:apigateway:us-east-1::/apis/*/stages/$default /demo/apigateway/payments-access",
        "api_gateway arn:aws:apigateway:eu-west-1::/apis/*/stages/$default /demo/apigateway/eu-catalog-access",
        "vpc_flow_logs arn:aws:ec2:us-east-1:123456789012:vpc-flow-log/fl-* /demo/vpc-flow-logs",
        "vpc_flow_logs arn:aws:ec2:us-east-1:123456789012:vpc-flow-log/fl-* s3://demo-vpc-flow-logs/AWSLogs/123456789012/vpcflowlogs/",
        "cloudtrail arn:aws:cloudtrail:us-east-1:123456789012:trail/demo-audit-trail s3://demo-cloudtrail-logs/audit/AWSLogs/123456789012/CloudTrail/",
        "cloudtrail arn:aws:cloudtrail:us-east-1:123456789012:trail/demo-cw-trail /demo/cloudtrail",
        "cloudtrail arn:aws:cloudtrail:us-east-1:123456789012:trail/demo-cw-trail s3://demo-cloudtrail-logs/cw/AWSLogs/123456789012/CloudTrail/",
    ]));
    assert_eq!(sources, want, "the forwarders are not sources");
}

/// The IAM action each AWS operation needs (IAM's names differ from the API's in places).
fn iam_action(service: &str, operation: &str) -> String {
    let prefix = match service {
        "S3" => "s3",
        "Lambda" => "lambda",
        "CloudWatch Logs" => "logs",
        "CloudFront" => "cloudfront",
        "Elastic Load Balancing" | "Elastic Load Balancing v2" => "elasticloadbalancing",
        "Redshift" => "redshift",
        "SFN" => "states",
        "WAFV2" => "wafv2",
        "SQS" => "sqs",
        "EC2" => "ec2",
        "CloudTrail" => "cloudtrail",
        "API Gateway" | "ApiGatewayV2" => return "apigateway:GET".to_owned(),
        other => panic!("no IAM prefix known for SDK service {other:?}"),
    };
    let action = match (prefix, operation) {
        ("s3", "HeadBucket") => "ListBucket",
        ("s3", "ListBuckets") => "ListAllMyBuckets",
        ("s3", "GetBucketNotificationConfiguration") => "GetBucketNotification",
        ("s3", "PutBucketNotificationConfiguration") => "PutBucketNotification",
        // The events queue: batch calls are authorised as their single-message actions.
        ("sqs", "DeleteMessageBatch") => "DeleteMessage",
        ("sqs", "ChangeMessageVisibilityBatch") => "ChangeMessageVisibility",
        (_, operation) => operation,
    };
    format!("{prefix}:{action}")
}

fn recorded_actions(outputs: &[Value]) -> BTreeSet<String> {
    outputs
        .iter()
        .flat_map(|o| {
            o["aws_calls"]["by_operation"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter(|c| c["service"] != "STS") // GetCallerIdentity needs no permission.
        .map(|c| {
            iam_action(
                c["service"].as_str().unwrap(),
                c["operation"].as_str().unwrap(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_iam_policy_covers_every_call_a_run_makes_and_nothing_more() {
    let demo = Demo::start().await;
    let mut outputs = vec![demo.json(&["plan"], 0), demo.json(&["reconcile"], 0)];
    // Make a run delete a filter and an S3 entry, and replace a statement of ours that someone
    // narrowed to another account (RemovePermission + AddPermission).
    demo.us
        .lambda
        .delete_function()
        .function_name("checkout-api")
        .send()
        .await
        .unwrap();
    demo.us
        .s3
        .put_bucket_logging()
        .bucket("demo-app-assets")
        .bucket_logging_status(aws_sdk_s3::types::BucketLoggingStatus::builder().build())
        .send()
        .await
        .unwrap();
    let sid = "autosub-s3-123456789012";
    demo.us
        .lambda
        .remove_permission()
        .function_name(US_FWD)
        .statement_id(sid)
        .send()
        .await
        .unwrap();
    demo.us
        .lambda
        .add_permission()
        .function_name(US_FWD)
        .statement_id(sid)
        .action("lambda:InvokeFunction")
        .principal("s3.amazonaws.com")
        .source_account("999999999999")
        .send()
        .await
        .unwrap();
    let cleanup = demo.json(&["reconcile"], 0);
    let cleaned = changes(&serde_json::json!({ "passes": cleanup["passes"] }));
    assert!(
        // The replacement goes in under our other statement id before the old one goes.
        cleaned.contains(&format!(
            "update invoke_permission {US_FWD} autosub-s3-123456789012-b"
        )) && cleaned.contains("delete s3_notification s3://demo-access-logs/s3/app-assets/"),
        "{cleaned:?}"
    );
    outputs.push(cleanup);

    let called = recorded_actions(&outputs);
    let out = demo.autosub(&["iam-policy", "--all"]);
    assert!(out.status.success());
    let policy: Value = serde_json::from_slice(&out.stdout).unwrap();
    let granted = granted_actions(&policy);
    let missing: Vec<_> = called.difference(&granted).collect();
    assert!(missing.is_empty(), "called but not granted: {missing:?}");
    let unused: Vec<_> = granted.difference(&called).collect();
    assert!(unused.is_empty(), "granted but never called: {unused:?}");
}

#[test]
fn a_wrong_command_line_exits_64_never_the_changes_pending_code() {
    let code = |args: &[&str]| {
        Command::new(autosub_binary())
            .args(args)
            .output()
            .unwrap()
            .status
            .code()
    };
    assert_eq!(
        code(&["plan", "--detailed-exitcode", "--no-such-flag"]),
        Some(64)
    );
    assert_eq!(code(&["no-such-command"]), Some(64));
    assert_eq!(code(&["--help"]), Some(0));
    assert_eq!(code(&["--version"]), Some(0));
}

#[test]
fn the_deployed_policy_is_the_generated_one() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = Command::new(autosub_binary())
        .arg("--config")
        .arg(root.join("config/autosub.example.toml"))
        .args(["iam-policy", "--all"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let generated = String::from_utf8(out.stdout).unwrap();
    let deployed =
        std::fs::read_to_string(root.join("deploy/iam/autosub-policy.json")).unwrap_or_default();
    assert_eq!(
        deployed, generated,
        "deploy/iam/autosub-policy.json is stale: regenerate it with `autosub --config config/autosub.example.toml iam-policy --all > deploy/iam/autosub-policy.json`"
    );
}
