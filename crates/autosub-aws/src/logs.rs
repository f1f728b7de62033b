//! [`LogsApi`] on the AWS SDK, and the retry rule that keeps `LimitExceededException` final.

use async_trait::async_trait;
use autosub_core::account_policy::AccountPolicy;
use autosub_core::{LogGroupClass, LogGroupName, SubscriptionFilter};
use aws_sdk_cloudwatchlogs::types::{LogGroupClass as SdkLogGroupClass, PolicyType, Scope};

use crate::apis::LogsApi;
use crate::clients::Target;
use crate::error::AwsError;
use crate::sdk_error::aws_error;

/// CloudWatch Logs through the SDK, in the target region.
pub(crate) struct SdkLogs {
    client: aws_sdk_cloudwatchlogs::Client,
}

impl SdkLogs {
    pub(crate) fn new(target: &Target) -> Self {
        Self {
            client: target.clients.logs(&target.account, &target.region),
        }
    }
}

#[async_trait]
impl LogsApi for SdkLogs {
    async fn log_groups(&self) -> Result<Vec<(LogGroupName, LogGroupClass)>, AwsError> {
        let mut pages = self.client.describe_log_groups().into_paginator().send();
        let mut groups = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| aws_error("logs:DescribeLogGroups", e))?;
            for group in page.log_groups() {
                let Some(name) = group.log_group_name() else {
                    continue;
                };
                groups.push((LogGroupName::new(name), class_of(group)));
            }
        }
        Ok(groups)
    }

    async fn log_group(&self, name: &LogGroupName) -> Result<Option<LogGroupClass>, AwsError> {
        let page = self
            .client
            .describe_log_groups()
            .log_group_name_prefix(name.as_str())
            .limit(1)
            .send()
            .await
            .map_err(|e| aws_error("logs:DescribeLogGroups", e))?;
        Ok(page
            .log_groups()
            .iter()
            .find(|g| g.log_group_name() == Some(name.as_str()))
            .map(class_of))
    }

    async fn subscription_filters(
        &self,
        group: &LogGroupName,
    ) -> Result<Vec<SubscriptionFilter>, AwsError> {
        let mut pages = self
            .client
            .describe_subscription_filters()
            .log_group_name(group.as_str())
            .into_paginator()
            .send();
        let mut filters = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| aws_error("logs:DescribeSubscriptionFilters", e))?;
            filters.extend(
                page.subscription_filters()
                    .iter()
                    .map(|f| SubscriptionFilter {
                        name: f.filter_name().unwrap_or_default().to_owned(),
                        destination_arn: f.destination_arn().unwrap_or_default().to_owned(),
                        pattern: f.filter_pattern().unwrap_or_default().to_owned(),
                    }),
            );
        }
        Ok(filters)
    }

    async fn put_subscription_filter(
        &self,
        group: &LogGroupName,
        filter: &SubscriptionFilter,
    ) -> Result<(), AwsError> {
        self.client
            .put_subscription_filter()
            .log_group_name(group.as_str())
            .filter_name(&filter.name)
            .filter_pattern(&filter.pattern)
            .destination_arn(&filter.destination_arn)
            .send()
            .await
            .map_err(|e| aws_error("logs:PutSubscriptionFilter", e))?;
        Ok(())
    }

    async fn delete_subscription_filter(
        &self,
        group: &LogGroupName,
        filter_name: &str,
    ) -> Result<(), AwsError> {
        self.client
            .delete_subscription_filter()
            .log_group_name(group.as_str())
            .filter_name(filter_name)
            .send()
            .await
            .map_err(|e| aws_error("logs:DeleteSubscriptionFilter", e))?;
        Ok(())
    }

    async fn account_policies(&self) -> Result<Vec<AccountPolicy>, AwsError> {
        let mut policies = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .client
                .describe_account_policies()
                .policy_type(PolicyType::SubscriptionFilterPolicy)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| aws_error("logs:DescribeAccountPolicies", e))?;
            policies.extend(page.account_policies().iter().map(|p| {
                AccountPolicy::parse(
                    p.policy_name().unwrap_or_default(),
                    p.policy_document().unwrap_or_default(),
                    p.selection_criteria(),
                )
            }));
            token = page.next_token().map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
        policies.sort();
        Ok(policies)
    }

    async fn put_account_policy(&self, policy: &AccountPolicy) -> Result<(), AwsError> {
        self.client
            .put_account_policy()
            .policy_name(&policy.name)
            .policy_type(PolicyType::SubscriptionFilterPolicy)
            .policy_document(policy.document())
            .scope(Scope::All)
            .set_selection_criteria(policy.selection_criteria())
            .send()
            .await
            .map_err(|e| aws_error("logs:PutAccountPolicy", e))?;
        Ok(())
    }

    async fn delete_account_policy(&self, name: &str) -> Result<(), AwsError> {
        self.client
            .delete_account_policy()
            .policy_name(name)
            .policy_type(PolicyType::SubscriptionFilterPolicy)
            .send()
            .await
            .map_err(|e| aws_error("logs:DeleteAccountPolicy", e))?;
        Ok(())
    }
}

/// A listed group's class; groups created before classes existed report none: they are
/// STANDARD.
fn class_of(group: &aws_sdk_cloudwatchlogs::types::LogGroup) -> LogGroupClass {
    match group.log_group_class() {
        None | Some(SdkLogGroupClass::Standard) => LogGroupClass::Standard,
        Some(other) => LogGroupClass::Other(other.as_str().to_owned()),
    }
}
