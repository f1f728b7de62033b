//! The SDK clients of each account and region, built once and cached, each the way every
//! client is built: the account's credentials, retries in their own (service, account, region)
//! partition (throttles free), the timeouts, the paced HTTP client and the call recorder. The
//! capability impls of each service act for a [`Target`]. A leaf of the crate: the services'
//! modules and the factory both use it, neither through the other.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use autosub_core::{AccountId, Region};
use aws_config::SdkConfig;
use aws_sdk_s3::config::retry::{RetryConfig, RetryPartition};
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_smithy_runtime::client::retries::TokenBucket;
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use aws_smithy_runtime_api::client::interceptors::context::InterceptorContext;
use aws_smithy_runtime_api::client::retries::classifiers::{ClassifyRetry, RetryAction};
use aws_types::service_config::ServiceConfigKey;

use crate::calls::CallRecorder;
use crate::pacing::Pacer;
use crate::sdk_error::erased_code;

/// The region STS is asked in when neither the settings nor the environment name one.
pub(crate) const FALLBACK_REGION: &str = "us-east-1";

/// How autosub reaches an account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AccountAccess {
    /// With the credentials as they are.
    Own,
    /// Through a role in the account (STS AssumeRole).
    AssumeRole {
        /// The role's ARN.
        role_arn: String,
        /// The external id the role's trust policy requires.
        external_id: Option<String>,
        /// The session name CloudTrail shows.
        session_name: String,
    },
}

/// One account × region the capability impls act for; calls on a resource in another region
/// (a bucket, a function) get that region's client from the shared cache.
#[derive(Clone, Debug)]
pub(crate) struct Target {
    pub(crate) clients: Arc<Clients>,
    pub(crate) account: AccountId,
    pub(crate) region: Region,
}

pub(crate) type Key = (AccountId, Region);

/// The shared SDK configuration and one client per service, account and region.
#[derive(Debug)]
pub(crate) struct Clients {
    pub(crate) sdk: SdkConfig,
    /// The configuration of each registered account (its credentials); others use `sdk`.
    pub(crate) accounts: Mutex<HashMap<AccountId, (AccountAccess, SdkConfig)>>,
    pub(crate) pacer: Arc<Pacer>,
    /// The SDK's HTTP client behind the pacer.
    pub(crate) http_client: Option<SharedHttpClient>,
    pub(crate) endpoint_url: Option<String>,
    pub(crate) max_attempts: u32,
    pub(crate) s3_path_style: bool,
    pub(crate) home_region: Option<Region>,
    pub(crate) calls: CallRecorder,
    pub(crate) s3: Mutex<HashMap<Key, aws_sdk_s3::Client>>,
    pub(crate) logs: Mutex<HashMap<Key, aws_sdk_cloudwatchlogs::Client>>,
    pub(crate) lambda: Mutex<HashMap<Key, aws_sdk_lambda::Client>>,
    pub(crate) secretsmanager: Mutex<HashMap<Key, aws_sdk_secretsmanager::Client>>,
    pub(crate) sources: SourceClients,
}

/// How long a connection may take to open (TCP + TLS).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a sent request may wait for the first byte of its answer.
pub const READ_TIMEOUT: Duration = Duration::from_secs(60);
/// How long one call may take in all: its attempts, their backoff and the waits for the pacer.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(600);

/// Every client's timeouts: a hung connection or endpoint fails the call (and, through the
/// error, the resource it concerned) instead of stalling the pass.
pub(crate) fn timeout_config() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(READ_TIMEOUT)
        .operation_timeout(OPERATION_TIMEOUT)
        .build()
}

/// Configures an SDK client builder the way every client is built: the account's credentials,
/// the region, retries in the (service, account, region) partition, the paced HTTP client, the
/// pace tagger and the call recorder, and the endpoint override.
macro_rules! configure {
    ($builder:ty, $clients:expr, $partition:literal, $iam:literal, $account:expr, $region:expr) => {{
        let clients: &$crate::clients::Clients = $clients;
        let (account, region): (&autosub_core::AccountId, &autosub_core::Region) =
            ($account, $region);
        let mut config = <$builder>::from(&clients.sdk_for(account))
            .region($crate::clients::sdk_region(region))
            .retry_config(clients.retry_config())
            .timeout_config($crate::clients::timeout_config())
            .retry_partition($crate::clients::partition($partition, account, region))
            .interceptor($crate::pacing::PaceInterceptor {
                pacer: std::sync::Arc::clone(&clients.pacer),
                iam_prefix: $iam,
                account: account.clone(),
                region: region.clone(),
            })
            .interceptor(clients.calls.clone());
        if let Some(http) = &clients.http_client {
            config = config.http_client(http.clone());
        }
        if let Some(url) = &clients.endpoint_url {
            config = config.endpoint_url(url);
        }
        config
    }};
}
pub(crate) use configure;

