//! The deploy templates against the binary: the ECS task role's reconcile policy is
//! `autosub iam-policy --all`, statement for statement, in the CloudFormation template and in the
//! Terraform module; for a fleet, the member role is `iam-policy --role member --all`, trusts only
//! the central role with the external id, and is rolled out by a service-managed StackSet, and
//! the task role's central policy is `iam-policy --role central`; the container uses the
//! binary's own health check, stops within ECS's stop timeout, never overlaps a second task
//! without a lease, and the image runs as a non-root user.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use serde_norway::Value as Yaml;

use crate::e2e::autosub_binary;

/// The container health check, as the ECS task definition runs it (exec form: the image has no
/// shell, so `CMD-SHELL` would fail).
const HEALTH_CHECK: [&str; 3] = ["CMD", "/usr/local/bin/autosub", "healthcheck"];

/// ECS's default stop timeout; autosub drains within ~25 s of SIGTERM.
const MAX_STOP_TIMEOUT_SECS: u64 = 30;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(relative: &str) -> String {
    std::fs::read_to_string(repo().join(relative))
        .unwrap_or_else(|e| panic!("read {relative}: {e}"))
}

/// One policy statement: its actions, and whether its resource is `*`.
#[derive(Debug, PartialEq)]
struct Statement {
    actions: BTreeSet<String>,
    any_resource: bool,
}

/// `autosub iam-policy --all` for the example configuration, by Sid.
fn generated() -> BTreeMap<String, Statement> {
    iam_policy("config/autosub.example.toml", &["--all"], &[])
}

/// The fleet example configuration, every fleet key set.
const FLEET_CONFIG: &str = "config/fleet.example.toml";

/// `autosub iam-policy <args>` for `config` with the environment overrides `env`, by Sid.
fn iam_policy(config: &str, args: &[&str], env: &[(&str, &str)]) -> BTreeMap<String, Statement> {
    let out = Command::new(autosub_binary())
        .arg("--config")
        .arg(repo().join(config))
        .arg("iam-policy")
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("run autosub iam-policy");
    assert!(
        out.status.success(),
        "autosub iam-policy {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let policy: Value = serde_json::from_slice(&out.stdout).expect("iam-policy prints JSON");
    json_statements(&policy)
}

fn json_statements(policy: &Value) -> BTreeMap<String, Statement> {
    let strings = |v: &Value| -> Vec<String> {
        match v {
            Value::String(s) => vec![s.clone()],
            Value::Array(items) => items
                .iter()
                .map(|i| i.as_str().expect("a string").to_owned())
                .collect(),
            other => panic!("expected a string or a list of strings, got {other}"),
        }
    };
    policy["Statement"]
        .as_array()
        .expect("a Statement list")
        .iter()
        .map(|s| {
            let sid = s["Sid"].as_str().expect("every statement has a Sid");
            let resources = strings(&s["Resource"]);
            (
                sid.to_owned(),
                Statement {
                    actions: strings(&s["Action"]).into_iter().collect(),
                    any_resource: resources == ["*"],
                },
            )
        })
        .collect()
}

/// Strips YAML tags (`!Ref`, `!Sub`, ...) from a value.
fn untagged(v: &Yaml) -> &Yaml {
    match v {
        Yaml::Tagged(t) => untagged(&t.value),
        v => v,
    }
}

fn yaml_strings(v: &Yaml) -> Vec<String> {
    match untagged(v) {
        Yaml::String(s) => vec![s.clone()],
        Yaml::Sequence(items) => items
            .iter()
            .map(|i| i.as_str().expect("a literal string").to_owned())
            .collect(),
        other => panic!("expected a string or a list of strings, got {other:?}"),
    }
}

fn cloudformation() -> Yaml {
    template("deploy/cloudformation/ecs-service.yaml")
}

fn template(relative: &str) -> Yaml {
    serde_norway::from_str(&read(relative)).unwrap_or_else(|e| panic!("{relative} is YAML: {e}"))
}

/// The value of `!<tag> value`, when `v` carries that tag.
fn tagged<'a>(v: &'a Yaml, tag: &str) -> Option<&'a Yaml> {
    match v {
        Yaml::Tagged(t) if t.tag == tag => Some(&t.value),
        _ => None,
    }
}

