//! What a pass reads (design §4 rule 9): desired locations the ledger cannot vouch for, every
//! resource that holds a trigger the ledger says is ours, a share of the verified locations
//! (so each is re-read within the audit window) and a share of everything else (so a trigger
//! of ours the ledger lost is found within the window). A full audit reads everything.
//!
//! Guarantees: pure and deterministic (the time is an input); a verified location is trusted
//! only while what is wanted there is what was verified, it is not older than the window, and
//! nothing of ours there is stale. A ledger without a previous pass (the first pass, a lost
//! ledger) always gives a full audit.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::desired::Desired;
use crate::ids::{BucketName, LogGroupName};
use crate::ledger::{
    SweepCursors, TargetLedger, bucket_unit, log_group_unit, want_bucket_prefix, want_log_group,
};
use crate::plan::PlanPolicy;

/// How a pass chooses what to read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuditPolicy {
    /// Every verified location is re-read, and every other resource swept, within this many
    /// seconds.
    pub window_secs: u64,
    /// Read everything, and why (`--full-audit`, or no ledger to trust).
    pub full: Option<FullReason>,
}

/// Why a pass reads everything.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FullReason {
    /// Asked for (`--full-audit`).
    Asked,
    /// There is no ledger (`ledger.location = "none"`): nothing can be trusted.
    NoLedger,
    /// The ledger has no previous pass: the first pass, or the ledger was lost.
    FirstPass,
}

/// What one pass reads, and what it trusts the ledger for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scope {
    /// Set when the pass reads everything.
    pub full: Option<FullReason>,
    /// Log groups whose filters are read (each one listed in the region).
    pub log_groups: BTreeSet<LogGroupName>,
    /// Desired log groups not read: verified, within the window, not due.
    pub trusted_log_groups: BTreeSet<LogGroupName>,
    /// Buckets whose notification configuration is read (wherever they are).
    pub buckets: BTreeSet<BucketName>,
    /// Buckets of the sweep: read when they turn out to be in the pass's region.
    pub swept_buckets: BTreeSet<BucketName>,
    /// Desired buckets not read, likewise.
    pub trusted_buckets: BTreeSet<BucketName>,
    /// Verified resources re-read because their turn in the window came (`log-group:<name>`,
    /// `s3://<bucket>`).
    pub audited: BTreeSet<String>,
    /// Log groups read by the sweep for lost triggers.
    pub swept_log_groups: BTreeSet<LogGroupName>,
    /// Where the sweep stops in this pass.
    pub cursors: SweepCursors,
}

