//! Passes and applies on the in-memory fake AWS, for what moto does not emulate: account-policy
//! mode (moto answers PutAccountPolicy and DescribeAccountPolicies with a 500): switching a
//! region to one account policy and back, a foreign policy holding the region's one slot, the
//! IAM policy covering the calls, a filter delete that waits for the policy that replaces it;
//! and Lambda refusing policy changes while a function is being updated. On tokio's paused
//! clock: the fake's quota waits and the retries' backoff cost no wall time.

use std::collections::BTreeSet;

use autosub_aws::factory::{AwsSettings, ClientFactory};
use autosub_config::Config;
use autosub_core::account_policy::{AccountPolicy, AccountSelection};
use autosub_core::plan::{Action, Change, ChangeReason, Plan, PlanPolicy, SkipReason, Trigger};
use autosub_core::{AccountId, LogGroupName, Region};
use autosub_engine::lease::Leases;
use autosub_engine::ledger;
use autosub_engine::pass::{Mode, Progress};
use autosub_engine::reconcile::{self, RunCx, RunReport};
use autosub_ops::doctor::{DoctorCx, Net, Status, SystemResolver, TcpDialer, account_checks};
use autosub_ops::iam;
use autosub_testkit::fake::{
    FAKE_ENDPOINT, FakeAccountPolicy, FakeAws, FakeConfig, FakeFilter, FleetShape,
    only_served_services,
};
use autosub_triggers::{Outcome, apply};
use tokio_util::sync::CancellationToken;

use crate::e2e::granted_actions;
use crate::e2e::tempdir::Dir;

const ACCOUNT: &str = "111111111111";
const REGION: &str = "us-east-1";
const FORWARDER: &str = "arn:aws:lambda:us-east-1:111111111111:function:datadog-forwarder";

struct Quiet;

impl Progress for Quiet {
    fn step(&self, _: &autosub_engine::pass::Target, _: &str) {}
}

/// Ten functions (`app-000`'s group has both slots foreign, `app-001`'s one) and three quiet
/// log groups; no buckets.
fn fake() -> FakeAws {
    let fake = FakeAws::new(FakeConfig {
        latency: std::time::Duration::ZERO,
        ..FakeConfig::default()
    });
    fake.seed_fleet(&FleetShape {
        buckets_per_target: 0,
        quiet_log_groups: 3,
        ..FleetShape::default()
    });
    fake
}

pub(crate) fn factory(fake: &FakeAws) -> ClientFactory {
    ClientFactory::from_sdk_config(
        fake.sdk_config(ACCOUNT, REGION),
        AwsSettings {
            endpoint_url: Some(FAKE_ENDPOINT.to_owned()),
            region: Some(Region::new(REGION)),
            ..AwsSettings::default()
        },
    )
}

/// Lambda and S3 access logs only (what the fake serves), a file ledger in `dir`, and
/// account-policy mode when `account_mode`.
fn config(dir: &std::path::Path, account_mode: bool) -> Config {
    let mut text = format!(
        "[aws]\naccount_id = \"{ACCOUNT}\"\nregions = [\"{REGION}\"]\n[forwarders]\n{REGION} = \"datadog-forwarder\"\n[ledger]\nlocation = \"{}\"\n[exclude]\nlog_groups = [\"/app/quiet-00001\"]\n[account_policy]\nenabled = {account_mode}\n",
        dir.join("ledger.json").display()
    );
    text.push_str(&only_served_services());
    Config::parse(&text, "account-policy.toml").unwrap()
}

async fn reconcile(fake: &FakeAws, config: &Config, now: u64) -> RunReport {
    let report = run(fake, config, now).await;
    assert_eq!(
        report.passes[0].failures(),
        0,
        "{:?}",
        report.passes[0].outcomes
    );
    report
}

