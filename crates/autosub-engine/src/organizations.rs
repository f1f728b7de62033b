//! The member accounts `[fleet.organizations]` selects from AWS Organizations.
//!
//! Guarantees: only ACTIVE accounts are returned; with `ous`, only accounts under one of them at
//! any depth; with `tags`, only accounts carrying every tag (`"*"` matches any value); never an
//! account of `exclude_accounts`. Each account appears once, sorted by id, so the same
//! organization gives the same fleet. Assumptions: the credentials belong to the management
//! account or a delegated administrator. Errors: any failed call fails the whole listing (a
//! partial fleet would silently drop accounts); the error says what to fix.

use std::collections::BTreeMap;

use autosub_aws::organizations::{AccountState, OrgAccount, OrganizationsApi};
use autosub_aws::{AwsError, ErrorClass};
use autosub_config::OrganizationsConfig;
use autosub_core::AccountId;
use futures::{StreamExt, TryStreamExt};

/// The IAM actions account discovery needs (in the management or delegated administrator
/// account).
pub const ORGANIZATIONS_ACTIONS: &[&str] = &[
    "organizations:ListAccounts",
    "organizations:ListAccountsForParent",
    "organizations:ListChildren",
    "organizations:ListTagsForResource",
];

/// Tag reads in flight at once (Organizations' quotas are low and shared by the organization).
const TAG_READS_IN_FLIGHT: usize = 4;

/// One account of the fleet found in Organizations.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct MemberAccount {
    /// The 12-digit account id.
    pub id: AccountId,
    /// The account's friendly name.
    pub name: String,
    /// The account's tags when `tags` filters are configured (they were read to filter);
    /// empty otherwise.
    pub tags: BTreeMap<String, String>,
}

/// The ACTIVE accounts `config` selects, sorted by id.
pub async fn member_accounts(
    api: &dyn OrganizationsApi,
    config: &OrganizationsConfig,
) -> Result<Vec<MemberAccount>, AwsError> {
    let mut found: BTreeMap<AccountId, OrgAccount> = BTreeMap::new();
    if config.ous.is_empty() {
        for account in api.accounts().await.map_err(|e| explain(e, None))? {
            found.entry(account.id.clone()).or_insert(account);
        }
    } else {
        for ou in &config.ous {
            let under = api
                .accounts_under(ou)
                .await
                .map_err(|e| explain(e, Some(ou)))?;
            for account in under {
                found.entry(account.id.clone()).or_insert(account);
            }
        }
    }
    let candidates: Vec<OrgAccount> = found
        .into_values()
        .filter(|a| a.state == AccountState::Active)
        .filter(|a| !config.exclude_accounts.iter().any(|x| x == a.id.as_str()))
        .collect();
    if config.tags.is_empty() {
        return Ok(candidates
            .into_iter()
            .map(|a| MemberAccount {
                id: a.id,
                name: a.name,
                tags: BTreeMap::new(),
            })
            .collect());
    }
    let tagged: Vec<(OrgAccount, BTreeMap<String, String>)> = futures::stream::iter(candidates)
        .map(|a| async move {
            let tags = api
                .account_tags(&a.id)
                .await
                .map_err(|e| explain(e, None))?;
            Ok::<_, AwsError>((a, tags))
        })
        .buffered(TAG_READS_IN_FLIGHT)
        .try_collect()
        .await?;
    Ok(tagged
        .into_iter()
        .filter(|(_, tags)| carries(tags, &config.tags))
        .map(|(a, tags)| MemberAccount {
            id: a.id,
            name: a.name,
            tags,
        })
        .collect())
}

/// True when `tags` has every wanted key with the wanted value (`"*"`: any value).
fn carries(tags: &BTreeMap<String, String>, wanted: &BTreeMap<String, String>) -> bool {
    wanted
        .iter()
        .all(|(key, value)| tags.get(key).is_some_and(|v| value == "*" || v == value))
}

