//! What a pass works with: its target, its mode, where its progress goes, what the passes of
//! one account share in a run, and the context that bundles them. A leaf of the pass: `pass`
//! and `observe` both take it, neither through the other.

use std::collections::{BTreeMap, BTreeSet};

use autosub_aws::apis::TargetApis;
use autosub_config::{Config, ForwarderRef};
use autosub_core::audit::AuditPolicy;
use autosub_core::focus::Focus;
use autosub_core::{AccountId, Discovery, FunctionArn, PolicyState, Region};
use serde::Serialize;
use tokio::sync::OnceCell;

use crate::targeted::Discoveries;

/// An account and region to reconcile.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Target {
    /// The account.
    pub account: AccountId,
    /// The region.
    pub region: Region,
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.account, self.region)
    }
}

/// Plan only, or plan and apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Read-only: discover, observe and plan.
    Plan,
    /// Also apply the plan.
    Apply,
}

/// Where a pass reports what it is doing (a progress bar on a terminal, logs otherwise).
pub trait Progress: Send + Sync {
    /// The pass moved on to `step`.
    fn step(&self, target: &Target, step: &str);
}

/// What the passes of one account in a run share: the regions reconciled, the account's
/// forwarders and their policies (read once, before any pass of the account writes: a pass
/// changes only its own region's forwarder, and reads the others only to know they exist), the
/// discovery of global services (made once) and the command's stale-pass default.
pub struct Run {
    /// Every region the run reconciles in the account.
    pub regions: BTreeSet<Region>,
    /// The forwarder of each region (a name is resolved in the account).
    pub forwarders: BTreeMap<Region, ForwarderRef>,
    /// `safety.stale_passes_before_delete` when the config leaves it unset.
    pub stale_passes_before_delete: u32,
    /// How the passes choose what to read.
    pub audit: AuditPolicy,
    /// The run's time, in seconds since the Unix epoch: what the ledger records as seen.
    pub now: u64,
    /// The discovery of global services, made by the first pass that needs it.
    pub(crate) global: OnceCell<Discovery>,
    /// The forwarders' policies, read by the first pass of the account.
    pub(crate) policies: OnceCell<ForwarderPolicies>,
}

/// The forwarders' resource policies, and why the missing ones are unavailable, by region.
pub(crate) type ForwarderPolicies = (BTreeMap<FunctionArn, PolicyState>, BTreeMap<Region, String>);

impl Run {
    /// A run at `now` over `regions` with `forwarders` that deletes on the first stale pass and
    /// audits incrementally over a day.
    pub fn new(
        regions: impl IntoIterator<Item = Region>,
        forwarders: BTreeMap<Region, ForwarderRef>,
        now: u64,
    ) -> Self {
        Self {
            regions: regions.into_iter().collect(),
            forwarders,
            stale_passes_before_delete: 1,
            audit: AuditPolicy {
                window_secs: 24 * 60 * 60,
                full: None,
            },
            now,
            global: OnceCell::new(),
            policies: OnceCell::new(),
        }
    }
}

/// What one pass works with: the target, its clients, the run it belongs to.
pub struct PassCx<'a> {
    /// The target's AWS clients.
    pub apis: &'a TargetApis,
    /// The account and region.
    pub target: &'a Target,
    /// What the run's passes share.
    pub run: &'a Run,
    /// The validated configuration.
    pub config: &'a Config,
    /// Plan only, or apply.
    pub mode: Mode,
    /// Where progress goes.
    pub progress: &'a dyn Progress,
    /// In a targeted pass, what the events touched in the target.
    pub focus: Option<&'a Focus>,
    /// The targets' latest discoveries: a pass remembers its own, a targeted pass plans from
    /// it (without one, it runs as a full pass).
    pub discoveries: Option<&'a Discoveries>,
}
