//! SQS (awsJson 1.0 with awsQuery-compatible error codes): standard queues, visibility
//! timeouts, long polls, batches and dead-letter redrive.
//!
//! Simplified from SQS: a receive sees every visible message, oldest first (SQS samples a
//! subset of its servers, so a short poll may answer empty while messages wait); message
//! attributes are ignored and nothing expires by retention; there are no FIFO queues, no
//! queue-level delay or receive wait, and no queue policies (another account's call is
//! AccessDenied).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::{Map, Value, json};
use tokio::sync::watch;
use tokio::time::Instant;

use super::proto::{Reply, Request, partition};
use super::{Caller, Clock, Served, State};

/// The longest a message can stay hidden (12 h), and the longest receive wait (20 s).
const MAX_VISIBILITY_SECS: i64 = 43_200;
const MAX_WAIT_SECS: i64 = 20;
const MAX_DELAY_SECS: i64 = 900;
const MAX_BATCH: usize = 10;
const MAX_RECEIVE: i64 = 10;
/// The largest message, and the largest batch of them, in bytes (256 KiB).
const MAX_MESSAGE_BYTES: usize = 262_144;
/// Prefixes every receipt handle (SQS's start with it too).
const HANDLE_PREFIX: &str = "AQEB";

/// The SQS operations the fake serves.
pub(super) enum Op {
    ReceiveMessage,
    SendMessage,
    SendMessageBatch,
    DeleteMessage,
    DeleteMessageBatch,
    ChangeMessageVisibility,
    ChangeMessageVisibilityBatch,
    GetQueueAttributes,
    Unknown(String),
}

impl Op {
    pub(super) fn of(req: &Request) -> Op {
        let target = req.target.as_deref().unwrap_or_default();
        match target.strip_prefix("AmazonSQS.").unwrap_or(target) {
            "ReceiveMessage" => Op::ReceiveMessage,
            "SendMessage" => Op::SendMessage,
            "SendMessageBatch" => Op::SendMessageBatch,
            "DeleteMessage" => Op::DeleteMessage,
            "DeleteMessageBatch" => Op::DeleteMessageBatch,
            "ChangeMessageVisibility" => Op::ChangeMessageVisibility,
            "ChangeMessageVisibilityBatch" => Op::ChangeMessageVisibilityBatch,
            "GetQueueAttributes" => Op::GetQueueAttributes,
            other => Op::Unknown(other.to_owned()),
        }
    }

    pub(super) fn api(&self) -> &'static str {
        match self {
            Op::ReceiveMessage => "sqs:ReceiveMessage",
            Op::SendMessage => "sqs:SendMessage",
            Op::SendMessageBatch => "sqs:SendMessageBatch",
            Op::DeleteMessage => "sqs:DeleteMessage",
            Op::DeleteMessageBatch => "sqs:DeleteMessageBatch",
            Op::ChangeMessageVisibility => "sqs:ChangeMessageVisibility",
            Op::ChangeMessageVisibilityBatch => "sqs:ChangeMessageVisibilityBatch",
            Op::GetQueueAttributes => "sqs:GetQueueAttributes",
            Op::Unknown(_) => "sqs:unknown",
        }
    }
}

/// An SQS error: the error shape in `__type` (`com.amazonaws.sqs#QueueDoesNotExist`) and, in
/// `x-amzn-query-error`, the awsQuery code (`AWS.SimpleQueueService.NonExistentQueue`), which
/// is the code the SDK reads and matches its typed errors on.
pub(super) fn error(status: u16, shape: &str, message: &str) -> Reply {
    let fault = if status >= 500 { "Receiver" } else { "Sender" };
    let body = json!({ "__type": format!("com.amazonaws.sqs#{shape}"), "message": message });
    json_reply(status, &body).header("x-amzn-query-error", format!("{};{fault}", code(shape)))
}

