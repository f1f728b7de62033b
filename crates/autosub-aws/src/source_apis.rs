//! Narrow capabilities of the services whose resources write logs, in domain types: only what
//! the discoverers read (resources, their logging settings, their tags).

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use autosub_core::BucketName;

use crate::error::AwsError;
use crate::trails::AdvancedField;

/// Where access logs go in S3: a bucket's server access logs (`GetBucketLogging`), a
/// distribution's or a load balancer's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessLogTarget {
    /// The target bucket.
    pub bucket: BucketName,
    /// The target prefix ("" = the bucket root).
    pub prefix: String,
}

/// Resource tags, key → value.
pub type Tags = BTreeMap<String, String>;

/// A resource as listed: its ARN and the name users know it by.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Resource {
    /// The resource ARN.
    pub arn: String,
    /// Its name (or id where it has no name).
    pub name: String,
}

/// A resource listed together with its tags (the listing API returns them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaggedResource {
    /// The resource.
    pub resource: Resource,
    /// Its tags.
    pub tags: Tags,
}

/// An API Gateway API: its id (used in stage calls and execution log group names) and tags.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatewayApi {
    /// The API id, e.g. `a1b2c3d4e5`.
    pub id: String,
    /// ARN and name.
    pub resource: Resource,
    /// Its tags.
    pub tags: Tags,
}

/// The log-source services of one target. CloudFront and WAF's CLOUDFRONT scope are global and
/// answer in us-east-1 whatever the target region.
#[derive(Clone)]
pub struct SourceApis {
    /// CloudFront (global).
    pub cloudfront: Arc<dyn CloudFrontApi>,
    /// Classic Load Balancing.
    pub elb: Arc<dyn ElbApi>,
    /// Application and Network Load Balancing.
    pub elbv2: Arc<dyn Elbv2Api>,
    /// Redshift.
    pub redshift: Arc<dyn RedshiftApi>,
    /// Step Functions.
    pub step_functions: Arc<dyn StepFunctionsApi>,
    /// WAFv2.
    pub wafv2: Arc<dyn Wafv2Api>,
    /// API Gateway REST (v1) and HTTP/WebSocket (v2).
    pub api_gateway: Arc<dyn ApiGatewayApi>,
    /// CloudTrail trails.
    pub cloudtrail: Arc<dyn CloudTrailApi>,
    /// EC2 VPC flow logs.
    pub vpc_flow_logs: Arc<dyn FlowLogsApi>,
}

/// CloudFront distributions and their standard (legacy) logging.
#[async_trait]
pub trait CloudFrontApi: Send + Sync {
    /// Every distribution (ListDistributions, all pages); name = distribution id.
    async fn distributions(&self) -> Result<Vec<Resource>, AwsError>;
    /// GetDistributionConfig `Logging`, `None` when disabled. The bucket is returned as a bucket
    /// name: CloudFront's `name.s3.amazonaws.com` form is stripped.
    async fn logging(&self, distribution_id: &str) -> Result<Option<AccessLogTarget>, AwsError>;
    /// ListTagsForResource.
    async fn tags(&self, arn: &str) -> Result<Tags, AwsError>;
}

/// Classic Load Balancers.
#[async_trait]
pub trait ElbApi: Send + Sync {
    /// Every classic load balancer (DescribeLoadBalancers, all pages), ARN built from its name.
    async fn load_balancers(&self) -> Result<Vec<Resource>, AwsError>;
    /// DescribeLoadBalancerAttributes `AccessLog`, `None` when disabled.
    async fn access_log(&self, name: &str) -> Result<Option<AccessLogTarget>, AwsError>;
    /// DescribeTags (up to 20 names a call), name → tags.
    async fn tags(&self, names: &[String]) -> Result<BTreeMap<String, Tags>, AwsError>;
}

