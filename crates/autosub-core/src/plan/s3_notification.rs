//! S3 bucket notifications: who owns an entry, the entry we write, the bucket's planning, and
//! the rewrite apply makes of a configuration read right before its write (every entry not
//! ours kept as read, in its place).

use std::collections::{BTreeMap, BTreeSet};

use super::{Action, Change, ChangeReason, Place, PlanPolicy, Planner, SkipReason, Trigger};
use crate::desired::DesiredBucket;
use crate::ids::{BucketName, FunctionArn, Partition, Region};
use crate::ledger::{TargetLedger, bucket_unit, want_bucket_prefix};
use crate::notification::{
    DestinationKind, FilterRule, NotificationConfig, NotificationEntry, OBJECT_CREATED_ALL, is_ours,
};
use crate::observed::{BucketState, Observed, Ownership};
use crate::permission::Invoker;

/// Who owns a notification entry of `bucket`: ours by id prefix *and* destination (a forwarder,
/// or one the ledger recorded autosub creating it for), adopted when it invokes a forwarder under
/// another id, foreign otherwise (an entry with our prefix invoking anything else too).
pub fn classify_entry(
    entry: &NotificationEntry,
    bucket: &BucketName,
    policy: &PlanPolicy,
    (forwarders, former): (&BTreeSet<FunctionArn>, &BTreeSet<FunctionArn>),
    ledger: &TargetLedger,
) -> Ownership {
    if entry.kind != DestinationKind::Lambda {
        return Ownership::Foreign;
    }
    let to_forwarder = forwarders.iter().any(|f| f.is(&entry.arn));
    let to_former = former.iter().any(|f| f.is(&entry.arn));
    let id = entry.id.as_deref().unwrap_or_default();
    let created = || {
        ledger.created(&Trigger::S3Notification {
            bucket: bucket.clone(),
            region: Region::default(),
            id: id.to_owned(),
            prefix: String::new(),
            destination: String::new(),
        })
    };
    if id.starts_with(&policy.notification_id_prefix) && (to_forwarder || to_former || created()) {
        Ownership::Ours
    } else if to_forwarder {
        Ownership::Adopted
    } else {
        Ownership::Foreign
    }
}

/// The notification entry we own for `prefix` on a bucket routed to `forwarder`.
pub fn our_entry(policy: &PlanPolicy, prefix: &str, forwarder: &str) -> NotificationEntry {
    let filter_rules = if prefix.is_empty() {
        Vec::new()
    } else {
        vec![FilterRule {
            name: "prefix".into(),
            value: prefix.into(),
        }]
    };
    NotificationEntry {
        id: Some(format!("{}{prefix}", policy.notification_id_prefix)),
        kind: DestinationKind::Lambda,
        arn: forwarder.to_owned(),
        events: vec![OBJECT_CREATED_ALL.to_owned()],
        filter_rules,
    }
}

/// A bucket's entries as read: ours by id, every other one (the adopted too), and the adopted.
struct Entries<'o> {
    ours: BTreeMap<&'o str, &'o NotificationEntry>,
    others: Vec<&'o NotificationEntry>,
    adopted: Vec<&'o NotificationEntry>,
}

/// The entries of ours a bucket should have, by id, each with the sources of its prefix.
type WantedEntries<'d> = BTreeMap<String, (NotificationEntry, &'d BTreeSet<String>)>;

/// `entry` of `bucket` in `region`, as a trigger.
fn entry_trigger(bucket: &BucketName, region: &Region, entry: &NotificationEntry) -> Trigger {
    Trigger::S3Notification {
        bucket: bucket.clone(),
        region: region.clone(),
        id: entry.id.clone().unwrap_or_default(),
        prefix: entry.prefix().to_owned(),
        destination: entry.arn.clone(),
    }
}

