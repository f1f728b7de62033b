//! The trigger backends (`autosub_triggers::observe` and `apply`) against moto, with hand-built
//! plans so each case pins one backend behaviour.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use async_trait::async_trait;
use autosub_aws::source_apis::Tags;
use autosub_aws::{AwsError, ErrorClass, FunctionInfo, LambdaApi, TargetApis};

use autosub_core::observed::parse_policy;
use autosub_core::plan::{Action, Change, ChangeReason, Plan, PlanPolicy, SkipReason, Trigger};
use autosub_core::{
    BucketName, BucketState, FunctionArn, InvokePermission, Invoker, LogGroupClass, LogGroupName,
    LogGroupState, PolicyState, Region, SubscriptionFilter,
};
use autosub_testkit::estate::{self, FilterSpec, NotificationEntry, NotificationTarget};
use autosub_triggers::observe;
use autosub_triggers::{ChangeOutcome, Outcome, apply};
use aws_sdk_s3::types::{LambdaFunctionConfiguration, QueueConfiguration, TopicConfiguration};
use tokio_util::sync::CancellationToken;

use crate::support::{EU_REGION, Moto, REGION};

const FILTER_NAME: &str = "autosub";

fn policy(moto: &Moto) -> PlanPolicy {
    PlanPolicy {
        account: moto.account.clone(),
        notification_id_prefix: "autosub-".to_owned(),
        filter_name: FILTER_NAME.to_owned(),
        filter_pattern: String::new(),
        statement_id_prefix: "autosub-".to_owned(),
        max_filters_per_log_group: 2,
        stale_passes_before_delete: 1,
        max_deletes_per_pass: 10,
        protect: Vec::new(),
    }
}

fn plan_of(changes: Vec<Change>) -> Plan {
    Plan {
        changes,
        ..Plan::default()
    }
}

fn change(action: Action, trigger: Trigger) -> Change {
    Change {
        action,
        trigger,
        reason: ChangeReason::NoSource,
        after: None,
    }
}

fn s3_create(bucket: &str, prefix: &str, forwarder: &FunctionArn) -> Change {
    change(
        Action::Create,
        Trigger::S3Notification {
            bucket: BucketName::new(bucket),
            region: Region::new(REGION),
            id: format!("autosub-{prefix}"),
            prefix: prefix.to_owned(),
            destination: forwarder.to_string(),
        },
    )
}

fn filter_change(action: Action, group: &str, forwarder: &FunctionArn) -> Change {
    change(
        action,
        Trigger::SubscriptionFilter {
            log_group: LogGroupName::new(group),
            filter_name: FILTER_NAME.to_owned(),
            pattern: String::new(),
            destination: forwarder.to_string(),
        },
    )
}

/// The only outcome of a one-change plan.
fn only(outcomes: Vec<ChangeOutcome>) -> Outcome {
    assert_eq!(outcomes.len(), 1, "{outcomes:?}");
    outcomes.into_iter().next().expect("one outcome").outcome
}

/// A bucket's notification entries exactly as the SDK parses S3's reply (the whole output would
/// also compare request ids).
#[derive(Debug, PartialEq)]
struct RawNotifications {
    topics: Vec<TopicConfiguration>,
    queues: Vec<QueueConfiguration>,
    lambdas: Vec<LambdaFunctionConfiguration>,
}

async fn raw_notifications(moto: &Moto, bucket: &str) -> RawNotifications {
    let out = moto
        .cx
        .s3
        .get_bucket_notification_configuration()
        .bucket(bucket)
        .send()
        .await
        .expect("raw GetBucketNotificationConfiguration");
    RawNotifications {
        topics: out.topic_configurations().to_vec(),
        queues: out.queue_configurations().to_vec(),
        lambdas: out.lambda_function_configurations().to_vec(),
    }
}

