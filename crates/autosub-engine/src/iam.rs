//! The least-privilege IAM policy for what the configuration enables: each discoverer's reads
//! (tag reads only when a tag filter needs them), and the trigger backends' reads and writes,
//! scoped to the forwarders where IAM allows it; with Datadog events on, reading the API key
//! secret (narrow `Resource` to your secret's ARN).

use std::collections::{BTreeMap, BTreeSet};

use autosub_config::{Config, LedgerLocation};
use autosub_core::selection::ResourceFilter;
use autosub_core::{Partition, Region, Service};
use autosub_discover::discoverers;
use serde_json::{Value, json};

/// Actions of the S3 notification backend (HeadBucket is `s3:ListBucket`).
const S3_NOTIFICATION_ACTIONS: &[&str] = &[
    "s3:GetBucketNotification",
    "s3:ListAllMyBuckets",
    "s3:ListBucket",
    "s3:PutBucketNotification",
];

/// Actions of the subscription filter backend.
const SUBSCRIPTION_FILTER_ACTIONS: &[&str] = &[
    "logs:DeleteSubscriptionFilter",
    "logs:DescribeLogGroups",
    "logs:DescribeSubscriptionFilters",
    "logs:PutSubscriptionFilter",
];

/// Actions of the invoke permission backend, on the forwarders only. GetFunctionConfiguration
/// tells "no policy" from "no function" when GetPolicy answers not-found.
const PERMISSION_ACTIONS: &[&str] = &[
    "lambda:AddPermission",
    "lambda:GetFunctionConfiguration",
    "lambda:GetPolicy",
    "lambda:RemovePermission",
];

/// The policy document for `config`, or for every service when `all_services` is set.
pub fn policy(config: &Config, all_services: bool) -> Value {
    let filters: BTreeMap<Service, ResourceFilter> = if all_services {
        Service::ALL
            .into_iter()
            .map(|s| (s, ResourceFilter::default()))
            .collect()
    } else {
        config.services.enabled()
    };
    let mut statements = Vec::new();
    let enabled: BTreeSet<Service> = filters.keys().copied().collect();
    let mut by_service: BTreeMap<Service, BTreeSet<&str>> = BTreeMap::new();
    for discoverer in discoverers(&enabled) {
        let actions = by_service.entry(discoverer.service()).or_default();
        actions.extend(discoverer.iam_actions());
        if filters
            .get(&discoverer.service())
            .is_some_and(ResourceFilter::needs_tags)
        {
            actions.extend(discoverer.tag_actions());
        }
    }
    for (service, actions) in by_service.into_iter().filter(|(_, a)| !a.is_empty()) {
        statements.push(statement(
            &format!("Discover{}", pascal(service.as_str())),
            &actions,
            &["*".to_owned()],
        ));
    }
    let partitions: BTreeSet<Partition> = regions(config).iter().map(Partition::of).collect();
    let partitions = if partitions.is_empty() {
        BTreeSet::from([Partition::Aws])
    } else {
        partitions
    };
    let arns = |f: &dyn Fn(&str) -> String| -> Vec<String> {
        partitions.iter().map(|p| f(p.as_str())).collect()
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
    statements.push(statement(
        "ManageSubscriptionFilters",
        &write,
        &arns(&|p| format!("arn:{p}:logs:*:*:log-group:*")),
    ));
    statements.push(statement(
        "ManageForwarderPermissions",
        &PERMISSION_ACTIONS.iter().copied().collect(),
        &forwarder_arns(config),
    ));
    statements.extend(ledger_statements(config));
    if config.datadog.telemetry.events {
        // DD_API_KEY_SECRET_ARN is read at run time; the secret is not known here.
        statements.push(statement(
            "ReadDatadogApiKeySecret",
            &BTreeSet::from(["secretsmanager:GetSecretValue"]),
            &arns(&|p| format!("arn:{p}:secretsmanager:*:*:secret:*")),
        ));
    }
    json!({ "Version": "2012-10-17", "Statement": statements })
}

/// What a ledger kept in S3 or DynamoDB needs; nothing for a file. `s3:ListBucket` makes a
/// ledger that does not exist yet answer 404 instead of 403.
fn ledger_statements(config: &Config) -> Vec<Value> {
    let region = regions(config)
        .into_iter()
        .next()
        .unwrap_or_else(|| Region::new("us-east-1"));
    let p = Partition::of(&region).as_str();
    match config.ledger_location() {
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
            &[format!("arn:{p}:dynamodb:{region}:*:table/{table}")],
        )],
        LedgerLocation::File(_) | LedgerLocation::None => Vec::new(),
    }
}

fn statement(sid: &str, actions: &BTreeSet<&str>, resources: &[String]) -> Value {
    json!({ "Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources })
}

fn regions(config: &Config) -> Vec<Region> {
    config
        .aws
        .regions
        .iter()
        .map(|r| Region::new(r.as_str()))
        .collect()
}

/// The configured forwarders as ARNs; a forwarder given by name may live in any account.
fn forwarder_arns(config: &Config) -> Vec<String> {
    let arns: BTreeSet<String> = config
        .forwarder_refs()
        .into_iter()
        .map(|(region, fwd)| match fwd {
            autosub_config::ForwarderRef::Arn(arn) => arn.to_string(),
            autosub_config::ForwarderRef::Name(name) => format!(
                "arn:{}:lambda:{region}:*:function:{name}",
                Partition::of(&region).as_str()
            ),
        })
        .collect();
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
            json!(["arn:aws:lambda:us-east-1:*:function:datadog-forwarder"])
        );
    }
}
