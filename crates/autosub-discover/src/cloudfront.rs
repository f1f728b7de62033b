//! CloudFront standard (legacy) logging: GetDistributionConfig `Logging` names a bucket, as
//! `name.s3.amazonaws.com`, and a key prefix. CloudFront is global, so this discoverer runs once
//! per account; the bucket may be in any region and the planner routes it to that region's
//! forwarder.
//!
//! The subscribed prefix is the configured one, unchanged: CloudFront writes
//! `<prefix><distribution-id>.<yyyy-mm-dd-hh>.<unique>.gz` with nothing in between, and a
//! per-distribution prefix would only multiply notification entries in a shared log bucket.

use async_trait::async_trait;
use autosub_aws::error::ErrorClass;
use autosub_aws::source_apis::{CloudFrontApi, Resource, Tags};
use autosub_core::selection::ResourceFilter;
use autosub_core::{Discovery, Location, LogSource, Service};
use futures::{StreamExt, stream};

use crate::{DiscoverCx, Discoverer, gap};

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
            &cx.filter(Service::CloudFront),
            cx.concurrency,
        )
        .await
    }
}

/// The discovery over any [`CloudFrontApi`].
async fn discover_with(
    api: &dyn CloudFrontApi,
    filter: &ResourceFilter,
    concurrency: usize,
) -> Discovery {
    let distributions = match api.distributions().await {
        Ok(distributions) => distributions,
        Err(e) => {
            return Discovery {
                gaps: vec![gap(Service::CloudFront, format!("distributions: {e}"))],
                ..Discovery::default()
            };
        }
    };
    let results: Vec<Result<Option<LogSource>, String>> = stream::iter(distributions)
        .filter(|d| std::future::ready(filter.needs_tags() || filter.admits(&d.name, &Tags::new())))
        .map(|d| source_of(api, filter, d))
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    let mut found = Discovery::default();
    for result in results {
        match result {
            Ok(Some(source)) => found.sources.push(source),
            Ok(None) => {}
            Err(detail) => found.gaps.push(gap(Service::CloudFront, detail)),
        }
    }
    found.normalize()
}

async fn source_of(
    api: &dyn CloudFrontApi,
    filter: &ResourceFilter,
    distribution: Resource,
) -> Result<Option<LogSource>, String> {
    let id = &distribution.name;
    if filter.needs_tags() {
        let tags = match api.tags(&distribution.arn).await {
            Ok(tags) => tags,
            // Deleted between the listing and now: nothing to discover.
            Err(e) if e.class == ErrorClass::NotFound => return Ok(None),
            Err(e) => return Err(format!("distribution {id}: {e}")),
        };
        if !filter.admits(id, &tags) {
            return Ok(None);
        }
    }
    match api.logging(id).await {
        Ok(Some(target)) => Ok(Some(LogSource {
            service: Service::CloudFront,
            resource_arn: distribution.arn,
            location: Location::S3 {
                bucket: target.bucket,
                prefix: target.prefix,
            },
        })),
        Ok(None) => Ok(None),
        Err(e) if e.class == ErrorClass::NotFound => Ok(None),
        Err(e) => Err(format!("distribution {id}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use autosub_aws::apis::AccessLogTarget;
    use autosub_aws::error::AwsError;

    use super::*;

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
            Err(AwsError {
                class: ErrorClass::AccessDenied,
                operation: "cloudfront:GetDistributionConfig",
                code: Some("AccessDenied".into()),
                message: "not authorized".into(),
            })
        }

        async fn tags(&self, _arn: &str) -> Result<Tags, AwsError> {
            Ok(Tags::new())
        }
    }

    #[test]
    fn access_denied_is_a_gap_naming_the_distribution() {
        let found =
            futures::executor::block_on(discover_with(&Denied, &ResourceFilter::default(), 4));
        assert!(found.sources.is_empty());
        assert_eq!(found.gaps.len(), 1);
        assert_eq!(found.gaps[0].service, Service::CloudFront);
        assert!(
            found.gaps[0].detail.contains("E1DENIED"),
            "{:?}",
            found.gaps
        );
        assert!(
            found.gaps[0].detail.contains("access_denied"),
            "{:?}",
            found.gaps
        );
    }
}
