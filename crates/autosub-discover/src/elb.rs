//! Classic Load Balancer access logs: DescribeLoadBalancerAttributes `AccessLog` names a bucket
//! (in the load balancer's region) and an optional prefix.
//!
//! Elastic Load Balancing writes `<prefix>/AWSLogs/<account>/elasticloadbalancing/<region>/…`,
//! or `AWSLogs/<account>/…` without a prefix. The subscribed prefix is narrowed to
//! `<prefix>/AWSLogs/<account>/` ([`load_balancer_log_prefix`]) so that the forwarder is not
//! invoked for unrelated objects in a shared bucket — above all with no configured prefix, where
//! the configured prefix alone would be the whole bucket.

use async_trait::async_trait;
use autosub_aws::source_apis::ElbApi;
use autosub_core::{AccountId, Discovery, Location, Service};

use crate::pipeline::Pipeline;
use crate::{DiscoverCx, Discoverer};

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
            &Pipeline::of(cx, Service::Elb),
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
async fn discover_with(api: &dyn ElbApi, p: &Pipeline<'_>) -> Discovery {
    let lbs = match api.load_balancers().await {
        Ok(lbs) => lbs,
        Err(e) => return p.gap("load balancers", e),
    };
    // DescribeTags takes 20 load balancers a call: one batch read, made only for a tag filter.
    let tags = if p.needs_tags() {
        let names: Vec<String> = lbs.iter().map(|lb| lb.name.clone()).collect();
        match api.tags(&names).await {
            Ok(tags) => tags,
            Err(e) => return p.gap("load balancer tags", e),
        }
    } else {
        Default::default()
    };
    p.read_each(
        lbs.into_iter()
            .filter(|lb| p.selects(&lb.name, &lb.arn, tags.get(&lb.name)))
            .collect(),
        |lb| format!("load balancer {}", lb.name),
        |lb| async move {
            let target = api.access_log(&lb.name).await?;
            Ok(p.sources(
                &lb.arn,
                target.map(|target| Location::S3 {
                    bucket: target.bucket,
                    prefix: load_balancer_log_prefix(&target.prefix, p.account()),
                }),
            ))
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use autosub_aws::apis::AccessLogTarget;
    use autosub_aws::error::AwsError;
    use autosub_aws::source_apis::{Resource, Tags};

    use super::*;
    use crate::testing::{assert_denied_gap, denied, run};

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
            Err(denied(
                "elasticloadbalancing:DescribeLoadBalancerAttributes",
            ))
        }

        async fn tags(&self, _names: &[String]) -> Result<BTreeMap<String, Tags>, AwsError> {
            Ok(BTreeMap::new())
        }
    }

    #[test]
    fn access_denied_is_a_gap_naming_the_load_balancer() {
        let found = run(Service::Elb, "us-east-1", &Denied, |api, p| {
            Box::pin(discover_with(api, p))
        });
        assert_denied_gap(&found, Service::Elb, "denied-lb");
    }
}
