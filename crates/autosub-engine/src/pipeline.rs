//! Writing while reading: within a pass, the filter a log group needs is applied as soon as the
//! group is read, when nothing must come first (DescribeSubscriptionFilters and
//! PutSubscriptionFilter have quotas of their own). The plan is still computed whole and printed
//! as always; the apply step skips what was done early.
//!
//! Guarantees: only creates and updates of subscription filters are applied early, and only
//! when the group's own plan holds that change alone (no permission first, no delete, no gate);
//! every outcome is reported in plan order.

use std::collections::BTreeMap;

use autosub_aws::apis::TargetApis;
use autosub_core::desired::Desired;
use autosub_core::plan::{Action, Change, Plan, PlanPolicy, Trigger, plan};
use autosub_core::{Coverage, FunctionArn, LogGroupName, LogGroupState, Observed, PolicyState};
use autosub_triggers::{ChangeOutcome, apply};
use futures::StreamExt;
use tokio_util::sync::CancellationToken;

/// Applies the changes of `plan` that were not applied early, and returns every change's
/// outcome in plan order (an early outcome whose change the plan does not hold comes last).
pub(crate) async fn apply_rest(
    apis: &TargetApis,
    plan: &Plan,
    policy: &PlanPolicy,
    cancel: &CancellationToken,
    early: Vec<ChangeOutcome>,
) -> Vec<ChangeOutcome> {
    let key = |c: &Change| (c.action, c.trigger.clone());
    let mut done: BTreeMap<(Action, Trigger), ChangeOutcome> =
        early.into_iter().map(|o| (key(&o.change), o)).collect();
    let rest = Plan {
        changes: plan
            .changes
            .iter()
            .filter(|c| !done.contains_key(&key(c)))
            .cloned()
            .collect(),
        ..Plan::default()
    };
    let mut applied = apply(apis, &rest, policy, cancel).await.into_iter();
    let mut outcomes: Vec<ChangeOutcome> = plan
        .changes
        .iter()
        .filter_map(|c| done.remove(&key(c)).or_else(|| applied.next()))
        .collect();
    outcomes.extend(done.into_values());
    outcomes
}

/// While a pass reads log groups, applies at once the filter a group needs when it needs
/// exactly that (a create or update, no permission first, no delete): DescribeSubscriptionFilters
/// and PutSubscriptionFilter have quotas of their own, so reading and writing together take
/// the time of the slower, not of both. The full plan is computed afterwards as always and
/// holds the same changes; [`apply_rest`] skips the ones done here.
pub(crate) struct EarlyApply<'a> {
    pub(crate) apis: &'a TargetApis,
    pub(crate) desired: &'a Desired,
    pub(crate) policies: &'a BTreeMap<FunctionArn, PolicyState>,
    pub(crate) policy: &'a PlanPolicy,
    pub(crate) cancel: &'a CancellationToken,
}

impl EarlyApply<'_> {
    /// Reads every group of `reads` and applies what [`early_change`] finds, both at once;
    /// returns the states read and the outcomes.
    pub(crate) async fn run(
        &self,
        reads: impl futures::Stream<Item = (LogGroupName, LogGroupState)>,
    ) -> (BTreeMap<LogGroupName, LogGroupState>, Vec<ChangeOutcome>) {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Change>();
        let reader = async move {
            let mut states = BTreeMap::new();
            let mut reads = std::pin::pin!(reads);
            while let Some((name, state)) = reads.next().await {
                if let Some(change) =
                    early_change(self.desired, self.policies, self.policy, &name, &state)
                {
                    // The writer outlives the reader: the send cannot fail.
                    let _ = tx.send(change);
                }
                states.insert(name, state);
            }
            states
        };
        let writer = async {
            let mut outcomes = Vec::new();
            while let Some(change) = rx.recv().await {
                let one = Plan {
                    changes: vec![change],
                    ..Plan::default()
                };
                outcomes.extend(apply(self.apis, &one, self.policy, self.cancel).await);
            }
            outcomes
        };
        tokio::join!(reader, writer)
    }
}

