//! The Datadog sites as data: their names, intake host names, and the AWS PrivateLink endpoint
//! services of the sites that offer PrivateLink. Everything that talks about Datadog sites (the
//! config, `autosub doctor`, telemetry, the deploy templates' test) reads this one table.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A Datadog site.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(into = "&'static str", try_from = "String")]
pub enum Site {
    /// US1, `datadoghq.com`.
    Us1,
    /// US3, `us3.datadoghq.com`.
    Us3,
    /// US5, `us5.datadoghq.com`.
    Us5,
    /// EU1, `datadoghq.eu`.
    Eu1,
    /// AP1, `ap1.datadoghq.com`.
    Ap1,
    /// AP2, `ap2.datadoghq.com`.
    Ap2,
    /// US1-FED, `ddog-gov.com`.
    Us1Fed,
}

/// A Datadog service reachable over PrivateLink, by the name the configuration uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DatadogService {
    /// Logs, Agent HTTP intake.
    LogsAgentIntake,
    /// Logs, user HTTP intake (what the Forwarder and other clients post to).
    LogsUserIntake,
    /// The API (events, validation of the API key, …).
    Api,
    /// Agent metrics.
    Metrics,
    /// Containers (orchestrator explorer).
    Containers,
    /// Live processes.
    Process,
    /// Continuous profiler.
    Profiling,
    /// APM traces.
    Traces,
    /// Database Monitoring.
    DatabaseMonitoring,
    /// Remote Configuration.
    RemoteConfiguration,
}

/// One PrivateLink endpoint service of a site.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct PrivateLinkService {
    /// The Datadog service.
    pub service: DatadogService,
    /// The endpoint service id, `vpce-svc-…`.
    pub endpoint_service_id: &'static str,
    /// The full endpoint service name, `com.amazonaws.vpce.<region>.<id>`.
    pub endpoint_service_name: String,
    /// The name the endpoint's private DNS (or the cross-region private hosted zone) answers for.
    pub private_dns_name: String,
}

/// Why a site name was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SiteError {
    /// Not a Datadog site.
    Unknown(String),
    /// The site exists but Datadog offers no PrivateLink for it.
    NoPrivateLink(Site),
}

impl fmt::Display for SiteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unknown(name) => {
                write!(f, "{name:?} is not a datadog site; use one of ")?;
                let names: Vec<&str> = Site::ALL.iter().map(|s| s.name()).collect();
                f.write_str(&names.join(", "))
            }
            Self::NoPrivateLink(site) => {
                write!(
                    f,
                    "datadog privatelink is not offered for site {site}; it is offered for "
                )?;
                let offered: Vec<String> = Site::ALL
                    .iter()
                    .filter_map(|s| s.privatelink_region().map(|r| format!("{s} ({r})")))
                    .collect();
                write!(
                    f,
                    "{}: pick one of those sites or turn datadog.privatelink off",
                    offered.join(", ")
                )
            }
        }
    }
}

impl std::error::Error for SiteError {}

impl Site {
    /// Every site, in Datadog's order.
    pub const ALL: [Site; 7] = [
        Site::Us1,
        Site::Us3,
        Site::Us5,
        Site::Eu1,
        Site::Ap1,
        Site::Ap2,
        Site::Us1Fed,
    ];

