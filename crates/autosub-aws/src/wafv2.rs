//! [`Wafv2Api`] on the AWS SDK: ListWebACLs, GetLoggingConfiguration per ACL (ListLoggingConfigurations
//! is not used: one call per ACL is exact on AWS and on emulators alike) and ListTagsForResource.
//! CLOUDFRONT-scope calls go to [`autosub_core::GLOBAL_LOG_REGION`]; calls on an ACL go to the region its ARN names.

use async_trait::async_trait;
use autosub_core::Region;
use autosub_core::service::global_log_region;
use aws_sdk_wafv2::types::Scope;

use crate::clients::Target;
use crate::error::AwsError;
use crate::sdk_error::aws_error;
use crate::source_apis::{Resource, Tags, WafScope, Wafv2Api};

/// The most items WAF returns per page.
const PAGE_LIMIT: i32 = 100;

/// Wafv2Api through the SDK.
pub(crate) struct SdkWafv2 {
    target: Target,
}

impl SdkWafv2 {
    pub(crate) fn new(target: Target) -> Self {
        Self { target }
    }

    fn client(&self, region: &Region) -> aws_sdk_wafv2::Client {
        self.target.clients.wafv2(&self.target.account, region)
    }

    /// The client for calls on one ACL (or other WAF resource): the region in its ARN, which is
    /// us-east-1 for CLOUDFRONT-scope ACLs.
    fn client_for(&self, arn: &str) -> aws_sdk_wafv2::Client {
        match arn_region(arn) {
            Some(region) => self.client(&Region::new(region)),
            None => self.client(&self.target.region),
        }
    }
}

#[async_trait]
impl Wafv2Api for SdkWafv2 {
    async fn web_acls(&self, scope: WafScope) -> Result<Vec<Resource>, AwsError> {
        let (client, sdk_scope) = match scope {
            WafScope::Regional => (self.client(&self.target.region), Scope::Regional),
            // WAF answers CLOUDFRONT-scope calls only in the global services' region.
            WafScope::CloudFront => (self.client(&global_log_region()), Scope::Cloudfront),
        };
        // The SDK has no paginator for WAF's NextMarker.
        let mut acls = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let page = client
                .list_web_acls()
                .scope(sdk_scope.clone())
                .limit(PAGE_LIMIT)
                .set_next_marker(marker.clone())
                .send()
                .await
                .map_err(|e| aws_error("wafv2:ListWebACLs", e))?;
            acls.extend(page.web_acls().iter().filter_map(|acl| {
                Some(Resource {
                    arn: acl.arn()?.to_owned(),
                    name: acl.name()?.to_owned(),
                })
            }));
            // WAF may send a marker with the last page; an empty page or a repeated marker ends it.
            match page.next_marker() {
                Some(next) if !page.web_acls().is_empty() && marker.as_deref() != Some(next) => {
                    marker = Some(next.to_owned());
                }
                _ => break,
            }
        }
        Ok(acls)
    }

    async fn log_destinations(&self, acl_arn: &str) -> Result<Vec<String>, AwsError> {
        let reply = self
            .client_for(acl_arn)
            .get_logging_configuration()
            .resource_arn(acl_arn)
            .send()
            .await;
        match reply {
            Ok(out) => Ok(out
                .logging_configuration()
                .map(|c| c.log_destination_configs().to_vec())
                .unwrap_or_default()),
            // No logging configuration: the ACL does not log.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_waf_nonexistent_item_exception()) =>
            {
                Ok(Vec::new())
            }
            Err(e) => Err(aws_error("wafv2:GetLoggingConfiguration", e)),
        }
    }

    async fn tags(&self, arn: &str) -> Result<Tags, AwsError> {
        let client = self.client_for(arn);
        let mut tags = Tags::new();
        let mut marker: Option<String> = None;
        loop {
            let page = client
                .list_tags_for_resource()
                .resource_arn(arn)
                .limit(PAGE_LIMIT)
                .set_next_marker(marker.clone())
                .send()
                .await
                .map_err(|e| aws_error("wafv2:ListTagsForResource", e))?;
            let list = page
                .tag_info_for_resource()
                .map(|info| info.tag_list())
                .unwrap_or_default();
            tags.extend(
                list.iter()
                    .map(|t| (t.key().to_owned(), t.value().to_owned())),
            );
            match page.next_marker() {
                Some(next) if !list.is_empty() && marker.as_deref() != Some(next) => {
                    marker = Some(next.to_owned());
                }
                _ => break,
            }
        }
        Ok(tags)
    }
}

/// The region field of an ARN, when it has one.
fn arn_region(arn: &str) -> Option<&str> {
    arn.split(':').nth(3).filter(|r| !r.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acl_calls_go_to_the_region_in_the_arn() {
        let cases = [
            (
                "arn:aws:wafv2:eu-west-1:123456789012:regional/webacl/app/1234",
                Some("eu-west-1"),
            ),
            (
                "arn:aws:wafv2:us-east-1:123456789012:global/webacl/site/1234",
                Some("us-east-1"),
            ),
            ("arn:aws:wafv2::123456789012:global/webacl/x/1", None),
            ("not-an-arn", None),
        ];
        for (arn, want) in cases {
            assert_eq!(arn_region(arn), want, "{arn}");
        }
    }
}
