//! What exists today: bucket notifications, subscription filters and forwarder resource policies.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::account_policy::AccountPolicies;
use crate::ids::{BucketName, FunctionArn, LogGroupName, Region};
use crate::ledger::{SweepCursors, TargetLedger};
use crate::notification::NotificationConfig;
use crate::pattern::wildcard_match;
use crate::permission::Invoker;

/// Who a trigger belongs to, which decides what autosub may do with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ownership {
    /// Carries our mark (filter name or notification id prefix): ours to update or delete.
    Ours,
    /// Points at the forwarder but was made by someone else: satisfies the desire, left alone.
    Adopted,
    /// Anything else: never touched.
    Foreign,
}

/// The observed state of one bucket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum BucketState {
    /// The bucket, its region and its notification configuration.
    Found {
        /// The region the bucket lives in.
        region: Region,
        /// Its whole notification configuration.
        config: NotificationConfig,
    },
    /// The bucket does not exist (any more).
    Missing,
    /// It could not be read; nothing about it is planned.
    Unreadable {
        /// The error, for the skip reason.
        detail: String,
    },
}

/// One subscription filter of a log group.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SubscriptionFilter {
    /// The filter's name, unique within its log group.
    pub name: String,
    /// Where it delivers (a Lambda, Kinesis or Firehose ARN).
    pub destination_arn: String,
    /// Its filter pattern ("" = every event).
    pub pattern: String,
}

/// The class of a log group; only `Standard` supports subscription filters.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogGroupClass {
    /// The default class.
    Standard,
    /// Any other class (`INFREQUENT_ACCESS`, `DELIVERY`, …), as AWS names it.
    Other(String),
}

/// The observed state of one log group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum LogGroupState {
    /// The log group and its subscription filters.
    Found {
        /// Its class.
        class: LogGroupClass,
        /// Its subscription filters.
        filters: Vec<SubscriptionFilter>,
    },
    /// The log group does not exist (yet: Lambda creates its group on first invocation).
    Missing,
    /// It could not be read; nothing about it is planned.
    Unreadable {
        /// The error, for the skip reason.
        detail: String,
    },
}

/// One statement of a Lambda resource policy, reduced to what decides whether it lets a service
/// invoke the function.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PolicyStatement {
    /// The statement id.
    pub sid: String,
    /// `Effect: Allow`.
    pub allow: bool,
    /// Service principals (`logs.amazonaws.com`, or `*` for any principal).
    pub principals: Vec<String>,
    /// Actions (`lambda:InvokeFunction`, `lambda:*`, `*`).
    pub actions: Vec<String>,
    /// `aws:SourceAccount` values the statement is restricted to (empty = any).
    pub source_accounts: Vec<String>,
    /// `aws:SourceArn` patterns the statement is restricted to (empty = any).
    pub source_arns: Vec<String>,
    /// Condition keys we do not evaluate; a statement with any is never relied on.
    pub other_conditions: Vec<String>,
}

impl PolicyStatement {
    /// True when this statement lets `principal` invoke the function for a source `source_arn`
    /// in `account`.
    pub fn allows(&self, principal: &str, account: &str, source_arn: &str) -> bool {
        self.allow
            && self.other_conditions.is_empty()
            && self
                .principals
                .iter()
                .any(|p| p == "*" || same_principal(p, principal, source_arn))
            && self
                .actions
                .iter()
                .any(|a| matches!(a.as_str(), "lambda:InvokeFunction" | "lambda:*" | "*"))
            && (self.source_accounts.is_empty()
                || self.source_accounts.iter().any(|a| a == account))
            && (self.source_arns.is_empty()
                || self
                    .source_arns
                    .iter()
                    .any(|p| wildcard_match(p, source_arn)))
    }
}

/// True when the service principal `written` in a statement stands for `principal` invoking for
/// `source_arn`: the global form (`logs.amazonaws.com`), the regional one the Datadog
/// Forwarder's older templates wrote (`logs.<region>.amazonaws.com`, for the source's own
/// region), and either with China's `.amazonaws.com.cn` suffix.
fn same_principal(written: &str, principal: &str, source_arn: &str) -> bool {
    let Some(service) = principal.strip_suffix(".amazonaws.com") else {
        return written == principal;
    };
    let Some(rest) = written
        .strip_suffix(".amazonaws.com")
        .or_else(|| written.strip_suffix(".amazonaws.com.cn"))
    else {
        return false;
    };
    if rest == service {
        return true;
    }
    // arn:<partition>:<service>:<region>:…
    let source_region = source_arn.split(':').nth(3).unwrap_or_default();
    rest.strip_prefix(service)
        .and_then(|r| r.strip_prefix('.'))
        .is_some_and(|region| !region.is_empty() && region == source_region)
}

