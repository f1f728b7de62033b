//! `autosub doctor`: a preflight that checks, one line per check, what a run needs — AWS
//! credentials, the forwarders and their resource policies, every AWS endpoint autosub will
//! call, Datadog PrivateLink, and the telemetry's API key — and says how to fix what fails.
//!
//! Guarantees: read-only (no AWS write call, nothing sent to Datadog); every check ends in a
//! bounded time (DNS and TCP have timeouts). The resolver and the dialer are injected, so tests
//! run on loopback with stub DNS answers.
//!
//! The checks are grouped per account, in the order a run reaches them: a fleet member's role
//! is assumed (and proven to act in its account) before its regions and forwarders are checked.
//! With `[events] queue_url` set, each account's group also checks event-driven mode's rule and
//! CloudTrail trails in its regions, and the queue gets checks of its own ([`events`]).

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use async_trait::async_trait;
use autosub_aws::AccountAccess;
use autosub_aws::endpoints::{AwsService, EndpointOrigin, ServiceEndpoint};
use autosub_aws::error::ErrorClass;
use autosub_aws::factory::ClientFactory;
use autosub_config::{ALL_REGIONS, Config, LedgerLocation};
use autosub_core::datadog::{DatadogService, Site};
use autosub_core::net::{Cidr, HostPort, is_public};
use autosub_core::observed::parse_policy;
use autosub_core::service::global_log_region;
use autosub_core::{
    AccountId, BucketName, FunctionArn, InvokePermission, Invoker, LogGroupName, Partition, Region,
};
use futures::future::join_all;
use futures::stream::{self, StreamExt};
use serde::Serialize;

pub mod events;

use crate::iam::lists_all_regions;
use crate::telemetry::{ApiKeySource, TelemetryError};
use autosub_engine::fleet::{self, Account};
use autosub_engine::reconcile::RunError;

/// How long a DNS lookup may take in production.
pub const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a TCP connect may take in production.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// The outcome of one check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Works.
    Pass,
    /// Works, with a remark (autosub will fix it itself, or it cannot be verified).
    Warn,
    /// Does not work; a run would fail or skip something.
    Fail,
}

impl Status {
    /// The label printed in front of the check.
    pub fn label(self) -> &'static str {
        match self {
            Self::Pass => "PASS",
            Self::Warn => "WARN",
            Self::Fail => "FAIL",
        }
    }
}

/// One check: what was checked, how it went, and how to fix it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Check {
    /// What was checked, e.g. `forwarder us-east-1` or `privatelink api`.
    pub name: String,
    /// Pass, warn or fail.
    pub status: Status,
    /// What was found.
    pub detail: String,
    /// What to do about it (for warnings and failures).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Check {
    fn pass(name: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            status: Status::Pass,
            detail: detail.into(),
            fix: None,
        }
    }

    fn warn(name: impl Into<String>, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            status: Status::Warn,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }

    fn fail(name: impl Into<String>, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            status: Status::Fail,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }
}

/// True when no check failed.
pub fn all_passed(checks: &[Check]) -> bool {
    checks.iter().all(|c| c.status != Status::Fail)
}

/// One line per check: `PASS  name: detail`, and for warnings and failures `; fix: …`.
pub fn render_text(checks: &[Check]) -> String {
    let mut out = String::new();
    for c in checks {
        out.push_str(&format!("{}  {}: {}", c.status.label(), c.name, c.detail));
        if let Some(fix) = &c.fix {
            out.push_str(&format!("; fix: {fix}"));
        }
        out.push('\n');
    }
    let count = |s: Status| checks.iter().filter(|c| c.status == s).count();
    out.push_str(&format!(
        "doctor: {} checks, {} failed, {} warnings\n",
        checks.len(),
        count(Status::Fail),
        count(Status::Warn)
    ));
    out
}

/// Resolves host names (tokio's resolver in production, a stub in tests).
#[async_trait]
pub trait Resolver: Send + Sync {
    /// The addresses `host` resolves to.
    async fn resolve(&self, host: &str) -> io::Result<Vec<IpAddr>>;
}

/// Opens TCP connections (tokio in production, a stub in tests).
#[async_trait]
pub trait Dialer: Send + Sync {
    /// Connects to `addr` and closes the connection again.
    async fn dial(&self, addr: SocketAddr) -> io::Result<()>;
}