    /// The site's domain, as `DD_SITE` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Us1 => "datadoghq.com",
            Self::Us3 => "us3.datadoghq.com",
            Self::Us5 => "us5.datadoghq.com",
            Self::Eu1 => "datadoghq.eu",
            Self::Ap1 => "ap1.datadoghq.com",
            Self::Ap2 => "ap2.datadoghq.com",
            Self::Us1Fed => "ddog-gov.com",
        }
    }

    /// The short name Datadog's docs use (`us1`, `eu1`, `us1-fed`, …).
    pub fn short_name(self) -> &'static str {
        match self {
            Self::Us1 => "us1",
            Self::Us3 => "us3",
            Self::Us5 => "us5",
            Self::Eu1 => "eu1",
            Self::Ap1 => "ap1",
            Self::Ap2 => "ap2",
            Self::Us1Fed => "us1-fed",
        }
    }

    /// A site by its domain or short name (`datadoghq.eu`, `eu`, `eu1`, `gov`, …).
    pub fn parse(name: &str) -> Result<Self, SiteError> {
        let wanted = name.trim().trim_end_matches('.').to_ascii_lowercase();
        let alias = match wanted.as_str() {
            "us" => Some(Self::Us1),
            "eu" => Some(Self::Eu1),
            "gov" | "us-gov" | "fed" => Some(Self::Us1Fed),
            _ => None,
        };
        alias
            .or_else(|| {
                Self::ALL
                    .into_iter()
                    .find(|s| s.name() == wanted || s.short_name() == wanted)
            })
            .ok_or_else(|| SiteError::Unknown(name.to_owned()))
    }

    /// The AWS region that hosts the site's PrivateLink endpoint services; `None` when the site
    /// offers no PrivateLink.
    pub fn privatelink_region(self) -> Option<&'static str> {
        match self {
            Self::Us1 => Some("us-east-1"),
            Self::Ap1 => Some("ap-northeast-1"),
            Self::Ap2 => Some("ap-southeast-2"),
            Self::Us3 | Self::Us5 | Self::Eu1 | Self::Us1Fed => None,
        }
    }

    /// The site, when it offers PrivateLink; the error says which sites do.
    pub fn require_privatelink(self) -> Result<Self, SiteError> {
        match self.privatelink_region() {
            Some(_) => Ok(self),
            None => Err(SiteError::NoPrivateLink(self)),
        }
    }

    /// The public intake host of a service on this site (`api.datadoghq.eu`, …).
    pub fn host(self, service: DatadogService) -> String {
        format!("{}{}", service.host_prefix(), self.name())
    }

    /// The base URL of the site's API (`https://api.<site>`).
    pub fn api_url(self) -> String {
        format!("https://{}", self.host(DatadogService::Api))
    }

    /// The PrivateLink endpoint service of `service`, or why the site has none.
    pub fn privatelink(self, service: DatadogService) -> Result<PrivateLinkService, SiteError> {
        let region = self
            .privatelink_region()
            .ok_or(SiteError::NoPrivateLink(self))?;
        let id = endpoint_service_id(self, service).ok_or(SiteError::NoPrivateLink(self))?;
        let private_dns_name = match (self, service) {
            // AP2's logs and API endpoint services answer for these names, not the public ones.
            (Self::Ap2, DatadogService::LogsAgentIntake | DatadogService::LogsUserIntake) => {
                "gold.intake.ap2.datadoghq.com".to_owned()
            }
            (Self::Ap2, DatadogService::Api) => "orchid.intake.ap2.datadoghq.com".to_owned(),
            _ => self.host(service),
        };
        Ok(PrivateLinkService {
            service,
            endpoint_service_id: id,
            endpoint_service_name: format!("com.amazonaws.vpce.{region}.{id}"),
            private_dns_name,
        })
    }

    /// Every PrivateLink endpoint service of the site, in [`DatadogService::ALL`] order.
    pub fn privatelink_services(self) -> Result<Vec<PrivateLinkService>, SiteError> {
        DatadogService::ALL
            .into_iter()
            .map(|s| self.privatelink(s))
            .collect()
    }
}

