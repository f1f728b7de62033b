//! The fake driven through autosub's production AWS layer (`ClientFactory` and its SDK clients).

use autosub_aws::apis::TargetApis;
use autosub_aws::error::{AwsError, ErrorClass};
use autosub_aws::{AwsSettings, ClientFactory};
use autosub_core::{
    AccountId, BucketName, DestinationKind, FunctionArn, InvokePermission, Invoker, LogGroupClass,
    LogGroupName, NotificationEntry, Region, SubscriptionFilter,
};
use aws_sdk_s3::config::SharedCredentialsProvider;
use aws_sdk_sqs::error::ProvideErrorMetadata;
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry, Message,
    MessageSystemAttributeName, QueueAttributeName, SendMessageBatchRequestEntry,
};
use tokio::time::Instant;

use super::*;

const CENTRAL: &str = "111111111111";
const OTHER: &str = "222222222222";
const REGION: &str = "us-east-1";

/// No latency: the tests wait only for the SDK's retry backoff.
fn instant() -> FakeConfig {
    FakeConfig {
        latency: Duration::ZERO,
        ..FakeConfig::default()
    }
}

fn fake(functions: usize, buckets: usize) -> FakeAws {
    let fake = FakeAws::new(instant());
    fake.seed_fleet(&FleetShape {
        accounts: vec![CENTRAL.into(), OTHER.into()],
        regions: vec![REGION.into(), "eu-west-1".into()],
        functions_per_target: functions,
        buckets_per_target: buckets,
        ..FleetShape::default()
    });
    fake
}

fn factory(sdk: SdkConfig, max_attempts: u32) -> ClientFactory {
    let settings = AwsSettings {
        max_attempts,
        region: Some(Region::new(REGION)),
        ..AwsSettings::default()
    };
    ClientFactory::from_sdk_config(sdk, settings)
}

fn apis(fake: &FakeAws, max_attempts: u32) -> TargetApis {
    factory(fake.sdk_config(CENTRAL, REGION), max_attempts)
        .apis(&AccountId::new(CENTRAL), &Region::new(REGION))
}

fn forwarder() -> FunctionArn {
    FunctionArn::parse(&lambda::arn(CENTRAL, REGION, "datadog-forwarder")).expect("an ARN")
}

fn filter_to_forwarder(name: &str) -> SubscriptionFilter {
    SubscriptionFilter {
        name: name.into(),
        destination_arn: forwarder().to_string(),
        pattern: String::new(),
    }
}

#[tokio::test]
async fn log_groups_page_and_filters_round_trip() {
    let fake = fake(120, 0);
    let apis = apis(&fake, 1);

    let groups = apis.logs.log_groups().await.expect("listed");
    assert_eq!(groups.len(), 121, "120 apps and the forwarder");
    assert!(
        groups
            .iter()
            .all(|(_, class)| *class == LogGroupClass::Standard)
    );
    let pages = fake.stats_of(CENTRAL, REGION, "logs:DescribeLogGroups");
    assert_eq!(pages.requests, 3, "pages of 50");

    let full = LogGroupName::new("/aws/lambda/app-000");
    let names: Vec<String> = apis
        .logs
        .subscription_filters(&full)
        .await
        .expect("read")
        .into_iter()
        .map(|f| f.name)
        .collect();
    assert_eq!(names, ["siem-0", "siem-1"]);

    let group = LogGroupName::new("/aws/lambda/app-002");
    let ours = filter_to_forwarder("autosub");
    apis.logs
        .put_subscription_filter(&group, &ours)
        .await
        .expect("created");
    let updated = SubscriptionFilter {
        pattern: "ERROR".into(),
        ..ours
    };
    apis.logs
        .put_subscription_filter(&group, &updated)
        .await
        .expect("updated");
    let stored = fake
        .filters(CENTRAL, REGION, "/aws/lambda/app-002")
        .expect("a group");
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].pattern, "ERROR");
    assert_eq!(
        apis.logs.subscription_filters(&group).await.expect("read"),
        [updated]
    );

    apis.logs
        .delete_subscription_filter(&group, "autosub")
        .await
        .expect("deleted");
    let again = apis
        .logs
        .delete_subscription_filter(&group, "autosub")
        .await;
    assert_eq!(again.expect_err("gone").class, ErrorClass::NotFound);
    let missing = apis
        .logs
        .subscription_filters(&LogGroupName::new("/nope"))
        .await;
    assert_eq!(missing.expect_err("no group").class, ErrorClass::NotFound);
}

