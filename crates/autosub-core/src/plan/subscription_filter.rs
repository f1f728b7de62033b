//! CloudWatch Logs subscription filters: who owns a filter, and each log group's planning (our
//! filter created, pointed at the forwarder, or deleted when adopted, covered by an account
//! policy or no longer wanted; a skip when no slot is free or the name is taken).

use std::collections::BTreeSet;

use super::{
    Action, Change, ChangeReason, PermissionUse, Place, PlanPolicy, Planner, SkipReason, Trigger,
};
use crate::desired::DesiredLogGroup;
use crate::ids::{FunctionArn, LogGroupName, Region};
use crate::ledger::{TargetLedger, log_group_unit, want_log_group};
use crate::observed::{LogGroupClass, LogGroupState, Observed, Ownership, SubscriptionFilter};
use crate::permission::Invoker;

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

/// A log group's filters as read: all of them, sorted (AWS lists them in no promised order, and
/// the plan's words must not depend on it), ours and the adopted ones.
struct Filters<'o> {
    all: Vec<&'o SubscriptionFilter>,
    ours: Option<&'o SubscriptionFilter>,
    adopted: Vec<&'o SubscriptionFilter>,
}

/// `filter` on `group`, as a trigger.
fn filter_trigger(group: &LogGroupName, filter: &SubscriptionFilter) -> Trigger {
    Trigger::SubscriptionFilter {
        log_group: group.clone(),
        filter_name: filter.name.clone(),
        pattern: filter.pattern.clone(),
        destination: filter.destination_arn.clone(),
    }
}