/// The awsQuery code of an error shape, as SQS reports it (also in batch result entries).
fn code(shape: &str) -> String {
    match shape {
        "QueueDoesNotExist" => "AWS.SimpleQueueService.NonExistentQueue".to_owned(),
        "MessageNotInflight"
        | "EmptyBatchRequest"
        | "TooManyEntriesInBatchRequest"
        | "BatchEntryIdsNotDistinct"
        | "InvalidBatchEntryId"
        | "BatchRequestTooLong"
        | "UnsupportedOperation" => format!("AWS.SimpleQueueService.{shape}"),
        other => other.to_owned(),
    }
}

/// A reply in awsJson 1.0.
fn json_reply(status: u16, body: &Value) -> Reply {
    Reply {
        status,
        headers: vec![("content-type", "application/x-amz-json-1.0".to_owned())],
        body: body.to_string().into_bytes(),
    }
}

fn ok(body: &Value) -> Served {
    Served::Reply(json_reply(200, body))
}

fn no_queue() -> Reply {
    missing_queue().reply()
}

fn missing_queue() -> Failure {
    Failure(
        "QueueDoesNotExist",
        "The specified queue does not exist.".to_owned(),
    )
}

fn invalid(message: impl Into<String>) -> Failure {
    Failure("InvalidParameterValue", message.into())
}