/// Chooses what a pass at `now` reads, from what is desired, what the ledger remembers, the
/// region's log groups (`listed_log_groups`) and the account's buckets (`listed_buckets`);
/// `policy` gives our marks (filter pattern, notification id prefix).
pub fn scope(
    desired: &Desired,
    ledger: &TargetLedger,
    listed_log_groups: &BTreeSet<LogGroupName>,
    listed_buckets: &BTreeSet<BucketName>,
    policy: &PlanPolicy,
    audit: AuditPolicy,
    now: u64,
) -> Scope {
    let (filter_pattern, notification_id_prefix) = (
        policy.filter_pattern.as_str(),
        policy.notification_id_prefix.as_str(),
    );
    let full = audit.full.or_else(|| {
        ledger
            .last_pass_at
            .is_none()
            .then_some(FullReason::FirstPass)
    });
    if full.is_some() {
        return Scope {
            full,
            log_groups: listed_log_groups.clone(),
            buckets: desired
                .buckets
                .keys()
                .chain(&desired.held_buckets)
                .chain(ledger_entry_ids(ledger).keys())
                .cloned()
                .collect(),
            swept_buckets: listed_buckets.clone(),
            ..Scope::default()
        };
    }
    let elapsed = now
        .saturating_sub(ledger.last_pass_at.unwrap_or(now))
        .min(audit.window_secs);
    let share = |n: usize| -> usize {
        if audit.window_secs == 0 {
            return n;
        }
        let n64 = n as u64;
        usize::try_from((n64 * elapsed).div_ceil(audit.window_secs)).unwrap_or(n)
    };

    // Log groups.
    let ours_groups = ledger_log_groups(ledger);
    let stale = stale_locations(ledger);
    let mut candidates: BTreeMap<LogGroupName, u64> = BTreeMap::new();
    for (name, want) in &desired.log_groups {
        let unit = log_group_unit(name.as_str());
        let expected = want_log_group(&want.forwarder.to_string(), filter_pattern);
        if let Some(seen) = ledger.verified.get(&unit)
            && listed_log_groups.contains(name)
            && seen.want == expected
            && !stale.contains(&unit)
        {
            candidates.insert(name.clone(), seen.seen_at);
        }
    }
    let (trusted_log_groups, audited_groups) = pick_audit(candidates, &share, now, audit);
    let known: BTreeSet<&LogGroupName> = desired
        .log_groups
        .keys()
        .chain(&desired.held_log_groups)
        .chain(&ours_groups)
        .collect();
    let unknown: Vec<&LogGroupName> = listed_log_groups
        .iter()
        .filter(|g| !known.contains(g))
        .collect();
    let (swept_log_groups, log_cursor) = sweep(
        &unknown,
        ledger.sweep.log_groups.as_deref(),
        share(unknown.len()),
        LogGroupName::as_str,
    );
    let log_groups: BTreeSet<LogGroupName> = known
        .into_iter()
        .filter(|g| !trusted_log_groups.contains(*g) && listed_log_groups.contains(*g))
        .cloned()
        .chain(swept_log_groups.iter().cloned())
        .collect();

    // Buckets.
    let ours_by_bucket = ledger_entry_ids(ledger);
    let ours_buckets: BTreeSet<BucketName> = ours_by_bucket.keys().cloned().collect();
    let mut candidates: BTreeMap<BucketName, u64> = BTreeMap::new();
    for (bucket, want) in &desired.buckets {
        let expected = want_bucket_prefix(&want.forwarder.to_string());
        // Every entry of ours there must be a wanted one that no pass found stale.
        let ours_all_wanted = ours_by_bucket.get(bucket).is_none_or(|ours| {
            ours.iter().all(|(id, stale)| {
                *stale == 0
                    && id
                        .strip_prefix(notification_id_prefix)
                        .is_some_and(|p| want.prefixes.contains_key(p))
            })
        });
        let oldest = want
            .prefixes
            .keys()
            .map(|p| {
                ledger
                    .verified
                    .get(&bucket_unit(bucket.as_str(), p))
                    .filter(|v| v.want == expected)
                    .map(|v| v.seen_at)
            })
            .collect::<Option<Vec<u64>>>()
            .and_then(|seen| seen.into_iter().min());
        if let Some(oldest) = oldest
            && ours_all_wanted
        {
            candidates.insert(bucket.clone(), oldest);
        }
    }
    let (trusted_buckets, audited_buckets) = pick_audit(candidates, &share, now, audit);
    let known: BTreeSet<&BucketName> = desired
        .buckets
        .keys()
        .chain(&desired.held_buckets)
        .chain(&ours_buckets)
        .collect();
    let unknown: Vec<&BucketName> = listed_buckets
        .iter()
        .filter(|b| !known.contains(b))
        .collect();
    let (swept_buckets, bucket_cursor) = sweep(
        &unknown,
        ledger.sweep.buckets.as_deref(),
        share(unknown.len()),
        BucketName::as_str,
    );
    let buckets = known
        .into_iter()
        .filter(|b| !trusted_buckets.contains(*b))
        .cloned()
        .collect();

    let audited = audited_groups
        .iter()
        .map(|g| log_group_unit(g.as_str()))
        .chain(audited_buckets.iter().map(|b| format!("s3://{b}")))
        .collect();
    Scope {
        full: None,
        log_groups,
        trusted_log_groups,
        buckets,
        swept_buckets,
        trusted_buckets,
        audited,
        swept_log_groups,
        cursors: SweepCursors {
            log_groups: log_cursor.or_else(|| ledger.sweep.log_groups.clone()),
            buckets: bucket_cursor.or_else(|| ledger.sweep.buckets.clone()),
        },
    }
}

