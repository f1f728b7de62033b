//! The checks of event-driven mode, when `[events] queue_url` is set: the queue (reachable,
//! dead-lettered, encrypted, open to EventBridge), the rule `autosub-log-source-changes` on the
//! default bus of every account and region a run reconciles (enabled, autosub's pattern, sent on
//! to the right place), the central bus's policy for member accounts, and a CloudTrail trail
//! that records the write management events in each of those regions.
//!
//! The topology checked is docs/events.md's: in the queue's own account and region the rule
//! targets the queue; everywhere else it targets the default bus of the queue's account in the
//! queue's region, whose own rule passes the events on.
//!
//! Every read here is the doctor's own (a run never makes it), so a denied read is a warning
//! ("cannot verify"), not a failure.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use autosub_aws::error::{AwsError, ErrorClass};
use autosub_aws::event_rules::{EventRule, EventRulesApi};
use autosub_aws::queue_attributes::{QueueAttributes, QueueEncryption};
use autosub_aws::trails::{ManagementWrites, Trail};
use autosub_config::QueueUrl;
use autosub_core::cloudtrail::{self, DETAIL_TYPE, RULE_NAME};
use autosub_core::{AccountId, Partition, Region, Service};
use autosub_engine::follow::MAX_RECEIVES_WITHOUT_DLQ;
use serde_json::Value;

use super::{Check, DoctorCx};

/// What a region without a recording trail means, said plainly. EventBridge's user guide: "To
/// record events with a detail-type value of AWS API Call via CloudTrail, a CloudTrail trail
/// with logging enabled is required"
/// (<https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-service-event-cloudtrail.html>;
/// the same sentence is in the tutorial `eb-ct-api-tutorial.html`).
pub const NO_API_CALL_EVENTS: &str =
    "EventBridge gets no API-call events here; new sources wait for the scheduled pass";

/// The AWS managed key of SQS. Its key policy cannot be changed, so it can never let
/// EventBridge encrypt: "To allow these event sources to work with encrypted queues, you must
/// create a customer managed KMS key and add permissions in the key policy for the service"
/// (<https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-key-management.html>).
const SQS_MANAGED_KEY: &str = "alias/aws/sqs";

/// The service principal EventBridge delivers to a queue as.
const EVENTS_PRINCIPAL: &str = "events.amazonaws.com";

/// Where the queue is, and so where every rule must send.
struct Topology<'a> {
    queue: &'a QueueUrl,
    /// The queue's region ([`autosub_config::Config::events_queue_region`]).
    region: Region,
}

impl<'a> Topology<'a> {
    fn of(cx: &'a DoctorCx<'_>) -> Option<Self> {
        let queue = cx.config.events.queue.as_ref()?;
        let region = cx
            .config
            .events_queue_region()
            .unwrap_or_else(|| cx.factory.own_region());
        Some(Self { queue, region })
    }

    fn partition(&self) -> &'static str {
        Partition::of(&self.region).as_str()
    }

    fn queue_arn(&self) -> String {
        format!(
            "arn:{}:sqs:{}:{}:{}",
            self.partition(),
            self.region,
            self.queue.account,
            self.queue.name
        )
    }

    fn central_bus_arn(&self) -> String {
        format!(
            "arn:{}:events:{}:{}:event-bus/default",
            self.partition(),
            self.region,
            self.queue.account
        )
    }

    /// True for the queue's own account and region, whose rule sends straight to the queue.
    fn is_central(&self, account: &AccountId, region: &Region) -> bool {
        account == &self.queue.account && region == &self.region
    }

    /// What the rule of `account` × `region` must send to, and how to say it.
    fn target_of(&self, account: &AccountId, region: &Region) -> (String, String) {
        if self.is_central(account, region) {
            (self.queue_arn(), "the queue".to_owned())
        } else {
            (
                self.central_bus_arn(),
                format!(
                    "the default bus of {} in {}",
                    self.queue.account, self.region
                ),
            )
        }
    }
}

/// How the central bus's policy lets a member account put events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BusGrant {
    /// The member is the queue's own account: no policy needed.
    SameAccount,
    /// A statement names the account.
    Account,
    /// A statement grants the organization (`aws:PrincipalOrgID`): the member's targets then
    /// need an execution role.
    Organization,
    /// Nothing lets it, or the policy could not be read.
    Unknown,
}

