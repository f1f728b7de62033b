//! CloudTrail management events, as EventBridge delivers them ("AWS API Call via CloudTrail"),
//! reduced to what they touch: a service's resource, a log group, a bucket, or the region's
//! account-level subscription filter policies. Event-driven mode runs a targeted pass over
//! exactly those; the scheduled passes stay the safety net for anything an event misses.
//!
//! The services' events are in the registry ([`crate::ServiceSpec::events`]); the events of the
//! triggers themselves (a filter deleted by hand, a bucket's notifications rewritten) are here.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::service::EventSpec;
use crate::{AccountId, BucketName, LogGroupName, Region, Service};

/// The EventBridge `detail-type` of CloudTrail management events.
pub const DETAIL_TYPE: &str = "AWS API Call via CloudTrail";

/// The name of the EventBridge rule, in every account and region, that sends the followed
/// events on (to the central event bus, or straight to the queue in the queue's own account and
/// region); `autosub doctor` looks for it by this name.
pub const RULE_NAME: &str = "autosub-log-source-changes";

/// The app name autosub's AWS calls carry in their User-Agent (`… app/autosub`), which
/// CloudTrail records as the event's `userAgent`: the events of autosub's own writes are
/// ignored, so each filter it puts does not come back as an event to read it again.
pub const OWN_APP_NAME: &str = "autosub";

/// What an event of [`TRIGGER_EVENTS`] touches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TriggerKind {
    /// The log group its key names.
    LogGroup,
    /// The bucket its key names.
    Bucket,
    /// The region's account-level subscription filter policies.
    AccountPolicies,
}

/// The events that change a trigger, or the place a trigger is put, directly.
pub const TRIGGER_EVENTS: [(EventSpec, TriggerKind); 3] = [
    (
        EventSpec {
            source: "logs.amazonaws.com",
            operations: &[
                "CreateLogGroup",
                "DeleteLogGroup",
                "PutSubscriptionFilter",
                "DeleteSubscriptionFilter",
            ],
            keys: &["requestParameters.logGroupName"],
        },
        TriggerKind::LogGroup,
    ),
    (
        EventSpec {
            source: "logs.amazonaws.com",
            operations: &["PutAccountPolicy", "DeleteAccountPolicy"],
            keys: &[],
        },
        TriggerKind::AccountPolicies,
    ),
    (
        EventSpec {
            source: "s3.amazonaws.com",
            operations: &["PutBucketNotification", "DeleteBucket"],
            keys: &["requestParameters.bucketName"],
        },
        TriggerKind::Bucket,
    ),
];

/// One thing an event touched.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Touched {
    /// A resource of `service`, by the name, id or ARN the event gives.
    Resource {
        /// The service.
        service: Service,
        /// Its name, id or ARN.
        key: String,
    },
    /// A log group.
    LogGroup(LogGroupName),
    /// A bucket.
    Bucket(BucketName),
    /// The region's account-level subscription filter policies.
    AccountPolicies,
}

/// What one event touched, in the account and region it happened in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Touches {
    /// The account.
    pub account: AccountId,
    /// The region (for global services, the region their events are recorded in).
    pub region: Region,
    /// The operation, without its API version (`CreateFunction`).
    pub operation: String,
    /// What it touched.
    pub touched: BTreeSet<Touched>,
}

/// How an event is handled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// A targeted pass is due over what it touched.
    Touches(Touches),
    /// Nothing to do, and why: the call failed, or autosub does not follow its operation (a rule
    /// matching more than it needs).
    Ignored(String),
}

/// Why a message is not an event autosub can read; such messages are dead-lettered.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// The body is not JSON.
    #[error("the message is not JSON: {0}")]
    NotJson(String),
    /// JSON, but not a CloudTrail management event delivered by EventBridge.
    #[error(
        "not a CloudTrail management event ({0}); the queue should receive only what the autosub rule sends"
    )]
    Unknown(String),
    /// A followed event without a field autosub needs.
    #[error("{operation} event from {event_source} lacks {missing}")]
    Malformed {
        /// The event's source.
        event_source: String,
        /// The operation.
        operation: String,
        /// What is missing.
        missing: String,
    },
}

