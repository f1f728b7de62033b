//! autosub's configuration: a TOML file parsed into [`Config`], validated without IO.
//!
//! Unknown keys are errors (a typo must not silently fall back to a default), and validation
//! reports every problem at once, each with its key path and a fix.

use std::collections::BTreeMap;
use std::fmt;

use autosub_core::datadog::{DatadogService, Site};
use autosub_core::net::{Cidr, HostPort};
use autosub_core::selection::ResourceFilter;
use autosub_core::{AccountId, FunctionArn, Region, Service};
use serde::Deserialize;

mod fleet;

pub use fleet::{
    AccountConfig, FleetConfig, LeaseConfig, OrganizationsConfig, PacingConfig, role_arn_account,
};

/// The whole configuration file.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// How to reach AWS.
    #[serde(default)]
    pub aws: AwsConfig,
    /// The forwarder of each region, keyed by region: a function ARN, or a name in the target
    /// account.
    #[serde(default)]
    pub forwarders: BTreeMap<String, String>,
    /// Our ownership marks.
    #[serde(default)]
    pub ownership: OwnershipConfig,
    /// Safety rails.
    #[serde(default)]
    pub safety: SafetyConfig,
    /// Which discoverers run.
    #[serde(default)]
    pub services: ServicesConfig,
    /// Locations never to subscribe.
    #[serde(default)]
    pub exclude: ExcludeConfig,
    /// Locations the forwarders or autosub write to, on top of the forwarders' own log groups.
    #[serde(default)]
    pub loop_guard: LoopGuardConfig,
    /// Where autosub remembers the triggers it owns between passes.
    #[serde(default)]
    pub ledger: LedgerConfig,
    /// How often what the ledger vouches for is re-read.
    #[serde(default)]
    pub audit: AuditConfig,
    /// Log groups delivered by one account-level subscription filter policy instead of
    /// per-group filters.
    #[serde(default)]
    pub account_policy: AccountPolicyConfig,
    /// The long-running service (`autosub run`).
    #[serde(default)]
    pub run: RunConfig,
    /// The Datadog site, PrivateLink (checked by `autosub doctor`) and autosub's own telemetry.
    #[serde(default)]
    pub datadog: DatadogConfig,
    /// Many accounts from one process.
    #[serde(default)]
    pub fleet: FleetConfig,
    /// The lease that keeps replicas off each other's targets.
    #[serde(default)]
    pub lease: LeaseConfig,
    /// Client-side pacing of AWS calls.
    #[serde(default)]
    pub pacing: PacingConfig,
}

/// `aws.regions = ["all"]`: every region enabled in the account (EC2 DescribeRegions).
pub const ALL_REGIONS: &str = "all";

/// How to reach AWS. Credentials always come from the default chain.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsConfig {
    /// The regions to reconcile, one pass each, or `["all"]` for every region enabled in the
    /// account; defaults to `AWS_REGION` / the profile's region.
    #[serde(default)]
    pub regions: Vec<String>,
    /// The account to reconcile; defaults to the caller's (STS GetCallerIdentity).
    pub account_id: Option<String>,
    /// An endpoint for every service (an emulator or a proxy); overrides `AWS_ENDPOINT_URL`.
    pub endpoint_url: Option<String>,
    /// Attempts per AWS call, including the first (default 10: under throttling a call waits
    /// longer rather than fails; see `partition` in autosub-aws).
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// AWS calls in flight at once while observing.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
}

impl Default for AwsConfig {
    fn default() -> Self {
        Self {
            regions: Vec::new(),
            account_id: None,
            endpoint_url: None,
            max_attempts: default_max_attempts(),
            concurrency: default_concurrency(),
        }
    }
}

fn default_max_attempts() -> u32 {
    10
}

fn default_concurrency() -> usize {
    8
}

/// The marks that make a trigger ours.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OwnershipConfig {
    /// Name of our subscription filters.
    #[serde(default = "default_filter_name")]
    pub filter_name: String,
    /// Pattern of our subscription filters ("" forwards every event).
    #[serde(default)]
    pub filter_pattern: String,
    /// Id prefix of our S3 notification entries.
    #[serde(default = "default_prefix")]
    pub notification_id_prefix: String,
    /// Statement id prefix of our invoke permissions.
    #[serde(default = "default_prefix")]
    pub statement_id_prefix: String,
}

impl Default for OwnershipConfig {
    fn default() -> Self {
        Self {
            filter_name: default_filter_name(),
            filter_pattern: String::new(),
            notification_id_prefix: default_prefix(),
            statement_id_prefix: default_prefix(),
        }
    }
}

fn default_filter_name() -> String {
    "autosub".into()
}

fn default_prefix() -> String {
    "autosub-".into()
}

/// Limits that keep a bad pass from doing much harm.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SafetyConfig {
    /// At most this many deletes per pass.
    #[serde(default = "default_max_deletes")]
    pub max_deletes_per_pass: usize,
    /// Subscription filters a log group may hold (AWS documents 2).
    #[serde(default = "default_max_filters")]
    pub max_filters_per_log_group: usize,
    /// Bucket and log group name patterns whose triggers are never deleted.
    #[serde(default)]
    pub protect: Vec<String>,
    /// Consecutive stale passes before one of our triggers is deleted; unset: 1 for
    /// `reconcile`, [`DAEMON_STALE_PASSES`] for `run`.
    pub stale_passes_before_delete: Option<u32>,
}

/// The daemon's default for `safety.stale_passes_before_delete`: a source that disappears for
/// one or two passes (a redeploy, a throttled API) keeps its trigger.
pub const DAEMON_STALE_PASSES: u32 = 3;

