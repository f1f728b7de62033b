//! Lambda (restJson1): functions, their resource policies and tags.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::proto::{Reply, Request, json_error, partition};
use super::{Caller, State};

/// The largest resource policy Lambda stores, in bytes.
const POLICY_LIMIT: usize = 20_480;
const PAGE: usize = 50;

/// A function in the fake.
#[derive(Debug, Default)]
pub(super) struct Function {
    pub(super) arn: String,
    /// `LoggingConfig.LogGroup` (AWS reports the default group there too).
    pub(super) log_group: String,
    /// The resource policy's statements; none = no policy.
    pub(super) statements: Vec<Value>,
    /// Bumped on every policy change, reported as `RevisionId`.
    pub(super) revision: u64,
    pub(super) tags: BTreeMap<String, String>,
    /// Policy changes still to refuse as "an update is in progress" (a deployment running).
    pub(super) busy: u32,
}

impl Function {
    /// The resource policy document, `None` when it has no statement.
    pub(super) fn policy(&self) -> Option<Value> {
        (!self.statements.is_empty()).then(
            || json!({ "Version": "2012-10-17", "Id": "default", "Statement": self.statements }),
        )
    }

    /// True when a statement allows `service` (e.g. `logs.amazonaws.com`, or its regional
    /// form) to invoke the function. Conditions are not evaluated.
    pub(super) fn allows(&self, region: &str, service: &str) -> bool {
        let regional = service.replace(".amazonaws.com", &format!(".{region}.amazonaws.com"));
        let has = |v: &Value, want: &[&str]| match v {
            Value::String(s) => want.contains(&s.as_str()),
            Value::Array(items) => items
                .iter()
                .any(|i| i.as_str().is_some_and(|s| want.contains(&s))),
            _ => false,
        };
        self.statements.iter().any(|s| {
            s["Effect"] == "Allow"
                && has(&s["Action"], &["lambda:InvokeFunction", "lambda:*"])
                && has(&s["Principal"]["Service"], &[service, regional.as_str()])
        })
    }

    fn configuration(&self) -> Value {
        let name = self.arn.rsplit(':').next().unwrap_or_default();
        json!({
            "FunctionName": name,
            "FunctionArn": self.arn,
            "Runtime": "python3.12",
            "Handler": "index.handler",
            "State": "Active",
            "LastModified": "2026-01-01T00:00:00.000+0000",
            "LoggingConfig": { "LogFormat": "Text", "LogGroup": self.log_group },
        })
    }
}

/// The ARN of function `name` in `account` and `region`.
pub(super) fn arn(account: &str, region: &str, name: &str) -> String {
    format!(
        "arn:{}:lambda:{region}:{account}:function:{name}",
        partition(region)
    )
}

/// The caller's own function named by `name_or_arn`; an ARN in another account or region
/// finds nothing.
pub(super) fn local_function<'a>(
    functions: &'a BTreeMap<String, Function>,
    caller: &Caller,
    name_or_arn: &str,
) -> Option<&'a Function> {
    functions.get(local_name(caller, name_or_arn)?)
}

fn local_name<'a>(caller: &Caller, name_or_arn: &'a str) -> Option<&'a str> {
    if !name_or_arn.starts_with("arn:") {
        return Some(name_or_arn);
    }
    // arn:<partition>:lambda:<region>:<account>:function:<name>[:<qualifier>]
    match name_or_arn.split(':').collect::<Vec<_>>()[..] {
        [_, _, "lambda", region, account, "function", name, ..]
            if region == caller.region && account == caller.account =>
        {
            Some(name)
        }
        _ => None,
    }
}

/// The Lambda operations the fake serves, with their path parameters.
pub(super) enum Op {
    ListFunctions,
    GetPolicy(String),
    AddPermission(String),
    RemovePermission(String, String),
    GetFunctionConfiguration(String),
    ListTags(String),
    Unknown(String),
}

