//! Account discovery (`autosub_engine::organizations`) against moto's AWS Organizations, through
//! the production `ClientFactory::organizations` client.

use std::collections::BTreeMap;

use autosub_aws::ErrorClass;
use autosub_config::OrganizationsConfig;
use autosub_engine::organizations::member_accounts;
use autosub_testkit::MOTO_DEFAULT_ACCOUNT;
use aws_sdk_organizations as org;

use crate::support::{Moto, REGION};

/// Accounts under one OU beyond ListAccountsForParent's page (moto's: 20).
const BULK_ACCOUNTS: usize = 21;

/// The seeded organization's ids.
struct Org {
    root: String,
    prod: String,
    prod_eu: String,
    dev: String,
    /// By name: `prod-a`, `prod-eu-b`, `prod-eu-closed`, `dev-c`, `bulk-N`.
    accounts: BTreeMap<String, String>,
}

async fn create_ou(client: &org::Client, parent: &str, name: &str) -> String {
    client
        .create_organizational_unit()
        .parent_id(parent)
        .name(name)
        .send()
        .await
        .expect("create ou")
        .organizational_unit()
        .and_then(|ou| ou.id())
        .expect("ou id")
        .to_owned()
}

async fn create_account(
    client: &org::Client,
    root: &str,
    parent: &str,
    name: &str,
    tags: &[(&str, &str)],
) -> String {
    let mut create = client
        .create_account()
        .account_name(name)
        .email(format!("{name}@example.com"));
    for (key, value) in tags {
        create = create.tags(
            org::types::Tag::builder()
                .key(*key)
                .value(*value)
                .build()
                .unwrap(),
        );
    }
    let id = create
        .send()
        .await
        .expect("create account")
        .create_account_status()
        .and_then(|s| s.account_id())
        .expect("account id")
        .to_owned();
    client
        .move_account()
        .account_id(&id)
        .source_parent_id(root)
        .destination_parent_id(parent)
        .send()
        .await
        .expect("move account");
    id
}

/// root ─┬─ management account (moto's default), prod ─┬─ prod-a {env=prod, team=a}
///       │                                             └─ prod/eu ─┬─ prod-eu-b {env=prod}
///       │                                                         └─ prod-eu-closed (SUSPENDED)
///       └─ dev ─┬─ dev-c {env=dev, team=a}
///               └─ bulk-0 … bulk-20 (untagged)
async fn seed(moto: &Moto) -> Org {
    let client = org::Client::new(&moto.server.sdk_config(REGION));
    client
        .create_organization()
        .feature_set(org::types::OrganizationFeatureSet::All)
        .send()
        .await
        .expect("create organization");
    let root = client
        .list_roots()
        .send()
        .await
        .expect("list roots")
        .roots()[0]
        .id()
        .expect("root id")
        .to_owned();
    let prod = create_ou(&client, &root, "prod").await;
    let prod_eu = create_ou(&client, &prod, "eu").await;
    let dev = create_ou(&client, &root, "dev").await;
    let mut accounts = BTreeMap::new();
    for (name, parent, tags) in [
        ("prod-a", &prod, &[("env", "prod"), ("team", "a")][..]),
        ("prod-eu-b", &prod_eu, &[("env", "prod")][..]),
        ("prod-eu-closed", &prod_eu, &[("env", "prod")][..]),
        ("dev-c", &dev, &[("env", "dev"), ("team", "a")][..]),
    ] {
        let id = create_account(&client, &root, parent, name, tags).await;
        accounts.insert(name.to_owned(), id);
    }
    for i in 0..BULK_ACCOUNTS {
        let name = format!("bulk-{i}");
        let id = create_account(&client, &root, &dev, &name, &[]).await;
        accounts.insert(name, id);
    }
    client
        .close_account()
        .account_id(&accounts["prod-eu-closed"])
        .send()
        .await
        .expect("close account");
    Org {
        root,
        prod,
        prod_eu,
        dev,
        accounts,
    }
}

