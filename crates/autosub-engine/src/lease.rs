//! The per-target lease that keeps two replicas (or a replica and a one-shot `reconcile`) from
//! reconciling the same target (account × region) at once.
//!
//! A pass first [`Leases::hold`]s its target. When another owner holds an unexpired lease the
//! pass is skipped ([`Hold::HeldElsewhere`]); otherwise it runs under a [`LeaseGuard`], which
//! renews the lease in the background every third of `lease.duration_secs` and cancels the
//! pass's token ([`LeaseGuard::cancel`]) as soon as the lease is lost or cannot be renewed in
//! time. Without `lease.table` (single-replica mode) every hold is granted locally, with no IO.
//!
//! Guarantees:
//! - At most one owner is granted a target's lease at a time: a grant is one conditional
//!   DynamoDB write (free, lapsed, or already the caller's), evaluated atomically.
//! - Every grant carries a fencing token higher than every earlier grant of the same target, so
//!   a holder that lost its lease can be told from the current one.
//! - A guard's token is cancelled when a renewal finds the lease released or taken over, and
//!   [`SKEW_ALLOWANCE_DIVISOR`]ths of the duration before the lease lapses when renewals keep
//!   failing, so a pass that checks its token before each write stops before another owner can
//!   be granted the target. It is also cancelled when the guard is released or dropped, and
//!   with its parent.
//! - A lease whose expiry lies further ahead than the longest lease autosub takes
//!   ([`longest_lease`]: `lease.duration_secs` plus the clock-skew allowance) was granted by no
//!   replica: the item is forged or corrupt. It counts as lapsed and is taken over by a write
//!   conditional on the item exactly as read, so of two replicas that both see it only one takes
//!   it; the takeover is logged as a warning naming the holder and the expiry.
//!
//! Assumptions:
//! - Expiry is wall-clock time (milliseconds since the Unix epoch) compared across replicas:
//!   their clocks must agree to well within a tenth of `lease.duration_secs` (NTP, as on ECS
//!   and EC2, keeps them within milliseconds).
//! - Every replica sharing a lease table has the same `lease.duration_secs`: a replica takes
//!   over any lease that runs longer than its own duration plus the allowance.
//! - A pass checks [`LeaseGuard::cancel`] before each write; the lease cannot stop a write
//!   already sent.
//! - One process holds a target once at a time: a second `hold` of the same target by the same
//!   [`Leases`] re-grants it with a new token, and the first guard then finds its lease lost.
//!
//! Errors: a failed grant is a [`LeaseError`] (the pass should be skipped and retried later);
//! failed renewals are logged and retried until the lease would lapse; a failed release only
//! delays the next owner until the lease lapses.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use autosub_aws::factory::ClientFactory;
use autosub_aws::lease_store::{Acquired, Holder, LeaseTable, Renewed};
use autosub_config::LeaseConfig;
use autosub_core::Region;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The IAM actions the lease needs on its table.
pub const LEASE_ACTIONS: &[&str] = &["dynamodb:GetItem", "dynamodb:UpdateItem"];

/// A guard cancels its token this fraction (1/n) of the duration before the lease lapses,
/// leaving room for clock skew between replicas.
pub const SKEW_ALLOWANCE_DIVISOR: u32 = 10;

/// The furthest ahead of a replica's clock another replica's lease can expire: a grant or
/// renewal runs `duration` from the holder's clock, which may be ahead by up to the skew
/// allowance. A lease expiring later than this was taken by no replica (forged or corrupt).
pub fn longest_lease(duration: Duration) -> Duration {
    duration + duration / SKEW_ALLOWANCE_DIVISOR
}

/// Why a lease could not be granted or released.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// The lease table could not be read or written.
    #[error("lease of {target} in {location}: {source}")]
    Aws {
        /// The target whose lease it is.
        target: String,
        /// Where the leases live.
        location: String,
        /// The failure.
        source: autosub_aws::AwsError,
    },
}