#[tokio::test]
async fn a_full_group_is_limit_exceeded_and_not_retried() {
    let fake = fake(2, 0);
    let apis = apis(&fake, 3);
    let full = LogGroupName::new("/aws/lambda/app-000");

    let err = apis
        .logs
        .put_subscription_filter(&full, &filter_to_forwarder("autosub"))
        .await
        .expect_err("no free slot");
    assert_eq!(err.class, ErrorClass::LimitExceeded);
    assert_eq!(err.code.as_deref(), Some("LimitExceededException"));
    let puts = fake.stats_of(CENTRAL, REGION, "logs:PutSubscriptionFilter");
    assert_eq!(puts.requests, 1, "never retried");

    // Updating a filter that holds a slot needs no free one.
    apis.logs
        .put_subscription_filter(&full, &filter_to_forwarder("siem-0"))
        .await
        .expect("an update");
}

#[tokio::test]
async fn a_lambda_destination_needs_the_logs_permission() {
    let fake = fake(2, 0);
    let apis = apis(&fake, 1);
    let filter = SubscriptionFilter {
        destination_arn: lambda::arn(CENTRAL, REGION, "app-001"),
        ..filter_to_forwarder("autosub")
    };
    let err = apis
        .logs
        .put_subscription_filter(&LogGroupName::new("/aws/lambda/app-000"), &filter)
        .await
        .expect_err("app-001 grants nothing");
    assert_eq!(err.class, ErrorClass::Invalid);
}

/// `count` PutSubscriptionFilter calls at once in `account`, whose groups `app-001`… each have a
/// free slot; the results, and the fake's record of that API.
async fn burst_of_puts(
    fake: &FakeAws,
    factory: &ClientFactory,
    account: &str,
    count: usize,
) -> (Vec<Result<(), AwsError>>, ApiStats) {
    let apis = factory.apis(&AccountId::new(account), &Region::new(REGION));
    let filter = SubscriptionFilter {
        destination_arn: lambda::arn(account, REGION, "datadog-forwarder"),
        ..filter_to_forwarder("autosub")
    };
    let puts = (1..=count).map(|i| {
        let (logs, filter) = (Arc::clone(&apis.logs), &filter);
        async move {
            let group = LogGroupName::new(format!("/aws/lambda/app-{i:03}"));
            logs.put_subscription_filter(&group, filter).await
        }
    });
    let results = futures::future::join_all(puts).await;
    (
        results,
        fake.stats_of(account, REGION, "logs:PutSubscriptionFilter"),
    )
}

/// A fake holding one target in `account` with `functions` app log groups.
fn target(account: &str, functions: usize, config: FakeConfig) -> FakeAws {
    let fake = FakeAws::new(config);
    fake.seed_fleet(&FleetShape {
        accounts: vec![account.into()],
        functions_per_target: functions + 1,
        buckets_per_target: 0,
        ..FleetShape::default()
    });
    fake
}

#[tokio::test]
async fn a_burst_of_puts_is_paced_to_the_quota() {
    // Retry tokens are process-wide per (service, account, region): an account of its own.
    const BURST: &str = "444444444444";
    let fake = target(BURST, 15, instant());
    let factory = factory(fake.sdk_config(BURST, REGION), 3);
    let (results, stats) = burst_of_puts(&fake, &factory, BURST, 15).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert!(stats.max_per_second <= 5, "{stats:?}");
    // Calls leave exactly 200 ms apart; the fake's sliding window (stricter than AWS's token
    // bucket) may still refuse one that scheduling jitter brought in a hair early, and the
    // retry then goes through.
    assert_eq!(stats.requests, 15 + stats.throttled, "{stats:?}");
    assert!(
        stats.throttled < 15 / 3,
        "pacing, not retries, did the work: {stats:?}"
    );
}

#[tokio::test]
async fn throttled_calls_slow_the_bucket_and_are_retried_to_success() {
    const SLOW: &str = "555555555555";
    // The account's real quota is lower than the pacer's table says (another tool shares it).
    let fake = target(
        SLOW,
        6,
        FakeConfig {
            quotas: Quotas::aws().with("logs:PutSubscriptionFilter", 2),
            ..instant()
        },
    );
    let factory = factory(fake.sdk_config(SLOW, REGION), 6);
    let (results, stats) = burst_of_puts(&fake, &factory, SLOW, 6).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert!(stats.throttled > 0, "{stats:?}");
    assert!(stats.max_per_second <= 2, "{stats:?}");
    let key = autosub_aws::pacing::ApiKey {
        account: AccountId::new(SLOW),
        region: Region::new(REGION),
        api: "logs:PutSubscriptionFilter".into(),
    };
    assert_eq!(
        factory.pacer().throttles().get(&key).copied(),
        Some(stats.throttled),
        "every throttle slowed the bucket"
    );
}

