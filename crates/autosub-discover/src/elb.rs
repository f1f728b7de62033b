//! Classic Load Balancer access logs: DescribeLoadBalancerAttributes `AccessLog` names a bucket
//! (in the load balancer's region) and an optional prefix.
//!
//! Elastic Load Balancing writes `<prefix>/AWSLogs/<account>/elasticloadbalancing/<region>/…`,
//! or `AWSLogs/<account>/…` without a prefix. The subscribed prefix is narrowed to
//! `<prefix>/AWSLogs/<account>/` ([`load_balancer_log_prefix`]) so that the forwarder is not
//! invoked for unrelated objects in a shared bucket — above all with no configured prefix, where
//! the configured prefix alone would be the whole bucket.

use std::collections::BTreeMap;

use async_trait::async_trait;
use autosub_aws::error::ErrorClass;
use autosub_aws::source_apis::{ElbApi, Resource, Tags};
use autosub_core::selection::ResourceFilter;
use autosub_core::{AccountId, Discovery, Location, LogSource, Service};
use futures::{StreamExt, stream};

use crate::{DiscoverCx, Discoverer, gap};

/// Discovers the access-log bucket and prefix of every Classic Load Balancer in the region.
pub struct ElbDiscoverer;

#[async_trait]
impl Discoverer for ElbDiscoverer {
    fn service(&self) -> Service {
        Service::Elb
    }

    async fn discover(&self, cx: &DiscoverCx<'_>) -> Discovery {
        discover_with(
            cx.apis.sources.elb.as_ref(),
            cx.account,
            &cx.filter(Service::Elb),
            cx.concurrency,
        )
        .await
    }
}

/// The key prefix Elastic Load Balancing writes under for `account`, given the configured
/// prefix: `<prefix>/AWSLogs/<account>/`, or `AWSLogs/<account>/` without one. A configured
/// prefix that starts or ends with `/` is kept as it is: how ELB joins it is not documented, and
/// a prefix too wide only costs invocations where one too narrow would lose logs.
pub(crate) fn load_balancer_log_prefix(configured: &str, account: &AccountId) -> String {
    if configured.is_empty() {
        format!("AWSLogs/{account}/")
    } else if configured.starts_with('/') || configured.ends_with('/') {
        configured.to_owned()
    } else {
        format!("{configured}/AWSLogs/{account}/")
    }
}

/// The discovery over any [`ElbApi`].
async fn discover_with(
    api: &dyn ElbApi,
    account: &AccountId,
    filter: &ResourceFilter,
    concurrency: usize,
) -> Discovery {
    let gap_only = |detail: String| Discovery {
        gaps: vec![gap(Service::Elb, detail)],
        ..Discovery::default()
    };
    let lbs = match api.load_balancers().await {
        Ok(lbs) => lbs,
        Err(e) => return gap_only(format!("load balancers: {e}")),
    };
    let tags = if filter.needs_tags() {
        let names: Vec<String> = lbs.iter().map(|lb| lb.name.clone()).collect();
        match api.tags(&names).await {
            Ok(tags) => tags,
            Err(e) => return gap_only(format!("load balancer tags: {e}")),
        }
    } else {
        BTreeMap::new()
    };
    let no_tags = Tags::new();
    let selected: Vec<Resource> = lbs
        .into_iter()
        .filter(|lb| filter.admits(&lb.name, tags.get(&lb.name).unwrap_or(&no_tags)))
        .collect();
    let results: Vec<Result<Option<LogSource>, String>> = stream::iter(selected)
        .map(|lb| async move {
            match api.access_log(&lb.name).await {
                Ok(Some(target)) => Ok(Some(LogSource {
                    service: Service::Elb,
                    resource_arn: lb.arn,
                    location: Location::S3 {
                        bucket: target.bucket,
                        prefix: load_balancer_log_prefix(&target.prefix, account),
                    },
                })),
                Ok(None) => Ok(None),
                // Deleted between the listing and now: nothing to discover.
                Err(e) if e.class == ErrorClass::NotFound => Ok(None),
                Err(e) => Err(format!("load balancer {}: {e}", lb.name)),
            }
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    let mut found = Discovery::default();
    for result in results {
        match result {
            Ok(Some(source)) => found.sources.push(source),
            Ok(None) => {}
            Err(detail) => found.gaps.push(gap(Service::Elb, detail)),
        }
    }
    found.normalize()
}

#[cfg(test)]
mod tests {
    use autosub_aws::apis::AccessLogTarget;
    use autosub_aws::error::AwsError;

    use super::*;

    #[test]
    fn load_balancer_logs_land_under_awslogs_and_the_account() {
        let account = AccountId::new("123456789012");
        let check = |configured: &str, expected: &str| {
            assert_eq!(
                load_balancer_log_prefix(configured, &account),
                expected,
                "{configured:?}"
            );
        };
        check("", "AWSLogs/123456789012/");
        check("web", "web/AWSLogs/123456789012/");
        check("elb/prod", "elb/prod/AWSLogs/123456789012/");
        check("elb/prod/", "elb/prod/");
        check("/elb", "/elb");
    }

    /// Lists one load balancer and refuses to read its attributes.
    struct Denied;

    #[async_trait]
    impl ElbApi for Denied {
        async fn load_balancers(&self) -> Result<Vec<Resource>, AwsError> {
            Ok(vec![Resource {
                arn: "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/denied-lb"
                    .into(),
                name: "denied-lb".into(),
            }])
        }

        async fn access_log(&self, _name: &str) -> Result<Option<AccessLogTarget>, AwsError> {
            Err(AwsError {
                class: ErrorClass::AccessDenied,
                operation: "elasticloadbalancing:DescribeLoadBalancerAttributes",
                code: Some("AccessDenied".into()),
                message: "not authorized".into(),
            })
        }

        async fn tags(&self, _names: &[String]) -> Result<BTreeMap<String, Tags>, AwsError> {
            Ok(BTreeMap::new())
        }
    }

    #[test]
    fn access_denied_is_a_gap_naming_the_load_balancer() {
        let account = AccountId::new("123456789012");
        let found = futures::executor::block_on(discover_with(
            &Denied,
            &account,
            &ResourceFilter::default(),
            4,
        ));
        assert!(found.sources.is_empty());
        assert_eq!(found.gaps.len(), 1);
        assert_eq!(found.gaps[0].service, Service::Elb);
        assert!(
            found.gaps[0].detail.contains("denied-lb"),
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
