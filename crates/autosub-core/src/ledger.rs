//! The ledger: what autosub remembers about the triggers it owns in one target between passes —
//! which it created, and for how many consecutive passes each has been stale — so a delete can
//! wait N passes (design §4 rule 3).
//!
//! It also remembers what lets a pass skip reads (design §4 rule 9): which desired locations were
//! last seen satisfied, with what and when ([`Verified`]), when the previous pass ran, and how far
//! the sweep for lost triggers has come ([`SweepCursors`]). A pass trusts those records within
//! the audit window and re-reads a share of them every pass.
//!
//! The ledger never widens ownership: a trigger is ours only when it carries our mark, whatever
//! the ledger says. Losing the ledger therefore only resets the stale counts (deletes wait
//! longer), forgets which triggers were created rather than found, and makes the next pass a
//! full audit.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use crate::change::location_of_account_policy;
use crate::change::{Action, Change, Trigger};

/// How autosub came to own a trigger.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// autosub created it (a recorded create).
    Created,
    /// It was found carrying our mark with no record (an earlier run, a lost ledger).
    Found,
}

/// One trigger we own.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// The trigger kind (`subscription-filter`, `s3-notification`, `invoke-permission`).
    pub kind: String,
    /// The resource that holds it (`log-group:<name>`, `s3://<bucket>`, `lambda:<arn>`).
    pub location: String,
    /// How we came to own it.
    pub origin: Origin,
    /// Consecutive passes, up to and including the last one, in which nothing wanted it.
    pub stale_passes: u32,
    /// When a pass last read it in AWS (or wrote it), in seconds since the Unix epoch; unset
    /// in ledgers written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<u64>,
}

/// A desired location (`log-group:<name>` or `s3://<bucket>/<prefix>`) that a pass read and found
/// delivered to the forwarder, by a trigger of ours or an adopted one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verified {
    /// What was wanted there then ([`want_log_group`] or [`want_bucket_prefix`]); a different
    /// want today (another forwarder or pattern) makes the record void.
    pub want: String,
    /// When it was read, in seconds since the Unix epoch.
    pub seen_at: u64,
}

/// Where the sweep for triggers of ours the ledger lost stopped: the last name it read.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SweepCursors {
    /// The last log group swept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_groups: Option<String>,
    /// The last bucket swept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buckets: Option<String>,
}

/// The `want` of a desired log group: the forwarder and our filter pattern.
pub fn want_log_group(forwarder: &str, pattern: &str) -> String {
    format!("{forwarder} {pattern:?}")
}

/// The `want` of a desired bucket prefix: the forwarder.
pub fn want_bucket_prefix(forwarder: &str) -> String {
    forwarder.to_owned()
}

/// The [`TargetLedger::verified`] key of a log group.
pub fn log_group_unit(name: &str) -> String {
    format!("log-group:{name}")
}

/// The [`TargetLedger::verified`] key of a prefix of a bucket.
pub fn bucket_unit(bucket: &str, prefix: &str) -> String {
    format!("s3://{bucket}/{prefix}")
}

/// The ledger of one target (account × region), keyed by [`key`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetLedger {
    /// Every trigger we own in the target.
    pub triggers: BTreeMap<String, LedgerEntry>,
    /// Desired locations last seen delivered to the forwarder, by unit key ([`log_group_unit`],
    /// [`bucket_unit`]).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub verified: BTreeMap<String, Verified>,
    /// When the previous pass ran, in seconds since the Unix epoch; unset before the first pass
    /// (or after the ledger was lost), which makes the next pass a full audit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_pass_at: Option<u64>,
    /// Where the sweep for lost triggers goes on from.
    #[serde(default)]
    pub sweep: SweepCursors,
}

impl TargetLedger {
    /// Stale passes recorded for `trigger` (0 when unknown).
    pub fn stale_passes(&self, trigger: &Trigger) -> u32 {
        self.triggers
            .get(&key(trigger))
            .map_or(0, |e| e.stale_passes)
    }

    /// True when the ledger records autosub creating `trigger` (by its key: kind, location and
    /// mark): evidence that it is ours whatever it points at now.
    pub fn created(&self, trigger: &Trigger) -> bool {
        self.triggers
            .get(&key(trigger))
            .is_some_and(|e| e.origin == Origin::Created)
    }

