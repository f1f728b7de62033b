//! The service registry (`autosub_core::Service::spec`) against what a run really calls: every
//! AWS service the call recorder counts in a demo run is one `autosub doctor` checks, and the
//! infrastructure a configuration adds (ledger and lease tables, region listing, Organizations)
//! is in the doctor's endpoint list too.

use std::collections::BTreeSet;

use autosub_aws::AwsSettings;
use autosub_aws::endpoints::AwsService;
use autosub_aws::factory::ClientFactory;
use autosub_config::Config;
use autosub_core::Region;
use autosub_ops::doctor::{DoctorCx, Net, SystemResolver, TcpDialer, aws_endpoints};
use serde_json::Value;

use crate::e2e::Demo;

/// The AWS service whose SDK service id the call recorder printed (`"CloudWatch Logs"`).
fn by_service_id(id: &str) -> AwsService {
    AwsService::ALL
        .into_iter()
        .find(|s| s.service_id() == id)
        .unwrap_or_else(|| panic!("the call recorder names {id:?}, which AwsService lacks"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_service_a_demo_run_calls_is_one_the_doctor_checks() {
    let demo = Demo::start().await;
    let runs = [demo.json(&["plan"], 0), demo.json(&["reconcile"], 0)];
    let called: BTreeSet<String> = runs
        .iter()
        .flat_map(|run| run["aws_calls"]["by_operation"].as_array().unwrap().clone())
        .map(|row| by_service_id(row["service"].as_str().unwrap()).to_string())
        .collect();
    assert!(called.len() > 5, "the demo calls every service: {called:?}");

    let out = demo
        .command(&["doctor", "--output", "json"])
        .output()
        .unwrap();
    let doctor: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "doctor printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let checked: BTreeSet<String> = doctor["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| {
            c["name"]
                .as_str()?
                .strip_prefix("endpoint ")?
                .split(' ')
                .next()
        })
        .map(str::to_owned)
        .collect();
    let unchecked: Vec<_> = called.difference(&checked).collect();
    assert!(
        unchecked.is_empty(),
        "called by a run but not checked by the doctor: {unchecked:?}"
    );
}

#[tokio::test]
async fn the_doctor_checks_the_stores_the_region_listing_organizations_and_the_queue_a_run_calls() {
    let factory = ClientFactory::new(AwsSettings {
        endpoint_url: Some("http://127.0.0.1:9".into()),
        region: Some(Region::new("eu-west-1")),
        ..AwsSettings::default()
    })
    .await;
    let resolver = SystemResolver::default();
    let dialer = TcpDialer::default();
    let endpoints = |text: &str| -> BTreeSet<(String, String)> {
        let config = Config::parse(text, "t.toml").unwrap();
        let cx = DoctorCx {
            config: &config,
            factory: &factory,
            net: Net {
                resolver: &resolver,
                dialer: &dialer,
            },
            api_key: Ok(None),
        };
        aws_endpoints(&cx, &[Region::new("eu-west-1")])
            .into_iter()
            .map(|e| (e.service.to_string(), e.region.to_string()))
            .collect()
    };
    let pair = |service: &str, region: &str| (service.to_owned(), region.to_owned());

    let plain = endpoints(
        "[aws]\nregions = [\"eu-west-1\"]\n[forwarders]\neu-west-1 = \"fwd\"\n[services.wafv2]\nenabled = true\n[services.vpc_flow_logs]\nenabled = false\n",
    );
    for (service, region) in [
        ("sts", "eu-west-1"),
        ("lambda", "eu-west-1"),
        ("s3", "eu-west-1"),
        ("logs", "eu-west-1"),
        ("wafv2", "eu-west-1"),
        // WAF's CLOUDFRONT scope is global: asked in GLOBAL_LOG_REGION.
        ("wafv2", autosub_core::GLOBAL_LOG_REGION),
    ] {
        assert!(
            plain.contains(&pair(service, region)),
            "{service} {region} in {plain:?}"
        );
    }
    for service in ["dynamodb", "ec2", "organizations", "sqs"] {
        assert!(
            plain.iter().all(|(s, _)| s != service),
            "{service} is not called by this configuration: {plain:?}"
        );
    }

    let stores = endpoints(
        "[aws]\nregions = [\"eu-west-1\"]\n[forwarders]\neu-west-1 = \"fwd\"\n[ledger]\nlocation = \"dynamodb://autosub-ledger\"\n[lease]\ntable = \"autosub-lease\"\n",
    );
    assert!(
        stores.contains(&pair("dynamodb", "eu-west-1")),
        "{stores:?}"
    );
    // VPC flow log discovery (on by default) reads DescribeFlowLogs in each region.
    assert!(stores.contains(&pair("ec2", "eu-west-1")), "{stores:?}");

    let fleet = endpoints(
        "[aws]\nregions = [\"all\"]\n[forwarders]\neu-west-1 = \"fwd\"\n[fleet.organizations]\nous = [\"ou-ab12-cdef3456\"]\n",
    );
    assert!(fleet.contains(&pair("ec2", "eu-west-1")), "{fleet:?}");
    assert!(
        fleet.contains(&pair("organizations", "us-east-1")),
        "{fleet:?}"
    );

    let events = endpoints(
        "[aws]\nregions = [\"eu-west-1\"]\n[forwarders]\neu-west-1 = \"fwd\"\n[events]\nqueue_url = \"https://sqs.eu-central-1.amazonaws.com/111111111111/autosub-events\"\n",
    );
    assert!(
        events.contains(&pair("sqs", "eu-central-1")),
        "the queue is called in its own region: {events:?}"
    );
}
