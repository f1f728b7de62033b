//! Redshift clusters in the demo estate, and the seeders tests use to build their own.
//!
//! The demo slice (see [`seed`]):
//! - us-east-1 `demo-warehouse` (tag `team=data`): audit logs to S3 bucket `demo-redshift-logs`
//!   with no prefix (Redshift writes under `AWSLogs/<account>/redshift/us-east-1/`).
//! - us-east-1 `demo-analytics`: audit logs to CloudWatch, `connectionlog` and `userlog`, i.e. log
//!   groups `/aws/redshift/cluster/demo-analytics/{connectionlog,userlog}` (created).
//! - us-east-1 `demo-scratch`: audit logging off.
//! - eu-west-1 `demo-eu-warehouse`: audit logs to `demo-eu-redshift-logs` under `audit/`.
//!
//! Redshift cannot log to Firehose: there is no such case. Re-runnable: an existing cluster is
//! kept, its logging set again.

use aws_config::SdkConfig;
use aws_sdk_redshift as redshift;
use aws_sdk_redshift::types::{LogDestinationType, Tag};

use crate::estate::{Clients, SeedError, create_bucket, create_log_group, seed_err};
use crate::moto_account::moto_client;

/// A Redshift client for `account` in `region`.
pub fn client(sdk: &SdkConfig, account: &str, region: &str) -> redshift::Client {
    moto_client!(redshift, sdk, account, region)
}

/// Creates a single-node cluster `id` with `tags` (an existing one is kept).
pub async fn create_cluster(
    client: &redshift::Client,
    id: &str,
    tags: &[(&str, &str)],
) -> Result<(), SeedError> {
    let tags: Vec<Tag> = tags
        .iter()
        .map(|(k, v)| Tag::builder().key(*k).value(*v).build())
        .collect();
    let created = client
        .create_cluster()
        .cluster_identifier(id)
        .node_type("ra3.xlplus")
        .cluster_type("single-node")
        .master_username("admin")
        .master_user_password("Demo-password-1")
        .set_tags((!tags.is_empty()).then_some(tags))
        .send()
        .await;
    match created {
        Ok(_) => Ok(()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_cluster_already_exists_fault()) =>
        {
            Ok(())
        }
        Err(e) => Err(seed_err("create cluster", id)(e)),
    }
}

/// Where [`enable_logging`] sends a cluster's audit logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditLogs {
    /// To a bucket and prefix (no destination type sent, as before CloudWatch export existed).
    S3 {
        /// The bucket.
        bucket: String,
        /// The key prefix.
        prefix: String,
    },
    /// To CloudWatch Logs, these log types.
    CloudWatch(Vec<String>),
    /// Enabled with neither bucket nor destination type: half-configured.
    Nowhere,
}

/// EnableLogging for cluster `id`.
pub async fn enable_logging(
    client: &redshift::Client,
    id: &str,
    logs: &AuditLogs,
) -> Result<(), SeedError> {
    let mut call = client.enable_logging().cluster_identifier(id);
    match logs {
        AuditLogs::S3 { bucket, prefix } => {
            call = call.bucket_name(bucket).s3_key_prefix(prefix);
        }
        AuditLogs::CloudWatch(exports) => {
            call = call
                .log_destination_type(LogDestinationType::Cloudwatch)
                .set_log_exports(Some(exports.clone()));
        }
        AuditLogs::Nowhere => {}
    }
    call.send().await.map_err(seed_err("enable logging", id))?;
    Ok(())
}

/// DisableLogging for cluster `id`.
pub async fn disable_logging(client: &redshift::Client, id: &str) -> Result<(), SeedError> {
    client
        .disable_logging()
        .cluster_identifier(id)
        .send()
        .await
        .map_err(seed_err("disable logging", id))?;
    Ok(())
}

/// Adds the Redshift slice described in the module docs.
pub async fn seed(sdk: &SdkConfig, account: &str) -> Result<(), SeedError> {
    let us = Clients::new(sdk, account, "us-east-1");
    let eu = Clients::new(sdk, account, "eu-west-1");
    let us_rs = client(sdk, account, "us-east-1");
    let eu_rs = client(sdk, account, "eu-west-1");

    create_bucket(&us, "demo-redshift-logs").await?;
    create_bucket(&eu, "demo-eu-redshift-logs").await?;

    create_cluster(&us_rs, "demo-warehouse", &[("team", "data")]).await?;
    enable_logging(
        &us_rs,
        "demo-warehouse",
        &AuditLogs::S3 {
            bucket: "demo-redshift-logs".into(),
            prefix: String::new(),
        },
    )
    .await?;

    let exports = ["connectionlog", "userlog"];
    for log_type in exports {
        create_log_group(
            &us,
            &format!("/aws/redshift/cluster/demo-analytics/{log_type}"),
        )
        .await?;
    }
    create_cluster(&us_rs, "demo-analytics", &[]).await?;
    enable_logging(
        &us_rs,
        "demo-analytics",
        &AuditLogs::CloudWatch(exports.iter().map(|s| (*s).to_owned()).collect()),
    )
    .await?;

    create_cluster(&us_rs, "demo-scratch", &[]).await?;
    disable_logging(&us_rs, "demo-scratch").await?;

    create_cluster(&eu_rs, "demo-eu-warehouse", &[]).await?;
    enable_logging(
        &eu_rs,
        "demo-eu-warehouse",
        &AuditLogs::S3 {
            bucket: "demo-eu-redshift-logs".into(),
            prefix: "audit/".into(),
        },
    )
    .await?;
    Ok(())
}
