//! The accounts a run covers and how each is reached: the credentials' own account, or a fleet
//! of accounts listed in `[fleet]` and found in AWS Organizations, each through its role.

use std::collections::BTreeMap;

use autosub_aws::{AccountAccess, ClientFactory};
use autosub_config::{ALL_REGIONS, AccountConfig, Config, ForwarderRef};
use autosub_core::{AccountId, Partition, Region};

use crate::report::{FailureReason, RunError, TargetFailure};

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
            forwarders: config.forwarders.clone(),
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
            forwarders: config.forwarders_for(listed),
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
                forwarders: config.forwarders.clone(),
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
                forwarders: config.forwarders.clone(),
            });
        }
    }
    Ok(accounts)
}

/// Registers how the account is reached; for a role, proves it can be assumed and acts in the
/// account it names.
pub async fn reach(factory: &ClientFactory, account: &Account) -> Result<(), TargetFailure> {
    factory.register_account(&account.id, &account.access).await;
    let AccountAccess::AssumeRole { role_arn, .. } = &account.access else {
        return Ok(());
    };
    let fail = |message: String| TargetFailure {
        account: account.id.clone(),
        region: None,
        reason: FailureReason::AssumeRole,
        message,
    };
    match factory.caller_account_of(&account.id).await {
        Ok(actual) if actual == account.id => Ok(()),
        Ok(actual) => Err(fail(format!(
            "role {role_arn} acts in account {actual}, not {}; fix the account's role_arn",
            account.id
        ))),
        Err(e) => Err(fail(format!(
            "cannot assume role {role_arn} ({e}); check that the role exists in the account (the fleet StackSet creates it), trusts autosub's own role and expects the configured external id"
        ))),
    }
}

/// The account's regions to reconcile, and a failure for each listed region the account has
/// not enabled. Listed regions are checked only in a fleet (and skipped, with a debug log, when
/// the role may not call DescribeRegions).
pub async fn regions(
    factory: &ClientFactory,
    config: &Config,
    account: &Account,
) -> Result<(Vec<Region>, Vec<TargetFailure>), TargetFailure> {
    let known = match &account.regions {
        Regions::Listed(listed) if !config.fleet.is_fleet() => {
            return Ok((listed.clone(), Vec::new()));
        }
        Regions::Listed(_) | Regions::AllEnabled => factory.regions_of(&account.id).await,
    };
    match (&account.regions, known) {
        (Regions::AllEnabled, Ok(known)) => Ok((
            known
                .into_iter()
                .filter_map(|(region, enabled)| enabled.then_some(region))
                .collect(),
            Vec::new(),
        )),
        (Regions::AllEnabled, Err(e)) => Err(TargetFailure {
            account: account.id.clone(),
            region: None,
            reason: FailureReason::Regions,
            message: format!(
                "cannot list the account's regions for aws.regions = [\"all\"] ({e}); allow ec2:DescribeRegions or list the regions"
            ),
        }),
        (Regions::Listed(listed), Ok(known)) => Ok(check_listed(&account.id, listed, &known)),
        (Regions::Listed(listed), Err(e)) => {
            tracing::debug!(error = %e, "regions not checked against the account's enabled regions");
            Ok((listed.clone(), Vec::new()))
        }
    }
}

/// The listed regions the account has enabled, in their order, and a `region_disabled` failure
/// for each of the others. `known` is every region of the partition with whether it is enabled
/// (DescribeRegions with AllRegions).
fn check_listed(
    account: &AccountId,
    listed: &[Region],
    known: &[(Region, bool)],
) -> (Vec<Region>, Vec<TargetFailure>) {
    let enabled: BTreeMap<&Region, bool> = known.iter().map(|(r, e)| (r, *e)).collect();
    let (ok, disabled): (Vec<&Region>, Vec<&Region>) = listed
        .iter()
        .partition(|r| enabled.get(r).copied().unwrap_or(false));
    let failures = disabled
        .into_iter()
        .map(|region| TargetFailure {
            account: account.clone(),
            region: Some(region.clone()),
            reason: FailureReason::RegionDisabled,
            message: if enabled.contains_key(region) {
                format!("{region} is not enabled in the account; enable it (Account settings) or drop it from the account's regions")
            } else {
                format!("the account's partition has no region {region}; fix the region list")
            },
        })
        .collect();
    (ok.into_iter().cloned().collect(), failures)
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

    #[test]
    fn listed_regions_the_account_has_not_enabled_fail_on_their_own() {
        let account = AccountId::new("222222222222");
        let known = [
            (Region::new("ap-east-1"), false),
            (Region::new("eu-west-1"), true),
            (Region::new("us-east-1"), true),
        ];
        let listed = ["us-east-1", "ap-east-1", "eu-west-1", "us-gov-west-1"].map(Region::new);
        let (ok, failures) = check_listed(&account, &listed, &known);
        assert_eq!(
            ok,
            ["us-east-1", "eu-west-1"].map(Region::new),
            "in the listed order"
        );
        let got: Vec<(Option<&str>, FailureReason, &str)> = failures
            .iter()
            .map(|f| {
                (
                    f.region.as_ref().map(Region::as_str),
                    f.reason,
                    f.message.as_str(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (
                    Some("ap-east-1"),
                    FailureReason::RegionDisabled,
                    "ap-east-1 is not enabled in the account; enable it (Account settings) or drop it from the account's regions"
                ),
                (
                    Some("us-gov-west-1"),
                    FailureReason::RegionDisabled,
                    "the account's partition has no region us-gov-west-1; fix the region list"
                ),
            ]
        );
    }
}
