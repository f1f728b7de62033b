//! The planner: `plan(desired, observed, policy) -> Plan`, a pure function.
//!
//! Guarantees: only `Ours` triggers are ever updated or deleted; nothing is deleted when
//! discovery had gaps; the same inputs give the same plan; planning again after the plan was
//! applied gives no changes.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::account_policy::{self, AccountPolicies, AccountPolicy, AccountSelection};
use crate::desired::{Desired, DesiredBucket};
use crate::ids::{AccountId, BucketName, FunctionArn, LogGroupName, Partition, Region};
use crate::ledger::{
    self, TargetLedger, Verified, bucket_unit, location_of_account_policy, log_group_unit,
    want_bucket_prefix, want_log_group,
};
use crate::notification::{
    DestinationKind, FilterRule, NotificationConfig, NotificationEntry, OBJECT_CREATED_ALL, is_ours,
};
use crate::observed::{
    BucketState, LogGroupClass, LogGroupState, Observed, Ownership, PolicyState, PolicyStatement,
    SubscriptionFilter,
};
use crate::pattern::wildcard_match;
use crate::permission::{InvokePermission, Invoker};

/// The knobs of a plan: our ownership marks and the safety rails.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanPolicy {
    /// The account the triggers live in (scopes the invoke permissions).
    pub account: AccountId,
    /// Id prefix of the S3 notification entries we own.
    pub notification_id_prefix: String,
    /// Name of the subscription filters we own.
    pub filter_name: String,
    /// Filter pattern of our subscription filters ("" = every event).
    pub filter_pattern: String,
    /// Statement id prefix of the invoke permissions we own.
    pub statement_id_prefix: String,
    /// Subscription filters a log group may hold (AWS documents 2; some accounts have more).
    pub max_filters_per_log_group: usize,
    /// At most this many deletes per pass; the rest wait for the next pass.
    pub max_deletes_per_pass: usize,
    /// Consecutive passes a trigger of ours must be stale before it is deleted (1 = at once).
    #[serde(default = "one")]
    pub stale_passes_before_delete: u32,
    /// Bucket and log group name patterns whose triggers are never deleted.
    pub protect: Vec<String>,
}

fn one() -> u32 {
    1
}

/// What a change does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Add a trigger or permission.
    Create,
    /// Rewrite one of ours in place.
    Update,
    /// Remove one of ours.
    Delete,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Create => "create",
            Self::Update => "update",
            Self::Delete => "delete",
        })
    }
}

/// A trigger or permission, identified completely enough to apply the change.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Trigger {
    /// A Lambda entry in a bucket's notification configuration.
    S3Notification {
        /// The bucket.
        bucket: BucketName,
        /// The bucket's region.
        region: Region,
        /// The entry id (our prefix + the key prefix).
        id: String,
        /// The key prefix it fires on.
        prefix: String,
        /// The function it invokes.
        destination: String,
    },
    /// A subscription filter on a log group.
    SubscriptionFilter {
        /// The log group.
        log_group: LogGroupName,
        /// The filter name.
        filter_name: String,
        /// The filter pattern.
        pattern: String,
        /// The function it delivers to.
        destination: String,
    },
    /// An account-wide invoke permission on a forwarder.
    InvokePermission {
        /// The forwarder.
        forwarder: FunctionArn,
        /// The statement.
        permission: InvokePermission,
    },
    /// The region's account-level subscription filter policy.
    AccountPolicy {
        /// The policy.
        policy: AccountPolicy,
    },
}

impl Trigger {
    /// A short name of the trigger kind, for tables and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::S3Notification { .. } => "s3-notification",
            Self::SubscriptionFilter { .. } => "subscription-filter",
            Self::InvokePermission { .. } => "invoke-permission",
            Self::AccountPolicy { .. } => "account-policy",
        }
    }

    /// Where the trigger lives, e.g. `s3://bucket/prefix` or `log-group:/aws/lambda/x`.
    pub fn resource(&self) -> String {
        match self {
            Self::S3Notification { bucket, prefix, .. } => format!("s3://{bucket}/{prefix}"),
            Self::SubscriptionFilter { log_group, .. } => format!("log-group:{log_group}"),
            Self::InvokePermission {
                forwarder,
                permission,
            } => match &permission.replaces {
                Some(old) => format!("{forwarder} ({}, replacing {old})", permission.statement_id),
                None => format!("{forwarder} ({})", permission.statement_id),
            },
            Self::AccountPolicy { policy } => location_of_account_policy(&policy.name),
        }
    }

    /// What the trigger points at: the forwarder, or for a permission the invoking principal.
    pub fn target(&self) -> String {
        match self {
            Self::S3Notification { destination, .. }
            | Self::SubscriptionFilter { destination, .. } => destination.clone(),
            Self::InvokePermission { permission, .. } => permission.invoker.principal().to_owned(),
            Self::AccountPolicy { policy } => policy.destination_arn.clone(),
        }
    }
}

/// One change to make.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Change {
    /// Create, update or delete.
    pub action: Action,
    /// What it acts on.
    pub trigger: Trigger,
    /// Why, in a sentence a reviewer can check.
    pub reason: String,
    /// The resource of another change in the plan this one waits for: it is applied only once
    /// that change was, and skipped (`dependency_failed`) otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
}

