//! Redshift provisioned clusters: DescribeLoggingStatus says whether audit logs go to an S3 bucket
//! and prefix or to CloudWatch Logs, one log group per exported log type.
//!
//! Redshift writes S3 audit logs to `<prefix>AWSLogs/<account>/redshift/<region>/…`. When the
//! configured prefix is empty or ends in `/` that key is certain, so the source is narrowed to it;
//! otherwise AWS does not settle whether a `/` is put between prefix and `AWSLogs/`, and the
//! configured prefix is kept as is (a prefix of every key either way).

use async_trait::async_trait;
use autosub_aws::source_apis::{RedshiftApi, RedshiftLogging};
use autosub_core::{AccountId, Discovery, Location, LogGroupName, Region, Service};

use crate::pipeline::Pipeline;
use crate::{DiscoverCx, Discoverer};

/// Discovers where every Redshift cluster in the target region writes its audit logs.
pub struct RedshiftDiscoverer;

#[async_trait]
impl Discoverer for RedshiftDiscoverer {
    fn service(&self) -> Service {
        Service::Redshift
    }

    async fn discover(&self, cx: &DiscoverCx<'_>) -> Discovery {
        discover_clusters(
            cx.apis.sources.redshift.as_ref(),
            &Pipeline::of(cx, Service::Redshift),
        )
        .await
    }
}

/// The discovery over any [`RedshiftApi`].
async fn discover_clusters(api: &dyn RedshiftApi, p: &Pipeline<'_>) -> Discovery {
    let clusters = match api.clusters().await {
        Ok(clusters) => clusters,
        Err(e) => return p.gap("clusters", e),
    };
    // DescribeClusters returns the tags, so the filter needs no extra calls.
    p.read_each(
        clusters
            .into_iter()
            .filter(|c| p.selects(&c.resource.name, &c.resource.arn, Some(&c.tags)))
            .collect(),
        |c| format!("cluster {}", c.resource.name),
        |c| async move {
            let logging = api.logging(&c.resource.name).await?;
            let locations = locations_of(&c.resource.name, &logging, p.account(), p.region());
            Ok(p.sources(&c.resource.arn, locations))
        },
    )
    .await
}

/// Where a cluster's audit logs land.
pub fn locations_of(
    cluster_id: &str,
    logging: &RedshiftLogging,
    account: &AccountId,
    region: &Region,
) -> Vec<Location> {
    match logging {
        RedshiftLogging::Off => Vec::new(),
        RedshiftLogging::S3(target) => vec![Location::S3 {
            bucket: target.bucket.clone(),
            prefix: audit_log_prefix(&target.prefix, account, region),
        }],
        RedshiftLogging::CloudWatch { log_exports } => log_exports
            .iter()
            .map(|log_type| Location::LogGroup {
                name: LogGroupName::new(format!("/aws/redshift/cluster/{cluster_id}/{log_type}")),
            })
            .collect(),
    }
}

/// The key prefix of a cluster's S3 audit logs (see the module docs on when it is narrowed).
pub fn audit_log_prefix(prefix: &str, account: &AccountId, region: &Region) -> String {
    if prefix.is_empty() || prefix.ends_with('/') {
        format!("{prefix}AWSLogs/{account}/redshift/{region}/")
    } else {
        prefix.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use autosub_aws::apis::AccessLogTarget;
    use autosub_aws::error::AwsError;
    use autosub_aws::source_apis::{Resource, TaggedResource, Tags};
    use autosub_core::BucketName;

    use super::*;
    use crate::testing::{ACCOUNT, assert_denied_gap, denied, run};

    const REGION: &str = "eu-west-1";

    fn s3(bucket: &str, prefix: &str) -> Location {
        Location::S3 {
            bucket: BucketName::new(bucket),
            prefix: prefix.to_owned(),
        }
    }

    fn group(name: &str) -> Location {
        Location::LogGroup {
            name: LogGroupName::new(name),
        }
    }

    #[test]
    fn logging_settings_map_to_locations() {
        let to_s3 = |prefix: &str| {
            RedshiftLogging::S3(AccessLogTarget {
                bucket: BucketName::new("audit"),
                prefix: prefix.to_owned(),
            })
        };
        let cases = [
            (RedshiftLogging::Off, vec![]),
            (
                to_s3(""),
                vec![s3("audit", "AWSLogs/123456789012/redshift/eu-west-1/")],
            ),
            (
                to_s3("dw/"),
                vec![s3("audit", "dw/AWSLogs/123456789012/redshift/eu-west-1/")],
            ),
            // Whether Redshift adds a `/` after `dw` is unsettled: keep the prefix.
            (to_s3("dw"), vec![s3("audit", "dw")]),
            (
                RedshiftLogging::CloudWatch {
                    log_exports: vec![],
                },
                vec![],
            ),
            (
                RedshiftLogging::CloudWatch {
                    log_exports: vec!["connectionlog".into(), "useractivitylog".into()],
                },
                vec![
                    group("/aws/redshift/cluster/dw-1/connectionlog"),
                    group("/aws/redshift/cluster/dw-1/useractivitylog"),
                ],
            ),
        ];
        for (logging, want) in cases {
            assert_eq!(
                locations_of(
                    "dw-1",
                    &logging,
                    &AccountId::new(ACCOUNT),
                    &Region::new(REGION)
                ),
                want,
                "{logging:?}"
            );
        }
    }

    /// A RedshiftApi that lists one cluster and fails the way it is told.
    struct FakeRedshift {
        listing: Option<AwsError>,
        logging: Result<RedshiftLogging, AwsError>,
    }

    #[async_trait]
    impl RedshiftApi for FakeRedshift {
        async fn clusters(&self) -> Result<Vec<TaggedResource>, AwsError> {
            match &self.listing {
                Some(e) => Err(e.clone()),
                None => Ok(vec![TaggedResource {
                    resource: Resource {
                        arn: format!("arn:aws:redshift:{REGION}:{ACCOUNT}:cluster:dw-1"),
                        name: "dw-1".into(),
                    },
                    tags: Tags::new(),
                }]),
            }
        }

        async fn logging(&self, _cluster_id: &str) -> Result<RedshiftLogging, AwsError> {
            self.logging.clone()
        }
    }

    #[test]
    fn access_denied_is_a_gap_and_no_source() {
        let on = RedshiftLogging::CloudWatch {
            log_exports: vec!["userlog".into()],
        };
        for (fake, naming) in [
            (
                FakeRedshift {
                    listing: Some(denied("redshift:DescribeClusters")),
                    logging: Ok(on),
                },
                "clusters: ",
            ),
            (
                FakeRedshift {
                    listing: None,
                    logging: Err(denied("redshift:DescribeLoggingStatus")),
                },
                "cluster dw-1: ",
            ),
        ] {
            let found = run(Service::Redshift, REGION, &fake, |api, p| {
                Box::pin(discover_clusters(api, p))
            });
            assert_denied_gap(&found, Service::Redshift, naming);
        }
    }
}
