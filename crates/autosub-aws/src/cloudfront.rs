//! [`CloudFrontApi`] on the AWS SDK. CloudFront is global: every call goes to
//! [`autosub_core::GLOBAL_LOG_REGION`], whatever the target region.

use async_trait::async_trait;
use autosub_core::BucketName;
use autosub_core::service::global_log_region;

use crate::apis::AccessLogTarget;
use crate::clients::Target;
use crate::error::{AwsError, ErrorClass};
use crate::sdk_error::aws_error;
use crate::source_apis::*;

/// CloudFrontApi through the SDK.
pub(crate) struct SdkCloudFront {
    target: Target,
}

impl SdkCloudFront {
    pub(crate) fn new(target: Target) -> Self {
        Self { target }
    }

    fn client(&self) -> aws_sdk_cloudfront::Client {
        self.target
            .clients
            .cloudfront(&self.target.account, &global_log_region())
    }
}

#[async_trait]
impl CloudFrontApi for SdkCloudFront {
    async fn distributions(&self) -> Result<Vec<Resource>, AwsError> {
        let mut pages = self.client().list_distributions().into_paginator().send();
        let mut distributions = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| aws_error("cloudfront:ListDistributions", e))?;
            let items = page.distribution_list().map(|l| l.items()).unwrap_or(&[]);
            distributions.extend(items.iter().map(|d| Resource {
                arn: d.arn().to_owned(),
                name: d.id().to_owned(),
            }));
        }
        Ok(distributions)
    }

    async fn logging(&self, distribution_id: &str) -> Result<Option<AccessLogTarget>, AwsError> {
        const OP: &str = "cloudfront:GetDistributionConfig";
        let out = self
            .client()
            .get_distribution_config()
            .id(distribution_id)
            .send()
            .await
            .map_err(|e| aws_error(OP, e))?;
        let Some(logging) = out.distribution_config().and_then(|c| c.logging()) else {
            return Ok(None);
        };
        // Enabled without a bucket delivers nothing (AWS refuses it; emulators may not).
        if !logging.enabled() || logging.bucket().is_empty() {
            return Ok(None);
        }
        match bucket_of_domain(logging.bucket()) {
            Some(bucket) => Ok(Some(AccessLogTarget {
                bucket,
                prefix: logging.prefix().to_owned(),
            })),
            None => Err(AwsError {
                class: ErrorClass::Fatal,
                operation: OP,
                code: None,
                message: format!(
                    "logging bucket {:?} is not an S3 bucket domain",
                    logging.bucket()
                ),
            }),
        }
    }

    async fn tags(&self, arn: &str) -> Result<Tags, AwsError> {
        let out = self
            .client()
            .list_tags_for_resource()
            .resource(arn)
            .send()
            .await
            .map_err(|e| aws_error("cloudfront:ListTagsForResource", e))?;
        Ok(out
            .tags()
            .map(|t| t.items())
            .unwrap_or(&[])
            .iter()
            .map(|t| (t.key().to_owned(), t.value().unwrap_or_default().to_owned()))
            .collect())
    }
}

/// The bucket name in CloudFront's logging bucket domain: `name.s3.amazonaws.com`, or the
/// regional forms `name.s3.<region>.amazonaws.com`, `name.s3-<region>.amazonaws.com` and
/// `name.s3.dualstack.<region>.amazonaws.com` (`.amazonaws.com.cn` in China). Bucket names may
/// themselves contain `.s3`, so the last `.s3` label is the service's.
pub(crate) fn bucket_of_domain(domain: &str) -> Option<BucketName> {
    let host = domain.trim_end_matches('.').to_ascii_lowercase();
    let host = host
        .strip_suffix(".amazonaws.com")
        .or_else(|| host.strip_suffix(".amazonaws.com.cn"))?;
    let bucket = match host.strip_suffix(".s3") {
        Some(bucket) => bucket,
        None => {
            let at = host.rfind(".s3.").max(host.rfind(".s3-"))?;
            let region = &host[at + 4..];
            let region_like = !region.is_empty()
                && region
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
            if !region_like {
                return None;
            }
            &host[..at]
        }
    };
    (!bucket.is_empty()).then(|| BucketName::new(bucket))
}

#[cfg(test)]
mod tests {
    use super::bucket_of_domain;

    #[test]
    fn bucket_domains_map_to_bucket_names() {
        let cases = [
            ("demo-cdn-logs.s3.amazonaws.com", Some("demo-cdn-logs")),
            (
                "demo-cdn-logs.s3.eu-west-1.amazonaws.com",
                Some("demo-cdn-logs"),
            ),
            (
                "demo-cdn-logs.s3-eu-west-1.amazonaws.com",
                Some("demo-cdn-logs"),
            ),
            ("logs.s3.dualstack.us-west-2.amazonaws.com", Some("logs")),
            ("cn-logs.s3.cn-north-1.amazonaws.com.cn", Some("cn-logs")),
            ("my.s3.logs.s3.amazonaws.com", Some("my.s3.logs")),
            ("my.s3-x.s3.eu-west-1.amazonaws.com", Some("my.s3-x")),
            ("Upper.S3.amazonaws.com.", Some("upper")),
            ("demo-cdn-logs", None),
            ("demo-cdn-logs.example.com", None),
            (".s3.amazonaws.com", None),
            ("s3.amazonaws.com", None),
        ];
        for (domain, expected) in cases {
            assert_eq!(
                bucket_of_domain(domain).as_ref().map(|b| b.as_str()),
                expected,
                "{domain}"
            );
        }
    }
}