/// The system resolver (`getaddrinfo` through tokio), with a timeout.
#[derive(Clone, Copy, Debug)]
pub struct SystemResolver {
    /// How long one lookup may take.
    pub timeout: Duration,
}

impl Default for SystemResolver {
    fn default() -> Self {
        Self {
            timeout: RESOLVE_TIMEOUT,
        }
    }
}

#[async_trait]
impl Resolver for SystemResolver {
    async fn resolve(&self, host: &str) -> io::Result<Vec<IpAddr>> {
        let lookup = tokio::net::lookup_host((host, 0));
        let addrs = tokio::time::timeout(self.timeout, lookup)
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "dns lookup timed out"))??;
        let mut ips: Vec<IpAddr> = addrs.map(|a| a.ip()).collect();
        ips.sort();
        ips.dedup();
        Ok(ips)
    }
}

/// TCP connects through tokio, with a timeout.
#[derive(Clone, Copy, Debug)]
pub struct TcpDialer {
    /// How long one connect may take.
    pub timeout: Duration,
}

impl Default for TcpDialer {
    fn default() -> Self {
        Self {
            timeout: CONNECT_TIMEOUT,
        }
    }
}

#[async_trait]
impl Dialer for TcpDialer {
    async fn dial(&self, addr: SocketAddr) -> io::Result<()> {
        let connect = tokio::net::TcpStream::connect(addr);
        tokio::time::timeout(self.timeout, connect)
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "tcp connect timed out"))??;
        Ok(())
    }
}

/// The network the checks go through.
#[derive(Clone, Copy)]
pub struct Net<'a> {
    /// DNS.
    pub resolver: &'a dyn Resolver,
    /// TCP.
    pub dialer: &'a dyn Dialer,
}

impl Net<'_> {
    /// The addresses of `host`; an IP literal is its own address.
    async fn addresses(&self, host: &str) -> io::Result<Vec<IpAddr>> {
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(vec![ip]);
        }
        let ips = self.resolver.resolve(host).await?;
        if ips.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                "no address records",
            ));
        }
        Ok(ips)
    }
}

/// What the doctor looks at.
pub struct DoctorCx<'a> {
    /// The validated configuration.
    pub config: &'a Config,
    /// The AWS clients, as a run builds them.
    pub factory: &'a ClientFactory,
    /// DNS and TCP.
    pub net: Net<'a>,
    /// Where the Datadog API key comes from (`DD_API_KEY` / `DD_API_KEY_SECRET_ARN`).
    pub api_key: Result<Option<ApiKeySource>, TelemetryError>,
}

/// Every check, in order: the accounts (credentials, roles, regions, forwarders, policies, and
/// with `[events]` each region's rule and trail), event-driven mode's queue, the AWS endpoints,
/// PrivateLink, telemetry.
pub async fn doctor(cx: &DoctorCx<'_>) -> Vec<Check> {
    let (mut checks, regions) = account_checks(cx).await;
    checks.extend(events::queue_checks(cx).await);
    checks.extend(endpoint_checks(cx.net, &aws_endpoints(cx, &regions)).await);
    checks.extend(privatelink_checks(cx.config, cx.net).await);
    checks.extend(telemetry_checks(cx).await);
    checks
}