/// True when `v` is `!Ref name`.
fn is_ref(v: &Yaml, name: &str) -> bool {
    tagged(v, "Ref").and_then(Yaml::as_str) == Some(name)
}

/// `!If [condition, then, else]` as (condition, then, else).
fn if_branches(v: &Yaml) -> Option<(&str, &Yaml, &Yaml)> {
    match tagged(v, "If")?.as_sequence()?.as_slice() {
        [condition, then, otherwise] => Some((condition.as_str()?, then, otherwise)),
        _ => None,
    }
}

/// The statements of a policy document's `Statement` list by Sid, with the condition each one
/// is granted under: a literal statement (none), or each statement branch of an
/// `!If [condition, statement, statement or !Ref AWS::NoValue]`.
fn cfn_statements(list: &Yaml) -> BTreeMap<String, (Option<String>, Statement)> {
    let mut found = BTreeMap::new();
    let mut add = |condition: Option<&str>, s: &Yaml| {
        let sid = s["Sid"].as_str().expect("every statement has a Sid");
        let statement = Statement {
            actions: yaml_strings(&s["Action"]).into_iter().collect(),
            any_resource: s["Resource"].as_str() == Some("*"),
        };
        let previous = found.insert(sid.to_owned(), (condition.map(str::to_owned), statement));
        assert!(previous.is_none(), "Sid {sid} appears twice");
    };
    for item in list.as_sequence().expect("a Statement list") {
        match if_branches(item) {
            Some((condition, then, otherwise)) => {
                add(Some(condition), then);
                if !is_ref(otherwise, "AWS::NoValue") {
                    add(Some(condition), otherwise);
                }
            }
            None => add(None, item),
        }
    }
    found
}

fn without_conditions(
    found: BTreeMap<String, (Option<String>, Statement)>,
) -> BTreeMap<String, Statement> {
    found.into_iter().map(|(sid, (_, s))| (sid, s)).collect()
}

/// The one container of the task definition.
fn cfn_container(cfn: &Yaml) -> &Yaml {
    let containers = cfn["Resources"]["TaskDefinition"]["Properties"]["ContainerDefinitions"]
        .as_sequence()
        .expect("ContainerDefinitions");
    assert_eq!(containers.len(), 1, "one container: autosub");
    &containers[0]
}

fn assert_same_statements(template: &str, found: &BTreeMap<String, Statement>) {
    assert_statements_are(template, found, &generated(), "autosub iam-policy --all");
}

fn assert_statements_are(
    template: &str,
    found: &BTreeMap<String, Statement>,
    want: &BTreeMap<String, Statement>,
    command: &str,
) {
    let all = |s: &BTreeMap<String, Statement>| -> BTreeSet<String> {
        s.values().flat_map(|s| s.actions.iter().cloned()).collect()
    };
    assert_eq!(
        all(found),
        all(want),
        "{template}: the policy's actions are those of `{command}`"
    );
    assert_eq!(
        found, want,
        "{template}: statement for statement with `{command}` (Sid, actions, `*` exactly where iam-policy has it)"
    );
}

