//! [`S3Api`] on the AWS SDK, and the lossless mapping of notification configurations.

use async_trait::async_trait;
use autosub_core::{
    BucketName, DestinationKind, FilterRule, NotificationConfig, NotificationEntry, Region,
};
use aws_sdk_s3::types::{
    Event, EventBridgeConfiguration, FilterRuleName, LambdaFunctionConfiguration,
    NotificationConfiguration, NotificationConfigurationFilter, QueueConfiguration, S3KeyFilter,
    TopicConfiguration,
};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_types::error::operation::BuildError;

use crate::apis::{AccessLogTarget, ListedBucket, S3Api};
use crate::clients::Target;
use crate::error::{AwsError, ErrorClass};
use crate::sdk_error::aws_error;
use crate::source_apis::Tags;

/// The header S3 names a bucket's region in, on HeadBucket replies and on its errors.
const BUCKET_REGION_HEADER: &str = "x-amz-bucket-region";

/// S3 through the SDK; bucket calls use the client of the bucket's region.
pub(crate) struct SdkS3 {
    target: Target,
}

impl SdkS3 {
    pub(crate) fn new(target: Target) -> Self {
        Self { target }
    }

    fn client(&self, region: &Region) -> aws_sdk_s3::Client {
        self.target.clients.s3(&self.target.account, region)
    }

    /// `ExpectedBucketOwner` of every call on a bucket's configuration: S3 refuses it (403) when
    /// another account owns the bucket, so nothing is ever read from or written to a bucket
    /// that is not the target account's. HeadBucket, which only resolves a bucket's region,
    /// goes without it.
    fn owner(&self) -> &str {
        self.target.account.as_str()
    }
}

#[async_trait]
impl S3Api for SdkS3 {
    async fn list_buckets(&self) -> Result<Vec<ListedBucket>, AwsError> {
        // With a page size, S3 paginates and names each bucket's region (BucketRegion), which
        // spares a HeadBucket per bucket; 10,000 is the largest page it serves.
        let mut pages = self
            .client(&self.target.region)
            .list_buckets()
            .max_buckets(10_000)
            .into_paginator()
            .send();
        let mut buckets = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| aws_error("s3:ListBuckets", e))?;
            buckets.extend(page.buckets().iter().filter_map(|b| {
                Some(ListedBucket {
                    name: BucketName::new(b.name()?),
                    region: b.bucket_region().map(Region::new),
                })
            }));
        }
        Ok(buckets)
    }

    async fn bucket_region(&self, bucket: &BucketName) -> Result<Region, AwsError> {
        const OP: &str = "s3:HeadBucket";
        let reply = self
            .client(&self.target.region)
            .head_bucket()
            .bucket(bucket.as_str())
            .send()
            .await;
        match reply {
            Ok(out) => match out.bucket_region() {
                Some(region) => Ok(Region::new(region)),
                // S3 always sends the header; an emulator or proxy that drops it is a setup error.
                None => Err(AwsError {
                    class: ErrorClass::Fatal,
                    operation: OP,
                    code: None,
                    message: format!("HeadBucket on {bucket} answered without x-amz-bucket-region"),
                }),
            },
            Err(err) => match region_of_refusal(err.raw_response()) {
                Some(region) => Ok(region),
                None => Err(aws_error(OP, err)),
            },
        }
    }

    async fn access_log_target(
        &self,
        bucket: &BucketName,
        region: &Region,
    ) -> Result<Option<AccessLogTarget>, AwsError> {
        let out = self
            .client(region)
            .get_bucket_logging()
            .bucket(bucket.as_str())
            .expected_bucket_owner(self.owner())
            .send()
            .await
            .map_err(|e| aws_error("s3:GetBucketLogging", e))?;
        Ok(out.logging_enabled().map(|l| AccessLogTarget {
            bucket: BucketName::new(l.target_bucket()),
            prefix: l.target_prefix().to_owned(),
        }))
    }

    async fn bucket_tags(&self, bucket: &BucketName, region: &Region) -> Result<Tags, AwsError> {
        let reply = self
            .client(region)
            .get_bucket_tagging()
            .bucket(bucket.as_str())
            .expected_bucket_owner(self.owner())
            .send()
            .await;
        match reply {
            Ok(out) => Ok(out
                .tag_set()
                .iter()
                .map(|t| (t.key().to_owned(), t.value().to_owned()))
                .collect()),
            // A bucket without tags answers NoSuchTagSet rather than an empty set.
            Err(e)
                if e.as_service_error().and_then(|s| s.meta().code()) == Some("NoSuchTagSet") =>
            {
                Ok(Tags::new())
            }
            Err(e) => Err(aws_error("s3:GetBucketTagging", e)),
        }
    }

    async fn notification_config(
        &self,
        bucket: &BucketName,
        region: &Region,
    ) -> Result<NotificationConfig, AwsError> {
        let reply = self
            .client(region)
            .get_bucket_notification_configuration()
            .bucket(bucket.as_str())
            .expected_bucket_owner(self.owner())
            .send()
            .await;
        let out = match reply {
            Ok(out) => out,
            Err(err) if is_empty_document(err.raw_response()) => {
                // moto answers an empty configuration with a differently named root element the
                // SDK rejects; a successful reply without any entry element is "no entries".
                return Ok(NotificationConfig::default());
            }
            Err(err) => return Err(aws_error("s3:GetBucketNotificationConfiguration", err)),
        };
        Ok(from_sdk(
            out.topic_configurations(),
            out.queue_configurations(),
            out.lambda_function_configurations(),
            out.event_bridge_configuration().is_some(),
        ))
    }

    async fn put_notification_config(
        &self,
        bucket: &BucketName,
        region: &Region,
        config: &NotificationConfig,
    ) -> Result<(), AwsError> {
        const OP: &str = "s3:PutBucketNotificationConfiguration";
        let sdk_config = to_sdk(config).map_err(|e| AwsError {
            class: ErrorClass::Invalid,
            operation: OP,
            code: None,
            message: e.to_string(),
        })?;
        self.client(region)
            .put_bucket_notification_configuration()
            .bucket(bucket.as_str())
            .expected_bucket_owner(self.owner())
            .notification_configuration(sdk_config)
            .send()
            .await
            .map_err(|e| aws_error(OP, e))?;
        Ok(())
    }
}