/// `event_name` without the API version some services append: Lambda's `20150331`, `20150331v2`,
/// CloudFront's `2020_05_31`.
pub fn operation(event_name: &str) -> &str {
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    // CloudFront: <op>YYYY_MM_DD.
    if let Some(cut) = event_name.len().checked_sub(10)
        && cut > 0
        && let (Some(head), Some(date)) = (event_name.get(..cut), event_name.get(cut..))
        && let [year, month, day] = date.split('_').collect::<Vec<_>>()[..]
        && [(year, 4), (month, 2), (day, 2)]
            .iter()
            .all(|(part, len)| part.len() == *len && all_digits(part))
    {
        return head;
    }
    // Lambda: <op>YYYYMMDD, then maybe v<n>.
    let dated = match event_name.rsplit_once('v') {
        Some((dated, revision)) if all_digits(revision) => dated,
        _ => event_name,
    };
    match dated.len().checked_sub(8) {
        Some(cut) if cut > 0 && dated.get(cut..).is_some_and(all_digits) => &dated[..cut],
        _ => event_name,
    }
}

/// Reads one EventBridge message: what it touches, why it is ignored, or why it is unreadable.
pub fn read(body: &str) -> Result<Verdict, EventError> {
    let event: Value =
        serde_json::from_str(body).map_err(|e| EventError::NotJson(e.to_string()))?;
    let detail_type = event.get("detail-type").and_then(Value::as_str);
    if detail_type != Some(DETAIL_TYPE) {
        return Err(EventError::Unknown(match detail_type {
            Some(other) => format!("detail-type {other:?}"),
            None => "no detail-type".to_owned(),
        }));
    }
    let detail = event
        .get("detail")
        .filter(|d| d.is_object())
        .ok_or_else(|| EventError::Unknown("no detail".to_owned()))?;
    let text = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).map(str::to_owned);
    let source = text(detail, "eventSource")
        .ok_or_else(|| EventError::Unknown("no detail.eventSource".to_owned()))?;
    let event_name = text(detail, "eventName")
        .ok_or_else(|| EventError::Unknown("no detail.eventName".to_owned()))?;
    let op = operation(&event_name).to_owned();
    let malformed = |missing: &str| EventError::Malformed {
        event_source: source.clone(),
        operation: op.clone(),
        missing: missing.to_owned(),
    };
    let account = text(&event, "account")
        .or_else(|| text(detail, "recipientAccountId"))
        .ok_or_else(|| malformed("account"))?;
    let region = text(&event, "region")
        .or_else(|| text(detail, "awsRegion"))
        .ok_or_else(|| malformed("region"))?;
    if let Some(code) = text(detail, "errorCode") {
        return Ok(Verdict::Ignored(format!("{op} failed ({code})")));
    }
    if text(detail, "userAgent").is_some_and(|agent| made_by_autosub(&agent)) {
        return Ok(Verdict::Ignored(format!("{op} was autosub's own call")));
    }

    let mut touched = BTreeSet::new();
    let mut followed = false;
    for (spec, kind) in specs() {
        if spec.source != source || !spec.operations.contains(&op.as_str()) {
            continue;
        }
        followed = true;
        if kind == Kind::Trigger(TriggerKind::AccountPolicies) {
            touched.insert(Touched::AccountPolicies);
        }
        for key in spec.keys.iter().flat_map(|path| strings_at(detail, path)) {
            touched.insert(match kind {
                Kind::Service(service) => Touched::Resource { service, key },
                Kind::Trigger(TriggerKind::LogGroup) => Touched::LogGroup(LogGroupName::new(key)),
                Kind::Trigger(TriggerKind::Bucket) => Touched::Bucket(BucketName::new(key)),
                Kind::Trigger(TriggerKind::AccountPolicies) => continue,
            });
        }
    }
    if !followed {
        return Ok(Verdict::Ignored(format!(
            "autosub does not follow {op} from {source}"
        )));
    }
    if touched.is_empty() {
        return Err(malformed("the name of the resource it changed"));
    }
    Ok(Verdict::Touches(Touches {
        account: AccountId::new(account),
        region: Region::new(region),
        operation: op,
        touched,
    }))
}

