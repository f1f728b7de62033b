//! The account-level subscription filter policy: reading the region's policies, and putting or
//! deleting ours.

use autosub_aws::apis::TargetApis;
use autosub_aws::error::ErrorClass;
use autosub_core::account_policy::{AccountPolicies, AccountPolicy};
use autosub_core::plan::{Action, SkipReason};

use crate::outcome::{Outcome, failed};

/// The account's subscription filter policies in the target region.
pub async fn account_policies(apis: &TargetApis) -> AccountPolicies {
    match apis.logs.account_policies().await {
        Ok(policies) => AccountPolicies::Found { policies },
        Err(e) => AccountPolicies::Unreadable {
            detail: e.to_string(),
        },
    }
}

/// Puts or deletes our account policy.
pub(crate) async fn apply_account_policy(
    apis: &TargetApis,
    action: Action,
    policy: &AccountPolicy,
) -> Outcome {
    let result = match action {
        Action::Create | Action::Update => apis.logs.put_account_policy(policy).await,
        Action::Delete => match apis.logs.delete_account_policy(&policy.name).await {
            Err(e) if e.class == ErrorClass::NotFound => Ok(()),
            other => other,
        },
    };
    match result {
        Ok(()) => Outcome::Applied,
        Err(e) if e.class == ErrorClass::LimitExceeded => Outcome::Skipped {
            reason: SkipReason::AccountPolicyTaken,
            detail: format!(
                "CloudWatch Logs allows no further subscription filter policy in this region: {}",
                e.message
            ),
        },
        Err(e) => failed(&e),
    }
}
