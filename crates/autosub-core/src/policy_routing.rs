//! Which log groups an account-level subscription filter policy delivers in a pass: the
//! policy wanted in account-policy mode (`want`), and the routing of the discovered groups to
//! ours, to an adopted one, or back to per-group filters (`route`, and `adopt` in per-group
//! mode), with the skips that say why.

use std::collections::BTreeSet;

use crate::account_policy::{
    AccountPolicies, AccountPolicy, AccountSelection, DesiredAccountPolicy,
    SELECTION_CRITERIA_MAX_BYTES,
};
use crate::change::{Skip, SkipReason, location_of_account_policy};
use crate::desired::{Desired, Selection};
use crate::ids::{FunctionArn, LogGroupName};
use crate::ledger::TargetLedger;
use crate::pattern::wildcard_match;

/// The account policy wanted for this region: to `forwarder` with `pattern`, excluding every
/// guarded log group and every listed group the selection excludes. A glob can only exclude
/// the groups that exist when the pass lists them; a group created later that matches is
/// delivered until the next pass adds it. `Err` when the criteria would pass AWS's size limit.
pub fn want(
    name: &str,
    forwarder: &FunctionArn,
    pattern: &str,
    selection: &Selection,
    listed: &BTreeSet<LogGroupName>,
) -> Result<AccountPolicy, Skip> {
    let mut excluded: BTreeSet<LogGroupName> = selection.guarded_log_groups.clone();
    excluded.extend(
        listed
            .iter()
            .filter(|g| {
                selection
                    .exclude_log_groups
                    .iter()
                    .any(|p| wildcard_match(p, g.as_str()))
            })
            .cloned(),
    );
    let policy = AccountPolicy {
        name: name.to_owned(),
        destination_arn: forwarder.to_string(),
        pattern: pattern.to_owned(),
        selection: AccountSelection::AllBut(excluded),
    };
    let size = policy.selection_criteria().map_or(0, |c| c.len());
    if size > SELECTION_CRITERIA_MAX_BYTES {
        return Err(Skip {
            subject: format!("account-policy:{name}"),
            reason: SkipReason::AccountPolicyTooLarge,
            detail: format!(
                "excluding {} log groups takes {size} bytes of selection criteria; AWS allows {SELECTION_CRITERIA_MAX_BYTES}. Narrow exclude.log_groups and loop_guard.log_groups, or turn account_policy.enabled off for this region: its log groups keep per-group filters",
                policy.excluded_count()
            ),
        });
    }
    Ok(policy)
}

/// Decides whether the region's log groups are delivered by an account policy, from `wanted`
/// and the policies `observed`. When they are, the discovered groups it selects move from
/// `desired.log_groups` to [`Desired::account_policy`]; when they are not, they keep per-group
/// filters and a skip says why. The policy is ours by its name and a forwarder destination
/// (or one the ledger recorded as ours).
pub fn route(
    desired: &mut Desired,
    wanted: Result<AccountPolicy, Skip>,
    observed: &AccountPolicies,
    ledger: &TargetLedger,
    guarded: &BTreeSet<LogGroupName>,
) {
    let wanted = match wanted {
        Ok(wanted) => wanted,
        Err(skip) => {
            desired.skips.push(skip);
            return;
        }
    };
    let subject = location_of_account_policy(&wanted.name);
    let ledgered = ledgered(ledger, &wanted.name);
    let delivering = match observed {
        AccountPolicies::Found { policies } => {
            let ours = policies
                .iter()
                .find(|p| is_ours(p, &wanted.name, &desired.forwarders, ledger));
            let adopted = policies.iter().find(|p| {
                p.name != wanted.name && is_forwarder(&desired.forwarders, &p.destination_arn)
            });
            let taken = policies.iter().find(|p| Some(*p) != ours);
            match (ours, adopted, taken) {
                (Some(_), _, _) | (None, None, None) => Some((Some(wanted.clone()), wanted)),
                (None, Some(adopted), _) => {
                    warn_of_loops(desired, adopted, guarded);
                    Some((None, adopted.clone()))
                }
                (None, None, Some(taken)) => {
                    desired.skips.push(Skip {
                        subject,
                        reason: SkipReason::AccountPolicyTaken,
                        detail: format!(
                            "the region's one subscription filter policy is {:?} → {}, not autosub's; its log groups keep per-group filters. Remove that policy, or turn account_policy.enabled off here",
                            taken.name, taken.destination_arn
                        ),
                    });
                    None
                }
            }
        }
        // Unread, the ledger still vouches for ours: keep relying on it, change nothing.
        AccountPolicies::Unreadable { .. } | AccountPolicies::NotRead if ledgered => {
            Some((Some(wanted.clone()), wanted))
        }
        AccountPolicies::Unreadable { detail } => {
            desired.skips.push(Skip {
                subject,
                reason: SkipReason::Unreadable,
                detail: format!(
                    "the account's subscription filter policies could not be read ({detail}); its log groups keep per-group filters this pass"
                ),
            });
            None
        }
        AccountPolicies::NotRead => None,
    };
    if let Some((ours, delivering)) = delivering {
        cover(desired, ours, delivering);
    }
}

