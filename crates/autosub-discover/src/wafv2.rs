//! WAFv2 web ACLs: ListWebACLs, then GetLoggingConfiguration per ACL (ListLoggingConfigurations is
//! avoided: the per-ACL call is exact everywhere). An ACL logs to one destination:
//! - `arn:aws:s3:::<bucket>[/<prefix>]`: WAF writes under `[<prefix>/]AWSLogs/<account>/WAFLogs/…`
//!   (then `<region>/<acl-name>/…`, region `cloudfront` for CLOUDFRONT ACLs). The source is
//!   narrowed to the account's `WAFLogs/` folder only: the deeper segments are not settled facts,
//!   and two ACLs sharing a bucket collapse to one trigger anyway.
//! - `arn:aws:logs:<region>:<account>:log-group:aws-waf-logs-…`: a log group source.
//! - a Firehose delivery stream: unsubscribable.
//!
//! REGIONAL ACLs are discovered per region; CLOUDFRONT ACLs once per account, in us-east-1.

use async_trait::async_trait;
use autosub_aws::error::{AwsError, ErrorClass};
use autosub_aws::source_apis::{Resource, Tags, WafScope, Wafv2Api};
use autosub_core::selection::ResourceFilter;
use autosub_core::{
    AccountId, BucketName, Discovery, Location, LogSource, Region, Service, Unsubscribable,
    service::global_log_region,
};
use futures::{StreamExt, stream};

use crate::step_functions::{log_group_location, name_filter};
use crate::{DiscoverCx, Discoverer, gap};

/// What Firehose logging needs instead of a trigger.
const FIREHOSE_WHY: &str = "Firehose delivery streams cannot take a subscription trigger; have \
    the stream deliver to S3 and subscribe that bucket, or use Datadog's Firehose destination";

/// Discovers the logging of REGIONAL web ACLs in the target region.
pub struct Wafv2Discoverer;

/// Discovers the logging of CLOUDFRONT web ACLs (global, answered in us-east-1).
pub struct Wafv2CloudFrontDiscoverer;

#[async_trait]
impl Discoverer for Wafv2Discoverer {
    fn service(&self) -> Service {
        Service::Wafv2
    }

    async fn discover(&self, cx: &DiscoverCx<'_>) -> Discovery {
        let filter = cx.filter(Service::Wafv2);
        discover_acls(
            cx.apis.sources.wafv2.as_ref(),
            WafScope::Regional,
            cx.account,
            cx.region,
            &filter,
            cx.concurrency,
        )
        .await
    }
}

#[async_trait]
impl Discoverer for Wafv2CloudFrontDiscoverer {
    fn service(&self) -> Service {
        Service::Wafv2
    }

    async fn discover(&self, cx: &DiscoverCx<'_>) -> Discovery {
        let filter = cx.filter(Service::Wafv2);
        discover_acls(
            cx.apis.sources.wafv2.as_ref(),
            WafScope::CloudFront,
            cx.account,
            &global_log_region(),
            &filter,
            cx.concurrency,
        )
        .await
    }
}

/// Discovers the ACLs of `scope`; `region` is where they (and their log groups) live.
async fn discover_acls(
    api: &dyn Wafv2Api,
    scope: WafScope,
    account: &AccountId,
    region: &Region,
    filter: &ResourceFilter,
    concurrency: usize,
) -> Discovery {
    let label = match scope {
        WafScope::Regional => "REGIONAL web ACLs",
        WafScope::CloudFront => "CLOUDFRONT web ACLs",
    };
    let acls = match api.web_acls(scope).await {
        Ok(acls) => acls,
        Err(e) => {
            return Discovery {
                gaps: vec![gap(Service::Wafv2, format!("{label}: {e}"))],
                ..Discovery::default()
            };
        }
    };
    let by_name = name_filter(filter);
    let found: Vec<Discovery> = stream::iter(
        acls.into_iter()
            .filter(|acl| by_name.admits(&acl.name, &Tags::new())),
    )
    .map(|acl| async move {
        match acl_logs(api, account, region, filter, &acl).await {
            Ok(found) => found,
            Err(e) => Discovery {
                gaps: vec![gap(Service::Wafv2, format!("web ACL {}: {e}", acl.name))],
                ..Discovery::default()
            },
        }
    })
    .buffer_unordered(concurrency.max(1))
    .collect()
    .await;
    let mut all = Discovery::default();
    for one in found {
        all.merge(one);
    }
    all.normalize()
}

async fn acl_logs(
    api: &dyn Wafv2Api,
    account: &AccountId,
    region: &Region,
    filter: &ResourceFilter,
    acl: &Resource,
) -> Result<Discovery, AwsError> {
    let mut found = Discovery::default();
    if filter.needs_tags() {
        let tags = match api.tags(&acl.arn).await {
            Ok(tags) => tags,
            Err(e) if e.class == ErrorClass::NotFound => return Ok(found),
            Err(e) => return Err(e),
        };
        if !filter.admits(&acl.name, &tags) {
            return Ok(found);
        }
    }
    for destination in api.log_destinations(&acl.arn).await? {
        match destination_location(&destination, account, region) {
            Ok(location) => found.sources.push(LogSource {
                service: Service::Wafv2,
                resource_arn: acl.arn.clone(),
                location,
            }),
            Err(why) => found.unsubscribable.push(Unsubscribable {
                service: Service::Wafv2,
                resource_arn: acl.arn.clone(),
                destination,
                why,
            }),
        }
    }
    Ok(found)
}

