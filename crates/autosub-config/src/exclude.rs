//! `[exclude]`: locations never to subscribe.

use serde::Deserialize;

use crate::Problems;

/// Locations never to subscribe, as name patterns (`*`, `?`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExcludeConfig {
    /// Log group name patterns.
    #[serde(default)]
    pub log_groups: Vec<String>,
    /// Bucket name patterns.
    #[serde(default)]
    pub buckets: Vec<String>,
}

impl ExcludeConfig {
    pub(crate) fn check(&self, p: &mut Problems) {
        p.patterns("exclude.log_groups", &self.log_groups);
        p.patterns("exclude.buckets", &self.buckets);
    }
}