/// Adds what to do about the common failures to AWS's message.
fn explain(mut e: AwsError, ou: Option<&str>) -> AwsError {
    let hint = match (e.class, e.code.as_deref(), ou) {
        (_, Some("AWSOrganizationsNotInUseException"), _) => {
            "the credentials' account is not in an organization; run autosub from the \
             organization's management account or a delegated administrator"
                .to_owned()
        }
        (ErrorClass::AccessDenied, _, _) => format!(
            "cannot list the organization's accounts; run autosub from the management account \
             or a delegated administrator, with {} allowed",
            ORGANIZATIONS_ACTIONS.join(", ")
        ),
        (ErrorClass::NotFound, _, Some(ou)) => {
            format!("{ou} (fleet.organizations.ous) is not an OU or root of this organization")
        }
        _ => return e,
    };
    e.message = format!("{hint} ({})", e.message);
    e
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use async_trait::async_trait;

    use super::*;

    /// An organization: OUs by parent, accounts by parent, tags by account.
    #[derive(Default)]
    struct FakeOrg {
        ous: BTreeMap<&'static str, Vec<&'static str>>,
        accounts: BTreeMap<&'static str, Vec<OrgAccount>>,
        tags: BTreeMap<&'static str, BTreeMap<String, String>>,
        deny: bool,
    }

    fn denied(operation: &'static str) -> AwsError {
        AwsError {
            class: ErrorClass::AccessDenied,
            operation,
            code: Some("AccessDeniedException".into()),
            message: "not the management account".into(),
        }
    }

    #[async_trait]
    impl OrganizationsApi for FakeOrg {
        async fn accounts(&self) -> Result<Vec<OrgAccount>, AwsError> {
            if self.deny {
                return Err(denied("organizations:ListAccounts"));
            }
            Ok(self.accounts.values().flatten().cloned().collect())
        }

        async fn accounts_under(&self, parent_id: &str) -> Result<Vec<OrgAccount>, AwsError> {
            if !self.ous.contains_key(parent_id) {
                return Err(AwsError {
                    class: ErrorClass::NotFound,
                    operation: "organizations:ListAccountsForParent",
                    code: Some("ParentNotFoundException".into()),
                    message: "You specified parent that doesn't exist.".into(),
                });
            }
            let mut out = Vec::new();
            let mut pending = vec![parent_id];
            while let Some(p) = pending.pop() {
                out.extend(self.accounts.get(p).into_iter().flatten().cloned());
                pending.extend(self.ous.get(p).into_iter().flatten());
            }
            Ok(out)
        }

        async fn account_tags(
            &self,
            account: &AccountId,
        ) -> Result<BTreeMap<String, String>, AwsError> {
            Ok(self.tags.get(account.as_str()).cloned().unwrap_or_default())
        }
    }

    fn account(id: &str, state: AccountState) -> OrgAccount {
        OrgAccount {
            id: AccountId::new(id),
            name: format!("acct-{id}"),
            state,
        }
    }

    fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// r-root ─┬─ 100 (management), 105 suspended
    ///         ├─ ou-prod ─┬─ 200 {env=prod, team=a}
    ///         │           └─ ou-prod-eu ── 300 {env=prod}, 305 closed
    ///         └─ ou-dev ── 400 {env=dev, team=a}
    fn org() -> FakeOrg {
        use AccountState::*;
        FakeOrg {
            ous: BTreeMap::from([
                ("r-root", vec!["ou-prod", "ou-dev"]),
                ("ou-prod", vec!["ou-prod-eu"]),
                ("ou-prod-eu", vec![]),
                ("ou-dev", vec![]),
            ]),
            accounts: BTreeMap::from([
                (
                    "r-root",
                    vec![account("100", Active), account("105", Suspended)],
                ),
                ("ou-prod", vec![account("200", Active)]),
                (
                    "ou-prod-eu",
                    vec![account("305", Closed), account("300", Active)],
                ),
                ("ou-dev", vec![account("400", Active)]),
            ]),
            tags: BTreeMap::from([
                ("200", tags(&[("env", "prod"), ("team", "a")])),
                ("300", tags(&[("env", "prod")])),
                ("400", tags(&[("env", "dev"), ("team", "a")])),
            ]),
            deny: false,
        }
    }

    async fn check(config: OrganizationsConfig, want: &[&str]) {
        let got = member_accounts(&org(), &config).await.unwrap();
        let ids: Vec<&str> = got.iter().map(|a| a.id.as_str()).collect();
        assert_eq!(ids, want, "{config:?}");
    }

    fn config(ous: &[&str], tag_filter: &[(&str, &str)], exclude: &[&str]) -> OrganizationsConfig {
        OrganizationsConfig {
            ous: ous.iter().map(|s| (*s).to_owned()).collect(),
            tags: tags(tag_filter),
            exclude_accounts: exclude.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    #[tokio::test]
    async fn selects_active_accounts_by_ou_tag_and_exclusion() {
        check(config(&[], &[], &[]), &["100", "200", "300", "400"]).await;
        // Nested OUs are included; overlapping OUs list an account once.
        check(config(&["ou-prod"], &[], &[]), &["200", "300"]).await;
        check(
            config(&["ou-prod-eu", "ou-prod"], &[], &[]),
            &["200", "300"],
        )
        .await;
        check(config(&["r-root"], &[], &[]), &["100", "200", "300", "400"]).await;
        check(config(&[], &[("env", "prod")], &[]), &["200", "300"]).await;
        check(
            config(&[], &[("env", "*"), ("team", "a")], &[]),
            &["200", "400"],
        )
        .await;
        check(config(&[], &[("team", "*")], &["400"]), &["200"]).await;
        check(config(&["ou-dev"], &[("env", "prod")], &[]), &[]).await;
        check(config(&[], &[], &["100", "999"]), &["200", "300", "400"]).await;
    }

    #[tokio::test]
    async fn members_carry_their_tags_only_when_tags_filter() {
        let plain = member_accounts(&org(), &config(&["ou-dev"], &[], &[]))
            .await
            .unwrap();
        assert_eq!(
            plain,
            vec![MemberAccount {
                id: AccountId::new("400"),
                name: "acct-400".into(),
                tags: BTreeMap::new(),
            }]
        );
        let tagged = member_accounts(&org(), &config(&["ou-dev"], &[("team", "a")], &[]))
            .await
            .unwrap();
        assert_eq!(tagged[0].tags, tags(&[("env", "dev"), ("team", "a")]));
    }

    #[tokio::test]
    async fn errors_say_what_to_fix() {
        let deny = FakeOrg {
            deny: true,
            ..org()
        };
        let err = member_accounts(&deny, &OrganizationsConfig::default())
            .await
            .unwrap_err();
        assert_eq!(err.class, ErrorClass::AccessDenied);
        let text = err.to_string();
        for needle in [
            "management account or a delegated administrator",
            "organizations:ListAccounts",
            "organizations:ListTagsForResource",
            "not the management account",
        ] {
            assert!(text.contains(needle), "{text}");
        }
        let err = member_accounts(&org(), &config(&["ou-nope"], &[], &[]))
            .await
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("ou-nope (fleet.organizations.ous) is not an OU or root"),
            "{err}"
        );
    }

    #[test]
    fn an_account_outside_any_organization_is_told_so() {
        let err = explain(
            AwsError {
                class: ErrorClass::NotFound,
                operation: "organizations:ListAccounts",
                code: Some("AWSOrganizationsNotInUseException".into()),
                message: "Your account is not a member of an organization.".into(),
            },
            None,
        );
        assert_eq!(
            err.to_string(),
            "organizations:ListAccounts failed (not_found, AWSOrganizationsNotInUseException): \
             the credentials' account is not in an organization; run autosub from the \
             organization's management account or a delegated administrator (Your account is \
             not a member of an organization.)"
        );
    }

    #[test]
    fn tag_filters_match_every_key() {
        let have = tags(&[("env", "prod"), ("team", "a")]);
        let all: BTreeSet<bool> = [
            carries(&have, &tags(&[])),
            carries(&have, &tags(&[("env", "prod")])),
            carries(&have, &tags(&[("env", "*"), ("team", "a")])),
        ]
        .into();
        assert_eq!(all, BTreeSet::from([true]));
        assert!(!carries(&have, &tags(&[("env", "dev")])));
        assert!(!carries(&have, &tags(&[("owner", "*")])));
    }
}