/// Splits verified resources (with the time each was last seen) into the trusted ones and the
/// ones audited this pass: every one older than the window, and the `share` longest unseen.
fn pick_audit<K: Ord + Clone>(
    candidates: BTreeMap<K, u64>,
    share: &dyn Fn(usize) -> usize,
    now: u64,
    audit: AuditPolicy,
) -> (BTreeSet<K>, BTreeSet<K>) {
    let due = share(candidates.len());
    let mut by_age: Vec<(u64, K)> = candidates.into_iter().map(|(k, t)| (t, k)).collect();
    by_age.sort();
    let mut trusted = BTreeSet::new();
    let mut audited = BTreeSet::new();
    for (rank, (seen_at, key)) in by_age.into_iter().enumerate() {
        if rank < due || now.saturating_sub(seen_at) >= audit.window_secs {
            audited.insert(key);
        } else {
            trusted.insert(key);
        }
    }
    (trusted, audited)
}

/// The next `count` of the sorted `names` after `cursor` (wrapping around), and the new cursor.
fn sweep<T: Clone + Ord>(
    names: &[&T],
    cursor: Option<&str>,
    count: usize,
    name: fn(&T) -> &str,
) -> (BTreeSet<T>, Option<String>) {
    if names.is_empty() || count == 0 {
        return (BTreeSet::new(), None);
    }
    let start = cursor.map_or(0, |c| names.partition_point(|n| name(n) <= c));
    let taken: Vec<&T> = names
        .iter()
        .cycle()
        .skip(start)
        .take(count.min(names.len()))
        .copied()
        .collect();
    let last = taken.last().map(|t| name(t).to_owned());
    (taken.into_iter().cloned().collect(), last)
}

/// Log groups where the ledger says a trigger of ours is.
fn ledger_log_groups(ledger: &TargetLedger) -> BTreeSet<LogGroupName> {
    ledger
        .triggers
        .values()
        .filter_map(|e| e.location.strip_prefix("log-group:"))
        .map(LogGroupName::new)
        .collect()
}

/// Buckets where the ledger says a notification entry of ours is, with each entry's id and
/// stale count.
fn ledger_entry_ids(ledger: &TargetLedger) -> BTreeMap<BucketName, Vec<(&str, u32)>> {
    let mut by_bucket: BTreeMap<BucketName, Vec<(&str, u32)>> = BTreeMap::new();
    for (key, entry) in &ledger.triggers {
        if let Some(bucket) = entry.location.strip_prefix("s3://") {
            let id = key
                .strip_prefix(&format!("{} {} ", entry.kind, entry.location))
                .unwrap_or_default();
            by_bucket
                .entry(BucketName::from(bucket))
                .or_default()
                .push((id, entry.stale_passes));
        }
    }
    by_bucket
}

