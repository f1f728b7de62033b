//! The WAFv2 discoverers against moto through the production AWS layer: REGIONAL ACLs logging to
//! a log group, an S3 bucket (narrowed to `[prefix/]AWSLogs/<account>/WAFLogs/`) or Firehose
//! (unsubscribable), ACLs without logging (GetLoggingConfiguration's WAFNonexistentItemException),
//! CLOUDFRONT ACLs seen only by the global discoverer whatever region it runs from, paging past
//! 100 ACLs per ListWebACLs page, and the tag filter.

use std::collections::{BTreeMap, BTreeSet};

use autosub_core::selection::ResourceFilter;
use autosub_core::{BucketName, Discovery, Location, LogGroupName, LogSource, Region, Service};
use autosub_discover::{DiscoverCx, Discoverer, Wafv2CloudFrontDiscoverer, Wafv2Discoverer};
use autosub_testkit::demo::wafv2::{Scope, client, create_web_acl, put_logging};

use crate::support::{EU_REGION, Moto, REGION};

async fn run(
    moto: &Moto,
    region: &Region,
    filter: Option<ResourceFilter>,
    d: &dyn Discoverer,
) -> Discovery {
    let apis = moto.factory.apis(&moto.account, region);
    let filters: BTreeMap<Service, ResourceFilter> = filter
        .map(|f| BTreeMap::from([(Service::Wafv2, f)]))
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
    d.discover(&cx).await
}

