//! CloudWatch Logs subscription filters: who owns a filter, and each log group's planning (our
//! filter created, pointed at the forwarder, or deleted when adopted, covered by an account
//! policy or no longer wanted; a skip when no slot is free or the name is taken).

use std::collections::BTreeSet;

use super::{Action, Change, PlanPolicy, Planner, SkipReason, Trigger, sources_reason};
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

    pub(super) fn log_groups(&mut self, observed: &Observed) {
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
}
