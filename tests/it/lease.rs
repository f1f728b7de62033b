//! The lease table (`ClientFactory::lease_table`) and the engine's `Leases` against moto's
//! DynamoDB: conditional writes decide who holds a target.

use std::sync::Arc;
use std::time::Duration;

use autosub_aws::lease_store::{Acquired, LeaseTable, Renewed};
use autosub_core::Region;
use autosub_core::ledger::{LedgerEntry, LedgerItem, Origin, SweepCursors, Verified};
use autosub_engine::lease::{Hold, Leases};
use aws_sdk_dynamodb as ddb;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType,
};
use tokio_util::sync::CancellationToken;

use crate::support::{Moto, REGION};

const TABLE: &str = "autosub-it-leases";
const NAME: &str = "111111111111/us-east-1";
const DURATION: Duration = Duration::from_secs(60);
const NOW: u64 = 1_800_000_000_000;

/// Creates the table (string keys `pk` and `sk`, as the ledger's) and returns moto's client.
async fn create_table(moto: &Moto) -> ddb::Client {
    create_table_named(&moto.server, TABLE).await
}

/// Creates a lease table called `name` in `server` (string keys `pk` and `sk`).
pub(crate) async fn create_table_named(
    server: &autosub_testkit::MotoServer,
    name: &str,
) -> ddb::Client {
    let client = ddb::Client::new(&server.sdk_config(REGION));
    let mut create = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest);
    for (name, key) in [("pk", KeyType::Hash), ("sk", KeyType::Range)] {
        create = create
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(name)
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .unwrap(),
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name(name)
                    .key_type(key)
                    .build()
                    .unwrap(),
            );
    }
    create.send().await.expect("create table");
    client
}

fn table(moto: &Moto) -> Arc<dyn LeaseTable> {
    moto.factory.lease_table(&Region::new(REGION), TABLE)
}

fn granted(acquired: &Acquired) -> u64 {
    match acquired {
        Acquired::Granted { fencing, .. } => *fencing,
        Acquired::Held { owner, .. } => panic!("held by {owner}"),
    }
}

/// One call at a time, as DynamoDB serialises the writes to one item. moto does not: it
/// evaluates a condition and applies its write without a lock, so two concurrent requests can
/// both pass the same condition (seen here: two grants with token 1).
struct Serialised {
    inner: Arc<dyn LeaseTable>,
    lock: tokio::sync::Mutex<()>,
}

#[async_trait::async_trait]
impl LeaseTable for Serialised {
    async fn acquire(
        &self,
        name: &str,
        owner: &str,
        now_ms: u64,
        duration: Duration,
    ) -> Result<Acquired, autosub_aws::AwsError> {
        let _one = self.lock.lock().await;
        self.inner.acquire(name, owner, now_ms, duration).await
    }

    async fn renew(
        &self,
        name: &str,
        owner: &str,
        fencing: u64,
        now_ms: u64,
        duration: Duration,
    ) -> Result<Renewed, autosub_aws::AwsError> {
        let _one = self.lock.lock().await;
        self.inner
            .renew(name, owner, fencing, now_ms, duration)
            .await
    }

    async fn release(
        &self,
        name: &str,
        owner: &str,
        fencing: u64,
    ) -> Result<(), autosub_aws::AwsError> {
        let _one = self.lock.lock().await;
        self.inner.release(name, owner, fencing).await
    }

