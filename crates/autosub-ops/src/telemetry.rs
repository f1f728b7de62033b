//! autosub's own run results sent to Datadog: DogStatsD metrics over UDP to an agent, and one
//! event per pass with changes and per target that could not be reconciled, through the Datadog
//! API of the configured site.
//!
//! The metrics are the run's events ([`autosub_engine::internal_events`]) under the one vocabulary the
//! daemon's `/metrics` serves too: the same metrics, label keys (as tag keys) and values, each
//! name spelled the DogStatsD way ([`Metric::statsd_name`]).
//!
//! Guarantees: [`Telemetry::send`] never fails and never blocks a pass for long (every send has
//! a timeout); failures are logged as warnings. The API key is never logged, printed or put in
//! an error: [`ApiKey`]'s `Debug` is redacted and it has no `Display`.
//! Assumptions: the config was validated.

use std::fmt;
use std::time::Duration;

use autosub_aws::apis::SecretsApi;
use autosub_aws::error::AwsError;
use autosub_config::DatadogConfig;
use autosub_core::SecretArn;
use serde_json::json;
use tokio::net::UdpSocket;

use autosub_engine::internal_events::{
    EVERY, Kind, Measurement, Metric, RunEvents, RunOutcome, Value,
};
use autosub_engine::pass::PassReport;
use autosub_engine::reconcile::TargetFailure;

/// The environment variable holding the Datadog API key.
pub const API_KEY_ENV: &str = "DD_API_KEY";
/// The environment variable naming a Secrets Manager secret that holds the API key.
pub const API_KEY_SECRET_ARN_ENV: &str = "DD_API_KEY_SECRET_ARN";

/// How long one HTTP post or UDP send may take before it is given up.
const SEND_TIMEOUT: Duration = Duration::from_secs(5);
/// DogStatsD datagrams are kept under a typical MTU minus headers.
const MAX_DATAGRAM: usize = 1400;
/// Changes listed in one event's text; the rest are counted.
const MAX_EVENT_CHANGES: usize = 40;

/// A Datadog API key. Its `Debug` is redacted and it has no `Display`, so it cannot end up in a
/// log line or an error message by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wraps a key (surrounding whitespace is dropped).
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into().trim().to_owned())
    }

    /// The key itself, for the `DD-API-KEY` header only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

/// Where the API key comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApiKeySource {
    /// `DD_API_KEY`.
    Env(ApiKey),
    /// `DD_API_KEY_SECRET_ARN`: a secret holding the key as plain text or as JSON with a
    /// `DD_API_KEY` field.
    Secret(SecretArn),
}

/// Why telemetry could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// `DD_API_KEY_SECRET_ARN` is not a secret ARN.
    #[error(
        "{API_KEY_SECRET_ARN_ENV} is not a Secrets Manager secret ARN; set it to arn:aws:secretsmanager:<region>:<account>:secret:<name>"
    )]
    BadSecretArn,
    /// The secret could not be read.
    #[error(
        "cannot read the datadog api key from secret {secret}; allow secretsmanager:GetSecretValue on it (and kms:Decrypt on its key) and check the secrets manager endpoint of {} is reachable", .secret.region()
    )]
    SecretUnreadable {
        /// The secret.
        secret: SecretArn,
        /// The AWS error.
        #[source]
        source: Box<AwsError>,
    },
    /// The secret holds JSON without a `DD_API_KEY` string field, or nothing.
    #[error(
        "secret {secret} holds no datadog api key; store the key as plain text or as JSON with a \"DD_API_KEY\" field"
    )]
    NoKeyInSecret {
        /// The secret.
        secret: SecretArn,
    },
    /// Events are on but no key is configured.
    #[error(
        "datadog.telemetry.events is on but neither {API_KEY_ENV} nor {API_KEY_SECRET_ARN_ENV} is set; set one or turn events off"
    )]
    NoApiKey,
    /// The HTTP client could not be built.
    #[error("cannot build the http client for datadog events: {0}")]
    Client(String),
}