/// Per-group mode: reads the region's policies for what already delivers. A policy to a
/// forwarder that is not ours (Datadog's own, or one made by hand) delivers every group it
/// selects, so those need no filter of their own: a filter there would deliver every event
/// twice. A policy to anywhere else takes no filter slot and is only reported. Ours (the
/// region left account-policy mode) is the planner's to delete, never adopted.
pub fn adopt(
    desired: &mut Desired,
    name: &str,
    observed: &AccountPolicies,
    ledger: &TargetLedger,
    guarded: &BTreeSet<LogGroupName>,
) {
    let policies = match observed {
        AccountPolicies::NotRead => return,
        AccountPolicies::Unreadable { detail } => {
            desired.skips.push(Skip {
                subject: ACCOUNT_POLICIES.into(),
                reason: SkipReason::Unreadable,
                detail: format!(
                    "the account's subscription filter policies could not be read ({detail}); if one delivers to the forwarder, the per-group filters deliver those events twice. If the read was denied, allow logs:DescribeAccountPolicies (`autosub iam-policy` prints it)"
                ),
            });
            return;
        }
        AccountPolicies::Found { policies } => policies,
    };
    let theirs = policies
        .iter()
        .filter(|p| !is_ours(p, name, &desired.forwarders, ledger));
    let mut adopted = None;
    for policy in theirs {
        if is_forwarder(&desired.forwarders, &policy.destination_arn) {
            adopted.get_or_insert_with(|| policy.clone());
        } else {
            desired.skips.push(Skip {
                subject: location_of_account_policy(&policy.name),
                reason: SkipReason::ForeignAccountPolicy,
                detail: format!(
                    "it sends the log groups it selects to {} as well; it takes no filter slot, and autosub leaves it as it is",
                    policy.destination_arn
                ),
            });
        }
    }
    if let Some(adopted) = adopted {
        warn_of_loops(desired, &adopted, guarded);
        cover(desired, None, adopted);
    }
}

/// An adopted policy that delivers a loop-guarded group (the forwarder's own) feeds the
/// forwarder its own output; it is not ours to change, so the report names it and the fix.
fn warn_of_loops(desired: &mut Desired, adopted: &AccountPolicy, guarded: &BTreeSet<LogGroupName>) {
    let looping: Vec<&str> = guarded
        .iter()
        .filter(|g| adopted.selects(g))
        .map(LogGroupName::as_str)
        .collect();
    if !looping.is_empty() {
        desired.skips.push(Skip {
            subject: location_of_account_policy(&adopted.name),
            reason: SkipReason::LoopGuard,
            detail: format!(
                "this policy (not autosub's) delivers {} to the forwarder, which logs every invocation there: a recursion loop. Add them to its selection criteria (LogGroupName NOT IN [...])",
                looping.join(", ")
            ),
        });
    }
}