    fn location(&self) -> String {
        self.inner.location()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_owners_get_exactly_one_grant() {
    let moto = Moto::start().await;
    create_table(&moto).await;
    let leases: Arc<dyn LeaseTable> = Arc::new(Serialised {
        inner: table(&moto),
        lock: tokio::sync::Mutex::new(()),
    });
    for round in 0..5u64 {
        let name = format!("11111111111{round}/us-east-1");
        let tasks: Vec<_> = (0..6)
            .map(|i| {
                let (leases, name) = (Arc::clone(&leases), name.clone());
                tokio::spawn(async move {
                    let owner = format!("owner-{i}");
                    let got = leases.acquire(&name, &owner, NOW, DURATION).await;
                    (owner, got.expect("acquire"))
                })
            })
            .collect();
        let mut winners = Vec::new();
        let mut holders = Vec::new();
        for task in tasks {
            match task.await.unwrap() {
                (owner, Acquired::Granted { fencing, .. }) => winners.push((owner, fencing)),
                (_, Acquired::Held { owner, .. }) => holders.push(owner),
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: {winners:?}");
        let (winner, fencing) = &winners[0];
        assert_eq!(*fencing, 1);
        assert_eq!(holders.len(), 5);
        assert!(
            holders.iter().all(|h| h == winner),
            "{holders:?} vs {winner}"
        );
        // The losers cannot renew what they were never granted.
        for i in 0..6 {
            let owner = format!("owner-{i}");
            let renewed = leases
                .renew(&name, &owner, 1, NOW + 1, DURATION)
                .await
                .unwrap();
            assert_eq!(renewed == Renewed::Lost, owner != *winner, "{owner}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grants_renewals_releases_and_expiry_follow_the_fencing_token() {
    let moto = Moto::start().await;
    let raw = create_table(&moto).await;
    let leases = table(&moto);

    let a = granted(&leases.acquire(NAME, "a", NOW, DURATION).await.unwrap());
    assert_eq!(
        leases.acquire(NAME, "b", NOW + 1, DURATION).await.unwrap(),
        Acquired::Held {
            owner: "a".into(),
            expires_at_ms: NOW + 60_000
        }
    );
    // The loser cannot renew; the holder can, and its expiry moves.
    assert_eq!(
        leases.renew(NAME, "b", a, NOW + 1, DURATION).await.unwrap(),
        Renewed::Lost
    );
    assert_eq!(
        leases
            .renew(NAME, "a", a, NOW + 20_000, DURATION)
            .await
            .unwrap(),
        Renewed::Until {
            expires_at_ms: NOW + 80_000
        }
    );
    // A stale token of the right owner is lost too.
    assert_eq!(
        leases.renew(NAME, "a", a + 7, NOW, DURATION).await.unwrap(),
        Renewed::Lost
    );

    // Released: the next owner gets it at once, under a higher token; the item stays.
    leases
        .release(NAME, "b", a)
        .await
        .expect("a foreign release is a no-op");
    leases.release(NAME, "a", a).await.unwrap();
    let b = granted(
        &leases
            .acquire(NAME, "b", NOW + 20_001, DURATION)
            .await
            .unwrap(),
    );
    assert!(b > a);
    // Re-acquiring one's own lease is a new grant.
    let b2 = granted(
        &leases
            .acquire(NAME, "b", NOW + 20_002, DURATION)
            .await
            .unwrap(),
    );
    assert!(b2 > b);
    assert_eq!(
        leases
            .renew(NAME, "b", b, NOW + 20_003, DURATION)
            .await
            .unwrap(),
        Renewed::Lost
    );

    // Lapsed (b never renews): a takes over, and b's renewal and release change nothing.
    let lapse = NOW + 20_002 + 60_001;
    let a2 = granted(&leases.acquire(NAME, "a", lapse, DURATION).await.unwrap());
    assert!(a2 > b2);
    assert_eq!(
        leases.renew(NAME, "b", b2, lapse, DURATION).await.unwrap(),
        Renewed::Lost
    );
    leases.release(NAME, "b", b2).await.unwrap();

    let item = raw
        .get_item()
        .table_name(TABLE)
        .key("pk", AttributeValue::S(format!("lease/{NAME}")))
        .key("sk", AttributeValue::S("lease".into()))
        .send()
        .await
        .unwrap()
        .item
        .expect("lease item");
    assert_eq!(item["owner"], AttributeValue::S("a".into()));
    assert_eq!(item["fencing"], AttributeValue::N(a2.to_string()));
    assert_eq!(
        item["expires_at_ms"],
        AttributeValue::N((lapse + 60_000).to_string())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leases_share_the_ledger_table_without_touching_its_entries() {
    let moto = Moto::start().await;
    create_table(&moto).await;
    let region = Region::new(REGION);
    let ledger = moto.factory.ledger_table(&region, TABLE);
    // One item of each kind the ledger keeps: a trigger, a verified location, the pass record.
    let items = vec![
        (
            "k1".to_owned(),
            LedgerItem::Trigger(LedgerEntry {
                kind: "subscription_filter".into(),
                location: "/aws/lambda/x".into(),
                origin: Origin::Created,
                stale_passes: 0,
                last_seen: Some(1_700_000_000),
            }),
        ),
        (
            "pass".to_owned(),
            LedgerItem::Pass {
                last_pass_at: Some(1_700_000_001),
                sweep: SweepCursors {
                    log_groups: Some("/aws/lambda/m".into()),
                    buckets: None,
                },
            },
        ),
        (
            "verified log-group:/aws/lambda/x".to_owned(),
            LedgerItem::Verified(Verified {
                want: "arn:aws:lambda:us-east-1:123456789012:function:fwd \"\"".into(),
                seen_at: 1_700_000_000,
            }),
        ),
    ];
    ledger.write(NAME, &items, &[]).await.unwrap();
    granted(
        &table(&moto)
            .acquire(NAME, "a", NOW, DURATION)
            .await
            .unwrap(),
    );
    let entries = ledger.entries(NAME).await.unwrap();
    assert_eq!(entries.into_iter().collect::<Vec<_>>(), items);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_take_turns_on_a_target() {
    let moto = Moto::start().await;
    create_table(&moto).await;
    let one = Leases::shared(table(&moto), Duration::from_secs(15));
    let two = Leases::shared(table(&moto), Duration::from_secs(15));
    assert_ne!(one.owner(), two.owner());
    let parent = CancellationToken::new();
    let Hold::Granted(guard) = one.hold(NAME, &parent).await.unwrap() else {
        panic!("the first replica is granted the target");
    };
    match two.hold(NAME, &parent).await.unwrap() {
        Hold::HeldElsewhere { owner, .. } => assert_eq!(owner, one.owner()),
        Hold::Granted(_) => panic!("two replicas hold one target"),
    }
    let first = guard.fencing().unwrap();
    guard.release().await.unwrap();
    let Hold::Granted(guard) = two.hold(NAME, &parent).await.unwrap() else {
        panic!("a released target is free");
    };
    assert!(guard.fencing().unwrap() > first);
    assert!(!guard.cancel().is_cancelled());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_table_is_an_error_naming_it() {
    let moto = Moto::start().await;
    let leases = Leases::shared(table(&moto), DURATION);
    let err = leases
        .hold(NAME, &CancellationToken::new())
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains(TABLE) && text.contains(NAME), "{text}");
}