/// True when a CloudTrail `userAgent` is an SDK's with autosub's app name: one of its
/// space-separated parts is `app/autosub` (CloudTrail may wrap the agent in brackets).
fn made_by_autosub(agent: &str) -> bool {
    let own = format!("app/{OWN_APP_NAME}");
    agent
        .split_whitespace()
        .any(|part| part.trim_matches(|c| c == '[' || c == ']') == own)
}

/// What a spec's matching events touch.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Service(Service),
    Trigger(TriggerKind),
}

/// Every event spec: the services' and the triggers'.
fn specs() -> impl Iterator<Item = (&'static EventSpec, Kind)> {
    let services = Service::ALL
        .into_iter()
        .flat_map(|s| s.spec().events.iter().map(move |e| (e, Kind::Service(s))));
    services.chain(TRIGGER_EVENTS.iter().map(|(e, k)| (e, Kind::Trigger(*k))))
}

/// The non-empty strings at a dotted `path` of `value`: one string, or an array of them. An
/// array on the way is walked item by item, as CloudTrail renders a repeated EC2 request field
/// (`FlowLogId: [{"content": "fl-1"}, {"content": "fl-2"}]` for `FlowLogId.content`).
fn strings_at(value: &Value, path: &str) -> Vec<String> {
    let mut found = vec![value];
    for key in path.split('.') {
        found = found
            .into_iter()
            .flat_map(|v| match v {
                Value::Array(items) => items.iter().filter_map(|i| i.get(key)).collect(),
                _ => v.get(key).into_iter().collect::<Vec<_>>(),
            })
            .collect();
    }
    let strings = found.into_iter().flat_map(|v| match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    });
    strings.filter(|s| !s.is_empty()).collect()
}

/// Every followed operation by event source: the services' (of `enabled`) and the triggers'.
pub fn followed(enabled: &BTreeSet<Service>) -> BTreeMap<&'static str, BTreeSet<&'static str>> {
    let mut all: BTreeMap<&'static str, BTreeSet<&'static str>> = BTreeMap::new();
    let services = enabled.iter().flat_map(|s| s.spec().events.iter());
    for spec in services.chain(TRIGGER_EVENTS.iter().map(|(e, _)| e)) {
        all.entry(spec.source)
            .or_default()
            .extend(spec.operations.iter().copied());
    }
    all
}

