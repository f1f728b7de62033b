//! The registry of the services autosub discovers: one [`ServiceSpec`] per [`Service`], holding
//! everything about it that is pure data (its id, where it is discovered, where it writes, the
//! IAM actions its discovery calls, the AWS endpoints it reaches). Config keys, the IAM policy,
//! the doctor's endpoint list and the docs iterate this table; the discoverer of each service
//! (`autosub-discover`) and its SDK clients (`autosub-aws`) are keyed by the same enum, with
//! exhaustive matches, so a new service does not compile until every part is filled in.
//! `docs/adding-a-service.md` lists the steps.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ids::{Partition, Region};

/// Where global services write CloudWatch Logs and answer their APIs: CloudFront, and WAF's
/// CLOUDFRONT-scope web ACLs (and their log groups).
pub const GLOBAL_LOG_REGION: &str = "us-east-1";

/// The region of [`GLOBAL_LOG_REGION`], as a [`Region`].
pub fn global_log_region() -> Region {
    Region::new(GLOBAL_LOG_REGION)
}

/// Declares `Service` and `Service::ALL` from one list, so a new variant is in `ALL` (and so in
/// the config keys, the IAM policy and the doctor) without a second list to keep in step.
macro_rules! services {
    ($(#[$attr:meta])* pub enum Service { $($(#[$vattr:meta])* $variant:ident,)* }) => {
        $(#[$attr])*
        pub enum Service {
            $($(#[$vattr])* $variant,)*
        }

        impl Service {
            /// Every service, in declaration order (which is also their sort order).
            pub const ALL: [Service; [$(Service::$variant),*].len()] = [$(Service::$variant),*];
        }
    };
}

services! {
    /// An AWS service whose resources write logs autosub can subscribe to.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum Service {
        /// Lambda functions (their CloudWatch Logs log group).
        Lambda,
        /// S3 server access logging (the target bucket and prefix).
        S3AccessLogs,
        /// CloudFront standard logging (global; buckets in any region).
        #[serde(rename = "cloudfront")]
        CloudFront,
        /// Application/Network Load Balancer access and connection logs.
        Elbv2,
        /// Classic Load Balancer access logs.
        Elb,
        /// Redshift audit logs (S3 or CloudWatch Logs).
        Redshift,
        /// Step Functions execution logs.
        StepFunctions,
        /// WAFv2 web ACL logs (S3 or CloudWatch Logs).
        Wafv2,
        /// API Gateway access and execution logs (REST, HTTP and WebSocket APIs).
        ApiGateway,
        /// CloudTrail trails (their S3 bucket and/or CloudWatch Logs log group).
        #[serde(rename = "cloudtrail")]
        CloudTrail,
        /// VPC flow logs of VPCs, subnets, network interfaces and Transit Gateways (a log group
        /// or S3).
        VpcFlowLogs,
    }
}

/// Where a service's resources are discovered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// In every reconciled region, by that region's pass.
    Regional,
    /// Once per account, in [`GLOBAL_LOG_REGION`]; the sources are shared by every region's pass.
    Global,
    /// Both: regional resources per region, and a global part once per account (WAF's REGIONAL
    /// and CLOUDFRONT scopes).
    RegionalAndGlobal,
}

impl Scope {
    /// True when the service has resources discovered in every region.
    pub fn regional(self) -> bool {
        matches!(self, Self::Regional | Self::RegionalAndGlobal)
    }

    /// True when the service has resources discovered once per account.
    pub fn global(self) -> bool {
        matches!(self, Self::Global | Self::RegionalAndGlobal)
    }
}

/// Everything pure about one service: the single place its facts are written.
#[derive(Clone, Copy, Debug)]
pub struct ServiceSpec {
    /// The name used in config keys (`[services.<id>]`), reports, metrics and IAM Sids.
    pub id: &'static str,
    /// Where its resources are discovered.
    pub scope: Scope,
    /// True when its resources can write to CloudWatch Logs log groups.
    pub writes_log_groups: bool,
    /// True when its resources can write to S3 buckets.
    pub writes_buckets: bool,
    /// The IAM actions its discovery always calls.
    pub iam_actions: &'static [&'static str],
    /// The IAM actions it calls only to read tags, when its filter selects by tag.
    pub tag_actions: &'static [&'static str],
    /// The AWS services its discovery calls (beyond the infrastructure every run calls).
    pub endpoints: &'static [AwsService],
    /// The CloudTrail management events that change where its resources log, or which are
    /// selected (tags): each names the resource it touches. Event-driven mode follows them.
    pub events: &'static [EventSpec],
}

