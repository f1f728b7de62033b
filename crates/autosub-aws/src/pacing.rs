//! Client-side pacing: every HTTP attempt (pages and retries included) waits for a slot in the
//! token bucket of its (account, region, API), set to AWS's published quota for that API.
//!
//! A throttle halves the bucket's rate; it climbs back to the quota over [`RECOVERY`]. Calls are
//! spaced evenly (no burst), so no one-second window holds more calls than the quota.
//! `LimitExceededException` is not a throttle (it means "no free filter slot") and never slows a
//! bucket down.
//!
//! The pieces: [`Pacer`] holds the buckets; [`PacedHttpClient`] wraps the SDK's HTTP client and
//! makes each attempt wait; [`PaceInterceptor`] (one per SDK client) tags each attempt with its
//! bucket and reports throttles back.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use autosub_core::{AccountId, Region};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeTransmitInterceptorContextMut, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, Metadata};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use tokio::time::Instant;

use crate::error::ErrorClass;
use crate::sdk_error::erased_class;

/// How long a bucket takes to climb back from a throttle to its quota.
pub const RECOVERY: Duration = Duration::from_secs(10);

/// No bucket is slowed below this many calls per second.
const MIN_RATE: f64 = 0.2;

/// AWS's published per-account, per-region quotas (calls per second), by IAM action or
/// `service:*`. Where AWS publishes none, a conservative rate.
const AWS_QUOTAS: &[(&str, f64)] = &[
    ("logs:DescribeLogGroups", 10.0),
    ("logs:DescribeSubscriptionFilters", 5.0),
    ("logs:PutSubscriptionFilter", 5.0),
    ("logs:DeleteSubscriptionFilter", 5.0),
    ("logs:*", 5.0),
    ("lambda:*", 15.0),
    ("s3:*", 50.0),
    ("sts:*", 20.0),
    ("ec2:*", 20.0),
    ("cloudfront:*", 5.0),
    ("elasticloadbalancing:*", 10.0),
    ("redshift:*", 10.0),
    ("states:*", 5.0),
    ("wafv2:*", 5.0),
    ("apigateway:*", 5.0),
    ("dynamodb:*", 50.0),
    ("secretsmanager:*", 20.0),
    ("organizations:*", 10.0),
];

/// The rate used for an API no entry names.
const DEFAULT_RATE: f64 = 5.0;

/// Calls per second per API: AWS's quotas, with the configuration's overrides.
#[derive(Clone, Debug, PartialEq)]
pub struct Rates {
    by_api: BTreeMap<String, f64>,
}

impl Rates {
    /// AWS's published quotas overridden by `overrides` (`service:Operation` or `service:*`).
    pub fn aws_quotas_with(overrides: &BTreeMap<String, f64>) -> Self {
        let mut by_api: BTreeMap<String, f64> = AWS_QUOTAS
            .iter()
            .map(|(api, rate)| ((*api).to_owned(), *rate))
            .collect();
        by_api.extend(overrides.iter().map(|(k, v)| (k.clone(), *v)));
        Self { by_api }
    }

    /// The rate of `api` (`logs:PutSubscriptionFilter`): its own entry, else its service's.
    pub fn of(&self, api: &str) -> f64 {
        let service = api.split_once(':').map_or(api, |(s, _)| s);
        self.by_api
            .get(api)
            .or_else(|| self.by_api.get(&format!("{service}:*")))
            .copied()
            .unwrap_or(DEFAULT_RATE)
    }
}

impl Default for Rates {
    fn default() -> Self {
        Self::aws_quotas_with(&BTreeMap::new())
    }
}

/// The bucket an attempt draws from.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ApiKey {
    /// The account the call acts in.
    pub account: AccountId,
    /// The region the call is sent to.
    pub region: Region,
    /// The IAM action, e.g. `logs:PutSubscriptionFilter`.
    pub api: String,
}

/// The token buckets of every (account, region, API), shared by all clients of a factory.
#[derive(Debug, Default)]
pub struct Pacer {
    rates: Rates,
    buckets: Mutex<HashMap<ApiKey, Bucket>>,
}

