//! [`Elbv2Api`] on the AWS SDK (Application, Network and Gateway Load Balancers).

use std::collections::BTreeMap;

use async_trait::async_trait;

use crate::clients::Target;
use crate::error::AwsError;
use crate::sdk_error::aws_error;
use crate::source_apis::*;

/// DescribeTags takes at most this many resource ARNs.
const TAGS_BATCH: usize = 20;

/// Elbv2Api through the SDK.
pub(crate) struct SdkElbv2 {
    target: Target,
}

impl SdkElbv2 {
    pub(crate) fn new(target: Target) -> Self {
        Self { target }
    }

    fn client(&self) -> aws_sdk_elasticloadbalancingv2::Client {
        self.target
            .clients
            .elbv2(&self.target.account, &self.target.region)
    }
}

#[async_trait]
impl Elbv2Api for SdkElbv2 {
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
            lbs.extend(page.load_balancers().iter().filter_map(|lb| {
                let arn = lb.load_balancer_arn()?;
                Some(Resource {
                    arn: arn.to_owned(),
                    name: lb.load_balancer_name().unwrap_or(arn).to_owned(),
                })
            }));
        }
        Ok(lbs)
    }

    async fn attributes(&self, arn: &str) -> Result<BTreeMap<String, String>, AwsError> {
        let out = self
            .client()
            .describe_load_balancer_attributes()
            .load_balancer_arn(arn)
            .send()
            .await
            .map_err(|e| aws_error("elasticloadbalancing:DescribeLoadBalancerAttributes", e))?;
        Ok(out
            .attributes()
            .iter()
            .filter_map(|a| {
                Some((
                    a.key()?.to_owned(),
                    a.value().unwrap_or_default().to_owned(),
                ))
            })
            .collect())
    }

    async fn tags(&self, arns: &[String]) -> Result<BTreeMap<String, Tags>, AwsError> {
        let mut tags = BTreeMap::new();
        for batch in arns.chunks(TAGS_BATCH) {
            let out = self
                .client()
                .describe_tags()
                .set_resource_arns(Some(batch.to_vec()))
                .send()
                .await
                .map_err(|e| aws_error("elasticloadbalancing:DescribeTags", e))?;
            for description in out.tag_descriptions() {
                let Some(arn) = description.resource_arn() else {
                    continue;
                };
                tags.insert(
                    arn.to_owned(),
                    description
                        .tags()
                        .iter()
                        .filter_map(|t| {
                            Some((
                                t.key()?.to_owned(),
                                t.value().unwrap_or_default().to_owned(),
                            ))
                        })
                        .collect(),
                );
            }
        }
        Ok(tags)
    }
}