/// The region named by a refused HeadBucket: a bucket in another region answers 301 (or
/// 400/403) but still sends `x-amz-bucket-region`; a 404 never counts.
fn region_of_refusal(raw: Option<&HttpResponse>) -> Option<Region> {
    raw.filter(|r| r.status().as_u16() != 404)
        .and_then(|r| r.headers().get(BUCKET_REGION_HEADER))
        .filter(|r| !r.is_empty())
        .map(Region::new)
}

/// True for a 200 reply whose XML body has a root element and nothing inside it.
fn is_empty_document(raw: Option<&HttpResponse>) -> bool {
    let Some(raw) = raw.filter(|r| r.status().as_u16() == 200) else {
        return false;
    };
    let Some(body) = raw.body().bytes().and_then(|b| std::str::from_utf8(b).ok()) else {
        return false;
    };
    let start_tags = body
        .match_indices('<')
        .filter(|(i, _)| {
            body[i + 1..]
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        })
        .count();
    start_tags == 1
}

/// The domain view of a configuration: topic, then queue, then Lambda entries, each kind in the
/// order S3 returned it (S3's XML groups entries by kind, so no other order exists).
fn from_sdk(
    topics: &[TopicConfiguration],
    queues: &[QueueConfiguration],
    lambdas: &[LambdaFunctionConfiguration],
    event_bridge: bool,
) -> NotificationConfig {
    let topics = topics.iter().map(|t| {
        entry(
            DestinationKind::Topic,
            t.id(),
            t.topic_arn(),
            t.events(),
            t.filter(),
        )
    });
    let queues = queues.iter().map(|q| {
        entry(
            DestinationKind::Queue,
            q.id(),
            q.queue_arn(),
            q.events(),
            q.filter(),
        )
    });
    let lambdas = lambdas.iter().map(|l| {
        entry(
            DestinationKind::Lambda,
            l.id(),
            l.lambda_function_arn(),
            l.events(),
            l.filter(),
        )
    });
    NotificationConfig {
        entries: topics.chain(queues).chain(lambdas).collect(),
        event_bridge,
    }
}

fn entry(
    kind: DestinationKind,
    id: Option<&str>,
    arn: &str,
    events: &[Event],
    filter: Option<&NotificationConfigurationFilter>,
) -> NotificationEntry {
    let rules = filter
        .and_then(|f| f.key())
        .map_or(&[][..], |k| k.filter_rules());
    NotificationEntry {
        id: id.map(str::to_owned),
        kind,
        arn: arn.to_owned(),
        events: events.iter().map(|e| e.as_str().to_owned()).collect(),
        filter_rules: rules
            .iter()
            .map(|r| FilterRule {
                // Real S3 answers `Prefix`/`Suffix`, which the SDK keeps as an unknown variant.
                name: r.name().map_or("", |n| n.as_str()).to_owned(),
                value: r.value().unwrap_or_default().to_owned(),
            })
            .collect(),
    }
}