impl Op {
    pub(super) fn of(req: &Request) -> Op {
        let segments = req.segments();
        let s: Vec<&str> = segments.iter().map(String::as_str).collect();
        match (req.method.as_str(), &s[..]) {
            ("GET", ["2015-03-31", "functions"]) => Op::ListFunctions,
            ("GET", ["2015-03-31", "functions", f, "policy"]) => Op::GetPolicy((*f).to_owned()),
            ("POST", ["2015-03-31", "functions", f, "policy"]) => {
                Op::AddPermission((*f).to_owned())
            }
            ("DELETE", ["2015-03-31", "functions", f, "policy", sid]) => {
                Op::RemovePermission((*f).to_owned(), (*sid).to_owned())
            }
            ("GET", ["2015-03-31", "functions", f, "configuration"]) => {
                Op::GetFunctionConfiguration((*f).to_owned())
            }
            ("GET", ["2017-03-31", "tags", arn]) => Op::ListTags((*arn).to_owned()),
            (method, _) => Op::Unknown(format!("{method} {}", req.path)),
        }
    }

    pub(super) fn api(&self) -> &'static str {
        match self {
            Op::ListFunctions => "lambda:ListFunctions",
            Op::GetPolicy(_) => "lambda:GetPolicy",
            Op::AddPermission(_) => "lambda:AddPermission",
            Op::RemovePermission(..) => "lambda:RemovePermission",
            Op::GetFunctionConfiguration(_) => "lambda:GetFunctionConfiguration",
            Op::ListTags(_) => "lambda:ListTags",
            Op::Unknown(_) => "lambda:unknown",
        }
    }
}

pub(super) fn error(status: u16, code: &str, message: &str) -> Reply {
    json_error(status, code, message, &[("Type", "User")])
}

/// Lambda's throttle: 429 with the reason AWS gives for per-API rate limits.
pub(super) fn throttled() -> Reply {
    json_error(
        429,
        "TooManyRequestsException",
        "Rate exceeded",
        &[("Type", "User"), ("Reason", "CallerRateLimitExceeded")],
    )
}

fn not_found(function: &str) -> Reply {
    error(
        404,
        "ResourceNotFoundException",
        &format!("Function not found: {function}"),
    )
}

