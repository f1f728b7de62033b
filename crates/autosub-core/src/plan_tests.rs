//! The planner against the domain rules (design §4): case tables, snapshots of the renderings,
//! and the invariants (ownership, no deletes on gaps, idempotence, determinism, loop guards) as
//! properties over small random estates.

use std::collections::{BTreeMap, BTreeSet};

use proptest::collection::vec;
use proptest::prelude::*;

use crate::account_policy::{AccountPolicies, AccountPolicy, AccountSelection};
use crate::desired::{Desired, Routing, Selection, desire};
use crate::ids::{AccountId, BucketName, FunctionArn, LogGroupName, Region};
use crate::notification::{
    DestinationKind, FilterRule, NotificationConfig, NotificationEntry, OBJECT_CREATED_ALL, is_ours,
};
use crate::observed::{
    BucketState, LogGroupClass, LogGroupState, Observed, PolicyState, PolicyStatement,
    SubscriptionFilter,
};
use crate::permission::{InvokePermission, Invoker};
use crate::plan::rewrite_notifications;
use crate::plan::{Action, Change, ChangeReason, Plan, PlanPolicy, SkipReason, Trigger, plan};
use crate::policy_routing;
use crate::render;
use crate::source::{Discovery, Gap, Location, LogSource, Service};

// ---------------------------------------------------------------------------------------------
// Builders
// ---------------------------------------------------------------------------------------------

const ACCOUNT: &str = "111122223333";
const OTHER_ACCOUNT: &str = "444455556666";
const HOME: &str = "us-east-1";
const EU: &str = "eu-west-1";
const OUR_FILTER: &str = "autosub";
const DD_FILTER: &str = "DD_LOG_SUBSCRIPTION_FILTER_api";
const KINESIS: &str = "arn:aws:kinesis:us-east-1:111122223333:stream/siem";
const QUEUE: &str = "arn:aws:sqs:us-east-1:111122223333:audit";
const TOPIC: &str = "arn:aws:sns:us-east-1:111122223333:uploads";

/// The Datadog forwarder of `region`.
fn fwd(region: &str) -> FunctionArn {
    FunctionArn::from_parts(
        &AccountId::new(ACCOUNT),
        &Region::new(region),
        "datadog-forwarder",
    )
}

/// Some other function of the home region.
fn lambda(name: &str) -> String {
    format!("arn:aws:lambda:{HOME}:{ACCOUNT}:function:{name}")
}

fn group(function: &str) -> String {
    format!("/aws/lambda/{function}")
}

/// Our subscription filter on `group` delivering to `destination`, as a trigger.
fn filter_trigger(group: &str, destination: &str) -> Trigger {
    Trigger::SubscriptionFilter {
        log_group: LogGroupName::new(group),
        filter_name: OUR_FILTER.into(),
        pattern: String::new(),
        destination: destination.into(),
    }
}

/// The policy of every test of the planner and the audit.
pub(crate) fn policy() -> PlanPolicy {
    PlanPolicy {
        account: AccountId::new(ACCOUNT),
        notification_id_prefix: "autosub-".into(),
        filter_name: OUR_FILTER.into(),
        filter_pattern: String::new(),
        statement_id_prefix: "autosub-".into(),
        max_filters_per_log_group: 2,
        max_deletes_per_pass: 10,
        stale_passes_before_delete: 1,
        protect: Vec::new(),
    }
}

fn filter(name: &str, destination: &str) -> SubscriptionFilter {
    SubscriptionFilter {
        name: name.into(),
        destination_arn: destination.into(),
        pattern: String::new(),
    }
}

fn ours(destination: &str) -> SubscriptionFilter {
    filter(OUR_FILTER, destination)
}

fn entry(kind: DestinationKind, id: &str, arn: &str, prefix: &str) -> NotificationEntry {
    NotificationEntry {
        id: Some(id.into()),
        kind,
        arn: arn.into(),
        events: vec![OBJECT_CREATED_ALL.into()],
        filter_rules: if prefix.is_empty() {
            Vec::new()
        } else {
            // Real S3 answers with a capitalised rule name.
            vec![FilterRule {
                name: "Prefix".into(),
                value: prefix.into(),
            }]
        },
    }
}

fn lambda_entry(id: &str, arn: &str, prefix: &str) -> NotificationEntry {
    entry(DestinationKind::Lambda, id, arn, prefix)
}

fn queue_entry(id: &str, prefix: &str) -> NotificationEntry {
    entry(DestinationKind::Queue, id, QUEUE, prefix)
}

/// The statement autosub's apply adds for `permission`.
fn statement_of(permission: &InvokePermission) -> PolicyStatement {
    PolicyStatement {
        sid: permission.statement_id.clone(),
        allow: true,
        principals: vec![permission.invoker.principal().into()],
        actions: vec!["lambda:InvokeFunction".into()],
        source_accounts: vec![permission.source_account.to_string()],
        source_arns: permission.source_arn.iter().cloned().collect(),
        other_conditions: Vec::new(),
    }
}

fn our_permission(invoker: Invoker, region: &str) -> InvokePermission {
    InvokePermission::account_wide(
        &policy().statement_id_prefix,
        invoker,
        &AccountId::new(ACCOUNT),
        &Region::new(region),
    )
}

fn our_statement(invoker: Invoker, region: &str) -> PolicyStatement {
    statement_of(&our_permission(invoker, region))
}

/// `statement` under the id `sid`.
fn with_sid(statement: &PolicyStatement, sid: &str) -> PolicyStatement {
    PolicyStatement {
        sid: sid.to_owned(),
        ..statement.clone()
    }
}

/// The logs statement of the Datadog forwarder template (SourceArn `…:log-group:*:*`).
fn template_logs(region: &str) -> PolicyStatement {
    PolicyStatement {
        sid: "datadog-logs".into(),
        allow: true,
        principals: vec![Invoker::Logs.principal().into()],
        actions: vec!["lambda:InvokeFunction".into()],
        source_accounts: Vec::new(),
        source_arns: vec![format!("arn:aws:logs:{region}:{ACCOUNT}:log-group:*:*")],
        other_conditions: Vec::new(),
    }
}

/// The S3 statement of the Datadog forwarder template (SourceAccount only).
fn template_s3() -> PolicyStatement {
    PolicyStatement {
        sid: "datadog-s3".into(),
        allow: true,
        principals: vec![Invoker::S3.principal().into()],
        actions: vec!["lambda:InvokeFunction".into()],
        source_accounts: vec![ACCOUNT.into()],
        source_arns: Vec::new(),
        other_conditions: Vec::new(),
    }
}

/// What discovery found, how it is configured and what exists: the input of one pass.
#[derive(Clone, Debug)]
struct Estate {
    discovery: Discovery,
    selection: Selection,
    routing: Routing,
    observed: Observed,
    policy: PlanPolicy,
    /// The region delivers its log groups through an account policy (`account_policy.enabled`).
    account_mode: bool,
}

impl Estate {
    /// A home-region forwarder whose policy is the Datadog template, and nothing else.
    fn new() -> Self {
        Self {
            discovery: Discovery::default(),
            selection: Selection::default(),
            routing: Routing {
                home_region: Region::new(HOME),
                ..Routing::default()
            },
            observed: Observed::default(),
            policy: policy(),
            account_mode: false,
        }
        .forwarder(HOME)
    }

    /// Makes `region` the region of the pass.
    fn home(mut self, region: &str) -> Self {
        self.routing.home_region = Region::new(region);
        self.routing.reconciled_regions.insert(Region::new(region));
        self
    }

    /// Declares that another pass reconciles `region`.
    fn reconcile(mut self, region: &str) -> Self {
        self.routing.reconciled_regions.insert(Region::new(region));
        self
    }

    /// Adds a usable forwarder in `region`, its policy the Datadog template.
    fn forwarder(mut self, region: &str) -> Self {
        self.routing
            .forwarders
            .insert(Region::new(region), fwd(region));
        self.statements(region, vec![template_logs(region), template_s3()])
    }

    /// Makes the forwarder of `region` unusable (and its policy unobserved).
    fn no_forwarder(mut self, region: &str) -> Self {
        self.routing.forwarders.remove(&Region::new(region));
        self.routing
            .unavailable
            .insert(Region::new(region), "the function does not exist".into());
        self.observed.policies.remove(&fwd(region));
        self
    }

    /// Sets the statements of the forwarder of `region`.
    fn statements(mut self, region: &str, statements: Vec<PolicyStatement>) -> Self {
        self.observed
            .policies
            .insert(fwd(region), PolicyState::Found { statements });
        self
    }

    fn policy_state(mut self, region: &str, state: PolicyState) -> Self {
        self.observed.policies.insert(fwd(region), state);
        self
    }

    /// A Lambda function of the home region, writing to `/aws/lambda/<name>`.
    fn function(mut self, name: &str) -> Self {
        self.discovery.sources.push(LogSource {
            service: Service::Lambda,
            resource_arn: lambda(name),
            location: Location::LogGroup {
                name: LogGroupName::new(group(name)),
            },
        });
        self
    }

    /// A bucket whose server access logs go to `bucket` under `prefix`.
    fn access_logs(mut self, bucket: &str, prefix: &str) -> Self {
        // The bucket whose access logs these are, named after where they land.
        let source = format!(
            "arn:aws:s3:::{bucket}-{}source",
            prefix.to_lowercase().replace('/', "-")
        );
        self.discovery.sources.push(LogSource {
            service: Service::S3AccessLogs,
            resource_arn: source,
            location: Location::S3 {
                bucket: BucketName::new(bucket),
                prefix: prefix.into(),
            },
        });
        self
    }

    /// A STANDARD log group with these filters.
    fn log_group(self, name: &str, filters: Vec<SubscriptionFilter>) -> Self {
        self.log_group_state(
            name,
            LogGroupState::Found {
                class: LogGroupClass::Standard,
                filters,
            },
        )
    }

    fn log_group_state(mut self, name: &str, state: LogGroupState) -> Self {
        self.observed
            .log_groups
            .insert(LogGroupName::new(name), state);
        self
    }

