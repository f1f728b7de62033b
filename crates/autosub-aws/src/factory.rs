//! Builds SDK clients: credentials, endpoint overrides, retries per account+region partition,
//! and the call recorder on every client.
//!
//! Endpoints follow the AWS conventions, resolved by the SDK itself: `AWS_ENDPOINT_URL_<SERVICE>`
//! beats `AWS_ENDPOINT_URL` beats the profile's `endpoint_url`; an explicit
//! [`AwsSettings::endpoint_url`] beats all of them. With any override in effect for S3, S3 uses
//! path-style addressing (emulators and VPC endpoints on a hostname need it; no env var exists).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use autosub_core::{AccountId, BucketName, Region};
use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_s3::config::retry::{RetryConfig, RetryPartition};
use aws_types::service_config::ServiceConfigKey;

use crate::api_gateway::SdkApiGateway;
use crate::apis::{SecretsApi, TargetApis};
use crate::calls::CallRecorder;
use crate::cloudfront::SdkCloudFront;
use crate::elb::SdkElb;
use crate::elbv2::SdkElbv2;
use crate::endpoints::{AwsService, EndpointOrigin, ServiceEndpoint};
use crate::error::{AwsError, ErrorClass};
use crate::lambda::SdkLambda;
use crate::lease_store::{LeaseTable, SdkLeaseTable};
use crate::ledger_store::{LedgerTable, ObjectStore, SdkLedgerTable, SdkObject};
use crate::logs::{LimitExceededIsFinal, SdkLogs};
use crate::organizations::{OrganizationsApi, SdkOrganizations};
use crate::redshift::SdkRedshift;
use crate::s3::SdkS3;
use crate::sdk_error::aws_error;
use crate::secrets::SdkSecrets;
use crate::source_apis::SourceApis;
use crate::step_functions::SdkStepFunctions;
use crate::wafv2::SdkWafv2;

/// The region STS is asked in when neither the settings nor the environment name one.
const FALLBACK_REGION: &str = "us-east-1";

/// How the factory reaches AWS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AwsSettings {
    /// Endpoint for every service; overrides `AWS_ENDPOINT_URL` and `AWS_ENDPOINT_URL_<SERVICE>`.
    pub endpoint_url: Option<String>,
    /// Attempts per call including the first (standard retry mode); 0 is treated as 1.
    pub max_attempts: u32,
    /// Region for calls that have no target region (STS); default: the SDK's region chain.
    pub region: Option<Region>,
}

impl Default for AwsSettings {
    fn default() -> Self {
        Self {
            endpoint_url: None,
            max_attempts: 3,
            region: None,
        }
    }
}

/// Builds and caches the SDK clients for every (account, region) autosub works in.
#[derive(Clone, Debug)]
pub struct ClientFactory {
    clients: Arc<Clients>,
}

impl ClientFactory {
    /// Loads the default credential chain and region (`aws_config::defaults`) and applies
    /// `settings`.
    pub async fn new(settings: AwsSettings) -> Self {
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if let Some(region) = &settings.region {
            loader = loader.region(aws_config::Region::new(region.as_str().to_owned()));
        }
        Self::from_sdk_config(loader.load().await, settings)
    }

    /// Like [`ClientFactory::new`], on an SDK configuration loaded elsewhere (an in-memory
    /// fake's HTTP client and credentials, in tests and benchmarks).
    pub fn from_sdk_config(sdk: SdkConfig, settings: AwsSettings) -> Self {
        let s3_path_style =
            settings.endpoint_url.is_some() || configured_endpoint(&sdk, "S3").is_some();
        let home_region = settings
            .region
            .clone()
            .or_else(|| sdk.region().map(|r| Region::new(r.as_ref())));
        Self {
            clients: Arc::new(Clients {
                sdk,
                endpoint_url: settings.endpoint_url,
                max_attempts: settings.max_attempts.max(1),
                s3_path_style,
                home_region,
                calls: CallRecorder::new(),
                s3: Mutex::default(),
                logs: Mutex::default(),
                lambda: Mutex::default(),
                secretsmanager: Mutex::default(),
                sources: SourceClients::default(),
            }),
        }
    }

