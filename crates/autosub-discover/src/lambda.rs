//! Lambda functions log to `LoggingConfig.LogGroup` when set, else to `/aws/lambda/<name>`.

use async_trait::async_trait;
use autosub_aws::apis::FunctionInfo;
use autosub_aws::source_apis::Tags;
use autosub_core::{Discovery, Location, LogGroupName, LogSource, Service};

use crate::{DiscoverCx, Discoverer, gap};

/// Discovers every function's log group, except the forwarders'.
pub struct LambdaDiscoverer;

#[async_trait]
impl Discoverer for LambdaDiscoverer {
    fn service(&self) -> Service {
        Service::Lambda
    }

    async fn discover(&self, cx: &DiscoverCx<'_>) -> Discovery {
        let filter = cx.filter(Service::Lambda);
        let functions = match cx.apis.lambda.functions().await {
            Ok(functions) => functions,
            Err(e) => {
                return Discovery {
                    gaps: vec![gap(Service::Lambda, e)],
                    ..Discovery::default()
                };
            }
        };
        let mut found = Discovery::default();
        for function in functions.iter().filter(|f| !cx.forwarders.contains(&f.arn)) {
            let tags = if filter.needs_tags() {
                match cx.apis.lambda.tags(&function.arn).await {
                    Ok(tags) => tags,
                    Err(e) => {
                        found.gaps.push(gap(
                            Service::Lambda,
                            format!("function {}: {e}", function.arn.name()),
                        ));
                        continue;
                    }
                }
            } else {
                Tags::new()
            };
            if filter.admits(function.arn.name(), &tags) {
                found.sources.push(source_of(function));
            }
        }
        found
    }
}

/// The log group a function writes to.
pub fn log_group_of(function: &FunctionInfo) -> LogGroupName {
    function
        .custom_log_group
        .clone()
        .unwrap_or_else(|| LogGroupName::new(format!("/aws/lambda/{}", function.arn.name())))
}

fn source_of(function: &FunctionInfo) -> LogSource {
    LogSource {
        service: Service::Lambda,
        resource_arn: function.arn.to_string(),
        location: Location::LogGroup {
            name: log_group_of(function),
        },
    }
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
