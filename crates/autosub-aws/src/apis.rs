//! Narrow, per-service capabilities in domain types. Discoverers and trigger backends depend on
//! these traits only, so they can run against the SDK (moto in tests, AWS in production) or an
//! in-memory fake.

use std::sync::Arc;

use async_trait::async_trait;
use autosub_core::account_policy::AccountPolicy;
use autosub_core::{
    BucketName, FunctionArn, InvokePermission, LogGroupClass, LogGroupName, NotificationConfig,
    Region, SecretArn, SubscriptionFilter,
};

use crate::error::AwsError;
pub use crate::source_apis::AccessLogTarget;
use crate::source_apis::{SourceApis, Tags};

/// The capabilities for one target (account × region), as the factory hands them out.
#[derive(Clone)]
pub struct TargetApis {
    /// S3 (bucket calls go to each bucket's region).
    pub s3: Arc<dyn S3Api>,
    /// CloudWatch Logs in the target region.
    pub logs: Arc<dyn LogsApi>,
    /// Lambda (function calls go to each function's region).
    pub lambda: Arc<dyn LambdaApi>,
    /// The services whose resources write logs, for the discoverers.
    pub sources: SourceApis,
}

/// A Lambda function as discovery needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FunctionInfo {
    /// The unqualified function ARN.
    pub arn: FunctionArn,
    /// `LoggingConfig.LogGroup`, when the function logs to a custom group.
    pub custom_log_group: Option<LogGroupName>,
}

/// A bucket as ListBuckets names it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ListedBucket {
    /// Its name.
    pub name: BucketName,
    /// Its region, when the listing said (S3 does when asked for pages; moto does not).
    pub region: Option<Region>,
}

/// S3 capabilities. Calls that act on one bucket take the bucket's region so the request goes to
/// the right regional endpoint.
#[async_trait]
pub trait S3Api: Send + Sync {
    /// Every bucket of the account (ListBuckets, all pages).
    async fn list_buckets(&self) -> Result<Vec<ListedBucket>, AwsError>;
    /// The bucket's region (HeadBucket's `x-amz-bucket-region`); `NotFound` when it is gone.
    async fn bucket_region(&self, bucket: &BucketName) -> Result<Region, AwsError>;
    /// The bucket's server access logging target, `None` when logging is off.
    async fn access_log_target(
        &self,
        bucket: &BucketName,
        region: &Region,
    ) -> Result<Option<AccessLogTarget>, AwsError>;
    /// The bucket's tags (GetBucketTagging); none when it has no tag set.
    async fn bucket_tags(&self, bucket: &BucketName, region: &Region) -> Result<Tags, AwsError>;
    /// The bucket's whole notification configuration.
    async fn notification_config(
        &self,
        bucket: &BucketName,
        region: &Region,
    ) -> Result<NotificationConfig, AwsError>;
    /// Replaces the bucket's whole notification configuration (filter rule names are written
    /// lowercase, which S3 treats the same as the `Prefix`/`Suffix` it returns).
    async fn put_notification_config(
        &self,
        bucket: &BucketName,
        region: &Region,
        config: &NotificationConfig,
    ) -> Result<(), AwsError>;
}

/// CloudWatch Logs capabilities in one region.
#[async_trait]
pub trait LogsApi: Send + Sync {
    /// Every log group of the region with its class (DescribeLogGroups, all pages): one sweep
    /// finds both the groups to subscribe and those still holding our filter.
    async fn log_groups(&self) -> Result<Vec<(LogGroupName, LogGroupClass)>, AwsError>;
    /// One log group's class, `None` when it does not exist (one DescribeLogGroups by prefix:
    /// the exact name sorts first among the names it prefixes). A targeted pass asks this
    /// instead of listing the region.
    async fn log_group(&self, name: &LogGroupName) -> Result<Option<LogGroupClass>, AwsError>;
    /// The subscription filters of a log group (all pages); `NotFound` when it does not exist.
    async fn subscription_filters(
        &self,
        group: &LogGroupName,
    ) -> Result<Vec<SubscriptionFilter>, AwsError>;
    /// Creates or updates the filter called `filter.name`; `LimitExceeded` means no free slot.
    async fn put_subscription_filter(
        &self,
        group: &LogGroupName,
        filter: &SubscriptionFilter,
    ) -> Result<(), AwsError>;
    /// Deletes a filter; `NotFound` when it (or the group) is already gone.
    async fn delete_subscription_filter(
        &self,
        group: &LogGroupName,
        filter_name: &str,
    ) -> Result<(), AwsError>;
    /// The account's subscription filter policies in the region (DescribeAccountPolicies).
    async fn account_policies(&self) -> Result<Vec<AccountPolicy>, AwsError>;
    /// Creates or replaces the subscription filter policy called `policy.name`, scope `ALL`.
    async fn put_account_policy(&self, policy: &AccountPolicy) -> Result<(), AwsError>;
    /// Deletes a subscription filter policy; `NotFound` when it is already gone.
    async fn delete_account_policy(&self, name: &str) -> Result<(), AwsError>;
}

/// Lambda capabilities. Calls on one function go to the function's own region.
#[async_trait]
pub trait LambdaApi: Send + Sync {
    /// Every function in the region (ListFunctions, all pages).
    async fn functions(&self) -> Result<Vec<FunctionInfo>, AwsError>;
    /// The function's tags (ListTags).
    async fn tags(&self, function: &FunctionArn) -> Result<Tags, AwsError>;
    /// The function's resource policy JSON; `Ok(None)` when the function exists without a policy,
    /// `NotFound` when the function does not exist.
    async fn policy(&self, function: &FunctionArn) -> Result<Option<String>, AwsError>;
    /// Adds a statement; `Conflict` when its statement id is taken.
    async fn add_permission(
        &self,
        function: &FunctionArn,
        permission: &InvokePermission,
    ) -> Result<(), AwsError>;
    /// Removes a statement; `NotFound` when it is already gone.
    async fn remove_permission(
        &self,
        function: &FunctionArn,
        statement_id: &str,
    ) -> Result<(), AwsError>;
}

/// Secrets Manager capabilities: reading a secret's text in the secret's own region.
#[async_trait]
pub trait SecretsApi: Send + Sync {
    /// The secret's `SecretString` (GetSecretValue, current version); `NotFound` when there is no
    /// such secret, `Invalid` when it holds binary data.
    async fn secret_string(&self, secret: &SecretArn) -> Result<String, AwsError>;
}