#[test]
fn the_cloudformation_task_role_grants_exactly_the_generated_policy() {
    let cfn = cloudformation();
    let resources = &cfn["Resources"];
    let role = &resources["TaskRole"]["Properties"];
    let attached: Vec<&Yaml> = role["ManagedPolicyArns"]
        .as_sequence()
        .expect("the task role's ManagedPolicyArns")
        .iter()
        .collect();
    let only_reconcile = match attached.as_slice() {
        [one] => if_branches(one).is_some_and(|(condition, then, otherwise)| {
            condition == "AttachReconcilePolicy"
                && is_ref(then, "ReconcilePolicy")
                && is_ref(otherwise, "AWS::NoValue")
        }),
        _ => false,
    };
    assert!(
        only_reconcile,
        "the task role's only managed policy is the reconcile policy, attached unless a fleet service reconciles member accounts only: {attached:?}"
    );
    assert!(
        role.get("Policies").is_none(),
        "the central policy is a separate resource (CentralPolicy), not inline in the role"
    );

    let statements = resources["ReconcilePolicy"]["Properties"]["PolicyDocument"]["Statement"]
        .as_sequence()
        .expect("the reconcile policy's statements");
    let mut found = BTreeMap::new();
    for s in statements {
        let sid = s["Sid"].as_str().expect("every statement has a Sid");
        let resource = &s["Resource"];
        if sid == "ManageForwarderPermissions" {
            assert!(
                matches!(resource, Yaml::Tagged(t) if t.tag == "Ref" && t.value.as_str() == Some("ForwarderArns")),
                "the forwarders' policies are scoped to the ForwarderArns parameter: {resource:?}"
            );
        }
        let previous = found.insert(
            sid.to_owned(),
            Statement {
                actions: yaml_strings(&s["Action"]).into_iter().collect(),
                any_resource: resource.as_str() == Some("*"),
            },
        );
        assert!(previous.is_none(), "Sid {sid} appears twice");
    }
    assert_same_statements("deploy/cloudformation/ecs-service.yaml", &found);

    let central = &resources["CentralPolicy"]["Properties"];
    assert!(
        is_ref(&central["RoleName"], "TaskRole"),
        "the central policy belongs to the task role"
    );
}

