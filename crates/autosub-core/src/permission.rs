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