impl Planner<'_> {
    /// The name of the account policy that delivers `group` to the forwarder, if one does.
    fn covering_policy(&self, group: &LogGroupName) -> Option<&str> {
        self.desired
            .account_policy
            .as_ref()
            .map(|d| &d.delivering)
            .filter(|p| p.selects(group))
            .map(|p| p.name.as_str())
    }

    /// Every log group that is desired or was read.
    pub(super) fn log_groups(&mut self, observed: &Observed) {
        let names: BTreeSet<&LogGroupName> = self
            .desired
            .log_groups
            .keys()
            .chain(observed.log_groups.keys())
            .collect();
        for name in names {
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
            let state = observed.log_groups.get(name);
            let Some((class, filters)) = self.read_log_group(name, state, wanted.is_some()) else {
                continue;
            };
            let filters = self.classify_filters(name, filters);
            match wanted {
                Some(want) => self.wanted_log_group(name, class, &filters, want),
                None => {
                    if let Some(filter) = filters.ours {
                        self.unwanted_filter(name, filter);
                    }
                }
            }
        }
    }

    /// The class and filters of a log group that was read. Otherwise `None`: a trigger there may
    /// still use the logs statement, and a `wanted` group is skipped, saying why.
    fn read_log_group<'o>(
        &mut self,
        name: &LogGroupName,
        state: Option<&'o LogGroupState>,
        wanted: bool,
    ) -> Option<(&'o LogGroupClass, &'o [SubscriptionFilter])> {
        let subject = format!("log-group:{name}");
        if matches!(state, None | Some(LogGroupState::Unreadable { .. })) {
            self.unread.entry(Invoker::Logs).or_insert(subject.clone());
        }
        match state {
            Some(LogGroupState::Found { class, filters }) => return Some((class, filters)),
            _ if !wanted => {}
            Some(LogGroupState::Missing) => {
                self.skip(subject, SkipReason::LogGroupMissing, "the log group does not exist yet (Lambda creates it on first invocation); it is subscribed on the first pass after it appears".into());
            }
            Some(LogGroupState::Unreadable { detail }) => {
                self.skip(subject, SkipReason::Unreadable, detail.clone());
            }
            None => {
                self.skip(
                    subject,
                    SkipReason::Unreadable,
                    "the log group was not observed".into(),
                );
            }
        }
        None
    }

    /// Sorts and classifies the filters of `group`; the adopted ones rely on their forwarder's
    /// logs statement, and ours is tracked in the ledger.
    fn classify_filters<'o>(
        &mut self,
        group: &LogGroupName,
        filters: &'o [SubscriptionFilter],
    ) -> Filters<'o> {
        let mut all: Vec<&SubscriptionFilter> = filters.iter().collect();
        all.sort();
        let mut ours = None;
        let mut adopted = Vec::new();
        for &filter in &all {
            match classify_filter(
                filter,
                group,
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
        if let Some(filter) = ours {
            self.track(&filter_trigger(group, filter), 0);
        }
        Filters { all, ours, adopted }
    }

    /// The ARN of `group` as the logs statement of the forwarder `destination` sees it.
    fn group_arn(&self, group: &LogGroupName, destination: &str) -> String {
        let region = FunctionArn::parse(destination)
            .map_or_else(|_| Region::default(), |f| f.region().clone());
        group.arn(&self.policy.account, &region)
    }

    /// The permission our `filter` on `group` relies on while it exists.
    fn filter_use(
        &self,
        group: &LogGroupName,
        filter: &SubscriptionFilter,
    ) -> Option<PermissionUse> {
        FunctionArn::parse(&filter.destination_arn).ok().map(|f| {
            (
                f,
                Invoker::Logs,
                self.group_arn(group, &filter.destination_arn),
            )
        })
    }

    /// Our filter on a log group nothing wants: kept while the group is held, otherwise deleted
    /// (once the account policy now delivering the group is in place, when one does).
    fn unwanted_filter(&mut self, group: &LogGroupName, filter: &SubscriptionFilter) {
        if self.desired.held_log_groups.contains(group) {
            let trigger = filter_trigger(group, filter);
            self.track(&trigger, self.previous.stale_passes(&trigger));
            let arn = self.group_arn(group, &filter.destination_arn);
            self.use_ours(&filter.destination_arn, Invoker::Logs, arn);
            return;
        }
        let (reason, after) = match self.covering_policy(group) {
            Some(policy) => (
                ChangeReason::CoveredByAccountPolicy {
                    policy: policy.to_owned(),
                },
                self.policy_change.clone(),
            ),
            None => (self.why_undesired(&format!("log-group:{group}")), None),
        };
        let change = Change {
            action: Action::Delete,
            trigger: filter_trigger(group, filter),
            reason,
            after,
        };
        let use_ = self.filter_use(group, filter);
        let _queued = self.delete(group.as_str(), change, use_);
    }

    /// A wanted log group that was read: a class without subscriptions is a skip; a filter
    /// already delivering it (adopted) makes ours a duplicate to delete; otherwise ours is kept,
    /// updated or created.
    fn wanted_log_group(
        &mut self,
        group: &LogGroupName,
        class: &LogGroupClass,
        filters: &Filters<'_>,
        want: &DesiredLogGroup,
    ) {
        if let LogGroupClass::Other(class) = class {
            self.skip(format!("log-group:{group}"), SkipReason::LogGroupClass, format!("log group class {class} does not support subscription filters; only STANDARD does"));
            if let Some(filter) = filters.ours {
                let arn = self.group_arn(group, &filter.destination_arn);
                self.use_ours(&filter.destination_arn, Invoker::Logs, arn);
            }
            return;
        }
        if let Some(adopted) = filters.adopted.first() {
            self.verify(
                log_group_unit(group.as_str()),
                want_log_group(&want.forwarder.to_string(), &self.policy.filter_pattern),
            );
            if let Some(filter) = filters.ours {
                let change = Change {
                    action: Action::Delete,
                    trigger: filter_trigger(group, filter),
                    reason: ChangeReason::AdoptedFilter {
                        filter: adopted.name.clone(),
                    },
                    after: None,
                };
                let use_ = self.filter_use(group, filter);
                let _queued = self.delete(group.as_str(), change, use_);
            }
            return;
        }
        let wanted = SubscriptionFilter {
            name: self.policy.filter_name.clone(),
            destination_arn: want.forwarder.to_string(),
            pattern: self.policy.filter_pattern.clone(),
        };
        let source_arn = group.arn(&self.policy.account, want.forwarder.region());
        match filters.ours {
            Some(filter)
                if want.forwarder.is(&filter.destination_arn)
                    && filter.pattern == wanted.pattern =>
            {
                self.verify(
                    log_group_unit(group.as_str()),
                    want_log_group(&wanted.destination_arn, &wanted.pattern),
                );
                self.use_ours(&filter.destination_arn, Invoker::Logs, source_arn);
            }
            Some(filter) => {
                let reason = if want.forwarder.is(&filter.destination_arn) {
                    ChangeReason::FilterPattern {
                        found: filter.pattern.clone(),
                        wanted: wanted.pattern.clone(),
                    }
                } else {
                    ChangeReason::FilterDestination {
                        found: filter.destination_arn.clone(),
                        forwarder: want.forwarder.clone(),
                    }
                };
                self.changes.push(Change {
                    action: Action::Update,
                    trigger: filter_trigger(group, &wanted),
                    reason,
                    after: None,
                });
                self.use_ours(&wanted.destination_arn, Invoker::Logs, source_arn);
            }
            None => self.new_filter(group, &filters.all, &wanted, want, source_arn),
        }
    }

    /// Our `filter` where the group has none: created when its name and a slot are free,
    /// otherwise a skip naming the filters that hold them.
    fn new_filter(
        &mut self,
        group: &LogGroupName,
        filters: &[&SubscriptionFilter],
        filter: &SubscriptionFilter,
        want: &DesiredLogGroup,
        source_arn: String,
    ) {
        let subject = format!("log-group:{group}");
        if let Some(taken) = filters.iter().find(|f| f.name == filter.name) {
            self.skip(subject, SkipReason::NameTaken, format!(
                "a filter named {:?} already delivers to {}, which is no forwarder of autosub's; it is left alone. Remove it, or give autosub another ownership.filter_name",
                taken.name, taken.destination_arn));
            return;
        }
        if filters.len() >= self.policy.max_filters_per_log_group {
            let names: Vec<String> = filters
                .iter()
                .map(|f| format!("{:?} → {}", f.name, f.destination_arn))
                .collect();
            self.skip(subject, SkipReason::NoFreeSlot, format!(
                "all {} subscription filter slots are taken ({}); free one, or raise max_filters_per_log_group if AWS raised your quota",
                filters.len(), names.join(", ")));
            return;
        }
        self.changes.push(Change {
            action: Action::Create,
            trigger: filter_trigger(group, filter),
            reason: ChangeReason::NotSubscribed {
                first_source: want.sources.first().cloned(),
                sources: want.sources.len(),
                place: Place::LogGroup,
            },
            after: None,
        });
        self.use_ours(&filter.destination_arn, Invoker::Logs, source_arn);
    }
}
