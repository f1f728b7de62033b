//! Application and Network Load Balancer logs: DescribeLoadBalancerAttributes has
//! `access_logs.s3.{enabled,bucket,prefix}` and, on ALBs, `connection_logs.s3.*` — one source
//! each when both are on. Both land under `<prefix>/AWSLogs/<account>/elasticloadbalancing/…`
//! and are narrowed the way Classic Load Balancer logs are
//! ([`crate::elb::load_balancer_log_prefix`]).

use std::collections::BTreeMap;

use async_trait::async_trait;
use autosub_aws::apis::AccessLogTarget;
use autosub_aws::source_apis::Elbv2Api;
use autosub_core::{BucketName, Discovery, Location, Service};

use crate::elb::load_balancer_log_prefix;
use crate::pipeline::Pipeline;
use crate::{DiscoverCx, Discoverer};

/// The attribute families that deliver to S3 under the ELB key layout.
const LOG_KINDS: [&str; 2] = ["access_logs", "connection_logs"];

/// Discovers the access- and connection-log buckets of every ALB/NLB in the region.
pub struct Elbv2Discoverer;

#[async_trait]
impl Discoverer for Elbv2Discoverer {
    fn service(&self) -> Service {
        Service::Elbv2
    }

    async fn discover(&self, cx: &DiscoverCx<'_>) -> Discovery {
        discover_with(
            cx.apis.sources.elbv2.as_ref(),
            &Pipeline::of(cx, Service::Elbv2),
        )
        .await
    }
}

/// The configured S3 log targets in a load balancer's attributes: each kind whose
/// `<kind>.s3.enabled` is `true` and that names a bucket (enabled without a bucket delivers
/// nothing).
pub(crate) fn log_targets(attributes: &BTreeMap<String, String>) -> Vec<AccessLogTarget> {
    LOG_KINDS
        .iter()
        .filter_map(|kind| {
            let get = |field: &str| attributes.get(&format!("{kind}.s3.{field}"));
            let enabled = get("enabled").is_some_and(|v| v.eq_ignore_ascii_case("true"));
            let bucket = get("bucket").filter(|b| !b.is_empty())?;
            enabled.then(|| AccessLogTarget {
                bucket: BucketName::new(bucket.as_str()),
                prefix: get("prefix").cloned().unwrap_or_default(),
            })
        })
        .collect()
}

/// The discovery over any [`Elbv2Api`].
async fn discover_with(api: &dyn Elbv2Api, p: &Pipeline<'_>) -> Discovery {
    let lbs = match api.load_balancers().await {
        Ok(lbs) => lbs,
        Err(e) => return p.gap("load balancers", e),
    };
    // DescribeTags takes 20 load balancers a call: one batch read, made only for a tag filter.
    let tags = if p.needs_tags() {
        let arns: Vec<String> = lbs.iter().map(|lb| lb.arn.clone()).collect();
        match api.tags(&arns).await {
            Ok(tags) => tags,
            Err(e) => return p.gap("load balancer tags", e),
        }
    } else {
        BTreeMap::new()
    };
    p.read_each(
        lbs.into_iter()
            .filter(|lb| p.selects(&lb.name, &lb.arn, tags.get(&lb.arn)))
            .collect(),
        |lb| format!("load balancer {}", lb.name),
        |lb| async move {
            let attributes = api.attributes(&lb.arn).await?;
            Ok(p.sources(
                &lb.arn,
                log_targets(&attributes)
                    .into_iter()
                    .map(|target| Location::S3 {
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
    use autosub_aws::error::AwsError;
    use autosub_aws::source_apis::{Resource, Tags};

    use super::*;
    use crate::testing::{assert_denied_gap, denied, run};

    fn attrs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn target(bucket: &str, prefix: &str) -> AccessLogTarget {
        AccessLogTarget {
            bucket: BucketName::new(bucket),
            prefix: prefix.to_owned(),
        }
    }

    fn check(input: &[(&str, &str)], expected: &[AccessLogTarget]) {
        assert_eq!(log_targets(&attrs(input)), expected, "{input:?}");
    }

    #[test]
    fn attributes_map_to_their_log_targets() {
        check(&[], &[]);
        check(
            &[
                ("access_logs.s3.enabled", "false"),
                ("access_logs.s3.bucket", "logs"),
                ("access_logs.s3.prefix", "web"),
            ],
            &[],
        );
        check(
            &[
                ("access_logs.s3.enabled", "true"),
                ("access_logs.s3.bucket", "logs"),
                ("access_logs.s3.prefix", "web"),
            ],
            &[target("logs", "web")],
        );
        // Enabled without a bucket delivers nothing; a missing prefix is the bucket root.
        check(
            &[
                ("access_logs.s3.enabled", "true"),
                ("access_logs.s3.bucket", ""),
                ("connection_logs.s3.enabled", "true"),
                ("connection_logs.s3.bucket", "conn"),
            ],
            &[target("conn", "")],
        );
        check(
            &[
                ("access_logs.s3.enabled", "true"),
                ("access_logs.s3.bucket", "logs"),
                ("access_logs.s3.prefix", "access"),
                ("connection_logs.s3.enabled", "true"),
                ("connection_logs.s3.bucket", "logs"),
                ("connection_logs.s3.prefix", "conn"),
                ("deletion_protection.enabled", "true"),
            ],
            &[target("logs", "access"), target("logs", "conn")],
        );
    }

    /// Lists one load balancer and refuses to read its attributes.
    struct Denied;

    #[async_trait]
    impl Elbv2Api for Denied {
        async fn load_balancers(&self) -> Result<Vec<Resource>, AwsError> {
            Ok(vec![Resource {
                arn: "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/denied-alb/0123456789abcdef".into(),
                name: "denied-alb".into(),
            }])
        }

        async fn attributes(&self, _arn: &str) -> Result<BTreeMap<String, String>, AwsError> {
            Err(denied(
                "elasticloadbalancing:DescribeLoadBalancerAttributes",
            ))
        }

        async fn tags(&self, _arns: &[String]) -> Result<BTreeMap<String, Tags>, AwsError> {
            Ok(BTreeMap::new())
        }
    }

    #[test]
    fn access_denied_is_a_gap_naming_the_load_balancer() {
        let found = run(Service::Elbv2, "us-east-1", &Denied, |api, p| {
            Box::pin(discover_with(api, p))
        });
        assert_denied_gap(&found, Service::Elbv2, "denied-alb");
    }
}
