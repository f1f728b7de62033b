//! Step Functions state machines: DescribeStateMachine's logging configuration names CloudWatch
//! Logs log groups by ARN (with a trailing `:*`); level `OFF` means no logging whatever it names.
//!
//! A log group in another account or region than the target is reported as unsubscribable: a
//! pass subscribes only log groups of its own account and region, and the pass over the log
//! group's home never sees this state machine.

use async_trait::async_trait;
use autosub_aws::error::ErrorClass;
use autosub_aws::source_apis::{Resource, StepFunctionsApi, Tags};
use autosub_core::selection::ResourceFilter;
use autosub_core::{
    AccountId, Discovery, Location, LogGroupName, LogSource, Region, Service, Unsubscribable,
};
use futures::{StreamExt, stream};

use crate::{DiscoverCx, Discoverer, gap};

/// Discovers the execution log groups of every state machine in the target region.
pub struct StepFunctionsDiscoverer;

#[async_trait]
impl Discoverer for StepFunctionsDiscoverer {
    fn service(&self) -> Service {
        Service::StepFunctions
    }

    async fn discover(&self, cx: &DiscoverCx<'_>) -> Discovery {
        let filter = cx.filter(Service::StepFunctions);
        discover_state_machines(
            cx.apis.sources.step_functions.as_ref(),
            cx.account,
            cx.region,
            &filter,
            cx.concurrency,
        )
        .await
    }
}

async fn discover_state_machines(
    api: &dyn StepFunctionsApi,
    account: &AccountId,
    region: &Region,
    filter: &ResourceFilter,
    concurrency: usize,
) -> Discovery {
    let machines = match api.state_machines().await {
        Ok(machines) => machines,
        Err(e) => {
            return Discovery {
                gaps: vec![gap(Service::StepFunctions, format!("state machines: {e}"))],
                ..Discovery::default()
            };
        }
    };
    let by_name = name_filter(filter);
    let found: Vec<Discovery> = stream::iter(
        machines
            .into_iter()
            .filter(|m| by_name.admits(&m.name, &Tags::new())),
    )
    .map(|machine| async move {
        match machine_logs(api, account, region, filter, &machine).await {
            Ok(found) => found,
            Err(e) => Discovery {
                gaps: vec![gap(
                    Service::StepFunctions,
                    format!("state machine {}: {e}", machine.name),
                )],
                ..Discovery::default()
            },
        }
    })
    .buffer_unordered(concurrency.max(1))
    .collect()
    .await;
    let mut all = Discovery::default();
    for one in found {
        all.merge(one);
    }
    all.normalize()
}

/// The filter without its tag requirements: checks names before any tag call is made.
pub(crate) fn name_filter(filter: &ResourceFilter) -> ResourceFilter {
    ResourceFilter {
        tags: Default::default(),
        ..filter.clone()
    }
}

async fn machine_logs(
    api: &dyn StepFunctionsApi,
    account: &AccountId,
    region: &Region,
    filter: &ResourceFilter,
    machine: &Resource,
) -> Result<Discovery, autosub_aws::error::AwsError> {
    let mut found = Discovery::default();
    if filter.needs_tags() {
        let tags = match api.tags(&machine.arn).await {
            Ok(tags) => tags,
            Err(e) if e.class == ErrorClass::NotFound => return Ok(found),
            Err(e) => return Err(e),
        };
        if !filter.admits(&machine.name, &tags) {
            return Ok(found);
        }
    }
    for arn in api.log_group_arns(&machine.arn).await? {
        match log_group_location(&arn, account, region) {
            Ok(location) => found.sources.push(LogSource {
                service: Service::StepFunctions,
                resource_arn: machine.arn.clone(),
                location,
            }),
            Err(why) => found.unsubscribable.push(Unsubscribable {
                service: Service::StepFunctions,
                resource_arn: machine.arn.clone(),
                destination: arn,
                why,
            }),
        }
    }
    Ok(found)
}

/// A CloudWatch Logs log group ARN taken apart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogGroupArn {
    /// The region field.
    pub region: Region,
    /// The account field.
    pub account: AccountId,
    /// The log group name, without any trailing `:*`.
    pub name: LogGroupName,
}

/// Parses `arn:<partition>:logs:<region>:<account>:log-group:<name>[:*]`.
pub fn parse_log_group_arn(arn: &str) -> Option<LogGroupArn> {
    let mut fields = arn.splitn(6, ':');
    let (scheme, _partition, service, region, account, resource) = (
        fields.next()?,
        fields.next()?,
        fields.next()?,
        fields.next()?,
        fields.next()?,
        fields.next()?,
    );
    if scheme != "arn" || service != "logs" {
        return None;
    }
    let name = resource.strip_prefix("log-group:")?;
    let name = name.strip_suffix(":*").unwrap_or(name);
    if name.is_empty() || region.is_empty() || account.is_empty() {
        return None;
    }
    Some(LogGroupArn {
        region: Region::new(region),
        account: AccountId::new(account),
        name: LogGroupName::new(name),
    })
}

