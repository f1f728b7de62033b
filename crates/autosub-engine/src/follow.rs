//! Event-driven mode: follows the SQS queue that EventBridge fills with CloudTrail events. It
//! long-polls, gathers what arrives within the debounce into one focus per target, runs one
//! targeted run over them, and deletes a message only once the pass of its target finished
//! without failing. The loop owns its messages' visibility: each is hidden for [`HOLD`] when
//! received and kept hidden while its run lasts, however long a burst makes it, so no message is
//! handed to a second receive while the first is still at work. The messages of a failed (or
//! held) target come back after [`RETRY_AFTER_FAILURE`], and are dead-lettered after the
//! queue's `maxReceiveCount`; the scheduled passes repair what they were about either way. A
//! message that is not an event autosub reads is handed back at once, so the redrive policy
//! dead-letters it quickly (without one, it is dropped after [`MAX_RECEIVES_WITHOUT_DLQ`]
//! receives). Nothing here stops the loop but the shutdown.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;

use autosub_aws::queue::{QueueApi, QueueMessage};
use autosub_core::cloudtrail::{self, Verdict};
use prometheus_client::metrics::counter::Counter;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::context::Target;
use crate::metrics::Metrics;
use crate::reconcile::{RunError, RunReport};
use crate::targeted::Focused;

/// How long one receive waits for a first message (SQS's maximum).
const LONG_POLL: Duration = Duration::from_secs(20);
/// How long the loop waits after the queue could not be read.
const RETRY_AFTER: Duration = Duration::from_secs(5);
/// How long a received message stays hidden from other receives; renewed every
/// [`HOLD_RENEWAL`] while its run lasts. Longer than the longest debounce (20 s) and a renewal.
pub const HOLD: Duration = Duration::from_secs(60);
/// How often the messages of a run in progress are hidden for another [`HOLD`].
const HOLD_RENEWAL: Duration = Duration::from_secs(20);
/// When the messages of a failed target come back: a target that failed now (throttled, held
/// by another replica) is not retried in a tight loop.
pub const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(60);
/// Receives after which an unreadable message is deleted: a queue without a redrive policy
/// would otherwise hand it back for ever.
pub const MAX_RECEIVES_WITHOUT_DLQ: u32 = 10;

/// What the loop has done since it started: counters `/metrics` serves as
/// `autosub_queue_messages_total{result}` ([`FollowStats::registered`]).
#[derive(Debug, Default)]
pub struct FollowStats {
    /// Messages received.
    pub received: Counter,
    /// Events that touched something, handled by a targeted pass.
    pub handled: Counter,
    /// Events with nothing to do (failed calls, operations autosub does not follow).
    pub ignored: Counter,
    /// Messages autosub cannot read, handed back to be dead-lettered.
    pub unreadable: Counter,
    /// Events whose targeted pass failed, left to be redelivered.
    pub retried: Counter,
    /// Targeted runs.
    pub runs: Counter,
}

impl FollowStats {
    /// Counters registered in `metrics`, one per result.
    pub fn registered(metrics: &Metrics) -> Self {
        Self {
            received: metrics.queue_messages("received"),
            handled: metrics.queue_messages("handled"),
            ignored: metrics.queue_messages("ignored"),
            unreadable: metrics.queue_messages("unreadable"),
            retried: metrics.queue_messages("retried"),
            runs: metrics.queue_messages("runs"),
        }
    }

    fn add(counter: &Counter, n: usize) {
        counter.inc_by(n as u64);
    }
}

/// One batch of messages, sorted by what to do with them.
#[derive(Default)]
struct Batch {
    /// The focus of each target.
    focused: Focused,
    /// The receipts of each target's events.
    receipts: BTreeMap<Target, Vec<String>>,
    /// Receipts to delete now (ignored events, unreadable messages past the receive cap).
    done: Vec<String>,
}

