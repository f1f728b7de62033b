//! The ledger: what autosub remembers about the triggers it owns in one target between passes —
//! which it created, and for how many consecutive passes each has been stale — so a delete can
//! wait N passes (design §4 rule 3).
//!
//! The ledger never widens ownership: a trigger is ours only when it carries our mark, whatever
//! the ledger says. Losing the ledger therefore only resets the stale counts (deletes wait
//! longer) and forgets which triggers were created rather than found.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::plan::{Action, Change, Trigger};

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
}

/// The ledger of one target (account × region), keyed by [`key`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetLedger {
    /// Every trigger we own in the target.
    pub triggers: BTreeMap<String, LedgerEntry>,
}

impl TargetLedger {
    /// Stale passes recorded for `trigger` (0 when unknown).
    pub fn stale_passes(&self, trigger: &Trigger) -> u32 {
        self.triggers
            .get(&key(trigger))
            .map_or(0, |e| e.stale_passes)
    }

    /// Records that `trigger` is ours with `stale_passes`, keeping a known origin.
    pub fn track(&mut self, trigger: &Trigger, stale_passes: u32, previous: &TargetLedger) {
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
            },
        );
    }

    /// Records an applied change: a create or update makes the trigger ours and fresh, a delete
    /// forgets it.
    pub fn record_applied(&mut self, change: &Change) {
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
                    },
                );
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

/// The ledger key of a trigger: its kind, where it lives and its mark (filter name, entry id or
/// statement id), which together identify it in AWS.
pub fn key(trigger: &Trigger) -> String {
    let mark = match trigger {
        Trigger::S3Notification { id, .. } => id.as_str(),
        Trigger::SubscriptionFilter { filter_name, .. } => filter_name.as_str(),
        Trigger::InvokePermission { permission, .. } => permission.statement_id.as_str(),
    };
    format!("{} {} {mark}", trigger.kind(), location(trigger))
}

/// The resource that holds a trigger, as the ledger names it.
pub fn location(trigger: &Trigger) -> String {
    match trigger {
        Trigger::S3Notification { bucket, .. } => format!("s3://{bucket}"),
        Trigger::SubscriptionFilter { log_group, .. } => format!("log-group:{log_group}"),
        Trigger::InvokePermission { forwarder, .. } => format!("lambda:{forwarder}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::LogGroupName;

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
            reason: String::new(),
        }
    }

    #[test]
    fn applied_changes_are_recorded_with_their_origin() {
        let mut ledger = TargetLedger::default();
        ledger.record_applied(&change(Action::Create, filter("/a")));
        assert_eq!(
            ledger.triggers["subscription-filter log-group:/a autosub"].origin,
            Origin::Created
        );

        let mut found = TargetLedger::default();
        found.track(&filter("/b"), 2, &TargetLedger::default());
        found.record_applied(&change(Action::Update, filter("/b")));
        let entry = &found.triggers["subscription-filter log-group:/b autosub"];
        assert_eq!(
            (entry.origin, entry.stale_passes),
            (Origin::Found, 0),
            "an update keeps the origin and freshens the trigger"
        );

        found.record_applied(&change(Action::Delete, filter("/b")));
        assert!(found.triggers.is_empty());
    }

    #[test]
    fn tracking_keeps_a_known_origin() {
        let mut previous = TargetLedger::default();
        previous.record_applied(&change(Action::Create, filter("/a")));
        let mut next = TargetLedger::default();
        next.track(&filter("/a"), 1, &previous);
        next.track(&filter("/new"), 0, &previous);
        assert_eq!(next.stale_passes(&filter("/a")), 1);
        let origins: Vec<Origin> = next.triggers.values().map(|e| e.origin).collect();
        assert_eq!(origins, [Origin::Created, Origin::Found]);
        assert_eq!(next.count_by_kind()["subscription-filter"], 2);
    }
}
