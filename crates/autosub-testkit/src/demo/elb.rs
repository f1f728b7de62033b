//! Classic Load Balancers in the demo estate, and the seeders tests use to build their own.
//!
//! The demo slice (see [`seed`]), in us-east-1:
//! - `demo-legacy-web` (tag `team=web`) writes access logs to `demo-elb-logs` under
//!   `classic/legacy-web` (so under `classic/legacy-web/AWSLogs/<account>/`).
//! - `demo-legacy-api` writes access logs to `demo-elb-logs` with no prefix (so under
//!   `AWSLogs/<account>/`).
//! - `demo-legacy-admin` does not log.
//!
//! Classic Load Balancers only log to S3: there is no Firehose case to seed. Seeding is
//! re-runnable: a load balancer is found by name, its attributes and tags are set again.

use aws_config::SdkConfig;
use aws_sdk_elasticloadbalancing as elb;
use aws_sdk_elasticloadbalancing::types::{AccessLog, Listener, LoadBalancerAttributes, Tag};

use crate::estate::{Clients, SeedError, create_bucket, seed_err};
use crate::moto_account::moto_client;

/// A Classic Load Balancing client for `account` in `region`, from an SDK config on moto.
pub fn elb_client(sdk: &SdkConfig, account: &str, region: &str) -> elb::Client {
    moto_client!(elb, sdk, account, region)
}

/// Creates (or finds) an internet-facing classic load balancer with an HTTP listener in the
/// region's `a` zone, and sets `tags` on it.
pub async fn create_classic_load_balancer(
    client: &elb::Client,
    name: &str,
    tags: &[(&str, &str)],
) -> Result<(), SeedError> {
    let exists = client
        .describe_load_balancers()
        .load_balancer_names(name)
        .send()
        .await
        .is_ok();
    if !exists {
        let region = client
            .config()
            .region()
            .map(|r| r.as_ref().to_owned())
            .unwrap_or_else(|| "us-east-1".to_owned());
        client
            .create_load_balancer()
            .load_balancer_name(name)
            .availability_zones(format!("{region}a"))
            .listeners(
                Listener::builder()
                    .protocol("HTTP")
                    .load_balancer_port(80)
                    .instance_protocol("HTTP")
                    .instance_port(8080)
                    .build()
                    .map_err(seed_err("build listener", name))?,
            )
            .send()
            .await
            .map_err(seed_err("create load balancer", name))?;
    }
    if !tags.is_empty() {
        let tags = tags
            .iter()
            .map(|(k, v)| Tag::builder().key(*k).value(*v).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(seed_err("build tags", name))?;
        client
            .add_tags()
            .load_balancer_names(name)
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(seed_err("tag load balancer", name))?;
    }
    Ok(())
}

/// Sets the `AccessLog` attribute; an empty `bucket` or `prefix` is left out of the request.
pub async fn put_access_log(
    client: &elb::Client,
    name: &str,
    enabled: bool,
    bucket: &str,
    prefix: &str,
) -> Result<(), SeedError> {
    let log = AccessLog::builder()
        .enabled(enabled)
        .emit_interval(5)
        .set_s3_bucket_name((!bucket.is_empty()).then(|| bucket.to_owned()))
        .set_s3_bucket_prefix((!prefix.is_empty()).then(|| prefix.to_owned()))
        .build();
    client
        .modify_load_balancer_attributes()
        .load_balancer_name(name)
        .load_balancer_attributes(LoadBalancerAttributes::builder().access_log(log).build())
        .send()
        .await
        .map_err(seed_err("modify load balancer attributes", name))?;
    Ok(())
}

/// Seeds the Classic Load Balancer slice of the demo estate (see the module docs).
pub async fn seed(sdk: &SdkConfig, account: &str) -> Result<(), SeedError> {
    let us = Clients::new(sdk, account, "us-east-1");
    create_bucket(&us, "demo-elb-logs").await?;
    let client = elb_client(sdk, account, "us-east-1");
    create_classic_load_balancer(&client, "demo-legacy-web", &[("team", "web")]).await?;
    put_access_log(
        &client,
        "demo-legacy-web",
        true,
        "demo-elb-logs",
        "classic/legacy-web",
    )
    .await?;
    create_classic_load_balancer(&client, "demo-legacy-api", &[]).await?;
    put_access_log(&client, "demo-legacy-api", true, "demo-elb-logs", "").await?;
    create_classic_load_balancer(&client, "demo-legacy-admin", &[]).await?;
    Ok(())
}
