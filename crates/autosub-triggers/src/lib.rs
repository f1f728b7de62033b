//! Trigger backends: read what exists (observe) and carry out a plan (apply) for the three kinds
//! of trigger autosub manages — S3 bucket notifications, CloudWatch Logs subscription filters and
//! the forwarder's invoke permissions.

pub mod apply;
pub mod observe;

pub use apply::{ChangeOutcome, Outcome, apply};