/// One bucket: calls are spaced `1 / rate` apart; after a throttle the rate is `reduced`,
/// climbing back linearly to `quota` over [`RECOVERY`].
#[derive(Debug)]
struct Bucket {
    quota: f64,
    reduced: f64,
    throttled_at: Option<Instant>,
    next_slot: Instant,
    throttles: u64,
}

impl Bucket {
    fn rate(&self, now: Instant) -> f64 {
        match self.throttled_at {
            None => self.quota,
            Some(at) => {
                let climbed =
                    now.saturating_duration_since(at).as_secs_f64() / RECOVERY.as_secs_f64();
                (self.reduced + (self.quota - self.reduced) * climbed).min(self.quota)
            }
        }
    }
}

impl Pacer {
    /// A pacer with these rates.
    pub fn new(rates: Rates) -> Self {
        Self {
            rates,
            buckets: Mutex::default(),
        }
    }

    /// Waits for the next slot of `key`'s bucket. Slots are handed out in call order.
    pub async fn acquire(&self, key: &ApiKey) {
        let slot = self.reserve(key, Instant::now());
        tokio::time::sleep_until(slot).await;
    }

    /// Books the next slot of `key`'s bucket as of `now` and returns it.
    fn reserve(&self, key: &ApiKey, now: Instant) -> Instant {
        let mut buckets = self.buckets();
        let bucket = self.bucket(&mut buckets, key, now);
        let slot = bucket.next_slot.max(now);
        bucket.next_slot = slot + Duration::from_secs_f64(1.0 / bucket.rate(slot));
        slot
    }

    /// AWS throttled a call of `key`: halve its rate (not below [`MIN_RATE`]) and push back the
    /// next slot by one interval at the new rate.
    pub fn throttled(&self, key: &ApiKey) {
        self.throttled_at(key, Instant::now());
    }

    fn throttled_at(&self, key: &ApiKey, now: Instant) {
        let mut buckets = self.buckets();
        let bucket = self.bucket(&mut buckets, key, now);
        bucket.reduced = (bucket.rate(now) / 2.0).max(MIN_RATE.min(bucket.quota));
        bucket.throttled_at = Some(now);
        bucket.throttles += 1;
        bucket.next_slot =
            bucket.next_slot.max(now) + Duration::from_secs_f64(1.0 / bucket.reduced);
    }

    /// The current rate of `key`'s bucket, in calls per second.
    pub fn rate(&self, key: &ApiKey) -> f64 {
        self.rate_at(key, Instant::now())
    }

    fn rate_at(&self, key: &ApiKey, now: Instant) -> f64 {
        let mut buckets = self.buckets();
        self.bucket(&mut buckets, key, now).rate(now)
    }

    /// Throttles seen so far, by bucket.
    pub fn throttles(&self) -> BTreeMap<ApiKey, u64> {
        self.buckets()
            .iter()
            .filter(|(_, b)| b.throttles > 0)
            .map(|(k, b)| (k.clone(), b.throttles))
            .collect()
    }

    fn bucket<'m>(
        &self,
        buckets: &'m mut HashMap<ApiKey, Bucket>,
        key: &ApiKey,
        now: Instant,
    ) -> &'m mut Bucket {
        buckets.entry(key.clone()).or_insert_with(|| {
            let quota = self.rates.of(&key.api);
            Bucket {
                quota,
                reduced: quota,
                throttled_at: None,
                next_slot: now,
                throttles: 0,
            }
        })
    }

    fn buckets(&self) -> std::sync::MutexGuard<'_, HashMap<ApiKey, Bucket>> {
        // Every update is a few assignments that cannot panic half-way.
        self.buckets.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The SDK's HTTP client, with every attempt tagged by a [`PaceInterceptor`] waiting for its slot.
#[derive(Clone, Debug)]
pub(crate) struct PacedHttpClient {
    pub(crate) inner: SharedHttpClient,
    pub(crate) pacer: Arc<Pacer>,
}

impl HttpClient for PacedHttpClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(PacedConnector {
            inner: self.inner.http_connector(settings, components),
            pacer: Arc::clone(&self.pacer),
        })
    }
}

#[derive(Debug)]
struct PacedConnector {
    inner: SharedHttpConnector,
    pacer: Arc<Pacer>,
}