impl Planner<'_> {
    /// Every bucket that is desired or was read.
    pub(super) fn buckets(&mut self, observed: &Observed) {
        let names: BTreeSet<&BucketName> = self
            .desired
            .buckets
            .keys()
            .chain(observed.buckets.keys())
            .collect();
        for bucket in names {
            let wanted = self.desired.buckets.get(bucket);
            if let Some(want) = wanted
                && observed.coverage.trusted_buckets.contains(bucket)
            {
                // Every prefix verified within the audit window and not due.
                for prefix in want.prefixes.keys() {
                    self.keep_verified(bucket_unit(bucket.as_str(), prefix));
                }
                let bucket_arn = bucket.arn(Partition::of(&want.region));
                self.use_ours(&want.forwarder.to_string(), Invoker::S3, bucket_arn);
                continue;
            }
            let state = observed.buckets.get(bucket);
            if let Some((region, config)) = self.read_bucket(bucket, state, wanted) {
                self.bucket(bucket, region, &config.entries, wanted);
            }
        }
    }

    /// The region and configuration of a bucket that was read. Otherwise `None`: a trigger there
    /// may still use the s3 statement, and each prefix of a `wanted` bucket is skipped, saying why.
    fn read_bucket<'o>(
        &mut self,
        bucket: &BucketName,
        state: Option<&'o BucketState>,
        wanted: Option<&DesiredBucket>,
    ) -> Option<(&'o Region, &'o NotificationConfig)> {
        if matches!(state, None | Some(BucketState::Unreadable { .. })) {
            self.unread
                .entry(Invoker::S3)
                .or_insert(format!("s3://{bucket}"));
        }
        if let Some(BucketState::Found { region, config }) = state {
            return Some((region, config));
        }
        let want = wanted?;
        let (reason, detail) = match state {
            Some(BucketState::Missing) => (
                SkipReason::BucketMissing,
                "the bucket logs are sent to does not exist",
            ),
            Some(BucketState::Unreadable { detail }) => (SkipReason::Unreadable, detail.as_str()),
            _ => (SkipReason::Unreadable, "the bucket was not observed"),
        };
        for prefix in want.prefixes.keys() {
            self.skip(format!("s3://{bucket}/{prefix}"), reason, detail.to_owned());
        }
        None
    }

    /// One bucket that was read: ours that are no longer wanted go, the wanted ones are kept,
    /// created or updated, and every other entry stays as it is.
    fn bucket(
        &mut self,
        bucket: &BucketName,
        region: &Region,
        entries: &[NotificationEntry],
        wanted: Option<&DesiredBucket>,
    ) {
        let entries = self.classify_entries(bucket, region, entries);
        let want = self.wanted_entries(bucket, wanted, &entries.adopted);
        let kept = self.unwanted_entries(bucket, region, &entries, &want, wanted);
        for (entry, sources) in want.values() {
            self.wanted_entry(bucket, region, &entries, &kept, entry, sources);
        }
    }

    /// Classifies the entries of `bucket`; the adopted ones rely on their forwarder's s3
    /// statement, and ours are tracked in the ledger.
    fn classify_entries<'o>(
        &mut self,
        bucket: &BucketName,
        region: &Region,
        entries: &'o [NotificationEntry],
    ) -> Entries<'o> {
        let mut ours: BTreeMap<&str, &NotificationEntry> = BTreeMap::new();
        let mut others: Vec<&NotificationEntry> = Vec::new();
        let mut adopted: Vec<&NotificationEntry> = Vec::new();
        for entry in entries {
            match classify_entry(
                entry,
                bucket,
                self.policy,
                (&self.desired.forwarders, &self.former),
                self.previous,
            ) {
                Ownership::Ours => {
                    ours.insert(entry.id.as_deref().unwrap_or_default(), entry);
                }
                Ownership::Adopted => {
                    if let Ok(f) = FunctionArn::parse(&entry.arn) {
                        self.uses.adopted.insert((f, Invoker::S3));
                    }
                    adopted.push(entry);
                    others.push(entry);
                }
                Ownership::Foreign => others.push(entry),
            }
        }
        for entry in ours.values() {
            self.track(&entry_trigger(bucket, region, entry), 0);
        }
        Entries {
            ours,
            others,
            adopted,
        }
    }

    /// The entries of ours `wanted` calls for, less the prefixes an adopted entry already
    /// delivers (verified as they are).
    fn wanted_entries<'d>(
        &mut self,
        bucket: &BucketName,
        wanted: Option<&'d DesiredBucket>,
        adopted: &[&NotificationEntry],
    ) -> WantedEntries<'d> {
        let mut want = WantedEntries::new();
        let Some(w) = wanted else {
            return want;
        };
        for (prefix, sources) in &w.prefixes {
            let covered = adopted.iter().any(|a| {
                w.forwarder.is(&a.arn)
                    && a.events.iter().any(|e| e == OBJECT_CREATED_ALL)
                    && prefix.starts_with(a.prefix())
                    && a.suffix().is_empty()
            });
            if covered {
                self.verify(
                    bucket_unit(bucket.as_str(), prefix),
                    want_bucket_prefix(&w.forwarder.to_string()),
                );
            } else {
                let entry = our_entry(self.policy, prefix, &w.forwarder.to_string());
                want.insert(entry.id.clone().unwrap_or_default(), (entry, sources));
            }
        }
        want
    }

    /// Ours that are no longer wanted: deletes, unless held or blocked. Returns the entries the
    /// bucket keeps besides the wanted ones: every other entry, and ours that stay.
    fn unwanted_entries<'o>(
        &mut self,
        bucket: &BucketName,
        region: &Region,
        entries: &Entries<'o>,
        want: &WantedEntries<'_>,
        wanted: Option<&DesiredBucket>,
    ) -> Vec<&'o NotificationEntry> {
        let bucket_arn = bucket.arn(Partition::of(region));
        let held = self.desired.held_buckets.contains(bucket);
        let mut kept: Vec<&NotificationEntry> = entries.others.clone();
        for (id, entry) in &entries.ours {
            if want.contains_key(*id) {
                continue;
            }
            let use_ = FunctionArn::parse(&entry.arn)
                .ok()
                .map(|f| (f, Invoker::S3, bucket_arn.clone()));
            if held {
                let trigger = entry_trigger(bucket, region, entry);
                self.track(&trigger, self.previous.stale_passes(&trigger));
                if let Some(u) = use_ {
                    self.uses.ours.entry((u.0, u.1)).or_default().insert(u.2);
                }
                kept.push(entry);
                continue;
            }
            let reason = match wanted {
                Some(_) if entries.adopted.iter().any(|a| entry.overlaps(a)) => {
                    ChangeReason::AdoptedEntry
                }
                Some(_) => ChangeReason::PrefixNotMinimal,
                None => self.why_undesired(&format!("s3://{bucket}/{}", entry.prefix())),
            };
            let change = Change {
                action: Action::Delete,
                trigger: entry_trigger(bucket, region, entry),
                reason,
                after: None,
            };
            if !self.delete(bucket.as_str(), change, use_) {
                kept.push(entry);
            }
        }
        kept
    }

    /// One entry of ours the bucket should have: verified when ours already is that rule;
    /// otherwise created or updated, unless another entry holds its id or an entry the bucket
    /// keeps overlaps it (a skip naming that entry).
    fn wanted_entry(
        &mut self,
        bucket: &BucketName,
        region: &Region,
        entries: &Entries<'_>,
        kept: &[&NotificationEntry],
        entry: &NotificationEntry,
        sources: &BTreeSet<String>,
    ) {
        let bucket_arn = bucket.arn(Partition::of(region));
        let id = entry.id.as_deref().unwrap_or_default();
        let subject = format!("s3://{bucket}/{}", entry.prefix());
        let existing = entries.ours.get(id).copied();
        if let Some(existing) = existing
            && same_rule(existing, entry)
        {
            self.verify(
                bucket_unit(bucket.as_str(), entry.prefix()),
                want_bucket_prefix(&entry.arn),
            );
            self.use_ours(&entry.arn, Invoker::S3, bucket_arn);
            return;
        }
        if let Some(taken) = entries.others.iter().find(|o| o.id == entry.id) {
            self.skip(subject, SkipReason::NameTaken, format!(
                "the {} holds our entry id {:?} and is not autosub's; it is left alone. Remove it, or give autosub another ownership.notification_id_prefix",
                taken.describe(), id));
            return;
        }
        // Any kept entry counts: rewrite_notifications would refuse the write all the same.
        if let Some(conflict) = kept.iter().find(|k| k.overlaps(entry)) {
            self.skip(subject, SkipReason::S3Overlap, format!(
                "our rule would overlap the {} for the same events; S3 rejects overlapping rules (\"ambiguously defined\"). Narrow or remove that rule, or exclude the bucket",
                conflict.describe()));
            if let Some(existing) = existing {
                self.use_ours(&existing.arn, Invoker::S3, bucket_arn);
            }
            return;
        }
        let (action, reason) = match existing {
            Some(existing) => (
                Action::Update,
                ChangeReason::EntryDiffers {
                    destination: existing.arn.clone(),
                    events: existing.events.clone(),
                },
            ),
            None => (
                Action::Create,
                ChangeReason::NotSubscribed {
                    first_source: sources.first().cloned(),
                    sources: sources.len(),
                    place: Place::KeyPrefix,
                },
            ),
        };
        self.changes.push(Change {
            action,
            trigger: entry_trigger(bucket, region, entry),
            reason,
            after: None,
        });
        self.use_ours(&entry.arn, Invoker::S3, bucket_arn);
    }
}

