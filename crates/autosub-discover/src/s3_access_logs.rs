//! S3 server access logging: GetBucketLogging names a target bucket and prefix, which S3 requires
//! to be in the source bucket's region and account.

use async_trait::async_trait;
use autosub_aws::source_apis::Tags;
use autosub_core::selection::ResourceFilter;
use autosub_core::{BucketName, Discovery, Gap, Location, LogSource, Partition, Service};
use futures::{StreamExt, stream};

use crate::{DiscoverCx, Discoverer};

/// Discovers the access-log target of every bucket in the target's region.
pub struct S3AccessLogsDiscoverer;

#[async_trait]
impl Discoverer for S3AccessLogsDiscoverer {
    fn service(&self) -> Service {
        Service::S3AccessLogs
    }

    async fn discover(&self, cx: &DiscoverCx<'_>) -> Discovery {
        let gap = |detail: String| Gap {
            service: Service::S3AccessLogs,
            detail,
        };
        let buckets = match cx.apis.s3.list_buckets().await {
            Ok(buckets) => buckets,
            Err(e) => {
                return Discovery {
                    gaps: vec![gap(e.to_string())],
                    ..Discovery::default()
                };
            }
        };
        // A bucket belongs to the pass of its own region, so a fleet sees each source once.
        let filter = cx.filter(Service::S3AccessLogs);
        let filter = &filter;
        let results: Vec<Result<Option<LogSource>, String>> =
            stream::iter(buckets.into_iter().map(|b| b.name))
                .filter(|bucket| {
                    std::future::ready(
                        filter.needs_tags() || filter.admits(bucket.as_str(), &Tags::new()),
                    )
                })
                .map(|bucket| async move { source_of(cx, filter, bucket).await })
                .buffer_unordered(cx.concurrency)
                .collect()
                .await;
        let mut found = Discovery::default();
        for result in results {
            match result {
                Ok(Some(source)) => found.sources.push(source),
                Ok(None) => {}
                Err(detail) => found.gaps.push(gap(detail)),
            }
        }
        found.normalize()
    }
}

async fn source_of(
    cx: &DiscoverCx<'_>,
    filter: &ResourceFilter,
    bucket: BucketName,
) -> Result<Option<LogSource>, String> {
    let region = match cx.apis.s3.bucket_region(&bucket).await {
        Ok(region) => region,
        // Deleted between the listing and now: nothing to discover.
        Err(e) if e.class == autosub_aws::error::ErrorClass::NotFound => return Ok(None),
        Err(e) => return Err(format!("bucket {bucket}: {e}")),
    };
    if &region != cx.region {
        return Ok(None);
    }
    if filter.needs_tags() {
        let tags = cx
            .apis
            .s3
            .bucket_tags(&bucket, &region)
            .await
            .map_err(|e| format!("bucket {bucket}: {e}"))?;
        if !filter.admits(bucket.as_str(), &tags) {
            return Ok(None);
        }
    }
    match cx.apis.s3.access_log_target(&bucket, &region).await {
        Ok(Some(target)) => Ok(Some(LogSource {
            service: Service::S3AccessLogs,
            resource_arn: bucket.arn(Partition::of(&region)),
            location: Location::S3 {
                bucket: target.bucket,
                prefix: target.prefix,
            },
        })),
        Ok(None) => Ok(None),
        Err(e) if e.class == autosub_aws::error::ErrorClass::NotFound => Ok(None),
        Err(e) => Err(format!("bucket {bucket}: {e}")),
    }
}
