//! S3 server access logging: GetBucketLogging names a target bucket and prefix, which S3 requires
//! to be in the source bucket's region and account.

use async_trait::async_trait;
use autosub_core::{Discovery, Location, Partition, Service};

use crate::pipeline::Pipeline;
use crate::{DiscoverCx, Discoverer};

/// Discovers the access-log target of every bucket in the target's region.
pub struct S3AccessLogsDiscoverer;

#[async_trait]
impl Discoverer for S3AccessLogsDiscoverer {
    fn service(&self) -> Service {
        Service::S3AccessLogs
    }

    async fn discover(&self, cx: &DiscoverCx<'_>) -> Discovery {
        let p = &Pipeline::of(cx, Service::S3AccessLogs);
        let s3 = cx.apis.s3.as_ref();
        let buckets = match s3.list_buckets().await {
            Ok(buckets) => buckets,
            Err(e) => return p.gap("buckets", e),
        };
        p.read_each(
            p.by_name(
                buckets,
                |b| b.name.as_str(),
                |b| b.name.arn(Partition::of(p.region())),
            ),
            |b| format!("bucket {}", b.name),
            |b| async move {
                let bucket = &b.name;
                // A bucket belongs to the pass of its own region, so a fleet sees each source
                // once.
                let region = s3.bucket_region(bucket).await?;
                if &region != p.region()
                    || !p
                        .admits(bucket.as_str(), || s3.bucket_tags(bucket, &region))
                        .await?
                {
                    return Ok(Discovery::default());
                }
                let target = s3.access_log_target(bucket, &region).await?;
                Ok(p.sources(
                    &bucket.arn(Partition::of(&region)),
                    target.map(|target| Location::S3 {
                        bucket: target.bucket,
                        prefix: target.prefix,
                    }),
                ))
            },
        )
        .await
    }
}