    /// A bucket in `region` with these notification entries; its region resolves.
    fn bucket(mut self, name: &str, region: &str, entries: Vec<NotificationEntry>) -> Self {
        self.routing
            .bucket_regions
            .insert(BucketName::new(name), Region::new(region));
        self.observed.buckets.insert(
            BucketName::new(name),
            BucketState::Found {
                region: Region::new(region),
                config: NotificationConfig {
                    entries,
                    event_bridge: false,
                },
            },
        );
        self
    }

    fn bucket_state(mut self, name: &str, region: &str, state: BucketState) -> Self {
        self.routing
            .bucket_regions
            .insert(BucketName::new(name), Region::new(region));
        self.observed.buckets.insert(BucketName::new(name), state);
        self
    }

    /// A Lambda discovery gap.
    fn gap(self, detail: &str) -> Self {
        self.gap_in(Service::Lambda, detail)
    }

    fn gap_in(mut self, service: Service, detail: &str) -> Self {
        self.discovery.gaps.push(Gap {
            service,
            detail: detail.into(),
        });
        self
    }

    /// The ledger records autosub creating `trigger` (before the forwarder changed, say).
    fn created(mut self, trigger: Trigger) -> Self {
        let change = Change {
            action: Action::Create,
            trigger,
            reason: ChangeReason::NoSource,
            after: None,
        };
        self.observed.ledger.record_applied(&change, 1);
        self
    }

    fn guard_log_group(mut self, name: &str) -> Self {
        self.selection
            .guarded_log_groups
            .insert(LogGroupName::new(name));
        self
    }

    fn exclude_log_groups(mut self, pattern: &str) -> Self {
        self.selection.exclude_log_groups.push(pattern.into());
        self
    }

    fn with(mut self, tweak: impl FnOnce(&mut PlanPolicy)) -> Self {
        tweak(&mut self.policy);
        self
    }

    /// Account-policy mode, with these policies observed in the region.
    fn account_mode(mut self, policies: AccountPolicies) -> Self {
        self.account_mode = true;
        self.observed.account_policies = policies;
        self
    }

    fn desired(&self) -> Desired {
        self.desired_of(&self.discovery.clone().normalize())
    }

    /// The desire of `discovery` in this estate, routed through the account policy in
    /// account-policy mode.
    fn desired_of(&self, discovery: &Discovery) -> Desired {
        let mut desired = desire(discovery, &self.selection, &self.routing);
        if self.account_mode
            && let Some(forwarder) = self.routing.forwarders.get(&self.routing.home_region)
        {
            let listed = self.observed.log_groups.keys().cloned().collect();
            let wanted = policy_routing::want(
                &self.policy.filter_name,
                forwarder,
                &self.policy.filter_pattern,
                &self.selection,
                &listed,
            );
            policy_routing::route(
                &mut desired,
                wanted,
                &self.observed.account_policies,
                &self.observed.ledger,
                &BTreeSet::new(),
            );
        }
        desired
    }

    fn plan(&self) -> Plan {
        plan(&self.desired(), &self.observed, &self.policy)
    }
}

/// One line per change (in plan order) and per skip, forwarder ARNs shortened to `fwd@<region>`.
fn summary(plan: &Plan) -> Vec<String> {
    let shorten = |s: String| {
        s.replace(&fwd(HOME).to_string(), &format!("fwd@{HOME}"))
            .replace(&fwd(EU).to_string(), &format!("fwd@{EU}"))
    };
    let changes = plan.changes.iter().map(|c| {
        shorten(format!(
            "{} {} -> {}",
            c.action,
            c.trigger.resource(),
            c.trigger.target()
        ))
    });
    let skips = plan
        .skips
        .iter()
        .map(|s| shorten(format!("skip {} {}", s.reason, s.subject)));
    changes.chain(skips).collect()
}

/// Runs a table of `(case name, estate, expected summary)`.
fn check(cases: Vec<(&str, Estate, Vec<&str>)>) {
    for (name, estate, want) in cases {
        let got = summary(&estate.plan());
        assert_eq!(got, want, "case {name:?}");
    }
}

/// The detail of the only skip with `reason`.
fn skip_detail(plan: &Plan, reason: SkipReason) -> String {
    let details: Vec<&str> = plan
        .skips
        .iter()
        .filter(|s| s.reason == reason)
        .map(|s| s.detail.as_str())
        .collect();
    assert_eq!(details.len(), 1, "one {reason} skip in {:#?}", plan.skips);
    details[0].to_owned()
}

// ---------------------------------------------------------------------------------------------
// Cases
// ---------------------------------------------------------------------------------------------

#[test]
fn subscription_filters() {
    let api = group("api");
    let api = api.as_str();
    let home = fwd(HOME).to_string();
    let home = home.as_str();
    let mut patterned = ours(home);
    patterned.pattern = "ERROR".into();
    check(vec![
        (
            "a new log group gets our filter",
            Estate::new().function("api").log_group(api, vec![]),
            vec!["create log-group:/aws/lambda/api -> fwd@us-east-1"],
        ),
        (
            "our filter in place: nothing to do",
            Estate::new()
                .function("api")
                .log_group(api, vec![ours(home)]),
            vec![],
        ),
        (
            "Datadog's own filter is adopted: it satisfies the desire and is left alone",
            Estate::new()
                .function("api")
                .log_group(api, vec![filter(DD_FILTER, home)]),
            vec![],
        ),
        (
            "a hand-made filter on a qualified forwarder ARN is adopted too",
            Estate::new()
                .function("api")
                .log_group(api, vec![filter("to-datadog", &format!("{home}:live"))]),
            vec![],
        ),
        (
            "ours next to an adopted filter is a duplicate: ours goes",
            Estate::new()
                .function("api")
                .log_group(api, vec![filter(DD_FILTER, home), ours(home)]),
            vec!["delete log-group:/aws/lambda/api -> fwd@us-east-1"],
        ),
        (
            "ours delivering to a former forwarder (per the ledger) is pointed at the forwarder",
            Estate::new()
                .function("api")
                .log_group(api, vec![ours(&lambda("old-forwarder"))])
                .created(filter_trigger(api, &lambda("old-forwarder"))),
            vec!["update log-group:/aws/lambda/api -> fwd@us-east-1"],
        ),
        (
            "a filter with our name delivering elsewhere is foreign: the name is taken",
            Estate::new()
                .function("api")
                .log_group(api, vec![ours(&lambda("other-team-forwarder"))]),
            vec!["skip name_taken log-group:/aws/lambda/api"],
        ),
        (
            "a foreign filter with our name is never deleted",
            Estate::new().log_group(api, vec![ours(KINESIS)]),
            vec![],
        ),
        (
            "ours with another pattern is updated",
            Estate::new()
                .function("api")
                .log_group(api, vec![patterned]),
            vec!["update log-group:/aws/lambda/api -> fwd@us-east-1"],
        ),
        (
            "foreign filters take every slot: skip",
            Estate::new().function("api").log_group(
                api,
                vec![filter("siem", KINESIS), filter("manual", &lambda("alerts"))],
            ),
            vec!["skip no_free_slot log-group:/aws/lambda/api"],
        ),
        (
            "more foreign filters than the configured slots: skip",
            Estate::new()
                .function("api")
                .log_group(api, vec![filter("siem", KINESIS)])
                .with(|p| p.max_filters_per_log_group = 1),
            vec!["skip no_free_slot log-group:/aws/lambda/api"],
        ),
        (
            "updating ours needs no free slot",
            Estate::new()
                .function("api")
                .log_group(
                    api,
                    vec![filter("siem", KINESIS), ours(&lambda("old-forwarder"))],
                )
                .created(filter_trigger(api, &lambda("old-forwarder"))),
            vec!["update log-group:/aws/lambda/api -> fwd@us-east-1"],
        ),
        (
            "a class other than STANDARD cannot be subscribed",
            Estate::new().function("api").log_group_state(
                api,
                LogGroupState::Found {
                    class: LogGroupClass::Other("INFREQUENT_ACCESS".into()),
                    filters: vec![],
                },
            ),
            vec!["skip log_group_class log-group:/aws/lambda/api"],
        ),
        (
            "a log group that does not exist yet waits",
            Estate::new()
                .function("api")
                .log_group_state(api, LogGroupState::Missing),
            vec!["skip log_group_missing log-group:/aws/lambda/api"],
        ),
        (
            "an unreadable log group waits",
            Estate::new().function("api").log_group_state(
                api,
                LogGroupState::Unreadable {
                    detail: "throttled".into(),
                },
            ),
            vec!["skip unreadable log-group:/aws/lambda/api"],
        ),
        (
            "foreign filters on a log group nobody wants are not ours to touch",
            Estate::new().log_group(&group("old"), vec![filter("siem", KINESIS)]),
            vec![],
        ),
        (
            "the forwarder's own log group is never subscribed",
            Estate::new()
                .function("datadog-forwarder")
                .log_group(&group("datadog-forwarder"), vec![])
                .guard_log_group(&group("datadog-forwarder")),
            vec!["skip loop_guard log-group:/aws/lambda/datadog-forwarder"],
        ),
        (
            "excluded log groups are skipped, and our filter there goes",
            Estate::new()
                .function("debug-1")
                .log_group(&group("debug-1"), vec![ours(home)])
                .exclude_log_groups("/aws/lambda/debug-*"),
            vec![
                "delete log-group:/aws/lambda/debug-1 -> fwd@us-east-1",
                "skip excluded log-group:/aws/lambda/debug-1",
            ],
        ),
    ]);
}

#[test]
fn no_free_slot_names_the_filters_that_hold_them() {
    let plan = Estate::new()
        .function("api")
        .log_group(
            &group("api"),
            vec![filter("siem", KINESIS), filter("manual", &lambda("alerts"))],
        )
        .plan();
    let detail = skip_detail(&plan, SkipReason::NoFreeSlot);
    assert!(detail.contains("\"siem\" → arn:aws:kinesis"), "{detail}");
    assert!(detail.contains("max_filters_per_log_group"), "{detail}");
}