/// The checks of the accounts a run covers, and every region they span. First autosub's own
/// credentials; then per account how it is reached (a fleet member's role), its regions, each
/// forwarder and its resource policy, and the regions without a forwarder. Outside a fleet the
/// names carry the region only (`forwarder us-east-1`), in a fleet the target
/// (`forwarder 222233334444/us-east-1`).
pub async fn account_checks(cx: &DoctorCx<'_>) -> (Vec<Check>, Vec<Region>) {
    let mut checks = Vec::new();
    let caller = match cx.factory.caller_account().await {
        Ok(account) => {
            checks.push(Check::pass(
                "credentials",
                format!("sts:GetCallerIdentity answers: account {account}"),
            ));
            Some(account)
        }
        Err(e) => {
            checks.push(Check::fail(
                "credentials",
                format!("sts:GetCallerIdentity failed: {e}"),
                credentials_fix(e.class),
            ));
            None
        }
    };
    let in_fleet = cx.config.fleet.is_fleet();
    if !in_fleet {
        let account = single_account_check(cx.config, caller.as_ref());
        let known = account.status != Status::Fail || cx.config.aws.account_id.is_some();
        checks.push(account);
        if !known {
            checks.push(Check::fail(
                "forwarders",
                "not checked: the account to reconcile is unknown without working credentials",
                "fix the credentials check above, or set aws.account_id",
            ));
            return (checks, configured_regions(cx.config, cx.factory));
        }
    }
    let accounts = match fleet::accounts(cx.factory, cx.config).await {
        Ok(accounts) => accounts,
        Err(e) => {
            checks.push(Check::fail(
                if matches!(e, RunError::NoRegion) {
                    "regions"
                } else {
                    "accounts"
                },
                e.to_string(),
                if in_fleet {
                    "fix [fleet] (or the Organizations access it needs), then run the doctor again"
                } else {
                    "fix the credentials check above, or set aws.account_id and aws.regions"
                },
            ));
            return (checks, configured_regions(cx.config, cx.factory));
        }
    };
    let per_account: Vec<(Vec<Check>, Vec<Region>)> = stream::iter(&accounts)
        .map(|account| checks_of(cx, account, in_fleet))
        .buffered(cx.config.fleet.targets_in_flight)
        .collect()
        .await;
    let mut regions = BTreeSet::new();
    for (account_checks, account_regions) in per_account {
        checks.extend(account_checks);
        regions.extend(account_regions);
    }
    (checks, regions.into_iter().collect())
}

/// Outside a fleet: which account a run reconciles, and whether the credentials belong to it.
fn single_account_check(config: &Config, caller: Option<&AccountId>) -> Check {
    let configured = config.aws.account_id.as_deref().map(AccountId::new);
    match (&configured, caller) {
        (Some(want), Some(have)) if want != have => Check::fail(
            "account",
            format!("aws.account_id is {want} but the credentials belong to {have}"),
            format!(
                "run with credentials of account {want}, remove aws.account_id, or list {want} under [[fleet.accounts]] with the role_arn to reach it"
            ),
        ),
        (Some(want), _) => Check::pass(
            "account",
            format!("reconciling account {want} (aws.account_id)"),
        ),
        (None, Some(have)) => Check::pass(
            "account",
            format!("reconciling the caller's account {have}"),
        ),
        (None, None) => Check::fail(
            "account",
            "the account to reconcile is unknown",
            "fix the credentials check above, or set aws.account_id",
        ),
    }
}

/// One account's checks and regions: its role, its regions, its forwarders.
async fn checks_of(
    cx: &DoctorCx<'_>,
    account: &Account,
    in_fleet: bool,
) -> (Vec<Check>, Vec<Region>) {
    let mut checks = Vec::new();
    let id = &account.id;
    let reached = fleet::reach(cx.factory, account).await;
    match (&account.access, reached) {
        (AccountAccess::AssumeRole { role_arn, .. }, Ok(())) => checks.push(Check::pass(
            format!("assume-role {id}"),
            format!("assumed {role_arn}; it acts in account {id}"),
        )),
        (AccountAccess::AssumeRole { .. }, Err(failure)) => {
            checks.push(Check::fail(
                format!("assume-role {id}"),
                failure.message,
                "deploy deploy/cloudformation/fleet-member-role.yaml in the account (fleet-stackset.yaml does it for an organization), trusting autosub's own role, with fleet.external_id as its ExternalId",
            ));
            return (checks, Vec::new());
        }
        (AccountAccess::Own, _) if in_fleet => checks.push(Check::pass(
            format!("account {id}"),
            "reached with autosub's own credentials",
        )),
        (AccountAccess::Own, _) => {}
    }
    let (regions, disabled) = match fleet::regions(cx.factory, cx.config, account).await {
        Ok(found) => found,
        Err(failure) => {
            checks.push(Check::fail(
                format!("regions {id}"),
                failure.message,
                "allow ec2:DescribeRegions to autosub's role in the account, or list the account's regions",
            ));
            return (checks, Vec::new());
        }
    };
    for failure in disabled {
        let region = failure.region.clone().unwrap_or_default();
        checks.push(Check::fail(
            format!("region {id}/{region}"),
            failure.message,
            "enable the region in the account, or drop it from the account's regions",
        ));
    }
    let scope = |region: &Region| {
        if in_fleet {
            format!("{id}/{region}")
        } else {
            region.to_string()
        }
    };
    for (region, forwarder) in &account.forwarders {
        if regions.contains(region) {
            let arn = forwarder.resolve(id, region);
            checks.extend(forwarder_checks(cx, &scope(region), id, region, &arn).await);
            if cx
                .config
                .account_policy
                .applies(id.as_str(), region.as_str())
            {
                checks.push(account_policy_check(cx, &scope(region), id, region, &arn).await);
            }
        }
    }
    for region in regions
        .iter()
        .filter(|r| !account.forwarders.contains_key(*r))
    {
        checks.push(Check::warn(
            format!("forwarder {}", scope(region)),
            format!("no forwarder is configured for {region}: its buckets and log groups are reported no_forwarder, never subscribed"),
            format!("add forwarders.{region} (S3 and CloudWatch Logs only invoke a function in their own region)"),
        ));
    }
    checks.extend(events::account_checks(cx, id, &regions, &scope).await);
    (checks, regions)
}