/// One `reconcile` run, whatever its failures.
async fn run(fake: &FakeAws, config: &Config, now: u64) -> RunReport {
    let factory = factory(fake);
    let store = ledger::open(
        config,
        std::path::Path::new("."),
        &factory,
        &Region::new(REGION),
    );
    let leases = Leases::local();
    let cx = RunCx {
        factory: &factory,
        config,
        ledger: store.as_ref(),
        leases: &leases,
        mode: Mode::Apply,
        stale_passes_before_delete: 1,
        progress: &Quiet,
        now,
        full_audit: false,
        targeting: Default::default(),
    };
    reconcile::run(&cx, &CancellationToken::new())
        .await
        .unwrap()
}

/// Our account-wide s3 statement on the forwarder, and the change that creates it.
fn s3_permission_create() -> (autosub_core::InvokePermission, Change) {
    let permission = autosub_core::InvokePermission::account_wide(
        "autosub-",
        autosub_core::Invoker::S3,
        &AccountId::new(ACCOUNT),
        &Region::new(REGION),
    );
    let create = Change {
        action: Action::Create,
        trigger: Trigger::InvokePermission {
            forwarder: autosub_core::FunctionArn::parse(FORWARDER).unwrap(),
            permission: permission.clone(),
        },
        reason: ChangeReason::NoSource,
        after: None,
    };
    (permission, create)
}

/// Applies `plan` on `fake` as a pass would, with the plan policy of the test config.
async fn apply_on(fake: &FakeAws, plan: &Plan) -> Vec<autosub_triggers::ChangeOutcome> {
    let apis = factory(fake).apis(&AccountId::new(ACCOUNT), &Region::new(REGION));
    let policy: PlanPolicy = autosub_engine::pass::plan_policy(
        &config(std::path::Path::new("."), false),
        &AccountId::new(ACCOUNT),
        1,
    );
    apply(&apis, plan, &policy, &CancellationToken::new()).await
}

/// `action kind resource` of each change of the run's pass.
fn changes(report: &RunReport) -> Vec<String> {
    report.passes[0]
        .plan
        .changes
        .iter()
        .map(|c| format!("{} {} {}", c.action, c.trigger.kind(), c.trigger.resource()))
        .collect()
}

/// The log groups holding our filter.
fn ours(fake: &FakeAws) -> Vec<String> {
    (0..10)
        .map(|i| format!("/aws/lambda/app-{i:03}"))
        .filter(|g| {
            fake.filters(ACCOUNT, REGION, g)
                .unwrap()
                .iter()
                .any(|f| f.name == "autosub")
        })
        .collect()
}

fn foreign_filters(fake: &FakeAws) -> usize {
    (0..10)
        .map(|i| {
            let group = format!("/aws/lambda/app-{i:03}");
            let filters = fake.filters(ACCOUNT, REGION, &group).unwrap();
            filters.iter().filter(|f| f.name != "autosub").count()
        })
        .sum()
}