impl Default for SafetyConfig {
    fn default() -> Self {
        Self {
            max_deletes_per_pass: default_max_deletes(),
            max_filters_per_log_group: default_max_filters(),
            protect: Vec::new(),
            stale_passes_before_delete: None,
        }
    }
}

/// Where the ledger lives.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedgerConfig {
    /// A file path (relative paths are relative to the configuration file), `s3://bucket/key`,
    /// `dynamodb://table`, or `none`.
    #[serde(default = "default_ledger")]
    pub location: String,
}

impl Default for LedgerConfig {
    fn default() -> Self {
        Self {
            location: default_ledger(),
        }
    }
}

fn default_ledger() -> String {
    "autosub-ledger.json".into()
}

/// A parsed `ledger.location`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LedgerLocation {
    /// A local JSON file.
    File(std::path::PathBuf),
    /// One S3 object.
    S3 {
        /// The bucket.
        bucket: String,
        /// The object key.
        key: String,
    },
    /// A DynamoDB table (partition key `pk`, sort key `sk`, both strings).
    DynamoDb {
        /// The table name.
        table: String,
    },
    /// No ledger: stale counts start from zero on every run.
    None,
}

impl LedgerLocation {
    /// Parses a location; the error says what forms are accepted.
    pub fn parse(value: &str) -> Result<Self, String> {
        let bad = |why: &str| {
            Err(format!(
                "{value:?} {why}; use a file path, \"s3://bucket/key\", \"dynamodb://table\" or \"none\""
            ))
        };
        if value == "none" {
            Ok(Self::None)
        } else if let Some(rest) = value.strip_prefix("s3://") {
            match rest.split_once('/') {
                Some((bucket, key)) if !bucket.is_empty() && !key.is_empty() => Ok(Self::S3 {
                    bucket: bucket.to_owned(),
                    key: key.to_owned(),
                }),
                _ => bad("names no bucket and key"),
            }
        } else if let Some(table) = value.strip_prefix("dynamodb://") {
            let valid = (3..=255).contains(&table.len())
                && table
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b));
            if valid {
                Ok(Self::DynamoDb {
                    table: table.to_owned(),
                })
            } else {
                bad("is not a DynamoDB table name (3-255 letters, digits, '_', '-', '.')")
            }
        } else if value.contains("://") {
            bad("has an unknown scheme")
        } else if value.is_empty() {
            bad("is empty")
        } else {
            Ok(Self::File(value.into()))
        }
    }
}

/// The audit: a pass reads what the ledger cannot vouch for, plus its share of the rest, so
/// that every verified location is re-read, and every other log group and bucket swept for
/// lost triggers, within `window_secs`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    /// The audit window in seconds (default 24 h). Drift (a trigger removed by hand) is fixed
    /// within it; 0 makes every pass a full audit.
    #[serde(default = "default_audit_window")]
    pub window_secs: u64,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            window_secs: default_audit_window(),
        }
    }
}

fn default_audit_window() -> u64 {
    24 * 60 * 60
}

/// Account-policy mode: in the accounts and regions it covers, autosub keeps one account-level
/// subscription filter policy (named `ownership.filter_name`) to the region's forwarder. It
/// delivers every log group, current and future, except the loop guards and the groups
/// `exclude.log_groups` matches when a pass lists them, and takes no filter slot; the per-group
/// filters of ours it makes redundant are removed once it is in place.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountPolicyConfig {
    /// Off by default.
    #[serde(default)]
    pub enabled: bool,
    /// Only these regions (empty: every region reconciled).
    #[serde(default)]
    pub regions: Vec<String>,
    /// Only these accounts (empty: every account reconciled).
    #[serde(default)]
    pub accounts: Vec<String>,
}

impl AccountPolicyConfig {
    /// True when the log groups of `account` in `region` go through the account policy.
    pub fn applies(&self, account: &str, region: &str) -> bool {
        self.enabled
            && (self.regions.is_empty()
                || self.regions.iter().any(|r| r == region || r == ALL_REGIONS))
            && (self.accounts.is_empty() || self.accounts.iter().any(|a| a == account))
    }
}

/// The long-running service.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// When passes start: a cron expression with seconds (`sec min hour day month weekday`, UTC).
    /// A pass also runs at start-up.
    #[serde(default = "default_schedule")]
    pub schedule: String,
    /// Each scheduled pass starts after a random delay of up to this many seconds, so many
    /// deployments on one schedule do not hit AWS at the same instant.
    #[serde(default)]
    pub jitter_secs: u64,
    /// Address of the health and metrics server.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// `/readyz` fails when the last pass finished longer ago than this; unset: twice the
    /// schedule's interval plus the jitter and five minutes.
    pub ready_max_age_secs: Option<u64>,
    /// On SIGTERM, how long the in-flight change may take before autosub exits anyway (ECS kills
    /// the task 30 s after SIGTERM by default).
    #[serde(default = "default_grace")]
    pub shutdown_grace_secs: u64,
    /// A pass still running after this many seconds is stopped at its next safe point and
    /// counts as failed; `/healthz` fails when one runs this long plus five minutes (it did not
    /// stop), so the orchestrator replaces the task. A full audit reads 5 log groups a second
    /// per region: keep this above the largest region's groups / 5 (default 24 h: 432,000
    /// groups).
    #[serde(default = "default_pass_deadline")]
    pub pass_deadline_secs: u64,
}

impl Default for RunConfig {
    fn default() -> Self {
        Self {
            schedule: default_schedule(),
            jitter_secs: 0,
            listen: default_listen(),
            ready_max_age_secs: None,
            shutdown_grace_secs: default_grace(),
            pass_deadline_secs: default_pass_deadline(),
        }
    }
}

