//! The account-level subscription filter policy (`PutAccountPolicy`,
//! `SUBSCRIPTION_FILTER_POLICY`): one per account and region, delivering every log group its
//! selection criteria do not exclude, current and future, without taking a filter slot.
//!
//! AWS's rules encoded here: the only selection is `LogGroupName NOT IN [...]` of exact names, at
//! most 25 KB of UTF-8; the document names the destination and the filter pattern. Which log
//! groups a pass leaves to a policy is `policy_routing`'s.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::ids::LogGroupName;

/// The largest selection criteria AWS accepts, in UTF-8 bytes.
pub const SELECTION_CRITERIA_MAX_BYTES: usize = 25 * 1024;

/// Which log groups a policy delivers.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "selection", content = "log_groups", rename_all = "snake_case")]
pub enum AccountSelection {
    /// Every log group except these (no criteria = none excluded).
    AllBut(BTreeSet<LogGroupName>),
    /// Criteria this version cannot read: the policy is assumed to deliver no known group.
    Unrecognised(String),
}

/// One account-level subscription filter policy.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AccountPolicy {
    /// The policy name, unique in the account and region.
    pub name: String,
    /// Where it delivers (a Lambda, Kinesis, Firehose or logs destination ARN).
    pub destination_arn: String,
    /// Its filter pattern ("" = every event).
    pub pattern: String,
    /// The log groups it delivers.
    pub selection: AccountSelection,
}

impl AccountPolicy {
    /// True when the policy delivers `group`.
    pub fn selects(&self, group: &LogGroupName) -> bool {
        match &self.selection {
            AccountSelection::AllBut(excluded) => !excluded.contains(group),
            AccountSelection::Unrecognised(_) => false,
        }
    }

    /// The policy document `PutAccountPolicy` takes.
    pub fn document(&self) -> String {
        serde_json::json!({
            "DestinationArn": self.destination_arn,
            "FilterPattern": self.pattern,
        })
        .to_string()
    }

    /// The `selectionCriteria` `PutAccountPolicy` takes; `None` when nothing is excluded.
    pub fn selection_criteria(&self) -> Option<String> {
        match &self.selection {
            AccountSelection::AllBut(excluded) if excluded.is_empty() => None,
            AccountSelection::AllBut(excluded) => {
                let names: Vec<&str> = excluded.iter().map(LogGroupName::as_str).collect();
                Some(format!(
                    "LogGroupName NOT IN {}",
                    serde_json::to_string(&names).unwrap_or_default()
                ))
            }
            AccountSelection::Unrecognised(raw) => Some(raw.clone()),
        }
    }

    /// A policy as `DescribeAccountPolicies` returns it. A document that is not the JSON object
    /// AWS documents gives empty fields; criteria other than `LogGroupName NOT IN [...]` are kept
    /// as [`AccountSelection::Unrecognised`].
    pub fn parse(name: &str, document: &str, criteria: Option<&str>) -> Self {
        let doc: serde_json::Value = serde_json::from_str(document).unwrap_or_default();
        let field = |k: &str| doc[k].as_str().unwrap_or_default().to_owned();
        let selection = match criteria.map(str::trim).filter(|c| !c.is_empty()) {
            None => AccountSelection::AllBut(BTreeSet::new()),
            Some(raw) => parse_not_in(raw).map_or_else(
                || AccountSelection::Unrecognised(raw.to_owned()),
                AccountSelection::AllBut,
            ),
        };
        Self {
            name: name.to_owned(),
            destination_arn: field("DestinationArn"),
            pattern: field("FilterPattern"),
            selection,
        }
    }

    /// The excluded log groups, for the plan's words.
    pub fn excluded_count(&self) -> usize {
        match &self.selection {
            AccountSelection::AllBut(excluded) => excluded.len(),
            AccountSelection::Unrecognised(_) => 0,
        }
    }
}

/// `LogGroupName NOT IN ["a", "b"]` → {a, b}.
fn parse_not_in(raw: &str) -> Option<BTreeSet<LogGroupName>> {
    let rest = raw.strip_prefix("LogGroupName")?.trim_start();
    let rest = rest.strip_prefix("NOT")?.trim_start();
    let list = rest.strip_prefix("IN")?.trim();
    let names: Vec<String> = serde_json::from_str(list).ok()?;
    Some(names.into_iter().map(LogGroupName::new).collect())
}

/// The account policies of a region as a pass read them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum AccountPolicies {
    /// Not read (a plan built without them): nothing is adopted and no policy changes.
    #[default]
    NotRead,
    /// Every `SUBSCRIPTION_FILTER_POLICY` of the account in the region.
    Found {
        /// The policies, sorted by name.
        policies: Vec<AccountPolicy>,
    },
    /// They could not be read; no policy change is planned.
    Unreadable {
        /// The error, for the skip reason.
        detail: String,
    },
}

/// The account policy a target in account-policy mode should have, and what it delivers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DesiredAccountPolicy {
    /// The policy autosub keeps in place; `None` when another policy to the forwarder already
    /// delivers (adopted, never touched).
    pub ours: Option<AccountPolicy>,
    /// The policy that delivers the log groups: ours, or the adopted one.
    pub delivering: AccountPolicy,
    /// Discovered log groups the policy delivers, with the ARNs of the sources writing to each;
    /// they need no filter of their own.
    pub covered: BTreeMap<LogGroupName, BTreeSet<String>>,
}
