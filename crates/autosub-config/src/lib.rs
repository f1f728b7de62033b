//! autosub's configuration: a TOML file parsed into [`Config`], validated without IO.
//!
//! The file is read into raw serde structs (strings as written), then each section is checked
//! and converted into its typed form (`Region`, [`ForwarderRef`], [`LedgerLocation`],
//! [`Schedule`], `SocketAddr`, `Site`, `Cidr`, …). Every problem is collected with its key path
//! and a fix; a [`Config`] exists only when there is none, so nothing downstream re-parses a
//! value or falls back to a default for a bad one. Unknown keys are errors (a typo must not
//! silently fall back to a default).
//!
//! One module per section (`aws`, `forwarders`, `ownership`, `safety`, `services`, `exclude`,
//! `loop_guard`, `ledger`, `audit`, `account_policy`, `run`, `datadog` with `privatelink` and
//! `telemetry`, `fleet`, `lease`, `pacing`) holds its types and checks; this file holds
//! [`Config`], loading with the environment overrides, and the problems.

use std::collections::BTreeMap;
use std::fmt;

use autosub_core::Region;
use serde::Deserialize;

mod account_policy;
mod audit;
mod aws;
mod datadog;
mod events;
mod exclude;
mod fleet;
mod forwarders;
mod lease;
mod ledger;
mod loop_guard;
mod ownership;
mod pacing;
mod privatelink;
mod run;
mod safety;
mod services;
mod telemetry;

pub use account_policy::AccountPolicyConfig;
pub use audit::AuditConfig;
pub use aws::{ALL_REGIONS, AwsConfig};
pub use datadog::DatadogConfig;
pub use events::{EventsConfig, QueueUrl};
pub use exclude::ExcludeConfig;
pub use fleet::{AccountConfig, FleetConfig, OrganizationsConfig, role_arn_account};
pub use forwarders::{ForwarderRef, Forwarders};
pub use lease::LeaseConfig;
pub use ledger::{LedgerConfig, LedgerLocation};
pub use loop_guard::LoopGuardConfig;
pub use ownership::OwnershipConfig;
pub use pacing::PacingConfig;
pub use privatelink::PrivateLinkConfig;
pub use run::{RunConfig, Schedule};
pub use safety::{DAEMON_STALE_PASSES, SafetyConfig};
pub use services::{ServiceConfig, ServicesConfig};
pub use telemetry::TelemetryConfig;

/// The whole configuration, validated: every value has its type.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// How to reach AWS.
    pub aws: AwsConfig,
    /// The forwarder of each region.
    pub forwarders: Forwarders,
    /// Our ownership marks.
    pub ownership: OwnershipConfig,
    /// Safety rails.
    pub safety: SafetyConfig,
    /// Which discoverers run.
    pub services: ServicesConfig,
    /// Locations never to subscribe.
    pub exclude: ExcludeConfig,
    /// Locations the forwarders or autosub write to, on top of the forwarders' own log groups.
    pub loop_guard: LoopGuardConfig,
    /// Where autosub remembers the triggers it owns between passes.
    pub ledger: LedgerConfig,
    /// How often what the ledger vouches for is re-read.
    pub audit: AuditConfig,
    /// Log groups delivered by one account-level subscription filter policy instead of
    /// per-group filters.
    pub account_policy: AccountPolicyConfig,
    /// The long-running service (`autosub run`).
    pub run: RunConfig,
    /// The Datadog site, PrivateLink (checked by `autosub doctor`) and autosub's own telemetry.
    pub datadog: DatadogConfig,
    /// Many accounts from one process.
    pub fleet: FleetConfig,
    /// The lease that keeps replicas off each other's targets.
    pub lease: LeaseConfig,
    /// Client-side pacing of AWS calls.
    pub pacing: PacingConfig,
    /// Event-driven mode: the queue of CloudTrail events `autosub run` follows.
    pub events: EventsConfig,
}

/// The file as written: what serde reads before validation.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    aws: AwsConfig,
    /// Keyed by region: a function ARN, or a name in the target account.
    #[serde(default)]
    forwarders: BTreeMap<String, String>,
    #[serde(default)]
    ownership: OwnershipConfig,
    #[serde(default)]
    safety: SafetyConfig,
    #[serde(default)]
    services: ServicesConfig,
    #[serde(default)]
    exclude: ExcludeConfig,
    #[serde(default)]
    loop_guard: LoopGuardConfig,
    #[serde(default)]
    ledger: ledger::RawLedgerConfig,
    #[serde(default)]
    audit: AuditConfig,
    #[serde(default)]
    account_policy: AccountPolicyConfig,
    #[serde(default)]
    run: run::RawRunConfig,
    #[serde(default)]
    datadog: datadog::RawDatadogConfig,
    #[serde(default)]
    fleet: fleet::RawFleetConfig,
    #[serde(default)]
    lease: LeaseConfig,
    #[serde(default)]
    pacing: PacingConfig,
    #[serde(default)]
    events: events::RawEventsConfig,
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