fn default_pass_deadline() -> u64 {
    24 * 60 * 60
}

fn default_schedule() -> String {
    "0 */15 * * * *".into()
}

fn default_listen() -> String {
    "0.0.0.0:8080".into()
}

fn default_grace() -> u64 {
    20
}

fn default_max_deletes() -> usize {
    50
}

fn default_max_filters() -> usize {
    2
}

/// Which discoverers run, and which resources of each are in scope.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServicesConfig {
    /// Lambda functions' log groups.
    #[serde(default)]
    pub lambda: ServiceConfig,
    /// S3 server access logs.
    #[serde(default)]
    pub s3_access_logs: ServiceConfig,
    /// CloudFront standard logs.
    #[serde(default)]
    pub cloudfront: ServiceConfig,
    /// ALB/NLB access and connection logs.
    #[serde(default)]
    pub elbv2: ServiceConfig,
    /// Classic ELB access logs.
    #[serde(default)]
    pub elb: ServiceConfig,
    /// Redshift audit logs.
    #[serde(default)]
    pub redshift: ServiceConfig,
    /// Step Functions logs.
    #[serde(default)]
    pub step_functions: ServiceConfig,
    /// WAFv2 web ACL logs.
    #[serde(default)]
    pub wafv2: ServiceConfig,
    /// API Gateway access and execution logs.
    #[serde(default)]
    pub api_gateway: ServiceConfig,
}

impl ServicesConfig {
    /// The configuration of one service.
    pub fn get(&self, service: Service) -> &ServiceConfig {
        match service {
            Service::Lambda => &self.lambda,
            Service::S3AccessLogs => &self.s3_access_logs,
            Service::CloudFront => &self.cloudfront,
            Service::Elbv2 => &self.elbv2,
            Service::Elb => &self.elb,
            Service::Redshift => &self.redshift,
            Service::StepFunctions => &self.step_functions,
            Service::Wafv2 => &self.wafv2,
            Service::ApiGateway => &self.api_gateway,
        }
    }

    /// The enabled services with their resource filters.
    pub fn enabled(&self) -> BTreeMap<Service, ResourceFilter> {
        Service::ALL
            .into_iter()
            .filter(|s| self.get(*s).enabled)
            .map(|s| {
                let c = self.get(s);
                let filter = ResourceFilter {
                    include: c.include.clone(),
                    exclude: c.exclude.clone(),
                    tags: c.tags.clone(),
                };
                (s, filter)
            })
            .collect()
    }
}

/// One discoverer: on or off, and which of its resources are in scope.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    /// Whether the discoverer runs.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Resource name patterns (`*`, `?`) to include; empty = all.
    #[serde(default)]
    pub include: Vec<String>,
    /// Resource name patterns to leave out.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Tags a resource must all carry, e.g. `{ logs = "datadog" }` (`"*"` = any value).
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            include: Vec::new(),
            exclude: Vec::new(),
            tags: BTreeMap::new(),
        }
    }
}

fn default_true() -> bool {
    true
}

/// Locations never to subscribe, as name patterns (`*`, `?`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExcludeConfig {
    /// Log group name patterns.
    #[serde(default)]
    pub log_groups: Vec<String>,
    /// Bucket name patterns.
    #[serde(default)]
    pub buckets: Vec<String>,
}

/// Locations that feed a forwarder's own output back to it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoopGuardConfig {
    /// Log groups, e.g. autosub's own.
    #[serde(default)]
    pub log_groups: Vec<String>,
    /// Buckets the forwarders write to (e.g. the Datadog Forwarder's cache bucket).
    #[serde(default)]
    pub buckets: Vec<String>,
}

/// The Datadog site autosub's forwarders and telemetry send to.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatadogConfig {
    /// The site, as `DD_SITE` spells it (`datadoghq.com`, `datadoghq.eu`, `ap1.datadoghq.com`, …)
    /// or by its short name (`us1`, `eu`, `ap2`, `gov`).
    #[serde(default = "default_site")]
    pub site: String,
    /// Reaching Datadog over AWS PrivateLink; `autosub doctor` checks it.
    #[serde(default)]
    pub privatelink: PrivateLinkConfig,
    /// autosub's own pass results sent to Datadog; off by default.
    #[serde(default)]
    pub telemetry: TelemetryConfig,
}

impl Default for DatadogConfig {
    fn default() -> Self {
        Self {
            site: default_site(),
            privatelink: PrivateLinkConfig::default(),
            telemetry: TelemetryConfig::default(),
        }
    }
}

impl DatadogConfig {
    /// The configured site (valid once the config has been parsed).
    pub fn site(&self) -> Site {
        Site::parse(&self.site).unwrap_or(Site::Us1)
    }
}

fn default_site() -> String {
    Site::Us1.name().into()
}

/// The PrivateLink set-up the hosts running autosub and the forwarders sit behind.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrivateLinkConfig {
    /// Whether Datadog is reached over PrivateLink (only `datadoghq.com`, `ap1` and `ap2` offer it).
    #[serde(default)]
    pub enabled: bool,
    /// The CIDR blocks of the VPC(s) holding the Datadog endpoints; every service name must
    /// resolve inside one of them.
    #[serde(default)]
    pub vpc_cidrs: Vec<String>,
    /// The Datadog services reached over PrivateLink (`logs_user_intake`, `api`, `metrics`, …).
    #[serde(default = "default_privatelink_services")]
    pub services: Vec<String>,
}

impl Default for PrivateLinkConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            vpc_cidrs: Vec::new(),
            services: default_privatelink_services(),
        }
    }
}

