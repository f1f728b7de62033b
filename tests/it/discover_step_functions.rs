//! The Step Functions discoverer against moto through the production AWS layer: a log group ARN
//! with `:*` normalised to its name, level OFF and level ALL without destinations (no source), a
//! log group in another region or account (unsubscribable), paging past moto's 100 state machines
//! per ListStateMachines page, and the tag filter (ListTagsForResource per machine).

use std::collections::{BTreeMap, BTreeSet};

use autosub_core::selection::ResourceFilter;
use autosub_core::{Discovery, Location, LogGroupName, LogSource, Region, Service};
use autosub_discover::{DiscoverCx, Discoverer, StepFunctionsDiscoverer};
use autosub_testkit::demo::step_functions::{
    LogLevel, StateMachineSpec, client, create_state_machine,
};

use crate::support::{Moto, REGION};

async fn run(moto: &Moto, region: &Region, filter: Option<ResourceFilter>) -> Discovery {
    let apis = moto.factory.apis(&moto.account, region);
    let filters: BTreeMap<Service, ResourceFilter> = filter
        .map(|f| BTreeMap::from([(Service::StepFunctions, f)]))
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
    StepFunctionsDiscoverer.discover(&cx).await
}

fn group_arn(region: &str, account: &str, name: &str) -> String {
    format!("arn:aws:logs:{region}:{account}:log-group:{name}:*")
}

fn source(arn: &str, group: &str) -> LogSource {
    LogSource {
        service: Service::StepFunctions,
        resource_arn: arn.to_owned(),
        location: Location::LogGroup {
            name: LogGroupName::new(group),
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn step_functions_discoverer_maps_logging_to_log_groups_or_reasons() {
    let moto = Moto::start().await;
    let sfn = client(
        &moto.server.sdk_config(REGION),
        moto.account.as_str(),
        REGION,
    );
    let account = moto.account.as_str();
    let create = |spec: StateMachineSpec| {
        let sfn = sfn.clone();
        async move { create_state_machine(&sfn, account, &spec).await.unwrap() }
    };
    let local = group_arn(REGION, account, "/aws/vendedlogs/states/it-on");
    let on = create(StateMachineSpec::new("it-on").logging(LogLevel::All, Some(&local))).await;
    // The same group without `:*` normalises to the same name.
    let bare = local.trim_end_matches(":*").to_owned();
    let bare_machine =
        create(StateMachineSpec::new("it-bare").logging(LogLevel::Error, Some(&bare))).await;
    create(StateMachineSpec::new("it-off").logging(LogLevel::Off, Some(&local))).await;
    create(StateMachineSpec::new("it-no-destination").logging(LogLevel::All, None)).await;
    create(StateMachineSpec::new("it-default")).await;
    let eu_group = group_arn("eu-west-1", account, "/aws/vendedlogs/states/shared");
    let cross_region =
        create(StateMachineSpec::new("it-cross-region").logging(LogLevel::All, Some(&eu_group)))
            .await;
    let other_account = group_arn(REGION, "210987654321", "/central/states");
    let cross_account = create(
        StateMachineSpec::new("it-cross-account").logging(LogLevel::Fatal, Some(&other_account)),
    )
    .await;

    let found = run(&moto, &moto.region, None).await;
    assert_eq!(
        found.sources,
        vec![
            source(&bare_machine, "/aws/vendedlogs/states/it-on"),
            source(&on, "/aws/vendedlogs/states/it-on"),
        ]
    );
    assert!(found.gaps.is_empty(), "{found:?}");
    let unsubscribable: Vec<(&str, &str)> = found
        .unsubscribable
        .iter()
        .map(|u| (u.resource_arn.as_str(), u.destination.as_str()))
        .collect();
    assert_eq!(
        unsubscribable,
        vec![
            (cross_account.as_str(), other_account.as_str()),
            (cross_region.as_str(), eu_group.as_str()),
        ]
    );
    assert!(found.unsubscribable[0].why.contains("account 210987654321"));
    assert!(found.unsubscribable[1].why.contains("region eu-west-1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn step_functions_discoverer_pages_past_one_hundred_state_machines() {
    let moto = Moto::start().await;
    let sfn = client(
        &moto.server.sdk_config(REGION),
        moto.account.as_str(),
        REGION,
    );
    let account = moto.account.as_str();
    let mut want = Vec::new();
    for i in 0..105 {
        let name = format!("it-machine-{i:03}");
        let group = format!("/aws/vendedlogs/states/{name}");
        let spec = StateMachineSpec::new(&name)
            .logging(LogLevel::All, Some(&group_arn(REGION, account, &group)));
        let arn = create_state_machine(&sfn, account, &spec).await.unwrap();
        want.push(source(&arn, &group));
    }
    want.sort();
    let found = run(&moto, &moto.region, None).await;
    assert!(found.gaps.is_empty(), "{:?}", found.gaps);
    assert_eq!(found.sources.len(), 105);
    assert_eq!(found.sources, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn step_functions_discoverer_tag_filter_selects_tagged_machines_only() {
    let moto = Moto::start().await;
    let sfn = client(
        &moto.server.sdk_config(REGION),
        moto.account.as_str(),
        REGION,
    );
    let account = moto.account.as_str();
    let group = group_arn(REGION, account, "/sfn/shared");
    let mut tagged = String::new();
    for (name, tag) in [
        ("it-tagged", Some("datadog")),
        ("it-other", Some("splunk")),
        ("it-untagged", None),
    ] {
        let mut spec = StateMachineSpec::new(name).logging(LogLevel::All, Some(&group));
        if let Some(value) = tag {
            spec = spec.tag("logs", value);
        }
        let arn = create_state_machine(&sfn, account, &spec).await.unwrap();
        if name == "it-tagged" {
            tagged = arn;
        }
    }
    let filter = ResourceFilter {
        tags: BTreeMap::from([("logs".to_owned(), "datadog".to_owned())]),
        ..ResourceFilter::default()
    };
    let found = run(&moto, &moto.region, Some(filter)).await;
    assert_eq!(found.sources, vec![source(&tagged, "/sfn/shared")]);
    assert!(found.gaps.is_empty(), "{found:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn step_functions_demo_slice_seeds_twice_and_is_discovered_as_documented() {
    let moto = Moto::start().await;
    let sdk = moto.server.sdk_config(REGION);
    for _ in 0..2 {
        autosub_testkit::demo::step_functions::seed(&sdk, moto.account.as_str())
            .await
            .unwrap();
    }
    let arn = |region: &str, name: &str| {
        format!("arn:aws:states:{region}:123456789012:stateMachine:{name}")
    };
    let found = run(&moto, &moto.region, None).await;
    assert_eq!(
        found.sources,
        vec![source(
            &arn(REGION, "demo-order-pipeline"),
            "/aws/vendedlogs/states/demo-order-pipeline"
        )]
    );
    assert!(found.gaps.is_empty(), "{found:?}");
    assert_eq!(found.unsubscribable.len(), 1, "{found:?}");
    assert_eq!(
        found.unsubscribable[0].resource_arn,
        arn(REGION, "demo-cross-region")
    );
    let eu = run(&moto, &Region::new("eu-west-1"), None).await;
    assert_eq!(
        eu.sources,
        vec![source(
            &arn("eu-west-1", "demo-eu-pipeline"),
            "/aws/vendedlogs/states/demo-eu-pipeline"
        )]
    );
}