#[tokio::test(start_paused = true)]
async fn a_region_moves_to_one_account_policy_and_back_without_touching_foreign_filters() {
    let fake = fake();
    let dir = Dir::new();
    let foreign = foreign_filters(&fake);

    // Per-group filters first: nine groups (app-000 has no free slot).
    reconcile(&fake, &config(&dir.0, false), 1_000).await;
    assert_eq!(ours(&fake).len(), 9);

    // Account-policy mode: the policy goes in, then the nine filters it makes redundant go.
    let on = config(&dir.0, true);
    let report = reconcile(&fake, &on, 2_000).await;
    let planned = changes(&report);
    assert_eq!(planned[0], "create account-policy account-policy:autosub");
    assert_eq!(planned.len(), 10, "{planned:?}");
    assert!(ours(&fake).is_empty(), "{:?}", ours(&fake));
    assert_eq!(
        foreign_filters(&fake),
        foreign,
        "foreign filters are untouched"
    );
    let policies = fake.account_policies(ACCOUNT, REGION);
    assert_eq!(policies.len(), 1);
    let policy = AccountPolicy::parse(
        &policies[0].name,
        &policies[0].document,
        policies[0].selection_criteria.as_deref(),
    );
    assert_eq!(policy.destination_arn, FORWARDER);
    let excluded: BTreeSet<LogGroupName> = ["/aws/lambda/datadog-forwarder", "/app/quiet-00001"]
        .into_iter()
        .map(LogGroupName::new)
        .collect();
    assert_eq!(policy.selection, AccountSelection::AllBut(excluded));

    // Idle: nothing to change, and every call made is granted by the generated IAM policy.
    let before = fake.stats();
    let idle = reconcile(&fake, &on, 3_000).await;
    assert_eq!(changes(&idle), Vec::<String>::new());
    let granted = granted_actions(&iam::policy(&on, false));
    let called: BTreeSet<String> = fake
        .stats()
        .into_iter()
        .filter(|(k, s)| before.get(k).map_or(0, |b| b.requests) < s.requests)
        .map(|(k, _)| k.api.to_owned())
        .collect();
    assert!(
        called.contains("logs:DescribeAccountPolicies"),
        "{called:?}"
    );
    for api in &called {
        // The fake names S3's ListBuckets and GetBucketNotificationConfiguration by their API;
        // IAM by their actions, which the e2e test against moto checks.
        if api.starts_with("logs:") {
            assert!(granted.contains(api), "{api} called but not granted");
        }
    }

    // Back to per-group filters: they are put before the policy is deleted.
    let report = reconcile(&fake, &config(&dir.0, false), 4_000).await;
    let planned = changes(&report);
    assert_eq!(
        planned.last().map(String::as_str),
        Some("delete account-policy account-policy:autosub")
    );
    assert_eq!(ours(&fake).len(), 9);
    assert!(fake.account_policies(ACCOUNT, REGION).is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_foreign_account_policy_keeps_the_slot_and_groups_get_their_own_filters() {
    let fake = fake();
    let siem = FakeAccountPolicy {
        name: "siem".into(),
        document: r#"{"DestinationArn":"arn:aws:kinesis:us-east-1:111111111111:stream/siem","FilterPattern":""}"#.into(),
        selection_criteria: None,
    };
    fake.add_account_policy(ACCOUNT, REGION, siem.clone());
    let dir = Dir::new();
    let report = reconcile(&fake, &config(&dir.0, true), 1_000).await;
    let taken = report.passes[0]
        .plan
        .skips
        .iter()
        .find(|s| s.reason == SkipReason::AccountPolicyTaken)
        .expect("the taken slot is reported");
    assert!(taken.detail.contains("\"siem\""), "{}", taken.detail);
    assert_eq!(ours(&fake).len(), 9);
    assert_eq!(fake.account_policies(ACCOUNT, REGION), vec![siem]);
}

#[tokio::test(start_paused = true)]
async fn in_per_group_mode_a_policy_to_the_forwarder_replaces_our_filters_and_one_elsewhere_is_reported()
 {
    let dir = Dir::new();
    let per_group = config(&dir.0, false);

    // Datadog's own policy to the forwarder (it forgot the forwarder's group): our filters on
    // the groups it delivers would send every event twice, so they go; app-002, which it
    // excludes, keeps ours.
    let fake = fake();
    let foreign = foreign_filters(&fake);
    reconcile(&fake, &per_group, 1_000).await;
    assert_eq!(ours(&fake).len(), 9);
    let datadog = FakeAccountPolicy {
        name: "datadog".into(),
        document: format!(r#"{{"DestinationArn":"{FORWARDER}","FilterPattern":""}}"#),
        selection_criteria: Some(r#"LogGroupName NOT IN ["/aws/lambda/app-002"]"#.into()),
    };
    fake.add_account_policy(ACCOUNT, REGION, datadog.clone());
    let report = reconcile(&fake, &per_group, 2_000).await;
    assert_eq!(ours(&fake), ["/aws/lambda/app-002"]);
    assert_eq!(
        foreign_filters(&fake),
        foreign,
        "foreign filters are untouched"
    );
    assert_eq!(fake.account_policies(ACCOUNT, REGION), vec![datadog]);
    let deleted = report.passes[0]
        .plan
        .changes
        .iter()
        .find(|c| c.action == Action::Delete);
    assert!(
        deleted.is_some_and(|c| c
            .reason
            .to_string()
            .contains("account policy \"datadog\" delivers")),
        "{deleted:?}"
    );
    let looping = report.passes[0]
        .plan
        .skips
        .iter()
        .find(|s| s.subject == "account-policy:datadog")
        .expect("the policy's recursion loop is reported");
    assert_eq!(looping.reason, SkipReason::LoopGuard);
    assert!(looping.detail.contains("/aws/lambda/datadog-forwarder"));
    // Idle: still none of ours on the covered groups.
    let idle = reconcile(&fake, &per_group, 3_000).await;
    assert_eq!(changes(&idle), Vec::<String>::new());

    // A policy to a Kinesis stream takes no filter slot: every group gets ours, and the report
    // says the policy is there.
    let fake = self::fake();
    let siem = "arn:aws:kinesis:us-east-1:111111111111:stream/siem";
    fake.add_account_policy(
        ACCOUNT,
        REGION,
        FakeAccountPolicy {
            name: "siem".into(),
            document: format!(r#"{{"DestinationArn":"{siem}","FilterPattern":""}}"#),
            selection_criteria: None,
        },
    );
    let dir = Dir::new();
    let report = reconcile(&fake, &config(&dir.0, false), 1_000).await;
    assert_eq!(ours(&fake).len(), 9);
    let reported = report.passes[0]
        .plan
        .skips
        .iter()
        .find(|s| s.reason == SkipReason::ForeignAccountPolicy)
        .expect("the policy elsewhere is reported");
    assert!(reported.detail.contains(siem), "{}", reported.detail);
}

#[tokio::test(start_paused = true)]
async fn a_filter_delete_waits_for_the_account_policy_that_replaces_it() {
    let fake = fake();
    let group = "/aws/lambda/app-005";
    let forwarder_filter = FakeFilter {
        name: "autosub".into(),
        pattern: String::new(),
        destination_arn: FORWARDER.into(),
    };
    assert!(fake.add_filter(ACCOUNT, REGION, group, forwarder_filter));
    // Someone takes the region's one slot between the plan and the apply.
    fake.add_account_policy(
        ACCOUNT,
        REGION,
        FakeAccountPolicy {
            name: "late".into(),
            document: "{}".into(),
            selection_criteria: None,
        },
    );
    let policy = AccountPolicy {
        name: "autosub".into(),
        destination_arn: FORWARDER.into(),
        pattern: String::new(),
        selection: AccountSelection::AllBut(BTreeSet::new()),
    };
    let plan = Plan {
        changes: vec![
            Change {
                action: Action::Create,
                trigger: Trigger::AccountPolicy { policy },
                reason: ChangeReason::NoSource,
                after: None,
            },
            Change {
                action: Action::Delete,
                trigger: Trigger::SubscriptionFilter {
                    log_group: LogGroupName::new(group),
                    filter_name: "autosub".into(),
                    pattern: String::new(),
                    destination: FORWARDER.into(),
                },
                reason: ChangeReason::NoSource,
                after: Some("account-policy:autosub".into()),
            },
        ],
        ..Plan::default()
    };
    let outcomes = apply_on(&fake, &plan).await;
    let skipped = |o: &autosub_triggers::ChangeOutcome| match &o.outcome {
        Outcome::Skipped { reason, .. } => Some(*reason),
        _ => None,
    };
    assert_eq!(skipped(&outcomes[0]), Some(SkipReason::AccountPolicyTaken));
    assert_eq!(skipped(&outcomes[1]), Some(SkipReason::DependencyFailed));
    assert_eq!(ours(&fake), [group], "the filter still delivers");
}

#[tokio::test(start_paused = true)]
async fn the_doctor_says_whether_the_region_s_policy_slot_is_usable() {
    let fake = fake();
    let factory = factory(&fake);
    let config = config(std::path::Path::new("."), true);
    let (resolver, dialer) = (SystemResolver::default(), TcpDialer::default());
    let cx = DoctorCx {
        config: &config,
        factory: &factory,
        net: Net {
            resolver: &resolver,
            dialer: &dialer,
        },
        api_key: Ok(None),
    };
    let check = |checks: Vec<autosub_ops::doctor::Check>| {
        checks
            .into_iter()
            .find(|c| c.name == format!("account policy {REGION}"))
            .expect("an account policy check")
    };
    let free = check(account_checks(&cx).await.0);
    assert_eq!(free.status, Status::Pass, "{free:?}");
    fake.add_account_policy(
        ACCOUNT,
        REGION,
        FakeAccountPolicy {
            name: "siem".into(),
            document: r#"{"DestinationArn":"arn:aws:kinesis:us-east-1:111111111111:stream/siem"}"#
                .into(),
            selection_criteria: None,
        },
    );
    let taken = check(account_checks(&cx).await.0);
    assert_eq!(taken.status, Status::Warn, "{taken:?}");
    assert!(taken.detail.contains("\"siem\""), "{}", taken.detail);
}

/// Lambda refuses policy changes while a function is being updated ("an update is in
/// progress", a ResourceConflictException like a taken statement id): autosub waits and tries
/// again, and when the function stays busy the change fails instead of counting as applied.
#[tokio::test(start_paused = true)]
async fn a_permission_change_during_a_function_update_is_retried_never_counted_as_done() {
    let fake = fake();
    let (permission, create) = s3_permission_create();
    let plan = Plan {
        changes: vec![create],
        ..Plan::default()
    };
    let sids = |fake: &FakeAws| -> Vec<String> {
        let policy = fake.policy(ACCOUNT, REGION, "datadog-forwarder").unwrap();
        policy["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["Sid"].as_str().unwrap().to_owned())
            .collect()
    };

    fake.busy_function(ACCOUNT, REGION, "datadog-forwarder", 2);
    let outcomes = apply_on(&fake, &plan).await;
    assert_eq!(outcomes[0].outcome, Outcome::Applied, "{:?}", outcomes[0]);
    assert!(sids(&fake).contains(&permission.statement_id));

    let fake = fake_with_busy_forwarder(100);
    let outcomes = apply_on(&fake, &plan).await;
    assert!(
        matches!(&outcomes[0].outcome, Outcome::Failed { error, .. } if error.contains("in progress")),
        "{:?}",
        outcomes[0]
    );
    assert!(!sids(&fake).contains(&permission.statement_id));
}

fn fake_with_busy_forwarder(times: u32) -> FakeAws {
    let fake = fake();
    fake.busy_function(ACCOUNT, REGION, "datadog-forwarder", times);
    fake
}

/// A ledger that cannot be read fails the target: no pass, no write, the document untouched
/// (before, the pass ran from an empty ledger and its save replaced every other target's
/// record).
#[tokio::test(start_paused = true)]
async fn an_unreadable_ledger_fails_the_target_and_is_left_as_it_was() {
    let fake = fake();
    let dir = Dir::new();
    let path = dir.0.join("ledger.json");
    let corrupt = r#"{"version": 1, "targets": {"222222222222/us-east-1": "#;
    std::fs::write(&path, corrupt).unwrap();
    let report = run(&fake, &config(&dir.0, false), 1_000).await;
    assert!(report.passes.is_empty(), "no pass ran");
    assert_eq!(report.failures.len(), 1, "{:?}", report.failures);
    assert_eq!(report.failures[0].reason.as_str(), "ledger");
    assert!(report.failures[0].message.contains("fix or remove it"));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), corrupt);
    assert!(ours(&fake).is_empty(), "nothing was written to AWS either");
}

/// S3 validates every destination of a bucket on each write: a foreign one that broke (its
/// function deleted) blocks our write. That is a skip naming it, not a failure every pass.
#[tokio::test(start_paused = true)]
async fn a_broken_foreign_destination_is_a_skip_that_names_it() {
    let fake = fake();
    let bucket = "fleet-logs-broken";
    fake.add_bucket(ACCOUNT, REGION, bucket);
    let gone = "arn:aws:lambda:us-east-1:111111111111:function:deleted-team-fn";
    let xml = format!(
        r#"<NotificationConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><CloudFunctionConfiguration><Id>team</Id><CloudFunction>{gone}</CloudFunction><Event>s3:ObjectCreated:*</Event><Filter><S3Key><FilterRule><Name>prefix</Name><Value>team/</Value></FilterRule></S3Key></Filter></CloudFunctionConfiguration></NotificationConfiguration>"#
    );
    assert!(fake.set_notification_xml(bucket, &xml));
    let outcomes = apply_on(&fake, &bucket_plan(bucket)).await;
    assert_eq!(outcomes[0].outcome, Outcome::Applied);
    match &outcomes[1].outcome {
        Outcome::Skipped { reason, detail } => {
            assert_eq!(*reason, SkipReason::DestinationInvalid);
            assert!(detail.contains(gone), "{detail}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        fake.notification_xml(bucket).as_deref(),
        Some(xml.as_str()),
        "nothing written"
    );
}

/// The plan that subscribes `bucket`'s `logs/` prefix (with the s3 statement it needs).
fn bucket_plan(bucket: &str) -> Plan {
    Plan {
        changes: vec![
            s3_permission_create().1,
            Change {
                action: Action::Create,
                trigger: Trigger::S3Notification {
                    bucket: autosub_core::BucketName::new(bucket),
                    region: Region::new(REGION),
                    id: "autosub-logs/".into(),
                    prefix: "logs/".into(),
                    destination: FORWARDER.into(),
                },
                reason: ChangeReason::NoSource,
                after: None,
            },
        ],
        ..Plan::default()
    }
}

/// A configuration holding queue entries `ids` (another team's), as that writer would put it.
fn queues_xml(ids: &[&str]) -> String {
    let entries: String = ids
        .iter()
        .map(|id| format!("<QueueConfiguration><Id>{id}</Id><Queue>arn:aws:sqs:us-east-1:111111111111:{id}</Queue><Event>s3:ObjectCreated:*</Event><Filter><S3Key><FilterRule><Name>prefix</Name><Value>{id}/</Value></FilterRule></S3Key></Filter></QueueConfiguration>"))
        .collect();
    format!(
        r#"<NotificationConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">{entries}</NotificationConfiguration>"#
    )
}

#[tokio::test(start_paused = true)]
async fn a_writer_that_overtakes_ours_loses_nothing_and_we_merge_again_a_bounded_number_of_times() {
    // Another team's tool writes its new queue entry right after our write, from a read made
    // before it: our entry is gone from the read-back. Merged again, both stay.
    let fake = fake();
    let bucket = "team-logs";
    fake.add_bucket(ACCOUNT, REGION, bucket);
    assert!(fake.set_notification_xml(bucket, &queues_xml(&["billing"])));
    fake.overtake_notification_writes(bucket, vec![queues_xml(&["billing", "audit"])]);
    let outcomes = apply_on(&fake, &bucket_plan(bucket)).await;
    assert_eq!(outcomes[1].outcome, Outcome::Applied);
    let xml = fake.notification_xml(bucket).unwrap();
    for id in [
        "<Id>billing</Id>",
        "<Id>audit</Id>",
        "<Id>autosub-logs/</Id>",
    ] {
        assert!(xml.contains(id), "{id} in {xml}");
    }

    // A writer that overtakes every write: after three writes, a failure that says so, and
    // the writer's configuration is left as it wrote it.
    let fake = self::fake();
    fake.add_bucket(ACCOUNT, REGION, bucket);
    let theirs: Vec<String> = (1..=5)
        .map(|n| queues_xml(&["billing", &format!("audit-{n}")]))
        .collect();
    fake.overtake_notification_writes(bucket, theirs.clone());
    let puts = |fake: &FakeAws| {
        fake.stats()
            .iter()
            .filter(|(k, _)| k.api == "s3:PutBucketNotificationConfiguration")
            .map(|(_, s)| s.requests)
            .sum::<u64>()
    };
    let outcomes = apply_on(&fake, &bucket_plan(bucket)).await;
    match &outcomes[1].outcome {
        Outcome::Failed { class, error } => {
            assert_eq!(class, "conflict");
            assert!(error.contains("another writer kept changing"), "{error}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        puts(&fake),
        autosub_triggers::apply::BUCKET_WRITE_ROUNDS as u64
    );
    let left = fake.notification_xml(bucket).unwrap();
    assert_eq!(
        left,
        theirs[autosub_triggers::apply::BUCKET_WRITE_ROUNDS - 1]
    );
}

#[tokio::test(start_paused = true)]
async fn a_write_that_is_not_visible_yet_is_awaited_not_written_again() {
    let fake = fake();
    let bucket = "slow-logs";
    fake.add_bucket(ACCOUNT, REGION, bucket);
    assert!(fake.set_notification_xml(bucket, &queues_xml(&["billing"])));
    fake.delay_notification_visibility(bucket, 2);
    let outcomes = apply_on(&fake, &bucket_plan(bucket)).await;
    assert_eq!(outcomes[1].outcome, Outcome::Applied);
    let calls = |api: &str| {
        fake.stats()
            .iter()
            .filter(|(k, _)| k.api == api)
            .map(|(_, s)| s.requests)
            .sum::<u64>()
    };
    assert_eq!(calls("s3:PutBucketNotificationConfiguration"), 1);
    // The read before the write, two stale read-backs, and the one that shows it.
    assert_eq!(calls("s3:GetBucketNotificationConfiguration"), 4);
    let xml = fake.notification_xml(bucket).unwrap();
    assert!(xml.contains("<Id>billing</Id>") && xml.contains("<Id>autosub-logs/</Id>"));
}

#[tokio::test(start_paused = true)]
async fn a_log_bucket_of_another_account_is_a_skip_never_a_read_or_write() {
    let fake = fake();
    let central = "555555555555";
    fake.add_bucket(ACCOUNT, REGION, "app-data");
    fake.add_bucket(central, REGION, "central-logs");
    assert!(fake.set_bucket_logging("app-data", "central-logs", "app-data/"));
    let dir = Dir::new();
    let report = reconcile(&fake, &config(&dir.0, false), 1_000).await;
    let skip = report.passes[0]
        .plan
        .skips
        .iter()
        .find(|s| s.reason == SkipReason::BucketOtherAccount)
        .expect("the other account's bucket is reported");
    assert!(skip.subject.contains("central-logs"), "{}", skip.subject);
    assert!(skip.detail.contains("another account owns the bucket"));
    assert_eq!(fake.notification_xml("central-logs"), None);
    let puts = fake.stats_of(ACCOUNT, REGION, "s3:PutBucketNotificationConfiguration");
    assert_eq!(puts.requests, 0, "no bucket was written");
}

/// Faults: the fake AWS answers 30 % of the calls it accepts with its throttling error and 10 %
/// with a 500, on every API (as a busy account would, whatever autosub's own pacing). The estate still converges within three passes,
/// and every foreign filter and the foreign queue notification survive. An account of its own:
/// the SDK's retry tokens are per (service, account, region) and process-wide.
#[tokio::test(start_paused = true)]
async fn under_throttling_and_server_errors_the_estate_converges_and_keeps_everything_foreign() {
    const FAULTY: &str = "444444444444";
    let fake = FakeAws::new(FakeConfig {
        throttle_rate: 0.3,
        server_error_rate: 0.1,
        ..FakeConfig::default()
    });
    fake.seed_fleet(&FleetShape {
        accounts: vec![FAULTY.to_owned()],
        functions_per_target: 30,
        buckets_per_target: 6,
        ..FleetShape::default()
    });
    let group = |i: usize| format!("/aws/lambda/app-{i:03}");
    let foreign_before: Vec<Vec<FakeFilter>> = (0..2)
        .map(|i| fake.filters(FAULTY, REGION, &group(i)).unwrap())
        .collect();
    let log_bucket = format!("fleet-{FAULTY}-{REGION}-logs");
    let factory = ClientFactory::from_sdk_config(
        fake.sdk_config(FAULTY, REGION),
        AwsSettings {
            endpoint_url: Some(FAKE_ENDPOINT.to_owned()),
            region: Some(Region::new(REGION)),
            ..AwsSettings::default()
        },
    );
    let dir = Dir::new();
    let text = format!(
        "[aws]\naccount_id = \"{FAULTY}\"\nregions = [\"{REGION}\"]\n[forwarders]\n{REGION} = \"datadog-forwarder\"\n[ledger]\nlocation = \"{}\"\n{}",
        dir.0.join("ledger.json").display(),
        only_served_services()
    );
    let config = Config::parse(&text, "faults.toml").unwrap();
    let store = ledger::open(&config, &dir.0, &factory, &Region::new(REGION));
    let leases = Leases::local();
    let mut converged_after = None;
    for pass in 1..=3u64 {
        let cx = RunCx {
            factory: &factory,
            config: &config,
            ledger: store.as_ref(),
            leases: &leases,
            mode: Mode::Apply,
            stale_passes_before_delete: 1,
            progress: &Quiet,
            now: 1_000 * pass,
            full_audit: true,
            targeting: Default::default(),
        };
        let report = reconcile::run(&cx, &CancellationToken::new())
            .await
            .unwrap();
        let clean = report.failures.is_empty()
            && report
                .passes
                .iter()
                .all(|p| p.plan.changes.is_empty() && p.discovery.gaps.is_empty());
        if clean {
            converged_after = Some(pass - 1);
            break;
        }
    }
    let stats = fake.stats();
    let throttled: u64 = stats.values().map(|s| s.throttled).sum();
    let errors: u64 = stats.values().map(|s| s.server_errors).sum();
    assert!(
        throttled > 0 && errors > 0,
        "faults were injected: {throttled} throttled, {errors} 500s"
    );
    let converged = converged_after.expect("a clean pass (nothing to change) within three");
    let requests: u64 = stats.values().map(|s| s.requests).sum();
    eprintln!(
        "faults: {requests} requests, {throttled} throttled, {errors} answered 500; converged after {converged} pass(es)"
    );
    assert!(converged <= 2, "converged after {converged} passes");
    // Our filters everywhere there was a free slot, the foreign ones untouched.
    for i in 2..30 {
        let filters = fake.filters(FAULTY, REGION, &group(i)).unwrap();
        assert!(filters.iter().any(|f| f.name == "autosub"), "{}", group(i));
    }
    for (i, before) in foreign_before.iter().enumerate() {
        let after = fake.filters(FAULTY, REGION, &group(i)).unwrap();
        for f in before {
            assert!(after.contains(f), "{f:?} of {} lost", group(i));
        }
    }
    let xml = fake.notification_xml(&log_bucket).unwrap();
    assert!(
        xml.contains(autosub_testkit::fake::FOREIGN_QUEUE_ID),
        "{xml}"
    );
}

/// The caller's identity under heavy throttling: waited out with the other calls' retries,
/// never a failed run (it used to fail the whole run on the first throttle).
#[tokio::test(start_paused = true)]
async fn a_throttled_get_caller_identity_is_waited_out() {
    let fake = FakeAws::new(FakeConfig {
        latency: std::time::Duration::ZERO,
        throttle_rate: 0.5,
        ..FakeConfig::default()
    });
    let factory = factory(&fake);
    for _ in 0..20 {
        let account = factory
            .caller_account()
            .await
            .expect("throttling only slows it");
        assert_eq!(account.as_str(), ACCOUNT);
    }
    assert!(
        fake.total_throttles() >= 10,
        "{} throttles",
        fake.total_throttles()
    );
}
