//! `[services]`: which discoverers run, and which resources of each are in scope.

use std::collections::BTreeMap;
use std::fmt;

use autosub_core::Service;
use autosub_core::selection::ResourceFilter;
use serde::{Deserialize, Deserializer, de};

use crate::Problems;

/// Which discoverers run, and which resources of each are in scope: `[services.<id>]` for each
/// service of the registry (`Service::spec`), every service present (default: enabled, all
/// resources).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServicesConfig(BTreeMap<Service, ServiceConfig>);

impl Default for ServicesConfig {
    fn default() -> Self {
        Self(
            Service::ALL
                .into_iter()
                .map(|s| (s, ServiceConfig::default()))
                .collect(),
        )
    }
}

/// A `[services]` key: a service of the registry, else an error at that key (as
/// `deny_unknown_fields` reports one).
struct ServiceKey(Service);

impl<'de> Deserialize<'de> for ServiceKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let key = String::deserialize(deserializer)?;
        Service::ALL
            .into_iter()
            .find(|s| s.as_str() == key)
            .map(ServiceKey)
            .ok_or_else(|| de::Error::unknown_field(&key, &Service::IDS))
    }
}

impl<'de> Deserialize<'de> for ServicesConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;

        impl<'de> de::Visitor<'de> for Visitor {
            type Value = ServicesConfig;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a table of services")
            }

            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut services = ServicesConfig::default();
                while let Some(ServiceKey(service)) = map.next_key()? {
                    services.0.insert(service, map.next_value()?);
                }
                Ok(services)
            }
        }

        deserializer.deserialize_map(Visitor)
    }
}

impl ServicesConfig {
    /// The configuration of one service.
    pub fn get(&self, service: Service) -> &ServiceConfig {
        // Every service is present: `default` and `deserialize` start from all of them.
        &self.0[&service]
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

    pub(crate) fn check(&self, p: &mut Problems) {
        for service in Service::ALL {
            let c = self.get(service);
            let key = format!("services.{}", service.as_str());
            p.patterns(&format!("{key}.include"), &c.include);
            p.patterns(&format!("{key}.exclude"), &c.exclude);
            for (tag, value) in &c.tags {
                if let Err(message) = autosub_core::pattern::check(value) {
                    p.add(format!("{key}.tags.{tag}"), message);
                }
            }
        }
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

#[cfg(test)]
mod tests {
    use autosub_core::Service;

    use crate::tests::{MINIMAL, problem_keys};

    #[test]
    fn a_pattern_the_matcher_cannot_use_is_a_problem_at_its_key() {
        let text = format!(
            "{MINIMAL}[safety]\nprotect = [\"ok-*\", \"prod-**\"]\n[services.lambda]\nexclude = [\"\"]\n[services.lambda.tags]\nteam = \"a**\"\n"
        );
        assert_eq!(
            problem_keys(&text),
            [
                "safety.protect[1]",
                "services.lambda.exclude[0]",
                "services.lambda.tags.team"
            ]
        );
        let err = crate::Config::parse(&text, "bad.toml").unwrap_err();
        assert!(err.problems[0].message.contains("single *"), "{err}");
    }

    #[test]
    fn each_registry_service_has_its_key_and_an_unknown_one_is_an_error_at_it() {
        let text = format!(
            "{MINIMAL}[services.step_functions]\nenabled = false\n[services.wafv2]\ninclude = [\"app-*\"]\n"
        );
        let config = crate::Config::parse(&text, "t.toml").unwrap();
        let enabled = config.services.enabled();
        assert!(!enabled.contains_key(&Service::StepFunctions));
        assert_eq!(enabled[&Service::Wafv2].include, ["app-*"]);
        assert_eq!(enabled.len(), Service::ALL.len() - 1);

        let err = crate::Config::parse(&format!("{MINIMAL}[services.nope]\n"), "t.toml")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(
                "unknown field `nope`, expected one of `lambda`, `s3_access_logs`, `cloudfront`, \
                 `elbv2`, `elb`, `redshift`, `step_functions`, `wafv2`, `api_gateway`"
            ),
            "{err}"
        );
        assert!(
            err.contains("[services.nope]"),
            "the error points at the key: {err}"
        );
    }
}
