//! Remembers S3 answers that do not change within a run (the bucket list and bucket regions), so
//! discovery and observation, and the passes of several regions, ask S3 once; a region the
//! listing named costs no call at all.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use autosub_aws::apis::{AccessLogTarget, ListedBucket, S3Api};
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
    buckets: OnceCell<Result<Vec<ListedBucket>, AwsError>>,
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
    async fn list_buckets(&self) -> Result<Vec<ListedBucket>, AwsError> {
        // Sorted by name, for `bucket_region`'s lookup.
        let sorted = || async {
            let mut listing = self.inner.list_buckets().await?;
            listing.sort();
            Ok(listing)
        };
        self.buckets.get_or_init(sorted).await.clone()
    }

    /// From the bucket listing when it was made and named the region, else HeadBucket.
    async fn bucket_region(&self, bucket: &BucketName) -> Result<Region, AwsError> {
        let listed = self.buckets.get().and_then(|listing| {
            let listing = listing.as_ref().ok()?;
            let at = listing.binary_search_by(|b| b.name.cmp(bucket)).ok()?;
            listing[at].region.clone()
        });
        if let Some(region) = listed {
            return Ok(region);
        }
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// Lists `eu-bucket` with its region and `other` without; counts HeadBucket calls.
    #[derive(Default)]
    struct Listing {
        heads: AtomicUsize,
    }

    #[async_trait]
    impl S3Api for Listing {
        async fn list_buckets(&self) -> Result<Vec<ListedBucket>, AwsError> {
            Ok(vec![
                ListedBucket {
                    name: BucketName::new("other"),
                    region: None,
                },
                ListedBucket {
                    name: BucketName::new("eu-bucket"),
                    region: Some(Region::new("eu-west-1")),
                },
            ])
        }
        async fn bucket_region(&self, _: &BucketName) -> Result<Region, AwsError> {
            self.heads.fetch_add(1, Ordering::SeqCst);
            Ok(Region::new("us-east-1"))
        }
        async fn access_log_target(
            &self,
            _: &BucketName,
            _: &Region,
        ) -> Result<Option<AccessLogTarget>, AwsError> {
            unreachable!("not asked by this test")
        }
        async fn bucket_tags(&self, _: &BucketName, _: &Region) -> Result<Tags, AwsError> {
            unreachable!("not asked by this test")
        }
        async fn notification_config(
            &self,
            _: &BucketName,
            _: &Region,
        ) -> Result<NotificationConfig, AwsError> {
            unreachable!("not asked by this test")
        }
        async fn put_notification_config(
            &self,
            _: &BucketName,
            _: &Region,
            _: &NotificationConfig,
        ) -> Result<(), AwsError> {
            unreachable!("not asked by this test")
        }
    }

    #[tokio::test]
    async fn a_region_the_listing_named_costs_no_head_bucket() {
        let inner = Arc::new(Listing::default());
        let memo = MemoS3::new(Arc::clone(&inner) as Arc<dyn S3Api>);
        let eu = BucketName::new("eu-bucket");
        // Before the listing, HeadBucket answers (and is remembered).
        assert_eq!(
            memo.bucket_region(&BucketName::new("early")).await.unwrap(),
            Region::new("us-east-1")
        );
        assert_eq!(memo.list_buckets().await.unwrap().len(), 2);
        assert_eq!(
            memo.bucket_region(&eu).await.unwrap(),
            Region::new("eu-west-1")
        );
        assert_eq!(
            memo.bucket_region(&BucketName::new("other")).await.unwrap(),
            Region::new("us-east-1")
        );
        assert_eq!(
            inner.heads.load(Ordering::SeqCst),
            2,
            "early and other, not eu-bucket"
        );
    }
}