/// The problems found so far while validating one configuration.
#[derive(Debug, Default)]
pub(crate) struct Problems(Vec<Problem>);

impl Problems {
    /// Records a problem at `key`.
    pub(crate) fn add(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.0.push(Problem {
            key: key.into(),
            message: message.into(),
        });
    }

    /// The parsed value, or `None` with the error recorded at `key`: the only way a section's
    /// conversion goes without a value, so a missing value always has its problem.
    pub(crate) fn check<T, E: fmt::Display>(
        &mut self,
        key: impl Into<String>,
        parsed: Result<T, E>,
    ) -> Option<T> {
        parsed.map_err(|e| self.add(key, e.to_string())).ok()
    }

    /// Every wildcard pattern of `patterns`, checked at `key[i]`.
    pub(crate) fn patterns(&mut self, key: &str, patterns: &[String]) {
        for (i, pattern) in patterns.iter().enumerate() {
            if let Err(message) = autosub_core::pattern::check(pattern) {
                self.add(format!("{key}[{i}]"), message);
            }
        }
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
    ("AUTOSUB_EVENTS_QUEUE_URL", "events.queue_url"),
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
        let mut raw: RawConfig =
            toml::from_str(text).map_err(|e| fail(vec![syntax_problem(&e)]))?;
        let mut problems = Vec::new();
        let mut overridden = BTreeMap::new();
        for (var, key) in ENV_OVERRIDES {
            let Some(value) = env(var) else { continue };
            overridden.insert(*key, *var);
            if let Err(message) = raw.set(key, value.trim()) {
                problems.push(Problem {
                    key: format!("{key} (from {var})"),
                    message,
                });
            }
        }
        let mut found = Problems::default();
        let config = raw.validate(&mut found);
        for mut problem in found.0 {
            if let Some(var) = overridden.get(problem.key.as_str()) {
                problem.key = format!("{} (from {var})", problem.key);
            }
            problems.push(problem);
        }
        match config {
            Some(config) if problems.is_empty() => Ok(config),
            None if problems.is_empty() => Err(fail(vec![Problem {
                key: String::new(),
                message: "the configuration could not be read (a bug: no problem was recorded)"
                    .into(),
            }])),
            _ => Err(fail(problems)),
        }
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

    /// The region autosub calls the `[events]` queue in: its URL's, else (an emulator's URL names
    /// none) [`Config::first_region`]; `None` without a queue, or with neither (then the caller's
    /// home region).
    pub fn events_queue_region(&self) -> Option<Region> {
        let queue = self.events.queue.as_ref()?;
        queue.region.clone().or_else(|| self.first_region())
    }

    /// The forwarders of one fleet account: `[forwarders]`, overridden region by region by the
    /// account's own.
    pub fn forwarders_for(&self, account: &AccountConfig) -> Forwarders {
        let mut forwarders = self.forwarders.clone();
        forwarders.extend(account.forwarders.clone());
        forwarders
    }
}

impl RawConfig {
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
            // Empty turns event-driven mode off.
            "events.queue_url" => self.events.queue_url = Some(value.to_owned()),
            "safety.stale_passes_before_delete" => {
                let n = number(value)?;
                self.safety.stale_passes_before_delete =
                    Some(u32::try_from(n).map_err(|_| format!("{n} is too large"))?);
            }
            other => return Err(format!("{other} cannot be set from the environment")),
        }
        Ok(())
    }

    /// Checks every section and converts it; `None` when a problem was recorded.
    fn validate(self, p: &mut Problems) -> Option<Config> {
        if self.forwarders.is_empty() && self.fleet.accounts.iter().all(|a| a.forwarders.is_empty())
        {
            p.add(
                "forwarders",
                "no forwarder is configured; add one per region, e.g. `us-east-1 = \"arn:aws:lambda:us-east-1:123456789012:function:datadog-forwarder\"`",
            );
        }
        let forwarders = forwarders::validate("forwarders", self.forwarders, p);
        self.aws.check(p);
        self.account_policy.check(p);
        self.ownership.check(p);
        self.safety.check(p);
        let ledger = self.ledger.validate(p);
        let run = self.run.validate(p);
        self.exclude.check(p);
        self.services.check(p);
        let datadog = self.datadog.validate(p);
        let fleet = self.fleet.validate(p);
        self.lease.check(p);
        self.pacing.check(p);
        let events = self.events.validate(p);
        Some(Config {
            aws: self.aws,
            forwarders: forwarders?,
            ownership: self.ownership,
            safety: self.safety,
            services: self.services,
            exclude: self.exclude,
            loop_guard: self.loop_guard,
            ledger: ledger?,
            audit: self.audit,
            account_policy: self.account_policy,
            run: run?,
            datadog: datadog?,
            fleet: fleet?,
            lease: self.lease,
            pacing: self.pacing,
            events: events?,
        })
    }
}