/// Application, Network and Gateway Load Balancers.
#[async_trait]
pub trait Elbv2Api: Send + Sync {
    /// Every load balancer (DescribeLoadBalancers, all pages).
    async fn load_balancers(&self) -> Result<Vec<Resource>, AwsError>;
    /// DescribeLoadBalancerAttributes as key → value (`access_logs.s3.enabled`, …).
    async fn attributes(&self, arn: &str) -> Result<BTreeMap<String, String>, AwsError>;
    /// DescribeTags (up to 20 ARNs a call), ARN → tags.
    async fn tags(&self, arns: &[String]) -> Result<BTreeMap<String, Tags>, AwsError>;
}

/// Where a Redshift cluster's audit logs go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RedshiftLogging {
    /// Audit logging is off.
    Off,
    /// Logs go to an S3 bucket and prefix.
    S3(AccessLogTarget),
    /// Logs go to CloudWatch Logs, one log group per exported log type.
    CloudWatch {
        /// `connectionlog`, `userlog`, `useractivitylog`.
        log_exports: Vec<String>,
    },
}

/// Redshift provisioned clusters.
#[async_trait]
pub trait RedshiftApi: Send + Sync {
    /// Every cluster (DescribeClusters, all pages) with its tags; name = cluster identifier.
    async fn clusters(&self) -> Result<Vec<TaggedResource>, AwsError>;
    /// DescribeLoggingStatus.
    async fn logging(&self, cluster_id: &str) -> Result<RedshiftLogging, AwsError>;
}

/// Step Functions state machines.
#[async_trait]
pub trait StepFunctionsApi: Send + Sync {
    /// Every state machine (ListStateMachines, all pages).
    async fn state_machines(&self) -> Result<Vec<Resource>, AwsError>;
    /// DescribeStateMachine `loggingConfiguration.destinations[].cloudWatchLogsLogGroup
    /// .logGroupArn` (empty when logging is off or at level OFF).
    async fn log_group_arns(&self, arn: &str) -> Result<Vec<String>, AwsError>;
    /// ListTagsForResource.
    async fn tags(&self, arn: &str) -> Result<Tags, AwsError>;
}

/// WAFv2 scopes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum WafScope {
    /// Regional web ACLs (ALB, API Gateway, AppSync, …) of the target region.
    Regional,
    /// CloudFront web ACLs; only answered in us-east-1.
    CloudFront,
}

/// WAFv2 web ACLs and their logging.
#[async_trait]
pub trait Wafv2Api: Send + Sync {
    /// Every web ACL of the scope (ListWebACLs, all pages).
    async fn web_acls(&self, scope: WafScope) -> Result<Vec<Resource>, AwsError>;
    /// GetLoggingConfiguration `LogDestinationConfigs` (S3 bucket, log group or Firehose ARNs);
    /// empty when the ACL does not log.
    async fn log_destinations(&self, acl_arn: &str) -> Result<Vec<String>, AwsError>;
    /// ListTagsForResource.
    async fn tags(&self, arn: &str) -> Result<Tags, AwsError>;
}

/// A stage of an API Gateway API, reduced to its logging.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stage {
    /// The stage name.
    pub name: String,
    /// Access log destination ARN (a log group or a Firehose stream), when access logging is on.
    pub access_log_destination: Option<String>,
    /// REST only: some method setting logs at ERROR or INFO, so CloudWatch holds execution logs in
    /// `API-Gateway-Execution-Logs_<apiId>/<stage>`.
    pub execution_logs: bool,
}

/// API Gateway REST (v1) and HTTP/WebSocket (v2) APIs.
#[async_trait]
pub trait ApiGatewayApi: Send + Sync {
    /// Every REST API (GetRestApis, all pages) with its tags; the ARN is
    /// `arn:<partition>:apigateway:<region>::/restapis/<id>`.
    async fn rest_apis(&self) -> Result<Vec<GatewayApi>, AwsError>;
    /// GetStages of a REST API (by id).
    async fn rest_stages(&self, api_id: &str) -> Result<Vec<Stage>, AwsError>;
    /// Every HTTP/WebSocket API (GetApis, all pages) with its tags; the ARN is
    /// `arn:<partition>:apigateway:<region>::/apis/<id>`.
    async fn http_apis(&self) -> Result<Vec<GatewayApi>, AwsError>;
    /// GetStages of an HTTP/WebSocket API (by id).
    async fn http_stages(&self, api_id: &str) -> Result<Vec<Stage>, AwsError>;
}