/// Why something that was found is not acted on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// Excluded by configuration.
    Excluded,
    /// Subscribing it would feed the forwarder its own output.
    LoopGuard,
    /// No usable forwarder in the location's region.
    NoForwarder,
    /// The bucket's region could not be resolved.
    BucketRegionUnknown,
    /// The bucket named by a source does not exist.
    BucketMissing,
    /// The current state could not be read.
    Unreadable,
    /// Our S3 rule would overlap another rule of the bucket.
    S3Overlap,
    /// The log group has no free subscription filter slot.
    NoFreeSlot,
    /// The log group does not exist yet.
    LogGroupMissing,
    /// The log group's class does not support subscription filters.
    LogGroupClass,
    /// Discovery had gaps, so deletes wait for a complete pass.
    IncompleteDiscovery,
    /// The per-pass delete cap was reached.
    DeleteCap,
    /// The resource is on the protect list.
    Protected,
    /// The logs go somewhere no trigger can be put (e.g. a Firehose stream).
    NotSubscribable,
    /// The bucket is in a region autosub is not configured to reconcile.
    RegionNotReconciled,
    /// Stale, but not yet for `stale_passes_before_delete` consecutive passes.
    StaleWait,
    /// autosub was shutting down; the change waits for the next pass.
    Shutdown,
    /// The pass read only part of the region (an incremental audit), so it cannot tell that
    /// nothing uses a permission statement any more; a full audit decides.
    PartialSweep,
    /// The region's one account-level subscription filter policy is someone else's.
    AccountPolicyTaken,
    /// The account policy's exclusions would pass AWS's 25 KB limit on selection criteria.
    AccountPolicyTooLarge,
    /// The change it waits for (`Change::after`) was not applied.
    DependencyFailed,
    /// Our filter name or entry id is held by a trigger that is not ours (it sends elsewhere).
    NameTaken,
    /// S3 cannot validate one of the bucket's destinations, and refuses every write until it
    /// is fixed.
    DestinationInvalid,
    /// An account-level subscription filter policy to another destination: reported, never
    /// touched (it takes no filter slot).
    ForeignAccountPolicy,
    /// The log bucket belongs to another account: never written.
    BucketOtherAccount,
}

impl SkipReason {
    /// The label used in tables, JSON and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Excluded => "excluded",
            Self::LoopGuard => "loop_guard",
            Self::NoForwarder => "no_forwarder",
            Self::BucketRegionUnknown => "bucket_region_unknown",
            Self::BucketMissing => "bucket_missing",
            Self::Unreadable => "unreadable",
            Self::S3Overlap => "s3_overlap",
            Self::NoFreeSlot => "no_free_slot",
            Self::LogGroupMissing => "log_group_missing",
            Self::LogGroupClass => "log_group_class",
            Self::IncompleteDiscovery => "incomplete_discovery",
            Self::DeleteCap => "delete_cap",
            Self::Protected => "protected",
            Self::NotSubscribable => "not_subscribable",
            Self::RegionNotReconciled => "region_not_reconciled",
            Self::StaleWait => "stale_wait",
            Self::Shutdown => "shutdown",
            Self::PartialSweep => "partial_sweep",
            Self::AccountPolicyTaken => "account_policy_taken",
            Self::AccountPolicyTooLarge => "account_policy_too_large",
            Self::DependencyFailed => "dependency_failed",
            Self::NameTaken => "name_taken",
            Self::DestinationInvalid => "destination_invalid",
            Self::ForeignAccountPolicy => "foreign_account_policy",
            Self::BucketOtherAccount => "bucket_other_account",
        }
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Something found and deliberately not acted on.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Skip {
    /// What it is about, e.g. `log-group:/aws/lambda/x` or `s3://bucket/prefix`.
    pub subject: String,
    /// Why, as a label.
    pub reason: SkipReason,
    /// Why, in words, naming what blocks it and how to fix it.
    pub detail: String,
}

/// The changes that close the gap between desired and observed, in the order to apply them
/// (permissions first on create, last on delete), and what was skipped.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// Changes, in apply order.
    pub changes: Vec<Change>,
    /// Skips, sorted.
    pub skips: Vec<Skip>,
    /// The target's ledger after this pass, before any change is applied: every trigger of ours
    /// that was observed, with its stale count. Apply records its outcomes on top.
    #[serde(skip)]
    pub ledger: TargetLedger,
}

impl Plan {
    /// True when there is nothing to change.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// How many changes of each action the plan holds.
    pub fn count(&self, action: Action) -> usize {
        self.changes.iter().filter(|c| c.action == action).count()
    }
}

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