/// Foreign entries of every kind, none overlapping an `ObjectCreated:*` rule on `logs/`.
fn foreign_entries(lambda: &FunctionArn) -> Vec<NotificationEntry> {
    vec![
        NotificationEntry::new(
            "audit-queue",
            NotificationTarget::Queue("arn:aws:sqs:us-east-1:123456789012:audit".to_owned()),
            "s3:ObjectCreated:*",
        )
        .prefix("audit/")
        .suffix(".json"),
        NotificationEntry::new(
            "second-queue",
            NotificationTarget::Queue("arn:aws:sqs:us-east-1:123456789012:second".to_owned()),
            "s3:ObjectCreated:Put",
        )
        .prefix("second/"),
        NotificationEntry::new(
            "removals-topic",
            NotificationTarget::Topic("arn:aws:sns:us-east-1:123456789012:removals".to_owned()),
            "s3:ObjectRemoved:*",
        ),
        NotificationEntry::new(
            "thumbnailer",
            NotificationTarget::Lambda(lambda.to_string()),
            "s3:ObjectCreated:*",
        )
        .prefix("images/")
        .suffix(".png"),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_create_keeps_every_foreign_entry_exactly() {
    let moto = Moto::start().await;
    let forwarder = moto.function("it-fwd").await;
    let thumbnailer = moto.function("it-thumbnailer").await;
    let bucket = "it-shared-logs";
    estate::create_bucket(&moto.cx, bucket).await.unwrap();
    estate::put_notifications(&moto.cx, bucket, &foreign_entries(&thumbnailer))
        .await
        .unwrap();
    let before = raw_notifications(&moto, bucket).await;
    assert_eq!(
        (
            before.queues.len(),
            before.topics.len(),
            before.lambdas.len()
        ),
        (2, 1, 1)
    );

    let plan = plan_of(vec![s3_create(bucket, "logs/", &forwarder)]);
    let outcomes = apply(&moto.apis, &plan, &policy(&moto), &CancellationToken::new()).await;
    assert_eq!(only(outcomes), Outcome::Applied);

    let after = raw_notifications(&moto, bucket).await;
    assert_eq!(after.queues, before.queues);
    assert_eq!(after.topics, before.topics);
    let (ours, foreign): (Vec<_>, Vec<_>) = after
        .lambdas
        .iter()
        .cloned()
        .partition(|l| l.id() == Some("autosub-logs/"));
    assert_eq!(foreign, before.lambdas);
    assert_eq!(ours.len(), 1, "{after:?}");
    let ours = &ours[0];
    assert_eq!(ours.lambda_function_arn(), forwarder.to_string());
    assert_eq!(
        ours.events().iter().map(|e| e.as_str()).collect::<Vec<_>>(),
        ["s3:ObjectCreated:*"]
    );
    let rules: Vec<(String, String)> = ours
        .filter()
        .and_then(|f| f.key())
        .map(|k| k.filter_rules())
        .unwrap_or_default()
        .iter()
        .map(|r| {
            (
                r.name().map(|n| n.as_str().to_owned()).unwrap_or_default(),
                r.value().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(rules, [("prefix".to_owned(), "logs/".to_owned())]);

    // Applying the same plan again leaves the bucket as it is (our entry is replaced in place).
    let again = apply(&moto.apis, &plan, &policy(&moto), &CancellationToken::new()).await;
    assert_eq!(only(again), Outcome::Applied);
    assert_eq!(raw_notifications(&moto, bucket).await, after);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_apply_writes_nothing_and_skips_every_change_for_shutdown() {
    let moto = Moto::start().await;
    let forwarder = moto.function("it-fwd").await;
    let bucket = "it-shutdown";
    estate::create_bucket(&moto.cx, bucket).await.unwrap();
    let plan = plan_of(vec![
        s3_create(bucket, "AWSLogs/", &forwarder),
        filter_change(Action::Create, "/aws/lambda/it-app", &forwarder),
    ]);
    let before = moto.factory.calls().total();

    let cancel = CancellationToken::new();
    cancel.cancel();
    let outcomes = apply(&moto.apis, &plan, &policy(&moto), &cancel).await;
    let reasons: Vec<_> = outcomes
        .iter()
        .map(|o| match &o.outcome {
            Outcome::Skipped { reason, .. } => Some(*reason),
            _ => None,
        })
        .collect();
    assert_eq!(reasons, [Some(SkipReason::Shutdown); 2]);
    assert_eq!(moto.factory.calls().total(), before, "no AWS call was made");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_create_overlapping_a_rule_that_appeared_after_planning_is_skipped_unwritten() {
    let moto = Moto::start().await;
    let forwarder = moto.function("it-fwd").await;
    let bucket = "it-late-rule";
    estate::create_bucket(&moto.cx, bucket).await.unwrap();
    // Planned while the bucket had no notifications at all.
    let plan = plan_of(vec![s3_create(bucket, "AWSLogs/", &forwarder)]);

    // Then someone adds a queue rule for every new object.
    estate::put_notifications(
        &moto.cx,
        bucket,
        &[NotificationEntry::new(
            "legacy-ingest",
            NotificationTarget::Queue("arn:aws:sqs:us-east-1:123456789012:legacy".to_owned()),
            "s3:ObjectCreated:*",
        )],
    )
    .await
    .unwrap();
    let before = raw_notifications(&moto, bucket).await;

    let outcome = only(apply(&moto.apis, &plan, &policy(&moto), &CancellationToken::new()).await);
    match &outcome {
        Outcome::Skipped { reason, detail } => {
            assert_eq!(*reason, SkipReason::S3Overlap);
            assert!(detail.contains("legacy-ingest"), "{detail}");
        }
        other => panic!("expected a skip, got {other:?}"),
    }
    assert_eq!(raw_notifications(&moto, bucket).await, before);
    let writes: u64 = moto
        .factory
        .calls()
        .snapshot()
        .iter()
        .filter(|((_, op, _), _)| op == "PutBucketNotificationConfiguration")
        .map(|(_, n)| n)
        .sum();
    assert_eq!(writes, 0, "a skipped change must not write the bucket");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filter_create_on_a_full_group_is_skipped_for_no_free_slot() {
    let moto = Moto::start().await;
    let forwarder = moto.function("it-fwd").await;
    let siem = moto.function("it-siem").await;
    let group = "/aws/lambda/it-busy";
    estate::create_log_group(&moto.cx, group).await.unwrap();
    for name in ["siem-a", "siem-b"] {
        estate::put_subscription_filter(
            &moto.cx,
            &FilterSpec {
                log_group: group.to_owned(),
                filter_name: name.to_owned(),
                destination_arn: siem.to_string(),
                pattern: String::new(),
            },
        )
        .await
        .unwrap();
    }
    let plan = plan_of(vec![filter_change(Action::Create, group, &forwarder)]);
    let outcome = only(apply(&moto.apis, &plan, &policy(&moto), &CancellationToken::new()).await);
    assert!(
        matches!(
            outcome,
            Outcome::Skipped {
                reason: SkipReason::NoFreeSlot,
                ..
            }
        ),
        "{outcome:?}"
    );
    let names: BTreeSet<String> = moto
        .apis
        .logs
        .subscription_filters(&LogGroupName::new(group))
        .await
        .unwrap()
        .into_iter()
        .map(|f| f.name)
        .collect();
    assert_eq!(names, BTreeSet::from(["siem-a".into(), "siem-b".into()]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filter_create_then_delete_and_delete_when_already_gone_are_applied() {
    let moto = Moto::start().await;
    let forwarder = moto.function("it-fwd").await;
    let group = "/aws/lambda/it-app";
    estate::create_log_group(&moto.cx, group).await.unwrap();
    let policy = policy(&moto);
    let create = plan_of(vec![filter_change(Action::Create, group, &forwarder)]);
    assert_eq!(
        only(apply(&moto.apis, &create, &policy, &CancellationToken::new()).await),
        Outcome::Applied
    );
    assert_eq!(
        moto.apis
            .logs
            .subscription_filters(&LogGroupName::new(group))
            .await,
        Ok(vec![SubscriptionFilter {
            name: FILTER_NAME.to_owned(),
            destination_arn: forwarder.to_string(),
            pattern: String::new(),
        }])
    );

    let delete = plan_of(vec![filter_change(Action::Delete, group, &forwarder)]);
    assert_eq!(
        only(apply(&moto.apis, &delete, &policy, &CancellationToken::new()).await),
        Outcome::Applied
    );
    // Already gone: deleting again is done, not failed.
    assert_eq!(
        only(apply(&moto.apis, &delete, &policy, &CancellationToken::new()).await),
        Outcome::Applied
    );
    // The group itself gone: still done.
    let no_group = plan_of(vec![filter_change(
        Action::Delete,
        "/aws/lambda/it-deleted",
        &forwarder,
    )]);
    assert_eq!(
        only(apply(&moto.apis, &no_group, &policy, &CancellationToken::new()).await),
        Outcome::Applied
    );
    assert_eq!(
        moto.apis
            .logs
            .subscription_filters(&LogGroupName::new(group))
            .await,
        Ok(vec![])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permission_create_when_the_statement_id_exists_is_applied() {
    let moto = Moto::start().await;
    let forwarder = moto.function("it-fwd").await;
    let permission =
        InvokePermission::account_wide("autosub-", Invoker::Logs, &moto.account, &moto.region);
    let plan = plan_of(vec![change(
        Action::Create,
        Trigger::InvokePermission {
            forwarder: forwarder.clone(),
            permission: permission.clone(),
        },
    )]);
    let policy = policy(&moto);
    assert_eq!(
        only(apply(&moto.apis, &plan, &policy, &CancellationToken::new()).await),
        Outcome::Applied
    );
    // Again, with the statement id now taken. AWS answers ResourceConflictException, which apply
    // treats as done; moto accepts the duplicate, so this pins only the outcome.
    assert_eq!(
        only(apply(&moto.apis, &plan, &policy, &CancellationToken::new()).await),
        Outcome::Applied
    );

    let json = moto
        .apis
        .lambda
        .policy(&forwarder)
        .await
        .unwrap()
        .expect("a policy");
    let statements = parse_policy(&json).unwrap();
    let ours: Vec<_> = statements
        .iter()
        .filter(|s| s.sid == permission.statement_id)
        .collect();
    assert!(!ours.is_empty(), "{json}");
    let group_arn = LogGroupName::new("/aws/lambda/app").arn(&moto.account, &moto.region);
    assert!(
        ours.iter()
            .all(|s| s.allows("logs.amazonaws.com", moto.account.as_str(), &group_arn)),
        "{json}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observe_log_groups_lists_the_region_and_reads_only_the_groups_asked_for() {
    let moto = Moto::start().await;
    let forwarder = moto.function("it-fwd").await;
    estate::create_log_group(&moto.cx, "/aws/lambda/it-present")
        .await
        .unwrap();
    estate::create_log_group(&moto.cx, "/aws/lambda/it-stale")
        .await
        .unwrap();
    estate::put_subscription_filter(
        &moto.cx,
        &FilterSpec {
            log_group: "/aws/lambda/it-stale".to_owned(),
            filter_name: FILTER_NAME.to_owned(),
            destination_arn: forwarder.to_string(),
            pattern: String::new(),
        },
    )
    .await
    .unwrap();
    let listed = observe::list_log_groups(&moto.apis).await.unwrap();
    assert!(
        listed.contains_key(&LogGroupName::new("/aws/lambda/it-stale"))
            && !listed.contains_key(&LogGroupName::new("/aws/lambda/it-never-ran")),
        "{listed:?}"
    );
    let to_read: BTreeSet<LogGroupName> = ["/aws/lambda/it-present", "/aws/lambda/it-stale"]
        .into_iter()
        .map(LogGroupName::new)
        .collect();

    let states = observe::read_log_groups(
        &moto.apis,
        &to_read,
        observe::GroupClasses::Listed(&listed),
        4,
    )
    .await;
    let want = BTreeMap::from([
        (
            LogGroupName::new("/aws/lambda/it-present"),
            LogGroupState::Found {
                class: LogGroupClass::Standard,
                filters: vec![],
            },
        ),
        (
            LogGroupName::new("/aws/lambda/it-stale"),
            LogGroupState::Found {
                class: LogGroupClass::Standard,
                filters: vec![SubscriptionFilter {
                    name: FILTER_NAME.to_owned(),
                    destination_arn: forwarder.to_string(),
                    pattern: String::new(),
                }],
            },
        ),
    ]);
    assert_eq!(states, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observe_forwarder_policies_reports_a_missing_forwarder_as_unavailable() {
    let moto = Moto::start().await;
    let forwarder = moto.function("it-fwd").await;
    let eu = Region::new(EU_REGION);
    let eu_forwarder = FunctionArn::from_parts(&moto.account, &eu, "it-fwd");
    let forwarders = BTreeMap::from([
        (moto.region.clone(), forwarder.clone()),
        (eu.clone(), eu_forwarder),
    ]);

    let (policies, unavailable) = observe::forwarder_policies(&moto.apis, &forwarders).await;
    assert_eq!(
        policies,
        BTreeMap::from([(forwarder, PolicyState::Found { statements: vec![] })])
    );
    assert_eq!(unavailable.keys().collect::<Vec<_>>(), [&eu]);
    assert!(
        unavailable[&eu].contains("does not exist"),
        "{unavailable:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observe_buckets_reads_the_region_and_wanted_buckets_elsewhere() {
    let moto = Moto::start().await;
    let eu_cx = moto.clients_in(EU_REGION);
    estate::create_bucket(&moto.cx, "it-us-a").await.unwrap();
    estate::create_bucket(&eu_cx, "it-eu-wanted").await.unwrap();
    estate::create_bucket(&eu_cx, "it-eu-other").await.unwrap();
    estate::put_notifications(
        &eu_cx,
        "it-eu-wanted",
        &[NotificationEntry::new(
            "q",
            NotificationTarget::Queue("arn:aws:sqs:eu-west-1:123456789012:q".to_owned()),
            "s3:ObjectCreated:*",
        )],
    )
    .await
    .unwrap();
    let eu = Region::new(EU_REGION);
    let names: BTreeSet<BucketName> = ["it-us-a", "it-eu-wanted", "it-gone"]
        .into_iter()
        .map(BucketName::new)
        .collect();

    let (regions, unresolved) = observe::bucket_regions(&moto.apis, &names, 4).await;
    assert_eq!(
        regions,
        BTreeMap::from([
            (BucketName::new("it-eu-wanted"), eu.clone()),
            (BucketName::new("it-us-a"), moto.region.clone()),
        ])
    );
    assert_eq!(
        unresolved,
        BTreeMap::from([(
            BucketName::new("it-gone"),
            "the bucket does not exist".to_owned()
        )])
    );

    let wanted = BTreeMap::from([
        (BucketName::new("it-eu-wanted"), eu.clone()),
        (BucketName::new("it-gone"), eu.clone()),
    ]);
    let listed = observe::list_buckets(&moto.apis).await.unwrap();
    let (states, unswept) = observe::buckets(&moto.apis, &moto.region, &wanted, &listed, 4).await;
    assert_eq!(unswept, None);
    let keys: Vec<&str> = states.keys().map(BucketName::as_str).collect();
    // it-eu-other is swept but in another region: not read.
    assert_eq!(keys, ["it-eu-wanted", "it-gone", "it-us-a"]);
    assert_eq!(states[&BucketName::new("it-gone")], BucketState::Missing);
    match &states[&BucketName::new("it-us-a")] {
        BucketState::Found { region, config } => {
            assert_eq!(region, &moto.region);
            assert!(config.entries.is_empty(), "{config:?}");
        }
        other => panic!("it-us-a: {other:?}"),
    }
    match &states[&BucketName::new("it-eu-wanted")] {
        BucketState::Found { region, config } => {
            assert_eq!(region, &eu);
            let ids: Vec<_> = config.entries.iter().map(|e| e.id.as_deref()).collect();
            assert_eq!(ids, [Some("q")]);
        }
        other => panic!("it-eu-wanted: {other:?}"),
    }
}

/// Lambda as AWS behaves on AddPermission: a taken statement id is `ResourceConflictException`.
/// moto accepts the duplicate (and keeps both statements), so this layer restores AWS's answer.
struct RejectTakenStatementIds(Arc<dyn LambdaApi>);

#[async_trait]
impl LambdaApi for RejectTakenStatementIds {
    async fn functions(&self) -> Result<Vec<FunctionInfo>, AwsError> {
        self.0.functions().await
    }

    async fn tags(&self, function: &FunctionArn) -> Result<Tags, AwsError> {
        self.0.tags(function).await
    }

    async fn policy(&self, function: &FunctionArn) -> Result<Option<String>, AwsError> {
        self.0.policy(function).await
    }

    async fn add_permission(
        &self,
        function: &FunctionArn,
        permission: &InvokePermission,
    ) -> Result<(), AwsError> {
        let json = self.0.policy(function).await?.unwrap_or_default();
        let taken = !json.is_empty()
            && parse_policy(&json)
                .expect("moto policy parses")
                .iter()
                .any(|s| s.sid == permission.statement_id);
        if taken {
            return Err(AwsError {
                class: ErrorClass::Conflict,
                operation: "lambda:AddPermission",
                code: Some("ResourceConflictException".to_owned()),
                message: "The statement id provided already exists.".to_owned(),
            });
        }
        self.0.add_permission(function, permission).await
    }

    async fn remove_permission(
        &self,
        function: &FunctionArn,
        statement_id: &str,
    ) -> Result<(), AwsError> {
        self.0.remove_permission(function, statement_id).await
    }
}

/// The statements of `forwarder`'s policy with `sid`.
async fn statements_with_sid(
    apis: &TargetApis,
    forwarder: &FunctionArn,
    sid: &str,
) -> Vec<autosub_core::PolicyStatement> {
    let json = apis
        .lambda
        .policy(forwarder)
        .await
        .unwrap()
        .unwrap_or_default();
    if json.is_empty() {
        return Vec::new();
    }
    parse_policy(&json)
        .unwrap()
        .into_iter()
        .filter(|s| s.sid == sid)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permission_create_when_aws_says_the_statement_id_is_taken_is_applied() {
    let moto = Moto::start().await;
    let forwarder = moto.function("it-fwd").await;
    let apis = TargetApis {
        lambda: Arc::new(RejectTakenStatementIds(Arc::clone(&moto.apis.lambda))),
        ..moto.apis.clone()
    };
    let permission =
        InvokePermission::account_wide("autosub-", Invoker::S3, &moto.account, &moto.region);
    let plan = plan_of(vec![change(
        Action::Create,
        Trigger::InvokePermission {
            forwarder: forwarder.clone(),
            permission: permission.clone(),
        },
    )]);
    let policy = policy(&moto);
    assert_eq!(
        only(apply(&apis, &plan, &policy, &CancellationToken::new()).await),
        Outcome::Applied
    );
    // A concurrent run got there first: the conflict counts as done.
    assert_eq!(
        only(apply(&apis, &plan, &policy, &CancellationToken::new()).await),
        Outcome::Applied
    );
    let ours = statements_with_sid(&apis, &forwarder, &permission.statement_id).await;
    assert_eq!(ours.len(), 1, "{ours:?}");
    assert!(ours[0].allows("s3.amazonaws.com", moto.account.as_str(), "arn:aws:s3:::b"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permission_update_replaces_the_statement_and_delete_when_gone_is_applied() {
    let moto = Moto::start().await;
    let forwarder = moto.function("it-fwd").await;
    let policy = policy(&moto);
    let old = InvokePermission {
        source_arn: Some("arn:aws:logs:us-east-1:123456789012:log-group:/only/this:*".to_owned()),
        ..InvokePermission::account_wide("autosub-", Invoker::Logs, &moto.account, &moto.region)
    };
    let new =
        InvokePermission::account_wide("autosub-", Invoker::Logs, &moto.account, &moto.region);
    let permission_change = |action: Action, permission: &InvokePermission| {
        plan_of(vec![change(
            action,
            Trigger::InvokePermission {
                forwarder: forwarder.clone(),
                permission: permission.clone(),
            },
        )])
    };
    let sid = new.statement_id.clone();
    let app_group = LogGroupName::new("/aws/lambda/app").arn(&moto.account, &moto.region);

    let create = permission_change(Action::Create, &old);
    assert_eq!(
        only(apply(&moto.apis, &create, &policy, &CancellationToken::new()).await),
        Outcome::Applied
    );
    let before = statements_with_sid(&moto.apis, &forwarder, &sid).await;
    assert_eq!(before.len(), 1);
    assert!(!before[0].allows("logs.amazonaws.com", moto.account.as_str(), &app_group));

    let update = permission_change(Action::Update, &new);
    assert_eq!(
        only(apply(&moto.apis, &update, &policy, &CancellationToken::new()).await),
        Outcome::Applied
    );
    let after = statements_with_sid(&moto.apis, &forwarder, &sid).await;
    assert_eq!(after.len(), 1, "{after:?}");
    assert!(after[0].allows("logs.amazonaws.com", moto.account.as_str(), &app_group));

    let delete = permission_change(Action::Delete, &new);
    assert_eq!(
        only(apply(&moto.apis, &delete, &policy, &CancellationToken::new()).await),
        Outcome::Applied
    );
    assert_eq!(
        statements_with_sid(&moto.apis, &forwarder, &sid).await,
        vec![]
    );
    // Already gone.
    assert_eq!(
        only(apply(&moto.apis, &delete, &policy, &CancellationToken::new()).await),
        Outcome::Applied
    );
}

/// Lambda that checks, at each RemovePermission, that another statement still lets
/// `principal` invoke for `source_arn`: the grant never lapses.
struct GrantMustHold {
    inner: Arc<dyn LambdaApi>,
    principal: &'static str,
    account: String,
    source_arn: String,
    removes: std::sync::Mutex<Vec<(String, bool)>>,
}

#[async_trait]
impl LambdaApi for GrantMustHold {
    async fn functions(&self) -> Result<Vec<FunctionInfo>, AwsError> {
        self.inner.functions().await
    }

    async fn tags(&self, function: &FunctionArn) -> Result<Tags, AwsError> {
        self.inner.tags(function).await
    }

    async fn policy(&self, function: &FunctionArn) -> Result<Option<String>, AwsError> {
        self.inner.policy(function).await
    }

    async fn add_permission(
        &self,
        function: &FunctionArn,
        permission: &InvokePermission,
    ) -> Result<(), AwsError> {
        self.inner.add_permission(function, permission).await
    }

    async fn remove_permission(
        &self,
        function: &FunctionArn,
        statement_id: &str,
    ) -> Result<(), AwsError> {
        let json = self.inner.policy(function).await?.unwrap_or_default();
        let held = parse_policy(&json)
            .expect("moto policy parses")
            .iter()
            .any(|s| {
                s.sid != statement_id && s.allows(self.principal, &self.account, &self.source_arn)
            });
        self.removes
            .lock()
            .unwrap()
            .push((statement_id.to_owned(), held));
        self.inner.remove_permission(function, statement_id).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permission_update_adds_the_replacement_before_removing_the_old_statement() {
    let moto = Moto::start().await;
    let forwarder = moto.function("it-fwd").await;
    let policy = policy(&moto);
    let wanted =
        InvokePermission::account_wide("autosub-", Invoker::Logs, &moto.account, &moto.region);
    let narrow = InvokePermission {
        source_arn: Some("arn:aws:logs:us-east-1:123456789012:log-group:/only/this:*".to_owned()),
        ..wanted.clone()
    };
    let only_this = LogGroupName::new("/only/this").arn(&moto.account, &moto.region);
    let app_group = LogGroupName::new("/aws/lambda/app").arn(&moto.account, &moto.region);
    let lambda = Arc::new(GrantMustHold {
        inner: Arc::clone(&moto.apis.lambda),
        principal: "logs.amazonaws.com",
        account: moto.account.to_string(),
        source_arn: only_this,
        removes: std::sync::Mutex::new(Vec::new()),
    });
    let apis = TargetApis {
        lambda: lambda.clone(),
        ..moto.apis.clone()
    };
    let change_of = |action: Action, permission: &InvokePermission| {
        plan_of(vec![change(
            action,
            Trigger::InvokePermission {
                forwarder: forwarder.clone(),
                permission: permission.clone(),
            },
        )])
    };
    let create = change_of(Action::Create, &narrow);
    assert_eq!(
        only(apply(&apis, &create, &policy, &CancellationToken::new()).await),
        Outcome::Applied
    );

    // The plan's update: the replacement under our other id, replacing the narrow one.
    let alternate = wanted.alternate_id();
    let update = change_of(
        Action::Update,
        &wanted.replacing(&alternate, &wanted.statement_id),
    );
    assert_eq!(
        only(apply(&apis, &update, &policy, &CancellationToken::new()).await),
        Outcome::Applied
    );
    assert_eq!(
        *lambda.removes.lock().unwrap(),
        [(wanted.statement_id.clone(), true)],
        "the old statement was removed only once the new one granted the same"
    );
    assert_eq!(
        statements_with_sid(&apis, &forwarder, &wanted.statement_id).await,
        vec![]
    );
    let new = statements_with_sid(&apis, &forwarder, &alternate).await;
    assert_eq!(new.len(), 1, "{new:?}");
    assert!(new[0].allows("logs.amazonaws.com", moto.account.as_str(), &app_group));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_changes_on_one_bucket_are_one_write_that_moves_our_entry() {
    let moto = Moto::start().await;
    let forwarder = moto.function("it-fwd").await;
    let thumbnailer = moto.function("it-thumbnailer").await;
    let bucket = "it-moving";
    estate::create_bucket(&moto.cx, bucket).await.unwrap();
    let mut entries = foreign_entries(&thumbnailer);
    entries.push(
        NotificationEntry::new(
            "autosub-old/",
            NotificationTarget::Lambda(forwarder.to_string()),
            "s3:ObjectCreated:*",
        )
        .prefix("old/"),
    );
    estate::put_notifications(&moto.cx, bucket, &entries)
        .await
        .unwrap();
    let before = raw_notifications(&moto, bucket).await;

    let delete_old = change(
        Action::Delete,
        Trigger::S3Notification {
            bucket: BucketName::new(bucket),
            region: Region::new(REGION),
            id: "autosub-old/".to_owned(),
            prefix: "old/".to_owned(),
            destination: forwarder.to_string(),
        },
    );
    let plan = plan_of(vec![delete_old, s3_create(bucket, "new/", &forwarder)]);
    let outcomes = apply(&moto.apis, &plan, &policy(&moto), &CancellationToken::new()).await;
    let outcomes: Vec<Outcome> = outcomes.into_iter().map(|o| o.outcome).collect();
    assert_eq!(outcomes, [Outcome::Applied, Outcome::Applied]);

    let after = raw_notifications(&moto, bucket).await;
    assert_eq!(after.queues, before.queues);
    assert_eq!(after.topics, before.topics);
    let ids: Vec<Option<&str>> = after.lambdas.iter().map(|l| l.id()).collect();
    assert_eq!(ids, [Some("thumbnailer"), Some("autosub-new/")]);
    assert_eq!(after.lambdas[0], before.lambdas[0]);
    let snapshot = moto.factory.calls().snapshot();
    let writes: u64 = snapshot
        .iter()
        .filter(|((_, op, _), _)| op == "PutBucketNotificationConfiguration")
        .map(|(_, n)| n)
        .sum();
    assert_eq!(writes, 1, "{snapshot:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_on_resources_deleted_during_the_pass_are_skipped() {
    let moto = Moto::start().await;
    let forwarder = moto.function("it-fwd").await;
    let plan = plan_of(vec![
        filter_change(Action::Create, "/aws/lambda/it-deleted", &forwarder),
        s3_create("it-deleted-bucket", "logs/", &forwarder),
    ]);
    let outcomes: Vec<Outcome> =
        apply(&moto.apis, &plan, &policy(&moto), &CancellationToken::new())
            .await
            .into_iter()
            .map(|o| o.outcome)
            .collect();
    let reasons: Vec<Option<SkipReason>> = outcomes
        .iter()
        .map(|o| match o {
            Outcome::Skipped { reason, .. } => Some(*reason),
            _ => None,
        })
        .collect();
    assert_eq!(
        reasons,
        [
            Some(SkipReason::LogGroupMissing),
            Some(SkipReason::BucketMissing)
        ],
        "{outcomes:?}"
    );
}
