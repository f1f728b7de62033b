//! The fake driven through autosub's production AWS layer (`ClientFactory` and its SDK clients).

use autosub_aws::apis::TargetApis;
use autosub_aws::error::{AwsError, ErrorClass};
use autosub_aws::{AwsSettings, ClientFactory};
use autosub_core::{
    AccountId, BucketName, DestinationKind, FunctionArn, InvokePermission, Invoker, LogGroupClass,
    LogGroupName, NotificationEntry, Region, SubscriptionFilter,
};
use aws_sdk_s3::config::SharedCredentialsProvider;

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