pub(super) fn handle(state: &mut State, caller: &Caller, op: Op, req: &Request) -> Reply {
    let functions = &mut state.target(&caller.account, &caller.region).functions;
    match op {
        Op::ListFunctions => {
            let after = req.param("Marker").unwrap_or_default();
            let limit = req
                .param("MaxItems")
                .and_then(|n| n.parse().ok())
                .map_or(PAGE, |n: usize| n.clamp(1, PAGE));
            let mut rest = functions
                .iter()
                .filter(|(name, _)| after.is_empty() || name.as_str() > after);
            let page: Vec<(&String, &Function)> = rest.by_ref().take(limit).collect();
            let mut out = json!({ "Functions": page.iter().map(|(_, f)| f.configuration()).collect::<Vec<_>>() });
            if rest.next().is_some() {
                out["NextMarker"] = json!(page.last().map(|(name, _)| name.as_str()));
            }
            Reply::json(200, &out)
        }
        Op::GetFunctionConfiguration(name) => match local_function(functions, caller, &name) {
            Some(f) => Reply::json(200, &f.configuration()),
            None => not_found(&name),
        },
        Op::ListTags(arn) => match local_function(functions, caller, &arn) {
            Some(f) => Reply::json(200, &json!({ "Tags": f.tags })),
            None => not_found(&arn),
        },
        Op::GetPolicy(name) => {
            let Some(f) = local_function(functions, caller, &name) else {
                return not_found(&name);
            };
            match f.policy() {
                Some(policy) => Reply::json(
                    200,
                    &json!({ "Policy": policy.to_string(), "RevisionId": revision_id(f.revision) }),
                ),
                None => error(
                    404,
                    "ResourceNotFoundException",
                    "The resource you requested does not exist.",
                ),
            }
        }
        Op::AddPermission(name) => {
            let Some(f) = local_name(caller, &name).and_then(|n| functions.get_mut(n)) else {
                return not_found(&name);
            };
            if let Some(busy) = refuse_busy(f) {
                return busy;
            }
            let body = req.json();
            let text = |k: &str| body[k].as_str().unwrap_or_default();
            let sid = text("StatementId");
            if f.statements.iter().any(|s| s["Sid"] == sid) {
                return error(
                    409,
                    "ResourceConflictException",
                    &format!(
                        "The statement id ({sid}) provided already exists. Please provide a new statement id, or remove the existing statement."
                    ),
                );
            }
            let statement = statement(caller, &f.arn, &body);
            f.statements.push(statement.clone());
            let size = f.policy().map_or(0, |p| p.to_string().len());
            if size > POLICY_LIMIT {
                f.statements.pop();
                return error(
                    400,
                    "PolicyLengthExceededException",
                    &format!(
                        "The final policy size ({size}) is bigger than the limit ({POLICY_LIMIT})."
                    ),
                );
            }
            f.revision += 1;
            Reply::json(201, &json!({ "Statement": statement.to_string() }))
        }
        Op::RemovePermission(name, sid) => {
            let Some(f) = local_name(caller, &name).and_then(|n| functions.get_mut(n)) else {
                return not_found(&name);
            };
            if let Some(busy) = refuse_busy(f) {
                return busy;
            }
            let before = f.statements.len();
            f.statements.retain(|s| s["Sid"] != sid.as_str());
            if f.statements.len() == before {
                return error(
                    404,
                    "ResourceNotFoundException",
                    &format!("The statement id ({sid}) provided does not exist."),
                );
            }
            f.revision += 1;
            Reply::empty(204)
        }
        Op::Unknown(what) => error(
            400,
            "NotImplemented",
            &format!("the fake AWS does not implement lambda {what}"),
        ),
    }
}

/// Lambda's answer to a policy change while the function is being updated, while `busy` lasts.
fn refuse_busy(f: &mut Function) -> Option<Reply> {
    (f.busy > 0).then(|| {
        f.busy -= 1;
        error(
            409,
            "ResourceConflictException",
            &format!(
                "The operation cannot be performed at this time. An update is in progress for resource: {}",
                f.arn
            ),
        )
    })
}

/// The statement AddPermission stores, shaped as Lambda renders it.
fn statement(caller: &Caller, function_arn: &str, body: &Value) -> Value {
    let text = |k: &str| body[k].as_str().unwrap_or_default();
    let principal = text("Principal");
    let principal = if principal == "*" {
        json!("*")
    } else if principal.ends_with(".amazonaws.com") {
        json!({ "Service": principal })
    } else if principal.len() == 12 && principal.bytes().all(|b| b.is_ascii_digit()) {
        json!({ "AWS": format!("arn:{}:iam::{principal}:root", partition(&caller.region)) })
    } else {
        json!({ "AWS": principal })
    };
    let mut statement = json!({
        "Sid": text("StatementId"),
        "Effect": "Allow",
        "Principal": principal,
        "Action": text("Action"),
        "Resource": function_arn,
    });
    let mut condition = serde_json::Map::new();
    if !text("SourceAccount").is_empty() {
        condition.insert(
            "StringEquals".into(),
            json!({ "AWS:SourceAccount": text("SourceAccount") }),
        );
    }
    if !text("SourceArn").is_empty() {
        condition.insert(
            "ArnLike".into(),
            json!({ "AWS:SourceArn": text("SourceArn") }),
        );
    }
    if !condition.is_empty() {
        statement["Condition"] = Value::Object(condition);
    }
    statement
}

fn revision_id(revision: u64) -> String {
    format!("00000000-0000-0000-0000-{revision:012}")
}
