//! [`CloudTrailApi`] on the AWS SDK: DescribeTrails (home-region trails only) and
//! GetEventSelectors, through the reads [`crate::trails`] shares with `autosub doctor`.

use std::collections::BTreeMap;

use async_trait::async_trait;
use autosub_core::BucketName;
use aws_sdk_cloudtrail::types::ReadWriteType;

use crate::apis::AccessLogTarget;
use crate::clients::Target;
use crate::error::AwsError;
use crate::sdk_error::aws_error;
use crate::source_apis::{
    BasicDataSelector, CloudTrailApi, EventSelectors, Resource, Tags, TrailDelivery,
};
use crate::trails::{advanced_fields, describe_trails, get_event_selectors};

/// The most ARNs ListTags takes in one call.
const TAGS_PER_CALL: usize = 20;

/// The data resource type of S3 object-level events in basic event selectors.
const S3_OBJECT: &str = "AWS::S3::Object";

/// CloudTrailApi through the SDK, in the target's region.
pub(crate) struct SdkCloudTrail {
    target: Target,
}

impl SdkCloudTrail {
    pub(crate) fn new(target: Target) -> Self {
        Self { target }
    }

    fn client(&self) -> aws_sdk_cloudtrail::Client {
        self.target
            .clients
            .cloudtrail(&self.target.account, &self.target.region)
    }
}

#[async_trait]
impl CloudTrailApi for SdkCloudTrail {
    async fn trails(&self) -> Result<Vec<TrailDelivery>, AwsError> {
        let mut trails: Vec<TrailDelivery> = describe_trails(&self.client(), false)
            .await?
            .iter()
            .filter_map(|t| {
                let arn = t.trail_arn()?.to_owned();
                let non_empty = |s: Option<&str>| s.filter(|s| !s.is_empty()).map(str::to_owned);
                Some(TrailDelivery {
                    resource: Resource {
                        name: t.name().unwrap_or_default().to_owned(),
                        arn,
                    },
                    bucket: non_empty(t.s3_bucket_name()).map(|bucket| AccessLogTarget {
                        bucket: BucketName::new(bucket),
                        prefix: t.s3_key_prefix().unwrap_or_default().to_owned(),
                    }),
                    log_group_arn: non_empty(t.cloud_watch_logs_log_group_arn()),
                    organization: t.is_organization_trail().unwrap_or(false),
                })
            })
            .collect();
        trails.sort_by(|a, b| a.resource.cmp(&b.resource));
        Ok(trails)
    }

    async fn event_selectors(&self, arn: &str) -> Result<EventSelectors, AwsError> {
        let out = get_event_selectors(&self.client(), arn).await?;
        if !out.advanced_event_selectors().is_empty() {
            return Ok(EventSelectors::Advanced(advanced_fields(&out)));
        }
        Ok(EventSelectors::Basic(
            out.event_selectors()
                .iter()
                .map(|s| BasicDataSelector {
                    read_write: s
                        .read_write_type()
                        .map(ReadWriteType::as_str)
                        .map(str::to_owned),
                    s3_objects: s
                        .data_resources()
                        .iter()
                        .filter(|r| r.r#type() == Some(S3_OBJECT))
                        .flat_map(|r| r.values().iter().cloned())
                        .collect(),
                })
                .collect(),
        ))
    }

    async fn tags(&self, arns: &[String]) -> Result<BTreeMap<String, Tags>, AwsError> {
        let mut all = BTreeMap::new();
        for chunk in arns.chunks(TAGS_PER_CALL) {
            let mut pages = self
                .client()
                .list_tags()
                .set_resource_id_list(Some(chunk.to_vec()))
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| aws_error("cloudtrail:ListTags", e))?;
                for tagged in page.resource_tag_list() {
                    let Some(arn) = tagged.resource_id() else {
                        continue;
                    };
                    let tags: &mut Tags = all.entry(arn.to_owned()).or_default();
                    tags.extend(
                        tagged.tags_list().iter().map(|t| {
                            (t.key().to_owned(), t.value().unwrap_or_default().to_owned())
                        }),
                    );
                }
            }
        }
        Ok(all)
    }
}
