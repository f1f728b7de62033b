//! Planning the forwarders' invoke permissions: one account-wide statement per invoker, added
//! only when no statement of the forwarder's policy allows the triggers that need it, replaced
//! without a lapse, and removed only by a full audit of the forwarder's own region once nothing
//! of ours uses it.

use super::{Action, Change, ChangeReason, PermissionGap, Planner, SkipReason, Trigger};
use crate::ids::FunctionArn;
use crate::ledger;
use crate::observed::{Observed, PolicyState};
use crate::permission::{InvokePermission, Invoker, PolicyStatement};

/// Our statements found under either of our two ids (an update alternates between them).
type Mine<'o> = [(&'o PolicyStatement, &'o InvokePermission)];

/// `permission` on `forwarder`, as a trigger.
fn permission_trigger(forwarder: &FunctionArn, permission: &InvokePermission) -> Trigger {
    Trigger::InvokePermission {
        forwarder: forwarder.clone(),
        permission: permission.clone(),
    }
}

impl Planner<'_> {
    /// Every forwarder's statements for each invoker, after every trigger was planned (what
    /// they will need is known then).
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
                self.permission(forwarder, invoker, state, observed.coverage.full);
            }
        }
    }

    /// Our statement for `invoker` on `forwarder`: added or replaced when our triggers need a
    /// grant no statement gives, deleted when nothing uses it any more (`full_audit` only), and
    /// the duplicate an interrupted update left deleted.
    fn permission(
        &mut self,
        forwarder: &FunctionArn,
        invoker: Invoker,
        state: &PolicyState,
        full_audit: bool,
    ) {
        let key = (forwarder.clone(), invoker);
        let ours = InvokePermission::account_wide(
            &self.policy.statement_id_prefix,
            invoker,
            &self.policy.account,
            forwarder.region(),
        );
        let alternate = ours.with_id(&ours.alternate_id());
        let statements = match state {
            PolicyState::Found { statements } => statements,
            PolicyState::Unreadable { detail } => {
                let needed = self.uses.ours.contains_key(&key);
                self.unreadable_policy(forwarder, [&ours, &alternate], needed, detail);
                return;
            }
        };
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
                self.ledger.track(
                    &permission_trigger(forwarder, permission),
                    0,
                    self.at,
                    self.previous,
                );
            }
        }
        let principal = invoker.principal();
        let account = self.policy.account.as_str().to_owned();
        match self.uses.ours.get(&key) {
            Some(arns) => {
                let grants =
                    |s: &PolicyStatement| arns.iter().all(|arn| s.allows(principal, &account, arn));
                let covered = arns.iter().all(|arn| {
                    statements
                        .iter()
                        .any(|s| s.allows(principal, &account, arn))
                });
                if !covered {
                    let triggers = arns.len();
                    self.statement_needed(forwarder, (&ours, &alternate), &mine, triggers);
                } else if let [a, b] = mine.as_slice()
                    && home
                    // AWS keeps statement ids unique; an emulator may not, and a second
                    // statement under the same id is not an interrupted update.
                    && a.0.sid != b.0.sid
                {
                    // Both ids held: an update stopped between its add and its remove. The one
                    // that does not grant (or the alternate) goes.
                    let (kept, extra) = if grants(a.0) { (a, b) } else { (b, a) };
                    if grants(kept.0) {
                        let change = Change {
                            action: Action::Delete,
                            trigger: permission_trigger(forwarder, extra.1),
                            reason: ChangeReason::DuplicateStatement {
                                kept: kept.0.sid.clone(),
                            },
                            after: None,
                        };
                        self.gate_permission_delete(forwarder, change, None);
                    }
                }
            }
            // S3 and Logs invoke only same-region functions, and this pass sweeps its whole
            // region: it alone knows that nothing uses the statement any more.
            None if !mine.is_empty() && !self.uses.adopted.contains(&key) && home => {
                self.statements_unused(forwarder, invoker, &mine, full_audit);
            }
            None => {}
        }
    }

    /// A forwarder whose policy could not be read: nothing changes there, and a skip says so
    /// when our triggers need the statement (`needed`) or the ledger holds one of `ours`.
    fn unreadable_policy(
        &mut self,
        forwarder: &FunctionArn,
        ours: [&InvokePermission; 2],
        needed: bool,
        detail: &str,
    ) {
        let ours_there = ours.into_iter().any(|p| {
            self.previous
                .triggers
                .contains_key(&ledger::key(&permission_trigger(forwarder, p)))
        });
        if needed || ours_there {
            self.skip(
                permission_trigger(forwarder, ours[0]).resource(),
                SkipReason::Unreadable,
                format!("the forwarder's resource policy could not be read: {detail}"),
            );
        }
    }

    /// Our statement (`ours`, or its `alternate` id) where no statement grants what `triggers`
    /// of ours need: added; or, ours being there, its replacement added under our other id
    /// before it is removed; both ids held and neither granting, one rewritten in place (the
    /// other goes once one grants).
    fn statement_needed(
        &mut self,
        forwarder: &FunctionArn,
        (ours, alternate): (&InvokePermission, &InvokePermission),
        mine: &Mine<'_>,
        triggers: usize,
    ) {
        let (action, permission, gap) = match mine {
            [] => (Action::Create, ours.clone(), PermissionGap::NoStatement),
            [(old, _)] => {
                let free = if old.sid == ours.statement_id {
                    &alternate.statement_id
                } else {
                    &ours.statement_id
                };
                (
                    Action::Update,
                    ours.replacing(free, &old.sid),
                    PermissionGap::Replaced,
                )
            }
            [(old, _), ..] => (
                Action::Update,
                ours.with_id(&old.sid),
                PermissionGap::Rewritten,
            ),
        };
        self.changes.push(Change {
            action,
            trigger: permission_trigger(forwarder, &permission),
            reason: ChangeReason::PermissionNeeded {
                triggers,
                invoker: ours.invoker,
                account: self.policy.account.clone(),
                gap,
            },
            after: None,
        });
    }

    /// Our statements for `invoker` that no trigger uses any more: deleted, unless something
    /// this pass could not read, or did not read (not a `full_audit`), may still use them.
    fn statements_unused(
        &mut self,
        forwarder: &FunctionArn,
        invoker: Invoker,
        mine: &Mine<'_>,
        full_audit: bool,
    ) {
        for (_, permission) in mine {
            let change = Change {
                action: Action::Delete,
                trigger: permission_trigger(forwarder, permission),
                reason: ChangeReason::PermissionUnused { invoker },
                after: None,
            };
            let unread = self.unread.get(&invoker).map(|what| {
                (
                    SkipReason::Unreadable,
                    format!("{what} could not be read; a trigger there may still use the statement"),
                )
            }).or_else(|| (!full_audit).then(|| (
                SkipReason::PartialSweep,
                "this pass read only part of the region (an incremental audit); a trigger of ours the ledger lost may still use the statement. A full audit (reconcile --full-audit, or the first pass after the ledger is lost) removes it".to_owned(),
            )));
            self.gate_permission_delete(forwarder, change, unread);
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
