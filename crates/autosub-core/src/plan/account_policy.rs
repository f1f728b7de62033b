//! Planning the region's account-level subscription filter policy: ours put, updated, or deleted
//! once the region leaves account-policy mode; another's never touched. What the policy is and
//! which log groups it takes over from per-group filters is [`crate::account_policy`].

use super::{Action, Change, ChangeReason, Planner, PolicyDifference, SkipReason, Trigger};
use crate::account_policy::{AccountPolicies, AccountPolicy, AccountSelection};
use crate::ids::{AccountId, FunctionArn, LogGroupName};
use crate::ledger::location_of_account_policy;
use crate::observed::Observed;
use crate::permission::Invoker;
use crate::policy_routing;

/// `policy` as a trigger.
fn policy_trigger(policy: &AccountPolicy) -> Trigger {
    Trigger::AccountPolicy {
        policy: policy.clone(),
    }
}

/// The ARN of every log group of the account in the region of `forwarder`, which the logs
/// statement must allow for an account policy delivering there.
fn all_groups_arn(account: &AccountId, forwarder: &FunctionArn) -> String {
    LogGroupName::new("*").arn(account, forwarder.region())
}

impl Planner<'_> {
    /// The region's account policy: ours kept as desired, created, updated, or deleted once the
    /// region leaves account-policy mode; another's never touched.
    pub(super) fn account_policy(&mut self, observed: &Observed) {
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
            policy_routing::is_ours(
                p,
                &self.policy.filter_name,
                &self.desired.forwarders,
                self.previous,
            )
        });
        if let Some(found) = found {
            self.track(&policy_trigger(found), 0);
        }
        match (wanted, found) {
            (Some(wanted), found) => self.wanted_account_policy(wanted, found),
            (None, Some(found)) if self.desired.account_policy.is_none() => {
                let change = Change {
                    action: Action::Delete,
                    trigger: policy_trigger(found),
                    reason: ChangeReason::AccountPolicyDisabled,
                    after: None,
                };
                let use_ = FunctionArn::parse(&found.destination_arn).ok().map(|f| {
                    let arn = all_groups_arn(&self.policy.account, &f);
                    (f, Invoker::Logs, arn)
                });
                let _queued = self.delete(&location_of_account_policy(&found.name), change, use_);
            }
            // Another policy to the forwarder delivers (adopted), or nothing of ours exists.
            (None, _) => {}
        }
    }

    /// Our policy as `wanted`: kept when `found` is it, else created or updated; the filter
    /// deletes it makes redundant wait for that change.
    fn wanted_account_policy(&mut self, wanted: &AccountPolicy, found: Option<&AccountPolicy>) {
        if let Ok(forwarder) = FunctionArn::parse(&wanted.destination_arn) {
            let arn = all_groups_arn(&self.policy.account, &forwarder);
            self.use_ours(&wanted.destination_arn, Invoker::Logs, arn);
        }
        let (action, reason) = match found {
            Some(found) if found == wanted => return,
            Some(found) => (
                Action::Update,
                ChangeReason::AccountPolicyDiffers(difference(found, wanted)),
            ),
            None => {
                let covered = self
                    .desired
                    .account_policy
                    .as_ref()
                    .map_or(0, |d| d.covered.len());
                (
                    Action::Create,
                    ChangeReason::AccountPolicyNew {
                        covered,
                        excluded: wanted.excluded_count(),
                    },
                )
            }
        };
        self.policy_change = Some(location_of_account_policy(&wanted.name));
        self.changes.push(Change {
            action,
            trigger: policy_trigger(wanted),
            reason,
            after: None,
        });
    }
}

/// What an update of our account policy `found` to `wanted` changes.
fn difference(found: &AccountPolicy, wanted: &AccountPolicy) -> PolicyDifference {
    let differs = |a: &String, b: &String| (a != b).then(|| (a.clone(), b.clone()));
    let mut difference = PolicyDifference {
        destination: differs(&found.destination_arn, &wanted.destination_arn),
        pattern: differs(&found.pattern, &wanted.pattern),
        ..PolicyDifference::default()
    };
    match (&found.selection, &wanted.selection) {
        (AccountSelection::AllBut(had), AccountSelection::AllBut(want)) if had != want => {
            let added = want.difference(had).count();
            let removed = had.difference(want).count();
            difference.exclusions = Some((added, removed));
        }
        (AccountSelection::Unrecognised(raw), _) => {
            difference.unrecognised_selection = Some(raw.clone());
        }
        _ => {}
    }
    difference
}