#[tokio::test]
async fn functions_page_and_policies_round_trip() {
    let fake = fake(120, 0);
    fake.add_function(CENTRAL, REGION, "custom", Some("/shared/custom"));
    let apis = apis(&fake, 1);

    let functions = apis.lambda.functions().await.expect("listed");
    assert_eq!(functions.len(), 122);
    assert_eq!(
        fake.stats_of(CENTRAL, REGION, "lambda:ListFunctions")
            .requests,
        3
    );
    let custom = functions
        .iter()
        .find(|f| f.arn.name() == "custom")
        .expect("listed");
    assert_eq!(
        custom.custom_log_group,
        Some(LogGroupName::new("/shared/custom"))
    );

    let policy = apis
        .lambda
        .policy(&forwarder())
        .await
        .expect("read")
        .expect("a policy");
    assert!(policy.contains(FORWARDER_LOGS_SID), "{policy}");
    let app = FunctionArn::parse(&lambda::arn(CENTRAL, REGION, "app-000")).expect("an ARN");
    assert_eq!(apis.lambda.policy(&app).await.expect("exists"), None);
    let gone = FunctionArn::parse(&lambda::arn(CENTRAL, REGION, "gone")).expect("an ARN");
    let err = apis.lambda.policy(&gone).await.expect_err("no function");
    assert_eq!(err.class, ErrorClass::NotFound);

    let s3 = InvokePermission::account_wide(
        "autosub-",
        Invoker::S3,
        &AccountId::new(CENTRAL),
        &Region::new(REGION),
    );
    apis.lambda
        .add_permission(&forwarder(), &s3)
        .await
        .expect("added");
    let twice = apis.lambda.add_permission(&forwarder(), &s3).await;
    assert_eq!(twice.expect_err("taken").class, ErrorClass::Conflict);
    let doc = fake
        .policy(CENTRAL, REGION, "datadog-forwarder")
        .expect("a policy");
    assert_eq!(doc["Statement"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        doc["Statement"][1]["Principal"]["Service"],
        "s3.amazonaws.com"
    );

    apis.lambda
        .remove_permission(&forwarder(), &s3.statement_id)
        .await
        .expect("removed");
    let again = apis
        .lambda
        .remove_permission(&forwarder(), &s3.statement_id)
        .await;
    assert_eq!(again.expect_err("gone").class, ErrorClass::NotFound);

    fake.tag_function(CENTRAL, REGION, "app-000", "team", "web");
    let tags = apis.lambda.tags(&app).await.expect("tags");
    assert_eq!(tags.get("team").map(String::as_str), Some("web"));
}

#[tokio::test]
async fn buckets_and_notifications_round_trip() {
    let fake = fake(0, 2);
    let apis = apis(&fake, 1);
    let us = Region::new(REGION);

    let buckets = apis.s3.list_buckets().await.expect("listed");
    assert_eq!(buckets.len(), 6, "3 per region, both regions: {buckets:?}");
    let eu_listed = buckets
        .iter()
        .filter(|b| b.region == Some(Region::new("eu-west-1")))
        .count();
    assert_eq!(
        eu_listed, 3,
        "the listing names each bucket's region: {buckets:?}"
    );
    let eu_bucket = BucketName::new(format!("fleet-{CENTRAL}-eu-west-1-000"));
    let eu = apis
        .s3
        .bucket_region(&eu_bucket)
        .await
        .expect("redirect names it");
    assert_eq!(eu, Region::new("eu-west-1"));
    let missing = apis.s3.bucket_region(&BucketName::new("nope")).await;
    assert_eq!(missing.expect_err("no bucket").class, ErrorClass::NotFound);

    let bucket = BucketName::new(format!("fleet-{CENTRAL}-{REGION}-000"));
    let log_bucket = BucketName::new(format!("fleet-{CENTRAL}-{REGION}-logs"));
    let target = apis.s3.access_log_target(&bucket, &us).await.expect("read");
    assert_eq!(
        target.map(|t| (t.bucket, t.prefix)),
        Some((log_bucket.clone(), format!("s3/{bucket}/")))
    );
    assert!(
        apis.s3
            .bucket_tags(&bucket, &us)
            .await
            .expect("none")
            .is_empty()
    );
    fake.tag_bucket(bucket.as_str(), "env", "prod");
    let tags = apis.s3.bucket_tags(&bucket, &us).await.expect("tags");
    assert_eq!(tags.get("env").map(String::as_str), Some("prod"));

    let mut config = apis
        .s3
        .notification_config(&log_bucket, &us)
        .await
        .expect("read");
    assert_eq!(config.entries.len(), 1);
    let queue = &config.entries[0];
    assert_eq!(
        (queue.kind, queue.id.as_deref()),
        (DestinationKind::Queue, Some(FOREIGN_QUEUE_ID))
    );
    assert_eq!(queue.prefix(), "audit/");

    config.entries.push(NotificationEntry {
        id: Some("autosub-1".into()),
        kind: DestinationKind::Lambda,
        arn: forwarder().to_string(),
        events: vec!["s3:ObjectCreated:*".into()],
        filter_rules: Vec::new(),
    });
    let refused = apis
        .s3
        .put_notification_config(&log_bucket, &us, &config)
        .await;
    assert_eq!(
        refused.expect_err("no s3 grant yet").class,
        ErrorClass::Invalid
    );
    let s3 = InvokePermission::account_wide("autosub-", Invoker::S3, &AccountId::new(CENTRAL), &us);
    apis.lambda
        .add_permission(&forwarder(), &s3)
        .await
        .expect("granted");
    apis.s3
        .put_notification_config(&log_bucket, &us, &config)
        .await
        .expect("written");

    let read = apis
        .s3
        .notification_config(&log_bucket, &us)
        .await
        .expect("read");
    assert_eq!(read.entries.len(), 2);
    assert_eq!(
        read.entries[0].arn, config.entries[0].arn,
        "the foreign queue survives"
    );
    let xml = fake.notification_xml(log_bucket.as_str()).expect("stored");
    assert!(xml.contains("<CloudFunction>"), "{xml}");

    // Another account's bucket is not ours to read.
    let foreign = BucketName::new(format!("fleet-{OTHER}-{REGION}-000"));
    let denied = apis.s3.notification_config(&foreign, &us).await;
    assert_eq!(
        denied.expect_err("not ours").class,
        ErrorClass::AccessDenied
    );
}

#[tokio::test]
async fn assumed_roles_act_in_their_account() {
    let fake = fake(1, 0);
    let sdk = fake.sdk_config(CENTRAL, REGION);
    assert_eq!(
        factory(sdk.clone(), 1).caller_account().await.expect("who"),
        AccountId::new(CENTRAL)
    );

    let role = format!("arn:aws:iam::{OTHER}:role/autosub");
    let provider = aws_config::sts::AssumeRoleProvider::builder(role)
        .session_name("fake-test")
        .configure(&sdk)
        .build()
        .await;
    let assumed = sdk
        .to_builder()
        .credentials_provider(SharedCredentialsProvider::new(provider))
        .build();
    let other = factory(assumed, 1);
    assert_eq!(
        other.caller_account().await.expect("who"),
        AccountId::new(OTHER)
    );
    let functions = other
        .apis(&AccountId::new(OTHER), &Region::new(REGION))
        .lambda
        .functions()
        .await
        .expect("listed");
    assert_eq!(functions.len(), 2, "the forwarder and app-000");
    assert!(functions.iter().all(|f| f.arn.account().as_str() == OTHER));
    // Each SDK client caches the role's keys on its own; the central keys asked every time.
    assert!(fake.stats_of(CENTRAL, REGION, "sts:AssumeRole").requests >= 1);

    fake.deny_assume_role(OTHER);
    let provider =
        aws_config::sts::AssumeRoleProvider::builder(format!("arn:aws:iam::{OTHER}:role/x"))
            .configure(&sdk)
            .build()
            .await;
    let denied = sdk
        .to_builder()
        .credentials_provider(SharedCredentialsProvider::new(provider))
        .build();
    assert!(factory(denied, 1).caller_account().await.is_err());
}

#[tokio::test]
async fn injected_server_errors_are_retried_and_counted() {
    const FAULTY: &str = "555555555555";
    let fake = FakeAws::new(FakeConfig {
        server_error_rate: 0.3,
        ..instant()
    });
    fake.seed_fleet(&FleetShape {
        accounts: vec![FAULTY.into()],
        functions_per_target: 200,
        ..FleetShape::default()
    });
    let factory = factory(fake.sdk_config(FAULTY, REGION), 5);
    let apis = factory.apis(&AccountId::new(FAULTY), &Region::new(REGION));
    assert_eq!(
        apis.logs.log_groups().await.expect("retried through").len(),
        201
    );
    let stats = fake.stats_of(FAULTY, REGION, "logs:DescribeLogGroups");
    assert!(stats.server_errors > 0, "{stats:?}");
    // Five pages of 50; every injected error and every throttle is one more request.
    assert_eq!(stats.requests, 5 + stats.server_errors + stats.throttled);
}

#[tokio::test]
async fn unserved_operations_fail_instead_of_answering() {
    let fake = fake(0, 0);
    let factory = factory(fake.sdk_config(CENTRAL, REGION), 1);
    // A service the fake does not serve at all, and an S3 operation it does not serve.
    let apis = factory.apis(&AccountId::new(CENTRAL), &Region::new(REGION));
    assert!(apis.sources.cloudfront.distributions().await.is_err());
    let bucket = BucketName::new(format!("fleet-{CENTRAL}-{REGION}-logs"));
    fake.add_bucket(CENTRAL, REGION, bucket.as_str());
    let object = factory.ledger_object(&Region::new(REGION), &bucket, "ledger.json");
    let err = object.get().await.expect_err("GetObject is not served");
    assert_eq!(err.code.as_deref(), Some("NotImplemented"), "{err}");
    assert_eq!(err.class, ErrorClass::Fatal);
}

// SQS, through the SDK's own client.

fn sqs(fake: &FakeAws, account: &str) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(&fake.sdk_config(account, REGION))
}

