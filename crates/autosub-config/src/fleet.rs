//! The fleet: many accounts from one process (`[fleet]`), the lease that keeps replicas apart
//! (`[lease]`) and the pacing of AWS calls (`[pacing]`).

use std::collections::BTreeMap;

use serde::Deserialize;

/// The accounts to reconcile besides (or instead of) the credentials' own.
///
/// With no `accounts` and no `organizations`, autosub reconciles one account: `aws.account_id`
/// or the caller's.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetConfig {
    /// Accounts listed by hand.
    #[serde(default)]
    pub accounts: Vec<AccountConfig>,
    /// Accounts found in AWS Organizations.
    pub organizations: Option<OrganizationsConfig>,
    /// The role assumed in every account that names no `role_arn` (all Organizations accounts).
    #[serde(default = "default_role_name")]
    pub role_name: String,
    /// The external id passed when assuming the roles (the StackSet's trust policy requires it).
    pub external_id: Option<String>,
    /// The role session name, which CloudTrail shows in every member account.
    #[serde(default = "default_session_name")]
    pub session_name: String,
    /// Also reconcile the credentials' own account, without assuming a role.
    #[serde(default)]
    pub include_own_account: bool,
    /// Targets (account × region) reconciled at once: a bound on memory, not on speed (AWS's
    /// quotas are per account and region, and the pacer keeps each target within them).
    #[serde(default = "default_targets_in_flight")]
    pub targets_in_flight: usize,
    /// Targets of one account reconciled at once; unset: no limit beyond `targets_in_flight`
    /// (each region has quotas of its own).
    #[serde(default)]
    pub targets_in_flight_per_account: Option<usize>,
}

impl Default for FleetConfig {
    fn default() -> Self {
        Self {
            accounts: Vec::new(),
            organizations: None,
            role_name: default_role_name(),
            external_id: None,
            session_name: default_session_name(),
            include_own_account: false,
            targets_in_flight: default_targets_in_flight(),
            targets_in_flight_per_account: None,
        }
    }
}

impl FleetConfig {
    /// True when the config names accounts to assume roles into.
    pub fn is_fleet(&self) -> bool {
        !self.accounts.is_empty() || self.organizations.is_some()
    }
}

fn default_role_name() -> String {
    "autosub".into()
}

fn default_session_name() -> String {
    "autosub".into()
}

fn default_targets_in_flight() -> usize {
    256
}

/// One account listed by hand.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountConfig {
    /// The 12-digit account id.
    pub id: String,
    /// The role to assume; default `arn:<partition>:iam::<id>:role/<fleet.role_name>`.
    pub role_arn: Option<String>,
    /// Overrides `fleet.external_id`.
    pub external_id: Option<String>,
    /// Overrides `fleet.session_name`.
    pub session_name: Option<String>,
    /// Overrides `aws.regions` for this account.
    pub regions: Option<Vec<String>>,
    /// Overrides `[forwarders]` region by region for this account.
    #[serde(default)]
    pub forwarders: BTreeMap<String, String>,
}

/// Accounts found in AWS Organizations (ListAccounts, from the management or a delegated
/// administrator account); only ACTIVE accounts are reconciled.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrganizationsConfig {
    /// Only accounts under these OUs (`ou-…`) or roots (`r-…`), at any depth; empty: all.
    #[serde(default)]
    pub ous: Vec<String>,
    /// Only accounts carrying every one of these tags (`"*"` matches any value).
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Accounts never reconciled, whatever their OU or tags.
    #[serde(default)]
    pub exclude_accounts: Vec<String>,
}

/// The lease that keeps two replicas (or a replica and a one-shot `reconcile`) off the same
/// target. Unset: single-replica mode, nothing is locked.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeaseConfig {
    /// A DynamoDB table with string keys `pk` and `sk` (the ledger's table will do); in the
    /// first region of `aws.regions`.
    pub table: Option<String>,
    /// How long a lease holds without renewal; renewed every third of it while a pass runs.
    #[serde(default = "default_lease_secs")]
    pub duration_secs: u64,
}

impl Default for LeaseConfig {
    fn default() -> Self {
        Self {
            table: None,
            duration_secs: default_lease_secs(),
        }
    }
}

fn default_lease_secs() -> u64 {
    120
}

