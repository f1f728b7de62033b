//! CloudWatch Logs (awsJson 1.1): log groups and their subscription filters.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use tokio::time::Instant;

use super::lambda;
use super::proto::{Reply, Request, json_error, partition};
use super::{Caller, State, Target};

/// Filters per log group, as the API documents it.
const FILTER_SLOTS: usize = 2;
const PAGE: usize = 50;

/// A log group in the fake.
#[derive(Debug, Default)]
pub(super) struct LogGroup {
    pub(super) class: String,
    pub(super) filters: Vec<FakeFilter>,
    /// When PutSubscriptionFilter last wrote each filter, by name (seeded filters have none).
    pub(super) put_at: BTreeMap<String, Instant>,
}

/// A subscription filter as the fake holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeFilter {
    /// `filterName`.
    pub name: String,
    /// `filterPattern` ("" = every event).
    pub pattern: String,
    /// `destinationArn`.
    pub destination_arn: String,
}

/// An account-level subscription filter policy as the fake holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeAccountPolicy {
    /// `policyName`.
    pub name: String,
    /// `policyDocument` as put.
    pub document: String,
    /// `selectionCriteria`, if any.
    pub selection_criteria: Option<String>,
}

/// AWS's limit on `selectionCriteria`, in UTF-8 bytes.
const SELECTION_CRITERIA_MAX_BYTES: usize = 25 * 1024;

/// The Logs operations the fake serves.
pub(super) enum Op {
    DescribeLogGroups,
    DescribeSubscriptionFilters,
    PutSubscriptionFilter,
    DeleteSubscriptionFilter,
    DescribeAccountPolicies,
    PutAccountPolicy,
    DeleteAccountPolicy,
    Unknown(String),
}

impl Op {
    pub(super) fn of(req: &Request) -> Op {
        let target = req.target.as_deref().unwrap_or_default();
        match target.strip_prefix("Logs_20140328.").unwrap_or(target) {
            "DescribeLogGroups" => Op::DescribeLogGroups,
            "DescribeSubscriptionFilters" => Op::DescribeSubscriptionFilters,
            "PutSubscriptionFilter" => Op::PutSubscriptionFilter,
            "DeleteSubscriptionFilter" => Op::DeleteSubscriptionFilter,
            "DescribeAccountPolicies" => Op::DescribeAccountPolicies,
            "PutAccountPolicy" => Op::PutAccountPolicy,
            "DeleteAccountPolicy" => Op::DeleteAccountPolicy,
            other => Op::Unknown(other.to_owned()),
        }
    }

    pub(super) fn api(&self) -> &'static str {
        match self {
            Op::DescribeLogGroups => "logs:DescribeLogGroups",
            Op::DescribeSubscriptionFilters => "logs:DescribeSubscriptionFilters",
            Op::PutSubscriptionFilter => "logs:PutSubscriptionFilter",
            Op::DeleteSubscriptionFilter => "logs:DeleteSubscriptionFilter",
            Op::DescribeAccountPolicies => "logs:DescribeAccountPolicies",
            Op::PutAccountPolicy => "logs:PutAccountPolicy",
            Op::DeleteAccountPolicy => "logs:DeleteAccountPolicy",
            Op::Unknown(_) => "logs:unknown",
        }
    }
}

pub(super) fn error(status: u16, code: &str, message: &str) -> Reply {
    json_error(status, code, message, &[])
}

const SUBSCRIPTION_FILTER_POLICY: &str = "SUBSCRIPTION_FILTER_POLICY";

fn unsupported_policy_type() -> Reply {
    error(
        400,
        "NotImplemented",
        "the fake AWS serves account policies of type SUBSCRIPTION_FILTER_POLICY only",
    )
}

/// Logs checks at put time that it may invoke a Lambda destination (in the caller's account).
fn lambda_refuses(target: &Target, caller: &Caller, destination: &str) -> Option<Reply> {
    let invocable = !destination.contains(":lambda:")
        || lambda::local_function(&target.functions, caller, destination)
            .is_some_and(|f| f.allows(&caller.region, "logs.amazonaws.com"));
    (!invocable).then(|| {
        error(
            400,
            "InvalidParameterException",
            "Could not execute the lambda function. Make sure you have given CloudWatch Logs permission to execute your function.",
        )
    })
}

fn no_group() -> Reply {
    error(
        400,
        "ResourceNotFoundException",
        "The specified log group does not exist.",
    )
}

