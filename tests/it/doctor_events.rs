//! `autosub doctor`'s checks of event-driven mode against moto: the queue (reachable, redrive,
//! encryption, policy), the rule `autosub-log-source-changes` in every account and region
//! (there, enabled, autosub's pattern, the right target), the central bus's policy for a
//! member account, and a CloudTrail trail that logs write management events. A complete set-up
//! passes every check; each broken part is reported with its status and a message that names it.

use std::collections::BTreeSet;

use autosub_config::Config;
use autosub_core::Service;
use autosub_core::cloudtrail::{RULE_NAME, rule_pattern};
use autosub_ops::doctor::events::{NO_API_CALL_EVENTS, queue_checks};
use autosub_ops::doctor::{
    Check, DoctorCx, Net, Status, SystemResolver, TcpDialer, account_checks,
};
use autosub_testkit::events::{self as plumbing, EventPlumbing};
use aws_config::SdkConfig;
use aws_sdk_cloudtrail::types::{EventSelector, ReadWriteType};
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::{Value, json};

use crate::support::{EU_REGION, Moto, REGION};

const MEMBER: &str = "222222222222";

/// The config of a run over `regions` of moto's account following `queue_url`; `extra` is
/// appended.
fn config(moto: &Moto, queue_url: &str, regions: &[&str], extra: &str) -> Config {
    let regions = regions
        .iter()
        .map(|r| format!("{r:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    let text = format!(
        "[aws]\nregions = [{regions}]\nendpoint_url = \"{}\"\n[forwarders]\nus-east-1 = \"datadog-forwarder\"\n[ledger]\nlocation = \"none\"\n[events]\nqueue_url = \"{queue_url}\"\n{extra}",
        moto.server.endpoint()
    );
    Config::parse(&text, "t.toml").unwrap()
}

fn enabled(config: &Config) -> BTreeSet<Service> {
    config.services.enabled().into_keys().collect()
}

/// The account checks (with each region's rule and trail) and the queue's checks of `config`.
async fn events_checks(moto: &Moto, config: &Config) -> Vec<Check> {
    let resolver = SystemResolver::default();
    let dialer = TcpDialer::default();
    let cx = DoctorCx {
        config,
        factory: &moto.factory,
        net: Net {
            resolver: &resolver,
            dialer: &dialer,
        },
        api_key: Ok(None),
    };
    let (mut checks, _) = account_checks(&cx).await;
    checks.extend(queue_checks(&cx).await);
    checks
        .into_iter()
        .filter(|c| c.name.starts_with("events ") || c.name.starts_with("cloudtrail "))
        .collect()
}

fn one<'a>(checks: &'a [Check], name: &str) -> &'a Check {
    let found: Vec<&Check> = checks.iter().filter(|c| c.name == name).collect();
    assert_eq!(found.len(), 1, "one {name:?} check in {checks:#?}");
    found[0]
}

/// Asserts the check `name` has `status` and its detail contains every one of `words`.
fn expect(checks: &[Check], name: &str, status: Status, words: &[&str]) {
    let check = one(checks, name);
    assert_eq!(check.status, status, "{check:#?}");
    for word in words {
        assert!(check.detail.contains(word), "{word:?} in {check:#?}");
    }
    if status != Status::Pass {
        assert!(check.fix.is_some(), "a fix for {check:#?}");
    }
}

fn sqs(sdk: &SdkConfig) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(sdk)
}

fn eventbridge(sdk: &SdkConfig, region: &str) -> aws_sdk_eventbridge::Client {
    let sdk = sdk
        .to_builder()
        .region(aws_config::Region::new(region.to_owned()))
        .build();
    aws_sdk_eventbridge::Client::new(&sdk)
}