/// An SQS client that makes one attempt per call.
fn sqs_once(fake: &FakeAws, account: &str) -> aws_sdk_sqs::Client {
    let config = aws_sdk_sqs::config::Builder::from(&fake.sdk_config(account, REGION))
        .retry_config(aws_smithy_types::retry::RetryConfig::disabled())
        .build();
    aws_sdk_sqs::Client::from_conf(config)
}

/// Receives up to 10 messages of `url`, waiting up to `wait_secs`, with every system attribute.
async fn receive(client: &aws_sdk_sqs::Client, url: &str, wait_secs: i32) -> Vec<Message> {
    client
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(10)
        .wait_time_seconds(wait_secs)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await
        .expect("received")
        .messages
        .unwrap_or_default()
}

fn receive_count(m: &Message) -> Option<&str> {
    m.attributes()
        .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
        .map(String::as_str)
}

fn handle(m: &Message) -> String {
    m.receipt_handle().expect("a receipt handle").to_owned()
}

fn depth(visible: u64, in_flight: u64) -> Option<QueueDepth> {
    Some(QueueDepth {
        visible,
        in_flight,
        delayed: 0,
    })
}

#[tokio::test(start_paused = true)]
async fn sqs_messages_are_sent_received_and_deleted() {
    let fake = FakeAws::new(instant());
    let url = fake.create_queue(CENTRAL, REGION, "events", Duration::from_secs(30));
    assert_eq!(url, format!("http://fake.local/{CENTRAL}/events"));
    let client = sqs(&fake, CENTRAL);

    let sent = client
        .send_message()
        .queue_url(&url)
        .message_body("hello")
        .send()
        .await
        .expect("sent");
    assert_eq!(
        sent.md5_of_message_body(),
        Some("5d41402abc4b2a76b9719d911017c592")
    );
    let messages = receive(&client, &url, 0).await;
    assert_eq!(messages.len(), 1);
    let m = &messages[0];
    assert_eq!(m.message_id(), sent.message_id());
    assert_eq!(m.body(), Some("hello"));
    assert_eq!(m.md5_of_body(), Some("5d41402abc4b2a76b9719d911017c592"));
    assert_eq!(receive_count(m), Some("1"));
    assert_eq!(fake.queue_depth(&url), depth(0, 1));
    assert!(
        receive(&client, &url, 0).await.is_empty(),
        "hidden while in flight"
    );

    let attributes = queue_attributes(&client, &url, QueueAttributeName::All).await;
    let attribute = |name: QueueAttributeName| attributes.get(&name).map(String::as_str);
    assert_eq!(
        attribute(QueueAttributeName::ApproximateNumberOfMessages),
        Some("0")
    );
    assert_eq!(
        attribute(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
        Some("1")
    );
    assert_eq!(attribute(QueueAttributeName::VisibilityTimeout), Some("30"));
    assert_eq!(
        attribute(QueueAttributeName::QueueArn),
        Some(format!("arn:aws:sqs:{REGION}:{CENTRAL}:events").as_str())
    );
    assert_eq!(attribute(QueueAttributeName::RedrivePolicy), None);

    client
        .delete_message()
        .queue_url(&url)
        .receipt_handle(handle(m))
        .send()
        .await
        .expect("deleted");
    assert_eq!(fake.queue_depth(&url), depth(0, 0));
    client
        .delete_message()
        .queue_url(&url)
        .receipt_handle(handle(m))
        .send()
        .await
        .expect("deleting a deleted message succeeds");
    assert_eq!(fake.deliveries(&url), 1);

    // A queue URL nobody created, and a queue in another region, do not exist.
    let missing = client
        .receive_message()
        .queue_url(format!("http://fake.local/{CENTRAL}/nope"))
        .send()
        .await
        .expect_err("no queue")
        .into_service_error();
    assert!(missing.is_queue_does_not_exist(), "{missing:?}");
    let elsewhere = aws_sdk_sqs::Client::new(&fake.sdk_config(CENTRAL, "eu-west-1"))
        .send_message()
        .queue_url(&url)
        .message_body("x")
        .send()
        .await
        .expect_err("another region")
        .into_service_error();
    assert!(elsewhere.is_queue_does_not_exist(), "{elsewhere:?}");
    let unserved = client
        .list_queues()
        .send()
        .await
        .expect_err("ListQueues is not served");
    assert_eq!(unserved.code(), Some("NotImplemented"));
}

#[tokio::test(start_paused = true)]
async fn an_expired_visibility_redelivers_with_a_new_handle_and_the_old_one_is_stale() {
    let fake = FakeAws::new(instant());
    let url = fake.create_queue(CENTRAL, REGION, "events", Duration::from_secs(30));
    let client = sqs(&fake, CENTRAL);
    fake.send_message(&url, "event").expect("a queue");

    let first = receive(&client, &url, 0).await;
    tokio::time::sleep(Duration::from_secs(29)).await;
    assert!(receive(&client, &url, 0).await.is_empty(), "still hidden");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let second = receive(&client, &url, 0).await;
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].message_id(), first[0].message_id());
    assert_eq!(receive_count(&second[0]), Some("2"));
    assert_ne!(handle(&second[0]), handle(&first[0]));

    let entry = |id: &str, m: &Message| {
        DeleteMessageBatchRequestEntry::builder()
            .id(id)
            .receipt_handle(handle(m))
            .build()
            .expect("an entry")
    };
    let out = client
        .delete_message_batch()
        .queue_url(&url)
        .entries(entry("stale", &first[0]))
        .send()
        .await
        .expect("a batch answers per entry");
    assert!(out.successful().is_empty());
    assert_eq!(out.failed().len(), 1);
    assert_eq!(
        (out.failed()[0].id(), out.failed()[0].code()),
        ("stale", "ReceiptHandleIsInvalid")
    );
    let single = client
        .delete_message()
        .queue_url(&url)
        .receipt_handle(handle(&first[0]))
        .send()
        .await
        .expect_err("stale")
        .into_service_error();
    assert!(single.is_receipt_handle_is_invalid(), "{single:?}");
    assert_eq!(fake.queue_depth(&url), depth(0, 1), "not deleted");

    let out = client
        .delete_message_batch()
        .queue_url(&url)
        .entries(entry("latest", &second[0]))
        .send()
        .await
        .expect("deleted");
    assert_eq!(out.successful().len(), 1);
    assert!(out.failed().is_empty());
    assert_eq!(fake.queue_depth(&url), depth(0, 0));
    assert_eq!(fake.deliveries(&url), 2);
}

