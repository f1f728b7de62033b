//! CloudTrail trails: DescribeTrails names each trail's bucket (`S3BucketName`,
//! `S3KeyPrefix`) and, when it also delivers to CloudWatch Logs, its log group
//! (`CloudWatchLogsLogGroupArn`).
//!
//! Each trail is read once, in its home region: the listing leaves shadow trails out (a
//! multi-region trail's copies in other regions, an organization trail's copies in member
//! accounts), whose settings only their home can change. Whether a trail is logging is not read:
//! a stopped trail's trigger costs nothing and is in place when it starts again.
//!
//! CloudTrail writes `<prefix>/AWSLogs/<account>/CloudTrail/<region>/…`, and an organization
//! trail `<prefix>/AWSLogs/<org-id>/<account>/CloudTrail/…`. A trail of one account is narrowed
//! to `<prefix>/AWSLogs/<account>/CloudTrail/` (which leaves out `CloudTrail-Digest/` integrity
//! files); an organization trail to `<prefix>/AWSLogs/`, which holds every member's folder
//! under the organization id (not in the reply). A prefix that ends in `/` is kept as is.
//!
//! Loop guard: a trail that records read data events of S3 objects in its own log location
//! would record every GetObject of the forwarder as a new log object there, which triggers the
//! forwarder again. Its bucket location is a looping location ([`Discovery::loops`]): the
//! planner subscribes neither it nor any prefix of the bucket that overlaps it (a `loop_guard`
//! skip naming the trail, the selector and the fix). GetEventSelectors is read only for that,
//! once per trail.

use std::collections::BTreeMap;

use async_trait::async_trait;
use autosub_aws::error::AwsError;
use autosub_aws::source_apis::{CloudTrailApi, EventSelectors, TrailDelivery};
use autosub_aws::trails::{AdvancedField, FieldCondition};
use autosub_core::{
    AccountId, BucketName, Discovery, Location, LoopingLocation, Partition, Service,
};

use crate::destination;
use crate::pipeline::Pipeline;
use crate::{DiscoverCx, Discoverer};

/// Discovers the bucket location and log group of every trail whose home is the target region.
pub struct CloudTrailDiscoverer;

#[async_trait]
impl Discoverer for CloudTrailDiscoverer {
    fn service(&self) -> Service {
        Service::CloudTrail
    }

    async fn discover(&self, cx: &DiscoverCx<'_>) -> Discovery {
        discover_with(
            cx.apis.sources.cloudtrail.as_ref(),
            &Pipeline::of(cx, Service::CloudTrail),
        )
        .await
    }
}

/// The discovery over any [`CloudTrailApi`].
async fn discover_with(api: &dyn CloudTrailApi, p: &Pipeline<'_>) -> Discovery {
    let trails = match api.trails().await {
        Ok(trails) => trails,
        Err(e) => return p.gap("trails", e),
    };
    let trails = p.by_name(trails, |t| &t.resource.name, |t| t.resource.arn.clone());
    // ListTags takes 20 trails a call: one batch read, made only for a tag filter.
    let tags = if p.needs_tags() && !trails.is_empty() {
        let arns: Vec<String> = trails.iter().map(|t| t.resource.arn.clone()).collect();
        match api.tags(&arns).await {
            Ok(tags) => tags,
            Err(e) => return p.gap("trail tags", e),
        }
    } else {
        BTreeMap::new()
    };
    p.read_each(
        trails
            .into_iter()
            .filter(|t| p.selects(&t.resource.name, &t.resource.arn, tags.get(&t.resource.arn)))
            .collect(),
        |t| format!("trail {}", t.resource.name),
        |t| async move { read_trail(api, p, t).await },
    )
    .await
}

/// What one trail writes: its log group, and its bucket location unless it would loop.
async fn read_trail(
    api: &dyn CloudTrailApi,
    p: &Pipeline<'_>,
    trail: TrailDelivery,
) -> Result<Discovery, AwsError> {
    let arn = &trail.resource.arn;
    let mut found = p.destinations(arn, trail.log_group_arn.clone(), |group| {
        destination::log_group(group, p.account(), p.region())
    });
    let Some(target) = &trail.bucket else {
        return Ok(found);
    };
    let prefix = trail_log_prefix(&target.prefix, trail.organization, p.account());
    let selectors = api.event_selectors(arn).await?;
    let partition = Partition::of(p.region());
    match reads_recorded(&selectors, partition, &target.bucket, &prefix) {
        None => found.merge(p.sources(
            arn,
            [Location::S3 {
                bucket: target.bucket.clone(),
                prefix,
            }],
        )),
        Some(selector) => found.loops.push(LoopingLocation {
            service: Service::CloudTrail,
            resource_arn: arn.clone(),
            why: format!(
                "loop guard: trail {} records S3 read data events for its own log location \
                 ({selector}), so every object the forwarder read there would be logged as a new \
                 object there, without end; exclude read data events for bucket {} from the \
                 trail's event selectors, or send the trail to another bucket",
                trail.resource.name, target.bucket
            ),
            location: Location::S3 {
                bucket: target.bucket.clone(),
                prefix,
            },
        }),
    }
    Ok(found)
}