/// The endpoint service ids of Datadog's PrivateLink guide, per site and service.
fn endpoint_service_id(site: Site, service: DatadogService) -> Option<&'static str> {
    use DatadogService as S;
    let [us1, ap1, ap2] = match service {
        S::LogsAgentIntake => [
            "vpce-svc-025a56b9187ac1f63",
            "vpce-svc-03e139d1f2766685b",
            "vpce-svc-06460db30a7cfdace",
        ],
        S::LogsUserIntake => [
            "vpce-svc-0e36256cb6172439d",
            "vpce-svc-08799aabff1cfd8a3",
            "vpce-svc-06460db30a7cfdace",
        ],
        S::Api => [
            "vpce-svc-064ea718f8d0ead77",
            "vpce-svc-008cd79a7a09e0a1e",
            "vpce-svc-06ec78b291ce8020a",
        ],
        S::Metrics => [
            "vpce-svc-09a8006e245d1e7b8",
            "vpce-svc-002d904d5e69340ad",
            "vpce-svc-06a30d6a016b746ff",
        ],
        S::Containers => [
            "vpce-svc-0ad5fb9e71f85fe99",
            "vpce-svc-03ffd8d552f0d957d",
            "vpce-svc-031da3ffac78ef902",
        ],
        S::Process => [
            "vpce-svc-0ed1f789ac6b0bde1",
            "vpce-svc-0e86b29a0dc2c8a26",
            "vpce-svc-0c26ca335d93a68b5",
        ],
        S::Profiling => [
            "vpce-svc-022ae36a7b2472029",
            "vpce-svc-0d598057ecde10596",
            "vpce-svc-0d936da0e6a30d3cd",
        ],
        S::Traces => [
            "vpce-svc-0355bb1880dfa09c2",
            "vpce-svc-0a5d94b2e8f6e70fc",
            "vpce-svc-0f3e01f4180b2ae09",
        ],
        S::DatabaseMonitoring => [
            "vpce-svc-0ce70d55ec4af8501",
            "vpce-svc-0cc53180ae06bb977",
            "vpce-svc-094469ee7a178f448",
        ],
        S::RemoteConfiguration => [
            "vpce-svc-01f21309e507e3b1d",
            "vpce-svc-00e15ab206f23b98c",
            "vpce-svc-01f8f80f4cb97bd10",
        ],
    };
    match site {
        Site::Us1 => Some(us1),
        Site::Ap1 => Some(ap1),
        Site::Ap2 => Some(ap2),
        Site::Us3 | Site::Us5 | Site::Eu1 | Site::Us1Fed => None,
    }
}

impl fmt::Display for Site {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl From<Site> for &'static str {
    fn from(site: Site) -> Self {
        site.name()
    }
}

impl TryFrom<String> for Site {
    type Error = SiteError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl DatadogService {
    /// Every service, in the order of Datadog's PrivateLink guide.
    pub const ALL: [DatadogService; 10] = [
        Self::LogsAgentIntake,
        Self::LogsUserIntake,
        Self::Api,
        Self::Metrics,
        Self::Containers,
        Self::Process,
        Self::Profiling,
        Self::Traces,
        Self::DatabaseMonitoring,
        Self::RemoteConfiguration,
    ];

    /// The name the configuration and the templates' mappings use (`logs_user_intake`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::LogsAgentIntake => "logs_agent_intake",
            Self::LogsUserIntake => "logs_user_intake",
            Self::Api => "api",
            Self::Metrics => "metrics",
            Self::Containers => "containers",
            Self::Process => "process",
            Self::Profiling => "profiling",
            Self::Traces => "traces",
            Self::DatabaseMonitoring => "database_monitoring",
            Self::RemoteConfiguration => "remote_configuration",
        }
    }

    /// A service by its configuration name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// The host name in front of the site's domain.
    fn host_prefix(self) -> &'static str {
        match self {
            Self::LogsAgentIntake => "agent-http-intake.logs.",
            Self::LogsUserIntake => "http-intake.logs.",
            Self::Api => "api.",
            Self::Metrics => "metrics.agent.",
            Self::Containers => "orchestrator.",
            Self::Process => "process.",
            Self::Profiling => "intake.profile.",
            Self::Traces => "trace.agent.",
            Self::DatabaseMonitoring => "dbm-metrics-intake.",
            Self::RemoteConfiguration => "config.",
        }
    }
}