#[tokio::test(start_paused = true)]
async fn a_long_poll_answers_as_soon_as_a_message_can_be_received() {
    let fake = FakeAws::new(instant());
    let url = fake.create_queue(CENTRAL, REGION, "events", Duration::from_secs(5));
    let client = sqs(&fake, CENTRAL);
    let polls = || {
        fake.stats_of(CENTRAL, REGION, "sqs:ReceiveMessage")
            .requests
    };

    // A send from another task 3 s into a 20 s wait answers it at once.
    let sender = tokio::spawn({
        let (client, url) = (client.clone(), url.clone());
        async move {
            tokio::time::sleep(Duration::from_secs(3)).await;
            let sent_at = Instant::now();
            client
                .send_message()
                .queue_url(&url)
                .message_body("late")
                .send()
                .await
                .expect("sent");
            sent_at
        }
    });
    let start = Instant::now();
    let messages = receive(&client, &url, 20).await;
    let answered_at = Instant::now();
    let sent_at = sender.await.expect("the sender ran");
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].body(), Some("late"));
    assert_eq!(sent_at - start, Duration::from_secs(3));
    assert!(
        answered_at - sent_at < Duration::from_millis(10),
        "waited {:?} after the send",
        answered_at - sent_at
    );
    assert_eq!(polls(), 1, "a long poll is one request");

    // The message's visibility timeout running out answers the next poll.
    let start = Instant::now();
    let again = receive(&client, &url, 20).await;
    assert_eq!(Instant::now() - start, Duration::from_secs(5));
    assert_eq!(receive_count(&again[0]), Some("2"));
    client
        .delete_message()
        .queue_url(&url)
        .receipt_handle(handle(&again[0]))
        .send()
        .await
        .expect("deleted");

    // A delayed send wakes the poll, which then waits out the delay, still as one request.
    let delayed = tokio::spawn({
        let (client, url) = (client.clone(), url.clone());
        async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            client
                .send_message()
                .queue_url(&url)
                .message_body("delayed")
                .delay_seconds(4)
                .send()
                .await
                .expect("sent");
        }
    });
    let start = Instant::now();
    let later = receive(&client, &url, 20).await;
    delayed.await.expect("the sender ran");
    assert_eq!(later[0].body(), Some("delayed"));
    assert_eq!(Instant::now() - start, Duration::from_secs(5));
    client
        .delete_message()
        .queue_url(&url)
        .receipt_handle(handle(&later[0]))
        .send()
        .await
        .expect("deleted");

    // Nothing comes: the poll answers empty when the wait ends.
    let start = Instant::now();
    assert!(receive(&client, &url, 20).await.is_empty());
    assert_eq!(Instant::now() - start, Duration::from_secs(20));
    assert_eq!(
        polls(),
        4,
        "one request per long poll, however often it looked"
    );
}