/// Declares the cached clients of the log-source services and their constructors on [`Clients`].
macro_rules! source_clients {
    ($($field:ident: $sdk:ident, $partition:literal, $iam:literal;)*) => {
        /// One client per log-source service, account and region.
        #[derive(Debug, Default)]
        pub(crate) struct SourceClients {
            $($field: Mutex<HashMap<Key, $sdk::Client>>,)*
        }

        impl Clients {
            $(
                #[doc = concat!("The ", $partition, " client for `account` in `region`.")]
                pub(crate) fn $field(&self, account: &AccountId, region: &Region) -> $sdk::Client {
                    cached(&self.sources.$field, (account.clone(), region.clone()), || {
                        $sdk::Client::from_conf(
                            configure!($sdk::config::Builder, self, $partition, $iam, account, region)
                                .build(),
                        )
                    })
                }
            )*
        }
    };
}

source_clients! {
    cloudfront: aws_sdk_cloudfront, "cloudfront", "cloudfront";
    elb: aws_sdk_elasticloadbalancing, "elb", "elasticloadbalancing";
    elbv2: aws_sdk_elasticloadbalancingv2, "elbv2", "elasticloadbalancing";
    redshift: aws_sdk_redshift, "redshift", "redshift";
    sfn: aws_sdk_sfn, "sfn", "states";
    wafv2: aws_sdk_wafv2, "wafv2", "wafv2";
    apigateway: aws_sdk_apigateway, "apigateway", "apigateway";
    apigatewayv2: aws_sdk_apigatewayv2, "apigatewayv2", "apigateway";
    cloudtrail: aws_sdk_cloudtrail, "cloudtrail", "cloudtrail";
    ec2: aws_sdk_ec2, "ec2", "ec2";
}

impl Clients {
    /// The S3 client for `account` in `region`.
    pub(crate) fn s3(&self, account: &AccountId, region: &Region) -> aws_sdk_s3::Client {
        cached(&self.s3, (account.clone(), region.clone()), || {
            let mut config = configure!(
                aws_sdk_s3::config::Builder,
                self,
                "s3",
                "s3",
                account,
                region
            );
            if self.s3_path_style {
                config = config.force_path_style(true);
            }
            aws_sdk_s3::Client::from_conf(config.build())
        })
    }

    /// The CloudWatch Logs client for `account` in `region`; `LimitExceededException` is final.
    pub(crate) fn logs(
        &self,
        account: &AccountId,
        region: &Region,
    ) -> aws_sdk_cloudwatchlogs::Client {
        cached(&self.logs, (account.clone(), region.clone()), || {
            let config = configure!(
                aws_sdk_cloudwatchlogs::config::Builder,
                self,
                "logs",
                "logs",
                account,
                region
            )
            .retry_classifier(LimitExceededIsFinal);
            aws_sdk_cloudwatchlogs::Client::from_conf(config.build())
        })
    }

    /// The Lambda client for `account` in `region`.
    pub(crate) fn lambda(&self, account: &AccountId, region: &Region) -> aws_sdk_lambda::Client {
        cached(&self.lambda, (account.clone(), region.clone()), || {
            let config = configure!(
                aws_sdk_lambda::config::Builder,
                self,
                "lambda",
                "lambda",
                account,
                region
            );
            aws_sdk_lambda::Client::from_conf(config.build())
        })
    }

    /// The Secrets Manager client for `account`'s credentials in `region`.
    pub(crate) fn secretsmanager(
        &self,
        account: &AccountId,
        region: &Region,
    ) -> aws_sdk_secretsmanager::Client {
        cached(
            &self.secretsmanager,
            (account.clone(), region.clone()),
            || {
                let config = configure!(
                    aws_sdk_secretsmanager::config::Builder,
                    self,
                    "secretsmanager",
                    "secretsmanager",
                    account,
                    region
                );
                aws_sdk_secretsmanager::Client::from_conf(config.build())
            },
        )
    }

    pub(crate) fn retry_config(&self) -> RetryConfig {
        RetryConfig::standard().with_max_attempts(self.max_attempts)
    }

