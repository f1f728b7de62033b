//! What happened to each change of a plan: the outcome every trigger kind's apply returns, and
//! how it is logged. A leaf of the crate: the kinds and the apply loop both use it.

use autosub_aws::error::AwsError;
use autosub_core::plan::{Change, SkipReason};
use serde::Serialize;

/// What happened to one change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// Done (or found already done).
    Applied,
    /// Not done, for a reason that is not a failure (no free slot, a rule appeared that overlaps).
    Skipped {
        /// Why, as a label.
        reason: SkipReason,
        /// Why, in words.
        detail: String,
    },
    /// The AWS call failed.
    Failed {
        /// The error class label.
        class: String,
        /// The error.
        error: String,
    },
}

/// A change and what happened to it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChangeOutcome {
    /// The planned change.
    pub change: Change,
    /// What happened.
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// The outcome of an AWS call that failed.
pub(crate) fn failed(e: &AwsError) -> Outcome {
    Outcome::Failed {
        class: e.class.as_str().to_owned(),
        error: e.to_string(),
    }
}

/// Logs what happened to `change`.
pub(crate) fn log_outcome(change: &Change, outcome: &Outcome) {
    match outcome {
        Outcome::Applied => {
            tracing::info!(action = %change.action, kind = change.trigger.kind(), resource = %change.trigger.resource(), "applied")
        }
        Outcome::Skipped { reason, detail } => {
            tracing::warn!(action = %change.action, resource = %change.trigger.resource(), %reason, detail, "skipped")
        }
        Outcome::Failed { error, .. } => {
            tracing::error!(action = %change.action, resource = %change.trigger.resource(), error, "failed")
        }
    }
}
