//! The lease logic over an in-memory table and a clock the tests move by hand.

use std::collections::HashMap;

use autosub_aws::{AwsError, ErrorClass};
use tokio::sync::watch;

use super::*;

const DURATION: Duration = Duration::from_secs(120);
/// A clock start far from zero, so "expired" and "released" (0) differ.
const T0: u64 = 1_800_000_000_000;

/// Wall-clock milliseconds that move only when a test says so.
struct ManualClock(watch::Sender<u64>);

impl ManualClock {
    fn new() -> Arc<Self> {
        Arc::new(Self(watch::Sender::new(T0)))
    }

    fn advance(&self, by: Duration) {
        self.0
            .send_modify(|now| *now += u64::try_from(by.as_millis()).unwrap());
    }
}

#[async_trait]
impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        *self.0.borrow()
    }

    async fn sleep_until(&self, at_ms: u64) {
        let mut rx = self.0.subscribe();
        // The sender lives as long as the clock, which outlives every sleeper.
        let _ = rx.wait_for(|now| *now >= at_ms).await;
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Item {
    owner: Option<String>,
    expires_at_ms: u64,
    fencing: u64,
}

/// How the fake answers renewals.
#[derive(Clone, Copy, PartialEq, Eq)]
enum RenewMode {
    Normal,
    Fail,
}

/// DynamoDB's conditional writes, in memory.
struct FakeTable {
    items: Mutex<HashMap<String, Item>>,
    renew_mode: Mutex<RenewMode>,
    renewals: watch::Sender<u32>,
    fail_acquire: bool,
}

impl FakeTable {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            items: Mutex::default(),
            renew_mode: Mutex::new(RenewMode::Normal),
            renewals: watch::Sender::new(0),
            fail_acquire: false,
        })
    }

    fn item(&self, name: &str) -> Option<Item> {
        self.items.lock().unwrap().get(name).cloned()
    }

    fn set(&self, name: &str, item: Item) {
        self.items.lock().unwrap().insert(name.to_owned(), item);
    }

    async fn wait_renewals(&self, at_least: u32) {
        let mut rx = self.renewals.subscribe();
        tokio::time::timeout(Duration::from_secs(10), rx.wait_for(|n| *n >= at_least))
            .await
            .expect("renewals in time")
            .expect("table alive");
    }
}