/// Who owns a subscription filter of `group`: ours by name *and* destination (a configured
/// forwarder, or one the ledger recorded autosub creating it for), adopted when it delivers to a
/// forwarder under another name, else foreign (a filter with our name sending elsewhere too).
pub fn classify_filter(
    filter: &SubscriptionFilter,
    group: &LogGroupName,
    policy: &PlanPolicy,
    (forwarders, former): (&BTreeSet<FunctionArn>, &BTreeSet<FunctionArn>),
    ledger: &TargetLedger,
) -> Ownership {
    let to_forwarder = forwarders.iter().any(|f| f.is(&filter.destination_arn));
    let to_former = former.iter().any(|f| f.is(&filter.destination_arn));
    let created = || {
        ledger.created(&Trigger::SubscriptionFilter {
            log_group: group.clone(),
            filter_name: filter.name.clone(),
            pattern: String::new(),
            destination: String::new(),
        })
    };
    if filter.name == policy.filter_name && (to_forwarder || to_former || created()) {
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

/// Plans the changes that make `observed` match `desired` under `policy`.
pub fn plan(desired: &Desired, observed: &Observed, policy: &PlanPolicy) -> Plan {
    let mut planner = Planner {
        desired,
        policy,
        deletes: Vec::new(),
        changes: Vec::new(),
        skips: desired.skips.clone(),
        uses: Uses::default(),
        unread: observed.unswept.clone(),
        previous: &observed.ledger,
        ledger: TargetLedger::default(),
        at: observed.coverage.at,
        policy_change: None,
        former: observed
            .policies
            .keys()
            .filter(|f| !desired.forwarders.contains(*f))
            .cloned()
            .collect(),
    };
    planner.account_policy(observed);
    planner.log_groups(observed);
    planner.buckets(observed);
    planner.permissions(observed);
    planner.carry_unobserved(observed);
    planner.ledger.last_pass_at = Some(observed.coverage.at);
    planner.ledger.sweep = observed.coverage.sweep.clone();
    planner.finish()
}

/// The permission a trigger relies on: forwarder, invoker and the trigger's source ARN.
type PermissionUse = (FunctionArn, Invoker, String);

/// Who will still invoke each forwarder after the plan is applied, by invoker.
#[derive(Default)]
struct Uses {
    /// Source ARNs of our triggers that remain or are created, per forwarder and invoker.
    ours: BTreeMap<(FunctionArn, Invoker), BTreeSet<String>>,
    /// Forwarders and invokers that adopted triggers rely on.
    adopted: BTreeSet<(FunctionArn, Invoker)>,
}

struct Planner<'a> {
    desired: &'a Desired,
    policy: &'a PlanPolicy,
    /// Deletes of ours, gated by incomplete discovery and the protect list, not yet capped.
    deletes: Vec<(Change, Option<PermissionUse>)>,
    changes: Vec<Change>,
    skips: Vec<Skip>,
    uses: Uses,
    /// Per invoker, the first log group or bucket that could not be read: it may hold a trigger
    /// that uses the invoker's statement, so that statement is not deleted this pass.
    unread: BTreeMap<Invoker, String>,
    /// The ledger as the previous pass left it.
    previous: &'a TargetLedger,
    /// The ledger after this pass: every trigger of ours observed, with its stale count.
    ledger: TargetLedger,
    /// When this pass read AWS (seconds since the Unix epoch).
    at: u64,
    /// The resource of the account policy change planned, which filter deletes it makes
    /// redundant wait for.
    policy_change: Option<String>,
    /// Forwarders whose policy was read but that route nothing this pass: configured but
    /// unusable, or formerly configured (the ledger holds a statement of ours there). A
    /// trigger with our mark pointing at one is ours (to move or keep), never adopted.
    former: BTreeSet<FunctionArn>,
}

impl Planner<'_> {
    fn skip(&mut self, subject: String, reason: SkipReason, detail: String) {
        self.skips.push(Skip {
            subject,
            reason,
            detail,
        });
    }

    /// Why a trigger found in `resource` and no longer wanted is kept, if it is.
    fn delete_blocker(&self, resource: &str, trigger: &Trigger) -> Option<(SkipReason, String)> {
        // A gap holds back only what its service could have desired: a Lambda listing that
        // failed says nothing about buckets, nor S3's about log groups.
        let (log_groups, buckets) = match trigger {
            Trigger::SubscriptionFilter { .. } | Trigger::AccountPolicy { .. } => (true, false),
            Trigger::S3Notification { .. } => (false, true),
            Trigger::InvokePermission { permission, .. } => match permission.invoker {
                Invoker::Logs => (true, false),
                Invoker::S3 => (false, true),
            },
        };
        let gaps: Vec<_> = self
            .desired
            .gaps
            .iter()
            .filter(|g| {
                (log_groups && g.service.writes_log_groups())
                    || (buckets && g.service.writes_buckets())
            })
            .collect();
        if let Some(gap) = gaps.first() {
            let more = gaps.len() - 1;
            return Some((
                SkipReason::IncompleteDiscovery,
                format!(
                    "discovery was incomplete ({}: {}{}); deletes wait for a complete pass",
                    gap.service,
                    gap.detail,
                    if more > 0 {
                        format!(" and {more} more")
                    } else {
                        String::new()
                    }
                ),
            ));
        }
        self.policy
            .protect
            .iter()
            .find(|p| wildcard_match(p, resource))
            .map(|p| {
                (
                    SkipReason::Protected,
                    format!("matches protect pattern {p:?}"),
                )
            })
    }

    /// Records `trigger` as ours in the next ledger with `stale_passes`.
    fn track(&mut self, trigger: &Trigger, stale_passes: u32) {
        self.ledger
            .track(trigger, stale_passes, self.at, self.previous);
    }

    /// Records that this pass read `unit` and found it delivered as `want` asks.
    fn verify(&mut self, unit: String, want: String) {
        self.ledger.verified.insert(
            unit,
            Verified {
                want,
                seen_at: self.at,
            },
        );
    }

    /// Keeps the previous pass's verified record of `unit`, which this pass trusted unread.
    fn keep_verified(&mut self, unit: String) {
        if let Some(record) = self.previous.verified.get(&unit) {
            self.ledger.verified.insert(unit, record.clone());
        }
    }

    /// Decides a stale trigger of ours: `Ok` to delete it, or why it stays. A blocked pass
    /// (`blocker`, gaps, protect list) does not count towards its stale passes; an unblocked one
    /// does, and the delete waits until it has been stale `stale_passes_before_delete` times.
    fn gate_delete(
        &mut self,
        resource: &str,
        trigger: &Trigger,
        blocker: Option<(SkipReason, String)>,
    ) -> Result<(), (SkipReason, String)> {
        let previous = self.previous.stale_passes(trigger);
        if let Some(blocked) = self.delete_blocker(resource, trigger).or(blocker) {
            self.track(trigger, previous);
            return Err(blocked);
        }
        let stale = previous.saturating_add(1);
        let needed = self.policy.stale_passes_before_delete;
        self.track(trigger, stale);
        if stale < needed {
            return Err((
                SkipReason::StaleWait,
                format!(
                    "stale for {stale} of the {needed} consecutive passes safety.stale_passes_before_delete asks for"
                ),
            ));
        }
        Ok(())
    }

    /// Queues a delete of ours unless it is blocked or still waiting (then it is a skip and
    /// returns false); `use_` is the permission the trigger keeps relying on if it stays.
    fn delete(&mut self, resource: &str, change: Change, use_: Option<PermissionUse>) -> bool {
        match self.gate_delete(resource, &change.trigger, None) {
            Err((reason, detail)) => {
                let subject = change.trigger.resource();
                self.skip(
                    subject,
                    reason,
                    format!("would delete: {}; {detail}", change.reason),
                );
                if let Some((f, invoker, arn)) = use_ {
                    self.uses.ours.entry((f, invoker)).or_default().insert(arn);
                }
                false
            }
            Ok(()) => {
                self.deletes.push((change, use_));
                true
            }
        }
    }

    /// Keeps the previous ledger's entries for resources this pass could not read: what they
    /// hold is unknown, so their stale counts neither grow nor reset.
    fn carry_unobserved(&mut self, observed: &Observed) {
        let seen = |location: &str| {
            if let Some(name) = location.strip_prefix("log-group:") {
                matches!(
                    observed.log_groups.get(&LogGroupName::new(name)),
                    Some(LogGroupState::Found { .. } | LogGroupState::Missing)
                )
            } else if let Some(bucket) = location.strip_prefix("s3://") {
                matches!(
                    observed.buckets.get(&BucketName::from(bucket)),
                    Some(BucketState::Found { .. } | BucketState::Missing)
                )
            } else if location.starts_with("account-policy:") {
                matches!(observed.account_policies, AccountPolicies::Found { .. })
            } else if let Some(arn) = location.strip_prefix("lambda:") {
                FunctionArn::parse(arn).is_ok_and(|f| {
                    matches!(observed.policies.get(&f), Some(PolicyState::Found { .. }))
                })
            } else {
                false
            }
        };
        for (key, entry) in &self.previous.triggers {
            if !self.ledger.triggers.contains_key(key) && !seen(&entry.location) {
                self.ledger.triggers.insert(key.clone(), entry.clone());
            }
        }
    }

    fn use_ours(&mut self, destination: &str, invoker: Invoker, source_arn: String) {
        if let Ok(f) = FunctionArn::parse(destination) {
            self.uses
                .ours
                .entry((f, invoker))
                .or_default()
                .insert(source_arn);
        }
    }

    /// Why a no-longer-desired location was dropped, from the desire's skips.
    fn why_undesired(&self, subject: &str) -> String {
        self.desired
            .skips
            .iter()
            .find(|s| s.subject == subject)
            .map_or_else(
                || "no discovered source writes here any more".to_owned(),
                |s| format!("no longer wanted ({}: {})", s.reason, s.detail),
            )
    }

    /// The name of the account policy that delivers `group` to the forwarder, if one does.
    fn covering_policy(&self, group: &LogGroupName) -> Option<&str> {
        self.desired
            .account_policy
            .as_ref()
            .map(|d| &d.delivering)
            .filter(|p| p.selects(group))
            .map(|p| p.name.as_str())
    }

    /// The region's account policy: ours kept as desired, created, updated, or deleted once the
    /// region leaves account-policy mode; another's never touched.
    fn account_policy(&mut self, observed: &Observed) {
        let wanted = self
            .desired
            .account_policy
            .as_ref()
            .and_then(|d| d.ours.as_ref());
        let policies = match &observed.account_policies {
            AccountPolicies::NotRead => return,
            AccountPolicies::Unreadable { detail } => {
                if let Some(wanted) = wanted {
                    self.skip(
                        location_of_account_policy(&wanted.name),
                        SkipReason::Unreadable,
                        format!(
                            "the account's subscription filter policies could not be read: {detail}"
                        ),
                    );
                }
                return;
            }
            AccountPolicies::Found { policies } => policies,
        };
        let found = policies.iter().find(|p| {
            account_policy::is_ours(
                p,
                &self.policy.filter_name,
                &self.desired.forwarders,
                self.previous,
            )
        });
        let trigger = |policy: &AccountPolicy| Trigger::AccountPolicy {
            policy: policy.clone(),
        };
        if let Some(found) = found {
            self.track(&trigger(found), 0);
        }
        let all_groups = LogGroupName::new("*");
        match (wanted, found) {
            (Some(wanted), found) => {
                if let Ok(forwarder) = FunctionArn::parse(&wanted.destination_arn) {
                    let arn = all_groups.arn(&self.policy.account, forwarder.region());
                    self.use_ours(&wanted.destination_arn, Invoker::Logs, arn);
                }
                let (action, reason) = match found {
                    Some(found) if found == wanted => return,
                    Some(found) => (Action::Update, policy_difference(found, wanted)),
                    None => {
                        let covered = self
                            .desired
                            .account_policy
                            .as_ref()
                            .map_or(0, |d| d.covered.len());
                        (
                            Action::Create,
                            format!(
                                "delivers the {covered} discovered log group(s) and every log group created later, {} excluded, with no filter slot taken",
                                wanted.excluded_count()
                            ),
                        )
                    }
                };
                self.policy_change = Some(location_of_account_policy(&wanted.name));
                self.changes.push(Change {
                    action,
                    trigger: trigger(wanted),
                    reason,
                    after: None,
                });
            }
            (None, Some(found)) if self.desired.account_policy.is_none() => {
                let change = Change {
                    action: Action::Delete,
                    trigger: trigger(found),
                    reason: "account_policy is not enabled for this region; its log groups get per-group filters".into(),
                    after: None,
                };
                let use_ = FunctionArn::parse(&found.destination_arn).ok().map(|f| {
                    let arn = all_groups.arn(&self.policy.account, f.region());
                    (f, Invoker::Logs, arn)
                });
                let _queued = self.delete(&location_of_account_policy(&found.name), change, use_);
            }
            // Another policy to the forwarder delivers (adopted), or nothing of ours exists.
            (None, _) => {}
        }
    }

    fn log_groups(&mut self, observed: &Observed) {
        let names: BTreeSet<&LogGroupName> = self
            .desired
            .log_groups
            .keys()
            .chain(observed.log_groups.keys())
            .collect();
        for name in names {
            let subject = format!("log-group:{name}");
            let wanted = self.desired.log_groups.get(name);
            if let Some(want) = wanted
                && observed.coverage.trusted_log_groups.contains(name)
            {
                // Verified within the audit window and not due: delivered as the ledger says.
                self.keep_verified(log_group_unit(name.as_str()));
                let source_arn = name.arn(&self.policy.account, want.forwarder.region());
                self.use_ours(&want.forwarder.to_string(), Invoker::Logs, source_arn);
                continue;
            }
            if matches!(
                observed.log_groups.get(name),
                None | Some(LogGroupState::Unreadable { .. })
            ) {
                self.unread.entry(Invoker::Logs).or_insert(subject.clone());
            }
            let (class, filters) = match (observed.log_groups.get(name), wanted) {
                (Some(LogGroupState::Found { class, filters }), _) => (class, filters),
                (Some(LogGroupState::Missing), Some(_)) => {
                    self.skip(subject, SkipReason::LogGroupMissing, "the log group does not exist yet (Lambda creates it on first invocation); it is subscribed on the first pass after it appears".into());
                    continue;
                }
                (Some(LogGroupState::Unreadable { detail }), Some(_)) => {
                    self.skip(subject, SkipReason::Unreadable, detail.clone());
                    continue;
                }
                (None, Some(_)) => {
                    self.skip(
                        subject,
                        SkipReason::Unreadable,
                        "the log group was not observed".into(),
                    );
                    continue;
                }
                (_, None) => match observed.log_groups.get(name) {
                    Some(LogGroupState::Found { class, filters }) => (class, filters),
                    _ => continue,
                },
            };
            // AWS lists filters in no promised order; sorted, the plan's words cannot depend on it.
            let mut filters: Vec<&SubscriptionFilter> = filters.iter().collect();
            filters.sort();
            let mut ours = None;
            let mut adopted = Vec::new();
            for &filter in &filters {
                match classify_filter(
                    filter,
                    name,
                    self.policy,
                    (&self.desired.forwarders, &self.former),
                    self.previous,
                ) {
                    Ownership::Ours => ours = Some(filter),
                    Ownership::Adopted => adopted.push(filter),
                    Ownership::Foreign => {}
                }
            }
            for filter in &adopted {
                if let Ok(f) = FunctionArn::parse(&filter.destination_arn) {
                    self.uses.adopted.insert((f, Invoker::Logs));
                }
            }
            let group_arn = |destination: &str| {
                let region = FunctionArn::parse(destination)
                    .map_or_else(|_| Region::default(), |f| f.region().clone());
                name.arn(&self.policy.account, &region)
            };
            let ours_trigger = |filter: &SubscriptionFilter| Trigger::SubscriptionFilter {
                log_group: name.clone(),
                filter_name: filter.name.clone(),
                pattern: filter.pattern.clone(),
                destination: filter.destination_arn.clone(),
            };
            if let Some(filter) = ours {
                self.track(&ours_trigger(filter), 0);
            }
            let Some(want) = wanted else {
                if let Some(filter) = ours {
                    if self.desired.held_log_groups.contains(name) {
                        let trigger = ours_trigger(filter);
                        self.track(&trigger, self.previous.stale_passes(&trigger));
                        self.use_ours(
                            &filter.destination_arn,
                            Invoker::Logs,
                            group_arn(&filter.destination_arn),
                        );
                    } else {
                        let (reason, after) = match self.covering_policy(name) {
                            Some(policy) => (
                                format!(
                                    "account policy {policy:?} delivers this log group; our filter would deliver every event twice"
                                ),
                                self.policy_change.clone(),
                            ),
                            None => (self.why_undesired(&subject), None),
                        };
                        let change = Change {
                            action: Action::Delete,
                            trigger: ours_trigger(filter),
                            reason,
                            after,
                        };
                        let use_ = FunctionArn::parse(&filter.destination_arn)
                            .ok()
                            .map(|f| (f, Invoker::Logs, group_arn(&filter.destination_arn)));
                        let _queued = self.delete(name.as_str(), change, use_);
                    }
                }
                continue;
            };
            if let LogGroupClass::Other(class) = class {
                self.skip(subject, SkipReason::LogGroupClass, format!("log group class {class} does not support subscription filters; only STANDARD does"));
                if let Some(filter) = ours {
                    self.use_ours(
                        &filter.destination_arn,
                        Invoker::Logs,
                        group_arn(&filter.destination_arn),
                    );
                }
                continue;
            }
            if let Some(adopted) = adopted.first() {
                self.verify(
                    log_group_unit(name.as_str()),
                    want_log_group(&want.forwarder.to_string(), &self.policy.filter_pattern),
                );
                if let Some(filter) = ours {
                    let change = Change {
                        action: Action::Delete,
                        trigger: ours_trigger(filter),
                        reason: format!(
                            "filter {:?} already delivers this log group to the forwarder; ours would duplicate every event",
                            adopted.name
                        ),
                        after: None,
                    };
                    let use_ = FunctionArn::parse(&filter.destination_arn)
                        .ok()
                        .map(|f| (f, Invoker::Logs, group_arn(&filter.destination_arn)));
                    let _queued = self.delete(name.as_str(), change, use_);
                }
                continue;
            }
            let wanted_filter = SubscriptionFilter {
                name: self.policy.filter_name.clone(),
                destination_arn: want.forwarder.to_string(),
                pattern: self.policy.filter_pattern.clone(),
            };
            let source_arn = name.arn(&self.policy.account, want.forwarder.region());
            match ours {
                Some(filter)
                    if want.forwarder.is(&filter.destination_arn)
                        && filter.pattern == wanted_filter.pattern =>
                {
                    self.verify(
                        log_group_unit(name.as_str()),
                        want_log_group(&wanted_filter.destination_arn, &wanted_filter.pattern),
                    );
                    self.use_ours(&filter.destination_arn, Invoker::Logs, source_arn);
                }
                Some(filter) => {
                    let reason = if want.forwarder.is(&filter.destination_arn) {
                        format!(
                            "our filter's pattern is {:?}; the configured pattern is {:?}",
                            filter.pattern, wanted_filter.pattern
                        )
                    } else {
                        format!(
                            "our filter delivers to {}; the forwarder is {}",
                            filter.destination_arn, want.forwarder
                        )
                    };
                    self.changes.push(Change {
                        action: Action::Update,
                        trigger: ours_trigger(&wanted_filter),
                        reason,
                        after: None,
                    });
                    self.use_ours(&wanted_filter.destination_arn, Invoker::Logs, source_arn);
                }
                None if let Some(taken) = filters.iter().find(|f| f.name == wanted_filter.name) => {
                    self.skip(subject, SkipReason::NameTaken, format!(
                        "a filter named {:?} already delivers to {}, which is no forwarder of autosub's; it is left alone. Remove it, or give autosub another ownership.filter_name",
                        taken.name, taken.destination_arn));
                }
                None if filters.len() >= self.policy.max_filters_per_log_group => {
                    let names: Vec<String> = filters
                        .iter()
                        .map(|f| format!("{:?} → {}", f.name, f.destination_arn))
                        .collect();
                    self.skip(subject, SkipReason::NoFreeSlot, format!(
                        "all {} subscription filter slots are taken ({}); free one, or raise max_filters_per_log_group if AWS raised your quota",
                        filters.len(), names.join(", ")));
                }
                None => {
                    self.changes.push(Change {
                        action: Action::Create,
                        trigger: ours_trigger(&wanted_filter),
                        reason: sources_reason(&want.sources, "write to this log group"),
                        after: None,
                    });
                    self.use_ours(&wanted_filter.destination_arn, Invoker::Logs, source_arn);
                }
            }
        }
    }

    fn buckets(&mut self, observed: &Observed) {
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
            if matches!(
                observed.buckets.get(bucket),
                None | Some(BucketState::Unreadable { .. })
            ) {
                self.unread
                    .entry(Invoker::S3)
                    .or_insert(format!("s3://{bucket}"));
            }
            let (region, config) = match (observed.buckets.get(bucket), wanted) {
                (Some(BucketState::Found { region, config }), _) => (region, config),
                (Some(BucketState::Missing), Some(want)) => {
                    for prefix in want.prefixes.keys() {
                        self.skip(
                            format!("s3://{bucket}/{prefix}"),
                            SkipReason::BucketMissing,
                            "the bucket logs are sent to does not exist".into(),
                        );
                    }
                    continue;
                }
                (Some(BucketState::Unreadable { detail }), Some(want)) => {
                    for prefix in want.prefixes.keys() {
                        self.skip(
                            format!("s3://{bucket}/{prefix}"),
                            SkipReason::Unreadable,
                            detail.clone(),
                        );
                    }
                    continue;
                }
                (None, Some(want)) => {
                    for prefix in want.prefixes.keys() {
                        self.skip(
                            format!("s3://{bucket}/{prefix}"),
                            SkipReason::Unreadable,
                            "the bucket was not observed".into(),
                        );
                    }
                    continue;
                }
                (_, None) => match observed.buckets.get(bucket) {
                    Some(BucketState::Found { region, config }) => (region, config),
                    _ => continue,
                },
            };
            self.bucket(bucket, region, &config.entries, wanted);
        }
    }

    fn bucket(
        &mut self,
        bucket: &BucketName,
        region: &Region,
        entries: &[NotificationEntry],
        wanted: Option<&DesiredBucket>,
    ) {
        let bucket_arn = bucket.arn(Partition::of(region));
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
        let entry_trigger = |entry: &NotificationEntry| Trigger::S3Notification {
            bucket: bucket.clone(),
            region: region.clone(),
            id: entry.id.clone().unwrap_or_default(),
            prefix: entry.prefix().to_owned(),
            destination: entry.arn.clone(),
        };
        for entry in ours.values() {
            self.track(&entry_trigger(entry), 0);
        }

        // What we want, after adopted entries that already cover a prefix are taken out.
        let mut want: BTreeMap<String, (NotificationEntry, &BTreeSet<String>)> = BTreeMap::new();
        if let Some(w) = wanted {
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
        }

        // Ours that are no longer wanted: deletes, unless held or blocked.
        let held = self.desired.held_buckets.contains(bucket);
        let mut kept: Vec<&NotificationEntry> = others.clone();
        for (id, entry) in &ours {
            if want.contains_key(*id) {
                continue;
            }
            let use_ = FunctionArn::parse(&entry.arn)
                .ok()
                .map(|f| (f, Invoker::S3, bucket_arn.clone()));
            if held {
                let trigger = entry_trigger(entry);
                self.track(&trigger, self.previous.stale_passes(&trigger));
                if let Some(u) = use_ {
                    self.uses.ours.entry((u.0, u.1)).or_default().insert(u.2);
                }
                kept.push(entry);
                continue;
            }
            let reason = match wanted {
                Some(_) if adopted.iter().any(|a| entry.overlaps(a)) => {
                    "an adopted entry already sends these objects to the forwarder".to_owned()
                }
                Some(_) => {
                    "the bucket's log prefixes changed; this prefix is no longer in the minimal set"
                        .to_owned()
                }
                None => self.why_undesired(&format!("s3://{bucket}/{}", entry.prefix())),
            };
            let change = Change {
                action: Action::Delete,
                trigger: entry_trigger(entry),
                reason,
                after: None,
            };
            if !self.delete(bucket.as_str(), change, use_) {
                kept.push(entry);
            }
        }

        for (id, (entry, sources)) in &want {
            let subject = format!("s3://{bucket}/{}", entry.prefix());
            match ours.get(id.as_str()) {
                Some(existing) if same_rule(existing, entry) => {
                    self.verify(
                        bucket_unit(bucket.as_str(), entry.prefix()),
                        want_bucket_prefix(&entry.arn),
                    );
                    self.use_ours(&entry.arn, Invoker::S3, bucket_arn.clone());
                    continue;
                }
                _ => {}
            }
            if let Some(taken) = others.iter().find(|o| o.id == entry.id) {
                self.skip(subject, SkipReason::NameTaken, format!(
                    "the {} holds our entry id {:?} and is not autosub's; it is left alone. Remove it, or give autosub another ownership.notification_id_prefix",
                    taken.describe(), id));
                continue;
            }
            // Any kept entry counts: rewrite_notifications would refuse the write all the same.
            if let Some(conflict) = kept.iter().find(|k| k.overlaps(entry)) {
                self.skip(subject, SkipReason::S3Overlap, format!(
                    "our rule would overlap the {} for the same events; S3 rejects overlapping rules (\"ambiguously defined\"). Narrow or remove that rule, or exclude the bucket",
                    conflict.describe()));
                if let Some(existing) = ours.get(id.as_str()) {
                    self.use_ours(&existing.arn, Invoker::S3, bucket_arn.clone());
                }
                continue;
            }
            let (action, reason) = match ours.get(id.as_str()) {
                Some(existing) => (
                    Action::Update,
                    format!(
                        "our entry invokes {} on events {:?}; want the forwarder on {OBJECT_CREATED_ALL}",
                        existing.arn, existing.events
                    ),
                ),
                None => (
                    Action::Create,
                    sources_reason(sources, "write under this prefix"),
                ),
            };
            self.changes.push(Change {
                action,
                trigger: entry_trigger(entry),
                reason,
                after: None,
            });
            self.use_ours(&entry.arn, Invoker::S3, bucket_arn.clone());
        }
    }

    fn permissions(&mut self, observed: &Observed) {
        // Deletes that will go ahead no longer need their permission; capped ones still do.
        let mut order: Vec<usize> = (0..self.deletes.len()).collect();
        order.sort_by(|a, b| self.deletes[*a].0.cmp(&self.deletes[*b].0));
        for (rank, i) in order.into_iter().enumerate() {
            if rank >= self.policy.max_deletes_per_pass
                && let Some((f, invoker, arn)) = self.deletes[i].1.clone()
            {
                self.uses.ours.entry((f, invoker)).or_default().insert(arn);
            }
        }

        for (forwarder, state) in &observed.policies {
            for invoker in [Invoker::Logs, Invoker::S3] {
                let key = (forwarder.clone(), invoker);
                let needed = self.uses.ours.get(&key);
                let ours = InvokePermission::account_wide(
                    &self.policy.statement_id_prefix,
                    invoker,
                    &self.policy.account,
                    forwarder.region(),
                );
                let trigger_of = |permission: &InvokePermission| Trigger::InvokePermission {
                    forwarder: forwarder.clone(),
                    permission: permission.clone(),
                };
                let alternate = ours.with_id(&ours.alternate_id());
                let subject = trigger_of(&ours).resource();
                let statements = match state {
                    PolicyState::Found { statements } => statements,
                    PolicyState::Unreadable { detail } => {
                        let ours_there = [&ours, &alternate].into_iter().any(|p| {
                            self.previous
                                .triggers
                                .contains_key(&ledger::key(&trigger_of(p)))
                        });
                        if needed.is_some() || ours_there {
                            self.skip(
                                subject,
                                SkipReason::Unreadable,
                                format!(
                                    "the forwarder's resource policy could not be read: {detail}"
                                ),
                            );
                        }
                        continue;
                    }
                };
                // Ours under either of its two ids (an update alternates between them).
                let mine: Vec<(&PolicyStatement, &InvokePermission)> = statements
                    .iter()
                    .filter_map(|s| {
                        [&ours, &alternate]
                            .into_iter()
                            .find(|p| p.statement_id == s.sid)
                            .map(|p| (s, p))
                    })
                    .collect();
                // Each forwarder's statements belong to the pass of its own region.
                let home = forwarder.region() == &self.desired.home_region;
                if home {
                    for (_, permission) in &mine {
                        self.ledger
                            .track(&trigger_of(permission), 0, self.at, self.previous);
                    }
                }
                let principal = invoker.principal();
                let account = self.policy.account.as_str().to_owned();
                match needed {
                    Some(arns) => {
                        let grants = |s: &PolicyStatement| {
                            arns.iter().all(|arn| s.allows(principal, &account, arn))
                        };
                        let covered = arns.iter().all(|arn| {
                            statements
                                .iter()
                                .any(|s| s.allows(principal, &account, arn))
                        });
                        if covered {
                            // Both ids held: an update stopped between its add and its
                            // remove. The one that does not grant (or the alternate) goes.
                            if let [a, b] = mine.as_slice()
                                && home
                            {
                                let (kept, extra) = if grants(a.0) { (a, b) } else { (b, a) };
                                if grants(kept.0) {
                                    let change = Change {
                                        action: Action::Delete,
                                        trigger: trigger_of(extra.1),
                                        reason: format!(
                                            "statement {} grants the same; an earlier update stopped before removing this one",
                                            kept.0.sid
                                        ),
                                        after: None,
                                    };
                                    self.gate_permission_delete(forwarder, change, None);
                                }
                            }
                            continue;
                        }
                        let (action, permission, why) = match mine.as_slice() {
                            [] => (
                                Action::Create,
                                ours.clone(),
                                "no statement of the forwarder's policy allows it",
                            ),
                            [(old, _)] => {
                                let free = if old.sid == ours.statement_id {
                                    &alternate.statement_id
                                } else {
                                    &ours.statement_id
                                };
                                (
                                    Action::Update,
                                    ours.replacing(free, &old.sid),
                                    "our statement no longer covers them; its replacement is added before it is removed, so the grant never lapses",
                                )
                            }
                            // Both ids held and neither grants: replaced in place; the other
                            // goes once one grants.
                            [(old, _), ..] => (
                                Action::Update,
                                ours.with_id(&old.sid),
                                "our statement no longer covers them",
                            ),
                        };
                        self.changes.push(Change {
                            action,
                            trigger: trigger_of(&permission),
                            reason: format!("{} {} trigger(s) need {} to invoke the forwarder from account {}; {why}", arns.len(), invoker.as_str(), principal, self.policy.account),
                            after: None,
                        });
                    }
                    // S3 and Logs invoke only same-region functions, and this pass sweeps its
                    // whole region: it alone knows that nothing uses the statement any more.
                    None if !mine.is_empty() && !self.uses.adopted.contains(&key) && home => {
                        for (_, permission) in &mine {
                            let change = Change {
                                action: Action::Delete,
                                trigger: trigger_of(permission),
                                reason: format!(
                                    "no trigger invokes the forwarder through {principal} any more"
                                ),
                                after: None,
                            };
                            let unread = self.unread.get(&invoker).map(|what| {
                                (
                                    SkipReason::Unreadable,
                                    format!("{what} could not be read; a trigger there may still use the statement"),
                                )
                            }).or_else(|| (!observed.coverage.full).then(|| (
                                SkipReason::PartialSweep,
                                "this pass read only part of the region (an incremental audit); a trigger of ours the ledger lost may still use the statement. A full audit (reconcile --full-audit, or the first pass after the ledger is lost) removes it".to_owned(),
                            )));
                            self.gate_permission_delete(forwarder, change, unread);
                        }
                    }
                    None => {}
                }
            }
        }
    }

    /// Queues the delete of one of our statements, or skips it with why (caps, protect,
    /// stale passes, `unread`).
    fn gate_permission_delete(
        &mut self,
        forwarder: &FunctionArn,
        change: Change,
        unread: Option<(SkipReason, String)>,
    ) {
        match self.gate_delete(forwarder.name(), &change.trigger, unread) {
            Err((reason, detail)) => self.skip(
                change.trigger.resource(),
                reason,
                format!("would delete: {}; {detail}", change.reason),
            ),
            Ok(()) => self.deletes.push((change, None)),
        }
    }

    fn finish(mut self) -> Plan {
        self.deletes.sort_by(|a, b| a.0.cmp(&b.0));
        let cap = self.policy.max_deletes_per_pass;
        let mut trigger_deletes = Vec::new();
        let mut permission_deletes = Vec::new();
        for (rank, (change, _)) in self.deletes.into_iter().enumerate() {
            if rank >= cap {
                self.skips.push(Skip {
                    subject: change.trigger.resource(),
                    reason: SkipReason::DeleteCap,
                    detail: format!(
                        "would delete: {}; at most {cap} deletes per pass (max_deletes_per_pass)",
                        change.reason
                    ),
                });
            } else if matches!(change.trigger, Trigger::InvokePermission { .. }) {
                permission_deletes.push(change);
            } else {
                trigger_deletes.push(change);
            }
        }
        let (mut permission_upserts, mut trigger_upserts): (Vec<Change>, Vec<Change>) = self
            .changes
            .into_iter()
            .partition(|c| matches!(c.trigger, Trigger::InvokePermission { .. }));
        permission_upserts.sort();
        // A trigger put waits for the permission it needs when that is changed in this plan:
        // AWS would refuse the put (or the trigger would not fire) without it.
        for change in &mut trigger_upserts {
            if change.after.is_none()
                && let Some((forwarder, invoker)) = invoked_by(&change.trigger)
            {
                change.after = permission_upserts
                    .iter()
                    .find(|p| {
                        matches!(&p.trigger, Trigger::InvokePermission { forwarder: f, permission }
                            if forwarder.as_ref().is_some_and(|x| x == f) && permission.invoker == invoker)
                    })
                    .map(|p| p.trigger.resource());
            }
        }
        trigger_upserts.extend(trigger_deletes);
        // An account policy is put before the filters it replaces are deleted, and deleted
        // after the filters that replace it are created.
        let policy_delete = |c: &Change| {
            c.action == Action::Delete && matches!(c.trigger, Trigger::AccountPolicy { .. })
        };
        trigger_upserts.sort_by(|a, b| {
            (
                policy_delete(a),
                a.trigger.kind(),
                a.trigger.resource(),
                a.action,
            )
                .cmp(&(
                    policy_delete(b),
                    b.trigger.kind(),
                    b.trigger.resource(),
                    b.action,
                ))
        });
        permission_deletes.sort();
        let mut changes = permission_upserts;
        changes.extend(trigger_upserts);
        changes.extend(permission_deletes);
        self.skips.sort();
        self.skips.dedup();
        Plan {
            changes,
            skips: self.skips,
            ledger: self.ledger,
        }
    }
}

