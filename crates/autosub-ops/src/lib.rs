//! The operational features beside the reconcile: `doctor` (preflight checks with the fix for
//! each), `iam` (the least-privilege policy `autosub iam-policy` prints and the deploy
//! templates carry) and `telemetry` (a run's metrics and events to Datadog). They read the
//! engine's reports and accounts; the engine knows nothing of them.

pub mod doctor;
pub mod iam;
pub mod telemetry;