#[test]
fn s3_notifications() {
    let home = fwd(HOME).to_string();
    let home = home.as_str();
    check(vec![
        (
            "a new prefix gets our entry",
            Estate::new().access_logs("access-logs", "AWSLogs/").bucket(
                "access-logs",
                HOME,
                vec![],
            ),
            vec!["create s3://access-logs/AWSLogs/ -> fwd@us-east-1"],
        ),
        (
            "nested prefixes collapse to one entry",
            Estate::new()
                .access_logs("access-logs", "AWSLogs/")
                .access_logs("access-logs", "AWSLogs/elb/")
                .bucket("access-logs", HOME, vec![]),
            vec!["create s3://access-logs/AWSLogs/ -> fwd@us-east-1"],
        ),
        (
            "a whole-bucket source gets an entry without a prefix rule",
            Estate::new()
                .access_logs("access-logs", "")
                .bucket("access-logs", HOME, vec![]),
            vec!["create s3://access-logs/ -> fwd@us-east-1"],
        ),
        (
            "our entry in place: nothing to do",
            Estate::new().access_logs("access-logs", "AWSLogs/").bucket(
                "access-logs",
                HOME,
                vec![lambda_entry("autosub-AWSLogs/", home, "AWSLogs/")],
            ),
            vec![],
        ),
        (
            "a foreign queue rule on an overlapping prefix blocks ours",
            Estate::new()
                .access_logs("access-logs", "AWSLogs/elb/")
                .bucket("access-logs", HOME, vec![queue_entry("audit", "AWSLogs/")]),
            vec!["skip s3_overlap s3://access-logs/AWSLogs/elb/"],
        ),
        (
            "a foreign queue rule on another prefix lives next to ours",
            Estate::new().access_logs("access-logs", "AWSLogs/").bucket(
                "access-logs",
                HOME,
                vec![queue_entry("audit", "uploads/")],
            ),
            vec!["create s3://access-logs/AWSLogs/ -> fwd@us-east-1"],
        ),
        (
            "an adopted Lambda entry covering the prefix satisfies the desire",
            Estate::new()
                .access_logs("access-logs", "AWSLogs/elb/")
                .bucket(
                    "access-logs",
                    HOME,
                    vec![lambda_entry("datadog", home, "AWSLogs/")],
                ),
            vec![],
        ),
        (
            "an adopted entry on a narrower prefix does not cover, and would overlap",
            Estate::new().access_logs("access-logs", "AWSLogs/").bucket(
                "access-logs",
                HOME,
                vec![lambda_entry("datadog", home, "AWSLogs/elb/")],
            ),
            vec!["skip s3_overlap s3://access-logs/AWSLogs/"],
        ),
        (
            "ours under an adopted entry is a duplicate: ours goes",
            Estate::new().access_logs("access-logs", "AWSLogs/").bucket(
                "access-logs",
                HOME,
                vec![
                    lambda_entry("datadog", home, ""),
                    lambda_entry("autosub-AWSLogs/", home, "AWSLogs/"),
                ],
            ),
            vec!["delete s3://access-logs/AWSLogs/ -> fwd@us-east-1"],
        ),
        (
            "ours invoking a former forwarder (per the ledger) is pointed at the forwarder",
            Estate::new()
                .access_logs("access-logs", "AWSLogs/")
                .bucket(
                    "access-logs",
                    HOME,
                    vec![lambda_entry(
                        "autosub-AWSLogs/",
                        &lambda("old-forwarder"),
                        "AWSLogs/",
                    )],
                )
                .created(Trigger::S3Notification {
                    bucket: BucketName::new("access-logs"),
                    region: Region::new(HOME),
                    id: "autosub-AWSLogs/".into(),
                    prefix: "AWSLogs/".into(),
                    destination: lambda("old-forwarder"),
                }),
            vec!["update s3://access-logs/AWSLogs/ -> fwd@us-east-1"],
        ),
        (
            "an entry with our id invoking another function is foreign: the id is taken",
            Estate::new().access_logs("access-logs", "AWSLogs/").bucket(
                "access-logs",
                HOME,
                vec![lambda_entry(
                    "autosub-AWSLogs/",
                    &lambda("other-team"),
                    "AWSLogs/",
                )],
            ),
            vec!["skip name_taken s3://access-logs/AWSLogs/"],
        ),
        (
            "a prefix that moved up: the new entry is created and the old one deleted",
            Estate::new().access_logs("access-logs", "AWSLogs/").bucket(
                "access-logs",
                HOME,
                vec![lambda_entry("autosub-AWSLogs/elb/", home, "AWSLogs/elb/")],
            ),
            vec![
                "create s3://access-logs/AWSLogs/ -> fwd@us-east-1",
                "delete s3://access-logs/AWSLogs/elb/ -> fwd@us-east-1",
            ],
        ),
        (
            "a bucket is subscribed by the pass of its region, to that region's forwarder",
            Estate::new()
                .home(EU)
                .forwarder(EU)
                .access_logs("eu-logs", "AWSLogs/")
                .bucket("eu-logs", EU, vec![]),
            vec!["create s3://eu-logs/AWSLogs/ -> fwd@eu-west-1"],
        ),
        (
            "a bucket in another reconciled region is left to that region's pass",
            Estate::new()
                .forwarder(EU)
                .reconcile(EU)
                .access_logs("eu-logs", "AWSLogs/")
                .bucket("eu-logs", EU, vec![]),
            vec![],
        ),
        (
            "a bucket in a region autosub does not reconcile is reported; ours there is held",
            Estate::new().access_logs("eu-logs", "AWSLogs/").bucket(
                "eu-logs",
                EU,
                vec![lambda_entry("autosub-old/", &fwd(EU).to_string(), "old/")],
            ),
            vec!["skip region_not_reconciled s3://eu-logs/AWSLogs/"],
        ),
        (
            "without a forwarder the bucket is skipped and ours there is held",
            Estate::new()
                .no_forwarder(HOME)
                .access_logs("access-logs", "AWSLogs/")
                .bucket(
                    "access-logs",
                    HOME,
                    vec![lambda_entry("autosub-old/", home, "old/")],
                ),
            vec!["skip no_forwarder s3://access-logs/AWSLogs/"],
        ),
        (
            "a bucket that does not exist is skipped",
            Estate::new()
                .access_logs("gone-logs", "AWSLogs/")
                .bucket_state("gone-logs", HOME, BucketState::Missing),
            vec!["skip bucket_missing s3://gone-logs/AWSLogs/"],
        ),
    ]);
}

#[test]
fn s3_overlap_names_the_foreign_rule() {
    let plan = Estate::new()
        .access_logs("access-logs", "AWSLogs/")
        .bucket(
            "access-logs",
            HOME,
            vec![queue_entry("audit-queue", "AWSLogs/1/")],
        )
        .plan();
    let detail = skip_detail(&plan, SkipReason::S3Overlap);
    assert!(
        detail.contains("queue entry \"audit-queue\" (arn:aws:sqs:"),
        "{detail}"
    );
    assert!(plan.is_empty());
}

#[test]
fn safety_rails() {
    let home = fwd(HOME).to_string();
    let home = home.as_str();
    let stale = || {
        Estate::new()
            .log_group(&group("gone-a"), vec![ours(home)])
            .log_group(&group("gone-b"), vec![ours(home)])
            .bucket(
                "old-logs",
                HOME,
                vec![
                    queue_entry("audit", "uploads/"),
                    lambda_entry("autosub-AWSLogs/", home, "AWSLogs/"),
                ],
            )
    };
    check(vec![
        (
            "ours whose source went away are deleted",
            stale(),
            vec![
                "delete s3://old-logs/AWSLogs/ -> fwd@us-east-1",
                "delete log-group:/aws/lambda/gone-a -> fwd@us-east-1",
                "delete log-group:/aws/lambda/gone-b -> fwd@us-east-1",
            ],
        ),
        (
            "a discovery gap stops the deletes its service could have desired, and only those",
            stale()
                .gap("ListFunctions: throttled")
                .log_group(&group("dup"), vec![filter(DD_FILTER, home), ours(home)])
                .function("dup"),
            vec![
                "delete s3://old-logs/AWSLogs/ -> fwd@us-east-1",
                "skip incomplete_discovery log-group:/aws/lambda/dup",
                "skip incomplete_discovery log-group:/aws/lambda/gone-a",
                "skip incomplete_discovery log-group:/aws/lambda/gone-b",
            ],
        ),
        (
            "a gap in a service writing to both holds both",
            stale().gap_in(Service::Redshift, "DescribeLoggingStatus: throttled"),
            vec![
                "skip incomplete_discovery log-group:/aws/lambda/gone-a",
                "skip incomplete_discovery log-group:/aws/lambda/gone-b",
                "skip incomplete_discovery s3://old-logs/AWSLogs/",
            ],
        ),
        (
            "protected resources keep our triggers",
            stale().with(|p| p.protect = vec!["/aws/lambda/gone-*".into()]),
            vec![
                "delete s3://old-logs/AWSLogs/ -> fwd@us-east-1",
                "skip protected log-group:/aws/lambda/gone-a",
                "skip protected log-group:/aws/lambda/gone-b",
            ],
        ),
        (
            "the delete cap keeps the first deletes and holds the rest",
            stale().with(|p| p.max_deletes_per_pass = 2),
            vec![
                "delete s3://old-logs/AWSLogs/ -> fwd@us-east-1",
                "delete log-group:/aws/lambda/gone-a -> fwd@us-east-1",
                "skip delete_cap log-group:/aws/lambda/gone-b",
            ],
        ),
        (
            "without a forwarder our filters are held, not deleted",
            Estate::new()
                .function("api")
                .log_group(&group("api"), vec![ours(home)])
                .no_forwarder(HOME),
            vec!["skip no_forwarder log-group:/aws/lambda/api"],
        ),
    ]);
}