fn s3_source(arn: &str, bucket: &str, prefix: &str) -> LogSource {
    LogSource {
        service: Service::Wafv2,
        resource_arn: arn.to_owned(),
        location: Location::S3 {
            bucket: BucketName::new(bucket),
            prefix: prefix.to_owned(),
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wafv2_discoverers_map_logging_destinations_per_scope() {
    let moto = Moto::start().await;
    let us = client(
        &moto.server.sdk_config(REGION),
        moto.account.as_str(),
        REGION,
    );
    let account = moto.account.as_str();
    let group = format!("arn:aws:logs:{REGION}:{account}:log-group:aws-waf-logs-it-api");
    let firehose = format!("arn:aws:firehose:{REGION}:{account}:deliverystream/aws-waf-logs-it");

    let api = create_web_acl(&us, "it-api", Scope::Regional, &[])
        .await
        .unwrap();
    put_logging(&us, &api, &group).await.unwrap();
    let bucket = create_web_acl(&us, "it-bucket", Scope::Regional, &[])
        .await
        .unwrap();
    put_logging(&us, &bucket, "arn:aws:s3:::aws-waf-logs-it/app")
        .await
        .unwrap();
    let streamed = create_web_acl(&us, "it-firehose", Scope::Regional, &[])
        .await
        .unwrap();
    put_logging(&us, &streamed, &firehose).await.unwrap();
    create_web_acl(&us, "it-silent", Scope::Regional, &[])
        .await
        .unwrap();
    let site = create_web_acl(&us, "it-site", Scope::Cloudfront, &[])
        .await
        .unwrap();
    put_logging(&us, &site, "arn:aws:s3:::aws-waf-logs-it-edge")
        .await
        .unwrap();
    create_web_acl(&us, "it-site-silent", Scope::Cloudfront, &[])
        .await
        .unwrap();

    let regional = run(&moto, &moto.region, None, &Wafv2Discoverer).await;
    let mut want = vec![
        LogSource {
            service: Service::Wafv2,
            resource_arn: api.clone(),
            location: Location::LogGroup {
                name: LogGroupName::new("aws-waf-logs-it-api"),
            },
        },
        s3_source(
            &bucket,
            "aws-waf-logs-it",
            "app/AWSLogs/123456789012/WAFLogs/",
        ),
    ];
    want.sort();
    assert_eq!(regional.sources, want);
    assert!(regional.gaps.is_empty(), "{regional:?}");
    assert_eq!(regional.unsubscribable.len(), 1, "{regional:?}");
    assert_eq!(regional.unsubscribable[0].resource_arn, streamed);
    assert_eq!(regional.unsubscribable[0].destination, firehose);
    assert!(regional.unsubscribable[0].why.contains("Firehose"));

    // The CLOUDFRONT ACLs, from us-east-1 and from a pass in another region alike.
    let edge = vec![s3_source(
        &site,
        "aws-waf-logs-it-edge",
        "AWSLogs/123456789012/WAFLogs/",
    )];
    for region in [REGION, EU_REGION] {
        let global = run(
            &moto,
            &Region::new(region),
            None,
            &Wafv2CloudFrontDiscoverer,
        )
        .await;
        assert_eq!(global.sources, edge, "{region}");
        assert!(
            global.gaps.is_empty() && global.unsubscribable.is_empty(),
            "{global:?}"
        );
    }

    // eu-west-1 has no REGIONAL ACLs.
    let eu = run(&moto, &Region::new(EU_REGION), None, &Wafv2Discoverer).await;
    assert_eq!(eu, Discovery::default());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wafv2_discoverer_pages_past_one_hundred_web_acls() {
    let moto = Moto::start().await;
    let us = client(
        &moto.server.sdk_config(REGION),
        moto.account.as_str(),
        REGION,
    );
    let mut want = Vec::new();
    for i in 0..105 {
        let name = format!("it-acl-{i:03}");
        let arn = create_web_acl(&us, &name, Scope::Regional, &[])
            .await
            .unwrap();
        put_logging(&us, &arn, &format!("arn:aws:s3:::aws-waf-logs-it/{name}"))
            .await
            .unwrap();
        want.push(s3_source(
            &arn,
            "aws-waf-logs-it",
            &format!("{name}/AWSLogs/123456789012/WAFLogs/"),
        ));
    }
    want.sort();
    let found = run(&moto, &moto.region, None, &Wafv2Discoverer).await;
    assert!(found.gaps.is_empty(), "{:?}", found.gaps);
    assert_eq!(found.sources.len(), 105);
    assert_eq!(found.sources, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wafv2_discoverer_tag_filter_selects_tagged_acls_only() {
    let moto = Moto::start().await;
    let us = client(
        &moto.server.sdk_config(REGION),
        moto.account.as_str(),
        REGION,
    );
    let mut tagged = String::new();
    for (name, tags) in [
        ("it-tagged", vec![("logs", "datadog")]),
        ("it-other", vec![("logs", "splunk")]),
        ("it-untagged", vec![]),
    ] {
        let arn = create_web_acl(&us, name, Scope::Regional, &tags)
            .await
            .unwrap();
        put_logging(&us, &arn, "arn:aws:s3:::aws-waf-logs-it")
            .await
            .unwrap();
        if name == "it-tagged" {
            tagged = arn;
        }
    }
    let filter = ResourceFilter {
        tags: BTreeMap::from([("logs".to_owned(), "datadog".to_owned())]),
        ..ResourceFilter::default()
    };
    let found = run(&moto, &moto.region, Some(filter), &Wafv2Discoverer).await;
    assert_eq!(
        found.sources,
        vec![s3_source(
            &tagged,
            "aws-waf-logs-it",
            "AWSLogs/123456789012/WAFLogs/"
        )]
    );
    assert!(found.gaps.is_empty(), "{found:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wafv2_demo_slice_seeds_twice_and_is_discovered_as_documented() {
    let moto = Moto::start().await;
    let sdk = moto.server.sdk_config(REGION);
    for _ in 0..2 {
        autosub_testkit::demo::wafv2::seed(&sdk, moto.account.as_str())
            .await
            .unwrap();
    }
    let regional = run(&moto, &moto.region, None, &Wafv2Discoverer).await;
    let locations: Vec<String> = regional
        .sources
        .iter()
        .map(|s| s.location.to_string())
        .collect();
    assert_eq!(locations, vec!["log-group:aws-waf-logs-demo-api"]);
    assert_eq!(regional.unsubscribable.len(), 1, "{regional:?}");
    assert!(
        regional.unsubscribable[0]
            .resource_arn
            .contains("/demo-admin-acl/")
    );
    assert!(regional.gaps.is_empty(), "{regional:?}");
    let global = run(&moto, &moto.region, None, &Wafv2CloudFrontDiscoverer).await;
    let locations: Vec<String> = global
        .sources
        .iter()
        .map(|s| s.location.to_string())
        .collect();
    assert_eq!(
        locations,
        vec!["s3://aws-waf-logs-demo-site/edge/AWSLogs/123456789012/WAFLogs/"]
    );
    let eu = run(&moto, &Region::new(EU_REGION), None, &Wafv2Discoverer).await;
    let locations: Vec<String> = eu.sources.iter().map(|s| s.location.to_string()).collect();
    assert_eq!(
        locations,
        vec!["s3://aws-waf-logs-demo-eu/AWSLogs/123456789012/WAFLogs/"]
    );
}