fn config(ous: &[&str], tags: &[(&str, &str)], exclude: &[&str]) -> OrganizationsConfig {
    OrganizationsConfig {
        ous: ous.iter().map(|s| (*s).to_owned()).collect(),
        tags: tags
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        exclude_accounts: exclude.iter().map(|s| (*s).to_owned()).collect(),
    }
}

impl Org {
    /// The ids of the named accounts (`management` = moto's default account), sorted.
    fn ids(&self, names: &[&str]) -> Vec<String> {
        let mut ids: Vec<String> = names
            .iter()
            .map(|n| match *n {
                "management" => MOTO_DEFAULT_ACCOUNT.to_owned(),
                n => self.accounts[n].clone(),
            })
            .collect();
        ids.sort();
        ids
    }

    fn bulk(&self) -> Vec<&str> {
        self.accounts
            .keys()
            .filter(|n| n.starts_with("bulk-"))
            .map(String::as_str)
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn member_accounts_filter_by_ou_tag_state_and_exclusion() {
    let moto = Moto::start().await;
    let org = seed(&moto).await;
    let api = moto.factory.organizations();
    let ids = |config: OrganizationsConfig| {
        let api = api.clone();
        async move {
            let members = member_accounts(api.as_ref(), &config).await.unwrap();
            members
                .into_iter()
                .map(|m| m.id.as_str().to_owned())
                .collect::<Vec<_>>()
        }
    };
    let with = |names: &[&str], bulk: bool| {
        let mut names = names.to_vec();
        if bulk {
            names.extend(org.bulk());
        }
        org.ids(&names)
    };

    // Everything ACTIVE: the closed account is left out.
    assert_eq!(
        ids(config(&[], &[], &[])).await,
        with(&["management", "prod-a", "prod-eu-b", "dev-c"], true)
    );
    // An OU includes its nested OUs; the root is everything.
    assert_eq!(
        ids(config(&[&org.prod], &[], &[])).await,
        with(&["prod-a", "prod-eu-b"], false)
    );
    assert_eq!(
        ids(config(&[&org.prod_eu], &[], &[])).await,
        with(&["prod-eu-b"], false)
    );
    assert_eq!(
        ids(config(&[&org.root], &[], &[])).await,
        with(&["management", "prod-a", "prod-eu-b", "dev-c"], true)
    );
    // More accounts than one ListAccountsForParent page.
    assert_eq!(
        ids(config(&[&org.dev], &[], &[])).await,
        with(&["dev-c"], true)
    );
    // Tags: every one must match; "*" is any value.
    assert_eq!(
        ids(config(&[], &[("env", "prod")], &[])).await,
        with(&["prod-a", "prod-eu-b"], false)
    );
    assert_eq!(
        ids(config(&[], &[("env", "*"), ("team", "a")], &[])).await,
        with(&["prod-a", "dev-c"], false)
    );
    assert_eq!(
        ids(config(&[&org.dev], &[("env", "prod")], &[])).await,
        Vec::<String>::new()
    );
    // Exclusions win over everything.
    let prod_a = org.accounts["prod-a"].as_str();
    assert_eq!(
        ids(config(&[&org.prod], &[("env", "*")], &[prod_a])).await,
        with(&["prod-eu-b"], false)
    );

    let members = member_accounts(api.as_ref(), &config(&[&org.prod], &[("team", "a")], &[]))
        .await
        .unwrap();
    assert_eq!(members.len(), 1);
    assert_eq!(members[0].name, "prod-a");
    assert_eq!(members[0].tags.get("env").map(String::as_str), Some("prod"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_errors_name_the_problem() {
    let moto = Moto::start().await;
    let api = moto.factory.organizations();
    // (Before an organization exists moto lists no accounts instead of answering
    // AWSOrganizationsNotInUseException; that message is held by the engine's unit tests.)
    let org = seed(&moto).await;
    let missing = format!("{}-nope", org.prod);
    let err = member_accounts(api.as_ref(), &config(&[&missing], &[], &[]))
        .await
        .unwrap_err();
    assert_eq!(err.class, ErrorClass::NotFound, "{err}");
    assert!(
        err.to_string()
            .contains(&format!("{missing} (fleet.organizations.ous)")),
        "{err}"
    );
}