impl PrivateLinkConfig {
    /// The configured CIDR blocks (the valid ones; a parsed config has only valid ones).
    pub fn cidrs(&self) -> Vec<Cidr> {
        self.vpc_cidrs
            .iter()
            .filter_map(|c| c.parse().ok())
            .collect()
    }

    /// The configured services, in the table's order, without duplicates.
    pub fn selected(&self) -> Vec<DatadogService> {
        DatadogService::ALL
            .into_iter()
            .filter(|s| self.services.iter().any(|n| n == s.as_str()))
            .collect()
    }
}

fn default_privatelink_services() -> Vec<String> {
    // What the Forwarder (logs) and autosub's events (API) use.
    vec!["logs_user_intake".into(), "api".into()]
}

/// Where autosub's own telemetry goes. Both sinks are off unless configured; a failure to send
/// never fails a pass.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetryConfig {
    /// A DogStatsD agent (`host:port`, e.g. the ECS sidecar at `127.0.0.1:8125`) to send
    /// per-pass metrics to over UDP.
    pub dogstatsd_addr: Option<String>,
    /// Post one Datadog event per pass that planned or applied changes (needs `DD_API_KEY` or
    /// `DD_API_KEY_SECRET_ARN`).
    #[serde(default)]
    pub events: bool,
    /// The API base URL events are posted to; default `https://api.<site>`.
    pub api_url: Option<String>,
    /// Tags added to every metric and event (`env:prod`).
    #[serde(default)]
    pub tags: Vec<String>,
}

/// A configured forwarder: an ARN, or a name to resolve in the target account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ForwarderRef {
    /// A full function ARN.
    Arn(FunctionArn),
    /// A function name in the target account.
    Name(String),
}

impl ForwarderRef {
    /// A function ARN, else a name (validated by [`Config::parse`]).
    pub fn parse(value: &str) -> Self {
        FunctionArn::parse(value).map_or_else(|_| Self::Name(value.to_owned()), Self::Arn)
    }

    /// The forwarder's ARN in `account` for `region`.
    pub fn resolve(&self, account: &AccountId, region: &Region) -> FunctionArn {
        match self {
            Self::Arn(arn) => arn.clone(),
            Self::Name(name) => FunctionArn::from_parts(account, region, name),
        }
    }
}

/// One problem in the configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// Where, as a dotted key path (`forwarders.us-east-1`); empty for syntax errors.
    pub key: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.key, self.message)
        }
    }
}

/// Everything wrong with a configuration file.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// The file, as the user named it.
    pub source_name: String,
    /// Every problem found.
    pub problems: Vec<Problem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid configuration in {}:", self.source_name)?;
        for p in &self.problems {
            write!(f, "\n  - {p}")?;
        }
        Ok(())
    }
}

/// The environment variables that override configuration keys, for settings ECS users set in
/// the task definition: (variable, key path).
pub const ENV_OVERRIDES: &[(&str, &str)] = &[
    ("AUTOSUB_REGIONS", "aws.regions"),
    ("AUTOSUB_LEDGER", "ledger.location"),
    ("AUTOSUB_LEASE_TABLE", "lease.table"),
    ("AUTOSUB_SCHEDULE", "run.schedule"),
    ("AUTOSUB_JITTER_SECS", "run.jitter_secs"),
    ("AUTOSUB_AUDIT_WINDOW_SECS", "audit.window_secs"),
    ("AUTOSUB_ACCOUNT_POLICY", "account_policy.enabled"),
    ("AUTOSUB_LISTEN", "run.listen"),
    (
        "AUTOSUB_STALE_PASSES_BEFORE_DELETE",
        "safety.stale_passes_before_delete",
    ),
];

impl Config {
    /// Parses and validates a configuration text; `source_name` names it in errors.
    pub fn parse(text: &str, source_name: &str) -> Result<Self, ConfigError> {
        Self::parse_with_env(text, source_name, |_| None)
    }