#[tokio::test(start_paused = true)]
async fn visibility_changes_release_and_extend_messages() {
    let fake = FakeAws::new(instant());
    let url = fake.create_queue(CENTRAL, REGION, "events", Duration::from_secs(30));
    let client = sqs(&fake, CENTRAL);
    fake.send_message(&url, "a").expect("a queue");
    fake.send_message(&url, "b").expect("a queue");
    let received = receive(&client, &url, 0).await;
    let [a, b] = &received[..] else {
        panic!("both received: {received:?}");
    };

    // Visibility 0 hands `a` back at once, answering a waiting long poll.
    let poller = tokio::spawn({
        let (client, url) = (client.clone(), url.clone());
        async move {
            let start = Instant::now();
            (receive(&client, &url, 20).await, Instant::now() - start)
        }
    });
    tokio::time::sleep(Duration::from_secs(2)).await;
    client
        .change_message_visibility()
        .queue_url(&url)
        .receipt_handle(handle(a))
        .visibility_timeout(0)
        .send()
        .await
        .expect("released");
    let (again, waited) = poller.await.expect("the poller ran");
    assert_eq!(waited, Duration::from_secs(2));
    assert_eq!(again.len(), 1);
    assert_eq!(
        (again[0].body(), receive_count(&again[0])),
        (Some("a"), Some("2"))
    );

    // The batch extends `b` to 60 s from now (t = 2 s); `a`'s first handle is stale by now.
    let entry = |id: &str, m: &Message| {
        ChangeMessageVisibilityBatchRequestEntry::builder()
            .id(id)
            .receipt_handle(handle(m))
            .visibility_timeout(60)
            .build()
            .expect("an entry")
    };
    let out = client
        .change_message_visibility_batch()
        .queue_url(&url)
        .entries(entry("b", b))
        .entries(entry("stale-a", a))
        .send()
        .await
        .expect("a batch answers per entry");
    let ids: Vec<&str> = out.successful().iter().map(|e| e.id()).collect();
    assert_eq!(ids, ["b"]);
    let failed: Vec<(&str, &str)> = out.failed().iter().map(|e| (e.id(), e.code())).collect();
    assert_eq!(failed, [("stale-a", "ReceiptHandleIsInvalid")]);

    tokio::time::sleep(Duration::from_secs(40)).await; // t = 42 s: past the queue's 30 s
    let at_42 = receive(&client, &url, 0).await;
    assert_eq!(
        at_42.iter().map(Message::body).collect::<Vec<_>>(),
        [Some("a")],
        "b is still hidden, a came back after its 30 s"
    );
    tokio::time::sleep(Duration::from_secs(20)).await; // t = 62 s
    let at_62 = receive(&client, &url, 0).await;
    assert_eq!(
        at_62.iter().map(Message::body).collect::<Vec<_>>(),
        [Some("b")]
    );

    // A message whose visibility ran out is not in flight any more.
    tokio::time::sleep(Duration::from_secs(30)).await;
    let not_inflight = client
        .change_message_visibility()
        .queue_url(&url)
        .receipt_handle(handle(&at_62[0]))
        .visibility_timeout(10)
        .send()
        .await
        .expect_err("visible again")
        .into_service_error();
    assert!(not_inflight.is_message_not_inflight(), "{not_inflight:?}");
}

