//! The production AWS layer (`ClientFactory` and the `S3Api`/`LogsApi`/`LambdaApi` impls) against
//! moto through the real SDK.

use std::collections::{BTreeMap, BTreeSet};

use autosub_aws::{ErrorClass, ListedBucket};
use autosub_core::observed::parse_policy;
use autosub_core::{
    BucketName, DestinationKind, FilterRule, FunctionArn, InvokePermission, Invoker, LogGroupClass,
    LogGroupName, NotificationConfig, NotificationEntry, Region, SubscriptionFilter,
};
use autosub_testkit::estate::{self, FilterSpec};
use aws_sdk_s3::types::FilterRuleName;

use crate::support::{EU_REGION, Moto, REGION};

fn rule(name: &str, value: &str) -> FilterRule {
    FilterRule {
        name: name.to_owned(),
        value: value.to_owned(),
    }
}

fn entry(
    kind: DestinationKind,
    id: Option<&str>,
    arn: &str,
    events: &[&str],
    filter_rules: Vec<FilterRule>,
) -> NotificationEntry {
    NotificationEntry {
        id: id.map(str::to_owned),
        kind,
        arn: arn.to_owned(),
        events: events.iter().map(|e| (*e).to_owned()).collect(),
        filter_rules,
    }
}

/// Counts of one (service, operation, outcome) key in a recorder snapshot.
fn count(snapshot: &BTreeMap<(String, String, String), u64>, key: (&str, &str, &str)) -> u64 {
    let key = (key.0.to_owned(), key.1.to_owned(), key.2.to_owned());
    snapshot.get(&key).copied().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_notification_config_round_trips_every_entry_in_order() {
    use DestinationKind::*;
    let moto = Moto::start().await;
    let bucket = BucketName::new("it-round-trip");
    estate::create_bucket(&moto.cx, bucket.as_str())
        .await
        .unwrap();
    let fwd = "arn:aws:lambda:us-east-1:123456789012:function:fwd";
    let written = NotificationConfig {
        entries: vec![
            // Written capitalised, as real S3 returns them: the API must lowercase on write.
            entry(
                Topic,
                Some("topic-b"),
                "arn:aws:sns:us-east-1:123456789012:b",
                &["s3:ObjectRemoved:*"],
                vec![rule("Prefix", "b/")],
            ),
            entry(
                Topic,
                Some("topic-a"),
                "arn:aws:sns:us-east-1:123456789012:a",
                &["s3:ObjectCreated:Put", "s3:ObjectCreated:Copy"],
                vec![],
            ),
            entry(
                Queue,
                Some("queue-z"),
                "arn:aws:sqs:us-east-1:123456789012:z",
                &["s3:ObjectCreated:*"],
                vec![rule("prefix", "z/"), rule("Suffix", ".gz")],
            ),
            entry(
                Queue,
                Some("queue-y"),
                "arn:aws:sqs:us-east-1:123456789012:y",
                &["s3:ObjectCreated:*"],
                vec![rule("suffix", ".json")],
            ),
            entry(
                Lambda,
                Some("autosub-logs/"),
                fwd,
                &["s3:ObjectCreated:*"],
                vec![rule("PREFIX", "logs/")],
            ),
            entry(
                Lambda,
                Some("other"),
                "arn:aws:lambda:us-east-1:123456789012:function:x",
                &["s3:ObjectRestore:Completed"],
                vec![],
            ),
        ],
        event_bridge: false,
    };
    let region = Region::new(REGION);
    moto.apis
        .s3
        .put_notification_config(&bucket, &region, &written)
        .await
        .unwrap();

    // Rule names reached S3 lowercase, whatever case the domain value had.
    let raw = moto
        .cx
        .s3
        .get_bucket_notification_configuration()
        .bucket(bucket.as_str())
        .send()
        .await
        .unwrap();
    let filters = raw
        .topic_configurations()
        .iter()
        .map(|t| t.filter())
        .chain(raw.queue_configurations().iter().map(|q| q.filter()))
        .chain(
            raw.lambda_function_configurations()
                .iter()
                .map(|l| l.filter()),
        );
    let raw_names: Vec<Option<FilterRuleName>> = filters
        .flatten()
        .filter_map(|f| f.key())
        .flat_map(|k| k.filter_rules())
        .map(|r| r.name().cloned())
        .collect();
    assert_eq!(raw_names.len(), 5, "{raw:?}");
    assert!(
        raw_names
            .iter()
            .all(|n| matches!(n, Some(FilterRuleName::Prefix | FilterRuleName::Suffix))),
        "{raw_names:?}"
    );

    let read = moto
        .apis
        .s3
        .notification_config(&bucket, &region)
        .await
        .unwrap();
    let lowercased = NotificationConfig {
        entries: written
            .entries
            .iter()
            .map(|e| NotificationEntry {
                filter_rules: e
                    .filter_rules
                    .iter()
                    .map(|r| rule(&r.name.to_ascii_lowercase(), &r.value))
                    .collect(),
                ..e.clone()
            })
            .collect(),
        event_bridge: false,
    };
    assert_eq!(read, lowercased);

    // Writing back what was read changes nothing.
    moto.apis
        .s3
        .put_notification_config(&bucket, &region, &read)
        .await
        .unwrap();
    let again = moto
        .apis
        .s3
        .notification_config(&bucket, &region)
        .await
        .unwrap();
    assert_eq!(again, read);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_entry_without_id_gets_one_and_keeps_the_rest() {
    let moto = Moto::start().await;
    let bucket = BucketName::new("it-no-id");
    estate::create_bucket(&moto.cx, bucket.as_str())
        .await
        .unwrap();
    let region = Region::new(REGION);
    let written = NotificationConfig {
        entries: vec![entry(
            DestinationKind::Queue,
            None,
            "arn:aws:sqs:us-east-1:123456789012:q",
            &["s3:ObjectCreated:*"],
            vec![rule("prefix", "in/")],
        )],
        event_bridge: false,
    };
    moto.apis
        .s3
        .put_notification_config(&bucket, &region, &written)
        .await
        .unwrap();
    let read = moto
        .apis
        .s3
        .notification_config(&bucket, &region)
        .await
        .unwrap();
    assert_eq!(read.entries.len(), 1);
    let got = &read.entries[0];
    assert!(
        got.id.as_deref().is_some_and(|id| !id.is_empty()),
        "{got:?}"
    );
    assert_eq!(
        NotificationEntry {
            id: None,
            ..got.clone()
        },
        written.entries[0]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_empty_notification_config_reads_as_empty() {
    let moto = Moto::start().await;
    let bucket = BucketName::new("it-empty");
    estate::create_bucket(&moto.cx, bucket.as_str())
        .await
        .unwrap();
    let region = Region::new(REGION);

    // A bucket that never had a configuration: moto's odd root element must read as empty.
    let fresh = moto.apis.s3.notification_config(&bucket, &region).await;
    assert_eq!(fresh, Ok(NotificationConfig::default()));

    // Writing the empty configuration clears entries that were there.
    let one = NotificationConfig {
        entries: vec![entry(
            DestinationKind::Topic,
            Some("t"),
            "arn:aws:sns:us-east-1:123456789012:t",
            &["s3:ObjectCreated:*"],
            vec![],
        )],
        event_bridge: false,
    };
    moto.apis
        .s3
        .put_notification_config(&bucket, &region, &one)
        .await
        .unwrap();
    assert_eq!(
        moto.apis.s3.notification_config(&bucket, &region).await,
        Ok(one)
    );
    moto.apis
        .s3
        .put_notification_config(&bucket, &region, &NotificationConfig::default())
        .await
        .unwrap();
    assert_eq!(
        moto.apis.s3.notification_config(&bucket, &region).await,
        Ok(NotificationConfig::default())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_bucket_region_resolves_both_regions_and_reports_a_missing_bucket() {
    let moto = Moto::start().await;
    estate::create_bucket(&moto.cx, "it-region-us")
        .await
        .unwrap();
    estate::create_bucket(&moto.clients_in(EU_REGION), "it-region-eu")
        .await
        .unwrap();
    let s3 = &moto.apis.s3;
    assert_eq!(
        s3.bucket_region(&BucketName::new("it-region-us")).await,
        Ok(Region::new(REGION))
    );
    assert_eq!(
        s3.bucket_region(&BucketName::new("it-region-eu")).await,
        Ok(Region::new(EU_REGION))
    );
    let missing = s3
        .bucket_region(&BucketName::new("it-region-missing"))
        .await
        .unwrap_err();
    assert_eq!(missing.class, ErrorClass::NotFound, "{missing}");
    assert_eq!(missing.operation, "s3:HeadBucket");

    let mut listed = s3.list_buckets().await.unwrap();
    listed.sort();
    // moto names no BucketRegion in ListBuckets; the memo then asks HeadBucket.
    assert_eq!(
        listed,
        vec![
            ListedBucket {
                name: BucketName::new("it-region-eu"),
                region: None
            },
            ListedBucket {
                name: BucketName::new("it-region-us"),
                region: None
            }
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_log_groups_pages_beyond_fifty_groups() {
    let moto = Moto::start().await;
    let names: BTreeSet<String> = (0..60).map(|i| format!("/it/group-{i:02}")).collect();
    for name in &names {
        estate::create_log_group(&moto.cx, name).await.unwrap();
    }
    let groups = moto.apis.logs.log_groups().await.unwrap();
    assert_eq!(groups.len(), 60);
    let listed: BTreeSet<String> = groups.iter().map(|(g, _)| g.as_str().to_owned()).collect();
    assert_eq!(listed, names);
    assert!(
        groups
            .iter()
            .all(|(_, class)| *class == LogGroupClass::Standard),
        "{groups:?}"
    );
    // moto pages DescribeLogGroups at 50: two pages were needed.
    let snapshot = moto.factory.calls().snapshot();
    assert_eq!(
        count(&snapshot, ("CloudWatch Logs", "DescribeLogGroups", "ok")),
        2,
        "{snapshot:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_put_filter_on_a_full_group_is_limit_exceeded_after_one_attempt() {
    // Three attempts allowed: the LimitExceededException must still not be retried.
    let moto = Moto::with_attempts(3).await;
    let dest = moto.function("it-dest").await;
    let group = LogGroupName::new("/it/full");
    estate::create_log_group(&moto.cx, group.as_str())
        .await
        .unwrap();
    for name in ["foreign-1", "foreign-2"] {
        estate::put_subscription_filter(
            &moto.cx,
            &FilterSpec {
                log_group: group.as_str().to_owned(),
                filter_name: name.to_owned(),
                destination_arn: dest.to_string(),
                pattern: String::new(),
            },
        )
        .await
        .unwrap();
    }
    let ours = SubscriptionFilter {
        name: "autosub".to_owned(),
        destination_arn: dest.to_string(),
        pattern: String::new(),
    };
    let calls = moto.factory.calls();
    let before = calls.attempts();
    let err = moto
        .apis
        .logs
        .put_subscription_filter(&group, &ours)
        .await
        .unwrap_err();
    assert_eq!(err.class, ErrorClass::LimitExceeded, "{err}");
    assert_eq!(err.code.as_deref(), Some("LimitExceededException"));
    assert_eq!(calls.attempts() - before, 1, "LimitExceeded was retried");
    assert_eq!(
        count(
            &calls.snapshot(),
            ("CloudWatch Logs", "PutSubscriptionFilter", "limit_exceeded")
        ),
        1
    );

    // The foreign filters are still the only two.
    let mut filters = moto.apis.logs.subscription_filters(&group).await.unwrap();
    filters.sort();
    let names: Vec<&str> = filters.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["foreign-1", "foreign-2"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_filter_put_read_and_delete_with_not_found_when_gone() {
    let moto = Moto::start().await;
    let dest = moto.function("it-dest").await;
    let group = LogGroupName::new("/it/one");
    estate::create_log_group(&moto.cx, group.as_str())
        .await
        .unwrap();
    let logs = &moto.apis.logs;
    assert_eq!(logs.subscription_filters(&group).await, Ok(vec![]));

    let ours = SubscriptionFilter {
        name: "autosub".to_owned(),
        destination_arn: dest.to_string(),
        pattern: "ERROR".to_owned(),
    };
    logs.put_subscription_filter(&group, &ours).await.unwrap();
    assert_eq!(logs.subscription_filters(&group).await, Ok(vec![ours]));

    logs.delete_subscription_filter(&group, "autosub")
        .await
        .unwrap();
    assert_eq!(logs.subscription_filters(&group).await, Ok(vec![]));

    let gone = logs
        .delete_subscription_filter(&group, "autosub")
        .await
        .unwrap_err();
    assert_eq!(gone.class, ErrorClass::NotFound, "{gone}");
    let no_group = LogGroupName::new("/it/no-such-group");
    let gone = logs
        .delete_subscription_filter(&no_group, "autosub")
        .await
        .unwrap_err();
    assert_eq!(gone.class, ErrorClass::NotFound, "{gone}");
    let unread = logs.subscription_filters(&no_group).await.unwrap_err();
    assert_eq!(unread.class, ErrorClass::NotFound, "{unread}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lambda_policy_is_none_without_a_policy_and_not_found_without_a_function() {
    let moto = Moto::start().await;
    let function = moto.function("it-plain").await;
    assert_eq!(moto.apis.lambda.policy(&function).await, Ok(None));

    let missing = FunctionArn::from_parts(&moto.account, &moto.region, "it-missing");
    let err = moto.apis.lambda.policy(&missing).await.unwrap_err();
    assert_eq!(err.class, ErrorClass::NotFound, "{err}");
    assert_eq!(err.operation, "lambda:GetFunctionConfiguration");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lambda_added_permissions_parse_to_statements_that_allow_the_invoker() {
    let moto = Moto::start().await;
    let function = moto.function("it-fwd").await;
    let logs =
        InvokePermission::account_wide("autosub-", Invoker::Logs, &moto.account, &moto.region);
    let s3 = InvokePermission::account_wide("autosub-", Invoker::S3, &moto.account, &moto.region);
    moto.apis
        .lambda
        .add_permission(&function, &logs)
        .await
        .unwrap();
    moto.apis
        .lambda
        .add_permission(&function, &s3)
        .await
        .unwrap();

    let json = moto
        .apis
        .lambda
        .policy(&function)
        .await
        .unwrap()
        .expect("a policy after add_permission");
    let statements = parse_policy(&json).unwrap();
    let by_sid = |sid: &str| {
        statements
            .iter()
            .find(|s| s.sid == sid)
            .unwrap_or_else(|| panic!("no statement {sid} in {json}"))
    };
    let account = moto.account.as_str();
    let group_arn = LogGroupName::new("/aws/lambda/app").arn(&moto.account, &moto.region);
    let logs_statement = by_sid(&logs.statement_id);
    assert!(
        logs_statement.allows("logs.amazonaws.com", account, &group_arn),
        "{json}"
    );
    assert!(!logs_statement.allows("s3.amazonaws.com", account, &group_arn));
    assert!(!logs_statement.allows(
        "logs.amazonaws.com",
        "444455556666",
        &group_arn.replace(account, "444455556666")
    ));
    let s3_statement = by_sid(&s3.statement_id);
    assert!(
        s3_statement.allows("s3.amazonaws.com", account, "arn:aws:s3:::any-bucket"),
        "{json}"
    );
    assert!(!s3_statement.allows(
        "s3.amazonaws.com",
        "444455556666",
        "arn:aws:s3:::any-bucket"
    ));

    // And removal: the statement is gone, removing it again is NotFound.
    moto.apis
        .lambda
        .remove_permission(&function, &s3.statement_id)
        .await
        .unwrap();
    let json = moto
        .apis
        .lambda
        .policy(&function)
        .await
        .unwrap()
        .unwrap_or_default();
    let sids: Vec<String> = parse_policy(&json)
        .unwrap()
        .into_iter()
        .map(|s| s.sid)
        .collect();
    assert_eq!(sids, vec![logs.statement_id.clone()]);
    let again = moto
        .apis
        .lambda
        .remove_permission(&function, &s3.statement_id)
        .await
        .unwrap_err();
    assert_eq!(again.class, ErrorClass::NotFound, "{again}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lambda_functions_lists_every_function() {
    let moto = Moto::start().await;
    let mut created = BTreeSet::new();
    for i in 0..7 {
        created.insert(moto.function(&format!("it-fn-{i}")).await);
    }
    let listed = moto.apis.lambda.functions().await.unwrap();
    assert_eq!(listed.len(), created.len());
    let arns: BTreeSet<FunctionArn> = listed.iter().map(|f| f.arn.clone()).collect();
    assert_eq!(arns, created);
    // moto never returns LoggingConfig, so no function has a custom group here.
    assert!(listed.iter().all(|f| f.custom_log_group.is_none()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_recorder_counts_operations_by_service_operation_and_outcome() {
    let moto = Moto::start().await;
    estate::create_bucket(&moto.cx, "it-counted").await.unwrap();
    let function = moto.function("it-counted").await;
    let missing_fn = FunctionArn::from_parts(&moto.account, &moto.region, "it-missing");
    // Seeding went through the testkit clients: the factory has seen nothing yet.
    assert_eq!(moto.factory.calls().total(), 0);

    let s3 = &moto.apis.s3;
    s3.bucket_region(&BucketName::new("it-counted"))
        .await
        .unwrap();
    s3.bucket_region(&BucketName::new("it-counted"))
        .await
        .unwrap();
    s3.bucket_region(&BucketName::new("it-nope"))
        .await
        .unwrap_err();
    moto.apis.lambda.policy(&function).await.unwrap();
    moto.apis.lambda.policy(&missing_fn).await.unwrap_err();

    let got = moto.factory.calls().snapshot();
    let key = |s: &str, o: &str, r: &str| (s.to_owned(), o.to_owned(), r.to_owned());
    let want = BTreeMap::from([
        (key("S3", "HeadBucket", "ok"), 2),
        (key("S3", "HeadBucket", "not_found"), 1),
        // GetPolicy answers NotFound for "no policy" and "no function" alike; the function
        // lookup that tells them apart is counted too.
        (key("Lambda", "GetPolicy", "not_found"), 2),
        (key("Lambda", "GetFunctionConfiguration", "ok"), 1),
        (key("Lambda", "GetFunctionConfiguration", "not_found"), 1),
    ]);
    assert_eq!(got, want);
    assert_eq!(moto.factory.calls().total(), 7);
    assert_eq!(moto.factory.calls().attempts(), 7);
}

/// An endpoint that accepts connections and never answers fails the call within the read
/// timeout instead of stalling the pass (tokio's paused clock: the minutes pass instantly).
#[tokio::test(start_paused = true)]
async fn a_hung_endpoint_fails_the_call_instead_of_stalling() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    // Accept and hold every connection, answering nothing.
    let _held = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let factory = autosub_aws::ClientFactory::from_sdk_config(
        autosub_testkit::moto::sdk_config_for(&endpoint, REGION),
        autosub_aws::AwsSettings {
            endpoint_url: Some(endpoint),
            max_attempts: 2,
            region: Some(Region::new(REGION)),
            ..autosub_aws::AwsSettings::default()
        },
    );
    let apis = factory.apis(
        &autosub_core::AccountId::new("123456789012"),
        &Region::new(REGION),
    );
    let started = tokio::time::Instant::now();
    let err = apis.logs.log_groups().await.unwrap_err();
    let waited = started.elapsed();
    assert!(
        waited >= autosub_aws::factory::READ_TIMEOUT
            && waited <= autosub_aws::factory::OPERATION_TIMEOUT,
        "failed after {waited:?}: {err}"
    );
}