/// The key prefix of a trail's log files (see the module docs).
pub fn trail_log_prefix(prefix: &str, organization: bool, account: &AccountId) -> String {
    let root = if prefix.is_empty() {
        String::new()
    } else if prefix.ends_with('/') {
        // Whether CloudTrail adds another `/` is unsettled: keep what is certain.
        return prefix.to_owned();
    } else {
        format!("{prefix}/")
    };
    if organization {
        format!("{root}AWSLogs/")
    } else {
        format!("{root}AWSLogs/{account}/CloudTrail/")
    }
}

/// Which selector records read data events of some S3 object under `bucket`/`prefix`, if any
/// (a description of it, for the report). Conservative: a condition the objects' ARNs might
/// meet counts as meeting it.
pub fn reads_recorded(
    selectors: &EventSelectors,
    partition: Partition,
    bucket: &BucketName,
    prefix: &str,
) -> Option<String> {
    let location = format!("arn:{}:s3:::{bucket}/{prefix}", partition.as_str());
    match selectors {
        EventSelectors::Basic(selectors) => selectors
            .iter()
            .filter(|s| matches!(s.read_write.as_deref(), None | Some("All" | "ReadOnly")))
            .flat_map(|s| &s.s3_objects)
            .find(|value| basic_value_covers(value, &location))
            .map(|value| format!("event selector data resource {value:?}")),
        EventSelectors::Advanced(selectors) => selectors
            .iter()
            .position(|fields| advanced_covers(fields, &location))
            .map(|i| format!("advanced event selector {}", i + 1)),
    }
}

/// Whether a basic `AWS::S3::Object` data resource value covers some object under `location`
/// (`arn:<partition>:s3:::<bucket>/<prefix>`): `arn:<partition>:s3` (or `…:s3:::`) is every
/// bucket, else the value is an object ARN prefix.
fn basic_value_covers(value: &str, location: &str) -> bool {
    let every_bucket = value.ends_with(":s3") || value.ends_with(":s3:::");
    every_bucket || value.starts_with(location) || location.starts_with(value)
}

/// Whether an advanced selector records read data events of some S3 object under `location`.
fn advanced_covers(fields: &[AdvancedField], location: &str) -> bool {
    let field = |name: &str| {
        fields
            .iter()
            .find(|f| f.field == name)
            .map(|f| &f.condition)
    };
    field("eventCategory").is_some_and(|c| c.admits("Data"))
        && field("resources.type").is_some_and(|c| c.admits("AWS::S3::Object"))
        && field("readOnly").is_none_or(|c| c.admits("true"))
        && field("eventName").is_none_or(|c| c.admits("GetObject"))
        && field("resources.ARN").is_none_or(|c| may_admit_under(c, location))
}

/// Whether some ARN that starts with `location` may meet `condition`.
fn may_admit_under(condition: &FieldCondition, location: &str) -> bool {
    let overlaps = |v: &String| v.starts_with(location) || location.starts_with(v.as_str());
    (condition.equals.is_empty() || condition.equals.iter().any(|v| v.starts_with(location)))
        && (condition.starts_with.is_empty() || condition.starts_with.iter().any(overlaps))
        && !condition
            .not_starts_with
            .iter()
            .any(|v| location.starts_with(v.as_str()))
}

#[cfg(test)]
mod tests {
    use autosub_aws::apis::AccessLogTarget;
    use autosub_aws::source_apis::{BasicDataSelector, Resource, Tags};
    use autosub_core::{LogGroupName, LogSource};

    use super::*;
    use crate::testing::{ACCOUNT, assert_denied_gap, denied, run};

    const REGION: &str = "eu-west-1";

