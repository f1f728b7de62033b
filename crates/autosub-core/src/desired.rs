//! From discovered log sources to the triggers that should exist: S3 prefixes collapsed per
//! bucket, every location routed to the forwarder of its region, exclusions and loop guards applied.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::account_policy::DesiredAccountPolicy;
use crate::change::{Skip, SkipReason};
use crate::ids::{BucketName, FunctionArn, LogGroupName, Region};
use crate::pattern::wildcard_match;
use crate::source::{Discovery, Gap, Location, LoopingLocation, Service};

/// What to leave out, by user choice or because subscribing it would loop.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Selection {
    /// Log group name patterns (`*`, `?`) never to subscribe.
    pub exclude_log_groups: Vec<String>,
    /// Bucket name patterns never to subscribe.
    pub exclude_buckets: Vec<String>,
    /// Log groups that would feed the forwarder its own output: every forwarder's log group and the
    /// daemon's own.
    pub guarded_log_groups: BTreeSet<LogGroupName>,
    /// Buckets the forwarders write to.
    pub guarded_buckets: BTreeSet<BucketName>,
}

/// Where triggers go: the forwarder of each region, and where there is none, why.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Routing {
    /// The target's region: log groups are discovered there.
    pub home_region: Region,
    /// The forwarder of each region that has a usable one.
    pub forwarders: BTreeMap<Region, FunctionArn>,
    /// Regions whose forwarder is configured but unusable, with the reason.
    pub unavailable: BTreeMap<Region, String>,
    /// Every region autosub reconciles; a bucket in another reconciled region is left to that
    /// region's pass, one in a region not listed is reported.
    pub reconciled_regions: BTreeSet<Region>,
    /// The region of each bucket named by a source, where it could be resolved.
    pub bucket_regions: BTreeMap<BucketName, Region>,
    /// Buckets whose region could not be resolved, with the reason.
    pub unresolved_buckets: BTreeMap<BucketName, String>,
    /// Buckets named by a source that the target account does not own (they exist, but its
    /// ListBuckets does not hold them): never read or written.
    pub other_account_buckets: BTreeSet<BucketName>,
}

impl Routing {
    fn forwarder(&self, region: &Region) -> Result<&FunctionArn, String> {
        self.forwarders
            .get(region)
            .ok_or_else(|| match self.unavailable.get(region) {
                Some(why) => format!("the forwarder for {region} is unusable: {why}"),
                None => format!("no forwarder is configured for {region}"),
            })
    }
}

/// The S3 trigger(s) a bucket should have.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DesiredBucket {
    /// The bucket's region.
    pub region: Region,
    /// The forwarder of that region.
    pub forwarder: FunctionArn,
    /// A minimal non-overlapping set of prefixes, each with the ARNs of the sources it serves.
    pub prefixes: BTreeMap<String, BTreeSet<String>>,
}

/// The subscription a log group should have.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DesiredLogGroup {
    /// The forwarder of the target's region.
    pub forwarder: FunctionArn,
    /// The ARNs of the sources that write to it.
    pub sources: BTreeSet<String>,
}

/// Everything that should exist, plus what was discovered but cannot be subscribed and why.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Desired {
    /// The region of the pass; only the forwarder of this region has its permissions pruned,
    /// because only this pass sees every trigger that can invoke it.
    pub home_region: Region,
    /// Desired S3 triggers per bucket.
    pub buckets: BTreeMap<BucketName, DesiredBucket>,
    /// Desired subscriptions per log group.
    pub log_groups: BTreeMap<LogGroupName, DesiredLogGroup>,
    /// Buckets that have sources but no usable route: our entries there are kept, not deleted.
    pub held_buckets: BTreeSet<BucketName>,
    /// Log groups that have sources but no usable route: our filters there are kept.
    pub held_log_groups: BTreeSet<LogGroupName>,
    /// Every usable forwarder: a trigger pointing at one of these is ours or adopted.
    pub forwarders: BTreeSet<FunctionArn>,
    /// What discovery could not read; any gap forbids deletes this pass.
    pub gaps: Vec<Gap>,
    /// Why some discovered locations get no trigger.
    pub skips: Vec<Skip>,
    /// In account-policy mode, the account policy and the discovered log groups it delivers
    /// (those are then not in `log_groups`): see [`crate::policy_routing::route`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_policy: Option<DesiredAccountPolicy>,
}

