//! The Classic Load Balancer discoverer against moto through the production AWS layer: access
//! logs on, off and half-configured, the prefix narrowed to `…/AWSLogs/<account>/`, paging past
//! moto's 50-per-page DescribeLoadBalancers, and the tag filter over DescribeTags batches of 20.

use std::collections::{BTreeMap, BTreeSet};

use autosub_core::selection::ResourceFilter;
use autosub_core::{BucketName, Discovery, Location, LogSource, Region, Service};
use autosub_discover::{DiscoverCx, Discoverer, ElbDiscoverer};
use autosub_testkit::demo::elb::{create_classic_load_balancer, elb_client, put_access_log};

use crate::support::{EU_REGION, Moto, REGION};

async fn run(moto: &Moto, region: &Region, filter: Option<ResourceFilter>) -> Discovery {
    let apis = moto.factory.apis(&moto.account, region);
    let filters: BTreeMap<Service, ResourceFilter> = filter
        .map(|f| BTreeMap::from([(Service::Elb, f)]))
        .unwrap_or_default();
    let forwarders = BTreeSet::new();
    let cx = DiscoverCx {
        account: &moto.account,
        region,
        apis: &apis,
        forwarders: &forwarders,
        filters: &filters,
        concurrency: 4,
        focus: None,
    };
    ElbDiscoverer.discover(&cx).await
}

fn source(region: &str, name: &str, bucket: &str, prefix: &str) -> LogSource {
    LogSource {
        service: Service::Elb,
        resource_arn: format!(
            "arn:aws:elasticloadbalancing:{region}:123456789012:loadbalancer/{name}"
        ),
        location: Location::S3 {
            bucket: BucketName::new(bucket),
            prefix: prefix.to_owned(),
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn elb_discoverer_narrows_each_access_log_prefix_to_the_account() {
    let moto = Moto::start().await;
    let sdk = moto.server.sdk_config(REGION);
    let us = elb_client(&sdk, moto.account.as_str(), REGION);
    let eu = elb_client(&sdk, moto.account.as_str(), EU_REGION);
    for (client, name, enabled, bucket, prefix) in [
        (&us, "it-web", true, "it-elb-logs", "classic/web"),
        (&us, "it-root", true, "it-elb-logs", ""),
        (&us, "it-trailing", true, "it-elb-logs", "classic/trailing/"),
        (&us, "it-off", false, "it-elb-logs", "classic/off"),
        // Half-configured: enabled without a bucket delivers nothing.
        (&us, "it-no-bucket", true, "", "classic/lost"),
        (&eu, "it-eu", true, "it-eu-elb-logs", "eu"),
    ] {
        create_classic_load_balancer(client, name, &[])
            .await
            .unwrap();
        put_access_log(client, name, enabled, bucket, prefix)
            .await
            .unwrap();
    }
    create_classic_load_balancer(&us, "it-never-set", &[])
        .await
        .unwrap();

    let found = run(&moto, &moto.region, None).await;
    assert_eq!(
        found.sources,
        vec![
            source(REGION, "it-root", "it-elb-logs", "AWSLogs/123456789012/"),
            // A trailing slash leaves the join undocumented: kept as configured.
            source(REGION, "it-trailing", "it-elb-logs", "classic/trailing/"),
            source(
                REGION,
                "it-web",
                "it-elb-logs",
                "classic/web/AWSLogs/123456789012/"
            ),
        ]
    );
    assert!(found.unsubscribable.is_empty());
    assert!(found.gaps.is_empty(), "{:?}", found.gaps);

    let found = run(&moto, &Region::new(EU_REGION), None).await;
    assert_eq!(
        found.sources,
        vec![source(
            EU_REGION,
            "it-eu",
            "it-eu-elb-logs",
            "eu/AWSLogs/123456789012/"
        )]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn elb_discoverer_pages_past_fifty_and_filters_by_tag_in_batches() {
    let moto = Moto::start().await;
    let client = elb_client(
        &moto.server.sdk_config(REGION),
        moto.account.as_str(),
        REGION,
    );
    let names: Vec<String> = (0..53).map(|i| format!("it-lb-{i:02}")).collect();
    for (i, name) in names.iter().enumerate() {
        let tags: &[(&str, &str)] = if i % 10 == 0 { &[("team", "web")] } else { &[] };
        create_classic_load_balancer(&client, name, tags)
            .await
            .unwrap();
        put_access_log(&client, name, true, "it-elb-logs", "lbs")
            .await
            .unwrap();
    }

    let found = run(&moto, &moto.region, None).await;
    assert!(found.gaps.is_empty(), "{:?}", found.gaps);
    let mut expected: Vec<LogSource> = names
        .iter()
        .map(|n| source(REGION, n, "it-elb-logs", "lbs/AWSLogs/123456789012/"))
        .collect();
    expected.sort();
    assert_eq!(found.sources, expected);
    let calls = moto.factory.calls().snapshot();
    let count = |op: &str| -> u64 {
        calls
            .iter()
            .filter(|((_, o, outcome), _)| o == op && outcome == "ok")
            .map(|(_, n)| n)
            .sum()
    };
    assert_eq!(count("DescribeLoadBalancers"), 2, "{calls:?}");
    assert_eq!(
        count("DescribeTags"),
        0,
        "tags are read only for a tag filter"
    );

    let filter = ResourceFilter {
        tags: BTreeMap::from([("team".to_owned(), "web".to_owned())]),
        ..ResourceFilter::default()
    };
    let found = run(&moto, &moto.region, Some(filter)).await;
    assert!(found.gaps.is_empty(), "{:?}", found.gaps);
    let tagged: Vec<LogSource> = [0, 10, 20, 30, 40, 50]
        .iter()
        .map(|i| {
            source(
                REGION,
                &names[*i],
                "it-elb-logs",
                "lbs/AWSLogs/123456789012/",
            )
        })
        .collect();
    assert_eq!(found.sources, tagged);
    let calls = moto.factory.calls().snapshot();
    let tag_calls: u64 = calls
        .iter()
        .filter(|((_, o, outcome), _)| o == "DescribeTags" && outcome == "ok")
        .map(|(_, n)| n)
        .sum();
    assert_eq!(tag_calls, 3, "53 names in batches of 20: {calls:?}");
}
