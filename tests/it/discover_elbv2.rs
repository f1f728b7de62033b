//! The ALB/NLB discoverer against moto through the production AWS layer: access and connection
//! logs (two sources for one ALB), logging off and half-configured, the prefix narrowed to
//! `…/AWSLogs/<account>/`, paging past moto's 50-per-page DescribeLoadBalancers, and the tag
//! filter over DescribeTags batches of 20.

use std::collections::{BTreeMap, BTreeSet};

use autosub_core::selection::ResourceFilter;
use autosub_core::{BucketName, Discovery, Location, LogSource, Region, Service};
use autosub_discover::{DiscoverCx, Discoverer, Elbv2Discoverer};
use autosub_testkit::demo::elbv2::{
    Elbv2Clients, LoadBalancerKind, create_load_balancer, put_attributes,
};

use crate::support::{EU_REGION, Moto, REGION};

async fn run(moto: &Moto, region: &Region, filter: Option<ResourceFilter>) -> Discovery {
    let apis = moto.factory.apis(&moto.account, region);
    let filters: BTreeMap<Service, ResourceFilter> = filter
        .map(|f| BTreeMap::from([(Service::Elbv2, f)]))
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
    Elbv2Discoverer.discover(&cx).await
}

fn source(arn: &str, bucket: &str, prefix: &str) -> LogSource {
    LogSource {
        service: Service::Elbv2,
        resource_arn: arn.to_owned(),
        location: Location::S3 {
            bucket: BucketName::new(bucket),
            prefix: prefix.to_owned(),
        },
    }
}

fn clients(moto: &Moto, region: &str) -> Elbv2Clients {
    Elbv2Clients::new(
        &moto.server.sdk_config(region),
        moto.account.as_str(),
        region,
    )
}

fn sorted(mut sources: Vec<LogSource>) -> Vec<LogSource> {
    sources.sort();
    sources
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn elbv2_discoverer_finds_access_and_connection_logs_under_the_account() {
    let moto = Moto::start().await;
    let us = clients(&moto, REGION);
    let eu = clients(&moto, EU_REGION);
    let alb = LoadBalancerKind::Application;
    let both = create_load_balancer(&us, "it-both", alb, &[])
        .await
        .unwrap();
    put_attributes(
        &us,
        &both,
        &[
            ("access_logs.s3.enabled", "true"),
            ("access_logs.s3.bucket", "it-alb-logs"),
            ("access_logs.s3.prefix", "alb/both"),
            ("connection_logs.s3.enabled", "true"),
            ("connection_logs.s3.bucket", "it-conn-logs"),
            ("connection_logs.s3.prefix", ""),
        ],
    )
    .await
    .unwrap();
    let root = create_load_balancer(&us, "it-root", alb, &[])
        .await
        .unwrap();
    put_attributes(
        &us,
        &root,
        &[
            ("access_logs.s3.enabled", "true"),
            ("access_logs.s3.bucket", "it-alb-logs"),
        ],
    )
    .await
    .unwrap();
    let off = create_load_balancer(&us, "it-off", alb, &[]).await.unwrap();
    put_attributes(
        &us,
        &off,
        &[
            ("access_logs.s3.enabled", "false"),
            ("access_logs.s3.bucket", "it-alb-logs"),
            ("access_logs.s3.prefix", "alb/off"),
        ],
    )
    .await
    .unwrap();
    // Half-configured: enabled without a bucket delivers nothing.
    let no_bucket = create_load_balancer(&us, "it-no-bucket", alb, &[])
        .await
        .unwrap();
    put_attributes(
        &us,
        &no_bucket,
        &[
            ("access_logs.s3.enabled", "true"),
            ("access_logs.s3.prefix", "alb/lost"),
        ],
    )
    .await
    .unwrap();
    create_load_balancer(&us, "it-never-set", alb, &[])
        .await
        .unwrap();
    let nlb = create_load_balancer(&eu, "it-eu-nlb", LoadBalancerKind::Network, &[])
        .await
        .unwrap();
    put_attributes(
        &eu,
        &nlb,
        &[
            ("access_logs.s3.enabled", "true"),
            ("access_logs.s3.bucket", "it-eu-alb-logs"),
            ("access_logs.s3.prefix", "nlb"),
        ],
    )
    .await
    .unwrap();

    let found = run(&moto, &moto.region, None).await;
    assert_eq!(
        found.sources,
        sorted(vec![
            source(&both, "it-alb-logs", "alb/both/AWSLogs/123456789012/"),
            source(&both, "it-conn-logs", "AWSLogs/123456789012/"),
            source(&root, "it-alb-logs", "AWSLogs/123456789012/"),
        ])
    );
    assert!(found.unsubscribable.is_empty());
    assert!(found.gaps.is_empty(), "{:?}", found.gaps);

    let found = run(&moto, &Region::new(EU_REGION), None).await;
    assert_eq!(
        found.sources,
        vec![source(&nlb, "it-eu-alb-logs", "nlb/AWSLogs/123456789012/")]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn elbv2_discoverer_pages_past_fifty_and_filters_by_tag_in_batches() {
    let moto = Moto::start().await;
    let us = clients(&moto, REGION);
    let mut arns = Vec::new();
    for i in 0..53 {
        let tags: &[(&str, &str)] = if i % 10 == 0 { &[("team", "web")] } else { &[] };
        let arn = create_load_balancer(
            &us,
            &format!("it-alb-{i:02}"),
            LoadBalancerKind::Application,
            tags,
        )
        .await
        .unwrap();
        put_attributes(
            &us,
            &arn,
            &[
                ("access_logs.s3.enabled", "true"),
                ("access_logs.s3.bucket", "it-alb-logs"),
                ("access_logs.s3.prefix", "albs"),
            ],
        )
        .await
        .unwrap();
        arns.push(arn);
    }
    let prefix = "albs/AWSLogs/123456789012/";

    let found = run(&moto, &moto.region, None).await;
    assert!(found.gaps.is_empty(), "{:?}", found.gaps);
    assert_eq!(
        found.sources,
        sorted(
            arns.iter()
                .map(|a| source(a, "it-alb-logs", prefix))
                .collect()
        )
    );
    let count = |op: &str| -> u64 {
        moto.factory
            .calls()
            .snapshot()
            .iter()
            .filter(|((_, o, outcome), _)| o == op && outcome == "ok")
            .map(|(_, n)| n)
            .sum()
    };
    assert_eq!(
        count("DescribeLoadBalancers"),
        2,
        "53 load balancers, 50 a page"
    );
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
    assert_eq!(
        found.sources,
        sorted(
            [0, 10, 20, 30, 40, 50]
                .iter()
                .map(|i| source(&arns[*i], "it-alb-logs", prefix))
                .collect()
        )
    );
    assert_eq!(count("DescribeTags"), 3, "53 ARNs in batches of 20");
}
