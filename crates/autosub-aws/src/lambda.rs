//! [`LambdaApi`] on the AWS SDK.

use async_trait::async_trait;
use autosub_core::{FunctionArn, InvokePermission, LogGroupName, Region};
use aws_sdk_lambda::types::FunctionConfiguration;

use crate::apis::{FunctionInfo, LambdaApi};
use crate::clients::Target;
use crate::error::{AwsError, ErrorClass};
use crate::sdk_error::aws_error;
use crate::source_apis::Tags;

/// Lambda through the SDK; calls on one function use the client of the function's region.
pub(crate) struct SdkLambda {
    target: Target,
}

impl SdkLambda {
    pub(crate) fn new(target: Target) -> Self {
        Self { target }
    }

    fn client(&self, region: &Region) -> aws_sdk_lambda::Client {
        self.target.clients.lambda(&self.target.account, region)
    }
}

#[async_trait]
impl LambdaApi for SdkLambda {
    async fn functions(&self) -> Result<Vec<FunctionInfo>, AwsError> {
        let mut pages = self
            .client(&self.target.region)
            .list_functions()
            .into_paginator()
            .send();
        let mut functions = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| aws_error("lambda:ListFunctions", e))?;
            functions.extend(page.functions().iter().filter_map(function_info));
        }
        Ok(functions)
    }

    async fn tags(&self, function: &FunctionArn) -> Result<Tags, AwsError> {
        let out = self
            .client(function.region())
            .list_tags()
            .resource(function.to_string())
            .send()
            .await
            .map_err(|e| aws_error("lambda:ListTags", e))?;
        Ok(out
            .tags()
            .map(|t| t.clone().into_iter().collect())
            .unwrap_or_default())
    }

    async fn policy(&self, function: &FunctionArn) -> Result<Option<String>, AwsError> {
        let client = self.client(function.region());
        let arn = function.to_string();
        match client.get_policy().function_name(&arn).send().await {
            Ok(out) => Ok(out.policy().map(str::to_owned)),
            Err(err) => {
                let err = aws_error("lambda:GetPolicy", err);
                if err.class != ErrorClass::NotFound {
                    return Err(err);
                }
                // ResourceNotFoundException means "no function" or "no policy": ask which.
                client
                    .get_function_configuration()
                    .function_name(&arn)
                    .send()
                    .await
                    .map_err(|e| aws_error("lambda:GetFunctionConfiguration", e))?;
                Ok(None)
            }
        }
    }

    async fn add_permission(
        &self,
        function: &FunctionArn,
        permission: &InvokePermission,
    ) -> Result<(), AwsError> {
        self.client(function.region())
            .add_permission()
            .function_name(function.to_string())
            .statement_id(&permission.statement_id)
            .action("lambda:InvokeFunction")
            .principal(permission.invoker.principal())
            .source_account(permission.source_account.as_str())
            .set_source_arn(permission.source_arn.clone())
            .send()
            .await
            .map_err(|e| aws_error("lambda:AddPermission", e))?;
        Ok(())
    }

    async fn remove_permission(
        &self,
        function: &FunctionArn,
        statement_id: &str,
    ) -> Result<(), AwsError> {
        self.client(function.region())
            .remove_permission()
            .function_name(function.to_string())
            .statement_id(statement_id)
            .send()
            .await
            .map_err(|e| aws_error("lambda:RemovePermission", e))?;
        Ok(())
    }
}

/// A listed function in domain terms; `None` (with a warning) for an ARN that does not parse.
fn function_info(f: &FunctionConfiguration) -> Option<FunctionInfo> {
    let raw = f.function_arn()?;
    let arn = match FunctionArn::parse(raw) {
        Ok(arn) => arn,
        Err(e) => {
            tracing::warn!(error = %e, "skipping a listed function");
            return None;
        }
    };
    // AWS reports the default `/aws/lambda/<name>` in LoggingConfig too; only a different group
    // is a custom one.
    let default_group = format!("/aws/lambda/{}", arn.name());
    let custom_log_group = f
        .logging_config()
        .and_then(|l| l.log_group())
        .filter(|g| !g.is_empty() && *g != default_group)
        .map(LogGroupName::new);
    Some(FunctionInfo {
        arn,
        custom_log_group,
    })
}

#[cfg(test)]
mod tests {
    use aws_sdk_lambda::types::LoggingConfig;

    use super::*;

    #[test]
    fn only_a_non_default_log_group_is_custom() {
        let arn = "arn:aws:lambda:eu-west-1:111122223333:function:app";
        let info = |group: Option<&str>| {
            let mut f = FunctionConfiguration::builder().function_arn(arn);
            if let Some(group) = group {
                f = f.logging_config(LoggingConfig::builder().log_group(group).build());
            }
            function_info(&f.build()).map(|i| i.custom_log_group)
        };
        assert_eq!(info(None), Some(None));
        assert_eq!(info(Some("/aws/lambda/app")), Some(None));
        assert_eq!(
            info(Some("/custom/app")),
            Some(Some(LogGroupName::new("/custom/app")))
        );
        let bad = FunctionConfiguration::builder()
            .function_arn("nonsense")
            .build();
        assert_eq!(function_info(&bad), None);
    }
}