#[tokio::test(start_paused = true)]
async fn a_message_received_max_receive_count_times_moves_to_the_dead_letter_queue() {
    let fake = FakeAws::new(instant());
    let url = fake.create_queue(CENTRAL, REGION, "events", Duration::from_secs(10));
    let dlq = fake.create_queue(CENTRAL, REGION, "events-dlq", Duration::from_secs(30));
    assert!(fake.set_redrive(&url, &dlq, 2));
    let elsewhere = fake.create_queue(CENTRAL, "eu-west-1", "eu-dlq", Duration::from_secs(30));
    assert!(
        !fake.set_redrive(&url, &elsewhere, 2),
        "a DLQ shares the region"
    );
    let client = sqs(&fake, CENTRAL);
    let sent = client
        .send_message_batch()
        .queue_url(&url)
        .entries(
            SendMessageBatchRequestEntry::builder()
                .id("poison")
                .message_body("poison")
                .build()
                .expect("an entry"),
        )
        .send()
        .await
        .expect("sent");
    let id = sent.successful()[0].message_id().to_owned();

    for count in ["1", "2"] {
        let got = receive(&client, &url, 0).await;
        assert_eq!(receive_count(&got[0]), Some(count));
        tokio::time::sleep(Duration::from_secs(10)).await;
    }
    assert!(
        receive(&client, &url, 0).await.is_empty(),
        "a third receive dead-letters it instead"
    );
    assert_eq!(fake.queue_depth(&url), depth(0, 0));
    assert_eq!(fake.queue_depth(&dlq), depth(1, 0));
    assert_eq!(fake.deliveries(&url), 2);

    let dead = receive(&client, &dlq, 0).await;
    assert_eq!(dead[0].message_id(), Some(id.as_str()));
    assert_eq!(dead[0].body(), Some("poison"));
    let source = dead[0]
        .attributes()
        .and_then(|a| a.get(&MessageSystemAttributeName::DeadLetterQueueSourceArn));
    assert_eq!(
        source.map(String::as_str),
        Some(format!("arn:aws:sqs:{REGION}:{CENTRAL}:events").as_str())
    );

    let policy = queue_attributes(&client, &url, QueueAttributeName::RedrivePolicy)
        .await
        .remove(&QueueAttributeName::RedrivePolicy)
        .expect("a redrive policy");
    let policy: Value = serde_json::from_str(&policy).expect("JSON");
    assert_eq!(
        policy,
        serde_json::json!({
            "deadLetterTargetArn": format!("arn:aws:sqs:{REGION}:{CENTRAL}:events-dlq"),
            "maxReceiveCount": 2,
        })
    );
}