/// Why one action failed: its error shape and message.
struct Failure(&'static str, String);

impl Failure {
    fn reply(self) -> Reply {
        error(400, self.0, &self.1)
    }

    /// A `BatchResultErrorEntry`.
    fn entry(self, id: &str) -> Value {
        json!({ "Id": id, "SenderFault": true, "Code": code(self.0), "Message": self.1 })
    }
}

/// Every queue, and the counters that make message ids and receipt handles unique.
#[derive(Debug, Default)]
pub(super) struct Sqs {
    /// Queues by URL.
    queues: BTreeMap<String, Queue>,
    /// Numbers messages fake-wide; a message keeps its number (and id) when redriven.
    next_message: u64,
    /// Numbers receives fake-wide, so that each one hands out a new handle.
    next_receipt: u64,
}

/// A standard queue.
#[derive(Debug)]
struct Queue {
    account: String,
    region: String,
    arn: String,
    /// How long a received message stays hidden unless the receive says otherwise.
    visibility: Duration,
    redrive: Option<Redrive>,
    /// Messages by number, i.e. oldest first.
    messages: BTreeMap<u64, Message>,
    /// Numbers of the messages deleted, so deleting one again succeeds.
    deleted: BTreeSet<u64>,
    /// Messages handed out by ReceiveMessage, redeliveries included.
    deliveries: u64,
    created_at: Instant,
    /// Bumped whenever a message may become visible sooner than a waiting long poll expects
    /// (a send, a redrive into the queue, a visibility change), so the poll looks again.
    changed: watch::Sender<u64>,
}

impl Queue {
    fn wake(&self) {
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// What `handle` designates in this queue.
    fn receipt(&self, handle: &str) -> Receipt {
        let Some((number, receipt)) = parse_handle(handle) else {
            return Receipt::Invalid;
        };
        match self.messages.get(&number) {
            Some(m) if m.receipt == Some(receipt) => Receipt::Latest(number),
            Some(_) => Receipt::Stale,
            None if self.deleted.contains(&number) => Receipt::Deleted,
            None => Receipt::Invalid,
        }
    }

    fn depth(&self, now: Instant) -> QueueDepth {
        let mut depth = QueueDepth::default();
        for m in self.messages.values() {
            let count = match (m.visible_at <= now, m.receipt) {
                (true, _) => &mut depth.visible,
                (false, Some(_)) => &mut depth.in_flight,
                (false, None) => &mut depth.delayed,
            };
            *count += 1;
        }
        depth
    }

    /// When the next hidden message becomes visible, if any does.
    fn next_visible(&self, now: Instant) -> Option<Instant> {
        self.messages
            .values()
            .map(|m| m.visible_at)
            .filter(|at| *at > now)
            .min()
    }
}

/// A queue's dead-letter queue and how many receives send a message there.
#[derive(Clone, Debug)]
struct Redrive {
    dead_letter_arn: String,
    max_receive_count: u32,
}

#[derive(Debug)]
struct Message {
    body: String,
    md5: String,
    sender: String,
    sent_at: Instant,
    visible_at: Instant,
    receive_count: u32,
    first_received_at: Option<Instant>,
    /// The number of the latest receive: only its handle deletes or hides the message.
    receipt: Option<u64>,
    /// The queue it was dead-lettered from.
    dead_letter_source: Option<String>,
}

/// What a receipt handle designates in a queue.
enum Receipt {
    /// A message, by the handle of its latest receive.
    Latest(u64),
    /// A message received again since (or moved in from another queue) by an older handle.
    Stale,
    /// A message already deleted.
    Deleted,
    /// Nothing of this queue.
    Invalid,
}

/// How many messages a queue holds, by state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueDepth {
    /// Messages a receive would hand out now.
    pub visible: u64,
    /// Received messages still hidden by their visibility timeout.
    pub in_flight: u64,
    /// Sent messages still hidden by their delay.
    pub delayed: u64,
}

impl Sqs {
    /// Creates a queue (or sets an existing one's visibility timeout); its URL.
    pub(super) fn create(
        &mut self,
        account: &str,
        region: &str,
        name: &str,
        visibility: Duration,
    ) -> String {
        let url = format!("{}/{account}/{name}", super::FAKE_ENDPOINT);
        self.queues
            .entry(url.clone())
            .and_modify(|q| q.visibility = visibility)
            .or_insert_with(|| Queue {
                account: account.to_owned(),
                region: region.to_owned(),
                arn: format!("arn:{}:sqs:{region}:{account}:{name}", partition(region)),
                visibility,
                redrive: None,
                messages: BTreeMap::new(),
                deleted: BTreeSet::new(),
                deliveries: 0,
                created_at: Instant::now(),
                changed: watch::Sender::new(0),
            });
        url
    }

    /// Gives `url` the dead-letter queue `dlq_url`; false unless both exist, differ and share
    /// account and region (as SQS requires), and `max_receive_count` is at least 1.
    pub(super) fn set_redrive(&mut self, url: &str, dlq_url: &str, max_receive_count: u32) -> bool {
        let Some(dlq) = self.queues.get(dlq_url) else {
            return false;
        };
        let dead_letter_arn = dlq.arn.clone();
        let home = (dlq.account.clone(), dlq.region.clone());
        match self.queues.get_mut(url) {
            Some(q)
                if url != dlq_url
                    && max_receive_count >= 1
                    && (&q.account, &q.region) == (&home.0, &home.1) =>
            {
                q.redrive = Some(Redrive {
                    dead_letter_arn,
                    max_receive_count,
                });
                true
            }
            _ => false,
        }
    }

    /// Puts a message from `sender` (`None`: the queue's own account) on `url`, visible after
    /// `delay`; its message id and body MD5.
    pub(super) fn send(
        &mut self,
        url: &str,
        body: &str,
        sender: Option<&str>,
        delay: Duration,
    ) -> Option<(String, String)> {
        let queue = self.queues.get_mut(url)?;
        let sender = sender.unwrap_or(&queue.account).to_owned();
        let number = self.next_message;
        self.next_message += 1;
        let now = Instant::now();
        let md5 = md5_hex(body.as_bytes());
        queue.messages.insert(
            number,
            Message {
                body: body.to_owned(),
                md5: md5.clone(),
                sender,
                sent_at: now,
                visible_at: now + delay,
                receive_count: 0,
                first_received_at: None,
                receipt: None,
                dead_letter_source: None,
            },
        );
        // A delayed message also wakes pollers: it may become visible before what they wait for.
        queue.wake();
        Some((message_id(number), md5))
    }

    pub(super) fn depth(&self, url: &str) -> Option<QueueDepth> {
        Some(self.queues.get(url)?.depth(Instant::now()))
    }

    pub(super) fn deliveries(&self, url: &str) -> Option<u64> {
        Some(self.queues.get(url)?.deliveries)
    }

    /// The URL of `url`'s dead-letter queue, when it has one that exists.
    fn dead_letter_url(&self, url: &str) -> Option<String> {
        let arn = &self.queues.get(url)?.redrive.as_ref()?.dead_letter_arn;
        self.queues
            .iter()
            .find(|(u, q)| q.arn == *arn && *u != url)
            .map(|(u, _)| u.clone())
    }

    /// Hands out up to `r.max` visible messages of `url`, oldest first; a message already
    /// received `maxReceiveCount` times is moved to the dead-letter queue instead.
    fn take(&mut self, clock: Clock, url: &str, r: &Receive, now: Instant) -> Vec<Value> {
        let dead_letter_url = self.dead_letter_url(url);
        let Sqs {
            queues,
            next_receipt,
            ..
        } = self;
        let Some(queue) = queues.get_mut(url) else {
            return Vec::new();
        };
        let max_receives = queue
            .redrive
            .as_ref()
            .filter(|_| dead_letter_url.is_some())
            .map(|r| r.max_receive_count);
        let visibility = r.visibility.unwrap_or(queue.visibility);
        let visible: Vec<u64> = queue
            .messages
            .iter()
            .filter(|(_, m)| m.visible_at <= now)
            .map(|(n, _)| *n)
            .collect();
        let (mut out, mut dead) = (Vec::new(), Vec::new());
        for number in visible {
            if out.len() >= r.max {
                break;
            }
            let Some(m) = queue.messages.get_mut(&number) else {
                continue;
            };
            if max_receives.is_some_and(|max| m.receive_count >= max) {
                if let Some(m) = queue.messages.remove(&number) {
                    dead.push((number, m));
                }
                continue;
            }
            *next_receipt += 1;
            m.receipt = Some(*next_receipt);
            m.receive_count += 1;
            m.first_received_at.get_or_insert(now);
            m.visible_at = now + visibility;
            queue.deliveries += 1;
            out.push(message_json(clock, number, m, &r.attributes));
        }
        let source_arn = queue.arn.clone();
        if let Some(dlq_url) = dead_letter_url.filter(|_| !dead.is_empty())
            && let Some(target) = queues.get_mut(&dlq_url)
        {
            // It keeps its id, body and receive count; no handle of the source queue acts on it.
            for (number, mut m) in dead {
                m.visible_at = now;
                m.receipt = None;
                m.dead_letter_source = Some(source_arn.clone());
                target.messages.insert(number, m);
            }
            target.wake();
        }
        out
    }
}

/// The message id of message `number`, shaped like SQS's (a UUID).
fn message_id(number: u64) -> String {
    format!("fa4e0000-0000-4000-8000-{number:012x}")
}

/// The handle of receive `receipt` of message `number`.
fn receipt_handle(number: u64, receipt: u64) -> String {
    format!("{HANDLE_PREFIX}{number:016x}{receipt:016x}")
}

fn parse_handle(handle: &str) -> Option<(u64, u64)> {
    let hex = handle
        .strip_prefix(HANDLE_PREFIX)
        .filter(|h| h.len() == 32)?;
    let (number, receipt) = hex.split_at(16);
    Some((
        u64::from_str_radix(number, 16).ok()?,
        u64::from_str_radix(receipt, 16).ok()?,
    ))
}

/// A received message as ReceiveMessage answers it, with the system attributes asked for.
fn message_json(clock: Clock, number: u64, m: &Message, wanted: &BTreeSet<String>) -> Value {
    let all = wanted.contains("All");
    let mut attributes = Map::new();
    let mut put = |name: &str, value: Option<String>| {
        if let Some(value) = value.filter(|_| all || wanted.contains(name)) {
            attributes.insert(name.to_owned(), json!(value));
        }
    };
    put("ApproximateReceiveCount", Some(m.receive_count.to_string()));
    put("SentTimestamp", Some(clock.epoch_ms(m.sent_at).to_string()));
    put(
        "ApproximateFirstReceiveTimestamp",
        m.first_received_at.map(|t| clock.epoch_ms(t).to_string()),
    );
    put("SenderId", Some(m.sender.clone()));
    put("DeadLetterQueueSourceArn", m.dead_letter_source.clone());
    let mut out = json!({
        "MessageId": message_id(number),
        "ReceiptHandle": receipt_handle(number, m.receipt.unwrap_or_default()),
        "MD5OfBody": m.md5,
        "Body": m.body,
    });
    if !attributes.is_empty() {
        out["Attributes"] = Value::Object(attributes);
    }
    out
}

/// What a ReceiveMessage asks for.
#[derive(Debug)]
pub(super) struct Receive {
    max: usize,
    visibility: Option<Duration>,
    /// System attribute names (`All` for every one).
    attributes: BTreeSet<String>,
}

/// A long poll that found no message yet: it looks again when its queue changes or at
/// `wake_at` (the next hidden message's visibility, or the end of the wait).
#[derive(Debug)]
pub(super) struct Poll {
    url: String,
    receive: Receive,
    deadline: Instant,
    pub(super) wake_at: Instant,
    pub(super) changed: watch::Receiver<u64>,
}

/// Looks again for messages for a waiting long poll: the messages, an empty answer when the
/// wait is over, or the poll to wait on.
pub(super) fn poll_again(state: &mut State, mut poll: Poll) -> Served {
    let now = Instant::now();
    poll.changed.borrow_and_update();
    let clock = state.clock;
    let messages = state.sqs.take(clock, &poll.url, &poll.receive, now);
    let Some(queue) = state.sqs.queues.get(&poll.url) else {
        return Served::Reply(no_queue());
    };
    if !messages.is_empty() || now >= poll.deadline {
        return received(messages);
    }
    poll.wake_at = queue
        .next_visible(now)
        .map_or(poll.deadline, |at| at.min(poll.deadline));
    Served::Poll(poll)
}

fn received(messages: Vec<Value>) -> Served {
    if messages.is_empty() {
        ok(&json!({}))
    } else {
        ok(&json!({ "Messages": messages }))
    }
}

/// An optional integer parameter within `range`.
fn int_param(
    body: &Value,
    name: &str,
    range: std::ops::RangeInclusive<i64>,
) -> Result<Option<i64>, Failure> {
    match &body[name] {
        Value::Null => Ok(None),
        v => match v.as_i64().filter(|n| range.contains(n)) {
            Some(n) => Ok(Some(n)),
            None => Err(invalid(format!(
                "Value {v} for parameter {name} is invalid. Reason: Must be between {} and {}.",
                range.start(),
                range.end()
            ))),
        },
    }
}

fn seconds(n: i64) -> Duration {
    Duration::from_secs(n.unsigned_abs())
}

fn strings(v: &Value) -> impl Iterator<Item = String> + '_ {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_owned)
}

