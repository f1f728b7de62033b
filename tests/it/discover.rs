//! The discoverers against moto through the production AWS layer.

use std::collections::{BTreeMap, BTreeSet};

use autosub_core::{
    BucketName, Discovery, FunctionArn, Location, LogGroupName, LogSource, Region, Service,
};
use autosub_discover::{
    DiscoverCx, Discoverer, LambdaDiscoverer, S3AccessLogsDiscoverer, discover_all, discoverers,
};
use autosub_testkit::Clients;
use autosub_testkit::estate;

use crate::support::{EU_REGION, Moto};

async fn run(
    moto: &Moto,
    region: &Region,
    forwarders: &BTreeSet<FunctionArn>,
    d: &dyn Discoverer,
) -> Discovery {
    let apis = moto.factory.apis(&moto.account, region);
    let cx = DiscoverCx {
        account: &moto.account,
        region,
        apis: &apis,
        forwarders,
        filters: &BTreeMap::new(),
        concurrency: 4,
        focus: None,
    };
    d.discover(&cx).await
}

fn as_refs(discoverers: &[Box<dyn Discoverer>]) -> Vec<&dyn Discoverer> {
    discoverers.iter().map(AsRef::as_ref).collect()
}

fn lambda_source(arn: &FunctionArn) -> LogSource {
    LogSource {
        service: Service::Lambda,
        resource_arn: arn.to_string(),
        location: Location::LogGroup {
            name: LogGroupName::new(format!("/aws/lambda/{}", arn.name())),
        },
    }
}

fn access_log_source(bucket: &str, target: &str, prefix: &str) -> LogSource {
    LogSource {
        service: Service::S3AccessLogs,
        resource_arn: format!("arn:aws:s3:::{bucket}"),
        location: Location::S3 {
            bucket: BucketName::new(target),
            prefix: prefix.to_owned(),
        },
    }
}

/// Creates `target` (open to log delivery) and turns on access logging of `bucket` into it.
async fn log_into(cx: &Clients, bucket: &str, target: &str, prefix: &str) {
    estate::create_bucket(cx, bucket).await.unwrap();
    estate::create_bucket(cx, target).await.unwrap();
    estate::allow_log_delivery(cx, target).await.unwrap();
    estate::put_bucket_logging(cx, bucket, target, prefix)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lambda_discoverer_maps_every_function_but_the_forwarders_to_its_log_group() {
    let moto = Moto::start().await;
    // moto ignores pagination for ListFunctions (one page, no marker), so more than 50 functions
    // would not exercise paging; a handful covers the mapping and the forwarder exclusion.
    let forwarder = moto.function("it-forwarder").await;
    let mut apps = Vec::new();
    for name in [
        "checkout-api",
        "payments-worker",
        "image-resizer",
        "orders-api",
    ] {
        apps.push(moto.function(name).await);
    }
    // A forwarder in another region is configured too; it must not disturb this region.
    let eu_forwarder =
        FunctionArn::from_parts(&moto.account, &Region::new(EU_REGION), "it-forwarder");
    let forwarders = BTreeSet::from([forwarder.clone(), eu_forwarder]);

    let found = run(&moto, &moto.region, &forwarders, &LambdaDiscoverer).await;
    assert_eq!((&found.gaps, &found.unsubscribable), (&vec![], &vec![]));
    let mut want: Vec<LogSource> = apps.iter().map(lambda_source).collect();
    want.sort();
    assert_eq!(found.normalize().sources, want);

    // Without forwarders configured, the forwarder is a source like any other.
    let all = run(&moto, &moto.region, &BTreeSet::new(), &LambdaDiscoverer).await;
    assert_eq!(all.sources.len(), 5);
    assert!(all.sources.contains(&lambda_source(&forwarder)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_access_logs_discoverer_reports_logged_buckets_of_its_region_only() {
    let moto = Moto::start().await;
    let eu_cx = moto.clients_in(EU_REGION);
    log_into(&moto.cx, "it-app-assets", "it-access-logs", "assets/").await;
    log_into(&moto.cx, "it-app-uploads", "it-access-logs", "").await;
    estate::create_bucket(&moto.cx, "it-unlogged")
        .await
        .unwrap();
    log_into(&eu_cx, "it-eu-site", "it-eu-logs", "site/").await;

    let found = run(
        &moto,
        &moto.region,
        &BTreeSet::new(),
        &S3AccessLogsDiscoverer,
    )
    .await;
    assert_eq!((&found.gaps, &found.unsubscribable), (&vec![], &vec![]));
    assert_eq!(
        found.sources,
        vec![
            access_log_source("it-app-assets", "it-access-logs", "assets/"),
            access_log_source("it-app-uploads", "it-access-logs", ""),
        ]
    );

    // The same estate from eu-west-1 reports only the eu bucket.
    let eu = Region::new(EU_REGION);
    let found_eu = run(&moto, &eu, &BTreeSet::new(), &S3AccessLogsDiscoverer).await;
    assert_eq!(
        (&found_eu.gaps, &found_eu.unsubscribable),
        (&vec![], &vec![])
    );
    assert_eq!(
        found_eu.sources,
        vec![access_log_source("it-eu-site", "it-eu-logs", "site/")]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_access_logs_source_is_the_logged_bucket_not_its_target() {
    let moto = Moto::start().await;
    // The target logs into a third bucket too: both are sources, each under its own ARN.
    log_into(&moto.cx, "it-source", "it-target", "from-source/").await;
    log_into(&moto.cx, "it-target", "it-archive", "from-target/").await;

    let found = run(
        &moto,
        &moto.region,
        &BTreeSet::new(),
        &S3AccessLogsDiscoverer,
    )
    .await;
    assert_eq!((&found.gaps, &found.unsubscribable), (&vec![], &vec![]));
    let source = found
        .sources
        .iter()
        .find(|s| {
            s.location
                == Location::S3 {
                    bucket: BucketName::new("it-target"),
                    prefix: "from-source/".to_owned(),
                }
        })
        .unwrap_or_else(|| panic!("no source logging into it-target: {found:?}"));
    assert_eq!(source.resource_arn, "arn:aws:s3:::it-source");
    assert_eq!(
        found.sources,
        vec![
            access_log_source("it-source", "it-target", "from-source/"),
            access_log_source("it-target", "it-archive", "from-target/"),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discover_all_merges_the_enabled_services_sorted() {
    let moto = Moto::start().await;
    let app = moto.function("it-app").await;
    log_into(&moto.cx, "it-bucket", "it-bucket-logs", "logs/").await;
    let apis = moto.factory.apis(&moto.account, &moto.region);
    let forwarders = BTreeSet::new();
    let cx = DiscoverCx {
        account: &moto.account,
        region: &moto.region,
        apis: &apis,
        forwarders: &forwarders,
        filters: &BTreeMap::new(),
        concurrency: 2,
        focus: None,
    };

    let both = discoverers(&BTreeSet::from([Service::Lambda, Service::S3AccessLogs]));
    let found = discover_all(&cx, &as_refs(&both)).await;
    assert_eq!(
        found,
        Discovery {
            sources: vec![
                lambda_source(&app),
                access_log_source("it-bucket", "it-bucket-logs", "logs/"),
            ],
            ..Discovery::default()
        }
    );

    let lambda_only = discoverers(&BTreeSet::from([Service::Lambda]));
    let found = discover_all(&cx, &as_refs(&lambda_only)).await;
    assert_eq!(found.sources, vec![lambda_source(&app)]);
}