/// The SDK configuration to write; rule names are lowercased (moto accepts only lowercase, and
/// S3 treats both the same). Each kind keeps its entries' relative order; the kinds themselves
/// are grouped, as S3's XML has them.
fn to_sdk(config: &NotificationConfig) -> Result<NotificationConfiguration, BuildError> {
    let mut out = NotificationConfiguration::builder();
    for e in &config.entries {
        let events: Vec<Event> = e.events.iter().map(|s| Event::from(s.as_str())).collect();
        let filter = sdk_filter(&e.filter_rules);
        out = match e.kind {
            DestinationKind::Topic => out.topic_configurations(
                TopicConfiguration::builder()
                    .set_id(e.id.clone())
                    .topic_arn(&e.arn)
                    .set_events(Some(events))
                    .set_filter(filter)
                    .build()?,
            ),
            DestinationKind::Queue => out.queue_configurations(
                QueueConfiguration::builder()
                    .set_id(e.id.clone())
                    .queue_arn(&e.arn)
                    .set_events(Some(events))
                    .set_filter(filter)
                    .build()?,
            ),
            DestinationKind::Lambda => out.lambda_function_configurations(
                LambdaFunctionConfiguration::builder()
                    .set_id(e.id.clone())
                    .lambda_function_arn(&e.arn)
                    .set_events(Some(events))
                    .set_filter(filter)
                    .build()?,
            ),
        };
    }
    if config.event_bridge {
        out = out.event_bridge_configuration(EventBridgeConfiguration::builder().build());
    }
    Ok(out.build())
}