/// A trail listed in its home region, reduced to where it delivers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrailDelivery {
    /// ARN and name.
    pub resource: Resource,
    /// `S3BucketName` and `S3KeyPrefix` (every trail has a bucket).
    pub bucket: Option<AccessLogTarget>,
    /// `CloudWatchLogsLogGroupArn`, when it also delivers to CloudWatch Logs.
    pub log_group_arn: Option<String>,
    /// True for an organization trail (it writes `AWSLogs/<org-id>/<account>/…`).
    pub organization: bool,
}

/// A basic event selector, as far as S3 object data events go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BasicDataSelector {
    /// `ReadOnly`, `WriteOnly` or `All` (AWS's default when absent).
    pub read_write: Option<String>,
    /// The `Values` of its `AWS::S3::Object` data resources: `arn:<partition>:s3` (every
    /// bucket), `arn:<partition>:s3:::<bucket>/` or `arn:<partition>:s3:::<bucket>/<prefix>`.
    pub s3_objects: Vec<String>,
}

/// A trail's event selectors (GetEventSelectors): basic or advanced, never both.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventSelectors {
    /// Basic event selectors (none: management events only, AWS's default).
    Basic(Vec<BasicDataSelector>),
    /// Advanced event selectors, each the list of its field conditions.
    Advanced(Vec<Vec<AdvancedField>>),
}

/// CloudTrail trails and where they deliver.
#[async_trait]
pub trait CloudTrailApi: Send + Sync {
    /// The trails whose home is this region (DescribeTrails with `includeShadowTrails` false):
    /// a multi-region trail is listed once, in its home region; an organization trail in the
    /// account that owns it.
    async fn trails(&self) -> Result<Vec<TrailDelivery>, AwsError>;
    /// GetEventSelectors of the trail `arn`.
    async fn event_selectors(&self, arn: &str) -> Result<EventSelectors, AwsError>;
    /// ListTags (up to 20 ARNs a call), ARN → tags.
    async fn tags(&self, arns: &[String]) -> Result<BTreeMap<String, Tags>, AwsError>;
}

/// A VPC flow log as DescribeFlowLogs lists it, reduced to where it delivers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowLog {
    /// `arn:<partition>:ec2:<region>:<account>:vpc-flow-log/<id>`; name = the flow log id.
    pub resource: Resource,
    /// Its tags (DescribeFlowLogs returns them).
    pub tags: Tags,
    /// The VPC, subnet, network interface or Transit Gateway (attachment) it watches.
    pub watched: String,
    /// `FlowLogStatus` (`ACTIVE` is the only documented value).
    pub status: String,
    /// `DeliverLogsStatus` (`SUCCESS`, `FAILED`), with `DeliverLogsErrorMessage`.
    pub delivery: Option<(String, Option<String>)>,
    /// `LogDestinationType`: `cloud-watch-logs` (AWS's default), `s3` or
    /// `kinesis-data-firehose`.
    pub destination_type: String,
    /// `LogDestination`: the log group, bucket (with its folder) or stream ARN.
    pub destination: Option<String>,
    /// `LogGroupName` (log group destinations, also when `LogDestination` is absent).
    pub log_group_name: Option<String>,
    /// `DeliverCrossAccountRole`: delivery into another account.
    pub cross_account_role: Option<String>,
    /// `DestinationOptions.FileFormat` (S3): `plain-text` or `parquet`.
    pub file_format: Option<String>,
    /// `DestinationOptions.HiveCompatiblePartitions` (S3).
    pub hive_compatible: bool,
}

/// EC2 VPC flow logs.
#[async_trait]
pub trait FlowLogsApi: Send + Sync {
    /// Every flow log of the region (DescribeFlowLogs, all pages), with its tags.
    async fn flow_logs(&self) -> Result<Vec<FlowLog>, AwsError>;
}
