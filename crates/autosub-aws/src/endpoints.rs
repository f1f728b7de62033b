//! The AWS services autosub calls, and the endpoint each of its clients sends to: what
//! `autosub doctor` dials to tell whether a private subnet reaches them (VPC interface endpoints
//! named by `AWS_ENDPOINT_URL_<SERVICE>`, a NAT, or a proxy).

use std::fmt;

use autosub_core::{Partition, Region};
use serde::Serialize;

/// An AWS service an autosub client calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AwsService {
    /// STS (caller identity; assume-role once fleets exist).
    Sts,
    /// Lambda (forwarders' policies, function discovery).
    Lambda,
    /// S3 (buckets, notifications).
    S3,
    /// CloudWatch Logs (log groups, subscription filters).
    Logs,
    /// CloudFront (global).
    CloudFront,
    /// Classic ELB.
    Elb,
    /// ELBv2 (ALB/NLB).
    Elbv2,
    /// Redshift.
    Redshift,
    /// Step Functions.
    StepFunctions,
    /// WAFv2.
    Wafv2,
    /// API Gateway (REST).
    ApiGateway,
    /// API Gateway v2 (HTTP, WebSocket).
    ApiGatewayV2,
    /// Secrets Manager (the Datadog API key).
    SecretsManager,
}

impl AwsService {
    /// The SDK's service id, which names its `AWS_ENDPOINT_URL_<SERVICE>` variable.
    pub fn service_id(self) -> &'static str {
        match self {
            Self::Sts => "STS",
            Self::Lambda => "Lambda",
            Self::S3 => "S3",
            Self::Logs => "CloudWatch Logs",
            Self::CloudFront => "CloudFront",
            Self::Elb => "Elastic Load Balancing",
            Self::Elbv2 => "Elastic Load Balancing v2",
            Self::Redshift => "Redshift",
            Self::StepFunctions => "SFN",
            Self::Wafv2 => "WAFV2",
            Self::ApiGateway => "API Gateway",
            Self::ApiGatewayV2 => "ApiGatewayV2",
            Self::SecretsManager => "Secrets Manager",
        }
    }

    /// The environment variable that overrides this service's endpoint
    /// (`AWS_ENDPOINT_URL_CLOUDWATCH_LOGS`).
    pub fn endpoint_env_var(self) -> String {
        format!(
            "AWS_ENDPOINT_URL_{}",
            self.service_id()
                .to_ascii_uppercase()
                .replace([' ', '-'], "_")
        )
    }

    /// The host-name prefix of the service's public endpoint (`logs`, `states`, …), which is
    /// also the last part of its VPC interface endpoint's service name.
    pub fn endpoint_prefix(self) -> &'static str {
        match self {
            Self::Sts => "sts",
            Self::Lambda => "lambda",
            Self::S3 => "s3",
            Self::Logs => "logs",
            Self::CloudFront => "cloudfront",
            Self::Elb | Self::Elbv2 => "elasticloadbalancing",
            Self::Redshift => "redshift",
            Self::StepFunctions => "states",
            Self::Wafv2 => "wafv2",
            Self::ApiGateway | Self::ApiGatewayV2 => "apigateway",
            Self::SecretsManager => "secretsmanager",
        }
    }

    /// True for services with one endpoint for every region.
    pub fn is_global(self) -> bool {
        matches!(self, Self::CloudFront)
    }

    /// The default (public) endpoint URL in `region`.
    pub fn default_url(self, region: &Region) -> String {
        let suffix = match Partition::of(region) {
            Partition::AwsCn => "amazonaws.com.cn",
            Partition::Aws | Partition::AwsUsGov => "amazonaws.com",
        };
        if self.is_global() {
            format!("https://{}.{suffix}", self.endpoint_prefix())
        } else {
            format!("https://{}.{region}.{suffix}", self.endpoint_prefix())
        }
    }

    /// The VPC interface endpoint service that serves this service in `region`
    /// (`com.amazonaws.<region>.logs`), for the fix of an unreachable endpoint.
    pub fn vpc_endpoint_service(self, region: &Region) -> String {
        format!("com.amazonaws.{region}.{}", self.endpoint_prefix())
    }
}

impl fmt::Display for AwsService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.endpoint_prefix())?;
        if matches!(self, Self::Elbv2 | Self::ApiGatewayV2) {
            f.write_str("-v2")?;
        }
        Ok(())
    }
}

/// The endpoint a client of `service` in `region` sends to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ServiceEndpoint {
    /// The service.
    pub service: AwsService,
    /// The region of the client (for a global service: the region it was asked for).
    pub region: Region,
    /// The URL the client sends to.
    pub url: String,
    /// Where the URL comes from: `aws.endpoint_url`, the environment/profile override, or the
    /// default public endpoint.
    pub origin: EndpointOrigin,
}

/// Where a client's endpoint comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EndpointOrigin {
    /// `aws.endpoint_url` in the configuration.
    Config,
    /// `AWS_ENDPOINT_URL_<SERVICE>`, `AWS_ENDPOINT_URL` or the profile's `endpoint_url`.
    Environment,
    /// The service's public regional endpoint.
    Default,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_vars_and_default_urls_follow_the_sdk() {
        assert_eq!(
            AwsService::Logs.endpoint_env_var(),
            "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS"
        );
        assert_eq!(
            AwsService::Elbv2.endpoint_env_var(),
            "AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2"
        );
        assert_eq!(
            AwsService::SecretsManager.endpoint_env_var(),
            "AWS_ENDPOINT_URL_SECRETS_MANAGER"
        );
        let eu = Region::new("eu-west-1");
        assert_eq!(
            AwsService::StepFunctions.default_url(&eu),
            "https://states.eu-west-1.amazonaws.com"
        );
        assert_eq!(
            AwsService::CloudFront.default_url(&eu),
            "https://cloudfront.amazonaws.com"
        );
        assert_eq!(
            AwsService::Logs.default_url(&Region::new("cn-north-1")),
            "https://logs.cn-north-1.amazonaws.com.cn"
        );
        assert_eq!(
            AwsService::Logs.vpc_endpoint_service(&eu),
            "com.amazonaws.eu-west-1.logs"
        );
    }
}
