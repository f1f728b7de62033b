//! autosub's own run results sent to Datadog: DogStatsD metrics over UDP to an agent, and one
//! event per pass with changes and per target that could not be reconciled, through the Datadog
//! API of the configured site.
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
use autosub_core::plan::Action;
use serde_json::json;
use tokio::net::UdpSocket;

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

    /// Sends the results of a run: metrics for every pass, every target failure and the run's
    /// duration; an event for every pass that planned or applied changes and for every target
    /// failure. Never fails; problems are logged as warnings.
    pub async fn send(
        &self,
        reports: &[PassReport],
        failures: &[TargetFailure],
        duration: Duration,
    ) {
        if let Some(addr) = &self.statsd {
            let lines = metric_lines(reports, failures, duration, &self.tags);
            if let Err(e) = send_datagrams(addr, &lines).await {
                tracing::warn!(%addr, error = %e, "cannot send metrics to dogstatsd");
            }
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

/// The DogStatsD lines for a run (plain text protocol `name:value|type|#tag:v,…`).
///
/// Per pass (tags `account`, `region`, and the configured ones): `autosub.pass.count` (counter,
/// tag `status:ok|partial`), `autosub.changes.planned` (counter per `action`),
/// `autosub.changes.applied` / `autosub.changes.failed` (counters, when the plan was applied),
/// `autosub.skips` (counter per `reason`), `autosub.sources.discovered` and
/// `autosub.discovery.gaps` (gauges). Per target failure: `autosub.target.failures` (counter,
/// tags `account`, `reason`, and `region` unless the whole account failed). Per run:
/// `autosub.run.duration_seconds` (gauge).
pub fn metric_lines(
    reports: &[PassReport],
    failures: &[TargetFailure],
    duration: Duration,
    tags: &[String],
) -> Vec<String> {
    let line = |name: &str, value: String, kind: &str, tags: &[String]| {
        if tags.is_empty() {
            format!("{name}:{value}|{kind}")
        } else {
            format!("{name}:{value}|{kind}|#{}", tags.join(","))
        }
    };
    let mut lines = Vec::new();
    for report in reports {
        let mut base: Vec<String> = vec![
            format!("account:{}", report.target.account),
            format!("region:{}", report.target.region),
        ];
        base.extend(tags.iter().cloned());
        let with = |extra: String| {
            let mut t = base.clone();
            t.push(extra);
            t
        };
        let partial = report.failures() > 0 || !report.discovery.gaps.is_empty();
        let status = if partial { "partial" } else { "ok" };
        lines.push(line(
            "autosub.pass.count",
            "1".into(),
            "c",
            &with(format!("status:{status}")),
        ));
        for action in [Action::Create, Action::Update, Action::Delete] {
            lines.push(line(
                "autosub.changes.planned",
                report.plan.count(action).to_string(),
                "c",
                &with(format!("action:{action}")),
            ));
        }
        if let Some(outcomes) = &report.outcomes {
            let failed = report.failures();
            let applied = outcomes
                .iter()
                .filter(|o| o.outcome == autosub_engine::Outcome::Applied)
                .count();
            lines.push(line(
                "autosub.changes.applied",
                applied.to_string(),
                "c",
                &base,
            ));
            lines.push(line(
                "autosub.changes.failed",
                failed.to_string(),
                "c",
                &base,
            ));
        }
        let mut skips: std::collections::BTreeMap<&str, usize> = Default::default();
        for skip in &report.plan.skips {
            *skips.entry(skip.reason.as_str()).or_default() += 1;
        }
        for (reason, count) in skips {
            lines.push(line(
                "autosub.skips",
                count.to_string(),
                "c",
                &with(format!("reason:{reason}")),
            ));
        }
        lines.push(line(
            "autosub.sources.discovered",
            report.discovery.sources.len().to_string(),
            "g",
            &base,
        ));
        lines.push(line(
            "autosub.discovery.gaps",
            report.discovery.gaps.len().to_string(),
            "g",
            &base,
        ));
    }
    for failure in failures {
        lines.push(line(
            "autosub.target.failures",
            "1".into(),
            "c",
            &failure_tags(failure, tags),
        ));
    }
    lines.push(line(
        "autosub.run.duration_seconds",
        format!("{:.3}", duration.as_secs_f64()),
        "g",
        tags,
    ));
    lines
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
