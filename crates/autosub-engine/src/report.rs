//! What a run reports: its passes, the targets that failed or were held elsewhere, its AWS
//! calls, and the errors that stop a run before any pass. A leaf of the run: `fleet` and
//! `reconcile` both fill it, neither through the other.

use std::collections::BTreeMap;
use std::time::Duration;

use autosub_aws::AwsError;
use autosub_aws::calls::CallKey;
use autosub_core::{AccountId, Region};
use serde::Serialize;

use crate::pass::{PassReport, Target};

/// What stops a run before any pass.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The account could not be told from the credentials.
    #[error(
        "cannot tell which account to reconcile ({0}); check the AWS credentials or set aws.account_id"
    )]
    NoAccount(autosub_aws::AwsError),
    /// No region was configured or found in the environment.
    #[error(
        "no region to reconcile: set aws.regions in the configuration, AUTOSUB_REGIONS or AWS_REGION"
    )]
    NoRegion,
    /// The Organizations accounts could not be listed.
    #[error("cannot list the accounts of the organization for fleet.organizations ({0})")]
    Organizations(AwsError),
}

/// Why a target (or a whole account) could not be reconciled, as metrics label it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureReason {
    /// The account's role could not be assumed.
    AssumeRole,
    /// The account's regions could not be listed (`aws.regions = ["all"]`).
    Regions,
    /// The region is not enabled in the account.
    RegionDisabled,
    /// The target's region has no forwarder (none configured, or the function is missing).
    NoForwarder,
    /// The target's lease could not be taken or kept.
    Lease,
    /// The target's ledger could not be read: the pass did not run.
    Ledger,
}

impl FailureReason {
    /// The label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AssumeRole => "assume_role",
            Self::Regions => "regions",
            Self::RegionDisabled => "region_disabled",
            Self::NoForwarder => "no_forwarder",
            Self::Lease => "lease",
            Self::Ledger => "ledger",
        }
    }
}

/// A target, or every target of an account (`region` unset), that could not be reconciled.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct TargetFailure {
    /// The account.
    pub account: AccountId,
    /// The region; unset when the whole account failed.
    pub region: Option<Region>,
    /// Why, as a label.
    pub reason: FailureReason,
    /// What went wrong and how to fix it.
    pub message: String,
}

impl TargetFailure {
    /// What failed: `<account>/<region>`, or `<account> (every region)`.
    pub fn scope(&self) -> String {
        match &self.region {
            Some(region) => format!("{}/{region}", self.account),
            None => format!("{} (every region)", self.account),
        }
    }
}

impl std::fmt::Display for TargetFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {}: {}",
            self.scope(),
            self.reason.as_str(),
            self.message
        )
    }
}

/// A target skipped because another replica holds its lease.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct HeldTarget {
    /// The target.
    pub target: Target,
    /// The holder's owner id.
    pub owner: String,
    /// When its lease lapses unless the holder renews it.
    pub until: std::time::SystemTime,
}

/// What one run did, over every target.
#[derive(Debug, Default)]
pub struct RunReport {
    /// One report per target that ran, sorted by target.
    pub passes: Vec<PassReport>,
    /// Targets and accounts that could not be (fully) reconciled, sorted.
    pub failures: Vec<TargetFailure>,
    /// Targets skipped because another replica holds their lease, sorted.
    pub held: Vec<HeldTarget>,
    /// AWS operations of this run by (service, operation, outcome).
    pub calls: BTreeMap<CallKey, u64>,
    /// Throttled attempts of this run by service (retried ones included).
    pub throttles: BTreeMap<String, u64>,
    /// Ledger problems, one line each (`<target>: <error>`).
    pub ledger_errors: Vec<String>,
    /// Wall time of the run.
    pub duration: Duration,
}

impl RunReport {
    /// True when part of the run failed: a target could not be reconciled, a change failed,
    /// discovery had gaps, or the ledger could not be read or written.
    pub fn partial(&self) -> bool {
        !self.ledger_errors.is_empty()
            || !self.failures.is_empty()
            || self
                .passes
                .iter()
                .any(|r| r.failures() > 0 || !r.discovery.gaps.is_empty())
    }

    /// True when the run was cut short by a shutdown.
    pub fn interrupted(&self) -> bool {
        self.passes.iter().any(|p| p.interrupted)
    }
}
