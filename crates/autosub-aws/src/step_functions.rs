//! [`StepFunctionsApi`] on the AWS SDK: ListStateMachines, DescribeStateMachine and
//! ListTagsForResource.

use async_trait::async_trait;
use aws_sdk_sfn::types::{LogLevel, LoggingConfiguration};

use crate::clients::Target;
use crate::error::AwsError;
use crate::sdk_error::aws_error;
use crate::source_apis::{Resource, StepFunctionsApi, Tags};

/// StepFunctionsApi through the SDK, in the target's region.
pub(crate) struct SdkStepFunctions {
    target: Target,
}

impl SdkStepFunctions {
    pub(crate) fn new(target: Target) -> Self {
        Self { target }
    }

    fn client(&self) -> aws_sdk_sfn::Client {
        self.target
            .clients
            .sfn(&self.target.account, &self.target.region)
    }
}

#[async_trait]
impl StepFunctionsApi for SdkStepFunctions {
    async fn state_machines(&self) -> Result<Vec<Resource>, AwsError> {
        let mut pages = self.client().list_state_machines().into_paginator().send();
        let mut machines = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| aws_error("states:ListStateMachines", e))?;
            machines.extend(page.state_machines().iter().map(|m| Resource {
                arn: m.state_machine_arn().to_owned(),
                name: m.name().to_owned(),
            }));
        }
        Ok(machines)
    }

    async fn log_group_arns(&self, arn: &str) -> Result<Vec<String>, AwsError> {
        let reply = self
            .client()
            .describe_state_machine()
            .state_machine_arn(arn)
            .send()
            .await;
        match reply {
            Ok(out) => Ok(out
                .logging_configuration()
                .map(log_group_arns_of)
                .unwrap_or_default()),
            // Deleted since it was listed: it logs nowhere now.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_state_machine_does_not_exist()) =>
            {
                Ok(Vec::new())
            }
            Err(e) => Err(aws_error("states:DescribeStateMachine", e)),
        }
    }

    async fn tags(&self, arn: &str) -> Result<Tags, AwsError> {
        let out = self
            .client()
            .list_tags_for_resource()
            .resource_arn(arn)
            .send()
            .await
            .map_err(|e| aws_error("states:ListTagsForResource", e))?;
        Ok(out
            .tags()
            .iter()
            .filter_map(|t| {
                Some((
                    t.key()?.to_owned(),
                    t.value().unwrap_or_default().to_owned(),
                ))
            })
            .collect())
    }
}

/// The log group ARNs of a logging configuration; none at level OFF (or no level), whatever
/// destinations it still names.
fn log_group_arns_of(config: &LoggingConfiguration) -> Vec<String> {
    match config.level() {
        None | Some(LogLevel::Off) => Vec::new(),
        Some(_) => config
            .destinations()
            .iter()
            .filter_map(|d| d.cloud_watch_logs_log_group()?.log_group_arn())
            .map(str::to_owned)
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_sfn::types::{CloudWatchLogsLogGroup, LogDestination};

    use super::*;

    fn config(level: Option<LogLevel>, arns: &[&str]) -> LoggingConfiguration {
        let mut b = LoggingConfiguration::builder().set_level(level);
        for arn in arns {
            b = b.destinations(
                LogDestination::builder()
                    .cloud_watch_logs_log_group(
                        CloudWatchLogsLogGroup::builder()
                            .log_group_arn(*arn)
                            .build(),
                    )
                    .build(),
            );
        }
        b.build()
    }

    #[test]
    fn only_a_level_above_off_with_destinations_logs() {
        let arn = "arn:aws:logs:us-east-1:1:log-group:/sfn/x:*";
        let cases: Vec<(LoggingConfiguration, Vec<&str>)> = vec![
            (config(Some(LogLevel::Off), &[arn]), vec![]),
            (config(None, &[arn]), vec![]),
            (config(Some(LogLevel::All), &[]), vec![]),
            (config(Some(LogLevel::Error), &[arn]), vec![arn]),
            (config(Some(LogLevel::Fatal), &[arn]), vec![arn]),
            (
                LoggingConfiguration::builder()
                    .level(LogLevel::All)
                    .destinations(LogDestination::builder().build())
                    .build(),
                vec![],
            ),
        ];
        for (input, want) in cases {
            assert_eq!(log_group_arns_of(&input), want, "{input:?}");
        }
    }
}
