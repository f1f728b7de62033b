//! The deploy templates against the binary: the ECS task role's reconcile policy is
//! `autosub iam-policy --all`, statement for statement (Sid, actions, the shape of every resource
//! and every condition), in the CloudFormation template and in the Terraform module; for a fleet, the member role is `iam-policy --role member --all`, trusts only
//! the central role with the external id, and is rolled out by a service-managed StackSet, and
//! the task role's central policy is `iam-policy --role central`; the container uses the
//! binary's own health check, stops within ECS's stop timeout, never overlaps a second task
//! without a lease, and the image runs as a non-root user. For event-driven mode, every
//! EventBridge rule of the templates and modules sends exactly the events of
//! `cloudtrail::rule_pattern`, the queue takes them from the central rule alone, the member
//! rules forward to the central bus, and the task follows the queue with iam-policy's
//! `FollowEvents`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use autosub_core::{Service, cloudtrail};
use regex::Regex;
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

/// One policy statement as both a template and `autosub iam-policy` can spell it: its actions,
/// what its resources are, and its conditions.
#[derive(Clone, Debug, PartialEq)]
struct Statement {
    actions: BTreeSet<String>,
    resources: Resources,
    /// `(operator, key)` → values, e.g. `(StringEquals, lambda:Principal)` → both principals.
    conditions: BTreeMap<(String, String), BTreeSet<String>>,
}

/// A policy's statements by Sid.
type Statements = BTreeMap<String, Statement>;

/// What a statement's `Resource` is. Templates name resources by parameters and placeholders
/// where iam-policy names them from a configuration, so ARNs are compared by their shape.
#[derive(Clone, Debug, PartialEq)]
enum Resources {
    /// `*`: the API has no resource-level permissions.
    Any,
    /// ARNs, by shape.
    Arns(BTreeSet<ArnShape>),
    /// A value the deployer supplies (`!Ref ForwarderArns`, `<var.forwarder_arns>`, a resource
    /// the stack creates); the test of each template checks what it is wired to.
    Supplied,
}

/// An ARN without its names: the service, the resource type, and the account: none (S3), any
/// (`*`), or pinned (a literal account, this account or `${aws:PrincipalAccount}`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct ArnShape {
    service: String,
    kind: String,
    account: &'static str,
}

/// The tokens that stand for "this account" and "this partition" in the templates: what
/// `${aws:PrincipalAccount}` is in a policy attached to a role of the deploying account.
const THIS_ACCOUNT: [&str; 4] = [
    "${aws:PrincipalAccount}",
    "${AWS::AccountId}",
    "${local.account_id}",
    "<account>",
];
const THIS_PARTITION: [&str; 2] = ["${AWS::Partition}", "<partition>"];

/// The shape of an ARN written literally, in a `!Sub` or with placeholders; `None` when the
/// whole value is a placeholder (`<member roles>`).
fn arn_shape(arn: &str) -> Option<ArnShape> {
    if arn.starts_with('<') && arn.ends_with('>') {
        return None;
    }
    // Policy variables hold colons: replace them before splitting the ARN.
    let mut arn = arn.replace("${!", "${");
    for account in THIS_ACCOUNT {
        arn = arn.replace(account, "ACCOUNT");
    }
    for partition in THIS_PARTITION {
        arn = arn.replace(partition, "aws");
    }
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let ["arn", _, service, _, account, resource] = parts.as_slice() else {
        panic!("not an ARN: {arn}");
    };
    let kind = match *service {
        "s3" if resource.contains('/') => "object",
        "s3" => "bucket",
        // A queue's ARN ends in its bare name.
        "sqs" => "queue",
        _ => resource
            .split([':', '/'])
            .next()
            .expect("split yields one item"),
    };
    let account = match *account {
        "" => "none",
        "*" => "any",
        _ => "pinned",
    };
    Some(ArnShape {
        service: (*service).to_owned(),
        kind: kind.to_owned(),
        account,
    })
}

/// `Resource` from the strings a policy lists.
fn resources_of(arns: &[String]) -> Resources {
    if arns == ["*"] {
        return Resources::Any;
    }
    let shapes: Option<BTreeSet<ArnShape>> = arns.iter().map(|a| arn_shape(a)).collect();
    shapes.map_or(Resources::Supplied, Resources::Arns)
}

/// `autosub iam-policy --all` for the example configuration, by Sid.
fn generated() -> Statements {
    iam_policy("config/autosub.example.toml", &["--all"], &[])
}

/// The fleet example configuration, every fleet key set.
const FLEET_CONFIG: &str = "config/fleet.example.toml";

/// The events queue of the event-driven tests, as events-queue.yaml's QueueUrl output spells it.
const EVENTS_QUEUE_URL: &str = "https://sqs.eu-west-1.amazonaws.com/111111111111/autosub-events";

/// `autosub iam-policy <args>` for `config` with the environment overrides `env`, by Sid.
fn iam_policy(config: &str, args: &[&str], env: &[(&str, &str)]) -> Statements {
    json_statements(&iam_policy_json(config, args, env))
}

/// `autosub iam-policy <args>` for `config` with the environment overrides `env`, as printed.
fn iam_policy_json(config: &str, args: &[&str], env: &[(&str, &str)]) -> Value {
    let out = Command::new(autosub_binary())
        .arg("--config")
        .arg(repo().join(config))
        .arg("iam-policy")
        .args(args)
        // The policy of the configuration alone, whatever this shell's Datadog key settings.
        .env_remove("DD_API_KEY")
        .env_remove("DD_API_KEY_SECRET_ARN")
        .env_remove("AUTOSUB_EVENTS_QUEUE_URL")
        .envs(env.iter().copied())
        .output()
        .expect("run autosub iam-policy");
    assert!(
        out.status.success(),
        "autosub iam-policy {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("iam-policy prints JSON")
}

fn json_strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().expect("a string").to_owned())
            .collect(),
        other => panic!("expected a string or a list of strings, got {other}"),
    }
}

