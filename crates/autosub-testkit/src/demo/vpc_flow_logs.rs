//! VPC flow logs in the demo estate, and the seeders tests use to build their own.
//!
//! The demo slice (see [`seed`]), on the us-east-1 VPC tagged `Name=demo-vpc`:
//! - a flow log (tag `team=network`) to log group `/demo/vpc-flow-logs` (created): subscribable.
//! - a flow log to S3 `demo-vpc-flow-logs` (files land under
//!   `AWSLogs/<account>/vpcflowlogs/us-east-1/…`): subscribable.
//! - a flow log to the Firehose stream `demo-vpc-flows`: not subscribable.
//!
//! moto drops `DestinationOptions` (Parquet, Hive-compatible prefixes), so no Parquet flow log
//! can be seeded, and it takes a bucket ARN's folder for part of the bucket name (`it-flows/net/
//! does not exist`), so S3 flow logs are seeded to a bucket's root. Re-runnable: the VPC is found by its `Name` tag, a flow log by its resource
//! and destination.

use aws_config::SdkConfig;
use aws_sdk_ec2 as ec2;
use aws_sdk_ec2::types::{
    Filter, FlowLogsResourceType, LogDestinationType, ResourceType, Tag, TagSpecification,
    TrafficType,
};

use crate::estate::{Clients, SeedError, create_bucket, create_log_group, seed_err};
use crate::moto_account::moto_client;

/// The demo VPC's `Name` tag.
pub const DEMO_VPC: &str = "demo-vpc";
/// The log group the demo's first flow log delivers to.
pub const DEMO_FLOW_LOG_GROUP: &str = "/demo/vpc-flow-logs";
/// The bucket the demo's second flow log delivers to (at its root: see the module docs).
pub const DEMO_FLOW_LOG_BUCKET: &str = "demo-vpc-flow-logs";

/// An EC2 client for `account` in `region`.
pub fn client(sdk: &SdkConfig, account: &str, region: &str) -> ec2::Client {
    moto_client!(ec2, sdk, account, region)
}

/// The id of the VPC tagged `Name=<name>`, created (10.42.0.0/16) when there is none.
pub async fn create_vpc(client: &ec2::Client, name: &str) -> Result<String, SeedError> {
    let found = client
        .describe_vpcs()
        .filters(Filter::builder().name("tag:Name").values(name).build())
        .send()
        .await
        .map_err(seed_err("describe vpcs", name))?;
    if let Some(id) = found.vpcs().iter().find_map(|v| v.vpc_id()) {
        return Ok(id.to_owned());
    }
    let created = client
        .create_vpc()
        .cidr_block("10.42.0.0/16")
        .tag_specifications(
            TagSpecification::builder()
                .resource_type(ResourceType::Vpc)
                .tags(Tag::builder().key("Name").value(name).build())
                .build(),
        )
        .send()
        .await
        .map_err(seed_err("create vpc", name))?;
    created
        .vpc()
        .and_then(|v| v.vpc_id())
        .map(str::to_owned)
        .ok_or_else(|| SeedError {
            action: "create vpc",
            resource: name.to_owned(),
            source: "the reply names no VPC".into(),
        })
}

/// Where a seeded flow log delivers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlowDestination {
    /// A log group by name (with a delivery role, which moto does not check).
    LogGroup(String),
    /// A bucket ARN, `arn:aws:s3:::<bucket>` (the bucket must exist; moto refuses a folder).
    S3(String),
    /// A Firehose delivery stream ARN.
    Firehose(String),
}

/// Creates a flow log of the VPC `vpc_id` to `destination` with `tags`, unless the VPC has one
/// to that destination already; returns its id.
pub async fn create_flow_log(
    client: &ec2::Client,
    account: &str,
    vpc_id: &str,
    destination: &FlowDestination,
    tags: &[(&str, &str)],
) -> Result<String, SeedError> {
    let existing = client
        .describe_flow_logs()
        .filter(Filter::builder().name("resource-id").values(vpc_id).build())
        .send()
        .await
        .map_err(seed_err("describe flow logs", vpc_id))?;
    let same = existing.flow_logs().iter().find(|fl| match destination {
        FlowDestination::LogGroup(name) => fl.log_group_name() == Some(name),
        FlowDestination::S3(arn) | FlowDestination::Firehose(arn) => {
            fl.log_destination() == Some(arn)
        }
    });
    if let Some(id) = same.and_then(|fl| fl.flow_log_id()) {
        return Ok(id.to_owned());
    }
    let mut call = client
        .create_flow_logs()
        .resource_type(FlowLogsResourceType::Vpc)
        .resource_ids(vpc_id)
        .traffic_type(TrafficType::All);
    call = match destination {
        FlowDestination::LogGroup(name) => call
            .log_destination_type(LogDestinationType::CloudWatchLogs)
            .log_group_name(name)
            .deliver_logs_permission_arn(format!("arn:aws:iam::{account}:role/demo-flow-logs")),
        FlowDestination::S3(arn) => call
            .log_destination_type(LogDestinationType::S3)
            .log_destination(arn),
        FlowDestination::Firehose(arn) => call
            .log_destination_type(LogDestinationType::KinesisDataFirehose)
            .log_destination(arn),
    };
    if !tags.is_empty() {
        let mut spec = TagSpecification::builder().resource_type(ResourceType::VpcFlowLog);
        for (k, v) in tags {
            spec = spec.tags(Tag::builder().key(*k).value(*v).build());
        }
        call = call.tag_specifications(spec.build());
    }
    let out = call
        .send()
        .await
        .map_err(seed_err("create flow logs", vpc_id))?;
    if let Some(failed) = out.unsuccessful().first() {
        return Err(SeedError {
            action: "create flow logs",
            resource: vpc_id.to_owned(),
            source: format!("{:?}", failed.error()).into(),
        });
    }
    out.flow_log_ids()
        .first()
        .cloned()
        .ok_or_else(|| SeedError {
            action: "create flow logs",
            resource: vpc_id.to_owned(),
            source: "the reply names no flow log".into(),
        })
}

/// Adds the VPC flow log slice described in the module docs.
pub async fn seed(sdk: &SdkConfig, account: &str) -> Result<(), SeedError> {
    let us = Clients::new(sdk, account, "us-east-1");
    let ec2 = client(sdk, account, "us-east-1");
    create_log_group(&us, DEMO_FLOW_LOG_GROUP).await?;
    create_bucket(&us, DEMO_FLOW_LOG_BUCKET).await?;
    let vpc = create_vpc(&ec2, DEMO_VPC).await?;
    for (destination, tags) in [
        (
            FlowDestination::LogGroup(DEMO_FLOW_LOG_GROUP.to_owned()),
            &[("team", "network")][..],
        ),
        (
            FlowDestination::S3(format!("arn:aws:s3:::{DEMO_FLOW_LOG_BUCKET}")),
            &[],
        ),
        (
            FlowDestination::Firehose(format!(
                "arn:aws:firehose:us-east-1:{account}:deliverystream/demo-vpc-flows"
            )),
            &[],
        ),
    ] {
        create_flow_log(&ec2, account, &vpc, &destination, tags).await?;
    }
    Ok(())
}
