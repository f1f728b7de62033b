//! The reconcile pass of one target (account × region): discover → desire → observe → plan →
//! apply. Level-triggered: every pass re-derives everything from AWS and the config.

pub mod doctor;
pub mod iam;
pub mod memo;
pub mod pass;
pub mod telemetry;

pub use autosub_triggers::{ChangeOutcome, Outcome};
pub use pass::{Mode, PassReport, Progress, Run, Target, run_pass};