fn throttled() -> AwsError {
    AwsError {
        class: ErrorClass::Throttled,
        operation: "dynamodb:UpdateItem",
        code: Some("ThrottlingException".into()),
        message: "slow down".into(),
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap()
}

#[async_trait]
impl LeaseTable for FakeTable {
    async fn acquire(
        &self,
        name: &str,
        owner: &str,
        now_ms: u64,
        duration: Duration,
        max_ahead: Duration,
    ) -> Result<Acquired, AwsError> {
        if self.fail_acquire {
            return Err(throttled());
        }
        let mut items = self.items.lock().unwrap();
        let item = items.entry(name.to_owned()).or_insert(Item {
            owner: None,
            expires_at_ms: 0,
            fencing: 0,
        });
        let unlapsed = item.expires_at_ms >= now_ms;
        let absurd = item.expires_at_ms > now_ms.saturating_add(ms(max_ahead));
        match &item.owner {
            Some(other) if other != owner && unlapsed && !absurd => Ok(Acquired::Held {
                owner: other.clone(),
                expires_at_ms: item.expires_at_ms,
            }),
            previous => {
                // The table is locked: the item cannot change between the look and the write.
                let took_over = previous
                    .as_ref()
                    .filter(|other| *other != owner && unlapsed)
                    .map(|other| Holder {
                        owner: other.clone(),
                        expires_at_ms: item.expires_at_ms,
                    });
                item.owner = Some(owner.to_owned());
                item.expires_at_ms = now_ms + ms(duration);
                item.fencing += 1;
                Ok(Acquired::Granted {
                    fencing: item.fencing,
                    expires_at_ms: item.expires_at_ms,
                    took_over,
                })
            }
        }
    }

    async fn renew(
        &self,
        name: &str,
        owner: &str,
        fencing: u64,
        now_ms: u64,
        duration: Duration,
    ) -> Result<Renewed, AwsError> {
        self.renewals.send_modify(|n| *n += 1);
        if *self.renew_mode.lock().unwrap() == RenewMode::Fail {
            return Err(throttled());
        }
        let mut items = self.items.lock().unwrap();
        match items.get_mut(name) {
            Some(item) if item.owner.as_deref() == Some(owner) && item.fencing == fencing => {
                item.expires_at_ms = now_ms + ms(duration);
                Ok(Renewed::Until {
                    expires_at_ms: item.expires_at_ms,
                })
            }
            _ => Ok(Renewed::Lost),
        }
    }

    async fn release(&self, name: &str, owner: &str, fencing: u64) -> Result<(), AwsError> {
        let mut items = self.items.lock().unwrap();
        if let Some(item) = items.get_mut(name)
            && item.owner.as_deref() == Some(owner)
            && item.fencing == fencing
        {
            item.owner = None;
            item.expires_at_ms = 0;
        }
        Ok(())
    }

    fn location(&self) -> String {
        "fake table".into()
    }
}

const TARGET: &str = "111111111111/us-east-1";

fn leases(table: &Arc<FakeTable>, clock: &Arc<ManualClock>, owner: &str) -> Leases {
    let table: Arc<dyn LeaseTable> = table.clone();
    let clock: Arc<dyn Clock> = clock.clone();
    Leases::with_clock(table, DURATION, clock, owner.to_owned())
}

async fn granted(leases: &Leases, parent: &CancellationToken) -> LeaseGuard {
    match leases.hold(TARGET, parent).await.expect("hold") {
        Hold::Granted(guard) => guard,
        Hold::HeldElsewhere { owner, .. } => panic!("held by {owner}"),
    }
}

async fn cancelled_in_time(token: &CancellationToken) {
    tokio::time::timeout(Duration::from_secs(10), token.cancelled())
        .await
        .expect("token cancelled in time");
}

/// A fresh lease table, a clock at zero and a parent token nobody has cancelled.
fn fixture() -> (Arc<FakeTable>, Arc<ManualClock>, CancellationToken) {
    (
        FakeTable::new(),
        ManualClock::new(),
        CancellationToken::new(),
    )
}

#[tokio::test]
async fn a_held_lease_is_not_granted_to_another_owner() {
    let (table, clock, parent) = fixture();
    let a = granted(&leases(&table, &clock, "a"), &parent).await;
    assert_eq!(a.fencing(), Some(1));
    assert_eq!(a.target(), TARGET);
    match leases(&table, &clock, "b").hold(TARGET, &parent).await {
        Ok(Hold::HeldElsewhere { owner, until }) => {
            assert_eq!(owner, "a");
            assert_eq!(until, UNIX_EPOCH + Duration::from_millis(T0 + ms(DURATION)));
        }
        other => panic!("{other:?}"),
    }
    assert!(!a.cancel().is_cancelled());
    // Another target is independent.
    let other = leases(&table, &clock, "b")
        .hold("222222222222/us-east-1", &parent)
        .await
        .unwrap();
    assert!(matches!(other, Hold::Granted(_)));
}

#[tokio::test]
async fn a_lapsed_lease_goes_to_the_next_owner_with_a_higher_token() {
    let (table, clock, parent) = fixture();
    let a = granted(&leases(&table, &clock, "a"), &parent).await;
    let a_token = a.fencing().unwrap();
    // The holder dies (no release, no renewals): the lease lapses after its duration.
    drop(a);
    clock.advance(DURATION);
    let b = leases(&table, &clock, "b");
    assert!(matches!(
        b.hold(TARGET, &parent).await.unwrap(),
        Hold::HeldElsewhere { .. }
    ));
    clock.advance(Duration::from_millis(1));
    let guard = granted(&b, &parent).await;
    assert!(guard.fencing().unwrap() > a_token);
    assert_eq!(table.item(TARGET).unwrap().owner.as_deref(), Some("b"));
}

#[tokio::test]
async fn a_lease_expiring_further_ahead_than_any_replica_takes_is_taken_over() {
    let longest = ms(longest_lease(DURATION));
    assert_eq!(
        longest,
        ms(DURATION) + ms(DURATION) / u64::from(SKEW_ALLOWANCE_DIVISOR)
    );
    // (how far past now another owner's lease expires, whether it is taken over)
    let year = 365 * 24 * 3600 * 1000;
    for (ahead, taken) in [
        (0, false),
        (ms(DURATION), false),
        // Granted by a replica whose clock runs ahead by the whole skew allowance.
        (longest, false),
        (longest + 1, true),
        (year, true),
        (u64::MAX - T0, true),
    ] {
        let (table, clock, parent) = fixture();
        let forged = Item {
            owner: Some("forger".into()),
            expires_at_ms: T0 + ahead,
            fencing: 41,
        };
        table.set(TARGET, forged.clone());
        let hold = leases(&table, &clock, "a").hold(TARGET, &parent).await;
        match hold.unwrap() {
            Hold::Granted(guard) => {
                assert!(taken, "{ahead} ms ahead is a lease some replica took");
                assert_eq!(
                    guard.fencing(),
                    Some(42),
                    "a higher token than the forged one"
                );
                let item = table.item(TARGET).unwrap();
                assert_eq!(item.owner.as_deref(), Some("a"));
                assert_eq!(item.expires_at_ms, T0 + ms(DURATION));
                // The lease is an ordinary one now: the next replica finds it held.
                match leases(&table, &clock, "b").hold(TARGET, &parent).await {
                    Ok(Hold::HeldElsewhere { owner, .. }) => assert_eq!(owner, "a"),
                    other => panic!("{other:?}"),
                }
            }
            Hold::HeldElsewhere { owner, until } => {
                assert!(!taken, "{ahead} ms ahead is no lease any replica takes");
                assert_eq!(owner, "forger");
                assert_eq!(until, UNIX_EPOCH + Duration::from_millis(T0 + ahead));
                assert_eq!(table.item(TARGET), Some(forged));
            }
        }
    }
}

#[test]
fn expiries_print_as_rfc3339_even_when_forged_beyond_the_calendar() {
    assert_eq!(rfc3339_ms(T0), "2027-01-15T08:00:00Z");
    assert_eq!(
        rfc3339(UNIX_EPOCH + Duration::from_millis(T0 + 999)),
        "2027-01-15T08:00:00Z"
    );
    assert_eq!(
        rfc3339_ms(u64::MAX),
        "18446744073709551615 ms after the Unix epoch"
    );
}

#[tokio::test]
async fn a_released_lease_is_free_at_once() {
    let (table, clock, parent) = fixture();
    let a = granted(&leases(&table, &clock, "a"), &parent).await;
    let token = a.cancel();
    a.release().await.unwrap();
    assert!(token.is_cancelled(), "a released guard's pass must stop");
    let item = table.item(TARGET).unwrap();
    assert_eq!((item.owner, item.expires_at_ms), (None, 0));
    let b = granted(&leases(&table, &clock, "b"), &parent).await;
    assert_eq!(b.fencing(), Some(2));
}

#[tokio::test]
async fn renewals_keep_the_lease_every_third_of_the_duration() {
    let (table, clock, parent) = fixture();
    let a = granted(&leases(&table, &clock, "a"), &parent).await;
    for round in 1..=3u32 {
        clock.advance(DURATION / 3);
        table.wait_renewals(round).await;
    }
    // Well past the first grant's expiry, still held.
    clock.advance(DURATION / 3);
    table.wait_renewals(4).await;
    assert!(!a.cancel().is_cancelled());
    assert_eq!(a.loss(), None);
    let item = table.item(TARGET).unwrap();
    assert_eq!(item.expires_at_ms, T0 + 4 * ms(DURATION / 3) + ms(DURATION));
    assert_eq!(item.fencing, 1);
}

#[tokio::test]
async fn a_renewal_that_finds_the_lease_taken_cancels_the_pass() {
    let (table, clock, parent) = fixture();
    let a = granted(&leases(&table, &clock, "a"), &parent).await;
    // Another owner was granted the lease (say, after a long pause of this process).
    table.set(
        TARGET,
        Item {
            owner: Some("b".into()),
            expires_at_ms: T0 + 10 * ms(DURATION),
            fencing: 2,
        },
    );
    clock.advance(DURATION / 3);
    cancelled_in_time(&a.cancel()).await;
    assert_eq!(a.loss(), Some(LeaseLoss::TakenOver));
    assert!(
        !parent.is_cancelled(),
        "only the pass's own token is cancelled"
    );
    // Releasing a lost lease leaves the new owner alone.
    a.release().await.unwrap();
    assert_eq!(table.item(TARGET).unwrap().owner.as_deref(), Some("b"));
}

#[tokio::test]
async fn failing_renewals_cancel_the_pass_before_the_lease_lapses() {
    let (table, clock, parent) = fixture();
    let a = granted(&leases(&table, &clock, "a"), &parent).await;
    *table.renew_mode.lock().unwrap() = RenewMode::Fail;
    clock.advance(DURATION / 3);
    table.wait_renewals(1).await;
    assert!(!a.cancel().is_cancelled(), "one failure is retried");
    // Up to the skew allowance before expiry: the pass must be stopped by then.
    clock.advance(DURATION - DURATION / 3 - DURATION / SKEW_ALLOWANCE_DIVISOR);
    cancelled_in_time(&a.cancel()).await;
    match a.loss() {
        Some(LeaseLoss::Expired {
            last_error: Some(e),
        }) => assert!(e.contains("slow down"), "{e}"),
        other => panic!("{other:?}"),
    }
    assert!(
        clock.now_ms() < T0 + ms(DURATION),
        "stopped before the lease lapsed"
    );
}

#[tokio::test]
async fn the_parent_and_dropping_the_guard_cancel_the_pass() {
    let (table, clock, parent) = fixture();
    let a = granted(&leases(&table, &clock, "a"), &parent).await;
    let token = a.cancel();
    drop(a);
    assert!(token.is_cancelled());
    assert!(!parent.is_cancelled());
    let b = granted(&leases(&table, &clock, "a"), &parent).await;
    parent.cancel();
    assert!(b.cancel().is_cancelled());
}

#[tokio::test]
async fn single_replica_mode_grants_everything_locally() {
    let parent = CancellationToken::new();
    let leases = Leases::local();
    assert!(!leases.is_shared());
    let one = granted(&leases, &parent).await;
    let two = granted(&leases, &parent).await;
    assert_eq!((one.fencing(), two.fencing()), (None, None));
    parent.cancel();
    assert!(one.cancel().is_cancelled());
    one.release().await.unwrap();
}

#[tokio::test]
async fn a_failed_grant_names_the_target_and_the_table() {
    let table = Arc::new(FakeTable {
        fail_acquire: true,
        ..Arc::into_inner(FakeTable::new()).unwrap()
    });
    let clock = ManualClock::new();
    let err = leases(&table, &clock, "a")
        .hold(TARGET, &CancellationToken::new())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "lease of 111111111111/us-east-1 in fake table: dynamodb:UpdateItem failed (throttled, ThrottlingException): slow down"
    );
}

#[test]
fn owner_ids_are_unique_per_call_and_name_the_process() {
    let (a, b) = (owner_id(), owner_id());
    assert_ne!(a, b);
    assert!(a.contains(&format!(":{}:", std::process::id())), "{a}");
}

#[test]
fn loss_reasons_read_well() {
    assert_eq!(
        LeaseLoss::Expired {
            last_error: Some("x failed".into())
        }
        .to_string(),
        "the lease could not be renewed before it lapsed (x failed)"
    );
    assert_eq!(
        LeaseLoss::TakenOver.to_string(),
        "the lease was taken over by another owner"
    );
}
