//! `[services]`: which discoverers run, and which resources of each are in scope.

use std::collections::BTreeMap;

use autosub_core::Service;
use autosub_core::selection::ResourceFilter;
use serde::Deserialize;

use crate::Problems;

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
}
