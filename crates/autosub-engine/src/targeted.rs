//! What a targeted pass does differently from a scheduled one: it plans from the target's last
//! full discovery with the focused resources re-discovered ([`Discoveries`] remembers it), and
//! it reads and plans only the locations in play ([`InPlay`]), looking each log group up by name
//! as it reads it instead of listing the region. It creates and updates; deletes wait for the scheduled passes,
//! which count stale passes.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use autosub_core::desired::Desired;
use autosub_core::focus::{Focus, InPlay};
use autosub_core::ledger::TargetLedger;
use autosub_core::plan::{Action, Plan};
use autosub_core::{Discovery, GLOBAL_LOG_REGION};

use crate::context::Target;

/// The last discovery of each target, as its latest pass (full or targeted) left it.
#[derive(Default)]
pub struct Discoveries(Mutex<BTreeMap<Target, Discovery>>);

impl Discoveries {
    /// The discovery `target`'s latest pass made, if any pass ran since the process started.
    pub fn get(&self, target: &Target) -> Option<Discovery> {
        self.lock().get(target).cloned()
    }

    /// Remembers `target`'s latest discovery.
    pub fn put(&self, target: &Target, discovery: Discovery) {
        self.lock().insert(target.clone(), discovery);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<Target, Discovery>> {
        // A poisoned map only lost an update; its contents are still valid discoveries.
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A run's part in event-driven mode.
#[derive(Clone, Copy, Default)]
pub struct Targeting<'a> {
    /// Where every pass remembers its discovery (the daemon's; none for one-shot commands).
    pub discoveries: Option<&'a Discoveries>,
    /// A targeted run: only the targets events touched, each narrowed to its focus.
    pub focused: Option<&'a Focused>,
}

/// What events touched, by target.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Focused(pub BTreeMap<Target, Focus>);

impl Focused {
    /// The focus of `target`: its own, and the global services' resources touched in its
    /// account (their events are recorded in [`GLOBAL_LOG_REGION`], but a CloudFront
    /// distribution logs to a bucket in any region, whose own pass plans it).
    pub fn of(&self, target: &Target) -> Option<Focus> {
        let mut focus = self.0.get(target).cloned();
        if target.region.as_str() != GLOBAL_LOG_REGION {
            let home = Target {
                account: target.account.clone(),
                region: autosub_core::service::global_log_region(),
            };
            if let Some(global) = self.0.get(&home) {
                let resources: BTreeMap<_, _> = global
                    .resources
                    .iter()
                    .filter(|(service, _)| service.is_global())
                    .map(|(s, keys)| (*s, keys.clone()))
                    .collect();
                if !resources.is_empty() {
                    focus.get_or_insert_with(Focus::default).merge(Focus {
                        resources,
                        ..Focus::default()
                    });
                }
            }
        }
        focus
    }

    /// The accounts with a focused target.
    pub fn accounts(&self) -> BTreeSet<&autosub_core::AccountId> {
        self.0.keys().map(|t| &t.account).collect()
    }
}

/// The desire narrowed to the locations in play (and the skips that speak of them).
pub(crate) fn narrow(desired: &mut Desired, in_play: &InPlay) {
    desired
        .log_groups
        .retain(|g, _| in_play.log_groups.contains(g));
    desired
        .held_log_groups
        .retain(|g| in_play.log_groups.contains(g));
    desired.buckets.retain(|b, _| in_play.buckets.contains(b));
    desired.held_buckets.retain(|b| in_play.buckets.contains(b));
    desired
        .skips
        .retain(|s| in_play.holds(subject_location(&s.subject)));
}

/// The ledger location a skip's subject speaks of (`s3://bucket/prefix` → `s3://bucket`).
fn subject_location(subject: &str) -> &str {
    match subject.strip_prefix("s3://") {
        Some(rest) => {
            let bucket_len = rest.find('/').unwrap_or(rest.len());
            &subject[..5 + bucket_len]
        }
        None => subject,
    }
}

/// The part of the ledger a targeted pass plans with: the records of the locations in play, and
/// the permission statements (which every pass reads).
pub(crate) fn ledger_in_play(previous: &TargetLedger, in_play: &InPlay) -> TargetLedger {
    let mut ledger = previous.clone();
    ledger
        .triggers
        .retain(|_, e| in_play.holds(&e.location) || e.location.starts_with("lambda:"));
    ledger
        .verified
        .retain(|unit, _| in_play.holds(subject_location(unit)));
    ledger
}

/// The plan without its deletes: a targeted pass leaves them to the scheduled passes.
pub(crate) fn without_deletes(mut plan: Plan) -> Plan {
    plan.changes.retain(|c| c.action != Action::Delete);
    plan
}

#[cfg(test)]
mod tests {
    use autosub_core::cloudtrail::Touched;
    use autosub_core::{AccountId, Region, Service};

    use super::*;

    fn target(region: &str) -> Target {
        Target {
            account: AccountId::new("123456789012"),
            region: Region::new(region),
        }
    }

    #[test]
    fn global_resources_are_in_focus_in_every_region_of_their_account() {
        let mut home = Focus::default();
        home.add(Touched::Resource {
            service: Service::CloudFront,
            key: "E1".into(),
        });
        home.add(Touched::Resource {
            service: Service::Lambda,
            key: "orders".into(),
        });
        let focused = Focused(BTreeMap::from([(target("us-east-1"), home.clone())]));
        assert_eq!(focused.of(&target("us-east-1")), Some(home));
        let elsewhere = focused.of(&target("eu-west-1")).unwrap();
        assert_eq!(elsewhere.services(), BTreeSet::from([Service::CloudFront]));
        assert_eq!(
            focused.of(&Target {
                account: AccountId::new("210987654321"),
                region: Region::new("eu-west-1"),
            }),
            None
        );
    }

    #[test]
    fn skip_subjects_name_their_location() {
        assert_eq!(subject_location("s3://logs/AWSLogs/1/"), "s3://logs");
        assert_eq!(subject_location("s3://logs"), "s3://logs");
        assert_eq!(subject_location("log-group:/a/b"), "log-group:/a/b");
    }
}