impl ApiKeySource {
    /// The source the environment names (`get` reads a variable): `DD_API_KEY` wins over
    /// `DD_API_KEY_SECRET_ARN`; `None` when neither is set (or both are empty).
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, TelemetryError> {
        let non_empty = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        if let Some(key) = non_empty(API_KEY_ENV) {
            return Ok(Some(Self::Env(ApiKey::new(key))));
        }
        match non_empty(API_KEY_SECRET_ARN_ENV) {
            Some(arn) => SecretArn::parse(&arn)
                .map(|a| Some(Self::Secret(a)))
                .map_err(|_| TelemetryError::BadSecretArn),
            None => Ok(None),
        }
    }

    /// The key: as given, or read from the secret (in the secret's region).
    pub async fn resolve(&self, secrets: &dyn SecretsApi) -> Result<ApiKey, TelemetryError> {
        match self {
            Self::Env(key) => Ok(key.clone()),
            Self::Secret(secret) => {
                let text = secrets.secret_string(secret).await.map_err(|source| {
                    TelemetryError::SecretUnreadable {
                        secret: secret.clone(),
                        source: Box::new(source),
                    }
                })?;
                api_key_from_secret(&text).ok_or_else(|| TelemetryError::NoKeyInSecret {
                    secret: secret.clone(),
                })
            }
        }
    }
}

/// The key in a secret's text: a JSON object's `DD_API_KEY` field, or the whole text.
pub fn api_key_from_secret(text: &str) -> Option<ApiKey> {
    let text = text.trim();
    if text.starts_with('{') {
        let value: serde_json::Value = serde_json::from_str(text).ok()?;
        let key = value.get(API_KEY_ENV)?.as_str()?.trim();
        return (!key.is_empty()).then(|| ApiKey::new(key));
    }
    (!text.is_empty()).then(|| ApiKey::new(text))
}

/// The sinks autosub's pass results go to.
#[derive(Debug)]
pub struct Telemetry {
    statsd: Option<String>,
    events: Option<Events>,
    tags: Vec<String>,
}

#[derive(Debug)]
struct Events {
    client: reqwest::Client,
    url: String,
    key: ApiKey,
}

impl Telemetry {
    /// The telemetry the config asks for, `None` when it asks for none. A sink that cannot be
    /// set up (no API key, an unreadable secret) is logged as a warning and left out: telemetry
    /// never stops autosub from running.
    pub async fn from_config(
        dd: &DatadogConfig,
        key_source: Option<&ApiKeySource>,
        secrets: &dyn SecretsApi,
    ) -> Option<Self> {
        let t = &dd.telemetry;
        let events = if t.events {
            match Self::events(dd, key_source, secrets).await {
                Ok(events) => Some(events),
                Err(e) => {
                    tracing::warn!(error = %e, "datadog events are off for this run");
                    None
                }
            }
        } else {
            None
        };
        if events.is_none() && t.dogstatsd_addr.is_none() {
            return None;
        }
        Some(Self {
            statsd: t.dogstatsd_addr.clone(),
            events,
            tags: t.tags.clone(),
        })
    }

