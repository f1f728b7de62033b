//! API Gateway: every stage of every REST, HTTP and WebSocket API in the target region.
//!
//! A stage writes access logs to the log group (or Firehose stream) its access log settings name,
//! and a REST stage whose method settings log at `ERROR` or `INFO` also writes execution logs to
//! `API-Gateway-Execution-Logs_<apiId>/<stage>`. The source is the stage; filters match the API's
//! name and tags, which the listings return, so no tag calls are made.

use async_trait::async_trait;
use autosub_aws::error::{AwsError, ErrorClass};
use autosub_aws::source_apis::{ApiGatewayApi, GatewayApi, Stage};
use autosub_core::selection::ResourceFilter;
use autosub_core::{
    AccountId, Discovery, Location, LogGroupName, LogSource, Region, Service, Unsubscribable,
};
use futures::{StreamExt, stream};

use crate::{DiscoverCx, Discoverer, gap};

/// What Firehose access logging needs instead of a trigger.
const FIREHOSE_WHY: &str = "Firehose delivery streams cannot take a subscription trigger; have \
    the stream deliver to S3 and subscribe that bucket, or use Datadog's Firehose destination";

/// Discovers the access and execution log groups of every API Gateway stage.
pub struct ApiGatewayDiscoverer;

#[async_trait]
impl Discoverer for ApiGatewayDiscoverer {
    fn service(&self) -> Service {
        Service::ApiGateway
    }

    async fn discover(&self, cx: &DiscoverCx<'_>) -> Discovery {
        let filter = cx.filter(Service::ApiGateway);
        discover_stages(
            cx.apis.sources.api_gateway.as_ref(),
            &Scope {
                account: cx.account,
                region: cx.region,
                filter: &filter,
                concurrency: cx.concurrency,
            },
        )
        .await
    }
}

/// The target and selection one discovery runs with.
struct Scope<'a> {
    account: &'a AccountId,
    region: &'a Region,
    filter: &'a ResourceFilter,
    concurrency: usize,
}

/// The two API families: they differ in their calls and their execution logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ApiKind {
    /// REST APIs (apigateway v1).
    Rest,
    /// HTTP and WebSocket APIs (apigatewayv2).
    Http,
}

impl ApiKind {
    fn label(self) -> &'static str {
        match self {
            Self::Rest => "REST API",
            Self::Http => "HTTP/WebSocket API",
        }
    }
}

async fn discover_stages(api: &dyn ApiGatewayApi, scope: &Scope<'_>) -> Discovery {
    let mut found = Discovery::default();
    let mut selected = Vec::new();
    // The two listings are independent: one failing leaves the other family discovered.
    for (kind, listed) in [
        (ApiKind::Rest, api.rest_apis().await),
        (ApiKind::Http, api.http_apis().await),
    ] {
        match listed {
            Ok(apis) => selected.extend(
                apis.into_iter()
                    .filter(|a| scope.filter.admits(&a.resource.name, &a.tags))
                    .map(|a| (kind, a)),
            ),
            Err(e) => found
                .gaps
                .push(gap(Service::ApiGateway, format!("{}s: {e}", kind.label()))),
        }
    }

    let stages: Vec<(ApiKind, GatewayApi, Result<Vec<Stage>, AwsError>)> = stream::iter(selected)
        .map(|(kind, gw)| async move {
            let stages = match kind {
                ApiKind::Rest => api.rest_stages(&gw.id).await,
                ApiKind::Http => api.http_stages(&gw.id).await,
            };
            (kind, gw, stages)
        })
        .buffer_unordered(scope.concurrency.max(1))
        .collect()
        .await;

    for (kind, gw, result) in stages {
        match result {
            Ok(stages) => {
                for stage in &stages {
                    found.merge(stage_logs(kind, &gw, stage, scope.account, scope.region));
                }
            }
            // Deleted between the listing and now: nothing to discover.
            Err(e) if e.class == ErrorClass::NotFound => {}
            Err(e) => found.gaps.push(gap(
                Service::ApiGateway,
                format!("{} {} ({}): {e}", kind.label(), gw.resource.name, gw.id),
            )),
        }
    }
    found.normalize()
}