fn enabled_services(cx: &DoctorCx<'_>) -> BTreeSet<Service> {
    cx.config.services.enabled().into_keys().collect()
}

/// The queue's checks and its own account and region's rule; nothing without `[events]`.
pub async fn queue_checks(cx: &DoctorCx<'_>) -> Vec<Check> {
    let Some(topology) = Topology::of(cx) else {
        return Vec::new();
    };
    let queue = topology.queue;
    let region = &topology.region;
    let mut checks = Vec::new();
    const NAME: &str = "events queue";
    match cx
        .factory
        .queue_attributes(&queue.url, region)
        .attributes()
        .await
    {
        Err(e) => checks.push(Check::fail(
            NAME,
            format!("events.queue_url {} cannot be read: {e}", queue.url),
            queue_fix(&e, region),
        )),
        Ok(attributes) => {
            checks.push(Check::pass(
                NAME,
                format!(
                    "{} answers (events.queue_url, region {region})",
                    if attributes.arn.is_empty() {
                        queue.url.as_str()
                    } else {
                        attributes.arn.as_str()
                    }
                ),
            ));
            checks.push(redrive_check(&attributes));
            checks.push(encryption_check(&attributes));
            checks.push(queue_policy_check(&attributes, &topology));
        }
    }
    let scope = if cx.config.fleet.is_fleet() {
        format!("{}/{region}", queue.account)
    } else {
        region.to_string()
    };
    checks.extend(
        rule_checks(
            cx,
            &topology,
            &queue.account,
            region,
            &scope,
            BusGrant::SameAccount,
        )
        .await,
    );
    checks
}

/// One account's checks: the central bus lets it send (a member account), the rule in each of
/// its regions (but the queue's own, which [`queue_checks`] covers), and a trail recording
/// write management events in each.
pub(super) async fn account_checks(
    cx: &DoctorCx<'_>,
    account: &AccountId,
    regions: &[Region],
    scope: &dyn Fn(&Region) -> String,
) -> Vec<Check> {
    let Some(topology) = Topology::of(cx) else {
        return Vec::new();
    };
    let mut checks = Vec::new();
    let grant = if account == &topology.queue.account {
        BusGrant::SameAccount
    } else {
        let (check, grant) = bus_check(cx, &topology, account).await;
        checks.push(check);
        grant
    };
    for region in regions {
        if !topology.is_central(account, region) {
            checks.extend(rule_checks(cx, &topology, account, region, &scope(region), grant).await);
        }
    }
    checks.extend(trail_checks(cx, account, regions, scope).await);
    checks
}

fn queue_fix(e: &AwsError, region: &Region) -> String {
    match e.class {
        ErrorClass::NotFound => "the queue does not exist: fix events.queue_url (`aws sqs get-queue-url --queue-name <name>` prints it), or create the queue".to_owned(),
        ErrorClass::AccessDenied => "allow sqs:GetQueueAttributes on the queue to autosub's role; the queue must be in the account autosub runs in, else fix events.queue_url".to_owned(),
        _ => format!("check that sqs in {region} is reachable from here (AWS_ENDPOINT_URL_SQS or an interface VPC endpoint com.amazonaws.{region}.sqs), and that events.queue_url is the queue's URL"),
    }
}

fn redrive_check(attributes: &QueueAttributes) -> Check {
    const NAME: &str = "events queue redrive";
    match &attributes.redrive {
        Some(r) if !r.dead_letter_arn.is_empty() => Check::pass(
            NAME,
            format!(
                "a message moves to {} after {} receives",
                r.dead_letter_arn,
                r.max_receives
                    .map_or_else(|| "maxReceiveCount".to_owned(), |n| n.to_string())
            ),
        ),
        _ => Check::warn(
            NAME,
            format!(
                "no redrive policy: a message autosub cannot read (a poison message) is dropped after {MAX_RECEIVES_WITHOUT_DLQ} receives, with an error in the log, instead of being kept in a dead-letter queue"
            ),
            "give the queue a redrive policy to a dead-letter queue (maxReceiveCount 5 is plenty)",
        ),
    }
}

