//! [`RedshiftApi`] on the AWS SDK: DescribeClusters (tags included) and DescribeLoggingStatus.

use async_trait::async_trait;
use autosub_core::{BucketName, Partition};
use aws_sdk_redshift::types::LogDestinationType;

use crate::apis::AccessLogTarget;
use crate::clients::Target;
use crate::error::{AwsError, ErrorClass};
use crate::sdk_error::aws_error;
use crate::source_apis::{RedshiftApi, RedshiftLogging, Resource, TaggedResource, Tags};

const DESCRIBE_LOGGING_STATUS: &str = "redshift:DescribeLoggingStatus";

/// RedshiftApi through the SDK, in the target's region.
pub(crate) struct SdkRedshift {
    target: Target,
}

impl SdkRedshift {
    pub(crate) fn new(target: Target) -> Self {
        Self { target }
    }

    fn client(&self) -> aws_sdk_redshift::Client {
        self.target
            .clients
            .redshift(&self.target.account, &self.target.region)
    }

    /// DescribeClusters returns no cluster ARN; this is the documented form.
    fn cluster_arn(&self, id: &str) -> String {
        format!(
            "arn:{}:redshift:{}:{}:cluster:{id}",
            Partition::of(&self.target.region).as_str(),
            self.target.region,
            self.target.account
        )
    }
}

#[async_trait]
impl RedshiftApi for SdkRedshift {
    async fn clusters(&self) -> Result<Vec<TaggedResource>, AwsError> {
        let mut pages = self.client().describe_clusters().into_paginator().send();
        let mut clusters = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| aws_error("redshift:DescribeClusters", e))?;
            for cluster in page.clusters() {
                let Some(id) = cluster.cluster_identifier() else {
                    continue;
                };
                let tags: Tags = cluster
                    .tags()
                    .iter()
                    .filter_map(|t| {
                        Some((
                            t.key()?.to_owned(),
                            t.value().unwrap_or_default().to_owned(),
                        ))
                    })
                    .collect();
                clusters.push(TaggedResource {
                    resource: Resource {
                        arn: self.cluster_arn(id),
                        name: id.to_owned(),
                    },
                    tags,
                });
            }
        }
        Ok(clusters)
    }

    async fn logging(&self, cluster_id: &str) -> Result<RedshiftLogging, AwsError> {
        let out = self
            .client()
            .describe_logging_status()
            .cluster_identifier(cluster_id)
            .send()
            .await
            .map_err(|e| aws_error(DESCRIBE_LOGGING_STATUS, e))?;
        logging_of(&LoggingStatus {
            enabled: out.logging_enabled().unwrap_or(false),
            bucket: out.bucket_name(),
            prefix: out.s3_key_prefix(),
            destination: out.log_destination_type(),
            exports: out.log_exports(),
        })
        .map_err(|message| AwsError {
            class: ErrorClass::Fatal,
            operation: DESCRIBE_LOGGING_STATUS,
            code: None,
            message: message.to_owned(),
        })
    }
}

/// The fields of a DescribeLoggingStatus reply that say where logs go.
struct LoggingStatus<'a> {
    enabled: bool,
    bucket: Option<&'a str>,
    prefix: Option<&'a str>,
    destination: Option<&'a LogDestinationType>,
    exports: &'a [String],
}

/// Where the reply says logs go. Disabling logging leaves the old bucket in the reply, so
/// `LoggingEnabled` decides first; an absent destination type is S3 (the API before CloudWatch
/// export existed). Enabled without a bucket or log group cannot be read as anywhere: an error.
fn logging_of(status: &LoggingStatus<'_>) -> Result<RedshiftLogging, &'static str> {
    if !status.enabled {
        return Ok(RedshiftLogging::Off);
    }
    if status.destination == Some(&LogDestinationType::Cloudwatch) {
        return Ok(RedshiftLogging::CloudWatch {
            log_exports: status.exports.to_vec(),
        });
    }
    match status.bucket.filter(|b| !b.is_empty()) {
        Some(bucket) => Ok(RedshiftLogging::S3(AccessLogTarget {
            bucket: BucketName::new(bucket),
            prefix: status.prefix.unwrap_or_default().to_owned(),
        })),
        None => Err(
            "audit logging is enabled but the reply names no bucket and no cloudwatch destination",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status<'a>(
        enabled: bool,
        bucket: Option<&'a str>,
        destination: Option<&'a LogDestinationType>,
        exports: &'a [String],
    ) -> LoggingStatus<'a> {
        LoggingStatus {
            enabled,
            bucket,
            prefix: Some("audit/"),
            destination,
            exports,
        }
    }

    #[test]
    fn logging_status_maps_to_where_logs_go() {
        let exports = vec!["connectionlog".to_owned(), "userlog".to_owned()];
        let s3 = LogDestinationType::S3;
        let cw = LogDestinationType::Cloudwatch;
        let unknown = LogDestinationType::from("");
        let to_bucket = Ok(RedshiftLogging::S3(AccessLogTarget {
            bucket: BucketName::new("logs"),
            prefix: "audit/".to_owned(),
        }));
        let cases: Vec<(LoggingStatus<'_>, Result<RedshiftLogging, &str>)> = vec![
            // Disabled: the stale bucket of an earlier configuration does not count.
            (
                status(false, Some("logs"), Some(&s3), &[]),
                Ok(RedshiftLogging::Off),
            ),
            (
                status(false, None, Some(&cw), &exports),
                Ok(RedshiftLogging::Off),
            ),
            (
                status(true, Some("logs"), Some(&s3), &[]),
                to_bucket.clone(),
            ),
            (status(true, Some("logs"), None, &[]), to_bucket.clone()),
            (status(true, Some("logs"), Some(&unknown), &[]), to_bucket),
            (
                status(true, Some(""), Some(&cw), &exports),
                Ok(RedshiftLogging::CloudWatch {
                    log_exports: exports.clone(),
                }),
            ),
            (status(true, None, Some(&s3), &[]), Err("")),
            (status(true, Some(""), None, &[]), Err("")),
        ];
        for (input, want) in cases {
            let got = logging_of(&input);
            match want {
                Ok(want) => assert_eq!(got, Ok(want)),
                Err(_) => assert!(got.is_err(), "{got:?}"),
            }
        }
        let no_prefix = LoggingStatus {
            prefix: None,
            ..status(true, Some("logs"), None, &[])
        };
        assert_eq!(
            logging_of(&no_prefix),
            Ok(RedshiftLogging::S3(AccessLogTarget {
                bucket: BucketName::new("logs"),
                prefix: String::new(),
            }))
        );
    }
}