/// Plans `passes` passes in a row over an unchanged estate, each pass starting from the ledger
/// the previous one left (nothing applied); the summaries of every pass.
fn passes(estate: Estate, passes: usize) -> Vec<Vec<String>> {
    let mut estate = estate;
    (0..passes)
        .map(|_| {
            let plan = estate.plan();
            estate.observed.ledger = plan.ledger.clone();
            summary(&plan)
        })
        .collect()
}

#[test]
fn deletes_wait_for_the_configured_stale_passes() {
    let home = fwd(HOME).to_string();
    let stale = Estate::new()
        .function("api")
        .log_group(&group("api"), vec![ours(&home)])
        .log_group(&group("gone"), vec![ours(&home)])
        .with(|p| p.stale_passes_before_delete = 3);
    assert_eq!(
        passes(stale.clone(), 3),
        [
            vec!["skip stale_wait log-group:/aws/lambda/gone"],
            vec!["skip stale_wait log-group:/aws/lambda/gone"],
            vec!["delete log-group:/aws/lambda/gone -> fwd@us-east-1"],
        ]
    );
    let detail = skip_detail(&stale.plan(), SkipReason::StaleWait);
    assert!(detail.contains("stale for 1 of the 3"), "{detail}");

    // A pass with gaps neither counts nor resets; a pass that wants it again resets.
    let mut estate = stale.clone();
    estate.observed.ledger = estate.plan().ledger;
    let gappy = estate.clone().gap("ListFunctions: throttled");
    assert_eq!(gappy.plan().ledger, estate.observed.ledger);
    let wanted_again = estate.clone().function("gone");
    let ledger = wanted_again.plan().ledger;
    assert_eq!(ledger.triggers.len(), 2);
    assert!(ledger.triggers.values().all(|e| e.stale_passes == 0));
}

#[test]
fn the_ledger_tracks_every_trigger_of_ours_and_only_ours() {
    let home = fwd(HOME).to_string();
    let plan = Estate::new()
        .function("api")
        .log_group(&group("api"), vec![ours(&home), filter("siem", KINESIS)])
        .log_group(&group("dd"), vec![filter(DD_FILTER, &home)])
        .log_group_state(
            &group("flaky"),
            LogGroupState::Unreadable {
                detail: "throttled".into(),
            },
        )
        .bucket(
            "logs",
            HOME,
            vec![
                queue_entry("audit", "uploads/"),
                lambda_entry("autosub-AWSLogs/", &home, "AWSLogs/"),
            ],
        )
        .statements(HOME, vec![our_statement(Invoker::Logs, HOME)])
        .plan();
    let keys: Vec<&str> = plan.ledger.triggers.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            format!("invoke-permission lambda:{home} autosub-logs-{ACCOUNT}"),
            "s3-notification s3://logs autosub-AWSLogs/".to_owned(),
            "subscription-filter log-group:/aws/lambda/api autosub".to_owned(),
        ],
        "adopted, foreign and unread triggers are not ours"
    );

    // An unreadable log group keeps what the previous ledger knew about it.
    let mut estate = Estate::new().log_group_state(
        &group("flaky"),
        LogGroupState::Unreadable {
            detail: "throttled".into(),
        },
    );
    let known = Estate::new()
        .log_group(&group("flaky"), vec![ours(&home)])
        .with(|p| p.stale_passes_before_delete = 5)
        .plan()
        .ledger;
    estate.observed.ledger = known.clone();
    assert_eq!(estate.plan().ledger, known);
}

#[test]
fn gap_skips_say_what_was_missed() {
    let plan = Estate::new()
        .log_group(&group("gone"), vec![ours(&fwd(HOME).to_string())])
        .gap("ListFunctions: throttled")
        .gap("GetBucketLogging on b: access denied")
        .plan();
    let detail = skip_detail(&plan, SkipReason::IncompleteDiscovery);
    assert!(detail.starts_with("would delete: "), "{detail}");
    assert!(detail.contains("and 1 more"), "{detail}");
}

#[test]
fn invoke_permissions() {
    let home = fwd(HOME).to_string();
    let home = home.as_str();
    let logs_sid = format!("fwd@{HOME} (autosub-logs-{ACCOUNT})");
    let s3_sid = format!("fwd@{HOME} (autosub-s3-{ACCOUNT})");
    let mut wrong_account = our_statement(Invoker::Logs, HOME);
    wrong_account.source_accounts = vec![OTHER_ACCOUNT.into()];
    wrong_account.source_arns = vec![format!("arn:aws:logs:{HOME}:{OTHER_ACCOUNT}:log-group:*")];
    let mut regional = template_logs(HOME);
    regional.principals = vec![format!("logs.{HOME}.amazonaws.com")];
    regional.source_arns.clear();
    check(vec![
        (
            "an older template's regional logs principal without SourceArn covers our filters",
            Estate::new()
                .statements(HOME, vec![regional])
                .function("api")
                .log_group(&group("api"), vec![]),
            vec!["create log-group:/aws/lambda/api -> fwd@us-east-1"],
        ),
        (
            "the Datadog template's statements cover our triggers",
            Estate::new()
                .function("api")
                .log_group(&group("api"), vec![])
                .access_logs("access-logs", "")
                .bucket("access-logs", HOME, vec![]),
            vec![
                "create s3://access-logs/ -> fwd@us-east-1",
                "create log-group:/aws/lambda/api -> fwd@us-east-1",
            ],
        ),
        (
            "a missing s3 statement is created before the triggers",
            Estate::new()
                .statements(HOME, vec![template_logs(HOME)])
                .access_logs("access-logs", "")
                .bucket("access-logs", HOME, vec![]),
            vec![
                &format!("create {s3_sid} -> s3.amazonaws.com"),
                "create s3://access-logs/ -> fwd@us-east-1",
            ],
        ),
        (
            "no policy at all: the logs statement is created first",
            Estate::new()
                .statements(HOME, vec![])
                .function("api")
                .log_group(&group("api"), vec![]),
            vec![
                &format!("create {logs_sid} -> logs.amazonaws.com"),
                "create log-group:/aws/lambda/api -> fwd@us-east-1",
            ],
        ),
        (
            "our statement, still needed, stays",
            Estate::new()
                .statements(HOME, vec![our_statement(Invoker::Logs, HOME)])
                .function("api")
                .log_group(&group("api"), vec![ours(home)]),
            vec![],
        ),
        (
            "our statement scoped wrongly is updated",
            Estate::new()
                .statements(HOME, vec![wrong_account.clone()])
                .function("api")
                .log_group(&group("api"), vec![ours(home)]),
            vec![&format!(
                "update fwd@{HOME} (autosub-logs-{ACCOUNT}-b, replacing autosub-logs-{ACCOUNT}) -> logs.amazonaws.com"
            )],
        ),
        (
            "our statement under its other id, scoped wrongly, is replaced under the first id",
            Estate::new()
                .statements(
                    HOME,
                    vec![with_sid(
                        &wrong_account,
                        &format!("autosub-logs-{ACCOUNT}-b"),
                    )],
                )
                .function("api")
                .log_group(&group("api"), vec![ours(home)]),
            vec![&format!(
                "update fwd@{HOME} (autosub-logs-{ACCOUNT}, replacing autosub-logs-{ACCOUNT}-b) -> logs.amazonaws.com"
            )],
        ),
        (
            "two statements under one id (an emulator's duplicate, never AWS's) are left alone",
            Estate::new()
                .statements(
                    HOME,
                    vec![
                        our_statement(Invoker::Logs, HOME),
                        our_statement(Invoker::Logs, HOME),
                    ],
                )
                .function("api")
                .log_group(&group("api"), vec![ours(home)]),
            vec![],
        ),
        (
            "an update stopped between its add and its remove: the old statement goes",
            Estate::new()
                .statements(
                    HOME,
                    vec![
                        wrong_account.clone(),
                        with_sid(
                            &our_statement(Invoker::Logs, HOME),
                            &format!("autosub-logs-{ACCOUNT}-b"),
                        ),
                    ],
                )
                .function("api")
                .log_group(&group("api"), vec![ours(home)]),
            vec![&format!("delete {logs_sid} -> logs.amazonaws.com")],
        ),
        (
            "our statement nothing uses any more is deleted after the triggers",
            Estate::new()
                .statements(
                    HOME,
                    vec![template_s3(), our_statement(Invoker::Logs, HOME)],
                )
                .log_group(&group("gone"), vec![ours(home)]),
            vec![
                "delete log-group:/aws/lambda/gone -> fwd@us-east-1",
                &format!("delete {logs_sid} -> logs.amazonaws.com"),
            ],
        ),
        (
            "an adopted trigger still relies on our statement",
            Estate::new()
                .statements(HOME, vec![our_statement(Invoker::Logs, HOME)])
                .log_group(&group("legacy"), vec![filter(DD_FILTER, home)]),
            vec![],
        ),
        (
            "a forwarder outside the pass's region keeps our statement",
            Estate::new()
                .forwarder(EU)
                .statements(EU, vec![our_statement(Invoker::S3, EU)]),
            vec![],
        ),
        (
            "a gap holds the statement its service's triggers would use",
            Estate::new()
                .statements(HOME, vec![our_statement(Invoker::S3, HOME)])
                .gap_in(Service::S3AccessLogs, "ListBuckets: access denied"),
            vec![&format!("skip incomplete_discovery {s3_sid}")],
        ),
        (
            "a Lambda gap does not hold the s3 statement",
            Estate::new()
                .statements(HOME, vec![our_statement(Invoker::S3, HOME)])
                .gap("ListFunctions: throttled"),
            vec![&format!("delete {s3_sid} -> s3.amazonaws.com")],
        ),
        (
            "a held trigger keeps its statement",
            Estate::new()
                .function("api")
                .log_group(&group("api"), vec![ours(home)])
                .no_forwarder(HOME)
                .statements(HOME, vec![our_statement(Invoker::Logs, HOME)]),
            vec!["skip no_forwarder log-group:/aws/lambda/api"],
        ),
        (
            "an unreadable policy is a skip, not a create",
            Estate::new()
                .policy_state(
                    HOME,
                    PolicyState::Unreadable {
                        detail: "AccessDenied".into(),
                    },
                )
                .function("api")
                .log_group(&group("api"), vec![]),
            vec![
                "create log-group:/aws/lambda/api -> fwd@us-east-1",
                &format!("skip unreadable {logs_sid}"),
            ],
        ),
        (
            "a log group that could not be read may still use our statement",
            Estate::new()
                .statements(
                    HOME,
                    vec![template_s3(), our_statement(Invoker::Logs, HOME)],
                )
                .function("api")
                .log_group_state(
                    &group("api"),
                    LogGroupState::Unreadable {
                        detail: "throttled".into(),
                    },
                ),
            vec![
                &format!("skip unreadable {logs_sid}"),
                "skip unreadable log-group:/aws/lambda/api",
            ],
        ),
        (
            "so may a bucket that could not be read",
            Estate::new()
                .statements(
                    HOME,
                    vec![template_logs(HOME), our_statement(Invoker::S3, HOME)],
                )
                .bucket_state(
                    "old-logs",
                    HOME,
                    BucketState::Unreadable {
                        detail: "AccessDenied".into(),
                    },
                ),
            vec![&format!("skip unreadable {s3_sid}")],
        ),
    ]);
}

