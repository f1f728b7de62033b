//! [`FlowLogsApi`] on the AWS SDK: DescribeFlowLogs (all pages; tags come with each flow log).

use async_trait::async_trait;
use autosub_core::Partition;

use crate::clients::Target;
use crate::error::AwsError;
use crate::sdk_error::aws_error;
use crate::source_apis::{FlowLog, FlowLogsApi, Resource, Tags};

/// FlowLogsApi through the SDK, in the target's region.
pub(crate) struct SdkFlowLogs {
    target: Target,
}

impl SdkFlowLogs {
    pub(crate) fn new(target: Target) -> Self {
        Self { target }
    }

    fn client(&self) -> aws_sdk_ec2::Client {
        self.target
            .clients
            .ec2(&self.target.account, &self.target.region)
    }

    /// DescribeFlowLogs returns no ARN; this is the documented form.
    fn flow_log_arn(&self, id: &str) -> String {
        format!(
            "arn:{}:ec2:{}:{}:vpc-flow-log/{id}",
            Partition::of(&self.target.region).as_str(),
            self.target.region,
            self.target.account
        )
    }
}

#[async_trait]
impl FlowLogsApi for SdkFlowLogs {
    async fn flow_logs(&self) -> Result<Vec<FlowLog>, AwsError> {
        let mut pages = self.client().describe_flow_logs().into_paginator().send();
        let mut flow_logs = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| aws_error("ec2:DescribeFlowLogs", e))?;
            for fl in page.flow_logs() {
                let Some(id) = fl.flow_log_id() else {
                    continue;
                };
                let tags: Tags = fl
                    .tags()
                    .iter()
                    .filter_map(|t| {
                        Some((
                            t.key()?.to_owned(),
                            t.value().unwrap_or_default().to_owned(),
                        ))
                    })
                    .collect();
                let options = fl.destination_options();
                let text = |s: Option<&str>| s.filter(|s| !s.is_empty()).map(str::to_owned);
                flow_logs.push(FlowLog {
                    resource: Resource {
                        arn: self.flow_log_arn(id),
                        name: id.to_owned(),
                    },
                    tags,
                    watched: fl.resource_id().unwrap_or_default().to_owned(),
                    status: fl.flow_log_status().unwrap_or("ACTIVE").to_owned(),
                    delivery: text(fl.deliver_logs_status())
                        .map(|status| (status, text(fl.deliver_logs_error_message()))),
                    // AWS's default destination type is CloudWatch Logs.
                    destination_type: fl
                        .log_destination_type()
                        .map_or("cloud-watch-logs", |t| t.as_str())
                        .to_owned(),
                    destination: text(fl.log_destination()),
                    log_group_name: text(fl.log_group_name()),
                    cross_account_role: text(fl.deliver_cross_account_role()),
                    file_format: options
                        .and_then(|o| o.file_format())
                        .map(|f| f.as_str().to_owned()),
                    hive_compatible: options
                        .and_then(|o| o.hive_compatible_partitions())
                        .unwrap_or(false),
                });
            }
        }
        Ok(flow_logs)
    }
}