/// The observed resource policy of a forwarder.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum PolicyState {
    /// The function exists; its statements (none when it has no policy).
    Found {
        /// The statements of its resource policy.
        statements: Vec<PolicyStatement>,
    },
    /// It could not be read; no permission change is planned for this forwarder.
    Unreadable {
        /// The error, for the skip reason.
        detail: String,
    },
}

/// Everything observed for one target.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observed {
    /// Buckets that are desired or may hold our entries.
    pub buckets: BTreeMap<BucketName, BucketState>,
    /// Log groups that are desired or may hold our filter.
    pub log_groups: BTreeMap<LogGroupName, LogGroupState>,
    /// The resource policy of every forwarder in play.
    pub policies: BTreeMap<FunctionArn, PolicyState>,
    /// Sweeps that failed (listing the region's log groups or buckets), by the invoker whose
    /// triggers may hide there: our statement for it is not pruned on such a pass.
    #[serde(default)]
    pub unswept: BTreeMap<Invoker, String>,
    /// What the previous pass remembered about our triggers here (stale counts, origins).
    #[serde(default)]
    pub ledger: TargetLedger,
    /// How much of the target this pass read, and what it trusted the ledger for.
    #[serde(default)]
    pub coverage: Coverage,
    /// The region's account-level subscription filter policies.
    #[serde(default)]
    pub account_policies: AccountPolicies,
}

/// How much of a target a pass read (design §4 rule 9).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coverage {
    /// When the pass read AWS, in seconds since the Unix epoch.
    pub at: u64,
    /// Every log group and bucket of the region was read (a full audit). Only such a pass may
    /// conclude that nothing uses one of our permission statements any more.
    pub full: bool,
    /// Desired log groups this pass did not read: the ledger's verified records vouch for them.
    #[serde(default)]
    pub trusted_log_groups: BTreeSet<LogGroupName>,
    /// Desired buckets this pass did not read, likewise for each of their prefixes.
    #[serde(default)]
    pub trusted_buckets: BTreeSet<BucketName>,
    /// Where the sweep for lost triggers stopped in this pass.
    #[serde(default)]
    pub sweep: SweepCursors,
}

impl Default for Coverage {
    /// A full audit at the epoch: everything was read, nothing trusted.
    fn default() -> Self {
        Self {
            at: 0,
            full: true,
            trusted_log_groups: BTreeSet::new(),
            trusted_buckets: BTreeSet::new(),
            sweep: SweepCursors::default(),
        }
    }
}

/// The parts of a policy document we read; everything else is ignored.
#[derive(Deserialize)]
struct PolicyDocument {
    #[serde(rename = "Statement", default)]
    statements: OneOrMany<RawStatement>,
}