/// The subject of a skip about the region's account policies as a whole.
pub const ACCOUNT_POLICIES: &str = "account-policies";

/// Moves the discovered groups `delivering` selects out of `desired.log_groups`.
fn cover(desired: &mut Desired, ours: Option<AccountPolicy>, delivering: AccountPolicy) {
    let covered: BTreeSet<LogGroupName> = desired
        .log_groups
        .keys()
        .filter(|g| delivering.selects(g))
        .cloned()
        .collect();
    let covered = covered
        .into_iter()
        .filter_map(|g| desired.log_groups.remove(&g).map(|d| (g, d.sources)))
        .collect();
    desired.account_policy = Some(DesiredAccountPolicy {
        ours,
        delivering,
        covered,
    });
}

/// True when `policy` is autosub's: it carries our `name` and delivers to a forwarder, or the
/// ledger recorded it as ours (a forwarder that changed since).
pub fn is_ours(
    policy: &AccountPolicy,
    name: &str,
    forwarders: &BTreeSet<FunctionArn>,
    ledger: &TargetLedger,
) -> bool {
    policy.name == name
        && (is_forwarder(forwarders, &policy.destination_arn) || ledgered(ledger, name))
}

fn ledgered(ledger: &TargetLedger, name: &str) -> bool {
    let location = location_of_account_policy(name);
    ledger.triggers.values().any(|e| e.location == location)
}

