//! `[fleet]`: many accounts from one process.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::Problems;
use crate::aws::{is_account_id, region_list_problems};
use crate::forwarders::{self, Forwarders};

/// The accounts to reconcile besides (or instead of) the credentials' own.
///
/// With no `accounts` and no `organizations`, autosub reconciles one account: `aws.account_id`
/// or the caller's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FleetConfig {
    /// Accounts listed by hand.
    pub accounts: Vec<AccountConfig>,
    /// Accounts found in AWS Organizations.
    pub organizations: Option<OrganizationsConfig>,
    /// The role assumed in every account that names no `role_arn` (all Organizations accounts).
    pub role_name: String,
    /// The external id passed when assuming the roles (the StackSet's trust policy requires it).
    pub external_id: Option<String>,
    /// The role session name, which CloudTrail shows in every member account.
    pub session_name: String,
    /// Also reconcile the credentials' own account, without assuming a role.
    pub include_own_account: bool,
    /// Targets (account × region) reconciled at once: a bound on memory, not on speed (AWS's
    /// quotas are per account and region, and the pacer keeps each target within them).
    pub targets_in_flight: usize,
    /// Targets of one account reconciled at once; unset: no limit beyond `targets_in_flight`
    /// (each region has quotas of its own).
    pub targets_in_flight_per_account: Option<usize>,
}

impl FleetConfig {
    /// True when the config names accounts to assume roles into.
    pub fn is_fleet(&self) -> bool {
        !self.accounts.is_empty() || self.organizations.is_some()
    }
}

/// One account listed by hand.
#[derive(Clone, Debug, PartialEq, Eq)]
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
    pub forwarders: Forwarders,
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

/// `[fleet]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFleetConfig {
    #[serde(default)]
    pub(crate) accounts: Vec<RawAccountConfig>,
    organizations: Option<OrganizationsConfig>,
    #[serde(default = "default_role_name")]
    role_name: String,
    external_id: Option<String>,
    #[serde(default = "default_session_name")]
    session_name: String,
    #[serde(default)]
    include_own_account: bool,
    #[serde(default = "default_targets_in_flight")]
    targets_in_flight: usize,
    #[serde(default)]
    targets_in_flight_per_account: Option<usize>,
}

impl Default for RawFleetConfig {
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

fn default_role_name() -> String {
    "autosub".into()
}

fn default_session_name() -> String {
    "autosub".into()
}

fn default_targets_in_flight() -> usize {
    256
}

/// `[[fleet.accounts]]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAccountConfig {
    id: String,
    role_arn: Option<String>,
    external_id: Option<String>,
    session_name: Option<String>,
    regions: Option<Vec<String>>,
    /// Keyed by region, as `[forwarders]`.
    #[serde(default)]
    pub(crate) forwarders: BTreeMap<String, String>,
}

