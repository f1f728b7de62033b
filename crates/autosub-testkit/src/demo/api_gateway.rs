//! API Gateway in the demo estate, and the seeders tests use to build their own APIs.
//!
//! The demo slice (see [`seed`]), in us-east-1 unless said otherwise:
//! - REST API `demo-orders-api` (tag `team=orders`): stage `prod` writes access logs to
//!   `/demo/apigateway/orders-access` (ARN with `:*`) and execution logs at INFO to
//!   `API-Gateway-Execution-Logs_<id>/prod`; stage `staging` does not log.
//! - REST API `demo-legacy-api`: stage `prod` writes access logs to the Firehose stream
//!   `amazon-apigateway-demo-legacy`, method logging explicitly `OFF`.
//! - HTTP API `demo-payments-http` (tag `team=payments`): stage `$default` writes access logs to
//!   `/demo/apigateway/payments-access` (ARN without `:*`).
//! - WebSocket API `demo-chat-ws`: stage `production`, no logging.
//! - eu-west-1 HTTP API `demo-eu-catalog-http`: stage `$default` writes access logs to
//!   `/demo/apigateway/eu-catalog-access`.
//!
//! Every log group a stage names is created, as AWS would have. Seeding is re-runnable: APIs are
//! found by name, stages by name, and the stage settings are replaced, not appended.

use std::collections::BTreeMap;

use aws_config::SdkConfig;
use aws_sdk_apigateway as v1;
use aws_sdk_apigatewayv2 as v2;

use crate::estate::{Clients, SeedError, create_log_group, seed_err};
use crate::moto_account::moto_client;

/// The access log format of every seeded stage (REST requires `$context.requestId`).
const ACCESS_LOG_FORMAT: &str = r#"{"requestId":"$context.requestId","status":"$context.status","ip":"$context.identity.sourceIp"}"#;

/// API Gateway REST (v1) and HTTP/WebSocket (v2) clients for one account and region.
#[derive(Debug, Clone)]
pub struct ApiGatewayClients {
    /// The account the clients act in.
    pub account: String,
    /// The region of both clients.
    pub region: String,
    /// REST APIs.
    pub v1: v1::Client,
    /// HTTP and WebSocket APIs.
    pub v2: v2::Client,
}

impl ApiGatewayClients {
    /// Clients for `account` in `region`, from an SDK config that points at moto; a non-default
    /// account is reached with moto's `x-moto-account-id` header.
    pub fn new(sdk: &SdkConfig, account: &str, region: &str) -> ApiGatewayClients {
        ApiGatewayClients {
            account: account.to_owned(),
            region: region.to_owned(),
            v1: moto_client!(v1, sdk, account, region),
            v2: moto_client!(v2, sdk, account, region),
        }
    }

    /// The ARN of a log group called `name` here; `wildcard` adds the trailing `:*`.
    pub fn log_group_arn(&self, name: &str, wildcard: bool) -> String {
        let suffix = if wildcard { ":*" } else { "" };
        format!(
            "arn:aws:logs:{}:{}:log-group:{name}{suffix}",
            self.region, self.account
        )
    }

    /// The ARN of a Firehose delivery stream called `name` here.
    pub fn firehose_arn(&self, name: &str) -> String {
        format!(
            "arn:aws:firehose:{}:{}:deliverystream/{name}",
            self.region, self.account
        )
    }

    /// The ARN autosub gives a REST API stage.
    pub fn rest_stage_arn(&self, api_id: &str, stage: &str) -> String {
        format!(
            "arn:aws:apigateway:{}::/restapis/{api_id}/stages/{stage}",
            self.region
        )
    }

    /// The ARN autosub gives an HTTP or WebSocket API stage.
    pub fn http_stage_arn(&self, api_id: &str, stage: &str) -> String {
        format!(
            "arn:aws:apigateway:{}::/apis/{api_id}/stages/{stage}",
            self.region
        )
    }
}

/// A REST API stage's logging, applied with UpdateStage patch operations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RestStageLogging {
    /// Access log destination ARN (log group or Firehose), `None` for no access logs.
    pub access_log_destination: Option<String>,
    /// `*/*` method logging level (`INFO`, `ERROR`, `OFF`), `None` to leave it unset.
    pub execution_level: Option<String>,
    /// Further `replace` patch operations as (path, value), e.g. a format with no destination.
    pub other_settings: Vec<(String, String)>,
}