    /// The account the credentials belong to (STS GetCallerIdentity).
    pub async fn caller_account(&self) -> Result<AccountId, AwsError> {
        const OP: &str = "sts:GetCallerIdentity";
        let c = &self.clients;
        let region = c
            .home_region
            .clone()
            .unwrap_or_else(|| Region::new(FALLBACK_REGION));
        let mut config = aws_sdk_sts::config::Builder::from(&c.sdk)
            .region(sdk_region(&region))
            .retry_config(c.retry_config())
            .retry_partition(RetryPartition::new(format!("sts-{region}")))
            .interceptor(c.calls.clone());
        if let Some(url) = &c.endpoint_url {
            config = config.endpoint_url(url);
        }
        let client = aws_sdk_sts::Client::from_conf(config.build());
        let out = client
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| aws_error(OP, e))?;
        out.account().map(AccountId::new).ok_or_else(|| AwsError {
            class: ErrorClass::Fatal,
            operation: OP,
            code: None,
            message: "the reply names no account".to_owned(),
        })
    }

    /// The capabilities for one target (account × region), on cached clients.
    pub fn apis(&self, account: &AccountId, region: &Region) -> TargetApis {
        let target = Target {
            clients: Arc::clone(&self.clients),
            account: account.clone(),
            region: region.clone(),
        };
        TargetApis {
            s3: Arc::new(SdkS3::new(target.clone())),
            logs: Arc::new(SdkLogs::new(&target)),
            lambda: Arc::new(SdkLambda::new(target.clone())),
            sources: SourceApis {
                cloudfront: Arc::new(SdkCloudFront::new(target.clone())),
                elb: Arc::new(SdkElb::new(target.clone())),
                elbv2: Arc::new(SdkElbv2::new(target.clone())),
                redshift: Arc::new(SdkRedshift::new(target.clone())),
                step_functions: Arc::new(SdkStepFunctions::new(target.clone())),
                wafv2: Arc::new(SdkWafv2::new(target.clone())),
                api_gateway: Arc::new(SdkApiGateway::new(target)),
            },
        }
    }

    /// The S3 object `s3://bucket/key`, for the ledger, with the credentials' own account
    /// (reached in the bucket's region, found from `region`).
    pub fn ledger_object(
        &self,
        region: &Region,
        bucket: &BucketName,
        key: &str,
    ) -> Arc<dyn ObjectStore> {
        Arc::new(SdkObject {
            target: Target {
                clients: Arc::clone(&self.clients),
                account: own_account(),
                region: region.clone(),
            },
            bucket: bucket.clone(),
            key: key.to_owned(),
        })
    }

    /// The DynamoDB ledger table `table` in `region`, with the credentials' own account.
    pub fn ledger_table(&self, region: &Region, table: &str) -> Arc<dyn LedgerTable> {
        let c = &self.clients;
        let mut config = aws_sdk_dynamodb::config::Builder::from(&c.sdk)
            .region(sdk_region(region))
            .retry_config(c.retry_config())
            .retry_partition(partition("dynamodb", &own_account(), region))
            .interceptor(c.calls.clone());
        if let Some(url) = &c.endpoint_url {
            config = config.endpoint_url(url);
        }
        Arc::new(SdkLedgerTable {
            client: aws_sdk_dynamodb::Client::from_conf(config.build()),
            table: table.to_owned(),
        })
    }

    /// The DynamoDB lease table `table` in `region`, with the credentials' own account.
    pub fn lease_table(&self, region: &Region, table: &str) -> Arc<dyn LeaseTable> {
        let c = &self.clients;
        let mut config = aws_sdk_dynamodb::config::Builder::from(&c.sdk)
            .region(sdk_region(region))
            .retry_config(c.retry_config())
            .retry_partition(partition("dynamodb", &own_account(), region))
            .interceptor(c.calls.clone());
        if let Some(url) = &c.endpoint_url {
            config = config.endpoint_url(url);
        }
        Arc::new(SdkLeaseTable {
            client: aws_sdk_dynamodb::Client::from_conf(config.build()),
            table: table.to_owned(),
            region: region.to_string(),
        })
    }

    /// AWS Organizations with autosub's own credentials (the management account or a delegated
    /// administrator). A global service: asked in its partition's home region (us-east-1 for
    /// `aws`, chosen from the factory's home region).
    pub fn organizations(&self) -> Arc<dyn OrganizationsApi> {
        let c = &self.clients;
        let region = organizations_region(c.home_region.as_ref());
        let mut config = aws_sdk_organizations::config::Builder::from(&c.sdk)
            .region(sdk_region(&region))
            .retry_config(c.retry_config())
            .retry_partition(partition("organizations", &own_account(), &region))
            .interceptor(c.calls.clone());
        if let Some(url) = &c.endpoint_url {
            config = config.endpoint_url(url);
        }
        Arc::new(SdkOrganizations {
            client: aws_sdk_organizations::Client::from_conf(config.build()),
        })
    }

    /// Secrets Manager with autosub's own credentials (never a target's): each secret is read
    /// in its own region.
    pub fn secrets(&self) -> Arc<dyn SecretsApi> {
        Arc::new(SdkSecrets::new(Target {
            clients: Arc::clone(&self.clients),
            account: own_account(),
            region: self
                .clients
                .home_region
                .clone()
                .unwrap_or_else(|| Region::new(FALLBACK_REGION)),
        }))
    }

    /// The endpoint a client of `service` in `region` sends to, resolved as the SDK resolves
    /// it: `aws.endpoint_url`, then `AWS_ENDPOINT_URL_<SERVICE>` / `AWS_ENDPOINT_URL` / the
    /// profile, then the public endpoint.
    pub fn endpoint(&self, service: AwsService, region: &Region) -> ServiceEndpoint {
        let c = &self.clients;
        let (url, origin) = if let Some(url) = &c.endpoint_url {
            (url.clone(), EndpointOrigin::Config)
        } else if let Some(url) = configured_endpoint(&c.sdk, service.service_id()) {
            (url, EndpointOrigin::Environment)
        } else {
            (service.default_url(region), EndpointOrigin::Default)
        };
        ServiceEndpoint {
            service,
            region: region.clone(),
            url,
            origin,
        }
    }

    /// Counts of every call made through this factory's clients.
    pub fn calls(&self) -> &CallRecorder {
        &self.clients.calls
    }

    /// The region of the credentials' environment (settings, then the SDK's region chain).
    pub fn home_region(&self) -> Option<&Region> {
        self.clients.home_region.as_ref()
    }
}