pub(super) fn handle(state: &mut State, caller: &Caller, op: Op, req: &Request) -> Served {
    let body = req.json();
    let url = body["QueueUrl"].as_str().unwrap_or_default().to_owned();
    let reached = reach(state, caller, &url);
    let result = match (op, reached) {
        (Op::Unknown(name), _) => Err(Failure(
            "NotImplemented",
            format!("the fake AWS does not implement sqs:{name}"),
        )),
        (_, Err(reply)) => return Served::Reply(reply),
        (Op::ReceiveMessage, Ok(())) => return receive(state, &url, &body),
        (Op::SendMessage, Ok(())) => send_message(state, caller, &url, &body),
        (Op::SendMessageBatch, Ok(())) => send_message_batch(state, caller, &url, &body),
        (Op::DeleteMessage, Ok(())) => single(&body, |handle| delete(state, &url, handle)),
        (Op::DeleteMessageBatch, Ok(())) => batch(&body, |entry| {
            delete(
                state,
                &url,
                entry["ReceiptHandle"].as_str().unwrap_or_default(),
            )
        }),
        (Op::ChangeMessageVisibility, Ok(())) => single(&body, |handle| {
            change_visibility(state, &url, handle, &body)
        }),
        (Op::ChangeMessageVisibilityBatch, Ok(())) => batch(&body, |entry| {
            let handle = entry["ReceiptHandle"].as_str().unwrap_or_default();
            change_visibility(state, &url, handle, entry)
        }),
        (Op::GetQueueAttributes, Ok(())) => queue_attributes(state, &url, &body),
    };
    match result {
        Ok(out) => ok(&out),
        Err(failure) => Served::Reply(failure.reply()),
    }
}

