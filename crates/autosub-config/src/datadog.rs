//! `[datadog]`: the Datadog site, with PrivateLink (`privatelink.rs`) and autosub's own
//! telemetry (`telemetry.rs`) beneath it.

use autosub_core::datadog::Site;
use serde::Deserialize;

use crate::Problems;
use crate::privatelink::{PrivateLinkConfig, RawPrivateLinkConfig};
use crate::telemetry::TelemetryConfig;

/// The Datadog site autosub's forwarders and telemetry send to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DatadogConfig {
    /// The site.
    pub site: Site,
    /// Reaching Datadog over AWS PrivateLink; `autosub doctor` checks it.
    pub privatelink: PrivateLinkConfig,
    /// autosub's own pass results sent to Datadog; off by default.
    pub telemetry: TelemetryConfig,
}

/// `[datadog]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDatadogConfig {
    /// The site, as `DD_SITE` spells it (`datadoghq.com`, `datadoghq.eu`, `ap1.datadoghq.com`, …)
    /// or by its short name (`us1`, `eu`, `ap2`, `gov`).
    #[serde(default = "default_site")]
    site: String,
    #[serde(default)]
    privatelink: RawPrivateLinkConfig,
    #[serde(default)]
    telemetry: TelemetryConfig,
}

impl Default for RawDatadogConfig {
    fn default() -> Self {
        Self {
            site: default_site(),
            privatelink: RawPrivateLinkConfig::default(),
            telemetry: TelemetryConfig::default(),
        }
    }
}

fn default_site() -> String {
    Site::Us1.name().into()
}

impl RawDatadogConfig {
    pub(crate) fn validate(self, p: &mut Problems) -> Option<DatadogConfig> {
        let site = p.check("datadog.site", Site::parse(&self.site));
        let privatelink = self.privatelink.validate(site, p);
        self.telemetry.check(p);
        Some(DatadogConfig {
            site: site?,
            privatelink: privatelink?,
            telemetry: self.telemetry,
        })
    }
}

#[cfg(test)]
mod tests {
    use autosub_core::datadog::DatadogService;

    use super::*;
    use crate::Config;
    use crate::tests::{MINIMAL, problem_keys};

    #[test]
    fn datadog_section_is_validated_with_key_paths() {
        let config = Config::parse(MINIMAL, "t.toml").unwrap();
        assert_eq!(config.datadog.site, Site::Us1);
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
        assert_eq!(config.datadog.site, Site::Ap1);
        assert_eq!(
            Vec::from_iter(config.datadog.privatelink.services),
            [DatadogService::LogsUserIntake, DatadogService::Api],
            "the table's order, without duplicates"
        );
        assert_eq!(
            config.datadog.privatelink.vpc_cidrs,
            [
                "10.0.0.0/16".parse().unwrap(),
                "10.1.0.0/16".parse().unwrap()
            ]
        );

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

        assert_eq!(
            problem_keys(&format!(
                "{MINIMAL}\n[datadog]\nsite = \"mars\"\n[datadog.privatelink]\nenabled = true\nvpc_cidrs = []\n"
            )),
            ["datadog.site", "datadog.privatelink.vpc_cidrs"]
        );
        let err = Config::parse(
            &format!("{MINIMAL}\n[datadog.telemetry]\nevent = true\n"),
            "t.toml",
        )
        .unwrap_err();
        assert!(err.to_string().contains("unknown field `event`"), "{err}");
    }

    #[test]
    fn a_bad_site_names_its_key_and_the_sites() {
        let err = Config::parse(
            &format!("{MINIMAL}[datadog]\nsite = \"datadoghq.org\"\n"),
            "t.toml",
        )
        .unwrap_err();
        assert_eq!(err.problems.len(), 1, "{err}");
        assert_eq!(err.problems[0].key, "datadog.site");
        assert!(
            err.problems[0].message.contains("ap1.datadoghq.com"),
            "{err}"
        );
    }
}
