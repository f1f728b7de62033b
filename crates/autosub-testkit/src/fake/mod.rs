//! An in-memory AWS at the HTTP layer, with AWS's per-API quotas, throttling, latency and 5xx
//! injection, for scale and reliability tests.
//!
//! [`FakeAws`] is a smithy [`HttpClient`]: put it into an `SdkConfig` ([`FakeAws::sdk_config`])
//! and the real SDK clients, retries and everything above them run unchanged against memory.
//! It serves the calls a pass with the Lambda and S3-access-log discoverers makes: STS
//! AssumeRole/GetCallerIdentity, Logs DescribeLogGroups/DescribeSubscriptionFilters/Put-/
//! DeleteSubscriptionFilter and Describe-/Put-/DeleteAccountPolicy (subscription filter
//! policies, which moto answers with a 500), Lambda ListFunctions/GetPolicy/AddPermission/RemovePermission/
//! GetFunctionConfiguration/ListTags, S3 ListBuckets/HeadBucket/GetBucketLogging/
//! GetBucketTagging/Get- and PutBucketNotificationConfiguration; and what event-driven mode
//! does with its queue: SQS ReceiveMessage (long polls included), SendMessage[Batch],
//! DeleteMessage[Batch], ChangeMessageVisibility[Batch] and GetQueueAttributes on standard
//! queues with visibility timeouts and dead-letter redrive (queues are made with
//! [`FakeAws::create_queue`]). Anything else is answered `400 NotImplemented` in the service's
//! error shape, so a test notices.
//!
//! The caller is read from the SigV4 `Authorization` header: the account from the access key id
//! (`FAKE<12 digits>`, what [`FakeAws::sdk_config`] and AssumeRole hand out), the region and
//! service from the credential scope. State is per (account, region); bucket names are global.
//!
//! Latency, the quota windows, visibility timeouts and long polls run on `tokio::time`, so they
//! follow paused time; a long poll waits for a send or visibility change, or for the next
//! visibility timeout to run out, and is one request in the stats. The SDK's
//! retry tokens are process-wide per (service, account, region) partition: tests that lean on
//! retries (throttles, injected 5xx) should each use an account of their own.
//!
//! ```no_run
//! # async fn demo() {
//! use autosub_testkit::fake::{FakeAws, FakeConfig, FleetShape};
//! let fake = FakeAws::new(FakeConfig::default());
//! fake.seed_fleet(&FleetShape::default());
//! let sdk = fake.sdk_config("111111111111", "us-east-1");
//! // ClientFactory::from_sdk_config(sdk, settings) …
//! assert_eq!(fake.total_throttles(), 0);
//! # }
//! ```

mod lambda;
mod logs;
mod proto;
mod quota;
mod s3;
mod seed;
mod sqs;
mod sts;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3::config::{Credentials, SharedCredentialsProvider};
use aws_smithy_async::time::SystemTimeSource;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use serde_json::Value;

pub use logs::{FakeAccountPolicy, FakeFilter};
pub use quota::{ApiKey, ApiStats, Quotas};
pub use seed::{FOREIGN_QUEUE_ID, FORWARDER_LOGS_SID, FleetShape};
pub use sqs::QueueDepth;

use proto::{Reply, Request, parse_pairs};

/// Config lines turning off every discoverer but Lambda and S3 access logs: the services the
/// fake serves.
pub fn only_served_services() -> String {
    [
        "cloudfront",
        "elbv2",
        "elb",
        "redshift",
        "step_functions",
        "wafv2",
        "api_gateway",
        "vpc_flow_logs",
        "cloudtrail",
    ]
    .iter()
    .map(|service| format!("[services.{service}]\nenabled = false\n"))
    .collect()
}

/// The endpoint every client of [`FakeAws::sdk_config`] sends to; any endpoint override makes
/// autosub's factory use path-style S3, which is what the fake parses.
pub const FAKE_ENDPOINT: &str = "http://fake.local";

/// How the fake behaves.
#[derive(Clone, Debug, PartialEq)]
pub struct FakeConfig {
    /// Accepted calls per second per (account, region, API).
    pub quotas: Quotas,
    /// Time every call takes before it is answered (`tokio::time::sleep`, so paused time skips it).
    pub latency: Duration,
    /// Share of accepted calls answered with the service's 500 instead (0.0–1.0), chosen by a
    /// fixed pseudo-random sequence.
    pub server_error_rate: f64,
    /// Share of accepted calls answered with the service's throttling error instead (0.0–1.0),
    /// from the same sequence: throttling that no pacing avoids (another tool on the account).
    pub throttle_rate: f64,
}

