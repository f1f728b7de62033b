//! Planning the forwarders' invoke permissions: one account-wide statement per invoker, added
//! only when no statement of the forwarder's policy allows the triggers that need it, replaced
//! without a lapse, and removed only by a full audit of the forwarder's own region once nothing
//! of ours uses it.

use super::{Action, Change, Planner, SkipReason, Trigger};
use crate::ids::FunctionArn;
use crate::ledger;
use crate::observed::{Observed, PolicyState, PolicyStatement};
use crate::permission::{InvokePermission, Invoker};

impl Planner<'_> {
    pub(super) fn permissions(&mut self, observed: &Observed) {
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
}

/// The forwarder a trigger invokes and as whom, for the permission it needs.
pub(super) fn invoked_by(trigger: &Trigger) -> Option<(Option<FunctionArn>, Invoker)> {
    let (destination, invoker) = match trigger {
        Trigger::S3Notification { destination, .. } => (destination, Invoker::S3),
        Trigger::SubscriptionFilter { destination, .. } => (destination, Invoker::Logs),
        Trigger::AccountPolicy { policy } => (&policy.destination_arn, Invoker::Logs),
        Trigger::InvokePermission { .. } => return None,
    };
    Some((FunctionArn::parse(destination).ok(), invoker))
}