    /// Like [`Config::parse`], then applies the [`ENV_OVERRIDES`] that `env` knows before
    /// validating; a problem with an overridden value names the variable.
    pub fn parse_with_env(
        text: &str,
        source_name: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let fail = |problems| ConfigError {
            source_name: source_name.to_owned(),
            problems,
        };
        let mut config: Config =
            toml::from_str(text).map_err(|e| fail(vec![syntax_problem(&e)]))?;
        let mut problems = Vec::new();
        let mut overridden = BTreeMap::new();
        for (var, key) in ENV_OVERRIDES {
            let Some(value) = env(var) else { continue };
            overridden.insert(*key, *var);
            if let Err(message) = config.set(key, value.trim()) {
                problems.push(Problem {
                    key: format!("{key} (from {var})"),
                    message,
                });
            }
        }
        for mut problem in config.problems() {
            if let Some(var) = overridden.get(problem.key.as_str()) {
                problem.key = format!("{} (from {var})", problem.key);
            }
            problems.push(problem);
        }
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(fail(problems))
        }
    }

    /// Sets one of the [`ENV_OVERRIDES`] keys from its text.
    fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        let number = |value: &str| {
            value
                .parse::<u64>()
                .map_err(|_| format!("{value:?} is not a whole number"))
        };
        match key {
            "aws.regions" => {
                self.aws.regions = value
                    .split(',')
                    .map(str::trim)
                    .filter(|r| !r.is_empty())
                    .map(str::to_owned)
                    .collect();
            }
            "ledger.location" => value.clone_into(&mut self.ledger.location),
            // Empty turns the lease off, as an unset `lease.table` does.
            "lease.table" => {
                self.lease.table = Some(value.to_owned()).filter(|t| !t.is_empty());
            }
            "run.schedule" => value.clone_into(&mut self.run.schedule),
            "run.jitter_secs" => self.run.jitter_secs = number(value)?,
            "audit.window_secs" => self.audit.window_secs = number(value)?,
            "account_policy.enabled" => {
                self.account_policy.enabled = match value {
                    "true" | "1" => true,
                    "false" | "0" | "" => false,
                    other => return Err(format!("{other:?} is not true or false")),
                };
            }
            "run.listen" => value.clone_into(&mut self.run.listen),
            "safety.stale_passes_before_delete" => {
                let n = number(value)?;
                self.safety.stale_passes_before_delete =
                    Some(u32::try_from(n).map_err(|_| format!("{n} is too large"))?);
            }
            other => return Err(format!("{other} cannot be set from the environment")),
        }
        Ok(())
    }

    /// The first region of `aws.regions`, unless that is `"all"`: where autosub's own calls (STS,
    /// the ledger and lease tables) go.
    pub fn first_region(&self) -> Option<Region> {
        self.aws
            .regions
            .first()
            .filter(|r| *r != ALL_REGIONS)
            .map(|r| Region::new(r.as_str()))
    }

    /// The parsed ledger location (validated by [`Config::parse`]).
    pub fn ledger_location(&self) -> LedgerLocation {
        LedgerLocation::parse(&self.ledger.location).unwrap_or(LedgerLocation::None)
    }

    /// The configured forwarders by region.
    pub fn forwarder_refs(&self) -> BTreeMap<Region, ForwarderRef> {
        self.forwarders
            .iter()
            .map(|(region, value)| (Region::new(region.as_str()), ForwarderRef::parse(value)))
            .collect()
    }

    /// The forwarders of one fleet account: `[forwarders]`, overridden region by region by the
    /// account's own.
    pub fn forwarder_refs_for(&self, account: &AccountConfig) -> BTreeMap<Region, ForwarderRef> {
        let mut refs = self.forwarder_refs();
        refs.extend(
            account
                .forwarders
                .iter()
                .map(|(region, value)| (Region::new(region.as_str()), ForwarderRef::parse(value))),
        );
        refs
    }

    /// Every list of wildcard patterns, by key path.
    fn pattern_lists(&self) -> Vec<(String, &[String])> {
        let mut lists = vec![
            ("safety.protect".to_owned(), self.safety.protect.as_slice()),
            (
                "exclude.log_groups".to_owned(),
                self.exclude.log_groups.as_slice(),
            ),
            (
                "exclude.buckets".to_owned(),
                self.exclude.buckets.as_slice(),
            ),
        ];
        for service in Service::ALL {
            let c = self.services.get(service);
            lists.push((format!("services.{}.include", service.as_str()), &c.include));
            lists.push((format!("services.{}.exclude", service.as_str()), &c.exclude));
        }
        lists
    }

    fn problems(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        let mut problem = |key: String, message: String| problems.push(Problem { key, message });
        if self.forwarders.is_empty() && self.fleet.accounts.iter().all(|a| a.forwarders.is_empty())
        {
            problem(
                "forwarders".into(),
                "no forwarder is configured; add one per region, e.g. `us-east-1 = \"arn:aws:lambda:us-east-1:123456789012:function:datadog-forwarder\"`".into(),
            );
        }
        forwarder_problems("forwarders", &self.forwarders, &mut problem);
        if let Some(account) = &self.aws.account_id
            && (account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()))
        {
            problem(
                "aws.account_id".into(),
                format!("{account:?} is not a 12-digit account id"),
            );
        }
        region_list_problems("aws.regions", &self.aws.regions, &mut problem);
        region_list_problems(
            "account_policy.regions",
            &self.account_policy.regions,
            &mut problem,
        );
        for (i, account) in self.account_policy.accounts.iter().enumerate() {
            if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
                problem(
                    format!("account_policy.accounts[{i}]"),
                    format!("{account:?} is not a 12-digit account id"),
                );
            }
        }
        if self.aws.max_attempts == 0 {
            problem(
                "aws.max_attempts".into(),
                "must be at least 1 (the first attempt counts)".into(),
            );
        }
        if self.aws.concurrency == 0 {
            problem("aws.concurrency".into(), "must be at least 1".into());
        }
        let name = &self.ownership.filter_name;
        if name.is_empty() || name.len() > 512 || name.contains(':') || name.contains('*') {
            problem(
                "ownership.filter_name".into(),
                "must be 1-512 characters without ':' or '*' (CloudWatch Logs' rule)".into(),
            );
        }
        if self.ownership.notification_id_prefix.len() < 3 {
            problem(
                "ownership.notification_id_prefix".into(),
                "must be at least 3 characters, or foreign entries could look like ours".into(),
            );
        }
        let sid = &self.ownership.statement_id_prefix;
        if sid.len() < 3
            || sid.len() > 60
            || !sid
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            problem("ownership.statement_id_prefix".into(), "must be 3-60 characters of letters, digits, '-' and '_' (Lambda's statement id rule, leaving room for our suffix)".into());
        }
        if self.safety.stale_passes_before_delete == Some(0) {
            problem(
                "safety.stale_passes_before_delete".into(),
                "must be at least 1 (1 deletes on the first pass that finds a trigger stale)"
                    .into(),
            );
        }
        if let Err(message) = LedgerLocation::parse(&self.ledger.location) {
            problem("ledger.location".into(), message);
        }
        if let Err(e) = parse_schedule(&self.run.schedule) {
            problem(
                "run.schedule".into(),
                format!(
                    "{:?} is not a cron expression with seconds ({e}); e.g. \"0 */15 * * * *\" runs every 15 minutes",
                    self.run.schedule
                ),
            );
        }
        if self.run.listen.parse::<std::net::SocketAddr>().is_err() {
            problem(
                "run.listen".into(),
                format!(
                    "{:?} is not an address and port such as \"0.0.0.0:8080\"",
                    self.run.listen
                ),
            );
        }
        if self.run.pass_deadline_secs == 0 {
            problem(
                "run.pass_deadline_secs".into(),
                "must be at least 1; it bounds how long one pass may run".into(),
            );
        }
        if self.run.shutdown_grace_secs == 0 {
            problem(
                "run.shutdown_grace_secs".into(),
                "must be at least 1; keep it below the container's stop timeout (ECS: 30 s)".into(),
            );
        }
        if self.safety.max_filters_per_log_group == 0 {
            problem(
                "safety.max_filters_per_log_group".into(),
                "must be at least 1; AWS allows 2 per log group unless raised".into(),
            );
        }
        for (key, patterns) in self.pattern_lists() {
            for (i, pattern) in patterns.iter().enumerate() {
                if let Err(message) = autosub_core::pattern::check(pattern) {
                    problem(format!("{key}[{i}]"), message);
                }
            }
        }
        for service in Service::ALL {
            for (tag, value) in &self.services.get(service).tags {
                if let Err(message) = autosub_core::pattern::check(value) {
                    problem(format!("services.{}.tags.{tag}", service.as_str()), message);
                }
            }
        }
        datadog_problems(&self.datadog, &mut problem);
        fleet::problems(&self.fleet, &self.lease, &self.pacing, &mut problem);
        problems
    }
}

