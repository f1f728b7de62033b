//! Lambda functions log to `LoggingConfig.LogGroup` when set, else to `/aws/lambda/<name>`.

use async_trait::async_trait;
use autosub_aws::apis::FunctionInfo;
use autosub_core::{Discovery, Location, LogGroupName, Service};

use crate::pipeline::Pipeline;
use crate::{DiscoverCx, Discoverer};

/// Discovers every function's log group, except the forwarders'.
pub struct LambdaDiscoverer;

#[async_trait]
impl Discoverer for LambdaDiscoverer {
    fn service(&self) -> Service {
        Service::Lambda
    }

    async fn discover(&self, cx: &DiscoverCx<'_>) -> Discovery {
        let p = &Pipeline::of(cx, Service::Lambda);
        let api = cx.apis.lambda.as_ref();
        let functions = match api.functions().await {
            Ok(functions) => functions,
            Err(e) => return p.gap("functions", e),
        };
        let functions = functions
            .into_iter()
            .filter(|f| !cx.forwarders.contains(&f.arn))
            .collect();
        p.read_each(
            p.by_name(functions, |f| f.arn.name(), |f| f.arn.to_string()),
            |f| format!("function {}", f.arn.name()),
            |f| async move {
                if !p.admits(f.arn.name(), || api.tags(&f.arn)).await? {
                    return Ok(Discovery::default());
                }
                let location = Location::LogGroup {
                    name: log_group_of(&f),
                };
                Ok(p.sources(&f.arn.to_string(), [location]))
            },
        )
        .await
    }
}

/// The log group a function writes to.
pub fn log_group_of(function: &FunctionInfo) -> LogGroupName {
    function
        .custom_log_group
        .clone()
        .unwrap_or_else(|| LogGroupName::new(format!("/aws/lambda/{}", function.arn.name())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use autosub_core::FunctionArn;

    #[test]
    fn functions_log_to_their_custom_group_or_the_default_one() {
        let arn = FunctionArn::parse("arn:aws:lambda:us-east-1:123456789012:function:app").unwrap();
        let plain = FunctionInfo {
            arn: arn.clone(),
            custom_log_group: None,
        };
        assert_eq!(log_group_of(&plain).as_str(), "/aws/lambda/app");
        let custom = FunctionInfo {
            arn,
            custom_log_group: Some(LogGroupName::new("/shared/app")),
        };
        assert_eq!(log_group_of(&custom).as_str(), "/shared/app");
    }
}