/// The sources (and unsubscribable destinations) of one stage of `gw`.
fn stage_logs(
    kind: ApiKind,
    gw: &GatewayApi,
    stage: &Stage,
    account: &AccountId,
    region: &Region,
) -> Discovery {
    let resource_arn = format!("{}/stages/{}", gw.resource.arn, stage.name);
    let source = |name: LogGroupName| LogSource {
        service: Service::ApiGateway,
        resource_arn: resource_arn.clone(),
        location: Location::LogGroup { name },
    };
    let mut found = Discovery::default();
    if let Some(arn) = &stage.access_log_destination {
        match access_log_destination(arn, account, region) {
            Ok(name) => found.sources.push(source(name)),
            Err(why) => found.unsubscribable.push(Unsubscribable {
                service: Service::ApiGateway,
                resource_arn: resource_arn.clone(),
                destination: arn.clone(),
                why,
            }),
        }
    }
    if kind == ApiKind::Rest && stage.execution_logs {
        found
            .sources
            .push(source(execution_log_group(&gw.id, &stage.name)));
    }
    found
}

/// The log group API Gateway writes a REST stage's execution logs to.
fn execution_log_group(api_id: &str, stage: &str) -> LogGroupName {
    LogGroupName::new(format!("API-Gateway-Execution-Logs_{api_id}/{stage}"))
}

/// The log group an access log destination ARN names, when it is one in the target's account and
/// region (with or without the trailing `:*`); otherwise why it cannot be subscribed.
fn access_log_destination(
    arn: &str,
    account: &AccountId,
    region: &Region,
) -> Result<LogGroupName, String> {
    // arn:<partition>:<service>:<region>:<account>:<resource>; the resource may hold colons.
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [
        prefix,
        _partition,
        service,
        arn_region,
        arn_account,
        resource,
    ] = parts[..]
    else {
        return Err("not an ARN; expected a CloudWatch Logs log group ARN".to_owned());
    };
    if prefix != "arn" {
        return Err("not an ARN; expected a CloudWatch Logs log group ARN".to_owned());
    }
    match service {
        "firehose" => return Err(FIREHOSE_WHY.to_owned()),
        "logs" => {}
        other => {
            return Err(format!(
                "a {other} destination is not a CloudWatch Logs log group; autosub subscribes \
                 only log groups and S3 buckets"
            ));
        }
    }
    let name = resource
        .strip_prefix("log-group:")
        .map(|n| n.strip_suffix(":*").unwrap_or(n))
        .filter(|n| !n.is_empty())
        .ok_or_else(|| "the ARN names no log group".to_owned())?;
    if arn_account != account.as_str() || arn_region != region.as_str() {
        return Err(format!(
            "the log group is in account {arn_account}, region {arn_region}, outside this \
             target ({account}, {region}); subscription filters are put only on the target's \
             own log groups"
        ));
    }
    Ok(LogGroupName::new(name))
}

#[cfg(test)]
mod tests {
    use autosub_aws::source_apis::{Resource, Tags};

    use super::*;

    const ACCOUNT: &str = "123456789012";
    const REGION: &str = "us-east-1";