/// Parses a schedule the way the daemon's scheduler (tokio-cron-scheduler) does: six or seven
/// fields, seconds first, day-of-month and day-of-week both applying.
pub fn parse_schedule(expression: &str) -> Result<croner::Cron, croner::errors::CronError> {
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Required)
        .dom_and_dow(true)
        .build()
        .parse(expression)
}

fn datadog_problems(dd: &DatadogConfig, problem: &mut impl FnMut(String, String)) {
    let site = match Site::parse(&dd.site) {
        Ok(site) => Some(site),
        Err(e) => {
            problem("datadog.site".into(), e.to_string());
            None
        }
    };
    let pl = &dd.privatelink;
    if pl.enabled {
        if let Some(Err(e)) = site.map(Site::require_privatelink) {
            problem("datadog.privatelink.enabled".into(), e.to_string());
        }
        if pl.vpc_cidrs.is_empty() {
            problem(
                "datadog.privatelink.vpc_cidrs".into(),
                "list the CIDR blocks of the VPC(s) holding the Datadog endpoints, e.g. [\"10.0.0.0/16\"]".into(),
            );
        }
        if pl.services.is_empty() {
            problem(
                "datadog.privatelink.services".into(),
                "name at least one Datadog service, e.g. [\"logs_user_intake\", \"api\"]".into(),
            );
        }
    }
    for (i, cidr) in pl.vpc_cidrs.iter().enumerate() {
        if let Err(e) = cidr.parse::<Cidr>() {
            problem(format!("datadog.privatelink.vpc_cidrs[{i}]"), e.to_string());
        }
    }
    for (i, name) in pl.services.iter().enumerate() {
        if DatadogService::parse(name).is_none() {
            let valid: Vec<&str> = DatadogService::ALL.iter().map(|s| s.as_str()).collect();
            problem(
                format!("datadog.privatelink.services[{i}]"),
                format!(
                    "{name:?} is not a Datadog PrivateLink service; use one of {}",
                    valid.join(", ")
                ),
            );
        }
    }
    let t = &dd.telemetry;
    if let Some(addr) = &t.dogstatsd_addr {
        let port_ok = addr.rsplit_once(':').is_some_and(|(host, port)| {
            !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0)
        });
        if !port_ok {
            problem(
                "datadog.telemetry.dogstatsd_addr".into(),
                format!("{addr:?} is not host:port, e.g. \"127.0.0.1:8125\""),
            );
        }
    }
    if let Some(url) = &t.api_url {
        match HostPort::from_url(url) {
            Err(e) => problem("datadog.telemetry.api_url".into(), e.to_string()),
            // Events carry the API key: in clear text only to this machine (a local stub or
            // agent), never across a network.
            Ok(hp)
                if !url.to_ascii_lowercase().starts_with("https://")
                    && !matches!(hp.host.as_str(), "localhost" | "127.0.0.1" | "::1") =>
            {
                problem(
                    "datadog.telemetry.api_url".into(),
                    format!(
                        "{url:?} is not https: events carry the Datadog API key; use https:// (plain http only to localhost)"
                    ),
                );
            }
            Ok(_) => {}
        }
    }
    for (i, tag) in t.tags.iter().enumerate() {
        if tag.is_empty() || tag.contains([',', '|', '#', ' ']) {
            problem(
                format!("datadog.telemetry.tags[{i}]"),
                format!(
                    "{tag:?} is not a Datadog tag (no spaces, ',', '|' or '#'), e.g. \"env:prod\""
                ),
            );
        }
    }
}

/// Problems of a region list at `key`: region codes, or `["all"]` alone.
fn region_list_problems(key: &str, regions: &[String], problem: &mut impl FnMut(String, String)) {
    if regions.iter().any(|r| r == ALL_REGIONS) {
        if regions.len() > 1 {
            problem(
                key.to_owned(),
                "\"all\" means every region enabled in the account; list it alone or list regions"
                    .into(),
            );
        }
        return;
    }
    for (i, region) in regions.iter().enumerate() {
        if !looks_like_region(region) {
            problem(
                format!("{key}[{i}]"),
                format!("{region:?} is not an AWS region code such as \"us-east-1\", or \"all\""),
            );
        }
    }
}