fn encryption_check(attributes: &QueueAttributes) -> Check {
    const NAME: &str = "events queue encryption";
    match &attributes.encryption {
        QueueEncryption::SqsManaged => {
            Check::pass(NAME, "SSE-SQS (keys SQS owns; no key policy to grant)")
        }
        QueueEncryption::Kms(key) if key == SQS_MANAGED_KEY => Check::fail(
            NAME,
            format!(
                "encrypted with the AWS managed key {SQS_MANAGED_KEY}, whose key policy cannot let events.amazonaws.com encrypt: EventBridge cannot deliver to this queue"
            ),
            "switch the queue to SSE-SQS (SqsManagedSseEnabled), or to a customer managed key whose policy allows events.amazonaws.com kms:GenerateDataKey and kms:Decrypt",
        ),
        QueueEncryption::Kms(key) => Check::warn(
            NAME,
            format!(
                "SSE-KMS with key {key}; the doctor does not read key policies, and EventBridge can deliver only if this one lets events.amazonaws.com kms:GenerateDataKey and kms:Decrypt"
            ),
            "check the key policy, or switch the queue to SSE-SQS (SqsManagedSseEnabled)",
        ),
        QueueEncryption::None => Check::warn(
            NAME,
            "not encrypted at rest: the CloudTrail events it holds name resources and the callers who changed them",
            "turn on SSE-SQS (SqsManagedSseEnabled = true)",
        ),
    }
}

/// The statements of a resource policy (`Statement` is an object or a list).
fn statements(policy: &str) -> Option<Vec<Value>> {
    let value: Value = serde_json::from_str(policy).ok()?;
    Some(match &value["Statement"] {
        Value::Array(list) => list.clone(),
        Value::Object(_) => vec![value["Statement"].clone()],
        _ => Vec::new(),
    })
}