    /// Records that `trigger` is ours with `stale_passes`, read at `seen_at`, keeping a known
    /// origin.
    pub fn track(
        &mut self,
        trigger: &Trigger,
        stale_passes: u32,
        seen_at: u64,
        previous: &TargetLedger,
    ) {
        let key = key(trigger);
        let origin = previous
            .triggers
            .get(&key)
            .map_or(Origin::Found, |e| e.origin);
        self.triggers.insert(
            key,
            LedgerEntry {
                kind: trigger.kind().to_owned(),
                location: location(trigger),
                origin,
                stale_passes,
                last_seen: Some(seen_at),
            },
        );
    }

    /// Records a change applied at `at`: a create or update makes the trigger ours and fresh
    /// and its location verified, a delete forgets it.
    pub fn record_applied(&mut self, change: &Change, at: u64) {
        let key = key(&change.trigger);
        match change.action {
            Action::Create | Action::Update => {
                let origin = match (change.action, self.triggers.get(&key)) {
                    (Action::Update, Some(known)) => known.origin,
                    _ => Origin::Created,
                };
                self.triggers.insert(
                    key,
                    LedgerEntry {
                        kind: change.trigger.kind().to_owned(),
                        location: location(&change.trigger),
                        origin,
                        stale_passes: 0,
                        last_seen: Some(at),
                    },
                );
                if let Some((unit, want)) = verified_unit(&change.trigger) {
                    self.verified.insert(unit, Verified { want, seen_at: at });
                }
            }
            Action::Delete => {
                self.triggers.remove(&key);
            }
        }
    }

    /// How many triggers of each kind we own.
    pub fn count_by_kind(&self) -> BTreeMap<&str, usize> {
        let mut counts = BTreeMap::new();
        for entry in self.triggers.values() {
            *counts.entry(entry.kind.as_str()).or_default() += 1;
        }
        counts
    }
}

/// One item of a ledger kept as separate items (a DynamoDB table): a trigger, a verified
/// location, or the pass's own record. Keys: the trigger's [`key`], `verified <unit>`, `pass`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LedgerItem {
    /// A trigger we own.
    Trigger(LedgerEntry),
    /// A desired location last seen delivered.
    Verified(Verified),
    /// When the last pass ran and where its sweep stopped.
    Pass {
        /// [`TargetLedger::last_pass_at`].
        last_pass_at: Option<u64>,
        /// [`TargetLedger::sweep`].
        sweep: SweepCursors,
    },
}

const VERIFIED_ITEM: &str = "verified ";
const PASS_ITEM: &str = "pass";

impl TargetLedger {
    /// The ledger as separate items, by item key.
    pub fn items(&self) -> BTreeMap<String, LedgerItem> {
        let mut items: BTreeMap<String, LedgerItem> = self
            .triggers
            .iter()
            .map(|(k, e)| (k.clone(), LedgerItem::Trigger(e.clone())))
            .chain(self.verified.iter().map(|(unit, v)| {
                (
                    format!("{VERIFIED_ITEM}{unit}"),
                    LedgerItem::Verified(v.clone()),
                )
            }))
            .collect();
        if self.last_pass_at.is_some() || self.sweep != SweepCursors::default() {
            items.insert(
                PASS_ITEM.to_owned(),
                LedgerItem::Pass {
                    last_pass_at: self.last_pass_at,
                    sweep: self.sweep.clone(),
                },
            );
        }
        items
    }

    /// The ledger of `items` (as [`TargetLedger::items`] made them).
    pub fn from_items(items: impl IntoIterator<Item = (String, LedgerItem)>) -> Self {
        let mut ledger = Self::default();
        for (key, item) in items {
            match item {
                LedgerItem::Trigger(entry) => {
                    ledger.triggers.insert(key, entry);
                }
                LedgerItem::Verified(v) => {
                    let unit = key.strip_prefix(VERIFIED_ITEM).unwrap_or(&key).to_owned();
                    ledger.verified.insert(unit, v);
                }
                LedgerItem::Pass {
                    last_pass_at,
                    sweep,
                } => {
                    ledger.last_pass_at = last_pass_at;
                    ledger.sweep = sweep;
                }
            }
        }
        ledger
    }
}

