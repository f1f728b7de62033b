//! The account-wide invoke permissions a forwarder needs for the triggers autosub manages, and
//! what the statements of a forwarder's resource policy grant (every form the Datadog templates
//! wrote).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ids::{AccountId, Partition, Region};
use crate::pattern::wildcard_match;

/// The AWS service that invokes the forwarder for a trigger kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Invoker {
    /// CloudWatch Logs, for subscription filters.
    Logs,
    /// S3, for bucket notifications.
    S3,
}

impl Invoker {
    /// The service principal.
    pub fn principal(self) -> &'static str {
        match self {
            Self::Logs => "logs.amazonaws.com",
            Self::S3 => "s3.amazonaws.com",
        }
    }

    /// Short name used in statement ids and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Logs => "logs",
            Self::S3 => "s3",
        }
    }
}

impl fmt::Display for Invoker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.principal())
    }
}

/// One `lambda:InvokeFunction` statement as autosub adds it: one per invoker and account, never
/// one per trigger, so the 20 KB policy limit is never approached.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct InvokePermission {
    /// The statement id, starting with the configured prefix (our ownership mark).
    pub statement_id: String,
    /// Who may invoke.
    pub invoker: Invoker,
    /// `aws:SourceAccount`.
    pub source_account: AccountId,
    /// `aws:SourceArn` (`ArnLike`), when the invoker has a useful account-wide ARN pattern.
    pub source_arn: Option<String>,
    /// On an update, our statement this one replaces: the new one is added under the other of
    /// our two ids before the old one is removed, so the grant never lapses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaces: Option<String>,
}

impl InvokePermission {
    /// The account-wide statement for `invoker` in `account`, for a forwarder in `region`.
    pub fn account_wide(
        sid_prefix: &str,
        invoker: Invoker,
        account: &AccountId,
        region: &Region,
    ) -> Self {
        let source_arn = match invoker {
            Invoker::Logs => Some(format!(
                "arn:{}:logs:{region}:{account}:log-group:*",
                Partition::of(region).as_str()
            )),
            // Bucket ARNs carry no account; SourceAccount is what scopes S3.
            Invoker::S3 => None,
        };
        Self {
            statement_id: format!("{sid_prefix}{}-{account}", invoker.as_str()),
            invoker,
            source_account: account.clone(),
            source_arn,
            replaces: None,
        }
    }

    /// The other of our two statement ids for this grant: an update adds the replacement under
    /// it, then removes the old one (statement ids are unique within a policy).
    pub fn alternate_id(&self) -> String {
        format!("{}{ALTERNATE_SUFFIX}", self.statement_id)
    }

    /// This statement under `statement_id`, replacing `replaces`.
    pub fn replacing(&self, statement_id: &str, replaces: &str) -> Self {
        Self {
            statement_id: statement_id.to_owned(),
            replaces: Some(replaces.to_owned()),
            ..self.clone()
        }
    }

    /// This statement under `statement_id`.
    pub fn with_id(&self, statement_id: &str) -> Self {
        Self {
            statement_id: statement_id.to_owned(),
            ..self.clone()
        }
    }
}

/// What the alternate statement id adds to the canonical one.
const ALTERNATE_SUFFIX: &str = "-b";

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