impl fmt::Display for DatadogService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sites_parse_by_domain_and_short_name() {
        for (name, site) in [
            ("datadoghq.com", Site::Us1),
            ("us1", Site::Us1),
            ("US3.datadoghq.com", Site::Us3),
            ("us5", Site::Us5),
            ("eu", Site::Eu1),
            ("datadoghq.eu", Site::Eu1),
            ("ap1.datadoghq.com", Site::Ap1),
            ("ap2", Site::Ap2),
            ("gov", Site::Us1Fed),
            ("ddog-gov.com", Site::Us1Fed),
        ] {
            assert_eq!(Site::parse(name), Ok(site), "{name}");
        }
        let err = Site::parse("datadoghq.moon").unwrap_err().to_string();
        assert!(
            err.contains("not a datadog site") && err.contains("ap2.datadoghq.com"),
            "{err}"
        );
    }

    #[test]
    fn privatelink_is_refused_clearly_for_sites_without_it() {
        for name in ["us3", "us5", "eu", "gov"] {
            let site = Site::parse(name).unwrap();
            let err = site.require_privatelink().unwrap_err();
            assert_eq!(err, SiteError::NoPrivateLink(site));
            let text = err.to_string();
            assert!(
                text.contains(&format!(
                    "datadog privatelink is not offered for site {}",
                    site.name()
                )) && text.contains("datadoghq.com (us-east-1)")
                    && text.contains("ap1.datadoghq.com (ap-northeast-1)")
                    && text.contains("ap2.datadoghq.com (ap-southeast-2)"),
                "{text}"
            );
            assert!(site.privatelink(DatadogService::Api).is_err());
        }
    }

    #[test]
    fn endpoint_services_follow_the_guide() {
        let logs = Site::Us1
            .privatelink(DatadogService::LogsUserIntake)
            .unwrap();
        assert_eq!(
            logs.endpoint_service_name,
            "com.amazonaws.vpce.us-east-1.vpce-svc-0e36256cb6172439d"
        );
        assert_eq!(logs.private_dns_name, "http-intake.logs.datadoghq.com");
        let api = Site::Ap1.privatelink(DatadogService::Api).unwrap();
        assert_eq!(
            api.endpoint_service_name,
            "com.amazonaws.vpce.ap-northeast-1.vpce-svc-008cd79a7a09e0a1e"
        );
        assert_eq!(api.private_dns_name, "api.ap1.datadoghq.com");
        let ap2_logs = Site::Ap2
            .privatelink(DatadogService::LogsAgentIntake)
            .unwrap();
        assert_eq!(ap2_logs.private_dns_name, "gold.intake.ap2.datadoghq.com");
        assert_eq!(
            Site::Ap2
                .privatelink(DatadogService::Api)
                .unwrap()
                .private_dns_name,
            "orchid.intake.ap2.datadoghq.com"
        );
        assert_eq!(
            Site::Ap2
                .privatelink(DatadogService::RemoteConfiguration)
                .unwrap()
                .private_dns_name,
            "config.ap2.datadoghq.com"
        );
        for site in [Site::Us1, Site::Ap1, Site::Ap2] {
            let services = site.privatelink_services().unwrap();
            assert_eq!(services.len(), DatadogService::ALL.len());
            assert!(services.iter().all(|s| {
                s.endpoint_service_id.starts_with("vpce-svc-")
                    && s.endpoint_service_id.len() == "vpce-svc-".len() + 17
            }));
        }
    }

    #[test]
    fn hosts_and_service_names() {
        assert_eq!(
            Site::Eu1.host(DatadogService::Metrics),
            "metrics.agent.datadoghq.eu"
        );
        assert_eq!(Site::Us5.api_url(), "https://api.us5.datadoghq.com");
        for s in DatadogService::ALL {
            assert_eq!(DatadogService::parse(s.as_str()), Some(s));
        }
        assert_eq!(DatadogService::parse("logs"), None);
    }
}