/// Whether the caller reaches queue `url`: only through the queue's region's endpoint, and
/// only from its own account (the fake has no queue policies).
fn reach(state: &State, caller: &Caller, url: &str) -> Result<(), Reply> {
    let queue = state
        .sqs
        .queues
        .get(url)
        .filter(|q| q.region == caller.region)
        .ok_or_else(no_queue)?;
    if queue.account != caller.account {
        return Err(error(
            403,
            "AccessDenied",
            "Access to the resource is denied.",
        ));
    }
    Ok(())
}

fn parse_receive(body: &Value) -> Result<(Receive, Duration), Failure> {
    let max = int_param(body, "MaxNumberOfMessages", 1..=MAX_RECEIVE)?.unwrap_or(1);
    let wait = int_param(body, "WaitTimeSeconds", 0..=MAX_WAIT_SECS)?.unwrap_or(0);
    let visibility = int_param(body, "VisibilityTimeout", 0..=MAX_VISIBILITY_SECS)?;
    let attributes = strings(&body["MessageSystemAttributeNames"])
        .chain(strings(&body["AttributeNames"]))
        .collect();
    let receive = Receive {
        max: usize::try_from(max).unwrap_or(1),
        visibility: visibility.map(seconds),
        attributes,
    };
    Ok((receive, seconds(wait)))
}

