//! STS (awsQuery): AssumeRole issues keys that act in the role's account; GetCallerIdentity.

use std::time::{Duration, SystemTime};

use aws_smithy_types::date_time::{DateTime, Format};

use super::proto::{Reply, Request, XmlErrors, partition, xml_error, xml_escape};
use super::{Caller, State, access_key_of};

const NS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

/// The STS operations the fake serves.
pub(super) enum Op {
    AssumeRole,
    GetCallerIdentity,
    Unknown(String),
}

impl Op {
    pub(super) fn of(req: &Request) -> Op {
        let form = req.form();
        let action = form.iter().find(|(k, _)| k == "Action").map(|(_, v)| v);
        match action.map(String::as_str) {
            Some("AssumeRole") => Op::AssumeRole,
            Some("GetCallerIdentity") => Op::GetCallerIdentity,
            other => Op::Unknown(other.unwrap_or_default().to_owned()),
        }
    }

    pub(super) fn api(&self) -> &'static str {
        match self {
            Op::AssumeRole => "sts:AssumeRole",
            Op::GetCallerIdentity => "sts:GetCallerIdentity",
            Op::Unknown(_) => "sts:unknown",
        }
    }
}

pub(super) fn error(status: u16, code: &str, message: &str) -> Reply {
    xml_error(XmlErrors::Wrapped, status, code, message)
}

pub(super) fn handle(state: &State, caller: &Caller, op: Op, req: &Request) -> Reply {
    let p = partition(&caller.region);
    match op {
        Op::GetCallerIdentity => {
            let account = &caller.account;
            result(
                "GetCallerIdentity",
                &format!(
                    "<Arn>arn:{p}:iam::{account}:root</Arn><UserId>{account}</UserId><Account>{account}</Account>"
                ),
            )
        }
        Op::AssumeRole => {
            let form = req.form();
            let field = |name: &str| {
                form.iter()
                    .find(|(k, _)| k == name)
                    .map_or("", |(_, v)| v.as_str())
            };
            let (role_arn, session) = (field("RoleArn"), field("RoleSessionName"));
            // arn:<partition>:iam::<account>:role/<name>
            let parts: Vec<&str> = role_arn.splitn(6, ':').collect();
            let (account, role) = match parts[..] {
                ["arn", _, "iam", "", account, resource] => {
                    (account, resource.strip_prefix("role/").unwrap_or(resource))
                }
                _ => {
                    return error(
                        400,
                        "ValidationError",
                        &format!("{role_arn} is not a role ARN"),
                    );
                }
            };
            if state.denied_roles.contains(account) {
                return error(
                    403,
                    "AccessDenied",
                    &format!(
                        "User: arn:{p}:iam::{}:root is not authorized to perform: sts:AssumeRole on resource: {role_arn}",
                        caller.account
                    ),
                );
            }
            let expires = DateTime::from(SystemTime::now() + Duration::from_secs(3600))
                .fmt(Format::DateTime)
                .unwrap_or_default();
            let key = access_key_of(account);
            result(
                "AssumeRole",
                &format!(
                    "<Credentials><AccessKeyId>{key}</AccessKeyId><SecretAccessKey>fake</SecretAccessKey>\
                     <SessionToken>fake-session</SessionToken><Expiration>{expires}</Expiration></Credentials>\
                     <AssumedRoleUser><Arn>arn:{p}:sts::{account}:assumed-role/{role}/{session}</Arn>\
                     <AssumedRoleId>AROAFAKE:{session}</AssumedRoleId></AssumedRoleUser>",
                    role = xml_escape(role),
                    session = xml_escape(session),
                ),
            )
        }
        Op::Unknown(action) => error(
            400,
            "NotImplemented",
            &format!("the fake AWS does not implement sts:{action}"),
        ),
    }
}

/// `<{op}Response><{op}Result>…</{op}Result></{op}Response>`.
fn result(op: &str, inner: &str) -> Reply {
    Reply::xml(
        200,
        format!(
            "<{op}Response xmlns=\"{NS}\"><{op}Result>{inner}</{op}Result>\
             <ResponseMetadata><RequestId>fake</RequestId></ResponseMetadata></{op}Response>"
        ),
    )
}