/// Problems of a `[forwarders]` table at `key`.
fn forwarder_problems(
    key: &str,
    forwarders: &BTreeMap<String, String>,
    problem: &mut impl FnMut(String, String),
) {
    for (region, value) in forwarders {
        let key = format!("{key}.{region}");
        if !looks_like_region(region) {
            problem(
                key.clone(),
                format!("{region:?} is not an AWS region code such as \"us-east-1\""),
            );
        }
        if value.starts_with("arn:") {
            match FunctionArn::parse(value) {
                Ok(arn) if arn.region().as_str() != region => problem(
                    key,
                    format!(
                        "the function is in {} but is listed for {region}; S3 and CloudWatch Logs can only invoke a forwarder in their own region",
                        arn.region()
                    ),
                ),
                Ok(_) => {}
                Err(e) => problem(key, e.to_string()),
            }
        } else if value.is_empty() || value.contains(':') || value.len() > 64 {
            problem(
                key,
                format!(
                    "{value:?} is neither a function ARN nor a function name (1-64 letters, digits, '-' or '_')"
                ),
            );
        }
    }
}

fn looks_like_region(region: &str) -> bool {
    let parts: Vec<&str> = region.split('-').collect();
    parts.len() >= 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
        && parts
            .last()
            .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()))
}