/// Where a `LogDestinationConfigs` entry sends an ACL's logs, or why it cannot be subscribed.
/// `region` is where the ACL lives (us-east-1 for CLOUDFRONT ACLs).
pub fn destination_location(
    destination: &str,
    account: &AccountId,
    region: &Region,
) -> Result<Location, String> {
    let service = destination.split(':').nth(2).unwrap_or_default();
    match service {
        "s3" => {
            let path = destination
                .splitn(6, ':')
                .nth(5)
                .filter(|p| !p.is_empty())
                .ok_or_else(|| format!("{destination} names no bucket"))?;
            let (bucket, prefix) = path.split_once('/').unwrap_or((path, ""));
            let prefix = prefix.trim_end_matches('/');
            let folder = format!("AWSLogs/{account}/WAFLogs/");
            Ok(Location::S3 {
                bucket: BucketName::new(bucket),
                prefix: if prefix.is_empty() {
                    folder
                } else {
                    format!("{prefix}/{folder}")
                },
            })
        }
        "logs" => log_group_location(destination, account, region),
        "firehose" => Err(FIREHOSE_WHY.to_owned()),
        _ => Err(
            "WAF logs to a destination autosub does not know (expected an S3 bucket, a \
                  log group or a Firehose stream)"
                .to_owned(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACCOUNT: &str = "123456789012";

    fn s3(bucket: &str, prefix: &str) -> Result<Location, String> {
        Ok(Location::S3 {
            bucket: BucketName::new(bucket),
            prefix: prefix.to_owned(),
        })
    }

    #[test]
    fn destinations_map_to_locations_or_reasons() {
        let account = AccountId::new(ACCOUNT);
        let region = Region::new("eu-west-1");
        let cases = [
            (
                "arn:aws:s3:::aws-waf-logs-a",
                s3("aws-waf-logs-a", "AWSLogs/123456789012/WAFLogs/"),
            ),
            (
                "arn:aws:s3:::aws-waf-logs-a/edge",
                s3("aws-waf-logs-a", "edge/AWSLogs/123456789012/WAFLogs/"),
            ),
            (
                "arn:aws:s3:::aws-waf-logs-a/edge/",
                s3("aws-waf-logs-a", "edge/AWSLogs/123456789012/WAFLogs/"),
            ),
            (
                "arn:aws:s3:::aws-waf-logs-a/a/b",
                s3("aws-waf-logs-a", "a/b/AWSLogs/123456789012/WAFLogs/"),
            ),
            (
                "arn:aws:logs:eu-west-1:123456789012:log-group:aws-waf-logs-app",
                Ok(Location::LogGroup {
                    name: "aws-waf-logs-app".into(),
                }),
            ),
            (
                "arn:aws:logs:eu-west-1:123456789012:log-group:aws-waf-logs-app:*",
                Ok(Location::LogGroup {
                    name: "aws-waf-logs-app".into(),
                }),
            ),
        ];
        for (destination, want) in cases {
            assert_eq!(
                destination_location(destination, &account, &region),
                want,
                "{destination}"
            );
        }
        for unsubscribable in [
            "arn:aws:firehose:eu-west-1:123456789012:deliverystream/aws-waf-logs-x",
            "arn:aws:logs:us-east-1:123456789012:log-group:aws-waf-logs-app",
            "arn:aws:s3:::",
            "arn:aws:kinesis:eu-west-1:123456789012:stream/x",
        ] {
            assert!(
                destination_location(unsubscribable, &account, &region).is_err(),
                "{unsubscribable}"
            );
        }
        assert_eq!(
            destination_location(
                "arn:aws:firehose:eu-west-1:1:deliverystream/aws-waf-logs-x",
                &account,
                &region
            ),
            Err(FIREHOSE_WHY.to_owned())
        );
    }

    /// A Wafv2Api with one ACL whose calls fail as told.
    struct FakeWaf {
        listing: Option<AwsError>,
        logging: Result<Vec<String>, AwsError>,
    }

    #[async_trait]
    impl Wafv2Api for FakeWaf {
        async fn web_acls(&self, _scope: WafScope) -> Result<Vec<Resource>, AwsError> {
            match &self.listing {
                Some(e) => Err(e.clone()),
                None => Ok(vec![Resource {
                    arn: format!("arn:aws:wafv2:us-east-1:{ACCOUNT}:regional/webacl/app/1"),
                    name: "app".into(),
                }]),
            }
        }
        async fn log_destinations(&self, _acl_arn: &str) -> Result<Vec<String>, AwsError> {
            self.logging.clone()
        }
        async fn tags(&self, _arn: &str) -> Result<Tags, AwsError> {
            Ok(Tags::new())
        }
    }

    #[test]
    fn access_denied_is_a_gap_and_no_source() {
        let denied = AwsError {
            class: ErrorClass::AccessDenied,
            operation: "wafv2:GetLoggingConfiguration",
            code: Some("AccessDeniedException".into()),
            message: "not authorized".into(),
        };
        for fake in [
            FakeWaf {
                listing: Some(denied.clone()),
                logging: Ok(vec!["arn:aws:s3:::aws-waf-logs-a".into()]),
            },
            FakeWaf {
                listing: None,
                logging: Err(denied),
            },
        ] {
            let found = futures::executor::block_on(discover_acls(
                &fake,
                WafScope::Regional,
                &AccountId::new(ACCOUNT),
                &Region::new("us-east-1"),
                &ResourceFilter::default(),
                2,
            ));
            assert!(found.sources.is_empty(), "{found:?}");
            assert_eq!(found.gaps.len(), 1, "{found:?}");
            assert!(found.gaps[0].detail.contains("access_denied"), "{found:?}");
        }
    }
}