fn sdk_filter(rules: &[FilterRule]) -> Option<NotificationConfigurationFilter> {
    if rules.is_empty() {
        return None;
    }
    let key = rules.iter().fold(S3KeyFilter::builder(), |key, r| {
        key.filter_rules(
            aws_sdk_s3::types::FilterRule::builder()
                .name(FilterRuleName::from(r.name.to_ascii_lowercase().as_str()))
                .value(&r.value)
                .build(),
        )
    });
    Some(
        NotificationConfigurationFilter::builder()
            .key(key.build())
            .build(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(name: &str, value: &str) -> FilterRule {
        FilterRule {
            name: name.into(),
            value: value.into(),
        }
    }

    fn entry(
        kind: DestinationKind,
        id: Option<&str>,
        arn: &str,
        rules: Vec<FilterRule>,
    ) -> NotificationEntry {
        NotificationEntry {
            id: id.map(str::to_owned),
            kind,
            arn: arn.into(),
            events: vec![
                "s3:ObjectCreated:*".into(),
                "s3:ObjectRemoved:Delete".into(),
            ],
            filter_rules: rules,
        }
    }

    fn read(sdk: &NotificationConfiguration) -> NotificationConfig {
        from_sdk(
            sdk.topic_configurations(),
            sdk.queue_configurations(),
            sdk.lambda_function_configurations(),
            sdk.event_bridge_configuration().is_some(),
        )
    }

    fn domain() -> NotificationConfig {
        use DestinationKind::*;
        NotificationConfig {
            entries: vec![
                entry(
                    Topic,
                    Some("t1"),
                    "arn:aws:sns:eu-west-1:1:t",
                    vec![rule("prefix", "a/")],
                ),
                entry(Queue, Some("q1"), "arn:aws:sqs:eu-west-1:1:q1", vec![]),
                entry(
                    Queue,
                    None,
                    "arn:aws:sqs:eu-west-1:1:q2",
                    vec![rule("suffix", ".gz")],
                ),
                entry(
                    Lambda,
                    Some("autosub-1"),
                    "arn:aws:lambda:eu-west-1:1:function:fwd",
                    vec![rule("prefix", "logs/"), rule("suffix", ".json")],
                ),
                entry(
                    Lambda,
                    Some("other"),
                    "arn:aws:lambda:eu-west-1:1:function:x",
                    vec![],
                ),
            ],
            event_bridge: true,
        }
    }

    #[test]
    fn domain_round_trips_through_the_sdk() {
        let config = domain();
        let sdk = to_sdk(&config).expect("valid");
        assert_eq!(read(&sdk), config);
        let without_eb = NotificationConfig {
            event_bridge: false,
            ..config
        };
        let sdk = to_sdk(&without_eb).expect("valid");
        assert!(sdk.event_bridge_configuration().is_none());
        assert_eq!(read(&sdk), without_eb);
    }

    #[test]
    fn capitalised_rule_names_are_kept_on_read_and_lowercased_on_write() {
        // What the SDK parses from real S3: `Prefix`/`Suffix` as unknown variants.
        let sdk_rule = |name: &str, value: &str| {
            aws_sdk_s3::types::FilterRule::builder()
                .name(FilterRuleName::from(name))
                .value(value)
                .build()
        };
        let sdk = NotificationConfiguration::builder()
            .queue_configurations(
                QueueConfiguration::builder()
                    .id("audit")
                    .queue_arn("arn:aws:sqs:us-east-1:1:q")
                    .events(Event::from("s3:ObjectCreated:Put"))
                    .filter(
                        NotificationConfigurationFilter::builder()
                            .key(
                                S3KeyFilter::builder()
                                    .filter_rules(sdk_rule("Prefix", "AWSLogs/"))
                                    .filter_rules(sdk_rule("Suffix", ".gz"))
                                    .build(),
                            )
                            .build(),
                    )
                    .build()
                    .expect("valid"),
            )
            .event_bridge_configuration(EventBridgeConfiguration::builder().build())
            .build();
        let config = read(&sdk);
        let queue = &config.entries[0];
        assert_eq!(
            queue.filter_rules,
            vec![rule("Prefix", "AWSLogs/"), rule("Suffix", ".gz")]
        );
        assert_eq!((queue.prefix(), queue.suffix()), ("AWSLogs/", ".gz"));
        assert_eq!(queue.events, vec!["s3:ObjectCreated:Put".to_owned()]);
        assert!(config.event_bridge);

        let written = to_sdk(&config).expect("valid");
        let rules = written.queue_configurations()[0]
            .filter()
            .and_then(|f| f.key())
            .map(|k| k.filter_rules().to_vec())
            .unwrap_or_default();
        let names: Vec<_> = rules.iter().map(|r| r.name().cloned()).collect();
        assert_eq!(
            names,
            vec![Some(FilterRuleName::Prefix), Some(FilterRuleName::Suffix)]
        );
        assert_eq!(rules[0].value(), Some("AWSLogs/"));
        assert!(written.event_bridge_configuration().is_some());
    }

    #[test]
    fn refused_head_bucket_replies_still_name_the_region() {
        use aws_smithy_runtime_api::http::StatusCode;
        use aws_smithy_types::body::SdkBody;
        let reply = |status: u16, region: Option<&str>| {
            let status = StatusCode::try_from(status).expect("valid status");
            let mut r = HttpResponse::new(status, SdkBody::empty());
            if let Some(region) = region {
                r.headers_mut()
                    .insert(BUCKET_REGION_HEADER, region.to_owned());
            }
            r
        };
        let eu = Some(Region::new("eu-west-1"));
        assert_eq!(region_of_refusal(Some(&reply(301, Some("eu-west-1")))), eu);
        assert_eq!(region_of_refusal(Some(&reply(403, Some("eu-west-1")))), eu);
        assert_eq!(
            region_of_refusal(Some(&reply(404, Some("eu-west-1")))),
            None
        );
        assert_eq!(region_of_refusal(Some(&reply(301, None))), None);
        assert_eq!(region_of_refusal(None), None);
    }

    #[test]
    fn only_element_free_ok_replies_count_as_empty() {
        use aws_smithy_runtime_api::http::StatusCode;
        use aws_smithy_types::body::SdkBody;
        let reply = |status: u16, body: &str| {
            let status = StatusCode::try_from(status).expect("valid status");
            HttpResponse::new(status, SdkBody::from(body.to_owned()))
        };
        let decl = r#"<?xml version="1.0" encoding="utf-8"?>"#;
        let moto = format!(
            r#"{decl}<GetBucketNotificationResponse xmlns="http://s3.amazonaws.com/doc/2006-03-01/"/>"#
        );
        assert!(is_empty_document(Some(&reply(200, &moto))));
        assert!(is_empty_document(Some(&reply(
            200,
            "<NotificationConfiguration></NotificationConfiguration>"
        ))));
        assert!(!is_empty_document(Some(&reply(404, &moto))));
        assert!(!is_empty_document(Some(&reply(
            200,
            "<A><QueueConfiguration/></A>"
        ))));
        assert!(!is_empty_document(Some(&reply(200, ""))));
        assert!(!is_empty_document(None));
    }

    #[test]
    fn an_empty_configuration_clears_the_bucket() {
        let sdk = to_sdk(&NotificationConfig::default()).expect("valid");
        assert_eq!(sdk, NotificationConfiguration::builder().build());
        assert_eq!(read(&sdk), NotificationConfig::default());
    }
}