/// Lets EventBridge send to the queue at `url`, as the deploy templates do.
async fn allow_eventbridge(sdk: &SdkConfig, url: &str, queue_arn: &str) {
    let policy = json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "EventBridgeSends",
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Action": "sqs:SendMessage",
            "Resource": queue_arn,
        }],
    });
    sqs(sdk)
        .set_queue_attributes()
        .queue_url(url)
        .attributes(QueueAttributeName::Policy, policy.to_string())
        .send()
        .await
        .expect("set the queue policy");
}

/// Puts the rule `RULE_NAME` in `region` with `pattern`, sending to `target` (no target when
/// `None`).
async fn put_rule(sdk: &SdkConfig, region: &str, pattern: &Value, target: Option<&str>) {
    let events = eventbridge(sdk, region);
    events
        .put_rule()
        .name(RULE_NAME)
        .event_pattern(pattern.to_string())
        .send()
        .await
        .expect("put the rule");
    if let Some(target) = target {
        events
            .put_targets()
            .rule(RULE_NAME)
            .targets(
                aws_sdk_eventbridge::types::Target::builder()
                    .id("autosub-central-bus")
                    .arn(target)
                    .build()
                    .expect("a target"),
            )
            .send()
            .await
            .expect("put the target");
    }
}

/// A trail called `name` in `sdk`'s account, created in [`REGION`] (multi-region when asked),
/// logging to a bucket of its own; started when `start` is set.
async fn trail(
    moto: &Moto,
    sdk: &SdkConfig,
    name: &str,
    multi_region: bool,
    start: bool,
) -> aws_sdk_cloudtrail::Client {
    let bucket = format!("trail-{name}-{}", moto.server.port());
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(true)
            .build(),
    );
    s3.create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("create the trail's bucket");
    let cloudtrail = aws_sdk_cloudtrail::Client::new(sdk);
    cloudtrail
        .create_trail()
        .name(name)
        .s3_bucket_name(&bucket)
        .is_multi_region_trail(multi_region)
        .send()
        .await
        .expect("create the trail");
    if start {
        cloudtrail
            .start_logging()
            .name(name)
            .send()
            .await
            .expect("start logging");
    }
    cloudtrail
}

async fn put_selector(
    cloudtrail: &aws_sdk_cloudtrail::Client,
    trail: &str,
    selector: EventSelector,
) {
    cloudtrail
        .put_event_selectors()
        .trail_name(trail)
        .event_selectors(selector)
        .send()
        .await
        .expect("put the event selectors");
}

#[tokio::test]
async fn a_complete_event_setup_passes_every_events_check() {
    let moto = Moto::start().await;
    let sdk = moto.server.sdk_config(REGION);
    let probe = config(
        &moto,
        "http://127.0.0.1:9/123456789012/probe",
        &[REGION],
        "",
    );
    let pattern = rule_pattern(&enabled(&probe));
    // The queue, its dead-letter queue and the central rule to it, named as autosub names it.
    let EventPlumbing { queue_url, dlq_url } = plumbing::create(&sdk, RULE_NAME, &pattern, 5)
        .await
        .expect("create the queue and the rule");
    let queue_arn = format!("arn:aws:sqs:{REGION}:123456789012:{RULE_NAME}");
    allow_eventbridge(&sdk, &queue_url, &queue_arn).await;
    // Another region's rule sends to the central bus (the same pattern, written in another
    // order, is the same pattern).
    let mut reordered = pattern.clone();
    reordered["detail"]["eventSource"]
        .as_array_mut()
        .unwrap()
        .reverse();
    put_rule(
        &sdk,
        EU_REGION,
        &reordered,
        Some("arn:aws:events:us-east-1:123456789012:event-bus/default"),
    )
    .await;
    trail(&moto, &sdk, "management-events", true, true).await;

    let config = config(&moto, &queue_url, &[REGION, EU_REGION], "");
    let checks = events_checks(&moto, &config).await;
    expect(
        &checks,
        "events queue",
        Status::Pass,
        &[&queue_arn, "events.queue_url"],
    );
    let dlq = dlq_url.rsplit('/').next().unwrap();
    expect(
        &checks,
        "events queue redrive",
        Status::Pass,
        &[dlq, "after 5 receives"],
    );
    expect(
        &checks,
        "events queue encryption",
        Status::Pass,
        &["SSE-SQS"],
    );
    expect(
        &checks,
        "events queue policy",
        Status::Pass,
        &["\"EventBridgeSends\"", "events.amazonaws.com"],
    );
    for region in [REGION, EU_REGION] {
        expect(
            &checks,
            &format!("events rule {region}"),
            Status::Pass,
            &["ENABLED"],
        );
        expect(
            &checks,
            &format!("events rule {region} pattern"),
            Status::Pass,
            &["autosub's pattern"],
        );
        expect(
            &checks,
            &format!("cloudtrail {region}"),
            Status::Pass,
            &["multi-region trail management-events is logging"],
        );
    }
    expect(
        &checks,
        &format!("events rule {REGION} target"),
        Status::Pass,
        &["the queue", &queue_arn],
    );
    expect(
        &checks,
        &format!("events rule {EU_REGION} target"),
        Status::Pass,
        &["the default bus of 123456789012 in us-east-1"],
    );
    assert!(
        checks.iter().all(|c| c.status == Status::Pass),
        "every events check passes: {checks:#?}"
    );
    assert_eq!(checks.len(), 12, "{checks:#?}");
}

