//! The reconcile pass of one target (account × region): discover → desire → observe → plan →
//! apply; a run over every target with its ledger; the events a finished run reports, under one
//! metric vocabulary for every sink; and the daemon that runs passes on a schedule with its
//! metrics. Level-triggered: every pass re-derives everything from AWS and the config.

mod context;
pub mod daemon;
pub mod fleet;
pub mod follow;
pub mod internal_events;
pub mod lease;
pub mod ledger;
pub mod memo;
pub mod metrics;
mod observe;
pub mod organizations;
pub mod pass;
mod pipeline;
pub mod reconcile;
pub mod report;
pub mod targeted;

pub use autosub_triggers::{ChangeOutcome, Outcome};
pub use pass::{Mode, PassReport, Progress, Run, Target, run_pass};
