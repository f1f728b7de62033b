//! CloudFront standard (legacy) logging: GetDistributionConfig `Logging` names a bucket, as
//! `name.s3.amazonaws.com`, and a key prefix. CloudFront is global, so this discoverer runs once
//! per account; the bucket may be in any region and the planner routes it to that region's
//! forwarder.
//!
//! The subscribed prefix is the configured one, unchanged: CloudFront writes
//! `<prefix><distribution-id>.<yyyy-mm-dd-hh>.<unique>.gz` with nothing in between, and a
//! per-distribution prefix would only multiply notification entries in a shared log bucket.

use async_trait::async_trait;
use autosub_aws::source_apis::CloudFrontApi;
use autosub_core::{Discovery, Location, Service};

use crate::pipeline::Pipeline;
use crate::{DiscoverCx, Discoverer};

/// Discovers the standard-logging bucket and prefix of every CloudFront distribution.
pub struct CloudFrontDiscoverer;

#[async_trait]
impl Discoverer for CloudFrontDiscoverer {
    fn service(&self) -> Service {
        Service::CloudFront
    }

    async fn discover(&self, cx: &DiscoverCx<'_>) -> Discovery {
        discover_with(
            cx.apis.sources.cloudfront.as_ref(),
            &Pipeline::of(cx, Service::CloudFront),
        )
        .await
    }
}

/// The discovery over any [`CloudFrontApi`].
async fn discover_with(api: &dyn CloudFrontApi, p: &Pipeline<'_>) -> Discovery {
    let distributions = match api.distributions().await {
        Ok(distributions) => distributions,
        Err(e) => return p.gap("distributions", e),
    };
    p.read_each(
        p.by_name(distributions, |d| &d.name, |d| d.arn.clone()),
        |d| format!("distribution {}", d.name),
        |d| async move {
            if !p.admits(&d.name, || api.tags(&d.arn)).await? {
                return Ok(Discovery::default());
            }
            let target = api.logging(&d.name).await?;
            Ok(p.sources(
                &d.arn,
                target.map(|target| Location::S3 {
                    bucket: target.bucket,
                    prefix: target.prefix,
                }),
            ))
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use autosub_aws::apis::AccessLogTarget;
    use autosub_aws::error::AwsError;
    use autosub_aws::source_apis::{Resource, Tags};

    use super::*;
    use crate::testing::{assert_denied_gap, denied, run};

    /// Lists one distribution and refuses to read its configuration, as a role without
    /// `cloudfront:GetDistributionConfig` would.
    struct Denied;

    #[async_trait]
    impl CloudFrontApi for Denied {
        async fn distributions(&self) -> Result<Vec<Resource>, AwsError> {
            Ok(vec![Resource {
                arn: "arn:aws:cloudfront::123456789012:distribution/E1DENIED".into(),
                name: "E1DENIED".into(),
            }])
        }

        async fn logging(&self, _id: &str) -> Result<Option<AccessLogTarget>, AwsError> {
            Err(denied("cloudfront:GetDistributionConfig"))
        }

        async fn tags(&self, _arn: &str) -> Result<Tags, AwsError> {
            Ok(Tags::new())
        }
    }

    #[test]
    fn access_denied_is_a_gap_naming_the_distribution() {
        let found = run(Service::CloudFront, "us-east-1", &Denied, |api, p| {
            Box::pin(discover_with(api, p))
        });
        assert_denied_gap(&found, Service::CloudFront, "E1DENIED");
    }
}