#[tokio::test]
async fn a_broken_event_setup_is_reported_check_by_check() {
    let moto = Moto::start().await;
    let sdk = moto.server.sdk_config(REGION);
    let probe = config(
        &moto,
        "http://127.0.0.1:9/123456789012/probe",
        &[REGION],
        "",
    );
    let mut without_lambda = enabled(&probe);
    without_lambda.remove(&Service::Lambda);
    // A queue and a rule under another name: RULE_NAME is missing in us-east-1. autosub is
    // pointed at the dead-letter queue, which has no redrive policy and no queue policy.
    let EventPlumbing { dlq_url, .. } = plumbing::create(
        &sdk,
        "someone-elses-rule",
        &rule_pattern(&enabled(&probe)),
        5,
    )
    .await
    .expect("create a queue");
    // eu-west-1's rule has a stale pattern (from before Lambda was enabled).
    let bus = "arn:aws:events:us-east-1:123456789012:event-bus/default";
    put_rule(&sdk, EU_REGION, &rule_pattern(&without_lambda), Some(bus)).await;
    // ap-southeast-2's rule sends nowhere.
    put_rule(
        &sdk,
        "ap-southeast-2",
        &rule_pattern(&enabled(&probe)),
        None,
    )
    .await;

    let regions = [REGION, EU_REGION, "ap-southeast-2"];
    let config = config(&moto, &dlq_url, &regions, "");
    let checks = events_checks(&moto, &config).await;
    expect(
        &checks,
        "events queue",
        Status::Pass,
        &["someone-elses-rule-dlq"],
    );
    expect(
        &checks,
        "events queue redrive",
        Status::Warn,
        &["no redrive policy", "dropped after 10 receives"],
    );
    expect(
        &checks,
        "events queue policy",
        Status::Warn,
        &["no resource policy", RULE_NAME],
    );
    expect(
        &checks,
        &format!("events rule {REGION}"),
        Status::Fail,
        &[
            "no rule autosub-log-source-changes on the default bus",
            "wait for the scheduled pass",
        ],
    );
    assert!(
        checks
            .iter()
            .all(|c| c.name != format!("events rule {REGION} pattern")),
        "nothing more is said of a missing rule: {checks:#?}"
    );
    expect(
        &checks,
        &format!("events rule {EU_REGION}"),
        Status::Pass,
        &["ENABLED"],
    );
    expect(
        &checks,
        &format!("events rule {EU_REGION} pattern"),
        Status::Warn,
        &[
            "misses 5 of the",
            "lambda.amazonaws.com CreateFunction, DeleteFunction, TagResource, UntagResource, UpdateFunctionConfiguration",
            "wait for the scheduled pass",
        ],
    );
    expect(
        &checks,
        &format!("events rule {EU_REGION} target"),
        Status::Pass,
        &[bus],
    );
    expect(
        &checks,
        "events rule ap-southeast-2 target",
        Status::Fail,
        &["has no target: what it matches goes nowhere"],
    );
    for region in regions {
        expect(
            &checks,
            &format!("cloudtrail {region}"),
            Status::Fail,
            &[&format!("no trail applies to {region}"), NO_API_CALL_EVENTS],
        );
    }

    // A disabled rule matches nothing.
    eventbridge(&sdk, EU_REGION)
        .disable_rule()
        .name(RULE_NAME)
        .send()
        .await
        .unwrap();
    // A single-region trail in us-east-1 that is not logging; then one that logs reads only.
    let cloudtrail = trail(&moto, &sdk, "stopped", false, false).await;
    let checks = events_checks(&moto, &config).await;
    expect(
        &checks,
        &format!("events rule {EU_REGION}"),
        Status::Fail,
        &["is DISABLED", "wait for the scheduled pass"],
    );
    expect(
        &checks,
        &format!("cloudtrail {REGION}"),
        Status::Fail,
        &["trail stopped is not logging", NO_API_CALL_EVENTS],
    );
    expect(
        &checks,
        &format!("cloudtrail {EU_REGION}"),
        Status::Fail,
        &["no trail applies to eu-west-1"],
    );
    cloudtrail
        .start_logging()
        .name("stopped")
        .send()
        .await
        .unwrap();
    put_selector(
        &cloudtrail,
        "stopped",
        EventSelector::builder()
            .read_write_type(ReadWriteType::ReadOnly)
            .include_management_events(true)
            .build(),
    )
    .await;
    let checks = events_checks(&moto, &config).await;
    expect(
        &checks,
        &format!("cloudtrail {REGION}"),
        Status::Fail,
        &[
            "trail stopped records no write management events",
            NO_API_CALL_EVENTS,
        ],
    );
    // Writes, but not Lambda's: a warning that names what is left out.
    put_selector(
        &cloudtrail,
        "stopped",
        EventSelector::builder()
            .read_write_type(ReadWriteType::All)
            .include_management_events(true)
            .exclude_management_event_sources("lambda.amazonaws.com")
            .build(),
    )
    .await;
    let checks = events_checks(&moto, &config).await;
    expect(
        &checks,
        &format!("cloudtrail {REGION}"),
        Status::Warn,
        &["trail stopped leaves out the management events of lambda.amazonaws.com"],
    );
}