#[tokio::test(start_paused = true)]
async fn sqs_throttles_and_server_errors_carry_sqs_codes() {
    const NOISY: &str = "777777777777";
    let throttled = FakeAws::new(FakeConfig {
        throttle_rate: 1.0,
        ..instant()
    });
    let url = throttled.create_queue(NOISY, REGION, "events", Duration::from_secs(30));
    let err = sqs_once(&throttled, NOISY)
        .receive_message()
        .queue_url(&url)
        .send()
        .await
        .expect_err("throttled")
        .into_service_error();
    assert!(err.is_request_throttled(), "{err:?}");
    let stats = throttled.stats_of(NOISY, REGION, "sqs:ReceiveMessage");
    assert_eq!((stats.requests, stats.throttled), (1, 1));

    let failing = FakeAws::new(FakeConfig {
        server_error_rate: 1.0,
        ..instant()
    });
    let url = failing.create_queue(NOISY, REGION, "events", Duration::from_secs(30));
    let err = sqs_once(&failing, NOISY)
        .send_message()
        .queue_url(&url)
        .message_body("x")
        .send()
        .await
        .expect_err("a 500");
    assert_eq!(err.code(), Some("InternalFailure"));
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(500));
    assert_eq!(failing.queue_depth(&url), depth(0, 0), "nothing was sent");
}

#[tokio::test(start_paused = true)]
async fn put_subscription_filter_records_when_it_was_put() {
    let fake = fake(2, 0);
    let apis = apis(&fake, 1);
    let group = "/aws/lambda/app-001";
    assert_eq!(fake.filter_put_at(CENTRAL, REGION, group, "autosub"), None);
    assert_eq!(
        fake.filter_put_at(CENTRAL, REGION, "/aws/lambda/app-000", "siem-0"),
        None,
        "a seeded filter was never put"
    );

    tokio::time::sleep(Duration::from_secs(7)).await;
    let before = Instant::now();
    apis.logs
        .put_subscription_filter(&LogGroupName::new(group), &filter_to_forwarder("autosub"))
        .await
        .expect("created");
    let put_at = fake
        .filter_put_at(CENTRAL, REGION, group, "autosub")
        .expect("recorded");
    assert!(before <= put_at && put_at <= Instant::now(), "{put_at:?}");

    let described = aws_sdk_cloudwatchlogs::Client::new(&fake.sdk_config(CENTRAL, REGION))
        .describe_subscription_filters()
        .log_group_name(group)
        .send()
        .await
        .expect("described");
    let created = described
        .subscription_filters()
        .iter()
        .find(|f| f.filter_name() == Some("autosub"))
        .and_then(|f| f.creation_time())
        .expect("a creation time");
    let now_ms = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("after 1970")
        .as_millis();
    let created = u128::try_from(created).expect("positive");
    // 7 s of paused time passed since the fake was made, on top of the wall clock then.
    assert!(
        created > now_ms && created < now_ms + 8_000,
        "{created} vs {now_ms}"
    );

    apis.logs
        .delete_subscription_filter(&LogGroupName::new(group), "autosub")
        .await
        .expect("deleted");
    assert_eq!(fake.filter_put_at(CENTRAL, REGION, group, "autosub"), None);
}

/// The queue's attributes `name` asks for (`All` for every one).
async fn queue_attributes(
    client: &aws_sdk_sqs::Client,
    url: &str,
    name: QueueAttributeName,
) -> std::collections::HashMap<QueueAttributeName, String> {
    client
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(name)
        .send()
        .await
        .expect("read the queue's attributes")
        .attributes
        .unwrap_or_default()
}