#[test]
fn permissions_follow_the_partition() {
    let region = "cn-north-1";
    let mut estate = Estate::new();
    estate.routing = Routing {
        home_region: Region::new(region),
        ..Routing::default()
    };
    estate.observed.policies.clear();
    let estate = estate
        .forwarder(region)
        .statements(region, vec![])
        .function("api")
        .log_group(&group("api"), vec![]);
    let plan = estate.plan();
    let Trigger::InvokePermission { permission, .. } = &plan.changes[0].trigger else {
        panic!("a permission first: {plan:#?}");
    };
    assert_eq!(
        permission.source_arn.as_deref(),
        Some("arn:aws-cn:logs:cn-north-1:111122223333:log-group:*")
    );
    assert!(fwd(region).to_string().starts_with("arn:aws-cn:lambda:"));
    assert_eq!(plan.count(Action::Create), 2);
}

// ---------------------------------------------------------------------------------------------
// Snapshots
// ---------------------------------------------------------------------------------------------

/// A realistic pass: new, adopted, drifted, full, stale and guarded log groups; buckets that are
/// new, blocked by a queue rule, stale or without a forwarder; the s3 statement missing.
fn mixed_estate() -> Estate {
    let home = fwd(HOME).to_string();
    let home = home.as_str();
    Estate::new()
        .statements(HOME, vec![template_logs(HOME)])
        .function("api")
        .log_group(&group("api"), vec![])
        .function("checkout")
        .log_group(&group("checkout"), vec![filter(DD_FILTER, home)])
        .function("web")
        .log_group(&group("web"), vec![ours(&lambda("old-forwarder"))])
        .created(filter_trigger(&group("web"), &lambda("old-forwarder")))
        .function("batch")
        .log_group(
            &group("batch"),
            vec![filter("siem", KINESIS), filter("alerts", &lambda("alerts"))],
        )
        .log_group(&group("retired"), vec![ours(home)])
        .function("datadog-forwarder")
        .log_group(&group("datadog-forwarder"), vec![])
        .guard_log_group(&group("datadog-forwarder"))
        .access_logs("access-logs", "AWSLogs/111122223333/")
        .bucket(
            "access-logs",
            HOME,
            vec![entry(DestinationKind::Topic, "uploads", TOPIC, "incoming/")],
        )
        .access_logs("cdn-logs", "cf/")
        .bucket("cdn-logs", HOME, vec![queue_entry("audit-queue", "cf/")])
        .bucket(
            "old-logs",
            HOME,
            vec![lambda_entry("autosub-elb/", home, "elb/")],
        )
        .access_logs("eu-logs", "AWSLogs/")
        .bucket("eu-logs", EU, vec![])
}

#[test]
fn mixed_plan_renders_as_text() {
    let plan = mixed_estate().plan();
    insta::assert_snapshot!(
        "mixed_plan_text",
        render::plan_text("plan for 111122223333/us-east-1", &plan)
    );
}

#[test]
fn mixed_plan_renders_as_json() {
    let plan = mixed_estate().plan();
    insta::assert_snapshot!("mixed_plan_json", render::plan_json(&plan));
}

#[test]
fn an_empty_plan_says_so() {
    let plan = Estate::new()
        .function("api")
        .log_group(&group("api"), vec![ours(&fwd(HOME).to_string())])
        .plan();
    insta::assert_snapshot!("empty_plan_text", render::plan_text("plan", &plan));
}

// ---------------------------------------------------------------------------------------------
// Model apply
// ---------------------------------------------------------------------------------------------

/// Applies `plan` to `observed` the way AWS would: filters put and deleted by name, each bucket's
/// changes in one `rewrite_notifications`, statements added and removed by sid. Panics when a
/// change could not be applied (a create without a free slot, a delete of something absent, an
/// S3 rule that conflicts).
fn apply(observed: &Observed, plan: &Plan, policy: &PlanPolicy) -> Observed {
    let mut next = observed.clone();
    let mut by_bucket: BTreeMap<&BucketName, Vec<&Change>> = BTreeMap::new();
    for change in &plan.changes {
        match &change.trigger {
            Trigger::SubscriptionFilter {
                log_group,
                filter_name,
                pattern,
                destination,
            } => {
                let Some(LogGroupState::Found { filters, .. }) = next.log_groups.get_mut(log_group)
                else {
                    panic!("change on a log group that was not found: {change:?}");
                };
                let put = SubscriptionFilter {
                    name: filter_name.clone(),
                    destination_arn: destination.clone(),
                    pattern: pattern.clone(),
                };
                match (
                    change.action,
                    filters.iter().position(|f| &f.name == filter_name),
                ) {
                    (Action::Create, None) => {
                        assert!(
                            filters.len() < policy.max_filters_per_log_group,
                            "create without a free slot: {change:?}"
                        );
                        filters.push(put);
                    }
                    (Action::Update, Some(i)) => filters[i] = put,
                    (Action::Delete, Some(i)) => {
                        filters.remove(i);
                    }
                    (_, found) => panic!("{change:?} but the filter exists: {}", found.is_some()),
                }
            }
            Trigger::S3Notification { bucket, .. } => {
                by_bucket.entry(bucket).or_default().push(change);
            }
            Trigger::AccountPolicy { policy } => {
                let AccountPolicies::Found { policies } = &mut next.account_policies else {
                    panic!("change on account policies that were not read: {change:?}");
                };
                let at = policies.iter().position(|p| p.name == policy.name);
                match (change.action, at) {
                    (Action::Create, None) => {
                        assert!(
                            policies.is_empty(),
                            "a second policy in the region: {change:?}"
                        );
                        policies.push(policy.clone());
                    }
                    (Action::Update, Some(i)) => policies[i] = policy.clone(),
                    (Action::Delete, Some(i)) => {
                        policies.remove(i);
                    }
                    (_, found) => panic!("{change:?} but the policy exists: {}", found.is_some()),
                }
            }
            Trigger::InvokePermission {
                forwarder,
                permission,
            } => {
                let Some(PolicyState::Found { statements }) = next.policies.get_mut(forwarder)
                else {
                    panic!("change on a policy that was not read: {change:?}");
                };
                let mut remove = |sid: &str| {
                    let before = statements.len();
                    statements.retain(|s| s.sid != sid);
                    statements.len() < before
                };
                // An update with `replaces` adds under the other id (which must be free), then
                // removes the old one.
                let (old_was_there, id_was_ready) = match &permission.replaces {
                    Some(old) => (remove(old), !remove(&permission.statement_id)),
                    None => {
                        let existed = remove(&permission.statement_id);
                        (existed, existed)
                    }
                };
                let not_create = change.action != Action::Create;
                assert_eq!(
                    (old_was_there, id_was_ready),
                    (not_create, not_create),
                    "{change:?} against {statements:?}"
                );
                if change.action != Action::Delete {
                    statements.push(statement_of(permission));
                }
            }
        }
    }
    for (bucket, changes) in by_bucket {
        let Some(BucketState::Found { config, .. }) = next.buckets.get_mut(bucket) else {
            panic!("changes on a bucket that was not found: {changes:?}");
        };
        let (rewritten, conflicts) = rewrite_notifications(config, &changes, policy);
        for (change, conflict) in changes.iter().zip(&conflicts) {
            assert!(conflict.is_none(), "{change:?} conflicts with {conflict:?}");
        }
        *config = rewritten;
    }
    next
}

#[test]
fn the_mixed_plan_converges_in_one_apply() {
    let estate = mixed_estate();
    let desired = estate.desired();
    let first = plan(&desired, &estate.observed, &estate.policy);
    let applied = apply(&estate.observed, &first, &estate.policy);
    let again = plan(&desired, &applied, &estate.policy);
    assert_eq!(
        again.changes,
        vec![],
        "{}",
        render::plan_text("again", &again)
    );
    assert_eq!(again.skips, first.skips, "the same skips remain");
}

// ---------------------------------------------------------------------------------------------
// Random estates
// ---------------------------------------------------------------------------------------------

const GROUPS: [&str; 4] = [
    "/aws/lambda/api",
    "/aws/lambda/jobs",
    "/aws/lambda/web",
    "/aws/lambda/datadog-forwarder",
];
const BUCKETS: [&str; 3] = ["access-logs", "cdn-logs", "forwarder-out"];
const PREFIXES: [&str; 5] = ["", "AWSLogs/", "AWSLogs/111122223333/", "cf/", "cf/web/"];
const REGIONS: [&str; 2] = [HOME, EU];