/// Verified units of log groups holding a trigger of ours that a pass found stale: they are
/// read until the trigger is deleted or wanted again.
fn stale_locations(ledger: &TargetLedger) -> BTreeSet<String> {
    ledger
        .triggers
        .values()
        .filter(|e| e.stale_passes > 0)
        .map(|e| e.location.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desired::{DesiredBucket, DesiredLogGroup};
    use crate::ids::{AccountId, FunctionArn, Region};
    use crate::ledger::{LedgerEntry, Origin, Verified};
    use crate::plan_tests::policy;

    const DAY: u64 = 24 * 60 * 60;
    const TICK: u64 = 15 * 60;
    const T0: u64 = 1_000_000;

    fn fwd() -> FunctionArn {
        FunctionArn::from_parts(
            &AccountId::new("111122223333"),
            &Region::new("us-east-1"),
            "fwd",
        )
    }

    fn incremental() -> AuditPolicy {
        AuditPolicy {
            window_secs: DAY,
            full: None,
        }
    }

    fn names(prefix: &str, n: usize) -> Vec<LogGroupName> {
        (0..n)
            .map(|i| LogGroupName::new(format!("{prefix}{i:04}")))
            .collect()
    }

    fn desired_groups(groups: &[LogGroupName]) -> Desired {
        let mut desired = Desired::default();
        for g in groups {
            desired.log_groups.insert(
                g.clone(),
                DesiredLogGroup {
                    forwarder: fwd(),
                    sources: BTreeSet::new(),
                },
            );
        }
        desired
    }

    fn verified_at(ledger: &mut TargetLedger, groups: &[LogGroupName], at: u64) {
        for g in groups {
            ledger.verified.insert(
                log_group_unit(g.as_str()),
                Verified {
                    want: want_log_group(&fwd().to_string(), ""),
                    seen_at: at,
                },
            );
        }
    }

    fn run(
        desired: &Desired,
        ledger: &TargetLedger,
        listed: &BTreeSet<LogGroupName>,
        now: u64,
    ) -> Scope {
        scope(
            desired,
            ledger,
            listed,
            &BTreeSet::new(),
            &policy(),
            incremental(),
            now,
        )
    }

    #[test]
    fn a_ledger_without_a_previous_pass_and_an_asked_audit_read_everything() {
        let groups = names("/g", 5);
        let listed: BTreeSet<_> = groups.iter().cloned().collect();
        let first = run(
            &desired_groups(&groups[..1]),
            &TargetLedger::default(),
            &listed,
            T0,
        );
        assert_eq!(first.full, Some(FullReason::FirstPass));
        assert_eq!(first.log_groups, listed);

        let mut ledger = TargetLedger {
            last_pass_at: Some(T0),
            ..TargetLedger::default()
        };
        verified_at(&mut ledger, &groups, T0);
        let asked = scope(
            &desired_groups(&groups),
            &ledger,
            &listed,
            &BTreeSet::new(),
            &policy(),
            AuditPolicy {
                window_secs: DAY,
                full: Some(FullReason::Asked),
            },
            T0 + TICK,
        );
        assert_eq!(
            (asked.full, asked.log_groups),
            (Some(FullReason::Asked), listed)
        );
    }

    #[test]
    fn a_pass_reads_new_changed_stale_and_due_groups_and_trusts_the_rest() {
        let groups = names("/verified", 100);
        let mut desired = desired_groups(&groups);
        let mut ledger = TargetLedger {
            last_pass_at: Some(T0),
            ..TargetLedger::default()
        };
        verified_at(&mut ledger, &groups, T0);
        // A new source, a group whose want changed (another pattern), one of ours gone stale,
        // a verified group that no longer exists, one verified more than a window ago.
        desired.log_groups.insert(
            LogGroupName::new("/new"),
            DesiredLogGroup {
                forwarder: fwd(),
                sources: BTreeSet::new(),
            },
        );
        ledger
            .verified
            .get_mut("log-group:/verified0001")
            .unwrap()
            .want = "other".into();
        ledger.triggers.insert(
            "subscription-filter log-group:/verified0002 autosub".into(),
            LedgerEntry {
                kind: "subscription-filter".into(),
                location: "log-group:/verified0002".into(),
                origin: Origin::Created,
                stale_passes: 1,
                last_seen: Some(T0),
            },
        );
        ledger
            .verified
            .get_mut("log-group:/verified0050")
            .unwrap()
            .seen_at = T0 - DAY;
        let mut listed: BTreeSet<_> = desired.log_groups.keys().cloned().collect();
        listed.remove(&LogGroupName::new("/verified0003"));

        let s = run(&desired, &ledger, &listed, T0 + TICK);
        assert_eq!(s.full, None);
        let read: Vec<&str> = s.log_groups.iter().map(LogGroupName::as_str).collect();
        // Share of the window: ceil(96 verified × 15 min / 24 h) = 1, the longest unseen
        // (/verified0050) besides being overdue; then the next by name.
        assert_eq!(
            read,
            [
                "/new",
                "/verified0000",
                "/verified0001",
                "/verified0002",
                "/verified0050"
            ]
        );
        assert_eq!(
            s.audited,
            ["log-group:/verified0000", "log-group:/verified0050"]
                .into_iter()
                .map(str::to_owned)
                .collect()
        );
        assert!(
            !s.trusted_log_groups
                .contains(&LogGroupName::new("/verified0003"))
        );
        assert_eq!(s.trusted_log_groups.len(), 95);
    }

    #[test]
    fn over_one_window_every_verified_group_is_re_read_and_every_other_group_swept() {
        let sources = names("/src", 500);
        let others = names("/other", 1500);
        let desired = desired_groups(&sources);
        let listed: BTreeSet<_> = sources.iter().chain(&others).cloned().collect();
        let mut ledger = TargetLedger {
            last_pass_at: Some(T0),
            ..TargetLedger::default()
        };
        verified_at(&mut ledger, &sources, T0);
        let mut swept: BTreeSet<LogGroupName> = BTreeSet::new();
        let passes = DAY / TICK;
        for pass in 1..=passes {
            let now = T0 + pass * TICK;
            let s = run(&desired, &ledger, &listed, now);
            // Each pass reads its share and no more: ceil(500/96) + ceil(1500/96).
            assert!(
                s.log_groups.len() <= 6 + 16,
                "pass {pass}: {}",
                s.log_groups.len()
            );
            for g in &s.trusted_log_groups {
                let seen = ledger.verified[&log_group_unit(g.as_str())].seen_at;
                assert!(
                    now - seen < DAY,
                    "pass {pass} trusts {g} seen {}s ago",
                    now - seen
                );
            }
            verified_at(
                &mut ledger,
                &s.log_groups
                    .iter()
                    .filter(|g| desired.log_groups.contains_key(*g))
                    .cloned()
                    .collect::<Vec<_>>(),
                now,
            );
            swept.extend(s.swept_log_groups);
            ledger.sweep = s.cursors;
            ledger.last_pass_at = Some(now);
        }
        assert!(
            ledger.verified.values().all(|v| v.seen_at > T0),
            "every source re-read"
        );
        assert_eq!(
            swept.len(),
            others.len(),
            "every other group swept once in the window"
        );
    }

    #[test]
    fn a_bucket_is_trusted_only_when_every_prefix_is_verified_and_every_entry_of_ours_wanted() {
        let bucket = BucketName::from("logs");
        let mut desired = Desired::default();
        desired.buckets.insert(
            bucket.clone(),
            DesiredBucket {
                region: Region::new("us-east-1"),
                forwarder: fwd(),
                prefixes: BTreeMap::from([
                    ("a/".to_owned(), BTreeSet::new()),
                    ("b/".to_owned(), BTreeSet::new()),
                ]),
            },
        );
        let mut ledger = TargetLedger {
            last_pass_at: Some(T0),
            ..TargetLedger::default()
        };
        let verify = |ledger: &mut TargetLedger, prefix: &str| {
            ledger.verified.insert(
                bucket_unit("logs", prefix),
                Verified {
                    want: want_bucket_prefix(&fwd().to_string()),
                    seen_at: T0 + 1,
                },
            );
        };
        let at = |ledger: &TargetLedger| {
            scope(
                &desired,
                ledger,
                &BTreeSet::new(),
                &BTreeSet::from([bucket.clone()]),
                &policy(),
                AuditPolicy {
                    window_secs: DAY,
                    full: None,
                },
                // No time passed: the audit's share is zero.
                T0,
            )
        };
        verify(&mut ledger, "a/");
        assert!(at(&ledger).buckets.contains(&bucket), "b/ is not verified");
        verify(&mut ledger, "b/");
        assert_eq!(
            at(&ledger).trusted_buckets,
            BTreeSet::from([bucket.clone()])
        );
        ledger.triggers.insert(
            "s3-notification s3://logs autosub-old/".into(),
            LedgerEntry {
                kind: "s3-notification".into(),
                location: "s3://logs".into(),
                origin: Origin::Created,
                stale_passes: 0,
                last_seen: Some(T0),
            },
        );
        let s = at(&ledger);
        assert!(
            s.buckets.contains(&bucket) && s.trusted_buckets.is_empty(),
            "an entry of ours for a prefix no longer wanted is read, to be deleted"
        );
    }
}