/// The strings of a policy element that is a string or a list of strings.
fn strings(value: &Value) -> Vec<&str> {
    match value {
        Value::String(s) => vec![s.as_str()],
        Value::Array(list) => list.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// True when an `Allow` statement's `Action` covers `action` (`service:Name`), by name or
/// wildcard.
fn allows_action(statement: &Value, action: &str) -> bool {
    let service = action.split(':').next().unwrap_or_default();
    statement["Effect"] == "Allow"
        && strings(&statement["Action"]).iter().any(|a| {
            a.eq_ignore_ascii_case(action)
                || *a == "*"
                || a.eq_ignore_ascii_case(&format!("{service}:*"))
        })
}

fn queue_policy_check(attributes: &QueueAttributes, topology: &Topology<'_>) -> Check {
    const NAME: &str = "events queue policy";
    let rule = format!(
        "the rule {RULE_NAME} in {}/{}",
        topology.queue.account, topology.region
    );
    let fix = format!(
        "add a statement allowing Principal {{\"Service\": \"{EVENTS_PRINCIPAL}\"}} sqs:SendMessage on the queue, with condition aws:SourceArn = arn:{}:events:{}:{}:rule/{RULE_NAME}",
        topology.partition(),
        topology.region,
        topology.queue.account
    );
    let Some(policy) = &attributes.policy else {
        return Check::warn(
            NAME,
            format!("the queue has no resource policy: {rule} cannot send it events"),
            fix,
        );
    };
    let Some(statements) = statements(policy) else {
        return Check::warn(NAME, "the queue's resource policy is not valid JSON", fix);
    };
    let sending: Vec<&Value> = statements
        .iter()
        .filter(|s| allows_action(s, "sqs:SendMessage"))
        .collect();
    let to_events = sending
        .iter()
        .find(|s| strings(&s["Principal"]["Service"]).contains(&EVENTS_PRINCIPAL));
    let to_anyone = sending
        .iter()
        .find(|s| s["Principal"] == "*" || strings(&s["Principal"]["AWS"]).contains(&"*"));
    match (to_events, to_anyone) {
        (Some(s), _) => Check::pass(
            NAME,
            format!(
                "statement {} lets {EVENTS_PRINCIPAL} send ({rule} delivers as it)",
                s["Sid"]
                    .as_str()
                    .map_or_else(|| "without a Sid".to_owned(), |sid| format!("{sid:?}"))
            ),
        ),
        (None, Some(_)) => Check::warn(
            NAME,
            format!(
                "the queue policy lets any principal send, but does not name {EVENTS_PRINCIPAL}"
            ),
            fix,
        ),
        (None, None) => Check::warn(
            NAME,
            format!(
                "the queue policy does not mention {EVENTS_PRINCIPAL} with sqs:SendMessage: {rule} cannot send it events"
            ),
            fix,
        ),
    }
}

/// For a member account: the default bus of the queue's account in the queue's region lets it
/// put events (by account id, or the organization through `aws:PrincipalOrgID`).
async fn bus_check(
    cx: &DoctorCx<'_>,
    topology: &Topology<'_>,
    account: &AccountId,
) -> (Check, BusGrant) {
    let name = format!("events bus allows {account}");
    let bus = topology.central_bus_arn();
    let fix = format!(
        "let account {account} events:PutEvents on {bus} (aws events put-permission --event-bus-name default --action events:PutEvents --principal {account} --statement-id autosub-{account}), or grant the organization with an aws:PrincipalOrgID condition"
    );
    let policy = match cx
        .factory
        .event_rules(&topology.queue.account, &topology.region)
        .bus_policy()
        .await
    {
        Ok(policy) => policy,
        Err(e) => {
            return (
                Check::warn(
                    name,
                    format!("cannot read the policy of {bus}: {e}"),
                    "allow events:DescribeEventBus on the bus to the role the doctor runs as",
                ),
                BusGrant::Unknown,
            );
        }
    };
    let grant = policy
        .as_deref()
        .map_or(BusGrant::Unknown, |p| bus_grant(p, account));
    let check = match grant {
        BusGrant::Account => Check::pass(name, format!("{bus} lets account {account} put events")),
        BusGrant::Organization => Check::pass(
            name,
            format!("{bus} lets the organization put events (aws:PrincipalOrgID)"),
        ),
        BusGrant::SameAccount | BusGrant::Unknown => Check::fail(
            name,
            format!(
                "{bus} has {}: the events of {account}'s rules are refused",
                if policy.is_some() {
                    "no statement for the account or its organization"
                } else {
                    "no resource policy"
                }
            ),
            fix,
        ),
    };
    (check, grant)
}

fn bus_grant(policy: &str, account: &AccountId) -> BusGrant {
    let Some(statements) = statements(policy) else {
        return BusGrant::Unknown;
    };
    let putting: Vec<&Value> = statements
        .iter()
        .filter(|s| allows_action(s, "events:PutEvents"))
        .collect();
    if putting
        .iter()
        .any(|s| s["Principal"].to_string().contains(account.as_str()))
    {
        return BusGrant::Account;
    }
    let by_org = putting.iter().any(|s| {
        let condition = s["Condition"].to_string().to_ascii_lowercase();
        condition.contains("aws:principalorgid") || condition.contains("aws:principalorgpaths")
    });
    if by_org {
        BusGrant::Organization
    } else {
        BusGrant::Unknown
    }
}

/// The rule of one account × region: there and enabled, autosub's pattern, the right target.
async fn rule_checks(
    cx: &DoctorCx<'_>,
    topology: &Topology<'_>,
    account: &AccountId,
    region: &Region,
    scope: &str,
    grant: BusGrant,
) -> Vec<Check> {
    let name = format!("events rule {scope}");
    let api = cx.factory.event_rules(account, region);
    let (target, target_desc) = topology.target_of(account, region);
    let rule = match api.rule(RULE_NAME).await {
        Ok(Some(rule)) => rule,
        Ok(None) => {
            return vec![Check::fail(
                name,
                format!(
                    "no rule {RULE_NAME} on the default bus: nothing from here reaches the queue, and new sources here wait for the scheduled pass"
                ),
                format!(
                    "create the rule on the default bus of {account} in {region} with autosub's pattern (`autosub_core::cloudtrail::rule_pattern` of the enabled services), targeting {target_desc} ({target})"
                ),
            )];
        }
        Err(e) => {
            return vec![unreadable(
                name,
                &e,
                "events:DescribeRule and events:ListTargetsByRule",
                region,
            )];
        }
    };
    if !rule.state.is_enabled() {
        return vec![Check::fail(
            name,
            format!(
                "rule {RULE_NAME} is {}: it matches nothing, so new sources here wait for the scheduled pass",
                rule.state.as_str()
            ),
            format!("aws events enable-rule --name {RULE_NAME} --region {region}"),
        )];
    }
    let mut checks = vec![Check::pass(
        name,
        format!(
            "rule {RULE_NAME} is {} on the default bus",
            rule.state.as_str()
        ),
    )];
    checks.push(pattern_check(scope, &rule, &enabled_services(cx)));
    checks.push(
        target_check(
            &*api,
            scope,
            topology,
            region,
            (&target, &target_desc),
            account,
            grant,
        )
        .await,
    );
    checks
}

/// A read of the doctor's own that failed: a warning when denied (it cannot verify), a failure
/// otherwise (the service does not answer).
fn unreadable(name: String, e: &AwsError, actions: &str, region: &Region) -> Check {
    if e.class == ErrorClass::AccessDenied {
        Check::warn(
            name,
            format!("cannot verify: {e}"),
            format!(
                "allow {actions} to the role the doctor runs as (docs/events.md lists the doctor's reads)"
            ),
        )
    } else {
        Check::fail(
            name,
            format!("cannot read: {e}"),
            format!(
                "check that the service in {region} is reachable from here (its AWS_ENDPOINT_URL_<SERVICE>, or an interface VPC endpoint)"
            ),
        )
    }
}

fn pattern_check(scope: &str, rule: &EventRule, enabled: &BTreeSet<Service>) -> Check {
    let name = format!("events rule {scope} pattern");
    let fix = "put the rule again with autosub's pattern for the enabled services (`autosub_core::cloudtrail::rule_pattern`; the deploy templates carry it)";
    let Some(text) = &rule.pattern else {
        return Check::fail(name, format!("rule {RULE_NAME} has no event pattern"), fix);
    };
    let have: Value = match serde_json::from_str(text) {
        Ok(have) => have,
        Err(e) => {
            return Check::fail(name, format!("the pattern is not JSON: {e}"), fix);
        }
    };
    let want = cloudtrail::rule_pattern(enabled);
    let followed = cloudtrail::followed(enabled);
    let operations: usize = followed.values().map(BTreeSet::len).sum();
    if normalized(&have) == normalized(&want) {
        return Check::pass(
            name,
            format!(
                "autosub's pattern: the {operations} followed operations of {} event sources",
                followed.len()
            ),
        );
    }
    let coverage = coverage(&have, &followed);
    let missing_count: usize = coverage.missing.values().map(Vec::len).sum();
    if missing_count == operations {
        return Check::fail(
            name,
            format!(
                "the pattern matches none of the {operations} followed operations; nothing reaches the queue from here"
            ),
            fix,
        );
    }
    if missing_count > 0 {
        let listed = coverage
            .missing
            .iter()
            .map(|(source, ops)| format!("{source} {}", ops.join(", ")))
            .collect::<Vec<_>>()
            .join("; ");
        return Check::warn(
            name,
            format!(
                "the pattern misses {missing_count} of the {operations} followed operations ({listed}): their changes wait for the scheduled pass"
            ),
            fix,
        );
    }
    if !coverage.unread_keys.is_empty() {
        return Check::warn(
            name,
            format!(
                "the pattern also filters on {}, which autosub's does not: what it drops waits for the scheduled pass",
                coverage.unread_keys.join(", ")
            ),
            fix,
        );
    }
    Check::pass(
        name,
        format!(
            "differs from autosub's pattern but matches all {operations} followed operations (what else it matches is read and ignored)"
        ),
    )
}

/// Arrays sorted (by their JSON text), so that the same pattern written in another order
/// compares equal.
fn normalized(value: &Value) -> Value {
    match value {
        Value::Array(items) => {
            let mut items: Vec<Value> = items.iter().map(normalized).collect();
            items.sort_by_cached_key(Value::to_string);
            Value::Array(items)
        }
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), normalized(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// What a rule pattern lets through of the followed operations.
struct Coverage {
    /// Followed operations it does not match, by event source.
    missing: BTreeMap<String, Vec<String>>,
    /// Keys it filters on that autosub's pattern does not use (`account`, `detail.errorCode`).
    unread_keys: Vec<String>,
}

/// Which followed operations `pattern` matches, reading the keys autosub's pattern uses
/// (`detail-type`, `source`, `detail.eventSource`, `detail.eventName`); an absent key matches
/// everything, as in EventBridge.
fn coverage(pattern: &Value, followed: &BTreeMap<&str, BTreeSet<&str>>) -> Coverage {
    let field = |value: &Value, candidate: &str| -> bool {
        match value {
            Value::Null => true,
            Value::Array(matchers) => matchers.iter().any(|m| matches(m, candidate)),
            _ => false,
        }
    };
    let detail = &pattern["detail"];
    let detail_type = field(&pattern["detail-type"], DETAIL_TYPE);
    let mut missing: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (source, operations) in followed {
        let short = source.split('.').next().unwrap_or(source);
        let source_ok = detail_type
            && field(&pattern["source"], &format!("aws.{short}"))
            && field(&detail["eventSource"], source);
        for op in operations {
            if !(source_ok && field(&detail["eventName"], op)) {
                missing
                    .entry((*source).to_owned())
                    .or_default()
                    .push((*op).to_owned());
            }
        }
    }
    let mut unread_keys = Vec::new();
    if let Value::Object(top) = pattern {
        unread_keys.extend(
            top.keys()
                .filter(|k| !["detail-type", "source", "detail"].contains(&k.as_str()))
                .cloned(),
        );
    }
    if let Value::Object(inner) = detail {
        unread_keys.extend(
            inner
                .keys()
                .filter(|k| !["eventSource", "eventName"].contains(&k.as_str()))
                .map(|k| format!("detail.{k}")),
        );
    }
    Coverage {
        missing,
        unread_keys,
    }
}

/// One EventBridge matcher against a string: a literal, or `prefix`, `suffix`,
/// `equals-ignore-case`, `wildcard`, `anything-but`; other matchers are taken as not matching.
fn matches(matcher: &Value, candidate: &str) -> bool {
    match matcher {
        Value::String(s) => s == candidate,
        Value::Object(m) => m.iter().all(|(kind, arg)| match (kind.as_str(), arg) {
            ("prefix", Value::String(p)) => candidate.starts_with(p.as_str()),
            ("suffix", Value::String(s)) => candidate.ends_with(s.as_str()),
            ("equals-ignore-case", Value::String(s)) => s.eq_ignore_ascii_case(candidate),
            ("wildcard", Value::String(w)) => wildcard(w, candidate),
            ("anything-but", Value::Array(list)) => !list.iter().any(|m| matches(m, candidate)),
            ("anything-but", other) => !matches(other, candidate),
            _ => false,
        }),
        _ => false,
    }
}

/// `*` matches any run of characters.
fn wildcard(pattern: &str, candidate: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let [first, middle @ .., last] = parts.as_slice() else {
        return pattern == candidate;
    };
    let Some(mut rest) = candidate.strip_prefix(first) else {
        return false;
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

async fn target_check(
    api: &dyn EventRulesApi,
    scope: &str,
    topology: &Topology<'_>,
    region: &Region,
    (target, target_desc): (&str, &str),
    account: &AccountId,
    grant: BusGrant,
) -> Check {
    let name = format!("events rule {scope} target");
    let fix = format!("give the rule the target {target} ({target_desc})");
    let targets = match api.targets(RULE_NAME).await {
        Ok(targets) => targets,
        Err(e) => return unreadable(name, &e, "events:ListTargetsByRule", region),
    };
    if targets.is_empty() {
        return Check::fail(
            name,
            format!("rule {RULE_NAME} has no target: what it matches goes nowhere"),
            fix,
        );
    }
    if let Some(found) = targets.iter().find(|t| t.arn == target) {
        if grant == BusGrant::Organization && found.role_arn.is_none() {
            return Check::warn(
                name,
                format!(
                    "sends to {target_desc} without an execution role; the central bus grants the organization, and then EventBridge requires the sender's target to name a RoleArn (PutPermission)"
                ),
                format!(
                    "give the target a role that events.amazonaws.com can assume and that may events:PutEvents on {target}"
                ),
            );
        }
        return Check::pass(name, format!("sends to {target_desc} ({target})"));
    }
    let queue = topology.queue_arn();
    if region == &topology.region
        && account != &topology.queue.account
        && targets.iter().any(|t| t.arn == queue)
    {
        return Check::warn(
            name,
            format!(
                "sends straight to the queue {queue}, not through {target_desc}: it works only if the queue policy allows this rule's execution role"
            ),
            fix,
        );
    }
    let listed = targets
        .iter()
        .map(|t| t.arn.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    Check::fail(
        name,
        format!(
            "rule {RULE_NAME} sends to {listed}, not to {target_desc}: nothing from here reaches the queue"
        ),
        fix,
    )
}

/// What the doctor learnt of one trail (read once per account, in its home region).
struct TrailState {
    logging: Result<bool, AwsError>,
    writes: Result<ManagementWrites, AwsError>,
}

/// One check per region: a trail that applies there is logging and records the write
/// management events of every followed event source.
async fn trail_checks(
    cx: &DoctorCx<'_>,
    account: &AccountId,
    regions: &[Region],
    scope: &dyn Fn(&Region) -> String,
) -> Vec<Check> {
    let followed = cloudtrail::followed(&enabled_services(cx));
    let mut known: HashMap<String, TrailState> = HashMap::new();
    let mut checks = Vec::new();
    for region in regions {
        let name = format!("cloudtrail {}", scope(region));
        let trails = match cx.factory.trails(account, region).trails().await {
            Ok(trails) => trails,
            Err(e) => {
                checks.push(Check::warn(
                    name,
                    format!("cannot tell whether a trail records management events here: {e}"),
                    "allow cloudtrail:DescribeTrails, cloudtrail:GetTrailStatus and cloudtrail:GetEventSelectors to the role the doctor runs as",
                ));
                continue;
            }
        };
        for trail in &trails {
            if !known.contains_key(&trail.arn) {
                let home = cx.factory.trails(account, &trail.home_region);
                let state = TrailState {
                    logging: home.is_logging(&trail.arn).await,
                    writes: home.management_writes(&trail.arn).await,
                };
                known.insert(trail.arn.clone(), state);
            }
        }
        checks.push(trail_check(name, region, &trails, &known, &followed));
    }
    checks
}

fn trail_kind(trail: &Trail) -> &'static str {
    if trail.organization {
        "organization trail"
    } else if trail.multi_region {
        "multi-region trail"
    } else {
        "trail"
    }
}

fn trail_check(
    name: String,
    region: &Region,
    trails: &[Trail],
    known: &HashMap<String, TrailState>,
    followed: &BTreeMap<&str, BTreeSet<&str>>,
) -> Check {
    let fix = "create a multi-region trail (or an organization trail) that records management events with ReadWriteType All or WriteOnly, and start it (aws cloudtrail start-logging --name <trail>)";
    let mut recording: Vec<(&Trail, &ManagementWrites)> = Vec::new();
    let mut why_not = Vec::new();
    let mut unverified = Vec::new();
    for trail in trails {
        let Some(state) = known.get(&trail.arn) else {
            continue;
        };
        let label = format!("{} {}", trail_kind(trail), trail.name);
        match (&state.logging, &state.writes) {
            (Ok(false), _) => why_not.push(format!("{label} is not logging")),
            (Err(e), _) | (_, Err(e)) => unverified.push(format!("{label}: {e}")),
            (Ok(true), Ok(writes)) if !writes.records_any() => {
                why_not.push(format!("{label} records no write management events"));
            }
            (Ok(true), Ok(writes)) => recording.push((trail, writes)),
        }
    }
    if recording.is_empty() {
        if !unverified.is_empty() {
            return Check::warn(
                name,
                format!(
                    "cannot verify the trails that apply to {region}: {}",
                    unverified.join("; ")
                ),
                "allow cloudtrail:GetTrailStatus and cloudtrail:GetEventSelectors to the role the doctor runs as (an organization trail's are read by its ARN)",
            );
        }
        let found = if trails.is_empty() {
            format!("no trail applies to {region}")
        } else {
            why_not.join("; ")
        };
        return Check::fail(name, format!("{found}: {NO_API_CALL_EVENTS}"), fix);
    }
    let left_out: Vec<&str> = followed
        .keys()
        .filter(|source| !recording.iter().any(|(_, w)| w.records(source)))
        .copied()
        .collect();
    let names = recording
        .iter()
        .map(|(t, _)| format!("{} {}", trail_kind(t), t.name))
        .collect::<Vec<_>>()
        .join(", ");
    if !left_out.is_empty() {
        return Check::warn(
            name,
            format!(
                "{names} leaves out the management events of {}: EventBridge gets none of their API calls here, and their new sources wait for the scheduled pass",
                left_out.join(", ")
            ),
            "stop excluding those event sources (ExcludeManagementEventSources, or the eventSource field of the advanced selector)",
        );
    }
    Check::pass(
        name,
        format!("{names} is logging and records write management events"),
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn followed() -> BTreeMap<&'static str, BTreeSet<&'static str>> {
        BTreeMap::from([
            (
                "lambda.amazonaws.com",
                BTreeSet::from(["CreateFunction", "DeleteFunction"]),
            ),
            ("logs.amazonaws.com", BTreeSet::from(["CreateLogGroup"])),
        ])
    }

    fn missing(pattern: Value) -> Vec<String> {
        coverage(&pattern, &followed())
            .missing
            .into_iter()
            .flat_map(|(s, ops)| ops.into_iter().map(move |op| format!("{s} {op}")))
            .collect()
    }

    #[test]
    fn a_pattern_covers_what_its_matchers_let_through() {
        let full = json!({
            "detail-type": [DETAIL_TYPE],
            "detail": {
                "eventSource": ["lambda.amazonaws.com", "logs.amazonaws.com"],
                "eventName": [{"prefix": "CreateFunction"}, {"prefix": "DeleteFunction"}, "CreateLogGroup"],
            },
        });
        assert!(missing(full).is_empty());
        // No eventName key: every operation of the listed sources.
        assert!(
            missing(
                json!({"detail": {"eventSource": ["lambda.amazonaws.com", "logs.amazonaws.com"]}})
            )
            .is_empty()
        );
        assert_eq!(
            missing(json!({
                "detail-type": [DETAIL_TYPE],
                "detail": {"eventSource": ["lambda.amazonaws.com"], "eventName": [{"prefix": "Create"}]},
            })),
            [
                "lambda.amazonaws.com DeleteFunction",
                "logs.amazonaws.com CreateLogGroup"
            ]
        );
        assert_eq!(
            missing(json!({"detail-type": ["Object Created"]})).len(),
            3,
            "another detail-type matches none"
        );
        assert_eq!(
            missing(json!({"source": ["aws.lambda"]})),
            ["logs.amazonaws.com CreateLogGroup"]
        );
        assert_eq!(
            missing(
                json!({"detail": {"eventName": [{"anything-but": ["DeleteFunction"]}, {"wildcard": "Create*Group"}]}})
            ),
            ["lambda.amazonaws.com DeleteFunction"]
        );
        let extra = coverage(
            &json!({"account": ["111111111111"], "detail": {"errorCode": [{"exists": false}]}}),
            &followed(),
        );
        assert_eq!(extra.unread_keys, ["account", "detail.errorCode"]);
    }

    #[test]
    fn patterns_that_differ_only_in_order_are_the_same() {
        let a = json!({"detail": {"eventName": [{"prefix": "B"}, {"prefix": "A"}], "eventSource": ["y", "x"]}});
        let b = json!({"detail": {"eventSource": ["x", "y"], "eventName": [{"prefix": "A"}, {"prefix": "B"}]}});
        assert_eq!(normalized(&a), normalized(&b));
    }

    #[test]
    fn wildcards_match_runs_of_characters() {
        for (pattern, candidate, want) in [
            ("Create*", "CreateFunction", true),
            ("*Function", "CreateFunction", true),
            ("C*F*n", "CreateFunction", true),
            ("C*x", "CreateFunction", false),
            ("Exact", "Exact", true),
            ("a*a", "a", false),
        ] {
            assert_eq!(wildcard(pattern, candidate), want, "{pattern} {candidate}");
        }
    }

    #[test]
    fn a_bus_policy_grants_a_member_by_account_or_by_organization() {
        let account = AccountId::new("222222222222");
        let by_account = json!({"Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::222222222222:root"}, "Action": "events:PutEvents", "Resource": "*"}]});
        let by_org = json!({"Statement": {"Effect": "Allow", "Principal": "*", "Action": "events:PutEvents", "Resource": "*", "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-abc"}}}});
        let other = json!({"Statement": [{"Effect": "Allow", "Principal": {"AWS": "333333333333"}, "Action": "events:PutEvents", "Resource": "*"}]});
        let denied = json!({"Statement": [{"Effect": "Deny", "Principal": {"AWS": "222222222222"}, "Action": "events:PutEvents", "Resource": "*"}]});
        assert_eq!(
            bus_grant(&by_account.to_string(), &account),
            BusGrant::Account
        );
        assert_eq!(
            bus_grant(&by_org.to_string(), &account),
            BusGrant::Organization
        );
        assert_eq!(bus_grant(&other.to_string(), &account), BusGrant::Unknown);
        assert_eq!(bus_grant(&denied.to_string(), &account), BusGrant::Unknown);
        assert_eq!(bus_grant("not json", &account), BusGrant::Unknown);
    }
}
