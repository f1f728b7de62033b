//! AWS Organizations, read-only: the accounts of the organization, of an OU subtree, and their
//! tags. Called with autosub's own credentials, which must belong to the management account or
//! a delegated administrator.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use autosub_core::AccountId;
use aws_sdk_organizations::types::{Account, AccountState as SdkState, AccountStatus, ChildType};

use crate::error::AwsError;
use crate::sdk_error::aws_error;

/// Where an account is in its lifecycle (`State` of ListAccounts; the older `Status` when a
/// reply carries no `State`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AccountState {
    /// In use: the only state autosub reconciles.
    Active,
    /// Created or invited, not usable yet.
    PendingActivation,
    /// Suspended (by AWS or the organization).
    Suspended,
    /// Closing: still listed for up to 90 days.
    PendingClosure,
    /// Closed.
    Closed,
    /// A state this autosub does not know, as AWS spells it.
    Other(String),
}

/// One account of the organization.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OrgAccount {
    /// The 12-digit account id.
    pub id: AccountId,
    /// The account's friendly name.
    pub name: String,
    /// Its lifecycle state.
    pub state: AccountState,
}

/// Read-only AWS Organizations, in domain types.
#[async_trait]
pub trait OrganizationsApi: Send + Sync {
    /// Every account of the organization (ListAccounts, all pages).
    async fn accounts(&self) -> Result<Vec<OrgAccount>, AwsError>;
    /// Every account under `parent_id` (a root `r-…` or an OU `ou-…`) at any depth
    /// (ListAccountsForParent on the parent and every OU below it, found with ListChildren; all
    /// pages), each once.
    async fn accounts_under(&self, parent_id: &str) -> Result<Vec<OrgAccount>, AwsError>;
    /// The tags of one account (ListTagsForResource, all pages).
    async fn account_tags(&self, account: &AccountId)
    -> Result<BTreeMap<String, String>, AwsError>;
}

/// Organizations through the SDK.
pub(crate) struct SdkOrganizations {
    pub(crate) client: aws_sdk_organizations::Client,
}

fn account(a: &Account) -> Option<OrgAccount> {
    let state = match (a.state(), a.status()) {
        (Some(state), _) => match state {
            SdkState::Active => AccountState::Active,
            SdkState::PendingActivation => AccountState::PendingActivation,
            SdkState::Suspended => AccountState::Suspended,
            SdkState::PendingClosure => AccountState::PendingClosure,
            SdkState::Closed => AccountState::Closed,
            other => AccountState::Other(other.as_str().to_owned()),
        },
        (None, Some(status)) => match status {
            AccountStatus::Active => AccountState::Active,
            AccountStatus::Suspended => AccountState::Suspended,
            AccountStatus::PendingClosure => AccountState::PendingClosure,
            other => AccountState::Other(other.as_str().to_owned()),
        },
        (None, None) => AccountState::Other(String::new()),
    };
    Some(OrgAccount {
        id: AccountId::new(a.id()?),
        name: a.name().unwrap_or_default().to_owned(),
        state,
    })
}

impl SdkOrganizations {
    async fn accounts_for_parent(&self, parent_id: &str) -> Result<Vec<OrgAccount>, AwsError> {
        let mut pages = self
            .client
            .list_accounts_for_parent()
            .parent_id(parent_id)
            .into_paginator()
            .send();
        let mut accounts = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| aws_error("organizations:ListAccountsForParent", e))?;
            accounts.extend(page.accounts().iter().filter_map(account));
        }
        Ok(accounts)
    }

    async fn child_ous(&self, parent_id: &str) -> Result<Vec<String>, AwsError> {
        let mut pages = self
            .client
            .list_children()
            .parent_id(parent_id)
            .child_type(ChildType::OrganizationalUnit)
            .into_paginator()
            .send();
        let mut ous = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| aws_error("organizations:ListChildren", e))?;
            ous.extend(
                page.children()
                    .iter()
                    .filter_map(|c| c.id().map(str::to_owned)),
            );
        }
        Ok(ous)
    }
}

#[async_trait]
impl OrganizationsApi for SdkOrganizations {
    async fn accounts(&self) -> Result<Vec<OrgAccount>, AwsError> {
        let mut pages = self.client.list_accounts().into_paginator().send();
        let mut accounts = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| aws_error("organizations:ListAccounts", e))?;
            accounts.extend(page.accounts().iter().filter_map(account));
        }
        Ok(accounts)
    }

    async fn accounts_under(&self, parent_id: &str) -> Result<Vec<OrgAccount>, AwsError> {
        let mut accounts = BTreeMap::new();
        let mut seen = BTreeSet::from([parent_id.to_owned()]);
        let mut pending = vec![parent_id.to_owned()];
        while let Some(parent) = pending.pop() {
            for a in self.accounts_for_parent(&parent).await? {
                accounts.entry(a.id.clone()).or_insert(a);
            }
            for ou in self.child_ous(&parent).await? {
                // OUs form a tree; the set only guards against a reply that says otherwise.
                if seen.insert(ou.clone()) {
                    pending.push(ou);
                }
            }
        }
        Ok(accounts.into_values().collect())
    }

    async fn account_tags(
        &self,
        account: &AccountId,
    ) -> Result<BTreeMap<String, String>, AwsError> {
        let mut pages = self
            .client
            .list_tags_for_resource()
            .resource_id(account.as_str())
            .into_paginator()
            .send();
        let mut tags = BTreeMap::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| aws_error("organizations:ListTagsForResource", e))?;
            for tag in page.tags() {
                tags.insert(tag.key().to_owned(), tag.value().to_owned());
            }
        }
        Ok(tags)
    }
}