fn is_forwarder(forwarders: &BTreeSet<FunctionArn>, arn: &str) -> bool {
    forwarders.iter().any(|f| f.is(arn))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desired::DesiredLogGroup;

    fn fwd() -> FunctionArn {
        FunctionArn::parse("arn:aws:lambda:us-east-1:111111111111:function:fwd").unwrap()
    }

    fn names(list: &[&str]) -> BTreeSet<LogGroupName> {
        list.iter().map(|n| LogGroupName::new(*n)).collect()
    }

    fn selection() -> Selection {
        Selection {
            exclude_log_groups: vec!["/noisy/*".into()],
            guarded_log_groups: names(&["/aws/lambda/fwd"]),
            ..Selection::default()
        }
    }

    fn desired(groups: &[&str]) -> Desired {
        Desired {
            forwarders: [fwd()].into(),
            log_groups: groups
                .iter()
                .map(|g| {
                    let want = DesiredLogGroup {
                        forwarder: fwd(),
                        sources: [format!("src:{g}")].into(),
                    };
                    (LogGroupName::new(*g), want)
                })
                .collect(),
            ..Desired::default()
        }
    }

    #[test]
    fn the_wanted_policy_excludes_guards_and_the_listed_groups_a_glob_excludes() {
        let listed = names(&["/a", "/noisy/1", "/noisy/2", "/aws/lambda/fwd"]);
        let policy = want("autosub", &fwd(), "", &selection(), &listed).unwrap();
        assert_eq!(
            policy.selection,
            AccountSelection::AllBut(names(&["/aws/lambda/fwd", "/noisy/1", "/noisy/2"]))
        );
        assert_eq!(
            policy.selection_criteria().as_deref(),
            Some(r#"LogGroupName NOT IN ["/aws/lambda/fwd","/noisy/1","/noisy/2"]"#)
        );
        assert!(policy.selects(&LogGroupName::new("/a")));
        assert!(!policy.selects(&LogGroupName::new("/noisy/1")));
    }

    #[test]
    fn criteria_past_25_kb_are_refused_with_the_keys_to_change() {
        let listed: BTreeSet<LogGroupName> = (0..2_000)
            .map(|i| LogGroupName::new(format!("/noisy/group-{i:05}")))
            .collect();
        let skip = want("autosub", &fwd(), "", &selection(), &listed).unwrap_err();
        assert_eq!(skip.reason, SkipReason::AccountPolicyTooLarge);
        assert!(
            skip.detail.contains("exclude.log_groups"),
            "{}",
            skip.detail
        );
        assert!(skip.detail.contains("25600"), "{}", skip.detail);
    }

    #[test]
    fn a_policy_round_trips_through_what_aws_returns() {
        let policy = want(
            "autosub",
            &fwd(),
            "{ $.level = \"error\" }",
            &selection(),
            &names(&["/noisy/x"]),
        )
        .unwrap();
        let read = AccountPolicy::parse(
            &policy.name,
            &policy.document(),
            policy.selection_criteria().as_deref(),
        );
        assert_eq!(read, policy);
        let everything = AccountPolicy::parse("p", r#"{"DestinationArn":"arn:x"}"#, None);
        assert!(everything.selects(&LogGroupName::new("/any")));
        let odd = AccountPolicy::parse("p", "{}", Some("LogGroupNamePrefix IN [\"/a\"]"));
        assert!(!odd.selects(&LogGroupName::new("/a")));
        assert!(matches!(odd.selection, AccountSelection::Unrecognised(_)));
    }

    #[test]
    fn with_no_policy_in_the_region_ours_takes_over_the_discovered_groups() {
        let d = routed(&["/a", "/b"], AccountPolicies::Found { policies: vec![] });
        let ap = d.account_policy.unwrap();
        assert!(ap.ours.is_some());
        assert_eq!(ap.covered.len(), 2);
        assert!(d.log_groups.is_empty());
    }

    #[test]
    fn another_policy_to_the_forwarder_is_adopted_for_the_groups_it_selects() {
        let theirs = policy("datadog", &fwd().to_string(), &["/b"]);
        let d = routed(
            &["/a", "/b"],
            AccountPolicies::Found {
                policies: vec![theirs.clone()],
            },
        );
        let ap = d.account_policy.unwrap();
        assert_eq!(ap.ours, None);
        assert_eq!(ap.delivering, theirs);
        assert_eq!(
            ap.covered.keys().collect::<Vec<_>>(),
            [&LogGroupName::new("/a")]
        );
        assert!(d.log_groups.contains_key(&LogGroupName::new("/b")));
    }

    #[test]
    fn a_foreign_policy_holds_the_slot_and_groups_keep_their_filters() {
        for name in ["autosub", "security-kinesis"] {
            let kinesis = "arn:aws:kinesis:us-east-1:111111111111:stream/sec";
            let d = routed(
                &["/a"],
                AccountPolicies::Found {
                    policies: vec![policy(name, kinesis, &[])],
                },
            );
            assert_eq!(d.account_policy, None, "{name}");
            assert_eq!(d.log_groups.len(), 1);
            assert_first_skip(&d, SkipReason::AccountPolicyTaken, "arn:aws:kinesis");
        }
    }

    #[test]
    fn unreadable_policies_fall_back_to_filters_unless_the_ledger_vouches_for_ours() {
        let unreadable = AccountPolicies::Unreadable {
            detail: "AccessDenied".into(),
        };
        let d = routed(&["/a"], unreadable.clone());
        assert_eq!(d.account_policy, None);
        assert_eq!(d.skips[0].reason, SkipReason::Unreadable);

        let wanted = want("autosub", &fwd(), "", &selection(), &BTreeSet::new());
        let mut ledger = TargetLedger::default();
        let ours = crate::plan::Trigger::AccountPolicy {
            policy: wanted.clone().unwrap(),
        };
        ledger.track(&ours, 0, 1, &TargetLedger::default());
        let mut d = desired(&["/a"]);
        route(&mut d, wanted, &unreadable, &ledger, &BTreeSet::new());
        assert_eq!(d.account_policy.unwrap().covered.len(), 1);
    }

    /// `groups` desired in account-policy mode, after [`route`] read `observed` (no ledger, no
    /// guard).
    fn routed(groups: &[&str], observed: AccountPolicies) -> Desired {
        let mut d = desired(groups);
        let wanted = want("autosub", &fwd(), "", &selection(), &BTreeSet::new());
        route(
            &mut d,
            wanted,
            &observed,
            &TargetLedger::default(),
            &BTreeSet::new(),
        );
        d
    }

    /// `/a` desired in per-group mode, after [`adopt`] read `observed` (no ledger, no guard).
    fn adopted(observed: AccountPolicies) -> Desired {
        let mut d = desired(&["/a"]);
        adopt(
            &mut d,
            "autosub",
            &observed,
            &TargetLedger::default(),
            &BTreeSet::new(),
        );
        d
    }

    /// Asserts the first skip has `reason` and its detail names `needle`.
    fn assert_first_skip(d: &Desired, reason: SkipReason, needle: &str) {
        assert_eq!(d.skips[0].reason, reason, "{:?}", d.skips);
        assert!(d.skips[0].detail.contains(needle), "{}", d.skips[0].detail);
    }

    fn policy(name: &str, destination: &str, excluded: &[&str]) -> AccountPolicy {
        AccountPolicy {
            name: name.into(),
            destination_arn: destination.into(),
            pattern: String::new(),
            selection: AccountSelection::AllBut(names(excluded)),
        }
    }

    #[test]
    fn per_group_mode_adopts_a_policy_to_the_forwarder_and_warns_of_its_loop() {
        let mut d = desired(&["/a", "/b"]);
        let datadog = policy("datadog", &fwd().to_string(), &["/b"]);
        let found = AccountPolicies::Found {
            policies: vec![datadog.clone()],
        };
        let guarded = names(&["/aws/lambda/fwd"]);
        adopt(
            &mut d,
            "autosub",
            &found,
            &TargetLedger::default(),
            &guarded,
        );
        let ap = d.account_policy.clone().unwrap();
        assert_eq!((ap.ours, ap.delivering), (None, datadog));
        assert_eq!(
            ap.covered.keys().collect::<Vec<_>>(),
            [&LogGroupName::new("/a")]
        );
        assert_eq!(
            d.log_groups.keys().collect::<Vec<_>>(),
            [&LogGroupName::new("/b")]
        );
        assert_eq!(d.skips.len(), 1);
        assert_first_skip(&d, SkipReason::LoopGuard, "/aws/lambda/fwd");
    }

    #[test]
    fn per_group_mode_reports_a_policy_elsewhere_and_keeps_every_filter() {
        let kinesis = "arn:aws:kinesis:us-east-1:111111111111:stream/sec";
        let d = adopted(AccountPolicies::Found {
            policies: vec![policy("security", kinesis, &[])],
        });
        assert_eq!(d.account_policy, None);
        assert_eq!(d.log_groups.len(), 1);
        assert_eq!(d.skips[0].reason, SkipReason::ForeignAccountPolicy);
        assert_eq!(d.skips[0].subject, "account-policy:security");
        assert!(d.skips[0].detail.contains(kinesis), "{}", d.skips[0].detail);
    }

    #[test]
    fn per_group_mode_never_adopts_our_own_policy_it_is_leaving() {
        let d = adopted(AccountPolicies::Found {
            policies: vec![policy("autosub", &fwd().to_string(), &[])],
        });
        assert_eq!(d.account_policy, None);
        assert_eq!(d.log_groups.len(), 1);
        assert!(d.skips.is_empty(), "{:?}", d.skips);
    }

    #[test]
    fn per_group_mode_with_unreadable_policies_keeps_filters_and_says_what_to_allow() {
        let d = adopted(AccountPolicies::Unreadable {
            detail: "AccessDeniedException".into(),
        });
        assert_eq!(d.log_groups.len(), 1);
        assert_eq!(d.skips[0].subject, ACCOUNT_POLICIES);
        assert_first_skip(&d, SkipReason::Unreadable, "logs:DescribeAccountPolicies");
    }
}