/// In account-policy mode: the region's subscription filter policies can be read, and its one
/// slot is free, autosub's, or another policy's to the forwarder (adopted).
async fn account_policy_check(
    cx: &DoctorCx<'_>,
    scope: &str,
    account: &AccountId,
    region: &Region,
    forwarder: &FunctionArn,
) -> Check {
    let name = format!("account policy {scope}");
    let ours = &cx.config.ownership.filter_name;
    match cx
        .factory
        .apis(account, region)
        .logs
        .account_policies()
        .await
    {
        Err(e) => Check::fail(
            name,
            format!("cannot read the account's subscription filter policies: {e}"),
            "allow logs:DescribeAccountPolicies, logs:PutAccountPolicy and logs:DeleteAccountPolicy (`autosub iam-policy` with account_policy.enabled prints them)",
        ),
        Ok(policies) => match policies.first() {
            None => Check::pass(
                name,
                format!("no subscription filter policy yet; the next reconcile puts {ours:?}"),
            ),
            Some(p) if &p.name == ours || forwarder.is(&p.destination_arn) => Check::pass(
                name,
                format!("policy {:?} delivers to {}", p.name, p.destination_arn),
            ),
            Some(p) => Check::warn(
                name,
                format!(
                    "the region's one subscription filter policy is {:?} → {}; autosub keeps per-group filters here",
                    p.name, p.destination_arn
                ),
                "remove that policy to let autosub put its own, or leave account_policy off for this region",
            ),
        },
    }
}

/// The regions the configuration names (without `"all"`), else the credentials' region: what
/// the endpoint checks cover when the accounts cannot be resolved.
fn configured_regions(config: &Config, factory: &ClientFactory) -> Vec<Region> {
    let listed: Vec<Region> = config
        .aws
        .regions
        .iter()
        .filter(|r| r.as_str() != ALL_REGIONS)
        .map(|r| Region::new(r.as_str()))
        .collect();
    if listed.is_empty() {
        factory.home_region().cloned().into_iter().collect()
    } else {
        listed
    }
}

fn credentials_fix(class: ErrorClass) -> &'static str {
    match class {
        ErrorClass::AccessDenied => {
            "the credentials are invalid or expired: refresh them (aws sso login, a new session token) or check the task role"
        }
        ErrorClass::Retryable | ErrorClass::Throttled => {
            "sts is unreachable: see the endpoint sts check below (a VPC interface endpoint com.amazonaws.<region>.sts with private DNS, or AWS_ENDPOINT_URL_STS)"
        }
        _ => {
            "provide credentials through the default chain: AWS_PROFILE, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or the ECS task role"
        }
    }
}

