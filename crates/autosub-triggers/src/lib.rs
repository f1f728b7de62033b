//! Trigger backends: read what exists (observe) and carry out a plan (apply) for the four kinds
//! of trigger autosub manages, one module each: S3 bucket notifications (`s3_notification`),
//! CloudWatch Logs subscription filters (`subscription_filter`), the forwarder's invoke
//! permissions (`invoke_permission`) and the account-level subscription filter policy
//! (`account_policy`). [`observe`] and [`apply`](mod@apply) are their entry points; `apply`
//! runs the plan's loop and hands each change to its kind.

mod account_policy;
pub mod apply;
mod invoke_permission;
pub mod observe;
mod outcome;
mod s3_notification;
mod subscription_filter;

pub use apply::apply;
pub use outcome::{ChangeOutcome, Outcome};
