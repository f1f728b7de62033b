//! `[ownership]`: the marks that make a trigger ours.

use serde::Deserialize;

use crate::Problems;

/// The marks that make a trigger ours.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OwnershipConfig {
    /// Name of our subscription filters.
    #[serde(default = "default_filter_name")]
    pub filter_name: String,
    /// Pattern of our subscription filters ("" forwards every event).
    #[serde(default)]
    pub filter_pattern: String,
    /// Id prefix of our S3 notification entries.
    #[serde(default = "default_prefix")]
    pub notification_id_prefix: String,
    /// Statement id prefix of our invoke permissions.
    #[serde(default = "default_prefix")]
    pub statement_id_prefix: String,
}

impl Default for OwnershipConfig {
    fn default() -> Self {
        Self {
            filter_name: default_filter_name(),
            filter_pattern: String::new(),
            notification_id_prefix: default_prefix(),
            statement_id_prefix: default_prefix(),
        }
    }
}

fn default_filter_name() -> String {
    "autosub".into()
}

fn default_prefix() -> String {
    "autosub-".into()
}

impl OwnershipConfig {
    pub(crate) fn check(&self, p: &mut Problems) {
        let name = &self.filter_name;
        if name.is_empty() || name.len() > 512 || name.contains(':') || name.contains('*') {
            p.add(
                "ownership.filter_name",
                "must be 1-512 characters without ':' or '*' (CloudWatch Logs' rule)",
            );
        }
        if self.notification_id_prefix.len() < 3 {
            p.add(
                "ownership.notification_id_prefix",
                "must be at least 3 characters, or foreign entries could look like ours",
            );
        }
        let sid = &self.statement_id_prefix;
        if sid.len() < 3
            || sid.len() > 60
            || !sid
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            p.add(
                "ownership.statement_id_prefix",
                "must be 3-60 characters of letters, digits, '-' and '_' (Lambda's statement id rule, leaving room for our suffix)",
            );
        }
    }
}