impl Batch {
    fn absorb(&mut self, messages: Vec<QueueMessage>, stats: &FollowStats) -> Vec<String> {
        FollowStats::add(&stats.received, messages.len());
        let mut release = Vec::new();
        for message in messages {
            match cloudtrail::read(&message.body) {
                Ok(Verdict::Touches(touches)) => {
                    let target = Target {
                        account: touches.account,
                        region: touches.region,
                    };
                    tracing::debug!(%target, operation = %touches.operation, "event");
                    let focus = self.focused.0.entry(target.clone()).or_default();
                    for touched in touches.touched {
                        focus.add(touched);
                    }
                    self.receipts
                        .entry(target)
                        .or_default()
                        .push(message.receipt);
                }
                Ok(Verdict::Ignored(why)) => {
                    tracing::debug!(id = %message.id, %why, "event ignored");
                    FollowStats::add(&stats.ignored, 1);
                    self.done.push(message.receipt);
                }
                Err(e) => {
                    FollowStats::add(&stats.unreadable, 1);
                    if message.receive_count >= MAX_RECEIVES_WITHOUT_DLQ {
                        tracing::error!(id = %message.id, error = %e, receives = message.receive_count, "unreadable message dropped: the queue has no dead-letter queue, give it a redrive policy");
                        self.done.push(message.receipt);
                    } else {
                        tracing::warn!(id = %message.id, error = %e, "unreadable message handed back for the dead-letter queue");
                        release.push(message.receipt);
                    }
                }
            }
        }
        release
    }
}

/// Follows `queue` until `cancel` fires: each batch gathered over `debounce` becomes one
/// targeted `run`. The loop holds `turn` from each receive to the end of its run, so messages
/// are only taken while no scheduled run is in progress (and their visibility timeout does not
/// run out waiting for one); a scheduled run waits at most one long poll, the debounce and a
/// targeted run.
pub async fn follow<F, Fut>(
    queue: &dyn QueueApi,
    (debounce, turn): (Duration, &tokio::sync::Mutex<()>),
    run: F,
    stats: &FollowStats,
    cancel: &CancellationToken,
) where
    F: Fn(Focused) -> Fut,
    Fut: Future<Output = Result<RunReport, RunError>>,
{
    while !cancel.is_cancelled() {
        let _turn = tokio::select! {
            biased;
            () = cancel.cancelled() => break,
            turn = turn.lock() => turn,
        };
        let Some(first) = receive(queue, LONG_POLL, cancel).await else {
            continue;
        };
        if first.is_empty() {
            continue;
        }
        let mut batch = Batch::default();
        let mut release = batch.absorb(first, stats);
        // Gather what else arrives within the debounce: a burst becomes one pass per target.
        let deadline = Instant::now() + debounce;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            if left.is_zero() || cancel.is_cancelled() {
                break;
            }
            match receive(queue, Duration::ZERO, cancel).await {
                Some(more) if !more.is_empty() => release.extend(batch.absorb(more, stats)),
                _ => tokio::time::sleep(left.min(Duration::from_millis(100))).await,
            }
        }
        hide(queue, &release, Duration::ZERO).await;
        if !batch.done.is_empty() {
            delete(queue, &batch.done).await;
        }
        if batch.receipts.is_empty() {
            continue;
        }
        FollowStats::add(&stats.runs, 1);
        let targets = batch.receipts.len();
        let started = Instant::now();
        let held: Vec<String> = batch.receipts.values().flatten().cloned().collect();
        let report = tokio::select! {
            report = run(batch.focused.clone()) => report,
            never = keep_hidden(queue, &held) => match never {},
        };
        let (succeeded, failed) = split_by_outcome(&batch, report.as_ref());
        tracing::info!(
            targets,
            succeeded = succeeded.len(),
            failed = failed.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "targeted run finished"
        );
        FollowStats::add(&stats.handled, succeeded.len());
        FollowStats::add(&stats.retried, failed.len());
        delete(queue, &succeeded).await;
        hide(queue, &failed, RETRY_AFTER_FAILURE).await;
    }
}

/// Keeps `receipts` hidden, renewing their hold every [`HOLD_RENEWAL`], until dropped (when the
/// run they wait for ends).
async fn keep_hidden(queue: &dyn QueueApi, receipts: &[String]) -> Infallible {
    loop {
        tokio::time::sleep(HOLD_RENEWAL).await;
        hide(queue, receipts, HOLD).await;
    }
}

/// The receipts of the targets whose pass finished without failing, and of the others.
fn split_by_outcome(
    batch: &Batch,
    report: Result<&RunReport, &RunError>,
) -> (Vec<String>, Vec<String>) {
    let mut ok = Vec::new();
    let mut failed = Vec::new();
    for (target, receipts) in &batch.receipts {
        let into = if report.is_ok_and(|r| target_passed(r, target)) {
            &mut ok
        } else {
            &mut failed
        };
        into.extend(receipts.iter().cloned());
    }
    (ok, failed)
}

/// True when `target`'s pass finished, uninterrupted, with no failed change and no failure
/// reported for the target (or its whole account).
fn target_passed(report: &RunReport, target: &Target) -> bool {
    let failed = report.failures.iter().any(|f| {
        f.account == target.account && f.region.as_ref().is_none_or(|r| r == &target.region)
    });
    let pass = report.passes.iter().find(|p| &p.target == target);
    !failed && pass.is_some_and(|p| !p.interrupted && p.failures() == 0)
}