/// One account × region the capability impls act for; calls on a resource in another region
/// (a bucket, a function) get that region's client from the shared cache.
#[derive(Clone, Debug)]
pub(crate) struct Target {
    pub(crate) clients: Arc<Clients>,
    pub(crate) account: AccountId,
    pub(crate) region: Region,
}

type Key = (AccountId, Region);

/// The shared SDK configuration and one client per service, account and region.
#[derive(Debug)]
pub(crate) struct Clients {
    sdk: SdkConfig,
    endpoint_url: Option<String>,
    max_attempts: u32,
    s3_path_style: bool,
    home_region: Option<Region>,
    calls: CallRecorder,
    s3: Mutex<HashMap<Key, aws_sdk_s3::Client>>,
    logs: Mutex<HashMap<Key, aws_sdk_cloudwatchlogs::Client>>,
    lambda: Mutex<HashMap<Key, aws_sdk_lambda::Client>>,
    secretsmanager: Mutex<HashMap<Key, aws_sdk_secretsmanager::Client>>,
    sources: SourceClients,
}

/// Declares the cached clients of the log-source services and their constructors on [`Clients`];
/// every one gets the same endpoint, retry partition and call recorder as the others.
macro_rules! source_clients {
    ($($field:ident: $sdk:ident, $partition:literal;)*) => {
        /// One client per log-source service, account and region.
        #[derive(Debug, Default)]
        struct SourceClients {
            $($field: Mutex<HashMap<Key, $sdk::Client>>,)*
        }

        impl Clients {
            $(
                #[doc = concat!("The ", $partition, " client for `account` in `region`.")]
                pub(crate) fn $field(&self, account: &AccountId, region: &Region) -> $sdk::Client {
                    cached(&self.sources.$field, (account.clone(), region.clone()), || {
                        let mut config = $sdk::config::Builder::from(&self.sdk)
                            .region(sdk_region(region))
                            .retry_config(self.retry_config())
                            .retry_partition(partition($partition, account, region))
                            .interceptor(self.calls.clone());
                        if let Some(url) = &self.endpoint_url {
                            config = config.endpoint_url(url);
                        }
                        $sdk::Client::from_conf(config.build())
                    })
                }
            )*
        }
    };
}