/// The location a log group ARN names, or why the target cannot subscribe it.
pub fn log_group_location(
    arn: &str,
    account: &AccountId,
    region: &Region,
) -> Result<Location, String> {
    let Some(group) = parse_log_group_arn(arn) else {
        return Err(
            "not a CloudWatch Logs log group ARN; autosub cannot tell where these logs \
                    land"
                .to_owned(),
        );
    };
    if &group.account != account || &group.region != region {
        return Err(format!(
            "the log group is in account {} region {}, not in this target ({account} \
             {region}); a subscription filter is made from the log group's own account and \
             region, whose pass never sees this resource; log to a group in the resource's own \
             account and region, or subscribe that group where it lives",
            group.account, group.region
        ));
    }
    Ok(Location::LogGroup { name: group.name })
}

#[cfg(test)]
mod tests {
    use autosub_aws::error::AwsError;

    use super::*;

    const ACCOUNT: &str = "123456789012";
    const REGION: &str = "us-east-1";

    #[test]
    fn log_group_arns_parse_with_and_without_the_trailing_star() {
        let want = |region: &str, account: &str, name: &str| {
            Some(LogGroupArn {
                region: Region::new(region),
                account: AccountId::new(account),
                name: LogGroupName::new(name),
            })
        };
        let cases = [
            (
                "arn:aws:logs:us-east-1:123456789012:log-group:/aws/vendedlogs/states/x:*",
                want(REGION, ACCOUNT, "/aws/vendedlogs/states/x"),
            ),
            (
                "arn:aws:logs:us-east-1:123456789012:log-group:/sfn/x",
                want(REGION, ACCOUNT, "/sfn/x"),
            ),
            (
                "arn:aws-cn:logs:cn-north-1:1:log-group:aws-waf-logs-a:*",
                want("cn-north-1", "1", "aws-waf-logs-a"),
            ),
            ("arn:aws:logs:us-east-1:1:log-group::*", None),
            ("arn:aws:firehose:us-east-1:1:deliverystream/x", None),
            ("arn:aws:s3:::bucket", None),
            ("log-group:/x", None),
        ];
        for (arn, want) in cases {
            assert_eq!(parse_log_group_arn(arn), want, "{arn}");
        }
    }

    #[test]
    fn only_log_groups_of_the_target_are_locations() {
        let account = AccountId::new(ACCOUNT);
        let region = Region::new(REGION);
        assert_eq!(
            log_group_location(
                "arn:aws:logs:us-east-1:123456789012:log-group:/sfn/a:*",
                &account,
                &region
            ),
            Ok(Location::LogGroup {
                name: LogGroupName::new("/sfn/a")
            })
        );
        for other in [
            "arn:aws:logs:eu-west-1:123456789012:log-group:/sfn/a:*",
            "arn:aws:logs:us-east-1:210987654321:log-group:/sfn/a:*",
            "garbage",
        ] {
            let why = log_group_location(other, &account, &region).unwrap_err();
            assert!(!why.is_empty());
        }
        let why = log_group_location(
            "arn:aws:logs:eu-west-1:123456789012:log-group:/sfn/a:*",
            &account,
            &region,
        )
        .unwrap_err();
        assert!(why.contains("region eu-west-1"), "{why}");
    }

    /// A StepFunctionsApi with one machine whose calls fail as told.
    struct FakeSfn {
        listing: Option<AwsError>,
        describe: Result<Vec<String>, AwsError>,
    }

    #[async_trait]
    impl StepFunctionsApi for FakeSfn {
        async fn state_machines(&self) -> Result<Vec<Resource>, AwsError> {
            match &self.listing {
                Some(e) => Err(e.clone()),
                None => Ok(vec![Resource {
                    arn: format!("arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:orders"),
                    name: "orders".into(),
                }]),
            }
        }
        async fn log_group_arns(&self, _arn: &str) -> Result<Vec<String>, AwsError> {
            self.describe.clone()
        }
        async fn tags(&self, _arn: &str) -> Result<Tags, AwsError> {
            Ok(Tags::new())
        }
    }

    #[test]
    fn access_denied_is_a_gap_and_no_source() {
        let denied = AwsError {
            class: ErrorClass::AccessDenied,
            operation: "states:DescribeStateMachine",
            code: Some("AccessDeniedException".into()),
            message: "not authorized".into(),
        };
        let logging = Ok(vec![format!(
            "arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/sfn/orders:*"
        )]);
        for fake in [
            FakeSfn {
                listing: Some(denied.clone()),
                describe: logging,
            },
            FakeSfn {
                listing: None,
                describe: Err(denied),
            },
        ] {
            let found = futures::executor::block_on(discover_state_machines(
                &fake,
                &AccountId::new(ACCOUNT),
                &Region::new(REGION),
                &ResourceFilter::default(),
                2,
            ));
            assert!(found.sources.is_empty(), "{found:?}");
            assert_eq!(found.gaps.len(), 1, "{found:?}");
            assert!(found.gaps[0].detail.contains("access_denied"), "{found:?}");
        }
    }
}