fn syntax_problem(error: &toml::de::Error) -> Problem {
    Problem {
        key: String::new(),
        message: error.to_string().trim_end().replace('\n', "\n    "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
[forwarders]
us-east-1 = "arn:aws:lambda:us-east-1:123456789012:function:datadog-forwarder"
"#;

    #[test]
    fn defaults_fill_everything_but_the_forwarders() {
        let config = Config::parse(MINIMAL, "t.toml").unwrap();
        assert_eq!(config.ownership.filter_name, "autosub");
        assert_eq!(config.safety.max_filters_per_log_group, 2);
        assert_eq!(
            config.services.enabled().len(),
            Service::ALL.len(),
            "every service is on by default"
        );
    }

    #[test]
    fn account_policy_mode_is_off_unless_asked_and_scoped_to_its_lists() {
        let config = Config::parse(MINIMAL, "t.toml").unwrap();
        assert!(!config.account_policy.applies("123456789012", "us-east-1"));
        let text = format!(
            "{MINIMAL}[account_policy]\nenabled = true\nregions = [\"us-east-1\"]\naccounts = [\"123456789012\"]\n"
        );
        let config = Config::parse(&text, "t.toml").unwrap();
        assert!(config.account_policy.applies("123456789012", "us-east-1"));
        assert!(!config.account_policy.applies("123456789012", "eu-west-1"));
        assert!(!config.account_policy.applies("210987654321", "us-east-1"));
        let bad = format!("{MINIMAL}[account_policy]\nenabled = true\naccounts = [\"12\"]\n");
        let err = Config::parse(&bad, "bad.toml").unwrap_err();
        assert_eq!(err.problems[0].key, "account_policy.accounts[0]");
    }

    #[test]
    fn a_pattern_the_matcher_cannot_use_is_a_problem_at_its_key() {
        let text = format!(
            "{MINIMAL}[safety]\nprotect = [\"ok-*\", \"prod-**\"]\n[services.lambda]\nexclude = [\"\"]\n[services.lambda.tags]\nteam = \"a**\"\n"
        );
        let err = Config::parse(&text, "bad.toml").unwrap_err();
        let keys: Vec<&str> = err.problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "safety.protect[1]",
                "services.lambda.exclude[0]",
                "services.lambda.tags.team"
            ]
        );
        assert!(err.problems[0].message.contains("single *"), "{err}");
    }

    #[test]
    fn events_go_over_https_except_to_this_machine() {
        let with = |url: &str| {
            let text =
                format!("{MINIMAL}[datadog.telemetry]\nevents = true\napi_url = \"{url}\"\n");
            Config::parse(&text, "t.toml")
                .map(drop)
                .map_err(|e| e.to_string())
        };
        assert!(with("https://api.datadoghq.eu").is_ok());
        assert!(with("http://127.0.0.1:8080").is_ok());
        let err = with("http://api.datadoghq.eu").unwrap_err();
        assert!(
            err.contains("datadog.telemetry.api_url") && err.contains("https"),
            "{err}"
        );
    }

    #[test]
    fn every_problem_is_reported_with_its_key() {
        let text = r#"
[aws]
account_id = "12345"
max_attempts = 0
[forwarders]
eu-west-1 = "arn:aws:lambda:us-east-1:123456789012:function:fwd"
moon-base = "fwd"
[ownership]
filter_name = "a:b"
"#;
        let err = Config::parse(text, "bad.toml").unwrap_err();
        let keys: Vec<&str> = err.problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "forwarders.eu-west-1",
                "forwarders.moon-base",
                "aws.account_id",
                "aws.max_attempts",
                "ownership.filter_name"
            ]
        );
        assert!(
            err.to_string()
                .contains("S3 and CloudWatch Logs can only invoke a forwarder in their own region")
        );
    }

    #[test]
    fn environment_overrides_are_validated_and_named() {
        let env = |var: &str| match var {
            "AUTOSUB_SCHEDULE" => Some("*/5 * * * * *".to_owned()),
            "AUTOSUB_REGIONS" => Some("us-east-1, eu-west-1".to_owned()),
            "AUTOSUB_LEDGER" => Some("dynamodb://autosub-ledger".to_owned()),
            "AUTOSUB_LEASE_TABLE" => Some("autosub-lease".to_owned()),
            _ => None,
        };
        let config = Config::parse_with_env(MINIMAL, "t.toml", env).unwrap();
        assert_eq!(config.run.schedule, "*/5 * * * * *");
        assert_eq!(config.aws.regions, ["us-east-1", "eu-west-1"]);
        assert_eq!(
            config.ledger_location(),
            LedgerLocation::DynamoDb {
                table: "autosub-ledger".into()
            }
        );
        assert_eq!(config.lease.table.as_deref(), Some("autosub-lease"));
        let leased = format!("{MINIMAL}[lease]\ntable = \"from-file\"\n");
        let config = Config::parse_with_env(&leased, "t.toml", |var: &str| {
            (var == "AUTOSUB_LEASE_TABLE").then(String::new)
        })
        .unwrap();
        assert_eq!(
            config.lease.table, None,
            "an empty AUTOSUB_LEASE_TABLE turns the lease off"
        );

        let env = |var: &str| match var {
            "AUTOSUB_SCHEDULE" => Some("every minute".to_owned()),
            "AUTOSUB_JITTER_SECS" => Some("ten".to_owned()),
            "AUTOSUB_LEDGER" => Some("s3://only-a-bucket".to_owned()),
            _ => None,
        };
        let err = Config::parse_with_env(MINIMAL, "t.toml", env).unwrap_err();
        let keys: Vec<&str> = err.problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "run.jitter_secs (from AUTOSUB_JITTER_SECS)",
                "ledger.location (from AUTOSUB_LEDGER)",
                "run.schedule (from AUTOSUB_SCHEDULE)",
            ]
        );
    }

    #[test]
    fn ledger_locations_parse_or_say_what_is_accepted() {
        assert_eq!(
            LedgerLocation::parse("s3://b/autosub/ledger.json"),
            Ok(LedgerLocation::S3 {
                bucket: "b".into(),
                key: "autosub/ledger.json".into()
            })
        );
        assert_eq!(
            LedgerLocation::parse("state/ledger.json"),
            Ok(LedgerLocation::File("state/ledger.json".into()))
        );
        assert_eq!(LedgerLocation::parse("none"), Ok(LedgerLocation::None));
        let err = LedgerLocation::parse("redis://x").unwrap_err();
        assert!(
            err.contains("unknown scheme") && err.contains("dynamodb://table"),
            "{err}"
        );
    }

    #[test]
    fn datadog_section_is_validated_with_key_paths() {
        let config = Config::parse(MINIMAL, "t.toml").unwrap();
        assert_eq!(config.datadog.site(), Site::Us1);
        assert!(!config.datadog.privatelink.enabled);
        assert_eq!(config.datadog.telemetry, TelemetryConfig::default());

        let good = format!(
            r#"{MINIMAL}
[datadog]
site = "ap1"
[datadog.privatelink]
enabled = true
vpc_cidrs = ["10.0.0.0/16", "10.1.0.0/16"]
services = ["api", "logs_user_intake", "api"]
[datadog.telemetry]
dogstatsd_addr = "127.0.0.1:8125"
events = true
tags = ["env:prod"]
"#
        );
        let config = Config::parse(&good, "t.toml").unwrap();
        assert_eq!(config.datadog.site(), Site::Ap1);
        assert_eq!(
            config.datadog.privatelink.selected(),
            [DatadogService::LogsUserIntake, DatadogService::Api]
        );
        assert_eq!(config.datadog.privatelink.cidrs().len(), 2);

        let bad = format!(
            r#"{MINIMAL}
[datadog]
site = "eu"
[datadog.privatelink]
enabled = true
vpc_cidrs = ["10.0.0.0/33"]
services = ["logs"]
[datadog.telemetry]
dogstatsd_addr = "localhost"
api_url = "api.datadoghq.eu"
tags = ["env prod"]
"#
        );
        let err = Config::parse(&bad, "bad.toml").unwrap_err();
        let keys: Vec<&str> = err.problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "datadog.privatelink.enabled",
                "datadog.privatelink.vpc_cidrs[0]",
                "datadog.privatelink.services[0]",
                "datadog.telemetry.dogstatsd_addr",
                "datadog.telemetry.api_url",
                "datadog.telemetry.tags[0]",
            ]
        );
        let text = err.to_string();
        assert!(
            text.contains("datadog privatelink is not offered for site datadoghq.eu"),
            "{text}"
        );
        assert!(
            text.contains("logs_user_intake"),
            "lists the services: {text}"
        );

        let err = Config::parse(&format!("{MINIMAL}\n[datadog]\nsite = \"mars\"\n[datadog.privatelink]\nenabled = true\nvpc_cidrs = []\n"), "t.toml").unwrap_err();
        let keys: Vec<&str> = err.problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["datadog.site", "datadog.privatelink.vpc_cidrs"]);
        let err = Config::parse(
            &format!("{MINIMAL}\n[datadog.telemetry]\nevent = true\n"),
            "t.toml",
        )
        .unwrap_err();
        assert!(err.to_string().contains("unknown field `event`"), "{err}");
    }

    #[test]
    fn unknown_keys_are_errors_that_name_the_key() {
        let err =
            Config::parse(&format!("{MINIMAL}\n[safety]\nmax_delete = 3\n"), "t.toml").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("unknown field `max_delete`"), "{text}");
        assert!(
            text.contains("max_deletes_per_pass"),
            "lists the valid keys: {text}"
        );
    }
}