source_clients! {
    cloudfront: aws_sdk_cloudfront, "cloudfront";
    elb: aws_sdk_elasticloadbalancing, "elb";
    elbv2: aws_sdk_elasticloadbalancingv2, "elbv2";
    redshift: aws_sdk_redshift, "redshift";
    sfn: aws_sdk_sfn, "sfn";
    wafv2: aws_sdk_wafv2, "wafv2";
    apigateway: aws_sdk_apigateway, "apigateway";
    apigatewayv2: aws_sdk_apigatewayv2, "apigatewayv2";
}

impl Clients {
    /// The S3 client for `account` in `region`.
    pub(crate) fn s3(&self, account: &AccountId, region: &Region) -> aws_sdk_s3::Client {
        cached(&self.s3, (account.clone(), region.clone()), || {
            let mut config = aws_sdk_s3::config::Builder::from(&self.sdk)
                .region(sdk_region(region))
                .retry_config(self.retry_config())
                .retry_partition(partition("s3", account, region))
                .interceptor(self.calls.clone());
            if let Some(url) = &self.endpoint_url {
                config = config.endpoint_url(url);
            }
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
            let mut config = aws_sdk_cloudwatchlogs::config::Builder::from(&self.sdk)
                .region(sdk_region(region))
                .retry_config(self.retry_config())
                .retry_partition(partition("logs", account, region))
                .retry_classifier(LimitExceededIsFinal)
                .interceptor(self.calls.clone());
            if let Some(url) = &self.endpoint_url {
                config = config.endpoint_url(url);
            }
            aws_sdk_cloudwatchlogs::Client::from_conf(config.build())
        })
    }

    /// The Lambda client for `account` in `region`.
    pub(crate) fn lambda(&self, account: &AccountId, region: &Region) -> aws_sdk_lambda::Client {
        cached(&self.lambda, (account.clone(), region.clone()), || {
            let mut config = aws_sdk_lambda::config::Builder::from(&self.sdk)
                .region(sdk_region(region))
                .retry_config(self.retry_config())
                .retry_partition(partition("lambda", account, region))
                .interceptor(self.calls.clone());
            if let Some(url) = &self.endpoint_url {
                config = config.endpoint_url(url);
            }
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
                let mut config = aws_sdk_secretsmanager::config::Builder::from(&self.sdk)
                    .region(sdk_region(region))
                    .retry_config(self.retry_config())
                    .retry_partition(partition("secretsmanager", account, region))
                    .interceptor(self.calls.clone());
                if let Some(url) = &self.endpoint_url {
                    config = config.endpoint_url(url);
                }
                aws_sdk_secretsmanager::Client::from_conf(config.build())
            },
        )
    }

    fn retry_config(&self) -> RetryConfig {
        RetryConfig::standard().with_max_attempts(self.max_attempts)
    }
}

/// The cache key of clients that act with the credentials as they are (no target account).
fn own_account() -> AccountId {
    AccountId::new("self")
}

/// Retry state (token bucket) is process-wide per partition name; one per service, account and
/// region keeps a throttled account from starving the others.
fn partition(service: &str, account: &AccountId, region: &Region) -> RetryPartition {
    RetryPartition::new(format!("{service}-{account}-{region}"))
}

/// The region Organizations answers in for the partition of `home` (its one endpoint per
/// partition): `cn-northwest-1` in China, `us-gov-west-1` in GovCloud, else `us-east-1`.
fn organizations_region(home: Option<&Region>) -> Region {
    let home = home.map(Region::as_str).unwrap_or(FALLBACK_REGION);
    Region::new(if home.starts_with("cn-") {
        "cn-northwest-1"
    } else if home.starts_with("us-gov-") {
        "us-gov-west-1"
    } else {
        "us-east-1"
    })
}

fn sdk_region(region: &Region) -> aws_config::Region {
    aws_config::Region::new(region.as_str().to_owned())
}

fn cached<C: Clone>(map: &Mutex<HashMap<Key, C>>, key: Key, build: impl FnOnce() -> C) -> C {
    // Building a client cannot panic half-way through an insert, so a poisoned map is still whole.
    let mut map = map.lock().unwrap_or_else(PoisonError::into_inner);
    map.entry(key).or_insert_with(build).clone()
}

/// The endpoint URL the environment or profile configures for a service, resolved the way the
/// generated `From<&SdkConfig>` of each SDK crate does it.
fn configured_endpoint(sdk: &SdkConfig, service_id: &str) -> Option<String> {
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