fn json_statements(policy: &Value) -> Statements {
    policy["Statement"]
        .as_array()
        .expect("a Statement list")
        .iter()
        .map(|s| {
            let sid = s["Sid"].as_str().expect("every statement has a Sid");
            let mut conditions = BTreeMap::new();
            if let Some(operators) = s.get("Condition") {
                for (op, keys) in operators.as_object().expect("a Condition mapping") {
                    for (key, values) in keys.as_object().expect("a condition operator mapping") {
                        conditions.insert(
                            (op.clone(), key.clone()),
                            json_strings(values).into_iter().collect(),
                        );
                    }
                }
            }
            (
                sid.to_owned(),
                Statement {
                    actions: json_strings(&s["Action"]).into_iter().collect(),
                    resources: resources_of(&json_strings(&s["Resource"])),
                    conditions,
                },
            )
        })
        .collect()
}

/// Where `found` (a template's statements) differs from `want` (iam-policy's): a Sid missing or
/// extra, other actions, another resource shape (a supplied resource stands for any scoped
/// one), other conditions.
fn differences(found: &Statements, want: &Statements) -> Vec<String> {
    let mut out = Vec::new();
    for sid in want.keys().filter(|sid| !found.contains_key(*sid)) {
        out.push(format!("{sid}: missing"));
    }
    for sid in found.keys().filter(|sid| !want.contains_key(*sid)) {
        out.push(format!("{sid}: not in iam-policy"));
    }
    for (sid, f) in found {
        let Some(w) = want.get(sid) else { continue };
        if f.actions != w.actions {
            out.push(format!(
                "{sid}: actions {:?}, iam-policy {:?}",
                f.actions, w.actions
            ));
        }
        let resources_agree = f.resources == w.resources
            || (f.resources == Resources::Supplied && matches!(w.resources, Resources::Arns(_)));
        if !resources_agree {
            out.push(format!(
                "{sid}: resources {:?}, iam-policy {:?}",
                f.resources, w.resources
            ));
        }
        if f.conditions != w.conditions {
            out.push(format!(
                "{sid}: conditions {:?}, iam-policy {:?}",
                f.conditions, w.conditions
            ));
        }
    }
    out
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

/// A YAML string or list of strings; `!Ref X` reads `<X>`.
fn yaml_values(v: &Yaml) -> Vec<String> {
    match v {
        Yaml::Tagged(t) if t.tag == "Ref" => {
            vec![format!(
                "<{}>",
                t.value.as_str().expect("!Ref names a parameter")
            )]
        }
        Yaml::Sequence(items) => items.iter().flat_map(yaml_values).collect(),
        v => yaml_strings(v),
    }
}

/// A CloudFormation `Resource`: `*`, ARNs (literal or `!Sub`), or supplied (`!Ref`, `!If`,
/// `!GetAtt`: a parameter or a resource of the stack).
fn cfn_resources(v: &Yaml) -> Resources {
    match v {
        Yaml::Tagged(t) if t.tag == "Sub" => match t.value.as_str() {
            Some(arn) => resources_of(&[arn.to_owned()]),
            None => Resources::Supplied,
        },
        Yaml::Tagged(_) => Resources::Supplied,
        v => resources_of(&yaml_strings(v)),
    }
}

/// One CloudFormation policy statement.
fn cfn_statement(s: &Yaml) -> Statement {
    let mut conditions = BTreeMap::new();
    if let Some(operators) = s.get("Condition") {
        for (op, keys) in operators.as_mapping().expect("a Condition mapping") {
            let op = op.as_str().expect("an operator");
            for (key, values) in keys.as_mapping().expect("a condition operator mapping") {
                conditions.insert(
                    (op.to_owned(), key.as_str().expect("a key").to_owned()),
                    yaml_values(values).into_iter().collect(),
                );
            }
        }
    }
    Statement {
        actions: yaml_strings(&s["Action"]).into_iter().collect(),
        resources: cfn_resources(&s["Resource"]),
        conditions,
    }
}

/// The statements of a policy document's `Statement` list by Sid, with the template condition
/// each one is granted under: a literal statement (none), or each statement branch of an
/// `!If [condition, statement, statement or !Ref AWS::NoValue]`.
fn cfn_statements(list: &Yaml) -> BTreeMap<String, (Option<String>, Statement)> {
    let mut found = BTreeMap::new();
    let mut add = |granted_if: Option<&str>, s: &Yaml| {
        let sid = s["Sid"].as_str().expect("every statement has a Sid");
        let previous = found.insert(
            sid.to_owned(),
            (granted_if.map(str::to_owned), cfn_statement(s)),
        );
        assert!(previous.is_none(), "Sid {sid} appears twice");
    };
    for item in list.as_sequence().expect("a Statement list") {
        match if_branches(item) {
            Some((granted_if, then, otherwise)) => {
                add(Some(granted_if), then);
                if !is_ref(otherwise, "AWS::NoValue") {
                    add(Some(granted_if), otherwise);
                }
            }
            None => add(None, item),
        }
    }
    found
}

fn unconditional(found: BTreeMap<String, (Option<String>, Statement)>) -> Statements {
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

fn assert_same_statements(template: &str, found: &Statements) {
    assert_statements_are(template, found, &generated(), "autosub iam-policy --all");
}

fn assert_statements_are(template: &str, found: &Statements, want: &Statements, command: &str) {
    let drift = differences(found, want);
    assert!(
        drift.is_empty(),
        "{template} is not `{command}` statement for statement (Sid, actions, resource shapes, conditions):\n  {}",
        drift.join("\n  ")
    );
}

/// The comparison itself: each way a template can drift from iam-policy is reported.
#[test]
fn a_template_statement_that_drifts_from_iam_policy_is_reported() {
    let want = generated();
    assert!(differences(&want, &want).is_empty());
    /// A change that makes a template drift.
    type Drift = fn(&mut Statements);
    let drifted = |change: Drift| {
        let mut found = want.clone();
        change(&mut found);
        differences(&found, &want)
    };
    fn statement(found: &Statements, sid: &str) -> Statement {
        found.get(sid).cloned().unwrap_or_else(|| panic!("{sid}"))
    }
    let cases: [(&str, Drift); 6] = [
        ("a condition dropped", |f| {
            let mut s = statement(f, "ManageForwarderPermissions");
            s.conditions.clear();
            f.insert("ManageForwarderPermissions".into(), s);
        }),
        ("a condition value added", |f| {
            let mut s = statement(f, "ManageForwarderPermissions");
            for values in s.conditions.values_mut() {
                values.insert("sns.amazonaws.com".into());
            }
            f.insert("ManageForwarderPermissions".into(), s);
        }),
        ("an account widened to any", |f| {
            let mut s = statement(f, "ManageSubscriptionFilters");
            s.resources = resources_of(&["arn:aws:logs:*:*:log-group:*".to_owned()]);
            f.insert("ManageSubscriptionFilters".into(), s);
        }),
        ("a scoped resource widened to *", |f| {
            let mut s = statement(f, "ReadForwarderPolicies");
            s.resources = Resources::Any;
            f.insert("ReadForwarderPolicies".into(), s);
        }),
        ("an action added", |f| {
            let mut s = statement(f, "ReadSubscriptionFilters");
            s.actions.insert("logs:*".into());
            f.insert("ReadSubscriptionFilters".into(), s);
        }),
        ("a statement dropped", |f| {
            f.remove("DiscoverLambda");
        }),
    ];
    for (what, change) in cases {
        assert!(!drifted(change).is_empty(), "{what} is not reported");
    }
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

    let statements = &resources["ReconcilePolicy"]["Properties"]["PolicyDocument"]["Statement"];
    for s in statements
        .as_sequence()
        .expect("the reconcile policy's statements")
    {
        let sid = s["Sid"].as_str().expect("every statement has a Sid");
        if sid.contains("Forwarder") {
            assert!(
                is_ref(&s["Resource"], "ForwarderArns"),
                "the forwarders' policies are scoped to the ForwarderArns parameter: {sid}"
            );
        }
    }
    let found = cfn_statements(statements);
    assert!(
        found.values().all(|(granted_if, _)| granted_if.is_none()),
        "the reconcile policy grants everything, unconditionally"
    );
    let found = unconditional(found);
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
    for sid in ["ReadForwarderPolicies", "ManageForwarderPermissions"] {
        assert!(
            regex::Regex::new(&format!(r"(?m)^\s*{sid}\s*=\s*var\.forwarder_arns$"))
                .expect("a valid pattern")
                .is_match(&scoped_block),
            "{sid} is scoped to var.forwarder_arns: {scoped_block}"
        );
    }
    assert!(
        scoped_block.contains("logs:*:${local.account_id}:log-group:*"),
        "subscription filters on this account's log groups: {scoped_block}"
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
        found.values().all(|(granted_if, _)| granted_if.is_none()),
        "the member role grants everything, unconditionally"
    );
    assert_statements_are(
        path,
        &unconditional(found),
        &want,
        "autosub iam-policy --role member --all",
    );
    assert!(
        role.get("ManagedPolicyArns").is_none(),
        "nothing but the generated policy"
    );
    for sid in ["ReadForwarderPolicies", "ManageForwarderPermissions"] {
        let forwarder = statements
            .as_sequence()
            .expect("statements")
            .iter()
            .find(|s| s["Sid"] == sid)
            .unwrap_or_else(|| panic!("{sid}"));
        let arn = tagged(&forwarder["Resource"], "Sub")
            .and_then(Yaml::as_str)
            .unwrap_or_default();
        assert_eq!(
            arn,
            "arn:${AWS::Partition}:lambda:*:${AWS::AccountId}:function:${ForwarderFunctionName}",
            "{sid}: the forwarder's policy only, in this account"
        );
    }

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
        let env = [env, &[("AUTOSUB_EVENTS_QUEUE_URL", EVENTS_QUEUE_URL)]].concat();
        let mut want = iam_policy(FLEET_CONFIG, &["--role", "central", "--all"], &env);
        let ledger: Statements = ledger_sids
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
            "AssumeOrganizationMemberRoles",
            "DiscoverOrganizationAccounts",
            "FollowEvents",
            "HoldTargetLeases"
        ],
        "{FLEET_CONFIG} sets every fleet key, AUTOSUB_EVENTS_QUEUE_URL the queue"
    );
    let (_, s3) = central(&[("AUTOSUB_LEDGER", "s3://ops/autosub/ledger.json")]);

    let cfn = cloudformation();
    let path = "deploy/cloudformation/ecs-service.yaml";
    let found = cfn_statements(
        &cfn["Resources"]["CentralPolicy"]["Properties"]["PolicyDocument"]["Statement"],
    );
    let granted_if = |sid: &str| found[sid].0.as_deref();
    assert_eq!(granted_if("AssumeMemberRoles"), Some("HasMemberRoleArns"));
    assert_eq!(
        granted_if("AssumeOrganizationMemberRoles"),
        Some("DiscoverOrganizations")
    );
    assert_eq!(
        granted_if("DiscoverOrganizationAccounts"),
        Some("DiscoverOrganizations")
    );
    assert_eq!(granted_if("HoldTargetLeases"), Some("HasLease"));
    assert_eq!(granted_if("FollowEvents"), Some("FollowEvents"));
    let assume = &found["AssumeMemberRoles"].1;
    assert!(
        matches!(assume.resources, Resources::Supplied)
            && cfn["Resources"]["CentralPolicy"]["Properties"]["PolicyDocument"]["Statement"]
                .as_sequence()
                .expect("statements")
                .iter()
                .filter_map(if_branches)
                .any(|(_, s, _)| s["Sid"] == "AssumeMemberRoles"
                    && is_ref(&s["Resource"], "MemberRoleArns")),
        "the listed accounts' roles are the MemberRoleArns parameter"
    );
    let mut found = unconditional(found);
    // The ledger's statements have names of their own in the template; the S3 one lists only
    // the ledger's key (s3:prefix), narrower than iam-policy's.
    let mut ledger = |cfn_sid: &str, want: &Statement, sid: &str| {
        let mut statement = found.remove(cfn_sid).unwrap_or_else(|| panic!("{cfn_sid}"));
        if cfn_sid == "LedgerObjectExists" {
            let prefix = statement
                .conditions
                .remove(&("StringEquals".to_owned(), "s3:prefix".to_owned()));
            assert_eq!(
                prefix,
                Some(BTreeSet::from(["<LedgerS3Key>".to_owned()])),
                "{cfn_sid} lists the ledger's key only"
            );
        }
        let drift = differences(
            &BTreeMap::from([(sid.to_owned(), statement)]),
            &BTreeMap::from([(sid.to_owned(), want.clone())]),
        );
        assert!(drift.is_empty(), "{path} {cfn_sid}: {drift:?}");
    };
    ledger(
        "LedgerTable",
        &dynamodb["KeepLedgerInDynamoDb"],
        "KeepLedgerInDynamoDb",
    );
    ledger("LedgerObject", &s3["KeepLedgerInS3"], "KeepLedgerInS3");
    ledger(
        "LedgerObjectExists",
        &s3["FindLedgerInS3"],
        "FindLedgerInS3",
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
    assert!(
        main.contains(
            r#"organization_member_role_arns = ["arn:${local.partition}:iam::*:role/${var.member_role_name}"]"#
        ),
        "AssumeOrganizationMemberRoles: the role name in any account (of the organisation)"
    );
    for (sid, variable) in [
        ("AssumeMemberRoles", "length(var.accounts) > 0"),
        ("AssumeOrganizationMemberRoles", "var.organizations != null"),
        ("DiscoverOrganizationAccounts", "var.organizations != null"),
        ("HoldTargetLeases", "local.has_lease"),
        ("FollowEvents", "local.follow_events"),
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
/// later, with service-managed permissions, in one region (IAM is global); with EventBusArn a
/// second one puts the event rule in every region of EventRegions.
#[test]
fn the_stackset_is_service_managed_with_auto_deployment() {
    let path = "deploy/cloudformation/fleet-stackset.yaml";
    let cfn = template(path);
    let resources: BTreeSet<&str> = cfn["Resources"]
        .as_mapping()
        .expect("Resources")
        .keys()
        .map(|k| k.as_str().expect("a name"))
        .collect();
    assert_eq!(
        resources,
        BTreeSet::from(["EventRules", "MemberRoles"]),
        "the member roles' StackSet and the event rules' (tested in every_member_account_and_region_forwards_to_the_central_bus)"
    );
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

// ---- event-driven mode -------------------------------------------------------------------------

/// The relative paths of the files ending in `.{ext}` under `dir`, at any depth, sorted.
fn files(dir: &str, ext: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        let entries =
            std::fs::read_dir(repo().join(&dir)).unwrap_or_else(|e| panic!("list {dir}: {e}"));
        for entry in entries {
            let name = entry.expect("a directory entry").file_name();
            let path = format!("{dir}/{}", name.to_string_lossy());
            if repo().join(&path).is_dir() {
                pending.push(path);
            } else if path.ends_with(&format!(".{ext}")) {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// What every rule must send: the pattern autosub builds for every service.
fn assert_is_the_rule_pattern(what: &str, found: &Value) {
    let all: BTreeSet<Service> = Service::ALL.into_iter().collect();
    let want = cloudtrail::rule_pattern(&all);
    assert!(
        *found == want,
        "{what} is not autosub_core::cloudtrail::rule_pattern of every service; it should be\n{}",
        serde_json::to_string_pretty(&want).expect("a pattern is JSON")
    );
}

/// True when the HCL `text` sets `key = value` on a line of its own (`value` verbatim).
fn hcl_sets(text: &str, key: &str, value: &str) -> bool {
    Regex::new(&format!(
        r"(?m)^\s*{}\s*=\s*{}\s*$",
        regex::escape(key),
        regex::escape(value)
    ))
    .expect("a valid pattern")
    .is_match(text)
}

/// Every EventBridge rule of the templates (`AWS::Events::Rule`) and of the Terraform modules
/// (`aws_cloudwatch_event_rule`) sends exactly the events autosub reads, under the name
/// `autosub doctor` looks for: a service that gains an event fails here until every rule has it.
#[test]
fn every_event_rule_sends_exactly_the_events_autosub_follows() {
    let mut cfn_rules = Vec::new();
    for path in files("deploy/cloudformation", "yaml") {
        let cfn = template(&path);
        let Some(resources) = cfn["Resources"].as_mapping() else {
            continue;
        };
        for (name, resource) in resources {
            if resource["Type"].as_str() != Some("AWS::Events::Rule") {
                continue;
            }
            let what = format!("{path} {}", name.as_str().expect("a name"));
            let p = &resource["Properties"];
            assert_eq!(p["Name"].as_str(), Some(cloudtrail::RULE_NAME), "{what}");
            assert_eq!(p["EventBusName"].as_str(), Some("default"), "{what}");
            assert_eq!(p["State"].as_str(), Some("ENABLED"), "{what}");
            let pattern = serde_json::to_value(&p["EventPattern"]).expect("a pattern as JSON");
            assert_is_the_rule_pattern(&what, &pattern);
            cfn_rules.push(what);
        }
    }
    assert_eq!(
        cfn_rules,
        [
            "deploy/cloudformation/events-member.yaml Rule",
            "deploy/cloudformation/events-queue.yaml CentralRule",
        ]
    );

    let block = Regex::new(r#"(?s)resource "aws_cloudwatch_event_rule" "(\w+)" \{(.*?)\n\}"#)
        .expect("a valid pattern");
    let mut tf_rules = Vec::new();
    for path in files("deploy/terraform", "tf") {
        let text = read(&path);
        for rule in block.captures_iter(&text) {
            let what = format!("{path} {}", &rule[1]);
            let body = &rule[2];
            assert!(
                hcl_sets(body, "name", &format!("{:?}", cloudtrail::RULE_NAME)),
                "{what}: {body}"
            );
            assert!(hcl_sets(body, "event_bus_name", r#""default""#), "{what}");
            assert!(hcl_sets(body, "state", r#""ENABLED""#), "{what}");
            assert!(
                hcl_sets(
                    body,
                    "event_pattern",
                    r#"file("${path.module}/rule-pattern.json")"#
                ),
                "{what}: the pattern is the module's rule-pattern.json"
            );
            let module = path.rsplit_once('/').expect("a module directory").0;
            let json = format!("{module}/rule-pattern.json");
            let pattern: Value =
                serde_json::from_str(&read(&json)).unwrap_or_else(|e| panic!("{json}: {e}"));
            assert_is_the_rule_pattern(&json, &pattern);
            tf_rules.push(what);
        }
    }
    assert_eq!(
        tf_rules,
        [
            "deploy/terraform/events-member/main.tf forward",
            "deploy/terraform/events-queue/main.tf central",
        ]
    );
}

/// The queue and its dead-letter queue are encrypted, the redrive policy dead-letters after
/// MaxReceiveCount (5 by default), EventBridge may send only from the central rule, and the
/// central bus lets the organisation or the listed accounts put events, nothing else.
#[test]
fn the_queue_takes_events_from_the_central_rule_alone() {
    let path = "deploy/cloudformation/events-queue.yaml";
    let cfn = template(path);
    let r = &cfn["Resources"];
    let get_att = |v: &Yaml| {
        tagged(v, "GetAtt")
            .and_then(Yaml::as_str)
            .map(str::to_owned)
    };
    for queue in ["Queue", "DeadLetterQueue"] {
        assert_eq!(r[queue]["Type"].as_str(), Some("AWS::SQS::Queue"));
        assert_eq!(
            r[queue]["Properties"]["SqsManagedSseEnabled"].as_bool(),
            Some(true),
            "{queue} is encrypted at rest"
        );
    }
    let queue = &r["Queue"]["Properties"];
    assert_eq!(
        get_att(&queue["RedrivePolicy"]["deadLetterTargetArn"]).as_deref(),
        Some("DeadLetterQueue.Arn")
    );
    assert!(is_ref(
        &queue["RedrivePolicy"]["maxReceiveCount"],
        "MaxReceiveCount"
    ));
    assert_eq!(
        cfn["Parameters"]["MaxReceiveCount"]["Default"].as_u64(),
        Some(5)
    );
    assert!(is_ref(
        &queue["MessageRetentionPeriod"],
        "MessageRetentionSeconds"
    ));

    let policy = &r["QueuePolicy"]["Properties"];
    assert!(matches!(
        policy["Queues"].as_sequence().map(Vec::as_slice),
        Some([q]) if is_ref(q, "Queue")
    ));
    let statements = policy["PolicyDocument"]["Statement"]
        .as_sequence()
        .expect("the queue policy's statements");
    let allows: Vec<&Yaml> = statements
        .iter()
        .filter(|s| s["Effect"].as_str() == Some("Allow"))
        .collect();
    let [allow] = allows.as_slice() else {
        panic!("one Allow statement: {allows:?}");
    };
    assert_eq!(
        allow["Principal"]["Service"].as_str(),
        Some("events.amazonaws.com")
    );
    assert_eq!(yaml_strings(&allow["Action"]), ["sqs:SendMessage"]);
    assert_eq!(get_att(&allow["Resource"]).as_deref(), Some("Queue.Arn"));
    assert_eq!(
        get_att(&allow["Condition"]["ArnEquals"]["aws:SourceArn"]).as_deref(),
        Some("CentralRule.Arn"),
        "only the central rule may send"
    );

    let targets = r["CentralRule"]["Properties"]["Targets"]
        .as_sequence()
        .expect("the central rule's targets");
    let [target] = targets.as_slice() else {
        panic!("one target: {targets:?}");
    };
    assert_eq!(get_att(&target["Arn"]).as_deref(), Some("Queue.Arn"));
    assert!(
        target.get("RoleArn").is_none(),
        "same account: the queue policy"
    );

    for (name, condition) in [
        ("OrganizationMayForward", "HasOrganization"),
        ("AccountsMayForward", "HasAccounts"),
    ] {
        let bus_policy = &r[name];
        assert_eq!(
            bus_policy["Type"].as_str(),
            Some("AWS::Events::EventBusPolicy")
        );
        assert_eq!(bus_policy["Condition"].as_str(), Some(condition));
        let p = &bus_policy["Properties"];
        assert_eq!(p["EventBusName"].as_str(), Some("default"), "{name}");
        assert_eq!(
            yaml_strings(&p["Statement"]["Action"]),
            ["events:PutEvents"],
            "{name}: putting events, nothing else"
        );
    }
    let org = &r["OrganizationMayForward"]["Properties"]["Statement"];
    assert_eq!(org["Principal"].as_str(), Some("*"));
    assert!(
        is_ref(
            &org["Condition"]["StringEquals"]["aws:PrincipalOrgID"],
            "OrganizationId"
        ),
        "any principal of the organisation only"
    );
    let accounts = &r["AccountsMayForward"]["Properties"]["Statement"];
    assert!(is_ref(&accounts["Principal"]["AWS"], "AccountIds"));
    assert_eq!(
        tagged(&cfn["Outputs"]["EventBusArn"]["Value"], "Sub").and_then(Yaml::as_str),
        Some("arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/default")
    );

    let main = read("deploy/terraform/events-queue/main.tf");
    assert_eq!(
        main.matches("sqs_managed_sse_enabled   = true").count()
            + main.matches("sqs_managed_sse_enabled    = true").count(),
        2,
        "both queues are encrypted at rest"
    );
    for (key, value) in [
        ("deadLetterTargetArn", "aws_sqs_queue.dead_letter.arn"),
        ("maxReceiveCount", "var.max_receive_count"),
        ("Principal", r#"{ Service = "events.amazonaws.com" }"#),
        (
            "Condition",
            r#"{ ArnEquals = { "aws:SourceArn" = aws_cloudwatch_event_rule.central.arn } }"#,
        ),
        ("arn", "aws_sqs_queue.events.arn"),
    ] {
        assert!(
            hcl_sets(&main, key, value),
            "events-queue/main.tf: {key} = {value}"
        );
    }
    assert_eq!(main.matches(r#"Effect    = "Allow""#).count(), 1);
    assert!(
        Regex::new(r#"(?s)"aws_cloudwatch_event_permission" "organization" \{.*?key   = "aws:PrincipalOrgID".*?value = var\.organization_id"#)
            .expect("a valid pattern")
            .is_match(&main)
    );
    let variables = read("deploy/terraform/events-queue/variables.tf");
    assert!(
        Regex::new(r#"(?s)variable "max_receive_count" \{[^}]*default     = 5\n"#)
            .expect("a valid pattern")
            .is_match(&variables)
    );
}

/// A CloudFormation value where it can be worked out from the parameters: `!Ref`, `!Select`,
/// `!Split`, `!Sub`, `!Equals`, `!And`, `!Not`, `!Condition` and literal strings. Pseudo
/// parameters are parameters here.
fn evaluate(template: &Yaml, parameters: &BTreeMap<&str, &str>, v: &Yaml) -> Value {
    let eval = |v: &Yaml| evaluate(template, parameters, v);
    let list = |v: &Yaml| -> Vec<Yaml> { v.as_sequence().expect("a list").clone() };
    let Yaml::Tagged(t) = v else {
        return match v {
            Yaml::String(s) => Value::String(s.clone()),
            Yaml::Sequence(items) => Value::Array(items.iter().map(eval).collect()),
            other => panic!("cannot evaluate {other:?}"),
        };
    };
    let string = |v: &Yaml| eval(v).as_str().expect("a string").to_owned();
    match t.tag.to_string().trim_start_matches('!') {
        "Ref" => {
            let name = t.value.as_str().expect("!Ref names a parameter");
            Value::String(
                parameters
                    .get(name)
                    .unwrap_or_else(|| panic!("no value for {name}"))
                    .to_string(),
            )
        }
        "Select" => {
            let [index, from] = list(&t.value).try_into().expect("!Select [index, list]");
            let index = index
                .as_u64()
                .or_else(|| index.as_str().and_then(|s| s.parse().ok()))
                .expect("an index");
            eval(&from)[usize::try_from(index).expect("an index")].clone()
        }
        "Split" => {
            let [delimiter, from] = list(&t.value)
                .try_into()
                .expect("!Split [delimiter, string]");
            let delimiter = delimiter.as_str().expect("a delimiter");
            Value::Array(
                string(&from)
                    .split(delimiter)
                    .map(|s| Value::String(s.to_owned()))
                    .collect(),
            )
        }
        "Sub" => {
            let (text, variables) = match &t.value {
                Yaml::String(text) => (text.clone(), BTreeMap::new()),
                v => {
                    let [text, variables] = list(v).try_into().expect("!Sub [text, variables]");
                    let variables: BTreeMap<String, String> = variables
                        .as_mapping()
                        .expect("!Sub's variables")
                        .iter()
                        .map(|(k, v)| (k.as_str().expect("a name").to_owned(), string(v)))
                        .collect();
                    (text.as_str().expect("!Sub's text").to_owned(), variables)
                }
            };
            let out = Regex::new(r"\$\{([\w:]+)\}")
                .expect("a valid pattern")
                .replace_all(&text, |c: &regex::Captures| {
                    variables.get(&c[1]).cloned().unwrap_or_else(|| {
                        parameters
                            .get(&c[1])
                            .unwrap_or_else(|| panic!("no value for {}", &c[1]))
                            .to_string()
                    })
                });
            Value::String(out.into_owned())
        }
        "Equals" => {
            let [a, b] = list(&t.value).try_into().expect("!Equals [a, b]");
            Value::Bool(eval(&a) == eval(&b))
        }
        "And" => Value::Bool(list(&t.value).iter().all(|c| eval(c) == Value::Bool(true))),
        "Not" => {
            let [c] = list(&t.value).try_into().expect("!Not [condition]");
            Value::Bool(eval(&c) == Value::Bool(false))
        }
        "Condition" => {
            let name = t.value.as_str().expect("!Condition names a condition");
            eval(&template["Conditions"][name])
        }
        other => panic!("cannot evaluate !{other}"),
    }
}

/// The member rule forwards to the central bus with a role that may put events there and
/// nowhere else, except in the central bus's own account and region, where the central rule is;
/// the fleet StackSet puts it in every account of the OUs and every region of EventRegions.
#[test]
fn every_member_account_and_region_forwards_to_the_central_bus() {
    let path = "deploy/cloudformation/events-member.yaml";
    let cfn = template(path);
    let r = &cfn["Resources"];
    let rule = &r["Rule"];
    assert_eq!(rule["Condition"].as_str(), Some("Forwards"));
    let targets = rule["Properties"]["Targets"]
        .as_sequence()
        .expect("the rule's targets");
    let [target] = targets.as_slice() else {
        panic!("one target: {targets:?}");
    };
    assert!(is_ref(&target["Arn"], "EventBusArn"), "the central bus");
    assert_eq!(
        tagged(&target["RoleArn"], "GetAtt").and_then(Yaml::as_str),
        Some("ForwardingRole.Arn"),
        "a bus of another account or region is reached with a role"
    );
    let role = &r["ForwardingRole"]["Properties"];
    assert!(
        role.get("RoleName").is_none(),
        "one role per region: IAM names are global"
    );
    let trust = role["AssumeRolePolicyDocument"]["Statement"]
        .as_sequence()
        .expect("trust statements");
    let [trust] = trust.as_slice() else {
        panic!("one trust statement: {trust:?}");
    };
    assert_eq!(
        trust["Principal"]["Service"].as_str(),
        Some("events.amazonaws.com")
    );
    let policies = role["Policies"].as_sequence().expect("the role's policies");
    let [policy] = policies.as_slice() else {
        panic!("one policy: {policies:?}");
    };
    let statements = policy["PolicyDocument"]["Statement"]
        .as_sequence()
        .expect("statements");
    let [grant] = statements.as_slice() else {
        panic!("one statement: {statements:?}");
    };
    assert_eq!(yaml_strings(&grant["Action"]), ["events:PutEvents"]);
    assert!(
        is_ref(&grant["Resource"], "EventBusArn"),
        "on the central bus only"
    );

    let bus = "arn:aws:events:eu-west-1:111111111111:event-bus/default";
    for (account, region, forwards) in [
        ("222222222222", "eu-west-1", true),
        ("222222222222", "us-east-1", true),
        ("111111111111", "us-east-1", true),
        ("111111111111", "eu-west-1", false),
    ] {
        let parameters = BTreeMap::from([
            ("EventBusArn", bus),
            ("AWS::AccountId", account),
            ("AWS::Region", region),
        ]);
        assert_eq!(
            evaluate(&cfn, &parameters, &cfn["Conditions"]["Forwards"]),
            Value::Bool(forwards),
            "{account} {region}"
        );
    }
    assert_eq!(
        r["CentralRuleIsHere"]["Condition"].as_str(),
        Some("IsTheCentralBus"),
        "a stack there still has a resource"
    );

    let stackset_path = "deploy/cloudformation/fleet-stackset.yaml";
    let fleet = template(stackset_path);
    let stackset = &fleet["Resources"]["EventRules"];
    assert_eq!(stackset["Condition"].as_str(), Some("FollowEvents"));
    for (event_bus, on) in [("", false), (bus, true)] {
        let parameters = BTreeMap::from([("EventBusArn", event_bus)]);
        assert_eq!(
            evaluate(&fleet, &parameters, &fleet["Conditions"]["FollowEvents"]),
            Value::Bool(on),
            "EventBusArn {event_bus:?}"
        );
    }
    let p = &stackset["Properties"];
    assert_eq!(p["PermissionModel"].as_str(), Some("SERVICE_MANAGED"));
    assert_eq!(p["AutoDeployment"]["Enabled"].as_bool(), Some(true));
    assert_eq!(yaml_strings(&p["Capabilities"]), ["CAPABILITY_IAM"]);
    assert!(is_ref(&p["TemplateURL"], "EventsTemplateURL"));
    let [group] = p["StackInstancesGroup"]
        .as_sequence()
        .expect("StackInstancesGroup")
        .as_slice()
    else {
        panic!("one group of stack instances");
    };
    assert!(is_ref(
        &group["DeploymentTargets"]["OrganizationalUnitIds"],
        "OrganizationalUnitIds"
    ));
    assert!(
        is_ref(&group["Regions"], "EventRegions"),
        "a rule is regional: every region of EventRegions"
    );
    assert!(
        yaml_strings(&fleet["Parameters"]["EventRegions"]["Default"])
            .iter()
            .any(|r| r.split(',').any(|r| r == "us-east-1")),
        "CloudTrail records CloudFront's calls in us-east-1"
    );
    let passed: Vec<(String, bool)> = p["Parameters"]
        .as_sequence()
        .expect("the StackSet's Parameters")
        .iter()
        .map(|kv| {
            let key = kv["ParameterKey"]
                .as_str()
                .expect("ParameterKey")
                .to_owned();
            let through = is_ref(&kv["ParameterValue"], &key);
            (key, through)
        })
        .collect();
    assert_eq!(passed, [("EventBusArn".to_owned(), true)]);
    assert_eq!(
        cfn["Parameters"]
            .as_mapping()
            .expect("Parameters")
            .keys()
            .filter_map(Yaml::as_str)
            .collect::<Vec<_>>(),
        ["EventBusArn"],
        "{path} takes only what the StackSet passes"
    );

    let main = read("deploy/terraform/events-member/main.tf");
    for (key, value) in [
        ("arn", "var.event_bus_arn"),
        ("role_arn", "aws_iam_role.forwarding[0].arn"),
        ("region", "each.key"),
        ("for_each", "local.forwarding_regions"),
        ("Principal", r#"{ Service = "events.amazonaws.com" }"#),
        ("Action", r#""events:PutEvents""#),
        ("Resource", "var.event_bus_arn"),
    ] {
        assert!(
            hcl_sets(&main, key, value),
            "events-member/main.tf: {key} = {value}"
        );
    }
    assert!(
        main.contains(
            "for r in var.regions : r if !(local.account_id == local.bus_account && r == local.bus_region)"
        ),
        "events-member/main.tf skips the central bus's own account and region"
    );
}

/// With EventsQueueUrl the task is told the queue (AUTOSUB_EVENTS_QUEUE_URL) and its role gets
/// iam-policy's FollowEvents on exactly that queue: the ARN the template reads from the URL is
/// the one iam-policy prints for it. The Terraform module does the same with events_queue_url.
#[test]
fn the_task_follows_the_events_queue_it_is_given() {
    let want = iam_policy_json(
        FLEET_CONFIG,
        &["--role", "central"],
        &[("AUTOSUB_EVENTS_QUEUE_URL", EVENTS_QUEUE_URL)],
    );
    let follow = want["Statement"]
        .as_array()
        .expect("statements")
        .iter()
        .find(|s| s["Sid"] == "FollowEvents")
        .expect("iam-policy grants FollowEvents with [events] queue_url");
    assert_eq!(
        follow["Resource"],
        serde_json::json!(["arn:aws:sqs:eu-west-1:111111111111:autosub-events"])
    );

    let cfn = cloudformation();
    let statement = cfn["Resources"]["CentralPolicy"]["Properties"]["PolicyDocument"]["Statement"]
        .as_sequence()
        .expect("statements")
        .iter()
        .filter_map(if_branches)
        .find(|(_, s, _)| s["Sid"] == "FollowEvents")
        .map(|(_, s, _)| s)
        .expect("the central policy has FollowEvents");
    let parameters = BTreeMap::from([
        ("EventsQueueUrl", EVENTS_QUEUE_URL),
        ("AWS::Partition", "aws"),
    ]);
    assert_eq!(
        Value::Array(vec![evaluate(&cfn, &parameters, &statement["Resource"])]),
        follow["Resource"],
        "the queue's ARN, read from EventsQueueUrl"
    );
    let allowed = Regex::new(
        cfn["Parameters"]["EventsQueueUrl"]["AllowedPattern"]
            .as_str()
            .expect("EventsQueueUrl has an AllowedPattern"),
    )
    .expect("a valid pattern");
    for (url, fits) in [
        (EVENTS_QUEUE_URL, true),
        ("", true),
        (
            "https://sqs.cn-north-1.amazonaws.com.cn/111111111111/q",
            true,
        ),
        // The ARN is read from the URL's parts: other spellings are refused.
        (
            "https://us-west-2.queue.amazonaws.com/111111111111/q",
            false,
        ),
        ("http://localhost:5000/123456789012/q", false),
    ] {
        assert_eq!(allowed.is_match(url), fits, "{url}");
    }
    let container = cfn_container(&cfn);
    let told = container["Environment"]
        .as_sequence()
        .expect("Environment")
        .iter()
        .filter_map(if_branches)
        .any(|(condition, e, otherwise)| {
            condition == "FollowEvents"
                && e["Name"].as_str() == Some("AUTOSUB_EVENTS_QUEUE_URL")
                && is_ref(&e["Value"], "EventsQueueUrl")
                && is_ref(otherwise, "AWS::NoValue")
        });
    assert!(
        told,
        "the task gets AUTOSUB_EVENTS_QUEUE_URL with EventsQueueUrl"
    );

    let main = read("deploy/terraform/ecs-service/main.tf");
    assert!(
        main.contains(
            r#"local.follow_events ? [{ name = "AUTOSUB_EVENTS_QUEUE_URL", value = var.events_queue_url }] : []"#
        ),
        "the task gets AUTOSUB_EVENTS_QUEUE_URL with events_queue_url"
    );
    assert!(hcl_sets(&main, "FollowEvents", "[local.events_queue_arn]"));
}