/// Functions a trigger may invoke: both forwarders (one qualified), and a stranger.
fn lambda_targets() -> [String; 4] {
    [
        fwd(HOME).to_string(),
        fwd(EU).to_string(),
        format!("{}:live", fwd(HOME)),
        lambda("someone-else"),
    ]
}

fn arb_filter() -> impl Strategy<Value = SubscriptionFilter> {
    let names = [OUR_FILTER, DD_FILTER, "manual", "siem"];
    (0..names.len(), 0..5usize, prop::bool::weighted(0.8)).prop_map(
        move |(name, target, every_event)| SubscriptionFilter {
            name: names[name].into(),
            destination_arn: lambda_targets()
                .get(target)
                .cloned()
                .unwrap_or_else(|| KINESIS.into()),
            pattern: if every_event { "" } else { "ERROR" }.into(),
        },
    )
}

fn arb_filters() -> impl Strategy<Value = Vec<SubscriptionFilter>> {
    vec(arb_filter(), 0..4).prop_map(|mut filters| {
        let mut seen = std::collections::BTreeSet::new();
        filters.retain(|f| seen.insert(f.name.clone()));
        filters
    })
}

fn arb_log_group() -> impl Strategy<Value = Option<LogGroupState>> {
    prop_oneof![
        1 => Just(None),
        1 => Just(Some(LogGroupState::Missing)),
        1 => Just(Some(LogGroupState::Unreadable { detail: "throttled".into() })),
        1 => arb_filters().prop_map(|filters| Some(LogGroupState::Found {
            class: LogGroupClass::Other("INFREQUENT_ACCESS".into()),
            filters,
        })),
        6 => arb_filters().prop_map(|filters| Some(LogGroupState::Found {
            class: LogGroupClass::Standard,
            filters,
        })),
    ]
}

fn arb_entry() -> impl Strategy<Value = NotificationEntry> {
    let kinds = [
        DestinationKind::Lambda,
        DestinationKind::Lambda,
        DestinationKind::Queue,
        DestinationKind::Topic,
    ];
    let events = [
        OBJECT_CREATED_ALL,
        "s3:ObjectCreated:Put",
        "s3:ObjectRemoved:*",
    ];
    (
        0..kinds.len(),
        0..6usize,
        0..4usize,
        0..events.len(),
        0..PREFIXES.len(),
        prop::bool::weighted(0.2),
        any::<bool>(),
    )
        .prop_map(move |(kind, id, target, event, prefix, gz, capitalised)| {
            let prefix = PREFIXES[prefix];
            let kind = kinds[kind];
            let id = match id {
                0 | 1 => Some(format!("autosub-{prefix}")),
                2 => Some("autosub-legacy".into()),
                3 => Some("datadog".into()),
                4 => Some("audit".into()),
                _ => None,
            };
            let arn = match kind {
                DestinationKind::Lambda => lambda_targets()[target].clone(),
                DestinationKind::Queue => QUEUE.into(),
                DestinationKind::Topic => TOPIC.into(),
            };
            let rule = |name: &str, value: &str| FilterRule {
                name: if capitalised {
                    name.to_uppercase()[..1].to_owned() + &name[1..]
                } else {
                    name.into()
                },
                value: value.into(),
            };
            let mut filter_rules = Vec::new();
            if !prefix.is_empty() {
                filter_rules.push(rule("prefix", prefix));
            }
            if gz {
                filter_rules.push(rule("suffix", ".gz"));
            }
            NotificationEntry {
                id,
                kind,
                arn,
                events: vec![events[event].into()],
                filter_rules,
            }
        })
}

fn arb_entries() -> impl Strategy<Value = Vec<NotificationEntry>> {
    vec(arb_entry(), 0..5).prop_map(|mut entries| {
        // S3 ids are unique within a configuration.
        let mut seen = std::collections::BTreeSet::new();
        entries.retain(|e| e.id.is_none() || seen.insert(e.id.clone()));
        entries
    })
}

/// A bucket: its region, whether that resolves, and what reading it gave.
fn arb_bucket() -> impl Strategy<Value = (usize, bool, Option<BucketState>)> {
    (0..REGIONS.len(), prop::bool::weighted(0.9)).prop_flat_map(|(region, resolves)| {
        let found = (arb_entries(), any::<bool>()).prop_map(move |(entries, event_bridge)| {
            Some(BucketState::Found {
                region: Region::new(REGIONS[region]),
                config: NotificationConfig {
                    entries,
                    event_bridge,
                },
            })
        });
        let state = prop_oneof![
            1 => Just(None),
            1 => Just(Some(BucketState::Missing)),
            1 => Just(Some(BucketState::Unreadable { detail: "AccessDenied".into() })),
            6 => found,
        ];
        (Just(region), Just(resolves), state)
    })
}

/// A forwarder's policy: unreadable, or a mix of template, ours (right or wrong) and narrow
/// statements.
fn arb_policy(region: &'static str) -> impl Strategy<Value = PolicyState> {
    let statements = (
        any::<bool>(),
        any::<bool>(),
        0..3usize,
        0..3usize,
        any::<bool>(),
    )
        .prop_map(move |(dd_logs, dd_s3, ours_logs, ours_s3, narrow)| {
            let mut statements = Vec::new();
            if dd_logs {
                statements.push(template_logs(region));
            }
            if dd_s3 {
                statements.push(template_s3());
            }
            for (choice, invoker) in [(ours_logs, Invoker::Logs), (ours_s3, Invoker::S3)] {
                let mut ours = our_statement(invoker, region);
                match choice {
                    0 => continue,
                    1 => {}
                    _ => ours.source_accounts = vec![OTHER_ACCOUNT.into()],
                }
                statements.push(ours);
            }
            if narrow {
                statements.push(PolicyStatement {
                    sid: "one-group".into(),
                    source_arns: vec![format!(
                        "arn:aws:logs:{region}:{ACCOUNT}:log-group:/aws/lambda/api:*"
                    )],
                    ..template_logs(region)
                });
            }
            PolicyState::Found { statements }
        });
    prop_oneof![
        1 => Just(PolicyState::Unreadable { detail: "AccessDenied".into() }),
        8 => statements,
    ]
}

fn arb_gaps() -> impl Strategy<Value = Vec<Gap>> {
    let gap = (any::<bool>(), 0..3usize).prop_map(|(lambda, n)| Gap {
        service: if lambda {
            Service::Lambda
        } else {
            Service::S3AccessLogs
        },
        detail: format!("read {n}: throttled"),
    });
    prop_oneof![3 => Just(Vec::new()), 1 => vec(gap, 1..3)]
}

/// A small random estate: four log groups and three buckets in two regions, one or two
/// forwarders, random sources, gaps, guards, caps and protect patterns.
fn arb_estate() -> impl Strategy<Value = Estate> {
    let sources = (
        prop::array::uniform4(prop::bool::weighted(0.6)),
        vec((0..BUCKETS.len(), 0..PREFIXES.len(), 0..3usize), 0..5),
        arb_gaps(),
    );
    let observed = (
        prop::array::uniform4(arb_log_group()),
        prop::array::uniform3(arb_bucket()),
        arb_policy(HOME),
        arb_policy(EU),
    );
    let config = (
        prop::bool::weighted(0.85),
        any::<bool>(),
        prop::array::uniform4(prop::bool::weighted(0.2)),
        prop::array::uniform3(prop::bool::weighted(0.2)),
        0..3usize,
        prop_oneof![Just(1usize), Just(2), Just(1000)],
        any::<bool>(),
        any::<bool>(),
    );
    let account = (prop::bool::weighted(0.3), 0..6usize);
    (sources, observed, config, account).prop_map(
        |(
            (functions, s3_sources, gaps),
            (log_groups, buckets, home_policy, eu_policy),
            (home_fwd, eu_fwd, guarded_groups, guarded_buckets, exclude, cap, protect, eu_pass),
            (account_mode, account_policies),
        )| {
            let mut estate = Estate::new();
            if eu_pass {
                estate = estate.reconcile(EU);
            }
            estate.observed.policies.clear();
            estate.routing.forwarders.clear();
            for (region, usable, policy) in [(HOME, home_fwd, home_policy), (EU, eu_fwd, eu_policy)]
            {
                if usable {
                    estate = estate.forwarder(region).policy_state(region, policy);
                } else {
                    estate = estate.no_forwarder(region);
                }
            }
            for (i, name) in GROUPS.iter().enumerate() {
                if functions[i] {
                    estate = estate.function(name.trim_start_matches("/aws/lambda/"));
                }
                if let Some(state) = log_groups[i].clone() {
                    estate = estate.log_group_state(name, state);
                }
                if guarded_groups[i] {
                    estate = estate.guard_log_group(name);
                }
            }
            for (bucket, prefix, source) in s3_sources {
                estate.discovery.sources.push(LogSource {
                    service: Service::S3AccessLogs,
                    resource_arn: format!("arn:aws:s3:::source-{source}"),
                    location: Location::S3 {
                        bucket: BucketName::new(BUCKETS[bucket]),
                        prefix: PREFIXES[prefix].into(),
                    },
                });
            }
            for (i, (region, resolves, state)) in buckets.into_iter().enumerate() {
                let name = BucketName::new(BUCKETS[i]);
                if resolves {
                    estate
                        .routing
                        .bucket_regions
                        .insert(name.clone(), Region::new(REGIONS[region]));
                } else {
                    estate
                        .routing
                        .unresolved_buckets
                        .insert(name.clone(), "GetBucketLocation: AccessDenied".into());
                }
                if let Some(state) = state {
                    estate.observed.buckets.insert(name.clone(), state);
                }
                if guarded_buckets[i] {
                    estate.selection.guarded_buckets.insert(name);
                }
            }
            estate.discovery.gaps = gaps;
            match exclude {
                0 => {}
                1 => estate.selection.exclude_log_groups = vec!["/aws/lambda/web".into()],
                _ => estate.selection.exclude_buckets = vec!["cdn-*".into()],
            }
            if account_mode {
                estate = estate.account_mode(arb_account_policies(account_policies));
            }
            estate.policy.max_deletes_per_pass = cap;
            if protect {
                estate.policy.protect = vec!["access-*".into(), "/aws/lambda/jobs".into()];
            }
            estate
        },
    )
}

