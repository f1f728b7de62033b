//! Per-(account, region, API) admission at AWS's rates, and the record tests assert on.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use tokio::time::Instant;

const WINDOW: Duration = Duration::from_secs(1);

/// Accepted calls per second per (account, region, API), as AWS publishes them.
///
/// A call is looked up as `service:Operation` (e.g. `logs:PutSubscriptionFilter`), then as
/// `service:*`; an API in neither is unlimited.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Quotas(pub BTreeMap<String, u32>);

impl Quotas {
    /// AWS's published quotas for the APIs the fake serves (aws-notes.md); S3 and STS publish
    /// none per API, so they get a generous 100/s. SQS is not in the table (unlimited): a
    /// standard queue's API rate is nearly unlimited, no quota of it matters here.
    pub fn aws() -> Quotas {
        let table = [
            ("logs:DescribeLogGroups", 10),
            ("logs:DescribeSubscriptionFilters", 5),
            ("logs:PutSubscriptionFilter", 5),
            ("logs:DeleteSubscriptionFilter", 5),
            ("logs:*", 5),
            ("lambda:*", 15),
            ("s3:*", 100),
            ("sts:*", 100),
        ];
        Quotas(table.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
    }

    /// The same table with `api` (`service:Operation` or `service:*`) at `per_second`.
    pub fn with(mut self, api: &str, per_second: u32) -> Quotas {
        self.0.insert(api.to_owned(), per_second);
        self
    }

    /// The limit of `api`, `None` when unlimited.
    pub fn limit(&self, api: &str) -> Option<u32> {
        let service = api.split(':').next().unwrap_or(api);
        self.0
            .get(api)
            .or_else(|| self.0.get(&format!("{service}:*")))
            .copied()
    }
}

impl Default for Quotas {
    fn default() -> Self {
        Quotas::aws()
    }
}

/// One (account, region, API) the fake was called for.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ApiKey {
    /// The caller's account (from its access key).
    pub account: String,
    /// The region the request was signed for.
    pub region: String,
    /// `service:Operation`, e.g. `logs:PutSubscriptionFilter`.
    pub api: &'static str,
}

/// What happened to the calls of one [`ApiKey`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ApiStats {
    /// Every request, throttled or not (SDK retries count again).
    pub requests: u64,
    /// Requests refused with the service's throttling error.
    pub throttled: u64,
    /// Accepted requests answered with an injected 5xx.
    pub server_errors: u64,
    /// The most accepted requests in any sliding 1-second window (`(t - 1 s, t]`).
    pub max_per_second: u32,
}

/// The admission window and stats of one key.
#[derive(Debug, Default)]
pub(super) struct Meter {
    /// When each request accepted in the last second arrived.
    accepted: VecDeque<Instant>,
    pub(super) stats: ApiStats,
}

impl Meter {
    /// Admits a request at `now` unless `limit` requests were accepted in the second before it.
    ///
    /// A sliding window rather than a token bucket: it accepts every schedule that keeps
    /// "at most N in any second", so `max_per_second <= N` holds by construction and a client
    /// pacer that passes here passes AWS's own (burstier) buckets too.
    pub(super) fn admit(&mut self, now: Instant, limit: Option<u32>) -> bool {
        self.stats.requests += 1;
        while self
            .accepted
            .front()
            .is_some_and(|t| now.duration_since(*t) >= WINDOW)
        {
            self.accepted.pop_front();
        }
        if limit.is_some_and(|n| self.accepted.len() >= n as usize) {
            self.stats.throttled += 1;
            return false;
        }
        self.accepted.push_back(now);
        let in_window = u32::try_from(self.accepted.len()).unwrap_or(u32::MAX);
        self.stats.max_per_second = self.stats.max_per_second.max(in_window);
        true
    }
}

/// Every key's meter, with the quota table.
#[derive(Debug)]
pub(super) struct Meters {
    pub(super) quotas: Quotas,
    pub(super) by_key: BTreeMap<ApiKey, Meter>,
}

impl Meters {
    /// Admits a request for `key` at `now`.
    pub(super) fn admit(&mut self, key: ApiKey, now: Instant) -> bool {
        let limit = self.quotas.limit(key.api);
        self.by_key.entry(key).or_default().admit(now, limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_admits_n_per_sliding_second() {
        let mut meter = Meter::default();
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        let admitted: Vec<bool> = [0, 0, 0, 500, 999, 1000, 1000, 1999, 2000]
            .into_iter()
            .map(|ms| meter.admit(at(ms), Some(2)))
            .collect();
        assert_eq!(
            admitted,
            [true, true, false, false, false, true, true, false, true]
        );
        assert_eq!(meter.stats.requests, 9);
        assert_eq!(meter.stats.throttled, 4);
        assert_eq!(meter.stats.max_per_second, 2);
    }

    #[test]
    fn operations_fall_back_to_their_service_then_unlimited() {
        let quotas = Quotas::aws().with("logs:PutSubscriptionFilter", 1);
        assert_eq!(quotas.limit("logs:PutSubscriptionFilter"), Some(1));
        assert_eq!(quotas.limit("logs:DescribeLogGroups"), Some(10));
        assert_eq!(quotas.limit("lambda:GetPolicy"), Some(15));
        assert_eq!(quotas.limit("ec2:DescribeVpcs"), None);
    }
}