impl Default for FakeConfig {
    /// AWS's quotas, 20 ms per call (an AWS round trip), no injected errors.
    fn default() -> Self {
        Self {
            quotas: Quotas::aws(),
            latency: Duration::from_millis(20),
            server_error_rate: 0.0,
            throttle_rate: 0.0,
        }
    }
}

/// The handle on one fake AWS: an SDK HTTP client, seeding helpers and the call record.
/// Clones share the same state.
#[derive(Clone, Debug)]
pub struct FakeAws {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    latency: Duration,
    server_error_rate: f64,
    throttle_rate: f64,
    meters: Mutex<quota::Meters>,
    state: Mutex<State>,
    /// Numbers accepted calls, for the fault sequence.
    sequence: AtomicU64,
}

/// Everything the services hold.
#[derive(Debug, Default)]
struct State {
    targets: BTreeMap<(String, String), Target>,
    buckets: BTreeMap<String, s3::Bucket>,
    /// Accounts whose roles refuse AssumeRole.
    denied_roles: BTreeSet<String>,
    /// SQS queues (by URL, so per account: the URL names no region).
    sqs: sqs::Sqs,
    clock: Clock,
}

/// Wall-clock time of `tokio::time` instants, anchored when the fake is made, so that the
/// epoch timestamps the services answer follow paused time.
#[derive(Clone, Copy, Debug)]
struct Clock {
    wall: SystemTime,
    at: tokio::time::Instant,
}

impl Default for Clock {
    fn default() -> Self {
        Clock {
            wall: SystemTime::now(),
            at: tokio::time::Instant::now(),
        }
    }
}

impl Clock {
    /// Milliseconds since the Unix epoch at `t`.
    fn epoch_ms(&self, t: tokio::time::Instant) -> u64 {
        let wall = match t.checked_duration_since(self.at) {
            Some(after) => self.wall + after,
            None => self.wall - self.at.duration_since(t),
        };
        let since_epoch = wall
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        u64::try_from(since_epoch.as_millis()).unwrap_or(u64::MAX)
    }
}

impl State {
    fn target(&mut self, account: &str, region: &str) -> &mut Target {
        self.targets
            .entry((account.to_owned(), region.to_owned()))
            .or_default()
    }
}

/// The regional state of one account.
#[derive(Debug, Default)]
struct Target {
    log_groups: BTreeMap<String, logs::LogGroup>,
    functions: BTreeMap<String, lambda::Function>,
    account_policies: Vec<logs::FakeAccountPolicy>,
}

/// Who sent a request, from its signature.
struct Caller {
    account: String,
    region: String,
}

/// The access key id the fake reads `account` from.
fn access_key_of(account: &str) -> String {
    format!("FAKE{account}")
}

/// A request routed to its service's operation.
enum Routed {
    Sts(sts::Op),
    Logs(logs::Op),
    Lambda(lambda::Op),
    S3(s3::Op),
    Sqs(sqs::Op),
}

/// What serving a request gives: a reply, or a long poll still waiting for a message.
enum Served {
    Reply(Reply),
    Poll(sqs::Poll),
}

impl Routed {
    fn of(service: &str, req: &Request) -> Option<Routed> {
        Some(match service {
            "sts" => Routed::Sts(sts::Op::of(req)),
            "logs" => Routed::Logs(logs::Op::of(req)),
            "lambda" => Routed::Lambda(lambda::Op::of(req)),
            "s3" => Routed::S3(s3::Op::of(req)),
            "sqs" => Routed::Sqs(sqs::Op::of(req)),
            _ => return None,
        })
    }