    #[test]
    fn prefixes_cover_both_layouts() {
        let account = AccountId::new(ACCOUNT);
        for (prefix, organization, want) in [
            ("", false, "AWSLogs/123456789012/CloudTrail/"),
            ("audit", false, "audit/AWSLogs/123456789012/CloudTrail/"),
            ("a/b", false, "a/b/AWSLogs/123456789012/CloudTrail/"),
            ("", true, "AWSLogs/"),
            ("org", true, "org/AWSLogs/"),
            ("audit/", false, "audit/"),
            ("audit/", true, "audit/"),
        ] {
            assert_eq!(
                trail_log_prefix(prefix, organization, &account),
                want,
                "{prefix:?} {organization}"
            );
        }
    }

    fn basic(read_write: Option<&str>, values: &[&str]) -> EventSelectors {
        EventSelectors::Basic(vec![BasicDataSelector {
            read_write: read_write.map(str::to_owned),
            s3_objects: values.iter().map(|v| (*v).to_owned()).collect(),
        }])
    }

    fn field(name: &str, condition: FieldCondition) -> AdvancedField {
        AdvancedField {
            field: name.to_owned(),
            condition,
        }
    }

    fn equals(values: &[&str]) -> FieldCondition {
        FieldCondition {
            equals: values.iter().map(|v| (*v).to_owned()).collect(),
            ..FieldCondition::default()
        }
    }

    fn starts_with(values: &[&str]) -> FieldCondition {
        FieldCondition {
            starts_with: values.iter().map(|v| (*v).to_owned()).collect(),
            ..FieldCondition::default()
        }
    }

    fn s3_data(extra: Vec<AdvancedField>) -> EventSelectors {
        let mut fields = vec![
            field("eventCategory", equals(&["Data"])),
            field("resources.type", equals(&["AWS::S3::Object"])),
        ];
        fields.extend(extra);
        EventSelectors::Advanced(vec![fields])
    }

    #[test]
    fn selectors_that_record_reads_of_the_log_location_are_found() {
        let check = |selectors: EventSelectors, want: bool| {
            let got = reads_recorded(
                &selectors,
                Partition::Aws,
                &BucketName::new("trail-logs"),
                "AWSLogs/123456789012/CloudTrail/",
            );
            assert_eq!(got.is_some(), want, "{selectors:?}: {got:?}");
        };
        // Management events only (no selectors, or no data resources).
        check(EventSelectors::Basic(vec![]), false);
        check(basic(Some("All"), &[]), false);
        // Every bucket, the bucket, a prefix above or below the log location.
        check(basic(None, &["arn:aws:s3"]), true);
        check(basic(Some("ReadOnly"), &["arn:aws:s3:::"]), true);
        check(basic(Some("All"), &["arn:aws:s3:::trail-logs/"]), true);
        check(
            basic(Some("All"), &["arn:aws:s3:::trail-logs/AWSLogs/"]),
            true,
        );
        check(
            basic(
                Some("All"),
                &["arn:aws:s3:::trail-logs/AWSLogs/123456789012/CloudTrail/eu-west-1/"],
            ),
            true,
        );
        // Writes only, another bucket, another prefix of the same bucket.
        check(basic(Some("WriteOnly"), &["arn:aws:s3"]), false);
        check(basic(Some("All"), &["arn:aws:s3:::trail-logs-2/"]), false);
        check(
            basic(Some("All"), &["arn:aws:s3:::trail-logs/uploads/"]),
            false,
        );

        check(s3_data(vec![]), true);
        check(s3_data(vec![field("readOnly", equals(&["true"]))]), true);
        check(s3_data(vec![field("readOnly", equals(&["false"]))]), false);
        check(
            s3_data(vec![field("eventName", equals(&["PutObject"]))]),
            false,
        );
        check(
            s3_data(vec![field(
                "resources.ARN",
                starts_with(&["arn:aws:s3:::trail-logs/"]),
            )]),
            true,
        );
        check(
            s3_data(vec![field(
                "resources.ARN",
                starts_with(&["arn:aws:s3:::other/"]),
            )]),
            false,
        );
        check(
            s3_data(vec![field(
                "resources.ARN",
                FieldCondition {
                    not_starts_with: vec!["arn:aws:s3:::trail-logs/".into()],
                    ..FieldCondition::default()
                },
            )]),
            false,
        );
        check(
            EventSelectors::Advanced(vec![vec![field("eventCategory", equals(&["Management"]))]]),
            false,
        );
        check(
            EventSelectors::Advanced(vec![vec![
                field("eventCategory", equals(&["Data"])),
                field("resources.type", equals(&["AWS::DynamoDB::Table"])),
            ]]),
            false,
        );
    }

