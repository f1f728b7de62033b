//! CloudTrail trails in the demo estate, and the seeders tests use to build their own.
//!
//! The demo slice (see [`seed`]), in us-east-1:
//! - `demo-audit-trail` (multi-region, tag `team=security`): to bucket `demo-cloudtrail-logs`
//!   under `audit` (files land under `audit/AWSLogs/<account>/CloudTrail/<region>/…`):
//!   subscribable.
//! - `demo-cw-trail`: to `demo-cloudtrail-logs` under `cw`, and to log group
//!   `/demo/cloudtrail` (created): both subscribable.
//! - `demo-loop-trail`: to `demo-cloudtrail-loop`, recording S3 read data events of that same
//!   bucket: its bucket location is the loop guard's (unsubscribable).
//!
//! moto keeps `CloudWatchLogsLogGroupArn` as given and does not check it, and accepts
//! `IsOrganizationTrail` without an organization (files would still land under the account's
//! folder in AWS' layout for that case; moto writes no files at all). Re-runnable: an existing
//! trail is updated.

use aws_config::SdkConfig;
use aws_sdk_cloudtrail as cloudtrail;
use aws_sdk_cloudtrail::types::{DataResource, EventSelector, ReadWriteType, Tag};

use crate::estate::{Clients, SeedError, create_bucket, create_log_group, seed_err};
use crate::moto_account::moto_client;

/// The bucket the demo's first two trails deliver to.
pub const DEMO_TRAIL_BUCKET: &str = "demo-cloudtrail-logs";
/// The bucket the demo's looping trail delivers to and records reads of.
pub const DEMO_LOOP_BUCKET: &str = "demo-cloudtrail-loop";
/// The log group `demo-cw-trail` also delivers to.
pub const DEMO_TRAIL_LOG_GROUP: &str = "/demo/cloudtrail";

/// A CloudTrail client for `account` in `region`.
pub fn client(sdk: &SdkConfig, account: &str, region: &str) -> cloudtrail::Client {
    moto_client!(cloudtrail, sdk, account, region)
}

/// What [`create_trail`] creates.
#[derive(Debug, Clone, Default)]
pub struct TrailSpec {
    /// The trail name.
    pub name: String,
    /// Its bucket (which must exist).
    pub bucket: String,
    /// Its key prefix, if any.
    pub prefix: Option<String>,
    /// A log group ARN it also delivers to.
    pub log_group_arn: Option<String>,
    /// Multi-region.
    pub multi_region: bool,
    /// An organization trail.
    pub organization: bool,
    /// Tags.
    pub tags: Vec<(String, String)>,
}

impl TrailSpec {
    /// A single-region trail `name` to `bucket`, no prefix.
    pub fn new(name: &str, bucket: &str) -> Self {
        Self {
            name: name.to_owned(),
            bucket: bucket.to_owned(),
            ..Self::default()
        }
    }
}

/// Creates the trail (an existing one is updated to the spec); returns its ARN.
pub async fn create_trail(
    client: &cloudtrail::Client,
    spec: &TrailSpec,
) -> Result<String, SeedError> {
    let tags: Vec<Tag> = spec
        .tags
        .iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect::<Result<_, _>>()
        .map_err(seed_err("build tag", &spec.name))?;
    let created = client
        .create_trail()
        .name(&spec.name)
        .s3_bucket_name(&spec.bucket)
        .set_s3_key_prefix(spec.prefix.clone())
        .set_cloud_watch_logs_log_group_arn(spec.log_group_arn.clone())
        .set_cloud_watch_logs_role_arn(spec.log_group_arn.as_ref().map(|arn| {
            let account = arn.split(':').nth(4).unwrap_or_default();
            format!("arn:aws:iam::{account}:role/demo-cloudtrail-logs")
        }))
        .is_multi_region_trail(spec.multi_region)
        .is_organization_trail(spec.organization)
        .set_tags_list((!tags.is_empty()).then_some(tags))
        .send()
        .await;
    match created {
        Ok(out) => Ok(out.trail_arn().unwrap_or_default().to_owned()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_trail_already_exists_exception()) =>
        {
            let out = client
                .update_trail()
                .name(&spec.name)
                .s3_bucket_name(&spec.bucket)
                .set_s3_key_prefix(spec.prefix.clone())
                .set_cloud_watch_logs_log_group_arn(spec.log_group_arn.clone())
                .is_multi_region_trail(spec.multi_region)
                .is_organization_trail(spec.organization)
                .send()
                .await
                .map_err(seed_err("update trail", &spec.name))?;
            Ok(out.trail_arn().unwrap_or_default().to_owned())
        }
        Err(e) => Err(seed_err("create trail", &spec.name)(e)),
    }
}

/// Has trail `name` record S3 object data events (`read_write`) under each of `object_arns`
/// (`arn:aws:s3:::bucket/` for a bucket, `arn:aws:s3` for every bucket).
pub async fn record_s3_data_events(
    client: &cloudtrail::Client,
    name: &str,
    read_write: ReadWriteType,
    object_arns: &[&str],
) -> Result<(), SeedError> {
    let resource = DataResource::builder()
        .r#type("AWS::S3::Object")
        .set_values(Some(object_arns.iter().map(|a| (*a).to_owned()).collect()))
        .build();
    client
        .put_event_selectors()
        .trail_name(name)
        .event_selectors(
            EventSelector::builder()
                .read_write_type(read_write)
                .include_management_events(true)
                .data_resources(resource)
                .build(),
        )
        .send()
        .await
        .map_err(seed_err("put event selectors", name))?;
    Ok(())
}

/// Seeds the demo slice (see the module docs).
pub async fn seed(sdk: &SdkConfig, account: &str) -> Result<(), SeedError> {
    let region = super::DEMO_REGION;
    let us = Clients::new(sdk, account, region);
    let trails = client(sdk, account, region);
    create_bucket(&us, DEMO_TRAIL_BUCKET).await?;
    create_bucket(&us, DEMO_LOOP_BUCKET).await?;
    create_log_group(&us, DEMO_TRAIL_LOG_GROUP).await?;
    create_trail(
        &trails,
        &TrailSpec {
            prefix: Some("audit".to_owned()),
            multi_region: true,
            tags: vec![("team".to_owned(), "security".to_owned())],
            ..TrailSpec::new("demo-audit-trail", DEMO_TRAIL_BUCKET)
        },
    )
    .await?;
    create_trail(
        &trails,
        &TrailSpec {
            prefix: Some("cw".to_owned()),
            log_group_arn: Some(format!(
                "arn:aws:logs:{region}:{account}:log-group:{DEMO_TRAIL_LOG_GROUP}:*"
            )),
            ..TrailSpec::new("demo-cw-trail", DEMO_TRAIL_BUCKET)
        },
    )
    .await?;
    create_trail(
        &trails,
        &TrailSpec::new("demo-loop-trail", DEMO_LOOP_BUCKET),
    )
    .await?;
    record_s3_data_events(
        &trails,
        "demo-loop-trail",
        ReadWriteType::All,
        &[&format!("arn:aws:s3:::{DEMO_LOOP_BUCKET}/")],
    )
    .await
}