/// The region's account policies, by case: none, ours (current or stale), another's to the
/// forwarder, a foreign one, or unreadable.
fn arb_account_policies(case: usize) -> AccountPolicies {
    let policy = |name: &str, destination: String, excluded: &[&str]| AccountPolicy {
        name: name.into(),
        destination_arn: destination,
        pattern: String::new(),
        selection: AccountSelection::AllBut(
            excluded.iter().map(|g| LogGroupName::new(*g)).collect(),
        ),
    };
    let found = |policies| AccountPolicies::Found { policies };
    match case {
        0 => found(vec![]),
        1 => found(vec![policy(
            OUR_FILTER,
            fwd(HOME).to_string(),
            &["/aws/lambda/old"],
        )]),
        2 => found(vec![policy("datadog", fwd(HOME).to_string(), &[GROUPS[0]])]),
        3 => found(vec![policy("siem", KINESIS.into(), &[])]),
        4 => AccountPolicies::Unreadable {
            detail: "AccessDeniedException".into(),
        },
        _ => AccountPolicies::NotRead,
    }
}

/// A deterministic shuffle driven by `seed` (xorshift), so failures replay.
fn shuffle<T>(items: &mut [T], mut seed: u64) {
    for i in (1..items.len()).rev() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        items.swap(i, (seed % (i as u64 + 1)) as usize);
    }
}

/// S3 changes as anyone might pass them, ours or not, to check `rewrite_notifications` alone.
fn arb_s3_change() -> impl Strategy<Value = Change> {
    let ids = [
        "autosub-",
        "autosub-AWSLogs/",
        "autosub-cf/",
        "datadog",
        "audit",
        "",
    ];
    (
        prop_oneof![
            Just(Action::Create),
            Just(Action::Update),
            Just(Action::Delete)
        ],
        0..ids.len(),
        0..PREFIXES.len(),
        0..4usize,
    )
        .prop_map(move |(action, id, prefix, target)| Change {
            action,
            trigger: Trigger::S3Notification {
                bucket: BucketName::new("b"),
                region: Region::new(HOME),
                id: ids[id].into(),
                prefix: PREFIXES[prefix].into(),
                destination: lambda_targets()[target].clone(),
            },
            reason: ChangeReason::NoSource,
            after: None,
        })
}

fn not_ours(config: &NotificationConfig, policy: &PlanPolicy) -> Vec<NotificationEntry> {
    config
        .entries
        .iter()
        .filter(|e| !is_ours(e, &policy.notification_id_prefix))
        .cloned()
        .collect()
}

