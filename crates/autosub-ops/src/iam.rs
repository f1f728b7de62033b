//! The least-privilege IAM policy for what the configuration enables: each enabled service's
//! discovery reads, from the service registry (`Service::spec`; tag reads only when a tag filter
//! needs them), and the trigger backends' reads and writes,
//! scoped to the forwarders where IAM allows it; with Datadog events on, reading the API key
//! secret that `DD_API_KEY_SECRET_ARN` names, and nothing of Secrets Manager otherwise.
//!
//! Resources in the caller's own account (log groups, forwarders named by function name, the
//! ledger and lease tables, a secret named by name) are pinned to `${aws:PrincipalAccount}`
//! instead of any account. Three conditions narrow what a resource cannot:
//! `lambda:Principal` on AddPermission/RemovePermission (only the service principals autosub
//! grants), and, with `[fleet.organizations]`, `aws:ResourceOrgID` on assuming a role in an
//! account found at run time (only roles inside the caller's own organisation). With
//! `[events] queue_url`, the process's own credentials follow that one queue.

use std::collections::{BTreeMap, BTreeSet};

use autosub_config::{ALL_REGIONS, Config, ForwarderRef, LedgerLocation, QueueUrl};
use autosub_core::selection::ResourceFilter;
use autosub_core::{Invoker, Partition, Region, SecretArn, Service};
use serde_json::{Value, json};

use crate::telemetry::{API_KEY_SECRET_ARN_ENV, ApiKeySource};

/// Actions of the S3 notification backend (HeadBucket is `s3:ListBucket`).
const S3_NOTIFICATION_ACTIONS: &[&str] = &[
    "s3:GetBucketNotification",
    "s3:ListAllMyBuckets",
    "s3:ListBucket",
    "s3:PutBucketNotification",
];

/// Actions of the subscription filter backend. DescribeAccountPolicies is read in either mode:
/// an account-level policy to the forwarder already delivers the log groups it selects.
const SUBSCRIPTION_FILTER_ACTIONS: &[&str] = &[
    "logs:DeleteSubscriptionFilter",
    "logs:DescribeAccountPolicies",
    "logs:DescribeLogGroups",
    "logs:DescribeSubscriptionFilters",
    "logs:PutSubscriptionFilter",
];

/// Writes of the account-level subscription filter policy (`[account_policy]`); CloudWatch
/// Logs also checks `logs:PutSubscriptionFilter` when such a policy is put.
const ACCOUNT_POLICY_ACTIONS: &[&str] = &["logs:DeleteAccountPolicy", "logs:PutAccountPolicy"];

/// Reads of the invoke permission backend, on the forwarders only. GetFunctionConfiguration
/// tells "no policy" from "no function" when GetPolicy answers not-found.
const PERMISSION_READ_ACTIONS: &[&str] = &["lambda:GetFunctionConfiguration", "lambda:GetPolicy"];

/// Writes of the invoke permission backend, on the forwarders only and for the invokers'
/// service principals only (`lambda:Principal`, which the Service Authorization Reference lists
/// for both actions; GetPolicy's request has no principal, so the reads are a statement apart).
const PERMISSION_WRITE_ACTIONS: &[&str] = &["lambda:AddPermission", "lambda:RemovePermission"];

/// Every service principal autosub adds (and removes) invoke permissions for. All of them, not
/// only the enabled services': a statement of ours for a service turned off is still removed.
const INVOKERS: [Invoker; 2] = [Invoker::Logs, Invoker::S3];

/// The caller's own account, as an IAM policy variable (always in the request context).
const OWN_ACCOUNT: &str = "${aws:PrincipalAccount}";

/// Actions of the Organizations account discovery (`[fleet.organizations]`).
const ORGANIZATIONS_ACTIONS: &[&str] = &[
    "organizations:DescribeOrganization",
    "organizations:ListAccounts",
    "organizations:ListAccountsForParent",
    "organizations:ListChildren",
    "organizations:ListTagsForResource",
];

/// Actions of the target lease (`[lease]`): a conditional UpdateItem takes or renews a lease,
/// GetItem reads who holds it.
const LEASE_ACTIONS: &[&str] = &["dynamodb:GetItem", "dynamodb:UpdateItem"];

/// Actions of following the events queue (`[events]`): long-polled receives, deletes after the
/// targeted pass (DeleteMessageBatch is `sqs:DeleteMessage`), and handing a message back
/// (visibility 0) so that the redrive policy dead-letters what cannot be read.
const EVENTS_QUEUE_ACTIONS: &[&str] = &[
    "sqs:ChangeMessageVisibility",
    "sqs:DeleteMessage",
    "sqs:ReceiveMessage",
];