fn syntax_problem(error: &toml::de::Error) -> Problem {
    Problem {
        key: String::new(),
        message: error.to_string().trim_end().replace('\n', "\n    "),
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use autosub_core::Service;
    use autosub_core::datadog::Site;

    use super::*;

    pub(crate) const MINIMAL: &str = r#"
[forwarders]
us-east-1 = "arn:aws:lambda:us-east-1:123456789012:function:datadog-forwarder"
"#;

    /// The keys of the problems `text` has (it must be invalid).
    pub(crate) fn problem_keys(text: &str) -> Vec<String> {
        let err = Config::parse(text, "bad.toml").unwrap_err();
        err.problems.into_iter().map(|p| p.key).collect()
    }

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
        assert_eq!(
            config.ledger.location,
            LedgerLocation::File("autosub-ledger.json".into())
        );
        assert_eq!(config.run.schedule.as_str(), "0 */15 * * * *");
        assert_eq!(
            config.run.listen,
            "0.0.0.0:8080".parse::<SocketAddr>().unwrap()
        );
        assert_eq!(config.datadog.site, Site::Us1);
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

    /// Each value an accessor once re-parsed, falling back to a default (or dropping it) when it
    /// was bad, is now a problem at its key: no `Config` exists with a bad one.
    #[test]
    fn a_value_once_parsed_with_a_fallback_is_a_problem_at_its_key() {
        let cases = [
            ("[ledger]\nlocation = \"redis://x\"\n", "ledger.location"),
            ("[run]\nschedule = \"every minute\"\n", "run.schedule"),
            ("[run]\nlisten = \"localhost:80\"\n", "run.listen"),
            ("[datadog]\nsite = \"mars\"\n", "datadog.site"),
            (
                "[datadog.privatelink]\nvpc_cidrs = [\"10.0.0.0/16\", \"10.1.0.0\"]\n",
                "datadog.privatelink.vpc_cidrs[1]",
            ),
            (
                "[datadog.privatelink]\nservices = [\"api\", \"logs\"]\n",
                "datadog.privatelink.services[1]",
            ),
            // MINIMAL ends inside `[forwarders]`: a line without a header adds to it.
            (
                "eu-west-1 = \"arn:aws:lambda:eu-west-1:function:fwd\"\n",
                "forwarders.eu-west-1",
            ),
            (
                "[[fleet.accounts]]\nid = \"222222222222\"\nforwarders = { eu-west-1 = \"a:b\" }\n",
                "fleet.accounts[0].forwarders.eu-west-1",
            ),
        ];
        for (section, key) in cases {
            let text = format!("{MINIMAL}{section}");
            assert_eq!(problem_keys(&text), [key], "{section}");
        }
    }

    #[test]
    fn environment_overrides_are_validated_and_named() {
        let env = |var: &str| match var {
            "AUTOSUB_SCHEDULE" => Some("*/5 * * * * *".to_owned()),
            "AUTOSUB_REGIONS" => Some("us-east-1, eu-west-1".to_owned()),
            "AUTOSUB_LEDGER" => Some("dynamodb://autosub-ledger".to_owned()),
            "AUTOSUB_LEASE_TABLE" => Some("autosub-lease".to_owned()),
            "AUTOSUB_LISTEN" => Some("127.0.0.1:9090".to_owned()),
            _ => None,
        };
        let config = Config::parse_with_env(MINIMAL, "t.toml", env).unwrap();
        assert_eq!(config.run.schedule.as_str(), "*/5 * * * * *");
        assert_eq!(config.aws.regions, ["us-east-1", "eu-west-1"]);
        assert_eq!(
            config.ledger.location,
            LedgerLocation::DynamoDb {
                table: "autosub-ledger".into()
            }
        );
        assert_eq!(config.lease.table.as_deref(), Some("autosub-lease"));
        assert_eq!(
            config.run.listen,
            "127.0.0.1:9090".parse::<SocketAddr>().unwrap()
        );
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
            "AUTOSUB_LISTEN" => Some(":8080".to_owned()),
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
                "run.listen (from AUTOSUB_LISTEN)",
            ]
        );
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
