//! VPC flow logs (of VPCs, subnets, network interfaces and Transit Gateways): one
//! DescribeFlowLogs listing per region names every flow log, its tags and where it delivers, so
//! discovery makes no per-resource call. The selected resource is the flow log (name = its
//! `fl-…` id).
//!
//! - `cloud-watch-logs`: the log group of `LogDestination` (or `LogGroupName`); one in another
//!   account (cross-account delivery) or region is unsubscribable.
//! - `s3`: `arn:aws:s3:::<bucket>[/<folder>]`; files land under
//!   `[<folder>/]AWSLogs/<account>/vpcflowlogs/<region>/<yyyy>/<mm>/<dd>/[<hh>/]`, or with
//!   Hive-compatible prefixes `[<folder>/]AWSLogs/aws-account-id=<account>/aws-service=vpcflowlogs/
//!   aws-region=<region>/year=…/`. The source is narrowed to the account's `vpcflowlogs` folder
//!   ([`s3_log_prefix`]), not to the region: see `docs/discoverers.md` for why. Parquet files
//!   are unsubscribable (the Datadog Forwarder reads text).
//! - `kinesis-data-firehose`: unsubscribable.

use async_trait::async_trait;
use autosub_aws::source_apis::{FlowLog, FlowLogsApi};
use autosub_core::{AccountId, Discovery, Location, Region, Service, Unsubscribable};

use crate::destination::{self, FIREHOSE_WHY};
use crate::pipeline::Pipeline;
use crate::{DiscoverCx, Discoverer};

/// Why Parquet flow log files get no trigger.
pub const PARQUET_WHY: &str = "the flow log writes Apache Parquet files, which the Datadog \
    Forwarder cannot parse (it reads text lines); create the flow log with FileFormat plain-text \
    to have its files forwarded";

/// Discovers where every flow log of the target region delivers.
pub struct VpcFlowLogsDiscoverer;

#[async_trait]
impl Discoverer for VpcFlowLogsDiscoverer {
    fn service(&self) -> Service {
        Service::VpcFlowLogs
    }

    async fn discover(&self, cx: &DiscoverCx<'_>) -> Discovery {
        discover_with(
            cx.apis.sources.vpc_flow_logs.as_ref(),
            &Pipeline::of(cx, Service::VpcFlowLogs),
        )
        .await
    }
}

/// The discovery over any [`FlowLogsApi`].
async fn discover_with(api: &dyn FlowLogsApi, p: &Pipeline<'_>) -> Discovery {
    let flow_logs = match api.flow_logs().await {
        Ok(flow_logs) => flow_logs,
        Err(e) => return p.gap("flow logs", e),
    };
    let mut found = Discovery::default();
    // The listing holds the tags and the destinations: selecting and mapping need no call.
    for fl in flow_logs {
        if !p.selects(&fl.resource.name, &fl.resource.arn, Some(&fl.tags)) {
            continue;
        }
        if let Some((status, error)) = &fl.delivery
            && status.eq_ignore_ascii_case("FAILED")
        {
            // Still a source: a failing delivery (a missing log group, a denied role, "Rate
            // limited") often recovers, and the trigger waits for it; dropping the source would
            // delete and recreate triggers as delivery flaps.
            tracing::warn!(
                flow_log = %fl.resource.name,
                watched = %fl.watched,
                error = error.as_deref().unwrap_or("none given"),
                "AWS reports this flow log's delivery FAILED; its destination is subscribed anyway"
            );
        }
        match location_of(&fl, p.account(), p.region()) {
            Ok(Some(location)) => found.merge(p.sources(&fl.resource.arn, [location])),
            Ok(None) => {}
            Err((destination, why)) => found.unsubscribable.push(Unsubscribable {
                service: Service::VpcFlowLogs,
                resource_arn: fl.resource.arn.clone(),
                destination,
                why,
            }),
        }
    }
    found.normalize()
}

