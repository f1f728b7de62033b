//! What a plan is made of: the triggers, the changes to them and their reasons, and the
//! skips. A leaf of the domain: the planner, the desire and the ledger all speak it.

mod reason;

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::account_policy::AccountPolicy;
use crate::ids::{BucketName, FunctionArn, LogGroupName, Region};
use crate::permission::{InvokePermission, Invoker};

pub use reason::{ChangeReason, PermissionGap, Place, PolicyDifference};

/// What a change does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Add a trigger or permission.
    Create,
    /// Rewrite one of ours in place.
    Update,
    /// Remove one of ours.
    Delete,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Create => "create",
            Self::Update => "update",
            Self::Delete => "delete",
        })
    }
}

/// A trigger or permission, identified completely enough to apply the change.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Trigger {
    /// A Lambda entry in a bucket's notification configuration.
    S3Notification {
        /// The bucket.
        bucket: BucketName,
        /// The bucket's region.
        region: Region,
        /// The entry id (our prefix + the key prefix).
        id: String,
        /// The key prefix it fires on.
        prefix: String,
        /// The function it invokes.
        destination: String,
    },
    /// A subscription filter on a log group.
    SubscriptionFilter {
        /// The log group.
        log_group: LogGroupName,
        /// The filter name.
        filter_name: String,
        /// The filter pattern.
        pattern: String,
        /// The function it delivers to.
        destination: String,
    },
    /// An account-wide invoke permission on a forwarder.
    InvokePermission {
        /// The forwarder.
        forwarder: FunctionArn,
        /// The statement.
        permission: InvokePermission,
    },
    /// The region's account-level subscription filter policy.
    AccountPolicy {
        /// The policy.
        policy: AccountPolicy,
    },
}

impl Trigger {
    /// A short name of the trigger kind, for tables and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::S3Notification { .. } => "s3-notification",
            Self::SubscriptionFilter { .. } => "subscription-filter",
            Self::InvokePermission { .. } => "invoke-permission",
            Self::AccountPolicy { .. } => "account-policy",
        }
    }

    /// Where the trigger lives, e.g. `s3://bucket/prefix` or `log-group:/aws/lambda/x`.
    pub fn resource(&self) -> String {
        match self {
            Self::S3Notification { bucket, prefix, .. } => format!("s3://{bucket}/{prefix}"),
            Self::SubscriptionFilter { log_group, .. } => format!("log-group:{log_group}"),
            Self::InvokePermission {
                forwarder,
                permission,
            } => match &permission.replaces {
                Some(old) => format!("{forwarder} ({}, replacing {old})", permission.statement_id),
                None => format!("{forwarder} ({})", permission.statement_id),
            },
            Self::AccountPolicy { policy } => location_of_account_policy(&policy.name),
        }
    }

    /// What the trigger points at: the forwarder, or for a permission the invoking principal.
    pub fn target(&self) -> String {
        match self {
            Self::S3Notification { destination, .. }
            | Self::SubscriptionFilter { destination, .. } => destination.clone(),
            Self::InvokePermission { permission, .. } => permission.invoker.principal().to_owned(),
            Self::AccountPolicy { policy } => policy.destination_arn.clone(),
        }
    }

    /// The forwarder the trigger invokes and as whom, for the permission it needs (none for a
    /// permission itself).
    pub fn invoked_by(&self) -> Option<(Option<FunctionArn>, Invoker)> {
        let (destination, invoker) = match self {
            Self::S3Notification { destination, .. } => (destination, Invoker::S3),
            Self::SubscriptionFilter { destination, .. } => (destination, Invoker::Logs),
            Self::AccountPolicy { policy } => (&policy.destination_arn, Invoker::Logs),
            Self::InvokePermission { .. } => return None,
        };
        Some((FunctionArn::parse(destination).ok(), invoker))
    }
}

/// One change to make. Serialised only: its reason is written as the sentence it renders to.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Change {
    /// Create, update or delete.
    pub action: Action,
    /// What it acts on.
    pub trigger: Trigger,
    /// Why, as data; `Display` gives the sentence a reviewer can check.
    pub reason: ChangeReason,
    /// The resource of another change in the plan this one waits for: it is applied only once
    /// that change was, and skipped (`dependency_failed`) otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
}

