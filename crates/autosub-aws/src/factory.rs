//! Builds SDK clients: credentials (the default chain, or a role assumed per account),
//! endpoint overrides, retries per account+region partition, pacing, and the call recorder on
//! every client.
//!
//! Endpoints follow the AWS conventions, resolved by the SDK itself: `AWS_ENDPOINT_URL_<SERVICE>`
//! beats `AWS_ENDPOINT_URL` beats the profile's `endpoint_url`; an explicit
//! [`AwsSettings::endpoint_url`] beats all of them. With any override in effect for S3, S3 uses
//! path-style addressing (emulators and VPC endpoints on a hostname need it; no env var exists).

use std::sync::{Arc, Mutex, PoisonError};

use autosub_core::{AccountId, BucketName, Region};
use aws_config::sts::AssumeRoleProvider;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_runtime_api::client::http::SharedHttpClient;

use crate::api_gateway::SdkApiGateway;
use crate::apis::{SecretsApi, TargetApis};
use crate::calls::CallRecorder;
pub use crate::clients::{AccountAccess, CONNECT_TIMEOUT, OPERATION_TIMEOUT, READ_TIMEOUT};
use crate::clients::{
    Clients, FALLBACK_REGION, SourceClients, Target, configure, configured_endpoint, own_account,
    sdk_region,
};
use crate::cloudfront::SdkCloudFront;
use crate::cloudtrail::SdkCloudTrail;
use crate::elb::SdkElb;
use crate::elbv2::SdkElbv2;
use crate::endpoints::{AwsService, EndpointOrigin, ServiceEndpoint};
use crate::error::{AwsError, ErrorClass};
use crate::event_rules::{EventRulesApi, SdkEventRules};
use crate::lambda::SdkLambda;
use crate::lease_store::{LeaseTable, SdkLeaseTable};
use crate::ledger_store::{LedgerTable, ObjectStore, SdkLedgerTable, SdkObject};
use crate::logs::SdkLogs;
use crate::organizations::{OrganizationsApi, SdkOrganizations};
use crate::pacing::{PacedHttpClient, Pacer, Rates};
use crate::queue::{QueueApi, SdkQueue};
use crate::queue_attributes::{QueueAttributesApi, SdkQueueAttributes};
use crate::redshift::SdkRedshift;
use crate::s3::SdkS3;
use crate::sdk_error::aws_error;
use crate::secrets::SdkSecrets;
use crate::source_apis::SourceApis;
use crate::step_functions::SdkStepFunctions;
use crate::trails::{SdkTrails, TrailsApi};
use crate::vpc_flow_logs::SdkFlowLogs;
use crate::wafv2::SdkWafv2;

/// How the factory reaches AWS.
#[derive(Clone, Debug, PartialEq)]
pub struct AwsSettings {
    /// Endpoint for every service; overrides `AWS_ENDPOINT_URL` and `AWS_ENDPOINT_URL_<SERVICE>`.
    pub endpoint_url: Option<String>,
    /// Attempts per call including the first (standard retry mode); 0 is treated as 1.
    pub max_attempts: u32,
    /// Region for calls that have no target region (STS); default: the SDK's region chain.
    pub region: Option<Region>,
    /// Calls per second per (account, region, API).
    pub rates: Rates,
}