impl HttpConnector for PacedConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let Some(key) = request.extension::<ApiKey>().cloned() else {
            // Untagged requests (credential providers' own STS calls) go straight through.
            return self.inner.call(request);
        };
        let inner = self.inner.clone();
        let pacer = Arc::clone(&self.pacer);
        HttpConnectorFuture::new(async move {
            pacer.acquire(&key).await;
            inner.call(request).await
        })
    }
}

/// Tags each attempt of one SDK client (one service, account and region) with its bucket, and
/// reports throttled attempts to the pacer.
#[derive(Clone, Debug)]
pub(crate) struct PaceInterceptor {
    pub(crate) pacer: Arc<Pacer>,
    /// The service's IAM prefix (`logs`, `s3`, `states`).
    pub(crate) iam_prefix: &'static str,
    pub(crate) account: AccountId,
    pub(crate) region: Region,
}

impl PaceInterceptor {
    fn key(&self, cfg: &ConfigBag) -> ApiKey {
        let operation = cfg.load::<Metadata>().map_or("unknown", Metadata::name);
        ApiKey {
            account: self.account.clone(),
            region: self.region.clone(),
            api: format!("{}:{operation}", self.iam_prefix),
        }
    }
}

impl Intercept for PaceInterceptor {
    fn name(&self) -> &'static str {
        "autosub::PaceInterceptor"
    }

    fn modify_before_transmit(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let key = self.key(cfg);
        context.request_mut().add_extension(key);
        Ok(())
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(Err(error)) = context.output_or_error()
            && erased_class(error, context.response()) == ErrorClass::Throttled
        {
            self.pacer.throttled(&self.key(cfg));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(api: &str) -> ApiKey {
        ApiKey {
            account: AccountId::new("111111111111"),
            region: Region::new("us-east-1"),
            api: api.to_owned(),
        }
    }

    #[test]
    fn rates_fall_back_from_the_api_to_its_service_to_the_default() {
        let rates = Rates::aws_quotas_with(&BTreeMap::from([("logs:*".to_owned(), 2.0)]));
        assert_eq!(rates.of("logs:DescribeLogGroups"), 10.0);
        assert_eq!(rates.of("logs:ListTagsForResource"), 2.0);
        assert_eq!(rates.of("lambda:GetPolicy"), 15.0);
        assert_eq!(rates.of("kinesis:ListStreams"), DEFAULT_RATE);
    }

    #[test]
    fn calls_are_spaced_at_the_quota() {
        let pacer = Pacer::default();
        let k = key("logs:PutSubscriptionFilter");
        let t0 = Instant::now();
        let slots: Vec<Duration> = (0..6).map(|_| pacer.reserve(&k, t0) - t0).collect();
        // 5/s: the first at once, then one every 200 ms, whoever asks when.
        let ms: Vec<u128> = slots.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, [0, 200, 400, 600, 800, 1000]);
        // A bucket idle for a while starts again at once, without a burst.
        let later = t0 + Duration::from_secs(5);
        assert_eq!(pacer.reserve(&k, later), later);
        assert_eq!(pacer.reserve(&k, later) - later, Duration::from_millis(200));
    }

    #[test]
    fn a_throttle_halves_the_rate_and_it_recovers() {
        let pacer = Pacer::default();
        let k = key("logs:DescribeLogGroups");
        let other = key("logs:PutSubscriptionFilter");
        let t0 = Instant::now();
        pacer.throttled_at(&k, t0);
        assert_eq!(pacer.rate_at(&k, t0), 5.0);
        pacer.throttled_at(&k, t0);
        assert_eq!(pacer.rate_at(&k, t0), 2.5);
        assert_eq!(pacer.rate_at(&other, t0), 5.0, "other APIs keep their rate");
        assert!((pacer.rate_at(&k, t0 + RECOVERY / 2) - 6.25).abs() < 1e-9);
        assert_eq!(pacer.rate_at(&k, t0 + RECOVERY * 2), 10.0);
        assert_eq!(pacer.throttles(), BTreeMap::from([(k, 2)]));
    }

    #[test]
    fn the_rate_never_drops_below_the_floor() {
        let pacer = Pacer::default();
        let k = key("states:ListStateMachines");
        let t0 = Instant::now();
        for _ in 0..20 {
            pacer.throttled_at(&k, t0);
        }
        assert_eq!(pacer.rate_at(&k, t0), MIN_RATE);
    }
}