/// The change a freshly read group needs, when it is a filter create or update alone: the
/// group's own plan, with the forwarders' policies, holds that change and nothing else.
fn early_change(
    desired: &Desired,
    policies: &BTreeMap<FunctionArn, PolicyState>,
    policy: &PlanPolicy,
    name: &LogGroupName,
    state: &LogGroupState,
) -> Option<Change> {
    let want = desired.log_groups.get(name)?;
    let one_group = Desired {
        home_region: desired.home_region.clone(),
        forwarders: desired.forwarders.clone(),
        log_groups: BTreeMap::from([(name.clone(), want.clone())]),
        ..Desired::default()
    };
    // Only the group's own forwarder's policy can call for a change here.
    let observed = Observed {
        log_groups: BTreeMap::from([(name.clone(), state.clone())]),
        policies: policies
            .get_key_value(&want.forwarder)
            .map(|(f, p)| (f.clone(), p.clone()))
            .into_iter()
            .collect(),
        coverage: Coverage {
            full: false,
            ..Coverage::default()
        },
        ..Observed::default()
    };
    let mut one = plan(&one_group, &observed, policy);
    match one.changes.as_slice() {
        [c] if matches!(c.trigger, Trigger::SubscriptionFilter { .. })
            && c.action != Action::Delete =>
        {
            one.changes.pop()
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use autosub_core::desired::DesiredLogGroup;
    use autosub_core::{AccountId, LogGroupClass, PolicyStatement, Region, SubscriptionFilter};

    use super::*;

    const ACCOUNT: &str = "111122223333";

    fn forwarder() -> FunctionArn {
        FunctionArn::from_parts(
            &AccountId::new(ACCOUNT),
            &Region::new("us-east-1"),
            "datadog-forwarder",
        )
    }

    fn policy() -> PlanPolicy {
        PlanPolicy {
            account: AccountId::new(ACCOUNT),
            notification_id_prefix: "autosub-".into(),
            filter_name: "autosub".into(),
            filter_pattern: String::new(),
            statement_id_prefix: "autosub-".into(),
            max_filters_per_log_group: 2,
            max_deletes_per_pass: 10,
            stale_passes_before_delete: 1,
            protect: Vec::new(),
        }
    }

    /// The forwarder's policy: the Datadog template's logs statement, or nothing.
    fn policies(allows_logs: bool) -> BTreeMap<FunctionArn, PolicyState> {
        let statements = allows_logs
            .then(|| PolicyStatement {
                sid: "logs".into(),
                allow: true,
                principals: vec!["logs.amazonaws.com".into()],
                actions: vec!["lambda:InvokeFunction".into()],
                source_accounts: Vec::new(),
                source_arns: vec![format!("arn:aws:logs:us-east-1:{ACCOUNT}:log-group:*:*")],
                other_conditions: Vec::new(),
            })
            .into_iter()
            .collect();
        BTreeMap::from([(forwarder(), PolicyState::Found { statements })])
    }

    fn desired(group: &str) -> Desired {
        Desired {
            home_region: Region::new("us-east-1"),
            forwarders: BTreeSet::from([forwarder()]),
            log_groups: BTreeMap::from([(
                LogGroupName::new(group),
                DesiredLogGroup {
                    forwarder: forwarder(),
                    sources: BTreeSet::from([
                        "arn:aws:lambda:us-east-1:111122223333:function:a".to_owned()
                    ]),
                },
            )]),
            ..Desired::default()
        }
    }

    fn found(filters: &[(&str, &str)]) -> LogGroupState {
        LogGroupState::Found {
            class: LogGroupClass::Standard,
            filters: filters
                .iter()
                .map(|(name, destination)| SubscriptionFilter {
                    name: (*name).into(),
                    destination_arn: (*destination).into(),
                    pattern: String::new(),
                })
                .collect(),
        }
    }

    #[test]
    fn only_a_filter_create_or_update_that_needs_nothing_first_is_applied_early() {
        let group = LogGroupName::new("/aws/lambda/a");
        let elsewhere = "arn:aws:lambda:us-east-1:111122223333:function:old";
        let kinesis = "arn:aws:kinesis:us-east-1:111122223333:stream/siem";
        let early = |desired: &Desired, allows_logs: bool, state: LogGroupState| {
            early_change(desired, &policies(allows_logs), &policy(), &group, &state)
                .map(|c| format!("{} {}", c.action, c.trigger.resource()))
        };
        let wanted = desired("/aws/lambda/a");
        assert_eq!(
            early(&wanted, true, found(&[])).as_deref(),
            Some("create log-group:/aws/lambda/a")
        );
        assert_eq!(
            early(&wanted, true, found(&[("autosub", elsewhere)])),
            None,
            "our name to another destination is not ours (the early plan has no ledger to vouch for it): never rewritten early"
        );
        assert_eq!(
            early(&wanted, false, found(&[])),
            None,
            "the permission comes first"
        );
        assert_eq!(
            early(&wanted, true, found(&[("a", kinesis), ("b", kinesis)])),
            None,
            "no free slot: a skip, not a change"
        );
        assert_eq!(
            early(
                &wanted,
                true,
                found(&[("autosub", &forwarder().to_string())])
            ),
            None,
            "already in place"
        );
        let unwanted = desired("/aws/lambda/other");
        assert_eq!(
            early(
                &unwanted,
                true,
                found(&[("autosub", &forwarder().to_string())])
            ),
            None,
            "a delete waits for the whole plan"
        );
    }
}