/// The Terraform module builds its reconcile policy from `reconcile-policy.json` (JSON the test
/// reads exactly, where HCL would need a parser) and replaces the placeholder resources of the
/// statements iam-policy scopes; main.tf is only searched for that wiring.
#[test]
fn the_terraform_task_role_grants_exactly_the_generated_policy() {
    let module = "deploy/terraform/ecs-service";
    let policy: Value = serde_json::from_str(&read(&format!("{module}/reconcile-policy.json")))
        .expect("reconcile-policy.json is JSON");
    assert_same_statements(
        &format!("{module}/reconcile-policy.json"),
        &json_statements(&policy),
    );

    let main = read(&format!("{module}/main.tf"));
    let scoped_block =
        assert_placeholders_replaced(&main, "reconcile-policy.json", "scoped_resources", &policy);
    assert!(
        scoped_block.contains("ManageForwarderPermissions = var.forwarder_arns"),
        "the forwarders' policies are scoped to var.forwarder_arns: {scoped_block}"
    );
    assert!(
        main.contains(r#"policy_arn = aws_iam_policy.reconcile.arn"#)
            && main.contains("role       = aws_iam_role.task.name"),
        "the reconcile policy is attached to the task role"
    );
}

/// Checks that `main` builds a policy from `file` and replaces, in `local.<local>`, the Resource
/// of exactly the statements that carry a placeholder there; returns the block of replacements.
fn assert_placeholders_replaced(main: &str, file: &str, local: &str, policy: &Value) -> String {
    assert!(
        main.contains(&format!(r#"jsondecode(file("${{path.module}}/{file}"))"#)),
        "main.tf builds its policy from {file}"
    );
    let block = regex::Regex::new(&format!(r"(?s){local} = \{{(.*?)\n  \}}"))
        .expect("a valid pattern")
        .captures(main)
        .unwrap_or_else(|| panic!("main.tf has local.{local}"))[1]
        .to_owned();
    let scoped: BTreeSet<String> = regex::Regex::new(r"(?m)^\s*(\w+)\s*=")
        .expect("a valid pattern")
        .captures_iter(&block)
        .map(|c| c[1].to_owned())
        .collect();
    let placeholders: BTreeSet<String> = policy["Statement"]
        .as_array()
        .expect("statements")
        .iter()
        .filter(|s| s["Resource"] != serde_json::json!(["*"]))
        .map(|s| s["Sid"].as_str().expect("a Sid").to_owned())
        .collect();
    assert_eq!(
        scoped, placeholders,
        "{file}: every statement iam-policy scopes has its resource replaced in main.tf's local.{local}, and only those"
    );
    block
}

/// The member role, in the StackSet's template and in the Terraform module, is
/// `autosub iam-policy --role member --all`: what a StackSet deploys must serve any
/// configuration, regions = ["all"] included.
#[test]
fn the_member_role_grants_exactly_the_generated_member_policy() {
    let want = iam_policy(FLEET_CONFIG, &["--role", "member", "--all"], &[]);
    assert!(want.contains_key("FindEnabledRegions"));

    let path = "deploy/cloudformation/fleet-member-role.yaml";
    let cfn = template(path);
    let role = &cfn["Resources"]["MemberRole"]["Properties"];
    let policies = role["Policies"]
        .as_sequence()
        .expect("the member role's inline Policies");
    assert_eq!(policies.len(), 1, "one inline policy: autosub-member");
    let statements = &policies[0]["PolicyDocument"]["Statement"];
    let found = cfn_statements(statements);
    assert!(
        found.values().all(|(condition, _)| condition.is_none()),
        "the member role grants everything, unconditionally"
    );
    assert_statements_are(
        path,
        &without_conditions(found),
        &want,
        "autosub iam-policy --role member --all",
    );
    assert!(
        role.get("ManagedPolicyArns").is_none(),
        "nothing but the generated policy"
    );
    let forwarder = statements
        .as_sequence()
        .expect("statements")
        .iter()
        .find(|s| s["Sid"] == "ManageForwarderPermissions")
        .expect("ManageForwarderPermissions");
    let arn = tagged(&forwarder["Resource"], "Sub")
        .and_then(Yaml::as_str)
        .unwrap_or_default();
    assert_eq!(
        arn, "arn:${AWS::Partition}:lambda:*:${AWS::AccountId}:function:${ForwarderFunctionName}",
        "the forwarder's policy only, in this account"
    );

    let module = "deploy/terraform/fleet-member-role";
    let policy: Value = serde_json::from_str(&read(&format!("{module}/member-policy.json")))
        .expect("member-policy.json is JSON");
    assert_statements_are(
        &format!("{module}/member-policy.json"),
        &json_statements(&policy),
        &want,
        "autosub iam-policy --role member --all",
    );
    let main = read(&format!("{module}/main.tf"));
    let scoped =
        assert_placeholders_replaced(&main, "member-policy.json", "scoped_resources", &policy);
    assert!(
        scoped.contains("function:${var.forwarder_function_name}")
            && scoped.contains("${local.account_id}"),
        "scoped to the forwarder in this account: {scoped}"
    );
    assert!(
        main.contains("policy = jsonencode(local.member_policy)")
            && main.contains("role   = aws_iam_role.member.id"),
        "the member policy is the member role's"
    );
}

/// A member role is assumable by the central task role alone, and only with the external id.
#[test]
fn the_member_role_trusts_only_the_central_role_with_the_external_id() {
    let path = "deploy/cloudformation/fleet-member-role.yaml";
    let cfn = template(path);
    let role = &cfn["Resources"]["MemberRole"]["Properties"];
    assert_eq!(role["MaxSessionDuration"].as_u64(), Some(3600));
    assert!(is_ref(&role["RoleName"], "RoleName"));
    assert_eq!(
        cfn["Parameters"]["RoleName"]["Default"].as_str(),
        Some("autosub"),
        "fleet.role_name's default"
    );
    let statements = role["AssumeRolePolicyDocument"]["Statement"]
        .as_sequence()
        .expect("trust statements");
    let [trust] = statements.as_slice() else {
        panic!("one trust statement: {statements:?}");
    };
    assert_eq!(trust["Effect"].as_str(), Some("Allow"));
    assert_eq!(yaml_strings(&trust["Action"]), ["sts:AssumeRole"]);
    let principal = trust["Principal"]
        .as_mapping()
        .expect("a Principal mapping");
    assert_eq!(principal.len(), 1, "an AWS principal only: {principal:?}");
    assert!(
        is_ref(&trust["Principal"]["AWS"], "CentralRoleArns"),
        "the central roles, not their account's root"
    );
    let arns = &cfn["Parameters"]["CentralRoleArns"];
    assert_eq!(arns["Type"].as_str(), Some("CommaDelimitedList"));
    assert_eq!(
        arns["AllowedPattern"].as_str(),
        Some(r"^arn:aws[a-z-]*:iam::\d{12}:role/.+$"),
        "role ARNs only"
    );
    let condition = trust["Condition"].as_mapping().expect("a Condition");
    assert_eq!(condition.len(), 1, "{condition:?}");
    assert!(
        is_ref(
            &trust["Condition"]["StringEquals"]["sts:ExternalId"],
            "ExternalId"
        ),
        "the external id is required"
    );
    let external = &cfn["Parameters"]["ExternalId"];
    assert_eq!(external["NoEcho"].as_bool(), Some(true));
    assert!(
        external.get("Default").is_none(),
        "the external id has no default: it must be chosen"
    );

    let main = read("deploy/terraform/fleet-member-role/main.tf");
    let trust_block = regex::Regex::new(r"(?s)trust = \{(.*?)\n  \}")
        .expect("a valid pattern")
        .captures(&main)
        .expect("main.tf has local.trust")[1]
        .to_owned();
    for needle in [
        "Principal = { AWS = var.central_role_arns }",
        r#"Action    = "sts:AssumeRole""#,
        r#"Condition = { StringEquals = { "sts:ExternalId" = var.external_id } }"#,
    ] {
        assert!(
            trust_block.contains(needle),
            "local.trust has {needle}: {trust_block}"
        );
    }
    assert_eq!(trust_block.matches("Principal").count(), 1, "{trust_block}");
    assert!(main.contains("assume_role_policy   = jsonencode(local.trust)"));
    assert!(main.contains("max_session_duration = 3600"));
    let variables = read("deploy/terraform/fleet-member-role/variables.tf");
    let external = regex::Regex::new(r#"(?s)variable "external_id" \{(.*?)\n\}"#)
        .expect("a valid pattern")
        .captures(&variables)
        .expect("variable external_id")[1]
        .to_owned();
    assert!(
        external.contains("sensitive   = true") && !external.contains("default"),
        "external_id is sensitive and required: {external}"
    );
}

/// The task role's central policy is `autosub iam-policy --role central` for a fleet: the ledger
/// (in its own statements), and, each under its parameter, the member roles, the Organizations
/// reads and the lease.
#[test]
fn the_central_policy_is_the_generated_central_policy() {
    let ledger_sids = ["KeepLedgerInDynamoDb", "KeepLedgerInS3", "FindLedgerInS3"];
    let central = |env: &[(&str, &str)]| {
        let mut want = iam_policy(FLEET_CONFIG, &["--role", "central", "--all"], env);
        let ledger: BTreeMap<String, Statement> = ledger_sids
            .iter()
            .filter_map(|sid| want.remove_entry(*sid))
            .collect();
        (want, ledger)
    };
    let (want, dynamodb) = central(&[]);
    assert_eq!(
        want.keys().collect::<Vec<_>>(),
        [
            "AssumeMemberRoles",
            "DiscoverOrganizationAccounts",
            "HoldTargetLeases"
        ],
        "{FLEET_CONFIG} sets every fleet key"
    );
    let (_, s3) = central(&[("AUTOSUB_LEDGER", "s3://ops/autosub/ledger.json")]);

    let cfn = cloudformation();
    let path = "deploy/cloudformation/ecs-service.yaml";
    let found = cfn_statements(
        &cfn["Resources"]["CentralPolicy"]["Properties"]["PolicyDocument"]["Statement"],
    );
    let condition = |sid: &str| found[sid].0.as_deref();
    assert_eq!(condition("AssumeMemberRoles"), Some("IsFleet"));
    assert_eq!(
        condition("DiscoverOrganizationAccounts"),
        Some("DiscoverOrganizations")
    );
    assert_eq!(condition("HoldTargetLeases"), Some("HasLease"));
    let mut found = without_conditions(found);
    let ledger_actions = |found: &mut BTreeMap<String, Statement>, sid: &str| {
        found.remove(sid).map(|s| s.actions).unwrap_or_default()
    };
    assert_eq!(
        ledger_actions(&mut found, "LedgerTable"),
        dynamodb["KeepLedgerInDynamoDb"].actions,
        "a DynamoDB ledger"
    );
    assert_eq!(
        ledger_actions(&mut found, "LedgerObject"),
        s3["KeepLedgerInS3"].actions,
        "an S3 ledger"
    );
    assert_eq!(
        ledger_actions(&mut found, "LedgerObjectExists"),
        s3["FindLedgerInS3"].actions,
        "an S3 ledger that does not exist yet"
    );
    assert_statements_are(
        path,
        &found,
        &want,
        "autosub iam-policy --role central --all",
    );
    let environment = environment_names(&cfn_container(&cfn)["Environment"]);
    assert!(
        environment.contains("AUTOSUB_LEASE_TABLE"),
        "the task learns the lease table it is granted: {environment:?}"
    );

    let module = "deploy/terraform/ecs-service";
    let policy: Value = serde_json::from_str(&read(&format!("{module}/central-policy.json")))
        .expect("central-policy.json is JSON");
    assert_statements_are(
        &format!("{module}/central-policy.json"),
        &json_statements(&policy),
        &want,
        "autosub iam-policy --role central --all",
    );
    let main = read(&format!("{module}/main.tf"));
    assert_placeholders_replaced(&main, "central-policy.json", "central_resources", &policy);
    for (sid, variable) in [
        ("AssumeMemberRoles", "local.is_fleet"),
        ("DiscoverOrganizationAccounts", "var.organizations != null"),
        ("HoldTargetLeases", "local.has_lease"),
    ] {
        assert!(
            main.contains(&format!(r#"{variable} ? ["{sid}"] : []"#)),
            "main.tf grants {sid} only when {variable}"
        );
    }
    assert!(main.contains(r#"{ name = "AUTOSUB_LEASE_TABLE", value = local.lease_table_name }"#));
}

/// The names of an ECS Environment list (`- { Name: ..., Value: ... }` or conditional entries).
fn environment_names(list: &Yaml) -> BTreeSet<String> {
    list.as_sequence()
        .expect("an Environment list")
        .iter()
        .flat_map(|e| match if_branches(e) {
            Some((_, then, otherwise)) => vec![then, otherwise],
            None => vec![e],
        })
        .filter_map(|e| e["Name"].as_str().map(str::to_owned))
        .collect()
}

/// The StackSet rolls the member role out to the OUs' accounts, and to accounts that join them
/// later, with service-managed permissions, in one region (IAM is global).
#[test]
fn the_stackset_is_service_managed_with_auto_deployment() {
    let path = "deploy/cloudformation/fleet-stackset.yaml";
    let cfn = template(path);
    let resources = cfn["Resources"].as_mapping().expect("Resources");
    assert_eq!(resources.len(), 1, "one StackSet");
    let stackset = &cfn["Resources"]["MemberRoles"];
    assert_eq!(
        stackset["Type"].as_str(),
        Some("AWS::CloudFormation::StackSet")
    );
    let p = &stackset["Properties"];
    assert_eq!(p["PermissionModel"].as_str(), Some("SERVICE_MANAGED"));
    assert_eq!(p["AutoDeployment"]["Enabled"].as_bool(), Some(true));
    assert!(is_ref(&p["CallAs"], "CallAs"));
    assert_eq!(
        yaml_strings(&cfn["Parameters"]["CallAs"]["AllowedValues"]),
        ["SELF", "DELEGATED_ADMIN"]
    );
    assert!(is_ref(&p["TemplateURL"], "TemplateURL"));
    assert_eq!(yaml_strings(&p["Capabilities"]), ["CAPABILITY_NAMED_IAM"]);
    for (key, parameter) in [
        ("MaxConcurrentPercentage", "MaxConcurrentPercentage"),
        ("FailureTolerancePercentage", "FailureTolerancePercentage"),
    ] {
        assert!(is_ref(&p["OperationPreferences"][key], parameter), "{key}");
    }
    let groups = p["StackInstancesGroup"]
        .as_sequence()
        .expect("StackInstancesGroup");
    let [group] = groups.as_slice() else {
        panic!("one group of stack instances: {groups:?}");
    };
    assert!(is_ref(
        &group["DeploymentTargets"]["OrganizationalUnitIds"],
        "OrganizationalUnitIds"
    ));
    let regions = group["Regions"].as_sequence().expect("Regions");
    assert!(
        matches!(regions.as_slice(), [r] if is_ref(r, "DeploymentRegion")),
        "one region per account: an IAM role is global: {regions:?}"
    );

    // Every parameter of the member template is passed through, under its own name, and the
    // external id stays hidden on the way.
    let member = template("deploy/cloudformation/fleet-member-role.yaml");
    let member_parameters: BTreeSet<String> = member["Parameters"]
        .as_mapping()
        .expect("member Parameters")
        .keys()
        .map(|k| k.as_str().expect("a name").to_owned())
        .collect();
    let passed: BTreeSet<String> = p["Parameters"]
        .as_sequence()
        .expect("the StackSet's Parameters")
        .iter()
        .map(|kv| {
            let key = kv["ParameterKey"].as_str().expect("ParameterKey");
            let value = &kv["ParameterValue"];
            let passed_through = is_ref(value, key)
                || tagged(value, "Join")
                    .is_some_and(|j| j[0].as_str() == Some(",") && is_ref(&j[1], key));
            assert!(passed_through, "{key} passes !Ref {key}: {value:?}");
            key.to_owned()
        })
        .collect();
    assert_eq!(passed, member_parameters);
    assert_eq!(
        cfn["Parameters"]["ExternalId"]["NoEcho"].as_bool(),
        Some(true)
    );
}

#[test]
fn the_container_runs_the_binarys_health_check_and_stops_in_time() {
    let cfn = cloudformation();
    let container = cfn_container(&cfn);
    let check = &container["HealthCheck"];
    assert_eq!(yaml_strings(&check["Command"]), HEALTH_CHECK);
    let secs = |key: &str| {
        check[key]
            .as_u64()
            .unwrap_or_else(|| panic!("HealthCheck.{key}"))
    };
    assert_eq!(
        (secs("Interval"), secs("Retries"), secs("StartPeriod")),
        (30, 3, 60)
    );
    let stop = container["StopTimeout"].as_u64().expect("StopTimeout");
    assert!(stop <= MAX_STOP_TIMEOUT_SECS, "StopTimeout {stop}");
    let deployment = &cfn["Resources"]["Service"]["Properties"]["DeploymentConfiguration"];
    let percent = |key: &str| {
        let (condition, leased, alone) =
            if_branches(&deployment[key]).unwrap_or_else(|| panic!("{key} is !If [HasLease, ...]"));
        assert_eq!(condition, "HasLease", "{key}");
        (leased.as_u64(), alone.as_u64())
    };
    assert_eq!(
        (percent("MinimumHealthyPercent"), percent("MaximumPercent")),
        ((Some(100), Some(0)), (Some(200), Some(100))),
        "without a lease two tasks never run at once; with one, deployments roll"
    );
    let replicas = &cfn["Rules"]["ReplicasNeedALease"];
    assert!(
        tagged(&replicas["RuleCondition"], "Equals")
            .is_some_and(|e| is_ref(&e[0], "LeaseTable") && e[1].as_str() == Some("")),
        "the rule applies without a lease: {replicas:?}"
    );
    let assertion = tagged(&replicas["Assertions"][0]["Assert"], "Contains")
        .expect("DesiredCount is asserted to be 0 or 1");
    assert_eq!(yaml_strings(&assertion[0]), ["0", "1"]);
    assert!(is_ref(&assertion[1], "DesiredCount"));
    assert_eq!(
        yaml_strings(&container["Command"]),
        ["run"],
        "the service runs `autosub run`"
    );

    let main = read("deploy/terraform/ecs-service/main.tf");
    let quoted = HEALTH_CHECK.map(|s| format!("{s:?}")).join(", ");
    assert!(
        main.contains(&format!("command     = [{quoted}]")),
        "main.tf's healthCheck runs {quoted}"
    );
    let number = |key: &str| -> u64 {
        regex::Regex::new(&format!(r"(?m)^\s*{key}\s*=\s*(\d+)\s*$"))
            .expect("a valid pattern")
            .captures(&main)
            .unwrap_or_else(|| panic!("main.tf sets {key}"))[1]
            .parse()
            .expect("a number")
    };
    assert!(number("stopTimeout") <= MAX_STOP_TIMEOUT_SECS);
    assert_eq!(
        (number("interval"), number("retries"), number("startPeriod")),
        (30, 3, 60)
    );
    for (key, leased, alone) in [
        ("deployment_minimum_healthy_percent", 100, 0),
        ("deployment_maximum_percent", 200, 100),
    ] {
        assert!(
            main.contains(&format!("{key} = local.has_lease ? {leased} : {alone}"))
                || regex::Regex::new(&format!(
                    r"(?m)^\s*{key}\s*=\s*local\.has_lease \? {leased} : {alone}\s*$"
                ))
                .expect("a valid pattern")
                .is_match(&main),
            "main.tf: {key} is {leased} with a lease, {alone} without"
        );
    }
    assert!(
        main.contains("condition     = var.desired_count <= 1 || local.has_lease"),
        "main.tf refuses replicas without a lease"
    );
}

/// The Dockerfile's instructions, continuation lines joined, comments dropped.
fn dockerfile_instructions() -> Vec<(String, String)> {
    let text = read("deploy/docker/Dockerfile");
    let mut instructions = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || (line.is_empty() && current.is_empty()) {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(head) => current.push_str(head),
            None => {
                current.push_str(line);
                let joined = std::mem::take(&mut current);
                let (word, rest) = joined
                    .split_once(char::is_whitespace)
                    .unwrap_or((&joined, ""));
                instructions.push((word.to_ascii_uppercase(), rest.trim().to_owned()));
            }
        }
    }
    instructions
}

#[test]
fn the_image_runs_the_daemon_as_a_non_root_user_with_the_same_health_check() {
    let instructions = dockerfile_instructions();
    let last_from = instructions
        .iter()
        .rposition(|(word, _)| word == "FROM")
        .expect("a FROM");
    assert!(
        instructions[..last_from].iter().any(|(w, _)| w == "FROM"),
        "a multi-stage build: the runtime stage holds no toolchain"
    );
    let runtime = &instructions[last_from..];
    let last = |word: &str| {
        runtime
            .iter()
            .rev()
            .find(|(w, _)| w == word)
            .map(|(_, rest)| rest.as_str())
            .unwrap_or_else(|| panic!("the runtime stage has {word}"))
    };
    let user = last("USER");
    let name = user.split(':').next().unwrap_or_default();
    assert!(
        !name.is_empty() && name != "root" && name != "0",
        "the runtime stage runs as a non-root user, not {user:?}"
    );
    let health = last("HEALTHCHECK");
    let exec = health
        .split_once("CMD ")
        .map(|(_, cmd)| cmd)
        .expect("HEALTHCHECK ... CMD [...]");
    let exec: Vec<String> = serde_json::from_str(exec)
        .expect("the health check is in exec form (no shell in the image)");
    assert_eq!(
        exec,
        HEALTH_CHECK[1..],
        "the image checks health like the ECS task"
    );
    assert_eq!(last("ENTRYPOINT"), r#"["/usr/local/bin/autosub"]"#);
    assert_eq!(last("CMD"), r#"["run"]"#);
    assert_eq!(last("EXPOSE"), "8080");
}