/// The outcome of [`Leases::hold`].
#[derive(Debug)]
pub enum Hold {
    /// This process holds the target; the pass may run.
    Granted(LeaseGuard),
    /// Another owner holds the target; skip it this time.
    HeldElsewhere {
        /// The other owner's id.
        owner: String,
        /// When its lease lapses unless it renews it.
        until: SystemTime,
    },
}

/// Why a guard cancelled its token before it was released.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LeaseLoss {
    /// A renewal found the lease released, or granted to another owner after it lapsed.
    #[error("the lease was taken over by another owner")]
    TakenOver,
    /// Renewals failed until the lease was about to lapse.
    #[error("the lease could not be renewed before it lapsed{}", last_error.as_ref().map(|e| format!(" ({e})")).unwrap_or_default())]
    Expired {
        /// The last renewal error, when there was one (none: renewals were too slow).
        last_error: Option<String>,
    },
}

/// Wall-clock time and sleeping on it, injectable so tests can drive the renewal loop.
#[async_trait]
pub(crate) trait Clock: Send + Sync {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;
    /// Returns once [`Clock::now_ms`] has reached `at_ms`.
    async fn sleep_until(&self, at_ms: u64);
}

/// The system's wall clock.
struct SystemClock;

#[async_trait]
impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    async fn sleep_until(&self, at_ms: u64) {
        // Re-checked after every sleep: the wall clock may be stepped while we sleep.
        loop {
            let now = self.now_ms();
            if now >= at_ms {
                return;
            }
            tokio::time::sleep(Duration::from_millis(at_ms - now)).await;
        }
    }
}

/// What a shared lease needs: the table, who we are, how long a grant holds, and the clock.
struct Shared {
    table: Arc<dyn LeaseTable>,
    owner: String,
    duration: Duration,
    clock: Arc<dyn Clock>,
}

/// The leases of one process: shared through a DynamoDB table, or local (single-replica mode).
#[derive(Clone)]
pub struct Leases {
    shared: Option<Arc<Shared>>,
    owner: String,
}

impl std::fmt::Debug for Leases {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Leases")
            .field("owner", &self.owner)
            .field("table", &self.shared.as_ref().map(|s| s.table.location()))
            .finish()
    }
}

impl Leases {
    /// The leases `config` asks for: the table `lease.table` in `region` (the first region of
    /// `aws.regions`), or single-replica mode when no table is set.
    pub fn from_config(config: &LeaseConfig, factory: &ClientFactory, region: &Region) -> Self {
        match &config.table {
            Some(table) => Self::shared(
                factory.lease_table(region, table),
                Duration::from_secs(config.duration_secs),
            ),
            None => Self::local(),
        }
    }

    /// Single-replica mode: every hold is granted at once, with no IO.
    pub fn local() -> Self {
        Self {
            shared: None,
            owner: owner_id(),
        }
    }

    /// Leases shared through `table`, each granted for `duration` at a time.
    pub fn shared(table: Arc<dyn LeaseTable>, duration: Duration) -> Self {
        Self::with_clock(table, duration, Arc::new(SystemClock), owner_id())
    }

    pub(crate) fn with_clock(
        table: Arc<dyn LeaseTable>,
        duration: Duration,
        clock: Arc<dyn Clock>,
        owner: String,
    ) -> Self {
        Self {
            shared: Some(Arc::new(Shared {
                table,
                owner: owner.clone(),
                duration,
                clock,
            })),
            owner,
        }
    }

    /// This process's owner id, as stored in the leases it holds.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// True when leases are shared through a table (false: single-replica mode).
    pub fn is_shared(&self) -> bool {
        self.shared.is_some()
    }