/// Turns discovered sources into desired triggers. Pure and deterministic.
pub fn desire(discovery: &Discovery, selection: &Selection, routing: &Routing) -> Desired {
    let mut desired = Desired {
        home_region: routing.home_region.clone(),
        forwarders: routing.forwarders.values().cloned().collect(),
        gaps: discovery.gaps.clone(),
        ..Desired::default()
    };
    let mut by_bucket: BTreeMap<&BucketName, BTreeMap<&str, BTreeSet<String>>> = BTreeMap::new();
    let mut skipped: BTreeMap<Location, (SkipReason, String)> = BTreeMap::new();
    let cycles = logging_cycles(discovery);
    let forwarder_groups = forwarder_log_groups(discovery, routing.forwarders.values());

    for source in &discovery.sources {
        match &source.location {
            Location::LogGroup { name } => {
                if let Some(why) = log_group_exclusion(name, selection) {
                    skipped.insert(source.location.clone(), why);
                    continue;
                }
                if forwarder_groups.contains(name) {
                    let why = "a forwarder logs here (its LoggingConfig log group); subscribing it would loop";
                    skipped.insert(source.location.clone(), (SkipReason::LoopGuard, why.into()));
                    continue;
                }
                match routing.forwarder(&routing.home_region) {
                    Ok(forwarder) => {
                        desired
                            .log_groups
                            .entry(name.clone())
                            .or_insert_with(|| DesiredLogGroup {
                                forwarder: forwarder.clone(),
                                sources: BTreeSet::new(),
                            })
                            .sources
                            .insert(source.resource_arn.clone());
                    }
                    Err(why) => {
                        desired.held_log_groups.insert(name.clone());
                        skipped.insert(source.location.clone(), (SkipReason::NoForwarder, why));
                    }
                }
            }
            Location::S3 { bucket, prefix } => {
                if let Some(why) = bucket_exclusion(bucket, selection) {
                    skipped.insert(source.location.clone(), why);
                    continue;
                }
                if let Some(cycle) = cycles.get(bucket) {
                    let path: Vec<&str> = cycle.iter().map(BucketName::as_str).collect();
                    let why = format!(
                        "its server access logs come back to it ({}): every object the forwarder read would log another object here, without end",
                        path.join(" → ")
                    );
                    skipped.insert(source.location.clone(), (SkipReason::LoopGuard, why));
                    continue;
                }
                if let Some(looping) = looping_overlap(discovery, bucket, prefix) {
                    skipped.insert(
                        source.location.clone(),
                        (SkipReason::LoopGuard, looping.why.clone()),
                    );
                    continue;
                }
                by_bucket
                    .entry(bucket)
                    .or_default()
                    .entry(prefix.as_str())
                    .or_default()
                    .insert(source.resource_arn.clone());
            }
        }
    }

    for (bucket, prefixes) in by_bucket {
        let route = match routing.bucket_regions.get(bucket) {
            Some(_) if routing.other_account_buckets.contains(bucket) => Err((
                SkipReason::BucketOtherAccount,
                "another account owns the bucket (the target account's ListBuckets does not hold it); autosub reads and writes only buckets of the account it runs in (every call carries ExpectedBucketOwner). Subscribe it from the account that owns it".to_owned(),
            )),
            // S3 invokes only a same-region Lambda and each pass sweeps its own region's buckets,
            // so a bucket belongs to the pass of its region.
            Some(region) if region != &routing.home_region => {
                if routing.reconciled_regions.contains(region) {
                    continue;
                }
                Err((
                    SkipReason::RegionNotReconciled,
                    format!(
                        "the bucket is in {region}, which autosub does not reconcile; add it to aws.regions"
                    ),
                ))
            }
            Some(region) => routing
                .forwarder(region)
                .map(|f| (region, f))
                .map_err(|why| (SkipReason::NoForwarder, why)),
            None => {
                let why = routing
                    .unresolved_buckets
                    .get(bucket)
                    .map_or("not resolved", |w| w);
                Err((
                    SkipReason::BucketRegionUnknown,
                    format!("the bucket's region is unknown: {why}"),
                ))
            }
        };
        match route {
            Ok((region, forwarder)) => {
                desired.buckets.insert(
                    bucket.clone(),
                    DesiredBucket {
                        region: region.clone(),
                        forwarder: forwarder.clone(),
                        prefixes: collapse_prefixes(prefixes),
                    },
                );
            }
            Err(why) => {
                desired.held_buckets.insert(bucket.clone());
                for prefix in prefixes.keys() {
                    let location = Location::S3 {
                        bucket: bucket.clone(),
                        prefix: (*prefix).to_owned(),
                    };
                    skipped.insert(location, why.clone());
                }
            }
        }
    }

    // A looping location is reported even when no source desires it.
    for looping in &discovery.loops {
        skipped
            .entry(looping.location.clone())
            .or_insert_with(|| (SkipReason::LoopGuard, looping.why.clone()));
    }

    desired.skips = skipped
        .into_iter()
        .map(|(location, (reason, detail))| Skip {
            subject: location.to_string(),
            reason,
            detail,
        })
        .collect();
    desired
        .skips
        .extend(discovery.unsubscribable.iter().map(|u| Skip {
            subject: u.resource_arn.clone(),
            reason: SkipReason::NotSubscribable,
            detail: format!("its logs go to {}: {}", u.destination, u.why),
        }));
    desired
}

