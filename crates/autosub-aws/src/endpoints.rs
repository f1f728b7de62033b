//! The AWS services autosub calls, and the endpoint each of its clients sends to: what
//! `autosub doctor` dials to tell whether a private subnet reaches them (VPC interface endpoints
//! named by `AWS_ENDPOINT_URL_<SERVICE>`, a NAT, or a proxy).

use autosub_core::Region;
pub use autosub_core::service::AwsService;
use serde::Serialize;

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