    /// Takes the lease of `target` (`<account>/<region>`, as [`crate::Target`] displays) for a
    /// pass. The granted guard's token is a child of `parent`.
    pub async fn hold(&self, target: &str, parent: &CancellationToken) -> Result<Hold, LeaseError> {
        let token = parent.child_token();
        let loss = Arc::new(Mutex::new(None));
        let Some(shared) = &self.shared else {
            return Ok(Hold::Granted(LeaseGuard {
                target: target.to_owned(),
                fencing: None,
                token,
                renewal: None,
                shared: None,
                loss,
            }));
        };
        let now_ms = shared.clock.now_ms();
        let acquired = shared
            .table
            .acquire(
                target,
                &shared.owner,
                now_ms,
                shared.duration,
                longest_lease(shared.duration),
            )
            .await
            .map_err(|source| LeaseError::Aws {
                target: target.to_owned(),
                location: shared.table.location(),
                source,
            })?;
        match acquired {
            Acquired::Held {
                owner,
                expires_at_ms,
            } => Ok(Hold::HeldElsewhere {
                owner,
                until: UNIX_EPOCH + Duration::from_millis(expires_at_ms),
            }),
            Acquired::Granted {
                fencing,
                expires_at_ms,
                took_over,
            } => {
                if let Some(holder) = took_over {
                    warn_forged(target, &holder, now_ms, shared.duration, fencing);
                }
                let renewal = tokio::spawn(renew(
                    Arc::clone(shared),
                    target.to_owned(),
                    fencing,
                    now_ms,
                    expires_at_ms,
                    token.clone(),
                    Arc::clone(&loss),
                ));
                tracing::debug!(target_name = target, fencing, "lease granted");
                Ok(Hold::Granted(LeaseGuard {
                    target: target.to_owned(),
                    fencing: Some(fencing),
                    token,
                    renewal: Some(renewal),
                    shared: Some(Arc::clone(shared)),
                    loss,
                }))
            }
        }
    }
}

/// A granted lease, renewed in the background until released or dropped.
#[derive(Debug)]
pub struct LeaseGuard {
    target: String,
    fencing: Option<u64>,
    token: CancellationToken,
    renewal: Option<JoinHandle<()>>,
    shared: Option<Arc<Shared>>,
    loss: Arc<Mutex<Option<LeaseLoss>>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("table", &self.table.location())
            .field("owner", &self.owner)
            .field("duration", &self.duration)
            .finish()
    }
}

impl LeaseGuard {
    /// The token the pass runs under: cancelled when the lease is lost or about to lapse
    /// unrenewed, when the guard is released or dropped, and with the parent given to
    /// [`Leases::hold`].
    pub fn cancel(&self) -> CancellationToken {
        self.token.clone()
    }

    /// The target this lease is for.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The grant's fencing token; `None` in single-replica mode.
    pub fn fencing(&self) -> Option<u64> {
        self.fencing
    }