/// CloudTrail management events of one API that touch one kind of resource.
#[derive(Clone, Copy, Debug)]
pub struct EventSpec {
    /// The event's `eventSource`, e.g. `lambda.amazonaws.com`.
    pub source: &'static str,
    /// The operations, without the API version some services append to `eventName`
    /// (`CreateFunction20150331`, `UpdateDistribution2020_05_31`).
    pub operations: &'static [&'static str],
    /// Where in the event's `detail` the touched resource's name, id or ARN is, as dotted paths
    /// (`requestParameters.functionName`); each present one names a resource (a string, or an
    /// array of them).
    pub keys: &'static [&'static str],
}

impl Service {
    /// Every service's id, in the order of [`Service::ALL`] (the keys of `[services]`).
    pub const IDS: [&'static str; Service::ALL.len()] = {
        let mut ids = [""; Service::ALL.len()];
        let mut i = 0;
        while i < ids.len() {
            ids[i] = Service::ALL[i].spec().id;
            i += 1;
        }
        ids
    };

    /// The service's entry in the registry.
    pub const fn spec(self) -> &'static ServiceSpec {
        match self {
            Self::Lambda => &ServiceSpec {
                id: "lambda",
                scope: Scope::Regional,
                writes_log_groups: true,
                writes_buckets: false,
                iam_actions: &["lambda:ListFunctions"],
                tag_actions: &["lambda:ListTags"],
                endpoints: &[AwsService::Lambda],
                events: &[EventSpec {
                    source: "lambda.amazonaws.com",
                    operations: &[
                        "CreateFunction",
                        "UpdateFunctionConfiguration",
                        "DeleteFunction",
                        "TagResource",
                        "UntagResource",
                    ],
                    keys: &[
                        "responseElements.functionArn",
                        "requestParameters.functionName",
                        "requestParameters.resource",
                    ],
                }],
            },
            Self::S3AccessLogs => &ServiceSpec {
                id: "s3_access_logs",
                scope: Scope::Regional,
                writes_log_groups: false,
                writes_buckets: true,
                iam_actions: &[
                    "s3:ListAllMyBuckets",
                    "s3:ListBucket",
                    "s3:GetBucketLogging",
                ],
                tag_actions: &["s3:GetBucketTagging"],
                endpoints: &[AwsService::S3],
                events: &[EventSpec {
                    source: "s3.amazonaws.com",
                    operations: &[
                        "PutBucketLogging",
                        "DeleteBucket",
                        "PutBucketTagging",
                        "DeleteBucketTagging",
                    ],
                    keys: &["requestParameters.bucketName"],
                }],
            },
            Self::CloudFront => &ServiceSpec {
                id: "cloudfront",
                scope: Scope::Global,
                writes_log_groups: false,
                writes_buckets: true,
                iam_actions: &[
                    "cloudfront:ListDistributions",
                    "cloudfront:GetDistributionConfig",
                ],
                tag_actions: &["cloudfront:ListTagsForResource"],
                endpoints: &[AwsService::CloudFront],
                events: &[EventSpec {
                    source: "cloudfront.amazonaws.com",
                    operations: &[
                        "CreateDistribution",
                        "CreateDistributionWithTags",
                        "UpdateDistribution",
                        "DeleteDistribution",
                        "TagResource",
                        "UntagResource",
                    ],
                    keys: &[
                        "responseElements.distribution.id",
                        "requestParameters.id",
                        "requestParameters.resource",
                    ],
                }],
            },
            Self::Elbv2 => &ServiceSpec {
                id: "elbv2",
                scope: Scope::Regional,
                writes_log_groups: false,
                writes_buckets: true,
                iam_actions: &[
                    "elasticloadbalancing:DescribeLoadBalancers",
                    "elasticloadbalancing:DescribeLoadBalancerAttributes",
                ],
                tag_actions: &["elasticloadbalancing:DescribeTags"],
                endpoints: &[AwsService::Elbv2],
                events: &[EventSpec {
                    source: "elasticloadbalancing.amazonaws.com",
                    operations: &[
                        "ModifyLoadBalancerAttributes",
                        "DeleteLoadBalancer",
                        "AddTags",
                        "RemoveTags",
                    ],
                    keys: &[
                        "requestParameters.loadBalancerArn",
                        "requestParameters.resourceArns",
                    ],
                }],
            },
            Self::Elb => &ServiceSpec {
                id: "elb",
                scope: Scope::Regional,
                writes_log_groups: false,
                writes_buckets: true,
                iam_actions: &[
                    "elasticloadbalancing:DescribeLoadBalancers",
                    "elasticloadbalancing:DescribeLoadBalancerAttributes",
                ],
                tag_actions: &["elasticloadbalancing:DescribeTags"],
                endpoints: &[AwsService::Elb],
                events: &[EventSpec {
                    source: "elasticloadbalancing.amazonaws.com",
                    operations: &[
                        "ModifyLoadBalancerAttributes",
                        "DeleteLoadBalancer",
                        "AddTags",
                        "RemoveTags",
                    ],
                    keys: &[
                        "requestParameters.loadBalancerName",
                        "requestParameters.loadBalancerNames",
                    ],
                }],
            },
            Self::Redshift => &ServiceSpec {
                id: "redshift",
                scope: Scope::Regional,
                writes_log_groups: true,
                writes_buckets: true,
                iam_actions: &[
                    "redshift:DescribeClusters",
                    "redshift:DescribeLoggingStatus",
                ],
                tag_actions: &[],
                endpoints: &[AwsService::Redshift],
                events: &[EventSpec {
                    source: "redshift.amazonaws.com",
                    operations: &[
                        "EnableLogging",
                        "DisableLogging",
                        "DeleteCluster",
                        "CreateTags",
                        "DeleteTags",
                    ],
                    keys: &[
                        "requestParameters.clusterIdentifier",
                        "requestParameters.resourceName",
                    ],
                }],
            },
            Self::StepFunctions => &ServiceSpec {
                id: "step_functions",
                scope: Scope::Regional,
                writes_log_groups: true,
                writes_buckets: false,
                iam_actions: &["states:ListStateMachines", "states:DescribeStateMachine"],
                tag_actions: &["states:ListTagsForResource"],
                endpoints: &[AwsService::StepFunctions],
                events: &[EventSpec {
                    source: "states.amazonaws.com",
                    operations: &[
                        "CreateStateMachine",
                        "UpdateStateMachine",
                        "DeleteStateMachine",
                        "TagResource",
                        "UntagResource",
                    ],
                    keys: &[
                        "responseElements.stateMachineArn",
                        "requestParameters.stateMachineArn",
                        "requestParameters.resourceArn",
                    ],
                }],
            },
            Self::Wafv2 => &ServiceSpec {
                id: "wafv2",
                scope: Scope::RegionalAndGlobal,
                writes_log_groups: true,
                writes_buckets: true,
                iam_actions: &["wafv2:ListWebACLs", "wafv2:GetLoggingConfiguration"],
                tag_actions: &["wafv2:ListTagsForResource"],
                endpoints: &[AwsService::Wafv2],
                events: &[EventSpec {
                    source: "wafv2.amazonaws.com",
                    operations: &[
                        "PutLoggingConfiguration",
                        "DeleteLoggingConfiguration",
                        "DeleteWebACL",
                        "TagResource",
                        "UntagResource",
                    ],
                    keys: &[
                        "requestParameters.loggingConfiguration.resourceArn",
                        "requestParameters.resourceArn",
                        "requestParameters.resourceARN",
                        "requestParameters.name",
                    ],
                }],
            },
            Self::ApiGateway => &ServiceSpec {
                id: "api_gateway",
                scope: Scope::Regional,
                writes_log_groups: true,
                writes_buckets: false,
                // GetRestApis, GetStages, GetApis and GetStages (v2) are all `apigateway:GET`.
                iam_actions: &["apigateway:GET"],
                tag_actions: &[],
                endpoints: &[AwsService::ApiGateway, AwsService::ApiGatewayV2],
                events: &[EventSpec {
                    // REST (v1) and HTTP/WebSocket (v2) APIs share the event source.
                    source: "apigateway.amazonaws.com",
                    operations: &[
                        "CreateStage",
                        "UpdateStage",
                        "DeleteStage",
                        "CreateDeployment",
                    ],
                    keys: &["requestParameters.restApiId", "requestParameters.apiId"],
                }],
            },
            Self::CloudTrail => &ServiceSpec {
                id: "cloudtrail",
                // Each trail is read in its home region only (DescribeTrails without shadow
                // trails), so a multi-region trail is discovered once.
                scope: Scope::Regional,
                writes_log_groups: true,
                writes_buckets: true,
                // GetEventSelectors only for trails that write to S3 (the loop guard).
                iam_actions: &["cloudtrail:DescribeTrails", "cloudtrail:GetEventSelectors"],
                tag_actions: &["cloudtrail:ListTags"],
                endpoints: &[AwsService::CloudTrail],
                events: &[EventSpec {
                    source: "cloudtrail.amazonaws.com",
                    operations: &[
                        "CreateTrail",
                        "UpdateTrail",
                        "DeleteTrail",
                        "StartLogging",
                        "StopLogging",
                        "PutEventSelectors",
                        "AddTags",
                        "RemoveTags",
                    ],
                    // A trail's name or ARN: `name` (trail calls), `trailName`
                    // (PutEventSelectors), `resourceId` (AddTags, RemoveTags).
                    keys: &[
                        "requestParameters.name",
                        "requestParameters.trailName",
                        "requestParameters.resourceId",
                        "responseElements.trailARN",
                    ],
                }],
            },
            Self::VpcFlowLogs => &ServiceSpec {
                id: "vpc_flow_logs",
                scope: Scope::Regional,
                writes_log_groups: true,
                writes_buckets: true,
                // DescribeFlowLogs returns each flow log's tags: no tag call.
                iam_actions: &["ec2:DescribeFlowLogs"],
                tag_actions: &[],
                endpoints: &[AwsService::Ec2],
                events: &[EventSpec {
                    source: "ec2.amazonaws.com",
                    operations: &["CreateFlowLogs", "DeleteFlowLogs"],
                    // The flow log ids: CreateFlowLogs' request names only the watched
                    // resources, its response the new flow logs; CloudTrail renders EC2's XML
                    // (`flowLogIdSet.item`, `FlowLogId.content`), one id a string, several an
                    // array.
                    keys: &[
                        "responseElements.CreateFlowLogsResponse.flowLogIdSet.item",
                        "requestParameters.DeleteFlowLogsRequest.FlowLogId.content",
                    ],
                }],
            },
        }
    }

    /// The name used in config keys, reports and metrics.
    pub fn as_str(self) -> &'static str {
        self.spec().id
    }

    /// True when the service's resources can write to CloudWatch Logs log groups.
    pub fn writes_log_groups(self) -> bool {
        self.spec().writes_log_groups
    }

    /// True when the service's resources can write to S3 buckets.
    pub fn writes_buckets(self) -> bool {
        self.spec().writes_buckets
    }

    /// True when some of the service's resources are global: discovered once per account (in
    /// [`GLOBAL_LOG_REGION`]), not once per region — CloudFront, and WAF's CLOUDFRONT scope.
    pub fn is_global(self) -> bool {
        self.spec().scope.global()
    }

    /// True when some of the service's resources are discovered in every region.
    pub fn is_regional(self) -> bool {
        self.spec().scope.regional()
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An AWS service an autosub client calls: what names its endpoint, its
/// `AWS_ENDPOINT_URL_<SERVICE>` variable and its VPC interface endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AwsService {
    /// STS (caller identity, assume-role).
    Sts,
    /// Lambda (forwarders' policies, function discovery).
    Lambda,
    /// S3 (buckets, notifications, an S3 ledger).
    S3,
    /// CloudWatch Logs (log groups, subscription filters).
    Logs,
    /// CloudFront (global).
    CloudFront,
    /// Classic ELB.
    Elb,
    /// ELBv2 (ALB/NLB).
    Elbv2,
    /// Redshift.
    Redshift,
    /// Step Functions.
    StepFunctions,
    /// WAFv2.
    Wafv2,
    /// API Gateway (REST).
    ApiGateway,
    /// API Gateway v2 (HTTP, WebSocket).
    ApiGatewayV2,
    /// Secrets Manager (the Datadog API key).
    SecretsManager,
    /// DynamoDB (the ledger and lease tables).
    DynamoDb,
    /// EC2 (DescribeRegions, for `aws.regions = ["all"]`).
    Ec2,
    /// Organizations (the member accounts of a fleet).
    Organizations,
    /// SQS (the `[events]` queue).
    Sqs,
    /// CloudTrail (trail discovery).
    CloudTrail,
}