#[tokio::test]
async fn a_queue_the_doctor_cannot_use_fails_naming_events_queue_url() {
    let moto = Moto::start().await;
    let sdk = moto.server.sdk_config(REGION);
    let missing = format!("{}/123456789012/no-such-queue", moto.server.endpoint());
    let checks = events_checks(&moto, &config(&moto, &missing, &[REGION], "")).await;
    expect(
        &checks,
        "events queue",
        Status::Fail,
        &["events.queue_url", "no-such-queue", "not_found"],
    );
    assert!(
        one(&checks, "events queue")
            .fix
            .as_deref()
            .unwrap()
            .contains("the queue does not exist: fix events.queue_url"),
        "{checks:#?}"
    );
    assert!(
        checks.iter().all(|c| !c.name.starts_with("events queue ")),
        "a queue that cannot be read has no further queue checks: {checks:#?}"
    );

    // A queue encrypted with SQS's AWS managed key cannot take EventBridge's messages; one
    // without encryption is a warning.
    let url = sqs(&sdk)
        .create_queue()
        .queue_name("managed-key")
        .attributes(QueueAttributeName::KmsMasterKeyId, "alias/aws/sqs")
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_owned();
    let checks = events_checks(&moto, &config(&moto, &url, &[REGION], "")).await;
    expect(
        &checks,
        "events queue encryption",
        Status::Fail,
        &["alias/aws/sqs", "EventBridge cannot deliver"],
    );
    sqs(&sdk)
        .set_queue_attributes()
        .queue_url(&url)
        .attributes(QueueAttributeName::KmsMasterKeyId, "")
        .attributes(QueueAttributeName::SqsManagedSseEnabled, "false")
        .send()
        .await
        .unwrap();
    let checks = events_checks(&moto, &config(&moto, &url, &[REGION], "")).await;
    expect(
        &checks,
        "events queue encryption",
        Status::Warn,
        &["not encrypted"],
    );
}