/// The role a policy is for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Role {
    /// One role that does everything: the member and the central statements together, for a
    /// process that reconciles the account its credentials belong to.
    #[default]
    Single,
    /// The role assumed in every reconciled account: discovery and the trigger backends.
    Member,
    /// The role the process runs as in a fleet: ledger, lease, secret, assuming the member
    /// roles and, with `[fleet.organizations]`, listing the accounts.
    Central,
}

/// The policy document for `config`, or for every service when `all_services` is set: the
/// single role, byte for byte what it was before fleets for a configuration without one.
pub fn policy(config: &Config, all_services: bool) -> Value {
    policy_for(config, Role::Single, all_services)
}

/// The policy document of `role` for `config`, with the API key secret this process's
/// environment names (`DD_API_KEY_SECRET_ARN` when `DD_API_KEY` is not set, as `autosub run`
/// reads it). See [`policy_with`].
pub fn policy_for(config: &Config, role: Role, all_services: bool) -> Value {
    let secret = api_key_secret(|name| std::env::var(name).ok());
    policy_with(config, role, all_services, secret.as_deref())
}

/// The policy document of `role` for `config`. `all_services` grants every discoverer and,
/// for the member role, finding the enabled regions whatever `aws.regions` says, so that one
/// member role (a StackSet's) serves any configuration. `api_key_secret` (an ARN or a name) is
/// granted GetSecretValue when Datadog events are on; without one nothing of Secrets Manager is.
pub fn policy_with(
    config: &Config,
    role: Role,
    all_services: bool,
    api_key_secret: Option<&str>,
) -> Value {
    let mut statements = Vec::new();
    if role != Role::Central {
        statements.extend(member_statements(
            config,
            all_services,
            role == Role::Member && all_services,
        ));
    }
    if role != Role::Member {
        statements.extend(central_statements(config, api_key_secret));
    }
    json!({ "Version": "2012-10-17", "Statement": statements })
}

/// The secret `autosub run` would read the API key from, given its environment (`get`): the
/// value of `DD_API_KEY_SECRET_ARN` unless `DD_API_KEY` is set; a value that is no ARN is taken
/// as a secret name.
pub fn api_key_secret(get: impl Fn(&str) -> Option<String>) -> Option<String> {
    match ApiKeySource::from_env(&get) {
        Ok(Some(ApiKeySource::Secret(arn))) => Some(arn.to_string()),
        Ok(Some(ApiKeySource::Env(_)) | None) => None,
        Err(_) => get(API_KEY_SECRET_ARN_ENV).map(|v| v.trim().to_owned()),
    }
}

/// What a reconciled account grants: the enabled services' discovery reads, the trigger backends, and
/// `ec2:DescribeRegions` when a region list is `["all"]` (or `any_region_list`).
fn member_statements(config: &Config, all_services: bool, any_region_list: bool) -> Vec<Value> {
    let filters: BTreeMap<Service, ResourceFilter> = if all_services {
        Service::ALL
            .into_iter()
            .map(|s| (s, ResourceFilter::default()))
            .collect()
    } else {
        config.services.enabled()
    };
    let mut statements = Vec::new();
    for (service, filter) in &filters {
        let spec = service.spec();
        let mut actions: BTreeSet<&str> = spec.iam_actions.iter().copied().collect();
        if filter.needs_tags() {
            actions.extend(spec.tag_actions);
        }
        statements.push(statement(
            &format!("Discover{}", pascal(service.as_str())),
            &actions,
            &["*".to_owned()],
        ));
    }
    let arns = |f: &dyn Fn(&str) -> String| -> Vec<String> {
        partitions(config).iter().map(|p| f(p.as_str())).collect()
    };
    statements.push(statement(
        "ManageS3Notifications",
        &S3_NOTIFICATION_ACTIONS.iter().copied().collect(),
        &["*".to_owned()],
    ));
    let (describe, write): (BTreeSet<&str>, BTreeSet<&str>) = SUBSCRIPTION_FILTER_ACTIONS
        .iter()
        .partition(|a| a.starts_with("logs:Describe"));
    statements.push(statement(
        "ReadSubscriptionFilters",
        &describe,
        &["*".to_owned()],
    ));
    // Subscription filters are put on the reconciled account's own log groups, with its own
    // credentials (the member role, or the process's for its own account).
    statements.push(statement(
        "ManageSubscriptionFilters",
        &write,
        &arns(&|p| format!("arn:{p}:logs:*:{OWN_ACCOUNT}:log-group:*")),
    ));
    if config.account_policy.enabled {
        // Account policies have no resource ARN of their own.
        statements.push(statement(
            "ManageAccountPolicy",
            &ACCOUNT_POLICY_ACTIONS.iter().copied().collect(),
            &["*".to_owned()],
        ));
    }
    let forwarders = forwarder_arns(config);
    statements.push(statement(
        "ReadForwarderPolicies",
        &PERMISSION_READ_ACTIONS.iter().copied().collect(),
        &forwarders,
    ));
    let principals: Vec<&str> = INVOKERS.iter().map(|i| i.principal()).collect();
    statements.push(conditional(
        statement(
            "ManageForwarderPermissions",
            &PERMISSION_WRITE_ACTIONS.iter().copied().collect(),
            &forwarders,
        ),
        json!({ "StringEquals": { "lambda:Principal": principals } }),
    ));
    if any_region_list || lists_all_regions(config) {
        // DescribeRegions has no resource-level permissions.
        statements.push(statement(
            "FindEnabledRegions",
            &BTreeSet::from(["ec2:DescribeRegions"]),
            &["*".to_owned()],
        ));
    }
    statements
}