/// Creates (or finds by name) a REST API with `tags` and a mock `GET /` to deploy; its id.
pub async fn create_rest_api(
    cx: &ApiGatewayClients,
    name: &str,
    tags: &BTreeMap<String, String>,
) -> Result<String, SeedError> {
    let apis = cx
        .v1
        .get_rest_apis()
        .send()
        .await
        .map_err(seed_err("list rest apis", name))?;
    if let Some(id) = apis
        .items()
        .iter()
        .find(|a| a.name() == Some(name))
        .and_then(|a| a.id())
    {
        return Ok(id.to_owned());
    }
    let api = cx
        .v1
        .create_rest_api()
        .name(name)
        .set_tags(Some(tags.clone().into_iter().collect()))
        .send()
        .await
        .map_err(seed_err("create rest api", name))?;
    let id = api
        .id()
        .ok_or_else(|| seed_err("create rest api", name)("the reply has no id"))?
        .to_owned();
    // A deployment needs a method with an integration; a mock GET / is the smallest one.
    let root = api
        .root_resource_id()
        .ok_or_else(|| seed_err("create rest api", name)("the reply has no root resource"))?
        .to_owned();
    cx.v1
        .put_method()
        .rest_api_id(&id)
        .resource_id(&root)
        .http_method("GET")
        .authorization_type("NONE")
        .send()
        .await
        .map_err(seed_err("put method", name))?;
    cx.v1
        .put_integration()
        .rest_api_id(&id)
        .resource_id(&root)
        .http_method("GET")
        .r#type(v1::types::IntegrationType::Mock)
        .send()
        .await
        .map_err(seed_err("put integration", name))?;
    Ok(id)
}

/// Deploys REST API `api_id` to `stage` (unless the stage exists) and sets its logging.
pub async fn create_rest_stage(
    cx: &ApiGatewayClients,
    api_id: &str,
    stage: &str,
    logging: &RestStageLogging,
) -> Result<(), SeedError> {
    let resource = format!("{api_id}/{stage}");
    let stages = cx
        .v1
        .get_stages()
        .rest_api_id(api_id)
        .send()
        .await
        .map_err(seed_err("get stages", &resource))?;
    if !stages.item().iter().any(|s| s.stage_name() == Some(stage)) {
        cx.v1
            .create_deployment()
            .rest_api_id(api_id)
            .stage_name(stage)
            .send()
            .await
            .map_err(seed_err("create deployment", &resource))?;
    }
    let replace = |path: &str, value: &str| {
        v1::types::PatchOperation::builder()
            .op(v1::types::Op::Replace)
            .path(path)
            .value(value)
            .build()
    };
    let mut ops = Vec::new();
    if let Some(destination) = &logging.access_log_destination {
        ops.push(replace("/accessLogSettings/destinationArn", destination));
        ops.push(replace("/accessLogSettings/format", ACCESS_LOG_FORMAT));
    }
    if let Some(level) = &logging.execution_level {
        ops.push(replace("/*/*/logging/loglevel", level));
    }
    for (path, value) in &logging.other_settings {
        ops.push(replace(path, value));
    }
    if ops.is_empty() {
        return Ok(());
    }
    cx.v1
        .update_stage()
        .rest_api_id(api_id)
        .stage_name(stage)
        .set_patch_operations(Some(ops))
        .send()
        .await
        .map_err(seed_err("update stage", &resource))?;
    Ok(())
}

/// Creates (or finds by name) an HTTP API, or a WebSocket API when `websocket`; its id.
pub async fn create_http_api(
    cx: &ApiGatewayClients,
    name: &str,
    websocket: bool,
    tags: &BTreeMap<String, String>,
) -> Result<String, SeedError> {
    let apis = cx
        .v2
        .get_apis()
        .send()
        .await
        .map_err(seed_err("list apis", name))?;
    if let Some(id) = apis
        .items()
        .iter()
        .find(|a| a.name() == Some(name))
        .and_then(|a| a.api_id())
    {
        return Ok(id.to_owned());
    }
    let mut create = cx
        .v2
        .create_api()
        .name(name)
        .set_tags(Some(tags.clone().into_iter().collect()));
    create = if websocket {
        create
            .protocol_type(v2::types::ProtocolType::Websocket)
            .route_selection_expression("$request.body.action")
    } else {
        create.protocol_type(v2::types::ProtocolType::Http)
    };
    let api = create.send().await.map_err(seed_err("create api", name))?;
    api.api_id()
        .map(str::to_owned)
        .ok_or_else(|| seed_err("create api", name)("the reply has no id"))
}