fn receive(state: &mut State, url: &str, body: &Value) -> Served {
    let (receive, wait) = match parse_receive(body) {
        Ok(p) => p,
        Err(failure) => return Served::Reply(failure.reply()),
    };
    let now = Instant::now();
    let clock = state.clock;
    let messages = state.sqs.take(clock, url, &receive, now);
    let Some(queue) = state.sqs.queues.get(url) else {
        return Served::Reply(no_queue());
    };
    if !messages.is_empty() || wait.is_zero() {
        return received(messages);
    }
    let deadline = now + wait;
    Served::Poll(Poll {
        url: url.to_owned(),
        receive,
        deadline,
        wake_at: queue
            .next_visible(now)
            .map_or(deadline, |at| at.min(deadline)),
        // Subscribed under the state lock: a send from here on is seen.
        changed: queue.changed.subscribe(),
    })
}

/// Checks a message body and delay as SendMessage does.
fn message(body: &Value) -> Result<(String, Duration), Failure> {
    let text = body["MessageBody"].as_str().unwrap_or_default();
    if text.is_empty() {
        return Err(Failure(
            "MissingParameter",
            "The request must contain the parameter MessageBody.".to_owned(),
        ));
    }
    if text.len() > MAX_MESSAGE_BYTES {
        return Err(invalid(format!(
            "One or more parameters are invalid. Reason: Message must be shorter than {MAX_MESSAGE_BYTES} bytes."
        )));
    }
    let delay = int_param(body, "DelaySeconds", 0..=MAX_DELAY_SECS)?.unwrap_or(0);
    Ok((text.to_owned(), seconds(delay)))
}

fn send_message(
    state: &mut State,
    caller: &Caller,
    url: &str,
    body: &Value,
) -> Result<Value, Failure> {
    let (text, delay) = message(body)?;
    let (id, md5) = state
        .sqs
        .send(url, &text, Some(&caller.account), delay)
        .ok_or_else(missing_queue)?;
    Ok(json!({ "MessageId": id, "MD5OfMessageBody": md5 }))
}

fn send_message_batch(
    state: &mut State,
    caller: &Caller,
    url: &str,
    body: &Value,
) -> Result<Value, Failure> {
    let entries = batch_entries(body)?;
    let total: usize = entries
        .iter()
        .map(|e| e["MessageBody"].as_str().map_or(0, str::len))
        .sum();
    if total > MAX_MESSAGE_BYTES {
        return Err(Failure(
            "BatchRequestTooLong",
            format!(
                "Batch requests cannot be longer than {MAX_MESSAGE_BYTES} bytes. You have sent {total} bytes."
            ),
        ));
    }
    let (mut successful, mut failed) = (Vec::new(), Vec::new());
    for entry in entries {
        let id = entry["Id"].as_str().unwrap_or_default();
        let sent = message(entry).and_then(|(text, delay)| {
            state
                .sqs
                .send(url, &text, Some(&caller.account), delay)
                .ok_or_else(missing_queue)
        });
        match sent {
            Ok((message_id, md5)) => successful
                .push(json!({ "Id": id, "MessageId": message_id, "MD5OfMessageBody": md5 })),
            Err(failure) => failed.push(failure.entry(id)),
        }
    }
    Ok(json!({ "Successful": successful, "Failed": failed }))
}