/// The log groups the forwarders' own functions write to, as discovered (a custom
/// `LoggingConfig` group included): subscribing one would feed a forwarder its own output.
pub fn forwarder_log_groups<'a>(
    discovery: &Discovery,
    forwarders: impl IntoIterator<Item = &'a FunctionArn>,
) -> BTreeSet<LogGroupName> {
    let forwarders: Vec<&FunctionArn> = forwarders.into_iter().collect();
    discovery
        .sources
        .iter()
        .filter(|s| forwarders.iter().any(|f| f.is(&s.resource_arn)))
        .filter_map(|s| match &s.location {
            Location::LogGroup { name } => Some(name.clone()),
            Location::S3 { .. } => None,
        })
        .collect()
}

/// The looping location (see [`Discovery::loops`]) of `bucket` that `prefix` overlaps (one is a
/// prefix of the other), if any: subscribing `prefix` would have the forwarder read there.
fn looping_overlap<'a>(
    discovery: &'a Discovery,
    bucket: &BucketName,
    prefix: &str,
) -> Option<&'a LoopingLocation> {
    discovery.loops.iter().find(|l| match &l.location {
        Location::S3 {
            bucket: b,
            prefix: p,
        } => b == bucket && (p.starts_with(prefix) || prefix.starts_with(p.as_str())),
        Location::LogGroup { .. } => false,
    })
}

/// Every bucket on a cycle of server access logging (a bucket logging into itself, or buckets
/// logging into each other), with the cycle from it back to it. Reading such a bucket writes
/// access logs that come back to it.
fn logging_cycles(discovery: &Discovery) -> BTreeMap<BucketName, Vec<BucketName>> {
    let logs_to: BTreeMap<BucketName, BucketName> = discovery
        .sources
        .iter()
        .filter(|s| s.service == Service::S3AccessLogs)
        .filter_map(|s| {
            let source = s.resource_arn.split(":::").nth(1)?;
            match &s.location {
                Location::S3 { bucket, .. } => Some((BucketName::new(source), bucket.clone())),
                Location::LogGroup { .. } => None,
            }
        })
        .collect();
    let mut cycles = BTreeMap::new();
    for start in logs_to.keys() {
        let mut path = vec![start.clone()];
        let mut at = start;
        while let Some(next) = logs_to.get(at) {
            path.push(next.clone());
            if next == start {
                cycles.insert(start.clone(), path);
                break;
            }
            if path.len() > logs_to.len() {
                break;
            }
            at = next;
        }
    }
    cycles
}

fn log_group_exclusion(name: &LogGroupName, selection: &Selection) -> Option<(SkipReason, String)> {
    if selection.guarded_log_groups.contains(name) {
        return Some((
            SkipReason::LoopGuard,
            "a forwarder or autosub itself writes to this log group; subscribing it would loop"
                .into(),
        ));
    }
    selection
        .exclude_log_groups
        .iter()
        .find(|p| wildcard_match(p, name.as_str()))
        .map(|p| {
            (
                SkipReason::Excluded,
                format!("matches exclude pattern {p:?}"),
            )
        })
}

fn bucket_exclusion(bucket: &BucketName, selection: &Selection) -> Option<(SkipReason, String)> {
    if selection.guarded_buckets.contains(bucket) {
        return Some((
            SkipReason::LoopGuard,
            "a forwarder writes to this bucket; subscribing it would loop".into(),
        ));
    }
    selection
        .exclude_buckets
        .iter()
        .find(|p| wildcard_match(p, bucket.as_str()))
        .map(|p| {
            (
                SkipReason::Excluded,
                format!("matches exclude pattern {p:?}"),
            )
        })
}

