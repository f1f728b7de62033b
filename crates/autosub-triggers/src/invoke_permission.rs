//! The forwarders' invoke permissions: reading each forwarder's resource policy, and adding,
//! replacing or removing our statement (a replacement goes in before the old one goes out;
//! Lambda refusing a change mid-deployment is waited out a bounded number of times).

use std::collections::BTreeMap;

use autosub_aws::apis::TargetApis;
use autosub_aws::error::{AwsError, ErrorClass};
use autosub_core::observed::parse_policy;
use autosub_core::plan::Action;
use autosub_core::{FunctionArn, InvokePermission, PolicyState, Region};

use crate::outcome::{Outcome, failed};

/// The forwarders' resource policies, and the forwarders that turned out not to exist.
pub async fn forwarder_policies(
    apis: &TargetApis,
    forwarders: &BTreeMap<Region, FunctionArn>,
) -> (BTreeMap<FunctionArn, PolicyState>, BTreeMap<Region, String>) {
    let mut policies = BTreeMap::new();
    let mut unavailable = BTreeMap::new();
    for (region, forwarder) in forwarders {
        match policy_state(apis, forwarder).await {
            Some(state) => {
                policies.insert(forwarder.clone(), state);
            }
            None => {
                unavailable.insert(
                    region.clone(),
                    format!(
                        "function {forwarder} does not exist; deploy it or fix forwarders.{region}"
                    ),
                );
            }
        }
    }
    (policies, unavailable)
}

/// The resource policy of `function`; `None` when the function does not exist.
pub async fn policy_state(apis: &TargetApis, function: &FunctionArn) -> Option<PolicyState> {
    Some(match apis.lambda.policy(function).await {
        Ok(None) => PolicyState::Found {
            statements: Vec::new(),
        },
        Ok(Some(json)) => match parse_policy(&json) {
            Ok(statements) => PolicyState::Found { statements },
            Err(e) => PolicyState::Unreadable {
                detail: format!("the resource policy of {function} is not valid JSON: {e}"),
            },
        },
        Err(e) if e.class == ErrorClass::NotFound => return None,
        Err(e) => PolicyState::Unreadable {
            detail: e.to_string(),
        },
    })
}

/// Adds, replaces or removes our statement `permission` on `forwarder`.
pub(crate) async fn apply_permission(
    apis: &TargetApis,
    action: Action,
    forwarder: &FunctionArn,
    permission: &InvokePermission,
) -> Outcome {
    let remove = |statement_id: &str| {
        let statement_id = statement_id.to_owned();
        async move {
            match apis
                .lambda
                .remove_permission(forwarder, &statement_id)
                .await
            {
                Err(e) if e.class != ErrorClass::NotFound => Err(e),
                _ => Ok(()),
            }
        }
    };
    let add = || async {
        match apis.lambda.add_permission(forwarder, permission).await {
            // Taken by a concurrent run adding the same statement, or by this update's own
            // earlier attempt (retried after Lambda refused the remove mid-deployment).
            Err(e)
                if e.class == ErrorClass::Conflict
                    && !update_in_progress(&e)
                    && (action == Action::Create || permission.replaces.is_some()) =>
            {
                Ok(())
            }
            other => other,
        }
    };
    let own = permission.statement_id.as_str();
    let once = || async {
        match (action, permission.replaces.as_deref()) {
            (Action::Create, _) => add().await,
            // The replacement goes in under our other id first: the grant never lapses.
            (Action::Update, Some(old)) => match add().await {
                Ok(()) => remove(old).await,
                Err(e) => Err(e),
            },
            (Action::Update, None) => match remove(own).await {
                Ok(()) => add().await,
                Err(e) => Err(e),
            },
            (Action::Delete, _) => remove(own).await,
        }
    };
    // Lambda refuses policy changes while the function is being updated (a deployment):
    // wait and try again, a bounded number of times, and never count it as done.
    let mut wait = PERMISSION_RETRY_START;
    let mut result = once().await;
    for _ in 0..PERMISSION_RETRIES {
        match &result {
            Err(e) if update_in_progress(e) => {
                tokio::time::sleep(wait).await;
                wait *= 2;
                result = once().await;
            }
            _ => break,
        }
    }
    match result {
        Ok(()) => Outcome::Applied,
        Err(e) => failed(&e),
    }
}

/// Retries of a policy change refused because the function is being updated, and the first
/// wait (doubled each time: 1 + 2 + 4 + 8 + 16 s at most).
const PERMISSION_RETRIES: u32 = 5;
const PERMISSION_RETRY_START: std::time::Duration = std::time::Duration::from_secs(1);

/// True for Lambda's ResourceConflictException meaning "the function is being updated", as
/// opposed to "that statement id exists".
fn update_in_progress(e: &AwsError) -> bool {
    e.class == ErrorClass::Conflict && e.message.contains("in progress")
}
