//! What exists today: bucket notifications, subscription filters and forwarder resource policies,
//! as one pass read them. What a policy statement grants is the permission kind's
//! ([`crate::permission`]); it is re-exported here, where it was.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::account_policy::AccountPolicies;
use crate::ids::{BucketName, FunctionArn, LogGroupName, Region};
use crate::ledger::{SweepCursors, TargetLedger};
use crate::notification::NotificationConfig;
use crate::permission::Invoker;

pub use crate::permission::{PolicyStatement, parse_policy};

/// Who a trigger belongs to, which decides what autosub may do with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ownership {
    /// Carries our mark (filter name or notification id prefix): ours to update or delete.
    Ours,
    /// Points at the forwarder but was made by someone else: satisfies the desire, left alone.
    Adopted,
    /// Anything else: never touched.
    Foreign,
}

/// The observed state of one bucket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum BucketState {
    /// The bucket, its region and its notification configuration.
    Found {
        /// The region the bucket lives in.
        region: Region,
        /// Its whole notification configuration.
        config: NotificationConfig,
    },
    /// The bucket does not exist (any more).
    Missing,
    /// It could not be read; nothing about it is planned.
    Unreadable {
        /// The error, for the skip reason.
        detail: String,
    },
}

/// One subscription filter of a log group.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SubscriptionFilter {
    /// The filter's name, unique within its log group.
    pub name: String,
    /// Where it delivers (a Lambda, Kinesis or Firehose ARN).
    pub destination_arn: String,
    /// Its filter pattern ("" = every event).
    pub pattern: String,
}

/// The class of a log group; only `Standard` supports subscription filters.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogGroupClass {
    /// The default class.
    Standard,
    /// Any other class (`INFREQUENT_ACCESS`, `DELIVERY`, …), as AWS names it.
    Other(String),
}

/// The observed state of one log group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum LogGroupState {
    /// The log group and its subscription filters.
    Found {
        /// Its class.
        class: LogGroupClass,
        /// Its subscription filters.
        filters: Vec<SubscriptionFilter>,
    },
    /// The log group does not exist (yet: Lambda creates its group on first invocation).
    Missing,
    /// It could not be read; nothing about it is planned.
    Unreadable {
        /// The error, for the skip reason.
        detail: String,
    },
}

/// The observed resource policy of a forwarder.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum PolicyState {
    /// The function exists; its statements (none when it has no policy).
    Found {
        /// The statements of its resource policy.
        statements: Vec<PolicyStatement>,
    },
    /// It could not be read; no permission change is planned for this forwarder.
    Unreadable {
        /// The error, for the skip reason.
        detail: String,
    },
}

/// Everything observed for one target.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observed {
    /// Buckets that are desired or may hold our entries.
    pub buckets: BTreeMap<BucketName, BucketState>,
    /// Log groups that are desired or may hold our filter.
    pub log_groups: BTreeMap<LogGroupName, LogGroupState>,
    /// The resource policy of every forwarder in play.
    pub policies: BTreeMap<FunctionArn, PolicyState>,
    /// Sweeps that failed (listing the region's log groups or buckets), by the invoker whose
    /// triggers may hide there: our statement for it is not pruned on such a pass.
    #[serde(default)]
    pub unswept: BTreeMap<Invoker, String>,
    /// What the previous pass remembered about our triggers here (stale counts, origins).
    #[serde(default)]
    pub ledger: TargetLedger,
    /// How much of the target this pass read, and what it trusted the ledger for.
    #[serde(default)]
    pub coverage: Coverage,
    /// The region's account-level subscription filter policies.
    #[serde(default)]
    pub account_policies: AccountPolicies,
}

/// How much of a target a pass read (design §4 rule 9).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coverage {
    /// When the pass read AWS, in seconds since the Unix epoch.
    pub at: u64,
    /// Every log group and bucket of the region was read (a full audit). Only such a pass may
    /// conclude that nothing uses one of our permission statements any more.
    pub full: bool,
    /// Desired log groups this pass did not read: the ledger's verified records vouch for them.
    #[serde(default)]
    pub trusted_log_groups: BTreeSet<LogGroupName>,
    /// Desired buckets this pass did not read, likewise for each of their prefixes.
    #[serde(default)]
    pub trusted_buckets: BTreeSet<BucketName>,
    /// Where the sweep for lost triggers stopped in this pass.
    #[serde(default)]
    pub sweep: SweepCursors,
}

impl Default for Coverage {
    /// A full audit at the epoch: everything was read, nothing trusted.
    fn default() -> Self {
        Self {
            at: 0,
            full: true,
            trusted_log_groups: BTreeSet::new(),
            trusted_buckets: BTreeSet::new(),
            sweep: SweepCursors::default(),
        }
    }
}