/// One receive, or `None` after a failure (logged; the loop waits a little) or a shutdown.
async fn receive(
    queue: &dyn QueueApi,
    wait: Duration,
    cancel: &CancellationToken,
) -> Option<Vec<QueueMessage>> {
    let received = tokio::select! {
        biased;
        () = cancel.cancelled() => return None,
        received = queue.receive(wait, HOLD) => received,
    };
    match received {
        Ok(messages) => Some(messages),
        Err(e) => {
            tracing::error!(error = %e, "the event queue cannot be read; retrying");
            tokio::select! {
                () = cancel.cancelled() => {}
                () = tokio::time::sleep(RETRY_AFTER) => {}
            }
            None
        }
    }
}

async fn delete(queue: &dyn QueueApi, receipts: &[String]) {
    if let Err(e) = queue.delete(receipts).await {
        tracing::warn!(error = %e, "handled messages not deleted; they will be handled again");
    }
}

/// Hides the messages of `receipts` for `hide` from now; zero hands them back at once.
async fn hide(queue: &dyn QueueApi, receipts: &[String], hide: Duration) {
    if receipts.is_empty() {
        return;
    }
    if let Err(e) = queue.hide(receipts, hide).await {
        tracing::warn!(error = %e, "the visibility of received messages was not changed; they come back when their hold ends");
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use async_trait::async_trait;
    use autosub_aws::error::AwsError;
    use autosub_core::{AccountId, Region};

    use super::*;
    use crate::pass::PassReport;
    use crate::reconcile::{FailureReason, TargetFailure};

    /// A queue that hands out its messages once, then nothing, and records what happened.
    #[derive(Default)]
    struct FakeQueue {
        waiting: Mutex<Vec<QueueMessage>>,
        deleted: Mutex<Vec<String>>,
        /// Every receipt's visibility change, in order.
        hidden: Mutex<Vec<(String, Duration)>>,
    }

    impl FakeQueue {
        /// The receipts hidden for `hide`, in order.
        fn hidden_for(&self, hide: Duration) -> Vec<String> {
            let hidden = self.hidden.lock().unwrap();
            hidden
                .iter()
                .filter(|(_, h)| *h == hide)
                .map(|(r, _)| r.clone())
                .collect()
        }
    }

    #[async_trait]
    impl QueueApi for FakeQueue {
        async fn receive(
            &self,
            _wait: Duration,
            hide: Duration,
        ) -> Result<Vec<QueueMessage>, AwsError> {
            assert_eq!(hide, HOLD, "every receive hides for the hold");
            let taken = std::mem::take(&mut *self.waiting.lock().unwrap());
            if taken.is_empty() {
                tokio::task::yield_now().await;
            }
            Ok(taken)
        }
        async fn delete(&self, receipts: &[String]) -> Result<(), AwsError> {
            self.deleted
                .lock()
                .unwrap()
                .extend(receipts.iter().cloned());
            Ok(())
        }
        async fn hide(&self, receipts: &[String], hide: Duration) -> Result<(), AwsError> {
            let mut hidden = self.hidden.lock().unwrap();
            hidden.extend(receipts.iter().map(|r| (r.clone(), hide)));
            Ok(())
        }
    }

    fn message(receipt: &str, body: String, receive_count: u32) -> QueueMessage {
        QueueMessage {
            id: receipt.to_owned(),
            receipt: receipt.to_owned(),
            body,
            receive_count,
        }
    }

    fn event(region: &str, function: &str) -> String {
        serde_json::json!({
            "detail-type": cloudtrail::DETAIL_TYPE,
            "account": "123456789012",
            "region": region,
            "detail": {
                "eventSource": "lambda.amazonaws.com",
                "eventName": "CreateFunction20150331",
                "requestParameters": {"functionName": function},
            },
        })
        .to_string()
    }

    fn target(region: &str) -> Target {
        Target {
            account: AccountId::new("123456789012"),
            region: Region::new(region),
        }
    }

    /// A pass of `target` that finished without failing.
    fn finished(target: Target) -> PassReport {
        PassReport {
            target,
            discovery: Default::default(),
            plan: Default::default(),
            outcomes: Some(Vec::new()),
            ledger: Default::default(),
            interrupted: false,
            no_forwarder: None,
            audit: Default::default(),
        }
    }

    #[tokio::test]
    async fn each_message_is_deleted_retried_or_dead_lettered_by_its_outcome() {
        let queue = FakeQueue::default();
        *queue.waiting.lock().unwrap() = vec![
            message("ok-1", event("eu-west-1", "a"), 1),
            message("ok-2", event("eu-west-1", "b"), 1),
            message("fails", event("us-west-2", "c"), 1),
            message("poison", "{not json".to_owned(), 1),
            message(
                "old-poison",
                "{not json".to_owned(),
                MAX_RECEIVES_WITHOUT_DLQ,
            ),
            message(
                "ignored",
                event("eu-west-1", "d").replace("CreateFunction20150331", "GetFunction20150331"),
                1,
            ),
        ];
        let stats = FollowStats::default();
        let cancel = CancellationToken::new();
        let runs = Mutex::new(Vec::new());
        follow(
            &queue,
            (Duration::from_millis(20), &tokio::sync::Mutex::new(())),
            |focused: Focused| {
                runs.lock().unwrap().push(focused.clone());
                cancel.cancel();
                async move {
                    // eu-west-1's pass finished; us-west-2's target failed.
                    Ok(RunReport {
                        passes: vec![finished(target("eu-west-1"))],
                        failures: vec![TargetFailure {
                            account: AccountId::new("123456789012"),
                            region: Some(Region::new("us-west-2")),
                            reason: FailureReason::Ledger,
                            message: "unreadable".into(),
                        }],
                        ..RunReport::default()
                    })
                }
            },
            &stats,
            &cancel,
        )
        .await;
        let runs = runs.into_inner().unwrap();
        assert_eq!(runs.len(), 1, "one burst, one targeted run");
        let focused = &runs[0].0;
        assert_eq!(
            focused.keys().cloned().collect::<Vec<_>>(),
            vec![target("eu-west-1"), target("us-west-2")]
        );
        assert_eq!(
            focused[&target("eu-west-1")].resources[&autosub_core::Service::Lambda].len(),
            2,
            "both functions of eu-west-1 in one focus"
        );
        let deleted = queue.deleted.lock().unwrap().clone();
        assert!(deleted.contains(&"ignored".to_owned()));
        assert!(deleted.contains(&"old-poison".to_owned()));
        assert_eq!(
            queue.hidden_for(Duration::ZERO),
            vec!["poison".to_owned()],
            "only what cannot be read is handed back at once"
        );
        assert!(deleted.contains(&"ok-1".to_owned()) && deleted.contains(&"ok-2".to_owned()));
        assert!(!deleted.contains(&"fails".to_owned()));
        assert_eq!(
            *queue.hidden.lock().unwrap(),
            vec![
                ("poison".to_owned(), Duration::ZERO),
                ("fails".to_owned(), RETRY_AFTER_FAILURE)
            ],
            "a failed target's event comes back after the retry delay; a run shorter than a \
             renewal renews nothing"
        );
        assert_eq!(stats.received.get(), 6);
        assert_eq!(stats.unreadable.get(), 2);
        assert_eq!(stats.ignored.get(), 1);
        assert_eq!(stats.retried.get(), 1);
        assert_eq!(stats.handled.get(), 2);
    }

    /// A run far longer than a hold: its messages are hidden again every renewal, so none is
    /// handed to another receive while the run is at work, and deleted at its end.
    #[tokio::test(start_paused = true)]
    async fn a_long_run_keeps_its_messages_hidden_until_it_ends() {
        let queue = FakeQueue::default();
        *queue.waiting.lock().unwrap() = vec![
            message("a", event("eu-west-1", "a"), 1),
            message("b", event("eu-west-1", "b"), 1),
        ];
        let cancel = CancellationToken::new();
        let run_time = HOLD * 3 + HOLD_RENEWAL / 2;
        follow(
            &queue,
            (Duration::from_millis(20), &tokio::sync::Mutex::new(())),
            |_focused: Focused| {
                cancel.cancel();
                async move {
                    tokio::time::sleep(run_time).await;
                    Ok(RunReport {
                        passes: vec![finished(target("eu-west-1"))],
                        ..RunReport::default()
                    })
                }
            },
            &FollowStats::default(),
            &cancel,
        )
        .await;
        let renewals = queue.hidden_for(HOLD);
        let expected = (run_time.as_secs() / HOLD_RENEWAL.as_secs()) as usize;
        assert_eq!(
            renewals.len(),
            2 * expected,
            "both messages renewed every {HOLD_RENEWAL:?} of a {run_time:?} run: {renewals:?}"
        );
        assert_eq!(*queue.deleted.lock().unwrap(), vec!["a", "b"]);
    }
}