    fn api(&self) -> &'static str {
        match self {
            Routed::Sts(op) => op.api(),
            Routed::Logs(op) => op.api(),
            Routed::Lambda(op) => op.api(),
            Routed::S3(op) => op.api(),
            Routed::Sqs(op) => op.api(),
        }
    }

    /// An error in the service's protocol.
    fn error(&self, status: u16, code: &str, message: &str) -> Reply {
        match self {
            Routed::Sts(_) => sts::error(status, code, message),
            Routed::Logs(_) => logs::error(status, code, message),
            Routed::Lambda(_) => lambda::error(status, code, message),
            Routed::S3(_) => s3::error(status, code, message),
            Routed::Sqs(_) => sqs::error(status, code, message),
        }
    }

    /// The service's own throttling reply.
    fn throttled(&self) -> Reply {
        match self {
            Routed::Sts(_) => self.error(400, "Throttling", "Rate exceeded"),
            Routed::Logs(_) => self.error(400, "ThrottlingException", "Rate exceeded"),
            Routed::Lambda(_) => lambda::throttled(),
            Routed::S3(_) => self.error(503, "SlowDown", "Please reduce your request rate."),
            Routed::Sqs(_) => self.error(400, "RequestThrottled", "Rate exceeded."),
        }
    }

    /// The service's own internal error.
    fn server_error(&self) -> Reply {
        let code = match self {
            Routed::Sts(_) => "InternalFailure",
            Routed::Logs(_) => "ServiceUnavailableException",
            Routed::Lambda(_) => "ServiceException",
            Routed::S3(_) => "InternalError",
            Routed::Sqs(_) => "InternalFailure",
        };
        self.error(500, code, "injected by the fake AWS")
    }

    fn handle(self, state: &mut State, caller: &Caller, req: &Request) -> Served {
        let reply = match self {
            Routed::Sts(op) => sts::handle(state, caller, op, req),
            Routed::Logs(op) => logs::handle(state, caller, op, req),
            Routed::Lambda(op) => lambda::handle(state, caller, op, req),
            Routed::S3(op) => s3::handle(state, caller, op, req),
            // Only SQS may answer later (a long poll).
            Routed::Sqs(op) => return sqs::handle(state, caller, op, req),
        };
        Served::Reply(reply)
    }
}

impl FakeAws {
    /// An empty fake AWS.
    pub fn new(config: FakeConfig) -> FakeAws {
        FakeAws {
            inner: Arc::new(Inner {
                latency: config.latency,
                server_error_rate: config.server_error_rate,
                throttle_rate: config.throttle_rate,
                meters: Mutex::new(quota::Meters {
                    quotas: config.quotas,
                    by_key: BTreeMap::new(),
                }),
                state: Mutex::default(),
                sequence: AtomicU64::new(0),
            }),
        }
    }