fn same_rule(a: &NotificationEntry, b: &NotificationEntry) -> bool {
    a.kind == b.kind
        && FunctionArn::parse(&a.arn).ok() == FunctionArn::parse(&b.arn).ok()
        && a.events.len() == b.events.len()
        && a.events.iter().zip(&b.events).all(|(x, y)| x == y)
        && a.prefix() == b.prefix()
        && a.suffix() == b.suffix()
}

/// Applies the S3 changes of one bucket to the configuration read right before the write: drops
/// our entries being updated or deleted, adds ours being created or updated, and keeps every
/// other entry exactly as read and in its place. A change whose rule would overlap a remaining
/// entry is left out, with that entry's description.
pub fn rewrite_notifications(
    current: &NotificationConfig,
    changes: &[&Change],
    policy: &PlanPolicy,
) -> (NotificationConfig, Vec<Option<String>>) {
    let replaced: BTreeSet<&str> = changes
        .iter()
        .filter_map(|c| match &c.trigger {
            Trigger::S3Notification { id, .. } => Some(id.as_str()),
            _ => None,
        })
        .collect();
    let mut next = NotificationConfig {
        entries: current
            .entries
            .iter()
            .filter(|e| {
                !(is_ours(e, &policy.notification_id_prefix)
                    && replaced.contains(e.id.as_deref().unwrap_or_default()))
            })
            .cloned()
            .collect(),
        event_bridge: current.event_bridge,
    };
    let conflicts = changes
        .iter()
        .map(|change| match (&change.action, &change.trigger) {
            (
                Action::Create | Action::Update,
                Trigger::S3Notification {
                    prefix,
                    destination,
                    ..
                },
            ) => {
                let entry = our_entry(policy, prefix, destination);
                match next.entries.iter().find(|e| e.overlaps(&entry)) {
                    Some(conflict) => Some(conflict.describe()),
                    None => {
                        next.entries.push(entry);
                        None
                    }
                }
            }
            _ => None,
        })
        .collect();
    (next, conflicts)
}