    async fn events(
        dd: &DatadogConfig,
        key_source: Option<&ApiKeySource>,
        secrets: &dyn SecretsApi,
    ) -> Result<Events, TelemetryError> {
        let key = key_source
            .ok_or(TelemetryError::NoApiKey)?
            .resolve(secrets)
            .await?;
        let base = dd
            .telemetry
            .api_url
            .clone()
            .unwrap_or_else(|| dd.site.api_url());
        let client = reqwest::Client::builder()
            .timeout(SEND_TIMEOUT)
            .user_agent(concat!("autosub/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| TelemetryError::Client(e.to_string()))?;
        Ok(Events {
            client,
            url: format!("{}/api/v1/events", base.trim_end_matches('/')),
            key,
        })
    }

    /// Sends the results of a run: its events as DogStatsD metrics, and a Datadog event for
    /// every pass that planned or applied changes and for every target failure (none for an
    /// interrupted run, which saw only part of the estate). Never fails; problems are logged
    /// as warnings.
    pub async fn send(&self, reports: &[PassReport], failures: &[TargetFailure], run: &RunEvents) {
        if let Some(addr) = &self.statsd {
            let lines = metric_lines(run, &self.tags);
            if let Err(e) = send_datagrams(addr, &lines).await {
                tracing::warn!(%addr, error = %e, "cannot send metrics to dogstatsd");
            }
        }
        if run.outcome == RunOutcome::Interrupted {
            return;
        }
        if let Some(events) = &self.events {
            let bodies = reports
                .iter()
                .filter(|r| !r.plan.is_empty())
                .map(|r| (r.target.to_string(), event_body(r, &self.tags)))
                .chain(
                    failures
                        .iter()
                        .map(|f| (f.scope(), failure_event_body(f, &self.tags))),
                );
            for (target, body) in bodies {
                let sent = events
                    .client
                    .post(&events.url)
                    .header("DD-API-KEY", events.key.expose())
                    .json(&body)
                    .send()
                    .await;
                match sent {
                    Ok(reply) if reply.status().is_success() => {}
                    Ok(reply) => tracing::warn!(
                        url = %events.url,
                        status = reply.status().as_u16(),
                        %target,
                        "datadog refused the pass event; check the api key and datadog.site"
                    ),
                    // reqwest's error names the URL, never the headers.
                    Err(e) => tracing::warn!(
                        url = %events.url,
                        error = %e.without_url(),
                        %target,
                        "cannot post the pass event to datadog"
                    ),
                }
            }
        }
    }
}

async fn send_datagrams(addr: &str, lines: &[String]) -> std::io::Result<()> {
    let send = async {
        let target = tokio::net::lookup_host(addr)
            .await?
            .next()
            .ok_or_else(|| std::io::Error::other("the address resolves to nothing"))?;
        let local = if target.is_ipv4() {
            "0.0.0.0:0"
        } else {
            "[::]:0"
        };
        let socket = UdpSocket::bind(local).await?;
        socket.connect(target).await?;
        for datagram in datagrams(lines) {
            socket.send(datagram.as_bytes()).await?;
        }
        Ok(())
    };
    tokio::time::timeout(SEND_TIMEOUT, send)
        .await
        .map_err(|_| std::io::Error::other("timed out"))?
}

/// Metric lines packed into datagrams of at most [`MAX_DATAGRAM`] bytes, newline-separated as
/// DogStatsD accepts them.
fn datagrams(lines: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in lines {
        match out.last_mut() {
            Some(last) if last.len() + 1 + line.len() <= MAX_DATAGRAM => {
                last.push('\n');
                last.push_str(line);
            }
            _ => out.push(line.clone()),
        }
    }
    out
}

/// The DogStatsD lines of a run's events (plain text protocol `name:value|type|#tag:v,…`), in
/// event order: one line per measurement, named by [`Metric::statsd_name`], of the metric's
/// type (`c`, `g`, `h`), tagged with its labels (`key:value`, in the metric's order; a label
/// that stands for every value, [`EVERY`], is left out) and then the configured `tags`.
/// Counts are integers, seconds have three decimals.
pub fn metric_lines(run: &RunEvents, tags: &[String]) -> Vec<String> {
    run.measurements()
        .iter()
        .map(|m| metric_line(m, tags))
        .collect()
}

fn metric_line(m: &Measurement, tags: &[String]) -> String {
    let kind = match m.metric.kind {
        Kind::Counter => "c",
        Kind::Gauge { .. } => "g",
        Kind::Histogram => "h",
    };
    let value = match m.value {
        Value::Count(n) => n.to_string(),
        Value::Seconds(s) => format!("{s:.3}"),
    };
    let all: Vec<String> = m
        .label_pairs()
        .filter(|(_, value)| *value != EVERY)
        .map(|(key, value)| format!("{key}:{}", tag_value(value)))
        .chain(tags.iter().cloned())
        .collect();
    let name = Metric::statsd_name(m.metric);
    if all.is_empty() {
        format!("{name}:{value}|{kind}")
    } else {
        format!("{name}:{value}|{kind}|#{}", all.join(","))
    }
}

/// A label value as a tag value: the protocol's separators (`|`, `,`, `#`, a newline) would
/// split the line, so they become `_`, as Datadog does with characters a tag cannot hold.
fn tag_value(value: &str) -> String {
    value
        .chars()
        .map(|c| {
            if matches!(c, '|' | ',' | '#' | '\n') {
                '_'
            } else {
                c
            }
        })
        .collect()
}

/// The Datadog event (API v1 `POST /api/v1/events` body) for one pass with changes.
pub fn event_body(report: &PassReport, tags: &[String]) -> serde_json::Value {
    let total = report.plan.changes.len();
    let failed = report.failures();
    let (verb, alert_type) = match &report.outcomes {
        None => ("planned", "info"),
        Some(_) if failed > 0 => ("applied with failures", "error"),
        Some(_) => ("applied", "success"),
    };
    let title = format!("autosub: {total} change(s) {verb} in {}", report.target);
    let mut text = String::new();
    for (i, change) in report.plan.changes.iter().enumerate() {
        if i == MAX_EVENT_CHANGES {
            text.push_str(&format!("… and {} more\n", total - MAX_EVENT_CHANGES));
            break;
        }
        text.push_str(&format!(
            "{} {} {}: {}\n",
            change.action,
            change.trigger.kind(),
            change.trigger.resource(),
            change.reason
        ));
    }
    if failed > 0 {
        text.push_str(&format!("{failed} change(s) failed; see autosub's logs\n"));
    }
    let mut all_tags: Vec<String> = vec![
        format!("account:{}", report.target.account),
        format!("region:{}", report.target.region),
    ];
    all_tags.extend(tags.iter().cloned());
    json!({
        "title": title,
        "text": text,
        "alert_type": alert_type,
        "aggregation_key": format!("autosub-{}-{}", report.target.account, report.target.region),
        "tags": all_tags,
    })
}

/// The tags of a target failure: `account`, `region` (unless the whole account failed), `reason`
/// and the configured ones.
fn failure_tags(failure: &TargetFailure, tags: &[String]) -> Vec<String> {
    let mut all = vec![format!("account:{}", failure.account)];
    if let Some(region) = &failure.region {
        all.push(format!("region:{region}"));
    }
    all.push(format!("reason:{}", failure.reason.as_str()));
    all.extend(tags.iter().cloned());
    all
}

/// The Datadog event (an error) for a target, or a whole account, that could not be reconciled.
pub fn failure_event_body(failure: &TargetFailure, tags: &[String]) -> serde_json::Value {
    let scope = failure.scope();
    json!({
        "title": format!("autosub: cannot reconcile {scope} ({})", failure.reason.as_str()),
        "text": failure.message,
        "alert_type": "error",
        "aggregation_key": format!("autosub-{}-{}", failure.account, failure.region.as_ref().map_or("all", |r| r.as_str())),
        "tags": failure_tags(failure, tags),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_keys_come_from_plain_or_json_secrets_and_never_print() {
        assert_eq!(
            api_key_from_secret(" abc123\n"),
            Some(ApiKey::new("abc123"))
        );
        assert_eq!(
            api_key_from_secret(r#"{"DD_API_KEY": "abc123", "other": 1}"#),
            Some(ApiKey::new("abc123"))
        );
        assert_eq!(api_key_from_secret(r#"{"api_key": "abc123"}"#), None);
        assert_eq!(api_key_from_secret(r#"{"DD_API_KEY": ""}"#), None);
        assert_eq!(api_key_from_secret(""), None);
        assert_eq!(format!("{:?}", ApiKey::new("abc123")), "ApiKey(<redacted>)");
    }

    #[test]
    fn the_environment_names_the_key_source() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        assert_eq!(ApiKeySource::from_env(env(&[])).unwrap(), None);
        assert_eq!(
            ApiKeySource::from_env(env(&[("DD_API_KEY", "k"), ("DD_API_KEY_SECRET_ARN", "x")]))
                .unwrap(),
            Some(ApiKeySource::Env(ApiKey::new("k")))
        );
        const ARN: &str = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:dd";
        assert!(matches!(
            ApiKeySource::from_env(env(&[("DD_API_KEY", " "), ("DD_API_KEY_SECRET_ARN", ARN)])),
            Ok(Some(ApiKeySource::Secret(_)))
        ));
        let err = ApiKeySource::from_env(env(&[("DD_API_KEY_SECRET_ARN", "dd-key")])).unwrap_err();
        assert!(err.to_string().contains("not a Secrets Manager secret ARN"));
    }

    use std::collections::BTreeMap;
    use std::time::SystemTime;

    use autosub_core::ledger::TargetLedger;
    use autosub_core::plan::{Action, Change, ChangeReason, Plan, Skip, SkipReason, Trigger};
    use autosub_core::{Discovery, Gap, Location, LogGroupName, LogSource, Service};
    use autosub_engine::internal_events::METRICS;
    use autosub_engine::metrics::Metrics;
    use autosub_engine::pass::AuditReport;
    use autosub_engine::reconcile::{FailureReason, HeldTarget, RunReport};
    use autosub_engine::{ChangeOutcome, Outcome, Target};

    /// A run that produces every event: changes of each outcome, skips, gaps, sources, AWS
    /// calls and throttles, audit findings, owned triggers, a failed region, a failed account
    /// and a held target.
    fn run() -> RunReport {
        let change = |action, group: &str| Change {
            action,
            trigger: Trigger::SubscriptionFilter {
                log_group: LogGroupName::new(group),
                filter_name: "autosub".into(),
                pattern: String::new(),
                destination: "arn:aws:lambda:us-east-1:111111111111:function:fwd".into(),
            },
            reason: ChangeReason::NoSource,
            after: None,
        };
        let skip = |reason| Skip {
            subject: "log-group:/x".into(),
            reason,
            detail: "d".into(),
        };
        let (create, failing, delete) = (
            change(Action::Create, "/a"),
            change(Action::Create, "/b"),
            change(Action::Delete, "/c"),
        );
        let mut ledger = TargetLedger::default();
        ledger.record_applied(&create, 10);
        let source = LogSource {
            service: Service::Lambda,
            resource_arn: "arn:aws:lambda:us-east-1:111111111111:function:a".into(),
            location: Location::LogGroup {
                name: LogGroupName::new("/a"),
            },
        };
        let pass = PassReport {
            target: Target {
                account: "111111111111".into(),
                region: "us-east-1".into(),
            },
            discovery: Discovery {
                sources: vec![source],
                unsubscribable: vec![],
                loops: vec![],
                gaps: vec![Gap {
                    service: Service::Lambda,
                    detail: "ListFunctions: access denied".into(),
                }],
            },
            plan: Plan {
                changes: vec![create.clone(), failing.clone(), delete.clone()],
                skips: vec![skip(SkipReason::NoFreeSlot), skip(SkipReason::NoFreeSlot)],
                ..Plan::default()
            },
            outcomes: Some(vec![
                ChangeOutcome {
                    change: create,
                    outcome: Outcome::Applied,
                },
                ChangeOutcome {
                    change: failing,
                    outcome: Outcome::Failed {
                        class: "access_denied".into(),
                        error: "e".into(),
                    },
                },
                ChangeOutcome {
                    change: delete,
                    outcome: Outcome::Skipped {
                        reason: SkipReason::StaleWait,
                        detail: "d".into(),
                    },
                },
            ]),
            ledger,
            interrupted: false,
            no_forwarder: None,
            audit: AuditReport {
                log_groups_read: 3,
                buckets_trusted: 1,
                drift: 1,
                ..AuditReport::default()
            },
        };
        RunReport {
            passes: vec![pass],
            failures: vec![
                TargetFailure {
                    account: "222222222222".into(),
                    region: None,
                    reason: FailureReason::AssumeRole,
                    message: "m".into(),
                },
                TargetFailure {
                    account: "333333333333".into(),
                    region: Some("eu-west-1".into()),
                    reason: FailureReason::NoForwarder,
                    message: "m".into(),
                },
            ],
            held: vec![HeldTarget {
                target: Target {
                    account: "444444444444".into(),
                    region: "us-east-1".into(),
                },
                owner: "replica-b".into(),
                until: SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
            }],
            calls: BTreeMap::from([
                (
                    ("logs".into(), "PutSubscriptionFilter".into(), "ok".into()),
                    3,
                ),
                (
                    (
                        "logs".into(),
                        "PutSubscriptionFilter".into(),
                        "access_denied".into(),
                    ),
                    1,
                ),
            ]),
            throttles: BTreeMap::from([("logs".into(), 2)]),
            ledger_errors: vec![],
            duration: Duration::from_millis(1500),
        }
    }

    /// The run's events, as if it had succeeded, so every metric (the last success's time
    /// too) has a value.
    fn events() -> RunEvents {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        RunEvents::of(&run(), RunOutcome::Success, at)
    }

    /// A series: its name and labels (`key` → `value`).
    type Series = (String, BTreeMap<String, String>);

    /// Every series of a Prometheus exposition with its value, named the DogStatsD way
    /// (`autosub_x_total` → `autosub.x`); a histogram by its sum, and a label that stands for
    /// every value (`*`) left out, as DogStatsD leaves it out.
    fn prometheus_series(text: &str) -> BTreeMap<Series, f64> {
        let histograms: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE ")?.strip_suffix(" histogram"))
            .collect();
        let mut out = BTreeMap::new();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (series, value) = line.rsplit_once(' ').unwrap();
            let (name, labels) = series.split_once('{').unwrap_or((series, "}"));
            let name = match histograms.iter().find(|h| name.starts_with(**h)) {
                Some(h) if name == format!("{h}_sum") => *h,
                Some(_) => continue,
                None => name,
            };
            let labels: BTreeMap<String, String> = labels
                .trim_end_matches('}')
                .split("\",")
                .filter(|l| !l.is_empty())
                .map(|l| {
                    let (k, v) = l.split_once("=\"").unwrap();
                    (k.to_owned(), v.trim_end_matches('"').to_owned())
                })
                .filter(|(_, v)| v != EVERY)
                .collect();
            let name = name.replacen("autosub_", "autosub.", 1);
            let name = name.strip_suffix("_total").unwrap_or(&name).to_owned();
            out.insert((name, labels), value.parse().unwrap());
        }
        out
    }

    /// Every series of DogStatsD lines with its value, less the configured `tags`.
    fn statsd_series(lines: &[String], tags: &[String]) -> BTreeMap<Series, f64> {
        let mut out = BTreeMap::new();
        for line in lines {
            let mut parts = line.split('|');
            let (name, value) = parts.next().unwrap().split_once(':').unwrap();
            let _kind = parts.next().unwrap();
            let labels: BTreeMap<String, String> = parts
                .next()
                .map(|t| t.trim_start_matches('#'))
                .into_iter()
                .flat_map(|t| t.split(','))
                .filter(|t| !tags.contains(&(*t).to_owned()))
                .map(|t| {
                    let (k, v) = t.split_once(':').unwrap();
                    (k.to_owned(), v.to_owned())
                })
                .collect();
            let previous = out.insert((name.to_owned(), labels), value.parse().unwrap());
            assert_eq!(previous, None, "one line per series: {line}");
        }
        out
    }

    #[test]
    fn both_metric_sinks_record_every_event_under_the_same_names_labels_and_values() {
        let run = events();
        let prometheus = Metrics::new();
        prometheus.record(&run);
        let tags = vec!["env:test".to_owned()];
        let lines = metric_lines(&run, &tags);

        let from_prometheus = prometheus_series(&prometheus.encode());
        let from_statsd = statsd_series(&lines, &tags);
        assert_eq!(from_statsd, from_prometheus);

        let names: std::collections::BTreeSet<&str> =
            from_statsd.keys().map(|(name, _)| name.as_str()).collect();
        let vocabulary: std::collections::BTreeSet<String> =
            METRICS.iter().map(|m| m.statsd_name()).collect();
        assert_eq!(
            names,
            vocabulary.iter().map(String::as_str).collect(),
            "the run exercises every metric of the vocabulary"
        );
    }

    #[test]
    fn dogstatsd_lines_name_type_and_tag_each_measurement() {
        let tags = vec!["env:test".to_owned()];
        let expected = [
            "autosub.pass_duration_seconds:1.500|h|#env:test",
            "autosub.passes:1|c|#outcome:success,env:test",
            "autosub.last_success_timestamp_seconds:1700000000.000|g|#env:test",
            "autosub.changes:1|c|#action:create,kind:subscription-filter,outcome:applied,env:test",
            "autosub.changes:1|c|#action:create,kind:subscription-filter,outcome:failed,env:test",
            "autosub.changes:1|c|#action:delete,kind:subscription-filter,outcome:skipped,env:test",
            "autosub.aws_calls:1|c|#service:logs,operation:PutSubscriptionFilter,outcome:access_denied,env:test",
            "autosub.aws_calls:3|c|#service:logs,operation:PutSubscriptionFilter,outcome:ok,env:test",
            "autosub.aws_throttles:2|c|#service:logs,env:test",
            "autosub.audit:1|c|#finding:drift,env:test",
            "autosub.audit:0|c|#finding:recovered,env:test",
            "autosub.last_pass_resources:3|g|#kind:log_group,how:read,env:test",
            "autosub.last_pass_resources:0|g|#kind:log_group,how:trusted,env:test",
            "autosub.last_pass_resources:0|g|#kind:log_group,how:swept,env:test",
            "autosub.last_pass_resources:0|g|#kind:bucket,how:read,env:test",
            "autosub.last_pass_resources:1|g|#kind:bucket,how:trusted,env:test",
            "autosub.last_pass_resources:0|g|#kind:bucket,how:swept,env:test",
            "autosub.last_pass_skips:2|g|#reason:no_free_slot,env:test",
            "autosub.last_pass_discovery_gaps:1|g|#env:test",
            "autosub.last_pass_sources:1|g|#env:test",
            "autosub.managed_triggers:1|g|#kind:subscription-filter,env:test",
            "autosub.last_pass_targets:1|g|#outcome:reconciled,env:test",
            "autosub.last_pass_targets:2|g|#outcome:failed,env:test",
            "autosub.last_pass_targets:1|g|#outcome:held,env:test",
            "autosub.last_pass_target_failures:1|g|#account:222222222222,reason:assume_role,env:test",
            "autosub.last_pass_target_failures:1|g|#account:333333333333,region:eu-west-1,reason:no_forwarder,env:test",
            "autosub.last_pass_held_until_timestamp_seconds:1800000000.000|g|#account:444444444444,region:us-east-1,owner:replica-b,env:test",
        ];
        assert_eq!(metric_lines(&events(), &tags), expected);
        // Without configured tags, a metric without labels has no tag section at all.
        assert!(
            metric_lines(&events(), &[]).contains(&"autosub.last_pass_discovery_gaps:1|g".into())
        );
    }

    #[test]
    fn an_interrupted_run_sends_its_counters_but_not_the_last_run_gauges() {
        let at = SystemTime::UNIX_EPOCH;
        let lines = metric_lines(&RunEvents::of(&run(), RunOutcome::Interrupted, at), &[]);
        let names: std::collections::BTreeSet<&str> =
            lines.iter().map(|l| l.split(':').next().unwrap()).collect();
        assert_eq!(
            names,
            [
                "autosub.audit",
                "autosub.aws_calls",
                "autosub.aws_throttles",
                "autosub.changes",
                "autosub.pass_duration_seconds",
                "autosub.passes",
            ]
            .into()
        );
        assert!(lines.contains(&"autosub.passes:1|c|#outcome:interrupted".to_owned()));
    }

    #[test]
    fn tag_values_cannot_split_a_line() {
        assert_eq!(tag_value("a|b,c#d\ne"), "a_b_c_d_e");
        assert_eq!(tag_value("ecs-4f1c:1:9a0e"), "ecs-4f1c:1:9a0e");
    }

    #[test]
    fn metrics_are_packed_into_small_datagrams() {
        let lines: Vec<String> = (0..100).map(|i| format!("autosub.x:{i}|c")).collect();
        let grams = datagrams(&lines);
        assert!(grams.len() > 1);
        assert!(grams.iter().all(|g| g.len() <= MAX_DATAGRAM));
        let back: Vec<&str> = grams.iter().flat_map(|g| g.split('\n')).collect();
        assert_eq!(back, lines.iter().map(String::as_str).collect::<Vec<_>>());
    }
}
