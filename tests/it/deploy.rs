//! The deploy templates against the binary: the ECS task role's reconcile policy is
//! `autosub iam-policy --all`, statement for statement, in the CloudFormation template and in the
//! Terraform module; the container uses the binary's own health check, stops within ECS's stop
//! timeout, never overlaps a second task, and the image runs as a non-root user.

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
    let out = Command::new(autosub_binary())
        .arg("--config")
        .arg(repo().join("config/autosub.example.toml"))
        .args(["iam-policy", "--all"])
        .output()
        .expect("run autosub iam-policy");
    assert!(
        out.status.success(),
        "autosub iam-policy --all: {}",
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
    serde_norway::from_str(&read("deploy/cloudformation/ecs-service.yaml"))
        .expect("ecs-service.yaml is YAML")
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
    let want = generated();
    let all = |s: &BTreeMap<String, Statement>| -> BTreeSet<String> {
        s.values().flat_map(|s| s.actions.iter().cloned()).collect()
    };
    assert_eq!(
        all(found),
        all(&want),
        "{template}: the reconcile policy's actions are those of `autosub iam-policy --all`"
    );
    assert_eq!(
        found, &want,
        "{template}: statement for statement (Sid, actions, `*` exactly where iam-policy has it)"
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
    assert!(
        matches!(attached.as_slice(), [Yaml::Tagged(t)] if t.tag == "Ref" && t.value.as_str() == Some("ReconcilePolicy")),
        "the task role's only managed policy is the reconcile policy: {attached:?}"
    );
    assert!(
        role.get("Policies").is_none(),
        "the ledger policy is a separate resource (LedgerPolicy), not inline in the role"
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

    let ledger = &resources["LedgerPolicy"]["Properties"];
    assert!(
        matches!(&ledger["RoleName"], Yaml::Tagged(t) if t.tag == "Ref" && t.value.as_str() == Some("TaskRole")),
        "the ledger policy belongs to the task role"
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
    assert!(
        main.contains(r#"jsondecode(file("${path.module}/reconcile-policy.json"))"#),
        "main.tf builds the reconcile policy from reconcile-policy.json"
    );
    let scoped_block = regex::Regex::new(r"(?s)scoped_resources = \{(.*?)\n  \}")
        .expect("a valid pattern")
        .captures(&main)
        .expect("main.tf has local.scoped_resources")[1]
        .to_owned();
    let scoped: BTreeSet<String> = regex::Regex::new(r"(?m)^\s*(\w+)\s*=")
        .expect("a valid pattern")
        .captures_iter(&scoped_block)
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
        "every statement iam-policy scopes has its resource replaced in main.tf, and only those"
    );
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
    assert_eq!(
        (
            deployment["MinimumHealthyPercent"].as_u64(),
            deployment["MaximumPercent"].as_u64()
        ),
        (Some(0), Some(100)),
        "without a lease two tasks never run at once"
    );
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
    assert_eq!(
        (
            number("deployment_minimum_healthy_percent"),
            number("deployment_maximum_percent")
        ),
        (0, 100)
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