proptest! {
    /// Only ours are updated or deleted, and every rewrite keeps the others as read, in order.
    #[test]
    fn foreign_and_adopted_triggers_are_never_touched(estate in arb_estate()) {
        let plan = estate.plan();
        let p = &estate.policy;
        for change in plan.changes.iter().filter(|c| c.action != Action::Create) {
            match &change.trigger {
                Trigger::SubscriptionFilter { log_group, filter_name, .. } => {
                    prop_assert_eq!(filter_name, &p.filter_name);
                    let Some(LogGroupState::Found { filters, .. }) = estate.observed.log_groups.get(log_group) else {
                        panic!("{change:?} on a log group that was not found");
                    };
                    prop_assert!(filters.iter().any(|f| &f.name == filter_name), "{change:?}");
                }
                Trigger::S3Notification { bucket, id, .. } => {
                    let Some(BucketState::Found { config, .. }) = estate.observed.buckets.get(bucket) else {
                        panic!("{change:?} on a bucket that was not found");
                    };
                    let target = config.entries.iter().find(|e| e.id.as_deref() == Some(id.as_str()));
                    prop_assert!(target.is_some_and(|e| is_ours(e, &p.notification_id_prefix)), "{change:?}");
                }
                Trigger::InvokePermission { permission, .. } => {
                    prop_assert!(permission.statement_id.starts_with(&p.statement_id_prefix));
                }
                Trigger::AccountPolicy { policy } => {
                    prop_assert_eq!(&policy.name, &p.filter_name);
                }
            }
        }
        for (bucket, state) in &estate.observed.buckets {
            let BucketState::Found { config, .. } = state else { continue };
            let changes: Vec<&Change> = plan.changes.iter().filter(|c| {
                matches!(&c.trigger, Trigger::S3Notification { bucket: b, .. } if b == bucket)
            }).collect();
            let (next, _) = rewrite_notifications(config, &changes, p);
            prop_assert_eq!(not_ours(&next, p), not_ours(config, p));
            prop_assert_eq!(next.event_bridge, config.event_bridge);
        }
    }

    /// Whatever changes it is given, a rewrite keeps every entry that is not ours.
    #[test]
    fn rewrites_keep_every_other_entry_in_place(
        entries in arb_entries(),
        changes in vec(arb_s3_change(), 0..4),
    ) {
        let p = policy();
        let config = NotificationConfig { entries, event_bridge: true };
        let refs: Vec<&Change> = changes.iter().collect();
        let (next, conflicts) = rewrite_notifications(&config, &refs, &p);
        prop_assert_eq!(not_ours(&next, &p), not_ours(&config, &p));
        prop_assert!(next.event_bridge);
        prop_assert_eq!(conflicts.len(), changes.len());
    }

    /// With any gap in discovery, nothing at all is deleted.
    #[test]
    fn nothing_a_gapped_service_could_desire_is_deleted(estate in arb_estate(), service in 0..Service::ALL.len()) {
        let service = Service::ALL[service];
        let plan = estate.gap_in(service, "throttled").plan();
        for change in plan.changes.iter().filter(|c| c.action == Action::Delete) {
            let log_kind = match &change.trigger {
                Trigger::SubscriptionFilter { .. } | Trigger::AccountPolicy { .. } => true,
                Trigger::S3Notification { .. } => false,
                Trigger::InvokePermission { permission, .. } => permission.invoker == Invoker::Logs,
            };
            let held = if log_kind { service.writes_log_groups() } else { service.writes_buckets() };
            prop_assert!(!held, "{service} gap, yet {change:?}");
        }
    }

    /// Applying the plan and planning again gives no changes; each bucket's changes are adjacent,
    /// as the applier writes a bucket once per run of its changes.
    #[test]
    fn planning_after_apply_changes_nothing(estate in arb_estate()) {
        let estate = estate.with(|p| p.max_deletes_per_pass = 1000);
        let desired = estate.desired();
        let first = plan(&desired, &estate.observed, &estate.policy);
        let mut seen = Vec::<&BucketName>::new();
        for change in &first.changes {
            if let Trigger::S3Notification { bucket, .. } = &change.trigger
                && seen.last() != Some(&bucket)
            {
                prop_assert!(!seen.contains(&bucket), "changes of {bucket} are split");
                seen.push(bucket);
            }
        }
        let applied = apply(&estate.observed, &first, &estate.policy);
        let again = plan(&desired, &applied, &estate.policy);
        prop_assert!(
            again.is_empty(),
            "first:\n{}\nagain:\n{}",
            render::plan_text("first", &first),
            render::plan_text("again", &again)
        );
    }

    /// The same inputs give the same bytes, whatever order discovery and policies came in.
    #[test]
    fn plans_are_deterministic(estate in arb_estate(), seed in any::<u64>()) {
        let json = render::plan_json(&estate.plan());
        prop_assert_eq!(&render::plan_json(&estate.plan()), &json);

        let mut shuffled = estate.clone();
        shuffle(&mut shuffled.discovery.sources, seed);
        shuffle(&mut shuffled.discovery.gaps, seed.rotate_left(7));
        for state in shuffled.observed.policies.values_mut() {
            if let PolicyState::Found { statements } = state {
                shuffle(statements, seed.rotate_left(13));
            }
        }
        for state in shuffled.observed.log_groups.values_mut() {
            if let LogGroupState::Found { filters, .. } = state {
                shuffle(filters, seed.rotate_left(17));
            }
        }
        prop_assert_eq!(&render::plan_json(&shuffled.plan()), &json);

        // Source order does not matter to desire even before normalizing.
        let mut sources_only = estate.clone();
        shuffle(&mut sources_only.discovery.sources, seed);
        let unsorted = |e: &Estate| {
            let mut d = e.discovery.clone();
            d.gaps = e.discovery.clone().normalize().gaps;
            plan(&e.desired_of(&d), &e.observed, &e.policy)
        };
        prop_assert_eq!(render::plan_json(&unsorted(&sources_only)), json);
    }

    /// A guarded log group or bucket never gets a trigger created, whatever else is true.
    #[test]
    fn loop_guards_hold(estate in arb_estate()) {
        let plan = estate.plan();
        for change in plan.changes.iter().filter(|c| c.action == Action::Create) {
            match &change.trigger {
                Trigger::SubscriptionFilter { log_group, .. } => {
                    prop_assert!(!estate.selection.guarded_log_groups.contains(log_group), "{change:?}");
                }
                Trigger::S3Notification { bucket, .. } => {
                    prop_assert!(!estate.selection.guarded_buckets.contains(bucket), "{change:?}");
                }
                Trigger::InvokePermission { .. } => {}
                Trigger::AccountPolicy { policy } => {
                    for guarded in &estate.selection.guarded_log_groups {
                        prop_assert!(!policy.selects(guarded), "{guarded} in {change:?}");
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Incremental audits (design §4 rule 9)
// ---------------------------------------------------------------------------------------------

/// An incremental pass at `at` that trusts `groups` unread.
fn trusting(mut estate: Estate, groups: &[&str], at: u64) -> Estate {
    estate.observed.coverage = crate::observed::Coverage {
        at,
        full: false,
        trusted_log_groups: groups.iter().map(|g| LogGroupName::new(*g)).collect(),
        ..crate::observed::Coverage::default()
    };
    estate
}

#[test]
fn a_satisfied_location_is_verified_and_then_trusted_unread() {
    let api = group("api");
    let dd = group("dd");
    let home = fwd(HOME).to_string();
    let mut estate = Estate::new()
        .function("api")
        .function("dd")
        .log_group(&api, vec![ours(&home)])
        .log_group(&dd, vec![filter(DD_FILTER, &home)]);
    estate.observed.coverage.at = 100;
    let first = estate.plan();
    assert!(first.is_empty(), "{:#?}", first.changes);
    let want = crate::ledger::want_log_group(&home, "");
    for g in [&api, &dd] {
        let v = &first.ledger.verified[&format!("log-group:{g}")];
        assert_eq!((v.want.as_str(), v.seen_at), (want.as_str(), 100), "{g}");
    }
    assert_eq!(first.ledger.last_pass_at, Some(100));

    // The next pass trusts both: nothing read, nothing planned, nothing skipped, and the ledger
    // keeps our filter and both verified records as they were.
    let mut next = trusting(
        Estate::new().function("api").function("dd"),
        &[&api, &dd],
        200,
    );
    next.observed.ledger = first.ledger.clone();
    let second = next.plan();
    assert_eq!(summary(&second), Vec::<String>::new());
    assert_eq!(second.ledger.triggers, first.ledger.triggers);
    assert_eq!(second.ledger.verified, first.ledger.verified);
    assert_eq!(second.ledger.last_pass_at, Some(200));
}

#[test]
fn a_trusted_location_still_needs_its_permission() {
    let api = group("api");
    // The forwarder's policy lost the logs statement: a trusted group still relies on it.
    let estate = trusting(
        Estate::new()
            .function("api")
            .statements(HOME, vec![template_s3()]),
        &[&api],
        200,
    );
    assert_eq!(
        summary(&estate.plan()),
        [format!(
            "create fwd@{HOME} (autosub-logs-{ACCOUNT}) -> logs.amazonaws.com"
        )]
    );
}

#[test]
fn only_a_full_audit_removes_a_statement_nothing_seems_to_use() {
    let unused = Estate::new().statements(
        HOME,
        vec![template_s3(), our_statement(Invoker::Logs, HOME)],
    );
    let full = unused.plan();
    assert_eq!(full.count(Action::Delete), 1, "{:#?}", full.changes);
    let partial = trusting(unused, &[], 200).plan();
    assert!(partial.is_empty(), "{:#?}", partial.changes);
    assert!(
        skip_detail(&partial, SkipReason::PartialSweep).contains("--full-audit"),
        "{:#?}",
        partial.skips
    );
}

// ---------------------------------------------------------------------------------------------
// Account-policy mode
// ---------------------------------------------------------------------------------------------

/// Our account policy for the home forwarder, excluding `excluded`.
fn our_account_policy(excluded: &[&str]) -> AccountPolicy {
    AccountPolicy {
        name: OUR_FILTER.into(),
        destination_arn: fwd(HOME).to_string(),
        pattern: String::new(),
        selection: AccountSelection::AllBut(
            excluded.iter().map(|g| LogGroupName::new(*g)).collect(),
        ),
    }
}

fn found(policies: Vec<AccountPolicy>) -> AccountPolicies {
    AccountPolicies::Found { policies }
}

/// Two functions whose groups carry our filter, a guarded forwarder group, one foreign filter.
fn per_group_estate() -> Estate {
    Estate::new()
        .function("api")
        .function("jobs")
        .log_group(&group("api"), vec![ours(&fwd(HOME).to_string())])
        .log_group(
            &group("jobs"),
            vec![ours(&fwd(HOME).to_string()), filter("siem", KINESIS)],
        )
        .log_group("/aws/lambda/datadog-forwarder", vec![])
        .guard_log_group("/aws/lambda/datadog-forwarder")
}

#[test]
fn switching_to_the_account_policy_puts_it_before_deleting_the_filters_it_replaces() {
    let estate = per_group_estate().account_mode(found(vec![]));
    let plan = estate.plan();
    assert_eq!(
        summary(&plan),
        [
            "create account-policy:autosub -> fwd@us-east-1",
            "delete log-group:/aws/lambda/api -> fwd@us-east-1",
            "delete log-group:/aws/lambda/jobs -> fwd@us-east-1",
        ]
    );
    let Trigger::AccountPolicy { policy } = &plan.changes[0].trigger else {
        panic!("{:?}", plan.changes[0]);
    };
    assert_eq!(
        policy,
        &our_account_policy(&["/aws/lambda/datadog-forwarder"])
    );
    for delete in &plan.changes[1..] {
        assert_eq!(delete.after.as_deref(), Some("account-policy:autosub"));
        assert!(
            delete.reason.to_string().contains("every event twice"),
            "{}",
            delete.reason
        );
    }
    // Applied, the region plans nothing; the foreign filter is still there.
    let desired = estate.desired();
    let applied = apply(&estate.observed, &plan, &estate.policy);
    assert_eq!(plan_of(&desired, &applied, &estate).changes, vec![]);
    let Some(LogGroupState::Found { filters, .. }) =
        applied.log_groups.get(&LogGroupName::new(group("jobs")))
    else {
        panic!("jobs was read");
    };
    assert_eq!(filters, &vec![filter("siem", KINESIS)]);
}

fn plan_of(desired: &Desired, observed: &Observed, estate: &Estate) -> Plan {
    plan(desired, observed, &estate.policy)
}

#[test]
fn our_policy_is_updated_when_the_exclusions_or_the_forwarder_change() {
    let stale = our_account_policy(&["/aws/lambda/gone"]);
    let plan = per_group_estate().account_mode(found(vec![stale])).plan();
    let update = &plan.changes[0];
    assert_eq!(update.action, Action::Update);
    assert!(
        update
            .reason
            .to_string()
            .contains("1 log group(s) to exclude, 1 no longer excluded"),
        "{}",
        update.reason
    );
}

#[test]
fn leaving_account_policy_mode_creates_the_filters_before_deleting_the_policy() {
    let mut estate = Estate::new()
        .function("api")
        .log_group(&group("api"), vec![]);
    let ours = our_account_policy(&[]);
    estate.observed.account_policies = found(vec![ours.clone()]);
    estate.observed.ledger.track(
        &Trigger::AccountPolicy { policy: ours },
        0,
        1,
        &Default::default(),
    );
    assert_eq!(
        summary(&estate.plan()),
        [
            "create log-group:/aws/lambda/api -> fwd@us-east-1",
            "delete account-policy:autosub -> fwd@us-east-1",
        ]
    );
}

#[test]
fn a_foreign_account_policy_leaves_the_groups_to_their_own_filters() {
    let siem = AccountPolicy {
        name: "siem".into(),
        destination_arn: KINESIS.into(),
        pattern: String::new(),
        selection: AccountSelection::AllBut(Default::default()),
    };
    let estate = Estate::new()
        .function("api")
        .log_group(&group("api"), vec![])
        .account_mode(found(vec![siem]));
    assert_eq!(
        summary(&estate.plan()),
        [
            "create log-group:/aws/lambda/api -> fwd@us-east-1",
            "skip account_policy_taken account-policy:autosub",
        ]
    );
}

#[test]
fn another_policy_to_the_forwarder_is_adopted_and_never_touched() {
    let datadog = AccountPolicy {
        name: "datadog".into(),
        destination_arn: fwd(HOME).to_string(),
        pattern: String::new(),
        selection: AccountSelection::AllBut([LogGroupName::new(group("jobs"))].into()),
    };
    let estate = per_group_estate().account_mode(found(vec![datadog]));
    // api is delivered by the adopted policy; jobs, which it excludes, keeps our filter.
    assert_eq!(
        summary(&estate.plan()),
        ["delete log-group:/aws/lambda/api -> fwd@us-east-1"]
    );
    assert_eq!(
        estate.plan().changes[0].after,
        None,
        "nothing of ours to wait for"
    );
}

#[test]
fn our_statement_on_a_former_forwarder_goes_once_nothing_of_ours_points_there() {
    let old = FunctionArn::parse(&lambda("old-forwarder")).unwrap();
    let mut estate = Estate::new()
        .function("api")
        .log_group(&group("api"), vec![ours(&fwd(HOME).to_string())]);
    estate.observed.policies.insert(
        old.clone(),
        PolicyState::Found {
            statements: vec![our_statement(Invoker::Logs, HOME)],
        },
    );
    let plan = estate.plan();
    let deletes: Vec<String> = plan
        .changes
        .iter()
        .filter(|c| c.action == Action::Delete)
        .map(|c| c.trigger.resource())
        .collect();
    assert_eq!(deletes, [format!("{old} (autosub-logs-{ACCOUNT})")]);

    // While a filter of ours still delivers there (the ledger says autosub made it), it stays.
    let estate = estate
        .log_group(&group("api"), vec![ours(&old.to_string())])
        .created(filter_trigger(&group("api"), &old.to_string()));
    let plan = estate.plan();
    let order: Vec<String> = plan
        .changes
        .iter()
        .map(|c| format!("{} {}", c.action, c.trigger.resource()))
        .collect();
    assert_eq!(
        order,
        [
            "update log-group:/aws/lambda/api".to_owned(),
            format!("delete {old} (autosub-logs-{ACCOUNT})"),
        ],
        "moved first, then the old grant goes"
    );
}

#[test]
fn a_trigger_put_waits_for_the_permission_created_in_the_same_plan() {
    let plan = Estate::new()
        .statements(HOME, vec![])
        .function("api")
        .log_group(&group("api"), vec![])
        .plan();
    let logs_sid = format!("{} (autosub-logs-{ACCOUNT})", fwd(HOME));
    assert_eq!(plan.changes[0].trigger.resource(), logs_sid);
    assert_eq!(plan.changes[1].after.as_deref(), Some(logs_sid.as_str()));
    // With the permission in place, nothing to wait for.
    let plan = Estate::new()
        .function("api")
        .log_group(&group("api"), vec![])
        .plan();
    assert_eq!(plan.changes[0].after, None);
}
