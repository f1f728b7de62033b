//! The API Gateway discoverer against moto: REST stages (access and execution logs) and
//! HTTP/WebSocket stages (access logs) through the production AWS layer.

use std::collections::{BTreeMap, BTreeSet};

use autosub_core::selection::ResourceFilter;
use autosub_core::{Discovery, Location, LogGroupName, LogSource, Region, Service};
use autosub_discover::{ApiGatewayDiscoverer, DiscoverCx, Discoverer};
use autosub_testkit::demo::api_gateway::{
    ApiGatewayClients, RestStageLogging, create_http_api, create_http_stage, create_rest_api,
    create_rest_stage,
};

use crate::support::{EU_REGION, Moto, REGION};

async fn run(moto: &Moto, region: &Region, filter: Option<ResourceFilter>) -> Discovery {
    let apis = moto.factory.apis(&moto.account, region);
    let filters: BTreeMap<Service, ResourceFilter> = filter
        .map(|f| BTreeMap::from([(Service::ApiGateway, f)]))
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
    ApiGatewayDiscoverer.discover(&cx).await
}

fn clients(moto: &Moto, region: &str) -> ApiGatewayClients {
    ApiGatewayClients::new(
        &moto.server.sdk_config(region),
        moto.account.as_str(),
        region,
    )
}

fn source(stage_arn: &str, group: &str) -> LogSource {
    LogSource {
        service: Service::ApiGateway,
        resource_arn: stage_arn.to_owned(),
        location: Location::LogGroup {
            name: LogGroupName::new(group),
        },
    }
}

fn logging(access: Option<String>, level: Option<&str>) -> RestStageLogging {
    RestStageLogging {
        access_log_destination: access,
        execution_level: level.map(str::to_owned),
        other_settings: Vec::new(),
    }
}