/// Client-side pacing: a token bucket per (account, region, API).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PacingConfig {
    /// Calls per second by `service:Operation` (IAM spelling, e.g. `logs:DescribeLogGroups`) or
    /// `service:*`; overrides the built-in table of AWS's published quotas.
    #[serde(default)]
    pub calls_per_sec: BTreeMap<String, f64>,
}

/// The problems of the fleet, lease and pacing sections.
pub(crate) fn problems(
    fleet: &FleetConfig,
    lease: &LeaseConfig,
    pacing: &PacingConfig,
    problem: &mut impl FnMut(String, String),
) {
    if !is_role_name(&fleet.role_name) {
        problem(
            "fleet.role_name".into(),
            format!(
                "{:?} is not an IAM role name (1-64 letters, digits and +=,.@_-)",
                fleet.role_name
            ),
        );
    }
    let session_ok = |s: &str| {
        (2..=64).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+=,.@-_".contains(&b))
    };
    if !session_ok(&fleet.session_name) {
        problem(
            "fleet.session_name".into(),
            "must be 2-64 letters, digits and +=,.@_- (STS's rule)".into(),
        );
    }
    let external_ok = |s: &str| {
        (2..=1224).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+=,.@:/-_".contains(&b))
    };
    if let Some(id) = &fleet.external_id
        && !external_ok(id)
    {
        problem(
            "fleet.external_id".into(),
            "must be 2-1224 letters, digits and +=,.@:/_- (STS's rule)".into(),
        );
    }
    if fleet.targets_in_flight == 0 {
        problem(
            "fleet.targets_in_flight".into(),
            "must be at least 1".into(),
        );
    }
    if fleet.targets_in_flight_per_account == Some(0) {
        problem(
            "fleet.targets_in_flight_per_account".into(),
            "must be at least 1".into(),
        );
    }
    let mut seen = BTreeMap::new();
    for (i, account) in fleet.accounts.iter().enumerate() {
        let key = |field: &str| format!("fleet.accounts[{i}].{field}");
        if !is_account_id(&account.id) {
            problem(
                key("id"),
                format!("{:?} is not a 12-digit account id", account.id),
            );
        } else if let Some(first) = seen.insert(account.id.as_str(), i) {
            problem(
                key("id"),
                format!(
                    "account {} is already listed as fleet.accounts[{first}]; list each account once",
                    account.id
                ),
            );
        }
        if let Some(arn) = &account.role_arn {
            match role_arn_account(arn) {
                Some(owner) if owner == account.id => {}
                Some(owner) => problem(
                    key("role_arn"),
                    format!(
                        "the role is in account {owner}, not {}; autosub acts in the account the role belongs to",
                        account.id
                    ),
                ),
                None => problem(
                    key("role_arn"),
                    format!(
                        "{arn:?} is not a role ARN such as \"arn:aws:iam::{}:role/autosub\"",
                        account.id
                    ),
                ),
            }
        }
        if let Some(id) = &account.external_id
            && !external_ok(id)
        {
            problem(
                key("external_id"),
                "must be 2-1224 letters, digits and +=,.@:/_- (STS's rule)".into(),
            );
        }
        if let Some(name) = &account.session_name
            && !session_ok(name)
        {
            problem(
                key("session_name"),
                "must be 2-64 letters, digits and +=,.@_- (STS's rule)".into(),
            );
        }
        if let Some(regions) = &account.regions {
            crate::region_list_problems(&key("regions"), regions, problem);
        }
        crate::forwarder_problems(&key("forwarders"), &account.forwarders, problem);
    }
    if let Some(org) = &fleet.organizations {
        for (i, ou) in org.ous.iter().enumerate() {
            let valid = (ou.starts_with("ou-") || ou.starts_with("r-"))
                && ou
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            if !valid {
                problem(
                    format!("fleet.organizations.ous[{i}]"),
                    format!(
                        "{ou:?} is not an OU id (\"ou-ab12-cdef3456\") or a root id (\"r-ab12\")"
                    ),
                );
            }
        }
        for (i, id) in org.exclude_accounts.iter().enumerate() {
            if !is_account_id(id) {
                problem(
                    format!("fleet.organizations.exclude_accounts[{i}]"),
                    format!("{id:?} is not a 12-digit account id"),
                );
            }
        }
    }
    if let Some(table) = &lease.table
        && !is_table_name(table)
    {
        problem(
            "lease.table".into(),
            format!(
                "{table:?} is not a DynamoDB table name (3-255 letters, digits, '_', '-', '.')"
            ),
        );
    }
    if lease.duration_secs < 15 {
        problem(
            "lease.duration_secs".into(),
            "must be at least 15: the lease is renewed every third of it while a pass runs".into(),
        );
    }
    for (api, rate) in &pacing.calls_per_sec {
        let key = format!("pacing.calls_per_sec.\"{api}\"");
        let shape_ok = api.split_once(':').is_some_and(|(service, op)| {
            !service.is_empty()
                && service
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && (op == "*" || (!op.is_empty() && op.bytes().all(|b| b.is_ascii_alphanumeric())))
        });
        if !shape_ok {
            problem(
                key.clone(),
                "name an API as IAM spells it, \"logs:DescribeLogGroups\", or a whole service, \"logs:*\"".into(),
            );
        }
        if !(rate.is_finite() && *rate > 0.0) {
            problem(
                key,
                format!("{rate} is not a positive number of calls per second"),
            );
        }
    }
}

