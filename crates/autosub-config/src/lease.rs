//! `[lease]`: the lease that keeps replicas off each other's targets.

use serde::Deserialize;

use crate::Problems;

/// The lease that keeps two replicas (or a replica and a one-shot `reconcile`) off the same
/// target. Unset: single-replica mode, nothing is locked.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeaseConfig {
    /// A DynamoDB table with string keys `pk` and `sk` (the ledger's table will do); in the
    /// first region of `aws.regions`.
    pub table: Option<String>,
    /// How long a lease holds without renewal; renewed every third of it while a pass runs.
    #[serde(default = "default_lease_secs")]
    pub duration_secs: u64,
}

impl Default for LeaseConfig {
    fn default() -> Self {
        Self {
            table: None,
            duration_secs: default_lease_secs(),
        }
    }
}

fn default_lease_secs() -> u64 {
    120
}

impl LeaseConfig {
    pub(crate) fn check(&self, p: &mut Problems) {
        if let Some(table) = &self.table
            && !is_table_name(table)
        {
            p.add(
                "lease.table",
                format!(
                    "{table:?} is not a DynamoDB table name (3-255 letters, digits, '_', '-', '.')"
                ),
            );
        }
        if self.duration_secs < 15 {
            p.add(
                "lease.duration_secs",
                "must be at least 15: the lease is renewed every third of it while a pass runs",
            );
        }
    }
}

/// True for a DynamoDB table name: 3-255 letters, digits, `_`, `-` and `.`.
pub(crate) fn is_table_name(table: &str) -> bool {
    (3..=255).contains(&table.len())
        && table
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
}
