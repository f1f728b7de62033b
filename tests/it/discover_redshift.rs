//! The Redshift discoverer against moto through the production AWS layer: S3 audit logs (narrowed
//! under `AWSLogs/<account>/redshift/<region>/` when the prefix allows), CloudWatch export (one log
//! group per log type), logging off with a stale bucket, enabled without a bucket (a gap), the
//! region boundary, and the tag filter. moto ignores DescribeClusters pagination (one page, no
//! marker), so paging is not exercised here.

use std::collections::{BTreeMap, BTreeSet};

use autosub_core::selection::ResourceFilter;
use autosub_core::{BucketName, Discovery, Location, LogGroupName, LogSource, Region, Service};
use autosub_discover::{DiscoverCx, Discoverer, RedshiftDiscoverer};
use autosub_testkit::demo::redshift::{
    AuditLogs, client, create_cluster, disable_logging, enable_logging,
};

use crate::support::{EU_REGION, Moto, REGION};

async fn run(moto: &Moto, region: &Region, filter: Option<ResourceFilter>) -> Discovery {
    let apis = moto.factory.apis(&moto.account, region);
    let filters: BTreeMap<Service, ResourceFilter> = filter
        .map(|f| BTreeMap::from([(Service::Redshift, f)]))
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
    RedshiftDiscoverer.discover(&cx).await
}

fn arn(region: &str, id: &str) -> String {
    format!("arn:aws:redshift:{region}:123456789012:cluster:{id}")
}

fn s3_source(id: &str, bucket: &str, prefix: &str) -> LogSource {
    LogSource {
        service: Service::Redshift,
        resource_arn: arn(REGION, id),
        location: Location::S3 {
            bucket: BucketName::new(bucket),
            prefix: prefix.to_owned(),
        },
    }
}

fn group_source(id: &str, group: &str) -> LogSource {
    LogSource {
        service: Service::Redshift,
        resource_arn: arn(REGION, id),
        location: Location::LogGroup {
            name: LogGroupName::new(group),
        },
    }
}

fn s3(bucket: &str, prefix: &str) -> AuditLogs {
    AuditLogs::S3 {
        bucket: bucket.to_owned(),
        prefix: prefix.to_owned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redshift_discoverer_maps_audit_logging_to_buckets_and_log_groups() {
    let moto = Moto::start().await;
    let us = client(
        &moto.server.sdk_config(REGION),
        moto.account.as_str(),
        REGION,
    );
    let eu = client(
        &moto.server.sdk_config(EU_REGION),
        moto.account.as_str(),
        EU_REGION,
    );
    let cases = [
        ("it-root", Some(s3("it-audit", ""))),
        ("it-slash", Some(s3("it-audit", "dw/"))),
        ("it-bare", Some(s3("it-audit", "dw"))),
        (
            "it-cw",
            Some(AuditLogs::CloudWatch(vec![
                "connectionlog".into(),
                "useractivitylog".into(),
            ])),
        ),
        ("it-half", Some(AuditLogs::Nowhere)),
        ("it-never", None),
    ];
    for (id, logs) in &cases {
        create_cluster(&us, id, &[]).await.unwrap();
        if let Some(logs) = logs {
            enable_logging(&us, id, logs).await.unwrap();
        }
    }
    // Off again: DescribeLoggingStatus still names the old bucket.
    create_cluster(&us, "it-off", &[]).await.unwrap();
    enable_logging(&us, "it-off", &s3("it-old", ""))
        .await
        .unwrap();
    disable_logging(&us, "it-off").await.unwrap();
    create_cluster(&eu, "it-eu", &[]).await.unwrap();
    enable_logging(&eu, "it-eu", &s3("it-eu-audit", ""))
        .await
        .unwrap();

    let found = run(&moto, &moto.region, None).await;
    assert_eq!(
        found.sources,
        vec![
            s3_source("it-bare", "it-audit", "dw"),
            group_source("it-cw", "/aws/redshift/cluster/it-cw/connectionlog"),
            group_source("it-cw", "/aws/redshift/cluster/it-cw/useractivitylog"),
            s3_source(
                "it-root",
                "it-audit",
                "AWSLogs/123456789012/redshift/us-east-1/"
            ),
            s3_source(
                "it-slash",
                "it-audit",
                "dw/AWSLogs/123456789012/redshift/us-east-1/"
            ),
        ]
    );
    assert!(found.unsubscribable.is_empty(), "{found:?}");
    // Enabled without a bucket or log group: not silently dropped.
    assert_eq!(found.gaps.len(), 1, "{found:?}");
    assert!(
        found.gaps[0].detail.starts_with("cluster it-half: "),
        "{found:?}"
    );

    let eu_found = run(&moto, &Region::new(EU_REGION), None).await;
    assert_eq!(
        eu_found.sources,
        vec![LogSource {
            service: Service::Redshift,
            resource_arn: arn(EU_REGION, "it-eu"),
            location: Location::S3 {
                bucket: BucketName::new("it-eu-audit"),
                prefix: "AWSLogs/123456789012/redshift/eu-west-1/".into(),
            },
        }]
    );
    assert!(eu_found.gaps.is_empty(), "{eu_found:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redshift_discoverer_tag_filter_selects_tagged_clusters_only() {
    let moto = Moto::start().await;
    let us = client(
        &moto.server.sdk_config(REGION),
        moto.account.as_str(),
        REGION,
    );
    for (id, tags) in [
        ("it-tagged", vec![("logs", "datadog")]),
        ("it-other", vec![("logs", "splunk")]),
        ("it-untagged", vec![]),
    ] {
        create_cluster(&us, id, &tags).await.unwrap();
        enable_logging(&us, id, &s3("it-audit", &format!("{id}/")))
            .await
            .unwrap();
    }
    let filter = ResourceFilter {
        tags: BTreeMap::from([("logs".to_owned(), "datadog".to_owned())]),
        ..ResourceFilter::default()
    };
    let found = run(&moto, &moto.region, Some(filter)).await;
    assert_eq!(
        found.sources,
        vec![s3_source(
            "it-tagged",
            "it-audit",
            "it-tagged/AWSLogs/123456789012/redshift/us-east-1/"
        )]
    );
    assert!(found.gaps.is_empty(), "{found:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redshift_demo_slice_seeds_twice_and_is_discovered_as_documented() {
    let moto = Moto::start().await;
    let sdk = moto.server.sdk_config(REGION);
    for _ in 0..2 {
        autosub_testkit::demo::redshift::seed(&sdk, moto.account.as_str())
            .await
            .unwrap();
    }
    let found = run(&moto, &moto.region, None).await;
    assert_eq!(
        found.sources,
        vec![
            group_source(
                "demo-analytics",
                "/aws/redshift/cluster/demo-analytics/connectionlog"
            ),
            group_source(
                "demo-analytics",
                "/aws/redshift/cluster/demo-analytics/userlog"
            ),
            s3_source(
                "demo-warehouse",
                "demo-redshift-logs",
                "AWSLogs/123456789012/redshift/us-east-1/"
            ),
        ]
    );
    assert!(found.gaps.is_empty() && found.unsubscribable.is_empty());
    let eu = run(&moto, &Region::new(EU_REGION), None).await;
    assert_eq!(eu.sources.len(), 1, "{eu:?}");
}