    /// An SDK configuration whose clients talk to this fake as `account` in `region`: static
    /// credentials `FAKE<account>`, the endpoint [`FAKE_ENDPOINT`], this fake as HTTP client, the
    /// system clock as time source (for `aws_config::sts::AssumeRoleProvider`).
    pub fn sdk_config(&self, account: &str, region: &str) -> SdkConfig {
        SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region.to_owned()))
            .endpoint_url(FAKE_ENDPOINT)
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
                access_key_of(account),
                "fake",
                None,
                None,
                "autosub-fake",
            )))
            .http_client(self.clone())
            // AssumeRoleProvider needs one to judge expiry; clients default to it anyway.
            .time_source(SystemTimeSource::new())
            .build()
    }

    /// What happened to the calls of every (account, region, API), sorted.
    pub fn stats(&self) -> BTreeMap<ApiKey, ApiStats> {
        lock(&self.inner.meters)
            .by_key
            .iter()
            .map(|(k, m)| (k.clone(), m.stats))
            .collect()
    }

    /// The stats of one (account, region, API); all zero when it was never called.
    pub fn stats_of(&self, account: &str, region: &str, api: &'static str) -> ApiStats {
        let key = ApiKey {
            account: account.to_owned(),
            region: region.to_owned(),
            api,
        };
        lock(&self.inner.meters)
            .by_key
            .get(&key)
            .map(|m| m.stats)
            .unwrap_or_default()
    }

    /// Throttled requests over every key.
    pub fn total_throttles(&self) -> u64 {
        lock(&self.inner.meters)
            .by_key
            .values()
            .map(|m| m.stats.throttled)
            .sum()
    }

    /// Adds (or replaces) a function; its log group is not created (AWS creates it on the
    /// first invocation), `log_group` names where it logs (`None` = `/aws/lambda/<name>`).
    /// Returns its ARN.
    pub fn add_function(
        &self,
        account: &str,
        region: &str,
        name: &str,
        log_group: Option<&str>,
    ) -> String {
        let arn = lambda::arn(account, region, name);
        let function = lambda::Function {
            arn: arn.clone(),
            log_group: log_group.map_or_else(|| format!("/aws/lambda/{name}"), str::to_owned),
            ..lambda::Function::default()
        };
        self.state()
            .target(account, region)
            .functions
            .insert(name.to_owned(), function);
        arn
    }

    /// Makes the next `times` policy changes of a function fail as Lambda does while the
    /// function is being updated (ResourceConflictException, "an update is in progress").
    pub fn busy_function(&self, account: &str, region: &str, name: &str, times: u32) {
        if let Some(f) = self.state().target(account, region).functions.get_mut(name) {
            f.busy = times;
        }
    }

    /// Appends a statement to a function's resource policy, as is; false when there is no
    /// such function.
    pub fn add_statement(
        &self,
        account: &str,
        region: &str,
        function: &str,
        statement: Value,
    ) -> bool {
        self.with_function(account, region, function, |f| {
            f.statements.push(statement);
            f.revision += 1;
        })
    }

    /// Sets a tag on a function; false when there is no such function.
    pub fn tag_function(
        &self,
        account: &str,
        region: &str,
        function: &str,
        key: &str,
        value: &str,
    ) -> bool {
        self.with_function(account, region, function, |f| {
            f.tags.insert(key.to_owned(), value.to_owned());
        })
    }

    /// A function's resource policy document, `None` without a policy (or function).
    pub fn policy(&self, account: &str, region: &str, function: &str) -> Option<Value> {
        self.state()
            .target(account, region)
            .functions
            .get(function)
            .and_then(lambda::Function::policy)
    }

    /// Adds an empty log group of `class` (`STANDARD`, `INFREQUENT_ACCESS`, `DELIVERY`).
    pub fn add_log_group(&self, account: &str, region: &str, name: &str, class: &str) {
        let group = logs::LogGroup {
            class: class.to_owned(),
            ..logs::LogGroup::default()
        };
        self.state()
            .target(account, region)
            .log_groups
            .insert(name.to_owned(), group);
    }

    /// Adds a subscription filter without any check (slots, destination); false when there is
    /// no such log group.
    pub fn add_filter(&self, account: &str, region: &str, group: &str, filter: FakeFilter) -> bool {
        let mut state = self.state();
        let Some(group) = state.target(account, region).log_groups.get_mut(group) else {
            return false;
        };
        group.filters.push(filter);
        true
    }

    /// The subscription filters of a log group, `None` when it does not exist.
    pub fn filters(&self, account: &str, region: &str, group: &str) -> Option<Vec<FakeFilter>> {
        self.state()
            .target(account, region)
            .log_groups
            .get(group)
            .map(|g| g.filters.clone())
    }

    /// When PutSubscriptionFilter last wrote filter `filter` of a log group (`tokio::time`);
    /// `None` when no call put it (or it was deleted since), e.g. a filter seeded by
    /// [`FakeAws::add_filter`].
    pub fn filter_put_at(
        &self,
        account: &str,
        region: &str,
        group: &str,
        filter: &str,
    ) -> Option<tokio::time::Instant> {
        self.state()
            .target(account, region)
            .log_groups
            .get(group)
            .and_then(|g| g.put_at.get(filter).copied())
    }

    /// Adds an account-level subscription filter policy without any check.
    pub fn add_account_policy(&self, account: &str, region: &str, policy: FakeAccountPolicy) {
        self.state()
            .target(account, region)
            .account_policies
            .push(policy);
    }

    /// The account-level subscription filter policies of `account` in `region`.
    pub fn account_policies(&self, account: &str, region: &str) -> Vec<FakeAccountPolicy> {
        self.state()
            .target(account, region)
            .account_policies
            .clone()
    }

    /// Adds (or replaces) a bucket owned by `owner` in `region`, without logging, tags or
    /// notifications.
    pub fn add_bucket(&self, owner: &str, region: &str, name: &str) {
        let bucket = s3::Bucket {
            owner: owner.to_owned(),
            region: region.to_owned(),
            ..s3::Bucket::default()
        };
        self.state().buckets.insert(name.to_owned(), bucket);
    }

    /// Turns on server access logging of `bucket` into `target`/`prefix`; false when there is
    /// no such bucket.
    pub fn set_bucket_logging(&self, bucket: &str, target: &str, prefix: &str) -> bool {
        self.with_bucket(bucket, |b| {
            b.logging = Some((target.to_owned(), prefix.to_owned()))
        })
    }

    /// Sets a tag on a bucket; false when there is no such bucket.
    pub fn tag_bucket(&self, bucket: &str, key: &str, value: &str) -> bool {
        self.with_bucket(bucket, |b| {
            b.tags.insert(key.to_owned(), value.to_owned());
        })
    }

    /// Sets a bucket's notification configuration XML verbatim, without validation; false
    /// when there is no such bucket.
    pub fn set_notification_xml(&self, bucket: &str, xml: &str) -> bool {
        self.with_bucket(bucket, |b| b.notification = Some(xml.to_owned()))
    }

    /// Another writer races the next puts of `bucket`'s notification configuration: right after
    /// each, one of `theirs` (configuration XML) replaces what was put, in order.
    pub fn overtake_notification_writes(&self, bucket: &str, theirs: Vec<String>) -> bool {
        self.with_bucket(bucket, |b| b.overtaking_writes = theirs.into())
    }

    /// The next put of `bucket`'s notification configuration becomes visible only after
    /// `reads` reads that still answer the configuration from before it.
    pub fn delay_notification_visibility(&self, bucket: &str, reads: u32) -> bool {
        self.with_bucket(bucket, |b| b.stale_reads_after_put = reads)
    }

    /// A bucket's notification configuration XML as last put, `None` when never set.
    pub fn notification_xml(&self, bucket: &str) -> Option<String> {
        self.state()
            .buckets
            .get(bucket)
            .and_then(|b| b.notification.clone())
    }

    /// Creates a standard SQS queue `name` owned by `account` in `region`, whose received
    /// messages stay hidden for `visibility` unless the receive says otherwise; returns its URL,
    /// `http://fake.local/<account>/<name>`. An existing queue of that URL keeps its messages
    /// and region and takes the new `visibility`.
    pub fn create_queue(
        &self,
        account: &str,
        region: &str,
        name: &str,
        visibility: Duration,
    ) -> String {
        self.state().sqs.create(account, region, name, visibility)
    }

    /// Gives queue `url` the dead-letter queue `dlq_url`: a message received
    /// `max_receive_count` times moves there instead of being received again. False unless
    /// both queues exist, differ, and share account and region (as SQS requires), and the
    /// count is at least 1.
    pub fn set_redrive(&self, url: &str, dlq_url: &str, max_receive_count: u32) -> bool {
        self.state()
            .sqs
            .set_redrive(url, dlq_url, max_receive_count)
    }

    /// Sends `body` to queue `url`, visible at once (and waking its long polls), as the
    /// queue's account; the message id, `None` when there is no such queue.
    pub fn send_message(&self, url: &str, body: &str) -> Option<String> {
        self.state()
            .sqs
            .send(url, body, None, Duration::ZERO)
            .map(|(id, _)| id)
    }

    /// How many messages queue `url` holds now, by state; `None` when there is no such queue.
    pub fn queue_depth(&self, url: &str) -> Option<QueueDepth> {
        self.state().sqs.depth(url)
    }

    /// How many times ReceiveMessage handed out a message of queue `url` (a redelivery counts
    /// again; 0 for an unknown queue): equal to the messages sent when each was received once.
    pub fn deliveries(&self, url: &str) -> u64 {
        self.state().sqs.deliveries(url).unwrap_or(0)
    }

    /// Makes every AssumeRole into `account` fail with AccessDenied (an account whose role is
    /// missing or does not trust the caller).
    pub fn deny_assume_role(&self, account: &str) {
        self.state().denied_roles.insert(account.to_owned());
    }

    fn with_function(
        &self,
        account: &str,
        region: &str,
        name: &str,
        f: impl FnOnce(&mut lambda::Function),
    ) -> bool {
        let mut state = self.state();
        state
            .target(account, region)
            .functions
            .get_mut(name)
            .map(f)
            .is_some()
    }

    fn with_bucket(&self, name: &str, f: impl FnOnce(&mut s3::Bucket)) -> bool {
        self.state().buckets.get_mut(name).map(f).is_some()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.inner.state)
    }

    /// Answers one request: identify the caller, admit it at the quota, maybe inject a 5xx,
    /// then let the service act.
    fn serve(&self, req: &Request, authorization: Option<&str>) -> Served {
        match self.admit(req, authorization) {
            Ok((routed, caller)) => routed.handle(&mut self.state(), &caller, req),
            Err(reply) => Served::Reply(reply),
        }
    }

    /// Waits out a long poll, outside the state lock: it looks again whenever its queue
    /// changes or when the next hidden message's visibility timeout (or the wait) runs out,
    /// never on an interval, and without the meters (a long poll is one request).
    async fn long_poll(&self, mut poll: sqs::Poll) -> Reply {
        loop {
            let wake_at = poll.wake_at;
            tokio::select! {
                changed = poll.changed.changed() => {
                    if changed.is_err() {
                        tokio::time::sleep_until(wake_at).await;
                    }
                }
                () = tokio::time::sleep_until(wake_at) => {}
            }
            let next = sqs::poll_again(&mut self.state(), poll);
            match next {
                Served::Reply(reply) => return reply,
                Served::Poll(again) => poll = again,
            }
        }
    }

    /// Identifies the caller of a request and admits it at the quota and the fault sequence:
    /// its service operation and caller, or the reply that refuses it.
    fn admit(&self, req: &Request, authorization: Option<&str>) -> Result<(Routed, Caller), Reply> {
        // Credential=<key>/<date>/<region>/<service>/aws4_request
        let scope: Vec<&str> = authorization
            .and_then(|a| a.split("Credential=").nth(1))
            .and_then(|c| c.split([',', ' ']).next())
            .map(|c| c.split('/').collect())
            .unwrap_or_default();
        let [key, _, region, service, ..] = scope[..] else {
            return Err(proto::json_error(
                403,
                "MissingAuthenticationToken",
                "the request is not signed with SigV4",
                &[],
            ));
        };
        let Some(routed) = Routed::of(service, req) else {
            return Err(proto::json_error(
                400,
                "NotImplemented",
                &format!("the fake AWS does not implement {service}"),
                &[],
            ));
        };
        let account = key
            .strip_prefix("FAKE")
            .filter(|a| a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()));
        let Some(account) = account else {
            return Err(routed.error(
                403,
                "InvalidClientTokenId",
                &format!("the access key {key} is not FAKE<account>"),
            ));
        };
        let caller = Caller {
            account: account.to_owned(),
            region: region.to_owned(),
        };
        let key = ApiKey {
            account: caller.account.clone(),
            region: caller.region.clone(),
            api: routed.api(),
        };
        if !lock(&self.inner.meters).admit(key.clone(), tokio::time::Instant::now()) {
            return Err(routed.throttled());
        }
        let (throttle, error) = (self.inner.throttle_rate, self.inner.server_error_rate);
        if throttle + error > 0.0 {
            let draw = unit_interval(self.inner.sequence.fetch_add(1, Ordering::Relaxed));
            let fault = (draw < throttle + error).then_some(draw < throttle);
            if let Some(throttled) = fault {
                if let Some(m) = lock(&self.inner.meters).by_key.get_mut(&key) {
                    if throttled {
                        m.stats.throttled += 1;
                    } else {
                        m.stats.server_errors += 1;
                    }
                }
                return Err(if throttled {
                    routed.throttled()
                } else {
                    routed.server_error()
                });
            }
        }
        Ok((routed, caller))
    }
}