/// Why something that was found is not acted on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// Excluded by configuration.
    Excluded,
    /// Subscribing it would feed the forwarder its own output.
    LoopGuard,
    /// No usable forwarder in the location's region.
    NoForwarder,
    /// The bucket's region could not be resolved.
    BucketRegionUnknown,
    /// The bucket named by a source does not exist.
    BucketMissing,
    /// The current state could not be read.
    Unreadable,
    /// Our S3 rule would overlap another rule of the bucket.
    S3Overlap,
    /// The log group has no free subscription filter slot.
    NoFreeSlot,
    /// The log group does not exist yet.
    LogGroupMissing,
    /// The log group's class does not support subscription filters.
    LogGroupClass,
    /// Discovery had gaps, so deletes wait for a complete pass.
    IncompleteDiscovery,
    /// The per-pass delete cap was reached.
    DeleteCap,
    /// The resource is on the protect list.
    Protected,
    /// The logs go somewhere no trigger can be put (e.g. a Firehose stream).
    NotSubscribable,
    /// The bucket is in a region autosub is not configured to reconcile.
    RegionNotReconciled,
    /// Stale, but not yet for `stale_passes_before_delete` consecutive passes.
    StaleWait,
    /// autosub was shutting down; the change waits for the next pass.
    Shutdown,
    /// The pass read only part of the region (an incremental audit), so it cannot tell that
    /// nothing uses a permission statement any more; a full audit decides.
    PartialSweep,
    /// The region's one account-level subscription filter policy is someone else's.
    AccountPolicyTaken,
    /// The account policy's exclusions would pass AWS's 25 KB limit on selection criteria.
    AccountPolicyTooLarge,
    /// The change it waits for (`Change::after`) was not applied.
    DependencyFailed,
    /// Our filter name or entry id is held by a trigger that is not ours (it sends elsewhere).
    NameTaken,
    /// S3 cannot validate one of the bucket's destinations, and refuses every write until it
    /// is fixed.
    DestinationInvalid,
    /// An account-level subscription filter policy to another destination: reported, never
    /// touched (it takes no filter slot).
    ForeignAccountPolicy,
    /// The log bucket belongs to another account: never written.
    BucketOtherAccount,
}

impl SkipReason {
    /// The label used in tables, JSON and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Excluded => "excluded",
            Self::LoopGuard => "loop_guard",
            Self::NoForwarder => "no_forwarder",
            Self::BucketRegionUnknown => "bucket_region_unknown",
            Self::BucketMissing => "bucket_missing",
            Self::Unreadable => "unreadable",
            Self::S3Overlap => "s3_overlap",
            Self::NoFreeSlot => "no_free_slot",
            Self::LogGroupMissing => "log_group_missing",
            Self::LogGroupClass => "log_group_class",
            Self::IncompleteDiscovery => "incomplete_discovery",
            Self::DeleteCap => "delete_cap",
            Self::Protected => "protected",
            Self::NotSubscribable => "not_subscribable",
            Self::RegionNotReconciled => "region_not_reconciled",
            Self::StaleWait => "stale_wait",
            Self::Shutdown => "shutdown",
            Self::PartialSweep => "partial_sweep",
            Self::AccountPolicyTaken => "account_policy_taken",
            Self::AccountPolicyTooLarge => "account_policy_too_large",
            Self::DependencyFailed => "dependency_failed",
            Self::NameTaken => "name_taken",
            Self::DestinationInvalid => "destination_invalid",
            Self::ForeignAccountPolicy => "foreign_account_policy",
            Self::BucketOtherAccount => "bucket_other_account",
        }
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Something found and deliberately not acted on.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Skip {
    /// What it is about, e.g. `log-group:/aws/lambda/x` or `s3://bucket/prefix`.
    pub subject: String,
    /// Why, as a label.
    pub reason: SkipReason,
    /// Why, in words, naming what blocks it and how to fix it.
    pub detail: String,
}

/// Where the ledger puts the region's account policy called `name`.
pub fn location_of_account_policy(name: &str) -> String {
    format!("account-policy:{name}")
}
