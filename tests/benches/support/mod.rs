//! What the benches share: a silent progress and the fake's requests per pass.

use std::collections::BTreeMap;

use autosub_engine::pass::{Progress, Target};
use autosub_testkit::fake::{ApiKey, FakeAws};

/// Progress that goes nowhere.
pub struct Quiet;

impl Progress for Quiet {
    fn step(&self, _: &Target, _: &str) {}
}

/// The fake's requests per (account, region, API) since `before`, which becomes now.
pub fn requests_since(fake: &FakeAws, before: &mut BTreeMap<ApiKey, u64>) -> BTreeMap<ApiKey, u64> {
    let now: BTreeMap<ApiKey, u64> = fake
        .stats()
        .into_iter()
        .map(|(k, s)| (k, s.requests))
        .collect();
    let delta = now
        .iter()
        .filter_map(|(k, n)| {
            let d = n - before.get(k).copied().unwrap_or(0);
            (d > 0).then(|| (k.clone(), d))
        })
        .collect();
    *before = now;
    delta
}

/// Requests summed per API.
pub fn per_api(requests: &BTreeMap<ApiKey, u64>) -> BTreeMap<&'static str, u64> {
    let mut by_api = BTreeMap::new();
    for (key, n) in requests {
        *by_api.entry(key.api).or_default() += n;
    }
    by_api
}