    /// The SDK configuration (credentials) `account` was registered with, else the default.
    pub(crate) fn sdk_for(&self, account: &AccountId) -> SdkConfig {
        self.accounts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(account)
            .map_or(&self.sdk, |(_, sdk)| sdk)
            .clone()
    }

    /// Where account-less calls go (STS, EC2 DescribeRegions): the home region.
    pub(crate) fn sts_region(&self) -> Region {
        self.home_region
            .clone()
            .unwrap_or_else(|| Region::new(FALLBACK_REGION))
    }
}

/// The cache key of clients that act with the credentials as they are (no target account).
pub(crate) fn own_account() -> AccountId {
    AccountId::new("self")
}

/// Retry state (token bucket) is process-wide per partition name; one per service, account and
/// region keeps a throttled account from starving the others.
/// The retry partition of one (service, account, region). Retrying a throttled call costs no
/// retry quota: a throttle means "slower", and the pacer has slowed that API down already, so
/// throttled calls wait their turn (up to `aws.max_attempts`) instead of failing once the
/// quota is spent; other retryable errors spend it as the SDK's standard mode does.
pub(crate) fn partition(service: &str, account: &AccountId, region: &Region) -> RetryPartition {
    RetryPartition::custom(format!("{service}-{account}-{region}"))
        .token_bucket(TokenBucket::builder().throttling_retry_cost(0).build())
        .build()
}

pub(crate) fn sdk_region(region: &Region) -> aws_config::Region {
    aws_config::Region::new(region.as_str().to_owned())
}

pub(crate) fn cached<C: Clone>(
    map: &Mutex<HashMap<Key, C>>,
    key: Key,
    build: impl FnOnce() -> C,
) -> C {
    // Building a client cannot panic half-way through an insert, so a poisoned map is still whole.
    let mut map = map.lock().unwrap_or_else(PoisonError::into_inner);
    map.entry(key).or_insert_with(build).clone()
}

/// The endpoint URL the environment or profile configures for a service, resolved the way the
/// generated `From<&SdkConfig>` of each SDK crate does it.
pub(crate) fn configured_endpoint(sdk: &SdkConfig, service_id: &str) -> Option<String> {
    if sdk.get_origin("endpoint_url").is_client_config() {
        return sdk.endpoint_url().map(str::to_owned);
    }
    let key = ServiceConfigKey::builder()
        .service_id(service_id)
        .env("AWS_ENDPOINT_URL")
        .profile("endpoint_url")
        .build()
        .ok()?;
    sdk.service_config()
        .and_then(|conf| conf.load_config(key))
        .or_else(|| sdk.endpoint_url().map(str::to_owned))
}

/// Forbids retrying `LimitExceededException`: the SDK counts it as a throttle, but on
/// PutSubscriptionFilter it means "no free filter slot", which no retry can fix.
#[derive(Debug)]
pub(crate) struct LimitExceededIsFinal;

impl ClassifyRetry for LimitExceededIsFinal {
    fn classify_retry(&self, ctx: &InterceptorContext) -> RetryAction {
        match ctx.output_or_error() {
            Some(Err(err)) if erased_code(err) == Some("LimitExceededException") => {
                RetryAction::RetryForbidden
            }
            _ => RetryAction::NoActionIndicated,
        }
    }

    fn name(&self) -> &'static str {
        "autosub::LimitExceededIsFinal"
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_cloudwatchlogs::operation::put_subscription_filter::PutSubscriptionFilterError;
    use aws_smithy_runtime_api::client::interceptors::context::{Error, Input};
    use aws_smithy_runtime_api::client::orchestrator::OrchestratorError;
    use aws_smithy_types::error::ErrorMetadata;

    use super::*;

    fn classify(code: &str) -> RetryAction {
        let mut ctx = InterceptorContext::new(Input::doesnt_matter());
        let meta = ErrorMetadata::builder().code(code).build();
        let err = PutSubscriptionFilterError::generic(meta);
        ctx.set_output_or_error(Err(OrchestratorError::operation(Error::erase(err))));
        LimitExceededIsFinal.classify_retry(&ctx)
    }

    #[test]
    fn limit_exceeded_is_never_retried_and_throttles_are_left_alone() {
        assert_eq!(
            classify("LimitExceededException"),
            RetryAction::RetryForbidden
        );
        assert_eq!(
            classify("ThrottlingException"),
            RetryAction::NoActionIndicated
        );
    }
}