/// The forwarder exists, and its resource policy lets S3 and CloudWatch Logs of `account`
/// invoke it (or autosub will add the statement).
async fn forwarder_checks(
    cx: &DoctorCx<'_>,
    scope: &str,
    account: &AccountId,
    region: &Region,
    forwarder: &FunctionArn,
) -> Vec<Check> {
    let name = format!("forwarder {scope}");
    let apis = cx.factory.apis(account, region);
    let policy = match apis.lambda.policy(forwarder).await {
        Ok(policy) => policy,
        Err(e) if e.class == ErrorClass::NotFound => {
            return vec![Check::fail(
                name,
                format!("function {forwarder} does not exist"),
                format!("deploy the Datadog Forwarder in {region}, or fix forwarders.{region}"),
            )];
        }
        Err(e) if e.class == ErrorClass::AccessDenied => {
            return vec![Check::fail(
                name,
                format!("cannot read function {forwarder}: {e}"),
                "allow lambda:GetPolicy and lambda:GetFunctionConfiguration on the forwarder (`autosub iam-policy` prints the whole policy)",
            )];
        }
        Err(e) => {
            return vec![Check::fail(
                name,
                format!("cannot read function {forwarder}: {e}"),
                format!(
                    "check that lambda in {region} is reachable (see the endpoint lambda {region} check)"
                ),
            )];
        }
    };
    let mut checks = vec![Check::pass(name, format!("function {forwarder} exists"))];
    let statements = match policy.as_deref().map(parse_policy) {
        None => Vec::new(),
        Some(Ok(statements)) => statements,
        Some(Err(e)) => {
            checks.push(Check::fail(
                format!("forwarder {scope} policy"),
                format!("the resource policy of {forwarder} is not valid JSON: {e}"),
                "repair the function's resource policy (aws lambda get-policy shows it)",
            ));
            return checks;
        }
    };
    let partition = Partition::of(region);
    for invoker in [Invoker::Logs, Invoker::S3] {
        // A source that stands for "any log group / any bucket of the account".
        let probe = match invoker {
            Invoker::Logs => LogGroupName::new("autosub-doctor-probe").arn(account, region),
            Invoker::S3 => BucketName::new("autosub-doctor-probe").arn(partition),
        };
        let check_name = format!("forwarder {scope} allows {}", invoker.as_str());
        let allowing = statements
            .iter()
            .find(|s| s.allows(invoker.principal(), account.as_str(), &probe));
        checks.push(match allowing {
            Some(s) => Check::pass(
                check_name,
                format!(
                    "statement {:?} lets {} invoke it for account {account}",
                    s.sid,
                    invoker.principal()
                ),
            ),
            None => {
                let ours = InvokePermission::account_wide(
                    &cx.config.ownership.statement_id_prefix,
                    invoker,
                    account,
                    region,
                );
                Check::warn(
                    check_name,
                    format!(
                        "no statement lets {} invoke it for every source of account {account}; the next reconcile adds statement {}",
                        invoker.principal(),
                        ours.statement_id
                    ),
                    "nothing to do if autosub may call lambda:AddPermission on the forwarder; otherwise grant it, or add the statement yourself",
                )
            }
        });
    }
    checks
}

