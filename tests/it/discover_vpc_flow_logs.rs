//! The VPC flow log discoverer against moto through the production AWS layer: log group
//! delivery (also with delivery FAILED), S3 delivery (narrowed to the account's `vpcflowlogs/`
//! folder), Firehose (unsubscribable), the region boundary, the tag and
//! id filters (tags come with DescribeFlowLogs) and a targeted pass on one flow log id. moto
//! drops `DestinationOptions` (Parquet, Hive-compatible prefixes) and `LogDestination` for log
//! groups, takes a bucket ARN's folder for part of the bucket name, and ignores pagination:
//! those are covered by unit tests in `autosub-discover`.

use std::collections::{BTreeMap, BTreeSet};

use autosub_core::cloudtrail::Touched;
use autosub_core::focus::Focus;
use autosub_core::selection::ResourceFilter;
use autosub_core::{BucketName, Discovery, Location, LogGroupName, LogSource, Region, Service};
use autosub_discover::{DiscoverCx, Discoverer, VpcFlowLogsDiscoverer};
use autosub_testkit::demo::vpc_flow_logs::{FlowDestination, client, create_flow_log, create_vpc};
use autosub_testkit::estate::{Clients, create_bucket, create_log_group};

use crate::support::{EU_REGION, Moto, REGION};

async fn run(
    moto: &Moto,
    region: &Region,
    filter: Option<ResourceFilter>,
    focus: Option<&Focus>,
) -> Discovery {
    let apis = moto.factory.apis(&moto.account, region);
    let filters: BTreeMap<Service, ResourceFilter> = filter
        .map(|f| BTreeMap::from([(Service::VpcFlowLogs, f)]))
        .unwrap_or_default();
    let forwarders = BTreeSet::new();
    let cx = DiscoverCx {
        account: &moto.account,
        region,
        apis: &apis,
        forwarders: &forwarders,
        filters: &filters,
        concurrency: 4,
        focus,
    };
    VpcFlowLogsDiscoverer.discover(&cx).await
}

fn arn(region: &str, id: &str) -> String {
    format!("arn:aws:ec2:{region}:123456789012:vpc-flow-log/{id}")
}

fn source(region: &str, id: &str, location: Location) -> LogSource {
    LogSource {
        service: Service::VpcFlowLogs,
        resource_arn: arn(region, id),
        location,
    }
}

fn s3(bucket: &str, prefix: &str) -> Location {
    Location::S3 {
        bucket: BucketName::new(bucket),
        prefix: prefix.to_owned(),
    }
}

