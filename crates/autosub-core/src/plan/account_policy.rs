//! Planning the region's account-level subscription filter policy: ours put, updated, or deleted
//! once the region leaves account-policy mode; another's never touched. What the policy is and
//! which log groups it takes over from per-group filters is [`crate::account_policy`].

use super::{Action, Change, Planner, Trigger};
use crate::account_policy::{self, AccountPolicies, AccountPolicy, AccountSelection};
use crate::ids::{FunctionArn, LogGroupName};
use crate::ledger::location_of_account_policy;
use crate::observed::Observed;
use crate::permission::Invoker;
use crate::plan::SkipReason;

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