/// The forwarder a trigger invokes and as whom, for the permission it needs.
fn invoked_by(trigger: &Trigger) -> Option<(Option<FunctionArn>, Invoker)> {
    let (destination, invoker) = match trigger {
        Trigger::S3Notification { destination, .. } => (destination, Invoker::S3),
        Trigger::SubscriptionFilter { destination, .. } => (destination, Invoker::Logs),
        Trigger::AccountPolicy { policy } => (&policy.destination_arn, Invoker::Logs),
        Trigger::InvokePermission { .. } => return None,
    };
    Some((FunctionArn::parse(destination).ok(), invoker))
}

/// What an update of our account policy changes, in words.
fn policy_difference(found: &AccountPolicy, wanted: &AccountPolicy) -> String {
    let mut parts = Vec::new();
    if found.destination_arn != wanted.destination_arn {
        parts.push(format!(
            "it delivers to {}; the forwarder is {}",
            found.destination_arn, wanted.destination_arn
        ));
    }
    if found.pattern != wanted.pattern {
        parts.push(format!(
            "its pattern is {:?}; the configured pattern is {:?}",
            found.pattern, wanted.pattern
        ));
    }
    match (&found.selection, &wanted.selection) {
        (AccountSelection::AllBut(had), AccountSelection::AllBut(want)) if had != want => {
            let added = want.difference(had).count();
            let removed = had.difference(want).count();
            parts.push(format!(
                "its exclusions change: {added} log group(s) to exclude, {removed} no longer excluded"
            ));
        }
        (AccountSelection::Unrecognised(raw), _) => {
            parts.push(format!("its selection criteria {raw:?} are not autosub's"));
        }
        _ => {}
    }
    format!("our account policy differs: {}", parts.join("; "))
}

fn same_rule(a: &NotificationEntry, b: &NotificationEntry) -> bool {
    a.kind == b.kind
        && FunctionArn::parse(&a.arn).ok() == FunctionArn::parse(&b.arn).ok()
        && a.events.len() == b.events.len()
        && a.events.iter().zip(&b.events).all(|(x, y)| x == y)
        && a.prefix() == b.prefix()
        && a.suffix() == b.suffix()
}

fn sources_reason(sources: &BTreeSet<String>, verb: &str) -> String {
    let mut iter = sources.iter();
    match (iter.next(), sources.len()) {
        (Some(one), 1) => format!("{one} and nothing subscribes it yet: its logs {verb}"),
        (Some(first), n) => format!(
            "{first} and {} more {verb}; nothing subscribes them yet",
            n - 1
        ),
        (None, _) => "wanted".to_owned(),
    }
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