#[derive(Deserialize)]
struct RawStatement {
    #[serde(rename = "Sid", default)]
    sid: String,
    #[serde(rename = "Effect", default)]
    effect: String,
    #[serde(rename = "Principal", default)]
    principal: Option<serde_json::Value>,
    #[serde(rename = "Action", default)]
    action: OneOrMany<String>,
    #[serde(rename = "Condition", default)]
    condition: BTreeMap<String, BTreeMap<String, OneOrMany<String>>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

impl<T> Default for OneOrMany<T> {
    fn default() -> Self {
        Self::Many(Vec::new())
    }
}

impl<T> OneOrMany<T> {
    fn into_vec(self) -> Vec<T> {
        match self {
            Self::One(t) => vec![t],
            Self::Many(v) => v,
        }
    }
}

/// Parses a Lambda resource policy document (the JSON string GetPolicy returns).
pub fn parse_policy(json: &str) -> Result<Vec<PolicyStatement>, serde_json::Error> {
    let doc: PolicyDocument = serde_json::from_str(json)?;
    let mut statements: Vec<PolicyStatement> = doc
        .statements
        .into_vec()
        .into_iter()
        .map(statement_from_raw)
        .collect();
    statements.sort();
    Ok(statements)
}

fn statement_from_raw(raw: RawStatement) -> PolicyStatement {
    let principals = match raw.principal {
        Some(serde_json::Value::String(s)) => vec![s],
        Some(serde_json::Value::Object(map)) => map
            .into_iter()
            .flat_map(|(kind, value)| {
                let values: Vec<String> = match value {
                    serde_json::Value::String(s) => vec![s],
                    serde_json::Value::Array(a) => a
                        .into_iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect(),
                    _ => Vec::new(),
                };
                // Only service principals (and the anonymous `*`) can be S3 or Logs.
                values
                    .into_iter()
                    .filter(move |v| kind == "Service" || v == "*")
            })
            .collect(),
        _ => Vec::new(),
    };
    let mut statement = PolicyStatement {
        sid: raw.sid,
        allow: raw.effect == "Allow",
        principals,
        actions: raw.action.into_vec(),
        source_accounts: Vec::new(),
        source_arns: Vec::new(),
        other_conditions: Vec::new(),
    };
    for (operator, keys) in raw.condition {
        for (key, values) in keys {
            let values = values.into_vec();
            match (operator.as_str(), key.to_ascii_lowercase().as_str()) {
                ("StringEquals", "aws:sourceaccount") => statement.source_accounts.extend(values),
                ("ArnLike" | "ArnEquals" | "StringLike" | "StringEquals", "aws:sourcearn") => {
                    statement.source_arns.extend(values)
                }
                _ => statement.other_conditions.push(format!("{operator}:{key}")),
            }
        }
    }
    statement
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datadog_template_statements_are_understood() {
        let json = r#"{"Version":"2012-10-17","Id":"default","Statement":[
          {"Sid":"logs","Effect":"Allow","Principal":{"Service":"logs.amazonaws.com"},
           "Action":"lambda:InvokeFunction","Resource":"arn:aws:lambda:us-east-1:111122223333:function:fwd",
           "Condition":{"ArnLike":{"AWS:SourceArn":"arn:aws:logs:us-east-1:111122223333:log-group:*:*"}}},
          {"Sid":"s3","Effect":"Allow","Principal":{"Service":"s3.amazonaws.com"},
           "Action":"lambda:InvokeFunction","Resource":"*",
           "Condition":{"StringEquals":{"AWS:SourceAccount":"111122223333"}}},
          {"Sid":"org","Effect":"Allow","Principal":{"Service":"s3.amazonaws.com"},
           "Action":"lambda:InvokeFunction","Resource":"*",
           "Condition":{"StringEquals":{"aws:SourceOrgID":"o-1"}}}]}"#;
        let statements = parse_policy(json).unwrap();
        let by_sid = |sid: &str| statements.iter().find(|s| s.sid == sid).unwrap();
        let group = "arn:aws:logs:us-east-1:111122223333:log-group:/aws/lambda/app:*";
        assert!(by_sid("logs").allows("logs.amazonaws.com", "111122223333", group));
        assert!(!by_sid("logs").allows(
            "logs.amazonaws.com",
            "444455556666",
            group.replace("111122223333", "444455556666").as_str()
        ));
        assert!(by_sid("s3").allows("s3.amazonaws.com", "111122223333", "arn:aws:s3:::b"));
        assert!(!by_sid("s3").allows("s3.amazonaws.com", "444455556666", "arn:aws:s3:::b"));
        assert!(!by_sid("org").allows("s3.amazonaws.com", "111122223333", "arn:aws:s3:::b"));
    }

    #[test]
    fn every_principal_form_of_the_forwarder_templates_is_recognised() {
        let statement = |principal: &str, source_arn: Option<&str>| PolicyStatement {
            sid: "s".into(),
            allow: true,
            principals: vec![principal.into()],
            actions: vec!["lambda:InvokeFunction".into()],
            source_accounts: Vec::new(),
            source_arns: source_arn.into_iter().map(str::to_owned).collect(),
            other_conditions: Vec::new(),
        };
        let group = "arn:aws:logs:us-east-1:111122223333:log-group:/aws/lambda/app:*";
        let cn_group = "arn:aws-cn:logs:cn-north-1:111122223333:log-group:/a:*";
        let logs = "logs.amazonaws.com";
        // Older templates: the regional principal, with or without a SourceArn.
        assert!(statement("logs.us-east-1.amazonaws.com", None).allows(
            logs,
            "111122223333",
            group
        ));
        assert!(
            statement(
                "logs.us-east-1.amazonaws.com",
                Some("arn:aws:logs:us-east-1:111122223333:log-group:*")
            )
            .allows(logs, "111122223333", group)
        );
        // Another region's principal does not stand for this region's logs.
        assert!(!statement("logs.eu-west-1.amazonaws.com", None).allows(
            logs,
            "111122223333",
            group
        ));
        // China.
        assert!(statement("logs.amazonaws.com.cn", None).allows(logs, "111122223333", cn_group));
        assert!(statement("logs.cn-north-1.amazonaws.com.cn", None).allows(
            logs,
            "111122223333",
            cn_group
        ));
        // Another service is never the same.
        assert!(!statement("s3.amazonaws.com", None).allows(logs, "111122223333", group));
        assert!(!statement("logsx.amazonaws.com", None).allows(logs, "111122223333", group));
    }
}