/// Collapses prefixes to a minimal set in which none is a prefix of another; each kept prefix
/// inherits the sources of the prefixes it covers.
pub fn collapse_prefixes(
    prefixes: BTreeMap<&str, BTreeSet<String>>,
) -> BTreeMap<String, BTreeSet<String>> {
    let mut kept: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    // Sorted order puts every prefix right before the strings it covers, so the last kept
    // prefix is the only one that can cover the next.
    let mut last: Option<String> = None;
    for (prefix, sources) in prefixes {
        match &last {
            Some(cover) if prefix.starts_with(cover.as_str()) => {
                kept.entry(cover.clone()).or_default().extend(sources);
            }
            _ => {
                kept.insert(prefix.to_owned(), sources);
                last = Some(prefix.to_owned());
            }
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notification::prefixes_overlap;
    use proptest::prelude::*;

    fn set(prefixes: &[&str]) -> BTreeMap<&'static str, BTreeSet<String>> {
        prefixes
            .iter()
            .map(|p| {
                let p: &'static str = Box::leak(p.to_string().into_boxed_str());
                (p, BTreeSet::from([format!("src:{p}")]))
            })
            .collect()
    }

    fn routing() -> Routing {
        let region = Region::new("us-east-1");
        let forwarder =
            FunctionArn::parse("arn:aws:lambda:us-east-1:111122223333:function:fwd").unwrap();
        Routing {
            home_region: region.clone(),
            forwarders: [(region.clone(), forwarder)].into(),
            reconciled_regions: [region.clone()].into(),
            bucket_regions: ["a", "b", "c", "self-logged"]
                .into_iter()
                .map(|b| (BucketName::new(b), region.clone()))
                .collect(),
            ..Routing::default()
        }
    }

    /// Bucket `from` logs its access into `to` under `from/`.
    fn logs(from: &str, to: &str) -> crate::source::LogSource {
        crate::source::LogSource {
            service: Service::S3AccessLogs,
            resource_arn: format!("arn:aws:s3:::{from}"),
            location: Location::S3 {
                bucket: BucketName::new(to),
                prefix: format!("{from}/"),
            },
        }
    }

    #[test]
    fn a_looping_location_and_every_prefix_overlapping_it_are_never_subscribed() {
        let trail = "AWSLogs/111122223333/CloudTrail/";
        let discovery = Discovery {
            // Bucket `a`: the whole bucket and a disjoint prefix; `b`: a prefix inside the loop
            // and a disjoint one.
            sources: [
                ("", "a"),
                ("elb/", "a"),
                ("b/", "b"),
                (&*format!("{trail}us-east-1/"), "b"),
            ]
            .into_iter()
            .map(|(prefix, bucket)| crate::source::LogSource {
                service: Service::Elbv2,
                resource_arn: format!("arn:lb:{bucket}:{prefix}"),
                location: Location::S3 {
                    bucket: BucketName::new(bucket),
                    prefix: prefix.to_owned(),
                },
            })
            .collect(),
            loops: vec![
                LoopingLocation {
                    service: Service::CloudTrail,
                    resource_arn: "arn:aws:cloudtrail:us-east-1:111122223333:trail/t".into(),
                    location: Location::S3 {
                        bucket: BucketName::new("a"),
                        prefix: trail.into(),
                    },
                    why: "trail t loops".into(),
                },
                LoopingLocation {
                    service: Service::CloudTrail,
                    resource_arn: "arn:aws:cloudtrail:us-east-1:111122223333:trail/u".into(),
                    location: Location::S3 {
                        bucket: BucketName::new("b"),
                        prefix: trail.into(),
                    },
                    why: "trail u loops".into(),
                },
            ],
            ..Discovery::default()
        };
        let desired = desire(&discovery, &Selection::default(), &routing());
        let guarded: Vec<(&str, &str)> = desired
            .skips
            .iter()
            .filter(|s| s.reason == SkipReason::LoopGuard)
            .map(|s| (s.subject.as_str(), s.detail.as_str()))
            .collect();
        assert_eq!(
            guarded,
            vec![
                ("s3://a/", "trail t loops"),
                ("s3://a/AWSLogs/111122223333/CloudTrail/", "trail t loops"),
                ("s3://b/AWSLogs/111122223333/CloudTrail/", "trail u loops"),
                (
                    "s3://b/AWSLogs/111122223333/CloudTrail/us-east-1/",
                    "trail u loops"
                ),
            ]
        );
        let subscribed: Vec<(&str, Vec<&str>)> = desired
            .buckets
            .iter()
            .map(|(b, d)| (b.as_str(), d.prefixes.keys().map(String::as_str).collect()))
            .collect();
        assert_eq!(subscribed, vec![("a", vec!["elb/"]), ("b", vec!["b/"])]);
    }

    #[test]
    fn buckets_on_an_access_logging_cycle_are_never_subscribed() {
        let discovery = Discovery {
            sources: vec![
                logs("self-logged", "self-logged"),
                logs("a", "b"),
                logs("b", "a"),
                logs("c", "a"),
            ],
            ..Discovery::default()
        };
        let desired = desire(&discovery, &Selection::default(), &routing());
        assert!(desired.buckets.is_empty(), "{:?}", desired.buckets);
        let guarded: Vec<(&str, &str)> = desired
            .skips
            .iter()
            .filter(|s| s.reason == SkipReason::LoopGuard)
            .map(|s| (s.subject.as_str(), s.detail.as_str()))
            .collect();
        assert_eq!(guarded.len(), 4, "{guarded:?}");
        assert!(guarded[0].0.starts_with("s3://a/"), "{guarded:?}");
        assert!(guarded[0].1.contains("a → b → a"), "{guarded:?}");
        assert!(
            guarded
                .iter()
                .any(|g| g.1.contains("self-logged → self-logged"))
        );

        // Without the cycle, b is subscribed as before.
        let discovery = Discovery {
            sources: vec![logs("a", "b")],
            ..Discovery::default()
        };
        let desired = desire(&discovery, &Selection::default(), &routing());
        assert!(desired.buckets.contains_key(&BucketName::new("b")));
    }

    #[test]
    fn a_forwarder_s_custom_logging_config_group_is_never_subscribed() {
        let discovery = Discovery {
            sources: vec![crate::source::LogSource {
                service: Service::Lambda,
                resource_arn: "arn:aws:lambda:us-east-1:111122223333:function:fwd".into(),
                location: Location::LogGroup {
                    name: LogGroupName::new("/platform/forwarder-logs"),
                },
            }],
            ..Discovery::default()
        };
        let routing = routing();
        let desired = desire(&discovery, &Selection::default(), &routing);
        assert!(desired.log_groups.is_empty());
        assert_eq!(desired.skips[0].reason, SkipReason::LoopGuard);
        assert_eq!(
            forwarder_log_groups(&discovery, routing.forwarders.values()),
            [LogGroupName::new("/platform/forwarder-logs")].into()
        );
    }

    #[test]
    fn prefixes_collapse_to_the_shortest_cover() {
        let check = |input: &[&str], want: &[&str]| {
            let got: Vec<String> = collapse_prefixes(set(input)).into_keys().collect();
            assert_eq!(got, want, "{input:?}");
        };
        check(&["logs/a/", "logs/", "logs/b/"], &["logs/"]);
        check(&["a/", "b/", "ab/"], &["a/", "ab/", "b/"]);
        check(&["x", ""], &[""]);
        check(
            &["AWSLogs/1/elasticloadbalancing/", "AWSLogs/1/"],
            &["AWSLogs/1/"],
        );
        let merged = collapse_prefixes(set(&["logs/a/", "logs/"]));
        assert_eq!(
            merged["logs/"].len(),
            2,
            "sources of covered prefixes are kept"
        );
    }

    proptest! {
        #[test]
        fn collapsed_prefixes_are_minimal_and_cover_everything(
            input in proptest::collection::btree_set("[ab/]{0,4}", 0..8)
        ) {
            let refs: BTreeMap<&str, BTreeSet<String>> =
                input.iter().map(|p| (p.as_str(), BTreeSet::from([p.clone()]))).collect();
            let kept = collapse_prefixes(refs);
            for (a, i) in kept.keys().zip(0..) {
                for b in kept.keys().skip(i + 1) {
                    prop_assert!(!prefixes_overlap(a, b), "{a:?} overlaps {b:?}");
                }
            }
            for p in &input {
                prop_assert!(kept.iter().any(|(k, s)| p.starts_with(k.as_str()) && s.contains(p)));
            }
        }
    }
}
