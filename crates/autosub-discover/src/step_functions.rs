//! Step Functions state machines: DescribeStateMachine's logging configuration names CloudWatch
//! Logs log groups by ARN (with a trailing `:*`); level `OFF` means no logging whatever it names.
//!
//! A log group in another account or region than the target is reported as unsubscribable: a
//! pass subscribes only log groups of its own account and region, and the pass over the log
//! group's home never sees this state machine.

use async_trait::async_trait;
use autosub_aws::source_apis::StepFunctionsApi;
use autosub_core::{Discovery, Service};

use crate::pipeline::Pipeline;
use crate::{DiscoverCx, Discoverer, destination};

/// Discovers the execution log groups of every state machine in the target region.
pub struct StepFunctionsDiscoverer;

#[async_trait]
impl Discoverer for StepFunctionsDiscoverer {
    fn service(&self) -> Service {
        Service::StepFunctions
    }

    async fn discover(&self, cx: &DiscoverCx<'_>) -> Discovery {
        discover_with(
            cx.apis.sources.step_functions.as_ref(),
            &Pipeline::of(cx, Service::StepFunctions),
        )
        .await
    }
}

/// The discovery over any [`StepFunctionsApi`].
async fn discover_with(api: &dyn StepFunctionsApi, p: &Pipeline<'_>) -> Discovery {
    let machines = match api.state_machines().await {
        Ok(machines) => machines,
        Err(e) => return p.gap("state machines", e),
    };
    p.read_each(
        p.by_name(machines, |m| &m.name, |m| m.arn.clone()),
        |m| format!("state machine {}", m.name),
        |m| async move {
            if !p.admits(&m.name, || api.tags(&m.arn)).await? {
                return Ok(Discovery::default());
            }
            let arns = api.log_group_arns(&m.arn).await?;
            Ok(p.destinations(&m.arn, arns, |arn| {
                destination::log_group(arn, p.account(), p.region())
            }))
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use autosub_aws::error::AwsError;
    use autosub_aws::source_apis::{Resource, Tags};

    use super::*;
    use crate::testing::{ACCOUNT, assert_denied_gap, denied, run};

    const REGION: &str = "us-east-1";

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
        let denied = denied("states:DescribeStateMachine");
        let logging = Ok(vec![format!(
            "arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/sfn/orders:*"
        )]);
        for (fake, naming) in [
            (
                FakeSfn {
                    listing: Some(denied.clone()),
                    describe: logging,
                },
                "state machines: ",
            ),
            (
                FakeSfn {
                    listing: None,
                    describe: Err(denied),
                },
                "state machine orders: ",
            ),
        ] {
            let found = run(Service::StepFunctions, REGION, &fake, |api, p| {
                Box::pin(discover_with(api, p))
            });
            assert_denied_gap(&found, Service::StepFunctions, naming);
        }
    }
}