/// Checks a batch's entries as SQS does: 1 to 10, each with a distinct, well-formed `Id`.
fn batch_entries(body: &Value) -> Result<&[Value], Failure> {
    let entries = body["Entries"].as_array().map_or(&[][..], Vec::as_slice);
    if entries.is_empty() {
        return Err(Failure(
            "EmptyBatchRequest",
            "There should be at least one entry in the request.".to_owned(),
        ));
    }
    if entries.len() > MAX_BATCH {
        return Err(Failure(
            "TooManyEntriesInBatchRequest",
            format!(
                "Maximum number of entries per request are {MAX_BATCH}. You have sent {}.",
                entries.len()
            ),
        ));
    }
    let mut seen = BTreeSet::new();
    for entry in entries {
        let id = entry["Id"].as_str().unwrap_or_default();
        let well_formed = (1..=80).contains(&id.len())
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !well_formed {
            return Err(Failure(
                "InvalidBatchEntryId",
                "A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long.".to_owned(),
            ));
        }
        if !seen.insert(id) {
            return Err(Failure(
                "BatchEntryIdsNotDistinct",
                format!("Id {id} repeated."),
            ));
        }
    }
    Ok(entries)
}

/// A single-message action on the request's `ReceiptHandle`.
fn single(body: &Value, act: impl FnOnce(&str) -> Result<(), Failure>) -> Result<Value, Failure> {
    act(body["ReceiptHandle"].as_str().unwrap_or_default()).map(|()| json!({}))
}

/// A batch action: each entry succeeds or fails on its own.
fn batch(
    body: &Value,
    mut act: impl FnMut(&Value) -> Result<(), Failure>,
) -> Result<Value, Failure> {
    let (mut successful, mut failed) = (Vec::new(), Vec::new());
    for entry in batch_entries(body)? {
        let id = entry["Id"].as_str().unwrap_or_default();
        match act(entry) {
            Ok(()) => successful.push(json!({ "Id": id })),
            Err(failure) => failed.push(failure.entry(id)),
        }
    }
    Ok(json!({ "Successful": successful, "Failed": failed }))
}

fn invalid_handle(handle: &str) -> Failure {
    Failure(
        "ReceiptHandleIsInvalid",
        format!("The receipt handle \"{handle}\" is not valid for this queue."),
    )
}

/// Deletes by the handle of the message's latest receive (even if its visibility timeout ran
/// out since); an older handle is refused, a deleted message's handle succeeds again.
fn delete(state: &mut State, url: &str, handle: &str) -> Result<(), Failure> {
    let queue = state
        .sqs
        .queues
        .get_mut(url)
        .ok_or_else(|| invalid_handle(handle))?;
    match queue.receipt(handle) {
        Receipt::Latest(number) => {
            queue.messages.remove(&number);
            queue.deleted.insert(number);
            Ok(())
        }
        Receipt::Deleted => Ok(()),
        Receipt::Stale | Receipt::Invalid => Err(invalid_handle(handle)),
    }
}

/// Hides an in-flight message for `VisibilityTimeout` seconds from now (0 = visible at once).
fn change_visibility(
    state: &mut State,
    url: &str,
    handle: &str,
    params: &Value,
) -> Result<(), Failure> {
    let timeout = match int_param(params, "VisibilityTimeout", 0..=MAX_VISIBILITY_SECS)? {
        Some(t) => seconds(t),
        None => {
            return Err(Failure(
                "MissingParameter",
                "The request must contain the parameter VisibilityTimeout.".to_owned(),
            ));
        }
    };
    let now = Instant::now();
    let queue = state
        .sqs
        .queues
        .get_mut(url)
        .ok_or_else(|| invalid_handle(handle))?;
    let Receipt::Latest(number) = queue.receipt(handle) else {
        return Err(invalid_handle(handle));
    };
    let Some(message) = queue.messages.get_mut(&number) else {
        return Err(invalid_handle(handle));
    };
    if message.visible_at <= now {
        return Err(Failure(
            "MessageNotInflight",
            "The message referred to isn't in flight.".to_owned(),
        ));
    }
    message.visible_at = now + timeout;
    queue.wake();
    Ok(())
}