fn group(name: &str) -> Location {
    Location::LogGroup {
        name: LogGroupName::new(name),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vpc_flow_logs_map_to_log_groups_buckets_and_reasons() {
    let moto = Moto::start().await;
    let account = moto.account.as_str();
    let sdk = moto.server.sdk_config(REGION);
    let us = client(&sdk, account, REGION);
    let eu = client(&moto.server.sdk_config(EU_REGION), account, EU_REGION);
    let eu_cx = Clients::new(&sdk, account, EU_REGION);
    create_log_group(&moto.cx, "/it/flows").await.unwrap();
    create_bucket(&moto.cx, "it-flows").await.unwrap();
    create_bucket(&moto.cx, "it-more-flows").await.unwrap();
    create_bucket(&eu_cx, "it-eu-flows").await.unwrap();

    let vpc_a = create_vpc(&us, "it-a").await.unwrap();
    let vpc_b = create_vpc(&us, "it-b").await.unwrap();
    let vpc_eu = create_vpc(&eu, "it-eu").await.unwrap();
    let flow = |vpc: &str, destination: FlowDestination, tags: &'static [(&str, &str)]| {
        let (us, vpc) = (us.clone(), vpc.to_owned());
        async move {
            create_flow_log(&us, account, &vpc, &destination, tags)
                .await
                .unwrap()
        }
    };
    let to_group = flow(
        &vpc_a,
        FlowDestination::LogGroup("/it/flows".into()),
        &[("team", "net")],
    )
    .await;
    // The log group does not exist: moto reports the delivery FAILED.
    let failing = flow(&vpc_a, FlowDestination::LogGroup("/it/missing".into()), &[]).await;
    let to_root = flow(
        &vpc_a,
        FlowDestination::S3("arn:aws:s3:::it-flows".into()),
        &[],
    )
    .await;
    let to_folder = flow(
        &vpc_b,
        FlowDestination::S3("arn:aws:s3:::it-more-flows".into()),
        &[],
    )
    .await;
    let firehose_arn = "arn:aws:firehose:us-east-1:123456789012:deliverystream/it-flows";
    let to_firehose = flow(&vpc_b, FlowDestination::Firehose(firehose_arn.into()), &[]).await;
    let eu_flow = create_flow_log(
        &eu,
        account,
        &vpc_eu,
        &FlowDestination::S3("arn:aws:s3:::it-eu-flows".into()),
        &[],
    )
    .await
    .unwrap();
    // Seeding again finds each flow log instead of failing or duplicating it.
    assert_eq!(
        create_flow_log(
            &us,
            account,
            &vpc_a,
            &FlowDestination::LogGroup("/it/flows".into()),
            &[]
        )
        .await
        .unwrap(),
        to_group
    );

    let found = run(&moto, &moto.region, None, None).await;
    let mut want = vec![
        source(REGION, &to_group, group("/it/flows")),
        source(REGION, &failing, group("/it/missing")),
        source(
            REGION,
            &to_root,
            s3("it-flows", "AWSLogs/123456789012/vpcflowlogs/"),
        ),
        source(
            REGION,
            &to_folder,
            s3("it-more-flows", "AWSLogs/123456789012/vpcflowlogs/"),
        ),
    ];
    want.sort();
    assert_eq!(found.sources, want);
    assert!(found.gaps.is_empty(), "{found:?}");
    assert_eq!(found.unsubscribable.len(), 1, "{found:?}");
    assert_eq!(
        found.unsubscribable[0].resource_arn,
        arn(REGION, &to_firehose)
    );
    assert_eq!(found.unsubscribable[0].destination, firehose_arn);
    assert!(found.unsubscribable[0].why.contains("Firehose"));

    let eu_found = run(&moto, &Region::new(EU_REGION), None, None).await;
    assert_eq!(
        eu_found.sources,
        vec![source(
            EU_REGION,
            &eu_flow,
            s3("it-eu-flows", "AWSLogs/123456789012/vpcflowlogs/")
        )]
    );

    // DescribeFlowLogs returns the tags: the tag filter selects without another call.
    let tagged = run(
        &moto,
        &moto.region,
        Some(ResourceFilter {
            include: vec![],
            exclude: vec![],
            tags: BTreeMap::from([("team".into(), "net".into())]),
        }),
        None,
    )
    .await;
    assert_eq!(
        tagged.sources,
        vec![source(REGION, &to_group, group("/it/flows"))]
    );
    assert!(tagged.unsubscribable.is_empty(), "{tagged:?}");

    // Flow logs are selected by their id.
    let by_id = run(
        &moto,
        &moto.region,
        Some(ResourceFilter {
            include: vec![to_folder.clone()],
            exclude: vec![],
            tags: BTreeMap::new(),
        }),
        None,
    )
    .await;
    assert_eq!(by_id.sources.len(), 1, "{by_id:?}");
    assert_eq!(by_id.sources[0].resource_arn, arn(REGION, &to_folder));

    // A targeted pass on a CreateFlowLogs/DeleteFlowLogs event's flow log id reads only it.
    let mut focus = Focus::default();
    focus.add(Touched::Resource {
        service: Service::VpcFlowLogs,
        key: to_root.clone(),
    });
    let focused = run(&moto, &moto.region, None, Some(&focus)).await;
    assert_eq!(
        focused.sources,
        vec![source(
            REGION,
            &to_root,
            s3("it-flows", "AWSLogs/123456789012/vpcflowlogs/")
        )]
    );
    assert!(focused.unsubscribable.is_empty(), "{focused:?}");
}