impl AwsService {
    /// Every AWS service autosub calls.
    pub const ALL: [AwsService; 18] = [
        Self::Sts,
        Self::Lambda,
        Self::S3,
        Self::Logs,
        Self::CloudFront,
        Self::Elb,
        Self::Elbv2,
        Self::Redshift,
        Self::StepFunctions,
        Self::Wafv2,
        Self::ApiGateway,
        Self::ApiGatewayV2,
        Self::SecretsManager,
        Self::DynamoDb,
        Self::Ec2,
        Self::Organizations,
        Self::Sqs,
        Self::CloudTrail,
    ];

    /// The SDK's service id, which names its `AWS_ENDPOINT_URL_<SERVICE>` variable.
    pub fn service_id(self) -> &'static str {
        match self {
            Self::Sts => "STS",
            Self::Lambda => "Lambda",
            Self::S3 => "S3",
            Self::Logs => "CloudWatch Logs",
            Self::CloudFront => "CloudFront",
            Self::Elb => "Elastic Load Balancing",
            Self::Elbv2 => "Elastic Load Balancing v2",
            Self::Redshift => "Redshift",
            Self::StepFunctions => "SFN",
            Self::Wafv2 => "WAFV2",
            Self::ApiGateway => "API Gateway",
            Self::ApiGatewayV2 => "ApiGatewayV2",
            Self::SecretsManager => "Secrets Manager",
            Self::DynamoDb => "DynamoDB",
            Self::Ec2 => "EC2",
            Self::Organizations => "Organizations",
            Self::Sqs => "SQS",
            Self::CloudTrail => "CloudTrail",
        }
    }

    /// The environment variable that overrides this service's endpoint
    /// (`AWS_ENDPOINT_URL_CLOUDWATCH_LOGS`).
    pub fn endpoint_env_var(self) -> String {
        format!(
            "AWS_ENDPOINT_URL_{}",
            self.service_id()
                .to_ascii_uppercase()
                .replace([' ', '-'], "_")
        )
    }

    /// The host-name prefix of the service's public endpoint (`logs`, `states`, …), which is
    /// also the last part of its VPC interface endpoint's service name.
    pub fn endpoint_prefix(self) -> &'static str {
        match self {
            Self::Sts => "sts",
            Self::Lambda => "lambda",
            Self::S3 => "s3",
            Self::Logs => "logs",
            Self::CloudFront => "cloudfront",
            Self::Elb | Self::Elbv2 => "elasticloadbalancing",
            Self::Redshift => "redshift",
            Self::StepFunctions => "states",
            Self::Wafv2 => "wafv2",
            Self::ApiGateway | Self::ApiGatewayV2 => "apigateway",
            Self::SecretsManager => "secretsmanager",
            Self::DynamoDb => "dynamodb",
            Self::Ec2 => "ec2",
            Self::Organizations => "organizations",
            Self::Sqs => "sqs",
            Self::CloudTrail => "cloudtrail",
        }
    }

    /// True for services with one endpoint for every region (not the same as a global
    /// [`Service`]: WAF's CLOUDFRONT scope is asked at its regional endpoint in
    /// [`GLOBAL_LOG_REGION`]).
    pub fn has_one_endpoint(self) -> bool {
        matches!(self, Self::CloudFront)
    }

    /// The default (public) endpoint URL in `region`.
    pub fn default_url(self, region: &Region) -> String {
        let suffix = match Partition::of(region) {
            Partition::AwsCn => "amazonaws.com.cn",
            Partition::Aws | Partition::AwsUsGov => "amazonaws.com",
        };
        if self.has_one_endpoint() {
            format!("https://{}.{suffix}", self.endpoint_prefix())
        } else {
            format!("https://{}.{region}.{suffix}", self.endpoint_prefix())
        }
    }

    /// The VPC interface endpoint service that serves this service in `region`
    /// (`com.amazonaws.<region>.logs`), for the fix of an unreachable endpoint.
    pub fn vpc_endpoint_service(self, region: &Region) -> String {
        format!("com.amazonaws.{region}.{}", self.endpoint_prefix())
    }
}

