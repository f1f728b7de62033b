//! Step Functions state machines in the demo estate, and the seeders tests use to build their own.
//!
//! The demo slice (see [`seed`]):
//! - us-east-1 `demo-order-pipeline` (tag `team=orders`): level ALL to
//!   `/aws/vendedlogs/states/demo-order-pipeline` (created).
//! - us-east-1 `demo-nightly-batch`: level OFF (its old destination is still named).
//! - us-east-1 `demo-cross-region`: level ERROR to `/aws/vendedlogs/states/demo-shared` in
//!   eu-west-1 (created there): unsubscribable from the us-east-1 target.
//! - eu-west-1 `demo-eu-pipeline`: level ALL to `/aws/vendedlogs/states/demo-eu-pipeline`.
//!
//! Step Functions only logs to CloudWatch Logs: there is no Firehose case. Re-runnable: moto
//! returns the existing machine when one of the same name is created again.

use aws_config::SdkConfig;
use aws_sdk_sfn as sfn;
/// The logging level of a state machine, re-exported for tests that have no SDK dependency.
pub use aws_sdk_sfn::types::LogLevel;
use aws_sdk_sfn::types::{CloudWatchLogsLogGroup, LogDestination, LoggingConfiguration, Tag};

use crate::estate::{Clients, SeedError, create_log_group, seed_err};
use crate::moto_account::moto_client;

const DEFINITION: &str = r#"{"StartAt":"Done","States":{"Done":{"Type":"Succeed"}}}"#;

/// A Step Functions client for `account` in `region`.
pub fn client(sdk: &SdkConfig, account: &str, region: &str) -> sfn::Client {
    moto_client!(sfn, sdk, account, region)
}

/// A state machine to create with [`create_state_machine`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateMachineSpec {
    /// Its name.
    pub name: String,
    /// Logging level (`ALL`, `ERROR`, `FATAL`, `OFF`) and the log group ARN, if any.
    pub logging: Option<(LogLevel, Option<String>)>,
    /// Tags.
    pub tags: Vec<(String, String)>,
}

impl StateMachineSpec {
    /// A machine without logging configuration or tags.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            logging: None,
            tags: Vec::new(),
        }
    }

    /// Logs at `level` to the log group `arn` (`None`: no destination).
    pub fn logging(mut self, level: LogLevel, arn: Option<&str>) -> Self {
        self.logging = Some((level, arn.map(str::to_owned)));
        self
    }

    /// Adds a tag.
    pub fn tag(mut self, key: &str, value: &str) -> Self {
        self.tags.push((key.to_owned(), value.to_owned()));
        self
    }
}

/// Creates a state machine (moto hands back the existing one on a repeat); its ARN.
pub async fn create_state_machine(
    client: &sfn::Client,
    account: &str,
    spec: &StateMachineSpec,
) -> Result<String, SeedError> {
    let logging = spec.logging.as_ref().map(|(level, arn)| {
        let mut b = LoggingConfiguration::builder().level(level.clone());
        if let Some(arn) = arn {
            b = b.destinations(
                LogDestination::builder()
                    .cloud_watch_logs_log_group(
                        CloudWatchLogsLogGroup::builder().log_group_arn(arn).build(),
                    )
                    .build(),
            );
        }
        b.build()
    });
    let tags: Vec<Tag> = spec
        .tags
        .iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect();
    let out = client
        .create_state_machine()
        .name(&spec.name)
        .definition(DEFINITION)
        .role_arn(format!("arn:aws:iam::{account}:role/demo-states-role"))
        .set_logging_configuration(logging)
        .set_tags((!tags.is_empty()).then_some(tags))
        .send()
        .await
        .map_err(seed_err("create state machine", &spec.name))?;
    Ok(out.state_machine_arn().to_owned())
}

/// Adds the Step Functions slice described in the module docs.
pub async fn seed(sdk: &SdkConfig, account: &str) -> Result<(), SeedError> {
    let us = Clients::new(sdk, account, "us-east-1");
    let eu = Clients::new(sdk, account, "eu-west-1");
    let us_sfn = client(sdk, account, "us-east-1");
    let eu_sfn = client(sdk, account, "eu-west-1");

    let orders = "/aws/vendedlogs/states/demo-order-pipeline";
    let shared = "/aws/vendedlogs/states/demo-shared";
    let eu_group = "/aws/vendedlogs/states/demo-eu-pipeline";
    create_log_group(&us, orders).await?;
    create_log_group(&eu, shared).await?;
    create_log_group(&eu, eu_group).await?;

    let specs = [
        StateMachineSpec::new("demo-order-pipeline")
            .logging(LogLevel::All, Some(&us.log_group_arn(orders)))
            .tag("team", "orders"),
        StateMachineSpec::new("demo-nightly-batch")
            .logging(LogLevel::Off, Some(&us.log_group_arn(orders))),
        StateMachineSpec::new("demo-cross-region")
            .logging(LogLevel::Error, Some(&eu.log_group_arn(shared))),
    ];
    for spec in &specs {
        create_state_machine(&us_sfn, account, spec).await?;
    }
    create_state_machine(
        &eu_sfn,
        account,
        &StateMachineSpec::new("demo-eu-pipeline")
            .logging(LogLevel::All, Some(&eu.log_group_arn(eu_group))),
    )
    .await?;
    Ok(())
}