/// Every endpoint a run calls: STS in the home region; Lambda, S3 and CloudWatch Logs in every
/// region; each enabled service's endpoints (`Service::spec`) in every region for its regional
/// part and in `GLOBAL_LOG_REGION` for its global part; Lambda in each forwarder's region; the
/// ledger's S3 or DynamoDB and the lease's DynamoDB in the stores' region; EC2 (DescribeRegions)
/// when a region list is `["all"]` or in a fleet; Organizations when it finds the accounts;
/// Secrets Manager in the API key secret's region when Datadog events are on; SQS in the
/// `[events]` queue's region.
pub fn aws_endpoints(cx: &DoctorCx<'_>, regions: &[Region]) -> Vec<ServiceEndpoint> {
    let config = cx.config;
    let mut wanted: BTreeSet<(AwsService, Region)> = BTreeSet::new();
    let home = cx
        .factory
        .home_region()
        .cloned()
        .or_else(|| regions.first().cloned())
        .unwrap_or_else(|| Region::new("us-east-1"));
    wanted.insert((AwsService::Sts, home));
    let enabled = config.services.enabled();
    for region in regions {
        for service in [AwsService::Lambda, AwsService::S3, AwsService::Logs] {
            wanted.insert((service, region.clone()));
        }
        for service in enabled.keys().filter(|s| s.is_regional()) {
            for aws in service.spec().endpoints {
                wanted.insert((*aws, region.clone()));
            }
        }
    }
    for service in enabled.keys().filter(|s| s.is_global()) {
        for aws in service.spec().endpoints {
            wanted.insert((*aws, global_log_region()));
        }
    }
    for region in config.forwarders.keys() {
        wanted.insert((AwsService::Lambda, region.clone()));
    }
    let stores = stores_region(config, cx.factory);
    match &config.ledger.location {
        LedgerLocation::S3 { .. } => {
            wanted.insert((AwsService::S3, stores.clone()));
        }
        LedgerLocation::DynamoDb { .. } => {
            wanted.insert((AwsService::DynamoDb, stores.clone()));
        }
        LedgerLocation::File(_) | LedgerLocation::None => {}
    }
    if config.lease.table.is_some() {
        wanted.insert((AwsService::DynamoDb, stores));
    }
    if lists_all_regions(config) || config.fleet.is_fleet() {
        wanted.insert((AwsService::Ec2, cx.factory.own_region()));
    }
    if config.fleet.organizations.is_some() {
        wanted.insert((AwsService::Organizations, cx.factory.organizations_region()));
    }
    if config.events.queue.is_some() {
        let region = config
            .events_queue_region()
            .unwrap_or_else(|| cx.factory.own_region());
        wanted.insert((AwsService::Sqs, region));
    }
    if config.datadog.telemetry.events
        && let Ok(Some(ApiKeySource::Secret(secret))) = &cx.api_key
    {
        wanted.insert((AwsService::SecretsManager, secret.region().clone()));
    }
    wanted
        .into_iter()
        .map(|(service, region)| cx.factory.endpoint(service, &region))
        .collect()
}

/// The region of the ledger and lease tables (and an S3 ledger's first call), as a run opens
/// them: the first configured region, else the home region, else us-east-1.
fn stores_region(config: &Config, factory: &ClientFactory) -> Region {
    config
        .first_region()
        .or_else(|| factory.home_region().cloned())
        .unwrap_or_else(|| Region::new("us-east-1"))
}

/// Each endpoint resolves and accepts a TCP connection. Endpoints sharing a host and port are
/// dialled once.
pub async fn endpoint_checks(net: Net<'_>, endpoints: &[ServiceEndpoint]) -> Vec<Check> {
    let targets: BTreeSet<HostPort> = endpoints
        .iter()
        .filter_map(|e| HostPort::from_url(&e.url).ok())
        .collect();
    let probes = join_all(targets.iter().map(|hp| probe(net, hp))).await;
    let results: BTreeMap<&HostPort, &Probe> = targets.iter().zip(probes.iter()).collect();
    endpoints
        .iter()
        .map(|e| {
            let name = format!("endpoint {} {}", e.service, e.region);
            let via = match e.origin {
                EndpointOrigin::Config => "aws.endpoint_url".to_owned(),
                EndpointOrigin::Environment => {
                    format!("{} or AWS_ENDPOINT_URL", e.service.endpoint_env_var())
                }
                EndpointOrigin::Default => "the public endpoint".to_owned(),
            };
            let fix = format!(
                "create an interface VPC endpoint for {} with private DNS (or point {} at it), or give the subnet a route out (NAT); its security group must allow TCP {} from here",
                e.service.vpc_endpoint_service(&e.region),
                e.service.endpoint_env_var(),
                HostPort::from_url(&e.url).map_or(443, |hp| hp.port),
            );
            let hp = match HostPort::from_url(&e.url) {
                Ok(hp) => hp,
                Err(err) => {
                    return Check::fail(name, err.to_string(), format!("fix {via}"));
                }
            };
            match results.get(&hp) {
                Some(Probe::Reached(addr)) => Check::pass(
                    name,
                    format!(
                        "{hp} accepts TCP ({}, {}; {via})",
                        addr.ip(),
                        if is_public(addr.ip()) {
                            "public"
                        } else {
                            "private"
                        }
                    ),
                ),
                Some(Probe::Unresolved(err)) => {
                    Check::fail(name, format!("{} does not resolve: {err}", hp.host), fix)
                }
                Some(Probe::Refused(addrs, err)) => Check::fail(
                    name,
                    format!("{hp} resolves to {} but TCP fails: {err}", list(addrs)),
                    fix,
                ),
                None => Check::fail(name, "not probed", fix),
            }
        })
        .collect()
}

