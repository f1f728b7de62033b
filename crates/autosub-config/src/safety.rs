//! `[safety]`: limits that keep a bad pass from doing much harm.

use serde::Deserialize;

use crate::Problems;

/// Limits that keep a bad pass from doing much harm.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SafetyConfig {
    /// At most this many deletes per pass.
    #[serde(default = "default_max_deletes")]
    pub max_deletes_per_pass: usize,
    /// Subscription filters a log group may hold (AWS documents 2).
    #[serde(default = "default_max_filters")]
    pub max_filters_per_log_group: usize,
    /// Bucket and log group name patterns whose triggers are never deleted.
    #[serde(default)]
    pub protect: Vec<String>,
    /// Consecutive stale passes before one of our triggers is deleted; unset: 1 for
    /// `reconcile`, [`DAEMON_STALE_PASSES`] for `run`.
    pub stale_passes_before_delete: Option<u32>,
}

/// The daemon's default for `safety.stale_passes_before_delete`: a source that disappears for
/// one or two passes (a redeploy, a throttled API) keeps its trigger.
pub const DAEMON_STALE_PASSES: u32 = 3;

impl Default for SafetyConfig {
    fn default() -> Self {
        Self {
            max_deletes_per_pass: default_max_deletes(),
            max_filters_per_log_group: default_max_filters(),
            protect: Vec::new(),
            stale_passes_before_delete: None,
        }
    }
}

fn default_max_deletes() -> usize {
    50
}

fn default_max_filters() -> usize {
    2
}

impl SafetyConfig {
    pub(crate) fn check(&self, p: &mut Problems) {
        if self.stale_passes_before_delete == Some(0) {
            p.add(
                "safety.stale_passes_before_delete",
                "must be at least 1 (1 deletes on the first pass that finds a trigger stale)",
            );
        }
        if self.max_filters_per_log_group == 0 {
            p.add(
                "safety.max_filters_per_log_group",
                "must be at least 1; AWS allows 2 per log group unless raised",
            );
        }
        p.patterns("safety.protect", &self.protect);
    }
}