impl HttpConnector for FakeAws {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let fake = self.clone();
        HttpConnectorFuture::new(async move {
            tokio::time::sleep(fake.inner.latency).await;
            let uri = request.uri();
            // http://host/path?query → /path, query
            let path_and_query = uri
                .split_once("://")
                .map_or(uri, |(_, rest)| rest.find('/').map_or("/", |i| &rest[i..]));
            let (path, query) = path_and_query
                .split_once('?')
                .unwrap_or((path_and_query, ""));
            let req = Request {
                method: request.method().to_owned(),
                path: path.to_owned(),
                query: parse_pairs(query),
                target: request.headers().get("x-amz-target").map(str::to_owned),
                expected_bucket_owner: request
                    .headers()
                    .get("x-amz-expected-bucket-owner")
                    .map(str::to_owned),
                body: request
                    .body()
                    .bytes()
                    .map(<[u8]>::to_vec)
                    .unwrap_or_default(),
            };
            let mut reply = match fake.serve(&req, request.headers().get("authorization")) {
                Served::Reply(reply) => reply,
                Served::Poll(poll) => fake.long_poll(poll).await,
            };
            // HEAD replies never carry a body (so the SDK sees no error code, as with S3).
            if req.method == "HEAD" {
                reply.body.clear();
            }
            Ok(reply.into_http())
        })
    }
}

impl HttpClient for FakeAws {
    fn http_connector(
        &self,
        _: &HttpConnectorSettings,
        _: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(self.clone())
    }
}

/// The `n`-th number of a fixed pseudo-random sequence in [0, 1) (splitmix64): the fake's
/// fault draws, and any test or bench that needs reproducible randomness.
pub fn unit_interval(n: u64) -> f64 {
    let mut z = n.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

/// The fake's maps stay whole even if a test panicked holding the lock.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests;