enum Probe {
    Reached(SocketAddr),
    Unresolved(String),
    Refused(Vec<IpAddr>, String),
}

async fn probe(net: Net<'_>, hp: &HostPort) -> Probe {
    let addrs = match net.addresses(&hp.host).await {
        Ok(addrs) => addrs,
        Err(e) => return Probe::Unresolved(e.to_string()),
    };
    let mut last = String::new();
    for ip in &addrs {
        let addr = SocketAddr::new(*ip, hp.port);
        match net.dialer.dial(addr).await {
            Ok(()) => return Probe::Reached(addr),
            Err(e) => last = e.to_string(),
        }
    }
    Probe::Refused(addrs, last)
}

/// An error and its causes, `: `-separated.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(&format!(": {c}"));
        cause = c.source();
    }
    text
}

fn list(addrs: &[IpAddr]) -> String {
    addrs
        .iter()
        .map(IpAddr::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// When PrivateLink is on: every selected Datadog service name resolves to private addresses
/// inside `datadog.privatelink.vpc_cidrs`, and each accepts TCP 443 — the checks of the
/// troubleshooting section of Datadog's PrivateLink guide.
pub async fn privatelink_checks(config: &Config, net: Net<'_>) -> Vec<Check> {
    let pl = &config.datadog.privatelink;
    if !pl.enabled {
        return Vec::new();
    }
    let site = config.datadog.site;
    let futures = pl
        .services
        .iter()
        .map(|service| privatelink_check(site, *service, &pl.vpc_cidrs, net));
    join_all(futures).await
}

async fn privatelink_check(
    site: Site,
    service: DatadogService,
    cidrs: &[Cidr],
    net: Net<'_>,
) -> Check {
    let name = format!("privatelink {service}");
    let endpoint = match site.privatelink(service) {
        Ok(endpoint) => endpoint,
        Err(e) => {
            return Check::fail(
                name,
                e.to_string(),
                "set datadog.site to a site with PrivateLink, or turn datadog.privatelink off",
            );
        }
    };
    let host = &endpoint.private_dns_name;
    let zone_fix = format!(
        "same region ({}): create the interface endpoint for {} with private DNS enabled (deploy/cloudformation/privatelink.yaml); other regions: create the private hosted zone {host} with an alias A record to the endpoint and associate it with this VPC (deploy/cloudformation/privatelink-cross-region.yaml)",
        site.privatelink_region().unwrap_or_default(),
        endpoint.endpoint_service_name,
    );
    let addrs = match net.addresses(host).await {
        Ok(addrs) => addrs,
        Err(e) => {
            return Check::fail(name, format!("{host} does not resolve: {e}"), zone_fix);
        }
    };
    let cidr_list = cidrs
        .iter()
        .map(Cidr::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    if let Some(public) = addrs.iter().find(|a| is_public(**a)) {
        return Check::fail(
            name,
            format!(
                "{host} resolves to public address {public}: the private hosted zone for {host} is not associated with this VPC, or its A record is missing"
            ),
            zone_fix,
        );
    }
    if let Some(outside) = addrs
        .iter()
        .find(|a| !cidrs.iter().any(|c| c.contains(**a)))
    {
        return Check::fail(
            name,
            format!(
                "{host} resolves to {outside}, outside datadog.privatelink.vpc_cidrs ({cidr_list})"
            ),
            format!(
                "add the CIDR of the VPC holding the endpoint to datadog.privatelink.vpc_cidrs, or fix the A record of {host}"
            ),
        );
    }
    let dials = join_all(
        addrs
            .iter()
            .map(|ip| net.dialer.dial(SocketAddr::new(*ip, 443))),
    )
    .await;
    let failed: Vec<(IpAddr, String)> = addrs
        .iter()
        .zip(dials)
        .filter_map(|(ip, r)| r.err().map(|e| (*ip, e.to_string())))
        .collect();
    if let Some((ip, err)) = failed.first() {
        return Check::fail(
            name,
            format!(
                "{host} resolves to {ip} inside {cidr_list}, but TCP 443 fails ({err}): peering, routing or the security group is the cause"
            ),
            "allow inbound TCP 443 from this VPC's CIDR in the endpoint's security group; across regions, check the peering connection is active and both route tables send the other VPC's CIDR over it",
        );
    }
    Check::pass(
        name,
        format!(
            "{host} resolves to {} inside {cidr_list} and accepts TCP 443 ({})",
            list(&addrs),
            endpoint.endpoint_service_name
        ),
    )
}

/// When telemetry is on: the API key is there (or readable from its secret), the events API is
/// reachable, the DogStatsD address resolves.
pub async fn telemetry_checks(cx: &DoctorCx<'_>) -> Vec<Check> {
    let t = &cx.config.datadog.telemetry;
    let mut checks = Vec::new();
    if t.events {
        checks.push(api_key_check(cx).await);
        let base = t
            .api_url
            .clone()
            .unwrap_or_else(|| cx.config.datadog.site.api_url());
        let privatelink_api = cx.config.datadog.privatelink.enabled
            && cx
                .config
                .datadog
                .privatelink
                .services
                .contains(&DatadogService::Api);
        // Over PrivateLink the api check above already dialled the API's private name.
        if !privatelink_api || t.api_url.is_some() {
            checks.push(match HostPort::from_url(&base) {
                Ok(hp) => match probe(cx.net, &hp).await {
                    Probe::Reached(addr) => Check::pass(
                        "telemetry events api",
                        format!("{hp} accepts TCP ({})", addr.ip()),
                    ),
                    Probe::Unresolved(e) => Check::fail(
                        "telemetry events api",
                        format!("{} does not resolve: {e}", hp.host),
                        "give the subnet DNS and a route to the datadog api (NAT, a proxy, or PrivateLink with the api service)",
                    ),
                    Probe::Refused(addrs, e) => Check::fail(
                        "telemetry events api",
                        format!("{hp} resolves to {} but TCP fails: {e}", list(&addrs)),
                        "allow egress TCP 443 to the datadog api (security group, NACL, NAT or proxy), or use PrivateLink with the api service",
                    ),
                },
                Err(e) => Check::fail(
                    "telemetry events api",
                    e.to_string(),
                    "fix datadog.telemetry.api_url",
                ),
            });
        }
    }
    if let Some(addr) = &t.dogstatsd_addr {
        let host = addr.rsplit_once(':').map_or(addr.as_str(), |(h, _)| h);
        let host = host.trim_start_matches('[').trim_end_matches(']');
        checks.push(match cx.net.addresses(host).await {
            Ok(addrs) => Check::pass(
                "telemetry dogstatsd",
                format!("{addr} resolves to {}; metrics go there over UDP, which cannot confirm delivery", list(&addrs)),
            ),
            Err(e) => Check::fail(
                "telemetry dogstatsd",
                format!("{addr} does not resolve: {e}"),
                "point datadog.telemetry.dogstatsd_addr at the agent (the ECS sidecar listens on 127.0.0.1:8125)",
            ),
        });
    }
    checks
}

async fn api_key_check(cx: &DoctorCx<'_>) -> Check {
    const NAME: &str = "telemetry api key";
    let source = match &cx.api_key {
        Ok(Some(source)) => source,
        Ok(None) => {
            return Check::fail(
                NAME,
                TelemetryError::NoApiKey.to_string(),
                "set DD_API_KEY, or DD_API_KEY_SECRET_ARN to a Secrets Manager secret holding the key",
            );
        }
        Err(e) => return Check::fail(NAME, e.to_string(), "fix DD_API_KEY_SECRET_ARN"),
    };
    match source {
        ApiKeySource::Env(_) => Check::pass(NAME, "from DD_API_KEY (not shown)"),
        ApiKeySource::Secret(secret) => match source.resolve(cx.factory.secrets().as_ref()).await {
            Ok(_) => Check::pass(
                NAME,
                format!(
                    "read from secret {secret} in {} (not shown)",
                    secret.region()
                ),
            ),
            Err(e) => Check::fail(
                NAME,
                error_chain(&e),
                format!(
                    "check the endpoint secretsmanager {} check, and the secret's resource policy and KMS key",
                    secret.region()
                ),
            ),
        },
    }
}
