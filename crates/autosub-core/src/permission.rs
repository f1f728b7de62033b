//! The account-wide invoke permissions a forwarder needs for the triggers autosub manages.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ids::{AccountId, Partition, Region};

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
        }
    }
}