/// Creates stage `stage` of HTTP/WebSocket API `api_id` (unless it exists), with access logs to
/// `access_log_destination`. moto applies access log settings only at create time.
pub async fn create_http_stage(
    cx: &ApiGatewayClients,
    api_id: &str,
    stage: &str,
    access_log_destination: Option<&str>,
) -> Result<(), SeedError> {
    let resource = format!("{api_id}/{stage}");
    let stages = cx
        .v2
        .get_stages()
        .api_id(api_id)
        .send()
        .await
        .map_err(seed_err("get stages", &resource))?;
    if stages.items().iter().any(|s| s.stage_name() == Some(stage)) {
        return Ok(());
    }
    cx.v2
        .create_stage()
        .api_id(api_id)
        .stage_name(stage)
        .auto_deploy(true)
        .set_access_log_settings(access_log_destination.map(|arn| {
            v2::types::AccessLogSettings::builder()
                .destination_arn(arn)
                .format(ACCESS_LOG_FORMAT)
                .build()
        }))
        .send()
        .await
        .map_err(seed_err("create stage", &resource))?;
    Ok(())
}

fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// Seeds the API Gateway slice of the demo estate (see the module docs) for `account` in
/// us-east-1 and eu-west-1, from an SDK config pointing at moto (its region is ignored).
pub async fn seed(sdk: &SdkConfig, account: &str) -> Result<(), SeedError> {
    let us = ApiGatewayClients::new(sdk, account, "us-east-1");
    let us_logs = Clients::new(sdk, account, "us-east-1");
    let eu = ApiGatewayClients::new(sdk, account, "eu-west-1");
    let eu_logs = Clients::new(sdk, account, "eu-west-1");

    // REST: access and execution logs; an unlogged stage.
    let orders = create_rest_api(&us, "demo-orders-api", &tags(&[("team", "orders")])).await?;
    create_log_group(&us_logs, "/demo/apigateway/orders-access").await?;
    create_log_group(
        &us_logs,
        &format!("API-Gateway-Execution-Logs_{orders}/prod"),
    )
    .await?;
    create_rest_stage(
        &us,
        &orders,
        "prod",
        &RestStageLogging {
            access_log_destination: Some(us.log_group_arn("/demo/apigateway/orders-access", true)),
            execution_level: Some("INFO".to_owned()),
            other_settings: Vec::new(),
        },
    )
    .await?;
    create_rest_stage(&us, &orders, "staging", &RestStageLogging::default()).await?;

    // REST: access logs to Firehose (unsubscribable), execution logging explicitly off.
    let legacy = create_rest_api(&us, "demo-legacy-api", &BTreeMap::new()).await?;
    create_rest_stage(
        &us,
        &legacy,
        "prod",
        &RestStageLogging {
            access_log_destination: Some(us.firehose_arn("amazon-apigateway-demo-legacy")),
            execution_level: Some("OFF".to_owned()),
            other_settings: Vec::new(),
        },
    )
    .await?;

    // HTTP: access logs (ARN without `:*`). WebSocket: no logging.
    let payments = create_http_api(
        &us,
        "demo-payments-http",
        false,
        &tags(&[("team", "payments")]),
    )
    .await?;
    create_log_group(&us_logs, "/demo/apigateway/payments-access").await?;
    create_http_stage(
        &us,
        &payments,
        "$default",
        Some(&us.log_group_arn("/demo/apigateway/payments-access", false)),
    )
    .await?;
    let chat = create_http_api(&us, "demo-chat-ws", true, &BTreeMap::new()).await?;
    create_http_stage(&us, &chat, "production", None).await?;

    // eu-west-1: an HTTP API logging to its own region's log group.
    let catalog = create_http_api(&eu, "demo-eu-catalog-http", false, &BTreeMap::new()).await?;
    create_log_group(&eu_logs, "/demo/apigateway/eu-catalog-access").await?;
    create_http_stage(
        &eu,
        &catalog,
        "$default",
        Some(&eu.log_group_arn("/demo/apigateway/eu-catalog-access", true)),
    )
    .await?;
    Ok(())
}