#[tokio::test]
async fn a_member_account_is_checked_through_its_role_and_needs_the_central_bus_to_accept_it() {
    let moto = Moto::start().await;
    let sdk = moto.server.sdk_config(REGION);
    let probe = config(
        &moto,
        "http://127.0.0.1:9/123456789012/probe",
        &[REGION],
        "",
    );
    let pattern = rule_pattern(&enabled(&probe));
    let EventPlumbing { queue_url, .. } = plumbing::create(&sdk, RULE_NAME, &pattern, 5)
        .await
        .expect("create the queue and the central rule");
    // The member's rule sends to the central bus; the member has a trail of its own.
    let member = moto_member(&moto).await;
    let bus = "arn:aws:events:us-east-1:123456789012:event-bus/default";
    put_rule(&member, REGION, &pattern, Some(bus)).await;
    trail(&moto, &member, "member-trail", true, true).await;

    let fleet =
        format!("[fleet]\n[[fleet.accounts]]\nid = \"{MEMBER}\"\nregions = [\"{REGION}\"]\n");
    let config = config(&moto, &queue_url, &[REGION], &fleet);
    let checks = events_checks(&moto, &config).await;
    expect(
        &checks,
        &format!("events bus allows {MEMBER}"),
        Status::Fail,
        &["no resource policy", "refused"],
    );
    expect(
        &checks,
        &format!("events rule {MEMBER}/{REGION}"),
        Status::Pass,
        &["ENABLED"],
    );
    expect(
        &checks,
        &format!("events rule {MEMBER}/{REGION} target"),
        Status::Pass,
        &[bus],
    );
    expect(
        &checks,
        &format!("cloudtrail {MEMBER}/{REGION}"),
        Status::Pass,
        &["multi-region trail member-trail"],
    );
    // The queue's own rule is checked once, under the queue's account.
    expect(
        &checks,
        &format!("events rule 123456789012/{REGION} target"),
        Status::Pass,
        &["the queue"],
    );

    eventbridge(&sdk, REGION)
        .put_permission()
        .event_bus_name("default")
        .action("events:PutEvents")
        .principal(MEMBER)
        .statement_id(format!("autosub-{MEMBER}"))
        .send()
        .await
        .expect("grant the member");
    let checks = events_checks(&moto, &config).await;
    expect(
        &checks,
        &format!("events bus allows {MEMBER}"),
        Status::Pass,
        &[&format!("lets account {MEMBER} put events")],
    );
}

/// SDK configuration acting in [`MEMBER`]: moto's assumed-role keys act in the role's account.
async fn moto_member(moto: &Moto) -> SdkConfig {
    // The default chain (the dummy keys `Moto::start` put in the environment) brings the time
    // source the role provider needs.
    let load = || {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(REGION))
            .endpoint_url(moto.server.endpoint())
            .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(1))
    };
    let base = load().load().await;
    let role =
        aws_config::sts::AssumeRoleProvider::builder(format!("arn:aws:iam::{MEMBER}:role/autosub"))
            .session_name("doctor-events-test")
            .configure(&base)
            .build()
            .await;
    load().credentials_provider(role).load().await
}