    /// Why the token was cancelled early, if the lease was lost.
    pub fn loss(&self) -> Option<LeaseLoss> {
        self.loss
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Stops renewing and gives the lease up, so another owner can take the target at once.
    /// Releasing a lease that was already lost is fine.
    pub async fn release(mut self) -> Result<(), LeaseError> {
        self.stop();
        let (Some(shared), Some(fencing)) = (self.shared.take(), self.fencing) else {
            return Ok(());
        };
        if self.loss() == Some(LeaseLoss::TakenOver) {
            return Ok(());
        }
        shared
            .table
            .release(&self.target, &shared.owner, fencing)
            .await
            .map_err(|source| LeaseError::Aws {
                target: self.target.clone(),
                location: shared.table.location(),
                source,
            })
    }

    fn stop(&mut self) {
        if let Some(renewal) = self.renewal.take() {
            renewal.abort();
        }
        self.token.cancel();
    }
}

impl Drop for LeaseGuard {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Renews the grant `fencing` of `target` every third of the duration until `token` is
/// cancelled; cancels it when the lease is lost or about to lapse.
async fn renew(
    shared: Arc<Shared>,
    target: String,
    fencing: u64,
    granted_at_ms: u64,
    mut expires_at_ms: u64,
    token: CancellationToken,
    loss: Arc<Mutex<Option<LeaseLoss>>>,
) {
    let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    let interval = millis(shared.duration / 3);
    let margin = millis(shared.duration / SKEW_ALLOWANCE_DIVISOR);
    // After a failed renewal, try again this much later (several tries fit before the margin).
    let retry = millis(shared.duration / 30).max(1);
    let clock = &shared.clock;
    let mut next_ms = granted_at_ms.saturating_add(interval);
    let mut last_error: Option<String> = None;
    let lose = |why: LeaseLoss| {
        tracing::warn!(target_name = %target, fencing, "lease lost: {why}");
        *loss.lock().unwrap_or_else(PoisonError::into_inner) = Some(why);
        token.cancel();
    };
    loop {
        let deadline_ms = expires_at_ms.saturating_sub(margin);
        tokio::select! {
            biased;
            () = token.cancelled() => return,
            () = clock.sleep_until(next_ms.min(deadline_ms)) => {}
        }
        let now_ms = clock.now_ms();
        if now_ms >= deadline_ms {
            return lose(LeaseLoss::Expired { last_error });
        }
        let renewed = tokio::select! {
            biased;
            () = token.cancelled() => return,
            () = clock.sleep_until(deadline_ms) => {
                return lose(LeaseLoss::Expired { last_error });
            }
            renewed = shared.table.renew(&target, &shared.owner, fencing, now_ms, shared.duration) => renewed,
        };
        match renewed {
            Ok(Renewed::Until { expires_at_ms: e }) => {
                expires_at_ms = e;
                next_ms = now_ms.saturating_add(interval);
                last_error = None;
            }
            Ok(Renewed::Lost) => return lose(LeaseLoss::TakenOver),
            Err(e) => {
                tracing::warn!(target_name = %target, fencing, "lease renewal failed, retrying: {e}");
                last_error = Some(e.to_string());
                next_ms = now_ms.saturating_add(retry);
            }
        }
    }
}

/// Logs the takeover of `holder`'s lease, whose expiry lay too far ahead to be one autosub took.
fn warn_forged(target: &str, holder: &Holder, now_ms: u64, duration: Duration, fencing: u64) {
    tracing::warn!(
        target_name = target,
        holder = %holder.owner,
        expires_at = %rfc3339_ms(holder.expires_at_ms),
        ahead_secs = holder.expires_at_ms.saturating_sub(now_ms) / 1000,
        longest_lease_secs = longest_lease(duration).as_secs(),
        fencing,
        "the lease's expiry lies further ahead than any lease autosub takes (a forged or corrupt item); treated as lapsed and taken over"
    );
}

/// `ms` (since the Unix epoch) as an RFC 3339 UTC time, or as a number of milliseconds when it
/// lies beyond the calendar's range (a forged expiry may).
pub fn rfc3339_ms(ms: u64) -> String {
    i64::try_from(ms)
        .ok()
        .and_then(chrono::DateTime::from_timestamp_millis)
        .map_or_else(
            || format!("{ms} ms after the Unix epoch"),
            |at| at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        )
}

/// `at` as an RFC 3339 UTC time (see [`rfc3339_ms`]).
pub(crate) fn rfc3339(at: SystemTime) -> String {
    let ms = at
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    rfc3339_ms(ms)
}

/// An owner id unique to this process: where it runs (the ECS container's id from
/// `ECS_CONTAINER_METADATA_URI_V4`, else the hostname), its pid and a random suffix.
pub fn owner_id() -> String {
    let place = std::env::var("ECS_CONTAINER_METADATA_URI_V4")
        .ok()
        .and_then(|uri| {
            uri.trim_end_matches('/')
                .rsplit('/')
                .next()
                .filter(|s| !s.is_empty())
                .map(|id| format!("ecs-{id}"))
        })
        .or_else(hostname)
        .unwrap_or_else(|| "unknown-host".to_owned());
    let suffix: u32 = rand::random();
    format!("{place}:{}:{suffix:08x}", std::process::id())
}

fn hostname() -> Option<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())?;
    let name = name.trim();
    (!name.is_empty()).then(|| name.to_owned())
}

#[cfg(test)]
mod tests;