impl fmt::Display for AwsService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.endpoint_prefix())?;
        if matches!(self, Self::Elbv2 | Self::ApiGatewayV2) {
            f.write_str("-v2")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_snake_case_and_match_the_serde_names() {
        let mut seen = std::collections::BTreeSet::new();
        for service in Service::ALL {
            let id = service.spec().id;
            assert!(seen.insert(id), "{id} twice");
            assert!(
                id.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                "{id}"
            );
            assert_eq!(
                serde_json::to_value(service).unwrap(),
                serde_json::json!(id),
                "the serde name of {service:?}"
            );
        }
    }

    #[test]
    fn every_service_writes_somewhere_and_calls_something() {
        for service in Service::ALL {
            let spec = service.spec();
            assert!(spec.writes_log_groups || spec.writes_buckets, "{service}");
            assert!(!spec.iam_actions.is_empty(), "{service}");
            assert!(!spec.endpoints.is_empty(), "{service}");
        }
    }

    #[test]
    fn the_global_services_are_cloudfront_and_waf_s_cloudfront_scope() {
        let global: Vec<Service> = Service::ALL.into_iter().filter(|s| s.is_global()).collect();
        assert_eq!(global, [Service::CloudFront, Service::Wafv2]);
        let regional: Vec<Service> = Service::ALL
            .into_iter()
            .filter(|s| !s.is_regional())
            .collect();
        assert_eq!(regional, [Service::CloudFront]);
    }

    #[test]
    fn aws_services_are_listed_once_with_distinct_sdk_ids() {
        let ids: std::collections::BTreeSet<&str> =
            AwsService::ALL.iter().map(|s| s.service_id()).collect();
        assert_eq!(ids.len(), AwsService::ALL.len());
        for service in Service::ALL {
            for aws in service.spec().endpoints {
                assert!(AwsService::ALL.contains(aws), "{service}: {aws}");
            }
        }
    }
}
