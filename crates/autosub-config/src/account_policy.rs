//! `[account_policy]`: log groups delivered by one account-level subscription filter policy.

use serde::Deserialize;

use crate::Problems;
use crate::aws::{ALL_REGIONS, is_account_id, region_list_problems};

/// Account-policy mode: in the accounts and regions it covers, autosub keeps one account-level
/// subscription filter policy (named `ownership.filter_name`) to the region's forwarder. It
/// delivers every log group, current and future, except the loop guards and the groups
/// `exclude.log_groups` matches when a pass lists them, and takes no filter slot; the per-group
/// filters of ours it makes redundant are removed once it is in place.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountPolicyConfig {
    /// Off by default.
    #[serde(default)]
    pub enabled: bool,
    /// Only these regions (empty: every region reconciled).
    #[serde(default)]
    pub regions: Vec<String>,
    /// Only these accounts (empty: every account reconciled).
    #[serde(default)]
    pub accounts: Vec<String>,
}

impl AccountPolicyConfig {
    /// True when the log groups of `account` in `region` go through the account policy.
    pub fn applies(&self, account: &str, region: &str) -> bool {
        self.enabled
            && (self.regions.is_empty()
                || self.regions.iter().any(|r| r == region || r == ALL_REGIONS))
            && (self.accounts.is_empty() || self.accounts.iter().any(|a| a == account))
    }

    pub(crate) fn check(&self, p: &mut Problems) {
        region_list_problems("account_policy.regions", &self.regions, p);
        for (i, account) in self.accounts.iter().enumerate() {
            if !is_account_id(account) {
                p.add(
                    format!("account_policy.accounts[{i}]"),
                    format!("{account:?} is not a 12-digit account id"),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::Config;
    use crate::tests::MINIMAL;

    #[test]
    fn account_policy_mode_is_off_unless_asked_and_scoped_to_its_lists() {
        let config = Config::parse(MINIMAL, "t.toml").unwrap();
        assert!(!config.account_policy.applies("123456789012", "us-east-1"));
        let text = format!(
            "{MINIMAL}[account_policy]\nenabled = true\nregions = [\"us-east-1\"]\naccounts = [\"123456789012\"]\n"
        );
        let config = Config::parse(&text, "t.toml").unwrap();
        assert!(config.account_policy.applies("123456789012", "us-east-1"));
        assert!(!config.account_policy.applies("123456789012", "eu-west-1"));
        assert!(!config.account_policy.applies("210987654321", "us-east-1"));
        let bad = format!("{MINIMAL}[account_policy]\nenabled = true\naccounts = [\"12\"]\n");
        let err = Config::parse(&bad, "bad.toml").unwrap_err();
        assert_eq!(err.problems[0].key, "account_policy.accounts[0]");
    }
}
