//! Observing current triggers, each kind by its own module. Each read error is kept on the
//! resource it concerns (`Unreadable`) so the planner skips that resource and nothing else.

pub use crate::account_policy::account_policies;
pub use crate::invoke_permission::{forwarder_policies, policy_state};
pub use crate::s3_notification::{bucket_regions, buckets, list_buckets};
pub use crate::subscription_filter::{
    GroupClasses, list_log_groups, log_group_reads, read_log_groups,
};