/// What the process's own credentials need beyond the member statements: assuming the member
/// roles, listing the organisation's accounts, the ledger, the lease and the API key secret.
fn central_statements(config: &Config, api_key_secret: Option<&str>) -> Vec<Value> {
    let mut statements = Vec::new();
    let fleet = &config.fleet;
    let listed = listed_member_role_arns(config);
    if !listed.is_empty() {
        statements.push(statement(
            "AssumeMemberRoles",
            &BTreeSet::from(["sts:AssumeRole"]),
            &listed,
        ));
    }
    if fleet.organizations.is_some() {
        // Organizations finds the accounts at run time: the role name in any account, but only
        // in an account of the caller's own organisation.
        let name = &fleet.role_name;
        statements.push(conditional(
            statement(
                "AssumeOrganizationMemberRoles",
                &BTreeSet::from(["sts:AssumeRole"]),
                &partitions(config)
                    .iter()
                    .map(|p| format!("arn:{}:iam::*:role/{name}", p.as_str()))
                    .collect::<Vec<_>>(),
            ),
            json!({ "StringEquals": { "aws:ResourceOrgID": "${aws:PrincipalOrgID}" } }),
        ));
        // ListAccounts and DescribeOrganization have no resource-level permissions, and the
        // others' resources (the organisation's roots and OUs) embed an organisation id the
        // configuration does not know.
        statements.push(statement(
            "DiscoverOrganizationAccounts",
            &ORGANIZATIONS_ACTIONS.iter().copied().collect(),
            &["*".to_owned()],
        ));
    }
    statements.extend(ledger_statements(config));
    if let Some(table) = &config.lease.table {
        let region = home_region(config);
        let p = partition_of_home(config);
        statements.push(statement(
            "HoldTargetLeases",
            &LEASE_ACTIONS.iter().copied().collect(),
            &[format!(
                "arn:{p}:dynamodb:{region}:{OWN_ACCOUNT}:table/{table}"
            )],
        ));
    }
    if let Some(queue) = &config.events.queue {
        statements.push(statement(
            "FollowEvents",
            &EVENTS_QUEUE_ACTIONS.iter().copied().collect(),
            &[queue_arn(config, queue)],
        ));
    }
    if config.datadog.telemetry.events
        && let Some(secret) = api_key_secret
    {
        statements.push(statement(
            "ReadDatadogApiKeySecret",
            &BTreeSet::from(["secretsmanager:GetSecretValue"]),
            &[secret_resource(config, secret)],
        ));
    }
    statements
}

/// The Resource that grants reading `secret`, an ARN or a name. Secrets Manager appends `-` and
/// six random characters to every secret's name in its ARN, and takes an ARN whose name ends in
/// `-` and six characters as complete: such an ARN is granted as it is; a partial ARN (without
/// the suffix) or a name (in the caller's own account and the home region, where a name is
/// looked up) gets the suffix as `-??????`.
fn secret_resource(config: &Config, secret: &str) -> String {
    match SecretArn::parse(secret) {
        Ok(arn) => {
            let name = arn.as_str().splitn(7, ':').nth(6).unwrap_or_default();
            let complete = name.rsplit_once('-').is_some_and(|(_, suffix)| {
                suffix.len() == 6 && suffix.chars().all(|c| c.is_ascii_alphanumeric())
            });
            if complete {
                arn.to_string()
            } else {
                format!("{arn}-??????")
            }
        }
        Err(_) => format!(
            "arn:{}:secretsmanager:{}:{OWN_ACCOUNT}:secret:{}-??????",
            partition_of_home(config),
            home_region(config),
            secret.trim()
        ),
    }
}

