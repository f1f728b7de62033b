//! Remembers S3 answers that do not change within a run (the bucket list and bucket regions), so
//! discovery and observation, and the passes of several regions, ask S3 once.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use autosub_aws::apis::{AccessLogTarget, S3Api};
use autosub_aws::error::AwsError;
use autosub_aws::source_apis::Tags;
use autosub_core::{BucketName, NotificationConfig, Region};
use tokio::sync::OnceCell;

/// The answer for one bucket's region, shared by every pass that asks for it.
type RegionCell = Arc<OnceCell<Result<Region, AwsError>>>;

/// An [`S3Api`] that memoises `list_buckets` and `bucket_region` for its lifetime (one run).
/// Both are single-flight: passes that ask at the same time wait for the one call.
pub struct MemoS3 {
    inner: Arc<dyn S3Api>,
    buckets: OnceCell<Result<Vec<BucketName>, AwsError>>,
    regions: Mutex<BTreeMap<BucketName, RegionCell>>,
}

impl MemoS3 {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn S3Api>) -> Self {
        Self {
            inner,
            buckets: OnceCell::new(),
            regions: Mutex::new(BTreeMap::new()),
        }
    }
}

#[async_trait]
impl S3Api for MemoS3 {
    async fn list_buckets(&self) -> Result<Vec<BucketName>, AwsError> {
        self.buckets
            .get_or_init(|| self.inner.list_buckets())
            .await
            .clone()
    }

    async fn bucket_region(&self, bucket: &BucketName) -> Result<Region, AwsError> {
        let cell: RegionCell = {
            let mut regions = self
                .regions
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            Arc::clone(regions.entry(bucket.clone()).or_default())
        };
        cell.get_or_init(|| self.inner.bucket_region(bucket))
            .await
            .clone()
    }

    async fn access_log_target(
        &self,
        bucket: &BucketName,
        region: &Region,
    ) -> Result<Option<AccessLogTarget>, AwsError> {
        self.inner.access_log_target(bucket, region).await
    }

    async fn bucket_tags(&self, bucket: &BucketName, region: &Region) -> Result<Tags, AwsError> {
        self.inner.bucket_tags(bucket, region).await
    }

    async fn notification_config(
        &self,
        bucket: &BucketName,
        region: &Region,
    ) -> Result<NotificationConfig, AwsError> {
        self.inner.notification_config(bucket, region).await
    }

    async fn put_notification_config(
        &self,
        bucket: &BucketName,
        region: &Region,
        config: &NotificationConfig,
    ) -> Result<(), AwsError> {
        self.inner
            .put_notification_config(bucket, region, config)
            .await
    }
}
