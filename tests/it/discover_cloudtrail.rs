//! The CloudTrail discoverer against moto through the production AWS layer: a trail's bucket
//! location (prefix narrowed to its account's `CloudTrail/` folder, an organization trail's to
//! `AWSLogs/`), its log group (another region's: unsubscribable), a multi-region trail read once
//! in its home region, the loop guard (basic and advanced selectors recording reads of the
//! trail's own bucket make a looping location; a trail recording another bucket's reads is no
//! loop), and the tag filter (ListTags).

use std::collections::{BTreeMap, BTreeSet};

use autosub_core::selection::ResourceFilter;
use autosub_core::{BucketName, Discovery, Location, LogGroupName, LogSource, Region, Service};
use autosub_discover::{CloudTrailDiscoverer, DiscoverCx, Discoverer};
use autosub_testkit::demo::cloudtrail::{TrailSpec, client, create_trail, record_s3_data_events};
use autosub_testkit::estate::{create_bucket, create_log_group};
use aws_sdk_cloudtrail::types::{AdvancedEventSelector, AdvancedFieldSelector, ReadWriteType};

use crate::support::{Moto, REGION};

async fn run(moto: &Moto, region: &Region, filter: Option<ResourceFilter>) -> Discovery {
    let apis = moto.factory.apis(&moto.account, region);
    let filters: BTreeMap<Service, ResourceFilter> = filter
        .map(|f| BTreeMap::from([(Service::CloudTrail, f)]))
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
    CloudTrailDiscoverer.discover(&cx).await
}

fn s3(arn: &str, bucket: &str, prefix: &str) -> LogSource {
    LogSource {
        service: Service::CloudTrail,
        resource_arn: arn.to_owned(),
        location: Location::S3 {
            bucket: BucketName::new(bucket),
            prefix: prefix.to_owned(),
        },
    }
}