    fn check_destination(arn: &str, want: Result<&str, &str>) {
        let got = access_log_destination(arn, &AccountId::new(ACCOUNT), &Region::new(REGION));
        match (got, want) {
            (Ok(name), Ok(want)) => assert_eq!(name.as_str(), want, "{arn}"),
            (Err(why), Err(want)) => assert!(why.contains(want), "{arn}: {why}"),
            (got, want) => panic!("{arn}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn access_log_destinations_map_to_log_groups_or_a_reason() {
        for (arn, want) in [
            (
                "arn:aws:logs:us-east-1:123456789012:log-group:/apigw/orders",
                Ok("/apigw/orders"),
            ),
            (
                "arn:aws:logs:us-east-1:123456789012:log-group:/apigw/orders:*",
                Ok("/apigw/orders"),
            ),
            (
                "arn:aws:logs:us-east-1:123456789012:log-group:API-Gateway-Access_x.y#z:*",
                Ok("API-Gateway-Access_x.y#z"),
            ),
            (
                "arn:aws:firehose:us-east-1:123456789012:deliverystream/amazon-apigateway-orders",
                Err("Firehose delivery streams cannot take a subscription trigger"),
            ),
            (
                "arn:aws:logs:eu-west-1:123456789012:log-group:/apigw/orders:*",
                Err("region eu-west-1, outside this target"),
            ),
            (
                "arn:aws:logs:us-east-1:210987654321:log-group:/apigw/orders",
                Err("account 210987654321"),
            ),
            (
                "arn:aws:s3:::some-bucket",
                Err("a s3 destination is not a CloudWatch Logs log group"),
            ),
            (
                "arn:aws:logs:us-east-1:123456789012:log-group:",
                Err("names no log group"),
            ),
            (
                "arn:aws:logs:us-east-1:123456789012:destination:central",
                Err("names no log group"),
            ),
            ("/apigw/orders", Err("not an ARN")),
            (
                "urn:aws:logs:us-east-1:123456789012:log-group:x",
                Err("not an ARN"),
            ),
        ] {
            check_destination(arn, want);
        }
    }

    fn rest_api(id: &str, name: &str) -> GatewayApi {
        GatewayApi {
            id: id.to_owned(),
            resource: Resource {
                arn: format!("arn:aws:apigateway:{REGION}::/restapis/{id}"),
                name: name.to_owned(),
            },
            tags: Tags::new(),
        }
    }

    fn stage(name: &str, access: Option<&str>, execution_logs: bool) -> Stage {
        Stage {
            name: name.to_owned(),
            access_log_destination: access.map(str::to_owned),
            execution_logs,
        }
    }

    fn log_source(arn: &str, group: &str) -> LogSource {
        LogSource {
            service: Service::ApiGateway,
            resource_arn: arn.to_owned(),
            location: Location::LogGroup {
                name: LogGroupName::new(group),
            },
        }
    }

    #[test]
    fn stages_yield_access_and_execution_log_groups() {
        let account = AccountId::new(ACCOUNT);
        let region = Region::new(REGION);
        let gw = rest_api("a1b2c3", "orders");
        let prod = "arn:aws:apigateway:us-east-1::/restapis/a1b2c3/stages/prod";
        let access = "arn:aws:logs:us-east-1:123456789012:log-group:/apigw/orders:*";
        let firehose = "arn:aws:firehose:us-east-1:123456789012:deliverystream/amazon-apigateway-x";
        let check = |kind: ApiKind, stage: Stage, sources: Vec<LogSource>, unsub: usize| {
            let got = stage_logs(kind, &gw, &stage, &account, &region).normalize();
            assert_eq!(got.sources, sources, "{stage:?}");
            assert_eq!(got.unsubscribable.len(), unsub, "{stage:?}");
            assert!(got.gaps.is_empty());
        };
        check(ApiKind::Rest, stage("prod", None, false), vec![], 0);
        check(
            ApiKind::Rest,
            stage("prod", Some(access), false),
            vec![log_source(prod, "/apigw/orders")],
            0,
        );
        check(
            ApiKind::Rest,
            stage("prod", None, true),
            vec![log_source(prod, "API-Gateway-Execution-Logs_a1b2c3/prod")],
            0,
        );
        check(
            ApiKind::Rest,
            stage("prod", Some(access), true),
            vec![
                log_source(prod, "/apigw/orders"),
                log_source(prod, "API-Gateway-Execution-Logs_a1b2c3/prod"),
            ],
            0,
        );
        // Firehose access logs are unsubscribable, execution logs still a source.
        check(
            ApiKind::Rest,
            stage("prod", Some(firehose), true),
            vec![log_source(prod, "API-Gateway-Execution-Logs_a1b2c3/prod")],
            1,
        );
        // v2 stages have no REST execution log group.
        check(ApiKind::Http, stage("prod", None, true), vec![], 0);
    }

    /// An ApiGatewayApi whose listings fail with `listing` and whose stages come from a table.
    struct FakeApiGateway {
        listing: Option<AwsError>,
        apis: Vec<GatewayApi>,
        stages: Vec<(String, Result<Vec<Stage>, AwsError>)>,
    }

    impl FakeApiGateway {
        fn listed(&self) -> Result<Vec<GatewayApi>, AwsError> {
            match &self.listing {
                Some(e) => Err(e.clone()),
                None => Ok(self.apis.clone()),
            }
        }

        fn stages_of(&self, id: &str) -> Result<Vec<Stage>, AwsError> {
            self.stages
                .iter()
                .find(|(api, _)| api == id)
                .map(|(_, s)| s.clone())
                .unwrap_or(Ok(Vec::new()))
        }
    }

    #[async_trait]
    impl ApiGatewayApi for FakeApiGateway {
        async fn rest_apis(&self) -> Result<Vec<GatewayApi>, AwsError> {
            self.listed()
        }
        async fn rest_stages(&self, api_id: &str) -> Result<Vec<Stage>, AwsError> {
            self.stages_of(api_id)
        }
        async fn http_apis(&self) -> Result<Vec<GatewayApi>, AwsError> {
            // The REST listing covers the fake's APIs; v2 mirrors its failure only.
            self.listed().map(|_| Vec::new())
        }
        async fn http_stages(&self, api_id: &str) -> Result<Vec<Stage>, AwsError> {
            self.stages_of(api_id)
        }
    }

    fn error(class: ErrorClass, operation: &'static str) -> AwsError {
        AwsError {
            class,
            operation,
            code: Some("AccessDeniedException".to_owned()),
            message: "not authorized to perform apigateway:GET".to_owned(),
        }
    }

    fn run(fake: &FakeApiGateway) -> Discovery {
        let account = AccountId::new(ACCOUNT);
        let region = Region::new(REGION);
        let filter = ResourceFilter::default();
        futures::executor::block_on(discover_stages(
            fake,
            &Scope {
                account: &account,
                region: &region,
                filter: &filter,
                concurrency: 2,
            },
        ))
    }

    #[test]
    fn access_denied_on_the_listings_is_a_gap_not_a_failure() {
        let fake = FakeApiGateway {
            listing: Some(error(ErrorClass::AccessDenied, "apigateway:GetRestApis")),
            apis: vec![rest_api("a1b2c3", "orders")],
            stages: Vec::new(),
        };
        let found = run(&fake);
        assert!(found.sources.is_empty(), "{found:?}");
        assert!(found.unsubscribable.is_empty(), "{found:?}");
        assert_eq!(found.gaps.len(), 2, "{found:?}");
        assert!(
            found
                .gaps
                .iter()
                .all(|g| g.service == Service::ApiGateway && g.detail.contains("access_denied"))
        );
        assert!(found.gaps[0].detail.starts_with("HTTP/WebSocket APIs: "));
        assert!(found.gaps[1].detail.starts_with("REST APIs: "));
    }

    #[test]
    fn a_stage_read_error_is_a_gap_naming_the_api_and_others_are_still_found() {
        let access = "arn:aws:logs:us-east-1:123456789012:log-group:/apigw/users";
        let fake = FakeApiGateway {
            listing: None,
            apis: vec![
                rest_api("a1b2c3", "orders"),
                rest_api("d4e5f6", "users"),
                rest_api("g7h8i9", "gone"),
            ],
            stages: vec![
                (
                    "a1b2c3".to_owned(),
                    Err(error(ErrorClass::AccessDenied, "apigateway:GetStages")),
                ),
                (
                    "d4e5f6".to_owned(),
                    Ok(vec![stage("v1", Some(access), false)]),
                ),
                (
                    "g7h8i9".to_owned(),
                    Err(error(ErrorClass::NotFound, "apigateway:GetStages")),
                ),
            ],
        };
        let found = run(&fake);
        assert_eq!(
            found.sources,
            vec![log_source(
                "arn:aws:apigateway:us-east-1::/restapis/d4e5f6/stages/v1",
                "/apigw/users"
            )]
        );
        // A deleted API (NotFound) is no gap; the denied one is, by name and id.
        assert_eq!(found.gaps.len(), 1, "{found:?}");
        assert!(
            found.gaps[0].detail.starts_with(
                "REST API orders (a1b2c3): apigateway:GetStages failed (access_denied"
            ),
            "{}",
            found.gaps[0].detail
        );
    }
}