/// Attribute names SQS knows that the fake never sets (asking for them is no error).
const UNSET_ATTRIBUTES: [&str; 8] = [
    "Policy",
    "KmsMasterKeyId",
    "KmsDataKeyReusePeriodSeconds",
    "RedriveAllowPolicy",
    "FifoQueue",
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "FifoThroughputLimit",
];

fn queue_attributes(state: &State, url: &str, body: &Value) -> Result<Value, Failure> {
    let queue = state.sqs.queues.get(url).ok_or_else(missing_queue)?;
    let depth = queue.depth(Instant::now());
    let created = (state.clock.epoch_ms(queue.created_at) / 1000).to_string();
    let redrive = queue.redrive.as_ref().map(|r| {
        json!({ "deadLetterTargetArn": r.dead_letter_arn, "maxReceiveCount": r.max_receive_count })
            .to_string()
    });
    let known: Vec<(&str, Option<String>)> = vec![
        ("QueueArn", Some(queue.arn.clone())),
        (
            "ApproximateNumberOfMessages",
            Some(depth.visible.to_string()),
        ),
        (
            "ApproximateNumberOfMessagesNotVisible",
            Some(depth.in_flight.to_string()),
        ),
        (
            "ApproximateNumberOfMessagesDelayed",
            Some(depth.delayed.to_string()),
        ),
        (
            "VisibilityTimeout",
            Some(queue.visibility.as_secs().to_string()),
        ),
        ("RedrivePolicy", redrive),
        ("CreatedTimestamp", Some(created.clone())),
        ("LastModifiedTimestamp", Some(created)),
        ("DelaySeconds", Some("0".to_owned())),
        ("ReceiveMessageWaitTimeSeconds", Some("0".to_owned())),
        ("MessageRetentionPeriod", Some("345600".to_owned())),
        ("MaximumMessageSize", Some(MAX_MESSAGE_BYTES.to_string())),
        ("SqsManagedSseEnabled", Some("true".to_owned())),
    ];
    let wanted: BTreeSet<String> = strings(&body["AttributeNames"]).collect();
    if let Some(unknown) = wanted.iter().find(|w| {
        *w != "All"
            && !known.iter().any(|(k, _)| *k == w.as_str())
            && !UNSET_ATTRIBUTES.contains(&w.as_str())
    }) {
        return Err(Failure(
            "InvalidAttributeName",
            format!("Unknown Attribute {unknown}."),
        ));
    }
    let all = wanted.contains("All");
    let attributes: Map<String, Value> = known
        .into_iter()
        .filter(|(name, _)| all || wanted.contains(*name))
        .filter_map(|(name, value)| Some((name.to_owned(), json!(value?))))
        .collect();
    if attributes.is_empty() {
        return Ok(json!({}));
    }
    Ok(json!({ "Attributes": attributes }))
}

/// The MD5 digest of `data` in lowercase hex, which SQS answers as `MD5OfBody`.
fn md5_hex(data: &[u8]) -> String {
    use md5::Digest;
    md5::Md5::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_round_trip_and_reject_strangers() {
        assert_eq!(parse_handle(&receipt_handle(7, 42)), Some((7, 42)));
        assert_eq!(parse_handle("AQEBnot-hex"), None);
        assert_eq!(parse_handle("garbage"), None);
    }

    #[test]
    fn error_codes_are_what_the_sdk_matches() {
        let reply = error(400, "QueueDoesNotExist", "gone");
        let header = reply
            .headers
            .iter()
            .find(|(name, _)| *name == "x-amzn-query-error")
            .map(|(_, v)| v.as_str());
        assert_eq!(
            header,
            Some("AWS.SimpleQueueService.NonExistentQueue;Sender")
        );
        assert_eq!(code("ReceiptHandleIsInvalid"), "ReceiptHandleIsInvalid");
    }
}