fn group(arn: &str, name: &str) -> LogSource {
    LogSource {
        service: Service::CloudTrail,
        resource_arn: arn.to_owned(),
        location: Location::LogGroup {
            name: LogGroupName::new(name),
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloudtrail_discoverer_maps_trails_to_buckets_log_groups_and_loop_guards() {
    let moto = Moto::start().await;
    let account = moto.account.as_str().to_owned();
    let trails = client(&moto.server.sdk_config(REGION), &account, REGION);
    for bucket in ["it-trails", "it-loop", "it-loop-advanced", "it-watched"] {
        create_bucket(&moto.cx, bucket).await.unwrap();
    }
    create_log_group(&moto.cx, "/it/trail").await.unwrap();
    let create = |spec: TrailSpec| {
        let trails = trails.clone();
        async move { create_trail(&trails, &spec).await.unwrap() }
    };
    let local_group = format!("arn:aws:logs:{REGION}:{account}:log-group:/it/trail:*");
    let eu_group = format!("arn:aws:logs:eu-west-1:{account}:log-group:/it/trail:*");
    let plain = create(TrailSpec {
        prefix: Some("p".into()),
        log_group_arn: Some(local_group),
        ..TrailSpec::new("it-plain", "it-trails")
    })
    .await;
    let cross_region = create(TrailSpec {
        log_group_arn: Some(eu_group.clone()),
        ..TrailSpec::new("it-cross-region", "it-trails")
    })
    .await;
    let org = create(TrailSpec {
        prefix: Some("org".into()),
        organization: true,
        multi_region: true,
        ..TrailSpec::new("it-org", "it-trails")
    })
    .await;
    // Records reads of another bucket, and writes of its own: no loop.
    let watching = create(TrailSpec::new("it-watching", "it-trails")).await;
    record_s3_data_events(
        &trails,
        "it-watching",
        ReadWriteType::All,
        &["arn:aws:s3:::it-watched/"],
    )
    .await
    .unwrap();
    let writes_only = create(TrailSpec {
        prefix: Some("w".into()),
        ..TrailSpec::new("it-writes-only", "it-trails")
    })
    .await;
    record_s3_data_events(
        &trails,
        "it-writes-only",
        ReadWriteType::WriteOnly,
        &["arn:aws:s3"],
    )
    .await
    .unwrap();
    // Loops: every bucket's reads, and (advanced selectors) its own bucket's.
    let looping = create(TrailSpec::new("it-loop", "it-loop")).await;
    record_s3_data_events(&trails, "it-loop", ReadWriteType::ReadOnly, &["arn:aws:s3"])
        .await
        .unwrap();
    let looping_advanced = create(TrailSpec::new("it-loop-advanced", "it-loop-advanced")).await;
    let field = |name: &str, values: &[&str]| {
        AdvancedFieldSelector::builder()
            .field(name)
            .set_equals(Some(values.iter().map(|v| (*v).to_owned()).collect()))
            .build()
            .unwrap()
    };
    trails
        .put_event_selectors()
        .trail_name("it-loop-advanced")
        .advanced_event_selectors(
            AdvancedEventSelector::builder()
                .name("s3 reads")
                .field_selectors(field("eventCategory", &["Data"]))
                .field_selectors(field("resources.type", &["AWS::S3::Object"]))
                .field_selectors(
                    AdvancedFieldSelector::builder()
                        .field("resources.ARN")
                        .starts_with("arn:aws:s3:::it-loop-advanced/")
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    // A multi-region trail whose home is eu-west-1: not this region's.
    let eu_trails = client(&moto.server.sdk_config("eu-west-1"), &account, "eu-west-1");
    let eu = create_trail(
        &eu_trails,
        &TrailSpec {
            multi_region: true,
            ..TrailSpec::new("it-eu-home", "it-trails")
        },
    )
    .await
    .unwrap();

    let found = run(&moto, &moto.region, None).await;
    assert!(found.gaps.is_empty(), "{found:?}");
    let ours = format!("AWSLogs/{account}/CloudTrail/");
    let mut want = vec![
        s3(&plain, "it-trails", &format!("p/{ours}")),
        group(&plain, "/it/trail"),
        s3(&cross_region, "it-trails", &ours),
        s3(&org, "it-trails", "org/AWSLogs/"),
        s3(&watching, "it-trails", &ours),
        s3(&writes_only, "it-trails", &format!("w/{ours}")),
    ];
    want.sort();
    assert_eq!(found.sources, want);
    let unsubscribable: Vec<(&str, &str)> = found
        .unsubscribable
        .iter()
        .map(|u| (u.resource_arn.as_str(), u.destination.as_str()))
        .collect();
    assert_eq!(
        unsubscribable,
        vec![(cross_region.as_str(), eu_group.as_str())]
    );
    // The looping trails' bucket locations: never subscribed (the planner's loop guard).
    let loops: Vec<(&str, String)> = found
        .loops
        .iter()
        .map(|l| (l.resource_arn.as_str(), l.location.to_string()))
        .collect();
    let mut want = vec![
        (looping.as_str(), format!("s3://it-loop/{ours}")),
        (
            looping_advanced.as_str(),
            format!("s3://it-loop-advanced/{ours}"),
        ),
    ];
    want.sort();
    assert_eq!(loops, want);
    for l in &found.loops {
        if l.resource_arn == looping {
            assert!(l.why.contains("loop guard: trail it-loop"), "{}", l.why);
            assert!(l.why.contains("\"arn:aws:s3\""), "{}", l.why);
            assert!(l.why.contains("bucket it-loop"), "{}", l.why);
        } else {
            assert!(l.why.contains("advanced event selector 1"), "{}", l.why);
        }
    }
    assert!(!found.sources.iter().any(|s| s.resource_arn == eu));

    // In its home region, the multi-region trail is read once.
    let in_eu = run(&moto, &Region::new("eu-west-1"), None).await;
    assert_eq!(in_eu.sources, vec![s3(&eu, "it-trails", &ours)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloudtrail_discoverer_selects_by_tag() {
    let moto = Moto::start().await;
    let account = moto.account.as_str().to_owned();
    let trails = client(&moto.server.sdk_config(REGION), &account, REGION);
    create_bucket(&moto.cx, "it-tagged-trails").await.unwrap();
    let security = create_trail(
        &trails,
        &TrailSpec {
            tags: vec![("team".into(), "security".into())],
            ..TrailSpec::new("it-security", "it-tagged-trails")
        },
    )
    .await
    .unwrap();
    create_trail(
        &trails,
        &TrailSpec {
            tags: vec![("team".into(), "web".into())],
            ..TrailSpec::new("it-web", "it-tagged-trails")
        },
    )
    .await
    .unwrap();
    let filter = ResourceFilter {
        tags: BTreeMap::from([("team".into(), "security".into())]),
        ..ResourceFilter::default()
    };
    let found = run(&moto, &moto.region, Some(filter)).await;
    assert!(found.gaps.is_empty(), "{found:?}");
    let arns: Vec<&str> = found
        .sources
        .iter()
        .map(|s| s.resource_arn.as_str())
        .collect();
    assert_eq!(arns, vec![security.as_str()]);
}