/// The account id of `arn:<partition>:iam::<account>:role/<path/name>`, when it is one.
pub fn role_arn_account(arn: &str) -> Option<&str> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    match parts.as_slice() {
        ["arn", partition, "iam", "", account, resource]
            if !partition.is_empty()
                && is_account_id(account)
                && resource
                    .strip_prefix("role/")
                    .and_then(|r| r.rsplit('/').next())
                    .is_some_and(is_role_name) =>
        {
            Some(account)
        }
        _ => None,
    }
}

pub(crate) fn is_account_id(id: &str) -> bool {
    id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit())
}

fn is_role_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b))
}

pub(crate) fn is_table_name(table: &str) -> bool {
    (3..=255).contains(&table.len())
        && table
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
}

#[cfg(test)]
mod tests {
    use crate::Config;

    #[test]
    fn a_fleet_config_parses() {
        let config = Config::parse(
            r#"
[aws]
regions = ["all"]
[forwarders]
us-east-1 = "datadog-forwarder"
[fleet]
external_id = "d5e1c3a0-fleet"
targets_in_flight = 16
[[fleet.accounts]]
id = "222222222222"
regions = ["eu-west-1"]
forwarders = { eu-west-1 = "arn:aws:lambda:eu-west-1:222222222222:function:dd-forwarder" }
[fleet.organizations]
ous = ["ou-ab12-cdef3456"]
tags = { autosub = "enabled" }
[lease]
table = "autosub"
[pacing]
calls_per_sec = { "logs:DescribeLogGroups" = 20, "lambda:*" = 7.5 }
"#,
            "fleet.toml",
        )
        .unwrap();
        assert!(config.fleet.is_fleet());
        assert_eq!(config.first_region(), None, "\"all\" names no region");
        assert_eq!(config.pacing.calls_per_sec["logs:DescribeLogGroups"], 20.0);
        let refs = config.forwarder_refs_for(&config.fleet.accounts[0]);
        assert_eq!(
            refs.len(),
            2,
            "the account's own forwarder joins the shared ones"
        );
    }

    #[test]
    fn fleet_problems_name_their_keys() {
        let err = Config::parse(
            r#"
[aws]
regions = ["all", "us-east-1"]
[forwarders]
us-east-1 = "datadog-forwarder"
[fleet]
targets_in_flight = 0
[[fleet.accounts]]
id = "222222222222"
role_arn = "arn:aws:iam::333333333333:role/autosub"
[[fleet.accounts]]
id = "222222222222"
regions = ["mars-1"]
[fleet.organizations]
ous = ["engineering"]
[lease]
table = "x"
duration_secs = 5
[pacing]
calls_per_sec = { "DescribeLogGroups" = 0 }
"#,
            "bad.toml",
        )
        .unwrap_err();
        let keys: Vec<&str> = err.problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "aws.regions",
                "fleet.targets_in_flight",
                "fleet.accounts[0].role_arn",
                "fleet.accounts[1].id",
                "fleet.accounts[1].regions[0]",
                "fleet.organizations.ous[0]",
                "lease.table",
                "lease.duration_secs",
                "pacing.calls_per_sec.\"DescribeLogGroups\"",
                "pacing.calls_per_sec.\"DescribeLogGroups\"",
            ],
            "{err}"
        );
        let text = err.to_string();
        assert!(text.contains("the role is in account 333333333333, not 222222222222"));
        assert!(text.contains("already listed as fleet.accounts[0]"));
    }
}