impl Default for AwsSettings {
    fn default() -> Self {
        Self {
            endpoint_url: None,
            max_attempts: 10,
            region: None,
            rates: Rates::default(),
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
        // One identity cache for every client, so each account's role is assumed once and
        // refreshed before expiry, not once per client.
        let cache = sdk.identity_cache().is_none();
        let mut sdk = sdk.into_builder();
        if cache {
            sdk.set_identity_cache(Some(aws_config::identity::IdentityCache::lazy().build()));
        }
        // Every call's User-Agent ends in `app/autosub`, which CloudTrail records: event-driven
        // mode ignores the events of autosub's own writes by it.
        let app = aws_config::AppName::new(autosub_core::cloudtrail::OWN_APP_NAME)
            .expect("a valid app name");
        let sdk = sdk.app_name(app).build();
        let s3_path_style =
            settings.endpoint_url.is_some() || configured_endpoint(&sdk, "S3").is_some();
        let home_region = settings
            .region
            .clone()
            .or_else(|| sdk.region().map(|r| Region::new(r.as_ref())));
        let pacer = Arc::new(Pacer::new(settings.rates));
        let http_client = sdk.http_client().map(|inner| {
            SharedHttpClient::new(PacedHttpClient {
                inner,
                pacer: Arc::clone(&pacer),
            })
        });
        Self {
            clients: Arc::new(Clients {
                sdk,
                accounts: Mutex::default(),
                pacer,
                http_client,
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
        self.caller_account_of(&own_account()).await
    }

    /// Acts in `account` through `access` from now on: every client for the account uses those
    /// credentials. A role is assumed on first use; the SDK's identity cache (shared by all of
    /// the account's clients) keeps its credentials and refreshes them before they expire.
    /// Registering the same access again (every scheduled run does) keeps the cached
    /// credentials, which the account's cached clients already hold.
    pub async fn register_account(&self, account: &AccountId, access: &AccountAccess) {
        let c = &self.clients;
        if c.accounts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(account)
            .is_some_and(|(registered, _)| registered == access)
        {
            return;
        }
        let sdk = match access {
            AccountAccess::Own => c.sdk.clone(),
            AccountAccess::AssumeRole {
                role_arn,
                external_id,
                session_name,
            } => {
                let mut base = c.sdk.to_builder();
                if let Some(url) = &c.endpoint_url {
                    base.set_endpoint_url(Some(url.clone()));
                }
                let mut role = AssumeRoleProvider::builder(role_arn)
                    .session_name(session_name)
                    .region(sdk_region(&c.sts_region()))
                    .configure(&base.build());
                if let Some(id) = external_id {
                    role = role.external_id(id);
                }
                let provider = role.build().await;
                c.sdk
                    .to_builder()
                    .credentials_provider(aws_types::sdk_config::SharedCredentialsProvider::new(
                        provider,
                    ))
                    .build()
            }
        };
        c.accounts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(account.clone(), (access.clone(), sdk));
    }

    /// The account `account`'s credentials belong to (STS GetCallerIdentity). For an assumed
    /// role this is the credentials' first use, so a denied AssumeRole fails here.
    pub async fn caller_account_of(&self, account: &AccountId) -> Result<AccountId, AwsError> {
        const OP: &str = "sts:GetCallerIdentity";
        let c = &self.clients;
        let region = c.sts_region();
        let client = aws_sdk_sts::Client::from_conf(
            configure!(
                aws_sdk_sts::config::Builder,
                c,
                "sts",
                "sts",
                account,
                &region
            )
            .build(),
        );
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

    /// The regions of `account`'s partition with whether each is enabled in the account (EC2
    /// DescribeRegions with AllRegions, asked in the home region), sorted.
    pub async fn regions_of(&self, account: &AccountId) -> Result<Vec<(Region, bool)>, AwsError> {
        const OP: &str = "ec2:DescribeRegions";
        let c = &self.clients;
        let region = c.sts_region();
        let client = aws_sdk_ec2::Client::from_conf(
            configure!(
                aws_sdk_ec2::config::Builder,
                c,
                "ec2",
                "ec2",
                account,
                &region
            )
            .build(),
        );
        let out = client
            .describe_regions()
            .all_regions(true)
            .send()
            .await
            .map_err(|e| aws_error(OP, e))?;
        let mut regions: Vec<(Region, bool)> = out
            .regions()
            .iter()
            .filter_map(|r| {
                let enabled = r.opt_in_status().is_none_or(|s| s != "not-opted-in");
                r.region_name().map(|name| (Region::new(name), enabled))
            })
            .collect();
        regions.sort();
        Ok(regions)
    }

    /// The pacer every client's attempts wait on.
    pub fn pacer(&self) -> &Pacer {
        &self.clients.pacer
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
                api_gateway: Arc::new(SdkApiGateway::new(target.clone())),
                cloudtrail: Arc::new(SdkCloudTrail::new(target.clone())),
                vpc_flow_logs: Arc::new(SdkFlowLogs::new(target)),
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
        Arc::new(SdkLedgerTable {
            client: self.own_dynamodb(region),
            table: table.to_owned(),
        })
    }

    /// A DynamoDB client in `region` with the credentials' own account (ledger and lease tables).
    fn own_dynamodb(&self, region: &Region) -> aws_sdk_dynamodb::Client {
        let config = configure!(
            aws_sdk_dynamodb::config::Builder,
            &self.clients,
            "dynamodb",
            "dynamodb",
            &own_account(),
            region
        );
        aws_sdk_dynamodb::Client::from_conf(config.build())
    }

    /// The SQS queue at `url` in `region`, with the credentials' own account (the queue of
    /// event-driven mode lives in the account autosub runs in).
    pub fn queue(&self, url: &str, region: &Region) -> Arc<dyn QueueApi> {
        Arc::new(SdkQueue {
            client: self.own_sqs(region),
            url: url.to_owned(),
        })
    }

    /// An SQS client in `region` with the credentials' own account (the event queue).
    fn own_sqs(&self, region: &Region) -> aws_sdk_sqs::Client {
        let config = configure!(
            aws_sdk_sqs::config::Builder,
            &self.clients,
            "sqs",
            "sqs",
            &own_account(),
            region
        );
        aws_sdk_sqs::Client::from_conf(config.build())
    }

    /// The settings of the SQS queue at `url` in `region` (event-driven mode's), with the
    /// credentials' own account, for `autosub doctor`.
    pub fn queue_attributes(&self, url: &str, region: &Region) -> Arc<dyn QueueAttributesApi> {
        Arc::new(SdkQueueAttributes {
            client: self.own_sqs(region),
            url: url.to_owned(),
        })
    }

    /// EventBridge on the default bus of `account` in `region`, with the account's registered
    /// credentials (the credentials as they are when it has none), for `autosub doctor`.
    pub fn event_rules(&self, account: &AccountId, region: &Region) -> Arc<dyn EventRulesApi> {
        let config = configure!(
            aws_sdk_eventbridge::config::Builder,
            &self.clients,
            "events",
            "events",
            account,
            region
        );
        Arc::new(SdkEventRules {
            client: aws_sdk_eventbridge::Client::from_conf(config.build()),
        })
    }

    /// CloudTrail of `account` in `region`, with the account's registered credentials (the
    /// credentials as they are when it has none), for `autosub doctor`.
    pub fn trails(&self, account: &AccountId, region: &Region) -> Arc<dyn TrailsApi> {
        Arc::new(SdkTrails {
            client: self.clients.cloudtrail(account, region),
            region: region.clone(),
        })
    }

    /// The DynamoDB lease table `table` in `region`, with the credentials' own account.
    pub fn lease_table(&self, region: &Region, table: &str) -> Arc<dyn LeaseTable> {
        Arc::new(SdkLeaseTable {
            client: self.own_dynamodb(region),
            table: table.to_owned(),
            region: region.to_string(),
        })
    }

    /// AWS Organizations with autosub's own credentials (the management account or a delegated
    /// administrator). A global service: asked in its partition's home region (us-east-1 for
    /// `aws`, chosen from the factory's home region).
    pub fn organizations(&self) -> Arc<dyn OrganizationsApi> {
        let c = &self.clients;
        let region = self.organizations_region();
        let config = configure!(
            aws_sdk_organizations::config::Builder,
            c,
            "organizations",
            "organizations",
            &own_account(),
            &region
        );
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
            region: self.clients.sts_region(),
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

    /// The region of the calls made with the credentials as they are, outside any target: STS
    /// GetCallerIdentity and EC2 DescribeRegions (the home region, else us-east-1).
    pub fn own_region(&self) -> Region {
        self.clients.sts_region()
    }

    /// The region Organizations is asked in: its one endpoint in the home region's partition.
    pub fn organizations_region(&self) -> Region {
        organizations_region(self.clients.home_region.as_ref())
    }
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
