//! API Gateway: every stage of every REST, HTTP and WebSocket API in the target region.
//!
//! A stage writes access logs to the log group (or Firehose stream) its access log settings name,
//! and a REST stage whose method settings log at `ERROR` or `INFO` also writes execution logs to
//! `API-Gateway-Execution-Logs_<apiId>/<stage>`. The source is the stage; filters match the API's
//! name and tags, which the listings return, so no tag calls are made.

use async_trait::async_trait;
use autosub_aws::source_apis::{ApiGatewayApi, GatewayApi, Stage};
use autosub_core::{Discovery, Location, LogGroupName, Service};

use crate::pipeline::Pipeline;
use crate::{DiscoverCx, Discoverer, destination};

/// Discovers the access and execution log groups of every API Gateway stage.
pub struct ApiGatewayDiscoverer;

#[async_trait]
impl Discoverer for ApiGatewayDiscoverer {
    fn service(&self) -> Service {
        Service::ApiGateway
    }

    async fn discover(&self, cx: &DiscoverCx<'_>) -> Discovery {
        discover_stages(
            cx.apis.sources.api_gateway.as_ref(),
            &Pipeline::of(cx, Service::ApiGateway),
        )
        .await
    }
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

async fn discover_stages(api: &dyn ApiGatewayApi, p: &Pipeline<'_>) -> Discovery {
    let mut found = Discovery::default();
    let mut selected = Vec::new();
    // The two listings are independent: one failing leaves the other family discovered.
    for (kind, listed) in [
        (ApiKind::Rest, api.rest_apis().await),
        (ApiKind::Http, api.http_apis().await),
    ] {
        match listed {
            // The listings return the tags, so the filter needs no extra calls.
            Ok(apis) => selected.extend(
                apis.into_iter()
                    .filter(|a| p.selects(&a.resource.name, &a.resource.arn, Some(&a.tags)))
                    .map(|a| (kind, a)),
            ),
            Err(e) => found.merge(p.gap(&format!("{}s", kind.label()), e)),
        }
    }
    found.merge(
        p.read_each(
            selected,
            |(kind, gw)| format!("{} {} ({})", kind.label(), gw.resource.name, gw.id),
            |(kind, gw)| async move {
                let stages = match kind {
                    ApiKind::Rest => api.rest_stages(&gw.id).await?,
                    ApiKind::Http => api.http_stages(&gw.id).await?,
                };
                let mut found = Discovery::default();
                for stage in &stages {
                    found.merge(stage_logs(p, kind, &gw, stage));
                }
                Ok(found)
            },
        )
        .await,
    );
    found.normalize()
}

/// The sources (and unsubscribable destinations) of one stage of `gw`.
fn stage_logs(p: &Pipeline<'_>, kind: ApiKind, gw: &GatewayApi, stage: &Stage) -> Discovery {
    let resource_arn = format!("{}/stages/{}", gw.resource.arn, stage.name);
    let mut found = p.destinations(&resource_arn, stage.access_log_destination.clone(), |arn| {
        destination::log_group(arn, p.account(), p.region())
    });
    if kind == ApiKind::Rest && stage.execution_logs {
        found.merge(p.sources(
            &resource_arn,
            [Location::LogGroup {
                name: execution_log_group(&gw.id, &stage.name),
            }],
        ));
    }
    found
}

/// The log group API Gateway writes a REST stage's execution logs to.
fn execution_log_group(api_id: &str, stage: &str) -> LogGroupName {
    LogGroupName::new(format!("API-Gateway-Execution-Logs_{api_id}/{stage}"))
}

#[cfg(test)]
mod tests {
    use autosub_aws::error::{AwsError, ErrorClass};
    use autosub_aws::source_apis::{Resource, Tags};
    use autosub_core::selection::ResourceFilter;
    use autosub_core::{AccountId, LogSource, Region};

    use super::*;
    use crate::testing::{ACCOUNT, refused, run};

    const REGION: &str = "us-east-1";

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
            let p = Pipeline::new(
                Service::ApiGateway,
                &account,
                &region,
                ResourceFilter::default(),
                2,
            );
            let got = stage_logs(&p, kind, &gw, &stage).normalize();
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

    fn discover(fake: &FakeApiGateway) -> Discovery {
        run(Service::ApiGateway, REGION, fake, |api, p| {
            Box::pin(discover_stages(api, p))
        })
    }

    #[test]
    fn access_denied_on_the_listings_is_a_gap_not_a_failure() {
        let fake = FakeApiGateway {
            listing: Some(refused(ErrorClass::AccessDenied, "apigateway:GetRestApis")),
            apis: vec![rest_api("a1b2c3", "orders")],
            stages: Vec::new(),
        };
        let found = discover(&fake);
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
                    Err(refused(ErrorClass::AccessDenied, "apigateway:GetStages")),
                ),
                (
                    "d4e5f6".to_owned(),
                    Ok(vec![stage("v1", Some(access), false)]),
                ),
                (
                    "g7h8i9".to_owned(),
                    Err(refused(ErrorClass::NotFound, "apigateway:GetStages")),
                ),
            ],
        };
        let found = discover(&fake);
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
