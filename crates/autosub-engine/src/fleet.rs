//! The accounts a run covers and how each is reached: the credentials' own account, or a fleet
//! of accounts listed in `[fleet]` and found in AWS Organizations, each through its role.

use std::collections::BTreeMap;

use autosub_aws::{AccountAccess, ClientFactory};
use autosub_config::{ALL_REGIONS, AccountConfig, Config, ForwarderRef};
use autosub_core::{AccountId, Partition, Region};

use crate::reconcile::RunError;

/// One account to reconcile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    /// The account id.
    pub id: AccountId,
    /// How autosub reaches it.
    pub access: AccountAccess,
    /// The regions to reconcile in it.
    pub regions: Regions,
    /// The forwarder of each region.
    pub forwarders: BTreeMap<Region, ForwarderRef>,
}

/// Which regions of an account a run reconciles.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Regions {
    /// These, in this order.
    Listed(Vec<Region>),
    /// Every region enabled in the account (EC2 DescribeRegions).
    AllEnabled,
}

/// The accounts `config` names: the fleet's (listed ones first, then Organizations' not listed,
/// then the own account when asked for), or the single account of `aws.account_id` / the
/// credentials.
pub async fn accounts(factory: &ClientFactory, config: &Config) -> Result<Vec<Account>, RunError> {
    let fleet = &config.fleet;
    let default_regions =
        || -> Result<Regions, RunError> { regions_of(&config.aws.regions, factory.home_region()) };
    if !fleet.is_fleet() {
        let id = match &config.aws.account_id {
            Some(account) => AccountId::new(account.as_str()),
            None => factory
                .caller_account()
                .await
                .map_err(RunError::NoAccount)?,
        };
        return Ok(vec![Account {
            id,
            access: AccountAccess::Own,
            regions: default_regions()?,
            forwarders: config.forwarder_refs(),
        }]);
    }
    let partition = Partition::of(
        &factory
            .home_region()
            .cloned()
            .unwrap_or_else(|| Region::new("us-east-1")),
    );
    let mut accounts: Vec<Account> = Vec::new();
    for listed in &fleet.accounts {
        accounts.push(Account {
            id: AccountId::new(listed.id.as_str()),
            access: role(config, listed, partition),
            regions: match &listed.regions {
                Some(regions) => regions_of(regions, factory.home_region())?,
                None => default_regions()?,
            },
            forwarders: config.forwarder_refs_for(listed),
        });
    }
    if let Some(org) = &fleet.organizations {
        let found = crate::organizations::member_accounts(&*factory.organizations(), org)
            .await
            .map_err(RunError::Organizations)?;
        for member in found {
            if accounts.iter().any(|a| a.id == member.id) {
                continue;
            }
            let unlisted = AccountConfig {
                id: member.id.as_str().to_owned(),
                role_arn: None,
                external_id: None,
                session_name: None,
                regions: None,
                forwarders: BTreeMap::new(),
            };
            accounts.push(Account {
                id: member.id,
                access: role(config, &unlisted, partition),
                regions: default_regions()?,
                forwarders: config.forwarder_refs(),
            });
        }
    }
    if fleet.include_own_account {
        let id = factory
            .caller_account()
            .await
            .map_err(RunError::NoAccount)?;
        if let Some(listed) = accounts.iter_mut().find(|a| a.id == id) {
            listed.access = AccountAccess::Own;
        } else {
            accounts.push(Account {
                id,
                access: AccountAccess::Own,
                regions: default_regions()?,
                forwarders: config.forwarder_refs(),
            });
        }
    }
    Ok(accounts)
}

/// The role to assume in `account`: its own `role_arn`, else `fleet.role_name` in it.
fn role(config: &Config, account: &AccountConfig, partition: Partition) -> AccountAccess {
    let fleet = &config.fleet;
    AccountAccess::AssumeRole {
        role_arn: account.role_arn.clone().unwrap_or_else(|| {
            format!(
                "arn:{}:iam::{}:role/{}",
                partition.as_str(),
                account.id,
                fleet.role_name
            )
        }),
        external_id: account
            .external_id
            .clone()
            .or_else(|| fleet.external_id.clone()),
        session_name: account
            .session_name
            .clone()
            .unwrap_or_else(|| fleet.session_name.clone()),
    }
}

/// A region list from the config; empty means the home region.
fn regions_of(listed: &[String], home: Option<&Region>) -> Result<Regions, RunError> {
    if listed.iter().any(|r| r == ALL_REGIONS) {
        return Ok(Regions::AllEnabled);
    }
    if listed.is_empty() {
        return Ok(Regions::Listed(vec![
            home.cloned().ok_or(RunError::NoRegion)?,
        ]));
    }
    Ok(Regions::Listed(
        listed.iter().map(|r| Region::new(r.as_str())).collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_default_to_the_fleet_role_name_in_the_account() {
        let config = Config::parse(
            r#"
[forwarders]
us-east-1 = "datadog-forwarder"
[fleet]
role_name = "autosub-member"
external_id = "shared-secret"
[[fleet.accounts]]
id = "222222222222"
[[fleet.accounts]]
id = "333333333333"
role_arn = "arn:aws:iam::333333333333:role/custom/autosub"
external_id = "other"
session_name = "central-autosub"
"#,
            "t.toml",
        )
        .unwrap();
        let got: Vec<AccountAccess> = config
            .fleet
            .accounts
            .iter()
            .map(|a| role(&config, a, Partition::Aws))
            .collect();
        assert_eq!(
            got,
            [
                AccountAccess::AssumeRole {
                    role_arn: "arn:aws:iam::222222222222:role/autosub-member".into(),
                    external_id: Some("shared-secret".into()),
                    session_name: "autosub".into(),
                },
                AccountAccess::AssumeRole {
                    role_arn: "arn:aws:iam::333333333333:role/custom/autosub".into(),
                    external_id: Some("other".into()),
                    session_name: "central-autosub".into(),
                },
            ]
        );
    }

    #[test]
    fn region_lists_name_regions_all_or_the_home_region() {
        let home = Region::new("eu-west-1");
        assert_eq!(
            regions_of(&["all".into()], None).unwrap(),
            Regions::AllEnabled
        );
        assert_eq!(
            regions_of(&[], Some(&home)).unwrap(),
            Regions::Listed(vec![home.clone()])
        );
        assert!(matches!(regions_of(&[], None), Err(RunError::NoRegion)));
    }
}