/// The verified unit a trigger of ours delivers, and its want (none for permissions).
fn verified_unit(trigger: &Trigger) -> Option<(String, String)> {
    match trigger {
        Trigger::SubscriptionFilter {
            log_group,
            pattern,
            destination,
            ..
        } => Some((
            log_group_unit(log_group.as_str()),
            want_log_group(destination, pattern),
        )),
        Trigger::S3Notification {
            bucket,
            prefix,
            destination,
            ..
        } => Some((
            bucket_unit(bucket.as_str(), prefix),
            want_bucket_prefix(destination),
        )),
        Trigger::InvokePermission { .. } | Trigger::AccountPolicy { .. } => None,
    }
}

/// The ledger key of a trigger: its kind, where it lives and its mark (filter name, entry id or
/// statement id), which together identify it in AWS.
pub fn key(trigger: &Trigger) -> String {
    let mark = match trigger {
        Trigger::S3Notification { id, .. } => id.as_str(),
        Trigger::SubscriptionFilter { filter_name, .. } => filter_name.as_str(),
        Trigger::InvokePermission { permission, .. } => permission.statement_id.as_str(),
        Trigger::AccountPolicy { policy } => policy.name.as_str(),
    };
    format!("{} {} {mark}", trigger.kind(), location(trigger))
}

/// The resource that holds a trigger, as the ledger names it.
pub fn location(trigger: &Trigger) -> String {
    match trigger {
        Trigger::S3Notification { bucket, .. } => format!("s3://{bucket}"),
        Trigger::SubscriptionFilter { log_group, .. } => format!("log-group:{log_group}"),
        Trigger::InvokePermission { forwarder, .. } => format!("lambda:{forwarder}"),
        Trigger::AccountPolicy { policy } => location_of_account_policy(&policy.name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::LogGroupName;
    use crate::plan::ChangeReason;

    fn filter(group: &str) -> Trigger {
        Trigger::SubscriptionFilter {
            log_group: LogGroupName::new(group),
            filter_name: "autosub".into(),
            pattern: String::new(),
            destination: "arn:aws:lambda:us-east-1:111122223333:function:fwd".into(),
        }
    }

    fn change(action: Action, trigger: Trigger) -> Change {
        Change {
            action,
            trigger,
            reason: ChangeReason::NoSource,
            after: None,
        }
    }

    #[test]
    fn applied_changes_are_recorded_with_their_origin() {
        let mut ledger = TargetLedger::default();
        ledger.record_applied(&change(Action::Create, filter("/a")), 7);
        assert_eq!(
            ledger.verified["log-group:/a"],
            Verified {
                want: want_log_group("arn:aws:lambda:us-east-1:111122223333:function:fwd", ""),
                seen_at: 7
            },
            "a created filter verifies its log group"
        );
        assert_eq!(
            ledger.triggers["subscription-filter log-group:/a autosub"].origin,
            Origin::Created
        );

        let mut found = TargetLedger::default();
        found.track(&filter("/b"), 2, 1, &TargetLedger::default());
        found.record_applied(&change(Action::Update, filter("/b")), 5);
        let entry = &found.triggers["subscription-filter log-group:/b autosub"];
        assert_eq!(
            (entry.origin, entry.stale_passes, entry.last_seen),
            (Origin::Found, 0, Some(5)),
            "an update keeps the origin and freshens the trigger"
        );

        found.record_applied(&change(Action::Delete, filter("/b")), 6);
        assert!(found.triggers.is_empty());
    }

    #[test]
    fn a_ledger_round_trips_through_its_items() {
        let mut ledger = TargetLedger::default();
        ledger.record_applied(&change(Action::Create, filter("/a")), 3);
        ledger.last_pass_at = Some(4);
        ledger.sweep.log_groups = Some("/z".into());
        let items = ledger.items();
        assert_eq!(
            items.keys().collect::<Vec<_>>(),
            [
                "pass",
                "subscription-filter log-group:/a autosub",
                "verified log-group:/a"
            ]
        );
        assert_eq!(TargetLedger::from_items(items), ledger);
    }

    #[test]
    fn tracking_keeps_a_known_origin() {
        let mut previous = TargetLedger::default();
        previous.record_applied(&change(Action::Create, filter("/a")), 1);
        let mut next = TargetLedger::default();
        next.track(&filter("/a"), 1, 2, &previous);
        next.track(&filter("/new"), 0, 2, &previous);
        assert_eq!(next.stale_passes(&filter("/a")), 1);
        let origins: Vec<Origin> = next.triggers.values().map(|e| e.origin).collect();
        assert_eq!(origins, [Origin::Created, Origin::Found]);
        assert_eq!(next.count_by_kind()["subscription-filter"], 2);
    }
}
