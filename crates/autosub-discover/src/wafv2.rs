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
use autosub_aws::source_apis::{WafScope, Wafv2Api};
use autosub_core::{AccountId, Discovery, Location, Region, Service, service::global_log_region};

use crate::destination::{self, arn_service};
use crate::pipeline::Pipeline;
use crate::{DiscoverCx, Discoverer};

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
        discover_acls(
            cx.apis.sources.wafv2.as_ref(),
            WafScope::Regional,
            &Pipeline::of(cx, Service::Wafv2),
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
        let home = global_log_region();
        discover_acls(
            cx.apis.sources.wafv2.as_ref(),
            WafScope::CloudFront,
            &Pipeline::of(cx, Service::Wafv2).in_region(&home),
        )
        .await
    }
}

/// Discovers the ACLs of `scope`; the pipeline's region is where they (and their log groups)
/// live.
async fn discover_acls(api: &dyn Wafv2Api, scope: WafScope, p: &Pipeline<'_>) -> Discovery {
    let label = match scope {
        WafScope::Regional => "REGIONAL web ACLs",
        WafScope::CloudFront => "CLOUDFRONT web ACLs",
    };
    let acls = match api.web_acls(scope).await {
        Ok(acls) => acls,
        Err(e) => return p.gap(label, e),
    };
    p.read_each(
        p.by_name(acls, |acl| &acl.name, |acl| acl.arn.clone()),
        |acl| format!("web ACL {}", acl.name),
        |acl| async move {
            if !p.admits(&acl.name, || api.tags(&acl.arn)).await? {
                return Ok(Discovery::default());
            }
            let destinations = api.log_destinations(&acl.arn).await?;
            Ok(p.destinations(&acl.arn, destinations, |d| {
                destination_location(d, p.account(), p.region())
            }))
        },
    )
    .await
}

/// Where a `LogDestinationConfigs` entry sends an ACL's logs, or why it cannot be subscribed.
/// `region` is where the ACL lives (us-east-1 for CLOUDFRONT ACLs).
pub fn destination_location(
    destination: &str,
    account: &AccountId,
    region: &Region,
) -> Result<Location, String> {
    if arn_service(destination) != Some("s3") {
        return destination::log_group(destination, account, region);
    }
    let (bucket, prefix) = destination::s3_bucket(destination)?;
    let folder = format!("AWSLogs/{account}/WAFLogs/");
    Ok(Location::S3 {
        bucket,
        prefix: if prefix.is_empty() {
            folder
        } else {
            format!("{prefix}/{folder}")
        },
    })
}

#[cfg(test)]
mod tests {
    use autosub_aws::error::AwsError;
    use autosub_aws::source_apis::{Resource, Tags};
    use autosub_core::BucketName;

    use super::*;
    use crate::destination::FIREHOSE_WHY;
    use crate::testing::{ACCOUNT, assert_denied_gap, denied, run};

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
        let denied = denied("wafv2:GetLoggingConfiguration");
        for (fake, naming) in [
            (
                FakeWaf {
                    listing: Some(denied.clone()),
                    logging: Ok(vec!["arn:aws:s3:::aws-waf-logs-a".into()]),
                },
                "REGIONAL web ACLs: ",
            ),
            (
                FakeWaf {
                    listing: None,
                    logging: Err(denied),
                },
                "web ACL app: ",
            ),
        ] {
            let found = run(Service::Wafv2, "us-east-1", &fake, |api, p| {
                Box::pin(discover_acls(api, WafScope::Regional, p))
            });
            assert_denied_gap(&found, Service::Wafv2, naming);
        }
    }
}