/// Where a flow log of (`account`, `region`) delivers: a location, nothing (not `ACTIVE`), or
/// the destination and why it cannot be subscribed.
pub fn location_of(
    fl: &FlowLog,
    account: &AccountId,
    region: &Region,
) -> Result<Option<Location>, (String, String)> {
    if !fl.status.eq_ignore_ascii_case("ACTIVE") {
        return Ok(None);
    }
    let destination = fl.destination.clone();
    match fl.destination_type.as_str() {
        "cloud-watch-logs" => match destination {
            Some(arn) => destination::log_group(&arn, account, region)
                .map(Some)
                .map_err(|why| (arn, why)),
            // A bare name is a log group of the flow log's own account and region.
            None => match &fl.log_group_name {
                Some(name) => Ok(Some(Location::LogGroup {
                    name: name.as_str().into(),
                })),
                None => Err((
                    "cloud-watch-logs".to_owned(),
                    "the flow log names no log group".to_owned(),
                )),
            },
        },
        "s3" => {
            let arn = destination.unwrap_or_default();
            if fl
                .file_format
                .as_deref()
                .is_some_and(|f| f.eq_ignore_ascii_case("parquet"))
            {
                return Err((arn, PARQUET_WHY.to_owned()));
            }
            let (bucket, folder) = destination::s3_bucket(&arn).map_err(|why| (arn, why))?;
            Ok(Some(Location::S3 {
                bucket,
                prefix: s3_log_prefix(&folder, account, fl.hive_compatible),
            }))
        }
        "kinesis-data-firehose" => Err((
            destination.unwrap_or_else(|| "kinesis-data-firehose".to_owned()),
            FIREHOSE_WHY.to_owned(),
        )),
        other => Err((
            destination.unwrap_or_else(|| other.to_owned()),
            format!(
                "a {other} destination is not a log group or an S3 bucket; autosub subscribes \
                 only those"
            ),
        )),
    }
}

/// The key prefix of `account`'s flow log files in a bucket folder (`""` = the bucket root):
/// `[<folder>/]AWSLogs/<account>/vpcflowlogs/`, or with Hive-compatible prefixes
/// `[<folder>/]AWSLogs/aws-account-id=<account>/aws-service=vpcflowlogs/`. It stops above the
/// region, so one trigger covers every region's flow logs of the account in that bucket.
pub fn s3_log_prefix(folder: &str, account: &AccountId, hive_compatible: bool) -> String {
    let tail = if hive_compatible {
        format!("AWSLogs/aws-account-id={account}/aws-service=vpcflowlogs/")
    } else {
        format!("AWSLogs/{account}/vpcflowlogs/")
    };
    if folder.is_empty() {
        tail
    } else {
        format!("{folder}/{tail}")
    }
}

#[cfg(test)]
mod tests {
    use autosub_aws::error::AwsError;
    use autosub_aws::source_apis::{Resource, Tags};
    use autosub_core::BucketName;

    use super::*;
    use crate::testing::{ACCOUNT, denied, run};

    const REGION: &str = "eu-west-1";

    fn flow_log(destination_type: &str, destination: Option<&str>) -> FlowLog {
        FlowLog {
            resource: Resource {
                arn: format!("arn:aws:ec2:{REGION}:{ACCOUNT}:vpc-flow-log/fl-1"),
                name: "fl-1".into(),
            },
            tags: Tags::new(),
            watched: "vpc-1".into(),
            status: "ACTIVE".into(),
            delivery: Some(("SUCCESS".into(), None)),
            destination_type: destination_type.into(),
            destination: destination.map(str::to_owned),
            log_group_name: None,
            cross_account_role: None,
            file_format: None,
            hive_compatible: false,
        }
    }