fn session_ok(s: &str) -> bool {
    (2..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@-_".contains(&b))
}

fn external_ok(s: &str) -> bool {
    (2..=1224).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@:/-_".contains(&b))
}

impl RawFleetConfig {
    pub(crate) fn validate(self, p: &mut Problems) -> Option<FleetConfig> {
        if !is_role_name(&self.role_name) {
            p.add(
                "fleet.role_name",
                format!(
                    "{:?} is not an IAM role name (1-64 letters, digits and +=,.@_-)",
                    self.role_name
                ),
            );
        }
        if !session_ok(&self.session_name) {
            p.add(
                "fleet.session_name",
                "must be 2-64 letters, digits and +=,.@_- (STS's rule)",
            );
        }
        if let Some(id) = &self.external_id
            && !external_ok(id)
        {
            p.add(
                "fleet.external_id",
                "must be 2-1224 letters, digits and +=,.@:/_- (STS's rule)",
            );
        }
        if self.targets_in_flight == 0 {
            p.add("fleet.targets_in_flight", "must be at least 1");
        }
        if self.targets_in_flight_per_account == Some(0) {
            p.add("fleet.targets_in_flight_per_account", "must be at least 1");
        }
        let mut seen = BTreeMap::new();
        let mut accounts = Vec::new();
        for (i, account) in self.accounts.into_iter().enumerate() {
            let key = |field: &str| format!("fleet.accounts[{i}].{field}");
            if !is_account_id(&account.id) {
                p.add(
                    key("id"),
                    format!("{:?} is not a 12-digit account id", account.id),
                );
            } else if let Some(first) = seen.insert(account.id.clone(), i) {
                p.add(
                    key("id"),
                    format!(
                        "account {} is already listed as fleet.accounts[{first}]; list each account once",
                        account.id
                    ),
                );
            }
            account.check(&key, p);
            let forwarders = forwarders::validate(&key("forwarders"), account.forwarders, p);
            accounts.push(forwarders.map(|forwarders| AccountConfig {
                id: account.id,
                role_arn: account.role_arn,
                external_id: account.external_id,
                session_name: account.session_name,
                regions: account.regions,
                forwarders,
            }));
        }
        if let Some(org) = &self.organizations {
            org.check(p);
        }
        Some(FleetConfig {
            accounts: accounts.into_iter().collect::<Option<_>>()?,
            organizations: self.organizations,
            role_name: self.role_name,
            external_id: self.external_id,
            session_name: self.session_name,
            include_own_account: self.include_own_account,
            targets_in_flight: self.targets_in_flight,
            targets_in_flight_per_account: self.targets_in_flight_per_account,
        })
    }
}

impl RawAccountConfig {
    /// The account's fields but its id and forwarders, at `key(field)`.
    fn check(&self, key: &impl Fn(&str) -> String, p: &mut Problems) {
        if let Some(arn) = &self.role_arn {
            match role_arn_account(arn) {
                Some(owner) if owner == self.id => {}
                Some(owner) => p.add(
                    key("role_arn"),
                    format!(
                        "the role is in account {owner}, not {}; autosub acts in the account the role belongs to",
                        self.id
                    ),
                ),
                None => p.add(
                    key("role_arn"),
                    format!(
                        "{arn:?} is not a role ARN such as \"arn:aws:iam::{}:role/autosub\"",
                        self.id
                    ),
                ),
            }
        }
        if let Some(id) = &self.external_id
            && !external_ok(id)
        {
            p.add(
                key("external_id"),
                "must be 2-1224 letters, digits and +=,.@:/_- (STS's rule)",
            );
        }
        if let Some(name) = &self.session_name
            && !session_ok(name)
        {
            p.add(
                key("session_name"),
                "must be 2-64 letters, digits and +=,.@_- (STS's rule)",
            );
        }
        if let Some(regions) = &self.regions {
            region_list_problems(&key("regions"), regions, p);
        }
    }
}

impl OrganizationsConfig {
    fn check(&self, p: &mut Problems) {
        for (i, ou) in self.ous.iter().enumerate() {
            let valid = (ou.starts_with("ou-") || ou.starts_with("r-"))
                && ou
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            if !valid {
                p.add(
                    format!("fleet.organizations.ous[{i}]"),
                    format!(
                        "{ou:?} is not an OU id (\"ou-ab12-cdef3456\") or a root id (\"r-ab12\")"
                    ),
                );
            }
        }
        for (i, id) in self.exclude_accounts.iter().enumerate() {
            if !is_account_id(id) {
                p.add(
                    format!("fleet.organizations.exclude_accounts[{i}]"),
                    format!("{id:?} is not a 12-digit account id"),
                );
            }
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

fn is_role_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b))
}

#[cfg(test)]
mod tests {
    use autosub_core::Region;

    use crate::{Config, ForwarderRef};

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
        let forwarders = config.forwarders_for(&config.fleet.accounts[0]);
        assert_eq!(
            forwarders.len(),
            2,
            "the account's own forwarder joins the shared ones"
        );
        assert_eq!(
            forwarders[&Region::new("us-east-1")],
            ForwarderRef::Name("datadog-forwarder".into())
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
forwarders = { us-east-1 = "arn:aws:lambda:eu-west-1:222222222222:function:fwd" }
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
                "fleet.accounts[1].forwarders.us-east-1",
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
