//! WAFv2 web ACLs in the demo estate, and the seeders tests use to build their own.
//!
//! The demo slice (see [`seed`]); WAF requires destination names to start with `aws-waf-logs-`,
//! so the demo's own destinations are `aws-waf-logs-demo-…`:
//! - us-east-1 REGIONAL `demo-api-acl` (tag `team=api`): log group `aws-waf-logs-demo-api`
//!   (created).
//! - us-east-1 REGIONAL `demo-admin-acl`: Firehose stream `aws-waf-logs-demo-admin`
//!   (unsubscribable; moto does not check that it exists).
//! - us-east-1 REGIONAL `demo-internal-acl`: no logging.
//! - CLOUDFRONT `demo-site-acl`: S3 bucket `aws-waf-logs-demo-site` (us-east-1) under `edge`.
//! - eu-west-1 REGIONAL `demo-eu-acl`: S3 bucket `aws-waf-logs-demo-eu` (eu-west-1), no prefix.
//!
//! Re-runnable: an ACL of the same name is found and its logging put again.

use aws_config::SdkConfig;
use aws_sdk_wafv2 as wafv2;
use aws_sdk_wafv2::error::ProvideErrorMetadata;
/// The WAF scope (REGIONAL or CLOUDFRONT), re-exported for tests that have no SDK dependency.
pub use aws_sdk_wafv2::types::Scope;
use aws_sdk_wafv2::types::{
    AllowAction, DefaultAction, LoggingConfiguration, Tag, VisibilityConfig,
};

use crate::estate::{Clients, SeedError, create_bucket, create_log_group, seed_err};
use crate::moto_account::moto_client;

/// A WAFv2 client for `account` in `region` (CLOUDFRONT scope: us-east-1).
pub fn client(sdk: &SdkConfig, account: &str, region: &str) -> wafv2::Client {
    moto_client!(wafv2, sdk, account, region)
}

/// Creates a web ACL (an existing one of that name is found); its ARN.
pub async fn create_web_acl(
    client: &wafv2::Client,
    name: &str,
    scope: Scope,
    tags: &[(&str, &str)],
) -> Result<String, SeedError> {
    let visibility = VisibilityConfig::builder()
        .sampled_requests_enabled(false)
        .cloud_watch_metrics_enabled(false)
        .metric_name(name)
        .build()
        .map_err(seed_err("build visibility config", name))?;
    let mut tag_list = Vec::new();
    for (k, v) in tags {
        tag_list.push(
            Tag::builder()
                .key(*k)
                .value(*v)
                .build()
                .map_err(seed_err("build tag", name))?,
        );
    }
    let created = client
        .create_web_acl()
        .name(name)
        .scope(scope.clone())
        .default_action(
            DefaultAction::builder()
                .allow(AllowAction::builder().build())
                .build(),
        )
        .visibility_config(visibility)
        .set_tags((!tag_list.is_empty()).then_some(tag_list))
        .send()
        .await;
    match created {
        Ok(out) => Ok(out
            .summary()
            .and_then(|s| s.arn())
            .unwrap_or_default()
            .to_owned()),
        Err(e)
            // moto answers with the code `WafV2DuplicateItem` instead of AWS's exception name.
            if e.as_service_error().is_some_and(|e| {
                e.is_waf_duplicate_item_exception() || e.code() == Some("WafV2DuplicateItem")
            }) =>
        {
            let out = client
                .list_web_acls()
                .scope(scope)
                .limit(100)
                .send()
                .await
                .map_err(seed_err("list web ACLs", name))?;
            Ok(out
                .web_acls()
                .iter()
                .find(|acl| acl.name() == Some(name))
                .and_then(|acl| acl.arn())
                .unwrap_or_default()
                .to_owned())
        }
        Err(e) => Err(seed_err("create web ACL", name)(e)),
    }
}

/// Sends the ACL's logs to `destination` (an S3 bucket, log group or Firehose ARN).
pub async fn put_logging(
    client: &wafv2::Client,
    acl_arn: &str,
    destination: &str,
) -> Result<(), SeedError> {
    let config = LoggingConfiguration::builder()
        .resource_arn(acl_arn)
        .log_destination_configs(destination)
        .build()
        .map_err(seed_err("build logging configuration", acl_arn))?;
    client
        .put_logging_configuration()
        .logging_configuration(config)
        .send()
        .await
        .map_err(seed_err("put logging configuration", acl_arn))?;
    Ok(())
}

/// Adds the WAFv2 slice described in the module docs.
pub async fn seed(sdk: &SdkConfig, account: &str) -> Result<(), SeedError> {
    let us = Clients::new(sdk, account, "us-east-1");
    let eu = Clients::new(sdk, account, "eu-west-1");
    let us_waf = client(sdk, account, "us-east-1");
    let eu_waf = client(sdk, account, "eu-west-1");

    create_log_group(&us, "aws-waf-logs-demo-api").await?;
    create_bucket(&us, "aws-waf-logs-demo-site").await?;
    create_bucket(&eu, "aws-waf-logs-demo-eu").await?;

    let api = create_web_acl(&us_waf, "demo-api-acl", Scope::Regional, &[("team", "api")]).await?;
    put_logging(&us_waf, &api, &us.log_group_arn("aws-waf-logs-demo-api")).await?;

    let admin = create_web_acl(&us_waf, "demo-admin-acl", Scope::Regional, &[]).await?;
    let firehose =
        format!("arn:aws:firehose:us-east-1:{account}:deliverystream/aws-waf-logs-demo-admin");
    put_logging(&us_waf, &admin, &firehose).await?;

    create_web_acl(&us_waf, "demo-internal-acl", Scope::Regional, &[]).await?;

    let site = create_web_acl(&us_waf, "demo-site-acl", Scope::Cloudfront, &[]).await?;
    put_logging(&us_waf, &site, "arn:aws:s3:::aws-waf-logs-demo-site/edge").await?;

    let eu_acl = create_web_acl(&eu_waf, "demo-eu-acl", Scope::Regional, &[]).await?;
    put_logging(&eu_waf, &eu_acl, "arn:aws:s3:::aws-waf-logs-demo-eu").await?;
    Ok(())
}
