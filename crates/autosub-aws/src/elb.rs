//! [`ElbApi`] on the AWS SDK (Classic Load Balancers, the `elasticloadbalancing` 2012-06-01 API).

use std::collections::BTreeMap;

use async_trait::async_trait;
use autosub_core::{BucketName, Partition};

use crate::apis::AccessLogTarget;
use crate::clients::Target;
use crate::error::AwsError;
use crate::sdk_error::aws_error;
use crate::source_apis::*;

/// DescribeTags takes at most this many load balancer names.
const TAGS_BATCH: usize = 20;

/// ElbApi through the SDK.
pub(crate) struct SdkElb {
    target: Target,
}

impl SdkElb {
    pub(crate) fn new(target: Target) -> Self {
        Self { target }
    }

    fn client(&self) -> aws_sdk_elasticloadbalancing::Client {
        self.target
            .clients
            .elb(&self.target.account, &self.target.region)
    }

    /// Classic load balancers have no ARN in the API; this is the one IAM and tagging use.
    fn arn(&self, name: &str) -> String {
        let region = &self.target.region;
        format!(
            "arn:{}:elasticloadbalancing:{region}:{}:loadbalancer/{name}",
            Partition::of(region).as_str(),
            self.target.account
        )
    }
}

#[async_trait]
impl ElbApi for SdkElb {
    async fn load_balancers(&self) -> Result<Vec<Resource>, AwsError> {
        let mut pages = self
            .client()
            .describe_load_balancers()
            .into_paginator()
            .send();
        let mut lbs = Vec::new();
        while let Some(page) = pages.next().await {
            let page =
                page.map_err(|e| aws_error("elasticloadbalancing:DescribeLoadBalancers", e))?;
            lbs.extend(
                page.load_balancer_descriptions()
                    .iter()
                    .filter_map(|lb| lb.load_balancer_name())
                    .map(|name| Resource {
                        arn: self.arn(name),
                        name: name.to_owned(),
                    }),
            );
        }
        Ok(lbs)
    }

    async fn access_log(&self, name: &str) -> Result<Option<AccessLogTarget>, AwsError> {
        let out = self
            .client()
            .describe_load_balancer_attributes()
            .load_balancer_name(name)
            .send()
            .await
            .map_err(|e| aws_error("elasticloadbalancing:DescribeLoadBalancerAttributes", e))?;
        let Some(log) = out.load_balancer_attributes().and_then(|a| a.access_log()) else {
            return Ok(None);
        };
        // Enabled without a bucket delivers nothing (AWS refuses it; emulators may not).
        match log
            .s3_bucket_name()
            .filter(|b| log.enabled() && !b.is_empty())
        {
            Some(bucket) => Ok(Some(AccessLogTarget {
                bucket: BucketName::new(bucket),
                prefix: log.s3_bucket_prefix().unwrap_or_default().to_owned(),
            })),
            None => Ok(None),
        }
    }

    async fn tags(&self, names: &[String]) -> Result<BTreeMap<String, Tags>, AwsError> {
        let mut tags = BTreeMap::new();
        for batch in names.chunks(TAGS_BATCH) {
            let out = self
                .client()
                .describe_tags()
                .set_load_balancer_names(Some(batch.to_vec()))
                .send()
                .await
                .map_err(|e| aws_error("elasticloadbalancing:DescribeTags", e))?;
            for description in out.tag_descriptions() {
                let Some(name) = description.load_balancer_name() else {
                    continue;
                };
                tags.insert(
                    name.to_owned(),
                    description
                        .tags()
                        .iter()
                        .map(|t| (t.key().to_owned(), t.value().unwrap_or_default().to_owned()))
                        .collect(),
                );
            }
        }
        Ok(tags)
    }
}