pub(super) fn handle(state: &mut State, caller: &Caller, op: Op, req: &Request) -> Reply {
    let body = req.json();
    let text = |k: &str| body[k].as_str().unwrap_or_default().to_owned();
    let clock = state.clock;
    let target = state.target(&caller.account, &caller.region);
    match op {
        Op::DescribeLogGroups => {
            let prefix = text("logGroupNamePrefix");
            let after = text("nextToken");
            let limit = body["limit"]
                .as_u64()
                .map_or(PAGE, |n| (n as usize).clamp(1, PAGE));
            let arn = |name: &str| {
                format!(
                    "arn:{}:logs:{}:{}:log-group:{name}",
                    partition(&caller.region),
                    caller.region,
                    caller.account
                )
            };
            let mut matching = target.log_groups.iter().filter(|(name, _)| {
                name.starts_with(&prefix) && (after.is_empty() || **name > after)
            });
            let page: Vec<(&String, &LogGroup)> = matching.by_ref().take(limit).collect();
            let groups: Vec<Value> = page
                .iter()
                .map(|(name, group)| {
                    json!({
                        "logGroupName": name,
                        "arn": format!("{}:*", arn(name)),
                        "logGroupArn": arn(name),
                        "creationTime": 0,
                        "storedBytes": 0,
                        "metricFilterCount": 0,
                        "logGroupClass": group.class,
                    })
                })
                .collect();
            let mut out = json!({ "logGroups": groups });
            if let Some((last, _)) = page.last().filter(|_| matching.next().is_some()) {
                out["nextToken"] = json!(last);
            }
            Reply::json(200, &out)
        }
        Op::DescribeSubscriptionFilters => {
            let name = text("logGroupName");
            let Some(group) = target.log_groups.get(&name) else {
                return no_group();
            };
            let filters: Vec<Value> = group
                .filters
                .iter()
                .map(|f| {
                    let created = group.put_at.get(&f.name).map_or(0, |t| clock.epoch_ms(*t));
                    json!({
                        "filterName": f.name,
                        "logGroupName": name,
                        "filterPattern": f.pattern,
                        "destinationArn": f.destination_arn,
                        "distribution": "ByLogStream",
                        "creationTime": created,
                    })
                })
                .collect();
            Reply::json(200, &json!({ "subscriptionFilters": filters }))
        }
        Op::PutSubscriptionFilter => {
            let filter = FakeFilter {
                name: text("filterName"),
                pattern: text("filterPattern"),
                destination_arn: text("destinationArn"),
            };
            if let Some(refused) = lambda_refuses(target, caller, &filter.destination_arn) {
                return refused;
            }
            let Some(group) = target.log_groups.get_mut(&text("logGroupName")) else {
                return no_group();
            };
            let name = filter.name.clone();
            // Re-putting a filter name updates it in place and needs no free slot.
            match group.filters.iter().position(|f| f.name == filter.name) {
                Some(i) => group.filters[i] = filter,
                None if group.filters.len() >= FILTER_SLOTS => {
                    return error(400, "LimitExceededException", "Resource limit exceeded.");
                }
                None => group.filters.push(filter),
            }
            group.put_at.insert(name, Instant::now());
            Reply::json(200, &json!({}))
        }
        Op::DeleteSubscriptionFilter => {
            let Some(group) = target.log_groups.get_mut(&text("logGroupName")) else {
                return no_group();
            };
            let before = group.filters.len();
            let name = text("filterName");
            group.filters.retain(|f| f.name != name);
            group.put_at.remove(&name);
            if group.filters.len() == before {
                return error(
                    400,
                    "ResourceNotFoundException",
                    "The specified subscription filter does not exist.",
                );
            }
            Reply::json(200, &json!({}))
        }
        Op::DescribeAccountPolicies => {
            if text("policyType") != SUBSCRIPTION_FILTER_POLICY {
                return unsupported_policy_type();
            }
            let policies: Vec<Value> = target
                .account_policies
                .iter()
                .map(|p| {
                    let mut policy = json!({
                        "policyName": p.name,
                        "policyDocument": p.document,
                        "policyType": SUBSCRIPTION_FILTER_POLICY,
                        "scope": "ALL",
                        "accountId": caller.account,
                        "lastUpdatedTime": 0,
                    });
                    if let Some(criteria) = &p.selection_criteria {
                        policy["selectionCriteria"] = json!(criteria);
                    }
                    policy
                })
                .collect();
            Reply::json(200, &json!({ "accountPolicies": policies }))
        }
        Op::PutAccountPolicy => {
            if text("policyType") != SUBSCRIPTION_FILTER_POLICY {
                return unsupported_policy_type();
            }
            let policy = FakeAccountPolicy {
                name: text("policyName"),
                document: text("policyDocument"),
                selection_criteria: body["selectionCriteria"].as_str().map(str::to_owned),
            };
            if policy
                .selection_criteria
                .as_ref()
                .is_some_and(|c| c.len() > SELECTION_CRITERIA_MAX_BYTES)
            {
                return error(
                    400,
                    "InvalidParameterException",
                    "selectionCriteria must be at most 25 KB.",
                );
            }
            let doc: Value = serde_json::from_str(&policy.document).unwrap_or_default();
            let destination = doc["DestinationArn"].as_str().unwrap_or_default();
            if let Some(refused) = lambda_refuses(target, caller, destination) {
                return refused;
            }
            // One subscription filter policy per account and region; re-putting it updates it.
            match target
                .account_policies
                .iter()
                .position(|p| p.name == policy.name)
            {
                Some(i) => target.account_policies[i] = policy,
                None if !target.account_policies.is_empty() => {
                    return error(400, "LimitExceededException", "Resource limit exceeded.");
                }
                None => target.account_policies.push(policy),
            }
            Reply::json(200, &json!({}))
        }
        Op::DeleteAccountPolicy => {
            let name = text("policyName");
            let before = target.account_policies.len();
            target.account_policies.retain(|p| p.name != name);
            if target.account_policies.len() == before {
                return error(
                    400,
                    "ResourceNotFoundException",
                    "The specified policy does not exist.",
                );
            }
            Reply::json(200, &json!({}))
        }
        Op::Unknown(op) => error(
            400,
            "NotImplemented",
            &format!("the fake AWS does not implement logs:{op}"),
        ),
    }
}