    fn s3(bucket: &str, prefix: &str) -> Result<Option<Location>, &'static str> {
        Ok(Some(Location::S3 {
            bucket: BucketName::new(bucket),
            prefix: prefix.to_owned(),
        }))
    }

    fn group(name: &str) -> Result<Option<Location>, &'static str> {
        Ok(Some(Location::LogGroup { name: name.into() }))
    }

    #[test]
    fn flow_logs_map_to_locations_or_reasons() {
        let (account, region) = (AccountId::new(ACCOUNT), Region::new(REGION));
        let with = |f: &dyn Fn(&mut FlowLog), fl: FlowLog| {
            let mut fl = fl;
            f(&mut fl);
            fl
        };
        let cw = |arn: &str| flow_log("cloud-watch-logs", Some(arn));
        let to_s3 = |arn: &str| flow_log("s3", Some(arn));
        let cases: Vec<(FlowLog, Result<Option<Location>, &str>)> = vec![
            (
                cw("arn:aws:logs:eu-west-1:123456789012:log-group:/vpc/flows:*"),
                group("/vpc/flows"),
            ),
            // moto, and older flow logs: the name only.
            (
                with(
                    &|fl| fl.log_group_name = Some("/vpc/named".into()),
                    flow_log("cloud-watch-logs", None),
                ),
                group("/vpc/named"),
            ),
            (
                with(
                    &|fl| fl.cross_account_role = Some("arn:aws:iam::210987654321:role/x".into()),
                    cw("arn:aws:logs:eu-west-1:210987654321:log-group:/central"),
                ),
                Err("account 210987654321"),
            ),
            (
                cw("arn:aws:logs:us-east-1:123456789012:log-group:/vpc/flows"),
                Err("region us-east-1"),
            ),
            (
                flow_log("cloud-watch-logs", None),
                Err("names no log group"),
            ),
            (
                to_s3("arn:aws:s3:::flows"),
                s3("flows", "AWSLogs/123456789012/vpcflowlogs/"),
            ),
            (
                to_s3("arn:aws:s3:::flows/net/vpc/"),
                s3("flows", "net/vpc/AWSLogs/123456789012/vpcflowlogs/"),
            ),
            (
                with(
                    &|fl| fl.hive_compatible = true,
                    to_s3("arn:aws:s3:::flows/net"),
                ),
                s3(
                    "flows",
                    "net/AWSLogs/aws-account-id=123456789012/aws-service=vpcflowlogs/",
                ),
            ),
            (
                with(
                    &|fl| fl.file_format = Some("plain-text".into()),
                    to_s3("arn:aws:s3:::flows"),
                ),
                s3("flows", "AWSLogs/123456789012/vpcflowlogs/"),
            ),
            (
                with(
                    &|fl| fl.file_format = Some("parquet".into()),
                    to_s3("arn:aws:s3:::flows"),
                ),
                Err("Parquet"),
            ),
            (to_s3("arn:aws:s3:::"), Err("names no S3 bucket")),
            (
                flow_log(
                    "kinesis-data-firehose",
                    Some("arn:aws:firehose:eu-west-1:123456789012:deliverystream/flows"),
                ),
                Err("Firehose"),
            ),
            // Delivery failing is still where the logs land once it works.
            (
                with(
                    &|fl| fl.delivery = Some(("FAILED".into(), Some("Access error".into()))),
                    cw("arn:aws:logs:eu-west-1:123456789012:log-group:/vpc/flows"),
                ),
                group("/vpc/flows"),
            ),
            (
                with(
                    &|fl| fl.status = "DELETING".into(),
                    to_s3("arn:aws:s3:::flows"),
                ),
                Ok(None),
            ),
        ];
        for (fl, want) in cases {
            let got = location_of(&fl, &account, &region);
            match (&got, want) {
                (Ok(got), Ok(want)) => assert_eq!(got, &want, "{fl:?}"),
                (Err((_, why)), Err(want)) => assert!(why.contains(want), "{fl:?}: {why}"),
                (got, want) => panic!("{fl:?}: got {got:?}, want {want:?}"),
            }
        }
    }

    /// Lists the flow logs it holds, or refuses.
    struct FakeFlowLogs(Result<Vec<FlowLog>, AwsError>);

    #[async_trait]
    impl FlowLogsApi for FakeFlowLogs {
        async fn flow_logs(&self) -> Result<Vec<FlowLog>, AwsError> {
            self.0.clone()
        }
    }

    #[test]
    fn a_denied_listing_is_one_gap_and_unsubscribable_destinations_are_reported() {
        let found = run(
            Service::VpcFlowLogs,
            REGION,
            &FakeFlowLogs(Err(denied("ec2:DescribeFlowLogs"))),
            |api, p| Box::pin(discover_with(api, p)),
        );
        assert!(found.sources.is_empty());
        assert_eq!(found.gaps.len(), 1, "{found:?}");
        assert!(found.gaps[0].detail.starts_with("flow logs: "), "{found:?}");

        let firehose = flow_log(
            "kinesis-data-firehose",
            Some("arn:aws:firehose:eu-west-1:123456789012:deliverystream/flows"),
        );
        let mut to_s3 = flow_log("s3", Some("arn:aws:s3:::flows"));
        to_s3.resource.name = "fl-2".into();
        to_s3.resource.arn = to_s3.resource.arn.replace("fl-1", "fl-2");
        let found = run(
            Service::VpcFlowLogs,
            REGION,
            &FakeFlowLogs(Ok(vec![firehose, to_s3])),
            |api, p| Box::pin(discover_with(api, p)),
        );
        assert!(found.gaps.is_empty(), "{found:?}");
        assert_eq!(found.sources.len(), 1, "{found:?}");
        assert!(found.sources[0].resource_arn.ends_with("vpc-flow-log/fl-2"));
        assert_eq!(found.unsubscribable.len(), 1, "{found:?}");
        assert_eq!(found.unsubscribable[0].why, FIREHOSE_WHY);
    }
}
