//! `[loop_guard]`: locations that feed a forwarder's own output back to it.

use serde::Deserialize;

/// Locations that feed a forwarder's own output back to it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoopGuardConfig {
    /// Log groups, e.g. autosub's own.
    #[serde(default)]
    pub log_groups: Vec<String>,
    /// Buckets the forwarders write to (e.g. the Datadog Forwarder's cache bucket).
    #[serde(default)]
    pub buckets: Vec<String>,
}
