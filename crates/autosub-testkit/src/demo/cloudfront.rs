//! CloudFront in the demo estate, and the seeders tests use to build their own distributions.
//!
//! The demo slice (see [`seed`]); CloudFront is global, its log buckets are not:
//! - `demo-www` (tag `team=web`) logs to `demo-cdn-logs` (us-east-1), prefix `cloudfront/www/`,
//!   named `demo-cdn-logs.s3.amazonaws.com` as CloudFront writes it.
//! - `demo-eu-shop` logs to `demo-eu-cdn-logs` (eu-west-1), prefix `cloudfront/shop/`, named in the
//!   regional form `demo-eu-cdn-logs.s3.eu-west-1.amazonaws.com`.
//! - `demo-static` does not log.
//!
//! Distributions are found by their caller reference (the comment), so seeding is re-runnable. CloudFront's standard
//! logging only writes to S3: there is no Firehose case to seed.

use aws_config::SdkConfig;
use aws_sdk_cloudfront as cloudfront;
use aws_sdk_cloudfront::types::{
    DefaultCacheBehavior, DistributionConfig, DistributionConfigWithTags, LoggingConfig, Origin,
    Origins, S3OriginConfig, Tag, Tags, ViewerProtocolPolicy,
};

use crate::estate::{Clients, SeedError, create_bucket, seed_err};
use crate::moto_account::moto_client;

/// The region CloudFront's control plane answers in.
const CLOUDFRONT_REGION: &str = "us-east-1";

/// A CloudFront client for `account` (always us-east-1) from an SDK config that points at moto.
pub fn cloudfront_client(sdk: &SdkConfig, account: &str) -> cloudfront::Client {
    moto_client!(cloudfront, sdk, account, CLOUDFRONT_REGION)
}

/// A distribution to create with [`create_distribution`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DistributionSpec {
    /// The comment, which seeding uses as the distribution's name.
    pub comment: String,
    /// `Logging.Enabled`.
    pub logging_enabled: bool,
    /// `Logging.Bucket`, as CloudFront takes it (`name.s3.amazonaws.com`).
    pub logging_bucket: String,
    /// `Logging.Prefix`.
    pub logging_prefix: String,
    /// Tags, key → value.
    pub tags: Vec<(String, String)>,
}

impl DistributionSpec {
    /// A distribution that does not log.
    pub fn new(comment: &str) -> DistributionSpec {
        DistributionSpec {
            comment: comment.to_owned(),
            ..DistributionSpec::default()
        }
    }

    /// Logging on, into the bucket named by its S3 domain, under `prefix`.
    pub fn logging(mut self, bucket_domain: &str, prefix: &str) -> DistributionSpec {
        self.logging_enabled = true;
        self.logging_bucket = bucket_domain.to_owned();
        self.logging_prefix = prefix.to_owned();
        self
    }

    /// Adds a tag.
    pub fn tag(mut self, key: &str, value: &str) -> DistributionSpec {
        self.tags.push((key.to_owned(), value.to_owned()));
        self
    }
}

/// A distribution as created: its id and ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeededDistribution {
    /// The distribution id.
    pub id: String,
    /// The distribution ARN.
    pub arn: String,
}

/// Creates a distribution (or finds the one created with the same comment, which is also its
/// caller reference) with an S3 origin.
pub async fn create_distribution(
    client: &cloudfront::Client,
    spec: &DistributionSpec,
) -> Result<SeededDistribution, SeedError> {
    let name = spec.comment.as_str();
    // The caller reference is the name; moto's listing leaves comments out, so read each config.
    let listed = client
        .list_distributions()
        .send()
        .await
        .map_err(seed_err("list distributions", name))?;
    for d in listed
        .distribution_list()
        .map(|l| l.items())
        .unwrap_or_default()
    {
        let config = client
            .get_distribution_config()
            .id(d.id())
            .send()
            .await
            .map_err(seed_err("get distribution config", d.id()))?;
        if config
            .distribution_config()
            .is_some_and(|c| c.caller_reference() == name)
        {
            return Ok(SeededDistribution {
                id: d.id().to_owned(),
                arn: d.arn().to_owned(),
            });
        }
    }
    let origin_id = format!("{name}-origin");
    let origin = Origin::builder()
        .id(&origin_id)
        .domain_name(format!("{name}-origin.s3.amazonaws.com"))
        .s3_origin_config(S3OriginConfig::builder().origin_access_identity("").build())
        .build()
        .map_err(seed_err("build origin", name))?;
    let config = DistributionConfig::builder()
        .caller_reference(name)
        .comment(name)
        .enabled(true)
        .origins(
            Origins::builder()
                .quantity(1)
                .items(origin)
                .build()
                .map_err(seed_err("build origins", name))?,
        )
        .default_cache_behavior(
            DefaultCacheBehavior::builder()
                .target_origin_id(&origin_id)
                .viewer_protocol_policy(ViewerProtocolPolicy::RedirectToHttps)
                .build()
                .map_err(seed_err("build cache behavior", name))?,
        )
        .logging(
            LoggingConfig::builder()
                .enabled(spec.logging_enabled)
                .include_cookies(false)
                .bucket(&spec.logging_bucket)
                .prefix(&spec.logging_prefix)
                .build(),
        )
        .build()
        .map_err(seed_err("build distribution config", name))?;
    let tags = spec
        .tags
        .iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect::<Result<Vec<_>, _>>()
        .map_err(seed_err("build tags", name))?;
    let out = client
        .create_distribution_with_tags()
        .distribution_config_with_tags(
            DistributionConfigWithTags::builder()
                .distribution_config(config)
                .tags(Tags::builder().set_items(Some(tags)).build())
                .build(),
        )
        .send()
        .await
        .map_err(seed_err("create distribution", name))?;
    let distribution = out.distribution().ok_or_else(|| SeedError {
        action: "create distribution",
        resource: name.to_owned(),
        source: "the reply names no distribution".into(),
    })?;
    Ok(SeededDistribution {
        id: distribution.id().to_owned(),
        arn: distribution.arn().to_owned(),
    })
}

/// Seeds the CloudFront slice of the demo estate (see the module docs) for `account`.
pub async fn seed(sdk: &SdkConfig, account: &str) -> Result<(), SeedError> {
    let us = Clients::new(sdk, account, "us-east-1");
    let eu = Clients::new(sdk, account, "eu-west-1");
    create_bucket(&us, "demo-cdn-logs").await?;
    create_bucket(&eu, "demo-eu-cdn-logs").await?;
    let client = cloudfront_client(sdk, account);
    for spec in [
        DistributionSpec::new("demo-www")
            .logging("demo-cdn-logs.s3.amazonaws.com", "cloudfront/www/")
            .tag("team", "web"),
        DistributionSpec::new("demo-eu-shop").logging(
            "demo-eu-cdn-logs.s3.eu-west-1.amazonaws.com",
            "cloudfront/shop/",
        ),
        DistributionSpec::new("demo-static"),
    ] {
        create_distribution(&client, &spec).await?;
    }
    Ok(())
}