fn no_tags() -> BTreeMap<String, String> {
    BTreeMap::new()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_stages_map_to_access_and_execution_log_groups() {
    let moto = Moto::start().await;
    let gw = clients(&moto, REGION);
    let api = create_rest_api(&gw, "it-orders", &no_tags()).await.unwrap();
    let stage = |name: &str| gw.rest_stage_arn(&api, name);
    let cases: Vec<(&str, RestStageLogging)> = vec![
        // Both kinds of logs; the destination ARN carries `:*`.
        (
            "prod",
            logging(
                Some(gw.log_group_arn("/it/orders-access", true)),
                Some("INFO"),
            ),
        ),
        // Access logs without `:*`, execution logs at ERROR.
        (
            "beta",
            logging(
                Some(gw.log_group_arn("/it/beta-access", false)),
                Some("ERROR"),
            ),
        ),
        // Logging off: no settings at all, or the level explicitly OFF.
        ("dev", logging(None, None)),
        ("quiet", logging(None, Some("OFF"))),
        // Half-configured: a format with an empty destination, method settings without a level.
        (
            "half",
            RestStageLogging {
                access_log_destination: None,
                execution_level: None,
                other_settings: vec![
                    (
                        "/accessLogSettings/format".into(),
                        "$context.requestId".into(),
                    ),
                    ("/accessLogSettings/destinationArn".into(), String::new()),
                    ("/*/*/metrics/enabled".into(), "true".into()),
                ],
            },
        ),
        // Access logs to Firehose: unsubscribable; execution logs still a source.
        (
            "stream",
            logging(Some(gw.firehose_arn("amazon-apigateway-it")), Some("INFO")),
        ),
        // A log group in another region: unsubscribable from this target.
        (
            "far",
            logging(
                Some(clients(&moto, EU_REGION).log_group_arn("/it/far-access", true)),
                None,
            ),
        ),
    ];
    for (name, settings) in &cases {
        create_rest_stage(&gw, &api, name, settings).await.unwrap();
    }

    let found = run(&moto, &moto.region, None).await;
    assert_eq!(found.gaps, vec![]);
    let execution = |name: &str| format!("API-Gateway-Execution-Logs_{api}/{name}");
    let mut want = vec![
        source(&stage("prod"), "/it/orders-access"),
        source(&stage("prod"), &execution("prod")),
        source(&stage("beta"), "/it/beta-access"),
        source(&stage("beta"), &execution("beta")),
        source(&stage("stream"), &execution("stream")),
    ];
    want.sort();
    assert_eq!(found.sources, want);
    let unsubscribable: Vec<(&str, &str)> = found
        .unsubscribable
        .iter()
        .map(|u| (u.resource_arn.as_str(), u.destination.as_str()))
        .collect();
    let firehose = gw.firehose_arn("amazon-apigateway-it");
    let far = clients(&moto, EU_REGION).log_group_arn("/it/far-access", true);
    let (stream_arn, far_arn) = (stage("stream"), stage("far"));
    let mut want_unsub = vec![
        (stream_arn.as_str(), firehose.as_str()),
        (far_arn.as_str(), far.as_str()),
    ];
    want_unsub.sort();
    assert_eq!(unsubscribable, want_unsub);
    for u in &found.unsubscribable {
        assert_eq!(u.service, Service::ApiGateway);
        if u.destination == firehose {
            assert!(u.why.contains("Firehose"), "{}", u.why);
        } else {
            assert!(u.why.contains("region eu-west-1"), "{}", u.why);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_and_websocket_stages_map_to_their_access_log_groups() {
    let moto = Moto::start().await;
    let gw = clients(&moto, REGION);
    let http = create_http_api(&gw, "it-payments", false, &no_tags())
        .await
        .unwrap();
    let ws = create_http_api(&gw, "it-chat", true, &no_tags())
        .await
        .unwrap();
    let payments_access = gw.log_group_arn("/it/payments-access", false);
    let chat_access = gw.log_group_arn("/it/chat-access", true);
    create_http_stage(&gw, &http, "$default", Some(&payments_access))
        .await
        .unwrap();
    create_http_stage(&gw, &http, "unlogged", None)
        .await
        .unwrap();
    create_http_stage(&gw, &ws, "production", Some(&chat_access))
        .await
        .unwrap();
    let firehose = gw.firehose_arn("amazon-apigateway-chat");
    create_http_stage(&gw, &ws, "streamed", Some(&firehose))
        .await
        .unwrap();
    // An API with no stages at all.
    create_http_api(&gw, "it-empty", false, &no_tags())
        .await
        .unwrap();

    let found = run(&moto, &moto.region, None).await;
    assert_eq!(found.gaps, vec![]);
    let mut want = vec![
        source(&gw.http_stage_arn(&http, "$default"), "/it/payments-access"),
        source(&gw.http_stage_arn(&ws, "production"), "/it/chat-access"),
    ];
    want.sort();
    assert_eq!(found.sources, want);
    assert_eq!(found.unsubscribable.len(), 1, "{found:?}");
    assert_eq!(
        found.unsubscribable[0].resource_arn,
        gw.http_stage_arn(&ws, "streamed")
    );
    assert_eq!(found.unsubscribable[0].destination, firehose);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_api_of_the_region_is_found_and_no_other() {
    let moto = Moto::start().await;
    let gw = clients(&moto, REGION);
    // AWS pages GetRestApis by 25 and GetApis by 100 (the discoverer follows position/nextToken);
    // moto ignores pagination and answers in one page, so this checks only that nothing is lost.
    let mut want = Vec::new();
    for i in 0..30 {
        let api = create_rest_api(&gw, &format!("it-rest-{i:02}"), &no_tags())
            .await
            .unwrap();
        let group = format!("/it/rest-{i:02}");
        create_rest_stage(
            &gw,
            &api,
            "prod",
            &logging(Some(gw.log_group_arn(&group, true)), None),
        )
        .await
        .unwrap();
        want.push(source(&gw.rest_stage_arn(&api, "prod"), &group));
    }
    // An API in eu-west-1 belongs to that region's pass only.
    let eu = clients(&moto, EU_REGION);
    let eu_api = create_http_api(&eu, "it-eu", false, &no_tags())
        .await
        .unwrap();
    create_http_stage(
        &eu,
        &eu_api,
        "$default",
        Some(&eu.log_group_arn("/it/eu-access", true)),
    )
    .await
    .unwrap();

    let found = run(&moto, &moto.region, None).await;
    assert_eq!((&found.gaps, &found.unsubscribable), (&vec![], &vec![]));
    want.sort();
    assert_eq!(found.sources, want);

    let eu_found = run(&moto, &Region::new(EU_REGION), None).await;
    assert_eq!(
        (&eu_found.gaps, &eu_found.unsubscribable),
        (&vec![], &vec![])
    );
    assert_eq!(
        eu_found.sources,
        vec![source(
            &eu.http_stage_arn(&eu_api, "$default"),
            "/it/eu-access"
        )]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_select_apis_by_tag_and_name() {
    let moto = Moto::start().await;
    let gw = clients(&moto, REGION);
    let tagged = BTreeMap::from([("logs".to_owned(), "datadog".to_owned())]);
    let access = |name: &str| Some(gw.log_group_arn(&format!("/it/{name}"), true));

    let rest_in = create_rest_api(&gw, "it-rest-tagged", &tagged)
        .await
        .unwrap();
    create_rest_stage(&gw, &rest_in, "prod", &logging(access("rest-tagged"), None))
        .await
        .unwrap();
    let rest_out = create_rest_api(&gw, "it-rest-plain", &no_tags())
        .await
        .unwrap();
    create_rest_stage(
        &gw,
        &rest_out,
        "prod",
        &logging(access("rest-plain"), Some("INFO")),
    )
    .await
    .unwrap();
    let http_in = create_http_api(&gw, "it-http-tagged", false, &tagged)
        .await
        .unwrap();
    create_http_stage(&gw, &http_in, "$default", access("http-tagged").as_deref())
        .await
        .unwrap();
    let http_out = create_http_api(&gw, "it-http-plain", false, &no_tags())
        .await
        .unwrap();
    create_http_stage(&gw, &http_out, "$default", access("http-plain").as_deref())
        .await
        .unwrap();

    let by_tag = ResourceFilter {
        tags: tagged.clone(),
        ..ResourceFilter::default()
    };
    let found = run(&moto, &moto.region, Some(by_tag)).await;
    assert_eq!((&found.gaps, &found.unsubscribable), (&vec![], &vec![]));
    let mut want = vec![
        source(&gw.rest_stage_arn(&rest_in, "prod"), "/it/rest-tagged"),
        source(&gw.http_stage_arn(&http_in, "$default"), "/it/http-tagged"),
    ];
    want.sort();
    assert_eq!(found.sources, want);

    // Names are the API's name, not the stage's.
    let by_name = ResourceFilter {
        include: vec!["it-*-plain".to_owned()],
        ..ResourceFilter::default()
    };
    let found = run(&moto, &moto.region, Some(by_name)).await;
    assert_eq!(found.gaps, vec![]);
    let mut want = vec![
        source(&gw.rest_stage_arn(&rest_out, "prod"), "/it/rest-plain"),
        source(
            &gw.rest_stage_arn(&rest_out, "prod"),
            &format!("API-Gateway-Execution-Logs_{rest_out}/prod"),
        ),
        source(&gw.http_stage_arn(&http_out, "$default"), "/it/http-plain"),
    ];
    want.sort();
    assert_eq!(found.sources, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_slice_seeds_and_reseeds_to_the_same_discovery() {
    let moto = Moto::start().await;
    let sdk = moto.server.sdk_config(REGION);
    autosub_testkit::demo::api_gateway::seed(&sdk, moto.account.as_str())
        .await
        .unwrap();
    let first = run(&moto, &moto.region, None).await;
    autosub_testkit::demo::api_gateway::seed(&sdk, moto.account.as_str())
        .await
        .unwrap();
    let second = run(&moto, &moto.region, None).await;
    assert_eq!(first, second);
    assert_eq!(first.gaps, vec![]);
    let groups: Vec<String> = first
        .sources
        .iter()
        .map(|s| s.location.to_string())
        .collect();
    assert_eq!(groups.len(), 3, "{groups:?}");
    assert!(groups.contains(&"log-group:/demo/apigateway/orders-access".to_owned()));
    assert!(groups.contains(&"log-group:/demo/apigateway/payments-access".to_owned()));
    assert!(
        groups
            .iter()
            .any(|g| g.starts_with("log-group:API-Gateway-Execution-Logs_") && g.ends_with("/prod"))
    );
    assert_eq!(first.unsubscribable.len(), 1);
    assert!(first.unsubscribable[0].destination.contains(":firehose:"));

    let eu = run(&moto, &Region::new(EU_REGION), None).await;
    assert_eq!(eu.sources.len(), 1, "{eu:?}");
    assert_eq!(
        eu.sources[0].location.to_string(),
        "log-group:/demo/apigateway/eu-catalog-access"
    );
}