/// The ARN of the events queue: its own account, region and name. A URL without a region (an
/// emulator's) is taken to be in the home region, where the process reads it.
fn queue_arn(config: &Config, queue: &QueueUrl) -> String {
    let (region, partition) = match &queue.region {
        Some(region) => (region.to_string(), Partition::of(region).as_str()),
        None => (home_region(config), partition_of_home(config)),
    };
    format!(
        "arn:{partition}:sqs:{region}:{}:{}",
        queue.account, queue.name
    )
}

/// The roles of the accounts listed by hand: each one's `role_arn`, else `fleet.role_name` in
/// it. Listed accounts may be outside the organisation, so they carry no organisation condition.
fn listed_member_role_arns(config: &Config) -> Vec<String> {
    let fleet = &config.fleet;
    let name = &fleet.role_name;
    let mut arns = BTreeSet::new();
    for p in partitions(config) {
        for account in fleet.accounts.iter().filter(|a| a.role_arn.is_none()) {
            arns.insert(format!(
                "arn:{}:iam::{}:role/{name}",
                p.as_str(),
                account.id
            ));
        }
    }
    arns.extend(fleet.accounts.iter().filter_map(|a| a.role_arn.clone()));
    arns.into_iter().collect()
}

/// True when `aws.regions` or an account's `regions` is `["all"]`.
pub(crate) fn lists_all_regions(config: &Config) -> bool {
    let all = |regions: &[String]| regions.iter().any(|r| r == ALL_REGIONS);
    all(&config.aws.regions)
        || config
            .fleet
            .accounts
            .iter()
            .any(|a| a.regions.as_deref().is_some_and(all))
}

/// The partitions of the configured regions (`aws` when none is named).
fn partitions(config: &Config) -> BTreeSet<Partition> {
    let account_regions = config
        .fleet
        .accounts
        .iter()
        .flat_map(|a| a.regions.iter().flatten());
    let found: BTreeSet<Partition> = config
        .aws
        .regions
        .iter()
        .chain(account_regions)
        .filter(|r| *r != ALL_REGIONS)
        .map(|r| Partition::of(&Region::new(r.as_str())))
        .collect();
    if found.is_empty() {
        BTreeSet::from([Partition::Aws])
    } else {
        found
    }
}

/// The region of the ledger's and the lease's tables, as an ARN spells it: the first of
/// `aws.regions`, `us-east-1` when none is listed, and any region (`*`) for `["all"]`, where
/// the process's own region decides at run time.
fn home_region(config: &Config) -> String {
    match config.aws.regions.first().map(String::as_str) {
        Some(ALL_REGIONS) => "*".to_owned(),
        Some(region) => region.to_owned(),
        None => "us-east-1".to_owned(),
    }
}

fn partition_of_home(config: &Config) -> &'static str {
    match home_region(config).as_str() {
        "*" => partitions(config)
            .into_iter()
            .next()
            .unwrap_or(Partition::Aws)
            .as_str(),
        region => Partition::of(&Region::new(region)).as_str(),
    }
}

/// What a ledger kept in S3 or DynamoDB needs; nothing for a file. `s3:ListBucket` makes a
/// ledger that does not exist yet answer 404 instead of 403.
fn ledger_statements(config: &Config) -> Vec<Value> {
    let region = home_region(config);
    let p = partition_of_home(config);
    match &config.ledger.location {
        LedgerLocation::S3 { bucket, key } => vec![
            statement(
                "KeepLedgerInS3",
                &BTreeSet::from(["s3:GetObject", "s3:PutObject"]),
                &[format!("arn:{p}:s3:::{bucket}/{key}")],
            ),
            statement(
                "FindLedgerInS3",
                &BTreeSet::from(["s3:ListBucket"]),
                &[format!("arn:{p}:s3:::{bucket}")],
            ),
        ],
        LedgerLocation::DynamoDb { table } => vec![statement(
            "KeepLedgerInDynamoDb",
            &BTreeSet::from(["dynamodb:BatchWriteItem", "dynamodb:Query"]),
            &[format!(
                "arn:{p}:dynamodb:{region}:{OWN_ACCOUNT}:table/{table}"
            )],
        )],
        LedgerLocation::File(_) | LedgerLocation::None => Vec::new(),
    }
}

