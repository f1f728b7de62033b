//! [`ApiGatewayApi`] on the AWS SDK: REST APIs through `apigateway`, HTTP and WebSocket APIs
//! through `apigatewayv2`. Both listings carry the APIs' tags, so no tag calls are needed.

use std::collections::HashMap;

use async_trait::async_trait;
use autosub_core::Partition;

use crate::clients::Target;
use crate::error::AwsError;
use crate::sdk_error::aws_error;
use crate::source_apis::{ApiGatewayApi, GatewayApi, Resource, Stage};

/// ApiGatewayApi through the SDK, in the target's region.
pub(crate) struct SdkApiGateway {
    target: Target,
}

impl SdkApiGateway {
    pub(crate) fn new(target: Target) -> Self {
        Self { target }
    }

    fn v1(&self) -> aws_sdk_apigateway::Client {
        self.target
            .clients
            .apigateway(&self.target.account, &self.target.region)
    }

    fn v2(&self) -> aws_sdk_apigatewayv2::Client {
        self.target
            .clients
            .apigatewayv2(&self.target.account, &self.target.region)
    }

    /// `arn:<partition>:apigateway:<region>::/<kind>/<id>`.
    fn api_arn(&self, kind: &str, id: &str) -> String {
        let region = &self.target.region;
        format!(
            "arn:{}:apigateway:{region}::/{kind}/{id}",
            Partition::of(region).as_str()
        )
    }

    fn gateway_api(
        &self,
        kind: &str,
        id: Option<&str>,
        name: Option<&str>,
        tags: Option<&HashMap<String, String>>,
    ) -> Option<GatewayApi> {
        let id = id?;
        Some(GatewayApi {
            id: id.to_owned(),
            resource: Resource {
                arn: self.api_arn(kind, id),
                // Names are required on create; fall back to the id rather than drop the API.
                name: name.unwrap_or(id).to_owned(),
            },
            tags: tags
                .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default(),
        })
    }
}

/// True when a method (or route) logging level writes execution logs: `ERROR` or `INFO`
/// (`OFF`, absent or anything unknown does not).
fn logs_executions(level: Option<&str>) -> bool {
    level.is_some_and(|l| l.eq_ignore_ascii_case("ERROR") || l.eq_ignore_ascii_case("INFO"))
}

#[async_trait]
impl ApiGatewayApi for SdkApiGateway {
    async fn rest_apis(&self) -> Result<Vec<GatewayApi>, AwsError> {
        let mut pages = self.v1().get_rest_apis().into_paginator().send();
        let mut apis = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| aws_error("apigateway:GetRestApis", e))?;
            apis.extend(
                page.items()
                    .iter()
                    .filter_map(|a| self.gateway_api("restapis", a.id(), a.name(), a.tags())),
            );
        }
        Ok(apis)
    }

    async fn rest_stages(&self, api_id: &str) -> Result<Vec<Stage>, AwsError> {
        // GetStages is not paginated: it returns every stage of the API.
        let out = self
            .v1()
            .get_stages()
            .rest_api_id(api_id)
            .send()
            .await
            .map_err(|e| aws_error("apigateway:GetStages", e))?;
        Ok(out
            .item()
            .iter()
            .filter_map(|s| {
                Some(Stage {
                    name: s.stage_name()?.to_owned(),
                    access_log_destination: s
                        .access_log_settings()
                        .and_then(|a| a.destination_arn())
                        .filter(|arn| !arn.is_empty())
                        .map(str::to_owned),
                    execution_logs: s
                        .method_settings()
                        .is_some_and(|m| m.values().any(|m| logs_executions(m.logging_level()))),
                })
            })
            .collect())
    }

    async fn http_apis(&self) -> Result<Vec<GatewayApi>, AwsError> {
        // apigatewayv2 offers no paginator: follow NextToken by hand.
        let client = self.v2();
        let mut apis = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = client
                .get_apis()
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| aws_error("apigateway:GetApis", e))?;
            apis.extend(
                page.items()
                    .iter()
                    .filter_map(|a| self.gateway_api("apis", a.api_id(), a.name(), a.tags())),
            );
            match page.next_token() {
                Some(next) if !next.is_empty() => token = Some(next.to_owned()),
                _ => return Ok(apis),
            }
        }
    }

    async fn http_stages(&self, api_id: &str) -> Result<Vec<Stage>, AwsError> {
        let client = self.v2();
        let mut stages = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = client
                .get_stages()
                .api_id(api_id)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| aws_error("apigateway:GetStages", e))?;
            stages.extend(page.items().iter().filter_map(|s| {
                Some(Stage {
                    name: s.stage_name()?.to_owned(),
                    access_log_destination: s
                        .access_log_settings()
                        .and_then(|a| a.destination_arn())
                        .filter(|arn| !arn.is_empty())
                        .map(str::to_owned),
                    execution_logs: false,
                })
            }));
            match page.next_token() {
                Some(next) if !next.is_empty() => token = Some(next.to_owned()),
                _ => return Ok(stages),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::logs_executions;

    #[test]
    fn only_error_and_info_levels_write_execution_logs() {
        for (level, want) in [
            (Some("INFO"), true),
            (Some("ERROR"), true),
            (Some("info"), true),
            (Some("OFF"), false),
            (Some(""), false),
            (None, false),
        ] {
            assert_eq!(logs_executions(level), want, "{level:?}");
        }
    }
}
