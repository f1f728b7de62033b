//! `[datadog.telemetry]`: where autosub's own telemetry goes.

use autosub_core::net::HostPort;
use serde::Deserialize;

use crate::Problems;

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

impl TelemetryConfig {
    pub(crate) fn check(&self, p: &mut Problems) {
        if let Some(addr) = &self.dogstatsd_addr {
            let port_ok = addr.rsplit_once(':').is_some_and(|(host, port)| {
                !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0)
            });
            if !port_ok {
                p.add(
                    "datadog.telemetry.dogstatsd_addr",
                    format!("{addr:?} is not host:port, e.g. \"127.0.0.1:8125\""),
                );
            }
        }
        if let Some(url) = &self.api_url {
            match HostPort::from_url(url) {
                Err(e) => p.add("datadog.telemetry.api_url", e.to_string()),
                // Events carry the API key: in clear text only to this machine (a local stub
                // or agent), never across a network.
                Ok(hp)
                    if !url.to_ascii_lowercase().starts_with("https://")
                        && !matches!(hp.host.as_str(), "localhost" | "127.0.0.1" | "::1") =>
                {
                    p.add(
                        "datadog.telemetry.api_url",
                        format!(
                            "{url:?} is not https: events carry the Datadog API key; use https:// (plain http only to localhost)"
                        ),
                    );
                }
                Ok(_) => {}
            }
        }
        for (i, tag) in self.tags.iter().enumerate() {
            if tag.is_empty() || tag.contains([',', '|', '#', ' ']) {
                p.add(
                    format!("datadog.telemetry.tags[{i}]"),
                    format!(
                        "{tag:?} is not a Datadog tag (no spaces, ',', '|' or '#'), e.g. \"env:prod\""
                    ),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::Config;
    use crate::tests::MINIMAL;

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
}
