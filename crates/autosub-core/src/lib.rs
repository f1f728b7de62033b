//! The pure domain of autosub: what log sources exist, which triggers they call for, what exists
//! today, and the plan that closes the gap. No IO, no clock, no environment: the same inputs
//! always give the same, byte-identical plan.

pub mod account_policy;
pub mod audit;
pub mod change;
pub mod cloudtrail;
pub mod datadog;
pub mod desired;
pub mod focus;
pub mod ids;
pub mod ledger;
pub mod net;
pub mod notification;
pub mod observed;
pub mod pattern;
pub mod permission;
pub mod plan;
#[cfg(test)]
mod plan_tests;
pub mod policy_routing;
pub mod render;
pub mod selection;
pub mod service;
pub mod source;

pub use ids::{AccountId, BucketName, FunctionArn, LogGroupName, Partition, Region, SecretArn};
pub use notification::{DestinationKind, FilterRule, NotificationConfig, NotificationEntry};
pub use observed::{
    BucketState, Coverage, LogGroupClass, LogGroupState, Observed, Ownership, PolicyState,
    SubscriptionFilter,
};
pub use permission::{InvokePermission, Invoker, PolicyStatement};
pub use service::{GLOBAL_LOG_REGION, Scope, ServiceSpec};
pub use source::{Discovery, Gap, Location, LogSource, LoopingLocation, Service, Unsubscribable};