fn statement(sid: &str, actions: &BTreeSet<&str>, resources: &[String]) -> Value {
    json!({ "Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources })
}

/// `statement` granted only under `condition` (a policy's `Condition` block).
fn conditional(mut statement: Value, condition: Value) -> Value {
    statement["Condition"] = condition;
    statement
}

/// The configured forwarders as ARNs, fleet accounts' own included; a forwarder given by name
/// is resolved in the reconciled account, whose credentials change its policy: the caller's own
/// account, or the account that names it.
fn forwarder_arns(config: &Config) -> Vec<String> {
    let arn = |region: &Region, fwd: &ForwarderRef, account: &str| match fwd {
        ForwarderRef::Arn(arn) => arn.to_string(),
        ForwarderRef::Name(name) => format!(
            "arn:{}:lambda:{region}:{account}:function:{name}",
            Partition::of(region).as_str()
        ),
    };
    let mut arns: BTreeSet<String> = config
        .forwarders
        .iter()
        .map(|(region, fwd)| arn(region, fwd, OWN_ACCOUNT))
        .collect();
    for account in &config.fleet.accounts {
        arns.extend(
            account
                .forwarders
                .iter()
                .map(|(region, fwd)| arn(region, fwd, &account.id)),
        );
    }
    arns.into_iter().collect()
}

fn pascal(snake: &str) -> String {
    snake
        .split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &str) -> Config {
        let text = format!(
            "[aws]\nregions = [\"us-east-1\"]\n[forwarders]\nus-east-1 = \"datadog-forwarder\"\n{extra}"
        );
        Config::parse(&text, "t.toml").unwrap()
    }

    fn actions(policy: &Value, sid: &str) -> Vec<String> {
        policy["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["Sid"] == sid)
            .map(|s| {
                s["Action"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|a| a.as_str().unwrap().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn the_account_policy_is_granted_only_in_account_policy_mode() {
        let off = policy(&config(""), true);
        assert!(!sids(&off).contains(&"ManageAccountPolicy".to_owned()));
        assert!(
            actions(&off, "ReadSubscriptionFilters")
                .contains(&"logs:DescribeAccountPolicies".to_owned()),
            "account policies are read in either mode"
        );
        let on = policy(&config("[account_policy]\nenabled = true\n"), false);
        assert_eq!(actions(&on, "ManageAccountPolicy"), ACCOUNT_POLICY_ACTIONS);
    }

    #[test]
    fn tag_reads_are_granted_only_when_a_tag_filter_needs_them() {
        let plain = policy(&config(""), false);
        assert_eq!(actions(&plain, "DiscoverLambda"), ["lambda:ListFunctions"]);
        let tagged = policy(
            &config("[services.lambda]\ntags = { logs = \"datadog\" }\n"),
            false,
        );
        assert_eq!(
            actions(&tagged, "DiscoverLambda"),
            ["lambda:ListFunctions", "lambda:ListTags"]
        );
    }

    #[test]
    fn a_remote_ledger_is_granted_on_its_resource_only() {
        assert!(actions(&policy(&config(""), true), "KeepLedgerInDynamoDb").is_empty());
        let p = policy(
            &config("[ledger]\nlocation = \"dynamodb://autosub\"\n"),
            true,
        );
        assert_eq!(
            actions(&p, "KeepLedgerInDynamoDb"),
            ["dynamodb:BatchWriteItem", "dynamodb:Query"]
        );
        let p = policy(
            &config("[ledger]\nlocation = \"s3://ops/autosub/ledger.json\"\n"),
            true,
        );
        let keep = p["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["Sid"] == "KeepLedgerInS3")
            .unwrap();
        assert_eq!(
            keep["Resource"],
            json!(["arn:aws:s3:::ops/autosub/ledger.json"])
        );
    }

    #[test]
    fn disabled_services_get_nothing_and_permissions_are_scoped_to_the_forwarders() {
        let p = policy(&config("[services.lambda]\nenabled = false\n"), false);
        assert!(actions(&p, "DiscoverLambda").is_empty());
        let fwd = p["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["Sid"] == "ManageForwarderPermissions")
            .unwrap();
        assert_eq!(
            fwd["Resource"],
            json!(["arn:aws:lambda:us-east-1:${aws:PrincipalAccount}:function:datadog-forwarder"])
        );
    }

    fn sids(policy: &Value) -> Vec<String> {
        policy["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["Sid"].as_str().unwrap().to_owned())
            .collect()
    }

    fn condition(policy: &Value, sid: &str) -> Value {
        policy["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["Sid"] == sid)
            .map(|s| s["Condition"].clone())
            .unwrap_or(Value::Null)
    }

    fn resources(policy: &Value, sid: &str) -> Value {
        policy["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["Sid"] == sid)
            .map(|s| s["Resource"].clone())
            .unwrap_or(Value::Null)
    }

    const FLEET: &str = "[fleet]\nrole_name = \"autosub-member\"\n\
        [[fleet.accounts]]\nid = \"111111111111\"\n\
        [[fleet.accounts]]\nid = \"222222222222\"\nrole_arn = \"arn:aws:iam::222222222222:role/ops/reconciler\"\n\
        regions = [\"all\"]\nforwarders = { eu-west-1 = \"dd-forwarder\" }\n";

    #[test]
    fn the_single_role_of_a_configuration_without_a_fleet_is_what_it_always_was() {
        let p = policy(&config(""), true);
        assert_eq!(p, policy_for(&config(""), Role::Single, true));
        assert_eq!(
            sids(&p),
            [
                "DiscoverLambda",
                "DiscoverS3AccessLogs",
                "DiscoverCloudfront",
                "DiscoverElbv2",
                "DiscoverElb",
                "DiscoverRedshift",
                "DiscoverStepFunctions",
                "DiscoverWafv2",
                "DiscoverApiGateway",
                "DiscoverCloudtrail",
                "DiscoverVpcFlowLogs",
                "ManageS3Notifications",
                "ReadSubscriptionFilters",
                "ManageSubscriptionFilters",
                "ReadForwarderPolicies",
                "ManageForwarderPermissions",
            ]
        );
    }

    #[test]
    fn the_member_role_reconciles_and_finds_regions_but_holds_nothing_central() {
        let c = config(&format!(
            "{FLEET}[ledger]\nlocation = \"dynamodb://autosub\"\n[lease]\ntable = \"autosub\"\n"
        ));
        let member = policy_for(&c, Role::Member, false);
        let names = sids(&member);
        assert!(names.contains(&"ManageS3Notifications".to_owned()));
        assert_eq!(
            actions(&member, "FindEnabledRegions"),
            ["ec2:DescribeRegions"],
            "an account lists regions = [\"all\"]"
        );
        for central in [
            "AssumeMemberRoles",
            "HoldTargetLeases",
            "KeepLedgerInDynamoDb",
            "DiscoverOrganizationAccounts",
        ] {
            assert!(
                !names.contains(&central.to_owned()),
                "{central} in {names:?}"
            );
        }
        assert_eq!(
            resources(&member, "ManageForwarderPermissions"),
            json!([
                "arn:aws:lambda:eu-west-1:222222222222:function:dd-forwarder",
                "arn:aws:lambda:us-east-1:${aws:PrincipalAccount}:function:datadog-forwarder",
            ]),
            "a forwarder by name is the reconciled account's own, or the account's that names it"
        );
    }

    #[test]
    fn describe_regions_is_granted_for_all_regions_or_for_any_member_with_all() {
        let lacks = |c: &Config, role, all| {
            actions(&policy_for(c, role, all), "FindEnabledRegions").is_empty()
        };
        let listed = config("");
        assert!(lacks(&listed, Role::Member, false));
        assert!(
            lacks(&listed, Role::Single, true),
            "--all leaves the single role as it was"
        );
        assert!(
            !lacks(&listed, Role::Member, true),
            "a StackSet's member role serves any config"
        );
        let all = Config::parse(
            "[aws]\nregions = [\"all\"]\n[forwarders]\nus-east-1 = \"fwd\"\n",
            "t.toml",
        )
        .unwrap();
        assert!(!lacks(&all, Role::Single, false));
        assert!(!lacks(&all, Role::Member, false));
        assert!(
            lacks(&all, Role::Central, true),
            "DescribeRegions runs in the member account"
        );
    }

    #[test]
    fn the_central_role_assumes_exactly_the_member_roles() {
        let c = config(FLEET);
        let central = policy_with(&c, Role::Central, true, None);
        assert_eq!(sids(&central), ["AssumeMemberRoles"]);
        assert_eq!(actions(&central, "AssumeMemberRoles"), ["sts:AssumeRole"]);
        assert_eq!(
            resources(&central, "AssumeMemberRoles"),
            json!([
                "arn:aws:iam::111111111111:role/autosub-member",
                "arn:aws:iam::222222222222:role/ops/reconciler",
            ]),
            "hand-listed accounts: their roles only, no account wildcard"
        );
        let org = config(&format!(
            "{FLEET}[fleet.organizations]\nous = [\"ou-ab12-cdef3456\"]\n"
        ));
        let central = policy_with(&org, Role::Central, false, None);
        assert_eq!(
            resources(&central, "AssumeMemberRoles"),
            json!([
                "arn:aws:iam::111111111111:role/autosub-member",
                "arn:aws:iam::222222222222:role/ops/reconciler",
            ]),
            "listed accounts keep their exact roles: they may be outside the organisation"
        );
        assert_eq!(condition(&central, "AssumeMemberRoles"), Value::Null);
        assert_eq!(
            resources(&central, "AssumeOrganizationMemberRoles"),
            json!(["arn:aws:iam::*:role/autosub-member"]),
            "Organizations finds accounts at run time: the role name in any account"
        );
        assert_eq!(
            condition(&central, "AssumeOrganizationMemberRoles"),
            json!({ "StringEquals": { "aws:ResourceOrgID": "${aws:PrincipalOrgID}" } }),
            "... of the caller's own organisation only"
        );
        assert_eq!(
            actions(&central, "DiscoverOrganizationAccounts"),
            [
                "organizations:DescribeOrganization",
                "organizations:ListAccounts",
                "organizations:ListAccountsForParent",
                "organizations:ListChildren",
                "organizations:ListTagsForResource",
            ]
        );
        assert!(
            !sids(&central).iter().any(|s| s.starts_with("Manage")
                || (s.starts_with("Discover") && s != "DiscoverOrganizationAccounts")),
            "the central role changes nothing in any account: {:?}",
            sids(&central)
        );
    }

    #[test]
    fn the_events_queue_is_followed_with_exactly_three_actions_on_that_queue() {
        let check = |extra: &str, want: Option<&str>| {
            let c = config(extra);
            for role in [Role::Single, Role::Central] {
                let p = policy_with(&c, role, true, None);
                match want {
                    Some(arn) => {
                        assert_eq!(
                            actions(&p, "FollowEvents"),
                            [
                                "sqs:ChangeMessageVisibility",
                                "sqs:DeleteMessage",
                                "sqs:ReceiveMessage",
                            ],
                            "{extra}"
                        );
                        assert_eq!(resources(&p, "FollowEvents"), json!([arn]), "{extra}");
                        assert_eq!(condition(&p, "FollowEvents"), Value::Null);
                    }
                    None => assert!(!sids(&p).contains(&"FollowEvents".to_owned()), "{extra}"),
                }
            }
            let member = policy_with(&c, Role::Member, true, None);
            assert!(
                !sids(&member).contains(&"FollowEvents".to_owned()),
                "the process follows the queue with its own credentials, never a member role's"
            );
        };
        check("", None);
        check(
            "[events]\nqueue_url = \"https://sqs.eu-west-1.amazonaws.com/111111111111/autosub-events\"\n",
            Some("arn:aws:sqs:eu-west-1:111111111111:autosub-events"),
        );
        check(
            "[events]\nqueue_url = \"https://sqs.cn-north-1.amazonaws.com.cn/111111111111/q\"\n",
            Some("arn:aws-cn:sqs:cn-north-1:111111111111:q"),
        );
        check(
            "[events]\nqueue_url = \"http://localhost:5000/123456789012/q\"\n",
            Some("arn:aws:sqs:us-east-1:123456789012:q"),
        );
    }

    #[test]
    fn the_lease_is_granted_on_its_table_with_get_and_update_only() {
        let c = config("[lease]\ntable = \"autosub-lease\"\n");
        for role in [Role::Central, Role::Single] {
            let p = policy_for(&c, role, false);
            assert_eq!(
                actions(&p, "HoldTargetLeases"),
                ["dynamodb:GetItem", "dynamodb:UpdateItem"]
            );
            assert_eq!(
                resources(&p, "HoldTargetLeases"),
                json!(["arn:aws:dynamodb:us-east-1:${aws:PrincipalAccount}:table/autosub-lease"])
            );
        }
        assert!(actions(&policy_for(&c, Role::Member, true), "HoldTargetLeases").is_empty());
        assert!(actions(&policy(&config(""), true), "HoldTargetLeases").is_empty());
        let all = Config::parse(
            "[aws]\nregions = [\"all\"]\n[forwarders]\nus-east-1 = \"fwd\"\n[lease]\ntable = \"autosub\"\n[ledger]\nlocation = \"dynamodb://autosub\"\n",
            "t.toml",
        )
        .unwrap();
        let p = policy_for(&all, Role::Central, false);
        assert_eq!(
            resources(&p, "HoldTargetLeases"),
            json!(["arn:aws:dynamodb:*:${aws:PrincipalAccount}:table/autosub"]),
            "with regions = [\"all\"] the table's region is the process's own, known at run time"
        );
        assert_eq!(
            resources(&p, "KeepLedgerInDynamoDb"),
            json!(["arn:aws:dynamodb:*:${aws:PrincipalAccount}:table/autosub"])
        );
    }

    #[test]
    fn permission_writes_are_limited_to_the_principals_autosub_grants_and_reads_are_apart() {
        let p = policy(&config(""), false);
        assert_eq!(
            actions(&p, "ManageForwarderPermissions"),
            ["lambda:AddPermission", "lambda:RemovePermission"]
        );
        assert_eq!(
            condition(&p, "ManageForwarderPermissions"),
            json!({ "StringEquals": {
                "lambda:Principal": ["logs.amazonaws.com", "s3.amazonaws.com"]
            } }),
            "exactly the principals of the statements autosub adds and removes"
        );
        assert_eq!(
            actions(&p, "ReadForwarderPolicies"),
            ["lambda:GetFunctionConfiguration", "lambda:GetPolicy"]
        );
        assert_eq!(
            condition(&p, "ReadForwarderPolicies"),
            Value::Null,
            "GetPolicy's request has no principal: a lambda:Principal condition would deny it"
        );
        assert_eq!(
            resources(&p, "ReadForwarderPolicies"),
            resources(&p, "ManageForwarderPermissions")
        );
    }

    #[test]
    fn own_account_resources_are_pinned_to_the_callers_account() {
        let c = config(
            "[ledger]\nlocation = \"dynamodb://autosub\"\n[lease]\ntable = \"autosub\"\n\
             [datadog.telemetry]\nevents = true\n",
        );
        let p = policy_with(&c, Role::Single, true, Some("dd-api-key"));
        let mut checked = 0;
        for s in p["Statement"].as_array().unwrap() {
            for arn in s["Resource"].as_array().unwrap() {
                // The variable holds a colon: name it before splitting the ARN.
                let arn = arn.as_str().unwrap().replace(OWN_ACCOUNT, "OWN");
                let parts: Vec<&str> = arn.splitn(6, ':').collect();
                if let [
                    "arn",
                    _,
                    "logs" | "lambda" | "dynamodb" | "secretsmanager",
                    _,
                    account,
                    _,
                ] = parts.as_slice()
                {
                    assert_eq!(*account, "OWN", "{arn} in {}", s["Sid"]);
                    checked += 1;
                }
            }
        }
        assert_eq!(
            checked, 6,
            "log groups, forwarder (twice), ledger, lease, secret"
        );
    }

    #[test]
    fn the_api_key_secret_is_the_only_secret_granted_and_only_for_events() {
        let events = config("[datadog.telemetry]\nevents = true\n");
        let secret = |c: &Config, s: Option<&str>| {
            resources(
                &policy_with(c, Role::Single, false, s),
                "ReadDatadogApiKeySecret",
            )
        };
        assert_eq!(
            secret(&events, None),
            Value::Null,
            "no secret configured: none"
        );
        assert_eq!(
            secret(&config(""), Some("dd-api-key")),
            Value::Null,
            "events off: the secret is never read"
        );
        for (given, granted) in [
            (
                "arn:aws:secretsmanager:eu-west-1:111122223333:secret:dd-api-key-AbCdEf",
                "arn:aws:secretsmanager:eu-west-1:111122223333:secret:dd-api-key-AbCdEf",
            ),
            (
                "arn:aws:secretsmanager:eu-west-1:111122223333:secret:datadog/api-key",
                "arn:aws:secretsmanager:eu-west-1:111122223333:secret:datadog/api-key-??????",
            ),
            (
                "dd-api-key",
                "arn:aws:secretsmanager:us-east-1:${aws:PrincipalAccount}:secret:dd-api-key-??????",
            ),
        ] {
            assert_eq!(secret(&events, Some(given)), json!([granted]), "{given}");
        }
        assert_eq!(
            actions(
                &policy_with(&events, Role::Central, false, Some("dd-api-key")),
                "ReadDatadogApiKeySecret"
            ),
            ["secretsmanager:GetSecretValue"]
        );
        assert!(
            actions(
                &policy_with(&events, Role::Member, true, Some("dd-api-key")),
                "ReadDatadogApiKeySecret"
            )
            .is_empty(),
            "the process reads the key with its own credentials"
        );
    }

    #[test]
    fn the_secret_is_the_one_the_run_would_read() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                vars.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        const ARN: &str = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:dd-AbCdEf";
        assert_eq!(
            api_key_secret(env(&[("DD_API_KEY_SECRET_ARN", ARN)])).as_deref(),
            Some(ARN)
        );
        assert_eq!(
            api_key_secret(env(&[("DD_API_KEY", "k"), ("DD_API_KEY_SECRET_ARN", ARN)])),
            None,
            "DD_API_KEY wins: no secret is read"
        );
        assert_eq!(
            api_key_secret(env(&[("DD_API_KEY_SECRET_ARN", " dd-api-key ")])).as_deref(),
            Some("dd-api-key")
        );
        assert_eq!(api_key_secret(env(&[])), None);
    }
}
