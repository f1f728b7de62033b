//! The lease table (`ClientFactory::lease_table`) and the engine's `Leases` against moto's
//! DynamoDB: conditional writes decide who holds a target.

use std::sync::Arc;
use std::time::Duration;

use autosub_aws::lease_store::{Acquired, Holder, LeaseTable, Renewed};
use autosub_aws::ledger_store::ItemChange;
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
/// The longest lease a replica with [`DURATION`] believes any replica takes.
const LONGEST: Duration = Duration::from_secs(66);
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
        max_ahead: Duration,
    ) -> Result<Acquired, autosub_aws::AwsError> {
        let _one = self.lock.lock().await;
        self.inner
            .acquire(name, owner, now_ms, duration, max_ahead)
            .await
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
                    let got = leases.acquire(&name, &owner, NOW, DURATION, LONGEST).await;
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

    let a = granted(
        &leases
            .acquire(NAME, "a", NOW, DURATION, LONGEST)
            .await
            .unwrap(),
    );
    assert_eq!(
        leases
            .acquire(NAME, "b", NOW + 1, DURATION, LONGEST)
            .await
            .unwrap(),
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
            .acquire(NAME, "b", NOW + 20_001, DURATION, LONGEST)
            .await
            .unwrap(),
    );
    assert!(b > a);
    // Re-acquiring one's own lease is a new grant.
    let b2 = granted(
        &leases
            .acquire(NAME, "b", NOW + 20_002, DURATION, LONGEST)
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
    let a2 = granted(
        &leases
            .acquire(NAME, "a", lapse, DURATION, LONGEST)
            .await
            .unwrap(),
    );
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
    let writes: Vec<ItemChange> = items
        .iter()
        .map(|(key, item)| ItemChange {
            key: key.clone(),
            before: None,
            after: Some(item.clone()),
        })
        .collect();
    assert_eq!(
        ledger.write(NAME, &writes).await.unwrap(),
        Vec::<String>::new()
    );
    granted(
        &table(&moto)
            .acquire(NAME, "a", NOW, DURATION, LONGEST)
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

/// Writes the lease item of `name` as another process might have: `owner`, `expires_at_ms` and,
/// when given, `fencing`.
async fn put_lease(
    raw: &ddb::Client,
    name: &str,
    owner: &str,
    expires_at_ms: u64,
    fencing: Option<u64>,
) {
    let mut put = raw
        .put_item()
        .table_name(TABLE)
        .item("pk", AttributeValue::S(format!("lease/{name}")))
        .item("sk", AttributeValue::S("lease".into()))
        .item("owner", AttributeValue::S(owner.into()))
        .item(
            "expires_at_ms",
            AttributeValue::N(expires_at_ms.to_string()),
        );
    if let Some(fencing) = fencing {
        put = put.item("fencing", AttributeValue::N(fencing.to_string()));
    }
    put.send().await.expect("put the lease item");
}

/// `(owner, expires_at_ms, fencing)` of the lease item of `name`.
async fn lease_item(raw: &ddb::Client, name: &str) -> (String, u64, u64) {
    let item = raw
        .get_item()
        .table_name(TABLE)
        .key("pk", AttributeValue::S(format!("lease/{name}")))
        .key("sk", AttributeValue::S("lease".into()))
        .send()
        .await
        .unwrap()
        .item
        .expect("lease item");
    let number = |name: &str| item[name].as_n().unwrap().parse::<u64>().unwrap();
    (
        item["owner"].as_s().unwrap().clone(),
        number("expires_at_ms"),
        number("fencing"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_expiring_further_ahead_than_any_replica_takes_is_taken_over() {
    let moto = Moto::start().await;
    let raw = create_table(&moto).await;
    let leases = table(&moto);
    assert_eq!(autosub_engine::lease::longest_lease(DURATION), LONGEST);
    let longest = u64::try_from(LONGEST.as_millis()).unwrap();
    let ten_years = 10 * 365 * 24 * 3600 * 1000;
    // (how far past now the other owner's lease expires, its token, taken over?)
    let cases = [
        (60_000, Some(41), false),
        // Granted by a replica whose clock runs ahead by the whole skew allowance.
        (longest, Some(41), false),
        (longest + 1, Some(41), true),
        (ten_years, Some(41), true),
        // A corrupt item without a token: the grant starts the count.
        (ten_years, None, true),
    ];
    for (i, (ahead, fencing, taken)) in cases.into_iter().enumerate() {
        let name = format!("11111111111{i}/us-east-1");
        put_lease(&raw, &name, "forger", NOW + ahead, fencing).await;
        let got = leases
            .acquire(&name, "a", NOW, DURATION, LONGEST)
            .await
            .unwrap();
        if taken {
            let want_token = fencing.unwrap_or(0) + 1;
            assert_eq!(
                got,
                Acquired::Granted {
                    fencing: want_token,
                    expires_at_ms: NOW + 60_000,
                    took_over: Some(Holder {
                        owner: "forger".into(),
                        expires_at_ms: NOW + ahead,
                    }),
                },
                "case {i}"
            );
            assert_eq!(
                lease_item(&raw, &name).await,
                ("a".into(), NOW + 60_000, want_token)
            );
            // An ordinary lease now: the next replica finds it held.
            assert_eq!(
                leases
                    .acquire(&name, "b", NOW + 1, DURATION, LONGEST)
                    .await
                    .unwrap(),
                Acquired::Held {
                    owner: "a".into(),
                    expires_at_ms: NOW + 60_000
                },
                "case {i}"
            );
        } else {
            assert_eq!(
                got,
                Acquired::Held {
                    owner: "forger".into(),
                    expires_at_ms: NOW + ahead
                },
                "case {i}"
            );
            assert_eq!(
                lease_item(&raw, &name).await,
                ("forger".into(), NOW + ahead, 41)
            );
        }
    }
}

type Hook = Box<dyn FnOnce() -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

/// A loopback HTTP proxy to `upstream` that runs `hook` once, right before it forwards the
/// first request whose body contains `marker`; its endpoint. One request per connection.
async fn proxy_with_hook(upstream: u16, marker: &'static str, hook: Hook) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let hook = Arc::new(std::sync::Mutex::new(Some(hook)));
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let hook = Arc::clone(&hook);
            tokio::spawn(async move {
                let Some(request) = read_request(&mut client).await else {
                    return;
                };
                if request
                    .windows(marker.len())
                    .any(|w| w == marker.as_bytes())
                {
                    let hook = hook.lock().unwrap().take();
                    if let Some(hook) = hook {
                        hook().await;
                    }
                }
                let mut moto = tokio::net::TcpStream::connect(("127.0.0.1", upstream))
                    .await
                    .expect("connect to moto");
                moto.write_all(&connection_close(&request)).await.unwrap();
                let mut response = Vec::new();
                moto.read_to_end(&mut response).await.unwrap();
                let _ = client.write_all(&connection_close(&response)).await;
            });
        }
    });
    endpoint
}

/// One HTTP/1.1 request (head and `Content-Length` body) from `stream`.
async fn read_request(stream: &mut tokio::net::TcpStream) -> Option<Vec<u8>> {
    use tokio::io::AsyncReadExt;
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&bytes[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse().unwrap());
            if bytes.len() >= end + 4 + length {
                return Some(bytes);
            }
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        bytes.extend_from_slice(&chunk[..n]);
    }
}

/// `message` with its `Connection` header replaced by `Connection: close`.
fn connection_close(message: &[u8]) -> Vec<u8> {
    let end = message
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP head");
    let head = String::from_utf8_lossy(&message[..end]);
    let mut out: String = head
        .split("\r\n")
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .map(|l| format!("{l}\r\n"))
        .collect();
    out.push_str("Connection: close\r\n\r\n");
    let mut out = out.into_bytes();
    out.extend_from_slice(&message[end + 4..]);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_lease_is_taken_over_only_as_it_was_read_so_two_replicas_never_both_take_it() {
    let moto = Moto::start().await;
    let raw = create_table(&moto).await;
    let forged = NOW + 10 * 365 * 24 * 3600 * 1000;
    put_lease(&raw, NAME, "forger", forged, Some(41)).await;
    // Replica b reads the forged item and takes it over between replica a's read of it and
    // a's takeover write (the write conditional on the item as a read it).
    let b_table = table(&moto);
    let b_got = Arc::new(std::sync::Mutex::new(None));
    let b_sink = Arc::clone(&b_got);
    let hook: Hook = Box::new(move || {
        Box::pin(async move {
            let got = b_table
                .acquire(NAME, "b", NOW, DURATION, LONGEST)
                .await
                .expect("b acquires");
            *b_sink.lock().unwrap() = Some(got);
        })
    });
    let endpoint = proxy_with_hook(moto.server.port(), ":seen_token", hook).await;
    let a_factory = autosub_aws::ClientFactory::from_sdk_config(
        autosub_testkit::moto::sdk_config_for(&endpoint, REGION),
        autosub_aws::AwsSettings {
            endpoint_url: Some(endpoint),
            max_attempts: 1,
            region: Some(Region::new(REGION)),
            ..autosub_aws::AwsSettings::default()
        },
    );
    let a_table = a_factory.lease_table(&Region::new(REGION), TABLE);
    let a_got = a_table
        .acquire(NAME, "a", NOW, DURATION, LONGEST)
        .await
        .unwrap();

    let b_got = b_got
        .lock()
        .unwrap()
        .take()
        .expect("b ran inside a's takeover");
    assert_eq!(
        b_got,
        Acquired::Granted {
            fencing: 42,
            expires_at_ms: NOW + 60_000,
            took_over: Some(Holder {
                owner: "forger".into(),
                expires_at_ms: forged
            }),
        }
    );
    assert_eq!(
        a_got,
        Acquired::Held {
            owner: "b".into(),
            expires_at_ms: NOW + 60_000
        },
        "a's takeover found the item changed, looked again and found b's lease"
    );
    assert_eq!(lease_item(&raw, NAME).await, ("b".into(), NOW + 60_000, 42));
}
