//! `[audit]`: how often what the ledger vouches for is re-read.

use serde::Deserialize;

/// The audit: a pass reads what the ledger cannot vouch for, plus its share of the rest, so
/// that every verified location is re-read, and every other log group and bucket swept for
/// lost triggers, within `window_secs`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    /// The audit window in seconds (default 24 h). Drift (a trigger removed by hand) is fixed
    /// within it; 0 makes every pass a full audit.
    #[serde(default = "default_audit_window")]
    pub window_secs: u64,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            window_secs: default_audit_window(),
        }
    }
}

fn default_audit_window() -> u64 {
    24 * 60 * 60
}
