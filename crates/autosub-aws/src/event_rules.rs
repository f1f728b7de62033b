//! EventBridge, read-only: the rule of event-driven mode on an account's default event bus, its
//! targets, and the bus's resource policy. `autosub doctor` reads them; nothing in a run does.

use async_trait::async_trait;
use aws_sdk_eventbridge::types::RuleState as SdkRuleState;

use crate::error::{AwsError, ErrorClass};
use crate::sdk_error::aws_error;

/// Whether a rule matches events.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RuleState {
    /// Matches events (read-only management events excepted).
    Enabled,
    /// Matches every event, read-only management events included.
    EnabledWithAllManagementEvents,
    /// Matches nothing.
    Disabled,
    /// A state this autosub does not know, as AWS spells it.
    Other(String),
}

impl RuleState {
    /// True when the rule matches events at all.
    pub fn is_enabled(&self) -> bool {
        matches!(self, Self::Enabled | Self::EnabledWithAllManagementEvents)
    }

    /// The state as AWS spells it.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Enabled => "ENABLED",
            Self::EnabledWithAllManagementEvents => "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS",
            Self::Disabled => "DISABLED",
            Self::Other(state) => state,
        }
    }
}

/// One rule on the default event bus.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventRule {
    /// Its name.
    pub name: String,
    /// Its ARN.
    pub arn: String,
    /// Whether it matches events.
    pub state: RuleState,
    /// Its event pattern as stored (JSON text); `None` for a scheduled rule.
    pub pattern: Option<String>,
}

/// Where a rule sends what it matches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleTarget {
    /// The target's id within the rule.
    pub id: String,
    /// The target's ARN (a queue, an event bus, …).
    pub arn: String,
    /// The role EventBridge sends with, when the target names one.
    pub role_arn: Option<String>,
}

/// Read-only EventBridge on one account's default event bus in one region.
#[async_trait]
pub trait EventRulesApi: Send + Sync {
    /// The rule `name` (DescribeRule); `None` when the bus has no such rule.
    async fn rule(&self, name: &str) -> Result<Option<EventRule>, AwsError>;
    /// The targets of rule `name` (ListTargetsByRule, all pages).
    async fn targets(&self, name: &str) -> Result<Vec<RuleTarget>, AwsError>;
    /// The bus's resource policy (DescribeEventBus); `None` when it has none.
    async fn bus_policy(&self) -> Result<Option<String>, AwsError>;
}

/// [`EventRulesApi`] through the SDK.
pub(crate) struct SdkEventRules {
    pub(crate) client: aws_sdk_eventbridge::Client,
}

#[async_trait]
impl EventRulesApi for SdkEventRules {
    async fn rule(&self, name: &str) -> Result<Option<EventRule>, AwsError> {
        let out = match self.client.describe_rule().name(name).send().await {
            Ok(out) => out,
            Err(e) => {
                let e = aws_error("events:DescribeRule", e);
                return if e.class == ErrorClass::NotFound {
                    Ok(None)
                } else {
                    Err(e)
                };
            }
        };
        let state = match out.state() {
            Some(SdkRuleState::Enabled) => RuleState::Enabled,
            Some(SdkRuleState::EnabledWithAllCloudtrailManagementEvents) => {
                RuleState::EnabledWithAllManagementEvents
            }
            Some(SdkRuleState::Disabled) => RuleState::Disabled,
            Some(other) => RuleState::Other(other.as_str().to_owned()),
            None => RuleState::Other(String::new()),
        };
        Ok(Some(EventRule {
            name: out.name().unwrap_or(name).to_owned(),
            arn: out.arn().unwrap_or_default().to_owned(),
            state,
            pattern: out.event_pattern().map(str::to_owned),
        }))
    }

    async fn targets(&self, name: &str) -> Result<Vec<RuleTarget>, AwsError> {
        let mut targets = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let out = self
                .client
                .list_targets_by_rule()
                .rule(name)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| aws_error("events:ListTargetsByRule", e))?;
            targets.extend(out.targets().iter().map(|t| RuleTarget {
                id: t.id().to_owned(),
                arn: t.arn().to_owned(),
                role_arn: t.role_arn().filter(|r| !r.is_empty()).map(str::to_owned),
            }));
            match out.next_token() {
                Some(next) if !next.is_empty() => token = Some(next.to_owned()),
                _ => return Ok(targets),
            }
        }
    }

    async fn bus_policy(&self) -> Result<Option<String>, AwsError> {
        let out = self
            .client
            .describe_event_bus()
            .name("default")
            .send()
            .await
            .map_err(|e| aws_error("events:DescribeEventBus", e))?;
        Ok(out.policy().filter(|p| !p.is_empty()).map(str::to_owned))
    }
}