    /// Lists the trails it is given, with the selectors it is given for every one.
    struct FakeTrails {
        trails: Vec<TrailDelivery>,
        selectors: Result<EventSelectors, AwsError>,
    }

    #[async_trait]
    impl CloudTrailApi for FakeTrails {
        async fn trails(&self) -> Result<Vec<TrailDelivery>, AwsError> {
            Ok(self.trails.clone())
        }

        async fn event_selectors(&self, _arn: &str) -> Result<EventSelectors, AwsError> {
            self.selectors.clone()
        }

        async fn tags(&self, _arns: &[String]) -> Result<BTreeMap<String, Tags>, AwsError> {
            Ok(BTreeMap::new())
        }
    }

    fn trail(name: &str, bucket: Option<&str>, group: Option<&str>) -> TrailDelivery {
        TrailDelivery {
            resource: Resource {
                arn: format!("arn:aws:cloudtrail:{REGION}:{ACCOUNT}:trail/{name}"),
                name: name.to_owned(),
            },
            bucket: bucket.map(|b| AccessLogTarget {
                bucket: BucketName::new(b),
                prefix: String::new(),
            }),
            log_group_arn: group.map(str::to_owned),
            organization: false,
        }
    }

    fn discover(fake: &FakeTrails) -> Discovery {
        run(Service::CloudTrail, REGION, fake, |api, p| {
            Box::pin(discover_with(api, p))
        })
    }

    #[test]
    fn trails_map_to_their_bucket_and_log_group() {
        let group = format!("arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/trail/main:*");
        let fake = FakeTrails {
            trails: vec![trail("main", Some("trail-logs"), Some(&group))],
            selectors: Ok(EventSelectors::Basic(vec![])),
        };
        let found = discover(&fake);
        let arn = &fake.trails[0].resource.arn;
        assert_eq!(
            found.sources,
            vec![
                LogSource {
                    service: Service::CloudTrail,
                    resource_arn: arn.clone(),
                    location: Location::S3 {
                        bucket: BucketName::new("trail-logs"),
                        prefix: "AWSLogs/123456789012/CloudTrail/".into(),
                    },
                },
                LogSource {
                    service: Service::CloudTrail,
                    resource_arn: arn.clone(),
                    location: Location::LogGroup {
                        name: LogGroupName::new("/trail/main"),
                    },
                },
            ]
        );
        assert!(found.unsubscribable.is_empty() && found.gaps.is_empty());
    }

    #[test]
    fn a_trail_recording_reads_of_its_own_bucket_is_guarded_and_its_log_group_kept() {
        let group = format!("arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/trail/loop");
        let fake = FakeTrails {
            trails: vec![trail("loop", Some("trail-logs"), Some(&group))],
            selectors: Ok(basic(Some("All"), &["arn:aws:s3:::trail-logs/"])),
        };
        let found = discover(&fake);
        assert_eq!(found.sources.len(), 1, "{found:?}");
        assert!(matches!(
            found.sources[0].location,
            Location::LogGroup { .. }
        ));
        assert!(found.unsubscribable.is_empty(), "{found:?}");
        assert_eq!(found.loops.len(), 1, "{found:?}");
        let u = &found.loops[0];
        assert_eq!(
            u.location.to_string(),
            "s3://trail-logs/AWSLogs/123456789012/CloudTrail/"
        );
        for part in [
            "loop guard",
            "trail loop",
            "bucket trail-logs",
            "another bucket",
        ] {
            assert!(u.why.contains(part), "{part}: {}", u.why);
        }
    }

    #[test]
    fn access_denied_on_selectors_is_a_gap_naming_the_trail() {
        let fake = FakeTrails {
            trails: vec![trail("denied", Some("trail-logs"), None)],
            selectors: Err(denied("cloudtrail:GetEventSelectors")),
        };
        assert_denied_gap(&discover(&fake), Service::CloudTrail, "trail denied");
    }

    #[test]
    fn a_log_group_only_trail_reads_no_selectors() {
        let group = format!("arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/trail/cw");
        let fake = FakeTrails {
            trails: vec![trail("cw", None, Some(&group))],
            selectors: Err(denied("cloudtrail:GetEventSelectors")),
        };
        let found = discover(&fake);
        assert_eq!(found.sources.len(), 1, "{found:?}");
        assert!(found.gaps.is_empty(), "{found:?}");
    }
}