/// The EventBridge event pattern of the rule each account and region needs: CloudTrail
/// management events of every followed operation. Operations match as prefixes, so the API
/// versions some services append (`CreateFunction20150331`) match too; what a prefix matches
/// beyond them is read and ignored.
pub fn rule_pattern(enabled: &BTreeSet<Service>) -> Value {
    let followed = followed(enabled);
    let operations: BTreeSet<&str> = followed.values().flatten().copied().collect();
    serde_json::json!({
        "detail-type": [DETAIL_TYPE],
        "detail": {
            "eventSource": followed.keys().collect::<Vec<_>>(),
            "eventName": operations
                .into_iter()
                .map(|op| serde_json::json!({ "prefix": op }))
                .collect::<Vec<_>>(),
        },
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn envelope(source: &str, name: &str, detail: Value) -> String {
        let mut full = json!({
            "eventSource": source,
            "eventName": name,
            "awsRegion": "eu-west-1",
            "recipientAccountId": "123456789012",
        });
        full.as_object_mut()
            .unwrap()
            .extend(detail.as_object().unwrap().clone());
        json!({
            "version": "0",
            "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
            "detail-type": DETAIL_TYPE,
            "source": "aws.lambda",
            "account": "123456789012",
            "time": "2026-12-05T18:00:00Z",
            "region": "eu-west-1",
            "resources": [],
            "detail": full,
        })
        .to_string()
    }

    fn touched(body: &str) -> BTreeSet<Touched> {
        match read(body) {
            Ok(Verdict::Touches(t)) => {
                assert_eq!(t.account.as_str(), "123456789012");
                assert_eq!(t.region.as_str(), "eu-west-1");
                t.touched
            }
            other => panic!("{other:?}"),
        }
    }

    fn resource(service: Service, key: &str) -> Touched {
        Touched::Resource {
            service,
            key: key.to_owned(),
        }
    }

    #[test]
    fn api_versions_are_cut_from_event_names() {
        for (name, op) in [
            ("CreateFunction20150331", "CreateFunction"),
            (
                "UpdateFunctionConfiguration20150331v2",
                "UpdateFunctionConfiguration",
            ),
            ("TagResource20170331v2", "TagResource"),
            ("UpdateDistribution2020_05_31", "UpdateDistribution"),
            (
                "CreateDistributionWithTags2019_03_26",
                "CreateDistributionWithTags",
            ),
            ("PutBucketLogging", "PutBucketLogging"),
            ("CreateLogGroup", "CreateLogGroup"),
            ("Get2", "Get2"),
            ("20150331", "20150331"),
        ] {
            assert_eq!(operation(name), op, "{name}");
        }
    }

    #[test]
    fn service_events_touch_their_resources() {
        let new_function = envelope(
            "lambda.amazonaws.com",
            "CreateFunction20150331",
            json!({
                "requestParameters": {"functionName": "orders"},
                "responseElements": {"functionArn": "arn:aws:lambda:eu-west-1:123456789012:function:orders"},
            }),
        );
        assert_eq!(
            touched(&new_function),
            BTreeSet::from([
                resource(Service::Lambda, "orders"),
                resource(
                    Service::Lambda,
                    "arn:aws:lambda:eu-west-1:123456789012:function:orders"
                ),
            ])
        );
        let logging = envelope(
            "s3.amazonaws.com",
            "PutBucketLogging",
            json!({"requestParameters": {"bucketName": "web", "BucketLoggingStatus": {}}}),
        );
        assert_eq!(
            touched(&logging),
            BTreeSet::from([resource(Service::S3AccessLogs, "web")])
        );
        // A deleted bucket was a source and may hold triggers.
        let deleted = envelope(
            "s3.amazonaws.com",
            "DeleteBucket",
            json!({"requestParameters": {"bucketName": "web"}}),
        );
        assert_eq!(
            touched(&deleted),
            BTreeSet::from([
                resource(Service::S3AccessLogs, "web"),
                Touched::Bucket(BucketName::new("web")),
            ])
        );
        // Classic and v2 load balancers share the source; the fields tell them apart.
        let tags = envelope(
            "elasticloadbalancing.amazonaws.com",
            "AddTags",
            json!({"requestParameters": {"resourceArns": ["arn:a", "arn:b"], "tags": []}}),
        );
        assert_eq!(
            touched(&tags),
            BTreeSet::from([
                resource(Service::Elbv2, "arn:a"),
                resource(Service::Elbv2, "arn:b"),
            ])
        );
        let classic = envelope(
            "elasticloadbalancing.amazonaws.com",
            "ModifyLoadBalancerAttributes",
            json!({"requestParameters": {"loadBalancerName": "web"}}),
        );
        assert_eq!(
            touched(&classic),
            BTreeSet::from([resource(Service::Elb, "web")])
        );
        // EC2 renders its XML: one flow log id is a string, several an array (of ids in a
        // response, of `{content, tag}` items in a request).
        let created = envelope(
            "ec2.amazonaws.com",
            "CreateFlowLogs",
            json!({
                "requestParameters": {"CreateFlowLogsRequest": {"ResourceId": {"content": "vpc-1", "tag": 1}}},
                "responseElements": {"CreateFlowLogsResponse": {"flowLogIdSet": {"item": ["fl-1", "fl-2"]}}},
            }),
        );
        assert_eq!(
            touched(&created),
            BTreeSet::from([
                resource(Service::VpcFlowLogs, "fl-1"),
                resource(Service::VpcFlowLogs, "fl-2"),
            ])
        );
        for ids in [
            json!({"content": "fl-1", "tag": 1}),
            json!([{"content": "fl-1", "tag": 1}, {"content": "fl-2", "tag": 2}]),
        ] {
            let deleted = envelope(
                "ec2.amazonaws.com",
                "DeleteFlowLogs",
                json!({"requestParameters": {"DeleteFlowLogsRequest": {"FlowLogId": ids}}}),
            );
            assert!(
                touched(&deleted).contains(&resource(Service::VpcFlowLogs, "fl-1")),
                "{deleted}"
            );
        }
    }

    #[test]
    fn trigger_events_touch_log_groups_buckets_and_account_policies() {
        let deleted_filter = envelope(
            "logs.amazonaws.com",
            "DeleteSubscriptionFilter",
            json!({"requestParameters": {"logGroupName": "/aws/lambda/orders", "filterName": "autosub"}}),
        );
        assert_eq!(
            touched(&deleted_filter),
            BTreeSet::from([Touched::LogGroup(LogGroupName::new("/aws/lambda/orders"))])
        );
        let policy = envelope(
            "logs.amazonaws.com",
            "PutAccountPolicy",
            json!({"requestParameters": {"policyName": "x", "policyType": "SUBSCRIPTION_FILTER_POLICY"}}),
        );
        assert_eq!(touched(&policy), BTreeSet::from([Touched::AccountPolicies]));
    }

    #[test]
    fn failed_and_unfollowed_calls_are_ignored() {
        let failed = envelope(
            "lambda.amazonaws.com",
            "CreateFunction20150331",
            json!({"errorCode": "AccessDenied", "requestParameters": {"functionName": "x"}}),
        );
        assert_eq!(
            read(&failed),
            Ok(Verdict::Ignored(
                "CreateFunction failed (AccessDenied)".to_owned()
            ))
        );
        let url = envelope(
            "lambda.amazonaws.com",
            "CreateFunctionUrlConfig20211031",
            json!({"requestParameters": {"functionName": "x"}}),
        );
        assert!(matches!(read(&url), Ok(Verdict::Ignored(why)) if why.contains("does not follow")));
    }

    #[test]
    fn autosubs_own_writes_are_ignored_and_everyone_elses_followed() {
        let put_by = |agent: &str| {
            envelope(
                "logs.amazonaws.com",
                "PutSubscriptionFilter",
                json!({"userAgent": agent, "requestParameters": {"logGroupName": "/a", "filterName": "f"}}),
            )
        };
        for own in [
            "aws-sdk-rust/1.3.9 ua/2.1 api/cloudwatchlogs/1.9 os/linux lang/rust/1.95.0 app/autosub",
            "[aws-sdk-rust/1.3.9 os/linux lang/rust/1.95.0 app/autosub]",
        ] {
            assert_eq!(
                read(&put_by(own)),
                Ok(Verdict::Ignored(
                    "PutSubscriptionFilter was autosub's own call".to_owned()
                )),
                "{own}"
            );
        }
        for other in [
            "console.amazonaws.com",
            "aws-cli/2.17.0 Python/3.12 Linux/6.1 app/autosub-fork",
            "Boto3/1.35.0 md/Botocore#1.35.0 ua/2.0 os/linux lang/python#3.12",
        ] {
            assert_eq!(
                touched(&put_by(other)),
                BTreeSet::from([Touched::LogGroup(LogGroupName::new("/a"))]),
                "{other}"
            );
        }
    }

    #[test]
    fn unreadable_messages_say_why() {
        assert!(matches!(read("{not json"), Err(EventError::NotJson(_))));
        let scheduled = json!({"detail-type": "Scheduled Event", "detail": {}}).to_string();
        let err = read(&scheduled).unwrap_err();
        assert!(err.to_string().contains("\"Scheduled Event\""), "{err}");
        let nameless = envelope(
            "lambda.amazonaws.com",
            "DeleteFunction20150331",
            json!({"requestParameters": {}}),
        );
        let err = read(&nameless).unwrap_err();
        assert_eq!(
            err.to_string(),
            "DeleteFunction event from lambda.amazonaws.com lacks the name of the resource it changed"
        );
    }

    #[test]
    fn every_service_has_events_and_the_rule_fits_eventbridge_s_pattern_quota() {
        for service in Service::ALL {
            assert!(!service.spec().events.is_empty(), "{service}");
        }
        let all: BTreeSet<Service> = Service::ALL.into_iter().collect();
        let pattern = rule_pattern(&all).to_string();
        // EventBridge's default quota for an event pattern is 2,048 characters.
        assert!(
            pattern.len() <= 2048,
            "{} characters: {pattern}",
            pattern.len()
        );
        // Every followed event is matched by the rule.
        for (source, ops) in followed(&all) {
            assert!(pattern.contains(&format!("\"{source}\"")));
            for op in ops {
                assert!(
                    pattern.contains(&format!("{{\"prefix\":\"{op}\"}}")),
                    "{op}"
                );
            }
        }
    }
}
