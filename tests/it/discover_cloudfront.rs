//! The CloudFront discoverer against moto through the production AWS layer: standard logging on,
//! off and half-configured, the bucket domain forms, buckets in two regions, the tag filter.
//!
//! moto does not paginate ListDistributions (one page, no marker), so paging is not exercised
//! here; the SDK paginator drives it on AWS.

use std::collections::{BTreeMap, BTreeSet};

use autosub_core::selection::ResourceFilter;
use autosub_core::{BucketName, Discovery, Location, LogSource, Region, Service};
use autosub_discover::{CloudFrontDiscoverer, DiscoverCx, Discoverer};
use autosub_testkit::demo::cloudfront::{
    DistributionSpec, SeededDistribution, cloudfront_client, create_distribution,
};

use crate::support::{EU_REGION, Moto};

async fn run(moto: &Moto, region: &Region, filter: Option<ResourceFilter>) -> Discovery {
    let apis = moto.factory.apis(&moto.account, region);
    let filters: BTreeMap<Service, ResourceFilter> = filter
        .map(|f| BTreeMap::from([(Service::CloudFront, f)]))
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
    CloudFrontDiscoverer.discover(&cx).await
}

async fn distribution(moto: &Moto, spec: DistributionSpec) -> SeededDistribution {
    let client = cloudfront_client(&moto.server.sdk_config("us-east-1"), moto.account.as_str());
    create_distribution(&client, &spec)
        .await
        .expect("create distribution")
}

fn source(d: &SeededDistribution, bucket: &str, prefix: &str) -> LogSource {
    LogSource {
        service: Service::CloudFront,
        resource_arn: d.arn.clone(),
        location: Location::S3 {
            bucket: BucketName::new(bucket),
            prefix: prefix.to_owned(),
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloudfront_discoverer_maps_each_logging_distribution_to_its_bucket_and_prefix() {
    let moto = Moto::start().await;
    let www = distribution(
        &moto,
        DistributionSpec::new("it-www").logging("it-cdn-logs.s3.amazonaws.com", "cdn/www/"),
    )
    .await;
    let shop = distribution(
        &moto,
        DistributionSpec::new("it-eu-shop")
            .logging("it-eu-cdn-logs.s3.eu-west-1.amazonaws.com", "cdn/shop/"),
    )
    .await;
    let dashed = distribution(
        &moto,
        DistributionSpec::new("it-dashed").logging("it-eu-cdn-logs.s3-eu-west-1.amazonaws.com", ""),
    )
    .await;
    distribution(&moto, DistributionSpec::new("it-off")).await;
    // Half-configured: enabled without a bucket (AWS refuses it, moto keeps it) delivers nothing.
    distribution(
        &moto,
        DistributionSpec::new("it-no-bucket").logging("", "cdn/lost/"),
    )
    .await;

    let expected = vec![
        source(&dashed, "it-eu-cdn-logs", ""),
        source(&shop, "it-eu-cdn-logs", "cdn/shop/"),
        source(&www, "it-cdn-logs", "cdn/www/"),
    ];
    let mut expected_sorted = expected.clone();
    expected_sorted.sort();
    let found = run(&moto, &moto.region, None).await;
    assert_eq!(found.sources, expected_sorted);
    assert!(found.unsubscribable.is_empty());
    assert!(found.gaps.is_empty(), "{:?}", found.gaps);

    // Global: whichever region's pass runs it, the same distributions are read in us-east-1.
    let from_eu = run(&moto, &Region::new(EU_REGION), None).await;
    assert_eq!(from_eu, found);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloudfront_bucket_outside_the_s3_domain_forms_is_a_gap_not_a_guess() {
    let moto = Moto::start().await;
    let odd = distribution(
        &moto,
        DistributionSpec::new("it-odd").logging("it-logs.example.com", "cdn/"),
    )
    .await;
    let good = distribution(
        &moto,
        DistributionSpec::new("it-good").logging("it-cdn-logs.s3.amazonaws.com", "cdn/"),
    )
    .await;

    let found = run(&moto, &moto.region, None).await;
    assert_eq!(found.sources, vec![source(&good, "it-cdn-logs", "cdn/")]);
    assert_eq!(found.gaps.len(), 1, "{:?}", found.gaps);
    assert_eq!(found.gaps[0].service, Service::CloudFront);
    assert!(found.gaps[0].detail.contains(&odd.id), "{:?}", found.gaps);
    assert!(
        found.gaps[0].detail.contains("it-logs.example.com"),
        "{:?}",
        found.gaps
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloudfront_tag_filter_selects_only_the_tagged_distributions() {
    let moto = Moto::start().await;
    let tagged = distribution(
        &moto,
        DistributionSpec::new("it-tagged")
            .logging("it-cdn-logs.s3.amazonaws.com", "cdn/tagged/")
            .tag("team", "web"),
    )
    .await;
    distribution(
        &moto,
        DistributionSpec::new("it-other-team")
            .logging("it-cdn-logs.s3.amazonaws.com", "cdn/other/")
            .tag("team", "data"),
    )
    .await;
    distribution(
        &moto,
        DistributionSpec::new("it-untagged")
            .logging("it-cdn-logs.s3.amazonaws.com", "cdn/untagged/"),
    )
    .await;

    let filter = ResourceFilter {
        tags: BTreeMap::from([("team".to_owned(), "web".to_owned())]),
        ..ResourceFilter::default()
    };
    let found = run(&moto, &moto.region, Some(filter)).await;
    assert_eq!(
        found.sources,
        vec![source(&tagged, "it-cdn-logs", "cdn/tagged/")]
    );
    assert!(found.gaps.is_empty(), "{:?}", found.gaps);

    // Name patterns apply to the distribution id, without reading tags.
    let by_id = ResourceFilter {
        include: vec![tagged.id.clone()],
        ..ResourceFilter::default()
    };
    let found = run(&moto, &moto.region, Some(by_id)).await;
    assert_eq!(
        found.sources,
        vec![source(&tagged, "it-cdn-logs", "cdn/tagged/")]
    );
}
