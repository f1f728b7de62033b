//! `[datadog.privatelink]`: reaching Datadog over AWS PrivateLink (checked by `autosub doctor`).

use std::collections::BTreeSet;

use autosub_core::datadog::{DatadogService, Site};
use autosub_core::net::Cidr;
use serde::Deserialize;

use crate::Problems;

/// The PrivateLink set-up the hosts running autosub and the forwarders sit behind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrivateLinkConfig {
    /// Whether Datadog is reached over PrivateLink (only `datadoghq.com`, `ap1` and `ap2` offer it).
    pub enabled: bool,
    /// The CIDR blocks of the VPC(s) holding the Datadog endpoints; every service name must
    /// resolve inside one of them.
    pub vpc_cidrs: Vec<Cidr>,
    /// The Datadog services reached over PrivateLink, in the table's order
    /// ([`DatadogService::ALL`]), each once.
    pub services: BTreeSet<DatadogService>,
}

/// `[datadog.privatelink]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPrivateLinkConfig {
    #[serde(default)]
    enabled: bool,
    #[serde(default)]
    vpc_cidrs: Vec<String>,
    /// By name (`logs_user_intake`, `api`, `metrics`, …).
    #[serde(default = "default_services")]
    services: Vec<String>,
}

impl Default for RawPrivateLinkConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            vpc_cidrs: Vec::new(),
            services: default_services(),
        }
    }
}

fn default_services() -> Vec<String> {
    // What the Forwarder (logs) and autosub's events (API) use.
    vec!["logs_user_intake".into(), "api".into()]
}

impl RawPrivateLinkConfig {
    /// Checks and converts the section; `site` is the parsed `datadog.site` (`None` when it
    /// was bad: that problem is reported already).
    pub(crate) fn validate(
        self,
        site: Option<Site>,
        p: &mut Problems,
    ) -> Option<PrivateLinkConfig> {
        if self.enabled {
            if let Some(Err(e)) = site.map(Site::require_privatelink) {
                p.add("datadog.privatelink.enabled", e.to_string());
            }
            if self.vpc_cidrs.is_empty() {
                p.add(
                    "datadog.privatelink.vpc_cidrs",
                    "list the CIDR blocks of the VPC(s) holding the Datadog endpoints, e.g. [\"10.0.0.0/16\"]",
                );
            }
            if self.services.is_empty() {
                p.add(
                    "datadog.privatelink.services",
                    "name at least one Datadog service, e.g. [\"logs_user_intake\", \"api\"]",
                );
            }
        }
        let vpc_cidrs: Vec<Option<Cidr>> = self
            .vpc_cidrs
            .iter()
            .enumerate()
            .map(|(i, cidr)| p.check(format!("datadog.privatelink.vpc_cidrs[{i}]"), cidr.parse()))
            .collect();
        let services: Vec<Option<DatadogService>> = self
            .services
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let service = DatadogService::parse(name).ok_or_else(|| {
                    let valid: Vec<&str> = DatadogService::ALL.iter().map(|s| s.as_str()).collect();
                    format!(
                        "{name:?} is not a Datadog PrivateLink service; use one of {}",
                        valid.join(", ")
                    )
                });
                p.check(format!("datadog.privatelink.services[{i}]"), service)
            })
            .collect();
        Some(PrivateLinkConfig {
            enabled: self.enabled,
            vpc_cidrs: vpc_cidrs.into_iter().collect::<Option<_>>()?,
            services: services.into_iter().collect::<Option<_>>()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use autosub_core::datadog::DatadogService;

    use crate::tests::{MINIMAL, problem_keys};

    #[test]
    fn the_services_set_keeps_the_table_s_order() {
        assert!(
            DatadogService::ALL.is_sorted(),
            "PrivateLinkConfig::services relies on it"
        );
    }

    #[test]
    fn a_bad_cidr_is_a_problem_at_its_index_never_dropped() {
        let text = format!(
            "{MINIMAL}[datadog.privatelink]\nenabled = true\nvpc_cidrs = [\"10.0.0.0/16\", \"10.1.0.0/16/2\", \"vpc-1234\"]\n"
        );
        assert_eq!(
            problem_keys(&text),
            [
                "datadog.privatelink.vpc_cidrs[1]",
                "datadog.privatelink.vpc_cidrs[2]"
            ]
        );
    }
}
