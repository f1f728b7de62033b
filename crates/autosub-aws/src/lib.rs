//! The only autosub crate that links the AWS SDK.
//!
//! - [`factory::ClientFactory`] builds SDK clients from the default credential chain, honours
//!   endpoint overrides, and gives every service × account × region its own retry partition.
//! - [`apis`] holds the narrow per-service traits in domain types that the rest of autosub uses;
//!   the SDK implementations behind them stay private, as do all SDK types.
//! - [`source_apis`] holds the same for the services whose resources write logs.
//! - [`lease_store`] and [`organizations`] hold the fleet's lease table and account discovery.
//! - [`queue`] is the SQS queue of event-driven mode; [`queue_attributes`], [`event_rules`] and
//!   [`trails`] are the reads `autosub doctor` checks that mode's set-up with (the queue's
//!   settings, the EventBridge rule on each default bus, the CloudTrail trails).
//! - [`endpoints`] names the endpoint each client calls, for `autosub doctor`.
//! - [`error`] classifies every failure once; [`calls::CallRecorder`] counts every call.

pub mod apis;
pub mod calls;
pub mod endpoints;
pub mod error;
pub mod event_rules;
pub mod factory;
pub mod lease_store;
pub mod ledger_store;
pub mod organizations;
pub mod pacing;
pub mod queue;
pub mod queue_attributes;
pub mod source_apis;
pub mod trails;

mod api_gateway;
mod clients;
mod cloudfront;
mod cloudtrail;
mod elb;
mod elbv2;
mod lambda;
mod logs;
mod redshift;
mod s3;
mod sdk_error;
mod secrets;
mod step_functions;
mod vpc_flow_logs;
mod wafv2;

pub use apis::{
    AccessLogTarget, FunctionInfo, LambdaApi, ListedBucket, LogsApi, S3Api, SecretsApi, TargetApis,
};
pub use calls::CallRecorder;
pub use endpoints::{AwsService, ServiceEndpoint};
pub use error::{AwsError, ErrorClass};
pub use factory::{AccountAccess, AwsSettings, ClientFactory};
pub use lease_store::{Acquired, LeaseTable, Renewed};
pub use organizations::{AccountState, OrgAccount, OrganizationsApi};
