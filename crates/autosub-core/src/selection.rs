//! Which resources of a service are in scope: by name pattern and by tags.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::pattern::wildcard_match;

/// A service's resource filter. Empty lists select everything.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceFilter {
    /// Name patterns (`*`, `?`); when non-empty a resource must match one.
    pub include: Vec<String>,
    /// Name patterns; a resource matching one is out.
    pub exclude: Vec<String>,
    /// Tags a resource must all carry (`value` `*` = any value).
    pub tags: BTreeMap<String, String>,
}

impl ResourceFilter {
    /// True when the filter needs the resources' tags (so discoverers fetch them only then).
    pub fn needs_tags(&self) -> bool {
        !self.tags.is_empty()
    }

    /// True when a resource with this name and these tags is in scope.
    pub fn admits(&self, name: &str, tags: &BTreeMap<String, String>) -> bool {
        (self.include.is_empty() || self.include.iter().any(|p| wildcard_match(p, name)))
            && !self.exclude.iter().any(|p| wildcard_match(p, name))
            && self
                .tags
                .iter()
                .all(|(k, v)| tags.get(k).is_some_and(|have| wildcard_match(v, have)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_tags_select_resources() {
        let tags = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let all = ResourceFilter::default();
        assert!(all.admits("anything", &tags(&[])));
        let filter = ResourceFilter {
            include: vec!["prod-*".into()],
            exclude: vec!["prod-canary-*".into()],
            tags: tags(&[("logs", "datadog")]),
        };
        assert!(filter.admits("prod-web", &tags(&[("logs", "datadog"), ("team", "a")])));
        assert!(!filter.admits("prod-web", &tags(&[("logs", "splunk")])));
        assert!(!filter.admits("prod-web", &tags(&[])));
        assert!(!filter.admits("prod-canary-1", &tags(&[("logs", "datadog")])));
        assert!(!filter.admits("dev-web", &tags(&[("logs", "datadog")])));
        let any_value = ResourceFilter {
            tags: tags(&[("logs", "*")]),
            ..ResourceFilter::default()
        };
        assert!(any_value.admits("x", &tags(&[("logs", "")])));
    }
}
